//! Kernel ACQUIREs for trap policies, and which of them are still being acted on.
//!
//! Contract (charon's trap manager): an ACQUIRE for a trap starts (or queues) its CHILD_SA
//! once and remembers the IKE SA that carries it; further ACQUIREs for the same trap are
//! ignored while that attempt is pending. The attempt ends, and the next ACQUIRE is honoured
//! again, when the child comes up or fails, or when its IKE SA goes away for any reason
//! (deleted mid-IKE_AUTH by `stroke down-nb`, the peer's DELETE, a failure). An attempt whose
//! IKE SA the engine no longer holds counts as ended too, so no missed event can leave a trap
//! deaf for good.

use std::collections::HashMap;

use iked_ike::engine::{IkeSaId, KernelEvent, Timestamp};

use super::Core;

/// Pending acquires: trap reqid -> the IKE SA negotiating its child.
#[derive(Debug, Default)]
pub struct Acquires {
    pending: HashMap<u32, IkeSaId>,
}

impl Acquires {
    /// The IKE SA still negotiating `reqid`'s child, if any (`alive`: the engine holds it).
    pub fn pending(&self, reqid: u32, alive: impl Fn(IkeSaId) -> bool) -> Option<IkeSaId> {
        self.pending.get(&reqid).copied().filter(|ike| alive(*ike))
    }

    pub fn start(&mut self, reqid: u32, ike: IkeSaId) {
        self.pending.insert(reqid, ike);
    }

    /// The attempt for `reqid` ended (its child is up or failed).
    pub fn done(&mut self, reqid: u32) {
        self.pending.remove(&reqid);
    }

    /// `ike` is gone: every attempt it carried ended.
    pub fn ike_gone(&mut self, ike: IkeSaId) {
        self.pending.retain(|_, i| *i != ike);
    }

    /// `old` was rekeyed into `new`: the attempts it carried move along.
    pub fn moved(&mut self, old: IkeSaId, new: IkeSaId) {
        for ike in self.pending.values_mut() {
            if *ike == old {
                *ike = new;
            }
        }
    }
}

impl Core {
    /// An ACQUIRE for trap `reqid` (ours; others go to the engine).
    pub(super) fn on_acquire(&mut self, now: Timestamp, reqid: u32) {
        let Some(trap) = self.traps.iter().find(|t| t.reqid == reqid).cloned() else {
            self.engine
                .handle_kernel(now, KernelEvent::Acquire { reqid });
            return;
        };
        let engine = &self.engine;
        if let Some(ike) = self
            .acquires
            .pending(reqid, |ike| engine.ike_sa(ike).is_some())
        {
            tracing::debug!(target: "KNL", "ignoring acquire for reqid {reqid}: connection attempt pending in IKE SA {}", ike.0);
            return;
        }
        let sas = self.engine.ike_sas();
        let installed = sas.iter().any(|sa| {
            sa.name == trap.connection
                && sa
                    .children
                    .iter()
                    .any(|c| c.name == trap.child && c.installed)
        });
        if installed {
            tracing::debug!(target: "KNL", "ignoring acquire for reqid {reqid}: {}/{} is installed", trap.connection, trap.child);
            return;
        }
        // As charon (`checkout_by_config` with `reuse_ikesa`): the child is created in the
        // connection's IKE SA that is up or being set up by us and not being deleted
        // (CREATE_CHILD_SA), not in a new one the peer's `unique` would replace the first by;
        // only without one is a new IKE SA initiated (`Engine::start_children`).
        tracing::info!(target: "KNL", "acquire for reqid {reqid}: initiating {}/{}", trap.connection, trap.child);
        let tries = self
            .find_conn(&trap.connection)
            .map(|c| c.keyingtries)
            .unwrap_or(1);
        let started = self.auto_initiate(now, &trap.connection, vec![trap.child.clone()], tries);
        if let Some(ike) = started {
            self.acquires.start(reqid, ike);
        }
    }

    /// The child `name` of IKE SA `ike` came up or failed: the acquires for its traps ended.
    pub(super) fn acquire_done(&mut self, ike: IkeSaId, name: &str) {
        let Some(conn) = self
            .sa_name(ike)
            .or_else(|| self.engine.ike_sa(ike).map(|sa| sa.name))
        else {
            return;
        };
        let reqids: Vec<u32> = self
            .traps
            .iter()
            .filter(|t| t.connection == conn && t.child == name)
            .map(|t| t.reqid)
            .collect();
        for reqid in reqids {
            self.acquires.done(reqid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_ends_with_its_ike_sa_or_when_the_sa_is_gone() {
        let mut a = Acquires::default();
        a.start(7, IkeSaId(1));
        a.start(8, IkeSaId(2));
        assert_eq!(a.pending(7, |_| true), Some(IkeSaId(1)));
        // The engine dropped SA 1 without an event reaching us: not pending.
        assert_eq!(a.pending(7, |ike| ike != IkeSaId(1)), None);
        a.ike_gone(IkeSaId(1));
        assert_eq!(a.pending(7, |_| true), None);
        a.moved(IkeSaId(2), IkeSaId(3));
        assert_eq!(a.pending(8, |_| true), Some(IkeSaId(3)));
        a.done(8);
        assert_eq!(a.pending(8, |_| true), None);
    }
}
