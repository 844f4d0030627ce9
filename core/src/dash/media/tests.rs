use super::*;
use crate::dash::golden::assert_golden;
use crate::dash::parse::parse_mpd;
use crate::media::{Lookup, MediaOutput};
use bytes::Bytes;

const P: InputRole = InputRole::Primary;

pub(super) fn t0() -> Now {
    Now {
        mono_ms: 1_000_000,
        unix_ms: 1_795_484_867_000,
    }
}

fn params() -> MediaParams {
    MediaParams::new(15_000, 600_000)
}

/// [`params`] of a channel whose encoder's static MPD ends the presentation.
fn params_ending() -> MediaParams {
    MediaParams {
        end_on_endlist: true,
        ..params()
    }
}

/// Replays a real ffmpeg push recorded under `samples/<dir>`: `requests.txt` holds
/// `unix_seconds METHOD path size` per request; MPD bodies are `mpd_<line>.mpd`; segment bodies
/// are made up (their content does not matter to the core). Calls `each` after every request.
fn replay(
    dm: &mut DashMedia,
    role: InputRole,
    dir: &str,
    mut each: impl FnMut(usize, &mut DashMedia, Now),
) {
    let base = format!("{}/testdata/dash/{dir}", env!("CARGO_MANIFEST_DIR"));
    let log = std::fs::read_to_string(format!("{base}/requests.txt")).unwrap();
    let first: f64 = log.split_whitespace().next().unwrap().parse().unwrap();
    for (i, line) in log.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let secs: f64 = f[0].parse().unwrap();
        let now = t0().plus_ms(((secs - first) * 1000.0).round() as u64);
        let path = f[2];
        match f[1] {
            "DELETE" => {
                dm.delete(role, path, now);
            }
            _ if path.ends_with(".mpd") => {
                let body = std::fs::read(format!("{base}/mpd_{:04}.mpd", i + 1)).unwrap();
                dm.put(role, path, Bytes::from(body), now).unwrap();
            }
            _ => {
                let size: usize = f[3].parse().unwrap();
                let mut body = format!("{role:?}:{path}:").into_bytes();
                body.resize(size.max(body.len()), b'.');
                dm.put(role, path, Bytes::from(body), now).unwrap();
            }
        }
        each(i, dm, now);
    }
}

pub(super) fn mpd_text(dm: &mut DashMedia) -> String {
    let snap = dm.snapshot();
    String::from_utf8(snap.mpd.as_ref().unwrap().body.to_vec()).unwrap()
}

/// Every path the rendered MPD references resolves in the snapshot.
fn assert_all_referenced_resolve(dm: &mut DashMedia) {
    let snap = dm.snapshot();
    let text = String::from_utf8(snap.mpd.as_ref().unwrap().body.to_vec()).unwrap();
    let m = parse_mpd("main.mpd", text.as_bytes()).unwrap();
    let mut n = 0;
    for p in &m.periods {
        for a in &p.adaptation_sets {
            for r in &a.representations {
                let init = r.init.as_ref().unwrap();
                assert!(
                    matches!(snap.get("main", init), Lookup::Object(_)),
                    "{init}"
                );
                if let crate::dash::parse::SegmentsIn::Listed(l) = &r.segments {
                    for s in l {
                        assert!(
                            matches!(snap.get("main", &s.path), Lookup::Object(o) if !o.body.is_empty()),
                            "{}",
                            s.path
                        );
                        n += 1;
                    }
                }
            }
        }
    }
    assert!(n > 0);
}

#[test]
fn replays_a_real_ffmpeg_push_and_ends_static() {
    let mut dm = DashMedia::new(params_ending(), t0());
    let mut seen_dynamic = false;
    replay(&mut dm, P, "push_tl", |i, dm, _| {
        if i == 25 {
            assert_golden("media_ffmpeg_live.mpd", &mpd_text(dm));
        }
        if dm.snapshot().mpd.is_some() {
            assert_all_referenced_resolve(dm);
            seen_dynamic |= mpd_text(dm).contains("type=\"dynamic\"");
        }
    });
    assert!(seen_dynamic);
    let text = mpd_text(&mut dm);
    assert!(text.contains("type=\"static\""), "{text}");
    assert_golden("media_ffmpeg_end.mpd", &text);
    let st = dm.snapshot().status.clone();
    assert!(st.ended);
    assert_eq!(
        st.inputs[0].health,
        Health::Ended,
        "the ended input is not shown healthy"
    );
    assert_eq!(st.active, Some(P));
    assert_eq!(st.refused_segments, 0);
    // The encoder deleted its first segments (and no longer lists them): not served.
    let snap = dm.snapshot();
    let first = first_number(t0());
    assert!(matches!(
        snap.get("main", &format!("v0/{first}.m4s")),
        Lookup::NotFound
    ));
    assert!(matches!(
        snap.get("main", &format!("v0/{}.m4s", first + 9)),
        Lookup::Object(o) if o.content_type == "video/mp4"
    ));
    assert!(matches!(
        snap.get("main", &format!("a0/{}.m4s", first + 9)),
        Lookup::Object(o) if o.content_type == "audio/mp4"
    ));
    assert!(matches!(
        snap.get("main", "a0/init1.m4s"),
        Lookup::Object(_)
    ));
    assert!(matches!(
        snap.get("main", "init-stream0.m4s"),
        Lookup::NotFound
    ));
}

#[test]
fn replays_a_low_latency_ffmpeg_push() {
    let mut dm = DashMedia::new(params_ending(), t0());
    replay(&mut dm, P, "push_ll", |_, dm, _| {
        if dm.snapshot().mpd.is_some() {
            assert_all_referenced_resolve(dm);
        }
    });
    let text = mpd_text(&mut dm);
    assert!(text.contains("type=\"static\""), "{text}");
    // Low-latency attributes of the encoder are not echoed: the origin serves whole segments.
    assert!(!text.contains("availabilityTimeComplete"), "{text}");
    assert_golden("media_ffmpeg_ldash_end.mpd", &text);
}

#[test]
fn unchanged_output_keeps_its_etag_and_publish_time() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    for i in 1..=3 {
        enc.step(&mut dm, t0().plus_ms(2_000 * i));
    }
    let a = dm.snapshot().mpd.clone().unwrap();
    // A segment the MPD does not list yet, time passing: the status changes, the MPD not.
    let v = dm.version();
    let later = t0().plus_ms(7_000);
    dm.put(
        P,
        "chunk-stream0-00004.m4s",
        Bytes::from_static(b"v4"),
        later,
    )
    .unwrap();
    dm.tick(later.plus_ms(500));
    assert!(dm.version() > v);
    let b = dm.snapshot().mpd.clone().unwrap();
    assert_eq!((&a.etag, &a.body), (&b.etag, &b.body));
    assert_eq!(b.last_modified_unix_ms, a.last_modified_unix_ms);
    // Once listed, it is a new MPD with a new etag and publishTime.
    dm.put(
        P,
        "chunk-stream1-00004.m4s",
        Bytes::from_static(b"a4"),
        later,
    )
    .unwrap();
    dm.put(
        P,
        "main.mpd",
        mpd(enc.ast, 1, 4, 0, true),
        later.plus_ms(600),
    )
    .unwrap();
    let c = dm.snapshot().mpd.clone().unwrap();
    assert_ne!(c.etag, a.etag);
    assert!(std::str::from_utf8(&c.body)
        .unwrap()
        .contains("publishTime=\"2026-11-24T01:47:54.600Z\""));
}

#[test]
fn a_bad_mpd_is_refused_and_the_previous_state_stays() {
    let mut dm = DashMedia::new(params(), t0());
    replay(&mut dm, P, "push_tl", |_, _, _| {});
    let before = dm.snapshot().mpd.clone().unwrap();
    let err = dm
        .put(
            P,
            "main.mpd",
            Bytes::from_static(b"<MPD"),
            t0().plus_ms(30_000),
        )
        .unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert!(err.to_string().contains("main.mpd"), "{err}");
    assert_eq!(dm.snapshot().mpd.as_ref().unwrap().body, before.body);
    let err = dm
        .put(P, "seg.ts", Bytes::from_static(b"x"), t0().plus_ms(30_000))
        .unwrap_err();
    assert_eq!(err.status_code(), 415);
    let ok = dm
        .put(
            P,
            "media_0.m3u8",
            Bytes::from_static(b"#EXTM3U"),
            t0().plus_ms(30_000),
        )
        .unwrap();
    assert!(ok.warnings[0].contains("ignored"), "{:?}", ok.warnings);
    assert_eq!(dm.snapshot().mpd.as_ref().unwrap().body, before.body);
}

/// An ffmpeg-like live MPD: video (`0`, 12800 Hz, 2 s) and audio (`1`, 48 kHz, 2 s) segments
/// `first..=last`, segment `n` starting at `(n - 1 + offset) × 2 s`.
pub(super) fn mpd(ast: &str, first: u64, last: u64, offset: u64, dynamic: bool) -> Bytes {
    let rep = |id: u32, ts: u64, mime: &str, codecs: &str| {
        let d = 2 * ts;
        let t = (first - 1 + offset) * d;
        let r = last - first;
        format!(
            r#"<AdaptationSet id="{id}" contentType="{}" segmentAlignment="true"><Representation id="{id}" mimeType="{mime}" codecs="{codecs}" bandwidth="500000"><SegmentTemplate timescale="{ts}" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="{first}"><SegmentTimeline><S t="{t}" d="{d}" r="{r}"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>"#,
            &mime[..5]
        )
    };
    let kind = if dynamic { "dynamic" } else { "static" };
    Bytes::from(format!(
        r#"<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="{kind}" availabilityStartTime="{ast}"><Period id="0" start="PT0S">{}{}</Period></MPD>"#,
        rep(0, 12_800, "video/mp4", "avc1.64001e"),
        rep(1, 48_000, "audio/mp4", "mp4a.40.2"),
    ))
}

/// An encoder: pushes inits once, then per segment both media segments and its MPD (window of
/// `window` segments), deleting what left the window.
pub(super) struct Enc {
    pub role: InputRole,
    pub ast: &'static str,
    pub offset: u64,
    pub init_tag: &'static str,
    pub n: u64,
    pub window: u64,
    /// Media segments are padded to at least this many bytes.
    pub pad: usize,
    inits_sent: bool,
}

impl Enc {
    pub fn new(role: InputRole, ast: &'static str, offset: u64) -> Enc {
        Enc {
            role,
            ast,
            offset,
            init_tag: "init",
            n: 0,
            window: 5,
            pad: 0,
            inits_sent: false,
        }
    }

    /// Pushes `count` segments, one every 2 s: `now` moves on 2 s before each.
    pub fn steps(&mut self, dm: &mut DashMedia, now: &mut Now, count: usize) {
        for _ in 0..count {
            *now = now.plus_ms(2_000);
            self.step(dm, *now);
        }
    }

    /// Pushes the next segment at `now`; returns the warnings.
    pub fn step(&mut self, dm: &mut DashMedia, now: Now) -> Vec<String> {
        if !self.inits_sent {
            self.inits_sent = true;
            for r in 0..2 {
                let body = Bytes::from(format!("{}-{r}", self.init_tag));
                dm.put(self.role, &format!("init-stream{r}.m4s"), body, now)
                    .unwrap();
            }
        }
        self.n += 1;
        let n = self.n;
        let mut warnings = Vec::new();
        for r in 0..2 {
            let mut body = format!("{}-{r}-{n}-{:?}", self.ast, self.role).into_bytes();
            body.resize(body.len().max(self.pad), b'.');
            let body = Bytes::from(body);
            let out = dm
                .put(self.role, &format!("chunk-stream{r}-{n:05}.m4s"), body, now)
                .unwrap();
            warnings.extend(out.warnings);
        }
        let first = n.saturating_sub(self.window - 1).max(1);
        let out = dm
            .put(
                self.role,
                "main.mpd",
                mpd(self.ast, first, n, self.offset, true),
                now,
            )
            .unwrap();
        warnings.extend(out.warnings);
        if first > 1 {
            for r in 0..2 {
                dm.delete(
                    self.role,
                    &format!("chunk-stream{r}-{:05}.m4s", first - 1),
                    now,
                );
            }
        }
        warnings
    }

    /// Ends the stream (`type="static"`).
    pub fn end(&mut self, dm: &mut DashMedia, now: Now) {
        let first = self.n.saturating_sub(self.window - 1).max(1);
        dm.put(
            self.role,
            "main.mpd",
            mpd(self.ast, first, self.n, self.offset, false),
            now,
        )
        .unwrap();
    }
}

/// (period id, period start ms, per Representation: (name, startNumber, segment count)).
pub(super) type Shape = Vec<(String, u64, Vec<(String, u64, usize)>)>;

pub(super) fn shape(dm: &mut DashMedia) -> Shape {
    let snap = dm.snapshot();
    let Some(r) = snap.mpd.as_ref() else {
        return Vec::new();
    };
    let text = std::str::from_utf8(&r.body).unwrap();
    let m = parse_mpd("main.mpd", text.as_bytes()).unwrap();
    m.periods
        .iter()
        .map(|p| {
            let reps = p
                .adaptation_sets
                .iter()
                .flat_map(|a| a.representations.iter())
                .map(|r| match &r.segments {
                    crate::dash::parse::SegmentsIn::Listed(s) => {
                        (r.id.clone(), s[0].number, s.len())
                    }
                    _ => panic!("numbered"),
                })
                .collect();
            (p.id.clone(), p.start_ms, reps)
        })
        .collect()
}

#[test]
fn the_window_is_bounded_by_max_playlist_duration() {
    let mut dm = DashMedia::new(MediaParams::new(15_000, 10_000), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    enc.window = 30;
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 30);
    let s = shape(&mut dm);
    assert_eq!(s.len(), 1);
    for (name, _, count) in &s[0].2 {
        assert_eq!(*count, 5, "{name}: 10 s of 2 s segments");
    }
    let text = mpd_text(&mut dm);
    assert!(text.contains("timeShiftBufferDepth=\"PT10S\""), "{text}");
    assert!(
        text.contains("suggestedPresentationDelay=\"PT6S\""),
        "{text}"
    );
    assert!(text.contains("minimumUpdatePeriod=\"PT2S\""), "{text}");
    let first = first_number(t0());
    let snap = dm.snapshot();
    assert!(matches!(
        snap.get("main", &format!("v0/{}.m4s", first + 24)),
        Lookup::NotFound
    ));
    assert!(matches!(
        snap.get("main", &format!("v0/{}.m4s", first + 25)),
        Lookup::Object(_)
    ));
    // A smaller window applies at once.
    dm.set_params(MediaParams::new(15_000, 4_000), now);
    assert!(shape(&mut dm)[0].2.iter().all(|(_, _, c)| *c == 2));
}

#[test]
fn an_overlong_segment_is_refused_counted_and_named() {
    let mut dm = DashMedia::new(MediaParams::new(1_000, 600_000), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let warnings = enc.step(&mut dm, t0().plus_ms(2_000));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("chunk-stream0-00001.m4s") && w.contains("2000 ms")),
        "{warnings:?}"
    );
    assert!(dm.snapshot().mpd.is_none());
    assert_eq!(dm.snapshot().status.refused_segments, 2);
    enc.step(&mut dm, t0().plus_ms(4_000));
    assert_eq!(dm.snapshot().status.refused_segments, 4);
}

#[test]
fn a_deleted_segment_still_listed_is_served() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    for i in 1..=3 {
        enc.step(&mut dm, t0().plus_ms(2_000 * i));
    }
    let first = first_number(t0());
    dm.delete(P, "chunk-stream0-00001.m4s", t0().plus_ms(6_500));
    let snap = dm.snapshot();
    assert!(matches!(
        snap.get("main", &format!("v0/{first}.m4s")),
        Lookup::Object(_)
    ));
    // Once no longer listed either, it goes.
    dm.put(
        P,
        "main.mpd",
        mpd(enc.ast, 2, 3, 0, true),
        t0().plus_ms(7_000),
    )
    .unwrap();
    let snap = dm.snapshot();
    assert!(matches!(
        snap.get("main", &format!("v0/{first}.m4s")),
        Lookup::NotFound
    ));
    assert!(matches!(
        snap.get("main", &format!("a0/{first}.m4s")),
        Lookup::Object(_)
    ));
    assert_eq!(shape(&mut dm)[0].2[0], ("v0".to_string(), first + 1, 2));
}

#[test]
fn segments_and_inits_are_served_with_the_backing_they_were_pushed_with() {
    let mut dm = DashMedia::new(params(), t0());
    let now = t0().plus_ms(2_000);
    let tagged = |tag: u32, text: String| Body {
        bytes: Bytes::from(text),
        backing: Some(std::sync::Arc::new(tag)),
    };
    for r in 0..2u32 {
        let init = tagged(10 + r, format!("init-{r}"));
        dm.put_body(P, &format!("init-stream{r}.m4s"), init, now)
            .unwrap();
        let seg = tagged(20 + r, format!("seg-{r}"));
        dm.put_body(P, &format!("chunk-stream{r}-00001.m4s"), seg, now)
            .unwrap();
    }
    dm.put(
        P,
        "main.mpd",
        mpd("2026-11-24T01:00:00Z", 1, 1, 0, true),
        now,
    )
    .unwrap();
    let snap = dm.snapshot();
    let tag = |path: &str| match snap.get("main", path) {
        Lookup::Object(o) => o
            .backing
            .as_ref()
            .and_then(|b| b.downcast_ref::<u32>().copied()),
        other => panic!("{path}: {other:?}"),
    };
    let first = first_number(t0());
    assert_eq!(tag("v0/init1.m4s"), Some(10));
    assert_eq!(tag("a0/init1.m4s"), Some(11));
    assert_eq!(tag(&format!("v0/{first}.m4s")), Some(20));
    assert_eq!(tag(&format!("a0/{first}.m4s")), Some(21));
}

#[test]
fn segments_arriving_before_or_after_their_mpd_are_published() {
    let mut dm = DashMedia::new(params(), t0());
    let now = t0().plus_ms(2_000);
    dm.put(
        P,
        "main.mpd",
        mpd("2026-11-24T01:00:00Z", 1, 1, 0, true),
        now,
    )
    .unwrap();
    assert!(dm.snapshot().mpd.is_none());
    dm.put(P, "chunk-stream0-00001.m4s", Bytes::from_static(b"v"), now)
        .unwrap();
    dm.put(P, "chunk-stream1-00001.m4s", Bytes::from_static(b"a"), now)
        .unwrap();
    assert!(dm.snapshot().mpd.is_none(), "no init segment yet");
    dm.put(P, "init-stream0.m4s", Bytes::from_static(b"iv"), now)
        .unwrap();
    dm.put(P, "init-stream1.m4s", Bytes::from_static(b"ia"), now)
        .unwrap();
    let s = shape(&mut dm);
    assert_eq!(s[0].2.len(), 2);
    assert_eq!(dm.snapshot().status.active, Some(P));
}

/// The same push on a live channel (the default): ffmpeg's final static MPD does not end the
/// presentation; the operator still sees that the encoder ended.
#[test]
fn an_encoder_ending_leaves_a_live_channel_dynamic() {
    let mut dm = DashMedia::new(params(), t0());
    replay(&mut dm, P, "push_tl", |_, _, _| {});
    let text = mpd_text(&mut dm);
    assert!(text.contains("type=\"dynamic\""), "{text}");
    assert!(!text.contains("mediaPresentationDuration"), "{text}");
    let st = dm.snapshot().status.clone();
    assert!(!st.ended);
    assert_eq!(st.inputs[0].health, Health::Ended);
    // Turned on afterwards, the setting ends the presentation at once.
    dm.set_params(params_ending(), t0().plus_ms(60_000));
    assert!(mpd_text(&mut dm).contains("type=\"static\""));
    assert!(dm.snapshot().status.ended);
}

/// ffmpeg exits (static MPD) and is started again: the dynamic MPD goes on with a new Period.
#[test]
fn an_encoder_restart_after_its_end_continues_in_a_new_period() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 4);
    enc.end(&mut dm, now.plus_ms(500));
    assert!(mpd_text(&mut dm).contains("type=\"dynamic\""));
    now = now.plus_ms(5_000);
    let mut again = Enc::new(P, "2026-11-24T01:05:00Z", 0);
    again.steps(&mut dm, &mut now, 3);
    let text = mpd_text(&mut dm);
    assert!(text.contains("type=\"dynamic\""), "{text}");
    let s = shape(&mut dm);
    assert_eq!(s.len(), 2, "{s:?}");
    let first = first_number(t0());
    assert_eq!(s[1].2[0], ("v0".to_string(), first + 4, 3));
    let st = dm.snapshot().status.clone();
    assert!(!st.ended);
    assert_ne!(st.inputs[0].health, Health::Ended);
}

#[test]
fn an_encoder_restart_opens_a_new_period_with_higher_numbers() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 4);
    let mut again = Enc::new(P, "2026-11-24T01:05:00Z", 0);
    again.steps(&mut dm, &mut now, 3);
    let s = shape(&mut dm);
    assert_eq!(s.len(), 2, "{s:?}");
    let first = first_number(t0());
    assert_eq!(s[0].2[0], ("v0".to_string(), first, 4));
    assert_eq!(s[1].0, format!("p{}", first + 4));
    assert_eq!(s[1].2[0], ("v0".to_string(), first + 4, 3));
    assert_eq!(s[1].1, 8_000, "starts where the first Period's media ends");
    assert!(dm
        .drain_events()
        .contains(&MediaEvent::InputRestarted { input: P }));
}

#[test]
fn a_restart_keeping_availability_start_time_is_seen_by_its_timeline() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 4);
    // Same AST, timeline from 0 again, same file names.
    let mut again = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    again.steps(&mut dm, &mut now, 2);
    let s = shape(&mut dm);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[1].2[0].2, 2);
}

#[test]
fn replays_an_ffmpeg_push_with_duration_addressing() {
    let mut dm = DashMedia::new(params_ending(), t0());
    let mut most = 0;
    replay(&mut dm, P, "push_number", |_, dm, _| {
        if dm.snapshot().mpd.is_some() {
            assert_all_referenced_resolve(dm);
            most = most.max(shape(dm)[0].2[0].2);
        }
    });
    // ffmpeg keeps startNumber="1" and deletes behind it: the origin follows what is pushed.
    let s = shape(&mut dm);
    assert_eq!(s.len(), 1);
    assert!(most >= 3, "{most}");
    let text = mpd_text(&mut dm);
    assert!(text.contains("type=\"static\""), "{text}");
    assert_golden("media_ffmpeg_number_end.mpd", &text);
}

const TWO_PERIODS: &str = r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="2026-11-24T01:00:00Z">
  <Period id="a" start="PT0S"><AdaptationSet contentType="video" mimeType="video/mp4">
    <SegmentTemplate timescale="1000" initialization="a-init.mp4" media="a-$Time$.m4s"/>
    <Representation id="v" bandwidth="1000" codecs="avc1.64001e">
      <SegmentTemplate><SegmentTimeline><S t="0" d="2000" r="4"/></SegmentTimeline></SegmentTemplate>
    </Representation></AdaptationSet></Period>
  <Period id="b" start="PT10S"><AdaptationSet contentType="video" mimeType="video/mp4">
    <SegmentTemplate timescale="1000" initialization="b-init.mp4" media="b-$Time$.m4s">
      <SegmentTimeline><S t="500" d="2000" r="1"/></SegmentTimeline>
    </SegmentTemplate>
    <Representation id="v" bandwidth="1000" codecs="avc1.64001e"/></AdaptationSet></Period>
</MPD>"#;

#[test]
fn an_encoder_period_becomes_an_output_period() {
    let mut dm = DashMedia::new(params(), t0());
    let now = t0().plus_ms(14_000);
    for p in ["a-init.mp4", "b-init.mp4"] {
        dm.put(P, p, Bytes::from(p), now).unwrap();
    }
    for t in [0, 2000, 4000, 6000, 8000] {
        dm.put(P, &format!("a-{t}.m4s"), Bytes::from(format!("a{t}")), now)
            .unwrap();
    }
    for t in [500, 2500] {
        dm.put(P, &format!("b-{t}.m4s"), Bytes::from(format!("b{t}")), now)
            .unwrap();
    }
    dm.put(
        P,
        "main.mpd",
        Bytes::from_static(TWO_PERIODS.as_bytes()),
        now,
    )
    .unwrap();
    let s = shape(&mut dm);
    let first = first_number(t0());
    assert_eq!(
        s,
        vec![
            (format!("p{first}"), 0, vec![("v0".to_string(), first, 5)]),
            (
                format!("p{}", first + 5),
                10_000,
                vec![("v0".to_string(), first + 5, 2)]
            ),
        ]
    );
    let text = mpd_text(&mut dm);
    assert!(
        text.contains(r#"presentationTimeOffset="500" initialization="v0/init2.m4s""#),
        "{text}"
    );
}

#[test]
fn a_missing_segment_is_skipped_once_a_later_one_waited_a_whole_segment() {
    let mut dm = DashMedia::new(MediaParams::new(4_000, 600_000), t0());
    let ast = "2026-11-24T01:00:00Z";
    let mut now = t0().plus_ms(2_000);
    for r in 0..2 {
        dm.put(
            P,
            &format!("init-stream{r}.m4s"),
            Bytes::from_static(b"i"),
            now,
        )
        .unwrap();
        for n in [1, 3] {
            let path = format!("chunk-stream{r}-{n:05}.m4s");
            dm.put(P, &path, Bytes::from(path.clone()), now).unwrap();
        }
    }
    dm.put(P, "main.mpd", mpd(ast, 1, 3, 0, true), now).unwrap();
    assert_eq!(shape(&mut dm)[0].2[0].2, 1, "waits for segment 2");
    now = now.plus_ms(1_999);
    dm.tick(now);
    assert_eq!(shape(&mut dm)[0].2[0].2, 1);
    now = now.plus_ms(1);
    dm.tick(now);
    let first = first_number(t0());
    assert_eq!(shape(&mut dm)[0].2[0], ("v0".to_string(), first, 2));
    // The timeline shows the gap: segment 3 keeps its own time.
    let text = mpd_text(&mut dm);
    assert!(
        text.contains(r#"<S t="0" d="25600"/>"#) && text.contains(r#"<S t="51200" d="25600"/>"#),
        "{text}"
    );
    // Segment 2 arriving late is not published out of order.
    dm.put(
        P,
        "chunk-stream0-00002.m4s",
        Bytes::from_static(b"late"),
        now,
    )
    .unwrap();
    assert_eq!(shape(&mut dm)[0].2[0].2, 2);
}

/// ffmpeg names the first AAC segment after its negative time (`chunk-2--1024.m4s` with
/// `-media_seg_name chunk-$RepresentationID$-$Time$.m4s`) while its MPD lists it at 0: that
/// file never comes, and audio must not wait for it.
#[test]
fn a_first_segment_that_never_comes_does_not_hold_its_representation() {
    let mut dm = DashMedia::new(params(), t0());
    let now = t0().plus_ms(4_000);
    for r in 0..2 {
        dm.put(
            P,
            &format!("init-stream{r}.m4s"),
            Bytes::from_static(b"i"),
            now,
        )
        .unwrap();
        for n in 1..=2 {
            if r == 1 && n == 1 {
                continue;
            }
            let path = format!("chunk-stream{r}-{n:05}.m4s");
            dm.put(P, &path, Bytes::from(path.clone()), now).unwrap();
        }
    }
    dm.put(
        P,
        "main.mpd",
        mpd("2026-11-24T01:00:00Z", 1, 2, 0, true),
        now,
    )
    .unwrap();
    let first = first_number(t0());
    assert_eq!(
        shape(&mut dm)[0].2,
        vec![("v0".to_string(), first, 2), ("a0".to_string(), first, 1)]
    );
}

#[test]
fn an_init_segment_that_changes_opens_a_new_period() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 3);
    dm.put(
        P,
        "init-stream0.m4s",
        Bytes::from_static(b"new parameters"),
        now,
    )
    .unwrap();
    enc.steps(&mut dm, &mut now, 2);
    let s = shape(&mut dm);
    assert_eq!(s.len(), 2, "{s:?}");
    let first = first_number(t0());
    // Audio published its segment 4 in the old Period (first + 3) before video saw the new
    // init: the new Period numbers from first + 4.
    assert_eq!(s[1].2[0], ("v0".to_string(), first + 4, 2));
    assert!(matches!(
        dm.snapshot().get("main", "v0/init2.m4s"),
        Lookup::Object(o) if &o.body[..] == b"new parameters"
    ));
}

#[test]
fn availability_start_time_makes_the_newest_segment_available_when_published() {
    // The origin hears of the input late: four segments listed at once.
    let mut dm = DashMedia::new(params(), t0());
    let now = t0().plus_ms(30_000);
    for r in 0..2 {
        dm.put(
            P,
            &format!("init-stream{r}.m4s"),
            Bytes::from_static(b"i"),
            now,
        )
        .unwrap();
        for n in 1..=4 {
            let path = format!("chunk-stream{r}-{n:05}.m4s");
            dm.put(P, &path, Bytes::from(path.clone()), now).unwrap();
        }
    }
    dm.put(
        P,
        "main.mpd",
        mpd("2026-11-24T01:00:00Z", 1, 4, 0, true),
        now,
    )
    .unwrap();
    let text = mpd_text(&mut dm);
    // now − 8 s of media: the fourth segment is available exactly now, not 6 s from now.
    let want = crate::dash::mpd::format_datetime(now.unix_ms - 8_000);
    assert!(
        text.contains(&format!("availabilityStartTime=\"{want}\"")),
        "{text}"
    );
}

#[test]
fn a_period_whose_last_segment_never_comes_is_left_for_the_next() {
    let mut dm = DashMedia::new(params(), t0());
    let now = t0().plus_ms(14_000);
    for p in ["a-init.mp4", "b-init.mp4"] {
        dm.put(P, p, Bytes::from(p), now).unwrap();
    }
    for t in [0, 2000, 4000, 6000] {
        dm.put(P, &format!("a-{t}.m4s"), Bytes::from(format!("a{t}")), now)
            .unwrap();
    }
    for t in [500, 2500] {
        dm.put(P, &format!("b-{t}.m4s"), Bytes::from(format!("b{t}")), now)
            .unwrap();
    }
    dm.put(
        P,
        "main.mpd",
        Bytes::from_static(TWO_PERIODS.as_bytes()),
        now,
    )
    .unwrap();
    assert_eq!(shape(&mut dm).len(), 1, "waits for a-8000");
    dm.tick(now.plus_ms(14_999));
    assert_eq!(shape(&mut dm).len(), 1);
    dm.tick(now.plus_ms(15_000));
    let s = shape(&mut dm);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[1].2[0].2, 2);
}

#[test]
fn an_audio_init_change_reopens_after_the_video_already_served() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 3);
    dm.put(P, "init-stream1.m4s", Bytes::from_static(b"new audio"), now)
        .unwrap();
    enc.steps(&mut dm, &mut now, 2);
    let s = shape(&mut dm);
    assert_eq!(s.len(), 2, "{s:?}");
    let first = first_number(t0());
    // Video published its segment 4 in the old Period; the new one goes on with segment 5.
    assert_eq!(s[0].2[0], ("v0".to_string(), first, 4));
    assert_eq!(s[1].2[0], ("v0".to_string(), first + 4, 1));
    assert_eq!(s[1].2[1], ("a0".to_string(), first + 4, 1));
    let text = mpd_text(&mut dm);
    assert!(text.contains(r#"<S t="102400" d="25600"/>"#), "{text}");
}

#[test]
fn replays_an_ffmpeg_push_with_a_time_template() {
    // Recorded with `-media_seg_name chunk-$RepresentationID$-$Time$.m4s`: the first audio
    // segment arrives as `chunk-2--1024.m4s` while the MPD lists `chunk-2-0.m4s`.
    let mut dm = DashMedia::new(params_ending(), t0());
    let mut audio_from_second_video_segment = None;
    replay(&mut dm, P, "push_time", |_, dm, _| {
        if dm.snapshot().mpd.is_none() {
            return;
        }
        assert_all_referenced_resolve(dm);
        let s = shape(dm);
        if audio_from_second_video_segment.is_none() && s[0].2[0].2 >= 2 {
            audio_from_second_video_segment = Some(s[0].2.iter().any(|r| r.0 == "a0"));
        }
    });
    assert_eq!(audio_from_second_video_segment, Some(true));
    let text = mpd_text(&mut dm);
    assert!(text.contains("type=\"static\""), "{text}");
    assert_golden("media_ffmpeg_time_end.mpd", &text);
}

#[test]
fn a_restarted_encoder_reusing_file_names_never_gets_old_bytes_served() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 4);
    // The new run's MPD lists segment 1 a moment before its bytes arrive; the old run's
    // chunk-stream*-00001.m4s are still in the store.
    now = now.plus_ms(4_000);
    let new_ast = "2026-11-24T01:05:00Z";
    dm.put(P, "main.mpd", mpd(new_ast, 1, 1, 0, true), now)
        .unwrap();
    let s = shape(&mut dm);
    assert_eq!(s.len(), 1, "nothing of the new run yet: {s:?}");
    for r in 0..2 {
        let path = format!("chunk-stream{r}-00001.m4s");
        dm.put(
            P,
            &path,
            Bytes::from(format!("new run {r}")),
            now.plus_ms(5),
        )
        .unwrap();
    }
    let s = shape(&mut dm);
    assert_eq!(s.len(), 2, "{s:?}");
    let n = s[1].2[0].1;
    assert!(matches!(
        dm.snapshot().get("main", &format!("v0/{n}.m4s")),
        Lookup::Object(o) if &o.body[..] == b"new run 0"
    ));
}

#[test]
fn a_segment_not_listed_yet_republishes_the_status_only() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 3);
    let before = dm.snapshot();
    // The next segment arrives before the MPD that lists it.
    dm.put(
        P,
        "chunk-stream0-00004.m4s",
        Bytes::from_static(b"next"),
        now.plus_ms(1_000),
    )
    .unwrap();
    let after = dm.snapshot();
    assert!(after.version > before.version);
    assert_eq!(
        after.status.inputs[0].segments,
        before.status.inputs[0].segments + 1
    );
    assert!(after.status.held_bytes > before.status.held_bytes);
    assert!(
        Arc::ptr_eq(&before.objects, &after.objects),
        "objects not collected again"
    );
    let (a, b) = (before.mpd.as_ref().unwrap(), after.mpd.as_ref().unwrap());
    assert_eq!(
        (a.etag.as_str(), a.body.as_ptr()),
        (b.etag.as_str(), b.body.as_ptr())
    );
    // The MPD that lists it renders the output again.
    enc.steps(&mut dm, &mut now, 1);
    let listed = dm.snapshot();
    assert!(!Arc::ptr_eq(&after.objects, &listed.objects));
    assert_ne!(listed.mpd.as_ref().unwrap().etag, a.etag);
}

/// Segments pulled often move into the caller's memory (the daemon's pages), same bytes and
/// etag, the MPD untouched; each moves once.
#[test]
fn hot_segments_move_into_the_callers_memory_once() {
    let mut dm = DashMedia::new(params(), t0());
    let mut enc = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    enc.pad = 100_000;
    let mut now = t0();
    enc.steps(&mut dm, &mut now, 3);
    let mpd_before = dm.snapshot().mpd.clone().unwrap();
    let path = format!("v0/{}.m4s", first_number(t0()) + 1);
    let find = |dm: &mut DashMedia| match dm
        .publish(now)
        .output(EndpointType::Dash)
        .unwrap()
        .get("main", &path)
    {
        Lookup::Object(o) => (
            o.body.clone(),
            o.etag.clone(),
            o.backing.is_some(),
            o.count_pull(),
        ),
        other => panic!("{path}: {other:?}"),
    };
    let mut promote = |b: &Bytes| {
        Some(Body {
            bytes: Bytes::copy_from_slice(b),
            backing: Some(std::sync::Arc::new(0u8)),
        })
    };
    assert_eq!(dm.promote_hot(&mut promote), 0, "nothing pulled yet");
    let (body, etag, backed, _) = find(&mut dm);
    assert!(!backed && body.len() >= 100_000);
    let (_, _, _, hot) = find(&mut dm);
    assert!(hot, "the second pull of a 100 KB segment makes it hot");
    assert_eq!(dm.promote_hot(&mut promote), 1);
    let (moved, moved_etag, backed, _) = find(&mut dm);
    assert!(backed);
    assert_ne!(moved.as_ptr(), body.as_ptr(), "served from the copy");
    assert_eq!((moved, moved_etag), (body, etag));
    assert_eq!(dm.snapshot().mpd.clone().unwrap().etag, mpd_before.etag);
    assert_eq!(dm.promote_hot(&mut promote), 0, "moved once");
}
