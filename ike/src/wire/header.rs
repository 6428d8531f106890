//! The IKE header (RFC 7296 section 3.1).
//!
//! Contract: [`Header::decode`] reads the fixed 28 bytes of any IKE header whatever its version,
//! so the engine can look up the SA, or answer INVALID_MAJOR_VERSION, before a full decode. The
//! owned [`Header`] leaves out Next Payload and Length: the encoder derives both from the
//! payloads, so they can never disagree with them. Reserved flag bits are kept as received.

use core::fmt;

use super::codes::{ExchangeType, PayloadType};
use super::error::WireError;
use super::reader::Reader;

/// Size of the IKE header.
pub const HEADER_LEN: usize = 28;

/// An IKE SA SPI (8 octets, kept in network byte order as a `u64`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IkeSpi(pub u64);

impl IkeSpi {
    /// The all-zero SPI a responder SPI has before IKE_SA_INIT is answered.
    pub const ZERO: Self = Self(0);

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

/// strongSwan prints SPIs as 16 lowercase hex digits.
impl fmt::Display for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for IkeSpi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IkeSpi({:016x})", self.0)
    }
}

/// The Flags octet; bits other than I, V and R are reserved and kept as received.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// I: set by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// V: the sender can speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// R: this message is a response.
    pub const RESPONSE: u8 = 0x20;

    /// Builds flags from the three meaningful bits.
    pub const fn new(initiator: bool, response: bool) -> Self {
        let mut bits = 0;
        if initiator {
            bits |= Self::INITIATOR;
        }
        if response {
            bits |= Self::RESPONSE;
        }
        Self(bits)
    }

    pub const fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }

    pub const fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }

    pub const fn higher_version(self) -> bool {
        self.0 & Self::VERSION != 0
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags(")?;
        let mut sep = "";
        for (bit, name) in [
            (Self::INITIATOR, "I"),
            (Self::VERSION, "V"),
            (Self::RESPONSE, "R"),
        ] {
            if self.0 & bit != 0 {
                write!(f, "{sep}{name}")?;
                sep = "|";
            }
        }
        let reserved = self.0 & !(Self::INITIATOR | Self::VERSION | Self::RESPONSE);
        if reserved != 0 {
            write!(f, "{sep}reserved={reserved:#04x}")?;
        }
        write!(f, ")")
    }
}

/// The IKE header without its derived fields (Next Payload, Length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub major_version: u8,
    pub minor_version: u8,
    pub exchange: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
}

/// All 28 header fields exactly as on the wire, including the derived ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    pub header: Header,
    pub next_payload: PayloadType,
    pub length: u32,
}

impl Header {
    /// An IKEv2.0 header.
    pub const fn new(
        spi_i: IkeSpi,
        spi_r: IkeSpi,
        exchange: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        Self {
            spi_i,
            spi_r,
            major_version: 2,
            minor_version: 0,
            exchange,
            flags,
            message_id,
        }
    }

    /// Whether this is a request (the R flag is clear).
    pub const fn is_request(&self) -> bool {
        !self.flags.response()
    }

    /// Reads the fixed header of any IKE version; checks nothing but its size.
    pub fn decode(bytes: &[u8]) -> Result<RawHeader, WireError> {
        let mut r = Reader::new(bytes, 0);
        Self::read(&mut r)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<RawHeader, WireError> {
        let spi_i = IkeSpi(r.u64("initiator SPI")?);
        let spi_r = IkeSpi(r.u64("responder SPI")?);
        let next_payload = PayloadType(r.u8("next payload")?);
        let version = r.u8("version")?;
        let exchange = ExchangeType(r.u8("exchange type")?);
        let flags = Flags(r.u8("flags")?);
        let message_id = r.u32("message id")?;
        let length = r.u32("length")?;
        Ok(RawHeader {
            header: Header {
                spi_i,
                spi_r,
                major_version: version >> 4,
                minor_version: version & 0x0f,
                exchange,
                flags,
                message_id,
            },
            next_payload,
            length,
        })
    }

    /// Writes the 28 header bytes with the given derived fields.
    pub(crate) fn write(&self, next_payload: PayloadType, length: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_bytes());
        out.extend_from_slice(&self.spi_r.to_bytes());
        out.push(next_payload.0);
        out.push((self.major_version << 4) | (self.minor_version & 0x0f));
        out.push(self.exchange.0);
        out.push(self.flags.0);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_reports_truncation() {
        let header = Header::new(
            IkeSpi(0x0123_4567_89ab_cdef),
            IkeSpi::ZERO,
            ExchangeType::IKE_SA_INIT,
            Flags::new(true, false),
            0,
        );
        let mut out = Vec::new();
        header.write(PayloadType::SECURITY_ASSOCIATION, 240, &mut out);
        assert_eq!(out.len(), HEADER_LEN);
        let raw = Header::decode(&out).unwrap();
        assert_eq!(raw.header, header);
        assert_eq!(raw.next_payload, PayloadType::SECURITY_ASSOCIATION);
        assert_eq!(raw.length, 240);
        assert_eq!(out[17], 0x20, "version octet is major 2, minor 0");
        assert_eq!(out[19], 0x08, "only the I flag");
        let err = Header::decode(&out[..27]).unwrap_err();
        assert_eq!(err.offset, 24);
        assert_eq!(header.spi_i.to_string(), "0123456789abcdef");
        assert_eq!(format!("{:?}", Flags(0x29)), "Flags(I|R|reserved=0x01)");
    }
}
