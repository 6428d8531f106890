//! NVIDIA's ovs-monitor-ipsec guard (issue 15 §4, issue 16 §6): with `ipsec_skb_mark` the
//! monitor adds a connection made only of a drop shunt, `local_ts = 0.0.0.0/0 [udp/4789]`,
//! `mark_in = mark_out = <mark>`, `start_action = trap`, so that tunnel packets carrying the
//! mark never leave in clear text.
//!
//! Contract: [`edit_config`] adds that connection (mark `0x1/0x1`) to BFL's configuration.
//! [`run`] asserts, in the VM's kernel: the guard's three blocking, marked policies are there
//! before any IKE SA; a marked datagram from port 4789 is refused by the kernel while an
//! unmarked one leaves; then the seed's tunnel comes up and carries traffic only as ESP, and a
//! marked datagram now leaves too, through the tunnel (its IPsec policy outranks the drop
//! shunt, as in charon).

use std::path::Path;

use crate::netlab::{args, run_capture};
use crate::swan_conf::{Side, SwanctlConf};
use crate::{LabError, ensure};

use super::{Context, Hosts, Scenario};

/// The monitor's guard connection, as it writes it (with mark 0x1/0x1).
pub const GUARD: &str = "  shunts {
    children {
      prevent_unencrypted_vxlan {
        local_ts = 0.0.0.0/0 [udp/4789]
        mark_in = 0x1/0x1
        mark_out = 0x1/0x1
        mode = drop
        start_action = trap
      }
    }
  }
";

/// Adds the guard connection on BFL.
pub fn edit_config(conf: &mut SwanctlConf, side: Side) -> Result<(), LabError> {
    if side != Side::Bfl {
        return Ok(());
    }
    let text = conf.text();
    ensure!(
        text.matches("connections {\n").count() == 1,
        "seed config has no single `connections {{` line"
    );
    *conf = SwanctlConf::from_text(text.replacen(
        "connections {\n",
        &format!("connections {{\n{GUARD}"),
        1,
    ));
    Ok(())
}

/// Sends one datagram from BFL's 192.168.50.1:4789 to BFR's port 4789 with firewall mark
/// `mark`: true if the kernel let it out, false if a policy refused it (EPERM).
fn send_from_vxlan_port(ctx: &Context, mark: u32) -> Result<bool, LabError> {
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, 36, {mark})\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{}', 4789))\n\
         try:\n    s.sendto(b'guard', ('{}', 4789)); print('sent')\n\
         except PermissionError:\n    print('blocked')\n",
        Side::Bfl.addr(),
        Side::Bfr.addr()
    );
    let out = run_capture(
        &ctx.lab.ip.to_string_lossy(),
        &ctx.lab.in_ns(Side::Bfl, &args(&["python3", "-c", &script])),
        30,
    )?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(
        text.contains("sent") || text.contains("blocked"),
        "marked sender: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text.contains("sent"))
}

/// The scenario body (see the module contract).
pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &Hosts) -> Result<(), LabError> {
    let policies = ctx.lab.xfrm_policy_text(Side::Bfl)?;
    ensure!(
        policies.matches("action block").count() == 3
            && policies.matches("mark 0x1/0x1").count() == 3,
        "BFL: the guard's out/in/fwd drop policies with mark 0x1/0x1 are missing:\n{policies}"
    );
    ensure!(
        !send_from_vxlan_port(ctx, 1)?,
        "a marked VXLAN datagram left in clear text before the tunnel was up"
    );
    ensure!(
        send_from_vxlan_port(ctx, 0)?,
        "an unmarked datagram was refused: the guard must match the mark only"
    );
    super::seed(sc, ctx, dir, hosts)?;
    ensure!(
        send_from_vxlan_port(ctx, 1)?,
        "with the tunnel up a marked VXLAN datagram must leave through it"
    );
    Ok(())
}
