//! IKE_AUTH for both roles: identities, AUTH payloads, the first CHILD_SAs, and the
//! announcement of an established IKE SA.
//!
//! Contract: see the parent module.

use super::*;

impl Engine {
    // ===== IKE_AUTH ===========================================================================

    pub(super) fn psk_for(&self, me: &Identity, other: &Identity) -> Result<Secret, ProtocolError> {
        find_psk(&self.secrets, me, other)
            .map(|s| Secret::new(s.to_vec()))
            .ok_or_else(|| ProtocolError::NoSharedKey {
                local: me.to_string(),
                remote: other.to_string(),
            })
    }

    pub(super) fn send_auth(&mut self, now: Timestamp, sa: &mut IkeSa) -> Fate {
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

    pub(super) fn on_auth_response(
        &mut self,
        now: Timestamp,
        sa: &mut IkeSa,
        msg: Message,
    ) -> Fate {
        let Phase::ExpectAuthResponse(st) = std::mem::replace(&mut sa.phase, Phase::Transition)
        else {
            return Fate::Keep;
        };
        let st = *st;
        let verified = (|| -> Result<(crate::engine::AuthVerified, Identity), ProtocolError> {
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

    pub(super) fn announce_established(&mut self, now: Timestamp, sa: &mut IkeSa) {
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

    pub(super) fn schedule_ike_rekey(&mut self, now: Timestamp, sa: &IkeSa) {
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

    pub(super) fn respond_auth(&mut self, now: Timestamp, sa: &mut IkeSa, msg: Message) -> Fate {
        let mid = msg.header.message_id;
        let Phase::ExpectAuthRequest(st) = std::mem::replace(&mut sa.phase, Phase::Transition)
        else {
            return Fate::Keep;
        };
        let st = *st;
        let verified =
            (|| -> Result<(crate::engine::AuthVerified, Identity, Arc<IkeConfig>), ProtocolError> {
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
    pub(super) fn initial_contact(&mut self, sa: &IkeSa, peer: &Identity) {
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
}
