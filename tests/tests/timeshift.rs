//! Time-shift on an HLS channel, with ffmpeg pushing for real: segments that left the live
//! window stay on disk for the channel's window and keep their live URLs; `start`, `end` and
//! `delay` ask for startover, closed and delayed playlists, decoded by ffmpeg and played by
//! hls.js; bad values are refused with the reason; the archive survives SIGKILL; a daemon-wide
//! disk cap drops the oldest first and nothing else.
//!
//! Needs ffmpeg (and for hls.js chromium, node and `npm ci --prefix tests/browser`); skipped
//! loudly without them, failed under CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use streampack_tests::*;

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn push(d: &Daemon, f: &Fixture, seconds: u32, log: &str) -> Killed {
    Killed(ffmpeg_push_hls(
        HlsPush::Ts,
        &f.primary_url,
        seconds,
        &d.dir().join(log),
    ))
}

/// A channel of 2 s segments, a 10 s live window and `window` s of time-shift.
fn channel(d: &Daemon, name: &str, window: &str) -> Fixture {
    d.hls_channel(
        name,
        &[
            "--max-segment-duration",
            "2",
            "--max-playlist-duration",
            "10",
            "--timeshift-window",
            window,
        ],
    )
}

/// The endpoint's folder: `/v1/<ch>/<ep>/`.
fn folder(f: &Fixture) -> String {
    f.endpoint_path.trim_end_matches("main.m3u8").to_string()
}

fn wait_segments(d: &Daemon, path: &str, n: usize, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let r = get(d.pull, path);
        if r.status == 200 && playlist_uris(&r.text()).len() >= n {
            return r.text();
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {n} segments never listed: {} {}",
            r.status,
            r.text()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// Every segment a playlist lists answers 200 with as many bytes as it says.
fn all_segments_readable(d: &Daemon, f: &Fixture, playlist: &str) {
    for uri in playlist_uris(playlist) {
        let path = format!("{}{uri}", folder(f));
        let r = get(d.pull, &path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let len: usize = r.header("content-length").unwrap().parse().unwrap();
        assert!(len > 1000 && r.body.len() == len, "{path}: {len} bytes");
        assert_eq!(r.body[0], 0x47, "{path}: not TS");
    }
}

#[test]
fn startover_closed_and_delayed_windows() {
    if !require_tool("ffmpeg") {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = channel(&d, "shifted", "600");
    let t0 = unix_ms();
    let mut enc = push(&d, &f, 36, "push.log");
    // A segment while it is live: its bytes and etag, to compare once it left the window.
    let live = wait_segments(&d, &f.endpoint_path, 2, Duration::from_secs(30));
    let first_uri = playlist_uris(&live)[0].clone();
    let first_path = format!("{}{first_uri}", folder(&f));
    let was_live = get(d.pull, &first_path);
    assert_eq!(was_live.status, 200);
    wait_child(&mut enc.0, Duration::from_secs(90));
    let t_end = unix_ms();

    // The live window moved on; the segment is served from the archive, the same bytes under
    // the same URL and etag, ranges included.
    let live = get(d.pull, &f.endpoint_path).text();
    assert!(playlist_uris(&live).len() <= 6, "{live}");
    assert!(
        !live.contains(&first_uri),
        "{first_uri} still live:\n{live}"
    );
    let archived = get(d.pull, &first_path);
    assert_eq!(archived.status, 200, "{}", archived.text());
    assert_eq!(archived.body, was_live.body);
    assert_eq!(archived.header("etag"), was_live.header("etag"));
    let part = http(
        d.pull,
        "GET",
        &first_path,
        &[("Range", "bytes=188-375")],
        None,
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, was_live.body[188..376]);

    // Startover from before the first segment: all of it, live (no ENDLIST), dated.
    let start = t0 / 1000 - 5;
    let path = format!("{}?start={start}", f.endpoint_path);
    let r = get(d.pull, &path);
    assert_eq!(r.status, 200, "{}", r.text());
    let startover = r.text();
    let segs = dated_segments(&startover);
    assert!(segs.len() >= 15, "{startover}");
    assert!(startover.contains(&first_uri), "{startover}");
    assert!(!startover.contains("#EXT-X-ENDLIST"));
    assert!(
        segs.iter().all(|s| s.start_unix_ms.is_some()),
        "{startover}"
    );
    assert_eq!(
        date_problems(&startover, t_end, 60_000),
        Vec::<String>::new()
    );
    all_segments_readable(&d, &f, &startover);
    assert_eq!(
        r.header("cache-control"),
        get(d.pull, &f.endpoint_path).header("cache-control"),
        "a growing playlist keeps the manifest TTL"
    );

    // A closed window in the past: complete, immutable, only what overlaps it.
    let (from, to) = (
        segs[3].start_unix_ms.unwrap(),
        segs[9].start_unix_ms.unwrap(),
    );
    let closed_path = format!(
        "{}?start={}.{:03}&end={}.{:03}",
        f.endpoint_path,
        from / 1000,
        from % 1000,
        to / 1000,
        to % 1000
    );
    let r = get(d.pull, &closed_path);
    assert_eq!(r.status, 200, "{}", r.text());
    let closed = r.text();
    assert!(closed.ends_with("#EXT-X-ENDLIST\n"), "{closed}");
    assert_eq!(
        playlist_uris(&closed),
        segs[3..9].iter().map(|s| s.uri.clone()).collect::<Vec<_>>()
    );
    assert!(r.header("cache-control").unwrap().contains("immutable"));
    let again = http(
        d.pull,
        "GET",
        &closed_path,
        &[("If-None-Match", r.header("etag").unwrap())],
        None,
    );
    assert_eq!(again.status, 304);
    // ffmpeg decodes all of it (6 segments of 2 s at 25 fps).
    let url = format!("http://{}{closed_path}", d.pull);
    let (frames, out) = ffmpeg_decode(&url, 60, Duration::from_secs(60));
    assert!(
        (290..=310).contains(&frames),
        "{frames} frames from {url}: {}",
        text(&out.stderr)
    );
    // The same window in RFC 3339.
    let rfc = format!(
        "{}?start={}&end={}",
        f.endpoint_path,
        format_utc(from),
        format_utc(to)
    );
    assert_eq!(get(d.pull, &rfc).text(), closed);

    // The same window harvested into a standalone VOD: decoded by ffmpeg from the files,
    // played by hls.js from a static web server (below).
    let vod = d.dir().join("vod");
    let (from_s, to_s) = (
        format!("{}.{:03}", from / 1000, from % 1000),
        format_utc(to),
    );
    let vod_s = vod.to_str().unwrap();
    let harvest = [
        "harvest", &f.id, "ep1", "--start", &from_s, "--end", &to_s, "--out", vod_s,
    ];
    let h = d.ctl_json(&harvest);
    assert_eq!(h["segments"], 6, "{h:#}");
    assert_eq!(h["manifest"], "main.m3u8");
    assert!(
        (h["duration_secs"].as_f64().unwrap() - 12.0).abs() < 0.5,
        "{h:#}"
    );
    let main = std::fs::read_to_string(vod.join("main.m3u8")).unwrap();
    assert!(
        main.ends_with("#EXT-X-ENDLIST\n") && !main.contains('?'),
        "{main}"
    );
    assert_eq!(
        playlist_uris(&main),
        playlist_uris(&closed),
        "the VOD lists the window's segments under their own names"
    );
    for uri in playlist_uris(&main) {
        let bytes = std::fs::read(vod.join(&uri)).unwrap();
        assert_eq!(
            bytes,
            get(d.pull, &format!("{}{uri}", folder(&f))).body,
            "{uri}"
        );
    }
    let e = d.ctl_refused(&harvest);
    assert!(e.contains("not empty") && e.contains("--force"), "{e}");
    let mut forced = harvest.to_vec();
    forced.push("--force");
    assert_eq!(d.ctl_json(&forced)["segments"], 6);
    let vod_main = vod.join("main.m3u8");
    let (frames, out) = ffmpeg_decode(vod_main.to_str().unwrap(), 60, Duration::from_secs(60));
    assert!(
        (290..=310).contains(&frames),
        "{frames} frames from the harvested VOD: {}",
        text(&out.stderr)
    );

    // 20 s behind: the live window as it was then.
    let r = get(d.pull, &format!("{}?delay=20", f.endpoint_path));
    assert_eq!(r.status, 200, "{}", r.text());
    let delayed = dated_segments(&r.text());
    let edge = delayed
        .last()
        .map(|s| s.start_unix_ms.unwrap() + s.duration_ms)
        .unwrap();
    let now = unix_ms();
    assert!(edge <= now - 20_000 + 100, "edge {edge}, now {now}");
    assert!((4..=6).contains(&delayed.len()), "{}", r.text());

    // Startover decoded by ffmpeg from its first segment, as a live playlist.
    let url = format!("http://{}{path}", d.pull);
    let out = run_with_timeout(
        std::process::Command::new("ffmpeg").args([
            "-nostdin",
            "-loglevel",
            "error",
            "-live_start_index",
            "0",
            "-i",
            &url,
            "-t",
            "8",
            "-f",
            "null",
            "-progress",
            "pipe:1",
            "-",
        ]),
        Duration::from_secs(60),
    );
    let frames = progress_frames(&out.stdout);
    assert!(frames >= 190, "{frames} frames: {}", text(&out.stderr));

    // hls.js plays the closed window, the startover, and the harvested VOD from nginx.
    if !require_tool("nginx") {
        return;
    }
    let web = Nginx::static_files(d.dir(), &vod);
    let port = web.port;
    let vod_url = format!("http://127.0.0.1:{port}/main.m3u8");
    for (what, url) in [
        ("closed", format!("http://{}{closed_path}", d.pull)),
        ("startover", format!("http://{}{path}", d.pull)),
        ("harvested", vod_url),
    ] {
        let Some(pb) = play_in_browser(Player::HlsJs, &url, 8) else {
            return;
        };
        assert!(
            !pb.fatal && pb.advanced >= 5.0,
            "hls.js on the {what} playlist: {}",
            pb.json
        );
    }
}

fn progress_frames(stdout: &[u8]) -> u64 {
    text(stdout)
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("frame="))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ`.
fn format_utc(ms: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{}.{:03}", ms / 1000, ms % 1000)])
        .arg("+%Y-%m-%dT%H:%M:%S.%3NZ")
        .output()
        .unwrap();
    text(&out.stdout).trim().to_string()
}

#[test]
fn bad_time_shift_requests_say_why() {
    let d = Daemon::start(DaemonOpts::default());
    let f = channel(&d, "window", "600");
    let off = d.hls_channel("no-window", &[]);
    let now = unix_ms() / 1000;
    let table = [
        (&f, "start=yesterday".to_string(), "not a time"),
        (
            &f,
            format!("start={now}&end={now}"),
            "end must be after start",
        ),
        (
            &f,
            format!("start={}", now - 3600),
            "before the time-shift window",
        ),
        (&f, format!("start={}", now + 3600), "in the future"),
        (
            &f,
            "delay=601".to_string(),
            "longer than the time-shift window",
        ),
        (&f, "delay=ten".to_string(), "not a number of seconds"),
        (&off, "delay=10".to_string(), "time-shift is off"),
    ];
    for (fx, q, why) in table {
        let r = get(d.pull, &format!("{}?{q}", fx.endpoint_path));
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert!(r.text().contains(why), "{q}: {}", r.text());
    }
    // A query that asks for nothing time-shifted is a live request.
    let r = get(d.pull, &format!("{}?cachebuster=1", f.endpoint_path));
    assert_eq!(r.status, 503, "no media yet: {}", r.text());
}

#[test]
fn sigkill_mid_write_keeps_the_window() {
    if !require_tool("ffmpeg") {
        return;
    }
    let mut d = Daemon::start(DaemonOpts::default());
    let f = channel(&d, "survivor", "600");
    let t0 = unix_ms() / 1000 - 5;
    let enc = push(&d, &f, 60, "push1.log");
    let startover = format!("{}?start={t0}", f.endpoint_path);
    let before = wait_segments(&d, &startover, 9, Duration::from_secs(40));
    // Killed while ffmpeg keeps pushing (a segment may be half written).
    d.kill9();
    drop(enc);
    d.restart();
    // Before the encoder is back: the live playlist has nothing yet, the archive answers
    // startover and closed windows, its segments served from disk.
    assert_eq!(get(d.pull, &f.endpoint_path).status, 503);
    let restarted = wait_segments(
        &d,
        &startover,
        playlist_uris(&before).len(),
        Duration::from_secs(10),
    );
    assert!(!restarted.contains("#EXT-X-ENDLIST"), "{restarted}");
    assert_eq!(
        playlist_uris(&restarted)[..playlist_uris(&before).len()],
        playlist_uris(&before)[..]
    );
    all_segments_readable(&d, &f, &restarted);
    let closed = format!(
        "{}?start={t0}&end={}",
        f.endpoint_path,
        unix_ms() / 1000 - 1
    );
    let r = get(d.pull, &closed);
    assert_eq!(r.status, 200, "{closed}: {}", r.text());
    assert!(r.text().contains("#EXT-X-ENDLIST"), "{}", r.text());
    assert!(r.header("cache-control").unwrap().contains("immutable"));
    let enc = push(&d, &f, 30, "push2.log");
    let after = wait_segments(
        &d,
        &startover,
        playlist_uris(&before).len() + 3,
        Duration::from_secs(40),
    );
    drop(enc);
    let kept: Vec<String> = playlist_uris(&before);
    let now: Vec<String> = playlist_uris(&after);
    assert_eq!(
        now[..kept.len()],
        kept[..],
        "the window before the kill is kept\n{after}"
    );
    assert!(after.contains("#EXT-X-DISCONTINUITY\n"), "{after}");
    all_segments_readable(&d, &f, &after);
    let log = d.stderr_log();
    assert!(log.contains("time-shift archive loaded"), "{log}");
}

#[test]
fn a_disk_cap_drops_the_oldest_and_nothing_else() {
    if !require_tool("ffmpeg") {
        return;
    }
    const CAP: u64 = 1 << 20;
    let d = Daemon::start(DaemonOpts::args(&["--storage-max-bytes", &CAP.to_string()]));
    let f = channel(&d, "capped", "600");
    let other = d.hls_channel("other", &[]);
    let t0 = unix_ms() / 1000 - 5;
    let mut enc = push(&d, &f, 30, "push.log");
    let mut other_enc = push(&d, &other, 30, "other.log");
    wait_child(&mut enc.0, Duration::from_secs(90));
    wait_child(&mut other_enc.0, Duration::from_secs(90));
    let s = scrape(d.metrics);
    let bytes = s.get("streampack_timeshift_bytes", &[]);
    assert!(bytes > 0.0 && bytes <= CAP as f64, "{bytes} archived");
    assert!(
        s.get(
            "streampack_timeshift_expired_segments_total",
            &[("reason", "cap")]
        ) > 0.0
    );
    assert_eq!(s.get("streampack_timeshift_write_errors_total", &[]), 0.0);
    let on_disk: u64 = walk(&d.state_dir.join("media"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(on_disk <= CAP, "{on_disk} bytes of segments on disk");
    // What is left is the newest, all of it readable; live serving and the other channel
    // went on.
    let r = get(d.pull, &format!("{}?start={t0}", f.endpoint_path));
    assert_eq!(r.status, 200, "{}", r.text());
    let kept = dated_segments(&r.text());
    assert!(kept.len() >= 3 && kept.len() < 12, "{}", r.text());
    all_segments_readable(&d, &f, &r.text());
    for fx in [&f, &other] {
        let live = get(d.pull, &fx.endpoint_path);
        assert_eq!(live.status, 200);
        assert!(playlist_uris(&live.text()).len() >= 4, "{}", live.text());
    }
    assert!(d.stderr_log().contains("time-shift storage cap reached"));
}

/// A real full disk (a 1 MiB tmpfs of the daemon's own as `media_dir`): archive writes fail
/// with `ENOSPC`, said in the log and in `/metrics`; ingest, the live window and another channel
/// go on, and the archive lists only what it could write.
#[test]
fn a_full_disk_fails_only_the_archive() {
    if !require_tool("ffmpeg") {
        return;
    }
    let d = Daemon::start(DaemonOpts {
        media_tmpfs_bytes: Some(1 << 20),
        ..DaemonOpts::default()
    });
    let f = channel(&d, "full", "600");
    let other = d.hls_channel("other", &[]);
    let t0 = unix_ms() / 1000 - 5;
    let mut enc = push(&d, &f, 30, "push.log");
    let mut other_enc = push(&d, &other, 30, "other.log");
    let st = wait_child(&mut enc.0, Duration::from_secs(90));
    assert!(st.success(), "the encoder of the full channel failed: {st}");
    let st = wait_child(&mut other_enc.0, Duration::from_secs(90));
    assert!(st.success(), "the other encoder failed: {st}");
    let s = scrape(d.metrics);
    assert_eq!(s.get("streampack_timeshift_disk_full", &[]), 1.0);
    assert!(s.get("streampack_timeshift_write_errors_total", &[]) > 0.0);
    let log = d.stderr_log();
    assert!(
        log.contains("time-shift archive write failed") && log.contains("No space left on device"),
        "{log}"
    );
    // The live window has the newest segments; the archive stopped where the disk was full,
    // and what it lists can all be read.
    let live = get(d.pull, &f.endpoint_path);
    assert_eq!(live.status, 200);
    all_segments_readable(&d, &f, &live.text());
    let archived = get(d.pull, &format!("{}?start={t0}", f.endpoint_path));
    assert_eq!(archived.status, 200, "{}", archived.text());
    all_segments_readable(&d, &f, &archived.text());
    let last = |t: &str| playlist_uris(t).last().cloned().unwrap();
    let (live_uris, archived_uris) = (playlist_uris(&live.text()), playlist_uris(&archived.text()));
    assert!(
        !archived_uris.contains(&last(&live.text())) && archived_uris.len() < 15,
        "the archive kept going past a full disk?\nlive:\n{}\narchived:\n{}",
        live.text(),
        archived.text()
    );
    assert!(live_uris.len() >= 4, "{}", live.text());
    let o = get(d.pull, &other.endpoint_path);
    assert_eq!(o.status, 200);
    assert!(playlist_uris(&o.text()).len() >= 12, "{}", o.text());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The same on a DASH channel: the archived Periods with timelines over the window; a closed
/// window is a static MPD, startover and delay dynamic ones.
#[test]
fn dash_startover_closed_and_delayed_windows() {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.dash_channel(
        "dash-shifted",
        &[
            "--max-segment-duration",
            "3",
            "--max-playlist-duration",
            "10",
            "--timeshift-window",
            "600",
        ],
    );
    let t0 = unix_ms();
    let mut enc = Killed(ffmpeg_push_dash(
        DashPush::Timeline,
        &f.primary_url,
        45,
        &d.dir().join("push.log"),
    ));
    // While the encoder pushes, ~22 s in.
    thread::sleep(Duration::from_secs(22));
    let live = mpd_check(&f.endpoint_url);
    let live_video = live.urls_of("video");

    // Startover from before the first segment: every segment so far, dynamic, the time-shift
    // window as timeShiftBufferDepth.
    let startover = format!("{}?start={}", f.endpoint_url, t0 / 1000 - 5);
    let xml = get(d.pull, &split_url(&startover).1).text();
    assert_eq!(
        xml_attr(&xml, "MPD", "type").as_deref(),
        Some("dynamic"),
        "{xml}"
    );
    assert_eq!(
        xml_attr(&xml, "MPD", "timeShiftBufferDepth").as_deref(),
        Some("PT600S"),
        "{xml}"
    );
    let all = mpd_check(&startover);
    let video = all.urls_of("video");
    assert!(
        video.len() >= 2 * 8 && video.len() > live_video.len(),
        "{} video segments in the startover MPD, {} live",
        video.len(),
        live_video.len()
    );
    for url in all.segment_urls() {
        let r = get(d.pull, &split_url(&url).1);
        assert_eq!(r.status, 200, "{url}: {}", r.text());
    }
    // 10 s behind: the live window as it was, available 10 s later than live.
    let delayed = get(d.pull, &format!("{}?delay=10", f.endpoint_path)).text();
    let ast = |x: &str| xml_attr(x, "MPD", "availabilityStartTime").unwrap();
    let live_xml = get(d.pull, &f.endpoint_path).text();
    assert_eq!(
        xml_attr(&delayed, "MPD", "type").as_deref(),
        Some("dynamic")
    );
    assert_ne!(ast(&delayed), ast(&live_xml), "{delayed}");
    let Some(pb) = play_in_browser(Player::DashJs, &startover, 8) else {
        return;
    };
    assert!(
        !pb.fatal && pb.advanced >= 5.0,
        "dash.js on the startover MPD: {}",
        pb.json
    );
    wait_child(&mut enc.0, Duration::from_secs(90));

    // A closed window of 12 s in the past: static, that long, decoded whole by ffmpeg and
    // played by dash.js.
    let (from, to) = (t0 / 1000 + 6, t0 / 1000 + 18);
    let closed = format!("{}?start={from}&end={to}", f.endpoint_url);
    let r = get(d.pull, &split_url(&closed).1);
    assert_eq!(r.status, 200, "{}", r.text());
    let xml = r.text();
    assert_eq!(
        xml_attr(&xml, "MPD", "type").as_deref(),
        Some("static"),
        "{xml}"
    );
    let dur =
        iso_duration_secs(&xml_attr(&xml, "MPD", "mediaPresentationDuration").unwrap()).unwrap();
    assert!((11.0..=16.5).contains(&dur), "{dur} s\n{xml}");
    assert!(r.header("cache-control").unwrap().contains("immutable"));
    let (frames, out) = ffmpeg_decode(&closed, 60, Duration::from_secs(60));
    assert!(
        frames as f64 >= (dur - 2.5) * 25.0,
        "{frames} frames of a {dur} s window: {}",
        text(&out.stderr)
    );
    let Some(pb) = play_in_browser(Player::DashJs, &closed, 8) else {
        return;
    };
    assert!(
        !pb.fatal && pb.advanced >= 5.0,
        "dash.js on the closed MPD: {}",
        pb.json
    );

    // Harvested: the static MPD and its segments, decoded by ffmpeg from the files and played
    // by dash.js from nginx.
    let vod = d.dir().join("vod");
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let h = d.ctl_json(&[
        "harvest",
        &f.id,
        "ep1",
        "--start",
        &from_s,
        "--end",
        &to_s,
        "--out",
        vod.to_str().unwrap(),
    ]);
    assert_eq!(h["manifest"], "main.mpd", "{h:#}");
    assert!(h["segments"].as_u64().unwrap() >= 3 * 5, "{h:#}");
    assert_eq!(h["init_segments"], 3, "{h:#}");
    let vod_mpd = vod.join("main.mpd");
    assert_eq!(std::fs::read_to_string(&vod_mpd).unwrap(), xml);
    let (frames, out) = ffmpeg_decode(vod_mpd.to_str().unwrap(), 60, Duration::from_secs(60));
    assert!(
        frames as f64 >= (dur - 2.5) * 25.0,
        "{frames} frames from the harvested MPD: {}",
        text(&out.stderr)
    );
    if !require_tool("nginx") {
        return;
    }
    let web = Nginx::static_files(d.dir(), &vod);
    let port = web.port;
    let url = format!("http://127.0.0.1:{port}/main.mpd");
    let Some(pb) = play_in_browser(Player::DashJs, &url, 8) else {
        return;
    };
    assert!(
        !pb.fatal && pb.advanced >= 5.0,
        "dash.js on the harvested MPD: {}",
        pb.json
    );
}

/// A `cmaf` endpoint of an HLS channel with a master playlist: its repackaged tracks are
/// archived too; a closed window is a static MPD and an fMP4 HLS master whose renditions end,
/// decoded by ffmpeg and played by hls.js.
#[test]
fn cmaf_closed_windows_as_dash_and_hls() {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let c = d.cmaf_channel(
        "cmaf-shifted",
        &[
            "--max-segment-duration",
            "3",
            "--max-playlist-duration",
            "10",
            "--timeshift-window",
            "600",
        ],
    );
    let t0 = unix_ms();
    let mut enc = Killed(ffmpeg_push_hls(
        HlsPush::Master,
        &c.f.primary_url,
        30,
        &d.dir().join("push.log"),
    ));
    wait_child(&mut enc.0, Duration::from_secs(90));
    let q = format!("start={}&end={}", t0 / 1000 + 6, t0 / 1000 + 18);

    let r = get(d.pull, &format!("{}?{q}", c.mpd_path));
    assert_eq!(r.status, 200, "{}", r.text());
    let xml = r.text();
    assert_eq!(
        xml_attr(&xml, "MPD", "type").as_deref(),
        Some("static"),
        "{xml}"
    );
    let checked = mpd_check(&format!("{}?{q}", c.mpd_url));
    assert!(
        checked.count("video") >= 1 && checked.count("audio") == 1,
        "{xml}"
    );
    for url in checked.segment_urls() {
        let r = get(d.pull, &split_url(&url).1);
        assert_eq!(r.status, 200, "{url}: {}", r.text());
    }
    let (frames, out) = ffmpeg_decode(&format!("{}?{q}", c.mpd_url), 60, Duration::from_secs(60));
    assert!(
        frames >= 230,
        "{frames} frames from the MPD: {}",
        text(&out.stderr)
    );

    let master = get(d.pull, &format!("{}?{q}", c.m3u8_path)).text();
    assert!(is_master(&master), "{master}");
    let video_uri = playlist_uris(&master)[0].clone();
    assert!(video_uri.ends_with(&format!("video.m3u8?{q}")), "{master}");
    let base = c.m3u8_path.trim_end_matches("main.m3u8");
    let video = get(d.pull, &format!("{base}{video_uri}")).text();
    assert!(video.ends_with("#EXT-X-ENDLIST\n"), "{video}");
    assert!(video.contains("#EXT-X-MAP:URI=\"video/init"), "{video}");
    assert!((5..=8).contains(&playlist_uris(&video).len()), "{video}");
    let url = format!("{}?{q}", c.m3u8_url);
    let (frames, out) = ffmpeg_decode(&url, 60, Duration::from_secs(60));
    assert!(
        frames >= 230,
        "{frames} frames from the fMP4 HLS: {}",
        text(&out.stderr)
    );
    let Some(pb) = play_in_browser(Player::HlsJs, &url, 8) else {
        return;
    };
    assert!(
        !pb.fatal && pb.advanced >= 5.0,
        "hls.js on the CMAF window: {}",
        pb.json
    );
}
