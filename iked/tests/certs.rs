//! Certificate authentication through the daemon: credentials from the swanctl directories and
//! from `certs`/`cacerts` in swanctl.conf, `ikectl load-creds` / `list-certs`, and two iked
//! instances (record-only kernel, loopback) authenticating with them. Unprivileged.
//!
//! Certificates are certlib's fixtures (`crypto/tests/data/certs/make.sh`): a root CA, BFL's
//! RSA certificate issued by it, BFR's P-256 certificate issued by an intermediate, and an
//! expired one. Their validity (2026–2036) holds for the wall clock these tests run at.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crypto/tests/data/certs")
        .join(name)
        .canonicalize()
        .unwrap()
}

const BFL_DN: &str = "C=CH, O=iked test, CN=bfl";
const BFR_DN: &str = "C=CH, O=iked test, CN=bfr";

/// The seed's PSK rounds turned into public-key rounds with certificate files by path; the
/// seed's identities `host1` (BFL) and `host2` (BFR) become `host1_id` and `host2_id`.
fn pubkey_rounds(conf: String, local_certs: &str, host1_id: &str, host2_id: &str) -> String {
    let ca = fixture("ca-rsa.pem");
    conf.replacen(
        "      auth = psk\n",
        &format!("      auth = pubkey\n      certs = {local_certs}\n"),
        1,
    )
    .replacen(
        "      auth = psk\n",
        &format!("      auth = pubkey\n      cacerts = {}\n", ca.display()),
        1,
    )
    .replace("id = host1", &format!("id = \"{host1_id}\""))
    .replace("id = host2", &format!("id = \"{host2_id}\""))
}

fn bfl_conf(conf: String) -> String {
    pubkey_rounds(
        conf,
        &fixture("bfl-rsa.pem").display().to_string(),
        BFL_DN,
        BFR_DN,
    )
}

fn bfr_conf(conf: String) -> String {
    // End entity first, then the intermediate that issued it.
    let certs = format!(
        "{}, {}",
        fixture("bfr-p256.pem").display(),
        fixture("int-p256.pem").display()
    );
    pubkey_rounds(conf, &certs, BFL_DN, BFR_DN)
}

/// Puts `key` (a key or certificate) into the side's swanctl directory `dir/<sub>/` and loads
/// it with `ikectl load-creds`, as an operator adds one to a running daemon.
fn add_key(side_dir: &Path, socket: &Path, sub: &str, key: &str) -> String {
    let target = side_dir.join(sub);
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(fixture(key), target.join(key)).unwrap();
    let conf = side_dir.join("swanctl.conf");
    let out = ikectl(
        socket,
        &["load-creds", "--file", &conf.display().to_string()],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "load-creds failed: {text}");
    text
}

fn initiate(socket: &Path) -> std::process::Output {
    ikectl(
        socket,
        &["initiate", "--child", "bf-out", "--timeout", "10"],
    )
}

#[test]
fn two_ikeds_authenticate_with_ca_signed_certificates() {
    let (bfl_edit, bfr_edit) = (&bfl_conf, &bfr_conf);
    let p = loopback_pair(
        "certs-ok",
        Side {
            edit: Some(bfl_edit),
            ..Side::default()
        },
        Side {
            edit: Some(bfr_edit),
            ..Side::default()
        },
    );
    // Without private keys BFL cannot sign: the initiation fails and the log says why.
    let out = initiate(&p.bfl);
    assert!(!out.status.success(), "{}", pair_logs(&p.dir));
    assert!(
        pair_logs(&p.dir).contains("no private key"),
        "{}",
        pair_logs(&p.dir)
    );

    let loaded = add_key(&p.dir.join("bfl"), &p.bfl, "rsa", "bfl-rsa.key.pem");
    assert!(loaded.contains("loaded RSA key from"), "{loaded}");
    add_key(&p.dir.join("bfr"), &p.bfr, "ecdsa", "bfr-p256.key.pem");

    let out = initiate(&p.bfl);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        pair_logs(&p.dir)
    );
    for socket in [&p.bfl, &p.bfr] {
        let sas = String::from_utf8_lossy(&ikectl(socket, &["list-sas"]).stdout).into_owned();
        assert!(sas.contains("ESTABLISHED"), "{sas}");
        assert!(sas.contains("INSTALLED, TRANSPORT"), "{sas}");
    }

    // list-certs shows the swanctl directories' certificates (here BFL's, copied to x509/),
    // and that BFL holds its private key.
    add_key(&p.dir.join("bfl"), &p.bfl, "x509", "bfl-rsa.pem");
    let certs = String::from_utf8_lossy(&ikectl(&p.bfl, &["list-certs"]).stdout).into_owned();
    assert!(
        certs.contains("List of X.509 End Entity Certificates"),
        "{certs}"
    );
    assert!(
        certs.contains(&format!("subject:  \"{BFL_DN}\"")),
        "{certs}"
    );
    assert!(certs.contains("has private key"), "{certs}");
}

#[test]
fn an_expired_peer_certificate_is_refused_with_the_cause_logged() {
    let expired_dn = "C=CH, O=iked test, CN=expired";
    let bfl_edit = |conf: String| {
        pubkey_rounds(
            conf,
            &fixture("expired.pem").display().to_string(),
            expired_dn,
            BFR_DN,
        )
    };
    let bfr_edit = |conf: String| {
        let certs = format!(
            "{}, {}",
            fixture("bfr-p256.pem").display(),
            fixture("int-p256.pem").display()
        );
        pubkey_rounds(conf, &certs, expired_dn, BFR_DN)
    };
    let p = loopback_pair(
        "certs-expired",
        Side {
            edit: Some(&bfl_edit),
            ..Side::default()
        },
        Side {
            edit: Some(&bfr_edit),
            ..Side::default()
        },
    );
    add_key(&p.dir.join("bfl"), &p.bfl, "ecdsa", "expired.key.pem");
    add_key(&p.dir.join("bfr"), &p.bfr, "ecdsa", "bfr-p256.key.pem");
    let out = initiate(&p.bfl);
    assert!(!out.status.success(), "{}", pair_logs(&p.dir));
    let responder_log_names_it = eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(p.dir.join("bfr/iked.log"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("expired") && l.contains("CN=expired"))
    });
    assert!(responder_log_names_it, "{}", pair_logs(&p.dir));
    let sas = String::from_utf8_lossy(&ikectl(&p.bfr, &["list-sas"]).stdout).into_owned();
    assert!(!sas.contains("INSTALLED"), "{sas}");
}

#[test]
fn load_creds_names_a_broken_file_and_fails() {
    let dir = scratch("certs-broken");
    std::fs::create_dir_all(dir.join("x509")).unwrap();
    std::fs::copy(fixture("bfl-rsa.pem"), dir.join("x509/bfl.pem")).unwrap();
    let (_procs, socket) = start_lone_iked(&dir, "C");
    std::fs::write(
        dir.join("x509/broken.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = ikectl(
        &socket,
        &[
            "load-creds",
            "--file",
            &dir.join("swanctl.conf").display().to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("loading credential failed:") && text.contains("x509/broken.pem"),
        "{text}"
    );
    // The good file still loaded.
    assert!(text.contains(&format!("\"{BFL_DN}\"")), "{text}");
}
