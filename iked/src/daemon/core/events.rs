//! Engine and kernel events: kernel ACQUIREs and the request pump, engine events turned into
//! log lines, VICI broadcasts and the `close_action`/`dpd_action`/`keyingtries` follow-ups.
// Peer-derived data passes here (engine events carry what peers sent (identities, selectors,
// notify data)): outside tests the module denies the panicking lints, as the datagram path does
// (DEVELOPING.md, "Lints").
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

use iked_ike::engine::{ChildSaId, DownReason, Event, IkeSaId, KernelEvent, LogGroup, Timestamp};

use super::engine_log::trace_engine_log;
use super::{AutoStart, Awaiting, ChildMeta, Core, SaMeta};
use crate::log::{Group, LogRecord};
use crate::vici::Message;
use crate::vici::server::BroadcastEvent;

impl Core {
    /// A kernel event from the backend's monitor: ACQUIRE is ours (trap policies), the rest
    /// goes to the engine (EXPIRE: rekey on soft, delete on hard).
    pub fn handle_kernel_event(&mut self, now: Timestamp, event: KernelEvent) {
        match event {
            KernelEvent::Acquire { reqid } => self.on_acquire(now, reqid),
            other => self.engine.handle_kernel(now, other),
        }
    }

    /// Drains the engine's kernel requests into the backend, feeding answers back until
    /// neither side has more to say.
    pub fn pump_kernel(&mut self, now: Timestamp) {
        loop {
            let mut progressed = false;
            while let Some(request) = self.engine.poll_kernel() {
                progressed = true;
                // Cause order: what the engine logged before asking (the authentication that
                // allowed a child, say) is printed before the kernel's lines about it.
                while let Some(event) = self.engine.poll_event() {
                    self.on_event(now, event);
                }
                if let Some(answer) = self.kernel.handle(request) {
                    self.engine.handle_kernel(now, answer);
                }
            }
            for answer in self.kernel.finish_batch() {
                progressed = true;
                self.engine.handle_kernel(now, answer);
            }
            for event in self.kernel.poll_events() {
                progressed = true;
                self.handle_kernel_event(now, event);
            }
            if !progressed {
                break;
            }
        }
    }

    /// Processes every pending engine event.
    pub fn drain_events(&mut self, now: Timestamp) {
        while let Some(event) = self.engine.poll_event() {
            self.on_event(now, event);
        }
        // Events complete pending initiates and terminates.
        self.sync_log_groups();
    }

    pub(super) fn sa_name(&self, sa: IkeSaId) -> Option<String> {
        self.sa_meta.get(&sa).map(|m| m.name.clone())
    }

    pub(super) fn on_event(&mut self, now: Timestamp, event: Event) {
        match event {
            Event::Log { sa, group, message } => self.on_engine_log(sa, group, message),
            Event::FetchCrls { uris, .. } => self.revocation.request(uris),
            Event::IkeUp {
                sa,
                name,
                local,
                remote,
            } => {
                let meta = self.sa_meta.entry(sa).or_insert_with(|| SaMeta {
                    name: name.clone(),
                    local: None,
                    remote: None,
                    established_at: None,
                    auto: None,
                });
                meta.name = name.clone();
                meta.local = Some(local);
                meta.remote = Some(remote);
                meta.established_at = Some(now);
                // The engine logged "IKE_SA ... established between" (charon logs it once).
                self.broadcast_updown("ike-updown", sa, None, true, now);
                self.complete_initiates(|p| p.ike == sa && p.awaiting == Awaiting::IkeUp, Ok(()));
            }
            Event::IkeFailed {
                sa,
                name,
                reason,
                peer_silent,
            } => {
                tracing::warn!(target: "IKE", ike = name.as_str(), "establishing IKE_SA {name}[{}] failed: {reason}", sa.0);
                let msg = format!("establishing IKE_SA '{name}' failed: {reason}");
                self.complete_initiates(|p| p.ike == sa, Err(msg));
                self.acquires.ike_gone(sa);
                let meta = self.sa_meta.remove(&sa);
                // As charon: `keyingtries` retries a peer that never answered; a refusal
                // (authentication, proposals) would only be refused again.
                if peer_silent {
                    self.retry_auto(now, meta);
                }
            }
            Event::IkeDown { sa, reason } => {
                let name = self.sa_name(sa).unwrap_or_default();
                tracing::info!(target: "IKE", ike = name.as_str(), "IKE_SA {name}[{}] down: {}", sa.0, crate::daemon::knl_text::down(&reason));
                self.broadcast_updown("ike-updown", sa, None, false, now);
                self.complete_initiates(
                    |p| p.ike == sa,
                    Err(format!(
                        "IKE_SA '{name}' went down: {}",
                        crate::daemon::knl_text::down(&reason)
                    )),
                );
                self.on_sa_gone(sa, None);
                self.acquires.ike_gone(sa);
                let meta = self.sa_meta.remove(&sa);
                self.after_down(now, &name, None, &reason, meta);
                self.restart_on_survivor(now, &name);
            }
            Event::IkeRekeyed { old, new } => {
                if let Some(mut meta) = self.sa_meta.get(&old).cloned() {
                    meta.established_at = Some(now);
                    meta.auto = None;
                    self.sa_meta.insert(new, meta);
                }
                let name = self.sa_name(old).unwrap_or_default();
                tracing::info!(target: "IKE", ike = name.as_str(), "IKE_SA {name}[{}] rekeyed to [{}]", old.0, new.0);
                let msg = Message::new().section(
                    name.clone(),
                    Message::new()
                        .section("old", self.ike_sa_message(old, false, now))
                        .section("new", self.ike_sa_message(new, false, now)),
                );
                self.broadcast("ike-rekey", msg);
                // Pending requests follow the SA to its successor.
                self.acquires.moved(old, new);
                for p in &mut self.pending_initiates {
                    if p.ike == old {
                        p.ike = new;
                    }
                }
                self.sa_meta.remove(&old);
            }
            // The engine logged "CHILD_SA ... established" already (charon logs it once).
            Event::ChildUp {
                ike, child, name, ..
            } => {
                self.child_meta.insert(
                    child,
                    ChildMeta {
                        installed_at: now,
                        name: name.clone(),
                    },
                );
                self.broadcast_updown("child-updown", ike, Some(child), true, now);
                self.acquire_done(ike, &name);
                self.complete_initiates(
                    |p| p.ike == ike && p.awaiting == Awaiting::Child(name.clone()),
                    Ok(()),
                );
            }
            Event::ChildFailed { ike, name, reason } => {
                let ike_name = self.sa_name(ike).unwrap_or_default();
                tracing::warn!(target: "CHD", ike = ike_name.as_str(), "establishing CHILD_SA {name} failed: {reason}");
                self.acquire_done(ike, &name);
                // As charon, list-sas shows nothing for a refused child: the log above and
                // the initiating command's result carry the refusal (with the kernel's text
                // when the kernel refused it, e.g. an offload the device cannot do).
                self.complete_initiates(
                    |p| p.ike == ike && p.awaiting == Awaiting::Child(name.clone()),
                    Err(format!("establishing CHILD_SA '{name}' failed: {reason}")),
                );
            }
            Event::ChildDown { ike, child, reason } => {
                let ike_name = self.sa_name(ike).unwrap_or_default();
                let child_name = self
                    .child_name(ike, child)
                    .or_else(|| self.child_meta.get(&child).map(|m| m.name.clone()));
                tracing::info!(target: "CHD", ike = ike_name.as_str(), "CHILD_SA {}{{{}}} down: {}", child_name.as_deref().unwrap_or("?"), child.0, crate::daemon::knl_text::down(&reason));
                self.broadcast_updown("child-updown", ike, Some(child), false, now);
                self.child_meta.remove(&child);
                self.on_sa_gone(ike, Some(child));
                // A child that went down with its IKE SA (DPD timeout, the peer's IKE delete)
                // is restarted by the IKE SA's own down event, once for all its children, as
                // charon re-establishes an IKE SA; acting here too started one new IKE SA per
                // child, which the peer's `unique` then fought over.
                // One lookup, not a snapshot of every SA: this runs for each CHILD_SA a rekey
                // replaces (a walk here made 10,000 CHILD rekeys quadratic: 16 s loop stalls).
                let ike_alive = self.engine.ike_sa(ike).is_some();
                if reason != DownReason::Rekeyed && ike_alive {
                    self.after_down(now, &ike_name, child_name.as_deref(), &reason, None);
                }
            }
            Event::ChildRekeyed { ike, old, new } => {
                let name = self
                    .child_meta
                    .get(&old)
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                self.child_meta.insert(
                    new,
                    ChildMeta {
                        installed_at: now,
                        name,
                    },
                );
                let ike_name = self.sa_name(ike).unwrap_or_default();
                tracing::info!(target: "CHD", ike = ike_name.as_str(), "CHILD_SA {{{}}} rekeyed to {{{}}}", old.0, new.0);
                let mut body = self.ike_sa_message(ike, false, now);
                body.insert(
                    "child-sas",
                    crate::vici::Item::Section(
                        Message::new().section(
                            format!("{}", new.0),
                            Message::new()
                                .section(
                                    "old",
                                    self.child_sa_message(ike, old, now).unwrap_or_default(),
                                )
                                .section(
                                    "new",
                                    self.child_sa_message(ike, new, now).unwrap_or_default(),
                                ),
                        ),
                    ),
                );
                self.broadcast("child-rekey", Message::new().section(ike_name, body));
            }
        }
    }

    pub(super) fn child_name(&self, ike: IkeSaId, child: ChildSaId) -> Option<String> {
        self.engine
            .ike_sa(ike)
            .and_then(|s| s.children.into_iter().find(|c| c.id == child))
            .map(|c| c.name)
    }

    pub(super) fn on_engine_log(&mut self, sa: Option<IkeSaId>, group: LogGroup, message: String) {
        let name = sa.and_then(|s| self.sa_name(s));
        // The subscriber prints these fields as charon's `<conn|id>` prefix.
        let ike = name.as_deref().unwrap_or("");
        let id = sa.map(|s| u64::from(s.0)).unwrap_or(0);
        trace_engine_log(group, ike, id, &message);
        // Stream to clients initiating or terminating this SA.
        if let Some(sa) = sa {
            let tag = group.tag();
            let msg = || {
                Message::new()
                    .kv("group", tag)
                    .kv("level", "1")
                    .kv("ikesa-name", ike)
                    .kv("ikesa-uniqueid", sa.0.to_string())
                    .kv("msg", message.as_str())
            };
            for p in &self.pending_initiates {
                if p.ike == sa {
                    p.responder.event("control-log", msg());
                }
            }
            for p in &self.pending_terminates {
                if p.ikes.contains(&sa) {
                    p.responder.event("control-log", msg());
                }
            }
        }
    }

    /// Forwards a daemon log record to clients registered for `log`.
    pub fn forward_log(&self, record: LogRecord) {
        let mut msg = Message::new()
            .kv("group", record.group.tag())
            .kv("level", record.level.to_string())
            .kv("thread", "0");
        if let Some(name) = &record.ike_name
            && !name.is_empty()
        {
            msg = msg.kv("ikesa-name", name);
        }
        if let Some(id) = record.ike_id
            && id != 0
        {
            msg = msg.kv("ikesa-uniqueid", id.to_string());
        }
        msg = msg.kv("msg", record.message);
        let _ = record.group == Group::Dmn;
        self.broadcast("log", msg);
    }

    pub(super) fn broadcast(&self, name: &'static str, message: Message) {
        let _ = self.events.send(BroadcastEvent { name, message });
    }

    pub(super) fn broadcast_updown(
        &self,
        event: &'static str,
        ike: IkeSaId,
        child: Option<ChildSaId>,
        up: bool,
        now: Timestamp,
    ) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let name = self.sa_name(ike).unwrap_or_default();
        let mut body = self.ike_sa_message(ike, false, now);
        if let Some(child) = child
            && let Some(c) = self.child_sa_message(ike, child, now)
        {
            body.insert(
                "child-sas",
                crate::vici::Item::Section(Message::new().section(format!("{}", child.0), c)),
            );
        }
        let mut msg = Message::new();
        if up {
            msg = msg.kv("up", "yes");
        }
        self.broadcast(event, msg.section(name, body));
    }

    /// close_action (peer deleted) and dpd_action (peer dead) per child, keyingtries for SAs
    /// we started automatically.
    pub(super) fn after_down(
        &mut self,
        now: Timestamp,
        conn_name: &str,
        child: Option<&str>,
        reason: &DownReason,
        meta: Option<SaMeta>,
    ) {
        if self.stopping {
            return;
        }
        let Some(conn) = self.find_conn(conn_name) else {
            return;
        };
        let keyingtries = conn.keyingtries;
        let mut restart = Vec::new();
        let mut retrap = Vec::new();
        for c in &conn.children {
            if child.is_some_and(|n| n != c.name) {
                continue;
            }
            let action = match reason {
                DownReason::Peer => c.close_action,
                DownReason::Timeout => c.dpd_action,
                _ => continue,
            };
            if action.start {
                restart.push(c.name.clone());
            }
            if action.trap {
                retrap.push(c.name.clone());
            }
        }
        for c in retrap {
            let _ = self.install_trap(conn_name, &c);
        }
        if !restart.is_empty() {
            tracing::info!(target: "IKE", "restarting {conn_name} {:?} ({reason:?})", restart);
            self.auto_initiate(now, conn_name, restart, keyingtries);
        }
        let _ = meta;
    }

    pub(super) fn retry_auto(&mut self, now: Timestamp, meta: Option<SaMeta>) {
        // Each retry resolves the connection's DNS names again, as charon's does.
        let meta = match meta {
            Some(m) if m.auto.as_ref().is_some_and(|a| a.tries_left != Some(0)) => {
                let conn = m.name.clone();
                match self.defer_for_names(&conn, super::names::Deferred::Retry(m)) {
                    Some(super::names::Deferred::Retry(m)) => Some(m),
                    _ => return,
                }
            }
            other => other,
        };
        let Some(SaMeta {
            name,
            auto: Some(auto),
            ..
        }) = meta
        else {
            return;
        };
        if self.stopping {
            return;
        }
        let tries_left = match auto.tries_left {
            Some(0) => {
                tracing::warn!(target: "IKE", "giving up on {name} after keyingtries");
                return;
            }
            Some(n) => Some(n.saturating_sub(1)),
            None => None,
        };
        let refs: Vec<&str> = auto.children.iter().map(String::as_str).collect();
        if let Ok(id) = self.initiate_conn(now, &name, &refs) {
            tracing::info!(target: "IKE", "retrying {name} (keyingtries left: {tries_left:?})");
            self.sa_meta.insert(
                id,
                SaMeta {
                    name,
                    local: None,
                    remote: None,
                    established_at: None,
                    auto: Some(AutoStart {
                        children: auto.children,
                        tries_left,
                    }),
                },
            );
        }
    }
}
