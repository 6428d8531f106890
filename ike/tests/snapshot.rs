//! Hitless restart in the engine: a pair is established, one end is snapshotted and replaced
//! by a new engine restored from the snapshot (the kernel stays, as on a real restart), and the
//! unchanged peer keeps working with it: DPD, CHILD_SA rekey, IKE SA rekey and delete. Corrupt,
//! truncated and hostile snapshots are refused without changing the engine.

mod common;

use std::time::Duration;

use common::*;
use iked_ike::config::Settings;
use iked_ike::engine::{Engine, Event, SnapshotError};
use proptest::prelude::*;

/// A pair with DPD on both ends and one IKE SA with both children.
fn dpd_pair() -> Pair {
    let mut p = seed_pair_with(Settings::default(), |_, c| {
        c.dpd_delay = Duration::from_secs(30);
    });
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    assert_eq!(children_up(&p.a), 2);
    p
}

/// A fresh engine with `side`'s configuration (another RNG: a new process).
fn fresh_engine(left: bool) -> Engine {
    let (mut c, s) = seed_config(left);
    c.dpd_delay = Duration::from_secs(30);
    Engine::new(Settings::default(), vec![c], s, Box::new(TestRng(99)))
}

/// Replaces `side`'s engine with one restored from its snapshot; returns the snapshot length.
fn restart(p: &mut Pair, side: Side) -> usize {
    let now = p.now;
    let left = matches!(side, Side::A);
    let ep = p.side(side);
    let snap = ep.engine.snapshot(now);
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    assert_eq!(snap.saved.len(), 1);
    let before = ep.engine.ike_sas();
    let mut fresh = fresh_engine(left);
    let restored = fresh.restore(now, &snap.bytes).expect("restore");
    assert_eq!(restored.ike.len(), 1);
    assert_eq!(restored.children.len(), 2);
    assert!(restored.skipped.is_empty());
    // Nothing goes to the kernel or the network on a restore: the kernel already has it all.
    assert!(fresh.poll_kernel().is_none());
    assert!(fresh.poll_transmit().is_none());
    let after = fresh.ike_sas();
    assert_eq!(before.len(), after.len());
    assert_eq!(
        (before[0].id, before[0].spi_i, before[0].spi_r),
        (after[0].id, after[0].spi_i, after[0].spi_r)
    );
    let spis = |i: &iked_ike::engine::IkeInfo| {
        i.children
            .iter()
            .map(|c| (c.id, c.spi_in, c.spi_out, c.reqid))
            .collect::<Vec<_>>()
    };
    assert_eq!(spis(&before[0]), spis(&after[0]));
    let len = snap.bytes.len();
    ep.engine = fresh;
    ep.events.clear();
    len
}

fn resumed_pair_keeps_working(side: Side) {
    let mut p = dpd_pair();
    let kernel_before = assert_kernels_match(&p.a.kernel, &p.b.kernel);
    restart(&mut p, side);
    p.drain();
    assert!(p.side(side).has_log("resumed from the saved state"));

    // DPD both ways for a few minutes: nobody declares the other dead.
    let sent = p.sent.len();
    p.run_for(Duration::from_secs(200));
    assert!(p.sent.len() > sent + 4, "DPD exchanges ran");
    for ep in [&p.a, &p.b] {
        assert!(
            !ep.events
                .iter()
                .any(|e| matches!(e, Event::IkeDown { .. } | Event::ChildDown { .. })),
            "{:?}",
            ep.non_log_events()
        );
    }
    assert_eq!(p.a.engine.stats().dropped + p.b.engine.stats().dropped, 0);

    // CHILD_SA rekey started by the restarted end, then by the peer.
    for s in [side, other(side)] {
        let now = p.now;
        let ep = p.side(s);
        let child = ep.engine.ike_sas()[0].children[0].id;
        ep.engine.rekey_child(now, child).unwrap();
        p.run();
        assert!(
            p.side(s)
                .events
                .iter()
                .any(|e| matches!(e, Event::ChildRekeyed { old, .. } if *old == child))
        );
        assert_eq!(
            assert_kernels_match(&p.a.kernel, &p.b.kernel),
            kernel_before
        );
    }

    // IKE SA rekey by the restarted end: new SPIs on both ends, children carried over.
    let now = p.now;
    let ep = p.side(side);
    let old = ep.engine.ike_sas()[0].id;
    ep.engine.rekey_ike(now, old).unwrap();
    p.run();
    let (a, b) = (p.a.engine.ike_sas(), p.b.engine.ike_sas());
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!((a[0].spi_i, a[0].spi_r), (b[0].spi_i, b[0].spi_r));
    assert_eq!(a[0].children.len(), 2);
    assert_ne!(p.side(side).engine.ike_sas()[0].id, old);

    // Delete by the peer: everything goes on both ends, kernels empty.
    let now = p.now;
    let ep = p.side(other(side));
    let id = ep.engine.ike_sas()[0].id;
    ep.engine.terminate_ike(now, id).unwrap();
    p.run();
    assert!(p.a.engine.ike_sas().is_empty());
    assert!(p.b.engine.ike_sas().is_empty());
    assert!(
        p.a.kernel.leftovers().is_empty(),
        "{:?}",
        p.a.kernel.leftovers()
    );
    assert!(
        p.b.kernel.leftovers().is_empty(),
        "{:?}",
        p.b.kernel.leftovers()
    );
}

fn other(s: Side) -> Side {
    match s {
        Side::A => Side::B,
        Side::B => Side::A,
    }
}

#[test]
fn restarted_initiator_keeps_dpd_rekeys_and_delete_working() {
    resumed_pair_keeps_working(Side::A);
}

#[test]
fn restarted_responder_keeps_dpd_rekeys_and_delete_working() {
    resumed_pair_keeps_working(Side::B);
}

#[test]
fn restarted_end_deletes_and_the_peer_follows() {
    let mut p = dpd_pair();
    restart(&mut p, Side::B);
    let now = p.now;
    let id = p.b.engine.ike_sas()[0].id;
    p.b.engine.terminate_ike(now, id).unwrap();
    p.run();
    assert!(p.a.engine.ike_sas().is_empty());
    assert!(
        p.b.kernel.leftovers().is_empty(),
        "{:?}",
        p.b.kernel.leftovers()
    );
    assert!(
        p.a.kernel.leftovers().is_empty(),
        "{:?}",
        p.a.kernel.leftovers()
    );
}

#[test]
fn a_busy_sa_is_left_out_and_new_ids_stay_above_resumed_ones() {
    let mut p = dpd_pair();
    let now = p.now;
    let child = p.a.engine.ike_sas()[0].children[0].id;
    p.a.engine.rekey_child(now, child).unwrap();
    // The CREATE_CHILD_SA request is in flight.
    let snap = p.a.engine.snapshot(now);
    assert!(snap.saved.is_empty());
    assert_eq!(snap.skipped[0].1, "exchange in progress");
    p.run();
    let snap = p.a.engine.snapshot(p.now);
    let mut fresh = fresh_engine(true);
    fresh.restore(p.now, &snap.bytes).unwrap();
    let max_child = fresh.ike_sas()[0]
        .children
        .iter()
        .map(|c| c.id.0.max(c.reqid))
        .max()
        .unwrap();
    p.a.engine = fresh;
    let now = p.now;
    let ike = p.a.engine.ike_sas()[0].id;
    let new = p.a.engine.initiate(now, "BFL-BFR", &["bf-out"]).unwrap();
    assert!(new.0 > ike.0, "new IKE id {new:?} above resumed {ike:?}");
    p.run();
    let info = p.a.engine.ike_sas();
    let newest = info.iter().flat_map(|i| &i.children).map(|c| c.id.0).max();
    assert!(newest.unwrap() > max_child);
}

#[test]
fn an_unknown_connection_is_skipped_not_fatal() {
    let p = dpd_pair();
    let snap = p.a.engine.snapshot(p.now);
    let (mut c, s) = seed_config(true);
    c.name = "other".into();
    let mut fresh = Engine::new(Settings::default(), vec![c], s, Box::new(TestRng(5)));
    let r = fresh.restore(p.now, &snap.bytes).unwrap();
    assert!(r.ike.is_empty());
    assert_eq!(r.skipped.len(), 1);
    assert!(r.skipped[0].1.contains("not loaded"), "{:?}", r.skipped);
}

#[test]
fn corrupt_truncated_and_foreign_snapshots_are_refused_with_a_reason() {
    let p = dpd_pair();
    let snap = p.a.engine.snapshot(p.now);
    let bytes = snap.bytes.to_vec();
    let mut fresh = fresh_engine(true);
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert_eq!(
        fresh.restore(p.now, &flipped).unwrap_err(),
        SnapshotError::Checksum
    );
    assert_eq!(
        fresh.restore(p.now, &bytes[..bytes.len() - 1]).unwrap_err(),
        SnapshotError::Truncated
    );
    let mut newer = bytes.clone();
    newer[9] = newer[9].wrapping_add(1);
    assert!(matches!(
        fresh.restore(p.now, &newer).unwrap_err(),
        SnapshotError::Version { .. }
    ));
    assert_eq!(
        fresh.restore(p.now, b"{\"json\": true}").unwrap_err(),
        SnapshotError::BadMagic
    );
    assert_eq!(
        fresh.restore(p.now, &[]).unwrap_err(),
        SnapshotError::BadMagic
    );
    assert!(
        fresh.ike_sas().is_empty(),
        "a refused snapshot changes nothing"
    );
    // The message never carries key bytes (it names the problem only).
    assert!(SnapshotError::Checksum.to_string().len() < 80);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any damage to a real snapshot (a byte changed, a cut, bytes appended) is refused
    /// without a panic and without touching the engine.
    #[test]
    fn damaged_snapshots_never_panic(pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>(), extra in prop::collection::vec(any::<u8>(), 1..16)) {
        let p = dpd_pair();
        let bytes = p.a.engine.snapshot(p.now).bytes.to_vec();
        let mut fresh = fresh_engine(true);
        let mut changed = bytes.clone();
        let i = pos.index(changed.len());
        changed[i] ^= xor;
        prop_assert!(fresh.restore(p.now, &changed).is_err());
        let cut = cut.index(bytes.len());
        prop_assert!(fresh.restore(p.now, &bytes[..cut]).is_err());
        let mut longer = bytes.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(fresh.restore(p.now, &longer).is_err());
        prop_assert!(fresh.ike_sas().is_empty());
    }

    #[test]
    fn random_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut fresh = fresh_engine(true);
        let mut framed = b"IKEDSNAP\x00\x01".to_vec();
        framed.extend_from_slice(&bytes);
        prop_assert!(fresh.restore(Timestamp::ZERO, &framed).is_err());
        prop_assert!(fresh.restore(Timestamp::ZERO, &bytes).is_err());
    }
}

use iked_ike::Timestamp;
