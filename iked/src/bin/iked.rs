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
    /// swanctl.conf to load at start and on SIGHUP (includes are followed).
    #[arg(long, short = 'c', default_value = "/etc/swanctl/swanctl.conf")]
    config: PathBuf,
    /// VICI control socket.
    #[arg(long, default_value = "/var/run/charon.vici")]
    vici_socket: PathBuf,
    /// IKE port (charon.port).
    #[arg(long, default_value_t = 500)]
    port: u16,
    /// NAT-T port (charon.port_nat_t).
    #[arg(long, default_value_t = 4500)]
    port_nat_t: u16,
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
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut levels = iked::log::Levels::default();
    levels
        .apply(&args.debug)
        .with_context(|| format!("--debug {}", args.debug))?;
    let (_control, records) = iked::log::init(levels, true);
    let options = iked::daemon::Options {
        config_file: args.config,
        vici_socket: args.vici_socket,
        ports: iked::daemon::net::Ports {
            ike: args.port,
            nat_t: args.port_nat_t,
        },
        kernel: match args.kernel {
            Kernel::Xfrm => iked::daemon::KernelMode::Xfrm,
            Kernel::Record => iked::daemon::KernelMode::Record,
        },
        listen: args.listen,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(iked::daemon::run(options, records))?;
    Ok(())
}
