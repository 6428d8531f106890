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

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iked_crypto::registry;
use iked_ike::engine::{
    ChildSaId, DownReason, Engine, Event, IkeInfo, IkeSaId, KernelEvent, LogGroup, LogGroups,
    Timestamp,
};
use tokio::sync::broadcast;

use super::config;
use super::creds;
use super::kernel::{KernelBackend, TrapPolicy};
use crate::log::{Group, LogRecord};
use crate::vici::Message;
use crate::vici::server::{
    BroadcastEvent, ControlRequest, Responder, error_response, success_response,
};

/// Where a connection came from; a file reload replaces only file-loaded entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    File,
    Vici,
}

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
    next_trap_reqid: u32,
    /// Kernel counters per CHILD_SA, refreshed when SAs are listed.
    counter_cache: HashMap<ChildSaId, super::kernel::ChildCounters>,
    started_at: Timestamp,
    started_wall: u64,
    /// Set when SIGTERM/SIGINT asked the loop to stop.
    pub stopping: bool,
}

/// The reqid range trap policies use, far above the engine's CHILD_SA ids.
const TRAP_REQID_BASE: u32 = 1 << 24;

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
            next_trap_reqid: TRAP_REQID_BASE,
            counter_cache: HashMap::new(),
            started_at: now,
            started_wall: wall,
            stopping: false,
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

    fn refresh_wall_clock(&mut self) {
        let wall = i64::try_from(crate::clock::wall_clock_secs()).unwrap_or(i64::MAX);
        self.engine.set_wall_clock(wall);
    }

    /// Hands the engine the current credentials (after every credential change).
    fn push_credentials(&mut self) {
        self.engine.set_credentials(self.creds.credential_set());
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

    // ----- configuration ---------------------------------------------------------------------

    /// Loads `file` (connections and/or secrets per `what`: all, conns, creds), replacing what
    /// an earlier file load brought in. If the file does not parse nothing changes; otherwise
    /// connections are taken one by one, as `swanctl --load-conns` feeds charon: an invalid
    /// connection is refused and keeps its previous version, the others are added or replaced,
    /// and those of the previous file that it no longer has are unloaded.
    pub fn load_file(&mut self, now: Timestamp, file: &Path, what: &str) -> LoadReport {
        let mut report = LoadReport::default();
        let loaded = match iked_conf::load_file_per_conn(file) {
            Ok(l) => l,
            Err(errors) => {
                report.errors = errors.errors.iter().map(ToString::to_string).collect();
                for e in &report.errors {
                    tracing::error!(target: "CFG", "{e}");
                }
                return report;
            }
        };
        for w in &loaded.warnings {
            tracing::warn!(target: "CFG", "{w}");
        }
        self.config_file = file.to_owned();
        let config = loaded.config;
        let old_start = super::retire::start_children(self.conns.iter().map(|c| &c.conn));
        if what != "conns" {
            let dir = creds::swanctl_dir(file);
            let cred_report = self
                .creds
                .load_dirs(&dir, &config.secrets, &config.authorities);
            for line in &cred_report.loaded {
                tracing::info!(target: "CFG", "{line}");
            }
            for e in &cred_report.errors {
                tracing::error!(target: "CFG", "{e}");
            }
            report.creds = cred_report.loaded;
            report.cred_errors = cred_report.errors.iter().map(ToString::to_string).collect();
            self.push_credentials();
        }
        if what != "conns" {
            let before = self.secrets.len();
            self.secrets.retain(|s| s.origin != Origin::File);
            report.secrets_unloaded = before - self.secrets.len();
            for s in config.secrets.ike() {
                let secret = match iked_ike::from_conf::secret(s) {
                    Ok(secret) => secret,
                    Err(e) => {
                        report.errors.push(e.to_string());
                        tracing::error!(target: "CFG", "{e}");
                        continue;
                    }
                };
                self.secrets.push(StoredSecret {
                    name: s.name.clone(),
                    origin: Origin::File,
                    ids: secret.ids,
                    secret: secret.secret,
                });
                report.secrets.push(s.name.clone());
            }
        }
        if what != "creds" {
            let dir = creds::swanctl_dir(file);
            let mut refused: Vec<(String, String)> = loaded
                .refused
                .iter()
                .map(|(name, errors)| {
                    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    (name.clone(), all.join("; "))
                })
                .collect();
            let mut valid = Vec::new();
            for conn in config.connections {
                // What charon's load-conn would refuse beyond the file's syntax (proposals,
                // identities, certificate files) refuses this connection alone too.
                match creds::engine_connection_with_creds(&conn, &dir) {
                    Ok(_) => valid.push(conn),
                    Err(e) => refused.push((conn.name.clone(), e)),
                }
            }
            let in_file: HashSet<&str> = valid
                .iter()
                .map(|c| c.name.as_str())
                .chain(refused.iter().map(|(n, _)| n.as_str()))
                .collect();
            // Like swanctl, which unloads the connections it finds loaded but not in the file:
            // only those an earlier file load brought in (VICI-loaded ones stay).
            let mut unloaded = Vec::new();
            self.conns.retain(|c| {
                let keep = c.origin != Origin::File || in_file.contains(c.conn.name.as_str());
                if !keep {
                    unloaded.push(c.conn.name.clone());
                }
                keep
            });
            for conn in valid {
                let name = conn.name.clone();
                let stored = StoredConn {
                    conn,
                    origin: Origin::File,
                };
                // Replaced in place, so lookups by child name keep their order.
                if let Some(old) = self.conns.iter_mut().find(|c| c.conn.name == name) {
                    *old = stored;
                    report.replaced.push(name.clone());
                } else {
                    self.conns.push(stored);
                    report.added.push(name.clone());
                }
                report.conns.push(name);
            }
            for (name, why) in refused {
                if self.conns.iter().any(|c| c.conn.name == name) {
                    report.kept.push(name.clone());
                }
                report
                    .errors
                    .push(format!("loading connection '{name}' failed: {why}"));
                report.refused.push((name, why));
            }
            report.conns_unloaded = unloaded.len();
            report.unloaded = unloaded;
        }
        for c in &report.added {
            tracing::info!(target: "CFG", "added connection '{c}'");
        }
        for c in &report.replaced {
            tracing::info!(target: "CFG", "replaced connection '{c}'");
        }
        for (c, why) in &report.refused {
            tracing::error!(target: "CFG", "loading connection '{c}' failed: {why}");
        }
        for c in &report.kept {
            tracing::warn!(target: "CFG", "kept the previous version of connection '{c}'");
        }
        for c in &report.unloaded {
            tracing::info!(target: "CFG", "unloaded connection '{c}'");
        }
        if what != "creds" {
            tracing::info!(
                target: "CFG",
                "connections: {} added, {} replaced, {} kept, {} refused, {} unloaded",
                report.added.len(),
                report.replaced.len(),
                report.kept.len(),
                report.refused.len(),
                report.unloaded.len()
            );
        }
        self.push_config_to_engine();
        if what != "creds" {
            self.retire_stale(now, &old_start);
            self.apply_start_actions(now, None);
        }
        report
    }

    /// Closes what `start_action = start` of an unloaded or changed connection brought up
    /// (charon's `clear_start_actions`; see `retire.rs`).
    fn retire_stale(&mut self, now: Timestamp, old_start: &super::retire::StartChildren) {
        for step in super::retire::plan(self.engine.stale_sas(), old_start) {
            tracing::info!(target: "CFG", "{step}");
            let _ = match step {
                super::retire::Retire::Ike { id, .. } => self.engine.terminate_ike(now, id),
                super::retire::Retire::Child { id, .. } => self.engine.terminate_child(now, id),
            };
        }
    }

    fn push_config_to_engine(&mut self) {
        let dir = creds::swanctl_dir(&self.config_file);
        let conns = self
            .conns
            .iter()
            .filter_map(|c| creds::engine_connection_with_creds(&c.conn, &dir).ok())
            .collect();
        let secrets = self
            .secrets
            .iter()
            .map(|s| iked_ike::config::IkeSecret::new(s.ids.clone(), s.secret.to_vec()))
            .collect();
        self.engine.reload(conns, secrets);
    }

    fn find_conn(&self, name: &str) -> Option<&iked_conf::Connection> {
        self.conns.iter().map(|c| &c.conn).find(|c| c.name == name)
    }

    /// The connection holding a child of this name (the first, as charon picks).
    fn conn_of_child(&self, child: &str) -> Option<&iked_conf::Connection> {
        self.conns
            .iter()
            .map(|c| &c.conn)
            .find(|c| c.children.iter().any(|ch| ch.name == child))
    }

    /// Honours `start_action` (start / trap) for every child, or only those of `only`.
    fn apply_start_actions(&mut self, now: Timestamp, only: Option<&str>) {
        let mut to_start: Vec<(String, String, u32)> = Vec::new();
        let mut to_trap: Vec<(String, String)> = Vec::new();
        for c in self.conns.iter().map(|c| &c.conn) {
            if only.is_some_and(|o| o != c.name) {
                continue;
            }
            for child in &c.children {
                if child.start_action.start {
                    to_start.push((c.name.clone(), child.name.clone(), c.keyingtries));
                }
                if child.start_action.trap {
                    to_trap.push((c.name.clone(), child.name.clone()));
                }
            }
        }
        for (conn, child) in to_trap {
            if let Err(e) = self.install_trap(&conn, &child) {
                tracing::error!(target: "CFG", "installing trap policy for {conn}/{child} failed: {e}");
            }
        }
        // All `start` children of a connection go to one IKE SA (charon's reuse_ikesa).
        for (conn, children, tries) in super::start::group_by_conn(to_start) {
            let missing: Vec<String> = children
                .into_iter()
                .filter(|child| !self.engine.child_active(&conn, child))
                .collect();
            if !missing.is_empty() {
                self.auto_initiate(now, &conn, missing, tries);
            }
        }
    }

    /// An IKE SA of `conn` went away (a crossing resolved, `unique = replace`) while another
    /// one we initiated stays: the `start` children missing on it (refused while their twins
    /// on the old SA held the policies, say) are created there (see `start.rs`).
    fn restart_on_survivor(&mut self, now: Timestamp, conn: &str) {
        let Some(c) = self.find_conn(conn) else {
            return;
        };
        let tries = c.keyingtries;
        let missing: Vec<String> = c
            .children
            .iter()
            .filter(|ch| ch.start_action.start)
            .map(|ch| ch.name.clone())
            .filter(|ch| !self.engine.child_active(conn, ch))
            .collect();
        // Only the survivor's initiator creates them: the other end never does the same.
        if !missing.is_empty() && self.engine.has_established_initiated(conn) {
            self.auto_initiate(now, conn, missing, tries);
        }
    }

    fn auto_initiate(
        &mut self,
        now: Timestamp,
        conn: &str,
        children: Vec<String>,
        keyingtries: u32,
    ) {
        let refs: Vec<&str> = children.iter().map(String::as_str).collect();
        let options = self.initiate_options(conn);
        match self.engine.start_children(now, conn, &refs, options) {
            Ok(iked_ike::engine::Started::Reused(id)) => {
                tracing::info!(target: "IKE", ike = conn, "queued {children:?} on IKE SA {}", id.0);
            }
            Ok(iked_ike::engine::Started::New(id)) => {
                tracing::info!(target: "IKE", ike = conn, "initiating {conn} for {:?}", children);
                self.sa_meta.insert(
                    id,
                    SaMeta {
                        name: conn.to_owned(),
                        local: None,
                        remote: None,
                        established_at: None,
                        auto: Some(AutoStart {
                            children,
                            tries_left: (keyingtries > 0).then(|| keyingtries.saturating_sub(1)),
                        }),
                    },
                );
            }
            Err(e) => tracing::error!(target: "CFG", "initiating {conn} failed: {e}"),
        }
    }

    /// Starts an IKE SA of `conn` towards its configured `remote_port` (swanctl's default 500).
    fn initiate_conn(
        &mut self,
        now: Timestamp,
        conn: &str,
        children: &[&str],
    ) -> Result<IkeSaId, iked_ike::error::CommandError> {
        let options = self.initiate_options(conn);
        self.engine.initiate_with(now, conn, children, options)
    }

    /// Endpoint choices for initiating `conn`: its `remote_port`, and our route's source
    /// address towards the peer for `local_addrs = %any`.
    fn initiate_options(&self, conn: &str) -> iked_ike::engine::InitiateOptions {
        let found = self.find_conn(conn);
        let remote_port = found.map(|c| c.remote_port);
        // With `local_addrs = %any` our address (hashed for NAT detection, used by the SAs) is
        // the source of the kernel's route to the peer; a configured address wins in the engine.
        let local_addr = found
            .and_then(|c| {
                c.remote_addrs.iter().find_map(|a| match a {
                    iked_conf::addr::AddrSpec::Addr(ip) => Some(*ip),
                    _ => None,
                })
            })
            .and_then(|ip| super::net::route_source(SocketAddr::new(ip, 500)));
        iked_ike::engine::InitiateOptions {
            local_addr,
            remote_port,
            ..Default::default()
        }
    }

    fn install_trap(&mut self, conn_name: &str, child_name: &str) -> Result<(), String> {
        if self
            .traps
            .iter()
            .any(|t| t.connection == conn_name && t.child == child_name)
        {
            return Ok(());
        }
        let conn = self
            .find_conn(conn_name)
            .ok_or_else(|| format!("no connection '{conn_name}'"))?;
        let engine_conn = config::engine_connection(conn)?;
        let child = engine_conn
            .children
            .iter()
            .find(|c| c.name == child_name)
            .ok_or_else(|| format!("no child '{child_name}' in '{conn_name}'"))?;
        let local = *engine_conn
            .local_addrs
            .first()
            .ok_or("trap policies need a concrete local_addrs")?;
        let remote = *engine_conn
            .remote_addrs
            .first()
            .ok_or("trap policies need a concrete remote_addrs")?;
        let trap = TrapPolicy {
            reqid: self.next_trap_reqid,
            connection: conn_name.to_owned(),
            child: child_name.to_owned(),
            local,
            remote,
            // As charon's trap manager: `dynamic` is the connection's own addresses.
            local_ts: iked_ike::ts::resolve(&child.local_ts, local),
            remote_ts: iked_ike::ts::resolve(&child.remote_ts, remote),
            transport: child.mode == iked_ike::config::Mode::Transport,
        };
        self.kernel.install_trap(&trap)?;
        self.next_trap_reqid += 1;
        self.traps.push(trap);
        Ok(())
    }

    // ----- kernel ----------------------------------------------------------------------------

    /// A kernel event from the backend's monitor: ACQUIRE is ours (trap policies), the rest
    /// goes to the engine (EXPIRE: rekey on soft, delete on hard).
    pub fn handle_kernel_event(&mut self, now: Timestamp, event: KernelEvent) {
        match event {
            KernelEvent::Acquire { reqid } => {
                let Some(trap) = self.traps.iter().find(|t| t.reqid == reqid).cloned() else {
                    self.engine
                        .handle_kernel(now, KernelEvent::Acquire { reqid });
                    return;
                };
                let busy = self.engine.ike_sas().iter().any(|sa| {
                    sa.name == trap.connection && sa.children.iter().any(|c| c.name == trap.child)
                }) || self
                    .sa_meta
                    .values()
                    .any(|m| m.name == trap.connection && m.established_at.is_none());
                if !busy {
                    tracing::info!(target: "KNL", "acquire for reqid {reqid}: initiating {}/{}", trap.connection, trap.child);
                    let tries = self
                        .find_conn(&trap.connection)
                        .map(|c| c.keyingtries)
                        .unwrap_or(1);
                    self.auto_initiate(now, &trap.connection, vec![trap.child.clone()], tries);
                }
            }
            other => self.engine.handle_kernel(now, other),
        }
    }

    /// Drains the engine's kernel requests into the backend, feeding answers back until
    /// neither side has more to say.
    pub fn pump_kernel(&mut self, now: Timestamp) {
        loop {
            let mut progressed = false;
            while let Some(request) = self.engine.poll_kernel() {
                progressed = true;
                if let Some(answer) = self.kernel.handle(request) {
                    self.engine.handle_kernel(now, answer);
                }
            }
            for answer in self.kernel.finish_batch() {
                progressed = true;
                self.engine.handle_kernel(now, answer);
            }
            for event in self.kernel.poll_events() {
                progressed = true;
                self.handle_kernel_event(now, event);
            }
            if !progressed {
                break;
            }
        }
    }

    // ----- engine events ---------------------------------------------------------------------

    /// Processes every pending engine event.
    pub fn drain_events(&mut self, now: Timestamp) {
        while let Some(event) = self.engine.poll_event() {
            self.on_event(now, event);
        }
        // Events complete pending initiates and terminates.
        self.sync_log_groups();
    }

    fn sa_name(&self, sa: IkeSaId) -> Option<String> {
        self.sa_meta.get(&sa).map(|m| m.name.clone())
    }

    fn on_event(&mut self, now: Timestamp, event: Event) {
        match event {
            Event::Log { sa, group, message } => self.on_engine_log(sa, group, message),
            Event::IkeUp {
                sa,
                name,
                local,
                remote,
            } => {
                let meta = self.sa_meta.entry(sa).or_insert_with(|| SaMeta {
                    name: name.clone(),
                    local: None,
                    remote: None,
                    established_at: None,
                    auto: None,
                });
                meta.name = name.clone();
                meta.local = Some(local);
                meta.remote = Some(remote);
                meta.established_at = Some(now);
                tracing::info!(target: "IKE", ike = name.as_str(), ike_id = u64::from(sa.0), "IKE_SA {name}[{}] established between {local}...{remote}", sa.0);
                self.broadcast_updown("ike-updown", sa, None, true, now);
                self.complete_initiates(|p| p.ike == sa && p.awaiting == Awaiting::IkeUp, Ok(()));
            }
            Event::IkeFailed {
                sa,
                name,
                reason,
                peer_silent,
            } => {
                tracing::warn!(target: "IKE", ike = name.as_str(), "establishing IKE_SA {name}[{}] failed: {reason}", sa.0);
                let msg = format!("establishing IKE_SA '{name}' failed: {reason}");
                self.complete_initiates(|p| p.ike == sa, Err(msg));
                let meta = self.sa_meta.remove(&sa);
                // As charon: `keyingtries` retries a peer that never answered; a refusal
                // (authentication, proposals) would only be refused again.
                if peer_silent {
                    self.retry_auto(now, meta);
                }
            }
            Event::IkeDown { sa, reason } => {
                let name = self.sa_name(sa).unwrap_or_default();
                tracing::info!(target: "IKE", ike = name.as_str(), "IKE_SA {name}[{}] down: {reason:?}", sa.0);
                self.broadcast_updown("ike-updown", sa, None, false, now);
                self.complete_initiates(
                    |p| p.ike == sa,
                    Err(format!("IKE_SA '{name}' went down: {reason:?}")),
                );
                self.on_sa_gone(sa, None);
                let meta = self.sa_meta.remove(&sa);
                self.after_down(now, &name, None, &reason, meta);
                self.restart_on_survivor(now, &name);
            }
            Event::IkeRekeyed { old, new } => {
                if let Some(mut meta) = self.sa_meta.get(&old).cloned() {
                    meta.established_at = Some(now);
                    meta.auto = None;
                    self.sa_meta.insert(new, meta);
                }
                let name = self.sa_name(old).unwrap_or_default();
                tracing::info!(target: "IKE", ike = name.as_str(), "IKE_SA {name}[{}] rekeyed to [{}]", old.0, new.0);
                let msg = Message::new().section(
                    name.clone(),
                    Message::new()
                        .section("old", self.ike_sa_message(old, false, now))
                        .section("new", self.ike_sa_message(new, false, now)),
                );
                self.broadcast("ike-rekey", msg);
                // Pending requests follow the SA to its successor.
                for p in &mut self.pending_initiates {
                    if p.ike == old {
                        p.ike = new;
                    }
                }
                self.sa_meta.remove(&old);
            }
            Event::ChildUp {
                ike,
                child,
                name,
                spi_in,
                spi_out,
                ..
            } => {
                self.child_meta
                    .insert(child, ChildMeta { installed_at: now });
                let ike_name = self.sa_name(ike).unwrap_or_default();
                tracing::info!(target: "CHD", ike = ike_name.as_str(), "CHILD_SA {name}{{{}}} established with SPIs {spi_in:08x}_i {spi_out:08x}_o", child.0);
                self.broadcast_updown("child-updown", ike, Some(child), true, now);
                self.complete_initiates(
                    |p| p.ike == ike && p.awaiting == Awaiting::Child(name.clone()),
                    Ok(()),
                );
            }
            Event::ChildFailed { ike, name, reason } => {
                let ike_name = self.sa_name(ike).unwrap_or_default();
                tracing::warn!(target: "CHD", ike = ike_name.as_str(), "establishing CHILD_SA {name} failed: {reason}");
                // As charon, list-sas shows nothing for a refused child: the log above and
                // the initiating command's result carry the refusal (with the kernel's text
                // when the kernel refused it, e.g. an offload the device cannot do).
                self.complete_initiates(
                    |p| p.ike == ike && p.awaiting == Awaiting::Child(name.clone()),
                    Err(format!("establishing CHILD_SA '{name}' failed: {reason}")),
                );
            }
            Event::ChildDown { ike, child, reason } => {
                let ike_name = self.sa_name(ike).unwrap_or_default();
                let child_name = self.child_name(ike, child);
                tracing::info!(target: "CHD", ike = ike_name.as_str(), "CHILD_SA {}{{{}}} down: {reason:?}", child_name.as_deref().unwrap_or("?"), child.0);
                self.broadcast_updown("child-updown", ike, Some(child), false, now);
                self.child_meta.remove(&child);
                self.on_sa_gone(ike, Some(child));
                if reason != DownReason::Rekeyed {
                    self.after_down(now, &ike_name, child_name.as_deref(), &reason, None);
                }
            }
            Event::ChildRekeyed { ike, old, new } => {
                if let Some(meta) = self.child_meta.get(&old).cloned() {
                    let _ = meta;
                }
                self.child_meta.insert(new, ChildMeta { installed_at: now });
                let ike_name = self.sa_name(ike).unwrap_or_default();
                tracing::info!(target: "CHD", ike = ike_name.as_str(), "CHILD_SA {{{}}} rekeyed to {{{}}}", old.0, new.0);
                let mut body = self.ike_sa_message(ike, false, now);
                body.insert(
                    "child-sas",
                    crate::vici::Item::Section(
                        Message::new().section(
                            format!("{}", new.0),
                            Message::new()
                                .section(
                                    "old",
                                    self.child_sa_message(ike, old, now).unwrap_or_default(),
                                )
                                .section(
                                    "new",
                                    self.child_sa_message(ike, new, now).unwrap_or_default(),
                                ),
                        ),
                    ),
                );
                self.broadcast("child-rekey", Message::new().section(ike_name, body));
            }
        }
    }

    fn child_name(&self, ike: IkeSaId, child: ChildSaId) -> Option<String> {
        self.engine
            .ike_sa(ike)
            .and_then(|s| s.children.into_iter().find(|c| c.id == child))
            .map(|c| c.name)
    }

    fn on_engine_log(&mut self, sa: Option<IkeSaId>, group: LogGroup, message: String) {
        let name = sa.and_then(|s| self.sa_name(s));
        // The subscriber prints these fields as charon's `<conn|id>` prefix.
        let ike = name.as_deref().unwrap_or("");
        let id = sa.map(|s| u64::from(s.0)).unwrap_or(0);
        trace_engine_log(group, ike, id, &message);
        // Stream to clients initiating or terminating this SA.
        if let Some(sa) = sa {
            let tag = group.tag();
            let msg = || {
                Message::new()
                    .kv("group", tag)
                    .kv("level", "1")
                    .kv("ikesa-name", ike)
                    .kv("ikesa-uniqueid", sa.0.to_string())
                    .kv("msg", message.as_str())
            };
            for p in &self.pending_initiates {
                if p.ike == sa {
                    p.responder.event("control-log", msg());
                }
            }
            for p in &self.pending_terminates {
                if p.ikes.contains(&sa) {
                    p.responder.event("control-log", msg());
                }
            }
        }
    }

    /// Forwards a daemon log record to clients registered for `log`.
    pub fn forward_log(&self, record: LogRecord) {
        let mut msg = Message::new()
            .kv("group", record.group.tag())
            .kv("level", record.level.to_string())
            .kv("thread", "0");
        if let Some(name) = &record.ike_name
            && !name.is_empty()
        {
            msg = msg.kv("ikesa-name", name);
        }
        if let Some(id) = record.ike_id
            && id != 0
        {
            msg = msg.kv("ikesa-uniqueid", id.to_string());
        }
        msg = msg.kv("msg", record.message);
        let _ = record.group == Group::Dmn;
        self.broadcast("log", msg);
    }

    fn broadcast(&self, name: &'static str, message: Message) {
        let _ = self.events.send(BroadcastEvent { name, message });
    }

    fn broadcast_updown(
        &self,
        event: &'static str,
        ike: IkeSaId,
        child: Option<ChildSaId>,
        up: bool,
        now: Timestamp,
    ) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let name = self.sa_name(ike).unwrap_or_default();
        let mut body = self.ike_sa_message(ike, false, now);
        if let Some(child) = child
            && let Some(c) = self.child_sa_message(ike, child, now)
        {
            body.insert(
                "child-sas",
                crate::vici::Item::Section(Message::new().section(format!("{}", child.0), c)),
            );
        }
        let mut msg = Message::new();
        if up {
            msg = msg.kv("up", "yes");
        }
        self.broadcast(event, msg.section(name, body));
    }

    fn complete_initiates(
        &mut self,
        matches: impl Fn(&PendingInitiate) -> bool,
        result: Result<(), String>,
    ) {
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_initiates)
            .into_iter()
            .partition(|p| matches(p));
        self.pending_initiates = keep;
        for p in done {
            p.responder.respond(match &result {
                Ok(()) => success_response(),
                Err(e) => error_response(e),
            });
        }
    }

    fn on_sa_gone(&mut self, ike: IkeSaId, child: Option<ChildSaId>) {
        let mut still = Vec::new();
        for mut p in std::mem::take(&mut self.pending_terminates) {
            match child {
                Some(c) => {
                    p.children.remove(&c);
                }
                None => {
                    p.ikes.remove(&ike);
                }
            }
            if p.ikes.is_empty() && p.children.is_empty() {
                p.responder.respond(success_response());
            } else {
                still.push(p);
            }
        }
        self.pending_terminates = still;
    }

    /// close_action (peer deleted) and dpd_action (peer dead) per child, keyingtries for SAs
    /// we started automatically.
    fn after_down(
        &mut self,
        now: Timestamp,
        conn_name: &str,
        child: Option<&str>,
        reason: &DownReason,
        meta: Option<SaMeta>,
    ) {
        if self.stopping {
            return;
        }
        let Some(conn) = self.find_conn(conn_name) else {
            return;
        };
        let keyingtries = conn.keyingtries;
        let mut restart = Vec::new();
        let mut retrap = Vec::new();
        for c in &conn.children {
            if child.is_some_and(|n| n != c.name) {
                continue;
            }
            let action = match reason {
                DownReason::Peer => c.close_action,
                DownReason::Timeout => c.dpd_action,
                _ => continue,
            };
            if action.start {
                restart.push(c.name.clone());
            }
            if action.trap {
                retrap.push(c.name.clone());
            }
        }
        for c in retrap {
            let _ = self.install_trap(conn_name, &c);
        }
        if !restart.is_empty() {
            tracing::info!(target: "IKE", "restarting {conn_name} {:?} ({reason:?})", restart);
            self.auto_initiate(now, conn_name, restart, keyingtries);
        }
        let _ = meta;
    }

    fn retry_auto(&mut self, now: Timestamp, meta: Option<SaMeta>) {
        let Some(SaMeta {
            name,
            auto: Some(auto),
            ..
        }) = meta
        else {
            return;
        };
        if self.stopping {
            return;
        }
        let tries_left = match auto.tries_left {
            Some(0) => {
                tracing::warn!(target: "IKE", "giving up on {name} after keyingtries");
                return;
            }
            Some(n) => Some(n - 1),
            None => None,
        };
        let refs: Vec<&str> = auto.children.iter().map(String::as_str).collect();
        if let Ok(id) = self.initiate_conn(now, &name, &refs) {
            tracing::info!(target: "IKE", "retrying {name} (keyingtries left: {tries_left:?})");
            self.sa_meta.insert(
                id,
                SaMeta {
                    name,
                    local: None,
                    remote: None,
                    established_at: None,
                    auto: Some(AutoStart {
                        children: auto.children,
                        tries_left,
                    }),
                },
            );
        }
    }

    // ----- timers ----------------------------------------------------------------------------

    /// The earliest deadline of a pending control request.
    pub fn next_control_deadline(&self) -> Option<Timestamp> {
        self.pending_initiates
            .iter()
            .filter_map(|p| p.deadline)
            .chain(self.pending_terminates.iter().filter_map(|p| p.deadline))
            .min()
    }

    /// Fails pending requests whose deadline passed (charon's `timeout` semantics: the SA
    /// keeps trying, only the request returns).
    pub fn expire_control(&mut self, now: Timestamp) {
        self.complete_initiates(
            |p| p.deadline.is_some_and(|d| d <= now),
            Err("initiate timed out".into()),
        );
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_terminates)
            .into_iter()
            .partition(|p| p.deadline.is_some_and(|d| d <= now));
        self.pending_terminates = keep;
        for p in done {
            p.responder.respond(error_response("terminate timed out"));
        }
        self.sync_log_groups();
    }

    // ----- listings --------------------------------------------------------------------------

    fn ike_info(&self, ike: IkeSaId) -> Option<IkeInfo> {
        self.engine.ike_sa(ike)
    }

    fn ike_sa_message(&self, ike: IkeSaId, with_children: bool, now: Timestamp) -> Message {
        let info = self.ike_info(ike);
        let meta = self.sa_meta.get(&ike);
        let conn = meta
            .map(|m| m.name.as_str())
            .or(info.as_ref().map(|i| i.name.as_str()))
            .and_then(|n| self.find_conn(n));
        let mut m = Message::new()
            .kv("uniqueid", ike.0.to_string())
            .kv("version", "2");
        let established = info.as_ref().is_some_and(|i| i.established);
        m = m.kv(
            "state",
            if established {
                "ESTABLISHED"
            } else if info.is_some() {
                "CONNECTING"
            } else {
                "DELETING"
            },
        );
        // Before IKE_SA_INIT completes, show the configured endpoints (charon shows its
        // chosen addresses too).
        let first_addr = |specs: &[iked_conf::addr::AddrSpec]| {
            specs.iter().find_map(|a| match a {
                iked_conf::addr::AddrSpec::Addr(ip) => Some(SocketAddr::new(*ip, 500)),
                _ => None,
            })
        };
        // The engine's endpoints are the current ones (NAT-T port, a peer's new NAT mapping).
        let engine_ep = |ep: fn(&IkeInfo) -> SocketAddr| {
            info.as_ref().map(ep).filter(|a| !a.ip().is_unspecified())
        };
        let local_ep = engine_ep(|i| i.local)
            .or_else(|| meta.and_then(|m| m.local))
            .or_else(|| conn.and_then(|c| first_addr(&c.local_addrs)));
        let remote_ep = engine_ep(|i| i.remote)
            .or_else(|| meta.and_then(|m| m.remote))
            .or_else(|| conn.and_then(|c| first_addr(&c.remote_addrs)));
        if let Some(local) = local_ep {
            m = m
                .kv("local-host", local.ip().to_string())
                .kv("local-port", local.port().to_string());
        }
        // The identities of the IKE SA as charon lists them: the one we use and the one the
        // peer authenticated with (a `%any` remote shows who actually connected); the
        // configured ones only until the engine knows better.
        if let Some(conn) = conn {
            let id = info
                .as_ref()
                .map(|i| i.local_id.clone())
                .or_else(|| {
                    conn.local
                        .first()
                        .and_then(|r| r.id.as_ref())
                        .map(ToString::to_string)
                })
                .or_else(|| meta.and_then(|m| m.local).map(|a| a.ip().to_string()))
                .unwrap_or_else(|| "%any".into());
            m = m.kv("local-id", id);
        }
        if let Some(remote) = remote_ep {
            m = m
                .kv("remote-host", remote.ip().to_string())
                .kv("remote-port", remote.port().to_string());
        }
        if let Some(conn) = conn {
            let id = info
                .as_ref()
                .and_then(|i| i.remote_id.clone())
                .or_else(|| {
                    conn.remote
                        .first()
                        .and_then(|r| r.id.as_ref())
                        .map(ToString::to_string)
                })
                .or_else(|| meta.and_then(|m| m.remote).map(|a| a.ip().to_string()))
                .unwrap_or_else(|| "%any".into());
            m = m.kv("remote-id", id);
        }
        if let Some(i) = &info {
            m = m
                .kv("initiator", if i.initiator { "yes" } else { "no" })
                .kv("initiator-spi", format!("{:016x}", i.spi_i))
                .kv("responder-spi", format!("{:016x}", i.spi_r));
            // charon's NAT conditions, in its order.
            for (key, set) in [
                ("nat-local", i.nat_local),
                ("nat-remote", i.nat_remote),
                ("nat-fake", i.nat_fake),
                ("nat-any", i.nat_local || i.nat_remote || i.nat_fake),
            ] {
                if set {
                    m = m.kv(key, "yes");
                }
            }
        }
        if let Some(p) = conn.and_then(|c| c.proposals.first()) {
            if let Some(e) = p.encryption.first() {
                m = m.kv("encr-alg", e.id.to_string());
                if let Some(bits) = e.key_bits {
                    m = m.kv("encr-keysize", bits.to_string());
                }
            }
            if let Some(i) = p.integrity.first() {
                m = m.kv("integ-alg", i.to_string());
            }
            if let Some(prf) = p.prf.first() {
                m = m.kv("prf-alg", prf.to_string());
            }
            if let Some(ke) = p.ke.first() {
                m = m.kv("dh-group", ke.to_string());
            }
        }
        if let Some(at) = meta.and_then(|m| m.established_at) {
            m = m.kv(
                "established",
                now.saturating_since(at).as_secs().to_string(),
            );
            if let Some(conn) = conn
                && conn.rekey_time > Duration::ZERO
            {
                let left = conn.rekey_time.saturating_sub(now.saturating_since(at));
                m = m.kv("rekey-time", left.as_secs().to_string());
            }
        }
        if with_children {
            let mut children = Message::new();
            if let Some(i) = &info {
                for c in &i.children {
                    if let Some(cm) = self.child_sa_message(ike, c.id, now) {
                        children = children.section(format!("{}-{}", c.name, c.id.0), cm);
                    }
                }
            }
            m = m.section("child-sas", children);
        }
        m
    }

    fn child_sa_message(&self, ike: IkeSaId, child: ChildSaId, now: Timestamp) -> Option<Message> {
        let info = self.ike_info(ike)?;
        let c = info.children.iter().find(|c| c.id == child)?;
        let conn = self.find_conn(&info.name);
        let child_conf = conn.and_then(|conn| conn.children.iter().find(|ch| ch.name == c.name));
        // The mode the child was created with (its connection may be gone since a reload).
        let mode = match c.mode {
            iked_ike::config::Mode::Transport => "TRANSPORT",
            iked_ike::config::Mode::Tunnel => "TUNNEL",
        };
        // A child our kernel refused is not listed, as in charon, although the engine holds it
        // until the peer has confirmed our DELETE; nor one without a negotiated proposal.
        if (!c.installed && self.kernel.install_failure(child).is_some())
            || c.proposal.selected().is_none()
        {
            return None;
        }
        let mut m = Message::new()
            .kv("name", c.name.as_str())
            .kv("uniqueid", c.id.0.to_string())
            // The kernel's reqid, which a rekeyed child inherits from its predecessor.
            .kv("reqid", c.reqid.to_string())
            .kv(
                "state",
                if c.installed {
                    "INSTALLED"
                } else {
                    "INSTALLING"
                },
            )
            .kv("mode", mode)
            .kv("protocol", "ESP");
        if c.encap {
            m = m.kv("encap", "yes");
        }
        m = m
            .kv("spi-in", format!("{:08x}", c.spi_in))
            .kv("spi-out", format!("{:08x}", c.spi_out));
        // What was negotiated, as charon lists it: the key exchange method only when the
        // child was created or rekeyed with one.
        if let Some(sel) = c.proposal.selected() {
            m = m.kv("encr-alg", registry::EncrId(sel.encr.id).to_string());
            if let Some(bits) = sel.encr.key_len {
                m = m.kv("encr-keysize", bits.to_string());
            }
            if sel.integ != 0 {
                m = m.kv("integ-alg", registry::IntegId(sel.integ).to_string());
            }
            if sel.ke != 0 {
                m = m.kv("dh-group", registry::KeId(sel.ke).to_string());
            }
            if sel.esn {
                m = m.kv("esn", "1");
            }
        }
        let counters = self.counter_cache.get(&child).copied().unwrap_or_default();
        m = m
            .kv("bytes-in", counters.bytes_in.to_string())
            .kv("packets-in", counters.packets_in.to_string())
            .kv("bytes-out", counters.bytes_out.to_string())
            .kv("packets-out", counters.packets_out.to_string());
        if let Some(meta) = self.child_meta.get(&child) {
            let age = now.saturating_since(meta.installed_at);
            m = m.kv("install-time", age.as_secs().to_string());
            if let Some(ch) = child_conf {
                let lt = ch.lifetime;
                if lt.rekey_time > Duration::ZERO {
                    m = m.kv(
                        "rekey-time",
                        lt.rekey_time.saturating_sub(age).as_secs().to_string(),
                    );
                }
                if lt.life_time > Duration::ZERO {
                    m = m.kv(
                        "life-time",
                        lt.life_time.saturating_sub(age).as_secs().to_string(),
                    );
                }
            }
        } else {
            m = m.kv("install-time", "0");
        }
        m = m
            .list(
                "local-ts",
                c.local_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .list(
                "remote-ts",
                c.remote_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            );
        // iked extensions (charon has no such keys): the offload mode actually in force, the
        // one configured, and why the child failed.
        let offload = self
            .kernel
            .offload_in_force(child)
            .unwrap_or_else(|| "none".to_owned());
        m = m.kv("offload", offload);
        if let Some(ch) = child_conf {
            m = m.kv("hw-offload", ch.hw_offload.to_string());
        }
        Some(m)
    }

    // ----- control ---------------------------------------------------------------------------

    /// Answers one VICI command.
    pub fn handle_control(&mut self, now: Timestamp, request: ControlRequest) {
        self.dispatch_control(now, request);
        // `initiate` and `terminate` may have registered (or given up on) a waiting client.
        self.sync_log_groups();
    }

    fn dispatch_control(&mut self, now: Timestamp, request: ControlRequest) {
        let ControlRequest {
            command,
            message,
            responder,
        } = request;
        self.refresh_wall_clock();
        tracing::debug!(target: "CFG", "vici command '{command}'");
        match command.as_str() {
            "version" => responder.respond(version_message()),
            "stats" => {
                let msg = self.stats_message(now);
                responder.respond(msg)
            }
            "reload-settings" => {
                let file = self.config_file.clone();
                let report = self.load_file(now, &file, "all");
                responder.respond(if report.errors.is_empty() {
                    success_response()
                } else {
                    error_response(report.errors.join("; "))
                });
            }
            "iked-load-file" => {
                let file = message
                    .get_str("file")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| self.config_file.clone());
                let what = message.get_str("what").unwrap_or("all").to_owned();
                let report = self.load_file(now, &file, &what);
                let mut msg = Message::new()
                    .kv(
                        "success",
                        if report.errors.is_empty() {
                            "yes"
                        } else {
                            "no"
                        },
                    )
                    .list("conns", &report.conns)
                    .kv("conns-unloaded", report.conns_unloaded.to_string())
                    .list("conns-added", &report.added)
                    .list("conns-replaced", &report.replaced)
                    .list("conns-kept", &report.kept)
                    .list("conns-unloaded-names", &report.unloaded)
                    .section(
                        "conns-refused",
                        report
                            .refused
                            .iter()
                            .fold(Message::new(), |m, (name, why)| m.kv(name.clone(), why)),
                    )
                    .list("secrets", &report.secrets)
                    .kv("secrets-unloaded", report.secrets_unloaded.to_string())
                    .list("creds", &report.creds)
                    .list("cred-errors", &report.cred_errors)
                    .list("errors", &report.errors);
                if !report.errors.is_empty() {
                    msg = msg.kv(
                        "errmsg",
                        format!("{} error(s) in {}", report.errors.len(), file.display()),
                    );
                }
                responder.respond(msg);
            }
            "load-conn" => responder.respond(self.load_conn_vici(now, &message)),
            "unload-conn" => {
                let Some(name) = message.get_str("name") else {
                    return responder.respond(error_response("missing connection name to unload"));
                };
                let before = self.conns.len();
                let old_start = super::retire::start_children(self.conns.iter().map(|c| &c.conn));
                self.conns.retain(|c| c.conn.name != name);
                if self.conns.len() == before {
                    return responder.respond(error_response(format!(
                        "connection '{name}' not found for unloading"
                    )));
                }
                self.push_config_to_engine();
                self.retire_stale(now, &old_start);
                responder.respond(success_response());
            }
            "get-conns" => {
                let names: Vec<String> = self.conns.iter().map(|c| c.conn.name.clone()).collect();
                responder.respond(Message::new().list("conns", names));
            }
            "list-conns" => {
                let filter = message.get_str("ike");
                let dir = creds::swanctl_dir(&self.config_file);
                for c in &self.conns {
                    if filter.is_some_and(|f| f != c.conn.name) {
                        continue;
                    }
                    // Read as the engine got them, so certificates list by subject.
                    let engine = creds::engine_connection_with_creds(&c.conn, &dir).ok();
                    responder.event(
                        "list-conn",
                        config::list_conn_message_with_creds(&c.conn, engine.as_ref()),
                    );
                }
                responder.respond(Message::new());
            }
            "load-shared" => responder.respond(self.load_shared(&message)),
            "unload-shared" => {
                let Some(id) = message.get_str("id") else {
                    return responder
                        .respond(error_response("unique identifier required to unload"));
                };
                let before = self.secrets.len();
                self.secrets.retain(|s| s.name != id);
                if before == self.secrets.len() {
                    return responder
                        .respond(error_response(format!("shared key '{id}' not found")));
                }
                self.push_config_to_engine();
                responder.respond(success_response());
            }
            "get-shared" => {
                let names: Vec<String> = self.secrets.iter().map(|s| s.name.clone()).collect();
                responder.respond(Message::new().list("keys", names));
            }
            "clear-creds" => {
                self.secrets.retain(|s| s.origin != Origin::Vici);
                self.creds.vici_clear();
                self.push_config_to_engine();
                self.push_credentials();
                responder.respond(success_response());
            }
            "load-cert" | "load-key" | "unload-key" | "load-authority" | "unload-authority" => {
                let reply = match command.as_str() {
                    "load-cert" => self.creds.vici_load_cert(&message),
                    "load-key" => self.creds.vici_load_key(&message),
                    "unload-key" => self.creds.vici_unload_key(&message),
                    "load-authority" => self.creds.vici_load_authority(&message),
                    _ => self.creds.vici_unload_authority(&message),
                };
                self.push_credentials();
                responder.respond(reply);
            }
            "load-token" => responder.respond(error_response(
                "load-token: smartcards (PKCS#11) are not supported; load the key with load-key",
            )),
            "get-authorities" => responder.respond(self.creds.vici_get_authorities()),
            "get-pools" => responder.respond(Message::new()),
            "get-keys" => responder.respond(self.creds.vici_get_keys()),
            "list-certs" => {
                for event in self.creds.vici_list_certs(&message) {
                    responder.event("list-cert", event);
                }
                responder.respond(Message::new());
            }
            "list-authorities" => {
                for event in self.creds.vici_list_authorities(&message) {
                    responder.event("list-authority", event);
                }
                responder.respond(Message::new());
            }
            "list-sas" => {
                self.counter_cache.clear();
                for info in self.engine.ike_sas() {
                    for c in &info.children {
                        if let Some(counters) = self.kernel.counters(c.id) {
                            self.counter_cache.insert(c.id, counters);
                        }
                    }
                }
                let ike_filter = message.get_str("ike");
                let id_filter: Option<u32> = message
                    .get_str("ike-id")
                    .or(message.get_str("ike_id"))
                    .and_then(|v| v.parse().ok());
                for info in self.engine.ike_sas() {
                    let name = self.sa_name(info.id).unwrap_or(info.name.clone());
                    if ike_filter.is_some_and(|f| f != name)
                        || id_filter.is_some_and(|i| i != info.id.0)
                    {
                        continue;
                    }
                    let body = self.ike_sa_message(info.id, true, now);
                    responder.event("list-sa", Message::new().section(name, body));
                }
                responder.respond(Message::new());
            }
            "list-policies" => {
                let child_filter = message.get_str("child");
                if message.get_bool("trap") == Some(true) {
                    for t in &self.traps {
                        if child_filter.is_some_and(|c| c != t.child) {
                            continue;
                        }
                        responder.event(
                            "list-policy",
                            Message::new().section(
                                format!("{}/{}", t.connection, t.child),
                                Message::new()
                                    .kv("child", t.child.as_str())
                                    .kv("ike", t.connection.as_str())
                                    .kv("mode", if t.transport { "TRANSPORT" } else { "TUNNEL" })
                                    .list(
                                        "local-ts",
                                        t.local_ts
                                            .iter()
                                            .map(ToString::to_string)
                                            .collect::<Vec<_>>(),
                                    )
                                    .list(
                                        "remote-ts",
                                        t.remote_ts
                                            .iter()
                                            .map(ToString::to_string)
                                            .collect::<Vec<_>>(),
                                    ),
                            ),
                        );
                    }
                }
                responder.respond(Message::new());
            }
            "initiate" => self.initiate(now, &message, responder),
            "terminate" => self.terminate(now, &message, responder),
            "rekey" => responder.respond(self.rekey(now, &message)),
            "install" => {
                let Some(child) = message.get_str("child") else {
                    return responder.respond(error_response("missing configuration name"));
                };
                let conn = message
                    .get_str("ike")
                    .map(str::to_owned)
                    .or_else(|| self.conn_of_child(child).map(|c| c.name.clone()));
                let Some(conn) = conn else {
                    return responder.respond(error_response(format!(
                        "configuration name not found: '{child}'"
                    )));
                };
                responder.respond(match self.install_trap(&conn, child) {
                    Ok(()) => success_response(),
                    Err(e) => error_response(format!("installing policy '{child}' failed: {e}")),
                });
            }
            "uninstall" => {
                let Some(child) = message.get_str("child") else {
                    return responder.respond(error_response("missing configuration name"));
                };
                let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.traps)
                    .into_iter()
                    .partition(|t| t.child == child);
                self.traps = keep;
                if gone.is_empty() {
                    return responder
                        .respond(error_response(format!("policy '{child}' not found")));
                }
                for t in &gone {
                    self.kernel.uninstall_trap(t);
                }
                responder.respond(success_response());
            }
            _ => responder.unknown_command(),
        }
    }

    fn load_conn_vici(&mut self, now: Timestamp, message: &Message) -> Message {
        let text = match config::vici_conn_to_text(message) {
            Ok(t) => t,
            Err(e) => return error_response(format!("parsing request failed: {e}")),
        };
        let loaded = match iked_conf::load_str("vici:load-conn", &text) {
            Ok(l) => l,
            Err(errors) => {
                let all: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
                return error_response(all.join("; "));
            }
        };
        let mut names = Vec::new();
        let old_start = super::retire::start_children(self.conns.iter().map(|c| &c.conn));
        let dir = creds::swanctl_dir(&self.config_file);
        for conn in loaded.config.connections {
            if let Err(e) = creds::engine_connection_with_creds(&conn, &dir) {
                return error_response(e);
            }
            names.push(conn.name.clone());
            self.conns.retain(|c| c.conn.name != conn.name);
            tracing::info!(target: "CFG", "added vici connection: {}", conn.name);
            self.conns.push(StoredConn {
                conn,
                origin: Origin::Vici,
            });
        }
        self.push_config_to_engine();
        self.retire_stale(now, &old_start);
        for n in names {
            self.apply_start_actions(now, Some(&n));
        }
        success_response()
    }

    fn load_shared(&mut self, message: &Message) -> Message {
        let kind = message.get_str("type").unwrap_or("");
        if !kind.eq_ignore_ascii_case("IKE") {
            return error_response(format!(
                "shared key type '{kind}' is not supported (IKE only)"
            ));
        }
        let Some(crate::vici::Item::Value(data)) = message.get("data") else {
            return error_response("missing shared key data");
        };
        let mut ids = Vec::new();
        for owner in message.get_list("owners") {
            let id = iked_conf::identity::parse_identity(&owner)
                .and_then(|id| iked_ike::from_conf::identity(&id).map_err(|e| e.to_string()));
            match id {
                // `%any` (None) is no constraint: a secret owned only by it matches anyone.
                Ok(id) => ids.extend(id),
                Err(e) => return error_response(format!("invalid owner '{owner}': {e}")),
            }
        }
        let name = message
            .get_str("id")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("vici-{}", self.secrets.len() + 1));
        self.secrets.retain(|s| s.name != name);
        self.secrets.push(StoredSecret {
            name: name.clone(),
            origin: Origin::Vici,
            ids,
            secret: zeroize::Zeroizing::new(data.clone()),
        });
        tracing::info!(target: "CFG", "loaded IKE shared key '{name}'");
        self.push_config_to_engine();
        success_response()
    }

    fn initiate(&mut self, now: Timestamp, message: &Message, responder: Responder) {
        let child = message.get_str("child").map(str::to_owned);
        let ike = message.get_str("ike").map(str::to_owned);
        let timeout_ms: i64 = message
            .get_str("timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let conn_name = match (&ike, &child) {
            (Some(i), _) => i.clone(),
            (None, Some(c)) => match self.conn_of_child(c) {
                Some(conn) => conn.name.clone(),
                None => {
                    return responder
                        .respond(error_response(format!("CHILD_SA config '{c}' not found")));
                }
            },
            (None, None) => return responder.respond(error_response("missing configuration name")),
        };
        if self.find_conn(&conn_name).is_none() {
            return responder.respond(error_response(format!(
                "IKE_SA config '{conn_name}' not found"
            )));
        }
        if timeout_ms >= 0 {
            // The client will wait and read every record of the SA from its first one, which
            // the command below already builds.
            self.engine.set_log_groups(LogGroups::ALL);
        }
        // charon reuses an established IKE_SA of the same config for further children.
        let existing = self
            .engine
            .ike_sas()
            .into_iter()
            .find(|s| s.name == conn_name && s.established);
        let started = match (&existing, &child) {
            (Some(sa), Some(c)) => {
                if sa.children.iter().any(|x| &x.name == c && x.installed) {
                    return responder.respond(success_response());
                }
                self.engine.create_child(now, sa.id, c).map(|()| sa.id)
            }
            (Some(sa), None) => {
                return responder.respond({
                    let _ = sa;
                    success_response()
                });
            }
            (None, c) => {
                let children: Vec<&str> = c.iter().map(String::as_str).collect();
                self.initiate_conn(now, &conn_name, &children)
            }
        };
        let id = match started {
            Ok(id) => id,
            Err(e) => return responder.respond(error_response(e.to_string())),
        };
        self.sa_meta.entry(id).or_insert_with(|| SaMeta {
            name: conn_name.clone(),
            local: None,
            remote: None,
            established_at: None,
            auto: None,
        });
        responder.event(
            "control-log",
            Message::new()
                .kv("group", "IKE")
                .kv("level", "0")
                .kv("ikesa-name", conn_name.as_str())
                .kv("ikesa-uniqueid", id.0.to_string())
                .kv(
                    "msg",
                    match &child {
                        Some(c) => format!("initiating CHILD_SA {c} of {conn_name}[{}]", id.0),
                        None => format!("initiating IKE_SA {conn_name}[{}]", id.0),
                    },
                ),
        );
        if timeout_ms < 0 {
            return responder.respond(success_response());
        }
        let deadline = (timeout_ms > 0).then(|| now + Duration::from_millis(timeout_ms as u64));
        self.pending_initiates.push(PendingInitiate {
            ike: id,
            awaiting: match child {
                Some(c) => Awaiting::Child(c),
                None => Awaiting::IkeUp,
            },
            deadline,
            responder,
        });
    }

    fn select_sas(&self, message: &Message) -> Result<(Vec<IkeSaId>, Vec<ChildSaId>), String> {
        let sas = self.engine.ike_sas();
        let mut ikes = Vec::new();
        let mut children = Vec::new();
        if let Some(name) = message.get_str("ike") {
            ikes.extend(
                sas.iter()
                    .filter(|s| self.sa_name(s.id).unwrap_or(s.name.clone()) == name)
                    .map(|s| s.id),
            );
        }
        if let Some(id) = message
            .get_str("ike-id")
            .or(message.get_str("ike_id"))
            .and_then(|v| v.parse::<u32>().ok())
        {
            ikes.extend(sas.iter().filter(|s| s.id.0 == id).map(|s| s.id));
        }
        if let Some(name) = message.get_str("child") {
            for s in &sas {
                children.extend(s.children.iter().filter(|c| c.name == name).map(|c| c.id));
            }
        }
        if let Some(id) = message
            .get_str("child-id")
            .or(message.get_str("child_id"))
            .and_then(|v| v.parse::<u32>().ok())
        {
            for s in &sas {
                children.extend(s.children.iter().filter(|c| c.id.0 == id).map(|c| c.id));
            }
        }
        if ikes.is_empty() && children.is_empty() {
            return Err("no matching SAs found".into());
        }
        Ok((ikes, children))
    }

    fn terminate(&mut self, now: Timestamp, message: &Message, responder: Responder) {
        let (ikes, children) = match self.select_sas(message) {
            Ok(x) => x,
            Err(e) => return responder.respond(error_response(e)),
        };
        let force = message.get_bool("force") == Some(true);
        let timeout_ms: i64 = message
            .get_str("timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if !(force || timeout_ms < 0) {
            // The client will wait for the deletes and stream their records (see `initiate`).
            self.engine.set_log_groups(LogGroups::ALL);
        }
        for c in &children {
            let _ = self.engine.terminate_child(now, *c);
        }
        for i in &ikes {
            let _ = self.engine.terminate_ike(now, *i);
        }
        if force || timeout_ms < 0 {
            return responder.respond(success_response());
        }
        let deadline = (timeout_ms > 0).then(|| now + Duration::from_millis(timeout_ms as u64));
        let live: HashSet<IkeSaId> = self.engine.ike_sas().iter().map(|s| s.id).collect();
        let live_children: HashSet<ChildSaId> = self
            .engine
            .ike_sas()
            .iter()
            .flat_map(|s| s.children.iter().map(|c| c.id))
            .collect();
        let pending = PendingTerminate {
            ikes: ikes.into_iter().filter(|i| live.contains(i)).collect(),
            children: children
                .into_iter()
                .filter(|c| live_children.contains(c))
                .collect(),
            deadline,
            responder,
        };
        if pending.ikes.is_empty() && pending.children.is_empty() {
            pending.responder.respond(success_response());
        } else {
            self.pending_terminates.push(pending);
        }
    }

    fn rekey(&mut self, now: Timestamp, message: &Message) -> Message {
        let (ikes, children) = match self.select_sas(message) {
            Ok(x) => x,
            Err(e) => return error_response(e),
        };
        let mut matches = 0;
        for c in children {
            if self.engine.rekey_child(now, c).is_ok() {
                matches += 1;
            }
        }
        for i in ikes {
            if self.engine.rekey_ike(now, i).is_ok() {
                matches += 1;
            }
        }
        success_response().kv("matches", matches.to_string())
    }

    fn stats_message(&self, now: Timestamp) -> Message {
        let running = now.saturating_since(self.started_at).as_secs();
        let stats = self.engine.stats();
        Message::new()
            .section(
                "uptime",
                Message::new()
                    .kv("running", format_uptime(running))
                    .kv("since", format_unix_time(self.started_wall)),
            )
            .section(
                "workers",
                Message::new().kv("total", "1").kv("idle", "1").section(
                    "active",
                    Message::new()
                        .kv("critical", "0")
                        .kv("high", "0")
                        .kv("medium", "0")
                        .kv("low", "0"),
                ),
            )
            .section(
                "queues",
                Message::new()
                    .kv("critical", "0")
                    .kv("high", "0")
                    .kv("medium", "0")
                    .kv("low", "0"),
            )
            .kv("scheduled", "0")
            .section(
                "ikesas",
                Message::new()
                    .kv("total", self.engine.ike_sa_count().to_string())
                    .kv("half-open", self.engine.half_open_count().to_string()),
            )
            .list("plugins", ["iked-engine", "vici", self.kernel.name()])
            .section(
                "iked",
                Message::new()
                    .kv("kernel", self.kernel.name())
                    .kv("retransmits", stats.retransmits.to_string())
                    .kv("replayed-responses", stats.replayed_responses.to_string())
                    .kv("dropped", stats.dropped.to_string())
                    .kv("cookies-sent", stats.cookies_sent.to_string())
                    .kv("half-open-refused", stats.half_open_refused.to_string()),
            )
    }
}

/// Prints an engine record through tracing: the group's target at its charon level.
/// [`printed_engine_groups`] asks about the same targets and levels.
fn trace_engine_log(group: LogGroup, ike: &str, id: u64, message: &str) {
    match group {
        LogGroup::Ike => tracing::info!(target: "IKE", ike, ike_id = id, "{message}"),
        LogGroup::Enc => tracing::debug!(target: "ENC", ike, ike_id = id, "{message}"),
        LogGroup::Net => tracing::debug!(target: "NET", ike, ike_id = id, "{message}"),
        LogGroup::Cfg => tracing::info!(target: "CFG", ike, ike_id = id, "{message}"),
        LogGroup::Chd => tracing::info!(target: "CHD", ike, ike_id = id, "{message}"),
        LogGroup::Knl => tracing::info!(target: "KNL", ike, ike_id = id, "{message}"),
    }
}

/// The engine groups whose records [`trace_engine_log`] would print with the current tracing
/// subscriber (its per-subsystem levels); none without a subscriber.
fn printed_engine_groups() -> LogGroups {
    use tracing::{Level, enabled};
    let mut groups = LogGroups::NONE;
    groups.set(LogGroup::Ike, enabled!(target: "IKE", Level::INFO));
    groups.set(LogGroup::Enc, enabled!(target: "ENC", Level::DEBUG));
    groups.set(LogGroup::Net, enabled!(target: "NET", Level::DEBUG));
    groups.set(LogGroup::Cfg, enabled!(target: "CFG", Level::INFO));
    groups.set(LogGroup::Chd, enabled!(target: "CHD", Level::INFO));
    groups.set(LogGroup::Knl, enabled!(target: "KNL", Level::INFO));
    groups
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// The `version` reply, charon-shaped: `sysname`, `release` and `machine` come from
/// uname(2) as in charon's vici_query.c (the compile-time architecture name differs from the
/// kernel's, e.g. `x86` for `i686`).
pub fn version_message() -> Message {
    let (sysname, release, machine) = uname().unwrap_or_else(|| {
        (
            read_trimmed("/proc/sys/kernel/ostype"),
            read_trimmed("/proc/sys/kernel/osrelease"),
            std::env::consts::ARCH.to_owned(),
        )
    });
    Message::new()
        .kv("daemon", "iked")
        .kv("version", env!("CARGO_PKG_VERSION"))
        .kv("sysname", sysname)
        .kv("release", release)
        .kv("machine", machine)
}

/// uname(2)'s sysname, release and machine.
fn uname() -> Option<(String, String, String)> {
    // SAFETY: utsname is plain old data (arrays of c_char); all zeroes is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname for the duration of the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| {
        // The kernel NUL-terminates each field; stop at the first NUL or the array's end.
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some((field(&u.sysname), field(&u.release), field(&u.machine)))
}

/// charon's uptime text: `5 minutes`, `2 hours`, `3 days`.
pub fn format_uptime(secs: u64) -> String {
    let (value, unit) = if secs >= 86_400 * 2 {
        (secs / 86_400, "days")
    } else if secs >= 3_600 * 2 {
        (secs / 3_600, "hours")
    } else if secs >= 60 * 2 {
        (secs / 60, "minutes")
    } else {
        (secs, "seconds")
    };
    format!("{value} {unit}")
}

/// `Nov 28 00:10:00 2026`-style UTC time (charon prints local time; UTC keeps us free of
/// time zone databases).
pub fn format_unix_time(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for all dates after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{} {:02} {:02}:{:02}:{:02} {}",
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter the daemon gives the engine matches what `trace_engine_log` prints, for
    /// several level settings (the CharonLayer decides, as in the daemon).
    #[test]
    fn engine_log_filter_follows_the_printed_levels() {
        use tracing_subscriber::layer::SubscriberExt;
        let cases = [
            ("", "IKE CFG CHD KNL"),
            ("ike=2", "IKE CFG CHD KNL"),
            ("enc=2,ike=-1", "ENC CFG CHD KNL"),
            ("default=2", "IKE ENC NET CFG CHD KNL"),
            ("default=0", ""),
        ];
        for (spec, expected) in cases {
            let mut levels = crate::log::Levels::default();
            levels.apply(spec).unwrap();
            let control = crate::log::LogControl::default();
            control.set_levels(levels);
            let (tx, mut rx) = tokio::sync::mpsc::channel(16);
            let layer = crate::log::CharonLayer::new(&control, Some(tx));
            let subscriber = tracing_subscriber::registry().with(layer);
            let filter = tracing::subscriber::with_default(subscriber, || {
                for group in LogGroup::ALL {
                    trace_engine_log(group, "conn", 1, "text");
                }
                printed_engine_groups()
            });
            let mut printed = Vec::new();
            while let Ok(record) = rx.try_recv() {
                printed.push(record.group.tag());
            }
            assert_eq!(printed.join(" "), expected, "printed with {spec:?}");
            let tags: Vec<&str> = filter.iter().map(LogGroup::tag).collect();
            assert_eq!(tags.join(" "), expected, "filter with {spec:?}");
        }
        // No subscriber prints nothing.
        let no_subscriber = tracing::subscriber::NoSubscriber::default();
        let none = tracing::subscriber::with_default(no_subscriber, printed_engine_groups);
        assert_eq!(none, LogGroups::NONE);
    }

    #[test]
    fn time_formats() {
        assert_eq!(format_uptime(59), "59 seconds");
        assert_eq!(format_uptime(600), "10 minutes");
        assert_eq!(format_uptime(3 * 86_400), "3 days");
        // 2026-11-28 00:10:00 UTC.
        assert_eq!(format_unix_time(1_795_824_600), "Nov 28 00:10:00 2026");
        assert_eq!(format_unix_time(0), "Jan 01 00:00:00 1970");
    }
}
