//! Configuration loading: connections, secrets and credentials from the file and from the VICI
//! commands that change them (`reload-settings`, `iked-load-file`, `load-*`, `unload-*`,
//! `clear-creds`), what the engine gets of them, and the `start_action`s (initiate, trap
//! policies) they ask for.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use iked_ike::engine::{IkeSaId, Timestamp};

use super::{AutoStart, Core, LoadReport, SaMeta, StoredConn, StoredSecret};
use crate::daemon::config;
use crate::daemon::creds::{self, Origin};
use crate::vici::Message;
use crate::vici::server::{error_response, success_response};

impl Core {
    /// `reload-settings`: loads the configuration file again (everything in it).
    pub(super) fn reload_settings(&mut self, now: Timestamp) -> Message {
        let file = self.config_file.clone();
        let report = self.load_file(now, &file, "all");
        if report.errors.is_empty() {
            success_response()
        } else {
            error_response(report.errors.join("; "))
        }
    }

    /// `iked-load-file` (iked's own command, behind `ikectl load-all`): loads `file` (default:
    /// the configuration file) for `what`, answering with the whole [`LoadReport`].
    pub(super) fn load_file_vici(&mut self, now: Timestamp, message: &Message) -> Message {
        let file = message
            .get_str("file")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.config_file.clone());
        let what = message.get_str("what").unwrap_or("all").to_owned();
        let report = self.load_file(now, &file, &what);
        let mut msg = Message::new()
            .kv(
                "success",
                if report.errors.is_empty() {
                    "yes"
                } else {
                    "no"
                },
            )
            .list("conns", &report.conns)
            .kv("conns-unloaded", report.conns_unloaded.to_string())
            .list("conns-added", &report.added)
            .list("conns-replaced", &report.replaced)
            .list("conns-kept", &report.kept)
            .list("conns-unloaded-names", &report.unloaded)
            .section(
                "conns-refused",
                report
                    .refused
                    .iter()
                    .fold(Message::new(), |m, (name, why)| m.kv(name.clone(), why)),
            )
            .list("secrets", &report.secrets)
            .kv("secrets-unloaded", report.secrets_unloaded.to_string())
            .list("creds", &report.creds)
            .list("cred-errors", &report.cred_errors)
            .list("errors", &report.errors);
        if !report.errors.is_empty() {
            msg = msg.kv(
                "errmsg",
                format!("{} error(s) in {}", report.errors.len(), file.display()),
            );
        }
        msg
    }

    /// `unload-conn`: removes a connection by name (from the file or VICI alike).
    pub(super) fn unload_conn(&mut self, now: Timestamp, message: &Message) -> Message {
        let Some(name) = message.get_str("name") else {
            return error_response("missing connection name to unload");
        };
        let before = self.conns.len();
        let old_start = crate::daemon::retire::start_children(self.conns.iter().map(|c| &c.conn));
        self.conns.retain(|c| c.conn.name != name);
        if self.conns.len() == before {
            return error_response(format!("connection '{name}' not found for unloading"));
        }
        self.drop_policies_of(name);
        self.remove_stale_traps();
        self.push_config_to_engine();
        self.retire_stale(now, &old_start);
        success_response()
    }

    /// `unload-shared`: removes a shared key by its unique identifier.
    pub(super) fn unload_shared(&mut self, message: &Message) -> Message {
        let Some(id) = message.get_str("id") else {
            return error_response("unique identifier required to unload");
        };
        let before = self.secrets.len();
        self.secrets.retain(|s| s.name != id);
        if before == self.secrets.len() {
            return error_response(format!("shared key '{id}' not found"));
        }
        self.push_config_to_engine();
        success_response()
    }

    /// `clear-creds`: drops every credential and shared key loaded over VICI.
    pub(super) fn clear_creds(&mut self) -> Message {
        self.secrets.retain(|s| s.origin != Origin::Vici);
        self.creds.vici_clear();
        self.push_config_to_engine();
        self.push_credentials();
        success_response()
    }

    /// A credential command (`load-cert`, `load-key`, `unload-key`, `load-authority`,
    /// `unload-authority`): the store's answer, after which the engine gets the new set.
    pub(super) fn change_creds(
        &mut self,
        change: impl FnOnce(&mut creds::CredStore) -> Message,
    ) -> Message {
        let reply = change(&mut self.creds);
        self.push_credentials();
        reply
    }

    /// Loads `file` (connections and/or secrets per `what`: all, conns, creds), replacing what
    /// an earlier file load brought in. If the file does not parse nothing changes; otherwise
    /// connections are taken one by one, as `swanctl --load-conns` feeds charon: an invalid
    /// connection is refused and keeps its previous version, the others are added or replaced,
    /// and those of the previous file that it no longer has are unloaded.
    pub fn load_file(&mut self, now: Timestamp, file: &Path, what: &str) -> LoadReport {
        let mut report = LoadReport::default();
        let loaded = match iked_conf::load_file_per_conn(file) {
            Ok(l) => l,
            Err(errors) => {
                report.errors = errors.errors.iter().map(ToString::to_string).collect();
                report.file_failed = true;
                for e in &report.errors {
                    tracing::error!(target: "CFG", "{e}");
                }
                return report;
            }
        };
        for w in &loaded.warnings {
            tracing::warn!(target: "CFG", "{w}");
        }
        self.config_file = file.to_owned();
        let config = loaded.config;
        let old_start = crate::daemon::retire::start_children(self.conns.iter().map(|c| &c.conn));
        if what != "conns" {
            let dir = creds::swanctl_dir(file);
            let cred_report = self
                .creds
                .load_dirs(&dir, &config.secrets, &config.authorities);
            for line in &cred_report.loaded {
                tracing::info!(target: "CFG", "{line}");
            }
            for e in &cred_report.errors {
                tracing::error!(target: "CFG", "{e}");
            }
            report.creds = cred_report.loaded;
            report.cred_errors = cred_report.errors.iter().map(ToString::to_string).collect();
            self.push_credentials();
        }
        if what != "conns" {
            let before = self.secrets.len();
            self.secrets.retain(|s| s.origin != Origin::File);
            report.secrets_unloaded = before - self.secrets.len();
            for s in config.secrets.ike() {
                let secret = match iked_ike::from_conf::secret(s) {
                    Ok(secret) => secret,
                    Err(e) => {
                        report.errors.push(e.to_string());
                        tracing::error!(target: "CFG", "{e}");
                        continue;
                    }
                };
                self.secrets.push(StoredSecret {
                    name: s.name.clone(),
                    origin: Origin::File,
                    ids: secret.ids,
                    secret: secret.secret,
                });
                report.secrets.push(s.name.clone());
            }
        }
        if what != "creds" {
            let dir = creds::swanctl_dir(file);
            let mut refused: Vec<(String, String)> = loaded
                .refused
                .iter()
                .map(|(name, errors)| {
                    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    (name.clone(), all.join("; "))
                })
                .collect();
            let mut valid = Vec::new();
            for conn in config.connections {
                // What charon's load-conn would refuse beyond the file's syntax (proposals,
                // identities, certificate files) refuses this connection alone too.
                match creds::engine_connection_with_creds(&conn, &dir) {
                    Ok(_) => valid.push(conn),
                    Err(e) => refused.push((conn.name.clone(), e)),
                }
            }
            let in_file: HashSet<&str> = valid
                .iter()
                .map(|c| c.name.as_str())
                .chain(refused.iter().map(|(n, _)| n.as_str()))
                .collect();
            // Like swanctl, which unloads the connections it finds loaded but not in the file:
            // only those an earlier file load brought in (VICI-loaded ones stay).
            let mut unloaded = Vec::new();
            self.conns.retain(|c| {
                let keep = c.origin != Origin::File || in_file.contains(c.conn.name.as_str());
                if !keep {
                    unloaded.push(c.conn.name.clone());
                }
                keep
            });
            for conn in valid {
                let name = conn.name.clone();
                let stored = StoredConn {
                    conn,
                    origin: Origin::File,
                };
                // Replaced in place, so lookups by child name keep their order.
                if let Some(old) = self.conns.iter_mut().find(|c| c.conn.name == name) {
                    *old = stored;
                    report.replaced.push(name.clone());
                } else {
                    self.conns.push(stored);
                    report.added.push(name.clone());
                }
                report.conns.push(name);
            }
            for (name, why) in refused {
                if self.conns.iter().any(|c| c.conn.name == name) {
                    report.kept.push(name.clone());
                }
                report
                    .errors
                    .push(format!("loading connection '{name}' failed: {why}"));
                report.refused.push((name, why));
            }
            report.conns_unloaded = unloaded.len();
            report.unloaded = unloaded;
        }
        for c in &report.added {
            tracing::info!(target: "CFG", "added connection '{c}'");
        }
        for c in &report.replaced {
            tracing::info!(target: "CFG", "replaced connection '{c}'");
        }
        for (c, why) in &report.refused {
            tracing::error!(target: "CFG", "loading connection '{c}' failed: {why}");
        }
        for c in &report.kept {
            tracing::warn!(target: "CFG", "kept the previous version of connection '{c}'");
        }
        for c in &report.unloaded {
            tracing::info!(target: "CFG", "unloaded connection '{c}'");
        }
        if what != "creds" {
            tracing::info!(
                target: "CFG",
                "connections: {} added, {} replaced, {} kept, {} refused, {} unloaded",
                report.added.len(),
                report.replaced.len(),
                report.kept.len(),
                report.refused.len(),
                report.unloaded.len()
            );
        }
        // As charon's vici_config undoes a replaced or unloaded connection's start actions:
        // its trap and shunt policies go, the new version installs its own.
        for name in report
            .replaced
            .iter()
            .chain(&report.unloaded)
            .cloned()
            .collect::<Vec<_>>()
        {
            self.drop_policies_of(&name);
        }
        self.push_config_to_engine();
        if what != "creds" {
            self.retire_stale(now, &old_start);
            self.remove_stale_traps();
            self.resume_handed_over(now);
            self.apply_start_actions(now, None);
        }
        report
    }

    /// Uninstalls the trap policies the loaded configuration no longer asks for (see
    /// [`super::super::traps::stale`]); `apply_start_actions` installs the new ones.
    pub(super) fn remove_stale_traps(&mut self) {
        let stale = super::super::traps::stale(&self.traps, |n| self.find_conn(n));
        for i in stale.into_iter().rev() {
            let t = self.traps.remove(i);
            tracing::info!(target: "CFG", "uninstalling trap policy {}/{}", t.connection, t.child);
            self.kernel.uninstall_trap(&t);
        }
    }

    /// Closes what `start_action = start` of an unloaded or changed connection brought up
    /// (charon's `clear_start_actions`; see `retire.rs`).
    pub(super) fn retire_stale(
        &mut self,
        now: Timestamp,
        old_start: &crate::daemon::retire::StartChildren,
    ) {
        for step in crate::daemon::retire::plan(self.engine.stale_sas(), old_start) {
            tracing::info!(target: "CFG", "{step}");
            let _ = match step {
                crate::daemon::retire::Retire::Ike { id, .. } => self.engine.terminate_ike(now, id),
                crate::daemon::retire::Retire::Child { id, .. } => {
                    self.engine.terminate_child(now, id)
                }
            };
        }
    }

    pub(super) fn push_config_to_engine(&mut self) {
        let dir = creds::swanctl_dir(&self.config_file);
        let conns = self
            .conns
            .iter()
            // Shunt-only connections are policies, never IKE peers.
            .filter(|c| !super::super::shunts::is_shunt_only(&c.conn))
            .filter_map(|c| creds::engine_connection_with_creds(&c.conn, &dir).ok())
            .collect();
        let secrets = self
            .secrets
            .iter()
            .map(|s| iked_ike::config::IkeSecret::new(s.ids.clone(), s.secret.to_vec()))
            .collect();
        self.engine.reload(conns, secrets);
        self.refresh_names();
    }

    pub(super) fn find_conn(&self, name: &str) -> Option<&iked_conf::Connection> {
        self.conns.iter().map(|c| &c.conn).find(|c| c.name == name)
    }

    /// The connection holding a child of this name (the first, as charon picks).
    pub(super) fn conn_of_child(&self, child: &str) -> Option<&iked_conf::Connection> {
        self.conns
            .iter()
            .map(|c| &c.conn)
            .find(|c| c.children.iter().any(|ch| ch.name == child))
    }

    /// Honours `start_action` (start / trap) for every child, or only those of `only`.
    pub(super) fn apply_start_actions(&mut self, now: Timestamp, only: Option<&str>) {
        let mut to_start: Vec<(String, String, u32)> = Vec::new();
        let mut to_trap: Vec<(String, String)> = Vec::new();
        let mut held = Vec::new();
        for c in self.conns.iter().map(|c| &c.conn) {
            if only.is_some_and(|o| o != c.name) {
                continue;
            }
            let waiting = self.waiting_for(c);
            if !waiting.is_empty() && c.children.iter().any(|ch| ch.start_action.start) {
                held.push(c.name.clone());
                tracing::warn!(target: "CFG", "connection '{}': local address {:?} is not on this host yet; starting it when it appears", c.name, waiting);
            }
            for child in &c.children {
                if child.start_action.start && !waiting.is_empty() {
                    // Held back until the address appears (addresses_changed).
                } else if child.start_action.start && child.mode.is_shunt() {
                    tracing::warn!(target: "CFG", "{}/{}: start_action = start does not apply to a {} shunt (use trap)", c.name, child.name, child.mode);
                } else if child.start_action.start {
                    to_start.push((c.name.clone(), child.name.clone(), c.keyingtries));
                }
                if child.start_action.trap {
                    to_trap.push((c.name.clone(), child.name.clone()));
                }
            }
        }
        if let Some(name) = only {
            self.waiting.remove(name);
        } else {
            self.waiting.clear();
        }
        self.waiting.extend(held);
        for (conn, child) in to_trap {
            if let Err(e) = self.install_trap(&conn, &child) {
                tracing::error!(target: "CFG", "installing trap policy for {conn}/{child} failed: {e}");
            }
        }
        // All `start` children of a connection go to one IKE SA (charon's reuse_ikesa).
        for (conn, children, tries) in crate::daemon::start::group_by_conn(to_start) {
            let missing: Vec<String> = children
                .into_iter()
                .filter(|child| !self.engine.child_active(&conn, child))
                .collect();
            if !missing.is_empty() {
                self.auto_initiate(now, &conn, missing, tries);
            }
        }
    }

    /// An IKE SA of `conn` went away (a crossing resolved, `unique = replace`) while another
    /// one we initiated stays: the `start` children missing on it (refused while their twins
    /// on the old SA held the policies, say) are created there (see `start.rs`).
    pub(super) fn restart_on_survivor(&mut self, now: Timestamp, conn: &str) {
        let Some(c) = self.find_conn(conn) else {
            return;
        };
        let tries = c.keyingtries;
        let missing: Vec<String> = c
            .children
            .iter()
            .filter(|ch| ch.start_action.start)
            .map(|ch| ch.name.clone())
            .filter(|ch| !self.engine.child_active(conn, ch))
            .collect();
        // Only the survivor's initiator creates them: the other end never does the same.
        if !missing.is_empty() && self.engine.has_established_initiated(conn) {
            self.auto_initiate(now, conn, missing, tries);
        }
    }

    pub(super) fn auto_initiate(
        &mut self,
        now: Timestamp,
        conn: &str,
        children: Vec<String>,
        keyingtries: u32,
    ) -> Option<IkeSaId> {
        // A new IKE SA of a connection with DNS names resolves them first (off the loop).
        let deferred = super::names::Deferred::Auto {
            conn: conn.to_owned(),
            children,
            keyingtries,
        };
        let Some(super::names::Deferred::Auto { children, .. }) =
            self.defer_for_names(conn, deferred)
        else {
            return None;
        };
        let refs: Vec<&str> = children.iter().map(String::as_str).collect();
        let options = self.initiate_options(conn);
        match self.engine.start_children(now, conn, &refs, options) {
            Ok(iked_ike::engine::Started::Reused(id)) => {
                tracing::info!(target: "IKE", ike = conn, "queued {children:?} on IKE SA {}", id.0);
                Some(id)
            }
            Ok(iked_ike::engine::Started::New(id)) => {
                tracing::info!(target: "IKE", ike = conn, "initiating {conn} for {:?}", children);
                self.sa_meta.insert(
                    id,
                    SaMeta {
                        name: conn.to_owned(),
                        local: None,
                        remote: None,
                        established_at: None,
                        auto: Some(AutoStart {
                            children,
                            tries_left: (keyingtries > 0).then(|| keyingtries.saturating_sub(1)),
                        }),
                    },
                );
                Some(id)
            }
            Err(e) => {
                tracing::error!(target: "CFG", "initiating {conn} failed: {e}");
                None
            }
        }
    }

    pub(super) fn install_trap(&mut self, conn_name: &str, child_name: &str) -> Result<(), String> {
        if self
            .traps
            .iter()
            .any(|t| t.connection == conn_name && t.child == child_name)
        {
            return Ok(());
        }
        let resolved = self.initiate_options(conn_name).remote_addr;
        let conn = self
            .find_conn(conn_name)
            .ok_or_else(|| format!("no connection '{conn_name}'"))?;
        if let Some(shunt) = conn
            .children
            .iter()
            .find(|c| c.name == child_name)
            .and_then(|child| super::super::shunts::from_config(conn, child))
        {
            return self.shunts.install(self.kernel.as_mut(), shunt);
        }
        // The reqid (so the unique marks) the earlier iked installed it with, if it handed
        // it over: the policy is then the same kernel object, updated in place.
        let key = (conn_name.to_owned(), child_name.to_owned());
        let handed = self.handed_traps.get(&key).copied();
        let reqid = handed.unwrap_or(self.next_trap_reqid);
        let trap = super::super::traps::build_to(conn, child_name, reqid, resolved)?;
        self.kernel.install_trap(&trap)?;
        if handed.is_some() {
            self.handed_traps.remove(&key);
        } else {
            self.next_trap_reqid += 1;
        }
        self.traps.push(trap);
        Ok(())
    }

    pub(super) fn load_conn_vici(&mut self, now: Timestamp, message: &Message) -> Message {
        let text = match config::vici_conn_to_text(message) {
            Ok(t) => t,
            Err(e) => return error_response(format!("parsing request failed: {e}")),
        };
        let loaded = match iked_conf::load_str("vici:load-conn", &text) {
            Ok(l) => l,
            Err(errors) => {
                let all: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
                return error_response(all.join("; "));
            }
        };
        let mut names = Vec::new();
        let old_start = crate::daemon::retire::start_children(self.conns.iter().map(|c| &c.conn));
        let dir = creds::swanctl_dir(&self.config_file);
        for conn in loaded.config.connections {
            if let Err(e) = creds::engine_connection_with_creds(&conn, &dir) {
                return error_response(e);
            }
            names.push(conn.name.clone());
            self.drop_policies_of(&conn.name);
            self.conns.retain(|c| c.conn.name != conn.name);
            tracing::info!(target: "CFG", "added vici connection: {}", conn.name);
            self.conns.push(StoredConn {
                conn,
                origin: Origin::Vici,
            });
        }
        self.push_config_to_engine();
        self.retire_stale(now, &old_start);
        for n in names {
            self.apply_start_actions(now, Some(&n));
        }
        success_response()
    }

    pub(super) fn load_shared(&mut self, message: &Message) -> Message {
        let kind = message.get_str("type").unwrap_or("");
        if !kind.eq_ignore_ascii_case("IKE") {
            return error_response(format!(
                "shared key type '{kind}' is not supported (IKE only)"
            ));
        }
        let Some(crate::vici::Item::Value(data)) = message.get("data") else {
            return error_response("missing shared key data");
        };
        let mut ids = Vec::new();
        for owner in message.get_list("owners") {
            let id = iked_conf::identity::parse_identity(&owner)
                .and_then(|id| iked_ike::from_conf::identity(&id).map_err(|e| e.to_string()));
            match id {
                // `%any` (None) is no constraint: a secret owned only by it matches anyone.
                Ok(id) => ids.extend(id),
                Err(e) => return error_response(format!("invalid owner '{owner}': {e}")),
            }
        }
        let name = message
            .get_str("id")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("vici-{}", self.secrets.len() + 1));
        self.secrets.retain(|s| s.name != name);
        self.secrets.push(StoredSecret {
            name: name.clone(),
            origin: Origin::Vici,
            ids,
            secret: zeroize::Zeroizing::new(data.clone()),
        });
        tracing::info!(target: "CFG", "loaded IKE shared key '{name}'");
        self.push_config_to_engine();
        success_response()
    }
}
