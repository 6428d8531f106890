//! Counters that must not wrap (issue 18 §6): message IDs (RFC 7296 2.2: the IKE SA is closed
//! before they would) and IKE SA ids (never reused by one engine). Pair tests with the
//! counters moved next to their end, as a long-lived SA or daemon would have them.

use std::time::Duration;

// The pair harness, loaded once (by `pfs_tests`).
use super::pfs_tests::common::{Endpoint, established_seed_pair, seed_pair};

use super::*;
use crate::config::Settings;
use crate::engine::IkeSaId;
use crate::error::CommandError;

fn with_sa<R>(ep: &mut Endpoint, id: IkeSaId, f: impl FnOnce(&mut Engine, &mut IkeSa) -> R) -> R {
    let mut sa = ep.engine.sas.remove(&id).expect("IKE SA");
    let r = f(&mut ep.engine, &mut sa);
    ep.engine.sas.insert(id, sa);
    r
}

fn down_reasons(ep: &Endpoint) -> Vec<DownReason> {
    ep.events
        .iter()
        .filter_map(|e| match e {
            Event::IkeDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn exhausted() -> DownReason {
    DownReason::Failed("message IDs exhausted".into())
}

/// A rekeys its child with the second-to-last message ID: the CREATE_CHILD_SA goes through,
/// but the Delete of the old child would need the last one, so A closes the IKE SA instead
/// of sending it (or wrapping to 0).
#[test]
fn our_requests_stop_before_the_message_id_wraps() {
    let mut p = established_seed_pair(&["bf-in"]);
    let (a_ike, b_ike) = (p.a.engine.ike_sas()[0].id, p.b.engine.ike_sas()[0].id);
    let child = p.a.engine.ike_sas()[0].children[0].id;
    with_sa(&mut p.a, a_ike, |_, sa| sa.next_request_id = u32::MAX - 1);
    with_sa(&mut p.b, b_ike, |_, sa| {
        sa.expected_request_id = u32::MAX - 1
    });
    let now = p.now;
    p.a.engine.rekey_child(now, child).expect("rekey");
    p.run_for(Duration::from_secs(5));
    // B answered the request with ID 2^32-2 and received nothing after it.
    let b_expected = p.b.engine.sas.get(&b_ike).map(|sa| sa.expected_request_id);
    assert_eq!(b_expected, Some(u32::MAX));
    assert_eq!(down_reasons(&p.a), vec![exhausted()]);
    assert!(p.a.engine.ike_sas().is_empty());
    assert!(p.a.has_log("used all message IDs, closing it"));
}

/// The peer's request with the last message ID is answered, then the SA closes: no later
/// request could be accepted.
#[test]
fn answering_the_last_message_id_closes_the_sa() {
    let mut p = established_seed_pair(&["bf-in"]);
    let b_ike = p.b.engine.ike_sas()[0].id;
    with_sa(&mut p.b, b_ike, |engine, sa| {
        let before = sa.expected_request_id;
        engine.send_response(sa, u32::MAX, ExchangeType::INFORMATIONAL, vec![]);
        assert_eq!(
            sa.expected_request_id, before,
            "the expected ID must not wrap to 0"
        );
        assert!(matches!(&sa.last_response, Some((u32::MAX, _))));
    });
    p.run_for(Duration::from_secs(1));
    assert_eq!(down_reasons(&p.b), vec![exhausted()]);
    assert!(p.b.engine.ike_sas().is_empty());
}

/// With every IKE SA id handed out, an initiate command fails and a peer's IKE_SA_INIT is
/// dropped: an id is never given to a second SA.
#[test]
fn ike_sa_ids_are_never_reused() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine.next_ike_id = u32::MAX;
    assert_eq!(
        p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]),
        Err(CommandError::IdsExhausted)
    );
    p.a.engine.next_ike_id = u32::MAX - 1;
    p.b.engine.next_ike_id = u32::MAX;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in"])
        .expect("initiate");
    p.run_for(Duration::from_secs(1));
    assert!(p.b.engine.ike_sas().is_empty());
    assert!(p.b.has_log("no IKE SA ids left"));
    assert!(!p.a.engine.ike_sas().iter().any(|s| s.established));
}
