//! DASH manifests: rendering the origin's MPD (once per change on the owner shard) and parsing
//! the MPD an encoder pushes (once per manifest PUT, up to once per representation per segment).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use streampack_core::dash::mpd::{
    render, timeline_from, AdaptationSet, ContentType, Mpd, Period, Representation,
    SegmentTemplate, UtcTiming,
};
use streampack_core::dash::parse::parse_mpd;

/// Two video representations and one audio, `segments` each; video durations vary by a frame
/// now and then (as a real encoder's do), so the timeline does not collapse into one `S@r`.
fn model(segments: u64) -> Mpd {
    let rep = |id: &str, timescale: u32, d: u64, jitter: u64| {
        let mut t = 0;
        let times: Vec<(u64, u64)> = (0..segments)
            .map(|i| {
                let d = if i % 7 == 3 { d + jitter } else { d };
                let s = (t, d);
                t += d;
                s
            })
            .collect();
        Representation {
            id: id.to_string(),
            bandwidth: 800_000,
            codecs: "avc1.64001e".to_string(),
            width: Some(640),
            height: Some(360),
            frame_rate: Some("25".to_string()),
            audio_sampling_rate: None,
            audio_channels: None,
            template: SegmentTemplate {
                timescale,
                presentation_time_offset: 0,
                initialization: format!("{id}/init1.m4s"),
                media: format!("{id}/$Number$.m4s"),
                start_number: 440_000_000,
                timeline: timeline_from(times),
            },
        }
    };
    let set = |id: u32, content_type: ContentType, reps: Vec<Representation>| AdaptationSet {
        id,
        content_type,
        mime_type: format!("{}/mp4", content_type.as_str()),
        lang: None,
        segment_alignment: true,
        cea608: None,
        representations: reps,
    };
    Mpd {
        dynamic: true,
        availability_start_unix_ms: 1_795_000_000_000,
        publish_time_unix_ms: 1_795_000_600_000,
        time_shift_buffer_ms: segments * 2_000,
        min_update_period_ms: 2_000,
        suggested_presentation_delay_ms: 6_000,
        min_buffer_time_ms: 2_000,
        max_segment_duration_ms: 2_000,
        media_presentation_duration_ms: None,
        utc_timing: vec![UtcTiming::origin()],
        low_latency: None,
        periods: vec![Period {
            id: "p0".to_string(),
            start_ms: 0,
            adaptation_sets: vec![
                set(
                    0,
                    ContentType::Video,
                    vec![
                        rep("v0", 12_800, 25_600, 512),
                        rep("v1", 12_800, 25_600, 512),
                    ],
                ),
                set(
                    1,
                    ContentType::Audio,
                    vec![rep("a0", 48_000, 96_000, 1_024)],
                ),
            ],
        }],
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mpd_render");
    for segments in [6u64, 300] {
        let m = model(segments);
        g.throughput(Throughput::Bytes(render(&m).len() as u64));
        g.bench_function(BenchmarkId::new("3reps", segments), |b| {
            b.iter(|| black_box(render(black_box(&m))))
        });
    }
    g.finish();

    // What ffmpeg -f dash -use_timeline 1 pushes (two video representations, one audio).
    let pushed = include_bytes!("../../core/testdata/dash/ffmpeg_timeline_live.mpd");
    let mut g = c.benchmark_group("mpd_parse");
    g.throughput(Throughput::Bytes(pushed.len() as u64));
    g.bench_function("ffmpeg_timeline_live", |b| {
        b.iter(|| black_box(parse_mpd("main.mpd", black_box(pushed)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
