//! The daemon's kernel side: turns the engine's abstract [`KernelRequest`]s into actions and
//! answers them with [`KernelEvent`]s.
//!
//! Contract:
//! - Every request that carries an id (SPI allocation, SA and policy adds) gets exactly one
//!   answer: from [`KernelBackend::handle`] or, for deferred ones, from
//!   [`KernelBackend::finish_batch`]; deletes need no answer.
//! - [`Recording`] installs nothing: it allocates SPIs from charon's range (0xc0000000..)
//!   itself and records each request as a line, for hosts without ESP in their kernel. The
//!   daemon logs loudly that no traffic is protected while it is active.
//! - [`Xfrm`] talks netlink through `iked_xfrm`: SPIs are allocated directly, a CHILD_SA's SAs
//!   and policies are collected and installed as one unit (offload decided once for all),
//!   EXPIRE and ACQUIRE events arrive from a monitor thread, trap policies are IPsec policies
//!   whose template has no SA (the kernel then raises ACQUIRE).
//! - [`KernelBackend::offload_in_force`] reports the offload mode actually used per CHILD_SA,
//!   for `list-sas`; [`KernelBackend::install_failure`] the kernel's reason a CHILD_SA could not
//!   be installed (kept until the engine deletes what is left of it).
//! - No larval SA outlives its CHILD_SA: an SPI reserved with ALLOCSPI is deleted when the
//!   engine releases it (a `DeleteSa` for a CHILD_SA that never got installed) and, as a
//!   safety net, as soon as installing its CHILD_SA fails (strongSwan does the same).
//! - Shunts ([`super::shunts`]) are policies without SAs: `install_shunt` puts all of a
//!   shunt's policies in or none, `uninstall_shunt` and `remove_all` take them out again.
//! - Marks and interface ids: the engine hands over the child's configured values; `%unique`
//!   values are resolved here once per reqid ([`super::marks`]), so a rekey keeps them.
//! - [`KernelBackend::remove_all`] leaves the kernel as iked found it (shutdown): the peer
//!   was sent DELETEs, but their answers are not awaited, so the engine never asks.
//! - A CHILD_SA rekey arrives as a batch with both SAs but no policies, carrying the reqid
//!   of an installed CHILD_SA (the engine keeps reqid and policies across rekeys). It is
//!   installed with `XfrmClient::rekey_child` in the old CHILD_SA's selectors, mode and
//!   offload mode: the policies move to the new SAs and the old SAs stay until the engine
//!   deletes the old CHILD_SA, which then removes only those two SAs. If the successor goes
//!   first (peer deleted it before the old one), the old CHILD_SA's policies are restored.
//! - A new CHILD_SA with the same policies as an installed one (both ends started the same
//!   connection at once) shares them as charon does: [`super::policy_share`].
//! - The XFRM monitor thread treats a receive timeout (`EAGAIN`) as "no events", not as an
//!   error; real socket errors are logged at most once per burst. An overflow (`ENOBUFS`:
//!   the kernel dropped events) makes the next poll dump the SAD and recover the EXPIREs that
//!   may have been lost (`super::resync`).

mod adopt;
#[cfg(test)]
mod test_support;

use std::collections::HashMap;
use std::net::IpAddr;

use iked_ike::engine::{ChildSaId, Direction, KernelEvent, KernelRequest};

use super::kernel_types::Shunt;
pub use super::kernel_types::TrapPolicy;

/// What the daemon needs from a kernel backend.
pub trait KernelBackend {
    /// Short name for logs and `stats`.
    fn name(&self) -> &'static str;
    /// Handles one engine request; returns the answer for requests that carry an id.
    fn handle(&mut self, request: KernelRequest) -> Option<KernelEvent>;
    /// The offload mode in force for a CHILD_SA (`none`, `crypto`, `packet`, or a note).
    fn offload_in_force(&self, child: ChildSaId) -> Option<String>;
    /// Why installing a CHILD_SA failed (the kernel's text), while the engine still knows it.
    fn install_failure(&self, _child: ChildSaId) -> Option<InstallFailure> {
        None
    }
    /// Traffic counters of a CHILD_SA, if the backend knows them.
    fn counters(&mut self, _child: ChildSaId) -> Option<ChildCounters> {
        None
    }
    /// Installs a trap policy pair for `start_action = trap` under `reqid`.
    fn install_trap(&mut self, trap: &TrapPolicy) -> Result<(), String>;
    /// Removes a trap policy pair.
    fn uninstall_trap(&mut self, trap: &TrapPolicy);
    /// Installs a shunt's bypass or drop policies (all or none).
    fn install_shunt(&mut self, shunt: &Shunt) -> Result<(), String>;
    /// Removes a shunt's policies.
    fn uninstall_shunt(&mut self, shunt: &Shunt);
    /// The marks and interface ids a CHILD_SA was installed with (for `list-sas`).
    fn child_marks(&self, _child: ChildSaId) -> Option<iked_ike::marks::ResolvedMarks> {
        None
    }
    /// The policies an earlier iked instance left, until they are swept (see `recovery`).
    fn leftover_policies(&self) -> Vec<iked_xfrm::PolicyId> {
        Vec::new()
    }
    /// Removes everything this backend put into the kernel (CHILD_SAs, reserved SPIs, trap
    /// policies), as charon does on shutdown; returns how many CHILD_SAs were removed.
    fn remove_all(&mut self) -> usize {
        0
    }
    /// Hitless restart: the reqid space offset to hand over with the state (`handover`).
    fn reqid_offset(&self) -> u32 {
        0
    }
    /// Hitless restart: takes over the resumed children's kernel state, kept in the earlier
    /// instance's reqid space `offset`; returns the children it could not adopt, with why.
    fn adopt(
        &mut self,
        _offset: u32,
        _children: &[iked_ike::engine::AdoptedChild],
    ) -> Vec<(ChildSaId, String)> {
        Vec::new()
    }
    /// Hitless restart: the unique marks and interface ids in use (`handover_state`).
    fn mark_allocator(&mut self) -> Option<&mut super::marks::MarkAllocator> {
        None
    }
    /// Kernel events (ACQUIRE, EXPIRE) that arrived since the last call.
    fn poll_events(&mut self) -> Vec<KernelEvent> {
        Vec::new()
    }
    /// When the backend itself will have an event (the record backend's lifetimes; the real
    /// kernel's events wake the loop through their monitor thread instead).
    fn next_event_at(&self) -> Option<std::time::Duration> {
        None
    }
    /// Completes requests [`KernelBackend::handle`] deferred (answered `None` although they
    /// carry an id) and returns their answers. Called once the engine has no more requests.
    fn finish_batch(&mut self) -> Vec<KernelEvent> {
        Vec::new()
    }
}

/// A CHILD_SA the kernel refused: the offload mode that was asked for and the kernel's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFailure {
    /// `hw_offload` as configured (`no`, `crypto`, `packet`, `auto`).
    pub offload_requested: String,
    /// The kernel's (or `iked_xfrm`'s) text.
    pub reason: String,
}

/// Traffic counters of one CHILD_SA (both directions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildCounters {
    pub bytes_in: u64,
    pub packets_in: u64,
    pub bytes_out: u64,
    pub packets_out: u64,
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
        Direction::Fwd => "fwd",
    }
}

/// How many request lines [`Recording`] keeps for inspection (the log has them all).
const RECORDS_KEPT: usize = 64;

/// Records requests instead of installing them (hosts without ESP).
#[derive(Debug, Default)]
pub struct Recording {
    next_spi: u32,
    records: Vec<String>,
    /// What each child's SAs asked for (nothing is offloaded: nothing is installed).
    offload: HashMap<ChildSaId, iked_ike::config::HwOffload>,
    marks: super::marks::MarkAllocator,
    child_marks: HashMap<ChildSaId, iked_ike::marks::ResolvedMarks>,
    /// Soft and hard EXPIREs by time, as the kernel would raise them.
    expiry: super::record_expiry::ExpirySchedule,
}

impl Recording {
    pub fn new() -> Self {
        Self {
            next_spi: 0xc000_0001,
            ..Self::default()
        }
    }

    /// The first [`RECORDS_KEPT`] requests seen, one line each (no key material).
    pub fn records(&self) -> &[String] {
        &self.records
    }

    /// Logs and keeps a request's line; the line is only built when it is kept or printed
    /// (record mode also serves the benchmark, where every request would pay for it).
    fn record(&mut self, line: impl FnOnce() -> String) {
        // Bounded: a daemon holding many SAs in record mode must not grow with every request.
        let keep = self.records.len() < RECORDS_KEPT;
        if !keep && !tracing::enabled!(target: "KNL", tracing::Level::INFO) {
            return;
        }
        let line = line();
        tracing::info!(target: "KNL", "RECORD-ONLY (nothing installed): {line}");
        if keep {
            self.records.push(line);
        }
    }
}

impl KernelBackend for Recording {
    fn name(&self) -> &'static str {
        "record-only"
    }

    fn handle(&mut self, request: KernelRequest) -> Option<KernelEvent> {
        match request {
            KernelRequest::AllocateSpi {
                id,
                child,
                src,
                dst,
            } => {
                let spi = self.next_spi;
                // Stay inside charon's SPI range 0xc0000000..=0xcfffffff.
                self.next_spi = if self.next_spi >= 0xcfff_ffff {
                    0xc000_0001
                } else {
                    self.next_spi + 1
                };
                self.record(|| {
                    format!(
                        "allocspi child {} src {src} dst {dst} -> spi 0x{spi:08x}",
                        child.0
                    )
                });
                Some(KernelEvent::SpiAllocated { id, spi })
            }
            KernelRequest::AddSa { id, sa } => {
                self.offload.insert(sa.child, sa.hw_offload);
                let marks = self.marks.resolve(sa.reqid, &sa.marks);
                self.child_marks.insert(sa.child, marks);
                let marks = super::marks::record_line(&marks, sa.direction == Direction::In);
                self.expiry
                    .add(crate::clock::now(), sa.spi, sa.dst, &sa.lifetimes);
                self.record(|| format!("{}{marks}", super::knl_text::add_sa(&sa)));
                Some(KernelEvent::Installed { id })
            }
            KernelRequest::AddPolicy { id, policy } => {
                self.record(|| super::knl_text::add_policy(&policy));
                Some(KernelEvent::Installed { id })
            }
            KernelRequest::DeleteSa {
                child,
                src,
                dst,
                spi,
            } => {
                self.offload.remove(&child);
                self.child_marks.remove(&child);
                self.expiry.remove(spi, dst);
                self.record(|| {
                    format!(
                        "delete sa reqid {} src {src} dst {dst} spi 0x{spi:08x}",
                        child.0
                    )
                });
                None
            }
            KernelRequest::DeletePolicy { policy } => {
                self.record(|| {
                    format!(
                        "delete policy {} reqid {} {} -> {}",
                        direction(policy.direction),
                        policy.child.0,
                        policy.src_ts,
                        policy.dst_ts
                    )
                });
                None
            }
        }
    }

    fn offload_in_force(&self, child: ChildSaId) -> Option<String> {
        self.offload
            .get(&child)
            .map(|asked| format!("none (record-only, asked {asked:?})"))
    }

    fn install_trap(&mut self, trap: &TrapPolicy) -> Result<(), String> {
        self.record(|| {
            format!(
                "add trap policy reqid {} for {}/{}: {:?} === {:?}",
                trap.reqid,
                trap.connection,
                trap.child,
                trap.local_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
                trap.remote_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            )
        });
        Ok(())
    }

    fn uninstall_trap(&mut self, trap: &TrapPolicy) {
        self.record(|| format!("delete trap policy reqid {}", trap.reqid));
    }

    fn install_shunt(&mut self, shunt: &Shunt) -> Result<(), String> {
        self.record(|| format!("add {}", shunt.describe()));
        Ok(())
    }

    fn uninstall_shunt(&mut self, shunt: &Shunt) {
        self.record(|| {
            format!(
                "delete {} shunt {}/{}",
                shunt.mode_name().to_ascii_lowercase(),
                shunt.connection,
                shunt.child
            )
        });
    }

    fn child_marks(&self, child: ChildSaId) -> Option<iked_ike::marks::ResolvedMarks> {
        self.child_marks.get(&child).copied()
    }

    fn mark_allocator(&mut self) -> Option<&mut super::marks::MarkAllocator> {
        Some(&mut self.marks)
    }

    fn poll_events(&mut self) -> Vec<KernelEvent> {
        self.expiry.due(crate::clock::now())
    }

    fn next_event_at(&self) -> Option<std::time::Duration> {
        self.expiry.next_at()
    }
}

/// The real kernel through netlink XFRM.
///
/// The engine asks for each SA and policy separately but all of a CHILD_SA's requests at once;
/// `iked_xfrm` installs a CHILD_SA as one unit (it decides the offload mode for SAs and
/// policies together and rolls back on failure). So add requests are collected per CHILD_SA
/// during a pump ([`KernelBackend::handle`] answers `None` for them) and installed in
/// [`KernelBackend::finish_batch`], which answers every collected request.
pub struct Xfrm {
    client: iked_xfrm::XfrmClient,
    batches: HashMap<ChildSaId, Batch>,
    installed: HashMap<ChildSaId, InstalledEntry>,
    /// SPIs reserved with ALLOCSPI whose CHILD_SA is not installed yet (larval SAs).
    larval: HashMap<ChildSaId, Vec<iked_xfrm::SaId>>,
    /// CHILD_SAs the kernel refused, until the engine deletes what is left of them.
    failures: HashMap<ChildSaId, InstallFailure>,
    /// Trap policies per reqid, as specified (a CHILD_SA may hold their slots: `trap_slots`).
    traps: HashMap<u32, Vec<iked_xfrm::PolicySpec>>,
    /// Shunt policies per (connection, child).
    shunts: HashMap<(String, String), Vec<iked_xfrm::PolicyId>>,
    marks: super::marks::MarkAllocator,
    events: Option<std::sync::mpsc::Receiver<KernelEvent>>,
    /// strongswan.conf `charon.plugins.kernel-netlink.set_proto_port_transport_sa`.
    proto_port_transport_sa: bool,
    /// Tells the monitor thread to end (checked after every receive timeout).
    monitor_stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Set by the monitor thread when the event socket overflowed (see `resync`).
    overflowed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Dumps taken after an overflow.
    resyncs: u64,
    /// Maps engine reqids into iked's kernel range, above an earlier instance's.
    reqids: iked_xfrm::stale::ReqidSpace,
    /// What an earlier instance left, until its deadline (see `recovery`).
    sweep: Option<super::recovery::Sweep>,
}

impl Drop for Xfrm {
    fn drop(&mut self) {
        self.monitor_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One installed CHILD_SA and what a rekey of it must reuse.
struct InstalledEntry {
    kernel: iked_xfrm::InstalledChild,
    reqid: u32,
    /// The reqid in the kernel: iked's range, shared with the twin it took the policies from.
    kernel_reqid: u32,
    marks: iked_ike::marks::ResolvedMarks,
    /// Mode, selectors and FWD policy choice it was installed with: a rekey must keep them
    /// (the policies are shared, only their templates move to the new SAs).
    mode: iked_xfrm::Mode,
    selectors: Vec<iked_xfrm::TrafficSelector>,
    policies_fwd_out: bool,
    /// False once a rekeyed successor took over the policies: removing this CHILD_SA then
    /// removes only its SAs.
    owns_policies: bool,
}

impl InstalledEntry {
    fn new(kernel: iked_xfrm::InstalledChild, spec: &iked_xfrm::ChildInstall) -> Self {
        Self {
            kernel,
            reqid: spec.reqid,
            kernel_reqid: spec.reqid,
            marks: super::marks::from_install(spec),
            mode: spec.mode,
            selectors: spec.selectors.clone(),
            policies_fwd_out: spec.policies_fwd_out,
            owns_policies: true,
        }
    }
}

/// How a finished batch goes into the kernel.
enum InstallPlan {
    /// A new CHILD_SA with its own policies.
    Fresh(iked_xfrm::ChildInstall),
    /// A rekey of the installed CHILD_SA `old`: new SAs, the old CHILD_SA's policies.
    Rekey {
        old: ChildSaId,
        spec: iked_xfrm::ChildInstall,
    },
    /// A new CHILD_SA whose policies `twin` holds: installed as a rekey of it
    /// ([`super::policy_share`]).
    Share {
        twin: ChildSaId,
        spec: iked_xfrm::ChildInstall,
    },
}

/// Decides whether `batch` is a new CHILD_SA or a rekey of an installed one: the engine keeps
/// the reqid and the policies on a rekey and so sends no policy requests for it.
fn plan_install(
    child: ChildSaId,
    batch: &Batch,
    installed: &HashMap<ChildSaId, InstalledEntry>,
) -> Result<InstallPlan, String> {
    let mut spec = build_child_install(child, batch)?;
    if !batch.policies.is_empty() {
        return Ok(InstallPlan::Fresh(spec));
    }
    let predecessor = installed
        .iter()
        .find(|(id, entry)| **id != child && entry.owns_policies && entry.reqid == spec.reqid);
    let Some((old, entry)) = predecessor else {
        // Nothing to inherit from: install_child refuses it (no selectors) with its reason.
        return Ok(InstallPlan::Fresh(spec));
    };
    spec.mode = entry.mode;
    spec.selectors = entry.selectors.clone();
    spec.policies_fwd_out = entry.policies_fwd_out;
    Ok(InstallPlan::Rekey { old: *old, spec })
}

#[derive(Default)]
struct Batch {
    ids: Vec<iked_ike::engine::KernelRequestId>,
    sa_in: Option<Box<iked_ike::engine::SaInstall>>,
    sa_out: Option<Box<iked_ike::engine::SaInstall>>,
    policies: Vec<iked_ike::engine::PolicyInstall>,
}

/// How long one receive of the monitor thread may block: bounds how late it notices that
/// the backend was dropped.
const MONITOR_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// What the monitor thread makes of one receive.
#[derive(Debug, PartialEq)]
enum MonitorStep {
    /// Events for the engine (possibly none: other message types are ignored).
    Events(Vec<KernelEvent>),
    /// Nothing arrived before the receive timeout: not an error.
    Idle,
    /// The socket overflowed (`ENOBUFS`): events were lost, resynchronise from a dump.
    Overflow,
    /// A real socket or parse failure.
    Failed(String),
}

fn monitor_step(received: Result<Vec<iked_xfrm::XfrmEvent>, iked_xfrm::XfrmError>) -> MonitorStep {
    match received {
        Ok(events) => MonitorStep::Events(
            events
                .into_iter()
                .filter_map(|event| match event {
                    iked_xfrm::XfrmEvent::Expire(e) => Some(KernelEvent::Expire {
                        spi: e.sa.spi.0,
                        dst: e.sa.dst,
                        hard: e.hard,
                    }),
                    iked_xfrm::XfrmEvent::Acquire(a) => {
                        a.reqid.map(|reqid| KernelEvent::Acquire { reqid })
                    }
                    _ => None,
                })
                .collect(),
        ),
        // The socket has a receive timeout so the thread can notice shutdown; a timeout
        // (EAGAIN/EWOULDBLOCK) only means the kernel had nothing to say.
        Err(e) if e.is_would_block() => MonitorStep::Idle,
        Err(iked_xfrm::XfrmError::Socket { source, .. })
            if source.raw_os_error() == Some(libc::ENOBUFS) =>
        {
            MonitorStep::Overflow
        }
        Err(e) => MonitorStep::Failed(e.to_string()),
    }
}

impl Xfrm {
    /// The EXPIREs an overflow of the event socket may have lost, from a dump of the SAD
    /// (see `super::resync`); a failed dump is tried again at the next poll.
    fn resync(&mut self) -> Vec<KernelEvent> {
        use super::resync::{Dumped, Watched, expires_from_dump};
        let dump = match self.client.list_sas() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(target: "KNL", "dumping SAs after an event overflow failed: {e}");
                self.overflowed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return Vec::new();
            }
        };
        let dump: Vec<Dumped> = dump.iter().map(Dumped::from).collect();
        let ours = self.installed.values().flat_map(|e| {
            [&e.kernel.sa_in, &e.kernel.sa_out].map(|sa| Watched {
                spi: sa.spi.0,
                dst: sa.dst,
            })
        });
        let events = expires_from_dump(ours, &dump);
        self.resyncs += 1;
        tracing::info!(target: "KNL", "resynchronised {} SA(s) from a dump: {} EXPIRE(s) recovered", dump.len(), events.len());
        events
    }

    /// Opens the netlink socket and starts a thread that forwards EXPIRE/ACQUIRE events and
    /// pokes `wake` so the event loop picks them up.
    pub fn open(
        wake: std::sync::Arc<tokio::sync::Notify>,
        recovery: super::recovery::RecoveryOptions,
    ) -> Result<Self, String> {
        Self::open_with_event_buffer(wake, recovery, None)
    }

    /// [`Xfrm::open`] with the event socket's receive buffer set to `event_buffer` bytes
    /// (charon's `kernel-netlink.receive_buffer_size`; `None`: the system's default).
    pub fn open_with_event_buffer(
        wake: std::sync::Arc<tokio::sync::Notify>,
        recovery: super::recovery::RecoveryOptions,
        event_buffer: Option<usize>,
    ) -> Result<Self, String> {
        let mut client = iked_xfrm::XfrmClient::new().map_err(|e| e.to_string())?;
        let leftovers = super::recovery::scan(&mut client)?;
        let reqids = iked_xfrm::stale::ReqidSpace::above(&leftovers);
        let sweep = if leftovers.is_empty() {
            None
        } else {
            tracing::warn!(target: "KNL", "found {} SA(s) and {} policy(ies) of an earlier iked instance; removing what is not re-established in {} s", leftovers.sas.len(), leftovers.policies.len(), recovery.grace.as_secs());
            Some(super::recovery::Sweep::start(
                leftovers,
                recovery,
                wake.clone(),
            )?)
        };
        let mut monitor = iked_xfrm::EventMonitor::new().map_err(|e| e.to_string())?;
        monitor
            .set_timeout(Some(MONITOR_POLL))
            .map_err(|e| e.to_string())?;
        if let Some(bytes) = event_buffer {
            monitor
                .set_receive_buffer(bytes)
                .map_err(|e| e.to_string())?;
        }
        let monitor_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = monitor_stop.clone();
        let overflowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let overflow = overflowed.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("xfrm-events".into())
            .spawn(move || {
                // One warning per burst of failures, not one per 100 ms.
                let mut failing = false;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match monitor_step(monitor.next_events()) {
                        MonitorStep::Idle => {}
                        MonitorStep::Overflow => {
                            tracing::warn!(target: "KNL", "XFRM event socket overflowed (ENOBUFS): events lost, resynchronising from a dump");
                            overflow.store(true, std::sync::atomic::Ordering::Relaxed);
                            wake.notify_one();
                        }
                        MonitorStep::Failed(e) => {
                            if !failing {
                                tracing::warn!(target: "KNL", "reading XFRM events failed: {e}");
                            }
                            failing = true;
                            std::thread::sleep(std::time::Duration::from_millis(100));
                        }
                        MonitorStep::Events(events) => {
                            failing = false;
                            for event in events {
                                if tx.send(event).is_err() {
                                    return;
                                }
                                wake.notify_one();
                            }
                        }
                    }
                }
            })
            .map_err(|e| format!("starting the XFRM event thread: {e}"))?;
        Ok(Self {
            client,
            batches: HashMap::new(),
            installed: HashMap::new(),
            larval: HashMap::new(),
            failures: HashMap::new(),
            traps: HashMap::new(),
            shunts: HashMap::new(),
            marks: Default::default(),
            events: Some(rx),
            proto_port_transport_sa: false,
            monitor_stop,
            overflowed,
            resyncs: 0,
            reqids,
            sweep,
        })
    }

    /// Transport-mode SAs get their selector's protocol and ports (charon's
    /// `set_proto_port_transport_sa`; default off: cleared, as charon).
    pub fn set_proto_port_transport_sa(&mut self, on: bool) {
        self.proto_port_transport_sa = on;
    }

    /// Whether a hard EXPIRE for (`dst`, `spi`) is the end of a larval SA (an SPI reserved by
    /// ALLOCSPI outlived the kernel's acquire lifetime, `net.core.xfrm_acq_expires`, 30 s:
    /// seen under heavy TCG load), which must not reach the engine: the CHILD_SA is then
    /// installed with NEWSA under the same SPI, and the late EXPIRE would delete it. A real
    /// hard expiry has removed the SA from the kernel; a larval one is either still reserved
    /// (not installed) or installed again, and found in the kernel.
    fn larval_expired(&mut self, dst: IpAddr, spi: u32) -> bool {
        let id = iked_xfrm::SaId {
            dst,
            spi: iked_xfrm::Spi(spi),
            protocol: iked_xfrm::IpsecProtocol::Esp,
            mark: None,
        };
        if let Some((child, _)) = self.larval.iter().find(|(_, ids)| ids.contains(&id)) {
            tracing::info!(target: "KNL", "reserved SPI {spi:08x} of CHILD_SA {{{}}} expired before the CHILD_SA was installed", child.0);
            let child = *child;
            if let Some(ids) = self.larval.get_mut(&child) {
                ids.retain(|r| *r != id);
                if ids.is_empty() {
                    self.larval.remove(&child);
                }
            }
            return true;
        }
        let installed = self.installed.iter().find(|(_, e)| {
            [&e.kernel.sa_in, &e.kernel.sa_out]
                .iter()
                .any(|sa| sa.dst == dst && sa.spi.0 == spi)
        });
        let Some((child, entry)) = installed else {
            return false;
        };
        let (child, sa) = (
            *child,
            if entry.kernel.sa_in.spi.0 == spi {
                entry.kernel.sa_in
            } else {
                entry.kernel.sa_out
            },
        );
        if self.client.get_sa(&sa).is_ok() {
            tracing::info!(target: "KNL", "ignoring the expiry of reserved SPI {spi:08x}: CHILD_SA {{{}}} is installed under it", child.0);
            return true;
        }
        false
    }

    /// Deletes a larval SA; one that is already gone (expired, or consumed by a failed
    /// install's rollback) is fine.
    fn delete_larval(&mut self, child: ChildSaId, id: &iked_xfrm::SaId) {
        match self.client.delete_sa(id) {
            Ok(()) => {
                tracing::debug!(target: "KNL", "deleted reserved SPI {:08x} of CHILD_SA {{{}}}", id.spi.0, child.0)
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                tracing::warn!(target: "KNL", "deleting reserved SPI {:08x} of CHILD_SA {{{}}} failed: {e}", id.spi.0, child.0)
            }
        }
    }
}

impl Xfrm {
    /// Policy slots the installed CHILD_SAs hold.
    fn held_slots(&self) -> std::collections::HashSet<iked_xfrm::PolicyId> {
        self.installed
            .values()
            .filter(|e| e.owns_policies)
            .flat_map(|e| e.kernel.policies.iter().copied())
            .collect()
    }

    /// Removes all of an installed CHILD_SA (SAs and, if it still owns them, policies); the
    /// first delete request of a CHILD_SA does it, later ones find nothing.
    fn remove_installed(&mut self, child: ChildSaId) {
        self.failures.remove(&child);
        let Some(entry) = self.installed.remove(&child) else {
            return;
        };
        let sas = [entry.kernel.sa_out, entry.kernel.sa_in];
        let result = if !entry.owns_policies {
            // Rekeyed: the policies belong to the successor now.
            self.client.remove_sas(&sas)
        } else if let Some(predecessor) = super::policy_share::heir(
            &entry.kernel.policies,
            self.installed
                .iter()
                .map(|(id, e)| (*id, e.owns_policies, &e.kernel.policies[..])),
        )
        .and_then(|id| self.installed.get_mut(&id))
        {
            // The successor (or twin) goes before the CHILD_SA it took the policies from (the
            // peer deleted it): give the policies back to that one's SAs instead of leaving it
            // unprotected.
            let mut restore_failed = None;
            for spec in &predecessor.kernel.policy_specs {
                let mut restore = spec.clone();
                restore.update = true;
                if let Err(e) = self.client.add_policy(&restore) {
                    restore_failed.get_or_insert(e);
                }
            }
            predecessor.owns_policies = true;
            match restore_failed {
                Some(e) => Err(e),
                None => self.client.remove_sas(&sas),
            }
        } else {
            let others = self
                .installed
                .values()
                .filter(|e| e.owns_policies)
                .map(|e| e.kernel.policy_specs.as_slice());
            let trap = super::trap_slots::heirs(others, &self.traps, &entry.kernel.policies);
            if trap.is_empty() {
                self.client.remove_child(&entry.kernel)
            } else {
                // Another CHILD_SA for the same traffic, or its trap, takes the slots back;
                // then the SAs and any policy nobody inherits go.
                let rest: Vec<_> = entry
                    .kernel
                    .policies
                    .iter()
                    .filter(|id| !trap.iter().any(|t| t.id() == **id))
                    .copied()
                    .collect();
                let restored = super::trap_slots::restore(&mut self.client, &trap);
                let removed = self
                    .client
                    .remove_sas(&sas)
                    .and(self.client.remove_policies(&rest));
                restored.and(removed)
            }
        };
        if let Err(e) = result {
            tracing::warn!(target: "KNL", "removing CHILD_SA {{{}}} failed: {e}", child.0);
        }
        if !self.installed.values().any(|e| e.reqid == entry.reqid) {
            self.marks.release(entry.reqid);
        }
    }
}

/// swanctl.conf's spelling of an `hw_offload` value.
pub fn hw_offload_name(offload: iked_ike::config::HwOffload) -> &'static str {
    match offload {
        iked_ike::config::HwOffload::No => "no",
        iked_ike::config::HwOffload::Crypto => "crypto",
        iked_ike::config::HwOffload::Packet => "packet",
        iked_ike::config::HwOffload::Auto => "auto",
    }
}

/// Kernel algorithm names for the engine's ESP transforms (IANA ids, RFC 7296 / RFC 4106).
pub fn esp_transform(sa: &iked_ike::engine::SaInstall) -> Result<iked_xfrm::EspTransform, String> {
    use iked_ike::proposal::encr;
    let key = |b: &[u8]| iked_xfrm::SecretKey::new(b.to_vec());
    match sa.encr.id {
        encr::AES_GCM_16 => Ok(iked_xfrm::EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key: key(sa.encr_key.expose()),
            icv_bits: 128,
        }),
        encr::AES_CBC => {
            let (integrity, truncation_bits) = match sa.integ {
                2 => ("hmac(sha1)", 96),
                12 => ("hmac(sha256)", 128),
                13 => ("hmac(sha384)", 192),
                14 => ("hmac(sha512)", 256),
                other => return Err(format!("integrity algorithm {other} not supported")),
            };
            Ok(iked_xfrm::EspTransform::CipherAndIntegrity {
                cipher: "cbc(aes)".into(),
                cipher_key: key(sa.encr_key.expose()),
                integrity: integrity.into(),
                integrity_key: key(sa.integ_key.expose()),
                truncation_bits,
            })
        }
        other => Err(format!("encryption algorithm {other} not supported")),
    }
}

fn lifetimes(l: &iked_ike::engine::KernelLifetimes) -> iked_xfrm::Lifetimes {
    let limit = |v: u64| (v > 0).then_some(v);
    iked_xfrm::Lifetimes {
        soft_bytes: limit(l.soft_bytes),
        hard_bytes: limit(l.hard_bytes),
        soft_packets: limit(l.soft_packets),
        hard_packets: limit(l.hard_packets),
        soft_add_seconds: l.soft_secs,
        hard_add_seconds: l.hard_secs,
    }
}

/// The prefix length of an address range that is a prefix (the widest prefix inside it
/// otherwise, which the daemon logs as an approximation).
fn range_prefix(start: IpAddr, end: IpAddr) -> u8 {
    let (s, e, width) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u128::from(u32::from(s)), u128::from(u32::from(e)), 32),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128),
        _ => return 0,
    };
    let diff = s ^ e;
    let host_bits = 128 - diff.leading_zeros();
    (width - host_bits.min(width)) as u8
}

fn port(start: u16, end: u16) -> iked_xfrm::Port {
    if start == end {
        iked_xfrm::Port::exact(start)
    } else {
        iked_xfrm::Port::ANY
    }
}

/// The value a port range reduces to under charon's `ts2ports` mask: the port itself, or the
/// leading bits both ends share (`0x0800-0x08ff` gives `0x0800`).
fn masked_port(start: u16, end: u16) -> u16 {
    let common = (start ^ end).leading_zeros();
    let mask = u16::MAX.checked_shl(16 - common).unwrap_or(0);
    start & mask
}

/// The kernel's ICMP match: it takes the message type from the source port field and the code
/// from the destination port field, so the selectors' `type << 8 | code` port (from either
/// side, charon takes the larger) is split across both; a zero type or code matches any, as
/// charon installs it.
fn icmp_ports(
    src: &iked_ike::ts::TrafficSelector,
    dst: &iked_ike::ts::TrafficSelector,
) -> (iked_xfrm::Port, iked_xfrm::Port) {
    let port =
        masked_port(src.start_port, src.end_port).max(masked_port(dst.start_port, dst.end_port));
    let exact_or_any = |v: u16| {
        if v == 0 {
            iked_xfrm::Port::ANY
        } else {
            iked_xfrm::Port::exact(v)
        }
    };
    (exact_or_any(port >> 8), exact_or_any(port & 0xff))
}

/// An XFRM selector from the engine's (outbound-oriented) policy selectors.
pub fn xfrm_selector(
    src: &iked_ike::ts::TrafficSelector,
    dst: &iked_ike::ts::TrafficSelector,
) -> iked_xfrm::TrafficSelector {
    let proto = src.protocol.max(dst.protocol);
    let (sport, dport) = if iked_ike::ts::is_icmp(proto) {
        icmp_ports(src, dst)
    } else {
        (
            port(src.start_port, src.end_port),
            port(dst.start_port, dst.end_port),
        )
    };
    iked_xfrm::TrafficSelector {
        src: src.start,
        src_prefix: range_prefix(src.start, src.end),
        dst: dst.start,
        dst_prefix: range_prefix(dst.start, dst.end),
        proto,
        sport,
        dport,
        ifindex: 0,
    }
}

fn build_child_install(child: ChildSaId, batch: &Batch) -> Result<iked_xfrm::ChildInstall, String> {
    let sa_in = batch.sa_in.as_ref().ok_or("inbound SA missing")?;
    let sa_out = batch.sa_out.as_ref().ok_or("outbound SA missing")?;
    let selectors = batch
        .policies
        .iter()
        .filter(|p| p.direction == Direction::Out)
        .map(|p| xfrm_selector(&p.src_ts, &p.dst_ts))
        .collect();
    let policies_fwd_out = batch
        .policies
        .iter()
        .any(|p| p.direction == Direction::Fwd && p.tmpl_src == sa_out.src);
    Ok(iked_xfrm::ChildInstall {
        local: sa_out.src,
        remote: sa_out.dst,
        mode: match sa_out.mode {
            iked_ike::config::Mode::Tunnel => iked_xfrm::Mode::Tunnel,
            iked_ike::config::Mode::Transport => iked_xfrm::Mode::Transport,
        },
        protocol: iked_xfrm::IpsecProtocol::Esp,
        // The engine keeps one reqid across rekeys; fall back to the CHILD_SA id.
        reqid: if sa_out.reqid != 0 {
            sa_out.reqid
        } else {
            child.0
        },
        spi_in: iked_xfrm::Spi(sa_in.spi),
        spi_in_allocated: true,
        spi_out: iked_xfrm::Spi(sa_out.spi),
        transform_in: esp_transform(sa_in)?,
        transform_out: esp_transform(sa_out)?,
        esn: sa_out.esn,
        replay_window: sa_in.replay_window,
        lifetimes_in: lifetimes(&sa_in.lifetimes),
        lifetimes_out: lifetimes(&sa_out.lifetimes),
        selectors,
        priority: None,
        policies_fwd_out,
        mark_in: None,
        mark_out: None,
        if_id_in: None,
        if_id_out: None,
        set_mark_in: None,
        set_mark_out: None,
        mark_in_sa: false,
        nat_t_ports: sa_out.encap,
        hw_offload: match sa_out.hw_offload {
            iked_ike::config::HwOffload::No => iked_xfrm::HwOffload::No,
            iked_ike::config::HwOffload::Crypto => iked_xfrm::HwOffload::Crypto,
            iked_ike::config::HwOffload::Packet => iked_xfrm::HwOffload::Packet,
            iked_ike::config::HwOffload::Auto => iked_xfrm::HwOffload::Auto,
        },
        offload_device: None,
        acquire_seq: 0,
        proto_port_transport_sa: false,
    })
}

impl KernelBackend for Xfrm {
    fn name(&self) -> &'static str {
        "xfrm"
    }

    fn handle(&mut self, request: KernelRequest) -> Option<KernelEvent> {
        match request {
            KernelRequest::AllocateSpi {
                id,
                child,
                src,
                dst,
            } => Some(
                match self.client.alloc_spi(
                    src,
                    dst,
                    iked_xfrm::IpsecProtocol::Esp,
                    self.reqids.to_kernel(child.0),
                ) {
                    Ok(spi) => {
                        // Inbound SA: the kernel keys it by (this host, SPI, ESP).
                        self.larval.entry(child).or_default().push(iked_xfrm::SaId {
                            dst,
                            spi,
                            protocol: iked_xfrm::IpsecProtocol::Esp,
                            mark: None,
                        });
                        KernelEvent::SpiAllocated { id, spi: spi.0 }
                    }
                    Err(e) => KernelEvent::InstallFailed {
                        id,
                        reason: e.to_string(),
                    },
                },
            ),
            KernelRequest::AddSa { id, sa } => {
                let batch = self.batches.entry(sa.child).or_default();
                batch.ids.push(id);
                match sa.direction {
                    Direction::In => batch.sa_in = Some(sa),
                    _ => batch.sa_out = Some(sa),
                }
                None
            }
            KernelRequest::AddPolicy { id, policy } => {
                let batch = self.batches.entry(policy.child).or_default();
                batch.ids.push(id);
                batch.policies.push(policy);
                None
            }
            KernelRequest::DeleteSa {
                child, dst, spi, ..
            } => {
                if self.installed.contains_key(&child) {
                    self.remove_installed(child);
                } else {
                    // Never installed: this releases the SPI ALLOCSPI reserved (a larval SA).
                    let id = iked_xfrm::SaId {
                        dst,
                        spi: iked_xfrm::Spi(spi),
                        protocol: iked_xfrm::IpsecProtocol::Esp,
                        mark: None,
                    };
                    if let Some(reserved) = self.larval.get_mut(&child) {
                        reserved.retain(|r| *r != id);
                        if reserved.is_empty() {
                            self.larval.remove(&child);
                        }
                    }
                    self.delete_larval(child, &id);
                    self.failures.remove(&child);
                }
                None
            }
            KernelRequest::DeletePolicy {
                policy: iked_ike::engine::PolicyInstall { child, .. },
            } => {
                self.remove_installed(child);
                None
            }
        }
    }

    fn finish_batch(&mut self) -> Vec<KernelEvent> {
        let mut answers = Vec::new();
        for (child, batch) in std::mem::take(&mut self.batches) {
            let reqids = self.reqids;
            let proto_port = self.proto_port_transport_sa;
            // The kernel sees iked's reqid range; the entry keeps the engine's reqid.
            let entry = |kernel, spec: &iked_xfrm::ChildInstall, engine_reqid: u32| {
                let mut entry = InstalledEntry::new(kernel, spec);
                entry.reqid = engine_reqid;
                entry
            };
            let marks = batch
                .sa_out
                .as_ref()
                .or(batch.sa_in.as_ref())
                .map(|sa| self.marks.resolve(sa.reqid, &sa.marks))
                .unwrap_or_default();
            let plan = plan_install(child, &batch, &self.installed).map(|mut plan| {
                match &mut plan {
                    InstallPlan::Fresh(spec)
                    | InstallPlan::Rekey { spec, .. }
                    | InstallPlan::Share { spec, .. } => super::marks::apply(spec, &marks),
                }
                match plan {
                    InstallPlan::Fresh(spec) => {
                        let ids = super::policy_share::policy_ids(&spec);
                        let installed = self
                            .installed
                            .iter()
                            .map(|(id, e)| (*id, e.owns_policies, &e.kernel.policies[..]));
                        match super::policy_share::twin(child, &ids, installed) {
                            Some(twin) => InstallPlan::Share { twin, spec },
                            None => InstallPlan::Fresh(spec),
                        }
                    }
                    other => other,
                }
            });
            let result = plan.and_then(|plan| match plan {
                InstallPlan::Fresh(mut spec) => {
                    let engine_reqid = spec.reqid;
                    spec.reqid = reqids.to_kernel(spec.reqid);
                    spec.proto_port_transport_sa = proto_port;
                    let ids: Vec<_> = iked_xfrm::client::child_policy_specs(
                        &spec,
                        iked_xfrm::OffloadMode::None,
                        None,
                    )
                    .iter()
                    .map(iked_xfrm::PolicySpec::id)
                    .collect();
                    let trap = super::trap_slots::taken_over(&self.traps, &ids);
                    // As charon's CHILD_SA for a trap: its SAs and policies carry the trap's
                    // reqid (`trap_slots::reqid`).
                    if let Some(reqid) = super::trap_slots::reqid(&trap) {
                        spec.reqid = reqid;
                    }
                    let replace: Vec<_> = trap.iter().map(iked_xfrm::PolicySpec::id).collect();
                    let installed = self.client.install_child_over(&spec, &replace);
                    if installed.is_err()
                        && let Err(e) = super::trap_slots::restore(&mut self.client, &trap)
                    {
                        tracing::warn!(target: "KNL", "restoring trap policies failed: {e}");
                    }
                    installed
                        .map(|kernel| (None, entry(kernel, &spec, engine_reqid)))
                        .map_err(|e| e.to_string())
                }
                InstallPlan::Rekey { old: holder, spec }
                | InstallPlan::Share { twin: holder, spec } => {
                    let shared = spec.reqid != self.installed[&holder].reqid;
                    let mut spec = spec;
                    let engine_reqid = spec.reqid;
                    // The holder's kernel reqid: the policies' templates keep naming it, so
                    // both CHILD_SAs' inbound packets pass the policy check.
                    spec.reqid = self.installed[&holder].kernel_reqid;
                    spec.proto_port_transport_sa = proto_port;
                    let predecessor = &self.installed[&holder].kernel;
                    self.client
                        .rekey_child(predecessor, &spec)
                        .map(|kernel| (Some((holder, shared)), entry(kernel, &spec, engine_reqid)))
                        .map_err(|e| format!("rekeying CHILD_SA {{{}}}: {e}", holder.0))
                }
            });
            match result {
                Ok((rekeyed, installed)) => {
                    if let Some((old, shared)) = rekeyed {
                        if shared {
                            tracing::info!(target: "KNL", "CHILD_SA {{{}}} has the selectors of {{{}}}: policies shared (reqid {}), moved to its SAs", child.0, old.0, installed.kernel_reqid);
                        } else {
                            tracing::info!(target: "KNL", "CHILD_SA {{{}}} replaces {{{}}} (reqid {}), policies moved to its SAs", child.0, old.0, installed.reqid);
                        }
                        if let Some(old) = self.installed.get_mut(&old) {
                            old.owns_policies = false;
                        }
                    }
                    let installed_kernel = &installed.kernel;
                    for reason in &installed_kernel.fallback_reasons {
                        tracing::info!(target: "KNL", "CHILD_SA {{{}}}: {reason}", child.0);
                    }
                    tracing::info!(target: "KNL", "CHILD_SA {{{}}} installed, offload {}", child.0, installed_kernel.offload);
                    // The larval inbound SA became the installed one (UPDSA).
                    self.larval.remove(&child);
                    self.installed.insert(child, installed);
                    answers.extend(
                        batch
                            .ids
                            .iter()
                            .map(|id| KernelEvent::Installed { id: *id }),
                    );
                }
                Err(reason) => {
                    tracing::error!(target: "KNL", "installing CHILD_SA {{{}}} failed: {reason}", child.0);
                    // Do not wait for the engine to release the reserved SPI: a larval SA
                    // left behind would keep answering the peer's ESP with nothing.
                    for id in self.larval.remove(&child).unwrap_or_default() {
                        self.delete_larval(child, &id);
                    }
                    let offload_requested = batch
                        .sa_out
                        .as_ref()
                        .or(batch.sa_in.as_ref())
                        .map(|sa| hw_offload_name(sa.hw_offload))
                        .unwrap_or("no")
                        .to_owned();
                    self.failures.insert(
                        child,
                        InstallFailure {
                            offload_requested,
                            reason: reason.clone(),
                        },
                    );
                    answers.extend(batch.ids.iter().map(|id| KernelEvent::InstallFailed {
                        id: *id,
                        reason: reason.clone(),
                    }));
                }
            }
        }
        answers
    }

    fn offload_in_force(&self, child: ChildSaId) -> Option<String> {
        self.installed
            .get(&child)
            .map(|i| i.kernel.offload.to_string())
    }

    fn install_failure(&self, child: ChildSaId) -> Option<InstallFailure> {
        self.failures.get(&child).cloned()
    }

    fn child_marks(&self, child: ChildSaId) -> Option<iked_ike::marks::ResolvedMarks> {
        self.installed.get(&child).map(|e| e.marks)
    }

    fn install_shunt(&mut self, shunt: &Shunt) -> Result<(), String> {
        let ids = self
            .client
            .install_shunt(&shunt.xfrm())
            .map_err(|e| e.to_string())?;
        self.shunts
            .insert((shunt.connection.clone(), shunt.child.clone()), ids);
        Ok(())
    }

    fn uninstall_shunt(&mut self, shunt: &Shunt) {
        if let Some(ids) = self
            .shunts
            .remove(&(shunt.connection.clone(), shunt.child.clone()))
            && let Err(e) = self.client.remove_policies(&ids)
        {
            tracing::warn!(target: "KNL", "removing shunt policies of {}/{} failed: {e}", shunt.connection, shunt.child);
        }
    }

    fn remove_all(&mut self) -> usize {
        // Rekeyed predecessors first (only their SAs), so no policy is restored to them.
        let mut children: Vec<ChildSaId> = self.installed.keys().copied().collect();
        children.sort_by_key(|child| self.installed[child].owns_policies);
        for child in &children {
            self.remove_installed(*child);
        }
        for (child, ids) in std::mem::take(&mut self.larval) {
            for id in ids {
                self.delete_larval(child, &id);
            }
        }
        for (reqid, specs) in std::mem::take(&mut self.traps) {
            let ids: Vec<_> = specs.iter().map(iked_xfrm::PolicySpec::id).collect();
            if let Err(e) = self.client.remove_policies(&ids) {
                tracing::warn!(target: "KNL", "removing trap policies of reqid {reqid} failed: {e}");
            }
        }
        for ((conn, child), ids) in std::mem::take(&mut self.shunts) {
            if let Err(e) = self.client.remove_policies(&ids) {
                tracing::warn!(target: "KNL", "removing shunt policies of {conn}/{child} failed: {e}");
            }
        }
        self.batches.clear();
        self.failures.clear();
        children.len()
    }

    fn counters(&mut self, child: ChildSaId) -> Option<ChildCounters> {
        let installed = self.installed.get(&child)?;
        let (sa_in, sa_out) = (installed.kernel.sa_in, installed.kernel.sa_out);
        let c_in = self.client.sa_counters(&sa_in).ok()?;
        let c_out = self.client.sa_counters(&sa_out).ok()?;
        Some(ChildCounters {
            bytes_in: c_in.bytes,
            packets_in: c_in.packets,
            bytes_out: c_out.bytes,
            packets_out: c_out.packets,
        })
    }

    fn install_trap(&mut self, trap: &TrapPolicy) -> Result<(), String> {
        // A trap is an ordinary IPsec policy whose template has no SA yet: matching traffic
        // makes the kernel send ACQUIRE with the template's reqid (charon's "routed" policy).
        let mode = if trap.transport {
            iked_xfrm::Mode::Transport
        } else {
            iked_xfrm::Mode::Tunnel
        };
        let marks = self.marks.resolve(trap.reqid, &trap.marks);
        let held = self.held_slots();
        let mut installed = Vec::new();
        for l in &trap.local_ts {
            for r in &trap.remote_ts {
                for (direction, selector, src, dst, mark, if_id) in [
                    (
                        iked_xfrm::PolicyDirection::Out,
                        xfrm_selector(l, r),
                        trap.local,
                        trap.remote,
                        marks.mark_out,
                        marks.if_id_out,
                    ),
                    (
                        iked_xfrm::PolicyDirection::In,
                        xfrm_selector(r, l),
                        trap.remote,
                        trap.local,
                        marks.mark_in,
                        marks.if_id_in,
                    ),
                ] {
                    let spec = iked_xfrm::PolicySpec {
                        selector,
                        direction,
                        priority: iked_xfrm::priority::priority(
                            &selector,
                            iked_xfrm::priority::PriorityClass::Routed,
                        ),
                        action: iked_xfrm::PolicyAction::Allow,
                        templates: vec![iked_xfrm::TemplateSpec {
                            src: Some(src),
                            dst: Some(dst),
                            spi: None,
                            protocol: iked_xfrm::IpsecProtocol::Esp,
                            mode,
                            reqid: self.reqids.to_kernel(trap.reqid),
                            optional: false,
                        }],
                        mark: super::marks::xfrm_mark(mark),
                        if_id,
                        offload_ifindex: None,
                        update: false,
                    };
                    // A CHILD_SA that outlived its connection's reload holds this slot: the
                    // trap takes it back when that SA goes (`trap_slots`).
                    if !held.contains(&spec.id())
                        && let Err(e) = self.client.add_policy(&spec)
                    {
                        let ids = super::trap_slots::not_held(&installed, &held);
                        let _ = self.client.remove_policies(&ids);
                        return Err(e.to_string());
                    }
                    installed.push(spec);
                }
            }
        }
        self.traps.insert(trap.reqid, installed);
        Ok(())
    }

    fn uninstall_trap(&mut self, trap: &TrapPolicy) {
        self.marks.release(trap.reqid);
        let held = self.held_slots();
        if let Some(specs) = self.traps.remove(&trap.reqid)
            && let Err(e) = self
                .client
                .remove_policies(&super::trap_slots::not_held(&specs, &held))
        {
            tracing::warn!(target: "KNL", "removing trap policies of reqid {} failed: {e}", trap.reqid);
        }
    }

    fn reqid_offset(&self) -> u32 {
        self.reqids.offset()
    }

    fn mark_allocator(&mut self) -> Option<&mut super::marks::MarkAllocator> {
        Some(&mut self.marks)
    }

    fn adopt(
        &mut self,
        offset: u32,
        children: &[iked_ike::engine::AdoptedChild],
    ) -> Vec<(ChildSaId, String)> {
        self.adopt_children(offset, children)
    }

    fn leftover_policies(&self) -> Vec<iked_xfrm::PolicyId> {
        self.sweep
            .as_ref()
            .map(|s| s.leftovers().policies.clone())
            .unwrap_or_default()
            .into_iter()
            // Policies a hitless restart adopted are no leftovers to re-establish.
            .filter(|p| !self.client.owns_policy(p))
            .collect()
    }

    fn poll_events(&mut self) -> Vec<KernelEvent> {
        if self
            .sweep
            .as_ref()
            .is_some_and(super::recovery::Sweep::is_due)
            && let Some(sweep) = self.sweep.take()
        {
            let grace = sweep.grace().as_secs();
            let (sas, policies) = sweep.run(&mut self.client);
            tracing::info!(target: "KNL", "removed {sas} stale SA(s) and {policies} stale policy(ies) of an earlier iked instance ({grace} s after start)");
        }
        let Some(rx) = &self.events else {
            return Vec::new();
        };
        let reqids = self.reqids;
        let raw: Vec<KernelEvent> = rx.try_iter().collect();
        let mut events: Vec<KernelEvent> = raw
            .into_iter()
            .filter(|event| match event {
                KernelEvent::Expire {
                    spi,
                    dst,
                    hard: true,
                } => !self.larval_expired(*dst, *spi),
                _ => true,
            })
            .filter_map(|event| match event {
                // Only ACQUIREs for this instance's trap policies (a leftover trap, or
                // another tool's policy, is nothing the engine asked for).
                KernelEvent::Acquire { reqid } => reqids
                    .from_kernel(reqid)
                    .map(|reqid| KernelEvent::Acquire { reqid }),
                other => Some(other),
            })
            .collect();
        if self
            .overflowed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            events.extend(self.resync());
        }
        events
    }
}

/// Runs `f` in a private network namespace (root only; see `tests::in_private_netns`).
#[cfg(test)]
pub(crate) fn tests_netns(f: impl FnOnce() + Send + 'static) -> bool {
    tests::in_private_netns(f)
}

#[cfg(test)]
pub(crate) mod tests;
