//! What encryption adds to packaging: the owner's work per pushed 1 MiB TS segment (ingest
//! indexing and publication, full 600 s window) clear, and with an `aes-128` endpoint's
//! encryptor run on each publication (the new segment encrypted once, every playlist given
//! its key tags); and the cipher alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use streampack_benches::media::{at, Feeder};
use streampack_core::channel::Encryption;
use streampack_core::encryption::{aes128, ContentKey, Encryptor, KeySource};

struct OneKey;

impl KeySource for OneKey {
    fn key(&mut self, period: u64, _from: u64) -> Option<ContentKey> {
        Some(ContentKey {
            kid: [1; 16],
            key: [2; 16],
            period,
        })
    }
}

fn bench(c: &mut Criterion) {
    let body = Bytes::from(vec![0x47u8; 1 << 20]);
    let mut g = c.benchmark_group("package_1MiB_segment");
    g.throughput(Throughput::Bytes(1 << 20));
    let mut clear = Feeder::new(1, body.clone()).unwrap();
    clear.fill(300).unwrap();
    g.bench_function("clear", |b| {
        b.iter(|| {
            clear.push_next().unwrap();
            clear.media.snapshot()
        })
    });
    let mut enc = Feeder::new(1, body.clone()).unwrap();
    enc.fill(300).unwrap();
    let mut encryptor = Encryptor::new(Encryption::Aes128, 0, at(0));
    let warm = enc.media.snapshot();
    encryptor.build(&*warm, "main", &mut OneKey, at(0));
    g.bench_function("aes128", |b| {
        b.iter(|| {
            enc.push_next().unwrap();
            let s = enc.media.snapshot();
            encryptor.build(&*s, "main", &mut OneKey, at(enc.next * 2_000))
        })
    });
    g.finish();
    let mut g = c.benchmark_group("cipher_1MiB");
    g.throughput(Throughput::Bytes(1 << 20));
    g.bench_function("aes128_cbc", |b| {
        b.iter(|| aes128::encrypt(&[2; 16], &aes128::sequence_iv(7), &body))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
