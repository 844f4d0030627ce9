//! Integration-test harness: starts the real `streampackd`, drives it with the real
//! `streampackctl`, and talks HTTP/1.1 to it over plain TCP so that tests see the bytes a
//! player or an encoder would see.
//!
//! # Layout
//! - binaries: [`bin_path`] finds `target/<profile>/streampack{d,ctl}` next to the test executable.
//! - daemon: [`Daemon`] (temp state dir, free loopback ports, readiness, signals, restart).
//! - HTTP: [`http`], [`Conn`], [`raw`] and [`Response`] (Content-Length and chunked framing).
//! - tools: [`require_tool`], [`ffmpeg_push_hls`], [`spawn_ffmpeg`], [`ffprobe_codecs`],
//!   [`run_with_timeout`].
//! - HLS: [`media_sequence`], [`playlist_uris`], [`resolve`], [`split_url`].
//! - io_uring blocked for a daemon: [`seccomp`]; a small disk of its own: [`tmpfs`].
//! - a real browser as a player: [`play_in_browser`] with [`Player`] → [`Playback`]
//!   (headless chromium running `tests/browser/play.mjs`).
//! - metrics: [`scrape`], [`Scrape`] (parsed `/metrics`).
//! - DASH: [`ffmpeg_push_dash`] with [`DashPush`], [`Daemon::dash_channel`], [`mpd_check`]
//!   (npm `mpd-parser`), [`xml_attr`], [`iso_duration_secs`].
//! - CMAF endpoints: [`CmafFixture`], [`mpd_tracks`], [`playlist_all_uris`], [`mp4_top_boxes`].
//! - nginx as a peer (static server, caching edge): [`Nginx`]; any child killed on drop: [`Killed`].
//! - an HLS encoder of pre-made segments with playlists of the test's own: [`Encoder`],
//!   [`hls_segments`].
//! - TLS: [`make_cert`] (openssl), [`tls_args`], [`curl`] → [`Fetched`] (HTTPS, HTTP/2, h2c).
//! - etcd (cluster mode): [`Etcd`], a multi-member etcd on loopback, killed and restarted.
//! - the web console: [`Console`] (`streampackctl console`), [`console_walk`] (its pages in
//!   chromium, `tests/browser/console.mjs`).
//!
//! Each part lives in its own module (`tools`, `ports`, `daemon`, `http`, `hls`, `ffmpeg`,
//! `browser`, `scrape`) and is
//! re-exported here, so tests just `use streampack_tests::*`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

pub mod seccomp;
pub mod tmpfs;
mod tools;
pub use tools::*;
mod ports;
pub use ports::*;
mod daemon;
pub use daemon::*;
mod etcd;
pub use etcd::*;
mod http;
pub use http::*;
mod tls;
pub use tls::*;
mod console;
pub use console::*;
mod hls;
pub use hls::*;
mod ffmpeg;
pub use ffmpeg::*;
mod browser;
pub use browser::*;
mod scrape;
pub use scrape::*;
mod dash;
pub use dash::*;
mod cmaf;
pub use cmaf::*;
mod nginx;
pub use nginx::*;
mod encoder;
pub use encoder::*;

/// How long a daemon may take to answer `status` after it was spawned.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a daemon may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one `streampackctl` call may take.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(20);
/// Read/write timeout of the raw HTTP helpers.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn target_dir_is_parent_of_deps() {
        // Unit tests of this lib run from target/<profile>/deps/ too.
        let exe = std::env::current_exe().unwrap();
        assert_eq!(exe.parent().unwrap().file_name().unwrap(), "deps");
        assert_eq!(target_dir(), exe.parent().unwrap().parent().unwrap());
    }

    #[test]
    #[should_panic(expected = "build first: cargo build --workspace --bins")]
    fn missing_binary_says_how_to_build() {
        bin_path("no-such-streampack-binary");
    }

    #[test]
    fn tool_present_is_used() {
        assert!(require_tool_with("sh", true, true));
        assert!(require_tool_with("sh", true, false));
        assert!(tool_on_path("sh"));
        assert!(!tool_on_path("no-such-tool-xyz"));
    }

    #[test]
    fn missing_peer_outside_ci_skips_naming_the_test_and_the_fix() {
        let Need::Skip(notice) = need("ffprobe", false, false, "apt-get install ffmpeg", "t::x")
        else {
            panic!("a missing peer outside CI is a skip");
        };
        // tests/run.sh lists the skipped tests from exactly this line.
        assert!(
            notice.lines().any(
                |l| l == "!!! SKIPPED: t::x: ffprobe is missing, so this test checked NOTHING."
            ),
            "{notice}"
        );
        assert!(notice.contains("Fix: apt-get install ffmpeg"), "{notice}");
        assert_eq!(need("sh", true, false, "-", "t::x"), Need::Run);
    }

    #[test]
    fn missing_peer_in_ci_fails() {
        let Need::Fail(msg) = need("nginx", false, true, "apt-get install nginx", "t::x") else {
            panic!("a missing peer under CI is a failure");
        };
        assert!(msg.contains("nginx is required in CI"), "{msg}");
    }

    #[test]
    #[should_panic(expected = "no-such-tool-xyz is required in CI")]
    fn tool_missing_in_ci_panics() {
        require_tool_with("no-such-tool-xyz", false, true);
    }

    #[test]
    fn install_hints_name_debian_packages() {
        assert_eq!(debian_package("ffprobe"), "ffmpeg");
        assert_eq!(debian_package("node"), "nodejs");
        assert_eq!(debian_package("promtool"), "prometheus");
        assert_eq!(debian_package("nginx"), "nginx");
    }

    #[test]
    fn ports_are_not_handed_out_twice() {
        let ports: HashSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
    }

    #[test]
    fn resolves_relative_uris() {
        assert_eq!(
            resolve("/v1/c/e/main.m3u8", "0/index.m3u8"),
            "/v1/c/e/0/index.m3u8"
        );
        assert_eq!(resolve("/v1/c/e/0/index.m3u8", "5.ts"), "/v1/c/e/0/5.ts");
        assert_eq!(
            resolve("/v1/c/e/0/index.m3u8", "../init0.mp4"),
            "/v1/c/e/init0.mp4"
        );
        assert_eq!(resolve("/v1/c/e/main.m3u8", "/abs/x.ts"), "/abs/x.ts");
        assert_eq!(resolve("/a/b.m3u8", "http://h:1/z/y.ts"), "/z/y.ts");
    }

    #[test]
    fn parses_pipelined_chunked_and_sized_responses() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let srv = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b).unwrap();
            s.write_all(
                b"HTTP/1.1 100 Continue\r\n\r\n\
                  HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n\
                  3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n\
                  HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
                  HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n\
                  HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n\
                  HTTP/1.1 200 OK\r\n\r\nuntil close",
            )
            .unwrap();
        });
        let mut c = Conn::connect(addr);
        c.send(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(c.read_response(false).unwrap().status, 100);
        let r = c.read_response(false).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
        assert_eq!(r.header("x-a"), Some("1"));
        assert_eq!(c.read_response(false).unwrap().body, b"hello");
        // A HEAD answer carries a Content-Length but no body.
        let h = c.read_response(true).unwrap();
        assert_eq!((h.header("Content-Length"), h.body.len()), (Some("7"), 0));
        assert_eq!(c.read_response(false).unwrap().status, 304);
        srv.join().unwrap();
        assert_eq!(c.read_response(false).unwrap().body, b"until close");
    }

    #[test]
    fn playlist_helpers() {
        let p = encoder_playlist(7, &[("a.ts".into(), 2.0), ("b.ts".into(), 1.5)], true);
        assert_eq!(media_sequence(&p), 7);
        assert_eq!(playlist_uris(&p), vec!["a.ts", "b.ts"]);
        assert!((total_duration(&p) - 3.5).abs() < 1e-9);
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
        assert!(!is_master(&p));
        assert_eq!(fake_ts(1, 3).len(), 564);
    }

    #[test]
    fn playback_json_is_parsed() {
        let line = r#"{"player":"hls","url":"http://h/x.m3u8","seconds_watched":20.0,"start_time":6.1,"end_time":25.9,"advanced":19.8,"stalls":1,"longest_stall_s":0.5,"errors":["hls.js mediaError/bufferStalledError"],"fatal":false,"frames_decoded":495,"frames_dropped":2,"buffered_end":30.0,"stall_log":[]}"#;
        let p = Playback::from_json(line).unwrap();
        assert_eq!(
            p,
            Playback {
                advanced: 19.8,
                stalls: 1,
                longest_stall_s: 0.5,
                errors: vec!["hls.js mediaError/bufferStalledError".into()],
                fatal: false,
                frames_decoded: 495,
                frames_dropped: 2,
                latency_median_s: None,
                protocols: vec![],
                json: line.into(),
            }
        );
        assert!(Playback::from_json("{}").is_err());
        assert!(Playback::from_json("not json").is_err());
        assert_eq!(Player::DashJs.arg(), "dash");
    }

    #[test]
    fn browser_packages_present_are_used() {
        assert!(require_browser_packages_with(true, true));
    }

    #[test]
    #[should_panic(expected = "npm ci --prefix tests/browser")]
    fn browser_packages_missing_in_ci_fails() {
        require_browser_packages_with(false, true);
    }

    #[test]
    fn play_script_is_in_the_tree() {
        assert!(browser_dir().join("play.mjs").is_file());
        assert!(browser_dir().join("package-lock.json").is_file());
    }

    #[test]
    fn push_args_follow_tools_md() {
        let a = ffmpeg_push_hls_args(HlsPush::Master, "http://h:1/v1/c/i", 20).join(" ");
        assert!(a.contains("-var_stream_map v:0,a:0,name:hi v:1,a:1,name:lo"));
        assert!(a.contains("-master_pl_name main.m3u8"));
        assert!(a.ends_with("http://h:1/v1/c/i/%v_%05d.ts http://h:1/v1/c/i/%v.m3u8"));
        let t = ffmpeg_push_hls_args(HlsPush::Ts, "http://h:1/v1/c/i", 20).join(" ");
        assert!(t.contains("-method PUT -http_persistent 1"));
        assert!(t.contains("-re "));
        assert!(t.ends_with("seg_%05d.ts http://h:1/v1/c/i/main.m3u8"));
    }
}
