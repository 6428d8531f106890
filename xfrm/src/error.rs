//! Typed errors. A kernel refusal carries the errno, the kernel's own extended-ack text
//! and the object it concerned (SA by SPI and direction, policy by direction and selector),
//! so that a log line alone says what failed and why.

use std::fmt;
use std::net::IpAddr;

use crate::types::{OffloadMode, PolicyDirection, SaDirection, Spi, TrafficSelector};

/// What a request was about, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrmObject {
    /// An SA.
    Sa {
        /// SPI.
        spi: Spi,
        /// Direction relative to us.
        direction: SaDirection,
        /// Outer source address.
        src: IpAddr,
        /// Outer destination address.
        dst: IpAddr,
    },
    /// An SA named by its identity only (GETSA/DELSA).
    SaById {
        /// SPI.
        spi: Spi,
        /// Outer destination address.
        dst: IpAddr,
    },
    /// A policy.
    Policy {
        /// Direction.
        direction: PolicyDirection,
        /// Selector.
        selector: TrafficSelector,
    },
    /// An SPI allocation.
    SpiAllocation {
        /// Peer (source of the inbound SA).
        src: IpAddr,
        /// Us (destination of the inbound SA).
        dst: IpAddr,
    },
    /// Something else (socket set-up, dumps).
    Other(&'static str),
}

impl fmt::Display for XfrmObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XfrmObject::Sa {
                spi,
                direction,
                src,
                dst,
            } => write!(f, "SA {spi} ({direction}, {src} -> {dst})"),
            XfrmObject::SaById { spi, dst } => write!(f, "SA {spi} (dst {dst})"),
            XfrmObject::Policy {
                direction,
                selector,
            } => write!(f, "{direction} policy {selector}"),
            XfrmObject::SpiAllocation { src, dst } => {
                write!(f, "SPI allocation for {src} -> {dst}")
            }
            XfrmObject::Other(what) => f.write_str(what),
        }
    }
}

/// A malformed netlink message (the reader refuses rather than panics).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than a fixed structure needs.
    #[error("{what}: need {need} bytes, have {have}")]
    Truncated {
        /// Structure being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A length field points outside its buffer or below its header.
    #[error("{what}: bad length {length} (buffer {available})")]
    BadLength {
        /// Structure being read.
        what: &'static str,
        /// The length field.
        length: usize,
        /// Bytes available.
        available: usize,
    },
    /// A message type the caller did not expect.
    #[error("unexpected netlink message type {0:#06x}")]
    UnexpectedType(u16),
    /// The reply stream ended without the expected answer.
    #[error("no reply from the kernel")]
    MissingReply,
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum XfrmError {
    /// The kernel refused a request.
    #[error("kernel refused {object}: {}{} (errno {errno}{})",
        errno_text(*.errno),
        .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(),
        .bad_attribute_offset.map(|o| format!(", attribute at offset {o}")).unwrap_or_default())]
    Kernel {
        /// The object concerned.
        object: XfrmObject,
        /// Positive errno (`EINVAL` = 22, ...).
        errno: i32,
        /// Extended-ack text, if the kernel gave one.
        message: Option<String>,
        /// Extended-ack offset of the offending attribute, if given.
        bad_attribute_offset: Option<u32>,
    },
    /// Socket-level failure.
    #[error("netlink socket ({context}): {source}")]
    Socket {
        /// What we were doing.
        context: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel's reply could not be parsed.
    #[error("malformed kernel reply: {0}")]
    Parse(#[from] ParseError),
    /// `hw_offload = crypto/packet` on a device without the needed feature.
    #[error("hardware offload ({wanted}) not possible on {device}: {reason}")]
    OffloadUnsupported {
        /// Device name.
        device: String,
        /// Mode asked for.
        wanted: OffloadMode,
        /// Why (e.g. "feature esp-hw-offload is off [fixed]").
        reason: String,
    },
    /// The kernel accepted the SA but does not report the requested offload in force.
    #[error("{object}: asked for {wanted} offload but the kernel reports {actual}")]
    OffloadNotApplied {
        /// The SA.
        object: XfrmObject,
        /// Mode asked for.
        wanted: OffloadMode,
        /// Mode read back.
        actual: OffloadMode,
    },
    /// No interface holds the address (needed to pick the offload device).
    #[error("no interface holds local address {0}")]
    NoInterfaceForAddress(IpAddr),
    /// Interface name unknown.
    #[error("no such interface: {0}")]
    NoSuchInterface(String),
    /// The request itself is inconsistent (caught before the kernel sees it).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A failed install whose rollback also failed: objects may be left behind.
    #[error("{cause}; rollback left objects behind: {leftovers}")]
    RollbackFailed {
        /// The original failure.
        cause: Box<XfrmError>,
        /// Description of what could not be removed.
        leftovers: String,
    },
}

/// The C library's text for an errno, without std's " (os error N)" suffix.
pub fn errno_text(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

impl XfrmError {
    /// The errno of a kernel refusal, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            XfrmError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// True if the kernel said the object does not exist (`ESRCH`/`ENOENT`).
    pub fn is_not_found(&self) -> bool {
        matches!(self.errno(), Some(libc::ESRCH) | Some(libc::ENOENT))
    }

    /// True for a receive on a non-blocking socket with nothing queued (or a timeout).
    pub fn is_would_block(&self) -> bool {
        matches!(self, XfrmError::Socket { source, .. }
            if matches!(source.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
    }

    /// True if the kernel said the object already exists (`EEXIST`).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }
}
