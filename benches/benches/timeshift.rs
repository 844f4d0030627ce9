//! Time-shift: rendering a startover playlist over a 4-hour archive (7,200 segments of 2 s),
//! what a pull with `?start=` costs (the goal: under 1 ms), and finding an archived segment
//! by its URL (every archive hit).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use streampack_core::channel::EndpointType;
use streampack_core::timeshift::hls::media_playlist;
use streampack_core::timeshift::{
    ChannelArchive, Record, SegmentRecord, ShiftRequest, TrackKey, Window,
};

const T0: u64 = 1_765_000_000_000;

fn archive(segments: u64) -> ChannelArchive {
    let mut a = ChannelArchive::new();
    let key = TrackKey {
        kind: EndpointType::Hls,
        dir: "main".into(),
    };
    let first = T0 / 100;
    for i in 0..segments {
        let seq = first + i;
        a.apply(&Record::Segment {
            key: key.clone(),
            seg: SegmentRecord {
                seq,
                file: format!("{seq}.ts"),
                duration_ms: 2_000,
                start_unix_ms: T0 + 2_000 * i,
                discontinuity: false,
                init: None,
                len: 233_000,
                etag: format!("\"18c-{i:x}\""),
                content_type: "video/mp2t".into(),
                timing: None,
            },
        });
    }
    a
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("timeshift_playlist");
    for segments in [300u64, 7_200] {
        let a = archive(segments);
        let track = a.track(EndpointType::Hls, "main").unwrap();
        let now = T0 + 2_000 * segments;
        let startover = ShiftRequest {
            window: Window::Startover { start_ms: T0 },
            live_ms: 600_000,
            window_ms: 14_400_000,
            now_ms: now,
        };
        let bytes = media_playlist(track, &startover, "", true).unwrap().len();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(BenchmarkId::new("startover", segments), |b| {
            b.iter(|| black_box(media_playlist(track, black_box(&startover), "", true)))
        });
        let delayed = ShiftRequest {
            window: Window::Delayed {
                delay_ms: 3_600_000,
            },
            ..startover.clone()
        };
        g.bench_function(BenchmarkId::new("delay_1h", segments), |b| {
            b.iter(|| black_box(media_playlist(track, black_box(&delayed), "", true)))
        });
    }
    g.finish();

    let a = archive(7_200);
    let path = format!("main/{}.ts", T0 / 100 + 1_234);
    let mut g = c.benchmark_group("timeshift_find");
    g.throughput(Throughput::Elements(1));
    g.bench_function("segment_in_7200", |b| {
        b.iter(|| assert!(a.find(EndpointType::Hls, black_box(&path)).is_some()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
