//! Whole messages, payload chains, and the SK/SKF envelope.
//!
//! Contract:
//! - [`decode`] parses a datagram (the IKE message, without any non-ESP marker): header, then
//!   the payload chain. The header's Length must equal the datagram size, the major version
//!   must be 2, and at most [`MAX_PAYLOADS`] payloads are accepted. An SK or SKF payload ends
//!   the outer chain and must end the message; its body stays encrypted, and [`SkLocation`]
//!   says where it is so the engine can verify and decrypt in place.
//! - [`decode_inner`] parses a decrypted SK plaintext (padding already removed), whose first
//!   payload type is the SK payload's Next Payload field. SK/SKF inside it are errors.
//! - Unknown payloads are kept; an unknown payload with the critical bit set is reported as
//!   [`WireErrorKind::UnsupportedCriticalPayload`] carrying its type.
//! - [`Message::encode`] writes exactly [`Message::encoded_len`] bytes, deriving every Next
//!   Payload and Length field. `decode(encode(m)) == m` for every message that encodes, and
//!   `encode(decode(b)) == b` for every datagram that decodes.
//! - [`encode_sk_message`] lays out a message around an SK/SKF body of a given size and
//!   returns where the IV/ciphertext/ICV go and which bytes are associated data.

use core::ops::Range;

use super::codes::PayloadType;
use super::error::{EncodeError, WireError, WireErrorKind};
use super::header::{HEADER_LEN, Header};
use super::payload::{Payload, PayloadBody, UnknownPayload};
use super::reader::Reader;

/// Most payloads accepted in one chain (outer or inner): as many 4-octet generic headers as
/// the largest IKE message holds, so the format, not a cap, is the limit.
pub const MAX_PAYLOADS: usize = (MAX_MESSAGE_LEN - HEADER_LEN) / 4;

/// A decoded or to-be-encoded IKE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    /// Payloads in wire order. An SK/SKF payload, if present, is last.
    pub payloads: Vec<Payload>,
}

/// Where the encrypted body of an SK or SKF payload sits in a message buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkLocation {
    /// Offset of the SK/SKF payload's generic header.
    pub payload_offset: usize,
    /// IV, ciphertext and ICV: from after the SK (or SKF, incl. fragment fields) header to the
    /// end of the message.
    pub body: Range<usize>,
    /// The SK/SKF Next Payload field: the first inner payload type.
    pub first_inner: PayloadType,
    /// `(number, total)` for an SKF payload.
    pub fragment: Option<(u16, u16)>,
}

impl SkLocation {
    /// Associated data for AEAD ciphers (RFC 5282 section 5, RFC 7383 section 2.5): the IKE
    /// header, any unencrypted payloads and the SK/SKF header, i.e. everything before the IV.
    pub fn aad(&self) -> Range<usize> {
        0..self.body.start
    }

    /// Bytes covered by an integrity checksum of length `icv_len` (RFC 7296 section 3.14):
    /// everything but the ICV itself.
    pub fn integrity_covered(&self, icv_len: usize) -> Range<usize> {
        0..self.body.end.saturating_sub(icv_len)
    }
}

/// A decoded message and, if it has one, where its SK/SKF body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub message: Message,
    pub sk: Option<SkLocation>,
}

/// Decodes an IKEv2 message.
pub fn decode(bytes: &[u8]) -> Result<Decoded, WireError> {
    let mut r = Reader::new(bytes, 0);
    let raw = Header::read(&mut r)?;
    if raw.header.major_version != 2 {
        return Err(WireError::new(
            17,
            WireErrorKind::UnsupportedMajorVersion {
                major: raw.header.major_version,
            },
        ));
    }
    if usize::try_from(raw.length).ok() != Some(bytes.len()) || bytes.len() > MAX_MESSAGE_LEN {
        return Err(WireError::new(
            24,
            WireErrorKind::MessageLengthMismatch {
                declared: raw.length,
                actual: bytes.len(),
            },
        ));
    }
    let (payloads, sk) = decode_chain(&mut r, raw.next_payload, true)?;
    Ok(Decoded {
        message: Message {
            header: raw.header,
            payloads,
        },
        sk,
    })
}

/// Decodes the payload chain inside a decrypted SK/SKF body.
///
/// `plaintext` excludes the padding and the pad-length octet; offsets in errors are relative
/// to it.
pub fn decode_inner(first: PayloadType, plaintext: &[u8]) -> Result<Vec<Payload>, WireError> {
    let mut r = Reader::new(plaintext, 0);
    let (payloads, _) = decode_chain(&mut r, first, false)?;
    Ok(payloads)
}

fn decode_chain(
    r: &mut Reader<'_>,
    first: PayloadType,
    outer: bool,
) -> Result<(Vec<Payload>, Option<SkLocation>), WireError> {
    let mut payloads = Vec::new();
    let mut next = first;
    while next != PayloadType::NONE {
        if payloads.len() >= MAX_PAYLOADS {
            return Err(r.error(WireErrorKind::LimitExceeded {
                what: "payloads",
                limit: MAX_PAYLOADS,
            }));
        }
        let payload_offset = r.offset();
        let payload_type = next;
        let following = PayloadType(r.u8("next payload")?);
        let flags = r.u8("payload flags")?;
        let length = usize::from(r.u16("payload length")?);
        if length < 4 {
            return Err(WireError::new(
                payload_offset.saturating_add(2),
                WireErrorKind::LengthTooShort {
                    what: "payload",
                    length,
                    minimum: 4,
                },
            ));
        }
        // length >= 4 (checked above).
        let mut body = r.sub(length.saturating_sub(4), "payload")?;
        let critical = flags & 0x80 != 0;
        let reserved = flags & 0x7f;
        let is_sk = matches!(
            payload_type,
            PayloadType::ENCRYPTED | PayloadType::ENCRYPTED_FRAGMENT
        );
        if is_sk && !outer {
            return Err(WireError::new(
                payload_offset,
                WireErrorKind::UnexpectedPayload { payload_type },
            ));
        }
        let decoded = PayloadBody::decode_known(payload_type, following, &mut body)?;
        let body = match decoded {
            Some(body) => body,
            None if critical => {
                return Err(WireError::new(
                    payload_offset,
                    WireErrorKind::UnsupportedCriticalPayload { payload_type },
                ));
            }
            None => PayloadBody::Unknown(UnknownPayload {
                payload_type,
                data: body.rest().to_vec(),
            }),
        };
        let sk = match &body {
            PayloadBody::Encrypted(_) => Some((payload_offset.saturating_add(4), None)),
            PayloadBody::EncryptedFragment(f) => {
                Some((payload_offset.saturating_add(8), Some((f.number, f.total))))
            }
            _ => None,
        };
        payloads.push(Payload {
            critical,
            reserved,
            body,
        });
        if let Some((body_start, fragment)) = sk {
            // The SK payload's Next Payload names the first inner payload, so the outer
            // chain ends here; RFC 7296 section 3.14 requires SK to be the last payload.
            r.finish("the encrypted payload")?;
            return Ok((
                payloads,
                Some(SkLocation {
                    payload_offset,
                    body: body_start..r.offset(),
                    first_inner: following,
                    fragment,
                }),
            ));
        }
        next = following;
    }
    r.finish("the last payload")?;
    Ok((payloads, None))
}

/// Checks a chain for encodability and returns each payload's length and the total.
fn chain_lengths(payloads: &[Payload]) -> Result<(Vec<usize>, usize), EncodeError> {
    if payloads.len() > MAX_PAYLOADS {
        return Err(EncodeError::TooMany {
            what: "payloads",
            count: payloads.len(),
            max: MAX_PAYLOADS,
        });
    }
    let mut lens = Vec::with_capacity(payloads.len());
    let mut total = 0usize;
    for (i, p) in payloads.iter().enumerate() {
        let is_sk = matches!(
            p.body,
            PayloadBody::Encrypted(_) | PayloadBody::EncryptedFragment(_)
        );
        if is_sk && i.saturating_add(1) != payloads.len() {
            return Err(EncodeError::Invalid {
                field: "SK payload",
                reason: "must be the last payload",
            });
        }
        let len = p.encoded_len()?;
        lens.push(len);
        total = total.saturating_add(len);
    }
    Ok((lens, total))
}

fn write_chain(payloads: &[Payload], lens: &[usize], out: &mut Vec<u8>) {
    for (i, (p, len)) in payloads.iter().zip(lens).enumerate() {
        let next = match payloads.get(i.saturating_add(1)) {
            Some(following) => following.payload_type(),
            None => p.body.trailing_next(),
        };
        p.write(next, *len, out);
    }
}

/// Encodes an inner payload chain (the SK plaintext before padding).
///
/// Returns the first payload type (for the SK payload's Next Payload field) and the bytes.
pub fn encode_inner(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    if payloads.iter().any(|p| {
        matches!(
            p.body,
            PayloadBody::Encrypted(_) | PayloadBody::EncryptedFragment(_)
        )
    }) {
        return Err(EncodeError::Invalid {
            field: "inner payloads",
            reason: "an SK payload cannot be encrypted inside another",
        });
    }
    let (lens, total) = chain_lengths(payloads)?;
    let mut out = Vec::with_capacity(total);
    write_chain(payloads, &lens, &mut out);
    debug_assert_eq!(out.len(), total);
    let first = payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type);
    Ok((first, out))
}

impl Message {
    pub fn new(header: Header, payloads: Vec<Payload>) -> Self {
        Self { header, payloads }
    }

    /// Decodes a message; see [`decode`] to also learn where the SK body is.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes).map(|d| d.message)
    }

    /// The size [`Message::encode`] produces.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        check_version(&self.header)?;
        let (_, total) = chain_lengths(&self.payloads)?;
        message_len(total.saturating_add(HEADER_LEN))
    }

    /// Encodes the message, deriving Next Payload and Length fields.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        check_version(&self.header)?;
        let (lens, total) = chain_lengths(&self.payloads)?;
        let len = message_len(total.saturating_add(HEADER_LEN))?;
        let first = self
            .payloads
            .first()
            .map_or(PayloadType::NONE, Payload::payload_type);
        let mut out = Vec::with_capacity(len);
        self.header.write(first, len as u32, &mut out);
        write_chain(&self.payloads, &lens, &mut out);
        debug_assert_eq!(out.len(), len);
        Ok(out)
    }

    /// The first Notify payload of a type.
    pub fn notify(&self, notify_type: super::codes::NotifyType) -> Option<&super::payload::Notify> {
        self.payloads
            .iter()
            .filter_map(Payload::as_notify)
            .find(|n| n.notify_type == notify_type)
    }

    /// The SK payload, if the message carries one.
    pub fn encrypted(&self) -> Option<&super::payload::Encrypted> {
        match self.payloads.last().map(|p| &p.body) {
            Some(PayloadBody::Encrypted(e)) => Some(e),
            _ => None,
        }
    }

    /// The SKF payload, if the message is a fragment.
    pub fn encrypted_fragment(&self) -> Option<&super::payload::EncryptedFragment> {
        match self.payloads.last().map(|p| &p.body) {
            Some(PayloadBody::EncryptedFragment(f)) => Some(f),
            _ => None,
        }
    }
}

/// IKE messages over UDP or TCP (RFC 8229) never exceed 65535 octets; refusing larger ones
/// keeps the u32 length honest.
const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// This codec speaks IKEv2 only; a version octet it could not read back is refused.
fn check_version(header: &Header) -> Result<(), EncodeError> {
    if header.major_version != 2 || header.minor_version > 0x0f {
        return Err(EncodeError::Invalid {
            field: "IKE version",
            reason: "major version must be 2 and minor below 16",
        });
    }
    Ok(())
}

fn message_len(len: usize) -> Result<usize, EncodeError> {
    if len > MAX_MESSAGE_LEN {
        return Err(EncodeError::TooLong {
            what: "IKE message",
            length: len,
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(len)
}

/// What to put in the SK/SKF envelope of [`encode_sk_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkEnvelope {
    /// Type of the first inner payload ([`encode_inner`] returns it); NONE for an empty body
    /// and for SKF fragments after the first.
    pub first_inner: PayloadType,
    /// `(number, total)` to build an SKF payload instead of SK.
    pub fragment: Option<(u16, u16)>,
    /// IV + ciphertext (inner chain, padding, pad length) + ICV, in octets.
    pub body_len: usize,
}

/// Lays out a message whose last payload is an SK/SKF with a `body_len`-octet body of zeros.
///
/// `unencrypted` are payloads sent before the SK payload (normally none). The caller then
/// writes the IV and ciphertext into `buf[loc.body]`, computes the ICV over
/// `buf[loc.aad()]` (AEAD) or `buf[loc.integrity_covered(icv_len)]` (separate integrity)
/// and writes it into the last `icv_len` octets. All length fields are already final.
pub fn encode_sk_message(
    header: &Header,
    unencrypted: &[Payload],
    envelope: SkEnvelope,
) -> Result<(Vec<u8>, SkLocation), EncodeError> {
    let body = match envelope.fragment {
        Some((number, total)) => {
            PayloadBody::EncryptedFragment(super::payload::EncryptedFragment {
                first_inner: envelope.first_inner,
                number,
                total,
                data: vec![0; envelope.body_len],
            })
        }
        None => PayloadBody::Encrypted(super::payload::Encrypted {
            first_inner: envelope.first_inner,
            data: vec![0; envelope.body_len],
        }),
    };
    let mut payloads = unencrypted.to_vec();
    payloads.push(Payload::new(body));
    let message = Message {
        header: *header,
        payloads,
    };
    let bytes = message.encode()?;
    let header_len: usize = if envelope.fragment.is_some() { 8 } else { 4 };
    // The SK/SKF payload is the last one encoded, so it is within `bytes`.
    let sk_len = header_len.saturating_add(envelope.body_len);
    let payload_offset = bytes.len().saturating_sub(sk_len);
    let location = SkLocation {
        payload_offset,
        body: payload_offset.saturating_add(header_len)..bytes.len(),
        first_inner: envelope.first_inner,
        fragment: envelope.fragment,
    };
    Ok((bytes, location))
}

/// Like [`encode_sk_message`] with the body already computed (for tests and for
/// retransmitting stored fragments).
pub fn encode_sk_message_with_body(
    header: &Header,
    unencrypted: &[Payload],
    first_inner: PayloadType,
    fragment: Option<(u16, u16)>,
    body: &[u8],
) -> Result<(Vec<u8>, SkLocation), EncodeError> {
    let (mut bytes, location) = encode_sk_message(
        header,
        unencrypted,
        SkEnvelope {
            first_inner,
            fragment,
            body_len: body.len(),
        },
    )?;
    if let Some(dst) = bytes.get_mut(location.body.clone()) {
        dst.copy_from_slice(body);
    }
    Ok((bytes, location))
}
