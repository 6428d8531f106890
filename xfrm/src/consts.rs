//! UAPI constants that `netlink-packet-xfrm` 0.5 / `netlink-packet-core` 0.9 do not define,
//! plus the few we re-export under one roof so that builders and parsers name them once.
//!
//! Values are from `include/uapi/linux/xfrm.h` and `include/uapi/linux/netlink.h`
//! (Linux 6.12); see `shared/reference/xfrm-offload.md` §1.

pub use netlink_packet_xfrm::constants::{
    XFRM_MSG_ACQUIRE, XFRM_MSG_ALLOCSPI, XFRM_MSG_DELPOLICY, XFRM_MSG_DELSA, XFRM_MSG_EXPIRE,
    XFRM_MSG_GETPOLICY, XFRM_MSG_GETSA, XFRM_MSG_MAPPING, XFRM_MSG_NEWPOLICY, XFRM_MSG_NEWSA,
    XFRM_MSG_POLEXPIRE, XFRM_MSG_UPDPOLICY, XFRM_MSG_UPDSA, XFRMA_ALG_AEAD, XFRMA_ALG_AUTH_TRUNC,
    XFRMA_ALG_CRYPT, XFRMA_ENCAP, XFRMA_IF_ID, XFRMA_LASTUSED, XFRMA_MARK, XFRMA_OFFLOAD_DEV,
    XFRMA_REPLAY_ESN_VAL, XFRMA_REPLAY_VAL, XFRMA_SA_EXTRA_FLAGS, XFRMA_TMPL,
};

/// `XFRMA_SET_MARK` (Linux 4.19+): u32 output mark an SA sets on the packets it processes.
pub const XFRMA_SET_MARK: u16 = 29;
/// `XFRMA_SET_MARK_MASK`: u32 mask of [`XFRMA_SET_MARK`].
pub const XFRMA_SET_MARK_MASK: u16 = 30;
/// `XFRMA_SA_DIR` (Linux 6.10+): u8 attribute, `XFRM_SA_DIR_IN` or `XFRM_SA_DIR_OUT`.
pub const XFRMA_SA_DIR: u16 = 33;
/// `XFRMA_SA_PCPU` (Linux 6.13+): u32 CPU of a per-CPU SA, echoed in ACQUIRE/EXPIRE.
pub const XFRMA_SA_PCPU: u16 = 35;
/// `XFRM_SA_DIR_IN`.
pub const XFRM_SA_DIR_IN: u8 = 1;
/// `XFRM_SA_DIR_OUT`.
pub const XFRM_SA_DIR_OUT: u8 = 2;

/// `XFRM_OFFLOAD_INBOUND`: states only; the kernel rejects it on policies.
pub const XFRM_OFFLOAD_INBOUND: u8 = 2;
/// `XFRM_OFFLOAD_PACKET` (Linux 6.2+): packet ("full") offload; required on policies.
pub const XFRM_OFFLOAD_PACKET: u8 = 4;

/// `XFRM_STATE_ESN` flag of `xfrm_usersa_info.flags`.
pub const XFRM_STATE_ESN: u8 = 128;

/// `XFRM_INF`: "no limit" for byte/packet lifetimes.
pub const XFRM_INF: u64 = u64::MAX;

/// `XFRM_POLICY_IN`, `_OUT`, `_FWD` (policy `dir` field).
pub const XFRM_POLICY_IN: u8 = 0;
/// Outbound policy direction.
pub const XFRM_POLICY_OUT: u8 = 1;
/// Forward policy direction.
pub const XFRM_POLICY_FWD: u8 = 2;
/// `XFRM_POLICY_ALLOW`.
pub const XFRM_POLICY_ALLOW: u8 = 0;
/// `XFRM_POLICY_BLOCK`.
pub const XFRM_POLICY_BLOCK: u8 = 1;

/// `XFRM_MODE_TRANSPORT`.
pub const XFRM_MODE_TRANSPORT: u8 = 0;
/// `XFRM_MODE_TUNNEL`.
pub const XFRM_MODE_TUNNEL: u8 = 1;

/// `UDP_ENCAP_ESPINUDP` (RFC 3948 NAT-T).
pub const UDP_ENCAP_ESPINUDP: u16 = 2;

/// XFRM multicast groups (`enum xfrm_nlgroups`).
pub const XFRMNLGRP_ACQUIRE: u32 = 1;
/// SA expiry notifications.
pub const XFRMNLGRP_EXPIRE: u32 = 2;
/// NAT-T mapping change notifications.
pub const XFRMNLGRP_MAPPING: u32 = 8;

/// `NLM_F_REQUEST | NLM_F_ACK`.
pub const NLM_F_REQUEST_ACK: u16 = 0x0005;
/// `NLM_F_REQUEST | NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_REQUEST_DUMP: u16 = 0x0301;
/// `NLM_F_MULTI`: part of a multipart (dump) reply.
pub const NLM_F_MULTI: u16 = 0x0002;
/// `NLM_F_CAPPED` on `NLMSG_ERROR`: only the request header is echoed.
pub const NLM_F_CAPPED: u16 = 0x0100;
/// `NLM_F_ACK_TLVS` on `NLMSG_ERROR`: extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x0200;
/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSGERR_ATTR_MSG`: NUL-terminated human-readable error text.
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLMSGERR_ATTR_OFFS`: u32 byte offset of the offending attribute in the request.
pub const NLMSGERR_ATTR_OFFS: u16 = 2;

/// `IPPROTO_ESP`.
pub const IPPROTO_ESP: u8 = 50;
/// `IPPROTO_AH`.
pub const IPPROTO_AH: u8 = 51;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u8 = 17;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u8 = 6;

/// `AF_INET` as the u16 the XFRM structs carry.
pub const AF_INET: u16 = 2;
/// `AF_INET6` as the u16 the XFRM structs carry.
pub const AF_INET6: u16 = 10;

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDR_LEN: usize = 16;
