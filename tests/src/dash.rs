//! DASH: ffmpeg's DASH push (docs/testing.md's recipe, plus low latency), a DASH channel fixture, and
//! MPD checks through a real MPD parser (npm `mpd-parser`, `tests/browser/mpdcheck.mjs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// What [`ffmpeg_push_dash`] sends: always two video representations (640x360 and 320x180)
/// and one audio, adaptation sets `id=0,streams=v id=1,streams=a`, 2 s segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashPush {
    /// `SegmentTemplate` with a `SegmentTimeline` and `$Time$` addressing
    /// (`-media_seg_name chunk-$RepresentationID$-$Time$.m4s`).
    Timeline,
    /// `SegmentTemplate` with `$Number$` and `@duration`, no timeline.
    Number,
    /// Low-latency: timeline with ffmpeg's default `$Number%05d$` names, `-streaming 1 -ldash 1`,
    /// 0.5 s chunks (segment bodies trickle for a whole segment duration).
    LowLatency,
}

/// Segment duration the pushes use, seconds.
pub const DASH_SEG_SECS: u32 = 2;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// ffmpeg arguments pushing `seconds` of test pattern as DASH to `input_url` (the input's URL
/// prefix, no trailing slash); the MPD is `main.mpd`.
pub fn ffmpeg_push_dash_args(kind: DashPush, input_url: &str, seconds: u32) -> Vec<String> {
    let mut a = ffmpeg_live_source_args(seconds);
    a.extend(strings(&[
        "-map",
        "0:v",
        "-map",
        "0:v",
        "-map",
        "1:a",
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
        "-b:v:0",
        "800k",
        "-b:v:1",
        "300k",
        "-filter:v:1",
        "scale=320:180",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-f",
        "dash",
        "-seg_duration",
        "2",
        "-window_size",
        "6",
        "-extra_window_size",
        "2",
        "-use_template",
        "1",
        "-use_timeline",
        if kind == DashPush::Number { "0" } else { "1" },
        "-adaptation_sets",
        "id=0,streams=v id=1,streams=a",
    ]));
    if kind == DashPush::Timeline {
        a.push("-media_seg_name".into());
        a.push("chunk-$RepresentationID$-$Time$.m4s".into());
    }
    if kind == DashPush::LowLatency {
        a.extend(strings(&[
            "-streaming",
            "1",
            "-ldash",
            "1",
            "-frag_type",
            "duration",
            "-frag_duration",
            "0.5",
        ]));
    }
    a.extend(strings(&["-method", "PUT", "-http_persistent", "1"]));
    a.push(format!("{input_url}/main.mpd"));
    a
}

/// Spawns ffmpeg pushing DASH to `input_url`; its stderr goes to `log`. ffmpeg exits 0 even
/// when every PUT was refused: check what the origin holds.
pub fn ffmpeg_push_dash(kind: DashPush, input_url: &str, seconds: u32, log: &Path) -> Child {
    spawn_ffmpeg(ffmpeg_push_dash_args(kind, input_url, seconds), log)
}

impl Daemon {
    /// Creates a DASH channel with one `dash` endpoint (the protocol's default type) through
    /// the CLI. `extra` goes to `channel create`.
    pub fn dash_channel(&self, name: &str, extra: &[&str]) -> Fixture {
        let mut args = vec!["channel", "create", "--name", name, "--protocol", "dash"];
        args.extend_from_slice(extra);
        let ch = self.ctl_json(&args);
        let id = ch["id"].as_str().expect("channel id").to_string();
        let ep = self.ctl_json(&["endpoint", "create", &id, "--name", "ep1"]);
        assert_eq!(
            ep["type"], "dash",
            "a dash channel's endpoints are dash: {ep}"
        );
        Fixture::new(ch, ep)
    }
}

/// What `tests/browser/mpdcheck.mjs` reports about an MPD fetched from a URL.
#[derive(Debug, Clone)]
pub struct MpdCheck {
    /// Its JSON line, as printed.
    pub json: Value,
}

impl MpdCheck {
    /// Segment URLs of the video (`video`) or audio (`audio`) representations.
    pub fn urls_of(&self, kind: &str) -> Vec<String> {
        self.json[kind]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["urls"].as_array().into_iter().flatten())
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }

    /// Number of representations of `kind` (`video` or `audio`).
    pub fn count(&self, kind: &str) -> usize {
        self.json[kind].as_array().map_or(0, |a| a.len())
    }

    /// Every init and media segment URL the parser resolved (absolute).
    pub fn segment_urls(&self) -> Vec<String> {
        self.json["segment_urls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A static MPD (`manifest.mpd`) with its segments made by ffmpeg's dash muxer in `dir`: 6
/// video segments of 2 s (`timescale` 12800, Representation 0) and audio (Representation 1);
/// returns the segments (`init-stream<R>.m4s`, `chunk-stream<R>-<NNNNN>.m4s`) by name.
pub fn ffmpeg_dash_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let out = run_with_timeout(
        Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x180:rate=25",
            ])
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "12",
            ])
            .args(X264_2S_GOP)
            .args([
                "-c:a",
                "aac",
                "-f",
                "dash",
                "-seg_duration",
                "2",
                "-use_timeline",
                "1",
            ])
            .args(["-use_template", "1"])
            .arg(dir.join("manifest.mpd")),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "ffmpeg: {}", text(&out.stderr));
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "m4s"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// Fetches `url` and parses it with npm `mpd-parser` (node `tests/browser/mpdcheck.mjs`).
/// Panics with the script's output when it cannot parse it.
pub fn mpd_check(url: &str) -> MpdCheck {
    try_mpd_check(url).unwrap_or_else(|e| panic!("{e}"))
}

/// [`mpd_check`] returning why the MPD was not accepted instead of panicking.
pub fn try_mpd_check(url: &str) -> Result<MpdCheck, String> {
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join("mpdcheck.mjs")).arg(url);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!(
            "mpdcheck failed on {url}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = stdout.lines().last().unwrap_or_default();
    let json: Value =
        serde_json::from_str(line).map_err(|e| format!("mpdcheck output {line:?}: {e}"))?;
    Ok(MpdCheck { json })
}

/// Value of attribute `name` on the first element `<tag ...>` in `xml` (a light reader for
/// assertions on the MPD's top-level attributes; the full parse is [`mpd_check`]'s).
pub fn xml_attr(xml: &str, tag: &str, name: &str) -> Option<String> {
    let open = format!("<{tag}");
    let mut from = 0;
    let start = loop {
        let i = xml[from..].find(&open)? + from;
        let next = xml[i + open.len()..].chars().next()?;
        if next.is_whitespace() || next == '>' || next == '/' {
            break i;
        }
        from = i + open.len();
    };
    let end = xml[start..].find('>')? + start;
    let el = &xml[start..end];
    let key = format!("{name}=\"");
    let mut from = 0;
    let k = loop {
        let i = el[from..].find(&key)? + from;
        // The attribute name starts after whitespace (not inside a longer name).
        if el[..i].ends_with(char::is_whitespace) {
            break i + key.len();
        }
        from = i + key.len();
    };
    let v_end = el[k..].find('"')? + k;
    Some(el[k..v_end].to_string())
}

/// An ISO 8601 duration (`PT1M2.5S`, `P0Y0M0DT0H0M6.000S`) in seconds.
pub fn iso_duration_secs(d: &str) -> Option<f64> {
    let d = d.strip_prefix('P')?;
    let (date, time) = match d.find('T') {
        Some(i) => (&d[..i], &d[i + 1..]),
        None => (d, ""),
    };
    let mut secs = 0.0;
    let mut num = String::new();
    for c in date.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'D' => secs += num.parse::<f64>().ok()? * 86_400.0,
            'Y' | 'M' | 'W' if num.parse::<f64>().ok()? == 0.0 => {}
            _ => return None,
        }
        if !c.is_ascii_digit() && c != '.' {
            num.clear();
        }
    }
    for c in time.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'H' => secs += num.parse::<f64>().ok()? * 3600.0,
            'M' => secs += num.parse::<f64>().ok()? * 60.0,
            'S' => secs += num.parse::<f64>().ok()?,
            _ => return None,
        }
        if !c.is_ascii_digit() && c != '.' {
            num.clear();
        }
    }
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_push_args_follow_tools_md() {
        let a = ffmpeg_push_dash_args(DashPush::Timeline, "http://h:1/v1/c/i", 20).join(" ");
        assert!(a.contains("-f dash -seg_duration 2"), "{a}");
        assert!(a.contains("-use_timeline 1"), "{a}");
        assert!(a.contains("-adaptation_sets id=0,streams=v id=1,streams=a"));
        assert!(a.contains("-map 0:v -map 0:v -map 1:a"));
        assert!(a.ends_with("-method PUT -http_persistent 1 http://h:1/v1/c/i/main.mpd"));
        assert!(!a.contains("-streaming"));
        assert!(
            a.contains("-media_seg_name chunk-$RepresentationID$-$Time$.m4s"),
            "{a}"
        );
        let n = ffmpeg_push_dash_args(DashPush::Number, "http://h:1/v1/c/i", 20).join(" ");
        assert!(n.contains("-use_timeline 0"), "{n}");
        let l = ffmpeg_push_dash_args(DashPush::LowLatency, "http://h:1/v1/c/i", 20).join(" ");
        assert!(l.contains("-streaming 1 -ldash 1 -frag_type duration -frag_duration 0.5"));
    }

    #[test]
    fn xml_attrs_and_durations() {
        let x = r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"
 timeShiftBufferDepth="PT30S" availabilityStartTime="2026-11-24T01:00:00.000Z">
 <Period id="0"><UTCTiming schemeIdUri="urn:x" value="/time"/></Period></MPD>"#;
        assert_eq!(xml_attr(x, "MPD", "type").as_deref(), Some("dynamic"));
        assert_eq!(
            xml_attr(x, "MPD", "timeShiftBufferDepth").as_deref(),
            Some("PT30S")
        );
        assert_eq!(xml_attr(x, "UTCTiming", "value").as_deref(), Some("/time"));
        let tabs = "<MPD\n\txmlns=\"urn:x\"\n\tmaxtype=\"no\"\n\ttype=\"static\">";
        assert_eq!(xml_attr(tabs, "MPD", "type").as_deref(), Some("static"));
        assert_eq!(xml_attr(x, "Period", "nope"), None);
        assert_eq!(xml_attr(x, "Nope", "id"), None);
        assert_eq!(iso_duration_secs("PT30S"), Some(30.0));
        assert_eq!(iso_duration_secs("PT1M2.5S"), Some(62.5));
        assert_eq!(iso_duration_secs("P0Y0M0DT0H0M6.000S"), Some(6.0));
        assert_eq!(iso_duration_secs("P1DT1H"), Some(90_000.0));
        assert_eq!(iso_duration_secs("30S"), None);
    }
}
