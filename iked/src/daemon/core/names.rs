//! DNS names in `local_addrs`/`remote_addrs`: resolved off the event loop, handed to the
//! engine, and waited for by the initiations that need them.
//!
//! Contract:
//! - Resolution never blocks the event loop: each name is looked up by the blocking resolver
//!   (getaddrinfo, or one a test injects) on tokio's blocking pool under [`LOOKUP_TIMEOUT`];
//!   the result comes back through a channel the loop reads ([`Names::receiver`]) and reaches
//!   the engine as [`iked_ike::engine::Engine::set_resolved`] (a failure as "no address", so
//!   a name that stops resolving stops matching).
//! - Every initiation of a connection with names (VICI `initiate`, `start_action = start`,
//!   trap ACQUIREs, `close_action`/`dpd_action` restarts and `keyingtries` retries) resolves
//!   them first, as charon's `ike_sa` resolves its hosts on each (re)initiation; the
//!   initiation then goes to the first entry of `remote_addrs` that resolves (charon's
//!   `ike_cfg.c` `resolve`).
//! - A name that does not resolve is logged as an error naming it; VICI `initiate` fails with
//!   charon's "unable to resolve ..., initiate aborted", an automatic initiation is retried
//!   after [`RETRY_INTERVAL`] (resolving again) until the connection is unloaded.
//! - As responder, peers are matched against the latest resolution: at every load, at every
//!   initiation and at least every [`REFRESH_INTERVAL`] (charon resolves synchronously while
//!   matching, which blocks its thread; iked never does).
//! - Trap policies (`start_action = trap`) of a connection whose peer is a name are installed
//!   towards what it resolved to, once it has (charon resolves when installing them).
// Peer-derived data passes here (addresses come back from DNS): outside tests the module denies
// the panicking lints, as the datagram path does (DEVELOPING.md, "Lints").
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

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use iked_conf::addr::AddrSpec;
use iked_ike::engine::Timestamp;
use tokio::sync::mpsc;

use super::{Core, SaMeta};
use crate::vici::Message;
use crate::vici::server::{Responder, error_response};

/// How long one lookup may take before it counts as failed.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an automatic initiation whose peer name did not resolve waits to try again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// How old a resolution responders match against may get.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// A blocking name resolver: the addresses of a DNS name, or why there are none.
pub type ResolveFn = Arc<dyn Fn(&str) -> Result<Vec<IpAddr>, String> + Send + Sync>;

/// The system resolver (getaddrinfo through the standard library: `/etc/hosts`, then DNS).
pub fn system_resolver() -> ResolveFn {
    Arc::new(|name: &str| {
        let addrs: Vec<IpAddr> = (name, 0)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .map(|a| a.ip())
            .collect();
        let mut unique = Vec::with_capacity(addrs.len());
        for a in addrs {
            if !unique.contains(&a) {
                unique.push(a);
            }
        }
        Ok(unique)
    })
}

/// One finished lookup.
#[derive(Debug)]
pub struct Lookup {
    name: String,
    result: Result<Vec<IpAddr>, String>,
}

/// An initiation waiting for names.
pub(super) enum Deferred {
    /// `start_action`, ACQUIREs, restarts: [`Core::auto_initiate`].
    Auto {
        conn: String,
        children: Vec<String>,
        keyingtries: u32,
    },
    /// A `keyingtries` retry: [`Core::retry_auto`].
    Retry(SaMeta),
    /// VICI `initiate`, whose client waits.
    Vici {
        message: Message,
        responder: Responder,
    },
}

impl Deferred {
    fn conn(&self) -> Option<&str> {
        match self {
            Deferred::Auto { conn, .. } => Some(conn),
            Deferred::Retry(meta) => Some(&meta.name),
            Deferred::Vici { .. } => None,
        }
    }
}

/// The names' state: lookups under way, what they gave, and who waits.
pub struct Names {
    resolver: ResolveFn,
    tx: mpsc::UnboundedSender<Lookup>,
    rx: Option<mpsc::UnboundedReceiver<Lookup>>,
    in_flight: HashSet<String>,
    cache: HashMap<String, Vec<IpAddr>>,
    /// Initiations waiting for lookups of their connection's names (lower-cased).
    waiting: Vec<(Vec<String>, String, Deferred)>,
    /// Automatic initiations to try again, and when.
    retries: Vec<(Timestamp, Deferred)>,
    next_refresh: Option<Timestamp>,
    /// Set while a waiting initiation runs: it uses the fresh results instead of waiting again.
    resolved_now: bool,
}

impl Default for Names {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Names {
            resolver: system_resolver(),
            tx,
            rx: Some(rx),
            in_flight: HashSet::new(),
            cache: HashMap::new(),
            waiting: Vec::new(),
            retries: Vec::new(),
            next_refresh: None,
            resolved_now: false,
        }
    }
}

impl Names {
    /// The channel finished lookups arrive on (taken once, by the event loop).
    pub fn receiver(&mut self) -> Option<mpsc::UnboundedReceiver<Lookup>> {
        self.rx.take()
    }

    /// Replaces the resolver (tests).
    #[cfg(test)]
    pub fn set_resolver(&mut self, resolver: ResolveFn) {
        self.resolver = resolver;
    }

    /// Starts a lookup of each name not already being looked up.
    fn start(&mut self, names: &[String]) {
        for name in names {
            if !self.in_flight.insert(name.clone()) {
                continue;
            }
            let (resolver, tx, name) = (self.resolver.clone(), self.tx.clone(), name.clone());
            let Ok(handle) = tokio::runtime::Handle::try_current() else {
                let result = Err("no runtime to resolve on".to_string());
                let _ = tx.send(Lookup { name, result });
                continue;
            };
            handle.spawn(async move {
                let query = name.clone();
                let job = tokio::task::spawn_blocking(move || resolver(&query));
                let result = match tokio::time::timeout(LOOKUP_TIMEOUT, job).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(format!("resolver failed: {e}")),
                    Err(_) => Err(format!("no answer within {}s", LOOKUP_TIMEOUT.as_secs())),
                };
                let _ = tx.send(Lookup { name, result });
            });
        }
    }

    /// charon's `resolve`: the first entry of `list` that is an address or a name that
    /// resolved (to an address of `family`, when given). `Ok(None)` when the list has no such
    /// entry at all (`%any`, subnets), `Err` with the names tried when none resolved.
    pub fn first_addr(
        &self,
        list: &[AddrSpec],
        family_v4: Option<bool>,
    ) -> Result<Option<IpAddr>, String> {
        let fits = |a: &IpAddr| family_v4.is_none_or(|v4| a.is_ipv4() == v4);
        let mut tried = Vec::new();
        for entry in list {
            match entry {
                AddrSpec::Addr(ip) if !ip.is_unspecified() && fits(ip) => return Ok(Some(*ip)),
                AddrSpec::Fqdn(name) => {
                    let found = self.cache.get(&name.to_ascii_lowercase());
                    if let Some(ip) = found.and_then(|a| a.iter().find(|a| fits(a))) {
                        return Ok(Some(*ip));
                    }
                    tried.push(name.as_str());
                }
                _ => {}
            }
        }
        if tried.is_empty() {
            Ok(None)
        } else {
            Err(tried.join(", "))
        }
    }
}

/// The DNS names of a connection's `local_addrs` and `remote_addrs`, lower-cased.
pub fn names_of(conn: &iked_conf::Connection) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in conn.local_addrs.iter().chain(&conn.remote_addrs) {
        if let AddrSpec::Fqdn(n) = a {
            let n = n.to_ascii_lowercase();
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

impl Core {
    /// The channel finished lookups arrive on (taken once, by the event loop).
    pub fn names_receiver(&mut self) -> Option<mpsc::UnboundedReceiver<Lookup>> {
        self.names.receiver()
    }

    /// Resolves every name of the loaded connections again (after a load, and periodically).
    pub(super) fn refresh_names(&mut self) {
        let all: Vec<String> = self.conns.iter().flat_map(|c| names_of(&c.conn)).collect();
        self.names.next_refresh = None;
        self.names.start(&all);
        // Retries of connections that are gone are dropped.
        let loaded: HashSet<String> = self.conns.iter().map(|c| c.conn.name.clone()).collect();
        self.names
            .retries
            .retain(|(_, d)| d.conn().is_none_or(|c| loaded.contains(c)));
    }

    /// Holds `deferred` until the names of `conn` are resolved, if it has any (and they were
    /// not resolved for this very initiation); gives it back when it can go on now.
    pub(super) fn defer_for_names(&mut self, conn: &str, deferred: Deferred) -> Option<Deferred> {
        if self.names.resolved_now {
            return Some(deferred);
        }
        let names = self.find_conn(conn).map(names_of).unwrap_or_default();
        if names.is_empty() {
            return Some(deferred);
        }
        tracing::info!(target: "CFG", "resolving {} to initiate {conn}", names.join(", "));
        self.names.start(&names);
        self.names.waiting.push((names, conn.to_owned(), deferred));
        None
    }

    /// A lookup finished: the engine learns it, and the initiations it completes run.
    pub fn on_lookup(&mut self, now: Timestamp, lookup: Lookup) {
        let Lookup { name, result } = lookup;
        self.names.in_flight.remove(&name);
        let addrs = match result {
            Ok(a) if !a.is_empty() => {
                tracing::info!(target: "CFG", "resolved {name} to {a:?}");
                a
            }
            Ok(_) => {
                tracing::error!(target: "CFG", "unable to resolve {name}: no address");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(target: "CFG", "unable to resolve {name}: {e}");
                Vec::new()
            }
        };
        self.engine.set_resolved(&name, addrs.clone());
        self.names.cache.insert(name, addrs);
        self.names.next_refresh = Some(now.saturating_add(REFRESH_INTERVAL));
        let in_flight = &self.names.in_flight;
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.names.waiting)
            .into_iter()
            .partition(|(names, _, _)| names.iter().all(|n| !in_flight.contains(n)));
        self.names.waiting = wait;
        for (_, conn, deferred) in ready {
            self.run_resolved(now, &conn, deferred);
        }
        self.install_named_traps();
        self.sync_log_groups();
    }

    /// Installs the trap policies of connections whose peer is a DNS name once it resolved
    /// (at load it had not yet); charon's trap manager resolves when installing.
    fn install_named_traps(&mut self) {
        let mut wanted = Vec::new();
        for c in self.conns.iter().map(|c| &c.conn) {
            if names_of(c).is_empty() || self.names.first_addr(&c.remote_addrs, None).is_err() {
                continue;
            }
            for ch in c.children.iter().filter(|ch| ch.start_action.trap) {
                let installed = self
                    .traps
                    .iter()
                    .any(|t| t.connection == c.name && t.child == ch.name);
                if !installed && !ch.mode.is_shunt() {
                    wanted.push((c.name.clone(), ch.name.clone()));
                }
            }
        }
        for (conn, child) in wanted {
            match self.install_trap(&conn, &child) {
                Ok(()) => tracing::info!(target: "CFG", "installed trap policy {conn}/{child}"),
                Err(e) => {
                    tracing::error!(target: "CFG", "installing trap policy {conn}/{child} failed: {e}")
                }
            }
        }
    }

    /// Runs an initiation whose names were just resolved, or reports that they were not.
    fn run_resolved(&mut self, now: Timestamp, conn: &str, deferred: Deferred) {
        let remote = match self.find_conn(conn) {
            Some(c) => self.names.first_addr(&c.remote_addrs, None),
            None => Err(format!("connection '{conn}' is gone")),
        };
        if let Err(tried) = remote {
            let msg = format!("unable to resolve {tried}, initiate aborted");
            tracing::error!(target: "IKE", ike = conn, "{msg}");
            match deferred {
                Deferred::Vici { responder, .. } => responder.respond(error_response(msg)),
                auto => {
                    tracing::info!(target: "IKE", ike = conn, "retrying {conn} in {}s", RETRY_INTERVAL.as_secs());
                    self.names
                        .retries
                        .push((now.saturating_add(RETRY_INTERVAL), auto));
                }
            }
            return;
        }
        self.names.resolved_now = true;
        match deferred {
            Deferred::Auto {
                conn,
                children,
                keyingtries,
            } => {
                self.auto_initiate(now, &conn, children, keyingtries);
            }
            Deferred::Retry(meta) => self.retry_auto(now, Some(meta)),
            Deferred::Vici { message, responder } => self.initiate(now, &message, responder),
        }
        self.names.resolved_now = false;
    }

    /// When the names need attention next (a retry or the periodic refresh).
    pub(super) fn next_names_deadline(&self) -> Option<Timestamp> {
        self.names
            .retries
            .iter()
            .map(|(at, _)| *at)
            .chain(self.names.next_refresh)
            .min()
    }

    /// Runs the retries that are due, and the periodic refresh.
    pub(super) fn expire_names(&mut self, now: Timestamp) {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.names.retries)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.names.retries = keep;
        for (_, deferred) in due {
            let Some(conn) = deferred.conn().map(str::to_owned) else {
                continue;
            };
            if let Some(d) = self.defer_for_names(&conn, deferred) {
                // The names are gone from the connection: initiate as configured now.
                self.run_resolved(now, &conn, d);
            }
        }
        if self.names.next_refresh.is_some_and(|t| t <= now) {
            self.refresh_names();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(list: &str) -> Vec<AddrSpec> {
        list.split(',')
            .map(|s| iked_conf::addr::parse_addr(s.trim()).unwrap())
            .collect()
    }

    #[test]
    fn the_first_entry_that_resolves_is_the_peer() {
        let mut n = Names::default();
        let a: IpAddr = "192.0.2.9".parse().unwrap();
        let v6: IpAddr = "2001:db8::9".parse().unwrap();
        n.cache.insert("bad.example".into(), vec![]);
        n.cache.insert("good.example".into(), vec![v6, a]);
        assert_eq!(
            n.first_addr(&specs("bad.example, Good.Example, 10.0.0.1"), None),
            Ok(Some(v6))
        );
        assert_eq!(
            n.first_addr(&specs("good.example"), Some(true)),
            Ok(Some(a))
        );
        assert_eq!(
            n.first_addr(&specs("bad.example, 10.0.0.1"), None),
            Ok(Some("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            n.first_addr(&specs("bad.example, unknown.example"), None),
            Err("bad.example, unknown.example".into())
        );
        assert_eq!(n.first_addr(&specs("%any, 10.0.0.0/8"), None), Ok(None));
    }

    #[test]
    fn lookups_run_on_the_blocking_pool_once_per_name() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut n = Names::default();
            let mut rx = n.receiver().unwrap();
            n.set_resolver(Arc::new(|name: &str| match name {
                "peer.test" => Ok(vec!["192.0.2.1".parse().unwrap()]),
                _ => Err("unknown name".into()),
            }));
            n.start(&["peer.test".into(), "nowhere.test".into()]);
            // Started twice while under way: looked up once.
            n.start(&["peer.test".into()]);
            let mut got = [rx.recv().await.unwrap(), rx.recv().await.unwrap()];
            got.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(got[0].name, "nowhere.test");
            assert_eq!(got[0].result, Err("unknown name".into()));
            assert_eq!(got[1].result, Ok(vec!["192.0.2.1".parse().unwrap()]));
            assert!(rx.try_recv().is_err());
        });
    }

    #[test]
    fn localhost_resolves_through_the_system_resolver() {
        let r = system_resolver()("localhost").expect("localhost resolves");
        assert!(r.iter().all(|a| a.is_loopback()), "{r:?}");
        assert!(system_resolver()("name.invalid").is_err());
    }
}
