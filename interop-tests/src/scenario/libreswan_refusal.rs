//! What a Libreswan 5.2 user sees when iked refuses its certificate, where that differs from
//! charon (lab run 2026-12-07).
//!
//! Contract:
//! - [`check`]: Libreswan will not add a conn whose own certificate (`leftcert`) has expired
//!   ("left certificate 'host1' is expired or not yet valid"), so a Libreswan user cannot present
//!   an expired certificate to iked at all. For `iked-cert-expired-libreswan5` it asserts that:
//!   the initiation fails, pluto's log names the expiry, iked never saw an IKE_SA_INIT, and
//!   neither kernel holds anything.
//! - [`stop_reviving`]: after AUTHENTICATION_FAILED pluto revives the conn it was told to bring
//!   up ("connection is supposed to remain up; revival attempt 1"), and each attempt leaves an
//!   inbound larval SA (an allocated SPI) in its kernel; iked refuses every attempt. Before the
//!   "nothing installed" check the row takes the conns down (`whack --terminate`), as the user
//!   would, so that check covers what pluto keeps once it stops.

use crate::certs::CertCase;
use crate::{LabError, ensure};

use super::{Context, Hosts, KernelView, Libreswan, SEED_CHILDREN, Scenario, checks};

/// What pluto logs when it refuses to add a conn with an expired `leftcert`.
const EXPIRED_AT_LOAD: &str = "is expired or not yet valid";
/// What iked logs on a peer's IKE_SA_INIT.
const IKE_SA_INIT_SEEN: &str = "is initiating an IKE_SA";

/// Takes a Libreswan initiator's conns down after a refusal (see the module docs).
pub(super) fn stop_reviving(sc: &Scenario, ctx: &Context, hosts: &Hosts) -> Result<(), LabError> {
    if sc.implementation(sc.initiator) != Libreswan {
        return Ok(());
    }
    let r = hosts.get(sc.initiator).terminate()?;
    ensure!(
        r.ok,
        "whack --terminate after the refusal failed: {}",
        r.output
    );
    // A revival attempt in flight may hold its larval SA a moment longer: poll, bounded.
    checks::wait_clean(&ctx.lab, 15)
}

/// `None` when the row is not the Libreswan-refuses-at-load case.
pub(super) fn check(
    sc: &Scenario,
    ctx: &Context,
    hosts: &Hosts,
    case: CertCase,
) -> Option<Result<(), LabError>> {
    (case == CertCase::Expired && sc.implementation(sc.initiator) == Libreswan)
        .then(|| run(sc, ctx, hosts))
}

fn run(sc: &Scenario, ctx: &Context, hosts: &Hosts) -> Result<(), LabError> {
    let init = hosts.get(sc.initiator).initiate(&SEED_CHILDREN[..1])?;
    ensure!(!init.ok, "Libreswan initiated with an expired certificate");
    let pluto = hosts.get(sc.initiator).log_text();
    ensure!(
        pluto.contains(EXPIRED_AT_LOAD),
        "{} log (Libreswan) does not say the certificate {EXPIRED_AT_LOAD}",
        sc.initiator.name()
    );
    let verifier = sc.initiator.peer();
    ensure!(
        !hosts.get(verifier).log_text().contains(IKE_SA_INIT_SEEN),
        "{} (iked) saw an IKE_SA_INIT although Libreswan refused its conn",
        verifier.name()
    );
    // Give a late packet or install time to show up before asserting nothing is there.
    std::thread::sleep(std::time::Duration::from_secs(1));
    checks::check_clean(&KernelView::read(&ctx.lab)?)
}
