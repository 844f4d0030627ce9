use super::*;
use crate::channel::media::Lookup;
use crate::dash::golden::assert_golden;
use crate::dash::parse::parse_mpd;

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

/// Replays a real ffmpeg push recorded under `samples/<dir>`: `requests.txt` holds
/// `unix_seconds METHOD path size` per request; MPD bodies are `mpd_<line>.mpd`; segment bodies
/// are made up (their content does not matter to the core). Calls `each` after every request.
fn replay(
    dm: &mut DashMedia,
    role: InputRole,
    dir: &str,
    mut each: impl FnMut(usize, &mut DashMedia, Now),
) {
    let base = format!("{}/src/dash/samples/{dir}", env!("CARGO_MANIFEST_DIR"));
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

fn mpd_text(dm: &mut DashMedia) -> String {
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
                    matches!(snap.lookup("main.mpd", init), Lookup::Object(_)),
                    "{init}"
                );
                for s in dm.inputs[0].segments(r) {
                    assert!(
                        matches!(snap.lookup("main.mpd", &s.path), Lookup::Object(_)),
                        "{}",
                        s.path
                    );
                    n += 1;
                }
                if let crate::dash::parse::SegmentsIn::Listed(l) = &r.segments {
                    for s in l {
                        assert!(
                            matches!(snap.lookup("main.mpd", &s.path), Lookup::Object(o) if !o.body.is_empty()),
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
    let mut dm = DashMedia::new(params(), t0());
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
    assert_eq!(st.active, Some(P));
    assert_eq!(st.refused_segments, 0);
    // The encoder deleted its first segments (and no longer lists them): not served.
    let snap = dm.snapshot();
    let first = t0().unix_ms / 100;
    assert!(matches!(
        snap.lookup("main.mpd", &format!("v0/{first}.m4s")),
        Lookup::NotFound
    ));
    assert!(matches!(
        snap.lookup("main.mpd", &format!("v0/{}.m4s", first + 9)),
        Lookup::Object(o) if o.content_type == "video/mp4"
    ));
    assert!(matches!(
        snap.lookup("main.mpd", &format!("a0/{}.m4s", first + 9)),
        Lookup::Object(o) if o.content_type == "audio/mp4"
    ));
    assert!(matches!(
        snap.lookup("main.mpd", "a0/init1.m4s"),
        Lookup::Object(_)
    ));
    assert!(matches!(
        snap.lookup("main.mpd", "init-stream0.m4s"),
        Lookup::NotFound
    ));
}

#[test]
fn replays_a_low_latency_ffmpeg_push() {
    let mut dm = DashMedia::new(params(), t0());
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
    let mut last = None;
    replay(&mut dm, P, "push_tl", |i, dm, _| {
        if i == 20 {
            last = dm.snapshot().mpd.clone();
        }
    });
    let _ = last;
    let a = dm.snapshot().mpd.clone().unwrap();
    dm.tick(t0().plus_ms(60_000));
    let b = dm.snapshot().mpd.clone().unwrap();
    assert_eq!(a.etag, b.etag);
    assert_eq!(a.body, b.body);
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
}
