//! `remote_addrs = %any`, subnets and `dynamic` selectors through the daemon (issue 14 §1):
//! `ikectl check` runs the daemon's conversion, and two record-only daemons on loopback
//! negotiate the seed child with `dynamic` selectors against a `%any` responder.
//! Unprivileged, loopback only.

mod common;

use std::process::Command;

use common::*;

fn check(dir: &std::path::Path, name: &str, conf: &str) -> (Option<i32>, String) {
    let path = dir.join(name);
    std::fs::write(&path, conf).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .args(["check", "--file", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn seed() -> String {
    seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2")
}

/// `ikectl check` used to stop at the parser, passing configurations the daemon then refused.
#[test]
fn check_refuses_what_the_daemon_refuses() {
    let dir = scratch("check-conversion");
    // A DNS name passes: the daemon resolves it (`dns_names.rs` runs the daemon on one).
    let named = seed().replace("remote_addrs = 192.168.50.2", "remote_addrs = bfr.example");
    let (code, text) = check(&dir, "named.conf", &named);
    assert_eq!(code, Some(0), "{text}");
    // A certificate file that is not there: the daemon's load-all refuses the connection.
    let missing_cert = seed().replace(
        "      auth = psk\n      id = host1\n",
        "      auth = pubkey\n      certs = missing.pem\n      id = host1\n",
    );
    assert_ne!(missing_cert, seed());
    let (code, text) = check(&dir, "cert.conf", &missing_cert);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("connection 'BFL-BFR'"), "{text}");
    assert!(text.contains("missing.pem"), "{text}");

    // What NVIDIA's OVS monitor and road warriors write passes, and the daemon loads it.
    let wide = seed()
        .replace(
            "local_addrs = 192.168.50.1",
            "local_addrs = 0.0.0.0/0, ::/0",
        )
        .replace(
            "remote_addrs = 192.168.50.2",
            "remote_addrs = %any, 10.0.0.1-10.0.0.9",
        )
        .replace(
            "local_ts = 192.168.50.1/24 [udp]",
            "local_ts = dynamic[udp]",
        )
        .replace(
            "remote_ts = 192.168.50.2/24 [udp/4789]",
            "remote_ts = dynamic",
        );
    let (code, text) = check(&dir, "wide.conf", &wide);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("BFL-BFR"), "{text}");

    let (ike, nat_t) = free_udp_ports();
    let daemon_dir = dir.join("daemon");
    std::fs::create_dir_all(&daemon_dir).unwrap();
    // This config alone would bind the wildcards; a test listens on loopback only.
    let (child, socket) = start_iked(
        &daemon_dir,
        &wide,
        &[
            "--listen",
            "127.0.0.1",
            "--port",
            &ike.to_string(),
            "--port-nat-t",
            &nat_t.to_string(),
        ],
        &[],
    );
    let mut procs = Processes::default();
    procs.add("iked", child);
    assert!(
        wait_for(&socket, std::time::Duration::from_secs(10)),
        "iked did not start; log:\n{}",
        std::fs::read_to_string(daemon_dir.join("iked.log")).unwrap_or_default()
    );
    let conns = String::from_utf8_lossy(&ikectl(&socket, &["list-conns"]).stdout).into_owned();
    assert!(conns.contains("BFL-BFR"), "{conns}");
    // Listed as charon lists them: still `dynamic`, resolved only per IKE SA.
    assert!(conns.contains("dynamic[udp]"), "{conns}");
}

/// BFR with `remote_addrs = %any` and `dynamic` selectors on both sides: the child comes up
/// with the two loopback hosts as selectors (it used to fail with TS_UNACCEPTABLE).
#[test]
fn any_responder_serves_dynamic_child() {
    let dynamic = |c: String| {
        let local = if c.contains("local_addrs = 127.0.0.1") {
            "127.0.0.1"
        } else {
            "127.0.0.2"
        };
        let remote = if local == "127.0.0.1" {
            "127.0.0.2"
        } else {
            "127.0.0.1"
        };
        c.replace(
            &format!("local_ts = {local}/24 [udp]"),
            "local_ts = dynamic [udp]",
        )
        .replace(
            &format!("remote_ts = {remote}/24 [udp/4789]"),
            "remote_ts = dynamic [udp/4789]",
        )
    };
    let any = |c: String| dynamic(c).replace("remote_addrs = 127.0.0.1", "remote_addrs = %any");
    // BFR's bf-out must pair with BFL's bf-out: BFR sends from [udp/4789] to [udp] instead.
    let bfr_edit = |c: String| {
        any(c)
            .replace("local_ts = dynamic [udp]", "local_ts = dynamic [udp/4789]")
            .replace(
                "remote_ts = dynamic [udp/4789]",
                "remote_ts = dynamic [udp]",
            )
    };
    let bfl = Side {
        edit: Some(&dynamic),
        ..Side::default()
    };
    let bfr = Side {
        edit: Some(&bfr_edit),
        ..Side::default()
    };
    let p = loopback_pair("dynamic-any", bfl, bfr);
    let out = bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "10"]);
    assert!(out.contains("initiate completed successfully"), "{out}");
    let ok = eventually(std::time::Duration::from_secs(5), || {
        list_sas(&p.bfr).contains("INSTALLED, TRANSPORT")
    });
    let sas = list_sas(&p.bfr);
    assert!(ok, "{sas}\n{}", pair_logs(&p.dir));
    assert!(
        sas.contains("local  127.0.0.2/32[udp/4789]") && sas.contains("remote 127.0.0.1/32[udp]"),
        "{sas}\n{}",
        pair_logs(&p.dir)
    );
    assert!(!pair_logs(&p.dir).contains("TS_UNACCEPT"));
}
