//! The encryptor over a real HLS output: what an aes-128 endpoint serves.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::channel::config::{Encryption, EndpointType, InputRole, Protocol};
use crate::media::{for_channel, Lookup, MediaOutput, MediaParams, Unavailable};
use crate::time::Now;
use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use bytes::Bytes;
use std::collections::BTreeMap;

const T0: u64 = 1_800_000_000_000;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: 10_000 + ms,
        unix_ms: T0 + ms,
    }
}

/// Keys made on demand, one per period, counted; `refuse_from` makes periods from it unavailable.
#[derive(Default)]
struct Keys {
    made: BTreeMap<u64, ContentKey>,
    refuse_from: Option<u64>,
}

impl KeySource for Keys {
    fn key(&mut self, period: u64, _from: u64) -> Option<ContentKey> {
        if self.refuse_from.is_some_and(|p| period >= p) {
            return None;
        }
        let n = self.made.len() as u8 + 1;
        Some(*self.made.entry(period).or_insert(ContentKey {
            kid: [n; 16],
            key: [0x40 + n; 16],
            period,
        }))
    }
}

fn ts(n: u64) -> Bytes {
    // A TS-looking body: sync bytes and a payload that tells segments apart.
    let mut b = vec![0x47u8; 188 * 3];
    b[1..9].copy_from_slice(&n.to_be_bytes());
    Bytes::from(b)
}

/// An HLS channel fed `n` two-second TS segments, one every two seconds.
fn channel(n: u64) -> Box<dyn crate::media::Media> {
    fed(MediaParams::new(4_000, 60_000), (0..n).map(ts))
}

/// An HLS channel with `params` fed `segments` (TS), one every two seconds, each followed by
/// the encoder's playlist listing it.
fn fed(
    params: MediaParams,
    segments: impl IntoIterator<Item = Bytes>,
) -> Box<dyn crate::media::Media> {
    let mut m = for_channel(Protocol::Hls, params, at(0));
    for (i, body) in segments.into_iter().enumerate() {
        let now = at(i as u64 * 2_000);
        m.put(InputRole::Primary, &format!("{i}.ts"), body, now)
            .unwrap();
        let mut pl = String::from(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n",
        );
        for j in 0..=i {
            pl.push_str(&format!("#EXTINF:2.000,\n{j}.ts\n"));
        }
        m.put(InputRole::Primary, "index.m3u8", Bytes::from(pl), now)
            .unwrap();
    }
    m
}

fn text<'a>(o: &'a dyn MediaOutput, rest: &str) -> &'a str {
    match o.lookup("main", rest) {
        Ok(Lookup::Manifest(r, _)) => std::str::from_utf8(&r.body).unwrap(),
        other => panic!("{rest}: {other:?}"),
    }
}

fn decrypt(key: &ContentKey, seq: u64, body: &[u8]) -> Vec<u8> {
    cbc::Decryptor::<aes::Aes128>::new((&key.key).into(), (&aes128::sequence_iv(seq)).into())
        .decrypt_padded_vec_mut::<Pkcs7>(body)
        .unwrap()
}

/// Each segment URI of a media playlist with the key URI in effect for it.
fn segments_with_keys(playlist: &str) -> Vec<(String, String)> {
    let mut key = String::new();
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(k) = line.strip_prefix("#EXT-X-KEY:") {
            key = k.to_string();
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push((line.to_string(), key.clone()));
        }
    }
    out
}

#[test]
fn every_segment_is_served_encrypted_under_the_key_its_playlist_names() {
    let mut m = channel(4);
    let published = m.publish(at(8_000));
    let clear = published.output(EndpointType::Hls).unwrap();
    let mut keys = Keys::default();
    let mut enc = Encryptor::new(Encryption::Aes128, 0, at(8_000));
    let out = enc.build(clear, "main", &mut keys, at(8_000));
    assert_eq!(out.keys().len(), 1, "no rotation: one key");
    let key = out.keys()[0];
    let main = text(&out, "main.m3u8");
    let listed = segments_with_keys(main);
    assert_eq!(listed.len(), 4, "{main}");
    for (uri, tag) in &listed {
        assert_eq!(
            tag,
            &format!("METHOD=AES-128,URI=\"keys/{}.key\"", key.kid_hex()),
            "{main}"
        );
        let Ok(Lookup::Object(o)) = out.lookup("main", uri) else {
            panic!("{uri} not served");
        };
        let Ok(Lookup::Object(c)) = clear.lookup("main", uri) else {
            panic!("{uri} not clear");
        };
        assert_ne!(o.body, c.body, "{uri} is not served clear");
        assert_ne!(o.etag, c.etag);
        assert_eq!(o.body.len() % 16, 0);
        let seq: u64 = uri
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".ts"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(decrypt(&key, seq, &o.body), c.body, "{uri}");
    }
    assert_eq!(
        out.content_key(&format!("keys/{}.key", key.kid_hex())),
        Some(&key)
    );
    assert_eq!(out.content_key("keys/00.key"), None);
    assert_eq!(
        out.content_key(&format!("keys/{}.key", "ab".repeat(16))),
        None
    );
    // A second version encrypts only the new segment.
    m.put(InputRole::Primary, "4.ts", ts(4), at(8_000)).unwrap();
    let before = enc.encrypted;
    let again = enc.build(
        m.publish(at(8_001)).output(EndpointType::Hls).unwrap(),
        "main",
        &mut keys,
        at(8_001),
    );
    assert!(enc.encrypted - before <= 1, "segments are encrypted once");
    assert_eq!(
        text(&again, "main.m3u8"),
        main,
        "nothing new listed yet: same text"
    );
    // The rendition's own playlist, a folder down, names the same key from there.
    let rendition = text(&out, "index/index.m3u8");
    assert!(
        segments_with_keys(rendition)
            .iter()
            .all(|(_, k)| k == &format!("METHOD=AES-128,URI=\"../keys/{}.key\"", key.kid_hex())),
        "{rendition}"
    );
}

#[test]
fn sample_aes_encrypts_the_samples_and_states_each_keys_iv() {
    use super::sample_aes::tests::{
        adts_frames, annex_b, decrypt_h264_with, es_of, pids, segment, slice,
    };
    let segments = (0..3u8).map(|i| {
        let video = annex_b(&[&[9, 0xF0], &slice(3000, i + 1)]);
        Bytes::from(segment(&[
            (0x100, &video),
            (0x101, &adts_frames(&[300, 300])),
        ]))
    });
    let mut m = fed(MediaParams::new(4_000, 60_000), segments);
    let published = m.publish(at(6_000));
    let clear = published.output(EndpointType::Hls).unwrap();
    let mut keys = Keys::default();
    let mut enc = Encryptor::new(Encryption::SampleAes, 0, at(6_000));
    let out = enc.build(clear, "main", &mut keys, at(6_000));
    assert_eq!(enc.failed, 0, "{:?}", enc.last_failure);
    let key = out.keys()[0];
    let main = text(&out, "main.m3u8");
    let listed = segments_with_keys(main);
    assert_eq!(listed.len(), 3, "{main}");
    let iv = crate::hex::encode(&sample_aes::key_iv(&key.kid));
    for (uri, tag) in &listed {
        assert_eq!(
            tag,
            &format!(
                "METHOD=SAMPLE-AES,URI=\"keys/{}.key\",IV=0x{iv}",
                key.kid_hex()
            ),
            "{main}"
        );
        let (Ok(Lookup::Object(o)), Ok(Lookup::Object(c))) =
            (out.lookup("main", uri), clear.lookup("main", uri))
        else {
            panic!("{uri}");
        };
        let (wire, plain) = (pids(&o.body), pids(&c.body));
        assert_eq!(wire.continuity_errors, 0);
        let (v, pv) = (&es_of(&wire, 0x100)[0], &es_of(&plain, 0x100)[0]);
        assert_ne!(v, pv, "{uri}: video is encrypted");
        let iv = sample_aes::key_iv(&key.kid);
        assert!(
            decrypt_h264_with(&key.key, &iv, &v[14..]) == pv[14..],
            "{uri} decrypts"
        );
    }
    // Whatever is not a transport stream is not published, and says why.
    let mut m = channel(2);
    let out = Encryptor::new(Encryption::SampleAes, 0, at(0)).build(
        m.publish(at(4_000)).output(EndpointType::Hls).unwrap(),
        "main",
        &mut keys,
        at(4_000),
    );
    assert!(matches!(
        out.lookup("main", "index/0.ts"),
        Ok(Lookup::NotFound) | Err(_)
    ));
}

#[test]
fn rotation_changes_the_key_on_a_segment_boundary() {
    let mut m = channel(6);
    let clear_pub = m.publish(at(12_000));
    let clear = clear_pub.output(EndpointType::Hls).unwrap();
    let mut keys = Keys::default();
    let mut enc = Encryptor::new(Encryption::Aes128, 4, at(12_000));
    let out = enc.build(clear, "main", &mut keys, at(12_000));
    let listed = segments_with_keys(text(&out, "main.m3u8"));
    let distinct: std::collections::BTreeSet<_> = listed.iter().map(|(_, k)| k.clone()).collect();
    assert!(distinct.len() >= 3, "a key per 4 s over 12 s: {listed:?}");
    // The window's keys, and the next period's, made ahead of use.
    assert_eq!(out.keys().len(), distinct.len() + 1);
    let last = out.keys().last().unwrap();
    assert!(
        !distinct.iter().any(|k| k.contains(&last.kid_hex())),
        "the next key is not used yet"
    );
    for k in out.keys() {
        assert!(out
            .content_key(&format!("keys/{}.key", k.kid_hex()))
            .is_some());
    }
}

#[test]
fn no_key_no_segment_and_nothing_after_it() {
    let mut m = channel(6);
    let clear_pub = m.publish(at(12_000));
    let clear = clear_pub.output(EndpointType::Hls).unwrap();
    let first = crate::encryption::keys::period_of(T0, 4);
    let mut keys = Keys {
        refuse_from: Some(first + 1),
        ..Keys::default()
    };
    let mut enc = Encryptor::new(Encryption::Aes128, 4, at(12_000));
    let out = enc.build(clear, "main", &mut keys, at(12_000));
    let main = text(&out, "main.m3u8");
    let listed = segments_with_keys(main);
    assert!(!listed.is_empty() && listed.len() < 6, "{main}");
    assert!(!main.contains("ENDLIST"));
    // Nothing at all: no media yet, never the clear output.
    let mut none = Keys {
        refuse_from: Some(0),
        ..Keys::default()
    };
    let out = Encryptor::new(Encryption::Aes128, 0, at(0)).build(clear, "main", &mut none, at(0));
    match out.lookup("main", "main.m3u8") {
        Err(Unavailable::Waiting(why)) => assert!(why.contains("content key"), "{why}"),
        other => panic!("held back for the key, not {other:?}"),
    }
}

#[test]
fn fmp4_input_is_refused_with_the_reason() {
    let mut m = for_channel(Protocol::Hls, MediaParams::new(4_000, 60_000), at(0));
    m.put(
        InputRole::Primary,
        "init.mp4",
        Bytes::from_static(b"init"),
        at(0),
    )
    .unwrap();
    m.put(
        InputRole::Primary,
        "0.m4s",
        Bytes::from_static(b"seg"),
        at(0),
    )
    .unwrap();
    let pl = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000,\n0.m4s\n";
    m.put(InputRole::Primary, "index.m3u8", Bytes::from(pl), at(0))
        .unwrap();
    let p = m.publish(at(0));
    let out = Encryptor::new(Encryption::Aes128, 0, at(0)).build(
        p.output(EndpointType::Hls).unwrap(),
        "main",
        &mut Keys::default(),
        at(0),
    );
    match out.lookup("main", "main.m3u8") {
        Err(Unavailable::Refused(why)) => assert!(why.contains("fMP4"), "{why}"),
        other => panic!("{other:?}"),
    }
}

const FIXTURES: [&[u8]; 3] = [
    include_bytes!("../../testdata/ts/h264_aac/seg_00000.ts"),
    include_bytes!("../../testdata/ts/h264_aac/seg_00001.ts"),
    include_bytes!("../../testdata/ts/h264_aac/seg_00002.ts"),
];

/// An HLS channel with a cmaf endpoint, fed the TS fixtures.
fn cmaf_channel() -> Box<dyn crate::media::Media> {
    let params = MediaParams {
        cmaf: true,
        ..MediaParams::new(4_000, 60_000)
    };
    fed(params, FIXTURES.iter().map(|ts| Bytes::from_static(ts)))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn cmaf_endpoints_serve_protected_inits_segments_and_manifests() {
    for (encryption, method, value) in [
        (Encryption::Cenc, "SAMPLE-AES-CTR", "cenc"),
        (Encryption::Cbcs, "SAMPLE-AES", "cbcs"),
    ] {
        let mut m = cmaf_channel();
        let p = m.publish(at(6_000));
        let clear = p.output(EndpointType::Cmaf).unwrap();
        let mut keys = Keys::default();
        let out = Encryptor::new(encryption, 0, at(0)).build(clear, "main", &mut keys, at(6_000));
        let key = out.keys()[0];
        let mpd = text(&out, "main.mpd");
        assert!(
            mpd.contains(&format!(
                "value=\"{value}\" cenc:default_KID=\"{}\"",
                super::cenc::kid_uuid(&key.kid)
            )),
            "{mpd}"
        );
        let master = text(&out, "main.m3u8");
        let mut playlists = 0;
        for uri in master.lines().filter(|l| l.ends_with(".m3u8")) {
            let pl = text(&out, uri);
            assert!(
                pl.contains(&format!(
                    "#EXT-X-KEY:METHOD={method},URI=\"../keys/{}.key\",KEYFORMAT=\"identity\"",
                    key.kid_hex()
                )),
                "{uri}:\n{pl}"
            );
            playlists += 1;
        }
        for line in master.lines().filter_map(|l| l.split("URI=\"").nth(1)) {
            let uri = line.trim_end_matches('"');
            if uri.ends_with(".m3u8") {
                let pl = text(&out, uri);
                assert!(pl.contains(method), "{uri}");
                playlists += 1;
            }
        }
        assert!(playlists >= 2, "video and audio playlists:\n{master}");
        let mut inits = 0;
        let mut segments = 0;
        for track in clear.tracks() {
            for i in track.inits {
                let path = format!("{}/{}", track.dir, (track.init_file)(i));
                let Ok(Lookup::Object(o)) = out.lookup("main", &path) else {
                    panic!("{path}")
                };
                assert!(
                    contains(&o.body, b"sinf") && contains(&o.body, b"tenc"),
                    "{path}"
                );
                assert!(contains(&o.body, &key.kid));
                inits += 1;
            }
            for s in track.segments {
                let path = format!("{}/{}", track.dir, (track.segment_file)(s));
                let Ok(Lookup::Object(o)) = out.lookup("main", &path) else {
                    panic!("{path}")
                };
                assert!(
                    contains(&o.body, b"senc") && o.body != s.object.body,
                    "{path}"
                );
                assert_ne!(o.etag, s.object.etag);
                segments += 1;
            }
        }
        assert!(
            inits >= 2 && segments >= 6,
            "{inits} inits, {segments} segments"
        );
        assert_eq!(
            out.content_key(&format!("keys/{}.key", key.kid_hex())),
            Some(&key)
        );
    }
}

#[test]
fn cmaf_key_rotation_names_each_fragments_key_and_the_next() {
    let mut m = cmaf_channel();
    let p = m.publish(at(6_000));
    let clear = p.output(EndpointType::Cmaf).unwrap();
    let mut keys = Keys::default();
    let out = Encryptor::new(Encryption::Cenc, 2, at(0)).build(clear, "main", &mut keys, at(6_000));
    let mut kids = std::collections::BTreeSet::new();
    for track in clear.tracks() {
        for s in track.segments {
            let path = format!("{}/{}", track.dir, (track.segment_file)(s));
            let Ok(Lookup::Object(o)) = out.lookup("main", &path) else {
                panic!("{path}")
            };
            let period = crate::encryption::keys::period_of(s.start_unix_ms, 2);
            let key = keys.made[&period];
            let next = keys.made[&(period + 1)];
            assert!(
                contains(&o.body, b"seig") && contains(&o.body, &key.kid),
                "{path}"
            );
            assert!(
                contains(&o.body, &next.kid),
                "{path} announces the next key"
            );
            kids.insert(key.kid);
        }
    }
    assert!(kids.len() >= 3, "a key per 2 s segment: {}", kids.len());
    // The MPD has a Period per key, each naming its key as default_KID, its segments those
    // of that key (DASH players follow keys by Period).
    let mpd = text(&out, "main.mpd");
    let doc = roxmltree::Document::parse(mpd).unwrap();
    let periods: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Period"))
        .collect();
    assert_eq!(periods.len(), kids.len(), "{mpd}");
    let mut named = std::collections::BTreeSet::new();
    for p in &periods {
        let defaults: std::collections::BTreeSet<&str> = p
            .descendants()
            .filter_map(|n| n.attribute(("urn:mpeg:cenc:2013", "default_KID")))
            .collect();
        assert_eq!(defaults.len(), 1, "one key per Period: {mpd}");
        let kid = *defaults.iter().next().unwrap();
        let key = keys
            .made
            .values()
            .find(|k| super::cenc::kid_uuid(&k.kid) == kid)
            .unwrap();
        named.insert(key.kid);
        // Its video segments are those encrypted with that key.
        let tmpl = p
            .descendants()
            .find(|n| n.has_tag_name("SegmentTemplate"))
            .unwrap();
        let number: u64 = tmpl.attribute("startNumber").unwrap().parse().unwrap();
        let media = tmpl
            .attribute("media")
            .unwrap()
            .replace("$Number$", &number.to_string());
        let Ok(Lookup::Object(o)) = out.lookup("main", &media) else {
            panic!("{media}")
        };
        assert!(
            contains(&o.body, &key.kid),
            "{media} is under its Period's key"
        );
    }
    assert_eq!(named, kids);
    let again = Encryptor::new(Encryption::Cenc, 0, at(0)).build(
        clear,
        "main",
        &mut Keys::default(),
        at(6_000),
    );
    assert_eq!(
        text(&again, "main.mpd").matches("<Period").count(),
        1,
        "no rotation: the clear MPD's Periods"
    );
    for k in keys.made.values() {
        assert!(
            out.content_keys().contains(k),
            "every key of the window and the next is licensed"
        );
    }
}

#[test]
fn hot_encrypted_segments_get_a_sending_form_of_their_own() {
    // 100 KB segments: hot after two pulls.
    let mut m = for_channel(Protocol::Hls, MediaParams::new(4_000, 60_000), at(0));
    let big = Bytes::from(vec![0x47u8; 100_000]);
    m.put(InputRole::Primary, "0.ts", big, at(0)).unwrap();
    let pl = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n0.ts\n";
    m.put(InputRole::Primary, "index.m3u8", Bytes::from(pl), at(0))
        .unwrap();
    let p = m.publish(at(0));
    let clear = p.output(EndpointType::Hls).unwrap();
    let mut keys = Keys::default();
    let mut enc = Encryptor::new(Encryption::Aes128, 0, at(0));
    let out = enc.build(clear, "main", &mut keys, at(0));
    let path =
        "index/".to_string() + &(clear.tracks()[0].segment_file)(&clear.tracks()[0].segments[0]);
    let Ok(Lookup::Object(o)) = out.lookup("main", &path) else {
        panic!("{path}")
    };
    let (etag, ptr) = (o.etag.clone(), o.body.as_ptr());
    let mut copy = |b: &Bytes| Some(crate::media::Body::from(Bytes::copy_from_slice(b)));
    assert_eq!(enc.promote_hot(&mut copy), 0, "not pulled yet");
    o.count_pull();
    o.count_pull();
    assert_eq!(enc.promote_hot(&mut copy), 1);
    let again = enc.build(clear, "main", &mut keys, at(1));
    let Ok(Lookup::Object(moved)) = again.lookup("main", &path) else {
        panic!("{path}")
    };
    assert_eq!(moved.etag, etag, "the same object, moved");
    assert_ne!(moved.body.as_ptr(), ptr);
    assert_eq!(enc.encrypted, 1, "moved, not encrypted again");
}
