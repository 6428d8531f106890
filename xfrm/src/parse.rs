//! Checked reader for what the kernel sends back: netlink framing, `NLMSG_ERROR` with
//! extended ack, SA and policy dumps, and XFRM events (ACQUIRE, EXPIRE, MAPPING).
//!
//! Contract: every function here accepts arbitrary bytes. Lengths are compared with the
//! bytes actually present before anything is read; a bad length yields a [`ParseError`]
//! and never a panic. Unknown attributes are skipped. Fixed structs are decoded with
//! `netlink-packet-xfrm`'s zerocopy-based parsers only after the length check (its
//! message-level parsers slice without checking and are not used on kernel input).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_xfrm::{
    UserAcquire, UserExpire, UserMapping, UserPolicyInfo, UserSaInfo, UserTemplate,
    XFRM_USER_ACQUIRE_LEN, XFRM_USER_EXPIRE_LEN, XFRM_USER_MAPPING_LEN, XFRM_USER_POLICY_INFO_LEN,
    XFRM_USER_SA_INFO_LEN, XFRM_USER_TEMPLATE_LEN,
};

use crate::consts::*;
use crate::error::ParseError;
use crate::types::{Mark, OffloadMode, Port, Spi, TrafficSelector};

/// One netlink message inside a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlMessage<'a> {
    /// `nlmsg_type`.
    pub message_type: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// Bytes after the header, up to `nlmsg_len`.
    pub payload: &'a [u8],
}

/// Iterator over the netlink messages of one received datagram.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

/// Split a datagram into netlink messages.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_ne_bytes([s[0], s[1]]))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_ne_bytes(a)
    })
}

fn need(what: &'static str, b: &[u8], need: usize) -> Result<(), ParseError> {
    if b.len() < need {
        Err(ParseError::Truncated {
            what,
            need,
            have: b.len(),
        })
    } else {
        Ok(())
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<NlMessage<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let buf = self.rest;
        if buf.len() < NLMSG_HDR_LEN {
            self.rest = &[];
            return Some(Err(ParseError::Truncated {
                what: "nlmsghdr",
                need: NLMSG_HDR_LEN,
                have: buf.len(),
            }));
        }
        let len = read_u32(buf, 0).unwrap_or(0) as usize;
        if len < NLMSG_HDR_LEN || len > buf.len() {
            self.rest = &[];
            return Some(Err(ParseError::BadLength {
                what: "nlmsg_len",
                length: len,
                available: buf.len(),
            }));
        }
        let msg = NlMessage {
            message_type: read_u16(buf, 4).unwrap_or(0),
            flags: read_u16(buf, 6).unwrap_or(0),
            seq: read_u32(buf, 8).unwrap_or(0),
            pid: read_u32(buf, 12).unwrap_or(0),
            payload: &buf[NLMSG_HDR_LEN..len],
        };
        let advance = ((len + 3) & !3).min(buf.len());
        self.rest = &buf[advance..];
        Some(Ok(msg))
    }
}

/// Iterator over netlink attributes (`struct nlattr` TLVs).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
}

/// Iterate the attributes in `buf`.
pub fn attributes(buf: &[u8]) -> Attributes<'_> {
    Attributes { rest: buf }
}

impl<'a> Iterator for Attributes<'a> {
    /// `(type without the NESTED/BYTEORDER bits, value)`.
    type Item = Result<(u16, &'a [u8]), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let buf = self.rest;
        if buf.len() < 4 {
            self.rest = &[];
            return Some(Err(ParseError::Truncated {
                what: "nlattr",
                need: 4,
                have: buf.len(),
            }));
        }
        let len = read_u16(buf, 0).unwrap_or(0) as usize;
        let kind = read_u16(buf, 2).unwrap_or(0) & 0x3fff;
        if len < 4 || len > buf.len() {
            self.rest = &[];
            return Some(Err(ParseError::BadLength {
                what: "nla_len",
                length: len,
                available: buf.len(),
            }));
        }
        let value = &buf[4..len];
        let advance = ((len + 3) & !3).min(buf.len());
        self.rest = &buf[advance..];
        Some(Ok((kind, value)))
    }
}

/// The content of an `NLMSG_ERROR`: errno 0 is a plain ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelAck {
    /// Positive errno, 0 for success.
    pub errno: i32,
    /// `NLMSGERR_ATTR_MSG`.
    pub message: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`.
    pub bad_attribute_offset: Option<u32>,
    /// Sequence number of the request being answered (from the echoed header).
    pub request_seq: u32,
}

/// Decode the payload of an `NLMSG_ERROR` message (`flags` are the error message's own).
pub fn kernel_ack(flags: u16, payload: &[u8]) -> Result<KernelAck, ParseError> {
    need("nlmsgerr", payload, 4 + NLMSG_HDR_LEN)?;
    let error = read_u32(payload, 0).unwrap_or(0) as i32;
    let echoed = &payload[4..];
    let echoed_len = read_u32(echoed, 0).unwrap_or(0) as usize;
    let request_seq = read_u32(echoed, 8).unwrap_or(0);
    // Without NLM_F_CAPPED the whole request is echoed back before the TLVs; on success
    // (and with CAP_ACK) only its header is.
    let skip = if flags & NLM_F_CAPPED != 0 || error == 0 {
        NLMSG_HDR_LEN
    } else {
        if echoed_len < NLMSG_HDR_LEN || echoed_len > echoed.len() {
            return Err(ParseError::BadLength {
                what: "echoed request",
                length: echoed_len,
                available: echoed.len(),
            });
        }
        (echoed_len + 3) & !3
    };
    let mut ack = KernelAck {
        errno: error.checked_neg().unwrap_or(i32::MAX),
        message: None,
        bad_attribute_offset: None,
        request_seq,
    };
    if flags & NLM_F_ACK_TLVS != 0 {
        let tlvs = echoed.get(skip..).unwrap_or(&[]);
        for attr in attributes(tlvs) {
            let (kind, value) = attr?;
            match kind {
                NLMSGERR_ATTR_MSG => {
                    let text = value.split(|b| *b == 0).next().unwrap_or(&[]);
                    let text = String::from_utf8_lossy(text).trim().to_string();
                    if !text.is_empty() {
                        ack.message = Some(text);
                    }
                }
                NLMSGERR_ATTR_OFFS => ack.bad_attribute_offset = read_u32(value, 0),
                _ => {}
            }
        }
    }
    Ok(ack)
}

/// Decode a 16-byte `xfrm_address_t` of the given family.
pub fn address(raw: &[u8; 16], family: u16) -> IpAddr {
    if family == AF_INET {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*raw))
    }
}

fn traffic_selector(sel: &netlink_packet_xfrm::Selector) -> TrafficSelector {
    TrafficSelector {
        src: address(&sel.saddr.addr, sel.family),
        src_prefix: sel.prefixlen_s,
        dst: address(&sel.daddr.addr, sel.family),
        dst_prefix: sel.prefixlen_d,
        proto: sel.proto,
        sport: Port {
            value: sel.sport,
            mask: sel.sport_mask,
        },
        dport: Port {
            value: sel.dport,
            mask: sel.dport_mask,
        },
        ifindex: sel.ifindex,
    }
}

/// Traffic and error counters of an SA (`xfrm_lifetime_cur` + `xfrm_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaCounters {
    /// Bytes processed.
    pub bytes: u64,
    /// Packets processed.
    pub packets: u64,
    /// When the SA was added (seconds, kernel wall clock).
    pub add_time: u64,
    /// When the SA was first used (0 if never).
    pub use_time: u64,
    /// Packets dropped by the replay check.
    pub replay_errors: u32,
    /// Packets failing integrity.
    pub integrity_failures: u32,
    /// `XFRMA_LASTUSED`, if reported.
    pub last_used: Option<u64>,
}

/// Replay/ESN state (`XFRMA_REPLAY_ESN_VAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayState {
    /// Highest outbound sequence number (low 32 bits).
    pub oseq: u32,
    /// Highest inbound sequence number (low 32 bits).
    pub seq: u32,
    /// High 32 bits of `oseq`.
    pub oseq_hi: u32,
    /// High 32 bits of `seq`.
    pub seq_hi: u32,
    /// Window size.
    pub replay_window: u32,
    /// Bitmap length in 32-bit words.
    pub bmp_len: u32,
}

/// `XFRMA_OFFLOAD_DEV` as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffloadState {
    /// Device index.
    pub ifindex: i32,
    /// `XFRM_OFFLOAD_*` flags.
    pub flags: u8,
}

impl OffloadState {
    /// The mode these flags mean.
    pub fn mode(&self) -> OffloadMode {
        if self.flags & XFRM_OFFLOAD_PACKET != 0 {
            OffloadMode::Packet
        } else {
            OffloadMode::Crypto
        }
    }
}

fn offload_state(value: &[u8]) -> Option<OffloadState> {
    let ifindex = read_u32(value, 0)? as i32;
    let flags = *value.get(4)?;
    Some(OffloadState { ifindex, flags })
}

/// An SA as the kernel reports it (reply to GETSA/ALLOCSPI, or a dump entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaState {
    /// Outer source.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// SPI.
    pub spi: Spi,
    /// IP protocol (50 for ESP).
    pub protocol: u8,
    /// Request id.
    pub reqid: u32,
    /// Mode number.
    pub mode: u8,
    /// `XFRM_STATE_*` flags.
    pub flags: u8,
    /// Legacy replay window.
    pub replay_window: u8,
    /// Selector.
    pub selector: TrafficSelector,
    /// Soft/hard limits: (soft bytes, hard bytes, soft packets, hard packets).
    pub limits: (u64, u64, u64, u64),
    /// Counters.
    pub counters: SaCounters,
    /// `XFRMA_OFFLOAD_DEV`, present only if the SA is offloaded.
    pub offload: Option<OffloadState>,
    /// `XFRMA_SA_DIR`.
    pub sa_dir: Option<u8>,
    /// `XFRMA_REPLAY_ESN_VAL`.
    pub replay: Option<ReplayState>,
    /// `XFRMA_MARK`.
    pub mark: Option<Mark>,
    /// `XFRMA_IF_ID`.
    pub if_id: Option<u32>,
    /// `XFRMA_SET_MARK` value (mask from `XFRMA_SET_MARK_MASK`, all ones when absent, as
    /// the kernel defaults it).
    pub set_mark: Option<Mark>,
    /// `XFRMA_ENCAP` present.
    pub encapsulated: bool,
}

impl SaState {
    /// The offload mode in force.
    pub fn offload_mode(&self) -> OffloadMode {
        self.offload.map(|o| o.mode()).unwrap_or(OffloadMode::None)
    }
}

fn sa_state_from(info: &UserSaInfo, attrs: &[u8]) -> Result<SaState, ParseError> {
    let family = info.family;
    let mut state = SaState {
        src: address(&info.saddr.addr, family),
        dst: address(&info.id.daddr.addr, family),
        spi: Spi(info.id.spi),
        protocol: info.id.proto,
        reqid: info.reqid,
        mode: info.mode,
        flags: info.flags,
        replay_window: info.replay_window,
        selector: traffic_selector(&info.selector),
        limits: (
            info.lifetime_cfg.soft_byte_limit,
            info.lifetime_cfg.hard_byte_limit,
            info.lifetime_cfg.soft_packet_limit,
            info.lifetime_cfg.hard_packet_limit,
        ),
        counters: SaCounters {
            bytes: info.lifetime_cur.bytes,
            packets: info.lifetime_cur.packets,
            add_time: info.lifetime_cur.add_time,
            use_time: info.lifetime_cur.use_time,
            replay_errors: info.stats.replay,
            integrity_failures: info.stats.integrity_failed,
            last_used: None,
        },
        offload: None,
        sa_dir: None,
        replay: None,
        mark: None,
        if_id: None,
        set_mark: None,
        encapsulated: false,
    };
    for attr in attributes(attrs) {
        let (kind, value) = attr?;
        match kind {
            XFRMA_OFFLOAD_DEV => state.offload = offload_state(value),
            XFRMA_SA_DIR => state.sa_dir = value.first().copied(),
            XFRMA_REPLAY_ESN_VAL => {
                state.replay = (|| {
                    Some(ReplayState {
                        bmp_len: read_u32(value, 0)?,
                        oseq: read_u32(value, 4)?,
                        seq: read_u32(value, 8)?,
                        oseq_hi: read_u32(value, 12)?,
                        seq_hi: read_u32(value, 16)?,
                        replay_window: read_u32(value, 20)?,
                    })
                })()
            }
            XFRMA_MARK => {
                state.mark = read_u32(value, 0)
                    .zip(read_u32(value, 4))
                    .map(|(value, mask)| Mark { value, mask })
            }
            XFRMA_IF_ID => state.if_id = read_u32(value, 0),
            XFRMA_SET_MARK => {
                let mask = state.set_mark.map_or(u32::MAX, |m| m.mask);
                state.set_mark = read_u32(value, 0).map(|value| Mark { value, mask });
            }
            XFRMA_SET_MARK_MASK => {
                if let (Some(m), Some(mask)) = (state.set_mark.as_mut(), read_u32(value, 0)) {
                    m.mask = mask;
                }
            }
            XFRMA_LASTUSED => state.counters.last_used = read_u64(value, 0),
            XFRMA_ENCAP => state.encapsulated = true,
            _ => {}
        }
    }
    Ok(state)
}

/// Decode the payload of a `XFRM_MSG_NEWSA`/`UPDSA` (reply to GETSA/ALLOCSPI or dump).
pub fn sa_state(payload: &[u8]) -> Result<SaState, ParseError> {
    need("xfrm_usersa_info", payload, XFRM_USER_SA_INFO_LEN)?;
    let info = UserSaInfo::parse(payload).map_err(|_| ParseError::Truncated {
        what: "xfrm_usersa_info",
        need: XFRM_USER_SA_INFO_LEN,
        have: payload.len(),
    })?;
    sa_state_from(&info, &payload[XFRM_USER_SA_INFO_LEN..])
}

/// A policy as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyState {
    /// Selector.
    pub selector: TrafficSelector,
    /// Direction number.
    pub direction: u8,
    /// Priority.
    pub priority: u32,
    /// Action number.
    pub action: u8,
    /// Kernel index.
    pub index: u32,
    /// Template request ids, in order.
    pub template_reqids: Vec<u32>,
    /// `XFRMA_OFFLOAD_DEV`, present only if offloaded.
    pub offload: Option<OffloadState>,
    /// `XFRMA_MARK`.
    pub mark: Option<Mark>,
    /// `XFRMA_IF_ID`.
    pub if_id: Option<u32>,
}

/// Decode the payload of a `XFRM_MSG_NEWPOLICY` reply.
pub fn policy_state(payload: &[u8]) -> Result<PolicyState, ParseError> {
    need("xfrm_userpolicy_info", payload, XFRM_USER_POLICY_INFO_LEN)?;
    let info = UserPolicyInfo::parse(payload).map_err(|_| ParseError::Truncated {
        what: "xfrm_userpolicy_info",
        need: XFRM_USER_POLICY_INFO_LEN,
        have: payload.len(),
    })?;
    let mut state = PolicyState {
        selector: traffic_selector(&info.selector),
        direction: info.direction,
        priority: info.priority,
        action: info.action,
        index: info.index,
        template_reqids: Vec::new(),
        offload: None,
        mark: None,
        if_id: None,
    };
    for attr in attributes(&payload[XFRM_USER_POLICY_INFO_LEN..]) {
        let (kind, value) = attr?;
        match kind {
            XFRMA_TMPL => {
                state.template_reqids = templates(value)?.iter().map(|t| t.reqid).collect()
            }
            XFRMA_OFFLOAD_DEV => state.offload = offload_state(value),
            XFRMA_MARK => {
                state.mark = read_u32(value, 0)
                    .zip(read_u32(value, 4))
                    .map(|(value, mask)| Mark { value, mask })
            }
            XFRMA_IF_ID => state.if_id = read_u32(value, 0),
            _ => {}
        }
    }
    Ok(state)
}

fn templates(value: &[u8]) -> Result<Vec<UserTemplate>, ParseError> {
    if !value.len().is_multiple_of(XFRM_USER_TEMPLATE_LEN) {
        return Err(ParseError::BadLength {
            what: "XFRMA_TMPL",
            length: value.len(),
            available: value.len(),
        });
    }
    value
        .chunks_exact(XFRM_USER_TEMPLATE_LEN)
        .map(|chunk| {
            UserTemplate::parse(chunk).map_err(|_| ParseError::Truncated {
                what: "xfrm_user_tmpl",
                need: XFRM_USER_TEMPLATE_LEN,
                have: chunk.len(),
            })
        })
        .collect()
}

/// `XFRM_MSG_ACQUIRE`: outbound traffic matched a policy with no SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquire {
    /// Selector of the triggering packet (host addresses, ports).
    pub selector: TrafficSelector,
    /// Outer source the SA should have.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// Protocol wanted.
    pub protocol: u8,
    /// Request id of the first template (`XFRMA_TMPL`).
    pub reqid: Option<u32>,
    /// Priority and direction of the matching policy.
    pub policy_priority: u32,
    /// Policy index.
    pub policy_index: u32,
    /// Acquire sequence number (pass back in ALLOCSPI/NEWSA).
    pub seq: u32,
    /// `XFRMA_SA_PCPU`.
    pub cpu: Option<u32>,
}

/// `XFRM_MSG_EXPIRE`: an SA reached a soft (rekey) or hard (deleted) limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expire {
    /// The SA, with counters at expiry.
    pub sa: SaState,
    /// Hard expiry: the kernel has already deleted the SA.
    pub hard: bool,
}

/// `XFRM_MSG_MAPPING`: the NAT-T source of an inbound SA changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// SA destination (us).
    pub dst: IpAddr,
    /// SPI.
    pub spi: Spi,
    /// Protocol.
    pub protocol: u8,
    /// Request id.
    pub reqid: u32,
    /// Old peer address.
    pub old_src: IpAddr,
    /// New peer address.
    pub new_src: IpAddr,
    /// Old peer port.
    pub old_sport: u16,
    /// New peer port.
    pub new_sport: u16,
}

/// An event from the XFRM multicast groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrmEvent {
    /// Traffic needs an SA.
    Acquire(Acquire),
    /// An SA expired (soft or hard).
    Expire(Expire),
    /// NAT mapping changed.
    Mapping(Mapping),
    /// Another message type (e.g. from groups we share a socket with).
    Other(u16),
}

/// Decode one event message.
pub fn event(msg: &NlMessage<'_>) -> Result<XfrmEvent, ParseError> {
    let payload = msg.payload;
    match msg.message_type {
        XFRM_MSG_ACQUIRE => {
            need("xfrm_user_acquire", payload, XFRM_USER_ACQUIRE_LEN)?;
            let acq = UserAcquire::parse(payload).map_err(|_| ParseError::Truncated {
                what: "xfrm_user_acquire",
                need: XFRM_USER_ACQUIRE_LEN,
                have: payload.len(),
            })?;
            let family = acq.selector.family;
            let mut out = Acquire {
                selector: traffic_selector(&acq.selector),
                src: address(&acq.saddr.addr, family),
                dst: address(&acq.id.daddr.addr, family),
                protocol: acq.id.proto,
                reqid: None,
                policy_priority: acq.policy.priority,
                policy_index: acq.policy.index,
                seq: acq.seq,
                cpu: None,
            };
            // Attributes follow the 280-byte struct (already a multiple of NLA alignment).
            let tail = payload.get(XFRM_USER_ACQUIRE_LEN..).unwrap_or(&[]);
            for attr in attributes(tail) {
                let (kind, value) = attr?;
                match kind {
                    XFRMA_TMPL => out.reqid = templates(value)?.first().map(|t| t.reqid),
                    XFRMA_SA_PCPU => out.cpu = read_u32(value, 0),
                    _ => {}
                }
            }
            Ok(XfrmEvent::Acquire(out))
        }
        XFRM_MSG_EXPIRE => {
            need("xfrm_user_expire", payload, XFRM_USER_EXPIRE_LEN)?;
            let exp = UserExpire::parse(payload).map_err(|_| ParseError::Truncated {
                what: "xfrm_user_expire",
                need: XFRM_USER_EXPIRE_LEN,
                have: payload.len(),
            })?;
            let sa = sa_state_from(&exp.state, &payload[XFRM_USER_EXPIRE_LEN..])?;
            Ok(XfrmEvent::Expire(Expire {
                sa,
                hard: exp.hard != 0,
            }))
        }
        XFRM_MSG_MAPPING => {
            need("xfrm_user_mapping", payload, XFRM_USER_MAPPING_LEN)?;
            let map = UserMapping::parse(payload).map_err(|_| ParseError::Truncated {
                what: "xfrm_user_mapping",
                need: XFRM_USER_MAPPING_LEN,
                have: payload.len(),
            })?;
            let family = map.id.family;
            Ok(XfrmEvent::Mapping(Mapping {
                dst: address(&map.id.daddr.addr, family),
                spi: Spi(map.id.spi),
                protocol: map.id.proto,
                reqid: map.reqid,
                old_src: address(&map.old_saddr.addr, family),
                new_src: address(&map.new_saddr.addr, family),
                old_sport: map.old_sport,
                new_sport: map.new_sport,
            }))
        }
        other => Ok(XfrmEvent::Other(other)),
    }
}

/// Decode every XFRM event in a received datagram, skipping nothing silently: malformed
/// messages come back as errors in place.
pub fn events(datagram: &[u8]) -> Vec<Result<XfrmEvent, ParseError>> {
    messages(datagram)
        .map(|m| m.and_then(|m| event(&m)))
        .collect()
}
