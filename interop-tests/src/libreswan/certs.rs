//! Certificate authentication in the Libreswan translation: `ipsec.conf` lines and the NSS
//! database pluto reads its credentials from.
//!
//! Contract: [`Auth::from_settings`] reads the `local`/`remote` rounds of a (scenario-edited)
//! swanctl.conf; PSK stays `authby=secret`, `auth = pubkey` becomes what an operator writes
//! for Libreswan with the same files:
//!
//! | swanctl.conf | ipsec.conf / NSS database |
//! |---|---|
//! | `local { auth = pubkey, certs = host1-cert.pem }` + `private/host1-privkey.pem` | `authby=rsasig`, `leftcert=host1`, `leftsendcert=always`; cert and key imported with `pk12util` (nickname `host1`) |
//! | `x509ca/cacert.pem` (CA rows) | `certutil -A -t CT,,` (a trust anchor for peer certificates) |
//! | `remote { certs = host2-cert.pem }` (the pinned self-signed peer) | `certutil -A -t ,,` (nickname `host2`, no trust) and `rightcert=host2`: pluto takes the peer's public key from it |
//! | the CA rows' peer | `rightca=%same` (the CA that issued `leftcert`), so pluto sends CERTREQ and the peer its certificate |
//! | `id = "CN=host1"` / `id = host1` | `leftid="CN=host1"` (a DN) / `leftid=@host1` (an FQDN, matched against the subjectAltName) |
//!
//! Pinning by `rightcert=` is what Libreswan needs for a self-signed peer: it discards a root
//! (self-signed) certificate received in a CERT payload (`nss_cert_verify.c`, "ignoring root
//! certificate"), so such a peer can only be authenticated by a public key loaded beforehand.
//! [`nss_script`] writes the import commands; they run chrooted in the trixie root (its
//! `openssl`, `pk12util`, `certutil` from `libnss3-tools`) after the empty database is made.
//! Only `auth = psk` and `auth = pubkey` with `certs` are known; anything else is refused by
//! name.

use std::path::Path;

use super::{Settings, need, unsupported};
use crate::LabError;
use crate::peer_root::quote;

/// How the two ends authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Psk,
    /// Our certificate's nickname and, for a pinned peer, the peer certificate's.
    Certs {
        local: String,
        pinned_peer: Option<String>,
    },
}

/// `host1-cert.pem` -> `host1`: the NSS nickname of a certificate file.
fn nickname(file: &str) -> String {
    let stem = file.rsplit('/').next().unwrap_or(file);
    let stem = stem.strip_suffix(".pem").unwrap_or(stem);
    stem.strip_suffix("-cert").unwrap_or(stem).to_string()
}

impl Auth {
    pub(super) fn from_settings(s: &Settings) -> Result<Self, LabError> {
        let local = need(s.get(&["local"], "auth"), "local.auth")?;
        let remote = need(s.get(&["remote"], "auth"), "remote.auth")?;
        match (local, remote) {
            ("psk", "psk") => Ok(Auth::Psk),
            ("pubkey", "pubkey") => {
                let cert = need(s.get(&["local"], "certs"), "local.certs")?;
                Ok(Auth::Certs {
                    local: nickname(cert),
                    pinned_peer: s.get(&["remote"], "certs").map(nickname),
                })
            }
            (l, r) if l != r => Err(unsupported("auth (local, remote)", &format!("{l}, {r}"))),
            (l, _) => Err(unsupported("auth", l)),
        }
    }

    /// The authentication lines of the shared base conn.
    pub(super) fn conn_lines(&self) -> String {
        match self {
            Auth::Psk => "\tauthby=secret\n".into(),
            Auth::Certs { local, pinned_peer } => {
                let mut t = format!("\tauthby=rsasig\n\tleftcert={local}\n\tleftsendcert=always\n");
                match pinned_peer {
                    Some(peer) => t.push_str(&format!("\trightcert={peer}\n")),
                    // pluto sends CERTREQ in its IKE_AUTH request only when it knows the
                    // peer's CA (`need_v2CERTREQ_in_IKE_AUTH_request`); without one, a
                    // responder with charon's `send_cert = ifasked` (iked too) sends no
                    // certificate and pluto fails with "no certificate matched".
                    None => t.push_str("\trightca=%same\n"),
                }
                t
            }
        }
    }
}

/// The shell commands that fill the NSS database `nss` under `dir` (already created, empty
/// password) with the credentials [`crate::certs::provision`] put beside the swanctl.conf;
/// `None` for PSK.
pub fn nss_script(auth: &Auth, dir: &Path) -> Option<String> {
    let Auth::Certs { local, pinned_peer } = auth else {
        return None;
    };
    let d = |p: &str| quote(&dir.join(p).display().to_string());
    let db = format!("sql:{}", d("nss").trim_matches('\''));
    let db = quote(&db);
    let p12 = d(&format!("nss/{local}.p12"));
    // A throwaway transport password for the PKCS#12 file, deleted right after the import.
    let mut s = format!(
        "set -e\n\
         openssl pkcs12 -export -in {cert} -inkey {key} -name {local} -passout pass:lab -out {p12}\n\
         pk12util -i {p12} -d {db} -W lab\n\
         rm -f {p12}\n",
        cert = d(&format!("x509/{local}-cert.pem")),
        key = d(&format!("private/{local}-privkey.pem")),
    );
    if dir.join("x509ca").join("cacert.pem").is_file() {
        s.push_str(&format!(
            "certutil -A -d {db} -n lab-ca -t CT,, -a -i {}\n",
            d("x509ca/cacert.pem")
        ));
    }
    if let Some(peer) = pinned_peer {
        s.push_str(&format!(
            "certutil -A -d {db} -n {peer} -t ,, -a -i {}\n",
            d(&format!("x509/{peer}-cert.pem"))
        ));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::{CertCase, edit_config};
    use crate::swan_conf::{Side, SwanctlConf};

    fn conf(case: CertCase, side: Side) -> SwanctlConf {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        edit_config(&SwanctlConf::load(ws, side).unwrap(), case, side).unwrap()
    }

    #[test]
    fn self_signed_pins_the_peer_certificate_by_nickname() {
        let c = conf(CertCase::SelfSigned, Side::Bfl);
        let auth = Auth::from_settings(&Settings::parse(c.text())).unwrap();
        assert_eq!(
            auth,
            Auth::Certs {
                local: "host1".into(),
                pinned_peer: Some("host2".into())
            }
        );
        let lines = auth.conn_lines();
        assert!(lines.contains("authby=rsasig\n\tleftcert=host1\n"));
        assert!(lines.contains("rightcert=host2\n") && !lines.contains("rightca"));
        let s = nss_script(&auth, Path::new("/d/bfl")).unwrap();
        assert!(s.contains("-name host1 -passout pass:lab -out '/d/bfl/nss/host1.p12'"));
        assert!(s.contains("pk12util -i '/d/bfl/nss/host1.p12' -d 'sql:/d/bfl/nss' -W lab\n"));
        assert!(s.contains(
            "certutil -A -d 'sql:/d/bfl/nss' -n host2 -t ,, -a -i '/d/bfl/x509/host2-cert.pem'"
        ));
    }

    #[test]
    fn ca_signed_names_no_peer_certificate_and_psk_needs_no_database() {
        let c = conf(CertCase::CaSigned, Side::Bfr);
        let auth = Auth::from_settings(&Settings::parse(c.text())).unwrap();
        assert!(!auth.conn_lines().contains("rightcert"));
        assert!(auth.conn_lines().contains("rightca=%same\n"));
        assert!(auth.conn_lines().contains("leftcert=host2\n"));
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let psk = SwanctlConf::load(ws, Side::Bfl).unwrap();
        let auth = Auth::from_settings(&Settings::parse(psk.text())).unwrap();
        assert_eq!(auth, Auth::Psk);
        assert_eq!(auth.conn_lines(), "\tauthby=secret\n");
        assert!(nss_script(&auth, Path::new("/d")).is_none());
    }
}
