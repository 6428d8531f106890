//! swanctl's command line, for when `ikectl` runs under the name `swanctl`.
//!
//! Contract: the first argument selects the command by its long (`--initiate`) or short (`-i`)
//! name, as in strongSwan's `src/swanctl/command.c`; the remaining arguments are that
//! command's options (`--child NAME`, `-c NAME`, `--child=NAME`), plus `--uri`/`-u` and
//! `--help`/`-h` everywhere. The result is an ordinary [`super::Cli`], so both spellings share
//! one implementation. `--raw`/`--pretty` select JSON (swanctl prints its own raw dump format
//! there; nobody should parse that).
//!
//! Output and exit statuses follow swanctl 5.9's, because tools that drive swanctl (NVIDIA's
//! `ovs-monitor-ipsec` logs only the stderr of `--load-all`, and only when it contains
//! "error") read them: `--load-*` print what loaded on stdout and every failure on stderr
//! (`loading connection 'NAME' failed: WHY`, `loaded N of M connections, ...`, ending with
//! `loading failed: N error(s) in FILE`) and exit with EINVAL (22) when anything failed;
//! an unreachable daemon is `connecting to 'URI' failed: WHY` plus `Error: connecting to 'URI'
//! URI failed: WHY` with the connect errno as the exit status; a command line swanctl would
//! refuse is `Error: ...` with status 1. Listings and initiate/terminate are shared with
//! `ikectl` (their text is already swanctl's; failures exit 1 as in swanctl).

use std::path::PathBuf;

use super::{Cli, Command, InitiateArgs, LoadArgs, SaSelector, TerminateArgs};
use crate::vici::client::{Client, ClientError};

/// swanctl's status for a load with failures (`load_conns.c` returns EINVAL).
pub const EXIT_EINVAL: i32 = 22;
/// swanctl's status for a command line it does not accept (`command_usage` then 1).
pub const EXIT_BAD_COMMAND: i32 = 1;

/// A swanctl command line that could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("missing command; try --help")]
    NoCommand,
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("invalid --{command} option {option:?}")]
    BadOption { command: String, option: String },
    #[error("option {0:?} requires an argument")]
    MissingValue(String),
    #[error("invalid number {0:?}")]
    BadNumber(String),
    #[error("help requested")]
    Help,
}

/// swanctl's commands: (long name, short letter).
const COMMANDS: &[(&str, char)] = &[
    ("initiate", 'i'),
    ("terminate", 't'),
    ("rekey", 'R'),
    ("list-sas", 'l'),
    ("list-conns", 'L'),
    ("list-pols", 'P'),
    ("list-certs", 'x'),
    ("load-all", 'q'),
    ("load-conns", 'c'),
    ("load-creds", 's'),
    ("stats", 'S'),
    ("version", 'v'),
    ("log", 'T'),
];

/// Options of all commands: (long, short, takes a value).
const OPTIONS: &[(&str, char, bool)] = &[
    ("child", 'c', true),
    ("ike", 'i', true),
    ("child-id", 'C', true),
    ("ike-id", 'I', true),
    ("timeout", 't', true),
    ("loglevel", 'l', true),
    ("file", 'f', true),
    ("uri", 'u', true),
    ("force", 'f', false),
    ("raw", 'r', false),
    ("pretty", 'P', false),
    ("noblock", 'n', false),
    ("noprompt", 'n', false),
    ("clear", 'c', false),
    ("reauth", 'a', false),
    ("daemon", 'd', false),
    ("trap", 't', false),
    ("drop", 'd', false),
    ("pass", 'p', false),
    ("help", 'h', false),
];

/// Which options each command accepts; short letters are resolved within this set because
/// swanctl reuses letters across commands (`-t` is `--timeout` for initiate, `--trap` for
/// list-pols).
fn options_of(command: &str) -> &'static [&'static str] {
    match command {
        "initiate" => &["child", "ike", "timeout", "loglevel", "raw", "pretty"],
        "terminate" => &[
            "child", "ike", "child-id", "ike-id", "force", "timeout", "loglevel", "raw", "pretty",
        ],
        "rekey" => &[
            "child", "ike", "child-id", "ike-id", "reauth", "raw", "pretty",
        ],
        "list-sas" => &["ike", "ike-id", "noblock", "raw", "pretty"],
        "list-pols" => &["child", "trap", "drop", "pass", "raw", "pretty"],
        "load-all" | "load-creds" => &["clear", "noprompt", "file", "raw", "pretty"],
        "load-conns" => &["file", "raw", "pretty"],
        "version" => &["daemon", "raw", "pretty"],
        _ => &["raw", "pretty"],
    }
}

/// Parses swanctl's argv (without argv[0]).
pub fn parse(args: &[String]) -> Result<Cli, UsageError> {
    let first = args.first().ok_or(UsageError::NoCommand)?;
    let command = if let Some(long) = first.strip_prefix("--") {
        COMMANDS
            .iter()
            .find(|(name, _)| *name == long)
            .map(|(name, _)| *name)
    } else if let Some(short) = first.strip_prefix('-') {
        let mut chars = short.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => COMMANDS.iter().find(|(_, l)| *l == c).map(|(n, _)| *n),
            _ => None,
        }
    } else {
        None
    };
    let Some(command) = command else {
        if first == "--help" || first == "-h" {
            return Err(UsageError::Help);
        }
        return Err(UsageError::UnknownCommand(first.clone()));
    };
    let allowed = options_of(command);
    let mut values: Vec<(&'static str, Option<String>)> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let arg = &args[i];
        let (name, inline) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (long.to_owned(), None),
            }
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut chars = short.chars();
            let letter = chars.next().unwrap_or('?');
            let rest: String = chars.collect();
            let found = OPTIONS
                .iter()
                .find(|(n, l, _)| {
                    *l == letter && (allowed.contains(n) || *n == "uri" || *n == "help")
                })
                .map(|(n, _, _)| (*n).to_owned())
                .ok_or_else(|| UsageError::BadOption {
                    command: command.into(),
                    option: arg.clone(),
                })?;
            (found, (!rest.is_empty()).then_some(rest))
        } else {
            return Err(UsageError::BadOption {
                command: command.into(),
                option: arg.clone(),
            });
        };
        let Some(&(opt, _, takes_value)) = OPTIONS
            .iter()
            .find(|(n, _, _)| *n == name && (allowed.contains(n) || *n == "uri" || *n == "help"))
        else {
            return Err(UsageError::BadOption {
                command: command.into(),
                option: arg.clone(),
            });
        };
        if opt == "help" {
            return Err(UsageError::Help);
        }
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| UsageError::MissingValue(arg.clone()))?,
                    )
                }
            }
        } else {
            None
        };
        values.push((opt, value));
        i += 1;
    }
    let get = |n: &str| {
        values
            .iter()
            .rev()
            .find(|(k, _)| *k == n)
            .and_then(|(_, v)| v.clone())
    };
    let all = |n: &str| -> Vec<String> {
        values
            .iter()
            .filter(|(k, _)| *k == n)
            .filter_map(|(_, v)| v.clone())
            .collect()
    };
    let has = |n: &str| values.iter().any(|(k, _)| *k == n);
    let number = |n: &str| -> Result<Option<u64>, UsageError> {
        get(n)
            .map(|v| v.parse::<u64>().map_err(|_| UsageError::BadNumber(v)))
            .transpose()
    };
    let file = get("file")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/swanctl/swanctl.conf"));
    let selector = || -> Result<SaSelector, UsageError> {
        Ok(SaSelector {
            child: get("child"),
            ike: get("ike"),
            child_id: number("child-id")?.map(|v| v as u32),
            ike_id: number("ike-id")?.map(|v| v as u32),
        })
    };
    let cmd = match command {
        "initiate" => Command::Initiate(InitiateArgs {
            child: all("child"),
            ike: get("ike"),
            timeout: number("timeout")?.unwrap_or(0),
            loglevel: get("loglevel").and_then(|v| v.parse().ok()).unwrap_or(1),
        }),
        "terminate" => Command::Terminate(TerminateArgs {
            sa: selector()?,
            force: has("force"),
            timeout: number("timeout")?.unwrap_or(0),
        }),
        "rekey" => Command::Rekey(selector()?),
        "list-sas" => Command::ListSas { ike: get("ike") },
        "list-conns" => Command::ListConns,
        "list-pols" => Command::ListPols,
        "list-certs" => Command::ListCerts,
        "load-all" => Command::LoadAll(LoadArgs { file }),
        "load-conns" => Command::LoadConns(LoadArgs { file }),
        "load-creds" => Command::LoadCreds(LoadArgs { file }),
        "stats" => Command::Stats,
        "version" => Command::Version,
        "log" => Command::Log,
        other => return Err(UsageError::UnknownCommand(other.into())),
    };
    Ok(Cli {
        uri: get("uri").unwrap_or_else(|| "unix:///var/run/charon.vici".into()),
        json: has("raw") || has("pretty"),
        reply_timeout: super::DEFAULT_REPLY_TIMEOUT_SECS,
        command: cmd,
        swanctl: true,
    })
}

/// An error's text without Rust's ` (os error N)` suffix: strerror(3)'s words, as swanctl
/// prints them.
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Reports a daemon that cannot be reached as swanctl does; returns the exit status (the
/// connect errno, as swanctl's `command_dispatch`).
pub fn unreachable(uri: &str, e: &ClientError) -> i32 {
    let (why, code) = match e {
        ClientError::Connect { source, .. } => (strerror(source), source.raw_os_error()),
        ClientError::Io(source) => (strerror(source), source.raw_os_error()),
        other => (other.to_string(), None),
    };
    eprintln!("connecting to '{uri}' failed: {why}");
    eprintln!("Error: connecting to '{uri}' URI failed: {why}");
    code.filter(|c| *c > 0 && *c < 256)
        .unwrap_or(EXIT_BAD_COMMAND)
}

/// `--load-all`/`--load-conns`/`--load-creds`: the daemon's report split over stdout and stderr
/// as swanctl splits it, EINVAL when anything failed.
pub fn load(
    client: &mut Client,
    args: &LoadArgs,
    what: &str,
    json: bool,
) -> Result<i32, ClientError> {
    let res = super::load_request(client, args, what)?;
    let failed = super::load_failed(&res, what);
    if json {
        println!("{}", super::format::to_json(&res));
    } else {
        for (stream, line) in super::load_report_lines(&res, what) {
            match stream {
                super::Stream::Out => println!("{line}"),
                super::Stream::Err => eprintln!("{line}"),
            }
        }
    }
    Ok(if failed { EXIT_EINVAL } else { super::EXIT_OK })
}

/// swanctl-style usage text.
pub fn usage() -> String {
    let mut out = String::from(
        "iked's swanctl-compatible interface\nusage:\n  swanctl --help   (this text)\n",
    );
    for (name, letter) in COMMANDS {
        out.push_str(&format!("  swanctl --{name:<11} (-{letter})\n"));
    }
    out.push_str("common options: --uri (-u) unix:///path, --help (-h)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn initiate_long_and_short() {
        for line in [
            "--initiate --child bf-in --child bf-out --timeout 30",
            "-i -c bf-in -c bf-out -t 30",
            "--initiate --child=bf-in -cbf-out --timeout=30",
        ] {
            let cli = parse(&argv(line)).unwrap();
            let Command::Initiate(a) = cli.command else {
                panic!("{line}: not initiate")
            };
            assert_eq!(a.child, vec!["bf-in", "bf-out"], "{line}");
            assert_eq!(a.timeout, 30);
        }
    }

    #[test]
    fn letters_resolve_per_command() {
        // -t is --timeout for terminate but --trap for list-pols.
        let cli = parse(&argv("-t -c bf-out -t 5 --force")).unwrap();
        let Command::Terminate(t) = cli.command else {
            panic!()
        };
        assert_eq!(t.sa.child.as_deref(), Some("bf-out"));
        assert_eq!(t.timeout, 5);
        assert!(t.force);
        assert!(matches!(
            parse(&argv("--list-pols -t")).unwrap().command,
            Command::ListPols
        ));
    }

    #[test]
    fn uri_file_and_raw() {
        let cli = parse(&argv(
            "--load-all --file /tmp/x.conf --uri unix:///tmp/s.vici",
        ))
        .unwrap();
        assert_eq!(cli.uri, "unix:///tmp/s.vici");
        let Command::LoadAll(l) = cli.command else {
            panic!()
        };
        assert_eq!(l.file, PathBuf::from("/tmp/x.conf"));
        assert!(parse(&argv("--list-sas --raw")).unwrap().json);
        assert!(!parse(&argv("-l")).unwrap().json);
    }

    #[test]
    fn strerror_drops_the_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(strerror(&e), "No such file or directory");
        let e = ClientError::Connect {
            path: "/nonexistent".into(),
            source: std::io::Error::from_raw_os_error(111),
        };
        assert_eq!(unreachable("unix:///nonexistent", &e), 111);
    }

    #[test]
    fn rejects_bad_lines() {
        assert_eq!(parse(&[]).unwrap_err(), UsageError::NoCommand);
        assert_eq!(
            parse(&argv("--frobnicate")).unwrap_err(),
            UsageError::UnknownCommand("--frobnicate".into())
        );
        assert!(matches!(
            parse(&argv("--list-sas --child x")).unwrap_err(),
            UsageError::BadOption { .. }
        ));
        assert!(matches!(
            parse(&argv("--initiate --child")).unwrap_err(),
            UsageError::MissingValue(_)
        ));
        assert_eq!(
            parse(&argv("-i --timeout soon")).unwrap_err(),
            UsageError::BadNumber("soon".into())
        );
    }
}
