//! Open vSwitch IPsec as the seed configures it, with iked on both hosts under a driver that
//! does what NVIDIA's swanctl-based `ovs-monitor-ipsec` does (issue 15; see [`crate::ovs`]).
//! The baseline row runs stock charon 5.9.8 with the stock swanctl under the same driver: it
//! proves the lab and its assertions.
//!
//! Contract: each host gets its own OVS instance (bridge `ovs-br`, overlay address 10.10.0.x/24
//! on its internal port), iked started from a swanctl.conf that only includes `conf.d/*.conf`,
//! and a driver; `ikectl` runs under the name `swanctl`, as the README installs it. Both
//! drivers start at once, then the seed's VXLAN port (`vxlanp0`, key 100, port 4789) is added
//! on both hosts with one of the seed's three methods, and both drivers refresh at once (both
//! daemons restart and start their `start_action = start` children at the same moment).
//! Asserted, on both hosts, from outside the daemons:
//! - converged: exactly the two children's four ESP SAs per host, the same on both, with the
//!   monitor's ESP (`aes256gcm16-modp2048-esn`, transport) and the VXLAN selectors, reqids
//!   pairing SAs and policies; one ESTABLISHED IKE SA per host; the driver logged no error;
//! - ping across the overlay works and crosses `p0` only as ESP with those SPIs (tcpdump): no
//!   VXLAN and no ICMP in clear text;
//! - PSK rows then change the PSK on both hosts (new SAs, none of the old SPIs, no IKE SA of
//!   the old version) and remove the port on both hosts (no SA, no policy, no IKE SA left).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::certs::{self, CertCase};
use crate::checks::{self, ExpectedEsp, KernelView, TunnelSpis};
use crate::daemon::{Daemon, Implementation};
use crate::netlab::{args, run_capture, wait_until};
use crate::ovs::driver::{Driver, ServiceManager, SwanctlTool};
use crate::ovs::switch::Switch;
use crate::swan_conf::{Side, SwanctlConf};
use crate::{LabError, ensure};

use super::{Context, Scenario, tail};

/// The seed's three OVS authentication methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvsCase {
    /// `options:psk=swordfish`.
    Psk,
    /// `other_config:certificate/private_key` and `options:remote_cert` (self-signed).
    SelfSigned,
    /// `other_config:certificate/private_key/ca_cert` and `options:remote_name` (`ovs-pki`).
    CaSigned,
}

/// The ESP the monitor's `child-defaults` negotiate: AES-GCM-16 with a 256-bit key, ESN.
pub const OVS_ESP: ExpectedEsp = ExpectedEsp {
    aead: "rfc4106(gcm(aes))",
    key_bits: 288,
    icv_bits: 128,
    esn: true,
    mode: "transport",
};

/// The seed's PSK, and the one the PSK rows change it to.
const PSK: &str = "swordfish";
const NEW_PSK: &str = "swordfish-2";
/// Pings across the overlay per traffic check.
const PINGS: u32 = 3;

/// The host's swanctl.conf: as Debian's, everything comes from `conf.d/`.
const BASE_CONF: &str = "# The host's swanctl.conf: connections come from conf.d/ (ovs-swanctl.conf)\n\
connections {\n}\nsecrets {\n}\ninclude conf.d/*.conf\n";

fn overlay_addr(side: Side) -> &'static str {
    match side {
        Side::Bfl => "10.10.0.1",
        Side::Bfr => "10.10.0.2",
    }
}

/// The service manager's stand-in: restart the daemon, then the unit's ExecStartPost.
struct Service<'a> {
    daemon: &'a mut Daemon,
}

impl ServiceManager for Service<'_> {
    fn restart(&mut self) -> Result<(), LabError> {
        self.daemon.restart()?;
        self.daemon.exec_start_post().map(|_| ())
    }
}

/// One lab host: its switch, daemon and driver.
struct Host {
    side: Side,
    switch: Switch,
    daemon: Daemon,
    driver: Driver,
    dir: PathBuf,
}

impl Host {
    fn start(
        ctx: &Context,
        dir: &Path,
        side: Side,
        case: OvsCase,
        implementation: Implementation,
    ) -> Result<Host, LabError> {
        let host_dir = dir.join(side.name());
        let switch = Switch::start(&ctx.lab, side, &host_dir.join("ovs"))?;
        switch.add_bridge(&format!("{}/24", overlay_addr(side)))?;
        if case != OvsCase::Psk {
            let pki = certs::Pki::ensure(&ctx.out)?;
            let cert_case = match case {
                OvsCase::SelfSigned => CertCase::SelfSigned,
                _ => CertCase::CaSigned,
            };
            // The seed's file names: x509/hostN-cert.pem, private/hostN-privkey.pem,
            // x509ca/cacert.pem, in the host's swanctl directory.
            certs::provision(&pki, &host_dir, cert_case, side, Side::Bfl)?;
        }
        let daemon = Daemon::start(
            &ctx.lab,
            side,
            implementation,
            &host_dir,
            &SwanctlConf::from_text(BASE_CONF),
            Some(&ctx.iked),
        )?;
        let (program, env) = match implementation {
            Implementation::Iked => {
                // ikectl under the name the monitor runs.
                let bin = dir.join("bin");
                std::fs::create_dir_all(&bin).map_err(|e| LabError::io(&bin, e))?;
                let swanctl = bin.join("swanctl");
                if !swanctl.exists() {
                    std::os::unix::fs::symlink(&ctx.iked.ikectl, &swanctl)
                        .map_err(|e| LabError::io(&swanctl, e))?;
                }
                (swanctl, Vec::new())
            }
            // The baseline: the stock swanctl, its plugins and credential directory this host's.
            Implementation::StrongSwan => (
                PathBuf::from("swanctl"),
                vec![
                    (
                        "STRONGSWAN_CONF".to_string(),
                        host_dir.join("strongswan.conf").display().to_string(),
                    ),
                    ("SWANCTL_DIR".to_string(), host_dir.display().to_string()),
                ],
            ),
            // The OVS rows compare iked with the monitor's own daemon, charon 5.9.8.
            other => {
                return Err(LabError::Setup(format!(
                    "the OVS rows run iked or charon 5.9.8, not {}",
                    other.label()
                )));
            }
        };
        let driver = Driver::new(
            SwanctlTool {
                program,
                uri: daemon.vici_uri(),
                conf: daemon.conf_file().to_path_buf(),
                env,
            },
            &host_dir,
            &host_dir.join("ovs-monitor.log"),
        );
        Ok(Host {
            side,
            switch,
            daemon,
            driver,
            dir: host_dir,
        })
    }

    /// The seed's `ovs-vsctl` commands for `case` on this host.
    fn configure(&self, case: OvsCase) -> Result<(), LabError> {
        let host = certs::host_name(self.side);
        let peer = certs::host_name(self.side.peer());
        let x509 = self.dir.join("x509");
        let file = |p: PathBuf| p.display().to_string();
        let mut iface = vec![
            "add-port".to_string(),
            "ovs-br".into(),
            "vxlanp0".into(),
            "--".into(),
            "set".into(),
            "interface".into(),
            "vxlanp0".into(),
            "type=vxlan".into(),
            format!("options:local_ip={}", self.side.addr()),
            format!("options:remote_ip={}", self.side.peer().addr()),
            "options:key=100".into(),
            "options:dst_port=4789".into(),
        ];
        match case {
            OvsCase::Psk => iface.push(format!("options:psk={PSK}")),
            OvsCase::SelfSigned => iface.push(format!(
                "options:remote_cert={}",
                file(x509.join(format!("{peer}-cert.pem")))
            )),
            OvsCase::CaSigned => iface.push(format!("options:remote_name={peer}")),
        }
        if case != OvsCase::Psk {
            let mut other = vec![
                "set".to_string(),
                "Open_vSwitch".into(),
                ".".into(),
                format!(
                    "other_config:certificate={}",
                    file(x509.join(format!("{host}-cert.pem")))
                ),
                format!(
                    "other_config:private_key={}",
                    file(self.dir.join("private").join(format!("{host}-privkey.pem")))
                ),
            ];
            if case == OvsCase::CaSigned {
                other.push(format!(
                    "other_config:ca_cert={}",
                    file(self.dir.join("x509ca").join("cacert.pem"))
                ));
            }
            self.vsctl_owned(&other)?;
        }
        self.vsctl_owned(&iface).map(|_| ())
    }

    fn vsctl_owned(&self, a: &[String]) -> Result<String, LabError> {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        self.switch.vsctl(&refs)
    }

    /// The driver's pass after an OVSDB change.
    fn refresh(&mut self) -> Result<(), LabError> {
        let switch = &self.switch;
        let vsctl = |a: &[&str]| switch.vsctl(a);
        let mut service = Service {
            daemon: &mut self.daemon,
        };
        self.driver.run(&vsctl, &mut service).map(|_| ())
    }

    fn start_driver(&mut self) -> Result<(), LabError> {
        let mut service = Service {
            daemon: &mut self.daemon,
        };
        self.driver.start(&mut service)
    }
}

/// Runs `step` on both hosts at the same moment (one thread each).
fn both_at_once(
    hosts: &mut [Host; 2],
    step: fn(&mut Host) -> Result<(), LabError>,
) -> Result<(), LabError> {
    let [a, b] = hosts;
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| step(a));
        let tb = s.spawn(|| step(b));
        (ta.join(), tb.join())
    });
    for r in [ra, rb] {
        r.map_err(|_| LabError::Setup("a driver thread panicked".into()))??;
    }
    Ok(())
}

/// Runs one OVS row.
pub fn run(sc: &Scenario, ctx: &Context, dir: &Path, case: OvsCase) -> Result<(), LabError> {
    let mut hosts = [
        Host::start(ctx, dir, Side::Bfl, case, sc.bfl)?,
        Host::start(ctx, dir, Side::Bfr, case, sc.bfr)?,
    ];
    for h in hosts.iter_mut() {
        h.daemon.wait_ready()?;
    }
    let result = body(sc, ctx, dir, case, &mut hosts);
    if result.is_err() {
        dump(ctx, dir, &hosts);
    }
    for h in hosts.iter_mut() {
        h.daemon.stop();
        h.switch.stop();
    }
    result
}

fn body(
    _sc: &Scenario,
    ctx: &Context,
    dir: &Path,
    case: OvsCase,
    hosts: &mut [Host; 2],
) -> Result<(), LabError> {
    // The monitors start (each restarts its daemon), then the operator's ovs-vsctl commands,
    // then both monitors refresh at the same moment.
    both_at_once(hosts, Host::start_driver)?;
    for h in hosts.iter() {
        h.configure(case)?;
    }
    both_at_once(hosts, Host::refresh)?;
    let wire = converged(ctx, hosts, 1, &BTreeSet::new())?;
    overlay_traffic(ctx, dir, &wire, "1")?;
    if ctx.verbose {
        print_operator_view(ctx, dir, hosts)?;
    }
    if case != OvsCase::Psk {
        return no_logged_errors(hosts);
    }
    // A PSK change on both hosts: a new version of the tunnel, nothing of the old one left.
    let old: BTreeSet<u32> = all_spis(ctx)?.into_iter().collect();
    for h in hosts.iter() {
        h.switch.vsctl(&[
            "set",
            "interface",
            "vxlanp0",
            &format!("options:psk={NEW_PSK}"),
        ])?;
    }
    both_at_once(hosts, Host::refresh)?;
    let wire = converged(ctx, hosts, 2, &old)?;
    overlay_traffic(ctx, dir, &wire, "2")?;
    // The port goes away on both hosts: nothing of the tunnel may stay.
    for h in hosts.iter() {
        h.switch.vsctl(&["del-port", "ovs-br", "vxlanp0"])?;
    }
    both_at_once(hosts, Host::refresh)?;
    checks::wait_clean(&ctx.lab, 60)?;
    for h in hosts.iter() {
        let l = h.daemon.list_sas()?;
        ensure!(
            l.ok && !l.output.contains("ESTABLISHED") && !l.output.contains("vxlanp0"),
            "{}: IKE SAs left after the port's removal: {}",
            h.side.name(),
            tail(&l.output, 10)
        );
    }
    no_logged_errors(hosts)
}

/// Every ESP SPI installed on either host.
fn all_spis(ctx: &Context) -> Result<Vec<u32>, LabError> {
    let v = KernelView::read(&ctx.lab)?;
    Ok(v.bfl_states
        .iter()
        .chain(v.bfr_states.iter())
        .filter_map(|s| s.spi)
        .collect())
}

/// How many IKE SAs `list-sas` shows ESTABLISHED, and whether one is `name`.
fn established(h: &Host, name: &str) -> Result<(usize, bool, String), LabError> {
    let l = h.daemon.list_sas()?;
    let count = if l.ok {
        l.output.matches("ESTABLISHED").count()
    } else {
        0
    };
    // An IKE SA in any other state (CONNECTING: the other end's crossing SA still in its
    // IKE_AUTH) counts as one more, so no caller takes a crossing mid-way for settled: when
    // it completes, the crossing rule replaces the tunnel's SAs (seen in session 7's CI run,
    // where the rows ran fast enough to read the kernels in between).
    let count = count + listed_not_established(&l.output);
    let has = l.output.contains(&format!("{name}: #"));
    Ok((count, has, l.output))
}

/// IKE SAs a `list-sas` text shows in a state other than ESTABLISHED.
fn listed_not_established(list: &str) -> usize {
    checks::ike_sa_headers(list)
        .filter(|l| !l.contains("ESTABLISHED"))
        .count()
}

/// Waits until both hosts hold tunnel version `version` and nothing else (see the module
/// contract): the kernels' four new SAs and one IKE SA per host; `old` SPIs must all be gone.
/// Duplicates from the simultaneous start may take a while to be deleted (`unique = replace`),
/// so the state is asserted once it settles or the budget runs out.
fn converged(
    ctx: &Context,
    hosts: &[Host; 2],
    version: u32,
    old: &BTreeSet<u32>,
) -> Result<Wire, LabError> {
    if hosts
        .iter()
        .any(|h| h.daemon.implementation == Implementation::StrongSwan)
    {
        return consistent(ctx, hosts, version, old);
    }
    let name = format!("vxlanp0-{version}");
    let settled = || -> Result<bool, LabError> {
        let v = KernelView::read(&ctx.lab)?;
        let fresh = |s: &[crate::xfrm_text::XfrmState]| {
            s.len() == 4
                && s.iter()
                    .all(|sa| sa.spi.is_none_or(|spi| !old.contains(&spi)))
        };
        if !(fresh(&v.bfl_states) && fresh(&v.bfr_states)) {
            return Ok(false);
        }
        for h in hosts {
            let (count, has, _) = established(h, &name)?;
            if count != 1 || !has {
                return Ok(false);
            }
        }
        Ok(true)
    };
    // Under TCG two restarts, two IKE_SA_INITs and a collision take tens of seconds.
    let _ = wait_until("one IKE SA and 4 new ESP SAs on both hosts", 120, settled);
    let view = KernelView::read(&ctx.lab)?;
    let spis = checks::check_seed_tunnel(&view, &OVS_ESP)?;
    let stale: Vec<u32> = view
        .bfl_states
        .iter()
        .chain(view.bfr_states.iter())
        .filter_map(|s| s.spi)
        .filter(|s| old.contains(s))
        .collect();
    ensure!(stale.is_empty(), "SAs of the old tunnel left: {stale:x?}");
    for h in hosts {
        let (count, has, output) = established(h, &name)?;
        ensure!(
            count == 1 && has,
            "{}: expected one ESTABLISHED IKE SA {name}, found {count}: {}",
            h.side.name(),
            tail(&output, 40)
        );
        if version > 1 {
            let previous = format!("vxlanp0-{}:", version - 1);
            ensure!(
                !output.contains(&previous),
                "{}: an IKE SA of the old version is listed: {}",
                h.side.name(),
                tail(&output, 20)
            );
        }
    }
    Ok(Wire::Exactly(spis))
}

/// Which ESP SPIs the overlay's traffic may use.
#[derive(Debug, Clone)]
enum Wire {
    /// The tunnel's two VXLAN SAs, both used.
    Exactly(TunnelSpis),
    /// Any of these (charon's duplicates), in both directions.
    AnyOf(BTreeSet<u32>),
}

/// The baseline's convergence: charon 5.9.8 keeps the duplicate IKE and CHILD SAs a
/// simultaneous start of two `start` children creates (`unique = replace` does not remove
/// them), so the row asserts what it does guarantee: the same SAs on both hosts (the
/// monitor's ESP, transport), none of `old`, and an IKE SA of this version on each host.
fn consistent(
    ctx: &Context,
    hosts: &[Host; 2],
    version: u32,
    old: &BTreeSet<u32>,
) -> Result<Wire, LabError> {
    let name = format!("vxlanp0-{version}");
    let spis = |s: &[crate::xfrm_text::XfrmState]| -> BTreeSet<u32> {
        s.iter().filter_map(|sa| sa.spi).collect()
    };
    let settled = || -> Result<bool, LabError> {
        let v = KernelView::read(&ctx.lab)?;
        let (l, r) = (spis(&v.bfl_states), spis(&v.bfr_states));
        Ok(l.len() >= 4 && l == r && l.is_disjoint(old))
    };
    let _ = wait_until("the same new ESP SAs on both hosts", 120, settled);
    let v = KernelView::read(&ctx.lab)?;
    let (l, r) = (spis(&v.bfl_states), spis(&v.bfr_states));
    ensure!(
        l.len() >= 4 && l.len() % 2 == 0 && l == r && l.is_disjoint(old),
        "expected the same (at least 4) new ESP SAs on both hosts, found {l:x?} and {r:x?}"
    );
    for sa in v.bfl_states.iter().chain(v.bfr_states.iter()) {
        let aead = sa.algorithms.iter().any(|a| {
            a.name == OVS_ESP.aead
                && a.key_bits == OVS_ESP.key_bits
                && a.icv_bits == Some(OVS_ESP.icv_bits)
        });
        ensure!(
            sa.mode == OVS_ESP.mode && aead,
            "SA {:x?} is not {} {}: {sa:?}",
            sa.spi,
            OVS_ESP.mode,
            OVS_ESP.aead
        );
    }
    for h in hosts {
        let (count, has, output) = established(h, &name)?;
        ensure!(
            count >= 1 && has,
            "{}: no ESTABLISHED IKE SA {name}: {}",
            h.side.name(),
            tail(&output, 20)
        );
    }
    Ok(Wire::AnyOf(l))
}

/// Pings BFR's overlay address from BFL while capturing BFR's `p0`: every echo answered,
/// the wire shows only ESP with the tunnel's SPIs.
fn overlay_traffic(ctx: &Context, dir: &Path, wire_spis: &Wire, tag: &str) -> Result<(), LabError> {
    let capture = ctx
        .lab
        .start_capture(Side::Bfr, &dir.join(format!("capture-bfr-{tag}.txt")))?;
    let ping = run_capture(
        &ctx.lab.ip.to_string_lossy(),
        &ctx.lab.in_ns(
            Side::Bfl,
            &args(&[
                "ping",
                "-c",
                &PINGS.to_string(),
                "-W",
                "5",
                overlay_addr(Side::Bfr),
            ]),
        ),
        60,
    )?;
    let captured = capture.finish()?;
    let wire = checks::summarize_capture(&captured.lines);
    ensure!(
        ping.status.success(),
        "ping {} across the overlay failed: {}",
        overlay_addr(Side::Bfr),
        String::from_utf8_lossy(&ping.stdout)
    );
    ensure!(
        wire.clear_vxlan == 0 && wire.clear_icmp_echo == 0,
        "clear text on the wire: {} VXLAN, {} ICMP echo ({wire:?})",
        wire.clear_vxlan,
        wire.clear_icmp_echo
    );
    let seen: BTreeSet<u32> = wire.esp_by_spi.keys().copied().collect();
    let total: u32 = wire.esp_by_spi.values().sum();
    let (fits, expected) = match wire_spis {
        Wire::Exactly(spis) => {
            let expected = BTreeSet::from([spis.bfl_to_bfr, spis.bfr_to_bfl]);
            (seen == expected, expected)
        }
        // Both directions, each on one of the installed SAs.
        Wire::AnyOf(all) => (seen.is_subset(all) && seen.len() >= 2, all.clone()),
    };
    ensure!(
        fits && total >= 2 * PINGS,
        "expected ESP with SPIs {expected:x?} (at least {} packets), saw {:x?}",
        2 * PINGS,
        wire.esp_by_spi
    );
    Ok(())
}

fn no_logged_errors(hosts: &[Host; 2]) -> Result<(), LabError> {
    for h in hosts {
        ensure!(
            h.driver.logged_errors.is_empty(),
            "{}: the monitor would have logged: {:?}",
            h.side.name(),
            h.driver.logged_errors
        );
    }
    Ok(())
}

/// Saves both kernels' state and the daemons' SA lists next to the logs.
fn dump(ctx: &Context, dir: &Path, hosts: &[Host; 2]) {
    for h in hosts {
        let mut text = ctx.lab.ipsec_dump(h.side);
        if let Ok(l) = h.daemon.list_sas() {
            text.push_str(&format!("### list-sas\n{}\n", l.output));
        }
        if let Ok(s) = h.switch.vsctl(&["show"]) {
            text.push_str(&format!("### ovs-vsctl show\n{s}\n"));
        }
        let _ = std::fs::write(dir.join(format!("{}-state.txt", h.side.name())), text);
    }
}

/// The demo's view: what the operator sees on each host.
fn print_operator_view(ctx: &Context, dir: &Path, hosts: &[Host; 2]) -> Result<(), LabError> {
    for h in hosts {
        let name = h.side.name().to_uppercase();
        println!("\n===== {name}: ovs-vsctl show =====");
        println!("{}", h.switch.vsctl(&["show"])?.trim_end());
        let conf = h.dir.join("conf.d").join("ovs-swanctl.conf");
        println!(
            "\n===== {name}: {} (written by the driver) =====",
            conf.display()
        );
        println!(
            "{}",
            std::fs::read_to_string(&conf)
                .unwrap_or_default()
                .replace(&format!("secret = {PSK}"), "secret = <redacted>")
                .trim_end()
        );
        println!(
            "\n===== {name} ({}, {}): swanctl --list-sas =====",
            h.side.addr(),
            h.daemon.implementation.label()
        );
        println!("{}", h.daemon.list_sas()?.output.trim_end());
        println!("\n===== {name}: ip xfrm state (keys redacted) =====");
        println!("{}", ctx.lab.xfrm_state_brief(h.side)?.trim_end());
        println!("\n===== {name}: ip xfrm policy =====");
        println!("{}", ctx.lab.xfrm_policy_text(h.side)?.trim_end());
    }
    println!(
        "\n===== tcpdump -nn -i p0 on BFR during `ping {}` across the overlay =====",
        overlay_addr(Side::Bfr)
    );
    let cap = std::fs::read_to_string(dir.join("capture-bfr-1.txt")).unwrap_or_default();
    for line in cap.lines().filter(|l| l.contains("ESP(")).take(8) {
        println!("{line}");
    }
    Ok(())
}
