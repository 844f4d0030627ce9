//! Scenario tests for [`HlsMedia`]: golden manifests, pending segments, eviction, restarts,
//! failover; every snapshot is also checked by [`check`] (round trip through m3u8-rs, every URI
//! resolves). Property tests are in `proptests.rs`.

use super::*;
use crate::channel::config::InputRole::{Backup, Primary};
use crate::media::{Health, Lookup, MediaOutput, Rendered};
use bytes::Bytes;

pub(super) const T0_UNIX: u64 = 1_700_000_000_000;
/// First output sequence number for a channel created at `at(0)`.
const SEED: u64 = T0_UNIX / 100;

pub(super) fn at(ms: u64) -> Now {
    Now {
        mono_ms: 50_000 + ms,
        unix_ms: T0_UNIX + ms,
    }
}

pub(super) fn params() -> MediaParams {
    MediaParams::new(4_000, 10_000)
}

/// [`params`] of a channel whose encoder's `EXT-X-ENDLIST` ends the presentation.
fn params_ending() -> MediaParams {
    MediaParams {
        end_on_endlist: true,
        ..params()
    }
}

/// A media playlist: `(uri, seconds)` segments starting at `seq`.
pub(super) fn pl(seq: u64, segs: &[(&str, f64)], end: bool) -> Bytes {
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{seq}\n"
    );
    for (u, d) in segs {
        s.push_str(&format!("#EXTINF:{d:.6},\n{u}\n"));
    }
    if end {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    Bytes::from(s)
}

pub(super) fn body(tag: &str) -> Bytes {
    Bytes::from(format!("bytes of {tag}").repeat(10))
}

fn text(r: &Rendered) -> &str {
    std::str::from_utf8(&r.body).unwrap()
}

/// The main playlist as served.
fn main_text_dated(m: &mut HlsMedia) -> String {
    let s = m.snapshot();
    check(&s);
    text(s.main.as_ref().expect("main")).to_string()
}

/// A playlist without its `EXT-X-PROGRAM-DATE-TIME` lines: what the numbering and
/// discontinuity tests compare (the dates have tests of their own).
fn undated(t: &str) -> String {
    t.lines()
        .filter(|l| !l.starts_with("#EXT-X-PROGRAM-DATE-TIME:"))
        .flat_map(|l| [l, "\n"])
        .collect()
}

/// The main playlist, undated.
fn main_text(m: &mut HlsMedia) -> String {
    undated(&main_text_dated(m))
}

fn rendition_text(m: &mut HlsMedia, name: &str) -> String {
    let s = m.snapshot();
    check(&s);
    match s.get("main", &format!("{name}/index.m3u8")) {
        Lookup::Manifest(r, _) => undated(text(r)),
        other => panic!("{name}: {other:?}"),
    }
}

fn object(s: &HlsSnapshot, path: &str) -> Option<Bytes> {
    match s.get("main", path) {
        Lookup::Object(o) => Some(o.body.clone()),
        _ => None,
    }
}

/// Every rendered playlist parses back with m3u8-rs to what we meant, and every URI in it
/// resolves through `lookup`.
pub(super) fn check(s: &HlsSnapshot) {
    let Some(main) = &s.main else {
        return;
    };
    match m3u8_rs::parse_playlist_res(&main.body).expect("main parses") {
        m3u8_rs::Playlist::MasterPlaylist(m) => {
            for v in &m.variants {
                assert!(
                    matches!(s.get("main", &v.uri), Lookup::Manifest(..)),
                    "{}",
                    v.uri
                );
            }
        }
        m3u8_rs::Playlist::MediaPlaylist(p) => {
            assert_eq!(s.renditions.len(), 1);
            check_media(s, &p, "");
        }
    }
    for r in &s.renditions {
        let p = m3u8_rs::parse_media_playlist_res(&r.playlist.body).expect("rendition parses");
        check_media(s, &p, &format!("{}/", r.name));
        assert_eq!(p.media_sequence, r.first_seq);
        assert_eq!(p.segments.len(), r.segments.len());
        for (ps, e) in p.segments.iter().zip(&r.segments) {
            assert_eq!(
                (f64::from(ps.duration) * 1000.0).round() as u64,
                e.duration_ms
            );
        }
        for (i, e) in r.segments.iter().enumerate() {
            assert_eq!(e.seq, r.first_seq + i as u64, "gapless numbering");
        }
    }
}

fn check_media(s: &HlsSnapshot, p: &m3u8_rs::MediaPlaylist, prefix: &str) {
    let mut map = None;
    for seg in &p.segments {
        if let Some(m) = &seg.map {
            map = Some(m.uri.clone());
        }
        let uri = format!("{prefix}{}", seg.uri);
        assert!(object(s, &uri).is_some(), "{uri} does not resolve");
        if let Some(m) = &map {
            let m = format!("{prefix}{m}");
            assert!(object(s, &m).is_some(), "{m} does not resolve");
        }
    }
}

/// Pushes segment `uri` then the playlist listing `segs`, as ffmpeg does.
fn push(m: &mut HlsMedia, input: InputRole, uri: &str, seq: u64, segs: &[(&str, f64)], t: u64) {
    m.put(input, uri, body(uri), at(t)).unwrap();
    m.put(input, "main.m3u8", pl(seq, segs, false), at(t + 10))
        .unwrap();
}

/// Drives a single-rendition TS encoder: segments `seg_<i>.ts` of 2 s, list size 6.
fn encoder_ts(m: &mut HlsMedia, input: InputRole, range: std::ops::Range<u64>, t0: u64, end: bool) {
    let names: Vec<String> = (0..range.end).map(|i| format!("seg_{i}.ts")).collect();
    for i in range.clone() {
        let first = i.saturating_sub(5);
        let segs: Vec<(&str, f64)> = (first..=i)
            .map(|j| (names[j as usize].as_str(), 2.0))
            .collect();
        let t = t0 + (i - range.start) * 2000;
        m.put(input, &names[i as usize], body(&names[i as usize]), at(t))
            .unwrap();
        let last = end && i + 1 == range.end;
        m.put(input, "main.m3u8", pl(first, &segs, last), at(t + 10))
            .unwrap();
    }
}

#[test]
fn nothing_playable_until_a_listed_segment_arrives() {
    let mut m = HlsMedia::new(params(), at(0));
    assert!(m.snapshot().main.is_none());
    m.put(Primary, "seg_0.ts", body("a"), at(0)).unwrap();
    assert!(m.snapshot().main.is_none());
    assert_eq!(m.snapshot().status.active, None);
    m.put(
        Primary,
        "main.m3u8",
        pl(0, &[("seg_0.ts", 2.0)], false),
        at(10),
    )
    .unwrap();
    let s = m.snapshot();
    assert!(s.main.is_some());
    assert_eq!(s.status.active, Some(Primary));
    assert_eq!(object(&s, &format!("main/{SEED}.ts")), Some(body("a")));
    assert!(s.get("main", "main/seg_0.ts").is_not_found());
}

/// The backing of the object served at `path`, as the `u32` tag it was pushed with.
fn backing_tag(s: &HlsSnapshot, path: &str) -> Option<u32> {
    match s.get("main", path) {
        Lookup::Object(o) => o.backing.as_ref()?.downcast_ref::<u32>().copied(),
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn a_segment_is_served_with_the_backing_it_was_pushed_with() {
    let mut m = HlsMedia::new(params(), at(0));
    let tagged = |tag: u32, bytes: Bytes| Body {
        bytes,
        backing: Some(Arc::new(tag)),
    };
    m.put_body(Primary, "seg_0.ts", tagged(7, body("a")), at(0))
        .unwrap();
    m.put(Primary, "seg_1.ts", body("b"), at(5)).unwrap();
    let segs = [("seg_0.ts", 2.0), ("seg_1.ts", 2.0)];
    m.put(Primary, "main.m3u8", pl(0, &segs, false), at(10))
        .unwrap();
    let s = m.snapshot();
    assert_eq!(backing_tag(&s, &format!("main/{SEED}.ts")), Some(7));
    assert_eq!(backing_tag(&s, &format!("main/{}.ts", SEED + 1)), None);
}

impl Lookup<'_> {
    fn is_not_found(&self) -> bool {
        matches!(self, Lookup::NotFound)
    }
}

#[test]
fn golden_single_ts_rendition() {
    let mut m = HlsMedia::new(params_ending(), at(0));
    encoder_ts(&mut m, Primary, 0..7, 0, true);
    let want = format!(
        "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:{s2}
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXTINF:2.000,
main/{s2}.ts
#EXTINF:2.000,
main/{s3}.ts
#EXTINF:2.000,
main/{s4}.ts
#EXTINF:2.000,
main/{s5}.ts
#EXTINF:2.000,
main/{s6}.ts
#EXT-X-ENDLIST
",
        s2 = SEED + 2,
        s3 = SEED + 3,
        s4 = SEED + 4,
        s5 = SEED + 5,
        s6 = SEED + 6
    );
    assert_eq!(main_text(&mut m), want);
    assert_eq!(rendition_text(&mut m, "main"), want.replace("main/", ""));
    let s = m.snapshot();
    assert!(s.status.ended);
    assert_eq!(s.status.window_segments, 5);
    assert_eq!(s.status.inputs[0].segments, 7);
    let seg = match s.get("main", &format!("main/{}.ts", SEED + 6)) {
        Lookup::Object(o) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(seg.content_type, "video/mp2t");
    assert!(seg.etag.starts_with('"') && seg.etag.ends_with('"'));
    // Canonical URIs only.
    assert!(s
        .get("main", &format!("main/0{}.ts", SEED + 6))
        .is_not_found());
    assert!(s
        .get("main", &format!("main/{}.m4s", SEED + 6))
        .is_not_found());
    assert!(s
        .get("main", &format!("main/+{}.ts", SEED + 6))
        .is_not_found());
}

const MASTER: &str = include_str!("../../../../samples/hls/multi/main.m3u8");

#[test]
fn golden_encoder_master_two_renditions() {
    let mut m = HlsMedia::new(params(), at(0));
    m.put(
        Primary,
        "main.m3u8",
        Bytes::from_static(MASTER.as_bytes()),
        at(0),
    )
    .unwrap();
    for i in 0..3u64 {
        let t = i * 2000;
        for v in ["hi", "lo"] {
            let names: Vec<String> = (0..=i).map(|j| format!("{v}_seg_{j:05}.ts")).collect();
            m.put(Primary, &names[i as usize], body(&names[i as usize]), at(t))
                .unwrap();
            let segs: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 2.0)).collect();
            m.put(
                Primary,
                &format!("main_{v}.m3u8"),
                pl(0, &segs, false),
                at(t + 5),
            )
            .unwrap();
        }
    }
    assert_eq!(
        main_text(&mut m),
        "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=145200,CODECS=\"avc1.64000b,mp4a.40.2\",RESOLUTION=160x90
main_hi/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=145200,CODECS=\"avc1.64000b,mp4a.40.2\",RESOLUTION=80x46
main_lo/index.m3u8
"
    );
    let lo = rendition_text(&mut m, "main_lo");
    assert_eq!(
        lo,
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{SEED}\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXTINF:2.000,\n{SEED}.ts\n#EXTINF:2.000,\n{}.ts\n\
             #EXTINF:2.000,\n{}.ts\n",
            SEED + 1,
            SEED + 2
        )
    );
    // Renditions are aligned: the same number is the same moment in both.
    let s = m.snapshot();
    assert_eq!(s.renditions[0].first_seq, s.renditions[1].first_seq);
    assert_eq!(
        object(&s, &format!("main_lo/{}.ts", SEED + 2)),
        Some(body("lo_seg_00002.ts"))
    );
}

#[test]
fn synthesized_master_without_encoder_master() {
    let mut m = HlsMedia::new(params(), at(0));
    for v in ["a", "b"] {
        let seg = format!("{v}/s0.ts");
        m.put(Primary, &seg, Bytes::from(vec![0u8; 1000]), at(0))
            .unwrap();
        m.put(
            Primary,
            &format!("{v}/index.m3u8"),
            pl(0, &[("s0.ts", 2.0)], false),
            at(5),
        )
        .unwrap();
    }
    // Same stem twice: de-duplicated; bandwidth = 1000 bytes * 8 / 2 s.
    assert_eq!(
        main_text(&mut m),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=4000\nindex/index.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=4000\nindex_2/index.m3u8\n"
    );
}

#[test]
fn golden_fmp4_init_arriving_after_the_playlist() {
    let mut m = HlsMedia::new(params(), at(0));
    let fmp4 = |n: usize| {
        let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"init.mp4\"\n");
        for i in 0..n {
            s.push_str(&format!("#EXTINF:2.000000,\nseg_{i:05}.m4s\n"));
        }
        Bytes::from(s)
    };
    m.put(Primary, "seg_00000.m4s", body("s0"), at(0)).unwrap();
    m.put(Primary, "main.m3u8", fmp4(1), at(10)).unwrap();
    assert!(m.snapshot().main.is_none(), "the init is still arriving");
    m.put(Primary, "init.mp4", body("init"), at(1500)).unwrap();
    m.put(Primary, "seg_00001.m4s", body("s1"), at(2000))
        .unwrap();
    m.put(Primary, "main.m3u8", fmp4(2), at(2010)).unwrap();
    assert_eq!(
        main_text(&mut m),
        format!(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{SEED}\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-MAP:URI=\"main/init0.mp4\"\n#EXTINF:2.000,\n\
             main/{SEED}.m4s\n#EXTINF:2.000,\nmain/{}.m4s\n",
            SEED + 1
        )
    );
    let s = m.snapshot();
    assert_eq!(object(&s, "main/init0.mp4"), Some(body("init")));
    match s.get("main", &format!("main/{SEED}.m4s")) {
        Lookup::Object(o) => assert_eq!(o.content_type, "video/mp4"),
        other => panic!("{other:?}"),
    }
    // A new init content gets a new number and a new EXT-X-MAP.
    m.put(Primary, "init.mp4", body("init v2"), at(3000))
        .unwrap();
    m.put(Primary, "seg_00002.m4s", body("s2"), at(4000))
        .unwrap();
    m.put(Primary, "main.m3u8", fmp4(3), at(4010)).unwrap();
    let t = main_text(&mut m);
    assert!(
        t.contains(&format!(
            "#EXT-X-MAP:URI=\"main/init1.mp4\"\n#EXTINF:2.000,\nmain/{}.m4s",
            SEED + 2
        )),
        "{t}"
    );
    assert_eq!(
        object(&m.snapshot(), "main/init1.mp4"),
        Some(body("init v2"))
    );
}

#[test]
fn pending_segment_is_published_when_its_put_completes() {
    let mut m = HlsMedia::new(params(), at(0));
    push(&mut m, Primary, "s0.ts", 0, &[("s0.ts", 2.0)], 0);
    // The playlist names s1 while its PUT is still running.
    m.put(
        Primary,
        "main.m3u8",
        pl(0, &[("s0.ts", 2.0), ("s1.ts", 2.0)], false),
        at(2000),
    )
    .unwrap();
    let v = m.version();
    assert_eq!(m.snapshot().status.window_segments, 1);
    m.tick(at(3000));
    assert_eq!(m.version(), v, "nothing changed while waiting");
    m.put(Primary, "s1.ts", body("s1.ts"), at(3500)).unwrap();
    let s = m.snapshot();
    assert_eq!(s.status.window_segments, 2);
    assert_eq!(
        object(&s, &format!("main/{}.ts", SEED + 1)),
        Some(body("s1.ts"))
    );
    assert!(!main_text(&mut m).contains("DISCONTINUITY\n"));
}

#[test]
fn pending_segment_is_skipped_after_max_segment_duration() {
    let mut m = HlsMedia::new(params(), at(0));
    push(&mut m, Primary, "s0.ts", 0, &[("s0.ts", 2.0)], 0);
    m.put(
        Primary,
        "main.m3u8",
        pl(0, &[("s0.ts", 2.0), ("s1.ts", 2.0)], false),
        at(2000),
    )
    .unwrap();
    m.put(Primary, "s2.ts", body("s2.ts"), at(4000)).unwrap();
    m.put(
        Primary,
        "main.m3u8",
        pl(0, &[("s0.ts", 2.0), ("s1.ts", 2.0), ("s2.ts", 2.0)], false),
        at(4010),
    )
    .unwrap();
    assert_eq!(m.snapshot().status.window_segments, 1, "s1 holds s2 back");
    m.tick(at(2000 + 3999));
    assert_eq!(m.snapshot().status.window_segments, 1);
    m.tick(at(2000 + 4000));
    // s2 takes the next number (gapless), behind a discontinuity.
    assert_eq!(
        main_text(&mut m),
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{SEED}\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXTINF:2.000,\nmain/{SEED}.ts\n#EXT-X-DISCONTINUITY\n\
             #EXTINF:2.000,\nmain/{}.ts\n",
            SEED + 1
        )
    );
    assert_eq!(
        object(&m.snapshot(), &format!("main/{}.ts", SEED + 1)),
        Some(body("s2.ts"))
    );
    // s1 arriving late changes nothing.
    m.put(Primary, "s1.ts", body("s1.ts"), at(6500)).unwrap();
    assert_eq!(m.snapshot().status.window_segments, 2);
}

#[test]
fn overlong_segment_is_refused_with_a_warning() {
    let mut m = HlsMedia::new(params(), at(0));
    push(&mut m, Primary, "s0.ts", 0, &[("s0.ts", 2.0)], 0);
    m.put(Primary, "s1.ts", body("s1.ts"), at(2000)).unwrap();
    // 4.5 s is within the tolerance of a 4 s maximum; 4.501 s is not.
    let out = m
        .put(
            Primary,
            "main.m3u8",
            pl(0, &[("s0.ts", 2.0), ("s1.ts", 4.501)], false),
            at(2010),
        )
        .unwrap();
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(
        out.warnings[0].contains("s1.ts")
            && out.warnings[0].contains("4501")
            && out.warnings[0].contains("4000")
    );
    m.put(Primary, "s2.ts", body("s2.ts"), at(6000)).unwrap();
    let out = m
        .put(
            Primary,
            "main.m3u8",
            pl(
                0,
                &[("s0.ts", 2.0), ("s1.ts", 4.501), ("s2.ts", 4.5)],
                false,
            ),
            at(6010),
        )
        .unwrap();
    assert!(
        out.warnings.is_empty(),
        "no second warning for s1: {:?}",
        out.warnings
    );
    let s = m.snapshot();
    assert_eq!(s.status.refused_segments, 1);
    assert_eq!(
        object(&s, &format!("main/{}.ts", SEED + 1)),
        Some(body("s2.ts"))
    );
    let t = main_text(&mut m);
    assert!(t.contains("#EXT-X-TARGETDURATION:5\n"), "{t}");
    assert!(t.contains("#EXT-X-DISCONTINUITY\n#EXTINF:4.500,"), "{t}");
}

#[test]
fn window_eviction_frees_old_segments() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..3, 0, false);
    let early = m.snapshot().held_bytes_for_test();
    encoder_ts(&mut m, Primary, 3..40, 6000, false);
    let s = m.snapshot();
    // 10 s window of 2 s segments.
    assert_eq!(s.status.window_segments, 5);
    assert!(object(&s, &format!("main/{SEED}.ts")).is_none());
    assert!(object(&s, &format!("main/{}.ts", SEED + 39)).is_some());
    // Window (5) plus what the encoder still lists (6, overlapping): bounded, not growing.
    let seg = body("seg_10.ts").len() as u64;
    assert!(
        s.status.held_bytes <= 7 * seg,
        "{} > {}",
        s.status.held_bytes,
        7 * seg
    );
    assert!(early <= s.status.held_bytes);
    // Encoder DELETE frees the store's copy; the output keeps serving its own.
    assert!(m.delete(Primary, "seg_39.ts", at(90_000)));
    assert!(!m.delete(Primary, "seg_39.ts", at(90_000)));
    assert!(object(&m.snapshot(), &format!("main/{}.ts", SEED + 39)).is_some());
}

impl HlsSnapshot {
    fn held_bytes_for_test(&self) -> u64 {
        self.status.held_bytes
    }
}

#[test]
fn never_listed_objects_are_freed_after_the_window() {
    let mut m = HlsMedia::new(params(), at(0));
    m.put(Primary, "stray.ts", body("x"), at(0)).unwrap();
    assert_eq!(m.snapshot().status.held_bytes, body("x").len() as u64);
    m.tick(at(10_000));
    assert_eq!(m.snapshot().status.held_bytes, body("x").len() as u64);
    m.tick(at(10_001));
    assert_eq!(m.snapshot().status.held_bytes, 0);
}

#[test]
fn encoder_restart_continues_numbering_behind_a_discontinuity() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..3, 0, false);
    // ffmpeg restarted: sequence 0 again, same file names, new content.
    m.put(Primary, "seg_0.ts", body("new 0"), at(8000)).unwrap();
    m.put(
        Primary,
        "main.m3u8",
        pl(0, &[("seg_0.ts", 2.0)], false),
        at(8010),
    )
    .unwrap();
    let t = main_text(&mut m);
    assert!(
        t.ends_with(&format!(
            "#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nmain/{}.ts\n",
            SEED + 3
        )),
        "{t}"
    );
    assert_eq!(
        object(&m.snapshot(), &format!("main/{}.ts", SEED + 3)),
        Some(body("new 0"))
    );
    // Window slides the discontinuity out: DISCONTINUITY-SEQUENCE follows.
    for i in 1..6u64 {
        let names: Vec<String> = (0..=i).map(|j| format!("seg_{j}.ts")).collect();
        let segs: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 2.0)).collect();
        m.put(
            Primary,
            &names[i as usize],
            body(&format!("new {i}")),
            at(8000 + i * 2000),
        )
        .unwrap();
        m.put(
            Primary,
            "main.m3u8",
            pl(0, &segs, false),
            at(8010 + i * 2000),
        )
        .unwrap();
    }
    let t = main_text(&mut m);
    assert!(t.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{t}");
    assert!(!t.contains("#EXT-X-DISCONTINUITY\n"), "{t}");
}

#[test]
fn endlist_then_new_segments_clear_it() {
    let mut m = HlsMedia::new(params_ending(), at(0));
    encoder_ts(&mut m, Primary, 0..2, 0, true);
    assert!(main_text(&mut m).ends_with("#EXT-X-ENDLIST\n"));
    assert!(m.snapshot().status.ended);
    // The operator sees the input as ended, not as healthy or down.
    assert_eq!(m.snapshot().status.inputs[0].health, Health::Ended);
    assert_eq!(m.snapshot().status.inputs[1].health, Health::Never);
    // Restarted with -hls_flags append_list: numbering goes on.
    m.put(Primary, "seg_2.ts", body("seg_2.ts"), at(10_000))
        .unwrap();
    m.put(
        Primary,
        "main.m3u8",
        pl(
            0,
            &[("seg_0.ts", 2.0), ("seg_1.ts", 2.0), ("seg_2.ts", 2.0)],
            false,
        ),
        at(10_010),
    )
    .unwrap();
    let t = main_text(&mut m);
    assert!(!t.contains("ENDLIST"), "{t}");
    assert!(
        t.ends_with(&format!(
            "#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nmain/{}.ts\n",
            SEED + 2
        )),
        "{t}"
    );
    assert!(!m.snapshot().status.ended);
    assert_ne!(m.snapshot().status.inputs[0].health, Health::Ended);
}

/// ffmpeg exits (`EXT-X-ENDLIST`) and is started again: its new run numbers from 0 with the
/// same file names. A live channel's players never see the end: the output goes on behind
/// one discontinuity, numbering without a gap.
#[test]
fn an_encoder_restart_keeps_the_output_live() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..4, 0, true);
    let t = main_text(&mut m);
    assert!(!t.contains("ENDLIST"), "{t}");
    let s = m.snapshot();
    assert!(!s.status.ended, "the channel did not end");
    assert_eq!(s.status.inputs[0].health, Health::Ended, "its encoder did");
    assert_eq!(s.renditions.iter().filter(|r| r.ended).count(), 0);

    encoder_ts(&mut m, Primary, 0..3, 20_000, false);
    let t = main_text(&mut m);
    assert!(!t.contains("ENDLIST"), "{t}");
    assert_eq!(t.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{t}");
    let want_tail = format!(
        "main/{}.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nmain/{}.ts\n#EXTINF:2.000,\n\
         main/{}.ts\n#EXTINF:2.000,\nmain/{}.ts\n",
        SEED + 3,
        SEED + 4,
        SEED + 5,
        SEED + 6
    );
    assert!(t.ends_with(&want_tail), "{t}");
    let s = m.snapshot();
    assert_ne!(s.status.inputs[0].health, Health::Ended);
    assert!(!s.status.ended);
    // The new run's bytes are served under the new numbers, the old run's under the old.
    assert_eq!(
        object(&s, &format!("main/{}.ts", SEED + 4)),
        Some(body("seg_0.ts"))
    );
    assert_eq!(
        object(&s, &format!("main/{}.ts", SEED + 3)),
        Some(body("seg_3.ts"))
    );
}

/// `end_on_endlist` is a channel setting: turned on after the encoder ended, the output
/// ends at once; turned off again, it is live again.
#[test]
fn end_on_endlist_applies_when_edited() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..3, 0, true);
    assert!(!main_text(&mut m).contains("ENDLIST"));
    m.set_params(params_ending(), at(7_000));
    assert!(main_text(&mut m).ends_with("#EXT-X-ENDLIST\n"));
    assert!(m.snapshot().status.ended);
    m.set_params(params(), at(8_000));
    assert!(!main_text(&mut m).contains("ENDLIST"));
    assert!(!m.snapshot().status.ended);
}

#[test]
fn set_params_shrinks_the_window_at_once() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..5, 0, false);
    assert_eq!(m.snapshot().status.window_segments, 5);
    let v = m.version();
    m.set_params(MediaParams::new(4_000, 4_000), at(9000));
    assert!(m.version() > v);
    let s = m.snapshot();
    assert_eq!(s.status.window_segments, 2);
    assert_eq!(s.renditions[0].first_seq, SEED + 3);
    check(&s);
}

#[test]
fn failover_to_backup_when_primary_stops() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..3, 0, false);
    encoder_ts(&mut m, Backup, 100..106, 0, false);
    assert_eq!(m.snapshot().status.active, Some(Primary));
    // The primary's last segment came at 4000; the backup goes on.
    encoder_ts(&mut m, Backup, 106..108, 12_000, false);
    let s = m.snapshot();
    assert_eq!(s.status.active, Some(Backup));
    assert_eq!(s.status.failovers, 1);
    let t = main_text(&mut m);
    // Continues at SEED+3 with the backup's newest segment when the switch happened (the
    // primary's last delivery was at 4010: down at 12010, when the backup listed seg_106).
    assert!(
        t.contains(&format!(
            "main/{}.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nmain/{}.ts\n",
            SEED + 2,
            SEED + 3
        )),
        "{t}"
    );
    assert_eq!(
        object(&s, &format!("main/{}.ts", SEED + 3)),
        Some(body("seg_106.ts"))
    );
    let last = s.renditions[0].segments.last().unwrap();
    assert_eq!(
        (last.seq, &last.object.body),
        (SEED + 4, &body("seg_107.ts"))
    );
    // No switch back while the backup keeps delivering.
    encoder_ts(&mut m, Backup, 108..110, 16_000, false);
    encoder_ts(&mut m, Primary, 3..5, 16_000, false);
    m.tick(at(19_000));
    assert_eq!(m.snapshot().status.active, Some(Backup));
}

#[test]
fn ingest_errors() {
    let mut m = HlsMedia::new(params(), at(0));
    let e = m.put(Primary, "main.mpd", Bytes::new(), at(0)).unwrap_err();
    assert_eq!(e.status_code(), 415);
    assert!(e.to_string().contains("HLS channel"), "{e}");
    let e = m.put(Primary, "x.exe", Bytes::new(), at(0)).unwrap_err();
    assert_eq!(e.status_code(), 415);
    assert!(e.to_string().contains(".exe"));
    encoder_ts(&mut m, Primary, 0..2, 0, false);
    let before = main_text(&mut m);
    let e = m
        .put(
            Primary,
            "main.m3u8",
            Bytes::from_static(b"#EXTM3U\n#EXTINF:x,\na.ts\n"),
            at(5000),
        )
        .unwrap_err();
    assert_eq!(e.status_code(), 400);
    assert!(e.to_string().contains("main.m3u8: line 2"), "{e}");
    let e = m
        .put(
            Primary,
            "main.m3u8",
            Bytes::from_static(b"#EXTM3U\n#EXTINF:2,\n../../x.ts\n"),
            at(5000),
        )
        .unwrap_err();
    assert_eq!(e.status_code(), 400);
    assert_eq!(main_text(&mut m), before);
}

#[test]
fn snapshot_is_cached_and_etags_follow_content() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..2, 0, false);
    let a = m.snapshot();
    let b = m.snapshot();
    assert!(Arc::ptr_eq(&a, &b));
    // A stray object changes the status, not the playlist: the status is republished at
    // once, the playlists are not rendered again (the very same bytes, the same etag).
    m.put(Primary, "stray.ts", body("x"), at(4500)).unwrap();
    let c = m.snapshot();
    assert!(c.version > a.version);
    assert!(c.status.held_bytes > a.status.held_bytes);
    assert_eq!(c.status.inputs[0].segments, a.status.inputs[0].segments + 1);
    let (am, cm) = (a.main.as_ref().unwrap(), c.main.as_ref().unwrap());
    assert_eq!(cm.etag, am.etag);
    assert_eq!(cm.body.as_ptr(), am.body.as_ptr(), "not rendered again");
    m.tick(at(4700));
    assert!(
        Arc::ptr_eq(&c, &m.snapshot()),
        "nothing changed: no rebuild"
    );
    encoder_ts(&mut m, Primary, 2..3, 5000, false);
    let d = m.snapshot();
    assert_ne!(d.main.as_ref().unwrap().etag, a.main.as_ref().unwrap().etag);
    assert_eq!(
        d.main.as_ref().unwrap().last_modified_unix_ms,
        T0_UNIX + 5010
    );
}

#[test]
fn a_restarted_daemon_numbers_above_what_it_served() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..50, 0, false);
    let served = m.snapshot().renditions[0].segments.last().unwrap().seq;
    let mut again = HlsMedia::new(params(), at(100_000));
    encoder_ts(&mut again, Primary, 50..51, 100_000, false);
    assert!(again.snapshot().renditions[0].first_seq > served);
}

#[test]
fn a_media_playlist_replacing_the_master_ends_master_mode_renditions() {
    let mut m = HlsMedia::new(params(), at(0));
    m.put(
        Primary,
        "main.m3u8",
        Bytes::from_static(MASTER.as_bytes()),
        at(0),
    )
    .unwrap();
    m.put(Primary, "hi_seg_00000.ts", body("hi"), at(0))
        .unwrap();
    m.put(
        Primary,
        "main_hi.m3u8",
        pl(0, &[("hi_seg_00000.ts", 2.0)], false),
        at(5),
    )
    .unwrap();
    assert!(main_text(&mut m).contains("main_hi/index.m3u8"));
    assert!(m.delete(Primary, "main.m3u8", at(10)));
    // Restarted as a single rendition pushing main.m3u8: it is served (inside the master,
    // since players that cached a master keep reloading it as one).
    m.put(Primary, "seg_0.ts", body("single"), at(100)).unwrap();
    m.put(
        Primary,
        "main.m3u8",
        pl(0, &[("seg_0.ts", 2.0)], false),
        at(110),
    )
    .unwrap();
    let s = m.snapshot();
    assert_eq!(
        object(&s, &format!("main/{}.ts", SEED)),
        Some(body("single"))
    );
    assert!(main_text(&mut m).contains("main/index.m3u8"));
}

#[test]
fn shared_across_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<HlsMedia>();
    send_sync::<HlsSnapshot>();
}

#[test]
fn real_ffmpeg_fmp4_output_is_served() {
    let init = Bytes::from_static(include_bytes!("../../../../samples/hls/fmp4/init.mp4"));
    let seg = Bytes::from_static(include_bytes!("../../../../samples/hls/fmp4/seg_00003.m4s"));
    let playlist = Bytes::from_static(include_bytes!("../../../../samples/hls/fmp4/main.m3u8"));
    let mut m = HlsMedia::new(params_ending(), at(0));
    // Only the last segment of the run reached us (the daemon started late): it is served
    // at once, the older ones are not waited for.
    m.put(Primary, "init.mp4", init.clone(), at(0)).unwrap();
    m.put(Primary, "seg_00003.m4s", seg.clone(), at(0)).unwrap();
    m.put(Primary, "main.m3u8", playlist, at(10)).unwrap();
    let s = m.snapshot();
    check(&s);
    assert_eq!(
        undated(text(s.main.as_ref().unwrap())),
        format!(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{SEED}\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-MAP:URI=\"main/init0.mp4\"\n#EXTINF:1.000,\n\
             main/{SEED}.m4s\n#EXT-X-ENDLIST\n"
        )
    );
    assert_eq!(object(&s, "main/init0.mp4"), Some(init));
    assert_eq!(object(&s, &format!("main/{SEED}.m4s")), Some(seg));
    assert!(s.status.ended);
}

#[test]
fn unlisted_rendition_counts_its_break_when_it_returns() {
    let mut m = HlsMedia::new(params(), at(0));
    let master = |v: &[&str]| {
        let mut s = String::from("#EXTM3U\n");
        for x in v {
            s.push_str(&format!("#EXT-X-STREAM-INF:BANDWIDTH=1000\n{x}.m3u8\n"));
        }
        Bytes::from(s)
    };
    m.put(Primary, "main.m3u8", master(&["a", "b"]), at(0))
        .unwrap();
    for v in ["a", "b"] {
        m.put(Primary, &format!("{v}0.ts"), body(v), at(0)).unwrap();
        m.put(
            Primary,
            &format!("{v}.m3u8"),
            pl(0, &[(&format!("{v}0.ts"), 2.0)], false),
            at(5),
        )
        .unwrap();
    }
    m.put(Primary, "main.m3u8", master(&["a"]), at(100))
        .unwrap();
    assert!(m.snapshot().get("main", "b/index.m3u8").is_not_found());
    m.put(Primary, "main.m3u8", master(&["a", "b"]), at(200))
        .unwrap();
    m.put(Primary, "b1.ts", body("b1"), at(2000)).unwrap();
    let segs = [("b0.ts", 2.0), ("b1.ts", 2.0)];
    m.put(Primary, "b.m3u8", pl(0, &segs, false), at(2005))
        .unwrap();
    let t = rendition_text(&mut m, "b");
    assert!(
        t.contains(&format!(
            "#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXTINF:2.000,\n{}.ts\n",
            SEED + 1
        )),
        "{t}"
    );
    // It goes on where it was: b0 is not served again under a new number.
    let s = m.snapshot();
    assert_eq!(object(&s, &format!("b/{}.ts", SEED + 1)), Some(body("b1")));
}

#[test]
fn etags_count_up_after_a_per_output_prefix() {
    let now = Now {
        mono_ms: 0,
        unix_ms: 0x1234,
    };
    let (mut hls, mut dash) = (EtagGen::new("", now), EtagGen::new("d", now));
    assert_eq!(hls.next(), "\"1234-1\"");
    assert_eq!(hls.next(), "\"1234-2\"");
    assert_eq!(dash.next(), "\"d1234-1\"");
}

/// Segments pulled often move into the caller's memory (the daemon's pages), same bytes and
/// etag, the playlists untouched; each moves once.
#[test]
fn hot_segments_move_into_the_callers_memory_once() {
    let mut m = HlsMedia::new(params(), at(0));
    let big = Bytes::from(vec![5u8; 300_000]);
    m.put(Primary, "seg_0.ts", big.clone(), at(0)).unwrap();
    m.put(Primary, "seg_1.ts", body("small"), at(0)).unwrap();
    let segs = [("seg_0.ts", 2.0), ("seg_1.ts", 2.0)];
    m.put(Primary, "main.m3u8", pl(0, &segs, false), at(10))
        .unwrap();
    let main_before = m.snapshot().main.clone().unwrap();
    let pull = |m: &mut HlsMedia, path: &str| {
        let p = m.publish(at(20));
        match p
            .output(crate::channel::config::EndpointType::Hls)
            .unwrap()
            .get("main", path)
        {
            Lookup::Object(o) => (
                o.body.clone(),
                o.etag.clone(),
                o.backing.is_some(),
                o.count_pull(),
            ),
            other => panic!("{path}: {other:?}"),
        }
    };
    let mut promote = |b: &Bytes| {
        Some(Body {
            bytes: Bytes::copy_from_slice(b),
            backing: Some(Arc::new(0u8)),
        })
    };
    let big_path = format!("main/{SEED}.ts");
    let small_path = format!("main/{}.ts", SEED + 1);
    for _ in 0..10 {
        assert!(
            !pull(&mut m, &small_path).3,
            "a small segment never turns hot"
        );
    }
    assert!(!pull(&mut m, &big_path).3);
    assert!(!pull(&mut m, &big_path).3);
    assert_eq!(m.promote_hot(&mut promote), 0, "300 KB: hot after 4 pulls");
    let (body, etag, backed, hot) = pull(&mut m, &big_path);
    assert!(!backed && !hot);
    assert!(pull(&mut m, &big_path).3);
    assert_eq!(m.promote_hot(&mut promote), 1);
    let (moved, moved_etag, backed, _) = pull(&mut m, &big_path);
    assert!(backed);
    assert_ne!(moved.as_ptr(), body.as_ptr(), "served from the copy");
    assert_eq!((&moved, &moved_etag), (&big, &etag));
    let main_after = m.snapshot().main.clone().unwrap();
    assert_eq!(
        (main_after.body, main_after.etag),
        (main_before.body, main_before.etag)
    );
    assert_eq!(m.promote_hot(&mut promote), 0, "moved once");
}

/// Every segment is dated. Without dates from the encoder, the origin's own: the first segment
/// started its duration before it arrived, the next ones follow the durations, and after a
/// break (here an encoder restart) the clock is anchored on arrival again, never going back.
#[test]
fn every_segment_is_dated_by_the_origin_when_the_encoder_does_not() {
    let mut m = HlsMedia::new(params(), at(0));
    encoder_ts(&mut m, Primary, 0..3, 0, false);
    let d = |ms: i64| {
        let unix = u64::try_from(T0_UNIX as i64 + ms).unwrap();
        format!(
            "#EXT-X-PROGRAM-DATE-TIME:{}\n",
            crate::time::format_datetime(unix)
        )
    };
    let seg = |n: u64| format!("#EXTINF:2.000,\nmain/{}.ts\n", SEED + n);
    let head = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{SEED}\n\
         #EXT-X-DISCONTINUITY-SEQUENCE:0\n"
    );
    // seg_0's playlist arrived at 10 ms.
    let want = format!(
        "{head}{}{}{}{}{}{}",
        d(-1_990),
        seg(0),
        d(10),
        seg(1),
        d(2_010),
        seg(2)
    );
    assert_eq!(main_text_dated(&mut m), want);
    // The encoder restarts: its first segment (3.9 s long) arrives at 7,810 ms. Arrival less
    // duration would be 3,910 ms, before the last segment ended (4,010): never back.
    m.put(Primary, "r_0.ts", body("r_0"), at(7_800)).unwrap();
    m.put(
        Primary,
        "main.m3u8",
        pl(0, &[("r_0.ts", 3.9)], false),
        at(7_810),
    )
    .unwrap();
    let t = main_text_dated(&mut m);
    let restarted = format!("#EXTINF:3.900,\nmain/{}.ts\n", SEED + 3);
    assert!(
        t.ends_with(&format!(
            "{}{}#EXT-X-DISCONTINUITY\n{}{restarted}",
            d(2_010),
            seg(2),
            d(4_010)
        )),
        "{t}"
    );
    // The next break comes later: anchored on arrival again (12,010 - 2,000).
    encoder_ts(&mut m, Primary, 0..1, 12_000, false);
    let t = main_text_dated(&mut m);
    assert!(
        t.ends_with(&format!("#EXT-X-DISCONTINUITY\n{}{}", d(10_010), seg(4))),
        "{t}"
    );
    assert_eq!(
        m.snapshot().renditions[0]
            .segments
            .iter()
            .map(|s| s.start_unix_ms - T0_UNIX + 1_990)
            .collect::<Vec<_>>(),
        vec![2_000, 4_000, 6_000, 12_000],
        "the snapshot's segments carry the same dates (the first left the 10 s window)"
    );
}

/// An encoder's own `EXT-X-PROGRAM-DATE-TIME` is served as it wrote it, and dates the segment.
#[test]
fn the_encoders_dates_are_passed_through() {
    let mut m = HlsMedia::new(params(), at(0));
    m.put(Primary, "a.ts", body("a"), at(0)).unwrap();
    m.put(Primary, "b.ts", body("b"), at(0)).unwrap();
    let pl = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
              #EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000+0000\n#EXTINF:2.0,\na.ts\n\
              #EXTINF:2.0,\nb.ts\n";
    m.put(Primary, "main.m3u8", Bytes::from(pl), at(10))
        .unwrap();
    let t = main_text_dated(&mut m);
    assert!(
        t.contains("#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000+0000\n#EXTINF:2.000,"),
        "{t}"
    );
    // b.ts has no date of its own: it follows a.ts's.
    assert!(
        t.contains("#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:02.000Z\n"),
        "{t}"
    );
}
