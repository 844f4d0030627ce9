//! CMAF endpoints with real peers: ffmpeg pushes live HLS/TS (one rendition, and the
//! two-rendition master) to a channel that has an `hls` and a `cmaf` endpoint; the CMAF
//! endpoint serves the same segments repackaged into fMP4, as a DASH MPD (`main.mpd`) and as
//! fMP4 HLS (`main.m3u8`). ffprobe reads both; every init and media segment either names is
//! fetched and its boxes walked; numbering matches the HLS endpoint's. Needs ffmpeg and ffprobe
//! (skipped loudly without them, failed under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

fn small_window() -> [&'static str; 4] {
    [
        "--max-segment-duration",
        "4",
        "--max-playlist-duration",
        "12",
    ]
}

/// Media sequence numbers of the segments of every media playlist of a master (or playlist).
fn numbers(d: &Daemon, main_path: &str) -> BTreeSet<u64> {
    let main = get(d.pull, main_path);
    assert_eq!(main.status, 200, "{main_path}: {main:?}");
    let body = main.text();
    let lists: Vec<String> = if is_master(&body) {
        playlist_all_uris(&body)
            .iter()
            .map(|u| resolve(main_path, u))
            .collect()
    } else {
        vec![main_path.to_string()]
    };
    let mut out = BTreeSet::new();
    for l in lists {
        let pl = get(d.pull, &l).text();
        let first = media_sequence(&pl);
        out.extend(first..first + playlist_uris(&pl).len() as u64);
    }
    out
}

/// The fMP4 HLS side: master → media playlists → `EXT-X-MAP` inits and segments, every one
/// fetched. Returns the number of media playlists and of segments fetched.
fn check_fmp4_hls(d: &Daemon, c: &CmafFixture, problems: &mut Vec<String>) -> (usize, usize) {
    let master = get(d.pull, &c.m3u8_path);
    assert_eq!(master.status, 200, "{master:?}");
    assert_eq!(
        master.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let body = master.text();
    assert!(
        body.contains("#EXT-X-MEDIA:TYPE=AUDIO") && body.contains("AUDIO=\"audio\""),
        "the master groups the audio track:\n{body}"
    );
    let lists: Vec<String> = playlist_all_uris(&body)
        .iter()
        .map(|u| resolve(&c.m3u8_path, u))
        .collect();
    let mut segments = 0;
    for l in &lists {
        let r = get(d.pull, l);
        assert_eq!(r.status, 200, "{l}: {r:?}");
        let pl = r.text();
        assert!(
            pl.contains("#EXT-X-VERSION:6") && pl.contains("#EXT-X-MAP:URI="),
            "{l}:\n{pl}"
        );
        for u in playlist_all_uris(&pl) {
            let url = resolve(l, &u);
            let r = get(d.pull, &url);
            if r.status != 200 {
                problems.push(format!("{url} (from {l}) answered {}", r.status));
                continue;
            }
            let want_type = if l.ends_with("video.m3u8") {
                "video/mp4"
            } else {
                "audio/mp4"
            };
            if r.header("content-type") != Some(want_type) {
                problems.push(format!(
                    "{url}: content-type {:?}",
                    r.header("content-type")
                ));
            }
            match mp4_top_boxes(&r.body) {
                Ok(boxes) if u.contains("init") => {
                    if boxes != ["ftyp", "moov"] {
                        problems.push(format!("{url}: init boxes {boxes:?}"));
                    }
                }
                Ok(boxes) => {
                    segments += 1;
                    if boxes.first().map(String::as_str) != Some("styp")
                        || !boxes.contains(&"moof".to_string())
                        || !boxes.contains(&"mdat".to_string())
                    {
                        problems.push(format!("{url}: segment boxes {boxes:?}"));
                    }
                }
                Err(e) => problems.push(format!("{url}: {e}")),
            }
        }
    }
    (lists.len(), segments)
}

/// The DASH side: every Representation's init and media segments, fetched.
fn check_mpd(d: &Daemon, c: &CmafFixture, problems: &mut Vec<String>) -> Vec<MpdTrack> {
    check_mpd_as(d, c, problems, "type=\"dynamic\"")
}

/// [`check_mpd`] of an ended stream's MPD.
fn check_mpd_static(d: &Daemon, c: &CmafFixture, problems: &mut Vec<String>) -> Vec<MpdTrack> {
    check_mpd_as(d, c, problems, "type=\"static\"")
}

fn check_mpd_as(
    d: &Daemon,
    c: &CmafFixture,
    problems: &mut Vec<String>,
    kind: &str,
) -> Vec<MpdTrack> {
    let mpd = get(d.pull, &c.mpd_path);
    assert_eq!(mpd.status, 200, "{mpd:?}");
    assert_eq!(mpd.header("content-type"), Some("application/dash+xml"));
    let text = mpd.text();
    for want in [
        kind,
        "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"/time\"/>",
        "contentType=\"video\"",
        "contentType=\"audio\"",
    ] {
        assert!(text.contains(want), "MPD lacks {want}:\n{text}");
    }
    let tracks = mpd_tracks(&text, &c.mpd_path);
    for t in &tracks {
        for url in std::iter::once(&t.init).chain(&t.segments) {
            let r = get(d.pull, url);
            if r.status != 200 {
                problems.push(format!("{url} ({}) answered {}", t.id, r.status));
            }
        }
        // Contiguous timeline: each segment starts where the previous one ended.
        for w in t.times.windows(2) {
            if w[0].0 + w[0].1 != w[1].0 {
                problems.push(format!("{}: timeline gap {:?} → {:?}", t.id, w[0], w[1]));
            }
        }
    }
    tracks
}

/// Pushes `push_seconds` of `kind`; with `to_the_end`, on a channel that ends with its encoder
/// (`--end-on-endlist`), also checks what players see once the encoder ended its stream.
fn push_and_check(
    kind: HlsPush,
    name: &str,
    video_tracks: usize,
    push_seconds: u32,
    to_the_end: bool,
) {
    if !require_tool("ffmpeg") || !require_tool("ffprobe") {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let mut settings = small_window().to_vec();
    if to_the_end {
        settings.push("--end-on-endlist");
    }
    let c = d.cmaf_channel(name, &settings);
    let push_log = d.dir().join("ffmpeg-push.log");
    let mut push = Killed(ffmpeg_push_hls(
        kind,
        &c.f.primary_url,
        push_seconds,
        &push_log,
    ));
    let push_log_text = || text(&std::fs::read(&push_log).unwrap_or_default());
    let first = wait_for_200(d.pull, &c.mpd_path, Duration::from_secs(20));
    assert_eq!(
        first.status,
        200,
        "cmaf endpoint not served after ffmpeg started pushing: {first:?} {}\n{}",
        first.text(),
        push_log_text()
    );
    // Three segments per track before probing: a player joins a running stream.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tracks = mpd_tracks(&get(d.pull, &c.mpd_path).text(), &c.mpd_path);
        if tracks.len() == video_tracks + 1 && tracks.iter().all(|t| t.segments.len() >= 3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "MPD has not 3 segments per track: {tracks:#?}\n{}",
            push_log_text()
        );
        thread::sleep(Duration::from_millis(250));
    }

    let (mpd_url, m3u8_url) = (c.mpd_url.clone(), c.m3u8_url.clone());
    let probe_mpd = thread::spawn(move || ffprobe_codecs(&mpd_url));
    let probe_m3u8 = thread::spawn(move || ffprobe_codecs(&m3u8_url));

    let mut problems = Vec::new();
    let tracks = check_mpd(&d, &c, &mut problems);
    let (lists, segments) = check_fmp4_hls(&d, &c, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(
        tracks.len(),
        video_tracks + 1,
        "one video Representation per rendition plus one audio: {tracks:#?}"
    );
    assert_eq!(
        lists,
        video_tracks + 1,
        "media playlists of the fMP4 master"
    );
    assert!(segments >= 3 * lists, "{segments} segments fetched");

    // Same numbering as the HLS endpoint: what the CMAF endpoint lists, the HLS one lists too
    // (the HLS window may have moved on by a segment since).
    let hls = numbers(&d, &c.hls_path);
    let cmaf = numbers(&d, &c.m3u8_path);
    let shared = cmaf.intersection(&hls).count();
    assert!(
        shared + 2 >= cmaf.len() && !cmaf.is_empty(),
        "segment numbers differ: hls {hls:?} cmaf {cmaf:?}"
    );
    // DASH `$Number$` (and every fragment URL) is the low 31 bits of the same number.
    let low31: BTreeSet<u64> = hls.iter().map(|n| n % (1 << 31)).collect();
    let dash: BTreeSet<u64> = tracks
        .iter()
        .flat_map(|t| &t.segments)
        .filter_map(|u| u.rsplit('/').next()?.strip_suffix(".m4s")?.parse().ok())
        .collect();
    assert!(
        dash.intersection(&low31).count() + 2 >= dash.len() && !dash.is_empty(),
        "DASH $Number$ is not the HLS numbering: hls {hls:?} dash {dash:?}"
    );

    // The HLS endpoint's HTTP behaviour: Range on fragments, 304 on an unchanged MPD, CORS,
    // segment and manifest Cache-Control.
    let seg = &tracks[0].segments[0];
    let whole = get(d.pull, seg);
    let part = http(d.pull, "GET", seg, &[("Range", "bytes=0-7")], None);
    assert_eq!(part.status, 206, "{part:?}");
    assert_eq!(part.body, whole.body[..8]);
    assert_eq!(&part.body[4..8], b"styp");
    let mpd = get(d.pull, &c.mpd_path);
    let etag = mpd.header("etag").expect("MPD etag").to_string();
    let again = http(
        d.pull,
        "GET",
        &c.mpd_path,
        &[("If-None-Match", &etag)],
        None,
    );
    assert!(
        again.status == 304 || again.header("etag") != Some(etag.as_str()),
        "{again:?}"
    );
    assert_eq!(mpd.header("access-control-allow-origin"), Some("*"));
    assert_ne!(
        mpd.header("cache-control"),
        whole.header("cache-control"),
        "manifests and segments get their own TTLs"
    );
    let head = http(d.pull, "HEAD", &c.m3u8_path, &[], None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    // Repackaging is counted: every segment the HLS side published, once.
    let m = scrape(d.metrics);
    let ch = [("channel", c.f.id.as_str()), ("channel_name", name)];
    let repackaged = m.get("streampack_channel_cmaf_repackaged_segments_total", &ch);
    assert!(
        repackaged >= (3 * video_tracks) as f64,
        "repackaged segments: {repackaged}"
    );
    assert_eq!(
        m.get("streampack_channel_cmaf_repackage_failures_total", &ch),
        0.0
    );
    assert!(m.get("streampack_channel_cmaf_held_bytes", &ch) > 100_000.0);

    for (what, out) in [
        ("main.mpd", probe_mpd.join().unwrap()),
        ("main.m3u8", probe_m3u8.join().unwrap()),
    ] {
        let streams = text(&out.stdout);
        assert!(
            out.status.success() && streams.contains("h264") && streams.contains("aac"),
            "ffprobe of the cmaf endpoint's {what}: {}\n{streams}\n{}",
            out.status,
            text(&out.stderr)
        );
    }
    if !to_the_end {
        return;
    }
    // ffmpeg ends with EXT-X-ENDLIST: the MPD turns static, the fMP4 playlists end too, and
    // what they list is still served.
    wait_child(
        &mut push.0,
        Duration::from_secs(u64::from(push_seconds) + 30),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mpd = loop {
        let mpd = get(d.pull, &c.mpd_path).text();
        if mpd.contains("type=\"static\"") || Instant::now() > deadline {
            break mpd;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(
        mpd.contains("type=\"static\"") && mpd.contains("mediaPresentationDuration="),
        "the MPD after the encoder ended:\n{mpd}"
    );
    let mut problems = Vec::new();
    check_mpd_static(&d, &c, &mut problems);
    check_fmp4_hls(&d, &c, &mut problems);
    assert!(problems.is_empty(), "after the end: {problems:#?}");
    for track in ["video", "audio"] {
        let path = format!(
            "{}/main/{track}.m3u8",
            c.m3u8_path.trim_end_matches("/main.m3u8")
        );
        let pl = get(d.pull, &path).text();
        assert!(pl.ends_with("#EXT-X-ENDLIST\n"), "{path}:\n{pl}");
    }
}

#[test]
fn cmaf_endpoint_repackages_a_ts_push() {
    push_and_check(HlsPush::Ts, "cmafts", 1, 14, true);
}

#[test]
fn cmaf_endpoint_repackages_every_rendition_of_a_master() {
    push_and_check(HlsPush::Master, "cmafmaster", 2, 24, false);
}

#[test]
fn cmaf_endpoints_wait_for_media_and_low_latency_needs_a_dash_channel() {
    let d = Daemon::start(DaemonOpts::default());
    let c = d.cmaf_channel("cm", &[]);
    assert_eq!(c.f.endpoint["type"], "cmaf", "{}", c.f.endpoint);
    // TS repackaged into fMP4 has no chunks to make parts of: no low latency here.
    let why = d.ctl_refused(&["endpoint", "edit", "cm", "cmaf1", "--low-latency", "on"]);
    assert!(why.contains("cmaf endpoint of a hls channel"), "{why}");
    // On a dash channel a cmaf endpoint serves its fMP4 tracks as HLS and DASH.
    let dash = d.ctl_json(&["channel", "create", "--name", "dsh", "--protocol", "dash"]);
    let ep = d.ctl_json(&[
        "endpoint",
        "create",
        dash["id"].as_str().unwrap(),
        "--name",
        "c",
        "--type",
        "cmaf",
        "--low-latency",
    ]);
    assert_eq!(ep["low_latency"], true, "{ep}");
    for path in [&c.mpd_path, &c.m3u8_path] {
        let r = get(d.pull, path);
        assert_eq!(r.status, 503, "{path} before any media: {r:?}");
        assert_eq!(r.header("retry-after"), Some("2"), "{r:?}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
}

#[test]
fn cmaf_endpoint_refuses_fmp4_input_clearly() {
    if !require_tool("ffmpeg") {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let c = d.cmaf_channel("cmfmp4", &small_window());
    let push_log = d.dir().join("ffmpeg-push.log");
    let _push = Killed(ffmpeg_push_hls(
        HlsPush::Fmp4,
        &c.f.primary_url,
        10,
        &push_log,
    ));
    // The hls endpoint serves the fMP4 input; the cmaf endpoint says why it cannot.
    let hls = wait_for_200(d.pull, &c.hls_path, Duration::from_secs(20));
    assert_eq!(hls.status, 200, "{hls:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = get(d.pull, &c.mpd_path);
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(r.status, 501, "{r:?} {}", r.text());
    assert!(
        r.text().contains("MPEG-TS") && r.text().contains("fMP4"),
        "{}",
        r.text()
    );
}

#[test]
fn a_cmaf_endpoint_added_to_a_live_channel_serves_its_whole_window_at_once() {
    if !require_tool("ffmpeg") {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("cmaflate", &small_window());
    let push_log = d.dir().join("ffmpeg-push.log");
    let _push = Killed(ffmpeg_push_hls(HlsPush::Ts, &f.primary_url, 20, &push_log));
    // The channel is live with a few segments before the endpoint exists.
    let deadline = Instant::now() + Duration::from_secs(30);
    while playlist_uris(&get(d.pull, &f.endpoint_path).text()).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "{}",
            text(&std::fs::read(&push_log).unwrap_or_default())
        );
        thread::sleep(Duration::from_millis(250));
    }
    let ep = d.ctl_json(&[
        "endpoint", "create", &f.id, "--name", "late", "--type", "cmaf",
    ]);
    let mpd_path = split_url(ep["url"].as_str().unwrap()).1;
    let r = wait_for_200(d.pull, &mpd_path, Duration::from_secs(5));
    assert_eq!(r.status, 200, "{r:?}");
    let tracks = mpd_tracks(&r.text(), &mpd_path);
    assert_eq!(tracks.len(), 2, "{}", r.text());
    for t in &tracks {
        assert!(t.segments.len() >= 3, "the window at once: {t:?}");
        assert_eq!(get(d.pull, t.segments.last().unwrap()).status, 200);
    }
    // Deleting the endpoint frees the CMAF output with it.
    let out = d.ctl(&["endpoint", "delete", &f.id, "late"]);
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = scrape(d.metrics);
        if !m.text.contains("streampack_channel_cmaf_held_bytes{") {
            break;
        }
        assert!(Instant::now() < deadline, "still held:\n{}", m.text);
        thread::sleep(Duration::from_millis(200));
    }
}
