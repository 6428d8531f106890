//! IKE_AUTH for both roles: identities, AUTH payloads, the first CHILD_SAs, and the
//! announcement of an established IKE SA.
//!
//! Contract: see the parent module.

use super::*;
use crate::config::{AuthMethod, SendCert, id_type};
use crate::creds;
use crate::engine::auth;
use iked_crypto::x509::Certificate;

/// What the peer's IKE_SA_INIT message said that matters to authentication.
#[derive(Default)]
struct PeerInit {
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427), if announced.
    hashes: Option<Vec<u16>>,
    /// A CERTREQ was included.
    certreq: bool,
}

impl PeerInit {
    /// Reads the peer's IKE_SA_INIT message as received (it decoded once already, so a
    /// failure here only loses the optional information).
    fn parse(bytes: &[u8]) -> PeerInit {
        let Ok(msg) = crate::message::decode(bytes, None) else {
            return PeerInit::default();
        };
        PeerInit {
            hashes: msg.notify(NotifyType::SIGNATURE_HASH_ALGORITHMS).map(|n| {
                let (pairs, _odd) = n.data.as_chunks::<2>();
                pairs.iter().map(|c| u16::from_be_bytes(*c)).collect()
            }),
            certreq: has_certreq(&msg),
        }
    }
}

fn has_certreq(msg: &Message) -> bool {
    msg.payloads
        .iter()
        .any(|p| matches!(p, Payload::CertReq { .. }))
}

/// X.509 certificate (signature) encoding of CERT and CERTREQ payloads (RFC 7296 3.6).
const CERT_X509_SIGNATURE: u8 = 4;

/// Whether a received identity satisfies a configured one: DNs compare as strongSwan does
/// (attribute by attribute, wildcards), other types byte for byte.
fn id_matches(wanted: &Identity, got: &Identity) -> bool {
    if wanted.kind == id_type::DER_ASN1_DN && got.kind == id_type::DER_ASN1_DN {
        return iked_crypto::x509::dn_matches(&wanted.data, &got.data);
    }
    wanted == got
}

/// Our identity for a connection: `local.id`, else our certificate's subject, else our raw
/// public key's key ID (as charon), else the address.
fn local_identity(config: &IkeConfig, addr: IpAddr) -> Identity {
    if let Some(id) = &config.local.id {
        return id.clone();
    }
    if let AuthMethod::Pubkey(pk) = &config.local.method {
        if let Some(cert) = pk.certs.first() {
            return creds::identity_from_cert(cert);
        }
        if let Ok(Some(id)) = creds::identity_from_pubkeys(pk) {
            return id;
        }
    }
    Identity::from_addr(addr)
}

/// Our AUTH payload and what goes before it.
struct OurAuth {
    /// CERT payloads (our chain), possibly empty.
    certs: Vec<Payload>,
    method: u8,
    data: Vec<u8>,
    /// For the log: "pre-shared key" or the signature scheme.
    how: String,
}

impl Engine {
    // ===== IKE_AUTH ===========================================================================

    /// Builds our AUTH for `config.local`; `certreq_seen` says whether the peer asked for
    /// certificates (for `send_cert = ifasked`).
    fn our_auth(
        &mut self,
        config: &IkeConfig,
        peer_id: &Identity,
        ctx: &AuthContext<'_>,
        peer: &PeerInit,
        certreq_seen: bool,
    ) -> Result<OurAuth, ProtocolError> {
        let pk = match &config.local.method {
            AuthMethod::Psk => {
                let psk = self.psk_for(ctx.id, peer_id)?;
                let auth = PskAuthenticator::new(psk.expose());
                return Ok(OurAuth {
                    certs: Vec::new(),
                    method: auth.method(),
                    data: auth.build(ctx)?,
                    how: "pre-shared key".into(),
                });
            }
            AuthMethod::Pubkey(pk) => pk,
        };
        let signer = creds::our_signer(&self.credentials, pk, ctx.id)
            .map_err(|e| ProtocolError::PubkeyAuth(e.to_string()))?;
        let (method, scheme) =
            auth::choose_signature(&signer.key, &pk.constraint, peer.hashes.as_deref())?;
        let data = auth::sign(ctx, &signer.key, method, scheme, &mut *self.rng)?;
        let send = match pk.send_cert {
            SendCert::Always => true,
            SendCert::IfAsked => certreq_seen,
            SendCert::Never => false,
        };
        let certs = if send {
            signer
                .chain
                .iter()
                .map(|c| Payload::Cert {
                    encoding: CERT_X509_SIGNATURE,
                    data: c.der().to_vec(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(OurAuth {
            certs,
            method,
            data,
            how: format!("{scheme:?}"),
        })
    }

    /// Verifies the peer's AUTH for `config.remote`; returns the proof and, for the log, how.
    fn peer_auth(
        &self,
        config: &IkeConfig,
        local_id: &Identity,
        msg: &Message,
        ctx: &AuthContext<'_>,
        method: u8,
        data: &[u8],
    ) -> Result<(crate::engine::AuthVerified, String), ProtocolError> {
        let pk = match &config.remote.method {
            AuthMethod::Psk => {
                let psk = self.psk_for(local_id, ctx.id)?;
                let proof = PskAuthenticator::new(psk.expose()).verify(ctx, method, data)?;
                return Ok((proof, "pre-shared key".into()));
            }
            AuthMethod::Pubkey(pk) => pk,
        };
        let mut received = Vec::new();
        for p in &msg.payloads {
            if let Payload::Cert { encoding, data } = p {
                if *encoding != CERT_X509_SIGNATURE {
                    continue;
                }
                let cert = Certificate::from_der(data)
                    .map_err(|e| ProtocolError::PubkeyAuth(format!("peer's CERT payload: {e}")))?;
                received.push(cert);
            }
        }
        let now = self.wall_clock.ok_or_else(|| {
            ProtocolError::PubkeyAuth("wall clock not set, cannot check certificates".into())
        })?;
        let keys = creds::trusted_peer_keys(&self.credentials, pk, ctx.id, &received, now)
            .map_err(|e| match e {
                creds::CredError::CrlsNeeded(uris) => ProtocolError::CrlsNeeded(uris),
                e => ProtocolError::PubkeyAuth(e.to_string()),
            })?;
        let (proof, scheme, subject) =
            auth::verify_signature(ctx, &keys, &pk.constraint, method, data)?;
        Ok((proof, format!("{scheme:?} (\"{subject}\")")))
    }

    /// Our CERTREQ for a connection whose remote side uses certificates: the SHA-1 hashes of
    /// the trusted CAs' public keys (RFC 7296 3.7).
    fn certreq_for(&self, config: &IkeConfig) -> Option<Payload> {
        let AuthMethod::Pubkey(pk) = &config.remote.method else {
            return None;
        };
        if !pk.send_certreq {
            return None;
        }
        certreq_payload(self.credentials.cas.iter().chain(&pk.cacerts))
    }

    /// The responder's CERTREQ in its IKE_SA_INIT response (the connection is not known yet):
    /// every trusted CA, when some connection authenticates its peer by certificate.
    pub(super) fn init_certreq(&self) -> Option<Payload> {
        let mut cas: Vec<&Certificate> = Vec::new();
        let mut wanted = false;
        for c in &self.connections {
            if let AuthMethod::Pubkey(pk) = &c.remote.method
                && pk.send_certreq
            {
                wanted = true;
                cas.extend(&pk.cacerts);
            }
        }
        if !wanted {
            return None;
        }
        certreq_payload(self.credentials.cas.iter().chain(cas))
    }

    pub(super) fn psk_for(&self, me: &Identity, other: &Identity) -> Result<Secret, ProtocolError> {
        find_psk(&self.secrets, me, other)
            .map(|s| Secret::new(s.to_vec()))
            .ok_or_else(|| ProtocolError::NoSharedKey {
                local: me.to_string(),
                remote: other.to_string(),
            })
    }

    pub(super) fn send_auth(&mut self, now: Timestamp, sa: &mut IkeSa) -> Fate {
        sa.local_id = local_identity(&sa.config, sa.local.ip());
        let remote_id = sa
            .config
            .remote
            .id
            .clone()
            .unwrap_or_else(|| Identity::from_addr(sa.remote.ip()));
        let built = (|| -> Result<(Vec<Payload>, String), ProtocolError> {
            let Phase::ExpectAuthResponse(st) = &sa.phase else {
                return Err(ProtocolError::Malformed("state".into()));
            };
            let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
            let ctx = AuthContext {
                prf: c.suite.prf,
                init_message: &st.init.request,
                peer_nonce: &st.init.nr,
                sk_p: &c.keys.sk_pi,
                id: &sa.local_id,
            };
            let peer = PeerInit::parse(&st.init.response);
            let ours = self.our_auth(&sa.config, &remote_id, &ctx, &peer, peer.certreq)?;
            let mut p = vec![Payload::IdI(sa.local_id.clone())];
            p.extend(ours.certs);
            p.extend(self.certreq_for(&sa.config));
            // Like charon: only when we hold no other IKE SA with this peer, since the peer
            // drops every other SA with us on INITIAL_CONTACT (an index lookup, not a walk);
            // nor while another of ours waits for its IKE_AUTH answer (engine::contacts).
            let initial_contact = self.wants_initial_contact(sa);
            self.note_auth_pending(sa);
            if initial_contact {
                p.push(Payload::Notify(Notify::new(
                    NotifyType::INITIAL_CONTACT,
                    vec![],
                )));
            }
            if let Some(r) = &sa.config.remote.id {
                p.push(Payload::IdR(r.clone()));
            }
            p.push(Payload::Auth {
                method: ours.method,
                data: ours.data,
            });
            if let Some(nc) = &st.child
                && let Some(spi) = nc.spi_in
            {
                if nc.config.mode == Mode::Transport {
                    p.push(Payload::Notify(Notify::new(
                        NotifyType::USE_TRANSPORT_MODE,
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
                NotifyType::MULTIPLE_AUTH_SUPPORTED,
                vec![],
            )));
            p.push(Payload::Notify(Notify::new(
                NotifyType::EAP_ONLY_AUTHENTICATION,
                vec![],
            )));
            p.push(Payload::Notify(Notify::new(
                NotifyType::IKEV2_MESSAGE_ID_SYNC_SUPPORTED,
                vec![],
            )));
            Ok((p, ours.how))
        })();
        match built {
            Ok((payloads, how)) => {
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Ike,
                    "authentication of '{}' (myself) with {how}",
                    sa.local_id
                );
                self.send_request(now, sa, ExchangeType::IKE_AUTH, payloads, Active::Auth);
                Fate::Keep
            }
            Err(e) => {
                engine_log!(self, Some(sa.id), LogGroup::Ike, "{e}");
                self.ike_failed(sa, e.to_string())
            }
        }
    }

    pub(crate) fn on_auth_response(
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
        let verified =
            (|| -> Result<(crate::engine::AuthVerified, Identity, String), ProtocolError> {
                let (method, data) = auth_payload(&msg).ok_or_else(|| {
                    msg.error_notify()
                        .map_or(ProtocolError::MissingPayload("AUTH"), |n| {
                            ProtocolError::PeerNotify(n.kind)
                        })
                })?;
                let idr = id_payload(&msg, false)
                    .cloned()
                    .ok_or(ProtocolError::MissingPayload("IDr"))?;
                if sa
                    .config
                    .remote
                    .id
                    .as_ref()
                    .is_some_and(|want| !id_matches(want, &idr))
                {
                    return Err(ProtocolError::NoPeerConfig(idr.to_string()));
                }
                let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
                let ctx = AuthContext {
                    prf: c.suite.prf,
                    init_message: &st.init.response,
                    peer_nonce: &st.init.ni,
                    sk_p: &c.keys.sk_pr,
                    id: &idr,
                };
                let (proof, how) =
                    self.peer_auth(&sa.config, &sa.local_id, &msg, &ctx, method, data)?;
                Ok((proof, idr, how))
            })();
        let (proof, idr, how) = match verified {
            Ok(v) => v,
            Err(ProtocolError::CrlsNeeded(uris)) => {
                sa.phase = Phase::ExpectAuthResponse(Box::new(st));
                return self.await_crls(sa, msg, uris, false);
            }
            Err(e) => {
                if let Some(nc) = &st.child
                    && let Some(spi) = nc.spi_in
                {
                    self.release_spi(sa, nc.id, spi);
                }
                engine_log!(self, Some(sa.id), LogGroup::Ike, "IKE_AUTH failed: {e}");
                // The responder considers the IKE SA established; like charon
                // (ike_auth.c send_auth_failed_informational), tell it that its AUTH was
                // refused before dropping the SA. Not when it refused us (it already knows).
                if !matches!(e, ProtocolError::PeerNotify(_) | ProtocolError::Integrity) {
                    self.send_unacknowledged_request(
                        sa,
                        ExchangeType::INFORMATIONAL,
                        vec![Payload::Notify(Notify::new(
                            NotifyType::AUTHENTICATION_FAILED,
                            vec![],
                        ))],
                    );
                }
                return self.ike_failed(sa, e.to_string());
            }
        };
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "authentication of '{idr}' with {how} successful"
        );
        sa.remote_id = Some(idr);
        sa.phase = Phase::Established(Established::new(proof));
        self.index_contact(sa);
        self.announce_established(now, sa);
        if let Some(nc) = st.child {
            self.complete_child_initiator(now, sa, nc, &msg, &st.init.ni, &st.init.nr, None);
        }
        for cfg in std::mem::take(&mut sa.queued_children) {
            sa.tasks.push_back(Task::CreateChild(cfg));
        }
        Fate::Keep
    }

    pub(super) fn announce_established(&mut self, now: Timestamp, sa: &mut IkeSa) {
        self.note_established(now, sa);
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "IKE_SA {} established between {}[{}]...{}[{}]",
            sa.log_name(),
            sa.local.ip(),
            sa.local_id,
            sa.remote.ip(),
            sa.remote_id
                .as_ref()
                .map(|i| i.to_string())
                .unwrap_or_default()
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
            let jitter = self.random_jitter(
                sa.config
                    .rand_time
                    .min(sa.config.rekey_time.checked_div(2).unwrap_or_default()),
            );
            let at = now.saturating_add(sa.config.rekey_time.saturating_sub(jitter));
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "scheduling rekeying in {}s",
                sa.config.rekey_time.saturating_sub(jitter).as_secs()
            );
            self.timers.schedule(TimerKey::IkeRekey(sa.id), at);
        }
    }

    pub(crate) fn respond_auth(&mut self, now: Timestamp, sa: &mut IkeSa, msg: Message) -> Fate {
        let mid = msg.header.message_id;
        let Phase::ExpectAuthRequest(st) = std::mem::replace(&mut sa.phase, Phase::Transition)
        else {
            return Fate::Keep;
        };
        let st = *st;
        type Verified = (
            crate::engine::AuthVerified,
            Identity,
            Arc<IkeConfig>,
            String,
            OurAuth,
        );
        let verified = (|| -> Result<Verified, ProtocolError> {
            // RFC 7296 1.2: at most one IDi, IDr and AUTH; charon refuses more as malformed.
            let count =
                |want: fn(&Payload) -> bool| msg.payloads.iter().filter(|p| want(p)).count();
            if count(|p| matches!(p, Payload::IdI(_))) > 1
                || count(|p| matches!(p, Payload::IdR(_))) > 1
                || count(|p| matches!(p, Payload::Auth { .. })) > 1
            {
                return Err(ProtocolError::Malformed(
                    "more than one IDi, IDr or AUTH payload".into(),
                ));
            }
            let idi = id_payload(&msg, true)
                .cloned()
                .ok_or(ProtocolError::MissingPayload("IDi"))?;
            let idr = id_payload(&msg, false).cloned();
            // No AUTH asks for EAP (RFC 7296 2.16), which iked does not offer: the peer
            // cannot authenticate, as charon answers.
            let (method, data) = auth_payload(&msg).ok_or(ProtocolError::AuthFailed)?;
            // The best address match among the configs whose identities fit, as charon
            // ranks peer configs (an exact address beats a subnet beats %any).
            let config = crate::config::best_addr_match(
                &self.connections,
                sa.local.ip(),
                sa.remote.ip(),
                &self.resolved,
                |c| {
                    c.remote.id.as_ref().is_none_or(|r| id_matches(r, &idi))
                        && match (&idr, &c.local.id) {
                            (Some(want), Some(ours)) => id_matches(ours, want),
                            _ => true,
                        }
                },
            )
            .cloned()
            .ok_or_else(|| ProtocolError::NoPeerConfig(idi.to_string()))?;
            let local_id = local_identity(&config, sa.local.ip());
            let c = sa.crypto.as_ref().ok_or(ProtocolError::Integrity)?;
            let ctx = AuthContext {
                prf: c.suite.prf,
                init_message: &st.init.request,
                peer_nonce: &st.init.nr,
                sk_p: &c.keys.sk_pi,
                id: &idi,
            };
            let (proof, how) = self.peer_auth(&config, &local_id, &msg, &ctx, method, data)?;
            // Our AUTH: RealMessage2 | NonceIData | prf(SK_pr, IDr').
            let ctx = AuthContext {
                prf: c.suite.prf,
                init_message: &st.init.response,
                peer_nonce: &st.init.ni,
                sk_p: &c.keys.sk_pr,
                id: &local_id,
            };
            let peer = PeerInit::parse(&st.init.request);
            let certreq_seen = peer.certreq || has_certreq(&msg);
            let ours = self.our_auth(&config, &idi, &ctx, &peer, certreq_seen)?;
            Ok((proof, idi, config, how, ours))
        })();
        let (proof, idi, config, how, ours) = match verified {
            Ok(v) => v,
            Err(ProtocolError::CrlsNeeded(uris)) => {
                sa.phase = Phase::ExpectAuthRequest(Box::new(st));
                return self.await_crls(sa, msg, uris, true);
            }
            Err(e) => {
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Ike,
                    "IKE_AUTH request rejected: {e}"
                );
                if let Some((kind, data)) = notify_for(&e) {
                    // The operator reads what the peer was told next to the real cause.
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Ike,
                        "sending {} notify to the peer",
                        message::notify_name(kind)
                    );
                    self.send_response(
                        sa,
                        mid,
                        ExchangeType::IKE_AUTH,
                        vec![Payload::Notify(Notify::new(kind, data))],
                    );
                }
                return self.ike_failed(sa, e.to_string());
            }
        };
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "authentication of '{idi}' with {how} successful"
        );
        sa.config = config;
        sa.local_id = local_identity(&sa.config, sa.local.ip());
        sa.remote_id = Some(idi.clone());
        // charon honours INITIAL_CONTACT only in the first IKE_AUTH request.
        let initial_contact = mid == 1 && msg.notify(NotifyType::INITIAL_CONTACT).is_some();
        if self.check_uniqueness(now, sa, initial_contact) {
            return self.refuse_duplicate(sa, mid);
        }
        sa.phase = Phase::Established(Established::new(proof));
        self.release_half_open(sa);
        self.timers.cancel(TimerKey::HalfOpen(sa.id));
        self.index_contact(sa);
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "authentication of '{}' (myself) with {}",
            sa.local_id,
            ours.how
        );
        let mut prefix = vec![Payload::IdR(sa.local_id.clone())];
        prefix.extend(ours.certs);
        prefix.push(Payload::Auth {
            method: ours.method,
            data: ours.data,
        });
        self.announce_established(now, sa);
        if sa_payload(&msg).is_none() {
            // Childless (RFC 6023).
            self.send_response(sa, mid, ExchangeType::IKE_AUTH, prefix);
            return Fate::Keep;
        }
        match self.negotiate_child_responder(sa, &msg, &st.init.ni, &st.init.nr, None, None) {
            Ok(mut parked) => {
                parked.prefix = prefix;
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Ike,
                    "establishing CHILD_SA {}{{{}}}",
                    parked.config.name,
                    parked.id.0
                );
                self.allocate_spi(sa, parked.id);
                self.park(now, sa, mid, ParkedKind::Auth(Box::new(parked)));
            }
            Err(e) => {
                // No child config was chosen, so name what the peer asked for instead.
                let asked = ts_payloads(&msg).map_or_else(String::new, |(tsi, tsr)| {
                    format!(" for TS {} === {}", fmt_ts_list(tsr), fmt_ts_list(tsi))
                });
                let reason = format!("{e}{asked}");
                engine_log!(
                    self,
                    Some(sa.id),
                    LogGroup::Ike,
                    "failed to establish CHILD_SA: {reason}"
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
                self.send_response(sa, mid, ExchangeType::IKE_AUTH, payloads);
            }
        }
        Fate::Keep
    }
}

/// A CERTREQ with the distinct CA key hashes, `None` without CAs.
fn certreq_payload<'a>(cas: impl Iterator<Item = &'a Certificate>) -> Option<Payload> {
    let mut hashes: Vec<[u8; 20]> = Vec::new();
    for ca in cas {
        let h = ca.spki_sha1();
        if !hashes.contains(&h) {
            hashes.push(h);
        }
    }
    (!hashes.is_empty()).then(|| Payload::CertReq {
        encoding: CERT_X509_SIGNATURE,
        data: hashes.concat(),
    })
}
