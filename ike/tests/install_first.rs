//! The responder answers only what its kernel accepted (issue 14 §5): an IKE_AUTH or
//! CREATE_CHILD_SA response that accepts a child goes out only once every install request of
//! that child has been answered. When the kernel refuses, the response carries charon's
//! NO_PROPOSAL_CHOSEN instead of SA/TSi/TSr (child_create.c), nothing of the child remains and
//! no DELETE follows, so the peer never holds a child we do not have.
//!
//! The `Pair` harness's fake kernels either refuse the responder's inbound SA
//! (`fail_add_sa`) or keep their answers back (`defer_answers`) until the test delivers them.

mod common;

use std::time::Duration;

use common::*;
use iked_ike::config::Settings;
use iked_ike::engine::{ChildSaId, Direction, Event, KernelRequest};

/// The `[ENC] generating ... response` summaries an endpoint logged for `exchange`.
fn responses(ep: &Endpoint, exchange: &str) -> Vec<String> {
    let needle = format!("[ENC] generating {exchange} response");
    ep.logs()
        .into_iter()
        .filter(|l| l.contains(&needle))
        .collect()
}

fn count_requests(ep: &Endpoint, f: impl Fn(&KernelRequest) -> bool) -> usize {
    ep.kernel.log.iter().filter(|r| f(r)).count()
}

fn adds(ep: &Endpoint) -> usize {
    count_requests(ep, |r| {
        matches!(
            r,
            KernelRequest::AddSa { .. } | KernelRequest::AddPolicy { .. }
        )
    })
}

fn allocations(ep: &Endpoint) -> usize {
    count_requests(ep, |r| matches!(r, KernelRequest::AllocateSpi { .. }))
}

fn rekeyed(ep: &Endpoint) -> usize {
    ep.events
        .iter()
        .filter(|e| matches!(e, Event::ChildRekeyed { .. }))
        .count()
}

/// No INFORMATIONAL with a Delete payload went out from either end.
fn assert_no_delete(p: &Pair) {
    for (name, ep) in [("initiator", &p.a), ("responder", &p.b)] {
        let deletes: Vec<String> = ep
            .logs()
            .into_iter()
            .filter(|l| l.contains("sending DELETE") || l.contains("generating INFORMATIONAL"))
            .collect();
        assert!(deletes.is_empty(), "{name} sent {deletes:?}");
    }
}

/// Both IKE SAs established, neither holding a child, both kernels empty (every SPI that
/// ALLOCSPI reserved was released).
fn assert_ike_up_without_children(p: &Pair) {
    for (name, ep) in [("initiator", &p.a), ("responder", &p.b)] {
        let sas = ep.engine.ike_sas();
        assert_eq!(sas.len(), 1, "{name}: {sas:?}");
        assert!(sas[0].established, "{name}: IKE SA not established");
        assert!(sas[0].children.is_empty(), "{name}: {:?}", sas[0].children);
        assert_eq!(ep.kernel.leftovers(), Vec::<String>::new(), "{name}");
    }
}

/// The responder's refusal names no SA and no selectors, only the notify.
fn assert_refusal(summary: &str, expected: &str) {
    assert!(summary.ends_with(expected), "{summary}");
    for payload in [" SA ", " TSi ", " TSr ", " No ", " KE "] {
        assert!(!summary.contains(payload), "{summary}");
    }
}

fn refuse_responder_inbound_sa(p: &mut Pair) {
    p.b.kernel.fail_add_sa.push((
        Direction::In,
        "Operation not supported (packet offload on veth)".into(),
    ));
}

fn child_id(ep: &Endpoint, name: &str) -> ChildSaId {
    ep.engine.ike_sas()[0]
        .children
        .iter()
        .find(|c| c.name == name)
        .unwrap()
        .id
}

#[test]
fn ike_auth_response_waits_for_every_install_answer() {
    let mut p = seed_pair(Settings::default());
    p.b.kernel.defer_answers = true;
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run_for(Duration::from_millis(100));
    // The SPI is not there yet: nothing to answer with.
    assert!(responses(&p.b, "IKE_AUTH").is_empty());
    p.answer_deferred(Side::B);
    // The child's SAs and policies were requested (and carried out), but not answered.
    let requested = adds(&p.b);
    assert!(requested >= 4, "{:?}", p.b.kernel.log);
    assert_eq!(p.b.kernel.deferred.len(), requested);
    assert!(
        responses(&p.b, "IKE_AUTH").is_empty(),
        "answered before the kernel did"
    );
    // The initiator retransmits meanwhile: no second install, no response.
    p.run_for(Duration::from_secs(5));
    assert!(p.a.engine.stats().retransmits >= 1);
    assert!(responses(&p.b, "IKE_AUTH").is_empty());
    assert_eq!((allocations(&p.b), adds(&p.b)), (1, requested));
    // Every answer but the last: still held.
    let last = p.b.kernel.deferred.pop().unwrap();
    p.answer_deferred(Side::B);
    assert!(responses(&p.b, "IKE_AUTH").is_empty());
    p.b.kernel.deferred.push(last);
    p.answer_deferred(Side::B);
    let sent = responses(&p.b, "IKE_AUTH");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains(" SA TSi TSr"), "{}", sent[0]);
    p.b.kernel.defer_answers = false;
    p.run();
    assert_eq!((children_up(&p.a), children_up(&p.b)), (1, 1));
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert_eq!((allocations(&p.b), adds(&p.b)), (1, requested));
}

#[test]
fn ike_auth_install_refused_answers_no_proposal_chosen_and_keeps_the_ike_sa() {
    let mut p = seed_pair(Settings::default());
    refuse_responder_inbound_sa(&mut p);
    let now = p.now;
    let ike = p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    let sent = responses(&p.b, "IKE_AUTH");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_refusal(&sent[0], "[ IDr AUTH N(NO_PROP) ]");
    assert!(p.a.has_log("parsed IKE_AUTH response 1 [ IDr AUTH N(NO_PROP) ]"));
    assert!(
        p.b.child_failures()
            .iter()
            .any(|r| r.contains("packet offload on veth")),
        "{:?}",
        p.b.child_failures()
    );
    assert_eq!(p.a.child_failures().len(), 1);
    assert_eq!((children_up(&p.a), children_up(&p.b)), (0, 0));
    assert_no_delete(&p);
    assert_ike_up_without_children(&p);
    // The IKE SA is usable: the child comes up once the kernel takes it.
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-in").unwrap();
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert_eq!((children_up(&p.a), children_up(&p.b)), (1, 1));
}

#[test]
fn create_child_install_refused_answers_only_the_notify() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    let ike = p.a.engine.initiate(now, "BFL-BFR", &[]).unwrap();
    p.run();
    refuse_responder_inbound_sa(&mut p);
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run();
    let sent = responses(&p.b, "CREATE_CHILD_SA");
    assert_eq!(
        sent,
        ["[ENC] generating CREATE_CHILD_SA response 2 [ N(NO_PROP) ]"]
    );
    assert_eq!(p.a.child_failures().len(), 1);
    assert_eq!(p.b.child_failures().len(), 1);
    assert_no_delete(&p);
    assert_ike_up_without_children(&p);
}

/// charon answers TS_UNACCEPTABLE when the SAs went in but a policy did not; the SAs that
/// did install are removed again.
#[test]
fn policy_refused_answers_ts_unacceptable_and_removes_the_installed_sas() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    let ike = p.a.engine.initiate(now, "BFL-BFR", &[]).unwrap();
    p.run();
    p.b.kernel
        .fail_add_policy
        .push("File exists (policy)".into());
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run();
    let sent = responses(&p.b, "CREATE_CHILD_SA");
    assert_eq!(
        sent,
        ["[ENC] generating CREATE_CHILD_SA response 2 [ N(TS_UNACCEPT) ]"]
    );
    assert!(
        p.b.kernel
            .log
            .iter()
            .filter(|r| matches!(r, KernelRequest::DeleteSa { .. }))
            .count()
            >= 2,
        "both installed SAs rolled back"
    );
    assert_no_delete(&p);
    assert_ike_up_without_children(&p);
}

#[test]
fn create_child_response_waits_for_every_install_answer() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    let ike = p.a.engine.initiate(now, "BFL-BFR", &[]).unwrap();
    p.run();
    p.b.kernel.defer_answers = true;
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run_for(Duration::from_millis(100));
    p.answer_deferred(Side::B);
    assert!(adds(&p.b) >= 4);
    assert!(responses(&p.b, "CREATE_CHILD_SA").is_empty());
    p.answer_deferred(Side::B);
    let sent = responses(&p.b, "CREATE_CHILD_SA");
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains(" SA No KE TSi TSr"), "{}", sent[0]);
    p.b.kernel.defer_answers = false;
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert_eq!((children_up(&p.a), children_up(&p.b)), (1, 1));
}

#[test]
fn rekey_install_refused_keeps_the_old_child_on_both_ends() {
    let mut p = established_seed_pair(&["bf-in", "bf-out"]);
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    let before = (p.a.kernel.sas.clone(), p.b.kernel.sas.clone());
    let policies = (p.a.kernel.policies.clone(), p.b.kernel.policies.clone());
    let old = child_id(&p.a, "bf-out");
    refuse_responder_inbound_sa(&mut p);
    let now = p.now;
    p.a.engine.rekey_child(now, old).unwrap();
    p.run();
    let sent = responses(&p.b, "CREATE_CHILD_SA");
    let refusal = sent.last().unwrap();
    assert_refusal(refusal, "[ N(NO_PROP) ]");
    assert_no_delete(&p);
    assert_eq!((rekeyed(&p.a), rekeyed(&p.b)), (0, 0));
    // Same SAs and policies as before on both hosts; no reserved SPI left.
    assert_eq!(
        p.a.kernel.sas.keys().collect::<Vec<_>>(),
        before.0.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        p.b.kernel.sas.keys().collect::<Vec<_>>(),
        before.1.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        (p.a.kernel.policies.clone(), p.b.kernel.policies.clone()),
        policies
    );
    assert!(p.a.kernel.larval.is_empty() && p.b.kernel.larval.is_empty());
    for ep in [&p.a, &p.b] {
        let children = &ep.engine.ike_sas()[0].children;
        assert_eq!(children.len(), 2, "{children:?}");
        assert!(children.iter().all(|c| c.installed), "{children:?}");
    }
    // The old child can still be rekeyed.
    let now = p.now;
    p.a.engine.rekey_child(now, old).unwrap();
    p.run();
    assert_eq!((rekeyed(&p.a), rekeyed(&p.b)), (1, 1));
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
}

#[test]
fn rekey_response_waits_for_every_install_answer() {
    let mut p = established_seed_pair(&["bf-in", "bf-out"]);
    let old = child_id(&p.a, "bf-out");
    let old_spi_at_b = p.b.engine.ike_sas()[0]
        .children
        .iter()
        .find(|c| c.name == "bf-in")
        .unwrap()
        .spi_in;
    p.b.kernel.defer_answers = true;
    let now = p.now;
    p.a.engine.rekey_child(now, old).unwrap();
    p.run_for(Duration::from_millis(100));
    p.answer_deferred(Side::B);
    assert!(
        responses(&p.b, "CREATE_CHILD_SA").len() == 1,
        "only bf-out's creation"
    );
    p.answer_deferred(Side::B);
    let sent = responses(&p.b, "CREATE_CHILD_SA");
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].contains("N(REKEY_SA)") && sent[1].contains(" SA "),
        "{}",
        sent[1]
    );
    p.b.kernel.defer_answers = false;
    p.run();
    assert_eq!((rekeyed(&p.a), rekeyed(&p.b)), (1, 1));
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    // B's half of A's bf-out (B's bf-in) was replaced and removed.
    assert!(!p.b.kernel.sas.keys().any(|(_, spi)| *spi == old_spi_at_b));
}

/// A kernel backend that never answers the install: after the bound the child is refused
/// (the IKE SA is not wedged), and answers that come late are not acted upon but leave
/// nothing behind.
#[test]
fn install_never_answered_is_refused_after_the_bound() {
    let mut p = seed_pair(Settings::default());
    p.b.kernel.defer_answers = true;
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run_for(Duration::from_millis(100));
    p.answer_deferred(Side::B);
    assert!(!p.b.kernel.deferred.is_empty());
    let late = std::mem::take(&mut p.b.kernel.deferred);
    p.run_for(Duration::from_secs(9));
    assert!(responses(&p.b, "IKE_AUTH").is_empty());
    p.run_for(Duration::from_secs(6));
    let sent = responses(&p.b, "IKE_AUTH");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_refusal(&sent[0], "[ IDr AUTH N(NO_PROP) ]");
    // The late answers (all successes) are ignored; what they installed was undone.
    p.b.kernel.deferred = late;
    p.answer_deferred(Side::B);
    p.b.kernel.defer_answers = false;
    p.run();
    assert_no_delete(&p);
    assert_ike_up_without_children(&p);
    assert_eq!((children_up(&p.a), children_up(&p.b)), (0, 0));
}

/// The same bound for an SPI that never comes; one that comes late is released.
#[test]
fn spi_never_answered_is_refused_after_the_bound_and_released_when_late() {
    let mut p = seed_pair(Settings::default());
    p.b.kernel.defer_answers = true;
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run_for(Duration::from_secs(15));
    let sent = responses(&p.b, "IKE_AUTH");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_refusal(&sent[0], "[ IDr AUTH N(NO_PROP) ]");
    assert_eq!(p.b.kernel.larval.len(), 1);
    p.answer_deferred(Side::B);
    p.b.kernel.defer_answers = false;
    p.run();
    assert_no_delete(&p);
    assert_ike_up_without_children(&p);
}
