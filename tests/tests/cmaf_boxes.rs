//! The TS → CMAF repackager against real peers: TS segments made by ffmpeg (the fixtures in
//! core/tests/fixtures/ts/, see make.sh there) go through `cmaf::Repackager` segment after
//! segment, as a channel's rendition would; every init and media file is then parsed by npm
//! `mp4box` (tests/browser/mp4check.mjs), its top-level boxes must tile it exactly, sample
//! counts, durations and first decode times must equal what `ffprobe -show_packets` reports
//! for the source TS, and ffmpeg must decode init + media of each track with the expected
//! frame count. Needs node (with tests/browser's npm packages), ffmpeg and ffprobe.
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
        .join("../core/tests/fixtures/ts")
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
        && require_tool_with(
            "npm mp4box (npm ci --prefix tests/browser)",
            mp4box,
            in_ci(),
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

/// Repackages the set's segments in order with one Repackager; writes each track's files.
fn repackage(set: &str, dir: &Path) -> Vec<Track> {
    let mut r = Repackager::new();
    let mut tracks: Vec<Track> = Vec::new();
    for (i, seg) in fixtures(set).iter().enumerate() {
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
    let dir = tempfile::tempdir().unwrap();
    let tracks = repackage(set, dir.path());
    let codecs: Vec<&str> = tracks.iter().map(|t| t.info.codecs.as_str()).collect();
    assert_eq!(
        codecs, want_codecs,
        "{set}: tracks (video first, then audio)"
    );
    let segs = fixtures(set);
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
            assert_eq!(
                dur as i64,
                scale(p.duration),
                "{set} {stream} segment {i}: duration"
            );
            let ours_90k = (tfdt as i128 * 90_000 / i128::from(t.info.timescale)) as i64;
            let diff = (ours_90k - p.first_dts.unwrap()).rem_euclid(MOD33);
            assert!(
                diff <= 2 || diff >= MOD33 - 2,
                "{set} {stream} segment {i}: tfdt {tfdt} vs ffprobe dts {:?}",
                p.first_dts
            );
        }
        let total: i64 = probes.iter().map(|p| p.duration).sum();
        assert_eq!(
            mt["total_duration"].as_i64().unwrap(),
            scale(total),
            "{set} {stream}: total duration"
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
