//! Encrypted endpoints end to end: ffmpeg pushes live HLS/TS, the origin serves an `aes-128`
//! endpoint with rotating keys beside a clear one; what is on the wire is not clear TS, the
//! key URL (under the endpoint's AuthKey, never cached) decrypts it to the clear bytes, ffmpeg
//! decodes the endpoint, hls.js plays it across key rotations, and the keys survive a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// Seconds between keys: with 2 s segments, a new key every second segment.
const ROTATION: &str = "4";

struct Setup {
    d: Daemon,
    f: Fixture,
    /// The encrypted endpoint's manifest path.
    enc_path: String,
    enc_url: String,
    _push: Killed,
}

/// A channel with a clear `hls` endpoint and an `aes-128` one rotating keys, ffmpeg pushing.
fn start(push_seconds: u32) -> Option<Setup> {
    if !require_tool("ffmpeg") {
        return None;
    }
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        "enc",
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
        "aes",
        "--encryption",
        "aes-128",
        "--key-rotation",
        ROTATION,
    ]);
    assert_eq!(ep["encryption"], "aes-128", "{ep}");
    assert_eq!(ep["key_rotation_secs"], 4, "{ep}");
    let enc_url = ep["url"].as_str().unwrap().to_string();
    let enc_path = split_url(&enc_url).1;
    let log = d.dir().join("ffmpeg-push.log");
    let push = Killed(ffmpeg_push_hls(
        HlsPush::Ts,
        &f.primary_url,
        push_seconds,
        &log,
    ));
    Some(Setup {
        d,
        f,
        enc_path,
        enc_url,
        _push: push,
    })
}

/// Waits until the encrypted playlist lists `n` segments; returns it.
fn wait_listed(s: &Setup, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = get(s.d.pull, &s.enc_path);
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

/// (segment URI, key URI, IV) of each segment of a media playlist.
fn keyed_segments(playlist: &str) -> Vec<(String, String, Option<String>)> {
    let mut key: Option<(String, Option<String>)> = None;
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-KEY:") {
            assert_eq!(
                hls_attr(attrs, "METHOD").as_deref(),
                Some("AES-128"),
                "{line}"
            );
            key = Some((hls_attr(attrs, "URI").unwrap(), hls_attr(attrs, "IV")));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let (uri, iv) = key
                .clone()
                .unwrap_or_else(|| panic!("{line} has no key:\n{playlist}"));
            out.push((line.to_string(), uri, iv));
        }
    }
    out
}

/// An attribute of an HLS tag's attribute list, unquoted.
fn hls_attr(attrs: &str, name: &str) -> Option<String> {
    let mut rest = attrs;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => {
                let end = q.find('"')?;
                (&q[..end], q[end + 1..].trim_start_matches(','))
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if key == name {
            return Some(value.to_string());
        }
        rest = next;
    }
    None
}

fn decrypt(key: &[u8], iv: [u8; 16], body: &[u8]) -> Vec<u8> {
    let key: [u8; 16] = key.try_into().unwrap();
    cbc::Decryptor::<aes::Aes128>::new((&key).into(), (&iv).into())
        .decrypt_padded_vec_mut::<Pkcs7>(body)
        .unwrap()
}

#[test]
fn aes128_endpoint_serves_only_encrypted_segments_its_keys_decrypt() {
    let Some(s) = start(60) else { return };
    let playlist = wait_listed(&s, 5);
    let segments = keyed_segments(&playlist);
    let keys: BTreeSet<&str> = segments.iter().map(|(_, k, _)| k.as_str()).collect();
    assert!(
        keys.len() >= 2,
        "a key every {ROTATION} s over 5 segments:\n{playlist}"
    );
    let clear_playlist = get(s.d.pull, &s.f.endpoint_path).text();
    assert!(
        !clear_playlist.contains("EXT-X-KEY"),
        "the clear endpoint stays clear"
    );
    let first_seq = media_sequence(&playlist);
    let mut checked = 0;
    for (i, (uri, key_uri, iv)) in segments.iter().enumerate() {
        let enc = get(s.d.pull, &resolve(&s.enc_path, uri));
        let clear = get(s.d.pull, &resolve(&s.f.endpoint_path, uri));
        if clear.status != 200 {
            continue; // left the clear window meanwhile
        }
        assert_eq!(enc.status, 200, "{uri}: {enc:?}");
        assert_eq!(clear.body[0], 0x47, "the clear endpoint serves TS");
        assert!(
            enc.body.len() % 16 == 0 && enc.body.len() > clear.body.len(),
            "{uri}: {} encrypted bytes for {} clear",
            enc.body.len(),
            clear.body.len()
        );
        let sync = enc
            .body
            .iter()
            .step_by(188)
            .take(50)
            .filter(|b| **b == 0x47)
            .count();
        assert!(
            sync < 10,
            "{uri} on the wire looks like clear TS ({sync}/50 sync bytes)"
        );
        assert_ne!(enc.header("etag"), clear.header("etag"));
        let key = get(s.d.pull, &resolve(&s.enc_path, key_uri));
        assert_eq!(key.status, 200, "{key_uri}: {key:?}");
        assert_eq!(key.body.len(), 16);
        assert_eq!(key.header("cache-control"), Some("private, no-store"));
        let iv = match iv {
            Some(hex) => u128::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap(),
            None => u128::from(first_seq + i as u64),
        };
        assert_eq!(
            decrypt(&key.body, iv.to_be_bytes(), &enc.body),
            clear.body,
            "{uri} decrypted with {key_uri} is the clear segment"
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} segments compared");

    // The keys as the operator lists them are the ones served.
    let listed = s.d.ctl_json(&["endpoint", "keys", &s.f.id, "aes"]);
    let listed = listed.as_array().unwrap();
    assert!(listed.len() >= keys.len(), "{listed:?}");
    for key_uri in &keys {
        let kid = key_uri.rsplit('/').next().unwrap().trim_end_matches(".key");
        let row = listed
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap_or_else(|| panic!("{kid} not listed: {listed:?}"));
        let served = get(s.d.pull, &resolve(&s.enc_path, key_uri)).body;
        let hex: String = served.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(row["key"], hex.as_str());
        assert!(row["from"].as_str().unwrap().ends_with('Z'), "{row}");
    }
    let table = text(&s.d.ctl(&["endpoint", "keys", &s.f.id, "aes"]).stdout);
    assert!(
        table.starts_with("KID")
            && table.contains(
                keys.iter()
                    .next()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .trim_end_matches(".key")
            ),
        "{table}"
    );
    let refused = s.d.ctl_refused(&["endpoint", "keys", &s.f.id, "ep1"]);
    assert!(refused.contains("not encrypted"), "{refused}");

    // No clear media through the encrypted endpoint by any other door.
    let shifted = get(s.d.pull, &format!("{}?delay=10", s.enc_path));
    assert_eq!(shifted.status, 501, "{shifted:?}");
    let guessed = get(
        s.d.pull,
        &resolve(&s.enc_path, "keys/00000000000000000000000000000000.key"),
    );
    assert_eq!(guessed.status, 404);

    // The key URL obeys the endpoint's AuthKey.
    s.d.ctl_json(&[
        "endpoint",
        "edit",
        &s.f.id,
        "aes",
        "--auth-key",
        "sesame-1234567890",
    ]);
    let key_uri = resolve(&s.enc_path, keys.iter().next().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut denied = get(s.d.pull, &key_uri);
    while denied.status != 403 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        denied = get(s.d.pull, &key_uri);
    }
    assert_eq!(denied.status, 403, "{denied:?}");
    let allowed = http(
        s.d.pull,
        "GET",
        &key_uri,
        &[("X-TENCENT-PACKAGE", "sesame-1234567890")],
        None,
    );
    assert_eq!(allowed.status, 200, "{allowed:?}");

    // Keys survive a restart: the same key ids, the same keys.
    let before = s.d.ctl_json(&["endpoint", "keys", &s.f.id, "aes"]);
    let mut s = s;
    s.d.stop_term();
    s.d.restart();
    let after = s.d.ctl_json(&["endpoint", "keys", &s.f.id, "aes"]);
    let before = before.as_array().unwrap();
    assert_eq!(&after.as_array().unwrap()[..before.len()], &before[..]);
    let dir = s.d.dir().join("state").join("keys");
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&dir), 0o700);
    for f in std::fs::read_dir(&dir).unwrap() {
        assert_eq!(mode(&f.unwrap().path()), 0o600);
    }
}

#[test]
fn ffmpeg_decodes_the_aes128_endpoint_across_key_rotations() {
    let Some(s) = start(60) else { return };
    wait_listed(&s, 3);
    let (frames, out) = ffmpeg_decode(&s.enc_url, 12, Duration::from_secs(60));
    // 12 s at 25 fps, across at least two key rotations.
    assert!(
        frames >= 250,
        "ffmpeg decoded {frames} frames of the aes-128 endpoint\n{}",
        text(&out.stderr)
    );
}

#[test]
fn hlsjs_plays_the_aes128_endpoint_across_key_rotations() {
    if !require_browser() {
        return;
    }
    let Some(s) = start(60) else { return };
    wait_listed(&s, 3);
    let Some(pb) = play_in_browser(Player::HlsJs, &s.enc_url, 20) else {
        return;
    };
    assert!(!pb.fatal, "hls.js gave up: {:?}\n{}", pb.errors, pb.json);
    assert!(
        pb.advanced >= 15.0 && pb.longest_stall_s < 1.0,
        "hls.js played {:.1} s of 20 (longest stall {:.1} s) across key rotations\n{}",
        pb.advanced,
        pb.longest_stall_s,
        pb.json
    );
}
