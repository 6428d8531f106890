//! Namespaces, commands, captures and test traffic inside the lab VM.
//!
//! Contract: [`Lab::create_topology`] builds namespaces `bfl` and `bfr` joined by a veth pair
//! named `p0` in both (the seed's interface name), addresses 192.168.50.1/24 and .2/24, `lo` up;
//! [`Lab::destroy_topology`] removes them (and with them every SA, policy and socket inside).
//! Every external command runs under a time limit ([`run_capture`]), so a hung tool fails its
//! scenario instead of the whole VM. Test traffic is UDP datagrams numbered by sequence ([`udp_send`],
//! [`udp_receive`]) so losses are counted exactly; ICMP echo is the clear-text control.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::clock::Stopwatch;
use crate::swan_conf::Side;
use crate::xfrm_text::{self, XfrmPolicy, XfrmState};

/// Name of the veth on both hosts (the seed's `p0`).
pub const LINK: &str = "p0";
/// The seed's VXLAN port, protected by the tunnel.
pub const VXLAN_PORT: u16 = 4789;

/// Paths of the tools the lab drives.
#[derive(Debug, Clone)]
pub struct Lab {
    /// iproute2 `ip` (6.15 from bookworm-backports when present: it knows `offload packet`).
    pub ip: PathBuf,
    /// This crate's `lab-runner`, re-executed inside namespaces for traffic helpers.
    pub runner: PathBuf,
    /// The lab directory of `scripts/setup-host.sh` (trixie roots of the peers).
    pub dir: PathBuf,
}

/// Formats a command line for messages.
fn display_cmd(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `program args` for at most `secs` seconds, returning its output whatever the exit
/// status; past the limit the program gets SIGTERM, then SIGKILL 2 s later, and the output says
/// so in its stderr with the exit status coreutils `timeout` would give (124).
///
/// The limit is kept here rather than by wrapping the command in `timeout(1)`: under TCG every
/// exec of a dynamically linked program costs tens to hundreds of milliseconds, and a row runs
/// hundreds of commands, so the wrapper's own exec was a visible share of the lab's time.
/// With `IKED_LAB_TRACE` set, each command's start and duration go to stderr (the console),
/// which is how the lab's time is profiled.
pub fn run_capture(program: &str, args: &[String], secs: u64) -> Result<Output, LabError> {
    let watch = Stopwatch::start();
    let out = run_limited(program, args, Duration::from_secs(secs))
        .map_err(|e| LabError::Setup(format!("cannot run {program}: {e}")));
    trace(&display_cmd(program, args), watch.secs());
    out
}

/// [`run_capture`]'s body: the child's stdout and stderr are drained by two threads (a full pipe
/// must not stall it) while a third waits for its exit, so the limit is a plain channel timeout.
fn run_limited(program: &str, args: &[String], limit: Duration) -> std::io::Result<Output> {
    use std::io::Read;
    use std::sync::mpsc;

    use std::os::unix::process::CommandExt;

    // Its own process group, which the limit signals whole, as `timeout(1)` does: a tool's
    // helpers die with it.
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let (status, timed_out) = match rx.recv_timeout(limit) {
        Ok(status) => (status?, false),
        Err(_) => {
            signal_group(pid, "TERM");
            let status = match rx.recv_timeout(Duration::from_secs(2)) {
                Ok(status) => status?,
                Err(_) => {
                    signal_group(pid, "KILL");
                    rx.recv()
                        .map_err(|_| std::io::Error::other("waiter thread lost"))??
                }
            };
            (status, true)
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let mut stderr = stderr.join().unwrap_or_default();
    if timed_out {
        stderr.extend_from_slice(
            format!("\n[lab] killed after the {} s limit\n", limit.as_secs()).as_bytes(),
        );
        // What `timeout(1)` reported, so messages and callers see the same status as before.
        use std::os::unix::process::ExitStatusExt;
        return Ok(Output {
            status: std::process::ExitStatus::from_raw(124 << 8),
            stdout,
            stderr,
        });
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Writes one profiling line (see [`run_capture`]): seconds since the runner started, the
/// step's duration, and what it was.
pub fn trace(what: &str, took: f64) {
    static ENABLED: std::sync::OnceLock<Option<Stopwatch>> = std::sync::OnceLock::new();
    let start =
        ENABLED.get_or_init(|| std::env::var_os("IKED_LAB_TRACE").map(|_| Stopwatch::start()));
    if let Some(start) = start {
        let short: String = what.chars().take(160).collect();
        eprintln!("[trace {:8.2}] {took:6.2}s {short}", start.secs());
    }
}

/// Runs a command and fails unless it exits 0; returns stdout.
pub fn run_ok(program: &str, args: &[String], secs: u64) -> Result<String, LabError> {
    let out = run_capture(program, args, secs)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command: display_cmd(program, args),
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

/// Builds an argument vector from string slices.
pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Polls `check` every 100 ms until it returns true, for at most `secs` seconds of wall time.
///
/// The budget is measured, not counted in polls: a check that runs `ip` in both namespaces
/// takes about a second under TCG, so "150 polls" once meant minutes instead of 15 s.
pub fn wait_until(
    what: &str,
    secs: u64,
    mut check: impl FnMut() -> Result<bool, LabError>,
) -> Result<(), LabError> {
    let watch = Stopwatch::start();
    let budget = Duration::from_secs(secs);
    while watch.elapsed() < budget {
        if check()? {
            return Ok(());
        }
        sleep(Duration::from_millis(100));
    }
    if check()? {
        return Ok(());
    }
    Err(LabError::Timeout {
        what: what.to_string(),
        secs,
    })
}

/// Sends a signal to a process with `kill(1)` (no unsafe FFI needed for this).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Sends a signal to the process group led by `pid` (see [`run_capture`]).
fn signal_group(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stderr(Stdio::null())
        .status();
}

/// Stops a child: `sig` first, SIGKILL after `grace_ms`, then reaps it.
pub fn stop_child(child: &mut Child, sig: &str, grace_ms: u64) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal(child.id(), sig);
    for _ in 0..grace_ms / 50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Lab {
    /// Arguments that run `rest` inside `side`'s network namespace.
    pub fn in_ns(&self, side: Side, rest: &[String]) -> Vec<String> {
        let mut v = args(&["netns", "exec", side.name()]);
        v.extend_from_slice(rest);
        v
    }

    fn ip_ok(&self, a: &[&str]) -> Result<String, LabError> {
        run_ok(&self.ip.to_string_lossy(), &args(a), 20)
    }

    /// Builds the two hosts and their link (removing leftovers of an earlier scenario first).
    pub fn create_topology(&self) -> Result<(), LabError> {
        self.destroy_topology();
        for side in Side::BOTH {
            self.ip_ok(&["netns", "add", side.name()])?;
            self.ip_ok(&["-n", side.name(), "link", "set", "lo", "up"])?;
        }
        self.ip_ok(&[
            "link", "add", LINK, "netns", "bfl", "type", "veth", "peer", "name", LINK, "netns",
            "bfr",
        ])?;
        for side in Side::BOTH {
            let cidr = format!("{}/24", side.addr());
            self.ip_ok(&["-n", side.name(), "addr", "add", &cidr, "dev", LINK])?;
            self.ip_ok(&["-n", side.name(), "link", "set", LINK, "up"])?;
        }
        // The veth needs a moment before it carries traffic (carrier up on both ends).
        wait_until("veth carrier", 10, || {
            let out = self.ip_ok(&["-n", "bfl", "link", "show", LINK])?;
            Ok(out.contains("LOWER_UP"))
        })
    }

    /// Removes both namespaces (ignoring ones that do not exist).
    pub fn destroy_topology(&self) {
        for side in Side::BOTH {
            let _ = run_capture(
                &self.ip.to_string_lossy(),
                &args(&["netns", "del", side.name()]),
                20,
            );
        }
    }

    /// `ip -s xfrm state` in `side`, keys redacted.
    pub fn xfrm_state_text(&self, side: Side) -> Result<String, LabError> {
        let raw = self.ip_ok(&["-n", side.name(), "-s", "xfrm", "state"])?;
        Ok(xfrm_text::redact_keys(&raw))
    }

    /// `ip xfrm state` (no statistics) in `side`, keys redacted: the operator's short view.
    /// Both IPsec databases of `side` as the failure dumps keep them (what could be read).
    pub fn ipsec_dump(&self, side: Side) -> String {
        let mut text = String::new();
        if let Ok(s) = self.xfrm_state_text(side) {
            text.push_str(&format!("### ip -s xfrm state\n{s}\n"));
        }
        if let Ok(p) = self.xfrm_policy_text(side) {
            text.push_str(&format!("### ip xfrm policy\n{p}\n"));
        }
        text
    }

    pub fn xfrm_state_brief(&self, side: Side) -> Result<String, LabError> {
        let raw = self.ip_ok(&["-n", side.name(), "xfrm", "state"])?;
        Ok(xfrm_text::redact_keys(&raw))
    }

    /// `ip xfrm policy` in `side`.
    pub fn xfrm_policy_text(&self, side: Side) -> Result<String, LabError> {
        self.ip_ok(&["-n", side.name(), "xfrm", "policy"])
    }

    /// ESP SAs installed in `side`.
    pub fn esp_states(&self, side: Side) -> Result<Vec<XfrmState>, LabError> {
        Ok(xfrm_text::parse_states(&self.xfrm_state_text(side)?)
            .into_iter()
            .filter(|s| s.proto == "esp")
            .collect())
    }

    /// IPsec policies in `side`: those with a template, so neither the daemons' own bypass
    /// policies (per-socket ones, and Libreswan's IPv6 neighbour-discovery bypass: see
    /// [`XfrmPolicy::is_daemon_bypass`]) nor shunts (pass/drop policies, which have none; the
    /// guard row checks its own).
    pub fn ipsec_policies(&self, side: Side) -> Result<Vec<XfrmPolicy>, LabError> {
        Ok(xfrm_text::parse_policies(&self.xfrm_policy_text(side)?)
            .into_iter()
            .filter(|p| !p.is_daemon_bypass() && !p.templates.is_empty())
            .collect())
    }

    /// Starts tcpdump on `side`'s `p0`, writing raw packets to `file` with `.pcap` (decoding
    /// while capturing drops packets under TCG); returns once it listens.
    pub fn start_capture(&self, side: Side, file: &Path) -> Result<Capture, LabError> {
        self.start_capture_of(side, file, "esp or udp or icmp")
    }

    /// [`Lab::start_capture`] with another tcpdump filter (e.g. one that also shows GRE).
    pub fn start_capture_of(
        &self,
        side: Side,
        file: &Path,
        filter: &str,
    ) -> Result<Capture, LabError> {
        let pcap = file.with_extension("pcap");
        let err_path = file.with_extension("stderr");
        let stderr = std::fs::File::create(&err_path).map_err(|e| LabError::io(&err_path, e))?;
        let child = Command::new(&self.ip)
            .args(self.in_ns(
                side,
                &[
                    "tcpdump".into(),
                    "-n".into(),
                    "-i".into(),
                    LINK.into(),
                    // 16 MiB of kernel buffer: the rekey scenario sends thousands of datagrams.
                    "-B".into(),
                    "16384".into(),
                    // Hand each packet over at once and write it unbuffered: the capture is
                    // read as soon as the traffic stops.
                    "--immediate-mode".into(),
                    "-U".into(),
                    "-w".into(),
                    pcap.display().to_string(),
                    filter.into(),
                ],
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| LabError::Setup(format!("cannot start tcpdump: {e}")))?;
        let mut cap = Capture {
            child,
            pcap,
            text: file.to_path_buf(),
            stderr: err_path.clone(),
        };
        let listening = wait_until("tcpdump to listen", 30, || {
            Ok(std::fs::read_to_string(&err_path).is_ok_and(|s| s.contains("listening on")))
        });
        if let Err(e) = listening {
            stop_child(&mut cap.child, "INT", 1000);
            return Err(e);
        }
        Ok(cap)
    }

    /// Starts a UDP receiver for numbered datagrams in `side` on `port`; returns once it is bound.
    pub fn start_udp_receiver(
        &self,
        side: Side,
        port: u16,
        expect: u32,
        idle_ms: u64,
    ) -> Result<UdpReceiver, LabError> {
        let bind = format!("{}:{port}", side.addr());
        let mut child = Command::new(&self.ip)
            .args(self.in_ns(
                side,
                &[
                    self.runner.to_string_lossy().into_owned(),
                    "udp-recv".into(),
                    "--bind".into(),
                    bind,
                    "--expect".into(),
                    expect.to_string(),
                    "--idle-ms".into(),
                    idle_ms.to_string(),
                ],
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| LabError::Setup(format!("cannot start udp receiver: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| LabError::Setup("receiver has no stdout".into()))?;
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        reader
            .read_line(&mut first)
            .map_err(|e| LabError::Setup(format!("receiver: {e}")))?;
        if first.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LabError::Setup(format!(
                "receiver did not start: {first:?}"
            )));
        }
        Ok(UdpReceiver { child, reader })
    }

    /// Sends `count` numbered datagrams from `side` to the peer's `port`, `interval_us` apart.
    pub fn udp_send(
        &self,
        side: Side,
        port: u16,
        count: u32,
        interval_us: u64,
    ) -> Result<(), LabError> {
        let to = format!("{}:{port}", side.peer().addr());
        let secs = 30 + (u64::from(count) * interval_us) / 1_000_000;
        run_ok(
            &self.ip.to_string_lossy(),
            &self.in_ns(
                side,
                &[
                    self.runner.to_string_lossy().into_owned(),
                    "udp-send".into(),
                    "--to".into(),
                    to,
                    "--count".into(),
                    count.to_string(),
                    "--interval-us".into(),
                    interval_us.to_string(),
                ],
            ),
            secs,
        )
        .map(|_| ())
    }

    /// One ICMP echo from `side` to its peer; true if answered.
    pub fn ping(&self, side: Side) -> Result<bool, LabError> {
        let out = run_capture(
            &self.ip.to_string_lossy(),
            &self.in_ns(
                side,
                &args(&["ping", "-c", "2", "-W", "3", side.peer().addr()]),
            ),
            20,
        )?;
        Ok(out.status.success())
    }
}

/// A running tcpdump.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    pcap: PathBuf,
    /// Where the decoded lines are written for the logs.
    text: PathBuf,
    stderr: PathBuf,
}

/// What a capture saw.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// `tcpdump -nn -r` lines.
    pub lines: Vec<String>,
    /// Packets that matched the filter but are not in the capture (kernel drops, or still
    /// unread when tcpdump stopped), from tcpdump's closing report.
    pub dropped: u64,
}

impl Capture {
    /// Stops tcpdump (SIGINT, so it flushes) and decodes what it captured.
    pub fn finish(mut self) -> Result<Captured, LabError> {
        // tcpdump under TCG lags behind the traffic; SIGINT stops it reading, so first wait
        // until the file has stopped growing (1.5 s unchanged, 60 s at most).
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut last = size(&self.pcap);
        let mut unchanged = 0;
        for _ in 0..120 {
            sleep(Duration::from_millis(500));
            let now = size(&self.pcap);
            unchanged = if now == last { unchanged + 1 } else { 0 };
            last = now;
            if unchanged >= 3 {
                break;
            }
        }
        stop_child(&mut self.child, "INT", 5000);
        let report = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        // tcpdump's closing report: "N packets captured", "N packets received by filter",
        // "N packets dropped by kernel". Matched packets it never wrote are lost to the capture.
        let count = |what: &str| -> u64 {
            report
                .lines()
                .find(|l| l.contains(what))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let dropped = count("dropped by kernel")
            .max(count("received by filter").saturating_sub(count("packets captured")));
        let text = run_ok(
            "tcpdump",
            &args(&["-nn", "-r", &self.pcap.to_string_lossy()]),
            60,
        )?;
        std::fs::write(&self.text, &text).map_err(|e| LabError::io(&self.text, e))?;
        Ok(Captured {
            lines: text.lines().map(str::to_string).collect(),
            dropped,
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        stop_child(&mut self.child, "INT", 1000);
    }
}

/// A running `lab-runner udp-recv`.
#[derive(Debug)]
pub struct UdpReceiver {
    child: Child,
    reader: BufReader<std::process::ChildStdout>,
}

impl UdpReceiver {
    /// Waits for the receiver to finish (expected count reached or idle time-out) and returns
    /// its summary.
    pub fn finish(mut self) -> Result<ReceiveSummary, LabError> {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .map_err(|e| LabError::Setup(format!("receiver: {e}")))?;
        let _ = self.child.wait();
        serde_json::from_str(line.trim())
            .map_err(|e| LabError::Setup(format!("receiver summary {line:?}: {e}")))
    }
}

impl Drop for UdpReceiver {
    fn drop(&mut self) {
        stop_child(&mut self.child, "TERM", 500);
    }
}

/// What a receiver got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiveSummary {
    /// Datagrams received (including duplicates).
    pub received: u32,
    /// Distinct, well-formed sequence numbers received.
    pub distinct: u32,
    /// Datagrams whose payload was not the lab's format (corruption through the tunnel).
    pub malformed: u32,
    /// Up to 20 sequence numbers in `0..expect` that never arrived.
    pub missing: Vec<u32>,
}

/// Payload of datagram `seq`: a fixed text plus padding, so corruption is visible.
pub fn payload(seq: u32) -> Vec<u8> {
    format!("iked-lab seq={seq:08} ------------------------------------------\n").into_bytes()
}

fn parse_payload(data: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(data).ok()?;
    let seq: u32 = text.strip_prefix("iked-lab seq=")?.get(..8)?.parse().ok()?;
    (payload(seq) == data).then_some(seq)
}

/// Sends `count` numbered datagrams to `to`, `interval_us` apart (the `udp-send` helper).
pub fn udp_send(to: &str, count: u32, interval_us: u64) -> std::io::Result<()> {
    let sock = UdpSocket::bind(("0.0.0.0", 0))?;
    for seq in 0..count {
        sock.send_to(&payload(seq), to)?;
        if interval_us > 0 {
            sleep(Duration::from_micros(interval_us));
        }
    }
    Ok(())
}

/// Receives numbered datagrams on `bind` until `expect` distinct ones arrived or nothing came for
/// `idle_ms` (the `udp-recv` helper). Calls `ready` once bound.
pub fn udp_receive(
    bind: &str,
    expect: u32,
    idle_ms: u64,
    ready: impl FnOnce(),
) -> std::io::Result<ReceiveSummary> {
    let sock = UdpSocket::bind(bind)?;
    sock.set_read_timeout(Some(Duration::from_millis(idle_ms.max(1))))?;
    ready();
    let mut seen = vec![false; expect as usize];
    let mut summary = ReceiveSummary::default();
    let mut buf = [0u8; 2048];
    while summary.distinct < expect {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                summary.received += 1;
                match parse_payload(&buf[..n]) {
                    Some(seq) if (seq as usize) < seen.len() => {
                        if !seen[seq as usize] {
                            seen[seq as usize] = true;
                            summary.distinct += 1;
                        }
                    }
                    _ => summary.malformed += 1,
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => return Err(e),
        }
    }
    summary.missing = seen
        .iter()
        .enumerate()
        .filter(|(_, got)| !**got)
        .map(|(i, _)| i as u32)
        .take(20)
        .collect();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_rejects_corruption() {
        assert_eq!(parse_payload(&payload(42)), Some(42));
        let mut bad = payload(7);
        let last = bad.len() - 2;
        bad[last] ^= 1;
        assert_eq!(parse_payload(&bad), None);
        assert_eq!(parse_payload(b"iked-lab seq=12"), None);
        assert_eq!(parse_payload(b""), None);
    }

    /// Starts `udp_receive` on an ephemeral 127.0.0.1 port (loopback only) in a thread and
    /// returns once it is ready: the address to send to and the thread's handle.
    fn loopback_receiver(
        expect: u32,
        idle_ms: u64,
    ) -> (String, std::thread::JoinHandle<ReceiveSummary>) {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap().to_string();
        drop(probe);
        let (tx, rx) = std::sync::mpsc::channel();
        let bind = addr.clone();
        let handle = std::thread::spawn(move || {
            udp_receive(&bind, expect, idle_ms, || tx.send(()).unwrap()).unwrap()
        });
        rx.recv().unwrap();
        (addr, handle)
    }

    #[test]
    fn loopback_send_and_receive_counts_every_datagram() {
        // Loopback only: bind to an ephemeral port on 127.0.0.1, learn it, then send there.
        let (addr, handle) = loopback_receiver(50, 2000);
        udp_send(&addr, 50, 0).unwrap();
        let s = handle.join().unwrap();
        assert_eq!(s.distinct, 50);
        assert_eq!(s.malformed, 0);
        assert!(s.missing.is_empty());
    }

    #[test]
    fn receiver_reports_missing_sequence_numbers_after_idle_timeout() {
        let (addr, handle) = loopback_receiver(5, 300);
        // only 3 of 5 expected
        udp_send(&addr, 3, 0).unwrap();
        let s = handle.join().unwrap();
        assert_eq!(s.distinct, 3);
        assert_eq!(s.missing, vec![3, 4]);
    }

    #[test]
    fn run_capture_returns_output_and_status() {
        let out = run_capture("sh", &args(&["-c", "echo out; echo err >&2; exit 3"]), 10).unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn run_capture_kills_a_command_past_its_limit_with_its_helpers() {
        let watch = Stopwatch::start();
        // The shell's background `sleep` is a helper in the same process group: it must die
        // too, or it would hold the pipe open and the call would not return.
        let out = run_capture("sh", &args(&["-c", "sleep 30 & sleep 30"]), 1).unwrap();
        assert!(watch.secs() < 10.0, "took {} s", watch.secs());
        assert_eq!(out.status.code(), Some(124));
        assert!(String::from_utf8_lossy(&out.stderr).contains("killed after the 1 s limit"));
    }
}
