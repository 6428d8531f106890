//! IKE identities in strongSwan's string syntax
//! (`identification_create_from_string`, swanctl.conf(5) `local.id`).
//!
//! Contract: [`parse_identity`] returns the identity strongSwan would build:
//! - `%any`, `%any6`, `*`, `0.0.0.0`, `::` and the empty string are "any";
//! - an explicit type prefix `type:value` (`ipv4`, `ipv6`, `rfc822`,
//!   `email`, `userfqdn`, `fqdn`, `dns`, `asn1dn`, `asn1gn`, `keyid`, or a
//!   numeric `{n}`) uses the value verbatim, or hex-decoded after `#`;
//! - otherwise the type is detected: text with `=` is a Distinguished Name
//!   (`C=CH, O=strongSwan, CN=host`), an IP address, subnet or range is an
//!   address identity, `@#hex` is a key ID, `@name` forces an FQDN,
//!   `@@user@host` forces an email, `user@host` is an email, anything else
//!   is an FQDN (so the seed's `id = host1` is `FQDN host1`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// IKEv2 ID types (RFC 7296 section 3.5).
pub use iked_crypto::x509::id_type;

/// One relative distinguished name component, e.g. `CN=host1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rdn {
    /// Attribute name as written, upper-cased for known short names
    /// (`C`, `ST`, `L`, `O`, `OU`, `CN`, `E`, `DC`, `SN`, `UID`, ...), or a
    /// dotted OID.
    pub attr: String,
    /// Attribute value, surrounding blanks removed.
    pub value: String,
}

/// An IKE identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// Matches any identity (`%any`).
    Any,
    /// ID_IPV4_ADDR.
    Ipv4(Ipv4Addr),
    /// ID_IPV6_ADDR.
    Ipv6(Ipv6Addr),
    /// An address subnet (strongSwan's ID_IPV4_ADDR_SUBNET family).
    Subnet(IpNet),
    /// An address range (ID_IPV4_ADDR_RANGE family).
    Range(IpAddr, IpAddr),
    /// ID_FQDN.
    Fqdn(String),
    /// ID_RFC822_ADDR.
    Email(String),
    /// ID_DER_ASN1_DN, as its RDN sequence.
    Dn(Vec<Rdn>),
    /// ID_KEY_ID.
    KeyId(Vec<u8>),
    /// An explicitly typed identity whose data is used verbatim.
    Raw {
        /// IKEv2 ID type number.
        id_type: u8,
        /// Identification data as sent on the wire.
        data: Vec<u8>,
    },
}

impl Identity {
    /// Whether this identity is the wildcard.
    pub fn is_any(&self) -> bool {
        matches!(self, Identity::Any)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Any => f.write_str("%any"),
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Subnet(n) => write!(f, "{n}"),
            Identity::Range(a, b) => write!(f, "{a}-{b}"),
            Identity::Fqdn(s) | Identity::Email(s) => f.write_str(s),
            Identity::Dn(rdns) => {
                for (i, r) in rdns.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}={}", r.attr, r.value)?;
                }
                Ok(())
            }
            Identity::KeyId(k) => write!(f, "@#{}", hex::encode(k)),
            Identity::Raw { id_type, data } => match std::str::from_utf8(data) {
                Ok(s) if s.chars().all(|c| !c.is_control()) => write!(f, "{{{id_type}}}:{s}"),
                _ => write!(f, "{{{id_type}}}:#{}", hex::encode(data)),
            },
        }
    }
}

/// Short attribute names strongSwan's `atodn` knows (plus common aliases).
const DN_ATTRS: &[&str] = &[
    "C",
    "ST",
    "L",
    "O",
    "OU",
    "CN",
    "E",
    "EMAIL",
    "EMAILADDRESS",
    "DC",
    "SN",
    "SERIALNUMBER",
    "UID",
    "T",
    "TITLE",
    "G",
    "GN",
    "I",
    "INITIALS",
    "D",
    "DESCRIPTION",
    "N",
    "NAME",
    "DNQ",
    "DNQUALIFIER",
    "ID",
    "UN",
    "UNSTRUCTUREDNAME",
    "TCGID",
    "STREET",
    "POSTALCODE",
    "PSEUDONYM",
];

fn parse_dn(s: &str) -> Result<Vec<Rdn>, String> {
    // LDAP style "C=CH, O=x" or OpenSSL style "/C=CH/O=x".
    let (sep, body) = match s.strip_prefix('/') {
        Some(rest) => ('/', rest),
        None => (',', s),
    };
    let mut rdns = Vec::new();
    for part in body.split(sep) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (attr, value) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}' is not an ATTR=value pair"))?;
        let attr = attr.trim();
        let upper = attr.to_ascii_uppercase();
        let is_oid = !attr.is_empty()
            && attr
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !DN_ATTRS.contains(&upper.as_str()) && !is_oid {
            return Err(format!("unknown DN attribute '{attr}'"));
        }
        rdns.push(Rdn {
            attr: if is_oid { attr.to_string() } else { upper },
            value: value.trim().to_string(),
        });
    }
    if rdns.is_empty() {
        return Err(format!("'{s}' is an empty Distinguished Name"));
    }
    Ok(rdns)
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|_| format!("'#{s}' is not valid hex"))
}

/// Parses one identity.
pub fn parse_identity(s: &str) -> Result<Identity, String> {
    if let Some(id) = with_prefix(s)? {
        return Ok(id);
    }
    if matches!(s, "" | "%any" | "%any6" | "*" | "0.0.0.0" | "::" | "0::0") {
        return Ok(Identity::Any);
    }
    if s.contains('=') {
        return parse_dn(s).map(Identity::Dn);
    }
    if !s.contains('@') {
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(match a {
                IpAddr::V4(a) => Identity::Ipv4(a),
                IpAddr::V6(a) => Identity::Ipv6(a),
            });
        }
        if s.contains('/')
            && let Ok(n) = s.parse::<IpNet>()
        {
            return Ok(Identity::Subnet(n.trunc()));
        }
        if let Some((a, b)) = s.split_once('-')
            && let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>())
            && a.is_ipv4() == b.is_ipv4()
        {
            return Ok(Identity::Range(a, b));
        }
        return Ok(Identity::Fqdn(s.to_string()));
    }
    if let Some(rest) = s.strip_prefix('@') {
        if let Some(hex) = rest.strip_prefix('#') {
            return decode_hex(hex).map(Identity::KeyId);
        }
        if let Some(email) = rest.strip_prefix('@') {
            return Ok(Identity::Email(email.to_string()));
        }
        return Ok(Identity::Fqdn(rest.to_string()));
    }
    Ok(Identity::Email(s.to_string()))
}

/// `type:value` with an explicit type; `None` if `s` has no known prefix.
fn with_prefix(s: &str) -> Result<Option<Identity>, String> {
    let Some((prefix, value)) = s.split_once(':') else {
        return Ok(None);
    };
    let id_type = match prefix.to_ascii_lowercase().as_str() {
        "ipv4" => id_type::IPV4_ADDR,
        "ipv6" => id_type::IPV6_ADDR,
        "rfc822" | "email" | "userfqdn" => id_type::RFC822_ADDR,
        "fqdn" | "dns" => id_type::FQDN,
        "asn1dn" => id_type::DER_ASN1_DN,
        "asn1gn" => id_type::DER_ASN1_GN,
        "keyid" => id_type::KEY_ID,
        p if p.len() > 2 && p.starts_with('{') && p.ends_with('}') => {
            let n: u8 = p[1..p.len() - 1]
                .parse()
                .map_err(|_| format!("invalid identity type '{prefix}'"))?;
            n
        }
        // Not a type prefix (an IPv6 address, or a name with a colon).
        _ => return Ok(None),
    };
    let data = match value.strip_prefix('#') {
        Some(hex) => decode_hex(hex)?,
        None => value.as_bytes().to_vec(),
    };
    let text = String::from_utf8(data.clone()).ok();
    Ok(Some(match (id_type, text) {
        (id_type::FQDN, Some(t)) => Identity::Fqdn(t),
        (id_type::RFC822_ADDR, Some(t)) => Identity::Email(t),
        (id_type::KEY_ID, _) => Identity::KeyId(data),
        (id_type::IPV4_ADDR, _) if data.len() == 4 && value.starts_with('#') => {
            let octets: [u8; 4] = data.as_slice().try_into().unwrap_or_default();
            Identity::Ipv4(Ipv4Addr::from(octets))
        }
        (id_type::IPV6_ADDR, _) if data.len() == 16 && value.starts_with('#') => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&data);
            Identity::Ipv6(Ipv6Addr::from(b))
        }
        _ => Identity::Raw { id_type, data },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        assert_eq!(parse_identity("host1"), Ok(Identity::Fqdn("host1".into())));
        assert_eq!(parse_identity("%any"), Ok(Identity::Any));
        assert_eq!(parse_identity(""), Ok(Identity::Any));
        assert_eq!(
            parse_identity("192.168.50.1"),
            Ok(Identity::Ipv4("192.168.50.1".parse().unwrap()))
        );
        assert_eq!(
            parse_identity("2001:db8::1"),
            Ok(Identity::Ipv6("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            parse_identity("alice@example.org"),
            Ok(Identity::Email("alice@example.org".into()))
        );
        assert_eq!(
            parse_identity("@vpn.example.org"),
            Ok(Identity::Fqdn("vpn.example.org".into()))
        );
        assert_eq!(
            parse_identity("@@bob@example.org"),
            Ok(Identity::Email("bob@example.org".into()))
        );
        assert_eq!(parse_identity("@#0a0b"), Ok(Identity::KeyId(vec![10, 11])));
        assert_eq!(
            parse_identity("10.1.0.0/16"),
            Ok(Identity::Subnet("10.1.0.0/16".parse().unwrap()))
        );
    }

    #[test]
    fn distinguished_names() {
        let id = parse_identity("C=CH, O=strongSwan, CN=host1").unwrap();
        assert_eq!(id.to_string(), "C=CH, O=strongSwan, CN=host1");
        let Identity::Dn(rdns) = &id else {
            panic!("not a DN: {id:?}")
        };
        assert_eq!(rdns.len(), 3);
        assert_eq!(
            rdns[2],
            Rdn {
                attr: "CN".into(),
                value: "host1".into()
            }
        );
        assert_eq!(
            parse_identity("/C=US/cn=x").unwrap().to_string(),
            "C=US, CN=x"
        );
        assert!(parse_identity("C=CH, bogus=1").is_err());
        assert!(parse_identity("C=CH, novalue").is_err());
        assert!(parse_identity("2.5.4.3=x").is_ok());
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_identity("fqdn:host1"),
            Ok(Identity::Fqdn("host1".into()))
        );
        assert_eq!(
            parse_identity("email:a@b"),
            Ok(Identity::Email("a@b".into()))
        );
        assert_eq!(
            parse_identity("ipv4:#0a000001"),
            Ok(Identity::Ipv4("10.0.0.1".parse().unwrap()))
        );
        // strongSwan uses the text verbatim: not a valid binary IPv4 ID.
        assert_eq!(
            parse_identity("ipv4:10.0.0.1"),
            Ok(Identity::Raw {
                id_type: 1,
                data: b"10.0.0.1".to_vec()
            })
        );
        assert_eq!(
            parse_identity("{200}:abc"),
            Ok(Identity::Raw {
                id_type: 200,
                data: b"abc".to_vec()
            })
        );
        assert_eq!(parse_identity("keyid:#ff"), Ok(Identity::KeyId(vec![255])));
        assert!(parse_identity("keyid:#zz").is_err());
        assert!(parse_identity("{999}:x").is_err());
    }
}
