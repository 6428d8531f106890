//! Certificates for the certificate-authentication scenarios (issue 8), made at lab run time.
//!
//! Contract:
//! - [`Pki::ensure`] creates, once per run under `<out>/pki`, what the seed's OVS section has
//!   operators make: a self-signed certificate per host (`openssl req -x509`, RSA 2048, as the
//!   guide's "Using Self-signed Certificate") and a CA with host certificates signed by it
//!   (`ovs-pki init` / `req` / `sign host switch` when Debian's `openvswitch-pki` is installed,
//!   else `openssl` with the same key type, subject layout and extensions). For the negative rows
//!   it adds a host1 certificate that expired, one from another CA, and one whose CN is not host1.
//!   Generation is slow under TCG (RSA key generation), hence once per run; a finished PKI has a
//!   `done` marker, an unfinished one is made again.
//! - [`provision`] copies one host's files into the swanctl directories beside its swanctl.conf
//!   (`x509/`, `x509ca/`, `private/`), where both charon's `swanctl --load-all` (with
//!   `SWANCTL_DIR`) and iked (relative to `--config`) load them.
//! - [`edit_config`] turns the seed's PSK configuration into the OVS certificate one:
//!   `auth = pubkey`, `local.certs`, and identities by CN as OVS configures them. Self-signed
//!   certificates (subject `CN=host1`) use the DN `CN=host1` and pin the peer's certificate as
//!   `remote.certs` (OVS's `remote_cert`). CA-signed ones carry `ovs-pki`'s full subject
//!   (`C=US, ST=CA, O=Open vSwitch, OU=Open vSwitch certifier, CN=host1`), which a DN `CN=host1`
//!   does not match in strongSwan (it compares every RDN); OVS's `remote_name = host1` works
//!   because `ovs-pki` also writes the CN as subjectAltName `DNS:host1`, so those rows use the
//!   name `host1`, matched against the subjectAltName.
//!
//! In the negative rows the faulty credential belongs to the initiator and the responder is the
//! verifying side; every fault must end in AUTHENTICATION_FAILED with nothing installed.

use std::path::{Path, PathBuf};

use crate::LabError;
use crate::netlab::{args, run_ok};
use crate::swan_conf::{Side, SwanctlConf};

pub use crate::cert_case::{CertCase, host_name};

static NEXT_SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0x1000);

/// Validity of generated certificates, days (the expired one uses explicit past dates).
const VALID_DAYS: &str = "365";

/// The run's PKI directory.
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
    /// Whether `ovs-pki` made the CA (else `openssl`).
    pub ovs_pki: bool,
}

impl Pki {
    /// Creates the PKI under `<out>/pki` unless a finished one is there.
    pub fn ensure(out: &Path) -> Result<Pki, LabError> {
        let dir = out.join("pki");
        let done = dir.join("done");
        if let Ok(text) = std::fs::read_to_string(&done) {
            return Ok(Pki {
                ovs_pki: text.trim() == "ovs-pki",
                dir,
            });
        }
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["ss", "ca", "other", "bad"] {
            mkdir(&dir.join(sub))?;
        }
        let pki = Pki {
            ovs_pki: ovs_pki_available(),
            dir,
        };
        pki.generate()?;
        let tool = if pki.ovs_pki { "ovs-pki" } else { "openssl" };
        std::fs::write(&done, tool).map_err(|e| LabError::io(&done, e))?;
        Ok(pki)
    }

    fn generate(&self) -> Result<(), LabError> {
        // Self-signed, as an operator following the guide would: one command per host.
        for side in Side::BOTH {
            let host = host_name(side);
            let ss = self.dir.join("ss");
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                VALID_DAYS,
                "-subj",
                &format!("/CN={host}"),
                "-addext",
                &format!("subjectAltName=DNS:{host}"),
                "-keyout",
                &path_str(&ss.join(format!("{host}-privkey.pem"))),
                "-out",
                &path_str(&ss.join(format!("{host}-cert.pem"))),
            ])?;
        }
        // The CA and its host certificates.
        let ca = self.dir.join("ca");
        if self.ovs_pki {
            let pki_dir = ca.join("ovs");
            ovs_pki(&pki_dir, &ca, &["init", "--force"])?;
            for side in Side::BOTH {
                // As the guide: `req -u NAME` (CN = NAME) in the workspace directory; a path as
                // NAME would end up in the CN.
                let host = host_name(side);
                ovs_pki(&pki_dir, &ca, &["req", "-u", host])?;
                ovs_pki(&pki_dir, &ca, &["-b", "sign", host, "switch"])?;
            }
            // `sign ... switch` uses the switch CA; that is the trust anchor both hosts need
            // (the guide copies controllerca/cacert.pem, which did not sign these).
            copy(
                &pki_dir.join("switchca").join("cacert.pem"),
                &ca.join("cacert.pem"),
            )?;
            copy(
                &pki_dir.join("switchca").join("private").join("cakey.pem"),
                &ca.join("cakey.pem"),
            )?;
        } else {
            make_ca(&ca, "OVS switchca CA Certificate")?;
            for side in Side::BOTH {
                let host = host_name(side);
                new_key(&ca.join(format!("{host}-privkey.pem")))?;
                sign(&ca, &ca, host, host, None)?;
            }
        }
        // Faulty host1 certificates, all for host1's CA-signed key.
        let other = self.dir.join("other");
        make_ca(&other, "Some Other CA")?;
        let key = ca.join("host1-privkey.pem");
        copy(&key, &other.join("host1-privkey.pem"))?;
        sign(&other, &other, "host1", "host1", None)?;
        let bad = self.dir.join("bad");
        copy(&key, &bad.join("host1-privkey.pem"))?;
        copy(&key, &bad.join("intruder-privkey.pem"))?;
        sign(
            &ca,
            &bad,
            "host1",
            "host1",
            Some(("20240101000000Z", "20250101000000Z")),
        )?;
        sign(&ca, &bad, "intruder", "intruder", None)?;
        Ok(())
    }

    /// `(certificate, private key)` of `side` for `case`, and the CA certificate it trusts.
    fn files(&self, case: CertCase, side: Side, faulty: Side) -> HostFiles {
        let host = host_name(side);
        let ca = self.dir.join("ca");
        let own = |dir: &Path, name: &str| {
            (
                dir.join(format!("{name}-cert.pem")),
                dir.join(format!("{name}-privkey.pem")),
            )
        };
        let (cert, key) = match case {
            // Raw keys: the self-signed certificates' keys (the certificates stay unused).
            CertCase::SelfSigned | CertCase::SelfSignedNoId | CertCase::RawKeys => {
                own(&self.dir.join("ss"), host)
            }
            _ if side != faulty => own(&ca, host),
            CertCase::CaSigned => own(&ca, host),
            // Made by `crl_rows::provision` instead.
            CertCase::RevokedCrlFile
            | CertCase::RevokedCrlHttp
            | CertCase::GoodCrlHttpStrict
            | CertCase::CrlUnreachableStrict => own(&ca, host),
            CertCase::Expired => own(&self.dir.join("bad"), "host1"),
            CertCase::OtherCa => own(&self.dir.join("other"), "host1"),
            CertCase::IdMismatch => own(&self.dir.join("bad"), "intruder"),
        };
        let pinned_peer = case.pins_peer().then(|| {
            self.dir
                .join("ss")
                .join(format!("{}-cert.pem", host_name(side.peer())))
        });
        // The faulty host of OtherCa trusts its own CA, so its own side of the handshake works.
        let cacert = match case {
            CertCase::SelfSigned | CertCase::SelfSignedNoId | CertCase::RawKeys => None,
            CertCase::OtherCa if side == faulty => Some(self.dir.join("other").join("cacert.pem")),
            _ => Some(ca.join("cacert.pem")),
        };
        HostFiles {
            cert,
            key,
            pinned_peer,
            cacert,
        }
    }
}

struct HostFiles {
    cert: PathBuf,
    key: PathBuf,
    pinned_peer: Option<PathBuf>,
    cacert: Option<PathBuf>,
}

/// Copies `side`'s credentials for `case` into the swanctl directories under `host_dir`, named
/// as the guide names them (`x509/host1-cert.pem`, `private/host1-privkey.pem`,
/// `x509ca/cacert.pem`). `initiator` holds the fault in the negative cases.
pub fn provision(
    pki: &Pki,
    host_dir: &Path,
    case: CertCase,
    side: Side,
    initiator: Side,
) -> Result<(), LabError> {
    if case.is_revocation() {
        return crate::crl_rows::provision(host_dir, case, side, initiator);
    }
    let files = pki.files(case, side, initiator);
    let host = host_name(side);
    if case == CertCase::RawKeys {
        // `pubkey/<host>-pubkey.pem` for both hosts, extracted from their private keys as an
        // operator would (`openssl pkey -pubout`), and our own private key.
        let pubkey = host_dir.join("pubkey");
        let private = host_dir.join("private");
        mkdir(&pubkey)?;
        mkdir(&private)?;
        for s in [side, side.peer()] {
            let key = pki.files(case, s, initiator).key;
            openssl(&[
                "pkey",
                "-in",
                &path_str(&key),
                "-pubout",
                "-out",
                &path_str(&pubkey.join(format!("{}-pubkey.pem", host_name(s)))),
            ])?;
        }
        return copy(&files.key, &private.join(format!("{host}-privkey.pem")));
    }
    let x509 = host_dir.join("x509");
    let private = host_dir.join("private");
    mkdir(&x509)?;
    mkdir(&private)?;
    copy(&files.cert, &x509.join(format!("{host}-cert.pem")))?;
    copy(&files.key, &private.join(format!("{host}-privkey.pem")))?;
    if let Some(peer) = &files.pinned_peer {
        let name = format!("{}-cert.pem", host_name(side.peer()));
        copy(peer, &x509.join(name))?;
    }
    if let Some(ca) = &files.cacert {
        let x509ca = host_dir.join("x509ca");
        mkdir(&x509ca)?;
        copy(ca, &x509ca.join("cacert.pem"))?;
    }
    Ok(())
}

/// The seed's PSK configuration of `side` turned into the OVS certificate configuration.
/// Only `local`/`remote` change; the children, proposals and (unused) secrets stay.
pub fn edit_config(
    conf: &SwanctlConf,
    case: CertCase,
    side: Side,
) -> Result<SwanctlConf, LabError> {
    let host = host_name(side);
    let peer = host_name(side.peer());
    let mut out = String::with_capacity(conf.text().len() + 256);
    let mut block: Option<&str> = None;
    let mut edits = 0;
    for line in conf.text().split_inclusive('\n') {
        let trimmed = line.trim();
        let indent = &line[..line.len() - line.trim_start().len()];
        match trimmed {
            "local {" => block = Some("local"),
            "remote {" => block = Some("remote"),
            "}" => block = None,
            _ => {}
        }
        let key = trimmed.split('=').next().unwrap_or("").trim();
        match (block, key) {
            (Some(which), "auth") if case == CertCase::RawKeys => {
                let name = if which == "local" { host } else { peer };
                out.push_str(&format!(
                    "{indent}auth = pubkey\n{indent}pubkeys = {name}-pubkey.pem\n"
                ));
                edits += 1;
            }
            // No `id`: the key ID (the certificate's subject) is the identity.
            (Some(_), "id") if matches!(case, CertCase::RawKeys | CertCase::SelfSignedNoId) => {
                edits += 1
            }
            (Some(which), "auth") => {
                out.push_str(&format!("{indent}auth = pubkey\n"));
                let cert = match which {
                    "local" => Some(format!("{host}-cert.pem")),
                    _ if case.pins_peer() => Some(format!("{peer}-cert.pem")),
                    _ => None,
                };
                if let Some(cert) = cert {
                    out.push_str(&format!("{indent}certs = {cert}\n"));
                }
                edits += 1;
            }
            (Some(which), "id") => {
                let name = if which == "local" { host } else { peer };
                let id = if case == CertCase::SelfSigned {
                    format!("\"CN={name}\"")
                } else {
                    name.to_owned()
                };
                out.push_str(&format!("{indent}id = {id}\n"));
                edits += 1;
            }
            _ => out.push_str(line),
        }
    }
    crate::ensure!(
        edits == 4,
        "seed config of {} has no local/remote auth and id lines to edit ({edits} of 4)",
        side.name()
    );
    Ok(SwanctlConf::from_text(out))
}

fn ovs_pki_available() -> bool {
    Path::new("/usr/bin/ovs-pki").is_file()
}

/// `ovs-pki --dir=<pki_dir> <rest>` run in `workspace` (where `req`/`sign` read and write).
fn ovs_pki(pki_dir: &Path, workspace: &Path, rest: &[&str]) -> Result<(), LabError> {
    let mut a = vec![
        "-C".to_string(),
        path_str(workspace),
        "ovs-pki".to_string(),
        format!("--dir={}", pki_dir.display()),
    ];
    a.extend(rest.iter().map(|s| s.to_string()));
    run_ok("env", &a, 300).map(|_| ())
}

fn openssl(rest: &[&str]) -> Result<(), LabError> {
    run_ok("openssl", &args(rest), 300).map(|_| ())
}

fn new_key(path: &Path) -> Result<(), LabError> {
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &path_str(path),
    ])
}

/// A CA in `dir` (`cacert.pem`, `cakey.pem`) with the subject layout `ovs-pki` uses, and the
/// files `openssl ca` keeps (index, serial).
fn make_ca(dir: &Path, cn: &str) -> Result<(), LabError> {
    mkdir(dir)?;
    let key = dir.join("cakey.pem");
    new_key(&key)?;
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &path_str(&key),
        "-days",
        VALID_DAYS,
        "-subj",
        &format!("/C=US/ST=CA/O=Open vSwitch/OU=lab/CN={cn}"),
        "-out",
        &path_str(&dir.join("cacert.pem")),
    ])
}

/// Signs a request for `<out>/<name>-privkey.pem` with the CA in `ca`, writing
/// `<out>/<name>-cert.pem` with CN `cn`, `subjectAltName = DNS:<cn>` and CA:FALSE (as
/// `ovs-pki sign ... switch` does). `dates` = (notBefore, notAfter) overrides the validity.
fn sign(
    ca: &Path,
    out: &Path,
    name: &str,
    cn: &str,
    dates: Option<(&str, &str)>,
) -> Result<(), LabError> {
    let key = out.join(format!("{name}-privkey.pem"));
    let req = out.join(format!("{name}-req.pem"));
    let cert = out.join(format!("{name}-cert.pem"));
    openssl(&[
        "req",
        "-new",
        "-key",
        &path_str(&key),
        "-subj",
        &format!("/C=US/ST=CA/O=Open vSwitch/OU=Open vSwitch certifier/CN={cn}"),
        "-out",
        &path_str(&req),
    ])?;
    let db = out.join(format!("{name}-ca.db"));
    write(&db.join("index.txt"), "")?;
    // Serials unique within the run, so no CA issues two certificates with one serial.
    let serial = NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    write(&db.join("serial"), &format!("{serial:04X}\n"))?;
    let cnf = db.join("ca.cnf");
    write(
        &cnf,
        &format!(
            "[ ca ]\ndefault_ca = lab\n[ lab ]\ndatabase = {db}/index.txt\nnew_certs_dir = {db}\n\
             serial = {db}/serial\ndefault_md = sha256\npolicy = anything\nunique_subject = no\n\
             default_days = {VALID_DAYS}\n[ anything ]\ncountryName = optional\n\
             stateOrProvinceName = optional\norganizationName = optional\n\
             organizationalUnitName = optional\ncommonName = supplied\n[ host ]\n\
             basicConstraints = CA:FALSE\nsubjectKeyIdentifier = hash\n\
             authorityKeyIdentifier = keyid\nsubjectAltName = DNS:{cn}\n",
            db = db.display()
        ),
    )?;
    let cnf_s = path_str(&cnf);
    let ca_cert = path_str(&ca.join("cacert.pem"));
    let ca_key = path_str(&ca.join("cakey.pem"));
    let req_s = path_str(&req);
    let cert_s = path_str(&cert);
    let mut a = vec![
        "ca",
        "-batch",
        "-notext",
        "-config",
        &cnf_s,
        "-extensions",
        "host",
        "-cert",
        &ca_cert,
        "-keyfile",
        &ca_key,
        "-in",
        &req_s,
        "-out",
        &cert_s,
    ];
    if let Some((from, to)) = dates {
        a.extend(["-startdate", from, "-enddate", to]);
    }
    openssl(&a)
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

fn mkdir(dir: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        mkdir(parent)?;
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

fn copy(from: &Path, to: &Path) -> Result<(), LabError> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| LabError::io(from, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(side: Side) -> SwanctlConf {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        SwanctlConf::load(ws, side).unwrap()
    }

    #[test]
    fn self_signed_config_pins_the_peer_certificate() {
        let c = edit_config(&seed(Side::Bfl), CertCase::SelfSigned, Side::Bfl).unwrap();
        let t = c.text();
        assert_eq!(t.matches("auth = pubkey").count(), 2);
        assert!(!t.contains("auth = psk"));
        assert!(t.contains("id = \"CN=host1\"") && t.contains("id = \"CN=host2\""));
        let local = t.find("local {").unwrap();
        let remote = t.find("remote {").unwrap();
        let own = t.find("certs = host1-cert.pem").unwrap();
        let pinned = t.find("certs = host2-cert.pem").unwrap();
        assert!(local < own && own < remote && remote < pinned);
    }

    #[test]
    fn raw_keys_config_names_both_keys_and_no_id() {
        let c = edit_config(&seed(Side::Bfr), CertCase::RawKeys, Side::Bfr).unwrap();
        let t = c.text();
        assert_eq!(t.matches("auth = pubkey").count(), 2);
        assert!(!t.contains("auth = psk"));
        let local = t.find("local {").unwrap();
        let remote = t.find("remote {").unwrap();
        let own = t.find("pubkeys = host2-pubkey.pem").unwrap();
        let peer = t.find("pubkeys = host1-pubkey.pem").unwrap();
        assert!(local < own && own < remote && remote < peer);
        // No identity in either round (the secrets section keeps its own ids).
        let rounds = &t[local..t[remote..].find('}').map_or(t.len(), |e| remote + e)];
        assert!(!rounds.contains("id ="), "{rounds}");
    }

    #[test]
    fn ca_config_pins_nothing_and_names_hosts_as_ovs_remote_name() {
        let c = edit_config(&seed(Side::Bfr), CertCase::CaSigned, Side::Bfr).unwrap();
        assert_eq!(c.text().matches("certs = ").count(), 1);
        assert!(c.text().contains("certs = host2-cert.pem"));
        assert!(c.text().contains("id = host1\n") && c.text().contains("id = host2\n"));
        assert!(!c.text().contains("CN="));
    }

    #[test]
    fn only_the_initiator_gets_the_faulty_files() {
        let pki = Pki {
            dir: PathBuf::from("/p"),
            ovs_pki: false,
        };
        let f = pki.files(CertCase::Expired, Side::Bfl, Side::Bfl);
        assert_eq!(f.cert, Path::new("/p/bad/host1-cert.pem"));
        let f = pki.files(CertCase::Expired, Side::Bfr, Side::Bfl);
        assert_eq!(f.cert, Path::new("/p/ca/host2-cert.pem"));
        let f = pki.files(CertCase::OtherCa, Side::Bfr, Side::Bfl);
        assert_eq!(f.cacert.unwrap(), Path::new("/p/ca/cacert.pem"));
        let f = pki.files(CertCase::SelfSigned, Side::Bfr, Side::Bfl);
        assert_eq!(f.pinned_peer.unwrap(), Path::new("/p/ss/host1-cert.pem"));
        assert!(f.cacert.is_none());
    }
}
