//! Real viewers of a CMAF endpoint: ffmpeg pushes live HLS/TS (a two-rendition master, 800 and
//! 300 kbit/s) to a
//! channel with a `cmaf` endpoint; dash.js and Shaka play its `main.mpd` and hls.js its
//! `main.m3u8` (fMP4 HLS), all three at once in headless chromium for 20 s each, during one
//! push. Needs ffmpeg, chromium, node and `npm ci --prefix tests/browser` (skipped loudly
//! without them, failed under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// How long each browser watches.
const WATCH_SECONDS: u32 = 20;
/// The push outlasts the wait for a few segments plus the watch and the browsers' start.
const PUSH_SECONDS: u32 = 50;

#[test]
fn dashjs_shaka_and_hlsjs_play_a_live_cmaf_endpoint() {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let c = d.cmaf_channel(
        "cmafplay",
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "20",
        ],
    );
    let push_log = d.dir().join("ffmpeg-push.log");
    let mut push = Killed(ffmpeg_push_hls_ladder(
        &c.f.primary_url,
        PUSH_SECONDS,
        &push_log,
    ));
    let push_log_text = || text(&std::fs::read(&push_log).unwrap_or_default());
    let started = Instant::now();
    let first = wait_for_200(d.pull, &c.mpd_path, Duration::from_secs(20));
    assert_eq!(
        first.status,
        200,
        "cmaf endpoint not served: {first:?}\n{}",
        push_log_text()
    );
    // Join a running stream: 4 segments (8 s) per track, more than the MPD's 6 s delay.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tracks = mpd_tracks(&get(d.pull, &c.mpd_path).text(), &c.mpd_path);
        if tracks.len() == 3 && tracks.iter().all(|t| t.segments.len() >= 4) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "MPD has not 4 segments per track: {tracks:#?}\n{}",
            push_log_text()
        );
        thread::sleep(Duration::from_millis(250));
    }
    let joined = started.elapsed();
    let viewers: Vec<_> = [
        (Player::DashJs, c.mpd_url.clone()),
        (Player::Shaka, c.mpd_url.clone()),
        (Player::HlsJs, c.m3u8_url.clone()),
    ]
    .into_iter()
    .map(|(p, url)| {
        thread::spawn(move || (p, url.clone(), play_in_browser(p, &url, WATCH_SECONDS)))
    })
    .collect();
    let results: Vec<_> = viewers.into_iter().map(|v| v.join().unwrap()).collect();
    let watched_until = started.elapsed();
    let encoder_ended = push.0.try_wait().unwrap();
    assert!(
        encoder_ended.is_none(),
        "ffmpeg push ended ({encoder_ended:?}) before the browsers finished ({watched_until:?}): \
         lengthen PUSH_SECONDS\n{}",
        push_log_text()
    );
    // The MPD's UTCTiming names the origin's own `/time`: players sync their clocks there.
    assert_eq!(get(d.pull, "/time").status, 200, "GET /time");
    let mut failures = Vec::new();
    for (player, url, pb) in results {
        let Some(pb) = pb else {
            return;
        };
        let who = player.arg();
        eprintln!(
            "[browser_cmaf {who}] joined {joined:?}, watched until {watched_until:?}: {}",
            pb.json
        );
        for e in &pb.errors {
            let _ = std::io::stderr()
                .write_all(format!("[browser_cmaf] {who} reported: {e}\n").as_bytes());
        }
        if !pb.errors.is_empty() || pb.fatal {
            failures.push(format!(
                "{who} on {url}: errors {:?}\n{}",
                pb.errors, pb.json
            ));
        }
        if pb.advanced < 15.0 {
            failures.push(format!(
                "{who} played only {:.1} s of {WATCH_SECONDS} s on {url}\n{}",
                pb.advanced, pb.json
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
