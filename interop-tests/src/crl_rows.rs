//! Credentials and the CRL server of the revocation rows (issue 18 §2).
//!
//! Contract:
//! - [`provision`] writes one host's files for a revocation [`CertCase`] under its swanctl
//!   directory, from a PKI made once per scenario directory with rcgen (a CA, `host1` with
//!   serial 2 and `host2` with serial 3, each named `CN=hostN` and `DNS:hostN` as the CA rows
//!   name them): `x509ca/cacert.pem`, `x509/hostN-cert.pem`, `private/hostN-privkey.pem`, and
//!   for [`CertCase::RevokedCrlFile`] the verifier's `x509crl/ca.crl` revoking host1.
//!   The initiator's (host1's) certificate names a CRL distribution point on the verifier's
//!   loopback: [`CRL_PORT`] where [`start_server`] serves the CRL (`python3 -m http.server`
//!   in the verifier's namespace), or [`DEAD_PORT`] where nothing listens.
//! - [`strict_policy`] adds `revocation = strict` to the verifier's `remote` round for the
//!   strict rows.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber, date_time_ymd,
};

use crate::LabError;
use crate::certs::{CertCase, host_name};
use crate::netlab::Lab;
use crate::swan_conf::{Side, SwanctlConf};

/// Where the verifier's CRL server listens (its own loopback).
pub const CRL_PORT: u16 = 8080;
/// A port nothing listens on (the unreachable row).
pub const DEAD_PORT: u16 = 8081;
const HOST1_SERIAL: u64 = 2;
const HOST2_SERIAL: u64 = 3;

fn lab_err(what: impl std::fmt::Display) -> LabError {
    LabError::Setup(format!("revocation PKI: {what}"))
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| LabError::io(parent, e))?;
    }
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

/// The CRL distribution point of host1's certificate for `case`, if it has one.
fn cdp(case: CertCase) -> Option<String> {
    match case {
        CertCase::RevokedCrlHttp | CertCase::GoodCrlHttpStrict => {
            Some(format!("http://127.0.0.1:{CRL_PORT}/ca.crl"))
        }
        CertCase::CrlUnreachableStrict => Some(format!("http://127.0.0.1:{DEAD_PORT}/ca.crl")),
        _ => None,
    }
}

/// Makes the PKI of `case` under `dir` unless it is there.
fn ensure(dir: &Path, case: CertCase) -> Result<(), LabError> {
    if dir.join("done").exists() {
        return Ok(());
    }
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "iked lab revocation CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(lab_err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(lab_err)?;
    write(&dir.join("cacert.pem"), &ca_cert.pem())?;
    let issuer = Issuer::from_params(&ca, &ca_key);
    for (side, serial) in [(Side::Bfl, HOST1_SERIAL), (Side::Bfr, HOST2_SERIAL)] {
        let host = host_name(side);
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, host);
        p.subject_alt_names = vec![SanType::DnsName(host.try_into().map_err(lab_err)?)];
        p.serial_number = Some(SerialNumber::from(serial));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if side == Side::Bfl
            && let Some(uri) = cdp(case)
        {
            p.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![uri] }];
        }
        let key = KeyPair::generate().map_err(lab_err)?;
        let cert = p.signed_by(&key, &issuer).map_err(lab_err)?;
        write(&dir.join(format!("{host}-cert.pem")), &cert.pem())?;
        write(
            &dir.join(format!("{host}-privkey.pem")),
            &key.serialize_pem(),
        )?;
    }
    let revoked = match case {
        CertCase::GoodCrlHttpStrict => vec![],
        _ => vec![HOST1_SERIAL],
    };
    let crl = CertificateRevocationListParams {
        this_update: date_time_ymd(2026, 1, 1),
        next_update: date_time_ymd(2036, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .into_iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(s),
                revocation_time: date_time_ymd(2026, 1, 2),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .map_err(lab_err)?;
    // DER on the web server (what CDPs serve), PEM in x509crl/.
    let www = dir.join("www");
    std::fs::create_dir_all(&www).map_err(|e| LabError::io(&www, e))?;
    std::fs::write(www.join("ca.crl"), crl.der()).map_err(|e| LabError::io(&www, e))?;
    write(&dir.join("ca.crl.pem"), &crl.pem().map_err(lab_err)?)?;
    write(&dir.join("done"), "")
}

/// The PKI directory of a scenario (beside its hosts' directories).
fn pki_dir(host_dir: &Path) -> PathBuf {
    host_dir.parent().unwrap_or(host_dir).join("revocation-pki")
}

/// Writes `side`'s credentials for `case`; the verifier is the initiator's peer.
pub fn provision(
    host_dir: &Path,
    case: CertCase,
    side: Side,
    initiator: Side,
) -> Result<(), LabError> {
    let dir = pki_dir(host_dir);
    ensure(&dir, case)?;
    let host = host_name(side);
    let copy = |from: PathBuf, to: PathBuf| -> Result<(), LabError> {
        let text = std::fs::read_to_string(&from).map_err(|e| LabError::io(&from, e))?;
        write(&to, &text)
    };
    copy(
        dir.join(format!("{host}-cert.pem")),
        host_dir.join(format!("x509/{host}-cert.pem")),
    )?;
    copy(
        dir.join(format!("{host}-privkey.pem")),
        host_dir.join(format!("private/{host}-privkey.pem")),
    )?;
    copy(dir.join("cacert.pem"), host_dir.join("x509ca/cacert.pem"))?;
    if case == CertCase::RevokedCrlFile && side == initiator.peer() {
        copy(dir.join("ca.crl.pem"), host_dir.join("x509crl/ca.crl"))?;
    }
    Ok(())
}

/// Whether the verifier of `case` serves the CRL over HTTP.
pub fn serves_crl(case: CertCase) -> bool {
    matches!(case, CertCase::RevokedCrlHttp | CertCase::GoodCrlHttpStrict)
}

/// `python3 -m http.server` on the verifier's loopback; stopped when dropped.
#[derive(Debug)]
pub struct CrlServer(Child);

impl Drop for CrlServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the CRL server in `side`'s namespace for the scenario whose host directory is
/// `host_dir`, and waits until it accepts connections.
pub fn start_server(lab: &Lab, side: Side, host_dir: &Path) -> Result<CrlServer, LabError> {
    let www = pki_dir(host_dir).join("www");
    let log = host_dir.with_file_name("crl-server.log");
    let out = std::fs::File::create(&log).map_err(|e| LabError::io(&log, e))?;
    let err = out.try_clone().map_err(|e| LabError::io(&log, e))?;
    let argv: Vec<String> = [
        "python3",
        "-m",
        "http.server",
        &CRL_PORT.to_string(),
        "--bind",
        "127.0.0.1",
        "--directory",
        &www.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let child = Command::new(&lab.ip)
        .args(lab.in_ns(side, &argv))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| LabError::Setup(format!("cannot start the CRL server: {e}")))?;
    let server = CrlServer(child);
    // Ready when a connection from the same namespace succeeds (python is slow under TCG).
    let probe: Vec<String> = [
        "python3",
        "-c",
        &format!("import socket; socket.create_connection(('127.0.0.1', {CRL_PORT}), 1)"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..60 {
        let ok = Command::new(&lab.ip)
            .args(lab.in_ns(side, &probe))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(server);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    Err(LabError::Setup(format!(
        "CRL server did not come up (log {})",
        log.display()
    )))
}

/// `revocation = strict` in the `remote` round of the verifier's configuration.
pub fn strict_policy(conf: &SwanctlConf) -> Result<SwanctlConf, LabError> {
    let mut out = String::with_capacity(conf.text().len() + 32);
    let mut added = 0;
    for line in conf.text().split_inclusive('\n') {
        out.push_str(line);
        if line.trim() == "remote {" {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push_str(&format!("{indent}   revocation = strict\n"));
            added += 1;
        }
    }
    crate::ensure!(added > 0, "no remote block to add revocation = strict to");
    Ok(SwanctlConf::from_text(out))
}
