//! Parser tests: real ffmpeg playlists from `samples/hls/`, then a table of malformed ones.

use super::*;

const TS: &str = include_str!("../../../samples/hls/ts/main.m3u8");
const FMP4: &str = include_str!("../../../samples/hls/fmp4/main.m3u8");
const MASTER: &str = include_str!("../../../samples/hls/multi/main.m3u8");
const MULTI_HI: &str = include_str!("../../../samples/hls/multi/main_hi.m3u8");
const LIVE_PDT: &str = include_str!("../../../samples/hls/live-pdt/main.live.m3u8");

fn media(path: &str, text: &str) -> MediaPlaylistIn {
    match parse_playlist(path, text.as_bytes()) {
        Ok(PlaylistIn::Media(m)) => m,
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn ffmpeg_ts() {
    let m = media("main.m3u8", TS);
    assert_eq!(m.target_duration_s, 2);
    assert_eq!(m.media_sequence, 0);
    assert!(m.end_list);
    let d: Vec<u64> = m.segments.iter().map(|s| s.duration_ms).collect();
    assert_eq!(d, [2000, 2000, 2000, 1000]);
    assert_eq!(m.segments[3].uri, "seg_00003.ts");
    assert!(m
        .segments
        .iter()
        .all(|s| s.map_uri.is_none() && !s.discontinuity));
}

#[test]
fn ffmpeg_fmp4_map_applies_to_every_segment() {
    let m = media("live/main.m3u8", FMP4);
    assert_eq!(m.segments.len(), 4);
    for s in &m.segments {
        assert_eq!(s.map_uri.as_deref(), Some("live/init.mp4"));
        assert!(s.uri.starts_with("live/seg_"), "{}", s.uri);
    }
}

#[test]
fn ffmpeg_live_with_program_date_time() {
    let m = media("main.m3u8", LIVE_PDT);
    assert!(!m.end_list);
    assert!(m.independent_segments);
    assert_eq!(m.segments.len(), 2);
    assert_eq!(
        m.segments[1].program_date_time.as_deref(),
        Some("2026-11-23T22:09:23.665+0000")
    );
}

#[test]
fn ffmpeg_master_two_renditions() {
    let PlaylistIn::Master(m) = parse_playlist("main.m3u8", MASTER.as_bytes()).unwrap() else {
        panic!("not a master")
    };
    assert_eq!(m.variants.len(), 2);
    assert_eq!(m.variants[0].uri, "main_hi.m3u8");
    assert_eq!(m.variants[1].uri, "main_lo.m3u8");
    assert_eq!(m.variants[0].bandwidth, 145_200);
    assert_eq!(m.variants[1].resolution, Some((80, 46)));
    assert_eq!(
        m.variants[0].codecs.as_deref(),
        Some("avc1.64000b,mp4a.40.2")
    );
    let hi = media("main_hi.m3u8", MULTI_HI);
    assert_eq!(hi.segments[0].uri, "hi_seg_00000.ts");
}

#[test]
fn master_media_entries_and_relative_uris() {
    let text = "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,URI=\"audio/en.m3u8\"\n\
        #EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"cc1\",INSTREAM-ID=\"CC1\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=800000,FRAME-RATE=25,AUDIO=\"a\",CLOSED-CAPTIONS=\"cc\"\n\
        ../v/hi.m3u8\n";
    let PlaylistIn::Master(m) = parse_playlist("x/main.m3u8", text.as_bytes()).unwrap() else {
        panic!()
    };
    assert!(m.independent_segments);
    assert_eq!(m.variants[0].uri, "v/hi.m3u8");
    assert_eq!(m.variants[0].frame_rate.as_deref(), Some("25.000"));
    assert_eq!(m.variants[0].closed_captions, Some(Some("cc".into())));
    assert_eq!(m.media[0].uri.as_deref(), Some("x/audio/en.m3u8"));
    assert_eq!(m.media[1].instream_id.as_deref(), Some("CC1"));
}

#[test]
fn discontinuity_passes_through() {
    let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2,\na.ts\n\
                #EXT-X-DISCONTINUITY\n#EXTINF:1.5,\nb.ts\n";
    let m = media("hi/index.m3u8", text);
    assert_eq!(m.media_sequence, 7);
    assert!(!m.segments[0].discontinuity);
    assert!(m.segments[1].discontinuity);
    assert_eq!(m.segments[1].uri, "hi/b.ts");
    assert_eq!(m.segments[1].duration_ms, 1500);
}

#[test]
fn malformed_playlists_are_refused_with_a_reason() {
    let h = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n";
    let table: &[(&str, String, &str)] = &[
        ("empty", String::new(), "#EXTM3U"),
        ("no header", "#EXTINF:2,\na.ts\n".into(), "line 1"),
        ("binary", "#EXTM3U\n\u{0}\u{ff}".into(), ""),
        (
            "byterange",
            format!("{h}#EXT-X-BYTERANGE:100@0\n#EXTINF:2,\na.ts\n"),
            "byte-range",
        ),
        (
            "absolute",
            format!("{h}#EXTINF:2,\nhttp://evil/a.ts\n"),
            "absolute",
        ),
        ("rooted", format!("{h}#EXTINF:2,\n/a.ts\n"), "absolute"),
        ("escape", format!("{h}#EXTINF:2,\n../../a.ts\n"), "escapes"),
        (
            "bad extinf",
            format!("{h}#EXTINF:abc,\na.ts\n"),
            "line 3: bad EXTINF",
        ),
        (
            "negative extinf",
            format!("{h}#EXTINF:-1,\na.ts\n"),
            "line 3",
        ),
        ("no extinf", format!("{h}a.ts\n"), "line 3: segment"),
        (
            "dangling extinf",
            format!("{h}#EXTINF:2,\n"),
            "without a segment URI",
        ),
        (
            "bad target",
            "#EXTM3U\n#EXT-X-TARGETDURATION:x\n".into(),
            "line 2",
        ),
        (
            "bad sequence",
            format!("{h}#EXT-X-MEDIA-SEQUENCE:-3\n"),
            "line 3",
        ),
        (
            "encrypted",
            format!("{h}#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:2,\na.ts\n"),
            "encrypted",
        ),
        (
            "segment is playlist",
            format!("{h}#EXTINF:2,\nb.m3u8\n"),
            "is a playlist",
        ),
        (
            "master no variants",
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\"\n".into(),
            "no variant",
        ),
        (
            "variant not m3u8",
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.ts\n".into(),
            "not a .m3u8",
        ),
        (
            "variant absolute",
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttps://x/v.m3u8\n".into(),
            "absolute",
        ),
    ];
    for (name, text, want) in table {
        match parse_playlist("main.m3u8", text.as_bytes()) {
            Ok(p) => panic!("{name}: accepted {p:?}"),
            Err(e) => assert!(e.detail.contains(want), "{name}: {e:?} lacks {want:?}"),
        }
    }
}

#[test]
fn uri_resolution() {
    let table: &[(&str, &str, Result<&str, ()>)] = &[
        ("main.m3u8", "seg.ts", Ok("seg.ts")),
        ("hi/index.m3u8", "seg1.ts", Ok("hi/seg1.ts")),
        ("hi/index.m3u8", "./a/../seg1.ts", Ok("hi/seg1.ts")),
        ("hi/index.m3u8", "../lo/seg1.ts", Ok("lo/seg1.ts")),
        ("hi/index.m3u8", "../../seg1.ts", Err(())),
        ("main.m3u8", "seg.ts?token=1", Ok("seg.ts")),
        ("main.m3u8", "https://cdn/seg.ts", Err(())),
        ("main.m3u8", "//cdn/seg.ts", Err(())),
        ("main.m3u8", "", Err(())),
        ("main.m3u8", "..", Err(())),
    ];
    for (base, uri, want) in table {
        let got = resolve_uri(base, uri);
        assert_eq!(
            got.as_deref().map_err(|_| ()),
            want.map(|s| s),
            "{base} {uri}"
        );
    }
}

#[test]
fn refusals_say_what_kind_of_problem_they_are() {
    use crate::parse_error::ParseErrorKind as K;
    let h = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n";
    let table: Vec<(String, K)> = vec![
        ("no header\n".into(), K::Syntax),
        (format!("{h}#EXTINF:x,\na.ts\n"), K::Invalid),
        (format!("{h}#EXTINF:2,\n"), K::Missing),
        (
            format!("{h}#EXT-X-BYTERANGE:10@0\n#EXTINF:2,\na.ts\n"),
            K::Unsupported,
        ),
        (format!("{h}#EXTINF:2,\n../../a.ts\n"), K::OutsideInput),
        (
            format!("{h}#EXTINF:2,\nhttps://cdn/a.ts\n"),
            K::OutsideInput,
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n/abs/v.m3u8\n".into(),
            K::OutsideInput,
        ),
    ];
    for (text, kind) in table {
        let e = parse_playlist("main.m3u8", text.as_bytes()).unwrap_err();
        assert_eq!(e.kind, kind, "{text:?} → {e}");
    }
    let e = parse_playlist("main.m3u8", b"#EXTM3U\n\xff\n").unwrap_err();
    assert_eq!(e.kind, K::Encoding, "{e}");
}
