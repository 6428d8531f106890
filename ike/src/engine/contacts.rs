//! Authenticated IKE SAs by identity pair: what INITIAL_CONTACT and `unique` look up.
//!
//! Contract: an IKE SA is in the index from the moment it is authenticated (either role, or
//! created by an IKE SA rekey, which gives it a new [`IkeSaId`]) until it is destroyed, keyed
//! by (our identity, the peer's identity, the peer's address family) as charon's
//! `ike_sa_manager` keys its "connected peers" table. Every lookup and update costs O(1) in the
//! number of SAs held (plus the SAs of the one identity pair concerned, which INITIAL_CONTACT
//! and `unique` then remove anyway), so a responder holding 100,000 SAs handles the next
//! INITIAL_CONTACT as fast as the first.
//!
//! Semantics (charon's `check_uniqueness`, `has_contact`, and `ike_auth.c`):
//! - as responder, after the peer authenticated, with INITIAL_CONTACT in the IKE_AUTH request
//!   (message ID 1) and `unique` other than `never`: every other SA of the identity pair and
//!   address family is destroyed at once, without a DELETE (the peer says it lost them), whatever
//!   their connection or state;
//! - otherwise, `unique = replace`: the other established SAs of the pair under an equal
//!   connection are deleted (INFORMATIONAL with a Delete), the new one is kept;
//!   `unique = keep`: if such an SA exists the new one is refused (AUTHENTICATION_FAILED) and,
//!   of the existing ones, only the oldest is kept; `no` and `never`: nothing;
//! - as initiator, INITIAL_CONTACT goes into the first IKE_AUTH request when the connection
//!   names the peer's identity without wildcards, `unique` is not `never`, no SA of the pair is
//!   in the index, and no other SA of ours is waiting for the answer to its IKE_AUTH request
//!   for the same pair. That last condition goes beyond charon, which indexes an SA only once
//!   established: two connections to one peer under the same identities (upstream OVS's GRE
//!   and VXLAN tunnels between two hosts) set up at once would otherwise both send
//!   INITIAL_CONTACT, and the second would make the peer destroy the first right after
//!   authenticating it (RFC 7296 §2.4: the notification asserts that this is the only IKE SA
//!   between the identities, which it is not).
//! - Neither INITIAL_CONTACT nor `unique` touches an SA that crossed the new one (both ends
//!   initiated the connection at once; `crossing.rs` resolves those the same way on both ends).

use super::core::{Engine, Fate};
use super::sa::{Active, IkeSa, Outstanding, Task};
use super::{DownReason, IkeSaId, LogGroup};
use crate::config::{Identity, UniquePolicy};
use crate::time::Timestamp;

/// Whether an identity is a pattern rather than one peer (`*` in a DN value, `*.example.com`,
/// `*@example.com`): charon sends no INITIAL_CONTACT to a peer it cannot name.
fn has_wildcards(id: &Identity) -> bool {
    id.to_string().contains('*')
}

impl Engine {
    /// The index key of an authenticated SA (`None` before the peer's identity is known).
    fn contact_key(&self, sa: &IkeSa) -> Option<u64> {
        let remote = sa.remote_id.as_ref()?;
        Some(
            self.contacts
                .key(&sa.local_id, remote, sa.remote.ip().is_ipv4()),
        )
    }

    /// The key of the identity pair an initiator SA asks for (its connection's remote `id`),
    /// under which it is pending while its IKE_AUTH request is out.
    fn pending_key(&self, sa: &IkeSa) -> Option<u64> {
        if !sa.initiator {
            return None;
        }
        let remote = sa.config.remote.id.as_ref()?;
        Some(
            self.contacts
                .key(&sa.local_id, remote, sa.remote.ip().is_ipv4()),
        )
    }

    /// Our IKE_AUTH request for `sa` is going out (see [`Contacts::add_pending`]).
    pub(crate) fn note_auth_pending(&mut self, sa: &IkeSa) {
        if let Some(key) = self.pending_key(sa) {
            self.contacts.add_pending(key, sa.id);
        }
    }

    /// Puts an authenticated SA into the index (see the module docs).
    pub(crate) fn index_contact(&mut self, sa: &IkeSa) {
        if let Some(key) = self.pending_key(sa) {
            self.contacts.remove_pending(key, sa.id);
        }
        if let Some(key) = self.contact_key(sa) {
            self.contacts.insert(key, sa.id);
        }
        self.crossings.note_up(sa.id, self.next_ike_id);
    }

    /// Takes an SA out of the index; every path that destroys an SA comes through here.
    pub(crate) fn unindex_contact(&mut self, sa: &IkeSa) {
        if let Some(key) = self.pending_key(sa) {
            self.contacts.remove_pending(key, sa.id);
        }
        if let Some(key) = self.contact_key(sa) {
            self.contacts.remove(key, sa.id);
        }
        self.crossings.forget(sa.id);
    }

    /// Whether `other` is an SA of exactly this identity pair and family (not just its hash).
    fn same_pair(other: &IkeSa, local: &Identity, remote: &Identity, ipv4: bool) -> bool {
        other.local_id == *local
            && other.remote_id.as_ref() == Some(remote)
            && other.remote.ip().is_ipv4() == ipv4
    }

    /// charon's `has_contact`: some SA of this identity pair and family exists (the SA being
    /// handled, taken out of the table, is never among them).
    pub(crate) fn has_contact(&self, local: &Identity, remote: &Identity, ipv4: bool) -> bool {
        let key = self.contacts.key(local, remote, ipv4);
        self.contacts.any(key, |id| {
            self.sas
                .get(&id)
                .is_some_and(|o| Self::same_pair(o, local, remote, ipv4))
        })
    }

    /// Whether our first IKE_AUTH request for `sa` carries INITIAL_CONTACT (module docs).
    pub(crate) fn wants_initial_contact(&self, sa: &IkeSa) -> bool {
        let Some(remote) = &sa.config.remote.id else {
            return false;
        };
        let ipv4 = sa.remote.ip().is_ipv4();
        sa.config.unique != UniquePolicy::Never
            && !has_wildcards(remote)
            && !self.has_contact(&sa.local_id, remote, ipv4)
            && !self
                .contacts
                .other_pending(self.contacts.key(&sa.local_id, remote, ipv4), sa.id)
    }

    /// Number of SAs in the INITIAL_CONTACT/`unique` index: every authenticated SA not yet
    /// destroyed (including one replaced by a rekey that waits for its delete).
    pub fn contact_index_len(&self) -> usize {
        self.contacts.len()
    }

    /// charon's `check_uniqueness` for a responder SA whose peer just authenticated
    /// (`sa.local_id`/`sa.remote_id` set, `sa` itself not yet indexed). Returns whether the
    /// new SA must be refused (`unique = keep`).
    pub(crate) fn check_uniqueness(
        &mut self,
        now: Timestamp,
        sa: &IkeSa,
        initial_contact: bool,
    ) -> bool {
        let mut policy = sa.config.unique;
        if policy == UniquePolicy::Never || (policy == UniquePolicy::No && !initial_contact) {
            return false;
        }
        let Some(remote) = sa.remote_id.clone() else {
            return false;
        };
        let ipv4 = sa.remote.ip().is_ipv4();
        let key = self.contacts.key(&sa.local_id, &remote, ipv4);
        let duplicates: Vec<IkeSaId> = self
            .contacts
            .ids(key)
            .into_iter()
            .filter(|id| {
                *id != sa.id
                    && self.sas.get(id).is_some_and(|o| {
                        Self::same_pair(o, &sa.local_id, &remote, ipv4)
                            // Left to the crossing rule (crossing.rs), which both ends apply
                            // alike, rather than to whichever end finishes first.
                            && !self.is_crossing(sa, o)
                    })
            })
            .collect();
        if initial_contact {
            for id in duplicates {
                if let Some(old) = self.sas.remove(&id) {
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Ike,
                        "destroying duplicate IKE_SA {} for peer '{remote}', received \
                         INITIAL_CONTACT",
                        old.log_name()
                    );
                    self.destroy(old, DownReason::Replaced);
                }
            }
            return false;
        }
        let mut cancel = false;
        for id in duplicates {
            let Some(o) = self.sas.get(&id) else {
                continue;
            };
            // charon: only duplicates of an equal connection, established or rekeying (not
            // one being deleted or already replaced by a rekey).
            let same_conn = std::sync::Arc::ptr_eq(&o.config, &sa.config) || o.config == sa.config;
            if !same_conn || !o.phase.is_established() || is_deleting(o) {
                continue;
            }
            match policy {
                UniquePolicy::Replace => {
                    engine_log!(
                        self,
                        Some(sa.id),
                        LogGroup::Ike,
                        "deleting duplicate IKE_SA {} for peer '{remote}' due to uniqueness \
                         policy",
                        o.log_name()
                    );
                    let _ = self.terminate_ike(now, id);
                }
                UniquePolicy::Keep => {
                    // The oldest stays; any younger duplicate is replaced, as in charon.
                    cancel = true;
                    policy = UniquePolicy::Replace;
                }
                UniquePolicy::No | UniquePolicy::Never => {}
            }
        }
        cancel
    }

    /// Refuses a responder SA under `unique = keep` (charon: AUTHENTICATION_FAILED in the
    /// IKE_AUTH response, the SA is not established).
    pub(crate) fn refuse_duplicate(&mut self, sa: &mut IkeSa, mid: u32) -> Fate {
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "cancelling IKE_SA setup due to uniqueness policy"
        );
        self.send_response(
            sa,
            mid,
            crate::wire::ExchangeType::IKE_AUTH,
            vec![crate::message::Payload::Notify(
                crate::message::Notify::new(crate::wire::NotifyType::AUTHENTICATION_FAILED, vec![]),
            )],
        );
        let reason = "cancelled due to uniqueness policy".to_owned();
        self.event(super::Event::IkeFailed {
            sa: sa.id,
            name: sa.config.name.clone(),
            reason: reason.clone(),
            peer_silent: false,
        });
        Fate::Destroy(DownReason::Failed(reason))
    }
}

/// An SA whose delete is under way or queued (charon's IKE_DELETING).
pub(crate) fn is_deleting(sa: &IkeSa) -> bool {
    matches!(
        sa.outstanding,
        Some(Outstanding {
            active: Active::DeleteIke,
            ..
        })
    ) || sa.tasks.iter().any(|t| matches!(t, Task::DeleteIke))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_identities_are_recognised() {
        assert!(has_wildcards(&Identity::from_text("*.example.com")));
        assert!(has_wildcards(&Identity::from_text("CN=*, O=x")));
        assert!(!has_wildcards(&Identity::from_text("host1")));
        assert!(!has_wildcards(&Identity::from_text("CN=host1")));
    }
}
