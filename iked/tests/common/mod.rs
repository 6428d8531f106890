//! Helpers shared by the daemon's integration tests: scratch directories, starting `iked`
//! and waiting for its VICI socket, and a guard that stops every process a test started.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The BlueField seed configuration (NVIDIA's swanctl.conf BFL example), parameterised by
/// addresses and the identities' roles.
pub fn seed_conf(name: &str, local: &str, remote: &str, local_id: &str, remote_id: &str) -> String {
    format!(
        r#"connections {{
  {name} {{
    local_addrs = {local}
    remote_addrs = {remote}
    local {{
      auth = psk
      id = {local_id}
    }}
    remote {{
      auth = psk
      id = {remote_id}
    }}
    children {{
      bf-out {{
        local_ts = {local}/24 [udp]
        remote_ts = {remote}/24 [udp/4789]
        esp_proposals = aes128gcm128-x25519-esn
        mode = transport
        policies_fwd_out = yes
        hw_offload = packet
      }}
    }}
    version = 2
    mobike = no
    reauth_time = 0
    proposals = aes128-sha256-x25519
  }}
}}
secrets {{
  ike-BF {{
    id-host1 = host1
    id-host2 = host2
    secret = 0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL
  }}
}}
"#
    )
}

/// A fresh scratch directory under cargo's per-target scratch dir (so it goes with `target/`),
/// or the system temp dir when that path is too long for the Unix sockets tests bind there
/// (108 bytes with the names below them).
pub fn scratch(tag: &str) -> PathBuf {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if target_tmp.as_os_str().len() <= 50 {
        target_tmp.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("iked-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills (by pid) the processes it holds when dropped, so a failing test leaves nothing
/// running.
#[derive(Default)]
pub struct Processes(pub Vec<(String, Child)>);

impl Processes {
    pub fn add(&mut self, name: &str, child: Child) {
        self.0.push((name.to_owned(), child));
    }

    /// The pid of the process added as `name`.
    pub fn pid(&self, name: &str) -> u32 {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.id())
            .unwrap_or_else(|| panic!("no process {name}"))
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in self.0.iter_mut().rev() {
            // SIGTERM first so daemons clean up their sockets; then make sure.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            for _ in 0..50 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `path` exists (a daemon's VICI socket).
pub fn wait_for(path: &Path, timeout: Duration) -> bool {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(step);
        waited += step;
    }
    false
}

/// Two free UDP ports on loopback (so tests need no privileges for 500/4500).
pub fn free_udp_ports() -> (u16, u16) {
    let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Starts `iked` (record-only kernel) with `conf`, VICI socket in `dir`. Its strongswan.conf is
/// `dir/strongswan.conf` (created empty unless the test wrote one), never the host's.
pub fn start_iked(dir: &Path, conf: &str, extra: &[&str], prefix: &[&str]) -> (Child, PathBuf) {
    let conf_path = dir.join("swanctl.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let strongswan_conf = dir.join("strongswan.conf");
    if !strongswan_conf.exists() {
        std::fs::write(&strongswan_conf, "").unwrap();
    }
    let socket = dir.join("iked.vici");
    let log = std::fs::File::create(dir.join("iked.log")).unwrap();
    let mut cmd = if prefix.is_empty() {
        Command::new(env!("CARGO_BIN_EXE_iked"))
    } else {
        let mut c = Command::new(prefix[0]);
        c.args(&prefix[1..]).arg(env!("CARGO_BIN_EXE_iked"));
        c
    };
    cmd.arg("--config")
        .arg(&conf_path)
        .arg("--vici-socket")
        .arg(&socket)
        .arg("--kernel")
        .arg("record")
        .arg("--strongswan-conf")
        .arg(&strongswan_conf);
    // The test's own levels, when it passes `--debug` in `extra`.
    if !extra.contains(&"--debug") {
        cmd.arg("--debug").arg("default=1,ike=2");
    }
    cmd.args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let child = cmd.spawn().expect("starting iked");
    (child, socket)
}

/// Starts `iked` with the real XFRM kernel inside network namespace `ns` (the root-only tests
/// of recovery and hand-over), its stderr in `log`; returns once `socket` exists, or fails with
/// the log. A socket left by an earlier instance is removed first.
pub fn start_xfrm_iked_in(
    ns: &str,
    conf: &Path,
    socket: &Path,
    log: &Path,
    extra: &[&str],
) -> Child {
    let _ = std::fs::remove_file(socket);
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(env!("CARGO_BIN_EXE_iked"))
        .arg("--config")
        .arg(conf)
        .arg("--vici-socket")
        .arg(socket)
        .args(["--kernel", "xfrm"])
        .args(extra)
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    assert!(
        wait_for(socket, Duration::from_secs(20)),
        "iked did not start:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    child
}

/// `ikectl list-sas` output as text.
pub fn list_sas(socket: &Path) -> String {
    String::from_utf8_lossy(&ikectl(socket, &["list-sas"]).stdout).into_owned()
}

pub fn ikectl(socket: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ikectl"))
        .arg("--uri")
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .output()
        .expect("running ikectl")
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The Python with strongSwan's `vici` package: the lab venv that `scripts/setup-host.sh`
/// fills (`$IKED_LAB/venv`, default `/var/lib/iked-lab/venv`), else the system's `python3`.
pub fn python3() -> PathBuf {
    let lab = std::env::var_os("IKED_LAB").unwrap_or_else(|| "/var/lib/iked-lab".into());
    let venv = PathBuf::from(lab).join("venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// A test that cannot run here because `what` is missing. Under CI (`CI=true`) that is a
/// failure: CI's set-up (`scripts/setup-host.sh`) must provide every prerequisite, so a tier that
/// silently skipped would pass without testing anything. Elsewhere the test says why and returns.
pub fn missing_prerequisite(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("prerequisite missing under CI=true: {what}");
    }
    println!("SKIP: {what}");
}

pub fn python_has_vici() -> bool {
    Command::new(python3())
        .args(["-c", "import vici"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Two record-only daemons on loopback: BFL (127.0.0.1, the initiator side) and BFR
/// (127.0.0.2), both on the same unprivileged ports, with the seed's configuration.
pub struct LoopbackPair {
    pub procs: Processes,
    /// BFL's VICI socket.
    pub bfl: PathBuf,
    /// BFR's VICI socket.
    pub bfr: PathBuf,
    pub dir: PathBuf,
}

/// How one side of a [`LoopbackPair`] differs from the seed.
#[derive(Default)]
pub struct Side<'a> {
    /// Edits the side's swanctl.conf text.
    pub edit: Option<&'a dyn Fn(String) -> String>,
    /// The side's strongswan.conf text.
    pub strongswan_conf: &'a str,
    /// Further daemon arguments.
    pub extra: &'a [&'a str],
}

/// One record-only iked with the seed's BFL side (127.0.0.1, peer 127.0.0.2) on free ports.
pub struct LoneIked {
    pub procs: Processes,
    /// Its VICI socket.
    pub socket: PathBuf,
    /// Its IKE port (the NAT-T port is another free one).
    pub ike_port: u16,
    pub pid: u32,
}

/// Starts a [`LoneIked`] in `dir` with the connection named `conn` and `extra` daemon
/// arguments, and waits for its VICI socket (showing its log if it never appears).
pub fn start_seed_iked(dir: &Path, conn: &str, extra: &[&str]) -> LoneIked {
    let (ike, nat_t) = free_udp_ports();
    let conf = seed_conf(conn, "127.0.0.1", "127.0.0.2", "host1", "host2");
    let (ike_arg, nat_t_arg) = (ike.to_string(), nat_t.to_string());
    let mut args = vec![
        "--port",
        ike_arg.as_str(),
        "--port-nat-t",
        nat_t_arg.as_str(),
    ];
    args.extend_from_slice(extra);
    let (child, socket) = start_iked(dir, &conf, &args, &[]);
    let pid = child.id();
    let mut procs = Processes::default();
    procs.add("iked", child);
    assert!(
        wait_for(&socket, Duration::from_secs(10)),
        "iked did not create its VICI socket; log:\n{}",
        std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default()
    );
    LoneIked {
        procs,
        socket,
        ike_port: ike,
        pid,
    }
}

/// [`start_seed_iked`] without extra arguments: (processes, VICI socket).
pub fn start_lone_iked(dir: &Path, conn: &str) -> (Processes, PathBuf) {
    let lone = start_seed_iked(dir, conn, &[]);
    (lone.procs, lone.socket)
}

/// Starts a [`LoopbackPair`] and waits until both VICI sockets answer.
pub fn loopback_pair(tag: &str, bfl: Side<'_>, bfr: Side<'_>) -> LoopbackPair {
    let dir = scratch(tag);
    let (ike, nat_t) = free_udp_ports();
    let ports = [
        "--port".to_owned(),
        ike.to_string(),
        "--port-nat-t".to_owned(),
        nat_t.to_string(),
    ];
    let ports: Vec<&str> = ports.iter().map(String::as_str).collect();
    // Both daemons listen on the same unprivileged port, so each must send there.
    let remote_port = |conf: String| {
        conf.replace(
            "    version = 2\n",
            &format!("    version = 2\n    remote_port = {ike}\n"),
        )
    };
    let mut procs = Processes::default();
    let mut sockets = Vec::new();
    for (name, side, (local, remote, local_id, remote_id)) in [
        ("bfl", &bfl, ("127.0.0.1", "127.0.0.2", "host1", "host2")),
        ("bfr", &bfr, ("127.0.0.2", "127.0.0.1", "host2", "host1")),
    ] {
        let side_dir = dir.join(name);
        std::fs::create_dir_all(&side_dir).unwrap();
        std::fs::write(side_dir.join("strongswan.conf"), side.strongswan_conf).unwrap();
        let conn = if name == "bfl" { "BFL-BFR" } else { "BFR-BFL" };
        let mut conf = remote_port(seed_conf(conn, local, remote, local_id, remote_id));
        if let Some(edit) = side.edit {
            conf = edit(conf);
        }
        let args: Vec<&str> = ports.iter().chain(side.extra).copied().collect();
        let (child, socket) = start_iked(&side_dir, &conf, &args, &[]);
        procs.add(name, child);
        assert!(wait_for(&socket, Duration::from_secs(10)), "{name} up");
        sockets.push(socket);
    }
    let bfr_socket = sockets.pop().unwrap();
    let bfl_socket = sockets.pop().unwrap();
    LoopbackPair {
        procs,
        bfl: bfl_socket,
        bfr: bfr_socket,
        dir,
    }
}

/// Both daemons' logs, for assertion messages.
/// Runs `ikectl` against the pair's BFL daemon, asserts that it succeeded (showing both
/// daemons' logs if not) and returns what it printed.
pub fn bfl_ikectl_ok(p: &LoopbackPair, args: &[&str]) -> String {
    let out = ikectl(&p.bfl, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "ikectl {args:?}: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        pair_logs(&p.dir)
    );
    stdout
}

pub fn pair_logs(dir: &Path) -> String {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    format!(
        "--- BFL ---\n{}\n--- BFR ---\n{}",
        read(dir.join("bfl/iked.log")),
        read(dir.join("bfr/iked.log"))
    )
}

/// Polls `check` every 100 ms for up to `limit`; true as soon as it holds.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    while waited < limit {
        if check() {
            return true;
        }
        std::thread::sleep(step);
        waited += step;
    }
    check()
}

/// A network namespace on the host for one test, deleted with everything in it when dropped.
pub struct Netns(pub String);

impl Netns {
    /// `ip netns add iked<tag><pid>`; `None` (after [`missing_prerequisite`]) without root,
    /// iproute2 or one of `programs`, or when the kernel refuses the namespace.
    pub fn new(tag: &str, programs: &[&str]) -> Option<Netns> {
        if !is_root() || !have("ip") || programs.iter().any(|p| !have(p)) {
            let extra: String = programs.iter().map(|p| format!(", {p}")).collect();
            missing_prerequisite(&format!("root and iproute2{extra} for a network namespace"));
            return None;
        }
        let name = format!("iked{tag}{}", std::process::id() % 100_000);
        let made = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            missing_prerequisite("a network namespace (ip netns add failed)");
            return None;
        }
        Some(Netns(name))
    }

    /// Runs `cmd` with `sh -c` in the namespace and asserts that it succeeds.
    pub fn sh(&self, cmd: &str) {
        let ok = Command::new("ip")
            .args(["netns", "exec", &self.0, "sh", "-c", cmd])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{cmd}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Starts Debian's charon with `strongswan_conf` in its own mount and network namespaces (a
/// private `/run`, so it never meets a host charon) and waits for its VICI socket `socket`.
pub fn start_isolated_charon(
    procs: &mut Processes,
    charon: &str,
    dir: &Path,
    strongswan_conf: &Path,
    socket: &Path,
) {
    let child = Command::new("unshare")
        .args(["-m", "-n", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs none /run && STRONGSWAN_CONF={} exec {charon}",
            strongswan_conf.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("charon.stderr")).unwrap())
        .spawn()
        .unwrap();
    procs.add("charon", child);
    assert!(
        wait_for(socket, Duration::from_secs(30)),
        "charon did not start: {}",
        std::fs::read_to_string(dir.join("charon.stderr")).unwrap_or_default()
    );
}

/// Starts an iked without connections in `dir/iked` on free ports; returns its VICI socket.
pub fn start_empty_iked(procs: &mut Processes, dir: &Path) -> PathBuf {
    let iked_dir = dir.join("iked");
    std::fs::create_dir_all(&iked_dir).unwrap();
    start_iked_on_free_ports(procs, &iked_dir, "")
}

/// Starts an iked with `conf` in `dir` on free ports, waits for its VICI socket and returns
/// it; the daemon is stopped with `procs`.
pub fn start_iked_on_free_ports(procs: &mut Processes, dir: &Path, conf: &str) -> PathBuf {
    let (ike, nat_t) = free_udp_ports();
    let ports = [
        "--port".to_string(),
        ike.to_string(),
        "--port-nat-t".to_string(),
        nat_t.to_string(),
    ];
    let args: Vec<&str> = ports.iter().map(String::as_str).collect();
    let (iked, socket) = start_iked(dir, conf, &args, &[]);
    procs.add("iked", iked);
    assert!(
        wait_for(&socket, Duration::from_secs(10)),
        "iked did not start: {}",
        std::fs::read_to_string(dir.join("iked.log")).unwrap_or_default()
    );
    socket
}

/// Whether [`start_isolated_charon`] can run here (root, swanctl, unshare and `charon`);
/// reports the missing piece through [`missing_prerequisite`] when not.
pub fn isolated_charon_available(charon: &str) -> bool {
    if !is_root() {
        missing_prerequisite("needs root for charon's private mount and network namespace");
        return false;
    }
    if let Some(tool) = ["swanctl", "unshare"].into_iter().find(|t| !have(t)) {
        missing_prerequisite(&format!("{tool} is not installed"));
        return false;
    }
    if !Path::new(charon).exists() {
        missing_prerequisite(&format!("{charon} is missing (strongswan-charon)"));
        return false;
    }
    true
}
