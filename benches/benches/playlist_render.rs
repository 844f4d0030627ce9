//! Playlist rendering: what a snapshot rebuild costs the owner shard after each change (every
//! playlist of the channel rendered, objects collected), with full windows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use streampack_benches::media::{at, params, Feeder};
use streampack_core::media::{Lookup, Media, MediaOutput};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot_rebuild");
    // (renditions, segments per rendition in the window)
    for (renditions, segments) in [(1, 6), (1, 300), (3, 300)] {
        let mut f = Feeder::new(renditions, Bytes::from_static(b"segment")).unwrap();
        f.fill(segments).unwrap();
        let snap = f.media.snapshot();
        let rendered: usize = snap
            .renditions
            .iter()
            .map(|r| r.playlist.body.len())
            .sum::<usize>()
            + snap.main.as_ref().map_or(0, |m| m.body.len());
        let id = BenchmarkId::new(format!("{renditions}r"), segments);
        g.throughput(Throughput::Bytes(rendered as u64));
        g.bench_function(id, |b| {
            let now = at(segments * 2_000);
            b.iter(|| {
                // Same settings: only forces a new version, hence a full rebuild.
                f.media.set_params(params(), now);
                black_box(f.media.snapshot());
            })
        });
    }
    g.finish();

    // The pull side: resolving a segment path in a snapshot (per request, must stay cheap).
    let mut f = Feeder::new(1, Bytes::from_static(b"segment")).unwrap();
    f.fill(300).unwrap();
    let snap = f.media.snapshot();
    let last = snap.renditions[0].segments.last().unwrap().seq;
    let path = format!("main/{last}.ts");
    let mut g = c.benchmark_group("snapshot_lookup");
    g.throughput(Throughput::Elements(1));
    g.bench_function("segment_in_300", |b| {
        b.iter(|| {
            assert!(matches!(
                snap.lookup("main", black_box(&path)),
                Ok(Lookup::Object(_))
            ))
        })
    });
    g.bench_function("main_playlist", |b| {
        b.iter(|| {
            assert!(matches!(
                snap.lookup("main", black_box("main.m3u8")),
                Ok(Lookup::Manifest(..))
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
