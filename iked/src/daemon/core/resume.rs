//! Hitless restart inside the core: resuming what an earlier iked handed over, and taking the
//! snapshot this one hands over.
//!
//! Contract: [`Core::resume_handed_over`] runs once, at the first configuration load, after the
//! connections reached the engine and before `start_action`s run (so a resumed child is not
//! initiated again). The engine resumes the saved IKE SAs whose connections are loaded; the
//! kernel backend adopts their children's SAs and policies (out of the stale sweep). Every
//! refusal is logged with its reason and ends in clean recovery: a refused file resumes
//! nothing (leftovers swept, peers re-established with INITIAL_CONTACT), a child the kernel
//! no longer has is deleted with the peer. No key material reaches the log. The daemon's own
//! state (unique marks, trap reqids: `handover_state`) is restored first, so that adopted
//! children and reinstalled traps get the values they had.

use iked_ike::engine::{Snapshot, Timestamp};

use super::Core;
use crate::daemon::handover_state::DaemonState;

impl Core {
    /// Resumes the handed-over state, if any (module contract).
    pub(super) fn resume_handed_over(&mut self, now: Timestamp) {
        let Some(state) = self.handed_over.take() else {
            return;
        };
        self.resume_daemon_state(&state.daemon);
        let restored = match self.engine.restore(now, &state.engine) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(target: "DMN", "hand-over state refused: {e}; falling back to clean recovery (stale SAs swept, tunnels re-established)");
                return;
            }
        };
        for (conn, why) in &restored.skipped {
            tracing::warn!(target: "DMN", "hand-over: IKE_SA of '{conn}' not resumed: {why}");
        }
        let failed = self.kernel.adopt(state.reqid_offset, &restored.children);
        for (child, why) in &failed {
            tracing::error!(target: "KNL", "hand-over: CHILD_SA {{{}}} not adopted: {why}; deleting it", child.0);
            if let Err(e) = self.engine.terminate_child(now, *child) {
                tracing::warn!(target: "KNL", "deleting CHILD_SA {{{}}} failed: {e}", child.0);
            }
        }
        tracing::info!(
            target: "DMN",
            "hand-over: resumed {} IKE_SA(s) with {} CHILD_SA(s) from the earlier iked",
            restored.ike.len(),
            restored.children.len() - failed.len()
        );
    }

    /// The unique marks and trap reqids of the earlier iked, before anything is adopted or
    /// installed (`handover_state`); a refused state is logged and costs only those.
    fn resume_daemon_state(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return; // a version-1 file
        }
        let state = match DaemonState::decode(bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(target: "DMN", "hand-over: {e}; unique marks and trap reqids start afresh");
                return;
            }
        };
        if let Some(marks) = self.kernel.mark_allocator() {
            *marks = state.marks;
        }
        self.next_trap_reqid = self.next_trap_reqid.max(state.next_trap_reqid);
        self.handed_traps = state
            .traps
            .into_iter()
            .map(|(conn, child, reqid)| ((conn, child), reqid))
            .collect();
    }

    /// The engine's snapshot, the kernel reqid space and the daemon's state
    /// (`handover_state`), for the next iked.
    pub fn hand_over_snapshot(&mut self, now: Timestamp) -> (Snapshot, u32, Vec<u8>) {
        let state = DaemonState {
            marks: self.kernel.mark_allocator().cloned().unwrap_or_default(),
            next_trap_reqid: self.next_trap_reqid,
            traps: self
                .traps
                .iter()
                .map(|t| (t.connection.clone(), t.child.clone(), t.reqid))
                .collect(),
        };
        (
            self.engine.snapshot(now),
            self.kernel.reqid_offset(),
            state.encode(),
        )
    }
}
