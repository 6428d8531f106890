//! IKE fragmentation (RFC 7383) end to end: our initiator against our responder in virtual time
//! with small `fragment_size`s (charon's setting, whole IP datagram), with loss, duplication
//! and reordering of fragments; and charon's own fragments from the `fragmented` capture.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use iked_ike::config::{Fragmentation, Mode, Settings};
use iked_ike::message::{self, Datagram, SkKeys};
use iked_ike::proposal::Proposal;
use iked_ike::suite::Secret;
use iked_ike::wire;
use iked_ike::wire::ProtocolId;

/// (fragments, whole protected messages) among the datagrams the pair sent.
fn count_sent(p: &Pair) -> (usize, usize) {
    let mut fragments = 0;
    let mut whole = 0;
    for bytes in &p.sent {
        let decoded = wire::decode(bytes).expect("every datagram we send decodes");
        match decoded.sk.map(|sk| sk.fragment.is_some()) {
            Some(true) => fragments += 1,
            Some(false) => whole += 1,
            None => {}
        }
    }
    (fragments, whole)
}

fn settings(fragment_size: usize) -> Settings {
    Settings {
        fragment_size,
        ..Settings::default()
    }
}

#[test]
fn ike_auth_is_fragmented_and_reassembled() {
    // charon's capture used fragment_size = 180: 152-octet IKE messages on IPv4 port 500.
    let mut p = seed_pair(settings(180));
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    assert_eq!(children_up(&p.a), 2);
    assert_eq!(children_up(&p.b), 2);
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    let (fragments, _) = count_sent(&p);
    assert!(
        fragments >= 6,
        "IKE_AUTH request and response split: {fragments}"
    );
    for bytes in &p.sent {
        let decoded = wire::decode(bytes).unwrap();
        if decoded.sk.is_some() {
            assert!(
                bytes.len() <= 152,
                "{} octets exceed the limit",
                bytes.len()
            );
        }
    }
    for ep in [&p.a, &p.b] {
        assert!(ep.has_log("splitting IKE message"), "{:#?}", ep.logs());
        assert!(ep.has_log("reassembled fragmented IKE message"));
        assert!(ep.has_log("[ EF(1/"));
    }
}

#[test]
fn default_fragment_size_leaves_the_seed_whole_and_splits_a_large_ike_auth() {
    let p = established_seed_pair(&["bf-in"]);
    assert_eq!(children_up(&p.a), 1);
    assert_eq!(
        count_sent(&p).0,
        0,
        "the seed's messages fit in 1280 octets"
    );

    // A tunnel child with 48 subnets each way makes IKE_AUTH about 1.9 KB.
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        let (mine, theirs) = if left { (10, 20) } else { (20, 10) };
        let child = Arc::make_mut(&mut c.children[1]);
        child.mode = Mode::Tunnel;
        child.local_ts = (0..48)
            .map(|i| ts(&format!("10.{mine}.{i}.0/24")).into())
            .collect();
        child.remote_ts = (0..48)
            .map(|i| ts(&format!("10.{theirs}.{i}.0/24")).into())
            .collect();
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert_eq!(children_up(&p.a), 1);
    assert_eq!(children_up(&p.b), 1);
    let (fragments, _) = count_sent(&p);
    assert!(fragments >= 4, "{fragments}");
    assert!(p.sent.iter().all(|d| d.len() <= 1252), "1280 - 20 - 8");
}

#[test]
fn fragments_survive_loss_duplication_and_reordering() {
    let impair = Impairments {
        loss: 0.1,
        duplicate: 0.3,
        reorder: 0.5,
        reorder_window: Duration::from_millis(50),
    };
    let complete = (0..30u64)
        .filter(|&seed| impaired_seed_run(settings(180), seed, impair) == 2)
        .count();
    // Each message is 3-5 fragments, so a 10% loss often costs a retransmission of all of
    // them; with five retransmissions every run still completes.
    assert_eq!(complete, 30);
}

#[test]
fn a_retransmitted_fragmented_request_is_answered_once() {
    let mut p = seed_pair(settings(180));
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    // IKE_SA_INIT takes one round trip (10 ms each way); then lose everything B sends: its
    // fragmented IKE_AUTH response.
    p.run_for(Duration::from_millis(25));
    assert_eq!(children_up(&p.a), 0);
    p.drop_next.insert("b", 100);
    p.run_for(Duration::from_millis(30));
    let lost = 100 - p.drop_next["b"];
    assert!(lost >= 2, "the response was fragmented: {lost}");
    p.drop_next.insert("b", 0);
    p.run();
    assert_eq!(children_up(&p.a), 1);
    assert_eq!(p.a.engine.stats().retransmits, 1);
    // A resent all its fragments; B replayed its whole response once, on fragment 1.
    assert_eq!(p.b.engine.stats().replayed_responses, 1);
    assert!(
        p.b.has_log("received retransmit of request with ID 1"),
        "{:#?}",
        p.b.logs()
    );
}

/// A file of the fragmented capture (charon with `fragment_size = 180`).
fn fragmented(file: &str) -> Vec<u8> {
    capture(&format!("fragmented/{file}"))
}

fn fragmented_key(name: &str) -> Secret {
    Secret::new(logged_key("fragmented", name))
}

/// charon's three IKE_AUTH fragments (`fragmentation = force`, `fragment_size = 180`) open
/// with the logged keys into exactly the independently decrypted `.inner.bin` slices, and
/// their concatenation is charon's IKE_AUTH request.
#[test]
fn charons_fragments_decrypt_and_reassemble_to_its_ike_auth() {
    let sel = Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519")
        .unwrap()
        .selected()
        .unwrap();
    let (sk_ei, sk_ai) = (fragmented_key("Sk_ei"), fragmented_key("Sk_ai"));
    let files = [
        "03-IKE_AUTH-request-1-frag1of3",
        "04-IKE_AUTH-request-1-frag2of3",
        "05-IKE_AUTH-request-1-frag3of3",
    ];
    let mut plaintext = Vec::new();
    let mut first = None;
    for (i, name) in files.iter().enumerate() {
        let keys = SkKeys {
            suite: &sel,
            encr: &sk_ei,
            integ: &sk_ai,
        };
        let Datagram::Fragment(f) =
            message::decode_datagram(&fragmented(&format!("{name}.bin")), Some(keys)).unwrap()
        else {
            panic!("{name} is a fragment");
        };
        assert_eq!((f.number, f.total), (u16::try_from(i).unwrap() + 1, 3));
        assert_eq!(
            *f.plaintext,
            fragmented(&format!("{name}.inner.bin")),
            "{name}"
        );
        if i == 0 {
            first = Some((f.header, f.first_inner));
        } else {
            assert_eq!(
                f.first_inner,
                iked_ike::wire::PayloadType::NONE,
                "only fragment 1 names the first payload"
            );
        }
        plaintext.extend_from_slice(&f.plaintext);
    }
    let (header, first_inner) = first.unwrap();
    let whole = message::assemble(header, Vec::new(), first_inner, &plaintext).unwrap();
    assert_eq!(
        whole.summary(),
        "IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH N(USE_TRANSP) SA TSi TSr N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]"
    );
    // A fragment opened with the wrong direction's keys is refused.
    let (sk_er, sk_ar) = (fragmented_key("Sk_er"), fragmented_key("Sk_ar"));
    let wrong = SkKeys {
        suite: &sel,
        encr: &sk_er,
        integ: &sk_ar,
    };
    assert!(
        message::decode_datagram(&fragmented(&format!("{}.bin", files[0])), Some(wrong)).is_err()
    );
}

/// (IKE_SA_INIT request announced FRAGMENTATION_SUPPORTED, response announced it).
fn announced(p: &Pair) -> (bool, bool) {
    let mut out = (false, false);
    for bytes in &p.sent {
        let decoded = wire::decode(bytes).unwrap();
        if decoded.message.header.exchange != wire::codes::ExchangeType::IKE_SA_INIT {
            continue;
        }
        let has = decoded
            .message
            .notify(wire::codes::NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
            .is_some();
        if decoded.message.header.flags.response() {
            out.1 |= has;
        } else {
            out.0 |= has;
        }
    }
    out
}

#[test]
fn fragmentation_accept_reassembles_but_never_sends_fragments() {
    // BFR (the responder) only accepts fragments: BFL still splits its IKE_AUTH request, BFR
    // answers whole.
    let mut p = seed_pair_with(settings(180), |left, c| {
        if !left {
            c.fragmentation = Fragmentation::Accept;
        }
    });
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    assert_eq!(children_up(&p.a), 2);
    assert_eq!(announced(&p), (true, true));
    assert!(p.a.has_log("splitting IKE message"));
    assert!(!p.b.has_log("splitting IKE message"), "{:#?}", p.b.logs());
    assert!(p.b.has_log("reassembled fragmented IKE message"));
}

#[test]
fn fragmentation_no_is_not_announced_and_nothing_is_split() {
    for no_side_is_left in [true, false] {
        let mut p = seed_pair_with(settings(180), |left, c| {
            if left == no_side_is_left {
                c.fragmentation = Fragmentation::No;
            }
        });
        let now = p.now;
        p.a.engine
            .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
            .unwrap();
        p.run();
        assert_eq!(children_up(&p.a), 2, "no on the left: {no_side_is_left}");
        // A responder announces support only to an initiator that did (RFC 7383 2.1).
        let expected = if no_side_is_left {
            (false, false)
        } else {
            (true, false)
        };
        assert_eq!(announced(&p), expected, "no on the left: {no_side_is_left}");
        assert_eq!(count_sent(&p).0, 0, "no fragments");
    }
}
