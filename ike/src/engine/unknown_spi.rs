//! Requests for an IKE SA this engine does not know: RFC 7296 2.21.4's INVALID_IKE_SPI.
//!
//! After a crash (or a restart without saved state) the peer still holds its IKE SA and its
//! next rekey, DPD or delete arrives under SPIs nobody here knows. Dropping it silently (what
//! charon 5.9.8 does) leaves the peer retransmitting for minutes before its DPD gives up;
//! RFC 7296 2.21.4 lets the node answer instead, so the peer may notice at once.
//!
//! Contract:
//! - Only a *request* (R flag clear) that looks like IKE is answered: the header parsed with a
//!   length equal to the datagram's (checked by `peek_header`), an exchange type of an
//!   established SA (IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL), both SPIs non-zero, and an
//!   encrypted payload (SK or SKF) first, and neither SPI belonging to an SA of ours (a message
//!   for a known SA with wrong flags is malformed, not "for an unknown SA"). Responses,
//!   IKE_SA_INIT and anything else are dropped (2.21.4: a response "MUST NOT" be answered).
//! - The answer is unprotected, goes to the address and port the request came from, copies
//!   the SPIs, exchange type and message ID, sets the R flag (and the I flag when the request
//!   came from the responder), and carries only N(INVALID_IKE_SPI): 36 bytes, never more than
//!   the request (no amplification).
//! - At most [`ANSWERS_PER_SECOND`] answers per second in total (a token bucket in the
//!   engine's time), so spoofed floods cost nothing; what is not answered is only counted.
//! - The first request of each burst is logged at `[IKE]` (charon's audit level), the rest at
//!   `[ENC]` with the other drops.

use std::net::SocketAddr;
use std::time::Duration;

use super::LogGroup;
use super::core::Engine;
use crate::message::{Header, Message, Notify, Payload};
use crate::time::Timestamp;
use crate::wire::{ExchangeType, Flags, NotifyType, PayloadType};

/// Answers allowed per second, and the burst the bucket holds.
pub const ANSWERS_PER_SECOND: u32 = 10;

/// Size of the answer: header and an empty Notify.
const ANSWER_LEN: usize = 28 + 8;

/// The token bucket of INVALID_IKE_SPI answers.
#[derive(Debug, Default)]
pub(crate) struct UnknownSpiLimiter {
    tokens: u32,
    refilled: Option<Timestamp>,
    /// Whether the current burst was already logged at `[IKE]`.
    logged: bool,
}

impl UnknownSpiLimiter {
    /// Takes a token if one is left (refilled at [`ANSWERS_PER_SECOND`]).
    fn take(&mut self, now: Timestamp) -> bool {
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

/// Whether a request under unknown SPIs looks like one of an established IKE SA.
fn looks_like_ike_request(header: &Header, bytes: &[u8]) -> bool {
    !header.is_response()
        && matches!(
            header.exchange,
            ExchangeType::IKE_AUTH | ExchangeType::CREATE_CHILD_SA | ExchangeType::INFORMATIONAL
        )
        && header.spi_i != 0
        && header.spi_r != 0
        && matches!(
            bytes.get(16).map(|&t| PayloadType(t)),
            Some(PayloadType::ENCRYPTED | PayloadType::ENCRYPTED_FRAGMENT)
        )
        && bytes.len() >= ANSWER_LEN
}

impl Engine {
    /// A datagram under SPIs no IKE SA has: dropped, and a plausible request answered with
    /// INVALID_IKE_SPI within the rate limit (see the module contract).
    pub(crate) fn on_unknown_spi(
        &mut self,
        now: Timestamp,
        (local, remote): (SocketAddr, SocketAddr),
        header: Header,
        bytes: &[u8],
    ) {
        let our_spi = if header.from_initiator() {
            header.spi_r
        } else {
            header.spi_i
        };
        self.drop_datagram(None, || format!("no IKE_SA found for SPI {our_spi:016x}"));
        // An SA that holds either SPI is known: the message is only malformed (say, a wrong I
        // flag), and such messages are dropped silently as charon does.
        let known =
            self.by_spi.contains_key(&header.spi_i) || self.by_spi.contains_key(&header.spi_r);
        if known || !looks_like_ike_request(&header, bytes) || !self.dos.unknown_spi.take(now) {
            return;
        }
        if !std::mem::replace(&mut self.dos.unknown_spi.logged, true) {
            engine_log!(
                self,
                None,
                LogGroup::Ike,
                "request {} {} for unknown IKE_SA {our_spi:016x} from {remote} (a restart of ours?), \
                 answering INVALID_IKE_SPI",
                exchange_name(header.exchange),
                header.message_id
            );
        }
        let answer = Message {
            header: Header {
                spi_i: header.spi_i,
                spi_r: header.spi_r,
                exchange: header.exchange,
                flags: Flags::RESPONSE
                    | if header.from_initiator() {
                        0
                    } else {
                        Flags::INITIATOR
                    },
                message_id: header.message_id,
            },
            payloads: vec![Payload::Notify(Notify::new(
                NotifyType::INVALID_IKE_SPI,
                vec![],
            ))],
        };
        self.transmit_raw(local, remote, &answer);
    }
}

fn exchange_name(t: ExchangeType) -> &'static str {
    match t {
        ExchangeType::IKE_AUTH => "IKE_AUTH",
        ExchangeType::CREATE_CHILD_SA => "CREATE_CHILD_SA",
        _ => "INFORMATIONAL",
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

    #[test]
    fn only_plausible_requests_are_answered() {
        let h = |exchange, flags, spi_r| Header {
            spi_i: 1,
            spi_r,
            exchange: ExchangeType(exchange),
            flags,
            message_id: 3,
        };
        let mut sk = vec![0u8; 80];
        sk[16] = PayloadType::ENCRYPTED.0;
        assert!(looks_like_ike_request(&h(37, Flags::INITIATOR, 2), &sk));
        assert!(looks_like_ike_request(&h(36, 0, 2), &sk));
        assert!(!looks_like_ike_request(&h(37, Flags::RESPONSE, 2), &sk));
        assert!(!looks_like_ike_request(&h(34, Flags::INITIATOR, 2), &sk));
        assert!(!looks_like_ike_request(&h(37, Flags::INITIATOR, 0), &sk));
        let mut plain = sk.clone();
        plain[16] = 41;
        assert!(!looks_like_ike_request(&h(37, Flags::INITIATOR, 2), &plain));
        assert!(!looks_like_ike_request(
            &h(37, Flags::INITIATOR, 2),
            &sk[..30]
        ));
    }
}
