//! What the daemon does when an IKE SA goes away without a command: `close_action` when the
//! peer deletes it, `dpd_action` when the peer stops answering, and `keyingtries` when a
//! connection with `start_action = start` cannot reach its peer. Two record-only `iked`s on
//! loopback; a silent peer is a stopped process (SIGSTOP); strongswan.conf shortens charon's
//! retransmission timers so "dead" comes within seconds.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// charon's retransmission tuning for a quick verdict: a request is given up after
/// 0.3 + 0.3 + 0.3 s (three sends, no backoff).
const QUICK_RETRANSMITS: &str =
    "charon {\n  retransmit_timeout = 0.3\n  retransmit_base = 1.0\n  retransmit_tries = 2\n}\n";

fn initiate(socket: &Path) {
    let out = ikectl(
        socket,
        &["initiate", "--child", "bf-out", "--timeout", "20"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// The unique id of the first IKE SA `list-sas` shows (`BFL-BFR: #3, ESTABLISHED, ...`).
fn ike_unique_id(sas: &str) -> Option<u32> {
    let rest = sas.split_once(": #")?.1;
    rest.split(',').next()?.parse().ok()
}

#[test]
fn close_action_start_reestablishes_what_the_peer_deleted() {
    let restart = |c: String| {
        c.replace(
            "        mode = transport\n",
            "        mode = transport\n        close_action = start\n",
        )
    };
    let p = loopback_pair(
        "close-start",
        Side {
            edit: Some(&restart),
            ..Side::default()
        },
        Side::default(),
    );
    initiate(&p.bfl);
    let first = ike_unique_id(&list_sas(&p.bfl)).expect("an IKE SA");
    let out = ikectl(&p.bfr, &["terminate", "--ike", "BFR-BFL"]);
    assert!(out.status.success(), "{}", pair_logs(&p.dir));
    let back = eventually(Duration::from_secs(10), || {
        let sas = list_sas(&p.bfl);
        ike_unique_id(&sas).is_some_and(|id| id != first) && sas.contains("INSTALLED, TRANSPORT")
    });
    assert!(back, "BFL did not re-establish:\n{}", pair_logs(&p.dir));
}

#[test]
fn without_close_action_what_the_peer_deleted_stays_down() {
    let p = loopback_pair("close-none", Side::default(), Side::default());
    initiate(&p.bfl);
    let out = ikectl(&p.bfr, &["terminate", "--ike", "BFR-BFL"]);
    assert!(out.status.success(), "{}", pair_logs(&p.dir));
    assert!(
        eventually(Duration::from_secs(5), || list_sas(&p.bfl).is_empty()),
        "{}",
        pair_logs(&p.dir)
    );
    // Give a (wrong) restart the time it would need, then check nothing came back.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(list_sas(&p.bfl), "", "{}", pair_logs(&p.dir));
}

#[test]
fn dpd_action_restart_reestablishes_once_the_silent_peer_answers_again() {
    // BFL probes after 1 s of silence, gives up after ~0.9 s of retransmissions, then restarts
    // and (keyingtries = 0: forever) keeps trying until BFR answers again.
    let dpd = |c: String| {
        c.replace(
            "    mobike = no\n",
            "    mobike = no\n    dpd_delay = 1s\n    keyingtries = 0\n",
        )
        .replace(
            "        mode = transport\n",
            "        mode = transport\n        dpd_action = restart\n",
        )
    };
    let p = loopback_pair(
        "dpd-restart",
        Side {
            edit: Some(&dpd),
            strongswan_conf: QUICK_RETRANSMITS,
            extra: &[],
        },
        Side::default(),
    );
    initiate(&p.bfl);
    let first = ike_unique_id(&list_sas(&p.bfl)).expect("an IKE SA");
    let bfr_pid = p.procs.pid("bfr");
    signal(bfr_pid, "-STOP");
    let bfl_log = p.dir.join("bfl/iked.log");
    let restarting = eventually(Duration::from_secs(15), || {
        std::fs::read_to_string(&bfl_log).is_ok_and(|l| l.contains("restarting BFL-BFR"))
    });
    signal(bfr_pid, "-CONT");
    assert!(restarting, "no DPD restart:\n{}", pair_logs(&p.dir));
    let back = eventually(Duration::from_secs(15), || {
        let sas = list_sas(&p.bfl);
        ike_unique_id(&sas).is_some_and(|id| id != first) && sas.contains("INSTALLED, TRANSPORT")
    });
    assert!(back, "BFL did not re-establish:\n{}", pair_logs(&p.dir));
    // One re-establishment for the IKE SA and both its children, as charon: not one per child
    // (each a new IKE SA the peer's `unique` then fights over).
    let log = std::fs::read_to_string(&bfl_log).unwrap_or_default();
    let restarts = log.matches("restarting BFL-BFR").count();
    assert_eq!(
        restarts,
        1,
        "restarted {restarts} times:\n{}",
        pair_logs(&p.dir)
    );
}

#[test]
fn keyingtries_bounds_the_attempts_to_reach_a_silent_peer() {
    // 127.0.0.3 is on loopback, and nothing listens there: the peer never answers.
    let start = |c: String| {
        c.replace("remote_addrs = 127.0.0.2", "remote_addrs = 127.0.0.3")
            .replace(
                "    mobike = no\n",
                "    mobike = no\n    keyingtries = 2\n",
            )
            .replace(
                "        mode = transport\n",
                "        mode = transport\n        start_action = start\n",
            )
    };
    let p = loopback_pair(
        "keyingtries",
        Side {
            edit: Some(&start),
            strongswan_conf: QUICK_RETRANSMITS,
            extra: &[],
        },
        Side::default(),
    );
    let bfl_log = p.dir.join("bfl/iked.log");
    let gave_up = eventually(Duration::from_secs(15), || {
        std::fs::read_to_string(&bfl_log).is_ok_and(|l| l.contains("giving up on BFL-BFR"))
    });
    let log = std::fs::read_to_string(&bfl_log).unwrap_or_default();
    assert!(gave_up, "{}", pair_logs(&p.dir));
    let attempts = log.matches("initiating IKE_SA BFL-BFR[").count();
    assert_eq!(attempts, 2, "keyingtries = 2:\n{}", pair_logs(&p.dir));
    // And nothing after giving up.
    std::thread::sleep(Duration::from_secs(2));
    let later = std::fs::read_to_string(&bfl_log).unwrap_or_default();
    assert_eq!(later.matches("initiating IKE_SA BFL-BFR[").count(), 2);
}

#[test]
fn keyingtries_does_not_retry_a_peer_that_refuses() {
    // As charon: only an unanswered IKE_SA_INIT/IKE_AUTH is tried again; AUTHENTICATION_FAILED
    // would be refused again.
    let start = |c: String| {
        c.replace(
            "    mobike = no\n",
            "    mobike = no\n    keyingtries = 3\n",
        )
        .replace(
            "        mode = transport\n",
            "        mode = transport\n        start_action = start\n",
        )
    };
    let other_psk = |c: String| c.replace("0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL", "\"another\"");
    let p = loopback_pair(
        "keyingtries-refused",
        Side {
            edit: Some(&start),
            strongswan_conf: QUICK_RETRANSMITS,
            extra: &[],
        },
        Side {
            edit: Some(&other_psk),
            ..Side::default()
        },
    );
    let bfl_log = p.dir.join("bfl/iked.log");
    let failed = eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&bfl_log).is_ok_and(|l| l.contains("establishing IKE_SA BFL-BFR"))
    });
    assert!(failed, "{}", pair_logs(&p.dir));
    // Three keyingtries' worth of quick retransmissions would be over by now.
    std::thread::sleep(Duration::from_secs(3));
    let log = std::fs::read_to_string(&bfl_log).unwrap_or_default();
    assert_eq!(
        log.matches("initiating IKE_SA BFL-BFR[").count(),
        1,
        "{}",
        pair_logs(&p.dir)
    );
}
