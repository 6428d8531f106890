//! Lifetime expiry for the record-only kernel backend (issue 21 §1).
//!
//! Contract: the real kernel raises a soft EXPIRE when an SA reaches its soft lifetime (the
//! engine then rekeys its CHILD_SA) and a hard EXPIRE when it reaches its hard lifetime (it
//! deletes the SA and the engine deletes the CHILD_SA). [`ExpirySchedule`] does the same by time
//! for the SAs the record backend "installs", so a benchmark holding SAs on a host without ESP
//! rekeys them through the same EXPIRE path: each added SA with a soft time gets a soft EXPIRE
//! `soft_secs` after its add, then (if still held) a hard one `hard_secs` after its add; an SA
//! with only a hard time gets the hard one; a deleted SA gets nothing more. Byte and packet
//! limits are not counted: record mode carries no traffic.
//! Memory: one heap entry per held SA (its next EXPIRE) and one map entry; entries of SAs
//! deleted before their time stay in the heap until that time (lazy removal, no heap search).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use iked_ike::engine::{KernelEvent, KernelLifetimes};

/// One pending EXPIRE; ordered by time first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at_ms: u64,
    /// Which add of this (SPI, destination) it belongs to (an SPI may be reused).
    generation: u32,
    spi: u32,
    dst: IpAddr,
    hard: bool,
}

/// A held SA: the generation of its add and its hard expiry (0: none).
#[derive(Debug, Clone, Copy)]
struct Held {
    generation: u32,
    hard_at_ms: u64,
}

/// The SAs held in record mode and their next EXPIREs.
#[derive(Debug, Default)]
pub struct ExpirySchedule {
    heap: BinaryHeap<Reverse<Due>>,
    held: HashMap<(u32, IpAddr), Held>,
    generation: u32,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ExpirySchedule {
    /// An SA was added at `now` with `lifetimes`.
    pub fn add(&mut self, now: Duration, spi: u32, dst: IpAddr, lifetimes: &KernelLifetimes) {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let at = |secs: u64| ms(now).saturating_add(secs.saturating_mul(1000));
        let hard_at_ms = if lifetimes.hard_secs > 0 {
            at(lifetimes.hard_secs)
        } else {
            0
        };
        let first = if lifetimes.soft_secs > 0 {
            Some((at(lifetimes.soft_secs), false))
        } else if hard_at_ms > 0 {
            Some((hard_at_ms, true))
        } else {
            None
        };
        // Re-adding the same SA (an update) restarts its lifetimes, as a new kernel SA would.
        self.held.insert(
            (spi, dst),
            Held {
                generation,
                hard_at_ms,
            },
        );
        if let Some((at_ms, hard)) = first {
            self.heap.push(Reverse(Due {
                at_ms,
                generation,
                spi,
                dst,
                hard,
            }));
        }
    }

    /// The SA was deleted: no EXPIRE for it any more.
    pub fn remove(&mut self, spi: u32, dst: IpAddr) {
        self.held.remove(&(spi, dst));
    }

    /// When the next EXPIRE may be due (possibly for an SA deleted since: then nothing comes).
    pub fn next_at(&self) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse(d)| Duration::from_millis(d.at_ms))
    }

    /// The EXPIREs due at `now`, in time order; a hard one forgets the SA (the kernel deletes
    /// it at its hard limit).
    pub fn due(&mut self, now: Duration) -> Vec<KernelEvent> {
        let now_ms = ms(now);
        let mut out = Vec::new();
        while let Some(Reverse(d)) = self.heap.peek().copied() {
            if d.at_ms > now_ms {
                break;
            }
            self.heap.pop();
            let key = (d.spi, d.dst);
            let Some(held) = self.held.get(&key).copied() else {
                continue;
            };
            if held.generation != d.generation {
                continue;
            }
            out.push(KernelEvent::Expire {
                spi: d.spi,
                dst: d.dst,
                hard: d.hard,
            });
            if d.hard {
                self.held.remove(&key);
            } else if held.hard_at_ms > 0 {
                self.heap.push(Reverse(Due {
                    at_ms: held.hard_at_ms.max(d.at_ms),
                    hard: true,
                    ..d
                }));
            }
        }
        out
    }

    /// SAs held (for tests and `stats`).
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(soft: u64, hard: u64) -> KernelLifetimes {
        KernelLifetimes {
            soft_secs: soft,
            hard_secs: hard,
            ..KernelLifetimes::default()
        }
    }

    fn expire(spi: u32, hard: bool) -> KernelEvent {
        KernelEvent::Expire {
            spi,
            dst: dst(),
            hard,
        }
    }

    fn dst() -> IpAddr {
        "10.0.0.1".parse().unwrap()
    }

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn soft_then_hard_at_their_times_after_the_add() {
        let mut e = ExpirySchedule::default();
        e.add(s(100), 1, dst(), &life(10, 20));
        e.add(s(105), 2, dst(), &life(10, 20));
        assert_eq!(e.next_at(), Some(s(110)));
        assert!(e.due(s(109)).is_empty());
        assert_eq!(e.due(s(110)), vec![expire(1, false)]);
        assert_eq!(e.due(s(116)), vec![expire(2, false)]);
        assert_eq!(e.next_at(), Some(s(120)));
        assert_eq!(e.due(s(130)), vec![expire(1, true), expire(2, true)]);
        assert_eq!(e.held(), 0);
        assert_eq!(e.next_at(), None);
    }

    #[test]
    fn a_deleted_sa_expires_no_more_and_a_readded_one_starts_again() {
        let mut e = ExpirySchedule::default();
        e.add(s(0), 1, dst(), &life(10, 20));
        e.add(s(0), 2, dst(), &life(10, 20));
        e.remove(1, dst());
        assert_eq!(e.due(s(10)), vec![expire(2, false)]);
        e.remove(2, dst());
        assert!(e.due(s(100)).is_empty(), "deleted after its soft EXPIRE");
        // SPI 3 added, then added again later: only the second add's times count.
        e.add(s(0), 3, dst(), &life(10, 0));
        e.add(s(5), 3, dst(), &life(10, 0));
        assert!(e.due(s(12)).is_empty());
        assert_eq!(e.due(s(15)), vec![expire(3, false)]);
    }

    #[test]
    fn hard_only_and_no_lifetime() {
        let mut e = ExpirySchedule::default();
        e.add(s(0), 1, dst(), &life(0, 30));
        e.add(s(0), 2, dst(), &life(0, 0));
        assert_eq!(e.due(s(29)), vec![]);
        assert_eq!(e.due(s(30)), vec![expire(1, true)]);
        assert_eq!(e.held(), 1, "SA 2 never expires");
        assert_eq!(e.next_at(), None);
    }
}
