//! Splitting the lab over several VMs that run at the same time.
//!
//! Contract: [`split`] partitions the selected scenarios into at most `n` non-empty shards whose
//! estimated times ([`cost_secs`]) are balanced (longest first onto the least loaded shard);
//! every scenario lands in exactly one shard and each shard keeps `scenario::all`'s order, so
//! a row's neighbours do not change what it sees. [`prepare_shared`] makes on the host, before
//! any VM boots, what scenarios would otherwise create lazily in the shared output directory
//! (the two PKIs): two VMs must not race to make them, and the host makes RSA keys far faster
//! than a TCG guest.
//!
//! Why several VMs can help: part of a row's time is a daemon waiting (retransmits, DPD, rekeys),
//! which a second VM could fill. On the 2-core CI machine it does not: in session 6's full run
//! with two VMs every row took about twice its one-VM time and each guest booted in 45 s instead
//! of 13 s, so the lab default is one VM (`IKED_LAB_VMS`), and several are for machines with
//! more cores. Each VM has its own kernel, so the rows' fixed namespace names (`bfl`, `bfr`)
//! never collide.

use std::path::Path;

use crate::LabError;
use crate::scenario::{Kind, Scenario};

/// Rough wall time of a scenario in a CI run (seconds), for balancing only: taken from the CI
/// run of 2026-12-07 (the table's time column); nothing asserts on it.
pub fn cost_secs(sc: &Scenario) -> u32 {
    match sc.kind {
        Kind::MonitorStart(rounds) => 10 + 12 * rounds,
        Kind::Ovs(_) => 40,
        Kind::Dpd(_) => 30,
        Kind::CrashIked | Kind::RestartIked => 34,
        // Crash, stop and hitless restart with two rekeys in one set-up: an estimate (the
        // single-step rows' sum less two set-ups), until a CI run measures it.
        Kind::RestartSequence => 90,
        Kind::Cert(case) if case.is_negative() => 8,
        Kind::ProposalMismatch | Kind::PskMismatch => 8,
        Kind::Rekey(..) | Kind::RekeyPackets | Kind::NattForced(_) => 18,
        _ => 14,
    }
}

/// Splits `selected` into at most `n` balanced, non-empty shards (see the module contract).
pub fn split(selected: &[Scenario], n: usize) -> Vec<Vec<Scenario>> {
    let n = n.clamp(1, selected.len().max(1));
    let mut order: Vec<usize> = (0..selected.len()).collect();
    // Longest first; ties keep the table's order (a stable sort).
    order.sort_by_key(|&i| std::cmp::Reverse(selected.get(i).map_or(0, cost_secs)));
    let mut load = vec![0u32; n];
    let mut owner = vec![0usize; selected.len()];
    for i in order {
        let (lightest, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| **l)
            .unwrap_or((0, &0));
        if let (Some(slot), Some(o), Some(sc)) =
            (load.get_mut(lightest), owner.get_mut(i), selected.get(i))
        {
            *slot += cost_secs(sc);
            *o = lightest;
        }
    }
    let mut shards = vec![Vec::new(); n];
    for (sc, o) in selected.iter().zip(owner) {
        if let Some(shard) = shards.get_mut(o) {
            shard.push(sc.clone());
        }
    }
    shards.retain(|s| !s.is_empty());
    shards
}

/// Makes the shared PKIs under `out` (see the module contract).
pub fn prepare_shared(out: &Path) -> Result<(), LabError> {
    crate::certs::Pki::ensure(out)?;
    crate::crl_rows::ensure_pki(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    #[test]
    fn every_scenario_lands_in_exactly_one_shard_in_table_order() {
        let all = scenario::all();
        for n in 1..=4 {
            let shards = split(&all, n);
            assert_eq!(shards.len(), n);
            let mut ids: Vec<String> = shards.iter().flatten().map(|s| s.id.clone()).collect();
            assert_eq!(ids.len(), all.len());
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), all.len(), "a scenario in two shards");
            for shard in &shards {
                let pos: Vec<usize> = shard
                    .iter()
                    .map(|s| all.iter().position(|a| a.id == s.id).unwrap())
                    .collect();
                assert!(pos.windows(2).all(|w| w[0] < w[1]), "order changed");
            }
        }
    }

    #[test]
    fn shards_are_balanced_and_never_empty() {
        let all = scenario::all();
        let shards = split(&all, 2);
        let loads: Vec<u32> = shards
            .iter()
            .map(|s| s.iter().map(cost_secs).sum())
            .collect();
        let biggest = all.iter().map(cost_secs).max().unwrap();
        assert!(loads[0].abs_diff(loads[1]) <= biggest, "{loads:?}");
        // Fewer scenarios than VMs: no empty shard (an empty VM would fail "no scenario").
        assert_eq!(split(&all[..1], 3).len(), 1);
    }
}
