//! RSA signing through ring (issue 18 §3): known answers against OpenSSL for every PKCS#1 v1.5
//! hash, PSS round trips verified by the independent `rsa` verifier, the SHA-1 fallback of the
//! classic AUTH method 1, and keys ring cannot use refused when they are loaded.
//! Fixtures: `tests/data/README.md`.

use iked_crypto::CryptoError;
use iked_crypto::auth::{
    AuthMethod, PrivateKey, PublicKey, SignatureScheme, sign_auth, verify_auth,
};
use iked_crypto::rng::SeededRandom;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// PKCS#1 v1.5 is deterministic: ours must equal `openssl dgst -<hash> -sign`, byte for byte,
/// from both the PKCS#8 and the PKCS#1 encoding of the key. SHA-1 is the `rsa` fallback, the
/// others are ring.
#[test]
fn pkcs1v15_signatures_equal_openssl_for_every_hash() {
    let msg = data("msg.bin");
    let mut rng = SeededRandom::from_u64(11);
    let pkcs8 = PrivateKey::from_pem(&data("rsa2048-pkcs8.pem")).unwrap();
    let pkcs1 = PrivateKey::from_pem(&data("rsa2048-pkcs1.pem")).unwrap();
    let public = PublicKey::from_pem(&data("rsa2048-pub.pem")).unwrap();
    for (scheme, file) in [
        (SignatureScheme::RsaPkcs1Sha1, "rsa-pkcs1-sha1.sig"),
        (SignatureScheme::RsaPkcs1Sha256, "rsa-pkcs1-sha256.sig"),
        (SignatureScheme::RsaPkcs1Sha384, "rsa-pkcs1-sha384.sig"),
        (SignatureScheme::RsaPkcs1Sha512, "rsa-pkcs1-sha512.sig"),
    ] {
        let expected = data(file);
        assert_eq!(
            pkcs8.sign(scheme, &msg, &mut rng).unwrap(),
            expected,
            "{scheme:?}"
        );
        assert_eq!(
            pkcs1.sign(scheme, &msg, &mut rng).unwrap(),
            expected,
            "{scheme:?}"
        );
        public.verify(scheme, &msg, &expected).unwrap();
        assert_eq!(
            public.verify(scheme, b"other message", &expected),
            Err(CryptoError::BadSignature)
        );
    }
}

/// PSS is randomized (ring draws the salt from the OS): two signatures differ, both verify with
/// the `rsa` crate's verifier, and neither verifies under another hash or message.
#[test]
fn pss_signatures_verify_and_are_salted() {
    let msg = data("msg.bin");
    let mut rng = SeededRandom::from_u64(12);
    let key = PrivateKey::from_pem(&data("rsa2048-pkcs8.pem")).unwrap();
    let public = PublicKey::from_pem(&data("rsa2048-pub.pem")).unwrap();
    assert_eq!(key.public_key(), public);
    for scheme in [
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPssSha384,
        SignatureScheme::RsaPssSha512,
    ] {
        let a = key.sign(scheme, &msg, &mut rng).unwrap();
        let b = key.sign(scheme, &msg, &mut rng).unwrap();
        assert_eq!(a.len(), 256);
        assert_ne!(a, b, "{scheme:?}: the salt must be random");
        public.verify(scheme, &msg, &a).unwrap();
        public.verify(scheme, &msg, &b).unwrap();
        assert!(public.verify(scheme, b"other", &a).is_err());
        let other = if scheme == SignatureScheme::RsaPssSha256 {
            SignatureScheme::RsaPssSha384
        } else {
            SignatureScheme::RsaPssSha256
        };
        assert!(public.verify(other, &msg, &a).is_err());
    }
    // RSA keys sign no ECDSA or Ed25519.
    assert_eq!(
        key.sign(SignatureScheme::EcdsaP256Sha256, &msg, &mut rng),
        Err(CryptoError::UnsupportedSignatureAlgorithm)
    );
}

/// The classic method 1 (what iked sends a peer that announced no SIGNATURE_HASH_ALGORITHMS)
/// still works through the SHA-1 fallback and is the same signature OpenSSL makes.
#[test]
fn classic_rsa_method_signs_sha1_like_openssl() {
    let mut rng = SeededRandom::from_u64(13);
    let key = PrivateKey::from_pem(&data("rsa2048-pkcs1.pem")).unwrap();
    let msg = data("msg.bin");
    let auth = sign_auth(&key, AuthMethod::RSA, key.default_scheme(), &msg, &mut rng).unwrap();
    assert_eq!(auth, data("rsa-pkcs1-sha1.sig"));
    assert_eq!(
        verify_auth(&key.public_key(), AuthMethod::RSA, &auth, &msg),
        Ok(SignatureScheme::RsaPkcs1Sha1)
    );
}

/// ring signs with 2048..=4096-bit moduli only: a smaller key is refused when it is loaded,
/// with the size and the reason, in every encoding, not when the first AUTH is signed.
#[test]
fn rsa_keys_ring_cannot_use_are_refused_at_load_time() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(14);
    let small = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
    let pkcs1 = small.to_pkcs1_pem(Default::default()).unwrap();
    let pkcs8 = small.to_pkcs8_der().unwrap();
    let encrypted = small
        .to_pkcs8_encrypted_der(&mut rng, "correct horse")
        .unwrap();
    for result in [
        PrivateKey::from_pem(pkcs1.as_bytes()),
        PrivateKey::from_der(pkcs8.as_bytes()),
        // Decrypts, so the passphrase is right: the size is the reason, not the passphrase.
        PrivateKey::from_der_with_passphrase(encrypted.as_bytes(), Some(b"correct horse")),
    ] {
        match result {
            Err(CryptoError::InvalidKey(why)) => {
                assert!(why.contains("1024 bits"), "{why}");
                assert!(why.contains("2048 to 4096"), "{why}");
            }
            other => panic!("a 1024-bit key must be refused at load time, got {other:?}"),
        }
    }
    // Public exponent 3: the rsa crate parses it, ring refuses it (e >= 65537).
    let e3 = rsa::RsaPrivateKey::new_with_exp(&mut rng, 2048, &rsa::BigUint::from(3u32)).unwrap();
    match PrivateKey::from_der(e3.to_pkcs1_der().unwrap().as_bytes()) {
        Err(CryptoError::InvalidKey(why)) => {
            assert!(why.contains("2048 bits refused by ring"), "{why}");
            assert!(why.contains("65537"), "{why}");
        }
        other => panic!("an e=3 key must be refused at load time, got {other:?}"),
    }
}

use rand_chacha::rand_core::SeedableRng;
