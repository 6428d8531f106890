//! X25519 candidates side by side (issue 21 §3): one responder's X25519 work per IKE SA, a key
//! generation (fixed-base scalar multiplication) plus one shared secret (variable-base), for
//! each implementation on the crate registry that meets the project's bar (constant-time,
//! maintained, audited or widely used):
//! - `x25519-dalek` 2 on curve25519-dalek 4 (serial 64-bit field arithmetic; its AVX2 backend
//!   covers Edwards arithmetic only, never the Montgomery ladder X25519 uses);
//! - `ring` 0.17 (BoringSSL's fiat-crypto field arithmetic; ring takes its private keys from its
//!   own sealed random source, so it could not keep randomness an input);
//! - `aws-lc-rs` (AWS-LC: s2n-bignum's formally verified x86_64 assembly, with ADX/BMI2 where
//!   the CPU has them);
//! - `iked_crypto::ke` as the daemon calls it, whichever of them it is built on.
//!
//! Each is checked against the others once before timing (same scalar, same peer value, same
//! shared secret), so a candidate cannot win by computing something else. Timed in thread CPU
//! time (`common/cpu_time.rs`), which a shared machine's load does not inflate.

#[path = "common/cpu_time.rs"]
mod cpu_time;

use cpu_time::ThreadCpu;
use criterion::{Criterion, criterion_group, criterion_main};
use iked_crypto::ke::{KeGroup, KeyExchange};
use iked_crypto::rng::{RandomSource, SeededRandom};
use std::hint::black_box;

fn dalek(scalar: [u8; 32], peer: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let secret = x25519_dalek::StaticSecret::from(scalar);
    let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let shared = secret
        .diffie_hellman(&x25519_dalek::PublicKey::from(*peer))
        .to_bytes();
    (public, shared)
}

fn aws_lc(scalar: [u8; 32], peer: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    use aws_lc_rs::agreement::{PrivateKey, UnparsedPublicKey, X25519, agree};
    let secret = PrivateKey::from_private_key(&X25519, &scalar).unwrap();
    let public: [u8; 32] = secret
        .compute_public_key()
        .unwrap()
        .as_ref()
        .try_into()
        .unwrap();
    let shared = agree(&secret, UnparsedPublicKey::new(&X25519, peer), (), |k| {
        Ok(<[u8; 32]>::try_from(k).unwrap())
    })
    .unwrap();
    (public, shared)
}

fn ring_x25519(rng: &ring::rand::SystemRandom, peer: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    use ring::agreement::{EphemeralPrivateKey, UnparsedPublicKey, X25519, agree_ephemeral};
    let secret = EphemeralPrivateKey::generate(&X25519, rng).unwrap();
    let public: [u8; 32] = secret
        .compute_public_key()
        .unwrap()
        .as_ref()
        .try_into()
        .unwrap();
    let shared = agree_ephemeral(secret, &UnparsedPublicKey::new(&X25519, peer), |k| {
        <[u8; 32]>::try_from(k).unwrap()
    })
    .unwrap();
    (public, shared)
}

fn candidates(c: &mut Criterion<ThreadCpu>) {
    let mut rng = SeededRandom::from_u64(21);
    let peer_ke = KeyExchange::generate(KeGroup::Curve25519, &mut rng);
    let peer: [u8; 32] = peer_ke.public_value().try_into().unwrap();
    let mut scalar = [0u8; 32];
    rng.fill(&mut scalar);

    // Same answers from every candidate before any is timed.
    let ours = KeyExchange::from_private_bytes(KeGroup::Curve25519, &scalar).unwrap();
    let expected = (
        <[u8; 32]>::try_from(ours.public_value()).unwrap(),
        <[u8; 32]>::try_from(ours.shared_secret(&peer).unwrap().expose()).unwrap(),
    );
    assert_eq!(dalek(scalar, &peer), expected, "x25519-dalek disagrees");
    assert_eq!(aws_lc(scalar, &peer), expected, "aws-lc-rs disagrees");
    let system = ring::rand::SystemRandom::new();
    let (ring_public, ring_shared) = ring_x25519(&system, &peer);
    // ring draws its own scalar: the peer must reach the same secret from ring's public value.
    assert_eq!(
        peer_ke.shared_secret(&ring_public).unwrap().expose(),
        &ring_shared[..],
        "ring disagrees"
    );

    let mut group = c.benchmark_group("x25519 keygen + shared secret");
    group.bench_function("x25519-dalek 2 (curve25519-dalek 4, serial u64)", |b| {
        b.iter(|| black_box(dalek(black_box(scalar), &peer)))
    });
    group.bench_function("aws-lc-rs (AWS-LC, s2n-bignum)", |b| {
        b.iter(|| black_box(aws_lc(black_box(scalar), &peer)))
    });
    group.bench_function("ring 0.17 (fiat-crypto)", |b| {
        b.iter(|| black_box(ring_x25519(&system, &peer)))
    });
    group.bench_function("iked_crypto::ke as built", |b| {
        b.iter(|| {
            let ours = KeyExchange::generate(KeGroup::Curve25519, &mut rng);
            black_box(ours.shared_secret(&peer).unwrap())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = candidates
}
criterion_main!(benches);
