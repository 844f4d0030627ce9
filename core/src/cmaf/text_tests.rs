//! Subtitles through the real HLS pipeline into the CMAF endpoint: a WebVTT rendition pushed
//! with video becomes a `wvtt` track on the video's timeline, announced by the fMP4 HLS master
//! (`TYPE=SUBTITLES`) and the MPD (a text AdaptationSet), its cues where the video is.

use super::*;
use crate::channel::config::InputRole::Primary;
use crate::cmaf::packager::CmafPackager;
use crate::fmp4::fragment::parse_media_segment;
use crate::fmp4::parse_boxes;
use crate::hls::media::HlsMedia;
use crate::media::{Lookup, Media, MediaParams};
use crate::time::Now;
use std::path::PathBuf;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: 50_000 + ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

fn fixture(i: usize) -> Bytes {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("testdata/ts/h264_aac/seg_{i:05}.ts"));
    Bytes::from(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

fn playlist(segs: &[String]) -> Bytes {
    let mut s = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n");
    for u in segs {
        s.push_str(&format!("#EXTINF:2.000000,\n{u}\n"));
    }
    Bytes::from(s)
}

/// ffmpeg's push: a master with a subtitles group, three video segments and three WebVTT
/// segments without `X-TIMESTAMP-MAP`; cue `n` from `n` s + 500 ms to `n` s + 1500 ms (the
/// second segment's cue crosses into the third segment's time).
fn pushed() -> (HlsMedia, Vec<Bytes>) {
    let mut m = HlsMedia::new(
        MediaParams {
            cmaf: true,
            ..MediaParams::new(4_000, 60_000)
        },
        at(0),
    );
    let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=YES,AUTOSELECT=YES,URI=\"v0_vtt.m3u8\"\n\
                  #EXT-X-STREAM-INF:BANDWIDTH=900000,SUBTITLES=\"subs\"\nv0.m3u8\n";
    m.put(Primary, "main.m3u8", Bytes::from(master), at(0))
        .unwrap();
    let mut video = Vec::new();
    let mut subs = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..3usize {
        let now = at(2_000 * (i as u64 + 1));
        let t = |ms: u64| format!("00:{:02}.{:03}", ms / 1000, ms % 1000);
        let (a, b) = (
            i as u64 * 2_000 + 500,
            i as u64 * 2_000 + 1_500 + 1_000 * (i == 1) as u64,
        );
        let vtt = format!("WEBVTT\n\n{} --> {}\ncue {i}\n", t(a), t(b));
        bodies.push(fixture(i));
        m.put(Primary, &format!("s{i}.ts"), fixture(i), now)
            .unwrap();
        m.put(Primary, &format!("v{i}.vtt"), Bytes::from(vtt), now)
            .unwrap();
        video.push(format!("s{i}.ts"));
        subs.push(format!("v{i}.vtt"));
        m.put(Primary, "v0_vtt.m3u8", playlist(&subs), now).unwrap();
        m.put(Primary, "v0.m3u8", playlist(&video), now).unwrap();
        m.tick(now.plus_ms(100));
    }
    (m, bodies)
}

fn manifest(s: &crate::cmaf::output::CmafSnapshot, path: &str) -> String {
    match s.find("main", path) {
        Lookup::Manifest(r, _) => String::from_utf8(r.body.to_vec()).unwrap(),
        other => panic!("{path}: {other:?}"),
    }
}

fn object(s: &crate::cmaf::output::CmafSnapshot, path: &str) -> Bytes {
    match s.find("main", path) {
        Lookup::Object(o) => o.body.clone(),
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn webvtt_subtitles_become_a_wvtt_track_on_the_video_timeline() {
    let (mut m, _) = pushed();
    let hls = m.snapshot();
    let mut p = CmafPackager::new(at(0));
    let snap = p.update(&hls, at(6_200));
    assert_eq!(p.stats().failed, 0, "{:?}", p.drain_warnings());
    let master = manifest(&snap, "main.m3u8");
    let subs = hls
        .renditions
        .iter()
        .find(|r| r.subtitles.is_some())
        .unwrap();
    let video_dir = &hls
        .renditions
        .iter()
        .find(|r| r.subtitles.is_none())
        .unwrap()
        .name;
    // The fMP4 HLS master lists the WebVTT files (HLS carries WebVTT as text), each as
    // pushed with the origin's X-TIMESTAMP-MAP (the fMP4 decode times are on that clock).
    let webvtt_uri = format!("{}/webvtt.m3u8", subs.name);
    assert!(
        master.contains(&format!(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"eng\",DEFAULT=YES,AUTOSELECT=YES,URI=\"{webvtt_uri}\""
        )),
        "{master}"
    );
    assert!(master.contains("SUBTITLES=\"subs\""), "{master}");
    assert!(!master.contains("wvtt"), "{master}");
    let webvtt = manifest(&snap, &webvtt_uri);
    let files: Vec<&str> = webvtt.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(files.len(), 3, "{webvtt}");
    for (f, source) in files.iter().zip(&subs.segments) {
        assert!(f.starts_with("webvtt/") && f.ends_with(".vtt"), "{webvtt}");
        let body = object(&snap, &format!("{}/{f}", subs.name));
        assert_eq!(body, source.object.body);
        assert!(body.starts_with(b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:"));
    }
    assert!(matches!(
        snap.find(
            "main",
            &format!(
                "{}/webvtt/{}",
                subs.name,
                files[0]
                    .replace(".vtt", ".m4s")
                    .trim_start_matches("webvtt/")
            )
        ),
        Lookup::NotFound
    ));
    // The wvtt track (the MPD's) has a playlist of its own too.
    let text_uri = format!("{}/text.m3u8", subs.name);
    let list = manifest(&snap, &text_uri);
    let uris: Vec<&str> = list.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(uris.len(), 3, "{list}");
    assert!(list.contains("#EXT-X-MAP:URI=\"text/init0.mp4\""), "{list}");
    let init = object(&snap, &format!("{}/text/init0.mp4", subs.name));
    let tree = parse_boxes(&init).unwrap();
    assert!(tree[1]
        .at(&[b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"wvtt"])
        .is_some());

    // Each text fragment spans its video segment; cue n shows from video time n s + 500 ms.
    let video_list = manifest(&snap, &format!("{video_dir}/video.m3u8"));
    let video_uris: Vec<&str> = video_list.lines().filter(|l| !l.starts_with('#')).collect();
    let v0 =
        parse_media_segment(&object(&snap, &format!("{video_dir}/{}", video_uris[0]))).unwrap();
    let origin_ms = v0.base_decode_time / 90;
    let mut shown: Vec<(u64, u64, String)> = Vec::new();
    for (i, u) in uris.iter().enumerate() {
        let v =
            parse_media_segment(&object(&snap, &format!("{video_dir}/{}", video_uris[i]))).unwrap();
        let f = parse_media_segment(&object(&snap, &format!("{}/{u}", subs.name))).unwrap();
        assert_eq!(
            f.base_decode_time,
            v.base_decode_time / 90,
            "fragment {i} starts with its video"
        );
        let mut t = f.base_decode_time;
        let mut at = 0usize;
        for s in &f.samples {
            let bytes = &f.mdat[at..at + s.size as usize];
            for b in parse_boxes(bytes)
                .unwrap()
                .iter()
                .filter(|b| &b.typ == b"vttc")
            {
                let payl = String::from_utf8(b.child(b"payl").unwrap().prefix.clone()).unwrap();
                shown.push((t - origin_ms, t - origin_ms + u64::from(s.duration), payl));
            }
            t += u64::from(s.duration);
            at += s.size as usize;
        }
    }
    // Merge the pieces of a cue shown across fragments.
    let mut cues: Vec<(u64, u64, String)> = Vec::new();
    for (a, b, p) in shown {
        match cues.last_mut() {
            Some(last) if last.2 == p && last.1 == a => last.1 = b,
            _ => cues.push((a, b, p)),
        }
    }
    let near = |x: u64, want: u64| x.abs_diff(want) <= 1;
    assert_eq!(cues.len(), 3, "{cues:?}");
    for (i, (a, b, p)) in cues.iter().enumerate() {
        let i = i as u64;
        let want_end = i * 2_000 + 1_500 + 1_000 * u64::from(i == 1);
        assert!(
            near(*a, i * 2_000 + 500) && near(*b, want_end),
            "cue {i}: {a}..{b} {p}"
        );
        assert_eq!(p, &format!("cue {i}"));
    }

    // The MPD: a text AdaptationSet in the language, with its Role, on the Period's clock.
    let mpd = manifest(&snap, "main.mpd");
    assert!(
        mpd.contains("<AdaptationSet id=\"2\" contentType=\"text\" mimeType=\"application/mp4\" lang=\"eng\""),
        "{mpd}"
    );
    assert!(mpd.contains("value=\"subtitle\""), "{mpd}");
    assert!(mpd.contains("codecs=\"wvtt\""), "{mpd}");
    let pto = |rep: &str| -> u64 {
        let at = mpd.find(&format!("id=\"{rep}\"")).unwrap();
        let rest = &mpd[at..];
        let i = rest.find("presentationTimeOffset=\"").unwrap() + 24;
        rest[i..i + rest[i..].find('"').unwrap()].parse().unwrap()
    };
    let video_pto = pto(&format!("{video_dir}-video"));
    assert!(
        near(pto(&format!("{}-text", subs.name)), video_pto / 90),
        "{mpd}"
    );
}

/// One key for every period.
struct OneKey;

impl crate::encryption::keys::KeySource for OneKey {
    fn key(&mut self, period: u64, _from: u64) -> Option<crate::encryption::keys::ContentKey> {
        Some(crate::encryption::keys::ContentKey {
            kid: [7; 16],
            key: [9; 16],
            period,
        })
    }
}

#[test]
fn encrypted_cmaf_endpoints_serve_subtitles_clear() {
    use crate::channel::config::{Encryption, EndpointType};
    use crate::encryption::encryptor::Encryptor;
    use crate::media::MediaOutput;
    for rotation in [0, 2] {
        let (mut m, _) = pushed();
        let p = m.publish(at(6_300));
        let clear = p.output(EndpointType::Cmaf).unwrap();
        let out = Encryptor::new(Encryption::Cenc, rotation, at(0)).build(
            clear,
            "main",
            &mut OneKey,
            at(6_300),
        );
        assert!(out.lookup("main", "main.mpd").is_ok(), "not refused");
        let mut text_objects = 0;
        for track in clear.tracks().into_iter().filter(|t| t.text) {
            for s in track.segments {
                let path = format!("{}/{}", track.dir, (track.segment_file)(s));
                let Ok(Lookup::Object(o)) = out.lookup("main", &path) else {
                    panic!("{path}")
                };
                assert_eq!(o.body, s.object.body, "{path} is served clear");
                text_objects += 1;
            }
            let list = match out.lookup("main", &format!("{}.m3u8", track.dir)) {
                Ok(Lookup::Manifest(r, _)) => String::from_utf8(r.body.to_vec()).unwrap(),
                other => panic!("{other:?}"),
            };
            assert!(!list.contains("EXT-X-KEY"), "{list}");
            assert_eq!(
                list.lines().filter(|l| !l.starts_with('#')).count(),
                3,
                "{list}"
            );
        }
        assert_eq!(text_objects, 6, "wvtt fragments and WebVTT files");
        let mpd = match out.lookup("main", "main.mpd") {
            Ok(Lookup::Manifest(r, _)) => String::from_utf8(r.body.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        let text_set = mpd
            .split("<AdaptationSet")
            .find(|s| s.contains("contentType=\"text\""))
            .unwrap_or_else(|| panic!("rotation {rotation}: {mpd}"));
        assert!(!text_set.contains("ContentProtection"), "{mpd}");
        assert!(text_set.contains("<S "), "{mpd}");
        assert!(mpd.contains("ContentProtection"), "{mpd}");
    }
}

#[test]
fn languages_for_mdhd() {
    let table = [
        (Some("eng"), *b"eng"),
        (Some("FRA-CA"), *b"fra"),
        (Some("en"), *b"und"),
        (Some("en-US"), *b"und"),
        (None, *b"und"),
        (Some("e1g"), *b"und"),
    ];
    for (tag, want) in table {
        assert_eq!(mdhd_language(tag), want, "{tag:?}");
    }
}

#[test]
fn a_segment_takes_the_span_of_the_video_segment_cut_with_it() {
    let clock = Clock {
        segments: vec![(10_000, 1_400, 2_000), (12_000, 3_400, 2_000)],
    };
    assert_eq!(clock.place(12_030, 2_000), Some((3_400, 5_400)));
    assert_eq!(clock.place(9_990, 2_000), Some((1_400, 3_400)));
    // Far from every reference segment: its own time from the nearest one.
    assert_eq!(clock.place(20_000, 1_000), Some((11_400, 12_400)));
    assert_eq!(Clock::default().place(1, 1), None);
    // 2 s subtitles against 4 s video: each at its own time, not the video segment's.
    let clock = Clock {
        segments: vec![(10_000, 0, 4_000), (14_000, 4_000, 4_000)],
    };
    assert_eq!(clock.place(10_000, 2_000), Some((0, 2_000)));
    assert_eq!(clock.place(12_000, 2_000), Some((2_000, 4_000)));
    assert_eq!(clock.place(14_010, 2_000), Some((4_010, 6_010)));
}
