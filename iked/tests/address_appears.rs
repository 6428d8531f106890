//! A local address that appears after the start (issue 16 §2), in a network namespace on the
//! host: iked starts although `local_addrs` is not on any interface yet, says so, installs the
//! child's trap policies at once, listens on the wildcard addresses, and when the address is
//! added (an `RTM_NEWADDR` event) it runs `start_action = start`.
//! Needs root and `ip`; fails under CI=true without them.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn the_connection_starts_when_its_address_appears() {
    let Some(ns) = Netns::new("A", &[]) else {
        return;
    };
    let sh = |cmd: &str| ns.sh(cmd);
    // The interface is there, the address is not.
    sh(
        "ip link set lo up && ip link add d0 type veth peer name d1 && ip link set d0 up && ip link set d1 up",
    );

    let dir = scratch("addr-appears");
    let conf = seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2").replace(
        "hw_offload = packet",
        "hw_offload = no\n        start_action = trap|start",
    );
    let conf_path = dir.join("swanctl.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let strongswan_conf = dir.join("strongswan.conf");
    std::fs::write(&strongswan_conf, "").unwrap();
    let socket = dir.join("iked.vici");
    let log = dir.join("iked.log");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(env!("CARGO_BIN_EXE_iked"))
        .arg("--config")
        .arg(&conf_path)
        .arg("--vici-socket")
        .arg(&socket)
        .arg("--strongswan-conf")
        .arg(&strongswan_conf)
        .args(["--kernel", "xfrm"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut procs = Processes::default();
    procs.add("iked", child);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_for(&socket, Duration::from_secs(10)),
        "iked must start without its local address:\n{}",
        read_log()
    );
    let early = read_log();
    assert!(
        early.contains("local address [192.168.50.1] is not on this host yet"),
        "{early}"
    );
    assert!(!early.contains("initiating BFL-BFR"), "{early}");
    // The trap policies do not need the address.
    let policies = Command::new("ip")
        .args(["-n", &ns.0, "xfrm", "policy"])
        .output()
        .unwrap();
    let policies = String::from_utf8_lossy(&policies.stdout).into_owned();
    assert!(
        policies.contains("src 192.168.50.1 dst 192.168.50.2")
            // The first trap reqid (16777216) in iked's kernel reqid range (0x69000000 + ...).
            && policies.contains("reqid 1778384896"),
        "trap policies while waiting: {policies}\n{early}"
    );

    sh("ip addr add 192.168.50.1/24 dev d0");
    let up = eventually(Duration::from_secs(10), || {
        let log = read_log();
        log.contains("connection 'BFL-BFR': its local address appeared")
            && log.contains("initiating IKE_SA BFL-BFR[1] to 192.168.50.2")
    });
    assert!(up, "no start once the address appeared:\n{}", read_log());
    let sas = String::from_utf8_lossy(&ikectl(&socket, &["list-sas"]).stdout).into_owned();
    assert!(sas.contains("BFL-BFR: #"), "{sas}\n{}", read_log());
}
