//! The sans-IO IKEv2 engine: public API.
//!
//! Contract (quinn-proto style): the caller feeds inputs and drains outputs.
//!
//! Inputs:
//! * [`Engine::handle_datagram`] — a UDP payload received on `local` from `remote`;
//! * [`Engine::handle_kernel`] — the result of a [`KernelRequest`] or a kernel event (expire);
//! * [`Engine::handle_timeout`] — call when the time returned by [`Engine::poll_timeout`] has come;
//! * commands: [`Engine::initiate`], [`Engine::create_child`], [`Engine::rekey_child`],
//!   [`Engine::rekey_ike`], [`Engine::terminate_child`], [`Engine::terminate_ike`].
//!
//! Outputs, drained after every input until `None`:
//! * [`Engine::poll_transmit`] — datagrams to send;
//! * [`Engine::poll_kernel`] — abstract kernel requests (the daemon maps them to XFRM and
//!   answers each one carrying a [`KernelRequestId`] with a [`KernelEvent`]);
//! * [`Engine::poll_event`] — state changes and charon-style log records (of the groups
//!   [`Engine::set_log_groups`] enables, all by default; the text of a disabled group is never
//!   built);
//! * [`Engine::poll_timeout`] — the next deadline.
//!
//! Kernel bookkeeping: every SPI reserved with [`KernelRequest::AllocateSpi`] ends up either as
//! the inbound SA of an installed child or released with [`KernelRequest::DeleteSa`] (same
//! source, destination and SPI) — on every failure path, including an SPI that arrives after its
//! negotiation was abandoned — and everything added is deleted when its SA goes away.
//!
//! A responder sends the IKE_AUTH or CREATE_CHILD_SA response accepting a CHILD_SA only once
//! every install request of that child has been answered; if the kernel refused one, the
//! response carries NO_PROPOSAL_CHOSEN instead of the child (as charon), so the peer never
//! holds a child we do not. Answers may come late (in request order); a request left
//! unanswered for 10 s refuses the child.
//!
//! Time ([`Timestamp`]) and randomness ([`RandomSource`]) are inputs: the engine never reads a
//! clock or the OS. Every IKE SA is identified by a unique [`IkeSaId`] (charon's `[n]`), every
//! CHILD_SA by a [`ChildSaId`] (charon's `{n}`, also used as the kernel reqid).
//!
//! Peers' messages reach every submodule, so outside tests the engine denies `unwrap`,
//! `expect`, `panic!`, indexing and unchecked arithmetic, as the wire codec does. Counters
//! never wrap: message IDs close their IKE SA when used up (RFC 7296 2.2), SA ids are refused
//! when used up ([`crate::error::ProtocolError::IdsExhausted`]), the AEAD IV counter refuses
//! to seal, statistics saturate.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

/// `engine_log!(engine, sa, group, "format", args...)`: queues an [`Event::Log`] of `group`,
/// building the text (and evaluating the format arguments, such as `sa.log_name()` or
/// `msg.summary()`) only when the engine's filter ([`Engine::set_log_groups`]) has the group on.
/// A macro rather than a closure-taking method so the arguments may borrow what a `&mut self`
/// call would conflict with. Defined before the submodules so that they can use it.
macro_rules! engine_log {
    ($engine:expr, $sa:expr, $group:expr, $($fmt:tt)+) => {{
        let group: $crate::engine::LogGroup = $group;
        // The field, not `Engine::logs`: a disjoint borrow, so the arguments may still use an
        // SA borrowed mutably out of `self.sas`.
        if $engine.log_groups.contains(group) {
            let message = ::std::format!($($fmt)+);
            $engine.log($sa, group, message);
        }
    }};
}

mod auth;
mod contact_index;
mod contacts;
mod core;
mod crossing;
mod crossing_book;
mod dos;
mod dos_state;
mod exchange;
mod fragment;
mod message_ids;
mod reuse;
mod revocation;
mod sa;
mod snapshot;
mod stale;
mod terminate;
mod unknown_spi;

use std::net::{IpAddr, SocketAddr};

pub use self::auth::{AuthContext, AuthVerified, Authenticator, PskAuthenticator};
pub use self::core::{Engine, InitiateOptions};
pub use self::crossing::GRACE as CROSSING_GRACE;
pub use self::reuse::Started;
pub use self::snapshot::{
    AdoptedChild, Restored, Snapshot, SnapshotError, VERSION as SNAPSHOT_VERSION,
    validate as validate_snapshot,
};
pub use self::stale::StaleSa;
use crate::config::{HwOffload, Mode};
use crate::proposal::{Proposal, Transform};
pub use crate::suite::RandomSource;
use crate::suite::Secret;
pub use crate::time::Timestamp;
use crate::ts::TrafficSelector;

/// Unique id of an IKE SA (charon's `BFL-BFR[1]`); never reused by one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId(pub u32);

/// Unique id of a CHILD_SA (charon's `bf{1}`); also the reqid of its kernel state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildSaId(pub u32);

/// Correlates a [`KernelRequest`] with its [`KernelEvent`] answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelRequestId(pub u64);

/// A datagram to send: an IKE message or, when `bytes` is exactly [`NAT_KEEPALIVE`], an
/// RFC 3948 NAT keepalive (which goes out without the non-ESP marker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our address (source).
    pub local: SocketAddr,
    /// The peer's address (destination).
    pub remote: SocketAddr,
    /// The IKE message.
    pub bytes: Vec<u8>,
}

pub use crate::wire::nat_t::NAT_KEEPALIVE;

/// Direction of an SA or policy, seen from this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Traffic arriving for this host.
    In,
    /// Traffic leaving this host.
    Out,
    /// Traffic forwarded through this host.
    Fwd,
}

/// Lifetimes handed to the kernel (soft = rekey trigger, hard = expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KernelLifetimes {
    /// Soft expiry in seconds after add (0 = none).
    pub soft_secs: u64,
    /// Hard expiry in seconds after add (0 = none).
    pub hard_secs: u64,
    /// Soft byte limit (0 = none).
    pub soft_bytes: u64,
    /// Hard byte limit (0 = none).
    pub hard_bytes: u64,
    /// Soft packet limit (0 = none).
    pub soft_packets: u64,
    /// Hard packet limit (0 = none).
    pub hard_packets: u64,
}

/// Everything needed to install one ESP SA.
#[derive(Debug, Clone, PartialEq)]
pub struct SaInstall {
    /// The CHILD_SA.
    pub child: ChildSaId,
    /// Kernel reqid linking the SA to its policies (kept across CHILD_SA rekeys).
    pub reqid: u32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// SPI (network byte order value).
    pub spi: u32,
    /// Encryption transform (id and key length).
    pub encr: Transform,
    /// Encryption key (with the 4-octet salt appended for AES-GCM).
    pub encr_key: Secret,
    /// Integrity transform id (0 for AEAD).
    pub integ: u16,
    /// Integrity key (empty for AEAD).
    pub integ_key: Secret,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Replay window (strongSwan default 32).
    pub replay_window: u32,
    /// Mode.
    pub mode: Mode,
    /// Local traffic selectors (the SA's selector in transport mode).
    pub local_ts: Vec<TrafficSelector>,
    /// Remote traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// Kernel lifetimes derived from `rekey_*`, `life_*`, `rand_*`.
    pub lifetimes: KernelLifetimes,
    /// Offload as configured.
    pub hw_offload: HwOffload,
    /// UDP encapsulation (ESP-in-UDP, RFC 3948) when a NAT was detected or `encap = yes`:
    /// the outer UDP (source, destination) ports of this SA's packets.
    pub encap: Option<(u16, u16)>,
    /// The child's marks and interface ids as configured (resolved by the kernel side).
    pub marks: crate::marks::ChildMarks,
}

/// One IPsec policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInstall {
    /// The CHILD_SA that installed it.
    pub child: ChildSaId,
    /// Kernel reqid of the template.
    pub reqid: u32,
    /// Direction.
    pub direction: Direction,
    /// Source selector.
    pub src_ts: TrafficSelector,
    /// Destination selector.
    pub dst_ts: TrafficSelector,
    /// Template source (outer) address.
    pub tmpl_src: IpAddr,
    /// Template destination (outer) address.
    pub tmpl_dst: IpAddr,
    /// Mode.
    pub mode: Mode,
    /// Offload as configured (packet offload also offloads policies).
    pub hw_offload: HwOffload,
}

/// An abstract kernel request; the daemon translates it (XFRM netlink).
#[derive(Debug, Clone, PartialEq)]
pub enum KernelRequest {
    /// Reserve an inbound SPI (`XFRM_MSG_ALLOCSPI`); answer with [`KernelEvent::SpiAllocated`].
    AllocateSpi {
        /// Correlation id.
        id: KernelRequestId,
        /// CHILD_SA it is for.
        child: ChildSaId,
        /// Peer (source of inbound traffic).
        src: IpAddr,
        /// This host (destination of inbound traffic).
        dst: IpAddr,
    },
    /// Add an SA; answer with [`KernelEvent::Installed`] or [`KernelEvent::InstallFailed`].
    AddSa {
        /// Correlation id.
        id: KernelRequestId,
        /// The SA.
        sa: Box<SaInstall>,
    },
    /// Add a policy; answer with [`KernelEvent::Installed`] or [`KernelEvent::InstallFailed`].
    AddPolicy {
        /// Correlation id.
        id: KernelRequestId,
        /// The policy.
        policy: PolicyInstall,
    },
    /// Delete an SA (no answer needed).
    DeleteSa {
        /// CHILD_SA it belonged to.
        child: ChildSaId,
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// SPI.
        spi: u32,
    },
    /// Delete a policy (no answer needed).
    DeletePolicy {
        /// The policy as it was installed.
        policy: PolicyInstall,
    },
}

/// Kernel results and events fed back to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// An [`KernelRequest::AllocateSpi`] succeeded.
    SpiAllocated {
        /// The request.
        id: KernelRequestId,
        /// The reserved SPI.
        spi: u32,
    },
    /// An add request succeeded.
    Installed {
        /// The request.
        id: KernelRequestId,
    },
    /// A request failed.
    InstallFailed {
        /// The request.
        id: KernelRequestId,
        /// Human-readable reason (netlink error, missing offload support, ...).
        reason: String,
    },
    /// An SA reached its soft (rekey) or hard (delete) lifetime.
    Expire {
        /// SPI of the SA.
        spi: u32,
        /// Its destination address.
        dst: IpAddr,
        /// Hard expiry.
        hard: bool,
    },
    /// The kernel wants an SA for a trap policy (reqid); not yet acted upon.
    Acquire {
        /// reqid of the policy.
        reqid: u32,
    },
}

/// Why an SA went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// Deleted by us (command).
    Local,
    /// Deleted by the peer.
    Peer,
    /// Replaced by a rekeyed SA.
    Rekeyed,
    /// Retransmissions exhausted (peer dead).
    Timeout,
    /// Hard lifetime reached.
    Expired,
    /// Negotiation or installation failed.
    Failed(String),
    /// Destroyed because the same peer identity authenticated a new IKE SA with
    /// INITIAL_CONTACT (it lost this one): no Delete was exchanged, and, as in charon, this is
    /// not the peer closing the SA (no `close_action`).
    Replaced,
}

/// Log groups as charon prints them (`[IKE]`, `[ENC]`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogGroup {
    /// `[IKE]`.
    Ike,
    /// `[ENC]`.
    Enc,
    /// `[NET]`.
    Net,
    /// `[CFG]`.
    Cfg,
    /// `[CHD]`.
    Chd,
    /// `[KNL]`.
    Knl,
}

impl LogGroup {
    /// Every group, in declaration order.
    pub const ALL: [LogGroup; 6] = [
        LogGroup::Ike,
        LogGroup::Enc,
        LogGroup::Net,
        LogGroup::Cfg,
        LogGroup::Chd,
        LogGroup::Knl,
    ];

    /// This group's bit in [`LogGroups`].
    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The three-letter tag.
    pub fn tag(self) -> &'static str {
        match self {
            LogGroup::Ike => "IKE",
            LogGroup::Enc => "ENC",
            LogGroup::Net => "NET",
            LogGroup::Cfg => "CFG",
            LogGroup::Chd => "CHD",
            LogGroup::Knl => "KNL",
        }
    }
}

/// A set of [`LogGroup`]s: which groups the engine builds [`Event::Log`] records for (see
/// [`Engine::set_log_groups`]). A bitset, so the per-record check costs one AND.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogGroups(u8);

impl LogGroups {
    /// No group: the engine builds no log text at all.
    pub const NONE: LogGroups = LogGroups(0);
    /// Every group (the engine's default).
    pub const ALL: LogGroups = {
        let mut bits = 0;
        let mut rest: &[LogGroup] = &LogGroup::ALL;
        while let [group, tail @ ..] = rest {
            bits |= group.bit();
            rest = tail;
        }
        LogGroups(bits)
    };

    /// Whether `group` is in the set.
    #[inline]
    pub const fn contains(self, group: LogGroup) -> bool {
        self.0 & group.bit() != 0
    }

    /// The set with `group` added.
    #[must_use]
    pub const fn with(self, group: LogGroup) -> LogGroups {
        LogGroups(self.0 | group.bit())
    }

    /// The set with `group` removed.
    #[must_use]
    pub const fn without(self, group: LogGroup) -> LogGroups {
        LogGroups(self.0 & !group.bit())
    }

    /// Adds or removes `group`.
    pub fn set(&mut self, group: LogGroup, on: bool) {
        *self = if on {
            self.with(group)
        } else {
            self.without(group)
        };
    }

    /// The groups in the set, in [`LogGroup::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = LogGroup> {
        LogGroup::ALL.into_iter().filter(move |g| self.contains(*g))
    }
}

impl FromIterator<LogGroup> for LogGroups {
    fn from_iter<I: IntoIterator<Item = LogGroup>>(iter: I) -> Self {
        iter.into_iter().fold(LogGroups::NONE, LogGroups::with)
    }
}

impl std::fmt::Debug for LogGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(LogGroup::tag))
            .finish()
    }
}

/// Output of the engine for the control plane.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An IKE_AUTH waits for these CRLs: fetch them (off the event loop), put what was fetched
    /// and when to try again into the credentials, then call [`Engine::crls_fetched`].
    FetchCrls {
        /// The waiting SA.
        sa: IkeSaId,
        /// `http://` URIs.
        uris: Vec<String>,
    },
    /// An IKE SA is established.
    IkeUp {
        /// The SA.
        sa: IkeSaId,
        /// Connection name.
        name: String,
        /// Our IKE endpoint.
        local: SocketAddr,
        /// The peer's IKE endpoint.
        remote: SocketAddr,
    },
    /// An IKE SA failed to establish.
    IkeFailed {
        /// The SA.
        sa: IkeSaId,
        /// Connection name.
        name: String,
        /// Reason.
        reason: String,
        /// The peer never answered (retransmissions exhausted while connecting): the only
        /// failure charon retries under `keyingtries`; a refusal is final.
        peer_silent: bool,
    },
    /// An established IKE SA went away.
    IkeDown {
        /// The SA.
        sa: IkeSaId,
        /// Reason.
        reason: DownReason,
    },
    /// An IKE SA was replaced by `new`.
    IkeRekeyed {
        /// Old SA.
        old: IkeSaId,
        /// New SA.
        new: IkeSaId,
    },
    /// A CHILD_SA is installed and usable.
    ChildUp {
        /// IKE SA.
        ike: IkeSaId,
        /// The CHILD_SA.
        child: ChildSaId,
        /// Child config name.
        name: String,
        /// Our inbound SPI.
        spi_in: u32,
        /// Our outbound SPI.
        spi_out: u32,
        /// Local selectors.
        local_ts: Vec<TrafficSelector>,
        /// Remote selectors.
        remote_ts: Vec<TrafficSelector>,
    },
    /// A CHILD_SA could not be established (the IKE SA survives).
    ChildFailed {
        /// IKE SA.
        ike: IkeSaId,
        /// Child config name.
        name: String,
        /// Reason.
        reason: String,
    },
    /// A CHILD_SA went away.
    ChildDown {
        /// IKE SA.
        ike: IkeSaId,
        /// The CHILD_SA.
        child: ChildSaId,
        /// Reason.
        reason: DownReason,
    },
    /// A CHILD_SA was replaced by `new`.
    ChildRekeyed {
        /// IKE SA.
        ike: IkeSaId,
        /// Old CHILD_SA.
        old: ChildSaId,
        /// New CHILD_SA.
        new: ChildSaId,
    },
    /// A log record, printed by the daemon as `[TAG] message`.
    Log {
        /// IKE SA it concerns.
        sa: Option<IkeSaId>,
        /// Group.
        group: LogGroup,
        /// Text.
        message: String,
    },
}

/// Counters for tests and `ikectl` statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Requests retransmitted.
    pub retransmits: u64,
    /// Cached responses replayed for retransmitted requests.
    pub replayed_responses: u64,
    /// Datagrams dropped (malformed, out of window, unknown SPI, failed integrity).
    pub dropped: u64,
    /// COOKIE challenges sent.
    pub cookies_sent: u64,
    /// IKE_SA_INIT requests refused because of the half-open limit.
    pub half_open_refused: u64,
}

/// How [`Event::ChildFailed`]'s reason starts when the kernel refused the child's SAs or
/// policies (rather than a negotiation being refused); the kernel's text follows.
pub const CHILD_KERNEL_REFUSAL: &str = "kernel refused to install the CHILD_SA";

/// A snapshot of one CHILD_SA for tests and status output (no key material).
#[derive(Debug, Clone, PartialEq)]
pub struct ChildInfo {
    /// Id.
    pub id: ChildSaId,
    /// Config name.
    pub name: String,
    /// Inbound SPI.
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// Local selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// Remote selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// Installed in the kernel and usable.
    pub installed: bool,
    /// Its ESP is UDP-encapsulated (NAT-T).
    pub encap: bool,
    /// The negotiated proposal (one transform per type; its key exchange method when the
    /// child was created or rekeyed with one, none for a child of IKE_AUTH).
    pub proposal: Proposal,
    /// The reqid of its kernel SAs and policies (kept across rekeys, unlike `id`).
    pub reqid: u32,
    /// Its mode, from the configuration it was created with (which a reload may have
    /// removed since).
    pub mode: Mode,
}

/// A snapshot of one IKE SA.
#[derive(Debug, Clone, PartialEq)]
pub struct IkeInfo {
    /// Id.
    pub id: IkeSaId,
    /// Connection name.
    pub name: String,
    /// Initiator SPI.
    pub spi_i: u64,
    /// Responder SPI.
    pub spi_r: u64,
    /// Whether we are the original initiator.
    pub initiator: bool,
    /// Established.
    pub established: bool,
    /// Selected IKE proposal, once negotiated (`IKE:AES_CBC_128/...`).
    pub proposal: Option<String>,
    /// Our IKE endpoint (port 4500 once moved there for NAT-T).
    pub local: SocketAddr,
    /// The peer's IKE endpoint as we see it (behind a NAT: its public mapping).
    pub remote: SocketAddr,
    /// We are behind a NAT (charon's `nat-local`).
    pub nat_local: bool,
    /// The peer is behind a NAT (`nat-remote`).
    pub nat_remote: bool,
    /// UDP encapsulation forced by `encap = yes` without a NAT (`nat-fake`).
    pub nat_fake: bool,
    /// Our identity as sent in IDi/IDr (charon's `local-id`).
    pub local_id: String,
    /// The peer's authenticated identity, once IKE_AUTH verified it (charon's `remote-id`).
    pub remote_id: Option<String>,
    /// Children.
    pub children: Vec<ChildInfo>,
}
