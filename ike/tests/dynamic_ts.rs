//! `dynamic` traffic selectors (swanctl's default `local_ts`/`remote_ts`) resolved per IKE SA
//! to the addresses it uses, and connections matched by `%any`, address lists and subnets, as
//! charon does (issue 14 §1): our initiator against our responder in virtual time.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use iked_ike::config::{AddrRange, IkeConfig, Mode, Settings};
use iked_ike::engine::{Direction, Engine, Event};

/// The seed's two children with `dynamic` selectors told apart by their ports, as a road
/// warrior or NVIDIA's OVS monitor writes them: bf-out sends VXLAN (`[udp]` -> `[udp/4789]`),
/// bf-in receives it.
fn dynamic_children(c: &mut IkeConfig, mode: Mode) {
    let mut out = child("bf-out", "dynamic [udp]", "dynamic [udp/4789]");
    let mut inn = child("bf-in", "dynamic [udp/4789]", "dynamic [udp]");
    out.mode = mode;
    inn.mode = mode;
    c.children = vec![Arc::new(out), Arc::new(inn)];
}

/// A seed pair (A = BFL initiator, B = BFR responder) at `a_addr`/`b_addr` whose children use
/// `dynamic` selectors; `tweak` edits each side's connection afterwards.
fn dynamic_pair(
    a_addr: &str,
    b_addr: &str,
    mode: Mode,
    tweak: impl Fn(bool, &mut IkeConfig),
) -> Pair {
    let (a_sock, b_sock): (SocketAddr, SocketAddr) =
        (a_addr.parse().unwrap(), b_addr.parse().unwrap());
    let (mut l, ls) = seed_config(true);
    let (mut r, rs) = seed_config(false);
    l.local_addrs = vec![a_sock.ip()];
    l.remote_addrs = vec![b_sock.ip()];
    r.local_addrs = vec![b_sock.ip()];
    r.remote_addrs = vec![a_sock.ip()];
    dynamic_children(&mut l, mode);
    dynamic_children(&mut r, mode);
    tweak(true, &mut l);
    tweak(false, &mut r);
    let a = Engine::new(Settings::default(), vec![l], ls, Box::new(TestRng(1)));
    let b = Engine::new(Settings::default(), vec![r], rs, Box::new(TestRng(2)));
    Pair::new(a, a_sock, b, b_sock)
}

/// Initiates both seed children from A the way the daemon does (our address as the route
/// lookup's hint, for `local_addrs = %any`): bf-in rides in IKE_AUTH, bf-out follows in a
/// CREATE_CHILD_SA.
fn initiate_both(p: &mut Pair) {
    let now = p.now;
    let opts = iked_ike::engine::InitiateOptions {
        local_addr: Some(p.a.addr.ip()),
        ..Default::default()
    };
    p.a.engine
        .initiate_with(now, "BFL-BFR", &["bf-in", "bf-out"], opts)
        .unwrap();
    p.run();
}

/// (child name, local TS, remote TS) of every ChildUp event, in order.
fn children_up_ts(ep: &Endpoint) -> Vec<(String, String, String)> {
    ep.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildUp {
                name,
                local_ts,
                remote_ts,
                ..
            } => Some((
                name.clone(),
                local_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                remote_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            )),
            _ => None,
        })
        .collect()
}

fn failures(ep: &Endpoint) -> Vec<String> {
    ep.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildFailed { name, reason, .. } => Some(format!("{name}: {reason}")),
            _ => None,
        })
        .collect()
}

/// Both seed children up on both sides with host selectors of the two IKE addresses, the
/// kernels holding matching SAs between exactly those addresses in `mode`.
fn assert_seed_children_up(p: &Pair, mode: Mode) {
    let (a, b) = (p.a.addr.ip(), p.b.addr.ip());
    let host = |ip: std::net::IpAddr| {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        format!("{ip}/{prefix}")
    };
    let (ha, hb) = (host(a), host(b));
    assert_eq!(
        children_up_ts(&p.a),
        [
            (
                "bf-in".to_string(),
                format!("{ha}[udp/4789]"),
                format!("{hb}[udp]")
            ),
            (
                "bf-out".to_string(),
                format!("{ha}[udp]"),
                format!("{hb}[udp/4789]")
            ),
        ],
        "initiator: {:?}",
        failures(&p.a)
    );
    // The responder pairs A's bf-in with its bf-out and vice versa.
    assert_eq!(
        children_up_ts(&p.b),
        [
            (
                "bf-out".to_string(),
                format!("{hb}[udp]"),
                format!("{ha}[udp/4789]")
            ),
            (
                "bf-in".to_string(),
                format!("{hb}[udp/4789]"),
                format!("{ha}[udp]")
            ),
        ],
        "responder: {:?} {:?}",
        failures(&p.b),
        p.b.logs()
    );
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    for sa in p.a.kernel.sas.values() {
        assert_eq!(sa.mode, mode);
        let expected = match sa.direction {
            Direction::Out => (a, b),
            _ => (b, a),
        };
        assert_eq!((sa.src, sa.dst), expected);
    }
    // Policies cover exactly the two hosts (in/out per child, plus FWD in tunnel mode).
    let per_child = if mode == Mode::Tunnel { 4 } else { 2 };
    for k in [&p.a.kernel, &p.b.kernel] {
        assert_eq!(k.policies.len(), 2 * per_child);
        for pol in &k.policies {
            for ts in [pol.src_ts, pol.dst_ts] {
                assert!(
                    ts.start == ts.end && (ts.start == a || ts.start == b),
                    "{ts}"
                );
            }
        }
    }
}

/// The case: BFR with `remote_addrs = %any` and `dynamic` selectors used to answer
/// TS_UNACCEPTABLE, `dynamic` having been resolved to nothing at load time.
#[test]
fn responder_with_any_remote_serves_dynamic_transport_children() {
    let mut p = dynamic_pair(BFL, BFR, Mode::Transport, |left, c| {
        if !left {
            c.remote_addrs.clear();
        }
    });
    initiate_both(&mut p);
    assert_seed_children_up(&p, Mode::Transport);
    assert!(!p.b.has_log("TS_UNACCEPT"));
}

/// The initiator side of it: `local_addrs = %any` on BFL, whose `dynamic` local selectors
/// become the address the IKE SA uses (the daemon's route lookup).
#[test]
fn initiator_with_any_local_proposes_its_address() {
    let mut p = dynamic_pair(BFL, BFR, Mode::Transport, |left, c| {
        if left {
            c.local_addrs.clear();
        }
    });
    initiate_both(&mut p);
    assert_seed_children_up(&p, Mode::Transport);
}

/// `%any` everywhere it can be: BFL's local side, BFR's local and remote sides.
#[test]
fn any_on_both_sides_in_tunnel_mode() {
    let mut p = dynamic_pair(BFL, BFR, Mode::Tunnel, |left, c| {
        if left {
            c.local_addrs.clear();
        } else {
            c.local_addrs.clear();
            c.remote_addrs.clear();
        }
    });
    initiate_both(&mut p);
    assert_seed_children_up(&p, Mode::Tunnel);
}

/// `remote_addrs = A, B` with the peer at B: `dynamic` is the peer's actual address, not the
/// list's first.
#[test]
fn address_list_with_the_peer_second() {
    let mut p = dynamic_pair(BFL, BFR, Mode::Transport, |left, c| {
        if !left {
            c.remote_addrs = vec![ip("192.168.50.9"), ip("192.168.50.1")];
        }
    });
    initiate_both(&mut p);
    assert_seed_children_up(&p, Mode::Transport);
}

/// IPv6 with `%any` on the responder, in tunnel and transport mode.
#[test]
fn ipv6_responder_with_any_remote() {
    for mode in [Mode::Transport, Mode::Tunnel] {
        let mut p = dynamic_pair("[2001:db8::1]:500", "[2001:db8::2]:500", mode, |left, c| {
            if !left {
                c.remote_addrs.clear();
            }
        });
        initiate_both(&mut p);
        assert_seed_children_up(&p, mode);
    }
}

/// Responder config selection by address as charon ranks it: a connection whose subnet holds
/// the peer beats an earlier `%any` one, and an exact address beats the subnet.
#[test]
fn responder_picks_the_best_address_match() {
    let build = |with_exact: bool| {
        let (mut l, ls) = seed_config(true);
        dynamic_children(&mut l, Mode::Transport);
        let (mut any, rs) = seed_config(false);
        dynamic_children(&mut any, Mode::Transport);
        any.name = "any".into();
        any.remote_addrs.clear();
        // Selectors the initiator's proposal cannot match: choosing this config fails.
        for ch in &mut any.children {
            Arc::make_mut(ch).remote_ts = vec![ts("10.9.9.0/24").into()];
        }
        let mut subnet = any.clone();
        subnet.name = "subnet".into();
        subnet.remote_ranges = vec![AddrRange::subnet(ip("192.168.50.0"), 24)];
        dynamic_children(&mut subnet, Mode::Transport);
        let mut outside = subnet.clone();
        outside.name = "outside".into();
        outside.remote_ranges = vec![AddrRange {
            start: ip("192.168.50.100"),
            end: ip("192.168.50.200"),
        }];
        let mut conns = vec![any, outside, subnet];
        if with_exact {
            let mut exact = conns[2].clone();
            exact.name = "exact".into();
            exact.remote_ranges.clear();
            exact.remote_addrs = vec![ip("192.168.50.1")];
            conns.push(exact);
        }
        let a = Engine::new(Settings::default(), vec![l], ls, Box::new(TestRng(1)));
        let b = Engine::new(Settings::default(), conns, rs, Box::new(TestRng(2)));
        Pair::new(a, BFL.parse().unwrap(), b, BFR.parse().unwrap())
    };
    for (with_exact, want) in [(false, "subnet"), (true, "exact")] {
        let mut p = build(with_exact);
        initiate_both(&mut p);
        assert_seed_children_up(&p, Mode::Transport);
        assert_eq!(p.b.engine.ike_sas()[0].name, want);
    }
}

/// A peer outside every configured subnet or range finds no config.
#[test]
fn peer_outside_the_ranges_is_refused() {
    let mut p = dynamic_pair(BFL, BFR, Mode::Transport, |left, c| {
        if !left {
            c.remote_addrs.clear();
            c.remote_ranges = vec![
                AddrRange::subnet(ip("10.0.0.0"), 8),
                AddrRange {
                    start: ip("192.168.50.2"),
                    end: ip("192.168.50.9"),
                },
            ];
        }
    });
    initiate_both(&mut p);
    assert!(children_up_ts(&p.a).is_empty());
    assert!(p.b.engine.ike_sas().is_empty());
    assert!(
        p.b.has_log("no IKE config found for 192.168.50.2...192.168.50.1"),
        "{:?}",
        p.b.logs()
    );
}

/// Rekeying a child negotiated from `dynamic` selectors over a `%any` connection, from either
/// side: the new child keeps the resolved host selectors.
#[test]
fn rekey_of_a_dynamic_child_keeps_its_selectors() {
    for rekeyer in [Side::A, Side::B] {
        let mut p = dynamic_pair(BFL, BFR, Mode::Transport, |left, c| {
            if left {
                c.local_addrs.clear();
            } else {
                c.remote_addrs.clear();
            }
        });
        initiate_both(&mut p);
        assert_seed_children_up(&p, Mode::Transport);
        let ep = p.side(rekeyer);
        let old = ep.engine.ike_sas()[0]
            .children
            .iter()
            .find(|c| c.name == "bf-out")
            .unwrap()
            .clone();
        let now = p.now;
        p.side(rekeyer).engine.rekey_child(now, old.id).unwrap();
        p.run();
        let ep = p.side(rekeyer);
        let children = ep.engine.ike_sas()[0].children.clone();
        assert_eq!(children.len(), 2, "{rekeyer:?}: {children:?}");
        let new = children.iter().find(|c| c.name == "bf-out").unwrap();
        assert_ne!(new.spi_in, old.spi_in, "{rekeyer:?}");
        assert!(new.installed);
        assert_eq!(
            (&new.local_ts, &new.remote_ts),
            (&old.local_ts, &old.remote_ts)
        );
        assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
        assert!(failures(&p.a).is_empty() && failures(&p.b).is_empty());
    }
}

/// Runs `p` with a NAT that rewrites A's address `private` to `public` (ports kept), which the
/// harness's port-only NAT cannot do: datagrams are delivered at once, timers fire when due.
fn run_behind_address_nat(p: &mut Pair, private: std::net::IpAddr, public: std::net::IpAddr) {
    let translate = |a: SocketAddr, from: std::net::IpAddr, to: std::net::IpAddr| {
        if a.ip() == from {
            SocketAddr::new(to, a.port())
        } else {
            a
        }
    };
    for _ in 0..10_000 {
        let mut progress = false;
        for side in [Side::A, Side::B] {
            let now = p.now;
            let ep = p.side(side);
            while let Some(req) = ep.engine.poll_kernel() {
                progress = true;
                if let Some(ans) = ep.kernel.apply(req) {
                    ep.engine.handle_kernel(now, ans);
                }
            }
            while let Some(ev) = ep.engine.poll_event() {
                ep.events.push(ev);
            }
            let mut out = Vec::new();
            while let Some(t) = ep.engine.poll_transmit() {
                out.push(t);
            }
            for t in out {
                progress = true;
                if t.bytes == iked_ike::engine::NAT_KEEPALIVE {
                    continue;
                }
                let (to, from, dst) = match side {
                    Side::A => (Side::B, translate(t.local, private, public), t.remote),
                    Side::B => (Side::A, t.local, translate(t.remote, public, private)),
                };
                p.side(to).engine.handle_datagram(now, dst, from, &t.bytes);
            }
        }
        if !progress {
            let next = [p.a.engine.poll_timeout(), p.b.engine.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= p.now + std::time::Duration::from_secs(5) => {
                    p.now = t.max(p.now);
                    let now = p.now;
                    p.a.engine.handle_timeout(now);
                    p.b.engine.handle_timeout(now);
                }
                _ => return,
            }
        }
    }
}

/// Transport mode through a NAT that changes BFL's address (charon's get_transport_nat_ts):
/// BFL proposes its private address, BFR (`remote_addrs = %any`, `dynamic`) sees the public
/// one; each side substitutes the addresses its IKE SA uses, so the child comes up with
/// BFL's policies on its private address and BFR's on the public one.
#[test]
fn transport_mode_through_an_address_nat() {
    let (private, public) = (ip("10.0.0.1"), ip("203.0.113.5"));
    let mut p = dynamic_pair("10.0.0.1:500", BFR, Mode::Transport, |left, c| {
        if !left {
            c.remote_addrs.clear();
        }
    });
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    run_behind_address_nat(&mut p, private, public);
    let up_a = children_up_ts(&p.a);
    let up_b = children_up_ts(&p.b);
    assert_eq!(
        up_a,
        [
            (
                "bf-in".to_string(),
                "10.0.0.1/32[udp/4789]".to_string(),
                "192.168.50.2/32[udp]".to_string()
            ),
            (
                "bf-out".to_string(),
                "10.0.0.1/32[udp]".to_string(),
                "192.168.50.2/32[udp/4789]".to_string()
            ),
        ],
        "{:?} {:?}",
        failures(&p.a),
        p.a.logs()
    );
    assert_eq!(
        up_b,
        [
            (
                "bf-out".to_string(),
                "192.168.50.2/32[udp]".to_string(),
                "203.0.113.5/32[udp/4789]".to_string()
            ),
            (
                "bf-in".to_string(),
                "192.168.50.2/32[udp/4789]".to_string(),
                "203.0.113.5/32[udp]".to_string()
            ),
        ],
        "{:?} {:?}",
        failures(&p.b),
        p.b.logs()
    );
    // ESP-in-UDP on both ends, each kernel with the addresses its side uses.
    assert!(
        p.a.kernel
            .sas
            .values()
            .all(|sa| sa.encap.is_some() && (sa.src == private || sa.dst == private))
    );
    assert!(
        p.b.kernel
            .sas
            .values()
            .all(|sa| sa.encap.is_some() && (sa.src == public || sa.dst == public))
    );
}
