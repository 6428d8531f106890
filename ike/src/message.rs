//! The engine's message model and a minimal codec for it.
//!
//! Contract: [`Message`] is a decoded IKEv2 message with its payloads in order (the contents of
//! an SK payload are listed as plain payloads after decryption). [`encode`] writes a message,
//! sealing everything into an SK payload when given keys; [`decode`] parses and, for encrypted
//! messages, verifies and decrypts. Decoding never panics and never trusts a length field:
//! every length is checked against the bytes actually present.
//!
//! This codec is a local adapter covering what the engine sends and receives; the full codec
//! (fragments, every payload, charon log summaries) is `crate::wire`, which replaces it.

use std::net::IpAddr;

use thiserror::Error;

use crate::config::Identity;
use crate::proposal::{Proposal, Selected, Transform};
use crate::suite::{self, CryptoError, Secret};
use crate::ts::TrafficSelector;

/// Exchange types (RFC 7296 3.1).
pub mod exchange {
    /// IKE_SA_INIT.
    pub const IKE_SA_INIT: u8 = 34;
    /// IKE_AUTH.
    pub const IKE_AUTH: u8 = 35;
    /// CREATE_CHILD_SA.
    pub const CREATE_CHILD_SA: u8 = 36;
    /// INFORMATIONAL.
    pub const INFORMATIONAL: u8 = 37;
}

/// Payload type numbers (RFC 7296 3.2).
pub mod payload_type {
    /// No next payload.
    pub const NONE: u8 = 0;
    /// Security Association.
    pub const SA: u8 = 33;
    /// Key Exchange.
    pub const KE: u8 = 34;
    /// Identification - Initiator.
    pub const IDI: u8 = 35;
    /// Identification - Responder.
    pub const IDR: u8 = 36;
    /// Certificate.
    pub const CERT: u8 = 37;
    /// Certificate Request.
    pub const CERTREQ: u8 = 38;
    /// Authentication.
    pub const AUTH: u8 = 39;
    /// Nonce.
    pub const NONCE: u8 = 40;
    /// Notify.
    pub const NOTIFY: u8 = 41;
    /// Delete.
    pub const DELETE: u8 = 42;
    /// Vendor ID.
    pub const VENDOR_ID: u8 = 43;
    /// Traffic Selector - Initiator.
    pub const TSI: u8 = 44;
    /// Traffic Selector - Responder.
    pub const TSR: u8 = 45;
    /// Encrypted and Authenticated.
    pub const SK: u8 = 46;
    /// Encrypted and Authenticated Fragment (RFC 7383).
    pub const SKF: u8 = 53;
}

/// Notify message types used by the engine (IANA "IKEv2 Notify Message Types").
pub mod notify {
    /// UNSUPPORTED_CRITICAL_PAYLOAD.
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: u16 = 1;
    /// INVALID_IKE_SPI.
    pub const INVALID_IKE_SPI: u16 = 4;
    /// INVALID_MAJOR_VERSION.
    pub const INVALID_MAJOR_VERSION: u16 = 5;
    /// INVALID_SYNTAX.
    pub const INVALID_SYNTAX: u16 = 7;
    /// INVALID_MESSAGE_ID.
    pub const INVALID_MESSAGE_ID: u16 = 9;
    /// INVALID_SPI.
    pub const INVALID_SPI: u16 = 11;
    /// NO_PROPOSAL_CHOSEN.
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    /// INVALID_KE_PAYLOAD.
    pub const INVALID_KE_PAYLOAD: u16 = 17;
    /// AUTHENTICATION_FAILED.
    pub const AUTHENTICATION_FAILED: u16 = 24;
    /// SINGLE_PAIR_REQUIRED.
    pub const SINGLE_PAIR_REQUIRED: u16 = 34;
    /// NO_ADDITIONAL_SAS.
    pub const NO_ADDITIONAL_SAS: u16 = 35;
    /// TS_UNACCEPTABLE.
    pub const TS_UNACCEPTABLE: u16 = 38;
    /// TEMPORARY_FAILURE.
    pub const TEMPORARY_FAILURE: u16 = 43;
    /// CHILD_SA_NOT_FOUND.
    pub const CHILD_SA_NOT_FOUND: u16 = 44;
    /// INITIAL_CONTACT.
    pub const INITIAL_CONTACT: u16 = 16384;
    /// NAT_DETECTION_SOURCE_IP.
    pub const NAT_DETECTION_SOURCE_IP: u16 = 16388;
    /// NAT_DETECTION_DESTINATION_IP.
    pub const NAT_DETECTION_DESTINATION_IP: u16 = 16389;
    /// COOKIE.
    pub const COOKIE: u16 = 16390;
    /// USE_TRANSPORT_MODE.
    pub const USE_TRANSPORT_MODE: u16 = 16391;
    /// REKEY_SA.
    pub const REKEY_SA: u16 = 16393;
    /// ESP_TFC_PADDING_NOT_SUPPORTED.
    pub const ESP_TFC_PADDING_NOT_SUPPORTED: u16 = 16394;
    /// AUTH_LIFETIME.
    pub const AUTH_LIFETIME: u16 = 16403;
    /// MULTIPLE_AUTH_SUPPORTED.
    pub const MULTIPLE_AUTH_SUPPORTED: u16 = 16404;
    /// REDIRECT_SUPPORTED.
    pub const REDIRECT_SUPPORTED: u16 = 16406;
    /// EAP_ONLY_AUTHENTICATION.
    pub const EAP_ONLY_AUTHENTICATION: u16 = 16417;
    /// CHILDLESS_IKEV2_SUPPORTED (RFC 6023).
    pub const CHILDLESS_IKEV2_SUPPORTED: u16 = 16418;
    /// IKEV2_MESSAGE_ID_SYNC_SUPPORTED.
    pub const MSG_ID_SYNC_SUPPORTED: u16 = 16420;
    /// IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383).
    pub const FRAGMENTATION_SUPPORTED: u16 = 16430;
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427).
    pub const SIGNATURE_HASH_ALGORITHMS: u16 = 16431;

    /// strongSwan's short name for a notify, as in its `[ENC]` log lines.
    pub fn short_name(kind: u16) -> String {
        match kind {
            UNSUPPORTED_CRITICAL_PAYLOAD => "UNSUPP_CRIT".into(),
            INVALID_IKE_SPI => "INVAL_IKE_SPI".into(),
            INVALID_SYNTAX => "INVAL_SYN".into(),
            INVALID_MESSAGE_ID => "INVAL_MID".into(),
            INVALID_SPI => "INVAL_SPI".into(),
            NO_PROPOSAL_CHOSEN => "NO_PROP".into(),
            INVALID_KE_PAYLOAD => "INVAL_KE".into(),
            AUTHENTICATION_FAILED => "AUTH_FAILED".into(),
            NO_ADDITIONAL_SAS => "NO_ADD_SAS".into(),
            TS_UNACCEPTABLE => "TS_UNACCEPT".into(),
            TEMPORARY_FAILURE => "TEMP_FAIL".into(),
            CHILD_SA_NOT_FOUND => "CHILD_SA_NOT_FOUND".into(),
            INITIAL_CONTACT => "INIT_CONTACT".into(),
            NAT_DETECTION_SOURCE_IP => "NATD_S_IP".into(),
            NAT_DETECTION_DESTINATION_IP => "NATD_D_IP".into(),
            COOKIE => "COOKIE".into(),
            USE_TRANSPORT_MODE => "USE_TRANSP".into(),
            REKEY_SA => "REKEY_SA".into(),
            ESP_TFC_PADDING_NOT_SUPPORTED => "ESP_TFC_PAD_N".into(),
            AUTH_LIFETIME => "AUTH_LFT".into(),
            MULTIPLE_AUTH_SUPPORTED => "MULT_AUTH".into(),
            REDIRECT_SUPPORTED => "REDIR_SUP".into(),
            EAP_ONLY_AUTHENTICATION => "EAP_ONLY".into(),
            CHILDLESS_IKEV2_SUPPORTED => "CHDLESS_SUP".into(),
            MSG_ID_SYNC_SUPPORTED => "MSG_ID_SYN_SUP".into(),
            FRAGMENTATION_SUPPORTED => "FRAG_SUP".into(),
            SIGNATURE_HASH_ALGORITHMS => "HASH_ALG".into(),
            other => format!("{other}"),
        }
    }
}

/// Header flags.
pub mod flags {
    /// Sent by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// This is a response.
    pub const RESPONSE: u8 = 0x20;
}

/// The IKE header (RFC 7296 3.1), lengths excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI (0 in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Exchange type.
    pub exchange: u8,
    /// Flags ([`flags`]).
    pub flags: u8,
    /// Message ID.
    pub message_id: u32,
}

impl Header {
    /// Whether the response flag is set.
    pub fn is_response(&self) -> bool {
        self.flags & flags::RESPONSE != 0
    }
    /// Whether the sender is the original initiator.
    pub fn from_initiator(&self) -> bool {
        self.flags & flags::INITIATOR != 0
    }
}

/// A Notify payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol id (0 for IKE-wide notifies).
    pub protocol: u8,
    /// SPI (empty for most).
    pub spi: Vec<u8>,
    /// Notify type.
    pub kind: u16,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify without SPI.
    pub fn new(kind: u16, data: Vec<u8>) -> Self {
        Notify {
            protocol: 0,
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
        /// Protocol (1 IKE, 3 ESP).
        protocol: u8,
        /// SPIs (empty for IKE).
        spis: Vec<Vec<u8>>,
    },
    /// TSi.
    TsI(Vec<TrafficSelector>),
    /// TSr.
    TsR(Vec<TrafficSelector>),
    /// Certificate request (kept opaque).
    CertReq(Vec<u8>),
    /// Vendor ID.
    VendorId(Vec<u8>),
    /// A payload this codec does not interpret (non-critical).
    Unknown {
        /// Payload type.
        kind: u8,
        /// Body.
        body: Vec<u8>,
    },
}

impl Payload {
    fn kind(&self) -> u8 {
        use payload_type as pt;
        match self {
            Payload::Sa(_) => pt::SA,
            Payload::Ke { .. } => pt::KE,
            Payload::IdI(_) => pt::IDI,
            Payload::IdR(_) => pt::IDR,
            Payload::Auth { .. } => pt::AUTH,
            Payload::Nonce(_) => pt::NONCE,
            Payload::Notify(_) => pt::NOTIFY,
            Payload::Delete { .. } => pt::DELETE,
            Payload::TsI(_) => pt::TSI,
            Payload::TsR(_) => pt::TSR,
            Payload::CertReq(_) => pt::CERTREQ,
            Payload::VendorId(_) => pt::VENDOR_ID,
            Payload::Unknown { kind, .. } => *kind,
        }
    }

    fn short_name(&self) -> String {
        match self {
            Payload::Sa(_) => "SA".into(),
            Payload::Ke { .. } => "KE".into(),
            Payload::IdI(_) => "IDi".into(),
            Payload::IdR(_) => "IDr".into(),
            Payload::Auth { .. } => "AUTH".into(),
            Payload::Nonce(_) => "No".into(),
            Payload::Notify(n) => format!("N({})", notify::short_name(n.kind)),
            Payload::Delete { .. } => "D".into(),
            Payload::TsI(_) => "TSi".into(),
            Payload::TsR(_) => "TSr".into(),
            Payload::CertReq(_) => "CERTREQ".into(),
            Payload::VendorId(_) => "V".into(),
            Payload::Unknown { kind, .. } => format!("U({kind})"),
        }
    }
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
    pub fn notify(&self, kind: u16) -> Option<&Notify> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind == kind => Some(n),
            _ => None,
        })
    }

    /// The first error notify (type below 16384), if any.
    pub fn error_notify(&self) -> Option<&Notify> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.kind < 16384 => Some(n),
            _ => None,
        })
    }

    /// charon's `[ENC]` summary: `IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) ]`.
    pub fn summary(&self) -> String {
        let ex = match self.header.exchange {
            exchange::IKE_SA_INIT => "IKE_SA_INIT".to_string(),
            exchange::IKE_AUTH => "IKE_AUTH".to_string(),
            exchange::CREATE_CHILD_SA => "CREATE_CHILD_SA".to_string(),
            exchange::INFORMATIONAL => "INFORMATIONAL".to_string(),
            other => format!("EXCHANGE_{other}"),
        };
        let dir = if self.header.is_response() {
            "response"
        } else {
            "request"
        };
        let names: Vec<String> = self.payloads.iter().map(Payload::short_name).collect();
        format!(
            "{ex} {dir} {} [ {} ]",
            self.header.message_id,
            names.join(" ")
        )
    }
}

/// Why a datagram could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its headers or lengths claim, or inconsistent lengths.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// Not IKEv2.
    #[error("unsupported IKE version {0:#x}")]
    Version(u8),
    /// An unknown payload with the critical bit set.
    #[error("unsupported critical payload {0}")]
    UnsupportedCritical(u8),
    /// An encrypted message arrived but no keys exist yet.
    #[error("encrypted payload without keys")]
    NoKeys,
    /// The SK payload failed verification or decryption.
    #[error("SK payload verification failed")]
    Integrity,
    /// Fragments (SKF) are not reassembled by this codec.
    #[error("fragmented message not supported")]
    Fragmented,
}

impl From<CryptoError> for DecodeError {
    fn from(_: CryptoError) -> Self {
        DecodeError::Integrity
    }
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

const HEADER_LEN: usize = 28;

/// Reads only the header of a datagram (for dispatching before any keys are known).
pub fn peek_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::Malformed("short header"));
    }
    let version = bytes[17];
    if version >> 4 != 2 {
        return Err(DecodeError::Version(version));
    }
    let length = u32::from_be_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    if usize::try_from(length).ok() != Some(bytes.len()) {
        return Err(DecodeError::Malformed(
            "length field disagrees with datagram",
        ));
    }
    Ok(Header {
        spi_i: u64::from_be_bytes(
            bytes[0..8]
                .try_into()
                .map_err(|_| DecodeError::Malformed("spi"))?,
        ),
        spi_r: u64::from_be_bytes(
            bytes[8..16]
                .try_into()
                .map_err(|_| DecodeError::Malformed("spi"))?,
        ),
        exchange: bytes[18],
        flags: bytes[19],
        message_id: u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
    })
}

/// Decodes a datagram; `keys` (the peer's direction) are needed if it carries an SK payload.
pub fn decode(bytes: &[u8], keys: Option<SkKeys<'_>>) -> Result<Message, DecodeError> {
    let header = peek_header(bytes)?;
    let first = bytes[16];
    let mut payloads = Vec::new();
    let mut next = first;
    let mut at = HEADER_LEN;
    while next != payload_type::NONE {
        let (kind, critical, body, following, end) = generic(bytes, at, next)?;
        if kind == payload_type::SK {
            if end != bytes.len() {
                return Err(DecodeError::Malformed("SK payload is not last"));
            }
            let keys = keys.ok_or(DecodeError::NoKeys)?;
            let plain = suite::open(keys.suite, keys.encr, keys.integ, &bytes[..at + 4], body)?;
            parse_chain(&plain, 0, following, &mut payloads)?;
            return Ok(Message { header, payloads });
        }
        if kind == payload_type::SKF {
            return Err(DecodeError::Fragmented);
        }
        payloads.push(parse_payload(kind, critical, body)?);
        next = following;
        at = end;
    }
    Ok(Message { header, payloads })
}

fn generic(buf: &[u8], at: usize, kind: u8) -> Result<(u8, bool, &[u8], u8, usize), DecodeError> {
    let hdr = buf
        .get(at..at + 4)
        .ok_or(DecodeError::Malformed("short payload header"))?;
    let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    if len < 4 {
        return Err(DecodeError::Malformed("payload length below header size"));
    }
    let body = buf
        .get(at + 4..at + len)
        .ok_or(DecodeError::Malformed("payload overruns message"))?;
    Ok((kind, hdr[1] & 0x80 != 0, body, hdr[0], at + len))
}

fn parse_chain(
    buf: &[u8],
    mut at: usize,
    mut next: u8,
    out: &mut Vec<Payload>,
) -> Result<(), DecodeError> {
    while next != payload_type::NONE {
        let (kind, critical, body, following, end) = generic(buf, at, next)?;
        if kind == payload_type::SK || kind == payload_type::SKF {
            return Err(DecodeError::Malformed("nested encrypted payload"));
        }
        out.push(parse_payload(kind, critical, body)?);
        next = following;
        at = end;
    }
    if at != buf.len() {
        return Err(DecodeError::Malformed("trailing bytes after last payload"));
    }
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(DecodeError::Malformed("length overflow"))?;
        let s = self
            .buf
            .get(self.at..end)
            .ok_or(DecodeError::Malformed("truncated payload"))?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.at.min(self.buf.len())..];
        self.at = self.buf.len();
        s
    }
}

fn parse_payload(kind: u8, critical: bool, body: &[u8]) -> Result<Payload, DecodeError> {
    use payload_type as pt;
    let mut r = Reader::new(body);
    Ok(match kind {
        pt::SA => Payload::Sa(parse_sa(body)?),
        pt::KE => {
            let group = r.u16()?;
            r.take(2)?;
            Payload::Ke {
                group,
                data: r.rest().to_vec(),
            }
        }
        pt::IDI | pt::IDR => {
            let id_kind = r.u8()?;
            r.take(3)?;
            let id = Identity {
                kind: id_kind,
                data: r.rest().to_vec(),
            };
            if kind == pt::IDI {
                Payload::IdI(id)
            } else {
                Payload::IdR(id)
            }
        }
        pt::AUTH => {
            let method = r.u8()?;
            r.take(3)?;
            Payload::Auth {
                method,
                data: r.rest().to_vec(),
            }
        }
        pt::NONCE => {
            // RFC 7296 3.9: nonces are 16 to 256 octets.
            if body.len() < 16 || body.len() > 256 {
                return Err(DecodeError::Malformed("nonce length"));
            }
            Payload::Nonce(body.to_vec())
        }
        pt::NOTIFY => {
            let protocol = r.u8()?;
            let spi_len = usize::from(r.u8()?);
            let nkind = r.u16()?;
            let spi = r.take(spi_len)?.to_vec();
            Payload::Notify(Notify {
                protocol,
                spi,
                kind: nkind,
                data: r.rest().to_vec(),
            })
        }
        pt::DELETE => {
            let protocol = r.u8()?;
            let spi_len = usize::from(r.u8()?);
            let count = usize::from(r.u16()?);
            let mut spis = Vec::new();
            for _ in 0..count {
                spis.push(r.take(spi_len)?.to_vec());
            }
            Payload::Delete { protocol, spis }
        }
        pt::TSI | pt::TSR => {
            let count = r.u8()?;
            r.take(3)?;
            let mut list = Vec::new();
            for _ in 0..count {
                let ts_type = r.u8()?;
                let protocol = r.u8()?;
                let len = usize::from(r.u16()?);
                let addr_len = match (ts_type, len) {
                    (7, 16) => 4,
                    (8, 40) => 16,
                    _ => return Err(DecodeError::Malformed("traffic selector type/length")),
                };
                let start_port = r.u16()?;
                let end_port = r.u16()?;
                let start = ip_from(r.take(addr_len)?)?;
                let end = ip_from(r.take(addr_len)?)?;
                list.push(TrafficSelector {
                    protocol,
                    start_port,
                    end_port,
                    start,
                    end,
                });
            }
            if kind == pt::TSI {
                Payload::TsI(list)
            } else {
                Payload::TsR(list)
            }
        }
        pt::CERTREQ => Payload::CertReq(body.to_vec()),
        pt::VENDOR_ID => Payload::VendorId(body.to_vec()),
        other => {
            if critical {
                return Err(DecodeError::UnsupportedCritical(other));
            }
            Payload::Unknown {
                kind: other,
                body: body.to_vec(),
            }
        }
    })
}

fn ip_from(b: &[u8]) -> Result<IpAddr, DecodeError> {
    match b.len() {
        4 => Ok(IpAddr::from(
            <[u8; 4]>::try_from(b).map_err(|_| DecodeError::Malformed("ip"))?,
        )),
        16 => Ok(IpAddr::from(
            <[u8; 16]>::try_from(b).map_err(|_| DecodeError::Malformed("ip"))?,
        )),
        _ => Err(DecodeError::Malformed("address length")),
    }
}

fn parse_sa(body: &[u8]) -> Result<Vec<Proposal>, DecodeError> {
    let mut proposals = Vec::new();
    let mut r = Reader::new(body);
    loop {
        let last = r.u8()?;
        r.take(1)?;
        let len = usize::from(r.u16()?);
        if len < 8 {
            return Err(DecodeError::Malformed("proposal length"));
        }
        let mut p = Reader::new(r.take(len - 4)?);
        let number = p.u8()?;
        let protocol = p.u8()?;
        let spi_len = usize::from(p.u8()?);
        let count = p.u8()?;
        let spi = p.take(spi_len)?.to_vec();
        let mut transforms = Vec::new();
        for _ in 0..count {
            p.take(2)?;
            let tlen = usize::from(p.u16()?);
            if tlen < 8 {
                return Err(DecodeError::Malformed("transform length"));
            }
            let mut t = Reader::new(p.take(tlen - 4)?);
            let kind = t.u8()?;
            t.take(1)?;
            let id = t.u16()?;
            let mut key_len = None;
            while t.at < t.buf.len() {
                let at_type = t.u16()?;
                if at_type & 0x8000 != 0 {
                    let v = t.u16()?;
                    if at_type & 0x7fff == 14 {
                        key_len = Some(v);
                    }
                } else {
                    let l = usize::from(t.u16()?);
                    t.take(l)?;
                }
            }
            transforms.push(Transform { kind, id, key_len });
        }
        proposals.push(Proposal {
            number,
            protocol,
            spi,
            transforms,
        });
        if last == 0 {
            break;
        }
        if last != 2 {
            return Err(DecodeError::Malformed("proposal substructure type"));
        }
    }
    Ok(proposals)
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn len16(n: usize) -> u16 {
    // Callers build payloads far below 64 KiB; saturate rather than wrap if one ever isn't.
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn encode_body(p: &Payload) -> Vec<u8> {
    let mut b = Vec::new();
    match p {
        Payload::Sa(props) => {
            for (i, prop) in props.iter().enumerate() {
                let mut pb = vec![
                    prop.number,
                    prop.protocol,
                    u8::try_from(prop.spi.len()).unwrap_or(0),
                ];
                pb.push(u8::try_from(prop.transforms.len()).unwrap_or(u8::MAX));
                pb.extend_from_slice(&prop.spi);
                for (j, t) in prop.transforms.iter().enumerate() {
                    let attr_len = if t.key_len.is_some() { 4 } else { 0 };
                    pb.push(if j + 1 == prop.transforms.len() { 0 } else { 3 });
                    pb.push(0);
                    put_u16(&mut pb, len16(8 + attr_len));
                    pb.push(t.kind);
                    pb.push(0);
                    put_u16(&mut pb, t.id);
                    if let Some(k) = t.key_len {
                        put_u16(&mut pb, 0x800e);
                        put_u16(&mut pb, k);
                    }
                }
                b.push(if i + 1 == props.len() { 0 } else { 2 });
                b.push(0);
                put_u16(&mut b, len16(pb.len() + 4));
                b.extend_from_slice(&pb);
            }
        }
        Payload::Ke { group, data } => {
            put_u16(&mut b, *group);
            put_u16(&mut b, 0);
            b.extend_from_slice(data);
        }
        Payload::IdI(id) | Payload::IdR(id) => {
            b.extend_from_slice(&[id.kind, 0, 0, 0]);
            b.extend_from_slice(&id.data);
        }
        Payload::Auth { method, data } => {
            b.extend_from_slice(&[*method, 0, 0, 0]);
            b.extend_from_slice(data);
        }
        Payload::Nonce(n) => b.extend_from_slice(n),
        Payload::Notify(n) => {
            b.push(n.protocol);
            b.push(u8::try_from(n.spi.len()).unwrap_or(0));
            put_u16(&mut b, n.kind);
            b.extend_from_slice(&n.spi);
            b.extend_from_slice(&n.data);
        }
        Payload::Delete { protocol, spis } => {
            b.push(*protocol);
            b.push(
                spis.first()
                    .map_or(0, |s| u8::try_from(s.len()).unwrap_or(0)),
            );
            put_u16(&mut b, len16(spis.len()));
            for s in spis {
                b.extend_from_slice(s);
            }
        }
        Payload::TsI(list) | Payload::TsR(list) => {
            b.extend_from_slice(&[u8::try_from(list.len()).unwrap_or(u8::MAX), 0, 0, 0]);
            for ts in list {
                let v4 = ts.is_v4();
                b.push(if v4 { 7 } else { 8 });
                b.push(ts.protocol);
                put_u16(&mut b, if v4 { 16 } else { 40 });
                put_u16(&mut b, ts.start_port);
                put_u16(&mut b, ts.end_port);
                for a in [ts.start, ts.end] {
                    match a {
                        IpAddr::V4(x) => b.extend_from_slice(&x.octets()),
                        IpAddr::V6(x) => b.extend_from_slice(&x.octets()),
                    }
                }
            }
        }
        Payload::CertReq(body) | Payload::VendorId(body) | Payload::Unknown { body, .. } => {
            b.extend_from_slice(body)
        }
    }
    b
}

fn encode_chain(payloads: &[Payload]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let body = encode_body(p);
        out.push(
            payloads
                .get(i + 1)
                .map_or(payload_type::NONE, Payload::kind),
        );
        out.push(0);
        put_u16(&mut out, len16(body.len() + 4));
        out.extend_from_slice(&body);
    }
    out
}

fn encode_header(h: &Header, first: u8, total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&h.spi_i.to_be_bytes());
    out.extend_from_slice(&h.spi_r.to_be_bytes());
    out.push(first);
    out.push(0x20);
    out.push(h.exchange);
    out.push(h.flags);
    out.extend_from_slice(&h.message_id.to_be_bytes());
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    out
}

/// Encodes a message; with `keys` (our direction) and `iv`, its payloads go into an SK payload.
pub fn encode(msg: &Message, keys: Option<(SkKeys<'_>, &[u8])>) -> Result<Vec<u8>, CryptoError> {
    let first = msg
        .payloads
        .first()
        .map_or(payload_type::NONE, Payload::kind);
    let chain = encode_chain(&msg.payloads);
    match keys {
        None => {
            let mut out = encode_header(&msg.header, first, HEADER_LEN + chain.len());
            out.extend_from_slice(&chain);
            Ok(out)
        }
        Some((k, iv)) => {
            let sealed_len = suite::sealed_len(k.suite, chain.len())?;
            let total = HEADER_LEN + 4 + sealed_len;
            let mut out = encode_header(&msg.header, payload_type::SK, total);
            out.push(first);
            out.push(0);
            put_u16(&mut out, len16(4 + sealed_len));
            let body = suite::seal(k.suite, k.encr, k.integ, iv, &out, &chain)?;
            out.extend_from_slice(&body);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::protocol;

    fn sample() -> Message {
        Message {
            header: Header {
                spi_i: 1,
                spi_r: 2,
                exchange: exchange::IKE_AUTH,
                flags: flags::INITIATOR,
                message_id: 1,
            },
            payloads: vec![
                Payload::IdI(Identity::from_text("host1")),
                Payload::Notify(Notify::new(notify::INITIAL_CONTACT, vec![])),
                Payload::Auth {
                    method: 2,
                    data: vec![5; 32],
                },
                Payload::Sa(vec![
                    Proposal::parse(protocol::ESP, "aes128gcm128-x25519-esn").unwrap(),
                ]),
                Payload::TsI(vec![
                    TrafficSelector::parse("192.168.50.1/24 [udp]").unwrap(),
                ]),
                Payload::TsR(vec![
                    TrafficSelector::parse("fd00::1/128 [udp/4789]").unwrap(),
                ]),
                Payload::Delete {
                    protocol: 3,
                    spis: vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]],
                },
                Payload::Nonce(vec![9; 32]),
                Payload::Ke {
                    group: 31,
                    data: vec![1; 32],
                },
            ],
        }
    }

    #[test]
    fn plain_and_sealed_round_trip() {
        let m = sample();
        let bytes = encode(&m, None).unwrap();
        assert_eq!(decode(&bytes, None).unwrap(), m);
        let sel = Proposal::parse(protocol::IKE, "aes128-sha256-x25519")
            .unwrap()
            .selected()
            .unwrap();
        let (ek, ak) = (Secret::new(vec![1; 16]), Secret::new(vec![2; 32]));
        let k = || SkKeys {
            suite: &sel,
            encr: &ek,
            integ: &ak,
        };
        let sealed = encode(&m, Some((k(), &[0u8; 16]))).unwrap();
        assert_eq!(decode(&sealed, Some(k())).unwrap(), m);
        assert_eq!(decode(&sealed, None), Err(DecodeError::NoKeys));
        assert!(
            m.summary()
                .starts_with("IKE_AUTH request 1 [ IDi N(INIT_CONTACT) AUTH SA")
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
                    kind: 200,
                    body: vec![1],
                }],
            },
            None,
        )
        .unwrap();
        assert!(matches!(
            decode(&bytes, None).unwrap().payloads[0],
            Payload::Unknown { kind: 200, .. }
        ));
        bytes[28 + 1] = 0x80;
        assert_eq!(
            decode(&bytes, None),
            Err(DecodeError::UnsupportedCritical(200))
        );
    }
}
