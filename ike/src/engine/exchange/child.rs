//! CHILD_SA negotiation and installation: SPI allocation, proposal/TS selection, kernel
//! installs with rollback, and removal.
//!
//! Contract: see the parent module.

use super::*;

impl Engine {
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

    pub(super) fn release_spi(&mut self, sa: &IkeSa, child: ChildSaId, spi: u32) {
        self.push_kernel(KernelRequest::DeleteSa {
            child,
            src: sa.remote.ip(),
            dst: sa.local.ip(),
            spi,
        });
    }

    /// Responder: picks the child config whose selectors and proposals fit the request.
    pub(super) fn negotiate_child_responder(
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
        let transport = msg.notify(NotifyType::USE_TRANSPORT_MODE).is_some();
        // Transport mode through a NAT: the peer proposed its private address, which `dynamic`
        // (our view of its address) can never match (charon's narrow_ts).
        let (tsi, tsr) = (
            transport_nat_ts(tsi, transport && sa.nat.there, sa.remote.ip()),
            transport_nat_ts(tsr, transport && sa.nat.here, sa.local.ip()),
        );
        let (tsi, tsr) = (tsi.as_slice(), tsr.as_slice());
        let in_ike_auth = msg.header.exchange == ExchangeType::IKE_AUTH;
        let candidates: Vec<Arc<ChildConfig>> = match rekey_of.and_then(|id| sa.child(id)) {
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
            // `dynamic` is the addresses this IKE SA uses (charon's get_dynamic_hosts).
            let cfg_l = resolve(&cfg.local_ts, sa.local.ip());
            let cfg_r = resolve(&cfg.remote_ts, sa.remote.ip());
            let local_ts = narrow(tsr, &cfg_l, host_l);
            let remote_ts = narrow(tsi, &cfg_r, host_r);
            if local_ts.is_empty() || remote_ts.is_empty() {
                continue;
            }
            if cfg.mode == Mode::Transport && !transport {
                error = ProtocolError::ModeMismatch;
                continue;
            }
            let score = ts_match_score(tsr, &cfg_l).saturating_add(ts_match_score(tsi, &cfg_r));
            ranked.push((score, order, cfg, local_ts, remote_ts));
        }
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, _, cfg, local_ts, remote_ts) in ranked {
            let chosen = match ke {
                Some((group, _)) => select_with_ke(&cfg.esp_proposals, theirs, group)?,
                // CREATE_CHILD_SA without a KE payload: as charon's child_create, a proposal
                // that names our key exchange method must be used with it (INVALID_KE_PAYLOAD
                // asking for it), and one of ours that names a method never matches a peer's
                // proposal without one. Otherwise an authenticated peer could create or
                // rekey a child without the PFS the operator configured.
                None if !in_ike_auth => match select_pfs(&cfg.esp_proposals, theirs) {
                    Some(p) => match p.selected().map(|s| s.ke) {
                        Some(wanted) if wanted != 0 => {
                            return Err(ProtocolError::InvalidKe { offered: 0, wanted });
                        }
                        _ => p,
                    },
                    None => {
                        error = ProtocolError::NoProposalChosen;
                        continue;
                    }
                },
                // IKE_AUTH carries no key exchange: the first child's proposals drop theirs.
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
            let id = self.new_child_id().ok_or(ProtocolError::IdsExhausted)?;
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
        // Only a response still waiting for this child's SPI takes it.
        let waiting = match sa.parked.as_ref().map(|p| &p.kind) {
            Some(ParkedKind::Auth(pc) | ParkedKind::CreateChild(pc)) => pc.id == child,
            _ => false,
        };
        let parked = if waiting { sa.parked.take() } else { None };
        let Some(parked) = parked else {
            if let Ok(s) = spi {
                // The negotiation this SPI was for is gone: do not leave a larval SA behind.
                self.release_spi(sa, child, s);
            }
            return Fate::Keep;
        };
        let mid = parked.message_id;
        let (ex, pc) = match parked.kind {
            ParkedKind::Auth(pc) => (ExchangeType::IKE_AUTH, pc),
            ParkedKind::CreateChild(pc) => (ExchangeType::CREATE_CHILD_SA, pc),
            // Excluded by `waiting` above.
            ParkedKind::Install(_) => return Fate::Keep,
        };
        let mut pc = *pc;
        let spi_in = match spi {
            Ok(s) => s,
            Err(reason) => {
                self.timers.cancel(TimerKey::KernelAnswer(sa.id));
                let mut payloads = std::mem::take(&mut pc.prefix);
                payloads.push(Payload::Notify(Notify::new(
                    NotifyType::NO_PROPOSAL_CHOSEN,
                    vec![],
                )));
                // A refused rekey leaves the old child in force.
                keep_predecessor(sa, child);
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

    /// Parks the response to request `mid` until the kernel answers, bounded by
    /// [`KERNEL_ANSWER_TIMEOUT`].
    pub(super) fn park(&mut self, now: Timestamp, sa: &mut IkeSa, mid: u32, kind: ParkedKind) {
        sa.parked = Some(Parked {
            message_id: mid,
            kind,
        });
        self.timers.schedule(
            TimerKey::KernelAnswer(sa.id),
            now.saturating_add(KERNEL_ANSWER_TIMEOUT),
        );
    }

    /// Responder: derives the child's keys, starts its installation and holds the response
    /// until the kernel has answered every install request ([`Engine::settle_held_response`]).
    pub(super) fn finish_responder_child(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        mid: u32,
        ex: ExchangeType,
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
            self.timers.cancel(TimerKey::KernelAnswer(sa.id));
            let mut payloads = std::mem::take(&mut pc.prefix);
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::NO_PROPOSAL_CHOSEN,
                vec![],
            )));
            keep_predecessor(sa, pc.id);
            self.send_response(sa, mid, ex, payloads);
            self.release_spi(sa, pc.id, spi_in);
            return;
        };
        let mut answer = pc.proposal.clone();
        answer.spi = spi_in.to_be_bytes().to_vec();
        let mut payloads = std::mem::take(&mut pc.prefix);
        let keep_on_refusal = payloads.len();
        if ex == ExchangeType::CREATE_CHILD_SA
            && let Some(old) = pc.rekey_of.and_then(|id| sa.child(id))
        {
            payloads.push(Payload::Notify(Notify {
                protocol: ProtocolId::ESP,
                spi: old.spi_in.to_be_bytes().to_vec(),
                kind: NotifyType::REKEY_SA,
                data: vec![],
            }));
        }
        if pc.transport {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::USE_TRANSPORT_MODE,
                vec![],
            )));
        }
        payloads.push(Payload::Sa(vec![answer]));
        if ex == ExchangeType::CREATE_CHILD_SA {
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
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Cfg,
            "selected proposal: {}",
            pc.proposal.describe()
        );
        let child_id = pc.id;
        let child = Child {
            id: pc.id,
            config: pc.config,
            spi_in,
            spi_out,
            local_ts: pc.local_ts,
            remote_ts: pc.remote_ts,
            proposal: pc.proposal,
            state: ChildState::Installing,
            pending: Vec::new(),
            installed: Vec::new(),
            nonces: (pc.ni, pc.nr),
            we_initiated: false,
            reqid: pc.id.0,
            // Not before the response that accepts it is sent.
            peer_knows: false,
            replaced_by: None,
        };
        self.install_child(now, sa, child, keys, pc.rekey_of);
        self.park(
            now,
            sa,
            mid,
            ParkedKind::Install(Box::new(HeldResponse {
                exchange: ex,
                child: child_id,
                accept: payloads,
                keep_on_refusal,
                refusal: None,
            })),
        );
        // install_child queues at least the two SAs; should it ever have refused the child
        // outright, answer now rather than wait for nothing.
        if sa.child(child_id).is_none() {
            self.settle_held_response(sa, child_id);
        }
    }

    pub(super) fn send_create_child(&mut self, now: Timestamp, sa: &mut IkeSa, nc: NewChild) {
        let Some(spi) = nc.spi_in else { return };
        let mut payloads = Vec::new();
        let (local_ts, remote_ts) = match nc.rekey_of.and_then(|id| sa.child(id)) {
            Some(old) => {
                payloads.push(Payload::Notify(Notify {
                    protocol: ProtocolId::ESP,
                    spi: old.spi_in.to_be_bytes().to_vec(),
                    kind: NotifyType::REKEY_SA,
                    data: vec![],
                }));
                (old.local_ts.clone(), old.remote_ts.clone())
            }
            None => proposed_ts(&nc.config, sa.local.ip(), sa.remote.ip()),
        };
        if nc.config.mode == Mode::Transport {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::USE_TRANSPORT_MODE,
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
            ExchangeType::CREATE_CHILD_SA,
            payloads,
            Active::CreateChild(Box::new(nc)),
        );
    }

    pub(super) fn child_negotiation_failed(
        &mut self,
        sa: &mut IkeSa,
        nc: &NewChild,
        reason: String,
    ) {
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "failed to establish CHILD_SA {}{{{}}}: {reason}",
            nc.config.name,
            nc.id.0
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

    /// Initiator: refuses an answer to our IKE_AUTH or CREATE_CHILD_SA child that we cannot
    /// use (its key exchange does not fit what we sent, its selectors or proposal are not
    /// ours). If the peer created its half (SA payload, no error notify), it is asked to delete
    /// it, as charon's delete_failed_sa; the Delete names the SPI we expect inbound (RFC 7296
    /// 3.11), the peer's outbound SPI. The IKE SA stays.
    pub(super) fn reject_child_answer(
        &mut self,
        sa: &mut IkeSa,
        nc: &NewChild,
        msg: &Message,
        reason: String,
    ) {
        let peer_created = msg.error_notify().is_none()
            && sa_payload(msg)
                .is_some_and(|p| matches!(&p[..], [only] if spi32(&only.spi).is_some()));
        if peer_created && let Some(spi) = nc.spi_in {
            sa.tasks.push_front(Task::DeleteRejectedChild {
                name: nc.config.name.clone(),
                spi,
            });
        }
        self.child_negotiation_failed(sa, nc, reason);
    }

    /// Initiator: completes a child from the peer's answer (IKE_AUTH or CREATE_CHILD_SA).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn complete_child_initiator(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        nc: NewChild,
        msg: &Message,
        ni: &[u8],
        nr: &[u8],
        shared: Option<Secret>,
    ) {
        match self.check_child_answer(sa, &nc, msg, ni, nr, shared) {
            Ok((child, keys)) => self.adopt_child_answer(now, sa, &nc, child, keys, (ni, nr)),
            Err(e) => {
                // The responder may have created its half of the child; we cannot use it.
                self.reject_child_answer(sa, &nc, msg, e.to_string());
                if let (Some(old), ProtocolError::PeerNotify(NotifyType::TEMPORARY_FAILURE)) =
                    (nc.rekey_of, &e)
                {
                    let delay = REKEY_RETRY_MIN.saturating_add(self.random_jitter(REKEY_RETRY_MIN));
                    self.timers
                        .schedule(TimerKey::RetryChildRekey(old), now.saturating_add(delay));
                }
            }
        }
    }

    /// The checks of [`Self::complete_child_initiator`]: the peer's answer against what we
    /// proposed (proposal, SPI, mode, narrowed selectors), and the child's keys.
    fn check_child_answer(
        &mut self,
        sa: &IkeSa,
        nc: &NewChild,
        msg: &Message,
        ni: &[u8],
        nr: &[u8],
        shared: Option<Secret>,
    ) -> Result<(Child, ChildKeys), ProtocolError> {
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
        let fits = if nc.ke.is_some() {
            accept_child_answer(&ours, chosen)
        } else {
            accept_answer(&ours, chosen)
        };
        if !fits {
            return Err(ProtocolError::NoProposalChosen);
        }
        let sel = chosen.selected().ok_or(ProtocolError::NoProposalChosen)?;
        let spi_out = spi32(&chosen.spi).ok_or(ProtocolError::Malformed("ESP SPI size".into()))?;
        let (tsi, tsr) = ts_payloads(msg).ok_or(ProtocolError::MissingPayload("TS"))?;
        let transport = nc.config.mode == Mode::Transport;
        if transport && msg.notify(NotifyType::USE_TRANSPORT_MODE).is_none() {
            return Err(ProtocolError::ModeMismatch);
        }
        // Through a NAT the responder answers with the addresses it sees (see the
        // responder's side); ours are the ones we use.
        let (tsi, tsr) = (
            transport_nat_ts(tsi, transport && sa.nat.here, sa.local.ip()),
            transport_nat_ts(tsr, transport && sa.nat.there, sa.remote.ip()),
        );
        let (tsi, tsr) = (tsi.as_slice(), tsr.as_slice());
        let (host_l, host_r) = if transport {
            (Some(sa.local.ip()), Some(sa.remote.ip()))
        } else {
            (None, None)
        };
        let (cfg_l, cfg_r) = match nc.rekey_of.and_then(|id| sa.child(id)) {
            Some(old) => (old.local_ts.clone(), old.remote_ts.clone()),
            None => (
                resolve(&nc.config.local_ts, sa.local.ip()),
                resolve(&nc.config.remote_ts, sa.remote.ip()),
            ),
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
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Cfg,
            "selected proposal: {}",
            chosen.describe()
        );
        Ok((
            Child {
                id: nc.id,
                config: nc.config.clone(),
                spi_in,
                spi_out,
                local_ts,
                remote_ts,
                proposal: chosen.clone(),
                state: ChildState::Installing,
                pending: Vec::new(),
                installed: Vec::new(),
                nonces: (ni.to_vec(), nr.to_vec()),
                we_initiated: true,
                reqid: nc.id.0,
                peer_knows: true,
                replaced_by: None,
            },
            keys,
        ))
    }

    /// Installs an accepted child and settles a rekey: the old child is replaced once the new
    /// one is installed, and a rekey collision (RFC 7296 2.8.1) deletes the redundant SA.
    fn adopt_child_answer(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        nc: &NewChild,
        child: Child,
        keys: ChildKeys,
        (ni, nr): (&[u8], &[u8]),
    ) {
        let old = nc.rekey_of;
        let id = child.id;
        // RFC 7296 2.8.1: if the peer rekeyed the same child meanwhile, the exchange
        // holding the lowest of the four nonces made the redundant SA; its initiator
        // deletes that SA and the winner deletes the old one.
        let collision = old
            .and_then(|o| sa.child(o))
            .and_then(|o| o.replaced_by)
            .and_then(|peer_new| sa.child(peer_new).map(|p| (peer_new, p.nonces.clone())));
        // The child we rekeyed was deleted meanwhile (the peer won a rekey collision
        // whose answer reached us late, or just deleted it): like charon's rekey/delete
        // collision, our new child is redundant and is deleted once installed.
        let old_gone = old.is_some_and(|o| sa.child(o).is_none());
        self.install_child(now, sa, child, keys, old);
        if old_gone {
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "CHILD_SA rekey/delete collision, deleting redundant {}{{{}}}",
                nc.config.name,
                id.0
            );
            sa.tasks.push_front(Task::DeleteChild(id));
            return;
        }
        match (old, collision) {
            (Some(_), Some((peer_new, peer_nonces))) => {
                let ours_min = min_nonce(ni, nr);
                let theirs_min = min_nonce(&peer_nonces.0, &peer_nonces.1);
                if ours_min < theirs_min {
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Ike,
                        "CHILD_SA rekey collision lost, deleting redundant {{{}}}",
                        id.0
                    );
                    sa.tasks.push_front(Task::DeleteChild(id));
                    if let Some(o) = old.and_then(|o| sa.child_mut(o)) {
                        o.replaced_by = Some(peer_new);
                    }
                } else {
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Ike,
                        "CHILD_SA rekey collision won, deleting the old CHILD_SA once the new one is installed"
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

    // ===== kernel installation ================================================================

    pub(super) fn install_child(
        &mut self,
        _now: Timestamp,
        sa: &mut IkeSa,
        mut child: Child,
        keys: ChildKeys,
        rekey_of: Option<ChildSaId>,
    ) {
        let Some(sel) = child.proposal.selected() else {
            return;
        };
        let jitter = self.random_jitter(child.config.lifetimes.rand_time);
        let lifetimes = kernel_lifetimes(&child.config.lifetimes, jitter);
        let (local, remote) = (sa.local.ip(), sa.remote.ip());
        // KEYMAT's first half protects traffic from the exchange's initiator.
        // The keys move into the kernel requests; the child does not keep them.
        let ChildKeys {
            encr_i,
            integ_i,
            encr_r,
            integ_r,
        } = keys;
        let (in_keys, out_keys) = if child.we_initiated {
            ((encr_r, integ_r), (encr_i, integ_i))
        } else {
            ((encr_i, integ_i), (encr_r, integ_r))
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
        let (encap_in, encap_out) = (Self::encap_ports(sa, false), Self::encap_ports(sa, true));
        let mk = |direction, src, dst, spi, keys: (Secret, Secret)| SaInstall {
            child: child.id,
            reqid,
            direction,
            src,
            dst,
            spi,
            encr: sel.encr,
            encr_key: keys.0,
            integ: sel.integ,
            integ_key: keys.1,
            esn: sel.esn,
            replay_window: 32,
            mode: child.config.mode,
            local_ts: child.local_ts.clone(),
            remote_ts: child.remote_ts.clone(),
            lifetimes,
            hw_offload: child.config.hw_offload,
            encap: if direction == Direction::Out {
                encap_out
            } else {
                encap_in
            },
            marks: child.config.marks,
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
        // Exact capacities: a child lives as long as its SAs, and amortized growth would
        // double what it holds (see bench/RESULTS.md).
        child.installed.reserve_exact(requests.len());
        child.pending.reserve_exact(requests.len());
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
        sa.children.reserve_exact(1);
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
        let Some(c) = sa.child_mut(child) else { return };
        let Some(pos) = c.pending.iter().position(|(rid, _)| *rid == id) else {
            return;
        };
        let (_, item) = c.pending.remove(pos);
        if c.pending.is_empty() {
            c.pending = Vec::new();
        }
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
                    engine_log!(
                        self,
                        Some(ike),
                        LogGroup::Ike,
                        "CHILD_SA {name}{{{}}} established with SPIs {spi_in:08x}_i {spi_out:08x}_o and TS {} === {}",
                        child.0,
                        fmt_ts_list(&l),
                        fmt_ts_list(&r)
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
            // Already rolled back; only the held response may still wait for this answer.
            Some(_) if c.state == ChildState::Failed => {}
            Some(reason) => {
                c.state = ChildState::Failed;
                let installed = std::mem::take(&mut c.installed);
                let (name, spi_in, peer_knows) = (c.config.name.clone(), c.spi_in, c.peer_knows);
                let spi_in_installed = installed
                    .iter()
                    .any(|i| matches!(i, Installed::Sa { spi, .. } if *spi == spi_in));
                engine_log!(
                    self,
                    Some(ike),
                    LogGroup::Knl,
                    "unable to install CHILD_SA {name}{{{}}} in {}: {reason}, rolling back",
                    child.0,
                    sa.log_name()
                );
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
                    reason: format!("{}: {reason}", super::super::CHILD_KERNEL_REFUSAL),
                });
                if peer_knows {
                    // The peer installed its half: tell it to delete the child. The IKE SA stays.
                    sa.tasks.push_front(Task::DeleteChild(child));
                }
                if let Some(Parked {
                    kind: ParkedKind::Install(held),
                    ..
                }) = &mut sa.parked
                    && held.child == child
                    && held.refusal.is_none()
                {
                    // charon: SAs refused -> NO_PROPOSAL_CHOSEN, only policies -> TS_UNACCEPTABLE.
                    held.refusal = Some(match item {
                        Installed::Sa { .. } => NotifyType::NO_PROPOSAL_CHOSEN,
                        Installed::Policy(_) => NotifyType::TS_UNACCEPTABLE,
                    });
                }
            }
        }
        self.settle_held_response(sa, child);
    }

    /// Sends the response held for `child` once the kernel has answered: the accepting one
    /// when the child is installed; when it failed and every request has been answered (so the
    /// rollback is complete), the refusal, and the child is forgotten, since the peer never
    /// learnt of it. Nothing happens while answers are outstanding or no response is held.
    pub(super) fn settle_held_response(&mut self, sa: &mut IkeSa, child: ChildSaId) {
        let held = matches!(
            sa.parked.as_ref().map(|p| &p.kind),
            Some(ParkedKind::Install(h)) if h.child == child
        );
        if !held {
            return;
        }
        let accepted = match sa.child(child).map(|c| (c.state, c.pending.is_empty())) {
            Some((ChildState::Installing, _)) | Some((ChildState::Failed, false)) => return,
            Some((ChildState::Failed, true)) | None => false,
            Some(_) => true,
        };
        let Some(Parked {
            message_id,
            kind: ParkedKind::Install(held),
        }) = sa.parked.take()
        else {
            return;
        };
        self.timers.cancel(TimerKey::KernelAnswer(sa.id));
        let HeldResponse {
            exchange: ex,
            accept: mut payloads,
            keep_on_refusal,
            refusal,
            ..
        } = *held;
        if accepted {
            if let Some(c) = sa.child_mut(child) {
                c.peer_knows = true;
            }
            self.send_response(sa, message_id, ex, payloads);
            return;
        }
        let kind = refusal.unwrap_or(NotifyType::NO_PROPOSAL_CHOSEN);
        payloads.truncate(keep_on_refusal);
        payloads.push(Payload::Notify(Notify::new(kind, vec![])));
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "failed to establish CHILD_SA, keeping IKE_SA; sending {} notify to the peer",
            message::notify_name(kind)
        );
        self.send_response(sa, message_id, ex, payloads);
        self.remove_child(
            sa,
            child,
            DownReason::Failed("kernel refused the CHILD_SA".into()),
        );
    }

    /// The kernel did not answer what a held response waits for within
    /// [`KERNEL_ANSWER_TIMEOUT`]: refuse the child as if the kernel had, so that the IKE SA is
    /// not wedged. Requests still outstanding are undone after them (the kernel keeps the
    /// order), and their late answers, if any, are ignored (a late SPI is released).
    pub(crate) fn on_kernel_answer_timeout(&mut self, now: Timestamp, id: IkeSaId) {
        let Some(mut sa) = self.sas.remove(&id) else {
            return;
        };
        let secs = KERNEL_ANSWER_TIMEOUT.as_secs();
        match sa.parked.as_ref().map(|p| &p.kind) {
            Some(ParkedKind::Auth(pc) | ParkedKind::CreateChild(pc)) => {
                let child = pc.id;
                // The SPI's allocation stays recorded, so a late one is released.
                self.kernel_waits.retain(|_, (ike, w)| {
                    !(*ike == id && matches!(w, KernelWait::Spi(c) if *c == child))
                });
                engine_log!(
                    self,
                    Some(id),
                    LogGroup::Knl,
                    "no SPI from the kernel for CHILD_SA {{{}}} within {secs}s",
                    child.0
                );
                let fate = self.on_spi(
                    now,
                    &mut sa,
                    child,
                    Err(format!("no answer from the kernel within {secs}s")),
                );
                self.finish(now, sa, fate);
            }
            Some(ParkedKind::Install(held)) => {
                let child = held.child;
                let pending: Vec<(KernelRequestId, Installed)> = sa
                    .child(child)
                    .map(|c| c.pending.clone())
                    .unwrap_or_default();
                let reason = format!("no answer from the kernel within {secs}s");
                for (rid, item) in pending {
                    self.kernel_waits.remove(&rid);
                    // It may still be carried out: this delete follows it in the kernel.
                    self.undo(child, &item);
                    self.on_install_result(now, &mut sa, child, rid, Some(reason.clone()));
                }
                // Whatever remains (nothing was pending) is settled now.
                if let Some(c) = sa.child_mut(child)
                    && c.state == ChildState::Installing
                {
                    c.state = ChildState::Failed;
                }
                self.settle_held_response(&mut sa, child);
                self.finish(now, sa, Fate::Keep);
            }
            None => {
                self.sas.insert(id, sa);
            }
        }
    }

    pub(super) fn undo(&mut self, child: ChildSaId, item: &Installed) {
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
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Chd,
                "CHILD_SA {}{{{}}} closed",
                c.config.name,
                child.0
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
}

/// charon's `get_transport_nat_ts`: with `nat` (a transport-mode child and a NAT on this
/// side of the IKE SA), the received host selectors take the IKE address `ike` of that side,
/// keeping protocol and ports; only selectors for the same single host as the first one are
/// kept, as a transport-mode SA protects that host alone. Without `nat`, the list as it is.
fn transport_nat_ts(list: &[TrafficSelector], nat: bool, ike: IpAddr) -> Vec<TrafficSelector> {
    if !nat {
        return list.to_vec();
    }
    let mut first = None;
    let mut out = Vec::with_capacity(list.len());
    for ts in list {
        if ts.start != ts.end || first.is_some_and(|f| f != ts.start) {
            continue;
        }
        first = Some(ts.start);
        out.push(TrafficSelector {
            start: ike,
            end: ike,
            ..*ts
        });
    }
    out
}

/// A candidate child config with its match score, config order and narrowed selectors.
type RankedChild = (
    u32,
    usize,
    Arc<ChildConfig>,
    Vec<TrafficSelector>,
    Vec<TrafficSelector>,
);

enum KernelRequestFactory {
    Sa(Box<SaInstall>),
    Policy(PolicyInstall),
}
