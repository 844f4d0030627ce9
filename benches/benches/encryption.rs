//! What encryption adds to packaging: the owner's work per pushed 1 MiB TS segment (ingest
//! indexing and publication, full 600 s window) clear, and with an `aes-128` endpoint's
//! encryptor run on each publication (the new segment encrypted once, every playlist given
//! its key tags); and the cipher alone. Then a CMAF endpoint's work per 2 s segment (640x360
//! H.264 + AAC): TS → CMAF repackaging, and the `cenc`/`cbcs` encryption of its two fragments;
//! and that segment kept TS, in `aes-128` and in `sample-aes`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use streampack_benches::media::{at, Feeder};
use streampack_core::channel::Encryption;
use streampack_core::cmaf::Repackager;
use streampack_core::encryption::{aes128, cenc, sample_aes, ContentKey, Encryptor, KeySource};

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

    // CMAF: repackaging (what a clear cmaf endpoint costs) against the encryption of its output.
    let ts: &[u8] = include_bytes!("../../core/testdata/ts/h264_aac/seg_00001.ts");
    let mut r = Repackager::new();
    let out = r.repackage(ts, 1).unwrap();
    let inits: Vec<_> = out
        .tracks
        .iter()
        .map(|t| {
            cenc::encrypt_init(&t.init, cenc::Scheme::Cenc, &[1; 16], &[])
                .unwrap()
                .1
        })
        .collect();
    let mut g = c.benchmark_group("cmaf_2s_segment");
    g.throughput(Throughput::Bytes(ts.len() as u64));
    let mut seq = 1u32;
    g.bench_function("repackage", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            r.repackage(ts, seq).unwrap()
        })
    });
    for (name, scheme) in [("cenc", cenc::Scheme::Cenc), ("cbcs", cenc::Scheme::Cbcs)] {
        g.bench_function(format!("encrypt_{name}"), |b| {
            b.iter(|| {
                for f in &out.fragments {
                    let sk = cenc::SegmentKey {
                        kid: &[1; 16],
                        key: &[2; 16],
                        announce: &[[1; 16]],
                    };
                    cenc::encrypt_segment(&f.bytes, scheme, &sk, &inits[f.track], 7).unwrap();
                }
            })
        });
    }
    g.finish();

    // TS: the same 2 s segment kept TS, whole-segment AES-128 against SAMPLE-AES (samples
    // encrypted, the segment re-packetized).
    let mut g = c.benchmark_group("ts_2s_segment");
    g.throughput(Throughput::Bytes(ts.len() as u64));
    g.bench_function("aes128", |b| {
        b.iter(|| aes128::encrypt(&[2; 16], &aes128::sequence_iv(7), ts))
    });
    g.bench_function("sample_aes", |b| {
        b.iter(|| sample_aes::encrypt_segment(ts, &[2; 16], &[3; 16]).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
