//! A CDN in front: nginx `proxy_cache` on loopback sends `Host: <bound domain>` to the origin;
//! hls.js in headless chromium plays through the edge while ffmpeg pushes. Segments are cached
//! (second fetch a HIT), playlists refresh within their TTL, an unbound Host gets 404. Needs
//! nginx, ffmpeg, chromium and node (skipped loudly without them, failed under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

const DOMAIN: &str = "live.cdn.test";

/// nginx as a caching edge on a free loopback port, in its own prefix under `dir`.
fn start_edge(dir: &std::path::Path, origin: std::net::SocketAddr) -> Nginx {
    let body = format!(
        r#"    access_log {{prefix}}/logs/access.log;
    proxy_cache_path {{prefix}}/cache levels=1:2 keys_zone=edge:10m max_size=512m inactive=10m;
    server {{
        listen 127.0.0.1:{{port}};
        location / {{
            proxy_pass http://{origin};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {DOMAIN};
            proxy_cache edge;
            proxy_cache_lock on;
            proxy_cache_key $uri;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}"#
    );
    Nginx::start(dir, &body)
}

#[test]
fn nginx_edge_caches_segments_refreshes_playlists_and_plays() {
    if !require_tool("nginx") || !require_tool("ffmpeg") {
        return;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        "cdn",
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "30",
            "--manifest-ttl",
            "1",
            "--segment-ttl",
            "600",
        ],
    );
    let ch = d.ctl_json(&["cdn", "bind", "cdn", DOMAIN]);
    assert_eq!(ch["cdn_domains"], serde_json::json!([DOMAIN]));
    let ep = d.ctl_json(&["endpoint", "show", "cdn", "ep1"]);
    let cdn_url = format!("http://{DOMAIN}{}", f.endpoint_path);
    assert_eq!(ep["cdn_urls"], serde_json::json!([cdn_url]));
    let show = text(&d.ctl(&["channel", "show", "cdn"]).stdout);
    assert!(
        show.contains(&cdn_url),
        "channel show prints the CDN URL:\n{show}"
    );
    // One channel per domain, and the error names the owner.
    d.hls_channel("other", &[]);
    let e = d.ctl_refused(&["cdn", "bind", "other", DOMAIN]);
    assert!(e.contains("already bound to channel \"cdn\""), "{e}");

    let log = d.dir().join("ffmpeg.log");
    let _enc = Killed(ffmpeg_push_hls(HlsPush::Ts, &f.primary_url, 60, &log));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(d.pull, &f.endpoint_path);
        if r.status == 200 && playlist_uris(&r.text()).len() >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no 3 segments: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(250));
    }

    // Host rules at the origin: the bound domain and the origin's own address are served,
    // any other name is not.
    let with_host = |host: &str| {
        let mut c = Conn::connect(d.pull);
        let req = format!("GET {} HTTP/1.1\r\nHost: {host}\r\n\r\n", f.endpoint_path);
        c.send(req.as_bytes()).unwrap();
        c.read_response(false).unwrap()
    };
    assert_eq!(with_host(DOMAIN).status, 200);
    assert_eq!(with_host(&format!("{DOMAIN}:80")).status, 200);
    assert_eq!(with_host(&d.pull.to_string()).status, 200);
    let unbound = with_host("unbound.example");
    assert_eq!(unbound.status, 404, "{}", unbound.text());
    assert!(
        unbound.text().contains("not a CDN domain"),
        "{}",
        unbound.text()
    );

    let edge = start_edge(d.dir(), d.pull);
    let port = edge.port;
    let edge = format!("127.0.0.1:{port}");

    // Playlists carry the channel's TTL and refresh through the edge within it.
    let first = get(&edge, &f.endpoint_path);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("cache-control"), Some("public, max-age=1"));
    let first_last = playlist_uris(&first.text()).last().cloned().unwrap();
    // For 6 s, poll origin then edge: whenever the origin's playlist moved on, the edge must
    // follow within the 1 s TTL, plus up to 1 s because nginx keeps cache validity in whole
    // seconds (an entry stored at x.0 with max-age=1 lives until x+2), plus polling slack;
    // and it must follow at least twice.
    let t0 = Instant::now();
    let mut behind_since: Option<Instant> = None;
    let mut refreshes = 0;
    let mut edge_last = first_last.clone();
    while t0.elapsed() < Duration::from_secs(6) {
        let o = get(d.pull, &f.endpoint_path);
        let e = get(&edge, &f.endpoint_path);
        assert_eq!(e.status, 200);
        let o_last = playlist_uris(&o.text()).last().cloned().unwrap();
        let e_last = playlist_uris(&e.text()).last().cloned().unwrap();
        if e_last != edge_last {
            refreshes += 1;
            edge_last = e_last.clone();
        }
        if e_last == o_last {
            behind_since = None;
        } else {
            let since = *behind_since.get_or_insert_with(Instant::now);
            assert!(
                since.elapsed() <= Duration::from_millis(2500),
                "the edge served {e_last} for {:?} after the origin moved to {o_last}",
                since.elapsed()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        refreshes >= 2,
        "the edge playlist refreshed {refreshes} times in 6 s"
    );

    // A segment: MISS, then a HIT with the long TTL.
    let seg = resolve(&f.endpoint_path, &first_last);
    let a = get(&edge, &seg);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("cache-control"), Some("public, max-age=600"));
    let b = get(&edge, &seg);
    assert_eq!(b.status, 200);
    assert_eq!(b.header("x-cache-status"), Some("HIT"), "{:?}", b.headers);
    assert_eq!(a.body, b.body);

    // hls.js through the edge.
    let url = format!("http://{edge}{}", f.endpoint_path);
    if let Some(p) = play_in_browser(Player::HlsJs, &url, 20) {
        assert!(!p.fatal, "fatal player error through the edge: {}", p.json);
        assert!(
            p.advanced >= 15.0,
            "played {} s of 20: {}",
            p.advanced,
            p.json
        );
    }
}
