//! Timers as data: a min-heap of deadlines with lazy cancellation.
//!
//! Contract: [`TimerQueue::schedule`] and [`TimerQueue::pop_expired`] are O(log n); a timer is
//! identified by a key and re-scheduling a key supersedes its earlier deadline (stale heap
//! entries are skipped using a per-key generation). [`TimerQueue::next_deadline`] is the
//! earliest live deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

use crate::time::Timestamp;

/// A queue of keyed deadlines.
#[derive(Debug)]
pub struct TimerQueue<K: Copy + Eq + Hash + Ord> {
    heap: BinaryHeap<Reverse<(Timestamp, u64, K)>>,
    live: HashMap<K, (u64, Timestamp)>,
    generation: u64,
}

impl<K: Copy + Eq + Hash + Ord> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            generation: 0,
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> TimerQueue<K> {
    /// Sets (or moves) the deadline of `key`.
    pub fn schedule(&mut self, key: K, at: Timestamp) {
        self.generation += 1;
        self.live.insert(key, (self.generation, at));
        self.heap.push(Reverse((at, self.generation, key)));
        // Bound the garbage left by superseded entries.
        if self.heap.len() > 64 && self.heap.len() > 4 * self.live.len() {
            self.compact();
        }
    }

    /// Cancels `key`'s timer, if any.
    pub fn cancel(&mut self, key: K) {
        self.live.remove(&key);
    }

    /// The deadline of `key`, if armed.
    pub fn deadline(&self, key: K) -> Option<Timestamp> {
        self.live.get(&key).map(|(_, at)| *at)
    }

    /// Earliest live deadline.
    pub fn next_deadline(&mut self) -> Option<Timestamp> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns one key whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Timestamp) -> Option<K> {
        self.drop_stale();
        let Reverse((at, _, key)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.live.remove(&key);
        Some(key)
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    fn is_live(&self, generation: u64, key: &K) -> bool {
        self.live.get(key).is_some_and(|(g, _)| *g == generation)
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((_, g, k))) = self.heap.peek() {
            if self.is_live(*g, k) {
                break;
            }
            self.heap.pop();
        }
    }

    fn compact(&mut self) {
        let live = &self.live;
        let entries: Vec<_> = self
            .heap
            .drain()
            .filter(|Reverse((_, g, k))| live.get(k).is_some_and(|(lg, _)| lg == g))
            .collect();
        self.heap = entries.into_iter().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescheduling_supersedes_and_cancel_removes() {
        let mut q = TimerQueue::default();
        let t = Timestamp::from_nanos;
        q.schedule(1u32, t(10));
        q.schedule(2u32, t(5));
        q.schedule(1u32, t(3));
        q.cancel(2);
        assert_eq!(q.next_deadline(), Some(t(3)));
        assert_eq!(q.pop_expired(t(2)), None);
        assert_eq!(q.pop_expired(t(3)), Some(1));
        assert_eq!(q.pop_expired(t(100)), None);
        assert!(q.is_empty());
    }

    #[test]
    fn many_timers_pop_in_deadline_order() {
        let mut q = TimerQueue::default();
        for i in 0..10_000u32 {
            q.schedule(i, Timestamp::from_nanos(u64::from((i * 7919) % 10_000)));
        }
        for i in 0..10_000u32 {
            q.schedule(i, Timestamp::from_nanos(u64::from((i * 7919) % 10_000) + 1));
        }
        let mut last = Timestamp::ZERO;
        let mut n = 0;
        while let Some(k) = q.pop_expired(Timestamp::from_nanos(u64::MAX)) {
            let at = Timestamp::from_nanos(u64::from((k * 7919) % 10_000) + 1);
            assert!(at >= last);
            last = at;
            n += 1;
        }
        assert_eq!(n, 10_000);
    }
}
