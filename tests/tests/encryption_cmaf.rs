//! CMAF endpoints in Common Encryption end to end: ffmpeg pushes live HLS/TS, the origin
//! repackages it into CMAF and serves it clear, in `cenc` and in `cbcs`. ffmpeg decrypts an
//! init + media segment with the key `endpoint keys` lists and decodes the same frames as the
//! clear endpoint's; the MPD and playlists announce the protection; dash.js and Shaka play
//! both schemes with the browser's ClearKey CDM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};
use streampack_tests::*;

struct Setup {
    d: Daemon,
    f: Fixture,
    _push: Killed,
}

/// Path of an endpoint's manifest by name, and its one key (kid hex, key hex).
struct Encrypted {
    mpd_path: String,
    mpd_url: String,
    kid: String,
    key: String,
}

/// An HLS channel (TS repackaged into CMAF) with a clear `cmaf` endpoint, `cenc` and `cbcs`
/// ones and a `cenc` one rotating keys every 4 s, ffmpeg pushing.
fn start(push_seconds: u32) -> Option<Setup> {
    start_on(false, push_seconds)
}

/// [`start`], or (`dash`) a DASH channel with ffmpeg's fMP4 pushed as it is: the clear,
/// `cenc` and rotating endpoints of type `dash`, the `cbcs` one `cmaf` (MPD and fMP4 HLS).
fn start_on(dash: bool, push_seconds: u32) -> Option<Setup> {
    if !require_tool("ffmpeg") {
        return None;
    }
    let d = Daemon::start(DaemonOpts::default());
    let opts = [
        "--max-segment-duration",
        "4",
        "--max-playlist-duration",
        "30",
    ];
    let f = if dash {
        d.dash_channel("cenc", &opts)
    } else {
        d.hls_channel("cenc", &opts)
    };
    let kind = |scheme: &str| {
        if dash && scheme != "cbcs" {
            "dash"
        } else {
            "cmaf"
        }
    };
    d.ctl_json(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "clear",
        "--type",
        kind("clear"),
    ]);
    for scheme in ["cenc", "cbcs"] {
        let ep = d.ctl_json(&[
            "endpoint",
            "create",
            &f.id,
            "--name",
            scheme,
            "--type",
            kind(scheme),
            "--encryption",
            scheme,
        ]);
        assert_eq!(ep["encryption"], scheme, "{ep}");
    }
    // Rotation: a new key every 4 s (every second segment), announced a period ahead.
    d.ctl_json(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "rotating",
        "--type",
        kind("rotating"),
        "--encryption",
        "cenc",
        "--key-rotation",
        "4",
    ]);
    let log = d.dir().join("ffmpeg-push.log");
    let push = if dash {
        ffmpeg_push_dash(DashPush::Timeline, &f.primary_url, push_seconds, &log)
    } else {
        ffmpeg_push_hls(HlsPush::Ts, &f.primary_url, push_seconds, &log)
    };
    Some(Setup {
        d,
        f,
        _push: Killed(push),
    })
}

fn endpoint(s: &Setup, name: &str) -> Encrypted {
    let ep = s.d.ctl_json(&["endpoint", "show", &s.f.id, name]);
    let mpd_url = ep["url"].as_str().unwrap().to_string();
    // The first key is made when the first segment is encrypted.
    let deadline = Instant::now() + Duration::from_secs(40);
    let keys = loop {
        if ep["encryption"] == "none" {
            break Vec::new();
        }
        let keys = s.d.ctl_json(&["endpoint", "keys", &s.f.id, name]);
        let keys = keys.as_array().cloned().unwrap_or_default();
        if !keys.is_empty() {
            break keys;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: no key 40 s into the push"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let (kid, key) = keys
        .first()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_string(),
                k["key"].as_str().unwrap().to_string(),
            )
        })
        .unwrap_or_default();
    Encrypted {
        mpd_path: split_url(&mpd_url).1,
        mpd_url,
        kid,
        key,
    }
}

/// Waits until the endpoint's MPD lists `n` segments per track; returns it.
fn wait_mpd(s: &Setup, path: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = get(s.d.pull, path);
        if r.status == 200 {
            let mpd = r.text();
            let tracks = mpd_tracks(&mpd, path);
            if !tracks.is_empty() && tracks.iter().all(|t| t.segments.len() >= n) {
                return mpd;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {n} segments never listed: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Decodes `file` with ffmpeg (with `key` when given); (media time decoded in µs, ffmpeg's
/// errors).
fn decode(file: &std::path::Path, key: Option<&str>) -> (u64, String) {
    let mut c = Command::new("ffmpeg");
    c.args(["-nostdin", "-nostats", "-loglevel", "error"]);
    if let Some(k) = key {
        c.args(["-decryption_key", k]);
    }
    c.arg("-i")
        .arg(file)
        .args(["-f", "null", "-progress", "pipe:1", "-"]);
    let out = run_with_timeout(&mut c, Duration::from_secs(30));
    let decoded_us = text(&out.stdout)
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("out_time_us="))
        .find_map(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    (decoded_us, text(&out.stderr))
}

#[test]
fn ffmpeg_decrypts_cenc_and_cbcs_with_the_listed_key() {
    let Some(s) = start(60) else { return };
    ffmpeg_decrypts(&s);
}

#[test]
fn ffmpeg_decrypts_a_dash_channels_cenc_and_cbcs_endpoints() {
    let Some(s) = start_on(true, 60) else { return };
    ffmpeg_decrypts(&s);
}

/// Each track's init + a media segment of the `cenc` and `cbcs` endpoints decrypt, with the
/// key `endpoint keys` lists, to as much media as the clear endpoint's same segment.
fn ffmpeg_decrypts(s: &Setup) {
    let clear = endpoint(s, "clear");
    wait_mpd(s, &clear.mpd_path, 3);
    for scheme in ["cenc", "cbcs"] {
        let e = endpoint(s, scheme);
        let mpd = wait_mpd(s, &e.mpd_path, 3);
        assert_eq!(e.kid.len(), 32, "{scheme}: one key listed");
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &e.kid[..8],
            &e.kid[8..12],
            &e.kid[12..16],
            &e.kid[16..20],
            &e.kid[20..]
        );
        assert!(
            mpd.contains(&format!("value=\"{scheme}\" cenc:default_KID=\"{uuid}\""))
                && mpd.contains("urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"),
            "{scheme} MPD:\n{mpd}"
        );
        // The fMP4 HLS side (cmaf endpoints) names the key for players that fetch it
        // (Shaka's "identity").
        let master = get(s.d.pull, &e.mpd_path.replace(".mpd", ".m3u8"));
        if master.status != 404 {
            let master = master.text();
            let video_pl = master
                .lines()
                .find(|l| l.ends_with(".m3u8") && !l.starts_with('#'))
                .unwrap_or_else(|| panic!("{master}"));
            let pl = get(s.d.pull, &resolve(&e.mpd_path, video_pl)).text();
            let method = if scheme == "cenc" {
                "SAMPLE-AES-CTR"
            } else {
                "SAMPLE-AES"
            };
            assert!(
                pl.contains(&format!("#EXT-X-KEY:METHOD={method},URI=")),
                "{pl}"
            );
        }

        let tracks = mpd_tracks(&mpd, &e.mpd_path);
        let clear_tracks = mpd_tracks(&get(s.d.pull, &clear.mpd_path).text(), &clear.mpd_path);
        for t in &tracks {
            let seg = t.segments[t.segments.len() - 2].clone();
            let init = get(s.d.pull, &t.init);
            let media = get(s.d.pull, &seg);
            assert_eq!((init.status, media.status), (200, 200), "{}, {seg}", t.init);
            // The same segment, clear, from the clear endpoint.
            let ct = clear_tracks.iter().find(|c| c.id == t.id).unwrap();
            let file_of = |name: &str, parts: &[&[u8]]| {
                let p = s.d.dir().join(name);
                std::fs::write(&p, parts.concat()).unwrap();
                p
            };
            let clear_init = get(s.d.pull, &ct.init);
            let same_seg = ct
                .segments
                .iter()
                .find(|u| u.rsplit('/').next() == seg.rsplit('/').next())
                .unwrap();
            let clear_media = get(s.d.pull, same_seg);
            assert_ne!(clear_media.body, media.body, "{seg} is not served clear");
            let enc_file = file_of(
                &format!("{scheme}-{}.mp4", t.id),
                &[&init.body, &media.body],
            );
            let clear_file = file_of(
                &format!("clear-{}.mp4", t.id),
                &[&clear_init.body, &clear_media.body],
            );
            let (clear_frames, _) = decode(&clear_file, None);
            let (frames, errors) = decode(&enc_file, Some(&e.key));
            assert!(clear_frames > 0, "the clear {} segment decodes", t.id);
            assert_eq!(
                frames, clear_frames,
                "{scheme} {}: ffmpeg -decryption_key decodes as much media as clear\n{errors}",
                t.id
            );
            assert!(
                errors.trim().is_empty(),
                "{scheme} {}: ffmpeg errors:\n{errors}",
                t.id
            );
        }
    }
}

#[test]
fn dashjs_and_shaka_play_across_key_rotations() {
    if !require_browser() {
        return;
    }
    let Some(s) = start(120) else { return };
    plays_across_rotations(&s, &[Player::DashJs, Player::Shaka]);
}

#[test]
fn a_dash_channel_plays_encrypted_and_across_key_rotations() {
    if !require_browser() {
        return;
    }
    let Some(s) = start_on(true, 150) else { return };
    // One key: both players, asking the origin's licence URL.
    let e = endpoint(&s, "cenc");
    wait_mpd(&s, &e.mpd_path, 3);
    for player in [Player::DashJs, Player::Shaka] {
        let Some(pb) = play_in_browser(player, &e.mpd_url, 12) else {
            return;
        };
        assert!(
            !pb.fatal && pb.advanced >= 8.0 && pb.frames_decoded > 100,
            "{player:?} on a dash channel's cenc endpoint: played {:.1} s of 12, errors {:?}\n{}",
            pb.advanced,
            pb.errors,
            pb.json
        );
    }
    // Rotation: Shaka. (dash.js stalls a second or two at some key changes here: ffmpeg cuts
    // DASH audio at its own frame boundaries, so an audio segment straddles each key change
    // and dash.js leaves its tail unbuffered at the Period's end; docs/encryption.md.)
    plays_across_rotations(&s, &[Player::Shaka]);
}

/// `players` play the `rotating` endpoint for 20 s (about five keys) without a stall.
fn plays_across_rotations(s: &Setup, players: &[Player]) {
    let e = endpoint(s, "rotating");
    // A Period per key, each naming its key: both players ask the licence URL for each new
    // Period's key as it appears (Shaka follows keys only through the MPD).
    let deadline = Instant::now() + Duration::from_secs(40);
    let mpd = loop {
        let mpd = get(s.d.pull, &e.mpd_path).text();
        if mpd.matches("<Period ").count() >= 3 {
            break mpd;
        }
        assert!(
            Instant::now() < deadline,
            "three key Periods never listed:\n{mpd}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // Every AdaptationSet of a Period names the Period's one key.
    for period in mpd.split("<Period ").skip(1) {
        let kids: std::collections::BTreeSet<&str> = period
            .split("cenc:default_KID=\"")
            .skip(1)
            .filter_map(|k| k.split('"').next())
            .collect();
        let sets = period.matches("<AdaptationSet ").count();
        assert!(
            kids.len() == 1 && period.matches("cenc:default_KID=").count() == sets,
            "one key per Period, named by each of its AdaptationSets:\n{mpd}"
        );
    }
    for &player in players {
        let Some(pb) = play_in_browser(player, &e.mpd_url, 20) else {
            return;
        };
        assert!(
            !pb.fatal && pb.advanced >= 15.0 && pb.longest_stall_s < 1.0,
            "{player:?} across key rotations every 4 s: played {:.1} s of 20, longest stall {:.1} s, errors {:?}\n{}",
            pb.advanced,
            pb.longest_stall_s,
            pb.errors,
            pb.json
        );
    }
    let keys = s.d.ctl_json(&["endpoint", "keys", &s.f.id, "rotating"]);
    assert!(
        keys.as_array().unwrap().len() >= 10,
        "a key every 4 s over the plays: {keys}"
    );
}

#[test]
fn clearkey_licences_answer_the_keys_asked_for_under_the_endpoint_rules() {
    let Some(s) = start(40) else { return };
    let e = endpoint(&s, "cenc");
    let mpd = wait_mpd(&s, &e.mpd_path, 1);
    let license = format!("{}/keys/clearkey", e.mpd_path.rsplit_once('/').unwrap().0);
    assert!(
        mpd.contains(&format!(
            "<dashif:Laurl Lic_type=\"EME-1.0\">http://{}{license}</dashif:Laurl>",
            s.d.pull
        )),
        "{mpd}"
    );
    let b64url = |hex: &str| {
        use base64::Engine;
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap())
            .collect();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let post = |body: &str, headers: &[(&str, &str)]| {
        let mut h = vec![("Content-Type", "application/json")];
        h.extend_from_slice(headers);
        http(s.d.pull, "POST", &license, &h, Some(body.as_bytes()))
    };
    let req = format!(
        "{{\"kids\":[\"{}\"],\"type\":\"temporary\"}}",
        b64url(&e.kid)
    );
    let r = post(&req, &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["keys"][0]["kid"], b64url(&e.kid).as_str());
    assert_eq!(v["keys"][0]["k"], b64url(&e.key).as_str());
    assert_eq!(v["keys"][0]["kty"], "oct");
    assert_eq!(post("{\"kids\":", &[]).status, 400);
    // Over HTTP/2 too (h2c here; TLS with ALPN h2 is how browsers reach an HTTPS origin).
    if require_tool("curl") {
        let out = run_with_timeout(
            Command::new("curl").args([
                "-s",
                "--http2-prior-knowledge",
                "-H",
                "Content-Type: application/json",
                "--data",
                &req,
                &format!("http://{}{license}", s.d.pull),
            ]),
            Duration::from_secs(10),
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("licence over h2: {e}: {}", text(&out.stdout)));
        assert_eq!(v["keys"][0]["k"], b64url(&e.key).as_str(), "{v}");
    }
    let other = format!("{{\"kids\":[\"{}\"]}}", b64url(&"00".repeat(16)));
    assert_eq!(post(&other, &[]).status, 404);
    // The clear endpoint has no licences; POST elsewhere stays refused.
    let clear = endpoint(&s, "clear");
    let clear_license = format!(
        "{}/keys/clearkey",
        clear.mpd_path.rsplit_once('/').unwrap().0
    );
    let r = http(s.d.pull, "POST", &clear_license, &[], Some(req.as_bytes()));
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        http(s.d.pull, "POST", &e.mpd_path, &[], Some(b"x")).status,
        405
    );
    // Browsers may send it from another origin.
    let pre = http(
        s.d.pull,
        "OPTIONS",
        &license,
        &[
            ("Origin", "http://player.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        None,
    );
    assert!(
        pre.header("access-control-allow-methods")
            .unwrap_or("")
            .contains("POST"),
        "{pre:?}"
    );
    // Under the endpoint's AuthKey like everything else of it.
    s.d.ctl_json(&[
        "endpoint",
        "edit",
        &s.f.id,
        "cenc",
        "--auth-key",
        "licence-key-123",
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while post(&req, &[]).status != 403 {
        assert!(Instant::now() < deadline, "the licence ignores the AuthKey");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        post(&req, &[("X-TENCENT-PACKAGE", "licence-key-123")]).status,
        200
    );
}

#[test]
fn dashjs_and_shaka_play_cenc_and_cbcs_with_clearkey() {
    if !require_browser() {
        return;
    }
    let Some(s) = start(150) else { return };
    // Each player once given the key, once asking the origin's ClearKey licence URL (the
    // MPD's dashif:Laurl) for it.
    for (scheme, players) in [
        ("cenc", [(Player::DashJs, true), (Player::Shaka, false)]),
        ("cbcs", [(Player::Shaka, true), (Player::DashJs, false)]),
    ] {
        let e = endpoint(&s, scheme);
        wait_mpd(&s, &e.mpd_path, 3);
        let keys = format!("{{\"{}\":\"{}\"}}", e.kid, e.key);
        for (player, given) in players {
            let pb = if given {
                play_in_browser_clear_keys(player, &e.mpd_url, 12, &keys)
            } else {
                play_in_browser(player, &e.mpd_url, 12)
            };
            let Some(pb) = pb else {
                return;
            };
            assert!(
                !pb.fatal && pb.advanced >= 8.0,
                "{player:?} on {scheme} (key given: {given}): played {:.1} s of 12, errors {:?}\n{}",
                pb.advanced,
                pb.errors,
                pb.json
            );
            assert!(pb.frames_decoded > 100, "{player:?} {scheme}: {}", pb.json);
        }
    }
}
