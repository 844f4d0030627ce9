//! SCTE-35 ad markers through the origin, decoded by threefive (`tests/python/scte35.py`, an
//! implementation independent of ours): an encoder's `EXT-X-DATERANGE` and `EXT-X-CUE-OUT`
//! breaks pushed with real ffmpeg segments come out of an `hls` endpoint in each style
//! (daterange, cue, passthrough, none) and of a `cmaf` endpoint as an MPD `EventStream`,
//! with the same event ids, durations and out/in flags, on the splice point's segment;
//! `streampackctl channel splice` inserts a break and an early return the same way; hostile
//! markers are dropped with a warning while the channel goes on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use streampack_tests::*;

/// The venv tests/setup.sh makes with threefive in it.
fn threefive_python() -> Option<PathBuf> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/.venv/bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import threefive"])
            .output()
            .is_ok_and(|o| o.status.success());
    require(
        "Python's threefive (tests/python/.venv)",
        ok,
        in_ci(),
        "bash tests/setup.sh (makes tests/python/.venv with tests/python/requirements.txt)",
    )
    .then_some(py)
}

fn scte35(py: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/scte35.py");
    let out = Command::new(py).arg(script).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "scte35.py {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// What threefive read of each cue: (event id, out of network, break duration in seconds).
fn summarize(decoded: &[Value]) -> Vec<(u64, bool, Option<f64>)> {
    decoded
        .iter()
        .map(|c| {
            (
                c["event_id"].as_u64().unwrap(),
                c["out"].as_bool().unwrap(),
                c["duration"].as_f64(),
            )
        })
        .collect()
}

/// What threefive read of each cue: (event id, out of network).
fn ids_and_ways(decoded: &[Value]) -> Vec<(u64, bool)> {
    summarize(decoded)
        .into_iter()
        .map(|(id, out, _)| (id, out))
        .collect()
}

/// The section (hex) of each DATERANGE line of `tagged`: its `SCTE35-OUT` or `SCTE35-IN`.
fn daterange_cues(ranges: &[(String, String, i64)]) -> Vec<String> {
    ranges
        .iter()
        .map(|(l, _, _)| {
            attr(l, "SCTE35-OUT")
                .or_else(|| attr(l, "SCTE35-IN"))
                .unwrap()
                .to_string()
        })
        .collect()
}

/// threefive's reading of each cue.
fn decode(py: &Path, cues: &[String]) -> Vec<Value> {
    let mut args = vec!["decode"];
    args.extend(cues.iter().map(String::as_str));
    scte35(py, &args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `(tag line, the URI of the segment after it, that segment's PDT)` for tags starting with
/// `prefix`.
fn tagged(playlist: &str, prefix: &str) -> Vec<(String, String, i64)> {
    // Tags and PDT lines belong to the next URI line.
    let mut out = Vec::new();
    let (mut pending, mut pdt) = (Vec::new(), None);
    for l in playlist.lines() {
        if let Some(v) = l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = parse_utc_ms(v.trim());
        } else if l.starts_with(prefix) {
            pending.push(l.to_string());
        } else if !l.starts_with('#') && !l.is_empty() {
            let at = pdt.take().expect("a PDT on every segment");
            out.extend(pending.drain(..).map(|t| (t, l.to_string(), at)));
        }
    }
    out
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=");
    let at = line.find(&key)? + key.len();
    let rest = &line[at..];
    Some(match rest.strip_prefix('"') {
        Some(q) => &q[..q.find('"')?],
        None => rest.split(',').next()?,
    })
}

/// The MPD's events: (wall-clock Unix ms of presentationTime, duration s, base64 cue).
fn mpd_events(mpd: &str) -> Vec<(i64, Option<f64>, String)> {
    let ast = parse_utc_ms(attr(mpd, "availabilityStartTime").unwrap()).unwrap();
    let mut out = Vec::new();
    for period in mpd.split("<Period").skip(1) {
        let start = attr(period, "start").unwrap();
        let start_ms = (start
            .trim_start_matches("PT")
            .trim_end_matches('S')
            .parse::<f64>()
            .unwrap()
            * 1000.0)
            .round() as i64;
        let Some(stream) = period.split("<EventStream").nth(1) else {
            continue;
        };
        let stream = stream.split("</EventStream>").next().unwrap();
        assert!(
            stream.contains("schemeIdUri=\"urn:scte:scte35:2014:xml+bin\""),
            "{stream}"
        );
        assert!(stream.contains("timescale=\"90000\""), "{stream}");
        for ev in stream.split("<Event ").skip(1) {
            let pt: i64 = attr(ev, "presentationTime").unwrap().parse().unwrap();
            let dur = attr(ev, "duration").map(|d| d.parse::<f64>().unwrap() / 90_000.0);
            let b64 = ev
                .split("<scte35:Binary>")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap();
            out.push((ast + start_ms + pt / 90, dur, b64.to_string()));
        }
    }
    out
}

/// The MPD's wall clock at its first segment (the first Period's first `S`).
fn mpd_first_segment_ms(mpd: &str) -> i64 {
    let ast = parse_utc_ms(attr(mpd, "availabilityStartTime").unwrap()).unwrap();
    let period = mpd.split("<Period").nth(1).unwrap();
    let start = attr(period, "start").unwrap();
    let start_ms = (start
        .trim_start_matches("PT")
        .trim_end_matches('S')
        .parse::<f64>()
        .unwrap()
        * 1000.0)
        .round() as i64;
    let tpl = period.split("<SegmentTemplate").nth(1).unwrap();
    let ts: i64 = attr(tpl, "timescale").unwrap().parse().unwrap();
    let pto: i64 = attr(tpl, "presentationTimeOffset")
        .unwrap_or("0")
        .parse()
        .unwrap();
    let t: i64 = attr(tpl.split("<S ").nth(1).unwrap(), "t")
        .unwrap()
        .parse()
        .unwrap();
    ast + start_ms + (t - pto) * 1000 / ts
}

fn playlist_of(d: &Daemon, ep: &Value) -> String {
    let path = split_url(ep["url"].as_str().unwrap()).1;
    let r = get(d.pull, &path);
    assert_eq!(r.status, 200, "{path}: {r:?}");
    r.text()
}

/// One frame at 25 fps: how far a marker may sit from its splice point.
const FRAME_MS: i64 = 40;

#[test]
fn markers_pushed_and_spliced_come_out_of_every_endpoint_style() {
    let Some(py) = threefive_python() else { return };
    if !require_tool("ffmpeg") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("ads", &["--timeshift-window", "600"]);
    let ep = |name: &str, extra: &[&str]| {
        let mut a = vec!["endpoint", "create", &f.id, "--name", name];
        a.extend_from_slice(extra);
        d.ctl_json(&a)
    };
    let cue = ep("cue", &["--ad-markers", "cue"]);
    let pass = ep("pass", &["--ad-markers", "passthrough"]);
    let none = ep("none", &["--ad-markers", "none"]);
    let secure = ep("secure", &["--encryption", "aes-128"]);
    let drm = ep("drm", &["--type", "cmaf", "--encryption", "cenc"]);
    let cmaf = ep("cmaf", &["--type", "cmaf"]);
    let inband = ep("inband", &["--type", "cmaf", "--inband-markers"]);
    assert_eq!(inband["inband_markers"], true, "{inband}");
    assert_eq!(
        f.endpoint["ad_markers"], "daterange",
        "the default: {}",
        f.endpoint
    );
    assert_eq!(cue["ad_markers"], "cue");

    let out_101 = scte35(&py, &["encode", "101", "4", "1"]).trim().to_string();
    let in_101 = scte35(&py, &["encode", "101", "0", "0"]).trim().to_string();
    let out_202 = scte35(&py, &["encode", "202", "4", "1"]).trim().to_string();
    let b64_202 = base64::engine::general_purpose::STANDARD
        .encode(hex_bytes(out_202.trim_start_matches("0x")));
    let segs = hls_segments(work.path());
    let mut enc = Encoder::started_ago(30, segs);
    enc.tags = vec![
        (2, format!("#EXT-X-DATERANGE:ID=\"ad-101\",START-DATE=\"{}\",PLANNED-DURATION=4,SCTE35-OUT={out_101}", enc.date(2))),
        (4, format!("#EXT-X-DATERANGE:ID=\"ad-101\",START-DATE=\"{}\",DURATION=4,SCTE35-IN={in_101}", enc.date(2))),
        (5, format!("#EXT-X-OATCLS-SCTE35:{b64_202}")),
        (5, "#EXT-X-CUE-OUT:DURATION=4".to_string()),
        (6, "#EXT-X-CUE-OUT-CONT:ElapsedTime=2,Duration=4".to_string()),
        (7, "#EXT-X-CUE-IN".to_string()),
    ];
    enc.push(&d, &f, 8);

    // daterange (the default): each break on its splice point's segment, decoded as pushed.
    let hls = wait_for(&d, &f.endpoint, |t| {
        t.matches("#EXT-X-DATERANGE").count() >= 4
    });
    let ranges = tagged(&hls, "#EXT-X-DATERANGE");
    // Break 101 (DATERANGE out and in), break 202 (CUE-OUT, its CUE-IN at the planned end).
    assert_eq!(ranges.len(), 4, "{hls}");
    let got = decode(&py, &daterange_cues(&ranges));
    let summary = summarize(&got);
    assert_eq!(
        summary,
        [
            (101, true, Some(4.0)),
            (101, false, None),
            (202, true, Some(4.0)),
            (202, false, None)
        ],
        "{hls}"
    );
    // Time-shifted: the archive keeps the markers with the media, a startover playlist
    // carries the same breaks at the same times.
    let startover = format!("{}?start={}", f.endpoint_path, enc.base_ms / 1000 - 1);
    let shifted = wait_for_text(&d, &startover, |t| {
        t.matches("#EXT-X-DATERANGE").count() >= 4
    });
    let shifted_ranges = tagged(&shifted, "#EXT-X-DATERANGE");
    assert_eq!(
        shifted_ranges
            .iter()
            .map(|(l, _, pdt)| (l.clone(), *pdt))
            .collect::<Vec<_>>(),
        ranges
            .iter()
            .map(|(l, _, pdt)| (l.clone(), *pdt))
            .collect::<Vec<_>>(),
        "{shifted}"
    );
    for (i, (line, _, pdt)) in ranges.iter().enumerate() {
        let start = parse_utc_ms(attr(line, "START-DATE").unwrap()).unwrap();
        let splice = [
            enc.start_ms(2),
            enc.start_ms(4),
            enc.start_ms(5),
            enc.start_ms(7),
        ][i];
        if i % 2 == 0 {
            assert!(
                (start - splice).abs() <= FRAME_MS,
                "{line} vs splice at {splice}"
            );
            assert!(
                (pdt - start).abs() <= FRAME_MS,
                "{line}: on its segment (PDT {pdt})"
            );
        } else {
            assert_eq!(
                attr(line, "ID"),
                attr(&ranges[i - 1].0, "ID"),
                "the return names its break: {line}"
            );
            assert_eq!(attr(line, "DURATION"), Some("4.000"), "{line}");
            assert!(
                (pdt - splice).abs() <= FRAME_MS,
                "{line}: on the return's segment"
            );
        }
    }
    assert!(
        ranges[0].0.contains("PLANNED-DURATION=4.000"),
        "{}",
        ranges[0].0
    );

    // cue: out, continuation, in, on the right segments, the cue decoded.
    let c = wait_for(&d, &cue, |t| t.contains("#EXT-X-CUE-IN"));
    let outs = tagged(&c, "#EXT-X-CUE-OUT:");
    let conts = tagged(&c, "#EXT-X-CUE-OUT-CONT");
    let ins = tagged(&c, "#EXT-X-CUE-IN");
    let on = |v: &[(String, String, i64)]| v.iter().map(|x| x.2).collect::<Vec<i64>>();
    let near = |a: Vec<i64>, b: Vec<i64>| {
        a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= FRAME_MS)
    };
    assert!(
        near(on(&outs), vec![enc.start_ms(2), enc.start_ms(5)]),
        "{c}"
    );
    assert!(
        near(on(&conts), vec![enc.start_ms(3), enc.start_ms(6)]),
        "{c}"
    );
    assert!(
        near(on(&ins), vec![enc.start_ms(4), enc.start_ms(7)]),
        "{c}"
    );
    assert!(
        outs.iter().all(|o| o.0 == "#EXT-X-CUE-OUT:DURATION=4.000"),
        "{c}"
    );
    let oatcls: Vec<String> = tagged(&c, "#EXT-OATCLS-SCTE35:")
        .into_iter()
        .map(|t| t.0.split_once(':').unwrap().1.to_string())
        .collect();
    let ids: Vec<u64> = decode(&py, &oatcls)
        .iter()
        .map(|v| v["event_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [101, 202], "{c}");

    // passthrough: the encoder's own lines; none: nothing.
    let p = playlist_of(&d, &pass);
    assert!(p.contains(&enc.tags[0].1), "{p}");
    assert!(p.contains("#EXT-X-CUE-OUT:DURATION=4\n"), "{p}");
    assert!(p.contains("#EXT-X-CUE-IN\n"), "the return, as sent: {p}");
    let n = playlist_of(&d, &none);
    assert!(!n.contains("DATERANGE") && !n.contains("CUE"), "{n}");
    // An encrypted endpoint's playlists carry the markers too, beside their keys.
    let sec = wait_for(&d, &secure, |t| t.contains("#EXT-X-DATERANGE"));
    assert!(
        sec.contains("#EXT-X-KEY:METHOD=AES-128") && sec.contains("ID=\"ad-101\""),
        "{sec}"
    );

    // cmaf: an EventStream in the MPD at the same wall-clock times, and the HLS side too.
    let mpd_path = split_url(cmaf["url"].as_str().unwrap())
        .1
        .replace(".m3u8", ".mpd");
    let mpd = wait_for_text(&d, &mpd_path, |t| t.matches("<Event ").count() >= 4);
    let events = mpd_events(&mpd);
    let b64: Vec<String> = events.iter().map(|e| e.2.clone()).collect();
    let got = ids_and_ways(&decode(&py, &b64));
    assert_eq!(
        got,
        [(101, true), (101, false), (202, true), (202, false)],
        "{mpd}"
    );
    // The MPD anchors its clock on arrival: the events sit on the segments of the splice
    // points, counted from the first segment (s0).
    let first = mpd_first_segment_ms(&mpd);
    for (e, k) in events.iter().zip([2, 4, 5, 7]) {
        let want = enc.start_ms(k) - enc.start_ms(0);
        assert!(
            (e.0 - first - want).abs() <= FRAME_MS,
            "event {} ms after s0, want s{k} at {want}\n{mpd}",
            e.0 - first
        );
    }
    // An encrypted cmaf endpoint's MPD has them at the same places.
    let drm_path = split_url(drm["url"].as_str().unwrap()).1;
    let drm_mpd = wait_for_text(&d, &drm_path, |t| t.matches("<Event ").count() >= 4);
    let drm_first = mpd_first_segment_ms(&drm_mpd);
    let drm_events = mpd_events(&drm_mpd);
    for (a, b) in drm_events.iter().zip(&events) {
        assert!(
            ((a.0 - drm_first) - (b.0 - first)).abs() <= FRAME_MS,
            "encrypted {} vs clear {}\n{drm_mpd}",
            a.0 - drm_first,
            b.0 - first
        );
    }
    assert_eq!(events[0].1, Some(4.0));

    // In-band (--inband-markers): an emsg in the video segment of each splice point, which
    // threefive decodes as the same breaks; the MPD declares them.
    let inband_mpd_path = split_url(inband["url"].as_str().unwrap())
        .1
        .replace(".m3u8", ".mpd");
    let inband_mpd = wait_for_text(&d, &inband_mpd_path, |t| t.contains("<InbandEventStream"));
    assert!(
        inband_mpd.contains("<InbandEventStream schemeIdUri=\"urn:scte:scte35:2013:bin\""),
        "{inband_mpd}"
    );
    let master_path = inband_mpd_path.replace(".mpd", ".m3u8");
    let master = get(d.pull, &master_path).text();
    let video_path = resolve(&master_path, &playlist_uris(&master)[0]);
    let video = get(d.pull, &video_path).text();
    let mut inband_cues = Vec::new();
    for uri in playlist_uris(&video) {
        let seg = get(d.pull, &resolve(&video_path, &uri));
        inband_cues.extend(emsg_messages(&seg.body).into_iter().map(|m| {
            format!(
                "0x{}",
                m.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )
        }));
    }
    let got = ids_and_ways(&decode(&py, &inband_cues));
    assert_eq!(got, [(101, true), (101, false), (202, true), (202, false)]);

    // The operator's break at the next boundary (the end of s7), then an early return.
    let spliced = d.ctl_json(&["channel", "splice", &f.id, "--duration", "30"]);
    let id = spliced["event_id"].as_u64().unwrap();
    assert_eq!(spliced["signal"], "out");
    let at = parse_utc_ms(spliced["at"].as_str().unwrap()).unwrap();
    assert!((at - enc.start_ms(8)).abs() <= FRAME_MS, "{spliced}");
    enc.push(&d, &f, 9);
    let ret = d.ctl_json(&["channel", "splice", &f.id, "--return"]);
    assert_eq!(
        (ret["event_id"].as_u64(), ret["signal"].as_str()),
        (Some(id), Some("in"))
    );
    enc.push(&d, &f, 10);
    let hls = wait_for(&d, &f.endpoint, |t| {
        t.matches("#EXT-X-DATERANGE").count() >= 6
    });
    let ranges = tagged(&hls, "#EXT-X-DATERANGE");
    let (out_line, _, out_pdt) = &ranges[4];
    let (in_line, _, in_pdt) = &ranges[5];
    assert!((out_pdt - enc.start_ms(8)).abs() <= FRAME_MS, "{hls}");
    assert!((in_pdt - enc.start_ms(9)).abs() <= FRAME_MS, "{hls}");
    assert_eq!(attr(in_line, "ID"), attr(out_line, "ID"));
    let got = decode(
        &py,
        &[
            attr(out_line, "SCTE35-OUT").unwrap().into(),
            attr(in_line, "SCTE35-IN").unwrap().into(),
        ],
    );
    assert_eq!(got[0]["event_id"].as_u64(), Some(id));
    assert_eq!(
        (got[0]["out"].as_bool(), got[0]["duration"].as_f64()),
        (Some(true), Some(30.0))
    );
    assert_eq!(
        (got[1]["event_id"].as_u64(), got[1]["out"].as_bool()),
        (Some(id), Some(false))
    );
    let mpd = wait_for_text(&d, &mpd_path, |t| t.matches("<Event ").count() >= 6);
    let events = mpd_events(&mpd);
    let first = mpd_first_segment_ms(&mpd);
    let want = enc.start_ms(8) - enc.start_ms(0);
    assert!((events[4].0 - first - want).abs() <= FRAME_MS, "{mpd}");
    assert_eq!(events[4].1, Some(30.0));

    // What the CLI refuses, and why.
    let why = d.ctl_refused(&[
        "channel",
        "splice",
        &f.id,
        "--duration",
        "30",
        "--at",
        "tomorrow",
    ]);
    assert!(why.contains("rfc 3339"), "{why}");
    let why = d.ctl_refused(&[
        "channel",
        "splice",
        &f.id,
        "--duration",
        "30",
        "--id",
        &id.to_string(),
    ]);
    assert!(why.contains("already signalled"), "{why}");
    let dash = d.ctl_refused(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "d",
        "--type",
        "dash",
        "--ad-markers",
        "cue",
    ]);
    assert!(dash.contains("dash endpoint"), "{dash}");
}

#[test]
fn hostile_markers_are_dropped_and_the_channel_goes_on() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("hostile", &[]);
    let good = fake_ts(1, 50);
    let r = d.put(&f.ingest("a.ts"), &good);
    assert_eq!(r.status, 201);
    let mut pl = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n");
    // Truncated, a bad CRC, an unknown command, bad base64, 10,000 more DATERANGEs.
    pl.push_str(
        "#EXT-X-DATERANGE:ID=\"t\",START-DATE=\"2026-12-07T10:00:00Z\",SCTE35-OUT=0xfc302000\n",
    );
    pl.push_str("#EXT-X-DATERANGE:ID=\"c\",START-DATE=\"2026-12-07T10:00:00Z\",SCTE35-OUT=0xfc302000000000000000fff00f05000000657ffffe00057e40000100000000a3f41ece\n");
    pl.push_str("#EXT-X-DATERANGE:ID=\"u\",START-DATE=\"2026-12-07T10:00:00Z\",SCTE35-CMD=0xfc301100000000000000fff000420000ab5d7b4d\n");
    pl.push_str("#EXT-X-OATCLS-SCTE35:!!!not base64\n#EXT-X-CUE-OUT:DURATION=banana\n");
    for i in 0..10_000 {
        pl.push_str(&format!(
            "#EXT-X-DATERANGE:ID=\"f{i}\",START-DATE=\"2026-12-07T10:00:00Z\",SCTE35-OUT=0xfc\n"
        ));
    }
    pl.push_str("#EXTINF:2.0,\na.ts\n");
    let r = d.put(&f.ingest("index.m3u8"), pl.as_bytes());
    assert_eq!(
        r.status, 201,
        "a playlist is not refused for its markers: {r:?}"
    );
    let hls = wait_for(&d, &f.endpoint, |t| t.contains("a.ts") || t.contains(".ts"));
    assert!(!hls.contains("DATERANGE") && !hls.contains("CUE"), "{hls}");
    let log = d.stderr_log();
    assert!(log.contains("ad marker dropped"), "warned: {log}");
    assert!(
        log.contains("before the last 32"),
        "the flood is cut short: {log}"
    );
    // The channel goes on.
    let r = d.put(&f.ingest("b.ts"), &fake_ts(2, 50));
    assert_eq!(r.status, 201);
    let pl2 = pl.replace(
        "#EXTINF:2.0,\na.ts\n",
        "#EXTINF:2.0,\na.ts\n#EXTINF:2.0,\nb.ts\n",
    );
    let r = d.put(&f.ingest("index.m3u8"), pl2.as_bytes());
    assert_eq!(r.status, 201);
    wait_for(&d, &f.endpoint, |t| t.matches(".ts").count() >= 2);
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// The endpoint's manifest once `ok` holds (10 s at most).
fn wait_for(d: &Daemon, ep: &Value, ok: impl Fn(&str) -> bool) -> String {
    let path = split_url(ep["url"].as_str().unwrap()).1;
    wait_for_text(d, &path, ok)
}

fn wait_for_text(d: &Daemon, path: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(d.pull, path);
        let t = r.text();
        if r.status == 200 && ok(&t) {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {} {t}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Injects `cues` into segment `ts` with threefive's SuperKabuki (PID 0x86, stream type 0x86).
fn inject(py: &Path, dir: &Path, ts: &[u8], cues: &[String]) -> Vec<u8> {
    let (src, dst) = (dir.join("inject-in.ts"), dir.join("inject-out.ts"));
    std::fs::write(&src, ts).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/inject_scte35.py");
    let out = Command::new(py)
        .arg(script)
        .arg(&src)
        .arg(&dst)
        .arg("0")
        .args(cues)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inject_scte35.py: {}",
        text(&out.stderr)
    );
    std::fs::read(&dst).unwrap()
}

#[test]
fn cues_carried_in_ts_segments_are_signalled_at_their_pts() {
    let Some(py) = threefive_python() else { return };
    if !require_tool("ffmpeg") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("ts-cues", &[]);
    let mut segs = hls_segments(work.path());
    // A break 1 s into s2 (no segment boundary there), its return at s4's first frame.
    let pts = |i: usize| ts_first_video_pts(&segs[i].0).unwrap() as f64 / 90_000.0;
    let out_pts = format!("{:.6}", pts(2) + 1.0);
    let in_pts = format!("{:.6}", pts(4));
    let out = scte35(&py, &["encode", "401", "4", "1", &out_pts])
        .trim()
        .to_string();
    let back = scte35(&py, &["encode", "401", "0", "0", &in_pts])
        .trim()
        .to_string();
    segs[2].0 = inject(&py, work.path(), &segs[2].0, &[out]);
    segs[4].0 = inject(&py, work.path(), &segs[4].0, &[back]);
    let enc = Encoder::started_ago(30, segs);
    enc.push(&d, &f, 6);
    let hls = wait_for(&d, &f.endpoint, |t| {
        t.matches("#EXT-X-DATERANGE").count() >= 2
    });
    let ranges = tagged(&hls, "#EXT-X-DATERANGE");
    let got = decode(&py, &daterange_cues(&ranges));
    assert_eq!(got[0]["event_id"].as_u64(), Some(401), "{hls}");
    assert_eq!(
        (got[0]["out"].as_bool(), got[0]["duration"].as_f64()),
        (Some(true), Some(4.0))
    );
    assert_eq!(
        (got[1]["event_id"].as_u64(), got[1]["out"].as_bool()),
        (Some(401), Some(false))
    );
    // The break starts 1 s into s2 (signalled on s2 with its exact time), returns at s4.
    let start = parse_utc_ms(attr(&ranges[0].0, "START-DATE").unwrap()).unwrap();
    assert!(
        (start - (enc.start_ms(2) + 1000)).abs() <= FRAME_MS,
        "{hls}"
    );
    assert!(
        (ranges[0].2 - enc.start_ms(2)).abs() <= FRAME_MS,
        "on s2: {hls}"
    );
    assert!(
        (ranges[1].2 - enc.start_ms(4)).abs() <= FRAME_MS,
        "the return on s4: {hls}"
    );
    assert_eq!(
        attr(&ranges[1].0, "DURATION"),
        Some("3.000"),
        "{}",
        ranges[1].0
    );
    // Said, not silent: the splice point is inside a segment.
    let log = d.stderr_log();
    assert!(log.contains("into its segment"), "{log}");
}

#[test]
fn the_backups_markers_are_served_after_a_failover_without_a_second_break() {
    let Some(py) = threefive_python() else { return };
    if !require_tool("ffmpeg") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("ads-failover", &["--max-segment-duration", "2"]);
    let backup_path = split_url(&f.backup_url).1;
    let segs = hls_segments(work.path());
    let range = |enc: &Encoder, i: usize, id: &str, hex: &str, dir: &str| {
        format!(
            "#EXT-X-DATERANGE:ID=\"{id}\",START-DATE=\"{}\",SCTE35-{dir}={hex}",
            enc.date(i)
        )
    };
    let out_500 = scte35(&py, &["encode", "500", "4", "1"]).trim().to_string();
    let out_501 = scte35(&py, &["encode", "501", "4", "1"]).trim().to_string();
    let mut primary = Encoder::started_ago(20, segs.clone());
    primary.tags = vec![(3, range(&primary, 3, "ad-500", &out_500, "OUT"))];
    // Both encoders carry break 500; the backup signals it again on s6 (a re-sent cue), and
    // has a break of its own, 501, at s7.
    let mut backup = Encoder {
        segs,
        ..primary.clone()
    };
    backup.tags = vec![
        (3, range(&backup, 3, "ad-500", &out_500, "OUT")),
        (6, range(&backup, 3, "ad-500", &out_500, "OUT")),
        (7, range(&backup, 7, "ad-501", &out_501, "OUT")),
    ];
    primary.push_to(&d, &f.primary_path, 6);
    backup.push_to(&d, &backup_path, 6);
    // The primary goes silent; the backup goes on, one segment a second, and takes over.
    for n in 7..=10 {
        std::thread::sleep(Duration::from_secs(1));
        backup.push_to(&d, &backup_path, n);
    }
    let hls = wait_for(&d, &f.endpoint, |t| {
        t.contains("s9") || t.matches("#EXTINF").count() >= 10
    });
    let show = d.ctl_json(&["channel", "show", &f.id]);
    assert_eq!(show["live"]["active_input"], "backup", "{show}");
    let ranges = tagged(&hls, "#EXT-X-DATERANGE");
    let ids: Vec<&str> = ranges.iter().map(|r| attr(&r.0, "ID").unwrap()).collect();
    assert_eq!(
        ids,
        ["ad-500", "ad-501"],
        "one break 500, then the backup's 501: {hls}"
    );
    assert!(
        (ranges[0].2 - primary.start_ms(3)).abs() <= FRAME_MS,
        "{hls}"
    );
    assert!(
        (ranges[1].2 - backup.start_ms(7)).abs() <= FRAME_MS,
        "{hls}"
    );
    let got = decode(&py, &[attr(&ranges[1].0, "SCTE35-OUT").unwrap().into()]);
    assert_eq!(got[0]["event_id"].as_u64(), Some(501));
}

#[test]
fn dash_input_events_and_splices_reach_dash_endpoints() {
    let Some(py) = threefive_python() else { return };
    if !require_tool("ffmpeg") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let d = Daemon::start(DaemonOpts::default());
    let f = d.dash_channel("dash-ads", &[]);
    let out_604 = scte35(&py, &["encode", "604", "2", "1"]).trim().to_string();
    for (name, mut bytes) in ffmpeg_dash_files(work.path()) {
        // In-band: an emsg (version 0) on the video segment at 10 s, 0.5 s into it.
        if name == "chunk-stream0-00006.m4s" {
            bytes = with_emsg(
                &bytes,
                12_800,
                6_400,
                &hex_bytes(out_604.trim_start_matches("0x")),
            );
        }
        let r = d.put(&f.ingest(&name), &bytes);
        assert_eq!(r.status, 201, "{name}: {r:?}");
    }
    // The encoder's MPD with two events: binary at 4 s, XML at 8 s (timescale 1000).
    let out_601 = scte35(&py, &["encode", "601", "4", "1"]).trim().to_string();
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(hex_bytes(out_601.trim_start_matches("0x")));
    let events = format!(
        "<EventStream schemeIdUri=\"urn:scte:scte35:2014:xml+bin\" timescale=\"1000\">\
         <Event presentationTime=\"4000\" duration=\"4000\" id=\"1\"><Signal xmlns=\"http://www.scte.org/schemas/35/2016\"><Binary>{b64}</Binary></Signal></Event></EventStream>\
         <EventStream schemeIdUri=\"urn:scte:scte35:2013:xml\" timescale=\"1000\">\
         <Event presentationTime=\"8000\" id=\"2\"><SpliceInfoSection xmlns=\"http://www.scte.org/schemas/35/2016\"><SpliceInsert spliceEventId=\"602\" outOfNetworkIndicator=\"true\" spliceImmediateFlag=\"true\"><BreakDuration autoReturn=\"true\" duration=\"180000\"/></SpliceInsert></SpliceInfoSection></Event></EventStream>"
    );
    let mpd = std::fs::read_to_string(work.path().join("manifest.mpd"))
        .unwrap()
        .replacen(
            "<Period id=\"0\" start=\"PT0.0S\">",
            &format!("<Period id=\"0\" start=\"PT0.0S\">{events}"),
            1,
        );
    let r = d.put(&f.ingest("manifest.mpd"), mpd.as_bytes());
    assert_eq!(r.status, 201, "{r:?}");

    let out = wait_for(&d, &f.endpoint, |t| t.matches("<Event ").count() >= 3);
    let events = mpd_events(&out);
    let first = mpd_first_segment_ms(&out);
    let got = decode(&py, &events.iter().map(|e| e.2.clone()).collect::<Vec<_>>());
    let summary = summarize(&got);
    assert_eq!(
        summary,
        [
            (601, true, Some(4.0)),
            (602, true, Some(2.0)),
            (604, true, Some(2.0))
        ],
        "{out}"
    );
    for (e, at) in events.iter().zip([4000, 8000, 10_500]) {
        assert!(
            (e.0 - first - at).abs() <= FRAME_MS,
            "event {} ms into the Period, want {at}\n{out}",
            e.0 - first
        );
    }

    // The operator's break goes at the live edge: the end of the newest segment (12 s).
    let spliced = d.ctl_json(&[
        "channel",
        "splice",
        &f.id,
        "--duration",
        "10",
        "--id",
        "603",
    ]);
    assert_eq!(spliced["event_id"], 603);
    let out = wait_for(&d, &f.endpoint, |t| t.matches("<Event ").count() >= 4);
    let events = mpd_events(&out);
    let e = events
        .iter()
        .find(|e| e.1 == Some(10.0))
        .expect("the operator's break");
    assert!((e.0 - first - 12_000).abs() <= FRAME_MS, "{out}");
}

/// The messages of the version 1 `emsg` boxes ahead of a segment's `moof`.
fn emsg_messages(segment: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= segment.len() {
        let size = u32::from_be_bytes(segment[at..at + 4].try_into().unwrap()) as usize;
        if size < 8 || at + size > segment.len() {
            break;
        }
        if &segment[at + 4..at + 8] == b"emsg" && segment[at + 8] == 1 {
            // version/flags, timescale, presentation_time, duration, id, then two C strings.
            let mut rest = &segment[at + 12 + 20..at + size];
            for _ in 0..2 {
                let nul = rest.iter().position(|&b| b == 0).unwrap();
                rest = &rest[nul + 1..];
            }
            out.push(rest.to_vec());
        }
        at += size;
    }
    out
}

/// `segment` with an `emsg` (version 0, `urn:scte:scte35:2013:bin`) carrying `section`
/// `delta` ticks of `timescale` after its start, ahead of its `moof` (after its `styp`).
fn with_emsg(segment: &[u8], timescale: u32, delta: u32, section: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8; 4];
    body.extend_from_slice(b"urn:scte:scte35:2013:bin\0\0");
    for v in [timescale, delta, 0, 1] {
        body.extend_from_slice(&v.to_be_bytes());
    }
    body.extend_from_slice(section);
    let mut emsg = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    emsg.extend_from_slice(b"emsg");
    emsg.extend_from_slice(&body);
    let first = u32::from_be_bytes(segment[..4].try_into().unwrap()) as usize;
    let at = if &segment[4..8] == b"styp" { first } else { 0 };
    [&segment[..at], &emsg, &segment[at..]].concat()
}
