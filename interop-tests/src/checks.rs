//! Assertions made from outside the daemons: kernel SA/policy state on both hosts, ESP on the
//! wire, and datagrams delivered through the tunnel.
//!
//! Contract: every check returns `Err(LabError::Check(..))` with a message that says what was
//! expected and what was found; pure checks take parsed data so they are unit-tested without a
//! VM.

use std::collections::{BTreeMap, BTreeSet};

use crate::LabError;
use crate::ensure;
use crate::netlab::{Lab, VXLAN_PORT, wait_until};
use crate::swan_conf::Side;
use crate::xfrm_text::{Selector, XfrmPolicy, XfrmState};

/// The ESP transform the seed negotiates (`aes128gcm128-x25519-esn`) as the kernel names it.
#[derive(Debug, Clone)]
pub struct ExpectedEsp {
    pub aead: &'static str,
    /// 128-bit AES key + 32-bit salt.
    pub key_bits: usize,
    pub icv_bits: u32,
    pub esn: bool,
    pub mode: &'static str,
}

/// The seed's ESP: AES-GCM-16 with a 128-bit key, ESN, transport mode.
pub const SEED_ESP: ExpectedEsp = ExpectedEsp {
    aead: "rfc4106(gcm(aes))",
    key_bits: 160,
    icv_bits: 128,
    esn: true,
    mode: "transport",
};

/// Kernel state of both hosts at one moment.
#[derive(Debug, Clone, Default)]
pub struct KernelView {
    pub bfl_states: Vec<XfrmState>,
    pub bfr_states: Vec<XfrmState>,
    pub bfl_policies: Vec<XfrmPolicy>,
    pub bfr_policies: Vec<XfrmPolicy>,
}

impl KernelView {
    /// Reads ESP SAs and IPsec policies of both namespaces.
    pub fn read(lab: &Lab) -> Result<Self, LabError> {
        Ok(Self {
            bfl_states: lab.esp_states(Side::Bfl)?,
            bfr_states: lab.esp_states(Side::Bfr)?,
            bfl_policies: lab.ipsec_policies(Side::Bfl)?,
            bfr_policies: lab.ipsec_policies(Side::Bfr)?,
        })
    }

    /// SAs of one side.
    pub fn states(&self, side: Side) -> &[XfrmState] {
        match side {
            Side::Bfl => &self.bfl_states,
            Side::Bfr => &self.bfr_states,
        }
    }

    /// Policies of one side.
    pub fn policies(&self, side: Side) -> &[XfrmPolicy] {
        match side {
            Side::Bfl => &self.bfl_policies,
            Side::Bfr => &self.bfr_policies,
        }
    }
}

/// The SPIs that carry each direction of the seed's VXLAN traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelSpis {
    /// SA carrying BFL -> BFR:4789.
    pub bfl_to_bfr: u32,
    /// SA carrying BFR -> BFL:4789.
    pub bfr_to_bfl: u32,
}

impl TunnelSpis {
    /// The SPI of the SA carrying `from` -> its peer:4789: the SA of `from`'s own `bf-out`
    /// child (each host names its children after its own direction).
    pub fn from(&self, from: Side) -> u32 {
        match from {
            Side::Bfl => self.bfl_to_bfr,
            Side::Bfr => self.bfr_to_bfl,
        }
    }
}

fn host32(side: Side) -> String {
    format!("{}/32", side.addr())
}

/// The selectors the seed's two children must produce on `side`'s outbound policies: VXLAN to
/// the peer (`bf-out`) and replies from the local VXLAN port (`bf-in`), narrowed to the hosts'
/// addresses as strongSwan does in transport mode.
pub fn seed_out_selectors(side: Side) -> BTreeSet<Selector> {
    let base = Selector {
        src: host32(side),
        dst: host32(side.peer()),
        proto: Some("udp".into()),
        sport: None,
        dport: None,
    };
    BTreeSet::from([
        Selector {
            dport: Some(VXLAN_PORT),
            ..base.clone()
        },
        Selector {
            sport: Some(VXLAN_PORT),
            ..base
        },
    ])
}

/// Checks that the seed's two CHILD_SAs are installed consistently on both hosts and returns
/// the SPIs used by VXLAN traffic. Asserts: two SA pairs per host; same SPIs, algorithm, key
/// length, ICV, mode and ESN on both hosts; per host, each reqid pairs one inbound with one
/// outbound SA and with one `in` and one `out` policy whose template matches; each host's
/// outbound selectors are the seed's and equal the peer's inbound selectors.
pub fn check_seed_tunnel(view: &KernelView, esp: &ExpectedEsp) -> Result<TunnelSpis, LabError> {
    let mut spis = TunnelSpis {
        bfl_to_bfr: 0,
        bfr_to_bfl: 0,
    };
    for side in Side::BOTH {
        let states = view.states(side);
        ensure!(
            states.len() == 4,
            "{}: expected 4 ESP SAs (2 CHILD_SAs), found {}: {:?}",
            side.name(),
            states.len(),
            states.iter().map(|s| s.spi).collect::<Vec<_>>()
        );
        for sa in states {
            ensure!(
                sa.mode == esp.mode,
                "{}: SA {:08x?} mode {} (want {})",
                side.name(),
                sa.spi,
                sa.mode,
                esp.mode
            );
            ensure!(
                sa.has_esn() == esp.esn,
                "{}: SA {:08x?} ESN flag {} (want {})",
                side.name(),
                sa.spi,
                sa.has_esn(),
                esp.esn
            );
            let alg = sa.algorithms.first();
            ensure!(
                sa.algorithms.len() == 1
                    && alg.is_some_and(|a| a.name == esp.aead
                        && a.key_bits == esp.key_bits
                        && a.icv_bits == Some(esp.icv_bits)),
                "{}: SA {:08x?} algorithms {:?} (want {} {} bits ICV {})",
                side.name(),
                sa.spi,
                sa.algorithms,
                esp.aead,
                esp.key_bits,
                esp.icv_bits
            );
            ensure!(sa.spi.is_some(), "{}: SA without SPI", side.name());
        }
        check_reqid_pairing(side, states, view.policies(side))?;
    }
    // Same SAs on both ends: (src, dst, spi) and the algorithm.
    let key = |s: &XfrmState| (s.src.clone(), s.dst.clone(), s.spi, s.algorithms.clone());
    let left: BTreeSet<_> = view.bfl_states.iter().map(key).collect();
    let right: BTreeSet<_> = view.bfr_states.iter().map(key).collect();
    ensure!(
        left == right,
        "SAs differ between hosts: only on bfl {:?}, only on bfr {:?}",
        left.difference(&right).map(|k| k.2).collect::<Vec<_>>(),
        right.difference(&left).map(|k| k.2).collect::<Vec<_>>()
    );
    // Selectors: ours out == peer's in, and both are the seed's.
    for side in Side::BOTH {
        let outs = selectors(view.policies(side), "out");
        let peer_ins = selectors(view.policies(side.peer()), "in");
        ensure!(
            outs == seed_out_selectors(side),
            "{}: outbound policy selectors {:?}, want the seed's {:?}",
            side.name(),
            outs,
            seed_out_selectors(side)
        );
        ensure!(
            outs == peer_ins,
            "{} out selectors {:?} != {} in selectors {:?}",
            side.name(),
            outs,
            side.peer().name(),
            peer_ins
        );
        // The SA that carries VXLAN from `side`: reqid of the out policy with dport 4789.
        let spi = vxlan_out_spi(side, view)?;
        match side {
            Side::Bfl => spis.bfl_to_bfr = spi,
            Side::Bfr => spis.bfr_to_bfl = spi,
        }
    }
    Ok(spis)
}

fn selectors(policies: &[XfrmPolicy], dir: &str) -> BTreeSet<Selector> {
    policies
        .iter()
        .filter(|p| p.dir == dir)
        .map(|p| p.selector.clone())
        .collect()
}

/// On `side`, the SPI of the outbound SA that the `dport 4789` policy uses.
pub fn vxlan_out_spi(side: Side, view: &KernelView) -> Result<u32, LabError> {
    let pol = view
        .policies(side)
        .iter()
        .find(|p| p.dir == "out" && p.selector.dport == Some(VXLAN_PORT))
        .ok_or_else(|| LabError::Check(format!("{}: no out policy for dport 4789", side.name())))?;
    let reqid = pol.templates.first().and_then(|t| t.reqid);
    view.states(side)
        .iter()
        .find(|s| s.src == side.addr() && s.reqid == reqid && reqid.is_some())
        .and_then(|s| s.spi)
        .ok_or_else(|| {
            LabError::Check(format!(
                "{}: no outbound SA with the dport-4789 policy's reqid {reqid:?}",
                side.name()
            ))
        })
}

/// Per host: SAs grouped by reqid are one inbound + one outbound, and each reqid has exactly one
/// `in` and one `out` policy whose ESP template is in the expected mode.
pub fn check_reqid_pairing(
    side: Side,
    states: &[XfrmState],
    policies: &[XfrmPolicy],
) -> Result<(), LabError> {
    let mut by_reqid: BTreeMap<Option<u32>, (u32, u32)> = BTreeMap::new();
    for sa in states {
        let e = by_reqid.entry(sa.reqid).or_default();
        if sa.src == side.addr() {
            e.1 += 1;
        } else if sa.dst == side.addr() {
            e.0 += 1;
        }
    }
    for (reqid, (ins, outs)) in &by_reqid {
        ensure!(
            reqid.is_some_and(|r| r != 0) && *ins == 1 && *outs == 1,
            "{}: reqid {reqid:?} has {ins} inbound and {outs} outbound SAs (want 1 + 1)",
            side.name()
        );
        for dir in ["in", "out"] {
            let matching: Vec<_> = policies
                .iter()
                .filter(|p| p.dir == dir && p.templates.iter().any(|t| t.reqid == *reqid))
                .collect();
            ensure!(
                matching.len() == 1,
                "{}: reqid {reqid:?} has {} `{dir}` policies (want 1)",
                side.name(),
                matching.len()
            );
            let t = &matching[0].templates[0];
            ensure!(
                t.proto == "esp" && t.mode == "transport",
                "{}: policy template {t:?} is not ESP transport",
                side.name()
            );
        }
    }
    Ok(())
}

/// How long a traffic check's receiver waits for the next datagram (see [`check_traffic`]).
pub const RECEIVE_IDLE_MS: u64 = 10_000;

/// Both hosts have no ESP SA and no IPsec policy left (per-socket bypass policies excepted).
pub fn check_clean(view: &KernelView) -> Result<(), LabError> {
    for side in Side::BOTH {
        ensure!(
            view.states(side).is_empty() && view.policies(side).is_empty(),
            "{}: expected no IPsec state, found SAs {:?} and policies {:?}",
            side.name(),
            view.states(side).iter().map(|s| s.spi).collect::<Vec<_>>(),
            view.policies(side)
                .iter()
                .map(|p| format!("{} {}", p.dir, p.selector))
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// Waits until both kernels are clean (e.g. after a DELETE), failing with the last state.
pub fn wait_clean(lab: &Lab, secs: u64) -> Result<(), LabError> {
    let waited = wait_until("both kernels clean", secs, || {
        Ok(check_clean(&KernelView::read(lab)?).is_ok())
    });
    match waited {
        Ok(()) => Ok(()),
        Err(_) => check_clean(&KernelView::read(lab)?),
    }
}

/// What tcpdump saw, by kind of packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireSummary {
    /// ESP packets per SPI.
    pub esp_by_spi: BTreeMap<u32, u32>,
    /// UDP packets to or from port 4789 seen in clear text.
    pub clear_vxlan: u32,
    /// ICMP echo requests seen in clear text.
    pub clear_icmp_echo: u32,
}

/// Summarises tcpdump `-nn` lines.
pub fn summarize_capture(lines: &[String]) -> WireSummary {
    let mut s = WireSummary::default();
    for line in lines {
        if let Some(rest) = line.split("ESP(spi=0x").nth(1) {
            let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
            if let Ok(spi) = u32::from_str_radix(&hex, 16) {
                *s.esp_by_spi.entry(spi).or_default() += 1;
            }
        } else if line.contains("ICMP echo request") {
            s.clear_icmp_echo += 1;
        } else if line.contains(&format!(".{VXLAN_PORT}:"))
            || line.contains(&format!(".{VXLAN_PORT} >"))
        {
            s.clear_vxlan += 1;
        }
    }
    s
}

/// Sends numbered datagrams both ways on port 4789 and one ICMP echo, capturing on BFR's link,
/// and asserts: every datagram delivered intact, each direction seen as ESP with the expected SPI
/// (at least `count` packets), no VXLAN in clear text, ICMP (outside the selectors) in clear.
pub fn check_traffic(
    lab: &Lab,
    dir: &std::path::Path,
    spis: TunnelSpis,
    count: u32,
) -> Result<WireSummary, LabError> {
    let capture = lab.start_capture(Side::Bfr, &dir.join("capture-bfr.txt"))?;
    check_traffic_on(lab, capture, spis, count, false)
}

/// [`check_traffic`] with a capture on BFR's link started earlier (a row that starts it while
/// the daemons start saves its start-up); `both_at_once` sends both directions at the same
/// time (each still checked on its own receiver and SPI).
pub fn check_traffic_on(
    lab: &Lab,
    capture: crate::netlab::Capture,
    spis: TunnelSpis,
    count: u32,
    both_at_once: bool,
) -> Result<WireSummary, LabError> {
    let mut results = Vec::new();
    if both_at_once {
        let receivers = Side::BOTH
            .map(|from| lab.start_udp_receiver(from.peer(), VXLAN_PORT, count, RECEIVE_IDLE_MS));
        let [r0, r1] = receivers;
        let (r0, r1) = (r0?, r1?);
        let sent = std::thread::scope(|s| {
            let other = s.spawn(|| lab.udp_send(Side::BOTH[1], VXLAN_PORT, count, 2000));
            let first = lab.udp_send(Side::BOTH[0], VXLAN_PORT, count, 2000);
            (first, other.join())
        });
        sent.0?;
        sent.1
            .map_err(|_| LabError::Setup("udp sender thread panicked".into()))??;
        results.push((Side::BOTH[0], r0.finish()?));
        results.push((Side::BOTH[1], r1.finish()?));
    } else {
        for from in Side::BOTH {
            // The idle time starts when the receiver is bound, before the sender process
            // starts: under TCG on a loaded host that start took over 3 s, and the receiver
            // gave up on datagrams that then crossed the tunnel (seen decrypted in the peer's
            // SA counters).
            let rx = lab.start_udp_receiver(from.peer(), VXLAN_PORT, count, RECEIVE_IDLE_MS)?;
            lab.udp_send(from, VXLAN_PORT, count, 2000)?;
            results.push((from, rx.finish()?));
        }
    }
    for (from, got) in results {
        ensure!(
            got.distinct == count && got.malformed == 0,
            "{} -> {} udp/4789: {} of {count} datagrams delivered ({} malformed, missing {:?})",
            from.name(),
            from.peer().name(),
            got.distinct,
            got.malformed,
            got.missing
        );
    }
    let pinged = lab.ping(Side::Bfl)?;
    let captured = capture.finish()?;
    let wire = summarize_capture(&captured.lines);
    ensure!(pinged, "ICMP echo bfl -> bfr got no reply");
    for (what, spi) in [("bfl->bfr", spis.bfl_to_bfr), ("bfr->bfl", spis.bfr_to_bfl)] {
        let n = wire.esp_by_spi.get(&spi).copied().unwrap_or(0);
        // A packet the kernel dropped before tcpdump read it still crossed the link.
        ensure!(
            u64::from(n) + captured.dropped >= u64::from(count) && n > 0,
            "{what}: {n} ESP packets with SPI {spi:08x} on the wire ({} dropped by the capture), \
             want {count} (seen {:x?})",
            captured.dropped,
            wire.esp_by_spi
        );
    }
    ensure!(
        wire.clear_vxlan == 0,
        "{} UDP/4789 packets crossed the link in clear text",
        wire.clear_vxlan
    );
    ensure!(
        wire.clear_icmp_echo >= 1,
        "ICMP echo (not selected by the seed's [udp] selectors) was not seen in clear text"
    );
    Ok(wire)
}

/// The IKE SA header lines of a `list-sas` text (`name: #n, STATE, IKEv2, ...`; charon's and
/// iked's text alike): one per IKE SA, in any state.
pub fn ike_sa_headers(list: &str) -> impl Iterator<Item = &str> {
    list.lines()
        .filter(|l| !l.starts_with(' ') && l.contains(": #") && l.contains("IKEv2"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xfrm_text::{PolicyTemplate, XfrmAlgorithm};

    fn sa(src: Side, spi: u32, reqid: u32) -> XfrmState {
        XfrmState {
            src: src.addr().into(),
            dst: src.peer().addr().into(),
            proto: "esp".into(),
            spi: Some(spi),
            reqid: Some(reqid),
            mode: "transport".into(),
            flags: vec!["esn".into()],
            algorithms: vec![XfrmAlgorithm {
                kind: "aead".into(),
                name: "rfc4106(gcm(aes))".into(),
                key_bits: 160,
                icv_bits: Some(128),
            }],
            ..XfrmState::default()
        }
    }

    fn pol(dir: &str, sel: Selector, reqid: u32) -> XfrmPolicy {
        XfrmPolicy {
            selector: sel,
            dir: dir.into(),
            priority: Some(1),
            templates: vec![PolicyTemplate {
                src: "0.0.0.0".into(),
                dst: "0.0.0.0".into(),
                proto: "esp".into(),
                spi: None,
                reqid: Some(reqid),
                mode: "transport".into(),
            }],
            offload: None,
        }
    }

    fn reverse(s: &Selector) -> Selector {
        Selector {
            src: s.dst.clone(),
            dst: s.src.clone(),
            proto: s.proto.clone(),
            sport: s.dport,
            dport: s.sport,
        }
    }

    /// A consistent seed tunnel: child A (bfl->bfr:4789) reqid 1/7, child B (bfr->bfl:4789)
    /// reqid 2/8 (reqids differ between hosts, as they may).
    fn good_view() -> KernelView {
        let a_out = Selector {
            src: "192.168.50.1/32".into(),
            dst: "192.168.50.2/32".into(),
            proto: Some("udp".into()),
            sport: None,
            dport: Some(4789),
        };
        let b_in_bfl = Selector {
            src: "192.168.50.2/32".into(),
            dst: "192.168.50.1/32".into(),
            proto: Some("udp".into()),
            sport: None,
            dport: Some(4789),
        };
        let states = vec![
            sa(Side::Bfl, 0xa1, 1),
            sa(Side::Bfr, 0xa2, 1),
            sa(Side::Bfl, 0xb1, 2),
            sa(Side::Bfr, 0xb2, 2),
        ];
        let bfr_states: Vec<_> = states
            .iter()
            .map(|s| XfrmState {
                reqid: s.reqid.map(|r| r + 6),
                ..s.clone()
            })
            .collect();
        KernelView {
            bfl_policies: vec![
                pol("out", a_out.clone(), 1),
                pol("in", reverse(&a_out), 1),
                pol("in", b_in_bfl.clone(), 2),
                pol("out", reverse(&b_in_bfl), 2),
            ],
            bfr_policies: vec![
                pol("in", a_out.clone(), 7),
                pol("out", reverse(&a_out), 7),
                pol("out", b_in_bfl.clone(), 8),
                pol("in", reverse(&b_in_bfl), 8),
            ],
            bfl_states: states,
            bfr_states,
        }
    }

    #[test]
    fn consistent_tunnel_passes_and_names_vxlan_spis() {
        let spis = check_seed_tunnel(&good_view(), &SEED_ESP).unwrap();
        assert_eq!(spis.bfl_to_bfr, 0xa1);
        assert_eq!(spis.bfr_to_bfl, 0xb2);
    }

    #[test]
    fn spi_mismatch_between_hosts_fails() {
        let mut v = good_view();
        v.bfr_states[0].spi = Some(0xdead);
        let e = check_seed_tunnel(&v, &SEED_ESP).unwrap_err().to_string();
        assert!(e.contains("differ"), "{e}");
    }

    #[test]
    fn missing_esn_or_wrong_algorithm_fails() {
        let mut v = good_view();
        v.bfl_states[2].flags.clear();
        assert!(
            check_seed_tunnel(&v, &SEED_ESP)
                .unwrap_err()
                .to_string()
                .contains("ESN")
        );
        let mut v = good_view();
        v.bfr_states[1].algorithms[0].key_bits = 288;
        assert!(check_seed_tunnel(&v, &SEED_ESP).is_err());
    }

    #[test]
    fn broken_reqid_pairing_fails() {
        let mut v = good_view();
        v.bfl_states[1].reqid = Some(2); // inbound SA of child A now claims child B's reqid
        let e = check_seed_tunnel(&v, &SEED_ESP).unwrap_err().to_string();
        assert!(e.contains("reqid"), "{e}");
    }

    #[test]
    fn wrong_selectors_fail() {
        let mut v = good_view();
        v.bfl_policies[0].selector.dport = Some(4790);
        assert!(check_seed_tunnel(&v, &SEED_ESP).is_err());
    }

    #[test]
    fn clean_check_ignores_nothing_but_socket_policies() {
        assert!(check_clean(&KernelView::default()).is_ok());
        assert!(check_clean(&good_view()).is_err());
        let v = KernelView {
            bfr_policies: good_view().bfr_policies,
            ..KernelView::default()
        };
        assert!(check_clean(&v).is_err());
    }

    #[test]
    fn capture_summary_counts_esp_clear_vxlan_and_icmp() {
        // tcpdump -nn lines as seen in the lab VM (tcpdump 4.99, seed tunnel up).
        let lines: Vec<String> = [
            "23:58:43.500509 IP 192.168.50.1 > 192.168.50.2: ESP(spi=0xce3b6e5a,seq=0x1), length 48",
            "23:58:43.509724 IP 192.168.50.1 > 192.168.50.2: ESP(spi=0xce3b6e5a,seq=0x2), length 48",
            "23:58:43.694363 IP 192.168.50.2 > 192.168.50.1: ESP(spi=0xc2a529b3,seq=0x1), length 48",
            "23:57:22.343758 IP 192.168.50.1 > 192.168.50.2: ICMP echo request, id 595, seq 1, length 64",
            "23:57:22.365566 IP 192.168.50.2 > 192.168.50.1: ICMP echo reply, id 595, seq 1, length 64",
            "00:00:01.000000 IP 192.168.50.1.40000 > 192.168.50.2.4789: VXLAN, flags [I] (0x08), vni 0",
            "00:00:01.000000 IP 192.168.50.1.500 > 192.168.50.2.500: isakmp: parent_sa ikev2_init[I]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = summarize_capture(&lines);
        assert_eq!(s.esp_by_spi.get(&0xce3b_6e5a), Some(&2));
        assert_eq!(s.esp_by_spi.get(&0xc2a5_29b3), Some(&1));
        assert_eq!(s.clear_icmp_echo, 1);
        assert_eq!(s.clear_vxlan, 1);
    }

    #[test]
    fn ike_sa_headers_are_one_line_per_ike_sa_in_any_state() {
        let list = "BFL-BFR: #2, ESTABLISHED, IKEv2, 1_i 2_r*\n  local  'host1' @ 192.168.50.1[500]\n  bf-in: #3, reqid 3, INSTALLED, TRANSPORT, ESP:AES_GCM_16-128/ESN\nBFL-BFR: #4, CONNECTING, IKEv2, 3_i* 0_r\n";
        let headers: Vec<&str> = ike_sa_headers(list).collect();
        assert_eq!(headers.len(), 2, "{headers:?}");
        assert!(headers[1].contains("CONNECTING"));
    }
}
