//! The crate's error type. Every failure of a cryptographic operation on
//! peer-controlled input is a variant here; nothing in this crate panics on input.

use thiserror::Error;

/// Errors of cryptographic operations.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// The algorithm id is not implemented by iked.
    #[error("unsupported {kind} algorithm {id}")]
    Unsupported {
        /// Which registry ("encryption", "prf", ...).
        kind: &'static str,
        /// The numeric id.
        id: u16,
    },
    /// A key, IV or other fixed-size input has the wrong length.
    #[error("invalid {what} length {actual}, expected {expected}")]
    InvalidLength {
        /// What was being checked.
        what: &'static str,
        /// Expected length in bytes (the minimum where a range is allowed).
        expected: usize,
        /// Actual length in bytes.
        actual: usize,
    },
    /// The peer's key exchange public value failed validation (RFC 6989).
    #[error("invalid key exchange public value: {0}")]
    InvalidPublicValue(&'static str),
    /// The shared secret is degenerate (e.g. all-zero X25519 output).
    #[error("degenerate key exchange shared secret")]
    DegenerateSharedSecret,
    /// Integrity check (ICV / AEAD tag) failed.
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// Decrypted data is malformed (ciphertext not a block multiple, bad pad length, too short).
    #[error("malformed encrypted payload: {0}")]
    MalformedCiphertext(&'static str),
    /// `prf+` was asked for more than 255 blocks (RFC 7296 2.13).
    #[error("prf+ output too long: {0} bytes")]
    PrfPlusTooLong(usize),
    /// A key (PEM/DER) could not be parsed.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// An encrypted private key was given without a passphrase.
    #[error("private key is encrypted and no passphrase was given")]
    PassphraseRequired,
    /// The passphrase does not decrypt the private key.
    #[error("wrong passphrase for the encrypted private key")]
    WrongPassphrase,
    /// Signature creation failed.
    #[error("signing failed: {0}")]
    SigningFailed(String),
    /// Signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The RFC 7427 AlgorithmIdentifier is unknown or does not match the key.
    #[error("unsupported or mismatched signature algorithm identifier")]
    UnsupportedSignatureAlgorithm,
    /// The random source failed.
    #[error("random source failed")]
    RandomFailure,
}
