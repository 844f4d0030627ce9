//! Observability: `/metrics` counts exactly what clients did, follows failover and channel
//! deletion, passes `promtool check metrics`, and a real Prometheus server scrapes it; the
//! CLI shows the live figures; the access log records every request.
//! ffmpeg, promtool and prometheus are needed by the end-to-end test (skipped loudly without
//! them, failed under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nix::sys::signal::Signal;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

fn playlist(range: std::ops::Range<u32>) -> String {
    let segs: Vec<(String, f64)> = range
        .clone()
        .map(|i| (format!("seg_{i:05}.ts"), 2.0))
        .collect();
    encoder_playlist(range.start as u64, &segs, false)
}

fn put(d: &Daemon, path: &str, body: &[u8]) -> Response {
    Conn::connect(d.ingest).put_chunked(path, body)
}

/// Pushes segments `range` and a playlist listing them to an input path prefix; returns the
/// segment bytes pushed.
fn push(d: &Daemon, input_path: &str, range: std::ops::Range<u32>) -> u64 {
    let mut c = Conn::connect(d.ingest);
    let mut bytes = 0;
    for i in range.clone() {
        let b = fake_ts(i, 20);
        let r = c.put_chunked(&format!("{input_path}/seg_{i:05}.ts"), &b);
        assert_eq!(r.status, 201, "segment PUT: {}", r.text());
        bytes += b.len() as u64;
    }
    let r = c.put_chunked(
        &format!("{input_path}/main.m3u8"),
        playlist(range).as_bytes(),
    );
    assert_eq!(r.status, 201, "playlist PUT: {}", r.text());
    bytes
}

/// Runs `promtool check metrics` on the text; panics with its findings when it complains.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics failed ({}):\n{}{}\n--- exposition ---\n{text}",
        out.status,
        text_of(&out.stdout),
        text_of(&out.stderr)
    );
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn counters_grow_by_what_the_test_did_and_deleted_channels_vanish() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("metrics-a", &[]);
    let ep = f.endpoint["id"].as_str().unwrap().to_string();
    let ch = [("channel", f.id.as_str()), ("channel_name", "metrics-a")];
    let primary = [ch[0], ch[1], ("input", "primary")];
    let epl = [ch[0], ("endpoint", ep.as_str()), ("endpoint_name", "ep1")];

    let s0 = scrape(d.metrics);
    assert_eq!(
        s0.get("streampack_input_segments_received_total", &primary),
        0.0
    );
    assert_eq!(s0.get("streampack_input_active", &primary), 0.0);
    assert_eq!(s0.get("streampack_channels", &[]), 1.0);
    assert_eq!(s0.get("streampack_build_info", &[]), 1.0);
    assert!(s0.get("process_resident_memory_bytes", &[]) > 0.0);
    assert_eq!(s0.get("streampack_endpoint_requests_total", &epl), 0.0);

    // Three segments and a playlist by hand, one refused object (415), one unknown channel (404).
    let bytes = push(&d, &f.primary_path, 0..3);
    let r = put(&d, &f.ingest("notes.txt"), b"hello");
    assert_eq!(r.status, 415);
    let r = put(
        &d,
        "/v1/0123456789abcdef0123456789ab/0123456789abcdef0123456789ab/x.ts",
        b"x",
    );
    assert_eq!(r.status, 404);
    // A limit hit: refused from the head (413), counted on the input and logged once.
    let big = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
        f.ingest("big.ts")
    );
    let r = raw(d.ingest, big.as_bytes());
    assert!(text_of(&r).starts_with("HTTP/1.1 413"), "{}", text_of(&r));
    let main = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(5));
    assert_eq!(main.status, 200, "{main:?}");
    let seg = resolve(
        &f.endpoint_path,
        playlist_uris(&main.text()).last().unwrap(),
    );

    let s1 = scrape(d.metrics);
    assert_eq!(
        s1.get("streampack_input_segments_received_total", &primary),
        3.0
    );
    assert_eq!(
        s1.get("streampack_input_received_bytes_total", &primary),
        bytes as f64
    );
    assert_eq!(s1.get("streampack_input_active", &primary), 1.0);
    assert_eq!(s1.get("streampack_input_delivering", &primary), 1.0);
    let age = s1.get("streampack_input_last_segment_age_seconds", &primary);
    assert!((0.0..10.0).contains(&age), "age {age}");
    let e415 = [primary[0], primary[2], ("status", "415")];
    assert_eq!(s1.get("streampack_input_ingest_errors_total", &e415), 1.0);
    let e413 = [primary[0], primary[2], ("status", "413")];
    assert_eq!(s1.get("streampack_input_ingest_errors_total", &e413), 1.0);
    let log = d.stderr_log();
    let lines = log
        .lines()
        .filter(|l| l.contains("413") && l.contains("limit"))
        .count();
    assert_eq!(lines, 1, "one log line for one refusal: {log}");
    let unrouted = [("listener", "ingest"), ("status_class", "4xx")];
    assert_eq!(s1.get("streampack_unrouted_requests_total", &unrouted), 1.0);
    assert!(s1.get("streampack_held_media_bytes", &[]) >= bytes as f64);

    // Requests: 4 manifests, 5 segments, 2 missing segments (404), on one keep-alive connection.
    let manifest_ok = [
        epl[0],
        epl[1],
        ("type", "manifest"),
        ("status_class", "2xx"),
    ];
    let before = s1.get("streampack_endpoint_requests_total", &manifest_ok);
    let mut c = Conn::connect(d.pull);
    let mut body_bytes = 0u64;
    for _ in 0..4 {
        let r = c.request("GET", &f.endpoint_path, &[], None);
        assert_eq!(r.status, 200);
        body_bytes += r.body.len() as u64;
    }
    for _ in 0..5 {
        let r = c.request("GET", &seg, &[], None);
        assert_eq!(r.status, 200);
        body_bytes += r.body.len() as u64;
    }
    let missing = resolve(&f.endpoint_path, "0/1.ts");
    for _ in 0..2 {
        assert_eq!(c.request("GET", &missing, &[], None).status, 404);
    }
    let s2 = scrape(d.metrics);
    let req = |t: &str, class: &str| {
        let l = [epl[0], epl[1], epl[2], ("type", t), ("status_class", class)];
        s2.get("streampack_endpoint_requests_total", &l)
    };
    // wait_for_200's answer was counted before `before` was read.
    assert!(before >= 1.0);
    assert_eq!(req("manifest", "2xx") - before, 4.0, "{}", s2.text);
    assert_eq!(req("segment", "2xx"), 5.0);
    assert_eq!(req("segment", "4xx"), 2.0);
    let seg_count = [epl[0], epl[1], ("type", "segment")];
    assert_eq!(
        s2.get(
            "streampack_endpoint_request_duration_seconds_count",
            &seg_count
        ),
        7.0
    );
    let inf = [epl[0], epl[1], ("type", "segment"), ("le", "+Inf")];
    assert_eq!(
        s2.get("streampack_endpoint_request_duration_seconds_bucket", &inf),
        7.0
    );
    let out = s2.get("streampack_endpoint_response_bytes_total", &epl)
        - s1.get("streampack_endpoint_response_bytes_total", &epl);
    assert!(
        out > body_bytes as f64,
        "bytes out {out} include heads and the {body_bytes} body bytes"
    );

    // The CLI's live figures agree; rates appear once the sampler has two readings.
    thread::sleep(Duration::from_millis(2500));
    let show = d.ctl_json(&["channel", "show", &f.id]);
    let live = &show["live"];
    assert_eq!(live["active_input"], "primary");
    assert_eq!(live["inputs"][0]["segments"], 3);
    assert_eq!(live["inputs"][0]["ingest_errors"], 2);
    // Both refusals are remembered, newest first, with what the encoder was told.
    let recent = live["inputs"][0]["recent_errors"].as_array().unwrap();
    let statuses: Vec<_> = recent.iter().map(|e| e["status"].as_u64()).collect();
    assert_eq!(statuses, [Some(413), Some(415)], "{recent:?}");
    assert!(
        recent
            .iter()
            .all(|e| e["reason"].as_str().is_some_and(|r| !r.is_empty())
                && e["at_unix_ms"]
                    .as_u64()
                    .is_some_and(|t| t > 1_700_000_000_000)
                && e["path"]
                    .as_str()
                    .is_some_and(|p| !p.is_empty() && !p.starts_with('/'))),
        "{recent:?}"
    );
    assert!(live["inputs"][1]["recent_errors"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(live["inputs"][0]["delivering"], true);
    assert_eq!(live["endpoints"][0]["name"], "ep1");
    let total = s2.get("streampack_endpoint_requests_total", &epl);
    assert_eq!(live["endpoints"][0]["requests"].as_f64(), Some(total));
    assert!(
        live["endpoints"][0]["requests_per_sec"].as_f64().is_some(),
        "{live}"
    );
    let human = text_of(&d.ctl(&["channel", "show", &f.id]).stdout);
    assert!(
        human.contains("BITRATE") && human.contains("ENDPOINT"),
        "{human}"
    );
    let st = d.ctl_json(&["status"]);
    assert_eq!(
        st["metrics_url"].as_str(),
        Some(format!("http://{}/metrics", d.metrics).as_str())
    );
    assert!(st["connections_accepted"].as_u64().unwrap() >= 5, "{st}");
    assert!(st["rss_bytes"].as_u64().unwrap() > 0);
    let log = d.stderr_log();
    assert!(
        log.contains("input started delivering") && log.contains(&f.id),
        "no input start line:\n{log}"
    );

    if require_tool("promtool") {
        promtool_check(&s2.text);
    }

    // A deleted channel's series disappear.
    d.ctl_json(&["endpoint", "delete", &f.id, "ep1"]);
    let s3 = scrape(d.metrics);
    assert!(!s3.mentions("endpoint", &ep), "{}", s3.text);
    assert!(s3.mentions("channel", &f.id));
    d.ctl_json(&["channel", "delete", &f.id]);
    let s4 = scrape(d.metrics);
    assert!(!s4.mentions("channel", &f.id), "{}", s4.text);
    assert_eq!(s4.get("streampack_channels", &[]), 0.0);
}

#[test]
fn active_input_gauge_flips_on_failover() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        "metrics-fo",
        &[
            "--max-segment-duration",
            "2",
            "--max-playlist-duration",
            "6",
        ],
    );
    let backup = split_url(&f.backup_url).1;
    push(&d, &f.primary_path, 0..2);
    push(&d, &backup, 0..2);
    let ch = [("channel", f.id.as_str())];
    let s = scrape(d.metrics);
    assert_eq!(
        s.get("streampack_input_active", &[ch[0], ("input", "primary")]),
        1.0
    );
    assert_eq!(
        s.get("streampack_input_active", &[ch[0], ("input", "backup")]),
        0.0
    );
    assert_eq!(s.get("streampack_channel_failovers_total", &ch), 0.0);

    // The primary goes silent; the backup keeps delivering a segment a second.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 2;
    let s = loop {
        thread::sleep(Duration::from_secs(1));
        push(&d, &backup, i - 1..i + 1);
        i += 1;
        let s = scrape(d.metrics);
        if s.get("streampack_input_active", &[ch[0], ("input", "backup")]) == 1.0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no failover in 20 s:\n{}",
            s.text
        );
    };
    assert_eq!(
        s.get("streampack_input_active", &[ch[0], ("input", "primary")]),
        0.0
    );
    assert_eq!(s.get("streampack_channel_failovers_total", &ch), 1.0);
    assert_eq!(
        s.get(
            "streampack_input_delivering",
            &[ch[0], ("input", "primary")]
        ),
        0.0
    );
    thread::sleep(Duration::from_millis(1500));
    let log = d.stderr_log();
    assert!(
        log.lines().any(|l| l.contains("input switch")
            && l.contains("from=\"primary\"")
            && l.contains("input=\"backup\"")),
        "{log}"
    );
}

#[test]
fn metrics_listener_can_be_off_and_unknown_paths_404() {
    let d = Daemon::start(DaemonOpts::default());
    assert_eq!(get(d.metrics, "/nope").status, 404);
    assert_eq!(http(d.metrics, "HEAD", "/metrics", &[], None).status, 200);
    drop(d);
    let d = Daemon::start(DaemonOpts::args(&["--metrics-listen", "off"]));
    let st = d.ctl_json(&["status"]);
    assert_eq!(st["metrics_url"], Value::Null);
    assert!(std::net::TcpStream::connect(d.metrics).is_err());
}

fn access_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn ffmpeg_push_and_pull_are_counted_and_prometheus_scrapes() {
    if !require_tool("ffmpeg") || !require_tool("promtool") || !require_tool("prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access.log");
    let d = Daemon::start(DaemonOpts::args(&[
        "--access-log",
        access.to_str().unwrap(),
    ]));
    let f = d.hls_channel(
        "metrics-ff",
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "12",
        ],
    );
    let ep = f.endpoint["id"].as_str().unwrap().to_string();

    // A real Prometheus server, scraping every second.
    let prom_port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: streampack\n    static_configs:\n      - targets: ['{}']\n",
            d.metrics
        ),
    )
    .unwrap();
    let prom_log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(prom_log)
            .spawn()
            .expect("spawn prometheus"),
    );

    let mut enc = ffmpeg_push_hls(
        HlsPush::Ts,
        &f.primary_url,
        10,
        &dir.path().join("ffmpeg.log"),
    );
    let main = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(30));
    assert_eq!(main.status, 200, "endpoint never served: {main:?}");
    let player = run_with_timeout(
        Command::new("ffmpeg").args([
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            &f.endpoint_url,
            "-t",
            "4",
            "-f",
            "null",
            "-",
        ]),
        Duration::from_secs(60),
    );
    assert!(
        player.status.success(),
        "player: {}",
        text_of(&player.stderr)
    );
    wait_child(&mut enc, Duration::from_secs(60));
    // Let the access log's per-shard buffers reach the file (flushed every 500 ms).
    thread::sleep(Duration::from_millis(1500));

    let s = scrape(d.metrics);
    let lines = access_lines(&access);
    let seg_puts = lines
        .iter()
        .filter(|l| l.contains(&format!("\"PUT {}/seg_", f.primary_path)) && l.contains("\" 201 "))
        .count();
    let pulls = lines
        .iter()
        .filter(|l| l.contains(&format!("\"GET /v1/{}/{ep}/", f.id)))
        .count();
    assert!(
        seg_puts >= 3,
        "ffmpeg pushed {seg_puts} segments:\n{}",
        lines.join("\n")
    );
    assert!(pulls >= 3, "the player made {pulls} requests");
    let primary = [("channel", f.id.as_str()), ("input", "primary")];
    assert_eq!(
        s.get("streampack_input_segments_received_total", &primary),
        seg_puts as f64,
        "segments counted vs segment PUTs in the access log"
    );
    assert_eq!(
        s.get(
            "streampack_endpoint_requests_total",
            &[("endpoint", ep.as_str())]
        ),
        pulls as f64,
        "requests counted vs GETs in the access log"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.ends_with(|c: char| c.is_ascii_digit())),
        "{lines:?}"
    );
    promtool_check(&s.text);

    // Prometheus reports the target up, and has our series.
    let deadline = Instant::now() + Duration::from_secs(30);
    let q = "/api/v1/query?query=up%7Bjob%3D%22streampack%22%7D";
    loop {
        let r = get(format!("127.0.0.1:{prom_port}"), q);
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if v["data"]["result"][0]["value"][1] == "1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw the target up: {v}\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(500));
    }
    let q = format!(
        "/api/v1/query?query=streampack_input_segments_received_total%7Bchannel%3D%22{}%22%2Cinput%3D%22primary%22%7D",
        f.id
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(format!("127.0.0.1:{prom_port}"), &q);
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if v["data"]["result"][0]["value"][1] == seg_puts.to_string().as_str() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus has no matching series: {v}"
        );
        thread::sleep(Duration::from_millis(500));
    }
    drop(prom);
}

#[test]
fn json_logs_carry_ids_and_there_is_no_line_per_request() {
    let d = Daemon::start(DaemonOpts::args(&["--log-format", "json"]));
    let f = d.hls_channel("metrics-log", &[]);
    push(&d, &f.primary_path, 0..2);
    let main = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(5));
    assert_eq!(main.status, 200);
    for _ in 0..20 {
        assert_eq!(get(d.pull, &f.endpoint_path).status, 200);
    }
    // The sampler notices the input within a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    let started = loop {
        let lines: Vec<Value> = d
            .stderr_log()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let hit = lines.iter().find(|v| {
            v["fields"]["message"] == "input started delivering"
                && v["fields"]["channel"] == f.id.as_str()
        });
        if let Some(v) = hit {
            break v.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no input start line in {lines:?}"
        );
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(started["fields"]["input"], "primary");
    assert_eq!(started["fields"]["input_id"], f.channel["inputs"][0]["id"]);
    assert_eq!(started["level"], "INFO");
    let log = d.stderr_log();
    assert!(
        log.contains("\"channel created\"") && log.contains("\"endpoint created\""),
        "{log}"
    );
    assert!(
        !log.contains(&f.endpoint_path) && !log.contains("main.m3u8"),
        "a request was logged without the access log:\n{log}"
    );
}

#[test]
fn connection_limit_hits_are_counted_and_logged() {
    let d = Daemon::start(DaemonOpts {
        config_toml: Some("cores = 1\n[limits]\nmax_connections = 1\n".into()),
        ..DaemonOpts::default()
    });
    // Holds the only slot (keep-alive, idle).
    let mut first = Conn::connect(d.pull);
    assert_eq!(first.request("GET", "/healthz", &[], None).status, 200);
    let (bytes, closed) = Conn::connect(d.pull).read_to_close(Duration::from_secs(5));
    assert!(
        closed && bytes.is_empty(),
        "the second connection is closed at once"
    );
    let s = scrape(d.metrics);
    let l = [("listener", "pull"), ("limit", "max_connections")];
    assert!(
        s.get("streampack_connections_refused_total", &l) >= 1.0,
        "{}",
        s.text
    );
    assert_eq!(s.get("streampack_connections_open", &[]), 1.0);
    assert!(
        d.stderr_log()
            .contains("limit hit: max_connections reached"),
        "{}",
        d.stderr_log()
    );
    assert_eq!(d.ctl_json(&["status"])["connections_refused"], 1);
}

#[test]
fn access_log_is_complete_after_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access.log");
    let mut d = Daemon::start(DaemonOpts::args(&[
        "--access-log",
        access.to_str().unwrap(),
    ]));
    let mut c = Conn::connect(d.pull);
    for _ in 0..25 {
        c.request("GET", "/healthz", &[("User-Agent", "probe \"q\"")], None);
    }
    let nope = get(d.pull, "/nope").status;
    assert!(nope >= 400, "{nope}");
    drop(c);
    let t0 = Instant::now();
    d.stop_term();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t0.elapsed()
    );
    // Shards hand their buffers over independently: order is only kept within a shard.
    let lines = access_lines(&access);
    assert_eq!(lines.len(), 26, "{lines:?}");
    let health = lines
        .iter()
        .filter(|l| {
            l.contains("\"GET /healthz HTTP/1.1\" 200 ") && l.contains("\"probe \\x22q\\x22\"")
        })
        .count();
    assert_eq!(health, 25, "{lines:?}");
    let want = format!("\"GET /nope HTTP/1.1\" {nope} ");
    assert!(lines.iter().any(|l| l.contains(&want)), "{lines:?}");
}

#[test]
fn sighup_reopens_the_access_log_after_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    let mut d = Daemon::start(DaemonOpts::args(&[
        "--access-log",
        access.to_str().unwrap(),
    ]));
    assert_eq!(get(d.pull, "/healthz").status, 200);
    // Lines are handed to the writer within FLUSH_EVERY (500 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    while access_lines(&access).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(access_lines(&access).len(), 1);
    std::fs::rename(&access, &rotated).unwrap();
    d.signal(Signal::SIGHUP);
    // The reopen is queued behind whatever the writer holds; wait until the new file exists.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !access.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        access.exists(),
        "SIGHUP did not reopen {}",
        access.display()
    );
    assert_eq!(get(d.pull, "/nope-after-rotation").status, 404);
    d.stop_term();
    let old = access_lines(&rotated);
    let new = access_lines(&access);
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].contains("/nope-after-rotation"), "{new:?}");
    assert!(
        d.stderr_log().contains("access log reopened"),
        "{}",
        d.stderr_log()
    );
}
