//! IKEv2 messages at the byte level (RFC 7296 section 3), written here rather than with the
//! production codec (`iked_ike::wire`) so that every length, count, type and flag can be set
//! to a value that codec would refuse to produce. Nothing here validates: a builder writes
//! what it is given, and the parser of answers is lenient (it stops at the first payload that
//! does not fit and reports how far it got).
//!
//! The code points are `iked_ike::wire`'s (one vocabulary for the daemon and its hostile
//! peer); the short modules below only give them as the raw integers a byte-level builder
//! writes and compares, since a hostile message may carry any value in any field. A wrong
//! code point in `wire` cannot hide behind this: `ike/tests/strongswan_kat.rs` decodes
//! charon's own captures with it, and the hostile tier runs against the real daemon.

use iked_ike::wire::codes::{encr, integ, ke, prf};
use iked_ike::wire::{ExchangeType, Flags, NotifyType, PayloadType, TransformType};

/// Payload types (RFC 7296 3.2, RFC 7383 2.5), as the octet the builder writes.
pub mod pt {
    use super::PayloadType as P;
    pub const NONE: u8 = P::NONE.0;
    pub const SA: u8 = P::SECURITY_ASSOCIATION.0;
    pub const KE: u8 = P::KEY_EXCHANGE.0;
    pub const IDI: u8 = P::ID_INITIATOR.0;
    pub const IDR: u8 = P::ID_RESPONDER.0;
    pub const CERT: u8 = P::CERTIFICATE.0;
    pub const CERTREQ: u8 = P::CERTIFICATE_REQUEST.0;
    pub const AUTH: u8 = P::AUTHENTICATION.0;
    pub const NONCE: u8 = P::NONCE.0;
    pub const N: u8 = P::NOTIFY.0;
    pub const D: u8 = P::DELETE.0;
    pub const V: u8 = P::VENDOR_ID.0;
    pub const TSI: u8 = P::TS_INITIATOR.0;
    pub const TSR: u8 = P::TS_RESPONDER.0;
    pub const SK: u8 = P::ENCRYPTED.0;
    pub const CP: u8 = P::CONFIGURATION.0;
    pub const EAP: u8 = P::EAP.0;
    pub const SKF: u8 = P::ENCRYPTED_FRAGMENT.0;
}

/// Exchange types (RFC 7296 3.1), as the header octet.
pub mod ex {
    use super::ExchangeType as E;
    pub const IKE_SA_INIT: u8 = E::IKE_SA_INIT.0;
    pub const IKE_AUTH: u8 = E::IKE_AUTH.0;
    pub const CREATE_CHILD_SA: u8 = E::CREATE_CHILD_SA.0;
    pub const INFORMATIONAL: u8 = E::INFORMATIONAL.0;
}

/// Header flags (RFC 7296 3.1).
pub mod flag {
    use super::Flags as F;
    pub const INITIATOR: u8 = F::INITIATOR;
    pub const VERSION: u8 = F::VERSION;
    pub const RESPONSE: u8 = F::RESPONSE;
}

/// Notify message types (RFC 7296 3.10.1, RFC 7383), as the 16-bit field.
pub mod nt {
    use super::NotifyType as N;
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: u16 = N::UNSUPPORTED_CRITICAL_PAYLOAD.0;
    pub const INVALID_IKE_SPI: u16 = N::INVALID_IKE_SPI.0;
    pub const INVALID_MAJOR_VERSION: u16 = N::INVALID_MAJOR_VERSION.0;
    pub const INVALID_SYNTAX: u16 = N::INVALID_SYNTAX.0;
    pub const INVALID_MESSAGE_ID: u16 = N::INVALID_MESSAGE_ID.0;
    pub const INVALID_SPI: u16 = N::INVALID_SPI.0;
    pub const NO_PROPOSAL_CHOSEN: u16 = N::NO_PROPOSAL_CHOSEN.0;
    pub const INVALID_KE_PAYLOAD: u16 = N::INVALID_KE_PAYLOAD.0;
    pub const AUTHENTICATION_FAILED: u16 = N::AUTHENTICATION_FAILED.0;
    pub const SINGLE_PAIR_REQUIRED: u16 = N::SINGLE_PAIR_REQUIRED.0;
    pub const NO_ADDITIONAL_SAS: u16 = N::NO_ADDITIONAL_SAS.0;
    pub const TS_UNACCEPTABLE: u16 = N::TS_UNACCEPTABLE.0;
    pub const TEMPORARY_FAILURE: u16 = N::TEMPORARY_FAILURE.0;
    pub const CHILD_SA_NOT_FOUND: u16 = N::CHILD_SA_NOT_FOUND.0;
    pub const INITIAL_CONTACT: u16 = N::INITIAL_CONTACT.0;
    pub const NAT_DETECTION_SOURCE_IP: u16 = N::NAT_DETECTION_SOURCE_IP.0;
    pub const NAT_DETECTION_DESTINATION_IP: u16 = N::NAT_DETECTION_DESTINATION_IP.0;
    pub const COOKIE: u16 = N::COOKIE.0;
    pub const USE_TRANSPORT_MODE: u16 = N::USE_TRANSPORT_MODE.0;
    pub const REKEY_SA: u16 = N::REKEY_SA.0;
    pub const FRAGMENTATION_SUPPORTED: u16 = N::IKEV2_FRAGMENTATION_SUPPORTED.0;

    /// Error types are below 16384 (RFC 7296 3.10.1).
    pub fn is_error(t: u16) -> bool {
        N(t).is_error()
    }

    /// A short name for reports: the error types by their IANA name, anything else `N(n)`.
    pub fn name(t: u16) -> String {
        match N(t).name() {
            Some(name) if N(t).is_error() || t == COOKIE => name.to_string(),
            _ => format!("N({t})"),
        }
    }
}

/// Transform types and ids used by the peer (RFC 7296 3.3.2, IANA).
pub mod tf {
    use super::{TransformType as T, encr, integ, ke, prf};
    pub const ENCR: u8 = T::ENCR.0;
    pub const PRF: u8 = T::PRF.0;
    pub const INTEG: u8 = T::INTEG.0;
    pub const DH: u8 = T::KE.0;
    pub const ESN: u8 = T::ESN.0;
    pub const ENCR_AES_CBC: u16 = encr::AES_CBC.0;
    pub const ENCR_AES_GCM_16: u16 = encr::AES_GCM_16.0;
    pub const PRF_HMAC_SHA2_256: u16 = prf::HMAC_SHA2_256.0;
    pub const AUTH_HMAC_SHA2_256_128: u16 = integ::HMAC_SHA2_256_128.0;
    pub const DH_MODP_2048: u16 = ke::MODP_2048.0;
    pub const DH_ECP_256: u16 = ke::ECP_256.0;
    pub const DH_CURVE25519: u16 = ke::CURVE_25519.0;
}

/// The fixed IKE header (28 bytes). `length: None` writes the real total.
#[derive(Clone, Debug)]
pub struct Header {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    /// `None`: the type of the first payload.
    pub next: Option<u8>,
    /// Major version in the high nibble, minor in the low.
    pub version: u8,
    pub exchange: u8,
    pub flags: u8,
    pub mid: u32,
    pub length: Option<u32>,
}

impl Header {
    /// A request header as an original initiator sends it.
    pub fn request(spi_i: [u8; 8], spi_r: [u8; 8], exchange: u8, mid: u32) -> Self {
        Self {
            spi_i,
            spi_r,
            next: None,
            version: 0x20,
            exchange,
            flags: flag::INITIATOR,
            mid,
            length: None,
        }
    }

    /// The 28 header bytes for a message of `total` bytes whose first payload is `first`.
    pub fn bytes(&self, first: u8, total: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(28);
        out.extend_from_slice(&self.spi_i);
        out.extend_from_slice(&self.spi_r);
        out.push(self.next.unwrap_or(first));
        out.push(self.version);
        out.push(self.exchange);
        out.push(self.flags);
        out.extend_from_slice(&self.mid.to_be_bytes());
        let len = self.length.unwrap_or(total as u32);
        out.extend_from_slice(&len.to_be_bytes());
        out
    }
}

/// One payload: type, critical bit and body, with optional overrides of the generic header's
/// Next Payload and Payload Length fields.
#[derive(Clone, Debug)]
pub struct Payload {
    pub kind: u8,
    pub critical: bool,
    pub body: Vec<u8>,
    pub next: Option<u8>,
    pub length: Option<u16>,
}

impl Payload {
    pub fn new(kind: u8, body: Vec<u8>) -> Self {
        Self {
            kind,
            critical: false,
            body,
            next: None,
            length: None,
        }
    }

    pub fn critical(mut self) -> Self {
        self.critical = true;
        self
    }

    pub fn with_next(mut self, next: u8) -> Self {
        self.next = Some(next);
        self
    }

    pub fn with_length(mut self, length: u16) -> Self {
        self.length = Some(length);
        self
    }
}

/// A payload chain: the first payload's type and the bytes of all generic headers and bodies.
pub fn chain(payloads: &[Payload]) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let next = p
            .next
            .unwrap_or_else(|| payloads.get(i + 1).map_or(pt::NONE, |n| n.kind));
        out.push(next);
        out.push(if p.critical { 0x80 } else { 0 });
        let len = p.length.unwrap_or((p.body.len() + 4) as u16);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&p.body);
    }
    (payloads.first().map_or(pt::NONE, |p| p.kind), out)
}

/// A whole unencrypted message.
pub fn message(h: &Header, payloads: &[Payload]) -> Vec<u8> {
    let (first, body) = chain(payloads);
    let mut out = h.bytes(first, 28 + body.len());
    out.extend_from_slice(&body);
    out
}

/// One transform: (type, id, key length attribute in bits).
pub type Tf = (u8, u16, Option<u16>);

/// Transform substructure (RFC 7296 3.3.2).
pub fn transform(t: &Tf, last: bool) -> Vec<u8> {
    let mut out = vec![if last { 0 } else { 3 }, 0, 0, 0, t.0, 0];
    out.extend_from_slice(&t.1.to_be_bytes());
    if let Some(bits) = t.2 {
        // TV attribute 14 (Key Length) with the AF bit set.
        out.extend_from_slice(&[0x80, 14]);
        out.extend_from_slice(&bits.to_be_bytes());
    }
    let len = out.len() as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Proposal substructure (RFC 7296 3.3.1).
pub fn proposal(num: u8, proto: u8, spi: &[u8], transforms: &[Tf], last: bool) -> Vec<u8> {
    let mut out = vec![if last { 0 } else { 2 }, 0, 0, 0, num, proto];
    out.push(spi.len() as u8);
    out.push(transforms.len() as u8);
    out.extend_from_slice(spi);
    for (i, t) in transforms.iter().enumerate() {
        out.extend_from_slice(&transform(t, i + 1 == transforms.len()));
    }
    let len = out.len() as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out
}

pub fn ke_body(group: u16, data: &[u8]) -> Vec<u8> {
    let mut out = group.to_be_bytes().to_vec();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(data);
    out
}

/// ID (and AUTH: method instead of type) body: one type octet, three reserved, data.
pub fn typed_body(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![kind, 0, 0, 0];
    out.extend_from_slice(data);
    out
}

pub fn notify_body(proto: u8, spi: &[u8], kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = vec![proto, spi.len() as u8];
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(spi);
    out.extend_from_slice(data);
    out
}

pub fn notify(kind: u16, data: &[u8]) -> Payload {
    Payload::new(pt::N, notify_body(0, &[], kind, data))
}

pub fn delete_body(proto: u8, spi_size: u8, count: u16, spis: &[u8]) -> Vec<u8> {
    let mut out = vec![proto, spi_size];
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(spis);
    out
}

/// One IPv4 traffic selector (RFC 7296 3.13.1), all ports of `proto` (0 = any).
pub fn ts4(proto: u8, start: [u8; 4], end: [u8; 4]) -> Vec<u8> {
    let mut out = vec![7, proto, 0, 16, 0, 0, 0xff, 0xff];
    out.extend_from_slice(&start);
    out.extend_from_slice(&end);
    out
}

/// A TS payload body: count, three reserved octets, the selectors.
pub fn ts_body(count: u8, selectors: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![count, 0, 0, 0];
    for s in selectors {
        out.extend_from_slice(s);
    }
    out
}

/// A received message: header fields and the (possibly decrypted) payloads it carried.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub version: u8,
    pub exchange: u8,
    pub flags: u8,
    pub mid: u32,
    /// Each payload as (type, body).
    pub payloads: Vec<(u8, Vec<u8>)>,
    /// True when the payloads came out of an SK payload.
    pub protected: bool,
    /// Set when the SK payload could not be decrypted (payloads then holds it still sealed).
    pub undecryptable: bool,
    /// The datagram as received.
    pub bytes: Vec<u8>,
}

impl Parsed {
    pub fn is_response(&self) -> bool {
        self.flags & flag::RESPONSE != 0
    }

    /// Notify types carried.
    pub fn notifies(&self) -> Vec<u16> {
        self.payloads
            .iter()
            .filter(|(t, _)| *t == pt::N)
            .filter_map(|(_, b)| b.get(2..4).map(|x| u16::from_be_bytes([x[0], x[1]])))
            .collect()
    }

    /// The data of the first notify of `kind`.
    pub fn notify_data(&self, kind: u16) -> Option<Vec<u8>> {
        self.payloads
            .iter()
            .filter(|(t, _)| *t == pt::N)
            .find_map(|(_, b)| {
                let t = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
                let spi = usize::from(*b.get(1)?);
                (t == kind).then(|| b.get(4 + spi..).unwrap_or_default().to_vec())
            })
    }

    pub fn payload(&self, kind: u8) -> Option<&[u8]> {
        self.payloads
            .iter()
            .find(|(t, _)| *t == kind)
            .map(|(_, b)| b.as_slice())
    }

    pub fn has(&self, kind: u8) -> bool {
        self.payload(kind).is_some()
    }

    /// One line for reports: exchange, flags, id and payload types.
    pub fn summary(&self) -> String {
        let kinds: Vec<String> = self
            .payloads
            .iter()
            .map(|(t, b)| {
                if *t == pt::N {
                    let n = b.get(2..4).map_or(0, |x| u16::from_be_bytes([x[0], x[1]]));
                    format!("N({})", nt::name(n))
                } else {
                    t.to_string()
                }
            })
            .collect();
        format!(
            "exchange {} mid {} {}{} [{}]",
            self.exchange,
            self.mid,
            if self.is_response() {
                "response"
            } else {
                "request"
            },
            if self.protected { " protected" } else { "" },
            kinds.join(" ")
        )
    }
}

/// Errors of the lenient parser.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    #[error("shorter than an IKE header")]
    Short,
    #[error("payload chain malformed at offset {0}")]
    Chain(usize),
}

/// The still-sealed SK or SKF payload of a received message.
#[derive(Clone, Debug, Default)]
pub struct Sealed {
    /// SK or SKF.
    pub kind: u8,
    /// The Next Payload field of its generic header (the first inner payload's type).
    pub inner_first: u8,
    /// Offset of its body in the message: everything before is the AEAD's associated data.
    pub body_at: usize,
}

/// Header and top-level payload chain of a message (no decryption); an SK/SKF payload ends
/// the chain and is described in the second value.
pub fn parse(bytes: &[u8]) -> Result<(Parsed, Option<Sealed>), ParseError> {
    let head = bytes.get(..28).ok_or(ParseError::Short)?;
    let mut p = Parsed::default();
    p.spi_i.copy_from_slice(&head[..8]);
    p.spi_r.copy_from_slice(&head[8..16]);
    p.version = head[17];
    p.exchange = head[18];
    p.flags = head[19];
    p.mid = u32::from_be_bytes([head[20], head[21], head[22], head[23]]);
    let (payloads, sealed) = parse_chain(head[16], bytes.get(28..).unwrap_or_default(), 28)?;
    p.payloads = payloads;
    p.bytes = bytes.to_vec();
    Ok((p, sealed))
}

/// Payloads as (type, body), and the SK/SKF payload that ended the chain, if any.
pub type Chain = (Vec<(u8, Vec<u8>)>, Option<Sealed>);

/// A payload chain starting with type `next`; `base` is its offset in the message.
pub fn parse_chain(mut next: u8, bytes: &[u8], base: usize) -> Result<Chain, ParseError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while next != pt::NONE {
        let gh = bytes.get(at..at + 4).ok_or(ParseError::Chain(base + at))?;
        let len = usize::from(u16::from_be_bytes([gh[2], gh[3]]));
        if len < 4 {
            return Err(ParseError::Chain(base + at));
        }
        let body = bytes
            .get(at + 4..at + len)
            .ok_or(ParseError::Chain(base + at))?;
        if next == pt::SK || next == pt::SKF {
            // Always the last payload: what follows its header is encrypted.
            return Ok((
                out,
                Some(Sealed {
                    kind: next,
                    inner_first: gh[0],
                    body_at: base + at + 4,
                }),
            ));
        }
        out.push((next, body.to_vec()));
        next = gh[0];
        at += len;
    }
    Ok((out, None))
}
