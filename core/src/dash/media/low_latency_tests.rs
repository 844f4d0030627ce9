//! Low latency: a real ffmpeg `-ldash 1` push replayed with each segment arriving as chunks
//! over its duration (as ffmpeg's chunked PUT delivers it), checked at every step.

use super::tests::t0;
use super::*;
use crate::dash::parse::{parse_mpd, SegmentsIn};
use crate::media::growing::Progress;
use crate::media::{Lookup, MediaOutput};
use bytes::Bytes;

const P: InputRole = InputRole::Primary;
const CHUNKS: usize = 4;

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
    Chunk(String, Bytes),
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
            for c in 0..CHUNKS - 1 {
                let chunk = body.slice(c * per..(c + 1) * per);
                let t = at - 2_000 + 500 * (c as u64 + 1) - 499;
                steps.push((t, Step::Chunk(path.clone(), chunk)));
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
    let m = parse_mpd("main.mpd", text.as_bytes()).unwrap();
    let mut streaming = 0;
    for r in m
        .periods
        .iter()
        .flat_map(|p| &p.adaptation_sets)
        .flat_map(|a| &a.representations)
    {
        let SegmentsIn::Listed(segs) = &r.segments else {
            panic!("timeline")
        };
        for s in segs {
            match snap.lookup_low_latency("main", &s.path).unwrap() {
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
                Lookup::Manifest(..) | Lookup::NotFound => panic!("{} not served", s.path),
            }
        }
    }
    // The regular MPD never lists a segment that is not whole.
    let regular = String::from_utf8(snap.mpd.as_ref().unwrap().body.to_vec()).unwrap();
    let m = parse_mpd("main.mpd", regular.as_bytes()).unwrap();
    for r in m
        .periods
        .iter()
        .flat_map(|p| &p.adaptation_sets)
        .flat_map(|a| &a.representations)
    {
        let SegmentsIn::Listed(segs) = &r.segments else {
            panic!("timeline")
        };
        for s in segs {
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
            Step::Chunk(path, chunk) => assert!(dm.put_chunk(P, &path, chunk, now)),
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
    let Ok(Lookup::Growing(g, _)) = snap.lookup_low_latency("main", &path) else {
        panic!("segment 3 announced: {:?}", ll_mpd(&mut dm));
    };
    assert!(!g.is_empty());
    let g = std::sync::Arc::new(g.read_from(0).chunks.concat());
    let growing = match snap.lookup_low_latency("main", &path) {
        Ok(Lookup::Growing(g, _)) => g,
        _ => unreachable!(),
    };
    dm.abort_upload(P, "chunk-stream0-00003.m4s", last.plus_ms(100));
    assert_eq!(
        growing.progress(),
        Progress::Broken,
        "its streams end unfinished"
    );
    assert!(!g.is_empty());
    // Announced again, empty, for the retry.
    let snap = dm.snapshot();
    match snap.lookup_low_latency("main", &path) {
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
    match snap.lookup_low_latency("main", &path) {
        Ok(Lookup::Growing(again, _)) => {
            assert_eq!(again.progress(), Progress::Complete);
            assert_eq!(again.read_from(0).chunks.concat(), body.to_vec());
        }
        other => panic!("{other:?}"),
    }
}
