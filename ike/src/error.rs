//! Protocol errors and the one place they become NOTIFY payloads.
//!
//! Contract: every reason an exchange fails is a [`ProtocolError`] variant; [`notify_for`] is
//! the only mapping from a cause to the error notify sent to the peer. Authentication causes
//! all collapse to AUTHENTICATION_FAILED so the peer learns nothing more (RFC 7296 2.21.2).

use thiserror::Error;

use crate::message::{self, DecodeError};
use crate::suite::CryptoError;
use crate::wire::{NotifyType, PayloadType};

/// Why an exchange failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The message could not be parsed.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// An unknown payload was marked critical.
    #[error("unsupported critical payload {}", .0.0)]
    UnsupportedCritical(PayloadType),
    /// A mandatory payload is missing.
    #[error("missing {0} payload")]
    MissingPayload(&'static str),
    /// No acceptable proposal.
    #[error("no acceptable proposal")]
    NoProposalChosen,
    /// The KE payload's group differs from the selected one; carries the group we want.
    #[error("key exchange method {offered} not acceptable, requesting {wanted}")]
    InvalidKe {
        /// Group the peer used.
        offered: u16,
        /// Group we selected.
        wanted: u16,
    },
    /// The peer's key exchange value is invalid.
    #[error("invalid key exchange value")]
    InvalidKeValue,
    /// No connection matches the peer's identities.
    #[error("no matching peer config for '{0}'")]
    NoPeerConfig(String),
    /// No pre-shared key for the identities.
    #[error("no shared key found for '{local}' - '{remote}'")]
    NoSharedKey {
        /// Our identity.
        local: String,
        /// Peer identity.
        remote: String,
    },
    /// Public-key authentication failed; the text names the precise cause (expired, unknown
    /// CA, identity mismatch, ...) for logs; the peer only sees AUTHENTICATION_FAILED.
    #[error("{0}")]
    PubkeyAuth(String),
    /// The peer's certificate status needs CRLs not fetched yet (their URIs): the exchange
    /// waits for the daemon to fetch them and is then processed again. Never sent.
    #[error("waiting for CRLs from {}", .0.join(", "))]
    CrlsNeeded(Vec<String>),
    /// The AUTH payload did not verify.
    #[error("AUTH payload verification failed")]
    AuthFailed,
    /// The peer's traffic selectors do not fit any child.
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    /// Mode mismatch (e.g. we require transport mode, peer did not ask).
    #[error("IPsec mode mismatch: transport mode configured, peer negotiated tunnel mode")]
    ModeMismatch,
    /// SK payload verification failed.
    #[error("integrity check failed")]
    Integrity,
    /// A crypto primitive failed (unsupported algorithm, key derivation).
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// The referenced CHILD_SA does not exist.
    #[error("CHILD_SA not found")]
    ChildNotFound,
    /// We are busy with a colliding exchange (e.g. rekeying the same SA).
    #[error("temporary failure")]
    TemporaryFailure,
    /// This engine has handed out every IKE SA or CHILD_SA id (they are never reused).
    #[error("no unique SA ids left")]
    IdsExhausted,
    /// The peer refused with an error notify.
    #[error("peer sent error notify {}", message::notify_name(*.0))]
    PeerNotify(NotifyType),
}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::UnsupportedCritical(t) => ProtocolError::UnsupportedCritical(t),
            DecodeError::Integrity | DecodeError::NoKeys => ProtocolError::Integrity,
            // Authentic but malformed: the same answer as for an unprotected message.
            DecodeError::Verified(inner) => ProtocolError::from(*inner),
            other => ProtocolError::Malformed(other.to_string()),
        }
    }
}

impl From<CryptoError> for ProtocolError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidPublicValue => ProtocolError::InvalidKeValue,
            CryptoError::Integrity => ProtocolError::Integrity,
            other => ProtocolError::Crypto(other.to_string()),
        }
    }
}

/// The notify (type, data) to send for a failed request, or `None` when the right reaction is
/// silence (integrity failures are dropped; RFC 7296 2.21.2/2.21.3).
pub fn notify_for(err: &ProtocolError) -> Option<(NotifyType, Vec<u8>)> {
    use ProtocolError as E;
    Some(match err {
        E::Malformed(_) | E::MissingPayload(_) | E::InvalidKeValue => {
            (NotifyType::INVALID_SYNTAX, vec![])
        }
        E::UnsupportedCritical(t) => (NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0]),
        E::NoProposalChosen | E::Crypto(_) => (NotifyType::NO_PROPOSAL_CHOSEN, vec![]),
        E::InvalidKe { wanted, .. } => (
            NotifyType::INVALID_KE_PAYLOAD,
            wanted.to_be_bytes().to_vec(),
        ),
        // Which of these happened is our business only.
        E::NoPeerConfig(_)
        | E::NoSharedKey { .. }
        | E::AuthFailed
        | E::PubkeyAuth(_)
        | E::CrlsNeeded(_) => (NotifyType::AUTHENTICATION_FAILED, vec![]),
        E::TsUnacceptable => (NotifyType::TS_UNACCEPTABLE, vec![]),
        E::ModeMismatch => (NotifyType::NO_PROPOSAL_CHOSEN, vec![]),
        E::ChildNotFound => (NotifyType::CHILD_SA_NOT_FOUND, vec![]),
        E::TemporaryFailure => (NotifyType::TEMPORARY_FAILURE, vec![]),
        E::IdsExhausted => (NotifyType::NO_ADDITIONAL_SAS, vec![]),
        E::Integrity | E::PeerNotify(_) => return None,
    })
}

/// Errors returned to the caller of a command (`initiate`, `rekey`, ...).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// No connection with that name.
    #[error("no connection named '{0}'")]
    UnknownConnection(String),
    /// No child with that name in the connection.
    #[error("no child named '{0}' in connection '{1}'")]
    UnknownChild(String, String),
    /// No IKE SA / CHILD_SA with that id.
    #[error("no such SA")]
    UnknownSa,
    /// The connection has no remote address to initiate to.
    #[error("connection '{0}' has no remote address")]
    NoRemoteAddress(String),
    /// The IKE SA cannot do this in its current state.
    #[error("IKE SA is not established")]
    NotEstablished,
    /// This engine has handed out every IKE SA id (they are never reused): restart it.
    #[error("no unique IKE SA ids left")]
    IdsExhausted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_causes_are_indistinguishable_on_the_wire() {
        let causes = [
            ProtocolError::NoPeerConfig("x".into()),
            ProtocolError::NoSharedKey {
                local: "a".into(),
                remote: "b".into(),
            },
            ProtocolError::AuthFailed,
            ProtocolError::PubkeyAuth("certificate expired".into()),
        ];
        for c in &causes {
            assert_eq!(
                notify_for(c),
                Some((NotifyType::AUTHENTICATION_FAILED, vec![]))
            );
        }
        assert_eq!(
            notify_for(&ProtocolError::InvalidKe {
                offered: 19,
                wanted: 31
            }),
            Some((NotifyType::INVALID_KE_PAYLOAD, vec![0, 31]))
        );
        assert_eq!(notify_for(&ProtocolError::Integrity), None);
    }
}
