use super::hls_in::{scan, CueKind};
use super::*;
use crate::channel::config::AdMarkerStyle;
use crate::scte35::Signal;

/// 2026-12-07T10:00:00Z.
const T0: u64 = 1_796_637_600_000;

/// A playlist of `n` 2 s segments from `T0`, each with its PDT (as the origin renders them).
fn playlist(n: u64) -> String {
    let mut s = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:2.000,\nhi/{}.ts\n",
            crate::time::format_datetime(T0 + i * 2000),
            100 + i
        ));
    }
    s
}

fn operator_break(markers: &mut AdMarkers, at: u64, secs: u64) -> AdMarker {
    let req = SpliceRequest {
        duration_ms: Some(secs * 1000),
        ..SpliceRequest::default()
    };
    markers.splice(&req, at).unwrap()
}

#[test]
fn a_break_is_a_daterange_on_its_first_segment_and_its_return_names_it() {
    let mut markers = AdMarkers::default();
    let out = operator_break(&mut markers, T0 + 4000, 4);
    let ret = SpliceRequest {
        return_to_network: true,
        ..SpliceRequest::default()
    };
    markers.splice(&ret, T0 + 6000).unwrap();
    let text = hls_out::mark(&playlist(5), &markers.published(), AdMarkerStyle::DateRange).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("#EXT-X-DATERANGE"))
        .unwrap();
    let hex = crate::hex::encode(&out.section);
    assert_eq!(
        lines[at],
        format!(
            "#EXT-X-DATERANGE:ID=\"splice-{}\",START-DATE=\"2026-12-07T10:00:04.000Z\",PLANNED-DURATION=4.000,SCTE35-OUT=0x{hex}",
            out.event_id
        )
    );
    assert_eq!(
        lines[at + 2],
        "hi/102.ts",
        "before the segment at the splice point"
    );
    let back = lines
        .iter()
        .rposition(|l| l.starts_with("#EXT-X-DATERANGE"))
        .unwrap();
    assert!(
        lines[back].contains("START-DATE=\"2026-12-07T10:00:04.000Z\",DURATION=2.000,SCTE35-IN=0x")
    );
    assert_eq!(lines[back + 2], "hi/103.ts");
    // A master playlist, or no marker in the window: unchanged.
    assert_eq!(
        hls_out::mark(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi.m3u8\n",
            &markers.published(),
            AdMarkerStyle::DateRange
        ),
        None
    );
    assert_eq!(
        hls_out::mark(&playlist(1), &markers.published(), AdMarkerStyle::DateRange),
        None
    );
    assert_eq!(
        hls_out::mark(&playlist(5), &markers.published(), AdMarkerStyle::None),
        None
    );
}

#[test]
fn the_cue_style_opens_continues_and_closes_the_break() {
    let mut markers = AdMarkers::default();
    operator_break(&mut markers, T0 + 2000, 4);
    let text = hls_out::mark(&playlist(5), &markers.published(), AdMarkerStyle::Cue).unwrap();
    let tags: Vec<(&str, &str)> = text
        .lines()
        .zip(text.lines().skip(1))
        .filter(|(l, _)| l.starts_with("#EXT-X-CUE") || l.starts_with("#EXT-OATCLS"))
        .map(|(l, _)| (l.split([':', ',']).next().unwrap(), l))
        .collect();
    let names: Vec<&str> = tags.iter().map(|t| t.0).collect();
    assert_eq!(
        names,
        [
            "#EXT-OATCLS-SCTE35",
            "#EXT-X-CUE-OUT",
            "#EXT-X-CUE-OUT-CONT",
            "#EXT-X-CUE-IN"
        ]
    );
    assert_eq!(tags[1].1, "#EXT-X-CUE-OUT:DURATION=4.000");
    assert!(tags[2]
        .1
        .starts_with("#EXT-X-CUE-OUT-CONT:ElapsedTime=2.000,Duration=4.000,SCTE35=/DA"));
    let after = |tag: &str| {
        let l: Vec<&str> = text.lines().collect();
        let i = l.iter().position(|x| x.starts_with(tag)).unwrap();
        l[i + 1..]
            .iter()
            .find(|x| !x.starts_with('#'))
            .copied()
            .unwrap()
    };
    assert_eq!(after("#EXT-X-CUE-OUT:"), "hi/101.ts");
    assert_eq!(after("#EXT-X-CUE-IN"), "hi/103.ts");
}

#[test]
fn a_break_under_way_is_signalled_on_the_first_segment() {
    let mut markers = AdMarkers::default();
    operator_break(&mut markers, T0 - 2000, 6);
    let text = hls_out::mark(&playlist(3), &markers.published(), AdMarkerStyle::DateRange).unwrap();
    assert!(text.contains("START-DATE=\"2026-12-07T09:59:58.000Z\""));
    let cue = hls_out::mark(&playlist(3), &markers.published(), AdMarkerStyle::Cue).unwrap();
    assert!(cue.contains("#EXT-X-CUE-OUT-CONT:ElapsedTime=2.000,Duration=6.000"));
}

#[test]
fn mpd_events_sit_in_the_period_that_holds_them() {
    let mut markers = AdMarkers::default();
    let m = operator_break(&mut markers, T0 + 10_500, 30);
    let mpd = format!(
        "<MPD availabilityStartTime=\"{}\">\n  <Period id=\"p0\" start=\"PT0S\">\n  </Period>\n  <Period id=\"p1\" start=\"PT10S\">\n    <AdaptationSet/>\n  </Period>\n</MPD>\n",
        crate::time::format_datetime(T0)
    );
    let text = mpd_out::mark(&mpd, &markers.published()).unwrap();
    let p1 = text.find("<Period id=\"p1\"").unwrap();
    let ev = text.find("<EventStream").unwrap();
    assert!(ev > p1 && ev < text.find("<AdaptationSet").unwrap());
    assert!(text.contains(&format!(
        "<Event presentationTime=\"45000\" duration=\"2700000\" id=\"{}\">",
        u64::from(m.event_id) * 4
    )));
    assert!(text.contains("schemeIdUri=\"urn:scte:scte35:2014:xml+bin\" timescale=\"90000\""));
    assert_eq!(text.matches("<EventStream").count(), 1);
}

#[test]
fn hls_input_tags_of_both_styles_are_read_per_segment() {
    let section = crate::scte35::splice_insert_section(&crate::scte35::SpliceInsert {
        event_id: 7,
        out_of_network: true,
        duration: Some(30 * 90_000),
        ..Default::default()
    });
    let hex = crate::hex::encode(&section);
    let text = format!(
        "#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-DATERANGE:ID=\"ad-7\",START-DATE=\"2026-12-07T10:00:02Z\",PLANNED-DURATION=30,SCTE35-OUT=0x{hex}\n#EXTINF:2,\nb.ts\n#EXT-X-CUE-OUT:DURATION=30\n#EXTINF:2,\nc.ts\n#EXT-X-CUE-OUT-CONT:ElapsedTime=2,Duration=30\n#EXTINF:2,\nd.ts\n#EXT-X-CUE-IN\n#EXTINF:2,\ne.ts\n#EXT-X-DATERANGE:ID=\"bad\",START-DATE=\"2026-12-07T10:00:02Z\",SCTE35-OUT=0xfc00\n#EXTINF:2,\nf.ts\n"
    );
    let (cues, warnings) = scan(&text);
    assert_eq!(cues.len(), 6);
    assert!(cues[0].is_empty());
    assert_eq!(
        cues[1][0].kind,
        CueKind::DateRange {
            id: "ad-7".into(),
            start_unix_ms: (T0 + 2000) as i64,
            duration_ms: None
        }
    );
    assert_eq!(cues[1][0].section.as_deref(), Some(&section[..]));
    assert_eq!(
        cues[2][0].kind,
        CueKind::Out {
            duration_ms: Some(30_000)
        }
    );
    assert_eq!(
        cues[3][0].kind,
        CueKind::OutCont {
            elapsed_ms: 2000,
            duration_ms: Some(30_000)
        }
    );
    assert_eq!(cues[4][0].kind, CueKind::In);
    assert!(cues[5].is_empty(), "the bad section is dropped");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("line 16"), "{warnings:?}");

    // Placed: the CUE-OUT break, its continuation (no second break), its return.
    let mut markers = AdMarkers::default();
    let mut w = Vec::new();
    for (i, tags) in cues.iter().enumerate() {
        for t in tags {
            markers.take_hls_tag(t, T0 + i as u64 * 2000, true, &mut w);
        }
    }
    let kept = markers.published();
    let summary: Vec<(Signal, u64, Option<u64>)> = kept
        .iter()
        .map(|m| (m.signal, m.start_unix_ms - T0, m.duration_ms))
        .collect();
    assert_eq!(
        summary,
        [
            (Signal::Out, 2000, Some(30_000)),
            (Signal::Out, 4000, Some(30_000)),
            (Signal::In, 8000, None),
        ]
    );
    assert_eq!(kept[0].id, "ad-7");
    assert_eq!(
        kept[2].event_id, kept[1].event_id,
        "the return names the CUE-OUT's break"
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn the_same_event_twice_is_one_marker_and_a_flood_is_bounded() {
    let mut markers = AdMarkers::default();
    let mut w = Vec::new();
    let section: bytes::Bytes =
        crate::scte35::splice_insert_section(&crate::scte35::SpliceInsert {
            event_id: 9,
            out_of_network: true,
            ..Default::default()
        })
        .into();
    let m = AdMarker::from_section(section.clone(), T0, None).unwrap();
    assert_eq!(markers.add(m.clone(), &mut w), Added::New);
    assert_eq!(
        markers.add(
            AdMarker {
                start_unix_ms: T0 + 300,
                ..m
            },
            &mut w
        ),
        Added::Duplicate
    );
    for i in 0..10_000u32 {
        let s = crate::scte35::splice_insert_section(&crate::scte35::SpliceInsert {
            event_id: 1000 + i,
            out_of_network: true,
            ..Default::default()
        });
        let m = AdMarker::from_section(s.into(), T0 + u64::from(i), None).unwrap();
        markers.add(m, &mut w);
    }
    assert_eq!(markers.published().len(), MAX_MARKERS);
    assert!(!w.is_empty());
    assert!(markers.evict_before(T0 + 20_000));
    assert!(markers.published().is_empty());
}

#[test]
fn splices_are_placed_or_refused_with_the_reason() {
    let brk = SpliceRequest {
        duration_ms: Some(30_000),
        ..SpliceRequest::default()
    };
    assert_eq!(splice_time(&brk, Some((T0, T0 + 8000))), Ok(T0 + 8000));
    assert!(splice_time(&brk, None)
        .unwrap_err()
        .contains("nothing is live"));
    let early = SpliceRequest {
        at_unix_ms: Some(T0 - 1),
        ..brk
    };
    assert!(splice_time(&early, Some((T0, T0 + 8000)))
        .unwrap_err()
        .contains("before the channel's window"));
    let mut markers = AdMarkers::default();
    let ret = SpliceRequest {
        return_to_network: true,
        ..SpliceRequest::default()
    };
    assert!(markers
        .splice(&ret, T0)
        .unwrap_err()
        .contains("no break is under way"));
    let m = markers.splice(&brk, T0).unwrap();
    let again = SpliceRequest {
        event_id: Some(m.event_id),
        ..brk
    };
    assert!(markers
        .splice(&again, T0 + 10)
        .unwrap_err()
        .contains("already signalled"));
    assert!(markers
        .splice(&SpliceRequest::default(), T0)
        .unwrap_err()
        .contains("--duration"));
}

#[test]
fn sections_in_ts_are_timed_against_the_segments_first_frame() {
    use crate::ts::demux::{build_pes, packetize};
    use crate::ts::psi::{build_pat, build_pmt};
    let (pmt_pid, video, scte) = (0x1000, 0x100, 0x1F0);
    let mut ts = Vec::new();
    let (mut c0, mut c1, mut cv, mut cs) = (0, 0, 0, 0);
    let mut pat = vec![0u8];
    pat.extend(build_pat(&[(1, pmt_pid)]));
    ts.extend(packetize(0, &pat, &mut c0, false));
    let mut pmt = vec![0u8];
    pmt.extend(build_pmt(1, video, &[(0x1B, video), (0x86, scte)]));
    ts.extend(packetize(pmt_pid, &pmt, &mut c1, false));
    let first = 126_000;
    ts.extend(packetize(
        video,
        &build_pes(0xE0, Some(first), None, &[0; 300], false),
        &mut cv,
        true,
    ));
    let insert = crate::scte35::SpliceInsert {
        event_id: 301,
        out_of_network: true,
        pts: Some(first + 90_000 + 45_000),
        duration: Some(4 * 90_000),
        ..Default::default()
    };
    let section = crate::scte35::splice_insert_section(&insert);
    let mut payload = vec![0u8];
    payload.extend_from_slice(&section);
    ts.extend(packetize(scte, &payload, &mut cs, false));
    let got = ts_in::scan(&ts);
    assert_eq!(
        got.sections,
        vec![(section.clone(), 1500)],
        "{:?}",
        got.warnings
    );

    // Without a SCTE-35 stream nothing is read; a broken section is dropped with the reason.
    let mut plain = Vec::new();
    plain.extend(packetize(0, &pat, &mut 0, false));
    let mut pmt2 = vec![0u8];
    pmt2.extend(build_pmt(1, video, &[(0x1B, video)]));
    plain.extend(packetize(pmt_pid, &pmt2, &mut 0, false));
    assert_eq!(ts_in::scan(&plain), ts_in::TsCues::default());
    let mut broken = ts.clone();
    let at = broken.len() - 3; // the section ends the packet: its CRC
    broken[at] ^= 0xFF;
    let got = ts_in::scan(&broken);
    assert!(got.sections.is_empty());
    assert!(got.warnings[0].contains("CRC"), "{:?}", got.warnings);
}

#[test]
fn an_event_id_used_again_later_is_a_new_break_and_a_late_return_is_refused() {
    let mut markers = AdMarkers::default();
    let brk = SpliceRequest {
        duration_ms: Some(30_000),
        event_id: Some(7),
        ..SpliceRequest::default()
    };
    markers.splice(&brk, T0).unwrap();
    // Within the break: the same event again.
    assert!(markers.splice(&brk, T0 + 20_000).is_err());
    // Five minutes on, the id is reused for a new break.
    markers.splice(&brk, T0 + 300_000).unwrap();
    assert_eq!(markers.published().len(), 2);
    // Returning once a break is over rewrites nothing.
    let ret = SpliceRequest {
        return_to_network: true,
        ..SpliceRequest::default()
    };
    let over = markers.splice(&ret, T0 + 400_000).unwrap_err();
    assert!(over.contains("no break is under way"), "{over}");
}

#[test]
fn encoder_tags_that_would_break_or_flood_the_output_are_dropped() {
    let hex = crate::hex::encode(&crate::scte35::splice_insert_section(
        &crate::scte35::SpliceInsert {
            event_id: 8,
            out_of_network: true,
            duration: Some(30 * 90_000),
            ..Default::default()
        },
    ));
    let date = crate::time::format_datetime(T0);
    let text = format!(
        "#EXTM3U\n#EXT-X-DATERANGE:ID=ad\"1,START-DATE=\"{date}\",SCTE35-OUT=0x{hex}\n#EXTINF:2,\na.ts\n\
         #EXT-X-DATERANGE:ID=\"far\",START-DATE=\"9999-12-31T00:00:00Z\",SCTE35-OUT=0x{hex}\n#EXTINF:2,\nb.ts\n"
    );
    let (cues, warnings) = scan(&text);
    assert!(cues[0].is_empty(), "an ID with a quote is refused");
    assert!(warnings[0].contains("without quotes"), "{warnings:?}");
    let mut markers = AdMarkers::default();
    let mut w = Vec::new();
    assert_eq!(markers.take_hls_tag(&cues[1][0], T0, true, &mut w), None);
    assert!(w[0].contains("more than an hour"), "{w:?}");
}

#[test]
fn a_cue_in_at_the_planned_end_returns_and_the_newest_tags_count() {
    let mut markers = AdMarkers::default();
    let mut w = Vec::new();
    let (cues, _) = scan("#EXTM3U\n#EXT-X-CUE-OUT:DURATION=4\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n#EXT-X-CUE-IN\n#EXTINF:2,\nc.ts\n");
    for (i, tags) in cues.iter().enumerate() {
        for t in tags {
            markers.take_hls_tag(t, T0 + i as u64 * 2000, true, &mut w);
        }
    }
    let kept = markers.published();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(
        (kept[1].signal, kept[1].start_unix_ms),
        (Signal::In, T0 + 4000)
    );
    // 40 breaks in a long playlist: the last 32 are read (the new ones).
    let mut long = String::from("#EXTM3U\n");
    for i in 0..40 {
        long.push_str(&format!("#EXT-X-CUE-OUT:DURATION=1\n#EXTINF:2,\ns{i}.ts\n"));
    }
    let (cues, warnings) = scan(&long);
    assert!(cues[39].len() == 1 && cues[7].is_empty() && cues[8].len() == 1);
    assert!(warnings[0].contains("before the last 32"), "{warnings:?}");
}
