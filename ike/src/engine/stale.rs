//! IKE SAs whose connection was unloaded, or replaced by a changed definition, by a reload.
//!
//! Contract: [`Engine::stale_sas`] lists every IKE SA (not already being deleted, and not one
//! the peer is still setting up) whose
//! connection name is no longer loaded, or whose loaded definition differs from the one the SA
//! was set up with, together with its children. The daemon then does what charon's VICI
//! config backend does on `unload-conn` or a changed `load-conn` (`clear_start_actions`):
//! close the CHILD_SAs that `start_action = start` created, and the IKE SA with them when no
//! other child is left, so that a changed PSK or proposal never leaves the old SAs up.

use super::{ChildSaId, IkeSaId};

/// One IKE SA left behind by a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleSa {
    /// The IKE SA.
    pub id: IkeSaId,
    /// Its connection name.
    pub name: String,
    /// Its CHILD_SAs (id, configured name).
    pub children: Vec<(ChildSaId, String)>,
}

impl super::Engine {
    /// The IKE SAs a reload left without their connection (module docs).
    pub fn stale_sas(&self) -> Vec<StaleSa> {
        let mut out: Vec<StaleSa> = self
            .sas
            .values()
            .filter(|sa| !super::contacts::is_deleting(sa))
            // A half-open SA the peer started is left to finish or fail on its own (its
            // IKE_AUTH then finds the new configuration): dropping it silently would leave
            // the peer retransmitting into nothing.
            .filter(|sa| sa.initiator || sa.phase.is_established())
            .filter(|sa| {
                !self
                    .connections
                    .iter()
                    .any(|c| c.name == sa.config.name && **c == *sa.config)
            })
            .map(|sa| StaleSa {
                id: sa.id,
                name: sa.config.name.clone(),
                children: sa
                    .children
                    .iter()
                    .map(|c| (c.id, c.config.name.clone()))
                    .collect(),
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }
}
