//! Chunked and `Content-Length` body decoding of a 1 MiB segment, as encoders upload it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use streampack_core::http::{BodyDecoder, BodyKind, BodyStatus};

const SEGMENT: usize = 1 << 20;

/// `payload` framed in chunks of `chunk` bytes, with the final zero chunk.
fn chunked(payload: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload.len() / chunk * 12 + 16);
    for c in payload.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Decodes `wire` fed in reads of `read` bytes, as the daemon's socket reads deliver it.
fn decode(kind: BodyKind, wire: &[u8], read: usize) -> usize {
    let mut dec = BodyDecoder::new(kind, 64 << 20).unwrap();
    let mut input = BytesMut::with_capacity(read * 2);
    let mut out = BytesMut::with_capacity(SEGMENT);
    for part in wire.chunks(read) {
        input.extend_from_slice(part);
        if dec.decode(&mut input, &mut out).unwrap() == BodyStatus::Done {
            break;
        }
    }
    assert!(dec.is_done());
    out.len()
}

fn bench(c: &mut Criterion) {
    let payload: Vec<u8> = (0..SEGMENT).map(|i| (i * 7) as u8).collect();
    let mut g = c.benchmark_group("body_decode_1MiB");
    g.throughput(Throughput::Bytes(SEGMENT as u64));
    // ffmpeg's HTTP muxer writes one chunk per avio buffer flush (32 KiB).
    for chunk in [4 * 1024, 32 * 1024, 256 * 1024] {
        let wire = chunked(&payload, chunk);
        g.bench_function(format!("chunked_{}k", chunk / 1024), |b| {
            b.iter(|| black_box(decode(BodyKind::Chunked, &wire, 256 * 1024)))
        });
    }
    g.bench_function("content_length", |b| {
        b.iter(|| {
            black_box(decode(
                BodyKind::Length(SEGMENT as u64),
                &payload,
                256 * 1024,
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
