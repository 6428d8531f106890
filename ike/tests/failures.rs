//! Child and IKE failure paths against our own responder (the `Pair` harness): what the
//! initiator proposes in transport mode, what it tells the peer when it rejects a child or the
//! peer's AUTH, and that no failure leaves kernel state behind (in particular the larval SA
//! that ALLOCSPI created for the inbound SPI).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use iked_ike::config::{IkeSecret, Mode, Settings};
use iked_ike::engine::{DownReason, Engine, Event};
use iked_ike::proposal::Proposal;
use iked_ike::wire::ProtocolId;

fn child_up_ts(ep: &Endpoint) -> Vec<(String, String)> {
    ep.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildUp {
                local_ts,
                remote_ts,
                ..
            } => Some((local_ts[0].to_string(), remote_ts[0].to_string())),
            _ => None,
        })
        .collect()
}

fn assert_no_leftovers(p: &Pair) {
    assert_eq!(p.a.kernel.leftovers(), Vec::<String>::new(), "initiator");
    assert_eq!(p.b.kernel.leftovers(), Vec::<String>::new(), "responder");
}

/// BFL's IKE_AUTH proposes the seed's bf-in selectors narrowed to the hosts
/// (`192.168.50.1/24 [udp/4789]` -> `192.168.50.1/32[udp/4789]`), as strongSwan 5.9 does
/// (the seed's log: `TS 192.168.50.1/32 === 192.168.50.2/32`). A tunnel-mode responder does not
/// narrow to hosts, so what it installs is exactly what we proposed. It also ignores
/// USE_TRANSPORT_MODE, so our initiator rejects the child: it must send a DELETE for it and
/// keep the IKE SA.
#[test]
fn transport_initiator_proposes_host_selectors_and_deletes_a_rejected_child() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if !left {
            for ch in &mut c.children {
                Arc::make_mut(ch).mode = Mode::Tunnel;
            }
        }
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();

    // What the responder received as TSi/TSr (its remote/local selectors).
    let seen = child_up_ts(&p.b);
    assert_eq!(
        seen,
        [(
            "192.168.50.2/32[udp]".to_string(),
            "192.168.50.1/32[udp/4789]".to_string()
        )]
    );
    // The initiator refuses the tunnel-mode answer with a clear reason...
    let reasons = p.a.child_failures();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("transport"), "{reasons:?}");
    // ...and asks the responder to delete its half.
    assert!(p.a.has_log("[ENC] generating INFORMATIONAL request 2 [ D ]"));
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::ChildDown {
            reason: DownReason::Peer,
            ..
        }
    )));
    assert!(p.a.engine.ike_sas()[0].established && p.b.engine.ike_sas()[0].established);
    assert_no_leftovers(&p);
}

/// The same narrowing applies to CREATE_CHILD_SA requests.
#[test]
fn create_child_sa_proposes_host_selectors_too() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if !left {
            for ch in &mut c.children {
                Arc::make_mut(ch).mode = Mode::Tunnel;
            }
        }
    });
    let now = p.now;
    let ike = p.a.engine.initiate(now, "BFL-BFR", &[]).unwrap();
    p.run();
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run();
    assert_eq!(
        child_up_ts(&p.b),
        [(
            "192.168.50.2/32[udp/4789]".to_string(),
            "192.168.50.1/32[udp]".to_string()
        )]
    );
    assert!(p.a.has_log("[ENC] generating INFORMATIONAL request 3 [ D ]"));
    assert_no_leftovers(&p);
}

/// With matching transport-mode configs both ends install the /32 selectors (the seed's
/// expected result).
#[test]
fn seed_children_are_host_to_host_on_both_ends() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    assert_eq!(
        child_up_ts(&p.a),
        [
            (
                "192.168.50.1/32[udp/4789]".to_string(),
                "192.168.50.2/32[udp]".to_string()
            ),
            (
                "192.168.50.1/32[udp]".to_string(),
                "192.168.50.2/32[udp/4789]".to_string()
            )
        ]
    );
    for sa in p.a.kernel.sas.values() {
        assert_eq!(sa.mode, Mode::Transport);
    }
}

#[test]
fn no_proposal_chosen_leaves_no_kernel_state() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if !left {
            for ch in &mut c.children {
                Arc::make_mut(ch).esp_proposals =
                    vec![Proposal::parse(ProtocolId::ESP, "aes256-sha256").unwrap()];
            }
        }
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    let reasons = p.a.child_failures();
    assert!(reasons.iter().any(|r| r.contains("NO_PROP")), "{reasons:?}");
    assert!(p.a.engine.ike_sas()[0].established);
    assert_no_leftovers(&p);
}

#[test]
fn ts_unacceptable_leaves_no_kernel_state() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if !left {
            for ch in &mut c.children {
                Arc::make_mut(ch).local_ts = vec![ts("10.9.9.0/24").into()];
            }
        }
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert!(
        p.a.child_failures()
            .iter()
            .any(|r| r.contains("TS_UNACCEPT"))
    );
    assert_no_leftovers(&p);
}

#[test]
fn wrong_psk_leaves_no_kernel_state() {
    let (l, ls) = seed_config(true);
    let (r, _) = seed_config(false);
    let wrong = vec![IkeSecret::new(vec![], b"not the secret".to_vec())];
    let a = Engine::new(Settings::default(), vec![l], ls, Box::new(TestRng(1)));
    let b = Engine::new(Settings::default(), vec![r], wrong, Box::new(TestRng(2)));
    let mut p = Pair::new(a, BFL.parse().unwrap(), b, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    // The peer refused us: nothing to tell it.
    assert!(!p.a.has_log("generating INFORMATIONAL"));
    assert_no_leftovers(&p);
}

/// The responder accepts our AUTH but its own does not verify (it authenticates as `host3`,
/// for which we hold a different key): we send INFORMATIONAL N(AUTH_FAILED) and drop the SA;
/// the responder drops its SA (and its installed child) on that notify.
#[test]
fn invalid_responder_auth_is_reported_with_authentication_failed() {
    let (mut l, _) = seed_config(true);
    let (mut r, rs) = seed_config(false);
    let host = iked_ike::config::Identity::from_text;
    // We accept any responder identity and look its key up; the responder is host3.
    l.remote.id = None;
    r.local.id = Some(host("host3"));
    let good = rs[0].secret.to_vec();
    let ls = vec![
        IkeSecret::new(vec![host("host3")], b"a different key".to_vec()),
        IkeSecret::new(vec![host("host1"), host("host2")], good.clone()),
    ];
    let rs = vec![IkeSecret::new(vec![], good)];
    let a = Engine::new(Settings::default(), vec![l], ls, Box::new(TestRng(1)));
    let b = Engine::new(Settings::default(), vec![r], rs, Box::new(TestRng(2)));
    let mut p = Pair::new(a, BFL.parse().unwrap(), b, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert!(
        p.a.events.iter().any(
            |e| matches!(e, Event::IkeFailed { reason, .. } if reason.contains("AUTH payload"))
        ),
        "{:?}",
        p.a.non_log_events()
    );
    assert!(p.a.has_log("[ENC] generating INFORMATIONAL request 2 [ N(AUTH_FAILED) ]"));
    assert!(p.b.has_log("received AUTHENTICATION_FAILED notify error"));
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::IkeDown {
            reason: DownReason::Failed(r),
            ..
        } if r.contains("AUTHENTICATION_FAILED")
    )));
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert_no_leftovers(&p);
}

#[test]
fn install_failure_leaves_no_kernel_state_and_names_the_kernel_error() {
    let mut p = seed_pair(Settings::default());
    p.a.kernel.fail_add_sa.push((
        iked_ike::engine::Direction::Out,
        "Operation not supported (packet offload)".into(),
    ));
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert!(
        p.a.child_failures()
            .iter()
            .any(|r| r.contains("packet offload"))
    );
    assert_no_leftovers(&p);
}

/// The responder goes silent after IKE_SA_INIT: the IKE_AUTH request (with its reserved SPI)
/// is retransmitted until we give up, and the SPI is released.
#[test]
fn ike_auth_timeout_releases_the_reserved_spi() {
    let mut p = seed_pair(Settings::default());
    p.drop_next.insert("b", 0);
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    // Deliver IKE_SA_INIT both ways (10 ms latency each), then cut the responder off.
    p.run_for(Duration::from_millis(25));
    assert!(
        !p.a.kernel.larval.is_empty(),
        "IKE_AUTH SPI not reserved yet"
    );
    p.blackhole = Some(Side::B);
    p.run_for(Duration::from_secs(600));
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeFailed { .. }))
    );
    assert_eq!(p.a.engine.ike_sa_count(), 0);
    assert_eq!(p.a.kernel.leftovers(), Vec::<String>::new());
}

/// CREATE_CHILD_SA that is never answered: the IKE SA is declared dead and the SPI released.
#[test]
fn create_child_timeout_releases_the_reserved_spi() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    let ike = p.a.engine.initiate(now, "BFL-BFR", &[]).unwrap();
    p.run();
    p.blackhole = Some(Side::B);
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run_for(Duration::from_millis(1));
    assert_eq!(p.a.kernel.larval.len(), 1);
    p.run_for(Duration::from_secs(600));
    assert_eq!(p.a.engine.ike_sa_count(), 0);
    assert_eq!(p.a.kernel.leftovers(), Vec::<String>::new());
}

/// An SPI that the kernel hands out after its IKE SA is gone is released, not leaked.
#[test]
fn late_spi_for_a_vanished_sa_is_released() {
    let (l, ls) = seed_config(true);
    let mut a = Engine::new(Settings::default(), vec![l], ls, Box::new(TestRng(1)));
    let (r, rs) = seed_config(false);
    let mut b = Engine::new(Settings::default(), vec![r], rs, Box::new(TestRng(2)));
    let t = iked_ike::Timestamp::from_nanos(1_000_000_000);
    let (la, lb) = (BFL.parse().unwrap(), BFR.parse().unwrap());
    let ike = a.initiate(t, "BFL-BFR", &["bf-in"]).unwrap();
    let init = a.poll_transmit().unwrap();
    b.handle_datagram(t, lb, la, &init.bytes);
    let resp = b.poll_transmit().unwrap();
    a.handle_datagram(t, la, lb, &resp.bytes);
    // The engine asks for an SPI for the IKE_AUTH child; hold the answer back.
    let mut alloc = None;
    while let Some(req) = a.poll_kernel() {
        if let iked_ike::engine::KernelRequest::AllocateSpi { id, .. } = req {
            alloc = Some(id);
        }
    }
    let id = alloc.expect("no AllocateSpi request");
    a.terminate_ike(t, ike).unwrap();
    a.handle_kernel(
        t,
        iked_ike::engine::KernelEvent::SpiAllocated {
            id,
            spi: 0xc000_1234,
        },
    );
    let mut deleted = Vec::new();
    while let Some(req) = a.poll_kernel() {
        if let iked_ike::engine::KernelRequest::DeleteSa { dst, src, spi, .. } = req {
            deleted.push((src, dst, spi));
        }
    }
    assert_eq!(
        deleted,
        [(ip("192.168.50.2"), ip("192.168.50.1"), 0xc000_1234)]
    );
}

/// `initiate_with`: the daemon's remote port and, with `local_addrs = %any`, its source address
/// hint reach the IKE SA (and hence the datagrams, NAT hashes and kernel SAs).
#[test]
fn initiate_with_uses_the_remote_port_and_the_local_hint() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if left {
            c.local_addrs.clear();
        }
    });
    let now = p.now;
    let opts = iked_ike::engine::InitiateOptions {
        local_addr: Some(ip("192.168.50.1")),
        local_port: None,
        remote_port: Some(4501),
        ..Default::default()
    };
    p.a.engine
        .initiate_with(now, "BFL-BFR", &["bf-in"], opts)
        .unwrap();
    let t = p.a.engine.poll_transmit().unwrap();
    assert_eq!(t.local, "192.168.50.1:500".parse().unwrap());
    assert_eq!(t.remote, "192.168.50.2:4501".parse().unwrap());

    // A hint of the wrong family is ignored (the unspecified address is used instead).
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if left {
            c.local_addrs.clear();
        }
    });
    let now = p.now;
    let opts = iked_ike::engine::InitiateOptions {
        local_addr: Some(ip("2001:db8::1")),
        ..Default::default()
    };
    p.a.engine
        .initiate_with(now, "BFL-BFR", &["bf-in"], opts)
        .unwrap();
    let t = p.a.engine.poll_transmit().unwrap();
    assert_eq!(t.local, "0.0.0.0:500".parse().unwrap());
    assert_eq!(t.remote.port(), 500);
}

/// With the local hint the seed negotiation completes with host selectors and the hinted
/// address as the kernel SA source.
#[test]
fn local_hint_establishes_the_seed_children() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if left {
            c.local_addrs.clear();
        }
    });
    let now = p.now;
    let opts = iked_ike::engine::InitiateOptions {
        local_addr: Some(ip("192.168.50.1")),
        ..Default::default()
    };
    p.a.engine
        .initiate_with(now, "BFL-BFR", &["bf-in"], opts)
        .unwrap();
    p.run();
    assert_eq!(
        child_up_ts(&p.a),
        [(
            "192.168.50.1/32[udp/4789]".to_string(),
            "192.168.50.2/32[udp]".to_string()
        )]
    );
    assert!(
        p.a.kernel
            .sas
            .values()
            .any(|sa| sa.src == ip("192.168.50.1"))
    );
}
