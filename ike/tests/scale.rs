//! Responder scale: many IKE SAs (each with one CHILD_SA) against one responder engine.
//! `cargo test --release -p iked-ike --test scale -- --ignored --nocapture` runs 50,000.

mod common;

use std::time::Duration;

use common::*;
use iked_ike::Timestamp;
use iked_ike::config::Settings;
use iked_ike::engine::{Engine, Event};

/// Moves one endpoint's outputs: kernel requests to its kernel, datagrams to the other side.
fn pump(from: &mut Endpoint, to: &mut Endpoint, now: Timestamp) -> bool {
    let mut moved = false;
    while let Some(req) = from.engine.poll_kernel() {
        if let Some(ans) = from.kernel.apply(req) {
            from.engine.handle_kernel(now, ans);
        }
    }
    while let Some(t) = from.engine.poll_transmit() {
        moved = true;
        to.engine.handle_datagram(now, t.remote, t.local, &t.bytes);
    }
    while let Some(e) = from.engine.poll_event() {
        if !matches!(e, Event::Log { .. }) {
            from.events.push(e);
        }
    }
    moved
}

/// Establishes `n` IKE SAs in batches (so half-open SAs stay under the cookie threshold) and
/// returns the responder engine's view; deliveries are immediate, time advances 1 ms per batch.
fn establish(n: usize, batch: usize) -> (Endpoint, Endpoint, Timestamp) {
    let settings = Settings {
        cookie_threshold: batch + 1,
        // All load comes from one address: no per-address cookies or blocking (charon needs
        // the same, dos_protection = no, for such a load).
        cookie_threshold_ip: 0,
        block_threshold: 0,
        ..Settings::default()
    };
    let (l, ls) = seed_config(true);
    let (r, rs) = seed_config(false);
    let mut a = Endpoint {
        engine: Engine::new(settings.clone(), vec![l], ls, Box::new(TestRng(1))),
        kernel: FakeKernel::new(0x1000_0000),
        addr: BFL.parse().unwrap(),
        events: vec![],
        received: 0,
    };
    let mut b = Endpoint {
        engine: Engine::new(settings, vec![r], rs, Box::new(TestRng(2))),
        kernel: FakeKernel::new(0x2000_0000),
        addr: BFR.parse().unwrap(),
        events: vec![],
        received: 0,
    };
    let mut now = Timestamp::from_nanos(1);
    let mut started = 0;
    while started < n {
        // The first SA alone: it carries INITIAL_CONTACT, which would replace concurrent ones.
        let this_batch = if started == 0 { 1 } else { batch };
        for _ in 0..this_batch.min(n - started) {
            a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
            started += 1;
        }
        // Ping-pong until both sides are quiet.
        loop {
            let mut moved = false;
            moved |= pump(&mut a, &mut b, now);
            moved |= pump(&mut b, &mut a, now);
            if !moved {
                break;
            }
        }
        now += Duration::from_millis(1);
    }
    (a, b, now)
}

#[test]
fn two_thousand_ike_sas_on_one_responder() {
    let (a, b, _) = establish(2000, 100);
    assert_eq!(b.engine.ike_sa_count(), 2000);
    assert_eq!(b.engine.half_open_count(), 0);
    let ups = b
        .events
        .iter()
        .filter(|e| matches!(e, Event::ChildUp { .. }))
        .count();
    assert_eq!(ups, 2000);
    assert_eq!(assert_kernels_match(&a.kernel, &b.kernel), 4000);
    // The one-SA snapshot (the daemon's per-event lookup) agrees with the full listing.
    let all = b.engine.ike_sas();
    assert_eq!(all.len(), 2000);
    for info in &all {
        assert_eq!(b.engine.ike_sa(info.id).as_ref(), Some(info));
    }
    let unknown = iked_ike::engine::IkeSaId(u32::MAX);
    assert!(all.iter().all(|i| i.id != unknown));
    assert_eq!(b.engine.ike_sa(unknown), None);
}

#[test]
#[ignore = "benchmark: run in release with --nocapture"]
#[allow(clippy::disallowed_methods)] // wall-clock measurement of the benchmark itself
fn fifty_thousand_ike_sas_on_one_responder() {
    let start = std::time::Instant::now();
    let (_a, mut b, now) = establish(50_000, 500);
    let elapsed = start.elapsed();
    assert_eq!(b.engine.ike_sa_count(), 50_000);
    println!("50000 IKE SAs + CHILD_SAs established (both ends simulated) in {elapsed:?}");
    // Timer handling with 50k SAs armed (IKE rekey timers): the next deadline is O(log n).
    let t = std::time::Instant::now();
    for _ in 0..100_000 {
        std::hint::black_box(b.engine.poll_timeout());
    }
    println!(
        "poll_timeout with 50000 SAs: {:?} per call",
        t.elapsed() / 100_000
    );
    let t = std::time::Instant::now();
    b.engine.handle_timeout(now);
    println!("handle_timeout with nothing due: {:?}", t.elapsed());
}
