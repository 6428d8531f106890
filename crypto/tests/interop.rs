//! End-to-end checks against independent implementations.
//!
//! Expected values were recomputed outside Rust with Python 3.11's `hmac`/`hashlib`
//! and pyca/cryptography 48 (AES-CBC, AESGCM, ChaCha20Poly1305), implementing
//! RFC 7296 2.13-2.17 / 2.15 / 3.14 and RFC 5282 / RFC 7634 from the text: run
//! `python3 tests/data/xcheck.py` to reproduce every expected value below.
//! Inputs: Ni = 10..2f, Nr = 40..5f, g^ir = 80..9f, SPIi = 0102030405060708,
//! SPIr = 1112131415161718, suite aes128-sha256 (PRF/INTEG HMAC-SHA-256).
//! Signatures come from OpenSSL 3.0 (see tests/data/README.md).

use iked_crypto::SecretBytes;
use iked_crypto::auth::{
    AuthMethod, PrivateKey, PublicKey, SignatureScheme, psk_auth, sign_auth, signed_octets,
    verify_auth, verify_psk_auth,
};
use iked_crypto::kdf::{ChildKeys, IkeKeys, skeyseed};
use iked_crypto::registry::{Encr, EncrId, IntegId, PrfId};
use iked_crypto::rng::{RandomSource, SeededRandom};
use iked_crypto::sk::SkCipher;
use iked_crypto::transforms::{EspAlgorithms, IkeSuite, PrfAlg};

/// Hands out fixed bytes (cycled), so IVs are known in advance.
struct Fixed(Vec<u8>, usize);

impl RandomSource for Fixed {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0[self.1 % self.0.len()];
            self.1 += 1;
        }
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn range(a: u8, b: u8) -> Vec<u8> {
    (a..b).collect()
}

fn suite() -> IkeSuite {
    IkeSuite::new(
        Encr::new(EncrId::AES_CBC, 128),
        Some(IntegId::HMAC_SHA2_256_128),
        PrfId::HMAC_SHA2_256,
    )
    .unwrap()
}

fn ike_keys() -> IkeKeys {
    let (ni, nr) = (range(0x10, 0x30), range(0x40, 0x60));
    let g_ir = SecretBytes::new(range(0x80, 0xa0));
    let seed = skeyseed(PrfAlg::HmacSha256, &ni, &nr, &g_ir);
    assert_eq!(
        hex::encode(seed.expose()),
        "d962ef6e1398f0b4c4a0541c7ce335a4eb85a116a981052a841ee091a413cacb"
    );
    IkeKeys::derive(
        &suite(),
        &seed,
        &ni,
        &nr,
        &[1, 2, 3, 4, 5, 6, 7, 8],
        &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18],
    )
    .unwrap()
}

#[test]
fn ike_kdf_sha256_matches_python() {
    let k = ike_keys();
    let expect = [
        (
            &k.sk_d,
            "c722ec79f3a6f0fdf87e7d7286473ceedfc74bf31ac7839e19182a1423795f9e",
        ),
        (
            &k.sk_ai,
            "d5059c6d4aa25e27ad4c0f860b90ccd9ca06fb1931f2b2f36f0b0fa2f5e6374d",
        ),
        (
            &k.sk_ar,
            "9ef86245814f6807fea335556ec21e4b17b916775a7ae93b8b2b04a0e5d51382",
        ),
        (&k.sk_ei, "010462b0dd90c5a9331cde56e9c2c7ba"),
        (&k.sk_er, "b1558566bee0337afcf43c5d50b22276"),
        (
            &k.sk_pi,
            "856b5081172d29354a66752eb21ca7f0661cdc5db04232cff5fc6f18f6542a72",
        ),
        (
            &k.sk_pr,
            "5ea13121d56eb4117e3bba0e0e9889870821a071acb94a43cc11491e739e7343",
        ),
    ];
    for (key, hex_value) in expect {
        assert_eq!(hex::encode(key.expose()), hex_value);
    }
    let esp = EspAlgorithms::new(
        Encr::new(EncrId::AES_CBC, 128),
        Some(IntegId::HMAC_SHA2_256_128),
        None,
    )
    .unwrap();
    let child = ChildKeys::derive(
        PrfAlg::HmacSha256,
        &k.sk_d,
        None,
        &range(0x10, 0x30),
        &range(0x40, 0x60),
        &esp,
    )
    .unwrap();
    let keymat = h(
        "805d03c6852b82de66e86f2407798f6c03e6364920e12105b1e0bd6f25bd8c0a76d7646a381dab8cf3ec2a1ec97174f639109469d17a39b6c8f99eb39aaabf7f12a8648ec9f39988ef980da80392e18a3cfd336140018769d6d3a7617f7b691f",
    );
    assert_eq!(child.initiator_to_responder.encr.expose(), &keymat[..16]);
    assert_eq!(child.initiator_to_responder.integ.expose(), &keymat[16..48]);
    assert_eq!(child.responder_to_initiator.encr.expose(), &keymat[48..64]);
    assert_eq!(child.responder_to_initiator.integ.expose(), &keymat[64..96]);
}

#[test]
fn psk_auth_matches_python() {
    let k = ike_keys();
    let id_body = [&[2u8, 0, 0, 0][..], b"bfl.example"].concat();
    let octets = signed_octets(
        PrfAlg::HmacSha256,
        b"IKE_SA_INIT request bytes",
        &range(0x40, 0x60),
        &k.sk_pi,
        &id_body,
    );
    let auth = psk_auth(PrfAlg::HmacSha256, b"correct horse battery staple", &octets);
    assert_eq!(
        hex::encode(auth.expose()),
        "251180982ff8563c9a7a92fa93245c9bc4d3d01120524b12bd27f955fbe3c281"
    );
    assert!(
        verify_psk_auth(
            PrfAlg::HmacSha256,
            b"correct horse battery staple",
            &octets,
            auth.expose()
        )
        .is_ok()
    );
}

const AAD: std::ops::Range<u8> = 0xc0..0xdc;

#[test]
fn sk_cbc_hmac_matches_python_and_round_trips() {
    let k = ike_keys();
    let mut tx = SkCipher::new(&suite(), &k.sk_ei, &k.sk_ai).unwrap();
    let aad: Vec<u8> = AAD.collect();
    let pt = range(0, 37);
    let body = tx
        .encrypt(&aad, &pt, &mut Fixed(range(0xa0, 0xb0), 0))
        .unwrap();
    assert_eq!(
        hex::encode(&body),
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafd3b530c16df473d6189b0e9ceb20e2d6540a1efc13031d53bef5a7c4418999da1edd1be75f8573a277813dfd9f2f9d748d69c0b821106e18894790c082e9fd30"
    );
    let rx = SkCipher::new(&suite(), &k.sk_ei, &k.sk_ai).unwrap();
    assert_eq!(rx.decrypt(&aad, &body).unwrap(), pt);
}

#[test]
fn sk_aes_gcm_and_chacha_match_python() {
    let aad: Vec<u8> = AAD.collect();
    let pt = range(0, 37);
    let cases = [
        (
            Encr::new(EncrId::AES_GCM_16, 128),
            range(0x30, 0x44),
            "a0a1a2a3a4a5a6a792c600b19edef1637763b7dfe69b40c8d2e2cbde82a137584882a30828597716353293f85aef3ac603abc46dc256bd1b43d3c9e4b3dc",
        ),
        (
            Encr::without_key_length(EncrId::CHACHA20_POLY1305),
            range(0x30, 0x54),
            "a0a1a2a3a4a5a6a7d5b33936c7c1ad2af97cd6d025a7b842bf58a80756a5b3917ca8838f784dc6606eb99d7849398bce1288ca0b9fe4660e45e3e84b27c9",
        ),
    ];
    for (encr, key, expected) in cases {
        let suite = IkeSuite::new(encr, None, PrfId::HMAC_SHA2_256).unwrap();
        let key = SecretBytes::new(key);
        let mut tx = SkCipher::new(&suite, &key, &SecretBytes::default()).unwrap();
        let body = tx
            .encrypt(&aad, &pt, &mut Fixed(range(0xa0, 0xa8), 0))
            .unwrap();
        assert_eq!(hex::encode(&body), expected, "{encr}");
        let rx = SkCipher::new(&suite, &key, &SecretBytes::default()).unwrap();
        assert_eq!(rx.decrypt(&aad, &body).unwrap(), pt);
    }
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Deterministic schemes (RSA PKCS#1 v1.5, Ed25519) must reproduce OpenSSL's
/// signature bytes; randomized ones (PSS, ECDSA) must verify OpenSSL's.
#[test]
fn signatures_interoperate_with_openssl() {
    let msg = data("msg.bin");
    let mut rng = SeededRandom::from_u64(3);

    let rsa = PrivateKey::from_pem(&data("rsa2048-pkcs8.pem")).unwrap();
    let rsa1 = PrivateKey::from_pem(&data("rsa2048-pkcs1.pem")).unwrap();
    let rsa_pub = PublicKey::from_pem(&data("rsa2048-pub.pem")).unwrap();
    let ours = rsa
        .sign(SignatureScheme::RsaPkcs1Sha256, &msg, &mut rng)
        .unwrap();
    assert_eq!(ours, data("rsa-pkcs1-sha256.sig"));
    assert_eq!(
        rsa1.sign(SignatureScheme::RsaPkcs1Sha256, &msg, &mut rng)
            .unwrap(),
        ours
    );
    rsa_pub
        .verify(
            SignatureScheme::RsaPssSha256,
            &msg,
            &data("rsa-pss-sha256.sig"),
        )
        .unwrap();

    let p256 = PublicKey::from_pem(&data("p256-pub.pem")).unwrap();
    p256.verify(
        SignatureScheme::EcdsaP256Sha256,
        &msg,
        &data("p256-sha256.der.sig"),
    )
    .unwrap();
    let p384 = PublicKey::from_pem(&data("p384-pub.pem")).unwrap();
    p384.verify(
        SignatureScheme::EcdsaP384Sha384,
        &msg,
        &data("p384-sha384.der.sig"),
    )
    .unwrap();

    let ed = PrivateKey::from_pem(&data("ed25519-pkcs8.pem")).unwrap();
    assert_eq!(
        ed.sign(SignatureScheme::Ed25519, &msg, &mut rng).unwrap(),
        data("ed25519.sig")
    );
    PublicKey::from_pem(&data("ed25519-pub.pem"))
        .unwrap()
        .verify(SignatureScheme::Ed25519, &msg, &data("ed25519.sig"))
        .unwrap();

    // Wrong message fails everywhere.
    assert!(
        rsa_pub
            .verify(SignatureScheme::RsaPkcs1Sha256, b"other", &ours)
            .is_err()
    );
}

/// Every key type through the AUTH payload encodings, RFC 7427 and classic.
#[test]
fn auth_payload_sign_verify_all_key_types() {
    let mut rng = SeededRandom::from_u64(4);
    let octets = b"signed octets";
    let cases = [
        ("rsa2048-pkcs8.pem", "rsa2048-pub.pem", AuthMethod::RSA),
        (
            "p256-sec1.pem",
            "p256-pub.pem",
            AuthMethod::ECDSA_SHA256_P256,
        ),
        (
            "p384-pkcs8.pem",
            "p384-pub.pem",
            AuthMethod::ECDSA_SHA384_P384,
        ),
        (
            "p521-pkcs8.pem",
            "p521-pub.pem",
            AuthMethod::ECDSA_SHA512_P521,
        ),
        (
            "ed25519-pkcs8.pem",
            "ed25519-pub.pem",
            AuthMethod::DIGITAL_SIGNATURE,
        ),
    ];
    for (private, public, classic) in cases {
        let key = PrivateKey::from_pem(&data(private)).unwrap();
        let public = PublicKey::from_pem(&data(public)).unwrap();
        let scheme = key.default_scheme();
        for method in [AuthMethod::DIGITAL_SIGNATURE, classic] {
            let auth = sign_auth(&key, method, scheme, octets, &mut rng).unwrap();
            verify_auth(&public, method, &auth, octets).unwrap();
            let mut bad = auth.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(
                verify_auth(&public, method, &bad, octets).is_err(),
                "{private}"
            );
        }
    }
    // RFC 4754: classic ECDSA signatures are fixed-size r | s.
    let p256 = PrivateKey::from_pem(&data("p256-sec1.pem")).unwrap();
    let auth = sign_auth(
        &p256,
        AuthMethod::ECDSA_SHA256_P256,
        SignatureScheme::EcdsaP256Sha256,
        octets,
        &mut rng,
    )
    .unwrap();
    assert_eq!(auth.len(), 64);
    // PSS through RFC 7427.
    let rsa = PrivateKey::from_pem(&data("rsa2048-pkcs1.pem")).unwrap();
    let auth = sign_auth(
        &rsa,
        AuthMethod::DIGITAL_SIGNATURE,
        SignatureScheme::RsaPssSha384,
        octets,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        verify_auth(
            &rsa.public_key(),
            AuthMethod::DIGITAL_SIGNATURE,
            &auth,
            octets
        ),
        Ok(SignatureScheme::RsaPssSha384)
    );
    // A key of the wrong type for the announced algorithm is refused.
    let ed_pub = PublicKey::from_pem(&data("ed25519-pub.pem")).unwrap();
    assert!(verify_auth(&ed_pub, AuthMethod::DIGITAL_SIGNATURE, &auth, octets).is_err());
}

#[test]
fn keys_load_from_der_and_reject_garbage() {
    assert!(matches!(
        PrivateKey::from_der(&data("p256-pkcs8.der")).unwrap(),
        PrivateKey::EcdsaP256(_)
    ));
    assert!(PrivateKey::from_der(b"not a key").is_err());
    assert!(
        PrivateKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .is_err()
    );
    assert!(PublicKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    // Debug never shows key material.
    let key = PrivateKey::from_pem(&data("ed25519-pkcs8.pem")).unwrap();
    assert_eq!(format!("{key:?}"), "PrivateKey::Ed25519(<redacted>)");
}
