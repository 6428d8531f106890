//! NVIDIA's ovs-monitor-ipsec configuration shape (issue 15 §1-3; `../shared/reference/
//! ovs-ipsec.md` §2) through the daemon: `ikectl check` and the daemon accept `hw_offload =
//! full` (as `packet`, with a notice) and `local_addrs = 0.0.0.0/0`, and two record-only
//! daemons on loopback that load it at the same moment, both children `start_action = start`
//! and `unique = replace`, settle on one IKE SA per tunnel carrying both children, round after
//! round. Unprivileged, loopback only.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// The monitor's file for one VXLAN tunnel between `local` and `remote` (its templates,
/// `local_addrs = 0.0.0.0/0`, PSK ids by address, in/out children with mirrored ports);
/// `port` is the test's unprivileged IKE port (the monitor leaves the default).
fn monitor_conf(local: &str, remote: &str, port: Option<u16>, offload: &str) -> String {
    let remote_port = port.map_or_else(String::new, |p| format!("        remote_port = {p}\n"));
    format!(
        r#"conn-defaults {{
    unique = replace
    reauth_time = 0
    version = 2
    mobike = no
    proposals = aes128-sha256-x25519
}}
child-defaults {{
    esp_proposals = aes256gcm16-modp2048-esn
    mode = transport
    policies_fwd_out = yes
    start_action = start
}}
connections {{
    vxlanp0-1 : conn-defaults {{
        local_addrs = 0.0.0.0/0
        remote_addrs = {remote}
{remote_port}        local {{
            auth = psk
            id = {local}
        }}
        remote {{
            auth = psk
            id = {remote}
        }}
        children {{
            vxlanp0-in-1 : child-defaults {{
                local_ts = {local}/32[udp/4789]
                remote_ts = {remote}/32[udp]
                hw_offload = {offload}
            }}
            vxlanp0-out-1 : child-defaults {{
                local_ts = {local}/32[udp]
                remote_ts = {remote}/32[udp/4789]
                hw_offload = {offload}
            }}
        }}
    }}
}}
secrets {{
    ike-vxlanp0 {{
        id = {local}
        secret = swordfish
    }}
}}
"#
    )
}

fn check(path: &Path) -> (Option<i32>, String) {
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

#[test]
fn check_accepts_the_monitor_file_with_full_offload_as_packet() {
    let dir = scratch("ovs-monitor-check");
    for (local, remote) in [("192.168.1.1", "192.168.1.2"), ("fd00::1", "fd00::2")] {
        let conf = monitor_conf(local, remote, None, "full").replace(
            "0.0.0.0/0",
            if local.contains(':') {
                "::/0"
            } else {
                "0.0.0.0/0"
            },
        );
        let path = dir.join("ovs-swanctl.conf");
        std::fs::write(&path, &conf).unwrap();
        let (code, text) = check(&path);
        assert_eq!(code, Some(0), "{conf}\n{text}");
        assert!(
            text.contains("hw_offload = full") && text.contains("hw_offload = packet"),
            "the notice names both spellings: {text}"
        );
        assert!(
            text.contains("vxlanp0-in-1") && text.contains("vxlanp0-out-1"),
            "{text}"
        );
    }
    // A value NVIDIA's strongSwan did not know either is still refused, naming the choices.
    let path = dir.join("bad.conf");
    std::fs::write(
        &path,
        monitor_conf("192.168.1.1", "192.168.1.2", None, "fully"),
    )
    .unwrap();
    let (code, text) = check(&path);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("'fully' is not a valid hw_offload value"),
        "{text}"
    );
    assert!(text.contains("full"), "{text}");
}

/// One IKE SA as `ikectl --json list-sas` shows it.
#[derive(Debug)]
struct Sa {
    spis: (String, String),
    state: String,
    /// (name, state, spi-in, spi-out)
    children: Vec<(String, String, String, String)>,
}

fn sas(socket: &Path) -> Vec<Sa> {
    let out = ikectl(socket, &["--json", "list-sas"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut list = Vec::new();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    for line in text.lines().filter(|l| l.trim_start().starts_with('{')) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(obj) = v.as_object() else { continue };
        for sa in obj.values() {
            let mut children = Vec::new();
            if let Some(cs) = sa["child-sas"].as_object() {
                for c in cs.values() {
                    children.push((s(c, "name"), s(c, "state"), s(c, "spi-in"), s(c, "spi-out")));
                }
            }
            children.sort();
            list.push(Sa {
                spis: (s(sa, "initiator-spi"), s(sa, "responder-spi")),
                state: s(sa, "state"),
                children,
            });
        }
    }
    list
}

/// Each end holds one established IKE SA, the same one, with both children installed once
/// each and each child's SPIs mirrored at the other end.
fn converged(a: &[Sa], b: &[Sa]) -> bool {
    let ([a], [b]) = (a, b) else { return false };
    let names = |s: &Sa| s.children.iter().map(|c| c.0.clone()).collect::<Vec<_>>();
    a.state == "ESTABLISHED"
        && b.state == "ESTABLISHED"
        && a.spis == b.spis
        && names(a) == ["vxlanp0-in-1", "vxlanp0-out-1"]
        && names(b) == names(a)
        && a.children
            .iter()
            .chain(&b.children)
            .all(|c| c.1 == "INSTALLED")
        && a.children
            .iter()
            .all(|ca| b.children.iter().any(|cb| cb.2 == ca.3 && cb.3 == ca.2))
}

fn start_both(dir: &Path, port: u16, nat_t: u16) -> (Processes, [PathBuf; 2]) {
    let mut procs = Processes::default();
    let mut sockets = Vec::new();
    let ports = [port.to_string(), nat_t.to_string()];
    for (name, local, remote) in [
        ("a", "127.0.0.1", "127.0.0.2"),
        ("b", "127.0.0.2", "127.0.0.1"),
    ] {
        let side = dir.join(name);
        std::fs::create_dir_all(&side).unwrap();
        let _ = std::fs::remove_file(side.join("iked.vici"));
        let mut conf = monitor_conf(local, remote, Some(port), "no");
        if name == "b" {
            // Loopback's route to 127.0.0.1 leaves from 127.0.0.1, where B does not listen:
            // B names its address; A (initiating and answering) keeps the monitor's 0.0.0.0/0.
            conf = conf.replace("local_addrs = 0.0.0.0/0", "local_addrs = 127.0.0.2");
        }
        let args = [
            "--listen",
            local,
            "--port",
            &ports[0],
            "--port-nat-t",
            &ports[1],
        ];
        // Spawned back to back, without waiting: both load and start at the same moment.
        let (child, socket) = start_iked(&side, &conf, &args, &[]);
        procs.add(name, child);
        sockets.push(socket);
    }
    for s in &sockets {
        assert!(wait_for(s, Duration::from_secs(10)), "{}", logs(dir));
    }
    let b = sockets.pop().unwrap();
    let a = sockets.pop().unwrap();
    (procs, [a, b])
}

fn logs(dir: &Path) -> String {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    format!(
        "--- A ---\n{}\n--- B ---\n{}",
        read(dir.join("a/iked.log")),
        read(dir.join("b/iked.log"))
    )
}

#[test]
fn both_ends_starting_at_once_settle_on_one_ike_sa_each_round() {
    let dir = scratch("ovs-monitor-start");
    let (port, nat_t) = free_udp_ports();
    for round in 0..5 {
        let (procs, [a, b]) = start_both(&dir, port, nat_t);
        let ok = eventually(Duration::from_secs(20), || converged(&sas(&a), &sas(&b)));
        assert!(
            ok,
            "round {round}: A {:#?}\nB {:#?}\n{}",
            sas(&a),
            sas(&b),
            logs(&dir)
        );
        // And it stays so once the crossing is resolved (no late delete takes the survivor).
        std::thread::sleep(iked_ike::engine::CROSSING_GRACE * 2 + Duration::from_millis(500));
        assert!(
            converged(&sas(&a), &sas(&b)),
            "round {round} later: A {:#?}\nB {:#?}\n{}",
            sas(&a),
            sas(&b),
            logs(&dir)
        );
        drop(procs);
    }
}

/// The monitor's PSK change: it writes the tunnel again under a new version (`vxlanp0-2`,
/// new secret) and runs `--load-all`. The old connection is unloaded, and with it go its IKE
/// SA and children (charon closes what `start_action = start` brought up); the new one comes
/// up in their place, and no listing in between shows a child without its proposal.
#[test]
fn a_psk_change_replaces_the_old_sas() {
    let dir = scratch("ovs-monitor-psk");
    let (port, nat_t) = free_udp_ports();
    let (_procs, [a, b]) = start_both(&dir, port, nat_t);
    assert!(
        eventually(Duration::from_secs(20), || converged(&sas(&a), &sas(&b))),
        "{}",
        logs(&dir)
    );
    let old_spis = sas(&a)[0].spis.clone();
    for (name, socket) in [("a", &a), ("b", &b)] {
        let path = dir.join(name).join("swanctl.conf");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("-1", "-2")
            .replace("swordfish", "marlin");
        std::fs::write(&path, text).unwrap();
        let out = ikectl(socket, &["load-all", "--file", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    let mut listings = Vec::new();
    let settled = eventually(Duration::from_secs(20), || {
        listings.push(list_sas(&a));
        listings.push(list_sas(&b));
        let (sa, sb) = (sas(&a), sas(&b));
        let renamed = |l: &[Sa]| {
            l.iter()
                .all(|s| s.children.iter().all(|c| c.0.ends_with("-2")))
        };
        sa.len() == 1
            && sb.len() == 1
            && sa[0].spis != old_spis
            && sa[0].spis == sb[0].spis
            && renamed(&sa)
            && renamed(&sb)
            && sa[0].children.len() == 2
            && sb[0].children.len() == 2
            && sa[0]
                .children
                .iter()
                .chain(&sb[0].children)
                .all(|c| c.1 == "INSTALLED")
    });
    assert!(
        settled,
        "A {:#?}\nB {:#?}\n{}",
        sas(&a),
        sas(&b),
        logs(&dir)
    );
    for l in &listings {
        assert!(!l.contains("ESP:\n") && !l.contains("ESP: \n"), "{l}");
    }
    let log = std::fs::read_to_string(dir.join("a/iked.log")).unwrap();
    assert!(log.contains("of a replaced connection"), "{log}");
}
