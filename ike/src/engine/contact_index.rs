//! The identity-pair index of authenticated IKE SAs ([`Contacts`]): the table that
//! `contacts.rs` consults for INITIAL_CONTACT and `unique`, and `crossing.rs` for crossing
//! partners. Data only: the engine holds it, and the rules that use it live beside the engine.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use super::IkeSaId;
use crate::config::Identity;

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
    /// Our initiator SAs whose IKE_AUTH request is out and not yet answered, under the key of
    /// the identity pair they ask for: not authenticated yet, so not in `table`, but the peer
    /// may authenticate them any moment, and an INITIAL_CONTACT from a sibling would then
    /// destroy them there. Few at a time (one per connection being set up), so a small list.
    pending: HashMap<u64, Vec<IkeSaId>, BuildHasherDefault<PassThrough>>,
}

impl Contacts {
    /// `id` sent its IKE_AUTH request for the pair of `key` (again: no effect).
    pub fn add_pending(&mut self, key: u64, id: IkeSaId) {
        let ids = self.pending.entry(key).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    /// `id` is authenticated or gone (absent: no effect, so both may call it).
    pub fn remove_pending(&mut self, key: u64, id: IkeSaId) {
        if let Some(ids) = self.pending.get_mut(&key) {
            ids.retain(|p| *p != id);
            if ids.is_empty() {
                self.pending.remove(&key);
            }
        }
    }

    /// Whether an SA other than `id` is pending under `key`.
    pub fn other_pending(&self, key: u64, id: IkeSaId) -> bool {
        self.pending
            .get(&key)
            .is_some_and(|ids| ids.iter().any(|p| *p != id))
    }

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
}
