//! Dead peer detection by iked against a paused peer, for each `dpd_action`.
//!
//! Contract: iked (the initiator) gets `dpd_delay = 2s` and the child setting `dpd_action =
//! clear | trap | restart` ([`edit_config`]), and faster retransmits ([`IKED_TUNING`]: three
//! retransmits after 2 s, 3 s and 4.5 s, so a silent peer is declared dead within about half a
//! minute, not the default 165 s, while a peer slowed by TCG still answers the set-up). [`run`] brings the seed's tunnel up, pauses the peer (SIGSTOP), and waits
//! until iked lists no established IKE SA. Then, per action, what a user sees:
//! - `clear`: iked's kernel holds nothing; after the peer resumes (SIGCONT) iked stays down
//!   until initiated again, and once initiated traffic flows both ways;
//! - `trap`: iked's kernel holds no SA but trap policies; after the peer resumes, traffic from
//!   iked's side brings the child that carries it back, and datagrams cross;
//! - `restart`: the peer resumes at once; iked re-creates the tunnel by itself (all four SAs
//!   on its side) and traffic flows both ways.
//!
//! In every case iked ends with exactly one established IKE SA. The peer's stale state is not
//! asserted (Libreswan may keep an old IKE SA after INITIAL_CONTACT).

use std::time::Duration;

use crate::checks::{self, KernelView};
use crate::netlab::{VXLAN_PORT, signal, wait_until};
use crate::swan_conf::{Side, SwanctlConf};
use crate::{LabError, ensure};

use super::rekey_cmd::ike_sa_ids;
use super::{Context, Hosts, Iked, SEED_CHILDREN, Scenario, bring_up, tail};

/// The `dpd_action` under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Clear,
    Trap,
    Restart,
}

impl Action {
    fn keyword(self) -> &'static str {
        match self {
            Action::Clear => "clear",
            Action::Trap => "trap",
            Action::Restart => "restart",
        }
    }
}

/// iked's strongswan.conf in these scenarios: give up on a silent peer after about 25 s (two
/// retransmits with 1 s were too few for Libreswan's IKE_AUTH under TCG).
pub const IKED_TUNING: &str = "# written by the iked lab (scenario/dpd.rs)\ncharon {\n    \
     retransmit_tries = 3\n    retransmit_timeout = 2.0\n    retransmit_base = 1.5\n}\n";

/// Adds `dpd_delay = 2s` to the connection (after its `mobike` line) and `dpd_action` to every
/// child, on iked's side only.
pub fn edit_config(
    conf: &mut SwanctlConf,
    sc: &Scenario,
    side: Side,
    action: Action,
) -> Result<(), LabError> {
    if sc.implementation(side) != Iked {
        return Ok(());
    }
    let mut out = String::new();
    let mut added = 0;
    for line in conf.text().split_inclusive('\n') {
        out.push_str(line);
        let trimmed = line.trim_start();
        if trimmed.starts_with("mobike") && trimmed.contains('=') {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(&format!("{indent}dpd_delay = 2s\n"));
            added += 1;
        }
    }
    ensure!(added == 1, "seed config has {added} mobike lines (want 1)");
    *conf = SwanctlConf::from_text(out);
    ensure!(
        conf.add_to_children("dpd_action", action.keyword()) == 2,
        "seed config does not have two children"
    );
    Ok(())
}

/// Runs the scenario (see the module contract).
pub fn run(sc: &Scenario, ctx: &Context, hosts: &Hosts, action: Action) -> Result<(), LabError> {
    let iked_side = if sc.bfl == Iked { Side::Bfl } else { Side::Bfr };
    ensure!(
        iked_side == sc.initiator,
        "the DPD scenario needs iked as the initiator"
    );
    let peer = hosts.get(iked_side.peer());
    let pid = peer
        .pid()
        .ok_or_else(|| LabError::Setup("the peer has no process".into()))?;
    bring_up(sc, ctx, hosts)?;
    signal(pid, "STOP");
    let dead = wait_until("iked to declare the paused peer dead", 60, || {
        Ok(ike_sa_ids(hosts.get(iked_side))?.is_empty())
    });
    if let Err(e) = dead {
        signal(pid, "CONT");
        return Err(e);
    }
    let view = KernelView::read(&ctx.lab);
    if action == Action::Restart {
        signal(pid, "CONT");
    }
    let view = view?;
    match action {
        Action::Clear | Action::Restart => {}
        Action::Trap => {
            ensure!(
                view.states(iked_side).is_empty() && !view.policies(iked_side).is_empty(),
                "dpd_action = trap: iked's kernel holds {} SAs and {} policies (want no SA, \
                 trap policies)",
                view.states(iked_side).len(),
                view.policies(iked_side).len()
            );
        }
    }
    if action == Action::Clear {
        ensure!(
            view.states(iked_side).is_empty() && view.policies(iked_side).is_empty(),
            "dpd_action = clear: iked's kernel still holds {} SAs and {} policies",
            view.states(iked_side).len(),
            view.policies(iked_side).len()
        );
    }
    if action != Action::Restart {
        signal(pid, "CONT");
    }
    match action {
        Action::Clear => {
            // Nothing comes back by itself: still clean a moment after the peer resumed.
            std::thread::sleep(Duration::from_secs(2));
            let v = KernelView::read(&ctx.lab)?;
            ensure!(
                v.states(iked_side).is_empty(),
                "dpd_action = clear: iked re-created SAs by itself"
            );
            let init = hosts.get(iked_side).initiate(&SEED_CHILDREN)?;
            ensure!(
                init.ok,
                "re-initiating after the cleared DPD failed: {}",
                tail(&init.output, 10)
            );
            traffic_flows(ctx, &Side::BOTH)?;
        }
        Action::Trap => {
            // The first datagrams trigger the acquire; the child that carries them comes back.
            ctx.lab.udp_send(iked_side, VXLAN_PORT, 3, 200_000)?;
            wait_until("the trapped child to come back", 60, || {
                Ok(installed(&KernelView::read(&ctx.lab)?, iked_side) >= 2)
            })?;
            traffic_flows(ctx, &[iked_side])?;
        }
        Action::Restart => {
            wait_until("iked to restart the tunnel", 60, || {
                Ok(installed(&KernelView::read(&ctx.lab)?, iked_side) == 4)
            })?;
            traffic_flows(ctx, &Side::BOTH)?;
        }
    }
    let ids = ike_sa_ids(hosts.get(iked_side))?;
    ensure!(
        ids.len() == 1,
        "iked lists {} established IKE SAs after recovering (want 1): {ids:?}",
        ids.len()
    );
    Ok(())
}

/// SAs on `side` that carry traffic: not counting the larval state (SPI 0) the kernel holds
/// while an acquire is negotiated, during which packets are dropped. An outbound SA is
/// required, so traffic is only sent once the child is installed in both directions.
fn installed(view: &KernelView, side: Side) -> usize {
    let real = || {
        view.states(side)
            .iter()
            .filter(|s| s.spi.is_some_and(|spi| spi != 0))
    };
    if real().any(|s| s.src == side.addr()) {
        real().count()
    } else {
        0
    }
}

/// Datagrams from each of `from` to its peer's UDP/4789 all arrive.
fn traffic_flows(ctx: &Context, from: &[Side]) -> Result<(), LabError> {
    const COUNT: u32 = 5;
    for side in from {
        let rx =
            ctx.lab
                .start_udp_receiver(side.peer(), VXLAN_PORT, COUNT, checks::RECEIVE_IDLE_MS)?;
        ctx.lab.udp_send(*side, VXLAN_PORT, COUNT, 2000)?;
        let got = rx.finish()?;
        ensure!(
            got.distinct == COUNT,
            "{} -> {} udp/4789: {} of {COUNT} datagrams after recovery (missing {:?})",
            side.name(),
            side.peer().name(),
            got.distinct,
            got.missing
        );
    }
    Ok(())
}
