//! `hw_offload = packet` on both ends of the veth (strongSwan 6 knows the keyword as iked
//! does): neither kernel can offload to a veth, so both must refuse the child.
//!
//! Contract: both hosts' children carry `hw_offload = packet` ([`offload_setting`]). [`run`]
//! initiates the first child and asserts what a user sees on each end: the initiation fails,
//! neither kernel holds an SA or policy afterwards (nothing half-installed), and each daemon
//! says why: iked that the kernel refused the child (in `ikectl initiate`'s result or its
//! log), charon that it could not install the SAs or that the peer refused the child. What
//! each reported is written to `offload-report.txt` in the scenario's directory.

use std::path::Path;

use crate::checks;
use crate::daemon::Implementation;
use crate::swan_conf::Side;
use crate::{LabError, ensure};

use super::{Context, Hosts, Iked, SEED_CHILDREN, Scenario, tail};

/// The `hw_offload` value every child of this scenario gets.
pub fn offload_setting() -> &'static str {
    "packet"
}

/// Log or command words by which each implementation reports the refusal.
fn refusal_words(implementation: Implementation) -> &'static [&'static str] {
    match implementation {
        // Its own kernel's refusal, or the peer's NO_PROPOSAL_CHOSEN when the peer refused first
        // (charon 6 as responder answers IKE_AUTH with a bare NO_PROP: "peer sent error notify
        // NO_PROP").
        Iked => &["kernel refused", "NO_PROP"],
        _ => &[
            "failed to configure HW offload",
            "unable to install",
            "failed to install",
            "NO_PROP",
        ],
    }
}

/// Runs the scenario (see the module contract).
pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &Hosts) -> Result<(), LabError> {
    let init = hosts.get(sc.initiator).initiate(&SEED_CHILDREN[..1])?;
    ensure!(
        !init.ok,
        "initiate succeeded although hw_offload = packet cannot work on a veth"
    );
    checks::wait_clean(&ctx.lab, 15)?;
    let mut report = String::new();
    for side in Side::BOTH {
        let d = hosts.get(side);
        let mut said = d.log_text();
        if side == sc.initiator {
            said.push_str(&init.output);
        }
        let lines: Vec<&str> = said
            .lines()
            .filter(|l| {
                refusal_words(d.implementation)
                    .iter()
                    .any(|w| l.contains(w))
            })
            .collect();
        report.push_str(&format!(
            "== {} ({}):\n{}\n",
            side.name(),
            d.implementation.label(),
            lines.join("\n")
        ));
        ensure!(
            !lines.is_empty(),
            "{} ({}) does not report the refused offload (looked for {:?}): {}",
            side.name(),
            d.implementation.label(),
            refusal_words(d.implementation),
            tail(&said, 8)
        );
    }
    let path = dir.join("offload-report.txt");
    std::fs::write(&path, report).map_err(|e| LabError::io(&path, e))
}
