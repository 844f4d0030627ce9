//! An HLS encoder made of pre-made segments: ffmpeg makes them ([`hls_segments`]), the
//! test pushes them with playlists of its own ([`Encoder`]): program dates it chooses and the
//! tags it wants (ad markers) before the segments it wants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{run_with_timeout, text, Daemon, Fixture, X264_2S_GOP};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// 12 segments of 2 s (H.264 + AAC in TS) of test pattern and tone, made by ffmpeg as fast
/// as it can.
pub fn hls_segments(dir: &Path) -> Vec<(Vec<u8>, f64)> {
    hls_segments_of(dir, &["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"])
}

/// [`hls_segments`] with the video of `video` (ffmpeg input arguments), encoded again.
pub fn hls_segments_of(dir: &Path, video: &[&str]) -> Vec<(Vec<u8>, f64)> {
    let out = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error"])
            .args(video)
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "24",
            ])
            .args(X264_2S_GOP)
            .args([
                "-c:a",
                "aac",
                "-f",
                "hls",
                "-hls_time",
                "2",
                "-hls_list_size",
                "0",
            ])
            .arg("-hls_segment_filename")
            .arg(dir.join("s%d.ts"))
            .arg(dir.join("x.m3u8")),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "ffmpeg: {}", text(&out.stderr));
    let list = std::fs::read_to_string(dir.join("x.m3u8")).unwrap();
    let durations: Vec<f64> = list
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| v.trim_end_matches(',').parse().unwrap())
        .collect();
    durations
        .iter()
        .enumerate()
        .map(|(i, d)| (std::fs::read(dir.join(format!("s{i}.ts"))).unwrap(), *d))
        .collect()
}

/// An HLS encoder pushing pre-made segments: each with its program date (from `base_ms`),
/// and tag lines written before some of them.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// Program date of the first segment, Unix ms.
    pub base_ms: i64,
    /// Segment bytes and durations (seconds).
    pub segs: Vec<(Vec<u8>, f64)>,
    /// `(segment index, line)`: tags written before that segment.
    pub tags: Vec<(usize, String)>,
}

impl Encoder {
    /// An encoder of `segs` whose first segment began `secs` seconds ago (on a whole second),
    /// with no tags yet.
    pub fn started_ago(secs: i64, segs: Vec<(Vec<u8>, f64)>) -> Encoder {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        Encoder {
            base_ms: (now - secs * 1000) / 1000 * 1000,
            segs,
            tags: Vec::new(),
        }
    }

    /// Segment `i`'s program date, Unix ms.
    pub fn start_ms(&self, i: usize) -> i64 {
        self.base_ms
            + self.segs[..i]
                .iter()
                .map(|s| (s.1 * 1000.0).round() as i64)
                .sum::<i64>()
    }

    /// Segment `i`'s program date as the playlist writes it.
    pub fn date(&self, i: usize) -> String {
        let ms = self.start_ms(i);
        let secs = ms.div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // civil_from_days (Howard Hinnant).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            ms.rem_euclid(1000)
        )
    }

    /// Pushes segments `..n` and the playlist listing them with their tags.
    pub fn push(&self, d: &Daemon, f: &Fixture, n: usize) {
        self.push_to(d, &f.primary_path, n);
    }

    /// [`Encoder::push`] to the input at `input_path`.
    pub fn push_to(&self, d: &Daemon, input_path: &str, n: usize) {
        let mut pl = String::from(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n",
        );
        for i in 0..n {
            let r = d.put(&format!("{input_path}/s{i}.ts"), &self.segs[i].0);
            assert_eq!(r.status, 201, "{r:?}");
            for (_, t) in self.tags.iter().filter(|(at, _)| *at == i) {
                pl.push_str(t);
                pl.push('\n');
            }
            pl.push_str(&format!(
                "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:{:.6},\ns{i}.ts\n",
                self.date(i),
                self.segs[i].1
            ));
        }
        let r = d.put(&format!("{input_path}/index.m3u8"), pl.as_bytes());
        assert_eq!(r.status, 201, "{r:?}");
    }
}
