//! Revocation through the daemon (issue 18 §2): two record-only iked on loopback with
//! certificates generated at test time (rcgen) whose CRL distribution point is a small HTTP
//! server of this test on 127.0.0.1. A revoked initiator is refused by the responder with the
//! CRL fetched over HTTP (once: the second attempt uses the cached CRL) and with the CRL from
//! `x509crl/`; a good one is accepted under `revocation = strict`; `strict` with the CRL
//! unreachable refuses; and a CRL server that never answers does not stop the daemon from
//! serving other requests meanwhile. Unprivileged.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber, date_time_ymd,
};

const BFL_DN: &str = "CN=bfl";
const BFR_DN: &str = "CN=bfr";

/// A CA, BFL's and BFR's certificates (BFL's names `cdp`), in PEM.
struct Pki {
    ca_params: CertificateParams,
    ca_key: KeyPair,
    ca_pem: String,
    bfl: (String, String),
    bfr: (String, String),
}

fn pki(cdp: Option<&str>) -> Pki {
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "iked revocation CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = p.self_signed(&ca_key).unwrap().pem();
    let issue = |cn: &str, serial: u64, cdp: Option<&str>| {
        let mut e = CertificateParams::default();
        e.distinguished_name.push(DnType::CommonName, cn);
        e.serial_number = Some(SerialNumber::from(serial));
        e.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if let Some(uri) = cdp {
            e.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![uri.to_string()],
            }];
        }
        let key = KeyPair::generate().unwrap();
        let cert = e
            .signed_by(&key, &Issuer::from_params(&p, &ca_key))
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let bfl = issue("bfl", 10, cdp);
    let bfr = issue("bfr", 11, None);
    Pki {
        ca_params: p.clone(),
        ca_key,
        ca_pem,
        bfl,
        bfr,
    }
}

impl Pki {
    /// A CRL current for years around the test's wall clock, revoking `serials`.
    fn crl(&self, serials: &[u64]) -> String {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2026, 1, 1),
            next_update: date_time_ymd(2036, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: date_time_ymd(2026, 1, 2),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&Issuer::from_params(&self.ca_params, &self.ca_key))
            .unwrap()
            .pem()
            .unwrap()
    }
}

/// What the test's HTTP server does.
#[derive(Clone, Copy)]
enum Serve {
    /// Answers every GET with the body.
    Body,
    /// Accepts and never answers.
    Hang,
}

/// A one-thread HTTP/1.1 server on `listener` answering every request with `body`; returns
/// the number of requests it got.
fn http_server(listener: TcpListener, body: String, how: Serve) -> Arc<AtomicUsize> {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            match how {
                Serve::Hang => held.push(stream),
                Serve::Body => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        }
    });
    hits
}

/// A listener on 127.0.0.1 and the CRL URI on it.
fn crl_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, format!("http://127.0.0.1:{port}/ca.crl"))
}

/// The seed's PSK rounds as certificate rounds: our certificate and key, the CA, BFR's
/// `revocation` policy; then loads the files with `ikectl load-creds`.
fn certificate_rounds(conf: String, side: &Path, pki: &Pki, bfl: bool, policy: &str) -> String {
    let (cert, _) = if bfl { &pki.bfl } else { &pki.bfr };
    std::fs::write(side.join("me.pem"), cert).unwrap();
    std::fs::write(side.join("ca.pem"), &pki.ca_pem).unwrap();
    let (me, peer) = if bfl {
        (BFL_DN, BFR_DN)
    } else {
        (BFR_DN, BFL_DN)
    };
    conf.replacen(
        "      auth = psk\n",
        &format!(
            "      auth = pubkey\n      certs = {}\n",
            side.join("me.pem").display()
        ),
        1,
    )
    .replacen(
        "      auth = psk\n",
        &format!(
            "      auth = pubkey\n      cacerts = {}\n      revocation = {policy}\n",
            side.join("ca.pem").display()
        ),
        1,
    )
    .replace(
        "id = host1",
        &format!("id = \"{}\"", if bfl { me } else { peer }),
    )
    .replace(
        "id = host2",
        &format!("id = \"{}\"", if bfl { peer } else { me }),
    )
}

/// Writes a side's private key (and optionally a CRL into `x509crl/`) and loads them.
fn load_creds(p: &LoopbackPair, name: &str, key: &str, crl: Option<&str>) {
    let side = p.dir.join(name);
    std::fs::create_dir_all(side.join("private")).unwrap();
    std::fs::write(side.join("private/me.key"), key).unwrap();
    if let Some(crl) = crl {
        std::fs::create_dir_all(side.join("x509crl")).unwrap();
        std::fs::write(side.join("x509crl/ca.crl"), crl).unwrap();
    }
    let socket = if name == "bfl" { &p.bfl } else { &p.bfr };
    let conf = side.join("swanctl.conf");
    let out = ikectl(
        socket,
        &["load-creds", "--file", &conf.display().to_string()],
    );
    assert!(
        out.status.success(),
        "load-creds: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Starts the pair with BFR's `policy`, loads keys (and BFR's `x509crl/` file).
fn start(tag: &str, pki: &Pki, policy: &str, bfr_crl: Option<&str>) -> LoopbackPair {
    let dir = scratch(&format!("{tag}-files"));
    let (bfl_dir, bfr_dir) = (dir.join("bfl"), dir.join("bfr"));
    std::fs::create_dir_all(&bfl_dir).unwrap();
    std::fs::create_dir_all(&bfr_dir).unwrap();
    let bfl_edit = |c: String| certificate_rounds(c, &bfl_dir, pki, true, "relaxed");
    let bfr_edit = |c: String| certificate_rounds(c, &bfr_dir, pki, false, policy);
    let p = loopback_pair(
        tag,
        Side {
            edit: Some(&bfl_edit),
            ..Side::default()
        },
        Side {
            edit: Some(&bfr_edit),
            ..Side::default()
        },
    );
    load_creds(&p, "bfl", &pki.bfl.1, None);
    load_creds(&p, "bfr", &pki.bfr.1, bfr_crl);
    p
}

fn initiate(p: &LoopbackPair) -> bool {
    ikectl(
        &p.bfl,
        &["initiate", "--child", "bf-out", "--timeout", "20"],
    )
    .status
    .success()
}

fn bfr_log(p: &LoopbackPair) -> String {
    std::fs::read_to_string(p.dir.join("bfr/iked.log")).unwrap_or_default()
}

fn bfr_log_has(p: &LoopbackPair, needle: &str) -> bool {
    eventually(Duration::from_secs(5), || bfr_log(p).contains(needle))
}

#[test]
fn a_peer_revoked_in_a_crl_fetched_over_http_is_refused_and_the_crl_cached() {
    let (listener, uri) = crl_listener();
    let pki = pki(Some(&uri));
    let hits = http_server(listener, pki.crl(&[10]), Serve::Body);
    let p = start("crl-http-revoked", &pki, "relaxed", None);
    assert!(!initiate(&p), "{}", pair_logs(&p.dir));
    assert!(
        bfr_log_has(&p, &format!("fetching crl from '{uri}'")),
        "{}",
        pair_logs(&p.dir)
    );
    assert!(
        bfr_log_has(&p, "certificate \"CN=bfl\" was revoked on"),
        "{}",
        pair_logs(&p.dir)
    );
    assert!(bfr_log_has(&p, "reason: keyCompromise"), "{}", bfr_log(&p));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Again: refused from the cached CRL, without a second request.
    assert!(!initiate(&p), "{}", pair_logs(&p.dir));
    assert_eq!(hits.load(Ordering::SeqCst), 1, "{}", bfr_log(&p));
    assert!(!list_sas(&p.bfr).contains("ESTABLISHED"));
}

#[test]
fn a_good_peer_is_accepted_under_strict_with_the_crl_fetched_over_http() {
    let (listener, uri) = crl_listener();
    let pki = pki(Some(&uri));
    let hits = http_server(listener, pki.crl(&[77]), Serve::Body);
    let p = start("crl-http-good", &pki, "strict", None);
    assert!(initiate(&p), "{}", pair_logs(&p.dir));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(list_sas(&p.bfr).contains("ESTABLISHED"));
}

#[test]
fn strict_refuses_when_the_crl_is_unreachable_and_relaxed_accepts() {
    // A port nothing listens on: connection refused.
    let (listener, uri) = crl_listener();
    drop(listener);
    let pki = pki(Some(&uri));
    let p = start("crl-http-strict", &pki, "strict", None);
    assert!(!initiate(&p), "{}", pair_logs(&p.dir));
    assert!(
        bfr_log_has(
            &p,
            "revocation status of certificate \"CN=bfl\" is unavailable"
        ),
        "{}",
        pair_logs(&p.dir)
    );
    assert!(bfr_log_has(&p, "crl fetching from"), "{}", bfr_log(&p));
    drop(p);
    let p = start("crl-http-relaxed", &pki, "relaxed", None);
    assert!(initiate(&p), "{}", pair_logs(&p.dir));
}

#[test]
fn a_peer_revoked_in_a_crl_from_x509crl_is_refused() {
    let pki = pki(None);
    let crl = pki.crl(&[10]);
    let p = start("crl-file", &pki, "strict", Some(&crl));
    assert!(!initiate(&p), "{}", pair_logs(&p.dir));
    assert!(
        bfr_log_has(&p, "certificate \"CN=bfl\" was revoked on"),
        "{}",
        pair_logs(&p.dir)
    );
    // Without the entry the same file lets BFL in under strict.
    let good = pki.crl(&[]);
    std::fs::write(p.dir.join("bfr/x509crl/ca.crl"), good).unwrap();
    let conf = p.dir.join("bfr/swanctl.conf");
    assert!(
        ikectl(
            &p.bfr,
            &["load-creds", "--file", &conf.display().to_string()]
        )
        .status
        .success()
    );
    assert!(initiate(&p), "{}", pair_logs(&p.dir));
}

#[test]
fn a_hanging_crl_server_does_not_stop_the_daemon() {
    let (listener, uri) = crl_listener();
    let pki = pki(Some(&uri));
    let hits = http_server(listener, String::new(), Serve::Hang);
    let p = start("crl-http-hang", &pki, "strict", None);
    let bfl = p.bfl.clone();
    let attempt = std::thread::spawn(move || {
        ikectl(&bfl, &["initiate", "--child", "bf-out", "--timeout", "30"])
            .status
            .success()
    });
    assert!(eventually(Duration::from_secs(10), || hits
        .load(Ordering::SeqCst)
        == 1));
    // BFR's event loop still answers while its fetch hangs.
    let out = ikectl(&p.bfr, &["list-sas"]);
    assert!(out.status.success(), "{}", bfr_log(&p));
    // The fetch gives up after its timeout and strict refuses.
    assert!(!attempt.join().unwrap(), "{}", pair_logs(&p.dir));
    assert!(bfr_log_has(&p, "no answer within 10s"), "{}", bfr_log(&p));
}
