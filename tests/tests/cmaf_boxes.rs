//! The TS → CMAF repackager against real peers: TS segments made by ffmpeg (the fixtures in
//! core/testdata/ts/, see make.sh there) go through `cmaf::Repackager` segment after
//! segment, as a channel's rendition would; every init and media file is then parsed by npm
//! `mp4box` (tests/browser/mp4check.mjs), its top-level boxes must tile it exactly, sample
//! counts, durations and first decode times must equal what `ffprobe -show_packets` reports
//! for the source TS, and ffmpeg must decode init + media of each track with the expected
//! frame count; chromium's Media Source Extensions play the H.264 + AAC tracks to the end.
//! Needs node (with tests/browser's npm packages), ffmpeg, ffprobe and chromium.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use streampack_core::cmaf::{Repackager, TrackInfo, TrackKind};
use streampack_core::fmp4::top_level;
use streampack_tests::*;

const MOD33: i64 = 1 << 33;

fn fixtures(set: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/testdata/ts")
        .join(set);
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ts"))
        .collect();
    segs.sort();
    assert!(!segs.is_empty(), "no fixtures in {}", dir.display());
    segs
}

fn tools_present() -> bool {
    let mp4box = browser_dir()
        .join("node_modules/mp4box/package.json")
        .is_file();
    require_tool("node")
        && require_tool("ffmpeg")
        && require_tool("ffprobe")
        && require(
            "the npm package mp4box",
            mp4box,
            in_ci(),
            "npm ci --prefix tests/browser",
        )
}

/// What ffprobe reports for one stream of the source segments: packets, summed durations and
/// the first DTS (all in 90 kHz; DTS as ffprobe shows it, possibly shifted by 2^33).
#[derive(Debug, Default, Clone, Copy)]
struct Probe {
    packets: u64,
    duration: i64,
    first_dts: Option<i64>,
}

fn ffprobe_packets(ts: &Path, stream: &str) -> Probe {
    let out = run_with_timeout(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                stream,
                "-show_entries",
                "packet=dts,duration",
                "-of",
                "csv=p=0",
            ])
            .arg(ts),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        ts.display(),
        text(&out.stderr)
    );
    let mut p = Probe::default();
    for line in text(&out.stdout).lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split(',');
        let dts: i64 = f.next().unwrap().trim().parse().unwrap();
        let dur: i64 = f.next().unwrap_or("0").trim().parse().unwrap_or(0);
        p.packets += 1;
        p.duration += dur;
        p.first_dts.get_or_insert(dts);
    }
    p
}

/// One track written out: its init and media files, and the repackager's own view.
struct Track {
    info: TrackInfo,
    init: PathBuf,
    media: Vec<PathBuf>,
    /// (base_decode_time, duration, samples) per fragment.
    fragments: Vec<(u64, u64, u32)>,
}

/// Repackages the segments in order with one Repackager; writes each track's files.
fn repackage(set: &str, segs: &[PathBuf], dir: &Path) -> Vec<Track> {
    let mut r = Repackager::new();
    let mut tracks: Vec<Track> = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let ts = std::fs::read(seg).unwrap();
        let out = r
            .repackage(&ts, i as u32 + 1)
            .unwrap_or_else(|e| panic!("{}: {e}", seg.display()));
        if i == 0 {
            for (k, info) in out.tracks.iter().enumerate() {
                let init = dir.join(format!("{set}_t{k}_init.mp4"));
                std::fs::write(&init, &info.init).unwrap();
                tracks.push(Track {
                    info: info.clone(),
                    init,
                    media: vec![],
                    fragments: vec![],
                });
            }
        }
        assert_eq!(
            out.tracks.len(),
            tracks.len(),
            "{set} segment {i}: same tracks in every segment"
        );
        for f in &out.fragments {
            let t = &mut tracks[f.track];
            assert_eq!(
                out.tracks[f.track].init, t.info.init,
                "{set} segment {i}: init unchanged"
            );
            let path = dir.join(format!("{set}_t{}_{i:05}.m4s", f.track));
            std::fs::write(&path, &f.bytes).unwrap();
            t.media.push(path);
            t.fragments
                .push((f.base_decode_time, f.duration, f.samples));
        }
    }
    for t in &tracks {
        for file in std::iter::once(&t.init).chain(&t.media) {
            let bytes = std::fs::read(file).unwrap();
            let boxes = top_level(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(
                boxes.iter().map(|b| b.2).sum::<usize>(),
                bytes.len(),
                "{} tiles",
                file.display()
            );
        }
    }
    tracks
}

fn mp4check(t: &Track) -> Value {
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join("mp4check.mjs"))
        .arg(&t.init)
        .args(&t.media);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(out.status.success(), "mp4check: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("mp4check output {e}: {}", text(&out.stdout)))
}

/// Concatenates init + media into one file and lets ffmpeg decode all of it: no error, and
/// `ffprobe -count_frames` sees the expected frames.
fn decode(t: &Track, dir: &Path, expected_frames: u64) {
    let mut all = std::fs::read(&t.init).unwrap();
    for m in &t.media {
        all.extend(std::fs::read(m).unwrap());
    }
    let file = dir.join(format!(
        "{}.mp4",
        t.init.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::write(&file, all).unwrap();
    let out = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&file)
            .args(["-f", "null", "-"]),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg decoding {}: {}",
        file.display(),
        text(&out.stderr)
    );
    let out = run_with_timeout(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(&file),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        file.display(),
        text(&out.stderr)
    );
    let frames: u64 = text(&out.stdout).trim().parse().unwrap();
    assert_eq!(
        frames,
        expected_frames,
        "{}: decoded frames",
        file.display()
    );
}

/// Every check of the module docs for one fixture set; returns the tracks for extra checks.
fn check_set(set: &str, want_codecs: &[&str]) -> Vec<Track> {
    check_segments(set, &fixtures(set), want_codecs)
}

fn check_segments(set: &str, segs: &[PathBuf], want_codecs: &[&str]) -> Vec<Track> {
    let dir = tempfile::tempdir().unwrap();
    let tracks = repackage(set, segs, dir.path());
    let codecs: Vec<&str> = tracks.iter().map(|t| t.info.codecs.as_str()).collect();
    assert_eq!(
        codecs, want_codecs,
        "{set}: tracks (video first, then audio)"
    );
    for t in &tracks {
        let stream = if t.info.kind == TrackKind::Video {
            "v:0"
        } else {
            "a:0"
        };
        let probes: Vec<Probe> = segs.iter().map(|s| ffprobe_packets(s, stream)).collect();
        let packets: u64 = probes.iter().map(|p| p.packets).sum();
        let scale =
            |v: i64| -> i64 { (v * i64::from(t.info.timescale) + 45_000).div_euclid(90_000) };
        // Whether a frame lasts a whole number of 90 kHz ticks (video; AAC at 48 kHz). If not
        // (AAC at 44.1 kHz: 2089.8 ticks), ffprobe's per-packet durations are truncated: allow
        // up to one tick per packet in sums, and a few ticks on decode times.
        let exact =
            t.info.kind == TrackKind::Video || (1024 * 90_000) % i64::from(t.info.timescale) == 0;
        let slack = |n: u64| {
            if exact {
                (0i64, 2i64)
            } else {
                (n as i64, 4i64)
            }
        };

        let seen = mp4check(t);
        assert_eq!(
            seen["ready"], true,
            "{set}: mp4box read the init segment: {seen}"
        );
        assert_eq!(
            seen["errors"].as_array().unwrap().len(),
            0,
            "{set}: mp4box errors: {seen}"
        );
        for f in seen["files"].as_array().unwrap() {
            assert_eq!(f["tiles"], true, "{set}: {f}");
        }
        let mt = &seen["tracks"][0];
        assert_eq!(
            seen["tracks"].as_array().unwrap().len(),
            1,
            "{set}: one track per file"
        );
        assert_eq!(mt["codec"], t.info.codecs.as_str(), "{set}: {mt}");
        assert_eq!(mt["timescale"], t.info.timescale);
        assert_eq!(
            mt["samples"].as_u64().unwrap(),
            packets,
            "{set} {stream}: samples vs ffprobe packets"
        );
        assert_eq!(
            mt["contiguous"], true,
            "{set} {stream}: decode times continuous: {mt}"
        );
        assert_eq!(mt["first_is_sync"], true, "{set} {stream}");
        if t.info.kind == TrackKind::Video {
            assert_eq!(
                (
                    mt["width"].as_u64().unwrap(),
                    mt["height"].as_u64().unwrap()
                ),
                (u64::from(t.info.width), u64::from(t.info.height))
            );
        }

        // Per segment: first decode time and duration equal ffprobe's for that TS segment.
        for (i, (p, &(tfdt, dur, n))) in probes.iter().zip(&t.fragments).enumerate() {
            assert_eq!(
                u64::from(n),
                p.packets,
                "{set} {stream} segment {i}: samples"
            );
            let (sum_slack, dts_slack) = slack(p.packets);
            assert!(
                (dur as i64 - scale(p.duration)).abs() <= sum_slack,
                "{set} {stream} segment {i}: duration {dur} vs ffprobe's {}",
                scale(p.duration)
            );
            let ours_90k = (tfdt as i128 * 90_000 / i128::from(t.info.timescale)) as i64;
            let diff = (ours_90k - p.first_dts.unwrap()).rem_euclid(MOD33);
            assert!(
                diff <= dts_slack || diff >= MOD33 - dts_slack,
                "{set} {stream} segment {i}: tfdt {tfdt} vs ffprobe dts {:?}",
                p.first_dts
            );
        }
        let total: i64 = probes.iter().map(|p| p.duration).sum();
        let ours = mt["total_duration"].as_i64().unwrap();
        assert!(
            (ours - scale(total)).abs() <= slack(packets).0,
            "{set} {stream}: total duration {ours} vs ffprobe's {}",
            scale(total)
        );
        assert_eq!(
            mt["first_dts"].as_u64().unwrap(),
            t.fragments[0].0,
            "{set} {stream}: mp4box's first dts is our tfdt"
        );

        decode(t, dir.path(), packets);
    }
    tracks
}

#[test]
fn h264_aac_segments_become_valid_cmaf_tracks() {
    if !tools_present() {
        return;
    }
    let tracks = check_set("h264_aac", &["avc1.64001e", "mp4a.40.2"]);
    // Not shifted: the first decode time is the source's first DTS, as ffprobe shows it.
    assert_eq!(tracks[0].fragments[0].0, 127_920);
}

#[test]
fn h265_aac_segments_become_valid_cmaf_tracks() {
    if !tools_present() {
        return;
    }
    check_set("h265_aac", &["hvc1.1.6.L60.90", "mp4a.40.2"]);
}

#[test]
fn pts_wrap_inside_a_segment_gives_continuous_decode_times() {
    if !tools_present() {
        return;
    }
    let tracks = check_set("wrap", &["avc1.64000d", "mp4a.40.2"]);
    for t in &tracks {
        let mod33 = (MOD33 as u64) * u64::from(t.info.timescale) / 90_000;
        let (first, _, _) = t.fragments[0];
        let &(last, dur, _) = t.fragments.last().unwrap();
        assert!(
            first < mod33 && last + dur > mod33,
            "{:?}: decode times cross 2^33 ({first} .. {})",
            t.info.kind,
            last + dur
        );
        for w in t.fragments.windows(2) {
            assert_eq!(
                w[0].0 + w[0].1,
                w[1].0,
                "{:?}: segments join exactly",
                t.info.kind
            );
        }
    }
}

/// A stream made now, unlike the fixtures: 29.97 fps with B-frames, AAC at 44.1 kHz stereo
/// (an AAC frame is not a whole number of 90 kHz ticks there).
#[test]
fn fresh_ffmpeg_ts_ntsc_rate_and_44k1_stereo() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_timeout(
        Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=30000/1001",
            ])
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
                "-t",
                "4",
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-sc_threshold",
                "0",
                "-b:v",
                "600k",
            ])
            .args(["-c:a", "aac", "-ac", "2", "-b:a", "96k"])
            .args([
                "-f",
                "hls",
                "-hls_time",
                "2",
                "-hls_list_size",
                "0",
                "-hls_playlist_type",
                "vod",
                "-hls_segment_filename",
            ])
            .arg(dir.path().join("seg_%05d.ts"))
            .arg(dir.path().join("main.m3u8")),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "ffmpeg: {}", text(&out.stderr));
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ts"))
        .collect();
    segs.sort();
    assert!(segs.len() >= 2, "{segs:?}");
    let tracks = check_segments("ntsc_44k1", &segs, &["avc1.64001e", "mp4a.40.2"]);
    assert_eq!(
        (tracks[1].info.sample_rate, tracks[1].info.channels),
        (44_100, 2)
    );
    assert_eq!(tracks[0].info.frame_rate, Some((30000, 1001)));
}

/// What a viewer would notice: the H.264 + AAC tracks, fed to Media Source Extensions in
/// headless chromium (tests/browser/msecheck.mjs), buffer without gaps and play to the end
/// with every frame accounted for and no error.
#[test]
fn h264_aac_tracks_play_in_chromium_mse() {
    if !require_browser() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tracks = repackage("h264_aac", &fixtures("h264_aac"), dir.path());
    let spec: Vec<Value> = tracks
        .iter()
        .map(|t| {
            let kind = if t.info.kind == TrackKind::Video { "video" } else { "audio" };
            let files: Vec<String> = std::iter::once(&t.init)
                .chain(&t.media)
                .map(|p| p.display().to_string())
                .collect();
            serde_json::json!({ "mime": format!("{kind}/mp4; codecs=\"{}\"", t.info.codecs), "files": files })
        })
        .collect();
    let mut cmd = Command::new("node");
    cmd.current_dir(browser_dir())
        .arg("msecheck.mjs")
        .arg(serde_json::to_string(&spec).unwrap());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
    assert!(out.status.success(), "msecheck: {}", text(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["errors"].as_array().unwrap().len(), 0, "{seen}");
    assert_eq!(seen["supported"], serde_json::json!([true, true]), "{seen}");
    for (k, ranges) in seen["buffered"].as_array().unwrap().iter().enumerate() {
        let ranges = ranges.as_array().unwrap();
        assert_eq!(ranges.len(), 1, "track {k} buffered without gaps: {seen}");
        let len = ranges[0][1].as_f64().unwrap() - ranges[0][0].as_f64().unwrap();
        assert!(
            (len - 6.0).abs() < 0.05,
            "track {k}: {len} s buffered of 6 s: {seen}"
        );
    }
    assert_eq!(seen["ended"], true, "played to the end: {seen}");
    // 3 segments of 50 frames; totalVideoFrames counts shown and dropped frames.
    assert_eq!(seen["frames"], 150, "{seen}");
}
