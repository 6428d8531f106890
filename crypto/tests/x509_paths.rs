//! RFC 5280 path validation (issue 18 §1) on hierarchies generated at test time with rcgen:
//! pathLenConstraint, nameConstraints (DNS, IP, email, DN; permitted and excluded, from every
//! CA in the path), unknown critical extensions, a CA without keyCertSign and an end entity
//! used as a CA, plus valid constrained hierarchies that must be accepted.

use std::net::IpAddr;

use iked_crypto::x509::{CertError, Certificate, verify_chain};
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, CustomExtension, DistinguishedName, DnType,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};

/// 2027-01-01T00:00:00Z; rcgen's default validity (1975-4096) covers it.
const NOW: i64 = 1_798_761_600;

/// A generated certificate with its key (to issue more) and its parameters (the issuer name).
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

fn dn(rdns: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in rdns {
        dn.push(t.clone(), *v);
    }
    dn
}

fn base_dn(cn: &str) -> DistinguishedName {
    dn(&[
        (DnType::CountryName, "CH"),
        (DnType::OrganizationName, "iked test"),
        (DnType::CommonName, cn),
    ])
}

fn ca_params(cn: &str, path_len: Option<u8>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = base_dn(cn);
    p.is_ca = IsCa::Ca(path_len.map_or(
        BasicConstraints::Unconstrained,
        BasicConstraints::Constrained,
    ));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn ee_params(cn: &str, sans: Vec<SanType>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = base_dn(cn);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.subject_alt_names = sans;
    p
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

fn email(addr: &str) -> SanType {
    SanType::Rfc822Name(addr.try_into().unwrap())
}

fn ip(addr: &str) -> SanType {
    SanType::IpAddress(addr.parse::<IpAddr>().unwrap())
}

fn self_signed(params: CertificateParams) -> Node {
    let key = KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Node { params, key, der }
}

fn issue(issuer: &Node, params: CertificateParams) -> Node {
    let key = KeyPair::generate().unwrap();
    let signer = Issuer::from_params(&issuer.params, &issuer.key);
    let der = params.signed_by(&key, &signer).unwrap().der().to_vec();
    Node { params, key, der }
}

/// A critical extension with a private-arc OID no implementation processes.
fn unknown_critical() -> CustomExtension {
    let mut ext =
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![0x05, 0x00]);
    ext.set_criticality(true);
    ext
}

fn verify(end: &Node, intermediates: &[&Node], root: &Node) -> Result<(), CertError> {
    let ints: Vec<Certificate> = intermediates.iter().map(|n| n.cert()).collect();
    let anchors = [root.cert()];
    verify_chain(&end.cert(), &ints, &anchors, &[], NOW).map(|anchor| {
        assert_eq!(anchor, Some(&anchors[0]));
    })
}

/// The constraints of the positive hierarchy: what bfl's names fall in, and holes in it.
fn constrained_root(path_len: Option<u8>) -> Node {
    let mut p = ca_params("constrained root", path_len);
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("example.org".into()),
            GeneralSubtree::IpAddress(CidrSubnet::V4([192, 168, 50, 0], [255, 255, 255, 0])),
            GeneralSubtree::IpAddress(CidrSubnet::V6(
                [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            )),
            GeneralSubtree::Rfc822Name("example.org".into()),
            GeneralSubtree::DirectoryName(dn(&[
                (DnType::CountryName, "CH"),
                (DnType::OrganizationName, "iked test"),
            ])),
        ],
        excluded_subtrees: vec![
            GeneralSubtree::DnsName("bad.example.org".into()),
            GeneralSubtree::IpAddress(CidrSubnet::V4([192, 168, 50, 128], [255, 255, 255, 128])),
            GeneralSubtree::Rfc822Name("bad@example.org".into()),
            GeneralSubtree::DirectoryName(dn(&[
                (DnType::CountryName, "CH"),
                (DnType::OrganizationName, "iked test"),
                (DnType::OrganizationalUnitName, "quarantine"),
            ])),
        ],
    });
    self_signed(p)
}

fn good_sans() -> Vec<SanType> {
    vec![
        dns("bfl.example.org"),
        ip("192.168.50.1"),
        ip("2001:db8::1"),
        email("bfl@example.org"),
    ]
}

#[test]
fn valid_constrained_hierarchy_is_accepted() {
    let root = constrained_root(Some(1));
    let int = issue(&root, ca_params("intermediate", Some(0)));
    let bfl = issue(&int, ee_params("bfl", good_sans()));
    verify(&bfl, &[&int], &root).unwrap();
    // The root's DN constraint is on the subject's leading RDNs, case-insensitively.
    let mut upper = ee_params("bfl", good_sans());
    upper.distinguished_name = dn(&[
        (DnType::CountryName, "ch"),
        (DnType::OrganizationName, "IKED TEST"),
        (DnType::CommonName, "bfl"),
    ]);
    verify(&issue(&int, upper), &[&int], &root).unwrap();
    // A subtree base matches itself and every name below it.
    let apex = issue(&int, ee_params("apex", vec![dns("example.org")]));
    verify(&apex, &[&int], &root).unwrap();
}

/// A self-issued intermediate (key rollover: same name as its issuer) is not counted by
/// pathLenConstraint (RFC 5280 6.1.4 (l)).
#[test]
fn self_issued_intermediates_do_not_count_against_path_length() {
    let root = self_signed(ca_params("root", Some(0)));
    let rollover = issue(&root, ca_params("root", None));
    let end = issue(&rollover, ee_params("bfl", vec![dns("bfl.example.org")]));
    verify(&end, &[&rollover], &root).unwrap();
}

#[test]
fn path_length_exceeded_is_refused_naming_the_ca() {
    // Root pathLen 0, one intermediate below it.
    let root = self_signed(ca_params("root", Some(0)));
    let int = issue(&root, ca_params("intermediate", None));
    let end = issue(&int, ee_params("bfl", vec![dns("bfl.example.org")]));
    let err = verify(&end, &[&int], &root).unwrap_err();
    assert_eq!(
        err,
        CertError::PathLenExceeded {
            subject: "C=CH, O=iked test, CN=root".into(),
            path_len: 0,
            intermediates: 1,
        }
    );
    assert!(err.to_string().contains("pathLenConstraint of 0"), "{err}");

    // An intermediate with pathLen 0 issuing a sub-CA: the sub-CA's end entity is refused.
    let root = self_signed(ca_params("root", None));
    let int = issue(&root, ca_params("intermediate", Some(0)));
    let sub = issue(&int, ca_params("sub", None));
    let end = issue(&sub, ee_params("bfl", vec![dns("bfl.example.org")]));
    assert_eq!(
        verify(&end, &[&sub, &int], &root).unwrap_err(),
        CertError::PathLenExceeded {
            subject: "C=CH, O=iked test, CN=intermediate".into(),
            path_len: 0,
            intermediates: 1,
        }
    );
    // Root pathLen 1 over two intermediates.
    let root = self_signed(ca_params("root", Some(1)));
    let int = issue(&root, ca_params("intermediate", None));
    let sub = issue(&int, ca_params("sub", None));
    let end = issue(&sub, ee_params("bfl", vec![dns("bfl.example.org")]));
    assert!(matches!(
        verify(&end, &[&int, &sub], &root),
        Err(CertError::PathLenExceeded {
            path_len: 1,
            intermediates: 2,
            ..
        })
    ));
}

/// Asserts a NameConstraint error for `name` against the constrained root.
fn assert_name_violation(result: Result<(), CertError>, name: &str, why: &str) {
    match result {
        Err(CertError::NameConstraint(v)) => {
            assert_eq!(v.name, name);
            assert_eq!(v.ca, "C=CH, O=iked test, CN=constrained root");
            assert!(v.why.contains(why), "{}", v.why);
            assert!(v.subject.contains("CN="), "{}", v.subject);
        }
        other => panic!("expected a name constraint violation of {name}, got {other:?}"),
    }
}

#[test]
fn permitted_subtrees_are_enforced_through_an_intermediate() {
    let root = constrained_root(None);
    // The intermediate has no constraints of its own: the root's reach the end entity.
    let int = issue(&root, ca_params("intermediate", None));
    let outside = "not within any permitted subtree";
    let cases = [
        (dns("bfl.example.com"), "DNS:bfl.example.com"),
        // Suffix without a label boundary is not below example.org.
        (dns("evilexample.org"), "DNS:evilexample.org"),
        (ip("10.0.0.1"), "IP:10.0.0.1"),
        (ip("2001:db9::1"), "IP:2001:db9::1"),
        (email("bfl@example.com"), "email:bfl@example.com"),
    ];
    for (san, name) in cases {
        let end = issue(&int, ee_params("bfl", vec![san]));
        assert_name_violation(verify(&end, &[&int], &root), name, outside);
    }
    // Subject DN outside C=CH, O=iked test.
    let mut other_org = ee_params("bfl", vec![dns("bfl.example.org")]);
    other_org.distinguished_name = dn(&[
        (DnType::CountryName, "CH"),
        (DnType::OrganizationName, "other"),
        (DnType::CommonName, "bfl"),
    ]);
    let end = issue(&int, other_org);
    assert_name_violation(
        verify(&end, &[&int], &root),
        "DN:C=CH, O=other, CN=bfl",
        outside,
    );
    // emailAddress in the subject DN is an rfc822Name too (RFC 5280 4.2.1.10).
    let mut dn_email = ee_params("bfl", vec![dns("bfl.example.org")]);
    dn_email.distinguished_name.push(
        DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        "bfl@example.com",
    );
    let end = issue(&int, dn_email);
    assert_name_violation(
        verify(&end, &[&int], &root),
        "email:bfl@example.com",
        outside,
    );
    // The root's constraints apply to the intermediate's own subject too.
    let mut int_params = ca_params("intermediate", None);
    int_params.distinguished_name = dn(&[(DnType::CommonName, "rogue intermediate")]);
    let rogue = issue(&root, int_params);
    let end = issue(&rogue, ee_params("bfl", good_sans()));
    assert_name_violation(
        verify(&end, &[&rogue], &root),
        "DN:CN=rogue intermediate",
        outside,
    );
}

#[test]
fn excluded_subtrees_are_enforced() {
    let root = constrained_root(None);
    let int = issue(&root, ca_params("intermediate", None));
    let cases = [
        (
            dns("bad.example.org"),
            "DNS:bad.example.org",
            "DNS:bad.example.org",
        ),
        (
            dns("host.bad.example.org"),
            "DNS:host.bad.example.org",
            "DNS:bad.example.org",
        ),
        (
            ip("192.168.50.200"),
            "IP:192.168.50.200",
            "IP:192.168.50.128/255.255.255.128",
        ),
        (
            email("bad@example.org"),
            "email:bad@example.org",
            "email:bad@example.org",
        ),
    ];
    for (san, name, tree) in cases {
        let mut sans = good_sans();
        sans.push(san);
        let end = issue(&int, ee_params("bfl", sans));
        assert_name_violation(
            verify(&end, &[&int], &root),
            name,
            &format!("within excluded subtree {tree}"),
        );
    }
    let mut quarantined = ee_params("bfl", good_sans());
    quarantined.distinguished_name = dn(&[
        (DnType::CountryName, "CH"),
        (DnType::OrganizationName, "iked test"),
        (DnType::OrganizationalUnitName, "quarantine"),
        (DnType::CommonName, "bfl"),
    ]);
    let end = issue(&int, quarantined);
    assert_name_violation(
        verify(&end, &[&int], &root),
        "DN:C=CH, O=iked test, OU=quarantine, CN=bfl",
        "within excluded subtree DN:C=CH, O=iked test, OU=quarantine",
    );
}

/// Constraints on an intermediate bind its end entities even when the root has none.
#[test]
fn intermediate_name_constraints_apply() {
    let root = self_signed(ca_params("root", None));
    let mut p = ca_params("constrained intermediate", None);
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("vpn.example.org".into())],
        excluded_subtrees: vec![],
    });
    let int = issue(&root, p);
    let ok = issue(&int, ee_params("gw", vec![dns("gw1.vpn.example.org")]));
    verify(&ok, &[&int], &root).unwrap();
    let bad = issue(&int, ee_params("gw", vec![dns("www.example.org")]));
    match verify(&bad, &[&int], &root) {
        Err(CertError::NameConstraint(v)) => {
            assert_eq!(v.ca, "C=CH, O=iked test, CN=constrained intermediate");
            assert_eq!(v.name, "DNS:www.example.org");
        }
        other => panic!("expected a name constraint violation, got {other:?}"),
    }
}

#[test]
fn unknown_critical_extensions_are_refused_naming_the_oid() {
    let root = self_signed(ca_params("root", None));
    let mut p = ee_params("bfl", vec![dns("bfl.example.org")]);
    p.custom_extensions = vec![unknown_critical()];
    let end = issue(&root, p);
    let want = CertError::UnknownCriticalExtension {
        subject: "C=CH, O=iked test, CN=bfl".into(),
        oid: "1.3.6.1.4.1.55555.1".into(),
    };
    assert_eq!(verify(&end, &[], &root).unwrap_err(), want);
    // Pinned, too: charon does not load such a certificate at all.
    assert_eq!(
        verify_chain(&end.cert(), &[], &[], &[end.cert()], NOW).unwrap_err(),
        want
    );
    // On an intermediate.
    let mut p = ca_params("intermediate", None);
    p.custom_extensions = vec![unknown_critical()];
    let int = issue(&root, p);
    let end = issue(&int, ee_params("bfl", vec![dns("bfl.example.org")]));
    assert_eq!(
        verify(&end, &[&int], &root).unwrap_err(),
        CertError::UnknownCriticalExtension {
            subject: "C=CH, O=iked test, CN=intermediate".into(),
            oid: "1.3.6.1.4.1.55555.1".into(),
        }
    );
    // The same extension, not critical, is ignored.
    let mut p = ee_params("bfl", vec![dns("bfl.example.org")]);
    let mut ext = unknown_critical();
    ext.set_criticality(false);
    p.custom_extensions = vec![ext];
    verify(&issue(&root, p), &[], &root).unwrap();
}

#[test]
fn ca_without_key_cert_sign_is_refused() {
    let root = self_signed(ca_params("root", None));
    let mut p = ca_params("intermediate", None);
    p.key_usages = vec![KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let int = issue(&root, p);
    let end = issue(&int, ee_params("bfl", vec![dns("bfl.example.org")]));
    let err = verify(&end, &[&int], &root).unwrap_err();
    assert_eq!(
        err,
        CertError::NoKeyCertSign {
            subject: "C=CH, O=iked test, CN=intermediate".into()
        }
    );
    assert!(err.to_string().contains("keyCertSign"), "{err}");
}

#[test]
fn end_entity_used_as_a_ca_is_refused() {
    let root = self_signed(ca_params("root", None));
    // CA:FALSE, even with keyCertSign in its keyUsage.
    let mut p = ee_params("bfl", vec![dns("bfl.example.org")]);
    p.key_usages.push(KeyUsagePurpose::KeyCertSign);
    let bfl = issue(&root, p);
    let end = issue(&bfl, ee_params("by-ee", vec![dns("by-ee.example.org")]));
    let err = verify(&end, &[&bfl], &root).unwrap_err();
    assert_eq!(
        err,
        CertError::NotCa {
            subject: "C=CH, O=iked test, CN=bfl".into(),
            why: "basicConstraints CA:FALSE",
        }
    );
    assert!(err.to_string().contains("CA:FALSE"), "{err}");
    // No basicConstraints at all.
    let mut p = ee_params("bare", vec![dns("bare.example.org")]);
    p.is_ca = IsCa::NoCa;
    let bare = issue(&root, p);
    let end = issue(
        &bare,
        ee_params("by-bare", vec![dns("by-bare.example.org")]),
    );
    assert!(matches!(
        verify(&end, &[&bare], &root),
        Err(CertError::NotCa {
            why: "no basicConstraints extension",
            ..
        })
    ));
}
