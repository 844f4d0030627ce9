//! The io driver choice: io_uring by default, epoll on request, and a real fallback to epoll
//! when io_uring is unavailable (here: blocked by seccomp, as in a default Docker container),
//! which monoio's own automatic driver does not do for every failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;
use streampack_tests::*;

/// Pushes two segments and a playlist, then pulls the endpoint's playlist and a segment.
fn serves_hls(d: &Daemon) {
    let f = d.hls_channel("drv", &[]);
    let mut c = Conn::connect(d.ingest);
    let segs: Vec<Vec<u8>> = (0..2).map(|i| fake_ts(i, 10)).collect();
    for (i, s) in segs.iter().enumerate() {
        let r = c.put_chunked(&f.ingest(&format!("s{i}.ts")), s);
        assert!(r.status == 201 || r.status == 204, "segment PUT: {r:?}");
    }
    let pl = encoder_playlist(0, &[("s0.ts".into(), 2.0), ("s1.ts".into(), 2.0)], false);
    let r = c.put_chunked(&f.ingest("main.m3u8"), pl.as_bytes());
    assert!(r.status == 201 || r.status == 204, "playlist PUT: {r:?}");
    let main = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(5));
    assert_eq!(main.status, 200, "{main:?}");
    let uris = playlist_uris(&main.text());
    assert_eq!(uris.len(), 2, "{}", main.text());
    let seg = get(d.pull, &resolve(&f.endpoint_path, &uris[1]));
    assert_eq!(seg.status, 200);
    assert_eq!(seg.body, segs[1], "segment served unchanged");
}

fn driver(d: &Daemon) -> String {
    d.ctl_json(&["status"])["io_driver"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn auto_uses_io_uring_where_available() {
    let d = Daemon::start(DaemonOpts::args(&["--io-driver", "auto"]));
    assert_eq!(driver(&d), "io_uring");
    serves_hls(&d);
}

#[test]
fn epoll_on_request() {
    let d = Daemon::start(DaemonOpts::args(&["--io-driver", "epoll"]));
    assert_eq!(driver(&d), "epoll");
    serves_hls(&d);
}

#[test]
fn auto_falls_back_to_epoll_when_io_uring_is_blocked() {
    let opts = DaemonOpts {
        block_io_uring: true,
        ..DaemonOpts::args(&["--io-driver", "auto"])
    };
    let d = Daemon::start(opts);
    assert_eq!(driver(&d), "epoll");
    let log = d.stderr_log();
    assert!(
        log.contains("falling back to epoll"),
        "the fallback is logged:\n{log}"
    );
    serves_hls(&d);
}

#[test]
fn uring_required_but_blocked_refuses_to_start() {
    let opts = DaemonOpts {
        block_io_uring: true,
        ..DaemonOpts::args(&["--io-driver", "uring"])
    };
    let mut d = Daemon::launch(opts);
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("daemon exits when io_uring is required and missing");
    assert!(!status.success());
    let log = d.stderr_log();
    assert!(log.contains("io_uring is unavailable"), "says why:\n{log}");
}
