//! Real peers: ffmpeg pushes live DASH (two video representations + one audio, docs/testing.md's
//! recipe) to a DASH channel's primary input; the endpoint's MPD is checked the way players
//! read it: npm `mpd-parser` parses it and every segment it lists answers, ffprobe finds
//! h264 + aac, the live attributes players rely on are there, and the end of the push shows.
//! Needs ffmpeg, ffprobe and node with `tests/browser`'s packages (skipped loudly without
//! them, failed under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

const PUSH_SECONDS: u32 = 20;
/// `--max-playlist-duration` of the channels: the MPD's `timeShiftBufferDepth`.
const WINDOW_SECS: f64 = 12.0;
const MPD_TYPE: &str = "application/dash+xml";
/// The daemon's default `Cache-Control` of manifests and of segments.
const MANIFEST_CACHE: &str = "public, max-age=1";
const SEGMENT_CACHE: &str = "public, max-age=600";

fn needs_tools() -> bool {
    require_tool("ffmpeg")
        && require_tool("ffprobe")
        && require_tool("node")
        && require_browser_packages_with(browser_packages_installed(), in_ci())
}

/// What the poller saw while the encoder pushed.
#[derive(Default, Debug)]
struct Watch {
    problems: Vec<String>,
    polls_ok: u32,
    /// Every `availabilityStartTime` seen in a dynamic MPD.
    start_times: BTreeSet<String>,
    /// Segment URLs fetched with 200.
    segments_ok: BTreeSet<String>,
    /// Most media segments one MPD listed.
    max_listed: usize,
    /// Polls that saw the MPD `static`.
    static_seen: u32,
    /// An MPD with media but without every representation was seen (reported once).
    incomplete_seen: bool,
    /// One line per poll (time, type, segments per representation), for failure messages.
    log: Vec<String>,
}

fn check_segment(
    w: &mut Watch,
    d: &str,
    url: &str,
    want_type: &str,
    still_listed: &dyn Fn() -> bool,
) {
    let path = split_url(url).1;
    let r = get(d, &path);
    if r.status != 200 || r.body.is_empty() {
        // The window may have slid between the MPD fetch and this one.
        if still_listed() {
            w.problems.push(format!(
                "{path} is listed by the MPD but answered {} ({} bytes): {}",
                r.status,
                r.body.len(),
                r.text()
            ));
        }
        return;
    }
    let ct = r.header("content-type").unwrap_or_default();
    if ct != want_type {
        w.problems
            .push(format!("{path}: Content-Type {ct:?}, want {want_type}"));
    }
    if r.header("access-control-allow-origin") != Some("*") {
        w.problems
            .push(format!("{path}: no CORS header: {:?}", r.headers));
    }
    let cc = r.header("cache-control").unwrap_or_default();
    if cc != SEGMENT_CACHE {
        w.problems.push(format!(
            "{path}: Cache-Control {cc:?}, want {SEGMENT_CACHE:?}"
        ));
    }
    w.segments_ok.insert(url.to_string());
}

/// Polls the endpoint every ~1 s until `stop`: the MPD is served as DASH, parses with
/// mpd-parser, and every segment URL it lists answers 200 while listed.
fn watch(pull: String, f: Fixture, stop: Arc<AtomicBool>) -> Watch {
    let mut w = Watch::default();
    let started = Instant::now();
    let mut served = false;
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let r = get(&pull, &f.endpoint_path);
        if r.status != 200 {
            if served {
                w.problems
                    .push(format!("MPD answered {} after being served", r.status));
            }
        } else {
            served = true;
            let xml = r.text();
            let ct = r.header("content-type").unwrap_or_default();
            if ct != MPD_TYPE {
                w.problems.push(format!("MPD Content-Type {ct:?}"));
            }
            match xml_attr(&xml, "MPD", "type").as_deref() {
                Some("dynamic") => {
                    if let Some(ast) = xml_attr(&xml, "MPD", "availabilityStartTime") {
                        w.start_times.insert(ast);
                    } else {
                        w.problems
                            .push(format!("dynamic MPD without availabilityStartTime:\n{xml}"));
                    }
                }
                Some("static") => w.static_seen += 1,
                other => w.problems.push(format!("MPD type {other:?}:\n{xml}")),
            }
            match try_mpd_check(&f.endpoint_url) {
                Err(e) => w.problems.push(e),
                Ok(m) => {
                    w.polls_ok += 1;
                    let per_rep: Vec<String> = ["video", "audio"]
                        .iter()
                        .flat_map(|k| m.json[*k].as_array().cloned().unwrap_or_default())
                        .map(|p| {
                            let urls = p["urls"].as_array().cloned().unwrap_or_default();
                            let last = urls.last().and_then(|u| u.as_str()).unwrap_or("-");
                            format!(
                                "{}x…{}",
                                p["segments"],
                                last.rsplit('/').next().unwrap_or(last)
                            )
                        })
                        .collect();
                    // Once media is served, every representation the encoder pushes is in
                    // it: a player joining now would otherwise play without the missing one.
                    let most = ["video", "audio"]
                        .iter()
                        .flat_map(|k| m.json[*k].as_array().cloned().unwrap_or_default())
                        .filter_map(|p| p["segments"].as_u64())
                        .max()
                        .unwrap_or(0);
                    let incomplete = m.count("video") != 2 || m.count("audio") != 1;
                    if most >= 2 && incomplete && !w.incomplete_seen {
                        w.incomplete_seen = true;
                        w.problems.push(format!(
                            "MPD lists {most} segments for a representation but {} video and {} \
                             audio representations (want 2 and 1):\n{xml}",
                            m.count("video"),
                            m.count("audio")
                        ));
                    }
                    w.log.push(format!(
                        "{:>5.1}s {:?} {}",
                        started.elapsed().as_secs_f64(),
                        xml_attr(&xml, "MPD", "type").unwrap_or_default(),
                        per_rep.join(" ")
                    ));
                    let media = m
                        .segment_urls()
                        .iter()
                        .filter(|u| !u.contains("init"))
                        .count();
                    w.max_listed = w.max_listed.max(media);
                    let still_listed = |u: &str| {
                        try_mpd_check(&f.endpoint_url)
                            .map(|m| m.segment_urls().iter().any(|x| x == u))
                            .unwrap_or(false)
                    };
                    for (kind, want) in [("video", "video/mp4"), ("audio", "audio/mp4")] {
                        for u in m.urls_of(kind) {
                            check_segment(&mut w, &pull, &u, want, &|| still_listed(&u));
                        }
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

/// Starts a daemon and a dash channel (12 s window), pushes `kind` for 20 s, and checks what
/// players rely on while it is live. Returns the daemon, fixture and push log for more checks.
fn push_and_check(kind: DashPush, name: &str) -> Option<(Daemon, Fixture, std::path::PathBuf)> {
    if !needs_tools() {
        return None;
    }
    let d = Daemon::start(DaemonOpts::default());
    // A channel that ends with its encoder: what players see at the end is checked too (a
    // live channel staying live is tests/tests/encoder_restart.rs's).
    let f = d.dash_channel(
        name,
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "12",
            "--end-on-endlist",
        ],
    );
    // Before any input delivered: 503 with Retry-After, CORS on it so a player can read it.
    let early = get(d.pull, &f.endpoint_path);
    assert_eq!(early.status, 503, "MPD before any push: {early:?}");
    assert!(early.header("retry-after").is_some(), "{early:?}");
    assert_eq!(early.header("access-control-allow-origin"), Some("*"));

    let push_log = d.dir().join("ffmpeg-push.log");
    let mut push = ffmpeg_push_dash(kind, &f.primary_url, PUSH_SECONDS, &push_log);
    let started = Instant::now();
    let push_log_text = || text(&std::fs::read(&push_log).unwrap_or_default());

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (pull, f, stop) = (d.pull.to_string(), f.clone(), stop.clone());
        thread::spawn(move || watch(pull, f, stop))
    };
    let first = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(15));
    assert_eq!(
        first.status,
        200,
        "endpoint MPD not served {:?} after ffmpeg started pushing: {first:?} {}\n\
         --- ffmpeg push log ---\n{}\n--- daemon log ---\n{}",
        started.elapsed(),
        first.text(),
        push_log_text(),
        d.stderr_log()
    );
    // Let a few segments arrive, then probe while live.
    thread::sleep(Duration::from_secs(6));
    let probed = ffprobe_codecs(&f.endpoint_url);
    let live = get(d.pull, &f.endpoint_path);
    let live_xml = live.text();
    let checked = mpd_check(&f.endpoint_url);

    let push_status = wait_child(&mut push, Duration::from_secs(PUSH_SECONDS as u64 + 30));
    // The encoder's last MPD is static: the endpoint says so too.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ended = loop {
        let r = get(d.pull, &f.endpoint_path);
        if r.status == 200 && xml_attr(&r.text(), "MPD", "type").as_deref() == Some("static") {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "endpoint MPD not static 10 s after ffmpeg ended ({push_status}): {} {}\n\
             --- ffmpeg push log ---\n{}",
            r.status,
            r.text(),
            push_log_text()
        );
        thread::sleep(Duration::from_millis(250));
    };
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();

    // ffprobe: both video representations and the audio decode as h264 and aac.
    let streams = text(&probed.stdout);
    assert!(
        probed.status.success()
            && streams.matches("codec_name=h264").count() >= 2
            && streams.contains("codec_name=aac"),
        "ffprobe {}: status {}, streams:\n{streams}\nerrors:\n{}\nMPD:\n{live_xml}",
        f.endpoint_url,
        probed.status,
        text(&probed.stderr)
    );
    assert!(
        streams.contains("width=640") && streams.contains("width=320"),
        "{streams}"
    );

    // The live MPD, as a player reads it.
    assert_eq!(checked.count("video"), 2, "{}", checked.json);
    assert_eq!(checked.count("audio"), 1, "{}", checked.json);
    assert_eq!(live.header("content-type"), Some(MPD_TYPE));
    assert_eq!(live.header("access-control-allow-origin"), Some("*"));
    assert_eq!(live.header("cache-control"), Some(MANIFEST_CACHE));
    assert_eq!(
        xml_attr(&live_xml, "MPD", "type").as_deref(),
        Some("dynamic"),
        "{live_xml}"
    );
    let tsb =
        xml_attr(&live_xml, "MPD", "timeShiftBufferDepth").and_then(|v| iso_duration_secs(&v));
    assert_eq!(
        tsb,
        Some(WINDOW_SECS),
        "timeShiftBufferDepth = the window:\n{live_xml}"
    );
    let spd = xml_attr(&live_xml, "MPD", "suggestedPresentationDelay")
        .and_then(|v| iso_duration_secs(&v))
        .unwrap_or(0.0);
    assert!(
        spd >= 3.0 * f64::from(DASH_SEG_SECS),
        "suggestedPresentationDelay {spd} s < 3 segment durations:\n{live_xml}"
    );
    assert!(
        xml_attr(&live_xml, "MPD", "minimumUpdatePeriod").is_some(),
        "{live_xml}"
    );
    let utc = xml_attr(&live_xml, "UTCTiming", "value")
        .unwrap_or_else(|| panic!("no UTCTiming in the MPD:\n{live_xml}"));
    let time_path = resolve(&f.endpoint_path, &utc);
    let t = get(d.pull, &time_path);
    assert_eq!(t.status, 200, "UTCTiming {utc} -> {time_path}: {t:?}");
    assert!(t.text().trim().ends_with('Z'), "{}", t.text());
    assert!(
        !live_xml.contains(&f.primary_path),
        "the MPD points at the endpoint, not the input:\n{live_xml}"
    );

    // What the poller saw over the whole push.
    assert!(
        seen.problems.is_empty(),
        "while pushing: {:#?}",
        seen.problems
    );
    assert!(
        seen.polls_ok >= 8,
        "MPD parsed only {} times",
        seen.polls_ok
    );
    assert_eq!(
        seen.start_times.len(),
        1,
        "availabilityStartTime must be stable across updates: {:?}",
        seen.start_times
    );
    assert!(
        seen.max_listed >= 3 * 3,
        "the MPD never listed 3 segments per representation: {seen:?}"
    );
    assert!(
        seen.segments_ok.len() >= 3 * 8,
        "only {} distinct segment URLs answered 200; polls:\n{}",
        seen.segments_ok.len(),
        seen.log.join("\n")
    );
    // ffmpeg does not log refused PUTs or DELETEs: the origin's count of refused requests on
    // the input says whether every one was accepted.
    let log = push_log_text();
    let shown = d.ctl_json(&["channel", "show", &f.id]);
    assert_eq!(
        shown["live"]["inputs"][0]["ingest_errors"],
        0,
        "the origin refused some of ffmpeg's requests: {shown}\n--- daemon log ---\n{}",
        d.stderr_log()
    );
    assert!(push_status.success(), "ffmpeg push: {push_status}\n{log}");
    let ended_xml = ended.text();
    assert!(
        xml_attr(&ended_xml, "MPD", "mediaPresentationDuration").is_some(),
        "a static MPD has a duration:\n{ended_xml}"
    );
    mpd_check(&f.endpoint_url);
    Some((d, f, push_log))
}

#[test]
fn ffmpeg_dash_time_timeline_is_served_live_then_ended() {
    let Some((d, f, _log)) = push_and_check(DashPush::Timeline, "dash-time") else {
        return;
    };
    let before = get(d.pull, &f.endpoint_path);
    assert_eq!(before.status, 200);

    // Conditional requests and ranges work as for HLS.
    let etag = before.header("etag").expect("MPD ETag").to_string();
    let nm = http(
        d.pull,
        "GET",
        &f.endpoint_path,
        &[("If-None-Match", &etag)],
        None,
    );
    assert_eq!(nm.status, 304, "{nm:?}");
    let seg_url = mpd_check(&f.endpoint_url)
        .urls_of("video")
        .pop()
        .expect("a video segment");
    let seg_path = split_url(&seg_url).1;
    let part = http(d.pull, "GET", &seg_path, &[("Range", "bytes=0-99")], None);
    assert_eq!(part.status, 206, "{part:?}");
    assert_eq!(part.body.len(), 100);
    let whole = get(d.pull, &seg_path);
    assert_eq!(&whole.body[..100], &part.body[..]);

    // An unparseable MPD is refused with the reason and changes nothing.
    let bad = http(
        d.ingest,
        "PUT",
        &f.ingest("main.mpd"),
        &[("Transfer-Encoding", "chunked")],
        Some(&chunked(
            b"<MPD type=\"dynamic\"><Period><AdaptationSet",
            16,
        )),
    );
    assert_eq!(bad.status, 400, "garbage MPD: {bad:?}");
    assert!(!bad.text().trim().is_empty(), "400 says why: {bad:?}");
    let after = get(d.pull, &f.endpoint_path);
    assert_eq!(after.status, 200);
    assert_eq!(
        after.text(),
        before.text(),
        "the endpoint keeps the last good MPD"
    );
    mpd_check(&f.endpoint_url);

    // DELETE as ffmpeg sends it (chunked, empty body) is answered 2xx, known or not.
    for file in ["chunk-0-0.m4s", "no-such-segment.m4s"] {
        let del = http(
            d.ingest,
            "DELETE",
            &f.ingest(file),
            &[("Transfer-Encoding", "chunked")],
            Some(b"0\r\n\r\n"),
        );
        assert!((200..300).contains(&del.status), "DELETE {file}: {del:?}");
    }

    // The control plane sees the channel's media like an HLS one's.
    let shown = d.ctl_json(&["channel", "show", &f.id]);
    let live = &shown["live"];
    assert!(
        live["window_segments"].as_u64().unwrap_or(0) > 0
            && live["held_bytes"].as_u64().unwrap_or(0) > 0,
        "channel show after a DASH push: {shown}"
    );
    assert_eq!(live["ended"], true, "{shown}");
    let primary = &live["inputs"][0];
    assert!(primary["segments"].as_u64().unwrap_or(0) > 0, "{shown}");

    // So do the metrics: media held, segments received, MPD and segment requests answered.
    let m = scrape(d.metrics);
    let ch = ("channel_name", "dash-time");
    assert!(m.get("streampack_channel_window_segments", &[ch]) > 0.0);
    assert!(m.get("streampack_channel_held_media_bytes", &[ch]) > 0.0);
    assert!(
        m.get(
            "streampack_input_segments_received_total",
            &[ch, ("input", "primary")]
        ) > 0.0
    );
    for t in ["manifest", "segment"] {
        let n = m.get(
            "streampack_endpoint_requests_total",
            &[ch, ("type", t), ("status_class", "2xx")],
        );
        assert!(n > 0.0, "no 2xx {t} requests counted");
    }
}

#[test]
fn ffmpeg_dash_number_template_is_served_live() {
    push_and_check(DashPush::Number, "dash-number");
}
