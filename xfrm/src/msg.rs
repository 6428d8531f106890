//! Pure builders for XFRM requests: typed specs in, exact netlink bytes out.
//!
//! Contract: each builder returns a complete netlink message (header + payload) with
//! sequence number and port id 0 (the socket stamps the sequence number before sending).
//! The fixed structs are encoded with `netlink-packet-xfrm` 0.5 types; attributes it lacks
//! (`XFRMA_SA_DIR`, `XFRM_OFFLOAD_PACKET` flags) and key-bearing attributes are written here,
//! the latter straight into a zeroizing buffer so that no unzeroized copy of a key exists.
//! The attribute order follows iproute2 6.15 (`... ALG, ENCAP, MARK, IF_ID, REPLAY_ESN_VAL,
//! OFFLOAD_DEV, SA_DIR`): the kernel does not care, and the golden tests compare bytes with
//! iproute2 captures. SA semantics (replay window, ESN, lifetimes) follow strongSwan's
//! kernel-netlink plugin (`add_sa`), see `shared/reference/xfrm-offload.md` §2.5.

use std::net::IpAddr;

use netlink_packet_core::Emitable;
use netlink_packet_xfrm::{
    Address, Id, Lifetime, LifetimeConfig, Mark as NlMark, ReplayEsn, Selector, Stats,
    UserOffloadDev, UserPolicyId, UserPolicyInfo, UserSaId, UserSaInfo, UserSpiInfo, UserTemplate,
};
use zeroize::Zeroizing;

use crate::consts::*;
use crate::error::XfrmError;
use crate::types::*;

/// Largest replay window the kernel accepts (`XFRMA_REPLAY_ESN_MAX` bits).
pub const MAX_REPLAY_WINDOW: u32 = 4096;

/// Largest total key material accepted in one SA.
pub const MAX_KEY_BYTES: usize = 1024;

/// Size reserved up front so that the buffer never reallocates (a reallocation would leave
/// an unzeroized copy of key bytes behind). XFRM requests are well below this.
const REQUEST_CAPACITY: usize = 4096;

/// A complete netlink request. Key bytes inside are zeroized on drop.
pub struct Request {
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Request(type {:#06x}, {} bytes)",
            self.message_type(),
            self.bytes.len()
        )
    }
}

impl Request {
    fn new(message_type: u16, flags: u16) -> Self {
        let mut bytes = Zeroizing::new(Vec::with_capacity(REQUEST_CAPACITY));
        bytes.extend_from_slice(&(NLMSG_HDR_LEN as u32).to_ne_bytes());
        bytes.extend_from_slice(&message_type.to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&[0u8; 8]); // seq, pid
        Request { bytes }
    }

    /// The full message bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The netlink message type.
    pub fn message_type(&self) -> u16 {
        u16::from_ne_bytes([self.bytes[4], self.bytes[5]])
    }

    /// Stamp the sequence number.
    pub fn set_sequence(&mut self, seq: u32) {
        self.bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
    }

    fn push_struct<E: Emitable>(&mut self, value: &E) {
        let start = self.bytes.len();
        let len = value.buffer_len();
        self.bytes.resize(start + align4(len), 0);
        value.emit(&mut self.bytes[start..start + len]);
        self.finish();
    }

    fn push_attr_with(&mut self, kind: u16, len: usize, fill: impl FnOnce(&mut [u8])) {
        let start = self.bytes.len();
        let nla_len = 4 + len;
        self.bytes.resize(start + align4(nla_len), 0);
        // nla_len is u16 on the wire; every attribute we build is far below 64 KiB.
        let nla_len16 = u16::try_from(nla_len).unwrap_or(u16::MAX);
        self.bytes[start..start + 2].copy_from_slice(&nla_len16.to_ne_bytes());
        self.bytes[start + 2..start + 4].copy_from_slice(&kind.to_ne_bytes());
        fill(&mut self.bytes[start + 4..start + nla_len]);
        self.finish();
    }

    fn push_attr(&mut self, kind: u16, value: &[u8]) {
        self.push_attr_with(kind, value.len(), |b| b.copy_from_slice(value));
    }

    fn push_attr_struct<E: Emitable>(&mut self, kind: u16, value: &E) {
        self.push_attr_with(kind, value.buffer_len(), |b| value.emit(b));
    }

    fn finish(&mut self) {
        let len = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.bytes[0..4].copy_from_slice(&len.to_ne_bytes());
    }
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

fn limit(value: Option<u64>) -> u64 {
    value.unwrap_or(XFRM_INF)
}

fn xfrm_address(addr: IpAddr) -> Address {
    Address::from_ip(&addr)
}

/// Encode a [`TrafficSelector`] as the library's `Selector`.
pub fn selector(ts: &TrafficSelector) -> Selector {
    Selector {
        daddr: xfrm_address(ts.dst),
        saddr: xfrm_address(ts.src),
        dport: ts.dport.value,
        dport_mask: ts.dport.mask,
        sport: ts.sport.value,
        sport_mask: ts.sport.mask,
        family: ts.family(),
        prefixlen_d: ts.dst_prefix,
        prefixlen_s: ts.src_prefix,
        proto: ts.proto,
        ifindex: ts.ifindex,
        user: 0,
    }
}

fn infinite_lifetime() -> LifetimeConfig {
    LifetimeConfig {
        soft_byte_limit: XFRM_INF,
        hard_byte_limit: XFRM_INF,
        soft_packet_limit: XFRM_INF,
        hard_packet_limit: XFRM_INF,
        ..LifetimeConfig::default()
    }
}

fn fixed_name<const N: usize>(name: &str) -> Result<[u8; N], XfrmError> {
    let bytes = name.as_bytes();
    // The kernel requires a NUL terminator inside the fixed field.
    if bytes.len() >= N || bytes.contains(&0) {
        return Err(XfrmError::InvalidRequest(format!(
            "algorithm name {name:?} does not fit {N} bytes"
        )));
    }
    let mut out = [0u8; N];
    out[..bytes.len()].copy_from_slice(bytes);
    Ok(out)
}

/// Everything needed to add (or update) one SA.
#[derive(Debug, Clone)]
pub struct SaSpec {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// SPI.
    pub spi: Spi,
    /// ESP or AH.
    pub protocol: IpsecProtocol,
    /// Transport or tunnel.
    pub mode: Mode,
    /// Request id tying the SA to its policies' templates.
    pub reqid: u32,
    /// Direction relative to us.
    pub direction: SaDirection,
    /// SA selector; `None` gives an empty selector (tunnel mode; the kernel sets the family).
    pub selector: Option<TrafficSelector>,
    /// Algorithms and keys.
    pub transform: EspTransform,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Configured replay window (strongSwan default 32). Outbound SAs get 0 (1 with ESN on
    /// kernels without `XFRMA_SA_DIR`), exactly as strongSwan does.
    pub replay_window: u32,
    /// Lifetimes.
    pub lifetimes: Lifetimes,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface id.
    pub if_id: Option<u32>,
    /// Output mark the SA sets on packets it processes (`XFRMA_SET_MARK` and
    /// `XFRMA_SET_MARK_MASK`; strongSwan's `set_mark_in`/`set_mark_out`).
    pub set_mark: Option<Mark>,
    /// NAT-T encapsulation.
    pub encap: Option<NatTEncap>,
    /// Hardware offload request.
    pub offload: Option<OffloadRequest>,
    /// Send `XFRMA_SA_DIR` (kernel 6.10+).
    pub set_sa_dir: bool,
    /// `XFRM_MSG_UPDSA` (the SPI came from ALLOCSPI) instead of `XFRM_MSG_NEWSA`.
    pub update: bool,
    /// Sequence number of the ACQUIRE this SA answers (0 if none).
    pub acquire_seq: u32,
}

impl SaSpec {
    /// The object this spec describes, for errors.
    pub fn object(&self) -> crate::error::XfrmObject {
        crate::error::XfrmObject::Sa {
            spi: self.spi,
            direction: self.direction,
            src: self.src,
            dst: self.dst,
        }
    }
}

/// Build `XFRM_MSG_NEWSA` / `XFRM_MSG_UPDSA`.
pub fn add_sa(spec: &SaSpec) -> Result<Request, XfrmError> {
    if spec.src.is_ipv4() != spec.dst.is_ipv4() {
        return Err(XfrmError::InvalidRequest(
            "SA source and destination families differ".into(),
        ));
    }
    if spec.replay_window > MAX_REPLAY_WINDOW {
        return Err(XfrmError::InvalidRequest(format!(
            "replay window {} exceeds {MAX_REPLAY_WINDOW}",
            spec.replay_window
        )));
    }
    let key_bytes: usize = match &spec.transform {
        EspTransform::Aead { key, .. } => key.expose().len(),
        EspTransform::CipherAndIntegrity {
            cipher_key,
            integrity_key,
            ..
        } => cipher_key.expose().len() + integrity_key.expose().len(),
    };
    // Keeps the request inside its pre-allocated buffer (see REQUEST_CAPACITY); real ESP
    // keys are at most a few dozen bytes.
    if key_bytes > MAX_KEY_BYTES {
        return Err(XfrmError::InvalidRequest(format!(
            "key material of {key_bytes} bytes exceeds {MAX_KEY_BYTES}"
        )));
    }
    let family = family_of(spec.src);
    let message_type = if spec.update {
        XFRM_MSG_UPDSA
    } else {
        XFRM_MSG_NEWSA
    };
    let mut req = Request::new(message_type, NLM_F_REQUEST_ACK);

    // Replay state as strongSwan computes it (kernel_netlink_ipsec.c add_sa).
    let mut window = spec.replay_window;
    if spec.direction == SaDirection::Out && window != 0 {
        window = if spec.esn && !spec.set_sa_dir { 1 } else { 0 };
    }
    let use_esn_attr = spec.esn || window > 32;

    let lt = &spec.lifetimes;
    // Without a selector (tunnel mode) the kernel fills in the family itself, as for
    // iproute2's requests.
    let sel = match &spec.selector {
        Some(ts) => selector(ts),
        None => Selector::default(),
    };
    let info = UserSaInfo {
        selector: sel,
        id: Id {
            daddr: xfrm_address(spec.dst),
            spi: spec.spi.0,
            proto: spec.protocol.number(),
        },
        saddr: xfrm_address(spec.src),
        lifetime_cfg: LifetimeConfig {
            soft_byte_limit: limit(lt.soft_bytes),
            hard_byte_limit: limit(lt.hard_bytes),
            soft_packet_limit: limit(lt.soft_packets),
            hard_packet_limit: limit(lt.hard_packets),
            soft_add_expires_seconds: lt.soft_add_seconds,
            hard_add_expires_seconds: lt.hard_add_seconds,
            soft_use_expires_seconds: 0,
            hard_use_expires_seconds: 0,
        },
        lifetime_cur: Lifetime::default(),
        stats: Stats::default(),
        seq: spec.acquire_seq,
        reqid: spec.reqid,
        family,
        mode: spec.mode.number(),
        replay_window: if use_esn_attr {
            0
        } else {
            u8::try_from(window).unwrap_or(u8::MAX)
        },
        flags: if spec.esn { XFRM_STATE_ESN } else { 0 },
    };
    req.push_struct(&info);

    match &spec.transform {
        EspTransform::Aead {
            name,
            key,
            icv_bits,
        } => {
            let name = fixed_name::<64>(name)?;
            let key_bytes = key.expose();
            req.push_attr_with(XFRMA_ALG_AEAD, 72 + key_bytes.len(), |b| {
                b[..64].copy_from_slice(&name);
                b[64..68].copy_from_slice(&key.bits().to_ne_bytes());
                b[68..72].copy_from_slice(&icv_bits.to_ne_bytes());
                b[72..].copy_from_slice(key_bytes);
            });
        }
        EspTransform::CipherAndIntegrity {
            cipher,
            cipher_key,
            integrity,
            integrity_key,
            truncation_bits,
        } => {
            // strongSwan order: integrity first, then the cipher.
            let iname = fixed_name::<64>(integrity)?;
            let ikey = integrity_key.expose();
            req.push_attr_with(XFRMA_ALG_AUTH_TRUNC, 72 + ikey.len(), |b| {
                b[..64].copy_from_slice(&iname);
                b[64..68].copy_from_slice(&integrity_key.bits().to_ne_bytes());
                b[68..72].copy_from_slice(&truncation_bits.to_ne_bytes());
                b[72..].copy_from_slice(ikey);
            });
            let cname = fixed_name::<64>(cipher)?;
            let ckey = cipher_key.expose();
            req.push_attr_with(XFRMA_ALG_CRYPT, 68 + ckey.len(), |b| {
                b[..64].copy_from_slice(&cname);
                b[64..68].copy_from_slice(&cipher_key.bits().to_ne_bytes());
                b[68..].copy_from_slice(ckey);
            });
        }
    }

    if let Some(encap) = &spec.encap {
        let oa = encap.original_address.map(xfrm_address).unwrap_or_default();
        req.push_attr_with(XFRMA_ENCAP, 24, |b| {
            b[0..2].copy_from_slice(&UDP_ENCAP_ESPINUDP.to_ne_bytes());
            b[2..4].copy_from_slice(&encap.sport.to_be_bytes());
            b[4..6].copy_from_slice(&encap.dport.to_be_bytes());
            b[8..24].copy_from_slice(&oa.addr);
        });
    }
    push_mark_ifid(&mut req, spec.mark, spec.if_id);
    // As kernel-netlink's add_sa: value and mask as two u32 attributes, after the if_id.
    if let Some(set) = spec.set_mark {
        req.push_attr(XFRMA_SET_MARK, &set.value.to_ne_bytes());
        req.push_attr(XFRMA_SET_MARK_MASK, &set.mask.to_ne_bytes());
    }

    if use_esn_attr {
        let bmp_len = window.div_ceil(32);
        let esn = ReplayEsn {
            bmp_len,
            oseq: 0,
            seq: 0,
            oseq_hi: 0,
            seq_hi: 0,
            replay_window: window,
            bmp: vec![0; bmp_len as usize],
        };
        req.push_attr_struct(XFRMA_REPLAY_ESN_VAL, &esn);
    }
    if let Some(offload) = &spec.offload {
        let mut flags = 0;
        if spec.direction == SaDirection::In {
            flags |= XFRM_OFFLOAD_INBOUND;
        }
        if offload.packet {
            flags |= XFRM_OFFLOAD_PACKET;
        }
        req.push_attr_struct(
            XFRMA_OFFLOAD_DEV,
            &UserOffloadDev {
                ifindex: offload.ifindex,
                flags,
            },
        );
    }
    if spec.set_sa_dir {
        req.push_attr(XFRMA_SA_DIR, &[sa_dir_value(spec.direction)]);
    }
    Ok(req)
}

fn sa_dir_value(direction: SaDirection) -> u8 {
    match direction {
        SaDirection::In => XFRM_SA_DIR_IN,
        SaDirection::Out => XFRM_SA_DIR_OUT,
    }
}

fn push_mark_ifid(req: &mut Request, mark: Option<Mark>, if_id: Option<u32>) {
    if let Some(mark) = mark {
        req.push_attr_struct(
            XFRMA_MARK,
            &NlMark {
                value: mark.value,
                mask: mark.mask,
            },
        );
    }
    if let Some(if_id) = if_id {
        req.push_attr(XFRMA_IF_ID, &if_id.to_ne_bytes());
    }
}

/// Identifies an SA for GETSA/DELSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaId {
    /// Outer destination address.
    pub dst: IpAddr,
    /// SPI.
    pub spi: Spi,
    /// Protocol.
    pub protocol: IpsecProtocol,
    /// Mark the SA was installed with.
    pub mark: Option<Mark>,
}

fn sa_id_request(message_type: u16, flags: u16, id: &SaId) -> Request {
    let mut req = Request::new(message_type, flags);
    let usersa_id = UserSaId {
        daddr: xfrm_address(id.dst),
        spi: id.spi.0,
        family: family_of(id.dst),
        proto: id.protocol.number(),
    };
    req.push_struct(&usersa_id);
    push_mark_ifid(&mut req, id.mark, None);
    req
}

/// Build `XFRM_MSG_DELSA`.
pub fn delete_sa(id: &SaId) -> Request {
    sa_id_request(XFRM_MSG_DELSA, NLM_F_REQUEST_ACK, id)
}

/// Build `XFRM_MSG_GETSA` (the kernel answers with a `XFRM_MSG_NEWSA`).
pub fn get_sa(id: &SaId) -> Request {
    sa_id_request(XFRM_MSG_GETSA, 0x0001, id)
}

/// Parameters of `XFRM_MSG_ALLOCSPI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpiRequest {
    /// Peer address (source of the future inbound SA).
    pub src: IpAddr,
    /// Our address (destination of the future inbound SA).
    pub dst: IpAddr,
    /// Protocol.
    pub protocol: IpsecProtocol,
    /// Request id.
    pub reqid: u32,
    /// Lowest acceptable SPI.
    pub min: u32,
    /// Highest acceptable SPI.
    pub max: u32,
    /// Send `XFRMA_SA_DIR = IN` (needed on 6.10+ if the UPDSA will carry it).
    pub set_sa_dir: bool,
    /// Sequence number of the ACQUIRE being answered (0 if none).
    pub acquire_seq: u32,
}

/// Build `XFRM_MSG_ALLOCSPI`. The kernel answers with a `XFRM_MSG_NEWSA` of the larval SA.
pub fn alloc_spi(r: &SpiRequest) -> Request {
    let mut req = Request::new(XFRM_MSG_ALLOCSPI, 0x0001);
    let family = family_of(r.dst);
    let info = UserSpiInfo {
        info: UserSaInfo {
            selector: Selector {
                family,
                ..Selector::default()
            },
            id: Id {
                daddr: xfrm_address(r.dst),
                spi: 0,
                proto: r.protocol.number(),
            },
            saddr: xfrm_address(r.src),
            lifetime_cfg: infinite_lifetime(),
            seq: r.acquire_seq,
            reqid: r.reqid,
            family,
            // strongSwan allocates larval SAs in tunnel mode; UPDSA sets the real mode.
            mode: XFRM_MODE_TUNNEL,
            ..UserSaInfo::default()
        },
        min: r.min,
        max: r.max,
    };
    req.push_struct(&info);
    if r.set_sa_dir {
        req.push_attr(XFRMA_SA_DIR, &[XFRM_SA_DIR_IN]);
    }
    req
}

/// Policy action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyAction {
    /// Allow (with templates: protect).
    #[default]
    Allow,
    /// Block (drop).
    Block,
}

/// One `xfrm_user_tmpl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateSpec {
    /// Tunnel source (transport mode: `None`, as strongSwan).
    pub src: Option<IpAddr>,
    /// Tunnel destination (transport mode: `None`).
    pub dst: Option<IpAddr>,
    /// SPI to pin (strongSwan pins it on OUT policies).
    pub spi: Option<Spi>,
    /// Protocol.
    pub protocol: IpsecProtocol,
    /// Mode.
    pub mode: Mode,
    /// Request id matching the SA.
    pub reqid: u32,
    /// Optional template (IPComp on inbound).
    pub optional: bool,
}

/// Everything needed to add one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    /// Selector.
    pub selector: TrafficSelector,
    /// Direction.
    pub direction: PolicyDirection,
    /// Priority (lower wins); see [`crate::priority`].
    pub priority: u32,
    /// Action.
    pub action: PolicyAction,
    /// Templates (empty: a bypass/drop policy).
    pub templates: Vec<TemplateSpec>,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface id.
    pub if_id: Option<u32>,
    /// Packet-offload device (policies only know packet offload).
    pub offload_ifindex: Option<i32>,
    /// `XFRM_MSG_UPDPOLICY` instead of `XFRM_MSG_NEWPOLICY`.
    pub update: bool,
}

impl PolicySpec {
    /// The object this spec describes, for errors.
    pub fn object(&self) -> crate::error::XfrmObject {
        crate::error::XfrmObject::Policy {
            direction: self.direction,
            selector: self.selector,
        }
    }

    /// The id that deletes or reads this policy back.
    pub fn id(&self) -> PolicyId {
        PolicyId {
            selector: self.selector,
            direction: self.direction,
            mark: self.mark,
            if_id: self.if_id,
        }
    }
}

/// Build `XFRM_MSG_NEWPOLICY` / `XFRM_MSG_UPDPOLICY`.
pub fn add_policy(spec: &PolicySpec) -> Request {
    let message_type = if spec.update {
        XFRM_MSG_UPDPOLICY
    } else {
        XFRM_MSG_NEWPOLICY
    };
    let mut req = Request::new(message_type, NLM_F_REQUEST_ACK);
    let family = spec.selector.family();
    let info = UserPolicyInfo {
        selector: selector(&spec.selector),
        lifetime_cfg: infinite_lifetime(),
        lifetime_cur: Lifetime::default(),
        priority: spec.priority,
        index: 0,
        direction: spec.direction.number(),
        action: match spec.action {
            PolicyAction::Allow => XFRM_POLICY_ALLOW,
            PolicyAction::Block => XFRM_POLICY_BLOCK,
        },
        flags: 0,
        share: 0,
    };
    req.push_struct(&info);
    if !spec.templates.is_empty() {
        let templates: Vec<UserTemplate> = spec
            .templates
            .iter()
            .map(|t| UserTemplate {
                id: Id {
                    daddr: t.dst.map(xfrm_address).unwrap_or_default(),
                    spi: t.spi.map(|s| s.0).unwrap_or(0),
                    proto: t.protocol.number(),
                },
                family,
                saddr: t.src.map(xfrm_address).unwrap_or_default(),
                reqid: t.reqid,
                mode: t.mode.number(),
                share: 0,
                optional: u8::from(t.optional),
                aalgos: u32::MAX,
                ealgos: u32::MAX,
                calgos: u32::MAX,
            })
            .collect();
        req.push_attr_with(
            XFRMA_TMPL,
            templates.len() * netlink_packet_xfrm::XFRM_USER_TEMPLATE_LEN,
            |b| {
                for (i, t) in templates.iter().enumerate() {
                    let at = i * netlink_packet_xfrm::XFRM_USER_TEMPLATE_LEN;
                    t.emit(&mut b[at..at + netlink_packet_xfrm::XFRM_USER_TEMPLATE_LEN]);
                }
            },
        );
    }
    push_mark_ifid(&mut req, spec.mark, spec.if_id);
    // Last, as strongSwan does, so a caller could strip it; flags are PACKET only because
    // the kernel rejects INBOUND on policies and has no crypto mode for them.
    if let Some(ifindex) = spec.offload_ifindex {
        req.push_attr_struct(
            XFRMA_OFFLOAD_DEV,
            &UserOffloadDev {
                ifindex,
                flags: XFRM_OFFLOAD_PACKET,
            },
        );
    }
    req
}

/// Identifies a policy for GETPOLICY/DELPOLICY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyId {
    /// Selector.
    pub selector: TrafficSelector,
    /// Direction.
    pub direction: PolicyDirection,
    /// Mark.
    pub mark: Option<Mark>,
    /// XFRM interface id.
    pub if_id: Option<u32>,
}

fn policy_id_request(message_type: u16, flags: u16, id: &PolicyId) -> Request {
    let mut req = Request::new(message_type, flags);
    let pid = UserPolicyId {
        selector: selector(&id.selector),
        index: 0,
        direction: id.direction.number(),
    };
    req.push_struct(&pid);
    push_mark_ifid(&mut req, id.mark, id.if_id);
    req
}

/// Build `XFRM_MSG_DELPOLICY`.
pub fn delete_policy(id: &PolicyId) -> Request {
    policy_id_request(XFRM_MSG_DELPOLICY, NLM_F_REQUEST_ACK, id)
}

/// Build `XFRM_MSG_GETPOLICY` (answered with a `XFRM_MSG_NEWPOLICY`).
pub fn get_policy(id: &PolicyId) -> Request {
    policy_id_request(XFRM_MSG_GETPOLICY, 0x0001, id)
}

/// Build a `XFRM_MSG_GETSA` dump request (all SAs in the namespace; read-only).
pub fn dump_sas() -> Request {
    Request::new(XFRM_MSG_GETSA, NLM_F_REQUEST_DUMP)
}

/// Build a `XFRM_MSG_GETPOLICY` dump request (all policies in the namespace; read-only).
pub fn dump_policies() -> Request {
    Request::new(XFRM_MSG_GETPOLICY, NLM_F_REQUEST_DUMP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with_keys(cipher: usize, integrity: usize) -> SaSpec {
        SaSpec {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            spi: Spi(1),
            protocol: IpsecProtocol::Esp,
            mode: Mode::Tunnel,
            reqid: 1,
            direction: SaDirection::Out,
            selector: None,
            transform: EspTransform::CipherAndIntegrity {
                cipher: "cbc(aes)".into(),
                cipher_key: SecretKey::new(vec![1; cipher]),
                integrity: "hmac(sha512)".into(),
                integrity_key: SecretKey::new(vec![2; integrity]),
                truncation_bits: 256,
            },
            esn: true,
            replay_window: MAX_REPLAY_WINDOW,
            lifetimes: Lifetimes::default(),
            mark: Some(Mark { value: 1, mask: 1 }),
            if_id: Some(1),
            set_mark: None,
            encap: Some(NatTEncap {
                sport: 4500,
                dport: 4500,
                original_address: None,
            }),
            offload: Some(OffloadRequest {
                ifindex: 1,
                packet: true,
            }),
            set_sa_dir: true,
            update: false,
            acquire_seq: 0,
        }
    }

    #[test]
    fn largest_accepted_request_fits_the_preallocated_buffer() {
        // If it did not, growing the Vec would leave an unzeroized copy of the keys.
        let req = add_sa(&spec_with_keys(MAX_KEY_BYTES / 2, MAX_KEY_BYTES / 2)).unwrap();
        assert!(
            req.as_bytes().len() <= REQUEST_CAPACITY,
            "{}",
            req.as_bytes().len()
        );
        assert!(matches!(
            add_sa(&spec_with_keys(MAX_KEY_BYTES, 1)),
            Err(XfrmError::InvalidRequest(_))
        ));
    }

    #[test]
    fn algorithm_names_must_fit_with_their_terminator() {
        let mut spec = spec_with_keys(16, 32);
        if let EspTransform::CipherAndIntegrity { cipher, .. } = &mut spec.transform {
            *cipher = "x".repeat(64);
        }
        assert!(matches!(add_sa(&spec), Err(XfrmError::InvalidRequest(_))));
    }

    #[test]
    fn secret_keys_do_not_print() {
        let key = SecretKey::new(vec![0xab; 4]);
        let text = format!("{key:?}");
        assert!(!text.contains("ab") && !text.contains("171"), "{text}");
        let t = EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key,
            icv_bits: 128,
        };
        assert!(format!("{t:?}").contains("redacted"));
    }
}
