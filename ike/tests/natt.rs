//! NAT traversal in the pair harness (RFC 7296 2.23, RFC 3948): a port-translating NAT between
//! the engines, and `encap = yes` faking one.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use iked_ike::config::Settings;
use iked_ike::engine::{Direction, SaInstall};

/// BFL behind a NAPT: 500 -> 31000, 4500 -> 31001.
fn nat_in_front_of_bfl() -> PortNat {
    PortNat {
        side: Side::A,
        map: vec![(500, 31000), (4500, 31001)],
    }
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(common::ip(ip), port)
}

/// Every kernel SA's (direction, encap).
fn encaps(k: &FakeKernel) -> Vec<(Direction, Option<(u16, u16)>)> {
    k.sas
        .values()
        .map(|sa: &SaInstall| (sa.direction, sa.encap))
        .collect()
}

fn routes_of(p: &Pair, side: Side) -> Vec<(SocketAddr, SocketAddr)> {
    p.routes
        .iter()
        .filter(|r| r.0 == side)
        .map(|r| (r.1, r.2))
        .collect()
}

fn up_behind_nat() -> Pair {
    let mut p = seed_pair(Settings::default());
    p.nat = Some(nat_in_front_of_bfl());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run_for(Duration::from_secs(5));
    assert!(p.a.engine.ike_sas()[0].established, "{:?}", p.a.logs());
    p
}

#[test]
fn nat_in_front_of_the_initiator_moves_ike_to_4500_and_encapsulates_esp() {
    let p = up_behind_nat();
    assert!(p.a.has_log("[IKE] local host is behind NAT, sending keep alives"));
    assert!(!p.a.has_log("remote host is behind NAT"));
    assert!(p.b.has_log("[IKE] remote host is behind NAT"));
    assert!(!p.b.has_log("local host is behind NAT"));

    // IKE_SA_INIT on 500, everything after on 4500, both ways.
    let a = routes_of(&p, Side::A);
    assert_eq!(a[0], (addr("192.168.50.1", 500), addr("192.168.50.2", 500)));
    assert!(a.len() >= 2);
    for r in &a[1..] {
        assert_eq!(*r, (addr("192.168.50.1", 4500), addr("192.168.50.2", 4500)));
    }
    let b = routes_of(&p, Side::B);
    assert_eq!(
        b[0],
        (addr("192.168.50.2", 500), addr("192.168.50.1", 31000))
    );
    for r in &b[1..] {
        assert_eq!(
            *r,
            (addr("192.168.50.2", 4500), addr("192.168.50.1", 31001))
        );
    }

    let ia = &p.a.engine.ike_sas()[0];
    assert_eq!(
        (
            ia.local,
            ia.remote,
            ia.nat_local,
            ia.nat_remote,
            ia.nat_fake
        ),
        (
            addr("192.168.50.1", 4500),
            addr("192.168.50.2", 4500),
            true,
            false,
            false
        )
    );
    assert!(ia.children.iter().all(|c| c.encap));
    let ib = &p.b.engine.ike_sas()[0];
    assert_eq!(
        (ib.local, ib.remote, ib.nat_local, ib.nat_remote),
        (
            addr("192.168.50.2", 4500),
            addr("192.168.50.1", 31001),
            false,
            true
        )
    );

    // ESP-in-UDP with the ports each side sees: BFL's private 4500, BFR's view of the mapping.
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    let mut a = encaps(&p.a.kernel);
    a.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        a,
        vec![
            (Direction::In, Some((4500, 4500))),
            (Direction::Out, Some((4500, 4500)))
        ]
    );
    let mut b = encaps(&p.b.kernel);
    b.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        b,
        vec![
            (Direction::In, Some((31001, 4500))),
            (Direction::Out, Some((4500, 31001)))
        ]
    );
}

#[test]
fn the_host_behind_the_nat_sends_keepalives_every_20_seconds() {
    let mut p = up_behind_nat();
    p.run_for(Duration::from_secs(70));
    assert!(
        p.keepalives.iter().all(|k| k.0 == Side::A),
        "only the host behind the NAT sends keepalives"
    );
    let times: Vec<_> = p.keepalives.iter().map(|k| k.1).collect();
    assert!(times.len() >= 3, "{} keepalives in 70 s", times.len());
    for w in times.windows(2) {
        assert_eq!(w[1].saturating_since(w[0]), Duration::from_secs(20));
    }
    for k in &p.keepalives {
        assert_eq!(
            (k.2, k.3),
            (addr("192.168.50.1", 4500), addr("192.168.50.2", 4500))
        );
    }
    // They stop with the IKE SA.
    let ike = p.a.engine.ike_sas()[0].id;
    let now = p.now;
    p.a.engine.terminate_ike(now, ike).unwrap();
    p.run_for(Duration::from_secs(5));
    let n = p.keepalives.len();
    p.run_for(Duration::from_secs(60));
    assert_eq!(p.keepalives.len(), n);
    assert_eq!(p.a.engine.ike_sa_count(), 0);
}

#[test]
fn rekeys_under_nat_keep_the_encapsulation_and_the_keepalives() {
    let mut p = up_behind_nat();
    let child = p.a.engine.ike_sas()[0].children[0].id;
    let now = p.now;
    p.a.engine.rekey_child(now, child).unwrap();
    p.run_for(Duration::from_secs(5));
    let ike = p.a.engine.ike_sas()[0].id;
    let now = p.now;
    p.a.engine.rekey_ike(now, ike).unwrap();
    p.run_for(Duration::from_secs(5));
    let now = p.now;
    let new_ike = p.a.engine.ike_sas()[0].id;
    assert_ne!(new_ike, ike, "IKE SA rekeyed");
    p.a.engine.create_child(now, new_ike, "bf-out").unwrap();
    p.run_for(Duration::from_secs(5));

    let ia = &p.a.engine.ike_sas()[0];
    assert_eq!(ia.children.len(), 2);
    assert!(ia.nat_local && ia.children.iter().all(|c| c.encap));
    assert_eq!(ia.local.port(), 4500);
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 4);
    assert!(
        encaps(&p.a.kernel)
            .iter()
            .all(|e| e.1 == Some((4500, 4500)))
    );
    assert!(encaps(&p.b.kernel).iter().all(|e| match e.0 {
        Direction::Out => e.1 == Some((4500, 31001)),
        _ => e.1 == Some((31001, 4500)),
    }));
    let n = p.keepalives.len();
    p.run_for(Duration::from_secs(45));
    assert!(
        p.keepalives.len() >= n + 2,
        "keepalives go on from the new IKE SA"
    );
}

#[test]
fn the_responder_follows_a_new_nat_mapping() {
    let mut p = up_behind_nat();
    // The NAT forgets the mapping and picks another public port for 4500.
    p.nat = Some(PortNat {
        side: Side::A,
        map: vec![(500, 31000), (4500, 31002)],
    });
    let ike = p.a.engine.ike_sas()[0].id;
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run_for(Duration::from_secs(5));
    let ib = &p.b.engine.ike_sas()[0];
    assert_eq!(ib.remote, addr("192.168.50.1", 31002));
    assert_eq!(ib.children.len(), 2);
    assert!(ib.children.iter().all(|c| c.installed));
    // The new child's SAs use the new mapping.
    let new_spis: Vec<u32> = p.b.engine.ike_sas()[0]
        .children
        .iter()
        .skip(1)
        .flat_map(|c| [c.spi_in, c.spi_out])
        .collect();
    for sa in
        p.b.kernel
            .sas
            .values()
            .filter(|s| new_spis.contains(&s.spi))
    {
        let want = match sa.direction {
            Direction::Out => (4500, 31002),
            _ => (31002, 4500),
        };
        assert_eq!(sa.encap, Some(want), "{:08x}", sa.spi);
    }
    // The last response went to the new mapping.
    let last_b = *routes_of(&p, Side::B).last().unwrap();
    assert_eq!(last_b.1, addr("192.168.50.1", 31002));
}

#[test]
fn without_nat_the_responder_keeps_the_peer_address() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run_for(Duration::from_secs(5));
    // A source port change after the handshake (no NAT was detected): not followed.
    p.nat = Some(PortNat {
        side: Side::A,
        map: vec![(500, 31000)],
    });
    let ike = p.a.engine.ike_sas()[0].id;
    let now = p.now;
    p.a.engine.create_child(now, ike, "bf-out").unwrap();
    p.run_for(Duration::from_secs(5));
    let ib = &p.b.engine.ike_sas()[0];
    assert_eq!(ib.children.len(), 2, "{:?}", p.b.logs());
    assert_eq!(ib.remote, addr("192.168.50.1", 500));
    assert!(!ib.nat_remote && !ib.nat_local);
}

#[test]
fn without_nat_everything_stays_on_500_unencapsulated() {
    let mut p = seed_pair(Settings::default());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run_for(Duration::from_secs(70));
    assert!(p.a.engine.ike_sas()[0].established);
    assert!(!p.a.has_log("behind NAT") && !p.b.has_log("behind NAT"));
    assert!(
        p.routes
            .iter()
            .all(|r| r.1.port() == 500 && r.2.port() == 500)
    );
    assert!(p.keepalives.is_empty());
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert!(encaps(&p.a.kernel).iter().all(|e| e.1.is_none()));
    assert!(encaps(&p.b.kernel).iter().all(|e| e.1.is_none()));
    let ia = &p.a.engine.ike_sas()[0];
    assert!(!ia.nat_local && !ia.nat_remote && !ia.nat_fake);
    assert!(ia.children.iter().all(|c| !c.encap));
}

/// `encap = yes` on one side: that side fakes a NAT, the other sees the faker behind one; both
/// move to 4500 and encapsulate, nobody sends keepalives.
fn forced(by_initiator: bool) {
    let mut p = seed_pair_with(Settings::default(), |left, c| {
        c.encap = left == by_initiator;
    });
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run_for(Duration::from_secs(70));
    let (faker, other) = if by_initiator {
        (&p.a, &p.b)
    } else {
        (&p.b, &p.a)
    };
    assert!(faker.has_log("[IKE] faking NAT situation to enforce UDP encapsulation"));
    assert!(!faker.has_log("behind NAT"));
    assert!(other.has_log("[IKE] remote host is behind NAT"));
    assert!(!other.has_log("local host is behind NAT"));
    let fi = &faker.engine.ike_sas()[0];
    assert!(fi.established && fi.nat_fake && !fi.nat_local && !fi.nat_remote);
    let oi = &other.engine.ike_sas()[0];
    assert!(oi.nat_remote && !oi.nat_fake && !oi.nat_local);
    for ep in [&p.a, &p.b] {
        let i = &ep.engine.ike_sas()[0];
        assert_eq!((i.local.port(), i.remote.port()), (4500, 4500));
        assert!(encaps(&ep.kernel).iter().all(|e| e.1 == Some((4500, 4500))));
    }
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert!(p.keepalives.is_empty(), "no real NAT, no keepalives");
    let a = routes_of(&p, Side::A);
    assert_eq!(a[0].0.port(), 500);
    assert!(
        a[1..]
            .iter()
            .all(|r| r.0.port() == 4500 && r.1.port() == 4500)
    );
}

#[test]
fn encap_yes_on_the_initiator_forces_udp_encapsulation() {
    forced(true);
}

#[test]
fn encap_yes_on_the_responder_forces_udp_encapsulation() {
    forced(false);
}
