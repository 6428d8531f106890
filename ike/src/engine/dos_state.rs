//! The state of the engine's flood defences: the cookie secrets and half-open counts that
//! `dos.rs` decides with ([`DosState`]), and the token bucket of `unknown_spi.rs`'s
//! INVALID_IKE_SPI answers ([`UnknownSpiLimiter`]). Data and its arithmetic only: the engine
//! holds it, and the decisions that use it live beside the engine.

use std::net::IpAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use super::RandomSource;
use crate::suite;
use crate::time::Timestamp;

/// How long a cookie is accepted after we built it (charon's `COOKIE_LIFETIME`).
pub(crate) const COOKIE_LIFETIME: u32 = 10;
/// Cookies stay required this long after the threshold was last reached (charon's
/// `COOKIE_CALMDOWN_DELAY`).
pub(crate) const CALMDOWN: Duration = Duration::from_secs(10);
/// Longest use of one secret, from its first cookie (charon's `COOKIE_SECRET_SWITCH`); must
/// be at least [`COOKIE_LIFETIME`], since only the previous secret is kept.
pub(crate) const SECRET_SWITCH: u32 = 120;
/// Per-address calm-down buckets (charon's `COOKIE_CALMDOWN_BUCKETS`): one targeted address
/// does not make every other address pay the cookie round trip.
const BUCKETS: usize = 32;
/// t (4) + HMAC-SHA256 (32).
const COOKIE_LEN: usize = 4 + 32;

/// The cookie secrets and the state of the cookie and half-open limits.
pub(crate) struct DosState {
    secret: Zeroizing<[u8; 32]>,
    previous: Zeroizing<[u8; 32]>,
    /// Cookie time at which `secret` built its first cookie.
    first_use: Option<u32>,
    /// Added to our clock's seconds so a cookie does not tell our uptime.
    offset: u32,
    /// Key of the address hash that picks a calm-down bucket.
    bucket_key: u64,
    /// When the global threshold (index 0) and each bucket's per-address threshold were
    /// last reached.
    last_threshold: [Option<Timestamp>; BUCKETS + 1],
    /// Half-open IKE SAs (responder) per source address; an address leaves at zero.
    pub(super) per_ip: std::collections::HashMap<IpAddr, usize>,
    /// The rate limit of INVALID_IKE_SPI answers (see `unknown_spi.rs`).
    pub(crate) unknown_spi: UnknownSpiLimiter,
}

impl DosState {
    pub(crate) fn new(rng: &mut (dyn RandomSource + Send)) -> DosState {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill(secret.as_mut());
        let mut previous = Zeroizing::new([0u8; 32]);
        rng.fill(previous.as_mut());
        let mut b = [0u8; 12];
        rng.fill(&mut b);
        DosState {
            secret,
            previous,
            first_use: None,
            offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            bucket_key: u64::from_be_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]),
            last_threshold: [None; BUCKETS + 1],
            per_ip: std::collections::HashMap::new(),
            unknown_spi: Default::default(),
        }
    }

    /// Half-open SAs from `ip`.
    pub(crate) fn half_open_from(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Number of addresses with half-open SAs (the map's size).
    pub(crate) fn tracked_addresses(&self) -> usize {
        self.per_ip.len()
    }

    pub(super) fn cookie_time(&self, now: Timestamp) -> u32 {
        let secs = now.as_nanos() / 1_000_000_000;
        // Truncation is intended: cookie times are compared with wrapping arithmetic.
        (secs as u32).wrapping_add(self.offset)
    }

    pub(super) fn bucket(&self, ip: IpAddr) -> usize {
        // FNV-1a over the address, seeded with a random key.
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ self.bucket_key;
        let octets: Vec<u8> = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        for b in octets {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h as usize % BUCKETS).saturating_add(1)
    }

    /// Whether `count` reaching `threshold` (0 = off) or a recent crossing in calm-down slot
    /// `idx` requires a cookie now.
    pub(super) fn required(
        &mut self,
        idx: usize,
        count: usize,
        threshold: usize,
        now: Timestamp,
    ) -> bool {
        if threshold == 0 {
            return false;
        }
        let Some(slot) = self.last_threshold.get_mut(idx) else {
            return false;
        };
        if count >= threshold {
            *slot = Some(now);
            return true;
        }
        slot.is_some_and(|t| now.saturating_since(t) < CALMDOWN)
    }

    pub(super) fn mac(secret: &[u8; 32], t: u32, remote: IpAddr, spi_i: u64) -> Vec<u8> {
        let ip = match remote {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        suite::prf(
            crate::proposal::prf::HMAC_SHA2_256,
            secret,
            &[&t.to_be_bytes(), &ip, &spi_i.to_be_bytes()],
        )
        .map(|s| s.expose().to_vec())
        .unwrap_or_default()
    }

    /// A new cookie for `(remote, spi_i)`, switching secrets when the current one is old.
    /// Returns the cookie and whether the secret was switched.
    pub(super) fn build(
        &mut self,
        now: Timestamp,
        remote: IpAddr,
        spi_i: u64,
        rng: &mut (dyn RandomSource + Send),
    ) -> (Vec<u8>, bool) {
        let t = self.cookie_time(now);
        let mut switched = false;
        match self.first_use {
            None => self.first_use = Some(t),
            Some(first) if t.wrapping_sub(first) > SECRET_SWITCH => {
                std::mem::swap(&mut self.previous, &mut self.secret);
                rng.fill(self.secret.as_mut());
                self.first_use = Some(t);
                switched = true;
            }
            Some(_) => {}
        }
        let mut cookie = t.to_be_bytes().to_vec();
        cookie.extend_from_slice(&Self::mac(&self.secret, t, remote, spi_i));
        (cookie, switched)
    }

    /// Whether `cookie` is one we built for `(remote, spi_i)` less than [`COOKIE_LIFETIME`]
    /// ago, with the current secret or, if built before the switch, the previous one.
    pub(super) fn verify(&self, now: Timestamp, cookie: &[u8], remote: IpAddr, spi_i: u64) -> bool {
        let Some((t, _)) = cookie.split_first_chunk::<4>() else {
            return false;
        };
        if cookie.len() != COOKIE_LEN {
            return false;
        }
        let t = u32::from_be_bytes(*t);
        if self.cookie_time(now).wrapping_sub(t) > COOKIE_LIFETIME {
            return false;
        }
        let secret = match self.first_use {
            // Built before the current secret's first use: the previous secret made it.
            Some(first) if (t.wrapping_sub(first) as i32) < 0 => &self.previous,
            _ => &self.secret,
        };
        suite::ct_eq(
            cookie,
            &[&t.to_be_bytes()[..], &Self::mac(secret, t, remote, spi_i)].concat(),
        )
    }
}

/// Answers allowed per second, and the burst the bucket holds.
pub const ANSWERS_PER_SECOND: u32 = 10;

/// The token bucket of INVALID_IKE_SPI answers.
#[derive(Debug, Default)]
pub(crate) struct UnknownSpiLimiter {
    tokens: u32,
    refilled: Option<Timestamp>,
    /// Whether the current burst was already logged at `[IKE]`.
    pub(super) logged: bool,
}

impl UnknownSpiLimiter {
    /// Takes a token if one is left (refilled at [`ANSWERS_PER_SECOND`]).
    pub(super) fn take(&mut self, now: Timestamp) -> bool {
        let elapsed = self
            .refilled
            .map_or(Duration::from_secs(1), |t| now.saturating_since(t));
        if elapsed >= Duration::from_secs(1) {
            self.tokens = ANSWERS_PER_SECOND;
            self.refilled = Some(now);
            self.logged = false;
        }
        let Some(left) = self.tokens.checked_sub(1) else {
            return false;
        };
        self.tokens = left;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_duration(Duration::from_millis(ms))
    }

    #[test]
    fn the_bucket_allows_a_burst_then_refills_each_second() {
        let mut l = UnknownSpiLimiter::default();
        let burst = (0..50).filter(|_| l.take(at(1000))).count();
        assert_eq!(burst, ANSWERS_PER_SECOND as usize);
        assert!(!l.take(at(1999)));
        assert!(l.take(at(2000)));
    }
}
