//! Hitless restart of iked under traffic, and a corrupt hand-over state (issue 17 §2).
//!
//! Contract:
//! - [`run`] brings the seed tunnel up, starts a stream of numbered UDP/4789 datagrams from
//!   iked's host to the peer, and while it flows restarts iked as `iked.service` does
//!   (SIGUSR2: the state goes to the hand-over file, the process exits without DELETEs, a new
//!   process resumes it). It asserts: every datagram arrived (zero lost); both kernels hold
//!   the same four SAs as before (SPIs unchanged); the peer still lists the same single IKE SA
//!   (it noticed nothing) and iked lists it with its SPIs and both children INSTALLED; iked's
//!   log says it resumed and adopted them. Then iked rekeys its `bf-out` CHILD_SA and the IKE
//!   SA, both of which must succeed with the unchanged peer (old SAs gone, one new IKE SA).
//!   The restart gap (SIGUSR2 to the new iked listing the resumed SA) is printed and kept in
//!   `restart-gap.txt`.
//! - [`run_corrupt`] hands over, damages one byte of the state file, and starts iked: it must
//!   refuse the file with a clear error (checksum) and recover as after a crash (§1): the
//!   tunnel comes back by itself, the peer with exactly one IKE SA.

use std::path::Path;
use std::time::Duration;

use super::rekey_cmd::{child_rekeyed, ike_rekeyed, ike_sa_ids};
use super::{Context, Hosts, Scenario, bring_up, tail};
use crate::checks::{self, KernelView, SEED_ESP};
use crate::clock::Stopwatch;
use crate::daemon::Implementation::Iked;
use crate::netlab::{VXLAN_PORT, wait_until};
use crate::swan_conf::Side;
use crate::{LabError, ensure};

/// Datagrams in the stream and the gap between them: 1 s nominal, far longer under a loaded
/// TCG guest (the sender's timeout is 30 s plus the nominal time), spanning the hand-over.
const COUNT: u32 = 500;
const INTERVAL_US: u64 = 2000;

fn iked_side(sc: &Scenario) -> Side {
    if sc.bfl == Iked { Side::Bfl } else { Side::Bfr }
}

/// Both children INSTALLED and one ESTABLISHED IKE SA in a listing.
fn tunnel_listed(text: &str) -> bool {
    text.matches("ESTABLISHED").count() == 1 && text.matches("INSTALLED").count() == 2
}

/// Runs the hitless row (module contract).
pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &mut Hosts) -> Result<(), LabError> {
    let before = bring_up(sc, ctx, hosts)?;
    restart_under_stream(sc, ctx, dir, hosts, before, false).map(|_| ())
}

/// The SPIs carrying the seed's VXLAN traffic. Strict: both kernels hold exactly the seed's
/// four SAs ([`checks::check_seed_tunnel`]). `lenient` (a peer that may keep SAs of an IKE SA
/// it kept after INITIAL_CONTACT, Libreswan): iked's host must still hold exactly four, the
/// peer's SPIs are read from its `dport 4789` policy.
pub(super) fn tunnel_spis(
    view: &KernelView,
    me: Side,
    lenient: bool,
) -> Result<checks::TunnelSpis, LabError> {
    match checks::check_seed_tunnel(view, &SEED_ESP) {
        Ok(spis) => Ok(spis),
        Err(e) if !lenient => Err(e),
        Err(_) => {
            ensure!(
                view.states(me).len() == 4,
                "{}: expected 4 ESP SAs (2 CHILD_SAs) on iked's host, found {}",
                me.name(),
                view.states(me).len()
            );
            Ok(checks::TunnelSpis {
                bfl_to_bfr: checks::vxlan_out_spi(Side::Bfl, view)?,
                bfr_to_bfl: checks::vxlan_out_spi(Side::Bfr, view)?,
            })
        }
    }
}

/// The hitless restart under a stream, then a CHILD and an IKE rekey by iked (module
/// contract); `lenient` as in [`tunnel_spis`], and the peer's IKE SA list is then only
/// required to hold the rekeyed SA (it may keep an older one). Returns the restart gap.
pub(super) fn restart_under_stream(
    sc: &Scenario,
    ctx: &Context,
    dir: &Path,
    hosts: &mut Hosts,
    before: checks::TunnelSpis,
    lenient: bool,
) -> Result<Duration, LabError> {
    let me = iked_side(sc);
    let peer = me.peer();
    let peer_ike = ike_sa_ids(hosts.get(peer))?;
    let my_ike = ike_sa_ids(hosts.get(me))?;
    let rx = ctx.lab.start_udp_receiver(peer, VXLAN_PORT, COUNT, 8000)?;
    // SIGUSR2 to the old process gone, to the new one's VICI socket, to the resumed SA listed.
    let mut split = [Duration::ZERO; 3];
    let (gap, restarted) = std::thread::scope(|s| {
        let sender = s.spawn(|| ctx.lab.udp_send(me, VXLAN_PORT, COUNT, INTERVAL_US));
        // The stream runs on the SAs before the restart first.
        std::thread::sleep(Duration::from_millis(500));
        let watch = Stopwatch::start();
        let restarted = (|| {
            let d = hosts.get_mut(me);
            d.hand_over();
            split[0] = watch.elapsed();
            d.respawn()?;
            d.wait_ready()?;
            split[1] = watch.elapsed();
            wait_until("iked listing the resumed tunnel", 20, || {
                Ok(tunnel_listed(&hosts.get(me).list_sas()?.output))
            })
        })();
        let gap = watch.elapsed();
        let sent = sender
            .join()
            .unwrap_or_else(|_| Err(LabError::Setup("sender thread panicked".into())));
        (gap, sent.and(restarted))
    });
    let log = hosts.get(me).log_text();
    restarted.map_err(|e| {
        LabError::Check(format!(
            "hitless restart failed: {e}; iked log: {}",
            tail(&log, 20)
        ))
    })?;
    let got = rx.finish()?;
    ensure!(
        got.distinct == COUNT && got.malformed == 0,
        "{} of {COUNT} datagrams crossed the restart ({} malformed, missing {:?})",
        got.distinct,
        got.malformed,
        got.missing
    );
    let view = KernelView::read(&ctx.lab)?;
    let after = tunnel_spis(&view, me, lenient)?;
    ensure!(
        after == before,
        "the restart changed the tunnel's SPIs: {before:x?} -> {after:x?}"
    );
    ensure!(
        ike_sa_ids(hosts.get(peer))? == peer_ike && ike_sa_ids(hosts.get(me))? == my_ike,
        "the IKE SA changed across the restart: peer {peer_ike:?}, iked {my_ike:?} before"
    );
    for needle in [
        "resumed from the saved state",
        "adopted from the earlier iked",
    ] {
        ensure!(
            log.contains(needle),
            "iked's log lacks '{needle}': {}",
            tail(&log, 15)
        );
    }
    let line = format!(
        "{}: hitless restart gap (SIGUSR2 to the new iked listing the resumed IKE SA) {} ms: \
         old iked gone after {} ms, new one up after {} ms; ESP: {COUNT} of {COUNT} datagrams \
         delivered",
        sc.id,
        gap.as_millis(),
        split[0].as_millis(),
        split[1].as_millis()
    );
    // On a line of its own: the runner's progress lines share the console.
    println!("\n{line}");
    let _ = std::fs::write(dir.join("restart-gap.txt"), format!("{line}\n"));

    // The resumed SAs keep working with the same peer: CHILD rekey, then IKE rekey.
    let r = hosts.get(me).rekey(Some("bf-out"))?;
    ensure!(
        r.ok,
        "CHILD_SA rekey after the restart failed: {}",
        tail(&r.output, 10)
    );
    if lenient {
        lenient_child_rekeyed(ctx, before, me)?;
    } else {
        child_rekeyed(ctx, before, me)?;
    }
    let spis = tunnel_spis(&KernelView::read(&ctx.lab)?, me, lenient)?;
    let ike_before = [
        ike_sa_ids(hosts.get(Side::Bfl))?,
        ike_sa_ids(hosts.get(Side::Bfr))?,
    ];
    let r = hosts.get(me).rekey(None)?;
    ensure!(
        r.ok,
        "IKE_SA rekey after the restart failed: {}",
        tail(&r.output, 10)
    );
    if lenient {
        lenient_ike_rekeyed(ctx, hosts, me, spis, &ike_before)?;
    } else {
        ike_rekeyed(ctx, hosts, spis, &ike_before)?;
    }
    Ok(gap)
}

/// [`child_rekeyed`] for a lenient peer: iked's host holds four SAs without the old SPI, the
/// stream's SPI changed.
fn lenient_child_rekeyed(
    ctx: &Context,
    before: checks::TunnelSpis,
    me: Side,
) -> Result<(), LabError> {
    let old = before.from(me);
    let done = |v: &KernelView| {
        v.states(me).len() == 4 && !v.states(me).iter().any(|s| s.spi == Some(old))
    };
    let _ = wait_until("old CHILD_SA removed on iked's host", 20, || {
        Ok(done(&KernelView::read(&ctx.lab)?))
    });
    let view = KernelView::read(&ctx.lab)?;
    let after = tunnel_spis(&view, me, true)?;
    ensure!(
        done(&view) && after.from(me) != old,
        "iked's CHILD rekey: SPI {old:08x} before, {:08x} after, {} SAs on iked's host",
        after.from(me),
        view.states(me).len()
    );
    Ok(())
}

/// [`ike_rekeyed`] for a lenient peer: iked lists exactly one IKE SA, not the old one; the
/// peer lists a new one (it may keep an IKE SA it kept after INITIAL_CONTACT); the children's
/// SAs are untouched.
fn lenient_ike_rekeyed(
    ctx: &Context,
    hosts: &Hosts,
    me: Side,
    before: checks::TunnelSpis,
    ike_before: &[Vec<String>; 2],
) -> Result<(), LabError> {
    let idx = |s: Side| usize::from(s == Side::Bfr);
    let mut last = String::new();
    let settled = wait_until("a new IKE SA on both hosts", 20, || {
        let mine = ike_sa_ids(hosts.get(me))?;
        let theirs = ike_sa_ids(hosts.get(me.peer()))?;
        last = format!("iked {mine:?}, peer {theirs:?} (before {ike_before:?})");
        Ok(mine.len() == 1
            && !ike_before[idx(me)].contains(&mine[0])
            && theirs
                .iter()
                .any(|id| !ike_before[idx(me.peer())].contains(id)))
    });
    ensure!(settled.is_ok(), "after iked's IKE rekey: {last}");
    let after = tunnel_spis(&KernelView::read(&ctx.lab)?, me, true)?;
    ensure!(
        after == before,
        "the IKE rekey changed the children's SAs: {before:x?} -> {after:x?}"
    );
    Ok(())
}

/// Runs the corrupt-state row (module contract).
pub fn run_corrupt(
    sc: &Scenario,
    ctx: &Context,
    dir: &Path,
    hosts: &mut Hosts,
) -> Result<(), LabError> {
    let me = iked_side(sc);
    let peer = me.peer();
    bring_up(sc, ctx, hosts)?;
    let d = hosts.get_mut(me);
    let file = d.hand_over_file();
    // Hand over, then damage the state while no iked runs.
    d.hand_over();
    let mut bytes = std::fs::read(&file).map_err(|e| LabError::io(&file, e))?;
    ensure!(
        bytes.len() > 100,
        "hand-over file too short: {} bytes",
        bytes.len()
    );
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&file, &bytes).map_err(|e| LabError::io(&file, e))?;
    let watch = Stopwatch::start();
    d.respawn()?;
    d.wait_ready()?;
    let back = wait_until("iked recovering the tunnel cleanly", 30, || {
        let peer_sas = hosts.get(peer).list_sas()?.output;
        let iked_sas = hosts.get(me).list_sas()?.output;
        Ok(tunnel_listed(&peer_sas) && iked_sas.matches("INSTALLED").count() == 2)
    });
    let gap = watch.elapsed();
    let log = hosts.get(me).log_text();
    back.map_err(|_| {
        LabError::Check(format!(
            "the tunnel is not back after a corrupt state file; iked log: {}",
            tail(&log, 20)
        ))
    })?;
    ensure!(
        log.contains("hand-over state refused: state snapshot checksum mismatch (corrupt)"),
        "iked did not refuse the corrupt state clearly: {}",
        tail(&log, 15)
    );
    println!(
        "\n{}: corrupt state refused, tunnel re-established by clean recovery in {} ms",
        sc.id,
        gap.as_millis()
    );
    // Clean recovery means the refused instance's SAs go too: the sweep runs once
    // `--stale-grace` has passed, as after a crash.
    let swept = wait_until(
        "the earlier instance's SAs removed by the stale sweep",
        super::crash::SWEEP_WAIT_SECS,
        || {
            let v = KernelView::read(&ctx.lab)?;
            Ok(v.states(me).len() == 4 && v.states(peer).len() == 4)
        },
    );
    let view = KernelView::read(&ctx.lab)?;
    swept.map_err(|_| {
        LabError::Check(format!(
            "stale SAs after the sweep: {} on {}, {} on {}",
            view.states(me).len(),
            me.name(),
            view.states(peer).len(),
            peer.name()
        ))
    })?;
    let spis = checks::check_seed_tunnel(&view, &SEED_ESP)?;
    checks::check_traffic(&ctx.lab, dir, spis, super::TRAFFIC_COUNT).map(|_| ())
}
