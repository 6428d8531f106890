//! The exchanges: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA (new child, CHILD_SA rekey, IKE SA
//! rekey) and INFORMATIONAL (delete, liveness), for both roles; CHILD_SA installation and
//! rollback.
//!
//! Contract: every handler gets the IKE SA it concerns by `&mut` (taken out of the engine's
//! table) and returns its [`Fate`]. Protocol failures become a [`ProtocolError`] and, for
//! requests, the notify chosen by [`crate::error::notify_for`].

mod child;
#[cfg(test)]
mod exhaustion_tests;
mod ike_auth;
mod init;
#[cfg(test)]
mod pfs_tests;
mod tasks;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::auth::{AuthContext, Authenticator, PskAuthenticator};
use super::core::{Engine, Fate, KernelWait, TimerKey};
use super::sa::{
    Active, Child, ChildState, Established, ExpectAuthRequest, ExpectAuthResponse,
    ExpectSaInitResponse, HeldResponse, IkeCrypto, IkeSa, InitMaterial, Installed, NewChild,
    Parked, ParkedChild, ParkedKind, Phase, Task, kernel_lifetimes,
};
use super::{
    ChildSaId, Direction, DownReason, Event, IkeSaId, KernelRequest, KernelRequestId, LogGroup,
    PolicyInstall, SaInstall,
};
use crate::config::{ChildConfig, Fragmentation, Identity, IkeConfig, Mode, find_psk};
use crate::error::{ProtocolError, notify_for};
use crate::message::{self, Header, Message, Notify, Payload};
use crate::proposal::{Proposal, select};
use crate::suite::{self, ChildKeys, KeyExchange, Secret};
use crate::time::Timestamp;
use crate::ts::{TrafficSelector, narrow, narrow_to_host, resolve};
use crate::wire::{ExchangeType, Flags, NotifyType, ProtocolId, TransformType};

/// Minimum delay before retrying a rekey refused with TEMPORARY_FAILURE (up to twice this).
const REKEY_RETRY_MIN: Duration = Duration::from_secs(5);

/// How long a responder keeps an IKE SA replaced by a rekey if the peer never deletes it.
const REKEYED_CLEANUP: Duration = Duration::from_secs(30);

/// How long a held response waits for the kernel (an SPI, or the answers to a child's
/// install requests) before the child is refused anyway. The daemon answers within the same
/// input today; this only bounds a backend that never does, well before the peer gives up
/// retransmitting its request (charon: about 165 s).
pub(crate) const KERNEL_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

fn find_payload<'a, T>(msg: &'a Message, f: impl Fn(&'a Payload) -> Option<T>) -> Option<T> {
    msg.payloads.iter().find_map(f)
}

fn sa_payload(msg: &Message) -> Option<&Vec<Proposal>> {
    find_payload(msg, |p| {
        if let Payload::Sa(v) = p {
            Some(v)
        } else {
            None
        }
    })
}

fn nonce_payload(msg: &Message) -> Option<&Vec<u8>> {
    find_payload(msg, |p| {
        if let Payload::Nonce(n) = p {
            Some(n)
        } else {
            None
        }
    })
}

fn ke_payload(msg: &Message) -> Option<(u16, &Vec<u8>)> {
    find_payload(msg, |p| {
        if let Payload::Ke { group, data } = p {
            Some((*group, data))
        } else {
            None
        }
    })
}

/// IDi (`initiator`) or IDr.
fn id_payload(msg: &Message, initiator: bool) -> Option<&Identity> {
    find_payload(msg, |p| match p {
        Payload::IdI(i) if initiator => Some(i),
        Payload::IdR(i) if !initiator => Some(i),
        _ => None,
    })
}

/// AUTH: (method, data).
fn auth_payload(msg: &Message) -> Option<(u8, &Vec<u8>)> {
    find_payload(msg, |p| match p {
        Payload::Auth { method, data } => Some((*method, data)),
        _ => None,
    })
}

fn ts_payloads(msg: &Message) -> Option<(&Vec<TrafficSelector>, &Vec<TrafficSelector>)> {
    let i = find_payload(msg, |p| {
        if let Payload::TsI(v) = p {
            Some(v)
        } else {
            None
        }
    })?;
    let r = find_payload(msg, |p| {
        if let Payload::TsR(v) = p {
            Some(v)
        } else {
            None
        }
    })?;
    Some((i, r))
}

fn spi32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// NAT detection hash: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 2.23), from `iked_crypto`
/// (the one SHA-1 of the workspace).
fn nat_hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    iked_crypto::hash::nat_detection_hash(
        &spi_i.to_be_bytes(),
        &spi_r.to_be_bytes(),
        addr.ip(),
        addr.port(),
    )
    .to_vec()
}

/// SIGNATURE_HASH_ALGORITHMS data: SHA2-256, SHA2-384, SHA2-512, Identity (RFC 7427/8420).
const HASH_ALGORITHMS: [u8; 8] = [0, 2, 0, 3, 0, 4, 0, 5];

fn numbered(mut proposals: Vec<Proposal>, spi: &[u8]) -> Vec<Proposal> {
    for (i, p) in proposals.iter_mut().enumerate() {
        p.number = u8::try_from(i.saturating_add(1)).unwrap_or(u8::MAX);
        p.spi = spi.to_vec();
    }
    proposals
}

/// Whether `chosen` (a peer's single answer) is one of `ours`: each transform must be offered.
fn accept_answer(ours: &[Proposal], chosen: &Proposal) -> bool {
    ours.iter().any(|p| {
        p.protocol == chosen.protocol
            && chosen.transforms.iter().all(|t| p.transforms.contains(t))
            && chosen
                .transforms
                .iter()
                .any(|t| t.kind == TransformType::ENCR)
    })
}

/// Selects for a CREATE_CHILD_SA, where a key exchange may take place: as [`select`], but a
/// proposal of ours that names key exchange methods only matches a peer proposal naming one
/// of them (charon selects without `PROPOSAL_SKIP_KE` there), so PFS is never negotiated away.
fn select_pfs(ours: &[Proposal], theirs: &[Proposal]) -> Option<Proposal> {
    ours.iter().find_map(|mine| {
        let needs_ke = mine.of_kind(TransformType::KE).next().is_some();
        theirs.iter().find_map(|peer| {
            select(std::slice::from_ref(mine), std::slice::from_ref(peer))
                .filter(|p| !needs_ke || p.of_kind(TransformType::KE).next().is_some())
        })
    })
}

/// Whether `chosen`, a peer's answer to our CREATE_CHILD_SA, is one of `ours` and keeps its
/// key exchange: an answer without a method only fits a proposal of ours without one.
fn accept_child_answer(ours: &[Proposal], chosen: &Proposal) -> bool {
    let chosen_ke = chosen.of_kind(TransformType::KE).next().is_some();
    ours.iter().any(|p| {
        accept_answer(std::slice::from_ref(p), chosen)
            && p.of_kind(TransformType::KE).next().is_some() == chosen_ke
    })
}

/// Restricts proposals to those offering `group`, with `group` as their only KE transform.
fn restrict_ke(proposals: &[Proposal], group: u16) -> Vec<Proposal> {
    proposals
        .iter()
        .filter(|p| p.of_kind(TransformType::KE).any(|t| t.id == group))
        .map(|p| {
            let mut p = p.clone();
            p.transforms
                .retain(|t| t.kind != TransformType::KE || t.id == group);
            p
        })
        .collect()
}

/// Selects with a KE payload present: prefer proposals using the peer's group; if only
/// another group would work, that is INVALID_KE_PAYLOAD with the group we want.
fn select_with_ke(
    ours: &[Proposal],
    theirs: &[Proposal],
    group: u16,
) -> Result<Proposal, ProtocolError> {
    if let Some(p) = select(&restrict_ke(ours, group), &restrict_ke(theirs, group)) {
        return Ok(p);
    }
    match select(ours, theirs).and_then(|p| p.selected()) {
        Some(s) if s.ke != 0 => Err(ProtocolError::InvalidKe {
            offered: group,
            wanted: s.ke,
        }),
        _ => Err(ProtocolError::NoProposalChosen),
    }
}

/// How well proposed selectors match configured ones: 3 per exact match, 2 per proposed
/// selector inside a configured one, 1 per overlap.
fn ts_match_score(proposed: &[TrafficSelector], configured: &[TrafficSelector]) -> u32 {
    let mut score = 0u32;
    for p in proposed {
        let best = configured
            .iter()
            .map(|c| {
                if p == c {
                    3
                } else if p.intersect(c).as_ref() == Some(p) {
                    2
                } else if p.intersect(c).is_some() {
                    1
                } else {
                    0
                }
            })
            .max()
            .unwrap_or(0);
        score = score.saturating_add(best);
    }
    score
}

/// The TSi/TSr an initiator proposes for a new child: the configured selectors with `dynamic`
/// resolved to the IKE SA's current addresses (charon's `get_dynamic_hosts`), narrowed to the
/// IKE hosts in transport mode (see [`narrow_to_host`]).
fn proposed_ts(
    cfg: &ChildConfig,
    local: IpAddr,
    remote: IpAddr,
) -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
    let (l, r) = (
        resolve(&cfg.local_ts, local),
        resolve(&cfg.remote_ts, remote),
    );
    match cfg.mode {
        Mode::Transport => (narrow_to_host(&l, local), narrow_to_host(&r, remote)),
        Mode::Tunnel => (l, r),
    }
}

/// `a/32[udp] b/32`, as charon lists selectors.
fn fmt_ts_list(list: &[TrafficSelector]) -> String {
    list.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn min_nonce<'a>(a: &'a [u8], b: &'a [u8]) -> &'a [u8] {
    if a <= b { a } else { b }
}

impl Engine {
    /// Reports that `sa` failed before it was established (a refusal, not a silent peer) and
    /// has it destroyed.
    pub(super) fn ike_failed(&mut self, sa: &IkeSa, reason: String) -> Fate {
        self.event(Event::IkeFailed {
            sa: sa.id,
            name: sa.config.name.clone(),
            reason: reason.clone(),
            peer_silent: false,
        });
        Fate::Destroy(DownReason::Failed(reason))
    }
}

/// Puts the child that `successor` was about to replace back in service: a CHILD_SA whose
/// rekey failed (install refused, or the new child deleted) stays up until it expires, as in
/// charon, and can be rekeyed again.
fn keep_predecessor(sa: &mut IkeSa, successor: ChildSaId) {
    for old in sa
        .children
        .iter_mut()
        .filter(|o| o.replaced_by == Some(successor))
    {
        old.replaced_by = None;
        if matches!(old.state, ChildState::Rekeying | ChildState::Rekeyed) {
            old.state = ChildState::Installed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthConfig, ChildLifetimes, HwOffload, Settings};
    use crate::suite::ChildKeys;

    struct Zero;
    impl crate::suite::RandomSource for Zero {
        fn fill(&mut self, buf: &mut [u8]) {
            buf.fill(7);
        }
    }

    fn child_config() -> ChildConfig {
        ChildConfig {
            name: "c".into(),
            local_ts: vec![TrafficSelector::host("10.0.0.1".parse().unwrap()).into()],
            remote_ts: vec![TrafficSelector::host("10.0.0.2".parse().unwrap()).into()],
            esp_proposals: vec![Proposal::parse(ProtocolId::ESP, "aes128gcm128").unwrap()],
            mode: Mode::Transport,
            hw_offload: HwOffload::No,
            policies_fwd_out: false,
            lifetimes: ChildLifetimes::default(),
            marks: Default::default(),
        }
    }

    fn ike_sa(engine: &mut Engine) -> IkeSa {
        let config = Arc::new(IkeConfig {
            name: "t".into(),
            local_addrs: vec![],
            remote_addrs: vec![],
            local_ranges: vec![],
            remote_ranges: vec![],
            local_names: vec![],
            remote_names: vec![],
            local: AuthConfig {
                method: crate::config::AuthMethod::Psk,
                id: None,
            },
            remote: AuthConfig {
                method: crate::config::AuthMethod::Psk,
                id: None,
            },
            proposals: vec![Proposal::parse(ProtocolId::IKE, "aes128-sha256-x25519").unwrap()],
            children: vec![Arc::new(child_config())],
            rekey_time: Duration::ZERO,
            over_time: Duration::ZERO,
            rand_time: Duration::ZERO,
            dpd_delay: Duration::ZERO,
            mobike: false,
            encap: false,
            fragmentation: Default::default(),
            unique: Default::default(),
        });
        IkeSa::new(
            engine.new_ike_id().unwrap(),
            config,
            (1, 2),
            (
                "10.0.0.1:500".parse().unwrap(),
                "10.0.0.2:500".parse().unwrap(),
            ),
            Identity::from_text("a"),
            Timestamp::ZERO,
        )
    }

    /// RFC 7296 2.17: KEYMAT's first keys protect traffic from the initiator of the exchange
    /// that created the CHILD_SA to its responder, whoever initiated the IKE SA.
    #[test]
    fn keymat_halves_map_to_directions_by_exchange_role() {
        for we_initiated in [true, false] {
            let mut engine = Engine::new(Settings::default(), vec![], vec![], Box::new(Zero));
            let mut sa = ike_sa(&mut engine);
            let id = engine.new_child_id().unwrap();
            let child = Child {
                id,
                config: Arc::new(child_config()),
                spi_in: 0x100,
                spi_out: 0x200,
                local_ts: vec![TrafficSelector::host("10.0.0.1".parse().unwrap())],
                remote_ts: vec![TrafficSelector::host("10.0.0.2".parse().unwrap())],
                proposal: child_config().esp_proposals[0].without_ke(),
                state: ChildState::Installing,
                pending: Vec::new(),
                installed: Vec::new(),
                nonces: (vec![], vec![]),
                we_initiated,
                reqid: id.0,
                peer_knows: true,
                replaced_by: None,
            };
            let keys = ChildKeys {
                encr_i: Secret::new(vec![0x1; 20]),
                integ_i: Secret::default(),
                encr_r: Secret::new(vec![0x2; 20]),
                integ_r: Secret::default(),
            };
            engine.install_child(Timestamp::ZERO, &mut sa, child, keys, None);
            let mut out_key = None;
            let mut in_key = None;
            while let Some(req) = engine.poll_kernel() {
                if let KernelRequest::AddSa { sa: s, .. } = req {
                    match s.direction {
                        Direction::Out => out_key = Some(s.encr_key.expose().to_vec()),
                        Direction::In => in_key = Some(s.encr_key.expose().to_vec()),
                        Direction::Fwd => {}
                    }
                }
            }
            let (initiator_to_responder, responder_to_initiator) = (vec![0x1; 20], vec![0x2; 20]);
            if we_initiated {
                assert_eq!(out_key.unwrap(), initiator_to_responder);
                assert_eq!(in_key.unwrap(), responder_to_initiator);
            } else {
                assert_eq!(out_key.unwrap(), responder_to_initiator);
                assert_eq!(in_key.unwrap(), initiator_to_responder);
            }
        }
    }
}
