//! Reloading a swanctl.conf in which one connection is invalid, as charon does it per
//! connection: a refused connection keeps its previous version (and its established SAs), the
//! others are added, replaced or unloaded, and the report names which. Through SIGHUP,
//! `ikectl load-all` and stock `swanctl --load-all`. Record-only daemons on loopback.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// The seed connection `name` made invalid: IKE version 9 is refused by the parser's
/// validation (and by charon's `load-conn`), while the file as a whole still parses.
fn invalid(conf: String) -> String {
    conf.replace("    version = 2\n", "    version = 9\n")
}

/// Only the `connections { ... }` body of a seed configuration (to put several in one file).
fn conn_section(conf: &str) -> String {
    let start = conf.find("connections {\n").expect("connections") + "connections {\n".len();
    let end = conf.find("}\nsecrets {").expect("secrets");
    conf[start..end].to_owned()
}

/// A file with the given connection bodies and the seed's secrets.
fn file_with(conns: &[String]) -> String {
    let seed = seed_conf("X", "127.0.0.1", "127.0.0.2", "host1", "host2");
    let secrets = &seed[seed.find("secrets {").expect("secrets")..];
    format!("connections {{\n{}}}\n{secrets}", conns.concat())
}

fn conn(name: &str, remote: &str) -> String {
    conn_section(&seed_conf(name, "127.0.0.1", remote, "host1", "host2"))
}

fn list_conns(socket: &Path) -> String {
    String::from_utf8_lossy(&ikectl(socket, &["list-conns"]).stdout).into_owned()
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default()
}

#[test]
fn sighup_keeps_a_connection_that_became_invalid_and_its_sa() {
    let p = loopback_pair("reload-hup", Side::default(), Side::default());
    let out = ikectl(
        &p.bfl,
        &["initiate", "--child", "bf-out", "--timeout", "20"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        pair_logs(&p.dir)
    );
    let before = list_sas(&p.bfl);
    assert!(before.contains("BFL-BFR: #1, ESTABLISHED"), "{before}");

    // BFL-BFR becomes invalid; a valid NEW and an invalid BAD appear.
    let conf_path = p.dir.join("bfl/swanctl.conf");
    let current = std::fs::read_to_string(&conf_path).unwrap();
    let bfl_bfr = invalid(conn_section(&current));
    let text = file_with(&[
        bfl_bfr,
        conn("NEW", "127.0.0.5"),
        invalid(conn("BAD", "127.0.0.6")),
    ]);
    std::fs::write(&conf_path, text).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &p.procs.pid("bfl").to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let bfl_log = || log_of(&p.dir.join("bfl"));
    assert!(
        eventually(Duration::from_secs(10), || bfl_log()
            .contains("1 added, 0 replaced, 1 kept, 2 refused")),
        "{}",
        bfl_log()
    );
    let log = bfl_log();
    assert!(log.contains("loading connection 'BAD' failed:"), "{log}");
    assert!(
        log.contains("kept the previous version of connection 'BFL-BFR'"),
        "{log}"
    );
    assert!(!log.contains("reload failed"), "{log}");

    let listed = list_conns(&p.bfl);
    assert!(listed.contains("BFL-BFR: IKEv2"), "{listed}");
    assert!(listed.contains("NEW: IKEv2"), "{listed}");
    assert!(!listed.contains("BAD:"), "{listed}");
    // The kept connection's established SA is untouched.
    let after = list_sas(&p.bfl);
    assert!(after.contains("BFL-BFR: #1, ESTABLISHED"), "{after}");

    // A valid edit replaces it; as with charon, the established SA stays (it keeps the
    // configuration it was negotiated with). NEW stays, BAD is gone from the file.
    let edited = current.replace(
        "    mobike = no\n",
        "    mobike = no\n    dpd_delay = 30s\n",
    );
    assert_ne!(edited, current);
    let text = file_with(&[conn_section(&edited), conn("NEW", "127.0.0.5")]);
    std::fs::write(&conf_path, text).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &p.procs.pid("bfl").to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        eventually(Duration::from_secs(10), || bfl_log()
            .contains("0 added, 2 replaced, 0 kept, 0 refused, 0 unloaded")),
        "{}",
        bfl_log()
    );
    assert!(
        bfl_log().contains("replaced connection 'BFL-BFR'"),
        "{}",
        bfl_log()
    );
    let after = list_sas(&p.bfl);
    assert!(after.contains("BFL-BFR: #1, ESTABLISHED"), "{after}");
}

#[test]
fn ikectl_load_all_replaces_adds_refuses_and_unloads_per_connection() {
    let dir = scratch("reload-ikectl");
    let (_procs, socket) = start_lone_iked(&dir, "BFL-BFR");
    let file = dir.join("other.conf");

    // A valid edit of BFL-BFR replaces it, NEW is added, BAD (new and invalid) is refused.
    std::fs::write(
        &file,
        file_with(&[
            conn("BFL-BFR", "127.0.0.9"),
            conn("NEW", "127.0.0.5"),
            invalid(conn("BAD", "127.0.0.6")),
        ]),
    )
    .unwrap();
    let out = ikectl(&socket, &["load-all", "--file", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("loaded connection 'BFL-BFR'"), "{text}");
    assert!(text.contains("loaded connection 'NEW'"), "{text}");
    assert!(text.contains("loading connection 'BAD' failed: "), "{text}");
    assert!(
        text.contains("loaded 2 of 3 connections, 1 failed to load, 0 unloaded"),
        "{text}"
    );
    let listed = list_conns(&socket);
    assert!(listed.contains("127.0.0.9"), "replaced: {listed}");
    assert!(listed.contains("NEW: IKEv2"), "{listed}");
    assert!(!listed.contains("BAD:"), "{listed}");

    // The structured reply names each category.
    std::fs::write(
        &file,
        file_with(&[
            invalid(conn("BFL-BFR", "127.0.0.10")),
            conn("THIRD", "127.0.0.7"),
        ]),
    )
    .unwrap();
    let out = ikectl(
        &socket,
        &["--json", "load-all", "--file", file.to_str().unwrap()],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(json["conns-added"], serde_json::json!(["THIRD"]), "{json}");
    assert_eq!(json["conns-replaced"], serde_json::json!([]), "{json}");
    assert_eq!(json["conns-kept"], serde_json::json!(["BFL-BFR"]), "{json}");
    assert_eq!(
        json["conns-unloaded-names"],
        serde_json::json!(["NEW"]),
        "{json}"
    );
    assert!(
        json["conns-refused"]["BFL-BFR"]
            .as_str()
            .is_some_and(|e| e.contains("version")),
        "{json}"
    );
    let listed = list_conns(&socket);
    assert!(listed.contains("127.0.0.9"), "kept version: {listed}");
    assert!(!listed.contains("127.0.0.10"), "{listed}");
    assert!(!listed.contains("NEW:"), "unloaded: {listed}");
    assert!(listed.contains("THIRD: IKEv2"), "{listed}");

    // A file that does not parse changes nothing at all.
    std::fs::write(&file, "connections {\n  broken {\n").unwrap();
    let out = ikectl(&socket, &["load-all", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let again = list_conns(&socket);
    assert_eq!(again, listed);
}

#[test]
fn stock_swanctl_load_all_keeps_a_refused_connection() {
    if !have("swanctl") {
        missing_prerequisite("strongSwan's swanctl is not installed (strongswan-swanctl)");
        return;
    }
    let dir = scratch("reload-swanctl");
    let (_procs, socket) = start_lone_iked(&dir, "BFL-BFR");
    let file = dir.join("swanctl-side.conf");
    std::fs::write(
        &file,
        file_with(&[
            invalid(conn("BFL-BFR", "127.0.0.9")),
            conn("NEW", "127.0.0.5"),
        ]),
    )
    .unwrap();
    let out = Command::new("swanctl")
        .args(["--load-all", "--noprompt", "--file"])
        .arg(&file)
        .arg("--uri")
        .arg(format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    // swanctl prints failures on stderr, the rest on stdout.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("loading connection 'BFL-BFR' failed"),
        "{text}"
    );
    assert!(text.contains("loaded connection 'NEW'"), "{text}");
    assert!(
        text.contains("loaded 1 of 2 connections, 1 failed to load"),
        "{text}"
    );
    let listed = list_conns(&socket);
    assert!(listed.contains("BFL-BFR: IKEv2"), "kept: {listed}");
    assert!(!listed.contains("127.0.0.9"), "{listed}");
    assert!(listed.contains("NEW: IKEv2"), "{listed}");
}
