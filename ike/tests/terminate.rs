//! Terminating an IKE SA whose request the peer no longer answers (ovs-monitor-ipsec's
//! `stroke down-nb` on a duplicate IKE SA that crossed ACQUIREs left retransmitting): the
//! unforced delete waits behind the exchange in flight, as charon's task manager does; the
//! forced one (VICI `force`, what `down-nb` asks for) removes the SA, its children and their
//! kernel state at once and sends the DELETE once, best-effort.

mod common;

use std::time::Duration;

use common::*;
use iked_ike::engine::Event;

#[test]
fn a_forced_terminate_does_not_wait_behind_retransmits() {
    let mut p = established_seed_pair(&["bf-out"]);
    let sa = p.a.engine.ike_sas().remove(0);
    assert!(sa.established);
    let child = sa.children[0].id;
    // The peer stops answering; our rekey request is retransmitted.
    p.blackhole = Some(Side::B);
    let now = p.now;
    p.a.engine.rekey_child(now, child).unwrap();
    p.run_for(Duration::from_secs(5));
    let now = p.now;
    p.a.engine.terminate_ike(now, sa.id).unwrap();
    p.drain();
    assert_eq!(
        p.a.engine.ike_sas().len(),
        1,
        "the unforced delete waits for the exchange in flight"
    );
    let sent = p.sent.len();
    p.a.engine.terminate_ike_forced(now, sa.id).unwrap();
    p.drain();
    assert!(p.a.engine.ike_sas().is_empty(), "still there after force");
    assert_eq!(p.sent.len(), sent + 1, "one best-effort DELETE");
    assert!(
        p.a.kernel.leftovers().is_empty(),
        "kernel state left: {:?}",
        p.a.kernel.leftovers()
    );
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeDown { sa: s, .. } if *s == sa.id)),
        "no IkeDown"
    );
    // Nothing is retransmitted afterwards.
    p.run_for(Duration::from_secs(60));
    assert_eq!(p.sent.len(), sent + 1);
}

#[test]
fn a_half_open_sa_terminated_is_reported_failed() {
    let mut p = seed_pair(Default::default());
    p.blackhole = Some(Side::B);
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-out"]).unwrap();
    p.drain();
    let id = p.a.engine.ike_sas()[0].id;
    p.a.engine.terminate_ike(now, id).unwrap();
    p.drain();
    assert!(p.a.engine.ike_sas().is_empty());
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeFailed { sa, .. } if *sa == id)),
        "a half-open SA went without an event: whoever waited for it never learns"
    );
}
