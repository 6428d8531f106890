//! Certificate authentication between our initiator (A = BFL) and our responder (B = BFR) in
//! virtual time: CA-signed both ways, pinned self-signed certificates, RSA-PSS, ECDSA and
//! Ed25519 keys; and each refusal (expired, unknown CA, identity mismatch, unpinned
//! self-signed) ending in AUTHENTICATION_FAILED with the cause in the event and nothing
//! installed. Certificates: `crypto/tests/data/certs` (README there).

mod common;

use std::sync::Arc;

use common::*;
use iked_crypto::auth::PrivateKey;
use iked_crypto::x509::Certificate;
use iked_ike::config::{
    AuthMethod, Identity, IkeConfig, PubkeyAuth, PubkeyConstraint, SendCert, Settings, id_type,
};
use iked_ike::creds::CredentialSet;
use iked_ike::engine::{Engine, Event};

/// 2027-01-01T00:00:00Z, inside the 2026..2036 validity of the test certificates.
const NOW: i64 = 1_798_761_600;

fn data(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../crypto/tests/data/certs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cert(name: &str) -> Certificate {
    Certificate::from_pem(&data(&format!("{name}.pem"))).unwrap()
}

fn key(name: &str) -> Arc<PrivateKey> {
    Arc::new(PrivateKey::from_pem(&data(&format!("{name}.key.pem"))).unwrap())
}

fn dn(text: &str) -> Identity {
    let id = Identity::from_text(text);
    assert_eq!(id.kind, id_type::DER_ASN1_DN);
    id
}

/// One side's certificate setup.
struct Side {
    /// Our certificate and key (file stem).
    cert: &'static str,
    /// Our `local.id`; `None` uses the certificate subject.
    local_id: Option<Identity>,
    /// The peer's expected `remote.id`; `None` = any.
    remote_id: Option<Identity>,
    /// Trusted CAs.
    cas: Vec<&'static str>,
    /// Extra certificates we hold (intermediates).
    certs: Vec<&'static str>,
    /// Pinned peer certificates (`remote.certs`).
    pinned: Vec<&'static str>,
    /// CAs this connection accepts (`remote.cacerts`).
    remote_cacerts: Vec<&'static str>,
    local_auth: &'static str,
    remote_auth: &'static str,
    send_cert: SendCert,
}

impl Side {
    fn new(cert: &'static str) -> Side {
        Side {
            cert,
            local_id: None,
            remote_id: None,
            cas: vec!["ca-rsa"],
            certs: vec![],
            pinned: vec![],
            remote_cacerts: vec![],
            local_auth: "pubkey",
            remote_auth: "pubkey",
            send_cert: SendCert::IfAsked,
        }
    }

    /// OVS `remote_cert` style: our self-signed certificate, the peer's pinned, no CA and no
    /// CERT payloads.
    fn pinned_self_signed(cert: &'static str, peer: &'static str) -> Side {
        Side {
            pinned: vec![peer],
            cas: vec![],
            send_cert: SendCert::Never,
            ..Side::new(cert)
        }
    }

    fn apply(&self, conn: &mut IkeConfig) -> CredentialSet {
        let mut local = PubkeyAuth::new(PubkeyConstraint::from_spec(self.local_auth).unwrap());
        local.certs = vec![cert(self.cert)];
        local.send_cert = self.send_cert;
        let mut remote = PubkeyAuth::new(PubkeyConstraint::from_spec(self.remote_auth).unwrap());
        remote.certs = self.pinned.iter().map(|c| cert(c)).collect();
        remote.cacerts = self.remote_cacerts.iter().map(|c| cert(c)).collect();
        conn.local.method = AuthMethod::Pubkey(Box::new(local));
        conn.local.id = self.local_id.clone();
        conn.remote.method = AuthMethod::Pubkey(Box::new(remote));
        conn.remote.id = self.remote_id.clone();
        CredentialSet {
            keys: vec![key(self.cert)],
            certs: self.certs.iter().map(|c| cert(c)).collect(),
            cas: self.cas.iter().map(|c| cert(c)).collect(),
            ..CredentialSet::default()
        }
    }
}

/// Runs A (initiator, BFL) against B (responder, BFR) with one child.
fn run(a: Side, b: Side) -> Pair {
    let (mut l, _) = seed_config(true);
    let (mut r, _) = seed_config(false);
    let a_creds = a.apply(&mut l);
    let b_creds = b.apply(&mut r);
    let mut ea = Engine::new(Settings::default(), vec![l], vec![], Box::new(TestRng(1)));
    let mut eb = Engine::new(Settings::default(), vec![r], vec![], Box::new(TestRng(2)));
    ea.set_credentials(Arc::new(a_creds));
    eb.set_credentials(Arc::new(b_creds));
    ea.set_wall_clock(NOW);
    eb.set_wall_clock(NOW);
    let mut p = Pair::new(ea, BFL.parse().unwrap(), eb, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    p
}

fn assert_up(p: &Pair) {
    for (name, ep) in [("A", &p.a), ("B", &p.b)] {
        assert!(
            ep.events.iter().any(|e| matches!(e, Event::IkeUp { .. })),
            "{name} not up: {:#?}",
            ep.logs()
        );
    }
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
}

/// The side that checked the certificate refused with `cause`, the other side learned
/// AUTHENTICATION_FAILED, and neither holds an SA or kernel state.
fn assert_refused(p: &Pair, checker_is_b: bool, cause: &str) {
    let (checker, other) = if checker_is_b {
        (&p.b, &p.a)
    } else {
        (&p.a, &p.b)
    };
    assert!(
        checker
            .events
            .iter()
            .any(|e| matches!(e, Event::IkeFailed { reason, .. } if reason.contains(cause))),
        "no IkeFailed with '{cause}': {:#?}",
        checker.logs()
    );
    assert!(
        checker
            .logs()
            .iter()
            .any(|l| l.contains("IKE_AUTH") && l.contains(cause)),
        "no log line naming '{cause}': {:#?}",
        checker.logs()
    );
    // The checker says so on the wire (a response notify, or an INFORMATIONAL after the
    // responder's AUTH), and the peer hears it.
    assert!(
        checker.has_log("[ N(AUTH_FAILED) ]")
            && (!checker_is_b || checker.has_log("sending AUTH_FAILED notify to the peer")),
        "no AUTHENTICATION_FAILED sent: {:#?}",
        checker.logs()
    );
    assert!(
        other.has_log("AUTHENTICATION_FAILED") || other.has_log("N(AUTH_FAILED)"),
        "peer not told: {:#?}",
        other.logs()
    );
    assert!(
        !p.a.events
            .iter()
            .any(|e| matches!(e, Event::ChildUp { .. }))
    );
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert_eq!(p.a.kernel.leftovers(), Vec::<String>::new());
    assert_eq!(p.b.kernel.leftovers(), Vec::<String>::new());
}

#[test]
fn ca_signed_both_ways_with_an_intermediate_and_certreq() {
    let a = Side {
        remote_id: Some(dn("C=CH, O=iked test, CN=bfr")),
        ..Side::new("bfl-rsa")
    };
    let b = Side {
        remote_id: Some(dn("C=CH, O=iked test, CN=bfl")),
        // B sends its intermediate along with its own certificate.
        certs: vec!["int-p256"],
        ..Side::new("bfr-p256")
    };
    let p = run(a, b);
    assert_up(&p);
    // Default scheme per key type under RFC 7427, the peer's certificate sent on CERTREQ.
    assert!(p.b.has_log(
        "authentication of 'C=CH, O=iked test, CN=bfl' with RsaPkcs1Sha256 (\"C=CH, O=iked test, CN=bfl\") successful"
    ));
    assert!(p.a.has_log(
        "authentication of 'C=CH, O=iked test, CN=bfr' with EcdsaP256Sha256 (\"C=CH, O=iked test, CN=bfr\") successful"
    ));
    assert!(p.a.has_log("CERTREQ"), "{:#?}", p.a.logs());
    assert!(p.b.has_log("CERT"));
}

#[test]
fn identities_by_subject_alt_name_and_any() {
    // Both name themselves by a subjectAltName; B accepts any identity its CA vouches for.
    let a = Side {
        local_id: Some(Identity::from_text("bfl.example.org")),
        remote_id: Some(Identity::from_text("p384.example.org")),
        ..Side::new("bfl-rsa")
    };
    let b = Side {
        local_id: Some(Identity::from_text("p384.example.org")),
        ..Side::new("p384")
    };
    let p = run(a, b);
    assert_up(&p);
    assert!(p.b.has_log("authentication of 'bfl.example.org' with RsaPkcs1Sha256"));
    assert!(p.a.has_log("authentication of 'p384.example.org' with EcdsaP384Sha384"));
}

#[test]
fn pinned_self_signed_certificates_without_cert_payloads() {
    // The OVS `remote_cert` case: each side holds the other's self-signed certificate and
    // neither sends one.
    let a = Side::pinned_self_signed("self", "self-rsa");
    let b = Side::pinned_self_signed("self-rsa", "self");
    let p = run(a, b);
    assert_up(&p);
    assert!(!p.a.has_log(" CERT "), "{:#?}", p.a.logs());
    assert!(p.a.has_log("authentication of 'C=CH, O=iked test, CN=self-rsa' with RsaPkcs1Sha256"));
}

#[test]
fn pinned_self_signed_ca_true_certificate_as_openssl_req_x509_makes() {
    // `openssl req -x509` marks its certificates CA:TRUE; pinned, that is no obstacle.
    let a = Side {
        remote_id: Some(dn("CN=host2")),
        ..Side::pinned_self_signed("self", "self-ca")
    };
    let b = Side::pinned_self_signed("self-ca", "self");
    let p = run(a, b);
    assert_up(&p);
    assert!(p.a.has_log("authentication of 'CN=host2' with EcdsaP256Sha256"));
}

#[test]
fn pinned_self_signed_certificates_sent_always() {
    let a = Side {
        pinned: vec!["self-rsa"],
        send_cert: SendCert::Always,
        ..Side::new("self")
    };
    let b = Side {
        pinned: vec!["self"],
        send_cert: SendCert::Always,
        ..Side::new("self-rsa")
    };
    assert_up(&run(a, b));
}

#[test]
fn rsa_pss_ed25519_and_constraints() {
    let a = Side {
        local_auth: "rsa/pss",
        remote_auth: "ed25519",
        ..Side::new("pss")
    };
    let b = Side {
        remote_auth: "ike:rsa/pss-sha256",
        ..Side::new("ed25519")
    };
    let p = run(a, b);
    assert_up(&p);
    assert!(p.b.has_log("with RsaPssSha256"));
    assert!(p.a.has_log("with Ed25519"));
}

#[test]
fn signature_scheme_outside_the_auth_constraint_is_refused() {
    // B wants ECDSA only, A signs with RSA.
    let a = Side::new("bfl-rsa");
    let b = Side {
        remote_auth: "ecdsa",
        ..Side::new("p384")
    };
    assert_refused(&run(a, b), true, "not allowed by auth = ecdsa");
}

#[test]
fn expired_certificate_is_refused_in_both_roles() {
    let p = run(Side::new("expired"), Side::new("p384"));
    assert_refused(
        &p,
        true,
        "certificate \"C=CH, O=iked test, CN=expired\" expired at Jan  1 00:00:00 2021",
    );
    let p = run(Side::new("p384"), Side::new("expired"));
    assert_refused(
        &p,
        false,
        "certificate \"C=CH, O=iked test, CN=expired\" expired",
    );
}

#[test]
fn not_yet_valid_certificate_is_refused() {
    let p = run(Side::new("future"), Side::new("p384"));
    assert_refused(&p, true, "is not valid before Jan  1 00:00:00 2035");
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let p = run(Side::new("wrong-ca"), Side::new("p384"));
    assert_refused(
        &p,
        true,
        "no trusted CA for certificate \"C=CH, O=iked test, CN=bfl\" (issuer \"C=CH, O=other, CN=other root CA\" unknown)",
    );
}

#[test]
fn identity_not_in_the_certificate_is_refused() {
    // A claims an FQDN its certificate does not carry; B accepts any identity.
    let a = Side {
        local_id: Some(Identity::from_text("intruder.example.org")),
        ..Side::new("bfl-rsa")
    };
    let p = run(a, Side::new("p384"));
    assert_refused(
        &p,
        true,
        "identity 'intruder.example.org' does not match certificate \"C=CH, O=iked test, CN=bfl\"",
    );
}

#[test]
fn unpinned_self_signed_certificate_is_refused() {
    let a = Side {
        send_cert: SendCert::Always,
        ..Side::new("self")
    };
    let p = run(a, Side::new("p384"));
    assert_refused(
        &p,
        true,
        "self-signed certificate \"C=CH, O=iked test, CN=self\" is not trusted",
    );
}

#[test]
fn missing_wall_clock_fails_closed() {
    let (mut l, _) = seed_config(true);
    let (mut r, _) = seed_config(false);
    let a_creds = Side::new("bfl-rsa").apply(&mut l);
    let b_creds = Side::new("p384").apply(&mut r);
    let mut ea = Engine::new(Settings::default(), vec![l], vec![], Box::new(TestRng(1)));
    let mut eb = Engine::new(Settings::default(), vec![r], vec![], Box::new(TestRng(2)));
    ea.set_credentials(Arc::new(a_creds));
    eb.set_credentials(Arc::new(b_creds));
    let mut p = Pair::new(ea, BFL.parse().unwrap(), eb, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    p.run();
    assert_refused(&p, true, "wall clock not set");
}

#[test]
fn connection_ca_and_pinned_certificate_constraints() {
    // B trusts the root globally but this connection accepts only `other-ca`.
    let b = Side {
        remote_cacerts: vec!["other-ca"],
        ..Side::new("p384")
    };
    let p = run(Side::new("bfl-rsa"), b);
    assert_refused(
        &p,
        true,
        "certificate \"C=CH, O=iked test, CN=bfl\" is not issued by a CA configured for this connection",
    );
    // ... and the same connection accepts a certificate from `other-ca`.
    let b = Side {
        remote_cacerts: vec!["other-ca"],
        ..Side::new("p384")
    };
    assert_up(&run(Side::new("wrong-ca"), b));
    // B pins `self`; A's CA-signed certificate is valid but not the pinned one.
    let b = Side {
        pinned: vec!["self"],
        ..Side::new("p384")
    };
    let p = run(Side::new("bfl-rsa"), b);
    assert_refused(
        &p,
        true,
        "certificate \"C=CH, O=iked test, CN=bfl\" is not the configured peer certificate",
    );
}

/// `auth = pubkey` / constraint forms, DN identities, `send_cert`, `send_certreq` from
/// swanctl.conf text (the certificate files themselves are loaded by the daemon).
#[test]
fn swanctl_pubkey_rounds_convert() {
    let text = r#"
connections {
    ovs {
        local_addrs = 192.168.50.1
        remote_addrs = 192.168.50.2
        send_cert = always
        send_certreq = no
        local {
            auth = ike:rsa/pss-sha256
            id = "C=CH, O=iked test, CN=bfl"
        }
        remote {
            auth = ecdsa
            id = CN=bfr
        }
        children {
            c { mode = transport }
        }
    }
}
"#;
    let loaded = iked_conf::load_str("test.conf", text).unwrap();
    let (conns, _) = iked_ike::from_conf::convert(&loaded.config).unwrap();
    let c = &conns[0];
    let AuthMethod::Pubkey(local) = &c.local.method else {
        panic!("{:?}", c.local.method)
    };
    let AuthMethod::Pubkey(remote) = &c.remote.method else {
        panic!("{:?}", c.remote.method)
    };
    assert!(local.constraint.rsa_pss);
    assert_eq!(local.send_cert, SendCert::Always);
    assert!(!remote.send_certreq);
    assert!(
        !remote
            .constraint
            .allows(iked_crypto::auth::SignatureScheme::RsaPkcs1Sha256)
    );
    // The DN identity names the test certificate (OpenSSL encodes the values as UTF8String,
    // we as PrintableString; they compare equal as in strongSwan).
    let id = c.local.id.as_ref().unwrap();
    assert_eq!(id.kind, id_type::DER_ASN1_DN);
    assert!(cert("bfl-rsa").matches_identity(id.kind, &id.data));
    assert!(!cert("bfr-p256").matches_identity(id.kind, &id.data));
    assert_eq!(c.remote.id.as_ref().unwrap().to_string(), "CN=bfr");
    // EAP is refused with the connection named: iked_conf already refuses it
    // at load (located), and a model carrying it is refused again here.
    let eap = text.replace("auth = ecdsa", "auth = eap-tls");
    let refused = iked_conf::load_str("test.conf", &eap).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("EAP authentication is not supported"),
        "{refused}"
    );
    let mut loaded = iked_conf::load_str("test.conf", text).unwrap();
    loaded.config.connections[0].remote[0].auth = iked_conf::AuthMethod::Eap {
        method: Some("tls".into()),
    };
    let err = iked_ike::from_conf::convert(&loaded.config).unwrap_err();
    assert!(
        err.to_string().contains("'ovs'") && err.to_string().contains("eap"),
        "{err}"
    );
}
