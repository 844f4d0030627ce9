//! Real viewers: ffmpeg pushes live DASH to a DASH channel's primary input, and dash.js and
//! Shaka Player in headless chromium (two browsers at once, one push) play the endpoint's MPD
//! for 20 s while the push goes on; once with the regular push and once with the low-latency
//! one (`-streaming 1 -ldash 1`, segment bodies trickling in 0.5 s chunks). Needs ffmpeg,
//! chromium, node and `npm ci --prefix tests/browser` (skipped loudly without them, failed
//! under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// How long each browser watches.
const WATCH_SECONDS: u32 = 20;
/// The push outlasts the wait for a few segments, the browsers' start and the watch.
const PUSH_SECONDS: u32 = 45;
/// Media segments (2 s each) every representation lists before the viewers join.
const SEGMENTS_BEFORE_JOIN: usize = 3;

/// Two chromiums and an encoder already fill this machine: the tests of this file take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Waits until every representation of the endpoint's MPD lists `n` media segments.
fn wait_for_segments(f: &Fixture, n: usize, push_log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = try_mpd_check(&f.endpoint_url);
        if let Ok(m) = &seen {
            let reps: Vec<u64> = ["video", "audio"]
                .iter()
                .flat_map(|k| m.json[*k].as_array().cloned().unwrap_or_default())
                .map(|p| p["segments"].as_u64().unwrap_or(0))
                .collect();
            // Both video representations and the audio: a viewer joining earlier would get a
            // presentation without the missing one.
            let complete = m.count("video") == 2 && m.count("audio") == 1;
            if complete && reps.iter().all(|&s| s as usize >= n) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the MPD does not list {n} segments per representation 30 s into the push: \
             {seen:?}\n--- ffmpeg push log ---\n{}",
            text(&std::fs::read(push_log).unwrap_or_default())
        );
        thread::sleep(Duration::from_millis(500));
    }
}

fn assert_played(name: &str, player: Player, pb: &Playback, url: &str) {
    for e in &pb.errors {
        let _ = std::io::stderr().write_all(
            format!("[browser_dash {name}] {} reported: {e}\n", player.arg()).as_bytes(),
        );
    }
    assert!(
        !pb.fatal,
        "{} gave up on {url}: {:?}\n{}",
        player.arg(),
        pb.errors,
        pb.json
    );
    assert!(
        pb.errors.is_empty(),
        "{} reported errors on {url}: {:?}\n{}",
        player.arg(),
        pb.errors,
        pb.json
    );
    assert!(
        pb.advanced >= 15.0,
        "{} played only {:.1} s of {WATCH_SECONDS} s watched on {url}\n{}",
        player.arg(),
        pb.advanced,
        pb.json
    );
    assert!(
        pb.stalls <= 1,
        "{} stalled {} times on {url}\n{}",
        player.arg(),
        pb.stalls,
        pb.json
    );
    assert!(
        pb.frames_decoded >= 15 * 25,
        "chromium decoded {} video frames in {WATCH_SECONDS} s of {url} with {}\n{}",
        pb.frames_decoded,
        player.arg(),
        pb.json
    );
}

fn push_and_watch(kind: DashPush, name: &str) {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = Daemon::start(DaemonOpts::default());
    let f = d.dash_channel(
        name,
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "12",
        ],
    );
    let push_log = d.dir().join("ffmpeg-push.log");
    let mut push = Killed(ffmpeg_push_dash(
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
    wait_for_segments(&f, SEGMENTS_BEFORE_JOIN, &push_log);

    let joined = started.elapsed();
    let players = [Player::DashJs, Player::Shaka].map(|p| {
        let url = f.endpoint_url.clone();
        (
            p,
            thread::spawn(move || play_in_browser(p, &url, WATCH_SECONDS)),
        )
    });
    let results: Vec<(Player, Option<Playback>)> = players
        .into_iter()
        .map(|(p, h)| (p, h.join().unwrap()))
        .collect();
    let watched_until = started.elapsed();
    let encoder_ended = push.0.try_wait().unwrap();
    assert!(
        encoder_ended.is_none(),
        "ffmpeg push ended ({encoder_ended:?}) before the browsers finished watching \
         ({watched_until:?} after the push started): lengthen PUSH_SECONDS\n{}",
        text(&std::fs::read(&push_log).unwrap_or_default())
    );
    for (player, pb) in &results {
        let Some(pb) = pb else { return };
        eprintln!(
            "[browser_dash {name}] {} joined {joined:?} into the push, watched until \
             {watched_until:?}: {}",
            player.arg(),
            pb.json
        );
    }
    for (player, pb) in results {
        assert_played(name, player, &pb.unwrap(), &f.endpoint_url);
    }
}

#[test]
fn dashjs_and_shaka_play_live_dash() {
    push_and_watch(DashPush::Timeline, "dash");
}

#[test]
fn dashjs_and_shaka_play_low_latency_dash() {
    push_and_watch(DashPush::LowLatency, "ldash");
}
