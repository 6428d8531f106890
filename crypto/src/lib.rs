//! `iked-crypto`: the IKEv2 cryptographic suite of iked.
//!
//! Pure functions and value types, no I/O; time and randomness are inputs
//! ([`rng::RandomSource`]). Modules:
//! - [`registry`]: IANA transform ids, strongSwan proposal keywords, proposal parsing.
//! - [`transforms`]: the algorithms iked implements for the IKE SA (PRF, integrity,
//!   encryption) with their key and ICV sizes, plus the kernel (XFRM) names for ESP.
//! - [`ke`]: key exchange (Curve25519, NIST ECP, MODP) with RFC 6989 peer validation.
//! - [`kdf`]: `prf+`, SKEYSEED, IKE SA key set, rekeying, CHILD_SA KEYMAT.
//! - [`sk`]: the Encrypted (SK/SKF) payload body: IV, padding, ICV, AAD.
//! - [`auth`]: AUTH payload: PSK, signed octets, RFC 7427 digital signatures.
//! - [`x509`]: certificates: loading, chain validation at a given time, identity matching.
//! - [`hash`]: NAT detection hash (RFC 7296 2.23).
//! - [`rng`]: randomness as an input (OS-backed and seeded).
//! - `x25519` (private): X25519 on AWS-LC, behind [`ke`].
//! - [`secret`]: zeroizing secret byte strings without `Debug` output.

pub mod auth;
pub mod crl;
pub mod error;
pub mod hash;
pub mod kdf;
pub mod ke;
pub mod registry;
pub mod rng;
pub mod secret;
pub mod sk;
pub mod transforms;
mod x25519;
pub mod x509;

pub use error::CryptoError;
pub use secret::SecretBytes;
