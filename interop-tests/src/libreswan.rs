//! The seed's swanctl.conf translated into Libreswan's `ipsec.conf` and `ipsec.secrets`.
//!
//! Contract: [`translate`] reads one host's (scenario-edited) swanctl.conf and writes the
//! equivalent Libreswan configuration: one `conn` per swanctl child, each carrying the
//! connection's addresses, identities, PSK and IKE proposal (`also=` a shared base section), so
//! the two conns share one IKE SA as the seed's two children do. What is translated, and how:
//!
//! | swanctl.conf | ipsec.conf |
//! |---|---|
//! | `local_addrs` / `remote_addrs` | `left` / `right` |
//! | `local.id` / `remote.id` (`host1`, an FQDN identity) | `leftid=@host1` / `rightid=@host2` |
//! | `auth = psk`, `secrets { secret = 0s... }` | `authby=secret`, `@host1 @host2 : PSK 0s...` |
//! | `auth = pubkey`, `certs = ...` | `authby=rsasig`, `leftcert=`, an NSS database ([`certs`]) |
//! | `proposals = aes128-sha256-x25519` | `ike=aes128-sha2_256-dh31` |
//! | `esp_proposals = aes128gcm128-x25519-esn` | `esp=aes_gcm128-null-dh31`, `pfs=yes`, `esn=yes` |
//! | `mode = transport` | `type=transport` |
//! | `local_ts = A/24 [udp]`, `remote_ts = B/24 [udp/4789]` | `leftprotoport=udp`, `rightprotoport=udp/4789` |
//! | `mobike = no`, `reauth_time = 0` | `mobike=no` (Libreswan never reauthenticates by default) |
//!
//! Libreswan's transport mode is host to host: the `/24` of the seed's selectors cannot be
//! expressed, and strongSwan narrows them to the two hosts' addresses in transport mode anyway,
//! so the kernel selectors are the same. `narrowing=yes` lets Libreswan answer a peer that
//! proposes the seed's wider `/24` selectors. `policies_fwd_out` and `hw_offload` have no
//! Libreswan equivalent here (a veth has no offload; `auto` falls back to software). Anything
//! else the translation does not know is an error naming the setting, never silently dropped.

use std::path::Path;

use crate::LabError;

mod certs;
use crate::swan_conf::SwanctlConf;

/// `key = value` settings of a swanctl.conf with the path of blocks that holds each.
#[derive(Debug, Default)]
struct Settings {
    entries: Vec<(Vec<String>, String, String)>,
}

impl Settings {
    fn parse(text: &str) -> Self {
        let mut path: Vec<String> = Vec::new();
        let mut entries = Vec::new();
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_suffix('{') {
                path.push(name.trim().to_string());
            } else if line == "}" {
                path.pop();
            } else if let Some((k, v)) = line.split_once('=') {
                entries.push((path.clone(), k.trim().to_string(), v.trim().to_string()));
            }
        }
        Self { entries }
    }

    /// The first value of `key` in a block whose path ends with `suffix`.
    fn get(&self, suffix: &[&str], key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(p, k, _)| k == key && p.ends_with_strs(suffix))
            .map(|(_, _, v)| v.as_str())
    }

    /// The children (name and settings) in file order.
    fn children(&self) -> Vec<(String, Vec<(String, String)>)> {
        let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for (p, k, v) in &self.entries {
            let n = p.len();
            if n >= 2 && p[n - 2] == "children" {
                match out.iter_mut().find(|(name, _)| *name == p[n - 1]) {
                    Some((_, kv)) => kv.push((k.clone(), v.clone())),
                    None => out.push((p[n - 1].clone(), vec![(k.clone(), v.clone())])),
                }
            }
        }
        out
    }
}

trait EndsWithStrs {
    fn ends_with_strs(&self, suffix: &[&str]) -> bool;
}

impl EndsWithStrs for Vec<String> {
    fn ends_with_strs(&self, suffix: &[&str]) -> bool {
        self.len() >= suffix.len()
            && self[self.len() - suffix.len()..]
                .iter()
                .zip(suffix)
                .all(|(a, b)| a == b)
    }
}

fn need<'a>(v: Option<&'a str>, what: &str) -> Result<&'a str, LabError> {
    v.ok_or_else(|| LabError::Setup(format!("libreswan translation: swanctl.conf has no {what}")))
}

fn unsupported(what: &str, value: &str) -> LabError {
    LabError::Setup(format!(
        "libreswan translation: no Libreswan equivalent known for {what} = {value}"
    ))
}

fn ike_proposal(p: &str) -> Result<&'static str, LabError> {
    match p {
        "aes128-sha256-x25519" => Ok("aes128-sha2_256-dh31"),
        "aes256-sha256-modp2048" => Ok("aes256-sha2_256-modp2048"),
        _ => Err(unsupported("proposals", p)),
    }
}

/// ESP proposal and whether it asks for ESN.
fn esp_proposal(p: &str) -> Result<(&'static str, bool), LabError> {
    match p {
        "aes128gcm128-x25519-esn" => Ok(("aes_gcm128-null-dh31", true)),
        "aes128gcm128-x25519" => Ok(("aes_gcm128-null-dh31", false)),
        "aes256gcm16-modp2048-esn" => Ok(("aes_gcm256-null-modp2048", true)),
        _ => Err(unsupported("esp_proposals", p)),
    }
}

/// The protocol/port part of a swanctl selector (`192.168.50.1/24 [udp/4789]` -> `udp/4789`).
fn protoport(ts: &str) -> Result<String, LabError> {
    let inner = ts
        .split_once('[')
        .and_then(|(_, r)| r.strip_suffix(']'))
        .ok_or_else(|| unsupported("a traffic selector without [proto/port]", ts))?;
    Ok(inner.trim().to_string())
}

/// A swanctl identity as Libreswan writes it: a bare name is an FQDN (`@name`).
fn identity(id: &str) -> String {
    if id.parse::<std::net::IpAddr>().is_ok() || id.starts_with('@') || id.contains('=') {
        id.to_string()
    } else {
        format!("@{id}")
    }
}

/// `ipsec.conf` and `ipsec.secrets` for one host; `log` is pluto's log file.
pub fn translate(conf: &SwanctlConf, log: &Path) -> Result<(String, String), LabError> {
    let s = Settings::parse(conf.text());
    let left = need(s.get(&[], "local_addrs"), "local_addrs")?;
    let right = need(s.get(&[], "remote_addrs"), "remote_addrs")?;
    let left_id = identity(need(s.get(&["local"], "id"), "local.id")?);
    let right_id = identity(need(s.get(&["remote"], "id"), "remote.id")?);
    let auth = certs::Auth::from_settings(&s)?;
    let ike = ike_proposal(need(s.get(&[], "proposals"), "proposals")?)?;
    if let Some(m) = s.get(&[], "mobike").filter(|m| *m != "no") {
        return Err(unsupported("mobike", m));
    }
    let mut text = format!(
        "# written by the iked lab (interop-tests/src/libreswan.rs) from the seed's swanctl.conf\n\
         config setup\n\
         \tlogfile={log}\n\
         \tlogtime=yes\n\
         \tplutodebug=none\n\n\
         conn seed-base\n\
         \tkeyexchange=ikev2\n\
         \tleft={left}\n\
         \tright={right}\n\
         \tleftid={left_id}\n\
         \trightid={right_id}\n\
         {auth}\
         \tike={ike}\n\
         \tmobike=no\n\
         \tnarrowing=yes\n\
         \ttype=transport\n",
        log = log.display(),
        auth = auth.conn_lines(),
    );
    if right == "%any" {
        // A `right=%any` template has no remote selector until IKE_AUTH instantiates it, so
        // pluto 5.2 finds no conn for the second child's CREATE_CHILD_SA (TS_UNACCEPTABLE,
        // lab run 2026-12-07); a remote subnet gives the other template one to narrow to the
        // peer's host address, what `dynamic` resolves to.
        text.push_str("\trightsubnet=0.0.0.0/0\n");
    }
    let children = s.children();
    if children.is_empty() {
        return Err(LabError::Setup(
            "libreswan translation: swanctl.conf has no children".into(),
        ));
    }
    for (name, kv) in children {
        text.push_str(&format!("\nconn {name}\n\talso=seed-base\n\tauto=add\n"));
        for (k, v) in kv {
            match k.as_str() {
                "local_ts" => text.push_str(&format!("\tleftprotoport={}\n", protoport(&v)?)),
                "remote_ts" => text.push_str(&format!("\trightprotoport={}\n", protoport(&v)?)),
                "esp_proposals" => {
                    let (esp, esn) = esp_proposal(&v)?;
                    text.push_str(&format!(
                        "\tesp={esp}\n\tpfs=yes\n\tesn={}\n",
                        if esn { "yes" } else { "no" }
                    ));
                }
                "mode" if v == "transport" => {}
                // No Libreswan equivalent is needed: see the module docs.
                "policies_fwd_out" | "hw_offload" if v != "packet" => {}
                _ => return Err(unsupported(&k, &v)),
            }
        }
    }
    let mut secrets = "# written by the iked lab (interop-tests/src/libreswan.rs)\n".to_string();
    if auth == certs::Auth::Psk {
        let secret = need(s.get(&[], "secret"), "secrets.secret")?;
        secrets.push_str(&format!("{left_id} {right_id} : PSK {secret}\n"));
    }
    Ok((text, secrets))
}

/// The commands that import one host's certificates into pluto's NSS database under `dir`
/// (see [`certs`]); `None` when the configuration authenticates by PSK.
pub fn nss_script(conf: &SwanctlConf, dir: &Path) -> Result<Option<String>, LabError> {
    let auth = certs::Auth::from_settings(&Settings::parse(conf.text()))?;
    Ok(certs::nss_script(&auth, dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swan_conf::Side;

    #[test]
    fn seed_becomes_two_conns_sharing_one_base() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut conf = SwanctlConf::load(ws, Side::Bfl).unwrap();
        conf.set_all("hw_offload", "auto");
        let (text, secrets) = translate(&conf, Path::new("/d/pluto.log")).unwrap();
        assert!(text.contains("left=192.168.50.1\n"));
        assert!(text.contains("rightid=@host2\n"));
        assert!(text.contains("ike=aes128-sha2_256-dh31\n"));
        assert_eq!(text.matches("also=seed-base").count(), 2);
        assert_eq!(text.matches("esp=aes_gcm128-null-dh31\n").count(), 2);
        assert_eq!(text.matches("esn=yes").count(), 2);
        let out = text.find("conn bf-out").unwrap();
        let tail = &text[out..];
        assert!(tail.contains("leftprotoport=udp\n\trightprotoport=udp/4789\n"));
        assert!(secrets.contains("@host1 @host2 : PSK 0s"));
        assert!(text.contains("logfile=/d/pluto.log"));
    }

    #[test]
    fn any_peer_gets_a_remote_subnet_to_narrow() {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut conf = SwanctlConf::load(ws, Side::Bfr).unwrap();
        conf.set_all("hw_offload", "auto");
        let (text, _) = translate(&conf, Path::new("/l")).unwrap();
        assert!(!text.contains("rightsubnet"));
        conf.set_all("remote_addrs", "%any");
        let (text, _) = translate(&conf, Path::new("/l")).unwrap();
        assert!(text.contains("right=%any\n"));
        assert_eq!(text.matches("rightsubnet=0.0.0.0/0\n").count(), 1);
    }

    #[test]
    fn unknown_settings_are_refused_by_name() {
        let conf = SwanctlConf::from_text(
            "connections {\n c {\n local_addrs = 1.1.1.1\n remote_addrs = 2.2.2.2\n \
             local {\n auth = psk\n id = a\n }\n remote {\n auth = psk\n id = b\n }\n \
             proposals = aes128-sha256-x25519\n children {\n x {\n start_action = trap\n }\n }\n }\n}\n\
             secrets {\n s {\n secret = abc\n }\n}\n",
        );
        let e = translate(&conf, Path::new("/l")).unwrap_err().to_string();
        assert!(e.contains("start_action = trap"), "{e}");
        let packet = SwanctlConf::from_text(
            "connections {\n c {\n local_addrs = 1.1.1.1\n remote_addrs = 2.2.2.2\n \
             local {\n auth = psk\n id = a\n }\n remote {\n auth = psk\n id = b\n }\n \
             proposals = aes128-sha256-x25519\n children {\n x {\n hw_offload = packet\n }\n }\n }\n}\n\
             secrets {\n s {\n secret = abc\n }\n}\n",
        );
        assert!(translate(&packet, Path::new("/l")).is_err());
    }
}
