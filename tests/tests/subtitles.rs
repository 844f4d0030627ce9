//! Subtitles and captions. WebVTT subtitles pushed with HLS (ffmpeg
//! `-var_stream_map "v:0,a:0,s:0,sgroup:subs"`) pass to `hls` endpoints: the multivariant
//! playlist keeps its `EXT-X-MEDIA:TYPE=SUBTITLES` rendition, ffprobe finds the subtitle
//! stream, and hls.js and Shaka in Chromium load the text track and show each cue while the
//! video is at its time. `cmaf` endpoints carry them as WebVTT in fMP4 (`wvtt`): hls.js plays
//! the fMP4 HLS master and Shaka the MPD, both showing the cues in step. CEA-608 captions in the H.264 SEI of TS segments survive the
//! repackaging into CMAF, which announces them (`CLOSED-CAPTIONS`, DASH `Accessibility`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use streampack_tests::*;

/// How long the push lasts: the wait for segments plus four 15 s watches.
const PUSH_SECONDS: u32 = 115;
const WATCH_SECONDS: u32 = 15;

/// A WebVTT file with one cue a second, `cue N` from N s to N+1 s.
fn subtitles(dir: &Path) -> std::path::PathBuf {
    let mut vtt = String::from("WEBVTT\n\n");
    let t = |s: u32| format!("{:02}:{:02}:{:02}.000", s / 3600, s / 60 % 60, s % 60);
    for i in 0..PUSH_SECONDS + 5 {
        vtt.push_str(&format!("{} --> {}\ncue {i}\n\n", t(i), t(i + 1)));
    }
    let path = dir.join("subs.vtt");
    std::fs::write(&path, vtt).unwrap();
    path
}

/// ffmpeg pushing video, audio and the subtitles as one variant with a subtitles group.
fn push(input_url: &str, vtt: &Path, log: &Path) -> Child {
    // The live source's `-t` ends its argument list: here it bounds the subtitles input, and
    // the output is bounded again below.
    let mut a = ffmpeg_live_source_args(PUSH_SECONDS);
    a.extend(["-i".to_string(), vtt.display().to_string()]);
    a.extend(["-t".to_string(), PUSH_SECONDS.to_string()]);
    a.extend(
        ["-map", "0:v", "-map", "1:a", "-map", "2:s"]
            .iter()
            .chain(&X264_2S_GOP)
            .chain(&[
                "-preset",
                "veryfast",
                "-b:v",
                "600k",
                "-c:a",
                "aac",
                "-c:s",
                "webvtt",
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
                "-var_stream_map",
                "v:0,a:0,s:0,sgroup:subs",
                "-master_pl_name",
                "main.m3u8",
                "-hls_segment_filename",
            ])
            .map(|s| s.to_string()),
    );
    a.push(format!("{input_url}/v%v_%05d.ts"));
    a.push(format!("{input_url}/v%v.m3u8"));
    spawn_ffmpeg(a, log)
}

#[test]
fn webvtt_subtitles_pass_to_hls_endpoints_and_players_show_them() {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        "subs",
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "120",
            "--end-on-endlist",
        ],
    );
    let cmaf = d.ctl_json(&[
        "endpoint", "create", &f.id, "--name", "cmaf", "--type", "cmaf",
    ]);
    let mpd_url = cmaf["url"].as_str().unwrap().to_string();
    let cmaf_master_url = mpd_url.replace(".mpd", ".m3u8");
    let log = d.dir().join("ffmpeg-push.log");
    let mut ffmpeg = Killed(push(&f.primary_url, &subtitles(work.path()), &log));
    let push_log = || text(&std::fs::read(&log).unwrap_or_default());

    // The multivariant playlist names the subtitles rendition; its playlist lists WebVTT.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (master, subs_path) = loop {
        let m = get(d.pull, &f.endpoint_path);
        let t = m.text();
        if m.status == 200 && t.contains("TYPE=SUBTITLES") {
            let line = t.lines().find(|l| l.contains("TYPE=SUBTITLES")).unwrap();
            let uri = line
                .split("URI=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let p = resolve(&f.endpoint_path, uri);
            if playlist_uris(&get(d.pull, &p).text()).len() >= 3 {
                break (t, p);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no subtitles rendition: {} {t}\n{}",
            m.status,
            push_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(master.contains("GROUP-ID=\"subs\""), "{master}");
    assert!(master.contains("SUBTITLES=\"subs\""), "{master}");
    let subs = get(d.pull, &subs_path).text();
    let seg = resolve(&subs_path, &playlist_uris(&subs)[0]);
    let vtt = get(d.pull, &seg);
    assert_eq!(vtt.header("content-type"), Some("text/vtt"), "{vtt:?}");
    assert!(vtt.text().starts_with("WEBVTT"), "{}", vtt.text());
    // ffmpeg writes no X-TIMESTAMP-MAP; the origin does: cue time 0 is the stream's first frame.
    assert!(
        vtt.text().contains("X-TIMESTAMP-MAP=MPEGTS:"),
        "{}",
        vtt.text()
    );

    // Where the video starts on the wall clock: its first segment's program date.
    let variant = playlist_uris(&master).into_iter().next().unwrap();
    let video = get(d.pull, &resolve(&f.endpoint_path, &variant)).text();
    let video_start_ms = dated_segments(&video)[0].start_unix_ms.unwrap();
    assert!(video.contains("#EXT-X-MEDIA-SEQUENCE:"), "{video}");
    // The CMAF endpoint: the fMP4 HLS master lists the WebVTT files (HLS carries WebVTT as
    // text), the MPD a wvtt text track.
    let master_path = split_url(&cmaf_master_url).1;
    let cmaf_master = get(d.pull, &master_path).text();
    assert!(
        cmaf_master.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\"")
            && cmaf_master.contains("SUBTITLES=\"subs\""),
        "{cmaf_master}"
    );
    let text_list_uri = cmaf_master
        .lines()
        .find(|l| l.contains("TYPE=SUBTITLES"))
        .and_then(|l| l.split("URI=\"").nth(1))
        .and_then(|u| u.split('"').next())
        .unwrap();
    let text_list_path = resolve(&master_path, text_list_uri);
    let text_list = get(d.pull, &text_list_path).text();
    let vtt_file = get(
        d.pull,
        &resolve(&text_list_path, &playlist_uris(&text_list)[0]),
    );
    assert_eq!(
        vtt_file.header("content-type"),
        Some("text/vtt"),
        "{text_list}"
    );
    let wvtt_list_path = text_list_path.replace("/webvtt.m3u8", "/text.m3u8");
    let wvtt_list = get(d.pull, &wvtt_list_path).text();
    let text_seg = get(
        d.pull,
        &resolve(&wvtt_list_path, &playlist_uris(&wvtt_list)[1]),
    );
    assert_eq!(text_seg.status, 200, "{wvtt_list}");
    assert!(
        text_seg.body.windows(4).any(|w| w == b"vttc"),
        "a text fragment shows a cue"
    );
    let mpd = get(d.pull, &split_url(&mpd_url).1).text();
    assert!(
        mpd.contains("contentType=\"text\" mimeType=\"application/mp4\"")
            && mpd.contains("codecs=\"wvtt\""),
        "{mpd}"
    );
    let cmaf_variant = playlist_uris(&cmaf_master).into_iter().next().unwrap();
    let cmaf_video = get(d.pull, &resolve(&master_path, &cmaf_variant)).text();
    let cmaf_start_ms = dated_segments(&cmaf_video)[0].start_unix_ms.unwrap();

    // Players: the HLS endpoint in hls.js and Shaka, the CMAF endpoint's fMP4 HLS in hls.js
    // and its MPD in Shaka (whose program dates are the MPD's clock, not the playlists').
    let watches = [
        (Player::HlsJs, f.endpoint_url.as_str(), Some(video_start_ms)),
        (Player::Shaka, f.endpoint_url.as_str(), Some(video_start_ms)),
        (Player::HlsJs, cmaf_master_url.as_str(), Some(cmaf_start_ms)),
        (Player::Shaka, mpd_url.as_str(), None),
    ];
    for (player, url, start_ms) in watches {
        let Some(pb) = play_in_browser_text(player, url, WATCH_SECONDS) else {
            return;
        };
        let v: Value = serde_json::from_str(&pb.json).unwrap();
        eprintln!(
            "[subtitles {player:?} {url}] tracks {} samples {}",
            v["text_tracks"], v["text_samples"]
        );
        assert!(
            !pb.fatal && pb.advanced >= 10.0,
            "{player:?} played {url} for {}: {}",
            pb.advanced,
            pb.json
        );
        check_cues_in_step(player, &v, start_ms);
    }
    assert!(
        ffmpeg.0.try_wait().unwrap().is_none(),
        "the push ended before the watches: {}",
        push_log()
    );

    // ffprobe reads the subtitle stream through the endpoint once the stream ended (its
    // rendition playlist: ffmpeg 5.1's HLS demuxer skips subtitle renditions of a
    // multivariant playlist, and its WebVTT reader waits for the end of a live one).
    let status = wait_child(
        &mut ffmpeg.0,
        Duration::from_secs(u64::from(PUSH_SECONDS) + 30),
    );
    assert!(status.success(), "{}", push_log());
    let deadline = Instant::now() + Duration::from_secs(15);
    while !get(d.pull, &subs_path).text().contains("#EXT-X-ENDLIST") {
        assert!(
            Instant::now() < deadline,
            "the subtitles playlist did not end"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let probe = run_with_timeout(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type,codec_name",
                "-of",
                "compact",
            ])
            .arg(format!("http://{}{subs_path}", d.pull)),
        Duration::from_secs(30),
    );
    let probed = text(&probe.stdout);
    assert!(
        probed.contains("codec_name=webvtt|codec_type=subtitle"),
        "{probed}\n{}",
        text(&probe.stderr)
    );
}

/// Cues were shown for most of the watch, one after the other, each while the video was at
/// its time: `cue N` is on screen at source second N, so the playhead minus N stays the same
/// (within the second a cue lasts) over the whole watch.
fn check_cues_in_step(player: Player, v: &Value, video_start_ms: Option<i64>) {
    let samples = v["text_samples"].as_array().unwrap();
    let shown: Vec<(f64, i64)> = samples
        .iter()
        .filter_map(|s| {
            let t = s[0].as_f64()?;
            let texts = s[2].as_array()?;
            let n = texts
                .iter()
                .find_map(|x| x.as_str()?.strip_prefix("cue ")?.trim().parse::<i64>().ok())?;
            Some((t, n))
        })
        .collect();
    assert!(
        shown.len() >= samples.len() / 2 && shown.len() >= 20,
        "{player:?} showed cues in {} of {} samples: {v}",
        shown.len(),
        samples.len()
    );
    let distinct: std::collections::BTreeSet<i64> = shown.iter().map(|s| s.1).collect();
    assert!(distinct.len() >= 8, "{player:?} showed only {distinct:?}");
    // And against the video's own timeline: the player's program date for the playhead, minus
    // the cue's second, is where source second 0 is on the wall clock: the program date of
    // the first video segment (the window holds the whole push).
    let dated: Vec<f64> = samples
        .iter()
        .filter_map(|s| {
            let date = s[1].as_f64()?;
            let n = s[2]
                .as_array()?
                .iter()
                .find_map(|x| x.as_str()?.strip_prefix("cue ")?.trim().parse::<i64>().ok())?;
            Some(date - n as f64 * 1000.0)
        })
        .collect();
    // Cue N spans N s to N+1 s of the source: shown then, give or take a sample (250 ms) and
    // a frame, never a second early (a missing X-TIMESTAMP-MAP showed them 1.4 s early).
    if let Some(zero) = video_start_ms {
        assert!(dated.len() >= 20, "{player:?} gave no program dates: {v}");
        let zero = zero as f64;
        assert!(
        dated
            .iter()
            .all(|d| (-300.0..=1350.0).contains(&(d - zero))),
        "{player:?}: cue N is not shown N s into the video (first video segment at {zero}): {:?}",
        dated.iter().map(|d| d - zero).collect::<Vec<_>>()
        );
    }
    let offsets: Vec<f64> = shown.iter().map(|(t, n)| t - *n as f64).collect();
    let (lo, hi) = offsets
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &o| (a.min(o), b.max(o)));
    assert!(
        hi - lo <= 1.3,
        "{player:?}: cues drift against the playhead ({lo:.3}..{hi:.3}): {shown:?}"
    );
}

#[test]
fn cea608_captions_survive_repackaging_and_are_announced() {
    if !require_tool("ffmpeg") || !require_tool("python3") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // Captions the way broadcast encoders carry them: an A/53 SEI in every access unit
    // (tests/python/add_cea608.py), kept by libx264 when ffmpeg encodes the segments.
    let raw = dir.join("raw.h264");
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
            .args(["-t", "25", "-c:v", "libx264", "-bf", "0", "-f", "h264"])
            .arg(&raw),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/add_cea608.py");
    let cc = dir.join("cc.h264");
    let out = run_with_timeout(
        Command::new("python3")
            .arg(script)
            .arg(&raw)
            .arg(&cc)
            .arg("HELLO STREAMPACK "),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cc_arg = cc.display().to_string();
    let segs = hls_segments_of(dir, &["-r", "25", "-i", &cc_arg]);

    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("captions", &[]);
    let cmaf = d.ctl_json(&[
        "endpoint", "create", &f.id, "--name", "cmaf", "--type", "cmaf",
    ]);
    let enc = Encoder::started_ago(30, segs);
    enc.push(&d, &f, 6);

    let mpd_path = split_url(cmaf["url"].as_str().unwrap()).1;
    let master_path = mpd_path.replace(".mpd", ".m3u8");
    let deadline = Instant::now() + Duration::from_secs(10);
    let master = loop {
        let r = get(d.pull, &master_path);
        if r.status == 200 && r.text().contains("CLOSED-CAPTIONS") {
            break r.text();
        }
        assert!(
            Instant::now() < deadline,
            "no CLOSED-CAPTIONS: {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        master.contains("#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\"")
            && master.contains("INSTREAM-ID=\"CC1\""),
        "{master}"
    );
    assert!(
        master.contains("CLOSED-CAPTIONS=\"cc\""),
        "the variant names the group: {master}"
    );
    let mpd = get(d.pull, &mpd_path).text();
    assert!(
        mpd.contains(
            "<Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-608:2015\" value=\"CC1\"/>"
        ),
        "{mpd}"
    );
    // The SEI is in the CMAF samples, cc_data and all: field-1 CEA-608 pairs of the text.
    let variant = playlist_uris(&master).into_iter().next().unwrap();
    let video_path = resolve(&master_path, &variant);
    let video = get(d.pull, &video_path).text();
    let seg = get(d.pull, &resolve(&video_path, &playlist_uris(&video)[1]));
    assert_eq!(seg.status, 200);
    let body = &seg.body;
    let at = body
        .windows(5)
        .position(|w| w == b"GA94\x03")
        .expect("an A/53 SEI in the sample");
    assert_eq!(body[at + 5] & 0x1F, 1, "cc_count 1");
    assert_eq!(body[at + 7], 0xFC, "field 1, valid, CEA-608");
    let pair = [body[at + 8] & 0x7F, body[at + 9] & 0x7F];
    assert!(
        "HELLO STREAMPACK ".as_bytes().windows(2).any(|w| w == pair),
        "the pair {pair:?} is not from the captions' text"
    );
    // ffprobe reads the captions from the CMAF endpoint's video.
    let probe = run_with_timeout(
        Command::new("ffprobe")
            .args(["-hide_banner"])
            .arg(format!("http://{}{video_path}", d.pull)),
        Duration::from_secs(30),
    );
    assert!(
        text(&probe.stderr).contains("Closed Captions"),
        "{}",
        text(&probe.stderr)
    );
}

/// A DASH encoder's text AdaptationSet (WebVTT in fMP4, `wvtt`) is served by `dash` endpoints:
/// announced in the MPD (language, codecs, Role) and its segments byte for byte as pushed.
/// ffmpeg 5.1 writes no `wvtt`: the text track is built here with the core's writer and
/// added to ffmpeg's MPD the way packagers that carry subtitles write it.
#[test]
fn dash_input_text_adaptation_sets_are_served_by_dash_endpoints() {
    use streampack_core::fmp4::{init_segment, InitParams, SampleEntry};
    use streampack_core::webvtt::{wvtt, Cue};
    if !require_tool("ffmpeg") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let d = Daemon::start(DaemonOpts::default());
    let f = d.dash_channel("dash-subs", &[]);
    let mut pushed: Vec<(String, Vec<u8>)> = ffmpeg_dash_files(work.path());
    let init = init_segment(&InitParams {
        track_id: 1,
        timescale: 1000,
        entry: SampleEntry::WebVtt {
            config: "WEBVTT".into(),
        },
        profile_brand: None,
        language: *b"eng",
    });
    pushed.push(("init-stream2.m4s".into(), init));
    for i in 0..6u64 {
        let cue = Cue {
            id: String::new(),
            start_ms: i * 2000 + 500,
            end_ms: i * 2000 + 1500,
            settings: String::new(),
            payload: format!("cue {i}"),
        };
        let frag = wvtt::fragment(i as u32 + 1, 1, &[cue], i * 2000, (i + 1) * 2000);
        pushed.push((format!("chunk-stream2-{:05}.m4s", i + 1), frag));
    }
    for (name, bytes) in &pushed {
        let r = d.put(&f.ingest(name), bytes);
        assert_eq!(r.status, 201, "{name}: {r:?}");
    }
    let text_set = "<AdaptationSet id=\"2\" contentType=\"text\" lang=\"eng\">\
         <Representation id=\"2\" mimeType=\"application/mp4\" codecs=\"wvtt\" bandwidth=\"1000\">\
         <SegmentTemplate timescale=\"1000\" initialization=\"init-stream$RepresentationID$.m4s\" \
         media=\"chunk-stream$RepresentationID$-$Number%05d$.m4s\" startNumber=\"1\">\
         <SegmentTimeline><S t=\"0\" d=\"2000\" r=\"5\"/></SegmentTimeline></SegmentTemplate>\
         </Representation></AdaptationSet></Period>";
    let mpd = std::fs::read_to_string(work.path().join("manifest.mpd"))
        .unwrap()
        .replacen("</Period>", text_set, 1);
    let r = d.put(&f.ingest("manifest.mpd"), mpd.as_bytes());
    assert_eq!(r.status, 201, "{r:?}");

    let mpd_path = f.endpoint_path.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let r = get(d.pull, &mpd_path);
        if r.status == 200 && r.text().matches("<S ").count() >= 3 && r.text().contains("wvtt") {
            break r.text();
        }
        assert!(
            Instant::now() < deadline,
            "no text AdaptationSet: {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let set = out
        .split("<AdaptationSet")
        .find(|s| s.contains("contentType=\"text\""))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(set.contains("lang=\"eng\""), "{out}");
    assert!(set.contains("codecs=\"wvtt\""), "{out}");
    assert!(
        set.contains("<Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"subtitle\"/>"),
        "{out}"
    );
    // Every text segment it lists is the one pushed, byte for byte.
    let init = xml_attr(set, "SegmentTemplate", "initialization").unwrap();
    let media = xml_attr(set, "SegmentTemplate", "media").unwrap();
    let start: u64 = xml_attr(set, "SegmentTemplate", "startNumber")
        .unwrap()
        .parse()
        .unwrap();
    let rep = xml_attr(set, "Representation", "id").unwrap();
    let expand = |t: &str, n: u64| {
        let t = t.replace("$RepresentationID$", &rep);
        match t.split_once("$Number") {
            Some((a, rest)) => {
                let (fmt, b) = rest.split_once('$').unwrap();
                let width: usize = fmt
                    .trim_start_matches("%0")
                    .trim_end_matches('d')
                    .parse()
                    .unwrap_or(0);
                format!("{a}{n:0width$}{b}")
            }
            None => t,
        }
    };
    let got_init = get(d.pull, &resolve(&mpd_path, &expand(&init, 0)));
    assert_eq!(got_init.status, 200, "{init}");
    assert_eq!(
        got_init.body,
        pushed.iter().find(|p| p.0 == "init-stream2.m4s").unwrap().1
    );
    let listed = set.matches("<S ").count().max(1) as u64;
    let mut matched = 0;
    for n in start..start + listed.max(6) {
        let r = get(d.pull, &resolve(&mpd_path, &expand(&media, n)));
        if r.status != 200 {
            continue;
        }
        assert!(
            pushed.iter().any(|(_, b)| *b == r.body),
            "text segment {n} is not one pushed"
        );
        assert!(r.body.windows(4).any(|w| w == b"vttc"));
        matched += 1;
    }
    assert!(matched >= 3, "{matched} text segments served:\n{out}");
}
