//! Packager scenarios on real TS (ffmpeg fixtures in `core/testdata/ts/`) through the
//! real HLS pipeline ([`HlsMedia`]): repackaging once per segment, eviction with the
//! window, failures, discontinuities, fMP4 input, and golden manifests with `now` injected.
//! `UPDATE_GOLDEN=1 cargo test -p streampack-core cmaf::packager` rewrites the goldens in
//! `core/testdata/golden/cmaf/` (review the diff).

use super::*;
use crate::channel::config::InputRole::Primary;
use crate::cmaf::output::url_number;
use crate::hls::media::HlsMedia;
use crate::media::{Lookup, Media, MediaParams};
use bytes::Bytes;
use std::path::PathBuf;

const T0_UNIX: u64 = 1_700_000_000_000;
/// First output sequence number of a channel created at `at(0)`.
const SEED: u64 = T0_UNIX / 100;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: 50_000 + ms,
        unix_ms: T0_UNIX + ms,
    }
}

fn fixture(name: &str) -> Bytes {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/ts")
        .join(name);
    Bytes::from(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

fn seg(i: usize) -> Bytes {
    fixture(&format!("h264_aac/seg_{i:05}.ts"))
}

/// A playlist listing `segs` (index into the fixture, discontinuity before it) from `first`.
fn playlist(first: u64, segs: &[(usize, bool)], end: bool) -> Bytes {
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
    );
    for (n, (i, disc)) in segs.iter().enumerate() {
        if *disc {
            s.push_str("#EXT-X-DISCONTINUITY\n");
        }
        s.push_str(&format!(
            "#EXTINF:2.000000,\ns{}_{i}.ts\n",
            first + n as u64
        ));
    }
    if end {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    Bytes::from(s)
}

/// An encoder pushing the fixture's segments: segment `n` (media sequence `n`) is fixture
/// segment `n % 3`, pushed at `n * 2 s`.
struct Enc {
    media: HlsMedia,
    listed: Vec<(usize, bool)>,
}

impl Enc {
    /// On a channel that ends with its encoder, so that `end` ends the output.
    fn new(window_ms: u64) -> Enc {
        let params = MediaParams {
            end_on_endlist: true,
            ..MediaParams::new(4_000, window_ms)
        };
        Enc {
            media: HlsMedia::new(params, at(0)),
            listed: Vec::new(),
        }
    }

    /// Pushes the next segment with `body` and the playlist listing it; returns the snapshot.
    fn push(&mut self, body: Bytes, disc: bool, end: bool) -> Arc<HlsSnapshot> {
        let n = self.listed.len();
        let now = at(2_000 * (n as u64 + 1));
        self.media
            .put(Primary, &format!("s{n}_{}.ts", n % 3), body, now)
            .unwrap();
        self.listed.push((n % 3, disc));
        self.media
            .put(Primary, "main.m3u8", playlist(0, &self.listed, end), now)
            .unwrap();
        self.media.snapshot()
    }
}

fn text(r: &Rendered) -> &str {
    std::str::from_utf8(&r.body).unwrap()
}

fn get<'a>(s: &'a CmafSnapshot, path: &str) -> Lookup<'a> {
    s.find("main", path)
}

fn playlist_text(s: &CmafSnapshot, path: &str) -> String {
    match get(s, path) {
        Lookup::Manifest(r, _) => text(r).to_string(),
        other => panic!("{path}: {other:?}"),
    }
}

fn object(s: &CmafSnapshot, path: &str) -> Option<Bytes> {
    match get(s, path) {
        Lookup::Object(o) => Some(o.body.clone()),
        _ => None,
    }
}

/// Every URI of every playlist and of the MPD resolves through `lookup`.
fn check(s: &CmafSnapshot) {
    let master = playlist_text(s, "main.m3u8");
    let mut lists = Vec::new();
    for l in master.lines() {
        if let Some(i) = l.find("URI=\"") {
            lists.push(l[i + 5..].trim_end_matches('"').to_string());
        } else if !l.starts_with('#') && !l.is_empty() {
            lists.push(l.to_string());
        }
    }
    assert!(!lists.is_empty(), "{master}");
    for l in &lists {
        let pl = playlist_text(s, l);
        let dir = l.rsplit_once('/').map_or("", |(d, _)| d);
        for line in pl.lines() {
            let uri = match line.strip_prefix("#EXT-X-MAP:URI=\"") {
                Some(u) => u.trim_end_matches('"'),
                None if !line.starts_with('#') => line,
                None => continue,
            };
            let full = format!("{dir}/{uri}");
            assert!(object(s, &full).is_some(), "{full} (from {l}) not found");
        }
    }
    let mpd = playlist_text(s, "main.mpd");
    for rep in mpd.split("<Representation ").skip(1) {
        let attr = |name: &str| {
            let i = rep.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            rep[i..i + rep[i..].find('"').unwrap()].to_string()
        };
        let init = attr("initialization");
        assert!(object(s, &init).is_some(), "{init}");
        let start: u64 = attr("startNumber").parse().unwrap();
        let count: u64 = rep
            .split("<S ")
            .skip(1)
            .map(|s| {
                s.split(" r=\"").nth(1).map_or(1, |r| {
                    1 + r.split('"').next().unwrap().parse::<u64>().unwrap()
                })
            })
            .sum();
        for n in start..start + count {
            let p = attr("media").replace("$Number$", &n.to_string());
            assert!(object(s, &p).is_some(), "{p} not found:\n{mpd}");
        }
    }
}

fn assert_golden(name: &str, actual: &str) {
    crate::golden::assert_golden("cmaf", name, actual);
}

#[test]
fn a_status_only_change_of_the_hls_output_rebuilds_nothing() {
    let mut enc = Enc::new(60_000);
    let mut p = CmafPackager::new(at(0));
    let hls = enc.push(seg(0), false, false);
    let a = p.update(&hls, at(2_000));
    // A segment no playlist lists yet: a new HLS snapshot (its status counts the segment),
    // the same playlists.
    enc.media
        .put(Primary, "s1_1.ts", seg(1), at(3_000))
        .unwrap();
    let status_only = enc.media.snapshot();
    assert_ne!(status_only.version, hls.version);
    assert_eq!(status_only.output_version, hls.output_version);
    assert!(Arc::ptr_eq(&a, &p.update(&status_only, at(3_100))));
    assert_eq!(p.stats().repackaged, 1);
}

#[test]
fn repackages_each_segment_once_and_reuses_it() {
    let mut enc = Enc::new(60_000);
    let mut p = CmafPackager::new(at(0));
    let hls = enc.push(seg(0), false, false);
    let a = p.update(&hls, at(2_000));
    assert_eq!(p.stats().repackaged, 1);
    check(&a);
    // The same HLS version: the same snapshot, nothing repackaged.
    assert!(Arc::ptr_eq(&a, &p.update(&hls, at(2_100))));
    let hls = enc.push(seg(1), false, false);
    let b = p.update(&hls, at(4_000));
    let hls = enc.push(seg(2), false, false);
    let c = p.update(&hls, at(6_000));
    assert_eq!(
        p.stats(),
        PackagerStats {
            repackaged: 3,
            failed: 0,
            cache_hits: 1 + 2,
            evicted: 0
        }
    );
    check(&c);
    // A fragment is the same shared bytes in every snapshot that holds it.
    let path = format!("main/video/{}.m4s", url_number(SEED));
    let (Lookup::Object(x), Lookup::Object(y)) = (get(&b, &path), get(&c, &path)) else {
        panic!("{path}");
    };
    assert_eq!(x.body.as_ptr(), y.body.as_ptr());
    assert_eq!(x.etag, y.etag);
    // Unchanged renders keep their etag; changed ones get a new one.
    let (Lookup::Manifest(m1, _), Lookup::Manifest(m2, _)) =
        (get(&b, "main.m3u8"), get(&c, "main.m3u8"))
    else {
        panic!("master");
    };
    assert_eq!(
        m1.etag, m2.etag,
        "the master does not change with the window"
    );
    let (Lookup::Manifest(d1, _), Lookup::Manifest(d2, _)) =
        (get(&b, "main.mpd"), get(&c, "main.mpd"))
    else {
        panic!("mpd");
    };
    assert_ne!(d1.etag, d2.etag);
    assert_eq!(
        object(&c, "main/video/init0.mp4").unwrap(),
        object(&a, "main/video/init0.mp4").unwrap()
    );
    assert_eq!(
        get(&c, "main/audio/init0.mp4").map_object(|o| o.content_type),
        Some("audio/mp4")
    );
}

trait MapObject {
    fn map_object<T>(self, f: impl FnOnce(&MediaObject) -> T) -> Option<T>;
}

impl MapObject for Lookup<'_> {
    fn map_object<T>(self, f: impl FnOnce(&MediaObject) -> T) -> Option<T> {
        match self {
            Lookup::Object(o) => Some(f(o)),
            _ => None,
        }
    }
}

#[test]
fn fragments_leave_with_their_source_segment() {
    // A 4.5 s window holds two 2 s segments.
    let mut enc = Enc::new(4_500);
    let mut p = CmafPackager::new(at(0));
    for i in 0..3 {
        let hls = enc.push(seg(i), false, false);
        p.update(&hls, at(2_000 * (i as u64 + 1)));
    }
    let bandwidths = |s: &CmafSnapshot| -> Vec<u64> {
        playlist_text(s, "main.mpd")
            .split(" bandwidth=\"")
            .skip(1)
            .map(|b| b.split('"').next().unwrap().parse().unwrap())
            .collect()
    };
    let before = bandwidths(&p.update(&enc.media.snapshot(), at(6_000)));
    let hls = enc.push(seg(0), false, false);
    let s = p.update(&hls, at(8_000));
    // The peak segment left the window; the advertised rates stay (players' ABR would
    // otherwise see renditions trade places).
    assert_eq!(bandwidths(&s), before);
    // Two segments held, as before the push; never the evicted ones.
    let two: u64 = s
        .objects()
        .filter(|o| o.content_type == "video/mp4" && o.body[4..8] == *b"styp")
        .count() as u64;
    assert_eq!(two, 2);
    assert!(
        s.held_bytes > 0 && s.held_bytes < seg(0).len() as u64 * 3,
        "{}",
        s.held_bytes
    );
    let hls_seqs: Vec<u64> = hls.renditions[0].segments.iter().map(|x| x.seq).collect();
    assert_eq!(hls_seqs, [SEED + 2, SEED + 3]);
    assert_eq!(p.stats().evicted, 2);
    for (seq, there) in [(SEED, false), (SEED + 1, false), (SEED + 2, true)] {
        for t in ["video", "audio"] {
            assert_eq!(
                object(&s, &format!("main/{t}/{}.m4s", url_number(seq))).is_some(),
                there,
                "{t} {seq}"
            );
        }
    }
    let video = playlist_text(&s, "main/video.m3u8");
    assert!(
        video.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", SEED + 2)),
        "{video}"
    );
    check(&s);
}

#[test]
fn a_segment_that_fails_is_skipped_and_the_window_restarts_after_it() {
    let mut enc = Enc::new(60_000);
    let mut p = CmafPackager::new(at(0));
    p.update(&enc.push(seg(0), false, false), at(2_000));
    // Not TS at all (the HLS side stores and serves it as pushed).
    let junk = Bytes::from(vec![0x47u8; 188 * 3]);
    p.update(&enc.push(junk, false, false), at(4_000));
    let s = p.update(&enc.push(seg(2), false, false), at(6_000));
    assert_eq!(p.stats().failed, 1);
    assert_eq!(p.stats().repackaged, 2);
    let w = p.drain_warnings();
    assert!(
        w.len() == 1 && w[0].contains(&format!("{}", SEED + 1)),
        "{w:?}"
    );
    let video = playlist_text(&s, "main/video.m3u8");
    assert!(
        video.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", SEED + 2)),
        "{video}"
    );
    assert!(object(&s, &format!("main/video/{}.m4s", url_number(SEED + 1))).is_none());
    check(&s);
}

#[test]
fn goldens_live_then_discontinuity_then_ended() {
    let mut enc = Enc::new(60_000);
    let mut p = CmafPackager::new(at(0));
    for i in 0..2 {
        p.update(&enc.push(seg(i), false, false), at(2_000 * (i as u64 + 1)));
    }
    let s = p.update(&enc.push(seg(2), false, false), at(6_000));
    assert_golden("live.mpd", &playlist_text(&s, "main.mpd"));
    assert_golden("live_master.m3u8", &playlist_text(&s, "main.m3u8"));
    assert_golden("live_video.m3u8", &playlist_text(&s, "main/video.m3u8"));
    assert_golden("live_audio.m3u8", &playlist_text(&s, "main/audio.m3u8"));
    // The encoder restarts its timestamps behind a discontinuity: a new Period.
    let s = p.update(&enc.push(seg(0), true, false), at(8_000));
    let mpd = playlist_text(&s, "main.mpd");
    assert_eq!(mpd.matches("<Period ").count(), 2, "{mpd}");
    assert_golden("discontinuity.mpd", &mpd);
    assert_golden(
        "discontinuity_video.m3u8",
        &playlist_text(&s, "main/video.m3u8"),
    );
    check(&s);
    // The first Period and the availability start time stay where they were.
    let first_period = |m: &str| {
        m.split("<Period ")
            .nth(1)
            .unwrap()
            .split('>')
            .next()
            .unwrap()
            .to_string()
    };
    let ast = |m: &str| m.split("availabilityStartTime=\"").nth(1).unwrap()[..24].to_string();
    let s2 = p.update(&enc.push(seg(1), false, true), at(10_000));
    let ended = playlist_text(&s2, "main.mpd");
    assert_eq!(first_period(&mpd), first_period(&ended));
    assert_eq!(ast(&mpd), ast(&ended));
    assert!(ended.contains("type=\"static\""), "{ended}");
    assert!(playlist_text(&s2, "main/audio.m3u8").ends_with("#EXT-X-ENDLIST\n"));
    assert_golden("ended.mpd", &ended);
}

#[test]
fn fmp4_input_is_refused_with_a_reason() {
    let mut m = HlsMedia::new(MediaParams::new(4_000, 60_000), at(0));
    let now = at(2_000);
    m.put(Primary, "init.mp4", Bytes::from_static(b"init"), now)
        .unwrap();
    m.put(Primary, "s0.m4s", Bytes::from_static(b"frag"), now)
        .unwrap();
    m.put(
        Primary,
        "main.m3u8",
        Bytes::from_static(
            b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\ns0.m4s\n",
        ),
        now,
    )
    .unwrap();
    let mut p = CmafPackager::new(at(0));
    let s = p.update(&m.snapshot(), now);
    assert!(s.mpd.is_none() && s.master.is_none());
    let why = s.refused.as_deref().unwrap();
    assert!(why.contains("MPEG-TS") && why.contains("fMP4"), "{why}");
    assert_eq!(p.stats().repackaged, 0);
}

#[test]
fn lookup_refuses_what_is_not_there() {
    let mut enc = Enc::new(60_000);
    let mut p = CmafPackager::new(at(0));
    let s = p.update(&enc.push(seg(0), false, false), at(2_000));
    for path in [
        "main.mpd".to_string(),
        "main.m3u8".into(),
        "main/video.m3u8".into(),
        "main/audio.m3u8".into(),
    ] {
        assert!(matches!(get(&s, &path), Lookup::Manifest(..)), "{path}");
    }
    for path in [
        "main.txt".to_string(),
        "other.mpd".into(),
        "1/video.m3u8".into(),
        "main/subs.m3u8".into(),
        "main/video/init1.mp4".into(),
        "main/video/init00.mp4".into(),
        format!("main/video/{}.ts", url_number(SEED)),
        format!("main/video/0{}.m4s", url_number(SEED)),
        format!("main/video/{}.m4s", url_number(SEED + 1)),
        format!("main/{}.m4s", url_number(SEED)),
        format!("main/video/{SEED}.m4s"),
        "0".into(),
        "".into(),
    ] {
        assert!(matches!(get(&s, &path), Lookup::NotFound), "{path}");
    }
    let v = object(&s, &format!("main/video/{}.m4s", url_number(SEED))).unwrap();
    assert_eq!(&v[4..8], b"styp");
    let i = object(&s, "main/video/init0.mp4").unwrap();
    assert_eq!(&i[4..8], b"ftyp");
}

#[test]
fn every_rendition_of_a_master_is_served_with_the_first_ones_audio() {
    let mut m = HlsMedia::new(MediaParams::new(4_000, 60_000), at(0));
    let master = "#EXTM3U\n#EXT-X-VERSION:3\n\
        #EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360\nhi.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=640x360\nlo.m3u8\n";
    m.put(Primary, "main.m3u8", Bytes::from(master), at(1_000))
        .unwrap();
    let mut p = CmafPackager::new(at(0));
    let mut s = None;
    for i in 0..3usize {
        let now = at(2_000 * (i as u64 + 1));
        for r in ["hi", "lo"] {
            m.put(Primary, &format!("{r}_{i}.ts"), seg(i), now).unwrap();
            let mut pl = String::from(
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n",
            );
            for j in 0..=i {
                pl.push_str(&format!("#EXTINF:2.0,\n{r}_{j}.ts\n"));
            }
            m.put(Primary, &format!("{r}.m3u8"), Bytes::from(pl), now)
                .unwrap();
        }
        s = Some(p.update(&m.snapshot(), now));
    }
    let s = s.unwrap();
    check(&s);
    assert_eq!(p.stats().repackaged, 6);
    let master = playlist_text(&s, "main.m3u8");
    assert_eq!(master.matches("#EXT-X-STREAM-INF:").count(), 2, "{master}");
    assert_eq!(master.matches("#EXT-X-MEDIA:TYPE=AUDIO").count(), 1);
    assert!(master.contains("URI=\"hi/audio.m3u8\""), "{master}");
    assert!(master.contains("\nhi/video.m3u8\n") && master.contains("\nlo/video.m3u8\n"));
    let mpd = playlist_text(&s, "main.mpd");
    for id in ["hi-video", "lo-video", "hi-audio"] {
        assert!(mpd.contains(&format!("id=\"{id}\"")), "{id}:\n{mpd}");
    }
    assert!(!mpd.contains("lo-audio"), "{mpd}");
    // The renditions number alike: a player switching keeps its place.
    let seq = |path: &str| {
        let t = playlist_text(&s, path);
        t.lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .map(str::to_string)
    };
    assert_eq!(seq("hi/video.m3u8"), seq("lo/video.m3u8"));
    assert_eq!(seq("hi/video.m3u8"), seq("hi/audio.m3u8"));
}

#[test]
fn hevc_input_is_served_with_its_codecs_string() {
    let mut enc = Enc::new(60_000);
    let mut p = CmafPackager::new(at(0));
    let mut s = None;
    for i in 0..2 {
        let body = fixture(&format!("h265_aac/seg_{i:05}.ts"));
        s = Some(p.update(&enc.push(body, false, false), at(2_000 * (i as u64 + 1))));
    }
    let s = s.unwrap();
    check(&s);
    let mpd = playlist_text(&s, "main.mpd");
    assert!(mpd.contains("codecs=\"hvc1."), "{mpd}");
    let master = playlist_text(&s, "main.m3u8");
    assert!(
        master.contains("CODECS=\"hvc1.") && master.contains(",mp4a.40.2\""),
        "{master}"
    );
    assert!(master.contains("RESOLUTION=320x180"), "{master}");
}

#[test]
fn a_33_bit_pts_wrap_keeps_the_dash_timeline_contiguous() {
    let mut enc = Enc::new(60_000);
    let mut p = CmafPackager::new(at(0));
    let mut s = None;
    for i in 0..3 {
        let body = fixture(&format!("wrap/seg_{i:05}.ts"));
        s = Some(p.update(&enc.push(body, false, false), at(2_000 * (i as u64 + 1))));
    }
    let s = s.unwrap();
    check(&s);
    assert_eq!(p.stats().repackaged, 3);
    let mpd = playlist_text(&s, "main.mpd");
    for rep in mpd.split("<Representation ").skip(1) {
        let mut end: Option<u64> = None;
        for sel in rep.split("<S ").skip(1) {
            let attr = |name: &str| {
                sel.split(&format!("{name}=\""))
                    .nth(1)
                    .map(|v| v.split('"').next().unwrap().parse::<u64>().unwrap())
            };
            let (t, d, r) = (
                attr("t").unwrap(),
                attr("d").unwrap(),
                attr("r").unwrap_or(0),
            );
            if let Some(e) = end {
                assert_eq!(t, e, "timeline gap or overlap at the wrap:\n{mpd}");
            }
            end = Some(t + d * (r + 1));
        }
        // Past 2^33 ticks of 90 kHz (or its audio equivalent): unwrapped, not restarted.
        assert!(end.unwrap() > 1 << 32, "{mpd}");
    }
}
