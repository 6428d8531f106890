//! The daemon's VICI server against real clients: our `ikectl`, the stock strongSwan
//! `swanctl` binary and the Python `vici` package, plus hostile input over a raw socket.
//! Runs unprivileged on loopback (ephemeral ports, record-only kernel). Tests that need a
//! third-party tool fail under `CI=true` when it is missing, and otherwise skip with a printed
//! reason.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use common::*;
use iked::vici::codec::{self, Message, Packet};

fn start(tag: &str) -> (Processes, std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch(tag);
    let (procs, socket) = start_lone_iked(&dir, "BFL-BFR");
    (procs, socket, dir)
}

fn raw_exchange(socket: &std::path::Path, bytes: &[u8]) -> Option<Packet> {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut header = [0u8; 4];
    s.read_exact(&mut header).ok()?;
    let len = codec::segment_len(header).ok()?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    codec::decode_packet(&body).ok()
}

#[test]
fn ikectl_lists_and_survives_hostile_clients() {
    let (_procs, socket, _dir) = start("ikectl");

    let out = ikectl(&socket, &["list-conns"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.starts_with("BFL-BFR: IKEv2"), "{text}");
    assert!(
        text.contains("  bf-out: TRANSPORT, rekeying every 3600s"),
        "{text}"
    );
    assert!(
        text.contains("    remote: 127.0.0.0/24[udp/4789]"),
        "{text}"
    );

    let out = ikectl(&socket, &["--json", "list-conns"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["BFL-BFR"]["children"]["bf-out"]["hw_offload"],
        "packet"
    );

    // Unknown command: CMD_UNKNOWN.
    let req = codec::encode_packet(&Packet::CmdRequest {
        command: "frobnicate".into(),
        message: Message::new(),
    })
    .unwrap();
    assert_eq!(raw_exchange(&socket, &req), Some(Packet::CmdUnknown));

    // Malformed message inside a well-framed packet: an error response.
    let mut bad = vec![0, 0, 0, 0, 0, 7];
    bad.extend_from_slice(b"version");
    bad.extend_from_slice(&[3, 200]); // KEY_VALUE whose name length runs past the end
    let len = (bad.len() - 4) as u32;
    bad[..4].copy_from_slice(&len.to_be_bytes());
    match raw_exchange(&socket, &bad) {
        Some(Packet::CmdResponse(m)) => {
            assert_eq!(m.get_str("success"), Some("no"));
            assert!(m.get_str("errmsg").unwrap().contains("malformed"));
        }
        other => panic!("expected an error response, got {other:?}"),
    }

    // A segment claiming 16 MiB: refused with an error, connection closed.
    match raw_exchange(&socket, &(16u32 << 20).to_be_bytes()) {
        Some(Packet::CmdResponse(m)) => {
            assert!(m.get_str("errmsg").unwrap().contains("exceeds"), "{m:?}")
        }
        other => panic!("expected an error response, got {other:?}"),
    }

    // Still serving.
    let out = ikectl(&socket, &["stats"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("IKE_SAs: 0 total, 0 half-open"));
}

#[test]
fn load_conn_unload_and_initiate_timeout() {
    let (_procs, socket, dir) = start("load");
    // Reload through ikectl (the daemon parses the file).
    let conf = dir.join("other.conf");
    std::fs::write(
        &conf,
        seed_conf("SECOND", "127.0.0.1", "127.0.0.3", "host1", "host2"),
    )
    .unwrap();
    let out = ikectl(&socket, &["load-all", "--file", conf.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("loaded ike secret 'ike-BF'"), "{text}");
    assert!(text.contains("loaded connection 'SECOND'"), "{text}");
    let listed = String::from_utf8_lossy(&ikectl(&socket, &["list-conns"]).stdout).into_owned();
    assert!(listed.contains("SECOND: IKEv2"));
    assert!(
        !listed.contains("BFL-BFR:"),
        "file reload replaces file connections"
    );

    // A file that does not parse is rejected with located errors and changes nothing (one
    // that parses but has an invalid connection refuses only that one: tests/reload.rs).
    std::fs::write(&conf, "connections {\n  x {\n    version 9\n  }\n}\n").unwrap();
    let out = ikectl(&socket, &["load-all", "--file", conf.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("other.conf:3:"));
    let listed = String::from_utf8_lossy(&ikectl(&socket, &["list-conns"]).stdout).into_owned();
    assert!(listed.contains("SECOND: IKEv2"));

    // Nobody answers at 127.0.0.3: initiate streams the log and fails on its timeout.
    let out = ikectl(
        &socket,
        &["initiate", "--child", "bf-out", "--timeout", "2"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("initiating IKE_SA SECOND"), "{text}");
    let sas = String::from_utf8_lossy(&ikectl(&socket, &["list-sas"]).stdout).into_owned();
    assert!(sas.starts_with("SECOND: #1, CONNECTING, IKEv2"), "{sas}");
    let out = ikectl(&socket, &["terminate", "--ike", "SECOND"]);
    assert!(out.status.success());
    let sas = String::from_utf8_lossy(&ikectl(&socket, &["list-sas"]).stdout).into_owned();
    assert!(sas.is_empty(), "{sas}");
}

#[test]
fn stock_swanctl_talks_to_iked() {
    if !have("swanctl") {
        missing_prerequisite("strongSwan's swanctl is not installed (strongswan-swanctl)");
        return;
    }
    let (_procs, socket, dir) = start("swanctl");
    let uri = format!("unix://{}", socket.display());
    let run = |args: &[&str]| {
        Command::new("swanctl")
            .args(args)
            .arg("--uri")
            .arg(&uri)
            .output()
            .unwrap()
    };
    let out = run(&["--list-conns"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("BFL-BFR: IKEv2"), "{text}");
    assert!(
        text.contains("local pre-shared key authentication:"),
        "{text}"
    );

    // swanctl --load-conns sends the tree via load-conn; load-creds sends load-shared.
    let conf = dir.join("swanctl-side.conf");
    std::fs::write(
        &conf,
        seed_conf("VIA-VICI", "127.0.0.1", "127.0.0.4", "host1", "host2"),
    )
    .unwrap();
    let out = run(&["--load-all", "--noprompt", "--file", conf.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("loaded connection 'VIA-VICI'"), "{text}");
    assert!(text.contains("loaded ike secret 'ike-BF'"), "{text}");
    let listed = String::from_utf8_lossy(&ikectl(&socket, &["list-conns"]).stdout).into_owned();
    assert!(listed.contains("VIA-VICI: IKEv2"), "{listed}");

    let out = run(&["--stats"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("IKE_SAs: 0 total"));
}

#[test]
fn python_vici_talks_to_iked() {
    if !python_has_vici() {
        missing_prerequisite("the Python vici package is not installed (pip install vici)");
        return;
    }
    let (_procs, socket, _dir) = start("python");
    let script = format!(
        r#"
import socket, vici
s = socket.socket(socket.AF_UNIX)
s.connect({path:?})
v = vici.Session(s)
assert v.version()["daemon"] == b"iked"
conns = list(v.list_conns())
assert "bf-out" in conns[0]["BFL-BFR"]["children"], conns
assert v.get_conns()["conns"] == [b"BFL-BFR"]
v.load_shared({{"type": "IKE", "data": "secret", "owners": ["a@b"], "id": "k1"}})
v.unload_conn({{"name": "BFL-BFR"}})
assert v.get_conns()["conns"] == []
try:
    v.initiate({{"child": "nope"}}).__next__()
    raise SystemExit("initiate of an unknown child succeeded")
except vici.exception.CommandException as e:
    assert "not found" in str(e), e
print("ok")
"#,
        path = socket.display().to_string()
    );
    let out = Command::new(python3())
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}
