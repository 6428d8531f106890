//! `iked-bench`: an IKE SA set-up load generator built on iked's sans-IO initiator engine.
//!
//! This is a benchmarking tool, not protocol code and not a test. Like `interop-tests`, it owns
//! its UDP I/O and its clock (`clock.rs`, the only clock reads). It establishes `--count` IKE
//! SAs against the responder named by the connection in `--config`: childless, with one
//! CHILD_SA (`--child`), and optionally deleted right after set-up (`--delete`), keeping at most
//! `--concurrency` set-ups in flight.
//!
//! Clients: every `--sas-per-identity` SAs (default 1) come from one simulated client identity
//! (`<id>-<k>`), as strongSwan's load-tester gives each IKE SA its own identity. The identities
//! are spread over `--clients` engines, each with its own UDP source port. Each engine decides
//! INITIAL_CONTACT as strongSwan's initiators do (iked's initiator engine: in the first IKE_AUTH
//! of an identity it holds no SA with), so the first SA of every identity carries it; an
//! identity's later SAs wait until its first is up, since INITIAL_CONTACT would otherwise
//! make the responder drop them.
//!
//! Output: one JSON line on stdout (SAs/s, set-up latency p50/p99, retransmissions, failures,
//! INITIAL_CONTACTs sent, flood packets sent, and with `--sample-pid` the responder's CPU time
//! and RSS read from /proc every `--slice` established SAs). With `--hold` the SAs are then
//! kept (and the engines keep answering) until stdin reaches end of file, so a script can
//! sample the responder's memory; meanwhile the engines answer the responder's rekeys, and when
//! stdin closes a second JSON line reports them with a time line of the responder's CPU and RSS
//! (see `rekey.rs`). `--flood-rate` adds spoofed IKE_SA_INIT requests while measuring (see
//! `flood.rs`).

mod clock;
mod flood;
mod rekey;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use iked_ike::Timestamp;
use iked_ike::config::{Identity, IkeConfig, IkeSecret, Settings};
use iked_ike::engine::{
    DownReason, Engine, Event, IkeSaId, InitiateOptions, KernelEvent, KernelRequest,
};
use iked_ike::wire::nat_t;
use tokio::io::AsyncReadExt;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::clock::Clock;

/// Load generator for IKE SA set-up against one responder (see the crate docs).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// swanctl.conf with the initiator's connection and its PSK.
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// Connection to initiate (default: the first one in the file).
    #[arg(long)]
    conn: Option<String>,
    /// CHILD_SA to create in IKE_AUTH; without it the IKE SAs are childless (RFC 6023).
    #[arg(long)]
    child: Option<String>,
    /// Delete each IKE SA as soon as it is up (set-up + teardown cost).
    #[arg(long)]
    delete: bool,
    /// Number of IKE SAs to establish.
    #[arg(long, short = 'n', default_value_t = 1000)]
    count: usize,
    /// Set-ups in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Initiator engines, each with its own source port, over which the client identities
    /// are spread (default: min(count, 1000)).
    #[arg(long)]
    clients: Option<usize>,
    /// IKE SAs per client identity; each identity's first carries INITIAL_CONTACT (1: every SA
    /// is a client of its own, like strongSwan's load-tester).
    #[arg(long, default_value_t = 1)]
    sas_per_identity: usize,
    /// Read this process's CPU time and RSS from /proc at the start and every `--slice`
    /// established SAs (the responder under test, in the same PID namespace).
    #[arg(long)]
    sample_pid: Option<u32>,
    /// Established SAs between two samples of `--sample-pid`.
    #[arg(long, default_value_t = 10_000)]
    slice: usize,
    /// Our source address (must be local).
    #[arg(long)]
    local: IpAddr,
    /// First UDP source port; client n uses base-port + n.
    #[arg(long, default_value_t = 10000)]
    base_port: u16,
    /// Give up after this many seconds (the report then counts the unfinished as failed).
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Keep the SAs (and keep answering the responder) until stdin reaches end of file.
    #[arg(long)]
    hold: bool,
    /// Spoofed IKE_SA_INIT requests per second sent alongside (needs root; IPv4).
    #[arg(long, default_value_t = 0)]
    flood_rate: u32,
    /// Subnet the spoofed sources are drawn from (route it towards this namespace only).
    #[arg(long, default_value = "10.99.0.0/16")]
    flood_subnet: String,
    /// While holding, sample `--sample-pid` every this many milliseconds (the rekey time line).
    #[arg(long, default_value_t = 1000)]
    hold_sample_ms: u64,
    /// Print progress to stderr every this many established SAs (0 = never).
    #[arg(long, default_value_t = 0)]
    progress: usize,
}

/// One initiator engine with its socket; it serves the identities k with k % clients == index.
struct Client {
    engine: Engine,
    socket: std::net::UdpSocket,
    addr: SocketAddr,
    /// Datagrams the socket refused (full buffer); the engine retransmits them.
    send_errors: u64,
}

/// Where one of our SAs stands.
enum Pending {
    /// Set-up started at this time, for this client identity.
    SettingUp(Timestamp, usize),
    /// Up; waiting for the delete exchange to finish.
    Deleting,
}

/// The responder's resource use at one point of the run, from /proc.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Sample {
    /// SAs established when sampled.
    established: usize,
    /// utime + stime of the whole process, in clock ticks.
    cpu_ticks: u64,
    /// Time on CPU of its live threads in ns (`/proc/<pid>/task/*/schedstat`): the ticks'
    /// 10 ms granularity would blur a slice of 1,000 SAs by several per cent.
    cpu_ns: u64,
    /// VmRSS.
    rss_kb: u64,
}

/// Reads `pid`'s CPU time and RSS (`None` if it is gone or unreadable).
fn sample(pid: u32, established: usize) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let mut cpu_ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        // A thread may exit between listing and reading: it then counts as nothing.
        let ns = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|t| {
                t.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0);
        cpu_ns += ns;
    }
    Some(Sample {
        established,
        cpu_ticks: utime + stime,
        cpu_ns,
        rss_kb,
    })
}

/// Measured results, printed as JSON.
#[derive(Debug, serde::Serialize)]
struct Report {
    mode: &'static str,
    count: usize,
    clients: usize,
    concurrency: usize,
    established: usize,
    failed: usize,
    elapsed_s: f64,
    sas_per_s: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    retransmits: u64,
    /// COOKIE challenges our clients answered (counted from the engine's log records).
    cookies_received: u64,
    /// IKE_AUTH requests our clients sent with INITIAL_CONTACT.
    initial_contacts: u64,
    /// Client identities used.
    identities: usize,
    send_errors: u64,
    flood_sent: u64,
    first_failure: Option<String>,
    /// The responder's resource use every `--slice` SAs (with `--sample-pid`).
    samples: Vec<Sample>,
}

/// The generator's state between inputs.
struct Run {
    clock: Clock,
    clients: Vec<Client>,
    conn: String,
    child: Option<String>,
    delete: bool,
    pending: HashMap<(usize, IkeSaId), Pending>,
    timers: BinaryHeap<Reverse<(Timestamp, usize)>>,
    next_spi: u32,
    latencies: Vec<Duration>,
    established: usize,
    failed: usize,
    first_failure: Option<String>,
    cookies: u64,
    initial_contacts: u64,
    progress: usize,
    /// The connection as configured; each SA gets it with its client identity.
    template: IkeConfig,
    secrets: Vec<IkeSecret>,
    id_base: String,
    /// Per client identity: its first SA is done (up or failed).
    first_done: Vec<bool>,
    sample_pid: Option<u32>,
    slice: usize,
    samples: Vec<Sample>,
    /// Set once the set-up is reported: events then go to `tally`.
    holding: bool,
    tally: rekey::Tally,
}

impl Run {
    /// Feeds one client's outputs to the network, its fake kernel and the bookkeeping, until
    /// the engine is quiet; then re-arms its timer.
    fn drain(&mut self, i: usize, now: Timestamp) {
        loop {
            let mut moved = false;
            while let Some(req) = self.clients[i].engine.poll_kernel() {
                moved = true;
                // The generator installs nothing: SPIs from a counter, every add succeeds.
                let answer = match req {
                    KernelRequest::AllocateSpi { id, .. } => {
                        self.next_spi = self.next_spi.wrapping_add(1).max(0x100);
                        Some(KernelEvent::SpiAllocated {
                            id,
                            spi: self.next_spi,
                        })
                    }
                    KernelRequest::AddSa { id, .. } | KernelRequest::AddPolicy { id, .. } => {
                        Some(KernelEvent::Installed { id })
                    }
                    KernelRequest::DeleteSa { .. } | KernelRequest::DeletePolicy { .. } => None,
                };
                if let Some(a) = answer {
                    self.clients[i].engine.handle_kernel(now, a);
                }
            }
            while let Some(t) = self.clients[i].engine.poll_transmit() {
                moved = true;
                let c = &mut self.clients[i];
                let sent = if t.remote.port() == NAT_T_PORT {
                    // Peers move to the NAT-T port when they find (or, like charon on
                    // kernel-libipsec, fake) a NAT.
                    c.socket.send_to(&nat_t::frame(&t.bytes), t.remote)
                } else {
                    c.socket.send_to(&t.bytes, t.remote)
                };
                if sent.is_err() {
                    c.send_errors += 1;
                }
            }
            while let Some(e) = self.clients[i].engine.poll_event() {
                moved = true;
                self.on_event(i, now, e);
            }
            if !moved {
                break;
            }
        }
        if let Some(t) = self.clients[i].engine.poll_timeout() {
            self.timers.push(Reverse((t, i)));
        }
    }

    fn succeed(&mut self, i: usize, sa: IkeSaId, now: Timestamp) {
        if let Some(Pending::SettingUp(start, identity)) = self.pending.remove(&(i, sa)) {
            self.latencies.push(now.saturating_since(start));
            self.established += 1;
            if let Some(done) = self.first_done.get_mut(identity) {
                *done = true;
            }
            if let Some(pid) = self.sample_pid
                && self.slice > 0
                && self.established.is_multiple_of(self.slice)
                && let Some(s) = sample(pid, self.established)
            {
                self.samples.push(s);
            }
            if self.progress > 0 && self.established.is_multiple_of(self.progress) {
                eprintln!(
                    "iked-bench: {} established at {:.1} s",
                    self.established,
                    self.clock.elapsed().as_secs_f64()
                );
            }
            if self.delete && self.clients[i].engine.terminate_ike(now, sa).is_ok() {
                self.pending.insert((i, sa), Pending::Deleting);
            }
        }
    }

    fn fail(&mut self, i: usize, sa: IkeSaId, why: String) {
        if let Some(Pending::SettingUp(_, identity)) = self.pending.remove(&(i, sa)) {
            self.failed += 1;
            if let Some(done) = self.first_done.get_mut(identity) {
                *done = true;
            }
            self.first_failure.get_or_insert(why);
        }
    }

    fn on_event(&mut self, i: usize, now: Timestamp, event: Event) {
        if self.holding {
            self.tally.on_event(&event);
        }
        match event {
            Event::IkeUp { sa, .. } if self.child.is_none() => self.succeed(i, sa, now),
            Event::ChildUp { ike, .. } => self.succeed(i, ike, now),
            Event::ChildFailed { ike, reason, .. } => {
                self.fail(i, ike, format!("CHILD_SA failed: {reason}"));
            }
            Event::IkeFailed { sa, reason, .. } => {
                self.fail(i, sa, format!("IKE_SA failed: {reason}"));
            }
            Event::Log { message, .. } if message.starts_with("received COOKIE") => {
                self.cookies += 1;
            }
            Event::Log { message, .. }
                if message.starts_with("generating IKE_AUTH request")
                    && message.contains("N(INIT_CONTACT)") =>
            {
                self.initial_contacts += 1;
            }
            Event::IkeDown { sa, reason } => {
                if matches!(self.pending.get(&(i, sa)), Some(Pending::Deleting)) {
                    self.pending.remove(&(i, sa));
                } else {
                    let why = match reason {
                        DownReason::Failed(r) => r,
                        other => format!("{other:?}"),
                    };
                    self.fail(i, sa, format!("IKE_SA down before set-up: {why}"));
                }
            }
            _ => {}
        }
    }

    /// Runs every engine timer that is due.
    fn fire_timers(&mut self, now: Timestamp) {
        while let Some(Reverse((t, i))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            // Entries are not removed when a deadline moves: check the engine's own.
            if self.clients[i]
                .engine
                .poll_timeout()
                .is_some_and(|d| d <= now)
            {
                self.clients[i].engine.handle_timeout(now);
                self.drain(i, now);
            }
        }
    }

    /// Starts SA `identity`'s next set-up on the engine that serves that identity.
    fn start(&mut self, identity: usize, now: Timestamp) -> Result<()> {
        let i = identity % self.clients.len();
        let children: Vec<&str> = self.child.as_deref().into_iter().collect();
        // The engine initiates what its configuration says: this identity's connection. SAs
        // already up keep the configuration they were made with.
        let mut conn = self.template.clone();
        conn.local.id = Some(Identity::from_text(&format!("{}-{identity}", self.id_base)));
        let secrets = self.secrets.iter().map(clone_secret).collect();
        let c = &mut self.clients[i];
        c.engine.reload(vec![conn], secrets);
        let sa = c
            .engine
            .initiate_with(
                now,
                &self.conn,
                &children,
                InitiateOptions {
                    local_addr: Some(c.addr.ip()),
                    local_port: Some(c.addr.port()),
                    remote_port: None,
                    remote_addr: None,
                },
            )
            .with_context(|| format!("initiating '{}'", self.conn))?;
        self.pending
            .insert((i, sa), Pending::SettingUp(now, identity));
        self.drain(i, now);
        Ok(())
    }

    fn retransmits(&self) -> u64 {
        self.clients
            .iter()
            .map(|c| c.engine.stats().retransmits)
            .sum()
    }
}

/// Loads the initiator's connection and secrets from swanctl.conf.
/// The responder's NAT-T port (RFC 3948), where IKE messages carry the non-ESP marker.
const NAT_T_PORT: u16 = 4500;

fn load_config(path: &PathBuf) -> Result<(Vec<IkeConfig>, Vec<IkeSecret>)> {
    let loaded = iked_conf::load_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (conns, secrets) = iked_ike::from_conf::convert(&loaded.config)
        .with_context(|| format!("{}: cannot run this configuration", path.display()))?;
    if conns.is_empty() {
        bail!("{}: no connections", path.display());
    }
    Ok((conns, secrets))
}

/// The value at quantile `q` of sorted durations, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.count == 0 || args.concurrency == 0 {
        bail!("--count and --concurrency must be at least 1");
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let (conns, secrets) = load_config(&args.config)?;
    let conn = match &args.conn {
        Some(name) => conns
            .iter()
            .find(|c| &c.name == name)
            .with_context(|| format!("no connection '{name}' in {}", args.config.display()))?,
        None => &conns[0],
    }
    .clone();
    if let Some(child) = &args.child
        && !conn.children.iter().any(|c| &c.name == child)
    {
        bail!("connection '{}' has no child '{child}'", conn.name);
    }
    let id_base = conn
        .local
        .id
        .as_ref()
        .map(|i| i.to_string())
        .unwrap_or_else(|| "bench".to_owned());
    let n_clients = args.clients.unwrap_or(args.count.min(1000)).max(1);
    if args.sas_per_identity == 0 {
        bail!("--sas-per-identity must be at least 1");
    }
    let identities = args.count.div_ceil(args.sas_per_identity);
    if usize::from(args.base_port) + n_clients > usize::from(u16::MAX) {
        bail!(
            "--base-port {} leaves no room for {n_clients} clients",
            args.base_port
        );
    }
    let template = flood::template(&conn, &secrets, args.local)?;

    let (tx, mut rx) = mpsc::channel::<(usize, SocketAddr, Vec<u8>)>(8192);
    let clients = bind_clients(&args, n_clients, &tx)?;
    drop(tx);

    let clock = Clock::start();
    let flood = if args.flood_rate > 0 {
        let responder = SocketAddr::new(
            *conn
                .remote_addrs
                .first()
                .context("the connection needs a remote address")?,
            500,
        );
        Some(flood::start(
            template,
            &args.flood_subnet,
            responder,
            args.flood_rate,
        )?)
    } else {
        None
    };

    let mut run = Run {
        clock,
        clients,
        conn: conn.name.clone(),
        child: args.child.clone(),
        delete: args.delete,
        pending: HashMap::new(),
        timers: BinaryHeap::new(),
        next_spi: 0x100,
        latencies: Vec::with_capacity(args.count),
        established: 0,
        failed: 0,
        first_failure: None,
        cookies: 0,
        initial_contacts: 0,
        progress: args.progress,
        template: conn.clone(),
        secrets,
        id_base,
        first_done: vec![false; identities],
        sample_pid: args.sample_pid,
        slice: args.slice,
        samples: Vec::new(),
        holding: false,
        tally: rekey::Tally::default(),
    };
    if let Some(pid) = args.sample_pid {
        let s = sample(pid, 0).with_context(|| format!("reading /proc/{pid}"))?;
        run.samples.push(s);
    }
    let deadline = clock.instant_of(Timestamp::ZERO) + Duration::from_secs(args.timeout_secs);
    let mut started = 0usize;
    let mut last_event = Timestamp::ZERO;
    loop {
        let now = run.clock.now();
        // Start set-ups up to the concurrency limit; an identity's later SAs wait for its
        // first (which carries INITIAL_CONTACT).
        while started < args.count && run.pending.len() < args.concurrency {
            let identity = started / args.sas_per_identity;
            if !started.is_multiple_of(args.sas_per_identity) && !run.first_done[identity] {
                break;
            }
            run.start(identity, now)?;
            started += 1;
        }
        if started == args.count && run.pending.is_empty() {
            last_event = now;
            break;
        }
        let wake = run
            .timers
            .peek()
            .map(|Reverse((t, _))| run.clock.instant_of(*t))
            .unwrap_or(deadline)
            .min(deadline);
        tokio::select! {
            got = rx.recv() => {
                let Some((i, from, bytes)) = got else { break };
                let now = run.clock.now();
                let local = run.clients[i].addr;
                run.clients[i].engine.handle_datagram(now, local, from, &bytes);
                run.drain(i, now);
                // Take whatever else has arrived before starting new work.
                while let Ok((i, from, bytes)) = rx.try_recv() {
                    let local = run.clients[i].addr;
                    run.clients[i].engine.handle_datagram(now, local, from, &bytes);
                    run.drain(i, now);
                }
            }
            () = tokio::time::sleep_until(wake) => {
                if run.clock.elapsed() >= Duration::from_secs(args.timeout_secs) {
                    last_event = run.clock.now();
                    break;
                }
            }
        }
        run.fire_timers(run.clock.now());
    }

    let report = finish(&mut run, &args, started, last_event, identities, flood);
    println!("{}", serde_json::to_string(&report)?);

    if args.hold {
        run.holding = true;
        hold(
            &mut run,
            &mut rx,
            Duration::from_millis(args.hold_sample_ms.max(10)),
        )
        .await;
        let now = run.clock.now();
        let report = run.tally.report(now, run.clients.iter().map(|c| &c.engine));
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// One engine and UDP socket per client port, each with a reader task feeding `tx` with
/// `(client, from, IKE bytes)`.
fn bind_clients(
    args: &Args,
    n_clients: usize,
    tx: &mpsc::Sender<(usize, SocketAddr, Vec<u8>)>,
) -> Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(n_clients);
    for i in 0..n_clients {
        let addr = SocketAddr::new(args.local, args.base_port + i as u16);
        // Sends go through a plain non-blocking socket: tokio's `try_send_to` refuses until
        // the runtime has seen the socket writable, which would drop each client's first packet.
        let socket = std::net::UdpSocket::bind(addr)
            .with_context(|| format!("binding {addr} (client {i})"))?;
        socket.set_nonblocking(true)?;
        let reader = UdpSocket::from_std(socket.try_clone()?)?;
        // The connection (with the identity of each SA) is given by `Run::start`.
        let engine = Engine::new(
            Settings::default(),
            vec![],
            vec![],
            Box::new(iked_crypto::rng::OsRandom),
        );
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((len, from)) = reader.recv_from(&mut buf).await {
                let ike = if from.port() == NAT_T_PORT {
                    match nat_t::classify(&buf[..len]) {
                        nat_t::NatTPayload::Ike(ike) => ike,
                        nat_t::NatTPayload::Keepalive | nat_t::NatTPayload::Esp => continue,
                    }
                } else {
                    &buf[..len]
                };
                if tx.send((i, from, ike.to_vec())).await.is_err() {
                    break;
                }
            }
        });
        clients.push(Client {
            engine,
            socket,
            addr,
            send_errors: 0,
        });
    }
    Ok(clients)
}

/// The report of a finished run: what did not finish by the time-out counts as failed.
fn finish(
    run: &mut Run,
    args: &Args,
    started: usize,
    last_event: Timestamp,
    identities: usize,
    flood: Option<flood::Flood>,
) -> Report {
    let unfinished = run
        .pending
        .values()
        .filter(|p| matches!(p, Pending::SettingUp(..)))
        .count()
        + (args.count - started);
    if unfinished > 0 {
        run.first_failure
            .get_or_insert_with(|| format!("{unfinished} set-ups unfinished at the time-out"));
    }
    let flood_sent = flood.as_ref().map_or(0, flood::Flood::sent);
    drop(flood);
    // The last sample is the end of the set-up, wherever the slices fell.
    if let Some(pid) = run.sample_pid
        && run.samples.last().map(|s| s.established) != Some(run.established)
        && let Some(s) = sample(pid, run.established)
    {
        run.samples.push(s);
    }
    let mut sorted = std::mem::take(&mut run.latencies);
    sorted.sort_unstable();
    let elapsed = last_event.saturating_since(Timestamp::ZERO).as_secs_f64();
    Report {
        mode: match (&args.child, args.delete) {
            (None, false) => "childless",
            (Some(_), false) => "child",
            (None, true) => "childless+delete",
            (Some(_), true) => "child+delete",
        },
        count: args.count,
        clients: run.clients.len(),
        concurrency: args.concurrency,
        established: run.established,
        failed: run.failed + unfinished,
        elapsed_s: elapsed,
        sas_per_s: if elapsed > 0.0 {
            run.established as f64 / elapsed
        } else {
            0.0
        },
        latency_p50_ms: quantile_ms(&sorted, 0.50),
        latency_p99_ms: quantile_ms(&sorted, 0.99),
        latency_max_ms: sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        retransmits: run.retransmits(),
        cookies_received: run.cookies,
        initial_contacts: run.initial_contacts,
        identities,
        send_errors: run.clients.iter().map(|c| c.send_errors).sum(),
        flood_sent,
        first_failure: run.first_failure.clone(),
        samples: std::mem::take(&mut run.samples),
    }
}

/// Keeps the engines answering the responder (its rekeys too) until stdin reaches end of file,
/// sampling the responder every `every`.
async fn hold(
    run: &mut Run,
    rx: &mut mpsc::Receiver<(usize, SocketAddr, Vec<u8>)>,
    every: Duration,
) {
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 256];
    loop {
        let next_sample = run.tally.tick(run.clock.now(), run.sample_pid, every);
        let wake = run
            .timers
            .peek()
            .map(|Reverse((t, _))| run.clock.instant_of(*t))
            .unwrap_or_else(|| tokio::time::Instant::from_std(far_future(&run.clock)))
            .min(run.clock.instant_of(next_sample));
        tokio::select! {
            read = stdin.read(&mut sink) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return;
                }
            }
            got = rx.recv() => {
                let Some((i, from, bytes)) = got else { return };
                let now = run.clock.now();
                let local = run.clients[i].addr;
                run.clients[i].engine.handle_datagram(now, local, from, &bytes);
                run.drain(i, now);
            }
            () = tokio::time::sleep_until(wake) => {}
        }
        run.fire_timers(run.clock.now());
    }
}

/// A wake-up time that never comes in practice (a day after start).
fn far_future(clock: &Clock) -> std::time::Instant {
    tokio::time::Instant::into_std(clock.instant_of(Timestamp::ZERO)) + Duration::from_secs(86_400)
}

fn clone_secret(s: &IkeSecret) -> IkeSecret {
    IkeSecret::new(s.ids.clone(), s.secret.to_vec())
}
