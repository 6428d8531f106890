//! Tests against the running kernel's XFRM, each in a private network namespace that the
//! test creates (`unshare(CLONE_NEWNET)` on a dedicated thread, so neither the host's nor
//! another test's SAs and policies are touched). They need root; without it they print why
//! and return. The host kernel here has XFRM but no ESP, so these cover what works without
//! ESP: ALLOCSPI, policies, ACQUIRE events, kernel error reporting, link events and the
//! offload pre-checks. SA installation and traffic are covered by `examples/lab_check.rs`
//! in the lab VM.

use std::net::{IpAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use iked_xfrm::client::ChildInstall;
use iked_xfrm::link::{self, LinkMonitor};
use iked_xfrm::msg::{PolicyAction, PolicySpec, TemplateSpec};
use iked_xfrm::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Run `f` on a fresh thread inside a new, empty network namespace (loopback up).
fn in_netns<F: FnOnce() + Send + 'static>(name: &str, f: F) {
    if !is_root() {
        // Under CI the set-up runs as root, so a missing privilege means the tier would pass
        // without testing anything: fail instead of skipping.
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{name}: needs root (CAP_NET_ADMIN) under CI=true to create a network namespace"
            );
        }
        println!("SKIP {name}: needs root (CAP_NET_ADMIN) to create a network namespace");
        return;
    }
    let handle = std::thread::spawn(move || {
        // SAFETY: unshare(CLONE_NEWNET) only changes this thread's network namespace.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
        sh("ip link set lo up");
        f();
    });
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Run a shell command in the calling thread's namespace (children inherit it).
fn sh(cmd: &str) {
    let status = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(status.success(), "command failed: {cmd}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn vxlan_selector(src: &str, dst: &str) -> TrafficSelector {
    TrafficSelector::host_to_host(ip(src), ip(dst)).with_proto(17, Port::ANY, Port::exact(4789))
}

fn esp_policy(selector: TrafficSelector, direction: PolicyDirection, reqid: u32) -> PolicySpec {
    PolicySpec {
        selector,
        direction,
        priority: priority::priority(&selector, priority::PriorityClass::Default),
        action: PolicyAction::Allow,
        templates: vec![TemplateSpec {
            src: None,
            dst: None,
            spi: None,
            protocol: IpsecProtocol::Esp,
            mode: Mode::Transport,
            reqid,
            optional: false,
        }],
        mark: None,
        if_id: None,
        offload_ifindex: None,
        update: false,
    }
}

use iked_xfrm::priority;

#[test]
fn allocspi_returns_spi_in_range_and_larval_sa_can_be_read_and_deleted() {
    in_netns("allocspi", || {
        let mut client = XfrmClient::new().unwrap();
        let remote = ip("10.10.0.2");
        let local = ip("10.10.0.1");
        let spi = client
            .alloc_spi(remote, local, IpsecProtocol::Esp, 42)
            .unwrap();
        assert!(
            (client::SPI_MIN..=client::SPI_MAX).contains(&spi.0),
            "SPI {spi} outside strongSwan's range"
        );
        let second = client
            .alloc_spi(remote, local, IpsecProtocol::Esp, 43)
            .unwrap();
        assert_ne!(spi, second, "two allocations must not share an SPI");

        let id = msg::SaId {
            dst: local,
            spi,
            protocol: IpsecProtocol::Esp,
            mark: None,
        };
        let state = client.get_sa(&id).unwrap();
        assert_eq!(state.spi, spi);
        assert_eq!(state.dst, local);
        assert_eq!(state.src, remote);
        assert_eq!(state.protocol, 50);
        assert_eq!(state.offload_mode(), OffloadMode::None);
        if client.options().sa_dir {
            assert_eq!(state.sa_dir, Some(consts::XFRM_SA_DIR_IN));
        }

        client.delete_sa(&id).unwrap();
        let again = client.delete_sa(&id).unwrap_err();
        assert!(again.is_not_found(), "second delete: {again}");
        let msg = again.to_string();
        assert!(msg.contains(&spi.to_string()), "error names the SPI: {msg}");
    });
}

#[test]
fn udp_4789_policies_add_get_delete() {
    in_netns("policies", || {
        let mut client = XfrmClient::new().unwrap();
        let out_sel = vxlan_selector("192.168.50.1", "192.168.50.2");
        let in_sel = out_sel.reversed();
        let out = esp_policy(out_sel, PolicyDirection::Out, 7);
        let inbound = esp_policy(in_sel, PolicyDirection::In, 7);
        client.add_policy(&out).unwrap();
        client.add_policy(&inbound).unwrap();

        let read = client.get_policy(&out.id()).unwrap();
        assert_eq!(read.selector, out_sel);
        assert_eq!(read.selector.dport, Port::exact(4789));
        assert_eq!(read.selector.proto, 17);
        assert_eq!(read.direction, consts::XFRM_POLICY_OUT);
        assert_eq!(read.priority, 366_911);
        assert_eq!(read.template_reqids, vec![7]);
        assert_eq!(read.offload, None);

        let read_in = client.get_policy(&inbound.id()).unwrap();
        assert_eq!(read_in.selector.sport, Port::exact(4789));
        assert_eq!(read_in.direction, consts::XFRM_POLICY_IN);

        let dup = client.add_policy(&out).unwrap_err();
        assert!(dup.is_exists(), "duplicate add: {dup}");
        assert!(
            dup.to_string()
                .contains("out policy 192.168.50.1/32[udp/any] -> 192.168.50.2/32[udp/4789]"),
            "error names direction and selector: {dup}"
        );

        client.delete_policy(&out.id()).unwrap();
        client.delete_policy(&inbound.id()).unwrap();
        let gone = client.get_policy(&out.id()).unwrap_err();
        assert!(gone.is_not_found(), "{gone}");
    });
}

#[test]
fn packet_offload_policy_on_veth_is_refused_with_kernel_reason() {
    in_netns("policy offload", || {
        sh("ip link add p0 type veth peer name p1 && ip link set p0 up");
        let ifindex = link::ifindex("p0").unwrap() as i32;
        let mut client = XfrmClient::new().unwrap();
        let mut out = esp_policy(
            vxlan_selector("192.168.50.1", "192.168.50.2"),
            PolicyDirection::Out,
            1,
        );
        out.offload_ifindex = Some(ifindex);
        match client.add_policy(&out) {
            Err(err) => {
                assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
                match &err {
                    XfrmError::Kernel { message, .. } => {
                        // 6.2+ explains ("Policy offload is not supported"); not all do.
                        if let Some(m) = message {
                            assert!(m.contains("offload"), "kernel text: {m}");
                        }
                    }
                    other => panic!("expected a kernel error, got {other}"),
                }
                println!("kernel refused packet-offload policy on veth: {err}");
                assert!(client.get_policy(&out.id()).unwrap_err().is_not_found());
            }
            Ok(()) => {
                // A kernel built without CONFIG_XFRM_OFFLOAD (this host's) ignores the
                // offload request: the policy must then read back as software, which is
                // why install_child verifies policies too.
                let read = client.get_policy(&out.id()).unwrap();
                assert_eq!(read.offload, None);
                println!("kernel without XFRM_OFFLOAD accepted the policy in software");
                client.delete_policy(&out.id()).unwrap();
            }
        }
    });
}

#[test]
fn acquire_event_for_traffic_without_sa() {
    in_netns("acquire", || {
        sh(
            "ip link add v0 type veth peer name v1 && ip addr add 10.77.0.1/24 dev v0 \
            && ip link set v0 up && ip link set v1 up",
        );
        let mut client = XfrmClient::new().unwrap();
        let mut monitor = client.events().unwrap();
        monitor.set_timeout(Some(Duration::from_secs(3))).unwrap();
        let sel = vxlan_selector("10.77.0.1", "10.77.0.2");
        client
            .add_policy(&esp_policy(sel, PolicyDirection::Out, 99))
            .unwrap();

        let sock = UdpSocket::bind("10.77.0.1:0").unwrap();
        // The kernel holds or drops the datagram while it asks for an SA; either way the
        // send may fail (EAGAIN), which is expected.
        let _ = sock.send_to(b"vxlan?", "10.77.0.2:4789");

        let mut acquire = None;
        for _ in 0..5 {
            let events = monitor.next_events().unwrap();
            if let Some(XfrmEvent::Acquire(a)) = events
                .into_iter()
                .find(|e| matches!(e, XfrmEvent::Acquire(_)))
            {
                acquire = Some(a);
                break;
            }
        }
        let a = acquire.expect("ACQUIRE event");
        assert_eq!(a.reqid, Some(99));
        assert_eq!(a.dst, ip("10.77.0.2"));
        assert_eq!(a.src, ip("10.77.0.1"));
        assert_eq!(a.protocol, 50);
        assert_eq!(a.selector.dport, Port::exact(4789));
        assert_eq!(a.selector.proto, 17);
        assert_eq!(a.policy_priority, 366_911);
    });
}

#[test]
fn link_events_report_down_and_up() {
    in_netns("link events", || {
        sh("ip link add p0 type veth peer name p1");
        let index = link::ifindex("p0").unwrap();
        assert_eq!(link::ifname(index).as_deref(), Some("p0"));
        let mut monitor = LinkMonitor::new().unwrap();
        monitor.set_timeout(Some(Duration::from_secs(3))).unwrap();
        sh("ip link set p0 up");
        let mut saw_up = false;
        for _ in 0..5 {
            let events = monitor.next_events().unwrap();
            if events.iter().any(|e| e.index == index && e.up) {
                saw_up = true;
                break;
            }
        }
        assert!(saw_up, "RTM_NEWLINK with IFF_UP for p0");
        sh("ip link set p0 down");
        let mut saw_down = false;
        for _ in 0..5 {
            let events = monitor.next_events().unwrap();
            if events.iter().any(|e| e.index == index && !e.up) {
                saw_down = true;
                break;
            }
        }
        assert!(saw_down, "RTM_NEWLINK without IFF_UP for p0");
        let table = link::links().unwrap();
        assert!(
            table
                .iter()
                .any(|l| l.index == index && l.name.as_deref() == Some("p0"))
        );
    });
}

fn child_on_veth(hw_offload: HwOffload) -> ChildInstall {
    let local = ip("192.168.50.1");
    let remote = ip("192.168.50.2");
    ChildInstall {
        local,
        remote,
        mode: Mode::Transport,
        protocol: IpsecProtocol::Esp,
        reqid: 1,
        spi_in: Spi(0xc0000101),
        spi_in_allocated: false,
        spi_out: Spi(0xc0000102),
        transform_in: EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key: SecretKey::new(vec![1; 20]),
            icv_bits: 128,
        },
        transform_out: EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key: SecretKey::new(vec![2; 20]),
            icv_bits: 128,
        },
        esn: true,
        replay_window: 32,
        lifetimes_in: Lifetimes::default(),
        lifetimes_out: Lifetimes::default(),
        selectors: vec![vxlan_selector("192.168.50.1", "192.168.50.2")],
        priority: None,
        policies_fwd_out: true,
        mark_in: None,
        mark_out: None,
        if_id_in: None,
        if_id_out: None,
        set_mark_in: None,
        set_mark_out: None,
        mark_in_sa: false,
        nat_t_ports: None,
        hw_offload,
        offload_device: None,
        acquire_seq: 0,
        proto_port_transport_sa: false,
    }
}

#[test]
fn crypto_offload_on_veth_fails_naming_the_missing_feature() {
    in_netns("crypto offload precheck", || {
        sh(
            "ip link add p0 type veth peer name p1 && ip addr add 192.168.50.1/24 dev p0 \
            && ip link set p0 up",
        );
        let (index, name) = link::interface_for_address(ip("192.168.50.1")).unwrap();
        assert_eq!(name, "p0");
        assert_eq!(index, link::ifindex("p0").unwrap());
        let feature = ethtool::esp_offload("p0")
            .unwrap()
            .expect("kernel knows esp-hw-offload");
        assert!(!feature.active, "veth has no ESP offload");

        let mut client = XfrmClient::new().unwrap();
        let err = client
            .install_child(&child_on_veth(HwOffload::Crypto))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, XfrmError::OffloadUnsupported { .. }) && text.contains("esp-hw-offload"),
            "{text}"
        );
        assert!(text.contains("p0"), "names the device: {text}");
        // Nothing was installed.
        let policies = iked_xfrm::client::child_policy_specs(
            &child_on_veth(HwOffload::No),
            OffloadMode::None,
            None,
        );
        for p in policies {
            assert!(client.get_policy(&p.id()).unwrap_err().is_not_found());
        }
    });
}

#[test]
fn failed_install_reports_kernel_error_for_the_sa_and_leaves_nothing() {
    in_netns("install without ESP", || {
        sh(
            "ip link add p0 type veth peer name p1 && ip addr add 192.168.50.1/24 dev p0 \
            && ip link set p0 up",
        );
        let mut client = XfrmClient::new().unwrap();
        let child = child_on_veth(HwOffload::No);
        match client.install_child(&child) {
            Ok(installed) => {
                // A kernel with ESP (e.g. the lab VM): the install must be complete.
                assert_eq!(installed.offload, OffloadMode::None);
                assert_eq!(installed.policies.len(), 2);
                client.remove_child(&installed).unwrap();
            }
            Err(err) => {
                let text = err.to_string();
                assert!(err.errno().is_some(), "kernel error expected: {text}");
                assert!(text.contains("c0000101"), "names the inbound SPI: {text}");
                println!("host kernel refused the SA as expected: {text}");
            }
        }
        let policies = iked_xfrm::client::child_policy_specs(&child, OffloadMode::None, None);
        for p in policies {
            assert!(client.get_policy(&p.id()).unwrap_err().is_not_found());
        }
    });
}

#[test]
fn nonblocking_monitors_report_would_block_when_idle() {
    in_netns("nonblocking", || {
        let monitor = EventMonitor::new().unwrap();
        monitor.set_nonblocking(true).unwrap();
        let mut monitor = monitor;
        let err = monitor.next_events().unwrap_err();
        assert!(err.is_would_block(), "{err}");
        let links = LinkMonitor::new().unwrap();
        links.set_nonblocking(true).unwrap();
        let mut links = links;
        assert!(links.next_events().unwrap_err().is_would_block());
    });
}

#[test]
fn dumps_list_exactly_what_the_namespace_holds() {
    in_netns("dumps", || {
        let mut client = XfrmClient::new().unwrap();
        assert!(client.list_sas().unwrap().is_empty(), "fresh namespace");
        assert!(
            client.list_policies().unwrap().is_empty(),
            "fresh namespace"
        );
        let spi = client
            .alloc_spi(ip("10.9.0.2"), ip("10.9.0.1"), IpsecProtocol::Esp, 5)
            .unwrap();
        let sel = vxlan_selector("10.9.0.1", "10.9.0.2");
        client
            .add_policy(&esp_policy(sel, PolicyDirection::Out, 5))
            .unwrap();
        client
            .add_policy(&esp_policy(sel.reversed(), PolicyDirection::In, 5))
            .unwrap();
        let sas = client.list_sas().unwrap();
        assert_eq!(sas.len(), 1);
        assert_eq!((sas[0].spi, sas[0].reqid), (spi, 5));
        let policies = client.list_policies().unwrap();
        assert_eq!(policies.len(), 2);
        assert!(policies.iter().all(|p| p.template_reqids == vec![5]));
        assert!(policies.iter().any(|p| p.selector == sel));
    });
}
