//! `lab-runner`: runs inside the lab VM (as root, host root filesystem shared read-only).
//!
//! - `run`: every scenario (or `--only` some), writes `results.json` and `results.txt` into
//!   `--out`, prints the table, exits 1 if any scenario failed;
//! - `demo`: the seed's tunnel once, printing what an operator wants to see, and a verdict
//!   (`--variant ovs`: the seed's Open vSwitch PSK tunnel with iked on both hosts);
//! - `udp-send` / `udp-recv`: traffic helpers the scenarios start inside a namespace.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};

use interop_tests::clock::Stopwatch;
use interop_tests::daemon::{IkedBins, Implementation};
use interop_tests::netlab::{self, Lab};
use interop_tests::report::{LabReport, Outcome};
use interop_tests::scenario::{self, Context, Kind, Scenario};
use interop_tests::swan_conf::Side;

#[derive(Parser)]
#[command(about = "iked lab runner (inside the VM)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args)]
struct Common {
    /// Output directory (writable from the guest).
    #[arg(long)]
    out: PathBuf,
    /// Workspace root (seed configs in examples/ or interop-tests/configs/).
    #[arg(long)]
    workspace: PathBuf,
    #[arg(long)]
    iked: PathBuf,
    #[arg(long)]
    ikectl: PathBuf,
    /// iproute2 `ip` to use.
    #[arg(long, default_value = "/var/lib/iked-lab/iproute2/bin/ip")]
    ip: PathBuf,
    /// Lab directory of `scripts/setup-host.sh` (the trixie roots of strongSwan 6 and Libreswan).
    #[arg(long, default_value = interop_tests::vm::LAB_DIR)]
    lab_dir: PathBuf,
    /// Keep logs of passed scenarios too.
    #[arg(long)]
    keep_all: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Impl {
    Strongswan,
    Iked,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Variant {
    Seed,
    Ovs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the scenarios.
    Run {
        #[command(flatten)]
        common: Common,
        /// Comma-separated scenario ids (default: all).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// File stem of the report in `--out` (`<stem>.json`, `<stem>.txt`): each VM of a
        /// sharded lab writes its own, and the host merges them.
        #[arg(long, default_value = "results")]
        report: String,
        /// Run only share K (0-based) of the selected scenarios split over `--shards` VMs
        /// (`interop_tests::shard::split`, the same split the host computes). The ids are not
        /// passed on the command line: it becomes the guest kernel's, which is capped at 2 KiB.
        #[arg(long, default_value_t = 0)]
        shard: usize,
        #[arg(long, default_value_t = 1)]
        shards: usize,
    },
    /// Bring up the seed's BFL/BFR tunnel once and show it.
    Demo {
        #[command(flatten)]
        common: Common,
        /// What runs on BFL (BFR always runs strongSwan): iked unless told otherwise.
        #[arg(long, value_enum, default_value = "iked")]
        bfl: Impl,
        /// `seed`: the BFL/BFR swanctl.conf tunnel; `ovs`: the seed's OVS VXLAN port with a
        /// PSK, iked on both hosts under the OVS driver (`--bfl` does not apply).
        #[arg(long, value_enum, default_value = "seed")]
        variant: Variant,
    },
    /// Send numbered UDP datagrams.
    UdpSend {
        #[arg(long)]
        to: String,
        #[arg(long)]
        count: u32,
        #[arg(long, default_value_t = 0)]
        interval_us: u64,
    },
    /// Leave one half-open IKE SA at a responder: a legitimate IKE_SA_INIT from `--local`
    /// (port chosen by the kernel), answered, and never followed by IKE_AUTH.
    HalfOpen {
        #[arg(long)]
        local: std::net::IpAddr,
        #[arg(long)]
        to: std::net::SocketAddr,
    },
    /// Receive numbered UDP datagrams; prints `ready`, then a JSON summary.
    UdpRecv {
        #[arg(long)]
        bind: String,
        #[arg(long)]
        expect: u32,
        #[arg(long, default_value_t = 3000)]
        idle_ms: u64,
    },
}

fn context(common: &Common, verbose: bool) -> Result<Context> {
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("creating {}", common.out.display()))?;
    Ok(Context {
        lab: Lab {
            ip: common.ip.clone(),
            runner: std::env::current_exe().context("locating lab-runner")?,
            dir: common.lab_dir.clone(),
        },
        workspace: common.workspace.clone(),
        out: common.out.clone(),
        iked: IkedBins {
            iked: common.iked.clone(),
            ikectl: common.ikectl.clone(),
            tuning: None,
        },
        keep_all: common.keep_all,
        verbose,
    })
}

/// Guest uptime in seconds: the VM's boot time as seen from inside when called first.
fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|w| w.parse().ok()))
        .unwrap_or(0.0)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn run_all(
    common: &Common,
    only: &[String],
    stem: &str,
    shard: (usize, usize),
) -> Result<ExitCode> {
    let booted = uptime();
    let ctx = context(common, false)?;
    let watch = Stopwatch::start();
    let mut report = LabReport {
        kernel: kernel_release(),
        guest_boot_secs: booted,
        ..LabReport::default()
    };
    let selected: Vec<Scenario> = scenario::all()
        .into_iter()
        .filter(|s| only.is_empty() || only.contains(&s.id))
        .collect();
    anyhow::ensure!(!selected.is_empty(), "no scenario matches {only:?}");
    let (k, n) = shard;
    let selected = interop_tests::shard::split(&selected, n)
        .into_iter()
        .nth(k)
        .with_context(|| format!("no share {k} of {n} (fewer scenarios than VMs?)"))?;
    for sc in &selected {
        eprintln!("[lab] {} ...", sc.id);
        let r = scenario::run(sc, &ctx);
        eprintln!("[lab] {} {} ({:.1} s)", sc.id, r.outcome.word(), r.secs);
        report.results.push(r);
        report.scenarios_secs = watch.secs();
        // Written after each scenario, so a VM killed by the time-out still leaves results.
        write_report(common, stem, &report)?;
    }
    print!("{}", report.table());
    Ok(if report.counts().failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn write_report(common: &Common, stem: &str, report: &LabReport) -> Result<()> {
    std::fs::write(
        common.out.join(format!("{stem}.json")),
        serde_json::to_string_pretty(report)?,
    )?;
    std::fs::write(common.out.join(format!("{stem}.txt")), report.table())?;
    Ok(())
}

fn demo(common: &Common, bfl: Impl) -> Result<ExitCode> {
    let booted = uptime();
    let mut ctx = context(common, true)?;
    ctx.keep_all = true;
    let bfl_impl = match bfl {
        Impl::Strongswan => Implementation::StrongSwan,
        Impl::Iked => Implementation::Iked,
    };
    println!(
        "lab VM up: kernel {}, guest boot {booted:.1} s; BFL runs {}, BFR runs {}{}",
        kernel_release(),
        bfl_impl.label(),
        Implementation::StrongSwan.label(),
        if bfl_impl == Implementation::StrongSwan {
            " (iked not used: strongSwan on both sides)"
        } else {
            ""
        }
    );
    let sc = Scenario {
        id: "demo-seed".into(),
        kind: Kind::Seed,
        bfl: bfl_impl,
        bfr: Implementation::StrongSwan,
        initiator: Side::Bfl,
        known_failure: None,
    };
    let r = scenario::run(&sc, &ctx);
    let verdict = match &r.outcome {
        Outcome::Pass => format!(
            "VERDICT: PASS - BFL ({}) and BFR ({}) agree on 2 CHILD_SAs (4 ESP transport SAs, \
             AES-GCM-128, ESN, same SPIs and selectors); UDP/4789 crossed as ESP both ways, ICMP \
             stayed clear ({:.1} s)",
            bfl_impl.label(),
            Implementation::StrongSwan.label(),
            r.secs
        ),
        Outcome::Fail(why) => format!(
            "VERDICT: FAIL - {why} (logs in {})",
            common.out.join(sc.id).display()
        ),
        Outcome::Skip(why) => format!("VERDICT: SKIPPED - {why}"),
        Outcome::XFail(why) => format!("VERDICT: FAIL (known) - {why}"),
    };
    println!("\n{verdict}");
    Ok(if r.outcome == Outcome::Pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The seed's OVS PSK tunnel (VXLAN port `vxlanp0`, `options:psk`) with iked on both hosts,
/// each under the OVS driver; prints the switches, the generated files, the SAs, the kernel
/// state and the ESP seen while pinging across the overlay, and a verdict.
fn demo_ovs(common: &Common) -> Result<ExitCode> {
    let booted = uptime();
    let mut ctx = context(common, true)?;
    ctx.keep_all = true;
    println!(
        "lab VM up: kernel {}, guest boot {booted:.1} s; Open vSwitch on BFL and BFR, iked on \
         both, each driven as NVIDIA's ovs-monitor-ipsec drives strongSwan",
        kernel_release()
    );
    let sc = Scenario {
        id: "demo-ovs-psk".to_string(),
        kind: Kind::Ovs(scenario::ovs::OvsCase::Psk),
        bfl: Implementation::Iked,
        bfr: Implementation::Iked,
        initiator: Side::Bfl,
        known_failure: None,
    };
    let r = scenario::run(&sc, &ctx);
    let verdict = match &r.outcome {
        Outcome::Pass => format!(
            "VERDICT: PASS - OVS VXLAN port vxlanp0 (psk) on both hosts: iked on both converged on \
             one IKE SA and 2 CHILD_SAs (4 ESP transport SAs, AES-GCM-256, ESN, same SPIs); ping \
             across the overlay crossed p0 only as ESP; a PSK change and the port's removal left \
             nothing stale ({:.1} s)",
            r.secs
        ),
        Outcome::Fail(why) => format!(
            "VERDICT: FAIL - {why} (logs in {})",
            common.out.join(sc.id).display()
        ),
        Outcome::Skip(why) => format!("VERDICT: SKIPPED - {why}"),
        Outcome::XFail(why) => format!("VERDICT: FAIL (known) - {why}"),
    };
    println!("\n{verdict}");
    Ok(if r.outcome == Outcome::Pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> Result<ExitCode> {
    match Cli::parse().command {
        Cmd::Run {
            common,
            only,
            report,
            shard,
            shards,
        } => run_all(&common, &only, &report, (shard, shards)),
        Cmd::Demo {
            common,
            variant: Variant::Ovs,
            ..
        } => demo_ovs(&common),
        Cmd::Demo { common, bfl, .. } => demo(&common, bfl),
        Cmd::UdpSend {
            to,
            count,
            interval_us,
        } => {
            netlab::udp_send(&to, count, interval_us)
                .with_context(|| format!("sending to {to}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::HalfOpen { local, to } => {
            // The PSK and identity never matter: IKE_AUTH is not sent.
            let mut peer = iked_hostile::peer::Peer::new(
                local,
                to,
                b"unused",
                b"half-open",
                u64::from(std::process::id()),
            )
            .context("half-open socket")?;
            peer.init(iked_hostile::peer::Suite::CbcSha256)
                .with_context(|| format!("IKE_SA_INIT to {to}"))?;
            println!("half-open IKE SA left at {to}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::UdpRecv {
            bind,
            expect,
            idle_ms,
        } => {
            let summary = netlab::udp_receive(&bind, expect, idle_ms, || {
                println!("ready");
            })
            .with_context(|| format!("receiving on {bind}"))?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
