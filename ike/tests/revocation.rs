//! Revocation (issue 18 §2) between our initiator (A = BFL) and responder (B = BFR) in virtual
//! time, on a CA, certificates and CRLs generated with rcgen: a revoked peer refused in either
//! role under the default `relaxed` policy, with the cause logged; a good one accepted; and an
//! IKE_AUTH whose status needs a CRL from the certificate's distribution point waiting for the
//! caller to fetch it (retransmissions dropped meanwhile), then deciding: accepted with a good
//! CRL, refused under `strict` when the fetch failed, accepted under `relaxed`.

mod common;

use std::sync::Arc;

use common::*;
use iked_crypto::auth::PrivateKey;
use iked_crypto::crl::{Crl, Policy};
use iked_crypto::x509::Certificate;
use iked_ike::config::{AuthMethod, IkeConfig, PubkeyAuth, PubkeyConstraint, Settings};
use iked_ike::creds::CredentialSet;
use iked_ike::engine::{Engine, Event};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber, date_time_ymd,
};

/// 2027-01-01T00:00:00Z.
const NOW: i64 = 1_798_761_600;
const CDP: &str = "http://192.0.2.80/ca.crl";

struct Pki {
    ca_params: CertificateParams,
    ca_key: KeyPair,
    ca: Certificate,
}

struct EndEntity {
    cert: Certificate,
    key: Arc<PrivateKey>,
}

impl Pki {
    fn new() -> Pki {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, "iked revocation CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let der = p.self_signed(&key).unwrap().der().to_vec();
        Pki {
            ca_params: p,
            ca_key: key,
            ca: Certificate::from_der(&der).unwrap(),
        }
    }

    fn issue(&self, name: &str, serial: u64, cdp: bool) -> EndEntity {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, name);
        p.subject_alt_names = vec![SanType::DnsName(name.try_into().unwrap())];
        p.serial_number = Some(SerialNumber::from(serial));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if cdp {
            p.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![CDP.to_string()],
            }];
        }
        let key = KeyPair::generate().unwrap();
        let signer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let der = p.signed_by(&key, &signer).unwrap().der().to_vec();
        EndEntity {
            cert: Certificate::from_der(&der).unwrap(),
            key: Arc::new(PrivateKey::from_pem(key.serialize_pem().as_bytes()).unwrap()),
        }
    }

    fn crl(&self, revoked: &[u64]) -> Crl {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2026, 12, 1),
            next_update: date_time_ymd(2027, 2, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: date_time_ymd(2026, 11, 20),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let signer = Issuer::from_params(&self.ca_params, &self.ca_key);
        Crl::from_der(params.signed_by(&signer).unwrap().der()).unwrap()
    }
}

/// Our certificate, the CA, the remote side's `revocation`, and the CRLs held.
fn apply(
    conn: &mut IkeConfig,
    pki: &Pki,
    me: &EndEntity,
    policy: Policy,
    crls: Vec<Crl>,
) -> CredentialSet {
    let mut local = PubkeyAuth::new(PubkeyConstraint::from_spec("pubkey").unwrap());
    local.certs = vec![me.cert.clone()];
    let mut remote = PubkeyAuth::new(PubkeyConstraint::from_spec("pubkey").unwrap());
    remote.revocation = policy;
    conn.local.method = AuthMethod::Pubkey(Box::new(local));
    conn.local.id = None;
    conn.remote.method = AuthMethod::Pubkey(Box::new(remote));
    conn.remote.id = None;
    CredentialSet {
        keys: vec![me.key.clone()],
        cas: vec![pki.ca.clone()],
        crls,
        ..CredentialSet::default()
    }
}

struct Setup {
    a_policy: Policy,
    b_policy: Policy,
    a_crls: Vec<Crl>,
    b_crls: Vec<Crl>,
}

fn pair(pki: &Pki, a: &EndEntity, b: &EndEntity, s: Setup) -> Pair {
    let (mut l, _) = seed_config(true);
    let (mut r, _) = seed_config(false);
    let a_creds = apply(&mut l, pki, a, s.a_policy, s.a_crls);
    let b_creds = apply(&mut r, pki, b, s.b_policy, s.b_crls);
    let mut ea = Engine::new(Settings::default(), vec![l], vec![], Box::new(TestRng(1)));
    let mut eb = Engine::new(Settings::default(), vec![r], vec![], Box::new(TestRng(2)));
    ea.set_credentials(Arc::new(a_creds));
    eb.set_credentials(Arc::new(b_creds));
    ea.set_wall_clock(NOW);
    eb.set_wall_clock(NOW);
    let mut p = Pair::new(ea, BFL.parse().unwrap(), eb, BFR.parse().unwrap());
    let now = p.now;
    p.a.engine.initiate(now, "BFL-BFR", &["bf-in"]).unwrap();
    // Long enough for A's first retransmission, short of B's half-open timeout.
    p.run_for(std::time::Duration::from_secs(10));
    p
}

fn up(ep: &Endpoint) -> bool {
    ep.events.iter().any(|e| matches!(e, Event::IkeUp { .. }))
}

fn failed_with(ep: &Endpoint, cause: &str) -> bool {
    ep.events
        .iter()
        .any(|e| matches!(e, Event::IkeFailed { reason, .. } if reason.contains(cause)))
}

fn fetches(ep: &Endpoint) -> Vec<Vec<String>> {
    ep.events
        .iter()
        .filter_map(|e| match e {
            Event::FetchCrls { uris, .. } => Some(uris.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn revoked_initiator_refused_by_relaxed_responder() {
    let pki = Pki::new();
    let (a, b) = (pki.issue("bfl", 10, false), pki.issue("bfr", 11, false));
    let p = pair(
        &pki,
        &a,
        &b,
        Setup {
            a_policy: Policy::Relaxed,
            b_policy: Policy::Relaxed,
            a_crls: vec![],
            b_crls: vec![pki.crl(&[10])],
        },
    );
    let cause =
        "certificate \"CN=bfl\" was revoked on Nov 20 00:00:00 2026 +00:00, reason: keyCompromise";
    assert!(failed_with(&p.b, cause), "{:#?}", p.b.logs());
    assert!(
        p.b.has_log("sending AUTH_FAILED notify to the peer"),
        "{:#?}",
        p.b.logs()
    );
    assert!(!up(&p.a) && !up(&p.b));
    assert_eq!(p.a.engine.ike_sa_count() + p.b.engine.ike_sa_count(), 0);
    assert_eq!(p.b.kernel.leftovers(), Vec::<String>::new());
}

#[test]
fn revoked_responder_refused_by_initiator() {
    let pki = Pki::new();
    let (a, b) = (pki.issue("bfl", 10, false), pki.issue("bfr", 11, false));
    let p = pair(
        &pki,
        &a,
        &b,
        Setup {
            a_policy: Policy::Relaxed,
            b_policy: Policy::Relaxed,
            a_crls: vec![pki.crl(&[11])],
            b_crls: vec![],
        },
    );
    assert!(
        failed_with(&p.a, "\"CN=bfr\" was revoked"),
        "{:#?}",
        p.a.logs()
    );
    assert!(!up(&p.a));
    assert_eq!(p.a.engine.ike_sa_count(), 0);
}

#[test]
fn good_certificates_accepted_under_strict_with_current_crls() {
    let pki = Pki::new();
    let (a, b) = (pki.issue("bfl", 10, false), pki.issue("bfr", 11, false));
    let crl = pki.crl(&[99]);
    let p = pair(
        &pki,
        &a,
        &b,
        Setup {
            a_policy: Policy::Strict,
            b_policy: Policy::Strict,
            a_crls: vec![crl.clone()],
            b_crls: vec![crl],
        },
    );
    assert!(up(&p.a) && up(&p.b), "{:#?}", p.b.logs());
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
    assert!(fetches(&p.b).is_empty());
}

#[test]
fn strict_without_any_crl_refuses_a_certificate_without_uris() {
    let pki = Pki::new();
    let (a, b) = (pki.issue("bfl", 10, false), pki.issue("bfr", 11, false));
    let p = pair(
        &pki,
        &a,
        &b,
        Setup {
            a_policy: Policy::IfUri,
            b_policy: Policy::Strict,
            a_crls: vec![],
            b_crls: vec![],
        },
    );
    assert!(
        failed_with(&p.b, "without revocation information"),
        "{:#?}",
        p.b.logs()
    );
    // ifuri on A accepted B's certificate (no URI), so A reached the point of being told.
    assert!(fetches(&p.a).is_empty() && fetches(&p.b).is_empty());
}

/// B's IKE_AUTH waits for the CRL at A's distribution point; `fetched` is what the caller got.
fn fetch_then(policy: Policy, fetched: Option<Crl>) -> Pair {
    let pki = Pki::new();
    let (a, b) = (pki.issue("bfl", 10, true), pki.issue("bfr", 11, false));
    let mut p = pair(
        &pki,
        &a,
        &b,
        Setup {
            a_policy: Policy::Relaxed,
            b_policy: policy,
            a_crls: vec![],
            b_crls: vec![],
        },
    );
    // Waiting: nothing answered or failed yet, one fetch asked for.
    assert_eq!(fetches(&p.b), vec![vec![CDP.to_string()]]);
    assert!(
        !up(&p.b)
            && !p
                .b
                .events
                .iter()
                .any(|e| matches!(e, Event::IkeFailed { .. }))
    );
    assert!(p.b.has_log("certificate status needs CRLs from http://192.0.2.80/ca.crl"));
    // A retransmitted meanwhile (at 4 s): dropped, no second fetch.
    assert!(p.a.has_log("retransmit 1 of request"), "{:#?}", p.a.logs());
    assert_eq!(fetches(&p.b).len(), 1, "{:#?}", p.b.logs());
    // The caller's answer: the CRL (or nothing), and when to ask again.
    let mut creds = CredentialSet {
        keys: vec![b.key.clone()],
        cas: vec![pki.ca.clone()],
        ..CredentialSet::default()
    };
    creds.crls.extend(fetched);
    creds.crl_retry.insert(CDP.to_string(), NOW + 60);
    p.b.engine.set_credentials(Arc::new(creds));
    let now = p.now;
    p.b.engine.crls_fetched(now);
    p.run();
    assert_eq!(fetches(&p.b).len(), 1, "asked again: {:#?}", p.b.logs());
    p
}

#[test]
fn fetched_good_crl_lets_the_waiting_auth_complete() {
    let p = {
        // The CRL must come from the same CA as the certificates: built inside.
        let pki = Pki::new();
        let (a, b) = (pki.issue("bfl", 10, true), pki.issue("bfr", 11, false));
        let mut p = pair(
            &pki,
            &a,
            &b,
            Setup {
                a_policy: Policy::Relaxed,
                b_policy: Policy::Strict,
                a_crls: vec![],
                b_crls: vec![],
            },
        );
        assert_eq!(fetches(&p.b).len(), 1);
        let mut creds = CredentialSet {
            keys: vec![b.key.clone()],
            cas: vec![pki.ca.clone()],
            crls: vec![pki.crl(&[77])],
            ..CredentialSet::default()
        };
        creds.crl_retry.insert(CDP.to_string(), NOW + 3600);
        p.b.engine.set_credentials(Arc::new(creds));
        let now = p.now;
        p.b.engine.crls_fetched(now);
        p.run();
        p
    };
    assert!(up(&p.a) && up(&p.b), "{:#?}", p.b.logs());
    assert_eq!(assert_kernels_match(&p.a.kernel, &p.b.kernel), 2);
}

#[test]
fn strict_refuses_when_the_crl_could_not_be_fetched() {
    let p = fetch_then(Policy::Strict, None);
    assert!(
        failed_with(&p.b, "is unavailable, but revocation = strict"),
        "{:#?}",
        p.b.logs()
    );
    assert!(!up(&p.a));
}

#[test]
fn ifuri_refuses_and_relaxed_accepts_when_the_crl_could_not_be_fetched() {
    let p = fetch_then(Policy::IfUri, None);
    assert!(failed_with(&p.b, "revocation = ifuri"), "{:#?}", p.b.logs());
    let p = fetch_then(Policy::Relaxed, None);
    assert!(up(&p.a) && up(&p.b), "{:#?}", p.b.logs());
}
