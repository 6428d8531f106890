//! Both ends start the same two-child connection at (nearly) the same moment, as NVIDIA's
//! ovs-monitor-ipsec makes them (`start_action = start` on both children, `unique = replace`):
//! whatever the timing, the ends settle on one IKE SA carrying both children, installed on
//! both ends with matching SPIs, and nothing else (see `engine/crossing.rs`).

mod common;

use std::time::Duration;

use common::*;
use iked_ike::config::{Settings, UniquePolicy};
use iked_ike::engine::{Engine, IkeInfo, InitiateOptions, Started};

const CHILDREN: [&str; 2] = ["bf-in", "bf-out"];

fn monitor_pair(unique: UniquePolicy) -> Pair {
    seed_pair_with(Settings::default(), |_, c| c.unique = unique)
}

fn start(e: &mut Engine, now: iked_ike::Timestamp) -> Started {
    e.start_children(now, "BFL-BFR", &CHILDREN, InitiateOptions::default())
        .unwrap()
}

/// The one IKE SA of an end, established, with both children installed once each.
fn converged(ep: &Endpoint, what: &str) -> IkeInfo {
    let sas = ep.engine.ike_sas();
    assert_eq!(sas.len(), 1, "{what}: IKE SAs {sas:#?}");
    let sa = sas.into_iter().next().unwrap();
    assert!(sa.established, "{what}: not established");
    let mut names: Vec<&str> = sa.children.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, CHILDREN, "{what}: children {:#?}", sa.children);
    assert!(
        sa.children.iter().all(|c| c.installed),
        "{what}: not installed"
    );
    sa
}

fn assert_converged(p: &Pair, what: &str) {
    let a = converged(&p.a, &format!("{what} A"));
    let b = converged(&p.b, &format!("{what} B"));
    assert_eq!(
        (a.spi_i, a.spi_r),
        (b.spi_i, b.spi_r),
        "{what}: not the same IKE SA"
    );
    assert_ne!(a.initiator, b.initiator, "{what}");
    // Both children on both ends with each other's SPIs, and nothing else in either kernel.
    for ca in &a.children {
        assert!(
            b.children
                .iter()
                .any(|cb| cb.spi_in == ca.spi_out && cb.spi_out == ca.spi_in),
            "{what}: child {} has no twin",
            ca.name
        );
    }
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4, "{what}");
    assert!(
        p.a.kernel.larval.is_empty() && p.b.kernel.larval.is_empty(),
        "{what}"
    );
    assert_eq!(
        p.a.kernel.policies.len(),
        p.b.kernel.policies.len(),
        "{what}"
    );
    assert_eq!(
        p.a.kernel.policies.len(),
        4,
        "{what}: {:?}",
        p.a.kernel.policies
    );
}

#[test]
fn one_end_starting_both_children_uses_one_ike_sa() {
    let mut p = monitor_pair(UniquePolicy::Replace);
    let now = p.now;
    assert!(matches!(start(&mut p.a.engine, now), Started::New(_)));
    // A second start while the first is being set up queues nothing new and opens no SA.
    assert!(matches!(start(&mut p.a.engine, now), Started::Reused(_)));
    p.run_for(Duration::from_secs(30));
    assert_converged(&p, "single start");
    // The peer starting later finds the IKE SA it answered: nothing new either.
    let now = p.now;
    assert!(matches!(start(&mut p.b.engine, now), Started::Reused(_)));
    p.run_for(Duration::from_secs(30));
    assert_converged(&p, "late start by the peer");
}

/// Runs one simultaneous start with timing drawn from `seed`; returns whether the two IKE SAs
/// actually crossed (both ends initiated before either heard of the other).
fn simultaneous(seed: u64, unique: UniquePolicy, impair: Impairments) -> bool {
    let mut rng = TestRng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut p = monitor_pair(unique);
    p.set_net_seed(seed);
    p.latency = Duration::from_millis(1 + rng.next_u64() % 30);
    p.impair = impair;
    let offset = Duration::from_micros(rng.next_u64() % (3 * p.latency.as_micros() as u64 + 1));
    let (first, second) = if rng.next_u64().is_multiple_of(2) {
        (Side::A, Side::B)
    } else {
        (Side::B, Side::A)
    };
    let now = p.now;
    start(&mut p.side(first).engine, now);
    p.run_for(offset);
    p.now = now + offset;
    let later = p.now;
    let crossed = matches!(start(&mut p.side(second).engine, later), Started::New(_));
    p.run_for(Duration::from_secs(120));
    assert_converged(&p, &format!("seed {seed} ({unique:?}, offset {offset:?})"));
    crossed
}

#[test]
fn simultaneous_starts_converge_to_one_ike_sa_with_both_children() {
    let mut crossed = 0;
    for seed in 0..200 {
        crossed += usize::from(simultaneous(
            seed,
            UniquePolicy::Replace,
            Impairments::default(),
        ));
    }
    // The loop must actually exercise the crossing, not only late starts.
    assert!(crossed > 100, "only {crossed} of 200 runs crossed");
}

#[test]
fn simultaneous_starts_converge_under_reordering_and_duplication() {
    let impair = Impairments {
        loss: 0.0,
        duplicate: 0.1,
        reorder: 0.3,
        reorder_window: Duration::from_millis(40),
    };
    for seed in 0..100 {
        simultaneous(seed, UniquePolicy::Replace, impair);
    }
}

#[test]
fn simultaneous_starts_converge_with_the_default_uniqueness_too() {
    for seed in 0..100 {
        simultaneous(seed, UniquePolicy::No, Impairments::default());
    }
}
