//! The exchanges: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA (new child, CHILD_SA rekey, IKE SA
//! rekey) and INFORMATIONAL (delete, liveness), for both roles; CHILD_SA installation and
//! rollback.
//!
//! Contract: every handler gets the IKE SA it concerns by `&mut` (taken out of the engine's
//! table) and returns its [`Fate`]. Protocol failures become a [`ProtocolError`] and, for
//! requests, the notify chosen by [`crate::error::notify_for`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::auth::{AuthContext, Authenticator, PskAuthenticator};
use super::core::{Engine, Fate, KernelWait, TimerKey};
use super::sa::{
    Active, Child, ChildState, Established, ExpectAuthRequest, ExpectAuthResponse,
    ExpectSaInitResponse, IkeCrypto, IkeSa, InitMaterial, Installed, NewChild, Parked, ParkedChild,
    ParkedKind, Phase, Task, kernel_lifetimes,
};
use super::{
    ChildSaId, Direction, DownReason, Event, IkeSaId, KernelRequest, KernelRequestId, LogGroup,
    PolicyInstall, SaInstall,
};
use crate::config::{ChildConfig, Identity, IkeConfig, Mode, find_psk};
use crate::error::{ProtocolError, notify_for};
use crate::message::{Header, Message, Notify, Payload, exchange, flags, notify};
use crate::proposal::{Proposal, protocol, select, transform_type};
use crate::suite::{self, KeyExchange, Secret};
use crate::time::Timestamp;
use crate::ts::{TrafficSelector, narrow, narrow_to_host};

/// Minimum delay before retrying a rekey refused with TEMPORARY_FAILURE (up to twice this).
const REKEY_RETRY_MIN: Duration = Duration::from_secs(5);

/// How long a responder keeps an IKE SA replaced by a rekey if the peer never deletes it.
const REKEYED_CLEANUP: Duration = Duration::from_secs(30);

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

/// NAT detection hash: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 2.23).
fn nat_hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    let mut data = Vec::with_capacity(34);
    data.extend_from_slice(&spi_i.to_be_bytes());
    data.extend_from_slice(&spi_r.to_be_bytes());
    match addr.ip() {
        std::net::IpAddr::V4(a) => data.extend_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => data.extend_from_slice(&a.octets()),
    }
    data.extend_from_slice(&addr.port().to_be_bytes());
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &data)
        .as_ref()
        .to_vec()
}

/// SIGNATURE_HASH_ALGORITHMS data: SHA2-256, SHA2-384, SHA2-512, Identity (RFC 7427/8420).
const HASH_ALGORITHMS: [u8; 8] = [0, 2, 0, 3, 0, 4, 0, 5];

fn numbered(mut proposals: Vec<Proposal>, spi: &[u8]) -> Vec<Proposal> {
    for (i, p) in proposals.iter_mut().enumerate() {
        p.number = u8::try_from(i + 1).unwrap_or(u8::MAX);
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
                .any(|t| t.kind == transform_type::ENCR)
    })
}

/// Restricts proposals to those offering `group`, with `group` as their only KE transform.
fn restrict_ke(proposals: &[Proposal], group: u16) -> Vec<Proposal> {
    proposals
        .iter()
        .filter(|p| p.of_kind(transform_type::KE).any(|t| t.id == group))
        .map(|p| {
            let mut p = p.clone();
            p.transforms
                .retain(|t| t.kind != transform_type::KE || t.id == group);
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
    let mut score = 0;
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
        score += best;
    }
    score
}

/// The TSi/TSr an initiator proposes for a new child: the configured selectors, narrowed to
/// the IKE hosts in transport mode (see [`narrow_to_host`]).
fn proposed_ts(
    cfg: &ChildConfig,
    local: IpAddr,
    remote: IpAddr,
) -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
    match cfg.mode {
        Mode::Transport => (
            narrow_to_host(&cfg.local_ts, local),
            narrow_to_host(&cfg.remote_ts, remote),
        ),
        Mode::Tunnel => (cfg.local_ts.clone(), cfg.remote_ts.clone()),
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
    // ===== IKE_SA_INIT ========================================================================

    pub(crate) fn start_initiator(
        &mut self,
        now: Timestamp,
        config: Arc<IkeConfig>,
        local: SocketAddr,
        remote: SocketAddr,
        mut children: Vec<ChildConfig>,
    ) -> IkeSaId {
        let id = self.new_ike_id();
        let spi_i = self.random_spi();
        let group = config
            .proposals
            .first()
            .and_then(|p| p.ke_methods().first().copied())
            .unwrap_or(0);
        let ni = self.random_bytes(self.settings.nonce_len);
        let local_id = config
            .local
            .id
            .clone()
            .unwrap_or_else(|| Identity::from_addr(local.ip()));
        let ke = KeyExchange::generate(group, self.rng.as_mut());
        let first_children = std::mem::take(&mut children);
        let mut sa = IkeSa::new(
            id,
            config.clone(),
            (spi_i, 0),
            (local, remote),
            local_id,
            now,
        );
        sa.queued_children = first_children;
        self.log(
            Some(id),
            LogGroup::Ike,
            format!("initiating IKE_SA {} to {}", sa.log_name(), remote.ip()),
        );
        let ke = match ke {
            Ok(ke) => ke,
            Err(e) => {
                self.event(Event::IkeFailed {
                    sa: id,
                    name: config.name.clone(),
                    reason: e.to_string(),
                });
                return id;
            }
        };
        self.send_sa_init(now, &mut sa, ke, ni, None, 0);
        self.by_spi.insert(spi_i, id);
        self.sas.insert(id, sa);
        id
    }

    fn send_sa_init(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        ke: KeyExchange,
        ni: Vec<u8>,
        cookie: Option<Vec<u8>>,
        retries: u32,
    ) {
        let mut payloads = Vec::new();
        if let Some(c) = &cookie {
            // RFC 7296 2.6: the COOKIE notify must come first.
            payloads.push(Payload::Notify(Notify::new(notify::COOKIE, c.clone())));
        }
        payloads.push(Payload::Sa(numbered(sa.config.proposals.clone(), &[])));
        payloads.push(Payload::Ke {
            group: ke.group(),
            data: ke.public(),
        });
        payloads.push(Payload::Nonce(ni.clone()));
        payloads.push(Payload::Notify(Notify::new(
            notify::NAT_DETECTION_SOURCE_IP,
            nat_hash(sa.spi_i, 0, sa.local),
        )));
        payloads.push(Payload::Notify(Notify::new(
            notify::NAT_DETECTION_DESTINATION_IP,
            nat_hash(sa.spi_i, 0, sa.remote),
        )));
        payloads.push(Payload::Notify(Notify::new(
            notify::FRAGMENTATION_SUPPORTED,
            vec![],
        )));
        payloads.push(Payload::Notify(Notify::new(
            notify::SIGNATURE_HASH_ALGORITHMS,
            HASH_ALGORITHMS.to_vec(),
        )));
        payloads.push(Payload::Notify(Notify::new(
            notify::REDIRECT_SUPPORTED,
            vec![],
        )));
        // A retried IKE_SA_INIT (cookie, other group) starts again at message ID 0.
        sa.next_request_id = 0;
        self.send_request(now, sa, exchange::IKE_SA_INIT, payloads, Active::SaInit);
        let request = sa
            .outstanding
            .as_ref()
            .map(|o| o.bytes.clone())
            .unwrap_or_default();
        sa.phase = Phase::ExpectSaInitResponse(Box::new(ExpectSaInitResponse {
            ke,
            ni,
            cookie,
            request,
            retries,
        }));
    }

    pub(crate) fn on_sa_init_response(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        msg: Message,
        bytes: &[u8],
    ) -> Fate {
        let Phase::ExpectSaInitResponse(st) = std::mem::replace(&mut sa.phase, Phase::Transition)
        else {
            self.drop_datagram(Some(sa.id), "unexpected IKE_SA_INIT response".into());
            return Fate::Keep;
        };
        let st = *st;
        self.timers.cancel(TimerKey::Retransmit(sa.id));
        sa.outstanding = None;
        let fail = |e: &mut Engine, sa: &IkeSa, reason: String| {
            e.log(Some(sa.id), LogGroup::Ike, reason.clone());
            e.event(Event::IkeFailed {
                sa: sa.id,
                name: sa.config.name.clone(),
                reason: reason.clone(),
            });
            Fate::Destroy(DownReason::Failed(reason))
        };
        if st.retries >= 5 {
            return fail(self, sa, "too many IKE_SA_INIT retries".into());
        }
        if let Some(n) = msg.notify(notify::COOKIE) {
            if n.data.is_empty() || n.data.len() > 64 {
                return fail(self, sa, "invalid COOKIE notify".into());
            }
            self.log(
                Some(sa.id),
                LogGroup::Ike,
                "received COOKIE, retrying IKE_SA_INIT".into(),
            );
            let cookie = Some(n.data.clone());
            self.send_sa_init(now, sa, st.ke, st.ni, cookie, st.retries + 1);
            return Fate::Keep;
        }
        if let Some(n) = msg.notify(notify::INVALID_KE_PAYLOAD) {
            let wanted = n.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
            let offered = sa.config.proposals.iter().any(|p| {
                Some(p.ke_methods()).is_some_and(|m| wanted.is_some_and(|w| m.contains(&w)))
            });
            match wanted {
                Some(group) if offered && group != st.ke.group() => {
                    self.log(
                        Some(sa.id),
                        LogGroup::Ike,
                        format!(
                            "peer didn't accept DH group {}, it requested {group}",
                            st.ke.group()
                        ),
                    );
                    match KeyExchange::generate(group, self.rng.as_mut()) {
                        Ok(ke) => {
                            self.send_sa_init(now, sa, ke, st.ni, st.cookie, st.retries + 1);
                            return Fate::Keep;
                        }
                        Err(e) => return fail(self, sa, e.to_string()),
                    }
                }
                _ => {
                    return fail(
                        self,
                        sa,
                        "peer requested an unacceptable key exchange method".into(),
                    );
                }
            }
        }
        if let Some(n) = msg.error_notify() {
            return fail(
                self,
                sa,
                format!("received {} notify error", notify::short_name(n.kind)),
            );
        }
        match self.complete_sa_init(sa, st, &msg, bytes) {
            Ok(()) => {}
            Err(e) => return fail(self, sa, e.to_string()),
        }
        // IKE_AUTH next; the first child's inbound SPI must come from the kernel first.
        if sa.queued_children.is_empty() {
            self.send_auth(now, sa)
        } else {
            let cfg = sa.queued_children.remove(0);
            let child = self.new_child_id();
            self.log(
                Some(sa.id),
                LogGroup::Ike,
                format!("establishing CHILD_SA {}{{{}}}", cfg.name, child.0),
            );
            if let Phase::ExpectAuthResponse(st) = &mut sa.phase {
                st.child = Some(NewChild {
                    id: child,
                    config: cfg,
                    spi_in: None,
                    ni: Vec::new(),
                    ke: None,
                    rekey_of: None,
                });
            }
            self.allocate_spi(sa, child);
            sa.pending_send = Some(Active::Auth);
            Fate::Keep
        }
    }

    fn complete_sa_init(
        &mut self,
        sa: &mut IkeSa,
        st: ExpectSaInitResponse,
        msg: &Message,
        bytes: &[u8],
    ) -> Result<(), ProtocolError> {
        let props = sa_payload(msg).ok_or(ProtocolError::MissingPayload("SA"))?;
        let [chosen] = props.as_slice() else {
            return Err(ProtocolError::NoProposalChosen);
        };
        if !accept_answer(&sa.config.proposals, chosen) {
            return Err(ProtocolError::NoProposalChosen);
        }
        let suite_sel = chosen.selected().ok_or(ProtocolError::NoProposalChosen)?;
        let (group, data) = ke_payload(msg).ok_or(ProtocolError::MissingPayload("KE"))?;
        if group != st.ke.group() || suite_sel.ke != group {
            return Err(ProtocolError::InvalidKe {
                offered: group,
                wanted: st.ke.group(),
            });
        }
        let nr = nonce_payload(msg)
            .ok_or(ProtocolError::MissingPayload("Nonce"))?
            .clone();
        if msg.header.spi_r == 0 {
            return Err(ProtocolError::Malformed("zero responder SPI".into()));
        }
        sa.spi_r = msg.header.spi_r;
        let shared = st.ke.shared(data)?;
        let seed = suite::skeyseed(suite_sel.prf, &st.ni, &nr, &shared)?;
        let keys = suite::derive_ike_keys(&suite_sel, &seed, &st.ni, &nr, sa.spi_i, sa.spi_r)?;
        self.log(
            Some(sa.id),
            LogGroup::Cfg,
            format!("selected proposal: {}", chosen.describe()),
        );
        sa.crypto = Some(IkeCrypto {
            proposal: chosen.clone(),
            suite: suite_sel,
            keys,
            iv_counter: 0,
        });
        sa.next_request_id = 1;
        let init = InitMaterial {
            ni: st.ni,
            nr,
            request: st.request,
            response: bytes.to_vec(),
        };
        sa.phase = Phase::ExpectAuthResponse(Box::new(ExpectAuthResponse { init, child: None }));
        Ok(())
    }

    /// Stateless COOKIE value: version | HMAC-SHA256(secret, Ni | IPi | SPIi) (RFC 7296 2.6).
    fn cookie_for(&self, ni: &[u8], remote: SocketAddr, spi_i: u64) -> Vec<u8> {
        let ip = match remote.ip() {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mac = suite::prf(
            crate::proposal::prf::HMAC_SHA2_256,
            &self.cookie_secret,
            &[ni, &ip, &spi_i.to_be_bytes()],
        )
        .map(|s| s.expose().to_vec())
        .unwrap_or_default();
        let mut c = vec![0u8];
        c.extend_from_slice(&mac);
        c
    }

    fn stateless_reply(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        n: Notify,
    ) {
        let msg = Message {
            header: Header {
                spi_i: header.spi_i,
                spi_r: 0,
                exchange: exchange::IKE_SA_INIT,
                flags: flags::RESPONSE,
                message_id: 0,
            },
            payloads: vec![Payload::Notify(n)],
        };
        self.transmit_raw(local, remote, &msg);
    }

    pub(crate) fn respond_sa_init(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        bytes: &[u8],
    ) {
        if let Some(id) = self.by_initiator.get(&(header.spi_i, remote)).copied() {
            // A retransmitted IKE_SA_INIT: replay our response.
            if let Some(sa) = self.sas.get(&id)
                && let Some((0, resp)) = &sa.last_response
            {
                let t = super::Transmit {
                    local,
                    remote,
                    bytes: resp.clone(),
                };
                self.stats.replayed_responses += 1;
                self.push_transmit(t);
                return;
            }
            self.drop_datagram(Some(id), "IKE_SA_INIT retransmit while busy".into());
            return;
        }
        if header.message_id != 0 {
            self.drop_datagram(None, "IKE_SA_INIT request with non-zero message ID".into());
            return;
        }
        let msg = match crate::message::decode(bytes, None) {
            Ok(m) => m,
            Err(e) => {
                self.drop_datagram(None, format!("invalid IKE_SA_INIT request: {e}"));
                return;
            }
        };
        self.log(None, LogGroup::Enc, format!("parsed {}", msg.summary()));
        if self.half_open >= self.settings.half_open_limit {
            self.stats.half_open_refused += 1;
            self.drop_datagram(
                None,
                format!(
                    "ignoring IKE_SA_INIT from {}, half-open limit reached",
                    remote.ip()
                ),
            );
            return;
        }
        let Some(ni) = nonce_payload(&msg).cloned() else {
            self.stateless_reply(
                local,
                remote,
                header,
                Notify::new(notify::INVALID_SYNTAX, vec![]),
            );
            return;
        };
        if self.half_open >= self.settings.cookie_threshold {
            // No state for a request until the initiator proves it receives at its address.
            let expected = self.cookie_for(&ni, remote, header.spi_i);
            let presented = match msg.payloads.first() {
                Some(Payload::Notify(n)) if n.kind == notify::COOKIE => Some(&n.data),
                _ => None,
            };
            if presented.is_none_or(|c| !suite::ct_eq(c, &expected)) {
                self.stats.cookies_sent += 1;
                self.stateless_reply(local, remote, header, Notify::new(notify::COOKIE, expected));
                return;
            }
        }
        let Some(config) = self
            .connections
            .iter()
            .find(|c| {
                (c.local_addrs.is_empty() || c.local_addrs.contains(&local.ip()))
                    && (c.remote_addrs.is_empty() || c.remote_addrs.contains(&remote.ip()))
            })
            .cloned()
        else {
            self.log(
                None,
                LogGroup::Cfg,
                format!(
                    "no IKE config found for {}...{}, sending NO_PROPOSAL_CHOSEN",
                    local.ip(),
                    remote.ip()
                ),
            );
            self.stateless_reply(
                local,
                remote,
                header,
                Notify::new(notify::NO_PROPOSAL_CHOSEN, vec![]),
            );
            return;
        };
        self.log(
            None,
            LogGroup::Ike,
            format!("{} is initiating an IKE_SA", remote.ip()),
        );
        let (Some(theirs), Some((group, ke_data))) = (sa_payload(&msg), ke_payload(&msg)) else {
            self.stateless_reply(
                local,
                remote,
                header,
                Notify::new(notify::INVALID_SYNTAX, vec![]),
            );
            return;
        };
        let chosen = match select_with_ke(&config.proposals, theirs, group) {
            Ok(p) => p,
            Err(e) => {
                self.log(None, LogGroup::Ike, format!("{e}"));
                if let Some((kind, data)) = notify_for(&e) {
                    self.stateless_reply(local, remote, header, Notify::new(kind, data));
                }
                return;
            }
        };
        let Some(suite_sel) = chosen.selected() else {
            return;
        };
        let ke = match KeyExchange::generate(group, self.rng.as_mut()) {
            Ok(k) => k,
            Err(_) => {
                self.stateless_reply(
                    local,
                    remote,
                    header,
                    Notify::new(notify::NO_PROPOSAL_CHOSEN, vec![]),
                );
                return;
            }
        };
        let shared = match ke.shared(ke_data) {
            Ok(s) => s,
            Err(_) => {
                self.stateless_reply(
                    local,
                    remote,
                    header,
                    Notify::new(notify::INVALID_SYNTAX, vec![]),
                );
                return;
            }
        };
        let nr = self.random_bytes(self.settings.nonce_len);
        let spi_r = self.random_spi();
        let keys = match suite::skeyseed(suite_sel.prf, &ni, &nr, &shared).and_then(|seed| {
            suite::derive_ike_keys(&suite_sel, &seed, &ni, &nr, header.spi_i, spi_r)
        }) {
            Ok(k) => k,
            Err(_) => {
                self.stateless_reply(
                    local,
                    remote,
                    header,
                    Notify::new(notify::NO_PROPOSAL_CHOSEN, vec![]),
                );
                return;
            }
        };
        let id = self.new_ike_id();
        self.log(
            Some(id),
            LogGroup::Cfg,
            format!("selected proposal: {}", chosen.describe()),
        );
        let local_id = config
            .local
            .id
            .clone()
            .unwrap_or_else(|| Identity::from_addr(local.ip()));
        let mut sa = IkeSa::new(
            id,
            config,
            (header.spi_i, spi_r),
            (local, remote),
            local_id,
            now,
        );
        sa.initiator = false;
        sa.half_open = true;
        let payloads = vec![
            Payload::Sa(vec![chosen.clone()]),
            Payload::Ke {
                group,
                data: ke.public(),
            },
            Payload::Nonce(nr.clone()),
            Payload::Notify(Notify::new(
                notify::NAT_DETECTION_SOURCE_IP,
                nat_hash(sa.spi_i, spi_r, local),
            )),
            Payload::Notify(Notify::new(
                notify::NAT_DETECTION_DESTINATION_IP,
                nat_hash(sa.spi_i, spi_r, remote),
            )),
            Payload::Notify(Notify::new(notify::FRAGMENTATION_SUPPORTED, vec![])),
            Payload::Notify(Notify::new(
                notify::SIGNATURE_HASH_ALGORITHMS,
                HASH_ALGORITHMS.to_vec(),
            )),
            Payload::Notify(Notify::new(notify::CHILDLESS_IKEV2_SUPPORTED, vec![])),
            Payload::Notify(Notify::new(notify::MULTIPLE_AUTH_SUPPORTED, vec![])),
        ];
        self.send_response(&mut sa, 0, exchange::IKE_SA_INIT, payloads);
        let response = sa
            .last_response
            .as_ref()
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        sa.crypto = Some(IkeCrypto {
            proposal: chosen,
            suite: suite_sel,
            keys,
            iv_counter: 0,
        });
        sa.phase = Phase::ExpectAuthRequest(Box::new(ExpectAuthRequest {
            init: InitMaterial {
                ni,
                nr,
                request: bytes.to_vec(),
                response,
            },
        }));
        self.half_open += 1;
        self.by_spi.insert(spi_r, id);
        self.by_initiator.insert((header.spi_i, remote), id);
        self.timers.schedule(
            TimerKey::HalfOpen(id),
            now + self.settings.half_open_timeout,
        );
        self.sas.insert(id, sa);
    }

    // ===== IKE_AUTH ===========================================================================

    fn psk_for(&self, me: &Identity, other: &Identity) -> Result<Secret, ProtocolError> {
        find_psk(&self.secrets, me, other)
            .map(|s| Secret::new(s.to_vec()))
            .ok_or_else(|| ProtocolError::NoSharedKey {
                local: me.to_string(),
                remote: other.to_string(),
            })
    }

    fn send_auth(&mut self, now: Timestamp, sa: &mut IkeSa) -> Fate {
        let remote_id = sa
            .config
            .remote
            .id
            .clone()
            .unwrap_or_else(|| Identity::from_addr(sa.remote.ip()));
        let built = (|| -> Result<Vec<Payload>, ProtocolError> {
            let Phase::ExpectAuthResponse(st) = &sa.phase else {
                return Err(ProtocolError::Malformed("state".into()));
            };
            let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
            let psk = self.psk_for(&sa.local_id, &remote_id)?;
            let ctx = AuthContext {
                prf: c.suite.prf,
                init_message: &st.init.request,
                peer_nonce: &st.init.nr,
                sk_p: &c.keys.sk_pi,
                id: &sa.local_id,
            };
            let auth = PskAuthenticator::new(psk.expose());
            let data = auth.build(&ctx)?;
            let mut p = vec![Payload::IdI(sa.local_id.clone())];
            // Like charon: only when we hold no other IKE SA with this peer, since the peer
            // drops every other SA with us on INITIAL_CONTACT.
            let has_contact = self.sas.values().any(|o| {
                o.id != sa.id
                    && o.config.name == sa.config.name
                    && o.remote.ip() == sa.remote.ip()
                    && o.phase.is_established()
            });
            if !has_contact {
                p.push(Payload::Notify(Notify::new(
                    notify::INITIAL_CONTACT,
                    vec![],
                )));
            }
            if let Some(r) = &sa.config.remote.id {
                p.push(Payload::IdR(r.clone()));
            }
            p.push(Payload::Auth {
                method: auth.method(),
                data,
            });
            if let Some(nc) = &st.child
                && let Some(spi) = nc.spi_in
            {
                if nc.config.mode == Mode::Transport {
                    p.push(Payload::Notify(Notify::new(
                        notify::USE_TRANSPORT_MODE,
                        vec![],
                    )));
                }
                let props: Vec<Proposal> = nc
                    .config
                    .esp_proposals
                    .iter()
                    .map(Proposal::without_ke)
                    .collect();
                p.push(Payload::Sa(numbered(props, &spi.to_be_bytes())));
                let (tsi, tsr) = proposed_ts(&nc.config, sa.local.ip(), sa.remote.ip());
                p.push(Payload::TsI(tsi));
                p.push(Payload::TsR(tsr));
            }
            p.push(Payload::Notify(Notify::new(
                notify::MULTIPLE_AUTH_SUPPORTED,
                vec![],
            )));
            p.push(Payload::Notify(Notify::new(
                notify::EAP_ONLY_AUTHENTICATION,
                vec![],
            )));
            p.push(Payload::Notify(Notify::new(
                notify::MSG_ID_SYNC_SUPPORTED,
                vec![],
            )));
            Ok(p)
        })();
        match built {
            Ok(payloads) => {
                self.log(
                    Some(sa.id),
                    LogGroup::Ike,
                    format!(
                        "authentication of '{}' (myself) with pre-shared key",
                        sa.local_id
                    ),
                );
                self.send_request(now, sa, exchange::IKE_AUTH, payloads, Active::Auth);
                Fate::Keep
            }
            Err(e) => {
                self.log(Some(sa.id), LogGroup::Ike, e.to_string());
                self.event(Event::IkeFailed {
                    sa: sa.id,
                    name: sa.config.name.clone(),
                    reason: e.to_string(),
                });
                Fate::Destroy(DownReason::Failed(e.to_string()))
            }
        }
    }

    fn on_auth_response(&mut self, now: Timestamp, sa: &mut IkeSa, msg: Message) -> Fate {
        let Phase::ExpectAuthResponse(st) = std::mem::replace(&mut sa.phase, Phase::Transition)
        else {
            return Fate::Keep;
        };
        let st = *st;
        let verified = (|| -> Result<(super::AuthVerified, Identity), ProtocolError> {
            let (method, data) = find_payload(&msg, |p| {
                if let Payload::Auth { method, data } = p {
                    Some((*method, data))
                } else {
                    None
                }
            })
            .ok_or_else(|| {
                msg.error_notify()
                    .map_or(ProtocolError::MissingPayload("AUTH"), |n| {
                        ProtocolError::PeerNotify(n.kind)
                    })
            })?;
            let idr = find_payload(&msg, |p| {
                if let Payload::IdR(i) = p {
                    Some(i.clone())
                } else {
                    None
                }
            })
            .ok_or(ProtocolError::MissingPayload("IDr"))?;
            if sa
                .config
                .remote
                .id
                .as_ref()
                .is_some_and(|want| *want != idr)
            {
                return Err(ProtocolError::NoPeerConfig(idr.to_string()));
            }
            let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
            let psk = self.psk_for(&sa.local_id, &idr)?;
            let ctx = AuthContext {
                prf: c.suite.prf,
                init_message: &st.init.response,
                peer_nonce: &st.init.ni,
                sk_p: &c.keys.sk_pr,
                id: &idr,
            };
            let proof = PskAuthenticator::new(psk.expose()).verify(&ctx, method, data)?;
            Ok((proof, idr))
        })();
        let (proof, idr) = match verified {
            Ok(v) => v,
            Err(e) => {
                if let Some(nc) = &st.child
                    && let Some(spi) = nc.spi_in
                {
                    self.release_spi(sa, nc.id, spi);
                }
                self.log(Some(sa.id), LogGroup::Ike, format!("IKE_AUTH failed: {e}"));
                // The responder considers the IKE SA established; like charon
                // (ike_auth.c send_auth_failed_informational), tell it that its AUTH was
                // refused before dropping the SA. Not when it refused us (it already knows).
                if !matches!(e, ProtocolError::PeerNotify(_) | ProtocolError::Integrity) {
                    self.send_unacknowledged_request(
                        sa,
                        exchange::INFORMATIONAL,
                        vec![Payload::Notify(Notify::new(
                            notify::AUTHENTICATION_FAILED,
                            vec![],
                        ))],
                    );
                }
                self.event(Event::IkeFailed {
                    sa: sa.id,
                    name: sa.config.name.clone(),
                    reason: e.to_string(),
                });
                return Fate::Destroy(DownReason::Failed(e.to_string()));
            }
        };
        self.log(
            Some(sa.id),
            LogGroup::Ike,
            format!("authentication of '{idr}' with pre-shared key successful"),
        );
        sa.remote_id = Some(idr);
        sa.phase = Phase::Established(Established::new(proof));
        self.announce_established(now, sa);
        if let Some(nc) = st.child {
            self.complete_child_initiator(now, sa, nc, &msg, &st.init.ni, &st.init.nr, None);
        }
        for cfg in std::mem::take(&mut sa.queued_children) {
            sa.tasks.push_back(Task::CreateChild(Box::new(cfg)));
        }
        Fate::Keep
    }

    fn announce_established(&mut self, now: Timestamp, sa: &mut IkeSa) {
        let remote_id = sa
            .remote_id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default();
        self.log(
            Some(sa.id),
            LogGroup::Ike,
            format!(
                "IKE_SA {} established between {}[{}]...{}[{}]",
                sa.log_name(),
                sa.local.ip(),
                sa.local_id,
                sa.remote.ip(),
                remote_id
            ),
        );
        self.event(Event::IkeUp {
            sa: sa.id,
            name: sa.config.name.clone(),
            local: sa.local,
            remote: sa.remote,
        });
        self.schedule_ike_rekey(now, sa);
        self.rearm_dpd(now, sa);
    }

    fn schedule_ike_rekey(&mut self, now: Timestamp, sa: &IkeSa) {
        if !sa.config.rekey_time.is_zero() {
            let jitter = self.random_jitter(sa.config.rand_time.min(sa.config.rekey_time / 2));
            let at = now + sa.config.rekey_time.saturating_sub(jitter);
            self.log(
                Some(sa.id),
                LogGroup::Ike,
                format!(
                    "scheduling rekeying in {}s",
                    sa.config.rekey_time.saturating_sub(jitter).as_secs()
                ),
            );
            self.timers.schedule(TimerKey::IkeRekey(sa.id), at);
        }
    }

    fn respond_auth(&mut self, now: Timestamp, sa: &mut IkeSa, msg: Message) -> Fate {
        let mid = msg.header.message_id;
        let Phase::ExpectAuthRequest(st) = std::mem::replace(&mut sa.phase, Phase::Transition)
        else {
            return Fate::Keep;
        };
        let st = *st;
        let verified =
            (|| -> Result<(super::AuthVerified, Identity, Arc<IkeConfig>), ProtocolError> {
                let idi = find_payload(&msg, |p| {
                    if let Payload::IdI(i) = p {
                        Some(i.clone())
                    } else {
                        None
                    }
                })
                .ok_or(ProtocolError::MissingPayload("IDi"))?;
                let idr = find_payload(&msg, |p| {
                    if let Payload::IdR(i) = p {
                        Some(i.clone())
                    } else {
                        None
                    }
                });
                let (method, data) = find_payload(&msg, |p| {
                    if let Payload::Auth { method, data } = p {
                        Some((*method, data))
                    } else {
                        None
                    }
                })
                .ok_or(ProtocolError::MissingPayload("AUTH"))?;
                let config = self
                    .connections
                    .iter()
                    .find(|c| {
                        (c.local_addrs.is_empty() || c.local_addrs.contains(&sa.local.ip()))
                            && (c.remote_addrs.is_empty()
                                || c.remote_addrs.contains(&sa.remote.ip()))
                            && c.remote.id.as_ref().is_none_or(|r| *r == idi)
                            && (idr.is_none() || c.local.id.is_none() || c.local.id == idr)
                    })
                    .cloned()
                    .ok_or_else(|| ProtocolError::NoPeerConfig(idi.to_string()))?;
                let local_id = config
                    .local
                    .id
                    .clone()
                    .unwrap_or_else(|| Identity::from_addr(sa.local.ip()));
                let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
                let psk = self.psk_for(&local_id, &idi)?;
                let ctx = AuthContext {
                    prf: c.suite.prf,
                    init_message: &st.init.request,
                    peer_nonce: &st.init.nr,
                    sk_p: &c.keys.sk_pi,
                    id: &idi,
                };
                let proof = PskAuthenticator::new(psk.expose()).verify(&ctx, method, data)?;
                Ok((proof, idi, config))
            })();
        let (proof, idi, config) = match verified {
            Ok(v) => v,
            Err(e) => {
                self.log(
                    Some(sa.id),
                    LogGroup::Ike,
                    format!("IKE_AUTH request rejected: {e}"),
                );
                if let Some((kind, data)) = notify_for(&e) {
                    self.send_response(
                        sa,
                        mid,
                        exchange::IKE_AUTH,
                        vec![Payload::Notify(Notify::new(kind, data))],
                    );
                }
                self.event(Event::IkeFailed {
                    sa: sa.id,
                    name: sa.config.name.clone(),
                    reason: e.to_string(),
                });
                return Fate::Destroy(DownReason::Failed(e.to_string()));
            }
        };
        self.log(
            Some(sa.id),
            LogGroup::Ike,
            format!("authentication of '{idi}' with pre-shared key successful"),
        );
        sa.config = config;
        sa.local_id = sa
            .config
            .local
            .id
            .clone()
            .unwrap_or_else(|| Identity::from_addr(sa.local.ip()));
        sa.remote_id = Some(idi.clone());
        sa.phase = Phase::Established(Established::new(proof));
        sa.half_open = false;
        self.half_open = self.half_open.saturating_sub(1);
        self.timers.cancel(TimerKey::HalfOpen(sa.id));
        if msg.notify(notify::INITIAL_CONTACT).is_some() {
            self.initial_contact(sa, &idi);
        }
        // Our AUTH: RealMessage2 | NonceIData | prf(SK_pr, IDr').
        let our_auth = (|| -> Result<Vec<u8>, ProtocolError> {
            let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
            let psk = self.psk_for(&sa.local_id, &idi)?;
            let ctx = AuthContext {
                prf: c.suite.prf,
                init_message: &st.init.response,
                peer_nonce: &st.init.ni,
                sk_p: &c.keys.sk_pr,
                id: &sa.local_id,
            };
            PskAuthenticator::new(psk.expose()).build(&ctx)
        })();
        let Ok(our_auth) = our_auth else {
            return Fate::Destroy(DownReason::Failed("building AUTH".into()));
        };
        self.log(
            Some(sa.id),
            LogGroup::Ike,
            format!(
                "authentication of '{}' (myself) with pre-shared key",
                sa.local_id
            ),
        );
        let prefix = vec![
            Payload::IdR(sa.local_id.clone()),
            Payload::Auth {
                method: PskAuthenticator::METHOD,
                data: our_auth,
            },
        ];
        self.announce_established(now, sa);
        if sa_payload(&msg).is_none() {
            // Childless (RFC 6023).
            self.send_response(sa, mid, exchange::IKE_AUTH, prefix);
            return Fate::Keep;
        }
        match self.negotiate_child_responder(sa, &msg, &st.init.ni, &st.init.nr, None, None) {
            Ok(mut parked) => {
                parked.prefix = prefix;
                self.log(
                    Some(sa.id),
                    LogGroup::Ike,
                    format!(
                        "establishing CHILD_SA {}{{{}}}",
                        parked.config.name, parked.id.0
                    ),
                );
                self.allocate_spi(sa, parked.id);
                sa.parked = Some(Parked {
                    message_id: mid,
                    kind: ParkedKind::Auth(Box::new(parked)),
                });
            }
            Err(e) => {
                // No child config was chosen, so name what the peer asked for instead.
                let asked = ts_payloads(&msg).map_or_else(String::new, |(tsi, tsr)| {
                    format!(" for TS {} === {}", fmt_ts_list(tsr), fmt_ts_list(tsi))
                });
                let reason = format!("{e}{asked}");
                self.log(
                    Some(sa.id),
                    LogGroup::Ike,
                    format!("failed to establish CHILD_SA: {reason}"),
                );
                self.event(Event::ChildFailed {
                    ike: sa.id,
                    name: String::new(),
                    reason,
                });
                let mut payloads = prefix;
                if let Some((kind, data)) = notify_for(&e) {
                    payloads.push(Payload::Notify(Notify::new(kind, data)));
                }
                self.send_response(sa, mid, exchange::IKE_AUTH, payloads);
            }
        }
        Fate::Keep
    }

    /// INITIAL_CONTACT: the peer lost all state, so drop our other IKE SAs with it.
    fn initial_contact(&mut self, sa: &IkeSa, peer: &Identity) {
        let stale: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|o| {
                o.id != sa.id
                    && o.config.name == sa.config.name
                    && o.remote_id.as_ref() == Some(peer)
                    && o.remote.ip() == sa.remote.ip()
            })
            .map(|o| o.id)
            .collect();
        for id in stale {
            if let Some(old) = self.sas.remove(&id) {
                self.log(
                    Some(id),
                    LogGroup::Ike,
                    format!(
                        "deleting duplicate IKE_SA {} due to INITIAL_CONTACT",
                        old.log_name()
                    ),
                );
                self.destroy(old, DownReason::Peer);
            }
        }
    }

    // ===== CHILD_SA negotiation ===============================================================

    pub(crate) fn allocate_spi(&mut self, sa: &IkeSa, child: ChildSaId) {
        let (src, dst) = (sa.remote.ip(), sa.local.ip());
        let id = self.kernel_request(sa.id, Some(KernelWait::Spi(child)), |id| {
            KernelRequest::AllocateSpi {
                id,
                child,
                src,
                dst,
            }
        });
        self.spi_allocations.insert(id, (child, src, dst));
    }

    fn release_spi(&mut self, sa: &IkeSa, child: ChildSaId, spi: u32) {
        self.push_kernel(KernelRequest::DeleteSa {
            child,
            src: sa.remote.ip(),
            dst: sa.local.ip(),
            spi,
        });
    }

    /// Responder: picks the child config whose selectors and proposals fit the request.
    fn negotiate_child_responder(
        &mut self,
        sa: &IkeSa,
        msg: &Message,
        ni: &[u8],
        nr: &[u8],
        ke: Option<(u16, &[u8])>,
        rekey_of: Option<ChildSaId>,
    ) -> Result<ParkedChild, ProtocolError> {
        let theirs = sa_payload(msg).ok_or(ProtocolError::MissingPayload("SA"))?;
        let (tsi, tsr) = ts_payloads(msg).ok_or(ProtocolError::MissingPayload("TS"))?;
        let transport = msg.notify(notify::USE_TRANSPORT_MODE).is_some();
        let candidates: Vec<ChildConfig> = match rekey_of.and_then(|id| sa.child(id)) {
            Some(old) => vec![old.config.clone()],
            None => sa.config.children.clone(),
        };
        let mut error = ProtocolError::TsUnacceptable;
        // strongSwan picks the child whose selectors match the proposal best (exact > subset
        // > overlap), so mirrored configs such as BFL/BFR pair up bf-out with bf-in.
        let mut ranked: Vec<RankedChild> = Vec::new();
        for (order, cfg) in candidates.into_iter().enumerate() {
            let (host_l, host_r) = if cfg.mode == Mode::Transport {
                (Some(sa.local.ip()), Some(sa.remote.ip()))
            } else {
                (None, None)
            };
            let local_ts = narrow(tsr, &cfg.local_ts, host_l);
            let remote_ts = narrow(tsi, &cfg.remote_ts, host_r);
            if local_ts.is_empty() || remote_ts.is_empty() {
                continue;
            }
            if cfg.mode == Mode::Transport && !transport {
                error = ProtocolError::ModeMismatch;
                continue;
            }
            let score = ts_match_score(tsr, &cfg.local_ts) + ts_match_score(tsi, &cfg.remote_ts);
            ranked.push((score, order, cfg, local_ts, remote_ts));
        }
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, _, cfg, local_ts, remote_ts) in ranked {
            let chosen = match ke {
                Some((group, _)) => select_with_ke(&cfg.esp_proposals, theirs, group)?,
                None => {
                    let ours: Vec<Proposal> =
                        cfg.esp_proposals.iter().map(Proposal::without_ke).collect();
                    match select(&ours, theirs) {
                        Some(p) => p,
                        None => {
                            error = ProtocolError::NoProposalChosen;
                            continue;
                        }
                    }
                }
            };
            if chosen.spi.len() != 4 {
                return Err(ProtocolError::Malformed(
                    "ESP proposal without 4-octet SPI".into(),
                ));
            }
            let (shared, ke_public) = match (ke, chosen.selected().map(|s| s.ke).unwrap_or(0)) {
                (Some((_, data)), group) if group != 0 => {
                    let ours = KeyExchange::generate(group, self.rng.as_mut())?;
                    let shared = ours.shared(data)?;
                    (Some(shared), Some((group, ours.public())))
                }
                _ => (None, None),
            };
            let id = self.new_child_id();
            return Ok(ParkedChild {
                id,
                config: cfg.clone(),
                proposal: chosen,
                local_ts,
                remote_ts,
                ni: ni.to_vec(),
                nr: nr.to_vec(),
                shared,
                ke_public,
                rekey_of,
                prefix: Vec::new(),
                transport: cfg.mode == Mode::Transport,
            });
        }
        Err(error)
    }

    pub(crate) fn on_spi(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        child: ChildSaId,
        spi: Result<u32, String>,
    ) -> Fate {
        match sa.pending_send.take() {
            Some(Active::Auth) => {
                let mut unused = spi.as_ref().ok().copied();
                if let Phase::ExpectAuthResponse(st) = &mut sa.phase
                    && let Some(nc) = &mut st.child
                    && nc.id == child
                {
                    unused = None;
                    match spi {
                        Ok(s) => nc.spi_in = Some(s),
                        Err(reason) => {
                            let name = nc.config.name.clone();
                            st.child = None;
                            self.event(Event::ChildFailed {
                                ike: sa.id,
                                name,
                                reason: format!("SPI allocation failed: {reason}"),
                            });
                        }
                    }
                }
                if let Some(s) = unused {
                    self.release_spi(sa, child, s);
                }
                return self.send_auth(now, sa);
            }
            Some(Active::CreateChild(mut nc)) if nc.id == child => {
                match spi {
                    Ok(s) => {
                        nc.spi_in = Some(s);
                        self.send_create_child(now, sa, *nc);
                    }
                    Err(reason) => {
                        self.child_negotiation_failed(
                            sa,
                            &nc,
                            format!("SPI allocation failed: {reason}"),
                        );
                    }
                }
                return Fate::Keep;
            }
            other => sa.pending_send = other,
        }
        let Some(parked) = sa.parked.take() else {
            if let Ok(s) = spi {
                // The negotiation this SPI was for is gone: do not leave a larval SA behind.
                self.release_spi(sa, child, s);
            }
            return Fate::Keep;
        };
        let mid = parked.message_id;
        let (ex, pc) = match parked.kind {
            ParkedKind::Auth(pc) => (exchange::IKE_AUTH, pc),
            ParkedKind::CreateChild(pc) => (exchange::CREATE_CHILD_SA, pc),
        };
        if pc.id != child {
            sa.parked = Some(Parked {
                message_id: mid,
                kind: if ex == exchange::IKE_AUTH {
                    ParkedKind::Auth(pc)
                } else {
                    ParkedKind::CreateChild(pc)
                },
            });
            if let Ok(s) = spi {
                self.release_spi(sa, child, s);
            }
            return Fate::Keep;
        }
        let mut pc = *pc;
        let spi_in = match spi {
            Ok(s) => s,
            Err(reason) => {
                let mut payloads = std::mem::take(&mut pc.prefix);
                payloads.push(Payload::Notify(Notify::new(
                    notify::NO_PROPOSAL_CHOSEN,
                    vec![],
                )));
                self.event(Event::ChildFailed {
                    ike: sa.id,
                    name: pc.config.name.clone(),
                    reason: format!("SPI allocation failed: {reason}"),
                });
                self.send_response(sa, mid, ex, payloads);
                return Fate::Keep;
            }
        };
        self.finish_responder_child(now, sa, mid, ex, pc, spi_in);
        Fate::Keep
    }

    fn finish_responder_child(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        mid: u32,
        ex: u8,
        mut pc: ParkedChild,
        spi_in: u32,
    ) {
        let keys = (|| {
            let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
            let sel = pc
                .proposal
                .selected()
                .ok_or(ProtocolError::NoProposalChosen)?;
            Ok::<_, ProtocolError>(suite::child_keys(
                c.suite.prf,
                &c.keys.sk_d,
                pc.shared.as_ref(),
                &pc.ni,
                &pc.nr,
                &sel,
            )?)
        })();
        let spi_out = spi32(&pc.proposal.spi);
        let (Ok(keys), Some(spi_out)) = (keys, spi_out) else {
            let mut payloads = std::mem::take(&mut pc.prefix);
            payloads.push(Payload::Notify(Notify::new(
                notify::NO_PROPOSAL_CHOSEN,
                vec![],
            )));
            self.send_response(sa, mid, ex, payloads);
            self.release_spi(sa, pc.id, spi_in);
            return;
        };
        let mut answer = pc.proposal.clone();
        answer.spi = spi_in.to_be_bytes().to_vec();
        let mut payloads = std::mem::take(&mut pc.prefix);
        if ex == exchange::CREATE_CHILD_SA
            && let Some(old) = pc.rekey_of.and_then(|id| sa.child(id))
        {
            payloads.push(Payload::Notify(Notify {
                protocol: protocol::ESP,
                spi: old.spi_in.to_be_bytes().to_vec(),
                kind: notify::REKEY_SA,
                data: vec![],
            }));
        }
        if pc.transport {
            payloads.push(Payload::Notify(Notify::new(
                notify::USE_TRANSPORT_MODE,
                vec![],
            )));
        }
        payloads.push(Payload::Sa(vec![answer]));
        if ex == exchange::CREATE_CHILD_SA {
            payloads.push(Payload::Nonce(pc.nr.clone()));
            if let Some((group, data)) = &pc.ke_public {
                payloads.push(Payload::Ke {
                    group: *group,
                    data: data.clone(),
                });
            }
        }
        payloads.push(Payload::TsI(pc.remote_ts.clone()));
        payloads.push(Payload::TsR(pc.local_ts.clone()));
        self.send_response(sa, mid, ex, payloads);
        self.log(
            Some(sa.id),
            LogGroup::Cfg,
            format!("selected proposal: {}", pc.proposal.describe()),
        );
        let child = Child {
            id: pc.id,
            config: pc.config,
            spi_in,
            spi_out,
            local_ts: pc.local_ts,
            remote_ts: pc.remote_ts,
            proposal: pc.proposal,
            keys,
            state: ChildState::Installing,
            pending: Vec::new(),
            installed: Vec::new(),
            nonces: (pc.ni, pc.nr),
            we_initiated: false,
            reqid: pc.id.0,
            peer_knows: true,
            replaced_by: None,
        };
        self.install_child(now, sa, child, pc.rekey_of);
    }

    fn send_create_child(&mut self, now: Timestamp, sa: &mut IkeSa, nc: NewChild) {
        let Some(spi) = nc.spi_in else { return };
        let mut payloads = Vec::new();
        let (local_ts, remote_ts) = match nc.rekey_of.and_then(|id| sa.child(id)) {
            Some(old) => {
                payloads.push(Payload::Notify(Notify {
                    protocol: protocol::ESP,
                    spi: old.spi_in.to_be_bytes().to_vec(),
                    kind: notify::REKEY_SA,
                    data: vec![],
                }));
                (old.local_ts.clone(), old.remote_ts.clone())
            }
            None => proposed_ts(&nc.config, sa.local.ip(), sa.remote.ip()),
        };
        if nc.config.mode == Mode::Transport {
            payloads.push(Payload::Notify(Notify::new(
                notify::USE_TRANSPORT_MODE,
                vec![],
            )));
        }
        let props: Vec<Proposal> = match &nc.ke {
            // All configured groups stay in the proposals (the KE payload carries the first
            // or the one the peer asked for), so the peer can answer INVALID_KE_PAYLOAD.
            Some(_) => nc.config.esp_proposals.clone(),
            None => nc
                .config
                .esp_proposals
                .iter()
                .map(Proposal::without_ke)
                .collect(),
        };
        payloads.push(Payload::Sa(numbered(props, &spi.to_be_bytes())));
        payloads.push(Payload::Nonce(nc.ni.clone()));
        if let Some(ke) = &nc.ke {
            payloads.push(Payload::Ke {
                group: ke.group(),
                data: ke.public(),
            });
        }
        payloads.push(Payload::TsI(local_ts));
        payloads.push(Payload::TsR(remote_ts));
        self.send_request(
            now,
            sa,
            exchange::CREATE_CHILD_SA,
            payloads,
            Active::CreateChild(Box::new(nc)),
        );
    }

    fn child_negotiation_failed(&mut self, sa: &mut IkeSa, nc: &NewChild, reason: String) {
        self.log(
            Some(sa.id),
            LogGroup::Ike,
            format!(
                "failed to establish CHILD_SA {}{{{}}}: {reason}",
                nc.config.name, nc.id.0
            ),
        );
        self.event(Event::ChildFailed {
            ike: sa.id,
            name: nc.config.name.clone(),
            reason,
        });
        if let Some(spi) = nc.spi_in {
            self.release_spi(sa, nc.id, spi);
        }
        if let Some(old) = nc.rekey_of.and_then(|id| sa.child_mut(id))
            && old.state == ChildState::Rekeying
        {
            old.state = ChildState::Installed;
        }
    }

    /// Initiator: completes a child from the peer's answer (IKE_AUTH or CREATE_CHILD_SA).
    #[allow(clippy::too_many_arguments)]
    fn complete_child_initiator(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        nc: NewChild,
        msg: &Message,
        ni: &[u8],
        nr: &[u8],
        shared: Option<Secret>,
    ) {
        let result = (|| -> Result<Child, ProtocolError> {
            if let Some(n) = msg.error_notify() {
                return Err(ProtocolError::PeerNotify(n.kind));
            }
            let spi_in = nc.spi_in.ok_or(ProtocolError::NoProposalChosen)?;
            let props = sa_payload(msg).ok_or(ProtocolError::MissingPayload("SA"))?;
            let [chosen] = props.as_slice() else {
                return Err(ProtocolError::NoProposalChosen);
            };
            let ours: Vec<Proposal> = if nc.ke.is_some() {
                nc.config.esp_proposals.clone()
            } else {
                nc.config
                    .esp_proposals
                    .iter()
                    .map(Proposal::without_ke)
                    .collect()
            };
            if !accept_answer(&ours, chosen) {
                return Err(ProtocolError::NoProposalChosen);
            }
            let sel = chosen.selected().ok_or(ProtocolError::NoProposalChosen)?;
            let spi_out =
                spi32(&chosen.spi).ok_or(ProtocolError::Malformed("ESP SPI size".into()))?;
            let (tsi, tsr) = ts_payloads(msg).ok_or(ProtocolError::MissingPayload("TS"))?;
            let transport = nc.config.mode == Mode::Transport;
            if transport && msg.notify(notify::USE_TRANSPORT_MODE).is_none() {
                return Err(ProtocolError::ModeMismatch);
            }
            let (host_l, host_r) = if transport {
                (Some(sa.local.ip()), Some(sa.remote.ip()))
            } else {
                (None, None)
            };
            let (cfg_l, cfg_r) = match nc.rekey_of.and_then(|id| sa.child(id)) {
                Some(old) => (old.local_ts.clone(), old.remote_ts.clone()),
                None => (nc.config.local_ts.clone(), nc.config.remote_ts.clone()),
            };
            let local_ts = narrow(tsi, &cfg_l, host_l);
            let remote_ts = narrow(tsr, &cfg_r, host_r);
            // The responder may only narrow what we proposed.
            if local_ts.len() != tsi.len()
                || remote_ts.len() != tsr.len()
                || local_ts.is_empty()
                || remote_ts.is_empty()
            {
                return Err(ProtocolError::TsUnacceptable);
            }
            let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
            let keys = suite::child_keys(c.suite.prf, &c.keys.sk_d, shared.as_ref(), ni, nr, &sel)?;
            self.log(
                Some(sa.id),
                LogGroup::Cfg,
                format!("selected proposal: {}", chosen.describe()),
            );
            Ok(Child {
                id: nc.id,
                config: nc.config.clone(),
                spi_in,
                spi_out,
                local_ts,
                remote_ts,
                proposal: chosen.clone(),
                keys,
                state: ChildState::Installing,
                pending: Vec::new(),
                installed: Vec::new(),
                nonces: (ni.to_vec(), nr.to_vec()),
                we_initiated: true,
                reqid: nc.id.0,
                peer_knows: true,
                replaced_by: None,
            })
        })();
        match result {
            Ok(child) => {
                let old = nc.rekey_of;
                let id = child.id;
                // RFC 7296 2.8.1: if the peer rekeyed the same child meanwhile, the exchange
                // holding the lowest of the four nonces made the redundant SA; its initiator
                // deletes that SA and the winner deletes the old one.
                let collision = old
                    .and_then(|o| sa.child(o))
                    .and_then(|o| o.replaced_by)
                    .and_then(|peer_new| sa.child(peer_new).map(|p| (peer_new, p.nonces.clone())));
                self.install_child(now, sa, child, old);
                match (old, collision) {
                    (Some(_), Some((peer_new, peer_nonces))) => {
                        let ours_min = min_nonce(ni, nr);
                        let theirs_min = min_nonce(&peer_nonces.0, &peer_nonces.1);
                        if ours_min < theirs_min {
                            self.log(
                                Some(sa.id),
                                LogGroup::Ike,
                                format!(
                                    "CHILD_SA rekey collision lost, deleting redundant {{{}}}",
                                    id.0
                                ),
                            );
                            sa.tasks.push_front(Task::DeleteChild(id));
                            if let Some(o) = old.and_then(|o| sa.child_mut(o)) {
                                o.replaced_by = Some(peer_new);
                            }
                        } else {
                            self.log(
                                Some(sa.id),
                                LogGroup::Ike,
                                "CHILD_SA rekey collision won, deleting the old CHILD_SA once the new one is installed".into(),
                            );
                            // The old child is deleted by on_install_result once the new SAs
                            // are in the kernel, so a failed install leaves it in force.
                            if let Some(o) = old.and_then(|o| sa.child_mut(o)) {
                                o.replaced_by = Some(id);
                            }
                        }
                    }
                    (Some(o), None) => {
                        // As charon's child_rekey: the old CHILD_SA is deleted only after the
                        // new one installed (on_install_result); until then it keeps carrying
                        // traffic, and if the install fails it stays up until it expires.
                        if let Some(oc) = sa.child_mut(o) {
                            oc.replaced_by = Some(id);
                        }
                    }
                    _ => {}
                }
            }
            Err(e) => {
                let reason = e.to_string();
                // The responder created its half of the child (it answered with an SA payload
                // and no error notify) but we cannot use it: like charon's delete_failed_sa,
                // tell the peer to delete it while keeping the IKE SA. The Delete payload names
                // the SPI we expect inbound (RFC 7296 3.11), the peer's outbound SPI.
                let peer_created = msg.error_notify().is_none()
                    && sa_payload(msg).is_some_and(|p| p.len() == 1 && spi32(&p[0].spi).is_some());
                if peer_created && let Some(spi) = nc.spi_in {
                    sa.tasks.push_front(Task::DeleteRejectedChild {
                        name: nc.config.name.clone(),
                        spi,
                    });
                }
                self.child_negotiation_failed(sa, &nc, reason);
                if let (Some(old), ProtocolError::PeerNotify(notify::TEMPORARY_FAILURE)) =
                    (nc.rekey_of, &e)
                {
                    let delay = REKEY_RETRY_MIN + self.random_jitter(REKEY_RETRY_MIN);
                    self.timers
                        .schedule(TimerKey::RetryChildRekey(old), now + delay);
                }
            }
        }
    }

    // ===== kernel installation ================================================================

    fn install_child(
        &mut self,
        _now: Timestamp,
        sa: &mut IkeSa,
        mut child: Child,
        rekey_of: Option<ChildSaId>,
    ) {
        let Some(sel) = child.proposal.selected() else {
            return;
        };
        let jitter = self.random_jitter(child.config.lifetimes.rand_time);
        let lifetimes = kernel_lifetimes(&child.config.lifetimes, jitter);
        let (local, remote) = (sa.local.ip(), sa.remote.ip());
        // KEYMAT's first half protects traffic from the exchange's initiator.
        let (in_keys, out_keys) = if child.we_initiated {
            (
                (&child.keys.encr_r, &child.keys.integ_r),
                (&child.keys.encr_i, &child.keys.integ_i),
            )
        } else {
            (
                (&child.keys.encr_i, &child.keys.integ_i),
                (&child.keys.encr_r, &child.keys.integ_r),
            )
        };
        let mut reqid = child.id.0;
        let mut inherited_policies = Vec::new();
        if let Some(old) = rekey_of.and_then(|id| sa.child(id)) {
            // A rekeyed child keeps the reqid so the existing policies now select the new SAs.
            reqid = old.reqid;
            inherited_policies = old
                .installed
                .iter()
                .filter(|i| matches!(i, Installed::Policy(_)))
                .cloned()
                .collect();
        }
        child.reqid = reqid;
        let mk = |direction, src, dst, spi, keys: (&Secret, &Secret)| SaInstall {
            child: child.id,
            reqid,
            direction,
            src,
            dst,
            spi,
            encr: sel.encr,
            encr_key: keys.0.clone(),
            integ: sel.integ,
            integ_key: keys.1.clone(),
            esn: sel.esn,
            replay_window: 32,
            mode: child.config.mode,
            local_ts: child.local_ts.clone(),
            remote_ts: child.remote_ts.clone(),
            lifetimes,
            hw_offload: child.config.hw_offload,
            encap: None,
        };
        let sa_in = mk(Direction::In, remote, local, child.spi_in, in_keys);
        let sa_out = mk(Direction::Out, local, remote, child.spi_out, out_keys);
        let mut requests: Vec<(Installed, KernelRequestFactory)> = vec![
            (
                Installed::Sa {
                    src: remote,
                    dst: local,
                    spi: child.spi_in,
                },
                KernelRequestFactory::Sa(Box::new(sa_in)),
            ),
            (
                Installed::Sa {
                    src: local,
                    dst: remote,
                    spi: child.spi_out,
                },
                KernelRequestFactory::Sa(Box::new(sa_out)),
            ),
        ];
        if rekey_of.is_none() {
            for l in &child.local_ts {
                for r in &child.remote_ts {
                    let pol = |direction, src_ts, dst_ts, tmpl_src, tmpl_dst| PolicyInstall {
                        child: child.id,
                        reqid,
                        direction,
                        src_ts,
                        dst_ts,
                        tmpl_src,
                        tmpl_dst,
                        mode: child.config.mode,
                        hw_offload: child.config.hw_offload,
                    };
                    let mut list = vec![
                        pol(Direction::Out, *l, *r, local, remote),
                        pol(Direction::In, *r, *l, remote, local),
                    ];
                    if child.config.mode == Mode::Tunnel {
                        list.push(pol(Direction::Fwd, *r, *l, remote, local));
                    }
                    // charon (child_sa.c) installs FWD policies in tunnel mode only; the
                    // outbound FWD one carries no reqid (it is a bypass for drop policies).
                    if child.config.mode == Mode::Tunnel && child.config.policies_fwd_out {
                        let mut fwd_out = pol(Direction::Fwd, *l, *r, local, remote);
                        fwd_out.reqid = 0;
                        list.push(fwd_out);
                    }
                    for p in list {
                        requests.push((
                            Installed::Policy(p.clone()),
                            KernelRequestFactory::Policy(p),
                        ));
                    }
                }
            }
        } else {
            child.installed.extend(inherited_policies);
        }
        self.by_kernel_spi.insert((local, child.spi_in), child.id);
        self.by_kernel_spi.insert((remote, child.spi_out), child.id);
        self.children.insert(child.id, sa.id);
        let child_id = child.id;
        for (item, factory) in requests {
            let rid =
                self.kernel_request(
                    sa.id,
                    Some(KernelWait::Install(child_id)),
                    |id| match factory {
                        KernelRequestFactory::Sa(s) => KernelRequest::AddSa { id, sa: s },
                        KernelRequestFactory::Policy(policy) => {
                            KernelRequest::AddPolicy { id, policy }
                        }
                    },
                );
            child.pending.push((rid, item));
        }
        sa.children.push(child);
    }

    pub(crate) fn on_install_result(
        &mut self,
        _now: Timestamp,
        sa: &mut IkeSa,
        child: ChildSaId,
        id: KernelRequestId,
        failure: Option<String>,
    ) {
        let ike = sa.id;
        let log_name = sa.log_name();
        let Some(c) = sa.child_mut(child) else { return };
        let Some(pos) = c.pending.iter().position(|(rid, _)| *rid == id) else {
            return;
        };
        let (_, item) = c.pending.remove(pos);
        match failure {
            None if c.state == ChildState::Failed => {
                // Installed after the rollback started: undo it too.
                let item = item.clone();
                self.undo(child, &item);
            }
            None => {
                c.installed.push(item);
                if c.pending.is_empty() && c.state == ChildState::Installing {
                    c.state = ChildState::Installed;
                    let (name, spi_in, spi_out, l, r) = (
                        c.config.name.clone(),
                        c.spi_in,
                        c.spi_out,
                        c.local_ts.clone(),
                        c.remote_ts.clone(),
                    );
                    self.log(
                        Some(ike),
                        LogGroup::Ike,
                        format!("CHILD_SA {name}{{{}}} established with SPIs {spi_in:08x}_i {spi_out:08x}_o and TS {} === {}", child.0, fmt_ts_list(&l), fmt_ts_list(&r)),
                    );
                    self.event(Event::ChildUp {
                        ike,
                        child,
                        name,
                        spi_in,
                        spi_out,
                        local_ts: l,
                        remote_ts: r,
                    });
                    let we_initiated = c.we_initiated;
                    let replaced: Option<ChildSaId> = sa
                        .children
                        .iter()
                        .find(|o| o.replaced_by == Some(child))
                        .map(|o| o.id);
                    if let Some(old) = replaced {
                        self.event(Event::ChildRekeyed {
                            ike,
                            old,
                            new: child,
                        });
                        // The initiator of a rekey deletes the old CHILD_SA (RFC 7296 2.8),
                        // now that its successor is in force.
                        if we_initiated
                            && let Some(o) = sa.child_mut(old)
                            && matches!(o.state, ChildState::Rekeying | ChildState::Installed)
                        {
                            o.state = ChildState::Rekeyed;
                            sa.tasks.push_front(Task::DeleteChild(old));
                        }
                    }
                }
            }
            Some(reason) => {
                if c.state == ChildState::Failed {
                    return;
                }
                c.state = ChildState::Failed;
                let installed = std::mem::take(&mut c.installed);
                let (name, spi_in, peer_knows) = (c.config.name.clone(), c.spi_in, c.peer_knows);
                let spi_in_installed = installed
                    .iter()
                    .any(|i| matches!(i, Installed::Sa { spi, .. } if *spi == spi_in));
                self.log(Some(ike), LogGroup::Knl, format!("unable to install CHILD_SA {name}{{{}}} in {log_name}: {reason}, rolling back", child.0));
                let shared_reqid = sa
                    .children
                    .iter()
                    .any(|o| o.id != child && o.reqid == sa.child(child).map_or(0, |c| c.reqid));
                for i in &installed {
                    if shared_reqid && matches!(i, Installed::Policy(_)) {
                        continue;
                    }
                    self.undo(child, i);
                }
                if !spi_in_installed {
                    // Release the SPI reserved by ALLOCSPI.
                    self.release_spi(sa, child, spi_in);
                }
                // A failed rekey leaves the old generation in force until it expires.
                keep_predecessor(sa, child);
                self.event(Event::ChildFailed {
                    ike,
                    name,
                    reason: format!("kernel refused to install the CHILD_SA: {reason}"),
                });
                if peer_knows {
                    // The peer installed its half: tell it to delete the child. The IKE SA stays.
                    sa.tasks.push_front(Task::DeleteChild(child));
                }
            }
        }
    }

    fn undo(&mut self, child: ChildSaId, item: &Installed) {
        match item {
            Installed::Sa { src, dst, spi } => self.push_kernel(KernelRequest::DeleteSa {
                child,
                src: *src,
                dst: *dst,
                spi: *spi,
            }),
            Installed::Policy(p) => {
                self.push_kernel(KernelRequest::DeletePolicy { policy: p.clone() })
            }
        }
    }

    /// Removes a child and its kernel state (policies only when no other generation uses them).
    pub(crate) fn remove_child(&mut self, sa: &mut IkeSa, child: ChildSaId, reason: DownReason) {
        let Some(pos) = sa.children.iter().position(|c| c.id == child) else {
            return;
        };
        let c = sa.children.remove(pos);
        // A successor that goes away before its predecessor (failed install, or the peer
        // deleted it) hands the traffic back to the predecessor.
        keep_predecessor(sa, child);
        let shared_reqid = sa.children.iter().any(|o| o.reqid == c.reqid);
        let items: Vec<Installed> = c
            .installed
            .iter()
            .chain(c.pending.iter().map(|(_, i)| i))
            .cloned()
            .collect();
        for i in &items {
            if shared_reqid && matches!(i, Installed::Policy(_)) {
                continue;
            }
            self.undo(child, i);
        }
        self.kernel_waits.retain(
            |_, (_, w)| !matches!(w, KernelWait::Install(x) | KernelWait::Spi(x) if *x == child),
        );
        self.by_kernel_spi.remove(&(sa.local.ip(), c.spi_in));
        self.by_kernel_spi.remove(&(sa.remote.ip(), c.spi_out));
        self.children.remove(&child);
        if c.state != ChildState::Failed {
            self.log(
                Some(sa.id),
                LogGroup::Chd,
                format!("CHILD_SA {}{{{}}} closed", c.config.name, child.0),
            );
            let reason = if c.replaced_by.is_some() {
                DownReason::Rekeyed
            } else {
                reason
            };
            self.event(Event::ChildDown {
                ike: sa.id,
                child,
                reason,
            });
        }
    }

    // ===== tasks (requests we initiate on an established SA) ==================================

    pub(crate) fn start_task(&mut self, now: Timestamp, sa: &mut IkeSa, task: Task) -> Fate {
        match task {
            Task::CreateChild(cfg) => self.start_new_child(now, sa, *cfg, None),
            Task::RekeyChild(old) => {
                let Some(c) = sa.child_mut(old) else {
                    return Fate::Keep;
                };
                if c.state != ChildState::Installed {
                    return Fate::Keep;
                }
                c.state = ChildState::Rekeying;
                let cfg = c.config.clone();
                self.log(
                    Some(sa.id),
                    LogGroup::Ike,
                    format!("rekeying CHILD_SA {}{{{}}}", cfg.name, old.0),
                );
                self.start_new_child(now, sa, cfg, Some(old))
            }
            Task::RekeyIke => {
                let Some(c) = sa.crypto.as_ref() else {
                    return Fate::Keep;
                };
                let group = c.suite.ke;
                let ke = match KeyExchange::generate(group, self.rng.as_mut()) {
                    Ok(k) => k,
                    Err(_) => return Fate::Keep,
                };
                let ni = self.random_bytes(self.settings.nonce_len);
                let new_spi = self.random_spi();
                let proposals = numbered(sa.config.proposals.clone(), &new_spi.to_be_bytes());
                self.log(
                    Some(sa.id),
                    LogGroup::Ike,
                    format!("rekeying IKE_SA {}", sa.log_name()),
                );
                let payloads = vec![
                    Payload::Sa(proposals.clone()),
                    Payload::Nonce(ni.clone()),
                    Payload::Ke {
                        group,
                        data: ke.public(),
                    },
                ];
                // Reserve the SPI so a colliding responder-side SA cannot take it.
                self.by_spi.insert(new_spi, sa.id);
                self.send_request(
                    now,
                    sa,
                    exchange::CREATE_CHILD_SA,
                    payloads,
                    Active::RekeyIke {
                        ke,
                        ni,
                        new_spi,
                        proposals,
                    },
                );
                Fate::Keep
            }
            Task::DeleteChild(child) => {
                let Some(c) = sa.child_mut(child) else {
                    return Fate::Keep;
                };
                if c.state == ChildState::Deleting {
                    return Fate::Keep;
                }
                if c.state != ChildState::Failed {
                    c.state = ChildState::Deleting;
                }
                let spi = c.spi_in;
                let what = format!("ESP CHILD_SA with SPI {spi:08x}");
                self.send_esp_delete(now, sa, spi, what, Active::DeleteChildren(vec![child]));
                Fate::Keep
            }
            Task::DeleteRejectedChild { name, spi } => {
                let what = format!("rejected ESP CHILD_SA {name} with SPI {spi:08x}");
                self.send_esp_delete(now, sa, spi, what, Active::DeleteRejectedChild);
                Fate::Keep
            }
            Task::DeleteIke => {
                self.log(
                    Some(sa.id),
                    LogGroup::Ike,
                    format!(
                        "deleting IKE_SA {} between {}[{}]...{}",
                        sa.log_name(),
                        sa.local.ip(),
                        sa.local_id,
                        sa.remote.ip()
                    ),
                );
                self.send_ike_delete(now, sa);
                Fate::Keep
            }
            Task::Dpd => {
                if now.saturating_since(sa.last_received) < sa.config.dpd_delay {
                    return Fate::Keep;
                }
                self.send_request(now, sa, exchange::INFORMATIONAL, vec![], Active::Dpd);
                Fate::Keep
            }
        }
    }

    /// INFORMATIONAL request deleting one ESP SA, named by our inbound SPI (RFC 7296 3.11).
    fn send_esp_delete(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        spi_in: u32,
        what: String,
        active: Active,
    ) {
        self.log(
            Some(sa.id),
            LogGroup::Ike,
            format!("sending DELETE for {what}"),
        );
        let payloads = vec![Payload::Delete {
            protocol: protocol::ESP,
            spis: vec![spi_in.to_be_bytes().to_vec()],
        }];
        self.send_request(now, sa, exchange::INFORMATIONAL, payloads, active);
    }

    fn start_new_child(
        &mut self,
        _now: Timestamp,
        sa: &mut IkeSa,
        cfg: ChildConfig,
        rekey_of: Option<ChildSaId>,
    ) -> Fate {
        let id = self.new_child_id();
        let ni = self.random_bytes(self.settings.nonce_len);
        // PFS: the first key exchange method of the ESP proposals, if any.
        let group = cfg.esp_proposals.iter().flat_map(|p| p.ke_methods()).next();
        let ke = match group.map(|g| KeyExchange::generate(g, self.rng.as_mut())) {
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => {
                self.event(Event::ChildFailed {
                    ike: sa.id,
                    name: cfg.name.clone(),
                    reason: e.to_string(),
                });
                return Fate::Keep;
            }
            None => None,
        };
        if rekey_of.is_none() {
            self.log(
                Some(sa.id),
                LogGroup::Ike,
                format!("establishing CHILD_SA {}{{{}}}", cfg.name, id.0),
            );
        }
        self.allocate_spi(sa, id);
        sa.pending_send = Some(Active::CreateChild(Box::new(NewChild {
            id,
            config: cfg,
            spi_in: None,
            ni,
            ke,
            rekey_of,
        })));
        Fate::Keep
    }

    // ===== responses to our requests ==========================================================

    pub(crate) fn on_response(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        active: Active,
        msg: Message,
    ) -> Fate {
        match active {
            Active::SaInit => Fate::Keep,
            Active::Auth => self.on_auth_response(now, sa, msg),
            Active::CreateChild(nc) => {
                let mut nc = *nc;
                if let Some(n) = msg.notify(notify::INVALID_KE_PAYLOAD) {
                    let wanted = n.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                    let acceptable = wanted.filter(|w| {
                        nc.config
                            .esp_proposals
                            .iter()
                            .any(|p| p.ke_methods().contains(w))
                            && Some(*w) != nc.ke.as_ref().map(|k| k.group())
                    });
                    if let Some(group) = acceptable
                        && let Ok(ke) = KeyExchange::generate(group, self.rng.as_mut())
                    {
                        self.log(Some(sa.id), LogGroup::Ike, format!("peer requested key exchange method {group}, retrying CREATE_CHILD_SA"));
                        nc.ke = Some(ke);
                        self.send_create_child(now, sa, nc);
                        return Fate::Keep;
                    }
                }
                let shared = match (&nc.ke, ke_payload(&msg)) {
                    (Some(ke), Some((group, data))) if group == ke.group() => match ke.shared(data)
                    {
                        Ok(s) => Some(s),
                        Err(e) => {
                            self.child_negotiation_failed(sa, &nc, e.to_string());
                            return Fate::Keep;
                        }
                    },
                    (Some(_), _) if msg.error_notify().is_none() => {
                        self.child_negotiation_failed(
                            sa,
                            &nc,
                            "missing or mismatched KE payload".into(),
                        );
                        return Fate::Keep;
                    }
                    _ => None,
                };
                let Some(nr) = nonce_payload(&msg)
                    .cloned()
                    .or_else(|| msg.error_notify().map(|_| Vec::new()))
                else {
                    self.child_negotiation_failed(sa, &nc, "missing nonce".into());
                    return Fate::Keep;
                };
                let ni = nc.ni.clone();
                self.complete_child_initiator(now, sa, nc, &msg, &ni, &nr, shared);
                Fate::Keep
            }
            Active::RekeyIke {
                ke,
                ni,
                new_spi,
                proposals,
            } => self.on_ike_rekey_response(now, sa, msg, ke, ni, new_spi, proposals),
            Active::DeleteChildren(ids) => {
                for id in ids {
                    self.remove_child(sa, id, DownReason::Local);
                }
                Fate::Keep
            }
            // Nothing of the rejected child is left on our side; the peer's answer (its own
            // Delete payload) needs no action.
            Active::DeleteRejectedChild => Fate::Keep,
            Active::DeleteIke => {
                if matches!(sa.phase, Phase::Rekeyed) {
                    // Old SA after our rekey: its children already moved on.
                    Fate::Destroy(DownReason::Rekeyed)
                } else {
                    Fate::Destroy(DownReason::Local)
                }
            }
            Active::Dpd => Fate::Keep,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_ike_rekey_response(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        msg: Message,
        ke: KeyExchange,
        ni: Vec<u8>,
        new_spi: u64,
        proposals: Vec<Proposal>,
    ) -> Fate {
        let result =
            (|| -> Result<(Proposal, u64, Vec<u8>, crate::suite::IkeKeys), ProtocolError> {
                if let Some(n) = msg.error_notify() {
                    return Err(ProtocolError::PeerNotify(n.kind));
                }
                let props = sa_payload(&msg).ok_or(ProtocolError::MissingPayload("SA"))?;
                let [chosen] = props.as_slice() else {
                    return Err(ProtocolError::NoProposalChosen);
                };
                if !accept_answer(&proposals, chosen) || chosen.spi.len() != 8 {
                    return Err(ProtocolError::NoProposalChosen);
                }
                let peer_spi = u64::from_be_bytes(
                    chosen
                        .spi
                        .as_slice()
                        .try_into()
                        .map_err(|_| ProtocolError::NoProposalChosen)?,
                );
                let (group, data) = ke_payload(&msg).ok_or(ProtocolError::MissingPayload("KE"))?;
                if group != ke.group() {
                    return Err(ProtocolError::InvalidKe {
                        offered: group,
                        wanted: ke.group(),
                    });
                }
                let nr = nonce_payload(&msg)
                    .ok_or(ProtocolError::MissingPayload("Nonce"))?
                    .clone();
                let shared = ke.shared(data)?;
                let old = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
                let sel = chosen.selected().ok_or(ProtocolError::NoProposalChosen)?;
                let seed = suite::skeyseed_rekey(old.suite.prf, &old.keys.sk_d, &shared, &ni, &nr)?;
                // We initiated the rekey, so we are the new SA's initiator.
                let keys = suite::derive_ike_keys(&sel, &seed, &ni, &nr, new_spi, peer_spi)?;
                Ok((chosen.clone(), peer_spi, nr, keys))
            })();
        match result {
            Ok((proposal, peer_spi, nr, keys)) => {
                let sel = proposal.selected();
                let Some(sel) = sel else { return Fate::Keep };
                let new_id = self.new_ike_id();
                let new = self.succeed_ike(
                    now,
                    sa,
                    new_id,
                    true,
                    new_spi,
                    peer_spi,
                    IkeCrypto {
                        proposal,
                        suite: sel,
                        keys,
                        iv_counter: 0,
                    },
                    (ni, nr),
                );
                self.by_spi.insert(new_spi, new_id);
                self.sas.insert(new_id, new);
                // Tasks queued on the old SA (e.g. deleting a child replaced by a rekey whose
                // install finished during the IKE rekey) moved over; start them.
                self.kick(now, new_id);
                // Delete the old SA, on the old SA.
                self.send_ike_delete(now, sa);
                Fate::Keep
            }
            Err(e) => {
                if self.by_spi.get(&new_spi) == Some(&sa.id) {
                    self.by_spi.remove(&new_spi);
                }
                self.log(
                    Some(sa.id),
                    LogGroup::Ike,
                    format!("IKE_SA rekeying failed: {e}"),
                );
                if matches!(e, ProtocolError::PeerNotify(notify::TEMPORARY_FAILURE)) {
                    // RFC 7296 2.25: a colliding or busy peer; retry after a random delay so
                    // that two colliding initiators do not collide again.
                    let delay = REKEY_RETRY_MIN + self.random_jitter(REKEY_RETRY_MIN);
                    self.timers.schedule(TimerKey::IkeRekey(sa.id), now + delay);
                }
                Fate::Keep
            }
        }
    }

    /// Builds the successor of a rekeyed IKE SA: it takes over the authentication proof, the
    /// children and the queued tasks; the old SA is left in `Phase::Rekeyed`.
    #[allow(clippy::too_many_arguments)]
    fn succeed_ike(
        &mut self,
        now: Timestamp,
        old: &mut IkeSa,
        id: IkeSaId,
        initiator: bool,
        our_spi: u64,
        peer_spi: u64,
        crypto: IkeCrypto,
        _nonces: (Vec<u8>, Vec<u8>),
    ) -> IkeSa {
        let phase = std::mem::replace(&mut old.phase, Phase::Rekeyed);
        let (spi_i, spi_r) = if initiator {
            (our_spi, peer_spi)
        } else {
            (peer_spi, our_spi)
        };
        let children = std::mem::take(&mut old.children);
        for c in &children {
            self.children.insert(c.id, id);
        }
        for key in [TimerKey::IkeRekey(old.id), TimerKey::Dpd(old.id)] {
            self.timers.cancel(key);
        }
        // Kernel answers still outstanding for moved children now belong to the new SA.
        for (ike, _) in self.kernel_waits.values_mut() {
            if *ike == old.id {
                *ike = id;
            }
        }
        let mut new = IkeSa::new(
            id,
            old.config.clone(),
            (spi_i, spi_r),
            (old.local, old.remote),
            old.local_id.clone(),
            now,
        );
        new.initiator = initiator;
        new.phase = phase;
        new.crypto = Some(crypto);
        new.remote_id = old.remote_id.clone();
        new.tasks = std::mem::take(&mut old.tasks);
        new.children = children;
        new.tasks
            .retain(|t| !matches!(t, Task::RekeyIke | Task::Dpd));
        self.log(
            Some(id),
            LogGroup::Ike,
            format!("IKE_SA {} rekeyed to {}", old.log_name(), new.log_name()),
        );
        self.event(Event::IkeRekeyed {
            old: old.id,
            new: id,
        });
        self.schedule_ike_rekey(now, &new);
        self.rearm_dpd(now, &new);
        let _ = &mut new;
        new
    }

    // ===== requests from the peer =============================================================

    pub(crate) fn on_request(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        msg: Message,
        _raw: &[u8],
    ) -> Fate {
        match msg.header.exchange {
            exchange::IKE_AUTH if matches!(sa.phase, Phase::ExpectAuthRequest(_)) => {
                self.respond_auth(now, sa, msg)
            }
            exchange::CREATE_CHILD_SA if sa.phase.is_established() => {
                self.respond_create_child(now, sa, msg)
            }
            exchange::INFORMATIONAL
                if sa.phase.is_established() || matches!(sa.phase, Phase::Rekeyed) =>
            {
                self.respond_informational(now, sa, msg)
            }
            _ => {
                self.drop_datagram(
                    Some(sa.id),
                    format!("unexpected {} in this state", msg.summary()),
                );
                Fate::Keep
            }
        }
    }

    fn respond_error(&mut self, sa: &mut IkeSa, mid: u32, ex: u8, e: &ProtocolError) {
        self.log(
            Some(sa.id),
            LogGroup::Ike,
            format!(
                "{} request rejected: {e}",
                if ex == exchange::CREATE_CHILD_SA {
                    "CREATE_CHILD_SA"
                } else {
                    "request"
                }
            ),
        );
        if let Some((kind, data)) = notify_for(e) {
            self.send_response(sa, mid, ex, vec![Payload::Notify(Notify::new(kind, data))]);
        }
    }

    fn respond_create_child(&mut self, now: Timestamp, sa: &mut IkeSa, msg: Message) -> Fate {
        let mid = msg.header.message_id;
        let ex = exchange::CREATE_CHILD_SA;
        if sa_payload(&msg).is_some_and(|p| p.iter().any(|p| p.protocol == protocol::IKE)) {
            return self.respond_ike_rekey(now, sa, msg);
        }
        let rekey_of = match msg.notify(notify::REKEY_SA) {
            Some(n) => match spi32(&n.spi).and_then(|spi| {
                sa.children
                    .iter()
                    .find(|c| c.spi_out == spi && c.state != ChildState::Deleting)
            }) {
                Some(c) => Some(c.id),
                None => {
                    self.respond_error(sa, mid, ex, &ProtocolError::ChildNotFound);
                    return Fate::Keep;
                }
            },
            None => None,
        };
        let Some(ni) = nonce_payload(&msg).cloned() else {
            self.respond_error(sa, mid, ex, &ProtocolError::MissingPayload("Nonce"));
            return Fate::Keep;
        };
        let nr = self.random_bytes(self.settings.nonce_len);
        let ke = ke_payload(&msg).map(|(g, d)| (g, d.clone()));
        match self.negotiate_child_responder(
            sa,
            &msg,
            &ni,
            &nr,
            ke.as_ref().map(|(g, d)| (*g, d.as_slice())),
            rekey_of,
        ) {
            Ok(pc) => {
                if let Some(old) = rekey_of.and_then(|o| sa.child_mut(o)) {
                    // Remember who replaces it; a rekey of ours in flight detects the collision.
                    old.replaced_by = Some(pc.id);
                    if old.state == ChildState::Installed {
                        old.state = ChildState::Rekeyed;
                    }
                }
                self.allocate_spi(sa, pc.id);
                sa.parked = Some(Parked {
                    message_id: mid,
                    kind: ParkedKind::CreateChild(Box::new(pc)),
                });
            }
            Err(e) => self.respond_error(sa, mid, ex, &e),
        }
        Fate::Keep
    }

    fn respond_ike_rekey(&mut self, now: Timestamp, sa: &mut IkeSa, msg: Message) -> Fate {
        let mid = msg.header.message_id;
        let ex = exchange::CREATE_CHILD_SA;
        if matches!(
            sa.outstanding.as_ref().map(|o| &o.active),
            Some(Active::RekeyIke { .. })
        ) || sa.parked.is_some()
        {
            // Simultaneous IKE rekey: refuse ours-vs-theirs resolution for now; the peer retries.
            self.respond_error(sa, mid, ex, &ProtocolError::TemporaryFailure);
            return Fate::Keep;
        }
        let result = (|| -> Result<(Proposal, KeyExchange, Secret, Vec<u8>), ProtocolError> {
            let theirs = sa_payload(&msg).ok_or(ProtocolError::MissingPayload("SA"))?;
            let (group, data) = ke_payload(&msg).ok_or(ProtocolError::MissingPayload("KE"))?;
            let chosen = select_with_ke(&sa.config.proposals, theirs, group)?;
            if chosen.spi.len() != 8 {
                return Err(ProtocolError::Malformed(
                    "IKE proposal without 8-octet SPI".into(),
                ));
            }
            let ni = nonce_payload(&msg)
                .ok_or(ProtocolError::MissingPayload("Nonce"))?
                .clone();
            let ke = KeyExchange::generate(group, self.rng.as_mut())?;
            let shared = ke.shared(data)?;
            Ok((chosen, ke, shared, ni))
        })();
        let (chosen, ke, shared, ni) = match result {
            Ok(v) => v,
            Err(e) => {
                self.respond_error(sa, mid, ex, &e);
                return Fate::Keep;
            }
        };
        let nr = self.random_bytes(self.settings.nonce_len);
        let our_spi = self.random_spi();
        let Ok(peer_spi) = chosen.spi.as_slice().try_into().map(u64::from_be_bytes) else {
            return Fate::Keep;
        };
        let keys = (|| {
            let old = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
            let sel = chosen.selected().ok_or(ProtocolError::NoProposalChosen)?;
            let seed = suite::skeyseed_rekey(old.suite.prf, &old.keys.sk_d, &shared, &ni, &nr)?;
            Ok::<_, ProtocolError>((
                sel,
                suite::derive_ike_keys(&sel, &seed, &ni, &nr, peer_spi, our_spi)?,
            ))
        })();
        let Ok((sel, keys)) = keys else {
            self.respond_error(sa, mid, ex, &ProtocolError::NoProposalChosen);
            return Fate::Keep;
        };
        let mut answer = chosen.clone();
        answer.spi = our_spi.to_be_bytes().to_vec();
        let payloads = vec![
            Payload::Sa(vec![answer]),
            Payload::Nonce(nr.clone()),
            Payload::Ke {
                group: ke.group(),
                data: ke.public(),
            },
        ];
        self.send_response(sa, mid, ex, payloads);
        let new_id = self.new_ike_id();
        let new = self.succeed_ike(
            now,
            sa,
            new_id,
            false,
            our_spi,
            peer_spi,
            IkeCrypto {
                proposal: chosen,
                suite: sel,
                keys,
                iv_counter: 0,
            },
            (ni, nr),
        );
        self.by_spi.insert(our_spi, new_id);
        self.sas.insert(new_id, new);
        // Start the tasks that moved over from the old SA.
        self.kick(now, new_id);
        // The peer deletes the old SA; if it never does, clean up ourselves.
        self.timers
            .schedule(TimerKey::RekeyedCleanup(sa.id), now + REKEYED_CLEANUP);
        Fate::Keep
    }

    fn respond_informational(&mut self, _now: Timestamp, sa: &mut IkeSa, msg: Message) -> Fate {
        let mid = msg.header.message_id;
        let ex = exchange::INFORMATIONAL;
        if msg.notify(notify::AUTHENTICATION_FAILED).is_some() {
            // The initiator refused our AUTH after we completed IKE_AUTH (charon's
            // informational task destroys the IKE SA without answering).
            let reason = "peer refused our authentication (AUTHENTICATION_FAILED)".to_string();
            self.log(
                Some(sa.id),
                LogGroup::Ike,
                format!(
                    "received AUTHENTICATION_FAILED notify error, deleting {}",
                    sa.log_name()
                ),
            );
            return Fate::Destroy(DownReason::Failed(reason));
        }
        let mut ike_delete = false;
        let mut esp_spis = Vec::new();
        for p in &msg.payloads {
            if let Payload::Delete {
                protocol: proto,
                spis,
            } = p
            {
                if *proto == protocol::IKE {
                    ike_delete = true;
                } else if *proto == protocol::ESP || *proto == protocol::AH {
                    esp_spis.extend(spis.iter().filter_map(|s| spi32(s)));
                }
            }
        }
        if ike_delete {
            self.log(
                Some(sa.id),
                LogGroup::Ike,
                format!("received DELETE for IKE_SA {}", sa.log_name()),
            );
            self.send_response(sa, mid, ex, vec![]);
            let reason = if matches!(sa.phase, Phase::Rekeyed) {
                DownReason::Rekeyed
            } else {
                DownReason::Peer
            };
            return Fate::Destroy(reason);
        }
        let mut ours = Vec::new();
        let mut removed = Vec::new();
        for spi in esp_spis {
            let Some(c) = sa.children.iter().find(|c| c.spi_out == spi) else {
                continue;
            };
            self.log(
                Some(sa.id),
                LogGroup::Ike,
                format!("received DELETE for ESP CHILD_SA with SPI {spi:08x}"),
            );
            // RFC 7296 1.4.1: a child we are deleting ourselves is not listed again.
            if c.state != ChildState::Deleting {
                ours.push(c.spi_in.to_be_bytes().to_vec());
            }
            removed.push(c.id);
        }
        let payloads = if ours.is_empty() {
            vec![]
        } else {
            vec![Payload::Delete {
                protocol: protocol::ESP,
                spis: ours,
            }]
        };
        self.send_response(sa, mid, ex, payloads);
        for id in removed {
            self.remove_child(sa, id, DownReason::Peer);
        }
        Fate::Keep
    }
}

/// A candidate child config with its match score, config order and narrowed selectors.
type RankedChild = (
    u32,
    usize,
    ChildConfig,
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
);

enum KernelRequestFactory {
    Sa(Box<SaInstall>),
    Policy(PolicyInstall),
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
            local_ts: vec![TrafficSelector::host("10.0.0.1".parse().unwrap())],
            remote_ts: vec![TrafficSelector::host("10.0.0.2".parse().unwrap())],
            esp_proposals: vec![Proposal::parse(protocol::ESP, "aes128gcm128").unwrap()],
            mode: Mode::Transport,
            hw_offload: HwOffload::No,
            policies_fwd_out: false,
            lifetimes: ChildLifetimes::default(),
        }
    }

    fn ike_sa(engine: &mut Engine) -> IkeSa {
        let config = Arc::new(IkeConfig {
            name: "t".into(),
            local_addrs: vec![],
            remote_addrs: vec![],
            local: AuthConfig {
                method: crate::config::AuthMethod::Psk,
                id: None,
            },
            remote: AuthConfig {
                method: crate::config::AuthMethod::Psk,
                id: None,
            },
            proposals: vec![Proposal::parse(protocol::IKE, "aes128-sha256-x25519").unwrap()],
            children: vec![child_config()],
            rekey_time: Duration::ZERO,
            over_time: Duration::ZERO,
            rand_time: Duration::ZERO,
            dpd_delay: Duration::ZERO,
            mobike: false,
        });
        IkeSa::new(
            engine.new_ike_id(),
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
            let id = engine.new_child_id();
            let child = Child {
                id,
                config: child_config(),
                spi_in: 0x100,
                spi_out: 0x200,
                local_ts: child_config().local_ts,
                remote_ts: child_config().remote_ts,
                proposal: child_config().esp_proposals[0].without_ke(),
                keys: ChildKeys {
                    encr_i: Secret::new(vec![0x1; 20]),
                    integ_i: Secret::default(),
                    encr_r: Secret::new(vec![0x2; 20]),
                    integ_r: Secret::default(),
                },
                state: ChildState::Installing,
                pending: Vec::new(),
                installed: Vec::new(),
                nonces: (vec![], vec![]),
                we_initiated,
                reqid: id.0,
                peer_knows: true,
                replaced_by: None,
            };
            engine.install_child(Timestamp::ZERO, &mut sa, child, None);
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
