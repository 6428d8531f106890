//! Key exchange (IKEv2 KE payload): Curve25519 (RFC 8031), NIST ECP-256/384
//! (RFC 5903) and MODP-2048/3072/4096 (RFC 3526).
//!
//! Contract: [`KeyExchange::generate`] draws the private value from the caller's
//! [`RandomSource`]; [`KeyExchange::public_value`] is the KE payload's Key Exchange
//! Data; [`KeyExchange::shared_secret`] validates the peer's value before use
//! (RFC 6989: exact length; ECP point on the curve and not the identity; MODP
//! `1 < y < p-1`; an all-zero X25519 result is rejected, RFC 8031 2.1) and returns
//! g^ir in the encoding RFC 7296 2.14 feeds to SKEYSEED (ECP: x coordinate only,
//! RFC 5903 7; MODP: left-padded to the modulus length).
//! Curve448 (group 32) is not implemented: no maintained X448 crate in the
//! RustCrypto generation used here. X25519 runs on AWS-LC (`crate::x25519`, why there).
//! The peer's value is untrusted input: outside tests the module denies the panicking clippy
//! lints (unwrap, expect, panic, indexing, unchecked arithmetic).
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

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, U512, U2048, U3072, U4096, Uint};
use zeroize::Zeroize;

use crate::error::CryptoError;
use crate::registry::ids::KeId;
use crate::rng::{RandomSource, RngAdapter};
use crate::secret::SecretBytes;
use crate::x25519::X25519Secret;

/// A key exchange method iked implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeGroup {
    /// Group 31, Curve25519.
    Curve25519,
    /// Group 19, NIST P-256.
    Ecp256,
    /// Group 20, NIST P-384.
    Ecp384,
    /// Group 14, 2048-bit MODP.
    Modp2048,
    /// Group 15, 3072-bit MODP.
    Modp3072,
    /// Group 16, 4096-bit MODP.
    Modp4096,
}

impl KeGroup {
    /// Descriptor for an IANA KE method id.
    pub fn from_id(id: KeId) -> Result<Self, CryptoError> {
        match id {
            KeId::CURVE_25519 => Ok(Self::Curve25519),
            KeId::ECP_256 => Ok(Self::Ecp256),
            KeId::ECP_384 => Ok(Self::Ecp384),
            KeId::MODP_2048 => Ok(Self::Modp2048),
            KeId::MODP_3072 => Ok(Self::Modp3072),
            KeId::MODP_4096 => Ok(Self::Modp4096),
            other => Err(CryptoError::Unsupported {
                kind: "key exchange",
                id: other.0,
            }),
        }
    }

    /// The IANA id.
    pub const fn id(self) -> KeId {
        match self {
            Self::Curve25519 => KeId::CURVE_25519,
            Self::Ecp256 => KeId::ECP_256,
            Self::Ecp384 => KeId::ECP_384,
            Self::Modp2048 => KeId::MODP_2048,
            Self::Modp3072 => KeId::MODP_3072,
            Self::Modp4096 => KeId::MODP_4096,
        }
    }

    /// Length of the Key Exchange Data in bytes.
    pub const fn public_len(self) -> usize {
        match self {
            Self::Curve25519 => 32,
            Self::Ecp256 => 64,
            Self::Ecp384 => 96,
            Self::Modp2048 => 256,
            Self::Modp3072 => 384,
            Self::Modp4096 => 512,
        }
    }
}

enum Private {
    X25519(X25519Secret),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    /// Private exponent (big-endian, `MODP_EXPONENT_BITS` long).
    Modp(SecretBytes),
}

/// Our half of one key exchange.
pub struct KeyExchange {
    group: KeGroup,
    private: Private,
    public: Vec<u8>,
}

impl std::fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group)
            .field("private", &"<redacted>")
            .finish()
    }
}

/// Length of MODP private exponents. NIST SP 800-56A requires at least twice the
/// group's security strength (<= 152 bits for MODP-4096); 512 bits covers all
/// three groups and keeps the constant-time exponentiation bounded.
const MODP_EXPONENT_BITS: usize = 512;

impl KeyExchange {
    /// Generates a fresh private value and the matching public value.
    pub fn generate(group: KeGroup, rng: &mut dyn RandomSource) -> Self {
        match group {
            KeGroup::Curve25519 => {
                let mut bytes = [0u8; 32];
                rng.fill(&mut bytes);
                // Any 32 bytes are a valid scalar (clamped inside): only a failed allocation
                // in AWS-LC could refuse it, where the daemon could not go on anyway. Our own
                // random bytes, not peer input, so the module's no-panic rule allows it here.
                #[allow(clippy::expect_used)]
                let secret = X25519Secret::from_scalar(&bytes)
                    .expect("AWS-LC accepts every 32-byte X25519 scalar");
                bytes.zeroize();
                Self {
                    group,
                    public: secret.public().to_vec(),
                    private: Private::X25519(secret),
                }
            }
            KeGroup::Ecp256 => {
                let secret = p256::SecretKey::random(&mut RngAdapter(rng));
                let point = secret.public_key().to_sec1_bytes();
                Self {
                    group,
                    // SEC1 uncompressed: 0x04 | x | y; IKEv2 sends x | y (RFC 5903 7).
                    public: without_sec1_tag(&point),
                    private: Private::P256(secret),
                }
            }
            KeGroup::Ecp384 => {
                let secret = p384::SecretKey::random(&mut RngAdapter(rng));
                let point = secret.public_key().to_sec1_bytes();
                Self {
                    group,
                    public: without_sec1_tag(&point),
                    private: Private::P384(secret),
                }
            }
            KeGroup::Modp2048 | KeGroup::Modp3072 | KeGroup::Modp4096 => {
                let mut exponent = SecretBytes::zeroed(MODP_EXPONENT_BITS / 8);
                rng.fill(exponent.expose_mut());
                let public = modp_exp(group, &MODP_GENERATOR, &exponent);
                Self {
                    group,
                    private: Private::Modp(exponent),
                    public: public.expose().to_vec(),
                }
            }
        }
    }

    /// Rebuilds a key exchange from a known private value: the X25519 scalar
    /// (32 bytes), the ECP private scalar (field size, big-endian) or the MODP
    /// exponent (big-endian, at most 64 bytes). Meant for known-answer tests and
    /// reproducible simulations; the daemon uses [`Self::generate`].
    pub fn from_private_bytes(group: KeGroup, private: &[u8]) -> Result<Self, CryptoError> {
        let bad_len = |expected| CryptoError::InvalidLength {
            what: "private value",
            expected,
            actual: private.len(),
        };
        match group {
            KeGroup::Curve25519 => {
                let mut bytes: [u8; 32] = private.try_into().map_err(|_| bad_len(32))?;
                let secret = X25519Secret::from_scalar(&bytes);
                bytes.zeroize();
                let secret = secret?;
                Ok(Self {
                    group,
                    public: secret.public().to_vec(),
                    private: Private::X25519(secret),
                })
            }
            KeGroup::Ecp256 => {
                let secret = p256::SecretKey::from_slice(private)
                    .map_err(|_| CryptoError::InvalidKey("P-256 scalar".into()))?;
                let point = secret.public_key().to_sec1_bytes();
                Ok(Self {
                    group,
                    public: without_sec1_tag(&point),
                    private: Private::P256(secret),
                })
            }
            KeGroup::Ecp384 => {
                let secret = p384::SecretKey::from_slice(private)
                    .map_err(|_| CryptoError::InvalidKey("P-384 scalar".into()))?;
                let point = secret.public_key().to_sec1_bytes();
                Ok(Self {
                    group,
                    public: without_sec1_tag(&point),
                    private: Private::P384(secret),
                })
            }
            KeGroup::Modp2048 | KeGroup::Modp3072 | KeGroup::Modp4096 => {
                let width = MODP_EXPONENT_BITS / 8;
                if private.is_empty() || private.len() > width {
                    return Err(bad_len(width));
                }
                let mut exponent = SecretBytes::zeroed(width);
                let start = width.saturating_sub(private.len());
                if let Some(low) = exponent.expose_mut().get_mut(start..) {
                    low.copy_from_slice(private);
                }
                let public = modp_exp(group, &MODP_GENERATOR, &exponent);
                Ok(Self {
                    group,
                    private: Private::Modp(exponent),
                    public: public.expose().to_vec(),
                })
            }
        }
    }

    /// The group.
    pub fn group(&self) -> KeGroup {
        self.group
    }

    /// Our public value (Key Exchange Data of the KE payload).
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Validates the peer's public value and computes the shared secret g^ir.
    pub fn shared_secret(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer.len() != self.group.public_len() {
            return Err(CryptoError::InvalidLength {
                what: "key exchange data",
                expected: self.group.public_len(),
                actual: peer.len(),
            });
        }
        match &self.private {
            Private::X25519(secret) => {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(peer);
                // RFC 8031 2.1 / RFC 7748 6.1: the all-zero output that low-order points
                // produce is refused inside.
                secret.agree(&bytes)
            }
            Private::P256(secret) => {
                let point = sec1_uncompressed(peer);
                let public = p256::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| CryptoError::InvalidPublicValue("ECP point not on P-256"))?;
                let shared =
                    p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
                Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
            }
            Private::P384(secret) => {
                let point = sec1_uncompressed(peer);
                let public = p384::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| CryptoError::InvalidPublicValue("ECP point not on P-384"))?;
                let shared =
                    p384::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
                Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
            }
            Private::Modp(exponent) => {
                modp_check_public(self.group, peer)?;
                let shared = modp_exp(self.group, peer, exponent);
                if is_one(shared.expose()) {
                    return Err(CryptoError::DegenerateSharedSecret);
                }
                Ok(shared)
            }
        }
    }
}

/// SEC1 uncompressed `0x04 | x | y` -> `x | y` as IKEv2 sends it (RFC 5903 7).
fn without_sec1_tag(point: &[u8]) -> Vec<u8> {
    point.get(1..).unwrap_or_default().to_vec()
}

/// `x | y` -> SEC1 uncompressed encoding `0x04 | x | y`.
fn sec1_uncompressed(xy: &[u8]) -> Vec<u8> {
    let mut point = Vec::with_capacity(xy.len().saturating_add(1));
    point.push(0x04);
    point.extend_from_slice(xy);
    point
}

fn is_one(be: &[u8]) -> bool {
    be.split_last()
        .is_some_and(|(last, high)| *last == 1 && high.iter().all(|b| *b == 0))
}

/// The generator 2 of all RFC 3526 groups, big-endian.
const MODP_GENERATOR: [u8; 1] = [2];

fn modp_prime_hex(group: KeGroup) -> &'static str {
    match group {
        KeGroup::Modp3072 => MODP_3072_PRIME,
        KeGroup::Modp4096 => MODP_4096_PRIME,
        _ => MODP_2048_PRIME,
    }
}

/// RFC 6989 2.1 / RFC 7296: `1 < y < p-1`. Public values are not secret, so a
/// variable-time comparison is fine.
fn modp_check_public(group: KeGroup, y: &[u8]) -> Result<(), CryptoError> {
    let prime = hex_to_bytes(modp_prime_hex(group));
    let mut p_minus_1 = prime.clone();
    // p is odd, so p-1 only clears the lowest bit.
    if let Some(last) = p_minus_1.last_mut() {
        *last &= 0xfe;
    }
    let leading_zeros_then_at_most_one =
        y.iter().rev().skip(1).all(|b| *b == 0) && y.last().is_some_and(|b| *b <= 1);
    if leading_zeros_then_at_most_one {
        return Err(CryptoError::InvalidPublicValue("MODP value <= 1"));
    }
    // Big-endian byte strings of equal length compare like the numbers.
    if y >= p_minus_1.as_slice() {
        return Err(CryptoError::InvalidPublicValue("MODP value >= p-1"));
    }
    Ok(())
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        // Only ever called on the RFC 3526 prime constants, which are valid hex.
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(0)
        })
        .collect()
}

/// `base^exponent mod p`, constant time in the exponent (crypto-bigint Montgomery
/// ladder bounded to `MODP_EXPONENT_BITS`), left-padded to the modulus length.
fn modp_exp(group: KeGroup, base: &[u8], exponent: &SecretBytes) -> SecretBytes {
    match group {
        KeGroup::Modp3072 => modp_exp_sized::<{ U3072::LIMBS }>(MODP_3072_PRIME, base, exponent),
        KeGroup::Modp4096 => modp_exp_sized::<{ U4096::LIMBS }>(MODP_4096_PRIME, base, exponent),
        _ => modp_exp_sized::<{ U2048::LIMBS }>(MODP_2048_PRIME, base, exponent),
    }
}

fn modp_exp_sized<const LIMBS: usize>(
    prime_hex: &str,
    base: &[u8],
    exponent: &SecretBytes,
) -> SecretBytes
where
    Uint<LIMBS>: Encoding,
{
    let prime = Uint::<LIMBS>::from_be_hex(prime_hex);
    let width = LIMBS.saturating_mul(crypto_bigint::Limb::BYTES);
    let mut padded = vec![0u8; width];
    // Callers pass at most `width` bytes (checked public values or the generator).
    let start = width.saturating_sub(base.len());
    let low = base.get(base.len().saturating_sub(width)..);
    if let (Some(dst), Some(src)) = (padded.get_mut(start..), low) {
        dst.copy_from_slice(src);
    }
    let base = Uint::<LIMBS>::from_be_slice(&padded);
    let mut exp = U512::from_be_slice(exponent.expose());
    let params = DynResidueParams::new(&prime);
    let result = DynResidue::new(&base, params)
        .pow_bounded_exp(&exp, MODP_EXPONENT_BITS)
        .retrieve();
    exp.zeroize();
    let mut bytes = result.to_be_bytes();
    let out = SecretBytes::from_slice(bytes.as_ref());
    bytes.as_mut().zeroize();
    out
}

/// RFC 3526 2048-bit MODP prime (section 3, group 14).
const MODP_2048_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// RFC 3526 3072-bit MODP prime (section 4, group 15).
const MODP_3072_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// RFC 3526 4096-bit MODP prime (section 5, group 16).
const MODP_4096_PRIME: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRandom;

    fn pair(group: KeGroup, seed: u64) -> (KeyExchange, KeyExchange) {
        let mut rng = SeededRandom::from_u64(seed);
        (
            KeyExchange::generate(group, &mut rng),
            KeyExchange::generate(group, &mut rng),
        )
    }

    #[test]
    fn all_groups_agree_and_have_declared_lengths() {
        for group in [
            KeGroup::Curve25519,
            KeGroup::Ecp256,
            KeGroup::Ecp384,
            KeGroup::Modp2048,
            KeGroup::Modp3072,
            KeGroup::Modp4096,
        ] {
            let (a, b) = pair(group, 1);
            assert_eq!(a.public_value().len(), group.public_len(), "{group:?}");
            let s1 = a.shared_secret(b.public_value()).unwrap();
            let s2 = b.shared_secret(a.public_value()).unwrap();
            assert_eq!(s1, s2, "{group:?}");
            assert_ne!(a.public_value(), b.public_value());
        }
    }

    #[test]
    fn modp_primes_have_rfc3526_shape() {
        // RFC 3526: p = 2^n - 2^(n-64) - 1 + 2^64 * (...): top and bottom 64 bits set.
        for (hex, bits) in [
            (MODP_2048_PRIME, 2048),
            (MODP_3072_PRIME, 3072),
            (MODP_4096_PRIME, 4096),
        ] {
            let p = hex_to_bytes(hex);
            assert_eq!(p.len() * 8, bits);
            assert!(p[..8].iter().all(|b| *b == 0xff));
            assert!(p[p.len() - 8..].iter().all(|b| *b == 0xff));
            // All three share the digits of pi after the top 64 bits.
            assert_eq!(&hex[16..32], "C90FDAA22168C234");
        }
    }

    #[test]
    fn rejects_wrong_lengths() {
        let (a, _) = pair(KeGroup::Curve25519, 2);
        assert!(matches!(
            a.shared_secret(&[9u8; 31]),
            Err(CryptoError::InvalidLength { .. })
        ));
        let (e, _) = pair(KeGroup::Ecp256, 2);
        assert!(e.shared_secret(&[1u8; 65]).is_err());
    }

    /// RFC 7748 5.2 lists low-order points; the all-zero point yields an all-zero
    /// shared secret which RFC 8031 2.1 requires to be rejected.
    #[test]
    fn x25519_low_order_point_rejected() {
        let (a, _) = pair(KeGroup::Curve25519, 3);
        assert_eq!(
            a.shared_secret(&[0u8; 32]),
            Err(CryptoError::DegenerateSharedSecret)
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            a.shared_secret(&one),
            Err(CryptoError::DegenerateSharedSecret)
        );
    }

    #[test]
    fn ecp_off_curve_point_rejected() {
        let (a, b) = pair(KeGroup::Ecp256, 4);
        let mut bad = b.public_value().to_vec();
        bad[63] ^= 1;
        assert!(matches!(
            a.shared_secret(&bad),
            Err(CryptoError::InvalidPublicValue(_))
        ));
        assert!(a.shared_secret(&[0u8; 64]).is_err());
        let (c, d) = pair(KeGroup::Ecp384, 4);
        let mut bad = d.public_value().to_vec();
        bad[0] ^= 0x80;
        assert!(c.shared_secret(&bad).is_err());
    }

    #[test]
    fn modp_range_checks() {
        let (a, _) = pair(KeGroup::Modp2048, 5);
        let prime = hex_to_bytes(MODP_2048_PRIME);
        let mut p_minus_1 = prime.clone();
        p_minus_1[255] -= 1;
        let mut one = vec![0u8; 256];
        one[255] = 1;
        for bad in [vec![0u8; 256], one, p_minus_1, prime, vec![0xff; 256]] {
            assert!(
                matches!(
                    a.shared_secret(&bad),
                    Err(CryptoError::InvalidPublicValue(_))
                ),
                "accepted an out-of-range value"
            );
        }
        let mut two = vec![0u8; 256];
        two[255] = 2;
        assert!(a.shared_secret(&two).is_ok());
    }

    /// The MODP exponentiation agrees with an independent implementation:
    /// 2^e mod p computed with Python's `pow(2, e, p)` for e = 0x0102...40 (64 bytes)
    /// would need an external tool; instead check algebra: (g^a)^b == (g^b)^a ==
    /// g^(a*b) where a*b fits the exponent bound.
    #[test]
    fn modp_exponent_algebra() {
        let mut a = SecretBytes::zeroed(64);
        a.expose_mut()[63] = 3;
        let mut b = SecretBytes::zeroed(64);
        b.expose_mut()[63] = 5;
        let mut ab = SecretBytes::zeroed(64);
        ab.expose_mut()[63] = 15;
        let ga = modp_exp(KeGroup::Modp2048, &MODP_GENERATOR, &a);
        let gab = modp_exp(KeGroup::Modp2048, ga.expose(), &b);
        let direct = modp_exp(KeGroup::Modp2048, &MODP_GENERATOR, &ab);
        assert_eq!(gab, direct);
        // 2^15 = 32768, far below p: plain integer, left-padded.
        let mut expected = vec![0u8; 256];
        expected[254] = 0x80;
        assert_eq!(direct.expose(), expected.as_slice());
    }
}
