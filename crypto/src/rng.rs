//! Randomness as an input. The daemon passes [`OsRandom`]; tests pass
//! [`SeededRandom`] so every nonce, SPI, IV and private key is reproducible.
//! [`RngAdapter`] lets RustCrypto APIs (which take `rand_core` RNGs) draw from any
//! [`RandomSource`].

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsRng, RngCore, SeedableRng};

/// A source of cryptographically strong random bytes.
pub trait RandomSource {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The operating system's CSPRNG (`getrandom(2)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        // getrandom(2) on Linux does not fail once the pool is initialised; a
        // failure here means the system cannot produce keys at all.
        OsRng.fill_bytes(buf);
    }
}

/// Deterministic ChaCha20-based generator for tests and simulations. Not for
/// production keys: the seed determines every output.
#[derive(Debug, Clone)]
pub struct SeededRandom(ChaCha20Rng);

impl SeededRandom {
    /// A generator from a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ChaCha20Rng::from_seed(seed))
    }

    /// A generator from a small integer seed (convenient in tests).
    pub fn from_u64(seed: u64) -> Self {
        Self(ChaCha20Rng::seed_from_u64(seed))
    }
}

impl RandomSource for SeededRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

/// Adapts a [`RandomSource`] to `rand_core`'s `RngCore + CryptoRng`.
pub struct RngAdapter<'a>(pub &'a mut dyn RandomSource);

impl RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

/// Every `RandomSource` the crate accepts is expected to be cryptographically
/// strong (the seeded one is, given a secret seed).
impl CryptoRng for RngAdapter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_reproducible_and_seed_dependent() {
        let (mut a, mut b, mut c) = (
            SeededRandom::from_u64(7),
            SeededRandom::from_u64(7),
            SeededRandom::from_u64(8),
        );
        let (mut x, mut y, mut z) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn os_random_produces_distinct_outputs() {
        let mut r = OsRandom;
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        r.fill(&mut x);
        r.fill(&mut y);
        assert_ne!(x, y);
    }
}
