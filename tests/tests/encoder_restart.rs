//! An encoder that stops and starts again does not end the show: ffmpeg writes `EXT-X-ENDLIST`
//! (DASH: a static MPD) when it exits and its next run numbers from 0 again. On a live channel
//! (the default) the endpoints stay live and go on behind a discontinuity (a new Period), so a
//! player carries on; on a channel created with `--end-on-endlist` the encoder's end is the
//! presentation's end, and `channel show` says so for the channel and its input alike.
//!
//! Needs ffmpeg, and for hls.js chromium, node and `npm ci --prefix tests/browser` (skipped
//! loudly without them, failed under CI). The player tests take turns: two encoders in a row
//! and a player at once keep real time on a small machine, two such runs might not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const FPS: u64 = 25;
/// How long the player watches: the end of the first run, the restart, the second run.
const PLAY_SECONDS: u32 = 30;
/// The first encoder run; the player joins ~8 s in.
const FIRST_RUN_SECONDS: u32 = 16;

/// Who watches the endpoint across the restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Ffmpeg,
    HlsJs,
}

/// An encoder process, killed however the test ends.
struct Encoder(Child);

impl Encoder {
    /// Waits for ffmpeg to exit by itself (it writes its final playlist on the way out).
    fn finish(&mut self) {
        wait_child(&mut self.0, Duration::from_secs(60));
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn live(d: &Daemon, id: &str) -> serde_json::Value {
    d.ctl_json(&["channel", "show", id])["live"].clone()
}

fn wait_live(d: &Daemon, id: &str, what: &str, ok: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = live(d, id);
        if ok(&l) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: live view {l:#}");
        thread::sleep(Duration::from_millis(250));
    }
}

/// What the served media playlist looked like over the run.
#[derive(Debug, Default)]
struct Watch {
    polls: u32,
    endlists: u32,
    discontinuities: u32,
    problems: Vec<String>,
}

/// Polls the endpoint's playlist every 500 ms until `stop`.
fn watch(pull: String, path: String, stop: Arc<AtomicBool>) -> Watch {
    let mut w = Watch::default();
    let mut last_seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let r = get(&pull, &path);
        if r.status == 200 {
            let pl = r.text();
            w.polls += 1;
            if pl.contains("#EXT-X-ENDLIST") {
                w.endlists += 1;
            }
            w.discontinuities = w
                .discontinuities
                .max(pl.matches("#EXT-X-DISCONTINUITY\n").count() as u32);
            let seq = media_sequence(&pl);
            if seq < last_seq {
                w.problems.push(format!(
                    "media sequence went back {last_seq} -> {seq}\n{pl}"
                ));
            }
            last_seq = seq;
        }
        thread::sleep(Duration::from_millis(500));
    }
    w
}

fn push(url: &str, seconds: u32, log: &Path) -> Encoder {
    Encoder(ffmpeg_push_hls(HlsPush::Ts, url, seconds, log))
}

/// One encoder run, the player joining it, the encoder exiting, a second run: what the
/// player saw.
fn play_through_a_restart(name: &str, viewer: Viewer) {
    if !require_tool("ffmpeg") || (viewer == Viewer::HlsJs && !require_browser()) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        name,
        &[
            "--max-segment-duration",
            "2",
            "--max-playlist-duration",
            "60",
        ],
    );
    let dir = d.dir().to_path_buf();
    let mut first = push(&f.primary_url, FIRST_RUN_SECONDS, &dir.join("run1.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while playlist_uris(&get(d.pull, &f.endpoint_path).text()).len() < 3 {
        assert!(Instant::now() < deadline, "three segments never listed");
        thread::sleep(Duration::from_millis(200));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (pull, path, stop) = (d.pull.to_string(), f.endpoint_path.clone(), stop.clone());
        thread::spawn(move || watch(pull, path, stop))
    };
    let player = {
        let url = f.endpoint_url.clone();
        thread::spawn(move || match viewer {
            Viewer::Ffmpeg => {
                let (frames, out) = ffmpeg_decode(&url, PLAY_SECONDS, Duration::from_secs(120));
                // The new run's timestamps start again where the first run's did: behind the
                // discontinuity ffmpeg re-bases them, and its null muxer remarks on the one
                // audio packet whose timestamp it had to nudge. Anything else is an error.
                let stderr = text(&out.stderr);
                let errors: Vec<&str> = stderr
                    .lines()
                    .filter(|l| !l.contains("non monotonically increasing dts to muxer"))
                    .filter(|l| !l.trim().is_empty())
                    .collect();
                eprintln!("ffmpeg decoded {frames} frames; stderr:\n{stderr}");
                assert!(
                    out.status.success() && errors.is_empty(),
                    "the ffmpeg player failed or printed errors:\n{stderr}"
                );
                let want = u64::from(PLAY_SECONDS) * FPS;
                assert!(
                    frames >= want - 2 * FPS,
                    "the ffmpeg player decoded {frames} frames of {want} across the restart"
                );
            }
            Viewer::HlsJs => {
                let Some(pb) = play_in_browser(Player::HlsJs, &url, PLAY_SECONDS) else {
                    return;
                };
                eprintln!("hls.js saw {}", pb.json);
                assert!(!pb.fatal, "hls.js gave up: {:?}\n{}", pb.errors, pb.json);
                assert!(
                    pb.advanced >= f64::from(PLAY_SECONDS) - 6.0,
                    "hls.js played {:.1} s of {PLAY_SECONDS} across the restart\n{}",
                    pb.advanced,
                    pb.json
                );
            }
        })
    };

    // The encoder exits cleanly (its last playlist says EXT-X-ENDLIST)...
    first.finish();
    wait_live(&d, &f.id, "the input ended, the channel did not", |l| {
        l["inputs"][0]["health"] == "ended" && l["ended"] == false
    });
    let pl = get(d.pull, &f.endpoint_path).text();
    assert!(!pl.contains("#EXT-X-ENDLIST"), "{pl}");
    // ...and is started again a moment later, numbering from 0.
    thread::sleep(Duration::from_secs(1));
    let _second = push(&f.primary_url, PLAY_SECONDS, &dir.join("run2.log"));
    wait_live(&d, &f.id, "the input delivers again", |l| {
        l["inputs"][0]["health"] == "healthy" && l["ended"] == false
    });
    player.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let w = watcher.join().unwrap();
    assert!(w.polls >= 20, "only {} playlist polls", w.polls);
    assert!(w.problems.is_empty(), "{:#?}", w.problems);
    assert_eq!(w.endlists, 0, "players were shown an EXT-X-ENDLIST");
    assert_eq!(
        w.discontinuities, 1,
        "the restart is signalled by exactly one EXT-X-DISCONTINUITY"
    );
    let log = d.stderr_log();
    assert!(
        log.contains("input encoder restarted"),
        "the daemon logs the restart:\n{log}"
    );
}

#[test]
fn ffmpeg_plays_through_an_encoder_restart() {
    play_through_a_restart("restart_ffmpeg", Viewer::Ffmpeg);
}

#[test]
fn hlsjs_plays_through_an_encoder_restart() {
    play_through_a_restart("restart_hlsjs", Viewer::HlsJs);
}

/// `--end-on-endlist`: the encoder's end is the presentation's end, and the channel and its
/// input both say ended; edited off, the endpoint is live again.
#[test]
fn end_on_endlist_ends_the_presentation_with_the_encoder() {
    if !require_tool("ffmpeg") {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("ends", &["--max-segment-duration", "2", "--end-on-endlist"]);
    assert_eq!(f.channel["end_on_endlist"], true, "{:#}", f.channel);
    let mut enc = push(&f.primary_url, 6, &d.dir().join("enc.log"));
    enc.finish();
    wait_live(&d, &f.id, "channel and input ended", |l| {
        l["ended"] == true && l["inputs"][0]["health"] == "ended"
    });
    let pl = get(d.pull, &f.endpoint_path).text();
    assert!(pl.ends_with("#EXT-X-ENDLIST\n"), "{pl}");
    let shown = text(&d.ctl(&["channel", "show", &f.id]).stdout);
    assert!(shown.contains("ends the presentation"), "{shown}");

    let edited = d.ctl_json(&["channel", "edit", &f.id, "--end-on-endlist", "false"]);
    assert_eq!(edited["end_on_endlist"], false);
    wait_live(&d, &f.id, "live again", |l| l["ended"] == false);
    let pl = get(d.pull, &f.endpoint_path).text();
    assert!(!pl.contains("#EXT-X-ENDLIST"), "{pl}");
    let bad = d.ctl(&["channel", "edit", &f.id, "--end-on-endlist", "maybe"]);
    let err = text(&bad.stderr);
    assert!(!bad.status.success() && err.contains("maybe"), "{err}");
}

/// DASH: ffmpeg's final static MPD leaves a live channel's MPD dynamic; its next run goes on
/// in a new Period.
#[test]
fn a_dash_encoder_restart_keeps_the_mpd_dynamic() {
    if !require_tool("ffmpeg") {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.dash_channel("dash_restart", &["--max-segment-duration", "4"]);
    let mpd_path = f.endpoint_path.clone();
    let mut first = Encoder(ffmpeg_push_dash(
        DashPush::Timeline,
        &f.primary_url,
        8,
        &d.dir().join("run1.log"),
    ));
    first.finish();
    wait_live(&d, &f.id, "the DASH input ended", |l| {
        l["inputs"][0]["health"] == "ended" && l["ended"] == false
    });
    let mpd = get(d.pull, &mpd_path).text();
    assert!(mpd.contains("type=\"dynamic\""), "{mpd}");
    assert_eq!(mpd.matches("<Period ").count(), 1, "{mpd}");
    let _second = Encoder(ffmpeg_push_dash(
        DashPush::Timeline,
        &f.primary_url,
        10,
        &d.dir().join("run2.log"),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mpd = get(d.pull, &mpd_path).text();
        if mpd.matches("<Period ").count() == 2 {
            assert!(mpd.contains("type=\"dynamic\""), "{mpd}");
            break;
        }
        assert!(Instant::now() < deadline, "no second Period:\n{mpd}");
        thread::sleep(Duration::from_millis(250));
    }
    wait_live(&d, &f.id, "the DASH input delivers again", |l| {
        l["inputs"][0]["health"] == "healthy" && l["ended"] == false
    });
}
