//! TS → CMAF repackaging of one realistic 2 s segment (640x360 H.264 800 kb/s + AAC, made by
//! ffmpeg with the house encoder recipe): what the origin spends once per segment and
//! rendition. Throughput is MB/s of TS in. `benches/repackage-vs-ffmpeg.sh` puts it beside
//! `ffmpeg -c copy` remuxing the same segment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use streampack_core::cmaf::Repackager;

/// The same segment the script hands to ffmpeg.
pub const SEGMENT: &[u8] = include_bytes!("../../core/testdata/ts/h264_aac/seg_00001.ts");

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("repackage");
    g.throughput(Throughput::Bytes(SEGMENT.len() as u64));
    // A rendition's repackager keeps state between segments: reuse one, as the origin does.
    let mut r = Repackager::new();
    let mut seq = 0u32;
    g.bench_function("ts_to_cmaf_2s_640x360", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let out = r.repackage(black_box(SEGMENT), seq).unwrap();
            assert_eq!(out.fragments.len(), 2);
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
