//! PFS and rekey refusals against a forged peer (issue 14 §2). A correctly configured engine
//! of ours never sends these messages, so the peer's side is built here by hand: payloads
//! chosen by the test, encrypted and sent by the peer engine's own IKE SA (`send_request`,
//! `send_response`), so they arrive exactly as a misbehaving implementation's would. The
//! well-behaved cases are pair tests in `ike/tests/pfs.rs`; this module shares its harness.

#[path = "../../../tests/common/mod.rs"]
pub(super) mod common;

use std::time::Duration;

use common::{Endpoint, Pair, Side, TestRng, established_seed_pair};

use super::*;
use crate::engine::IkeSaId;
use crate::engine::sa::Outstanding;
use crate::proposal::ke;

/// Runs `f` on the IKE SA `id` of `ep`'s engine, as the engine's own handlers do.
fn with_sa<R>(ep: &mut Endpoint, id: IkeSaId, f: impl FnOnce(&mut Engine, &mut IkeSa) -> R) -> R {
    let mut sa = ep.engine.sas.remove(&id).expect("IKE SA");
    let r = f(&mut ep.engine, &mut sa);
    ep.engine.sas.insert(id, sa);
    r
}

fn ike_id(ep: &Endpoint) -> IkeSaId {
    ep.engine.ike_sas()[0].id
}

fn esp(text: &str, spi: u32) -> Proposal {
    let mut p = Proposal::parse(ProtocolId::ESP, text).expect("proposal");
    p.spi = spi.to_be_bytes().to_vec();
    p
}

fn ke_payload_of(group: u16, seed: u64) -> Payload {
    let k = KeyExchange::generate(group, &mut TestRng(seed)).expect("key exchange");
    Payload::Ke {
        group,
        data: k.public(),
    }
}

/// A (BFL) rekeys its seed child; the request is lost on the way, and B (BFR) answers it
/// with `answer(B's old child)` instead of its own response. Returns the pair after the
/// answer was processed, and the inbound SPI A had reserved for the new child.
fn forged_rekey_answer(answer: impl FnOnce(&Child) -> Vec<Payload>) -> (Pair, u32) {
    let mut p = established_seed_pair(&["bf-in"]);
    let (a_ike, b_ike) = (ike_id(&p.a), ike_id(&p.b));
    let a_child = p.a.engine.ike_sas()[0].children[0].id;
    p.blackhole = Some(Side::B);
    let now = p.now;
    p.a.engine.rekey_child(now, a_child).expect("rekey");
    p.drain();
    p.blackhole = None;
    let (mid, spi_in) = with_sa(&mut p.a, a_ike, |_, sa| match &sa.outstanding {
        Some(Outstanding {
            message_id,
            active: Active::CreateChild(nc),
            ..
        }) => (*message_id, nc.spi_in.expect("SPI reserved")),
        _ => panic!("A has no CREATE_CHILD_SA outstanding"),
    });
    with_sa(&mut p.b, b_ike, |engine, sa| {
        let payloads = answer(&sa.children[0]);
        engine.send_response(sa, mid, ExchangeType::CREATE_CHILD_SA, payloads);
        sa.expected_request_id = mid.wrapping_add(1);
    });
    p.run_for(Duration::from_secs(2));
    (p, spi_in)
}

/// B's answer to a rekey of `old` choosing `proposal`, with `ke` if any.
fn rekey_answer(old: &Child, proposal: Proposal, ke: Option<Payload>) -> Vec<Payload> {
    let mut v = vec![
        Payload::Notify(Notify {
            protocol: ProtocolId::ESP,
            spi: old.spi_in.to_be_bytes().to_vec(),
            kind: NotifyType::REKEY_SA,
            data: vec![],
        }),
        Payload::Notify(Notify::new(NotifyType::USE_TRANSPORT_MODE, vec![])),
        Payload::Sa(vec![proposal]),
        Payload::Nonce(vec![0x5a; 32]),
    ];
    v.extend(ke);
    v.push(Payload::TsI(old.remote_ts.clone()));
    v.push(Payload::TsR(old.local_ts.clone()));
    v
}

/// The original child is still the only one at A, in force, and nothing new was installed.
fn assert_a_kept_only_the_original(p: &Pair) {
    assert_eq!(p.a.add_sa_count(), 2, "{:?}", p.a.kernel.log);
    assert!(p.a.kernel.larval.is_empty(), "{:?}", p.a.kernel.larval);
    let sas = p.a.engine.ike_sas();
    assert_eq!(sas[0].children.len(), 1);
    assert!(sas[0].children[0].installed);
    assert!(
        !p.a.events
            .iter()
            .any(|e| matches!(e, Event::ChildRekeyed { .. }))
    );
}

/// The harness itself: a forged answer that does the key exchange we asked for is taken.
#[test]
fn forged_answer_with_our_key_exchange_is_accepted() {
    let (p, _) = forged_rekey_answer(|old| {
        rekey_answer(
            old,
            esp("aes128gcm128-x25519-esn", 0xb0b0_0001),
            Some(ke_payload_of(ke::CURVE_25519, 9)),
        )
    });
    assert!(
        p.a.child_failures().is_empty(),
        "{:?}",
        p.a.child_failures()
    );
    assert_eq!(p.a.add_sa_count(), 4);
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::ChildRekeyed { .. }))
    );
}

/// Our initiator sent X25519; an answer without any key exchange is a downgrade: refused, the
/// peer's half deleted, the old child kept.
#[test]
fn initiator_refuses_an_answer_without_ke() {
    let (p, spi_in) =
        forged_rekey_answer(|old| rekey_answer(old, esp("aes128gcm128-esn", 0xb0b0_0002), None));
    assert_eq!(
        p.a.child_failures(),
        vec!["no acceptable proposal".to_string()]
    );
    assert!(p.a.has_log(&format!(
        "sending DELETE for rejected ESP CHILD_SA bf-in with SPI {spi_in:08x}"
    )));
    assert_a_kept_only_the_original(&p);
}

/// A KE payload of our group under a proposal that names no method, or a KE payload and
/// proposal of another group: both refused.
#[test]
fn initiator_refuses_an_answer_whose_ke_does_not_match() {
    let cases = [
        (
            "aes128gcm128-esn",
            ke::CURVE_25519,
            "missing or mismatched KE payload",
        ),
        (
            "aes128gcm128-ecp256-esn",
            ke::ECP_256,
            "missing or mismatched KE payload",
        ),
    ];
    for (proposal, group, reason) in cases {
        let (p, _) = forged_rekey_answer(|old| {
            rekey_answer(
                old,
                esp(proposal, 0xb0b0_0003),
                Some(ke_payload_of(group, 3)),
            )
        });
        assert_eq!(p.a.child_failures(), vec![reason.to_string()], "{proposal}");
        assert!(p.a.has_log("sending DELETE for rejected ESP CHILD_SA bf-in"));
        assert_a_kept_only_the_original(&p);
    }
}

/// A rekey request from A for its seed child, as A would build it with `proposal`/`ke`.
fn rekey_request(a: &Endpoint, proposal: Proposal, ke: Option<Payload>) -> Vec<Payload> {
    let sas = a.engine.ike_sas();
    let old = &sas[0].children[0];
    let mut v = vec![
        Payload::Notify(Notify {
            protocol: ProtocolId::ESP,
            spi: old.spi_in.to_be_bytes().to_vec(),
            kind: NotifyType::REKEY_SA,
            data: vec![],
        }),
        Payload::Notify(Notify::new(NotifyType::USE_TRANSPORT_MODE, vec![])),
        Payload::Sa(vec![proposal]),
        Payload::Nonce(vec![0x3c; 32]),
    ];
    v.extend(ke);
    v.push(Payload::TsI(old.local_ts.clone()));
    v.push(Payload::TsR(old.remote_ts.clone()));
    v
}

/// Sends `payloads` as a CREATE_CHILD_SA request from A's IKE SA; A ignores the answer.
fn forge_request(p: &mut Pair, payloads: Vec<Payload>) {
    let a_ike = ike_id(&p.a);
    let now = p.now;
    with_sa(&mut p.a, a_ike, |engine, sa| {
        // An answered liveness check is all A makes of the response.
        engine.send_request(
            now,
            sa,
            ExchangeType::CREATE_CHILD_SA,
            payloads,
            Active::Dpd,
        );
    });
    p.run_for(Duration::from_millis(500));
}

/// A second rekey request for a child the peer already rekeyed (the first one answered, the
/// old child not yet deleted) is CHILD_SA_NOT_FOUND: one successor, not two. The same when
/// the first one collided with a rekey of our own still in flight.
#[test]
fn responder_refuses_a_second_rekey_of_a_replaced_child() {
    for b_rekeying in [false, true] {
        let mut p = established_seed_pair(&["bf-in"]);
        if b_rekeying {
            // B's own rekey is lost on the way: B stays in the middle of rekeying.
            let b_child = p.b.engine.ike_sas()[0].children[0].id;
            p.blackhole = Some(Side::B);
            let now = p.now;
            p.b.engine.rekey_child(now, b_child).expect("rekey");
            p.drain();
            p.blackhole = None;
        }
        let first = rekey_request(
            &p.a,
            esp("aes128gcm128-x25519-esn", 0xa0a0_0001),
            Some(ke_payload_of(ke::CURVE_25519, 5)),
        );
        forge_request(&mut p, first);
        assert_eq!(p.b.add_sa_count(), 4, "{b_rekeying}: first rekey installed");
        let second = rekey_request(
            &p.a,
            esp("aes128gcm128-x25519-esn", 0xa0a0_0002),
            Some(ke_payload_of(ke::CURVE_25519, 6)),
        );
        let larval_before = p.b.kernel.larval.len();
        forge_request(&mut p, second);
        assert!(
            p.b.has_log("CREATE_CHILD_SA request rejected: CHILD_SA not found"),
            "{b_rekeying}: {:#?}",
            p.b.logs()
        );
        assert_eq!(
            p.b.add_sa_count(),
            4,
            "{b_rekeying}: second rekey installed"
        );
        assert_eq!(p.b.kernel.larval.len(), larval_before);
        let sas = p.b.engine.ike_sas();
        // The old child (until the peer deletes it) and its one successor.
        assert_eq!(
            sas[0].children.len(),
            2,
            "{b_rekeying}: {:?}",
            sas[0].children
        );
        assert_eq!(
            p.b.events
                .iter()
                .filter(|e| matches!(e, Event::ChildRekeyed { .. }))
                .count(),
            1
        );
    }
}

/// A rekey of a child we are deleting is TEMPORARY_FAILURE (charon: "unable to rekey, we are
/// deleting the CHILD_SA"); nothing is created.
#[test]
fn responder_answers_temporary_failure_for_a_child_being_deleted() {
    let mut p = established_seed_pair(&["bf-in"]);
    let b_child = p.b.engine.ike_sas()[0].children[0].id;
    p.blackhole = Some(Side::B);
    let now = p.now;
    p.b.engine.terminate_child(now, b_child).expect("terminate");
    p.drain();
    p.blackhole = None;
    let req = rekey_request(
        &p.a,
        esp("aes128gcm128-x25519-esn", 0xa0a0_0003),
        Some(ke_payload_of(ke::CURVE_25519, 7)),
    );
    forge_request(&mut p, req);
    assert!(
        p.b.has_log("CREATE_CHILD_SA request rejected: temporary failure"),
        "{:#?}",
        p.b.logs()
    );
    assert!(p.a.has_log("N(TEMP_FAIL)"), "{:#?}", p.a.logs());
    assert_eq!(p.b.add_sa_count(), 2);
}

/// A request whose proposals name our method but that carries no KE payload: the responder
/// asks for the method with INVALID_KE_PAYLOAD (for a new child and for a rekey).
#[test]
fn responder_asks_for_our_group_when_the_ke_payload_is_missing() {
    for rekey in [false, true] {
        let mut p = established_seed_pair(&["bf-in"]);
        let mut req = rekey_request(&p.a, esp("aes128gcm128-x25519-esn", 0xa0a0_0004), None);
        if !rekey {
            req.remove(0);
        }
        forge_request(&mut p, req);
        assert!(
            p.b.has_log(
                "CREATE_CHILD_SA request rejected: key exchange method 0 not acceptable, requesting 31"
            ),
            "{rekey}: {:#?}",
            p.b.logs()
        );
        assert!(p.a.has_log("N(INVAL_KE)"), "{:#?}", p.a.logs());
        assert_eq!(p.b.add_sa_count(), 2);
        assert!(p.b.kernel.larval.is_empty());
    }
}

/// A rekey of a child we are deleting (our DELETE not yet answered; a child our kernel refused
/// after the peer agreed is deleted the same way) is TEMPORARY_FAILURE too, not
/// CHILD_SA_NOT_FOUND, on which charon would create a fresh child; nothing is created.
#[test]
fn responder_answers_temporary_failure_for_a_child_it_is_deleting() {
    let mut p = established_seed_pair(&["bf-in"]);
    let child = p.b.engine.ike_sas()[0].children[0].clone();
    let now = p.now;
    // B's DELETE never reaches A, so B keeps the child as deleting.
    p.blackhole = Some(Side::A);
    p.b.engine
        .terminate_child(now, child.id)
        .expect("terminate");
    p.run_for(Duration::from_millis(50));
    p.blackhole = None;
    let failed = child.spi_out;
    let added = p.b.add_sa_count();
    let mut req = rekey_request(
        &p.a,
        esp("aes128gcm128-x25519-esn", 0xa0a0_0005),
        Some(ke_payload_of(ke::CURVE_25519, 8)),
    );
    if let Some(Payload::Notify(n)) = req.first_mut() {
        n.spi = failed.to_be_bytes().to_vec();
    }
    forge_request(&mut p, req);
    assert!(
        p.b.has_log("CREATE_CHILD_SA request rejected: temporary failure"),
        "{:#?}",
        p.b.logs()
    );
    assert_eq!(p.b.add_sa_count(), added);
}
