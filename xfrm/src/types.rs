//! Typed vocabulary shared by the builders, the client and the daemon: SPIs, directions,
//! modes, traffic selectors, transforms (with zeroizing keys), lifetimes and offload modes.
//!
//! Contract: these are plain data. Keys ([`SecretKey`]) zeroize on drop and print as
//! `<redacted>`; everything else is `Copy`/`Clone` and printable for logs and errors.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use zeroize::Zeroizing;

use crate::consts::{IPPROTO_AH, IPPROTO_ESP, IPPROTO_TCP, IPPROTO_UDP};

/// A Security Parameter Index, held in host byte order (the builders convert to network order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// IPsec protocol of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpsecProtocol {
    /// ESP (IP protocol 50).
    Esp,
    /// AH (IP protocol 51).
    Ah,
}

impl IpsecProtocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            IpsecProtocol::Esp => IPPROTO_ESP,
            IpsecProtocol::Ah => IPPROTO_AH,
        }
    }
}

/// Encapsulation mode of an SA/template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Transport mode (`XFRM_MODE_TRANSPORT`).
    Transport,
    /// Tunnel mode (`XFRM_MODE_TUNNEL`).
    Tunnel,
}

impl Mode {
    /// The kernel's mode number.
    pub fn number(self) -> u8 {
        match self {
            Mode::Transport => crate::consts::XFRM_MODE_TRANSPORT,
            Mode::Tunnel => crate::consts::XFRM_MODE_TUNNEL,
        }
    }
}

/// Direction of an SA relative to this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaDirection {
    /// We decrypt with it (its destination is our address).
    In,
    /// We encrypt with it.
    Out,
}

impl fmt::Display for SaDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaDirection::In => "in",
            SaDirection::Out => "out",
        })
    }
}

/// Direction of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyDirection {
    /// `XFRM_POLICY_IN`.
    In,
    /// `XFRM_POLICY_OUT`.
    Out,
    /// `XFRM_POLICY_FWD`.
    Fwd,
}

impl PolicyDirection {
    /// The kernel's direction number.
    pub fn number(self) -> u8 {
        match self {
            PolicyDirection::In => crate::consts::XFRM_POLICY_IN,
            PolicyDirection::Out => crate::consts::XFRM_POLICY_OUT,
            PolicyDirection::Fwd => crate::consts::XFRM_POLICY_FWD,
        }
    }
}

impl fmt::Display for PolicyDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyDirection::In => "in",
            PolicyDirection::Out => "out",
            PolicyDirection::Fwd => "fwd",
        })
    }
}

/// A port match: `value` under `mask` (network semantics, host-order numbers).
/// `Port::ANY` matches every port; `Port::exact(4789)` only 4789.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Port {
    /// Port value (host order).
    pub value: u16,
    /// Mask (host order); 0 = any, 0xffff = exact.
    pub mask: u16,
}

impl Port {
    /// Matches any port.
    pub const ANY: Port = Port { value: 0, mask: 0 };

    /// Matches exactly `port`.
    pub fn exact(port: u16) -> Port {
        Port {
            value: port,
            mask: 0xffff,
        }
    }
}

/// A traffic selector as the kernel's `xfrm_selector` expresses it: one prefix per side,
/// one protocol, one port/mask per side, optionally pinned to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// Source address (prefix base).
    pub src: IpAddr,
    /// Source prefix length.
    pub src_prefix: u8,
    /// Destination address (prefix base).
    pub dst: IpAddr,
    /// Destination prefix length.
    pub dst_prefix: u8,
    /// IP protocol, 0 = any.
    pub proto: u8,
    /// Source port match.
    pub sport: Port,
    /// Destination port match.
    pub dport: Port,
    /// Interface the selector is pinned to (0 = any).
    pub ifindex: i32,
}

impl TrafficSelector {
    /// Host-to-host selector (full-length prefixes), any protocol.
    pub fn host_to_host(src: IpAddr, dst: IpAddr) -> Self {
        TrafficSelector {
            src,
            src_prefix: full_prefix(src),
            dst,
            dst_prefix: full_prefix(dst),
            proto: 0,
            sport: Port::ANY,
            dport: Port::ANY,
            ifindex: 0,
        }
    }

    /// Same selector with protocol and ports.
    pub fn with_proto(mut self, proto: u8, sport: Port, dport: Port) -> Self {
        self.proto = proto;
        self.sport = sport;
        self.dport = dport;
        self
    }

    /// Swap source and destination (the selector of the opposite direction).
    pub fn reversed(self) -> Self {
        TrafficSelector {
            src: self.dst,
            src_prefix: self.dst_prefix,
            dst: self.src,
            dst_prefix: self.src_prefix,
            proto: self.proto,
            sport: self.dport,
            dport: self.sport,
            ifindex: self.ifindex,
        }
    }

    /// Address family of the selector (`AF_INET`/`AF_INET6`).
    pub fn family(&self) -> u16 {
        family_of(self.src)
    }
}

/// Full prefix length for an address (32 or 128).
pub fn full_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `AF_INET`/`AF_INET6` for an address.
pub fn family_of(addr: IpAddr) -> u16 {
    match addr {
        IpAddr::V4(_) => crate::consts::AF_INET,
        IpAddr::V6(_) => crate::consts::AF_INET6,
    }
}

fn proto_name(proto: u8) -> String {
    match proto {
        0 => "any".to_string(),
        IPPROTO_UDP => "udp".to_string(),
        IPPROTO_TCP => "tcp".to_string(),
        1 => "icmp".to_string(),
        58 => "ipv6-icmp".to_string(),
        p => p.to_string(),
    }
}

fn port_text(port: Port) -> String {
    match port.mask {
        0 => "any".to_string(),
        0xffff => port.value.to_string(),
        m => format!("{}/{:#06x}", port.value, m),
    }
}

impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}[{}/{}] -> {}/{}[{}/{}]",
            self.src,
            self.src_prefix,
            proto_name(self.proto),
            port_text(self.sport),
            self.dst,
            self.dst_prefix,
            proto_name(self.proto),
            port_text(self.dport)
        )?;
        if self.ifindex != 0 {
            write!(f, " if#{}", self.ifindex)?;
        }
        Ok(())
    }
}

impl Default for TrafficSelector {
    fn default() -> Self {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        TrafficSelector {
            src: any,
            src_prefix: 0,
            dst: any,
            dst_prefix: 0,
            proto: 0,
            sport: Port::ANY,
            dport: Port::ANY,
            ifindex: 0,
        }
    }
}

/// Key material: zeroized on drop, never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<Vec<u8>>);

impl SecretKey {
    /// Wrap key bytes (the caller's copy should be zeroized by the caller).
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretKey(Zeroizing::new(bytes))
    }

    /// Key bytes, for the message builder only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Key length in bits, as the kernel wants it.
    pub fn bits(&self) -> u32 {
        u32::try_from(self.0.len().saturating_mul(8)).unwrap_or(u32::MAX)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<redacted {} bytes>)", self.0.len())
    }
}

/// The ESP transform, as kernel algorithm names plus keys. `iked-crypto` supplies the names
/// (e.g. `rfc4106(gcm(aes))`, `cbc(aes)`, `hmac(sha256)`); this crate treats them as data.
#[derive(Debug, Clone)]
pub enum EspTransform {
    /// Combined-mode cipher (`XFRMA_ALG_AEAD`); for GCM the key is cipher key ‖ 4-byte salt.
    Aead {
        /// Kernel algorithm name.
        name: String,
        /// Key material.
        key: SecretKey,
        /// ICV length in bits (128 for AES-GCM-16).
        icv_bits: u32,
    },
    /// Separate cipher (`XFRMA_ALG_CRYPT`) and integrity (`XFRMA_ALG_AUTH_TRUNC`).
    CipherAndIntegrity {
        /// Kernel cipher name (`cbc(aes)`, `ecb(cipher_null)` for NULL).
        cipher: String,
        /// Cipher key.
        cipher_key: SecretKey,
        /// Kernel integrity name (`hmac(sha256)`).
        integrity: String,
        /// Integrity key.
        integrity_key: SecretKey,
        /// Truncation length of the ICV in bits (128 for HMAC-SHA2-256-128).
        truncation_bits: u32,
    },
}

/// SA lifetimes. `None` byte/packet limits mean "no limit" (`XFRM_INF`), as strongSwan's
/// `XFRM_LIMIT(0)`; add-time limits of 0 mean none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetimes {
    /// Soft byte limit (rekey).
    pub soft_bytes: Option<u64>,
    /// Hard byte limit (delete).
    pub hard_bytes: Option<u64>,
    /// Soft packet limit (rekey).
    pub soft_packets: Option<u64>,
    /// Hard packet limit (delete).
    pub hard_packets: Option<u64>,
    /// Soft lifetime in seconds since the SA was added.
    pub soft_add_seconds: u64,
    /// Hard lifetime in seconds since the SA was added.
    pub hard_add_seconds: u64,
}

/// A firewall mark match (`XFRMA_MARK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark {
    /// Value.
    pub value: u32,
    /// Mask.
    pub mask: u32,
}

/// UDP encapsulation for NAT traversal (`XFRMA_ENCAP`, `UDP_ENCAP_ESPINUDP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatTEncap {
    /// UDP source port (host order).
    pub sport: u16,
    /// UDP destination port (host order).
    pub dport: u16,
    /// Original address (for transport-mode checksum fix-up), if known.
    pub original_address: Option<IpAddr>,
}

/// The `hw_offload` setting of a child (swanctl.conf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HwOffload {
    /// `no` (default): plain software SAs.
    #[default]
    No,
    /// `crypto` / `yes`: crypto offload; fail unless the device has `esp-hw-offload`.
    Crypto,
    /// `packet`: packet offload of SAs and in/out policies; fail if refused.
    Packet,
    /// `auto`: packet, else crypto, else none; never fails for lack of offload.
    Auto,
}

/// The offload mode actually in force for an installed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffloadMode {
    /// Software.
    None,
    /// Crypto offload (the device encrypts; the stack does ESP framing and SPD).
    Crypto,
    /// Packet offload (the device does ESP and the SPD).
    Packet,
}

impl fmt::Display for OffloadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OffloadMode::None => "none",
            OffloadMode::Crypto => "crypto",
            OffloadMode::Packet => "packet",
        })
    }
}

/// Offload request attached to a single SA or policy message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffloadRequest {
    /// Device index.
    pub ifindex: i32,
    /// Crypto or packet (`None` is expressed by not attaching a request).
    pub packet: bool,
}
