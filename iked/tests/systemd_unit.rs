//! The shipped systemd unit (issue 15 §5): it verifies with `systemd-analyze`, and enabling it
//! makes strongSwan's unit names (`strongswan-starter`, `strongswan`, `strongswan-swanctl`)
//! aliases of iked, also where strongSwan's own packages installed their units, so that
//! `systemctl restart strongswan-starter.service` (what NVIDIA's ovs-monitor-ipsec runs, also
//! through `service strongswan-starter restart`) restarts iked; and nothing in it stops iked
//! when one of those names is started.
//!
//! The README's installation installs that unit and puts the swanctl name where the monitor
//! looks for it first (`/usr/sbin/swanctl`, then `/usr/local/sbin/swanctl`; issue 15 §6).
//!
//! Runs systemctl offline (`--root`), so it needs no running systemd; needs systemd's tools
//! (`systemctl`, `systemd-analyze`), which fail the test under `CI=true` when missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Names tools use for strongSwan's daemon, which must name iked once it is enabled.
const STRONGSWAN_NAMES: [&str; 3] = [
    "strongswan-starter.service",
    "strongswan.service",
    "strongswan-swanctl.service",
];

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/iked.service")
}

fn unit_text() -> String {
    std::fs::read_to_string(unit_path()).unwrap()
}

/// Values of `key=` lines in the unit, space-separated values split.
fn values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[test]
fn unit_aliases_strongswan_names_and_conflicts_with_none() {
    let text = unit_text();
    let aliases = values(&text, "Alias");
    for name in STRONGSWAN_NAMES {
        assert!(aliases.iter().any(|a| a == name), "no Alias={name}");
    }
    // A Conflicts= on any of them would stop iked when a tool starts that name (and on its own
    // alias it would make the unit conflict with itself).
    let conflicts = values(&text, "Conflicts");
    assert!(
        conflicts.iter().all(|c| !c.starts_with("strongswan")),
        "{conflicts:?}"
    );
    // A restart loads the configuration: at start, and again after it (swanctl --load-all's
    // role in strongswan.service); a refused connection must not stop the daemon (`-`).
    let post = values(&text, "ExecStartPost").join(" ");
    assert!(
        post.starts_with("-/usr/sbin/ikectl load-all"),
        "ExecStartPost={post}"
    );
    assert!(
        values(&text, "ExecStart")
            .join(" ")
            .contains("--config /etc/swanctl/swanctl.conf")
    );
}

#[test]
fn unit_verifies_with_systemd_analyze() {
    if !have("systemd-analyze") {
        missing_prerequisite("systemd-analyze is not installed (systemd)");
        return;
    }
    // The installed paths point at this build's binaries, so verify finds the executables.
    let dir = scratch("systemd-verify");
    let text = unit_text()
        .replace("/usr/sbin/ikectl", env!("CARGO_BIN_EXE_ikectl"))
        .replace("/usr/sbin/iked", env!("CARGO_BIN_EXE_iked"));
    let unit = dir.join("iked.service");
    std::fs::write(&unit, text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn enabling_makes_strongswan_starter_name_iked_even_with_strongswan_installed() {
    if !have("systemctl") {
        missing_prerequisite("systemctl is not installed (systemd)");
        return;
    }
    let root = scratch("systemd-enable");
    let lib = root.join("lib/systemd/system");
    let etc = root.join("etc/systemd/system");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    // strongSwan's own units, as Debian's strongswan-starter and charon-systemd install them
    // (the host's copy when it has one).
    let host_starter = Path::new("/lib/systemd/system/strongswan-starter.service");
    let starter = std::fs::read_to_string(host_starter).unwrap_or_else(|_| {
        "[Unit]\nDescription=strongSwan IPsec using ipsec.conf\n[Service]\n\
         ExecStart=/usr/sbin/ipsec start --nofork\n[Install]\nWantedBy=multi-user.target\n"
            .into()
    });
    std::fs::write(lib.join("strongswan-starter.service"), starter).unwrap();
    std::fs::write(
        lib.join("strongswan.service"),
        "[Unit]\nDescription=strongSwan charon-systemd\n[Service]\n\
         ExecStart=/usr/sbin/charon-systemd\n[Install]\nWantedBy=multi-user.target\n\
         Alias=strongswan-swanctl.service\n",
    )
    .unwrap();
    // The README's steps: disable strongSwan's, install iked's, enable it.
    let systemctl = |args: &[&str]| {
        let out = Command::new("systemctl")
            .arg(format!("--root={}", root.display()))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = systemctl(&["enable", "strongswan-starter.service"]);
    assert!(ok, "{text}");
    let (ok, text) = systemctl(&[
        "disable",
        "strongswan.service",
        "strongswan-starter.service",
    ]);
    assert!(ok, "{text}");
    std::fs::copy(unit_path(), etc.join("iked.service")).unwrap();
    let (ok, text) = systemctl(&["enable", "iked.service"]);
    assert!(ok, "{text}");
    for name in STRONGSWAN_NAMES {
        let link = std::fs::read_link(etc.join(name))
            .unwrap_or_else(|e| panic!("{name} is not a symlink: {e}\n{text}"));
        assert_eq!(
            link.file_name().and_then(|n| n.to_str()),
            Some("iked.service"),
            "{name} -> {}",
            link.display()
        );
        let (_, state) = systemctl(&["is-enabled", name]);
        assert_eq!(state.trim(), "alias", "{name}");
    }
    // Nothing left that starts strongSwan's own starter at boot; iked starts. (The links are
    // absolute, into the offline root: look at the links, not their targets.)
    let wants = etc.join("multi-user.target.wants");
    assert!(
        std::fs::symlink_metadata(wants.join("strongswan-starter.service")).is_err(),
        "{text}"
    );
    assert!(
        std::fs::symlink_metadata(wants.join("iked.service")).is_ok(),
        "{text}"
    );
}

/// The shell lines of the README's installation block (the first fenced block of "Using it in
/// place of strongSwan"), comments dropped.
fn readme_install_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let section = readme
        .split("## Using it in place of strongSwan")
        .nth(1)
        .expect("README has the installation section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the section starts with a code block");
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn readme_install_puts_swanctl_where_the_monitor_looks() {
    let lines = readme_install_lines();
    // ikectl is installed into /usr/sbin, and the swanctl name there points at it.
    assert!(
        lines.iter().any(|l| l.starts_with("install ")
            && l.contains("ikectl")
            && l.ends_with("/usr/sbin/")),
        "{lines:?}"
    );
    let link = lines
        .iter()
        .find(|l| l.starts_with("ln ") && l.ends_with(" /usr/sbin/swanctl"))
        .unwrap_or_else(|| panic!("no link to /usr/sbin/swanctl: {lines:?}"));
    let target = link.split_whitespace().rev().nth(1).unwrap_or_default();
    assert!(target == "ikectl" || target == "/usr/sbin/ikectl", "{link}");
    // The unit, installed and enabled by the same steps.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("systemd/iked.service") && l.contains("/etc/systemd/system/")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("enable --now iked.service")),
        "{lines:?}"
    );
}
