//! iked crashes (SIGKILL) with the seed tunnel up and is started again (issue 17 §1).
//!
//! Contract: [`run`] brings the seed tunnel up, kills iked with SIGKILL (its SAs and policies
//! stay in the kernel) and starts it again; nobody is told to initiate: iked, in either role,
//! re-establishes the children its leftovers name by itself, with INITIAL_CONTACT. It
//! asserts: the tunnel is back (both children INSTALLED on both hosts, the peer with exactly
//! one ESTABLISHED IKE SA: it dropped the old one on INITIAL_CONTACT) and the time from the
//! kill to that point is printed as the restart gap; traffic flows; and, once the lab's
//! `--stale-grace` (10 s) passed,
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
pub(super) const SWEEP_WAIT_SECS: u64 = 40;

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
    // At least: iked may already have reserved SPIs for the new children.
    ensure!(
        left.states(iked_side).len() >= 4,
        "after SIGKILL the crashed instance's 4 SAs should still be in the kernel, found {}",
        left.states(iked_side).len()
    );
    let installed = |text: &str| text.matches("INSTALLED").count();
    let back = wait_until("iked re-establishing the tunnel by itself", 30, || {
        let peer_sas = hosts.get(peer).list_sas()?.output;
        let iked_sas = hosts.get(iked_side).list_sas()?.output;
        Ok(peer_sas.matches("ESTABLISHED").count() == 1
            && installed(&peer_sas) == 2
            && installed(&iked_sas) == 2)
    });
    let gap = watch.elapsed();
    back.map_err(|_| {
        not_back(
            hosts,
            peer,
            iked_side,
            "the tunnel is not back after iked's crash",
        )
    })?;
    let line = format!(
        "{}: restart gap (SIGKILL to tunnel re-established) {} ms, of which iked's start {} ms",
        sc.id,
        gap.as_millis(),
        ready.as_millis()
    );
    println!("{line}");
    let _ = std::fs::write(dir.join("restart-gap.txt"), format!("{line}\n"));

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

/// A failure naming `what`, with both hosts' listings and the end of iked's log: what a row
/// that waited for the tunnel to come back after a restart shows.
pub(super) fn not_back(hosts: &Hosts, peer: Side, iked: Side, what: &str) -> LabError {
    let l = |s: Side| {
        hosts
            .get(s)
            .list_sas()
            .map(|l| l.output)
            .unwrap_or_default()
    };
    LabError::Check(format!(
        "{what}; peer: {}\niked: {}\niked log: {}",
        tail(&l(peer), 12),
        tail(&l(iked), 8),
        tail(&hosts.get(iked).log_text(), 15)
    ))
}
