//! Tests of the kernel backends: the recording backend, the request-to-XFRM conversions, the
//! monitor's idle handling and (as root, in a private network namespace) the netlink backend
//! against the real kernel. Other modules' kernel tests use the builders here (`test_sa`).

use super::*;
use iked_ike::engine::KernelRequestId;

#[test]
fn recording_answers_and_allocates_in_charon_range() {
    let mut k = Recording::new();
    let a: IpAddr = "192.168.50.2".parse().unwrap();
    let b: IpAddr = "192.168.50.1".parse().unwrap();
    let mut spis = Vec::new();
    for i in 0..3 {
        match k.handle(KernelRequest::AllocateSpi {
            id: KernelRequestId(i),
            child: ChildSaId(1),
            src: a,
            dst: b,
        }) {
            Some(KernelEvent::SpiAllocated { id, spi }) => {
                assert_eq!(id, KernelRequestId(i));
                assert!((0xc000_0000..=0xcfff_ffff).contains(&spi));
                spis.push(spi);
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    spis.dedup();
    assert_eq!(spis.len(), 3, "SPIs are unique");
    assert_eq!(k.records().len(), 3);
    assert!(
        k.handle(KernelRequest::DeleteSa {
            child: ChildSaId(1),
            src: a,
            dst: b,
            spi: spis[0]
        })
        .is_none()
    );
    assert!(k.records()[3].contains("delete sa"));
}

#[test]
fn recording_keeps_a_bounded_number_of_lines() {
    let mut k = Recording::new();
    let a: IpAddr = "192.168.50.2".parse().unwrap();
    let b: IpAddr = "192.168.50.1".parse().unwrap();
    let n = RECORDS_KEPT as u64 + 100;
    for i in 0..n {
        let answer = k.handle(KernelRequest::AllocateSpi {
            id: KernelRequestId(i),
            child: ChildSaId(1),
            src: a,
            dst: b,
        });
        assert!(matches!(answer, Some(KernelEvent::SpiAllocated { .. })));
    }
    assert_eq!(k.records().len(), RECORDS_KEPT);
    assert!(k.records()[0].contains("spi 0xc0000001"));
}

/// A CHILD_SA's SA in the seed's addresses with CBC/HMAC keys (a host kernel may lack the
/// GCM module), no offload: the kernel tests' one builder (`policy_share`, `larval_expiry`).
pub(crate) fn test_sa(
    child: u32,
    direction: Direction,
    spi: u32,
) -> Box<iked_ike::engine::SaInstall> {
    use iked_ike::proposal::{Transform, encr, integ};
    use iked_ike::wire::TransformType;
    let l: IpAddr = "192.168.50.1".parse().unwrap();
    let r: IpAddr = "192.168.50.2".parse().unwrap();
    let (src, dst) = if direction == Direction::Out {
        (l, r)
    } else {
        (r, l)
    };
    Box::new(iked_ike::engine::SaInstall {
        child: ChildSaId(child),
        reqid: child,
        direction,
        src,
        dst,
        spi,
        encr: Transform::with_key(TransformType::ENCR, encr::AES_CBC, 128),
        encr_key: iked_ike::suite::Secret::new(vec![0x11; 16]),
        integ: integ::HMAC_SHA2_256_128,
        integ_key: iked_ike::suite::Secret::new(vec![0x22; 32]),
        esn: true,
        replay_window: 32,
        mode: iked_ike::config::Mode::Transport,
        local_ts: vec![],
        remote_ts: vec![],
        lifetimes: iked_ike::engine::KernelLifetimes {
            soft_secs: 3240,
            hard_secs: 3960,
            ..Default::default()
        },
        hw_offload: iked_ike::config::HwOffload::No,
        encap: None,
        marks: Default::default(),
    })
}

/// The seed's child {7}: AES-GCM-16 128 with packet offload.
fn seed_sa(direction: Direction, spi: u32) -> Box<iked_ike::engine::SaInstall> {
    use iked_ike::proposal::{Transform, encr};
    use iked_ike::wire::TransformType;
    let mut sa = test_sa(7, direction, spi);
    sa.encr = Transform::with_key(TransformType::ENCR, encr::AES_GCM_16, 128);
    sa.encr_key = iked_ike::suite::Secret::new(vec![0x11; 20]);
    sa.integ = 0;
    sa.integ_key = iked_ike::suite::Secret::new(Vec::new());
    sa.hw_offload = iked_ike::config::HwOffload::Packet;
    sa
}

#[test]
fn seed_child_maps_onto_one_xfrm_install() {
    use iked_ike::ts::TrafficSelector as Ts;
    let l: IpAddr = "192.168.50.1".parse().unwrap();
    let r: IpAddr = "192.168.50.2".parse().unwrap();
    let out_policy = iked_ike::engine::PolicyInstall {
        child: ChildSaId(7),
        reqid: 7,
        direction: Direction::Out,
        src_ts: Ts::parse("192.168.50.0/24[udp]").unwrap(),
        dst_ts: Ts::parse("192.168.50.0/24[udp/4789]").unwrap(),
        tmpl_src: l,
        tmpl_dst: r,
        mode: iked_ike::config::Mode::Transport,
        hw_offload: iked_ike::config::HwOffload::Packet,
    };
    let batch = Batch {
        ids: vec![],
        sa_in: Some(seed_sa(Direction::In, 0xc000_0001)),
        sa_out: Some(seed_sa(Direction::Out, 0xc000_0002)),
        policies: vec![out_policy],
    };
    let spec = build_child_install(ChildSaId(7), &batch).unwrap();
    assert_eq!((spec.local, spec.remote), (l, r));
    assert_eq!(spec.reqid, 7);
    assert_eq!(spec.spi_in, iked_xfrm::Spi(0xc000_0001));
    assert_eq!(spec.spi_out, iked_xfrm::Spi(0xc000_0002));
    assert_eq!(spec.hw_offload, iked_xfrm::HwOffload::Packet);
    assert!(spec.esn);
    assert!(matches!(
        &spec.transform_out,
        iked_xfrm::EspTransform::Aead { name, icv_bits: 128, .. } if name == "rfc4106(gcm(aes))"
    ));
    assert_eq!(spec.lifetimes_out.soft_add_seconds, 3240);
    assert_eq!(spec.lifetimes_out.hard_bytes, None);
    let sel = spec.selectors[0];
    assert_eq!((sel.src_prefix, sel.dst_prefix, sel.proto), (24, 24, 17));
    assert_eq!(sel.dport, iked_xfrm::Port::exact(4789));
    assert_eq!(sel.sport, iked_xfrm::Port::ANY);
    // A batch without its outbound SA cannot be installed.
    let partial = Batch {
        sa_out: None,
        ..batch
    };
    assert!(build_child_install(ChildSaId(7), &partial).is_err());
}

#[test]
fn nat_t_child_installs_esp_in_udp_with_each_sas_ports() {
    // BFR's view of BFL behind a NAT that maps BFL's 4500 to 31001.
    let mut sa_in = seed_sa(Direction::In, 0xc000_0001);
    sa_in.encap = Some((31001, 4500));
    let mut sa_out = seed_sa(Direction::Out, 0xc000_0002);
    sa_out.encap = Some((4500, 31001));
    let batch = Batch {
        ids: vec![],
        sa_in: Some(sa_in),
        sa_out: Some(sa_out),
        policies: vec![],
    };
    let spec = build_child_install(ChildSaId(7), &batch).unwrap();
    assert_eq!(spec.nat_t_ports, Some((4500, 31001)));
    let (xin, xout) =
        iked_xfrm::client::child_sa_specs(&spec, iked_xfrm::OffloadMode::None, None, true, true);
    let ports = |e: Option<iked_xfrm::NatTEncap>| e.map(|e| (e.sport, e.dport));
    assert_eq!(ports(xout.encap), Some((4500, 31001)));
    assert_eq!(ports(xin.encap), Some((31001, 4500)));
}

/// What `finish_batch` stores for a CHILD_SA `install_child` accepted (no kernel needed).
fn installed_entry(spec: &iked_xfrm::ChildInstall) -> InstalledEntry {
    let sa = |dst, spi| iked_xfrm::SaId {
        dst,
        spi: iked_xfrm::Spi(spi),
        protocol: iked_xfrm::IpsecProtocol::Esp,
        mark: None,
    };
    let kernel = iked_xfrm::InstalledChild {
        offload: iked_xfrm::OffloadMode::Packet,
        sa_in_offload: iked_xfrm::OffloadMode::Packet,
        sa_out_offload: iked_xfrm::OffloadMode::Packet,
        device: Some((3, "eth1".into())),
        sa_in: sa(spec.local, spec.spi_in.0),
        sa_out: sa(spec.remote, spec.spi_out.0),
        policies: vec![],
        policy_specs: vec![],
        fallback_reasons: vec![],
    };
    InstalledEntry::new(kernel, spec)
}

#[test]
fn rekey_batch_inherits_the_installed_childs_policies() {
    use iked_ike::ts::TrafficSelector as Ts;
    // The first CHILD_SA {7}, installed with narrowed transport-mode /32 selectors (as
    // strongSwan narrows the seed's 192.168.50.0/24 for host-to-host).
    let first = Batch {
        ids: vec![],
        sa_in: Some(seed_sa(Direction::In, 0xc000_0001)),
        sa_out: Some(seed_sa(Direction::Out, 0xc000_0002)),
        policies: vec![iked_ike::engine::PolicyInstall {
            child: ChildSaId(7),
            reqid: 7,
            direction: Direction::Out,
            src_ts: Ts::parse("192.168.50.1/32[udp]").unwrap(),
            dst_ts: Ts::parse("192.168.50.2/32[udp/4789]").unwrap(),
            tmpl_src: "192.168.50.1".parse().unwrap(),
            tmpl_dst: "192.168.50.2".parse().unwrap(),
            mode: iked_ike::config::Mode::Transport,
            hw_offload: iked_ike::config::HwOffload::Packet,
        }],
    };
    let InstallPlan::Fresh(first_spec) =
        plan_install(ChildSaId(7), &first, &HashMap::new()).unwrap()
    else {
        panic!("a batch with policies is a new CHILD_SA");
    };
    assert_eq!(first_spec.selectors.len(), 1);
    let mut installed = HashMap::new();
    installed.insert(ChildSaId(7), installed_entry(&first_spec));

    // The engine's rekey of {7} as {9}: same reqid, two AddSa, no AddPolicy.
    let rekeyed_sa = |direction, spi| {
        let mut sa = seed_sa(direction, spi);
        sa.child = ChildSaId(9);
        sa
    };
    let rekey = Batch {
        ids: vec![],
        sa_in: Some(rekeyed_sa(Direction::In, 0xc000_0003)),
        sa_out: Some(rekeyed_sa(Direction::Out, 0xc000_0004)),
        policies: vec![],
    };
    let InstallPlan::Rekey { old, spec } = plan_install(ChildSaId(9), &rekey, &installed).unwrap()
    else {
        panic!("a policy-less batch with an installed reqid is a rekey");
    };
    assert_eq!(old, ChildSaId(7));
    assert_eq!(spec.selectors, first_spec.selectors);
    assert_eq!(spec.policies_fwd_out, first_spec.policies_fwd_out);
    assert_eq!(spec.mode, iked_xfrm::Mode::Transport);
    assert_eq!(spec.reqid, 7);
    assert_eq!(
        (spec.spi_in, spec.spi_out),
        (iked_xfrm::Spi(0xc000_0003), iked_xfrm::Spi(0xc000_0004))
    );

    // Once {9} took the policies over, {7} is no predecessor any more: a further
    // policy-less batch must rekey {9}, not {7}.
    installed.get_mut(&ChildSaId(7)).unwrap().owns_policies = false;
    installed.insert(ChildSaId(9), installed_entry(&spec));
    let again = Batch {
        ids: vec![],
        sa_in: Some(seed_sa(Direction::In, 0xc000_0005)),
        sa_out: Some(seed_sa(Direction::Out, 0xc000_0006)),
        policies: vec![],
    };
    assert!(matches!(
        plan_install(ChildSaId(11), &again, &installed).unwrap(),
        InstallPlan::Rekey {
            old: ChildSaId(9),
            ..
        }
    ));

    // A policy-less batch whose reqid matches nothing installed is not a rekey (and,
    // without selectors, install_child will refuse it).
    let mut stranger = seed_sa(Direction::Out, 0xc000_0008);
    stranger.reqid = 42;
    let orphan = Batch {
        ids: vec![],
        sa_in: Some(seed_sa(Direction::In, 0xc000_0007)),
        sa_out: Some(stranger),
        policies: vec![],
    };
    let InstallPlan::Fresh(orphan_spec) = plan_install(ChildSaId(12), &orphan, &installed).unwrap()
    else {
        panic!("no installed CHILD_SA has reqid 42");
    };
    assert!(orphan_spec.selectors.is_empty());
}

#[test]
fn monitor_treats_receive_timeouts_as_idle() {
    let timeout = |kind: std::io::ErrorKind| iked_xfrm::XfrmError::Socket {
        context: "recv",
        source: std::io::Error::from(kind),
    };
    // EAGAIN/EWOULDBLOCK from SO_RCVTIMEO, as the lab logged it (os error 11).
    let eagain = iked_xfrm::XfrmError::Socket {
        context: "recv",
        source: std::io::Error::from_raw_os_error(libc::EAGAIN),
    };
    assert_eq!(monitor_step(Err(eagain)), MonitorStep::Idle);
    assert_eq!(
        monitor_step(Err(timeout(std::io::ErrorKind::WouldBlock))),
        MonitorStep::Idle
    );
    // ENOBUFS: events were lost; the backend resynchronises from a dump.
    let enobufs = iked_xfrm::XfrmError::Socket {
        context: "recv",
        source: std::io::Error::from_raw_os_error(libc::ENOBUFS),
    };
    assert_eq!(monitor_step(Err(enobufs)), MonitorStep::Overflow);
    // Any other failure is still reported.
    let eio = iked_xfrm::XfrmError::Socket {
        context: "recv",
        source: std::io::Error::from_raw_os_error(libc::EIO),
    };
    assert!(matches!(monitor_step(Err(eio)), MonitorStep::Failed(m) if m.contains("recv")));
    assert_eq!(monitor_step(Ok(vec![])), MonitorStep::Events(vec![]));
    assert_eq!(
        monitor_step(Ok(vec![iked_xfrm::XfrmEvent::Other(0)])),
        MonitorStep::Events(vec![])
    );
}

/// Runs `f` on a thread inside a fresh network namespace (root only), so the test sees
/// only the SAs it creates and leaves nothing behind: the namespace dies with the thread.
pub(super) fn in_private_netns(f: impl FnOnce() + Send + 'static) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        // CI runs as root: there a missing privilege would make the test pass untested.
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "needs root under CI=true for a private network namespace"
        );
        eprintln!("skipped: needs root for a private network namespace");
        return false;
    }
    std::thread::spawn(move || {
        // SAFETY: unshare(CLONE_NEWNET) only changes this thread's network namespace; the
        // thread touches no sockets opened before the call.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
        f();
    })
    .join()
    .expect("netns test thread");
    true
}

/// Reserves an inbound SPI for `child` (ALLOCSPI) in the seed's addresses.
pub(crate) fn allocate(k: &mut Xfrm, id: u64, child: u32) -> u32 {
    match k.handle(KernelRequest::AllocateSpi {
        id: KernelRequestId(id),
        child: ChildSaId(child),
        src: "192.168.50.2".parse().unwrap(),
        dst: "192.168.50.1".parse().unwrap(),
    }) {
        Some(KernelEvent::SpiAllocated { spi, .. }) => spi,
        other => panic!("ALLOCSPI: {other:?}"),
    }
}

#[test]
fn reserved_spis_never_outlive_their_child() {
    in_private_netns(|| {
        let mut k = Xfrm::open(
            std::sync::Arc::new(tokio::sync::Notify::new()),
            Default::default(),
        )
        .unwrap();
        let sa_count = |k: &mut Xfrm| k.client.list_sas().unwrap().len();

        // Released by the engine (child failed before install): DELSA of the larval SA.
        let spi = allocate(&mut k, 1, 1);
        assert_eq!(sa_count(&mut k), 1, "ALLOCSPI leaves a larval SA");
        assert!(
            k.handle(KernelRequest::DeleteSa {
                child: ChildSaId(1),
                src: "192.168.50.2".parse().unwrap(),
                dst: "192.168.50.1".parse().unwrap(),
                spi,
            })
            .is_none()
        );
        assert_eq!(sa_count(&mut k), 0, "released SPI is deleted");

        // Install failure: packet offload for an address no interface holds. The larval
        // SA goes at once and the reason is kept for list-sas.
        let spi = allocate(&mut k, 2, 7);
        assert!(
            k.handle(KernelRequest::AddSa {
                id: KernelRequestId(3),
                sa: seed_sa(Direction::In, spi),
            })
            .is_none()
        );
        assert!(
            k.handle(KernelRequest::AddSa {
                id: KernelRequestId(4),
                sa: seed_sa(Direction::Out, 0xc000_0002),
            })
            .is_none()
        );
        let answers = k.finish_batch();
        assert_eq!(answers.len(), 2);
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, KernelEvent::InstallFailed { .. }))
        );
        assert_eq!(sa_count(&mut k), 0, "no larval SA after a failed install");
        let failure = k.install_failure(ChildSaId(7)).expect("failure kept");
        assert_eq!(failure.offload_requested, "packet");
        assert!(!failure.reason.is_empty());
        assert_eq!(k.offload_in_force(ChildSaId(7)), None);

        // Shutdown removes whatever is still reserved.
        allocate(&mut k, 5, 8);
        allocate(&mut k, 6, 9);
        assert_eq!(sa_count(&mut k), 2);
        k.remove_all();
        assert_eq!(sa_count(&mut k), 0, "remove_all leaves no SA");
        assert_eq!(k.install_failure(ChildSaId(7)), None);
    });
}

#[test]
fn prefixes_from_ranges() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(range_prefix(ip("10.0.0.0"), ip("10.0.0.255")), 24);
    assert_eq!(range_prefix(ip("10.0.0.1"), ip("10.0.0.1")), 32);
    assert_eq!(range_prefix(ip("0.0.0.0"), ip("255.255.255.255")), 0);
    assert_eq!(range_prefix(ip("fd00::"), ip("fd00::ffff")), 112);
}
