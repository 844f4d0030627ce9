//! SAMPLE-AES endpoints end to end: ffmpeg pushes live HLS/TS, the origin serves a
//! `sample-aes` endpoint with rotating keys beside a clear one. On the wire the segments are
//! still TS, with the PMT declaring encrypted H.264 (0xDB) and AAC (0xCF) and the samples
//! scrambled; ffmpeg decrypts them to exactly the frames it decodes from the clear endpoint,
//! and hls.js plays the endpoint across key rotations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use streampack_core::ts::{packet, psi, StreamType};
use streampack_tests::*;

struct Setup {
    d: Daemon,
    clear_path: String,
    /// The endpoint with one key.
    one_path: String,
    /// The endpoint with a key every 4 s.
    enc_path: String,
    enc_url: String,
    _push: Killed,
}

/// A channel with a clear `hls` endpoint, a `sample-aes` one with one key and one with a key
/// every 4 s (every second segment), ffmpeg pushing.
fn start(push_seconds: u32) -> Option<Setup> {
    if !require_tool("ffmpeg") {
        return None;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        "sa",
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "30",
        ],
    );
    let clear = d.ctl_json(&["endpoint", "create", &f.id, "--name", "clear"]);
    let one = d.ctl_json(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "one",
        "--encryption",
        "sample-aes",
    ]);
    let ep = d.ctl_json(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "sa",
        "--encryption",
        "sample-aes",
        "--key-rotation",
        "4",
    ]);
    assert_eq!(ep["encryption"], "sample-aes", "{ep}");
    let enc_url = ep["url"].as_str().unwrap().to_string();
    let log = d.dir().join("ffmpeg-push.log");
    let push = Killed(ffmpeg_push_hls(
        HlsPush::Ts,
        &f.primary_url,
        push_seconds,
        &log,
    ));
    Some(Setup {
        clear_path: split_url(clear["url"].as_str().unwrap()).1,
        one_path: split_url(one["url"].as_str().unwrap()).1,
        enc_path: split_url(&enc_url).1,
        enc_url,
        d,
        _push: push,
    })
}

/// Waits until the playlist at `path` lists `n` segments; returns it.
fn wait_listed(s: &Setup, path: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = get(s.d.pull, path);
        let body = r.text();
        if r.status == 200 && playlist_uris(&body).len() >= n {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{n} segments never listed: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `path` resolved against the playlist at `base` (a path).
fn resolve(base: &str, uri: &str) -> String {
    let mut dir: Vec<&str> = base
        .rsplit_once('/')
        .map_or("", |(d, _)| d)
        .split('/')
        .collect();
    for part in uri.split('/') {
        match part {
            ".." => {
                dir.pop();
            }
            p => dir.push(p),
        }
    }
    dir.join("/")
}

/// Copies the first `n` segments of the media playlist `text` (served at `base`), with their
/// keys, into `dir` as a VOD playlist `name` ffmpeg reads from files; returns the segment URIs.
fn snapshot(s: &Setup, base: &str, text: &str, n: usize, dir: &Path, name: &str) -> Vec<String> {
    let mut out = String::new();
    let mut uris = Vec::new();
    for line in text.lines() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-KEY:") {
            let uri = attrs
                .split("URI=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let r = get(s.d.pull, &resolve(base, uri));
            assert_eq!(r.status, 200, "key {uri}: {r:?}");
            let file = format!("{name}-{}", uri.rsplit('/').next().unwrap());
            std::fs::write(dir.join(&file), &r.body).unwrap();
            out.push_str(&line.replace(uri, &file));
            out.push('\n');
        } else if line.starts_with('#') {
            if !line.starts_with("#EXT-X-PROGRAM-DATE-TIME") {
                out.push_str(line);
                out.push('\n');
            }
        } else if !line.trim().is_empty() {
            if uris.len() == n {
                break;
            }
            let r = get(s.d.pull, &resolve(base, line));
            assert_eq!(r.status, 200, "{line}: {r:?}");
            let file = format!("{name}-{}.ts", uris.len());
            std::fs::write(dir.join(&file), &r.body).unwrap();
            out.push_str(&file);
            out.push('\n');
            uris.push(line.to_string());
        }
    }
    // Keep only the header and the segments copied (a key tag after the last one is dropped).
    let end = out.rfind(".ts\n").map_or(out.len(), |i| i + 4);
    out.truncate(end);
    out.push_str("#EXT-X-ENDLIST\n");
    std::fs::write(dir.join(format!("{name}.m3u8")), out).unwrap();
    uris
}

/// ffmpeg's per-frame checksums of every stream of a local playlist (its decoded frames).
fn framemd5(playlist: &Path) -> Vec<String> {
    let out = run_with_timeout(
        Command::new("ffmpeg").args([
            "-nostdin",
            "-loglevel",
            "error",
            "-allowed_extensions",
            "ALL",
            "-protocol_whitelist",
            "file,crypto,data",
            "-i",
            playlist.to_str().unwrap(),
            "-map",
            "0",
            "-f",
            "framemd5",
            "-",
        ]),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "ffmpeg on {playlist:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The stream types a TS segment's PMT declares (its CRC checked).
fn pmt_stream_types(ts: &[u8]) -> Vec<StreamType> {
    let mut pmt_pid = None;
    for raw in ts.chunks_exact(188) {
        let Ok(p) = packet::parse(raw) else { continue };
        let section = p
            .payload
            .split_first()
            .filter(|_| p.unit_start)
            .and_then(|(pointer, rest)| rest.get(usize::from(*pointer)..))
            .and_then(psi::complete_section);
        let Some(section) = section else { continue };
        if p.pid == 0 {
            pmt_pid = psi::parse_pat(section)
                .ok()
                .and_then(|pat| pat.first().map(|e| e.1));
        } else if Some(p.pid) == pmt_pid {
            let program = psi::parse_pmt(section, p.pid).expect("a whole PMT with its CRC");
            return program.streams.iter().map(|s| s.stream_type).collect();
        }
    }
    Vec::new()
}

#[test]
fn ffmpeg_decrypts_sample_aes_to_the_clear_endpoints_frames() {
    let Some(s) = start(60) else { return };
    // Keys change every second segment, each tag stating its IV (players take none from the
    // sequence number with SAMPLE-AES).
    let rotating = wait_listed(&s, &s.enc_path, 4);
    let tags: std::collections::BTreeSet<&str> = rotating
        .lines()
        .filter(|l| l.starts_with("#EXT-X-KEY:METHOD=SAMPLE-AES,URI="))
        .inspect(|l| assert!(l.contains(",IV=0x"), "hls.js needs the IV stated: {l}"))
        .collect();
    assert!(tags.len() >= 2, "{rotating}");
    // ffmpeg (5.1) decrypts a packet with the key of the segment it is reading when the packet
    // leaves its demuxer, a frame or two late at a key change (libavformat/hls.c), so the
    // frame-exact comparison reads the endpoint with one key; hls.js plays the rotating one.
    let enc = wait_listed(&s, &s.one_path, 4);
    let dir = s.d.dir().join("snapshot");
    std::fs::create_dir_all(&dir).unwrap();
    let uris = snapshot(&s, &s.one_path, &enc, 4, &dir, "enc");
    let clear = get(s.d.pull, &s.clear_path).text();
    let listed = playlist_uris(&clear);
    assert!(
        uris.iter().all(|u| listed.contains(u)),
        "clear lists {listed:?}, encrypted {uris:?}"
    );
    // The clear playlist from the first segment the encrypted snapshot took.
    let from = clear.find(&format!("\n{}\n", uris[0])).unwrap();
    let head_end = clear.find("#EXTINF").unwrap();
    let trimmed = format!(
        "{}{}",
        &clear[..head_end],
        &clear[clear[..from].rfind("#EXTINF").unwrap()..]
    );
    snapshot(&s, &s.clear_path, &trimmed, 4, &dir, "clear");
    for i in 0..4 {
        let wire = std::fs::read(dir.join(format!("enc-{i}.ts"))).unwrap();
        let plain = std::fs::read(dir.join(format!("clear-{i}.ts"))).unwrap();
        assert_ne!(wire, plain, "segment {i} is encrypted");
        assert_eq!(
            pmt_stream_types(&plain),
            vec![StreamType::H264, StreamType::AacAdts]
        );
        assert_eq!(
            pmt_stream_types(&wire),
            vec![StreamType::Other(0xDB), StreamType::Other(0xCF)],
            "segment {i}'s PMT"
        );
    }
    // The playlist's very last video frame leaves ffmpeg's demuxer after the last segment
    // (its parser waits for a next frame), when hls.c no longer has a segment's key for it:
    // it is compared up to there.
    let without_last_video_frame = |mut lines: Vec<String>| {
        if let Some(i) = lines.iter().rposition(|l| l.starts_with("0,")) {
            lines.remove(i);
        }
        lines
    };
    let decoded = without_last_video_frame(framemd5(&dir.join("enc.m3u8")));
    let expected = without_last_video_frame(framemd5(&dir.join("clear.m3u8")));
    assert!(
        expected.len() > 150,
        "{} frames in 4 segments",
        expected.len()
    );
    let differ: Vec<String> = decoded
        .iter()
        .zip(&expected)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("got  {a}\nwant {b}"))
        .collect();
    assert!(
        decoded.len() == expected.len() && differ.is_empty(),
        "ffmpeg decodes the sample-aes segments to the clear frames ({} and {} frames); these differ:\n{}",
        decoded.len(),
        expected.len(),
        differ.join("\n")
    );
}

#[test]
fn hlsjs_plays_the_sample_aes_endpoint_across_key_rotations() {
    if !require_browser() {
        return;
    }
    let Some(s) = start(60) else { return };
    wait_listed(&s, &s.enc_path, 3);
    let Some(pb) = play_in_browser(Player::HlsJs, &s.enc_url, 20) else {
        return;
    };
    assert!(!pb.fatal, "hls.js gave up: {:?}\n{}", pb.errors, pb.json);
    assert!(
        pb.advanced >= 15.0 && pb.longest_stall_s < 1.0 && pb.frames_decoded > 300,
        "hls.js played {:.1} s of 20 (longest stall {:.1} s, {} frames) across key rotations\n{}",
        pb.advanced,
        pb.longest_stall_s,
        pb.frames_decoded,
        pb.json
    );
}
