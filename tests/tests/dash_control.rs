//! DASH channels without an encoder: the control plane's endpoint-type rule through the real
//! CLI, the `/time` clock that MPDs name in `UTCTiming`, and what a DASH endpoint answers
//! before any input delivered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{SystemTime, UNIX_EPOCH};
use streampack_tests::*;

#[test]
fn dash_channels_take_dash_endpoints_and_refuse_hls() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.dash_channel("dash-a", &[]);
    let cid = f.id.as_str();
    let eid = f.endpoint["id"].as_str().unwrap();
    assert_eq!(f.endpoint["type"], "dash");
    assert_eq!(
        f.endpoint_url,
        format!("http://{}/v1/{cid}/{eid}/main.mpd", d.pull),
        "a dash endpoint's URL names its MPD"
    );
    let ep2 = d.ctl_json(&[
        "endpoint",
        "create",
        "dash-a",
        "--name",
        "tv",
        "--type",
        "dash",
        "--manifest-name",
        "live",
    ]);
    assert_eq!(ep2["type"], "dash");
    assert!(ep2["url"].as_str().unwrap().ends_with("/live.mpd"), "{ep2}");

    let e = d.ctl_refused(&[
        "endpoint", "create", "dash-a", "--name", "h", "--type", "hls",
    ]);
    assert!(
        e.contains("dash channel") && e.contains("hls") && e.contains("--type dash"),
        "hls endpoint on a dash channel is refused with a clear reason: {e}"
    );
    // cmaf endpoints serve a dash channel's fMP4 tracks as HLS and DASH.
    let c = d.ctl_json(&[
        "endpoint", "create", "dash-a", "--name", "c", "--type", "cmaf",
    ]);
    assert_eq!(c["type"], "cmaf");
    assert!(c["url"].as_str().unwrap().ends_with("/main.mpd"), "{c}");

    d.ctl_json(&["channel", "create", "--name", "hls-a", "--protocol", "hls"]);
    let e = d.ctl_refused(&[
        "endpoint", "create", "hls-a", "--name", "d", "--type", "dash",
    ]);
    assert!(
        e.contains("hls channel") && e.contains("dash"),
        "dash endpoint on an hls channel is refused with a clear reason: {e}"
    );

    // Before any input delivered, the endpoint says so and when to come back, readable by a
    // browser player on another origin.
    for method in ["GET", "HEAD"] {
        let r = http(d.pull, method, &f.endpoint_path, &[], None);
        assert_eq!(r.status, 503, "{method} {}: {r:?}", f.endpoint_path);
        assert_eq!(r.header("retry-after"), Some("2"), "{r:?}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{r:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{r:?}");
    }
    let live = d.ctl_json(&["channel", "show", "dash-a"])["live"].clone();
    assert_eq!(live["window_segments"], 0, "{live}");
    assert!(live["active_input"].is_null(), "{live}");

    // Nothing refused was stored.
    let ch = d.ctl_json(&["channel", "show", "dash-a"]);
    let types: Vec<&str> = ch["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["dash", "dash", "cmaf"]);
    let ch = d.ctl_json(&["channel", "show", "hls-a"]);
    assert!(ch["endpoints"].as_array().unwrap().is_empty(), "{ch}");
}

fn unix_ms_of_iso(s: &str) -> u64 {
    // 2026-11-24T01:02:03.456Z
    assert_eq!(s.len(), 24, "ISO 8601 with milliseconds: {s:?}");
    assert!(
        s.ends_with('Z') && &s[10..11] == "T" && &s[19..20] == ".",
        "{s:?}"
    );
    let n = |r: std::ops::Range<usize>| s[r].parse::<u64>().unwrap();
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    let (h, mi, se, ms) = (n(11..13), n(14..16), n(17..19), n(20..23));
    // Days from civil (H. Hinnant), independent of the daemon's formatter's direction.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + h * 3600 + mi * 60 + se) * 1000) + ms
}

#[test]
fn time_answers_iso_utc_uncached_with_cors() {
    let d = Daemon::start(DaemonOpts::default());
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let r = get(d.pull, "/time");
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let t = unix_ms_of_iso(r.text().trim());
    assert!(
        before <= t && t <= after,
        "/time said {} ({t}), the test's clock was {before}..{after}",
        r.text()
    );

    // HEAD: same head, no body; a query string (cache busting) is ignored.
    let h = http(d.pull, "HEAD", "/time", &[], None);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("24"));
    assert!(h.body.is_empty());
    let q = get(d.pull, "/time?_=123");
    assert_eq!(q.status, 200);
    unix_ms_of_iso(q.text().trim());
    // Other methods are refused like on endpoints.
    assert_eq!(http(d.pull, "POST", "/time", &[], Some(b"x")).status, 405);
}

/// ffmpeg's low-latency DASH push opens a segment's request when the segment starts and sends
/// its body in chunks as it encodes: the body may take a whole segment duration (and more),
/// longer than `limits.body_timeout_min_secs`. The origin waits `2 × max_segment_duration + 5`.
#[test]
fn a_segment_body_may_trickle_for_longer_than_the_minimum_body_timeout() {
    let d = Daemon::start(DaemonOpts {
        config_toml: Some("[limits]\nbody_timeout_min_secs = 1\n".into()),
        ..Default::default()
    });
    let f = d.dash_channel(
        "trickle",
        &[
            "--max-segment-duration",
            "2",
            "--max-playlist-duration",
            "6",
        ],
    );
    let path = f.ingest("chunk-stream0-00001.m4s");
    let mut c = Conn::connect(d.ingest);
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
    );
    c.send(head.as_bytes()).unwrap();
    let started = std::time::Instant::now();
    // 3 s of 0.5 s chunks: three times body_timeout_min_secs, within 2 × 2 + 5 s.
    for _ in 0..6 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        c.send(&chunked_piece(&[0u8; 1000])).unwrap();
    }
    c.send(b"0\r\n\r\n").unwrap();
    let r = c.read_response(false).unwrap();
    assert!(started.elapsed().as_secs_f64() >= 3.0);
    assert_eq!(r.status, 201, "trickled segment: {r:?} {}", r.text());
    // The connection stays usable for the next segment, as ffmpeg expects.
    c.send_request(
        "DELETE",
        &path,
        &[("Transfer-Encoding", "chunked")],
        Some(b"0\r\n\r\n"),
    )
    .unwrap();
    let del = c.read_response(false).unwrap();
    assert!((200..300).contains(&del.status), "{del:?}");
}

fn chunked_piece(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}
