//! NAT traversal scenarios: UDP encapsulation forced with `encap = yes` on one side.
//!
//! There is no NAT box in the lab: `encap = yes` makes that side send a random
//! NAT_DETECTION_SOURCE_IP hash (strongSwan's fake NAT), so the peer believes it sits behind a
//! NAT and both sides must switch IKE to port 4500 after IKE_SA_INIT (RFC 7296 2.23) and
//! install ESP-in-UDP SAs (RFC 3948).
//!
//! Contract: [`edit_config`] adds `encap = yes` to the forcing side's connection (and
//! `hw_offload = no` everywhere: packet offload cannot carry UDP-encapsulated ESP, and the point
//! here is the encapsulation); [`run`] brings the seed's tunnel up and asserts from outside the
//! daemons: IKE_SA_INIT on port 500 and IKE_AUTH on 4500 with the non-ESP marker on the wire,
//! all four SAs on both hosts with `encap espinudp 4500 4500`, the traffic through the tunnel
//! carried only as UDP-encapsulated ESP, both daemons listing the IKE SA on port 4500 and both
//! children as `TRANSPORT-in-UDP`, and a clean teardown.

use std::path::Path;

use super::{Context, Hosts, Scenario, TRAFFIC_COUNT, bring_up, tail};
use crate::checks::{self, KernelView};
use crate::netlab::wait_until;
use crate::swan_conf::{Side, SwanctlConf};
use crate::{LabError, ensure};

/// How `ip xfrm state` prints an SA with UDP encapsulation on the NAT-T port both ways.
pub const ENCAP_LINE: &str = "encap type espinudp sport 4500 dport 4500";

/// Adds `encap = yes` to the connection on the forcing side and turns offload off on both.
pub fn edit_config(conf: &mut SwanctlConf, side: Side, forced_by: Side) -> Result<(), LabError> {
    ensure!(
        conf.set_all("hw_offload", "no") > 0,
        "seed config has no hw_offload lines"
    );
    if side == forced_by {
        // `mobike = no` sits at connection level in the seed; put `encap` beside it.
        ensure!(
            conf.set_all("mobike", "no\n    encap = yes") == 1,
            "seed config has no single connection-level mobike line"
        );
    }
    Ok(())
}

/// Counts the SAs whose `ip xfrm state` block shows ESP-in-UDP on 4500 both ways.
pub fn encapsulated_states(xfrm_state_text: &str) -> usize {
    xfrm_state_text
        .lines()
        .filter(|l| l.trim_start().starts_with(ENCAP_LINE))
        .count()
}

/// What a tcpdump capture of the NAT-T handshake and traffic shows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NattWire {
    /// IKE_SA_INIT packets on port 500.
    pub init_on_500: usize,
    /// IKE_AUTH packets on port 4500 behind the non-ESP marker.
    pub auth_on_4500: usize,
    /// IKE packets on port 500 after IKE_SA_INIT (must be none).
    pub other_ike_on_500: usize,
    /// ESP packets inside UDP on 4500.
    pub esp_in_udp: usize,
    /// ESP packets not inside UDP (must be none).
    pub bare_esp: usize,
}

/// Classifies `tcpdump -n` lines (tcpdump 4.99 names ESP-in-UDP `UDP-encap: ESP(...)` and IKE
/// behind the non-ESP marker `NONESP-encap: isakmp: ...`).
pub fn summarize(lines: &[String]) -> NattWire {
    let mut w = NattWire::default();
    for line in lines {
        let on_port =
            |p: &str| line.contains(&format!(".{p} > ")) && line.contains(&format!(".{p}: "));
        if line.contains("ESP(spi=") {
            if line.contains("UDP-encap: ESP(") && on_port("4500") {
                w.esp_in_udp += 1;
            } else {
                w.bare_esp += 1;
            }
        } else if line.contains("isakmp") {
            if on_port("500") {
                if line.contains("ikev2_init") {
                    w.init_on_500 += 1;
                } else {
                    w.other_ike_on_500 += 1;
                }
            } else if on_port("4500")
                && line.contains("NONESP-encap")
                && line.contains("ikev2_auth")
            {
                w.auth_on_4500 += 1;
            }
        }
    }
    w
}

/// The scenario body (see the module contract).
pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &Hosts) -> Result<(), LabError> {
    let handshake = ctx
        .lab
        .start_capture(Side::Bfr, &dir.join("capture-handshake.txt"))?;
    let spis = bring_up(sc, ctx, hosts);
    let captured = handshake.finish()?;
    let spis = spis?;
    let wire = summarize(&captured.lines);
    ensure!(
        wire.init_on_500 >= 2 && wire.auth_on_4500 >= 2 && wire.other_ike_on_500 == 0,
        "handshake on the wire: {} IKE_SA_INIT on 500, {} IKE_AUTH on 4500 with the non-ESP \
         marker, {} other IKE on 500; want >= 2, >= 2, 0",
        wire.init_on_500,
        wire.auth_on_4500,
        wire.other_ike_on_500
    );
    for side in Side::BOTH {
        let text = ctx.lab.xfrm_state_text(side)?;
        let esp = KernelView::read(&ctx.lab)?.states(side).len();
        let encap = encapsulated_states(&text);
        ensure!(
            esp == 4 && encap == esp,
            "{}: {encap} of {esp} ESP SAs with `{ENCAP_LINE}` (want all 4)",
            side.name()
        );
        let l = hosts.get(side).list_sas()?;
        ensure!(
            l.ok && l.output.contains("[4500]"),
            "{} ({}) list-sas does not show the IKE SA on port 4500: {}",
            side.name(),
            hosts.get(side).implementation.label(),
            tail(&l.output, 12)
        );
        ensure!(
            l.output.matches("TRANSPORT-in-UDP").count() == 2,
            "{} ({}) list-sas does not show both children as TRANSPORT-in-UDP: {}",
            side.name(),
            hosts.get(side).implementation.label(),
            tail(&l.output, 12)
        );
    }
    checks::check_traffic(&ctx.lab, dir, spis, TRAFFIC_COUNT)?;
    let traffic = std::fs::read_to_string(dir.join("capture-bfr.txt")).unwrap_or_default();
    let lines: Vec<String> = traffic.lines().map(str::to_string).collect();
    let wire = summarize(&lines);
    ensure!(
        wire.bare_esp == 0 && wire.esp_in_udp as u32 >= TRAFFIC_COUNT,
        "traffic on the wire: {} ESP-in-UDP on 4500, {} bare ESP; want >= {TRAFFIC_COUNT} and 0",
        wire.esp_in_udp,
        wire.bare_esp
    );
    // Both daemons tear down cleanly from port 4500 too.
    let r = hosts.get(sc.initiator).terminate()?;
    ensure!(r.ok, "terminate failed: {}", tail(&r.output, 10));
    let _ = wait_until("kernels clean", 15, || {
        let v = KernelView::read(&ctx.lab)?;
        Ok(v.bfl_states.is_empty() && v.bfr_states.is_empty())
    });
    checks::check_clean(&KernelView::read(&ctx.lab)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn classifies_handshake_and_traffic() {
        // tcpdump 4.99 -n lines (the shape the lab VM prints).
        let w = summarize(&lines(
            "10:00:00.1 IP 192.168.50.1.500 > 192.168.50.2.500: isakmp: parent_sa ikev2_init[I]\n\
             10:00:00.2 IP 192.168.50.2.500 > 192.168.50.1.500: isakmp: parent_sa ikev2_init[R]\n\
             10:00:00.3 IP 192.168.50.1.4500 > 192.168.50.2.4500: NONESP-encap: isakmp: child_sa  ikev2_auth[I]\n\
             10:00:00.4 IP 192.168.50.2.4500 > 192.168.50.1.4500: NONESP-encap: isakmp: child_sa  ikev2_auth[R]\n\
             10:00:01.0 IP 192.168.50.1.4500 > 192.168.50.2.4500: UDP-encap: ESP(spi=0xc1234567,seq=0x1), length 88\n\
             10:00:01.1 IP 192.168.50.1 > 192.168.50.2: ESP(spi=0xc1234567,seq=0x2), length 80\n\
             10:00:01.2 IP 192.168.50.1.500 > 192.168.50.2.500: isakmp: child_sa  inf2[I]\n\
             10:00:02.0 IP 192.168.50.1 > 192.168.50.2: ICMP echo request, id 1, seq 1, length 64",
        ));
        assert_eq!(
            w,
            NattWire {
                init_on_500: 2,
                auth_on_4500: 2,
                other_ike_on_500: 1,
                esp_in_udp: 1,
                bare_esp: 1,
            }
        );
    }

    #[test]
    fn counts_only_states_encapsulated_on_4500() {
        let text = "src 192.168.50.1 dst 192.168.50.2\n\
                    \tproto esp spi 0xc1 reqid 1 mode transport\n\
                    \tencap type espinudp sport 4500 dport 4500 addr 0.0.0.0\n\
                    src 192.168.50.2 dst 192.168.50.1\n\
                    \tproto esp spi 0xc2 reqid 1 mode transport\n\
                    \tencap type espinudp sport 4500 dport 31000 addr 0.0.0.0\n\
                    src 192.168.50.2 dst 192.168.50.1\n\
                    \tproto esp spi 0xc3 reqid 1 mode transport\n";
        assert_eq!(encapsulated_states(text), 1);
    }

    #[test]
    fn encap_goes_to_the_forcing_side_only() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for side in Side::BOTH {
            let mut conf = SwanctlConf::load(ws, side).unwrap();
            edit_config(&mut conf, side, Side::Bfr).unwrap();
            assert_eq!(conf.text().contains("encap = yes"), side == Side::Bfr);
            assert!(!conf.text().contains("hw_offload = packet"));
            assert!(conf.text().contains("hw_offload = no"));
        }
    }
}
