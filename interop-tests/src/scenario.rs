//! The scenarios: what each sets up, does, and asserts.
//!
//! Contract: a [`Scenario`] is data (kind, which implementation runs on BFL and BFR, who
//! initiates); [`run`] gives it fresh namespaces and daemons, runs it, and always tears down.
//! A scenario that needs iked while `target/debug/iked` (or `ikectl`) is missing is a SKIP with
//! that reason. Logs and kernel dumps of a failed scenario stay in its directory; a passed one's
//! directory is removed unless `keep_all`. A scenario marked with a known failure (reason and
//! team-notes reference in [`all`]) that fails is an XFAIL, counted apart from passes; the mark
//! never changes a pass or a skip.
//!
//! The strongSwan-against-strongSwan rows are baselines that prove the lab and its assertions;
//! they say nothing about iked, and may never carry a known-failure mark.

mod any;
mod cookie;
mod crash;
mod dpd;
mod guard;
mod hitless;
mod libreswan_refusal;
mod monitor;
mod natt;
mod offload_both;
pub mod ovs;
mod ovs_upstream;
mod peers;
mod rekey_cmd;
mod restart_seq;
mod xfrmi;

pub use dpd::Action as DpdAction;
pub use rekey_cmd::Target as RekeyTarget;

use std::path::{Path, PathBuf};

use crate::certs::{self, CertCase};
use crate::checks::{self, KernelView, SEED_ESP};
use crate::clock::Stopwatch;
use crate::daemon::{Daemon, IkedBins, Implementation};
use crate::netlab::{Lab, VXLAN_PORT, wait_until};
use crate::report::{KnownFailure, Outcome, ScenarioResult};
use crate::swan_conf::{Side, SwanctlConf};
use crate::{LabError, ensure};

/// What a scenario exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The seed's BFL/BFR tunnel (hw_offload = auto on veth): both children, traffic, clear ICMP.
    Seed,
    /// `hw_offload = packet` on iked's side over veth: the child fails with the kernel's reason,
    /// nothing is installed, the IKE SA survives, `ikectl initiate` (or the log) says why and
    /// `list-sas` lists no failed child, as charon. With iked as the
    /// responder it refuses the child in its IKE_AUTH response (NO_PROPOSAL_CHOSEN) instead of
    /// accepting it and sending a DELETE after, so charon never holds the child either.
    PacketOffloadOnVeth,
    /// `rekey_packets = 1000` on the initiator: traffic crosses it, the CHILD_SA is rekeyed
    /// while traffic flows, no datagram is lost, old SAs are removed.
    RekeyPackets,
    /// The IKE SA is deleted from the given side: both kernels end clean.
    Delete(Side),
    /// One CHILD_SA (`bf-out`) is deleted from the given side: its SAs go on both hosts, the
    /// other child and the IKE SA stay; then that side deletes the IKE SA and both kernels
    /// end clean.
    DeleteChild(Side),
    /// The given side rekeys the `bf-out` CHILD_SA or the IKE SA on command while datagrams
    /// flow: none lost, old SAs gone (see [`rekey_cmd`]).
    Rekey(Side, RekeyTarget),
    /// iked responds with `cookie_threshold_ip = 1` while a half-open IKE SA from the peer's
    /// address is pending: the peer must retry with the COOKIE (see [`cookie`]).
    Cookie,
    /// iked detects the paused peer with DPD and applies its `dpd_action` (see [`dpd`]).
    Dpd(DpdAction),
    /// `hw_offload = packet` on both ends of the veth: both refuse (see [`offload_both`]).
    PacketOffloadBoth,
    /// The responder offers only `aes256gcm16-modp2048-esn`: NO_PROPOSAL_CHOSEN both sides.
    ProposalMismatch,
    /// The responder has another PSK: AUTHENTICATION_FAILED, nothing installed.
    PskMismatch,
    /// iked on BFL restarts while the SA is up: it stays up, leaves no stale state, and the
    /// tunnel comes back (the peer drops the old SA on INITIAL_CONTACT).
    RestartIked,
    /// iked is killed with SIGKILL while the tunnel is up and started again: the tunnel comes
    /// back when the initiator initiates again, the peer ends with one IKE SA, and the
    /// crashed instance's SAs and policies are gone once `--stale-grace` passed.
    CrashIked,
    /// iked restarts hitlessly (SIGUSR2 hand-over) under a UDP/4789 stream: nothing lost,
    /// SPIs and IKE SA unchanged, CHILD and IKE rekeys work after it (see [`hitless`]).
    HitlessIked,
    /// Against one peer in one set-up: SIGKILL and restart, SIGTERM and restart, hitless
    /// restart under a stream with CHILD and IKE rekeys after it, each step asserted and its
    /// restart gap reported (see [`restart_seq`]).
    RestartSequence,
    /// iked's hand-over state is corrupted before the next start: refused with a clear
    /// error, the tunnel comes back by clean recovery (see [`hitless`]).
    HitlessCorruptState,
    /// `encap = yes` on the given side fakes a NAT: IKE moves to port 4500 and every SA is
    /// ESP-in-UDP (see [`natt`]).
    NattForced(Side),
    /// Certificate authentication as in the seed's OVS section (issue 8): the seed tunnel comes
    /// up, or, for a faulty initiator credential, AUTHENTICATION_FAILED with the cause in the
    /// responder's log and nothing installed.
    Cert(CertCase),
    /// NVIDIA's OVS guard on BFL: a shunt-only connection with a marked drop child for
    /// `[udp/4789]` (see [`guard`]); marked clear text is refused, the tunnel still works.
    DropGuard,
    /// The seed with `remote_addrs = %any` on BFR (and `local_addrs = %any` on an iked
    /// initiator) and `dynamic` selectors on the edited sides (see [`any`]).
    SeedAny,
    /// Open vSwitch IPsec as the seed configures it, iked on both hosts under a driver that
    /// does what NVIDIA's ovs-monitor-ipsec does (see [`ovs`]).
    Ovs(ovs::OvsCase),
    /// Upstream Open vSwitch: Debian's unmodified ovs-monitor-ipsec (`--ike-daemon=strongswan`,
    /// ipsec.conf, `ipsec` = ikectl) on both hosts, GRE and VXLAN at once (see [`ovs_upstream`]).
    OvsUpstream(ovs::OvsCase),
    /// Both hosts start both children at once in NVIDIA's OVS monitor's shape, this many
    /// rounds (see [`monitor`]).
    MonitorStart(u32),
    /// A route-based child (`if_id_in`/`if_id_out`) through an XFRM interface on each host
    /// (see [`xfrmi`]).
    XfrmInterface,
}

/// One row of the lab.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: String,
    pub kind: Kind,
    pub bfl: Implementation,
    pub bfr: Implementation,
    pub initiator: Side,
    /// Known failure: why this scenario fails against the current iked (with the issue or the
    /// notes entry). A failure is then reported as XFAIL, never as a pass; a pass is reported as
    /// a PASS with a note to remove the mark.
    pub known_failure: Option<KnownFailure>,
}

use Implementation::{Iked, Libreswan, StrongSwan, StrongSwan6};

impl Scenario {
    fn new(
        id: impl Into<String>,
        kind: Kind,
        bfl: Implementation,
        bfr: Implementation,
        initiator: Side,
    ) -> Self {
        Self {
            id: id.into(),
            kind,
            bfl,
            bfr,
            initiator,
            known_failure: None,
        }
    }

    /// Marks the scenario as a known failure: the reason, and the text its failure report
    /// must contain (any other failure stays a FAIL).
    pub fn known_failure(mut self, why: &'static str, symptom: &'static str) -> Self {
        self.known_failure = Some(KnownFailure { why, symptom });
        self
    }

    /// Implementation on `side`.
    pub fn implementation(&self, side: Side) -> Implementation {
        match side {
            Side::Bfl => self.bfl,
            Side::Bfr => self.bfr,
        }
    }

    fn uses_iked(&self) -> bool {
        self.bfl == Iked || self.bfr == Iked
    }

    /// A baseline: no iked on either side.
    pub fn is_baseline(&self) -> bool {
        !self.uses_iked()
    }

    /// The "peer" column: what iked is tested against.
    pub fn peer_label(&self) -> String {
        match (self.bfl, self.bfr) {
            (Iked, Iked) => "iked".into(),
            (Iked, peer) | (peer, Iked) => peer.label().into(),
            (peer, _) => format!("{} (both)", peer.label()),
        }
    }

    /// The "role" column: iked's role, or that this is a baseline.
    pub fn role_label(&self) -> String {
        let init = |side: Side| {
            if self.initiator == side {
                "initiator"
            } else {
                "responder"
            }
        };
        match (self.bfl, self.bfr) {
            (Iked, Iked) => "both ends".into(),
            (Iked, _) => format!("BFL {}", init(Side::Bfl)),
            (_, Iked) => format!("BFR {}", init(Side::Bfr)),
            _ => "baseline, not iked".into(),
        }
    }
}

/// Every scenario, baselines first. Kept small: each handshake costs seconds under TCG.
pub fn all() -> Vec<Scenario> {
    use Kind::*;
    use Side::{Bfl, Bfr};
    let mut rows = vec![
        Scenario::new("baseline-seed", Seed, StrongSwan, StrongSwan, Bfl),
        Scenario::new(
            "baseline-rekey-packets",
            RekeyPackets,
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-delete-by-responder",
            Delete(Bfr),
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-proposal-mismatch",
            ProposalMismatch,
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-psk-mismatch",
            PskMismatch,
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-cert-self-signed",
            Cert(CertCase::SelfSigned),
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-cert-ca",
            Cert(CertCase::CaSigned),
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-cert-expired",
            Cert(CertCase::Expired),
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-cert-other-ca",
            Cert(CertCase::OtherCa),
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-cert-id-mismatch",
            Cert(CertCase::IdMismatch),
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "baseline-raw-keys",
            Cert(CertCase::RawKeys),
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new("iked-initiates-seed", Seed, Iked, StrongSwan, Bfl),
        Scenario::new("iked-responds-seed", Seed, StrongSwan, Iked, Bfl),
        Scenario::new("iked-vs-iked-seed", Seed, Iked, Iked, Bfl),
        Scenario::new("iked-vs-iked-both-start", MonitorStart(20), Iked, Iked, Bfl),
        Scenario::new(
            "iked-vs-strongswan-both-start",
            MonitorStart(3),
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new("iked-responds-seed-any", SeedAny, StrongSwan, Iked, Bfl),
        Scenario::new("iked-initiates-seed-any", SeedAny, Iked, StrongSwan, Bfl),
        Scenario::new(
            "iked-packet-offload-on-veth",
            PacketOffloadOnVeth,
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "iked-responds-packet-offload-on-veth",
            PacketOffloadOnVeth,
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new("iked-rekey-packets", RekeyPackets, Iked, StrongSwan, Bfl),
        Scenario::new("iked-delete-by-iked", Delete(Bfl), Iked, StrongSwan, Bfl),
        Scenario::new(
            "iked-delete-by-strongswan",
            Delete(Bfr),
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "iked-proposal-mismatch",
            ProposalMismatch,
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new("iked-psk-mismatch", PskMismatch, Iked, StrongSwan, Bfl),
        Scenario::new("iked-restart", RestartIked, Iked, StrongSwan, Bfl),
        Scenario::new("iked-restart-responder", RestartIked, StrongSwan, Iked, Bfl),
        Scenario::new("iked-crash-restart", CrashIked, Iked, StrongSwan, Bfl),
        Scenario::new(
            "iked-crash-restart-responder",
            CrashIked,
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new("iked-hitless-restart", HitlessIked, Iked, StrongSwan, Bfl),
        Scenario::new(
            "iked-hitless-restart-responder",
            HitlessIked,
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-hitless-corrupt-state",
            HitlessCorruptState,
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new("iked-natt-forced", NattForced(Bfr), Iked, StrongSwan, Bfl),
        Scenario::new(
            "iked-natt-forced-by-iked",
            NattForced(Bfl),
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "iked-natt-forced-responder",
            NattForced(Bfl),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-initiates-cert-self-signed",
            Cert(CertCase::SelfSigned),
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "iked-responds-cert-self-signed",
            Cert(CertCase::SelfSigned),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-initiates-cert-ca",
            Cert(CertCase::CaSigned),
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "iked-responds-cert-ca",
            Cert(CertCase::CaSigned),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-cert-expired",
            Cert(CertCase::Expired),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-cert-other-ca",
            Cert(CertCase::OtherCa),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-crl-file-revoked",
            Cert(CertCase::RevokedCrlFile),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-crl-http-revoked",
            Cert(CertCase::RevokedCrlHttp),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-crl-http-good-strict",
            Cert(CertCase::GoodCrlHttpStrict),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-crl-unreachable-strict",
            Cert(CertCase::CrlUnreachableStrict),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-cert-id-mismatch",
            Cert(CertCase::IdMismatch),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "iked-initiates-raw-keys",
            Cert(CertCase::RawKeys),
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "iked-responds-raw-keys",
            Cert(CertCase::RawKeys),
            StrongSwan,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "baseline-ovs-psk",
            Ovs(ovs::OvsCase::Psk),
            StrongSwan,
            StrongSwan,
            Bfl,
        ),
        Scenario::new("ovs-iked-psk", Ovs(ovs::OvsCase::Psk), Iked, Iked, Bfl),
        Scenario::new(
            "ovs-iked-cert-self-signed",
            Ovs(ovs::OvsCase::SelfSigned),
            Iked,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "ovs-iked-cert-ca",
            Ovs(ovs::OvsCase::CaSigned),
            Iked,
            Iked,
            Bfl,
        ),
        Scenario::new("iked-drop-shunt-guard", DropGuard, Iked, StrongSwan, Bfl),
        Scenario::new("iked-xfrmi-if-id", XfrmInterface, Iked, StrongSwan, Bfl),
        Scenario::new(
            "iked-cert-no-id",
            Cert(CertCase::SelfSignedNoId),
            Iked,
            StrongSwan,
            Bfl,
        ),
        Scenario::new(
            "ovs-upstream-psk",
            OvsUpstream(ovs::OvsCase::Psk),
            Iked,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "ovs-upstream-cert-self-signed",
            OvsUpstream(ovs::OvsCase::SelfSigned),
            Iked,
            Iked,
            Bfl,
        ),
        Scenario::new(
            "ovs-upstream-cert-ca",
            OvsUpstream(ovs::OvsCase::CaSigned),
            Iked,
            Iked,
            Bfl,
        ),
    ];
    for peer in [StrongSwan6, Libreswan] {
        rows.extend(peers::peer_rows(peer));
    }
    rows
}

/// What every scenario shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub lab: Lab,
    /// Workspace root (for the seed configs).
    pub workspace: PathBuf,
    /// Output directory of the run; each scenario gets a subdirectory.
    pub out: PathBuf,
    pub iked: IkedBins,
    /// Keep the directories of passed scenarios too.
    pub keep_all: bool,
    /// Print the operator's view (list-sas, xfrm state, ESP capture) as the demo does.
    pub verbose: bool,
}

/// The strongswan.conf tuning iked gets in a scenario, if any.
fn iked_tuning(kind: Kind) -> Option<String> {
    match kind {
        Kind::Cookie => Some(cookie::IKED_TUNING.to_string()),
        Kind::Dpd(_) => Some(dpd::IKED_TUNING.to_string()),
        _ => None,
    }
}

/// The children the seed initiates, in the guide's order.
pub const SEED_CHILDREN: [&str; 2] = ["bf-in", "bf-out"];
/// The ESP proposal of the mismatch scenario (from the task).
pub const MISMATCH_ESP: &str = "aes256gcm16-modp2048-esn";
/// Datagrams per direction in the traffic checks.
const TRAFFIC_COUNT: u32 = 5;

/// Runs one scenario and returns its table row.
pub fn run(sc: &Scenario, ctx: &Context) -> ScenarioResult {
    let row = |outcome, secs| ScenarioResult {
        scenario: sc.id.clone(),
        peer: sc.peer_label(),
        role: sc.role_label(),
        outcome,
        secs,
        known_failure: sc.known_failure.map(|k| k.why.to_string()),
    };
    if let Some(why) = ctx.iked.missing().filter(|_| sc.uses_iked()) {
        return row(Outcome::Skip(why), 0.0);
    }
    // Open vSwitch missing is a prerequisite, not a result (a SKIP, which fails under CI), so
    // a known-failure mark cannot hide it.
    if let Some(why) = matches!(sc.kind, Kind::Ovs(_) | Kind::OvsUpstream(_))
        .then(crate::ovs::switch::Switch::missing)
        .flatten()
        .or_else(|| {
            matches!(sc.kind, Kind::OvsUpstream(_))
                .then(|| crate::ovs::upstream::missing(&ctx.lab.dir))
                .flatten()
        })
    {
        return row(Outcome::Skip(why), 0.0);
    }
    let watch = Stopwatch::start();
    let dir = ctx.out.join(&sc.id);
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = match std::fs::create_dir_all(&dir) {
        Err(e) => Outcome::Fail(LabError::io(&dir, e).to_string()),
        Ok(()) => match ctx.lab.create_topology() {
            Err(e) => Outcome::Fail(format!("topology: {e}")),
            Ok(()) => match run_body(sc, ctx, &dir) {
                Ok(()) => Outcome::Pass,
                Err(e) => Outcome::Fail(e.to_string()),
            },
        },
    };
    ctx.lab.destroy_topology();
    if outcome == Outcome::Pass && !ctx.keep_all {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        let _ = std::fs::write(dir.join("outcome.txt"), format!("{outcome:?}\n"));
    }
    row(
        outcome.with_known_failure(sc.known_failure.as_ref()),
        watch.secs(),
    )
}

/// The two daemons of a scenario.
struct Hosts {
    bfl: Daemon,
    bfr: Daemon,
    /// The revocation rows' CRL server, stopped with the hosts.
    _crl_server: Option<crate::crl_rows::CrlServer>,
}

impl Hosts {
    fn get(&self, side: Side) -> &Daemon {
        match side {
            Side::Bfl => &self.bfl,
            Side::Bfr => &self.bfr,
        }
    }
    fn get_mut(&mut self, side: Side) -> &mut Daemon {
        match side {
            Side::Bfl => &mut self.bfl,
            Side::Bfr => &mut self.bfr,
        }
    }
}

/// The per-side swanctl.conf of a scenario: the seed with its edits.
pub fn scenario_config(
    sc: &Scenario,
    workspace: &Path,
    side: Side,
) -> Result<SwanctlConf, LabError> {
    let mut conf = SwanctlConf::load(workspace, side)?;
    let responder = sc.initiator.peer();
    // veth has no offload: `auto` falls back to software, as the seed's `packet` cannot.
    let offload = if sc.kind == Kind::PacketOffloadOnVeth && sc.implementation(side) == Iked {
        "packet"
    } else if sc.kind == Kind::PacketOffloadBoth {
        offload_both::offload_setting()
    } else {
        "auto"
    };
    ensure!(
        conf.set_all("hw_offload", offload) > 0,
        "seed config has no hw_offload lines"
    );
    match sc.kind {
        Kind::RekeyPackets if side == sc.initiator => {
            conf.add_to_children("rekey_packets", "1000");
            // Hard limit well above the soft one, so the rekey (seconds under TCG) completes
            // before the old SA would expire under traffic.
            conf.add_to_children("life_packets", "4000");
            // No random jitter: rekey exactly at 1000 packets, so "traffic crosses it" holds.
            conf.add_to_children("rand_packets", "0");
        }
        Kind::ProposalMismatch if side == responder => {
            ensure!(
                conf.set_all("esp_proposals", MISMATCH_ESP) > 0,
                "no esp_proposals"
            );
        }
        Kind::PskMismatch if side == responder => {
            ensure!(
                conf.set_all("secret", "\"not-the-seed-psk\"") > 0,
                "no secret line in the seed config"
            );
        }
        Kind::Cert(case) => {
            conf = certs::edit_config(&conf, case, side)?;
            if case.is_strict() && side == responder {
                conf = crate::crl_rows::strict_policy(&conf)?;
            }
        }
        Kind::NattForced(by) => natt::edit_config(&mut conf, side, by)?,
        Kind::SeedAny => any::edit_config(&mut conf, sc, side)?,
        Kind::DropGuard => guard::edit_config(&mut conf, side)?,
        Kind::XfrmInterface => xfrmi::edit_config(&mut conf, side)?,
        Kind::Dpd(action) => dpd::edit_config(&mut conf, sc, side, action)?,
        Kind::MonitorStart(_) => monitor::edit_config(&mut conf)?,
        _ => {}
    }
    Ok(conf)
}

fn start_hosts(sc: &Scenario, ctx: &Context, dir: &Path) -> Result<Hosts, LabError> {
    let iked = IkedBins {
        tuning: iked_tuning(sc.kind),
        ..ctx.iked.clone()
    };
    let start = |side: Side| -> Result<Daemon, LabError> {
        let conf = scenario_config(sc, &ctx.workspace, side)?;
        if let Kind::Cert(case) = sc.kind {
            let pki = certs::Pki::ensure(&ctx.out)?;
            certs::provision(&pki, &dir.join(side.name()), case, side, sc.initiator)?;
        }
        Daemon::start(
            &ctx.lab,
            side,
            sc.implementation(side),
            &dir.join(side.name()),
            &conf,
            Some(&iked),
        )
    };
    let crl_server = match sc.kind {
        Kind::Cert(case) if crate::crl_rows::serves_crl(case) => {
            let verifier = sc.initiator.peer();
            Some(crate::crl_rows::start_server(
                &ctx.lab,
                verifier,
                &dir.join(verifier.name()),
                case,
            )?)
        }
        _ => None,
    };
    let mut hosts = Hosts {
        bfl: start(Side::Bfl)?,
        bfr: start(Side::Bfr)?,
        _crl_server: crl_server,
    };
    hosts.bfl.wait_ready()?;
    hosts.bfr.wait_ready()?;
    Ok(hosts)
}

fn run_body(sc: &Scenario, ctx: &Context, dir: &Path) -> Result<(), LabError> {
    if let Kind::Ovs(case) = sc.kind {
        // Its own hosts: an OVS instance, iked and a driver on each.
        return ovs::run(sc, ctx, dir, case);
    }
    if let Kind::OvsUpstream(case) = sc.kind {
        return ovs_upstream::run(sc, ctx, dir, case);
    }
    let mut hosts = start_hosts(sc, ctx, dir)?;
    let result = match sc.kind {
        Kind::Seed | Kind::SeedAny => seed(sc, ctx, dir, &hosts).map(|_| ()),
        Kind::Delete(from) => delete(sc, ctx, dir, &hosts, from),
        Kind::DeleteChild(from) => delete_child(sc, ctx, dir, &hosts, from),
        Kind::Rekey(by, target) => rekey_cmd::run(sc, ctx, dir, &hosts, by, target),
        Kind::Cookie => cookie::run(sc, ctx, dir, &hosts),
        Kind::Dpd(action) => dpd::run(sc, ctx, &hosts, action),
        Kind::PacketOffloadBoth => offload_both::run(sc, ctx, dir, &hosts),
        Kind::ProposalMismatch => negative(sc, ctx, &hosts, &["NO_PROP"], "NO_PROPOSAL_CHOSEN"),
        Kind::PskMismatch => negative(
            sc,
            ctx,
            &hosts,
            &["AUTHENTICATION_FAILED", "AUTH_FAILED"],
            "AUTHENTICATION_FAILED",
        ),
        Kind::RekeyPackets => rekey(sc, ctx, dir, &hosts),
        Kind::PacketOffloadOnVeth => packet_offload(sc, ctx, &hosts),
        Kind::RestartIked => restart(sc, ctx, dir, &mut hosts),
        Kind::CrashIked => crash::run(sc, ctx, dir, &mut hosts),
        Kind::HitlessIked => hitless::run(sc, ctx, dir, &mut hosts),
        Kind::HitlessCorruptState => hitless::run_corrupt(sc, ctx, dir, &mut hosts),
        Kind::RestartSequence => restart_seq::run(sc, ctx, dir, &mut hosts),
        Kind::Cert(case) if case.is_negative() => cert_refused(sc, ctx, &hosts, case),
        Kind::Cert(_) => seed(sc, ctx, dir, &hosts).map(|_| ()),
        Kind::NattForced(_) => natt::run(sc, ctx, dir, &hosts),
        Kind::Ovs(_) | Kind::OvsUpstream(_) => Ok(()),
        Kind::DropGuard => guard::run(sc, ctx, dir, &hosts),
        Kind::XfrmInterface => xfrmi::run(sc, ctx, dir, &hosts),
        Kind::MonitorStart(rounds) => monitor::run(ctx, dir, &mut hosts, rounds),
    };
    if result.is_err() {
        dump_state(ctx, dir, &hosts);
    }
    result
}

/// Saves both kernels' IPsec state and both daemons' SA lists next to their logs.
fn dump_state(ctx: &Context, dir: &Path, hosts: &Hosts) {
    for side in Side::BOTH {
        let mut text = ctx.lab.ipsec_dump(side);
        if let Ok(l) = hosts.get(side).list_sas() {
            text.push_str(&format!("### list-sas\n{}\n", l.output));
        }
        let _ = std::fs::write(dir.join(format!("{}-state.txt", side.name())), text);
    }
}

/// Brings the seed's tunnel up from the initiator and waits for both kernels to hold it.
fn bring_up(sc: &Scenario, ctx: &Context, hosts: &Hosts) -> Result<checks::TunnelSpis, LabError> {
    let init = hosts.get(sc.initiator).initiate(&SEED_CHILDREN)?;
    ensure!(
        init.ok,
        "{} initiate --child bf-in --child bf-out failed: {}",
        sc.implementation(sc.initiator).label(),
        tail(&init.output, 15)
    );
    // The responder installs before it answers, but give slow TCG a moment anyway.
    let _ = wait_until("4 ESP SAs on both hosts", 15, || {
        let v = KernelView::read(&ctx.lab)?;
        Ok(v.bfl_states.len() >= 4 && v.bfr_states.len() >= 4)
    });
    let view = KernelView::read(&ctx.lab)?;
    checks::check_seed_tunnel(&view, &SEED_ESP)
}

fn ensure_established(hosts: &Hosts, sides: &[Side]) -> Result<(), LabError> {
    for side in sides {
        let l = hosts.get(*side).list_sas()?;
        ensure!(
            l.ok && l.output.to_ascii_uppercase().contains("ESTABLISHED"),
            "{}: list-sas shows no ESTABLISHED IKE SA: {}",
            side.name(),
            tail(&l.output, 10)
        );
    }
    Ok(())
}

fn seed(
    sc: &Scenario,
    ctx: &Context,
    dir: &Path,
    hosts: &Hosts,
) -> Result<checks::TunnelSpis, LabError> {
    let spis = bring_up(sc, ctx, hosts)?;
    ensure_established(hosts, &Side::BOTH)?;
    let wire = checks::check_traffic(&ctx.lab, dir, spis, TRAFFIC_COUNT)?;
    if ctx.verbose {
        print_operator_view(ctx, dir, hosts, &wire)?;
    }
    Ok(spis)
}

fn print_operator_view(
    ctx: &Context,
    dir: &Path,
    hosts: &Hosts,
    wire: &checks::WireSummary,
) -> Result<(), LabError> {
    for side in Side::BOTH {
        let d = hosts.get(side);
        let tool = match d.implementation {
            StrongSwan | StrongSwan6 => "swanctl --list-sas",
            Libreswan => "whack --showstates",
            Iked => "ikectl list-sas",
        };
        println!(
            "\n===== {} ({}, {}): {tool} =====",
            side.name().to_uppercase(),
            side.addr(),
            d.implementation.label()
        );
        println!("{}", hosts.get(side).list_sas()?.output.trim_end());
        println!(
            "\n===== {}: ip xfrm state (keys redacted) =====",
            side.name().to_uppercase()
        );
        println!("{}", ctx.lab.xfrm_state_brief(side)?.trim_end());
        println!(
            "\n===== {}: ip xfrm policy =====",
            side.name().to_uppercase()
        );
        println!("{}", ctx.lab.xfrm_policy_text(side)?.trim_end());
    }
    println!("\n===== tcpdump -nn -i p0 on BFR (first ESP packets and the clear ICMP) =====");
    let cap = std::fs::read_to_string(dir.join("capture-bfr.txt")).unwrap_or_default();
    for line in cap
        .lines()
        .filter(|l| l.contains("ESP("))
        .take(6)
        .chain(cap.lines().filter(|l| l.contains("ICMP")).take(2))
    {
        println!("{line}");
    }
    println!(
        "\nESP packets per SPI: {}; clear UDP/4789: {}; clear ICMP echo: {}",
        wire.esp_by_spi
            .iter()
            .map(|(spi, n)| format!("{spi:08x}={n}"))
            .collect::<Vec<_>>()
            .join(", "),
        wire.clear_vxlan,
        wire.clear_icmp_echo
    );
    Ok(())
}

fn delete(
    sc: &Scenario,
    ctx: &Context,
    dir: &Path,
    hosts: &Hosts,
    from: Side,
) -> Result<(), LabError> {
    seed(sc, ctx, dir, hosts)?;
    terminate_ike(ctx, hosts, from)
}

/// `from` deletes the IKE SA: both kernels end clean.
fn terminate_ike(ctx: &Context, hosts: &Hosts, from: Side) -> Result<(), LabError> {
    let r = hosts.get(from).terminate()?;
    ensure!(
        r.ok,
        "{} terminate failed: {}",
        hosts.get(from).implementation.label(),
        tail(&r.output, 10)
    );
    checks::wait_clean(&ctx.lab, 15)
}

/// The child that [`Kind::DeleteChild`] deletes, by the deleting side's name (its SA carries
/// that side's VXLAN out). On the initiator it is the second child initiated, so on Libreswan
/// it is not the conn that owns the IKE SA.
const DELETED_CHILD: &str = "bf-out";

fn delete_child(
    sc: &Scenario,
    ctx: &Context,
    dir: &Path,
    hosts: &Hosts,
    from: Side,
) -> Result<(), LabError> {
    let spis = seed(sc, ctx, dir, hosts)?;
    let d = hosts.get(from);
    let r = d.terminate_child(DELETED_CHILD)?;
    ensure!(
        r.ok,
        "{} terminate --child {DELETED_CHILD} failed: {}",
        d.implementation.label(),
        tail(&r.output, 10)
    );
    // `from`'s bf-out carries from -> peer:4789 (each host names its children after its own
    // direction); the other child stays, on both hosts alike.
    let (deleted, kept) = (spis.from(from), spis.from(from.peer()));
    let _ = wait_until("the deleted child's SAs removed", 15, || {
        let v = KernelView::read(&ctx.lab)?;
        Ok(v.bfl_states.len() == 2 && v.bfr_states.len() == 2)
    });
    let v = KernelView::read(&ctx.lab)?;
    for side in Side::BOTH {
        let left: Vec<_> = v.states(side).iter().filter_map(|s| s.spi).collect();
        ensure!(
            left.len() == 2 && !left.contains(&deleted) && left.contains(&kept),
            "{} after {} deleted its {DELETED_CHILD}: SAs {left:08x?} (want only the other \
             child's, with {kept:08x}, without {deleted:08x})",
            side.name(),
            from.name()
        );
        ensure!(
            v.policies(side).len() == 2,
            "{} after {} deleted its {DELETED_CHILD}: {} policies (want the other child's in \
             and out)",
            side.name(),
            from.name(),
            v.policies(side).len()
        );
    }
    ensure_established(hosts, &Side::BOTH)?;
    terminate_ike(ctx, hosts, from)
}

/// A handshake that must fail with `notify` on both sides and install nothing.
fn negative(
    sc: &Scenario,
    ctx: &Context,
    hosts: &Hosts,
    log_words: &[&str],
    notify: &str,
) -> Result<(), LabError> {
    let init = hosts.get(sc.initiator).initiate(&SEED_CHILDREN[..1])?;
    ensure!(!init.ok, "initiate succeeded but must fail with {notify}");
    for side in Side::BOTH {
        let log = hosts.get(side).log_text();
        ensure!(
            log_words.iter().any(|w| log.contains(w)),
            "{} log ({}) has no {notify} line",
            side.name(),
            hosts.get(side).implementation.label()
        );
    }
    // Give a DELETE or a late install time to show up before asserting nothing is there.
    std::thread::sleep(std::time::Duration::from_secs(1));
    checks::check_clean(&KernelView::read(&ctx.lab)?)
}

/// A faulty initiator certificate: the initiator is refused with AUTHENTICATION_FAILED (its log
/// shows the notify the verifying responder sent), nothing is installed on either host, and the
/// responder's log says why. For iked the reason must be named (expired, unknown CA, identity);
/// charon's wording differs, and its baselines only prove that the credentials are faulty.
fn cert_refused(
    sc: &Scenario,
    ctx: &Context,
    hosts: &Hosts,
    case: CertCase,
) -> Result<(), LabError> {
    if let Some(refused) = libreswan_refusal::check(sc, ctx, hosts, case) {
        return refused;
    }
    let init = hosts.get(sc.initiator).initiate(&SEED_CHILDREN[..1])?;
    ensure!(
        !init.ok,
        "initiate succeeded with a faulty certificate ({case:?})"
    );
    let initiator_log = hosts.get(sc.initiator).log_text();
    ensure!(
        initiator_log.contains("AUTHENTICATION_FAILED") || initiator_log.contains("AUTH_FAILED"),
        "{} log ({}) shows no AUTHENTICATION_FAILED from the responder",
        sc.initiator.name(),
        hosts.get(sc.initiator).implementation.label()
    );
    let verifier = sc.initiator.peer();
    let log = hosts.get(verifier).log_text();
    let named = match hosts.get(verifier).implementation {
        Iked => log
            .lines()
            .any(|l| case.cause_words().iter().any(|w| l.contains(w))),
        StrongSwan | StrongSwan6 | Libreswan => log.contains("AUTH_FAILED"),
    };
    ensure!(
        named,
        "{} log ({}) does not name the cause (looked for {:?})",
        verifier.name(),
        hosts.get(verifier).implementation.label(),
        case.cause_words()
    );
    libreswan_refusal::stop_reviving(sc, ctx, hosts)?;
    // Give a DELETE or a late install time to show up before asserting nothing is there.
    std::thread::sleep(std::time::Duration::from_secs(1));
    checks::check_clean(&KernelView::read(&ctx.lab)?)
}

fn rekey(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &Hosts) -> Result<(), LabError> {
    let before = bring_up(sc, ctx, hosts)?;
    // One rekey at 1000 packets, then enough traffic on the new SA to see it used; fewer
    // than 2000 so a second rekey does not start.
    const COUNT: u32 = 1800;
    let capture = ctx
        .lab
        .start_capture(Side::Bfr, &dir.join("capture-rekey.txt"))?;
    let rx = ctx
        .lab
        .start_udp_receiver(Side::Bfr, VXLAN_PORT, COUNT, 8000)?;
    ctx.lab.udp_send(Side::Bfl, VXLAN_PORT, COUNT, 2000)?;
    let got = rx.finish()?;
    let captured = capture.finish()?;
    let wire = checks::summarize_capture(&captured.lines);
    ensure!(
        got.distinct == COUNT && got.malformed == 0,
        "{} of {COUNT} datagrams crossed the rekey ({} malformed, missing {:?})",
        got.distinct,
        got.malformed,
        got.missing
    );
    // Old SAs go once the rekey completes; wait for the kernels to settle.
    let _ = wait_until("old SAs removed", 20, || {
        let v = KernelView::read(&ctx.lab)?;
        Ok(v.bfl_states.len() == 4
            && v.bfr_states.len() == 4
            && !v
                .bfl_states
                .iter()
                .any(|s| s.spi == Some(before.bfl_to_bfr)))
    });
    let after = checks::check_seed_tunnel(&KernelView::read(&ctx.lab)?, &SEED_ESP)?;
    ensure!(
        after.bfl_to_bfr != before.bfl_to_bfr,
        "bfl->bfr SPI still {:08x}: no rekey after {COUNT} packets with rekey_packets = 1000",
        before.bfl_to_bfr
    );
    let old_n = wire
        .esp_by_spi
        .get(&before.bfl_to_bfr)
        .copied()
        .unwrap_or(0);
    let new_n = wire.esp_by_spi.get(&after.bfl_to_bfr).copied().unwrap_or(0);
    // Both SPIs on the wire during one run of traffic: the switch happened while it flowed.
    // (Exact counts come from the receiver above; the capture may drop under TCG.)
    ensure!(
        old_n >= 1 && new_n >= 1,
        "ESP on the wire: {old_n} with old SPI {:08x}, {new_n} with new SPI {:08x} ({} dropped \
         by the capture); want both while traffic flows",
        before.bfl_to_bfr,
        after.bfl_to_bfr,
        captured.dropped
    );
    Ok(())
}

fn packet_offload(sc: &Scenario, ctx: &Context, hosts: &Hosts) -> Result<(), LabError> {
    let iked_side = if sc.bfl == Iked { Side::Bfl } else { Side::Bfr };
    let init = hosts.get(sc.initiator).initiate(&SEED_CHILDREN[..1])?;
    ensure!(
        !init.ok,
        "initiate succeeded although hw_offload = packet cannot work on a veth"
    );
    checks::wait_clean(&ctx.lab, 15)?;
    ensure_established(hosts, &[iked_side])?;
    // The kernel's refusal reaches the operator through the command's result (iked initiating)
    // or iked's log (iked responding); list-sas lists no refused child, as charon (issue 14 §6).
    if sc.initiator == iked_side {
        ensure!(
            init.output.contains("kernel refused"),
            "ikectl initiate does not say that the kernel refused the child: {}",
            tail(&init.output, 10)
        );
    } else {
        ensure!(
            hosts.get(iked_side).log_text().contains("kernel refused"),
            "iked's log does not say that the kernel refused the child"
        );
    }
    let l = hosts.get(iked_side).list_sas()?;
    ensure!(
        !l.output
            .lines()
            .any(|line| line.trim_start().starts_with("bf-")),
        "ikectl list-sas lists a child the kernel refused: {}",
        tail(&l.output, 10)
    );
    if sc.initiator != iked_side {
        responder_refused_child(ctx, hosts, iked_side)?;
    }
    Ok(())
}

/// iked as responder could not install the child: it must have refused it in its answer
/// (issue 14 §5), so the initiating charon never established it and no DELETE raced it.
fn responder_refused_child(ctx: &Context, hosts: &Hosts, iked_side: Side) -> Result<(), LabError> {
    let peer = iked_side.peer();
    // Give a late DELETE or install time to show up before asserting that none came.
    std::thread::sleep(std::time::Duration::from_secs(1));
    checks::check_clean(&KernelView::read(&ctx.lab)?)?;
    ensure_established(hosts, &Side::BOTH)?;
    let peer_log = hosts.get(peer).log_text();
    ensure!(
        peer_log.contains("NO_PROPOSAL_CHOSEN") || peer_log.contains("N(NO_PROP)"),
        "charon's log shows no NO_PROPOSAL_CHOSEN from iked's IKE_AUTH response"
    );
    for line in peer_log.lines() {
        ensure!(
            !(line.contains("received DELETE for unknown")
                || (line.contains("CHILD_SA") && line.contains("established"))),
            "charon's log shows the child iked refused: {line}"
        );
    }
    let iked_log = hosts.get(iked_side).log_text();
    ensure!(
        !iked_log.contains("sending DELETE"),
        "iked sent a DELETE for a child it refused"
    );
    let l = hosts.get(peer).list_sas()?;
    ensure!(
        !l.output
            .lines()
            .any(|line| line.contains("INSTALLED") || line.trim_start().starts_with("bf-")),
        "charon lists a child iked refused: {}",
        tail(&l.output, 10)
    );
    Ok(())
}

fn restart(sc: &Scenario, ctx: &Context, dir: &Path, hosts: &mut Hosts) -> Result<(), LabError> {
    let iked_side = if sc.bfl == Iked { Side::Bfl } else { Side::Bfr };
    seed(sc, ctx, dir, hosts)?;
    hosts.get_mut(iked_side).restart()?;
    // No crash loop: still alive a few seconds after start.
    std::thread::sleep(std::time::Duration::from_secs(3));
    ensure!(
        hosts.get_mut(iked_side).is_running(),
        "iked exited after restart (log in {})",
        hosts.get(iked_side).dir.display()
    );
    // No stale state from the previous instance in iked's kernel.
    let v = KernelView::read(&ctx.lab)?;
    ensure!(
        v.states(iked_side).is_empty() && v.policies(iked_side).is_empty(),
        "stale IPsec state on {} after the restart: {} SAs, {} policies",
        iked_side.name(),
        v.states(iked_side).len(),
        v.policies(iked_side).len()
    );
    // The tunnel comes back, and the peer keeps only the new SAs (INITIAL_CONTACT).
    let _ = bring_up(sc, ctx, hosts)?;
    let peer = iked_side.peer();
    let l = hosts.get(peer).list_sas()?;
    let ike_sas = l
        .output
        .lines()
        .filter(|line| line.contains("ESTABLISHED"))
        .count();
    ensure!(
        ike_sas == 1,
        "peer holds {ike_sas} established IKE SAs after iked's restart (want 1: INITIAL_CONTACT)"
    );
    let spis = checks::check_seed_tunnel(&KernelView::read(&ctx.lab)?, &SEED_ESP)?;
    checks::check_traffic(&ctx.lab, dir, spis, TRAFFIC_COUNT).map(|_| ())
}

/// The last `n` lines of `text`, for messages.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn ids_are_unique_and_baselines_are_labelled() {
        let all = all();
        let mut ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        for s in &all {
            let baseline = s.is_baseline();
            assert_eq!(s.id.starts_with("baseline-"), baseline, "{}", s.id);
            assert_eq!(s.role_label().contains("baseline"), baseline);
            // A baseline proves the lab: it may never be excused as a known failure.
            assert!(!(baseline && s.known_failure.is_some()), "{}", s.id);
            assert!(
                s.known_failure
                    .is_none_or(|k| k.why.len() > 20 && !k.symptom.is_empty()),
                "{}",
                s.id
            );
        }
    }

    #[test]
    fn configs_carry_each_scenarios_edit() {
        let ws = workspace();
        let by_id = |id: &str| all().into_iter().find(|s| s.id == id).unwrap();
        let seed = by_id("baseline-seed");
        for side in Side::BOTH {
            let c = scenario_config(&seed, &ws, side).unwrap();
            assert!(c.text().contains("hw_offload = auto") && !c.text().contains("= packet"));
        }
        let off = by_id("iked-packet-offload-on-veth");
        assert!(
            scenario_config(&off, &ws, Side::Bfl)
                .unwrap()
                .text()
                .contains("hw_offload = packet")
        );
        assert!(
            scenario_config(&off, &ws, Side::Bfr)
                .unwrap()
                .text()
                .contains("hw_offload = auto")
        );
        let responds = by_id("iked-responds-packet-offload-on-veth");
        assert_eq!((responds.bfr, responds.initiator), (Iked, Side::Bfl));
        assert!(
            scenario_config(&responds, &ws, Side::Bfr)
                .unwrap()
                .text()
                .contains("hw_offload = packet")
        );
        assert!(
            !scenario_config(&responds, &ws, Side::Bfl)
                .unwrap()
                .text()
                .contains("= packet")
        );
        let mis = by_id("iked-proposal-mismatch");
        let bfr = scenario_config(&mis, &ws, Side::Bfr).unwrap();
        assert_eq!(bfr.text().matches(MISMATCH_ESP).count(), 2);
        assert!(
            !scenario_config(&mis, &ws, Side::Bfl)
                .unwrap()
                .text()
                .contains(MISMATCH_ESP)
        );
        let psk = by_id("baseline-psk-mismatch");
        assert!(
            scenario_config(&psk, &ws, Side::Bfr)
                .unwrap()
                .text()
                .contains("not-the-seed-psk")
        );
        let rekey = by_id("iked-rekey-packets");
        let c = scenario_config(&rekey, &ws, Side::Bfl).unwrap();
        assert_eq!(c.text().matches("rekey_packets = 1000").count(), 2);
        let guard = by_id("iked-drop-shunt-guard");
        let c = scenario_config(&guard, &ws, Side::Bfl).unwrap();
        assert!(
            c.text().contains("prevent_unencrypted_vxlan"),
            "{}",
            c.text()
        );
        let c = scenario_config(&guard, &ws, Side::Bfr).unwrap();
        assert!(!c.text().contains("prevent_unencrypted_vxlan"));
    }

    #[test]
    fn iked_scenarios_skip_with_the_missing_binary_named() {
        let ctx = Context {
            lab: Lab {
                ip: "/nonexistent/ip".into(),
                runner: "/nonexistent/runner".into(),
                dir: "/nonexistent/lab".into(),
            },
            workspace: workspace(),
            out: std::env::temp_dir().join("iked-lab-unit"),
            iked: IkedBins {
                iked: "/nonexistent/target/debug/iked".into(),
                ikectl: "/nonexistent/target/debug/ikectl".into(),
                tuning: None,
            },
            keep_all: false,
            verbose: false,
        };
        for sc in all().iter().filter(|s| s.uses_iked()) {
            let r = run(sc, &ctx);
            match r.outcome {
                Outcome::Skip(why) => assert!(why.contains("target/debug/iked"), "{why}"),
                other => panic!("{} ran without iked: {other:?}", sc.id),
            }
        }
    }
}
