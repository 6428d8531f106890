//! The Encrypted payload body (SK, RFC 7296 3.14; SKF fragments, RFC 7383 2.5)
//! for classic ciphers with HMAC (AES-CBC) and AEAD (AES-GCM RFC 5282,
//! ChaCha20-Poly1305 RFC 7634).
//!
//! Contract: the engine owns the wire format. It builds the message up to and
//! including the SK/SKF generic payload header (with lengths computed from
//! [`SkCipher::encrypted_len`]) and passes those bytes as `aad`; this module
//! returns/consumes the body after that header: `IV | ciphertext | ICV`, where the
//! plaintext is `payloads | padding | pad length`. For SKF (RFC 7383 2.5) `aad`
//! ends with the 8-byte SKF header (generic header, Fragment Number, Total
//! Fragments); [`SkCipher::max_plaintext_len`] sizes fragments.
//! - Classic: ICV = truncated HMAC(SK_a, aad | IV | ciphertext) (the whole message
//!   from the IKE header through the pad length, encrypted); checked before
//!   decrypting, in constant time.
//! - AEAD: associated data = `aad` exactly (IKE header through the SK header; the
//!   IV is not included, RFC 5282 5.1), nonce = salt | IV.
//! - IVs: CBC uses fresh random IVs (RFC 7296 3.14 requires unpredictable IVs);
//!   AEAD uses a 64-bit counter that starts at a random value, so an IV never
//!   repeats under one key.
//! - Decryption never panics: short bodies, bad block alignment, bad pad length and
//!   bad ICVs are [`CryptoError`]s. Outside tests the module denies the panicking clippy
//!   lints (unwrap, expect, panic, indexing, unchecked arithmetic).
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

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::CryptoError;
use crate::rng::RandomSource;
use crate::secret::SecretBytes;
use crate::transforms::{EncrAlg, IkeSuite, IntegAlg};

type Aes192Gcm = AesGcm<aes::Aes192, aes_gcm::aead::consts::U12>;

/// Full 16-byte tag; shorter ICVs are its prefix (NIST SP 800-38D 5.2.1.2).
const FULL_TAG: usize = 16;

/// Keyed AEAD cipher.
enum AeadCipher {
    Gcm128(Box<Aes128Gcm>),
    Gcm192(Box<Aes192Gcm>),
    Gcm256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl AeadCipher {
    fn new(encr: EncrAlg, key: &[u8]) -> Result<Self, CryptoError> {
        let bad = || CryptoError::InvalidLength {
            what: "encryption key",
            expected: encr.key_len(),
            actual: key.len(),
        };
        Ok(match (encr, key.len()) {
            (EncrAlg::AesGcm { .. }, 16) => {
                Self::Gcm128(Box::new(Aes128Gcm::new_from_slice(key).map_err(|_| bad())?))
            }
            (EncrAlg::AesGcm { .. }, 24) => {
                Self::Gcm192(Box::new(Aes192Gcm::new_from_slice(key).map_err(|_| bad())?))
            }
            (EncrAlg::AesGcm { .. }, 32) => {
                Self::Gcm256(Box::new(Aes256Gcm::new_from_slice(key).map_err(|_| bad())?))
            }
            (EncrAlg::ChaCha20Poly1305, 32) => Self::ChaCha(Box::new(
                ChaCha20Poly1305::new_from_slice(key).map_err(|_| bad())?,
            )),
            _ => return Err(bad()),
        })
    }

    /// Encrypts in place, returns the full 16-byte tag.
    fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; FULL_TAG], CryptoError> {
        let nonce = aes_gcm::Nonce::from_slice(nonce);
        let tag = match self {
            Self::Gcm128(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Self::Gcm192(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Self::Gcm256(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Self::ChaCha(c) => c.encrypt_in_place_detached(nonce, aad, buf),
        }
        // The AEADs only refuse inputs beyond 2^36 bytes.
        .map_err(|_| CryptoError::MalformedCiphertext("AEAD input too long"))?;
        let mut out = [0u8; FULL_TAG];
        out.copy_from_slice(&tag);
        Ok(out)
    }

    /// Verifies `icv` (possibly a truncated tag) and decrypts in place.
    fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        if icv.len() == FULL_TAG {
            let n = aes_gcm::Nonce::from_slice(nonce);
            let tag = aes_gcm::Tag::from_slice(icv);
            let result = match self {
                Self::Gcm128(c) => c.decrypt_in_place_detached(n, aad, buf, tag),
                Self::Gcm192(c) => c.decrypt_in_place_detached(n, aad, buf, tag),
                Self::Gcm256(c) => c.decrypt_in_place_detached(n, aad, buf, tag),
                Self::ChaCha(c) => c.decrypt_in_place_detached(n, aad, buf, tag),
            };
            return result.map_err(|_| CryptoError::IntegrityCheckFailed);
        }
        // Truncated GCM ICV (8 or 12 bytes): the GCM tag depends only on AAD and
        // ciphertext, and GCM encryption is its own inverse on the data. So
        // "encrypting" the ciphertext yields the plaintext, and encrypting that
        // plaintext again reproduces the ciphertext together with the full tag,
        // whose prefix we compare in constant time. The plaintext is only released
        // after the tag matched.
        let mut plaintext = buf.to_vec();
        self.seal(nonce, aad, &mut plaintext)?;
        let mut ciphertext_again = plaintext.clone();
        let full = self.seal(nonce, aad, &mut ciphertext_again)?;
        if full
            .get(..icv.len())
            .is_some_and(|tag| bool::from(tag.ct_eq(icv)))
        {
            buf.copy_from_slice(&plaintext);
            plaintext.zeroize();
            Ok(())
        } else {
            plaintext.zeroize();
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

/// Encrypts and decrypts SK payload bodies in one direction-independent context:
/// make one with SK_ei/SK_ai for messages the initiator sends and one with
/// SK_er/SK_ar for the responder's.
pub struct SkCipher {
    encr: EncrAlg,
    integ: Option<IntegAlg>,
    encr_key: SecretBytes,
    salt: [u8; 4],
    integ_key: SecretBytes,
    aead: Option<AeadCipher>,
    /// Next AEAD IV; `None` until the first encryption draws a random start.
    next_iv: Option<u64>,
}

impl SkCipher {
    /// Keys a cipher. `encr_key` is SK_e (key plus 4-byte salt for AEAD),
    /// `integ_key` is SK_a (empty for AEAD).
    pub fn new(
        suite: &IkeSuite,
        encr_key: &SecretBytes,
        integ_key: &SecretBytes,
    ) -> Result<Self, CryptoError> {
        let encr = suite.encr;
        if encr_key.len() != encr.keymat_len() {
            return Err(CryptoError::InvalidLength {
                what: "SK_e",
                expected: encr.keymat_len(),
                actual: encr_key.len(),
            });
        }
        if integ_key.len() != suite.integ_key_len() {
            return Err(CryptoError::InvalidLength {
                what: "SK_a",
                expected: suite.integ_key_len(),
                actual: integ_key.len(),
            });
        }
        let bad_salt = || CryptoError::InvalidLength {
            what: "SK_e salt",
            expected: 4,
            actual: encr_key.len().saturating_sub(encr.key_len()),
        };
        let (key, salt_bytes) = encr_key
            .expose()
            .split_at_checked(encr.key_len())
            .ok_or_else(bad_salt)?;
        let mut salt = [0u8; 4];
        salt.get_mut(..salt_bytes.len())
            .ok_or_else(bad_salt)?
            .copy_from_slice(salt_bytes);
        let aead = if encr.is_aead() {
            Some(AeadCipher::new(encr, key)?)
        } else {
            None
        };
        Ok(Self {
            encr,
            integ: suite.integ,
            encr_key: SecretBytes::from_slice(key),
            salt,
            integ_key: integ_key.clone(),
            aead,
            next_iv: None,
        })
    }

    fn icv_len(&self) -> usize {
        match self.integ {
            Some(integ) => integ.icv_len(),
            None => self.encr.aead_icv_len(),
        }
    }

    fn padded_len(&self, plaintext_len: usize) -> usize {
        let block = self.encr.block_size();
        // payloads | padding | pad length byte, rounded up to the block size. Saturating:
        // a length near usize::MAX is refused by the callers' length checks anyway.
        plaintext_len
            .saturating_add(1)
            .div_ceil(block)
            .saturating_mul(block)
    }

    /// Length of the body (`IV | ciphertext | ICV`) that [`Self::encrypt`] returns
    /// for `plaintext_len` bytes of inner payloads; the engine writes it (+4) into
    /// the SK generic header and the total into the IKE header before encrypting.
    pub fn encrypted_len(&self, plaintext_len: usize) -> usize {
        self.encr
            .iv_len()
            .saturating_add(self.padded_len(plaintext_len))
            .saturating_add(self.icv_len())
    }

    /// The largest plaintext whose encrypted body fits in `body_len` bytes (for
    /// splitting a message into SKF fragments); 0 if nothing fits.
    pub fn max_plaintext_len(&self, body_len: usize) -> usize {
        let block = self.encr.block_size();
        let room = body_len.saturating_sub(self.encr.iv_len().saturating_add(self.icv_len()));
        room.checked_div(block)
            .unwrap_or(0)
            .saturating_mul(block)
            .saturating_sub(1)
    }

    /// Encrypts `plaintext` (the inner payloads). `aad` is the message from the
    /// IKE header through the SK/SKF generic header, with final lengths.
    pub fn encrypt(
        &mut self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, CryptoError> {
        let iv_len = self.encr.iv_len();
        let padded = self.padded_len(plaintext.len());
        let mut body = Vec::with_capacity(self.encrypted_len(plaintext.len()));
        let mut iv = [0u8; 16];
        let bad_iv = || CryptoError::InvalidLength {
            what: "IV",
            expected: 16,
            actual: iv_len,
        };
        match &self.aead {
            None => rng.fill(iv.get_mut(..iv_len).ok_or_else(bad_iv)?),
            Some(_) => {
                let counter = match self.next_iv {
                    Some(v) => v,
                    None => {
                        let mut start = [0u8; 8];
                        rng.fill(&mut start);
                        u64::from_be_bytes(start)
                    }
                };
                self.next_iv = Some(counter.wrapping_add(1));
                let [c0, c1, c2, c3, c4, c5, c6, c7] = counter.to_be_bytes();
                iv = [c0, c1, c2, c3, c4, c5, c6, c7, 0, 0, 0, 0, 0, 0, 0, 0];
            }
        }
        let iv = iv.get(..iv_len).ok_or_else(bad_iv)?;
        body.extend_from_slice(iv);
        // payloads | zero padding | pad length (which excludes itself); padded_len leaves
        // room for at least the pad length byte.
        let pad = padded
            .checked_sub(plaintext.len())
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| u8::try_from(n).ok())
            .ok_or(CryptoError::MalformedCiphertext(
                "padding exceeds one block",
            ))?;
        let mut buf = Vec::with_capacity(padded);
        buf.extend_from_slice(plaintext);
        buf.resize(padded.saturating_sub(1), 0);
        buf.push(pad);
        match &self.aead {
            Some(aead) => {
                let nonce = self.nonce(iv)?;
                let tag = aead.seal(&nonce, aad, &mut buf)?;
                body.extend_from_slice(&buf);
                let icv = tag
                    .get(..self.icv_len())
                    .ok_or(CryptoError::InvalidLength {
                        what: "ICV",
                        expected: FULL_TAG,
                        actual: self.icv_len(),
                    })?;
                body.extend_from_slice(icv);
            }
            None => {
                cbc_encrypt(self.encr_key.expose(), iv, &mut buf)?;
                body.extend_from_slice(&buf);
                let integ = self.integ.ok_or(CryptoError::Unsupported {
                    kind: "integrity",
                    id: 0,
                })?;
                let icv = integ.compute(self.integ_key.expose(), &[aad, &body])?;
                body.extend_from_slice(&icv);
            }
        }
        buf.zeroize();
        Ok(body)
    }

    /// Verifies and decrypts a body (`IV | ciphertext | ICV`), returning the inner
    /// payloads with padding removed.
    pub fn decrypt(&self, aad: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        let block = self.encr.block_size();
        let short = CryptoError::MalformedCiphertext("encrypted payload too short");
        let min = iv_len.saturating_add(block.max(1)).saturating_add(icv_len);
        if body.len() < min {
            return Err(short);
        }
        let (signed, icv) = body
            .split_at_checked(body.len().saturating_sub(icv_len))
            .ok_or(short.clone())?;
        let (iv, ciphertext) = signed.split_at_checked(iv_len).ok_or(short)?;
        if ciphertext.len().checked_rem(block) != Some(0) {
            return Err(CryptoError::MalformedCiphertext(
                "ciphertext is not a multiple of the block size",
            ));
        }
        let mut buf = ciphertext.to_vec();
        match &self.aead {
            Some(aead) => {
                let nonce = self.nonce(iv)?;
                aead.open(&nonce, aad, &mut buf, icv)?;
            }
            None => {
                let integ = self.integ.ok_or(CryptoError::Unsupported {
                    kind: "integrity",
                    id: 0,
                })?;
                integ.verify(self.integ_key.expose(), &[aad, signed], icv)?;
                cbc_decrypt(self.encr_key.expose(), iv, &mut buf)?;
            }
        }
        // The last byte is the pad length, which excludes itself.
        let kept = buf
            .last()
            .and_then(|&pad| buf.len().checked_sub(usize::from(pad)))
            .and_then(|n| n.checked_sub(1));
        let Some(kept) = kept else {
            buf.zeroize();
            return Err(CryptoError::MalformedCiphertext("pad length exceeds data"));
        };
        buf.truncate(kept);
        Ok(buf)
    }

    /// salt | IV (RFC 5282 4, RFC 7634 2): the AEAD IV is 8 bytes.
    fn nonce(&self, iv: &[u8]) -> Result<[u8; 12], CryptoError> {
        let iv: [u8; 8] = iv.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "AEAD IV",
            expected: 8,
            actual: iv.len(),
        })?;
        let [s0, s1, s2, s3] = self.salt;
        let [i0, i1, i2, i3, i4, i5, i6, i7] = iv;
        Ok([s0, s1, s2, s3, i0, i1, i2, i3, i4, i5, i6, i7])
    }
}

impl Drop for SkCipher {
    fn drop(&mut self) {
        self.salt.zeroize();
    }
}

fn cbc_encrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let len = buf.len();
    let bad_key = || CryptoError::InvalidLength {
        what: "AES-CBC key",
        expected: 16,
        actual: key.len(),
    };
    let result = match key.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| bad_key())?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        24 => cbc::Encryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(|_| bad_key())?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        32 => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| bad_key())?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        _ => return Err(bad_key()),
    };
    result.map_err(|_| CryptoError::MalformedCiphertext("plaintext not block aligned"))
}

fn cbc_decrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    let bad_key = || CryptoError::InvalidLength {
        what: "AES-CBC key",
        expected: 16,
        actual: key.len(),
    };
    let result = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|_| bad_key())?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(|_| bad_key())?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|_| bad_key())?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        _ => return Err(bad_key()),
    };
    result.map_err(|_| CryptoError::MalformedCiphertext("ciphertext not block aligned"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Encr, EncrId, IntegId, PrfId};
    use crate::rng::SeededRandom;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 3602 4, Case #2: AES-128-CBC, two blocks.
    #[test]
    fn rfc3602_case_2() {
        let key = h("c286696d887c9aa0611bbb3e2025a45a");
        let iv = h("562e17996d093d28ddb3ba695a2e6f58");
        let mut buf = h("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        cbc_encrypt(&key, &iv, &mut buf).unwrap();
        assert_eq!(
            hex::encode(&buf),
            "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"
        );
        cbc_decrypt(&key, &iv, &mut buf).unwrap();
        assert_eq!(
            hex::encode(&buf),
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        );
    }

    /// RFC 4106 uses the GCM test vectors of McGrew & Viega ("The Galois/Counter
    /// Mode of Operation", Test Case 4, AES-128, 60-byte plaintext, 20-byte AAD);
    /// here fed through the RFC 5282 salt | IV nonce split: salt = cafebabe,
    /// IV = facedbaddecaf888.
    #[test]
    fn gcm_spec_test_case_4_with_rfc5282_nonce_split() {
        let key = h("feffe9928665731c6d6a8f9467308308");
        let cipher = AeadCipher::new(
            EncrAlg::AesGcm {
                key_len: 16,
                icv_len: 16,
            },
            &key,
        )
        .unwrap();
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&h("cafebabefacedbaddecaf888"));
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let mut buf = h(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let tag = cipher.seal(&nonce, &aad, &mut buf).unwrap();
        assert_eq!(
            hex::encode(&buf),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
        );
        assert_eq!(hex::encode(tag), "5bc94fbc3221a5db94fae95ae7121a47");
        // Truncated ICV path (RFC 4106 ICV 8/12): prefix of the full tag.
        let ct = buf.clone();
        cipher.open(&nonce, &aad, &mut buf, &tag[..8]).unwrap();
        assert_eq!(&buf[..4], &h("d9313225")[..]);
        let mut tampered = ct.clone();
        tampered[0] ^= 1;
        assert_eq!(
            cipher.open(&nonce, &aad, &mut tampered, &tag[..12]),
            Err(CryptoError::IntegrityCheckFailed)
        );
    }

    /// RFC 8439 2.8.2: ChaCha20-Poly1305 AEAD ("Ladies and Gentlemen...").
    #[test]
    fn rfc8439_aead_vector() {
        let key = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        let cipher = AeadCipher::new(EncrAlg::ChaCha20Poly1305, &key).unwrap();
        let mut nonce = [0u8; 12];
        // RFC 7634: nonce = salt (07000000) | IV (4041424344454647).
        nonce.copy_from_slice(&h("070000004041424344454647"));
        let aad = h("50515253c0c1c2c3c4c5c6c7");
        let mut buf = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
        let tag = cipher.seal(&nonce, &aad, &mut buf).unwrap();
        assert_eq!(hex::encode(&buf[..16]), "d31a8d34648e60db7b86afbc53ef7ec2");
        assert_eq!(hex::encode(&buf[buf.len() - 2..]), "6116");
        assert_eq!(hex::encode(tag), "1ae10b594f09e26a7e902ecbd0600691");
    }

    fn suite(encr: Encr, integ: Option<IntegId>) -> IkeSuite {
        IkeSuite::new(encr, integ, PrfId::HMAC_SHA2_256).unwrap()
    }

    fn cipher_pair(s: &IkeSuite) -> (SkCipher, SkCipher) {
        let mut rng = SeededRandom::from_u64(11);
        let mut ek = SecretBytes::zeroed(s.encr.keymat_len());
        rng.fill(ek.expose_mut());
        let mut ak = SecretBytes::zeroed(s.integ_key_len());
        rng.fill(ak.expose_mut());
        (
            SkCipher::new(s, &ek, &ak).unwrap(),
            SkCipher::new(s, &ek, &ak).unwrap(),
        )
    }

    fn all_suites() -> Vec<IkeSuite> {
        vec![
            suite(
                Encr::new(EncrId::AES_CBC, 128),
                Some(IntegId::HMAC_SHA2_256_128),
            ),
            suite(
                Encr::new(EncrId::AES_CBC, 256),
                Some(IntegId::HMAC_SHA2_512_256),
            ),
            suite(Encr::new(EncrId::AES_GCM_16, 128), None),
            suite(Encr::new(EncrId::AES_GCM_12, 192), None),
            suite(Encr::new(EncrId::AES_GCM_8, 256), None),
            suite(Encr::without_key_length(EncrId::CHACHA20_POLY1305), None),
        ]
    }

    #[test]
    fn round_trip_all_suites_and_lengths() {
        let mut rng = SeededRandom::from_u64(5);
        for s in all_suites() {
            let (mut tx, rx) = cipher_pair(&s);
            for len in [0usize, 1, 15, 16, 17, 300] {
                let aad = vec![0xa5; 32];
                let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let body = tx.encrypt(&aad, &pt, &mut rng).unwrap();
                assert_eq!(body.len(), tx.encrypted_len(len), "{s:?}");
                // max_plaintext_len is the inverse bound of encrypted_len.
                let max = tx.max_plaintext_len(body.len());
                assert!(max >= len && tx.encrypted_len(max) <= body.len(), "{s:?}");
                assert!(tx.encrypted_len(max + 1) > body.len(), "{s:?}");
                assert_eq!(rx.decrypt(&aad, &body).unwrap(), pt, "{s:?}");
                // Wrong AAD (e.g. a modified IKE header) must fail.
                let mut other = aad.clone();
                other[3] ^= 1;
                assert_eq!(
                    rx.decrypt(&other, &body),
                    Err(CryptoError::IntegrityCheckFailed)
                );
            }
        }
    }

    #[test]
    fn aead_ivs_are_sequential_and_unique() {
        let s = suite(Encr::new(EncrId::AES_GCM_16, 128), None);
        let (mut tx, _) = cipher_pair(&s);
        let mut rng = SeededRandom::from_u64(9);
        let a = tx.encrypt(b"", b"x", &mut rng).unwrap();
        let b = tx.encrypt(b"", b"x", &mut rng).unwrap();
        let iv = |v: &[u8]| u64::from_be_bytes(v[..8].try_into().unwrap());
        assert_eq!(iv(&b), iv(&a).wrapping_add(1));
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for s in all_suites() {
            let (mut tx, rx) = cipher_pair(&s);
            let mut rng = SeededRandom::from_u64(1);
            let body = tx.encrypt(b"hdr", &[1, 2, 3], &mut rng).unwrap();
            for cut in 0..body.len() {
                assert!(rx.decrypt(b"hdr", &body[..cut]).is_err(), "{s:?} cut {cut}");
            }
            let mut bad = body.clone();
            *bad.last_mut().unwrap() ^= 0x80;
            assert_eq!(
                rx.decrypt(b"hdr", &bad),
                Err(CryptoError::IntegrityCheckFailed)
            );
        }
    }

    #[test]
    fn bad_pad_length_is_rejected_after_authentication() {
        // Build a CBC body whose (authenticated) pad length byte exceeds the data.
        let s = suite(
            Encr::new(EncrId::AES_CBC, 128),
            Some(IntegId::HMAC_SHA2_256_128),
        );
        let (tx, rx) = cipher_pair(&s);
        let iv = [7u8; 16];
        let mut block = [0u8; 16];
        block[15] = 200;
        cbc_encrypt(tx.encr_key.expose(), &iv, &mut block).unwrap();
        let mut body = iv.to_vec();
        body.extend_from_slice(&block);
        let icv = IntegAlg::HmacSha256_128
            .compute(tx.integ_key.expose(), &[b"hdr", &body])
            .unwrap();
        body.extend_from_slice(&icv);
        assert_eq!(
            rx.decrypt(b"hdr", &body),
            Err(CryptoError::MalformedCiphertext("pad length exceeds data"))
        );
    }

    #[test]
    fn wrong_key_lengths_are_rejected() {
        let s = suite(Encr::new(EncrId::AES_GCM_16, 128), None);
        assert!(matches!(
            SkCipher::new(&s, &SecretBytes::zeroed(16), &SecretBytes::default()),
            Err(CryptoError::InvalidLength { .. })
        ));
        let s = suite(
            Encr::new(EncrId::AES_CBC, 128),
            Some(IntegId::HMAC_SHA2_256_128),
        );
        assert!(SkCipher::new(&s, &SecretBytes::zeroed(16), &SecretBytes::zeroed(31)).is_err());
    }
}
