//! Hitless restart inside the core: resuming what an earlier iked handed over, and taking the
//! snapshot this one hands over.
//!
//! Contract: [`Core::resume_handed_over`] runs once, at the first configuration load, after the
//! connections reached the engine and before `start_action`s run (so a resumed child is not
//! initiated again). The engine resumes the saved IKE SAs whose connections are loaded; the
//! kernel backend adopts their children's SAs and policies (out of the stale sweep). Every
//! refusal is logged with its reason and ends in clean recovery: a refused file resumes
//! nothing (leftovers swept, peers re-established with INITIAL_CONTACT), a child the kernel
//! no longer has is deleted with the peer. No key material reaches the log.

use iked_ike::engine::{Snapshot, Timestamp};

use super::Core;

impl Core {
    /// Resumes the handed-over state, if any (module contract).
    pub(super) fn resume_handed_over(&mut self, now: Timestamp) {
        let Some(state) = self.handed_over.take() else {
            return;
        };
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

    /// The engine's snapshot and the kernel reqid space, for the next iked.
    pub fn hand_over_snapshot(&self, now: Timestamp) -> (Snapshot, u32) {
        (self.engine.snapshot(now), self.kernel.reqid_offset())
    }
}
