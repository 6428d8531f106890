//! Certificates and keys made by OpenSSL 3.0 (`tests/data/certs/make.sh`, README there):
//! loading in every encoding, chain validation at a fixed wall-clock time, identity matching,
//! and each refusal with its cause.

use iked_crypto::CryptoError;
use iked_crypto::auth::{
    AuthMethod, PrivateKey, PublicKey, SignatureScheme, sign_auth, verify_auth,
};
use iked_crypto::rng::SeededRandom;
use iked_crypto::x509::{self, CertError, Certificate, RawPublicKey, id_type, verify_chain};

/// 2027-01-01T00:00:00Z: inside every "valid" certificate's 2026..2036 window.
const NOW: i64 = 1_798_761_600;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/certs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cert(name: &str) -> Certificate {
    Certificate::from_pem(&data(&format!("{name}.pem"))).unwrap()
}

fn key(name: &str) -> PrivateKey {
    PrivateKey::from_pem(&data(&format!("{name}.key.pem"))).unwrap()
}

#[test]
fn every_key_encoding_loads_and_matches_its_certificate() {
    let cases: [(&str, PrivateKey); 8] = [
        ("bfl-rsa", key("bfl-rsa")), // PKCS#1 PEM
        (
            "bfl-rsa",
            PrivateKey::from_der(&data("bfl-rsa.key.der")).unwrap(),
        ),
        ("bfr-p256", key("bfr-p256")), // SEC1 PEM
        (
            "bfr-p256",
            PrivateKey::from_der(&data("bfr-p256.key.der")).unwrap(),
        ),
        (
            "bfr-p256",
            PrivateKey::from_pem(&data("bfr-p256.pkcs8.pem")).unwrap(),
        ),
        ("p384", key("p384")),       // PKCS#8 EC P-384
        ("ed25519", key("ed25519")), // PKCS#8 Ed25519
        (
            "bfr-p256",
            PrivateKey::from_pem_with_passphrase(&data("bfr-p256.enc.pem"), Some(b"correct horse"))
                .unwrap(),
        ),
    ];
    for (name, k) in cases {
        assert_eq!(
            k.public_key(),
            cert(name).public_key().unwrap(),
            "{name}: key does not match the certificate"
        );
        // The re-encoded SPKI is the certificate's, byte for byte.
        assert_eq!(
            k.public_key().spki_der().unwrap(),
            cert(name).spki_der(),
            "{name}"
        );
        assert_eq!(
            k.public_key().spki_sha1().unwrap(),
            cert(name).spki_sha1(),
            "{name}"
        );
    }
    let raw = RawPublicKey::from_pem(&data("bfr-p256.pub.pem")).unwrap();
    assert!(raw.matches(&cert("bfr-p256")));
    assert!(!raw.matches(&cert("bfl-rsa")));
}

#[test]
fn encrypted_key_needs_the_right_passphrase() {
    let pem = data("bfr-p256.enc.pem");
    assert_eq!(
        PrivateKey::from_pem(&pem).unwrap_err(),
        CryptoError::PassphraseRequired
    );
    assert_eq!(
        PrivateKey::from_pem_with_passphrase(&pem, Some(b"wrong horse")).unwrap_err(),
        CryptoError::WrongPassphrase
    );
    // The same as DER.
    let der = pem_body(&pem);
    assert_eq!(
        PrivateKey::from_der_with_passphrase(&der, Some(b"wrong")).unwrap_err(),
        CryptoError::WrongPassphrase
    );
    assert!(PrivateKey::from_der_with_passphrase(&der, Some(b"correct horse")).is_ok());
}

/// Base64 body of a one-section PEM file.
fn pem_body(pem: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[test]
fn certificate_loads_from_pem_and_der_with_its_fields() {
    let pem = cert("bfr-p256");
    let der = Certificate::from_der(&data("bfr-p256.der")).unwrap();
    assert_eq!(pem, der);
    assert_eq!(Certificate::load(&data("bfr-p256.der")).unwrap(), pem);
    assert_eq!(pem.subject(), "C=CH, O=iked test, CN=bfr");
    assert_eq!(
        pem.issuer(),
        "C=CH, O=iked test, CN=iked test intermediate CA"
    );
    assert!(!pem.is_ca());
    assert!(!pem.is_self_signed());
    assert!(cert("ca-rsa").is_ca() && cert("ca-rsa").is_self_signed());
    assert!(cert("self").is_self_signed());
    assert!(matches!(pem.public_key().unwrap(), PublicKey::EcdsaP256(_)));
    assert!(matches!(
        cert("p384").public_key().unwrap(),
        PublicKey::EcdsaP384(_)
    ));
    assert!(matches!(
        cert("ed25519").public_key().unwrap(),
        PublicKey::Ed25519(_)
    ));
    // A chain file: every certificate, in order.
    let bundle = [data("int-p256.pem"), data("ca-rsa.pem")].concat();
    let all = Certificate::all_from_pem(&bundle).unwrap();
    assert_eq!(all, vec![cert("int-p256"), cert("ca-rsa")]);
}

#[test]
fn certreq_key_id_is_sha1_of_the_spki() {
    // `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha1sum` computes the same.
    let ca = cert("ca-rsa");
    use sha1::Digest;
    assert_eq!(
        ca.spki_sha1().as_slice(),
        sha1::Sha1::digest(ca.spki_der()).as_slice()
    );
    assert_ne!(ca.spki_sha1(), cert("other-ca").spki_sha1());
}

#[test]
fn malformed_certificates_are_refused_with_a_cause() {
    let der = data("bfr-p256.der");
    for bad in [
        &der[..der.len() - 1],
        &der[1..],
        &[der.as_slice(), &[0]].concat()[..],
        b"".as_slice(),
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".as_slice(),
    ] {
        assert!(
            matches!(Certificate::load(bad), Err(CertError::Malformed(_))),
            "accepted {} bytes",
            bad.len()
        );
    }
    // A flipped bit in the signed part keeps the DER valid but breaks the signature.
    let mut tampered = der.clone();
    let pos = tampered
        .windows(3)
        .position(|w| w == b"bfr")
        .expect("subject CN in DER");
    tampered[pos] = b'B';
    let tampered = Certificate::from_der(&tampered).unwrap();
    assert!(matches!(
        verify_chain(&tampered, &[cert("int-p256")], &[cert("ca-rsa")], &[], NOW),
        Err(CertError::BadSignature { .. })
    ));
}

#[test]
fn chains_verify_for_every_key_and_signature_type() {
    let root = [cert("ca-rsa")];
    // RSA root -> RSA, P-384 (SHA-256 by an RSA key), Ed25519, PSS-signed end entities.
    for name in ["bfl-rsa", "p384", "ed25519", "pss"] {
        let anchor = verify_chain(&cert(name), &[], &root, &[], NOW)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(anchor, Some(&root[0]));
    }
    // Through the ECDSA P-256 intermediate.
    assert_eq!(
        verify_chain(&cert("bfr-p256"), &[cert("int-p256")], &root, &[], NOW).unwrap(),
        Some(&root[0])
    );
    // Pinned self-signed end entity.
    assert_eq!(
        verify_chain(&cert("self"), &[], &root, &[cert("self")], NOW).unwrap(),
        None
    );
}

#[test]
fn each_refusal_names_its_cause() {
    let root = [cert("ca-rsa")];
    let err = verify_chain(&cert("expired"), &[], &root, &[], NOW).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "certificate \"C=CH, O=iked test, CN=expired\" expired at Jan  1 00:00:00 2021 +00:00"
    );
    let err = verify_chain(&cert("future"), &[], &root, &[], NOW).unwrap_err();
    assert!(matches!(err, CertError::NotYetValid { .. }), "{err}");
    // Same subject as bfl, other CA.
    let err = verify_chain(&cert("wrong-ca"), &[], &root, &[], NOW).unwrap_err();
    assert_eq!(
        err,
        CertError::UnknownCa {
            subject: "C=CH, O=iked test, CN=bfl".into(),
            issuer: "C=CH, O=other, CN=other root CA".into()
        }
    );
    // Missing intermediate.
    let err = verify_chain(&cert("bfr-p256"), &[], &root, &[], NOW).unwrap_err();
    assert!(matches!(err, CertError::UnknownCa { .. }), "{err}");
    let err = verify_chain(&cert("self"), &[], &root, &[], NOW).unwrap_err();
    assert!(
        matches!(err, CertError::SelfSignedNotPinned { .. }),
        "{err}"
    );
    let err = verify_chain(&cert("nodigsig"), &[], &root, &[], NOW).unwrap_err();
    assert!(matches!(err, CertError::KeyUsage { .. }), "{err}");
    // Issued by an end entity that is offered as an intermediate.
    let err = verify_chain(&cert("by-ee"), &[cert("bfl-rsa")], &root, &[], NOW).unwrap_err();
    assert!(matches!(err, CertError::NotCa { .. }), "{err}");
    // The anchor itself must be valid at `now`: the root is not valid in 2040.
    let err = verify_chain(&cert("bfl-rsa"), &[], &root, &[], 2_208_988_800).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err}");
    // A pinned certificate still has dates.
    let err = verify_chain(&cert("expired"), &[], &[], &[cert("expired")], NOW).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err}");
}

#[test]
fn identities_match_subject_and_alt_names() {
    let bfl = cert("bfl-rsa");
    let dn = x509::dn_from_text("C=CH, O=iked test, CN=bfl").unwrap();
    assert!(bfl.matches_identity(id_type::DER_ASN1_DN, &dn));
    assert!(bfl.matches_identity(id_type::DER_ASN1_DN, bfl.subject_der()));
    assert!(!bfl.matches_identity(id_type::DER_ASN1_DN, &x509::dn_from_text("CN=bfl").unwrap()));
    assert!(bfl.matches_identity(id_type::FQDN, b"bfl.example.org"));
    assert!(bfl.matches_identity(id_type::FQDN, b"BFL.example.org"));
    assert!(!bfl.matches_identity(id_type::FQDN, b"bfr.example.org"));
    assert!(bfl.matches_identity(id_type::RFC822_ADDR, b"bfl@example.org"));
    assert!(bfl.matches_identity(id_type::IPV4_ADDR, &[192, 168, 50, 1]));
    assert!(!bfl.matches_identity(id_type::IPV4_ADDR, &[192, 168, 50, 2]));
    let v6: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    assert!(bfl.matches_identity(id_type::IPV6_ADDR, &v6.octets()));
    // The CN alone is not a subjectAltName.
    assert!(!bfl.matches_identity(id_type::FQDN, b"bfl"));
}

#[test]
fn auth_signatures_with_certificate_keys_verify_in_every_method() {
    let mut rng = SeededRandom::from_u64(1);
    let octets = b"signed octets";
    let cases = [
        (
            "bfl-rsa",
            AuthMethod::DIGITAL_SIGNATURE,
            SignatureScheme::RsaPssSha256,
        ),
        (
            "bfl-rsa",
            AuthMethod::DIGITAL_SIGNATURE,
            SignatureScheme::RsaPkcs1Sha384,
        ),
        ("bfl-rsa", AuthMethod::RSA, SignatureScheme::RsaPkcs1Sha1),
        (
            "bfr-p256",
            AuthMethod::ECDSA_SHA256_P256,
            SignatureScheme::EcdsaP256Sha256,
        ),
        (
            "p384",
            AuthMethod::ECDSA_SHA384_P384,
            SignatureScheme::EcdsaP384Sha384,
        ),
        (
            "p384",
            AuthMethod::DIGITAL_SIGNATURE,
            SignatureScheme::EcdsaP384Sha384,
        ),
        (
            "ed25519",
            AuthMethod::DIGITAL_SIGNATURE,
            SignatureScheme::Ed25519,
        ),
    ];
    for (name, method, scheme) in cases {
        let data = sign_auth(&key(name), method, scheme, octets, &mut rng).unwrap();
        let public = cert(name).public_key().unwrap();
        assert_eq!(
            verify_auth(&public, method, &data, octets).unwrap(),
            scheme,
            "{name}"
        );
        assert_eq!(
            verify_auth(&public, method, &data, b"other octets"),
            Err(CryptoError::BadSignature),
            "{name}"
        );
    }
}
