//! `Engine::set_log_groups`: a group that is off yields no `Event::Log` and changes nothing
//! else (same datagrams, kernel requests, state events and counters), and the default (every
//! group) yields every record.

mod common;

use common::*;
use iked_ike::config::Settings;
use iked_ike::engine::{
    ChildSaId, Direction, Event, IkeSaId, KernelEvent, KernelRequest, LogGroup, LogGroups, Stats,
};

/// What one side of the scenario produced.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    kernel: Vec<KernelRequest>,
    stats: Stats,
}

fn child_ids(ep: &Endpoint) -> Vec<ChildSaId> {
    ep.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildUp { child, .. } => Some(*child),
            _ => None,
        })
        .collect()
}

fn last_ike(ep: &Endpoint) -> IkeSaId {
    ep.events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::IkeUp { sa, .. } => Some(*sa),
            Event::IkeRekeyed { new, .. } => Some(*new),
            _ => None,
        })
        .expect("an IKE SA came up")
}

/// Establishes the seed pair with two children, drops a malformed datagram, rekeys a child and
/// the IKE SA, hard-expires a child and terminates: every log group of the engine is used.
fn scenario(groups: LogGroups) -> [Outcome; 2] {
    let mut p = seed_pair(Settings::default());
    p.a.engine.set_log_groups(groups);
    p.b.engine.set_log_groups(groups);
    assert_eq!(p.a.engine.log_groups(), groups);
    let now = p.now;
    p.a.engine
        .initiate(now, "BFL-BFR", &["bf-in", "bf-out"])
        .unwrap();
    p.run();
    assert_eq!(child_ids(&p.a).len(), 2, "both children up");

    // A malformed datagram is dropped (and counted) whether or not [ENC] is logged.
    let (a_addr, b_addr, now) = (p.a.addr, p.b.addr, p.now);
    p.b.engine.handle_datagram(now, b_addr, a_addr, &[0u8; 3]);
    p.drain();

    let first = child_ids(&p.a)[0];
    let now = p.now;
    p.a.engine.rekey_child(now, first).unwrap();
    p.run();
    let ike = last_ike(&p.a);
    let now = p.now;
    p.a.engine.rekey_ike(now, ike).unwrap();
    p.run();

    // The kernel hard-expires the inbound SA of A's newest child: A deletes it ([KNL]).
    let (spi, dst) =
        p.a.kernel
            .sas
            .iter()
            .filter(|(_, sa)| sa.direction == Direction::In)
            .map(|((dst, spi), _)| (*spi, *dst))
            .max()
            .expect("an inbound SA");
    let now = p.now;
    p.a.engine.handle_kernel(
        now,
        KernelEvent::Expire {
            spi,
            dst,
            hard: true,
        },
    );
    p.run();

    let ike = last_ike(&p.a);
    let now = p.now;
    p.a.engine.terminate_ike(now, ike).unwrap();
    p.run();
    assert!(
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeDown { .. })),
        "the exchange completed: the IKE SA was terminated"
    );
    assert!(p.a.kernel.leftovers().is_empty());
    let Pair { a, b, .. } = p;
    [a, b].map(|ep| Outcome {
        stats: ep.engine.stats(),
        events: ep.events,
        kernel: ep.kernel.log,
    })
}

fn log_group(e: &Event) -> Option<LogGroup> {
    match e {
        Event::Log { group, .. } => Some(*group),
        _ => None,
    }
}

/// `all` with only the records of `groups` kept.
fn keep_only(all: &Outcome, groups: LogGroups) -> Outcome {
    Outcome {
        events: all
            .events
            .iter()
            .filter(|e| log_group(e).is_none_or(|g| groups.contains(g)))
            .cloned()
            .collect(),
        kernel: all.kernel.clone(),
        stats: all.stats,
    }
}

#[test]
fn log_groups_set_operations() {
    assert!(LogGroup::ALL.iter().all(|g| LogGroups::ALL.contains(*g)));
    assert!(LogGroup::ALL.iter().all(|g| !LogGroups::NONE.contains(*g)));
    let s = LogGroups::NONE.with(LogGroup::Ike).with(LogGroup::Knl);
    assert!(s.contains(LogGroup::Ike) && s.contains(LogGroup::Knl));
    assert!(!s.contains(LogGroup::Enc));
    assert_eq!(s.iter().collect::<Vec<_>>(), [LogGroup::Ike, LogGroup::Knl]);
    assert_eq!(
        [LogGroup::Knl, LogGroup::Ike]
            .into_iter()
            .collect::<LogGroups>(),
        s
    );
    let mut t = LogGroups::ALL;
    t.set(LogGroup::Net, false);
    assert_eq!(t, LogGroups::ALL.without(LogGroup::Net));
    t.set(LogGroup::Net, true);
    assert_eq!(t, LogGroups::ALL);
    assert_eq!(format!("{s:?}"), r#"{"IKE", "KNL"}"#);
}

#[test]
fn engine_logs_every_group_by_default() {
    let p = seed_pair(Settings::default());
    assert_eq!(p.a.engine.log_groups(), LogGroups::ALL);
    let all = scenario(LogGroups::ALL);
    // The scenario exercises every group, so the comparisons below are not vacuous.
    for g in LogGroup::ALL {
        assert!(
            all.iter()
                .flat_map(|o| &o.events)
                .any(|e| log_group(e) == Some(g)),
            "no [{}] record in the scenario",
            g.tag()
        );
    }
    // A few records by text, as charon prints them.
    let a_logs: Vec<&str> = all[0]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Log { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert!(a_logs.contains(&"initiating IKE_SA BFL-BFR[1] to 192.168.50.2"));
    assert!(
        a_logs
            .iter()
            .any(|l| l.starts_with("hard expire of CHILD_SA {"))
    );
    assert!(
        all[1].stats.dropped >= 1,
        "the malformed datagram was counted"
    );
}

#[test]
fn a_group_turned_off_yields_no_records_and_changes_nothing_else() {
    let all = scenario(LogGroups::ALL);
    for g in LogGroup::ALL {
        let groups = LogGroups::ALL.without(g);
        let filtered = scenario(groups);
        for (side, (got, all)) in filtered.iter().zip(&all).enumerate() {
            assert!(
                got.events.iter().all(|e| log_group(e) != Some(g)),
                "side {side}: a [{}] record while the group is off",
                g.tag()
            );
            assert_eq!(
                *got,
                keep_only(all, groups),
                "side {side}: filtering [{}] changed more than its records",
                g.tag()
            );
        }
    }
    // Everything off: no records at all, the same exchanges.
    let none = scenario(LogGroups::NONE);
    for (got, all) in none.iter().zip(&all) {
        assert!(got.events.iter().all(|e| log_group(e).is_none()));
        assert_eq!(*got, keep_only(all, LogGroups::NONE));
    }
    // Only [KNL]: the others' records are gone, KNL's kept.
    let knl = LogGroups::NONE.with(LogGroup::Knl);
    let only = scenario(knl);
    assert_eq!(only[0], keep_only(&all[0], knl));
    assert!(
        only[0]
            .events
            .iter()
            .any(|e| log_group(e) == Some(LogGroup::Knl))
    );
}
