//! Property tests: peer-controlled input never panics and bad input yields typed
//! errors (truncated/garbled SK bodies, random KE values, random proposal strings,
//! random AUTH data).

use iked_crypto::SecretBytes;
use iked_crypto::auth::{AuthMethod, PublicKey, verify_auth};
use iked_crypto::ke::{KeGroup, KeyExchange};
use iked_crypto::registry::{Encr, EncrId, IntegId, PrfId, Protocol, parse_proposal};
use iked_crypto::rng::SeededRandom;
use iked_crypto::sk::SkCipher;
use iked_crypto::transforms::IkeSuite;
use proptest::prelude::*;
use std::sync::OnceLock;

fn suites() -> Vec<IkeSuite> {
    vec![
        IkeSuite::new(
            Encr::new(EncrId::AES_CBC, 128),
            Some(IntegId::HMAC_SHA2_256_128),
            PrfId::HMAC_SHA2_256,
        )
        .unwrap(),
        IkeSuite::new(
            Encr::new(EncrId::AES_GCM_16, 256),
            None,
            PrfId::HMAC_SHA2_256,
        )
        .unwrap(),
        IkeSuite::new(
            Encr::new(EncrId::AES_GCM_8, 128),
            None,
            PrfId::HMAC_SHA2_256,
        )
        .unwrap(),
        IkeSuite::new(
            Encr::without_key_length(EncrId::CHACHA20_POLY1305),
            None,
            PrfId::HMAC_SHA2_256,
        )
        .unwrap(),
    ]
}

/// One key exchange per group, generated once: MODP key generation is slow enough
/// to dominate the property tests otherwise.
fn our_key_exchanges() -> &'static [KeyExchange] {
    static KES: OnceLock<Vec<KeyExchange>> = OnceLock::new();
    KES.get_or_init(|| {
        let mut rng = SeededRandom::from_u64(1);
        [
            KeGroup::Curve25519,
            KeGroup::Ecp256,
            KeGroup::Ecp384,
            KeGroup::Modp2048,
        ]
        .into_iter()
        .map(|g| KeyExchange::generate(g, &mut rng))
        .collect()
    })
}

fn cipher(suite: &IkeSuite) -> SkCipher {
    let ek = SecretBytes::new(vec![0x42; suite.encr.keymat_len()]);
    let ak = SecretBytes::new(vec![0x24; suite.integ_key_len()]);
    SkCipher::new(suite, &ek, &ak).unwrap()
}

proptest! {
    #[test]
    fn random_sk_bodies_are_rejected(aad in proptest::collection::vec(any::<u8>(), 0..64),
                                     body in proptest::collection::vec(any::<u8>(), 0..256)) {
        for suite in suites() {
            // A random body authenticates with negligible probability.
            prop_assert!(cipher(&suite).decrypt(&aad, &body).is_err());
        }
    }

    #[test]
    fn sk_round_trip_and_single_bit_flips(pt in proptest::collection::vec(any::<u8>(), 0..400),
                                          flip in any::<usize>(), seed in any::<u64>()) {
        for suite in suites() {
            let mut tx = cipher(&suite);
            let rx = cipher(&suite);
            let mut rng = SeededRandom::from_u64(seed);
            let body = tx.encrypt(b"aad", &pt, &mut rng).unwrap();
            prop_assert_eq!(rx.decrypt(b"aad", &body).unwrap(), pt.clone());
            let mut bad = body.clone();
            let bit = flip % (bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(rx.decrypt(b"aad", &bad).is_err());
        }
    }

    #[test]
    fn random_ke_values_never_panic(peer in proptest::collection::vec(any::<u8>(), 0..600)) {
        for ke in our_key_exchanges() {
            let result = ke.shared_secret(&peer);
            if peer.len() != ke.group().public_len() {
                prop_assert!(result.is_err());
            }
        }
    }

    #[test]
    fn random_modp_values_of_right_length_never_panic(peer in proptest::collection::vec(any::<u8>(), 256)) {
        let ke = &our_key_exchanges()[3];
        // In range values succeed, out of range ones are typed errors.
        let _ = ke.shared_secret(&peer);
    }

    #[test]
    fn random_ecp_points_of_right_length_never_panic(peer in proptest::collection::vec(any::<u8>(), 64)) {
        let ke = KeyExchange::generate(KeGroup::Ecp256, &mut SeededRandom::from_u64(2));
        // Almost all random x|y pairs are off the curve.
        let _ = ke.shared_secret(&peer);
    }

    #[test]
    fn random_proposal_strings_never_panic(text in "[a-z0-9_ -]{0,40}") {
        let _ = parse_proposal(&text, Protocol::Ike);
        let _ = parse_proposal(&text, Protocol::Esp);
    }

    #[test]
    fn random_auth_data_never_verifies(data in proptest::collection::vec(any::<u8>(), 0..300),
                                       method in prop_oneof![Just(1u8), Just(9), Just(10), Just(11), Just(14)]) {
        let key = PublicKey::from_pem(include_bytes!("data/p256-pub.pem")).unwrap();
        prop_assert!(verify_auth(&key, AuthMethod(method), &data, b"octets").is_err());
    }
}
