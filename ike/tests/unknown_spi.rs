//! RFC 7296 2.21.4: a request for an IKE SA the responder does not know (the peer's DPD or
//! rekey after our crash) is answered with an unprotected INVALID_IKE_SPI, within a rate limit,
//! and nothing else (responses, junk, IKE_SA_INIT with a responder SPI) is ever answered.

mod common;

use std::net::SocketAddr;

use common::*;
use iked_ike::Timestamp;
use iked_ike::config::Settings;
use iked_ike::engine::Engine;
use iked_ike::message::{self, Payload};
use iked_ike::wire::{ExchangeType, Flags, NotifyType};

fn at(secs: u64) -> Timestamp {
    Timestamp::from_nanos(secs * 1_000_000_000 + 1)
}

fn responder() -> Engine {
    let (r, rs) = seed_config(false);
    Engine::new(Settings::default(), vec![r], rs, Box::new(TestRng(2)))
}

/// A request as an established peer sends it: header, then an SK payload (contents opaque).
fn sealed_request(exchange: ExchangeType, flags: u8, message_id: u32, spi_r: u64) -> Vec<u8> {
    let body = [0x5au8; 48];
    let mut b = Vec::new();
    b.extend_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
    b.extend_from_slice(&spi_r.to_be_bytes());
    b.extend_from_slice(&[46, 0x20, exchange.0, flags]);
    b.extend_from_slice(&message_id.to_be_bytes());
    let len = (28 + 4 + body.len()) as u32;
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
    b.extend_from_slice(&body);
    b
}

fn answers(e: &mut Engine, now: Timestamp, from: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
    e.handle_datagram(now, BFR.parse().unwrap(), from, bytes);
    std::iter::from_fn(|| e.poll_transmit())
        .map(|t| {
            assert_eq!(
                t.remote, from,
                "the answer goes back where the request came from"
            );
            t.bytes
        })
        .collect()
}

#[test]
fn a_dpd_for_a_forgotten_sa_gets_an_unprotected_invalid_ike_spi() {
    let mut e = responder();
    let from: SocketAddr = BFL.parse().unwrap();
    let request = sealed_request(ExchangeType::INFORMATIONAL, Flags::INITIATOR, 7, 0xabcd);
    let out = answers(&mut e, at(1), from, &request);
    assert_eq!(out.len(), 1, "one answer");
    assert!(
        out[0].len() <= request.len(),
        "never larger than the request"
    );
    let msg = message::decode(&out[0], None).unwrap();
    assert_eq!(msg.header.spi_i, 0x1122_3344_5566_7788);
    assert_eq!(msg.header.spi_r, 0xabcd);
    assert_eq!(msg.header.exchange, ExchangeType::INFORMATIONAL);
    assert_eq!(msg.header.message_id, 7);
    assert_eq!(
        msg.header.flags,
        Flags::RESPONSE,
        "R set, I clear (we were the responder)"
    );
    match msg.payloads.as_slice() {
        [Payload::Notify(n)] => assert_eq!(n.kind, NotifyType::INVALID_IKE_SPI),
        other => panic!("expected INVALID_IKE_SPI only, got {other:?}"),
    }
    // A request from the original responder (our side initiated): I flag in the answer.
    let out = answers(
        &mut e,
        at(1),
        from,
        &sealed_request(ExchangeType::CREATE_CHILD_SA, 0, 3, 0xabcd),
    );
    let msg = message::decode(&out[0], None).unwrap();
    assert_eq!(msg.header.flags, Flags::RESPONSE | Flags::INITIATOR);
    assert_eq!(msg.header.exchange, ExchangeType::CREATE_CHILD_SA);
}

#[test]
fn responses_junk_and_unencrypted_requests_are_never_answered() {
    let mut e = responder();
    let from: SocketAddr = BFL.parse().unwrap();
    let response = sealed_request(ExchangeType::INFORMATIONAL, Flags::RESPONSE, 7, 9);
    assert!(answers(&mut e, at(1), from, &response).is_empty());
    let mut plain = sealed_request(ExchangeType::INFORMATIONAL, Flags::INITIATOR, 7, 9);
    plain[16] = 41; // a Notify first: not what an established SA sends
    assert!(answers(&mut e, at(1), from, &plain).is_empty());
    let mut short = sealed_request(ExchangeType::INFORMATIONAL, Flags::INITIATOR, 7, 9);
    short.truncate(40); // the length field now disagrees
    assert!(answers(&mut e, at(1), from, &short).is_empty());
    let init = sealed_request(ExchangeType::IKE_SA_INIT, Flags::INITIATOR, 0, 9);
    assert!(answers(&mut e, at(1), from, &init).is_empty());
    assert_eq!(e.stats().dropped, 4);
}

#[test]
fn a_flood_is_answered_at_most_ten_times_a_second() {
    let mut e = responder();
    let from: SocketAddr = BFL.parse().unwrap();
    let mut answered = 0;
    for mid in 0..1000 {
        let r = sealed_request(ExchangeType::INFORMATIONAL, Flags::INITIATOR, mid, 0x77);
        answered += answers(&mut e, at(5), from, &r).len();
    }
    assert_eq!(answered, 10);
    let r = sealed_request(ExchangeType::INFORMATIONAL, Flags::INITIATOR, 1, 0x77);
    assert_eq!(
        answers(&mut e, at(6), from, &r).len(),
        1,
        "refilled a second later"
    );
}
