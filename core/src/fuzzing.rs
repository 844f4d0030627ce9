//! Entry points shared by the cargo-fuzz targets (`fuzz/`), the property tests and the saved
//! crash-regression inputs (`core/testdata/fuzz-regressions/<target>/`): one function per parser
//! that reads outside bytes, checking what must hold whatever the bytes. Each panics (through
//! `assert!`) on a finding, which is what a fuzzer looks for.
//!
//! Compiled for tests and with the `fuzzing` feature only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::admin::frame::{decode, encode};
use crate::admin::proto::Request;
use crate::channel::InputRole;
use crate::dash::parse::{parse_mpd, SegmentsIn};
use crate::dash::DashMedia;
use crate::hls::media::HlsMedia;
use crate::hls::{parse_playlist, PlaylistIn};
use crate::http::{parse_head, BodyDecoder, BodyKind, Limits};
use crate::media::{Media, MediaOutput, MediaParams};
use crate::time::Now;
use bytes::{Bytes, BytesMut};

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Every fuzz target, by name, for the regression runner.
pub const TARGETS: &[(&str, Target)] = &[
    ("http_head", http_head),
    ("http_chunked", http_chunked),
    ("hls_parse", hls_parse),
    ("hls_ingest", hls_ingest),
    ("admin_frame", admin_frame),
    ("ts_repackage", ts_repackage),
    ("dash_parse", dash_parse),
    ("dash_ingest", dash_ingest),
    ("cmaf_chunks", cmaf_chunks),
    ("h2_request", h2_request),
    ("h2_response", h2_response),
    ("x509_not_after", x509_not_after),
];

/// Request heads, fed whole and then in two reads (the first byte picks the cut): never a
/// panic, never a lost byte (what is left is a suffix of the input), never more headers than
/// the limit.
pub fn http_head(data: &[u8]) {
    let limits = Limits {
        max_head_bytes: 4096,
        max_headers: 32,
    };
    let mut buf = BytesMut::from(data);
    if let Ok(Some(head)) = parse_head(&mut buf, &limits) {
        assert!(head.headers().len() <= 32);
        let _ = head.path();
        let _ = crate::http::parse_v1_path(head.path());
    }
    assert!(data.ends_with(&buf));
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut buf = BytesMut::from(&data[..cut]);
    if let Ok(None) = parse_head(&mut buf, &limits) {
        buf.extend_from_slice(&data[cut..]);
        let _ = parse_head(&mut buf, &limits);
        assert!(data.ends_with(&buf));
    }
}

/// HTTP/2 requests through the HTTP/1.1 engine: the bytes are split into a method, a target,
/// an authority and fields (on NUL bytes, as the HTTP/2 layer hands them over decoded); the head
/// written from them either is refused or parses back to the same method, path and fields.
pub fn h2_request(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0);
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let authority = parts.next();
    let rest: Vec<&[u8]> = parts.collect();
    let fields: Vec<(&[u8], &[u8])> = rest
        .chunks(2)
        .filter_map(|c| Some((c[0], *c.get(1)?)))
        .collect();
    let Ok(mut head) =
        crate::http::h2_bridge::request_head(method, target, authority, fields.iter().copied())
    else {
        return;
    };
    let limits = Limits::default();
    if let Ok(Some(h)) = parse_head(&mut head, &limits) {
        assert!(target.starts_with(h.path()));
        assert!(head.is_empty(), "one request head, nothing after it");
    }
}

/// A response written for HTTP/1.1 read back for HTTP/2, fed whole and in two writes (the
/// first byte picks the cut): never a panic; the body bytes that come out are the same either
/// way, and never more than what was written.
pub fn h2_response(data: &[u8]) {
    use crate::http::h2_bridge::{Piece, ResponseBridge};
    let run = |writes: &[&[u8]]| {
        let mut b = ResponseBridge::new(false);
        let mut out = Vec::new();
        for w in writes {
            if b.feed(Bytes::copy_from_slice(w), &mut out).is_err() {
                break;
            }
        }
        b.close(&mut out);
        let body: Vec<u8> = out
            .iter()
            .filter_map(|p| match p {
                Piece::Data(d) => Some(d.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        (body, out.iter().filter(|p| **p == Piece::End).count())
    };
    let (whole, ends) = run(&[data]);
    assert!(whole.len() <= data.len());
    assert!(ends <= 1);
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (split, _) = run(&[&data[..cut], &data[cut..]]);
    let n = whole.len().min(split.len());
    assert_eq!(whole[..n], split[..n]);
}

/// A certificate's `notAfter`: never a panic whatever the DER.
pub fn x509_not_after(data: &[u8]) {
    let _ = crate::x509::not_after(data);
}

/// Chunked bodies, capped at `16 × first byte` and fed in two reads: never a panic, never more
/// payload than the cap, and what is left unconsumed is a suffix of the input.
pub fn http_chunked(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let max = u64::from(first) * 16;
    let Ok(mut dec) = BodyDecoder::new(BodyKind::Chunked, max) else {
        return;
    };
    let cut = usize::from(first).min(rest.len());
    let mut input = BytesMut::from(&rest[..cut]);
    let mut out = BytesMut::new();
    if dec.decode(&mut input, &mut out).is_ok() {
        input.extend_from_slice(&rest[cut..]);
        let _ = dec.decode(&mut input, &mut out);
        assert!(rest.ends_with(&input));
    }
    assert!(out.len() as u64 <= max);
}

fn assert_safe_path(uri: &str) {
    assert!(!uri.is_empty() && !uri.starts_with('/'), "{uri:?}");
    assert!(
        uri.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".."),
        "{uri:?}"
    );
}

/// Ingested playlists through [`parse_playlist`]: never a panic, and every URI that comes out
/// is a safe relative path inside the input.
pub fn hls_parse(data: &[u8]) {
    match parse_playlist("hi/index.m3u8", data) {
        Ok(PlaylistIn::Media(m)) => {
            for s in &m.segments {
                assert_safe_path(&s.uri);
                if let Some(u) = &s.map_uri {
                    assert_safe_path(u);
                }
            }
        }
        Ok(PlaylistIn::Master(m)) => {
            for v in &m.variants {
                assert_safe_path(&v.uri);
            }
            for r in m.media.iter().filter_map(|r| r.uri.as_deref()) {
                assert_safe_path(r);
            }
        }
        Err(_) => {}
    }
}

/// The channel settings and start time both ingest targets feed their media with.
fn ingest_setup() -> (MediaParams, Now) {
    let params = MediaParams {
        max_segment_ms: 6_000,
        window_ms: 60_000,
        failover: Default::default(),
        cmaf: false,
        end_on_endlist: false,
        timeshift: false,
        encrypted: false,
        // Announcing segments ahead (low latency) is exercised by every input too.
        low_latency: true,
    };
    let now = Now {
        mono_ms: 1_000,
        unix_ms: 1_700_000_000_000,
    };
    (params, now)
}

/// Ingested playlists through [`HlsMedia`]'s [`Media::put`], the way the daemon applies them: a few
/// segments first, then the bytes as a rendition playlist and as the master of both inputs,
/// then time passes. Never a panic; the snapshot renders and answers lookups.
pub fn hls_ingest(data: &[u8]) {
    let (params, now) = ingest_setup();
    let mut m = HlsMedia::new(params, now);
    let ts = Bytes::from_static(&[0x47; 188]);
    for name in [
        "seg0.ts",
        "seg1.ts",
        "hi/seg0.ts",
        "hi/seg1.ts",
        "a.m4s",
        "init.mp4",
    ] {
        let _ = m.put(InputRole::Primary, name, ts.clone(), now);
    }
    let body = Bytes::copy_from_slice(data);
    let _ = m.put(
        InputRole::Primary,
        "hi/index.m3u8",
        body.clone(),
        now.plus_ms(100),
    );
    let _ = m.put(
        InputRole::Primary,
        "main.m3u8",
        body.clone(),
        now.plus_ms(200),
    );
    let _ = m.put(InputRole::Backup, "main.m3u8", body, now.plus_ms(300));
    m.tick(now.plus_ms(20_000));
    let snap = m.snapshot();
    let _ = snap.lookup("main", "main.m3u8");
    let _ = snap.lookup("main", "0/index.m3u8");
}

/// Ingested MPDs through [`parse_mpd`]: never a panic, and every init and listed segment path
/// that comes out is a safe relative path inside the input, as is a numbered template's
/// first segment.
pub fn dash_parse(data: &[u8]) {
    let Ok(mpd) = parse_mpd("live/main.mpd", data) else {
        return;
    };
    let reps = mpd
        .periods
        .iter()
        .flat_map(|p| &p.adaptation_sets)
        .flat_map(|a| &a.representations);
    for r in reps {
        if let Some(init) = &r.init {
            assert_safe_path(init);
        }
        match &r.segments {
            SegmentsIn::Listed(segs) => segs.iter().for_each(|s| assert_safe_path(&s.path)),
            SegmentsIn::Numbered { start_number, .. } => {
                if let Some(p) = r.numbered_path(*start_number) {
                    assert_safe_path(&p);
                }
            }
        }
    }
}

/// Ingested MPDs through [`DashMedia::put`], the way the daemon applies them: a few init and
/// media segments under the names ffmpeg uses, then the bytes as the MPD of both inputs, then
/// time passes. Never a panic; the snapshot answers lookups.
pub fn dash_ingest(data: &[u8]) {
    let (params, now) = ingest_setup();
    let mut m = DashMedia::new(params, now);
    let seg = Bytes::from_static(b"\0\0\0\x08moof");
    for name in [
        "init-stream0.m4s",
        "chunk-stream0-00001.m4s",
        "chunk-stream0-00002.m4s",
        "init-stream1.m4s",
        "chunk-stream1-00001.m4s",
    ] {
        let _ = m.put(InputRole::Primary, name, seg.clone(), now);
    }
    let body = Bytes::copy_from_slice(data);
    let _ = m.put(
        InputRole::Primary,
        "main.mpd",
        body.clone(),
        now.plus_ms(100),
    );
    let _ = m.put(InputRole::Backup, "main.mpd", body, now.plus_ms(200));
    m.tick(now.plus_ms(20_000));
    let snap = m.snapshot();
    let _ = snap.lookup("main", "main.mpd");
    let _ = snap.lookup("main", "0/init0.m4s");
}

/// A growing fMP4 segment cut into CMAF chunks (what a low-latency encoder uploads), fed whole
/// and then as two prefixes (the first byte picks the cut): never a panic; the chunks tile the
/// body from its first byte in order; fed in pieces, the same chunks come out as fed whole (up
/// to where either stopped on an error).
pub fn cmaf_chunks(data: &[u8]) {
    use crate::fmp4::chunks::ChunkCutter;
    let mut whole = ChunkCutter::default();
    let all = whole.feed(data);
    let cut = data
        .first()
        .map_or(0, |&b| usize::from(b) * data.len() / 256);
    let mut pieces = ChunkCutter::default();
    let mut got = Vec::new();
    let mut failed = false;
    for end in [cut, data.len()] {
        match pieces.feed(&data[..end]) {
            Ok(chunks) => got.extend(chunks),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let mut at = 0;
    for c in &got {
        assert_eq!(c.range.start, at);
        assert!(c.range.end > c.range.start && c.range.end <= data.len());
        at = c.range.end;
    }
    assert_eq!(pieces.complete_len(), at);
    match all {
        Ok(all) if !failed => assert_eq!(all, got),
        Ok(all) => assert!(all.starts_with(&got)),
        Err(_) => {}
    }
}

/// Admin socket frames: never a panic, a decoded frame never claims more bytes than it was
/// given, and what decodes re-encodes to a frame that decodes the same.
pub fn admin_frame(data: &[u8]) {
    if let Ok(Some((req, used))) = decode::<Request>(data) {
        assert!(used <= data.len());
        if let Ok(bytes) = encode(&req) {
            let again = decode::<Request>(&bytes);
            assert!(matches!(again, Ok(Some((ref r, n))) if *r == req && n == bytes.len()));
        }
    }
}

/// TS segments through the CMAF repackager: the input whole, then cut in two (the first byte
/// picks the cut) and fed as two consecutive segments to the same repackager. Never a panic;
/// what comes out is well-formed: one fragment per track, every init and fragment tiled
/// exactly by its top-level boxes, a `trun` entry per sample, sizes that add up to `mdat`.
pub fn ts_repackage(data: &[u8]) {
    use crate::cmaf::Repackager;
    use crate::fmp4::fragment::parse_media_segment;
    use crate::fmp4::top_level;
    let cut = data
        .first()
        .map_or(0, |&b| usize::from(b) * data.len() / 256);
    let mut r = Repackager::new();
    for (seq, part) in [data, &data[..cut], &data[cut..]].into_iter().enumerate() {
        let Ok(out) = r.repackage(part, seq as u32) else {
            continue;
        };
        assert_eq!(out.tracks.len(), out.fragments.len());
        for (i, f) in out.fragments.iter().enumerate() {
            assert_eq!(f.track, i);
            let tiles =
                |b: &[u8]| top_level(b).unwrap().iter().map(|t| t.2).sum::<usize>() == b.len();
            assert!(tiles(&f.bytes) && tiles(&out.tracks[i].init));
            let p = parse_media_segment(&f.bytes).unwrap();
            assert_eq!(p.samples.len() as u32, f.samples);
            assert_eq!(
                p.samples.iter().map(|s| s.size as usize).sum::<usize>(),
                p.mdat.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The saved inputs of every target (crashes the fuzzers found, and seeds), replayed.
    #[test]
    fn fuzz_regressions_replay() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz-regressions");
        let mut n = 0;
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let r = std::panic::catch_unwind(|| target(&bytes));
                assert!(r.is_ok(), "{name}: {} fails again", path.display());
                n += 1;
            }
        }
        assert!(n > 0, "no saved inputs found under {}", root.display());
    }

    /// Lines a playlist is made of, good and bad, for the generators below.
    fn playlist_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("#EXTM3U".to_string()),
            Just("#EXT-X-VERSION:3".to_string()),
            (0u64..20).prop_map(|d| format!("#EXT-X-TARGETDURATION:{d}")),
            any::<u64>().prop_map(|s| format!("#EXT-X-MEDIA-SEQUENCE:{s}")),
            "-?[0-9]{0,6}(\\.[0-9]{0,4})?(e[0-9]{1,3})?".prop_map(|d| format!("#EXTINF:{d},")),
            Just("#EXT-X-DISCONTINUITY".to_string()),
            Just("#EXT-X-ENDLIST".to_string()),
            "[a-z0-9./%?#:]{0,12}".prop_map(|u| format!("#EXT-X-MAP:URI=\"{u}\"")),
            "[A-Z=,\"0-9a-z.-]{0,30}".prop_map(|a| format!("#EXT-X-STREAM-INF:{a}")),
            "[A-Z=,\"0-9a-z./-]{0,30}".prop_map(|a| format!("#EXT-X-MEDIA:{a}")),
            Just("#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000+0000".to_string()),
            "(\\.\\./|\\./|/|[a-z]{1,4}/){0,3}[a-z0-9_]{0,6}\\.(ts|m4s|mp4|m3u8|aac|x)"
                .prop_map(|u| u),
            "[ -~]{0,20}".prop_map(|u| u),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn playlists_from_lines(lines in proptest::collection::vec(playlist_line(), 0..16),
                                crlf in any::<bool>()) {
            let sep = if crlf { "\r\n" } else { "\n" };
            let text = lines.join(sep);
            hls_parse(text.as_bytes());
            hls_ingest(text.as_bytes());
        }

        #[test]
        fn mpds_from_pieces(
            dynamic in any::<bool>(),
            media in "[a-z$A-Z%0-9./_-]{0,24}",
            init in "[a-z$A-Z0-9./_-]{0,16}",
            timescale in 0u32..100_000,
            times in proptest::collection::vec((any::<u32>(), 0u32..10_000, 0i32..3), 0..6),
        ) {
            let tl: String = times
                .iter()
                .map(|(t, d, r)| format!("<S t=\"{t}\" d=\"{d}\" r=\"{r}\"/>"))
                .collect();
            let kind = if dynamic { "dynamic" } else { "static" };
            let text = format!(
                "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"{kind}\" \
                 availabilityStartTime=\"1970-01-01T00:00:00Z\"><Period id=\"0\" start=\"PT0S\">\
                 <AdaptationSet contentType=\"video\" mimeType=\"video/mp4\">\
                 <Representation id=\"0\" bandwidth=\"800000\" codecs=\"avc1.64001f\">\
                 <SegmentTemplate timescale=\"{timescale}\" initialization=\"{init}\" media=\"{media}\">\
                 <SegmentTimeline>{tl}</SegmentTimeline></SegmentTemplate>\
                 </Representation></AdaptationSet></Period></MPD>"
            );
            dash_parse(text.as_bytes());
            dash_ingest(text.as_bytes());
        }

        #[test]
        fn arbitrary_bytes_everywhere(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            for (_, target) in TARGETS {
                target(&data);
            }
        }

        #[test]
        fn admin_frames_with_a_valid_header(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut data = u32::try_from(payload.len() + 2).unwrap().to_be_bytes().to_vec();
            data.extend_from_slice(&crate::admin::frame::PROTOCOL_VERSION.to_be_bytes());
            data.extend_from_slice(&payload);
            admin_frame(&data);
        }

        #[test]
        fn heads_from_pieces(
            method in "(GET|PUT|POST|DELETE|HEAD|OPTIONS|get|[A-Z]{1,8})",
            target in "(/v1/[0-9a-f]{28}/[0-9a-f]{28}/)?[ -~]{0,40}",
            version in "HTTP/(1\\.0|1\\.1|0\\.9|2\\.0|1\\.2)",
            headers in proptest::collection::vec(
                "(Content-Length|Transfer-Encoding|Connection|Expect|Host|X-[a-z]{1,4}): ?[ -~]{0,24}", 0..8),
        ) {
            let mut head = format!("{method} {target} {version}\r\n");
            for h in headers {
                head.push_str(&h);
                head.push_str("\r\n");
            }
            head.push_str("\r\n");
            http_head(head.as_bytes());
        }
    }
}
