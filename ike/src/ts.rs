//! Traffic selectors (RFC 7296 3.13.1) and strongSwan-style narrowing.
//!
//! Contract: a [`TrafficSelector`] is an address range, an IP protocol (0 = any) and a port
//! range. [`narrow`] returns the intersection of what a peer proposed with what we are
//! configured to allow, in the peer's order; an empty result means TS_UNACCEPTABLE.
//!
//! Why not `wire::TrafficSelector`: that one is the TS payload's substructure, typed by
//! family (`AddressRange::V4`/`V6`) and keeping selectors of other types (Fibre Channel,
//! security labels) whole so a message round-trips. This one is what narrowing, the
//! configuration and the kernel requests work with: only IP ranges, any family behind one
//! `IpAddr` pair, `Copy` and `Hash`, with strongSwan's text form. The two conversions at the
//! end of this file are the only crossing; decoding refuses a non-IP selector there
//! ([`NotIp`]), since the engine cannot narrow or install it.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::wire;

/// One traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol number, 0 for any.
    pub protocol: u8,
    /// First port (inclusive).
    pub start_port: u16,
    /// Last port (inclusive).
    pub end_port: u16,
    /// First address (inclusive).
    pub start: IpAddr,
    /// Last address (inclusive); same family as `start`.
    pub end: IpAddr,
}

/// Errors building a selector from configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TsError {
    /// The text is not `addr[/prefix] [proto[/port]]`.
    #[error("invalid traffic selector '{0}'")]
    Invalid(String),
}

/// Whether `protocol` is ICMP or ICMPv6, whose selectors carry a message type and code in
/// the port fields (RFC 4301 4.4.1.1: type in the high byte, code in the low byte).
pub fn is_icmp(protocol: u8) -> bool {
    protocol == 1 || protocol == 58
}

/// The selector port for a configured ICMP port value, as charon's `traffic_selector_create`
/// maps it: a value below 256 is a message type (code 0), shifted into the high byte
/// (`[icmp/8]` is 2048 on the wire); larger values are taken as `type << 8 | code` already.
/// Other protocols' ports are unchanged.
pub fn config_port(protocol: u8, port: u16) -> u16 {
    if is_icmp(protocol) && port < 256 {
        port << 8
    } else {
        port
    }
}

/// charon's text for an ICMP port value: `8` for type 8 code 0, `3(1)` for type 3 code 1.
fn fmt_icmp(f: &mut fmt::Formatter<'_>, port: u16) -> fmt::Result {
    let (kind, code) = (port >> 8, port & 0xff);
    if code != 0 {
        write!(f, "{kind}({code})")
    } else {
        write!(f, "{kind}")
    }
}

fn to_u128(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v4) => (true, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (false, u128::from(v6)),
    }
}

fn from_u128(v4: bool, v: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(std::net::Ipv4Addr::from(
            u32::try_from(v).unwrap_or(u32::MAX),
        ))
    } else {
        IpAddr::V6(std::net::Ipv6Addr::from(v))
    }
}

impl TrafficSelector {
    /// A selector covering exactly one host, any protocol and port.
    pub fn host(addr: IpAddr) -> Self {
        TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: addr,
            end: addr,
        }
    }

    /// A selector for a prefix (`192.168.50.1/24` covers the whole /24, as strongSwan does).
    pub fn subnet(addr: IpAddr, prefix: u8) -> Self {
        let (v4, bits) = to_u128(addr);
        let width: u32 = if v4 { 32 } else { 128 };
        let prefix = u32::from(prefix).min(width);
        let host_bits = width - prefix;
        let mask: u128 = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: from_u128(v4, bits & !mask),
            end: from_u128(v4, bits | mask),
        }
    }

    /// Parses strongSwan's `addr[/prefix][ [proto[/port]]]` notation (`192.168.50.1/24 [udp/4789]`).
    pub fn parse(text: &str) -> Result<Self, TsError> {
        let bad = || TsError::Invalid(text.to_string());
        let (net, proto) = match text.split_once('[') {
            Some((n, rest)) => (
                n.trim(),
                Some(rest.trim_end().strip_suffix(']').ok_or_else(bad)?),
            ),
            None => (text.trim(), None),
        };
        let mut ts = match net.split_once('/') {
            Some((a, p)) => TrafficSelector::subnet(
                a.parse().map_err(|_| bad())?,
                p.parse().map_err(|_| bad())?,
            ),
            None => TrafficSelector::host(net.parse().map_err(|_| bad())?),
        };
        if let Some(proto) = proto {
            let (name, port) = match proto.split_once('/') {
                Some((n, p)) => (n, Some(p)),
                None => (proto, None),
            };
            ts.protocol = match name {
                "udp" => 17,
                "tcp" => 6,
                "icmp" => 1,
                "ipv6-icmp" | "icmpv6" => 58,
                "any" | "" => 0,
                n => n.parse().map_err(|_| bad())?,
            };
            if let Some(port) = port
                && port != "any"
                && port != "%any"
            {
                let (lo, hi) = match port.split_once('-') {
                    Some((l, h)) => (l.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?),
                    None => {
                        let p: u16 = port.parse().map_err(|_| bad())?;
                        (p, p)
                    }
                };
                ts.start_port = config_port(ts.protocol, lo);
                ts.end_port = config_port(ts.protocol, hi);
            }
        }
        Ok(ts)
    }

    /// Whether this selector is IPv4.
    pub fn is_v4(&self) -> bool {
        self.start.is_ipv4()
    }

    /// Whether `addr` lies in the address range.
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        let (v4, a) = to_u128(addr);
        let (sv4, s) = to_u128(self.start);
        let (_, e) = to_u128(self.end);
        v4 == sv4 && s <= a && a <= e
    }

    /// The prefix length when the address range is exactly one subnet.
    pub fn prefix_len(&self) -> Option<u8> {
        let (v4, s) = to_u128(self.start);
        let (_, e) = to_u128(self.end);
        let width: u32 = if v4 { 32 } else { 128 };
        if s > e {
            return None;
        }
        let span = e - s;
        if span == u128::MAX {
            return Some(0);
        }
        let size = span + 1;
        if !size.is_power_of_two() || s % size != 0 {
            return None;
        }
        u8::try_from(width - size.trailing_zeros()).ok()
    }

    /// The intersection of two selectors, if not empty.
    pub fn intersect(&self, other: &TrafficSelector) -> Option<TrafficSelector> {
        if self.is_v4() != other.is_v4() {
            return None;
        }
        let protocol = match (self.protocol, other.protocol) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let start_port = self.start_port.max(other.start_port);
        let end_port = self.end_port.min(other.end_port);
        if start_port > end_port {
            return None;
        }
        let (v4, s1) = to_u128(self.start);
        let (_, e1) = to_u128(self.end);
        let (_, s2) = to_u128(other.start);
        let (_, e2) = to_u128(other.end);
        let (s, e) = (s1.max(s2), e1.min(e2));
        if s > e {
            return None;
        }
        Some(TrafficSelector {
            protocol,
            start_port,
            end_port,
            start: from_u128(v4, s),
            end: from_u128(v4, e),
        })
    }
}

/// Narrows `proposed` to what `configured` allows (RFC 7296 2.9), keeping the proposer's order
/// and dropping duplicates. With `host` set (transport mode), every result is further narrowed to
/// that single address, as strongSwan does for transport-mode CHILD_SAs.
pub fn narrow(
    proposed: &[TrafficSelector],
    configured: &[TrafficSelector],
    host: Option<IpAddr>,
) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for p in proposed {
        for c in configured {
            let Some(mut ts) = p.intersect(c) else {
                continue;
            };
            if let Some(h) = host {
                match ts.intersect(&TrafficSelector::host(h)) {
                    Some(n) => ts = n,
                    None => continue,
                }
            }
            if !out.contains(&ts) {
                out.push(ts);
            }
        }
    }
    out
}

/// The selectors an initiator proposes for a transport-mode CHILD_SA, as strongSwan 5.9 does:
/// every configured selector that contains `host` is narrowed to that single address (keeping
/// its protocol and ports, so `192.168.50.1/24 [udp]` becomes `192.168.50.1/32 [udp]`); the
/// others are proposed as configured. A transport-mode SA protects traffic between the two IKE
/// hosts only, and a strongSwan responder installs a tunnel-mode SA instead ("not using
/// transport mode, not host-to-host") if the selectors are wider than the hosts.
pub fn narrow_to_host(configured: &[TrafficSelector], host: IpAddr) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for ts in configured {
        let narrowed = ts.intersect(&TrafficSelector::host(host)).unwrap_or(*ts);
        if !out.contains(&narrowed) {
            out.push(narrowed);
        }
    }
    out
}

/// A configured traffic selector: a fixed one, or strongSwan's `dynamic`, which stands for the
/// IKE SA's own address on that side and is resolved per IKE SA ([`TsSpec::resolve`]), since a
/// connection with `%any`, several addresses or subnets in `local_addrs`/`remote_addrs` only
/// learns which address is in use when an IKE SA exists (and after NAT-T moved it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsSpec {
    /// A fixed selector.
    Fixed(TrafficSelector),
    /// `dynamic[proto/port]`: the side's IKE address with this protocol and port range.
    Dynamic {
        /// IP protocol number, 0 for any.
        protocol: u8,
        /// First port (inclusive).
        start_port: u16,
        /// Last port (inclusive).
        end_port: u16,
    },
}

impl From<TrafficSelector> for TsSpec {
    fn from(ts: TrafficSelector) -> Self {
        TsSpec::Fixed(ts)
    }
}

impl TsSpec {
    /// `dynamic` with any protocol and port.
    pub const DYNAMIC: TsSpec = TsSpec::Dynamic {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
    };

    /// Parses [`TrafficSelector::parse`]'s notation, with `dynamic` allowed as the address
    /// (`dynamic [udp/4789]`).
    pub fn parse(text: &str) -> Result<Self, TsError> {
        let trimmed = text.trim_start();
        match trimmed.strip_prefix("dynamic") {
            Some(rest) => {
                // Parse the protocol/port part against a placeholder address.
                let ts = TrafficSelector::parse(&format!("0.0.0.0{rest}"))
                    .map_err(|_| TsError::Invalid(text.to_string()))?;
                Ok(TsSpec::Dynamic {
                    protocol: ts.protocol,
                    start_port: ts.start_port,
                    end_port: ts.end_port,
                })
            }
            None => TrafficSelector::parse(text).map(TsSpec::Fixed),
        }
    }

    /// Whether this is `dynamic`.
    pub fn is_dynamic(&self) -> bool {
        matches!(self, TsSpec::Dynamic { .. })
    }

    /// The selector for an IKE SA whose address on this side is `host`: `dynamic` becomes that
    /// single address (the whole address family when `host` is unspecified, as charon's
    /// `set_address` does for `%any`), a fixed selector stays as it is.
    pub fn resolve(&self, host: IpAddr) -> TrafficSelector {
        match *self {
            TsSpec::Fixed(ts) => ts,
            TsSpec::Dynamic {
                protocol,
                start_port,
                end_port,
            } => {
                let addrs = if host.is_unspecified() {
                    TrafficSelector::subnet(host, 0)
                } else {
                    TrafficSelector::host(host)
                };
                TrafficSelector {
                    protocol,
                    start_port,
                    end_port,
                    ..addrs
                }
            }
        }
    }

    /// The fixed selector, if this is one.
    pub fn fixed(&self) -> Option<TrafficSelector> {
        match self {
            TsSpec::Fixed(ts) => Some(*ts),
            TsSpec::Dynamic { .. } => None,
        }
    }
}

/// Resolves a configured list against the IKE SA's address on that side (see
/// [`TsSpec::resolve`]), dropping duplicates.
pub fn resolve(list: &[TsSpec], host: IpAddr) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::with_capacity(list.len());
    for spec in list {
        let ts = spec.resolve(host);
        if !out.contains(&ts) {
            out.push(ts);
        }
    }
    out
}

impl fmt::Display for TsSpec {
    /// As charon lists configured selectors: `dynamic[udp/4789]` or the fixed selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TsSpec::Fixed(ts) => ts.fmt(f),
            TsSpec::Dynamic {
                protocol,
                start_port,
                end_port,
            } => {
                // The fixed selector's notation without its address part.
                let shape = TrafficSelector {
                    protocol,
                    start_port,
                    end_port,
                    ..TrafficSelector::subnet(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0)
                };
                let text = shape.to_string();
                let suffix = text.strip_prefix("0.0.0.0/0").unwrap_or("");
                write!(f, "dynamic{suffix}")
            }
        }
    }
}

impl fmt::Display for TrafficSelector {
    /// strongSwan notation: `192.168.50.1/32[udp/4789]`, a range when not a prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (v4, s) = to_u128(self.start);
        let (_, e) = to_u128(self.end);
        let width = if v4 { 32 } else { 128 };
        let span = e.wrapping_sub(s);
        let is_prefix = span
            .checked_add(1)
            .is_some_and(|n| n.is_power_of_two() && s % n == 0)
            || span == u128::MAX;
        if is_prefix {
            let host_bits = if span == u128::MAX {
                128
            } else {
                (span + 1).trailing_zeros()
            };
            write!(f, "{}/{}", self.start, width - host_bits)?;
        } else {
            write!(f, "{}..{}", self.start, self.end)?;
        }
        let any_port = self.start_port == 0 && self.end_port == 65535;
        if self.protocol != 0 || !any_port {
            let proto = match self.protocol {
                17 => "udp".to_string(),
                6 => "tcp".to_string(),
                1 => "icmp".to_string(),
                58 => "ipv6-icmp".to_string(),
                p => p.to_string(),
            };
            if any_port {
                write!(f, "[{proto}]")?;
            } else if self.start_port == 65535 && self.end_port == 0 {
                // RFC 4301 OPAQUE, written as charon does.
                write!(f, "[{proto}/OPAQUE]")?;
            } else if is_icmp(self.protocol) {
                // As charon prints them: type, or type(code); a range as two of those.
                write!(f, "[{proto}/")?;
                fmt_icmp(f, self.start_port)?;
                if self.start_port != self.end_port {
                    f.write_str("-")?;
                    fmt_icmp(f, self.end_port)?;
                }
                f.write_str("]")?;
            } else if self.start_port == self.end_port {
                write!(f, "[{proto}/{}]", self.start_port)?;
            } else {
                write!(f, "[{proto}/{}-{}]", self.start_port, self.end_port)?;
            }
        }
        Ok(())
    }
}

/// A selector of a type other than an IP address range, which the engine cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotIp;

impl From<&TrafficSelector> for wire::TrafficSelector {
    fn from(ts: &TrafficSelector) -> Self {
        let addresses = match (ts.start, ts.end) {
            (IpAddr::V4(start), IpAddr::V4(end)) => wire::AddressRange::V4 { start, end },
            (start, end) => wire::AddressRange::V6 {
                start: v6(start),
                end: v6(end),
            },
        };
        wire::TrafficSelector::Ip(wire::IpTrafficSelector {
            ip_protocol: ts.protocol,
            start_port: ts.start_port,
            end_port: ts.end_port,
            addresses,
        })
    }
}

/// A selector mixing families is not built by this module; map it to IPv6 rather than panic.
fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

impl TryFrom<wire::TrafficSelector> for TrafficSelector {
    type Error = NotIp;

    fn try_from(ts: wire::TrafficSelector) -> Result<Self, NotIp> {
        let wire::TrafficSelector::Ip(ip) = ts else {
            return Err(NotIp);
        };
        let (start, end) = match ip.addresses {
            wire::AddressRange::V4 { start, end } => (start.into(), end.into()),
            wire::AddressRange::V6 { start, end } => (start.into(), end.into()),
        };
        Ok(TrafficSelector {
            protocol: ip.ip_protocol,
            start_port: ip.start_port,
            end_port: ip.end_port,
            start,
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_seed_selectors() {
        let ts = TrafficSelector::parse("192.168.50.1/24 [udp/4789]").unwrap();
        assert_eq!(ts.to_string(), "192.168.50.0/24[udp/4789]");
        let ts = TrafficSelector::parse("192.168.50.2/24 [udp]").unwrap();
        assert_eq!(ts.to_string(), "192.168.50.0/24[udp]");
        assert!(TrafficSelector::parse("192.168.50.300/24").is_err());
        assert!(TrafficSelector::parse("10.0.0.1 [udp/x]").is_err());
    }

    #[test]
    fn transport_mode_narrows_to_the_hosts() {
        let proposed = [TrafficSelector::parse("192.168.50.1/24 [udp]").unwrap()];
        let configured = [TrafficSelector::parse("192.168.50.2/24 [udp/4789]").unwrap()];
        let host: IpAddr = "192.168.50.1".parse().unwrap();
        let n = narrow(&proposed, &configured, Some(host));
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].to_string(), "192.168.50.1/32[udp/4789]");
        let elsewhere: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(narrow(&proposed, &configured, Some(elsewhere)).is_empty());
        let tcp = [TrafficSelector::parse("192.168.50.0/24 [tcp]").unwrap()];
        assert!(narrow(&proposed, &tcp, None).is_empty());
    }

    #[test]
    fn initiator_transport_selectors_narrow_to_the_host_when_contained() {
        // The seed's BFL bf-out: local_ts = 192.168.50.1/24 [udp], remote 192.168.50.2/24
        // [udp/4789]; strongSwan proposes TS 192.168.50.1/32[udp] === 192.168.50.2/32[udp/4789].
        let local = [TrafficSelector::parse("192.168.50.1/24 [udp]").unwrap()];
        let remote = [TrafficSelector::parse("192.168.50.2/24 [udp/4789]").unwrap()];
        let me: IpAddr = "192.168.50.1".parse().unwrap();
        let peer: IpAddr = "192.168.50.2".parse().unwrap();
        assert_eq!(
            narrow_to_host(&local, me)[0].to_string(),
            "192.168.50.1/32[udp]"
        );
        assert_eq!(
            narrow_to_host(&remote, peer)[0].to_string(),
            "192.168.50.2/32[udp/4789]"
        );
        // A selector that does not contain the host is proposed unchanged.
        let other = [TrafficSelector::parse("10.0.0.0/8").unwrap()];
        assert_eq!(narrow_to_host(&other, me), other.to_vec());
        // IPv6 host against an IPv4 selector: unchanged too.
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(narrow_to_host(&local, v6), local.to_vec());
    }

    #[test]
    fn dynamic_resolves_to_the_ike_address_per_side() {
        let spec = TsSpec::parse("dynamic [udp/4789]").unwrap();
        assert!(spec.is_dynamic());
        assert_eq!(spec.to_string(), "dynamic[udp/4789]");
        assert_eq!(TsSpec::parse("dynamic").unwrap(), TsSpec::DYNAMIC);
        assert_eq!(TsSpec::DYNAMIC.to_string(), "dynamic");
        let v4: IpAddr = "10.99.0.2".parse().unwrap();
        assert_eq!(spec.resolve(v4).to_string(), "10.99.0.2/32[udp/4789]");
        let v6: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(spec.resolve(v6).to_string(), "2001:db8::2/128[udp/4789]");
        // An unspecified address (no IKE address known) is the whole family, as charon's
        // set_address does with %any.
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(TsSpec::DYNAMIC.resolve(any).to_string(), "0.0.0.0/0");
        // Fixed selectors are not touched; duplicates go.
        let fixed = TsSpec::parse("10.0.0.0/8").unwrap();
        assert_eq!(fixed.resolve(v4).to_string(), "10.0.0.0/8");
        let list = [TsSpec::DYNAMIC, fixed, TsSpec::DYNAMIC];
        let got: Vec<String> = resolve(&list, v4).iter().map(|t| t.to_string()).collect();
        assert_eq!(got, ["10.99.0.2/32", "10.0.0.0/8"]);
        assert!(TsSpec::parse("dynamic [udp/x]").is_err());
    }

    #[test]
    fn prefix_lengths_of_ranges() {
        let ts = |s: &str| TrafficSelector::parse(s).unwrap();
        assert_eq!(ts("10.0.0.0/8").prefix_len(), Some(8));
        assert_eq!(ts("0.0.0.0/0").prefix_len(), Some(0));
        assert_eq!(ts("::/0").prefix_len(), Some(0));
        assert_eq!(ts("2001:db8::1").prefix_len(), Some(128));
        let range = TrafficSelector {
            end: "10.0.0.9".parse().unwrap(),
            ..ts("10.0.0.1")
        };
        assert_eq!(range.prefix_len(), None);
    }
}
