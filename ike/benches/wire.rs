//! Wire codec throughput on real strongSwan messages (tests/captures/seed-child).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use iked_ike::wire;

const SA_INIT: &[u8] = include_bytes!("../tests/captures/seed-child/01-IKE_SA_INIT-request-0.bin");
const AUTH: &[u8] = include_bytes!("../tests/captures/seed-child/03-IKE_AUTH-request-1.bin");
const AUTH_INNER: &[u8] =
    include_bytes!("../tests/captures/seed-child/03-IKE_AUTH-request-1.inner.bin");

fn codec(c: &mut Criterion) {
    c.bench_function("decode IKE_SA_INIT request (240 B)", |b| {
        b.iter(|| wire::decode(black_box(SA_INIT)).unwrap())
    });
    let message = wire::Message::decode(SA_INIT).unwrap();
    c.bench_function("encode IKE_SA_INIT request (240 B)", |b| {
        b.iter(|| black_box(&message).encode().unwrap())
    });
    c.bench_function("decode IKE_AUTH request envelope (256 B)", |b| {
        b.iter(|| wire::decode(black_box(AUTH)).unwrap())
    });
    let first = wire::decode(AUTH).unwrap().sk.unwrap().first_inner;
    c.bench_function("decode IKE_AUTH inner chain (190 B)", |b| {
        b.iter(|| wire::decode_inner(first, black_box(AUTH_INNER)).unwrap())
    });
    let inner = wire::decode_inner(first, AUTH_INNER).unwrap();
    c.bench_function("summary of IKE_AUTH request", |b| {
        b.iter(|| wire::summary(&message.header, black_box(&inner)))
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
