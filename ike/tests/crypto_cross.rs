//! The engine's crypto adapter (`iked_ike::suite`) checked against the independent
//! implementation in `iked_crypto` (which carries the RFC/NIST known-answer tests): the same
//! inputs must give the same prf+, SKEYSEED, PSK AUTH and Curve25519 results, and an SK payload
//! sealed by the engine must open with `iked_crypto::sk::SkCipher`.

use iked_crypto::registry::{Encr, EncrId, IntegId, PrfId};
use iked_crypto::secret::SecretBytes;
use iked_crypto::transforms::{IkeSuite, PrfAlg};
use iked_ike::proposal::{Proposal, protocol};
use iked_ike::suite::{self, Secret};

const PRF: u16 = iked_ike::proposal::prf::HMAC_SHA2_256;

#[test]
fn prf_plus_skeyseed_and_psk_auth_agree() {
    let key = b"a key of some length";
    let seed = b"Ni | Nr | SPIi | SPIr";
    for len in [1, 31, 32, 33, 200] {
        let ours = suite::prf_plus(PRF, key, seed, len).unwrap();
        let theirs = iked_crypto::kdf::prf_plus(PrfAlg::HmacSha256, key, seed, len).unwrap();
        assert_eq!(ours.expose(), theirs.expose(), "prf+ length {len}");
    }
    let shared = Secret::new(vec![9; 32]);
    let ours = suite::skeyseed(PRF, &[1; 32], &[2; 32], &shared).unwrap();
    let theirs = iked_crypto::kdf::skeyseed(
        PrfAlg::HmacSha256,
        &[1; 32],
        &[2; 32],
        &SecretBytes::from_slice(&[9; 32]),
    );
    assert_eq!(ours.expose(), theirs.expose());
    let sk_d = Secret::new(vec![4; 32]);
    let ours = suite::skeyseed_rekey(PRF, &sk_d, &shared, &[1; 32], &[2; 32]).unwrap();
    let theirs = iked_crypto::kdf::skeyseed_rekey(
        PrfAlg::HmacSha256,
        &SecretBytes::from_slice(&[4; 32]),
        &SecretBytes::from_slice(&[9; 32]),
        &[1; 32],
        &[2; 32],
    );
    assert_eq!(ours.expose(), theirs.expose());

    // PSK AUTH over the same signed octets (RealMessage | Nonce | prf(SK_p, IDType|RES|ID)).
    let sk_p = Secret::new(vec![5; 32]);
    let id = iked_ike::config::Identity::from_text("host1");
    let ctx = iked_ike::engine::AuthContext {
        prf: PRF,
        init_message: b"message one",
        peer_nonce: &[7; 32],
        sk_p: &sk_p,
        id: &id,
    };
    use iked_ike::engine::Authenticator;
    let ours = iked_ike::engine::PskAuthenticator::new(b"secret")
        .build(&ctx)
        .unwrap();
    let mut id_body = vec![2u8, 0, 0, 0];
    id_body.extend_from_slice(b"host1");
    let octets = iked_crypto::auth::signed_octets(
        PrfAlg::HmacSha256,
        b"message one",
        &[7; 32],
        &SecretBytes::from_slice(&[5; 32]),
        &id_body,
    );
    let theirs = iked_crypto::auth::psk_auth(PrfAlg::HmacSha256, b"secret", &octets);
    assert_eq!(ours, theirs.expose());
}

#[test]
fn curve25519_agrees() {
    struct Fixed(u8);
    impl iked_ike::engine::RandomSource for Fixed {
        fn fill(&mut self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }
    let ours = suite::KeyExchange::generate(31, &mut Fixed(0x11)).unwrap();
    let peer = iked_crypto::ke::KeyExchange::from_private_bytes(
        iked_crypto::ke::KeGroup::Curve25519,
        &[0x22; 32],
    )
    .unwrap();
    let theirs_view = iked_crypto::ke::KeyExchange::from_private_bytes(
        iked_crypto::ke::KeGroup::Curve25519,
        &[0x11; 32],
    )
    .unwrap();
    assert_eq!(ours.public(), theirs_view.public_value());
    let a = ours.shared(peer.public_value()).unwrap();
    let b = peer.shared_secret(&ours.public()).unwrap();
    assert_eq!(a.expose(), b.expose());
}

#[test]
fn sk_payloads_sealed_by_the_engine_open_with_iked_crypto() {
    for (text, encr, integ) in [
        (
            "aes128-sha256-x25519",
            Encr::new(EncrId::AES_CBC, 128),
            Some(IntegId::HMAC_SHA2_256_128),
        ),
        (
            "aes256gcm16-x25519",
            Encr::new(EncrId::AES_GCM_16, 256),
            None,
        ),
    ] {
        let sel = Proposal::parse(protocol::IKE, text)
            .unwrap()
            .selected()
            .unwrap();
        let sizes = suite::sizes(&sel).unwrap();
        let ek = vec![3u8; sizes.key];
        let ak = vec![4u8; if sizes.aead { 0 } else { 32 }];
        let sealed = suite::seal(
            &sel,
            &Secret::new(ek.clone()),
            &Secret::new(ak.clone()),
            &vec![6; sizes.iv],
            b"aad",
            b"inner payloads",
        )
        .unwrap();
        let ikesuite = IkeSuite::new(encr, integ, PrfId::HMAC_SHA2_256).unwrap();
        let cipher = iked_crypto::sk::SkCipher::new(
            &ikesuite,
            &SecretBytes::from_slice(&ek),
            &SecretBytes::from_slice(&ak),
        )
        .unwrap();
        let plain = cipher.decrypt(b"aad", &sealed).unwrap();
        assert_eq!(plain, b"inner payloads", "{text}");
    }
}
