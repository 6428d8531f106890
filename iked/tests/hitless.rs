//! Hitless restart between two record-only iked daemons on loopback (issue 17 §2): BFL is
//! sent SIGUSR2 with the tunnel up, writes its hand-over state (0600) and exits; a new BFL
//! started with the same `--state-file` resumes the IKE SA and its child with the same
//! SPIs, and the unchanged BFR goes on with it: CHILD rekey, IKE rekey and delete.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::*;

/// The `_i`/`_r` SPI words of every line of a listing (IKE SPIs and children's).
fn spis(listing: &str) -> Vec<String> {
    listing
        .split_whitespace()
        .map(|w| w.trim_end_matches('*'))
        .filter(|w| w.len() >= 8 && (w.ends_with("_i") || w.ends_with("_r")))
        .map(str::to_owned)
        .collect()
}

/// The SPIs of the established IKE SA line.
fn ike_spis(listing: &str) -> Vec<String> {
    listing
        .lines()
        .find(|l| l.contains(", ESTABLISHED,"))
        .map(spis)
        .unwrap_or_default()
}

#[test]
fn a_handed_over_ike_sa_keeps_working_with_the_same_peer() {
    let state = std::env::temp_dir().join(format!("iked-hitless-{}.state", std::process::id()));
    let _ = std::fs::remove_file(&state);
    let state_arg = state.display().to_string();
    let extra = ["--state-file", state_arg.as_str()];
    let mut p = loopback_pair(
        "hitless",
        Side {
            extra: &extra,
            ..Side::default()
        },
        Side::default(),
    );
    bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "20"]);
    let before = list_sas(&p.bfl);
    assert_eq!(before.matches("INSTALLED").count(), 1, "{before}");
    let peer_before = list_sas(&p.bfr);

    // The old process's arguments, to start the new one the same way.
    let pid = p.procs.pid("bfl");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let port = |flag: &str| {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1].clone()
    };
    let (ike, nat_t) = (port("--port"), port("--port-nat-t"));
    assert!(
        std::process::Command::new("kill")
            .args(["-USR2", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let old = &mut p.procs.0.iter_mut().find(|(n, _)| n == "bfl").unwrap().1;
    assert!(
        eventually(Duration::from_secs(10), || matches!(
            old.try_wait(),
            Ok(Some(_))
        )),
        "BFL did not exit on SIGUSR2:\n{}",
        pair_logs(&p.dir)
    );
    let meta = std::fs::metadata(&state).expect("state file written");
    assert_eq!(meta.mode() & 0o777, 0o600);
    let bfl_dir = p.dir.join("bfl");
    let old_log = std::fs::read_to_string(bfl_dir.join("iked.log")).unwrap();
    assert!(old_log.contains("handed 1 IKE_SA(s) over"), "{old_log}");
    // The peer was told nothing.
    assert_eq!(spis(&list_sas(&p.bfr)), spis(&peer_before));

    let conf = std::fs::read_to_string(bfl_dir.join("swanctl.conf")).unwrap();
    let (child, socket) = start_iked(
        &bfl_dir,
        &conf,
        &[
            "--port",
            &ike,
            "--port-nat-t",
            &nat_t,
            "--state-file",
            &state_arg,
        ],
        &[],
    );
    p.procs.add("bfl-new", child);
    assert!(wait_for(&socket, Duration::from_secs(10)), "new BFL up");
    let after = list_sas(&p.bfl);
    assert_eq!(spis(&after), spis(&before), "{after}");
    assert_eq!(after.matches("INSTALLED").count(), 1, "{after}");
    assert!(!state.exists(), "the state is used once");
    let log = std::fs::read_to_string(bfl_dir.join("iked.log")).unwrap();
    assert!(log.contains("resumed from the saved state"), "{log}");

    bfl_ikectl_ok(&p, &["rekey", "--child", "bf-out"]);
    // (The record-only backend numbers SPIs from the same start in every process, so the new
    // inbound SPI may repeat the old one: the peer's log tells the rekey instead.)
    let bfr_log = || std::fs::read_to_string(p.dir.join("bfr").join("iked.log")).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            list_sas(&p.bfl).matches("INSTALLED").count() == 1
                && bfr_log().contains("CHILD_SA {1} rekeyed to {2}")
                && bfr_log().contains("CHILD_SA bf-out{1} down: rekeyed")
        }),
        "CHILD rekey after the restart:\n{}",
        pair_logs(&p.dir)
    );
    let children = list_sas(&p.bfl);
    bfl_ikectl_ok(&p, &["rekey", "--ike", "BFL-BFR"]);
    assert!(
        eventually(Duration::from_secs(10), || {
            let l = list_sas(&p.bfl);
            let ike = ike_spis(&l);
            l.matches("ESTABLISHED").count() == 1
                && ike.len() == 2
                && ike != ike_spis(&children)
                && ike == ike_spis(&list_sas(&p.bfr))
        }),
        "IKE rekey after the restart:\n{}",
        pair_logs(&p.dir)
    );
    bfl_ikectl_ok(&p, &["terminate", "--ike", "BFL-BFR"]);
    assert!(
        eventually(Duration::from_secs(10), || list_sas(&p.bfr).is_empty()),
        "the peer follows the delete:\n{}",
        pair_logs(&p.dir)
    );
    let _ = std::fs::remove_file(&state);
}
