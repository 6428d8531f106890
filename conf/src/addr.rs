//! IKE endpoint addresses (`local_addrs`, `remote_addrs`) and traffic
//! selectors (`local_ts`, `remote_ts`).
//!
//! Contract: [`parse_addr`] accepts what strongSwan's `ike_cfg` accepts for
//! one list item: `%any`/`%any4`/`%any6`, an IP address, a CIDR subnet, an
//! address range `a-b`, or a DNS name (resolved later, by the daemon).
//! [`parse_ts`] mirrors `parse_ts` in strongSwan's `vici_config.c`: `dynamic`,
//! a CIDR (host bits are masked off, as `traffic_selector_create_from_cidr`
//! does), a bare address (a host selector), or a range, each optionally
//! followed by `[proto/port]`. Protocol and service names come from built-in
//! tables of the common `/etc/protocols` and `/etc/services` entries, so the
//! result does not depend on the host's files.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::values::parse_u64;

/// One item of `local_addrs` / `remote_addrs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrSpec {
    /// `%any`: any address of either family.
    Any,
    /// `%any4`: any IPv4 address.
    AnyV4,
    /// `%any6`: any IPv6 address.
    AnyV6,
    /// A single address.
    Addr(IpAddr),
    /// A CIDR subnet (matching only; cannot be initiated to).
    Subnet(IpNet),
    /// An inclusive address range (matching only).
    Range(IpAddr, IpAddr),
    /// A DNS name, resolved at initiation time.
    Fqdn(String),
}

impl AddrSpec {
    /// Whether this entry names one concrete peer (an address or a name),
    /// i.e. something the daemon can initiate to.
    pub fn is_specific(&self) -> bool {
        matches!(self, AddrSpec::Addr(_) | AddrSpec::Fqdn(_))
    }

    /// Whether `addr` matches this entry (DNS names never match here: the
    /// daemon resolves them first).
    pub fn matches(&self, addr: IpAddr) -> bool {
        match self {
            AddrSpec::Any => true,
            AddrSpec::AnyV4 => addr.is_ipv4(),
            AddrSpec::AnyV6 => addr.is_ipv6(),
            AddrSpec::Addr(a) => *a == addr,
            AddrSpec::Subnet(n) => n.contains(&addr),
            AddrSpec::Range(from, to) => in_range(addr, *from, *to),
            AddrSpec::Fqdn(_) => false,
        }
    }
}

fn in_range(addr: IpAddr, from: IpAddr, to: IpAddr) -> bool {
    match (addr, from, to) {
        (IpAddr::V4(a), IpAddr::V4(f), IpAddr::V4(t)) => f <= a && a <= t,
        (IpAddr::V6(a), IpAddr::V6(f), IpAddr::V6(t)) => f <= a && a <= t,
        _ => false,
    }
}

impl fmt::Display for AddrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrSpec::Any => f.write_str("%any"),
            AddrSpec::AnyV4 => f.write_str("%any4"),
            AddrSpec::AnyV6 => f.write_str("%any6"),
            AddrSpec::Addr(a) => write!(f, "{a}"),
            AddrSpec::Subnet(n) => write!(f, "{n}"),
            AddrSpec::Range(a, b) => write!(f, "{a}-{b}"),
            AddrSpec::Fqdn(n) => f.write_str(n),
        }
    }
}

fn parse_range(s: &str) -> Option<Result<(IpAddr, IpAddr), String>> {
    let (a, b) = s.split_once('-')?;
    let (Ok(from), Ok(to)) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) else {
        return None;
    };
    Some(if from.is_ipv4() != to.is_ipv4() {
        Err(format!("range '{s}' mixes address families"))
    } else if !in_range(from, from, to) {
        Err(format!("range '{s}' ends before it starts"))
    } else {
        Ok((from, to))
    })
}

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .map_err(|_| format!("'{s}' is not a valid CIDR subnet"))
}

/// Whether `s` is a syntactically valid DNS name (letters, digits, hyphens
/// and underscores in dot-separated labels of at most 63 characters).
pub fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        // an all-numeric dotted string is a malformed address, not a name
        && !s.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// One `local_addrs`/`remote_addrs` item.
pub fn parse_addr(s: &str) -> Result<AddrSpec, String> {
    match s.to_ascii_lowercase().as_str() {
        "%any" => return Ok(AddrSpec::Any),
        "%any4" => return Ok(AddrSpec::AnyV4),
        "%any6" => return Ok(AddrSpec::AnyV6),
        _ => {}
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(AddrSpec::Addr(a));
    }
    if s.contains('/') {
        return parse_cidr(s).map(|n| AddrSpec::Subnet(n.trunc()));
    }
    if let Some(r) = parse_range(s) {
        return r.map(|(a, b)| AddrSpec::Range(a, b));
    }
    if is_dns_name(s) {
        return Ok(AddrSpec::Fqdn(s.to_string()));
    }
    Err(format!(
        "'{s}' is not an address, subnet, range, %any or DNS name"
    ))
}

/// Address part of a traffic selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TsAddr {
    /// `dynamic`: replaced by the outer (or virtual) address at negotiation.
    Dynamic,
    /// A subnet (a single address is a /32 or /128).
    Subnet(IpNet),
    /// An inclusive address range.
    Range(IpAddr, IpAddr),
}

/// Port part of a traffic selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// All ports (0-65535).
    Any,
    /// RFC 4301 OPAQUE (strongSwan encodes it as the range 65535-0).
    Opaque,
    /// An inclusive port range; a single port has `from == to`.
    Range(u16, u16),
}

/// One traffic selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficSelector {
    /// Addresses covered.
    pub addr: TsAddr,
    /// IP protocol number; 0 means any.
    pub protocol: u8,
    /// Ports covered.
    pub ports: Ports,
}

impl TrafficSelector {
    /// strongSwan's default selector: `dynamic` with any protocol and port.
    pub fn dynamic() -> Self {
        Self {
            addr: TsAddr::Dynamic,
            protocol: 0,
            ports: Ports::Any,
        }
    }
}

impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.addr {
            TsAddr::Dynamic => f.write_str("dynamic")?,
            TsAddr::Subnet(n) => write!(f, "{n}")?,
            TsAddr::Range(a, b) => write!(f, "{a}..{b}")?,
        }
        if self.protocol == 0 && self.ports == Ports::Any {
            return Ok(());
        }
        f.write_str("[")?;
        match protocol_name(self.protocol) {
            Some(name) => f.write_str(name)?,
            None => write!(f, "{}", self.protocol)?,
        }
        match self.ports {
            Ports::Any => {}
            Ports::Opaque => f.write_str("/OPAQUE")?,
            Ports::Range(a, b) if a == b => write!(f, "/{a}")?,
            Ports::Range(a, b) => write!(f, "/{a}-{b}")?,
        }
        f.write_str("]")
    }
}

/// `/etc/protocols` entries that matter for selectors (IANA numbers).
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipencap", 4),
    ("tcp", 6),
    ("udp", 17),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ospf", 89),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("udplite", 136),
    ("mpls-in-ip", 137),
];

/// `/etc/services` entries (any transport) commonly used in selectors,
/// including the overlay tunnels that OVS protects.
const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("ntp", 123),
    ("imap2", 143),
    ("snmp", 161),
    ("snmp-trap", 162),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("isakmp", 500),
    ("syslog", 514),
    ("ldaps", 636),
    ("openvpn", 1194),
    ("l2f", 1701),
    ("l2tp", 1701),
    ("radius", 1812),
    ("radius-acct", 1813),
    ("nfs", 2049),
    ("ipsec-nat-t", 4500),
    ("vxlan", 4789),
    ("geneve", 6081),
];

/// Name of an IP protocol number, as strongSwan prints selectors.
pub fn protocol_name(n: u8) -> Option<&'static str> {
    PROTOCOLS
        .iter()
        .find(|(_, p)| *p == n)
        .map(|(name, _)| *name)
}

fn protocol_by_name(s: &str) -> Option<u8> {
    let lower = s.to_ascii_lowercase();
    PROTOCOLS
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, p)| *p)
}

/// Port number of a service name from the built-in table.
pub fn service_port(s: &str) -> Option<u16> {
    let lower = s.to_ascii_lowercase();
    SERVICES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, p)| *p)
}

fn parse_port_number(s: &str) -> Result<u16, String> {
    let n = parse_u64(s).map_err(|_| format!("unknown port or service '{s}'"))?;
    u16::try_from(n).map_err(|_| format!("port '{s}' is out of range (0-65535)"))
}

fn parse_protoport(inner: &str) -> Result<(u8, Ports), String> {
    let (proto_text, port_text) = match inner.split_once('/') {
        Some((p, port)) => (p.trim(), port.trim()),
        None => (inner.trim(), ""),
    };
    let protocol = if proto_text.eq_ignore_ascii_case("any") || proto_text.is_empty() {
        0
    } else if let Some(p) = protocol_by_name(proto_text) {
        p
    } else {
        let n = parse_u64(proto_text).map_err(|_| format!("unknown protocol '{proto_text}'"))?;
        u8::try_from(n).map_err(|_| format!("protocol '{proto_text}' is out of range (0-255)"))?
    };
    let ports = if port_text.is_empty() || port_text.eq_ignore_ascii_case("any") {
        Ports::Any
    } else if port_text.eq_ignore_ascii_case("opaque") {
        Ports::Opaque
    } else if let Some(p) = service_port(port_text) {
        Ports::Range(p, p)
    } else if let Some((a, b)) = port_text.split_once('-') {
        let (from, to) = (parse_port_number(a.trim())?, parse_port_number(b.trim())?);
        if from > to {
            return Err(format!("port range '{port_text}' ends before it starts"));
        }
        Ports::Range(from, to)
    } else {
        let p = parse_port_number(port_text)?;
        Ports::Range(p, p)
    };
    Ok((protocol, ports))
}

/// One `local_ts`/`remote_ts` item.
pub fn parse_ts(s: &str) -> Result<TrafficSelector, String> {
    let (addr_text, protocol, ports) = match s.find('[') {
        Some(open) => {
            let close = s
                .rfind(']')
                .filter(|&c| c > open)
                .ok_or_else(|| format!("missing ']' in traffic selector '{s}'"))?;
            if !s[close + 1..].trim().is_empty() {
                return Err(format!("unexpected text after ']' in '{s}'"));
            }
            let (protocol, ports) = parse_protoport(&s[open + 1..close])?;
            (s[..open].trim(), protocol, ports)
        }
        None => (s.trim(), 0, Ports::Any),
    };
    let addr = if addr_text.eq_ignore_ascii_case("dynamic") {
        TsAddr::Dynamic
    } else if addr_text.eq_ignore_ascii_case("%any") {
        TsAddr::Subnet("0.0.0.0/0".parse().map_err(|_| "internal".to_string())?)
    } else if addr_text.eq_ignore_ascii_case("%any6") {
        TsAddr::Subnet("::/0".parse().map_err(|_| "internal".to_string())?)
    } else if let Some(r) = parse_range(addr_text) {
        let (a, b) = r?;
        TsAddr::Range(a, b)
    } else if addr_text.contains('/') {
        TsAddr::Subnet(parse_cidr(addr_text)?.trunc())
    } else if let Ok(a) = addr_text.parse::<IpAddr>() {
        TsAddr::Subnet(IpNet::from(a))
    } else {
        return Err(format!(
            "'{addr_text}' is not a subnet, address, range or 'dynamic'"
        ));
    };
    Ok(TrafficSelector {
        addr,
        protocol,
        ports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addrs() {
        assert_eq!(parse_addr("%any"), Ok(AddrSpec::Any));
        assert_eq!(parse_addr("%ANY6"), Ok(AddrSpec::AnyV6));
        assert_eq!(
            parse_addr("192.168.50.1"),
            Ok(AddrSpec::Addr("192.168.50.1".parse().unwrap()))
        );
        assert_eq!(
            parse_addr("10.1.2.3/8"),
            Ok(AddrSpec::Subnet("10.0.0.0/8".parse().unwrap()))
        );
        assert_eq!(
            parse_addr("0.0.0.0/0"),
            Ok(AddrSpec::Subnet("0.0.0.0/0".parse().unwrap()))
        );
        assert_eq!(
            parse_addr("10.0.0.1-10.0.0.9"),
            Ok(AddrSpec::Range(
                "10.0.0.1".parse().unwrap(),
                "10.0.0.9".parse().unwrap()
            ))
        );
        assert_eq!(
            parse_addr("vpn.example.org"),
            Ok(AddrSpec::Fqdn("vpn.example.org".into()))
        );
        assert_eq!(
            parse_addr("fe80::1"),
            Ok(AddrSpec::Addr("fe80::1".parse().unwrap()))
        );
        for bad in [
            "10.0.0.1/33",
            "1.2.3",
            "a b",
            "10.0.0.9-10.0.0.1",
            "10.0.0.1-::1",
            "-x",
        ] {
            assert!(parse_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addr_matching() {
        let net = parse_addr("10.0.0.0/8").unwrap();
        assert!(net.matches("10.9.9.9".parse().unwrap()));
        assert!(!net.matches("11.0.0.1".parse().unwrap()));
        assert!(AddrSpec::AnyV4.matches("1.2.3.4".parse().unwrap()));
        assert!(!AddrSpec::AnyV4.matches("::1".parse().unwrap()));
    }

    #[test]
    fn seed_selectors() {
        // From the BlueField guide's swanctl.conf: the host bits of the CIDR
        // are masked like traffic_selector_create_from_cidr() does.
        let ts = parse_ts("192.168.50.2/24 [udp/4789]").unwrap();
        assert_eq!(ts.addr, TsAddr::Subnet("192.168.50.0/24".parse().unwrap()));
        assert_eq!(ts.protocol, 17);
        assert_eq!(ts.ports, Ports::Range(4789, 4789));
        assert_eq!(ts.to_string(), "192.168.50.0/24[udp/4789]");
        let ts = parse_ts("192.168.50.1/24 [udp]").unwrap();
        assert_eq!(ts.ports, Ports::Any);
        assert_eq!(ts.to_string(), "192.168.50.0/24[udp]");
    }

    #[test]
    fn selector_forms() {
        assert_eq!(parse_ts("dynamic").unwrap(), TrafficSelector::dynamic());
        assert_eq!(
            parse_ts("dynamic[tcp/ssh]").unwrap().ports,
            Ports::Range(22, 22)
        );
        assert_eq!(
            parse_ts("0.0.0.0/0[udp/vxlan]").unwrap().ports,
            Ports::Range(4789, 4789)
        );
        assert_eq!(parse_ts("10.0.0.1").unwrap().to_string(), "10.0.0.1/32");
        assert_eq!(
            parse_ts("10.0.0.0/8[tcp/1000-2000]").unwrap().ports,
            Ports::Range(1000, 2000)
        );
        assert_eq!(parse_ts("::/0[udp/opaque]").unwrap().ports, Ports::Opaque);
        assert_eq!(parse_ts("10.0.0.0/8[47]").unwrap().protocol, 47);
        assert_eq!(
            parse_ts("10.0.0.0/8[gre]").unwrap().to_string(),
            "10.0.0.0/8[gre]"
        );
        assert_eq!(parse_ts("10.0.0.1-10.0.0.5[any]").unwrap().protocol, 0);
        assert_eq!(
            parse_ts("%any[udp/4789]").unwrap().addr,
            TsAddr::Subnet("0.0.0.0/0".parse().unwrap())
        );
        for bad in [
            "10.0.0.0/8[udp",
            "10.0.0.0/8[nope]",
            "10.0.0.0/8[udp/nosuchservice]",
            "10.0.0.0/8[udp/70000]",
            "10.0.0.0/8[udp/2000-1000]",
            "10.0.0.0/8[256]",
            "host.example",
            "10.0.0.0/8[udp]x",
        ] {
            assert!(parse_ts(bad).is_err(), "{bad}");
        }
    }
}
