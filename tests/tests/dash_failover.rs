//! DASH input failover with real encoders: two ffmpeg processes push the same DASH stream to a
//! channel's primary and backup inputs; the primary is killed (SIGKILL: no final MPD) while
//! dash.js plays the endpoint in headless chromium. The backup takes over, the endpoint's MPD
//! stays live and complete, and the viewer keeps playing. Needs ffmpeg, chromium, node and
//! `npm ci --prefix tests/browser` (skipped loudly without them, failed under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// How long the browser watches; the primary dies [`KILL_AFTER`] into it.
const WATCH_SECONDS: u32 = 30;
const KILL_AFTER: Duration = Duration::from_secs(8);
const PUSH_SECONDS: u32 = 60;

fn live(d: &Daemon, id: &str) -> Value {
    d.ctl_json(&["channel", "show", id])["live"].clone()
}

#[test]
fn backup_takes_over_a_dash_channel_while_dashjs_plays() {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.dash_channel(
        "dash-failover",
        &[
            // ffmpeg's segments are 2 s: the failover timeout (2 × this) stays within the
            // players' presentation delay (3 segments).
            "--max-segment-duration",
            "2",
            "--max-playlist-duration",
            "12",
        ],
    );
    // Started together, like two encoders fed by one source.
    let primary_log = d.dir().join("ffmpeg-primary.log");
    let backup_log = d.dir().join("ffmpeg-backup.log");
    let mut primary = Killed(ffmpeg_push_dash(
        DashPush::Timeline,
        &f.primary_url,
        PUSH_SECONDS,
        &primary_log,
    ));
    let _backup = Killed(ffmpeg_push_dash(
        DashPush::Timeline,
        &f.backup_url,
        PUSH_SECONDS,
        &backup_log,
    ));
    let logs = || {
        format!(
            "--- primary ---\n{}\n--- backup ---\n{}\n--- daemon ---\n{}",
            text(&std::fs::read(&primary_log).unwrap_or_default()),
            text(&std::fs::read(&backup_log).unwrap_or_default()),
            d.stderr_log()
        )
    };
    let first = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(15));
    assert_eq!(first.status, 200, "{first:?}\n{}", logs());
    // Join once every representation lists 3 segments.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(m) = try_mpd_check(&f.endpoint_url) {
            let ok = m.count("video") == 2
                && m.count("audio") == 1
                && ["video", "audio"].iter().all(|k| {
                    m.json[*k]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|p| p["segments"].as_u64().unwrap_or(0) >= 3)
                });
            if ok {
                break;
            }
        }
        assert!(Instant::now() < deadline, "MPD never complete\n{}", logs());
        thread::sleep(Duration::from_millis(500));
    }
    // Whichever input delivered first went on air; the policy goes back to the primary once it
    // proved healthy (a few segments). Kill the primary once it is on air.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let l = live(&d, &f.id);
        // ... and the backup is healthy too, ready to take over.
        if l["active_input"] == "primary" && l["inputs"][1]["health"] == "healthy" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the primary never went on air: {l:#}\n{}",
            logs()
        );
        thread::sleep(Duration::from_millis(250));
    }

    // What the MPD said about v0 every 500 ms, for failure messages.
    let stop = Arc::new(AtomicBool::new(false));
    let recorder = {
        let (pull, path, stop) = (d.pull.to_string(), f.endpoint_path.clone(), stop.clone());
        thread::spawn(move || {
            let t0 = Instant::now();
            let mut lines = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let xml = get(&pull, &path).text();
                let v0 = xml.find("id=\"v0\"").map_or("", |i| &xml[i..]);
                let v0 = &v0[..v0.find("</Representation>").unwrap_or(v0.len())];
                let start = xml_attr(v0, "SegmentTemplate", "startNumber").unwrap_or_default();
                let timeline: String = v0
                    .lines()
                    .filter(|l| l.trim_start().starts_with("<S "))
                    .map(str::trim)
                    .collect();
                lines.push(format!(
                    "{:>5.1}s periods={} v0 startNumber={start} {timeline}",
                    t0.elapsed().as_secs_f64(),
                    xml.matches("<Period").count()
                ));
                thread::sleep(Duration::from_millis(500));
            }
            lines.join("\n")
        })
    };
    let url = f.endpoint_url.clone();
    let player = thread::spawn(move || play_in_browser(Player::DashJs, &url, WATCH_SECONDS));
    thread::sleep(KILL_AFTER);
    let killed_at = Instant::now();
    primary.kill();
    let switched = loop {
        let l = live(&d, &f.id);
        if l["active_input"] == "backup" {
            break l;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(20),
            "no switch to the backup 20 s after the primary's encoder died: {l:#}\n{}",
            logs()
        );
        thread::sleep(Duration::from_millis(250));
    };
    let switch_after = killed_at.elapsed();
    assert!(
        switched["failovers"].as_u64().unwrap_or(0) >= 1,
        "{switched:#}"
    );

    // After the switch the MPD keeps growing from the other input, complete and fetchable.
    thread::sleep(Duration::from_secs(4));
    let xml = get(d.pull, &f.endpoint_path).text();
    assert_eq!(
        xml_attr(&xml, "MPD", "type").as_deref(),
        Some("dynamic"),
        "{xml}"
    );
    let m = mpd_check(&f.endpoint_url);
    assert_eq!((m.count("video"), m.count("audio")), (2, 1), "{xml}");
    for u in m.segment_urls() {
        let r = get(d.pull, &split_url(&u).1);
        assert!(
            r.status == 200 || !mpd_check(&f.endpoint_url).segment_urls().contains(&u),
            "{u} listed but answered {}\n{xml}",
            r.status
        );
    }

    let Some(pb) = player.join().unwrap() else {
        return;
    };
    stop.store(true, Ordering::Relaxed);
    let mpds = recorder.join().unwrap();
    eprintln!(
        "[dash_failover] primary killed, switch after {switch_after:?}; dash.js: {}",
        pb.json
    );
    assert!(
        !pb.fatal,
        "dash.js gave up across the failover: {}\n--- MPD (v0) every 500 ms from the join ---\n{mpds}",
        pb.json
    );
    // The failover timeout (2 × max_segment_duration = 4 s here) is shorter than the players'
    // presentation delay (6 s): the viewer hardly notices (as hls.js in failover.rs).
    assert!(
        pb.longest_stall_s <= 2.0,
        "dash.js stalled {:.1} s across the failover (longer than a segment)\n{}\n--- MPD (v0) ---\n{mpds}",
        pb.longest_stall_s,
        pb.json
    );
    assert!(
        pb.advanced >= f64::from(WATCH_SECONDS) - 5.0,
        "dash.js played only {:.1} s of {WATCH_SECONDS} s across the failover\n{}\n--- MPD (v0) ---\n{mpds}",
        pb.advanced,
        pb.json
    );
}
