//! `start_action = trap` through the real netlink XFRM backend, in a network namespace on the
//! host: iked installs trap policies (which the host kernel accepts without ESP), traffic
//! matching them makes the kernel raise ACQUIRE, and iked starts the IKE SA for that child;
//! on SIGTERM iked removes its policies again.
//! Needs root and `ip`: without them it fails under `CI=true` (`missing_prerequisite`) and
//! otherwise skips with a printed reason.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn trap_policy_acquire_starts_the_child() {
    let Some(ns) = Netns::new("T", &[]) else {
        return;
    };
    let sh = |cmd: &str| ns.sh(cmd);
    sh(
        "ip link set lo up && ip link add d0 type veth peer name d1 && ip addr add 192.168.50.1/24 dev d0 && ip link set d0 up && ip link set d1 up",
    );

    let dir = scratch("trap");
    let conf = seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2").replace(
        "hw_offload = packet",
        "hw_offload = no\n        start_action = trap",
    );
    let conf_path = dir.join("swanctl.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let socket = dir.join("iked.vici");
    let log = dir.join("iked.log");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(env!("CARGO_BIN_EXE_iked"))
        .arg("--config")
        .arg(&conf_path)
        .arg("--vici-socket")
        .arg(&socket)
        .args(["--kernel", "xfrm"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut procs = Processes::default();
    procs.add("iked", child);
    assert!(
        wait_for(&socket, Duration::from_secs(10)),
        "iked did not start"
    );
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let policies = Command::new("ip")
        .args(["-n", &ns.0, "xfrm", "policy"])
        .output()
        .unwrap();
    let policies = String::from_utf8_lossy(&policies.stdout).into_owned();
    assert!(
        policies.contains("dir out")
            && policies.contains("proto esp reqid 1778384896 mode transport"),
        "trap policies: {policies}\n{}",
        read_log()
    );
    let listed = String::from_utf8_lossy(&ikectl(&socket, &["list-pols"]).stdout).into_owned();
    assert!(listed.starts_with("BFL-BFR/bf-out, TRANSPORT"), "{listed}");

    // Matching traffic (UDP to 4789 on the peer's subnet) triggers ACQUIRE.
    sh(
        "echo x | timeout 1 nc -u -w1 192.168.50.2 4789 || python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('192.168.50.1', 0)); s.sendto(b'x', ('192.168.50.2', 4789))\" || true",
    );
    let mut acquired = false;
    for _ in 0..50 {
        if read_log().contains("acquire for reqid 16777216: initiating BFL-BFR/bf-out") {
            acquired = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(acquired, "no ACQUIRE handled:\n{}", read_log());

    // The ACQUIRE started an IKE SA for the trapped connection.
    let out = ikectl(&socket, &["--json", "list-sas"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("BFL-BFR"));

    // SIGTERM (the guard sends it): iked leaves no policy of its own behind, as charon.
    drop(procs);
    let policies = Command::new("ip")
        .args(["-n", &ns.0, "xfrm", "policy"])
        .output()
        .unwrap();
    let policies = String::from_utf8_lossy(&policies.stdout).into_owned();
    assert!(
        policies.trim().is_empty(),
        "policies left after SIGTERM: {policies}\n{}",
        read_log()
    );
}
