//! Acceptance: `iked` against a stock strongSwan charon, in two network namespaces on the
//! host (192.168.50.1 = iked "BFL", 192.168.50.2 = charon "BFR", the seed's addresses, which
//! exist only inside the namespaces). The host kernel has no ESP, so the seed's IKE SA is
//! established childless (RFC 6023) and iked runs its record-only kernel backend. Both roles
//! are exercised, driven by `ikectl initiate` and by charon's `swanctl --initiate`; then the
//! stock `swanctl --list-sas` and the Python `vici` package list our SA.
//!
//! Needs root (namespaces), `ip`, strongSwan's charon and swanctl, and the Python vici package
//! (`scripts/setup-host.sh` installs them); without one it fails under `CI=true` and otherwise
//! skips with a printed reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const CHARON: &str = "/usr/lib/ipsec/charon";

struct Netns {
    names: Vec<String>,
}

impl Netns {
    fn create(left: &str, right: &str, suffix: &str) -> Result<Netns, String> {
        let ns = Netns {
            names: vec![left.to_owned(), right.to_owned()],
        };
        let sh = |cmd: String| -> Result<(), String> {
            let out = Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!("{cmd}: {}", String::from_utf8_lossy(&out.stderr)))
            }
        };
        sh(format!("ip netns add {left}"))?;
        sh(format!("ip netns add {right}"))?;
        let pid = suffix;
        sh(format!(
            "ip link add ikedl{pid} netns {left} type veth peer name ikedr{pid} netns {right}"
        ))?;
        sh(format!(
            "ip -n {left} addr add 192.168.50.1/24 dev ikedl{pid}"
        ))?;
        sh(format!(
            "ip -n {right} addr add 192.168.50.2/24 dev ikedr{pid}"
        ))?;
        sh(format!("ip -n {left} link set ikedl{pid} up"))?;
        sh(format!("ip -n {right} link set ikedr{pid} up"))?;
        sh(format!("ip -n {left} link set lo up"))?;
        sh(format!("ip -n {right} link set lo up"))?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn charon_conf(dir: &Path, vici: &Path, kernel_plugins: &str) -> PathBuf {
    let path = dir.join("strongswan.conf");
    std::fs::write(
        &path,
        format!(
            r#"charon {{
  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 gmp pem pkcs1 x509 {kernel_plugins} socket-default vici
  install_routes = no
  install_virtual_ip = no
  filelog {{
    log {{
      path = {log}
      default = 1
      ike = 2
      cfg = 2
      flush_line = yes
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{vici}
    }}
  }}
}}
"#,
            log = dir.join("charon.log").display(),
            vici = vici.display(),
            kernel_plugins = kernel_plugins
        ),
    )
    .unwrap();
    path
}

/// The seed's BFR side, for charon (which accepts childless IKE SAs by default). Debian's
/// 5.9.8 predates `hw_offload = packet` (5.9.10), so that child gets `no`.
fn charon_swanctl_conf() -> String {
    seed_conf("BFR-BFL", "192.168.50.2", "192.168.50.1", "host2", "host1")
        .replace("hw_offload = packet", "hw_offload = no")
}

fn swanctl(uri: &str, args: &[&str]) -> std::process::Output {
    Command::new("swanctl")
        .args(args)
        .arg("--uri")
        .arg(uri)
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Both daemons running in their namespaces with their configurations loaded.
struct Lab {
    // Field order is drop order: daemons stop before the namespaces go away.
    procs: Processes,
    _netns: Netns,
    dir: PathBuf,
    iked_dir: PathBuf,
    iked_vici: PathBuf,
    iked_uri: String,
    charon_uri: String,
}

impl Lab {
    fn logs(&self) -> String {
        format!(
            "--- iked.log\n{}\n--- charon.log\n{}",
            std::fs::read_to_string(self.iked_dir.join("iked.log")).unwrap_or_default(),
            std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
        )
    }

    /// Fails the test with the command's output and both daemons' logs unless it succeeded.
    fn expect_ok(&self, out: &std::process::Output, what: &str) {
        assert!(
            out.status.success(),
            "{what}: {}\n{}",
            text(out),
            self.logs()
        );
    }
}

/// Sets the lab up, or returns `None` after printing why it cannot run here.
fn setup(tag: char, charon_plugins: &str, charon_swanctl: &str, iked_conf: &str) -> Option<Lab> {
    if !is_root() {
        missing_prerequisite("needs root for network namespaces");
        return None;
    }
    for tool in ["ip", "swanctl"] {
        if !have(tool) {
            missing_prerequisite(&format!("{tool} is not installed"));
            return None;
        }
    }
    if !Path::new(CHARON).exists() {
        missing_prerequisite(&format!("{CHARON} is missing (strongswan-charon)"));
        return None;
    }
    let pid = std::process::id() % 100_000;
    let netns = match Netns::create(
        &format!("ikedL{pid}{tag}"),
        &format!("ikedR{pid}{tag}"),
        &format!("{pid}{tag}"),
    ) {
        Ok(n) => n,
        Err(e) => {
            missing_prerequisite(&format!("cannot create network namespaces: {e}"));
            return None;
        }
    };
    let (left, right) = (netns.names[0].clone(), netns.names[1].clone());
    let dir = scratch(&format!("interop-{tag}"));
    let mut procs = Processes::default();

    // charon in the right namespace, with a private /run (pid file, sockets).
    let charon_vici = dir.join("charon.vici");
    let strongswan_conf = charon_conf(&dir, &charon_vici, charon_plugins);
    let charon = Command::new("ip")
        .args(["netns", "exec", &right, "unshare", "-m", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs none /run && STRONGSWAN_CONF={} exec {CHARON}",
            strongswan_conf.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("charon.stderr")).unwrap())
        .spawn()
        .unwrap();
    procs.add("charon", charon);
    assert!(
        wait_for(&charon_vici, Duration::from_secs(30)),
        "charon did not start: {}",
        std::fs::read_to_string(dir.join("charon.stderr")).unwrap_or_default()
    );
    let charon_uri = format!("unix://{}", charon_vici.display());
    let charon_side = dir.join("bfr.conf");
    std::fs::write(&charon_side, charon_swanctl).unwrap();
    let out = swanctl(
        &charon_uri,
        &[
            "--load-all",
            "--noprompt",
            "--file",
            charon_side.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "charon load-all: {}", text(&out));

    // iked in the left namespace.
    let iked_dir = dir.join("iked");
    std::fs::create_dir_all(&iked_dir).unwrap();
    let (iked, iked_vici) = start_iked(&iked_dir, iked_conf, &[], &["ip", "netns", "exec", &left]);
    procs.add("iked", iked);
    assert!(
        wait_for(&iked_vici, Duration::from_secs(10)),
        "iked did not start: {}",
        std::fs::read_to_string(iked_dir.join("iked.log")).unwrap_or_default()
    );
    let iked_uri = format!("unix://{}", iked_vici.display());
    Some(Lab {
        procs,
        _netns: netns,
        dir,
        iked_dir,
        iked_vici,
        iked_uri,
        charon_uri,
    })
}

#[test]
fn seed_ike_sa_against_stock_charon_in_both_roles() {
    let Some(lab) = setup(
        'a',
        "kernel-netlink",
        &charon_swanctl_conf(),
        &seed_conf("BFL-BFR", "192.168.50.1", "192.168.50.2", "host1", "host2"),
    ) else {
        return;
    };

    // Role 1: iked initiates (childless: the host kernel cannot hold ESP SAs).
    let out = ikectl(
        &lab.iked_vici,
        &["initiate", "--ike", "BFL-BFR", "--timeout", "30"],
    );
    lab.expect_ok(&out, "ikectl initiate");
    let ours = swanctl(&lab.iked_uri, &["--list-sas"]);
    assert!(
        text(&ours).contains("BFL-BFR: #") && text(&ours).contains("ESTABLISHED, IKEv2"),
        "stock swanctl --list-sas against iked: {}",
        text(&ours)
    );
    assert!(
        text(&ours).contains("remote 'host2' @ 192.168.50.2[500]"),
        "{}",
        text(&ours)
    );
    let theirs = swanctl(&lab.charon_uri, &["--list-sas"]);
    assert!(
        text(&theirs).contains("BFR-BFL: #") && text(&theirs).contains("ESTABLISHED"),
        "charon's view: {}",
        text(&theirs)
    );
    if python_has_vici() {
        let script = format!(
            "import socket, vici\ns=socket.socket(socket.AF_UNIX); s.connect({:?})\n\
             sas=list(vici.Session(s).list_sas())\n\
             assert sas[0]['BFL-BFR']['state']==b'ESTABLISHED', sas\nprint('ok')",
            lab.iked_vici.display().to_string()
        );
        let out = Command::new(python3())
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success(), "python vici: {}", text(&out));
    } else {
        missing_prerequisite("the Python vici package (scripts/setup-host.sh installs it)");
    }
    let out = ikectl(
        &lab.iked_vici,
        &["terminate", "--ike", "BFL-BFR", "--timeout", "10"],
    );
    lab.expect_ok(&out, "terminate");

    // Role 2: charon initiates, iked responds.
    let out = swanctl(
        &lab.charon_uri,
        &["--initiate", "--ike", "BFR-BFL", "--timeout", "30"],
    );
    lab.expect_ok(&out, "charon initiate");
    let ours = swanctl(&lab.iked_uri, &["--list-sas"]);
    assert!(
        text(&ours).contains("ESTABLISHED, IKEv2") && text(&ours).contains("_r*"),
        "iked as responder: {}\n{}",
        text(&ours),
        lab.logs()
    );
    drop(lab.procs);
}

/// A tunnel-mode child in both roles: charon runs its userspace ESP (`kernel-libipsec`,
/// tunnel mode only, no ESN), iked records its kernel requests.
#[test]
fn tunnel_child_against_charon_libipsec() {
    let tunnel = |conf: String| {
        conf.replace("mode = transport", "mode = tunnel")
            // Debian's charon has no AES-GCM without its openssl plugin; libipsec has no ESN.
            .replace("aes128gcm128-x25519-esn", "aes128-sha256-x25519")
            .replace("policies_fwd_out = yes\n", "")
            .replace(" [udp/4789]", "")
            .replace(" [udp]", "")
    };
    let charon_side = tunnel(charon_swanctl_conf());
    let iked_side = tunnel(seed_conf(
        "BFL-BFR",
        "192.168.50.1",
        "192.168.50.2",
        "host1",
        "host2",
    ))
    .replace("hw_offload = packet", "hw_offload = no");
    let Some(lab) = setup(
        'b',
        "kernel-libipsec kernel-netlink",
        &charon_side,
        &iked_side,
    ) else {
        return;
    };
    // iked initiates the child (IKE_AUTH carries it).
    let out = ikectl(
        &lab.iked_vici,
        &["initiate", "--child", "bf-out", "--timeout", "30"],
    );
    lab.expect_ok(&out, "ikectl initiate");
    let ours = text(&swanctl(&lab.iked_uri, &["--list-sas"]));
    assert!(ours.contains("bf-out: #"), "{ours}");
    // libipsec only does ESP-in-UDP, so charon fakes a NAT (`faking NAT situation`): iked
    // sees it behind one and encapsulates too (RFC 3948).
    assert!(
        ours.contains("INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-128/HMAC_SHA2_256_128")
            && ours.contains("@ 192.168.50.1[4500]"),
        "{ours}\n{}",
        lab.logs()
    );
    let theirs = text(&swanctl(&lab.charon_uri, &["--list-sas"]));
    assert!(
        theirs.contains("bf-out: #") && theirs.contains("INSTALLED"),
        "{theirs}"
    );
    // The child of IKE_AUTH had no key exchange: both list the same proposal, without group.
    assert_eq!(
        child_proposal(&ours).as_deref(),
        Some("ESP:AES_CBC-128/HMAC_SHA2_256_128"),
        "{ours}"
    );
    assert_eq!(child_proposal(&ours), child_proposal(&theirs), "{theirs}");
    // The record-only backend logged what it would have installed.
    assert!(
        lab.logs()
            .contains("RECORD-ONLY (nothing installed): adding SAD entry"),
        "{}",
        lab.logs()
    );
    // A second child rides CREATE_CHILD_SA on the same IKE SA.
    let out = ikectl(
        &lab.iked_vici,
        &["terminate", "--child", "bf-out", "--timeout", "10"],
    );
    lab.expect_ok(&out, "terminate child");
    let out = ikectl(
        &lab.iked_vici,
        &["initiate", "--child", "bf-out", "--timeout", "30"],
    );
    lab.expect_ok(&out, "CREATE_CHILD_SA");
    let ours = text(&swanctl(&lab.iked_uri, &["--list-sas"]));
    assert_eq!(
        ours.matches("BFL-BFR: #").count(),
        1,
        "one IKE SA reused: {ours}"
    );
    // Created by CREATE_CHILD_SA with the configured X25519: both list the group.
    let theirs = text(&swanctl(&lab.charon_uri, &["--list-sas"]));
    assert_eq!(
        child_proposal(&ours).as_deref(),
        Some("ESP:AES_CBC-128/HMAC_SHA2_256_128/CURVE_25519"),
        "{ours}\n{}",
        lab.logs()
    );
    assert_eq!(child_proposal(&ours), child_proposal(&theirs), "{theirs}");

    // Responder role for a child: charon initiates bf-out towards iked.
    let out = ikectl(
        &lab.iked_vici,
        &["terminate", "--ike", "BFL-BFR", "--timeout", "10"],
    );
    lab.expect_ok(&out, "terminate");
    let out = swanctl(
        &lab.charon_uri,
        &["--initiate", "--child", "bf-out", "--timeout", "30"],
    );
    lab.expect_ok(&out, "charon initiate");
    let ours = text(&swanctl(&lab.iked_uri, &["--list-sas"]));
    assert!(
        ours.contains("_r*") && ours.contains("bf-out: #"),
        "{ours}\n{}",
        lab.logs()
    );
    assert!(
        ours.contains("INSTALLED, TUNNEL-in-UDP"),
        "{ours}\n{}",
        lab.logs()
    );
    drop(lab.procs);
}

/// The proposal part of the `bf-out` line of a `swanctl --list-sas` listing
/// (`  bf-out: #2, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:...`).
fn child_proposal(list: &str) -> Option<String> {
    list.lines()
        .find(|l| l.trim_start().starts_with("bf-out: #"))
        .and_then(|l| l.rsplit(", ").next())
        .map(str::to_owned)
}
