//! What the daemon tells about itself, its configuration and its SAs: the query commands
//! (`list-*`, `get-*`, `stats`, `version`) and the SA messages that `list-sas` and the
//! `*-updown`/`*-rekey` events carry, in charon's shape. Nothing here changes state but the
//! kernel counter cache `list-sas` refreshes.

use std::net::SocketAddr;
use std::time::Duration;

use iked_crypto::registry;
use iked_ike::engine::{ChildSaId, IkeInfo, IkeSaId, Timestamp};

use super::Core;
use super::about::{format_unix_time, format_uptime};
use crate::daemon::{config, creds};
use crate::vici::Message;
use crate::vici::server::Responder;

impl Core {
    /// `list-sas`: one `list-sa` event per IKE SA (filtered by `ike`/`ike-id`), with kernel
    /// counters read afresh.
    pub(super) fn list_sas(&mut self, now: Timestamp, message: &Message, responder: Responder) {
        self.counter_cache.clear();
        for info in self.engine.ike_sas() {
            for c in &info.children {
                if let Some(counters) = self.kernel.counters(c.id) {
                    self.counter_cache.insert(c.id, counters);
                }
            }
        }
        let ike_filter = message.get_str("ike");
        let id_filter: Option<u32> = message
            .get_str("ike-id")
            .or(message.get_str("ike_id"))
            .and_then(|v| v.parse().ok());
        for info in self.engine.ike_sas() {
            let name = self.sa_name(info.id).unwrap_or(info.name.clone());
            if ike_filter.is_some_and(|f| f != name) || id_filter.is_some_and(|i| i != info.id.0) {
                continue;
            }
            let body = self.ike_sa_message(info.id, true, now);
            responder.event("list-sa", Message::new().section(name, body));
        }
        responder.respond(Message::new());
    }

    /// `list-policies`: the trap policies (only with `trap = yes`; iked installs no others
    /// outside CHILD_SAs).
    pub(super) fn list_policies(&self, message: &Message, responder: Responder) {
        let child_filter = message.get_str("child");
        if message.get_bool("trap") == Some(true) {
            for t in &self.traps {
                if child_filter.is_some_and(|c| c != t.child) {
                    continue;
                }
                responder.event(
                    "list-policy",
                    Message::new().section(
                        format!("{}/{}", t.connection, t.child),
                        Message::new()
                            .kv("child", t.child.as_str())
                            .kv("ike", t.connection.as_str())
                            .kv("mode", if t.transport { "TRANSPORT" } else { "TUNNEL" })
                            .list(
                                "local-ts",
                                t.local_ts
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>(),
                            )
                            .list(
                                "remote-ts",
                                t.remote_ts
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>(),
                            ),
                    ),
                );
            }
        }
        let (drop, pass) = (
            message.get_bool("drop") == Some(true),
            message.get_bool("pass") == Some(true),
        );
        for (name, body) in self.shunts.listing(drop, pass, child_filter) {
            responder.event("list-policy", Message::new().section(name, body));
        }
        responder.respond(Message::new());
    }

    /// `list-conns`: one `list-conn` event per loaded connection (filtered by `ike`).
    pub(super) fn list_conns(&self, message: &Message, responder: Responder) {
        let filter = message.get_str("ike");
        let dir = creds::swanctl_dir(&self.config_file);
        for c in &self.conns {
            if filter.is_some_and(|f| f != c.conn.name) {
                continue;
            }
            // Read as the engine got them, so certificates list by subject.
            let engine = creds::engine_connection_with_creds(&c.conn, &dir).ok();
            responder.event(
                "list-conn",
                config::list_conn_message_with_creds(&c.conn, engine.as_ref()),
            );
        }
        responder.respond(Message::new());
    }

    /// `get-conns`: the names of the loaded connections.
    pub(super) fn get_conns(&self) -> Message {
        let names: Vec<String> = self.conns.iter().map(|c| c.conn.name.clone()).collect();
        Message::new().list("conns", names)
    }

    /// `get-shared`: the names of the loaded shared keys.
    pub(super) fn get_shared(&self) -> Message {
        let names: Vec<String> = self.secrets.iter().map(|s| s.name.clone()).collect();
        Message::new().list("keys", names)
    }

    /// `list-certs`: one `list-cert` event per matching certificate.
    pub(super) fn list_certs(&self, message: &Message, responder: Responder) {
        for event in self.creds.vici_list_certs(message) {
            responder.event("list-cert", event);
        }
        responder.respond(Message::new());
    }

    /// `list-authorities`: one `list-authority` event per matching authority section.
    pub(super) fn list_authorities(&self, message: &Message, responder: Responder) {
        for event in self.creds.vici_list_authorities(message) {
            responder.event("list-authority", event);
        }
        responder.respond(Message::new());
    }

    pub(super) fn ike_info(&self, ike: IkeSaId) -> Option<IkeInfo> {
        self.engine.ike_sa(ike)
    }

    pub(super) fn ike_sa_message(
        &self,
        ike: IkeSaId,
        with_children: bool,
        now: Timestamp,
    ) -> Message {
        let info = self.ike_info(ike);
        let meta = self.sa_meta.get(&ike);
        let conn = meta
            .map(|m| m.name.as_str())
            .or(info.as_ref().map(|i| i.name.as_str()))
            .and_then(|n| self.find_conn(n));
        let mut m = Message::new()
            .kv("uniqueid", ike.0.to_string())
            .kv("version", "2");
        let established = info.as_ref().is_some_and(|i| i.established);
        m = m.kv(
            "state",
            if established {
                "ESTABLISHED"
            } else if info.is_some() {
                "CONNECTING"
            } else {
                "DELETING"
            },
        );
        // Before IKE_SA_INIT completes, show the configured endpoints (charon shows its
        // chosen addresses too).
        let first_addr = |specs: &[iked_conf::addr::AddrSpec]| {
            specs.iter().find_map(|a| match a {
                iked_conf::addr::AddrSpec::Addr(ip) => Some(SocketAddr::new(*ip, 500)),
                _ => None,
            })
        };
        // The engine's endpoints are the current ones (NAT-T port, a peer's new NAT mapping).
        let engine_ep = |ep: fn(&IkeInfo) -> SocketAddr| {
            info.as_ref().map(ep).filter(|a| !a.ip().is_unspecified())
        };
        let local_ep = engine_ep(|i| i.local)
            .or_else(|| meta.and_then(|m| m.local))
            .or_else(|| conn.and_then(|c| first_addr(&c.local_addrs)));
        let remote_ep = engine_ep(|i| i.remote)
            .or_else(|| meta.and_then(|m| m.remote))
            .or_else(|| conn.and_then(|c| first_addr(&c.remote_addrs)));
        if let Some(local) = local_ep {
            m = m
                .kv("local-host", local.ip().to_string())
                .kv("local-port", local.port().to_string());
        }
        // The identities of the IKE SA as charon lists them: the one we use and the one the
        // peer authenticated with (a `%any` remote shows who actually connected); the
        // configured ones only until the engine knows better.
        if let Some(conn) = conn {
            let id = info
                .as_ref()
                .map(|i| i.local_id.clone())
                .or_else(|| {
                    conn.local
                        .first()
                        .and_then(|r| r.id.as_ref())
                        .map(ToString::to_string)
                })
                .or_else(|| meta.and_then(|m| m.local).map(|a| a.ip().to_string()))
                .unwrap_or_else(|| "%any".into());
            m = m.kv("local-id", id);
        }
        if let Some(remote) = remote_ep {
            m = m
                .kv("remote-host", remote.ip().to_string())
                .kv("remote-port", remote.port().to_string());
        }
        if let Some(conn) = conn {
            let id = info
                .as_ref()
                .and_then(|i| i.remote_id.clone())
                .or_else(|| {
                    conn.remote
                        .first()
                        .and_then(|r| r.id.as_ref())
                        .map(ToString::to_string)
                })
                .or_else(|| meta.and_then(|m| m.remote).map(|a| a.ip().to_string()))
                .unwrap_or_else(|| "%any".into());
            m = m.kv("remote-id", id);
        }
        if let Some(i) = &info {
            m = m
                .kv("initiator", if i.initiator { "yes" } else { "no" })
                .kv("initiator-spi", format!("{:016x}", i.spi_i))
                .kv("responder-spi", format!("{:016x}", i.spi_r));
            // charon's NAT conditions, in its order.
            for (key, set) in [
                ("nat-local", i.nat_local),
                ("nat-remote", i.nat_remote),
                ("nat-fake", i.nat_fake),
                ("nat-any", i.nat_local || i.nat_remote || i.nat_fake),
            ] {
                if set {
                    m = m.kv(key, "yes");
                }
            }
        }
        if let Some(p) = conn.and_then(|c| c.proposals.first()) {
            if let Some(e) = p.encryption.first() {
                m = m.kv("encr-alg", e.id.to_string());
                if let Some(bits) = e.key_bits {
                    m = m.kv("encr-keysize", bits.to_string());
                }
            }
            if let Some(i) = p.integrity.first() {
                m = m.kv("integ-alg", i.to_string());
            }
            if let Some(prf) = p.prf.first() {
                m = m.kv("prf-alg", prf.to_string());
            }
            if let Some(ke) = p.ke.first() {
                m = m.kv("dh-group", ke.to_string());
            }
        }
        if let Some(at) = meta.and_then(|m| m.established_at) {
            m = m.kv(
                "established",
                now.saturating_since(at).as_secs().to_string(),
            );
            if let Some(conn) = conn
                && conn.rekey_time > Duration::ZERO
            {
                let left = conn.rekey_time.saturating_sub(now.saturating_since(at));
                m = m.kv("rekey-time", left.as_secs().to_string());
            }
        }
        if with_children {
            let mut children = Message::new();
            if let Some(i) = &info {
                for c in &i.children {
                    if let Some(cm) = self.child_sa_message(ike, c.id, now) {
                        children = children.section(format!("{}-{}", c.name, c.id.0), cm);
                    }
                }
            }
            m = m.section("child-sas", children);
        }
        m
    }

    pub(super) fn child_sa_message(
        &self,
        ike: IkeSaId,
        child: ChildSaId,
        now: Timestamp,
    ) -> Option<Message> {
        let info = self.ike_info(ike)?;
        let c = info.children.iter().find(|c| c.id == child)?;
        let conn = self.find_conn(&info.name);
        let child_conf = conn.and_then(|conn| conn.children.iter().find(|ch| ch.name == c.name));
        // The mode the child was created with (its connection may be gone since a reload).
        let mode = match c.mode {
            iked_ike::config::Mode::Transport => "TRANSPORT",
            iked_ike::config::Mode::Tunnel => "TUNNEL",
        };
        // A child our kernel refused is not listed, as in charon, although the engine holds it
        // until the peer has confirmed our DELETE; nor one without a negotiated proposal.
        if (!c.installed && self.kernel.install_failure(child).is_some())
            || c.proposal.selected().is_none()
        {
            return None;
        }
        let mut m = Message::new()
            .kv("name", c.name.as_str())
            .kv("uniqueid", c.id.0.to_string())
            // The kernel's reqid, which a rekeyed child inherits from its predecessor.
            .kv("reqid", c.reqid.to_string())
            .kv(
                "state",
                if c.installed {
                    "INSTALLED"
                } else {
                    "INSTALLING"
                },
            )
            .kv("mode", mode)
            .kv("protocol", "ESP");
        if c.encap {
            m = m.kv("encap", "yes");
        }
        m = m
            .kv("spi-in", format!("{:08x}", c.spi_in))
            .kv("spi-out", format!("{:08x}", c.spi_out));
        if let Some(marks) = self.kernel.child_marks(child) {
            for (key, value) in super::super::marks::listing(&marks) {
                m = m.kv(key, value);
            }
        }
        // What was negotiated, as charon lists it: the key exchange method only when the
        // child was created or rekeyed with one.
        if let Some(sel) = c.proposal.selected() {
            m = m.kv("encr-alg", registry::EncrId(sel.encr.id).to_string());
            if let Some(bits) = sel.encr.key_len {
                m = m.kv("encr-keysize", bits.to_string());
            }
            if sel.integ != 0 {
                m = m.kv("integ-alg", registry::IntegId(sel.integ).to_string());
            }
            if sel.ke != 0 {
                m = m.kv("dh-group", registry::KeId(sel.ke).to_string());
            }
            if sel.esn {
                m = m.kv("esn", "1");
            }
        }
        let counters = self.counter_cache.get(&child).copied().unwrap_or_default();
        m = m
            .kv("bytes-in", counters.bytes_in.to_string())
            .kv("packets-in", counters.packets_in.to_string())
            .kv("bytes-out", counters.bytes_out.to_string())
            .kv("packets-out", counters.packets_out.to_string());
        if let Some(meta) = self.child_meta.get(&child) {
            let age = now.saturating_since(meta.installed_at);
            m = m.kv("install-time", age.as_secs().to_string());
            if let Some(ch) = child_conf {
                let lt = ch.lifetime;
                if lt.rekey_time > Duration::ZERO {
                    m = m.kv(
                        "rekey-time",
                        lt.rekey_time.saturating_sub(age).as_secs().to_string(),
                    );
                }
                if lt.life_time > Duration::ZERO {
                    m = m.kv(
                        "life-time",
                        lt.life_time.saturating_sub(age).as_secs().to_string(),
                    );
                }
            }
        } else {
            m = m.kv("install-time", "0");
        }
        m = m
            .list(
                "local-ts",
                c.local_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .list(
                "remote-ts",
                c.remote_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            );
        // iked extensions (charon has no such keys): the offload mode actually in force, the
        // one configured, and why the child failed.
        let offload = self
            .kernel
            .offload_in_force(child)
            .unwrap_or_else(|| "none".to_owned());
        m = m.kv("offload", offload);
        if let Some(ch) = child_conf {
            m = m.kv("hw-offload", ch.hw_offload.to_string());
        }
        Some(m)
    }

    pub(super) fn stats_message(&self, now: Timestamp) -> Message {
        let running = now.saturating_since(self.started_at).as_secs();
        let stats = self.engine.stats();
        Message::new()
            .section(
                "uptime",
                Message::new()
                    .kv("running", format_uptime(running))
                    .kv("since", format_unix_time(self.started_wall)),
            )
            .section(
                "workers",
                Message::new().kv("total", "1").kv("idle", "1").section(
                    "active",
                    Message::new()
                        .kv("critical", "0")
                        .kv("high", "0")
                        .kv("medium", "0")
                        .kv("low", "0"),
                ),
            )
            .section(
                "queues",
                Message::new()
                    .kv("critical", "0")
                    .kv("high", "0")
                    .kv("medium", "0")
                    .kv("low", "0"),
            )
            .kv("scheduled", "0")
            .section(
                "ikesas",
                Message::new()
                    .kv("total", self.engine.ike_sa_count().to_string())
                    .kv("half-open", self.engine.half_open_count().to_string()),
            )
            .list("plugins", ["iked-engine", "vici", self.kernel.name()])
            .section(
                "iked",
                Message::new()
                    .kv("kernel", self.kernel.name())
                    .kv("retransmits", stats.retransmits.to_string())
                    .kv("replayed-responses", stats.replayed_responses.to_string())
                    .kv("dropped", stats.dropped.to_string())
                    .kv("cookies-sent", stats.cookies_sent.to_string())
                    .kv("half-open-refused", stats.half_open_refused.to_string())
                    .kv("timer-lag-max-us", self.timer_lag.max_us().to_string())
                    .kv("timer-lag-mean-us", self.timer_lag.mean_us().to_string())
                    .kv("timer-runs", self.timer_lag.runs.to_string()),
            )
    }
}
