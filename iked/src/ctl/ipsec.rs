//! strongSwan's `ipsec` command (the stroke front end), for when `ikectl` runs under the name
//! `ipsec`: the commands Open vSwitch's `ovs-monitor-ipsec` (StrongSwanHelper) runs, against
//! iked over VICI, with the ipsec.conf/ipsec.secrets iked reads through `iked_conf::ipsec_conf`.
//!
//! Contract:
//! - The configuration is `$IPSEC_CONFDIR/ipsec.conf` (default `/etc`, the variable strongSwan's
//!   script exports), the secrets `ipsec.secrets` beside it; the daemon is reached at
//!   `$IKED_VICI_URI` (default `unix:///var/run/charon.vici`).
//! - `restart`/`start`/`reload`/`update` have the daemon load ipsec.conf (and its secrets):
//!   connections still in the file keep their SAs, removed ones are unloaded and their trap
//!   policies uninstalled (SAs of removed connections stay until `stroke down-nb`, as with
//!   charon). `restart` never tears SAs down; when the daemon is not running and systemd is,
//!   it starts `iked.service` first. `rereadsecrets`/`secrets`/`rereadall` reload credentials.
//! - `status [name]` prints stroke's `ipsec status` lines (`Shunted Connections:`, `Routed
//!   Connections:`, `Security Associations (n up, m connecting):`), each entry beginning with
//!   `name{id}:` or `name[id]:`, never a blank line (ovs-monitor-ipsec stops at the first).
//! - `stroke down-nb|down <spec>` and `down <spec>` terminate as stroke does: `name` the IKE SA,
//!   `name[n]` IKE SA #n, `name{n}` CHILD_SA #n, `name[*]`/`name{*}` all of that name; `-nb`
//!   does not wait. An id whose SA carries another name matches nothing (a stale listing must
//!   not take down another tunnel). `up <name>` / `stroke up-nb <name>` initiate.
//!   Deviation: `stroke down-nb name` takes every IKE SA of that name, not the first, and
//!   forces them (VICI `force`: gone at once, DELETE best-effort), since ovs-monitor-ipsec
//!   removes a tunnel with it and expects nothing left, and crossed ACQUIREs on both hosts can
//!   leave two IKE SAs of one connection, one of them retransmitting to a peer that dropped it.
//! - Exit statuses are strongSwan's: 0 done, 7 daemon not running (3 for `status`, 255 for
//!   `stroke`), 2 usage. Deviation: `update`/`restart` are synchronous and exit 1 when the file
//!   has errors (starter's are asynchronous and exit 0), so callers see the located errors.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::vici::Message;
use crate::vici::client::{Client, ClientError};

/// strongSwan's "not running" status of the script's commands.
pub const EXIT_NOT_RUNNING: i32 = 7;
/// `ipsec status` when the daemon does not run.
pub const EXIT_STATUS_DOWN: i32 = 3;
/// `ipsec stroke ...` when the socket is unreachable (stroke's `exit(-1)`).
pub const EXIT_STROKE_UNREACHABLE: i32 = 255;

/// Where the front end finds the configuration and the daemon.
#[derive(Debug, Clone)]
pub struct Env {
    /// ipsec.conf.
    pub conf: PathBuf,
    /// VICI URI.
    pub uri: String,
}

impl Env {
    /// From `IPSEC_CONFDIR` and `IKED_VICI_URI`.
    pub fn from_process() -> Self {
        let dir = std::env::var_os("IPSEC_CONFDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc"));
        Self {
            conf: dir.join("ipsec.conf"),
            uri: std::env::var("IKED_VICI_URI")
                .unwrap_or_else(|_| "unix:///var/run/charon.vici".into()),
        }
    }
}

/// Usage text.
pub fn usage() -> String {
    "iked's strongSwan-compatible ipsec front end\n\
     usage: ipsec restart|start|reload|update|rereadsecrets|secrets|rereadall\n\
     \x20      ipsec status|statusall [<name>]\n\
     \x20      ipsec up|down <name>\n\
     \x20      ipsec stroke up-nb|down-nb|up|down <name>\n\
     \x20      ipsec version\n\
     environment: IPSEC_CONFDIR (directory of ipsec.conf, default /etc), IKED_VICI_URI\n"
        .to_owned()
}

/// Runs `ipsec <args>`; returns the exit status.
pub fn main(args: &[String], env: &Env) -> i32 {
    let arg = |i: usize| args.get(i).map(String::as_str);
    match (arg(0), arg(1), arg(2)) {
        (Some("restart" | "start"), _, _) => restart(env),
        (Some("reload" | "update"), None, _) => load(env, "all", "Updating"),
        (Some("rereadsecrets" | "secrets" | "rereadall"), None, _) => {
            load(env, "creds", "Rereading secrets of")
        }
        (Some("status" | "statusall"), name, None) => status(env, name),
        (Some("down"), Some(name), None) => terminate(env, name, true, EXIT_NOT_RUNNING),
        (Some("up"), Some(name), None) => initiate(env, name, true, EXIT_NOT_RUNNING),
        (Some("stroke"), Some(op @ ("down" | "down-nb")), Some(name)) if args.len() == 3 => {
            terminate(env, name, op == "down", EXIT_STROKE_UNREACHABLE)
        }
        (Some("stroke"), Some(op @ ("up" | "up-nb")), Some(name)) if args.len() == 3 => {
            initiate(env, name, op == "up", EXIT_STROKE_UNREACHABLE)
        }
        (Some("version" | "--version"), _, _) => {
            println!("Linux iked {}", env!("CARGO_PKG_VERSION"));
            super::EXIT_OK
        }
        (Some("--help" | "help"), _, _) | (None, _, _) => {
            print!("{}", usage());
            super::EXIT_OK
        }
        (Some(other), _, _) => {
            eprintln!("ipsec: unknown command or arguments `{other}' (`ipsec --help' for list)");
            super::EXIT_USAGE
        }
    }
}

fn connect(env: &Env) -> Result<Client, ClientError> {
    let client = super::connect(&env.uri)?;
    client.set_read_timeout(Some(Duration::from_secs(super::DEFAULT_REPLY_TIMEOUT_SECS)))?;
    Ok(client)
}

/// `restart`: reload in place (SAs still wanted stay up); start iked first if it is down and
/// systemd can.
fn restart(env: &Env) -> i32 {
    if connect(env).is_err() && Path::new("/run/systemd/system").is_dir() {
        eprintln!("Starting iked...");
        let started = std::process::Command::new("systemctl")
            .args(["start", "iked.service"])
            .status()
            .is_ok_and(|s| s.success());
        if started {
            for _ in 0..50 {
                if connect(env).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    load(env, "all", "Reloading (restart without tearing down SAs)")
}

/// Has the daemon load ipsec.conf (`what`: all, creds) and reports like ikectl's load.
fn load(env: &Env, what: &str, verb: &str) -> i32 {
    let mut client = match connect(env) {
        Ok(c) => c,
        Err(_) => {
            eprintln!("{verb} iked's configuration failed: iked is not running");
            return EXIT_NOT_RUNNING;
        }
    };
    eprintln!("{verb} iked's configuration from {}...", env.conf.display());
    let file = std::fs::canonicalize(&env.conf).unwrap_or_else(|_| env.conf.clone());
    let req = Message::new()
        .kv("file", file.to_string_lossy().as_bytes())
        .kv("what", what);
    match client.request("iked-load-file", req) {
        Ok(res) => {
            let text = super::format_load_result(&res, what);
            let ok = res.get_bool("success") == Some(true)
                && (what == "conns" || res.get_list("cred-errors").is_empty());
            if ok {
                print!("{text}");
                super::EXIT_OK
            } else {
                eprint!("{text}");
                super::EXIT_FAILED
            }
        }
        Err(e) => {
            eprintln!("{verb} failed: {e}");
            super::EXIT_FAILED
        }
    }
}

/// One IKE SA or CHILD_SA entry from `list-sas`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaEntry {
    /// Connection (IKE) or child name.
    pub name: String,
    /// Unique id.
    pub id: u32,
    /// Whether this is a CHILD_SA.
    pub child: bool,
}

/// A stroke SA specifier (`name`, `name[n]`, `name{n}`, `name[*]`, `name{*}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The name part.
    pub name: String,
    /// `{...}`: a CHILD_SA; otherwise an IKE SA.
    pub child: bool,
    /// `[n]`/`{n}`.
    pub id: Option<u32>,
    /// `[*]`/`{*}`: every SA of that name; a bare name takes the first.
    pub all: bool,
}

/// Parses a stroke specifier; `None` where stroke says "error parsing specifier string".
pub fn parse_spec(s: &str) -> Option<Spec> {
    let Some(pos) = s.find(['[', '{']) else {
        return (!s.is_empty()).then(|| Spec {
            name: s.to_owned(),
            child: false,
            id: None,
            all: false,
        });
    };
    let (name, rest) = s.split_at(pos);
    let child = rest.starts_with('{');
    let close = if child { '}' } else { ']' };
    let inner = rest.get(1..)?.strip_suffix(close)?;
    let (id, all) = match inner {
        "*" | "" => (None, true),
        n => (Some(n.parse::<u32>().ok().filter(|&i| i > 0)?), false),
    };
    Some(Spec {
        name: name.to_owned(),
        child,
        id,
        all,
    })
}

/// Which SAs a specifier selects among `sas` (`list-sas` order): ids must carry the name too.
pub fn select(spec: &Spec, sas: &[SaEntry]) -> Vec<SaEntry> {
    let matching = sas
        .iter()
        .filter(|e| e.child == spec.child && e.name == spec.name)
        .filter(|e| spec.id.is_none_or(|id| id == e.id));
    if spec.all || spec.id.is_some() {
        matching.cloned().collect()
    } else {
        matching.take(1).cloned().collect()
    }
}

fn sa_entries(client: &mut Client) -> Result<Vec<SaEntry>, ClientError> {
    let mut out = Vec::new();
    client.streamed("list-sas", Message::new(), Some("list-sa"), |msg| {
        for (name, item) in msg.entries() {
            let crate::vici::Item::Section(ike) = item else {
                continue;
            };
            if let Some(id) = ike.get_str("uniqueid").and_then(|v| v.parse().ok()) {
                out.push(SaEntry {
                    name: name.clone(),
                    id,
                    child: false,
                });
            }
            if let Some(children) = ike.get_section("child-sas") {
                for (_, c) in children.entries() {
                    if let crate::vici::Item::Section(c) = c
                        && let (Some(n), Some(id)) = (
                            c.get_str("name"),
                            c.get_str("uniqueid").and_then(|v| v.parse().ok()),
                        )
                    {
                        out.push(SaEntry {
                            name: n.to_owned(),
                            id,
                            child: true,
                        });
                    }
                }
            }
        }
    })?;
    Ok(out)
}

/// What `down` (`wait`) or `down-nb` selects: `down-nb name` takes all of the connection's
/// IKE SAs (see the module's deviation).
pub fn down_spec(mut spec: Spec, wait: bool) -> Spec {
    if !wait && spec.id.is_none() {
        spec.all = true;
    }
    spec
}

/// The VICI `terminate` request for `sa`: `down-nb` forces (see the module's deviation).
pub fn terminate_request(sa: &SaEntry, wait: bool) -> Message {
    let key = if sa.child { "child-id" } else { "ike-id" };
    let req = Message::new()
        .kv(key, sa.id.to_string())
        .kv("timeout", if wait { "0" } else { "-1" });
    if wait { req } else { req.kv("force", "yes") }
}

fn terminate(env: &Env, spec_text: &str, wait: bool, unreachable: i32) -> i32 {
    let Some(spec) = parse_spec(spec_text).map(|s| down_spec(s, wait)) else {
        println!("error parsing specifier string");
        return super::EXIT_OK;
    };
    let Ok(mut client) = connect(env) else {
        eprintln!("failed to connect to iked at {}", env.uri);
        return unreachable;
    };
    let selected = match sa_entries(&mut client) {
        Ok(s) => select(&spec, &s),
        Err(e) => {
            eprintln!("{e}");
            return super::EXIT_FAILED;
        }
    };
    if selected.is_empty() {
        println!(
            "no {}_SA named '{}' found",
            if spec.child { "CHILD" } else { "IKE" },
            spec.name
        );
        return super::EXIT_OK;
    }
    for sa in selected {
        match client.request("terminate", terminate_request(&sa, wait)) {
            Ok(res) => match crate::vici::client::check_success(&res) {
                Ok(()) => println!(
                    "{} {}{}{}{} {}",
                    if sa.child { "CHILD_SA" } else { "IKE_SA" },
                    sa.name,
                    if sa.child { '{' } else { '[' },
                    sa.id,
                    if sa.child { '}' } else { ']' },
                    if wait { "closed" } else { "closing" }
                ),
                Err(e) => println!("terminating {}: {e}", sa.name),
            },
            Err(e) => {
                eprintln!("{e}");
                return super::EXIT_FAILED;
            }
        }
    }
    super::EXIT_OK
}

fn initiate(env: &Env, name: &str, wait: bool, unreachable: i32) -> i32 {
    let Ok(mut client) = connect(env) else {
        eprintln!("failed to connect to iked at {}", env.uri);
        return unreachable;
    };
    let req = Message::new()
        .kv("child", name)
        .kv("timeout", if wait { "0" } else { "-1" });
    if wait {
        let _ = client.set_read_timeout(None);
    }
    match client.request("initiate", req) {
        Ok(res) => match crate::vici::client::check_success(&res) {
            Ok(()) => {
                println!("connection '{name}' established successfully");
                super::EXIT_OK
            }
            Err(e) => {
                println!("establishing connection '{name}' failed: {e}");
                super::EXIT_FAILED
            }
        },
        Err(e) => {
            eprintln!("{e}");
            super::EXIT_FAILED
        }
    }
}

fn status(env: &Env, name: Option<&str>) -> i32 {
    let Ok(mut client) = connect(env) else {
        return EXIT_STATUS_DOWN;
    };
    let mut policies = Vec::new();
    let req = Message::new()
        .kv("drop", "yes")
        .kv("pass", "yes")
        .kv("trap", "yes");
    let got = client.streamed("list-policies", req, Some("list-policy"), |m| {
        policies.push(m.clone())
    });
    let mut sas = Vec::new();
    let got = got.and_then(|_| {
        client.streamed("list-sas", Message::new(), Some("list-sa"), |m| {
            sas.push(m.clone())
        })
    });
    if let Err(e) = got {
        eprintln!("{e}");
        return super::EXIT_FAILED;
    }
    print!("{}", render_status(&policies, &sas, name));
    super::EXIT_OK
}

fn list_text(m: &Message, key: &str) -> String {
    let list = m.get_list(key);
    if list.is_empty() {
        m.get_str(key).unwrap_or("dynamic").to_owned()
    } else {
        list.join(" ")
    }
}

/// One IKE SA of `ipsec status`: name, unique id, state text, children (name, id, state text,
/// selectors), whether established.
struct Ike {
    name: String,
    id: String,
    line: String,
    children: Vec<(String, String, String, String)>,
    up: bool,
}

/// The IKE SAs of `list-sa` events, those of (or with a child of) a wanted name only.
fn ike_entries(sas: &[Message], wanted: &dyn Fn(&str) -> bool) -> Vec<Ike> {
    let mut ikes = Vec::new();
    for event in sas {
        for (name, item) in event.entries() {
            let crate::vici::Item::Section(ike) = item else {
                continue;
            };
            let g = |k: &str| ike.get_str(k).unwrap_or("%any").to_owned();
            let state = ike.get_str("state").unwrap_or("CONNECTING").to_owned();
            let up = state == "ESTABLISHED";
            let mut line = state.clone();
            if let Some(secs) = ike.get_str("established") {
                let _ = write!(line, " {secs} seconds ago");
            }
            let _ = write!(
                line,
                ", {}[{}]...{}[{}]",
                g("local-host"),
                g("local-id"),
                g("remote-host"),
                g("remote-id")
            );
            let mut children = Vec::new();
            if let Some(cs) = ike.get_section("child-sas") {
                for (_, c) in cs.entries() {
                    let crate::vici::Item::Section(c) = c else {
                        continue;
                    };
                    let cg = |k: &str| c.get_str(k).unwrap_or("?").to_owned();
                    let mut l = format!(
                        "{}, {}, reqid {}",
                        cg("state"),
                        c.get_str("mode").unwrap_or("TUNNEL").to_ascii_uppercase(),
                        cg("reqid")
                    );
                    if c.get_str("encap") == Some("yes") {
                        l.push_str(", ESP in UDP");
                    }
                    if let (Some(i), Some(o)) = (c.get_str("spi-in"), c.get_str("spi-out")) {
                        let _ = write!(l, ", ESP SPIs: {i}_i {o}_o");
                    }
                    let ts = format!(
                        "{} === {}",
                        list_text(c, "local-ts"),
                        list_text(c, "remote-ts")
                    );
                    children.push((cg("name"), cg("uniqueid"), l, ts));
                }
            }
            let any_child_wanted = children.iter().any(|c| wanted(&c.0));
            if !(wanted(name) || any_child_wanted) {
                continue;
            }
            ikes.push(Ike {
                name: name.clone(),
                id: g("uniqueid"),
                line,
                children,
                up,
            });
        }
    }
    ikes
}

/// stroke's `ipsec status` text from `list-policy` and `list-sa` events, optionally only the
/// entries of connection or child `filter`.
pub fn render_status(policies: &[Message], sas: &[Message], filter: Option<&str>) -> String {
    let wanted = |n: &str| filter.is_none_or(|f| f == n);
    let mut shunted = Vec::new();
    let mut routed = Vec::new();
    for event in policies {
        for (key, item) in event.entries() {
            let crate::vici::Item::Section(p) = item else {
                continue;
            };
            let child = p
                .get_str("child")
                .unwrap_or_else(|| key.rsplit('/').next().unwrap_or(key));
            let ike = p.get_str("ike").unwrap_or(child);
            if !(wanted(child) || wanted(ike)) {
                continue;
            }
            let mode = p.get_str("mode").unwrap_or("TUNNEL").to_ascii_uppercase();
            let ts = format!(
                "{} === {}",
                list_text(p, "local-ts"),
                list_text(p, "remote-ts")
            );
            if mode == "DROP" || mode == "PASS" {
                shunted.push((child.to_owned(), format!("{ts} {mode}")));
            } else {
                routed.push((child.to_owned(), mode, ts));
            }
        }
    }
    let ikes = ike_entries(sas, &wanted);
    // stroke right-aligns names to the longest one.
    let width = shunted
        .iter()
        .map(|s| s.0.len())
        .chain(routed.iter().map(|r| r.0.len()))
        .chain(ikes.iter().map(|i| i.name.len()))
        .chain(
            ikes.iter()
                .flat_map(|i| i.children.iter().map(|c| c.0.len())),
        )
        .max()
        .unwrap_or(0)
        .max(12);
    let mut out = String::new();
    if !shunted.is_empty() {
        out.push_str("Shunted Connections:\n");
        for (name, text) in &shunted {
            let _ = writeln!(out, "{name:>width$}:  {text}");
        }
    }
    if !routed.is_empty() {
        out.push_str("Routed Connections:\n");
        // Trap policies are not SAs: id 0, which no stroke specifier accepts.
        for (name, mode, ts) in &routed {
            let _ = writeln!(out, "{name:>width$}{{0}}:  ROUTED, {mode}");
            let _ = writeln!(out, "{name:>width$}{{0}}:   {ts}");
        }
    }
    let up = ikes.iter().filter(|i| i.up).count();
    let _ = writeln!(
        out,
        "Security Associations ({up} up, {} connecting):",
        ikes.len() - up
    );
    if ikes.is_empty() {
        out.push_str("  none\n");
    }
    for ike in &ikes {
        let _ = writeln!(out, "{:>width$}[{}]: {}", ike.name, ike.id, ike.line);
        for (name, id, line, ts) in &ike.children {
            let _ = writeln!(out, "{name:>width$}{{{id}}}:  {line}");
            let _ = writeln!(out, "{name:>width$}{{{id}}}:   {ts}");
        }
    }
    out
}

#[cfg(test)]
mod tests;
