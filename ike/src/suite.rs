//! The engine's view of the IKEv2 crypto suite, delegating to `iked_crypto`.
//!
//! Contract: pure functions of their inputs (randomness is passed in through
//! [`RandomSource`]). Every operation is `iked_crypto`'s (transform descriptors, prf/prf+,
//! SKEYSEED, the IKE SA key set, CHILD_SA KEYMAT, SK payload sealing and opening, key exchange,
//! PSK AUTH); this module only maps the engine's negotiated [`Selected`] suite (plain IANA
//! numbers) onto `iked_crypto`'s typed descriptors and its errors onto the coarse
//! [`CryptoError`] the engine answers with. Key material lives in [`Secret`] (zeroized on
//! drop, redacted `Debug`, constant-time equality).

use subtle::ConstantTimeEq;
use thiserror::Error;

use iked_crypto::kdf;
use iked_crypto::ke::KeGroup;
use iked_crypto::registry::{Encr, EncrId, EsnId, IntegId, KeId, PrfId};
use iked_crypto::sk::SkCipher;
use iked_crypto::transforms::{EncrAlg, EspAlgorithms, IkeSuite, IntegAlg, PrfAlg};

use crate::proposal::{Selected, Transform, integ, ke};
use crate::wire::ProtocolId;

/// The caller-supplied randomness: `iked_crypto`'s trait, so the daemon passes
/// `iked_crypto::rng::OsRandom` and tests a seeded generator.
pub use iked_crypto::rng::RandomSource;

/// Key material: zeroized on drop, never printed, compared in constant time.
pub type Secret = iked_crypto::SecretBytes;

/// Crypto failures as the engine reacts to them. Deliberately coarse: callers must not learn
/// why decryption failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    /// An algorithm id `iked_crypto` does not implement.
    #[error("unsupported algorithm {0}:{1}")]
    Unsupported(&'static str, u16),
    /// A peer's key exchange value is malformed.
    #[error("invalid key exchange data")]
    InvalidPublicValue,
    /// Integrity check or decryption failed, or the ciphertext is malformed.
    #[error("integrity check failed")]
    Integrity,
    /// A key of the wrong length, or a derivation asked for too much key material.
    #[error("invalid key length")]
    KeyLength,
}

impl From<iked_crypto::CryptoError> for CryptoError {
    fn from(e: iked_crypto::CryptoError) -> Self {
        use iked_crypto::CryptoError as E;
        match e {
            E::Unsupported { kind, id } => CryptoError::Unsupported(kind, id),
            E::InvalidPublicValue(_) | E::DegenerateSharedSecret => CryptoError::InvalidPublicValue,
            E::IntegrityCheckFailed | E::MalformedCiphertext(_) => CryptoError::Integrity,
            _ => CryptoError::KeyLength,
        }
    }
}

fn prf_alg(id: u16) -> Result<PrfAlg, CryptoError> {
    Ok(PrfAlg::from_id(PrfId(id))?)
}

fn encr(t: &Transform) -> Encr {
    Encr {
        id: EncrId(t.id),
        key_bits: t.key_len,
    }
}

fn ike_suite(sel: &Selected) -> Result<IkeSuite, CryptoError> {
    Ok(IkeSuite::new(
        encr(&sel.encr),
        Some(IntegId(sel.integ)),
        PrfId(sel.prf),
    )?)
}

/// Output length of a PRF.
pub fn prf_len(id: u16) -> Result<usize, CryptoError> {
    Ok(prf_alg(id)?.output_len())
}

/// prf(key, data[0] | data[1] | ...) (RFC 7296 2.13).
pub fn prf(id: u16, key: &[u8], data: &[&[u8]]) -> Result<Secret, CryptoError> {
    Ok(prf_alg(id)?.compute(key, data))
}

/// prf+(key, seed) truncated to `len` bytes (RFC 7296 2.13).
pub fn prf_plus(id: u16, key: &[u8], seed: &[u8], len: usize) -> Result<Secret, CryptoError> {
    Ok(kdf::prf_plus(prf_alg(id)?, key, seed, len)?)
}

/// Key, IV, ICV and block sizes of an IKE SA suite's SK payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncrSizes {
    /// Key bytes including any salt.
    pub key: usize,
    /// IV bytes in the SK payload.
    pub iv: usize,
    /// ICV bytes (AEAD tag or truncated MAC).
    pub icv: usize,
    /// Block size for padding.
    pub block: usize,
    /// AEAD (no separate integrity key).
    pub aead: bool,
}

/// Sizes for a selected IKE suite.
pub fn sizes(sel: &Selected) -> Result<EncrSizes, CryptoError> {
    let suite = ike_suite(sel)?;
    Ok(EncrSizes {
        key: suite.encr.keymat_len(),
        iv: suite.encr.iv_len(),
        icv: suite
            .integ
            .map_or(suite.encr.aead_icv_len(), IntegAlg::icv_len),
        block: suite.encr.block_size(),
        aead: suite.encr.is_aead(),
    })
}

/// Whether `iked_crypto` implements a transform (for filtering configured proposals).
pub fn supports(protocol: ProtocolId, t: &Transform) -> bool {
    use crate::wire::TransformType as tt;
    let ike = protocol == ProtocolId::IKE;
    match t.kind {
        tt::ENCR => EncrAlg::from_transform(encr(t)).is_ok(),
        tt::PRF => PrfAlg::from_id(PrfId(t.id)).is_ok(),
        tt::INTEG => t.id == integ::NONE || IntegAlg::from_id(IntegId(t.id)).is_ok(),
        tt::KE => KeGroup::from_id(KeId(t.id)).is_ok() || (t.id == ke::NONE && !ike),
        tt::ESN => t.id <= 1 && !ike,
        _ => false,
    }
}

/// Whether an encryption transform id is an AEAD cipher.
pub fn is_aead(encr_id: u16) -> bool {
    matches!(
        EncrId(encr_id),
        EncrId::AES_GCM_8 | EncrId::AES_GCM_12 | EncrId::AES_GCM_16 | EncrId::CHACHA20_POLY1305
    )
}

/// The seven IKE SA keys (RFC 7296 2.14).
#[derive(Clone, Debug)]
pub struct IkeKeys {
    /// SK_d, for deriving CHILD_SA keys.
    pub sk_d: Secret,
    /// SK_ai.
    pub sk_ai: Secret,
    /// SK_ar.
    pub sk_ar: Secret,
    /// SK_ei.
    pub sk_ei: Secret,
    /// SK_er.
    pub sk_er: Secret,
    /// SK_pi.
    pub sk_pi: Secret,
    /// SK_pr.
    pub sk_pr: Secret,
}

/// SKEYSEED for an initial exchange: prf(Ni | Nr, g^ir).
pub fn skeyseed(prf_id: u16, ni: &[u8], nr: &[u8], shared: &Secret) -> Result<Secret, CryptoError> {
    Ok(kdf::skeyseed(prf_alg(prf_id)?, ni, nr, shared))
}

/// SKEYSEED for an IKE SA rekey: prf(SK_d(old), g^ir(new) | Ni | Nr).
pub fn skeyseed_rekey(
    old_prf: u16,
    old_sk_d: &Secret,
    shared: &Secret,
    ni: &[u8],
    nr: &[u8],
) -> Result<Secret, CryptoError> {
    Ok(kdf::skeyseed_rekey(
        prf_alg(old_prf)?,
        old_sk_d,
        shared,
        ni,
        nr,
    ))
}

/// Expands SKEYSEED into the IKE SA keys.
pub fn derive_ike_keys(
    sel: &Selected,
    skeyseed: &Secret,
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
) -> Result<IkeKeys, CryptoError> {
    let k = kdf::IkeKeys::derive(
        &ike_suite(sel)?,
        skeyseed,
        ni,
        nr,
        &spi_i.to_be_bytes(),
        &spi_r.to_be_bytes(),
    )?;
    Ok(IkeKeys {
        sk_d: k.sk_d,
        sk_ai: k.sk_ai,
        sk_ar: k.sk_ar,
        sk_ei: k.sk_ei,
        sk_er: k.sk_er,
        sk_pi: k.sk_pi,
        sk_pr: k.sk_pr,
    })
}

/// Keys of one CHILD_SA in both directions (RFC 7296 2.17).
#[derive(Clone, Debug, PartialEq)]
pub struct ChildKeys {
    /// Encryption key (with salt for AEAD) for traffic from the initiator.
    pub encr_i: Secret,
    /// Integrity key for traffic from the initiator (empty for AEAD).
    pub integ_i: Secret,
    /// Encryption key for traffic from the responder.
    pub encr_r: Secret,
    /// Integrity key for traffic from the responder.
    pub integ_r: Secret,
}

/// KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr), split initiator-to-responder first, sized
/// for the kernel's ESP algorithms.
pub fn child_keys(
    prf_id: u16,
    sk_d: &Secret,
    shared: Option<&Secret>,
    ni: &[u8],
    nr: &[u8],
    sel: &Selected,
) -> Result<ChildKeys, CryptoError> {
    let esp = EspAlgorithms::new(
        encr(&sel.encr),
        Some(IntegId(sel.integ)),
        Some(EsnId(u16::from(sel.esn))),
    )?;
    let k = kdf::ChildKeys::derive(prf_alg(prf_id)?, sk_d, shared, ni, nr, &esp)?;
    Ok(ChildKeys {
        encr_i: k.initiator_to_responder.encr,
        integ_i: k.initiator_to_responder.integ,
        encr_r: k.responder_to_initiator.encr,
        integ_r: k.responder_to_initiator.integ,
    })
}

/// PSK AUTH data: prf(prf(secret, "Key Pad for IKEv2"), signed octets) (RFC 7296 2.15).
pub fn psk_auth(prf_id: u16, psk: &[u8], signed_octets: &[&[u8]]) -> Result<Secret, CryptoError> {
    let octets = zeroize::Zeroizing::new(signed_octets.concat());
    Ok(iked_crypto::auth::psk_auth(prf_alg(prf_id)?, psk, &octets))
}

/// Constant-time equality for AUTH values.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A private key-exchange value.
pub struct KeyExchange(iked_crypto::ke::KeyExchange);

impl KeyExchange {
    /// Generates a private value for `group` from `rng`.
    pub fn generate(group: u16, rng: &mut dyn RandomSource) -> Result<Self, CryptoError> {
        let group = KeGroup::from_id(KeId(group))?;
        Ok(KeyExchange(iked_crypto::ke::KeyExchange::generate(
            group, rng,
        )))
    }

    /// The group number.
    pub fn group(&self) -> u16 {
        self.0.group().id().0
    }

    /// Our public value as carried in the KE payload.
    pub fn public(&self) -> Vec<u8> {
        self.0.public_value().to_vec()
    }

    /// The shared secret with the peer's public value (validated per RFC 6989).
    pub fn shared(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        self.0
            .shared_secret(peer)
            .map_err(|_| CryptoError::InvalidPublicValue)
    }
}

fn cipher(sel: &Selected, encr_key: &Secret, integ_key: &Secret) -> Result<SkCipher, CryptoError> {
    Ok(SkCipher::new(&ike_suite(sel)?, encr_key, integ_key)?)
}

/// Length of the SK payload body (IV | ciphertext | ICV) for `plain_len` bytes of payloads.
pub fn sealed_len(sel: &Selected, plain_len: usize) -> Result<usize, CryptoError> {
    let s = sizes(sel)?;
    Ok(s.iv + (plain_len + 1).div_ceil(s.block) * s.block + s.icv)
}

/// Encrypts `plain` into an SK payload body. `aad` is the message from the IKE header up to and
/// including the SK generic payload header (its lengths already final). The IV comes from
/// `iv_source`: `iked_crypto` asks it for the whole IV of a CBC cipher and for the 8-octet
/// counter start of an AEAD one, so the caller must make AEAD IVs unique per key.
pub fn seal(
    sel: &Selected,
    encr_key: &Secret,
    integ_key: &Secret,
    iv_source: &mut dyn RandomSource,
    aad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    Ok(cipher(sel, encr_key, integ_key)?.encrypt(aad, plain, iv_source)?)
}

/// Verifies and decrypts an SK payload body; returns the inner payload bytes.
pub fn open(
    sel: &Selected,
    encr_key: &Secret,
    integ_key: &Secret,
    aad: &[u8],
    body: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    let plain = cipher(sel, encr_key, integ_key)?.decrypt(aad, body)?;
    Ok(zeroize::Zeroizing::new(plain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::Proposal;

    struct Counter(u8);
    impl RandomSource for Counter {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_mul(31).wrapping_add(7);
                *b = self.0;
            }
        }
    }

    fn selected(text: &str) -> Selected {
        Proposal::parse(ProtocolId::IKE, text)
            .unwrap()
            .selected()
            .unwrap()
    }

    #[test]
    fn selected_suites_map_onto_iked_crypto() {
        let cbc = sizes(&selected("aes128-sha256-x25519")).unwrap();
        assert_eq!(
            (cbc.key, cbc.iv, cbc.icv, cbc.block, cbc.aead),
            (16, 16, 16, 16, false)
        );
        let gcm = sizes(&selected("aes256gcm16-prfsha256-x25519")).unwrap();
        assert_eq!(
            (gcm.key, gcm.iv, gcm.icv, gcm.block, gcm.aead),
            (36, 8, 16, 1, true)
        );
        assert!(is_aead(crate::proposal::encr::AES_GCM_16));
        assert_eq!(prf_len(crate::proposal::prf::HMAC_SHA2_256), Ok(32));
        assert!(matches!(
            prf_len(9999),
            Err(CryptoError::Unsupported(_, 9999))
        ));
    }

    #[test]
    fn key_exchange_agrees_for_every_group() {
        for group in [31u16, 19, 20, 14] {
            let mut rng = Counter(1);
            let a = KeyExchange::generate(group, &mut rng).unwrap();
            let b = KeyExchange::generate(group, &mut rng).unwrap();
            assert_eq!(a.group(), group);
            assert_eq!(
                a.shared(&b.public()).unwrap(),
                b.shared(&a.public()).unwrap()
            );
            assert_eq!(a.shared(&[0u8; 3]), Err(CryptoError::InvalidPublicValue));
        }
        assert!(KeyExchange::generate(9999, &mut Counter(1)).is_err());
    }

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        for text in ["aes128-sha256-x25519", "aes256gcm16-prfsha256-x25519"] {
            let sel = selected(text);
            let sz = sizes(&sel).unwrap();
            let ek = Secret::new(vec![7; sz.key]);
            let ak = Secret::new(vec![9; if sz.aead { 0 } else { 32 }]);
            let sealed =
                seal(&sel, &ek, &ak, &mut Counter(3), b"header", b"payload bytes").unwrap();
            assert_eq!(sealed.len(), sealed_len(&sel, 13).unwrap());
            let opened = open(&sel, &ek, &ak, b"header", &sealed).unwrap();
            assert_eq!(&opened[..], b"payload bytes");
            assert_eq!(
                open(&sel, &ek, &ak, b"headeR", &sealed),
                Err(CryptoError::Integrity)
            );
            let mut bad = sealed.clone();
            bad[sz.iv] ^= 1;
            assert!(open(&sel, &ek, &ak, b"header", &bad).is_err());
            assert!(open(&sel, &ek, &ak, b"header", &sealed[..4]).is_err());
        }
    }
}
