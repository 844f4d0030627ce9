use super::*;

fn sample(name: &str) -> Vec<u8> {
    let p = format!("{}/testdata/dash/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap()
}

fn listed(r: &RepresentationIn) -> &[SegmentIn] {
    match &r.segments {
        SegmentsIn::Listed(s) => s,
        SegmentsIn::Numbered { .. } => panic!("not listed"),
    }
}

#[test]
fn ffmpeg_live_timeline_with_number_template() {
    let m = parse_mpd("main.mpd", &sample("ffmpeg_timeline_live.mpd")).unwrap();
    assert!(m.dynamic);
    assert_eq!(
        m.availability_start.as_deref(),
        Some("2026-11-24T01:47:47.834Z")
    );
    assert_eq!(m.periods.len(), 1);
    let p = &m.periods[0];
    assert_eq!((p.id.as_str(), p.start_ms), ("0", 0));
    assert_eq!(p.adaptation_sets.len(), 2);
    let v = &p.adaptation_sets[0];
    assert_eq!(v.content_type, ContentType::Video);
    assert_eq!(v.mime_type, "video/mp4");
    assert_eq!(v.representations.len(), 2);
    let r0 = &v.representations[0];
    assert_eq!(r0.codecs, "avc1.64001e");
    assert_eq!((r0.width, r0.height), (Some(640), Some(360)));
    assert_eq!(r0.frame_rate.as_deref(), Some("25/1"));
    assert_eq!(r0.timescale, 12_800);
    assert_eq!(r0.init.as_deref(), Some("init-stream0.m4s"));
    let segs = listed(r0);
    assert_eq!(segs.len(), 6);
    assert_eq!(
        segs[0],
        SegmentIn {
            number: 2,
            t: 25_600,
            d: 25_600,
            path: "chunk-stream0-00002.m4s".into()
        }
    );
    assert_eq!(segs[5].number, 7);
    assert_eq!(segs[5].t, 6 * 25_600);
    // Representations of one set may list different windows (deletes lag).
    assert_eq!(listed(&v.representations[1])[0].number, 1);
    let a = &p.adaptation_sets[1];
    assert_eq!(a.content_type, ContentType::Audio);
    let ar = &a.representations[0];
    assert_eq!(
        (ar.audio_sampling_rate, ar.audio_channels),
        (Some(48_000), Some(1))
    );
    assert_eq!(listed(ar)[1].t, 95_232 + 96_256);
    assert_eq!(listed(ar)[1].path, "chunk-stream2-00003.m4s");
}

#[test]
fn ffmpeg_low_latency_and_end_of_stream() {
    let ll = parse_mpd("live/main.mpd", &sample("ffmpeg_ldash_live.mpd")).unwrap();
    let r = &ll.periods[0].adaptation_sets[1].representations[0];
    assert_eq!(r.init.as_deref(), Some("live/init-stream1.m4s"));
    let segs = listed(r);
    assert_eq!(
        segs.iter().map(|s| (s.t, s.d)).collect::<Vec<_>>(),
        vec![(0, 95_232), (95_232, 96_256), (191_488, 96_256)]
    );
    assert_eq!(segs[2].path, "live/chunk-stream1-00003.m4s");
    let end = parse_mpd("main.mpd", &sample("ffmpeg_timeline_end.mpd")).unwrap();
    assert!(!end.dynamic);
    assert!(end.media_presentation_duration_ms.is_some());
}

#[test]
fn ffmpeg_duration_addressing() {
    let m = parse_mpd("main.mpd", &sample("ffmpeg_number_end.mpd")).unwrap();
    let r = &m.periods[0].adaptation_sets[0].representations[0];
    match &r.segments {
        SegmentsIn::Numbered {
            start_number,
            duration,
            ..
        } => assert_eq!((*start_number, *duration), (1, 2_000_000)),
        SegmentsIn::Listed(_) => panic!("expected @duration addressing"),
    }
    assert_eq!(
        r.numbered_path(12).as_deref(),
        Some("chunk-stream0-00012.m4s")
    );
}

const TIME_TEMPLATE: &str = r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="2026-01-01T00:00:00Z">
  <BaseURL>media/</BaseURL>
  <Period id="a" start="PT0S">
    <AdaptationSet mimeType="video/mp4" codecs="avc1.4d401f" width="1280" height="720">
      <SegmentTemplate timescale="90000" presentationTimeOffset="900" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/t$Time$.m4s">
        <SegmentTimeline><S t="900" d="180000" r="1"/><S d="90000"/><S t="500000" d="180000" r="-1"/><S t="860000" d="1000"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="hi" bandwidth="3000000"/>
      <Representation id="lo" bandwidth="1000000" width="640" height="360">
        <SegmentTemplate startNumber="10"/>
      </Representation>
    </AdaptationSet>
  </Period>
  <Period id="b" start="PT100.5S">
    <AdaptationSet contentType="audio" lang="fr">
      <Representation id="fr" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="64000">
        <SegmentTemplate timescale="48000" initialization="init-$RepresentationID$.m4s" media="$RepresentationID$_$Number%03d$_$Bandwidth$.m4s" startNumber="7">
          <SegmentTimeline><S t="0" d="96000" r="2"/></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>"#;

#[test]
fn time_template_inheritance_base_url_and_two_periods() {
    let m = parse_mpd("x/main.mpd", TIME_TEMPLATE.as_bytes()).unwrap();
    assert_eq!(m.periods.len(), 2);
    let hi = &m.periods[0].adaptation_sets[0].representations[0];
    assert_eq!(hi.init.as_deref(), Some("x/media/hi/init.mp4"));
    assert_eq!((hi.timescale, hi.presentation_time_offset), (90_000, 900));
    let got: Vec<(u64, u64, u64, &str)> = listed(hi)
        .iter()
        .map(|s| (s.number, s.t, s.d, s.path.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 900, 180_000, "x/media/hi/t900.m4s"),
            (2, 180_900, 180_000, "x/media/hi/t180900.m4s"),
            (3, 360_900, 90_000, "x/media/hi/t360900.m4s"),
            // r="-1": repeats until the next S@t.
            (4, 500_000, 180_000, "x/media/hi/t500000.m4s"),
            (5, 680_000, 180_000, "x/media/hi/t680000.m4s"),
            (6, 860_000, 1_000, "x/media/hi/t860000.m4s"),
        ]
    );
    let lo = &m.periods[0].adaptation_sets[0].representations[1];
    assert_eq!((lo.width, lo.height), (Some(640), Some(360)));
    assert_eq!(hi.width, Some(1280));
    assert_eq!(listed(lo)[0].number, 10);
    assert_eq!(listed(lo)[0].path, "x/media/lo/t900.m4s");
    let b = &m.periods[1];
    assert_eq!((b.id.as_str(), b.start_ms), ("b", 100_500));
    let fr = &b.adaptation_sets[0];
    assert_eq!(fr.content_type, ContentType::Audio);
    assert_eq!(fr.mime_type, "audio/mp4");
    assert_eq!(fr.lang.as_deref(), Some("fr"));
    let segs = listed(&fr.representations[0]);
    assert_eq!(segs[2].path, "x/media/fr_009_64000.m4s");
    assert_eq!(segs[2].t, 192_000);
}

fn mpd_with(rep: &str) -> String {
    format!(
        r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"><Period><AdaptationSet mimeType="video/mp4">{rep}</AdaptationSet></Period></MPD>"#
    )
}

#[test]
fn bad_inputs_say_why() {
    let cases: Vec<(String, &str)> = vec![
        ("not xml <".into(), "not well-formed XML"),
        ("<MPX/>".into(), "not <MPD>"),
        (
            r#"<MPD type="live"><Period/></MPD>"#.into(),
            "neither dynamic nor static",
        ),
        ("<MPD type=\"dynamic\"></MPD>".into(), "no Period"),
        (mpd_with(""), "no Representation"),
        (mpd_with(r#"<Representation id="a" bandwidth="1"/>"#), "no SegmentTemplate"),
        (
            mpd_with(r#"<Representation id="a"><SegmentBase/></Representation>"#),
            "only SegmentTemplate",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Time$.m4s" duration="2"/></Representation>"#),
            "$Time$ needs a SegmentTimeline",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Number$.m4s"/></Representation>"#),
            "neither SegmentTimeline nor @duration",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Nope$.m4s" duration="2"/></Representation>"#),
            "unsupported identifier",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Number.m4s" duration="2"/></Representation>"#),
            "unterminated",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="http://cdn/$Number$.m4s" duration="2"/></Representation>"#),
            "absolute URI",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Number$.m4s"><SegmentTimeline><S t="0"/></SegmentTimeline></SegmentTemplate></Representation>"#),
            "S without @d",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Number$.m4s"><SegmentTimeline><S t="0" d="1" r="999999999"/></SegmentTimeline></SegmentTemplate></Representation>"#),
            "more than",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Number$.m4s" timescale="x" duration="2"/></Representation>"#),
            "not a number",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate media="$Number$.m4s" duration="2"/></Representation>"#),
            "no @initialization",
        ),
        (
            mpd_with(r#"<Representation id="a"><SegmentTemplate initialization="$Number$.mp4" media="$Number$.m4s" duration="2"/></Representation>"#),
            "in @initialization",
        ),
        (
            r#"<MPD type="static"><Period start="soon"/></MPD>"#.into(),
            "not an xs:duration",
        ),
        (
            r#"<MPD type="static"><Period><AdaptationSet><Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Number$" duration="1"/></Representation></AdaptationSet></Period></MPD>"#.into(),
            "cannot tell the content type",
        ),
    ];
    for (text, want) in cases {
        let err = parse_mpd("main.mpd", text.as_bytes()).unwrap_err();
        assert!(
            err.detail.contains(want),
            "{text}\n→ {err}\n(want {want:?})"
        );
    }
}

#[test]
fn base_urls_with_queries_do_not_break_paths() {
    for base in ["é?/", "sub?x/", "a/b#c/", "x/"] {
        let text = format!(
            r#"<MPD type="static"><BaseURL>{base}</BaseURL><Period><AdaptationSet mimeType="video/mp4"><Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Number$.m4s" duration="1"/></Representation></AdaptationSet></Period></MPD>"#
        );
        let m = parse_mpd("main.mpd", text.as_bytes()).unwrap();
        let init = m.periods[0].adaptation_sets[0].representations[0]
            .init
            .clone();
        assert!(
            init.as_deref().is_some_and(|i| i.ends_with("i.mp4")),
            "{base}: {init:?}"
        );
    }
}

#[test]
fn durations_parse() {
    for (s, want) in [
        ("PT2S", Some(2_000)),
        ("PT0.0S", Some(0)),
        ("PT0.5S", Some(500)),
        ("PT1H2M3.25S", Some(3_723_250)),
        ("P1DT1S", Some(86_401_000)),
        ("PT12.0S", Some(12_000)),
        ("P1Y", None),
        ("PT", None),
        ("2S", None),
        ("PT1.5M", None),
        ("PTS", None),
    ] {
        assert_eq!(parse_duration_ms(s), want, "{s}");
    }
}

#[test]
fn template_widths() {
    let t = Template::parse("a$Number%05d$-$Time%3d$-$$", "r", 1).unwrap();
    assert_eq!(t.expand(42, 7), "a00042-007-$");
    assert!(Template::parse("$Number%5x$", "r", 1).is_err());
    assert!(Template::parse("$RepresentationID%02d$", "r", 1).is_err());
}

mod round_trip {
    use super::super::*;
    use crate::dash::mpd::{self, render, timeline_from};
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-z0-9&<>\"'_-]{1,8}"
    }

    fn representation() -> impl Strategy<Value = mpd::Representation> {
        (
            name(),
            1..10_000_000u64,
            "[a-z0-9.]{0,12}",
            1..100_000u32,
            0..1_000_000u64,
            1..1_000_000u64,
            prop::collection::vec((1..50_000u64, 0..3u64), 1..6),
        )
            .prop_map(
                |(id, bandwidth, codecs, timescale, pto, start_number, durs)| {
                    let mut t = pto;
                    let mut segs = Vec::new();
                    for (d, gap) in durs {
                        t += gap * d;
                        segs.push((t, d));
                        t += d;
                    }
                    mpd::Representation {
                        template: mpd::SegmentTemplate {
                            timescale,
                            presentation_time_offset: pto,
                            initialization: format!("{id}/init1.m4s"),
                            media: format!("{id}/$Number$.m4s"),
                            start_number,
                            timeline: timeline_from(segs),
                        },
                        id,
                        bandwidth,
                        codecs,
                        width: Some(640),
                        height: None,
                        frame_rate: None,
                        audio_sampling_rate: None,
                        audio_channels: Some(2),
                    }
                },
            )
    }

    fn model() -> impl Strategy<Value = mpd::Mpd> {
        let set = (any::<bool>(), prop::collection::vec(representation(), 1..3)).prop_map(
            |(video, representations)| mpd::AdaptationSet {
                id: 0,
                content_type: if video {
                    mpd::ContentType::Video
                } else {
                    mpd::ContentType::Audio
                },
                mime_type: if video { "video/mp4" } else { "audio/mp4" }.into(),
                lang: Some("en".into()),
                segment_alignment: true,
                cea608: None,
                representations,
            },
        );
        let period = (name(), 0..1_000_000u64, prop::collection::vec(set, 1..3)).prop_map(
            |(id, start_ms, adaptation_sets)| mpd::Period {
                id,
                start_ms,
                adaptation_sets,
            },
        );
        (any::<bool>(), prop::collection::vec(period, 1..3)).prop_map(|(dynamic, mut periods)| {
            periods.sort_by_key(|p| p.start_ms);
            mpd::Mpd {
                dynamic,
                availability_start_unix_ms: 1_795_482_000_000,
                publish_time_unix_ms: 1_795_482_000_500,
                time_shift_buffer_ms: 600_000,
                min_update_period_ms: 2_000,
                suggested_presentation_delay_ms: 6_000,
                min_buffer_time_ms: 2_000,
                max_segment_duration_ms: 2_000,
                media_presentation_duration_ms: (!dynamic).then_some(1_000_000),
                utc_timing: vec![mpd::UtcTiming::origin()],
                low_latency: None,
                periods,
            }
        })
    }

    proptest! {
        /// Render, parse back: every Period, Representation and segment comes back as modelled.
        #[test]
        fn rendered_mpds_parse_back(m in model()) {
            let text = render(&m);
            let back = parse_mpd("main.mpd", text.as_bytes()).unwrap();
            prop_assert_eq!(back.dynamic, m.dynamic);
            prop_assert_eq!(back.periods.len(), m.periods.len());
            for (p, q) in m.periods.iter().zip(&back.periods) {
                prop_assert_eq!(&p.id, &q.id);
                prop_assert_eq!(p.start_ms, q.start_ms);
                for (a, b) in p.adaptation_sets.iter().zip(&q.adaptation_sets) {
                    prop_assert_eq!(a.content_type, b.content_type);
                    prop_assert_eq!(&a.lang, &b.lang);
                    for (r, s) in a.representations.iter().zip(&b.representations) {
                        prop_assert_eq!(&r.id, &s.id);
                        prop_assert_eq!(r.bandwidth, s.bandwidth);
                        prop_assert_eq!(&r.codecs, &s.codecs);
                        prop_assert_eq!(r.audio_channels, s.audio_channels);
                        prop_assert_eq!(r.template.timescale, s.timescale);
                        prop_assert_eq!(r.template.presentation_time_offset, s.presentation_time_offset);
                        prop_assert_eq!(s.init.clone(), Some(r.template.initialization.clone()));
                        let SegmentsIn::Listed(segs) = &s.segments else { panic!("listed") };
                        let want: Vec<(u64, u64, u64, String)> = r.template.timeline.iter()
                            .flat_map(|e| (0..=u64::from(e.r)).map(move |k| (e.t + k * e.d, e.d)))
                            .enumerate()
                            .map(|(i, (t, d))| {
                                let n = r.template.start_number + i as u64;
                                (n, t, d, format!("{}/{n}.m4s", r.id))
                            })
                            .collect();
                        let got: Vec<(u64, u64, u64, String)> =
                            segs.iter().map(|x| (x.number, x.t, x.d, x.path.clone())).collect();
                        prop_assert_eq!(got, want);
                    }
                }
            }
        }

        /// Arbitrary bytes, and real MPDs with a byte changed, never panic the parser.
        #[test]
        fn the_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), at in any::<usize>(), b in any::<u8>()) {
            let _ = parse_mpd("main.mpd", &bytes);
            let mut real = super::sample("ffmpeg_timeline_live.mpd");
            let i = at % real.len();
            real[i] = b;
            let _ = parse_mpd("main.mpd", &real);
        }
    }
}

#[test]
fn refusals_say_what_kind_of_problem_they_are() {
    use crate::parse_error::ParseErrorKind as K;
    let rep = |inner: &str| {
        format!(
            r#"<MPD type="dynamic"><Period><AdaptationSet mimeType="video/mp4">{inner}</AdaptationSet></Period></MPD>"#
        )
    };
    let table: Vec<(String, K)> = vec![
        ("<MPD".into(), K::Syntax),
        ("<NotMPD/>".into(), K::Syntax),
        (r#"<MPD type="static"/>"#.into(), K::Missing),
        (
            r#"<MPD type="sometimes"><Period/></MPD>"#.into(),
            K::Invalid,
        ),
        (
            rep(r#"<Representation id="a"><SegmentList/></Representation>"#),
            K::Unsupported,
        ),
        (
            rep(
                r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Number$.m4s"><SegmentTimeline><S t="0" d="1" r="999999999"/></SegmentTimeline></SegmentTemplate></Representation>"#,
            ),
            K::Limit,
        ),
        (
            rep(
                r#"<Representation id="a"><SegmentTemplate initialization="/i.mp4" media="$Number$.m4s" duration="2"/></Representation>"#,
            ),
            K::OutsideInput,
        ),
        (
            rep(
                r#"<Representation id="a"><SegmentTemplate initialization="i.mp4" media="$Bogus$.m4s" duration="2"/></Representation>"#,
            ),
            K::Unsupported,
        ),
    ];
    for (text, kind) in table {
        let e = parse_mpd("main.mpd", text.as_bytes()).unwrap_err();
        assert_eq!(e.kind, kind, "{text} → {e}");
    }
    assert_eq!(
        parse_mpd("main.mpd", b"\xff").unwrap_err().kind,
        K::Encoding
    );
}
