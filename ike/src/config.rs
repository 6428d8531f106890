//! The engine's view of configuration: connections, children, secrets and global settings.
//!
//! Contract: these are plain validated values with strongSwan's defaults (`Default` impls and
//! constructors). The daemon converts `iked_conf`'s swanctl.conf model into them; the engine
//! never parses files. Secrets are zeroized on drop and never printed.

use std::net::IpAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::proposal::Proposal;
use crate::ts::TrafficSelector;

/// An IKE identity (RFC 7296 3.5), typed as strongSwan infers it from a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// ID type (1 IPv4, 2 FQDN, 3 RFC822, 5 IPv6, 11 KEY_ID).
    pub kind: u8,
    /// Identification data as on the wire.
    pub data: Vec<u8>,
}

impl Identity {
    /// ID_IPV4_ADDR.
    pub const IPV4_ADDR: u8 = 1;
    /// ID_FQDN.
    pub const FQDN: u8 = 2;
    /// ID_RFC822_ADDR.
    pub const RFC822_ADDR: u8 = 3;
    /// ID_IPV6_ADDR.
    pub const IPV6_ADDR: u8 = 5;
    /// ID_KEY_ID.
    pub const KEY_ID: u8 = 11;

    /// Infers the type from text as strongSwan does: an IP address, `user@host` (RFC822),
    /// `@#hex` / `@@x` forms aside, anything else is an FQDN (a leading `@` is stripped).
    pub fn from_text(text: &str) -> Identity {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Identity::from_addr(ip);
        }
        if let Some(fqdn) = text.strip_prefix('@') {
            return Identity {
                kind: Self::FQDN,
                data: fqdn.as_bytes().to_vec(),
            };
        }
        if text.contains('@') {
            return Identity {
                kind: Self::RFC822_ADDR,
                data: text.as_bytes().to_vec(),
            };
        }
        Identity {
            kind: Self::FQDN,
            data: text.as_bytes().to_vec(),
        }
    }

    /// An address identity (strongSwan's default when `id` is not configured).
    pub fn from_addr(ip: IpAddr) -> Identity {
        match ip {
            IpAddr::V4(a) => Identity {
                kind: Self::IPV4_ADDR,
                data: a.octets().to_vec(),
            },
            IpAddr::V6(a) => Identity {
                kind: Self::IPV6_ADDR,
                data: a.octets().to_vec(),
            },
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Self::IPV4_ADDR if self.data.len() == 4 => {
                let o: [u8; 4] = self.data[..4].try_into().map_err(|_| std::fmt::Error)?;
                write!(f, "{}", std::net::Ipv4Addr::from(o))
            }
            Self::IPV6_ADDR if self.data.len() == 16 => {
                let o: [u8; 16] = self.data[..16].try_into().map_err(|_| std::fmt::Error)?;
                write!(f, "{}", std::net::Ipv6Addr::from(o))
            }
            Self::FQDN | Self::RFC822_ADDR => write!(f, "{}", String::from_utf8_lossy(&self.data)),
            _ => write!(f, "{}", hex_string(&self.data)),
        }
    }
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// How one side authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Pre-shared key (AUTH method 2).
    Psk,
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
    /// Local traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// Remote traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
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
}

/// An IKE connection (a `connections` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeConfig {
    /// Name (`BFL-BFR`).
    pub name: String,
    /// Local addresses (empty = any).
    pub local_addrs: Vec<IpAddr>,
    /// Remote addresses (empty = any).
    pub remote_addrs: Vec<IpAddr>,
    /// Local authentication round.
    pub local: AuthConfig,
    /// Remote authentication round.
    pub remote: AuthConfig,
    /// IKE proposals in preference order.
    pub proposals: Vec<Proposal>,
    /// Children in configuration order.
    pub children: Vec<ChildConfig>,
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
    /// `block_threshold`-like cap on half-open SAs; above it IKE_SA_INIT is dropped.
    pub half_open_limit: usize,
    /// `cookie_threshold` (30): above this many half-open SAs, demand cookies.
    pub cookie_threshold: usize,
    /// Size of our nonces (strongSwan: 32).
    pub nonce_len: usize,
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
            nonce_len: 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_types_follow_strongswan() {
        assert_eq!(Identity::from_text("host1").kind, Identity::FQDN);
        assert_eq!(Identity::from_text("a@b").kind, Identity::RFC822_ADDR);
        assert_eq!(
            Identity::from_text("192.168.50.1").data,
            vec![192, 168, 50, 1]
        );
        assert_eq!(Identity::from_text("@x.org").data, b"x.org".to_vec());
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
