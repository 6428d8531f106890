//! PFS on CREATE_CHILD_SA (issue 14 §2): a child whose `esp_proposals` name a key exchange
//! method is created and rekeyed only with that key exchange, in both roles, and duplicate or
//! colliding rekeys leave exactly one child. Our engines in virtual time (the `Pair` harness);
//! a "misbehaving" peer is one of ours configured without PFS or with another group first,
//! which puts on the wire exactly what a downgrading peer would send. Answers that drop the
//! key exchange, which no correctly configured engine of ours sends, are forged inside the
//! crate (`ike/src/engine/exchange/pfs_tests.rs`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use iked_ike::config::{IkeConfig, Settings};
use iked_ike::engine::{ChildSaId, Event, IkeSaId, KernelRequest};
use iked_ike::proposal::Proposal;
use iked_ike::wire::ProtocolId;

/// The seed's children with these ESP proposals.
fn with_esp(conn: &mut IkeConfig, proposals: &[&str]) {
    conn.children = conn
        .children
        .iter()
        .map(|c| {
            let mut c = (**c).clone();
            c.esp_proposals = proposals
                .iter()
                .map(|p| Proposal::parse(ProtocolId::ESP, p).unwrap())
                .collect();
            Arc::new(c)
        })
        .collect();
}

/// A seed pair where side `odd` uses `odd_esp` and the other the seed's
/// `aes128gcm128-x25519-esn`; BFL (A) has established the IKE SA with `bf-in` in IKE_AUTH.
fn pair_where(odd: Side, odd_esp: &'static [&'static str]) -> Pair {
    let mut p = seed_pair_with(Settings::default(), move |left, conn| {
        if left == (odd == Side::A) {
            with_esp(conn, odd_esp);
        }
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert_eq!(children_up(&p.a), 1, "bf-in must come up in IKE_AUTH");
    assert_eq!(children_up(&p.b), 1);
    p
}

fn other(s: Side) -> Side {
    if s == Side::A { Side::B } else { Side::A }
}

fn ike_and_child(ep: &Endpoint) -> (IkeSaId, ChildSaId) {
    let sas = ep.engine.ike_sas();
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].children.len(), 1, "{:?}", sas[0].children);
    (sas[0].id, sas[0].children[0].id)
}

/// (inbound, outbound) SPIs of every child the engine holds, sorted.
fn child_spis(ep: &Endpoint) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = ep
        .engine
        .ike_sas()
        .iter()
        .flat_map(|s| s.children.iter().map(|c| (c.spi_in, c.spi_out)))
        .collect();
    v.sort();
    v
}

/// Nothing new was installed at either end, the original child is still in force on both
/// and both kernels hold exactly its two SAs.
fn assert_only_original_child(p: &Pair, before: &[(u32, u32)]) {
    for ep in [&p.a, &p.b] {
        assert_eq!(
            ep.add_sa_count(),
            2,
            "an SA was installed: {:?}",
            ep.kernel.log
        );
        assert!(
            ep.kernel.larval.is_empty(),
            "SPI left: {:?}",
            ep.kernel.larval
        );
        let sas = ep.engine.ike_sas();
        assert_eq!(sas[0].children.len(), 1);
        assert!(sas[0].children[0].installed);
    }
    assert_eq!(child_spis(&p.a), before);
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
}

/// A peer without PFS rekeys the seed's child: its proposals have no key exchange method and
/// its request no KE payload. The PFS side answers NO_PROPOSAL_CHOSEN; nothing is installed.
#[test]
fn rekey_without_ke_is_refused_with_no_proposal_chosen_in_both_roles() {
    for downgrader in [Side::A, Side::B] {
        let mut p = pair_where(downgrader, &["aes128gcm128-esn"]);
        let before = child_spis(&p.a);
        let (_, child) = ike_and_child(p.side(downgrader));
        let now = p.now;
        p.side(downgrader).engine.rekey_child(now, child).unwrap();
        p.run();
        let guard = p.side(other(downgrader));
        assert!(
            guard.has_log("CREATE_CHILD_SA request rejected: no acceptable proposal"),
            "{downgrader:?}: {:#?}",
            guard.logs()
        );
        assert_eq!(
            p.side(downgrader).child_failures(),
            vec!["peer sent error notify NO_PROP".to_string()],
            "{downgrader:?}"
        );
        assert!(p.side(other(downgrader)).child_failures().is_empty());
        assert_only_original_child(&p, &before);
    }
}

/// The same for a new child created by CREATE_CHILD_SA.
#[test]
fn new_child_without_ke_is_refused_with_no_proposal_chosen_in_both_roles() {
    for downgrader in [Side::A, Side::B] {
        let mut p = pair_where(downgrader, &["aes128gcm128-esn"]);
        let before = child_spis(&p.a);
        let (ike, _) = ike_and_child(p.side(downgrader));
        let now = p.now;
        p.side(downgrader)
            .engine
            .create_child(now, ike, "bf-out")
            .unwrap();
        p.run();
        assert!(
            p.side(other(downgrader))
                .has_log("CREATE_CHILD_SA request rejected: no acceptable proposal"),
            "{downgrader:?}"
        );
        assert_eq!(
            p.side(downgrader).child_failures(),
            vec!["peer sent error notify NO_PROP".to_string()]
        );
        assert_only_original_child(&p, &before);
    }
}

/// A peer whose preferred group is ECP-256 (it also offers X25519) rekeys towards a side
/// configured with X25519 only: INVALID_KE_PAYLOAD names X25519, the peer retries with it, and
/// the rekeyed child uses it at both ends.
#[test]
fn rekey_with_another_group_gets_invalid_ke_then_succeeds_with_ours_in_both_roles() {
    for asker in [Side::A, Side::B] {
        let mut p = pair_where(
            asker,
            &["aes128gcm128-ecp256-esn", "aes128gcm128-x25519-esn"],
        );
        let old = child_spis(&p.a);
        let (_, child) = ike_and_child(p.side(asker));
        let now = p.now;
        p.side(asker).engine.rekey_child(now, child).unwrap();
        p.run();
        let strict = p.side(other(asker));
        assert!(
            strict.has_log("CREATE_CHILD_SA request rejected: key exchange method 19 not acceptable, requesting 31"),
            "{asker:?}: {:#?}",
            strict.logs()
        );
        assert!(
            p.side(asker)
                .has_log("peer requested key exchange method 31, retrying CREATE_CHILD_SA")
        );
        for ep in [&p.a, &p.b] {
            assert!(ep.child_failures().is_empty(), "{:?}", ep.child_failures());
            assert!(
                ep.has_log("selected proposal: ESP:AES_GCM_16_128/CURVE_25519/EXT_SEQ"),
                "{asker:?}: {:#?}",
                ep.logs()
            );
            assert!(
                ep.events
                    .iter()
                    .any(|e| matches!(e, Event::ChildRekeyed { .. }))
            );
        }
        let new = child_spis(&p.a);
        assert_eq!(new.len(), 1);
        assert_ne!(new, old);
        assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    }
}

/// A peer that asks, with INVALID_KE_PAYLOAD, for a group we did not propose gets no retry:
/// here the strict side is X25519-only and the asker offers ECP-256 only, so after the refusal
/// nothing changes (a single exchange, no loop).
#[test]
fn invalid_ke_naming_a_group_we_did_not_propose_is_not_retried() {
    let mut p = pair_where(Side::B, &["aes128gcm128-ecp256-esn"]);
    let before = child_spis(&p.a);
    let (_, child) = ike_and_child(&p.b);
    let now = p.now;
    p.b.engine.rekey_child(now, child).unwrap();
    p.run();
    // A has no proposal with ECP-256: nothing to select (not INVALID_KE).
    assert!(
        p.a.has_log("CREATE_CHILD_SA request rejected: no acceptable proposal"),
        "{:#?}",
        p.a.logs()
    );
    assert!(!p.b.has_log("retrying CREATE_CHILD_SA"));
    assert_only_original_child(&p, &before);
}

/// The seed itself: the first child rides in IKE_AUTH without a key exchange, a rekey of it
/// then performs X25519 on both ends.
#[test]
fn seed_child_has_no_ke_in_ike_auth_and_x25519_on_rekey() {
    let mut p = established_seed_pair(&["bf-in"]);
    for ep in [&p.a, &p.b] {
        assert!(ep.has_log("selected proposal: ESP:AES_GCM_16_128/EXT_SEQ"));
        assert!(!ep.has_log("CURVE_25519/EXT_SEQ"));
    }
    let (_, child) = ike_and_child(&p.a);
    let now = p.now;
    p.a.engine.rekey_child(now, child).unwrap();
    p.run();
    for ep in [&p.a, &p.b] {
        assert!(ep.has_log("selected proposal: ESP:AES_GCM_16_128/CURVE_25519/EXT_SEQ"));
    }
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
}

/// Both ends without PFS: rekeys keep working without a key exchange.
#[test]
fn without_pfs_on_both_ends_rekey_needs_no_ke() {
    let mut p = seed_pair_with(Settings::default(), |_, conn| {
        with_esp(conn, &["aes128gcm128-esn"])
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    let (_, child) = ike_and_child(&p.b);
    let now = p.now;
    p.b.engine.rekey_child(now, child).unwrap();
    p.run();
    assert!(p.a.child_failures().is_empty() && p.b.child_failures().is_empty());
    assert_eq!(children_up(&p.a), 2);
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
}

/// Every SA a side installed is either still in its kernel or was deleted exactly once, and
/// no SPI was installed twice: the kernel request trail of a clean rekey history.
fn assert_consistent_trail(ep: &Endpoint) {
    let mut added: Vec<(std::net::IpAddr, u32)> = Vec::new();
    let mut deleted: Vec<(std::net::IpAddr, u32)> = Vec::new();
    for r in &ep.kernel.log {
        match r {
            KernelRequest::AddSa { sa, .. } => {
                assert!(
                    !added.contains(&(sa.dst, sa.spi)),
                    "SPI {:08x} installed twice",
                    sa.spi
                );
                added.push((sa.dst, sa.spi));
            }
            KernelRequest::DeleteSa { dst, spi, .. } if added.contains(&(*dst, *spi)) => {
                assert!(
                    !deleted.contains(&(*dst, *spi)),
                    "SA {spi:08x} deleted twice"
                );
                deleted.push((*dst, *spi));
            }
            _ => {}
        }
    }
    for key in &added {
        assert!(
            ep.kernel.sas.contains_key(key) != deleted.contains(key),
            "SA {:08x}: installed, but neither in the kernel nor deleted once",
            key.1
        );
    }
}

/// Both ends rekey the same child at once ("while it is being rekeyed"), with one end's
/// request lost so that it reaches the other only after the other's own rekey completed and
/// replaced the child ("after it was replaced"). Whatever the order, exactly one child is
/// left, the same at both ends, and each kernel's request trail is consistent.
#[test]
fn duplicate_rekeys_of_one_child_leave_exactly_one_child() {
    for lost in [None, Some("a"), Some("b")] {
        let mut p = established_seed_pair(&["bf-in"]);
        let (_, a_child) = ike_and_child(&p.a);
        let (_, b_child) = ike_and_child(&p.b);
        let before = child_spis(&p.a);
        if let Some(side) = lost {
            p.drop_next.insert(side, 1);
        }
        let now = p.now;
        p.a.engine.rekey_child(now, a_child).unwrap();
        p.b.engine.rekey_child(now, b_child).unwrap();
        // Long enough for retransmissions and TEMPORARY_FAILURE retries.
        p.run_for(Duration::from_secs(60));
        let (a, b) = (child_spis(&p.a), child_spis(&p.b));
        assert_eq!(a.len(), 1, "{lost:?}: A holds {a:x?}");
        assert_eq!(b.len(), 1, "{lost:?}: B holds {b:x?}");
        assert_eq!((a[0].0, a[0].1), (b[0].1, b[0].0), "{lost:?}");
        assert_ne!(a[0].0, 0);
        assert_eq!(
            assert_kernels_match(&p.a.kernel, &p.b.kernel),
            2,
            "{lost:?}"
        );
        for ep in [&p.a, &p.b] {
            assert_consistent_trail(ep);
            assert!(
                ep.kernel.larval.is_empty(),
                "{lost:?}: {:?}",
                ep.kernel.larval
            );
            let sas = ep.engine.ike_sas();
            assert!(sas[0].children[0].installed, "{lost:?}");
        }
        // The rekey did happen: the child in force is not the original one.
        assert_ne!(a, before, "{lost:?}");
    }
}

/// The same race under random loss, duplication and reordering, over many seeds.
#[test]
fn simultaneous_rekeys_under_impairments_leave_one_child() {
    for seed in 0..40u64 {
        let mut p = established_seed_pair(&["bf-in"]);
        p.set_net_seed(seed);
        p.impair = Impairments {
            loss: 0.15,
            duplicate: 0.15,
            reorder: 0.3,
            reorder_window: Duration::from_millis(200),
        };
        let (_, a_child) = ike_and_child(&p.a);
        let (_, b_child) = ike_and_child(&p.b);
        let now = p.now;
        p.a.engine.rekey_child(now, a_child).unwrap();
        p.b.engine.rekey_child(now, b_child).unwrap();
        p.run_for(Duration::from_secs(120));
        let (a, b) = (child_spis(&p.a), child_spis(&p.b));
        assert_eq!(a.len(), 1, "seed {seed}: A holds {a:x?}");
        assert_eq!(b.len(), 1, "seed {seed}: B holds {b:x?}");
        assert_eq!((a[0].0, a[0].1), (b[0].1, b[0].0), "seed {seed}");
        assert_eq!(
            assert_kernels_match(&p.a.kernel, &p.b.kernel),
            2,
            "seed {seed}"
        );
        for ep in [&p.a, &p.b] {
            assert_consistent_trail(ep);
        }
    }
}

/// The same for a new child created by CREATE_CHILD_SA: INVALID_KE_PAYLOAD naming X25519,
/// then the child comes up with it at both ends.
#[test]
fn new_child_with_another_group_gets_invalid_ke_then_succeeds_with_ours_in_both_roles() {
    for asker in [Side::A, Side::B] {
        let mut p = pair_where(
            asker,
            &["aes128gcm128-ecp256-esn", "aes128gcm128-x25519-esn"],
        );
        let (ike, _) = ike_and_child(p.side(asker));
        let now = p.now;
        p.side(asker)
            .engine
            .create_child(now, ike, "bf-out")
            .unwrap();
        p.run();
        assert!(
            p.side(other(asker)).has_log(
                "CREATE_CHILD_SA request rejected: key exchange method 19 not acceptable, requesting 31"
            ),
            "{asker:?}"
        );
        for ep in [&p.a, &p.b] {
            assert!(ep.child_failures().is_empty(), "{:?}", ep.child_failures());
            assert!(ep.has_log("selected proposal: ESP:AES_GCM_16_128/CURVE_25519/EXT_SEQ"));
            assert_eq!(children_up(ep), 2, "{asker:?}");
        }
        assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    }
}
