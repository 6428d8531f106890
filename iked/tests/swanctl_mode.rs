//! `ikectl` invoked as `swanctl`, against iked, compared with the stock `swanctl` against a
//! stock charon 5.9.8 given the same files (issue 15 §5): what NVIDIA's `ovs-monitor-ipsec`
//! runs on every refresh (`--list-conns`, `-t --child NAME`, `--load-all`) must give the same
//! streams, the same exit statuses, and `--list-conns` text that parses the same way. The
//! monitor logs only `--load-all`'s stderr, and only when it contains "error" (any case), so a
//! refused connection must reach stderr and, from iked, carry that word.
//!
//! charon runs in its own mount and network namespace (a private /run, only a loopback that is
//! down); iked runs record-only on free loopback ports. Needs root, charon and swanctl; without
//! them it fails under `CI=true` and otherwise skips with a printed reason.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const CHARON: &str = "/usr/lib/ipsec/charon";

/// What the monitor writes for one VXLAN tunnel (PSK), plus a connection both daemons refuse
/// (`mode = bogus`).
const CONF: &str = r#"conn-defaults {
  unique = replace
  reauth_time = 0
  version = 2
  mobike = no
  proposals = aes128-sha256-x25519
}
child-defaults {
  esp_proposals = aes256gcm16-modp2048-esn
  mode = transport
  policies_fwd_out = yes
  start_action = none
}
connections {
  vxlanp0-1 : conn-defaults {
    local_addrs = 192.168.50.1
    remote_addrs = 192.168.50.2
    local {
      auth = psk
      id = 192.168.50.1
    }
    remote {
      auth = psk
      id = 192.168.50.2
    }
    children {
      vxlanp0-in-1 : child-defaults {
        local_ts = 192.168.50.1/32 [udp/4789]
        remote_ts = 192.168.50.2/32 [udp]
      }
      vxlanp0-out-1 : child-defaults {
        local_ts = 192.168.50.1/32 [udp]
        remote_ts = 192.168.50.2/32 [udp/4789]
      }
    }
  }
  broken-1 {
    remote_addrs = 192.168.50.3
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    children {
      broken-1 {
        mode = bogus
      }
    }
  }
}
secrets {
  ike-vxlanp0 {
    id = 192.168.50.1
    secret = swordfish
  }
}
"#;

struct Daemons {
    // Dropped first: both daemons stop before their directories go.
    _procs: Processes,
    charon_uri: String,
    iked_uri: String,
    /// A `swanctl` symlink to our ikectl.
    our_swanctl: PathBuf,
    /// The stock swanctl's strongswan.conf (no plugin noise from the host's).
    strongswan_conf: PathBuf,
    conf: PathBuf,
    dir: PathBuf,
}

fn start(tag: &str) -> Option<Daemons> {
    if !isolated_charon_available(CHARON) {
        return None;
    }
    let dir = scratch(tag);
    let mut procs = Processes::default();
    let charon_socket = dir.join("charon.vici");
    let strongswan_conf = dir.join("strongswan.conf");
    std::fs::write(
        &strongswan_conf,
        format!(
            "charon {{\n  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 gmp pem \
             pkcs1 pkcs8 x509 kernel-netlink socket-default vici\n  install_routes = no\n  \
             plugins {{\n    vici {{\n      socket = unix://{}\n    }}\n  }}\n}}\n\
             swanctl {{\n  load = pem pkcs1 x509 pubkey random\n}}\n",
            charon_socket.display()
        ),
    )
    .unwrap();
    start_isolated_charon(&mut procs, CHARON, &dir, &strongswan_conf, &charon_socket);
    let iked_socket = start_empty_iked(&mut procs, &dir);
    // The swanctl name, as the README's installation gives it to ikectl.
    let our_swanctl = dir.join("bin").join("swanctl");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ikectl"), &our_swanctl).unwrap();
    // The credential directories beside the file exist (empty), as on an installed host.
    let swanctl_dir = dir.join("swanctl");
    for sub in ["x509", "x509ca", "private", "pubkey"] {
        std::fs::create_dir_all(swanctl_dir.join(sub)).unwrap();
    }
    let conf = swanctl_dir.join("swanctl.conf");
    std::fs::write(&conf, CONF).unwrap();
    Some(Daemons {
        _procs: procs,
        charon_uri: format!("unix://{}", charon_socket.display()),
        iked_uri: format!("unix://{}", iked_socket.display()),
        our_swanctl,
        strongswan_conf,
        conf,
        dir,
    })
}

/// One run of a swanctl: exit status, stdout, stderr (stock swanctl's plugin-loading chatter
/// and missing-directory notes left out: they come from its own start-up, not the command).
#[derive(Debug)]
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(program: &Path, strongswan_conf: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(program)
        .args(args)
        .env("STRONGSWAN_CONF", strongswan_conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("plugin '") && !l.starts_with("opening directory '"))
        .map(|l| format!("{l}\n"))
        .collect();
    Run {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

impl Daemons {
    fn stock(&self, command: &[&str]) -> Run {
        let mut args = command.to_vec();
        args.extend(["--uri", &self.charon_uri]);
        run(Path::new("swanctl"), &self.strongswan_conf, &args)
    }

    fn ours(&self, command: &[&str]) -> Run {
        let mut args = command.to_vec();
        args.extend(["--uri", &self.iked_uri]);
        run(&self.our_swanctl, &self.strongswan_conf, &args)
    }
}

/// The monitor's parse of `swanctl --list-conns`: for each stripped line, the token before
/// the first ':' (lines without one skipped), kept when it looks like `<ifname>-in-<n>`,
/// `<ifname>-out-<n>` or `<ifname>-<n>`; grouped by ifname (the greedy first group, as the
/// monitor's regular expression takes it).
fn monitor_parse(list_conns: &str) -> BTreeMap<String, Vec<String>> {
    let mut conns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in list_conns.lines().map(str::trim) {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        // `(.*)(-in-\d+|-out-\d+|-\d+).*` with a greedy first group: the last `-<digits>`
        // suffix (with `-in`/`-out` before it only when nothing later matches).
        let Some(ifname) = greedy_ifname(name) else {
            continue;
        };
        conns.entry(ifname).or_default().push(name.to_owned());
    }
    conns
}

fn greedy_ifname(name: &str) -> Option<String> {
    // The greedy `(.*)` backs off as little as possible: the rightmost position where one of
    // the alternatives matches.
    let bytes = name.as_bytes();
    for start in (0..bytes.len()).rev() {
        let rest = &name[start..];
        for alt in ["-in-", "-out-", "-"] {
            if let Some(digits) = rest.strip_prefix(alt)
                && digits.starts_with(|c: char| c.is_ascii_digit())
            {
                return Some(name[..start].to_owned());
            }
        }
    }
    None
}

#[test]
fn monitor_parse_is_the_monitors() {
    let text = "vxlanp0-1: IKEv2, no reauthentication\n  local:  0.0.0.0/0\n  vxlanp0-in-1: TRANSPORT\n  vxlanp0-out-1: TRANSPORT\n";
    let parsed = monitor_parse(text);
    // The greedy group: `vxlanp0-in-1` belongs to "vxlanp0-in", as in the monitor.
    assert_eq!(
        parsed.get("vxlanp0").map(Vec::as_slice),
        Some(&["vxlanp0-1".to_owned()][..])
    );
    assert_eq!(
        parsed.get("vxlanp0-in").map(Vec::as_slice),
        Some(&["vxlanp0-in-1".to_owned()][..])
    );
    assert!(!parsed.contains_key("local"));
}

#[test]
fn swanctl_mode_matches_stock_swanctl() {
    let Some(d) = start("swanctl-mode") else {
        return;
    };
    let file = d.conf.to_str().unwrap();

    // --load-all with one connection both refuse: what loaded on stdout, what failed on
    // stderr, EINVAL (22).
    let (stock, ours) = (
        d.stock(&["--load-all", "--file", file]),
        d.ours(&["--load-all", "--file", file]),
    );
    for (who, r) in [("stock", &stock), ("ours", &ours)] {
        assert_eq!(r.status, Some(22), "{who}: {r:?}");
        assert!(
            r.stdout.contains("loaded ike secret 'ike-vxlanp0'"),
            "{who}: {r:?}"
        );
        assert!(
            r.stdout.contains("loaded connection 'vxlanp0-1'"),
            "{who}: {r:?}"
        );
        assert!(
            r.stderr.contains("loading connection 'broken-1' failed: "),
            "{who}: {r:?}"
        );
        assert!(
            r.stderr
                .contains("loaded 1 of 2 connections, 1 failed to load, 0 unloaded"),
            "{who}: {r:?}"
        );
        assert!(!r.stdout.contains("failed"), "{who}: {r:?}");
    }
    // The monitor logs the stderr of --load-all only when it matches /error/i: iked's does
    // (charon's refusal text happens not to, so the stock pair logs nothing).
    assert!(
        ours.stderr.to_ascii_lowercase().contains("error"),
        "{ours:?}"
    );

    // --list-conns: the same text where the monitor reads it (the token before the first ':').
    let (stock, ours) = (d.stock(&["--list-conns"]), d.ours(&["--list-conns"]));
    assert_eq!(stock.status, Some(0), "{stock:?}");
    assert_eq!(ours.status, Some(0), "{ours:?}");
    assert!(ours.stderr.is_empty(), "{ours:?}");
    let parsed = monitor_parse(&ours.stdout);
    assert_eq!(parsed, monitor_parse(&stock.stdout), "{ours:?}\n{stock:?}");
    assert_eq!(parsed.len(), 3, "{parsed:?}");

    // -t --child NAME with nothing up: "terminate failed: ..." on stderr, status 1.
    let (stock, ours) = (
        d.stock(&["-t", "--child", "vxlanp0-in-1"]),
        d.ours(&["-t", "--child", "vxlanp0-in-1"]),
    );
    for (who, r) in [("stock", &stock), ("ours", &ours)] {
        assert_eq!(r.status, Some(1), "{who}: {r:?}");
        assert!(r.stderr.starts_with("terminate failed: "), "{who}: {r:?}");
    }

    // A file that does not exist: stock swanctl says so on stderr; iked refuses the load with
    // "error" in its words (stock exits 0 here, iked EINVAL: see README's deviations).
    let missing = d.dir.join("missing.conf");
    let missing = missing.to_str().unwrap();
    let (stock, ours) = (
        d.stock(&["--load-all", "--file", missing]),
        d.ours(&["--load-all", "--file", missing]),
    );
    assert!(stock.stderr.contains(missing), "{stock:?}");
    assert!(ours.stderr.contains(missing), "{ours:?}");
    assert!(
        ours.stderr.to_ascii_lowercase().contains("error"),
        "{ours:?}"
    );
    assert_eq!(ours.status, Some(22), "{ours:?}");
    // Nothing was unloaded by the failed load.
    let listed = d.ours(&["--list-conns"]);
    assert!(listed.stdout.contains("vxlanp0-1:"), "{listed:?}");

    // A daemon that is not there: swanctl's two lines and the connect errno (ENOENT).
    let nowhere = format!("unix://{}", d.dir.join("nowhere.vici").display());
    let stock = run(
        Path::new("swanctl"),
        &d.strongswan_conf,
        &["--list-conns", "--uri", &nowhere],
    );
    let ours = run(
        &d.our_swanctl,
        &d.strongswan_conf,
        &["--list-conns", "--uri", &nowhere],
    );
    assert_eq!(stock.status, Some(2), "{stock:?}");
    assert_eq!(ours.status, stock.status, "{ours:?}");
    let first_two = |r: &Run| r.stderr.lines().take(2).collect::<Vec<_>>().join("\n");
    assert_eq!(first_two(&ours), first_two(&stock));
}

#[test]
fn swanctl_mode_refuses_a_bad_command_line_as_swanctl() {
    if !have("swanctl") {
        missing_prerequisite("swanctl is not installed");
        return;
    }
    let dir = scratch("swanctl-mode-usage");
    let ours_path = dir.join("swanctl");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ikectl"), &ours_path).unwrap();
    let conf = dir.join("strongswan.conf");
    std::fs::write(&conf, "swanctl {\n  load = random\n}\n").unwrap();
    let stock = run(Path::new("swanctl"), &conf, &["--frobnicate"]);
    let ours = run(&ours_path, &conf, &["--frobnicate"]);
    assert_eq!(stock.status, Some(1), "{stock:?}");
    assert_eq!(ours.status, Some(1), "{ours:?}");
    for r in [&stock, &ours] {
        assert!(r.stderr.contains("Error: "), "{r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
    }
}

/// What the monitor runs against a live tunnel: `-t --child NAME` takes that child down,
/// `--load-all` of the same file succeeds quietly on stderr, and `--list-conns` still lists
/// the connection. Two record-only daemons on loopback with the seed's `bf-out` child.
#[test]
fn terminate_child_and_load_all_as_the_monitor_runs_them() {
    let p = loopback_pair("swanctl-mode-live", Side::default(), Side::default());
    bfl_ikectl_ok(&p, &["initiate", "--child", "bf-out", "--timeout", "10"]);
    assert!(list_sas(&p.bfl).contains("bf-out"));
    let swanctl = p.dir.join("swanctl");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ikectl"), &swanctl).unwrap();
    let strongswan_conf = p.dir.join("bfl").join("strongswan.conf");
    let uri = format!("unix://{}", p.bfl.display());

    let r = run(
        &swanctl,
        &strongswan_conf,
        &["-t", "--child", "bf-out", "--uri", &uri],
    );
    assert_eq!(r.status, Some(0), "{r:?}\n{}", pair_logs(&p.dir));
    assert!(
        r.stdout.contains("terminate completed successfully"),
        "{r:?}"
    );
    assert!(r.stderr.is_empty(), "{r:?}");
    let listed = list_sas(&p.bfl);
    assert!(!listed.contains("bf-out"), "{listed}");

    let conf = p.dir.join("bfl").join("swanctl.conf");
    let r = run(
        &swanctl,
        &strongswan_conf,
        &[
            "--load-all",
            "--file",
            conf.to_str().unwrap(),
            "--uri",
            &uri,
        ],
    );
    assert_eq!(r.status, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("successfully loaded 1 connections, 0 unloaded"),
        "{r:?}"
    );
    // Nothing the monitor would log.
    assert!(!r.stderr.to_ascii_lowercase().contains("error"), "{r:?}");
    let r = run(&swanctl, &strongswan_conf, &["--list-conns", "--uri", &uri]);
    assert_eq!(r.status, Some(0), "{r:?}");
    assert!(r.stdout.starts_with("BFL-BFR: IKEv2"), "{r:?}");
}
