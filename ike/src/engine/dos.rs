//! Protection of the responder against IKE_SA_INIT floods, as charon's `receiver.c` (strongSwan
//! 6) does it: stateless COOKIE challenges (RFC 7296 2.6) and limits on half-open IKE SAs,
//! globally and per source address.
//!
//! Contract: [`Engine::admit_sa_init`] runs on every new IKE_SA_INIT request before it is
//! decoded (it reads only the header and the first payload) and decides, in charon's order:
//! 1. a COOKIE is demanded when the half-open count reaches `cookie_threshold`, or the count
//!    from the request's source address reaches `cookie_threshold_ip` (0 turns either off),
//!    and keeps being demanded until the threshold was not reached for [`CALMDOWN`](super::dos_state::CALMDOWN) (globally,
//!    or for the address's bucket), so that retransmissions of one request are not answered
//!    once with and once without a cookie; a request without a valid cookie gets a COOKIE
//!    notify and leaves no state;
//! 2. a source address with `block_threshold` half-open SAs is ignored;
//! 3. at `half_open_limit` half-open SAs every request is ignored.
//!
//! Cookie = t | HMAC-SHA256(secret, t | IPi | SPIi): `t` is a 32-bit time in seconds with a
//! random offset (so the cookie does not reveal our uptime). A cookie is valid for
//! [`COOKIE_LIFETIME`](super::dos_state::COOKIE_LIFETIME). The secret is replaced when it was first used more than
//! [`SECRET_SWITCH`](super::dos_state::SECRET_SWITCH) ago; cookies built before the switch are checked against the previous
//! secret, which stays valid for as long as such a cookie can live (the grace period).
//!
//! Half-open SAs are counted per source address in a map that holds only addresses with at
//! least one half-open SA: O(1) per packet, and bounded by the number of half-open SAs, which
//! `block_threshold` and `half_open_limit` bound.

use std::net::{IpAddr, SocketAddr};

use super::LogGroup;
use super::core::{Engine, fmt_addr};
use super::dos_state::SECRET_SWITCH;
use super::sa::IkeSa;
use crate::message::{Header, Notify};
use crate::time::Timestamp;
use crate::wire::{HEADER_LEN as IKE_HEADER_LEN, NotifyType, PayloadType};

const NOTIFY_HEADER_LEN: usize = 8;

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
