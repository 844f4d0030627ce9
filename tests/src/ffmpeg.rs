//! ffmpeg as a real encoder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::tools::run_with_timeout;

/// What [`ffmpeg_push_hls`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsPush {
    /// One rendition, MPEG-TS segments `seg_%05d.ts`, playlist `main.m3u8`.
    Ts,
    /// One rendition, fMP4 segments `seg_%05d.m4s` and `init.mp4`, playlist `main.m3u8`.
    Fmp4,
    /// Two renditions (`hi` 640x360, `lo` 320x180) as TS, variant playlists `hi.m3u8` and
    /// `lo.m3u8`, master playlist `main.m3u8`.
    Master,
}

/// H.264 with a keyframe every 2 s of 25 fps video and none elsewhere: the segments the
/// tests' encoders cut are 2 s, each starting on its keyframe.
pub const X264_2S_GOP: [&str; 8] = [
    "-c:v",
    "libx264",
    "-g",
    "50",
    "-keyint_min",
    "50",
    "-sc_threshold",
    "0",
];

/// The input of every ffmpeg push: `seconds` of a 640x360 25 fps test pattern (input 0) and a
/// 440 Hz tone (input 1), read in real time.
pub fn ffmpeg_live_source_args(seconds: u32) -> Vec<String> {
    let mut a: Vec<String> = [
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(seconds.to_string());
    a
}

/// The ffmpeg arguments of docs/testing.md's recipes, pushing `seconds` of test pattern to
/// `input_url` (the input's URL prefix, without trailing slash).
pub fn ffmpeg_push_hls_args(kind: HlsPush, input_url: &str, seconds: u32) -> Vec<String> {
    let mut a = ffmpeg_live_source_args(seconds);
    if kind == HlsPush::Master {
        for m in ["0:v", "0:v", "1:a", "1:a"] {
            a.push("-map".into());
            a.push(m.into());
        }
    }
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-b:v",
            "800k",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    if kind == HlsPush::Master {
        a.extend(
            ["-filter:v:1", "scale=320:180"]
                .iter()
                .map(|s| s.to_string()),
        );
    }
    a.extend(
        [
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_list_size",
            "6",
            "-hls_flags",
            "delete_segments",
            "-method",
            "PUT",
            "-http_persistent",
            "1",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    match kind {
        HlsPush::Ts => {
            a.push("-hls_segment_filename".into());
            a.push(format!("{input_url}/seg_%05d.ts"));
            a.push(format!("{input_url}/main.m3u8"));
        }
        HlsPush::Fmp4 => {
            a.extend(
                [
                    "-hls_segment_type",
                    "fmp4",
                    "-hls_fmp4_init_filename",
                    "init.mp4",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            a.push("-hls_segment_filename".into());
            a.push(format!("{input_url}/seg_%05d.m4s"));
            a.push(format!("{input_url}/main.m3u8"));
        }
        HlsPush::Master => {
            a.extend(
                [
                    "-var_stream_map",
                    "v:0,a:0,name:hi v:1,a:1,name:lo",
                    "-master_pl_name",
                    "main.m3u8",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            a.push("-hls_segment_filename".into());
            a.push(format!("{input_url}/%v_%05d.ts"));
            a.push(format!("{input_url}/%v.m3u8"));
        }
    }
    a
}

/// Spawns ffmpeg pushing HLS to `input_url`; its stderr goes to `log`. Remember: ffmpeg exits 0
/// even when every PUT was refused, so check what the origin holds, not ffmpeg's status.
pub fn ffmpeg_push_hls(kind: HlsPush, input_url: &str, seconds: u32, log: &Path) -> Child {
    spawn_ffmpeg(ffmpeg_push_hls_args(kind, input_url, seconds), log)
}

/// Spawns ffmpeg with `args`, no stdin or stdout, its stderr in `log`.
pub fn spawn_ffmpeg(args: Vec<String>, log: &Path) -> Child {
    let log = File::create(log).expect("create ffmpeg log");
    Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn ffmpeg")
}

/// Waits for a child up to `timeout`, killing it after that. Returns its status.
pub fn wait_child(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return child.wait().expect("wait");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `ffprobe` of `url`: one line per stream, `-of compact`, with `codec_name=…` and, for video,
/// `width=…` and `height=…`.
pub fn ffprobe_codecs(url: &str) -> Output {
    run_with_timeout(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "compact",
            url,
        ]),
        Duration::from_secs(40),
    )
}

/// Decodes `seconds` of a live HLS URL with ffmpeg (`-f null`, errors only); returns (decoded
/// video frames, ffmpeg's output). ffmpeg waits for a live playlist to grow, so this takes
/// about `seconds` of wall time.
pub fn ffmpeg_decode(url: &str, seconds: u32, timeout: Duration) -> (u64, Output) {
    let out = crate::run_with_timeout(
        Command::new("ffmpeg").args([
            "-nostdin",
            "-nostats",
            "-loglevel",
            "error",
            "-i",
            url,
            "-t",
            &seconds.to_string(),
            "-f",
            "null",
            "-progress",
            "pipe:1",
            "-",
        ]),
        timeout,
    );
    let frames = crate::text(&out.stdout)
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("frame="))
        .find_map(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    (frames, out)
}

/// The first video PES timestamp (90 kHz) in a TS segment.
pub fn ts_first_video_pts(ts: &[u8]) -> Option<u64> {
    for p in ts.chunks_exact(188) {
        if p[0] != 0x47 || p[1] & 0x40 == 0 {
            continue;
        }
        let payload = match (p[3] >> 4) & 3 {
            1 => &p[4..],
            3 => p.get(5 + usize::from(p[4])..)?,
            _ => continue,
        };
        if payload.len() < 14 || payload[..3] != [0, 0, 1] || !(0xE0..=0xEF).contains(&payload[3]) {
            continue;
        }
        if payload[7] >> 6 < 2 {
            continue;
        }
        let b = &payload[9..14];
        return Some(
            (u64::from(b[0] >> 1) & 7) << 30
                | u64::from(b[1]) << 22
                | u64::from(b[2] >> 1) << 15
                | u64::from(b[3]) << 7
                | u64::from(b[4] >> 1),
        );
    }
    None
}
