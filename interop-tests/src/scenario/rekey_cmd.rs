//! CHILD and IKE SA rekeys started on command by either side while a datagram stream flows.
//!
//! Contract: [`run`] brings up the seed's tunnel, starts a stream of numbered UDP/4789
//! datagrams from `by` to its peer, and while it flows makes `by` rekey (`swanctl --rekey`,
//! `ikectl rekey`, `whack --rekey-child` / `--rekey-ike`) either its `bf-out` CHILD_SA (the
//! one the stream uses: each host names its children after its own direction) or the IKE SA. It then asserts: every datagram arrived (zero lost); for a
//! CHILD rekey, both hosts end with the seed's four SAs, the stream's SPI changed and the old
//! one is gone from both kernels; for an IKE rekey, both daemons end with exactly one
//! established IKE SA that is not the one they had before (its SPIs, or Libreswan's serial
//! number, changed), and the children's SAs are untouched.

use std::path::Path;
use std::time::Duration;

use crate::checks::{self, KernelView, SEED_ESP};
use crate::daemon::{Daemon, Implementation};
use crate::netlab::{VXLAN_PORT, wait_until};
use crate::swan_conf::Side;
use crate::{LabError, ensure};

use super::{Context, Hosts, Scenario, bring_up, tail};

/// What is rekeyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The `bf-out` CHILD_SA.
    Child,
    /// The IKE SA.
    Ike,
}

/// The child rekeyed by [`Target::Child`], by the rekeying side's name: it carries the stream.
const CHILD: &str = "bf-out";
/// Datagrams in the stream and the gap between them: long enough (seconds under TCG) for the
/// rekey to happen in the middle.
const COUNT: u32 = 1500;
const INTERVAL_US: u64 = 3000;

/// Runs the scenario (see the module contract).
pub fn run(
    sc: &Scenario,
    ctx: &Context,
    _dir: &Path,
    hosts: &Hosts,
    by: Side,
    target: Target,
) -> Result<(), LabError> {
    let before = bring_up(sc, ctx, hosts)?;
    let ike_before = [
        ike_sa_ids(hosts.get(Side::Bfl))?,
        ike_sa_ids(hosts.get(Side::Bfr))?,
    ];
    let rx = ctx
        .lab
        .start_udp_receiver(by.peer(), VXLAN_PORT, COUNT, 8000)?;
    let rekeyed = std::thread::scope(|s| {
        let sender = s.spawn(|| ctx.lab.udp_send(by, VXLAN_PORT, COUNT, INTERVAL_US));
        // Let the stream start on the old SAs first.
        std::thread::sleep(Duration::from_secs(1));
        let r = hosts.get(by).rekey(match target {
            Target::Child => Some(CHILD),
            Target::Ike => None,
        });
        let sent = sender
            .join()
            .unwrap_or_else(|_| Err(LabError::Setup("sender thread panicked".into())));
        sent.and(r)
    })?;
    ensure!(
        rekeyed.ok,
        "{} rekey failed: {}",
        hosts.get(by).implementation.label(),
        tail(&rekeyed.output, 10)
    );
    let got = rx.finish()?;
    ensure!(
        got.distinct == COUNT && got.malformed == 0,
        "{} of {COUNT} datagrams crossed the rekey ({} malformed, missing {:?})",
        got.distinct,
        got.malformed,
        got.missing
    );
    match target {
        Target::Child => child_rekeyed(ctx, before, by),
        Target::Ike => ike_rekeyed(ctx, hosts, before, &ike_before),
    }
}

pub(super) fn child_rekeyed(
    ctx: &Context,
    before: checks::TunnelSpis,
    by: Side,
) -> Result<(), LabError> {
    let old = before.from(by);
    let gone = |v: &KernelView| {
        Side::BOTH.iter().all(|side| {
            v.states(*side).len() == 4 && !v.states(*side).iter().any(|s| s.spi == Some(old))
        })
    };
    let _ = wait_until("old CHILD_SA removed", 20, || {
        Ok(gone(&KernelView::read(&ctx.lab)?))
    });
    let view = KernelView::read(&ctx.lab)?;
    let after = checks::check_seed_tunnel(&view, &SEED_ESP)?;
    ensure!(
        after.from(by) != old && gone(&view),
        "{} -> peer SPI {old:08x} before, {:08x} after: the rekeyed CHILD_SA's old SAs must be \
         gone",
        by.name(),
        after.from(by)
    );
    Ok(())
}

pub(super) fn ike_rekeyed(
    ctx: &Context,
    hosts: &Hosts,
    before: checks::TunnelSpis,
    ike_before: &[Vec<String>; 2],
) -> Result<(), LabError> {
    let mut last = Vec::new();
    let settled = wait_until("one new IKE SA on both hosts", 20, || {
        last.clear();
        for (i, side) in Side::BOTH.iter().enumerate() {
            let ids = ike_sa_ids(hosts.get(*side))?;
            let fresh = ids.len() == 1 && !ike_before[i].contains(&ids[0]);
            last.push(format!(
                "{}: {ids:?} (before {:?})",
                side.name(),
                ike_before[i]
            ));
            if !fresh {
                return Ok(false);
            }
        }
        Ok(true)
    });
    ensure!(
        settled.is_ok(),
        "after the IKE rekey want exactly one established IKE SA per host, not the old one: {}",
        last.join("; ")
    );
    let after = checks::check_seed_tunnel(&KernelView::read(&ctx.lab)?, &SEED_ESP)?;
    ensure!(
        after == before,
        "the IKE rekey changed the children's SAs: {before:x?} -> {after:x?}"
    );
    Ok(())
}

/// The established IKE SAs a daemon lists, each named by what changes on a rekey: its SPI pair
/// (`swanctl --list-sas`, `ikectl list-sas`: `NAME: #n, ESTABLISHED, IKEv2, SPIi_i SPIr_r`),
/// or its serial number (Libreswan's `whack --showstates`: `#n: "conn" ... ESTABLISHED_IKE_SA`).
pub fn ike_sa_ids(d: &Daemon) -> Result<Vec<String>, LabError> {
    let l = d.list_sas()?;
    ensure!(
        l.ok,
        "{} list-sas failed: {}",
        d.implementation.label(),
        tail(&l.output, 5)
    );
    Ok(parse_ike_sa_ids(d.implementation, &l.output))
}

fn parse_ike_sa_ids(implementation: Implementation, out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|line| match implementation {
            Implementation::Libreswan => line
                .contains("ESTABLISHED_IKE_SA")
                .then(|| line.split(':').next().map(|s| s.trim().to_string()))
                .flatten(),
            _ => line.contains(", ESTABLISHED,").then(|| {
                line.split_whitespace()
                    .filter(|w| {
                        w.ends_with("_i")
                            || w.ends_with("_i*")
                            || w.ends_with("_r")
                            || w.ends_with("_r*")
                    })
                    .map(|w| w.trim_end_matches('*'))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_sas_are_named_by_spis_or_serial() {
        let swan = "BFL-BFR: #2, ESTABLISHED, IKEv2, 0011223344556677_i* 8899aabbccddeeff_r\n  \
                    local  'host1' @ 192.168.50.1[500]\n  bf-in: #3, reqid 1, INSTALLED, TRANSPORT\n";
        assert_eq!(
            parse_ike_sa_ids(Implementation::StrongSwan6, swan),
            ["0011223344556677_i 8899aabbccddeeff_r"]
        );
        let lsw = "#1: \"bf-in\":500 ESTABLISHED_IKE_SA (established IKE SA); REKEY in 1s\n\
                   #2: \"bf-in\":500 ESTABLISHED_CHILD_SA (established Child SA); newest\n\
                   #3: \"bf-out\":500 ESTABLISHED_CHILD_SA (established Child SA)\n";
        assert_eq!(parse_ike_sa_ids(Implementation::Libreswan, lsw), ["#1"]);
        assert!(parse_ike_sa_ids(Implementation::Iked, "no SAs\n").is_empty());
    }
}
