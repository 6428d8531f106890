//! Payloads: the generic header and every IKEv2 payload body (RFC 7296 section 3.2 onwards).
//!
//! Contract: a [`Payload`] is the generic header's critical bit and reserved bits plus a typed
//! [`PayloadBody`]; the Next Payload and Payload Length fields are derived when encoding.
//! Bodies decode from exactly the bytes the payload length covers (trailing bytes are an
//! error where the body has structure). Unknown payload types are kept whole so they
//! round-trip; whether an unknown critical payload is an error is decided by the chain decoder
//! in `message.rs`. The SK and SKF bodies are opaque here (IV, ciphertext, ICV as one blob).

use super::codes::{
    AuthMethod, CertEncoding, CfgType, ConfigAttributeType, HashAlgorithm, NotifyType, PayloadType,
    ProtocolId, TransformId,
};
use super::error::{EncodeError, WireError, WireErrorKind};
use super::id::Identification;
use super::reader::{Reader, limit, u8_count, u16_len};
use super::sa::SecurityAssociation;
use super::ts::TrafficSelectors;

/// Nonce length bounds (RFC 7296 section 2.10).
pub const NONCE_MIN_LEN: usize = 16;
pub const NONCE_MAX_LEN: usize = 256;
/// Most attributes accepted in one CP payload: as many empty (4-octet) attributes as a
/// payload's 16-bit length can hold, so the format, not a cap, is the limit.
pub const MAX_CONFIG_ATTRIBUTES: usize = (u16::MAX as usize - 8) / 4;

/// One payload: the generic header's flags and the typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The C bit. Senders set it only on payloads the peer must understand.
    pub critical: bool,
    /// The seven reserved bits of the generic header, kept as received (sent as zero).
    pub reserved: u8,
    pub body: PayloadBody,
}

/// The typed body of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadBody {
    SecurityAssociation(SecurityAssociation),
    KeyExchange(KeyExchange),
    IdInitiator(Identification),
    IdResponder(Identification),
    Certificate(Certificate),
    CertificateRequest(CertificateRequest),
    Auth(Auth),
    Nonce(Nonce),
    Notify(Notify),
    Delete(Delete),
    VendorId(VendorId),
    TsInitiator(TrafficSelectors),
    TsResponder(TrafficSelectors),
    Encrypted(Encrypted),
    Configuration(Configuration),
    Eap(Eap),
    EncryptedFragment(EncryptedFragment),
    Unknown(UnknownPayload),
}

/// Key Exchange payload (section 3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchange {
    /// The key exchange method (transform type 4 id).
    pub group: TransformId,
    pub data: Vec<u8>,
    pub reserved: u16,
}

/// Certificate payload (section 3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub encoding: CertEncoding,
    pub data: Vec<u8>,
}

/// Certificate Request payload (section 3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRequest {
    pub encoding: CertEncoding,
    /// For X.509: concatenated SHA-1 hashes of trusted CAs' public keys.
    pub data: Vec<u8>,
}

/// Authentication payload (section 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub method: AuthMethod,
    pub data: Vec<u8>,
    pub reserved: [u8; 3],
}

/// Nonce payload (section 3.9); 16 to 256 octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce(pub Vec<u8>);

/// Notify payload (section 3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub protocol: ProtocolId,
    /// Empty, or the SPI of the SA the notify concerns.
    pub spi: Vec<u8>,
    pub notify_type: NotifyType,
    pub data: Vec<u8>,
}

/// Delete payload (section 3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub protocol: ProtocolId,
    /// 0 for IKE, 4 for ESP/AH; every entry of `spis` must have this length.
    pub spi_size: u8,
    pub spis: Vec<Vec<u8>>,
}

/// Vendor ID payload (section 3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorId(pub Vec<u8>);

/// Encrypted and Authenticated payload SK (section 3.14), still encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// The SK payload's Next Payload field: the type of the first inner payload.
    pub first_inner: PayloadType,
    /// IV, ciphertext (inner payloads, padding, pad length) and ICV.
    pub data: Vec<u8>,
}

/// Encrypted Fragment payload SKF (RFC 7383 section 2.5), still encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// Type of the first inner payload in fragment 1; zero in the others.
    pub first_inner: PayloadType,
    pub number: u16,
    pub total: u16,
    /// IV, ciphertext and ICV.
    pub data: Vec<u8>,
}

/// Configuration payload (section 3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    pub cfg_type: CfgType,
    pub attributes: Vec<ConfigAttribute>,
    pub reserved: [u8; 3],
}

/// One configuration attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAttribute {
    /// The reserved top bit of the attribute type field.
    pub reserved_bit: bool,
    /// The 15-bit attribute type.
    pub attribute_type: ConfigAttributeType,
    pub value: Vec<u8>,
}

/// EAP payload (section 3.16): the EAP message, opaque here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eap(pub Vec<u8>);

/// A payload this codec does not parse, kept whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPayload {
    pub payload_type: PayloadType,
    pub data: Vec<u8>,
}

impl Payload {
    /// A non-critical payload with zero reserved bits, as senders build them.
    pub fn new(body: PayloadBody) -> Self {
        Self {
            critical: false,
            reserved: 0,
            body,
        }
    }

    pub fn payload_type(&self) -> PayloadType {
        self.body.payload_type()
    }

    /// The notify body, if this is a Notify payload.
    pub fn as_notify(&self) -> Option<&Notify> {
        match &self.body {
            PayloadBody::Notify(n) => Some(n),
            _ => None,
        }
    }
}

impl From<PayloadBody> for Payload {
    fn from(body: PayloadBody) -> Self {
        Self::new(body)
    }
}

macro_rules! payload_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for PayloadBody {
            fn from(v: $ty) -> Self {
                PayloadBody::$variant(v)
            }
        }
        impl From<$ty> for Payload {
            fn from(v: $ty) -> Self {
                Payload::new(PayloadBody::$variant(v))
            }
        })*
    };
}

payload_from! {
    SecurityAssociation => SecurityAssociation,
    KeyExchange => KeyExchange,
    Certificate => Certificate,
    CertificateRequest => CertificateRequest,
    Auth => Auth,
    Nonce => Nonce,
    Notify => Notify,
    Delete => Delete,
    VendorId => VendorId,
    Encrypted => Encrypted,
    Configuration => Configuration,
    Eap => Eap,
    EncryptedFragment => EncryptedFragment,
    UnknownPayload => Unknown,
}

impl PayloadBody {
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::SecurityAssociation(_) => PayloadType::SECURITY_ASSOCIATION,
            Self::KeyExchange(_) => PayloadType::KEY_EXCHANGE,
            Self::IdInitiator(_) => PayloadType::ID_INITIATOR,
            Self::IdResponder(_) => PayloadType::ID_RESPONDER,
            Self::Certificate(_) => PayloadType::CERTIFICATE,
            Self::CertificateRequest(_) => PayloadType::CERTIFICATE_REQUEST,
            Self::Auth(_) => PayloadType::AUTHENTICATION,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::VendorId(_) => PayloadType::VENDOR_ID,
            Self::TsInitiator(_) => PayloadType::TS_INITIATOR,
            Self::TsResponder(_) => PayloadType::TS_RESPONDER,
            Self::Encrypted(_) => PayloadType::ENCRYPTED,
            Self::Configuration(_) => PayloadType::CONFIGURATION,
            Self::Eap(_) => PayloadType::EAP,
            Self::EncryptedFragment(_) => PayloadType::ENCRYPTED_FRAGMENT,
            Self::Unknown(u) => u.payload_type,
        }
    }

    /// Decodes the body of a payload whose type this codec knows.
    ///
    /// `next_payload` is the generic header's Next Payload field, which SK/SKF keep as the
    /// first inner type. Returns `None` for types it does not parse.
    pub(crate) fn decode_known(
        payload_type: PayloadType,
        next_payload: PayloadType,
        r: &mut Reader<'_>,
    ) -> Result<Option<Self>, WireError> {
        let body = match payload_type {
            PayloadType::SECURITY_ASSOCIATION => {
                Self::SecurityAssociation(SecurityAssociation::decode(r)?)
            }
            PayloadType::KEY_EXCHANGE => {
                let group = TransformId(r.u16("KE group")?);
                let reserved = r.u16("KE reserved")?;
                Self::KeyExchange(KeyExchange {
                    group,
                    data: r.rest().to_vec(),
                    reserved,
                })
            }
            PayloadType::ID_INITIATOR | PayloadType::ID_RESPONDER => {
                let id_type = super::codes::IdType(r.u8("ID type")?);
                let reserved = r.array::<3>("ID reserved")?;
                let id = Identification {
                    id_type,
                    data: r.rest().to_vec(),
                    reserved,
                };
                if payload_type == PayloadType::ID_INITIATOR {
                    Self::IdInitiator(id)
                } else {
                    Self::IdResponder(id)
                }
            }
            PayloadType::CERTIFICATE => Self::Certificate(Certificate {
                encoding: CertEncoding(r.u8("certificate encoding")?),
                data: r.rest().to_vec(),
            }),
            PayloadType::CERTIFICATE_REQUEST => Self::CertificateRequest(CertificateRequest {
                encoding: CertEncoding(r.u8("certificate encoding")?),
                data: r.rest().to_vec(),
            }),
            PayloadType::AUTHENTICATION => {
                let method = AuthMethod(r.u8("auth method")?);
                let reserved = r.array::<3>("auth reserved")?;
                Self::Auth(Auth {
                    method,
                    data: r.rest().to_vec(),
                    reserved,
                })
            }
            PayloadType::NONCE => {
                let start = r.offset();
                let nonce = r.rest();
                if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len()) {
                    return Err(WireError::new(
                        start,
                        WireErrorKind::InvalidValue {
                            field: "nonce length",
                            value: nonce.len() as u64,
                        },
                    ));
                }
                Self::Nonce(Nonce(nonce.to_vec()))
            }
            PayloadType::NOTIFY => {
                let protocol = ProtocolId(r.u8("notify protocol id")?);
                let spi_size = usize::from(r.u8("notify SPI size")?);
                let notify_type = NotifyType(r.u16("notify message type")?);
                let spi = r.bytes(spi_size, "notify SPI")?.to_vec();
                Self::Notify(Notify {
                    protocol,
                    spi,
                    notify_type,
                    data: r.rest().to_vec(),
                })
            }
            PayloadType::DELETE => Self::Delete(Delete::decode(r)?),
            PayloadType::VENDOR_ID => Self::VendorId(VendorId(r.rest().to_vec())),
            PayloadType::TS_INITIATOR => Self::TsInitiator(TrafficSelectors::decode(r)?),
            PayloadType::TS_RESPONDER => Self::TsResponder(TrafficSelectors::decode(r)?),
            PayloadType::ENCRYPTED => Self::Encrypted(Encrypted {
                first_inner: next_payload,
                data: r.rest().to_vec(),
            }),
            PayloadType::CONFIGURATION => Self::Configuration(Configuration::decode(r)?),
            PayloadType::EAP => Self::Eap(Eap(r.rest().to_vec())),
            PayloadType::ENCRYPTED_FRAGMENT => {
                let number = r.u16("fragment number")?;
                let total = r.u16("total fragments")?;
                // RFC 7383 section 2.5: numbers start at 1 and never exceed the total.
                if number == 0 || number > total {
                    return Err(WireError::new(
                        r.offset().saturating_sub(4),
                        WireErrorKind::InvalidValue {
                            field: "fragment number",
                            value: u64::from(number),
                        },
                    ));
                }
                Self::EncryptedFragment(EncryptedFragment {
                    first_inner: next_payload,
                    number,
                    total,
                    data: r.rest().to_vec(),
                })
            }
            _ => return Ok(None),
        };
        r.finish("payload body")?;
        Ok(Some(body))
    }

    /// The body's encoded length, validating everything the writer relies on.
    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        Ok(match self {
            Self::SecurityAssociation(sa) => sa.body_len()?,
            Self::KeyExchange(ke) => ke.data.len().saturating_add(4),
            Self::IdInitiator(id) | Self::IdResponder(id) => id.data.len().saturating_add(4),
            Self::Certificate(c) => c.data.len().saturating_add(1),
            Self::CertificateRequest(c) => c.data.len().saturating_add(1),
            Self::Auth(a) => a.data.len().saturating_add(4),
            Self::Nonce(n) => {
                if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&n.0.len()) {
                    return Err(EncodeError::Invalid {
                        field: "nonce",
                        reason: "must be 16 to 256 octets",
                    });
                }
                n.0.len()
            }
            Self::Notify(n) => {
                u8_count("notify SPI octets", n.spi.len())?;
                n.spi.len().saturating_add(4).saturating_add(n.data.len())
            }
            Self::Delete(d) => d.body_len()?,
            Self::VendorId(v) => v.0.len(),
            Self::TsInitiator(ts) | Self::TsResponder(ts) => ts.body_len()?,
            Self::Encrypted(e) => e.data.len(),
            Self::Configuration(c) => c.body_len()?,
            Self::Eap(e) => e.0.len(),
            Self::EncryptedFragment(f) => {
                if f.number == 0 || f.number > f.total {
                    return Err(EncodeError::Invalid {
                        field: "fragment number",
                        reason: "must be between 1 and the total",
                    });
                }
                f.data.len().saturating_add(4)
            }
            Self::Unknown(u) => {
                if u.payload_type.is_known() || u.payload_type == PayloadType::NONE {
                    return Err(EncodeError::Invalid {
                        field: "unknown payload type",
                        reason: "the type has a typed body",
                    });
                }
                u.data.len()
            }
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::SecurityAssociation(sa) => sa.write(out),
            Self::KeyExchange(ke) => {
                out.extend_from_slice(&ke.group.0.to_be_bytes());
                out.extend_from_slice(&ke.reserved.to_be_bytes());
                out.extend_from_slice(&ke.data);
            }
            Self::IdInitiator(id) | Self::IdResponder(id) => {
                out.push(id.id_type.0);
                out.extend_from_slice(&id.reserved);
                out.extend_from_slice(&id.data);
            }
            Self::Certificate(c) => {
                out.push(c.encoding.0);
                out.extend_from_slice(&c.data);
            }
            Self::CertificateRequest(c) => {
                out.push(c.encoding.0);
                out.extend_from_slice(&c.data);
            }
            Self::Auth(a) => {
                out.push(a.method.0);
                out.extend_from_slice(&a.reserved);
                out.extend_from_slice(&a.data);
            }
            Self::Nonce(n) => out.extend_from_slice(&n.0),
            Self::Notify(n) => {
                out.push(n.protocol.0);
                out.push(n.spi.len() as u8);
                out.extend_from_slice(&n.notify_type.0.to_be_bytes());
                out.extend_from_slice(&n.spi);
                out.extend_from_slice(&n.data);
            }
            Self::Delete(d) => d.write(out),
            Self::VendorId(v) => out.extend_from_slice(&v.0),
            Self::TsInitiator(ts) | Self::TsResponder(ts) => ts.write(out),
            Self::Encrypted(e) => out.extend_from_slice(&e.data),
            Self::Configuration(c) => c.write(out),
            Self::Eap(e) => out.extend_from_slice(&e.0),
            Self::EncryptedFragment(f) => {
                out.extend_from_slice(&f.number.to_be_bytes());
                out.extend_from_slice(&f.total.to_be_bytes());
                out.extend_from_slice(&f.data);
            }
            Self::Unknown(u) => out.extend_from_slice(&u.data),
        }
    }

    /// The Next Payload value this payload's own header carries when it is last in a chain:
    /// the first inner type for SK/SKF, "none" for everything else.
    pub(crate) fn trailing_next(&self) -> PayloadType {
        match self {
            Self::Encrypted(e) => e.first_inner,
            Self::EncryptedFragment(f) => f.first_inner,
            _ => PayloadType::NONE,
        }
    }
}

impl Payload {
    /// Encoded size including the 4-octet generic header.
    pub(crate) fn encoded_len(&self) -> Result<usize, EncodeError> {
        if self.reserved > 0x7f {
            return Err(EncodeError::Invalid {
                field: "generic header reserved bits",
                reason: "only seven bits",
            });
        }
        let len = self.body.body_len()?.saturating_add(4);
        u16_len("payload", len)?;
        Ok(len)
    }

    /// Writes the payload; `encoded_len` must have succeeded.
    pub(crate) fn write(&self, next: PayloadType, len: usize, out: &mut Vec<u8>) {
        out.push(next.0);
        out.push(if self.critical { 0x80 } else { 0 } | self.reserved);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        self.body.write(out);
    }
}

impl Notify {
    /// A notify about no particular SA.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    /// The hash algorithms of a SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 section 4),
    /// or `None` if this is another notify or its data has an odd length.
    pub fn signature_hash_algorithms(&self) -> Option<Vec<HashAlgorithm>> {
        if self.notify_type != NotifyType::SIGNATURE_HASH_ALGORITHMS
            || !self.data.len().is_multiple_of(2)
        {
            return None;
        }
        Some(
            self.data
                .as_chunks::<2>()
                .0
                .iter()
                .map(|c| HashAlgorithm(u16::from_be_bytes(*c)))
                .collect(),
        )
    }
}

impl Delete {
    /// Deletes the IKE SA the message travels in.
    pub fn ike() -> Self {
        Self {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Deletes ESP SAs by their (inbound, from the sender's view) SPIs.
    pub fn esp(spis: &[u32]) -> Self {
        Self {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let protocol = ProtocolId(r.u8("delete protocol id")?);
        let spi_size = r.u8("delete SPI size")?;
        let count_offset = r.offset();
        let count = usize::from(r.u16("number of SPIs")?);
        if spi_size == 0 && count != 0 {
            return Err(WireError::new(
                count_offset,
                WireErrorKind::CountMismatch {
                    what: "SPIs of size zero",
                    declared: count,
                    found: 0,
                },
            ));
        }
        // Bounded by the payload length: each SPI consumes spi_size > 0 octets.
        let mut spis = Vec::new();
        for _ in 0..count {
            spis.push(r.bytes(usize::from(spi_size), "SPI")?.to_vec());
        }
        Ok(Self {
            protocol,
            spi_size,
            spis,
        })
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        if self.spis.len() > usize::from(u16::MAX) {
            return Err(EncodeError::TooMany {
                what: "SPIs",
                count: self.spis.len(),
                max: usize::from(u16::MAX),
            });
        }
        if self
            .spis
            .iter()
            .any(|s| s.len() != usize::from(self.spi_size))
        {
            return Err(EncodeError::Invalid {
                field: "delete SPI",
                reason: "length differs from the SPI size",
            });
        }
        if self.spi_size == 0 && !self.spis.is_empty() {
            return Err(EncodeError::Invalid {
                field: "delete SPI",
                reason: "SPIs of size zero",
            });
        }
        Ok(self
            .spis
            .len()
            .saturating_mul(usize::from(self.spi_size))
            .saturating_add(4))
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.protocol.0);
        out.push(self.spi_size);
        out.extend_from_slice(&(self.spis.len() as u16).to_be_bytes());
        for spi in &self.spis {
            out.extend_from_slice(spi);
        }
    }
}

impl Configuration {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let cfg_type = CfgType(r.u8("CFG type")?);
        let reserved = r.array::<3>("CP reserved")?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            if attributes.len() >= MAX_CONFIG_ATTRIBUTES {
                return Err(r.error(WireErrorKind::LimitExceeded {
                    what: "configuration attributes",
                    limit: MAX_CONFIG_ATTRIBUTES,
                }));
            }
            let kind = r.u16("attribute type")?;
            let len = usize::from(r.u16("attribute length")?);
            attributes.push(ConfigAttribute {
                reserved_bit: kind & 0x8000 != 0,
                attribute_type: ConfigAttributeType(kind & 0x7fff),
                value: r.bytes(len, "attribute value")?.to_vec(),
            });
        }
        Ok(Self {
            cfg_type,
            attributes,
            reserved,
        })
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        limit(
            "configuration attributes",
            self.attributes.len(),
            MAX_CONFIG_ATTRIBUTES,
        )?;
        let mut len = 4;
        for a in &self.attributes {
            if a.attribute_type.0 > 0x7fff {
                return Err(EncodeError::Invalid {
                    field: "configuration attribute type",
                    reason: "must fit in 15 bits",
                });
            }
            let value = usize::from(u16_len("configuration attribute", a.value.len())?);
            len = value.saturating_add(4).saturating_add(len);
        }
        Ok(len)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.cfg_type.0);
        out.extend_from_slice(&self.reserved);
        for a in &self.attributes {
            let kind = a.attribute_type.0 | if a.reserved_bit { 0x8000 } else { 0 };
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&(a.value.len() as u16).to_be_bytes());
            out.extend_from_slice(&a.value);
        }
    }
}

impl Eap {
    /// EAP Code (1 Request, 2 Response, 3 Success, 4 Failure), if present.
    pub fn code(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The EAP method type and vendor id as strongSwan reads them: the Type octet of a
    /// Request/Response, or for Expanded Types (254) the 32-bit type with a 24-bit vendor id.
    /// Returns (0, 0) when there is no type.
    pub fn method(&self) -> (u32, u32) {
        match self.0.get(4) {
            Some(&254) => match (self.0.get(4..8), self.0.get(8..12)) {
                (Some(v), Some(t)) => (be_u32(t), be_u32(v) & 0x00ff_ffff),
                _ => (0, 0),
            },
            Some(&t) => (u32::from(t), 0),
            None => (0, 0),
        }
    }
}

/// A 4-octet big-endian field (0 if `b` is not 4 octets, which callers rule out).
fn be_u32(b: &[u8]) -> u32 {
    b.try_into().map(u32::from_be_bytes).unwrap_or(0)
}
