//! VICI command dispatch and the commands that act on SAs (`initiate`, `terminate`, `rekey`,
//! `install`, `uninstall`), with the bookkeeping of requests whose client waits for the
//! engine (completed by [`super::events`], expired by the control timer).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use iked_ike::engine::{ChildSaId, IkeSaId, LogGroups, Timestamp};

use super::about::version_message;
use super::names::Deferred;
use super::{Awaiting, Core, PendingInitiate, PendingTerminate, SaMeta};
use crate::vici::Message;
use crate::vici::server::{ControlRequest, Responder, error_response, success_response};
use iked_conf::addr::AddrSpec;

impl Core {
    /// Answers one VICI command.
    pub fn handle_control(&mut self, now: Timestamp, request: ControlRequest) {
        self.dispatch_control(now, request);
        // `initiate` and `terminate` may have registered (or given up on) a waiting client.
        self.sync_log_groups();
    }

    /// One arm a command, grouped as charon's VICI plugin groups them (queries, configuration
    /// and credentials, control); each command's function answers the client itself or returns
    /// the answer.
    pub(super) fn dispatch_control(&mut self, now: Timestamp, request: ControlRequest) {
        let ControlRequest {
            command,
            message,
            responder,
        } = request;
        self.refresh_wall_clock();
        tracing::debug!(target: "CFG", "vici command '{command}'");
        let m = &message;
        match command.as_str() {
            "version" => responder.respond(version_message()),
            "stats" => responder.respond(self.stats_message(now)),
            "list-sas" => self.list_sas(now, m, responder),
            "list-policies" => self.list_policies(m, responder),
            "list-conns" => self.list_conns(m, responder),
            "get-conns" => responder.respond(self.get_conns()),
            "list-certs" => self.list_certs(m, responder),
            "list-authorities" => self.list_authorities(m, responder),
            "get-authorities" => responder.respond(self.creds.vici_get_authorities()),
            "get-keys" => responder.respond(self.creds.vici_get_keys()),
            "get-shared" => responder.respond(self.get_shared()),
            "get-pools" => responder.respond(Message::new()),
            "reload-settings" => responder.respond(self.reload_settings(now)),
            "iked-load-file" => responder.respond(self.load_file_vici(now, m)),
            "load-conn" => responder.respond(self.load_conn_vici(now, m)),
            "unload-conn" => responder.respond(self.unload_conn(now, m)),
            "load-shared" => responder.respond(self.load_shared(m)),
            "unload-shared" => responder.respond(self.unload_shared(m)),
            "clear-creds" => responder.respond(self.clear_creds()),
            "load-cert" => responder.respond(self.change_creds(|c| c.vici_load_cert(m))),
            "load-key" => responder.respond(self.change_creds(|c| c.vici_load_key(m))),
            "unload-key" => responder.respond(self.change_creds(|c| c.vici_unload_key(m))),
            "load-authority" => responder.respond(self.change_creds(|c| c.vici_load_authority(m))),
            "unload-authority" => {
                responder.respond(self.change_creds(|c| c.vici_unload_authority(m)))
            }
            "load-token" => responder.respond(error_response(
                "load-token: smartcards (PKCS#11) are not supported; load the key with load-key",
            )),
            "initiate" => self.initiate(now, m, responder),
            "terminate" => self.terminate(now, m, responder),
            "rekey" => responder.respond(self.rekey(now, m)),
            "install" => responder.respond(self.install(m)),
            "uninstall" => responder.respond(self.uninstall(m)),
            _ => responder.unknown_command(),
        }
    }

    /// `install`: a trap policy for a child, named alone or with its connection.
    pub(super) fn install(&mut self, message: &Message) -> Message {
        let Some(child) = message.get_str("child") else {
            return error_response("missing configuration name");
        };
        let conn = message
            .get_str("ike")
            .map(str::to_owned)
            .or_else(|| self.conn_of_child(child).map(|c| c.name.clone()));
        let Some(conn) = conn else {
            return error_response(format!("configuration name not found: '{child}'"));
        };
        match self.install_trap(&conn, child) {
            Ok(()) => success_response(),
            Err(e) => error_response(format!("installing policy '{child}' failed: {e}")),
        }
    }

    /// `uninstall`: removes the trap policies of a child.
    pub(super) fn uninstall(&mut self, message: &Message) -> Message {
        let Some(child) = message.get_str("child") else {
            return error_response("missing configuration name");
        };
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.traps)
            .into_iter()
            .partition(|t| t.child == child);
        self.traps = keep;
        let shunt_gone = self.shunts.uninstall_child(self.kernel.as_mut(), child);
        if gone.is_empty() && !shunt_gone {
            return error_response(format!("policy '{child}' not found"));
        }
        for t in &gone {
            self.kernel.uninstall_trap(t);
        }
        success_response()
    }

    /// Starts an IKE SA of `conn` towards its configured `remote_port` (swanctl's default 500).
    pub(super) fn initiate_conn(
        &mut self,
        now: Timestamp,
        conn: &str,
        children: &[&str],
    ) -> Result<IkeSaId, iked_ike::error::CommandError> {
        let options = self.initiate_options(conn);
        self.engine.initiate_with(now, conn, children, options)
    }

    /// Endpoint choices for initiating `conn`: its `remote_port`, the peer's address (the first
    /// entry of `remote_addrs` that is an address or a name that resolved), and our address:
    /// a resolved local name, else our route's source towards the peer (`local_addrs = %any`).
    pub(super) fn initiate_options(&self, conn: &str) -> iked_ike::engine::InitiateOptions {
        let found = self.find_conn(conn);
        let remote_port = found.map(|c| c.remote_port);
        let remote_addr = found.and_then(|c| self.names.first_addr(&c.remote_addrs, None).ok()?);
        let family = remote_addr.map(|a| a.is_ipv4());
        let local_name = found.and_then(|c| {
            let names = c.local_addrs.iter().any(|a| matches!(a, AddrSpec::Fqdn(_)));
            names.then(|| self.names.first_addr(&c.local_addrs, family).ok()?)?
        });
        // With `local_addrs = %any` our address (hashed for NAT detection, used by the SAs) is
        // the source of the kernel's route to the peer; a configured address wins in the engine.
        let local_addr = local_name.or_else(|| {
            remote_addr.and_then(|ip| crate::daemon::net::route_source(SocketAddr::new(ip, 500)))
        });
        iked_ike::engine::InitiateOptions {
            local_addr,
            remote_port,
            remote_addr,
            ..Default::default()
        }
    }

    pub(super) fn initiate(&mut self, now: Timestamp, message: &Message, responder: Responder) {
        let child = message.get_str("child").map(str::to_owned);
        let ike = message.get_str("ike").map(str::to_owned);
        let timeout_ms: i64 = message
            .get_str("timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let conn_name = match (&ike, &child) {
            (Some(i), _) => i.clone(),
            (None, Some(c)) => match self.conn_of_child(c) {
                Some(conn) => conn.name.clone(),
                None => {
                    return responder
                        .respond(error_response(format!("CHILD_SA config '{c}' not found")));
                }
            },
            (None, None) => return responder.respond(error_response("missing configuration name")),
        };
        if self.find_conn(&conn_name).is_none() {
            return responder.respond(error_response(format!(
                "IKE_SA config '{conn_name}' not found"
            )));
        }
        if timeout_ms >= 0 {
            // The client will wait and read every record of the SA from its first one, which
            // the command below already builds.
            self.engine.set_log_groups(LogGroups::ALL);
        }
        // charon reuses an established IKE_SA of the same config for further children.
        let existing = self
            .engine
            .ike_sas()
            .into_iter()
            .find(|s| s.name == conn_name && s.established);
        // A new IKE SA resolves the connection's DNS names first (off the loop).
        let responder = match existing {
            Some(_) => responder,
            None => {
                let deferred = Deferred::Vici {
                    message: message.clone(),
                    responder,
                };
                match self.defer_for_names(&conn_name, deferred) {
                    Some(Deferred::Vici { responder, .. }) => responder,
                    _ => return,
                }
            }
        };
        let started = match (&existing, &child) {
            (Some(sa), Some(c)) => {
                if sa.children.iter().any(|x| &x.name == c && x.installed) {
                    return responder.respond(success_response());
                }
                self.engine.create_child(now, sa.id, c).map(|()| sa.id)
            }
            (Some(sa), None) => {
                return responder.respond({
                    let _ = sa;
                    success_response()
                });
            }
            (None, c) => {
                let children: Vec<&str> = c.iter().map(String::as_str).collect();
                self.initiate_conn(now, &conn_name, &children)
            }
        };
        let id = match started {
            Ok(id) => id,
            Err(e) => return responder.respond(error_response(e.to_string())),
        };
        self.sa_meta.entry(id).or_insert_with(|| SaMeta {
            name: conn_name.clone(),
            local: None,
            remote: None,
            established_at: None,
            auto: None,
        });
        responder.event(
            "control-log",
            Message::new()
                .kv("group", "IKE")
                .kv("level", "0")
                .kv("ikesa-name", conn_name.as_str())
                .kv("ikesa-uniqueid", id.0.to_string())
                .kv(
                    "msg",
                    match &child {
                        Some(c) => format!("initiating CHILD_SA {c} of {conn_name}[{}]", id.0),
                        None => format!("initiating IKE_SA {conn_name}[{}]", id.0),
                    },
                ),
        );
        if timeout_ms < 0 {
            return responder.respond(success_response());
        }
        let deadline = (timeout_ms > 0).then(|| now + Duration::from_millis(timeout_ms as u64));
        self.pending_initiates.push(PendingInitiate {
            ike: id,
            awaiting: match child {
                Some(c) => Awaiting::Child(c),
                None => Awaiting::IkeUp,
            },
            deadline,
            responder,
        });
    }

    pub(super) fn select_sas(
        &self,
        message: &Message,
    ) -> Result<(Vec<IkeSaId>, Vec<ChildSaId>), String> {
        let sas = self.engine.ike_sas();
        let mut ikes = Vec::new();
        let mut children = Vec::new();
        if let Some(name) = message.get_str("ike") {
            ikes.extend(
                sas.iter()
                    .filter(|s| self.sa_name(s.id).unwrap_or(s.name.clone()) == name)
                    .map(|s| s.id),
            );
        }
        if let Some(id) = message
            .get_str("ike-id")
            .or(message.get_str("ike_id"))
            .and_then(|v| v.parse::<u32>().ok())
        {
            ikes.extend(sas.iter().filter(|s| s.id.0 == id).map(|s| s.id));
        }
        if let Some(name) = message.get_str("child") {
            for s in &sas {
                children.extend(s.children.iter().filter(|c| c.name == name).map(|c| c.id));
            }
        }
        if let Some(id) = message
            .get_str("child-id")
            .or(message.get_str("child_id"))
            .and_then(|v| v.parse::<u32>().ok())
        {
            for s in &sas {
                children.extend(s.children.iter().filter(|c| c.id.0 == id).map(|c| c.id));
            }
        }
        if ikes.is_empty() && children.is_empty() {
            return Err("no matching SAs found".into());
        }
        Ok((ikes, children))
    }

    pub(super) fn terminate(&mut self, now: Timestamp, message: &Message, responder: Responder) {
        let (ikes, children) = match self.select_sas(message) {
            Ok(x) => x,
            Err(e) => return responder.respond(error_response(e)),
        };
        let force = message.get_bool("force") == Some(true);
        let timeout_ms: i64 = message
            .get_str("timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if !(force || timeout_ms < 0) {
            // The client will wait for the deletes and stream their records (see `initiate`).
            self.engine.set_log_groups(LogGroups::ALL);
        }
        for c in &children {
            let _ = self.engine.terminate_child(now, *c);
        }
        for i in &ikes {
            // `force` (charon's too): the SA and its kernel state go now, the DELETE is sent
            // best-effort instead of waiting behind a request the peer may never answer.
            let _ = if force {
                self.engine.terminate_ike_forced(now, *i)
            } else {
                self.engine.terminate_ike(now, *i)
            };
        }
        if force || timeout_ms < 0 {
            return responder.respond(success_response());
        }
        let deadline = (timeout_ms > 0).then(|| now + Duration::from_millis(timeout_ms as u64));
        let live: HashSet<IkeSaId> = self.engine.ike_sas().iter().map(|s| s.id).collect();
        let live_children: HashSet<ChildSaId> = self
            .engine
            .ike_sas()
            .iter()
            .flat_map(|s| s.children.iter().map(|c| c.id))
            .collect();
        let pending = PendingTerminate {
            ikes: ikes.into_iter().filter(|i| live.contains(i)).collect(),
            children: children
                .into_iter()
                .filter(|c| live_children.contains(c))
                .collect(),
            deadline,
            responder,
        };
        if pending.ikes.is_empty() && pending.children.is_empty() {
            pending.responder.respond(success_response());
        } else {
            self.pending_terminates.push(pending);
        }
    }

    pub(super) fn rekey(&mut self, now: Timestamp, message: &Message) -> Message {
        let (ikes, children) = match self.select_sas(message) {
            Ok(x) => x,
            Err(e) => return error_response(e),
        };
        let mut matches = 0;
        for c in children {
            if self.engine.rekey_child(now, c).is_ok() {
                matches += 1;
            }
        }
        for i in ikes {
            if self.engine.rekey_ike(now, i).is_ok() {
                matches += 1;
            }
        }
        success_response().kv("matches", matches.to_string())
    }

    pub(super) fn complete_initiates(
        &mut self,
        matches: impl Fn(&PendingInitiate) -> bool,
        result: Result<(), String>,
    ) {
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_initiates)
            .into_iter()
            .partition(|p| matches(p));
        self.pending_initiates = keep;
        for p in done {
            p.responder.respond(match &result {
                Ok(()) => success_response(),
                Err(e) => error_response(e),
            });
        }
    }

    pub(super) fn on_sa_gone(&mut self, ike: IkeSaId, child: Option<ChildSaId>) {
        let mut still = Vec::new();
        for mut p in std::mem::take(&mut self.pending_terminates) {
            match child {
                Some(c) => {
                    p.children.remove(&c);
                }
                None => {
                    p.ikes.remove(&ike);
                }
            }
            if p.ikes.is_empty() && p.children.is_empty() {
                p.responder.respond(success_response());
            } else {
                still.push(p);
            }
        }
        self.pending_terminates = still;
    }

    /// The earliest deadline of a pending control request.
    pub fn next_control_deadline(&self) -> Option<Timestamp> {
        self.pending_initiates
            .iter()
            .filter_map(|p| p.deadline)
            .chain(self.pending_terminates.iter().filter_map(|p| p.deadline))
            .chain(self.next_names_deadline())
            .min()
    }

    /// Fails pending requests whose deadline passed (charon's `timeout` semantics: the SA
    /// keeps trying, only the request returns).
    pub fn expire_control(&mut self, now: Timestamp) {
        self.complete_initiates(
            |p| p.deadline.is_some_and(|d| d <= now),
            Err("initiate timed out".into()),
        );
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_terminates)
            .into_iter()
            .partition(|p| p.deadline.is_some_and(|d| d <= now));
        self.pending_terminates = keep;
        for p in done {
            p.responder.respond(error_response("terminate timed out"));
        }
        self.expire_names(now);
        self.sync_log_groups();
    }
}
