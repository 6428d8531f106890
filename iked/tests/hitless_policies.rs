//! Hitless restart with trap and shunt policies installed, through the real netlink XFRM
//! backend in a network namespace on the host (policies need no ESP in the kernel; issue 17):
//! iked with a `start_action = trap` child under `%unique` marks (reinstalled once by a reload,
//! so its reqid and marks are no longer a fresh process's first ones), a marked drop shunt
//! and a pass shunt is sent
//! SIGUSR2 and leaves the policies in the kernel; the next iked resumes from the state file and
//! takes them over in place: at no moment is one of them deleted (`ip xfrm monitor` sees no
//! deletion, so no gap), the kernel never holds two copies (same policies, same count), the
//! stale sweep after `--stale-grace` leaves them alone, `list-pols` of the new process names
//! them, and unloading the connections (a reload without them) removes them all: the new
//! process owns them. SIGTERM then leaves nothing.
//! Needs root and `ip`: without them it fails under `CI=true` and otherwise skips.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const SHUNTS: &str = "
  shunts {
    children {
      guard {
        local_ts = 0.0.0.0/0 [udp/4789]
        mark_in = 0x1/0x1
        mark_out = 0x1/0x1
        mode = drop
        start_action = trap
      }
      lan-bypass {
        local_ts = 10.7.0.0/16
        remote_ts = 10.7.0.0/16
        mode = pass
        start_action = trap
      }
    }
  }
";

/// The seed connection with its child trapped under unique marks (`esp` its ESP proposal),
/// and the shunts (`with_all`), or the secrets only (every connection unloaded).
fn config(with_all: bool, esp: &str) -> String {
    let seed = seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2")
        .replace(
            "hw_offload = packet",
            "hw_offload = no\n        start_action = trap\n        mark_in = %unique\n        \
             mark_out = %unique",
        )
        .replace("aes128gcm128-x25519-esn", esp);
    if with_all {
        seed.replacen("connections {", &format!("connections {{{SHUNTS}"), 1)
    } else {
        // The secrets only: every connection unloaded.
        let secrets = seed.find("secrets {").unwrap();
        format!("connections {{\n}}\n{}", &seed[secrets..])
    }
}

/// The namespace's policies, one per line (`ip -o`), sorted: comparable across restarts.
fn policies(ns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "-n", ns, "xfrm", "policy"])
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

fn start(
    ns: &str,
    dir: &Path,
    conf: &Path,
    state: &Path,
    name: &str,
) -> (Child, std::path::PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let state = state.to_string_lossy();
    let child = start_xfrm_iked_in(
        ns,
        conf,
        &dir.join("iked.vici"),
        &log,
        &[
            "--state-file",
            &state,
            "--port",
            "0",
            "--port-nat-t",
            "0",
            "--stale-grace",
            "1",
        ],
    );
    (child, log)
}

#[test]
fn traps_and_shunts_survive_a_hitless_restart_owned_by_the_new_process() {
    let Some(ns) = Netns::new("P", &[]) else {
        return;
    };
    ns.sh(
        "ip link set lo up && ip link add d0 type veth peer name d1 && ip addr add 192.168.50.1/24 dev d0 && ip link set d0 up && ip link set d1 up",
    );
    let dir = scratch("hitless-pols");
    let conf = dir.join("swanctl.conf");
    std::fs::write(&conf, config(true, "aes128gcm128-x25519-esn")).unwrap();
    let state = dir.join("run").join("handover.state");
    let socket = dir.join("iked.vici");
    let mut procs = Processes::default();

    let (first, log1) = start(&ns.0, &dir, &conf, &state, "first");
    procs.add("first", first);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    // A reload that replaces the trapped connection reinstalls its trap under a new reqid and
    // new unique marks (mark 2): a next process that started its marks and trap reqids afresh
    // would install it with mark 1 next to it (a duplicate) and sweep this one (a gap).
    std::fs::write(&conf, config(true, "aes256gcm16-x25519-esn")).unwrap();
    let out = ikectl(&socket, &["load-all", "--file", conf.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}\n{}", read(&log1));
    let before = policies(&ns.0);
    assert_eq!(
        before
            .iter()
            .filter(|l| l.contains("mark 0x2/0xffffffff"))
            .count(),
        2,
        "the replaced trap's unique mark: {before:#?}\n{}",
        read(&log1)
    );
    // The trap (out, in: transport), the guard (out, in, fwd) and the bypass (out, in, fwd).
    assert_eq!(before.len(), 8, "{before:#?}\n{}", read(&log1));
    assert_eq!(
        before.iter().filter(|l| l.contains("tmpl")).count(),
        2,
        "{before:#?}"
    );

    // Every policy event from here on: a deletion would be a gap.
    let events = dir.join("monitor.txt");
    let monitor = Command::new("ip")
        .args(["-n", &ns.0, "xfrm", "monitor", "policy"])
        .stdout(std::fs::File::create(&events).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    procs.add("monitor", monitor);
    std::thread::sleep(Duration::from_millis(300));

    let pid = procs.pid("first");
    assert!(
        Command::new("kill")
            .args(["-USR2", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let old = &mut procs.0.iter_mut().find(|(n, _)| n == "first").unwrap().1;
    assert!(
        eventually(Duration::from_secs(10), || matches!(
            old.try_wait(),
            Ok(Some(_))
        )),
        "iked did not exit on SIGUSR2:\n{}",
        read(&log1)
    );
    assert!(state.exists(), "no state file:\n{}", read(&log1));
    assert_eq!(
        policies(&ns.0),
        before,
        "the hand-over must leave the kernel as it is"
    );

    let (second, log2) = start(&ns.0, &dir, &conf, &state, "second");
    procs.add("second", second);
    // Past the stale sweep (`--stale-grace 1`).
    assert!(
        eventually(Duration::from_secs(10), || read(&log2)
            .contains("stale policy(ies) of an earlier iked instance")),
        "no stale sweep:\n{}",
        read(&log2)
    );
    let after = policies(&ns.0);
    assert_eq!(
        after.len(),
        before.len(),
        "no duplicates, nothing lost: {after:#?}\nbefore {before:#?}\n{}",
        read(&log2)
    );
    // The same objects: selectors, directions, marks, actions and priorities.
    let shape = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|l| l.split(" tmpl ").next().unwrap_or(l).to_owned())
            .collect()
    };
    assert_eq!(shape(&after), shape(&before), "{}", read(&log2));
    // The taken-over trap is no leftover of a tunnel to re-establish: nothing is initiated.
    assert!(!read(&log2).contains("re-establishing"), "{}", read(&log2));
    let seen = read(&events);
    assert!(
        !seen.contains("Deleted") && !seen.contains("Expired"),
        "a policy was removed during the restart (a gap):\n{seen}"
    );
    let listed = String::from_utf8_lossy(&ikectl(&socket, &["list-pols"]).stdout).into_owned();
    for name in ["BFL-BFR/bf-out", "shunts/guard", "shunts/lan-bypass"] {
        assert!(listed.contains(name), "{name} not listed:\n{listed}");
    }

    // Unloading the connections removes what the new process took over.
    std::fs::write(&conf, config(false, "")).unwrap();
    let out = ikectl(&socket, &["load-all", "--file", conf.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}\n{}", read(&log2));
    let left = policies(&ns.0);
    assert!(
        left.is_empty(),
        "policies left after unloading: {left:#?}\n{}",
        read(&log2)
    );
}
