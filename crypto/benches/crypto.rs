//! Micro-benchmarks: one X25519 key exchange, one prf+ for a full IKE key set
//! (aes128-sha256), SK encrypt+decrypt of a 300-byte payload
//! (AES-CBC-128 + HMAC-SHA-256-128 and AES-GCM-16-128), and the crypto floor of one
//! responder IKE_SA + CHILD_SA set-up (the benchmark in bench/ compares daemons against it).
//! Timed in thread CPU time (`common/cpu_time.rs`), as the daemons' CPU is read from /proc.

#[path = "common/cpu_time.rs"]
mod cpu_time;

use cpu_time::ThreadCpu;
use criterion::{Criterion, criterion_group, criterion_main};
use iked_crypto::SecretBytes;
use iked_crypto::auth::{psk_auth, signed_octets, verify_psk_auth};
use iked_crypto::hash::nat_detection_hash;
use iked_crypto::kdf::{ChildKeys, IkeKeys, skeyseed};
use iked_crypto::ke::{KeGroup, KeyExchange};
use iked_crypto::registry::{Encr, EncrId, IntegId, PrfId};
use iked_crypto::rng::SeededRandom;
use iked_crypto::sk::SkCipher;
use iked_crypto::transforms::{EspAlgorithms, IkeSuite, PrfAlg};
use std::hint::black_box;

fn x25519(c: &mut Criterion<ThreadCpu>) {
    let mut rng = SeededRandom::from_u64(1);
    let peer = KeyExchange::generate(KeGroup::Curve25519, &mut rng);
    c.bench_function("x25519 keygen + shared secret", |b| {
        b.iter(|| {
            let ours = KeyExchange::generate(KeGroup::Curve25519, &mut rng);
            black_box(ours.shared_secret(peer.public_value()).unwrap())
        })
    });
}

fn kdf(c: &mut Criterion<ThreadCpu>) {
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

fn sk(c: &mut Criterion<ThreadCpu>) {
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

/// Every cryptographic operation a PSK responder performs for one IKE_SA with one CHILD_SA
/// (`aes128-sha256-x25519`, ESP `aes128-sha256`), with message sizes as in the benchmark:
/// X25519 key generation and shared secret, four NAT_DETECTION hashes, SKEYSEED and the IKE key
/// set, decrypting the ~300-byte IKE_AUTH request and encrypting the ~250-byte response,
/// verifying the initiator's AUTH and computing ours (each over a ~400-byte IKE_SA_INIT
/// message), and the CHILD_SA KEYMAT. No parsing, no state, no I/O: the floor any daemon pays.
fn responder_floor(c: &mut Criterion<ThreadCpu>) {
    let mut rng = SeededRandom::from_u64(3);
    let suite = IkeSuite::new(
        Encr::new(EncrId::AES_CBC, 128),
        Some(IntegId::HMAC_SHA2_256_128),
        PrfId::HMAC_SHA2_256,
    )
    .unwrap();
    let esp = EspAlgorithms::new(
        Encr::new(EncrId::AES_CBC, 128),
        Some(IntegId::HMAC_SHA2_256_128),
        None,
    )
    .unwrap();
    let prf = PrfAlg::HmacSha256;
    let peer = KeyExchange::generate(KeGroup::Curve25519, &mut rng);
    let (ni, nr) = ([1u8; 32], [2u8; 32]);
    let (spi_i, spi_r) = ([3u8; 8], [4u8; 8]);
    let (init_request, init_response) = (vec![0x11; 400], vec![0x22; 400]);
    let psk = b"benchmark-pre-shared-key-12345678";
    let id_body = b"\x02\0\0\0client.bench-1";
    let addr: std::net::IpAddr = [10, 200, 0, 1].into();
    // The initiator's side, prepared once: its IKE_AUTH request and AUTH value.
    let g_ir = KeyExchange::generate(KeGroup::Curve25519, &mut rng)
        .shared_secret(peer.public_value())
        .unwrap();
    let keys = IkeKeys::derive(
        &suite,
        &skeyseed(prf, &ni, &nr, &g_ir),
        &ni,
        &nr,
        &spi_i,
        &spi_r,
    )
    .unwrap();
    let mut initiator_sk = SkCipher::new(&suite, &keys.sk_ei, &keys.sk_ai).unwrap();
    let auth_request = initiator_sk
        .encrypt(&[0; 28], &[0x5a; 300], &mut rng)
        .unwrap();
    let initiator_auth = psk_auth(
        prf,
        psk,
        &signed_octets(prf, &init_request, &nr, &keys.sk_pi, id_body),
    );
    c.bench_function(
        "responder crypto floor: IKE_SA + CHILD_SA (aes128-sha256-x25519, PSK)",
        |b| {
            b.iter(|| {
                let ours = KeyExchange::generate(KeGroup::Curve25519, &mut rng);
                // Fixed shared secret below so the initiator's prepared AUTH still verifies; the
                // cost of computing it is what counts.
                black_box(ours.shared_secret(peer.public_value()).unwrap());
                for port in [500u16, 501, 502, 503] {
                    black_box(nat_detection_hash(&spi_i, &spi_r, addr, port));
                }
                let seed = skeyseed(prf, &ni, &nr, &g_ir);
                let keys = IkeKeys::derive(&suite, &seed, &ni, &nr, &spi_i, &spi_r).unwrap();
                let rx = SkCipher::new(&suite, &keys.sk_ei, &keys.sk_ai).unwrap();
                black_box(rx.decrypt(&[0; 28], &auth_request).unwrap());
                let verify = signed_octets(prf, &init_request, &nr, &keys.sk_pi, id_body);
                verify_psk_auth(prf, psk, &verify, initiator_auth.expose()).unwrap();
                let sign = signed_octets(prf, &init_response, &ni, &keys.sk_pr, id_body);
                black_box(psk_auth(prf, psk, &sign));
                let child = ChildKeys::derive(prf, &keys.sk_d, None, &ni, &nr, &esp).unwrap();
                black_box(child);
                let mut tx = SkCipher::new(&suite, &keys.sk_er, &keys.sk_ar).unwrap();
                black_box(tx.encrypt(&[0; 28], &[0x5a; 250], &mut rng).unwrap())
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = x25519, kdf, sk, responder_floor
}
criterion_main!(benches);
