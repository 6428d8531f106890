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
//!   names the peer's identity without wildcards, `unique` is not `never`, and no SA of the
//!   pair is in the index.
//! - Neither INITIAL_CONTACT nor `unique` touches an SA that crossed the new one (both ends
//!   initiated the connection at once; `crossing.rs` resolves those the same way on both ends).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use super::core::{Engine, Fate};
use super::sa::{Active, IkeSa, Outstanding, Task};
use super::{DownReason, IkeSaId, LogGroup};
use crate::config::{Identity, UniquePolicy};
use crate::time::Timestamp;

/// The table's keys are already SipHash values of the identity pair: hash them no further.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `u64` keys; fold anything else in all the same.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The SAs of one key. Nearly every identity pair has one SA, so that case needs no
/// allocation; a pair with many (a peer that never sends INITIAL_CONTACT under `unique = no`)
/// gets a set, so that removing one of them stays O(1).
enum Bucket {
    One(IkeSaId),
    // Boxed so that the common `One` costs 16 bytes per table entry rather than the 48 of an
    // inline set: the extra allocation is paid only by the rare pair with several SAs.
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<IkeSaId>>),
}

/// The index. Keys are hashes (with a per-engine random key, so peers cannot aim at one
/// bucket) of the identity pair and family, not copies of the identities: a few bytes per SA.
/// A hash collision only puts two pairs in one bucket; lookups compare the SAs' own identities.
#[derive(Default)]
pub(crate) struct Contacts {
    hasher: RandomState,
    table: HashMap<u64, Bucket, BuildHasherDefault<PassThrough>>,
    len: usize,
}

impl Contacts {
    /// The key of an identity pair and the peer's address family.
    pub fn key(&self, local: &Identity, remote: &Identity, ipv4: bool) -> u64 {
        self.hasher.hash_one((local, remote, ipv4))
    }

    /// Adds `id` under `key` (again: no effect).
    pub fn insert(&mut self, key: u64, id: IkeSaId) {
        let Some(bucket) = self.table.get_mut(&key) else {
            self.table.insert(key, Bucket::One(id));
            self.len = self.len.saturating_add(1);
            return;
        };
        match bucket {
            Bucket::One(one) if *one == id => {}
            Bucket::One(one) => {
                let first = *one;
                *bucket = Bucket::Many(Box::new(HashSet::from([first, id])));
                self.len = self.len.saturating_add(1);
            }
            Bucket::Many(set) => {
                if set.insert(id) {
                    self.len = self.len.saturating_add(1);
                }
            }
        }
    }

    /// Removes `id` from `key` (absent: no effect).
    pub fn remove(&mut self, key: u64, id: IkeSaId) {
        let Some(bucket) = self.table.get_mut(&key) else {
            return;
        };
        match bucket {
            Bucket::One(one) => {
                if *one == id {
                    self.table.remove(&key);
                    self.len = self.len.saturating_sub(1);
                }
            }
            Bucket::Many(set) => {
                if set.remove(&id) {
                    self.len = self.len.saturating_sub(1);
                }
                match set.len() {
                    0 => {
                        self.table.remove(&key);
                    }
                    1 => {
                        if let Some(last) = set.iter().next().copied() {
                            *bucket = Bucket::One(last);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The SAs under `key`, oldest first (ids only grow, so that is ascending order).
    pub fn ids(&self, key: u64) -> Vec<IkeSaId> {
        match self.table.get(&key) {
            None => Vec::new(),
            Some(Bucket::One(id)) => vec![*id],
            Some(Bucket::Many(set)) => {
                let mut v: Vec<IkeSaId> = set.iter().copied().collect();
                v.sort_unstable();
                v
            }
        }
    }

    /// Some SA under `key` for which `pred` holds, looking at as few as possible.
    pub fn any(&self, key: u64, mut pred: impl FnMut(IkeSaId) -> bool) -> bool {
        match self.table.get(&key) {
            None => false,
            Some(Bucket::One(id)) => pred(*id),
            Some(Bucket::Many(set)) => set.iter().any(|id| pred(*id)),
        }
    }

    /// SAs in the index.
    pub fn len(&self) -> usize {
        self.len
    }
}

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

    /// Puts an authenticated SA into the index (see the module docs).
    pub(crate) fn index_contact(&mut self, sa: &IkeSa) {
        if let Some(key) = self.contact_key(sa) {
            self.contacts.insert(key, sa.id);
        }
        self.crossings.note_up(sa.id, self.next_ike_id);
    }

    /// Takes an SA out of the index; every path that destroys an SA comes through here.
    pub(crate) fn unindex_contact(&mut self, sa: &IkeSa) {
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
        sa.config.unique != UniquePolicy::Never
            && !has_wildcards(remote)
            && !self.has_contact(&sa.local_id, remote, sa.remote.ip().is_ipv4())
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
    fn buckets_grow_shrink_and_count() {
        let mut c = Contacts::default();
        let a = Identity::from_text("a");
        let b = Identity::from_text("b");
        let k = c.key(&a, &b, true);
        assert_ne!(k, c.key(&a, &b, false), "the family is part of the key");
        assert_ne!(k, c.key(&b, &a, true), "the pair is ordered");
        c.insert(k, IkeSaId(3));
        c.insert(k, IkeSaId(3));
        assert_eq!(c.len(), 1);
        c.insert(k, IkeSaId(1));
        c.insert(k, IkeSaId(2));
        assert_eq!(c.len(), 3);
        assert_eq!(c.ids(k), vec![IkeSaId(1), IkeSaId(2), IkeSaId(3)]);
        c.remove(k, IkeSaId(2));
        c.remove(k, IkeSaId(2));
        assert_eq!(c.ids(k), vec![IkeSaId(1), IkeSaId(3)]);
        c.remove(k, IkeSaId(1));
        assert!(matches!(c.table.get(&k), Some(Bucket::One(IkeSaId(3)))));
        assert!(c.any(k, |id| id == IkeSaId(3)));
        c.remove(k, IkeSaId(3));
        assert_eq!(c.len(), 0);
        assert!(c.table.is_empty());
        assert!(!c.any(k, |_| true));
    }

    #[test]
    fn wildcard_identities_are_recognised() {
        assert!(has_wildcards(&Identity::from_text("*.example.com")));
        assert!(has_wildcards(&Identity::from_text("CN=*, O=x")));
        assert!(!has_wildcards(&Identity::from_text("host1")));
        assert!(!has_wildcards(&Identity::from_text("CN=host1")));
    }
}
