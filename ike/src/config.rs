//! The engine's view of configuration: connections, children, secrets and global settings.
//!
//! Contract: these are plain validated values with strongSwan's defaults (`Default` impls and
//! constructors). The daemon converts `iked_conf`'s swanctl.conf model into them; the engine
//! never parses files. Secrets are zeroized on drop and never printed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use iked_crypto::auth::SignatureScheme;
/// IKEv2 identification types, for [`Identity::kind`].
pub use iked_crypto::x509::id_type;
use iked_crypto::x509::{Certificate, RawPublicKey};

use crate::proposal::Proposal;
use crate::resolved::Resolved;
use crate::ts::TsSpec;

/// An IKE identity (RFC 7296 3.5), typed as strongSwan infers it from a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// ID type (1 IPv4, 2 FQDN, 3 RFC822, 5 IPv6, 11 KEY_ID).
    pub kind: u8,
    /// Identification data as on the wire.
    pub data: Vec<u8>,
}

impl Identity {
    /// Infers the type from text as strongSwan does: an IP address, a DN when it contains
    /// `=` and parses as one (`CN=bfr`, `C=CH, O=x, CN=bfr`, `/C=CH/CN=bfr`), `user@host`
    /// (RFC822), `@#hex` / `@@x` forms aside, anything else is an FQDN (a leading `@` is
    /// stripped).
    pub fn from_text(text: &str) -> Identity {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Identity::from_addr(ip);
        }
        if text.contains('=')
            && let Ok(der) = iked_crypto::x509::dn_from_text(text)
        {
            return Identity {
                kind: id_type::DER_ASN1_DN,
                data: der,
            };
        }
        if let Some(fqdn) = text.strip_prefix('@') {
            return Identity {
                kind: id_type::FQDN,
                data: fqdn.as_bytes().to_vec(),
            };
        }
        if text.contains('@') {
            return Identity {
                kind: id_type::RFC822_ADDR,
                data: text.as_bytes().to_vec(),
            };
        }
        Identity {
            kind: id_type::FQDN,
            data: text.as_bytes().to_vec(),
        }
    }

    /// An address identity (strongSwan's default when `id` is not configured).
    pub fn from_addr(ip: IpAddr) -> Identity {
        match ip {
            IpAddr::V4(a) => Identity {
                kind: id_type::IPV4_ADDR,
                data: a.octets().to_vec(),
            },
            IpAddr::V6(a) => Identity {
                kind: id_type::IPV6_ADDR,
                data: a.octets().to_vec(),
            },
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            id_type::IPV4_ADDR if self.data.len() == 4 => {
                let o: [u8; 4] = self.data[..4].try_into().map_err(|_| std::fmt::Error)?;
                write!(f, "{}", std::net::Ipv4Addr::from(o))
            }
            id_type::IPV6_ADDR if self.data.len() == 16 => {
                let o: [u8; 16] = self.data[..16].try_into().map_err(|_| std::fmt::Error)?;
                write!(f, "{}", std::net::Ipv6Addr::from(o))
            }
            id_type::FQDN | id_type::RFC822_ADDR => {
                write!(f, "{}", String::from_utf8_lossy(&self.data))
            }
            id_type::DER_ASN1_DN => match iked_crypto::x509::dn_to_text(&self.data) {
                Some(text) => f.write_str(&text),
                None => write!(f, "{}", hex_string(&self.data)),
            },
            // As charon prints a key ID: text when printable and not SHA-1 sized, else its
            // octets in hex separated by colons (`%#B`), as `swanctl --list-sas` shows it.
            id_type::KEY_ID => {
                if self.data.len() != 20
                    && self.data.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
                {
                    write!(f, "{}", String::from_utf8_lossy(&self.data))
                } else {
                    let hex: Vec<String> = self.data.iter().map(|b| format!("{b:02x}")).collect();
                    f.write_str(&hex.join(":"))
                }
            }
            _ => write!(f, "{}", hex_string(&self.data)),
        }
    }
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// How one side authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// Pre-shared key (AUTH method 2).
    Psk,
    /// Public-key signatures (`auth = pubkey | rsa | ecdsa | ike:...`).
    Pubkey(Box<PubkeyAuth>),
}

/// `send_cert`: when we send our certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendCert {
    /// Only when the peer sent a CERTREQ (strongSwan's default).
    #[default]
    IfAsked,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Public-key authentication of one side. On the local side `certs` is our certificate
/// (end entity first, then intermediates to send along); on the remote side `certs` are the
/// peer certificates we pin (trusted as they are, self-signed or not), `cacerts` the CAs this
/// connection accepts (empty: any trusted CA of the credential set), `pubkeys` pinned raw
/// public keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PubkeyAuth {
    /// Which signature algorithms are acceptable.
    pub constraint: PubkeyConstraint,
    /// Certificates (see the type docs).
    pub certs: Vec<Certificate>,
    /// CA certificates (remote side).
    pub cacerts: Vec<Certificate>,
    /// Raw public keys (remote side).
    pub pubkeys: Vec<RawPublicKey>,
    /// `send_cert` (local side).
    pub send_cert: SendCert,
    /// `send_certreq` (remote side; default yes).
    pub send_certreq: bool,
    /// `revocation` (remote side; default relaxed), applied to every link of the peer's path.
    pub revocation: iked_crypto::crl::Policy,
}

impl PubkeyAuth {
    /// Public-key authentication with strongSwan's defaults and the given constraint.
    pub fn new(constraint: PubkeyConstraint) -> Self {
        PubkeyAuth {
            constraint,
            send_certreq: true,
            ..PubkeyAuth::default()
        }
    }
}

/// Key type a signature method is restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA (PKCS#1 v1.5 or PSS).
    Rsa,
    /// ECDSA.
    Ecdsa,
    /// Ed25519.
    Ed25519,
}

/// The `auth` keyword's constraints, as strongSwan reads `pubkey`, `rsa`, `ecdsa`,
/// `ed25519`, `rsa/pss`, `ike:...` (`ike:` restricts only the IKE AUTH signature, the
/// others also the certificate chain in strongSwan; iked applies them to the AUTH signature).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PubkeyConstraint {
    /// Allowed key types; empty = any.
    pub key_kinds: Vec<KeyKind>,
    /// RSA must use PSS (`rsa/pss`).
    pub rsa_pss: bool,
    /// The keyword as written (for logs).
    pub spec: String,
}

/// An `auth` value iked cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported auth constraint '{spec}': {why}")]
pub struct AuthSpecError {
    /// The keyword.
    pub spec: String,
    /// Why.
    pub why: String,
}

impl PubkeyConstraint {
    /// Parses the `auth` keyword of a public-key round: dash-separated parts
    /// (`rsa-2048-sha256`, `ecdsa-sha384`, `ike:rsa/pss-sha256`); key sizes and hash names
    /// are accepted and not enforced (strongSwan enforces them on the chain too).
    pub fn from_spec(spec: &str) -> Result<Self, AuthSpecError> {
        let body = spec.strip_prefix("ike:").unwrap_or(spec);
        let mut c = PubkeyConstraint {
            spec: spec.to_string(),
            ..PubkeyConstraint::default()
        };
        for part in body.split('-') {
            match part {
                "pubkey" => {}
                "rsa" => c.key_kinds.push(KeyKind::Rsa),
                "rsa/pss" => {
                    c.key_kinds.push(KeyKind::Rsa);
                    c.rsa_pss = true;
                }
                "ecdsa" => c.key_kinds.push(KeyKind::Ecdsa),
                "ed25519" => c.key_kinds.push(KeyKind::Ed25519),
                "sha1" | "sha256" | "sha384" | "sha512" | "identity" => {}
                p if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {}
                p => {
                    return Err(AuthSpecError {
                        spec: spec.to_string(),
                        why: format!("unknown part '{p}'"),
                    });
                }
            }
        }
        Ok(c)
    }

    /// Whether a signature scheme the peer used is acceptable.
    pub fn allows(&self, scheme: SignatureScheme) -> bool {
        use SignatureScheme as S;
        let kind = match scheme {
            S::RsaPkcs1Sha1 | S::RsaPkcs1Sha256 | S::RsaPkcs1Sha384 | S::RsaPkcs1Sha512 => {
                if self.rsa_pss {
                    return false;
                }
                KeyKind::Rsa
            }
            S::RsaPssSha256 | S::RsaPssSha384 | S::RsaPssSha512 => KeyKind::Rsa,
            S::EcdsaP256Sha256 | S::EcdsaP384Sha384 | S::EcdsaP521Sha512 => KeyKind::Ecdsa,
            S::Ed25519 => KeyKind::Ed25519,
        };
        self.key_kinds.is_empty() || self.key_kinds.contains(&kind)
    }
}

/// One side (`local` or `remote`) of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Authentication method.
    pub method: AuthMethod,
    /// Identity; `None` = the IKE address (local) or any identity (remote).
    pub id: Option<Identity>,
}

/// IPsec mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Tunnel mode (strongSwan's default).
    Tunnel,
    /// Transport mode.
    Transport,
}

/// Hardware offload as `hw_offload` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwOffload {
    /// `no`.
    No,
    /// `crypto` / `yes`: crypto offload, fail if unsupported.
    Crypto,
    /// `packet`: packet offload, fail if unsupported.
    Packet,
    /// `auto`: best supported, never fail.
    Auto,
}

/// Lifetime settings of a CHILD_SA (strongSwan defaults: rekey 1h, life = rekey * 1.1,
/// rand = life - rekey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildLifetimes {
    /// `rekey_time` (0 = no rekey by time).
    pub rekey_time: Duration,
    /// `life_time` (hard expiry).
    pub life_time: Duration,
    /// `rand_time` (jitter subtracted from rekey_time).
    pub rand_time: Duration,
    /// `rekey_bytes` (0 = none).
    pub rekey_bytes: u64,
    /// `life_bytes` (0 = none).
    pub life_bytes: u64,
    /// `rekey_packets` (0 = none).
    pub rekey_packets: u64,
    /// `life_packets` (0 = none).
    pub life_packets: u64,
}

impl Default for ChildLifetimes {
    fn default() -> Self {
        ChildLifetimes {
            rekey_time: Duration::from_secs(3600),
            life_time: Duration::from_secs(3960),
            rand_time: Duration::from_secs(360),
            rekey_bytes: 0,
            life_bytes: 0,
            rekey_packets: 0,
            life_packets: 0,
        }
    }
}

/// A CHILD_SA configuration (a `children` subsection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildConfig {
    /// Name (`bf-out`).
    pub name: String,
    /// Local traffic selectors (`dynamic` is resolved per IKE SA).
    pub local_ts: Vec<TsSpec>,
    /// Remote traffic selectors (`dynamic` is resolved per IKE SA).
    pub remote_ts: Vec<TsSpec>,
    /// ESP proposals; key exchange methods in them are the PFS groups for CREATE_CHILD_SA.
    pub esp_proposals: Vec<Proposal>,
    /// IPsec mode.
    pub mode: Mode,
    /// Offload request.
    pub hw_offload: HwOffload,
    /// Install forward policies for outbound traffic too (`policies_fwd_out`).
    pub policies_fwd_out: bool,
    /// Lifetimes.
    pub lifetimes: ChildLifetimes,
    /// Marks and interface ids; the engine copies them into its SA requests.
    pub marks: crate::marks::ChildMarks,
}

/// An IKE connection (a `connections` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeConfig {
    /// Name (`BFL-BFR`).
    pub name: String,
    /// Local single addresses (with `local_ranges` empty too: any address).
    pub local_addrs: Vec<IpAddr>,
    /// Remote single addresses; the first is the one an initiator sends to (with
    /// `remote_ranges` empty too: any address).
    pub remote_addrs: Vec<IpAddr>,
    /// Local subnets and ranges (`0.0.0.0/0`, `10.0.0.1-10.0.0.9`; `%any4` is `0.0.0.0/0`).
    pub local_ranges: Vec<AddrRange>,
    /// Remote subnets and ranges, matched against a responder's peer.
    pub remote_ranges: Vec<AddrRange>,
    /// Local DNS names, in configuration order; they match what the daemon last resolved
    /// them to ([`crate::resolved::Resolved`]).
    pub local_names: Vec<String>,
    /// Remote DNS names, in configuration order (the daemon resolves them to initiate).
    pub remote_names: Vec<String>,
    /// Local authentication round.
    pub local: AuthConfig,
    /// Remote authentication round.
    pub remote: AuthConfig,
    /// IKE proposals in preference order.
    pub proposals: Vec<Proposal>,
    /// Children in configuration order.
    pub children: Vec<Arc<ChildConfig>>,
    /// `rekey_time` of the IKE SA (strongSwan default 4h; 0 = never).
    pub rekey_time: Duration,
    /// `over_time`: hard limit past the rekey/reauth time (default 10% of it).
    pub over_time: Duration,
    /// `rand_time` jitter (default = over_time).
    pub rand_time: Duration,
    /// `dpd_delay` (0 = no liveness checks when idle).
    pub dpd_delay: Duration,
    /// `mobike` (the engine only records it; MOBIKE is not implemented).
    pub mobike: bool,
    /// `encap`: force UDP encapsulation of ESP by faking a NAT (strongSwan's fake
    /// NAT_DETECTION_SOURCE_IP hash), so the SAs use ESP-in-UDP on the NAT-T port.
    pub encap: bool,
    /// `fragmentation`: whether RFC 7383 fragmentation is announced and used.
    pub fragmentation: Fragmentation,
    /// `unique`: what a new IKE SA does to others of the same identity pair.
    pub unique: UniquePolicy,
}

/// swanctl's `unique` (charon's `unique_policy_t`): how a responder treats a new IKE SA when
/// it already holds SAs between the same two identities (see `engine::contacts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum UniquePolicy {
    /// Never replace, not even on INITIAL_CONTACT (and never send INITIAL_CONTACT).
    Never,
    /// Replace only on INITIAL_CONTACT (strongSwan's default).
    #[default]
    No,
    /// Refuse a new SA while an established one exists.
    Keep,
    /// Delete the existing SAs once the new one is authenticated.
    Replace,
}

/// An inclusive address range of `local_addrs`/`remote_addrs` (a subnet or `a-b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrRange {
    /// First address.
    pub start: IpAddr,
    /// Last address (same family as `start`).
    pub end: IpAddr,
}

impl AddrRange {
    /// A subnet (`10.0.0.0/8`; host bits of `addr` are ignored).
    pub fn subnet(addr: IpAddr, prefix: u8) -> Self {
        let ts = crate::ts::TrafficSelector::subnet(addr, prefix);
        AddrRange {
            start: ts.start,
            end: ts.end,
        }
    }

    /// The whole address family of `v4`/IPv6 (`%any4`, `%any6`).
    pub fn family(v4: bool) -> Self {
        let any = if v4 {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        };
        AddrRange::subnet(any, 0)
    }

    /// charon's match quality of `addr` in this range (`ike_cfg.c` `match`): the prefix length
    /// plus one for a subnet, 1 for another range, 0 outside.
    fn quality(&self, addr: IpAddr) -> u32 {
        let ts = crate::ts::TrafficSelector {
            start: self.start,
            end: self.end,
            ..crate::ts::TrafficSelector::host(self.start)
        };
        if !ts.contains_addr(addr) {
            return 0;
        }
        ts.prefix_len().map_or(1, |p| u32::from(p) + 1)
    }
}

impl std::fmt::Display for AddrRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ts = crate::ts::TrafficSelector {
            start: self.start,
            end: self.end,
            ..crate::ts::TrafficSelector::host(self.start)
        };
        write!(f, "{ts}")
    }
}

/// charon's quality of `addr` against one side's addresses (`ike_cfg.c` `match`): 129 for a
/// configured single address, prefix length + 1 for a subnet holding it, 1 for another range
/// or when the side has no address configured at all (`%any`), 0 for no match. A DNS name
/// counts as the addresses it last resolved to.
fn addr_quality(
    hosts: &[IpAddr],
    ranges: &[AddrRange],
    names: &[String],
    resolved: &Resolved,
    addr: IpAddr,
) -> u32 {
    if hosts.is_empty() && ranges.is_empty() && names.is_empty() {
        return 1;
    }
    let exact = hosts.contains(&addr) || resolved.any_is(names, addr);
    let host = if exact { 129 } else { 0 };
    ranges.iter().map(|r| r.quality(addr)).fold(host, u32::max)
}

impl IkeConfig {
    /// How well this connection's addresses match an IKE SA between `local` and `remote`
    /// (the sum of both sides' qualities, as charon's backend manager ranks ike_cfgs), or
    /// `None` when either side does not match. Names count as `resolved` has them.
    pub fn addr_match(&self, local: IpAddr, remote: IpAddr, resolved: &Resolved) -> Option<u32> {
        let (lr, rr) = (&self.local_ranges, &self.remote_ranges);
        let l = addr_quality(&self.local_addrs, lr, &self.local_names, resolved, local);
        let r = addr_quality(&self.remote_addrs, rr, &self.remote_names, resolved, remote);
        (l > 0 && r > 0).then_some(l + r)
    }
}

/// The connection among `conns` matching `local`/`remote` best (and `also`), the first one
/// on ties, as charon picks configs.
pub fn best_addr_match<'a>(
    conns: impl IntoIterator<Item = &'a Arc<IkeConfig>>,
    local: IpAddr,
    remote: IpAddr,
    resolved: &Resolved,
    also: impl Fn(&IkeConfig) -> bool,
) -> Option<&'a Arc<IkeConfig>> {
    let mut best: Option<(u32, &'a Arc<IkeConfig>)> = None;
    for c in conns {
        let Some(q) = c.addr_match(local, remote, resolved) else {
            continue;
        };
        if best.is_some_and(|(b, _)| b >= q) || !also(c) {
            continue;
        }
        best = Some((q, c));
    }
    best.map(|(_, c)| c)
}

/// swanctl's `fragmentation` for IKEv2 (`force` behaves as `yes`, as in strongSwan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fragmentation {
    /// Announce support; send fragments when the peer supports them too (default).
    #[default]
    Yes,
    /// Announce support and reassemble what the peer sends, but never send fragments.
    Accept,
    /// Do not announce support (fragments that still arrive are reassembled).
    No,
}

/// A shared secret with the identities it belongs to (a `secrets.ike-*` section).
pub struct IkeSecret {
    /// Identities owning the secret (`id-*` keys); empty matches any.
    pub ids: Vec<Identity>,
    /// The secret.
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for IkeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeSecret")
            .field("ids", &self.ids)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl IkeSecret {
    /// Builds a secret for the given identities.
    pub fn new(ids: Vec<Identity>, secret: Vec<u8>) -> Self {
        IkeSecret {
            ids,
            secret: Zeroizing::new(secret),
        }
    }
}

/// Finds the PSK for a pair of identities as strongSwan does: the secret matching both
/// identities best (both > one > wildcard), the first one on ties.
pub fn find_psk<'a>(secrets: &'a [IkeSecret], me: &Identity, other: &Identity) -> Option<&'a [u8]> {
    secrets
        .iter()
        .filter_map(|s| {
            let score = if s.ids.is_empty() {
                1
            } else {
                let m = s.ids.contains(me);
                let o = s.ids.contains(other);
                match (m, o) {
                    (true, true) => 3,
                    (true, false) | (false, true) => 2,
                    (false, false) => return None,
                }
            };
            Some((score, s))
        })
        // The best match wins; among equals, the first in configuration order.
        .fold(
            None,
            |best: Option<(u8, &IkeSecret)>, (score, s)| match best {
                Some((b, _)) if b >= score => best,
                _ => Some((score, s)),
            },
        )
        .map(|(_, s)| s.secret.as_slice())
}

/// Engine-wide settings (strongSwan's `charon.*` defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `retransmit_timeout` (4 s).
    pub retransmit_timeout: Duration,
    /// `retransmit_base` (1.8).
    pub retransmit_base: f64,
    /// `retransmit_tries` (5).
    pub retransmit_tries: u32,
    /// `half_open_timeout` (30 s): a responder drops a half-open SA after this.
    pub half_open_timeout: Duration,
    /// charon's `init_limit_half_open`: at this many half-open SAs IKE_SA_INIT is dropped.
    pub half_open_limit: usize,
    /// `cookie_threshold` (30): at this many half-open SAs, demand cookies from everyone
    /// (0 = never, as in strongSwan).
    pub cookie_threshold: usize,
    /// `cookie_threshold_ip` (3, strongSwan 6): at this many half-open SAs from one source
    /// address, demand cookies from that address (0 = never).
    pub cookie_threshold_ip: usize,
    /// `block_threshold` (5): at this many half-open SAs from one source address, its
    /// IKE_SA_INIT requests are dropped (0 = no limit).
    pub block_threshold: usize,
    /// charon's `max_packet` (10000): received IKE datagrams (and reassembled fragmented
    /// messages) larger than this are dropped, as charon's socket drops them.
    pub max_packet: usize,
    /// Size of our nonces (strongSwan: 32).
    pub nonce_len: usize,
    /// Our IKE port (charon's `port`, 500): initiations start from it unless told otherwise.
    pub ike_port: u16,
    /// Our NAT-T port (charon's `port_nat_t`, 4500): an initiator moves to it from `ike_port`
    /// when a NAT is detected (RFC 7296 2.23).
    pub nat_t_port: u16,
    /// Interval of NAT keepalives while we are behind a NAT (charon's `keep_alive`, 20 s;
    /// zero disables them).
    pub keep_alive: Duration,
    /// Largest IP datagram carrying one IKE fragment (charon's `fragment_size`, 1280): an
    /// encrypted message that would exceed it is sent as SKF fragments (RFC 7383) when both
    /// peers announced IKEV2_FRAGMENTATION_SUPPORTED.
    pub fragment_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retransmit_timeout: Duration::from_secs(4),
            retransmit_base: 1.8,
            retransmit_tries: 5,
            half_open_timeout: Duration::from_secs(30),
            half_open_limit: 50_000,
            cookie_threshold: 30,
            cookie_threshold_ip: 3,
            block_threshold: 5,
            max_packet: 10_000,
            nonce_len: 32,
            ike_port: 500,
            nat_t_port: 4500,
            keep_alive: Duration::from_secs(20),
            fragment_size: 1280,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_types_follow_strongswan() {
        assert_eq!(Identity::from_text("host1").kind, id_type::FQDN);
        assert_eq!(Identity::from_text("a@b").kind, id_type::RFC822_ADDR);
        assert_eq!(
            Identity::from_text("192.168.50.1").data,
            vec![192, 168, 50, 1]
        );
        assert_eq!(Identity::from_text("@x.org").data, b"x.org".to_vec());
        let dn = Identity::from_text("C=CH, O=iked, CN=bfr");
        assert_eq!(dn.kind, id_type::DER_ASN1_DN);
        assert_eq!(dn.to_string(), "C=CH, O=iked, CN=bfr");
        assert_eq!(Identity::from_text("CN=bfr").to_string(), "CN=bfr");
        assert_eq!(
            Identity::from_text("192.168.50.1").to_string(),
            "192.168.50.1"
        );
    }

    #[test]
    fn psk_lookup_prefers_the_best_match() {
        let h1 = Identity::from_text("host1");
        let h2 = Identity::from_text("host2");
        let h3 = Identity::from_text("host3");
        let secrets = vec![
            IkeSecret::new(vec![], b"any".to_vec()),
            IkeSecret::new(vec![h1.clone()], b"one".to_vec()),
            IkeSecret::new(vec![h1.clone(), h2.clone()], b"both".to_vec()),
        ];
        assert_eq!(find_psk(&secrets, &h1, &h2), Some(&b"both"[..]));
        assert_eq!(find_psk(&secrets, &h1, &h3), Some(&b"one"[..]));
        assert_eq!(find_psk(&secrets, &h3, &h3), Some(&b"any"[..]));
        assert!(format!("{:?}", secrets[2]).contains("redacted"));
    }
}
