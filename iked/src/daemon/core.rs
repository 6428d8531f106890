//! The daemon core: owns the engine, the loaded configuration and credentials, the kernel
//! backend, and every pending control request. Single-threaded; the event loop in
//! [`super::run`] feeds it inputs and flushes its outputs.
//!
//! Contract:
//! - All VICI commands are answered here ([`Core::handle_control`]); unknown ones get
//!   `CMD_UNKNOWN`, bad arguments get `success = no` with an `errmsg`.
//! - `initiate` reuses an established IKE SA of the connection (as charon does) and otherwise
//!   starts one; the request completes when the named CHILD_SA is up (or the IKE SA, when
//!   childless), fails on the first failure, and times out after the requested `timeout` ms.
//!   Engine log lines of the SA stream to the client as `control-log` events meanwhile.
//! - IKE SAs are started towards the connection's `remote_port` (default 500).
//! - `list-sas` shows, besides charon's keys, each CHILD_SA's `offload` in force and configured
//!   `hw-offload`. A CHILD_SA that was refused (by the peer, by us, or by our kernel) is not
//!   listed, as in charon: the refusal, with the kernel's text where the kernel refused, is
//!   logged and returned to the command that asked for it.
//! - Engine events become charon log lines, VICI `ike-updown`/`child-updown`/`*-rekey`
//!   broadcasts, and the actions `start_action`/`close_action`/`dpd_action`/`keyingtries` ask
//!   for (`unique` and INITIAL_CONTACT are the engine's, decided in IKE_AUTH as in charon).
//! - The engine builds log text only for groups someone reads: those the tracing subscriber
//!   prints at the level `on_engine_log` uses, and every group while a VICI client
//!   waits on `initiate`/`terminate` (its `control-log` stream ignores levels). The filter is
//!   re-evaluated after every control request, engine event batch and control timeout, and
//!   turned fully on before an engine command whose client is going to wait.
//!
//! This file holds the core's state; its work is split by concern, as charon splits its VICI
//! plugin: [`control`] (command dispatch, SA commands and waiting requests), [`listing`]
//! (`list-*`, `stats`, `version` and event bodies), [`loading`] (configuration and start
//! actions) and [`events`] (engine and kernel events); [`engine_log`] and [`about`] hold the
//! pure functions beneath them.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use iked_ike::engine::{ChildSaId, Engine, IkeSaId, LogGroups, Timestamp};
use tokio::sync::broadcast;

use super::creds::{self, Origin};
use super::kernel::{KernelBackend, TrapPolicy};
use crate::vici::server::{BroadcastEvent, Responder};

mod about;
#[cfg(test)]
mod acquire_tests;
mod acquires;
mod control;
mod engine_log;
mod events;
mod listing;
mod loading;
mod names;
mod policies;
mod reinit;
mod resume;

pub use about::{format_unix_time, format_uptime, version_message};
use engine_log::printed_engine_groups;
pub use names::Lookup;

struct StoredConn {
    conn: iked_conf::Connection,
    origin: Origin,
}

struct StoredSecret {
    name: String,
    origin: Origin,
    ids: Vec<iked_ike::config::Identity>,
    secret: zeroize::Zeroizing<Vec<u8>>,
}

/// What a pending initiate waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaiting {
    Child(String),
    IkeUp,
}

struct PendingInitiate {
    ike: IkeSaId,
    awaiting: Awaiting,
    deadline: Option<Timestamp>,
    responder: Responder,
}

struct PendingTerminate {
    ikes: HashSet<IkeSaId>,
    children: HashSet<ChildSaId>,
    deadline: Option<Timestamp>,
    responder: Responder,
}

#[derive(Debug, Clone)]
struct SaMeta {
    name: String,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    established_at: Option<Timestamp>,
    /// Started by start_action/close_action/dpd_action: retried per keyingtries.
    auto: Option<AutoStart>,
}

#[derive(Debug, Clone)]
struct AutoStart {
    children: Vec<String>,
    tries_left: Option<u32>,
}

#[derive(Debug, Clone)]
struct ChildMeta {
    installed_at: Timestamp,
    /// The child config's name, for the teardown line (the engine has forgotten the child
    /// by then).
    name: String,
}

/// Result of loading configuration, reported to `ikectl load-all` and logs.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Connections (re)loaded from the file (added and replaced), in file order.
    pub conns: Vec<String>,
    pub conns_unloaded: usize,
    /// Connections new to the daemon.
    pub added: Vec<String>,
    /// Connections that replaced a loaded one of the same name.
    pub replaced: Vec<String>,
    /// Refused connections whose previous version stays loaded (as charon keeps a connection
    /// whose `load-conn` failed).
    pub kept: Vec<String>,
    /// Connections refused, with why (their located errors, joined).
    pub refused: Vec<(String, String)>,
    /// Connections of an earlier file load that the file no longer has.
    pub unloaded: Vec<String>,
    pub secrets: Vec<String>,
    pub secrets_unloaded: usize,
    /// Credentials loaded from the swanctl directories, one line each as swanctl prints them.
    pub creds: Vec<String>,
    /// Credential files that could not be used (file and cause). Not fatal at start-up: the
    /// connections that need them fail instead, as with charon.
    pub cred_errors: Vec<String>,
    pub errors: Vec<String>,
    /// The file itself could not be read or parsed: nothing of it was applied.
    pub file_failed: bool,
}

/// The daemon core.
pub struct Core {
    engine: Engine,
    kernel: Box<dyn KernelBackend>,
    conns: Vec<StoredConn>,
    secrets: Vec<StoredSecret>,
    creds: creds::CredStore,
    config_file: PathBuf,
    events: broadcast::Sender<BroadcastEvent>,
    pending_initiates: Vec<PendingInitiate>,
    pending_terminates: Vec<PendingTerminate>,
    /// Engine log groups the tracing subscriber prints (see [`printed_engine_groups`]).
    printed_log_groups: LogGroups,
    sa_meta: HashMap<IkeSaId, SaMeta>,
    child_meta: HashMap<ChildSaId, ChildMeta>,
    /// Failed CHILD_SAs per IKE SA, newest last, one per child name.
    traps: Vec<TrapPolicy>,
    /// ACQUIREs being acted on, per trap (`core/acquires.rs`).
    acquires: acquires::Acquires,
    next_trap_reqid: u32,
    /// Trap reqids an earlier iked handed over, by (connection, child), until reinstalled.
    handed_traps: HashMap<(String, String), u32>,
    /// Installed shunts (`mode = pass|drop`).
    shunts: super::shunts::ShuntTable,
    /// Whether connections wait for their local addresses (the daemon; not in-process tests).
    check_addrs: bool,
    /// Connections whose `start_action = start` waits for a local address.
    waiting: HashSet<String>,
    /// Kernel counters per CHILD_SA, refreshed when SAs are listed.
    counter_cache: HashMap<ChildSaId, super::kernel::ChildCounters>,
    started_at: Timestamp,
    started_wall: u64,
    /// Set when SIGTERM/SIGINT asked the loop to stop.
    pub stopping: bool,
    /// CRLs fetched for the engine's revocation checks.
    pub revocation: super::revocation::Revocation,
    /// DNS names of `local_addrs`/`remote_addrs` (`core/names.rs`).
    names: names::Names,
    /// State an earlier iked handed over, resumed at the first configuration load.
    pub handed_over: Option<super::handover::SavedState>,
    /// How late the event loop ran due engine timers (`stats`).
    pub timer_lag: super::lag::TimerLag,
}

/// The reqid range trap policies use, far above the engine's CHILD_SA ids.
pub(crate) const TRAP_REQID_BASE: u32 = 1 << 24;

impl Core {
    pub fn new(
        engine: Engine,
        kernel: Box<dyn KernelBackend>,
        config_file: PathBuf,
        events: broadcast::Sender<BroadcastEvent>,
        now: Timestamp,
        wall: u64,
    ) -> Self {
        let mut core = Self {
            engine,
            kernel,
            conns: Vec::new(),
            secrets: Vec::new(),
            creds: creds::CredStore::default(),
            config_file,
            events,
            pending_initiates: Vec::new(),
            pending_terminates: Vec::new(),
            printed_log_groups: printed_engine_groups(),
            sa_meta: HashMap::new(),
            child_meta: HashMap::new(),
            traps: Vec::new(),
            acquires: Default::default(),
            next_trap_reqid: TRAP_REQID_BASE,
            handed_traps: HashMap::new(),
            shunts: Default::default(),
            check_addrs: false,
            waiting: HashSet::new(),
            counter_cache: HashMap::new(),
            started_at: now,
            started_wall: wall,
            stopping: false,
            revocation: Default::default(),
            names: Default::default(),
            handed_over: None,
            timer_lag: Default::default(),
        };
        core.sync_log_groups();
        core
    }

    /// Re-reads which engine log groups the tracing subscriber prints; call after changing
    /// the log levels at runtime.
    pub fn refresh_log_levels(&mut self) {
        self.printed_log_groups = printed_engine_groups();
        self.sync_log_groups();
    }

    /// Sets the engine's log filter: the printed groups, or every group while a client waits
    /// for `control-log` records (the stream ignores log levels).
    fn sync_log_groups(&mut self) {
        let wanted = if self.pending_initiates.is_empty() && self.pending_terminates.is_empty() {
            self.printed_log_groups
        } else {
            LogGroups::ALL
        };
        if self.engine.log_groups() != wanted {
            self.engine.set_log_groups(wanted);
        }
    }

    /// The engine, with its wall clock refreshed: every datagram and timer reaches the engine
    /// through here, so certificates are checked against the time of the input.
    pub fn engine_mut(&mut self) -> &mut Engine {
        self.refresh_wall_clock();
        &mut self.engine
    }

    /// When the kernel backend will have an event of its own (record mode's EXPIREs).
    pub fn next_kernel_event_at(&self) -> Option<std::time::Duration> {
        self.kernel.next_event_at()
    }

    fn refresh_wall_clock(&mut self) {
        let wall = i64::try_from(crate::clock::wall_clock_secs()).unwrap_or(i64::MAX);
        self.engine.set_wall_clock(wall);
    }

    /// Hands the engine the current credentials (after every credential change).
    fn push_credentials(&mut self) {
        let set = self.revocation.merge(self.creds.credential_set());
        self.engine.set_credentials(set);
    }

    /// A CRL fetch finished: new credentials, then the IKE_AUTHs waiting for it go on.
    pub fn on_crl_fetched(&mut self, now: Timestamp, fetched: super::revocation::Fetched) {
        self.refresh_wall_clock();
        let wall = i64::try_from(crate::clock::wall_clock_secs()).unwrap_or(i64::MAX);
        self.revocation.complete(fetched, wall);
        self.push_credentials();
        self.engine.crls_fetched(now);
    }

    pub fn kernel_mut(&mut self) -> &mut dyn KernelBackend {
        self.kernel.as_mut()
    }

    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    /// Concrete local addresses of all loaded connections (for binding sockets); empty (the
    /// wildcards) when any connection accepts more than its single addresses (`%any`, a subnet
    /// such as `0.0.0.0/0`, a range), so that it is reachable on every local address.
    pub fn local_addresses(&self) -> Vec<std::net::IpAddr> {
        let mut out = Vec::new();
        let wide = self.conns.iter().any(|c| {
            c.conn.local_addrs.is_empty()
                || c.conn.local_addrs.iter().any(
                    |a| !matches!(a, iked_conf::addr::AddrSpec::Addr(ip) if !ip.is_unspecified()),
                )
        });
        if wide {
            return out;
        }
        for c in &self.conns {
            for a in &c.conn.local_addrs {
                if let iked_conf::addr::AddrSpec::Addr(ip) = a
                    && !out.contains(ip)
                {
                    out.push(*ip);
                }
            }
        }
        out
    }
}
