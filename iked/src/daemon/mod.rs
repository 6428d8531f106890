//! The `iked` daemon: event loop around the sans-IO engine.
//!
//! Contract:
//! - [`run`] loads the configuration, binds the IKE sockets and the VICI socket, tells systemd
//!   it is ready (`READY=1`), then loops until SIGTERM/SIGINT: datagrams, VICI commands,
//!   engine timers, control-request timeouts, kernel events, SIGHUP (reload) and the systemd
//!   watchdog are its inputs. It reads time only through [`crate::clock`].
//! - After every input the engine's outputs are drained: kernel requests go to the kernel
//!   backend (answers go straight back), events to the core, datagrams to the sockets.
//! - A configuration error at start-up is fatal (like charon with a broken config it would
//!   run with nothing); a configuration error on reload is logged and the old config stays.

pub mod addrs;
pub mod config;
pub mod core;
pub mod creds;
pub mod handover;
pub mod handover_state;
pub mod kernel;
pub mod kernel_types;
pub mod knl_text;
pub mod lag;
#[cfg(test)]
mod larval_expiry;
pub mod marks;
pub mod net;
pub mod policy_share;
pub mod record_expiry;
pub mod recovery;
mod restart;
pub mod resync;
#[cfg(test)]
mod resync_host;
pub mod retire;
pub mod revocation;
pub mod shunts;
pub mod start;
#[cfg(test)]
mod trap_reqid;
pub mod trap_slots;
pub mod traps;

use std::path::PathBuf;
use std::time::Duration;

use iked_ike::engine::{Engine, Timestamp};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{broadcast, mpsc};

use crate::clock;
use crate::log::LogRecord;
use crate::vici::server;

/// How SAs reach the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelMode {
    /// Netlink XFRM.
    Xfrm,
    /// Record requests only (hosts without ESP); loudly logged.
    Record,
}

/// Daemon settings (command line of `iked`).
#[derive(Debug, Clone)]
pub struct Options {
    pub config_file: PathBuf,
    pub vici_socket: PathBuf,
    pub ports: net::Ports,
    pub kernel: KernelMode,
    /// Extra local addresses to listen on besides the configured ones.
    pub listen: Vec<std::net::IpAddr>,
    /// The `charon { }` tuning from strongswan.conf.
    pub charon: iked_conf::strongswan::CharonSettings,
    /// When an earlier instance's leftovers in the kernel are removed.
    pub recovery: recovery::RecoveryOptions,
    /// Where SIGUSR2 hands the IKE SAs over and the start looks for them (`handover`).
    pub state_file: PathBuf,
}

/// The engine's settings: strongSwan's defaults, the operator's strongswan.conf tuning, and the
/// ports really bound (NAT detection hashes and the move to NAT-T use them).
pub fn engine_settings(
    charon: &iked_conf::strongswan::CharonSettings,
    ports: net::Ports,
) -> iked_ike::config::Settings {
    let default = iked_ike::config::Settings::default();
    let as_limit = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    let mut s = iked_ike::config::Settings {
        retransmit_timeout: charon
            .retransmit_timeout
            .unwrap_or(default.retransmit_timeout),
        retransmit_base: charon.retransmit_base.unwrap_or(default.retransmit_base),
        retransmit_tries: charon.retransmit_tries.unwrap_or(default.retransmit_tries),
        half_open_timeout: charon
            .half_open_timeout
            .unwrap_or(default.half_open_timeout),
        // 0 means "never" (cookies) or "no limit" (block), as in charon: the engine reads
        // 0 the same way.
        cookie_threshold: charon
            .cookie_threshold
            .map_or(default.cookie_threshold, as_limit),
        cookie_threshold_ip: charon
            .cookie_threshold_ip
            .map_or(default.cookie_threshold_ip, as_limit),
        block_threshold: charon
            .block_threshold
            .map_or(default.block_threshold, as_limit),
        max_packet: charon.max_packet.map_or(default.max_packet, as_limit),
        // charon: 0 = no limit.
        half_open_limit: match charon.init_limit_half_open {
            Some(0) => usize::MAX,
            Some(n) => as_limit(n),
            None => default.half_open_limit,
        },
        keep_alive: charon.keep_alive.unwrap_or(default.keep_alive),
        fragment_size: charon.fragment_size.map_or(default.fragment_size, as_limit),
        ike_port: ports.ike,
        nat_t_port: ports.nat_t,
        ..default
    };
    if charon.dos_protection == Some(false) {
        // charon: no cookies and no per-address blocking.
        s.cookie_threshold = 0;
        s.cookie_threshold_ip = 0;
        s.block_threshold = 0;
        s.half_open_limit = usize::MAX;
    } else if s.cookie_threshold_ip != 0
        && s.block_threshold != 0
        && s.cookie_threshold_ip >= s.block_threshold
    {
        // As charon: an address must be asked for cookies before it is blocked, or the
        // cookie would never be demanded from it.
        s.block_threshold = s.cookie_threshold_ip + 1;
        tracing::warn!(
            target: "NET",
            "increasing block threshold to {} due to per-IP cookie threshold of {}",
            s.block_threshold,
            s.cookie_threshold_ip
        );
    }
    s
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("configuration {0}: {1}")]
    Config(PathBuf, String),
    #[error("binding the VICI socket {0}: {1}")]
    Vici(PathBuf, std::io::Error),
    #[error("binding IKE sockets: {0}")]
    Sockets(std::io::Error),
    #[error("opening netlink XFRM: {0}")]
    Kernel(String),
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
}

fn now() -> Timestamp {
    Timestamp::from_duration(clock::now())
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(
    options: Options,
    mut log_records: Option<mpsc::Receiver<LogRecord>>,
) -> Result<(), DaemonError> {
    let kernel_wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let (events_tx, _) = broadcast::channel(256);
    let mut core = start_core(&options, kernel_wake.clone(), events_tx.clone())?;

    let (dgram_tx, mut dgram_rx) = mpsc::channel::<net::Received>(1024);
    let wanted_at_start = listen_addresses(&core, &options);
    let addrs = addrs::bindable(&wanted_at_start, &addrs::is_local);
    for missing in wanted_at_start.iter().filter(|a| !addrs.contains(a)) {
        tracing::warn!(target: "NET", "local address {missing} is not on this host yet; listening on it once it appears");
    }
    let mut address_watch = addrs::Watch::open();
    let mut bound_addrs = addrs.clone();
    let mut sockets = net::Sockets::bind(&addrs, options.ports, dgram_tx.clone())
        .await
        .map_err(DaemonError::Sockets)?;

    let listener = server::bind(&options.vici_socket)
        .map_err(|e| DaemonError::Vici(options.vici_socket.clone(), e))?;
    let (control_tx, mut control_rx) = mpsc::channel(64);
    let vici_task = tokio::spawn(server::serve(listener, control_tx, events_tx.clone()));
    tracing::info!(target: "DMN", "iked {} started, VICI at {}", env!("CARGO_PKG_VERSION"), options.vici_socket.display());

    let mut sighup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut sigusr2 = signal(SignalKind::user_defined2()).map_err(DaemonError::Signals)?;
    let mut handing_over = false;
    let watchdog = crate::notify::watchdog_interval();
    let _ = crate::notify::notify("READY=1\nSTATUS=iked running");
    let mut next_watchdog = watchdog.map(|w| clock::now() + w);

    let (crl_tx, mut crl_rx) = mpsc::unbounded_channel();
    core.revocation.set_sender(crl_tx);
    let mut names_rx = core
        .names_receiver()
        .expect("the event loop takes the lookups once");
    flush(&mut core, &sockets).await;
    loop {
        let now_d = clock::now();
        let engine_deadline = core.engine_mut().poll_timeout();
        let control_deadline = core.next_control_deadline();
        let deadline = [
            engine_deadline.map(|t| Duration::from_nanos(t.as_nanos())),
            control_deadline.map(|t| Duration::from_nanos(t.as_nanos())),
            // The record backend's EXPIREs: the flush after the wake-up polls them.
            core.next_kernel_event_at(),
            next_watchdog,
        ]
        .into_iter()
        .flatten()
        .min();
        // A far-away wake-up keeps the select simple when nothing is scheduled.
        let sleep_for = deadline
            .map(|d| d.saturating_sub(now_d))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            Some(d) = dgram_rx.recv() => {
                core.engine_mut().handle_datagram(now(), d.local, d.remote, &d.bytes);
            }
            Some(f) = crl_rx.recv() => core.on_crl_fetched(now(), f),
            Some(l) = names_rx.recv() => core.on_lookup(now(), l),
            Some(request) = control_rx.recv() => {
                core.handle_control(now(), request);
            }
            Some(record) = recv_log(&mut log_records) => {
                core.forward_log(record);
            }
            // Kernel events are pumped by the flush below.
            _ = kernel_wake.notified() => {}
            _ = tokio::time::sleep(sleep_for) => {
                let t = now();
                core.timer_lag.record(engine_deadline, t);
                core.engine_mut().handle_timeout(t);
                core.expire_control(t);
                if let (Some(w), Some(at)) = (watchdog, next_watchdog)
                    && clock::now() >= at
                {
                    let _ = crate::notify::notify("WATCHDOG=1");
                    next_watchdog = Some(clock::now() + w);
                }
            }
            _ = sighup.recv() => reload(&mut core),
            _ = addrs::changed(&mut address_watch) => core.addresses_changed(now()),
            _ = sigterm.recv() => { core.stopping = true; }
            _ = sigint.recv() => { core.stopping = true; }
            // A restart (iked.service's ExecStop): keep the SAs, hand them to the next iked.
            _ = sigusr2.recv() => { handing_over = true; core.stopping = true; }
        }
        rebind(&core, &options, &mut sockets, &mut bound_addrs, &dgram_tx).await;
        flush(&mut core, &sockets).await;
        if core.stopping {
            break;
        }
    }
    if handing_over {
        restart::hand_over(&mut core, &sockets, &mut dgram_rx, &options.state_file).await;
    } else {
        shut_down(&mut core, &sockets).await;
    }
    vici_task.abort();
    let _ = std::fs::remove_file(&options.vici_socket);
    Ok(())
}

/// The kernel backend, engine and core, with the configuration file loaded: a file that does
/// not parse is fatal at start-up, a refused connection is not; a missing file starts the
/// daemon without connections.
fn start_core(
    options: &Options,
    kernel_wake: std::sync::Arc<tokio::sync::Notify>,
    events_tx: broadcast::Sender<server::BroadcastEvent>,
) -> Result<core::Core, DaemonError> {
    let kernel: Box<dyn kernel::KernelBackend> = match options.kernel {
        KernelMode::Record => {
            tracing::warn!(target: "KNL", "*** RECORD-ONLY KERNEL MODE: SAs and policies are NOT installed; no traffic is protected ***");
            Box::new(kernel::Recording::new())
        }
        KernelMode::Xfrm => {
            let mut xfrm =
                kernel::Xfrm::open(kernel_wake, options.recovery).map_err(DaemonError::Kernel)?;
            xfrm.set_proto_port_transport_sa(
                options.charon.set_proto_port_transport_sa.unwrap_or(false),
            );
            Box::new(xfrm)
        }
    };
    let engine = Engine::new(
        engine_settings(&options.charon, options.ports),
        Vec::new(),
        Vec::new(),
        // getrandom(2) through iked_crypto, not a file opened per call.
        Box::new(iked_crypto::rng::OsRandom),
    );
    let mut core = core::Core::new(
        engine,
        kernel,
        options.config_file.clone(),
        events_tx,
        now(),
        clock::wall_clock_secs(),
    );
    // Resumed at the first load (`core/resume.rs`); a refused file is only logged: the
    // start goes on with clean recovery.
    match handover::take(&options.state_file) {
        Ok(state) => core.handed_over = state,
        Err(e) => tracing::error!(target: "DMN", "{e}; falling back to clean recovery"),
    }
    // Before the first load, so that connections whose local address is not here yet wait
    // for it instead of failing to start.
    core.check_local_addresses();
    if options.config_file.exists() {
        let report = core.load_file(now(), &options.config_file, "all");
        // A file that cannot be parsed at all stops the start (systemd shows why); a refused
        // connection does not: as with charon and `swanctl --load-all`, the valid ones load
        // and the refused one is logged with its location.
        if report.file_failed {
            return Err(DaemonError::Config(
                options.config_file.clone(),
                report.errors.join("\n"),
            ));
        }
        if !report.errors.is_empty() {
            tracing::error!(
                target: "CFG",
                "starting with {} connection(s); {} refused: {:?}",
                report.conns.len(),
                report.refused.len(),
                report.refused.iter().map(|(name, _)| name).collect::<Vec<_>>()
            );
        }
        core.reinitiate_leftovers(now());
    } else {
        tracing::warn!(target: "CFG", "{} not found, starting without connections", options.config_file.display());
    }
    Ok(core)
}

/// The addresses to bind: the loaded connections' (none: the wildcards) and `--listen`'s.
fn listen_addresses(core: &core::Core, options: &Options) -> Vec<std::net::IpAddr> {
    let mut addrs = core.local_addresses();
    for a in &options.listen {
        if !addrs.contains(a) {
            addrs.push(*a);
        }
    }
    addrs
}

/// New local addresses after a reload, or appearing on the host, get sockets too.
async fn rebind(
    core: &core::Core,
    options: &Options,
    sockets: &mut net::Sockets,
    bound_addrs: &mut Vec<std::net::IpAddr>,
    dgram_tx: &mpsc::Sender<net::Received>,
) {
    let wanted = listen_addresses(core, options);
    // Wildcard sockets (an empty `bound_addrs`) already receive on every address, also on
    // ones that appear later; binding a concrete address next to them would fail. Next to
    // concrete ones, only the new addresses that are usable now are bound (rebinding a bound
    // one would fail; the check binds a probe, so it runs only for new ones).
    let new: Vec<_> = wanted
        .iter()
        .copied()
        .filter(|a| !bound_addrs.contains(a))
        .collect();
    let new = if bound_addrs.is_empty() {
        Vec::new()
    } else {
        addrs::bindable(&new, &addrs::is_local)
    };
    if !new.is_empty() {
        match sockets.add(&new, dgram_tx.clone()).await {
            Ok(()) => bound_addrs.extend(new),
            Err(e) => tracing::error!(target: "NET", "binding new local addresses failed: {e}"),
        }
    } else if wanted.is_empty() && !bound_addrs.is_empty() {
        // An empty list is the wildcards, wider than any concrete list bound before.
        match net::Sockets::bind(&wanted, options.ports, dgram_tx.clone()).await {
            Ok(new) => {
                *sockets = new;
                *bound_addrs = wanted;
            }
            Err(e) => tracing::error!(target: "NET", "binding new local addresses failed: {e}"),
        }
    }
}

/// SIGHUP: loads the configuration file again.
fn reload(core: &mut core::Core) {
    tracing::info!(target: "DMN", "SIGHUP: reloading {}", core.config_file().display());
    let _ = crate::notify::notify("RELOADING=1");
    let file = core.config_file().to_owned();
    let report = core.load_file(now(), &file, "all");
    // A file that does not parse changes nothing; otherwise only the refused
    // connections keep their previous version (load_file logged which).
    if !report.errors.is_empty() && report.refused.is_empty() {
        tracing::error!(target: "CFG", "reload failed, keeping the previous configuration");
    } else if !report.refused.is_empty() {
        tracing::error!(
            target: "CFG",
            "reload: {} connection(s) refused, kept the previous version of {:?}",
            report.refused.len(),
            report.kept
        );
    }
    let _ = crate::notify::notify("READY=1");
}

/// Tells peers we are going, as charon does on shutdown: deletes every IKE SA, gives the
/// INFORMATIONALs a moment to leave, and removes our SAs from the kernel.
async fn shut_down(core: &mut core::Core, sockets: &net::Sockets) {
    tracing::info!(target: "DMN", "shutting down");
    let _ = crate::notify::notify("STOPPING=1");
    let t = now();
    let ids: Vec<_> = core.engine_mut().ike_sas().iter().map(|s| s.id).collect();
    for id in ids {
        let _ = core.engine_mut().terminate_ike(t, id);
    }
    flush(core, sockets).await;
    // The DELETEs are out; their answers would come after we are gone, so the engine never
    // removes the CHILD_SAs itself. charon's shutdown leaves no IPsec state behind either.
    let removed = core.kernel_mut().remove_all();
    if removed > 0 {
        tracing::info!(target: "KNL", "removed {removed} CHILD_SA(s) from the kernel");
    }
}

async fn recv_log(rx: &mut Option<mpsc::Receiver<LogRecord>>) -> Option<LogRecord> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Drains engine outputs until it is quiet: kernel round-trips can produce more datagrams
/// and events, events can start new exchanges. Bounded so a feedback loop cannot hang us.
async fn flush(core: &mut core::Core, sockets: &net::Sockets) {
    for _ in 0..64 {
        let t = now();
        core.pump_kernel(t);
        core.drain_events(t);
        let mut sent_any = false;
        while let Some(tx) = core.engine_mut().poll_transmit() {
            sent_any = true;
            match sockets.send(tx.local, tx.remote, &tx.bytes).await {
                Ok(()) => {
                    tracing::debug!(target: "NET", "sending packet: from {} to {} ({} bytes)", tx.local, tx.remote, tx.bytes.len())
                }
                Err(e) => tracing::warn!(target: "NET", "sending to {} failed: {e}", tx.remote),
            }
        }
        if !sent_any {
            return;
        }
    }
}
