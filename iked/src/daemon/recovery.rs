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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use iked_xfrm::XfrmClient;
use iked_xfrm::stale::{Leftovers, find_leftovers};

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
