//! A real viewer: ffmpeg pushes live HLS (TS, fMP4, a two-rendition master) to a channel's
//! primary input, and hls.js in headless chromium plays the endpoint URL for 20 s while the push
//! goes on. Needs ffmpeg, chromium, node and `npm ci --prefix tests/browser` (skipped loudly
//! without them, failed under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// How long the browser watches.
const WATCH_SECONDS: u32 = 20;
/// The push outlasts the wait for a few segments plus the watch and the browser's start.
const PUSH_SECONDS: u32 = 45;
/// Segments (2 s each) every media playlist lists before the viewer joins: a viewer joins a
/// running channel, not one whose first segment is still arriving.
const SEGMENTS_BEFORE_JOIN: usize = 3;

/// Media playlist paths of the endpoint (the manifest itself, or the variants of a master).
fn media_playlists(d: &Daemon, main_path: &str) -> Vec<String> {
    let main = get(d.pull, main_path);
    assert_eq!(main.status, 200, "{main_path}: {main:?}");
    let body = main.text();
    if is_master(&body) {
        playlist_uris(&body)
            .iter()
            .map(|u| resolve(main_path, u))
            .collect()
    } else {
        vec![main_path.to_string()]
    }
}

/// Waits until every media playlist of the endpoint lists `n` segments.
fn wait_for_segments(d: &Daemon, f: &Fixture, n: usize, push_log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lists: Vec<(String, String)> = media_playlists(d, &f.endpoint_path)
            .into_iter()
            .map(|p| {
                let r = get(d.pull, &p);
                (p, r.text())
            })
            .collect();
        if lists.iter().all(|(_, pl)| playlist_uris(pl).len() >= n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "media playlists do not list {n} segments 30 s into the push: {lists:#?}\n\
             --- ffmpeg push log ---\n{}",
            text(&std::fs::read(push_log).unwrap_or_default())
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn push_and_watch(kind: HlsPush, name: &str) {
    if !require_tool("ffmpeg") || !require_browser() {
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
    let mut push = Killed(ffmpeg_push_hls(
        kind,
        &f.primary_url,
        PUSH_SECONDS,
        &push_log,
    ));
    let started = Instant::now();
    let first = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(15));
    assert_eq!(
        first.status,
        200,
        "endpoint not served {:?} after ffmpeg started pushing: {first:?}\n--- ffmpeg push log ---\n{}",
        started.elapsed(),
        text(&std::fs::read(&push_log).unwrap_or_default())
    );
    wait_for_segments(&d, &f, SEGMENTS_BEFORE_JOIN, &push_log);

    let joined = started.elapsed();
    let Some(pb) = play_in_browser(Player::HlsJs, &f.endpoint_url, WATCH_SECONDS) else {
        return;
    };
    let watched_until = started.elapsed();
    // The push must have been live for the whole watch, or a stall would be the encoder's end.
    let encoder_ended = push.0.try_wait().unwrap();
    assert!(
        encoder_ended.is_none(),
        "ffmpeg push ended ({encoder_ended:?}) before the browser finished watching \
         ({watched_until:?} after the push started): lengthen PUSH_SECONDS\n{}",
        text(&std::fs::read(&push_log).unwrap_or_default())
    );
    eprintln!(
        "[browser_hls {name}] joined {joined:?} into the push, watched until {watched_until:?}: {}",
        pb.json
    );
    // Straight to the process's stderr, so CI logs show them even when the test passes.
    for e in &pb.errors {
        let _ = std::io::stderr()
            .write_all(format!("[browser_hls {name}] hls.js reported: {e}\n").as_bytes());
    }

    assert!(
        !pb.fatal,
        "hls.js gave up on {}: {:?}\n{}",
        f.endpoint_url, pb.errors, pb.json
    );
    assert!(
        pb.advanced >= 15.0,
        "hls.js played only {:.1} s of {WATCH_SECONDS} s watched on {}\n{}",
        pb.advanced,
        f.endpoint_url,
        pb.json
    );
    assert!(
        pb.stalls <= 1,
        "hls.js stalled {} times on {}\n{}",
        pb.stalls,
        f.endpoint_url,
        pb.json
    );
    // 25 fps: what was played was decoded, not skipped.
    assert!(
        pb.frames_decoded >= 15 * 25,
        "chromium decoded {} video frames in {WATCH_SECONDS} s of {}\n{}",
        pb.frames_decoded,
        f.endpoint_url,
        pb.json
    );
}

#[test]
fn hlsjs_plays_live_hls_ts() {
    push_and_watch(HlsPush::Ts, "ts");
}

#[test]
fn hlsjs_plays_live_hls_fmp4() {
    push_and_watch(HlsPush::Fmp4, "fmp4");
}

#[test]
fn hlsjs_plays_live_hls_master_two_renditions() {
    push_and_watch(HlsPush::Master, "master");
}

// The harness can fail: a player that cannot start and a stream that stops are seen as such.

#[test]
fn hlsjs_reports_an_endpoint_without_input_as_fatal() {
    if !require_browser() {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("idle", &[]);
    // No input has delivered yet: the origin answers 503 and hls.js gives up on the manifest.
    // It sees the 503 itself, not a network error (status 0): error answers carry CORS.
    let pb = play_in_browser(Player::HlsJs, &f.endpoint_url, 4).unwrap();
    eprintln!("[browser_hls idle] {}", pb.json);
    assert!(pb.fatal, "hls.js on a 503 manifest: {}", pb.json);
    assert!(
        pb.errors
            .iter()
            .any(|e| e.contains("manifestLoadError") && e.contains("HTTP 503")),
        "hls.js should report the manifest's 503: {}",
        pb.json
    );
    assert_eq!((pb.advanced, pb.frames_decoded), (0.0, 0), "{}", pb.json);
}

#[test]
fn hlsjs_stalls_when_the_encoder_dies() {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        "dies",
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "12",
        ],
    );
    let push_log = d.dir().join("ffmpeg-push.log");
    let push = Killed(ffmpeg_push_hls(
        HlsPush::Ts,
        &f.primary_url,
        PUSH_SECONDS,
        &push_log,
    ));
    let first = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(15));
    assert_eq!(first.status, 200, "{first:?}");
    wait_for_segments(&d, &f, SEGMENTS_BEFORE_JOIN, &push_log);
    // SIGKILL a few seconds into the watch: no EXT-X-ENDLIST, so the playlist just stops
    // growing and hls.js runs out of media about 6 s (its live delay) later.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(4));
        drop(push);
    });
    let pb = play_in_browser(Player::HlsJs, &f.endpoint_url, 16).unwrap();
    killer.join().unwrap();
    eprintln!("[browser_hls dies] {}", pb.json);
    assert!(
        pb.stalls >= 1 && pb.longest_stall_s >= 2.0,
        "hls.js did not stall after the encoder died: {}",
        pb.json
    );
    assert!(pb.advanced < 14.0, "{}", pb.json);
}
