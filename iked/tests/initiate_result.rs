//! `ikectl initiate` ends as soon as the outcome is known: exit 0 once every requested child is
//! up, exit 1 with `initiate failed: <reason>` as soon as the IKE SA or a requested child fails
//! (long before the `--timeout`). Two record-only `iked`s talk IKEv2 over loopback
//! (127.0.0.1 <-> 127.0.0.2, unprivileged ports); `list-sas` then shows a failed child with its
//! state and reason for as long as the IKE SA lives.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// The requested timeout; every outcome below must come well before it.
const TIMEOUT_SECS: &str = "30";
/// "Promptly": two daemons on loopback finish IKE_SA_INIT + IKE_AUTH in milliseconds.
const PROMPT: Duration = Duration::from_secs(10);

struct Pair {
    _procs: Processes,
    initiator: PathBuf,
    dir: PathBuf,
}

/// Starts the BFL (127.0.0.1) and BFR (127.0.0.2) daemons; `edit_bfr` changes BFR's config.
fn pair(tag: &str, edit_bfr: impl Fn(String) -> String) -> Pair {
    let dir = scratch(tag);
    let (ike, nat_t) = free_udp_ports();
    let ports = [
        "--port".to_owned(),
        ike.to_string(),
        "--port-nat-t".to_owned(),
        nat_t.to_string(),
    ];
    let ports: Vec<&str> = ports.iter().map(String::as_str).collect();
    let mut procs = Processes::default();
    let (bfl_dir, bfr_dir) = (dir.join("bfl"), dir.join("bfr"));
    std::fs::create_dir_all(&bfl_dir).unwrap();
    std::fs::create_dir_all(&bfr_dir).unwrap();
    // Both daemons listen on the same unprivileged port, so each must send there.
    let remote_port = |conf: String| {
        conf.replace(
            "    version = 2\n",
            &format!("    version = 2\n    remote_port = {ike}\n"),
        )
    };
    let bfr_conf = edit_bfr(remote_port(seed_conf(
        "BFR-BFL",
        "127.0.0.2",
        "127.0.0.1",
        "host2",
        "host1",
    )));
    let (bfr, bfr_socket) = start_iked(&bfr_dir, &bfr_conf, &ports, &[]);
    procs.add("bfr", bfr);
    let bfl_conf = remote_port(seed_conf(
        "BFL-BFR",
        "127.0.0.1",
        "127.0.0.2",
        "host1",
        "host2",
    ));
    let (bfl, bfl_socket) = start_iked(&bfl_dir, &bfl_conf, &ports, &[]);
    procs.add("bfl", bfl);
    assert!(wait_for(&bfr_socket, Duration::from_secs(10)), "BFR up");
    assert!(wait_for(&bfl_socket, Duration::from_secs(10)), "BFL up");
    Pair {
        _procs: procs,
        initiator: bfl_socket,
        dir,
    }
}

// The test measures how long a separate ikectl process takes; no daemon logic reads this clock.
#[allow(clippy::disallowed_methods)]
fn timed_initiate(socket: &Path, child: &str) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = ikectl(
        socket,
        &["initiate", "--child", child, "--timeout", TIMEOUT_SECS],
    );
    (out, started.elapsed())
}

fn logs(dir: &Path) -> String {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    format!(
        "--- BFL ---\n{}\n--- BFR ---\n{}",
        read(dir.join("bfl/iked.log")),
        read(dir.join("bfr/iked.log"))
    )
}

#[test]
fn initiate_exits_zero_when_the_child_is_up() {
    let p = pair("init-ok", |c| c);
    let (out, took) = timed_initiate(&p.initiator, "bf-out");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", logs(&p.dir));
    assert!(
        stdout.contains("initiate completed successfully"),
        "{stdout}"
    );
    assert!(took < PROMPT, "took {took:?}");
    let sas = String::from_utf8_lossy(&ikectl(&p.initiator, &["list-sas"]).stdout).into_owned();
    assert!(sas.contains("bf-out: #"), "{sas}");
    assert!(sas.contains("INSTALLED, TRANSPORT"), "{sas}");
    // The record-only kernel installs nothing, and says so in the offload line.
    assert!(
        sas.contains("    offload none (record-only") && sas.contains("(hw_offload = packet)"),
        "{sas}"
    );
}

#[test]
fn initiate_fails_promptly_when_the_child_is_refused() {
    // BFR only accepts AES-256-GCM for the child: the IKE SA comes up, the child does not.
    let p = pair("init-child-fails", |c| {
        c.replace("aes128gcm128-x25519-esn", "aes256gcm128-x25519-esn")
    });
    let (out, took) = timed_initiate(&p.initiator, "bf-out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{}", logs(&p.dir));
    assert!(
        stderr.contains("initiate failed: establishing CHILD_SA 'bf-out' failed"),
        "{stderr}"
    );
    assert!(took < PROMPT, "took {took:?}");
    // The IKE SA lives on, and list-sas keeps showing the failed child with its reason.
    let sas = String::from_utf8_lossy(&ikectl(&p.initiator, &["list-sas"]).stdout).into_owned();
    assert!(sas.starts_with("BFL-BFR: #1, ESTABLISHED"), "{sas}");
    assert!(sas.contains("bf-out: #"), "{sas}");
    assert!(sas.contains(", FAILED, TRANSPORT"), "{sas}");
    assert!(sas.contains("    failed: "), "{sas}");
    let json =
        String::from_utf8_lossy(&ikectl(&p.initiator, &["--json", "list-sas"]).stdout).into_owned();
    assert!(json.contains("\"state\":\"FAILED\""), "{json}");
    assert!(json.contains("\"hw-offload\":\"packet\""), "{json}");
}

#[test]
fn initiate_fails_promptly_when_authentication_fails() {
    let p = pair("init-psk-fails", |c| {
        c.replace(
            "0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL",
            "\"a different secret\"",
        )
    });
    let (out, took) = timed_initiate(&p.initiator, "bf-out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{}", logs(&p.dir));
    assert!(
        stderr.contains("initiate failed: establishing IKE_SA 'BFL-BFR' failed"),
        "{stderr}"
    );
    assert!(took < PROMPT, "took {took:?}");
    let sas = String::from_utf8_lossy(&ikectl(&p.initiator, &["list-sas"]).stdout).into_owned();
    assert!(sas.is_empty(), "a failed IKE SA is gone: {sas}");
}
