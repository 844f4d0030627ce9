//! TLS and HTTP/2 with real peers: ffmpeg pushes over HTTPS with credentials; ffmpeg, curl,
//! h2load and hls.js (in chromium) pull over HTTPS with HTTP/1.1 and HTTP/2 (ALPN) and over
//! h2c; the same bytes whichever way; the certificate reloaded on SIGHUP under load with no
//! failed request; start-up refusals that name the file; the certificate's expiry in the log
//! and `/metrics`; hostile TLS clients (garbage, plain HTTP, half handshakes) and hostile
//! HTTP/2 clients (`tests/python/h2_barrage.py`: rapid reset, stream/CONTINUATION/SETTINGS/PING
//! floods, malformed frames) with the daemon alive and another channel served throughout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// A daemon with TLS listeners and a certificate valid `days`; returns it, its TLS pull and
/// ingest ports and the certificate files.
fn tls_daemon(days: u32, extra_toml: &str) -> (Daemon, u16, u16, CertFiles) {
    let certs = tempfile::tempdir().unwrap().keep();
    let files = make_cert(&certs, "origin", days, true);
    let (pull, ingest) = (free_port(), free_port());
    let opts = DaemonOpts {
        args: tls_args(&files, pull, ingest),
        config_toml: (!extra_toml.is_empty()).then(|| extra_toml.to_string()),
        ..DaemonOpts::default()
    };
    (Daemon::start(opts), pull, ingest, files)
}

fn peers() -> bool {
    require_tool("openssl") && require_tool("curl")
}

fn creds(ch: &Value) -> (String, String) {
    let a = &ch["inputs"][0]["auth"];
    (
        a["username"].as_str().unwrap().to_string(),
        a["password"].as_str().unwrap().to_string(),
    )
}

/// Parses h2load's summary: (succeeded, failed + errored + timeout, 2xx).
fn h2load_counts(out: &str) -> (u64, u64, u64) {
    let num = |line: &str, word: &str| -> u64 {
        line.split(',')
            .find(|p| p.trim().ends_with(word))
            .and_then(|p| p.split_whitespace().find_map(|w| w.parse().ok()))
            .unwrap_or(0)
    };
    let req = out
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no summary in h2load output:\n{out}"));
    let codes = out
        .lines()
        .find(|l| l.starts_with("status codes:"))
        .unwrap_or("");
    let twoxx = codes
        .trim_start_matches("status codes:")
        .split(',')
        .find(|p| p.trim().ends_with("2xx"))
        .and_then(|p| p.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (
        num(req, "succeeded"),
        num(req, "failed") + num(req, "errored") + num(req, "timeout"),
        twoxx,
    )
}

fn h2load(args: &[&str], url: &str) -> String {
    let out = run_with_timeout(
        Command::new("h2load").args(args).arg(url),
        Duration::from_secs(120),
    );
    let text = text(&out.stdout);
    assert!(
        out.status.success(),
        "h2load {args:?}: {text}\n{}",
        text_err(&out)
    );
    text
}

fn text_err(out: &std::process::Output) -> String {
    text(&out.stderr)
}

/// ffmpeg pushes over HTTPS with credentials; the same playlist and segment bytes come out
/// over plain HTTP/1.1, HTTPS HTTP/1.1, HTTPS HTTP/2 and h2c; ffmpeg decodes over HTTPS;
/// hls.js plays over HTTP/2; h2load over TLS (h2 and http/1.1) has no failed request.
#[test]
fn https_push_and_pull_over_http1_and_http2() {
    if !(peers() && require_tool("ffmpeg") && require_tool("h2load") && require_browser()) {
        return;
    }
    let (d, tls_pull, tls_ingest, _files) = tls_daemon(30, "");
    let f = d.hls_channel("secure", &[]);
    let ch = d.ctl_json(&["input", "auth", "enable", "secure", "1"]);
    let (user, pass) = creds(&ch);
    let https_input = format!(
        "https://{user}:{pass}@127.0.0.1:{tls_ingest}{}",
        f.primary_path
    );
    let log = d.dir().join("ffmpeg-https.log");
    let mut push = Killed(ffmpeg_push_hls(HlsPush::Ts, &https_input, 40, &log));
    let path = &f.endpoint_path;
    let deadline = Instant::now() + Duration::from_secs(30);
    let playlist = loop {
        let r = get(d.pull, path);
        if r.status == 200 && playlist_uris(&r.text()).len() >= 3 {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no playlist from an HTTPS push: {}\nffmpeg: {}",
            r.text(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(300));
    };
    // Wrong credentials over TLS are refused like over plain HTTP.
    let wrong = curl(
        &format!(
            "https://{user}:nope@127.0.0.1:{tls_ingest}{}",
            f.ingest("x.ts")
        ),
        &["-X", "PUT", "--data-binary", "x"],
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");

    let https = format!("https://127.0.0.1:{tls_pull}");
    let plain = format!("http://{}", d.pull);
    let seg = resolve(path, &playlist_uris(&playlist.text())[0]);
    for (object, is_playlist) in [(path.as_str(), true), (seg.as_str(), false)] {
        let reference = get(d.pull, object);
        assert_eq!(reference.status, 200);
        for (base, flags, version) in [
            (&https, vec!["--http1.1"], "1.1"),
            (&https, vec!["--http2"], "2"),
            (&plain, vec!["--http2-prior-knowledge"], "2"),
            (&plain, vec!["--http1.1"], "1.1"),
        ] {
            let got = curl(&format!("{base}{object}"), &flags);
            assert_eq!(got.status, 200, "{base}{object} {flags:?}: {got:?}");
            assert_eq!(got.version, version, "{base}{object} {flags:?}");
            if is_playlist {
                // The playlist may have moved on between the two requests: same head lines.
                let a = text(&got.body);
                assert!(a.starts_with("#EXTM3U"), "{a}");
            } else {
                assert_eq!(
                    got.body, reference.body,
                    "{base}{object} {flags:?}: segment bytes"
                );
            }
        }
    }
    // HEAD and a conditional GET over HTTP/2.
    let head = curl(&format!("{https}{seg}"), &["--http2", "-I"]);
    assert_eq!((head.status, head.version.as_str()), (200, "2"), "{head:?}");
    let etag = get(d.pull, &seg).header("etag").unwrap().to_string();
    let cond = curl(
        &format!("{https}{seg}"),
        &["--http2", "-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!(cond.status, 304, "{cond:?}");
    let ranged = curl(&format!("{https}{seg}"), &["--http2", "-r", "0-99"]);
    assert_eq!((ranged.status, ranged.body.len()), (206, 100), "{ranged:?}");

    // ffmpeg decodes over HTTPS.
    let (frames, out) = ffmpeg_decode(&format!("{https}{path}"), 4, Duration::from_secs(60));
    assert!(
        frames >= 50,
        "ffmpeg over HTTPS decoded {frames} frames: {}",
        text_err(&out)
    );

    // h2load over TLS: HTTP/2 (multiplexed) and HTTP/1.1, playlist and segment.
    for (args, object) in [
        (vec!["-n", "3000", "-c", "8", "-m", "16"], path.as_str()),
        (vec!["-n", "600", "-c", "4", "-m", "8"], seg.as_str()),
        (vec!["--h1", "-n", "2000", "-c", "8"], path.as_str()),
    ] {
        let out = h2load(&args, &format!("{https}{object}"));
        let (ok, failed, twoxx) = h2load_counts(&out);
        let n: u64 = args[args.iter().position(|a| *a == "-n").unwrap() + 1]
            .parse()
            .unwrap();
        assert_eq!((ok, failed, twoxx), (n, 0, n), "h2load {args:?}: {out}");
        if !args.contains(&"--h1") {
            assert!(out.contains("Application protocol: h2"), "{out}");
        }
    }

    // hls.js in chromium over HTTPS: HTTP/2 by ALPN.
    let pb = play_in_browser(Player::HlsJs, &format!("{https}{path}"), 12).expect("chromium ran");
    assert!(
        !pb.fatal && pb.advanced > 6.0,
        "hls.js over HTTPS: {}",
        pb.json
    );
    assert_eq!(pb.protocols, vec!["h2".to_string()], "{}", pb.json);

    let m = scrape(d.metrics);
    assert!(
        m.get(
            "streampack_tls_handshakes_total",
            &[("listener", "pull"), ("result", "ok")]
        ) > 10.0
    );
    assert!(
        m.get(
            "streampack_tls_handshakes_total",
            &[("listener", "ingest"), ("result", "ok")]
        ) >= 1.0
    );
    assert!(m.get("streampack_http2_streams_total", &[]) > 3000.0);
    push.kill();
}

/// SIGHUP with a broken file keeps the certificate in use; SIGHUP with a new certificate
/// switches new handshakes to it; open connections (h2load, HTTP/2 and HTTP/1.1) and fresh
/// ones (curl in a loop) see no failed request throughout.
#[test]
fn certificate_reload_under_load() {
    if !(peers() && require_tool("h2load")) {
        return;
    }
    let (mut d, tls_pull, _, files) = tls_daemon(20, "");
    let f = d.hls_channel("reload", &[]);
    let mut conn = Conn::connect(d.ingest);
    for i in 0..3 {
        let r = conn.request(
            "PUT",
            &f.ingest(&format!("s{i}.ts")),
            &[],
            Some(&fake_ts(i, 50)),
        );
        assert_eq!(r.status, 201);
    }
    let pl = encoder_playlist(
        0,
        &[
            ("s0.ts".into(), 2.0),
            ("s1.ts".into(), 2.0),
            ("s2.ts".into(), 2.0),
        ],
        false,
    );
    let r = conn.request("PUT", &f.ingest("index.m3u8"), &[], Some(pl.as_bytes()));
    assert!(r.status < 300, "{}", r.text());
    let url = format!("https://127.0.0.1:{tls_pull}{}", f.endpoint_path);
    assert_eq!(curl(&url, &["--http2"]).status, 200);
    let expiry = |d: &Daemon| {
        scrape(d.metrics).get("streampack_tls_certificate_expiry_seconds", &[]) / 86_400.0
    };
    assert!((19.0..=20.0).contains(&expiry(&d)), "{}", expiry(&d));

    let stop = Arc::new(AtomicBool::new(false));
    let fresh_fail = Arc::new(AtomicU64::new(0));
    let fresh_ok = Arc::new(AtomicU64::new(0));
    let fresh = {
        let (stop, fail, ok, url) = (
            stop.clone(),
            fresh_fail.clone(),
            fresh_ok.clone(),
            url.clone(),
        );
        thread::spawn(move || {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = curl(&url, &["--http2"]);
                if r.status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    fail.fetch_add(1, Ordering::Relaxed);
                    errors.push(format!("{r:?}"));
                }
            }
            errors
        })
    };
    let loads: Vec<_> = [
        vec!["-D", "8", "-c", "4", "-m", "8"],
        vec!["--h1", "-D", "8", "-c", "4"],
    ]
    .into_iter()
    .map(|args| {
        let url = url.clone();
        thread::spawn(move || {
            let a: Vec<&str> = args.iter().map(|s| &**s).collect();
            h2load(&a, &url)
        })
    })
    .collect();
    thread::sleep(Duration::from_secs(2));
    // A broken certificate: refused, the old one stays.
    std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    thread::sleep(Duration::from_secs(2));
    assert!(
        d.stderr_log().contains("TLS reload failed"),
        "{}",
        d.stderr_log()
    );
    assert!((19.0..=20.0).contains(&expiry(&d)));
    // A new certificate, valid 90 days.
    let dir = files.cert.parent().unwrap();
    let next = make_cert(dir, "next", 90, false);
    std::fs::copy(&next.cert, &files.cert).unwrap();
    std::fs::copy(&next.key, &files.key).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    thread::sleep(Duration::from_secs(1));
    assert!((89.0..=90.0).contains(&expiry(&d)), "{}", expiry(&d));
    for l in loads {
        let out = l.join().unwrap();
        let (ok, failed, twoxx) = h2load_counts(&out);
        // (In timed mode h2load may count a few 2xx past the end of its measurement.)
        assert!(ok > 100 && failed == 0 && twoxx >= ok, "{out}");
    }
    stop.store(true, Ordering::Relaxed);
    let errors = fresh.join().unwrap();
    assert!(errors.is_empty(), "fresh connections failed: {errors:?}");
    assert!(fresh_ok.load(Ordering::Relaxed) > 10);
    // New handshakes present the new certificate (RSA now, P-256 before).
    let out = run_with_timeout(
        Command::new("sh").arg("-c").arg(format!(
            "openssl s_client -connect 127.0.0.1:{tls_pull} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -text"
        )),
        Duration::from_secs(20),
    );
    assert!(
        text(&out.stdout).contains("rsaEncryption"),
        "{}",
        text(&out.stdout)
    );
    assert!(d.stderr_log().contains("TLS certificate and key reloaded"));
    d.stop_term();
}

/// Start-up refuses what cannot work, naming the file or the flag to fix; a certificate close
/// to expiry starts with a warning.
#[test]
fn tls_start_up_errors_name_the_file() {
    if !peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = make_cert(dir.path(), "a", 3, true);
    let b = make_cert(dir.path(), "b", 30, true);
    let missing = dir.path().join("missing.pem");
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    // The flags of a pull TLS listener (none when `listen_too` is false) and these files.
    let flags =
        |listen_too: bool, cert: Option<&std::path::Path>, key: Option<&std::path::Path>| {
            let mut v: Vec<String> = Vec::new();
            if listen_too {
                v.extend(["--pull-tls-listen".to_string(), listen.clone()]);
            }
            for (flag, file) in [("--tls-cert", cert), ("--tls-key", key)] {
                if let Some(f) = file {
                    v.extend([flag.to_string(), f.display().to_string()]);
                }
            }
            v
        };
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            flags(true, Some(&missing), Some(&a.key)),
            format!("cannot read certificate {}", missing.display()),
        ),
        (
            flags(true, Some(&a.cert), Some(&a.cert)),
            format!("{} holds no private key", a.cert.display()),
        ),
        (
            flags(true, Some(&a.cert), Some(&b.key)),
            "cannot be used together".into(),
        ),
        (
            flags(true, None, None),
            "needs a certificate and key".into(),
        ),
        (
            flags(false, Some(&a.cert), Some(&a.key)),
            "no TLS listener".into(),
        ),
        (flags(false, Some(&a.cert), None), "go together".into()),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(|s| &**s).collect();
        let mut d = Daemon::launch(DaemonOpts::args(&a));
        let st = d
            .wait_exit(Duration::from_secs(10))
            .expect("refused to start");
        assert!(!st.success(), "{args:?} started");
        assert!(
            d.stderr_log().contains(&want),
            "{args:?}: want {want:?} in {}",
            d.stderr_log()
        );
    }
    // Three days left: it starts, and says so.
    let d = Daemon::start(DaemonOpts {
        args: tls_args(&a, free_port(), free_port()),
        ..DaemonOpts::default()
    });
    assert!(
        d.stderr_log().contains("TLS certificate expires soon"),
        "{}",
        d.stderr_log()
    );
    let left = scrape(d.metrics).get("streampack_tls_certificate_expiry_seconds", &[]);
    assert!(left > 2.0 * 86_400.0 && left <= 3.0 * 86_400.0, "{left}");
}

/// Garbage before the handshake, plain HTTP on the TLS port, 200 half handshakes held open and
/// the HTTP/2 barrage over TLS and h2c: the daemon stays up, another channel is served over
/// plain HTTP/1.1 the whole time without a failure, and hostile connections are closed.
#[test]
fn hostile_tls_and_http2_clients() {
    if !(peers()
        && require(
            "python3-h2",
            std::path::Path::new("/usr/lib/python3/dist-packages/h2/__init__.py").exists(),
            in_ci(),
            "apt-get install python3-h2",
        ))
    {
        return;
    }
    let (d, tls_pull, tls_ingest, _files) = tls_daemon(30, "[limits]\nhead_timeout_secs = 3\n");
    let f = d.hls_channel("steady", &[]);
    let mut conn = Conn::connect(d.ingest);
    for i in 0..3 {
        conn.request(
            "PUT",
            &f.ingest(&format!("s{i}.ts")),
            &[],
            Some(&fake_ts(i, 50)),
        );
    }
    let pl = encoder_playlist(
        0,
        &[
            ("s0.ts".into(), 2.0),
            ("s1.ts".into(), 2.0),
            ("s2.ts".into(), 2.0),
        ],
        false,
    );
    assert!(
        conn.request("PUT", &f.ingest("index.m3u8"), &[], Some(pl.as_bytes()))
            .status
            < 300
    );
    let path = f.endpoint_path.clone();
    let segment = resolve(&path, &playlist_uris(&get(d.pull, &path).text())[0]);

    // Steady traffic on the plain listener while the hostile clients run.
    let stop = Arc::new(AtomicBool::new(false));
    let steady = {
        let (stop, pull, path) = (stop.clone(), d.pull, path.clone());
        thread::spawn(move || {
            let (mut ok, mut bad) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let r = get(pull, &path);
                if r.status == 200 {
                    ok += 1;
                } else {
                    bad.push(r.status);
                }
                thread::sleep(Duration::from_millis(20));
            }
            (ok, bad)
        })
    };

    // TLS: garbage, plain HTTP, a TLS record header announcing more than ever comes.
    for (port, bytes) in [
        (
            tls_pull,
            b"\x00\x01garbage garbage garbage\r\n\r\n".to_vec(),
        ),
        (tls_pull, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        (
            tls_ingest,
            b"PUT /v1/x/y/z.ts HTTP/1.1\r\nContent-Length: 1\r\n\r\nx".to_vec(),
        ),
        (tls_pull, vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01]),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        let _ = s.write_all(&bytes);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            !text(&out).contains("HTTP/1.1 200"),
            "{bytes:?} got an HTTP answer: {out:?}"
        );
    }
    // 200 half handshakes: a ClientHello's first bytes, then silence.
    let half: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", tls_pull)).unwrap();
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
                .unwrap();
            s
        })
        .collect();
    // A real client still gets through meanwhile.
    let ok = curl(&format!("https://127.0.0.1:{tls_pull}{path}"), &["--http2"]);
    assert_eq!((ok.status, ok.version.as_str()), (200, "2"), "{ok:?}");
    // The half handshakes are closed by the head timeout.
    thread::sleep(Duration::from_secs(5));
    for mut s in half {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = Vec::new();
        // EOF (or a reset) within the read timeout: the server closed it; a timeout would
        // mean it still holds the half handshake.
        if let Err(e) = s.read_to_end(&mut out) {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "a half handshake is still open after the head timeout"
            );
        }
    }

    // HTTP/2 barrage, over TLS (ALPN h2) and over h2c on the plain pull listener.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/h2_barrage.py");
    for (port, tls) in [(tls_pull, true), (d.pull.port(), false)] {
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(&script)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .arg(&path)
            .arg(&segment);
        if tls {
            cmd.arg("--tls");
        }
        let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
        let lines = text(&out.stdout);
        assert!(out.status.success(), "barrage: {lines}\n{}", text_err(&out));
        let by: std::collections::HashMap<String, Value> = lines
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (v["attack"].as_str().unwrap().to_string(), v)
            })
            .collect();
        let goaway = |a: &str| by[a]["goaway"].as_u64();
        // ENHANCE_YOUR_CALM (11) for rapid reset; the stream flood is refused past the limit.
        assert_eq!(
            goaway("rapid_reset"),
            Some(11),
            "{}\n{lines}",
            by["rapid_reset"]
        );
        let flood = &by["stream_flood"];
        assert!(
            flood["rst"]["7"].as_u64().unwrap_or(0) > 0 || goaway("stream_flood").is_some(),
            "{flood}"
        );
        assert!(flood["responses"].as_u64().unwrap() <= 1000, "{flood}");
        // CONTINUATION flood: closed long before 64 MiB of headers.
        let cont = &by["continuation_flood"];
        assert!(
            cont["closed"] == true && cont["sent"].as_u64().unwrap() < 16 << 20,
            "{cont}"
        );
        assert_eq!(
            goaway("oversized_frame"),
            Some(6),
            "{}",
            by["oversized_frame"]
        );
        assert_eq!(
            goaway("malformed_frames"),
            Some(1),
            "{}",
            by["malformed_frames"]
        );
        assert_eq!(
            goaway("garbage_after_preface"),
            Some(1),
            "{}",
            by["garbage_after_preface"]
        );
        assert!(
            by["huge_header_list"]["closed"] == true
                || by["huge_header_list"]["rst"] != serde_json::json!({}),
            "{}",
            by["huge_header_list"]
        );
        for a in ["settings_flood", "ping_flood"] {
            assert!(by[a].get("error").is_none(), "{}", by[a]);
        }
        // A window of 0: the answers' heads come, no DATA frame (flow control holds).
        let zero = &by["zero_window"];
        assert!(zero["responses"].as_u64().unwrap() > 0, "{zero}");
        assert_eq!(zero["data_bytes"], 0, "{zero}");
        assert_eq!(by["good_request"]["responses"], 1, "{}", by["good_request"]);
        assert!(by["good_request"]["data_bytes"].as_u64().unwrap() > 0);
    }

    stop.store(true, Ordering::Relaxed);
    let (ok, bad) = steady.join().unwrap();
    assert!(
        bad.is_empty() && ok > 50,
        "steady channel: {ok} ok, failures {bad:?}"
    );
    let st = d.ctl(&["status"]);
    assert!(st.status.success(), "daemon still answers");
    let m = scrape(d.metrics);
    assert!(
        m.get(
            "streampack_tls_handshakes_total",
            &[("listener", "pull"), ("result", "failed")]
        ) >= 200.0
    );
    assert!(
        m.get(
            "streampack_tls_handshakes_total",
            &[("listener", "ingest"), ("result", "failed")]
        ) >= 1.0
    );
    assert_eq!(
        curl(&format!("https://127.0.0.1:{tls_pull}{path}"), &["--http2"]).status,
        200
    );
}
