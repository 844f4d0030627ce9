//! Low latency: a real ffmpeg `-ldash 1` push replayed with each segment arriving as chunks
//! over its duration (as ffmpeg's chunked PUT delivers it), checked at every step.

use super::tests::t0;
use super::*;
use crate::dash::parse::{parse_mpd, SegmentsIn};
use crate::hls::directives::Position;
use crate::media::growing::{ChunkIn, PartInfo, Progress};
use crate::media::{Lookup, MediaOutput};
use bytes::Bytes;

const P: InputRole = InputRole::Primary;
const CHUNKS: usize = 4;
const LL: crate::media::Variant = crate::media::Variant {
    low_latency: true,
    delta: false,
};

fn ll_params() -> MediaParams {
    MediaParams {
        low_latency: true,
        ..MediaParams::new(15_000, 600_000)
    }
}

/// The bytes the test's encoder pushes at `path`: its name first, so a growing object tells
/// which upload it is.
fn body_of(path: &str, size: usize) -> Bytes {
    let mut body = format!("{path}:").into_bytes();
    body.resize(size.max(body.len() + CHUNKS), b'.');
    Bytes::from(body)
}

enum Step {
    Mpd(Vec<u8>),
    Chunk(String, ChunkIn),
    Whole(String, Bytes),
    Delete(String),
}

/// The `push_ll` capture as it reaches an origin that takes chunked uploads: each segment's
/// chunks spread over the 2 s before its upload ended, in order.
fn chunked_push() -> Vec<(u64, Step)> {
    let base = format!("{}/testdata/dash/push_ll", env!("CARGO_MANIFEST_DIR"));
    let log = std::fs::read_to_string(format!("{base}/requests.txt")).unwrap();
    let first: f64 = log.split_whitespace().next().unwrap().parse().unwrap();
    let mut steps = Vec::new();
    for (i, line) in log.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let at = ((f[0].parse::<f64>().unwrap() - first) * 1000.0).round() as u64 + 2_000;
        let path = f[2].to_string();
        if f[1] == "DELETE" {
            steps.push((at, Step::Delete(path)));
        } else if path.ends_with(".mpd") {
            let body = std::fs::read(format!("{base}/mpd_{:04}.mpd", i + 1)).unwrap();
            steps.push((at, Step::Mpd(body)));
        } else if path.contains("init") {
            steps.push((at, Step::Whole(path.clone(), body_of(&path, 800))));
        } else {
            let body = body_of(&path, f[3].parse().unwrap());
            let per = body.len() / CHUNKS;
            // Chunks of 0.5 s: video at 12800 ticks/s, audio at 48000 (push_ll's timescales).
            let part = PartInfo {
                duration: if path.contains("stream0") {
                    6_400
                } else {
                    24_000
                },
                independent: true,
            };
            for c in 0..CHUNKS {
                let end = if c == CHUNKS - 1 {
                    body.len()
                } else {
                    (c + 1) * per
                };
                let chunk = body.slice(c * per..end);
                let t = at - 2_000 + 500 * (c as u64 + 1) - 499;
                let part = PartInfo {
                    independent: c == 0 || !path.contains("stream0"),
                    ..part
                };
                let chunk = ChunkIn {
                    upload: 1,
                    offset: c * per,
                    bytes: chunk,
                    part: Some(part),
                };
                steps.push((t.min(at), Step::Chunk(path.clone(), chunk)));
            }
            steps.push((at, Step::Whole(path, body)));
        }
    }
    steps.sort_by_key(|(t, _)| *t);
    steps
}

fn ll_mpd(dm: &mut DashMedia) -> Option<String> {
    let snap = dm.snapshot();
    let r = snap.mpd_low_latency.as_ref()?;
    Some(String::from_utf8(r.body.to_vec()).unwrap())
}

/// Each Representation's listed segments in an MPD the origin rendered.
fn timelines(mpd: &str) -> Vec<Vec<crate::dash::parse::SegmentIn>> {
    let m = parse_mpd("main.mpd", mpd.as_bytes()).unwrap();
    m.periods
        .iter()
        .flat_map(|p| &p.adaptation_sets)
        .flat_map(|a| &a.representations)
        .map(|r| match &r.segments {
            SegmentsIn::Listed(segs) => segs.clone(),
            SegmentsIn::Numbered { .. } => panic!("timeline"),
        })
        .collect()
}

/// Every segment the low-latency MPD lists resolves: whole, or growing with bytes that begin
/// the upload it stands for. Returns how many were growing with some bytes.
fn check_low_latency_view(dm: &mut DashMedia) -> usize {
    let Some(text) = ll_mpd(dm) else {
        return 0;
    };
    if text.contains("type=\"dynamic\"") {
        assert!(
            text.contains("availabilityTimeComplete=\"false\""),
            "{text}"
        );
    }
    let snap = dm.snapshot();
    let mut streaming = 0;
    for segs in timelines(&text) {
        for s in &segs {
            match snap.lookup_with("main", &s.path, LL).unwrap() {
                Lookup::Object(o) => assert!(!o.body.is_empty()),
                Lookup::Growing(g, ct) => {
                    assert!(ct.ends_with("/mp4"));
                    assert_eq!(s.path, segs.last().unwrap().path, "only the last grows");
                    let read = g.read_from(0);
                    let got: Vec<u8> = read.chunks.concat();
                    if !got.is_empty() {
                        let text = String::from_utf8_lossy(&got);
                        let upload = text.split(':').next().unwrap();
                        let whole = body_of(upload, 0);
                        assert!(got.starts_with(&whole[..upload.len() + 1]), "{text}");
                        streaming += 1;
                    }
                    assert_ne!(read.progress, Progress::Broken);
                }
                Lookup::Manifest(..) | Lookup::Part(..) | Lookup::NotFound => {
                    panic!("{} not served", s.path)
                }
            }
        }
    }
    // The regular MPD never lists a segment that is not whole.
    let regular = String::from_utf8(snap.mpd.as_ref().unwrap().body.to_vec()).unwrap();
    for segs in timelines(&regular) {
        for s in &segs {
            assert!(
                matches!(snap.lookup("main", &s.path).unwrap(), Lookup::Object(_)),
                "{}",
                s.path
            );
        }
    }
    streaming
}

#[test]
fn chunks_are_served_while_their_segment_arrives() {
    let params = MediaParams {
        end_on_endlist: true,
        ..ll_params()
    };
    let mut dm = DashMedia::new(params, t0());
    let mut streaming = 0;
    let mut announced_whole = 0;
    for (at, step) in chunked_push() {
        let now = t0().plus_ms(at);
        match step {
            Step::Mpd(body) => {
                dm.put(P, "main.mpd", Bytes::from(body), now).unwrap();
            }
            Step::Chunk(path, chunk) => drop(dm.put_chunk(P, &path, chunk, now)),
            Step::Whole(path, body) => {
                dm.put(P, &path, body, now).unwrap();
            }
            Step::Delete(path) => {
                dm.delete(P, &path, now);
            }
        }
        streaming += check_low_latency_view(&mut dm);
        if let Some(text) = ll_mpd(&mut dm) {
            announced_whole += usize::from(text.contains("availabilityTimeOffset=\"1.5\""));
        }
    }
    assert!(
        streaming > 20,
        "segments were served while arriving: {streaming}"
    );
    assert!(
        announced_whole > 0,
        "chunk duration learnt from the uploads"
    );
    // The stream ended: nothing announced any more, and the last MPD is static.
    let text = ll_mpd(&mut dm).unwrap();
    assert!(text.contains("type=\"static\""), "{text}");
    assert!(!text.contains("availabilityTimeOffset"), "{text}");
}

#[test]
fn no_announcement_without_a_low_latency_endpoint() {
    let mut dm = DashMedia::new(MediaParams::new(15_000, 600_000), t0());
    for (at, step) in chunked_push().into_iter().take(40) {
        let now = t0().plus_ms(at);
        match step {
            Step::Mpd(body) => drop(dm.put(P, "main.mpd", Bytes::from(body), now)),
            Step::Chunk(path, chunk) => drop(dm.put_chunk(P, &path, chunk, now)),
            Step::Whole(path, body) => drop(dm.put(P, &path, body, now)),
            Step::Delete(path) => drop(dm.delete(P, &path, now)),
        }
        let snap = dm.snapshot();
        assert!(snap.mpd_low_latency.is_none());
        assert!(snap.growing.is_empty());
    }
}

/// An upload that breaks off: streams of it end unfinished; the retry is announced afresh and
/// published whole.
#[test]
fn a_broken_upload_is_never_whole_and_its_retry_is() {
    let mut dm = DashMedia::new(ll_params(), t0());
    let steps = chunked_push();
    // Up to the second chunk of segment 3 (the MPD listing segment 2 came after its first).
    let cut = steps
        .iter()
        .enumerate()
        .filter(|(_, (_, s))| matches!(s, Step::Chunk(p, _) if p == "chunk-stream0-00003.m4s"))
        .nth(1)
        .unwrap()
        .0;
    let mut last = t0();
    for (at, step) in steps.into_iter().take(cut + 1) {
        last = t0().plus_ms(at);
        match step {
            Step::Mpd(body) => drop(dm.put(P, "main.mpd", Bytes::from(body), last)),
            Step::Chunk(path, chunk) => drop(dm.put_chunk(P, &path, chunk, last)),
            Step::Whole(path, body) => drop(dm.put(P, &path, body, last)),
            Step::Delete(_) => {}
        }
    }
    let first = first_number(t0());
    let path = format!("v0/{}.m4s", first + 2);
    let snap = dm.snapshot();
    let Ok(Lookup::Growing(g, _)) = snap.lookup_with("main", &path, LL) else {
        panic!("segment 3 announced: {:?}", ll_mpd(&mut dm));
    };
    assert!(!g.is_empty());
    let g = std::sync::Arc::new(g.read_from(0).chunks.concat());
    let growing = match snap.lookup_with("main", &path, LL) {
        Ok(Lookup::Growing(g, _)) => g,
        _ => unreachable!(),
    };
    // Another upload's breaking off changes nothing; its own does.
    dm.abort_upload(P, "chunk-stream0-00003.m4s", 7, last.plus_ms(50));
    assert_eq!(growing.progress(), Progress::Arriving);
    dm.abort_upload(P, "chunk-stream0-00003.m4s", 1, last.plus_ms(100));
    assert_eq!(
        growing.progress(),
        Progress::Broken,
        "its streams end unfinished"
    );
    assert!(!g.is_empty());
    // Announced again, empty, for the retry.
    let snap = dm.snapshot();
    match snap.lookup_with("main", &path, LL) {
        Ok(Lookup::Growing(again, _)) => {
            assert!(again.is_empty());
            assert_eq!(again.progress(), Progress::Arriving);
        }
        other => panic!("{other:?}"),
    }
    let body = body_of("chunk-stream0-00003.m4s", 5_000);
    dm.put(
        P,
        "chunk-stream0-00003.m4s",
        body.clone(),
        last.plus_ms(200),
    )
    .unwrap();
    let snap = dm.snapshot();
    match snap.lookup_with("main", &path, LL) {
        Ok(Lookup::Growing(again, _)) => {
            assert_eq!(again.progress(), Progress::Complete);
            assert_eq!(again.read_from(0).chunks.concat(), body.to_vec());
        }
        other => panic!("{other:?}"),
    }
}

/// An `EXT-X-PART`: URI, duration, `INDEPENDENT`.
type ListedPart = (String, f64, bool);

/// What a test reads off an LL-HLS media playlist.
#[derive(Debug, Default)]
struct LlPlaylist {
    target_s: f64,
    part_target: f64,
    part_hold_back: f64,
    can_skip_until: f64,
    media_sequence: u64,
    skipped: u64,
    /// Per segment listed (the arriving one last, without a URI): its parts
    /// `(uri, duration, independent)` and its URI.
    segments: Vec<(Vec<ListedPart>, Option<String>)>,
    hint: Option<String>,
    reports: Vec<(String, u64, u64)>,
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[at..];
    Some(match rest.strip_prefix('"') {
        Some(q) => &q[..q.find('"')?],
        None => rest.split(',').next()?,
    })
}

fn parse_ll(text: &str) -> LlPlaylist {
    let mut p = LlPlaylist::default();
    let mut parts = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let num = |n: &str| attr(l, n).unwrap().parse::<f64>().unwrap();
        if let Some(v) = l.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target_s = v.parse().unwrap();
        } else if l.starts_with("#EXT-X-PART-INF:") {
            p.part_target = num("PART-TARGET");
        } else if l.starts_with("#EXT-X-SERVER-CONTROL:") {
            assert!(l.contains("CAN-BLOCK-RELOAD=YES"), "{l}");
            p.part_hold_back = num("PART-HOLD-BACK");
            p.can_skip_until = num("CAN-SKIP-UNTIL");
        } else if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().unwrap();
        } else if l.starts_with("#EXT-X-SKIP:") {
            p.skipped = num("SKIPPED-SEGMENTS") as u64;
        } else if l.starts_with("#EXT-X-PART:") {
            let uri = attr(l, "URI").unwrap().to_string();
            parts.push((uri, num("DURATION"), l.contains("INDEPENDENT=YES")));
        } else if l.starts_with("#EXTINF:") {
            let uri = lines.next().unwrap().to_string();
            p.segments.push((std::mem::take(&mut parts), Some(uri)));
        } else if l.starts_with("#EXT-X-PRELOAD-HINT:") {
            assert!(l.contains("TYPE=PART"), "{l}");
            p.hint = Some(attr(l, "URI").unwrap().to_string());
        } else if l.starts_with("#EXT-X-RENDITION-REPORT:") {
            let uri = attr(l, "URI").unwrap().to_string();
            let msn = attr(l, "LAST-MSN").unwrap().parse().unwrap();
            let part = attr(l, "LAST-PART").unwrap().parse().unwrap();
            p.reports.push((uri, msn, part));
        }
    }
    if !parts.is_empty() {
        p.segments.push((parts, None));
    }
    p
}

fn playlist(out: &dyn MediaOutput, file: &str, delta: bool) -> String {
    let v = crate::media::Variant {
        low_latency: true,
        delta,
    };
    match out.lookup_with("main", file, v).unwrap() {
        Lookup::Manifest(r, ct) => {
            assert_eq!(ct, crate::hls::PLAYLIST_CONTENT_TYPE);
            String::from_utf8(r.body.to_vec()).unwrap()
        }
        other => panic!("{file}: {other:?}"),
    }
}

/// Checks one LL-HLS media playlist against RFC 8216bis; returns it parsed, with how many
/// segments its Delta Update skips.
fn check_ll_playlist(out: &dyn MediaOutput, file: &str) -> (LlPlaylist, u64) {
    let text = playlist(out, file, false);
    let p = parse_ll(&text);
    let ctx = || format!("{file}:\n{text}");
    assert!(p.part_target > 0.0, "{}", ctx());
    assert!(p.part_hold_back >= 3.0 * p.part_target - 1e-9, "{}", ctx());
    assert!(p.can_skip_until >= 6.0 * p.target_s, "{}", ctx());
    let n = p.segments.len();
    for (si, (parts, uri)) in p.segments.iter().enumerate() {
        for (pi, (part_uri, d, independent)) in parts.iter().enumerate() {
            assert!(
                *d <= p.part_target + 1e-9,
                "part over PART-TARGET: {}",
                ctx()
            );
            let last_of_segment = uri.is_some() && pi + 1 == parts.len();
            assert!(
                *d >= 0.85 * p.part_target - 1e-9 || last_of_segment || *independent,
                "part under 85 % of PART-TARGET: {part_uri}\n{}",
                ctx()
            );
            // `<rep>/<n>.<i>.m4s`: the i-th part of the segment it sits in.
            let stem = part_uri.strip_suffix(".m4s").unwrap();
            let (seg, i) = stem.rsplit_once('.').unwrap();
            assert_eq!(i, pi.to_string(), "{}", ctx());
            if let Some(uri) = uri {
                assert_eq!(format!("{seg}.m4s"), *uri, "{}", ctx());
            }
            match out.lookup_with("main", part_uri, LL).unwrap() {
                Lookup::Part(g, i, _) => {
                    assert!(g.part(i).is_some(), "{part_uri} listed, not here")
                }
                other => panic!("{part_uri}: {other:?}"),
            }
        }
        match uri {
            Some(uri) => assert!(
                matches!(out.lookup_with("main", uri, LL).unwrap(), Lookup::Object(_)),
                "{uri}"
            ),
            None => assert_eq!(si + 1, n, "only the last segment is arriving"),
        }
    }
    // The hint names the part after the last one listed of the arriving segment.
    if let (Some(hint), Some((parts, None))) = (&p.hint, p.segments.last()) {
        let (seg, i) = hint.strip_suffix(".m4s").unwrap().rsplit_once('.').unwrap();
        assert_eq!(i, parts.len().to_string(), "{}", ctx());
        if let Some((first, _, _)) = parts.first() {
            assert!(first.starts_with(&format!("{seg}.")), "{}", ctx());
        }
    }
    // A Delta Update: the same MSN, the first segments skipped, the rest the same.
    let delta = parse_ll(&playlist(out, file, true));
    assert_eq!(delta.media_sequence, p.media_sequence);
    assert_eq!(
        delta.skipped + delta.segments.len() as u64,
        n as u64,
        "{}",
        ctx()
    );
    assert_eq!(delta.segments.last(), p.segments.last());
    (p, delta.skipped)
}

#[test]
fn ll_hls_playlists_follow_rfc_8216bis_at_every_step() {
    let params = MediaParams {
        cmaf: true,
        window_ms: 30_000,
        ..ll_params()
    };
    let mut dm = DashMedia::new(params, t0());
    let mut prev_hint: Option<String> = None;
    let (mut with_parts, mut hints_kept, mut skipped) = (0, 0, 0);
    let tracks = ["v0", "a0"];
    let mut positions: [Option<Position>; 2] = [None, None];
    let mut track_wakes = 0;
    for (at, step) in chunked_push() {
        let now = t0().plus_ms(at);
        let mut woken = Woken::Everyone;
        match step {
            Step::Mpd(body) => drop(dm.put(P, "main.mpd", Bytes::from(body), now)),
            Step::Chunk(path, chunk) => woken = dm.put_chunk(P, &path, chunk, now),
            Step::Whole(path, body) => drop(dm.put(P, &path, body, now)),
            Step::Delete(path) => drop(dm.delete(P, &path, now)),
        }
        let published = dm.publish(now);
        let Some(out) = published.output(crate::channel::EndpointType::Cmaf) else {
            continue;
        };
        // A chunk wakes only its track's parked requests: no other track's Position (what
        // they are decided on) changed with it.
        for (i, t) in tracks.iter().enumerate() {
            let now_at = out.playlist_position("main", &format!("{t}.m3u8"));
            if let Some(p) = now_at {
                assert_eq!(p.wake_key, wake_key(t));
            }
            let unwoken = match woken {
                Woken::Everyone => false,
                Woken::Track(k) => k != wake_key(t),
                Woken::Nobody => true,
            };
            if unwoken {
                assert_eq!(
                    now_at, positions[i],
                    "{t} changed but its waiters were not woken"
                );
            }
            positions[i] = now_at;
        }
        track_wakes += usize::from(matches!(woken, Woken::Track(_)));
        if out.lookup("main", "main.m3u8").is_err() {
            continue;
        }
        let master = match out.lookup("main", "main.m3u8").unwrap() {
            Lookup::Manifest(r, _) => String::from_utf8(r.body.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert!(
            master.contains("v0.m3u8") && master.contains("URI=\"a0.m3u8\""),
            "{master}"
        );
        if dm.snapshot().status.ended {
            continue;
        }
        let (v, v_skips) = check_ll_playlist(out, "v0.m3u8");
        let (a, _) = check_ll_playlist(out, "a0.m3u8");
        with_parts += usize::from(v.segments.iter().any(|(p, _)| !p.is_empty()));
        skipped += v_skips;
        // Each other rendition is reported, at most one segment apart.
        let arriving_msn =
            v.media_sequence + v.segments.iter().filter(|s| s.1.is_some()).count() as u64;
        assert_eq!(v.reports.len(), 1);
        assert_eq!(v.reports[0].0, "a0.m3u8");
        assert!(v.reports[0].1.abs_diff(arriving_msn) <= 1, "{v:?}");
        assert_eq!(a.reports[0].0, "v0.m3u8");
        // The Position blocking requests are decided on: the last part is there, the next
        // one is waited for.
        let pos = out.playlist_position("main", "v0.m3u8").unwrap();
        if let Some((msn, part)) = pos.last_part {
            use crate::hls::directives::{BlockFor, Decision};
            let at = |part| BlockFor {
                msn,
                part: Some(part),
            };
            assert_eq!(pos.decide(at(part)), Decision::Ready);
            assert_eq!(pos.decide(at(part + 1)), Decision::Wait);
        }
        // Hint → part: what was hinted is listed as a part once the hint moves on; never a
        // hint past a segment's last part.
        if let Some(h) = prev_hint.as_ref().filter(|h| v.hint.as_ref() != Some(*h)) {
            let listed = v
                .segments
                .iter()
                .flat_map(|s| s.0.iter())
                .any(|p| &p.0 == h);
            assert!(listed, "hinted {h}, never listed: {v:?}");
            hints_kept += 1;
        }
        prev_hint = v.hint.clone();
    }
    assert!(with_parts > 20, "{with_parts}");
    assert!(
        track_wakes > 20,
        "parts woke their own track: {track_wakes}"
    );
    assert!(hints_kept > 10, "hinted parts were published: {hints_kept}");
    assert!(
        skipped > 0,
        "Delta Updates skipped segments once the window allowed"
    );
}

/// A number announced and served whole never carries another segment's bytes: segment 3 is
/// whole (answered complete under its announced number) and then deleted before the MPD lists
/// it; segment 4 goes on in a new Period, above that number.
#[test]
fn an_announced_number_never_carries_other_bytes() {
    let mut dm = DashMedia::new(ll_params(), t0());
    let first = first_number(t0());
    let announced = format!("v0/{}.m4s", first + 2);
    let mut served_whole = false;
    for (at, step) in chunked_push() {
        let now = t0().plus_ms(at);
        match step {
            Step::Mpd(body) => drop(dm.put(P, "main.mpd", Bytes::from(body), now)),
            Step::Whole(path, body) if path == "chunk-stream0-00003.m4s" => {
                drop(dm.put(P, &path, body, now));
                let snap = dm.snapshot();
                match snap.lookup_with("main", &announced, LL).unwrap() {
                    Lookup::Growing(g, _) => {
                        assert_eq!(g.progress(), Progress::Complete);
                        served_whole = true;
                    }
                    other => panic!("{other:?}"),
                }
                assert!(dm.delete(P, &path, now));
            }
            Step::Chunk(path, chunk) => drop(dm.put_chunk(P, &path, chunk, now)),
            Step::Whole(path, body) => drop(dm.put(P, &path, body, now)),
            Step::Delete(path) => drop(dm.delete(P, &path, now)),
        }
        let snap = dm.snapshot();
        if let Ok(Lookup::Object(o)) = snap.lookup_with("main", &announced, LL) {
            assert!(
                o.body.starts_with(b"chunk-stream0-00003.m4s:"),
                "{announced} now carries {:?}",
                String::from_utf8_lossy(&o.body[..30])
            );
        }
    }
    assert!(served_whole);
    // Segment 4 on is served, in a Period of its own.
    let text = ll_mpd(&mut dm).unwrap();
    assert!(text.matches("<Period").count() >= 2, "{text}");
}

#[test]
fn a_chunked_input_fails_over_after_three_chunks_of_silence() {
    let table: [(u64, usize, u64); 5] = [
        // max segment, chunks per segment → timeout
        (2_000, 0, 4_000), // not chunked: the policy's 2 × max segment
        (2_000, 4, 1_500), // 0.5 s chunks
        (2_000, 8, 1_000), // never under a second
        (15_000, 4, 11_250),
        (1_000, 1, 2_000), // never over the policy
    ];
    for (max_segment_ms, chunks, want) in table {
        let params = MediaParams::new(max_segment_ms, 60_000);
        assert_eq!(
            super::pending::failover_timeout_ms(&params, chunks),
            want,
            "{max_segment_ms} ms in {chunks} chunks"
        );
    }
}

/// An operator's splice on a low-latency channel: the low-latency MPD, the LL-HLS playlists
/// and their Delta Updates (what low-latency players reload) carry it, as the regular
/// manifests do.
#[test]
fn low_latency_manifests_carry_ad_markers() {
    use crate::ad_markers::output::Marking;
    use crate::ad_markers::SpliceRequest;
    use crate::control::commands::EndpointCreate;
    use crate::control::test_channel;
    use crate::media::Variant;
    let ep = |name: &str, kind| EndpointCreate {
        name: name.into(),
        kind: Some(kind),
        low_latency: true,
        ..Default::default()
    };
    let config = test_channel(
        crate::channel::Protocol::Dash,
        &[ep("d", EndpointType::Dash), ep("c", EndpointType::Cmaf)],
    )
    .unwrap();
    let mut marking = Marking::default();
    assert!(marking.follow(&config));
    let params = MediaParams {
        cmaf: true,
        window_ms: 30_000,
        ..ll_params()
    };
    let mut dm = DashMedia::new(params, t0());
    let mut spliced = None;
    let mut checked = 0;
    for (at, step) in chunked_push() {
        let now = t0().plus_ms(at);
        match step {
            Step::Mpd(body) => drop(dm.put(P, "main.mpd", Bytes::from(body), now)),
            Step::Chunk(path, chunk) => drop(dm.put_chunk(P, &path, chunk, now)),
            Step::Whole(path, body) => drop(dm.put(P, &path, body, now)),
            Step::Delete(path) => drop(dm.delete(P, &path, now)),
        }
        let published = dm.publish(now);
        if published.output(EndpointType::Dash).is_none() {
            continue;
        }
        if spliced.is_none() && at > 6_000 {
            let req = SpliceRequest {
                duration_ms: Some(30_000),
                at_unix_ms: None,
                event_id: Some(4242),
                return_to_network: false,
            };
            spliced = dm.splice(&req, now).ok();
            continue;
        }
        let Some(marker) = &spliced else { continue };
        let Some(marked) = marking.apply(&published, now.unix_ms) else {
            continue;
        };
        let text =
            |ep: &crate::channel::config::EndpointConfig, rest: &str, v: Variant| match marked
                .output_for(ep)
                .unwrap()
                .lookup_with("main", rest, v)
            {
                Ok(Lookup::Manifest(r, _)) => String::from_utf8(r.body.to_vec()).unwrap(),
                other => panic!("{rest}: {other:?}"),
            };
        let (d, c) = (&config.endpoints[0], &config.endpoints[1]);
        let mpd = text(d, "main.mpd", LL);
        assert!(
            mpd.contains("availabilityTimeComplete=\"false\""),
            "the LL MPD: {mpd}"
        );
        if !mpd.contains("<EventStream") {
            continue;
        }
        let id = format!("ID=\"{}\"", marker.id);
        let media = text(c, "v0.m3u8", LL);
        assert!(media.contains("#EXT-X-PART:"), "the LL playlist: {media}");
        assert!(media.contains(&id), "{media}");
        let delta = Variant {
            low_latency: true,
            delta: true,
        };
        let skipped = text(c, "v0.m3u8", delta);
        if skipped.contains("#EXT-X-SKIP") && skipped.contains(&id) {
            checked += 1;
        }
        assert!(text(c, "v0.m3u8", Variant::default()).contains(&id));
    }
    assert!(spliced.is_some());
    assert!(checked > 0, "no Delta Update carried the break");
}
