//! Identification payloads IDi/IDr (RFC 7296 section 3.5).
//!
//! Contract: the owned [`Identification`] keeps the ID type, the three reserved octets and the
//! raw data (the exact bytes AUTH is computed over). [`Identification::view`] gives a typed,
//! validated view; a malformed address or non-UTF-8 name is reported there, not at decode time,
//! because an unusual ID is the engine's (AUTHENTICATION_FAILED) decision, not a syntax error.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::codes::IdType;

/// The body of an IDi or IDr payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    pub id_type: IdType,
    pub data: Vec<u8>,
    /// The three reserved octets after the ID type.
    pub reserved: [u8; 3],
}

/// A typed view of an identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdView<'a> {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Fqdn(&'a str),
    Rfc822(&'a str),
    /// DER encoding of an X.501 distinguished name.
    DerAsn1Dn(&'a [u8]),
    /// DER encoding of an X.509 GeneralName.
    DerAsn1Gn(&'a [u8]),
    /// Opaque octets.
    KeyId(&'a [u8]),
    /// RFC 7619 NULL authentication identity (no data).
    Null,
    /// An ID type without a typed view, or one whose data does not fit its type.
    Other(IdType, &'a [u8]),
}

impl Identification {
    pub fn new(id_type: IdType, data: Vec<u8>) -> Self {
        Self {
            id_type,
            data,
            reserved: [0; 3],
        }
    }

    /// strongSwan encodes a bare name such as `host1` as an FQDN identity.
    pub fn fqdn(name: &str) -> Self {
        Self::new(IdType::ID_FQDN, name.as_bytes().to_vec())
    }

    pub fn rfc822(address: &str) -> Self {
        Self::new(IdType::ID_RFC822_ADDR, address.as_bytes().to_vec())
    }

    pub fn ipv4(address: Ipv4Addr) -> Self {
        Self::new(IdType::ID_IPV4_ADDR, address.octets().to_vec())
    }

    pub fn ipv6(address: Ipv6Addr) -> Self {
        Self::new(IdType::ID_IPV6_ADDR, address.octets().to_vec())
    }

    pub fn der_asn1_dn(der: Vec<u8>) -> Self {
        Self::new(IdType::ID_DER_ASN1_DN, der)
    }

    pub fn key_id(key_id: Vec<u8>) -> Self {
        Self::new(IdType::ID_KEY_ID, key_id)
    }

    /// The typed view; data that does not fit its type comes back as [`IdView::Other`].
    pub fn view(&self) -> IdView<'_> {
        let data = self.data.as_slice();
        match self.id_type {
            IdType::ID_IPV4_ADDR => match <[u8; 4]>::try_from(data) {
                Ok(octets) => IdView::Ipv4(Ipv4Addr::from(octets)),
                Err(_) => IdView::Other(self.id_type, data),
            },
            IdType::ID_IPV6_ADDR => match <[u8; 16]>::try_from(data) {
                Ok(octets) => IdView::Ipv6(Ipv6Addr::from(octets)),
                Err(_) => IdView::Other(self.id_type, data),
            },
            IdType::ID_FQDN => match core::str::from_utf8(data) {
                Ok(name) => IdView::Fqdn(name),
                Err(_) => IdView::Other(self.id_type, data),
            },
            IdType::ID_RFC822_ADDR => match core::str::from_utf8(data) {
                Ok(name) => IdView::Rfc822(name),
                Err(_) => IdView::Other(self.id_type, data),
            },
            IdType::ID_DER_ASN1_DN => IdView::DerAsn1Dn(data),
            IdType::ID_DER_ASN1_GN => IdView::DerAsn1Gn(data),
            IdType::ID_KEY_ID => IdView::KeyId(data),
            IdType::ID_NULL if data.is_empty() => IdView::Null,
            _ => IdView::Other(self.id_type, data),
        }
    }

    /// The bytes AUTH covers as "RestOfIDPayload" (RFC 7296 section 2.15): type, reserved, data.
    pub fn rest_of_id_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len().saturating_add(4));
        out.push(self.id_type.0);
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&self.data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_views_follow_the_id_type() {
        assert_eq!(Identification::fqdn("host1").view(), IdView::Fqdn("host1"));
        assert_eq!(
            Identification::ipv4(Ipv4Addr::new(192, 168, 50, 1)).view(),
            IdView::Ipv4(Ipv4Addr::new(192, 168, 50, 1))
        );
        let short = Identification::new(IdType::ID_IPV4_ADDR, vec![1, 2, 3]);
        assert_eq!(
            short.view(),
            IdView::Other(IdType::ID_IPV4_ADDR, &[1, 2, 3])
        );
        let bad_utf8 = Identification::new(IdType::ID_FQDN, vec![0xff]);
        assert!(matches!(bad_utf8.view(), IdView::Other(..)));
        assert_eq!(
            Identification::fqdn("a").rest_of_id_payload(),
            vec![2, 0, 0, 0, b'a']
        );
    }
}
