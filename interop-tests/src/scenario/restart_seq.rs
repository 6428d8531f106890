//! Crash, restart and hitless restart of iked in one set-up (issue 17, the newer peers).
//!
//! Contract: [`run`] brings the seed tunnel up once and then, asserting each step:
//! 1. kills iked with SIGKILL and starts it again: iked re-establishes the children its
//!    leftovers name by itself (INITIAL_CONTACT), the tunnel is back within
//!    [`BACK_WITHIN_SECS`], and once `--stale-grace` passed iked's host holds the new tunnel's
//!    four SAs and the seed's policies only; traffic flows;
//! 2. stops iked with SIGTERM and starts it again: iked's host is clean right after the stop,
//!    the tunnel comes back (the initiator initiates again unless the peer revived it by
//!    itself), iked's host holds exactly the new tunnel; traffic flows;
//! 3. restarts iked hitlessly under a UDP/4789 stream, then rekeys the CHILD and the IKE SA
//!    ([`super::hitless::restart_under_stream`]: zero lost, SPIs and IKE SA unchanged).
//!
//! Every step prints its restart gap in milliseconds; all three go to `restart-gap.txt`.
//!
//! Against strongSwan the peer must also list exactly one IKE SA with both children and hold
//! exactly the seed's SAs. Libreswan keeps its old IKE SA after INITIAL_CONTACT and revives
//! connections by itself; against it the row asserts what a user sees: traffic flows, iked
//! lists one IKE SA with both children, and iked's host holds no stale kernel state.

use std::path::Path;
use std::time::Duration;

use super::hitless::{restart_under_stream, tunnel_spis};
use super::{Context, Hosts, SEED_CHILDREN, Scenario, TRAFFIC_COUNT, tail};
use crate::checks::{self, KernelView};
use crate::clock::Stopwatch;
use crate::daemon::Implementation::{Iked, Libreswan};
use crate::netlab::{VXLAN_PORT, wait_until};
use crate::swan_conf::Side;
use crate::{LabError, ensure};

/// The tunnel must be back within this after a crash or a stop (issue 17: 10 s, plus margin
/// for a TCG guest shared with other rows: the gap itself is reported).
const BACK_WITHIN_SECS: u64 = 30;

/// Who is where, and how strictly the peer's view is checked.
struct Roles {
    me: Side,
    peer: Side,
    lenient: bool,
}

/// Runs the row (module contract).
pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &mut Hosts) -> Result<(), LabError> {
    let me = if sc.bfl == Iked { Side::Bfl } else { Side::Bfr };
    let r = Roles {
        me,
        peer: me.peer(),
        lenient: sc.implementation(me.peer()) == Libreswan,
    };
    super::seed(sc, ctx, dir, hosts)?;
    let policies = KernelView::read(&ctx.lab)?.policies(me).len();
    let mut lines = Vec::new();
    let mut report = |step: &str, gap: Duration, detail: String| {
        let line = format!(
            "{}: {step} restart gap {} ms ({detail})",
            sc.id,
            gap.as_millis()
        );
        println!("\n{line}");
        lines.push(line);
    };

    let (gap, start) = crash_step(ctx, dir, hosts, &r, policies)?;
    report(
        "SIGKILL",
        gap,
        format!(
            "kill to tunnel re-established; iked's start {} ms",
            start.as_millis()
        ),
    );
    let (gap, start) = term_step(sc, ctx, dir, hosts, &r, policies)?;
    report(
        "SIGTERM",
        gap,
        format!(
            "stop to tunnel re-established; iked's stop and start {} ms",
            start.as_millis()
        ),
    );
    let before = tunnel_spis(&KernelView::read(&ctx.lab)?, me, r.lenient)?;
    let gap = restart_under_stream(sc, ctx, dir, hosts, before, r.lenient)?;
    report(
        "hitless",
        gap,
        "SIGUSR2 to the new iked listing the resumed IKE SA; zero datagrams lost; CHILD and IKE \
         rekey after it succeeded"
            .into(),
    );
    let _ = std::fs::write(dir.join("restart-gap.txt"), lines.join("\n") + "\n");
    Ok(())
}

/// Whether both daemons list the tunnel: iked one IKE SA with both children INSTALLED; a
/// strict peer the same, a lenient one at least one IKE SA and both children established.
fn listed(hosts: &Hosts, r: &Roles) -> Result<bool, LabError> {
    let mine = hosts.get(r.me).list_sas()?.output;
    let theirs = hosts.get(r.peer).list_sas()?.output;
    let me_ok =
        mine.matches(", ESTABLISHED,").count() == 1 && mine.matches("INSTALLED").count() == 2;
    let peer_ok = if r.lenient {
        theirs.contains("ESTABLISHED_IKE_SA") && theirs.matches("ESTABLISHED_CHILD_SA").count() >= 2
    } else {
        theirs.matches("ESTABLISHED").count() == 1 && theirs.matches("INSTALLED").count() == 2
    };
    Ok(me_ok && peer_ok)
}

/// Waits for the tunnel listed on both hosts ([`listed`]), failing with both listings.
fn wait_listed(hosts: &Hosts, r: &Roles, what: &str, secs: u64) -> Result<(), LabError> {
    wait_until(what, secs, || listed(hosts, r)).map_err(|_| {
        super::crash::not_back(hosts, r.peer, r.me, &format!("{what}: not within {secs} s"))
    })
}

/// Waits until iked's host holds exactly the new tunnel (four SAs, the seed's `policies`) and,
/// for a strict peer, the peer's host four SAs; then checks the tunnel and its traffic.
fn settled(
    ctx: &Context,
    dir: &Path,
    r: &Roles,
    policies: usize,
    secs: u64,
) -> Result<(), LabError> {
    let clean = |v: &KernelView| {
        v.states(r.me).len() == 4
            && v.policies(r.me).len() == policies
            && (r.lenient || v.states(r.peer).len() == 4)
    };
    let _ = wait_until("only the new tunnel's SAs and policies left", secs, || {
        Ok(clean(&KernelView::read(&ctx.lab)?))
    });
    let v = KernelView::read(&ctx.lab)?;
    ensure!(
        clean(&v),
        "stale state: {} SAs and {} policies on iked's host {} (want 4 and {policies}), {} SAs \
         on the peer's host",
        v.states(r.me).len(),
        v.policies(r.me).len(),
        r.me.name(),
        v.states(r.peer).len()
    );
    let spis = tunnel_spis(&v, r.me, r.lenient)?;
    if checks::check_seed_tunnel(&v, &checks::SEED_ESP).is_ok() {
        checks::check_traffic(&ctx.lab, dir, spis, TRAFFIC_COUNT).map(|_| ())
    } else {
        // A lenient peer still holding an older IKE SA's SAs: what a user sees is traffic.
        user_traffic(ctx)
    }
}

/// Numbered UDP/4789 datagrams both ways, all delivered (the kernels' SA checks ran before).
fn user_traffic(ctx: &Context) -> Result<(), LabError> {
    for from in Side::BOTH {
        let rx = ctx.lab.start_udp_receiver(
            from.peer(),
            VXLAN_PORT,
            TRAFFIC_COUNT,
            checks::RECEIVE_IDLE_MS,
        )?;
        ctx.lab.udp_send(from, VXLAN_PORT, TRAFFIC_COUNT, 2000)?;
        let got = rx.finish()?;
        ensure!(
            got.distinct == TRAFFIC_COUNT && got.malformed == 0,
            "{} -> {} udp/4789: {} of {TRAFFIC_COUNT} delivered",
            from.name(),
            from.peer().name(),
            got.distinct
        );
    }
    Ok(())
}

/// Step 1: SIGKILL and start; returns (kill to tunnel back, kill to iked ready).
fn crash_step(
    ctx: &Context,
    dir: &Path,
    hosts: &mut Hosts,
    r: &Roles,
    policies: usize,
) -> Result<(Duration, Duration), LabError> {
    let watch = Stopwatch::start();
    hosts.get_mut(r.me).crash_and_restart()?;
    let ready = watch.elapsed();
    wait_listed(
        hosts,
        r,
        "the tunnel re-established by iked after SIGKILL",
        BACK_WITHIN_SECS,
    )?;
    let gap = watch.elapsed();
    let log = hosts.get(r.me).log_text();
    ensure!(
        log.contains("of an earlier iked instance"),
        "iked did not report the crashed instance's leftovers: {}",
        tail(&log, 10)
    );
    settled(ctx, dir, r, policies, super::crash::SWEEP_WAIT_SECS)?;
    Ok((gap, ready))
}

/// Step 2: SIGTERM and start; returns (stop to tunnel back, stop to iked ready).
fn term_step(
    sc: &Scenario,
    ctx: &Context,
    dir: &Path,
    hosts: &mut Hosts,
    r: &Roles,
    policies: usize,
) -> Result<(Duration, Duration), LabError> {
    let old: Vec<_> = KernelView::read(&ctx.lab)?
        .states(r.me)
        .iter()
        .filter_map(|s| s.spi)
        .collect();
    let watch = Stopwatch::start();
    hosts.get_mut(r.me).restart()?;
    let ready = watch.elapsed();
    let v = KernelView::read(&ctx.lab)?;
    // None of the stopped instance's SAs is left. A reviving peer (Libreswan) may already
    // have brought a new tunnel up while iked started; anyone else leaves the host empty.
    ensure!(
        !v.states(r.me)
            .iter()
            .any(|s| s.spi.is_some_and(|spi| old.contains(&spi)))
            && (r.lenient || (v.states(r.me).is_empty() && v.policies(r.me).is_empty())),
        "iked's host {} not clean after SIGTERM and start: {} SAs ({:x?}, before the stop \
         {old:x?}), {} policies",
        r.me.name(),
        v.states(r.me).len(),
        v.states(r.me).iter().map(|s| s.spi).collect::<Vec<_>>(),
        v.policies(r.me).len()
    );
    // Libreswan may revive its connections by itself after iked's DELETEs: initiate only if it
    // did not, so that the set-up does not end with duplicates.
    let revived = r.lenient
        && sc.initiator == r.peer
        && wait_until("the peer reviving the tunnel", 10, || listed(hosts, r)).is_ok();
    if !revived {
        let init = hosts.get(sc.initiator).initiate(&SEED_CHILDREN)?;
        ensure!(
            init.ok,
            "initiating the seed again after iked's restart failed: {}",
            tail(&init.output, 15)
        );
    }
    wait_listed(
        hosts,
        r,
        "the tunnel re-established after SIGTERM",
        BACK_WITHIN_SECS,
    )?;
    let gap = watch.elapsed();
    ensure!(
        hosts.get_mut(r.me).is_running(),
        "iked exited after its restart (log in {})",
        hosts.get(r.me).dir.display()
    );
    settled(ctx, dir, r, policies, 20)?;
    Ok((gap, ready))
}
