//! Keys from a SPEKE v2 key server (`tests/python/cpix_server.py`, CPIX 2.3 over HTTP POST):
//! an `aes-128` endpoint with rotation serves segments encrypted with the server's keys
//! (fetched ahead of use, kept across restarts), and each way a key server fails (HTTP 500,
//! malformed XML, another content id, too slow) holds the endpoint's new segments back with a
//! 503 that says why, a log line and a metric, while the channel's clear endpoint goes on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use streampack_tests::*;

/// The test key server and the lines it printed per request.
struct KeyServer {
    child: Child,
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl KeyServer {
    fn start() -> Option<KeyServer> {
        if !require_tool("python3") {
            return None;
        }
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/cpix_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the CPIX key server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let port = first.strip_prefix("port ").unwrap().parse().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let r = Arc::clone(&requests);
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                r.lock().unwrap().push(l);
            }
        });
        Some(KeyServer {
            child,
            port,
            requests,
        })
    }

    fn url(&self, mode: &str) -> String {
        format!("http://127.0.0.1:{}/{mode}", self.port)
    }
}

/// The key the test server gives a key id.
fn server_key(kid_hex: &str) -> String {
    use sha2::Digest;
    let kid: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&kid_hex[i * 2..i * 2 + 2], 16).unwrap())
        .collect();
    let mut h = sha2::Sha256::new();
    h.update(b"streampack-test-key");
    h.update(&kid);
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn wait_status(d: &Daemon, path: &str, status: u16, secs: u64) -> Response {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = get(d.pull, path);
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn keys_come_from_the_key_server_and_its_failures_hold_segments_back() {
    let Some(ks) = KeyServer::start() else { return };
    if !require_tool("ffmpeg") {
        return;
    }
    let mut d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        "spk",
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "30",
        ],
    );
    let ep = d.ctl_json(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "spk",
        "--encryption",
        "aes-128",
        "--key-rotation",
        "6",
        "--key-server",
        &ks.url("ok"),
    ]);
    assert_eq!(ep["key_server"], ks.url("ok").as_str());
    let show = text(&d.ctl(&["endpoint", "show", &f.id, "spk"]).stdout);
    assert!(show.contains("(SPEKE v2)"), "{show}");
    let bad = d.ctl_json(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "bad",
        "--encryption",
        "aes-128",
        "--key-server",
        &ks.url("500"),
    ]);
    let drm = d.ctl_json(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "drm",
        "--type",
        "cmaf",
        "--encryption",
        "cenc",
        "--key-server",
        &ks.url("ok"),
    ]);
    let fps = d.ctl_json(&[
        "endpoint",
        "create",
        &f.id,
        "--name",
        "fps",
        "--type",
        "cmaf",
        "--encryption",
        "cbcs",
        "--key-server",
        &ks.url("ok"),
    ]);
    let fps_path = split_url(fps["url"].as_str().unwrap()).1;
    let drm_path = split_url(drm["url"].as_str().unwrap()).1;
    let spk_path = split_url(ep["url"].as_str().unwrap()).1;
    let bad_path = split_url(bad["url"].as_str().unwrap()).1;
    let refused = d.ctl_refused(&["endpoint", "edit", &f.id, "spk", "--key-server", "ftp://x"]);
    assert!(refused.contains("http:// or https://"), "{refused}");
    let log = d.dir().join("ffmpeg-push.log");
    let _push = Killed(ffmpeg_push_hls(HlsPush::Ts, &f.primary_url, 90, &log));

    // The good key server: segments encrypted with its keys.
    let deadline = Instant::now() + Duration::from_secs(40);
    let playlist = loop {
        let r = get(d.pull, &spk_path);
        if r.status == 200 && playlist_uris(&r.text()).len() >= 4 {
            break r.text();
        }
        assert!(
            Instant::now() < deadline,
            "no playlist from the key server's keys: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let listed = d.ctl_json(&["endpoint", "keys", &f.id, "spk"]);
    let listed = listed.as_array().unwrap();
    assert!(!listed.is_empty());
    for k in listed {
        assert_eq!(
            k["key"].as_str().unwrap(),
            server_key(k["kid"].as_str().unwrap()),
            "{k}"
        );
    }
    let seq = media_sequence(&playlist);
    let uris = playlist_uris(&playlist);
    let key_uri = playlist
        .lines()
        .rfind(|l| l.starts_with("#EXT-X-KEY:"))
        .and_then(|l| l.split("URI=\"").nth(1))
        .map(|u| u.split('"').next().unwrap().to_string())
        .unwrap();
    let kid = key_uri.rsplit('/').next().unwrap().trim_end_matches(".key");
    let key = get(d.pull, &resolve(&spk_path, &key_uri));
    let hex: String = key.body.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        server_key(kid),
        "the key URL serves the key server's key"
    );
    let last = uris.len() - 1;
    let enc = get(d.pull, &resolve(&spk_path, &uris[last])).body;
    let clear = get(d.pull, &resolve(&f.endpoint_path, &uris[last])).body;
    let k: [u8; 16] = key.body.clone().try_into().unwrap();
    let iv = u128::from(seq + last as u64).to_be_bytes();
    let dec = cbc::Decryptor::<aes::Aes128>::new((&k).into(), (&iv).into())
        .decrypt_padded_vec_mut::<Pkcs7>(&enc)
        .unwrap();
    assert_eq!(dec, clear, "decrypted with the key server's key");
    // Ahead of use: the next rotation period's key is fetched before it starts.
    let ahead = Instant::now() + Duration::from_secs(12);
    loop {
        let keys = d.ctl_json(&["endpoint", "keys", &f.id, "spk"]);
        let periods: Vec<u64> = keys
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["period"].as_u64().unwrap())
            .collect();
        let now_period = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 6;
        if periods.iter().any(|p| *p > now_period) {
            break;
        }
        assert!(
            Instant::now() < ahead,
            "no key for a period ahead of {now_period}: {periods:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The DRM systems' PSSH boxes the key server returned: in the MPD and the init segments.
    let mpd = wait_status(&d, &drm_path, 200, 30);
    assert_eq!(mpd.status, 200, "{mpd:?}");
    let mpd = mpd.text();
    for system in [
        "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
        "9a04f079-9840-4286-ab92-e65be0885f95",
    ] {
        assert!(
            mpd.contains(&format!(
                "<ContentProtection schemeIdUri=\"urn:uuid:{system}\">\n        <cenc:pssh>"
            )),
            "{system} signalled in the MPD:\n{mpd}"
        );
    }
    let init = mpd_tracks(&mpd, &drm_path)[0].init.clone();
    let init = get(d.pull, &init).body;
    let marker = b"streampack-test-edef8ba9-";
    assert!(
        init.windows(marker.len()).any(|w| w == marker),
        "the Widevine pssh is in the init segment"
    );
    // The fMP4 HLS side: Widevine's key tag (its pssh in a data URI) beside the identity one.
    let master = get(d.pull, &drm_path.replace(".mpd", ".m3u8")).text();
    let video = master
        .lines()
        .find(|l| l.ends_with(".m3u8") && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("{master}"));
    let pl = get(d.pull, &resolve(&drm_path, video)).text();
    assert!(
        pl.contains("#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,")
            && pl.contains("KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\""),
        "{pl}"
    );
    // cbcs: FairPlay's key tag (the key server's skd:// URI) beside the identity and Widevine
    // ones; nothing of FairPlay in the MPD or the init segments (it has no pssh box).
    let fps_mpd = wait_status(&d, &fps_path, 200, 30).text();
    assert!(!fps_mpd.contains("94ce86fb"), "{fps_mpd}");
    let master = get(d.pull, &fps_path.replace(".mpd", ".m3u8")).text();
    let video = master
        .lines()
        .find(|l| l.ends_with(".m3u8") && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("{master}"));
    let pl = get(d.pull, &resolve(&fps_path, video)).text();
    let fairplay = pl
        .lines()
        .find(|l| l.contains("KEYFORMAT=\"com.apple.streamingkeydelivery\""))
        .unwrap_or_else(|| panic!("no FairPlay key tag:\n{pl}"));
    assert!(
        fairplay.starts_with("#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://streampack-test/")
            && fairplay.ends_with(",KEYFORMATVERSIONS=\"1\""),
        "{fairplay}"
    );
    let fps_keys = d.ctl_json(&["endpoint", "keys", &f.id, "fps"]);
    let kid = fps_keys[0]["kid"].as_str().unwrap();
    assert!(
        fairplay.contains(&kid[..8]),
        "the skd URI the key server gave for the key in use: {fairplay} (kid {kid})"
    );
    let requests = ks.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(
            |r| r == &format!("/ok {} 1 2.0", f.id) || r.starts_with(&format!("/ok {} ", f.id))
        ),
        "CPIX requests name the channel as content id, X-Speke-Version 2.0: {requests:?}"
    );
    assert!(requests.iter().all(|r| r.ends_with(" 2.0")), "{requests:?}");

    // Each failure: 503 with its reason, a log line, a metric; the clear endpoint goes on.
    for (mode, why) in [
        ("500", "answered HTTP 500"),
        ("malformed", "malformed CPIX document"),
        ("wrong-content-id", "is for content \"someone-else\""),
        ("slow", "did not answer within 5 s"),
    ] {
        if mode != "500" {
            d.ctl_json(&[
                "endpoint",
                "edit",
                &f.id,
                "bad",
                "--key-server",
                &ks.url(mode),
            ]);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let r = loop {
            let r = get(d.pull, &bad_path);
            if r.status == 503 && r.text().contains(why) {
                break r;
            }
            assert!(
                Instant::now() < deadline,
                "{mode}: the endpoint never said {why:?}: {r:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        };
        assert!(r.header("retry-after").is_some(), "{r:?}");
        assert!(
            d.stderr_log().contains(why),
            "{mode}: no log line saying {why:?}"
        );
        assert_eq!(
            get(d.pull, &f.endpoint_path).status,
            200,
            "the clear endpoint goes on"
        );
        assert_eq!(
            get(d.pull, &spk_path).status,
            200,
            "the other encrypted endpoint goes on"
        );
    }
    let m = scrape(d.metrics);
    for result in ["ok", "http_error", "bad_answer", "timeout"] {
        assert!(
            m.get(
                "streampack_key_server_requests_total",
                &[("result", result)]
            ) >= 1.0,
            "{result}: {}",
            m.text
        );
    }
    // Back to a working key server: the held segments are published.
    d.ctl_json(&[
        "endpoint",
        "edit",
        &f.id,
        "bad",
        "--key-server",
        &ks.url("ok"),
    ]);
    let r = wait_status(&d, &bad_path, 200, 30);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(playlist_uris(&r.text()).len() >= 2);

    // Keys survive a restart: the key server is not asked again for stored periods.
    let before = d.ctl_json(&["endpoint", "keys", &f.id, "spk"]);
    d.stop_term();
    d.restart();
    let after = d.ctl_json(&["endpoint", "keys", &f.id, "spk"]);
    let before = before.as_array().unwrap();
    assert_eq!(&after.as_array().unwrap()[..before.len()], &before[..]);
}
