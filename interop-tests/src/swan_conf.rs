//! Per-host configuration files: the seed's swanctl.conf with scenario edits, and the
//! strongswan.conf that gives each charon its own vici socket and log file.
//!
//! Contract: the base swanctl.conf files are the seed's BFL/BFR examples, read from
//! `examples/{BFL,BFR}.swanctl.conf` when the conf engineer's copies exist, else from this
//! crate's `configs/`. Edits are line based on `key = value` lines (the swanctl.conf syntax the
//! seed uses: one setting per line), which keeps the rest of the operator's file byte-for-byte.

use std::path::{Path, PathBuf};

use crate::LabError;

/// Which end of the seed's tunnel a host plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Side {
    /// Left BlueField, 192.168.50.1, `BFL-BFR`.
    Bfl,
    /// Right BlueField, 192.168.50.2, `BFR-BFL` (our mirror of the seed's left file).
    Bfr,
}

impl Side {
    /// Both sides, BFL first.
    pub const BOTH: [Side; 2] = [Side::Bfl, Side::Bfr];

    /// Short name used for namespaces and directories.
    pub fn name(self) -> &'static str {
        match self {
            Side::Bfl => "bfl",
            Side::Bfr => "bfr",
        }
    }
    /// The host's address on the seed's 192.168.50.0/24 uplink.
    pub fn addr(self) -> &'static str {
        match self {
            Side::Bfl => "192.168.50.1",
            Side::Bfr => "192.168.50.2",
        }
    }
    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::Bfl => Side::Bfr,
            Side::Bfr => Side::Bfl,
        }
    }
    fn file_stem(self) -> &'static str {
        match self {
            Side::Bfl => "BFL",
            Side::Bfr => "BFR",
        }
    }
}

/// Where the base swanctl.conf for `side` comes from: `examples/` first, then `configs/`.
pub fn base_config_path(workspace: &Path, side: Side) -> PathBuf {
    let name = format!("{}.swanctl.conf", side.file_stem());
    let example = workspace.join("examples").join(&name);
    if example.is_file() {
        example
    } else {
        workspace.join("interop-tests").join("configs").join(name)
    }
}

/// A swanctl.conf text with line-based edits.
#[derive(Debug, Clone)]
pub struct SwanctlConf {
    text: String,
}

impl SwanctlConf {
    /// Reads the base file for `side`.
    pub fn load(workspace: &Path, side: Side) -> Result<Self, LabError> {
        let path = base_config_path(workspace, side);
        let text = std::fs::read_to_string(&path).map_err(|e| LabError::io(&path, e))?;
        Ok(Self { text })
    }

    /// Wraps a text (tests, or callers with their own file).
    pub fn from_text(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }

    /// The current text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Sets every existing `key = ...` line to `key = value`. Returns how many lines changed.
    pub fn set_all(&mut self, key: &str, value: &str) -> usize {
        let mut changed = 0;
        let mut out = String::with_capacity(self.text.len());
        for line in self.text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let is_key = trimmed
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            if is_key {
                let indent = &line[..line.len() - trimmed.len()];
                out.push_str(&format!("{indent}{key} = {value}\n"));
                changed += 1;
            } else {
                out.push_str(line);
            }
        }
        self.text = out;
        changed
    }

    /// Adds `key = value` to every child (after each child's `mode = ...` line). Returns how many
    /// children got it.
    pub fn add_to_children(&mut self, key: &str, value: &str) -> usize {
        let mut added = 0;
        let mut out = String::with_capacity(self.text.len() + 64);
        for line in self.text.split_inclusive('\n') {
            out.push_str(line);
            let trimmed = line.trim_start();
            if trimmed.starts_with("mode") && trimmed.contains('=') {
                let indent = &line[..line.len() - trimmed.len()];
                if !line.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!("{indent}{key} = {value}\n"));
                added += 1;
            }
        }
        self.text = out;
        added
    }

    /// Name of the first connection (`connections { NAME { ...`), used for `--ike NAME`.
    pub fn connection_name(&self) -> Option<String> {
        let mut in_connections = false;
        for line in self.text.lines() {
            let t = line.split('#').next().unwrap_or("").trim();
            if in_connections {
                if let Some(name) = t.strip_suffix('{') {
                    let name = name.trim();
                    if !name.is_empty() {
                        return Some(name.to_string());
                    }
                }
            } else if t.starts_with("connections") && t.ends_with('{') {
                in_connections = true;
            }
        }
        None
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) -> Result<(), LabError> {
        std::fs::write(path, &self.text).map_err(|e| LabError::io(path, e))
    }
}

/// strongswan.conf for one charon: only the plugins the seed needs (a short list starts much
/// faster under TCG than Debian's modular set, and keeps `test-vectors` out; `pkcs8` and
/// `constraints` for the certificate rows: `ovs-pki` and `openssl` write PKCS#8 keys), its own vici socket
/// and a file log with IKE/CFG/KNL at level 2 (the log lines the scenarios grep for).
pub fn strongswan_conf(vici_socket: &Path, charon_log: &Path) -> String {
    format!(
        r#"# written by the iked lab (interop-tests/src/swan_conf.rs)
charon {{
    load = random nonce aes sha1 sha2 hmac curve25519 kdf pem pkcs1 pkcs8 x509 pubkey constraints gmp kernel-netlink socket-default vici
    install_routes = no
    # fail fast when the peer is silent: TCG is slow, but the veth never drops
    retransmit_tries = 3
    retransmit_timeout = 2.0
    filelog {{
        lab {{
            path = {log}
            time_format = %T
            default = 1
            ike = 2
            cfg = 2
            knl = 2
            flush_line = yes
        }}
    }}
    plugins {{
        vici {{
            socket = unix://{sock}
        }}
    }}
}}
swanctl {{
    load = random sha1 sha2 pem pkcs1 pkcs8 x509 pubkey gmp
}}
"#,
        log = charon_log.display(),
        sock = vici_socket.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNIPPET: &str = "children {\n    bf-out {\n        mode = transport\n        hw_offload = packet\n    }\n    bf-in {\n        esp_proposals = x\n        mode = transport\n        hw_offload=packet\n    }\n}\nsecret = abc\n";

    #[test]
    fn set_all_rewrites_every_occurrence_only() {
        let mut c = SwanctlConf::from_text(SNIPPET);
        assert_eq!(c.set_all("hw_offload", "auto"), 2);
        assert_eq!(c.text().matches("hw_offload = auto").count(), 2);
        assert!(!c.text().contains("packet"));
        assert!(c.text().contains("secret = abc"));
        // a key that is a prefix of another does not match it
        assert_eq!(c.set_all("hw", "no"), 0);
    }

    #[test]
    fn add_to_children_follows_each_mode_line() {
        let mut c = SwanctlConf::from_text(SNIPPET);
        assert_eq!(c.add_to_children("rekey_packets", "1000"), 2);
        let lines: Vec<&str> = c.text().lines().collect();
        let i = lines
            .iter()
            .position(|l| l.contains("rekey_packets"))
            .unwrap();
        assert_eq!(lines[i - 1].trim(), "mode = transport");
        assert_eq!(lines[i], "        rekey_packets = 1000");
    }

    #[test]
    fn bundled_configs_match_the_seed() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for side in Side::BOTH {
            let c = SwanctlConf::load(ws, side).unwrap();
            let t = c.text();
            assert!(
                t.contains(&format!("local_addrs = {}", side.addr())),
                "{side:?}"
            );
            assert!(t.contains(&format!("remote_addrs = {}", side.peer().addr())));
            assert!(t.contains("esp_proposals = aes128gcm128-x25519-esn"));
            assert!(t.contains("proposals = aes128-sha256-x25519"));
            assert!(t.contains("[udp/4789]"));
            assert!(
                c.connection_name().is_some_and(|n| n.contains("BF")),
                "{side:?}"
            );
        }
    }

    #[test]
    fn connection_name_is_the_first_entry_under_connections() {
        let c = SwanctlConf::from_text("# x\nconnections {\n   BFL-BFR { # c\n  local {\n");
        assert_eq!(c.connection_name().as_deref(), Some("BFL-BFR"));
        assert_eq!(
            SwanctlConf::from_text("secrets {\n a {\n").connection_name(),
            None
        );
    }

    #[test]
    fn strongswan_conf_names_socket_and_log() {
        let s = strongswan_conf(Path::new("/x/charon.vici"), Path::new("/x/charon.log"));
        assert!(s.contains("socket = unix:///x/charon.vici"));
        assert!(s.contains("path = /x/charon.log"));
        assert!(s.contains("kernel-netlink"));
    }
}
