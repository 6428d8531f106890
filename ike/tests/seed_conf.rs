//! The seed's own swanctl.conf files (examples/BFL.swanctl.conf, examples/BFR.swanctl.conf),
//! parsed by `iked_conf` and converted by `iked_ike::from_conf`, negotiated by the Pair harness.
//! Always built: the dev-dependency on ourselves enables `conf` for tests.

mod common;

use common::*;
use iked_ike::config::Settings;
use iked_ike::engine::{Engine, Event};
use std::sync::Arc;

fn load(
    name: &str,
) -> (
    Vec<iked_ike::config::IkeConfig>,
    Vec<iked_ike::config::IkeSecret>,
) {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let loaded = iked_conf::load_file(&path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    iked_ike::from_conf::convert(&loaded.config).unwrap()
}

#[test]
fn seed_files_establish_both_children() {
    let (l, ls) = load("BFL.swanctl.conf");
    let (r, rs) = load("BFR.swanctl.conf");
    assert_eq!(l[0].children.len(), 2);
    assert_eq!(
        l[0].proposals[0].describe(),
        "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    let a = Engine::new(Settings::default(), l, ls, Box::new(TestRng(7)));
    let b = Engine::new(Settings::default(), r, rs, Box::new(TestRng(8)));
    let mut p = Pair::new(a, BFL.parse().unwrap(), b, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    let ups = |ep: &Endpoint| {
        ep.events
            .iter()
            .filter(|e| matches!(e, Event::ChildUp { .. }))
            .count()
    };
    assert_eq!((ups(&p.a), ups(&p.b)), (2, 2));
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    assert!(
        p.a.kernel
            .sas
            .values()
            .all(|sa| sa.hw_offload == iked_ike::config::HwOffload::Packet)
    );
}

/// What BFL (loaded from the seed file) proposes as TSi/TSr: the seed's `192.168.50.1/24 [udp]`
/// style selectors narrowed to the hosts with their protocol and port, as strongSwan's seed log
/// shows (`TS 192.168.50.1/32 === 192.168.50.2/32`). BFR is switched to tunnel mode so it does
/// not narrow to hosts itself: what it installs is exactly what BFL proposed.
#[test]
fn seed_initiator_proposes_host_selectors() {
    let (l, ls) = load("BFL.swanctl.conf");
    let (mut r, rs) = load("BFR.swanctl.conf");
    for ch in &mut r[0].children {
        Arc::make_mut(ch).mode = iked_ike::config::Mode::Tunnel;
    }
    let a = Engine::new(Settings::default(), l, ls, Box::new(TestRng(7)));
    let b = Engine::new(Settings::default(), r, rs, Box::new(TestRng(8)));
    let mut p = Pair::new(a, BFL.parse().unwrap(), b, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    // BFR's view: (local = our TSr, remote = our TSi).
    let seen: Vec<(String, String)> =
        p.b.events
            .iter()
            .filter_map(|e| match e {
                Event::ChildUp {
                    local_ts,
                    remote_ts,
                    ..
                } => Some((local_ts[0].to_string(), remote_ts[0].to_string())),
                _ => None,
            })
            .collect();
    assert_eq!(
        seen,
        [
            // bf-in (IKE_AUTH): TSi 192.168.50.1/32[udp/4789], TSr 192.168.50.2/32[udp].
            (
                "192.168.50.2/32[udp]".to_string(),
                "192.168.50.1/32[udp/4789]".to_string()
            ),
            // bf-out (CREATE_CHILD_SA): TSi 192.168.50.1/32[udp], TSr 192.168.50.2/32[udp/4789].
            (
                "192.168.50.2/32[udp/4789]".to_string(),
                "192.168.50.1/32[udp]".to_string()
            ),
        ]
    );
}
