//! `ikectl initiate` ends as soon as the outcome is known: exit 0 once every requested child is
//! up, exit 1 with `initiate failed: <reason>` as soon as the IKE SA or a requested child fails
//! (long before the `--timeout`). Two record-only `iked`s talk IKEv2 over loopback
//! (127.0.0.1 <-> 127.0.0.2, unprivileged ports). A child the peer refused is then not listed
//! (as charon): the reason is in the command's result (see also `list_sas.rs`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// The requested timeout; every outcome below must come well before it.
const TIMEOUT_SECS: &str = "30";
/// "Promptly": two daemons on loopback finish IKE_SA_INIT + IKE_AUTH in milliseconds.
const PROMPT: Duration = Duration::from_secs(10);

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

/// `ikectl initiate --child bf-out` exits 1 with `reason` in its error, well before the timeout.
fn fails_promptly(p: &LoopbackPair, reason: &str) {
    let (out, took) = timed_initiate(&p.bfl, "bf-out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stderr}\n{}",
        pair_logs(&p.dir)
    );
    assert!(stderr.contains(reason), "{stderr}");
    assert!(took < PROMPT, "took {took:?}");
}

#[test]
fn initiate_exits_zero_when_the_child_is_up() {
    let p = loopback_pair("init-ok", Side::default(), Side::default());
    let (out, took) = timed_initiate(&p.bfl, "bf-out");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        pair_logs(&p.dir)
    );
    assert!(
        stdout.contains("initiate completed successfully"),
        "{stdout}"
    );
    assert!(took < PROMPT, "took {took:?}");
    let sas = list_sas(&p.bfl);
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
    let aes256_only = |c: String| c.replace("aes128gcm128-x25519-esn", "aes256gcm128-x25519-esn");
    let bfr = Side {
        edit: Some(&aes256_only),
        ..Side::default()
    };
    let p = loopback_pair("init-child-fails", Side::default(), bfr);
    fails_promptly(&p, "initiate failed: establishing CHILD_SA 'bf-out' failed");
    // The IKE SA lives on; the refused child, which never existed, is not listed (charon
    // lists nothing either).
    let sas = list_sas(&p.bfl);
    assert!(sas.starts_with("BFL-BFR: #1, ESTABLISHED"), "{sas}");
    assert!(!sas.contains("bf-out"), "{sas}");
    assert!(!sas.contains("FAILED"), "{sas}");
}

#[test]
fn initiate_fails_promptly_when_authentication_fails() {
    let other_psk = |c: String| {
        c.replace(
            "0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL",
            "\"a different secret\"",
        )
    };
    let bfr = Side {
        edit: Some(&other_psk),
        ..Side::default()
    };
    let p = loopback_pair("init-psk-fails", Side::default(), bfr);
    fails_promptly(&p, "initiate failed: establishing IKE_SA 'BFL-BFR' failed");
    let sas = list_sas(&p.bfl);
    assert!(sas.is_empty(), "a failed IKE SA is gone: {sas}");
}
