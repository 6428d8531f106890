//! Which established IKE SAs may have crossed which ([`Crossings`]): the bookkeeping that
//! `crossing.rs` reads to resolve crossing IKE SAs. Data only, held by the engine.

use std::collections::{HashMap, HashSet};

use super::IkeSaId;

/// Bookkeeping of when SAs became established (in SA-creation order) and which crossings are
/// in their second grace period.
#[derive(Default)]
pub(crate) struct Crossings {
    /// For each established SA: the id the next SA created after it came up would get.
    pub(super) up: HashMap<IkeSaId, u32>,
    /// Crossings whose first timer fired with us as the redundant SA's responder.
    pub(super) second_round: HashSet<IkeSaId>,
}

impl Crossings {
    /// `id` is authenticated (set up, or created by a rekey); `next` is the id the next SA
    /// created will get.
    pub fn note_up(&mut self, id: IkeSaId, next: u32) {
        self.up.entry(id).or_insert(next);
    }

    pub fn forget(&mut self, id: IkeSaId) {
        self.up.remove(&id);
        self.second_round.remove(&id);
    }
}
