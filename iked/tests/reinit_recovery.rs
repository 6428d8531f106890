//! After a crash, iked re-establishes by itself the tunnels the earlier instance left in the
//! kernel (issue 17 §1): leftovers in iked's reqid range whose selectors are a loaded child's
//! make iked initiate towards that connection's peer at start; leftovers that belong to no
//! loaded connection make it initiate nothing (they are only swept). Real netlink XFRM in a
//! network namespace; the "peer" is a UDP socket on 192.168.50.2:500 that records the first
//! datagram it gets. Needs root, `ip` and python3; under CI=true a missing prerequisite fails.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::*;

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A reqid from iked's range (`iked_xfrm::stale::REQID_BASE` + 1), as a crashed iked left it.
const LEFTOVER_REQID: u32 = 0x6900_0001;

fn sh(ns: &str, cmd: &str) {
    let ok = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", cmd])
        .status()
        .unwrap()
        .success();
    assert!(ok, "{cmd}");
}

/// A UDP socket on the peer's IKE port that writes the first datagram it receives to `out`.
fn fake_peer(ns: &str, out: &Path) -> Child {
    let script = "import socket,sys\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
        s.bind(('192.168.50.2',500))\n\
        open(sys.argv[1]+'.ready','w').close()\n\
        d,a=s.recvfrom(65535)\n\
        open(sys.argv[1]+'.tmp','wb').write(d)\n\
        import os; os.rename(sys.argv[1]+'.tmp',sys.argv[1])\n";
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", script])
        .arg(out)
        .spawn()
        .unwrap();
    assert!(
        wait_for(
            Path::new(&format!("{}.ready", out.display())),
            Duration::from_secs(20)
        ),
        "the fake peer did not start"
    );
    child
}

fn start(ns: &str, dir: &Path, tag: &str) -> (Child, std::path::PathBuf) {
    let conf = seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2")
        .replace("hw_offload = packet", "hw_offload = no");
    let conf_path = dir.join(format!("{tag}.conf"));
    std::fs::write(&conf_path, conf).unwrap();
    let log = dir.join(format!("{tag}.log"));
    let child = start_xfrm_iked_in(
        ns,
        &conf_path,
        &dir.join(format!("{tag}.vici")),
        &log,
        &["--flush-stale"],
    );
    (child, log)
}

#[test]
fn leftovers_of_a_known_child_make_iked_initiate_unknown_ones_do_not() {
    if !is_root() || !have("ip") || !have("python3") {
        missing_prerequisite("root, iproute2 and python3 for a network namespace");
        return;
    }
    let name = format!("ikedR{}", std::process::id() % 100_000);
    if !Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap()
        .success()
    {
        missing_prerequisite("a network namespace (ip netns add failed)");
        return;
    }
    let ns = Ns(name);
    sh(
        &ns.0,
        "ip link set lo up && ip link add d0 type veth peer name d1 && ip addr add 192.168.50.1/24 dev d0 && ip addr add 192.168.50.2/24 dev d1 && ip link set d0 up && ip link set d1 up",
    );
    let dir = scratch("reinit");
    let wire = dir.join("peer.bin");
    // Larval SAs (ALLOCSPI) would otherwise expire after 30 s.
    sh(&ns.0, "sysctl -qw net.core.xfrm_acq_expires=3600");
    let mut peer = fake_peer(&ns.0, &wire);
    let mut procs = Processes::default();

    // 1. Leftovers of a child no loaded connection has: nothing is initiated.
    sh(
        &ns.0,
        &format!(
            "ip xfrm policy add src 10.8.0.1 dst 10.8.0.2 dir out tmpl proto esp reqid {LEFTOVER_REQID} mode transport"
        ),
    );
    let (first, log1) = start(&ns.0, &dir, "unknown");
    procs.add("iked-unknown", first);
    let text1 = || std::fs::read_to_string(&log1).unwrap_or_default();
    // The decision is taken at start, before the sockets are bound: once it is logged, an
    // initiation would have been logged (and sent) too.
    assert!(
        eventually(Duration::from_secs(10), || text1()
            .contains("belong to no loaded connection")),
        "no decision about the unknown leftovers:\n{}",
        text1()
    );
    assert!(
        eventually(Duration::from_secs(10), || text1().contains("stale SA(s)")),
        "no sweep:\n{}",
        text1()
    );
    assert!(
        !text1().contains("re-establishing") && !wire.exists(),
        "initiated for leftovers of no loaded connection:\n{}",
        text1()
    );
    drop(procs);

    // 2. A crashed instance's (larval) SA and policy of the loaded child bf-out: iked initiates to
    // the connection's peer at start, without being told to.
    sh(
        &ns.0,
        &format!(
            "ip xfrm state allocspi src 192.168.50.2 dst 192.168.50.1 proto esp reqid {LEFTOVER_REQID} mode transport"
        ),
    );
    sh(
        &ns.0,
        &format!(
            "ip xfrm policy add src 192.168.50.0/24 dst 192.168.50.0/24 proto udp dport 4789 dir out tmpl src 192.168.50.1 dst 192.168.50.2 proto esp reqid {LEFTOVER_REQID} mode transport"
        ),
    );
    let mut procs = Processes::default();
    let (second, log2) = start(&ns.0, &dir, "known");
    procs.add("iked-known", second);
    let text2 = || std::fs::read_to_string(&log2).unwrap_or_default();
    let got = eventually(Duration::from_secs(20), || wire.exists());
    let _ = peer.kill();
    let _ = peer.wait();
    assert!(got, "no IKE datagram reached the peer:\n{}", text2());
    let datagram = std::fs::read(&wire).unwrap();
    // IKE header: initiator SPI (8), responder SPI (8), next payload, version, exchange type.
    assert!(datagram.len() > 28, "short datagram: {datagram:02x?}");
    assert_eq!(datagram[18], 34, "not an IKE_SA_INIT: {datagram:02x?}");
    assert_eq!(&datagram[8..16], &[0; 8], "responder SPI of a new IKE SA");
    assert_ne!(&datagram[0..8], &[0; 8]);
    let log = text2();
    assert!(
        log.contains("re-establishing BFL-BFR [\"bf-out\"] left by an earlier iked instance"),
        "{log}"
    );
}
