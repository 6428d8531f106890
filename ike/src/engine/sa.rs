//! Per-SA state: IKE SAs with their typed phases, and CHILD_SAs with their kernel state.
//!
//! Contract: an [`IkeSa`] is in exactly one [`Phase`]. Each phase holds only the data it needs;
//! the established phase can only be built by [`Established::new`], which consumes the
//! [`AuthVerified`] proof. Message-ID bookkeeping (window of one in each direction) lives in
//! [`IkeSa`] so every exchange shares it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{AuthVerified, ChildSaId, IkeSaId, KernelLifetimes, KernelRequestId, PolicyInstall};
use crate::config::{ChildConfig, ChildLifetimes, Identity, IkeConfig};
use crate::message::Message;
use crate::proposal::{Proposal, Selected};
use crate::suite::{IkeKeys, KeyExchange, Secret};
use crate::time::Timestamp;
use crate::ts::TrafficSelector;

/// Negotiated IKE SA crypto.
pub(crate) struct IkeCrypto {
    pub proposal: Proposal,
    pub suite: Selected,
    pub keys: IkeKeys,
    /// Counter for unique AEAD IVs.
    pub iv_counter: u64,
}

/// What both IKE_AUTH sides need from IKE_SA_INIT.
pub(crate) struct InitMaterial {
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// Initiator's IKE_SA_INIT request bytes (as sent / received).
    pub request: Vec<u8>,
    /// Responder's IKE_SA_INIT response bytes.
    pub response: Vec<u8>,
}

/// Initiator, waiting for the IKE_SA_INIT response.
pub(crate) struct ExpectSaInitResponse {
    pub ke: KeyExchange,
    pub ni: Vec<u8>,
    pub cookie: Option<Vec<u8>>,
    pub request: Vec<u8>,
    pub retries: u32,
}

/// Initiator, IKE_AUTH request sent (or waiting for its CHILD SPI first).
pub(crate) struct ExpectAuthResponse {
    pub init: InitMaterial,
    pub child: Option<NewChild>,
}

/// Responder, waiting for the IKE_AUTH request.
pub(crate) struct ExpectAuthRequest {
    pub init: InitMaterial,
}

/// An authenticated IKE SA.
pub(crate) struct Established {
    _proof: AuthVerified,
}

impl Established {
    /// The only way into the established phase.
    pub fn new(proof: AuthVerified) -> Self {
        Established { _proof: proof }
    }
}

/// Phases of an IKE SA.
pub(crate) enum Phase {
    ExpectSaInitResponse(Box<ExpectSaInitResponse>),
    ExpectAuthResponse(Box<ExpectAuthResponse>),
    ExpectAuthRequest(Box<ExpectAuthRequest>),
    Established(Established),
    /// Replaced by a rekeyed IKE SA (which took over the authentication proof); only its
    /// delete remains to be exchanged.
    Rekeyed,
    /// Transient placeholder while a handler owns the previous phase.
    Transition,
}

impl Phase {
    pub fn is_established(&self) -> bool {
        matches!(self, Phase::Established(_))
    }
}

/// A CHILD_SA being negotiated by us (as initiator of the exchange).
pub(crate) struct NewChild {
    pub id: ChildSaId,
    pub config: Arc<ChildConfig>,
    pub spi_in: Option<u32>,
    pub ni: Vec<u8>,
    pub ke: Option<KeyExchange>,
    /// Set when this replaces an existing child (CHILD_SA rekey).
    pub rekey_of: Option<ChildSaId>,
    /// Already retried with the method an INVALID_KE_PAYLOAD asked for (only once, as charon).
    pub ke_retried: bool,
}

/// Kernel state of a CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// Install requests outstanding.
    Installing,
    /// Installed and usable.
    Installed,
    /// Being rekeyed by an exchange we started.
    Rekeying,
    /// Replaced; waiting for its delete to complete.
    Rekeyed,
    /// Being deleted.
    Deleting,
    /// Install failed and was rolled back.
    Failed,
}

/// An item installed (or being installed) in the kernel for a child.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Installed {
    Sa {
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        spi: u32,
    },
    Policy(PolicyInstall),
}

/// A negotiated CHILD_SA.
pub(crate) struct Child {
    pub id: ChildSaId,
    pub config: Arc<ChildConfig>,
    pub spi_in: u32,
    pub spi_out: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub proposal: Proposal,
    pub state: ChildState,
    /// Install requests outstanding.
    pub pending: Vec<(KernelRequestId, Installed)>,
    /// What is in the kernel (for rollback and delete).
    pub installed: Vec<Installed>,
    /// Nonces of the exchange that created it (for rekey collision resolution).
    pub nonces: (Vec<u8>, Vec<u8>),
    /// We initiated the exchange that created it (decides which KEYMAT half is inbound).
    pub we_initiated: bool,
    /// Kernel reqid, shared by all generations of a rekeyed child (and their policies).
    pub reqid: u32,
    /// The peer knows about this child (it was in a completed exchange).
    pub peer_knows: bool,
    /// Set on the old child once a rekey created its replacement.
    pub replaced_by: Option<ChildSaId>,
}

/// A request we want to send once the window is free.
#[derive(Debug, Clone)]
pub(crate) enum Task {
    CreateChild(Arc<ChildConfig>),
    RekeyChild(ChildSaId),
    RekeyIke,
    DeleteChild(ChildSaId),
    /// Ask the peer to delete a child it created but we rejected (mode, selectors, proposal);
    /// `spi` is our inbound SPI, which the peer uses outbound.
    DeleteRejectedChild {
        name: String,
        spi: u32,
    },
    DeleteIke,
    Dpd,
}

/// The exchange our outstanding request belongs to.
pub(crate) enum Active {
    SaInit,
    Auth,
    CreateChild(Box<NewChild>),
    RekeyIke {
        ke: KeyExchange,
        ni: Vec<u8>,
        new_spi: u64,
        proposals: Vec<Proposal>,
    },
    DeleteChildren(Vec<ChildSaId>),
    DeleteRejectedChild,
    DeleteIke,
    Dpd,
}

/// An outstanding request.
pub(crate) struct Outstanding {
    pub message_id: u32,
    /// The request as sent: one datagram, or all its SKF fragments (retransmitted together).
    pub datagrams: Vec<Vec<u8>>,
    pub retransmits: u32,
    pub active: Active,
}

/// A request we are answering but cannot answer before the kernel replies (SPI allocation).
pub(crate) struct Parked {
    pub message_id: u32,
    pub kind: ParkedKind,
}

pub(crate) enum ParkedKind {
    /// IKE_AUTH response with a child.
    Auth(Box<ParkedChild>),
    /// CREATE_CHILD_SA response.
    CreateChild(Box<ParkedChild>),
    /// A response accepting a child, held until the kernel has answered every install
    /// request of that child: as charon, we only tell the peer about a child our kernel took.
    Install(Box<HeldResponse>),
}

/// A responder's IKE_AUTH or CREATE_CHILD_SA response waiting for its child's install.
pub(crate) struct HeldResponse {
    /// IKE_AUTH or CREATE_CHILD_SA.
    pub exchange: crate::wire::ExchangeType,
    /// The child being installed.
    pub child: ChildSaId,
    /// The response as it goes out once the child is installed.
    pub accept: Vec<crate::message::Payload>,
    /// How many leading payloads of `accept` stay in the refusal (IDr, CERT, AUTH of
    /// IKE_AUTH: the IKE SA is established either way); the error notify replaces the rest.
    pub keep_on_refusal: usize,
    /// The notify a refusal carries, set by the first failed request: charon answers
    /// NO_PROPOSAL_CHOSEN when the SAs cannot be installed and TS_UNACCEPTABLE when only
    /// the policies fail (child_create.c).
    pub refusal: Option<crate::wire::NotifyType>,
}

/// Responder side of a child negotiation, waiting for its SPI.
pub(crate) struct ParkedChild {
    pub id: ChildSaId,
    pub config: Arc<ChildConfig>,
    pub proposal: Proposal,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub shared: Option<Secret>,
    pub ke_public: Option<(u16, Vec<u8>)>,
    pub rekey_of: Option<ChildSaId>,
    /// Payloads to put before the child's (IDr, AUTH for IKE_AUTH).
    pub prefix: Vec<crate::message::Payload>,
    pub transport: bool,
}

/// What NAT detection (RFC 7296 2.23) found in IKE_SA_INIT; strongSwan's `COND_NAT_*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NatState {
    /// We are behind a NAT (the peer's destination hash did not match our address): we send
    /// keepalives.
    pub here: bool,
    /// The peer is behind a NAT (its source hash did not match where its packet came from):
    /// we follow its address and port changes.
    pub there: bool,
    /// No NAT, but `encap = yes` here: UDP encapsulation is forced.
    pub fake: bool,
}

impl NatState {
    /// ESP must be UDP-encapsulated and IKE runs on the NAT-T port.
    pub fn any(self) -> bool {
        self.here || self.there || self.fake
    }
}

/// One IKE SA.
pub(crate) struct IkeSa {
    pub id: IkeSaId,
    pub config: Arc<IkeConfig>,
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub phase: Phase,
    pub crypto: Option<IkeCrypto>,
    pub local_id: Identity,
    pub remote_id: Option<Identity>,
    /// Message ID of our next request.
    pub next_request_id: u32,
    pub outstanding: Option<Outstanding>,
    /// Waiting for an SPI before the outstanding request can be sent.
    pub pending_send: Option<Active>,
    /// Message ID we expect for the peer's next request.
    pub expected_request_id: u32,
    /// Our last response (one datagram or its fragments), replayed if the peer retransmits
    /// its request.
    pub last_response: Option<(u32, Vec<Vec<u8>>)>,
    /// RFC 7383: whether the peer takes fragments, and its fragmented messages in reassembly.
    pub fragmentation: super::fragment::FragmentState,
    pub parked: Option<Parked>,
    /// An IKE_AUTH message set aside until CRLs are fetched (`engine/revocation.rs`).
    pub awaiting_crls: Option<Box<AwaitingCrls>>,
    pub tasks: VecDeque<Task>,
    pub children: Vec<Child>,
    pub last_received: Timestamp,
    /// Children to create once established (initiator).
    pub queued_children: Vec<Arc<ChildConfig>>,
    /// Counted in the engine's half-open total (responder before IKE_AUTH completes).
    pub half_open: bool,
    /// The source address `half_open` is counted against (per-address limits).
    pub half_open_from: Option<std::net::IpAddr>,
    /// NAT detection result; moves IKE to the NAT-T port and encapsulates ESP when any.
    pub nat: NatState,
}

impl IkeSa {
    /// A new IKE SA in the transitional phase, as the original initiator (the responder
    /// clears `initiator` and sets `half_open`), before any message was exchanged.
    pub fn new(
        id: IkeSaId,
        config: Arc<IkeConfig>,
        (spi_i, spi_r): (u64, u64),
        (local, remote): (SocketAddr, SocketAddr),
        local_id: Identity,
        now: Timestamp,
    ) -> IkeSa {
        IkeSa {
            id,
            config,
            initiator: true,
            spi_i,
            spi_r,
            local,
            remote,
            phase: Phase::Transition,
            crypto: None,
            local_id,
            remote_id: None,
            next_request_id: 0,
            outstanding: None,
            pending_send: None,
            expected_request_id: 0,
            last_response: None,
            fragmentation: Default::default(),
            parked: None,
            awaiting_crls: None,
            tasks: VecDeque::new(),
            children: Vec::new(),
            last_received: now,
            queued_children: Vec::new(),
            half_open: false,
            half_open_from: None,
            nat: NatState::default(),
        }
    }

    /// Our SPI (the one the peer addresses us by).
    pub fn our_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    /// `BFL-BFR[1]`.
    pub fn log_name(&self) -> String {
        format!("{}[{}]", self.config.name, self.id.0)
    }

    pub fn child_mut(&mut self, id: ChildSaId) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.id == id)
    }

    pub fn child(&self, id: ChildSaId) -> Option<&Child> {
        self.children.iter().find(|c| c.id == id)
    }
}

/// Kernel lifetimes for a child, strongSwan style: soft = rekey_time minus a jitter in
/// [0, rand_time], hard = life_time (bytes and packets alike, without jitter).
pub(crate) fn kernel_lifetimes(l: &ChildLifetimes, jitter: Duration) -> KernelLifetimes {
    let soft = if l.rekey_time.is_zero() {
        0
    } else {
        l.rekey_time
            .saturating_sub(jitter.min(l.rand_time))
            .as_secs()
            .max(1)
    };
    KernelLifetimes {
        soft_secs: soft,
        hard_secs: l.life_time.as_secs(),
        soft_bytes: l.rekey_bytes,
        hard_bytes: l.life_bytes,
        soft_packets: l.rekey_packets,
        hard_packets: l.life_packets,
    }
}

/// The set-aside IKE_AUTH message of an SA.
#[derive(Debug)]
pub(crate) struct AwaitingCrls {
    /// The message (a request when we respond, a response when we initiated).
    pub(super) msg: Message,
    /// Whether `msg` is the peer's request (we are the responder).
    pub(super) request: bool,
}

impl AwaitingCrls {
    /// Whether a retransmitted request with this message ID is the one set aside.
    pub(crate) fn waits_for(&self, message_id: u32) -> bool {
        self.request && self.msg.header.message_id == message_id
    }
}
