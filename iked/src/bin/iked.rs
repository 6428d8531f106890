//! `iked`: the IKEv2 daemon (a drop-in for strongSwan's charon + swanctl.conf).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kernel {
    /// Install SAs and policies over netlink XFRM.
    Xfrm,
    /// Record kernel requests without installing anything (hosts without ESP; no traffic
    /// is protected, and the log says so).
    Record,
}

/// IKEv2 daemon: reads swanctl.conf, negotiates IKEv2 with strongSwan/Libreswan peers and
/// installs transport/tunnel-mode ESP SAs over netlink XFRM. Controlled over strongSwan's
/// VICI protocol (`ikectl`, `swanctl`, Python `vici`).
#[derive(Debug, Parser)]
#[command(
    name = "iked",
    version,
    after_help = "Signals: SIGHUP reloads the configuration, SIGTERM/SIGINT stop (deleting \
        all IKE SAs). Under systemd (Type=notify) readiness and the watchdog are reported \
        via $NOTIFY_SOCKET.\n\nLog levels follow charon: -1 silent, 0 basic, 1 audit \
        (default), 2 control, 3 raw, 4 private; per subsystem: --debug default=1,ike=2,knl=2."
)]
struct Args {
    /// swanctl.conf to load at start and on SIGHUP (includes are followed); a file named
    /// `ipsec.conf` is read as strongSwan's legacy format, with the ipsec.secrets beside it.
    #[arg(long, short = 'c', default_value = "/etc/swanctl/swanctl.conf")]
    config: PathBuf,
    /// VICI control socket.
    #[arg(long, default_value = "/var/run/charon.vici")]
    vici_socket: PathBuf,
    /// strongswan.conf whose `charon { }` tuning iked applies (retransmit_*, cookie_threshold,
    /// dos_protection, keep_alive, fragment_size, port, ...). A missing file at the default
    /// path means strongSwan's defaults.
    #[arg(long, default_value = iked_conf::strongswan::DEFAULT_PATH)]
    strongswan_conf: PathBuf,
    /// IKE port [default: charon.port from strongswan.conf, else 500].
    #[arg(long)]
    port: Option<u16>,
    /// NAT-T port [default: charon.port_nat_t from strongswan.conf, else 4500].
    #[arg(long)]
    port_nat_t: Option<u16>,
    /// Kernel backend.
    #[arg(long, value_enum, default_value = "xfrm")]
    kernel: Kernel,
    /// Also listen on this local address (repeatable); by default the concrete
    /// local_addrs of the loaded connections, or the wildcard addresses if there are none.
    #[arg(long)]
    listen: Vec<std::net::IpAddr>,
    /// Log levels per subsystem: `default=N,ike=N,knl=N,...` (DMN MGR IKE CHD JOB CFG KNL
    /// NET ASN ENC LIB ESP ...).
    #[arg(long, short = 'd', default_value = "default=1")]
    debug: String,
    /// Seconds after start at which SAs and policies left in the kernel by an earlier iked
    /// (recognised by iked's reqid range, 0x69000000-0x6fffffff) are removed unless a new
    /// CHILD_SA took them over; the operator's own SAs and policies are never touched.
    #[arg(long, default_value_t = iked::daemon::recovery::DEFAULT_GRACE.as_secs())]
    stale_grace: u64,
    /// Remove an earlier iked's leftovers at once (same as `--stale-grace 0`).
    #[arg(long)]
    flush_stale: bool,
    /// Hitless restart: where SIGUSR2 writes the IKE SAs' state for the next iked, and where
    /// the start looks for it (root-only, used once).
    #[arg(long, default_value = iked::daemon::handover::DEFAULT_STATE_FILE)]
    state_file: std::path::PathBuf,
}

/// Loads the charon tuning from strongswan.conf; its warnings name what iked does not apply.
fn charon_settings(
    path: &std::path::Path,
) -> anyhow::Result<iked_conf::strongswan::CharonSettings> {
    if !path.exists() && path == std::path::Path::new(iked_conf::strongswan::DEFAULT_PATH) {
        return Ok(Default::default());
    }
    let loaded = iked_conf::strongswan::load_file(path)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading {}", path.display()))?;
    for w in &loaded.warnings {
        tracing::warn!(target: "CFG", "{w}");
    }
    Ok(loaded.charon)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut levels = iked::log::Levels::default();
    levels
        .apply(&args.debug)
        .with_context(|| format!("--debug {}", args.debug))?;
    let (_control, records) = iked::log::init(levels, true);
    let charon = charon_settings(&args.strongswan_conf)?;
    let options = iked::daemon::Options {
        config_file: args.config,
        vici_socket: args.vici_socket,
        ports: iked::daemon::net::Ports {
            ike: args.port.or(charon.port).unwrap_or(500),
            nat_t: args.port_nat_t.or(charon.port_nat_t).unwrap_or(4500),
        },
        kernel: match args.kernel {
            Kernel::Xfrm => iked::daemon::KernelMode::Xfrm,
            Kernel::Record => iked::daemon::KernelMode::Record,
        },
        listen: args.listen,
        charon,
        recovery: iked::daemon::recovery::RecoveryOptions {
            grace: std::time::Duration::from_secs(if args.flush_stale {
                0
            } else {
                args.stale_grace
            }),
        },
        state_file: args.state_file,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(iked::daemon::run(options, records))?;
    Ok(())
}
