//! Clean recovery after a crash: what an earlier iked left in the kernel goes, in bounded time.
//!
//! Contract:
//! - At start the XFRM backend dumps SAs and policies and keeps the ones in iked's reqid range
//!   (`iked_xfrm::stale`, which explains the mark) as [`Leftovers`]. Nothing outside the range
//!   (the operator's hand-made SAs and policies, another daemon's, IKE bypass policies) is ever
//!   listed, so never removed.
//! - The leftovers keep working meanwhile: the peer may still send over the old SAs while the
//!   tunnel is being re-established (INITIAL_CONTACT makes it drop them), and a policy a new
//!   CHILD_SA installs with the same selectors is taken over (XFRM_MSG_UPDPOLICY) and so
//!   re-established.
//! - [`Sweep::grace`] after start (`--stale-grace`, default [`DEFAULT_GRACE`]; `--flush-stale`
//!   or 0 s: at once) every leftover SA is deleted, and every leftover policy this instance has
//!   not taken over. A leftover already gone is no error. The count is logged.
//! - The timer is a thread that only raises a flag and wakes the event loop: the deletes run on
//!   the loop's own netlink client, between installs, so a policy being taken over is never
//!   deleted under it.
//! - [`owners`] names the loaded connections and children the leftover policies belong to, so
//!   the daemon re-initiates them at start (with INITIAL_CONTACT: a peer that kept the old IKE
//!   SA, like charon as responder, destroys it and its children when the new IKE_AUTH
//!   arrives). A policy belongs to a child when its selector's addresses, protocol and ports
//!   lie in the child's traffic selectors (`dynamic` resolved as for trap policies: the
//!   connection's addresses); only connections with a concrete remote address qualify.
//!   Leftovers matching no connection are only swept.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use iked_xfrm::stale::{Leftovers, find_leftovers};
use iked_xfrm::{PolicyDirection, PolicyId, XfrmClient};

/// How long leftovers are kept by default: long enough for a peer to answer an IKE_SA_INIT
/// and IKE_AUTH under retransmission (charon's first three retransmits take 4+7+13 s) and so
/// for the new children to take the policies over, short enough for "no stale state" soon.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// When leftovers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryOptions {
    /// Delay after start (zero: at once).
    pub grace: Duration,
}

impl Default for RecoveryOptions {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
        }
    }
}

/// Dumps the kernel's SAs and policies and returns the previous instance's.
pub fn scan(client: &mut XfrmClient) -> Result<Leftovers, String> {
    let sas = client.list_sas().map_err(|e| format!("dumping SAs: {e}"))?;
    let policies = client
        .list_policies()
        .map_err(|e| format!("dumping policies: {e}"))?;
    Ok(find_leftovers(&sas, &policies))
}

/// A loaded connection some leftovers belong to, and the children they name (config order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub connection: String,
    pub children: Vec<String>,
}

/// The connections and children `policies` (an earlier instance's) belong to, in
/// configuration order; connections that cannot initiate (no concrete remote address) are
/// left out.
pub fn owners(policies: &[PolicyId], conns: &[&iked_conf::Connection]) -> Vec<Owner> {
    let mut out = Vec::new();
    for conn in conns {
        let children: Vec<String> = conn
            .children
            .iter()
            .filter(|child| {
                // The trap builder resolves `dynamic` and `%any` as an initiation would, and
                // fails exactly when the connection has no concrete remote address.
                let Ok(wanted) = super::traps::build(conn, &child.name, 0) else {
                    return false;
                };
                policies.iter().any(|p| belongs(p, &wanted))
            })
            .map(|child| child.name.clone())
            .collect();
        if !children.is_empty() {
            out.push(Owner {
                connection: conn.name.clone(),
                children,
            });
        }
    }
    out
}

/// Whether leftover policy `p` is one the child `wanted` describes would install.
fn belongs(p: &PolicyId, wanted: &super::kernel_types::TrapPolicy) -> bool {
    let sel = &p.selector;
    // OUT: local -> remote; IN and FWD: remote -> local.
    let (src_ts, dst_ts) = match p.direction {
        PolicyDirection::Out => (&wanted.local_ts, &wanted.remote_ts),
        PolicyDirection::In | PolicyDirection::Fwd => (&wanted.remote_ts, &wanted.local_ts),
    };
    let fits = |ts: &iked_ike::ts::TrafficSelector, addr, port: iked_xfrm::Port| {
        ts.contains_addr(addr)
            && (ts.protocol == 0 || ts.protocol == sel.proto)
            && (port.mask == 0 || (ts.start_port..=ts.end_port).contains(&port.value))
    };
    src_ts.iter().any(|ts| fits(ts, sel.src, sel.sport))
        && dst_ts.iter().any(|ts| fits(ts, sel.dst, sel.dport))
}

/// Leftovers waiting for their deadline.
pub struct Sweep {
    leftovers: Leftovers,
    due: Arc<AtomicBool>,
    grace: Duration,
}

impl Sweep {
    /// Starts the timer for `leftovers`; `wake` makes the event loop call [`Sweep::run_if_due`].
    pub fn start(
        leftovers: Leftovers,
        options: RecoveryOptions,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<Self, String> {
        let due = Arc::new(AtomicBool::new(options.grace.is_zero()));
        if !options.grace.is_zero() {
            let flag = due.clone();
            let grace = options.grace;
            std::thread::Builder::new()
                .name("stale-sweep".into())
                .spawn(move || {
                    std::thread::sleep(grace);
                    flag.store(true, Ordering::Release);
                    wake.notify_one();
                })
                .map_err(|e| format!("starting the stale-state timer: {e}"))?;
        }
        Ok(Self {
            leftovers,
            due,
            grace: options.grace,
        })
    }

    /// What it will remove.
    pub fn leftovers(&self) -> &Leftovers {
        &self.leftovers
    }

    /// Keeps `sas` (adopted by a hitless restart) out of the sweep; policies are kept by
    /// being owned by the client (see [`Sweep::run`]).
    pub fn keep(&mut self, sas: &[iked_xfrm::SaId]) {
        self.leftovers
            .sas
            .retain(|l| !sas.iter().any(|k| k.dst == l.dst && k.spi == l.spi));
    }

    /// The delay this sweep waits.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Whether the deadline has passed.
    pub fn is_due(&self) -> bool {
        self.due.load(Ordering::Acquire)
    }

    /// Deletes the leftovers not re-established (see the module contract); returns how many
    /// SAs and policies were removed.
    pub fn run(self, client: &mut XfrmClient) -> (usize, usize) {
        let mut removed = (0, 0);
        for id in &self.leftovers.sas {
            match client.delete_sa(id) {
                Ok(()) => removed.0 += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    tracing::warn!(target: "KNL", "removing stale SA {:08x} to {} failed: {e}", id.spi.0, id.dst)
                }
            }
        }
        for id in &self.leftovers.policies {
            if client.owns_policy(id) {
                continue; // re-established: a new CHILD_SA took it over
            }
            match client.delete_policy(id) {
                Ok(()) => removed.1 += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    tracing::warn!(target: "KNL", "removing stale policy {:?} {} failed: {e}", id.selector, id.direction)
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iked_xfrm::{Port, TrafficSelector};

    const CONF: &str = "connections {
      known { local_addrs = 10.0.0.1
        remote_addrs = 10.0.0.2
        local { auth = psk }
        remote { auth = psk }
        children {
          a { mode = transport
            local_ts = dynamic[udp]
            remote_ts = dynamic[udp/4789] }
          b { local_ts = 10.1.0.0/16
            remote_ts = 10.2.0.0/16 }
          c { local_ts = 10.3.0.0/16
            remote_ts = 10.4.0.0/16 } } }
      roaming { local_addrs = 10.0.0.1
        remote_addrs = %any
        local { auth = psk }
        remote { auth = psk }
        children { r { local_ts = 10.5.0.0/16
            remote_ts = 10.6.0.0/16 } } } }";

    fn policy(src: &str, dst: &str, direction: PolicyDirection, dport: u16) -> PolicyId {
        let mut selector =
            TrafficSelector::host_to_host(src.parse().unwrap(), dst.parse().unwrap());
        if dport != 0 {
            selector.proto = 17;
            selector.dport = Port {
                value: dport,
                mask: 0xffff,
            };
        }
        PolicyId {
            selector,
            direction,
            mark: None,
            if_id: None,
        }
    }

    fn owners_of(policies: &[PolicyId]) -> Vec<Owner> {
        let config = iked_conf::load_str("t", CONF).unwrap().config;
        let conns: Vec<_> = config.connections.iter().collect();
        owners(policies, &conns)
    }

    #[test]
    fn leftovers_name_the_children_whose_selectors_they_carry() {
        let found = owners_of(&[
            // Child a (transport, dynamic): OUT to the peer's VXLAN port, and its IN twin.
            policy("10.0.0.1", "10.0.0.2", PolicyDirection::Out, 4789),
            policy("10.0.0.2", "10.0.0.1", PolicyDirection::In, 0),
            // Child c's FWD policy only (a narrowed subnet).
            policy("10.4.1.0", "10.3.2.0", PolicyDirection::Fwd, 0),
        ]);
        assert_eq!(
            found,
            [Owner {
                connection: "known".into(),
                children: vec!["a".into(), "c".into()],
            }]
        );
    }

    #[test]
    fn unknown_selectors_and_connections_that_cannot_initiate_name_nothing() {
        assert!(
            owners_of(&[
                policy("10.8.0.1", "10.8.0.2", PolicyDirection::Out, 0),
                // Child a's addresses, but the wrong port and the wrong direction.
                policy("10.0.0.1", "10.0.0.2", PolicyDirection::Out, 53),
                policy("10.0.0.1", "10.0.0.2", PolicyDirection::In, 0),
                // The roaming connection's child: no concrete remote address.
                policy("10.5.0.1", "10.6.0.1", PolicyDirection::Out, 0),
            ])
            .is_empty()
        );
    }
}
