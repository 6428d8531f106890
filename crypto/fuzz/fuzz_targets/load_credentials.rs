//! Fuzz the certificate and key loaders (PEM and DER): they must never panic; a certificate
//! that loads must reload from its own DER to an equal value, and the checks the engine runs
//! on a peer's certificate (identity match, chain verification, public key) must not panic.
//! Encrypted keys are only parsed, not decrypted: the PBES2 parameters (iteration count, scrypt
//! cost) come from the operator's own key file, and decrypting with fuzzed costs only measures
//! PBKDF2. CRLs (DER or PEM, as `x509crl/` and VICI `load-cert` hand them in, or an HTTP fetch
//! returns them) must load without panicking, reload from their own DER, and answer the
//! revocation questions the engine asks.
#![no_main]

use iked_crypto::auth::{PrivateKey, PublicKey};
use iked_crypto::crl::Crl;
use iked_crypto::x509::{self, Certificate, RawPublicKey, id_type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::load(data) {
        let again = Certificate::from_der(cert.der()).expect("a loaded certificate reloads");
        assert_eq!(again, cert);
        let _ = cert.public_key();
        let _ = cert.is_self_signed();
        let _ = cert.spki_sha1();
        for kind in [
            id_type::IPV4_ADDR,
            id_type::FQDN,
            id_type::RFC822_ADDR,
            id_type::IPV6_ADDR,
            id_type::DER_ASN1_DN,
            id_type::KEY_ID,
        ] {
            let _ = cert.matches_identity(kind, data);
        }
        let _ = cert.matches_identity(id_type::DER_ASN1_DN, cert.subject_der());
        let anchors = [cert.clone()];
        let _ = x509::verify_chain(&cert, &anchors, &anchors, &[], 0);
        let _ = x509::verify_chain(&cert, &[], &[], &[], i64::MAX);
    }
    if let Ok(crl) = Crl::load(data) {
        let again = Crl::from_der(crl.der()).expect("a loaded CRL reloads");
        assert_eq!(again, crl);
        let _ = (
            crl.is_current(0),
            crl.is_newer_than(&again),
            crl.revoked().len(),
        );
        if let Ok(cert) = Certificate::load(data) {
            let _ = (crl.is_signed_by(&cert), crl.revocation_of(&cert));
        }
    }
    let _ = Certificate::all_from_pem(data);
    let _ = PrivateKey::from_pem(data);
    let _ = PrivateKey::from_der_with_passphrase(data, None);
    let _ = PublicKey::from_pem(data);
    let _ = RawPublicKey::from_der(data);
    if let Some(text) = x509::dn_to_text(data) {
        let _ = x509::dn_from_text(&text);
    }
    let _ = x509::dn_matches(data, data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = x509::dn_from_text(text);
    }
});
