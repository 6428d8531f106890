//! `ikectl`, the control tool: command-line parsing, VICI requests and output.
//!
//! Contract:
//! - Every command except `check` and `version` talks VICI to the daemon's socket (`--uri`,
//!   default `unix:///var/run/charon.vici`); listings print swanctl's text (see [`format`]) or,
//!   with `--json`, one JSON document per listed object.
//! - `check` is offline: it loads the configuration with `iked_conf`, runs the daemon's
//!   conversion for the engine, and prints its summary (exit 0) or every error, located as
//!   `file:line:column: message` or naming the connection and setting (exit 1).
//! - Invoked as `swanctl` (argv[0], e.g. through a symlink) the tool accepts swanctl's command
//!   line instead (`--load-all`, `-i --child NAME`, `--list-sas`, `--uri`, `--file`, ...) and
//!   behaves the same; see [`swanctl`]. Invoked as `ipsec` it is strongSwan's stroke front end
//!   for the commands Open vSwitch runs (`restart`, `update`, `rereadsecrets`, `status`,
//!   `stroke down-nb`) over ipsec.conf; see [`ipsec`].
//! - Exit codes: 0 success, 1 failure reported by the daemon or configuration errors, 2 usage
//!   errors, 3 daemon unreachable. Under the name `swanctl` output streams and exit statuses are
//!   swanctl's instead (see [`swanctl`]).

pub mod format;
pub mod ipsec;
pub mod swanctl;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::vici::Message;
use crate::vici::client::{self, Client, ClientError};

/// Command-line interface of `ikectl`.
#[derive(Debug, Parser)]
#[command(
    name = "ikectl",
    version,
    about = "Control the iked IKEv2 daemon (VICI client, swanctl-compatible output)",
    long_about = "Control the iked IKEv2 daemon over its VICI socket.\n\n\
        ikectl speaks strongSwan's VICI protocol, so it also works against charon, and the \
        stock swanctl and the Python `vici` package work against iked. Invoked under the name \
        `swanctl` (e.g. via a symlink) it accepts swanctl's command line.\n\n\
        `ikectl check` validates a swanctl.conf offline, without a running daemon.",
    after_help = "Exit status: 0 success, 1 command failed or configuration invalid, \
        2 usage error, 3 daemon not reachable."
)]
pub struct Cli {
    /// VICI socket URI (unix:///path) or path.
    #[arg(
        long,
        short = 'u',
        global = true,
        default_value = "unix:///var/run/charon.vici"
    )]
    pub uri: String,
    /// Print listings and results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for each answer from the daemon before giving up (exit 3); 0 waits
    /// forever. `initiate`/`terminate` wait for their own `--timeout` instead, once the daemon
    /// has answered their first request.
    #[arg(long, global = true, default_value_t = DEFAULT_REPLY_TIMEOUT_SECS, value_name = "SECS")]
    pub reply_timeout: u64,
    #[command(subcommand)]
    pub command: Command,
    /// Invoked as `swanctl`: errors go to stderr in swanctl's words, with swanctl's exit
    /// statuses (see [`swanctl`]'s module documentation).
    #[arg(skip)]
    pub swanctl: bool,
}

/// `ikectl` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// (Re)load connections and credentials from swanctl.conf into the daemon.
    LoadAll(LoadArgs),
    /// (Re)load connections only.
    LoadConns(LoadArgs),
    /// (Re)load credentials only: certificates and keys from the swanctl directories beside the
    /// file (x509/, x509ca/, pubkey/, private/, rsa/, ecdsa/, pkcs8/) and shared secrets.
    LoadCreds(LoadArgs),
    /// Initiate CHILD_SAs (or a childless IKE SA with --ike only), streaming the log.
    Initiate(InitiateArgs),
    /// Terminate an IKE SA or CHILD_SA.
    Terminate(TerminateArgs),
    /// Rekey an IKE SA or CHILD_SA.
    Rekey(SaSelector),
    /// List active IKE SAs and CHILD_SAs.
    ListSas {
        /// Only IKE SAs of this connection.
        #[arg(long, short = 'i')]
        ike: Option<String>,
    },
    /// List loaded connections.
    ListConns,
    /// List installed trap, drop and bypass policies.
    ListPols,
    /// List loaded certificates (end entity, CA, raw public keys), as swanctl --list-certs.
    ListCerts,
    /// Show daemon statistics.
    Stats,
    /// Stream the daemon's log until interrupted.
    Log,
    /// Validate a swanctl.conf offline and summarise it.
    Check {
        /// Configuration file.
        #[arg(long, short = 'f', default_value = "/etc/swanctl/swanctl.conf")]
        file: PathBuf,
    },
    /// Show the version of ikectl and, if reachable, of the daemon.
    Version,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Configuration file. Connections and secrets an earlier file load brought in are
    /// replaced by the file's; those loaded over VICI (`swanctl --load-*`) stay.
    #[arg(long, short = 'f', default_value = "/etc/swanctl/swanctl.conf")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitiateArgs {
    /// CHILD_SA configuration to initiate (repeatable).
    #[arg(long, short = 'c')]
    pub child: Vec<String>,
    /// IKE connection to find the child under, or to initiate childless.
    #[arg(long, short = 'i')]
    pub ike: Option<String>,
    /// Seconds to wait for the result (0: forever).
    #[arg(long, short = 't', default_value_t = 0)]
    pub timeout: u64,
    /// Log level of the streamed log (charon levels, default 1).
    #[arg(long, short = 'l', default_value_t = 1)]
    pub loglevel: i32,
}

#[derive(Debug, Args)]
pub struct SaSelector {
    /// CHILD_SA by configuration name.
    #[arg(long, short = 'c')]
    pub child: Option<String>,
    /// IKE SA by connection name.
    #[arg(long, short = 'i')]
    pub ike: Option<String>,
    /// CHILD_SA by unique id (the `#n` of list-sas; after a rekey it differs from the reqid).
    #[arg(long, short = 'C')]
    pub child_id: Option<u32>,
    /// IKE SA by unique id.
    #[arg(long, short = 'I')]
    pub ike_id: Option<u32>,
}

#[derive(Debug, Args)]
pub struct TerminateArgs {
    #[command(flatten)]
    pub sa: SaSelector,
    /// Delete without waiting for the peer's response.
    #[arg(long)]
    pub force: bool,
    /// Seconds to wait for the result (0: forever).
    #[arg(long, short = 't', default_value_t = 0)]
    pub timeout: u64,
}

/// How long ikectl waits for any one answer of the daemon by default: a daemon that accepts the
/// connection and never answers must not hang the scripts that drive it.
pub const DEFAULT_REPLY_TIMEOUT_SECS: u64 = 30;

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNREACHABLE: i32 = 3;

/// Runs a parsed command; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    if let Command::Check { file } = &cli.command {
        return check(file);
    }
    if let Command::Version = &cli.command {
        println!("ikectl {}", env!("CARGO_PKG_VERSION"));
        if let Ok(mut c) = connect(&cli.uri)
            && c.set_read_timeout(Some(Duration::from_secs(cli.reply_timeout.max(1))))
                .is_ok()
            && let Ok(v) = c.request("version", Message::new())
        {
            // swanctl's version.c format, so scripts parsing `swanctl --version --daemon`
            // read iked's answer the same way.
            println!(
                "strongSwan {} {} ({}, {}, {})",
                v.get_str("version").unwrap_or("?"),
                v.get_str("daemon").unwrap_or("?"),
                v.get_str("sysname").unwrap_or("?"),
                v.get_str("release").unwrap_or("?"),
                v.get_str("machine").unwrap_or("?")
            );
        }
        return EXIT_OK;
    }
    let reply_timeout = (cli.reply_timeout > 0).then(|| Duration::from_secs(cli.reply_timeout));
    let mut client = match connect(&cli.uri).and_then(|c| {
        c.set_read_timeout(reply_timeout)?;
        Ok(c)
    }) {
        Ok(c) => c,
        Err(e) if cli.swanctl => return swanctl::unreachable(&cli.uri, &e),
        Err(e) => {
            eprintln!("{e}");
            return EXIT_UNREACHABLE;
        }
    };
    if cli.swanctl
        && let Some(load) = cli.command.load_args()
    {
        return match swanctl::load(&mut client, load.0, load.1, cli.json) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("{e}");
                swanctl::EXIT_EINVAL
            }
        };
    }
    match execute(&mut client, &cli.command, cli.json) {
        Ok(code) => code,
        Err(ClientError::Io(e)) if is_timeout(&e) => {
            eprintln!(
                "no answer from the daemon at {} within {}s (--reply-timeout)",
                cli.uri, cli.reply_timeout
            );
            EXIT_UNREACHABLE
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_FAILED
        }
    }
}

/// A read that ran into the socket's timeout (`EAGAIN` on a blocking socket with SO_RCVTIMEO).
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Connects to the daemon named by a `--uri`.
pub fn connect(uri: &str) -> Result<Client, ClientError> {
    Client::connect(&client::socket_path_from_uri(uri)?)
}

/// `ikectl check`: prints the summary or the located errors. After the parser's validation it
/// runs the conversion the daemon's `load-all` runs (connections with their certificate files,
/// IKE secrets), so a configuration the daemon would refuse never passes.
pub fn check(file: &std::path::Path) -> i32 {
    match iked_conf::load_file(file) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{}: warning: {}", w.span, w.message);
            }
            let errors = daemon_load_errors(file, &loaded.config);
            if !errors.is_empty() {
                for e in &errors {
                    println!("{e}");
                }
                return EXIT_FAILED;
            }
            print!("{}", iked_conf::summary(&loaded.config));
            EXIT_OK
        }
        Err(errors) => {
            for w in &errors.warnings {
                eprintln!("{}: warning: {}", w.span, w.message);
            }
            for e in &errors.errors {
                println!("{e}");
            }
            EXIT_FAILED
        }
    }
}

/// What the daemon's load of `config` (read from `file`) would refuse, in its words.
fn daemon_load_errors(file: &std::path::Path, config: &iked_conf::Config) -> Vec<String> {
    let dir = crate::daemon::creds::swanctl_dir(file);
    let mut errors: Vec<String> = config
        .connections
        .iter()
        .filter_map(|c| crate::daemon::creds::engine_connection_with_creds(c, &dir).err())
        .collect();
    errors.extend(
        config
            .secrets
            .ike()
            .filter_map(|s| iked_ike::from_conf::secret(s).err())
            .map(|e| e.to_string()),
    );
    errors
}

/// Runs one daemon command over an open connection.
pub fn execute(client: &mut Client, command: &Command, json: bool) -> Result<i32, ClientError> {
    let out = &mut std::io::stdout();
    match command {
        Command::LoadAll(args) => load(client, args, "all", json),
        Command::LoadConns(args) => load(client, args, "conns", json),
        Command::LoadCreds(args) => load(client, args, "creds", json),
        Command::Initiate(args) => {
            let mut req = Message::new();
            if let Some(ike) = &args.ike {
                req = req.kv("ike", ike);
            }
            req = req
                .kv("timeout", (args.timeout * 1000).to_string())
                .kv("loglevel", args.loglevel.to_string());
            if args.child.is_empty() {
                if args.ike.is_none() {
                    eprintln!("initiate requires --child or --ike");
                    return Ok(EXIT_USAGE);
                }
                return streamed_result(client, "initiate", req, json, args.timeout);
            }
            for child in &args.child {
                let code = streamed_result(
                    client,
                    "initiate",
                    req.clone().kv("child", child),
                    json,
                    args.timeout,
                )?;
                if code != EXIT_OK {
                    return Ok(code);
                }
            }
            Ok(EXIT_OK)
        }
        Command::Terminate(args) => {
            let mut req = selector_message(&args.sa);
            if req.is_empty() {
                eprintln!("terminate requires --ike, --child, --ike-id or --child-id");
                return Ok(EXIT_USAGE);
            }
            if args.force {
                req = req.kv("force", "yes");
            }
            req = req.kv("timeout", (args.timeout * 1000).to_string());
            streamed_result(client, "terminate", req, json, args.timeout)
        }
        Command::Rekey(sa) => {
            let req = selector_message(sa);
            if req.is_empty() {
                eprintln!("rekey requires --ike, --child, --ike-id or --child-id");
                return Ok(EXIT_USAGE);
            }
            let res = client.request("rekey", req)?;
            report(&res, json, "rekey completed successfully", "rekey failed")
        }
        Command::ListSas { ike } => {
            let mut req = Message::new();
            if let Some(ike) = ike {
                req = req.kv("ike", ike);
            }
            list(
                client,
                "list-sas",
                req,
                "list-sa",
                json,
                format::list_sa_event,
                out,
            )
        }
        Command::ListConns => list(
            client,
            "list-conns",
            Message::new(),
            "list-conn",
            json,
            format::list_conn_event,
            out,
        ),
        Command::ListPols => list(
            client,
            "list-policies",
            Message::new()
                .kv("drop", "yes")
                .kv("pass", "yes")
                .kv("trap", "yes"),
            "list-policy",
            json,
            format::list_policy_event,
            out,
        ),
        Command::ListCerts => {
            // swanctl prints a heading whenever the kind of certificate changes.
            let now = i64::try_from(crate::clock::wall_clock_secs()).unwrap_or(i64::MAX);
            let mut heading = "";
            client.streamed("list-certs", Message::new(), Some("list-cert"), |msg| {
                let text = if json {
                    format!("{}\n", format::to_json(msg))
                } else {
                    let h = format::list_cert_heading(msg);
                    let mut t = String::new();
                    if h != heading {
                        heading = h;
                        t.push_str(&format!("\n{h}\n"));
                    }
                    t.push_str(&format::list_cert_event(msg, now));
                    t
                };
                let _ = out.write_all(text.as_bytes());
            })?;
            Ok(EXIT_OK)
        }
        Command::Stats => {
            let res = client.request("stats", Message::new())?;
            if json {
                println!("{}", format::to_json(&res));
            } else {
                print!("{}", format_stats(&res));
            }
            Ok(EXIT_OK)
        }
        Command::Log => {
            client.register("log")?;
            // Registered: from now on silence only means nothing happened.
            client.set_read_timeout(None)?;
            loop {
                let (_, msg) = client.next_event()?;
                if json {
                    println!("{}", format::to_json(&msg));
                } else {
                    println!(
                        "{:0>2}[{}] {}{}",
                        msg.get_str("thread").unwrap_or("00"),
                        msg.get_str("group").unwrap_or("DMN"),
                        msg.get_str("ikesa-name")
                            .map(|n| format!(
                                "<{n}|{}> ",
                                msg.get_str("ikesa-uniqueid").unwrap_or("?")
                            ))
                            .unwrap_or_default(),
                        msg.get_str("msg").unwrap_or("")
                    );
                }
                let _ = std::io::stdout().flush();
            }
        }
        Command::Check { file } => Ok(check(file)),
        Command::Version => Ok(EXIT_OK),
    }
}

impl Command {
    /// The file and what to load, for the `load-*` commands.
    fn load_args(&self) -> Option<(&LoadArgs, &'static str)> {
        match self {
            Command::LoadAll(a) => Some((a, "all")),
            Command::LoadConns(a) => Some((a, "conns")),
            Command::LoadCreds(a) => Some((a, "creds")),
            _ => None,
        }
    }
}

fn selector_message(sa: &SaSelector) -> Message {
    let mut req = Message::new();
    if let Some(c) = &sa.child {
        req = req.kv("child", c);
    }
    if let Some(i) = &sa.ike {
        req = req.kv("ike", i);
    }
    if let Some(c) = sa.child_id {
        req = req.kv("child-id", c.to_string());
    }
    if let Some(i) = sa.ike_id {
        req = req.kv("ike-id", i.to_string());
    }
    req
}

/// How much longer than the requested `--timeout` ikectl waits for the daemon's own answer
/// (which normally arrives at the timeout) before giving up on an unresponsive daemon.
pub const CLIENT_TIMEOUT_GRACE: Duration = Duration::from_secs(5);

/// `initiate`/`terminate`: streams `control-log` like `swanctl -i`, then reports the result.
/// `timeout_secs` 0 waits for the daemon forever (swanctl's default); otherwise the daemon
/// answers by then and ikectl itself gives up [`CLIENT_TIMEOUT_GRACE`] later without a word
/// from it.
fn streamed_result(
    client: &mut Client,
    command: &str,
    req: Message,
    json: bool,
    timeout_secs: u64,
) -> Result<i32, ClientError> {
    let (ok_text, fail_text) = match command {
        "initiate" => ("initiate completed successfully", "initiate failed"),
        _ => ("terminate completed successfully", "terminate failed"),
    };
    // The registration is answered at once by a live daemon (the reply timeout applies); the
    // command itself may legitimately take up to its own timeout.
    client.register("control-log")?;
    client.set_read_timeout(
        (timeout_secs > 0).then(|| Duration::from_secs(timeout_secs) + CLIENT_TIMEOUT_GRACE),
    )?;
    let res = client.exchange(command, req, Some("control-log"), |log| {
        if json {
            println!("{}", format::to_json(log));
        } else {
            println!(
                "[{}] {}",
                log.get_str("group").unwrap_or("DMN"),
                log.get_str("msg").unwrap_or("")
            );
        }
        let _ = std::io::stdout().flush();
    });
    let res = match res {
        Ok(res) => {
            client.unregister("control-log")?;
            res
        }
        Err(ClientError::Io(e)) if is_timeout(&e) => {
            eprintln!("{fail_text}: no answer from the daemon within {timeout_secs}s");
            return Ok(EXIT_FAILED);
        }
        Err(e) => return Err(e),
    };
    report(&res, json, ok_text, fail_text)
}

fn report(res: &Message, json: bool, ok_text: &str, fail_text: &str) -> Result<i32, ClientError> {
    if json {
        println!("{}", format::to_json(res));
    }
    match client::check_success(res) {
        Ok(()) => {
            if !json {
                println!("{ok_text}");
            }
            Ok(EXIT_OK)
        }
        Err(e) => {
            if !json {
                eprintln!("{fail_text}: {e}");
            }
            Ok(EXIT_FAILED)
        }
    }
}

fn list(
    client: &mut Client,
    command: &str,
    req: Message,
    event: &str,
    json: bool,
    render: fn(&Message) -> String,
    out: &mut std::io::Stdout,
) -> Result<i32, ClientError> {
    client.streamed(command, req, Some(event), |msg| {
        let text = if json {
            format!("{}\n", format::to_json(msg))
        } else {
            render(msg)
        };
        let _ = out.write_all(text.as_bytes());
    })?;
    Ok(EXIT_OK)
}

/// `load-all`/`load-conns`/`load-creds`: the daemon loads the file itself (it has the same
/// parser and the same filesystem) and reports what it (un)loaded; output as swanctl's.
fn load(client: &mut Client, args: &LoadArgs, what: &str, json: bool) -> Result<i32, ClientError> {
    let res = load_request(client, args, what)?;
    if json {
        println!("{}", format::to_json(&res));
        return Ok(if res.get_bool("success") == Some(true) {
            EXIT_OK
        } else {
            EXIT_FAILED
        });
    }
    print!("{}", format_load_result(&res, what));
    Ok(if load_failed(&res, what) {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

/// Asks the daemon to load `args.file` (`what`: all, conns or creds); returns its reply.
fn load_request(client: &mut Client, args: &LoadArgs, what: &str) -> Result<Message, ClientError> {
    let file = std::fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone());
    let req = Message::new()
        .kv("file", file.to_string_lossy().as_bytes())
        .kv("what", what);
    client.request("iked-load-file", req)
}

/// Whether a load reply reports a failure: the daemon's verdict, or (except for `conns`) a
/// credential file that could not be used, which fails the command as in swanctl.
fn load_failed(res: &Message, what: &str) -> bool {
    let cred_failed = what != "conns" && !res.get_list("cred-errors").is_empty();
    res.get_bool("success") != Some(true) || cred_failed
}

/// Where swanctl prints a line of its load report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// swanctl's load messages (`load_creds.c`, `load_conns.c`), from an `iked-load-file` reply.
pub fn format_load_result(res: &Message, what: &str) -> String {
    load_report_lines(res, what)
        .into_iter()
        .map(|(_, line)| line + "\n")
        .collect()
}

/// The lines of [`format_load_result`] in order, each with the stream swanctl prints it on:
/// what loaded on stdout, what failed (and the failure summaries) on stderr.
pub fn load_report_lines(res: &Message, what: &str) -> Vec<(Stream, String)> {
    let mut out: Vec<(Stream, String)> = Vec::new();
    // A refused connection is reported where swanctl does, with the connections.
    let refused = res.get_section("conns-refused");
    let refused_names: Vec<(String, String)> = refused
        .map(|r| {
            r.entries()
                .iter()
                .map(|(k, _)| (k.clone(), r.get_str(k).unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    for e in res.get_list("errors") {
        if refused_names
            .iter()
            .any(|(n, _)| e.starts_with(&format!("loading connection '{n}' failed: ")))
        {
            continue;
        }
        out.push((Stream::Err, e));
    }
    if what != "conns" {
        for e in res.get_list("cred-errors") {
            out.push((Stream::Err, format!("loading credential failed: {e}")));
        }
        for c in res.get_list("creds") {
            out.push((Stream::Out, c));
        }
        for s in res.get_list("secrets") {
            out.push((Stream::Out, format!("loaded ike secret '{s}'")));
        }
        let unloaded = res.get_str("secrets-unloaded").unwrap_or("0");
        if res.get_list("secrets").is_empty() && unloaded != "0" {
            out.push((
                Stream::Out,
                format!("no secrets found, {unloaded} unloaded"),
            ));
        }
    }
    if what != "creds" {
        let conns = res.get_list("conns");
        for c in &conns {
            out.push((Stream::Out, format!("loaded connection '{c}'")));
        }
        for (name, why) in &refused_names {
            out.push((
                Stream::Err,
                format!("loading connection '{name}' failed: {why}"),
            ));
        }
        for c in res.get_list("conns-kept") {
            out.push((Stream::Err, format!("kept previous connection '{c}'")));
        }
        let unloaded = res.get_str("conns-unloaded").unwrap_or("0");
        let found = conns.len() + refused_names.len();
        if found == 0 {
            out.push((
                Stream::Out,
                format!("no connections found, {unloaded} unloaded"),
            ));
        } else if refused_names.is_empty() {
            if res.get_bool("success") == Some(true) {
                out.push((
                    Stream::Out,
                    format!(
                        "successfully loaded {} connections, {unloaded} unloaded",
                        conns.len()
                    ),
                ));
            }
        } else {
            out.push((
                Stream::Err,
                format!(
                    "loaded {} of {found} connections, {} failed to load, {unloaded} unloaded",
                    conns.len(),
                    refused_names.len()
                ),
            ));
        }
    }
    if res.get_bool("success") != Some(true)
        && let Some(e) = res.get_str("errmsg")
    {
        out.push((Stream::Err, format!("loading failed: {e}")));
    }
    out
}

/// swanctl `--stats` text.
pub fn format_stats(res: &Message) -> String {
    let mut out = String::new();
    if let Some(up) = res.get_section("uptime") {
        out.push_str(&format!(
            "uptime: {}, since {}\n",
            up.get_str("running").unwrap_or("?"),
            up.get_str("since").unwrap_or("?")
        ));
    }
    if let Some(w) = res.get_section("workers") {
        let active = w.get_section("active");
        let a = |k: &str| active.and_then(|s| s.get_str(k)).unwrap_or("0").to_owned();
        out.push_str(&format!(
            "worker threads: {} total, {} idle, working: {}/{}/{}/{}\n",
            w.get_str("total").unwrap_or("0"),
            w.get_str("idle").unwrap_or("0"),
            a("critical"),
            a("high"),
            a("medium"),
            a("low")
        ));
    }
    if let Some(q) = res.get_section("queues") {
        out.push_str(&format!(
            "job queues: {}/{}/{}/{}\n",
            q.get_str("critical").unwrap_or("0"),
            q.get_str("high").unwrap_or("0"),
            q.get_str("medium").unwrap_or("0"),
            q.get_str("low").unwrap_or("0")
        ));
    }
    out.push_str(&format!(
        "jobs scheduled: {}\n",
        res.get_str("scheduled").unwrap_or("0")
    ));
    if let Some(ike) = res.get_section("ikesas") {
        out.push_str(&format!(
            "IKE_SAs: {} total, {} half-open\n",
            ike.get_str("total").unwrap_or("0"),
            ike.get_str("half-open").unwrap_or("0")
        ));
    }
    let plugins = res.get_list("plugins");
    if !plugins.is_empty() {
        out.push_str(&format!("loaded plugins: {}\n", plugins.join(" ")));
    }
    out
}
