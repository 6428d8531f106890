//! Typed decode and encode errors.
//!
//! Contract: every decoding failure is a [`WireError`] carrying the byte offset (from the start
//! of the buffer handed to the decoder: the IKE header for messages, the plaintext for inner
//! chains) and a [`WireErrorKind`] saying what was wrong. Encoding fails only on values that
//! cannot be represented on the wire ([`EncodeError`]). Neither type carries payload bytes, so
//! both are safe to log.

use super::codes::PayloadType;

/// A decoding failure at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct WireError {
    /// Offset of the offending field from the start of the decoded buffer.
    pub offset: usize,
    /// What was wrong.
    pub kind: WireErrorKind,
}

impl WireError {
    pub(crate) const fn new(offset: usize, kind: WireErrorKind) -> Self {
        Self { offset, kind }
    }

    /// The payload type to report in UNSUPPORTED_CRITICAL_PAYLOAD, if that is the failure.
    pub const fn unsupported_critical_payload(&self) -> Option<PayloadType> {
        match self.kind {
            WireErrorKind::UnsupportedCriticalPayload { payload_type } => Some(payload_type),
            _ => None,
        }
    }
}

/// What was wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireErrorKind {
    /// A field or structure runs past the end of its enclosing buffer.
    #[error("truncated {what}: needs {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// The IKE header's Length differs from the size of the datagram.
    #[error("message length field says {declared}, datagram has {actual} bytes")]
    MessageLengthMismatch { declared: u32, actual: usize },
    /// The major version is not 2 (answer INVALID_MAJOR_VERSION).
    #[error("unsupported IKE major version {major}")]
    UnsupportedMajorVersion { major: u8 },
    /// A length field is smaller than its structure's fixed part.
    #[error("{what} length {length} is below the minimum {minimum}")]
    LengthTooShort {
        what: &'static str,
        length: usize,
        minimum: usize,
    },
    /// Bytes left over after the last element of a chain or list.
    #[error("{count} unexpected trailing bytes after {what}")]
    TrailingBytes { what: &'static str, count: usize },
    /// An unrecognised payload had its critical bit set (answer UNSUPPORTED_CRITICAL_PAYLOAD).
    #[error("unsupported critical payload {payload_type}")]
    UnsupportedCriticalPayload { payload_type: PayloadType },
    /// A payload that cannot appear here (an SK/SKF payload inside an encrypted chain).
    #[error("payload {payload_type} not allowed here")]
    UnexpectedPayload { payload_type: PayloadType },
    /// A count field disagrees with what follows it.
    #[error("{what}: count field says {declared}, found {found}")]
    CountMismatch {
        what: &'static str,
        declared: usize,
        found: usize,
    },
    /// A resource limit was exceeded (defence against crafted messages).
    #[error("more than {limit} {what}")]
    LimitExceeded { what: &'static str, limit: usize },
    /// A field holds a value its structure does not allow.
    #[error("invalid {field} value {value}")]
    InvalidValue { field: &'static str, value: u64 },
}

/// A value that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A structure is longer than its length field can express.
    #[error("{what} is {length} bytes, longer than its length field allows ({max})")]
    TooLong {
        what: &'static str,
        length: usize,
        max: usize,
    },
    /// More elements than a count field can express.
    #[error("{count} {what} do not fit in the count field (max {max})")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    /// A field holds a value the wire format cannot carry.
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}
