//! Configuration plumbing between `iked_conf` (swanctl.conf model), the engine's
//! configuration types and VICI.
//!
//! Contract:
//! - [`engine_connection`] translates a validated swanctl connection into the engine's types
//!   through `iked_ike::from_conf` (the one conversion, also used for secrets and identities
//!   by the daemon core); what the engine cannot do is an error string naming the connection
//!   and the setting.
//! - [`vici_conn_to_text`] turns a VICI `load-conn` tree (as the stock `swanctl` sends it) back
//!   into swanctl.conf text, so VICI-loaded connections go through the very same parser and
//!   validation as file-loaded ones (locations then read `vici:load-conn:line:col`).
//! - [`list_conn_message`] renders a connection as charon's `list-conn` event.

use std::fmt::Write as _;

use iked_conf::addr::AddrSpec;
use iked_ike::config as ec;

use crate::vici::{Item, Message};

/// Converts one swanctl connection for the engine ([`iked_ike::from_conf::connection`]); the
/// error text names the connection and the setting, as `ikectl load-all` prints it.
pub fn engine_connection(conn: &iked_conf::Connection) -> Result<ec::IkeConfig, String> {
    iked_ike::from_conf::connection(conn).map_err(|e| e.to_string())
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

/// charon's `list-conn` event for one connection, without its credentials read.
pub fn list_conn_message(conn: &iked_conf::Connection) -> Message {
    list_conn_message_with_creds(conn, None)
}

/// charon's `list-conn` event for one connection. `engine` is the connection as the engine
/// has it, with the certificate files read: charon lists a round's `certs`/`cacerts` by the
/// certificates' subject DNs, not by file name (scripts match on them).
pub fn list_conn_message_with_creds(
    conn: &iked_conf::Connection,
    engine: Option<&ec::IkeConfig>,
) -> Message {
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
            // The engine authenticates the first round of each side only (further rounds
            // are refused at load).
            let side = engine.filter(|_| i == 0).map(|e| {
                if prefix == "local" {
                    &e.local
                } else {
                    &e.remote
                }
            });
            let (certs, cacerts) = match side.map(|a| &a.method) {
                Some(ec::AuthMethod::Pubkey(p)) => (
                    p.certs.iter().map(|c| c.subject().to_owned()).collect(),
                    p.cacerts.iter().map(|c| c.subject().to_owned()).collect(),
                ),
                _ => (Vec::new(), Vec::new()),
            };
            // charon always sends these lists, empty or not.
            let groups: Vec<String> = round.groups.iter().map(ToString::to_string).collect();
            auth = auth
                .list("groups", groups)
                .list("cert_policy", Vec::<String>::new())
                .list("certs", certs)
                .list("cacerts", cacerts);
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
        // charon 5.9.8's action_names: "none", not the older "clear".
        (false, false) => "none",
        (true, false) => "trap",
        (false, true) => "start",
        (true, true) => "trap|start",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's BFL side (NVIDIA BlueField IPsec guide, swanctl.conf example).
    const SEED: &str = include_str!("../../../examples/BFL.swanctl.conf");

    /// The conversion itself is tested in `iked_ike::from_conf`; here that the daemon's entry
    /// point runs it and keeps the location in the text `ikectl load-all` shows.
    #[test]
    fn engine_connection_converts_and_locates_errors() {
        let loaded = iked_conf::load_str("seed", SEED).unwrap();
        let conn = engine_connection(&loaded.config.connections[0]).unwrap();
        assert_eq!(conn.name, "BFL-BFR");
        assert_eq!(conn.children[0].mode, ec::Mode::Transport);
        assert_eq!(conn.local.id, Some(ec::Identity::from_text("host1")));

        // DNS names are the daemon's to resolve (`core/names.rs`).
        let named = SEED.replace("remote_addrs = 192.168.50.2", "remote_addrs = bfr.example");
        let loaded = iked_conf::load_str("seed", &named).unwrap();
        let conn = engine_connection(&loaded.config.connections[0]).unwrap();
        assert_eq!(conn.remote_names, vec!["bfr.example".to_string()]);

        // Only algorithms iked does not implement: no proposal is left to run.
        let unrunnable = SEED.replace(
            "proposals = aes128-sha256-x25519",
            "proposals = serpent256-sha256-modp2048",
        );
        let loaded = iked_conf::load_str("seed", &unrunnable).unwrap_or_else(|e| panic!("{e:?}"));
        let e = engine_connection(&loaded.config.connections[0]).unwrap_err();
        assert!(e.starts_with("connection 'BFL-BFR': proposals: "), "{e}");
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
    fn vici_load_conn_takes_the_ovs_monitor_shape() {
        // What stock swanctl sends for NVIDIA's OVS monitor file: `hw_offload = full` and
        // `local_addrs = 0.0.0.0/0` load, `full` as packet offload with a notice.
        let tree = Message::new().section(
            "vxlanp0-1",
            Message::new()
                .list("local_addrs", ["0.0.0.0/0"])
                .list("remote_addrs", ["192.168.1.2"])
                .kv("unique", "replace")
                .section(
                    "local",
                    Message::new().kv("auth", "psk").kv("id", "192.168.1.1"),
                )
                .section(
                    "remote",
                    Message::new().kv("auth", "psk").kv("id", "192.168.1.2"),
                )
                .section(
                    "children",
                    Message::new().section(
                        "vxlanp0-in-1",
                        Message::new()
                            .list("local_ts", ["192.168.1.1/32[udp/4789]"])
                            .list("remote_ts", ["192.168.1.2/32[udp]"])
                            .list("esp_proposals", ["aes256gcm16-modp2048-esn"])
                            .kv("mode", "transport")
                            .kv("start_action", "start")
                            .kv("hw_offload", "full"),
                    ),
                ),
        );
        let text = vici_conn_to_text(&tree).unwrap();
        let loaded = iked_conf::load_str("vici:load-conn", &text).unwrap();
        let conn = &loaded.config.connections[0];
        assert_eq!(conn.children[0].hw_offload, iked_conf::HwOffload::Packet);
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.to_string().contains("hw_offload = full")),
            "{:?}",
            loaded.warnings
        );
        engine_connection(conn).unwrap();
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
