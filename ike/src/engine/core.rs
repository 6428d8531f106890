//! The engine: SA tables, input dispatch, message-ID windows, retransmission and timers.
//!
//! Contract: see the module docs of [`crate::engine`]. Internally each input takes the IKE SA
//! it concerns out of the table, runs the exchange logic (in `exchange.rs`) against it, and puts
//! it back unless the SA was destroyed; outputs are queued and drained by the `poll_*` calls.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::fragment::{self, Limit, Progress};
use super::sa::{Active, IkeSa, Outstanding, Phase, Task};
use super::{
    ChildInfo, ChildSaId, DownReason, Event, IkeInfo, IkeSaId, KernelEvent, KernelRequest,
    KernelRequestId, LogGroup, LogGroups, RandomSource, Stats, Transmit,
};
use crate::config::{ChildConfig, IkeConfig, IkeSecret, Settings};
use crate::creds::CredentialSet;
use crate::error::{CommandError, ProtocolError};
use crate::message::{self, Header, Message, Payload, SkKeys};
use crate::time::Timestamp;
use crate::timer::TimerQueue;
use crate::wire::{ExchangeType, Flags, ProtocolId};

/// Feeds `suite::seal` its IVs: random for CBC; for AEAD ciphers the SA's message counter,
/// since an AEAD IV must never repeat under one key.
struct IvSource<'a> {
    aead: bool,
    counter: &'a mut u64,
    /// Set when the counter had no value left: what was sealed must not be sent, since any IV
    /// would repeat one already used (the caller drops it).
    exhausted: bool,
    rng: &'a mut (dyn RandomSource + Send),
}

impl RandomSource for IvSource<'_> {
    fn fill(&mut self, buf: &mut [u8]) {
        if self.aead {
            let Some(next) = self.counter.checked_add(1) else {
                self.exhausted = true;
                buf.fill(0);
                return;
            };
            *self.counter = next;
            for (b, c) in buf.iter_mut().zip(next.to_be_bytes()) {
                *b = c;
            }
        } else {
            self.rng.fill(buf);
        }
    }
}

/// The IKE port (RFC 7296 2).
const IKE_PORT: u16 = 500;

/// Endpoint choices for [`Engine::initiate_with`]; `None` fields keep the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InitiateOptions {
    /// Our address, used when the connection's `local_addrs` is empty (`%any`).
    pub local_addr: Option<IpAddr>,
    /// Our UDP port (the connection's `local_port`; default 500).
    pub local_port: Option<u16>,
    /// The peer's UDP port (the connection's `remote_port`; default 500).
    pub remote_port: Option<u16>,
    /// The peer's address the daemon resolved from `remote_addrs` (its first entry that
    /// resolves, as charon's `resolve_other`); else the first configured address.
    pub remote_addr: Option<IpAddr>,
}

/// Keys of the engine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Retransmit(IkeSaId),
    HalfOpen(IkeSaId),
    Dpd(IkeSaId),
    IkeRekey(IkeSaId),
    /// Delete an old IKE SA that a rekey replaced if the peer never deletes it.
    RekeyedCleanup(IkeSaId),
    /// Retry a CHILD_SA rekey the peer refused with TEMPORARY_FAILURE.
    RetryChildRekey(ChildSaId),
    /// Send a NAT keepalive (we are behind a NAT).
    NatKeepalive(IkeSaId),
    /// Give up on a kernel answer a held response waits for (SPI or child install), so a
    /// backend that never answers cannot wedge the IKE SA.
    KernelAnswer(IkeSaId),
    /// Resolve IKE SAs that crossed this one (`crossing.rs`).
    Crossing(IkeSaId),
    /// Close an IKE SA whose message IDs are used up (RFC 7296 2.2), at the next timeout.
    MessageIdsExhausted(IkeSaId),
}

/// What a kernel answer continues.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KernelWait {
    Spi(ChildSaId),
    Install(ChildSaId),
}

/// Whether to keep an SA after handling an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    Keep,
    Destroy(DownReason),
}

/// A sans-IO IKEv2 endpoint holding any number of IKE SAs.
pub struct Engine {
    pub(crate) settings: Settings,
    pub(crate) connections: Vec<Arc<IkeConfig>>,
    pub(crate) secrets: Vec<IkeSecret>,
    pub(crate) rng: Box<dyn RandomSource + Send>,
    pub(crate) sas: HashMap<IkeSaId, Box<IkeSa>>,
    pub(crate) by_spi: HashMap<u64, IkeSaId>,
    /// Responder: half-open SAs by the initiator's SPI and address (retransmit detection).
    pub(crate) by_initiator: HashMap<(u64, SocketAddr), IkeSaId>,
    pub(crate) children: HashMap<ChildSaId, IkeSaId>,
    /// Kernel SAs by (destination, SPI), for expire events.
    pub(crate) by_kernel_spi: HashMap<(IpAddr, u32), ChildSaId>,
    pub(crate) half_open: usize,
    pub(crate) timers: TimerQueue<TimerKey>,
    pub(crate) kernel_waits: HashMap<KernelRequestId, (IkeSaId, KernelWait)>,
    /// Outstanding ALLOCSPI requests with the SA's (source, destination), so an SPI that
    /// arrives after its negotiation was abandoned is released instead of leaking a larval SA.
    pub(crate) spi_allocations: HashMap<KernelRequestId, (ChildSaId, IpAddr, IpAddr)>,
    /// Cookie secrets and the half-open limits' state (`dos_state.rs`, used by `dos.rs`).
    pub(crate) dos: super::dos_state::DosState,
    pub(crate) next_ike_id: u32,
    next_child_id: u32,
    next_kernel_id: u64,
    transmits: VecDeque<Transmit>,
    kernel_requests: VecDeque<KernelRequest>,
    events: VecDeque<Event>,
    pub(crate) stats: Stats,
    /// Keys, certificates and CAs for public-key authentication.
    pub(crate) credentials: Arc<CredentialSet>,
    /// Wall-clock time (Unix seconds) for certificate validity; set by the caller.
    pub(crate) wall_clock: Option<i64>,
    /// Groups whose records are built and queued (see [`Engine::set_log_groups`]).
    pub(crate) log_groups: LogGroups,
    /// Authenticated SAs by identity pair, for INITIAL_CONTACT and `unique`.
    pub(crate) contacts: super::contact_index::Contacts,
    /// SAs whose IKE_AUTH waits for CRLs (`engine/revocation.rs`).
    pub(crate) crl_waiters: Vec<IkeSaId>,
    /// When SAs came up, for simultaneous initiation by both ends (`crossing.rs`).
    pub(crate) crossings: super::crossing_book::Crossings,
    /// What the daemon last resolved the connections' DNS names to.
    pub(crate) resolved: crate::resolved::Resolved,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("ike_sas", &self.sas.len())
            .field("half_open", &self.half_open)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Creates an engine with its configuration and randomness.
    pub fn new(
        settings: Settings,
        connections: Vec<IkeConfig>,
        secrets: Vec<IkeSecret>,
        mut rng: Box<dyn RandomSource + Send>,
    ) -> Engine {
        let dos = super::dos_state::DosState::new(rng.as_mut());
        Engine {
            settings,
            connections: connections.into_iter().map(Arc::new).collect(),
            secrets,
            rng,
            sas: HashMap::new(),
            by_spi: HashMap::new(),
            by_initiator: HashMap::new(),
            children: HashMap::new(),
            by_kernel_spi: HashMap::new(),
            half_open: 0,
            timers: TimerQueue::default(),
            kernel_waits: HashMap::new(),
            spi_allocations: HashMap::new(),
            dos,
            next_ike_id: 1,
            next_child_id: 1,
            next_kernel_id: 1,
            transmits: VecDeque::new(),
            kernel_requests: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            credentials: Arc::default(),
            wall_clock: None,
            log_groups: LogGroups::ALL,
            contacts: Default::default(),
            crl_waiters: Vec::new(),
            crossings: Default::default(),
            resolved: Default::default(),
        }
    }

    /// Records what the DNS name `name` of `local_addrs`/`remote_addrs` resolved to (empty:
    /// it did not); responders match peers against it until the next call.
    pub fn set_resolved(&mut self, name: &str, addrs: Vec<IpAddr>) {
        self.resolved.set(name, addrs);
    }

    /// Replaces connections and secrets (existing SAs keep the config they were built with).
    pub fn reload(&mut self, connections: Vec<IkeConfig>, secrets: Vec<IkeSecret>) {
        self.connections = connections.into_iter().map(Arc::new).collect();
        self.secrets = secrets;
    }

    /// Replaces the credentials used for public-key authentication (existing SAs are not
    /// re-authenticated).
    pub fn set_credentials(&mut self, credentials: Arc<CredentialSet>) {
        self.credentials = credentials;
    }

    /// Sets the wall-clock time (Unix seconds) certificates are checked against. Call it
    /// before handing inputs to the engine; without it certificate authentication fails.
    pub fn set_wall_clock(&mut self, unix_secs: i64) {
        self.wall_clock = Some(unix_secs);
    }

    /// Chooses which log groups produce [`Event::Log`] (default [`LogGroups::ALL`]). Records of
    /// a group that is off are never formatted, so a daemon that discards them should turn
    /// them off rather than drop the events.
    pub fn set_log_groups(&mut self, groups: LogGroups) {
        self.log_groups = groups;
    }

    /// The groups currently logged.
    pub fn log_groups(&self) -> LogGroups {
        self.log_groups
    }

    // ----- outputs -------------------------------------------------------------------------

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next kernel request.
    pub fn poll_kernel(&mut self) -> Option<KernelRequest> {
        self.kernel_requests.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline at which [`Engine::handle_timeout`] must be called.
    pub fn poll_timeout(&mut self) -> Option<Timestamp> {
        self.timers.next_deadline()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of IKE SAs (any phase).
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Number of responder SAs that have not completed IKE_AUTH.
    pub fn half_open_count(&self) -> usize {
        self.half_open
    }

    /// Number of responder SAs from `ip` that have not completed IKE_AUTH (the count that
    /// `cookie_threshold_ip` and `block_threshold` compare), and the number of addresses
    /// tracked for it.
    pub fn half_open_from(&self, ip: IpAddr) -> (usize, usize) {
        (self.dos.half_open_from(ip), self.dos.tracked_addresses())
    }

    /// Snapshots of all IKE SAs, ordered by id.
    pub fn ike_sas(&self) -> Vec<IkeInfo> {
        let mut v: Vec<IkeInfo> = self.sas.values().map(|sa| Self::info(sa)).collect();
        v.sort_by_key(|i| i.id);
        v
    }

    /// Snapshot of one IKE SA (cheap: for callers that know the id, unlike [`Engine::ike_sas`]).
    pub fn ike_sa(&self, id: IkeSaId) -> Option<IkeInfo> {
        self.sas.get(&id).map(|sa| Self::info(sa))
    }

    fn info(sa: &IkeSa) -> IkeInfo {
        IkeInfo {
            id: sa.id,
            name: sa.config.name.clone(),
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            initiator: sa.initiator,
            established: sa.phase.is_established(),
            proposal: sa.crypto.as_ref().map(|c| c.proposal.describe()),
            local: sa.local,
            remote: sa.remote,
            nat_local: sa.nat.here,
            nat_remote: sa.nat.there,
            nat_fake: sa.nat.fake,
            children: sa
                .children
                .iter()
                .map(|c| ChildInfo {
                    id: c.id,
                    name: c.config.name.clone(),
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                    local_ts: c.local_ts.clone(),
                    remote_ts: c.remote_ts.clone(),
                    installed: c.state == super::sa::ChildState::Installed,
                    encap: sa.nat.any(),
                    proposal: c.proposal.clone(),
                    reqid: c.reqid,
                    mode: c.config.mode,
                })
                .collect(),
            local_id: sa.local_id.to_string(),
            remote_id: sa
                .phase
                .is_established()
                .then(|| sa.remote_id.as_ref().map(ToString::to_string))
                .flatten(),
        }
    }

    // ----- commands ------------------------------------------------------------------------

    /// Initiates connection `conn` with the named children (`swanctl -i --child a b`): the
    /// first child rides in IKE_AUTH, the others follow in CREATE_CHILD_SA exchanges. With no
    /// children the IKE SA is created childless (RFC 6023). Uses ports 500 and, when the
    /// connection's `local_addrs` is empty, the unspecified address as ours; see
    /// [`Engine::initiate_with`] to give the daemon's choices.
    pub fn initiate(
        &mut self,
        now: Timestamp,
        conn: &str,
        children: &[&str],
    ) -> Result<IkeSaId, CommandError> {
        self.initiate_with(now, conn, children, InitiateOptions::default())
    }

    /// The loaded connection `conn` and its children named in `children`, in that order: what
    /// every command that starts children looks up first.
    pub(crate) fn config_and_children(
        &self,
        conn: &str,
        children: &[&str],
    ) -> Result<(Arc<IkeConfig>, Vec<Arc<ChildConfig>>), CommandError> {
        let config = self
            .connections
            .iter()
            .find(|c| c.name == conn)
            .cloned()
            .ok_or_else(|| CommandError::UnknownConnection(conn.to_string()))?;
        let mut child_configs = Vec::new();
        for name in children {
            let c = config
                .children
                .iter()
                .find(|c| c.name == *name)
                .ok_or_else(|| CommandError::UnknownChild(name.to_string(), conn.to_string()))?;
            child_configs.push(c.clone());
        }
        Ok((config, child_configs))
    }

    /// [`Engine::initiate`] with the endpoint choices the daemon makes: the connection's
    /// `remote_port`, and our source address when `local_addrs` is `%any` (found by a route
    /// lookup), which NAT detection hashes, the default identity and the kernel SAs use.
    pub fn initiate_with(
        &mut self,
        now: Timestamp,
        conn: &str,
        children: &[&str],
        options: InitiateOptions,
    ) -> Result<IkeSaId, CommandError> {
        let (config, child_configs) = self.config_and_children(conn, children)?;
        let remote_ip = options
            .remote_addr
            .or(config.remote_addrs.first().copied())
            .ok_or_else(|| CommandError::NoRemoteAddress(conn.to_string()))?;
        // A configured address wins over the hint; the hint must match the peer's family.
        let hint = options
            .local_addr
            .filter(|a| a.is_ipv4() == remote_ip.is_ipv4());
        let local_ip =
            config
                .local_addrs
                .first()
                .copied()
                .or(hint)
                .unwrap_or(if remote_ip.is_ipv4() {
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                });
        self.start_initiator(
            now,
            config,
            SocketAddr::new(
                local_ip,
                options.local_port.unwrap_or(self.settings.ike_port),
            ),
            SocketAddr::new(remote_ip, options.remote_port.unwrap_or(IKE_PORT)),
            child_configs,
        )
        .ok_or(CommandError::IdsExhausted)
    }

    /// Creates another CHILD_SA on an established IKE SA.
    pub fn create_child(
        &mut self,
        now: Timestamp,
        ike: IkeSaId,
        child: &str,
    ) -> Result<(), CommandError> {
        let sa = self.sas.get_mut(&ike).ok_or(CommandError::UnknownSa)?;
        let cfg = sa
            .config
            .children
            .iter()
            .find(|c| c.name == child)
            .cloned()
            .ok_or_else(|| CommandError::UnknownChild(child.to_string(), sa.config.name.clone()))?;
        sa.tasks.push_back(Task::CreateChild(cfg));
        self.kick(now, ike);
        Ok(())
    }

    /// Rekeys a CHILD_SA.
    pub fn rekey_child(&mut self, now: Timestamp, child: ChildSaId) -> Result<(), CommandError> {
        self.queue_child_task(now, child, Task::RekeyChild(child))
    }

    /// Queues `task` on the IKE SA that carries `child` and starts it if the window is free.
    fn queue_child_task(
        &mut self,
        now: Timestamp,
        child: ChildSaId,
        task: Task,
    ) -> Result<(), CommandError> {
        let ike = *self.children.get(&child).ok_or(CommandError::UnknownSa)?;
        let sa = self.sas.get_mut(&ike).ok_or(CommandError::UnknownSa)?;
        sa.tasks.push_back(task);
        self.kick(now, ike);
        Ok(())
    }

    /// Rekeys an IKE SA.
    pub fn rekey_ike(&mut self, now: Timestamp, ike: IkeSaId) -> Result<(), CommandError> {
        let sa = self.sas.get_mut(&ike).ok_or(CommandError::UnknownSa)?;
        if !sa.phase.is_established() {
            return Err(CommandError::NotEstablished);
        }
        sa.tasks.push_back(Task::RekeyIke);
        self.kick(now, ike);
        Ok(())
    }

    /// Deletes a CHILD_SA (INFORMATIONAL with a Delete payload).
    pub fn terminate_child(
        &mut self,
        now: Timestamp,
        child: ChildSaId,
    ) -> Result<(), CommandError> {
        self.queue_child_task(now, child, Task::DeleteChild(child))
    }

    // ----- inputs --------------------------------------------------------------------------

    /// Handles one received UDP payload.
    pub fn handle_datagram(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        if bytes.len() > self.settings.max_packet {
            // charon reads into a `max_packet` buffer and discards what does not fit.
            let (len, max) = (bytes.len(), self.settings.max_packet);
            self.drop_logged(|| {
                format!(
                    "received packet from {} ({len} bytes) exceeds max_packet of {max} bytes, \
                     packet discarded",
                    fmt_addr(remote)
                )
            });
            return;
        }
        let header = match message::peek_header(bytes) {
            Ok(h) => h,
            Err(e) => {
                self.drop_datagram(None, || format!("invalid IKE header from {remote}: {e}"));
                if let message::DecodeError::Version(major) = e {
                    self.refuse_major_version(local, remote, bytes, major);
                }
                return;
            }
        };
        engine_log!(
            self,
            None,
            LogGroup::Net,
            "received packet: from {} to {} ({} bytes)",
            fmt_addr(remote),
            fmt_addr(local),
            bytes.len()
        );
        if header.exchange == ExchangeType::IKE_SA_INIT
            && !header.is_response()
            && header.spi_r == 0
        {
            self.respond_sa_init(now, local, remote, header, bytes);
            return;
        }
        let our_spi = if header.from_initiator() {
            header.spi_r
        } else {
            header.spi_i
        };
        let Some(id) = self.by_spi.get(&our_spi).copied() else {
            self.on_unknown_spi(now, (local, remote), header, bytes);
            return;
        };
        let Some(mut sa) = self.sas.remove(&id) else {
            return;
        };
        // The I flag must say the sender holds the other role, and both SPIs must be the
        // SA's (charon looks SAs up by the pair): a message under a known SPI of ours but
        // another initiator SPI is not for this SA. Our initiator SA learns the responder's
        // SPI from the IKE_SA_INIT response, so it has none to compare before.
        if sa.initiator == header.from_initiator()
            || header.spi_i != sa.spi_i
            || (sa.spi_r != 0 && header.spi_r != sa.spi_r)
        {
            self.sas.insert(id, sa);
            self.drop_datagram(Some(id), || "role flags do not match the IKE_SA".to_owned());
            return;
        }
        let fate = if header.is_response() {
            self.on_response_datagram(now, &mut sa, (local, remote), header, bytes)
        } else {
            self.on_request_datagram(now, &mut sa, local, remote, header, bytes)
        };
        self.finish(now, sa, fate);
    }

    fn on_response_datagram(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        (local, remote): (SocketAddr, SocketAddr),
        header: Header,
        bytes: &[u8],
    ) -> Fate {
        let expected = sa.outstanding.as_ref().map(|o| o.message_id);
        if expected != Some(header.message_id) {
            self.drop_datagram(Some(sa.id), || {
                format!("response with unexpected message ID {}", header.message_id)
            });
            return Fate::Keep;
        }
        if header.exchange == ExchangeType::IKE_SA_INIT {
            let msg = match message::decode(bytes, None) {
                Ok(m) => m,
                Err(e) => {
                    self.drop_datagram(Some(sa.id), || {
                        format!("invalid IKE_SA_INIT response: {e}")
                    });
                    return Fate::Keep;
                }
            };
            engine_log!(self, Some(sa.id), LogGroup::Enc, "parsed {}", msg.summary());
            sa.fragmentation.peer_supported = msg
                .notify(crate::wire::NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                .is_some();
            return self.on_sa_init_response(now, sa, (local, remote), msg, bytes);
        }
        // A malformed response is never answered (RFC 7296 2.21); it is dropped like a forgery.
        let msg = match self.decrypt(now, sa, bytes) {
            Ok(Some(msg)) => msg,
            Ok(None) => return Fate::Keep,
            Err(e) => {
                self.drop_datagram(Some(sa.id), || format!("invalid response: {e}"));
                return Fate::Keep;
            }
        };
        engine_log!(self, Some(sa.id), LogGroup::Enc, "parsed {}", msg.summary());
        sa.last_received = now;
        self.follow_peer(sa, local, remote, false);
        let Some(out) = sa.outstanding.take() else {
            return Fate::Keep;
        };
        self.timers.cancel(TimerKey::Retransmit(sa.id));
        let fate = self.on_response(now, sa, out.active, msg);
        if fate == Fate::Keep {
            self.rearm_dpd(now, sa);
        }
        fate
    }

    fn on_request_datagram(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        bytes: &[u8],
    ) -> Fate {
        let mid = header.message_id;
        // The last response is the latest one when the next expected ID follows it, or when
        // it answered the last ID there is (the SA then closes, `message_ids_exhausted`).
        let latest = mid
            .checked_add(1)
            .is_none_or(|next| next == sa.expected_request_id);
        if latest
            && let Some((rmid, resp)) = &sa.last_response
            && *rmid == mid
        {
            // A retransmitted request: replay our response, do not process again. A
            // fragmented request is answered once, on its first fragment (as charon).
            if fragment::skf_number(bytes).is_some_and(|n| n != 1) {
                return Fate::Keep;
            }
            self.stats.replayed_responses = self.stats.replayed_responses.saturating_add(1);
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "received retransmit of request with ID {mid}, retransmitting response"
            );
            for bytes in resp.clone() {
                self.transmits.push_back(Transmit {
                    local,
                    remote,
                    bytes,
                });
            }
            return Fate::Keep;
        }
        if sa.parked.as_ref().is_some_and(|p| p.message_id == mid)
            || sa.awaiting_crls.as_ref().is_some_and(|a| a.waits_for(mid))
        {
            // Still waiting for the kernel (or for CRLs) to answer this request; the response
            // will follow.
            return Fate::Keep;
        }
        if mid != sa.expected_request_id || sa.parked.is_some() {
            self.drop_datagram(Some(sa.id), || {
                format!("request with message ID {mid} outside the window")
            });
            return Fate::Keep;
        }
        if sa.crypto.is_none() {
            self.drop_datagram(Some(sa.id), || {
                "encrypted request before keys exist".to_owned()
            });
            return Fate::Keep;
        }
        let msg = match self.decrypt(now, sa, bytes) {
            Ok(Some(msg)) => msg,
            Ok(None) => return Fate::Keep,
            Err(e) => {
                // Authentic but malformed: answered in a protected response with the request's
                // message ID (RFC 7296 2.21.3), which consumes it, as charon's parse_message.
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Enc,
                    "{} request {mid} processing failed: {e}",
                    header.exchange
                );
                self.respond_error(sa, mid, header.exchange, &e);
                return Fate::Keep;
            }
        };
        engine_log!(self, Some(sa.id), LogGroup::Enc, "parsed {}", msg.summary());
        sa.last_received = now;
        // The IKE_AUTH request comes from the initiator's NAT-T port once it found a NAT.
        self.follow_peer(sa, local, remote, header.exchange == ExchangeType::IKE_AUTH);
        let fate = self.on_request(now, sa, msg, bytes);
        if fate == Fate::Keep {
            self.rearm_dpd(now, sa);
        }
        fate
    }

    /// Verifies and decrypts a protected datagram; an SKF fragment goes to the SA's
    /// reassembly and yields the message once all fragments are in. `Ok(None)`: nothing to
    /// process yet, or dropped (logged); `Err`: the message verified but is malformed, which
    /// the caller answers if it is a request.
    fn decrypt(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        bytes: &[u8],
    ) -> Result<Option<Message>, ProtocolError> {
        let Some(c) = sa.crypto.as_ref() else {
            return Ok(None);
        };
        // Peer's direction: the initiator's keys protect what the initiator sends.
        let (encr, integ) = if sa.initiator {
            (&c.keys.sk_er, &c.keys.sk_ar)
        } else {
            (&c.keys.sk_ei, &c.keys.sk_ai)
        };
        let keys = SkKeys {
            suite: &c.suite,
            encr,
            integ,
        };
        let piece = match message::decode_datagram(bytes, Some(keys)) {
            Ok(message::Datagram::Message(m)) => return Ok(Some(m)),
            Ok(message::Datagram::Fragment(f)) => f,
            Err(e @ message::DecodeError::Verified(_)) => return Err(e.into()),
            Err(e) => {
                self.drop_datagram(Some(sa.id), || {
                    format!("could not decrypt/parse message: {e}")
                });
                return Ok(None);
            }
        };
        let buffer = if piece.header.is_response() {
            &mut sa.fragmentation.responses
        } else {
            &mut sa.fragmentation.requests
        };
        match buffer.add_bounded(now, piece, self.settings.max_packet) {
            Ok(Progress::Waiting { number, total, .. }) => {
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Enc,
                    "received fragment #{number} of {total}, waiting for complete IKE message"
                );
                Ok(None)
            }
            Ok(Progress::Ignored { number }) => {
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Enc,
                    "received duplicate fragment #{number}"
                );
                Ok(None)
            }
            Ok(Progress::Complete {
                message,
                number,
                total,
                len,
            }) => {
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Enc,
                    "received fragment #{number} of {total}, reassembled fragmented IKE \
                         message ({len} bytes)"
                );
                Ok(Some(*message))
            }
            Err(fragment::ReassemblyError::Decode(e)) => Err(e.into()),
            Err(e) => {
                self.drop_datagram(Some(sa.id), || format!("fragmented message dropped: {e}"));
                Ok(None)
            }
        }
    }

    /// Handles a kernel answer or event.
    pub fn handle_kernel(&mut self, now: Timestamp, event: KernelEvent) {
        match event {
            KernelEvent::SpiAllocated { id, spi } => {
                let allocation = self.spi_allocations.remove(&id);
                let wait = self.kernel_waits.remove(&id);
                let target = match wait {
                    Some((ike, KernelWait::Spi(child))) if self.sas.contains_key(&ike) => {
                        Some((ike, child))
                    }
                    _ => None,
                };
                let Some((ike, child)) = target else {
                    // Nobody waits for this SPI any more (the IKE SA or the negotiation went
                    // away meanwhile): delete the larval SA the kernel created for it.
                    if let Some((child, src, dst)) = allocation {
                        self.kernel_requests.push_back(KernelRequest::DeleteSa {
                            child,
                            src,
                            dst,
                            spi,
                        });
                    }
                    return;
                };
                let Some(mut sa) = self.sas.remove(&ike) else {
                    return;
                };
                let fate = self.on_spi(now, &mut sa, child, Ok(spi));
                self.finish(now, sa, fate);
            }
            KernelEvent::Installed { id } | KernelEvent::InstallFailed { id, .. } => {
                let failure = match &event {
                    KernelEvent::InstallFailed { reason, .. } => Some(reason.clone()),
                    _ => None,
                };
                self.spi_allocations.remove(&id);
                let Some((ike, wait)) = self.kernel_waits.remove(&id) else {
                    return;
                };
                let Some(mut sa) = self.sas.remove(&ike) else {
                    return;
                };
                let fate = match wait {
                    KernelWait::Spi(child) => {
                        self.on_spi(now, &mut sa, child, Err(failure.unwrap_or_default()))
                    }
                    KernelWait::Install(child) => {
                        self.on_install_result(now, &mut sa, child, id, failure);
                        Fate::Keep
                    }
                };
                self.finish(now, sa, fate);
            }
            KernelEvent::Expire { spi, dst, hard } => {
                let Some(child) = self.by_kernel_spi.get(&(dst, spi)).copied() else {
                    return;
                };
                let Some(ike) = self.children.get(&child).copied() else {
                    return;
                };
                let Some(sa) = self.sas.get_mut(&ike) else {
                    return;
                };
                let state = sa.child(child).map(|c| c.state);
                if state != Some(super::sa::ChildState::Installed) && !hard {
                    return;
                }
                if hard {
                    sa.tasks.push_front(Task::DeleteChild(child));
                    engine_log!(
                        self,
                        Some(ike),
                        LogGroup::Knl,
                        "hard expire of CHILD_SA {{{}}} in {}",
                        child.0,
                        sa.log_name()
                    );
                } else {
                    sa.tasks.push_back(Task::RekeyChild(child));
                }
                self.kick(now, ike);
            }
            KernelEvent::Acquire { reqid } => {
                engine_log!(
                    self,
                    None,
                    LogGroup::Knl,
                    "ignoring acquire for reqid {reqid}: trap policies are not supported"
                );
            }
        }
    }

    /// Runs expired timers.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some(key) = self.timers.pop_expired(now) {
            match key {
                TimerKey::Retransmit(id) => self.on_retransmit_timer(now, id),
                TimerKey::HalfOpen(id) => {
                    if self
                        .sas
                        .get(&id)
                        .is_some_and(|sa| !sa.phase.is_established())
                        && let Some(sa) = self.sas.remove(&id)
                    {
                        engine_log!(
                            self,
                            Some(id),
                            LogGroup::Ike,
                            "half-open {} timed out, deleting",
                            sa.log_name()
                        );
                        self.destroy(sa, DownReason::Timeout);
                    }
                }
                TimerKey::Dpd(id) => {
                    if let Some(sa) = self.sas.get_mut(&id)
                        && sa.phase.is_established()
                    {
                        let delay = sa.config.dpd_delay;
                        if now.saturating_since(sa.last_received) >= delay {
                            if !sa.tasks.iter().any(|t| matches!(t, Task::Dpd)) {
                                sa.tasks.push_back(Task::Dpd);
                            }
                            self.kick(now, id);
                        } else {
                            let at = sa.last_received.saturating_add(delay);
                            self.timers.schedule(TimerKey::Dpd(id), at);
                        }
                    }
                }
                TimerKey::IkeRekey(id) => {
                    if let Some(sa) = self.sas.get_mut(&id)
                        && sa.phase.is_established()
                    {
                        sa.tasks.push_back(Task::RekeyIke);
                        self.kick(now, id);
                    }
                }
                TimerKey::RetryChildRekey(child) => {
                    if let Some(ike) = self.children.get(&child).copied()
                        && let Some(sa) = self.sas.get_mut(&ike)
                    {
                        sa.tasks.push_back(Task::RekeyChild(child));
                        self.kick(now, ike);
                    }
                }
                TimerKey::NatKeepalive(id) => self.send_nat_keepalive(now, id),
                TimerKey::KernelAnswer(id) => self.on_kernel_answer_timeout(now, id),
                TimerKey::Crossing(id) => self.on_crossing_timer(now, id),
                TimerKey::RekeyedCleanup(id) => {
                    if let Some(sa) = self.sas.remove(&id) {
                        self.destroy(sa, DownReason::Rekeyed);
                    }
                }
                TimerKey::MessageIdsExhausted(id) => self.close_exhausted(id),
            }
        }
    }

    fn on_retransmit_timer(&mut self, now: Timestamp, id: IkeSaId) {
        let Some(mut sa) = self.sas.remove(&id) else {
            return;
        };
        let Some(out) = sa.outstanding.as_mut() else {
            self.sas.insert(id, sa);
            return;
        };
        if out.retransmits >= self.settings.retransmit_tries {
            let tries = out.retransmits;
            engine_log!(
                self,
                Some(id),
                LogGroup::Ike,
                "giving up after {tries} retransmits"
            );
            let established = sa.phase.is_established() || matches!(sa.phase, Phase::Rekeyed);
            if !established {
                self.events.push_back(Event::IkeFailed {
                    sa: id,
                    name: sa.config.name.clone(),
                    reason: format!("peer did not respond (gave up after {tries} retransmits)"),
                    peer_silent: true,
                });
            }
            engine_log!(
                self,
                Some(id),
                LogGroup::Ike,
                "{} declared dead, deleting",
                sa.log_name()
            );
            self.destroy(sa, DownReason::Timeout);
            return;
        }
        out.retransmits = out.retransmits.saturating_add(1);
        let n = out.retransmits;
        let mid = out.message_id;
        let datagrams = out.datagrams.clone();
        self.stats.retransmits = self.stats.retransmits.saturating_add(1);
        engine_log!(
            self,
            Some(id),
            LogGroup::Ike,
            "retransmit {n} of request with message ID {mid}"
        );
        for bytes in datagrams {
            self.transmits.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                bytes,
            });
        }
        let at = now.saturating_add(self.retransmit_delay(n));
        self.timers.schedule(TimerKey::Retransmit(id), at);
        self.sas.insert(id, sa);
    }

    /// strongSwan: timeout * base^n after the n-th retransmission.
    pub(crate) fn retransmit_delay(&self, retransmits: u32) -> Duration {
        let exp = i32::try_from(retransmits).unwrap_or(i32::MAX);
        self.settings
            .retransmit_timeout
            .mul_f64(self.settings.retransmit_base.powi(exp))
    }

    // ----- shared helpers used by the exchanges ---------------------------------------------

    /// Puts an SA back (or destroys it) and starts queued work.
    pub(crate) fn finish(&mut self, now: Timestamp, sa: Box<IkeSa>, fate: Fate) {
        let id = sa.id;
        match fate {
            Fate::Keep => {
                self.sas.insert(id, sa);
                self.kick(now, id);
            }
            Fate::Destroy(reason) => self.destroy(sa, reason),
        }
    }

    /// Removes every trace of an SA: timers, indexes, kernel state of its children.
    pub(crate) fn destroy(&mut self, mut sa: Box<IkeSa>, reason: DownReason) {
        let id = sa.id;
        for key in [
            TimerKey::Retransmit(id),
            TimerKey::HalfOpen(id),
            TimerKey::Dpd(id),
            TimerKey::IkeRekey(id),
            TimerKey::RekeyedCleanup(id),
            TimerKey::NatKeepalive(id),
            TimerKey::KernelAnswer(id),
            TimerKey::Crossing(id),
        ] {
            self.timers.cancel(key);
        }
        if self.by_spi.get(&sa.our_spi()) == Some(&id) {
            self.by_spi.remove(&sa.our_spi());
        }
        self.unindex_contact(&sa);
        if !sa.initiator {
            if self.by_initiator.get(&(sa.spi_i, sa.remote)) == Some(&id) {
                self.by_initiator.remove(&(sa.spi_i, sa.remote));
            }
            self.release_half_open(&mut sa);
        }
        // SPIs reserved for children still being negotiated by our requests.
        let mut reserved: Vec<(ChildSaId, u32)> = Vec::new();
        if let Phase::ExpectAuthResponse(st) = &sa.phase
            && let Some(nc) = &st.child
            && let Some(spi) = nc.spi_in
        {
            reserved.push((nc.id, spi));
        }
        if let Some(Outstanding {
            active: Active::CreateChild(nc),
            ..
        }) = &sa.outstanding
            && let Some(spi) = nc.spi_in
        {
            reserved.push((nc.id, spi));
        }
        for (child, spi) in reserved {
            self.kernel_requests.push_back(KernelRequest::DeleteSa {
                child,
                src: sa.remote.ip(),
                dst: sa.local.ip(),
                spi,
            });
        }
        let children: Vec<ChildSaId> = sa.children.iter().map(|c| c.id).collect();
        for child in children {
            self.remove_child(&mut sa, child, reason.clone());
        }
        self.kernel_waits.retain(|_, (ike, _)| *ike != id);
        let was_up = sa.phase.is_established();
        if was_up {
            engine_log!(
                self,
                Some(id),
                LogGroup::Ike,
                "IKE_SA {} deleted",
                sa.log_name()
            );
            self.events.push_back(Event::IkeDown { sa: id, reason });
        }
    }

    /// Sends the INFORMATIONAL that deletes `sa` itself (an empty IKE Delete payload).
    pub(crate) fn send_ike_delete(&mut self, now: Timestamp, sa: &mut IkeSa) {
        let payloads = vec![Payload::Delete {
            protocol: ProtocolId::IKE,
            spis: vec![],
        }];
        self.send_request(
            now,
            sa,
            ExchangeType::INFORMATIONAL,
            payloads,
            Active::DeleteIke,
        );
    }

    /// Sends a request now if the window is free, else leaves it to `kick`.
    pub(crate) fn send_request(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        exchange_type: ExchangeType,
        payloads: Vec<Payload>,
        active: Active,
    ) {
        let mid = sa.next_request_id;
        let Some(next) = mid.checked_add(1) else {
            self.message_ids_exhausted(sa);
            return;
        };
        sa.next_request_id = next;
        let header = Header {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            exchange: exchange_type,
            flags: if sa.initiator { Flags::INITIATOR } else { 0 },
            message_id: mid,
        };
        let msg = Message { header, payloads };
        let Some(datagrams) = self.encode(sa, &msg) else {
            return;
        };
        self.emit(sa, &msg, datagrams.clone());
        sa.outstanding = Some(Outstanding {
            message_id: mid,
            datagrams,
            retransmits: 0,
            active,
        });
        let at = now.saturating_add(self.retransmit_delay(0));
        self.timers.schedule(TimerKey::Retransmit(sa.id), at);
    }

    /// Sends a request whose answer we will not wait for (the SA is dropped right after),
    /// consuming a message ID; nothing is retransmitted.
    pub(crate) fn send_unacknowledged_request(
        &mut self,
        sa: &mut IkeSa,
        exchange_type: ExchangeType,
        payloads: Vec<Payload>,
    ) {
        let mid = sa.next_request_id;
        let Some(next) = mid.checked_add(1) else {
            self.message_ids_exhausted(sa);
            return;
        };
        sa.next_request_id = next;
        let header = Header {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            exchange: exchange_type,
            flags: if sa.initiator { Flags::INITIATOR } else { 0 },
            message_id: mid,
        };
        let msg = Message { header, payloads };
        if let Some(datagrams) = self.encode(sa, &msg) {
            self.emit(sa, &msg, datagrams);
        }
    }

    /// Sends (and caches for replay) the response to request `mid`.
    pub(crate) fn send_response(
        &mut self,
        sa: &mut IkeSa,
        mid: u32,
        exchange_type: ExchangeType,
        payloads: Vec<Payload>,
    ) {
        let header = Header {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            exchange: exchange_type,
            flags: Flags::RESPONSE | if sa.initiator { Flags::INITIATOR } else { 0 },
            message_id: mid,
        };
        let msg = Message { header, payloads };
        let Some(datagrams) = self.encode(sa, &msg) else {
            return;
        };
        self.emit(sa, &msg, datagrams.clone());
        sa.last_response = Some((mid, datagrams));
        match mid.checked_add(1) {
            Some(next) => sa.expected_request_id = next,
            None => self.message_ids_exhausted(sa),
        }
    }

    /// Encodes a message for `sa`: protected (and split into SKF fragments when the peer
    /// supports them and it is too large) once keys exist, plain for IKE_SA_INIT.
    fn encode(&mut self, sa: &mut IkeSa, msg: &Message) -> Option<Vec<Vec<u8>>> {
        let limit = (sa.fragmentation.peer_supported
            && sa.config.fragmentation == crate::config::Fragmentation::Yes)
            .then(|| Limit::new(self.settings.fragment_size, sa.local, sa.remote));
        let result = match (&mut sa.crypto, msg.header.exchange) {
            (Some(c), ex) if ex != ExchangeType::IKE_SA_INIT => {
                let aead = crate::suite::is_aead(c.suite.encr.id);
                let (encr, integ) = if sa.initiator {
                    (&c.keys.sk_ei, &c.keys.sk_ai)
                } else {
                    (&c.keys.sk_er, &c.keys.sk_ar)
                };
                let keys = SkKeys {
                    suite: &c.suite,
                    encr,
                    integ,
                };
                let mut iv_source = IvSource {
                    aead,
                    counter: &mut c.iv_counter,
                    exhausted: false,
                    rng: self.rng.as_mut(),
                };
                let sealed = fragment::encode_protected(msg, &keys, limit, &mut iv_source);
                if iv_source.exhausted {
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Enc,
                        "generating message failed: AEAD IV counter exhausted"
                    );
                    return None;
                }
                sealed
            }
            _ => message::encode(msg, None).map(|bytes| fragment::Sealed {
                message_len: bytes.len(),
                datagrams: vec![bytes],
            }),
        };
        match result {
            Ok(sealed) => {
                if sealed.datagrams.len() > 1 {
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Enc,
                        "splitting IKE message ({} bytes) into {} fragments",
                        sealed.message_len,
                        sealed.datagrams.len()
                    );
                }
                Some(sealed.datagrams)
            }
            Err(e) => {
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Enc,
                    "generating message failed: {e}"
                );
                None
            }
        }
    }

    fn emit(&mut self, sa: &IkeSa, msg: &Message, datagrams: Vec<Vec<u8>>) {
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Enc,
            "generating {}",
            msg.summary()
        );
        let total = datagrams.len();
        for (number, bytes) in (1..).zip(datagrams) {
            if total > 1 {
                let dir = if msg.header.is_response() {
                    "response"
                } else {
                    "request"
                };
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Enc,
                    "generating {} {dir} {} [ EF({number}/{total}) ]",
                    msg.header.exchange,
                    msg.header.message_id
                );
            }
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Net,
                "sending packet: from {} to {} ({} bytes)",
                fmt_addr(sa.local),
                fmt_addr(sa.remote),
                bytes.len()
            );
            self.transmits.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                bytes,
            });
        }
    }

    /// Sends a datagram not tied to an SA (stateless responses).
    pub(crate) fn transmit_raw(&mut self, local: SocketAddr, remote: SocketAddr, msg: &Message) {
        if let Ok(bytes) = message::encode(msg, None) {
            engine_log!(self, None, LogGroup::Enc, "generating {}", msg.summary());
            self.transmits.push_back(Transmit {
                local,
                remote,
                bytes,
            });
        }
    }

    /// Starts the next queued task if no request is outstanding.
    pub(crate) fn kick(&mut self, now: Timestamp, id: IkeSaId) {
        let Some(mut sa) = self.sas.remove(&id) else {
            return;
        };
        let mut fate = Fate::Keep;
        // Nothing of ours starts while we hold a response for the kernel (as charon, which
        // handles one exchange at a time): an IKE rekey would move the installing child to
        // the new SA while the response still belongs to this one.
        while sa.outstanding.is_none()
            && sa.pending_send.is_none()
            && sa.parked.is_none()
            && sa.phase.is_established()
        {
            let Some(task) = sa.tasks.pop_front() else {
                break;
            };
            fate = self.start_task(now, &mut sa, task);
            if fate != Fate::Keep {
                break;
            }
        }
        match fate {
            Fate::Keep => {
                self.sas.insert(id, sa);
            }
            Fate::Destroy(reason) => self.destroy(sa, reason),
        }
    }

    pub(crate) fn rearm_dpd(&mut self, now: Timestamp, sa: &IkeSa) {
        if sa.phase.is_established() && !sa.config.dpd_delay.is_zero() {
            self.timers.schedule(
                TimerKey::Dpd(sa.id),
                now.saturating_add(sa.config.dpd_delay),
            );
        }
    }

    pub(crate) fn kernel_request(
        &mut self,
        ike: IkeSaId,
        wait: Option<KernelWait>,
        make: impl FnOnce(KernelRequestId) -> KernelRequest,
    ) -> KernelRequestId {
        let id = KernelRequestId(self.next_kernel_id);
        // One per kernel request: 2^64 of them cannot happen, so this never saturates.
        self.next_kernel_id = self.next_kernel_id.saturating_add(1);
        if let Some(w) = wait {
            self.kernel_waits.insert(id, (ike, w));
        }
        self.kernel_requests.push_back(make(id));
        id
    }

    pub(crate) fn push_kernel(&mut self, req: KernelRequest) {
        self.kernel_requests.push_back(req);
    }

    pub(crate) fn push_transmit(&mut self, t: Transmit) {
        self.transmits.push_back(t);
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// Whether records of `group` are wanted (`engine_log!` reads the field itself so that its
    /// arguments may borrow an SA out of `self.sas`).
    #[inline]
    pub(crate) fn logs(&self, group: LogGroup) -> bool {
        self.log_groups.contains(group)
    }

    /// Queues a record. Call through `engine_log!`, which skips the formatting (and this call)
    /// when the group is off.
    pub(crate) fn log(&mut self, sa: Option<IkeSaId>, group: LogGroup, message: String) {
        self.events.push_back(Event::Log { sa, group, message });
    }

    /// Counts a dropped datagram and logs why; `why` runs only when `[ENC]` is logged.
    pub(crate) fn drop_datagram(&mut self, sa: Option<IkeSaId>, why: impl FnOnce() -> String) {
        self.stats.dropped = self.stats.dropped.saturating_add(1);
        if self.logs(LogGroup::Enc) {
            let why = why();
            self.log(sa, LogGroup::Enc, why);
        }
    }

    /// The next IKE SA id, or `None` once all are used: ids are never reused (a peer could
    /// otherwise make one SA's id name another's), so the last one is never handed out.
    pub(crate) fn new_ike_id(&mut self) -> Option<IkeSaId> {
        let id = IkeSaId(self.next_ike_id);
        self.next_ike_id = self.next_ike_id.checked_add(1)?;
        Some(id)
    }

    /// Makes the next CHILD_SA id at least `at_least` (resumed children keep theirs).
    pub(crate) fn raise_next_child_id(&mut self, at_least: u32) {
        self.next_child_id = self.next_child_id.max(at_least);
    }

    /// The next CHILD_SA id (also a kernel reqid), or `None` once all are used, as
    /// [`Engine::new_ike_id`].
    pub(crate) fn new_child_id(&mut self) -> Option<ChildSaId> {
        let id = ChildSaId(self.next_child_id);
        self.next_child_id = self.next_child_id.checked_add(1)?;
        Some(id)
    }

    pub(crate) fn random_spi(&mut self) -> u64 {
        loop {
            let mut b = [0u8; 8];
            self.rng.fill(&mut b);
            let spi = u64::from_be_bytes(b);
            if spi != 0 && !self.by_spi.contains_key(&spi) {
                return spi;
            }
        }
    }

    pub(crate) fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.rng.fill(&mut b);
        b
    }

    pub(crate) fn random_jitter(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        let mut b = [0u8; 8];
        self.rng.fill(&mut b);
        let frac = (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
        max.mul_f64(frac)
    }
}

/// `192.168.50.1[500]`, as charon prints endpoints.
pub(crate) fn fmt_addr(a: SocketAddr) -> String {
    format!("{}[{}]", a.ip(), a.port())
}

#[cfg(test)]
mod tests {
    #[test]
    fn engine_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<super::Engine>();
    }
}
