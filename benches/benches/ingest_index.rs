//! Segment indexing on ingest: `HlsMedia::put` of a segment and of the playlist that lists
//! it, then the snapshot the owner publishes, in steady state (full 600 s window), which is
//! the owner shard's whole work per pushed segment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use streampack_benches::media::Feeder;

fn bench(c: &mut Criterion) {
    let body = Bytes::from(vec![0x47u8; 1 << 20]);
    let mut g = c.benchmark_group("ingest_put_segment_and_playlist");
    for (renditions, warm) in [(1, 300), (3, 300)] {
        let mut f = Feeder::new(renditions, body.clone()).unwrap();
        f.fill(warm).unwrap();
        f.media.snapshot();
        // Per iteration: one segment of 1 MiB (shared, not copied) per rendition.
        g.throughput(Throughput::Elements(renditions as u64));
        g.bench_function(
            BenchmarkId::new(format!("{renditions}r_window"), warm),
            |b| {
                b.iter(|| {
                    f.push_next().unwrap();
                    f.media.snapshot()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
