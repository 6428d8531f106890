//! DNS names in `local_addrs`/`remote_addrs` through the daemon (issue 16 §5): `ikectl check`
//! and the daemon accept them; a record-only daemon resolves `localhost` (which resolves on
//! every host without a network) to initiate, and matches a peer initiating to it by the
//! name's addresses; a name that cannot resolve (`.invalid`, RFC 6761) is a logged error and
//! an automatic initiation tries again. Unprivileged, loopback only.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn log_of(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default()
}

/// BFR names its peer `localhost` (127.0.0.1, BFL): it initiates to it by the name, and
/// answers BFL, whose address the name resolved to.
#[test]
fn a_peer_named_localhost_is_resolved_to_initiate_and_matched_as_responder() {
    let by_name = |c: String| c.replace("remote_addrs = 127.0.0.1", "remote_addrs = localhost");
    let p = loopback_pair(
        "dns-pair",
        Side::default(),
        Side {
            edit: Some(&by_name),
            ..Side::default()
        },
    );
    let bfr_dir = p.dir.join("bfr");
    assert!(
        eventually(Duration::from_secs(10), || log_of(&bfr_dir)
            .contains("resolved localhost to")),
        "{}",
        pair_logs(&p.dir)
    );

    // Responder: BFL initiates; BFR's only remote entry is the name.
    bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "10"]);
    let sas = list_sas(&p.bfr);
    assert!(sas.contains("ESTABLISHED"), "{sas}\n{}", pair_logs(&p.dir));
    let out = ikectl(
        &p.bfl,
        &["terminate", "--ike", "BFL-BFR", "--timeout", "10"],
    );
    assert!(out.status.success(), "{}", pair_logs(&p.dir));
    assert!(
        eventually(Duration::from_secs(10), || !list_sas(&p.bfr)
            .contains("ESTABLISHED")),
        "{}",
        pair_logs(&p.dir)
    );

    // Initiator: BFR resolves the name again and initiates to what it resolved to.
    let out = ikectl(
        &p.bfr,
        &["initiate", "--child", "bf-out", "--timeout", "10"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        pair_logs(&p.dir)
    );
    let log = log_of(&bfr_dir);
    assert!(
        log.contains("resolving localhost to initiate BFR-BFL"),
        "{log}"
    );
    let sas = list_sas(&p.bfr);
    assert!(
        sas.contains("ESTABLISHED") && sas.contains("127.0.0.1"),
        "{sas}"
    );
}

/// A peer name that does not resolve: `ikectl check` passes it (charon loads it too), VICI
/// `initiate` fails with charon's text, and `start_action = start` logs the error and tries
/// again; the event loop keeps answering meanwhile.
#[test]
fn an_unresolvable_peer_is_logged_and_retried() {
    let dir = scratch("dns-invalid");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = seed_conf("BFL-BFR", "127.0.0.1", "127.0.0.2", "host1", "host2")
        .replace(
            "remote_addrs = 127.0.0.2",
            "remote_addrs = peer.iked-test.invalid",
        )
        .replace(
            "        hw_offload = packet\n",
            "        hw_offload = packet\n        start_action = start\n",
        );
    let path = dir.join("check.conf");
    std::fs::write(&path, &conf).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .args(["check", "--file", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let daemon_dir = dir.join("daemon");
    std::fs::create_dir_all(&daemon_dir).unwrap();
    let mut procs = Processes::default();
    let socket = start_iked_on_free_ports(&mut procs, &daemon_dir, &conf);
    // The daemon loaded what check passed.
    let conns = String::from_utf8_lossy(&ikectl(&socket, &["list-conns"]).stdout).into_owned();
    assert!(
        conns.contains("BFL-BFR") && conns.contains("peer.iked-test.invalid"),
        "{conns}"
    );

    let out = ikectl(
        &socket,
        &["initiate", "--child", "bf-out", "--timeout", "10"],
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("unable to resolve peer.iked-test.invalid, initiate aborted"),
        "{text}\n{}",
        log_of(&daemon_dir)
    );

    // start_action = start: the error, then at least one more attempt that resolves again.
    let tries = || {
        log_of(&daemon_dir)
            .matches("unable to resolve peer.iked-test.invalid, initiate aborted")
            .count()
    };
    assert!(
        eventually(Duration::from_secs(15), || tries() >= 3),
        "{}",
        log_of(&daemon_dir)
    );
    let log = log_of(&daemon_dir);
    assert!(log.contains("retrying BFL-BFR in"), "{log}");
    assert!(list_sas(&socket).trim().is_empty() || !list_sas(&socket).contains("ESTABLISHED"));
}

/// `start_action = trap` towards a named peer: the trap policy is installed towards what the
/// name resolved to once it has (record-only kernel: `list-pols` shows it).
#[test]
fn a_trap_towards_a_named_peer_is_installed_once_it_resolved() {
    let dir = scratch("dns-trap");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = seed_conf("BFL-BFR", "127.0.0.1", "127.0.0.2", "host1", "host2")
        .replace("remote_addrs = 127.0.0.2", "remote_addrs = localhost")
        .replace(
            "        hw_offload = packet\n",
            "        hw_offload = packet\n        start_action = trap\n",
        );
    let mut procs = Processes::default();
    let socket = start_iked_on_free_ports(&mut procs, &dir, &conf);
    let pols = || String::from_utf8_lossy(&ikectl(&socket, &["list-pols"]).stdout).into_owned();
    assert!(
        eventually(Duration::from_secs(10), || pols()
            .contains("BFL-BFR/bf-out")),
        "{}\n{}",
        pols(),
        log_of(&dir)
    );
    let log = log_of(&dir);
    assert!(
        log.contains("installed trap policy BFL-BFR/bf-out"),
        "{log}"
    );
}
