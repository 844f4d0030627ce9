use super::*;
use crate::dash::golden::assert_golden;

fn video(id: &str, w: u32, h: u32, bw: u64, start_number: u64, timeline: Vec<S>) -> Representation {
    Representation {
        id: id.to_string(),
        bandwidth: bw,
        codecs: "avc1.64001e".to_string(),
        width: Some(w),
        height: Some(h),
        frame_rate: Some("25".to_string()),
        audio_sampling_rate: None,
        audio_channels: None,
        template: SegmentTemplate {
            timescale: 12_800,
            presentation_time_offset: 0,
            initialization: format!("{id}/init1.m4s"),
            media: format!("{id}/$Number$.m4s"),
            start_number,
            timeline,
        },
    }
}

fn audio(start_number: u64, timeline: Vec<S>) -> Representation {
    Representation {
        id: "a0".to_string(),
        bandwidth: 96_000,
        codecs: "mp4a.40.2".to_string(),
        width: None,
        height: None,
        frame_rate: None,
        audio_sampling_rate: Some(48_000),
        audio_channels: Some(1),
        template: SegmentTemplate {
            timescale: 48_000,
            presentation_time_offset: 0,
            initialization: "a0/init1.m4s".to_string(),
            media: "a0/$Number$.m4s".to_string(),
            start_number,
            timeline,
        },
    }
}

fn sets(start_number: u64, first: u64, n: u64) -> Vec<AdaptationSet> {
    let v = timeline_from((0..n).map(|i| ((first + i) * 25_600, 25_600)));
    let a = timeline_from((0..n).map(|i| ((first + i) * 96_000, 96_000)));
    vec![
        AdaptationSet {
            id: 0,
            content_type: ContentType::Video,
            mime_type: "video/mp4".to_string(),
            lang: None,
            segment_alignment: true,
            cea608: None,
            representations: vec![
                video("v0", 640, 360, 800_000, start_number, v.clone()),
                video("v1", 320, 180, 300_000, start_number, v),
            ],
        },
        AdaptationSet {
            id: 1,
            content_type: ContentType::Audio,
            mime_type: "audio/mp4".to_string(),
            lang: Some("en".to_string()),
            segment_alignment: true,
            cea608: None,
            representations: vec![audio(start_number, a)],
        },
    ]
}

fn live() -> Mpd {
    Mpd {
        dynamic: true,
        availability_start_unix_ms: 1_795_482_000_000,
        publish_time_unix_ms: 1_795_482_123_456,
        time_shift_buffer_ms: 600_000,
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
            adaptation_sets: sets(17_954_820_000, 55, 6),
        }],
    }
}

#[test]
fn dynamic_multi_representation() {
    assert_golden("mpd_dynamic.mpd", &render(&live()));
}

#[test]
fn static_after_the_end() {
    let mut mpd = live();
    mpd.dynamic = false;
    mpd.media_presentation_duration_ms = Some(122_040);
    assert_golden("mpd_static.mpd", &render(&mpd));
}

#[test]
fn two_periods() {
    let mut mpd = live();
    let mut second = sets(17_954_820_006, 0, 3);
    for a in &mut second {
        for r in &mut a.representations {
            r.template.presentation_time_offset = 0;
            r.template.initialization = r.template.initialization.replace("init1", "init2");
        }
    }
    mpd.periods.push(Period {
        id: "p1".to_string(),
        start_ms: 122_000,
        adaptation_sets: second,
    });
    assert_golden("mpd_two_periods.mpd", &render(&mpd));
}

/// LL-DASH: a ServiceDescription before the Periods, every SegmentTemplate announced a segment
/// less one 0.5 s chunk early and incomplete; nothing else changes.
#[test]
fn low_latency() {
    let mut mpd = live();
    mpd.low_latency = Some(LowLatency {
        availability_time_offset_ms: 1_500,
        target_latency_ms: 2_500,
        min_latency_ms: 1_500,
        max_latency_ms: 6_000,
        playback_rate_permille: (960, 1_040),
    });
    let text = render(&mpd);
    assert_golden("mpd_low_latency.mpd", &text);
    assert_eq!(
        text.matches(" availabilityTimeOffset=\"1.5\" availabilityTimeComplete=\"false\"")
            .count(),
        3,
        "one per Representation"
    );
    let service = text.find("<ServiceDescription").unwrap();
    assert!(service < text.find("<Period").unwrap());
    assert!(text.contains("<Latency target=\"2500\" min=\"1500\" max=\"6000\"/>"));
    assert!(text.contains("<PlaybackRate min=\"0.96\" max=\"1.04\"/>"));
    let stripped = text.replace(
        " availabilityTimeOffset=\"1.5\" availabilityTimeComplete=\"false\"",
        "",
    );
    let a = stripped.find("  <ServiceDescription").unwrap();
    let b = stripped.find("  </ServiceDescription>\n").unwrap() + "  </ServiceDescription>\n".len();
    assert_eq!(
        format!("{}{}", &stripped[..a], &stripped[b..]),
        render(&live())
    );
}

#[test]
fn attribute_values_are_escaped() {
    let mut mpd = live();
    mpd.periods[0].id = "a&b<c>\"d'\u{1}\n".to_string();
    let text = render(&mpd);
    assert!(
        text.contains("<Period id=\"a&amp;b&lt;c&gt;&quot;d&apos;&#10;\""),
        "{text}"
    );
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(render(&live()), render(&live()));
}

#[test]
fn durations() {
    for (ms, want) in [
        (0, "PT0S"),
        (2_000, "PT2S"),
        (500, "PT0.5S"),
        (40, "PT0.04S"),
        (1_001, "PT1.001S"),
        (600_000, "PT600S"),
    ] {
        assert_eq!(format_duration(ms), want, "{ms}");
    }
}

#[test]
fn dates() {
    for (ms, want) in [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_795_482_123_456, "2026-11-24T01:02:03.456Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ] {
        assert_eq!(format_datetime(ms), want, "{ms}");
    }
}

#[test]
fn timeline_compaction() {
    let t = timeline_from([(0, 10), (10, 10), (20, 10), (30, 5), (40, 5), (45, 5)]);
    assert_eq!(
        t,
        vec![
            S { t: 0, d: 10, r: 2 },
            S { t: 30, d: 5, r: 0 },
            S { t: 40, d: 5, r: 1 },
        ]
    );
    assert!(timeline_from(std::iter::empty()).is_empty());
}
