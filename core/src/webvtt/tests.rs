use super::wvtt::{fragment, samples};
use super::*;
use crate::fmp4::fragment::parse_media_segment;
use crate::fmp4::parse_boxes;
use proptest::prelude::*;

fn cue(start_ms: u64, end_ms: u64, payload: &str) -> Cue {
    Cue {
        id: String::new(),
        start_ms,
        end_ms,
        settings: String::new(),
        payload: payload.into(),
    }
}

#[test]
fn ffmpeg_segments_and_their_variants_are_read() {
    let vtt = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n\
               00:00:02.000 --> 00:00:03.000\ncue 2\n\n\
               NOTE a comment\nspanning lines\n\n\
               intro\n00:03.500 --> 00:04.25 align:start line:0\n<b>two</b>\nlines\n";
    let f = parse(vtt.as_bytes()).unwrap();
    assert_eq!(
        f.map,
        Some(TimestampMap {
            mpegts: 126_000,
            local_ms: 0
        })
    );
    assert_eq!(
        f.cues,
        vec![
            cue(2000, 3000, "cue 2"),
            Cue {
                id: "intro".into(),
                start_ms: 3500,
                end_ms: 4250,
                settings: "align:start line:0".into(),
                payload: "<b>two</b>\nlines".into(),
            }
        ]
    );
    let crlf = "\u{feff}WEBVTT\r\n\r\n01:00:00.000 --> 01:00:01.000\r\nx\r\n";
    assert_eq!(
        parse(crlf.as_bytes()).unwrap().cues,
        vec![cue(3_600_000, 3_601_000, "x")]
    );
}

#[test]
fn bad_files_and_cues_are_refused_or_dropped() {
    assert_eq!(parse(b"garbage"), Err(WebVttError::NoSignature));
    let lossy = parse(b"WEBVTT\n\n00:01.000 --> 00:02.000\ncaf\xe9\n").unwrap();
    assert_eq!(lossy.cues[0].payload, "caf\u{fffd}");
    let f = parse(
        b"WEBVTT\n\n00:02.000 --> 00:01.000\nbackwards\n\n00:61.000 --> 00:62.000\nbad\n\n\
          00:01.000 --> 00:02.000\nok\n",
    )
    .unwrap();
    assert_eq!(f.cues, vec![cue(1000, 2000, "ok")]);
    assert_eq!(f.dropped, 2);
    let mut many = String::from("WEBVTT\n\n");
    for i in 0..MAX_CUES + 5 {
        many.push_str(&format!("00:00.{:03} --> 00:01.000\nc\n\n", i % 999));
    }
    let f = parse(many.as_bytes()).unwrap();
    assert_eq!((f.cues.len(), f.dropped), (MAX_CUES, 5));
}

#[test]
fn timestamps() {
    let table = [
        ("00:00.000", Some(0)),
        ("01:02.5", Some(62_500)),
        ("10:00:00.001", Some(36_000_001)),
        ("00:60.000", None),
        ("1.000", None),
        ("00:01", None),
        ("00:01.0000", None),
        ("-1:00.000", None),
    ];
    for (s, want) in table {
        assert_eq!(timestamp(s), want, "{s}");
    }
}

#[test]
fn cue_times_map_onto_the_unwrapped_mpegts_timeline() {
    let map = Some(TimestampMap {
        mpegts: 126_000,
        local_ms: 0,
    });
    assert_eq!(to_pts(1000, map, 0), 216_000);
    assert_eq!(to_pts(1000, None, 0), 90_000);
    // After a wrap, near a reference one wrap up.
    let wrap = 1u64 << 33;
    assert_eq!(to_pts(1000, map, wrap + 200_000), wrap + 216_000);
    // A map just below the wrap, a cue past it: lands after the wrap when the reference does.
    let late = Some(TimestampMap {
        mpegts: wrap - 45_000,
        local_ms: 0,
    });
    assert_eq!(to_pts(1000, late, wrap), wrap + 45_000);
    // A LOCAL later than the cue: before MPEGTS.
    let local = Some(TimestampMap {
        mpegts: 900_000,
        local_ms: 10_000,
    });
    assert_eq!(to_pts(9_000, local, 900_000), 810_000);
}

#[test]
fn samples_tile_the_fragment_with_the_cues_showing() {
    let cues = [cue(1000, 3000, "a"), cue(2000, 5000, "b")];
    let s = samples(&cues, 0, 4000);
    let durations: Vec<u32> = s.iter().map(|s| s.duration).collect();
    assert_eq!(durations, vec![1000, 1000, 1000, 1000]);
    let kinds: Vec<Vec<[u8; 4]>> = s
        .iter()
        .map(|s| {
            parse_boxes(&s.bytes)
                .unwrap()
                .iter()
                .map(|b| b.typ)
                .collect()
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            vec![*b"vtte"],
            vec![*b"vttc"],
            vec![*b"vttc", *b"vttc"],
            vec![*b"vttc"]
        ]
    );
    let both = parse_boxes(&s[2].bytes).unwrap();
    assert_eq!(both[0].child(b"payl").unwrap().prefix, b"a");
    assert_eq!(both[1].child(b"payl").unwrap().prefix, b"b");
    // Settings and ids are carried.
    let mut styled = cue(0, 10, "x");
    styled.id = "n1".into();
    styled.settings = "line:0".into();
    let one = parse_boxes(&samples(&[styled], 0, 10)[0].bytes).unwrap();
    let kids: Vec<[u8; 4]> = one[0].children.iter().map(|c| c.typ).collect();
    assert_eq!(kids, vec![*b"iden", *b"sttg", *b"payl"]);
    assert!(samples(&cues, 5, 5).is_empty());
}

#[test]
fn a_fragment_starts_at_its_time_and_lasts_its_span() {
    let cues = [cue(10_500, 11_500, "hello")];
    let f = parse_media_segment(&fragment(7, 3, &cues, 10_000, 12_000)).unwrap();
    assert_eq!((f.sequence, f.track_id, f.base_decode_time), (7, 3, 10_000));
    let total: u32 = f.samples.iter().map(|s| s.duration).sum();
    assert_eq!(total, 2000);
    assert!(f
        .samples
        .iter()
        .all(|s| s.flags == crate::fmp4::SAMPLE_SYNC));
    let sizes: u32 = f.samples.iter().map(|s| s.size).sum();
    assert_eq!(sizes as usize, f.mdat.len());
}

proptest! {
    #[test]
    fn any_text_parses_or_is_refused_without_panicking(s in ".{0,300}") {
        let _ = parse(format!("WEBVTT\n\n{s}").as_bytes());
        let _ = parse(s.as_bytes());
    }

    #[test]
    fn samples_always_tile_their_span(
        raw in proptest::collection::vec((0u64..10_000, 1u64..5_000), 0..12),
        start in 0u64..8_000,
        len in 1u64..8_000,
    ) {
        let cues: Vec<Cue> = raw.iter().map(|&(s, d)| cue(s, s + d, "c")).collect();
        let out = samples(&cues, start, start + len);
        let total: u64 = out.iter().map(|s| u64::from(s.duration)).sum();
        prop_assert_eq!(total, len);
        prop_assert!(out.iter().all(|s| s.duration > 0 && parse_boxes(&s.bytes).is_ok()));
    }
}
