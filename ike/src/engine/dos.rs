//! Protection of the responder against IKE_SA_INIT floods, as charon's `receiver.c` (strongSwan
//! 6) does it: stateless COOKIE challenges (RFC 7296 2.6) and limits on half-open IKE SAs,
//! globally and per source address.
//!
//! Contract: [`Engine::admit_sa_init`] runs on every new IKE_SA_INIT request before it is
//! decoded (it reads only the header and the first payload) and decides, in charon's order:
//! 1. a COOKIE is demanded when the half-open count reaches `cookie_threshold`, or the count
//!    from the request's source address reaches `cookie_threshold_ip` (0 turns either off),
//!    and keeps being demanded until the threshold was not reached for [`CALMDOWN`] (globally,
//!    or for the address's bucket), so that retransmissions of one request are not answered
//!    once with and once without a cookie; a request without a valid cookie gets a COOKIE
//!    notify and leaves no state;
//! 2. a source address with `block_threshold` half-open SAs is ignored;
//! 3. at `half_open_limit` half-open SAs every request is ignored.
//!
//! Cookie = t | HMAC-SHA256(secret, t | IPi | SPIi): `t` is a 32-bit time in seconds with a
//! random offset (so the cookie does not reveal our uptime). A cookie is valid for
//! [`COOKIE_LIFETIME`]. The secret is replaced when it was first used more than
//! [`SECRET_SWITCH`] ago; cookies built before the switch are checked against the previous
//! secret, which stays valid for as long as such a cookie can live (the grace period).
//!
//! Half-open SAs are counted per source address in a map that holds only addresses with at
//! least one half-open SA: O(1) per packet, and bounded by the number of half-open SAs, which
//! `block_threshold` and `half_open_limit` bound.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use zeroize::Zeroizing;

use super::core::{Engine, fmt_addr};
use super::sa::IkeSa;
use super::{LogGroup, RandomSource};
use crate::message::{Header, Notify};
use crate::suite;
use crate::time::Timestamp;
use crate::wire::{HEADER_LEN as IKE_HEADER_LEN, NotifyType, PayloadType};

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

const NOTIFY_HEADER_LEN: usize = 8;

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
    per_ip: std::collections::HashMap<IpAddr, usize>,
    /// The rate limit of INVALID_IKE_SPI answers (see `unknown_spi.rs`).
    pub(crate) unknown_spi: super::unknown_spi::UnknownSpiLimiter,
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

    fn cookie_time(&self, now: Timestamp) -> u32 {
        let secs = now.as_nanos() / 1_000_000_000;
        // Truncation is intended: cookie times are compared with wrapping arithmetic.
        (secs as u32).wrapping_add(self.offset)
    }

    fn bucket(&self, ip: IpAddr) -> usize {
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
    fn required(&mut self, idx: usize, count: usize, threshold: usize, now: Timestamp) -> bool {
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

    fn mac(secret: &[u8; 32], t: u32, remote: IpAddr, spi_i: u64) -> Vec<u8> {
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
    fn build(
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
    fn verify(&self, now: Timestamp, cookie: &[u8], remote: IpAddr, spi_i: u64) -> bool {
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

/// The data of a COOKIE notify that is the first payload of `bytes` (RFC 7296 2.6: it MUST
/// come first), read without decoding the message, as charon's `check_cookie`.
fn presented_cookie(bytes: &[u8]) -> Option<&[u8]> {
    if PayloadType(*bytes.get(16)?) != PayloadType::NOTIFY {
        return None;
    }
    let n: &[u8; NOTIFY_HEADER_LEN] = bytes.get(IKE_HEADER_LEN..)?.first_chunk()?;
    let len = usize::from(u16::from_be_bytes([n[2], n[3]]));
    let spi_size = usize::from(n[5]);
    let kind = NotifyType(u16::from_be_bytes([n[6], n[7]]));
    if kind != NotifyType::COOKIE || spi_size != 0 {
        return None;
    }
    bytes.get(IKE_HEADER_LEN + NOTIFY_HEADER_LEN..IKE_HEADER_LEN.checked_add(len)?)
}

impl Engine {
    /// Decides whether a new IKE_SA_INIT request from `remote` may create state (see the
    /// module docs); when not, it has been answered with a COOKIE or dropped, and counted.
    pub(crate) fn admit_sa_init(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        bytes: &[u8],
    ) -> bool {
        let ip = remote.ip();
        let from_ip = self.dos.half_open_from(ip);
        let bucket = self.dos.bucket(ip);
        // Both are evaluated so that each calm-down slot records its own crossing.
        let global = self
            .dos
            .required(0, self.half_open, self.settings.cookie_threshold, now);
        let per_ip = self
            .dos
            .required(bucket, from_ip, self.settings.cookie_threshold_ip, now);
        if (global || per_ip)
            && !presented_cookie(bytes).is_some_and(|c| self.dos.verify(now, c, ip, header.spi_i))
        {
            let (cookie, switched) = self.dos.build(now, ip, header.spi_i, self.rng.as_mut());
            if switched {
                engine_log!(
                    self,
                    None,
                    LogGroup::Net,
                    "generating new cookie secret after {SECRET_SWITCH}s since first use"
                );
            }
            engine_log!(
                self,
                None,
                LogGroup::Net,
                "sending COOKIE notify to {}",
                fmt_addr(remote)
            );
            self.stats.cookies_sent = self.stats.cookies_sent.saturating_add(1);
            self.stateless_reply(
                local,
                remote,
                header,
                Notify::new(NotifyType::COOKIE, cookie),
            );
            return false;
        }
        let block = self.settings.block_threshold;
        if block != 0 && from_ip >= block {
            self.stats.half_open_refused = self.stats.half_open_refused.saturating_add(1);
            self.drop_logged(|| {
                format!(
                    "ignoring IKE_SA setup from {ip}, per-IP half-open IKE_SA limit of {block} \
                     reached"
                )
            });
            return false;
        }
        let limit = self.settings.half_open_limit;
        if self.half_open >= limit {
            self.stats.half_open_refused = self.stats.half_open_refused.saturating_add(1);
            self.drop_logged(|| {
                format!(
                    "ignoring IKE_SA setup from {ip}, half-open IKE_SA limit of {limit} reached"
                )
            });
            return false;
        }
        true
    }

    /// Counts a datagram dropped because a limit was hit, and logs it where an operator sees it
    /// at the default level (charon logs these at level 1, unlike parse failures).
    pub(crate) fn drop_logged(&mut self, why: impl FnOnce() -> String) {
        self.stats.dropped = self.stats.dropped.saturating_add(1);
        if self.logs(LogGroup::Ike) {
            let why = why();
            self.log(None, LogGroup::Ike, why);
        }
    }

    /// Counts `sa` (a responder SA just created from `remote`) as half-open.
    pub(crate) fn count_half_open(&mut self, sa: &mut IkeSa, remote: IpAddr) {
        sa.half_open = true;
        sa.half_open_from = Some(remote);
        self.half_open = self.half_open.saturating_add(1);
        let per_ip = self.dos.per_ip.entry(remote).or_insert(0);
        *per_ip = per_ip.saturating_add(1);
    }

    /// Ends `sa`'s half-open state (IKE_AUTH completed, or the SA is destroyed).
    pub(crate) fn release_half_open(&mut self, sa: &mut IkeSa) {
        if !sa.half_open {
            return;
        }
        sa.half_open = false;
        self.half_open = self.half_open.saturating_sub(1);
        if let Some(ip) = sa.half_open_from.take()
            && let std::collections::hash_map::Entry::Occupied(mut e) = self.dos.per_ip.entry(ip)
        {
            *e.get_mut() = e.get().saturating_sub(1);
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}
