//! The archive fed by a real [`HlsMedia`]: what the recorder records, the index the log
//! replays to, retention, the time-shifted playlists; the log's framing under torn and
//! corrupt tails.

use super::*;
use crate::channel::config::{EndpointType, InputRole::Primary};
use crate::hls::media::HlsMedia;
use crate::media::{Media, MediaParams};
use crate::time::Now;
use bytes::Bytes;
use proptest::prelude::*;

const T0: u64 = 1_765_000_000_000;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: 10_000 + ms,
        unix_ms: T0 + ms,
    }
}

/// An encoder pushing `n` 2-second segments of one rendition, one every 2 s, its playlist
/// listing the last five; every publish recorded into an archive (and its log).
fn pushed(n: u64) -> (HlsMedia, ChannelArchive, Vec<u8>) {
    pushed_with(n, |_, _, _| {})
}

/// [`pushed`], `each(media, i, now)` called after segment `i` is listed.
fn pushed_with(
    n: u64,
    mut each: impl FnMut(&mut HlsMedia, u64, Now),
) -> (HlsMedia, ChannelArchive, Vec<u8>) {
    let mut m = HlsMedia::new(MediaParams::new(4_000, 10_000), at(0));
    let mut rec = Recorder::new();
    let mut archive = ChannelArchive::new();
    let mut log_bytes = Vec::new();
    for i in 0..n {
        let t = 2_000 * (i + 1);
        m.put(
            Primary,
            &format!("seg_{i}.ts"),
            Bytes::from(vec![i as u8; 100]),
            at(t),
        )
        .unwrap();
        let first = i.saturating_sub(4);
        let mut pl = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
        );
        for s in first..=i {
            pl.push_str(&format!("#EXTINF:2.000,\nseg_{s}.ts\n"));
        }
        m.put(Primary, "main.m3u8", Bytes::from(pl), at(t)).unwrap();
        each(&mut m, i, at(t));
        let published = m.publish(at(t));
        for (r, bytes) in rec.record(&published) {
            if let Record::Segment { seg, .. } = &r {
                assert_eq!(seg.len, bytes.len() as u64);
            }
            assert!(archive.apply(&r).is_empty());
            log_bytes.extend(log::encode(&r));
        }
    }
    (m, archive, log_bytes)
}

fn req(window: Window, now: u64) -> ShiftRequest {
    ShiftRequest {
        window,
        live_ms: 10_000,
        window_ms: 600_000,
        now_ms: T0 + now,
    }
}

fn seqs(text: &str) -> Vec<u64> {
    text.lines()
        .filter(|l| l.ends_with(".ts"))
        .map(|l| {
            l.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".ts")
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn the_archive_keeps_every_segment_the_live_window_dropped() {
    let (mut m, archive, _) = pushed(30);
    let snap = m.snapshot();
    assert_eq!(snap.renditions[0].segments.len(), 5, "live: 10 s");
    let track = archive.track(EndpointType::Hls, "main").unwrap();
    assert_eq!(track.entries.len(), 30);
    let first = track.entries[0].rec.seq;
    for (i, e) in track.entries.iter().enumerate() {
        assert_eq!(e.rec.seq, first + i as u64);
        assert_eq!((e.discontinuity, e.dsn), (false, 0));
        assert_eq!(e.rec.duration_ms, 2_000);
    }
    assert_eq!(archive.bytes(), 3_000);
    // A segment gone from the live window is found by its live path, with its live etag.
    let live_first = &snap.renditions[0].segments[0];
    let old = &track.entries[0];
    assert!(old.rec.seq < live_first.seq);
    match archive.find(EndpointType::Hls, &format!("main/{}", old.rec.file)) {
        Some(Found::Segment(e)) => assert_eq!(e, old),
        other => panic!("{other:?}"),
    }
    let live = archive
        .find(EndpointType::Hls, &format!("main/{}.ts", live_first.seq))
        .unwrap();
    assert_eq!(live.parts().1, live_first.object.etag);
    assert!(archive.find(EndpointType::Hls, "main/1.ts").is_none());
    assert!(archive
        .find(EndpointType::Dash, &format!("main/{}", old.rec.file))
        .is_none());
}

#[test]
fn time_shifted_playlists() {
    let (_, archive, _) = pushed(30);
    let track = archive.track(EndpointType::Hls, "main").unwrap();
    let first = track.entries[0].rec.seq;
    let start = |i: u64| T0 + 2_000 * i;
    // Startover from the 11th segment's media (segment i spans [2i, 2i+2) s after T0).
    let w = Window::Startover {
        start_ms: start(10) + 500,
    };
    let text = hls::media_playlist(track, &req(w, 60_000), "", true).unwrap();
    assert_eq!(seqs(&text), (first + 10..first + 30).collect::<Vec<_>>());
    assert!(text.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", first + 10)));
    assert!(!text.contains("#EXT-X-ENDLIST"));
    assert!(text.contains("#EXT-X-INDEPENDENT-SEGMENTS"));
    assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 20);
    assert!(text.contains(&format!(
        "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:2.000,\n{}.ts",
        crate::time::format_datetime(start(10)),
        first + 10
    )));
    // A closed window in the past ends; one whose end is to come does not, yet.
    let w = Window::Closed {
        start_ms: start(3),
        end_ms: start(7),
    };
    let text = hls::media_playlist(track, &req(w, 60_000), "main/", false).unwrap();
    assert_eq!(seqs(&text), (first + 3..first + 7).collect::<Vec<_>>());
    assert!(text.contains(&format!("main/{}.ts", first + 3)));
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    let w = Window::Closed {
        start_ms: start(20),
        end_ms: start(40),
    };
    let text = hls::media_playlist(track, &req(w, 60_000), "", false).unwrap();
    assert_eq!(seqs(&text), (first + 20..first + 30).collect::<Vec<_>>());
    assert!(!text.contains("#EXT-X-ENDLIST"));
    // 20 s behind at t = 60 s: segments complete by 40 s, the live window's 10 s of them.
    let text = hls::media_playlist(
        track,
        &req(Window::Delayed { delay_ms: 20_000 }, 60_000),
        "",
        false,
    )
    .unwrap();
    assert_eq!(seqs(&text), (first + 15..first + 20).collect::<Vec<_>>());
    // Nothing in the window: no playlist.
    let w = Window::Closed {
        start_ms: T0 - 60_000,
        end_ms: T0 - 30_000,
    };
    assert_eq!(hls::media_playlist(track, &req(w, 60_000), "", false), None);
}

#[test]
fn gaps_are_discontinuities_counted_by_the_playlist() {
    let (_, mut archive, _) = pushed(6);
    let key = TrackKey {
        kind: EndpointType::Hls,
        dir: "main".into(),
    };
    let last = archive.track(EndpointType::Hls, "main").unwrap().entries[5].clone();
    // A restart: numbering jumps ahead.
    let mut seg = last.rec.clone();
    seg.seq += 100;
    seg.file = format!("{}.ts", seg.seq);
    seg.start_unix_ms += 60_000;
    archive.apply(&Record::Segment {
        key: key.clone(),
        seg: seg.clone(),
    });
    let mut next = seg.clone();
    next.seq += 1;
    next.file = format!("{}.ts", next.seq);
    next.start_unix_ms += 2_000;
    archive.apply(&Record::Segment { key, seg: next });
    let track = archive.track(EndpointType::Hls, "main").unwrap();
    let dsns: Vec<_> = track
        .entries
        .iter()
        .map(|e| (e.discontinuity, e.dsn))
        .collect();
    assert_eq!(dsns[5..], [(false, 0), (true, 1), (false, 1)]);
    let all = Window::Startover { start_ms: T0 };
    let text = hls::media_playlist(track, &req(all, 200_000), "", false).unwrap();
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0\n"));
    let after = Window::Startover {
        start_ms: seg.start_unix_ms,
    };
    let text = hls::media_playlist(track, &req(after, 200_000), "", false).unwrap();
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 0);
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
}

#[test]
fn retention_by_window_and_by_oldest_first() {
    let (_, mut archive, _) = pushed(30);
    let first = archive.track(EndpointType::Hls, "main").unwrap().entries[0]
        .rec
        .seq;
    // Everything that ended by 20 s: segments 0..10 (they end at 2, 4, … 20 s).
    let expire = archive.expiring_before(T0 + 20_000);
    assert_eq!(
        expire,
        vec![Record::Expired {
            key: TrackKey {
                kind: EndpointType::Hls,
                dir: "main".into()
            },
            through_seq: first + 9,
        }]
    );
    let removed = archive.apply(&expire[0]);
    assert_eq!(removed.len(), 10);
    assert_eq!(removed[0], (format!("hls/main/{first}.ts"), 100));
    assert_eq!(archive.bytes(), 2_000);
    let (start, r) = archive.oldest().unwrap();
    assert_eq!(start, T0 + 20_000);
    assert_eq!(archive.apply(&r).len(), 1);
    assert!(archive
        .find(EndpointType::Hls, &format!("main/{}.ts", first + 10))
        .is_none());
    assert_eq!(archive.segments(), 19);
}

#[test]
fn the_log_replays_to_the_same_index() {
    let (_, mut archive, mut bytes) = pushed(12);
    for r in archive.expiring_before(T0 + 10_000) {
        archive.apply(&r);
        bytes.extend(log::encode(&r));
    }
    let (records, good) = log::decode(&bytes);
    assert_eq!(good, bytes.len());
    let mut replayed = ChannelArchive::new();
    for r in &records {
        replayed.apply(r);
    }
    assert_eq!(replayed.snapshot_records(), archive.snapshot_records());
    assert_eq!(replayed.bytes(), archive.bytes());
    // Compacted: the snapshot's records replay to it as well.
    let mut compact = ChannelArchive::new();
    for r in archive.snapshot_records() {
        compact.apply(&r);
    }
    assert_eq!(compact.snapshot_records(), archive.snapshot_records());
}

/// After a restart only the log is there: every time-shifted manifest renders from the
/// replayed archive as it did from the one fed live, the main playlist included.
#[test]
fn manifests_render_from_the_replayed_log_alone() {
    let (_, archive, bytes) = pushed(12);
    let (records, _) = log::decode(&bytes);
    assert!(
        !records.iter().any(|r| matches!(r, Record::Outline { .. })),
        "a single rendition without tags has nothing to outline"
    );
    let mut replayed = ChannelArchive::new();
    for r in &records {
        replayed.apply(r);
    }
    let r = req(Window::Startover { start_ms: T0 }, 24_000);
    let main = manifest(EndpointType::Hls, "main", "main.m3u8", &replayed, &r);
    let Shifted::Manifest(text, ct) = &main else {
        panic!("{main:?}");
    };
    assert_eq!(*ct, crate::hls::PLAYLIST_CONTENT_TYPE);
    assert_eq!(seqs(text).len(), 12, "{text}");
    // A single rendition's main playlist points into its folder; the folder's own playlist
    // is the same list, relative.
    assert!(text.contains("\nmain/"), "{text}");
    let own = manifest(EndpointType::Hls, "main", "main/index.m3u8", &replayed, &r);
    let Shifted::Manifest(own, _) = own else {
        panic!("{own:?}");
    };
    assert_eq!(seqs(&own), seqs(text));
    assert_eq!(
        main,
        manifest(EndpointType::Hls, "main", "main.m3u8", &archive, &r)
    );
    for (kind, rest) in [
        (EndpointType::Hls, "nope/index.m3u8"),
        (EndpointType::Hls, "main.mpd"),
        (EndpointType::Dash, "main.m3u8"),
        (EndpointType::Cmaf, "main.m3u8"),
    ] {
        assert_eq!(
            manifest(kind, "main", rest, &replayed, &r),
            Shifted::NotFound,
            "{kind:?} {rest}"
        );
    }
    // A master recorded as the outline is what the main playlist becomes.
    let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nmain/index.m3u8\n";
    replayed.apply(&Record::Outline {
        kind: EndpointType::Hls,
        outline: crate::media::Outline {
            master: Some(master.into()),
            independent: vec!["main".into()],
        },
    });
    let Shifted::Manifest(text, _) =
        manifest(EndpointType::Hls, "main", "main.m3u8", &replayed, &r)
    else {
        panic!();
    };
    assert_eq!(text, hls::master_with_query(master, &r.window.to_query()));
    let Shifted::Manifest(own, _) =
        manifest(EndpointType::Hls, "main", "main/index.m3u8", &replayed, &r)
    else {
        panic!();
    };
    assert!(own.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{own}");
}

/// Renditions pushed without a master: the master the output builds is recorded once, and
/// the time-shifted main playlist is that master with the window on its URIs.
#[test]
fn the_master_an_output_serves_is_recorded_as_its_outline() {
    let mut m = HlsMedia::new(MediaParams::new(4_000, 10_000), at(0));
    let mut rec = Recorder::new();
    let mut archive = ChannelArchive::new();
    let mut outlines = 0;
    for i in 0..3u64 {
        let t = 2_000 * (i + 1);
        for v in ["a", "b"] {
            let seg = format!("{v}/s{i}.ts");
            m.put(Primary, &seg, Bytes::from(vec![1u8; 500]), at(t))
                .unwrap();
            let mut pl = String::from(
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n",
            );
            for s in 0..=i {
                pl.push_str(&format!("#EXTINF:2.000,\ns{s}.ts\n"));
            }
            m.put(Primary, &format!("{v}/index.m3u8"), Bytes::from(pl), at(t))
                .unwrap();
        }
        for (r, _) in rec.record(&m.publish(at(t))) {
            outlines += usize::from(matches!(r, Record::Outline { .. }));
            archive.apply(&r);
        }
    }
    assert_eq!(outlines, 1, "recorded once, while it stays the same");
    // Outlines come last in a compacted log: one cut short at it keeps every segment.
    assert!(matches!(
        archive.snapshot_records().last(),
        Some(Record::Outline { .. })
    ));
    // An outline the store could not take is recorded again with the next publication.
    let dropped = Record::Outline {
        kind: EndpointType::Hls,
        outline: archive.outline(EndpointType::Hls).unwrap().clone(),
    };
    rec.unrecord(&dropped);
    let again = rec.record(&m.publish(at(6_000)));
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].0, dropped);
    let outline = archive.outline(EndpointType::Hls).unwrap();
    let master = outline.master.clone().unwrap();
    assert!(master.contains("#EXT-X-STREAM-INF"), "{master}");
    assert_eq!(outline.independent.len(), 2, "{outline:?}");
    let r = req(Window::Startover { start_ms: T0 }, 8_000);
    assert_eq!(
        manifest(EndpointType::Hls, "main", "main.m3u8", &archive, &r),
        Shifted::Manifest(
            hls::master_with_query(&master, &r.window.to_query()),
            crate::hls::PLAYLIST_CONTENT_TYPE
        )
    );
}

/// What [`crate::hls::render_media`] writes for the same selection: the fast renderer's
/// reference.
fn rendered_slowly(track: &Track, r: &ShiftRequest, prefix: &str, independent: bool) -> String {
    use crate::hls::{render_media, MediaPlaylistOut, SegmentOut};
    let range = track.select(&r.window, r.live_ms, r.now_ms);
    let entries: Vec<&Entry> = track.entries.range(range).collect();
    render_media(&MediaPlaylistOut {
        target_duration_s: entries
            .iter()
            .map(|e| e.rec.duration_ms.div_ceil(1000))
            .max()
            .unwrap_or(1)
            .max(1),
        media_sequence: entries[0].rec.seq,
        discontinuity_sequence: entries[0].dsn,
        independent_segments: independent,
        end_list: r.ended(),
        uri_prefix: prefix,
        segments: entries
            .iter()
            .enumerate()
            .map(|(i, e)| SegmentOut {
                seq: e.rec.seq,
                ext: e.rec.file.rsplit_once('.').unwrap().1,
                duration_ms: e.rec.duration_ms,
                discontinuity: i > 0 && e.discontinuity,
                program_date_time: None,
                start_unix_ms: Some(e.rec.start_unix_ms),
                init: e.rec.init.map(|k| (k, "mp4")),
            })
            .collect(),
    })
}

proptest! {
    /// The fast renderer writes exactly what the live renderer would, whatever the
    /// durations, dates (across days and years), gaps, init segments and window.
    #[test]
    fn fast_playlists_match_the_live_renderer(
        segs in proptest::collection::vec(
            (1u64..9_000, 0u64..3, any::<bool>(), 0u64..200_000_000, proptest::option::of(0u64..3)),
            1..40,
        ),
        start in 0u64..40,
        closed in any::<bool>(),
        prefix in prop_oneof![Just(""), Just("hi/")],
        independent in any::<bool>(),
    ) {
        let key = TrackKey { kind: EndpointType::Hls, dir: "hi".into() };
        let mut a = ChannelArchive::new();
        for k in 0..3 {
            a.apply(&Record::Init { key: key.clone(), init: InitRec {
                k, file: format!("init{k}.mp4"), len: 1, etag: "\"i\"".into(), content_type: "video/mp4".into(),
            }});
        }
        let (mut seq, mut t) = (100u64, 1_600_000_000_000u64);
        for (d, gap, disc, jump, init) in segs {
            seq += 1 + gap;
            t += if disc { jump } else { 0 };
            a.apply(&Record::Segment { key: key.clone(), seg: SegmentRecord {
                seq, file: format!("{seq}.ts"), duration_ms: d, start_unix_ms: t,
                discontinuity: disc, init, len: 1, etag: "\"s\"".into(), content_type: "video/mp2t".into(),
                timing: None,
            }});
            t += d;
        }
        let track = a.track(EndpointType::Hls, "hi").unwrap();
        let from = track.entries[(start as usize).min(track.entries.len() - 1)].rec.start_unix_ms;
        let window = if closed {
            Window::Closed { start_ms: from, end_ms: t }
        } else {
            Window::Startover { start_ms: from }
        };
        let r = ShiftRequest { window, live_ms: 10_000, window_ms: 600_000, now_ms: t + 1 };
        let fast = hls::media_playlist(track, &r, prefix, independent).unwrap();
        prop_assert_eq!(fast, rendered_slowly(track, &r, prefix, independent));
    }
}

#[test]
fn a_master_carries_the_window_on_to_every_rendition() {
    let master = "#EXTM3U\n#EXT-X-VERSION:3\n\
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",DEFAULT=YES,URI=\"audio/index.m3u8\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=800000,AUDIO=\"a\"\nhi/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=300000,AUDIO=\"a\"\nlo/index.m3u8?v=1\n";
    let q = Window::Closed {
        start_ms: 1_000,
        end_ms: 2_500,
    }
    .to_query();
    assert_eq!(q, "start=1&end=2.500");
    let out = hls::master_with_query(master, &q);
    assert_eq!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:3\n\
         #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",DEFAULT=YES,URI=\"audio/index.m3u8?start=1&end=2.500\"\n\
         #EXT-X-STREAM-INF:BANDWIDTH=800000,AUDIO=\"a\"\nhi/index.m3u8?start=1&end=2.500\n\
         #EXT-X-STREAM-INF:BANDWIDTH=300000,AUDIO=\"a\"\nlo/index.m3u8?v=1&start=1&end=2.500\n"
    );
}

#[test]
fn markers_are_archived_and_signalled_in_time_shifted_manifests() {
    use crate::ad_markers::SpliceRequest;
    use crate::channel::config::AdMarkerStyle;
    // A 4 s break at the end of segment 3 (8 s in); 12 segments later it left the live window.
    let (_, archive, log_bytes) = pushed_with(12, |m, i, now| {
        if i == 3 {
            let req = SpliceRequest {
                duration_ms: Some(4_000),
                at_unix_ms: None,
                event_id: Some(77),
                return_to_network: false,
            };
            m.splice(&req, now).unwrap();
        }
    });
    let all = archive.markers(0, u64::MAX);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].event_id, all[0].start_unix_ms), (77, T0 + 8_000));
    let r = req(Window::Startover { start_ms: T0 }, 24_000);
    let Shifted::Manifest(text, _) = manifest(EndpointType::Hls, "main", "main.m3u8", &archive, &r)
    else {
        panic!("no playlist");
    };
    let marked = with_markers(
        EndpointType::Hls,
        "main.m3u8",
        text.clone(),
        &archive,
        &r,
        AdMarkerStyle::DateRange,
        &|t| t,
    );
    let tag = marked
        .lines()
        .position(|l| l.starts_with("#EXT-X-DATERANGE:ID=\"splice-77\""))
        .unwrap_or_else(|| panic!("{marked}"));
    // Before the segment that starts at the splice point (seq 4: 8 s in).
    let next = marked
        .lines()
        .skip(tag)
        .find(|l| l.ends_with(".ts"))
        .unwrap();
    assert!(next.ends_with("4.ts"), "{marked}");
    assert!(marked.contains("PLANNED-DURATION=4.000"), "{marked}");
    assert_eq!(
        with_markers(
            EndpointType::Hls,
            "main.m3u8",
            text.clone(),
            &archive,
            &r,
            AdMarkerStyle::None,
            &|t| t
        ),
        text
    );
    // A window after the break carries nothing of it.
    let later = req(
        Window::Closed {
            start_ms: T0 + 16_000,
            end_ms: T0 + 24_000,
        },
        24_000,
    );
    let Shifted::Manifest(text, _) =
        manifest(EndpointType::Hls, "main", "main.m3u8", &archive, &later)
    else {
        panic!("no playlist");
    };
    assert!(!with_markers(
        EndpointType::Hls,
        "main.m3u8",
        text,
        &archive,
        &later,
        AdMarkerStyle::DateRange,
        &|t| t
    )
    .contains("DATERANGE"));
    // The log replays to the same markers; retention takes them with the media.
    let (records, _) = log::decode(&log_bytes);
    let mut replayed = ChannelArchive::new();
    for r in &records {
        replayed.apply(r);
    }
    assert_eq!(replayed.markers(0, u64::MAX), all);
    let mut compacted = ChannelArchive::new();
    for r in archive.snapshot_records() {
        compacted.apply(&r);
    }
    assert_eq!(compacted.markers(0, u64::MAX), all);
    let mut a = archive.clone();
    for r in a.expiring_before(T0 + 14_000) {
        a.apply(&r);
    }
    assert!(
        a.markers(0, u64::MAX).is_empty(),
        "the break's media is gone"
    );
}

fn arb_record() -> impl Strategy<Value = Record> {
    let key = (0u8..3, "[a-z]{1,4}(/[a-z]{1,3})?").prop_map(|(k, dir)| TrackKey {
        kind: EndpointType::ALL[usize::from(k)],
        dir,
    });
    prop_oneof![
        (key.clone(), any::<u64>(), any::<u32>(), any::<bool>()).prop_map(|(key, seq, d, disc)| {
            Record::Segment {
                key,
                seg: SegmentRecord {
                    seq,
                    file: format!("{seq}.ts"),
                    duration_ms: u64::from(d),
                    start_unix_ms: seq / 3,
                    discontinuity: disc,
                    init: disc.then_some(seq % 7),
                    len: u64::from(d) * 3,
                    etag: format!("\"{seq:x}\""),
                    content_type: "video/mp2t".into(),
                    timing: None,
                },
            }
        }),
        (key.clone(), any::<u64>()).prop_map(|(key, k)| Record::Init {
            key,
            init: InitRec {
                k,
                file: format!("init{k}.mp4"),
                len: k % 1000,
                etag: "\"i\"".into(),
                content_type: "video/mp4".into(),
            },
        }),
        (key, any::<u64>()).prop_map(|(key, through_seq)| Record::Expired { key, through_seq }),
        (
            0u8..3,
            proptest::option::of("[ -~\n]{0,40}"),
            proptest::collection::vec("[a-z]{1,4}", 0..3)
        )
            .prop_map(|(k, master, independent)| Record::Outline {
                kind: EndpointType::ALL[usize::from(k)],
                outline: crate::media::Outline {
                    master,
                    independent
                },
            }),
        (
            any::<u32>(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::collection::vec(any::<u8>(), 0..40),
            any::<bool>()
        )
            .prop_map(|(event_id, start, duration_ms, section, operator)| {
                Record::Marker(crate::ad_markers::AdMarker {
                    id: format!("splice-{event_id}"),
                    event_id,
                    signal: if operator {
                        crate::scte35::Signal::Out
                    } else {
                        crate::scte35::Signal::In
                    },
                    start_unix_ms: start,
                    duration_ms,
                    section: section.into(),
                    tags: operator.then(|| "#EXT-X-CUE-IN".into()),
                    operator,
                })
            }),
    ]
}

proptest! {
    /// Any log cut anywhere reads back as the records wholly before the cut; a flipped byte
    /// ends the log at the record it hit, never yields a different record.
    #[test]
    fn torn_and_corrupt_logs_read_back_a_good_prefix(
        records in proptest::collection::vec(arb_record(), 1..20),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let frames: Vec<Vec<u8>> = records.iter().map(log::encode).collect();
        let bytes: Vec<u8> = frames.concat();
        let (back, good) = log::decode(&bytes);
        prop_assert_eq!(&back, &records);
        prop_assert_eq!(good, bytes.len());
        let cut = cut.index(bytes.len());
        let (back, good) = log::decode(&bytes[..cut]);
        let mut ends = frames.iter().scan(0, |at, f| { *at += f.len(); Some(*at) });
        let whole = ends.position(|end| end > cut).unwrap_or(frames.len());
        prop_assert_eq!(&back[..], &records[..whole]);
        prop_assert_eq!(good, frames[..whole].iter().map(Vec::len).sum::<usize>());
        let mut bad = bytes.clone();
        let at = flip.index(bad.len());
        bad[at] ^= 0x5a;
        let (back, _) = log::decode(&bad);
        prop_assert!(back.len() <= records.len());
        prop_assert_eq!(&back[..], &records[..back.len()]);
    }
}

#[test]
fn a_break_cancelled_while_live_leaves_the_archive_and_an_evicted_one_stays() {
    use crate::ad_markers::AdMarker;
    let marker = |event_id: u32, start: u64| {
        let section = crate::scte35::splice_insert_section(&crate::scte35::SpliceInsert {
            event_id,
            cancel: false,
            out_of_network: true,
            immediate: true,
            pts: None,
            duration: Some(180_000),
            unique_program_id: 1,
            avail_num: 0,
            avails_expected: 0,
            auto_return: true,
        });
        AdMarker::from_section(section.into(), start, None).unwrap()
    };
    let (mut m, _, _) = pushed(6);
    // The live window holds the last five segments (from 2 s in); one break in it, one
    // before it.
    let live = marker(1, T0 + 8_000);
    let old = marker(2, T0 - 60_000);
    let mut rec = Recorder::new();
    let mut archive = ChannelArchive::new();
    let both: std::sync::Arc<[AdMarker]> = vec![old.clone(), live.clone()].into();
    for (r, _) in rec.record(
        &m.publish(at(12_000))
            .with_endpoint_outputs(Vec::new())
            .with_markers(both),
    ) {
        archive.apply(&r);
    }
    assert_eq!(
        archive.markers(0, u64::MAX),
        vec![old.clone(), live.clone()]
    );
    let none: std::sync::Arc<[AdMarker]> = Vec::new().into();
    let records: Vec<Record> = rec
        .record(
            &m.publish(at(12_100))
                .with_endpoint_outputs(Vec::new())
                .with_markers(none),
        )
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(records, vec![Record::MarkerGone(live.clone())]);
    for r in &records {
        archive.apply(r);
        let (back, _) = log::decode(&log::encode(r));
        assert_eq!(&back, std::slice::from_ref(r));
    }
    assert_eq!(archive.markers(0, u64::MAX), vec![old]);
}

#[test]
fn a_record_a_later_build_wrote_is_passed_over() {
    let (_, _, log_bytes) = pushed(3);
    let (records, _) = log::decode(&log_bytes);
    // A whole frame of a record kind this build does not know (variant 99), between two.
    let payload = [99u8, 1, 2, 3];
    let mut unknown = (payload.len() as u32).to_le_bytes().to_vec();
    unknown.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    unknown.extend_from_slice(&payload);
    let first = log::encode(&records[0]);
    let mut bytes = first.clone();
    bytes.extend_from_slice(&unknown);
    bytes.extend_from_slice(&log_bytes[first.len()..]);
    let (back, good) = log::decode(&bytes);
    assert_eq!(back, records);
    assert_eq!(good, bytes.len());
}

/// An archive of DASH output: one Period `p1` of a video Representation `v0`, 2 s segments
/// at timescale 1000 from t = 5000 (PTO 5000), then a Period `p20` after a restart.
fn dash_archive() -> ChannelArchive {
    use crate::dash::mpd;
    use crate::media::{PeriodView, SegmentTiming};
    let mut a = ChannelArchive::new();
    let period = |id: &str| mpd::Period {
        id: id.into(),
        start_ms: 0,
        adaptation_sets: vec![mpd::AdaptationSet {
            id: 0,
            content_type: mpd::ContentType::Video,
            mime_type: "video/mp4".into(),
            lang: None,
            segment_alignment: true,
            cea608: None,
            representations: vec![mpd::Representation {
                id: "v0".into(),
                bandwidth: 800_000,
                codecs: "avc1.64001f".into(),
                width: Some(640),
                height: Some(360),
                frame_rate: Some("25".into()),
                audio_sampling_rate: None,
                audio_channels: None,
                template: mpd::SegmentTemplate {
                    timescale: 1000,
                    presentation_time_offset: 5_000,
                    initialization: "v0/init1.m4s".into(),
                    media: "v0/$Number$.m4s".into(),
                    start_number: 0,
                    timeline: vec![],
                },
            }],
        }],
    };
    let key = TrackKey {
        kind: EndpointType::Dash,
        dir: "v0".into(),
    };
    for (pid, start, first_seq, n) in [("p1", T0, 1u64, 10u64), ("p20", T0 + 60_000, 20, 5)] {
        a.apply(&Record::Period {
            kind: EndpointType::Dash,
            view: PeriodView {
                period: period(pid),
                start_unix_ms: start,
            },
        });
        for i in 0..n {
            let seq = first_seq + i;
            a.apply(&Record::Segment {
                key: key.clone(),
                seg: SegmentRecord {
                    seq,
                    file: format!("{seq}.m4s"),
                    duration_ms: 2_000,
                    start_unix_ms: start + 2_000 * i,
                    discontinuity: false,
                    init: Some(1),
                    len: 10,
                    etag: "\"d\"".into(),
                    content_type: "video/mp4".into(),
                    timing: Some(SegmentTiming {
                        period: pid.into(),
                        t: 5_000 + 2_000 * i,
                        d: 2_000,
                    }),
                },
            });
        }
    }
    a
}

#[test]
fn dash_windows_fill_the_archived_periods() {
    let a = dash_archive();
    let req = |window| ShiftRequest {
        window,
        live_ms: 10_000,
        window_ms: 600_000,
        now_ms: T0 + 200_000,
    };
    // A closed window from the 4th segment of p1 to its 8th: one static Period starting
    // there, its PTO moved along, numbers from 4.
    let closed = dash::mpd(
        &a,
        EndpointType::Dash,
        &req(Window::Closed {
            start_ms: T0 + 6_000,
            end_ms: T0 + 14_000,
        }),
    )
    .unwrap();
    assert!(closed.contains("type=\"static\""), "{closed}");
    assert!(
        closed.contains("mediaPresentationDuration=\"PT8S\""),
        "{closed}"
    );
    assert!(
        closed.contains("<Period id=\"p1\" start=\"PT0S\">"),
        "{closed}"
    );
    assert!(
        closed.contains("presentationTimeOffset=\"11000\""),
        "{closed}"
    );
    assert!(closed.contains("startNumber=\"4\""), "{closed}");
    assert!(
        closed.contains("<S t=\"11000\" d=\"2000\" r=\"3\"/>"),
        "{closed}"
    );
    assert!(!closed.contains("p20"), "{closed}");
    // Startover across the restart: both Periods, the second 60 s after the first.
    let all = dash::mpd(
        &a,
        EndpointType::Dash,
        &req(Window::Startover { start_ms: T0 }),
    )
    .unwrap();
    assert!(all.contains("type=\"dynamic\""), "{all}");
    assert!(all.contains("timeShiftBufferDepth=\"PT600S\""), "{all}");
    assert!(all.contains("<Period id=\"p20\" start=\"PT60S\">"), "{all}");
    assert!(all.contains(&format!(
        "availabilityStartTime=\"{}\"",
        crate::time::format_datetime(T0)
    )));
    // 130 s behind: the live window (10 s) of p20 as it was, available 130 s later.
    let delayed = dash::mpd(
        &a,
        EndpointType::Dash,
        &req(Window::Delayed { delay_ms: 130_000 }),
    )
    .unwrap();
    assert!(
        delayed.contains(&format!(
            "availabilityStartTime=\"{}\"",
            crate::time::format_datetime(T0 + 60_000 + 130_000)
        )),
        "{delayed}"
    );
    assert!(!delayed.contains("p1\""), "{delayed}");
    // Outside the archive: nothing.
    assert_eq!(
        dash::mpd(
            &a,
            EndpointType::Dash,
            &req(Window::Closed {
                start_ms: T0 - 9_000,
                end_ms: T0 - 1_000
            })
        ),
        None
    );
    // Periods leave with their last segment, and the log keeps them.
    let mut a = a;
    let gone = a.apply(&Record::Expired {
        key: TrackKey {
            kind: EndpointType::Dash,
            dir: "v0".into(),
        },
        through_seq: 10,
    });
    assert_eq!(gone.len(), 10);
    let ids: Vec<_> = a
        .periods(EndpointType::Dash)
        .map(|p| p.period.id.clone())
        .collect();
    assert_eq!(ids, ["p20"]);
    let bytes: Vec<u8> = a.snapshot_records().iter().flat_map(log::encode).collect();
    let (back, _) = log::decode(&bytes);
    assert_eq!(back, a.snapshot_records());
}

#[test]
fn time_shifted_mpds_carry_the_archived_markers_on_their_periods() {
    use crate::channel::config::AdMarkerStyle;
    let mut a = dash_archive();
    let section = crate::scte35::splice_insert_section(&crate::scte35::SpliceInsert {
        event_id: 9,
        cancel: false,
        out_of_network: true,
        immediate: true,
        pts: None,
        duration: Some(360_000),
        unique_program_id: 1,
        avail_num: 0,
        avails_expected: 0,
        auto_return: true,
    });
    let marker =
        crate::ad_markers::AdMarker::from_section(section.into(), T0 + 8_000, None).unwrap();
    a.apply(&Record::Marker(marker));
    let r = ShiftRequest {
        window: Window::Closed {
            start_ms: T0 + 6_000,
            end_ms: T0 + 14_000,
        },
        live_ms: 10_000,
        window_ms: 600_000,
        now_ms: T0 + 200_000,
    };
    let Shifted::Manifest(text, _) = manifest(EndpointType::Dash, "main", "main.mpd", &a, &r)
    else {
        panic!("no MPD");
    };
    let marked = with_markers(
        EndpointType::Dash,
        "main.mpd",
        text,
        &a,
        &r,
        AdMarkerStyle::DateRange,
        &|t| t,
    );
    assert!(
        marked.contains("<EventStream schemeIdUri=\"urn:scte:scte35:2014:xml+bin\""),
        "{marked}"
    );
    // 2 s into the window's Period (its start is the window's first segment), 90 kHz.
    assert!(
        marked.contains("<Event presentationTime=\"180000\" duration=\"360000\""),
        "{marked}"
    );
    // A delayed MPD moves its clock by the delay: the event stays on its media.
    let delayed = ShiftRequest {
        window: Window::Delayed { delay_ms: 190_000 },
        ..r
    };
    let Shifted::Manifest(text, _) = manifest(EndpointType::Dash, "main", "main.mpd", &a, &delayed)
    else {
        panic!("no MPD");
    };
    let plain = with_markers(
        EndpointType::Dash,
        "main.mpd",
        text.clone(),
        &a,
        &delayed,
        AdMarkerStyle::None,
        &|t| t,
    );
    assert_eq!(plain, text);
    let marked = with_markers(
        EndpointType::Dash,
        "main.mpd",
        text,
        &a,
        &delayed,
        AdMarkerStyle::DateRange,
        &|t| t,
    );
    let value = |name: &str| -> String {
        let at = marked
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("{name}: {marked}"));
        let v = &marked[at + name.len() + 2..];
        v[..v.find('"').unwrap()].to_string()
    };
    let ast = crate::time::parse_rfc3339_ms(&value("availabilityStartTime")).unwrap() as u64;
    let period_start = crate::dash::parse::parse_duration_ms(&value("start")).unwrap();
    let pt: u64 = value("presentationTime").parse().unwrap();
    // Shown `delay` after it was live, where its media is in the delayed MPD.
    assert_eq!(
        ast + period_start + pt / 90,
        T0 + 8_000 + 190_000,
        "{marked}"
    );
}
