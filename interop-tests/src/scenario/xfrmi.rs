//! A route-based child through an XFRM interface (issue 16 §6): `if_id_in = if_id_out = 42`
//! on a tunnel-mode child between two inner subnets, an `ipsec0` XFRM interface with
//! `if_id 42` on `p0` in each host, and the peer's inner subnet routed through it.
//!
//! Contract: [`edit_config`] adds the child `xfrmi` (10.42.1.0/24 on BFL, 10.42.2.0/24 on BFR)
//! to both sides. [`run`] creates the interfaces, has the initiator start only that child,
//! asserts that both kernels hold its SAs and policies with `if_id 0x2a` (as charon installs
//! them), and that a ping between the inner addresses, routed through `ipsec0`, is answered
//! and crosses `p0` only as ESP. Polls, no fixed sleeps.

use std::path::Path;

use crate::netlab::{args, run_capture, run_ok, wait_until};
use crate::swan_conf::{Side, SwanctlConf};
use crate::{LabError, ensure};

use super::{Context, Hosts, Scenario, tail};

/// The interface id both sides use.
pub const IF_ID: u32 = 42;
/// The route-based child's name (the same on both sides).
pub const CHILD: &str = "xfrmi";

/// The inner address of `side` on its `ipsec0`, and its /24.
fn inner(side: Side) -> (&'static str, &'static str) {
    match side {
        Side::Bfl => ("10.42.1.1", "10.42.1.0/24"),
        Side::Bfr => ("10.42.2.1", "10.42.2.0/24"),
    }
}

/// Adds the route-based child to `side`'s configuration.
pub fn edit_config(conf: &mut SwanctlConf, side: Side) -> Result<(), LabError> {
    let text = conf.text();
    ensure!(
        text.matches("children {\n").count() == 1,
        "seed config has no single `children {{` line"
    );
    let child = format!(
        "{CHILD} {{\nlocal_ts = {}\nremote_ts = {}\nesp_proposals = aes128gcm128-x25519-esn\n\
         mode = tunnel\nif_id_in = {IF_ID}\nif_id_out = {IF_ID}\n}}\n",
        inner(side).1,
        inner(side.peer()).1
    );
    *conf =
        SwanctlConf::from_text(text.replacen("children {\n", &format!("children {{\n{child}"), 1));
    Ok(())
}

/// `ip -n <side> <rest>`.
fn ip(ctx: &Context, side: Side, rest: &[&str]) -> Result<String, LabError> {
    let mut a = args(&["-n", side.name()]);
    a.extend(args(rest));
    run_ok(&ctx.lab.ip.to_string_lossy(), &a, 20)
}

/// `ipsec0` (XFRM interface, `if_id 42`, on `p0`) with the inner address, and the peer's inner
/// subnet routed through it.
fn create_interface(ctx: &Context, side: Side) -> Result<(), LabError> {
    let id = IF_ID.to_string();
    ip(
        ctx,
        side,
        &[
            "link", "add", "ipsec0", "type", "xfrm", "dev", "p0", "if_id", &id,
        ],
    )?;
    let cidr = format!("{}/32", inner(side).0);
    ip(ctx, side, &["addr", "add", &cidr, "dev", "ipsec0"])?;
    ip(ctx, side, &["link", "set", "ipsec0", "up"])?;
    ip(
        ctx,
        side,
        &[
            "route",
            "add",
            inner(side.peer()).1,
            "dev",
            "ipsec0",
            "src",
            inner(side).0,
        ],
    )?;
    Ok(())
}

/// The scenario body (see the module contract).
pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &Hosts) -> Result<(), LabError> {
    for side in Side::BOTH {
        create_interface(ctx, side)?;
    }
    let init = hosts.get(sc.initiator).initiate(&[CHILD])?;
    ensure!(
        init.ok,
        "{} initiate --child {CHILD} failed: {}",
        sc.implementation(sc.initiator).label(),
        tail(&init.output, 15)
    );
    let marker = format!("if_id {IF_ID:#x}");
    wait_until("the child's SAs on both hosts", 15, || {
        Ok(Side::BOTH.iter().all(|s| {
            ctx.lab
                .xfrm_state_text(*s)
                .is_ok_and(|t| t.matches(&marker).count() >= 2)
        }))
    })?;
    for side in Side::BOTH {
        let states = ctx.lab.xfrm_state_text(side)?;
        ensure!(
            states.matches(&marker).count() == 2 && states.matches("mode tunnel").count() == 2,
            "{}: want 2 tunnel-mode SAs with {marker}:\n{states}",
            side.name()
        );
        let policies = ctx.lab.xfrm_policy_text(side)?;
        let with_id = policies
            .split("\nsrc ")
            .filter(|p| p.contains(&marker) && p.contains("10.42."))
            .count();
        ensure!(
            with_id >= 3,
            "{}: want the child's out/in/fwd policies with {marker}:\n{policies}",
            side.name()
        );
    }
    let capture = ctx
        .lab
        .start_capture(Side::Bfr, &dir.join("capture-bfr.txt"))?;
    let ping = run_capture(
        &ctx.lab.ip.to_string_lossy(),
        &ctx.lab.in_ns(
            Side::Bfl,
            &args(&[
                "ping",
                "-c",
                "3",
                "-i",
                "0.3",
                "-W",
                "3",
                "-I",
                inner(Side::Bfl).0,
                inner(Side::Bfr).0,
            ]),
        ),
        30,
    )?;
    let captured = capture.finish()?;
    ensure!(
        ping.status.success(),
        "ping {} -> {} through ipsec0 got no answer: {}",
        inner(Side::Bfl).0,
        inner(Side::Bfr).0,
        String::from_utf8_lossy(&ping.stdout)
    );
    let esp = captured.lines.iter().filter(|l| l.contains("ESP(")).count();
    let clear = captured
        .lines
        .iter()
        .filter(|l| l.contains("10.42.") && l.contains("ICMP"))
        .count();
    ensure!(
        esp >= 6 && clear == 0,
        "on p0: {esp} ESP packets (want >= 6, 3 echoes and 3 replies), {clear} clear inner ICMP"
    );
    let sas = hosts.get(sc.initiator).list_sas()?;
    ensure!(
        sas.output.contains(CHILD),
        "list-sas on the initiator lists no {CHILD}: {}",
        tail(&sas.output, 15)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_get_the_mirrored_route_based_child() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for side in Side::BOTH {
            let mut conf = SwanctlConf::load(&ws, side).unwrap();
            edit_config(&mut conf, side).unwrap();
            let t = conf.text();
            assert!(t.contains("if_id_in = 42\nif_id_out = 42\n"), "{t}");
            let want = format!(
                "local_ts = {}\nremote_ts = {}\n",
                inner(side).1,
                inner(side.peer()).1
            );
            assert!(t.contains(&want), "{t}");
        }
    }
}
