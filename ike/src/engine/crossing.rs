//! Crossing IKE SAs: both ends initiate the same connection at the same moment.
//!
//! NVIDIA's ovs-monitor-ipsec loads one connection per tunnel on both hosts with `start_action
//! = start` and `unique = replace`, and starts them together. Each host then initiates one IKE
//! SA and answers the other's, so two IKE SAs of the same connection run between the same two
//! hosts, in opposite roles ("crossing streams", as Libreswan calls them). charon's answer
//! (`check_uniqueness` when a responder SA is authenticated, and INITIAL_CONTACT) depends on
//! which SA happens to finish first on which host: both can be deleted, one can be dropped on
//! one side only (INITIAL_CONTACT destroys without a DELETE), or both stay.
//!
//! Contract (deterministic, the same on both ends, and compatible with a charon peer):
//! - An SA *crossed* another when the other became established after this one was created:
//!   INITIAL_CONTACT and `unique = replace|keep` never touch a crossing SA of the same
//!   connection and peer address in the opposite role (see [`Engine::is_crossing`]); they still
//!   apply to SAs that were established before the new one started (a peer that restarted).
//! - When an SA is established while a crossing partner is established too, a timer of
//!   [`GRACE`] starts. Of the two, the *redundant* one is the one holding the lowest of the four
//!   IKE SPIs (as RFC 7296 2.8.1 resolves simultaneous rekeys with the lowest nonce; the SPIs
//!   are just as random and both ends know all four without storing the nonces).
//! - The end that initiated the redundant SA deletes it when the timer fires; the other end
//!   only after a second [`GRACE`], if it is still there (a charon peer, which does not apply
//!   this rule). If the peer deletes either SA meanwhile (charon's `unique = replace`), the
//!   crossing is over and nothing else is deleted, so the two ends never delete both.
//! - Before deleting, the deleting end, when it initiated the survivor, moves the children the
//!   redundant SA carries or was still to create (configured name not present, queued or being
//!   created on the survivor) to the survivor as CREATE_CHILD_SA exchanges, so no requested
//!   child is lost. The end that only answered the survivor creates nothing there: the
//!   survivor's initiator does (its own children, and the daemon's `start` children again
//!   once the other SA is gone), so no child is created twice.
//!
//! Cost: the partners are found through the identity-pair index of `contact_index.rs` (O(1) per
//! SA).

use std::sync::Arc;
use std::time::Duration;

use super::core::{Engine, TimerKey};
use super::sa::{Active, ChildState, IkeSa, Task};
use super::{IkeSaId, LogGroup};
use crate::config::ChildConfig;
use crate::time::Timestamp;

/// How long both ends wait, once both crossing SAs are up, before the redundant one is deleted:
/// long enough for a charon peer's `unique = replace` DELETE (sent right after its IKE_AUTH
/// response) and for the survivor's initiator to create its queued children.
pub const GRACE: Duration = Duration::from_secs(2);

/// The SA (of two) holding the lowest of the four SPIs: the one to delete.
fn redundant(a: &IkeSa, b: &IkeSa) -> IkeSaId {
    if a.spi_i.min(a.spi_r) <= b.spi_i.min(b.spi_r) {
        a.id
    } else {
        b.id
    }
}

/// Names of the children an SA has, is creating, or still has to create.
fn child_names(sa: &IkeSa) -> Vec<Arc<ChildConfig>> {
    let mut out: Vec<Arc<ChildConfig>> = Vec::new();
    let mut add = |c: &Arc<ChildConfig>| {
        if !out.iter().any(|o| o.name == c.name) {
            out.push(c.clone());
        }
    };
    for c in &sa.children {
        if matches!(c.state, ChildState::Installing | ChildState::Installed) {
            add(&c.config);
        }
    }
    for c in &sa.queued_children {
        add(c);
    }
    for t in &sa.tasks {
        if let Task::CreateChild(c) = t {
            add(c);
        }
    }
    if let Some(o) = &sa.outstanding
        && let Active::CreateChild(nc) = &o.active
        && nc.rekey_of.is_none()
    {
        add(&nc.config);
    }
    if let Some(Active::CreateChild(nc)) = &sa.pending_send
        && nc.rekey_of.is_none()
    {
        add(&nc.config);
    }
    out
}

impl Engine {
    /// Records that `sa` is established; starts the grace timer if a crossing partner is up.
    pub(crate) fn note_established(&mut self, now: Timestamp, sa: &IkeSa) {
        self.crossings.note_up(sa.id, self.next_ike_id);
        if !self.crossing_partners(sa).is_empty() {
            engine_log!(
                self,
                Some(sa.id),
                LogGroup::Ike,
                "IKE_SA {} crossed another IKE_SA of the same connection and peer, resolving \
                 in {}s",
                sa.log_name(),
                GRACE.as_secs()
            );
            self.timers
                .schedule(TimerKey::Crossing(sa.id), now.saturating_add(GRACE));
        }
    }

    /// Whether `other` crossed `sa` (module docs): same connection and peer address, opposite
    /// roles, and `other` came up after `sa` was created (or is not up yet).
    pub(crate) fn is_crossing(&self, sa: &IkeSa, other: &IkeSa) -> bool {
        other.initiator != sa.initiator
            && other.config.name == sa.config.name
            && other.remote.ip() == sa.remote.ip()
            && self
                .crossings
                .up
                .get(&other.id)
                .is_none_or(|up| *up > sa.id.0)
    }

    /// Established SAs that cross `sa` (either came up while the other was being set up).
    fn crossing_partners(&self, sa: &IkeSa) -> Vec<IkeSaId> {
        let Some(remote) = sa.remote_id.as_ref() else {
            return Vec::new();
        };
        let key = self
            .contacts
            .key(&sa.local_id, remote, sa.remote.ip().is_ipv4());
        self.contacts
            .ids(key)
            .into_iter()
            .filter(|id| *id != sa.id)
            .filter(|id| {
                self.sas.get(id).is_some_and(|o| {
                    o.phase.is_established()
                        && !super::contacts::is_deleting(o)
                        && o.remote_id.as_ref() == Some(remote)
                        && (self.is_crossing(sa, o) || self.is_crossing(o, sa))
                })
            })
            .collect()
    }

    /// The grace timer of the crossing `id` took part in.
    pub(crate) fn on_crossing_timer(&mut self, now: Timestamp, id: IkeSaId) {
        let Some(sa) = self.sas.get(&id) else {
            return;
        };
        if !sa.phase.is_established() || super::contacts::is_deleting(sa) {
            return;
        }
        let second = self.crossings.second_round.remove(&id);
        for other in self.crossing_partners(sa) {
            let (Some(a), Some(b)) = (self.sas.get(&id), self.sas.get(&other)) else {
                continue;
            };
            let loser = redundant(a, b);
            let winner = if loser == id { other } else { id };
            let we_initiated_loser = self.sas.get(&loser).is_some_and(|s| s.initiator);
            if we_initiated_loser || second {
                self.resolve_crossing(now, loser, winner);
                return;
            }
            // The peer initiated the redundant SA and deletes it itself if it follows this
            // rule; a peer that does not (charon) leaves it to us after one more grace.
            self.crossings.second_round.insert(id);
            self.timers
                .schedule(TimerKey::Crossing(id), now.saturating_add(GRACE));
            return;
        }
    }

    /// Moves the redundant SA's children to the survivor and deletes the redundant SA.
    fn resolve_crossing(&mut self, now: Timestamp, loser: IkeSaId, winner: IkeSaId) {
        let (Some(l), Some(w)) = (self.sas.get(&loser), self.sas.get(&winner)) else {
            return;
        };
        let present: Vec<String> = child_names(w).iter().map(|c| c.name.clone()).collect();
        // Only onto a survivor we initiated: the peer creates children on its own, and two
        // ends creating the same child at once would make two of it.
        let moved: Vec<Arc<ChildConfig>> = if w.initiator {
            child_names(l)
                .into_iter()
                .filter(|c| !present.contains(&c.name))
                .collect()
        } else {
            Vec::new()
        };
        let (lname, wname) = (l.log_name(), w.log_name());
        engine_log!(
            self,
            Some(loser),
            LogGroup::Ike,
            "deleting IKE_SA {lname} crossed by {wname} (lowest SPI), {} CHILD_SA(s) moved to it",
            moved.len()
        );
        if let Some(w) = self.sas.get_mut(&winner) {
            for c in moved {
                w.tasks.push_back(Task::CreateChild(c));
            }
        }
        self.kick(now, winner);
        let _ = self.terminate_ike(now, loser);
    }
}
