//! Cryptographic operations the engine needs, behind one small surface.
//!
//! Contract: pure functions of their inputs (randomness is passed in through [`RandomSource`]).
//! This is a local adapter over RustCrypto crates until `iked_crypto` publishes its API; the
//! engine calls only the functions in this module, so the swap is confined here. Derived keys
//! live in [`Secret`] (zeroized on drop, redacted `Debug`).
//!
//! Implemented: PRF HMAC-SHA2-256; integrity HMAC-SHA2-256-128; AES-CBC-128/256 and
//! AES-GCM-16-128/256 for the SK payload; key exchange Curve25519 and ECP-256.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::proposal::{Selected, encr, integ, ke, prf};

/// The caller-supplied randomness: `iked_crypto`'s trait, so the daemon passes
/// `iked_crypto::rng::OsRandom` and tests a seeded generator.
pub use iked_crypto::rng::RandomSource;

/// Key material: zeroized on drop, never printed.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }
    /// The key bytes (for handing to the kernel or a cipher; never log them).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl PartialEq for Secret {
    /// Constant-time comparison (used by tests checking both ends derived the same keys).
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

/// Crypto failures. Deliberately coarse: callers must not learn why decryption failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    /// An algorithm id this adapter does not implement.
    #[error("unsupported algorithm {0}:{1}")]
    Unsupported(&'static str, u16),
    /// A peer's key exchange value is malformed.
    #[error("invalid key exchange data")]
    InvalidPublicValue,
    /// Integrity check or decryption failed, or the ciphertext is malformed.
    #[error("integrity check failed")]
    Integrity,
    /// A key of the wrong length.
    #[error("invalid key length")]
    KeyLength,
}

type HmacSha256 = Hmac<Sha256>;

/// Output length of a PRF.
pub fn prf_len(id: u16) -> Result<usize, CryptoError> {
    match id {
        prf::HMAC_SHA2_256 => Ok(32),
        other => Err(CryptoError::Unsupported("prf", other)),
    }
}

/// prf(key, data) (RFC 7296 2.13).
pub fn prf(id: u16, key: &[u8], data: &[&[u8]]) -> Result<Secret, CryptoError> {
    match id {
        prf::HMAC_SHA2_256 => {
            let mut mac =
                <HmacSha256 as Mac>::new_from_slice(key).map_err(|_| CryptoError::KeyLength)?;
            for d in data {
                mac.update(d);
            }
            Ok(Secret::new(mac.finalize().into_bytes().to_vec()))
        }
        other => Err(CryptoError::Unsupported("prf", other)),
    }
}

/// prf+(key, seed) truncated to `len` bytes (RFC 7296 2.13).
pub fn prf_plus(id: u16, key: &[u8], seed: &[u8], len: usize) -> Result<Secret, CryptoError> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 64));
    let mut previous = Secret::default();
    let mut counter: u8 = 1;
    while out.len() < len {
        let t = prf(id, key, &[previous.expose(), seed, &[counter]])?;
        out.extend_from_slice(t.expose());
        previous = t;
        // prf+ is defined for at most 255 iterations.
        counter = counter.checked_add(1).ok_or(CryptoError::KeyLength)?;
    }
    out.truncate(len);
    Ok(Secret(out))
}

/// Key and salt/ICV sizes of an encryption transform.
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

fn encr_sizes(sel: &Selected) -> Result<EncrSizes, CryptoError> {
    let bits = sel.encr.key_len.unwrap_or(128);
    if bits != 128 && bits != 256 {
        return Err(CryptoError::Unsupported("encr key length", bits));
    }
    let key = usize::from(bits / 8);
    match sel.encr.id {
        encr::AES_CBC => Ok(EncrSizes {
            key,
            iv: 16,
            icv: integ_icv(sel.integ)?,
            block: 16,
            aead: false,
        }),
        encr::AES_GCM_16 => Ok(EncrSizes {
            key: key + 4,
            iv: 8,
            icv: 16,
            block: 1,
            aead: true,
        }),
        other => Err(CryptoError::Unsupported("encr", other)),
    }
}

fn integ_key_len(id: u16) -> Result<usize, CryptoError> {
    match id {
        integ::NONE => Ok(0),
        integ::HMAC_SHA2_256_128 => Ok(32),
        other => Err(CryptoError::Unsupported("integ", other)),
    }
}

fn integ_icv(id: u16) -> Result<usize, CryptoError> {
    match id {
        integ::HMAC_SHA2_256_128 => Ok(16),
        other => Err(CryptoError::Unsupported("integ", other)),
    }
}

/// Whether this suite implements a transform (for filtering configured proposals).
pub fn supports(protocol: u8, t: &crate::proposal::Transform) -> bool {
    use crate::proposal::transform_type as tt;
    let bits_ok = matches!(t.key_len, Some(128) | Some(256));
    match t.kind {
        tt::ENCR => matches!(t.id, encr::AES_CBC | encr::AES_GCM_16) && bits_ok,
        tt::PRF => t.id == prf::HMAC_SHA2_256,
        tt::INTEG => t.id == integ::HMAC_SHA2_256_128 || t.id == integ::NONE,
        tt::KE => {
            matches!(t.id, ke::CURVE_25519 | ke::ECP_256)
                || (t.id == ke::NONE && protocol != crate::proposal::protocol::IKE)
        }
        tt::ESN => t.id <= 1 && protocol != crate::proposal::protocol::IKE,
        _ => false,
    }
}

/// Whether an encryption transform id is an AEAD cipher.
pub fn is_aead(encr_id: u16) -> bool {
    encr_id == encr::AES_GCM_16
}

/// Sizes for a selected IKE/ESP suite.
pub fn sizes(sel: &Selected) -> Result<EncrSizes, CryptoError> {
    encr_sizes(sel)
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
    let key: Zeroizing<Vec<u8>> = Zeroizing::new([ni, nr].concat());
    prf(prf_id, &key, &[shared.expose()])
}

/// SKEYSEED for an IKE SA rekey: prf(SK_d(old), g^ir(new) | Ni | Nr).
pub fn skeyseed_rekey(
    old_prf: u16,
    old_sk_d: &Secret,
    shared: &Secret,
    ni: &[u8],
    nr: &[u8],
) -> Result<Secret, CryptoError> {
    prf(old_prf, old_sk_d.expose(), &[shared.expose(), ni, nr])
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
    let sizes = encr_sizes(sel)?;
    let p = prf_len(sel.prf)?;
    let a = if sizes.aead {
        0
    } else {
        integ_key_len(sel.integ)?
    };
    let e = sizes.key;
    let seed = [ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()].concat();
    let km = prf_plus(sel.prf, skeyseed.expose(), &seed, p * 3 + a * 2 + e * 2)?;
    let k = km.expose();
    let mut at = 0;
    let mut take = |n: usize| {
        let s = Secret::new(k[at..at + n].to_vec());
        at += n;
        s
    };
    Ok(IkeKeys {
        sk_d: take(p),
        sk_ai: take(a),
        sk_ar: take(a),
        sk_ei: take(e),
        sk_er: take(e),
        sk_pi: take(p),
        sk_pr: take(p),
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

/// KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr), split initiator-to-responder first.
pub fn child_keys(
    prf_id: u16,
    sk_d: &Secret,
    shared: Option<&Secret>,
    ni: &[u8],
    nr: &[u8],
    sel: &Selected,
) -> Result<ChildKeys, CryptoError> {
    let sizes = encr_sizes(sel)?;
    let a = if sizes.aead {
        0
    } else {
        integ_key_len(sel.integ)?
    };
    let e = sizes.key;
    let mut seed = Zeroizing::new(Vec::new());
    if let Some(s) = shared {
        seed.extend_from_slice(s.expose());
    }
    seed.extend_from_slice(ni);
    seed.extend_from_slice(nr);
    let km = prf_plus(prf_id, sk_d.expose(), &seed, 2 * (a + e))?;
    let k = km.expose();
    Ok(ChildKeys {
        encr_i: Secret::new(k[..e].to_vec()),
        integ_i: Secret::new(k[e..e + a].to_vec()),
        encr_r: Secret::new(k[e + a..2 * e + a].to_vec()),
        integ_r: Secret::new(k[2 * e + a..].to_vec()),
    })
}

/// PSK AUTH data: prf(prf(secret, "Key Pad for IKEv2"), signed octets) (RFC 7296 2.15).
pub fn psk_auth(prf_id: u16, psk: &[u8], signed_octets: &[&[u8]]) -> Result<Secret, CryptoError> {
    let pad = prf(prf_id, psk, &[b"Key Pad for IKEv2"])?;
    prf(prf_id, pad.expose(), signed_octets)
}

/// Constant-time equality for AUTH values.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A private key-exchange value.
pub enum KeyExchange {
    /// X25519.
    X25519(x25519_dalek::StaticSecret),
    /// ECP-256.
    Ecp256(p256::NonZeroScalar),
}

impl KeyExchange {
    /// Generates a private value for `group` from `rng`.
    pub fn generate(group: u16, rng: &mut dyn RandomSource) -> Result<Self, CryptoError> {
        match group {
            ke::CURVE_25519 => {
                let mut b = Zeroizing::new([0u8; 32]);
                rng.fill(&mut b[..]);
                Ok(KeyExchange::X25519(x25519_dalek::StaticSecret::from(*b)))
            }
            ke::ECP_256 => loop {
                let mut b = Zeroizing::new([0u8; 32]);
                rng.fill(&mut b[..]);
                let field: p256::FieldBytes = (*b).into();
                if let Some(s) =
                    Option::<p256::NonZeroScalar>::from(p256::NonZeroScalar::from_repr(field))
                {
                    return Ok(KeyExchange::Ecp256(s));
                }
            },
            other => Err(CryptoError::Unsupported("ke", other)),
        }
    }

    /// The group number.
    pub fn group(&self) -> u16 {
        match self {
            KeyExchange::X25519(_) => ke::CURVE_25519,
            KeyExchange::Ecp256(_) => ke::ECP_256,
        }
    }

    /// Our public value as carried in the KE payload.
    pub fn public(&self) -> Vec<u8> {
        match self {
            KeyExchange::X25519(s) => x25519_dalek::PublicKey::from(s).as_bytes().to_vec(),
            KeyExchange::Ecp256(s) => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                let pk = p256::PublicKey::from_secret_scalar(s);
                // IKE carries x | y without the SEC1 0x04 prefix (RFC 5903 7).
                pk.to_encoded_point(false).as_bytes()[1..].to_vec()
            }
        }
    }

    /// The shared secret with the peer's public value.
    pub fn shared(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        match self {
            KeyExchange::X25519(s) => {
                let p: [u8; 32] = peer
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = s.diffie_hellman(&x25519_dalek::PublicKey::from(p));
                // RFC 8031 2.3: an all-zero result means a low-order point.
                if !shared.was_contributory() {
                    return Err(CryptoError::InvalidPublicValue);
                }
                Ok(Secret::new(shared.as_bytes().to_vec()))
            }
            KeyExchange::Ecp256(s) => {
                if peer.len() != 64 {
                    return Err(CryptoError::InvalidPublicValue);
                }
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(4);
                sec1.extend_from_slice(peer);
                let pk = p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = p256::ecdh::diffie_hellman(s, pk.as_affine());
                Ok(Secret::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    }
}

/// Length of the SK payload body (IV | ciphertext | ICV) for `plain_len` bytes of payloads.
pub fn sealed_len(sel: &Selected, plain_len: usize) -> Result<usize, CryptoError> {
    let s = encr_sizes(sel)?;
    Ok(s.iv + padded(plain_len, s.block) + s.icv)
}

fn padded(plain_len: usize, block: usize) -> usize {
    // payloads | padding | pad length (1 octet), rounded up to the block size.
    (plain_len + 1).div_ceil(block) * block
}

/// Encrypts `plain` into an SK payload body. `aad` is the message from the IKE header up to and
/// including the SK generic payload header (its lengths already final); `iv` must have the
/// suite's IV length and be unique per key.
pub fn seal(
    sel: &Selected,
    encr_key: &Secret,
    integ_key: &Secret,
    iv: &[u8],
    aad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let s = encr_sizes(sel)?;
    if iv.len() != s.iv || encr_key.len() != s.key {
        return Err(CryptoError::KeyLength);
    }
    let total = padded(plain.len(), s.block);
    let mut buf = Zeroizing::new(Vec::with_capacity(total));
    buf.extend_from_slice(plain);
    let pad_len = total - plain.len() - 1;
    buf.resize(total - 1, 0);
    buf.push(u8::try_from(pad_len).map_err(|_| CryptoError::KeyLength)?);
    let mut out = Vec::with_capacity(s.iv + total + s.icv);
    out.extend_from_slice(iv);
    let key = encr_key.expose();
    if s.aead {
        let (k, salt) = key.split_at(key.len() - 4);
        let nonce = [salt, iv].concat();
        let tag = gcm_seal(k, &nonce, aad, &mut buf)?;
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag);
    } else {
        cbc_encrypt(key, iv, &mut buf)?;
        out.extend_from_slice(&buf);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(integ_key.expose())
            .map_err(|_| CryptoError::KeyLength)?;
        mac.update(aad);
        mac.update(&out);
        let icv = mac.finalize().into_bytes();
        out.extend_from_slice(&icv[..s.icv]);
    }
    Ok(out)
}

/// Verifies and decrypts an SK payload body; returns the inner payload bytes.
pub fn open(
    sel: &Selected,
    encr_key: &Secret,
    integ_key: &Secret,
    aad: &[u8],
    body: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let s = encr_sizes(sel)?;
    if body.len() < s.iv + s.icv + 1 || encr_key.len() != s.key {
        return Err(CryptoError::Integrity);
    }
    let (iv, rest) = body.split_at(s.iv);
    let (ct, icv) = rest.split_at(rest.len() - s.icv);
    if ct.len() % s.block != 0 {
        return Err(CryptoError::Integrity);
    }
    let mut buf = Zeroizing::new(ct.to_vec());
    let key = encr_key.expose();
    if s.aead {
        let (k, salt) = key.split_at(key.len() - 4);
        let nonce = [salt, iv].concat();
        gcm_open(k, &nonce, aad, &mut buf, icv)?;
    } else {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(integ_key.expose())
            .map_err(|_| CryptoError::KeyLength)?;
        mac.update(aad);
        mac.update(&body[..body.len() - s.icv]);
        mac.verify_truncated_left(icv)
            .map_err(|_| CryptoError::Integrity)?;
        cbc_decrypt(key, iv, &mut buf)?;
    }
    let pad = usize::from(*buf.last().ok_or(CryptoError::Integrity)?);
    if pad + 1 > buf.len() {
        return Err(CryptoError::Integrity);
    }
    let keep = buf.len() - pad - 1;
    buf.truncate(keep);
    Ok(buf)
}

fn cbc_encrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let len = buf.len();
    match key.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::KeyLength)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ())
            .map_err(|_| CryptoError::KeyLength),
        32 => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::KeyLength)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ())
            .map_err(|_| CryptoError::KeyLength),
        _ => Err(CryptoError::KeyLength),
    }
}

fn cbc_decrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::KeyLength)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ())
            .map_err(|_| CryptoError::Integrity),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| CryptoError::KeyLength)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ())
            .map_err(|_| CryptoError::Integrity),
        _ => Err(CryptoError::KeyLength),
    }
}

fn gcm_seal(key: &[u8], nonce: &[u8], aad: &[u8], buf: &mut [u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce = aes_gcm::Nonce::from_slice(nonce);
    let tag = match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::KeyLength)?
            .encrypt_in_place_detached(nonce, aad, buf),
        32 => aes_gcm::Aes256Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::KeyLength)?
            .encrypt_in_place_detached(nonce, aad, buf),
        _ => return Err(CryptoError::KeyLength),
    }
    .map_err(|_| CryptoError::KeyLength)?;
    Ok(tag.to_vec())
}

fn gcm_open(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError> {
    let nonce = aes_gcm::Nonce::from_slice(nonce);
    let tag = aes_gcm::Tag::from_slice(tag);
    match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::KeyLength)?
            .decrypt_in_place_detached(nonce, aad, buf, tag),
        32 => aes_gcm::Aes256Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::KeyLength)?
            .decrypt_in_place_detached(nonce, aad, buf, tag),
        _ => return Err(CryptoError::KeyLength),
    }
    .map_err(|_| CryptoError::Integrity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::{Proposal, protocol};

    /// RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe").
    #[test]
    fn hmac_sha256_rfc4231_case2() {
        let out = prf(
            prf::HMAC_SHA2_256,
            b"Jefe",
            &[b"what do ya want ", b"for nothing?"],
        )
        .unwrap();
        let hexed: String = out.expose().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hexed,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn prf_plus_concatenates_chained_blocks() {
        let key = b"k";
        let out = prf_plus(prf::HMAC_SHA2_256, key, b"seed", 70).unwrap();
        let t1 = prf(prf::HMAC_SHA2_256, key, &[b"seed", &[1]]).unwrap();
        let t2 = prf(prf::HMAC_SHA2_256, key, &[t1.expose(), b"seed", &[2]]).unwrap();
        assert_eq!(&out.expose()[..32], t1.expose());
        assert_eq!(&out.expose()[32..64], t2.expose());
        assert_eq!(out.len(), 70);
    }

    struct Counter(u8);
    impl RandomSource for Counter {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_mul(31).wrapping_add(7);
                *b = self.0;
            }
        }
    }

    #[test]
    fn key_exchange_agrees_for_both_groups() {
        for group in [ke::CURVE_25519, ke::ECP_256] {
            let mut rng = Counter(1);
            let a = KeyExchange::generate(group, &mut rng).unwrap();
            let b = KeyExchange::generate(group, &mut rng).unwrap();
            let s1 = a.shared(&b.public()).unwrap();
            let s2 = b.shared(&a.public()).unwrap();
            assert_eq!(s1, s2);
            assert!(a.shared(&[0u8; 3]).is_err());
        }
    }

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        for text in ["aes128-sha256-x25519", "aes256gcm16-x25519"] {
            let sel = Proposal::parse(protocol::IKE, text)
                .unwrap()
                .selected()
                .unwrap();
            let sz = sizes(&sel).unwrap();
            let ek = Secret::new(vec![7; sz.key]);
            let ak = Secret::new(vec![9; if sz.aead { 0 } else { 32 }]);
            let iv = vec![3; sz.iv];
            let sealed = seal(&sel, &ek, &ak, &iv, b"header", b"payload bytes").unwrap();
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
