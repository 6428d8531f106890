//! Revocation (issue 18 §2) on CRLs generated at test time with rcgen: loading (PEM, DER,
//! refused delta and critical-IDP CRLs), signature and issuer checks, revoked / good / stale /
//! unavailable / no-information statuses, the newest CRL deciding, and swanctl.conf's three
//! `revocation` policies on each status.

use iked_crypto::crl::{Crl, CrlError, LinkStatus, Policy, RevocationError, link_status};
use iked_crypto::x509::{Certificate, verify_path};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    CrlIssuingDistributionPoint, CrlScope, DnType, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SerialNumber, date_time_ymd,
};

/// 2027-01-01T00:00:00Z.
const NOW: i64 = 1_798_761_600;

struct Node {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

impl Node {
    fn cert(&self) -> Certificate {
        Certificate::from_der(&self.der).unwrap()
    }
}

fn ca(cn: &str, usages: Vec<KeyUsagePurpose>) -> Node {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = usages;
    let key = KeyPair::generate().unwrap();
    let der = p.self_signed(&key).unwrap().der().to_vec();
    Node {
        params: p,
        key,
        der,
    }
}

fn root(cn: &str) -> Node {
    ca(
        cn,
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
    )
}

fn peer(issuer: &Node, cn: &str, serial: u64, cdp: Option<&str>) -> Node {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::ExplicitNoCa;
    p.serial_number = Some(SerialNumber::from(serial));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if let Some(uri) = cdp {
        p.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![uri.to_string()],
        }];
    }
    let key = KeyPair::generate().unwrap();
    let signer = Issuer::from_params(&issuer.params, &issuer.key);
    let der = p.signed_by(&key, &signer).unwrap().der().to_vec();
    Node {
        params: p,
        key,
        der,
    }
}

struct CrlSpec {
    number: u64,
    this_update: (i32, u8, u8),
    next_update: (i32, u8, u8),
    revoked: Vec<u64>,
}

impl Default for CrlSpec {
    fn default() -> Self {
        Self {
            number: 1,
            this_update: (2026, 12, 1),
            next_update: (2027, 2, 1),
            revoked: vec![],
        }
    }
}

fn crl_params(spec: CrlSpec) -> CertificateRevocationListParams {
    let d = |(y, m, day): (i32, u8, u8)| date_time_ymd(y, m, day);
    CertificateRevocationListParams {
        this_update: d(spec.this_update),
        next_update: d(spec.next_update),
        crl_number: SerialNumber::from(spec.number),
        issuing_distribution_point: None,
        revoked_certs: spec
            .revoked
            .into_iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(s),
                revocation_time: date_time_ymd(2026, 11, 20),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
}

fn crl(issuer: &Node, spec: CrlSpec) -> Crl {
    let signer = Issuer::from_params(&issuer.params, &issuer.key);
    let der = crl_params(spec).signed_by(&signer).unwrap().der().to_vec();
    Crl::from_der(&der).unwrap()
}

#[test]
fn loads_pem_and_der_and_reads_fields() {
    let ca = root("CA");
    let signer = Issuer::from_params(&ca.params, &ca.key);
    let made = crl_params(CrlSpec {
        number: 7,
        revoked: vec![0x1234, 5],
        ..Default::default()
    })
    .signed_by(&signer)
    .unwrap();
    let from_pem = Crl::load(made.pem().unwrap().as_bytes()).unwrap();
    let from_der = Crl::load(made.der()).unwrap();
    assert_eq!(from_pem, from_der);
    assert_eq!(from_der.issuer(), "CN=CA");
    assert_eq!(from_der.this_update(), 1_796_083_200); // 2026-12-01
    assert_eq!(from_der.next_update(), Some(1_801_440_000)); // 2027-02-01
    let serials: Vec<&[u8]> = from_der.revoked().iter().map(|r| &r.serial[..]).collect();
    assert_eq!(serials, vec![&[0x12, 0x34][..], &[5][..]]);
    assert_eq!(
        from_der.revoked()[0].reason.as_deref(),
        Some("keyCompromise")
    );
    // Trailing data and garbage are refused, not misread.
    let mut long = made.der().to_vec();
    long.push(0);
    assert!(matches!(Crl::from_der(&long), Err(CrlError::Malformed(_))));
    assert!(matches!(
        Crl::load(b"not a crl"),
        Err(CrlError::Malformed(_))
    ));
}

#[test]
fn revoked_good_stale_and_unknown_statuses() {
    let ca = root("CA");
    let revoked = peer(&ca, "revoked", 42, Some("http://127.0.0.1/ca.crl"));
    let good = peer(&ca, "good", 43, Some("http://127.0.0.1/ca.crl"));
    let bare = peer(&ca, "bare", 44, None);
    let list = [crl(
        &ca,
        CrlSpec {
            revoked: vec![42],
            ..Default::default()
        },
    )];
    let st = |n: &Node, crls: &[Crl], now| link_status(&n.cert(), &ca.cert(), crls, now);
    match st(&revoked, &list, NOW) {
        LinkStatus::Revoked(r) => {
            assert_eq!(r.serial, vec![42]);
            assert_eq!(r.date, 1_795_132_800); // 2026-11-20
            assert_eq!(r.date_text, "Nov 20 00:00:00 2026 +00:00");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        st(&good, &list, NOW),
        LinkStatus::Good {
            until: Some(1_801_440_000)
        }
    );
    // Past nextUpdate: stale, but a listed serial is still revoked.
    let later = 1_801_440_000 + 1;
    assert_eq!(
        st(&good, &list, later),
        LinkStatus::Stale {
            since: 1_801_440_000
        }
    );
    assert!(matches!(st(&revoked, &list, later), LinkStatus::Revoked(_)));
    // Without a CRL: unavailable when the certificate names a CDP, no information otherwise.
    assert_eq!(st(&good, &[], NOW), LinkStatus::Unavailable);
    assert_eq!(st(&bare, &[], NOW), LinkStatus::NoInfo);
    // A CRL held counts even for a certificate that names no distribution point.
    assert!(matches!(st(&bare, &list, NOW), LinkStatus::Good { .. }));
}

#[test]
fn only_the_issuers_signed_crl_counts() {
    let ca = root("CA");
    let other = root("Other CA");
    // Same DN, other key: a forged CRL claiming to be the CA's.
    let impostor = root("CA");
    let cert = peer(&ca, "peer", 42, Some("http://x/ca.crl"));
    let spec = || CrlSpec {
        revoked: vec![42],
        ..Default::default()
    };
    let forged = [crl(&other, spec()), crl(&impostor, spec())];
    assert_eq!(
        link_status(&cert.cert(), &ca.cert(), &forged, NOW),
        LinkStatus::Unavailable
    );
    assert!(!forged[1].is_signed_by(&ca.cert()));
    // A CA whose keyUsage lacks cRLSign cannot sign CRLs (RFC 5280 4.2.1.3).
    let no_crl_sign = ca_without_crl_sign();
    let cert2 = peer(&no_crl_sign, "peer2", 42, None);
    // rcgen will not sign a CRL with such a CA: sign with the same key and name, the
    // certificate iked holds still lacks cRLSign.
    let mut signing = no_crl_sign.params.clone();
    signing.key_usages.push(KeyUsagePurpose::CrlSign);
    let der = crl_params(spec())
        .signed_by(&Issuer::from_params(&signing, &no_crl_sign.key))
        .unwrap()
        .der()
        .to_vec();
    let list = [Crl::from_der(&der).unwrap()];
    assert!(!list[0].is_signed_by(&no_crl_sign.cert()));
    assert_eq!(
        link_status(&cert2.cert(), &no_crl_sign.cert(), &list, NOW),
        LinkStatus::NoInfo
    );
}

fn ca_without_crl_sign() -> Node {
    ca("Signer only", vec![KeyUsagePurpose::KeyCertSign])
}

#[test]
fn the_newest_crl_decides() {
    let ca = root("CA");
    let cert = peer(&ca, "peer", 9, Some("http://x/ca.crl"));
    let old = crl(
        &ca,
        CrlSpec {
            number: 1,
            this_update: (2026, 10, 1),
            next_update: (2026, 11, 1),
            ..Default::default()
        },
    );
    let new = crl(
        &ca,
        CrlSpec {
            number: 2,
            ..Default::default()
        },
    );
    assert!(new.is_newer_than(&old) && !old.is_newer_than(&new));
    for list in [vec![old.clone(), new.clone()], vec![new, old]] {
        assert!(matches!(
            link_status(&cert.cert(), &ca.cert(), &list, NOW),
            LinkStatus::Good { .. }
        ));
    }
}

#[test]
fn delta_and_scoped_crls_are_refused_at_load() {
    let ca = root("CA");
    let signer = Issuer::from_params(&ca.params, &ca.key);
    let mut p = crl_params(CrlSpec::default());
    p.issuing_distribution_point = Some(CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint {
            uris: vec!["http://x/ca.crl".into()],
        },
        scope: Some(CrlScope::UserCertsOnly),
    });
    let der = p.signed_by(&signer).unwrap().der().to_vec();
    match Crl::from_der(&der) {
        Err(CrlError::UnknownCriticalExtension { issuer, oid }) => {
            assert_eq!(issuer, "CN=CA");
            assert_eq!(oid, "2.5.29.28");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn policies_mean_what_swanctl_conf_documents() {
    let ca = root("CA");
    let cert = peer(&ca, "peer", 1, Some("http://x/ca.crl")).cert();
    let revoked = LinkStatus::Revoked(iked_crypto::crl::Revoked {
        serial: vec![1],
        date: 5,
        date_text: "Jan  1 00:00:05 1970 +00:00".into(),
        reason: None,
    });
    let good = LinkStatus::Good { until: None };
    let stale = LinkStatus::Stale { since: 1 };
    let cases = [
        // (status, strict, ifuri, relaxed)
        (&revoked, false, false, false),
        (&good, true, true, true),
        (&stale, false, false, true),
        (&LinkStatus::Unavailable, false, false, true),
        (&LinkStatus::NoInfo, false, true, true),
    ];
    for (status, strict, ifuri, relaxed) in cases {
        assert_eq!(
            Policy::Strict.accepts(&cert, status).is_ok(),
            strict,
            "{status:?}"
        );
        assert_eq!(
            Policy::IfUri.accepts(&cert, status).is_ok(),
            ifuri,
            "{status:?}"
        );
        assert_eq!(
            Policy::Relaxed.accepts(&cert, status).is_ok(),
            relaxed,
            "{status:?}"
        );
    }
    let err = Policy::Relaxed.accepts(&cert, &revoked).unwrap_err();
    assert!(matches!(err, RevocationError::Revoked { .. }));
    assert_eq!(
        err.to_string(),
        "certificate \"CN=peer\" was revoked on Jan  1 00:00:05 1970 +00:00, reason: unspecified"
    );
    let err = Policy::Strict
        .accepts(&cert, &LinkStatus::Unavailable)
        .unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
}

/// authorityInfoAccess with one OCSP responder URI (RFC 5280 4.2.2.1), DER.
fn aia_ocsp(uri: &str) -> rcgen::CustomExtension {
    let der = |tag: u8, body: &[u8]| {
        let mut v = vec![tag, u8::try_from(body.len()).unwrap()];
        v.extend_from_slice(body);
        v
    };
    // id-ad-ocsp 1.3.6.1.5.5.7.48.1
    let method = der(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
    let location = der(0x86, uri.as_bytes());
    let access = der(0x30, &[method, location].concat());
    // id-pe-authorityInfoAccess 1.3.6.1.5.5.7.1.1
    rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], der(0x30, &access))
}

/// Without OCSP, a certificate whose only revocation source is an OCSP responder has no
/// status iked can learn: `strict` and `ifuri` refuse it, naming why, `relaxed` accepts it.
/// Never more peers than the operator wrote.
#[test]
fn ocsp_only_certificate_is_refused_by_strict_and_ifuri() {
    let ca = root("CA");
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, "ocsp-only");
    p.is_ca = IsCa::ExplicitNoCa;
    p.serial_number = Some(SerialNumber::from(9u64));
    p.custom_extensions = vec![aia_ocsp("http://ocsp.example/")];
    let signer = Issuer::from_params(&ca.params, &ca.key);
    let der = p
        .signed_by(&KeyPair::generate().unwrap(), &signer)
        .unwrap()
        .der()
        .to_vec();
    let cert = Certificate::from_der(&der).unwrap();
    assert_eq!(cert.ocsp_uris(), ["http://ocsp.example/"]);
    assert!(cert.crl_uris().is_empty());
    // No CRL of this CA is held.
    let status = link_status(&cert, &ca.cert(), &[], NOW);
    assert_eq!(status, LinkStatus::Unavailable);
    for policy in [Policy::Strict, Policy::IfUri] {
        let err = policy.accepts(&cert, &status).unwrap_err();
        assert!(
            err.to_string()
                .contains("names only an OCSP responder; iked does not do OCSP"),
            "{err}"
        );
    }
    assert!(Policy::Relaxed.accepts(&cert, &status).is_ok());
    // A current CRL from the issuer still decides, OCSP URI or not.
    let held = [crl(&ca, CrlSpec::default())];
    let status = link_status(&cert, &ca.cert(), &held, NOW);
    assert!(matches!(status, LinkStatus::Good { .. }), "{status:?}");
    assert!(Policy::Strict.accepts(&cert, &status).is_ok());
}

#[test]
fn verify_path_returns_every_link() {
    let root = root("Root");
    let mut ip = CertificateParams::default();
    ip.distinguished_name
        .push(DnType::CommonName, "Intermediate");
    ip.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ip.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ikey = KeyPair::generate().unwrap();
    let der = ip
        .signed_by(&ikey, &Issuer::from_params(&root.params, &root.key))
        .unwrap()
        .der()
        .to_vec();
    let inter = Node {
        params: ip,
        key: ikey,
        der,
    };
    let end = peer(&inter, "end", 3, None);
    let ints = [inter.cert()];
    let anchors = [root.cert()];
    let end_cert = end.cert();
    let (anchor, path) = verify_path(&end_cert, &ints, &anchors, &[], NOW).unwrap();
    assert_eq!(anchor, Some(&anchors[0]));
    let names: Vec<&str> = path.iter().map(|c| c.subject()).collect();
    assert_eq!(names, ["CN=end", "CN=Intermediate", "CN=Root"]);
}
