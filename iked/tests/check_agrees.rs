//! `ikectl check` and the daemon agree on every swanctl.conf the repository's tests use
//! (issue 16 §1): for each file, `check` passes exactly when the daemon loads every connection
//! of it, a connection `check` names in an error is one the daemon refuses (and only those),
//! and a file `check` refuses outright stops the daemon's start. Record-only daemons on
//! loopback, unprivileged.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// The swanctl.conf files in the repository (examples, the lab's seeds, captured lab configs,
/// the parser's regression data), found by walking it, so a new one is covered too.
fn repository_configs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "fuzz" {
                    dirs.push(path);
                }
            } else if name.ends_with(".conf")
                && !name.starts_with("strongswan")
                && !name.starts_with("ipsec")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Variants the conversion treats specially, written next to the seed.
fn variants() -> Vec<(&'static str, String)> {
    let seed = seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2");
    let second = seed_conf("OTHER", "192.168.60.1", "192.168.60.2", "host3", "host4");
    let two = format!(
        "{}{}",
        seed.split("secrets {")
            .next()
            .unwrap()
            .trim_end()
            .trim_end_matches('}'),
        second.replacen("connections {", "", 1)
    );
    vec![
        (
            "names.conf",
            seed.replace(
                "remote_addrs = 192.168.50.2",
                "remote_addrs = bfr.example, localhost",
            ),
        ),
        (
            "wide.conf",
            seed.replace(
                "local_addrs = 192.168.50.1",
                "local_addrs = 0.0.0.0/0, ::/0",
            )
            .replace(
                "remote_addrs = 192.168.50.2",
                "remote_addrs = %any, 10.0.0.1-10.0.0.9",
            ),
        ),
        (
            "missing-cert.conf",
            seed.replace(
                "      auth = psk\n      id = host1\n",
                "      auth = pubkey\n      certs = missing.pem\n",
            ),
        ),
        (
            "eap.conf",
            seed.replace(
                "auth = psk\n      id = host2",
                "auth = eap-tls\n      id = host2",
            ),
        ),
        (
            "one-of-two-refused.conf",
            two.replacen(
                "      auth = psk\n      id = host3\n",
                "      auth = pubkey\n      certs = missing.pem\n",
                1,
            ),
        ),
        ("syntax.conf", seed.replace("children {", "children {{")),
    ]
}

/// `ikectl check`: exit code, and the connections its error lines name.
fn check(path: &Path) -> (Option<i32>, Vec<String>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .args(["check", "--file", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut named: Vec<String> = text
        .lines()
        .filter_map(|l| l.split("connection '").nth(1)?.split('\'').next())
        .map(str::to_owned)
        .collect();
    named.sort();
    named.dedup();
    (out.status.code(), named, text)
}

/// The connection names a file defines, valid or not, as the daemon's per-connection load
/// reads them (`None` if the file as a whole does not parse).
fn defined(path: &Path) -> Option<Vec<String>> {
    let loaded = iked_conf::load_file_per_conn(path).ok()?;
    let mut names: Vec<String> = loaded
        .config
        .connections
        .iter()
        .map(|c| c.name.clone())
        .collect();
    names.extend(loaded.refused.into_iter().map(|(n, _)| n));
    Some(names)
}

/// The connections the daemon's start-up line says it refused.
fn daemon_refused(log: &str) -> Vec<String> {
    let Some(list) = log
        .split(" refused: [")
        .nth(1)
        .and_then(|l| l.split(']').next())
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = list
        .split(", ")
        .map(|n| n.trim_matches('"').to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names
}

/// Starts the daemon on `conf`: the connections `list-conns` shows, or `None` if it did not
/// start (with its log).
fn daemon_loads(dir: &Path, conf: &str) -> (Option<String>, String) {
    let (ike, nat_t) = free_udp_ports();
    let (mut child, socket) = start_iked(
        dir,
        conf,
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
    let started = eventually(Duration::from_secs(10), || {
        socket.exists() || child.try_wait().ok().flatten().is_some()
    });
    assert!(started, "iked neither started nor exited");
    let conns = if child.try_wait().ok().flatten().is_some()
        || !wait_for(&socket, Duration::from_secs(5))
    {
        None
    } else {
        Some(String::from_utf8_lossy(&ikectl(&socket, &["list-conns"]).stdout).into_owned())
    };
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default();
    (conns, log)
}

#[test]
fn check_and_the_daemon_agree_on_every_test_configuration() {
    let scratch_dir = scratch("check-agrees");
    let mut files: Vec<(String, String)> = repository_configs()
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    assert!(files.len() >= 5, "too few configs found: {files:?}");
    files.extend(variants().into_iter().map(|(n, t)| (n.to_owned(), t)));
    for (i, (origin, text)) in files.iter().enumerate() {
        let dir = scratch_dir.join(i.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        // Both read the same copy, so relative includes and credential paths resolve alike.
        let path = dir.join("swanctl.conf");
        std::fs::write(&path, text).unwrap();
        let (code, named, check_text) = check(&path);
        let (conns, log) = daemon_loads(&dir, text);
        let what = format!("{origin}:\ncheck ({code:?}):\n{check_text}\ndaemon:\n{log}");
        match (&conns, defined(&path)) {
            // The file does not parse: check refuses it and the daemon does not start.
            (None, None) => assert_ne!(code, Some(0), "{what}"),
            // Check passes exactly when the daemon refuses nothing; the connections check
            // names in its errors are the ones the daemon refused, and every other one loads.
            (Some(listed), Some(names)) => {
                let refused = daemon_refused(&log);
                assert_eq!(code == Some(0), refused.is_empty(), "{what}");
                assert_eq!(named, refused, "{what}");
                for n in &names {
                    assert_eq!(
                        listed.contains(&format!("{n}:")),
                        !refused.contains(n),
                        "connection {n}: {what}"
                    );
                }
            }
            other => panic!("check and the daemon disagree ({other:?}): {what}"),
        }
    }
}
