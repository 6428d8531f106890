//! AUTH payload computation (RFC 7296 2.15, RFC 7427, RFC 4754, RFC 8420).
//!
//! Contract:
//! - [`signed_octets`] builds `RealMessage | Nonce | prf(SK_p, RestOfIDPayload)`;
//!   the caller passes its own first message, the *peer's* nonce, its own SK_p
//!   (SK_pi for the initiator) and its ID payload body (ID type, 3 reserved bytes,
//!   identification data). Verification of the peer uses the peer's message, our
//!   nonce, the peer's SK_p and the peer's ID payload body.
//! - [`psk_auth`]/[`verify_psk_auth`]: `prf(prf(secret, "Key Pad for IKEv2"),
//!   SignedOctets)`, compared in constant time.
//! - Signatures: keys load from PEM or DER (PKCS#1, SEC1, PKCS#8, SPKI);
//!   [`AuthMethod::DIGITAL_SIGNATURE`] (14) carries an RFC 7427 AlgorithmIdentifier
//!   ([`SignatureScheme::algorithm_identifier`] produces the RFC 7427 appendix A /
//!   strongSwan encodings); the classic methods 1 (RSA PKCS#1 v1.5 with SHA-1, as
//!   strongSwan and Libreswan use it) and 9/10/11 (ECDSA, RFC 4754 `r | s`) are
//!   supported for older peers.
//! - Nothing here panics on peer input; every failure is a [`CryptoError`].
//!   Outside tests the module denies the panicking clippy lints (unwrap, expect, panic,
//!   indexing, unchecked arithmetic).
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

use std::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::signature::hazmat::PrehashVerifier;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer, Verifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

use crate::error::CryptoError;
use crate::rng::{RandomSource, RngAdapter};
use crate::secret::SecretBytes;
use crate::transforms::PrfAlg;

/// The PSK key pad of RFC 7296 2.15.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// `RealMessage | Nonce | prf(SK_p, RestOfIDPayload)` (RFC 7296 2.15).
pub fn signed_octets(
    prf: PrfAlg,
    real_message: &[u8],
    nonce: &[u8],
    sk_p: &SecretBytes,
    id_payload_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf.compute(sk_p.expose(), &[id_payload_body]);
    [real_message, nonce, maced_id.expose()].concat()
}

/// PSK AUTH data: `prf(prf(secret, "Key Pad for IKEv2"), SignedOctets)`.
pub fn psk_auth(prf: PrfAlg, secret: &[u8], signed_octets: &[u8]) -> SecretBytes {
    let padded_key = prf.compute(secret, &[KEY_PAD]);
    prf.compute(padded_key.expose(), &[signed_octets])
}

/// Checks a peer's PSK AUTH data in constant time.
pub fn verify_psk_auth(
    prf: PrfAlg,
    secret: &[u8],
    signed_octets: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = psk_auth(prf, secret, signed_octets);
    if expected.len() == received.len() && bool::from(expected.expose().ct_eq(received)) {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// AUTH method (IANA "IKEv2 Authentication Method"), open for unknown values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AuthMethod(pub u8);

impl AuthMethod {
    /// RSA Digital Signature (PKCS#1 v1.5; SHA-1 in practice).
    pub const RSA: Self = Self(1);
    /// Shared Key Message Integrity Code.
    pub const PSK: Self = Self(2);
    /// ECDSA with SHA-256 on the P-256 curve (RFC 4754).
    pub const ECDSA_SHA256_P256: Self = Self(9);
    /// ECDSA with SHA-384 on the P-384 curve (RFC 4754).
    pub const ECDSA_SHA384_P384: Self = Self(10);
    /// ECDSA with SHA-512 on the P-521 curve (RFC 4754).
    pub const ECDSA_SHA512_P521: Self = Self(11);
    /// Digital Signature (RFC 7427).
    pub const DIGITAL_SIGNATURE: Self = Self(14);
}

/// A signature algorithm with its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-1 (classic method 1 only).
    RsaPkcs1Sha1,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt.
    RsaPssSha256,
    /// RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt.
    RsaPssSha384,
    /// RSASSA-PSS, SHA-512, MGF1-SHA-512, 64-byte salt.
    RsaPssSha512,
    /// ECDSA P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384.
    EcdsaP384Sha384,
    /// ECDSA P-521 with SHA-512.
    EcdsaP521Sha512,
    /// Ed25519 (RFC 8420), over the whole message.
    Ed25519,
}

// DER building blocks of RFC 7427 appendix A.
const OID_RSA_PREFIX: [u8; 10] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
const OID_ECDSA_SHA2_PREFIX: [u8; 9] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
const HASH_OID_PREFIX: [u8; 10] = [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];

/// `AlgorithmIdentifier { sha2-N, NULL }` for PSS parameters (hash index 1..3).
fn hash_alg_id(hash_index: u8) -> Vec<u8> {
    let mut v = vec![0x30, 0x0d];
    v.extend_from_slice(&HASH_OID_PREFIX);
    v.extend_from_slice(&[hash_index, 0x05, 0x00]);
    v
}

/// RSASSA-PSS AlgorithmIdentifier with hash = MGF1 hash = SHA-2 variant and salt
/// length = hash length, as strongSwan builds it (`rsa_pss_params_build`: the
/// default trailerField omitted). `with_trailer` adds the explicit
/// `trailerField 1` that RFC 7427 appendix A.4.3 shows, which we accept too.
fn pss_alg_id(hash_index: u8, salt_len: u8, with_trailer: bool) -> Vec<u8> {
    let hash = hash_alg_id(hash_index);
    let mut mgf = vec![
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
    ];
    mgf.extend_from_slice(&hash);
    let mut params = Vec::new();
    params.extend_from_slice(&[0xa0, hash.len() as u8]);
    params.extend_from_slice(&hash);
    let mgf_len = mgf.len() as u8;
    params.extend_from_slice(&[0xa1, mgf_len.saturating_add(2), 0x30, mgf_len]);
    params.extend_from_slice(&mgf);
    params.extend_from_slice(&[0xa2, 0x03, 0x02, 0x01, salt_len]);
    if with_trailer {
        params.extend_from_slice(&[0xa3, 0x03, 0x02, 0x01, 0x01]);
    }
    let mut body = OID_RSA_PREFIX.to_vec();
    body.push(0x0a);
    body.extend_from_slice(&[0x30, params.len() as u8]);
    body.extend_from_slice(&params);
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

/// RFC 7427 4 hash algorithm identifiers iked announces in the
/// SIGNATURE_HASH_ALGORITHMS notification (SHA2-256, SHA2-384, SHA2-512, Identity
/// for Ed25519), as strongSwan does with its default plugins.
pub const SUPPORTED_SIGNATURE_HASHES: [u16; 4] = [2, 3, 4, 5];

impl SignatureScheme {
    /// The RFC 7427 hash algorithm identifier (IANA "IKEv2 Hash Algorithms") of
    /// this scheme: 1 SHA1, 2 SHA2-256, 3 SHA2-384, 4 SHA2-512, 5 Identity.
    pub const fn hash_algorithm_id(self) -> u16 {
        match self {
            Self::RsaPkcs1Sha1 => 1,
            Self::RsaPkcs1Sha256 | Self::RsaPssSha256 | Self::EcdsaP256Sha256 => 2,
            Self::RsaPkcs1Sha384 | Self::RsaPssSha384 | Self::EcdsaP384Sha384 => 3,
            Self::RsaPkcs1Sha512 | Self::RsaPssSha512 | Self::EcdsaP521Sha512 => 4,
            Self::Ed25519 => 5,
        }
    }

    /// The DER AlgorithmIdentifier sent in an RFC 7427 AUTH payload.
    pub fn algorithm_identifier(self) -> Vec<u8> {
        let rsa = |last: u8| {
            let mut v = vec![0x30, 0x0d];
            v.extend_from_slice(&OID_RSA_PREFIX);
            v.extend_from_slice(&[last, 0x05, 0x00]);
            v
        };
        let ecdsa = |last: u8| {
            let mut v = vec![0x30, 0x0a];
            v.extend_from_slice(&OID_ECDSA_SHA2_PREFIX);
            v.push(last);
            v
        };
        match self {
            Self::RsaPkcs1Sha1 => rsa(0x05),
            Self::RsaPkcs1Sha256 => rsa(0x0b),
            Self::RsaPkcs1Sha384 => rsa(0x0c),
            Self::RsaPkcs1Sha512 => rsa(0x0d),
            Self::RsaPssSha256 => pss_alg_id(1, 32, false),
            Self::RsaPssSha384 => pss_alg_id(2, 48, false),
            Self::RsaPssSha512 => pss_alg_id(3, 64, false),
            Self::EcdsaP256Sha256 => ecdsa(0x02),
            Self::EcdsaP384Sha384 => ecdsa(0x03),
            Self::EcdsaP521Sha512 => ecdsa(0x04),
            Self::Ed25519 => vec![0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
        }
    }

    /// Recognises a received AlgorithmIdentifier (exact DER match against the
    /// encodings we support, PSS with or without the explicit trailer field).
    pub fn from_algorithm_identifier(der: &[u8]) -> Result<Self, CryptoError> {
        const ALL: [SignatureScheme; 11] = [
            SignatureScheme::RsaPkcs1Sha1,
            SignatureScheme::RsaPkcs1Sha256,
            SignatureScheme::RsaPkcs1Sha384,
            SignatureScheme::RsaPkcs1Sha512,
            SignatureScheme::RsaPssSha256,
            SignatureScheme::RsaPssSha384,
            SignatureScheme::RsaPssSha512,
            SignatureScheme::EcdsaP256Sha256,
            SignatureScheme::EcdsaP384Sha384,
            SignatureScheme::EcdsaP521Sha512,
            SignatureScheme::Ed25519,
        ];
        if let Some(scheme) = ALL.iter().find(|s| s.algorithm_identifier() == der) {
            return Ok(*scheme);
        }
        let pss_with_trailer = [
            (Self::RsaPssSha256, pss_alg_id(1, 32, true)),
            (Self::RsaPssSha384, pss_alg_id(2, 48, true)),
            (Self::RsaPssSha512, pss_alg_id(3, 64, true)),
        ];
        pss_with_trailer
            .into_iter()
            .find(|(_, enc)| enc == der)
            .map(|(s, _)| s)
            .ok_or(CryptoError::UnsupportedSignatureAlgorithm)
    }
}

/// A private key for AUTH signatures. `Debug` shows only the key type.
pub enum PrivateKey {
    /// RSA.
    Rsa(Box<RsaSigningKey>),
    /// ECDSA P-256.
    EcdsaP256(p256::ecdsa::SigningKey),
    /// ECDSA P-384.
    EcdsaP384(p384::ecdsa::SigningKey),
    /// ECDSA P-521.
    EcdsaP521(p521::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Rsa(_) => "Rsa",
            Self::EcdsaP256(_) => "EcdsaP256",
            Self::EcdsaP384(_) => "EcdsaP384",
            Self::EcdsaP521(_) => "EcdsaP521",
            Self::Ed25519(_) => "Ed25519",
        };
        write!(f, "PrivateKey::{kind}(<redacted>)")
    }
}

/// Smallest and largest RSA modulus ring signs with (`ring::rsa::KeyPair` refuses others);
/// checked at load time so a key iked cannot use is refused when it is loaded, not when the
/// first IKE_AUTH is signed.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 4096;
/// Start of the load-time refusal of an RSA key ring cannot use.
const RSA_REFUSED: &str = "RSA key of";

/// An RSA private key. Signatures with SHA-2 (PKCS#1 v1.5 and PSS) are made by `ring`, whose
/// RSA is constant-time and blinded; the `rsa` crate's private-key operations carry
/// RUSTSEC-2023-0071 (Marvin, timing) and are not used for them.
///
/// RSA PKCS#1 v1.5 with SHA-1 (the classic AUTH method 1, which RFC 8247 still lists as MUST
/// and charon uses with peers that announce no SIGNATURE_HASH_ALGORITHMS) exists in neither
/// ring nor aws-lc-rs. For that one case the key is also kept as an `rsa::RsaPrivateKey` and
/// signs with blinding (`RandomizedSigner`), a documented fallback: see DEVELOPING.md,
/// "Dependency advisories". strongSwan (with its default `signature_authentication = yes`) and
/// Libreswan announce RFC 7427 hashes, so iked does not take it with them.
///
/// Zeroization: our copies (the `rsa` key, the PKCS#1 encoding handed to ring) are zeroized;
/// ring keeps its own limbs, which it does not scrub when the key is dropped (unloaded).
pub struct RsaSigningKey {
    ring: ring::rsa::KeyPair,
    /// Zeroized on drop (`rsa` implements `ZeroizeOnDrop`); only for SHA-1 signatures.
    legacy: rsa::RsaPrivateKey,
    public: rsa::RsaPublicKey,
}

impl RsaSigningKey {
    /// Builds the signing key from a parsed RSA key: checks the modulus size ring accepts and
    /// hands ring the PKCS#1 encoding (a zeroizing buffer).
    fn new(key: rsa::RsaPrivateKey) -> Result<Self, CryptoError> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let bits = key.n().bits();
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(CryptoError::InvalidKey(format!(
                "{RSA_REFUSED} {bits} bits: iked signs RSA with ring, which accepts \
                 {RSA_MIN_BITS} to {RSA_MAX_BITS} bits"
            )));
        }
        let der = key
            .to_pkcs1_der()
            .map_err(|e| CryptoError::InvalidKey(format!("encoding the RSA key: {e}")))?;
        let ring = ring::rsa::KeyPair::from_der(der.as_bytes()).map_err(|e| {
            CryptoError::InvalidKey(format!(
                "{RSA_REFUSED} {bits} bits refused by ring ({e}; it needs a public exponent \
                     of at least 65537 and primes of half the modulus size)"
            ))
        })?;
        let public = key.to_public_key();
        Ok(Self {
            ring,
            legacy: key,
            public,
        })
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.ring.public().modulus_len().saturating_mul(8)
    }

    fn sign(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, CryptoError> {
        use ring::signature as rs;
        let encoding: &'static dyn rs::RsaEncoding = match scheme {
            SignatureScheme::RsaPkcs1Sha1 => {
                // Blinded with randomness from `rng` (see the type's comment for why SHA-1
                // is not signed by ring).
                let signer = rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(self.legacy.clone());
                return signer
                    .try_sign_with_rng(&mut RngAdapter(rng), message)
                    .map(|s| s.to_vec())
                    .map_err(|e| CryptoError::SigningFailed(e.to_string()));
            }
            SignatureScheme::RsaPkcs1Sha256 => &rs::RSA_PKCS1_SHA256,
            SignatureScheme::RsaPkcs1Sha384 => &rs::RSA_PKCS1_SHA384,
            SignatureScheme::RsaPkcs1Sha512 => &rs::RSA_PKCS1_SHA512,
            SignatureScheme::RsaPssSha256 => &rs::RSA_PSS_SHA256,
            SignatureScheme::RsaPssSha384 => &rs::RSA_PSS_SHA384,
            SignatureScheme::RsaPssSha512 => &rs::RSA_PSS_SHA512,
            _ => return Err(CryptoError::UnsupportedSignatureAlgorithm),
        };
        // ring's blinding and PSS salt come from the OS (its `SecureRandom` is sealed, so
        // our `RandomSource` cannot feed it); PKCS#1 v1.5 output is deterministic anyway.
        let mut signature = vec![0u8; self.ring.public().modulus_len()];
        self.ring
            .sign(
                encoding,
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| CryptoError::SigningFailed("ring RSA signing failed".into()))?;
        Ok(signature)
    }
}

/// A public key for verifying AUTH signatures. Equality compares the key material.
#[derive(Clone)]
pub enum PublicKey {
    /// RSA.
    Rsa(Box<rsa::RsaPublicKey>),
    /// ECDSA P-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// ECDSA P-384.
    EcdsaP384(p384::ecdsa::VerifyingKey),
    /// ECDSA P-521.
    EcdsaP521(p521::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Rsa(a), Self::Rsa(b)) => a == b,
            (Self::EcdsaP256(a), Self::EcdsaP256(b)) => a == b,
            (Self::EcdsaP384(a), Self::EcdsaP384(b)) => a == b,
            (Self::EcdsaP521(a), Self::EcdsaP521(b)) => {
                a.to_encoded_point(false) == b.to_encoded_point(false)
            }
            (Self::Ed25519(a), Self::Ed25519(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa(_) => "PublicKey::Rsa",
            Self::EcdsaP256(_) => "PublicKey::EcdsaP256",
            Self::EcdsaP384(_) => "PublicKey::EcdsaP384",
            Self::EcdsaP521(_) => "PublicKey::EcdsaP521",
            Self::Ed25519(_) => "PublicKey::Ed25519",
        })
    }
}

fn invalid_key(msg: &str) -> CryptoError {
    CryptoError::InvalidKey(msg.to_owned())
}

impl PrivateKey {
    /// Loads a PEM private key: `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY`
    /// (SEC1) or `PRIVATE KEY` (PKCS#8: RSA, EC P-256/384/521, Ed25519).
    pub fn from_pem(pem: &[u8]) -> Result<Self, CryptoError> {
        Self::from_pem_with_passphrase(pem, None)
    }

    /// Loads a PEM private key as [`Self::from_pem`] does, and also `ENCRYPTED PRIVATE KEY`
    /// (PKCS#8 with PBES2, as `openssl pkcs8 -topk8 -v2 ...` writes) with `passphrase`.
    /// Errors: [`CryptoError::PassphraseRequired`] for an encrypted key without passphrase,
    /// [`CryptoError::WrongPassphrase`] when it does not decrypt it.
    pub fn from_pem_with_passphrase(
        pem: &[u8],
        passphrase: Option<&[u8]>,
    ) -> Result<Self, CryptoError> {
        if pem.windows(22).any(|w| w == b"Proc-Type: 4,ENCRYPTED") {
            return Err(invalid_key(
                "legacy OpenSSL PEM encryption is not supported; convert the key with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
            ));
        }
        const BEGIN: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
        const END: &[u8] = b"-----END ENCRYPTED PRIVATE KEY-----";
        let find = |needle: &[u8]| pem.windows(needle.len()).position(|w| w == needle);
        if let Some(start) = find(BEGIN) {
            let end = find(END)
                .filter(|e| *e > start)
                .ok_or_else(|| invalid_key("PEM: ENCRYPTED PRIVATE KEY without END line"))?;
            let block = pem
                .get(start..end.saturating_add(END.len()))
                .ok_or_else(|| invalid_key("PEM: ENCRYPTED PRIVATE KEY without END line"))?;
            let (_, der) = pkcs8::der::pem::decode_vec(block)
                .map_err(|e| CryptoError::InvalidKey(format!("PEM: {e}")))?;
            return Self::decrypt_pkcs8(&der, passphrase);
        }
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| CryptoError::InvalidKey(format!("PEM: {e}")))?;
        Self::from_key_der(&der)
    }

    /// Loads a DER private key as [`Self::from_der`] does, and also an encrypted PKCS#8
    /// `EncryptedPrivateKeyInfo` with `passphrase`.
    pub fn from_der_with_passphrase(
        der: &[u8],
        passphrase: Option<&[u8]>,
    ) -> Result<Self, CryptoError> {
        if pkcs8::EncryptedPrivateKeyInfo::try_from(der).is_ok() {
            return Self::decrypt_pkcs8(der, passphrase);
        }
        Self::from_der(der)
    }

    fn decrypt_pkcs8(der: &[u8], passphrase: Option<&[u8]>) -> Result<Self, CryptoError> {
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
            .map_err(|e| CryptoError::InvalidKey(format!("encrypted PKCS#8: {e}")))?;
        let passphrase = passphrase.ok_or(CryptoError::PassphraseRequired)?;
        // A wrong passphrase shows as bad CBC padding or, rarely, as garbage that is not a
        // PrivateKeyInfo; both mean the same to the operator.
        let plain = info
            .decrypt(passphrase)
            .map_err(|_| CryptoError::WrongPassphrase)?;
        // Borrowed, so the only copy of the plaintext is `plain`, which zeroizes on drop.
        let borrowed = rustls_pki_types::PrivatePkcs8KeyDer::from(plain.as_bytes());
        Self::from_key_der(&PrivateKeyDer::Pkcs8(borrowed)).map_err(|e| match e {
            // Decrypted fine, but an RSA key ring cannot sign with: say so, not "wrong
            // passphrase".
            CryptoError::InvalidKey(why) if why.starts_with(RSA_REFUSED) => {
                CryptoError::InvalidKey(why)
            }
            _ => CryptoError::WrongPassphrase,
        })
    }

    /// Loads a DER private key in PKCS#8, PKCS#1 or SEC1 form.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let candidates = [
            PrivateKeyDer::Pkcs8(der.to_vec().into()),
            PrivateKeyDer::Pkcs1(der.to_vec().into()),
            PrivateKeyDer::Sec1(der.to_vec().into()),
        ];
        // A key that parsed as RSA but that ring cannot sign with keeps its own error (the
        // operator needs the size, not "not a key").
        let mut refused = None;
        for k in &candidates {
            match Self::from_key_der(k) {
                Ok(key) => return Ok(key),
                Err(CryptoError::InvalidKey(why)) if why.starts_with(RSA_REFUSED) => {
                    refused = Some(CryptoError::InvalidKey(why));
                }
                Err(_) => {}
            }
        }
        Err(refused.unwrap_or_else(|| invalid_key("not a PKCS#8, PKCS#1 or SEC1 private key")))
    }

    fn from_key_der(der: &PrivateKeyDer<'_>) -> Result<Self, CryptoError> {
        match der {
            PrivateKeyDer::Pkcs1(k) => rsa::RsaPrivateKey::from_pkcs1_der(k.secret_pkcs1_der())
                .map_err(|_| invalid_key("bad PKCS#1 RSA key"))
                .and_then(RsaSigningKey::new)
                .map(|k| Self::Rsa(Box::new(k))),
            PrivateKeyDer::Sec1(k) => {
                let der = k.secret_sec1_der();
                if let Ok(sk) = p256::SecretKey::from_sec1_der(der) {
                    return Ok(Self::EcdsaP256(sk.into()));
                }
                if let Ok(sk) = p384::SecretKey::from_sec1_der(der) {
                    return Ok(Self::EcdsaP384(sk.into()));
                }
                if let Ok(sk) = p521::SecretKey::from_sec1_der(der) {
                    return p521::ecdsa::SigningKey::from_bytes(&sk.to_bytes())
                        .map(Self::EcdsaP521)
                        .map_err(|_| invalid_key("bad P-521 key"));
                }
                Err(invalid_key("unsupported SEC1 EC key (P-256/384/521 only)"))
            }
            PrivateKeyDer::Pkcs8(k) => {
                let der = k.secret_pkcs8_der();
                if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_der(der) {
                    return RsaSigningKey::new(key).map(|k| Self::Rsa(Box::new(k)));
                }
                if let Ok(sk) = p256::SecretKey::from_pkcs8_der(der) {
                    return Ok(Self::EcdsaP256(sk.into()));
                }
                if let Ok(sk) = p384::SecretKey::from_pkcs8_der(der) {
                    return Ok(Self::EcdsaP384(sk.into()));
                }
                if let Ok(sk) = p521::SecretKey::from_pkcs8_der(der) {
                    return p521::ecdsa::SigningKey::from_bytes(&sk.to_bytes())
                        .map(Self::EcdsaP521)
                        .map_err(|_| invalid_key("bad P-521 key"));
                }
                if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
                    return Ok(Self::Ed25519(key));
                }
                Err(invalid_key("unsupported PKCS#8 key type"))
            }
            _ => Err(invalid_key("unsupported private key encoding")),
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Rsa(k) => PublicKey::Rsa(Box::new(k.public.clone())),
            Self::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
            Self::EcdsaP384(k) => PublicKey::EcdsaP384(*k.verifying_key()),
            Self::EcdsaP521(k) => PublicKey::EcdsaP521(p521::ecdsa::VerifyingKey::from(k)),
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The RFC 7427 scheme strongSwan picks by default for this key type
    /// (RSA: PKCS#1 v1.5 SHA-256 unless PSS is configured; ECDSA: the curve's hash).
    pub fn default_scheme(&self) -> SignatureScheme {
        match self {
            Self::Rsa(_) => SignatureScheme::RsaPkcs1Sha256,
            Self::EcdsaP256(_) => SignatureScheme::EcdsaP256Sha256,
            Self::EcdsaP384(_) => SignatureScheme::EcdsaP384Sha384,
            Self::EcdsaP521(_) => SignatureScheme::EcdsaP521Sha512,
            Self::Ed25519(_) => SignatureScheme::Ed25519,
        }
    }

    /// Signs `message` (the signed octets). ECDSA signatures are DER
    /// (`Ecdsa-Sig-Value`, as RFC 7427 requires); use [`sign_auth`] for the classic
    /// `r | s` form.
    pub fn sign(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, CryptoError> {
        let failed = |e: rsa::signature::Error| CryptoError::SigningFailed(e.to_string());
        match (self, scheme) {
            (Self::Rsa(k), _) => k.sign(scheme, message, rng),
            (Self::EcdsaP256(k), SignatureScheme::EcdsaP256Sha256) => {
                let sig: p256::ecdsa::Signature = k.try_sign(message).map_err(failed)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (Self::EcdsaP384(k), SignatureScheme::EcdsaP384Sha384) => {
                let sig: p384::ecdsa::Signature = k.try_sign(message).map_err(failed)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (Self::EcdsaP521(k), SignatureScheme::EcdsaP521Sha512) => {
                let sig: p521::ecdsa::Signature = k.try_sign(message).map_err(failed)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            (Self::Ed25519(k), SignatureScheme::Ed25519) => {
                Ok(k.try_sign(message).map_err(failed)?.to_bytes().to_vec())
            }
            _ => Err(CryptoError::UnsupportedSignatureAlgorithm),
        }
    }
}

impl PublicKey {
    /// Loads a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CryptoError> {
        let spki = SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map_err(|e| CryptoError::InvalidKey(format!("PEM: {e}")))?;
        Self::from_spki_der(spki.as_ref())
    }

    /// Loads a DER SubjectPublicKeyInfo (e.g. taken from a certificate).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
            return Ok(Self::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            return Ok(Self::EcdsaP256(k.into()));
        }
        if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
            return Ok(Self::EcdsaP384(k.into()));
        }
        if let Ok(k) = p521::PublicKey::from_public_key_der(der) {
            return p521::ecdsa::VerifyingKey::from_affine(*k.as_affine())
                .map(Self::EcdsaP521)
                .map_err(|_| invalid_key("bad P-521 point"));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(Self::Ed25519(k));
        }
        Err(invalid_key("unsupported SubjectPublicKeyInfo"))
    }

    /// The DER SubjectPublicKeyInfo of this key.
    pub fn spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let der = match self {
            Self::Rsa(k) => k.to_public_key_der(),
            Self::EcdsaP256(k) => p256::PublicKey::from(k).to_public_key_der(),
            Self::EcdsaP384(k) => p384::PublicKey::from(k).to_public_key_der(),
            Self::EcdsaP521(k) => p521::PublicKey::from_affine(*k.as_affine())
                .map_err(|_| invalid_key("bad P-521 point"))?
                .to_public_key_der(),
            Self::Ed25519(k) => k.to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec())
            .map_err(|e| CryptoError::InvalidKey(format!("encoding SubjectPublicKeyInfo: {e}")))
    }

    /// SHA-1 of the SubjectPublicKeyInfo (strongSwan's `KEYID_PUBKEY_INFO_SHA1`, the key id
    /// of CERTREQ payloads and `@#` identities).
    pub fn spki_sha1(&self) -> Result<[u8; 20], CryptoError> {
        Ok(sha1::Sha1::digest(self.spki_der()?).into())
    }

    /// Verifies a signature (ECDSA in DER form).
    pub fn verify(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        let bad = |_| CryptoError::BadSignature;
        match (self, scheme) {
            (Self::Rsa(k), SignatureScheme::RsaPkcs1Sha1) => {
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(bad)?;
                rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(k.as_ref().clone())
                    .verify(message, &sig)
                    .map_err(bad)
            }
            (Self::Rsa(k), SignatureScheme::RsaPkcs1Sha256) => {
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(bad)?;
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.as_ref().clone())
                    .verify(message, &sig)
                    .map_err(bad)
            }
            (Self::Rsa(k), SignatureScheme::RsaPkcs1Sha384) => {
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(bad)?;
                rsa::pkcs1v15::VerifyingKey::<Sha384>::new(k.as_ref().clone())
                    .verify(message, &sig)
                    .map_err(bad)
            }
            (Self::Rsa(k), SignatureScheme::RsaPkcs1Sha512) => {
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(bad)?;
                rsa::pkcs1v15::VerifyingKey::<Sha512>::new(k.as_ref().clone())
                    .verify(message, &sig)
                    .map_err(bad)
            }
            (Self::Rsa(k), SignatureScheme::RsaPssSha256) => {
                let sig = rsa::pss::Signature::try_from(signature).map_err(bad)?;
                rsa::pss::VerifyingKey::<Sha256>::new(k.as_ref().clone())
                    .verify(message, &sig)
                    .map_err(bad)
            }
            (Self::Rsa(k), SignatureScheme::RsaPssSha384) => {
                let sig = rsa::pss::Signature::try_from(signature).map_err(bad)?;
                rsa::pss::VerifyingKey::<Sha384>::new(k.as_ref().clone())
                    .verify(message, &sig)
                    .map_err(bad)
            }
            (Self::Rsa(k), SignatureScheme::RsaPssSha512) => {
                let sig = rsa::pss::Signature::try_from(signature).map_err(bad)?;
                rsa::pss::VerifyingKey::<Sha512>::new(k.as_ref().clone())
                    .verify(message, &sig)
                    .map_err(bad)
            }
            // Any SHA-2 hash with any curve: certificates pair them freely (OpenSSL signs
            // with SHA-256 whatever the CA's curve) and RFC 7427 allows it.
            (
                Self::EcdsaP256(_) | Self::EcdsaP384(_) | Self::EcdsaP521(_),
                SignatureScheme::EcdsaP256Sha256
                | SignatureScheme::EcdsaP384Sha384
                | SignatureScheme::EcdsaP521Sha512,
            ) => {
                let digest = match scheme {
                    SignatureScheme::EcdsaP256Sha256 => Sha256::digest(message).to_vec(),
                    SignatureScheme::EcdsaP384Sha384 => Sha384::digest(message).to_vec(),
                    _ => Sha512::digest(message).to_vec(),
                };
                match self {
                    Self::EcdsaP256(k) => {
                        let sig = p256::ecdsa::Signature::from_der(signature).map_err(bad)?;
                        k.verify_prehash(&digest, &sig).map_err(bad)
                    }
                    Self::EcdsaP384(k) => {
                        let sig = p384::ecdsa::Signature::from_der(signature).map_err(bad)?;
                        k.verify_prehash(&digest, &sig).map_err(bad)
                    }
                    Self::EcdsaP521(k) => {
                        let sig = p521::ecdsa::Signature::from_der(signature).map_err(bad)?;
                        k.verify_prehash(&digest, &sig).map_err(bad)
                    }
                    _ => Err(CryptoError::UnsupportedSignatureAlgorithm),
                }
            }
            (Self::Ed25519(k), SignatureScheme::Ed25519) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(bad)?;
                k.verify_strict(message, &sig).map_err(bad)
            }
            _ => Err(CryptoError::UnsupportedSignatureAlgorithm),
        }
    }
}

/// The classic method matching an ECDSA key (RFC 4754), or RSA (1).
fn classic_scheme(method: AuthMethod) -> Option<SignatureScheme> {
    match method {
        AuthMethod::RSA => Some(SignatureScheme::RsaPkcs1Sha1),
        AuthMethod::ECDSA_SHA256_P256 => Some(SignatureScheme::EcdsaP256Sha256),
        AuthMethod::ECDSA_SHA384_P384 => Some(SignatureScheme::EcdsaP384Sha384),
        AuthMethod::ECDSA_SHA512_P521 => Some(SignatureScheme::EcdsaP521Sha512),
        _ => None,
    }
}

/// Converts between DER `Ecdsa-Sig-Value` and RFC 4754 fixed-size `r | s`.
fn ecdsa_der_to_fixed(scheme: SignatureScheme, der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad = |_| CryptoError::BadSignature;
    Ok(match scheme {
        SignatureScheme::EcdsaP256Sha256 => p256::ecdsa::Signature::from_der(der)
            .map_err(bad)?
            .to_bytes()
            .to_vec(),
        SignatureScheme::EcdsaP384Sha384 => p384::ecdsa::Signature::from_der(der)
            .map_err(bad)?
            .to_bytes()
            .to_vec(),
        SignatureScheme::EcdsaP521Sha512 => p521::ecdsa::Signature::from_der(der)
            .map_err(bad)?
            .to_bytes()
            .to_vec(),
        _ => der.to_vec(),
    })
}

fn ecdsa_fixed_to_der(scheme: SignatureScheme, fixed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad = |_| CryptoError::BadSignature;
    Ok(match scheme {
        SignatureScheme::EcdsaP256Sha256 => p256::ecdsa::Signature::from_slice(fixed)
            .map_err(bad)?
            .to_der()
            .as_bytes()
            .to_vec(),
        SignatureScheme::EcdsaP384Sha384 => p384::ecdsa::Signature::from_slice(fixed)
            .map_err(bad)?
            .to_der()
            .as_bytes()
            .to_vec(),
        SignatureScheme::EcdsaP521Sha512 => p521::ecdsa::Signature::from_slice(fixed)
            .map_err(bad)?
            .to_der()
            .as_bytes()
            .to_vec(),
        _ => fixed.to_vec(),
    })
}

/// Builds the Authentication Data of an AUTH payload with a signature method.
/// For [`AuthMethod::DIGITAL_SIGNATURE`] the data is `len | AlgorithmIdentifier |
/// signature` (RFC 7427 3) using `scheme`; for classic methods `scheme` is ignored
/// and the method's own scheme is used.
pub fn sign_auth(
    key: &PrivateKey,
    method: AuthMethod,
    scheme: SignatureScheme,
    signed_octets: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, CryptoError> {
    if method == AuthMethod::DIGITAL_SIGNATURE {
        let alg_id = scheme.algorithm_identifier();
        let signature = key.sign(scheme, signed_octets, rng)?;
        let mut data = Vec::with_capacity(
            alg_id
                .len()
                .saturating_add(signature.len())
                .saturating_add(1),
        );
        data.push(alg_id.len() as u8);
        data.extend_from_slice(&alg_id);
        data.extend_from_slice(&signature);
        return Ok(data);
    }
    let scheme = classic_scheme(method).ok_or(CryptoError::UnsupportedSignatureAlgorithm)?;
    let signature = key.sign(scheme, signed_octets, rng)?;
    ecdsa_der_to_fixed(scheme, &signature)
}

/// Verifies a peer's signature AUTH data; returns the scheme it used so policy
/// (e.g. strongSwan's `rsa/pss` constraints) can be checked by the caller.
pub fn verify_auth(
    key: &PublicKey,
    method: AuthMethod,
    auth_data: &[u8],
    signed_octets: &[u8],
) -> Result<SignatureScheme, CryptoError> {
    if method == AuthMethod::DIGITAL_SIGNATURE {
        let (&len, rest) = auth_data
            .split_first()
            .ok_or(CryptoError::UnsupportedSignatureAlgorithm)?;
        let (alg_id, signature) = rest
            .split_at_checked(usize::from(len))
            .ok_or(CryptoError::UnsupportedSignatureAlgorithm)?;
        let scheme = SignatureScheme::from_algorithm_identifier(alg_id)?;
        key.verify(scheme, signed_octets, signature)?;
        return Ok(scheme);
    }
    let scheme = classic_scheme(method).ok_or(CryptoError::UnsupportedSignatureAlgorithm)?;
    let signature = ecdsa_fixed_to_der(scheme, auth_data)?;
    key.verify(scheme, signed_octets, &signature)?;
    Ok(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7427 appendix A DER encodings (A.1 sha*WithRSAEncryption, A.3
    /// ecdsa-with-SHA*, A.4.3 RSASSA-PSS with SHA-256 minus the explicit default
    /// trailerField, as strongSwan sends it) and RFC 8420 3 for Ed25519.
    #[test]
    fn rfc7427_algorithm_identifiers() {
        let cases = [
            (
                SignatureScheme::RsaPkcs1Sha1,
                "300d06092a864886f70d0101050500",
            ),
            (
                SignatureScheme::RsaPkcs1Sha256,
                "300d06092a864886f70d01010b0500",
            ),
            (
                SignatureScheme::RsaPkcs1Sha384,
                "300d06092a864886f70d01010c0500",
            ),
            (
                SignatureScheme::RsaPkcs1Sha512,
                "300d06092a864886f70d01010d0500",
            ),
            (SignatureScheme::EcdsaP256Sha256, "300a06082a8648ce3d040302"),
            (SignatureScheme::EcdsaP384Sha384, "300a06082a8648ce3d040303"),
            (SignatureScheme::EcdsaP521Sha512, "300a06082a8648ce3d040304"),
            (SignatureScheme::Ed25519, "300506032b6570"),
            (
                SignatureScheme::RsaPssSha256,
                "304106092a864886f70d01010a3034a00f300d06096086480165030402010500\
                 a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120",
            ),
        ];
        for (scheme, hex_der) in cases {
            let der = hex::decode(hex_der).unwrap();
            assert_eq!(scheme.algorithm_identifier(), der, "{scheme:?}");
            assert_eq!(SignatureScheme::from_algorithm_identifier(&der), Ok(scheme));
        }
        // RFC 7427 A.4.3 verbatim, with the explicit trailerField.
        let rfc = hex::decode(
            "304606092a864886f70d01010a3039a00f300d06096086480165030402010500\
             a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120a303020101",
        )
        .unwrap();
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&rfc),
            Ok(SignatureScheme::RsaPssSha256)
        );
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&[0x30, 0x00]),
            Err(CryptoError::UnsupportedSignatureAlgorithm)
        );
    }

    #[test]
    fn signed_octets_layout() {
        let sk_p = SecretBytes::from_slice(&[1; 32]);
        let id = [2u8, 0, 0, 0, b'a', b'b'];
        let octets = signed_octets(PrfAlg::HmacSha256, b"MSG", b"NONCE", &sk_p, &id);
        assert_eq!(&octets[..8], b"MSGNONCE");
        assert_eq!(
            &octets[8..],
            PrfAlg::HmacSha256.compute(&[1; 32], &[&id]).expose()
        );
    }

    #[test]
    fn psk_verify_rejects_wrong_secret_and_length() {
        let auth = psk_auth(PrfAlg::HmacSha256, b"secret", b"octets");
        assert!(verify_psk_auth(PrfAlg::HmacSha256, b"secret", b"octets", auth.expose()).is_ok());
        assert_eq!(
            verify_psk_auth(PrfAlg::HmacSha256, b"secreT", b"octets", auth.expose()),
            Err(CryptoError::BadSignature)
        );
        assert!(
            verify_psk_auth(
                PrfAlg::HmacSha256,
                b"secret",
                b"octets",
                &auth.expose()[..31]
            )
            .is_err()
        );
    }
}
