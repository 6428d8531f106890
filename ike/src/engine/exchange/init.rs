//! IKE_SA_INIT for both roles: proposal and KE selection, INVALID_KE_PAYLOAD and COOKIE
//! retries, NAT detection, the half-open limit, and key derivation; and the NAT traversal that
//! follows from it (RFC 7296 2.23, RFC 3948), as strongSwan does it.
//!
//! Contract: see the parent module. NAT traversal:
//! - both roles send NAT_DETECTION_SOURCE_IP/DESTINATION_IP hashes of the addresses they use;
//!   with `encap = yes` the source hash is random (strongSwan's fake NAT), so the peer sees us
//!   behind a NAT and UDP encapsulation is forced;
//! - both roles compare the peer's hashes with the addresses the datagram really carried:
//!   [`NatState`] says who is behind a NAT (only when both kinds of hash were present);
//! - with any NAT (or the fake), the initiator moves to the NAT-T port for IKE_AUTH and every
//!   later message (the daemon frames them with the non-ESP marker); the responder adopts the
//!   addresses of the IKE_AUTH request, and afterwards follows the peer's address only if the
//!   peer is behind a NAT ([`Engine::follow_peer`]);
//! - CHILD_SAs of such an IKE SA are installed with ESP-in-UDP ports ([`Engine::encap_ports`]);
//! - the side behind a NAT sends a keepalive ([`super::super::NAT_KEEPALIVE`]) every
//!   `keep_alive` to hold the mapping open.

use super::super::core::fmt_addr;
use super::super::sa::NatState;
use super::*;

/// The peer's IKE port, and its NAT-T port (RFC 3948), which an initiator moves to.
const IKE_PORT: u16 = 500;
const NAT_T_PORT: u16 = 4500;

/// Length of a NAT_DETECTION hash (SHA-1).
const NAT_HASH_LEN: usize = 20;

/// An IKE_SA_INIT request as it arrived, handed through the steps of
/// [`Engine::respond_sa_init`].
#[derive(Clone, Copy)]
struct SaInitRequest<'a> {
    local: SocketAddr,
    remote: SocketAddr,
    header: Header,
    bytes: &'a [u8],
}

/// What a responder agreed to in IKE_SA_INIT: the proposal and its suite, our key exchange
/// half, nonce and SPI, and the IKE SA keys derived from them.
struct SaInitAgreement {
    chosen: Proposal,
    suite_sel: crate::proposal::Selected,
    group: u16,
    ke: KeyExchange,
    nr: Vec<u8>,
    spi_r: u64,
    keys: crate::suite::IkeKeys,
}

impl Engine {
    // ===== IKE_SA_INIT ========================================================================

    pub(crate) fn start_initiator(
        &mut self,
        now: Timestamp,
        config: Arc<IkeConfig>,
        local: SocketAddr,
        remote: SocketAddr,
        mut children: Vec<Arc<ChildConfig>>,
    ) -> Option<IkeSaId> {
        let id = self.new_ike_id()?;
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
        engine_log!(
            self,
            Some(id),
            LogGroup::Ike,
            "initiating IKE_SA {} to {}",
            sa.log_name(),
            remote.ip()
        );
        let ke = match ke {
            Ok(ke) => ke,
            Err(e) => {
                self.event(Event::IkeFailed {
                    sa: id,
                    name: config.name.clone(),
                    reason: e.to_string(),
                    peer_silent: false,
                });
                return Some(id);
            }
        };
        self.send_sa_init(now, &mut sa, ke, ni, None, 0);
        self.by_spi.insert(spi_i, id);
        self.sas.insert(id, Box::new(sa));
        Some(id)
    }

    pub(super) fn send_sa_init(
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
            payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.clone())));
        }
        payloads.push(Payload::Sa(numbered(sa.config.proposals.clone(), &[])));
        payloads.push(Payload::Ke {
            group: ke.group(),
            data: ke.public(),
        });
        payloads.push(Payload::Nonce(ni.clone()));
        let source_hash = self.nat_source_hash(sa, 0, sa.local);
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            source_hash,
        )));
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_hash(sa.spi_i, 0, sa.remote),
        )));
        if sa.config.fragmentation != Fragmentation::No {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )));
        }
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::SIGNATURE_HASH_ALGORITHMS,
            HASH_ALGORITHMS.to_vec(),
        )));
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::REDIRECT_SUPPORTED,
            vec![],
        )));
        // A retried IKE_SA_INIT (cookie, other group) starts again at message ID 0.
        sa.next_request_id = 0;
        self.send_request(now, sa, ExchangeType::IKE_SA_INIT, payloads, Active::SaInit);
        let request = sa
            .outstanding
            .as_ref()
            .and_then(|o| o.datagrams.first().cloned())
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
        (local, remote): (SocketAddr, SocketAddr),
        msg: Message,
        bytes: &[u8],
    ) -> Fate {
        let Phase::ExpectSaInitResponse(st) = std::mem::replace(&mut sa.phase, Phase::Transition)
        else {
            self.drop_datagram(Some(sa.id), || "unexpected IKE_SA_INIT response".to_owned());
            return Fate::Keep;
        };
        let st = *st;
        self.timers.cancel(TimerKey::Retransmit(sa.id));
        sa.outstanding = None;
        let fail = |e: &mut Engine, sa: &IkeSa, reason: String| {
            e.log(Some(sa.id), LogGroup::Ike, reason.clone());
            e.ike_failed(sa, reason)
        };
        if st.retries >= 5 {
            return fail(self, sa, "too many IKE_SA_INIT retries".into());
        }
        if let Some(n) = msg.notify(NotifyType::COOKIE) {
            if n.data.is_empty() || n.data.len() > 64 {
                return fail(self, sa, "invalid COOKIE notify".into());
            }
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "received COOKIE, retrying IKE_SA_INIT"
            );
            let cookie = Some(n.data.clone());
            self.send_sa_init(now, sa, st.ke, st.ni, cookie, st.retries.saturating_add(1));
            return Fate::Keep;
        }
        if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = n.data.first_chunk().map(|b| u16::from_be_bytes(*b));
            let offered = sa.config.proposals.iter().any(|p| {
                Some(p.ke_methods()).is_some_and(|m| wanted.is_some_and(|w| m.contains(&w)))
            });
            match wanted {
                Some(group) if offered && group != st.ke.group() => {
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Ike,
                        "peer didn't accept DH group {}, it requested {group}",
                        st.ke.group()
                    );
                    match KeyExchange::generate(group, self.rng.as_mut()) {
                        Ok(ke) => {
                            self.send_sa_init(
                                now,
                                sa,
                                ke,
                                st.ni,
                                st.cookie,
                                st.retries.saturating_add(1),
                            );
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
                format!("received {} notify error", message::notify_name(n.kind)),
            );
        }
        match self.complete_sa_init(sa, st, &msg, bytes) {
            Ok(()) => {}
            Err(e) => return fail(self, sa, e.to_string()),
        }
        self.detect_nat(now, sa, &msg, local, remote);
        if sa.nat.any() {
            self.float_ports(sa);
        }
        // IKE_AUTH next; the first child's inbound SPI must come from the kernel first.
        if sa.queued_children.is_empty() {
            self.send_auth(now, sa)
        } else {
            let cfg = sa.queued_children.remove(0);
            let Some(child) = self.new_child_id() else {
                return Fate::Destroy(DownReason::Failed(ProtocolError::IdsExhausted.to_string()));
            };
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "establishing CHILD_SA {}{{{}}}",
                cfg.name,
                child.0
            );
            if let Phase::ExpectAuthResponse(st) = &mut sa.phase {
                st.child = Some(NewChild {
                    id: child,
                    config: cfg,
                    spi_in: None,
                    ni: Vec::new(),
                    ke: None,
                    rekey_of: None,
                    ke_retried: false,
                });
            }
            self.allocate_spi(sa, child);
            sa.pending_send = Some(Active::Auth);
            Fate::Keep
        }
    }

    pub(super) fn complete_sa_init(
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
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Cfg,
            "selected proposal: {}",
            chosen.describe()
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

    /// Refuses an IKE_SA_INIT request with an error notify, keeping no state.
    pub(super) fn refuse_sa_init(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        kind: NotifyType,
    ) {
        self.stateless_reply(local, remote, header, Notify::new(kind, vec![]));
    }

    pub(crate) fn stateless_reply(
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
                exchange: ExchangeType::IKE_SA_INIT,
                flags: Flags::RESPONSE,
                message_id: 0,
            },
            payloads: vec![Payload::Notify(n)],
        };
        self.transmit_raw(local, remote, &msg);
    }

    /// RFC 7296 2.5: an IKE_SA_INIT request of a higher major version is answered,
    /// unauthenticated and without state, with INVALID_MAJOR_VERSION naming ours (2.0), as
    /// charon does. Anything else of another version (responses, requests for an SA, IKEv1)
    /// is only dropped.
    pub(crate) fn refuse_major_version(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
        major: u8,
    ) {
        let Some(h) = bytes.first_chunk::<28>() else {
            return;
        };
        // Fixed offsets into a 28-octet array: checked at compile time.
        let spi = |b: &[u8]| b.try_into().map(u64::from_be_bytes).unwrap_or(0);
        let (spi_i, spi_r) = (spi(&h[..8]), spi(&h[8..16]));
        let request = h[19] & Flags::RESPONSE == 0;
        if major <= 2 || !request || spi_r != 0 || ExchangeType(h[18]) != ExchangeType::IKE_SA_INIT
        {
            return;
        }
        let header = Header {
            spi_i,
            spi_r: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: h[19],
            message_id: 0,
        };
        let n = Notify::new(NotifyType::INVALID_MAJOR_VERSION, vec![0x20]);
        self.stateless_reply(local, remote, header, n);
    }

    pub(crate) fn respond_sa_init(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        bytes: &[u8],
    ) {
        let req = SaInitRequest {
            local,
            remote,
            header,
            bytes,
        };
        if !self.screen_sa_init(now, req) {
            return;
        }
        let Some((msg, ni)) = self.decode_sa_init(req) else {
            return;
        };
        let Some(config) = self.sa_init_config(req) else {
            return;
        };
        let Some(agreed) = self.negotiate_sa_init(req, &config, &msg, &ni) else {
            return;
        };
        self.start_responder_sa(now, req, config, &msg, ni, agreed);
    }

    /// Step 1 of [`Self::respond_sa_init`]: replays the response to a retransmit and lets
    /// through only a fresh, well-formed request the DoS protection admits.
    fn screen_sa_init(&mut self, now: Timestamp, req: SaInitRequest<'_>) -> bool {
        let (local, remote, header, bytes) = (req.local, req.remote, req.header, req.bytes);
        if let Some(id) = self.by_initiator.get(&(header.spi_i, remote)).copied() {
            // A retransmitted IKE_SA_INIT: replay our response.
            if let Some(sa) = self.sas.get(&id)
                && let Some((0, resp)) = &sa.last_response
            {
                for bytes in resp.clone() {
                    self.push_transmit(crate::engine::Transmit {
                        local,
                        remote,
                        bytes,
                    });
                }
                self.stats.replayed_responses = self.stats.replayed_responses.saturating_add(1);
                return false;
            }
            self.drop_datagram(Some(id), || "IKE_SA_INIT retransmit while busy".to_owned());
            return false;
        }
        if header.message_id != 0 {
            self.drop_datagram(None, || {
                "IKE_SA_INIT request with non-zero message ID".to_owned()
            });
            return false;
        }
        // RFC 7296 3.1: the initiator's SPI "MUST NOT be zero", and a request to start an IKE
        // SA comes from its original initiator (I flag set); anything else cannot be answered
        // meaningfully and is not worth a half-open SA.
        if header.spi_i == 0 {
            self.drop_datagram(None, || {
                format!("ignoring IKE_SA_INIT from {remote} with initiator SPI 0")
            });
            return false;
        }
        if !header.from_initiator() {
            self.drop_datagram(None, || {
                format!("ignoring IKE_SA_INIT request from {remote} without the Initiator flag")
            });
            return false;
        }
        if !self.admit_sa_init(now, local, remote, header, bytes) {
            return false;
        }
        true
    }

    /// Step 2: decodes the request and applies the payload limits charon applies; returns it
    /// with the initiator's nonce.
    fn decode_sa_init(&mut self, req: SaInitRequest<'_>) -> Option<(Message, Vec<u8>)> {
        let (local, remote, header, bytes) = (req.local, req.remote, req.header, req.bytes);
        let msg = match crate::message::decode(bytes, None) {
            Ok(m) => m,
            Err(e) => {
                // RFC 7296 2.21.1: an IKE_SA_INIT request that cannot be processed is answered
                // unprotected with the error (UNSUPPORTED_CRITICAL_PAYLOAD naming the type, or
                // INVALID_SYNTAX), as charon's parse_message does; nothing is kept.
                let err = ProtocolError::from(e);
                engine_log!(
                    self,
                    None,
                    LogGroup::Enc,
                    "invalid IKE_SA_INIT request from {}: {err}",
                    fmt_addr(remote)
                );
                match notify_for(&err) {
                    Some((kind, data)) => {
                        self.stateless_reply(local, remote, header, Notify::new(kind, data))
                    }
                    None => self.drop_datagram(None, || format!("IKE_SA_INIT dropped: {err}")),
                }
                return None;
            }
        };
        engine_log!(self, None, LogGroup::Enc, "parsed {}", msg.summary());
        // RFC 7296 1.2: one SA, KE and Nonce payload each; charon refuses duplicates too.
        let count = |want: fn(&Payload) -> bool| msg.payloads.iter().filter(|p| want(p)).count();
        if count(|p| matches!(p, Payload::Sa(_))) > 1
            || count(|p| matches!(p, Payload::Ke { .. })) > 1
            || count(|p| matches!(p, Payload::Nonce(_))) > 1
        {
            self.refuse_sa_init(local, remote, header, NotifyType::INVALID_SYNTAX);
            return None;
        }
        // Notify data of a fixed or bounded size: a COOKIE is 1..64 octets (RFC 7296 2.6),
        // NAT detection data a SHA-1 digest (2.23); charon refuses others as malformed.
        let bad_notify = msg.payloads.iter().any(|p| match p {
            Payload::Notify(n) if n.kind == NotifyType::COOKIE => !(1..=64).contains(&n.data.len()),
            Payload::Notify(n)
                if n.kind == NotifyType::NAT_DETECTION_SOURCE_IP
                    || n.kind == NotifyType::NAT_DETECTION_DESTINATION_IP =>
            {
                n.data.len() != 20
            }
            _ => false,
        });
        // RFC 7296 3.3.1: proposals are numbered from 1, each one more than the last, and an
        // IKE proposal's SPI is empty here (8 octets only when rekeying); charon refuses
        // others as malformed.
        let bad_proposals = sa_payload(&msg).is_some_and(|list| {
            list.iter().enumerate().any(|(i, p)| {
                usize::from(p.number) != i.saturating_add(1)
                    || (p.protocol == ProtocolId::IKE && !matches!(p.spi.len(), 0 | 8))
            })
        });
        if bad_notify || bad_proposals {
            self.refuse_sa_init(local, remote, header, NotifyType::INVALID_SYNTAX);
            return None;
        }
        let Some(ni) = nonce_payload(&msg).cloned() else {
            self.refuse_sa_init(local, remote, header, NotifyType::INVALID_SYNTAX);
            return None;
        };
        Some((msg, ni))
    }

    /// Step 3: the connection for the request's addresses (NO_PROPOSAL_CHOSEN without one).
    fn sa_init_config(&mut self, req: SaInitRequest<'_>) -> Option<Arc<IkeConfig>> {
        let (local, remote, header) = (req.local, req.remote, req.header);
        let Some(config) = crate::config::best_addr_match(
            &self.connections,
            local.ip(),
            remote.ip(),
            &self.resolved,
            |_| true,
        )
        .cloned() else {
            engine_log!(
                self,
                None,
                LogGroup::Cfg,
                "no IKE config found for {}...{}, sending NO_PROPOSAL_CHOSEN",
                local.ip(),
                remote.ip()
            );
            self.refuse_sa_init(local, remote, header, NotifyType::NO_PROPOSAL_CHOSEN);
            return None;
        };
        engine_log!(
            self,
            None,
            LogGroup::Ike,
            "{} is initiating an IKE_SA",
            remote.ip()
        );
        Some(config)
    }

    /// Step 4: the proposal, our half of the key exchange, our nonce and SPI, and the keys.
    fn negotiate_sa_init(
        &mut self,
        req: SaInitRequest<'_>,
        config: &IkeConfig,
        msg: &Message,
        ni: &[u8],
    ) -> Option<SaInitAgreement> {
        let (local, remote, header) = (req.local, req.remote, req.header);
        let (Some(theirs), Some((group, ke_data))) = (sa_payload(msg), ke_payload(msg)) else {
            self.refuse_sa_init(local, remote, header, NotifyType::INVALID_SYNTAX);
            return None;
        };
        let chosen = match select_with_ke(&config.proposals, theirs, group) {
            Ok(p) => p,
            Err(e) => {
                engine_log!(self, None, LogGroup::Ike, "{e}");
                if let Some((kind, data)) = notify_for(&e) {
                    self.stateless_reply(local, remote, header, Notify::new(kind, data));
                }
                return None;
            }
        };
        let suite_sel = chosen.selected()?;
        let Ok(ke) = KeyExchange::generate(group, self.rng.as_mut()) else {
            self.refuse_sa_init(local, remote, header, NotifyType::NO_PROPOSAL_CHOSEN);
            return None;
        };
        let Ok(shared) = ke.shared(ke_data) else {
            self.refuse_sa_init(local, remote, header, NotifyType::INVALID_SYNTAX);
            return None;
        };
        let nr = self.random_bytes(self.settings.nonce_len);
        let spi_r = self.random_spi();
        let Ok(keys) = suite::skeyseed(suite_sel.prf, ni, &nr, &shared).and_then(|seed| {
            suite::derive_ike_keys(&suite_sel, &seed, ni, &nr, header.spi_i, spi_r)
        }) else {
            self.refuse_sa_init(local, remote, header, NotifyType::NO_PROPOSAL_CHOSEN);
            return None;
        };
        Some(SaInitAgreement {
            chosen,
            suite_sel,
            group,
            ke,
            nr,
            spi_r,
            keys,
        })
    }

    /// Step 5: the half-open IKE SA, waiting for IKE_AUTH, and our response.
    fn start_responder_sa(
        &mut self,
        now: Timestamp,
        req: SaInitRequest<'_>,
        config: Arc<IkeConfig>,
        msg: &Message,
        ni: Vec<u8>,
        agreed: SaInitAgreement,
    ) {
        let (local, remote, header, bytes) = (req.local, req.remote, req.header, req.bytes);
        let Some(id) = self.new_ike_id() else {
            self.drop_logged(|| format!("ignoring IKE_SA setup from {remote}: no IKE SA ids left"));
            return;
        };
        engine_log!(
            self,
            Some(id),
            LogGroup::Cfg,
            "selected proposal: {}",
            agreed.chosen.describe()
        );
        let local_id = config
            .local
            .id
            .clone()
            .unwrap_or_else(|| Identity::from_addr(local.ip()));
        let mut sa = IkeSa::new(
            id,
            config,
            (header.spi_i, agreed.spi_r),
            (local, remote),
            local_id,
            now,
        );
        sa.initiator = false;
        // RFC 7383 2.1: a responder announces support only to an initiator that did.
        let announce_fragmentation = msg
            .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
            .is_some()
            && sa.config.fragmentation != Fragmentation::No;
        sa.fragmentation.peer_supported = announce_fragmentation;
        self.detect_nat(now, &mut sa, msg, local, remote);
        let source_hash = self.nat_source_hash(&sa, agreed.spi_r, local);
        let mut payloads = vec![
            Payload::Sa(vec![agreed.chosen.clone()]),
            Payload::Ke {
                group: agreed.group,
                data: agreed.ke.public(),
            },
            Payload::Nonce(agreed.nr.clone()),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                source_hash,
            )),
            Payload::Notify(Notify::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(sa.spi_i, agreed.spi_r, remote),
            )),
            Payload::Notify(Notify::new(
                NotifyType::SIGNATURE_HASH_ALGORITHMS,
                HASH_ALGORITHMS.to_vec(),
            )),
            Payload::Notify(Notify::new(NotifyType::CHILDLESS_IKEV2_SUPPORTED, vec![])),
            Payload::Notify(Notify::new(NotifyType::MULTIPLE_AUTH_SUPPORTED, vec![])),
        ];
        if announce_fragmentation {
            // After the NAT detection notifies, where charon puts it.
            payloads.insert(
                5,
                Payload::Notify(Notify::new(
                    NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                    vec![],
                )),
            );
        }
        // CERTREQ after the nonce, where charon puts it (SA KE No CERTREQ N...).
        if let Some(certreq) = self.init_certreq() {
            payloads.insert(3, certreq);
        }
        self.send_response(&mut sa, 0, ExchangeType::IKE_SA_INIT, payloads);
        let response = sa
            .last_response
            .as_ref()
            .and_then(|(_, b)| b.first().cloned())
            .unwrap_or_default();
        sa.crypto = Some(IkeCrypto {
            proposal: agreed.chosen,
            suite: agreed.suite_sel,
            keys: agreed.keys,
            iv_counter: 0,
        });
        sa.phase = Phase::ExpectAuthRequest(Box::new(ExpectAuthRequest {
            init: InitMaterial {
                ni,
                nr: agreed.nr,
                request: bytes.to_vec(),
                response,
            },
        }));
        self.count_half_open(&mut sa, remote.ip());
        self.by_spi.insert(agreed.spi_r, id);
        self.by_initiator.insert((header.spi_i, remote), id);
        self.timers.schedule(
            TimerKey::HalfOpen(id),
            now.saturating_add(self.settings.half_open_timeout),
        );
        self.sas.insert(id, Box::new(sa));
    }

    // ===== NAT traversal ======================================================================

    /// Our NAT_DETECTION_SOURCE_IP data: the hash of `local`, or random bytes with `encap = yes`
    /// (strongSwan's fake NAT, which forces the peer to encapsulate).
    fn nat_source_hash(&mut self, sa: &IkeSa, spi_r: u64, local: SocketAddr) -> Vec<u8> {
        if sa.config.encap {
            self.random_bytes(NAT_HASH_LEN)
        } else {
            nat_hash(sa.spi_i, spi_r, local)
        }
    }

    /// RFC 7296 2.23: compares the peer's NAT_DETECTION hashes in an IKE_SA_INIT message with
    /// the addresses the datagram carried (`local` where it arrived, `remote` where it came
    /// from), hashed with the SPIs of its header. A peer that sent no hashes of either kind does
    /// not do NAT-T: nothing changes, not even with `encap = yes` (as strongSwan).
    fn detect_nat(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        msg: &Message,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        let (spi_i, spi_r) = (msg.header.spi_i, msg.header.spi_r);
        let hashes = |kind: NotifyType| {
            msg.payloads.iter().filter_map(move |p| match p {
                Payload::Notify(n) if n.kind == kind => Some(n.data.as_slice()),
                _ => None,
            })
        };
        let their_source = nat_hash(spi_i, spi_r, remote);
        let our_address = nat_hash(spi_i, spi_r, local);
        let (mut src_seen, mut src_matched, mut dst_seen, mut dst_matched) =
            (false, false, false, false);
        for h in hashes(NotifyType::NAT_DETECTION_SOURCE_IP) {
            src_seen = true;
            src_matched |= suite::ct_eq(h, &their_source);
        }
        for h in hashes(NotifyType::NAT_DETECTION_DESTINATION_IP) {
            dst_seen = true;
            dst_matched |= suite::ct_eq(h, &our_address);
        }
        if !(src_seen && dst_seen) {
            return;
        }
        sa.nat = NatState {
            here: !dst_matched,
            there: !src_matched,
            fake: dst_matched && src_matched && sa.config.encap,
        };
        // charon's words, so logs read the same.
        if sa.nat.here {
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "local host is behind NAT, sending keep alives"
            );
            self.schedule_nat_keepalive(now, sa.id);
        }
        if sa.nat.there {
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "remote host is behind NAT"
            );
        }
        if sa.nat.fake {
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "faking NAT situation to enforce UDP encapsulation"
            );
        }
    }

    /// The initiator moves to the NAT-T ports (RFC 7296 2.23, charon's `float_ports`): ours if
    /// we used the IKE port, the peer's if we or it used 500.
    fn float_ports(&mut self, sa: &mut IkeSa) {
        let from_ike_port = sa.local.port() == self.settings.ike_port;
        if sa.remote.port() == IKE_PORT || from_ike_port {
            sa.remote.set_port(NAT_T_PORT);
        }
        if from_ike_port {
            sa.local.set_port(self.settings.nat_t_port);
        }
    }

    /// On an authenticated message, adopts the addresses it came with (charon's
    /// `update_hosts`): with `setup` (the IKE_AUTH request, which an initiator behind a NAT
    /// sends from its NAT-T port) both ends; otherwise only the peer's, and only if the peer is
    /// behind a NAT (its mapping may change) and we are not an initiator behind one ourselves
    /// (RFC 7296 2.23: never follow a peer that is not behind a NAT).
    pub(crate) fn follow_peer(
        &mut self,
        sa: &mut IkeSa,
        local: SocketAddr,
        remote: SocketAddr,
        setup: bool,
    ) {
        if setup {
            sa.local = local;
        }
        let follow = setup || (sa.nat.there && !(sa.nat.here && sa.initiator));
        if sa.remote == remote || !follow {
            return;
        }
        if !setup {
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "remote endpoint changed from {} to {}",
                fmt_addr(sa.remote),
                fmt_addr(remote)
            );
        }
        // The responder's IKE_SA_INIT retransmit index is keyed by the peer's address.
        if !sa.initiator && self.by_initiator.get(&(sa.spi_i, sa.remote)) == Some(&sa.id) {
            self.by_initiator.remove(&(sa.spi_i, sa.remote));
            self.by_initiator.insert((sa.spi_i, remote), sa.id);
        }
        sa.remote = remote;
    }

    /// The UDP encapsulation of a CHILD_SA's ESP: (source, destination) ports of the outer
    /// UDP for the outbound SA (`outbound`) or the inbound one, if NAT-T is in use.
    pub(crate) fn encap_ports(sa: &IkeSa, outbound: bool) -> Option<(u16, u16)> {
        let (ours, theirs) = (sa.local.port(), sa.remote.port());
        sa.nat.any().then_some(if outbound {
            (ours, theirs)
        } else {
            (theirs, ours)
        })
    }

    pub(crate) fn schedule_nat_keepalive(&mut self, now: Timestamp, id: IkeSaId) {
        if !self.settings.keep_alive.is_zero() {
            self.timers.schedule(
                TimerKey::NatKeepalive(id),
                now.saturating_add(self.settings.keep_alive),
            );
        }
    }

    /// Sends one NAT keepalive for an IKE SA behind a NAT and schedules the next. (strongSwan
    /// skips it when other traffic went out meanwhile; the engine does not see ESP traffic, so
    /// it always sends: one byte every `keep_alive`.)
    pub(crate) fn send_nat_keepalive(&mut self, now: Timestamp, id: IkeSaId) {
        let Some(sa) = self.sas.get(&id) else {
            return;
        };
        if !sa.nat.here {
            return;
        }
        let t = super::super::Transmit {
            local: sa.local,
            remote: sa.remote,
            bytes: super::super::NAT_KEEPALIVE.to_vec(),
        };
        self.push_transmit(t);
        self.schedule_nat_keepalive(now, id);
    }
}
