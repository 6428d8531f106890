//! The responder fed hostile input: random datagrams and single/multi-byte corruptions of
//! strongSwan's captured messages (tests/captures) and of our own exchange. Nothing may panic,
//! no state may be created for garbage, and an established SA must survive.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use iked_ike::Timestamp;
use iked_ike::config::Settings;

fn captures() -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/captures", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for scenario in fs::read_dir(&dir).unwrap().flatten() {
        if !scenario.path().is_dir() {
            continue;
        }
        for f in fs::read_dir(scenario.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.ends_with(".bin") && !name.ends_with(".inner.bin") {
                out.push(fs::read(f.path()).unwrap());
            }
        }
    }
    assert!(out.len() > 30, "captures present");
    out
}

#[test]
fn random_and_corrupted_datagrams_never_panic_or_allocate_state() {
    let (r, rs) = seed_config(false);
    let mut b =
        iked_ike::engine::Engine::new(Settings::default(), vec![r], rs, Box::new(TestRng(5)));
    let mut rng = TestRng(99);
    let (local, remote) = (BFR.parse().unwrap(), BFL.parse().unwrap());
    let msgs = captures();
    let mut n = 0;
    for round in 0..20_000u64 {
        let mut d = msgs[(rng.next_u64() % msgs.len() as u64) as usize].clone();
        match round % 4 {
            0 => {
                let len = (rng.next_u64() % 600) as usize;
                d = (0..len).map(|_| rng.next_u64() as u8).collect();
            }
            1 => {
                let i = (rng.next_u64() % d.len() as u64) as usize;
                d[i] ^= 1 << (rng.next_u64() % 8);
            }
            2 => {
                for _ in 0..8 {
                    let i = (rng.next_u64() % d.len() as u64) as usize;
                    d[i] = rng.next_u64() as u8;
                }
            }
            _ => {
                let cut = (rng.next_u64() % d.len() as u64) as usize;
                d.truncate(cut);
            }
        }
        b.handle_datagram(Timestamp::from_nanos(round), local, remote, &d);
        while b.poll_transmit().is_some() {}
        while b.poll_kernel().is_some() {}
        while b.poll_event().is_some() {}
        n += 1;
    }
    assert_eq!(n, 20_000);
    // Some corrupted IKE_SA_INIT requests are still valid requests (a flipped nonce bit), so a
    // few half-open SAs may exist; they all expire.
    b.handle_timeout(Timestamp::from_nanos(20_000) + Duration::from_secs(60));
    assert_eq!(b.ike_sa_count(), 0);
}

#[test]
fn corrupted_copies_of_live_messages_leave_the_sa_working() {
    let mut p = established_seed_pair(&["bf-in"]);
    let sent = p.sent.clone();
    let mut rng = TestRng(7);
    let now = p.now;
    for _ in 0..2000 {
        let mut d = sent[(rng.next_u64() % sent.len() as u64) as usize].clone();
        let i = (rng.next_u64() % d.len() as u64) as usize;
        d[i] ^= 1 << (rng.next_u64() % 8);
        p.b.engine
            .handle_datagram(now, BFR.parse().unwrap(), BFL.parse().unwrap(), &d);
        p.a.engine
            .handle_datagram(now, BFL.parse().unwrap(), BFR.parse().unwrap(), &d);
    }
    p.drain();
    p.run();
    // Still established on both ends, and still able to negotiate.
    assert!(p.a.engine.ike_sas().iter().any(|s| s.established));
    let ike =
        p.a.engine
            .ike_sas()
            .iter()
            .find(|s| s.established)
            .unwrap()
            .id;
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
}
