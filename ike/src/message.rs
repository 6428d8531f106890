//! The engine's view of a message, on top of the `wire` codec, and the SK/SKF protection.
//!
//! Contract: [`Message`] is a decoded IKEv2 message with its payloads in order (the contents of
//! an SK payload are listed as plain payloads after decryption). Its code points are `wire`'s
//! typed ones ([`ExchangeType`], [`NotifyType`], [`PayloadType`], [`ProtocolId`], the bits of
//! [`Flags`]); all byte parsing and encoding is `crate::wire`'s. This module runs the SK/SKF
//! sealing and opening through `crate::suite`:
//! - [`decode_datagram`] parses a datagram and, for protected messages, verifies and decrypts
//!   it; an SKF fragment (RFC 7383) comes back as a verified, decrypted [`Fragment`] for the
//!   engine's reassembly, which then calls [`assemble`]. [`decode`] is the unfragmented case.
//! - [`encode`] writes a message, sealing its payloads into one SK payload when given keys;
//!   [`inner_plaintext`] and [`seal`] are the pieces for sending SKF fragments.
//! - Decoding never panics and never trusts a length field (the `wire` contract); on top of
//!   `wire` it refuses what the engine cannot represent (non-IP traffic selectors, nonces
//!   outside 16..=256 octets). Unknown non-critical payloads are kept as [`Payload::Unknown`];
//!   an unknown critical one is [`DecodeError::UnsupportedCritical`].
//!
//! Why [`Payload`] is not `wire::Payload`: `wire` keeps what a message must round-trip
//! (critical bits, reserved octets, every transform attribute, non-IP selectors, the SK
//! envelope), the engine needs the meaning: the payloads it acts on as its own types
//! ([`Proposal`], [`TrafficSelector`], [`Identity`]) with what it cannot act on refused once,
//! here, at decoding. The crossings of those body types live beside them (`proposal.rs`,
//! `ts.rs`); this file only maps payload to payload.
//! - Outside tests the module denies the panicking clippy lints (unwrap, expect, panic,
//!   indexing, unchecked arithmetic).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use thiserror::Error;
use zeroize::Zeroizing;

use crate::config::Identity;
use crate::proposal::{Proposal, Selected};
use crate::suite::{self, CryptoError, Secret};
use crate::ts::TrafficSelector;
use crate::wire::{self, ExchangeType, Flags, NotifyType, PayloadType, ProtocolId};

/// strongSwan's short name for a notify, as in its `[ENC]` log lines (the number when
/// charon has no name for it).
pub fn notify_name(kind: NotifyType) -> String {
    wire::notify_short_name(kind).map_or_else(|| kind.0.to_string(), str::to_string)
}

/// The IKE header (RFC 7296 3.1), lengths excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI (0 in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags (the bits of [`Flags`]).
    pub flags: u8,
    /// Message ID.
    pub message_id: u32,
}

impl Header {
    /// Whether the response flag is set.
    pub fn is_response(&self) -> bool {
        self.flags & Flags::RESPONSE != 0
    }
    /// Whether the sender is the original initiator.
    pub fn from_initiator(&self) -> bool {
        self.flags & Flags::INITIATOR != 0
    }
}

/// A Notify payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol id (NONE for IKE-wide notifies).
    pub protocol: ProtocolId,
    /// SPI (empty for most).
    pub spi: Vec<u8>,
    /// Notify type.
    pub kind: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify without SPI.
    pub fn new(kind: NotifyType, data: Vec<u8>) -> Self {
        Notify {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            kind,
            data,
        }
    }
}

/// One payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association.
    Sa(Vec<Proposal>),
    /// Key Exchange.
    Ke {
        /// Key exchange method.
        group: u16,
        /// Public value.
        data: Vec<u8>,
    },
    /// IDi.
    IdI(Identity),
    /// IDr.
    IdR(Identity),
    /// Authentication.
    Auth {
        /// Method (2 = shared key MIC).
        method: u8,
        /// Authentication data.
        data: Vec<u8>,
    },
    /// Nonce.
    Nonce(Vec<u8>),
    /// Notify.
    Notify(Notify),
    /// Delete.
    Delete {
        /// Protocol (IKE or ESP).
        protocol: ProtocolId,
        /// SPIs (empty for IKE).
        spis: Vec<Vec<u8>>,
    },
    /// TSi.
    TsI(Vec<TrafficSelector>),
    /// TSr.
    TsR(Vec<TrafficSelector>),
    /// Certificate (RFC 7296 3.6).
    Cert {
        /// Certificate encoding (4 = X.509 signature).
        encoding: u8,
        /// Certificate data (DER for X.509).
        data: Vec<u8>,
    },
    /// Certificate request (RFC 7296 3.7).
    CertReq {
        /// Certificate encoding requested.
        encoding: u8,
        /// Certification authority data (concatenated SHA-1 hashes of CA public keys).
        data: Vec<u8>,
    },
    /// Vendor ID.
    VendorId(Vec<u8>),
    /// A payload the engine does not interpret (non-critical; CP and EAP too).
    Unknown {
        /// Payload type.
        kind: PayloadType,
        /// Body.
        body: Vec<u8>,
    },
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Header.
    pub header: Header,
    /// Payloads in order (decrypted contents for protected messages).
    pub payloads: Vec<Payload>,
}

impl Message {
    /// The first notify of a type.
    pub fn notify(&self, kind: NotifyType) -> Option<&Notify> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind == kind => Some(n),
            _ => None,
        })
    }

    /// The first error notify (type below 16384), if any.
    pub fn error_notify(&self) -> Option<&Notify> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind.is_error() => Some(n),
            _ => None,
        })
    }

    /// charon's `[ENC]` summary: `IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) ]`.
    pub fn summary(&self) -> String {
        let payloads: Vec<wire::Payload> = self.payloads.iter().map(to_wire).collect();
        wire::summary(&wire_header(&self.header), &payloads)
    }
}

/// Why a datagram could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes break the IKEv2 format (the `wire` codec says where and why).
    #[error("malformed message: {0}")]
    Wire(wire::WireError),
    /// Well-formed but not representable by the engine (the reason names the field).
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// Not IKEv2: the major version.
    #[error("unsupported IKE major version {0}")]
    Version(u8),
    /// An unknown payload with the critical bit set.
    #[error("unsupported critical payload {}", .0.0)]
    UnsupportedCritical(PayloadType),
    /// An encrypted message arrived but no keys exist yet.
    #[error("encrypted payload without keys")]
    NoKeys,
    /// The SK/SKF payload failed verification or decryption.
    #[error("SK payload verification failed")]
    Integrity,
    /// An SKF fragment where a whole message was expected ([`decode_datagram`] takes them).
    #[error("fragment where a whole message was expected")]
    Fragmented,
    /// The SK/SKF payload verified, but the message it completes is malformed (the inner
    /// error says how). Unlike a forgery this came from the peer, so a request is answered
    /// (RFC 7296 2.21.3: INVALID_SYNTAX, or UNSUPPORTED_CRITICAL_PAYLOAD).
    #[error("{0} (in a verified message)")]
    Verified(Box<DecodeError>),
}

impl DecodeError {
    fn verified(self) -> DecodeError {
        match self {
            DecodeError::Verified(_) => self,
            other => DecodeError::Verified(Box::new(other)),
        }
    }
}

impl From<wire::WireError> for DecodeError {
    fn from(e: wire::WireError) -> Self {
        match e.kind {
            wire::WireErrorKind::UnsupportedCriticalPayload { payload_type } => {
                DecodeError::UnsupportedCritical(payload_type)
            }
            wire::WireErrorKind::UnsupportedMajorVersion { major } => DecodeError::Version(major),
            _ => DecodeError::Wire(e),
        }
    }
}

impl From<CryptoError> for DecodeError {
    fn from(_: CryptoError) -> Self {
        DecodeError::Integrity
    }
}

/// Why a message could not be encoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    /// A value the wire format cannot carry.
    #[error("cannot encode message: {0}")]
    Wire(#[from] wire::EncodeError),
    /// Sealing the SK/SKF payload failed.
    #[error("cannot seal message: {0}")]
    Crypto(#[from] CryptoError),
}

/// Keys protecting one direction of an IKE SA.
pub struct SkKeys<'a> {
    /// Selected IKE suite.
    pub suite: &'a Selected,
    /// Encryption key.
    pub encr: &'a Secret,
    /// Integrity key.
    pub integ: &'a Secret,
}

/// One verified and decrypted SKF payload (RFC 7383), waiting for its siblings.
pub struct Fragment {
    /// The fragment's IKE header (the same for every fragment of a message).
    pub header: Header,
    /// Fragment Number, 1-based.
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
    /// The SKF Next Payload field: the first inner payload type in fragment 1, else NONE.
    pub first_inner: PayloadType,
    /// Payloads before the SKF payload (normally none).
    pub unencrypted: Vec<Payload>,
    /// This fragment's slice of the inner payload chain (padding removed).
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Fragment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fragment")
            .field("header", &self.header)
            .field("number", &self.number)
            .field("total", &self.total)
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

/// A decoded datagram: a whole message or one fragment of one.
#[derive(Debug)]
pub enum Datagram {
    /// A complete message (decrypted if it was protected).
    Message(Message),
    /// An SKF fragment (verified and decrypted).
    Fragment(Fragment),
}

/// Reads only the header of a datagram (for dispatching before any keys are known).
pub fn peek_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let raw = wire::Header::decode(bytes)?;
    if raw.header.major_version != 2 {
        return Err(DecodeError::Version(raw.header.major_version));
    }
    if usize::try_from(raw.length).ok() != Some(bytes.len()) {
        return Err(DecodeError::Malformed(
            "length field disagrees with datagram",
        ));
    }
    Ok(engine_header(&raw.header))
}

/// Decodes a datagram holding a whole message; `keys` (the peer's direction) are needed if it
/// carries an SK payload. An SKF fragment is [`DecodeError::Fragmented`].
pub fn decode(bytes: &[u8], keys: Option<SkKeys<'_>>) -> Result<Message, DecodeError> {
    match decode_datagram(bytes, keys)? {
        Datagram::Message(m) => Ok(m),
        Datagram::Fragment(_) => Err(DecodeError::Fragmented),
    }
}

/// Decodes a datagram: a whole message, or one SKF fragment verified and decrypted.
pub fn decode_datagram(bytes: &[u8], keys: Option<SkKeys<'_>>) -> Result<Datagram, DecodeError> {
    let decoded = wire::decode(bytes)?;
    let header = engine_header(&decoded.message.header);
    let mut outer = decoded.message.payloads;
    let Some(sk) = decoded.sk else {
        // Called with keys, the message must be protected: everything after IKE_SA_INIT is
        // (RFC 7296 1.2, 3.14). A cleartext one proves nothing about its sender, so it is
        // treated as failing integrity (dropped, never answered).
        if keys.is_some() {
            return Err(DecodeError::Integrity);
        }
        let payloads = from_wire_all(outer)?;
        return Ok(Datagram::Message(Message { header, payloads }));
    };
    // The SK/SKF payload is last; its body is opened from the datagram in place.
    outer.pop();
    let keys = keys.ok_or(DecodeError::NoKeys)?;
    let aad = bytes.get(sk.aad()).ok_or(DecodeError::Integrity)?;
    let body = bytes.get(sk.body.clone()).ok_or(DecodeError::Integrity)?;
    let plaintext = suite::open(keys.suite, keys.encr, keys.integ, aad, body)?;
    // From here on the bytes are authentic: what fails is the peer's doing, not a forgery.
    let mut payloads = from_wire_all(outer).map_err(DecodeError::verified)?;
    match sk.fragment {
        None => {
            let inner = wire::decode_inner(sk.first_inner, &plaintext)
                .map_err(|e| DecodeError::from(e).verified())?;
            payloads.extend(from_wire_all(inner).map_err(DecodeError::verified)?);
            Ok(Datagram::Message(Message { header, payloads }))
        }
        Some((number, total)) => Ok(Datagram::Fragment(Fragment {
            header,
            number,
            total,
            first_inner: sk.first_inner,
            unencrypted: payloads,
            plaintext,
        })),
    }
}

/// Builds the message a set of fragments carried: `plaintext` is their inner chain
/// concatenated in fragment order, `first_inner` the type fragment 1 named.
pub fn assemble(
    header: Header,
    unencrypted: Vec<Payload>,
    first_inner: PayloadType,
    plaintext: &[u8],
) -> Result<Message, DecodeError> {
    let mut payloads = unencrypted;
    // Fragments are verified one by one before they are assembled.
    let inner =
        wire::decode_inner(first_inner, plaintext).map_err(|e| DecodeError::from(e).verified())?;
    payloads.extend(from_wire_all(inner).map_err(DecodeError::verified)?);
    Ok(Message { header, payloads })
}

/// Encodes a message; with `keys` (our direction) and an IV source (see [`suite::seal`]), its
/// payloads go into an SK payload.
pub fn encode(
    msg: &Message,
    keys: Option<(SkKeys<'_>, &mut dyn suite::RandomSource)>,
) -> Result<Vec<u8>, EncodeError> {
    match keys {
        None => {
            let payloads = msg.payloads.iter().map(to_wire).collect();
            Ok(wire::Message::new(wire_header(&msg.header), payloads).encode()?)
        }
        Some((keys, iv_source)) => {
            let (first_inner, plaintext) = inner_plaintext(msg)?;
            seal(&msg.header, first_inner, None, &plaintext, &keys, iv_source)
        }
    }
}

/// The message's payloads as an SK plaintext chain (before padding) and its first type.
pub fn inner_plaintext(msg: &Message) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    let payloads: Vec<wire::Payload> = msg.payloads.iter().map(to_wire).collect();
    Ok(wire::encode_inner(&payloads)?)
}

/// Length of a datagram carrying `plaintext_len` octets of inner payloads in one SK payload
/// (or, with `fragment`, one SKF payload).
pub fn sealed_datagram_len(
    suite: &Selected,
    plaintext_len: usize,
    fragment: bool,
) -> Result<usize, CryptoError> {
    let envelope = if fragment { 8 } else { 4 };
    Ok(suite::sealed_len(suite, plaintext_len)?
        .saturating_add(envelope)
        .saturating_add(wire::HEADER_LEN))
}

/// Writes a datagram whose only payload is an SK payload (or, with `fragment` = (number,
/// total), an SKF payload) sealing `plaintext` under `keys`, the IV drawn from `iv_source`.
pub fn seal(
    header: &Header,
    first_inner: PayloadType,
    fragment: Option<(u16, u16)>,
    plaintext: &[u8],
    keys: &SkKeys<'_>,
    iv_source: &mut dyn suite::RandomSource,
) -> Result<Vec<u8>, EncodeError> {
    let body_len = suite::sealed_len(keys.suite, plaintext.len())?;
    let (mut bytes, location) = wire::encode_sk_message(
        &wire_header(header),
        &[],
        wire::SkEnvelope {
            first_inner,
            fragment,
            body_len,
        },
    )?;
    let aad = bytes
        .get(location.aad())
        .ok_or(EncodeError::Crypto(CryptoError::KeyLength))?;
    let body = suite::seal(keys.suite, keys.encr, keys.integ, iv_source, aad, plaintext)?;
    let slot = bytes
        .get_mut(location.body.clone())
        .filter(|slot| slot.len() == body.len())
        .ok_or(EncodeError::Crypto(CryptoError::KeyLength))?;
    slot.copy_from_slice(&body);
    Ok(bytes)
}

// ----- conversion between the engine's model and `wire` -----------------------------------

fn wire_header(h: &Header) -> wire::Header {
    wire::Header::new(
        wire::IkeSpi(h.spi_i),
        wire::IkeSpi(h.spi_r),
        h.exchange,
        wire::Flags(h.flags),
        h.message_id,
    )
}

fn engine_header(h: &wire::Header) -> Header {
    Header {
        spi_i: h.spi_i.0,
        spi_r: h.spi_r.0,
        exchange: h.exchange,
        flags: h.flags.0,
        message_id: h.message_id,
    }
}

fn wire_ts(list: &[TrafficSelector]) -> wire::TrafficSelectors {
    wire::TrafficSelectors::new(list.iter().map(wire::TrafficSelector::from).collect())
}

fn engine_ts(ts: wire::TrafficSelectors) -> Result<Vec<TrafficSelector>, DecodeError> {
    ts.selectors
        .into_iter()
        .map(|s| {
            TrafficSelector::try_from(s)
                .map_err(|_| DecodeError::Malformed("traffic selector type"))
        })
        .collect()
}

fn to_wire(p: &Payload) -> wire::Payload {
    use wire::PayloadBody as B;
    let body = match p {
        Payload::Sa(proposals) => B::SecurityAssociation(wire::SecurityAssociation {
            proposals: proposals.iter().map(wire::Proposal::from).collect(),
        }),
        Payload::Ke { group, data } => B::KeyExchange(wire::KeyExchange {
            group: wire::TransformId(*group),
            data: data.clone(),
            reserved: 0,
        }),
        Payload::IdI(id) => B::IdInitiator(wire::Identification::new(
            wire::IdType(id.kind),
            id.data.clone(),
        )),
        Payload::IdR(id) => B::IdResponder(wire::Identification::new(
            wire::IdType(id.kind),
            id.data.clone(),
        )),
        Payload::Auth { method, data } => B::Auth(wire::Auth {
            method: wire::AuthMethod(*method),
            data: data.clone(),
            reserved: [0; 3],
        }),
        Payload::Nonce(n) => B::Nonce(wire::Nonce(n.clone())),
        Payload::Notify(n) => B::Notify(wire::Notify {
            protocol: n.protocol,
            spi: n.spi.clone(),
            notify_type: n.kind,
            data: n.data.clone(),
        }),
        Payload::Delete { protocol, spis } => B::Delete(wire::Delete {
            protocol: *protocol,
            spi_size: spis
                .first()
                .map_or(0, |s| u8::try_from(s.len()).unwrap_or(u8::MAX)),
            spis: spis.clone(),
        }),
        Payload::TsI(list) => B::TsInitiator(wire_ts(list)),
        Payload::TsR(list) => B::TsResponder(wire_ts(list)),
        Payload::Cert { encoding, data } => B::Certificate(wire::Certificate {
            encoding: wire::CertEncoding(*encoding),
            data: data.clone(),
        }),
        Payload::CertReq { encoding, data } => B::CertificateRequest(wire::CertificateRequest {
            encoding: wire::CertEncoding(*encoding),
            data: data.clone(),
        }),
        Payload::VendorId(v) => B::VendorId(wire::VendorId(v.clone())),
        Payload::Unknown { kind, body } => return unknown_to_wire(*kind, body),
    };
    wire::Payload::new(body)
}

/// An opaque payload of a type `wire` knows (CP, EAP) is handed back as that type, so the
/// summary names it as charon does; anything else stays unknown.
fn unknown_to_wire(kind: PayloadType, body: &[u8]) -> wire::Payload {
    let len = body.len().saturating_add(4);
    let mut chain = Vec::with_capacity(len);
    chain.extend_from_slice(&[0, 0]);
    chain.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    chain.extend_from_slice(body);
    match wire::decode_inner(kind, &chain) {
        Ok(mut one) if one.len() == 1 => one.remove(0),
        _ => wire::Payload::new(wire::PayloadBody::Unknown(wire::UnknownPayload {
            payload_type: kind,
            data: body.to_vec(),
        })),
    }
}

fn from_wire_all(payloads: Vec<wire::Payload>) -> Result<Vec<Payload>, DecodeError> {
    payloads.into_iter().map(from_wire).collect()
}

fn from_wire(p: wire::Payload) -> Result<Payload, DecodeError> {
    use wire::PayloadBody as B;
    Ok(match p.body {
        B::SecurityAssociation(sa) => {
            Payload::Sa(sa.proposals.into_iter().map(Proposal::from).collect())
        }
        B::KeyExchange(ke) => Payload::Ke {
            group: ke.group.0,
            data: ke.data,
        },
        B::IdInitiator(id) => Payload::IdI(Identity {
            kind: id.id_type.0,
            data: id.data,
        }),
        B::IdResponder(id) => Payload::IdR(Identity {
            kind: id.id_type.0,
            data: id.data,
        }),
        B::Certificate(c) => Payload::Cert {
            encoding: c.encoding.0,
            data: c.data,
        },
        B::CertificateRequest(c) => Payload::CertReq {
            encoding: c.encoding.0,
            data: c.data,
        },
        B::Auth(a) => Payload::Auth {
            method: a.method.0,
            data: a.data,
        },
        B::Nonce(n) => {
            // RFC 7296 3.9: nonces are 16 to 256 octets.
            if !(16..=256).contains(&n.0.len()) {
                return Err(DecodeError::Malformed("nonce length"));
            }
            Payload::Nonce(n.0)
        }
        B::Notify(n) => Payload::Notify(Notify {
            protocol: n.protocol,
            spi: n.spi,
            kind: n.notify_type,
            data: n.data,
        }),
        B::Delete(d) => Payload::Delete {
            protocol: d.protocol,
            spis: d.spis,
        },
        B::VendorId(v) => Payload::VendorId(v.0),
        B::TsInitiator(ts) => Payload::TsI(engine_ts(ts)?),
        B::TsResponder(ts) => Payload::TsR(engine_ts(ts)?),
        B::Unknown(u) => Payload::Unknown {
            kind: u.payload_type,
            body: u.data,
        },
        // The engine does not interpret these; keep their bodies opaque.
        B::Configuration(_) | B::Eap(_) => {
            let kind = p.body.payload_type();
            let (_, chain) = wire::encode_inner(std::slice::from_ref(&wire::Payload::new(p.body)))
                .map_err(|_| DecodeError::Malformed("configuration or EAP payload"))?;
            Payload::Unknown {
                kind,
                body: chain.get(4..).unwrap_or_default().to_vec(),
            }
        }
        B::Encrypted(_) | B::EncryptedFragment(_) => {
            return Err(DecodeError::Malformed("nested encrypted payload"));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            header: Header {
                spi_i: 1,
                spi_r: 2,
                exchange: ExchangeType::IKE_AUTH,
                flags: Flags::INITIATOR,
                message_id: 1,
            },
            payloads: vec![
                Payload::IdI(Identity::from_text("host1")),
                Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, vec![])),
                Payload::Auth {
                    method: 2,
                    data: vec![5; 32],
                },
                Payload::Sa(vec![
                    Proposal::parse(ProtocolId::ESP, "aes128gcm128-x25519-esn").unwrap(),
                ]),
                Payload::TsI(vec![
                    TrafficSelector::parse("192.168.50.1/24 [udp]").unwrap(),
                ]),
                Payload::TsR(vec![
                    TrafficSelector::parse("fd00::1/128 [udp/4789]").unwrap(),
                ]),
                Payload::Delete {
                    protocol: ProtocolId::ESP,
                    spis: vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]],
                },
                Payload::Nonce(vec![9; 32]),
                Payload::Ke {
                    group: 31,
                    data: vec![1; 32],
                },
                Payload::Cert {
                    encoding: 4,
                    data: vec![0x30, 0x82, 1, 2],
                },
                Payload::CertReq {
                    encoding: 4,
                    data: vec![7; 20],
                },
            ],
        }
    }

    #[test]
    fn plain_and_sealed_round_trip() {
        let m = sample();
        let bytes = encode(&m, None).unwrap();
        assert_eq!(decode(&bytes, None).unwrap(), m);
        let sel = Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519")
            .unwrap()
            .selected()
            .unwrap();
        let (ek, ak) = (Secret::new(vec![1; 16]), Secret::new(vec![2; 32]));
        let k = || SkKeys {
            suite: &sel,
            encr: &ek,
            integ: &ak,
        };
        let mut iv = iked_crypto::rng::SeededRandom::from_u64(7);
        let sealed = encode(&m, Some((k(), &mut iv))).unwrap();
        assert_eq!(decode(&sealed, Some(k())).unwrap(), m);
        assert_eq!(decode(&sealed, None), Err(DecodeError::NoKeys));
        assert!(
            m.summary()
                .starts_with("IKE_AUTH request 1 [ IDi N(INIT_CONTACT) AUTH SA")
        );
        assert!(
            m.summary().ends_with(" KE CERT CERTREQ ]"),
            "{}",
            m.summary()
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = encode(&sample(), None).unwrap();
        for cut in 0..bytes.len() {
            let mut b = bytes[..cut].to_vec();
            if b.len() >= 28 {
                let l = u32::try_from(b.len()).unwrap().to_be_bytes();
                b[24..28].copy_from_slice(&l);
            }
            assert!(decode(&b, None).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn unknown_critical_payload_is_refused() {
        let mut bytes = encode(
            &Message {
                header: sample().header,
                payloads: vec![Payload::Unknown {
                    kind: PayloadType(200),
                    body: vec![1],
                }],
            },
            None,
        )
        .unwrap();
        assert!(matches!(
            decode(&bytes, None).unwrap().payloads[0],
            Payload::Unknown {
                kind: PayloadType(200),
                ..
            }
        ));
        bytes[28 + 1] = 0x80;
        assert_eq!(
            decode(&bytes, None),
            Err(DecodeError::UnsupportedCritical(PayloadType(200)))
        );
    }
}
