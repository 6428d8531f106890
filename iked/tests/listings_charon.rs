//! What the VICI listings say, compared with a stock charon given the same configuration
//! (issue 16 §7): `list-conns` (actions `none`/`trap`/`start`, certificates by subject DN),
//! `version` (uname's sysname, release and machine) and `list-certs`, both as raw VICI values
//! and as the stock `swanctl` prints them, so scripts that parse swanctl output keep working.
//!
//! charon runs in its own mount and network namespace (`unshare -m -n`: a private /run for its
//! pid file, no interface but a down loopback, so it sends nothing anywhere); iked runs
//! record-only on unprivileged loopback ports. Needs root, charon and swanctl; without them it
//! fails under `CI=true` and otherwise skips with a printed reason.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use iked::vici::client::Client;
use iked::vici::codec::{Item, Message};

const CHARON: &str = "/usr/lib/ipsec/charon";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crypto/tests/data/certs")
        .join(name)
}

/// One connection both daemons load: certificate rounds (listed by subject), non-default
/// IKE settings, and children with every action keyword.
fn conf(dir: &Path) -> String {
    format!(
        r#"connections {{
  L {{
    local_addrs = 127.0.0.1
    remote_addrs = 127.0.0.2
    proposals = aes128-sha256-x25519
    # Without it charon lists "IKEv1/2"; iked speaks IKEv2 only and says so.
    version = 2
    rekey_time = 2h
    unique = replace
    local {{
      auth = pubkey
      id = "C=CH, O=iked test, CN=bfl"
      certs = {dir}/x509/bfl-rsa.pem
    }}
    remote {{
      auth = pubkey
      id = CN=bfr
      cacerts = {dir}/x509ca/ca-rsa.pem
    }}
    children {{
      plain {{
        local_ts = 127.0.0.1/32[udp]
        remote_ts = 127.0.0.2/32[udp/4789]
        esp_proposals = aes128gcm16-x25519-esn
        mode = transport
      }}
      acts {{
        esp_proposals = aes128gcm16-x25519-esn
        close_action = trap
        dpd_action = restart
        rekey_time = 600
      }}
      cleared {{
        esp_proposals = aes128gcm16-x25519-esn
        close_action = clear
        dpd_action = start
        rekey_packets = 1000
      }}
    }}
  }}
}}
"#,
        dir = dir.display()
    )
}

/// A swanctl directory with the credentials both daemons get.
fn swanctl_dir(dir: &Path) -> PathBuf {
    let d = dir.join("swanctl");
    for (sub, name) in [("x509", "bfl-rsa.pem"), ("x509ca", "ca-rsa.pem")] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        std::fs::copy(fixture(name), d.join(sub).join(name)).unwrap();
    }
    std::fs::write(d.join("swanctl.conf"), conf(&d)).unwrap();
    d
}

fn swanctl(uri: &str, args: &[&str]) -> std::process::Output {
    Command::new("swanctl")
        .args(args)
        .arg("--uri")
        .arg(uri)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every value of a message (and the events streamed before it) as `path = value`.
fn flatten(prefix: &str, m: &Message, out: &mut BTreeMap<String, String>) {
    for (k, item) in m.entries() {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match item {
            Item::Value(v) => {
                out.insert(path, String::from_utf8_lossy(v).into_owned());
            }
            Item::List(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect();
                out.insert(path, format!("[{}]", items.join(", ")));
            }
            Item::Section(s) => flatten(&path, s, out),
        }
    }
}

fn vici(socket: &Path, command: &str, event: Option<&str>) -> BTreeMap<String, String> {
    let mut c = Client::connect(socket).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = BTreeMap::new();
    let reply = c
        .streamed(command, Message::new(), event, |m| flatten("", m, &mut out))
        .unwrap();
    flatten("", &reply, &mut out);
    out
}

/// Every value charon gives that iked gives differently or not at all.
fn differences(
    charon: &BTreeMap<String, String>,
    iked: &BTreeMap<String, String>,
    skip: &[&str],
) -> Vec<String> {
    charon
        .iter()
        .filter(|(k, _)| !skip.iter().any(|s| k.ends_with(s)))
        .filter(|(k, v)| iked.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: charon {v:?}, iked {:?}", iked.get(k)))
        .collect()
}

struct Daemons {
    // Dropped first: both daemons stop before their directories go.
    _procs: Processes,
    charon_socket: PathBuf,
    iked_socket: PathBuf,
    dir: PathBuf,
}

fn start(tag: &str) -> Option<Daemons> {
    if !isolated_charon_available(CHARON) {
        return None;
    }
    let dir = scratch(tag);
    let creds = swanctl_dir(&dir);
    let mut procs = Processes::default();

    let charon_socket = dir.join("charon.vici");
    let strongswan_conf = dir.join("strongswan.conf");
    std::fs::write(
        &strongswan_conf,
        format!(
            "charon {{\n  load = random nonce aes sha1 sha2 hmac kdf gcm curve25519 gmp pem \
             pkcs1 pkcs8 x509 kernel-netlink socket-default vici\n  install_routes = no\n  \
             plugins {{\n    vici {{\n      socket = unix://{}\n    }}\n  }}\n}}\n",
            charon_socket.display()
        ),
    )
    .unwrap();
    start_isolated_charon(&mut procs, CHARON, &dir, &strongswan_conf, &charon_socket);

    let iked_socket = start_empty_iked(&mut procs, &dir);

    // The same stock swanctl loads the same files into both.
    let file = creds.join("swanctl.conf");
    for socket in [&charon_socket, &iked_socket] {
        let uri = format!("unix://{}", socket.display());
        stdout(&swanctl(
            &uri,
            &["--load-all", "--noprompt", "--file", file.to_str().unwrap()],
        ));
    }
    Some(Daemons {
        _procs: procs,
        charon_socket,
        iked_socket,
        dir,
    })
}

fn uri(socket: &Path) -> String {
    format!("unix://{}", socket.display())
}

#[test]
fn listings_match_charon() {
    let Some(d) = start("listings") else { return };
    let (charon, iked) = (uri(&d.charon_socket), uri(&d.iked_socket));

    // list-conns, raw: every value charon gives, iked gives the same. Certificates are listed
    // by subject, actions as `none`/`trap`/`start`.
    let theirs = vici(&d.charon_socket, "list-conns", Some("list-conn"));
    let ours = vici(&d.iked_socket, "list-conns", Some("list-conn"));
    assert_eq!(
        theirs.get("L.local-1.certs").map(String::as_str),
        Some("[C=CH, O=iked test, CN=bfl]"),
        "{theirs:#?}"
    );
    assert_eq!(
        theirs
            .get("L.children.cleared.close_action")
            .map(String::as_str),
        Some("none")
    );
    let diff = differences(&theirs, &ours, &[]);
    assert!(
        diff.is_empty(),
        "list-conns differs from charon:\n{}",
        diff.join("\n")
    );
    // And as the stock swanctl prints it, and our ikectl.
    let printed = stdout(&swanctl(&charon, &["--list-conns"]));
    assert_eq!(stdout(&swanctl(&iked, &["--list-conns"])), printed);
    assert_eq!(stdout(&ikectl(&d.iked_socket, &["list-conns"])), printed);

    // version: the same fields; the system's as uname(2) gives them to charon.
    let theirs = vici(&d.charon_socket, "version", None);
    let ours = vici(&d.iked_socket, "version", None);
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>()
    );
    let diff = differences(&theirs, &ours, &["daemon", "version"]);
    assert!(diff.is_empty(), "version differs:\n{}", diff.join("\n"));
    let printed = stdout(&swanctl(&iked, &["--version", "--daemon"]));
    let expected = format!(
        "strongSwan {} iked ({}, {}, {})\n",
        env!("CARGO_PKG_VERSION"),
        theirs["sysname"],
        theirs["release"],
        theirs["machine"]
    );
    assert_eq!(printed, expected);
    // ikectl prints the daemon's line as swanctl does.
    let out = ikectl(&d.iked_socket, &["version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with(&expected), "{text}");

    // list-certs: the loaded certificates, by subject, as charon lists them.
    let theirs = stdout(&swanctl(&charon, &["--list-certs"]));
    let ours = stdout(&swanctl(&iked, &["--list-certs"]));
    let subjects = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.trim_start().starts_with("subject:"))
            .map(str::to_owned)
            .collect()
    };
    assert!(
        subjects(&theirs).len() == 2,
        "charon lists both certificates: {theirs}"
    );
    assert_eq!(subjects(&ours), subjects(&theirs), "{ours}\n---\n{theirs}");
    // Stock swanctl prints iked's certificates exactly as charon's (it parses the DER itself).
    assert_eq!(ours, theirs);
    let dir = d.dir.clone();
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}
