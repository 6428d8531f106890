//! RFC 7296 strictness of the responder (issue 14 section 4), driven with raw datagrams: SPI
//! and flag checks on IKE_SA_INIT, UNSUPPORTED_CRITICAL_PAYLOAD and INVALID_SYNTAX answers
//! (unprotected for IKE_SA_INIT, protected for encrypted requests), no internal caps on legal
//! messages, `max_packet`, and the COOKIE / per-source half-open limits of strongSwan 6.
//!
//! A hand-driven initiator (IKE_SA_INIT by hand, keys derived with the engine's public crypto
//! suite) seals arbitrary plaintext with valid integrity, so malformed encrypted contents can be
//! sent.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use iked_ike::Timestamp;
use iked_ike::config::Settings;
use iked_ike::engine::{Engine, Event};
use iked_ike::message::{self, Header, Message, Notify, Payload, SkKeys};
use iked_ike::proposal::Transform;
use iked_ike::suite::{self, IkeKeys, KeyExchange};
use iked_ike::wire::{ExchangeType, Flags, NotifyType, PayloadType, TransformType};

fn at(secs: u64) -> Timestamp {
    Timestamp::from_nanos(secs * 1_000_000_000 + 1)
}

fn bfr() -> SocketAddr {
    BFR.parse().unwrap()
}

fn responder(settings: Settings) -> Engine {
    let (r, rs) = seed_config(false);
    Engine::new(settings, vec![r], rs, Box::new(TestRng(2)))
}

/// Hands `bytes` from `from` to the responder and returns what it sent back.
fn exchange_raw(e: &mut Engine, now: Timestamp, from: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
    e.handle_datagram(now, bfr(), from, bytes);
    let mut out = Vec::new();
    while let Some(t) = e.poll_transmit() {
        // sa_init() rewrites the SPI the NAT detection hashes cover, so the responder thinks
        // it is behind a NAT and keeps it open; not an answer.
        if t.bytes == iked_ike::engine::NAT_KEEPALIVE {
            continue;
        }
        assert_eq!(t.remote, from, "answer goes back to the sender");
        out.push(t.bytes);
    }
    out
}

fn logs(e: &mut Engine) -> Vec<String> {
    let mut v = Vec::new();
    while let Some(ev) = e.poll_event() {
        if let Event::Log { group, message, .. } = ev {
            v.push(format!("[{}] {message}", group.tag()));
        }
    }
    v
}

/// The seed initiator's IKE_SA_INIT request with initiator SPI `spi` (and, when given, a
/// COOKIE notify first).
fn sa_init(spi: u64, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut msg = message::decode(&seed_sa_init_request(spi), None).unwrap();
    msg.header.spi_i = spi;
    if let Some(c) = cookie {
        msg.payloads.insert(
            0,
            Payload::Notify(Notify::new(NotifyType::COOKIE, c.to_vec())),
        );
    }
    message::encode(&msg, None).unwrap()
}

/// The only notify of an unprotected answer, with the answer's header.
fn plain_notify(bytes: &[u8]) -> (Header, NotifyType, Vec<u8>) {
    let msg = message::decode(bytes, None).unwrap();
    match msg.payloads.as_slice() {
        [Payload::Notify(n)] => (msg.header, n.kind, n.data.clone()),
        other => panic!("expected one notify, got {other:?}"),
    }
}

fn is_sa_init_answer(bytes: &[u8]) -> bool {
    let msg = message::decode(bytes, None).unwrap();
    msg.header.is_response() && msg.payloads.iter().any(|p| matches!(p, Payload::Sa(_)))
}

/// Appends a raw payload (type, critical bit, body) to the end of an unprotected message's
/// chain, fixing the previous Next Payload field and the header length.
fn append_payload(bytes: &[u8], kind: u8, critical: bool, body: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let mut next_at = 16;
    let mut off = 28;
    while b[next_at] != 0 {
        next_at = off;
        off += usize::from(u16::from_be_bytes([b[off + 2], b[off + 3]]));
    }
    b[next_at] = kind;
    b.push(0);
    b.push(if critical { 0x80 } else { 0 });
    b.extend_from_slice(&u16::try_from(4 + body.len()).unwrap().to_be_bytes());
    b.extend_from_slice(body);
    let len = u32::try_from(b.len()).unwrap();
    b[24..28].copy_from_slice(&len.to_be_bytes());
    b
}

/// One raw payload: type, critical bit, body.
type RawPayload = (u8, bool, Vec<u8>);

/// A raw payload chain as SK plaintext; returns the first type and the bytes.
fn raw_chain(payloads: &[RawPayload]) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    for (i, (_, critical, body)) in payloads.iter().enumerate() {
        out.push(payloads.get(i + 1).map_or(0, |p| p.0));
        out.push(if *critical { 0x80 } else { 0 });
        out.extend_from_slice(&u16::try_from(4 + body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
    }
    (payloads.first().map_or(0, |p| p.0), out)
}

/// An initiator driven by hand: it ran IKE_SA_INIT with the responder and holds the keys.
struct Manual {
    from: SocketAddr,
    spi_i: u64,
    spi_r: u64,
    suite: iked_ike::proposal::Selected,
    keys: IkeKeys,
}

impl Manual {
    fn start(e: &mut Engine, now: Timestamp) -> Manual {
        let from: SocketAddr = BFL.parse().unwrap();
        let spi_i = 0x0123_4567_89ab_cdef;
        let (l, _) = seed_config(true);
        let mut proposal = l.proposals[0].clone();
        proposal.number = 1;
        let group = proposal.ke_methods()[0];
        let ke = KeyExchange::generate(group, &mut TestRng(7)).unwrap();
        let ni = vec![0x4e; 32];
        let request = Message {
            header: Header {
                spi_i,
                spi_r: 0,
                exchange: ExchangeType::IKE_SA_INIT,
                flags: Flags::INITIATOR,
                message_id: 0,
            },
            payloads: vec![
                Payload::Sa(vec![proposal]),
                Payload::Ke {
                    group,
                    data: ke.public(),
                },
                Payload::Nonce(ni.clone()),
            ],
        };
        let out = exchange_raw(e, now, from, &message::encode(&request, None).unwrap());
        let resp = message::decode(&out[0], None).unwrap();
        let mut chosen = None;
        let mut their_ke = None;
        let mut nr = None;
        for p in &resp.payloads {
            match p {
                Payload::Sa(v) => chosen = v.first().cloned(),
                Payload::Ke { data, .. } => their_ke = Some(data.clone()),
                Payload::Nonce(n) => nr = Some(n.clone()),
                _ => {}
            }
        }
        let suite = chosen.unwrap().selected().unwrap();
        let nr = nr.unwrap();
        let shared = ke.shared(&their_ke.unwrap()).unwrap();
        let seed = suite::skeyseed(suite.prf, &ni, &nr, &shared).unwrap();
        let spi_r = resp.header.spi_r;
        let keys = suite::derive_ike_keys(&suite, &seed, &ni, &nr, spi_i, spi_r).unwrap();
        Manual {
            from,
            spi_i,
            spi_r,
            suite,
            keys,
        }
    }

    /// A request sealed with valid integrity around a raw plaintext chain.
    fn seal(&self, exchange_type: ExchangeType, mid: u32, first: u8, plaintext: &[u8]) -> Vec<u8> {
        let header = Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            exchange: exchange_type,
            flags: Flags::INITIATOR,
            message_id: mid,
        };
        let keys = SkKeys {
            suite: &self.suite,
            encr: &self.keys.sk_ei,
            integ: &self.keys.sk_ai,
        };
        message::seal(
            &header,
            PayloadType(first),
            None,
            plaintext,
            &keys,
            &mut TestRng(9),
        )
        .unwrap()
    }

    /// Decrypts a response of the responder.
    fn open(&self, bytes: &[u8]) -> Message {
        let keys = SkKeys {
            suite: &self.suite,
            encr: &self.keys.sk_er,
            integ: &self.keys.sk_ar,
        };
        message::decode(bytes, Some(keys)).unwrap()
    }
}

const ID_I: u8 = 35;
const AUTH: u8 = 39;
const N: u8 = 41;
const TS_I: u8 = 44;
const TS_R: u8 = 45;
const CP: u8 = 47;

fn id_body() -> Vec<u8> {
    // FQDN "host1".
    let mut b = vec![2, 0, 0, 0];
    b.extend_from_slice(b"host1");
    b
}

fn ipv4_ts(count_field: u8, selectors: usize, selector_len: u16) -> Vec<u8> {
    let mut b = vec![count_field, 0, 0, 0];
    for _ in 0..selectors {
        b.extend_from_slice(&[7, 0]);
        b.extend_from_slice(&selector_len.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0xff, 0xff, 10, 0, 0, 1, 10, 0, 0, 1]);
    }
    b
}

#[test]
fn sa_init_with_zero_initiator_spi_is_dropped() {
    let mut e = responder(Settings::default());
    let mut bytes = sa_init(1, None);
    bytes[..8].fill(0);
    assert!(exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &bytes).is_empty());
    assert_eq!(e.ike_sa_count(), 0, "no IKE SA 0000000000000000_i");
    assert_eq!(e.stats().dropped, 1);
    // The same request with a real SPI is answered: only the SPI made the difference.
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &sa_init(1, None))[0]
    ));
}

#[test]
fn sa_init_without_initiator_flag_is_dropped() {
    let mut e = responder(Settings::default());
    let mut bytes = sa_init(2, None);
    bytes[19] &= !Flags::INITIATOR;
    assert!(exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &bytes).is_empty());
    assert_eq!(e.ike_sa_count(), 0);
    assert!(
        logs(&mut e)
            .iter()
            .any(|l| l.contains("without the Initiator flag"))
    );
}

#[test]
fn unknown_critical_payload_in_sa_init_is_answered_with_its_type() {
    let mut e = responder(Settings::default());
    let bytes = append_payload(&sa_init(3, None), 200, true, &[1, 2, 3]);
    let out = exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &bytes);
    assert_eq!(out.len(), 1);
    let (h, kind, data) = plain_notify(&out[0]);
    assert_eq!(
        (kind, data),
        (NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![200])
    );
    assert!(h.is_response() && h.exchange == ExchangeType::IKE_SA_INIT && h.message_id == 0);
    assert_eq!((h.spi_i, h.spi_r), (3, 0));
    assert_eq!(e.ike_sa_count(), 0, "nothing kept");
    // Not critical: skipped, and the request is answered normally.
    let bytes = append_payload(&sa_init(4, None), 200, false, &[1, 2, 3]);
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &bytes)[0]
    ));
}

#[test]
fn malformed_sa_init_is_answered_with_invalid_syntax() {
    let mut e = responder(Settings::default());
    // A second nonce of 4 octets (RFC 7296 3.9: 16..=256).
    let bytes = append_payload(&sa_init(5, None), 40, false, &[1, 2, 3, 4]);
    let out = exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &bytes);
    assert_eq!(out.len(), 1);
    let (h, kind, data) = plain_notify(&out[0]);
    assert_eq!((kind, data), (NotifyType::INVALID_SYNTAX, vec![]));
    assert!(h.is_response());
    assert_eq!(e.ike_sa_count(), 0);
}

/// Each case: a payload chain that decrypts fine but does not parse.
fn malformed_contents() -> Vec<(&'static str, Vec<RawPayload>)> {
    let ts = ipv4_ts(1, 1, 16);
    vec![
        (
            "TS count disagrees with the selectors",
            vec![
                (ID_I, false, id_body()),
                (TS_I, false, ipv4_ts(2, 1, 16)),
                (TS_R, false, ts.clone()),
            ],
        ),
        (
            "TS selector length wrong",
            vec![
                (ID_I, false, id_body()),
                (TS_I, false, ipv4_ts(1, 1, 15)),
                (TS_R, false, ts.clone()),
            ],
        ),
        (
            "truncated AUTH",
            vec![(ID_I, false, id_body()), (AUTH, false, vec![2, 0])],
        ),
        (
            "notify SPI size overruns its payload",
            vec![
                (ID_I, false, id_body()),
                (N, false, vec![3, 200, 0x40, 0x07, 1, 2, 3, 4]),
            ],
        ),
        (
            "CP attribute overruns its payload",
            vec![
                (ID_I, false, id_body()),
                (CP, false, vec![1, 0, 0, 0, 0, 1, 0, 100]),
            ],
        ),
    ]
}

#[test]
fn verified_but_malformed_request_gets_protected_invalid_syntax() {
    for (case, chain) in malformed_contents() {
        let mut e = responder(Settings::default());
        let m = Manual::start(&mut e, at(1));
        let (first, plain) = raw_chain(&chain);
        let out = exchange_raw(
            &mut e,
            at(2),
            m.from,
            &m.seal(ExchangeType::IKE_AUTH, 1, first, &plain),
        );
        assert_eq!(out.len(), 1, "{case}: answered");
        let resp = m.open(&out[0]);
        assert!(resp.header.is_response(), "{case}");
        assert_eq!(
            resp.header.message_id, 1,
            "{case}: the request's message ID"
        );
        assert_eq!(resp.header.exchange, ExchangeType::IKE_AUTH, "{case}");
        assert_eq!(
            resp.payloads,
            vec![Payload::Notify(Notify::new(
                NotifyType::INVALID_SYNTAX,
                vec![]
            ))],
            "{case}"
        );
        // A retransmission of the request gets the same answer again, not a second parse.
        let again = exchange_raw(
            &mut e,
            at(3),
            m.from,
            &m.seal(ExchangeType::IKE_AUTH, 1, first, &plain),
        );
        assert_eq!(again, out, "{case}: cached answer replayed");
    }
}

#[test]
fn unknown_critical_payload_in_encrypted_request_is_answered_protected() {
    let mut e = responder(Settings::default());
    let m = Manual::start(&mut e, at(1));
    let (first, plain) = raw_chain(&[(ID_I, false, id_body()), (201, true, vec![9; 5])]);
    let out = exchange_raw(
        &mut e,
        at(2),
        m.from,
        &m.seal(ExchangeType::IKE_AUTH, 1, first, &plain),
    );
    assert_eq!(out.len(), 1);
    let resp = m.open(&out[0]);
    assert_eq!(resp.header.message_id, 1);
    assert_eq!(
        resp.payloads,
        vec![Payload::Notify(Notify::new(
            NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            vec![201]
        ))]
    );
}

#[test]
fn forged_request_is_still_dropped_silently() {
    let mut e = responder(Settings::default());
    let m = Manual::start(&mut e, at(1));
    let (first, plain) = raw_chain(&malformed_contents()[0].1);
    let mut bytes = m.seal(ExchangeType::IKE_AUTH, 1, first, &plain);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(exchange_raw(&mut e, at(2), m.from, &bytes).is_empty());
    // The window did not move: the authentic request is still answered.
    let out = exchange_raw(
        &mut e,
        at(2),
        m.from,
        &m.seal(ExchangeType::IKE_AUTH, 1, first, &plain),
    );
    assert_eq!(m.open(&out[0]).header.message_id, 1);
}

#[test]
fn large_legal_payloads_are_not_refused_by_caps() {
    // 255 selectors (the count field's maximum) and 255 transforms round-trip.
    let many_ts: Vec<_> = (0..255u32)
        .map(|i| {
            iked_ike::ts::TrafficSelector::host(std::net::Ipv4Addr::from(0x0a00_0000 + i).into())
        })
        .collect();
    let msg = Message {
        header: Header {
            spi_i: 1,
            spi_r: 2,
            exchange: ExchangeType::CREATE_CHILD_SA,
            flags: Flags::INITIATOR,
            message_id: 3,
        },
        payloads: vec![Payload::TsI(many_ts.clone()), Payload::TsR(many_ts)],
    };
    let bytes = message::encode(&msg, None).unwrap();
    assert_eq!(message::decode(&bytes, None).unwrap(), msg);

    // An IKE_SA_INIT whose proposal carries 200 transforms (unknown ENCR ids first) is
    // negotiated, not dropped.
    let mut e = responder(Settings::default());
    let mut req = message::decode(&sa_init(6, None), None).unwrap();
    for p in &mut req.payloads {
        if let Payload::Sa(props) = p {
            let mut extra: Vec<Transform> = (0..200 - props[0].transforms.len())
                .map(|i| Transform {
                    kind: TransformType::ENCR,
                    id: 1000 + u16::try_from(i).unwrap(),
                    key_len: None,
                })
                .collect();
            extra.extend(props[0].transforms.iter().cloned());
            props[0].transforms = extra;
        }
    }
    let out = exchange_raw(
        &mut e,
        at(1),
        BFL.parse().unwrap(),
        &message::encode(&req, None).unwrap(),
    );
    assert_eq!(out.len(), 1);
    assert!(is_sa_init_answer(&out[0]));
}

#[test]
fn max_packet_bounds_received_datagrams() {
    // 60 KB: a Vendor ID payload pads a valid IKE_SA_INIT.
    let big = append_payload(&sa_init(7, None), 43, false, &vec![0x5a; 60_000]);
    assert!(big.len() > 60_000);
    let mut e = responder(Settings::default());
    assert!(exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &big).is_empty());
    assert_eq!(e.ike_sa_count(), 0);
    assert!(
        logs(&mut e)
            .iter()
            .any(|l| l.contains("exceeds max_packet of 10000"))
    );
    // At the limit it is processed; a larger max_packet lets the big one in.
    let mut e = responder(Settings {
        max_packet: 65_535,
        ..Settings::default()
    });
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &big)[0]
    ));
    let exact = append_payload(&sa_init(8, None), 43, false, &[]);
    let mut e = responder(Settings {
        max_packet: exact.len(),
        ..Settings::default()
    });
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(1), BFL.parse().unwrap(), &exact)[0]
    ));
}

#[test]
fn cookie_threshold_zero_never_sends_cookies() {
    let mut e = responder(Settings {
        cookie_threshold: 0,
        cookie_threshold_ip: 0,
        block_threshold: 0,
        ..Settings::default()
    });
    for i in 0..40u64 {
        let from: SocketAddr = BFL.parse().unwrap();
        let out = exchange_raw(&mut e, at(1), from, &sa_init(100 + i, None));
        assert!(is_sa_init_answer(&out[0]), "request {i} got a cookie");
    }
    assert_eq!(e.stats().cookies_sent, 0);
    assert_eq!(e.half_open_count(), 40);
}

/// The COOKIE data of an answer, if it is a COOKIE challenge.
fn cookie_of(out: &[Vec<u8>]) -> Option<Vec<u8>> {
    let msg = message::decode(out.first()?, None).ok()?;
    msg.notify(NotifyType::COOKIE).map(|n| n.data.clone())
}

#[test]
fn per_source_cookie_and_block_thresholds() {
    let mut e = responder(Settings::default());
    let a: SocketAddr = BFL.parse().unwrap();
    // Three half-open SAs from one address: no cookie yet (cookie_threshold_ip = 3).
    for spi in 1..=3 {
        assert!(is_sa_init_answer(
            &exchange_raw(&mut e, at(1), a, &sa_init(spi, None))[0]
        ));
    }
    assert_eq!(e.half_open_from(a.ip()), (3, 1));
    // The fourth must prove its address; echoing the cookie is enough, twice.
    for spi in 4..=5 {
        let cookie = cookie_of(&exchange_raw(&mut e, at(1), a, &sa_init(spi, None)))
            .expect("cookie demanded from the busy address");
        let out = exchange_raw(&mut e, at(1), a, &sa_init(spi, Some(&cookie)));
        assert!(is_sa_init_answer(&out[0]), "valid cookie accepted");
    }
    assert_eq!(e.half_open_from(a.ip()).0, 5);
    // block_threshold = 5: even with a valid cookie, the address is ignored now.
    let cookie = cookie_of(&exchange_raw(&mut e, at(1), a, &sa_init(6, None))).unwrap();
    assert!(exchange_raw(&mut e, at(1), a, &sa_init(6, Some(&cookie))).is_empty());
    assert!(logs(&mut e).iter().any(|l| l.contains(
        "ignoring IKE_SA setup from 192.168.50.1, per-IP half-open IKE_SA limit of 5 reached"
    )));
    assert_eq!(e.half_open_count(), 5);
    // Another address is not affected.
    let b: SocketAddr = "192.168.50.77:500".parse().unwrap();
    let (r, rs) = seed_config(false);
    let mut r = r;
    r.remote_addrs.clear();
    e.reload(vec![r], rs);
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(1), b, &sa_init(7, None))[0]
    ));
    // When the half-open SAs time out, the address's count (and map entry) goes away.
    e.handle_timeout(at(100));
    assert_eq!(e.half_open_count(), 0);
    assert_eq!(e.half_open_from(a.ip()), (0, 0), "map emptied");
}

#[test]
fn an_address_echoing_cookies_holds_at_most_block_threshold_half_open_sas() {
    let mut e = responder(Settings::default());
    let a: SocketAddr = BFL.parse().unwrap();
    for spi in 1..=3000u64 {
        let out = exchange_raw(&mut e, at(1), a, &sa_init(spi, None));
        if let Some(cookie) = cookie_of(&out) {
            exchange_raw(&mut e, at(1), a, &sa_init(spi, Some(&cookie)));
        }
    }
    assert_eq!(e.half_open_count(), 5);
    assert_eq!(e.ike_sa_count(), 5);
    assert_eq!(e.half_open_from(a.ip()), (5, 1));
}

#[test]
fn cookies_expire_and_survive_one_secret_switch() {
    // One half-open SA from elsewhere keeps cookies required (global threshold 1).
    let settings = Settings {
        cookie_threshold: 1,
        cookie_threshold_ip: 0,
        block_threshold: 0,
        half_open_timeout: Duration::from_secs(10_000),
        ..Settings::default()
    };
    let mut e = responder(settings);
    let a: SocketAddr = BFL.parse().unwrap();
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(0), a, &sa_init(1, None))[0]
    ));
    // First cookie: the secret's first use.
    let first = cookie_of(&exchange_raw(&mut e, at(1), a, &sa_init(2, None))).unwrap();
    // A cookie is valid for 10 s only.
    let stale = exchange_raw(&mut e, at(12), a, &sa_init(2, Some(&first)));
    assert!(
        cookie_of(&stale).is_some(),
        "an expired cookie is answered with a new challenge"
    );
    // Built with the first secret shortly before the switch (120 s after its first use) ...
    let before = cookie_of(&exchange_raw(&mut e, at(119), a, &sa_init(3, None))).unwrap();
    // ... a challenge to someone else switches the secret ...
    let _ = exchange_raw(&mut e, at(122), a, &sa_init(4, None));
    assert!(
        logs(&mut e)
            .iter()
            .any(|l| l.contains("generating new cookie secret"))
    );
    // ... and the earlier cookie is still accepted within its lifetime (the grace period).
    let out = exchange_raw(&mut e, at(125), a, &sa_init(3, Some(&before)));
    assert!(is_sa_init_answer(&out[0]), "previous secret still accepted");
    // A cookie for another SPI or address does not pass.
    let mine = cookie_of(&exchange_raw(&mut e, at(126), a, &sa_init(5, None))).unwrap();
    let other: SocketAddr = "192.168.50.9:500".parse().unwrap();
    let (mut r, rs) = seed_config(false);
    r.remote_addrs.clear();
    e.reload(vec![r], rs);
    assert!(cookie_of(&exchange_raw(&mut e, at(126), a, &sa_init(6, Some(&mine)))).is_some());
    assert!(
        cookie_of(&exchange_raw(
            &mut e,
            at(126),
            other,
            &sa_init(5, Some(&mine))
        ))
        .is_some()
    );
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(126), a, &sa_init(5, Some(&mine)))[0]
    ));
}

#[test]
fn cookies_stay_required_for_the_calm_down_delay() {
    let settings = Settings {
        cookie_threshold: 1,
        cookie_threshold_ip: 0,
        block_threshold: 0,
        ..Settings::default()
    };
    let mut e = responder(settings);
    let a: SocketAddr = BFL.parse().unwrap();
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(0), a, &sa_init(1, None))[0]
    ));
    assert!(cookie_of(&exchange_raw(&mut e, at(1), a, &sa_init(2, None))).is_some());
    // The half-open SA times out (30 s): below the threshold, but the last crossing was at
    // 1 s ... and 10 s later cookies are off again.
    e.handle_timeout(at(31));
    assert_eq!(e.half_open_count(), 0);
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(32), a, &sa_init(3, None))[0]
    ));

    // Cross at 0 s; the SA goes away after 1 s (timeout), yet cookies stay until 10 s.
    let mut e = responder(Settings {
        half_open_timeout: Duration::from_secs(1),
        ..settings_calm()
    });
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(0), a, &sa_init(1, None))[0]
    ));
    assert!(cookie_of(&exchange_raw(&mut e, at(0), a, &sa_init(2, None))).is_some());
    e.handle_timeout(at(2));
    assert_eq!(e.half_open_count(), 0);
    assert!(
        cookie_of(&exchange_raw(&mut e, at(5), a, &sa_init(3, None))).is_some(),
        "still calming down"
    );
    assert!(is_sa_init_answer(
        &exchange_raw(&mut e, at(11), a, &sa_init(4, None))[0]
    ));
}

fn settings_calm() -> Settings {
    Settings {
        cookie_threshold: 1,
        cookie_threshold_ip: 0,
        block_threshold: 0,
        ..Settings::default()
    }
}

/// The seed pair with fragments of 152 octets and bf-in carrying 40 extra selectors each way,
/// so IKE_AUTH is large and split in many fragments while IKE_SA_INIT stays small;
/// `b_max_packet` is the responder's max_packet.
fn fragmented_pair(b_max_packet: usize) -> Pair {
    let extra: Vec<_> = (1..=40u8).map(|i| ts(&format!("10.9.{i}.0/24"))).collect();
    let widen = |left: bool, c: &mut iked_ike::config::IkeConfig| {
        for child in &mut c.children {
            let child = std::sync::Arc::make_mut(child);
            let side = if left == (child.name == "bf-in") {
                &mut child.local_ts
            } else {
                &mut child.remote_ts
            };
            side.extend(extra.iter().cloned().map(iked_ike::ts::TsSpec::from));
        }
    };
    let (mut l, ls) = seed_config(true);
    let (mut r, rs) = seed_config(false);
    widen(true, &mut l);
    widen(false, &mut r);
    let settings = Settings {
        fragment_size: 180,
        ..Settings::default()
    };
    let a = Engine::new(settings.clone(), vec![l], ls, Box::new(TestRng(1)));
    let b = Engine::new(
        Settings {
            max_packet: b_max_packet,
            ..settings
        },
        vec![r],
        rs,
        Box::new(TestRng(2)),
    );
    Pair::new(a, BFL.parse().unwrap(), b, BFR.parse().unwrap())
}

#[test]
fn reassembled_messages_are_bounded_by_max_packet() {
    let mut p = fragmented_pair(10_000);
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert_eq!(children_up(&p.b), 1, "fits the default max_packet");
    assert!(p.b.has_log("reassembled fragmented IKE message"));

    // IKE_SA_INIT (240 octets) still fits; IKE_AUTH (862 octets in 11 fragments) does not.
    let mut p = fragmented_pair(600);
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert_eq!(children_up(&p.b), 0);
    assert!(
        p.b.has_log("fragmented IKE message is larger than max_packet of 600 bytes"),
        "{:#?}",
        p.b.logs()
    );
}
