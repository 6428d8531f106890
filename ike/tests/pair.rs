//! Our initiator against our responder in virtual time (the `Pair` harness in `common`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use iked_ike::config::Settings;
use iked_ike::engine::{DownReason, Event, KernelRequest};

fn established_children(ep: &Endpoint) -> Vec<(String, u32, u32)> {
    ep.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildUp {
                name,
                spi_in,
                spi_out,
                ..
            } => Some((name.clone(), *spi_in, *spi_out)),
            _ => None,
        })
        .collect()
}

/// The seed's `swanctl -i --child bf-in bf-out`: bf-in in IKE_AUTH, bf-out by CREATE_CHILD_SA.
#[test]
fn seed_config_establishes_both_children_with_matching_keys() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();

    for ep in [&p.a, &p.b] {
        assert!(
            ep.events.iter().any(|e| matches!(e, Event::IkeUp { .. })),
            "IKE SA not up"
        );
    }
    let a_children = established_children(&p.a);
    let b_children = established_children(&p.b);
    assert_eq!(
        a_children.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["bf-in", "bf-out"]
    );
    // BFR's mirrored children: BFL's bf-in pairs with BFR's bf-out and vice versa.
    assert_eq!(
        b_children.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["bf-out", "bf-in"]
    );
    for (i, (_, spi_in, spi_out)) in a_children.iter().enumerate() {
        assert_eq!((b_children[i].1, b_children[i].2), (*spi_out, *spi_in));
    }
    // Two children x two directions, with identical keys on both ends.
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    // Transport mode: TS narrowed to the hosts; in + out per child (charon installs no FWD
    // policies in transport mode, whatever policies_fwd_out says).
    let sa = p.a.kernel.sas.values().next().unwrap();
    assert_eq!(
        sa.local_ts[0].to_string().split('[').next().unwrap(),
        "192.168.50.1/32"
    );
    assert_eq!(p.a.kernel.policies.len(), 4);
    assert_eq!(sa.hw_offload, iked_ike::config::HwOffload::Packet);
    assert!(sa.esn);

    // charon-style logs, as in the seed's example output.
    assert!(p.a.has_log("[IKE] initiating IKE_SA BFL-BFR[1] to 192.168.50.2"));
    assert!(p.a.has_log("[ENC] generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP) ]"));
    assert!(p.a.has_log(
        "[CFG] selected proposal: IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"
    ));
    assert!(p.a.has_log("[ENC] generating IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH N(USE_TRANSP) SA TSi TSr N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]"));
    assert!(p.a.has_log("[IKE] authentication of 'host2' with pre-shared key successful"));
    assert!(p.a.has_log(
        "[IKE] IKE_SA BFL-BFR[1] established between 192.168.50.1[host1]...192.168.50.2[host2]"
    ));
    assert!(p.a.has_log("[CFG] selected proposal: ESP:AES_GCM_16_128/EXT_SEQ"));
    assert!(p.a.has_log("[IKE] CHILD_SA bf-in{1} established with SPIs"));
    assert!(p.a.has_log("and TS 192.168.50.1/32[udp/4789] === 192.168.50.2/32[udp]"));
    // The second child used PFS with the group of its esp_proposals.
    assert!(
        p.a.has_log(
            "[ENC] generating CREATE_CHILD_SA request 2 [ N(USE_TRANSP) SA No KE TSi TSr ]"
        )
    );
}

#[test]
fn wrong_psk_fails_with_authentication_failed_and_nothing_installed() {
    let (l, ls) = seed_config(true);
    let (r, _) = seed_config(false);
    let wrong = vec![iked_ike::config::IkeSecret::new(
        vec![],
        b"not the secret".to_vec(),
    )];
    let a = iked_ike::engine::Engine::new(Settings::default(), vec![l], ls, Box::new(TestRng(1)));
    let b =
        iked_ike::engine::Engine::new(Settings::default(), vec![r], wrong, Box::new(TestRng(2)));
    let mut p = Pair::new(a, BFL.parse().unwrap(), b, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert!(
        p.a.events.iter().any(
            |e| matches!(e, Event::IkeFailed { reason, .. } if reason.contains("AUTH_FAILED"))
        )
    );
    assert!(
        p.b.events
            .iter()
            .any(|e| matches!(e, Event::IkeFailed { .. }))
    );
    assert!(p.a.has_log("[ENC] parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]"));
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    assert!(p.a.kernel.larval.is_empty(), "allocated SPI not released");
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
}

#[test]
fn lost_response_is_retransmitted_and_the_cached_response_replayed() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    // Lose the responder's first two datagrams (IKE_SA_INIT response, then IKE_AUTH response).
    p.drop_next.insert("b", 1);
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.a.engine.stats().retransmits, 0);
    p.run();
    assert_eq!(p.a.engine.stats().retransmits, 1);
    assert_eq!(p.b.engine.stats().replayed_responses, 1);
    assert!(p.a.events.iter().any(|e| matches!(e, Event::IkeUp { .. })));
    // Now lose the IKE_AUTH-level exchange response of a CREATE_CHILD_SA.
    p.drop_next.insert("b", 1);
    let ike = p.a.engine.ike_sas()[0].id;
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run();
    assert_eq!(
        p.b.engine.stats().replayed_responses,
        2,
        "retransmitted CREATE_CHILD_SA answered from cache"
    );
    // The responder processed the request once: exactly one bf-in child on B (mirror of bf-out).
    assert_eq!(established_children(&p.b).len(), 2);
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    assert!(p.a.has_log("retransmit 1 of request with message ID 0"));
}

#[test]
fn retransmission_schedule_follows_strongswan_defaults() {
    let mut p = seed_pair(Settings::default());
    p.blackhole = Some(Side::B);
    let start = p.now;
    p.a.engine.initiate(start, "BFL-BFR", &["bf-in"]).unwrap();
    let mut sends = vec![];
    p.drain();
    while let Some(t) = p.a.engine.poll_timeout() {
        p.now = t;
        p.a.engine.handle_timeout(t);
        while p.a.engine.poll_transmit().is_some() {
            sends.push(t.saturating_since(start).as_secs_f64());
        }
        while let Some(e) = p.a.engine.poll_event() {
            p.a.events.push(e);
        }
    }
    // 4 s * 1.8^n: retransmits at 4, 11.2, 24.16, 47.49, 89.48; give up at 165.06.
    let expected = [4.0, 11.2, 24.16, 47.488, 89.4784];
    assert_eq!(sends.len(), 5);
    for (got, want) in sends.iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let gave_up = p.now.saturating_since(start).as_secs_f64();
    assert!((gave_up - 165.06112).abs() < 1e-3, "{gave_up}");
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeFailed { .. }))
    );
    assert_eq!(p.a.engine.ike_sa_count(), 0);
}

#[test]
fn survives_loss_duplication_and_reordering() {
    let impair = Impairments {
        loss: 0.2,
        duplicate: 0.2,
        reorder: 0.3,
        reorder_window: Duration::from_millis(50),
    };
    let complete = (0..40u64)
        .filter(|&seed| impaired_seed_run(Settings::default(), seed, impair) == 2)
        .count();
    // With 20% loss and five retransmissions, every run should complete.
    assert_eq!(complete, 40);
}

#[test]
fn invalid_ke_payload_is_recovered_with_the_requested_group() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        let text = if left {
            "aes128-sha256-ecp256-x25519"
        } else {
            "aes128-sha256-x25519"
        };
        c.proposals = vec![
            iked_ike::proposal::Proposal::parse(iked_ike::wire::ProtocolId::IKE, text).unwrap(),
        ];
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert!(p.a.has_log("[ENC] parsed IKE_SA_INIT response 0 [ N(INVAL_KE) ]"));
    assert!(p.a.has_log("peer didn't accept DH group 19, it requested 31"));
    assert!(p.a.events.iter().any(|e| matches!(e, Event::IkeUp { .. })));
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert_eq!(
        p.b.engine.ike_sa_count(),
        1,
        "no state kept for the refused request"
    );
}

#[test]
fn cookie_challenge_is_stateless_and_answered() {
    // cookie_threshold = 0 means "never" (as in strongSwan): reach a threshold of 1 with one
    // half-open SA from another initiator instead.
    let settings = Settings {
        cookie_threshold: 1,
        ..Settings::default()
    };
    let mut p = seed_pair(settings);
    let now = p.now;
    let stray = seed_sa_init_request(99);
    p.b.engine
        .handle_datagram(now, BFR.parse().unwrap(), BFL.parse().unwrap(), &stray);
    while p.b.engine.poll_transmit().is_some() {}
    assert_eq!(p.b.engine.half_open_count(), 1);
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.drain();
    // Deliver only the first request and check the responder allocated nothing.
    p.run_for(Duration::from_millis(15));
    assert_eq!(p.b.engine.stats().cookies_sent, 1);
    assert_eq!(p.b.engine.ike_sa_count(), 1, "only the stray half-open SA");
    p.run();
    assert!(p.a.has_log("[ENC] parsed IKE_SA_INIT response 0 [ N(COOKIE) ]"));
    assert!(p.a.has_log("[ENC] generating IKE_SA_INIT request 0 [ N(COOKIE) SA KE No"));
    assert!(p.a.events.iter().any(|e| matches!(e, Event::IkeUp { .. })));
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
}

#[test]
fn half_open_limit_refuses_new_sas() {
    let settings = Settings {
        half_open_limit: 1,
        cookie_threshold: 10,
        ..Settings::default()
    };
    let mut p = seed_pair(settings);
    // Two initiations; the second IKE_AUTH never comes because we blackhole after INIT.
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run_for(Duration::from_millis(15));
    assert_eq!(p.b.engine.half_open_count(), 1);
    assert_eq!(p.b.engine.stats().half_open_refused, 1);
    p.run();
    assert_eq!(p.b.engine.half_open_count(), 0);
}

#[test]
fn child_and_ike_rekey_keep_traffic_keys_in_sync() {
    let mut p = established_seed_pair(&["bf-in"]);
    let child = p.a.engine.ike_sas()[0].children[0].id;
    let old_spi = p.a.engine.ike_sas()[0].children[0].spi_in;
    let now = p.now;
    p.a.engine.rekey_child(now, child).unwrap();
    p.run();
    let sas = p.a.engine.ike_sas();
    assert_eq!(sas[0].children.len(), 1, "old child deleted after rekey");
    assert_ne!(sas[0].children[0].spi_in, old_spi);
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::ChildRekeyed { old, .. } if *old == child))
    );
    assert!(
        p.b.events
            .iter()
            .any(|e| matches!(e, Event::ChildRekeyed { .. }))
    );
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    // Policies survived the rekey (same reqid, not reinstalled or deleted).
    assert_eq!(p.a.kernel.policies.len(), 2);
    assert_eq!(p.a.kernel.sas.values().next().unwrap().reqid, 1);

    // IKE SA rekey: a new IKE SA with new SPIs takes over the child.
    let old_ike = sas[0].id;
    let now = p.now;
    p.a.engine.rekey_ike(now, old_ike).unwrap();
    p.run();
    let a_sas = p.a.engine.ike_sas();
    let b_sas = p.b.engine.ike_sas();
    assert_eq!(a_sas.len(), 1);
    assert_eq!(b_sas.len(), 1);
    assert_ne!(a_sas[0].id, old_ike);
    assert_eq!(
        (a_sas[0].spi_i, a_sas[0].spi_r),
        (b_sas[0].spi_i, b_sas[0].spi_r)
    );
    assert_eq!(a_sas[0].children.len(), 1);
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeRekeyed { .. }))
    );
    // The rekeyed IKE SA works: rekey the child over it and create another one.
    let child = a_sas[0].children[0].id;
    let now = p.now;
    p.a.engine.rekey_child(now, child).unwrap();
    p.a.engine.create_child(now, a_sas[0].id, "bf-out").unwrap();
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    // The old children were never torn down by the IKE rekey.
    assert!(
        !p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeDown { reason, .. } if *reason != DownReason::Rekeyed))
    );
}

#[test]
fn simultaneous_child_rekey_leaves_exactly_one_child() {
    let mut p = established_seed_pair(&["bf-in"]);
    let a_child = p.a.engine.ike_sas()[0].children[0].id;
    let b_child = p.b.engine.ike_sas()[0].children[0].id;
    let now = p.now;
    p.a.engine.rekey_child(now, a_child).unwrap();
    p.b.engine.rekey_child(now, b_child).unwrap();
    p.run();
    let a = p.a.engine.ike_sas();
    let b = p.b.engine.ike_sas();
    assert_eq!(a[0].children.len(), 1, "A: {:?}", a[0].children);
    assert_eq!(b[0].children.len(), 1, "B: {:?}", b[0].children);
    assert_eq!(
        (a[0].children[0].spi_in, a[0].children[0].spi_out),
        (b[0].children[0].spi_out, b[0].children[0].spi_in)
    );
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert!(p.a.has_log("rekey collision") && p.b.has_log("rekey collision"));
}

#[test]
fn delete_child_then_ike_sa() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    let child = p.a.engine.ike_sas()[0].children[0].id;
    let now = p.now;
    p.a.engine.terminate_child(now, child).unwrap();
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::ChildDown {
            reason: DownReason::Peer,
            ..
        }
    )));
    let ike = p.a.engine.ike_sas()[0].id;
    let now = p.now;
    p.a.engine.terminate_ike(now, ike).unwrap();
    p.run();
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
    assert!(p.a.kernel.policies.is_empty() && p.b.kernel.policies.is_empty());
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::IkeDown {
            reason: DownReason::Peer,
            ..
        }
    )));
}

#[test]
fn silent_peer_is_declared_dead_by_dpd() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if left {
            c.dpd_delay = Duration::from_secs(30);
        }
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert_eq!(p.a.kernel.sas.len(), 2);
    p.blackhole = Some(Side::B);
    let before = p.now;
    p.run_for(Duration::from_secs(600));
    let down =
        p.a.events
            .iter()
            .find(|e| matches!(e, Event::IkeDown { .. }));
    assert!(
        matches!(
            down,
            Some(Event::IkeDown {
                reason: DownReason::Timeout,
                ..
            })
        ),
        "{down:?}"
    );
    // 30 s idle, then 165 s of retransmissions.
    let dead_after = p.now.saturating_since(before).as_secs_f64();
    assert!(dead_after > 190.0 && dead_after < 200.0, "{dead_after}");
    assert!(p.a.kernel.sas.is_empty(), "kernel state removed");
}

#[test]
fn failed_kernel_install_rolls_back_and_deletes_the_child_at_the_peer() {
    let mut p = seed_pair(Settings::default());
    p.a.kernel.fail_add_sa.push((
        iked_ike::engine::Direction::Out,
        "Operation not supported (packet offload)".into(),
    ));
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert!(p.a.events.iter().any(
        |e| matches!(e, Event::ChildFailed { reason, .. } if reason.contains("packet offload"))
    ));
    // Rolled back locally (including the inbound SA that did install), deleted at the peer.
    assert!(p.a.kernel.sas.is_empty(), "{:?}", p.a.kernel.sas.keys());
    assert!(p.a.kernel.policies.is_empty());
    assert!(p.b.kernel.sas.is_empty() && p.b.kernel.policies.is_empty());
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::ChildDown {
            reason: DownReason::Peer,
            ..
        }
    )));
    // The IKE SA survives and can create the child again.
    let ike = p.a.engine.ike_sas()[0].id;
    assert!(p.a.engine.ike_sas()[0].established);
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-in").unwrap();
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert!(
        p.a.kernel
            .log
            .iter()
            .any(|r| matches!(r, KernelRequest::DeleteSa { .. }))
    );
}

#[test]
fn childless_initiation() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    let ike = p.a.engine.initiate(now, "BFL-BFR", &[]).unwrap();
    p.run();
    assert!(p.a.has_log("[ENC] generating IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]"));
    assert!(p.a.events.iter().any(|e| matches!(e, Event::IkeUp { .. })));
    assert!(p.a.kernel.sas.is_empty());
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
}

#[test]
#[ignore = "prints the logs of a seed run for inspection"]
fn print_seed_logs() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    for l in p.a.logs() {
        println!("A {l}");
    }
    for l in p.b.logs() {
        println!("B {l}");
    }
    for r in &p.a.kernel.log {
        println!("K {r:?}");
    }
}

#[test]
fn simultaneous_ike_rekey_is_refused_then_retried_after_a_random_delay() {
    let mut p = established_seed_pair(&["bf-in"]);
    let a_ike = p.a.engine.ike_sas()[0].id;
    let b_ike = p.b.engine.ike_sas()[0].id;
    let now = p.now;
    p.a.engine.rekey_ike(now, a_ike).unwrap();
    p.b.engine.rekey_ike(now, b_ike).unwrap();
    p.run_for(Duration::from_secs(60));
    assert!(p.a.has_log("IKE_SA rekeying failed") && p.b.has_log("IKE_SA rekeying failed"));
    let a = p.a.engine.ike_sas();
    let b = p.b.engine.ike_sas();
    assert_eq!((a.len(), b.len()), (1, 1), "{a:?} {b:?}");
    assert_ne!(a[0].id, a_ike, "A's IKE SA was rekeyed");
    assert_eq!((a[0].spi_i, a[0].spi_r), (b[0].spi_i, b[0].spi_r));
    assert_eq!(a[0].children.len(), 1);
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    // The rekeyed SA carries traffic: a new child over it.
    let now = p.now;
    p.a.engine.create_child(now, a[0].id, "bf-out").unwrap();
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
}

#[test]
fn kernel_soft_expire_rekeys_and_hard_expire_deletes() {
    let mut p = established_seed_pair(&["bf-in"]);
    let first = p.a.engine.ike_sas()[0].children[0].clone();
    let now = p.now;
    let local = ip("192.168.50.1");
    p.a.engine.handle_kernel(
        now,
        iked_ike::engine::KernelEvent::Expire {
            spi: first.spi_in,
            dst: local,
            hard: false,
        },
    );
    p.run();
    let second = p.a.engine.ike_sas()[0].children[0].clone();
    assert_ne!(second.spi_in, first.spi_in, "soft expire rekeyed the child");
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    // An expire for an SPI that no longer exists is ignored.
    let now = p.now;
    p.a.engine.handle_kernel(
        now,
        iked_ike::engine::KernelEvent::Expire {
            spi: first.spi_in,
            dst: local,
            hard: true,
        },
    );
    p.run();
    assert_eq!(p.a.engine.ike_sas()[0].children.len(), 1);
    let now = p.now;
    p.a.engine.handle_kernel(
        now,
        iked_ike::engine::KernelEvent::Expire {
            spi: second.spi_in,
            dst: local,
            hard: true,
        },
    );
    p.run();
    assert!(p.a.engine.ike_sas()[0].children.is_empty());
    assert!(p.a.kernel.sas.is_empty() && p.b.kernel.sas.is_empty());
}

#[test]
fn unacceptable_traffic_selectors_fail_the_child_but_not_the_ike_sa() {
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
    assert!(p.a.has_log("[ENC] parsed IKE_AUTH response 1 [ IDr AUTH N(TS_UNACCEPT) ]"));
    assert!(
        p.a.events.iter().any(
            |e| matches!(e, Event::ChildFailed { reason, .. } if reason.contains("TS_UNACCEPT"))
        )
    );
    assert!(p.a.engine.ike_sas()[0].established && p.b.engine.ike_sas()[0].established);
    assert!(p.a.kernel.sas.is_empty() && p.a.kernel.larval.is_empty());
}

#[test]
fn create_child_sa_recovers_from_invalid_ke_payload() {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        if left {
            for ch in &mut c.children {
                Arc::make_mut(ch).esp_proposals = vec![
                    iked_ike::proposal::Proposal::parse(
                        iked_ike::wire::ProtocolId::ESP,
                        "aes128gcm128-ecp256-x25519-esn",
                    )
                    .unwrap(),
                ];
            }
        }
    });
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    assert!(p.a.has_log("[ENC] parsed CREATE_CHILD_SA response 2 [ N(INVAL_KE) ]"));
    assert!(p.a.has_log("peer requested key exchange method 31, retrying CREATE_CHILD_SA"));
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
}

#[test]
fn requests_outside_the_window_are_dropped() {
    let mut p = established_seed_pair(&["bf-in"]);
    // Replay A's IKE_AUTH request (message ID 1) once more: answered from the cache.
    let auth_request = p.sent[2].clone();
    let before = p.b.engine.stats();
    let now = p.now;
    p.b.engine.handle_datagram(
        now,
        BFR.parse().unwrap(),
        BFL.parse().unwrap(),
        &auth_request,
    );
    assert_eq!(
        p.b.engine.stats().replayed_responses,
        before.replayed_responses + 1
    );
    // The IKE_SA_INIT request (message ID 0) is now outside the window: dropped.
    let init_request = p.sent[0].clone();
    p.b.engine.handle_datagram(
        now,
        BFR.parse().unwrap(),
        BFL.parse().unwrap(),
        &init_request,
    );
    assert_eq!(p.b.engine.stats().dropped, before.dropped + 1);
    // A corrupted request fails integrity and is dropped silently.
    let mut bad = auth_request.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    bad[20..24].copy_from_slice(&2u32.to_be_bytes());
    p.b.engine
        .handle_datagram(now, BFR.parse().unwrap(), BFL.parse().unwrap(), &bad);
    assert_eq!(p.b.engine.stats().dropped, before.dropped + 2);
    assert!(p.b.engine.poll_transmit().is_some(), "the replay");
    assert!(
        p.b.engine.poll_transmit().is_none(),
        "nothing for the dropped ones"
    );
}

/// Both seed children up (bf-in in IKE_AUTH, bf-out by CREATE_CHILD_SA), as in the lab.
fn seed_pair_with_both_children() -> Pair {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    p
}

/// The SAs a kernel holds for one SPI pair, as (direction, reqid, mode, local_ts, remote_ts).
fn sa_shape(
    k: &FakeKernel,
    spi: u32,
) -> (
    iked_ike::engine::Direction,
    u32,
    iked_ike::config::Mode,
    Vec<iked_ike::ts::TrafficSelector>,
    Vec<iked_ike::ts::TrafficSelector>,
) {
    let sa = k
        .sas
        .values()
        .find(|s| s.spi == spi)
        .unwrap_or_else(|| panic!("no SA {spi:08x}"));
    (
        sa.direction,
        sa.reqid,
        sa.mode,
        sa.local_ts.clone(),
        sa.remote_ts.clone(),
    )
}

/// Rekeys `name` from `side` and checks what the lab saw fail against strongSwan: the new
/// SAs carry the old child's narrowed /32 transport selectors, reqid and mode, no policy is
/// added or removed, and the old SAs go away only after the new ones are installed.
fn rekey_seed_child_keeps_narrowed_selectors(side: Side, name: &str) {
    let mut p = seed_pair_with_both_children();
    let rekeyer = p.side(side);
    let old = rekeyer.engine.ike_sas()[0]
        .children
        .iter()
        .find(|c| c.name == name)
        .unwrap()
        .clone();
    // Transport mode narrowed the configured /24s to the two hosts.
    let me = rekeyer.addr.ip();
    assert!(old.local_ts.iter().all(|t| t.start == me && t.end == me));
    let old_in = sa_shape(&rekeyer.kernel, old.spi_in);
    let old_out = sa_shape(&rekeyer.kernel, old.spi_out);
    assert_eq!(old_in.2, iked_ike::config::Mode::Transport);
    let policies_before = (p.a.kernel.policies.clone(), p.b.kernel.policies.clone());
    let log_len = (p.a.kernel.log.len(), p.b.kernel.log.len());

    let now = p.now;
    p.side(side).engine.rekey_child(now, old.id).unwrap();
    p.run();

    let rekeyer = p.side(side);
    let children = rekeyer.engine.ike_sas()[0].children.clone();
    assert_eq!(children.len(), 2, "{children:?}");
    let new = children.iter().find(|c| c.name == name).unwrap();
    assert_ne!(new.spi_in, old.spi_in);
    assert!(new.installed);
    assert_eq!(
        (&new.local_ts, &new.remote_ts),
        (&old.local_ts, &old.remote_ts)
    );
    // Same selectors, reqid and mode in the kernel requests for the new SAs.
    assert_eq!(sa_shape(&rekeyer.kernel, new.spi_in), old_in);
    assert_eq!(sa_shape(&rekeyer.kernel, new.spi_out), old_out);
    assert!(!old_in.3.is_empty() && !old_in.4.is_empty());
    assert!(
        !rekeyer
            .kernel
            .sas
            .values()
            .any(|s| s.spi == old.spi_in || s.spi == old.spi_out),
        "old SAs deleted"
    );
    // Policies were kept, on both sides: none added, none deleted.
    assert_eq!(
        (p.a.kernel.policies.clone(), p.b.kernel.policies.clone()),
        policies_before
    );
    for k in [&p.a.kernel, &p.b.kernel] {
        let after = &k.log[if std::ptr::eq(k, &p.a.kernel) {
            log_len.0
        } else {
            log_len.1
        }..];
        assert!(
            !after.iter().any(|r| matches!(
                r,
                KernelRequest::AddPolicy { .. } | KernelRequest::DeletePolicy { .. }
            )),
            "{after:?}"
        );
    }
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    for ep in [&p.a, &p.b] {
        assert!(
            ep.events
                .iter()
                .any(|e| matches!(e, Event::ChildRekeyed { .. })),
            "{:?}",
            ep.addr
        );
        assert!(
            !ep.events
                .iter()
                .any(|e| matches!(e, Event::ChildFailed { .. })),
            "{:?}",
            ep.addr
        );
    }
}

#[test]
fn seed_transport_child_rekeyed_by_the_initiator_keeps_its_narrowed_selectors() {
    rekey_seed_child_keeps_narrowed_selectors(Side::A, "bf-out");
    rekey_seed_child_keeps_narrowed_selectors(Side::A, "bf-in");
}

#[test]
fn seed_transport_child_rekeyed_by_the_responder_keeps_its_narrowed_selectors() {
    rekey_seed_child_keeps_narrowed_selectors(Side::B, "bf-out");
    rekey_seed_child_keeps_narrowed_selectors(Side::B, "bf-in");
}

/// The lab's failure mode: the rekeyed child cannot be installed. Like charon, the old
/// CHILD_SA stays up (SAs and policies untouched, on both sides) until it expires; only the
/// new child is rolled back and deleted at the peer.
#[test]
fn failed_rekey_install_keeps_the_old_child() {
    let mut p = seed_pair_with_both_children();
    let old = p.a.engine.ike_sas()[0]
        .children
        .iter()
        .find(|c| c.name == "bf-out")
        .unwrap()
        .clone();
    let sas_before = (p.a.kernel.sas.len(), p.b.kernel.sas.len());
    let policies_before = (p.a.kernel.policies.clone(), p.b.kernel.policies.clone());
    p.a.kernel.fail_add_sa.push((
        iked_ike::engine::Direction::Out,
        "invalid request: injected".into(),
    ));
    let now = p.now;
    p.a.engine.rekey_child(now, old.id).unwrap();
    p.run();

    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::ChildFailed { reason, .. } if reason.contains("injected")))
    );
    // B (responder) installed its half and saw the rekey complete, until A's DELETE.
    assert!(
        !p.a.events
            .iter()
            .any(|e| matches!(e, Event::ChildRekeyed { .. }))
    );
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::ChildDown {
            reason: DownReason::Peer,
            ..
        }
    )));
    let a_children = p.a.engine.ike_sas()[0].children.clone();
    let survivor = a_children
        .iter()
        .find(|c| c.id == old.id)
        .expect("old child kept");
    assert!(survivor.installed);
    assert_eq!(a_children.len(), 2, "{a_children:?}");
    assert_eq!(p.b.engine.ike_sas()[0].children.len(), 2);
    // Old SAs in both kernels, the failed generation gone everywhere, policies untouched.
    assert_eq!((p.a.kernel.sas.len(), p.b.kernel.sas.len()), sas_before);
    assert!(p.a.kernel.sas.values().any(|s| s.spi == old.spi_in));
    assert!(p.b.kernel.sas.values().any(|s| s.spi == old.spi_out));
    assert_eq!(
        (p.a.kernel.policies.clone(), p.b.kernel.policies.clone()),
        policies_before
    );
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    assert!(p.a.kernel.larval.is_empty() && p.b.kernel.larval.is_empty());

    // The old child can still be rekeyed later.
    let now = p.now;
    p.a.engine.rekey_child(now, old.id).unwrap();
    p.run();
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::ChildRekeyed { old: o, .. } if *o == old.id))
    );
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
}
