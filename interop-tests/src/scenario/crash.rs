//! iked crashes (SIGKILL) with the seed tunnel up and is started again (issue 17 §1).
//!
//! Contract: [`run`] brings the seed tunnel up, kills iked with SIGKILL (its SAs and policies
//! stay in the kernel), starts it again and has the scenario's initiator initiate again. It
//! asserts: the tunnel is back (4 SAs, traffic through it) and the time from the kill to that
//! point is printed as the restart gap; the peer ends with exactly one ESTABLISHED IKE SA (iked
//! as initiator sends INITIAL_CONTACT); and, once the lab's `--stale-grace` (10 s) passed,
//! iked's kernel holds the new tunnel's SAs and policies only (the crashed instance's were
//! recognised by iked's reqid range and removed).

use std::path::Path;

use super::{Context, Hosts, Scenario, TRAFFIC_COUNT, tail};
use crate::checks::{self, KernelView, SEED_ESP};
use crate::clock::Stopwatch;
use crate::daemon::Implementation::Iked;
use crate::netlab::wait_until;
use crate::swan_conf::Side;
use crate::{LabError, ensure};

/// The lab's `--stale-grace` plus margin for TCG.
const SWEEP_WAIT_SECS: u64 = 40;

pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &mut Hosts) -> Result<(), LabError> {
    let iked_side = if sc.bfl == Iked { Side::Bfl } else { Side::Bfr };
    let peer = iked_side.peer();
    super::seed(sc, ctx, dir, hosts)?;
    let before = KernelView::read(&ctx.lab)?;
    let policies_before = before.policies(iked_side).len();

    let watch = Stopwatch::start();
    hosts.get_mut(iked_side).crash_and_restart()?;
    let ready = watch.elapsed();
    let left = KernelView::read(&ctx.lab)?;
    ensure!(
        left.states(iked_side).len() == 4,
        "after SIGKILL the crashed instance's 4 SAs should still be in the kernel, found {}",
        left.states(iked_side).len()
    );
    // The initiator initiates again; wait for the new pair of children on both hosts.
    let init = hosts.get(sc.initiator).initiate(&super::SEED_CHILDREN)?;
    ensure!(
        init.ok,
        "initiate after the crash failed: {}",
        tail(&init.output, 15)
    );
    let gap = watch.elapsed();
    let line = format!(
        "{}: restart gap (SIGKILL to tunnel re-established) {} ms, of which iked's start {} ms",
        sc.id,
        gap.as_millis(),
        ready.as_millis()
    );
    println!("{line}");
    let _ = std::fs::write(dir.join("restart-gap.txt"), format!("{line}\n"));

    // The peer keeps one IKE SA (INITIAL_CONTACT, or its own replacement of the dead one).
    wait_until("the peer holding one ESTABLISHED IKE SA", 30, || {
        let l = hosts.get(peer).list_sas()?;
        Ok(l.output
            .lines()
            .filter(|l| l.contains("ESTABLISHED"))
            .count()
            == 1)
    })
    .map_err(|_| {
        let l = hosts
            .get(peer)
            .list_sas()
            .map(|l| l.output)
            .unwrap_or_default();
        LabError::Check(format!(
            "peer does not end with one ESTABLISHED IKE SA after iked's crash: {}",
            tail(&l, 12)
        ))
    })?;
    // The crashed instance's state goes once --stale-grace passed.
    wait_until(
        "the crashed instance's SAs and policies removed",
        SWEEP_WAIT_SECS,
        || {
            let v = KernelView::read(&ctx.lab)?;
            Ok(v.states(iked_side).len() == 4 && v.states(peer).len() == 4)
        },
    )
    .map_err(|_| {
        let v = KernelView::read(&ctx.lab).ok();
        LabError::Check(format!(
            "stale SAs after the sweep: {} on {}, {} on {}",
            v.as_ref().map_or(0, |v| v.states(iked_side).len()),
            iked_side.name(),
            v.as_ref().map_or(0, |v| v.states(peer).len()),
            peer.name()
        ))
    })?;
    let after = KernelView::read(&ctx.lab)?;
    ensure!(
        after.policies(iked_side).len() == policies_before,
        "{} policies on {} after the sweep (before the crash: {policies_before})",
        after.policies(iked_side).len(),
        iked_side.name()
    );
    let log = hosts.get(iked_side).log_text();
    ensure!(
        log.contains("of an earlier iked instance"),
        "iked did not report the crashed instance's leftovers: {}",
        tail(&log, 10)
    );
    let spis = checks::check_seed_tunnel(&after, &SEED_ESP)?;
    checks::check_traffic(&ctx.lab, dir, spis, TRAFFIC_COUNT).map(|_| ())
}
