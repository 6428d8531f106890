//! Upstream Open vSwitch IPsec (issue 20): Debian's `ovs-monitor-ipsec` 3.1, unmodified, with
//! `--ike-daemon=strongswan`, on both lab hosts, iked the only IKE daemon (no charon; the
//! monitor's `ipsec` is `ikectl`), for the seed's three authentication methods set through
//! `ovs-vsctl` (see [`crate::ovs::upstream`]).
//!
//! Contract: each host gets its own OVS instance with two bridges, `br-gre` (overlay
//! 10.10.1.x/24) carrying GRE port `gre0` between 192.168.51.x (a second address on `p0`) and
//! `br-vx` (overlay 10.10.2.x/24) carrying VXLAN port `vx0` between the seed's 192.168.50.x;
//! iked reading the monitor's `<root>/etc/ipsec.conf`; and the monitor. One `ovs-vsctl`
//! transaction per host adds both ports with the method's options (`psk`, or `other_config`
//! certificate/private key with `remote_cert` or `ca_cert` with `remote_name`). Asserted:
//! - both monitors' connections are routed (`ipsec status`: `gre0-1`, `vx0-in-1`, `vx0-out-1`
//!   ROUTED, TRANSPORT), the monitors report both tunnels CONFIGURED (`tunnels/show`);
//! - pings across both overlays succeed once the trap policies' ACQUIREs brought the SAs up,
//!   and then cross `p0` only as ESP, both directions of both tunnels, with SPIs of SAs in the
//!   kernels (no GRE, VXLAN or ICMP echo in clear text); every SA is transport mode with the
//!   monitor's `aes256gcm16`;
//! - PSK row: BFL's monitor is restarted (SIGTERM and a new process, which empties ipsec.conf
//!   and runs `ipsec restart` before writing it again): the GRE tunnel keeps its SAs and both
//!   overlays still pass traffic only as ESP;
//! - removing `gre0` on both hosts leaves no GRE SA, policy or connection (while VXLAN still
//!   passes traffic), and removing `vx0` then leaves both kernels without any SA or policy and
//!   both daemons without an IKE SA. The kernel's larval ACQUIRE states (SPI 0, no keys) are
//!   not counted as SAs: see [`larval`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::certs::{self, CertCase};
use crate::checks::KernelView;
use crate::daemon::Daemon;
use crate::netlab::{args, run_capture, run_ok, wait_until};
use crate::ovs::switch::Switch;
use crate::ovs::upstream::{Monitor, Root};
use crate::swan_conf::Side;
use crate::xfrm_text::XfrmState;
use crate::{LabError, ensure};

use super::ovs::OvsCase;
use super::{Context, Scenario, tail};

const PSK: &str = "swordfish";
/// Pings per overlay in a traffic check.
const PINGS: u32 = 3;
/// The monitor's `esp=aes256gcm16-modp2048`: AES-GCM-16, 256-bit key (+ 32-bit salt).
const AEAD: &str = "rfc4106(gcm(aes))";
const AEAD_KEY_BITS: usize = 288;

/// The two tunnel types each row carries at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tunnel {
    Gre,
    Vxlan,
}

const TUNNELS: [Tunnel; 2] = [Tunnel::Gre, Tunnel::Vxlan];

impl Tunnel {
    fn port(self) -> &'static str {
        match self {
            Tunnel::Gre => "gre0",
            Tunnel::Vxlan => "vx0",
        }
    }
    fn bridge(self) -> &'static str {
        match self {
            Tunnel::Gre => "br-gre",
            Tunnel::Vxlan => "br-vx",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Tunnel::Gre => "gre",
            Tunnel::Vxlan => "vxlan",
        }
    }
    /// The underlay address of `side` for this tunnel.
    fn underlay(self, side: Side) -> &'static str {
        match (self, side) {
            (Tunnel::Gre, Side::Bfl) => "192.168.51.1",
            (Tunnel::Gre, Side::Bfr) => "192.168.51.2",
            (Tunnel::Vxlan, s) => s.addr(),
        }
    }
    fn overlay(self, side: Side) -> &'static str {
        match (self, side) {
            (Tunnel::Gre, Side::Bfl) => "10.10.1.1",
            (Tunnel::Gre, Side::Bfr) => "10.10.1.2",
            (Tunnel::Vxlan, Side::Bfl) => "10.10.2.1",
            (Tunnel::Vxlan, Side::Bfr) => "10.10.2.2",
        }
    }
    /// The monitor's connection names for version `v`.
    fn conns(self, v: u32) -> Vec<String> {
        let p = self.port();
        match self {
            Tunnel::Gre => vec![format!("{p}-{v}")],
            Tunnel::Vxlan => vec![format!("{p}-in-{v}"), format!("{p}-out-{v}")],
        }
    }
    /// Whether an SA or policy between `src` and `dst` (addresses, maybe with a prefix) is
    /// this tunnel's.
    fn carries(self, src: &str, dst: &str) -> bool {
        let bare = |a: &str| a.split('/').next().unwrap_or(a).to_owned();
        let ends = [self.underlay(Side::Bfl), self.underlay(Side::Bfr)];
        ends.contains(&bare(src).as_str()) && ends.contains(&bare(dst).as_str())
    }
}

/// A host's certificate credentials (absent for PSK).
#[derive(Debug, Clone)]
struct Creds {
    cert: PathBuf,
    key: PathBuf,
    /// `ca_cert` (CA-signed).
    ca: Option<PathBuf>,
    /// The peer's certificate (`remote_cert`, self-signed).
    peer_cert: Option<PathBuf>,
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// Self-signed certificates with a subject the monitor can read a CN from (`CN=(.+?),` needs
/// an RDN after the CN in RFC 2253 order) and the CN as subjectAltName, made once per run.
fn self_signed_pair(out: &Path) -> Result<PathBuf, LabError> {
    let dir = out.join("pki-upstream");
    if dir.join("done").exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io(&dir, e))?;
    for side in Side::BOTH {
        let host = certs::host_name(side);
        run_ok(
            "openssl",
            &args(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "30",
                "-keyout",
                &path_str(&dir.join(format!("{host}-privkey.pem"))),
                "-out",
                &path_str(&dir.join(format!("{host}-cert.pem"))),
                "-subj",
                &format!("/O=Open vSwitch/OU=lab/CN={host}"),
                "-addext",
                &format!("subjectAltName=DNS:{host}"),
            ]),
            120,
        )?;
    }
    std::fs::write(dir.join("done"), "").map_err(|e| LabError::io(&dir, e))?;
    Ok(dir)
}

fn copy(from: &Path, to: &Path) -> Result<(), LabError> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).map_err(|e| LabError::io(d, e))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| LabError::io(to, e))
}

/// Puts `side`'s credentials for `case` where the seed's guide puts them (`x509/`,
/// `private/`, `x509ca/` under the host's directory).
fn credentials(
    ctx: &Context,
    host_dir: &Path,
    case: OvsCase,
    side: Side,
) -> Result<Option<Creds>, LabError> {
    let host = certs::host_name(side);
    let peer = certs::host_name(side.peer());
    let cert = host_dir.join("x509").join(format!("{host}-cert.pem"));
    let key = host_dir.join("private").join(format!("{host}-privkey.pem"));
    match case {
        OvsCase::Psk => Ok(None),
        OvsCase::SelfSigned => {
            let pki = self_signed_pair(&ctx.out)?;
            copy(&pki.join(format!("{host}-cert.pem")), &cert)?;
            copy(&pki.join(format!("{host}-privkey.pem")), &key)?;
            // The certificates are exchanged, as the guide has operators do.
            let peer_cert = host_dir.join("x509").join(format!("{peer}-cert.pem"));
            copy(&pki.join(format!("{peer}-cert.pem")), &peer_cert)?;
            Ok(Some(Creds {
                cert,
                key,
                ca: None,
                peer_cert: Some(peer_cert),
            }))
        }
        OvsCase::CaSigned => {
            let pki = certs::Pki::ensure(&ctx.out)?;
            certs::provision(&pki, host_dir, CertCase::CaSigned, side, Side::Bfl)?;
            Ok(Some(Creds {
                cert,
                key,
                ca: Some(host_dir.join("x509ca").join("cacert.pem")),
                peer_cert: None,
            }))
        }
    }
}

/// One lab host: its switch, iked, root prefix and monitor.
struct Host {
    side: Side,
    dir: PathBuf,
    switch: Switch,
    daemon: Daemon,
    root: Root,
    monitor: Option<Monitor>,
    creds: Option<Creds>,
}

impl Host {
    fn start(
        ctx: &Context,
        dir: &Path,
        side: Side,
        creds: Option<Creds>,
    ) -> Result<Host, LabError> {
        let host_dir = dir.join(side.name());
        let mut root = Root::create(&host_dir.join("root"), &ctx.iked.ikectl, &ctx.lab.ip, "")?;
        let daemon = Daemon::start_iked_reading(
            &ctx.lab,
            side,
            &host_dir.join("iked"),
            &root.ipsec_conf(),
            &ctx.iked,
        )?;
        root.vici_uri = daemon.vici_uri();
        let switch = Switch::start(&ctx.lab, side, &host_dir.join("ovs"))?;
        let host = Host {
            side,
            dir: host_dir,
            switch,
            daemon,
            root,
            monitor: None,
            creds,
        };
        host.bridges(ctx)?;
        Ok(host)
    }

    fn ip(&self, ctx: &Context, rest: &[&str]) -> Result<String, LabError> {
        let mut a = args(&["-n", self.side.name()]);
        a.extend(rest.iter().map(|s| s.to_string()));
        run_ok(&ctx.lab.ip.to_string_lossy(), &a, 30)
    }

    /// The GRE underlay address, both bridges with their overlay addresses.
    fn bridges(&self, ctx: &Context) -> Result<(), LabError> {
        let gre = format!("{}/24", Tunnel::Gre.underlay(self.side));
        self.ip(ctx, &["addr", "add", &gre, "dev", crate::netlab::LINK])?;
        self.switch.vsctl(&[
            "add-br",
            Tunnel::Gre.bridge(),
            "--",
            "add-br",
            Tunnel::Vxlan.bridge(),
        ])?;
        for t in TUNNELS {
            wait_until(&format!("{} to appear", t.bridge()), 60, || {
                Ok(run_capture(
                    &ctx.lab.ip.to_string_lossy(),
                    &args(&["-n", self.side.name(), "link", "show", t.bridge()]),
                    20,
                )?
                .status
                .success())
            })?;
            let overlay = format!("{}/24", t.overlay(self.side));
            self.ip(ctx, &["addr", "add", &overlay, "dev", t.bridge()])?;
            self.ip(ctx, &["link", "set", t.bridge(), "up"])?;
        }
        Ok(())
    }

    fn start_monitor(&mut self, ctx: &Context) -> Result<(), LabError> {
        let monitor_dir = self.dir.join("monitor");
        self.monitor = Some(Monitor::start(
            &ctx.lab,
            self.side,
            &self.root,
            &self.switch.db_sock(),
            &monitor_dir,
            &monitor_dir,
        )?);
        Ok(())
    }

    fn monitor(&mut self) -> Result<&mut Monitor, LabError> {
        self.monitor
            .as_mut()
            .ok_or_else(|| LabError::Setup("no monitor running".into()))
    }

    /// The operator's `ovs-vsctl` for `case`: credentials and both ports in one transaction.
    fn configure(&self, case: OvsCase) -> Result<(), LabError> {
        let mut a: Vec<String> = Vec::new();
        if let Some(c) = &self.creds {
            a.extend([
                "set".into(),
                "Open_vSwitch".into(),
                ".".into(),
                format!("other_config:certificate={}", path_str(&c.cert)),
                format!("other_config:private_key={}", path_str(&c.key)),
            ]);
            if let Some(ca) = &c.ca {
                a.push(format!("other_config:ca_cert={}", path_str(ca)));
            }
            a.push("--".into());
        }
        for t in TUNNELS {
            a.extend([
                "add-port".into(),
                t.bridge().into(),
                t.port().into(),
                "--".into(),
                "set".into(),
                "interface".into(),
                t.port().into(),
                format!("type={}", t.kind()),
                format!("options:local_ip={}", t.underlay(self.side)),
                format!("options:remote_ip={}", t.underlay(self.side.peer())),
            ]);
            a.push(match (case, &self.creds) {
                (
                    OvsCase::SelfSigned,
                    Some(Creds {
                        peer_cert: Some(p), ..
                    }),
                ) => {
                    format!("options:remote_cert={}", path_str(p))
                }
                (OvsCase::CaSigned, _) => {
                    format!("options:remote_name={}", certs::host_name(self.side.peer()))
                }
                _ => format!("options:psk={PSK}"),
            });
            a.push("--".into());
        }
        a.pop();
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        self.switch.vsctl(&refs).map(|_| ())
    }

    fn status(&self) -> Result<String, LabError> {
        Ok(self.root.ipsec(&["status"])?.1)
    }

    /// Waits until `ipsec status` routes exactly `tunnels`' connections of version 1 and the
    /// monitor shows exactly those tunnels configured. The monitor answers `tunnels/show` only
    /// between passes, so the refresh that loaded them (and its `stroke down-nb` calls) is over.
    fn wait_routed(&mut self, tunnels: &[Tunnel]) -> Result<(), LabError> {
        let name = self.side.name();
        let matches = |h: &mut Host| -> Result<(bool, String), LabError> {
            let s = h.status()?;
            let routed = TUNNELS.iter().all(|t| {
                let up = t
                    .conns(1)
                    .iter()
                    .all(|c| s.contains(&format!("{c}{{0}}:  ROUTED, TRANSPORT")));
                up == tunnels.contains(t)
            });
            if !routed {
                return Ok((false, s));
            }
            let shown = h.monitor()?.tunnels_show()?;
            let configured = TUNNELS.iter().all(|t| {
                let line = format!("Interface name: {} v1 (CONFIGURED)", t.port());
                shown.contains(&line) == tunnels.contains(t)
            }) && (tunnels.is_empty() || !shown.contains("(REMOVED)"));
            Ok((configured, format!("{s}\n--- tunnels/show ---\n{shown}")))
        };
        let mut last = String::new();
        let waited = wait_until(
            &format!("{name}: the monitor's connections {tunnels:?} routed"),
            90,
            || {
                let (ok, text) = matches(self)?;
                last = text;
                Ok(ok)
            },
        );
        waited.map_err(|e| LabError::Check(format!("{e}; last seen:\n{}", tail(&last, 40))))
    }

    fn del_port(&self, t: Tunnel) -> Result<(), LabError> {
        self.switch
            .vsctl(&["del-port", t.bridge(), t.port()])
            .map(|_| ())
    }

    fn stop(&mut self) {
        if let Some(m) = self.monitor.as_mut() {
            m.stop();
        }
        self.daemon.stop();
        self.switch.stop();
    }
}

/// Runs `step` on both hosts at once (start-up is slow under TCG).
fn both<T: Send>(f: impl Fn(Side) -> Result<T, LabError> + Sync) -> Result<[T; 2], LabError> {
    let (l, r) = std::thread::scope(|s| {
        let tl = s.spawn(|| f(Side::Bfl));
        let tr = s.spawn(|| f(Side::Bfr));
        (tl.join(), tr.join())
    });
    let join = |r: std::thread::Result<Result<T, LabError>>| {
        r.map_err(|_| LabError::Setup("a host thread panicked".into()))?
    };
    Ok([join(l)?, join(r)?])
}

/// Runs one upstream OVS row.
pub fn run(_sc: &Scenario, ctx: &Context, dir: &Path, case: OvsCase) -> Result<(), LabError> {
    // The credentials first, one host after the other: both share the run's key files.
    let mut creds = Vec::new();
    for side in Side::BOTH {
        creds.push(credentials(ctx, &dir.join(side.name()), case, side)?);
    }
    let mut hosts = both(|side| {
        let i = usize::from(side == Side::Bfr);
        Host::start(ctx, dir, side, creds[i].clone())
    })?;
    let result = (|| {
        for h in hosts.iter_mut() {
            h.daemon.wait_ready()?;
            h.start_monitor(ctx)?;
        }
        body(ctx, dir, case, &mut hosts)
    })();
    if result.is_err() {
        dump(ctx, dir, &hosts);
    }
    for h in hosts.iter_mut() {
        h.stop();
    }
    result
}

fn body(ctx: &Context, dir: &Path, case: OvsCase, hosts: &mut [Host; 2]) -> Result<(), LabError> {
    for h in hosts.iter() {
        h.configure(case)?;
    }
    for h in hosts.iter_mut() {
        h.wait_routed(&TUNNELS)?;
    }
    ready(ctx, hosts, &TUNNELS)?;
    esp_only(ctx, dir, &TUNNELS, "1")?;
    if case == OvsCase::Psk {
        restart_monitor(ctx, dir, hosts)?;
    }
    // Removing a tunnel: nothing of it stays, the other one still works.
    for h in hosts.iter() {
        h.del_port(Tunnel::Gre)?;
    }
    for h in hosts.iter_mut() {
        h.wait_routed(&[Tunnel::Vxlan])?;
    }
    wait_gone(ctx, hosts, Tunnel::Gre)?;
    ready(ctx, hosts, &[Tunnel::Vxlan])?;
    esp_only(ctx, dir, &[Tunnel::Vxlan], "after-gre-removal")?;
    for h in hosts.iter() {
        h.del_port(Tunnel::Vxlan)?;
    }
    for h in hosts.iter_mut() {
        h.wait_routed(&[])?;
    }
    wait_gone(ctx, hosts, Tunnel::Vxlan)?;
    let view = KernelView::read(&ctx.lab)?;
    for side in Side::BOTH {
        let left: Vec<_> = view.states(side).iter().filter(|s| !larval(s)).collect();
        ensure!(
            left.is_empty() && view.policies(side).is_empty(),
            "{}: left after both ports' removal: SAs {left:?}, policies {:?}",
            side.name(),
            view.policies(side)
        );
    }
    for h in hosts.iter() {
        let s = h.status()?;
        ensure!(
            !s.contains("ESTABLISHED") && !s.contains("gre0") && !s.contains("vx0"),
            "{}: left after both ports' removal:\n{}",
            h.side.name(),
            tail(&s, 20)
        );
    }
    Ok(())
}

/// One ping from BFL to BFR's overlay address of `t`.
fn ping(ctx: &Context, t: Tunnel, count: u32) -> Result<bool, LabError> {
    let out = run_capture(
        &ctx.lab.ip.to_string_lossy(),
        &ctx.lab.in_ns(
            Side::Bfl,
            &args(&[
                "ping",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "2",
                t.overlay(Side::Bfr),
            ]),
        ),
        30,
    )?;
    Ok(out.status.success())
}

/// Runs `f` for each of `tunnels` at once.
fn per_tunnel<T: Send>(
    tunnels: &[Tunnel],
    f: impl Fn(Tunnel) -> Result<T, LabError> + Sync,
) -> Result<Vec<T>, LabError> {
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = tunnels.iter().map(|t| s.spawn(move || f(*t))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| LabError::Setup("a ping thread panicked".into()))?
            })
            .collect()
    })
}

/// Pings across `tunnels` until each answers: the first packets hit the trap policies, whose
/// ACQUIREs have iked negotiate (VXLAN: each direction its own child, one per host).
fn reachable(ctx: &Context, tunnels: &[Tunnel]) -> Result<(), LabError> {
    per_tunnel(tunnels, |t| {
        wait_until(&format!("ping across the {} overlay", t.kind()), 90, || {
            ping(ctx, t, 1)
        })
    })
    .map(|_| ())
}

/// [`reachable`], then until each host lists one ESTABLISHED IKE SA per tunnel and nothing
/// else (up to 30 s; the check after it reports what stayed), then [`reachable`] again. Both
/// hosts' first packets hit their traps at once, so each tunnel starts with two crossing IKE
/// SAs; the crossing rule deletes one about 2 s later, and a child of the deleted one that the
/// other lacks is created again on the survivor: pings sent in between may be lost, which is
/// the crossing's settling, not the steady state that [`esp_only`] asserts.
fn ready(ctx: &Context, hosts: &[Host; 2], tunnels: &[Tunnel]) -> Result<(), LabError> {
    reachable(ctx, tunnels)?;
    let _ = wait_until("one IKE SA per tunnel on each host", 30, || {
        for h in hosts {
            let l = h.daemon.list_sas()?;
            let headers: Vec<&str> = crate::checks::ike_sa_headers(&l.output).collect();
            if headers.len() != tunnels.len() || !headers.iter().all(|l| l.contains("ESTABLISHED"))
            {
                return Ok(false);
            }
        }
        Ok(true)
    });
    reachable(ctx, tunnels)
}

/// A larval state the kernel made for an ACQUIRE (SPI 0, no keys); it lives until an SA of
/// the trap's reqid replaces it or `xfrm_acq_expires` (30 s) passes. iked's CHILD_SAs carry
/// their own reqid, not the trap's (charon reuses the trap's), so they stay until they expire.
fn larval(sa: &XfrmState) -> bool {
    sa.spi.is_none_or(|spi| spi == 0) && sa.algorithms.is_empty()
}

/// Every SA is the monitor's: transport mode, AES-GCM-16 with a 256-bit key.
fn check_sas(view: &KernelView) -> Result<(), LabError> {
    for side in Side::BOTH {
        for sa in view.states(side).iter().filter(|sa| !larval(sa)) {
            let aead = sa
                .algorithms
                .iter()
                .any(|a| a.name == AEAD && a.key_bits == AEAD_KEY_BITS);
            ensure!(
                sa.mode == "transport" && aead,
                "{}: SA {:x?} is not transport {AEAD}/{AEAD_KEY_BITS}: {sa:?}",
                side.name(),
                sa.spi
            );
        }
    }
    Ok(())
}

fn spis_of(states: &[XfrmState], t: Tunnel) -> BTreeSet<u32> {
    states
        .iter()
        .filter(|s| t.carries(&s.src, &s.dst) && !larval(s))
        .filter_map(|s| s.spi)
        .collect()
}

/// Pings across `tunnels` while capturing BFR's `p0`: all answered, each direction of each
/// tunnel seen as ESP with SPIs of installed SAs, and no GRE, VXLAN or ICMP echo in clear.
fn esp_only(ctx: &Context, dir: &Path, tunnels: &[Tunnel], tag: &str) -> Result<(), LabError> {
    // The SAs installed before the pings and after them both count: crossed ACQUIREs on the
    // two hosts can leave a duplicate CHILD_SA whose SAs carry packets until the crossing
    // rule removes it, which may fall between the capture and a single read afterwards.
    let before = KernelView::read(&ctx.lab)?;
    let capture = ctx.lab.start_capture_of(
        Side::Bfr,
        &dir.join(format!("capture-bfr-{tag}.txt")),
        "esp or udp or icmp or proto gre",
    )?;
    let pinged = per_tunnel(tunnels, |t| ping(ctx, t, PINGS))?;
    let captured = capture.finish()?;
    let view = KernelView::read(&ctx.lab)?;
    ensure!(
        pinged.iter().all(|p| *p),
        "pings across {tunnels:?} were not all answered"
    );
    check_sas(&view)?;
    let mut clear = Vec::new();
    let mut esp: Vec<(String, String, u32)> = Vec::new();
    for line in &captured.lines {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let (src, dst) = match tokens.as_slice() {
            [_, "IP", src, ">", dst, ..] => {
                (src.to_string(), dst.trim_end_matches(':').to_string())
            }
            _ => continue,
        };
        if let Some(rest) = line.split("ESP(spi=0x").nth(1) {
            let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
            if let Ok(spi) = u32::from_str_radix(&hex, 16) {
                esp.push((src, dst, spi));
            }
        } else if line.contains("GRE")
            || line.contains("ICMP echo")
            || line.contains(".4789:")
            || line.contains(".4789 >")
        {
            clear.push(line.clone());
        }
    }
    ensure!(
        clear.is_empty(),
        "clear text on the wire: {:?}",
        clear.iter().take(5).collect::<Vec<_>>()
    );
    for t in tunnels {
        let mut installed = spis_of(&view.bfr_states, *t);
        installed.extend(spis_of(&before.bfr_states, *t));
        for from in Side::BOTH {
            let (s, d) = (t.underlay(from), t.underlay(from.peer()));
            let seen: Vec<u32> = esp
                .iter()
                .filter(|(a, b, _)| a == s && b == d)
                .map(|e| e.2)
                .collect();
            ensure!(
                seen.len() as u64 + captured.dropped >= u64::from(PINGS)
                    && !seen.is_empty()
                    && seen.iter().all(|spi| installed.contains(spi)),
                "{} {s} > {d}: {} ESP packets (SPIs {:x?}), want {PINGS} with SPIs of the \
                 installed SAs {installed:x?}",
                t.kind(),
                seen.len(),
                seen.iter().collect::<BTreeSet<_>>()
            );
        }
    }
    Ok(())
}

/// BFL's monitor is restarted; the GRE SAs stay and traffic still flows only as ESP.
fn restart_monitor(ctx: &Context, dir: &Path, hosts: &mut [Host; 2]) -> Result<(), LabError> {
    let before = spis_of(&KernelView::read(&ctx.lab)?.bfl_states, Tunnel::Gre);
    let h = &mut hosts[0];
    h.monitor()?.stop();
    h.start_monitor(ctx)?;
    h.wait_routed(&TUNNELS)?;
    let after = spis_of(&KernelView::read(&ctx.lab)?.bfl_states, Tunnel::Gre);
    ensure!(
        !before.is_empty() && before.is_subset(&after),
        "the GRE SAs changed across the monitor's restart: {before:x?} -> {after:x?}"
    );
    ready(ctx, hosts, &TUNNELS)?;
    esp_only(ctx, dir, &TUNNELS, "after-restart")
}

/// Waits until neither kernel holds an SA or policy of `t` and no daemon lists its
/// connections.
fn wait_gone(ctx: &Context, hosts: &[Host; 2], t: Tunnel) -> Result<(), LabError> {
    let left = || -> Result<Vec<String>, LabError> {
        let view = KernelView::read(&ctx.lab)?;
        let mut left = Vec::new();
        for side in Side::BOTH {
            for s in view
                .states(side)
                .iter()
                .filter(|s| t.carries(&s.src, &s.dst) && !larval(s))
            {
                left.push(format!("{}: SA {:x?}", side.name(), s.spi));
            }
            for p in view
                .policies(side)
                .iter()
                .filter(|p| t.carries(&p.selector.src, &p.selector.dst))
            {
                left.push(format!("{}: policy {} {}", side.name(), p.dir, p.selector));
            }
        }
        for h in hosts {
            if h.status()?.contains(t.port()) {
                left.push(format!(
                    "{}: ipsec status lists {}",
                    h.side.name(),
                    t.port()
                ));
            }
        }
        Ok(left)
    };
    let _ = wait_until(&format!("nothing of {} left", t.port()), 30, || {
        Ok(left()?.is_empty())
    });
    let left = left()?;
    ensure!(
        left.is_empty(),
        "after removing {} on both hosts: {left:?}",
        t.port()
    );
    Ok(())
}

/// Saves each host's kernel state, `ipsec status` and `ovs-vsctl show` next to the logs.
fn dump(ctx: &Context, dir: &Path, hosts: &[Host; 2]) {
    for h in hosts {
        let mut text = ctx.lab.ipsec_dump(h.side);
        if let Ok(s) = h.status() {
            text.push_str(&format!("### ipsec status\n{s}\n"));
        }
        if let Ok(l) = h.daemon.list_sas() {
            text.push_str(&format!("### list-sas\n{}\n", l.output));
        }
        if let Ok(s) = h.switch.vsctl(&["show"]) {
            text.push_str(&format!("### ovs-vsctl show\n{s}\n"));
        }
        let _ = std::fs::write(dir.join(format!("{}-state.txt", h.side.name())), text);
    }
}
