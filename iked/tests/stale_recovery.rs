//! Clean recovery after a crash, through the real netlink XFRM backend in a network namespace
//! on the host (which has XFRM but no ESP: larval SAs from ALLOCSPI and policies suffice).
//! An earlier iked's leftovers (iked's reqid range) are found at start and removed unless
//! re-established, the operator's hand-made SA and policy are never touched, a policy the new
//! instance takes over stays, and a SIGKILLed instance's state is cleaned by the next one.
//! Needs root and `ip`; under CI=true a missing prerequisite fails.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::*;

/// iked's first reqid (`iked_xfrm::stale::REQID_BASE`) plus one: what a crashed iked's first
/// CHILD_SA carried.
const LEFTOVER_REQID: u32 = 0x6900_0001;

fn xfrm(ns: &str, what: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "xfrm", what])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start(
    ns: &str,
    dir: &Path,
    conf: &Path,
    tag: &str,
    extra: &[&str],
) -> (Child, std::path::PathBuf) {
    let log = dir.join(format!("{tag}.log"));
    let child = start_xfrm_iked_in(ns, conf, &dir.join(format!("{tag}.vici")), &log, extra);
    (child, log)
}

#[test]
fn leftovers_go_and_the_operators_state_stays() {
    let Some(ns) = Netns::new("S", &[]) else {
        return;
    };
    let sh = |cmd: &str| ns.sh(cmd);
    sh(
        "ip link set lo up && ip link add d0 type veth peer name d1 && ip addr add 192.168.50.1/24 dev d0 && ip link set d0 up && ip link set d1 up",
    );
    // Larval SAs (ALLOCSPI) would otherwise expire after 30 s, whatever iked does.
    sh("sysctl -qw net.core.xfrm_acq_expires=3600");
    // The operator's, by hand: reqid 5 and reqid 0.
    sh("ip xfrm state allocspi src 192.168.50.2 dst 192.168.50.1 proto esp reqid 5 mode transport");
    sh(
        "ip xfrm policy add src 10.9.0.1 dst 10.9.0.2 dir out tmpl proto esp reqid 5 mode transport",
    );
    sh("ip xfrm policy add src 10.9.0.3 dst 10.9.0.4 dir in tmpl proto esp mode transport");
    // A crashed iked's: a reserved SPI, the seed child's OUT policy (which the trap below
    // takes over) and a policy of a child that is gone from the configuration.
    sh(&format!(
        "ip xfrm state allocspi src 192.168.50.2 dst 192.168.50.1 proto esp reqid {LEFTOVER_REQID} mode transport"
    ));
    sh(&format!(
        "ip xfrm policy add src 192.168.50.0/24 dst 192.168.50.0/24 proto udp dport 4789 dir out priority 366975 tmpl src 192.168.50.1 dst 192.168.50.2 proto esp reqid {LEFTOVER_REQID} mode transport"
    ));
    sh(&format!(
        "ip xfrm policy add src 10.8.0.1 dst 10.8.0.2 dir out tmpl proto esp reqid {LEFTOVER_REQID} mode transport"
    ));
    let leftover = format!("reqid {LEFTOVER_REQID} ");

    let dir = scratch("stale");
    let conf = seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2").replace(
        "hw_offload = packet",
        "hw_offload = no\n        start_action = trap",
    );
    let conf_path = dir.join("swanctl.conf");
    std::fs::write(&conf_path, conf).unwrap();

    // First instance, with a long grace: the leftovers stay for now, the one policy in the
    // trap's way is taken over (its template now carries the new instance's reqid).
    let (mut first, log1) = start(&ns.0, &dir, &conf_path, "first", &["--stale-grace", "3600"]);
    let log1_text = || std::fs::read_to_string(&log1).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(10), || log1_text().contains(
            "found 1 SA(s) and 2 policy(ies) of an earlier iked instance"
        )),
        "leftovers not found:\n{}",
        log1_text()
    );
    let states = xfrm(&ns.0, "state");
    assert!(
        states.contains(&leftover),
        "the leftover SA went before its time: {states}"
    );
    let taken_over = eventually(Duration::from_secs(10), || {
        let p = xfrm(&ns.0, "policy");
        p.matches(&leftover).count() == 1 && p.matches(" 4789").count() == 2
    });
    // Crash: SIGKILL leaves the first instance's trap policies and the old leftovers.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        taken_over,
        "the trap did not take the leftover policy over: {}\n{}",
        xfrm(&ns.0, "policy"),
        log1_text()
    );

    // Second instance, told to flush at once.
    let (second, log2) = start(&ns.0, &dir, &conf_path, "second", &["--flush-stale"]);
    let mut procs = Processes::default();
    procs.add("iked", second);
    let log2_text = || std::fs::read_to_string(&log2).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(10), || log2_text()
            .contains("stale SA(s)")),
        "no sweep:\n{}",
        log2_text()
    );
    let states = xfrm(&ns.0, "state");
    let policies = xfrm(&ns.0, "policy");
    assert!(
        !states.contains(&leftover),
        "leftover SA kept: {states}\n{}",
        log2_text()
    );
    assert!(
        !policies.contains(&leftover),
        "leftover policy kept: {policies}"
    );
    assert!(
        !policies.contains("10.8.0.1"),
        "a gone child's policy kept: {policies}"
    );
    assert_eq!(
        policies.matches(" 4789").count(),
        2,
        "the trap policies (in, out) of this instance: {policies}"
    );
    // Never touched: the operator's SA (reqid 5) and both hand-made policies.
    assert!(
        states.contains("reqid 5 "),
        "operator's SA removed: {states}"
    );
    assert!(
        policies.contains("10.9.0.1") && policies.contains("10.9.0.3"),
        "{policies}"
    );

    // SIGTERM: this instance removes its own state and still leaves the operator's alone.
    drop(procs);
    let states = xfrm(&ns.0, "state");
    let policies = xfrm(&ns.0, "policy");
    assert!(
        !policies.contains(" 4789"),
        "trap policies left: {policies}"
    );
    assert!(
        states.contains("reqid 5 "),
        "operator's SA removed on stop: {states}"
    );
    assert!(
        policies.contains("10.9.0.1") && policies.contains("10.9.0.3"),
        "{policies}"
    );
}
