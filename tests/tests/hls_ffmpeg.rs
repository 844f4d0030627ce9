//! Real peers: ffmpeg pushes live HLS (TS, fMP4, and a two-rendition master) to a channel's
//! primary input with the recipes of docs/testing.md; ffmpeg and ffprobe pull it from the endpoint
//! while it is live; every served media playlist dates each segment (`EXT-X-PROGRAM-DATE-TIME`
//! following the durations, the live edge at the wall clock). Needs ffmpeg and ffprobe (skipped
//! loudly without them, failed under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

const PUSH_SECONDS: u32 = 20;

/// What the poller saw while the encoder pushed.
#[derive(Default, Debug)]
struct Watch {
    problems: Vec<String>,
    /// Media sequence numbers per media playlist path, in poll order.
    sequences: BTreeMap<String, Vec<u64>>,
    polls_ok: u32,
}

/// Polls the endpoint every ~1 s until `stop`: the media sequence of every media playlist never
/// decreases, and once served the endpoint stays served with its newest segment fetchable.
fn watch(pull: String, main_path: String, stop: Arc<AtomicBool>) -> Watch {
    let mut w = Watch::default();
    let mut served = false;
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let main = get(&pull, &main_path);
        if main.status != 200 {
            if served {
                w.problems.push(format!(
                    "manifest answered {} after being served",
                    main.status
                ));
            }
        } else {
            served = true;
            w.polls_ok += 1;
            let body = main.text();
            let media: Vec<String> = if is_master(&body) {
                playlist_uris(&body)
                    .iter()
                    .map(|u| resolve(&main_path, u))
                    .collect()
            } else {
                vec![main_path.clone()]
            };
            for path in media {
                let r = if path == main_path {
                    main.clone()
                } else {
                    get(&pull, &path)
                };
                if r.status != 200 {
                    w.problems
                        .push(format!("media playlist {path} answered {}", r.status));
                    continue;
                }
                let pl = r.text();
                let seq = media_sequence(&pl);
                let seqs = w.sequences.entry(path.clone()).or_default();
                if let Some(&prev) = seqs.last() {
                    if seq < prev {
                        w.problems.push(format!(
                            "{path}: EXT-X-MEDIA-SEQUENCE went back from {prev} to {seq}:\n{pl}"
                        ));
                    }
                }
                seqs.push(seq);
                // Every segment is dated, the dates follow the durations, and the live edge
                // is the wall clock's (ffmpeg -re pushes in real time).
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                for p in date_problems(&pl, now, 10_000) {
                    w.problems.push(format!("{path}: {p}:\n{pl}"));
                }
                if let Some(last) = playlist_uris(&pl).last() {
                    let seg = resolve(&path, last);
                    let s = get(&pull, &seg);
                    if s.status != 200 || s.body.is_empty() {
                        w.problems.push(format!(
                            "newest segment {seg} answered {} ({} bytes)",
                            s.status,
                            s.body.len()
                        ));
                    }
                }
            }
        }
        if let Some(rest) = Duration::from_secs(1).checked_sub(t0.elapsed()) {
            thread::sleep(rest);
        }
    }
    w
}

fn push_and_play(kind: HlsPush, name: &str) {
    if !require_tool("ffmpeg") || !require_tool("ffprobe") {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        name,
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "12",
        ],
    );
    let push_log = d.dir().join("ffmpeg-push.log");
    let mut push = ffmpeg_push_hls(kind, &f.primary_url, PUSH_SECONDS, &push_log);
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (pull, path, stop) = (d.pull.to_string(), f.endpoint_path.clone(), stop.clone());
        thread::spawn(move || watch(pull, path, stop))
    };

    let first = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(15));
    let push_log_text = || text(&std::fs::read(&push_log).unwrap_or_default());
    assert_eq!(
        first.status,
        200,
        "endpoint not served {:?} after ffmpeg started pushing: {first:?} {}\n--- ffmpeg push log ---\n{}",
        started.elapsed(),
        first.text(),
        push_log_text()
    );

    // Play and probe while the stream is live.
    let url = f.endpoint_url.clone();
    let prober = thread::spawn(move || ffprobe_codecs(&url));
    let (frames, play) = ffmpeg_decode(&f.endpoint_url, 10, Duration::from_secs(60));
    let probed = prober.join().unwrap();

    let push_status = wait_child(&mut push, Duration::from_secs(PUSH_SECONDS as u64 + 30));
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();

    let play_err = text(&play.stderr);
    assert!(
        play.status.success() && play_err.trim().is_empty(),
        "ffmpeg playing {} failed ({}), errors:\n{play_err}\n--- push log ---\n{}",
        f.endpoint_url,
        play.status,
        push_log_text()
    );
    assert!(
        frames >= 200,
        "ffmpeg decoded {frames} video frames of 10 s at 25 fps from {} (want >= 200)",
        f.endpoint_url
    );

    let codecs = text(&probed.stdout);
    assert!(
        probed.status.success() && codecs.contains("h264") && codecs.contains("aac"),
        "ffprobe {}: status {}, streams:\n{codecs}\nerrors:\n{}",
        f.endpoint_url,
        probed.status,
        text(&probed.stderr)
    );

    assert!(
        seen.problems.is_empty(),
        "while pushing: {:#?}",
        seen.problems
    );
    assert!(
        seen.polls_ok >= 5,
        "endpoint polled OK only {} times",
        seen.polls_ok
    );
    // 20 s of 2 s segments through a 12 s window: the window slides while we watch.
    assert!(!seen.sequences.is_empty());
    for (path, seqs) in &seen.sequences {
        assert!(
            seqs.len() >= 5 && seqs.last() > seqs.first(),
            "{path}: media sequence did not advance over {} polls: {seqs:?}",
            seqs.len()
        );
    }
    assert!(
        push_status.success(),
        "ffmpeg push: {push_status}\n{}",
        push_log_text()
    );

    // What the finished stream looks like.
    let main = get(d.pull, &f.endpoint_path);
    assert_eq!(main.status, 200);
    let body = main.text();
    let media_paths: Vec<String> = if kind == HlsPush::Master {
        assert!(
            is_master(&body),
            "two renditions are served as a master playlist:\n{body}"
        );
        let variants: Vec<&str> = body
            .lines()
            .filter(|l| l.starts_with("#EXT-X-STREAM-INF:"))
            .collect();
        assert_eq!(variants.len(), 2, "master lists both renditions:\n{body}");
        assert!(variants.iter().all(|v| v.contains("BANDWIDTH=")), "{body}");
        let uris = playlist_uris(&body);
        assert_eq!(uris.len(), 2, "{body}");
        uris.iter().map(|u| resolve(&f.endpoint_path, u)).collect()
    } else {
        assert!(
            !is_master(&body),
            "one rendition is served as a media playlist:\n{body}"
        );
        vec![f.endpoint_path.clone()]
    };
    for path in &media_paths {
        let r = get(d.pull, path);
        assert_eq!(r.status, 200, "variant {path}: {r:?}");
        let pl = r.text();
        let segs = playlist_uris(&pl);
        assert!(!segs.is_empty(), "{path} lists segments:\n{pl}");
        let seg = get(d.pull, &resolve(path, &segs[0]));
        assert_eq!(seg.status, 200);
        match kind {
            HlsPush::Fmp4 => {
                let map = pl
                    .lines()
                    .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_else(|| panic!("fMP4 playlist has EXT-X-MAP:\n{pl}"));
                let init = get(d.pull, &resolve(path, map));
                assert_eq!(init.status, 200, "init segment {map}");
                assert_eq!(&init.body[4..8], b"ftyp", "init segment starts with ftyp");
            }
            HlsPush::Ts | HlsPush::Master => {
                assert_eq!(seg.body[0], 0x47, "TS segment starts with a sync byte");
                assert_eq!(seg.body.len() % 188, 0, "whole TS packets");
            }
        }
    }

    // The CLI shows what happened.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let live = d.ctl_json(&["channel", "show", &f.id])["live"].clone();
        let ok = live["active_input"] == "primary"
            && live["inputs"][0]["segments"].as_u64().unwrap_or(0) >= 5
            && live["inputs"][0]["bytes"].as_u64().unwrap_or(0) > 100_000
            && live["inputs"][1]["segments"] == 0
            && live["window_segments"].as_u64().unwrap_or(0) > 0
            && live["held_bytes"].as_u64().unwrap_or(0) > 0
            && live["failovers"] == 0
            // The encoder ended its stream; the channel stays live for its next run.
            && live["inputs"][0]["health"] == "ended"
            && live["ended"] == false;
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "channel live view after a finished 20 s push from the primary: {live:#}"
        );
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn ffmpeg_hls_ts_push_and_play() {
    push_and_play(HlsPush::Ts, "ts");
}

#[test]
fn ffmpeg_hls_fmp4_push_and_play() {
    push_and_play(HlsPush::Fmp4, "fmp4");
}

#[test]
fn ffmpeg_hls_master_two_renditions_push_and_play() {
    push_and_play(HlsPush::Master, "master");
}
