//! Requests we initiate on an established IKE SA and the responses to them, and the
//! requests we answer there: CREATE_CHILD_SA (new child, CHILD_SA and IKE SA rekey) and
//! INFORMATIONAL (delete, liveness).
//!
//! Contract: see the parent module.

use super::*;

impl Engine {
    // ===== tasks (requests we initiate on an established SA) ==================================

    pub(crate) fn start_task(&mut self, now: Timestamp, sa: &mut IkeSa, task: Task) -> Fate {
        match task {
            Task::CreateChild(cfg) => self.start_new_child(now, sa, cfg, None),
            Task::RekeyChild(old) => {
                let Some(c) = sa.child_mut(old) else {
                    return Fate::Keep;
                };
                if c.state != ChildState::Installed {
                    return Fate::Keep;
                }
                c.state = ChildState::Rekeying;
                let cfg = c.config.clone();
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Ike,
                    "rekeying CHILD_SA {}{{{}}}",
                    cfg.name,
                    old.0
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
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Ike,
                    "rekeying IKE_SA {}",
                    sa.log_name()
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
                    ExchangeType::CREATE_CHILD_SA,
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
                self.send_esp_delete(
                    now,
                    sa,
                    spi,
                    format_args!("ESP CHILD_SA with SPI {spi:08x}"),
                    Active::DeleteChildren(vec![child]),
                );
                Fate::Keep
            }
            Task::DeleteRejectedChild { name, spi } => {
                self.send_esp_delete(
                    now,
                    sa,
                    spi,
                    format_args!("rejected ESP CHILD_SA {name} with SPI {spi:08x}"),
                    Active::DeleteRejectedChild,
                );
                Fate::Keep
            }
            Task::DeleteIke => {
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Ike,
                    "deleting IKE_SA {} between {}[{}]...{}",
                    sa.log_name(),
                    sa.local.ip(),
                    sa.local_id,
                    sa.remote.ip()
                );
                self.send_ike_delete(now, sa);
                Fate::Keep
            }
            Task::Dpd => {
                if now.saturating_since(sa.last_received) < sa.config.dpd_delay {
                    return Fate::Keep;
                }
                self.send_request(now, sa, ExchangeType::INFORMATIONAL, vec![], Active::Dpd);
                Fate::Keep
            }
        }
    }

    /// INFORMATIONAL request deleting one ESP SA, named by our inbound SPI (RFC 7296 3.11).
    pub(super) fn send_esp_delete(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        spi_in: u32,
        // Arguments, not a String: only formatted when `[IKE]` is logged.
        what: std::fmt::Arguments<'_>,
        active: Active,
    ) {
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "sending DELETE for {what}"
        );
        let payloads = vec![Payload::Delete {
            protocol: ProtocolId::ESP,
            spis: vec![spi_in.to_be_bytes().to_vec()],
        }];
        self.send_request(now, sa, ExchangeType::INFORMATIONAL, payloads, active);
    }

    pub(super) fn start_new_child(
        &mut self,
        _now: Timestamp,
        sa: &mut IkeSa,
        cfg: Arc<ChildConfig>,
        rekey_of: Option<ChildSaId>,
    ) -> Fate {
        let Some(id) = self.new_child_id() else {
            self.event(Event::ChildFailed {
                ike: sa.id,
                name: cfg.name.clone(),
                reason: ProtocolError::IdsExhausted.to_string(),
            });
            return Fate::Keep;
        };
        let ni = self.random_bytes(self.settings.nonce_len);
        // PFS: the first key exchange method of the ESP proposals, if any; a rekey reuses the
        // method the child was negotiated with, as charon's child_rekey does, so a peer that
        // asked for another one with INVALID_KE_PAYLOAD is not asked again each time.
        let configured = || cfg.esp_proposals.iter().flat_map(|p| p.ke_methods());
        let previous = rekey_of
            .and_then(|o| sa.child(o))
            .and_then(|c| c.proposal.selected())
            .map(|s| s.ke)
            .filter(|g| *g != 0 && configured().any(|c| c == *g));
        let group = previous.or_else(|| configured().next());
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
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "establishing CHILD_SA {}{{{}}}",
                cfg.name,
                id.0
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
            ke_retried: false,
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
                if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
                    let wanted = n.data.first_chunk().map(|b| u16::from_be_bytes(*b));
                    // As charon, retry once, and only with a method we proposed: a peer
                    // cannot walk us through groups or off the configured ones.
                    let acceptable = wanted.filter(|w| {
                        !nc.ke_retried
                            && nc
                                .config
                                .esp_proposals
                                .iter()
                                .any(|p| p.ke_methods().contains(w))
                            && Some(*w) != nc.ke.as_ref().map(|k| k.group())
                    });
                    if let Some(group) = acceptable
                        && let Ok(ke) = KeyExchange::generate(group, self.rng.as_mut())
                    {
                        engine_log!(
                            self,
                            Some(sa.id),
                            LogGroup::Ike,
                            "peer requested key exchange method {group}, retrying CREATE_CHILD_SA"
                        );
                        nc.ke = Some(ke);
                        nc.ke_retried = true;
                        self.send_create_child(now, sa, nc);
                        return Fate::Keep;
                    }
                }
                // The method the answer's proposal names must be the one our KE payload used
                // (an answer without one is checked against our proposals afterwards).
                let chosen_ke = sa_payload(&msg)
                    .and_then(|p| p.first())
                    .and_then(Proposal::selected)
                    .map_or(0, |s| s.ke);
                let shared = match (&nc.ke, ke_payload(&msg)) {
                    _ if msg.error_notify().is_some() => None,
                    (Some(ke), Some((group, data)))
                        if group == ke.group() && chosen_ke == group =>
                    {
                        match ke.shared(data) {
                            Ok(s) => Some(s),
                            Err(e) => {
                                self.reject_child_answer(sa, &nc, &msg, e.to_string());
                                return Fate::Keep;
                            }
                        }
                    }
                    // No KE at all in the answer: only a proposal of ours without PFS fits
                    // it, which complete_child_initiator checks (charon: "ignoring KE
                    // exchange, agreed on a non-PFS proposal").
                    (Some(_), None) if chosen_ke == 0 => None,
                    (Some(_), _) => {
                        self.reject_child_answer(
                            sa,
                            &nc,
                            &msg,
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
    pub(super) fn on_ike_rekey_response(
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
                let Some(new_id) = self.new_ike_id() else {
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Ike,
                        "IKE_SA rekey failed: no IKE SA ids left"
                    );
                    return Fate::Keep;
                };
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
                self.sas.insert(new_id, Box::new(new));
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
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Ike,
                    "IKE_SA rekeying failed: {e}"
                );
                if matches!(e, ProtocolError::PeerNotify(NotifyType::TEMPORARY_FAILURE)) {
                    // RFC 7296 2.25: a colliding or busy peer; retry after a random delay so
                    // that two colliding initiators do not collide again.
                    let delay = REKEY_RETRY_MIN.saturating_add(self.random_jitter(REKEY_RETRY_MIN));
                    self.timers
                        .schedule(TimerKey::IkeRekey(sa.id), now.saturating_add(delay));
                }
                Fate::Keep
            }
        }
    }

    /// Builds the successor of a rekeyed IKE SA: it takes over the authentication proof, the
    /// children and the queued tasks; the old SA is left in `Phase::Rekeyed`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn succeed_ike(
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
        for key in [
            TimerKey::IkeRekey(old.id),
            TimerKey::Dpd(old.id),
            TimerKey::NatKeepalive(old.id),
        ] {
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
        // A new id for the same peer: the index holds both until the old one is destroyed.
        self.index_contact(&new);
        // Same endpoints, same NAT: the new SA keeps NAT-T (ports, encapsulation, keepalives).
        new.nat = old.nat;
        new.tasks = std::mem::take(&mut old.tasks);
        new.children = children;
        new.tasks
            .retain(|t| !matches!(t, Task::RekeyIke | Task::Dpd));
        engine_log!(
            self,
            Some(id),
            LogGroup::Ike,
            "IKE_SA {} rekeyed to {}",
            old.log_name(),
            new.log_name()
        );
        self.event(Event::IkeRekeyed {
            old: old.id,
            new: id,
        });
        self.schedule_ike_rekey(now, &new);
        self.rearm_dpd(now, &new);
        if new.nat.here {
            self.schedule_nat_keepalive(now, id);
        }
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
            ExchangeType::IKE_AUTH if matches!(sa.phase, Phase::ExpectAuthRequest(_)) => {
                self.respond_auth(now, sa, msg)
            }
            ExchangeType::CREATE_CHILD_SA if sa.phase.is_established() => {
                self.respond_create_child(now, sa, msg)
            }
            ExchangeType::INFORMATIONAL
                if sa.phase.is_established() || matches!(sa.phase, Phase::Rekeyed) =>
            {
                self.respond_informational(now, sa, msg)
            }
            _ => {
                self.drop_datagram(Some(sa.id), || {
                    format!("unexpected {} in this state", msg.summary())
                });
                Fate::Keep
            }
        }
    }

    pub(crate) fn respond_error(
        &mut self,
        sa: &mut IkeSa,
        mid: u32,
        ex: ExchangeType,
        e: &ProtocolError,
    ) {
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "{} request rejected: {e}",
            if ex == ExchangeType::CREATE_CHILD_SA {
                "CREATE_CHILD_SA"
            } else {
                "request"
            }
        );
        if let Some((kind, data)) = notify_for(e) {
            self.send_response(sa, mid, ex, vec![Payload::Notify(Notify::new(kind, data))]);
        }
    }

    pub(super) fn respond_create_child(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        msg: Message,
    ) -> Fate {
        let mid = msg.header.message_id;
        let ex = ExchangeType::CREATE_CHILD_SA;
        if sa_payload(&msg).is_some_and(|p| p.iter().any(|p| p.protocol == ProtocolId::IKE)) {
            return self.respond_ike_rekey(now, sa, msg);
        }
        let rekey_of = match msg.notify(NotifyType::REKEY_SA) {
            Some(n) => match rekey_target(sa, spi32(&n.spi)) {
                Ok(id) => Some(id),
                Err(e) => {
                    self.respond_error(sa, mid, ex, &e);
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
                self.park(now, sa, mid, ParkedKind::CreateChild(Box::new(pc)));
            }
            Err(e) => self.respond_error(sa, mid, ex, &e),
        }
        Fate::Keep
    }

    pub(super) fn respond_ike_rekey(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        msg: Message,
    ) -> Fate {
        let mid = msg.header.message_id;
        let ex = ExchangeType::CREATE_CHILD_SA;
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
        let Some(new_id) = self.new_ike_id() else {
            self.respond_error(sa, mid, ex, &ProtocolError::IdsExhausted);
            return Fate::Keep;
        };
        self.send_response(sa, mid, ex, payloads);
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
        self.sas.insert(new_id, Box::new(new));
        // Start the tasks that moved over from the old SA.
        self.kick(now, new_id);
        // The peer deletes the old SA; if it never does, clean up ourselves.
        self.timers.schedule(
            TimerKey::RekeyedCleanup(sa.id),
            now.saturating_add(REKEYED_CLEANUP),
        );
        Fate::Keep
    }

    pub(super) fn respond_informational(
        &mut self,
        _now: Timestamp,
        sa: &mut IkeSa,
        msg: Message,
    ) -> Fate {
        let mid = msg.header.message_id;
        let ex = ExchangeType::INFORMATIONAL;
        if msg.notify(NotifyType::AUTHENTICATION_FAILED).is_some() {
            // The initiator refused our AUTH after we completed IKE_AUTH (charon's
            // informational task destroys the IKE SA without answering).
            let reason = "peer refused our authentication (AUTHENTICATION_FAILED)".to_string();
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "received AUTHENTICATION_FAILED notify error, deleting {}",
                sa.log_name()
            );
            return Fate::Destroy(DownReason::Failed(reason));
        }
        // RFC 7296 3.11: an IKE SA is deleted without SPIs, AH and ESP SAs by 4-octet SPIs.
        // Any other Delete makes the request malformed: refused whole before anything is
        // deleted, as charon does.
        let malformed_delete = msg.payloads.iter().any(|p| match p {
            Payload::Delete {
                protocol: proto,
                spis,
            } => match *proto {
                ProtocolId::IKE => !spis.is_empty(),
                ProtocolId::ESP | ProtocolId::AH => spis.iter().any(|s| s.len() != 4),
                _ => true,
            },
            _ => false,
        });
        if malformed_delete {
            let refusal = Payload::Notify(Notify::new(NotifyType::INVALID_SYNTAX, vec![]));
            self.send_response(sa, mid, ex, vec![refusal]);
            return Fate::Keep;
        }
        let mut ike_delete = false;
        let mut esp_spis = Vec::new();
        for p in &msg.payloads {
            if let Payload::Delete {
                protocol: proto,
                spis,
            } = p
            {
                if *proto == ProtocolId::IKE {
                    ike_delete = true;
                } else if *proto == ProtocolId::ESP || *proto == ProtocolId::AH {
                    esp_spis.extend(spis.iter().filter_map(|s| spi32(s)));
                }
            }
        }
        if ike_delete {
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "received DELETE for IKE_SA {}",
                sa.log_name()
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
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "received DELETE for ESP CHILD_SA with SPI {spi:08x}"
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
                protocol: ProtocolId::ESP,
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

/// The child a peer's REKEY_SA names (by our outbound SPI), or why it cannot be rekeyed. As
/// charon's child_rekey: a child we are deleting answers TEMPORARY_FAILURE; so does one our
/// kernel refused (we are deleting it too) rather than CHILD_SA_NOT_FOUND, on which charon
/// would create a fresh child. A child already replaced by the peer's own rekey is not found
/// (charon ignores the rekeyed CHILD_SAs it keeps around), so a second rekey request cannot
/// leave two successors. A child our own completed rekey replaced is about to be deleted by
/// us: TEMPORARY_FAILURE (a peer that sent it in a collision retries later, finding the
/// successor in force). A child we are rekeying ourselves is a collision, resolved by the
/// nonces.
fn rekey_target(sa: &IkeSa, spi: Option<u32>) -> Result<ChildSaId, ProtocolError> {
    let old = spi
        .and_then(|spi| sa.children.iter().find(|c| c.spi_out == spi))
        .ok_or(ProtocolError::ChildNotFound)?;
    if matches!(old.state, ChildState::Deleting | ChildState::Failed) {
        return Err(ProtocolError::TemporaryFailure);
    }
    match old.replaced_by.and_then(|new| sa.child(new)) {
        Some(new) if new.we_initiated => Err(ProtocolError::TemporaryFailure),
        Some(_) => Err(ProtocolError::ChildNotFound),
        None if old.state == ChildState::Rekeyed => Err(ProtocolError::ChildNotFound),
        None => Ok(old.id),
    }
}
