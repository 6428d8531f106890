//! Credentials and the CRL server of the revocation rows (issue 18 §2).
//!
//! Contract:
//! - [`provision`] writes one host's files for a revocation [`CertCase`] under its swanctl
//!   directory, from a PKI made once per run under `<out>/revocation-pki`: RSA 2048 keys from
//!   `openssl genpkey` (Debian's charon 5.9.8 in the lab parses no ECDSA certificates), the
//!   CA, certificates and CRLs signed with them by rcgen (`host1` with serial 2 in one
//!   variant per distribution point, `host2` with serial 3, named `CN=hostN` and `DNS:hostN`
//!   as the CA rows name them): `x509ca/cacert.pem`, `x509/hostN-cert.pem`,
//!   `private/hostN-privkey.pem`, and for [`CertCase::RevokedCrlFile`] the verifier's
//!   `x509crl/ca.crl` revoking host1.
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
use crate::cert_case::{CertCase, host_name};
use crate::netlab::{Lab, args, run_ok};
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

/// An RSA key made by openssl (PKCS#8 PEM), loaded for rcgen.
fn rsa_key(path: &Path) -> Result<KeyPair, LabError> {
    let p = path.display().to_string();
    run_ok(
        "openssl",
        &args(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &p,
        ]),
        300,
    )?;
    let pem = std::fs::read_to_string(path).map_err(|e| LabError::io(path, e))?;
    KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).map_err(lab_err)
}

/// host1's certificate variants: file stem and distribution point.
fn host1_variants() -> [(&'static str, Option<String>); 3] {
    [
        ("host1-nocdp", None),
        (
            "host1-cdp",
            Some(format!("http://127.0.0.1:{CRL_PORT}/ca.crl")),
        ),
        (
            "host1-deadcdp",
            Some(format!("http://127.0.0.1:{DEAD_PORT}/ca.crl")),
        ),
    ]
}

/// host1's certificate file stem for `case`.
fn host1_stem(case: CertCase) -> &'static str {
    match case {
        CertCase::RevokedCrlHttp | CertCase::GoodCrlHttpStrict => "host1-cdp",
        CertCase::CrlUnreachableStrict => "host1-deadcdp",
        _ => "host1-nocdp",
    }
}

/// Makes the run's revocation PKI under `<out>/revocation-pki` (where [`provision`] looks for
/// it) unless it is there.
pub fn ensure_pki(out: &Path) -> Result<(), LabError> {
    ensure(&out.join("revocation-pki"))
}

/// Makes the run's revocation PKI under `dir` unless it is there.
fn ensure(dir: &Path) -> Result<(), LabError> {
    if dir.join("done").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "iked lab revocation CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = rsa_key(&dir.join("ca-privkey.pem"))?;
    let ca_cert = ca.self_signed(&ca_key).map_err(lab_err)?;
    write(&dir.join("cacert.pem"), &ca_cert.pem())?;
    let issuer = Issuer::from_params(&ca, &ca_key);
    let host_cert = |host: &str, serial: u64, key: &KeyPair, cdp: Option<String>| {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, host);
        p.subject_alt_names = vec![SanType::DnsName(host.try_into().map_err(lab_err)?)];
        p.serial_number = Some(SerialNumber::from(serial));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if let Some(uri) = cdp {
            p.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![uri] }];
        }
        p.signed_by(key, &issuer).map(|c| c.pem()).map_err(lab_err)
    };
    let host2_key = rsa_key(&dir.join("host2-privkey.pem"))?;
    write(
        &dir.join("host2-cert.pem"),
        &host_cert("host2", HOST2_SERIAL, &host2_key, None)?,
    )?;
    let host1_key = rsa_key(&dir.join("host1-privkey.pem"))?;
    for (stem, cdp) in host1_variants() {
        write(
            &dir.join(format!("{stem}-cert.pem")),
            &host_cert("host1", HOST1_SERIAL, &host1_key, cdp)?,
        )?;
    }
    for (name, revoked) in [("revoked", vec![HOST1_SERIAL]), ("good", vec![])] {
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
        // DER on the web server (what CDPs serve), PEM for x509crl/.
        let www = dir.join(format!("www-{name}"));
        std::fs::create_dir_all(&www).map_err(|e| LabError::io(&www, e))?;
        std::fs::write(www.join("ca.crl"), crl.der()).map_err(|e| LabError::io(&www, e))?;
        write(
            &dir.join(format!("ca-{name}.crl.pem")),
            &crl.pem().map_err(lab_err)?,
        )?;
    }
    write(&dir.join("done"), "")
}

/// The web directory the verifier serves for `case`.
fn www(case: CertCase) -> &'static str {
    match case {
        CertCase::GoodCrlHttpStrict => "www-good",
        _ => "www-revoked",
    }
}

/// The run's revocation PKI directory: `<out>/revocation-pki` for a host directory
/// `<out>/<scenario>/<side>`.
fn pki_dir(host_dir: &Path) -> PathBuf {
    let scenario = host_dir.parent().unwrap_or(host_dir);
    scenario.parent().unwrap_or(scenario).join("revocation-pki")
}

/// Writes `side`'s credentials for `case`; the verifier is the initiator's peer.
pub fn provision(
    host_dir: &Path,
    case: CertCase,
    side: Side,
    initiator: Side,
) -> Result<(), LabError> {
    let dir = pki_dir(host_dir);
    ensure(&dir)?;
    let host = host_name(side);
    let cert_stem = if side == Side::Bfl {
        host1_stem(case)
    } else {
        "host2"
    };
    let copy = |from: PathBuf, to: PathBuf| -> Result<(), LabError> {
        let text = std::fs::read_to_string(&from).map_err(|e| LabError::io(&from, e))?;
        write(&to, &text)
    };
    copy(
        dir.join(format!("{cert_stem}-cert.pem")),
        host_dir.join(format!("x509/{host}-cert.pem")),
    )?;
    copy(
        dir.join(format!("{host}-privkey.pem")),
        host_dir.join(format!("private/{host}-privkey.pem")),
    )?;
    copy(dir.join("cacert.pem"), host_dir.join("x509ca/cacert.pem"))?;
    if case == CertCase::RevokedCrlFile && side == initiator.peer() {
        copy(
            dir.join("ca-revoked.crl.pem"),
            host_dir.join("x509crl/ca.crl"),
        )?;
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
pub fn start_server(
    lab: &Lab,
    side: Side,
    host_dir: &Path,
    case: CertCase,
) -> Result<CrlServer, LabError> {
    let www = pki_dir(host_dir).join(www(case));
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
