//! Resynchronising with the kernel after lost XFRM events (issue 21 §2).
//!
//! Contract: when the event socket overflows (`ENOBUFS`: the kernel dropped EXPIRE/ACQUIRE
//! messages because iked read too slowly, as in a burst of thousands of EXPIREs),
//! [`expires_from_dump`] turns a dump of the SAD into the EXPIREs that may have been lost, for
//! the SAs iked installed: an SA the kernel no longer holds expired hard (the kernel deletes an
//! SA at its hard limit), an SA whose byte or packet count reached its soft limit expired soft
//! (time limits need no resync: the engine's own timers rekey by time, as charon's jobs do).
//! The engine treats an EXPIRE for an SA it already rekeys or deleted as nothing new, so the
//! ones that did arrive before the overflow are harmless to repeat. charon does the same on
//! `ENOBUFS` only for its policy and SA caches (it re-reads nothing for EXPIRE); this goes
//! further because a lost soft EXPIRE would otherwise mean a missed byte-limit rekey.

use std::collections::HashSet;
use std::net::IpAddr;

use iked_ike::engine::KernelEvent;

/// One SA iked installed, as the kernel names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Watched {
    pub spi: u32,
    pub dst: IpAddr,
}

/// What the dump says of one SA: its identity, soft limits and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dumped {
    pub spi: u32,
    pub dst: IpAddr,
    pub soft_bytes: u64,
    pub soft_packets: u64,
    pub bytes: u64,
    pub packets: u64,
}

impl From<&iked_xfrm::SaState> for Dumped {
    fn from(s: &iked_xfrm::SaState) -> Self {
        Self {
            spi: s.spi.0,
            dst: s.dst,
            soft_bytes: s.limits.0,
            soft_packets: s.limits.2,
            bytes: s.counters.bytes,
            packets: s.counters.packets,
        }
    }
}

/// The EXPIREs that may have been lost, for the SAs in `installed`, given the dump.
pub fn expires_from_dump(
    installed: impl IntoIterator<Item = Watched>,
    dump: &[Dumped],
) -> Vec<KernelEvent> {
    let held: std::collections::HashMap<Watched, &Dumped> = dump
        .iter()
        .map(|d| {
            (
                Watched {
                    spi: d.spi,
                    dst: d.dst,
                },
                d,
            )
        })
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for sa in installed {
        if !seen.insert(sa) {
            continue;
        }
        match held.get(&sa) {
            None => out.push(KernelEvent::Expire {
                spi: sa.spi,
                dst: sa.dst,
                hard: true,
            }),
            // XFRM_INF (u64::MAX) is "no limit": never reached.
            Some(d) if d.bytes >= d.soft_bytes || d.packets >= d.soft_packets => {
                out.push(KernelEvent::Expire {
                    spi: sa.spi,
                    dst: sa.dst,
                    hard: false,
                })
            }
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dumped(spi: u32, bytes: u64, soft_bytes: u64, packets: u64, soft_packets: u64) -> Dumped {
        Dumped {
            spi,
            dst: "10.0.0.1".parse().unwrap(),
            soft_bytes,
            soft_packets,
            bytes,
            packets,
        }
    }

    fn watched(spi: u32) -> Watched {
        Watched {
            spi,
            dst: "10.0.0.1".parse().unwrap(),
        }
    }

    #[test]
    fn gone_is_hard_soft_limit_reached_is_soft_rest_is_nothing() {
        let dump = [
            dumped(1, 10, u64::MAX, 1, u64::MAX),
            dumped(2, 5000, 4000, 3, u64::MAX),
            dumped(3, 10, u64::MAX, 100, 100),
            dumped(9, 1 << 40, 1, 1 << 40, 1),
        ];
        let events = expires_from_dump([1, 2, 3, 4].map(watched), &dump);
        let expect = |spi, hard| KernelEvent::Expire {
            spi,
            dst: "10.0.0.1".parse().unwrap(),
            hard,
        };
        assert_eq!(
            events,
            vec![expect(2, false), expect(3, false), expect(4, true)],
            "SA 9 is not ours: nothing for it"
        );
    }

    #[test]
    fn the_same_sa_twice_gives_one_expire_and_a_wrong_destination_is_another_sa() {
        let dump = [dumped(7, 0, u64::MAX, 0, u64::MAX)];
        let elsewhere = Watched {
            spi: 7,
            dst: "10.0.0.2".parse().unwrap(),
        };
        let events = expires_from_dump([watched(7), watched(7), elsewhere], &dump);
        assert_eq!(
            events,
            vec![KernelEvent::Expire {
                spi: 7,
                dst: "10.0.0.2".parse().unwrap(),
                hard: true
            }]
        );
    }
}
