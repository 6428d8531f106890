//! COOKIE challenges (RFC 7296 2.6) demanded by iked as responder, answered by a real peer.
//!
//! Contract: iked runs on the responder with `cookie_threshold_ip = 1` ([`IKED_TUNING`]): a
//! source address that already holds one half-open IKE SA must present a cookie. [`run`]
//! leaves such an SA from the initiator's address with `lab-runner half-open` (a legitimate
//! IKE_SA_INIT that is answered and never followed by IKE_AUTH), then has the peer initiate
//! the seed: the peer's log must show the COOKIE notify it received (iked logs its COOKIE at
//! the NET level, which the lab's `--debug` leaves at 1), and the tunnel must come up with
//! traffic as in the seed row, so the peer retried with the cookie and iked accepted it.

use std::path::Path;

use crate::netlab::{args, run_ok};
use crate::{LabError, ensure};

use super::{Context, Hosts, Iked, Scenario, seed};

/// Wording of the peer logs for a received COOKIE: charon `received COOKIE notify`, Libreswan
/// names it `COOKIE` too.
const PEER_WORD: &str = "COOKIE";

/// iked's strongswan.conf in this scenario.
pub const IKED_TUNING: &str =
    "# written by the iked lab (scenario/cookie.rs)\ncharon {\n    cookie_threshold_ip = 1\n}\n";

/// Runs the scenario (see the module contract).
pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &Hosts) -> Result<(), LabError> {
    let peer_side = sc.initiator;
    let iked_side = peer_side.peer();
    ensure!(
        sc.implementation(iked_side) == Iked,
        "the cookie scenario needs iked as the responder"
    );
    let mut a = args(&[&ctx.lab.runner.to_string_lossy(), "half-open", "--local"]);
    a.push(peer_side.addr().into());
    a.push("--to".into());
    a.push(format!("{}:500", iked_side.addr()));
    run_ok(
        &ctx.lab.ip.to_string_lossy(),
        &ctx.lab.in_ns(peer_side, &a),
        30,
    )?;
    seed(sc, ctx, dir, hosts)?;
    let peer_log = hosts.get(peer_side).log_text();
    ensure!(
        peer_log.contains(PEER_WORD),
        "the peer's log ({}) shows no COOKIE: it did not retry with one",
        sc.implementation(peer_side).label()
    );
    Ok(())
}
