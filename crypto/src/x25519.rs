//! X25519 (RFC 7748) for the KE payload's group 31, on AWS-LC through `aws-lc-rs`.
//!
//! Contract: [`X25519Secret::from_scalar`] takes the 32-byte private value as drawn from the
//! caller's randomness (clamped inside, RFC 7748 5) and computes the public value;
//! [`X25519Secret::agree`] returns the shared secret, or
//! [`CryptoError::DegenerateSharedSecret`] for the all-zero output low-order points give
//! (RFC 8031 2.1, RFC 7748 6.1).
//!
//! Why AWS-LC: X25519 is half of a responder's CPU per IKE SA, and AWS-LC's implementation
//! (s2n-bignum's x86_64 and aarch64 assembly, formally verified for functional correctness and
//! written constant-time; FIPS 140-3 validated module) took about half of x25519-dalek's time
//! per key generation + shared secret in `crypto/benches/x25519.rs` (bench/RESULTS.md, issue
//! 21 §3). Unlike `ring`, `aws-lc-rs` builds a private key from bytes we give it, so randomness
//! stays an input. The key lives in an AWS-LC `EVP_PKEY`, which AWS-LC zeroes when freeing
//! (`OPENSSL_free` cleanses), so no copy of the scalar outlives [`X25519Secret`].
//! The peer's value is untrusted input: outside tests the module denies the panicking clippy
//! lints, as `ke.rs` does.
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

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};

use crate::error::CryptoError;
use crate::secret::SecretBytes;

/// Our X25519 private value.
pub(crate) struct X25519Secret {
    key: PrivateKey,
    public: [u8; 32],
}

impl X25519Secret {
    /// Imports a 32-byte scalar and computes its public value.
    pub(crate) fn from_scalar(scalar: &[u8; 32]) -> Result<Self, CryptoError> {
        let key = PrivateKey::from_private_key(&agreement::X25519, scalar)
            .map_err(|_| CryptoError::InvalidKey("X25519 scalar".into()))?;
        let public = key
            .compute_public_key()
            .ok()
            .and_then(|p| <[u8; 32]>::try_from(p.as_ref()).ok())
            .ok_or_else(|| CryptoError::InvalidKey("X25519 public value".into()))?;
        Ok(Self { key, public })
    }

    /// The public value (the KE payload's data).
    pub(crate) fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The shared secret with the peer's public value.
    pub(crate) fn agree(&self, peer: &[u8; 32]) -> Result<SecretBytes, CryptoError> {
        // AWS-LC refuses the all-zero result (its X25519 checks it in constant time); any
        // refusal here is that, since a 32-byte peer value always parses.
        agreement::agree(
            &self.key,
            UnparsedPublicKey::new(&agreement::X25519, peer),
            CryptoError::DegenerateSharedSecret,
            |shared| Ok(SecretBytes::from_slice(shared)),
        )
    }
}
