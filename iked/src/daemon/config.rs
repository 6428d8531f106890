//! Configuration plumbing between `iked_conf` (swanctl.conf model), the engine's
//! configuration types and VICI.
//!
//! Contract:
//! - [`engine_connection`] / [`engine_secrets`] translate the validated swanctl model into the
//!   engine's types. Anything the engine cannot do yet is reported as an error string naming
//!   the connection, never silently dropped.
//! - [`vici_conn_to_text`] turns a VICI `load-conn` tree (as the stock `swanctl` sends it) back
//!   into swanctl.conf text, so VICI-loaded connections go through the very same parser and
//!   validation as file-loaded ones (locations then read `vici:load-conn:line:col`).
//! - [`list_conn_message`] renders a connection as charon's `list-conn` event.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use iked_conf::addr::{AddrSpec, Ports, TsAddr};
use iked_ike::config as ec;
use iked_ike::proposal as ep;

use crate::vici::{Item, Message};

/// Converts one swanctl connection for the engine.
pub fn engine_connection(conn: &iked_conf::Connection) -> Result<ec::IkeConfig, String> {
    let addrs = |specs: &[AddrSpec]| -> Vec<IpAddr> {
        specs
            .iter()
            .filter_map(|a| match a {
                AddrSpec::Addr(ip) => Some(*ip),
                _ => None,
            })
            .collect()
    };
    let local_addrs = addrs(&conn.local_addrs);
    let remote_addrs = addrs(&conn.remote_addrs);
    let auth = |rounds: &[iked_conf::AuthRound], side: &str| -> Result<ec::AuthConfig, String> {
        let round = rounds
            .first()
            .ok_or_else(|| format!("connection '{}' has no {side} auth round", conn.name))?;
        if rounds.len() > 1 {
            return Err(format!(
                "connection '{}': multiple {side} authentication rounds are not supported",
                conn.name
            ));
        }
        let method = match &round.auth {
            iked_conf::AuthMethod::Psk => ec::AuthMethod::Psk,
            iked_conf::AuthMethod::Pubkey { spec } => {
                let constraint = ec::PubkeyConstraint::from_spec(spec)
                    .map_err(|e| format!("connection '{}': {side} {e}", conn.name))?;
                // Certificate files are read by `creds::conn_credentials`, which knows the
                // swanctl directories; here only what the configuration says.
                ec::AuthMethod::Pubkey(Box::new(ec::PubkeyAuth {
                    send_cert: match conn.send_cert {
                        iked_conf::CertPolicy::IfAsked => ec::SendCert::IfAsked,
                        iked_conf::CertPolicy::Always => ec::SendCert::Always,
                        iked_conf::CertPolicy::Never => ec::SendCert::Never,
                    },
                    send_certreq: conn.send_certreq,
                    ..ec::PubkeyAuth::new(constraint)
                }))
            }
            other => {
                return Err(format!(
                    "connection '{}': {side} auth '{other}' is not supported (psk and pubkey are)",
                    conn.name
                ));
            }
        };
        Ok(ec::AuthConfig {
            method,
            id: round
                .id
                .as_ref()
                .filter(|id| !id.is_any())
                .map(engine_identity),
        })
    };
    let proposals = conn
        .proposals
        .iter()
        .map(|p| ep::Proposal::from_registry(p, ep::protocol::IKE))
        .collect();
    let first_local = local_addrs.first().copied();
    let first_remote = remote_addrs.first().copied();
    let mut children = Vec::new();
    for child in &conn.children {
        let mode = match child.mode {
            iked_conf::Mode::Tunnel => ec::Mode::Tunnel,
            iked_conf::Mode::Transport => ec::Mode::Transport,
            other => {
                return Err(format!(
                    "child '{}' of '{}': mode {other} is not supported yet",
                    child.name, conn.name
                ));
            }
        };
        children.push(Arc::new(ec::ChildConfig {
            name: child.name.clone(),
            local_ts: child
                .local_ts
                .iter()
                .filter_map(|ts| engine_ts(ts, first_local))
                .collect(),
            remote_ts: child
                .remote_ts
                .iter()
                .filter_map(|ts| engine_ts(ts, first_remote))
                .collect(),
            esp_proposals: child
                .esp_proposals
                .iter()
                .map(|p| ep::Proposal::from_registry(p, ep::protocol::ESP))
                .collect(),
            mode,
            hw_offload: match child.hw_offload {
                iked_conf::HwOffload::No => ec::HwOffload::No,
                iked_conf::HwOffload::Crypto => ec::HwOffload::Crypto,
                iked_conf::HwOffload::Packet => ec::HwOffload::Packet,
                iked_conf::HwOffload::Auto => ec::HwOffload::Auto,
            },
            policies_fwd_out: child.policies_fwd_out,
            lifetimes: ec::ChildLifetimes {
                rekey_time: child.lifetime.rekey_time,
                life_time: child.lifetime.life_time,
                rand_time: child.lifetime.rand_time,
                rekey_bytes: child.lifetime.rekey_bytes,
                life_bytes: child.lifetime.life_bytes,
                rekey_packets: child.lifetime.rekey_packets,
                life_packets: child.lifetime.life_packets,
            },
        }));
    }
    Ok(ec::IkeConfig {
        name: conn.name.clone(),
        local_addrs,
        remote_addrs,
        local: auth(&conn.local, "local")?,
        remote: auth(&conn.remote, "remote")?,
        proposals,
        children,
        rekey_time: conn.rekey_time,
        over_time: conn.over_time,
        rand_time: conn.rand_time,
        dpd_delay: conn.dpd_delay,
        mobike: conn.mobike,
        encap: conn.encap,
        fragmentation: match conn.fragmentation {
            iked_conf::Fragmentation::Yes | iked_conf::Fragmentation::Force => {
                iked_ike::config::Fragmentation::Yes
            }
            iked_conf::Fragmentation::Accept => iked_ike::config::Fragmentation::Accept,
            iked_conf::Fragmentation::No => iked_ike::config::Fragmentation::No,
        },
    })
}

/// An identity as the engine types it.
pub fn engine_identity(id: &iked_conf::identity::Identity) -> ec::Identity {
    use iked_conf::identity::Identity as C;
    match id {
        C::Ipv4(a) => ec::Identity::from_addr(IpAddr::V4(*a)),
        C::Ipv6(a) => ec::Identity::from_addr(IpAddr::V6(*a)),
        C::Fqdn(name) => ec::Identity {
            kind: ec::Identity::FQDN,
            data: name.as_bytes().to_vec(),
        },
        C::Email(name) => ec::Identity {
            kind: ec::Identity::RFC822_ADDR,
            data: name.as_bytes().to_vec(),
        },
        C::KeyId(data) => ec::Identity {
            kind: ec::Identity::KEY_ID,
            data: data.clone(),
        },
        C::Raw { id_type, data } => ec::Identity {
            kind: *id_type,
            data: data.clone(),
        },
        // DNs, subnets and ranges: the engine compares by type and bytes; the textual form
        // keeps them distinct until the engine grows these types.
        other => ec::Identity::from_text(&other.to_string()),
    }
}

/// A swanctl selector for the engine; `dynamic` becomes the host address of that side (and
/// is dropped when the side has no fixed address: the engine narrows to the peer's proposal).
fn engine_ts(
    ts: &iked_conf::addr::TrafficSelector,
    side_addr: Option<IpAddr>,
) -> Option<iked_ike::ts::TrafficSelector> {
    let mut out = match &ts.addr {
        TsAddr::Dynamic => iked_ike::ts::TrafficSelector::host(side_addr?),
        TsAddr::Subnet(net) => iked_ike::ts::TrafficSelector::subnet(net.addr(), net.prefix_len()),
        TsAddr::Range(a, b) => {
            let mut t = iked_ike::ts::TrafficSelector::host(*a);
            t.end = *b;
            t
        }
    };
    out.protocol = ts.protocol;
    (out.start_port, out.end_port) = match ts.ports {
        Ports::Any => (0, 65535),
        Ports::Opaque => (65535, 0),
        Ports::Range(a, b) => (a, b),
    };
    Some(out)
}

/// IKE pre-shared keys for the engine.
pub fn engine_secrets(secrets: &iked_conf::Secrets) -> Vec<ec::IkeSecret> {
    secrets
        .ike()
        .map(|s| {
            ec::IkeSecret::new(
                s.ids.iter().map(engine_identity).collect(),
                s.secret.expose().to_vec(),
            )
        })
        .collect()
}

/// Quotes a value for swanctl.conf text: always double-quoted, with `"` and `\` escaped, so
/// no value can open a section or start a comment.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '%'))
}

/// Renders a VICI `load-conn` message (`{ <name> = { ... } }`) as swanctl.conf text under a
/// `connections` section. Lists become comma-separated values, as swanctl.conf writes them.
pub fn vici_conn_to_text(message: &Message) -> Result<String, String> {
    let mut out = String::from("connections {\n");
    let mut count = 0;
    for (name, item) in message.entries() {
        let Item::Section(section) = item else {
            return Err(format!(
                "unexpected key '{name}' outside a connection section"
            ));
        };
        count += 1;
        write_section(&mut out, name, section, 1)?;
    }
    if count == 0 {
        return Err("no connection section in load-conn request".into());
    }
    out.push_str("}\n");
    Ok(out)
}

fn write_section(
    out: &mut String,
    name: &str,
    section: &Message,
    depth: usize,
) -> Result<(), String> {
    if !valid_name(name) {
        return Err(format!("invalid section name '{name}'"));
    }
    let indent = "  ".repeat(depth);
    let _ = writeln!(out, "{indent}{name} {{");
    for (key, item) in section.entries() {
        match item {
            Item::Section(sub) => write_section(out, key, sub, depth + 1)?,
            Item::Value(_) | Item::List(_) if !valid_name(key) => {
                return Err(format!("invalid key '{key}'"));
            }
            Item::Value(v) => {
                let v =
                    std::str::from_utf8(v).map_err(|_| format!("value of '{key}' is not UTF-8"))?;
                let _ = writeln!(out, "{indent}  {key} = {}", quote(v));
            }
            Item::List(items) => {
                let mut parts = Vec::new();
                for v in items {
                    // swanctl sends `certs`/`cacerts`/`pubkeys` as the files' contents; DER
                    // ones travel on as PEM text, which `creds` reads like the PEM files.
                    let pem;
                    let v = match pem_label(key) {
                        Some(label) if std::str::from_utf8(v).is_err() => {
                            pem = der_to_pem(label, v);
                            pem.as_str()
                        }
                        _ => std::str::from_utf8(v)
                            .map_err(|_| format!("item of '{key}' is not UTF-8"))?,
                    };
                    parts.push(quote(v));
                }
                let _ = writeln!(out, "{indent}  {key} = {}", parts.join(", "));
            }
        }
    }
    let _ = writeln!(out, "{indent}}}");
    Ok(())
}

/// The PEM label of DER credentials a `load-conn` list key carries inline.
fn pem_label(key: &str) -> Option<&'static str> {
    match key {
        "certs" | "cacerts" => Some("CERTIFICATE"),
        "pubkeys" => Some("PUBLIC KEY"),
        _ => None,
    }
}

fn der_to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// charon's `list-conn` event for one connection.
pub fn list_conn_message(conn: &iked_conf::Connection) -> Message {
    let addrs = |a: &[AddrSpec]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
    let mut body = Message::new()
        .list("local_addrs", addrs(&conn.local_addrs))
        .list("remote_addrs", addrs(&conn.remote_addrs))
        .kv("version", "IKEv2")
        .kv("reauth_time", conn.reauth_time.as_secs().to_string())
        .kv("rekey_time", conn.rekey_time.as_secs().to_string())
        .kv(
            "unique",
            match conn.unique {
                iked_conf::UniquePolicy::Never => "UNIQUE_NEVER",
                iked_conf::UniquePolicy::No => "UNIQUE_NO",
                iked_conf::UniquePolicy::Keep => "UNIQUE_KEEP",
                iked_conf::UniquePolicy::Replace => "UNIQUE_REPLACE",
            },
        )
        .kv("dpd_delay", conn.dpd_delay.as_secs().to_string());
    for (prefix, rounds) in [("local", &conn.local), ("remote", &conn.remote)] {
        for (i, round) in rounds.iter().enumerate() {
            let class = match &round.auth {
                iked_conf::AuthMethod::Psk => "pre-shared key".to_owned(),
                iked_conf::AuthMethod::Pubkey { .. } => "public key".to_owned(),
                iked_conf::AuthMethod::Eap { .. } => "EAP".to_owned(),
                iked_conf::AuthMethod::Xauth { .. } => "XAuth".to_owned(),
            };
            let mut auth = Message::new().kv("class", class);
            if let Some(id) = &round.id {
                auth = auth.kv("id", id.to_string());
            }
            if !round.certs.is_empty() {
                auth = auth.list("certs", &round.certs);
            }
            if !round.cacerts.is_empty() {
                auth = auth.list("cacerts", &round.cacerts);
            }
            body = body.section(format!("{prefix}-{}", i + 1), auth);
        }
    }
    let mut children = Message::new();
    for child in &conn.children {
        let c = Message::new()
            .kv("mode", child.mode.to_string().to_ascii_uppercase())
            .kv(
                "rekey_time",
                child.lifetime.rekey_time.as_secs().to_string(),
            )
            .kv("rekey_bytes", child.lifetime.rekey_bytes.to_string())
            .kv("rekey_packets", child.lifetime.rekey_packets.to_string())
            .kv("dpd_action", action_name(child.dpd_action))
            .kv("close_action", action_name(child.close_action))
            .kv("start_action", action_name(child.start_action))
            .kv("hw_offload", child.hw_offload.to_string())
            .list(
                "local-ts",
                child
                    .local_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .list(
                "remote-ts",
                child
                    .remote_ts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            );
        children = children.section(child.name.clone(), c);
    }
    body = body.section("children", children);
    Message::new().section(conn.name.clone(), body)
}

fn action_name(action: iked_conf::Action) -> &'static str {
    match (action.trap, action.start) {
        (false, false) => "clear",
        (true, false) => "trap",
        (false, true) => "start",
        (true, true) => "trap|start",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's BFL side (NVIDIA BlueField IPsec guide, swanctl.conf example).
    pub(crate) const SEED: &str = r#"
connections {
  BFL-BFR {
    local_addrs = 192.168.50.1
    remote_addrs = 192.168.50.2
    local {
      auth = psk
      id = host1
    }
    remote {
      auth = psk
      id = host2
    }
    children {
      bf-out {
        local_ts = 192.168.50.1/24 [udp]
        remote_ts = 192.168.50.2/24 [udp/4789]
        esp_proposals = aes128gcm128-x25519-esn
        mode = transport
        policies_fwd_out = yes
        hw_offload = packet
      }
    }
    version = 2
    mobike = no
    reauth_time = 0
    proposals = aes128-sha256-x25519
  }
}
secrets {
  ike-BF {
    id-host1 = host1
    id-host2 = host2
    secret = 0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL
  }
}
"#;

    #[test]
    fn seed_converts_for_the_engine() {
        let loaded = iked_conf::load_str("seed", SEED).unwrap();
        let conn = engine_connection(&loaded.config.connections[0]).unwrap();
        assert_eq!(conn.name, "BFL-BFR");
        assert_eq!(
            conn.local_addrs,
            vec!["192.168.50.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(conn.local.id, Some(ec::Identity::from_text("host1")));
        // aes128-sha256-x25519 as the engine parses it itself.
        let expected = ep::Proposal::parse(ep::protocol::IKE, "aes128-sha256-x25519").unwrap();
        let mut got = conn.proposals[0].transforms.clone();
        let mut want = expected.transforms.clone();
        got.sort_by_key(|t| (t.kind, t.id));
        want.sort_by_key(|t| (t.kind, t.id));
        assert_eq!(got, want);
        let child = &conn.children[0];
        assert_eq!(child.mode, ec::Mode::Transport);
        assert_eq!(child.hw_offload, ec::HwOffload::Packet);
        assert_eq!(
            child.remote_ts,
            vec![iked_ike::ts::TrafficSelector::parse("192.168.50.0/24[udp/4789]").unwrap()]
        );
        let secrets = engine_secrets(&loaded.config.secrets);
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].ids.len(), 2);
    }

    #[test]
    fn vici_tree_round_trips_through_text() {
        // What stock swanctl sends for the seed connection (values as strings, lists as lists).
        let tree = Message::new().section(
            "BFL-BFR",
            Message::new()
                .list("local_addrs", ["192.168.50.1"])
                .list("remote_addrs", ["192.168.50.2"])
                .kv("version", "2")
                .list("proposals", ["aes128-sha256-x25519"])
                .section("local", Message::new().kv("auth", "psk").kv("id", "host1"))
                .section("remote", Message::new().kv("auth", "psk").kv("id", "host2"))
                .section(
                    "children",
                    Message::new().section(
                        "bf-out",
                        Message::new()
                            .list("local_ts", ["192.168.50.1/24[udp]"])
                            .list("remote_ts", ["192.168.50.2/24[udp/4789]"])
                            .list("esp_proposals", ["aes128gcm128-x25519-esn"])
                            .kv("mode", "transport"),
                    ),
                ),
        );
        let text = vici_conn_to_text(&tree).unwrap();
        let loaded = iked_conf::load_str("vici:load-conn", &text).unwrap();
        let conn = &loaded.config.connections[0];
        assert_eq!(conn.name, "BFL-BFR");
        assert_eq!(conn.children[0].mode, iked_conf::Mode::Transport);
        // And it renders back as a list-conn event swanctl can print.
        let listed = list_conn_message(conn);
        let body = listed.get_section("BFL-BFR").unwrap();
        assert_eq!(body.get_list("remote_addrs"), vec!["192.168.50.2"]);
        assert_eq!(
            body.get_section("children")
                .and_then(|c| c.get_section("bf-out"))
                .and_then(|c| c.get_str("mode")),
            Some("TRANSPORT")
        );
    }

    #[test]
    fn hostile_vici_trees_are_rejected() {
        let injected = Message::new().section("x } secrets {", Message::new());
        assert!(vici_conn_to_text(&injected).is_err());
        let bad_key = Message::new().section("c", Message::new().kv("a = b", "1"));
        assert!(vici_conn_to_text(&bad_key).is_err());
        // Quotes inside values cannot escape the value.
        let quoted = Message::new().section(
            "c",
            Message::new().kv("remote_addrs", "1.2.3.4\" } secrets { x"),
        );
        let text = vici_conn_to_text(&quoted).unwrap();
        assert!(iked_conf::load_str("vici", &text).is_err());
        assert!(vici_conn_to_text(&Message::new()).is_err());
    }
}
