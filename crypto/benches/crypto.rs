//! Micro-benchmarks: one X25519 key exchange, one prf+ for a full IKE key set
//! (aes128-sha256), and SK encrypt+decrypt of a 300-byte payload
//! (AES-CBC-128 + HMAC-SHA-256-128 and AES-GCM-16-128).

use criterion::{Criterion, criterion_group, criterion_main};
use iked_crypto::SecretBytes;
use iked_crypto::kdf::{IkeKeys, skeyseed};
use iked_crypto::ke::{KeGroup, KeyExchange};
use iked_crypto::registry::{Encr, EncrId, IntegId, PrfId};
use iked_crypto::rng::SeededRandom;
use iked_crypto::sk::SkCipher;
use iked_crypto::transforms::{IkeSuite, PrfAlg};
use std::hint::black_box;

fn x25519(c: &mut Criterion) {
    let mut rng = SeededRandom::from_u64(1);
    let peer = KeyExchange::generate(KeGroup::Curve25519, &mut rng);
    c.bench_function("x25519 keygen + shared secret", |b| {
        b.iter(|| {
            let ours = KeyExchange::generate(KeGroup::Curve25519, &mut rng);
            black_box(ours.shared_secret(peer.public_value()).unwrap())
        })
    });
}

fn kdf(c: &mut Criterion) {
    let suite = IkeSuite::new(
        Encr::new(EncrId::AES_CBC, 128),
        Some(IntegId::HMAC_SHA2_256_128),
        PrfId::HMAC_SHA2_256,
    )
    .unwrap();
    let g_ir = SecretBytes::new(vec![7; 32]);
    let (ni, nr) = ([1u8; 32], [2u8; 32]);
    c.bench_function("SKEYSEED + prf+ IKE key set (aes128-sha256)", |b| {
        b.iter(|| {
            let seed = skeyseed(PrfAlg::HmacSha256, &ni, &nr, &g_ir);
            black_box(IkeKeys::derive(&suite, &seed, &ni, &nr, &[3; 8], &[4; 8]).unwrap())
        })
    });
}

fn sk(c: &mut Criterion) {
    let payload = vec![0x5a; 300];
    let aad = [0u8; 32];
    for (name, suite) in [
        (
            "SK encrypt+decrypt 300B aes128-cbc/hmac-sha256-128",
            IkeSuite::new(
                Encr::new(EncrId::AES_CBC, 128),
                Some(IntegId::HMAC_SHA2_256_128),
                PrfId::HMAC_SHA2_256,
            )
            .unwrap(),
        ),
        (
            "SK encrypt+decrypt 300B aes128-gcm16",
            IkeSuite::new(
                Encr::new(EncrId::AES_GCM_16, 128),
                None,
                PrfId::HMAC_SHA2_256,
            )
            .unwrap(),
        ),
    ] {
        let ek = SecretBytes::new(vec![9; suite.encr.keymat_len()]);
        let ak = SecretBytes::new(vec![8; suite.integ_key_len()]);
        let mut tx = SkCipher::new(&suite, &ek, &ak).unwrap();
        let rx = SkCipher::new(&suite, &ek, &ak).unwrap();
        let mut rng = SeededRandom::from_u64(2);
        c.bench_function(name, |b| {
            b.iter(|| {
                let body = tx.encrypt(&aad, &payload, &mut rng).unwrap();
                black_box(rx.decrypt(&aad, &body).unwrap())
            })
        });
    }
}

criterion_group!(benches, x25519, kdf, sk);
criterion_main!(benches);
