//! Upstream Open vSwitch's `ovs-monitor-ipsec` (Debian bookworm's openvswitch-ipsec 3.1,
//! unpacked by scripts/setup-host.sh, run unmodified with `--ike-daemon=strongswan`) driving
//! iked through `ikectl` under the name `ipsec`, on two "hosts": each a network namespace with
//! a record-kernel iked on port 500, plus (in the host namespace, which only needs the files and
//! Unix sockets) its own ovsdb-server on a scratch database and its own monitor with
//! `--root-prefix`. IKE runs between the namespaces for real; no ESP is installed on the host.
//!
//! Checked: the files the monitor writes load (`ikectl check`), its tunnels appear in `ipsec
//! status` as the monitor's own parser (`StrongSwanHelper.get_active_conns`) reads them,
//! tunnels establish, a PSK change takes effect (the old version's SAs are taken down, the new
//! PSK is the one used), removing a port leaves nothing of it, and restarting the monitor keeps
//! the SAs still wanted. Needs root, iproute2, Open vSwitch's ovsdb-server/ovs-vsctl and the
//! unpacked monitor.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn monitor_script() -> PathBuf {
    let lab = std::env::var_os("IKED_LAB").unwrap_or_else(|| "/var/lib/iked-lab".into());
    PathBuf::from(lab).join("openvswitch-ipsec/usr/share/openvswitch/scripts/ovs-monitor-ipsec")
}

fn system_python_has_ovs() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import ovs.db.idl, ovs.daemon"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One OVS host: namespace, iked, ovsdb-server, monitor.
struct Host {
    dir: PathBuf,
    root: PathBuf,
    db: PathBuf,
    vici: PathBuf,
    procs: Processes,
}

impl Host {
    fn new(base: &Path, name: &str, ns: &str) -> Host {
        let dir = base.join(name);
        let root = dir.join("root");
        for d in ["etc/strongswan.d", "usr/sbin", "sbin"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ikectl"), root.join("usr/sbin/ipsec"))
            .unwrap();
        let ip = which("ip");
        std::os::unix::fs::symlink(ip, root.join("sbin/ip")).unwrap();
        std::fs::write(root.join("etc/ipsec.conf"), "").unwrap();
        std::fs::write(dir.join("strongswan.conf"), "").unwrap();
        let vici = dir.join("iked.vici");
        let mut procs = Processes::default();
        let iked = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(env!("CARGO_BIN_EXE_iked"))
            .arg("--config")
            .arg(root.join("etc/ipsec.conf"))
            .arg("--vici-socket")
            .arg(&vici)
            .args([
                "--kernel",
                "record",
                "--debug",
                "default=1,ike=2,cfg=2,knl=2",
            ])
            .arg("--strongswan-conf")
            .arg(dir.join("strongswan.conf"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("iked.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("iked.err")).unwrap())
            .spawn()
            .unwrap();
        procs.add("iked", iked);
        assert!(
            wait_for(&vici, Duration::from_secs(10)),
            "{name}: iked did not start"
        );
        let db = dir.join("conf.db");
        let ok = Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg("/usr/share/openvswitch/vswitch.ovsschema")
            .status()
            .unwrap()
            .success();
        assert!(ok, "ovsdb-tool create");
        let sock = dir.join("db.sock");
        let ovsdb = Command::new("ovsdb-server")
            .arg(&db)
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!("--unixctl={}", dir.join("ovsdb.ctl").display()))
            .arg("--no-chdir")
            .arg(format!("--log-file={}", dir.join("ovsdb.log").display()))
            .arg("-vconsole:off")
            .env("OVS_RUNDIR", &dir)
            .env("OVS_DBDIR", &dir)
            .env("OVS_LOGDIR", &dir)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        procs.add("ovsdb", ovsdb);
        assert!(
            wait_for(&sock, Duration::from_secs(10)),
            "{name}: ovsdb-server did not start"
        );
        let host = Host {
            dir,
            root,
            db: sock,
            vici,
            procs,
        };
        host.vsctl(&["init"]);
        host.vsctl(&["add-br", "br0"]);
        host
    }

    fn start_monitor(&mut self) {
        let log = self.dir.join("monitor.log");
        let monitor = Command::new("/usr/bin/python3")
            .arg(monitor_script())
            .arg(format!("--root-prefix={}", self.root.display()))
            .arg("--ike-daemon=strongswan")
            .arg(format!("unix:{}", self.db.display()))
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.dir.join("monitor.out")).unwrap())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        self.procs.add("monitor", monitor);
    }

    fn stop_monitor(&mut self) {
        if let Some(i) = self.procs.0.iter().position(|(n, _)| n == "monitor") {
            let (_, mut child) = self.procs.0.remove(i);
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// `ovs-appctl tunnels/show` of the running monitor. Its main loop answers unixctl requests
    /// only between refreshes, so an answer also means the refresh in progress (its `ipsec
    /// status` and `stroke down-nb` calls) has finished.
    fn tunnels_show(&self) -> String {
        let pid = self.procs.pid("monitor");
        let ctl = self.dir.join(format!("ovs-monitor-ipsec.{pid}.ctl"));
        assert!(
            wait_for(&ctl, Duration::from_secs(20)),
            "no monitor control socket\n{}",
            self.logs()
        );
        let out = Command::new("ovs-appctl")
            .arg("--timeout=30")
            .arg("-t")
            .arg(&ctl)
            .arg("tunnels/show")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("OVS_RUNDIR".into(), self.dir.display().to_string()),
            (
                "IPSEC_CONFDIR".into(),
                self.root.join("etc").display().to_string(),
            ),
            (
                "IKED_VICI_URI".into(),
                format!("unix://{}", self.vici.display()),
            ),
        ]
    }

    fn vsctl(&self, args: &[&str]) {
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db=unix:{}", self.db.display()))
            .arg("--no-wait")
            .args(args)
            .env("OVS_RUNDIR", &self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `ipsec <args>` as the monitor runs it: (exit status, stdout + stderr).
    fn ipsec(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(self.root.join("usr/sbin/ipsec"))
            .args(args)
            .envs(self.env())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn status(&self) -> String {
        self.ipsec(&["status"]).1
    }

    /// The monitor's own parse of `ipsec status`: StrongSwanHelper.get_active_conns() from the
    /// unmodified script, as `interface -> [connection tokens]`.
    fn ovs_active_conns(&self) -> String {
        let code = format!(
            "import importlib.machinery, importlib.util, json\n\
             loader = importlib.machinery.SourceFileLoader('m', {script:?})\n\
             spec = importlib.util.spec_from_loader('m', loader)\n\
             m = importlib.util.module_from_spec(spec)\n\
             loader.exec_module(m)\n\
             h = m.StrongSwanHelper({root:?})\n\
             print(json.dumps({{k: sorted(v) for k, v in h.get_active_conns().items()}}, sort_keys=True))\n",
            script = monitor_script().display().to_string(),
            root = self.root.display().to_string(),
        );
        let out = Command::new("/usr/bin/python3")
            .args(["-c", &code])
            .envs(self.env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.join(n)).unwrap_or_default();
        format!(
            "--- {} monitor ---\n{}\n--- iked ---\n{}{}\n--- ipsec.conf ---\n{}",
            self.dir.display(),
            read("monitor.log"),
            read("iked.log"),
            read("iked.err"),
            std::fs::read_to_string(self.root.join("etc/ipsec.conf")).unwrap_or_default()
        )
    }
}

fn which(program: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The file's text once `check` accepts it (or the last text read, after 10 s): the monitor
/// rewrites ipsec.conf and ipsec.secrets in place (truncate, then write) on every change of the
/// database, so a read can land between the two and see an empty file.
fn settled_file(path: &std::path::Path, check: impl Fn(&str) -> bool) -> String {
    let read = || std::fs::read_to_string(path).unwrap_or_default();
    eventually(Duration::from_secs(10), || check(&read()));
    read()
}

fn wait_status(host: &Host, what: &str, check: impl Fn(&str) -> bool) {
    let ok = eventually(Duration::from_secs(30), || check(&host.status()));
    assert!(ok, "{what}; status:\n{}\n{}", host.status(), host.logs());
}

/// Two namespaces joined by a veth pair with 10.77.{0,1,2}.1 (A) and .2 (B); `None` (after
/// [`missing_prerequisite`]) when this host cannot run the test.
fn namespaces(prefix: &str) -> Option<(Ns, Ns)> {
    if !is_root() || !have("ip") {
        missing_prerequisite("root and iproute2 for network namespaces");
        return None;
    }
    if !have("ovsdb-server")
        || !have("ovs-vsctl")
        || !have("ovsdb-tool")
        || !have("openssl")
        || !system_python_has_ovs()
    {
        missing_prerequisite(
            "Open vSwitch (openvswitch-switch: ovsdb-server, ovs-vsctl, python3-openvswitch) and openssl",
        );
        return None;
    }
    if !monitor_script().exists() {
        missing_prerequisite("ovs-monitor-ipsec unpacked by scripts/setup-host.sh");
        return None;
    }
    let tag = std::process::id() % 10_000;
    let (na, nb) = (format!("{prefix}A{tag}"), format!("{prefix}B{tag}"));
    for n in [&na, &nb] {
        assert!(
            Command::new("ip")
                .args(["netns", "add", n])
                .status()
                .unwrap()
                .success()
        );
    }
    let guards = (Ns(na.clone()), Ns(nb.clone()));
    let sh = |ns: &str, cmd: &str| {
        let ok = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", cmd])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{cmd}");
    };
    let addrs = |side: u8, dev: &str| {
        (0..3)
            .map(|net| format!("ip addr add 10.77.{net}.{side}/24 dev {dev}"))
            .collect::<Vec<_>>()
            .join(" && ")
    };
    sh(
        &na,
        &format!(
            "ip link set lo up && ip link add va type veth peer name vb && ip link set vb netns {nb} && {} && ip link set va up",
            addrs(1, "va")
        ),
    );
    sh(
        &nb,
        &format!(
            "ip link set lo up && {} && ip link set vb up",
            addrs(2, "vb")
        ),
    );
    Some(guards)
}

#[test]
fn upstream_ovs_monitor_ipsec_drives_iked() {
    let Some((ga, gb)) = namespaces("ovs") else {
        return;
    };
    let (na, nb) = (ga.0.clone(), gb.0.clone());
    let base = scratch("ovsmon");
    let mut a = Host::new(&base, "a", &na);
    let mut b = Host::new(&base, "b", &nb);
    a.start_monitor();
    b.start_monitor();
    // One tunnel per remote address, as OVS deployments have them: the vxlan tunnel between
    // 10.77.0.x, the GRE tunnel between 10.77.1.x.
    for (h, vx_remote, gre_remote) in [
        (&a, "10.77.0.2", "10.77.1.2"),
        (&b, "10.77.0.1", "10.77.1.1"),
    ] {
        let vx = format!("options:remote_ip={vx_remote}");
        let gre = format!("options:remote_ip={gre_remote}");
        h.vsctl(&[
            "add-port",
            "br0",
            "vx0",
            "--",
            "set",
            "interface",
            "vx0",
            "type=vxlan",
            &vx,
            "options:psk=swordfish",
        ]);
        h.vsctl(&[
            "add-port",
            "br0",
            "gre0",
            "--",
            "set",
            "interface",
            "gre0",
            "type=gre",
            &gre,
            "options:psk=gre-secret",
        ]);
    }
    // The monitor wrote its files and ran `ipsec update`: both tunnels' connections are routed.
    for h in [&a, &b] {
        wait_status(h, "routed connections", |s| {
            s.contains("vx0-in-1{0}:  ROUTED, TRANSPORT")
                && s.contains("vx0-out-1{0}:  ROUTED, TRANSPORT")
                && s.contains("gre0-1{0}:  ROUTED, TRANSPORT")
        });
    }
    // The generated files load offline too.
    let check = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .arg("check")
        .arg("--file")
        .arg(a.root.join("etc/ipsec.conf"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "ikectl check: {}{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr),
        a.logs()
    );
    // Let both monitors finish the refresh that wrote these (ovs-monitor-ipsec's greedy
    // parse takes every vxlan SA it sees in `ipsec status` for an outdated one, with charon too).
    let shown = a.tunnels_show();
    assert!(
        shown.contains("Interface name: gre0 v1 (CONFIGURED)"),
        "{shown}"
    );
    b.tunnels_show();
    // No ACQUIRE with the record kernel: start the children by name, as `auto=start` would.
    for conn in ["vx0-out-1", "vx0-in-1", "gre0-1"] {
        let (code, out) = a.ipsec(&["up", conn]);
        assert_eq!(
            code,
            0,
            "ipsec up {conn}: {out}\n{}\n{}",
            a.logs(),
            b.logs()
        );
    }
    let s = a.status();
    // The vxlan pair shares one IKE SA (its conns have equal IKE sides, merged as charon's
    // stroke plugin merges them), each direction with its own, unnarrowed selectors.
    assert!(
        s.contains("Security Associations (2 up, 0 connecting):"),
        "{s}"
    );
    assert_eq!(s.matches("vx0-in-1[").count(), 1, "{s}");
    assert!(!s.contains("vx0-out-1["), "{s}");
    for conn in ["vx0-out-1", "vx0-in-1", "gre0-1"] {
        assert!(
            s.contains(&format!("{conn}{{")) && s.contains("INSTALLED, TRANSPORT"),
            "{s}"
        );
    }
    assert!(s.contains("gre0-1[") && s.contains("ESTABLISHED"), "{s}");
    assert!(
        s.contains("10.77.0.1/32[udp] === 10.77.0.2/32[udp/4789]"),
        "{s}"
    );
    assert!(
        s.contains("10.77.0.1/32[udp/4789] === 10.77.0.2/32[udp]"),
        "{s}"
    );
    assert!(s.contains("10.77.1.1/32[47] === 10.77.1.2/32[47]"), "{s}");
    let sb = b.status();
    assert!(
        sb.contains("10.77.0.2/32[udp/4789] === 10.77.0.1/32[udp]"),
        "{sb}"
    );
    assert!(
        sb.contains("10.77.0.2/32[udp] === 10.77.0.1/32[udp/4789]"),
        "{sb}"
    );
    let shown = a.tunnels_show();
    assert!(
        shown.contains("IPsec connections that are active:\n  gre0-1"),
        "{shown}"
    );
    // The monitor's own parser: gre0 under its interface; the vxlan entries under "vx0-in" and
    // "vx0-out", the greedy regex of ovs-monitor-ipsec (the same with charon).
    let parsed = a.ovs_active_conns();
    assert!(
        parsed.contains("\"gre0\": [\"gre0-1[") && parsed.contains("\"gre0-1{"),
        "{parsed}"
    );
    assert!(parsed.contains("\"vx0-in\": [\"vx0-in-1["), "{parsed}");
    assert!(parsed.contains("\"vx0-out\": [\"vx0-out-1{"), "{parsed}");
    let first_gre = gre_sa(&a).expect("gre SA");
    restart_keeps_wanted_sas(&mut a, &first_gre);
    psk_change_takes_effect(&a, &b);
    port_removal_leaves_nothing(&a);
    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(&base);
}

/// The token of the established GRE IKE SA in `ipsec status` (`gre0-N[id]`).
fn gre_sa(h: &Host) -> Option<String> {
    h.status()
        .lines()
        .find(|l| l.trim_start().starts_with("gre0-") && l.contains("ESTABLISHED"))
        .map(|l| l.trim().split(':').next().unwrap_or_default().to_owned())
}

fn restart_keeps_wanted_sas(a: &mut Host, first_gre: &str) {
    // Restarting the monitor (`ipsec restart` with an empty file, then the full one) keeps the
    // SAs still wanted.
    a.stop_monitor();
    a.start_monitor();
    wait_status(a, "monitor restarted, tunnels routed again", |s| {
        s.contains("vx0-out-1{0}:  ROUTED") && s.contains("gre0-1{0}:  ROUTED")
    });
    a.tunnels_show();
    assert_eq!(gre_sa(a).as_deref(), Some(first_gre), "{}", a.status());
}

fn psk_change_takes_effect(a: &Host, b: &Host) {
    // A PSK change on A: gre0 version 2; the version-1 SA goes, and the new PSK is the one used
    // (B still has the old one, so A cannot authenticate until B changes too).
    a.vsctl(&["set", "interface", "gre0", "options:psk=new-secret"]);
    wait_status(a, "gre0 version 2 routed, version 1 gone", |s| {
        s.contains("gre0-2{0}:  ROUTED") && !s.contains("gre0-1")
    });
    a.tunnels_show();
    let (code, out) = a.ipsec(&["up", "gre0-2"]);
    assert_ne!(code, 0, "established with a PSK B does not have: {out}");
    b.vsctl(&["set", "interface", "gre0", "options:psk=new-secret"]);
    wait_status(b, "B on gre0 version 2", |s| {
        s.contains("gre0-2{0}:  ROUTED")
    });
    b.tunnels_show();
    let (code, out) = a.ipsec(&["up", "gre0-2"]);
    assert_eq!(
        code,
        0,
        "ipsec up gre0-2 after both changed: {out}\n{}\n{}",
        a.logs(),
        b.logs()
    );
    assert!(
        gre_sa(a).is_some_and(|s| s.starts_with("gre0-2[")),
        "{}",
        a.status()
    );
}

fn port_removal_leaves_nothing(a: &Host) {
    // Removing a port: nothing of it stays (connection, trap policy, SA).
    a.vsctl(&["del-port", "br0", "gre0"]);
    wait_status(a, "gre0 gone entirely", |s| !s.contains("gre0"));
    assert!(
        a.status().contains("vx0-out-1{0}:  ROUTED"),
        "{}",
        a.status()
    );
    let conf = settled_file(&a.root.join("etc/ipsec.conf"), |c| {
        c.contains("conn ") && !c.contains("gre0")
    });
    assert!(conf.contains("conn ") && !conf.contains("gre0"), "{conf}");
}

/// A self-signed certificate and key for `cn` (CN last, as ovs-monitor-ipsec reads the CN with
/// `CN=(.+?),` from the RFC 2253 subject; the name also as subjectAltName, which is what an
/// FQDN identity matches, as with charon).
fn self_signed(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{cn}-cert.pem")),
        dir.join(format!("{cn}-privkey.pem")),
    );
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/O=ovs/CN={cn}")])
        .args(["-addext", &format!("subjectAltName=DNS:{cn}")])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl req");
    (cert, key)
}

/// The seed's self-signed method through upstream OVS: `other_config:certificate/private_key`
/// and `options:remote_cert`; ipsec.conf gets `leftid/rightid/leftcert/rightcert`, ipsec.secrets
/// `: RSA <key>`, and the tunnel authenticates with them.
#[test]
fn upstream_ovs_monitor_ipsec_self_signed_certificates() {
    let Some((ga, gb)) = namespaces("ovc") else {
        return;
    };
    let base = scratch("ovscert");
    let mut a = Host::new(&base, "a", &ga.0);
    let mut b = Host::new(&base, "b", &gb.0);
    let (cert_a, key_a) = self_signed(&base, "hostA");
    let (cert_b, key_b) = self_signed(&base, "hostB");
    for (h, cert, key) in [(&a, &cert_a, &key_a), (&b, &cert_b, &key_b)] {
        h.vsctl(&[
            "set",
            "Open_vSwitch",
            ".",
            &format!("other_config:certificate={}", cert.display()),
            &format!("other_config:private_key={}", key.display()),
        ]);
    }
    a.start_monitor();
    b.start_monitor();
    for (h, remote, remote_cert) in [(&a, "10.77.2.2", &cert_b), (&b, "10.77.2.1", &cert_a)] {
        h.vsctl(&[
            "add-port",
            "br0",
            "gre1",
            "--",
            "set",
            "interface",
            "gre1",
            "type=gre",
            &format!("options:remote_ip={remote}"),
            &format!("options:remote_cert={}", remote_cert.display()),
        ]);
    }
    for h in [&a, &b] {
        wait_status(h, "routed certificate tunnel", |s| {
            s.contains("gre1-1{0}:  ROUTED, TRANSPORT")
        });
        h.tunnels_show();
    }
    let conf = settled_file(&a.root.join("etc/ipsec.conf"), |c| {
        c.contains("leftid=hostA") && c.contains("rightid=hostB")
    });
    let secrets = settled_file(&a.root.join("etc/ipsec.secrets"), |s| s.contains(": RSA "));
    assert!(secrets.contains(": RSA "), "{secrets}");
    assert!(
        conf.contains("leftid=hostA") && conf.contains("rightid=hostB"),
        "{conf}"
    );
    let check = Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .arg("check")
        .arg("--file")
        .arg(a.root.join("etc/ipsec.conf"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "ikectl check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let (code, out) = a.ipsec(&["up", "gre1-1"]);
    assert_eq!(
        code,
        0,
        "ipsec up gre1-1: {out}\n{}\n{}",
        a.logs(),
        b.logs()
    );
    let s = a.status();
    assert!(
        s.contains("gre1-1[1]: ESTABLISHED") && s.contains("10.77.2.1[hostA]...10.77.2.2[hostB]"),
        "{s}"
    );
    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(&base);
}
