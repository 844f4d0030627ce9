//! HTTP behaviour of the ingest and pull listeners, with hand-made playlists and segments
//! (no ffmpeg needed): status codes, framing (chunked, Expect: 100-continue, truncated and
//! garbage bodies), keep-alive and pipelining, HEAD, Range, ETag, CORS, Cache-Control, and the
//! sliding window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

fn assert_stored(r: &Response, what: &str) {
    assert!(
        r.status == 201 || r.status == 204,
        "{what}: ingest answers 201 or 204, got {} {}: {}",
        r.status,
        r.reason,
        r.text()
    );
}

fn assert_error(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?} body={:?}", r.text());
    assert!(
        !r.text().trim().is_empty(),
        "{what}: an error has a short text body saying why"
    );
}

/// The media playlist a player reaches from the endpoint URL (the endpoint's manifest, or its
/// first variant when that is a master playlist): (path, response).
fn served_media(d: &Daemon, f: &Fixture) -> (String, Response) {
    let main = get(d.pull, &f.endpoint_path);
    assert_eq!(
        main.status,
        200,
        "endpoint manifest: {main:?} {}",
        main.text()
    );
    if !is_master(&main.text()) {
        return (f.endpoint_path.clone(), main);
    }
    let uri = playlist_uris(&main.text())
        .into_iter()
        .next()
        .expect("master lists a variant");
    let path = resolve(&f.endpoint_path, &uri);
    let r = get(d.pull, &path);
    assert_eq!(r.status, 200, "variant playlist {path}: {r:?}");
    (path, r)
}

/// Pull paths of the segments a served media playlist lists.
fn segment_paths(playlist_path: &str, playlist: &str) -> Vec<String> {
    playlist_uris(playlist)
        .iter()
        .map(|u| resolve(playlist_path, u))
        .collect()
}

/// A channel that has received three segments and a playlist on its primary input.
struct Live {
    f: Fixture,
    /// Pushed segment bytes, in order.
    segs: Vec<Vec<u8>>,
    /// Pull path of the served media playlist.
    media_path: String,
    /// Served media playlist.
    media: String,
    /// Pull paths of the served segments, in order.
    seg_paths: Vec<String>,
}

fn push_segments(d: &Daemon, f: &Fixture, range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
    let mut c = Conn::connect(d.ingest);
    range
        .map(|i| {
            let bytes = fake_ts(i, 20);
            let r = c.put_chunked(&f.ingest(&format!("seg_{i:05}.ts")), &bytes);
            assert_stored(&r, "segment PUT");
            bytes
        })
        .collect()
}

fn playlist_for(range: std::ops::Range<u32>) -> String {
    let segs: Vec<(String, f64)> = range
        .clone()
        .map(|i| (format!("seg_{i:05}.ts"), 2.0))
        .collect();
    encoder_playlist(range.start as u64, &segs, false)
}

fn live_channel(d: &Daemon) -> Live {
    let f = d.hls_channel("live", &[]);
    let segs = push_segments(d, &f, 0..3);
    let r =
        Conn::connect(d.ingest).put_chunked(&f.ingest("main.m3u8"), playlist_for(0..3).as_bytes());
    assert_stored(&r, "playlist PUT");
    let first = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(5));
    assert_eq!(
        first.status, 200,
        "endpoint serves after media arrived: {first:?}"
    );
    let (media_path, resp) = served_media(d, &f);
    let media = resp.text();
    let seg_paths = segment_paths(&media_path, &media);
    assert_eq!(
        seg_paths.len(),
        3,
        "served playlist lists the 3 pushed segments:\n{media}"
    );
    Live {
        f,
        segs,
        media_path,
        media,
        seg_paths,
    }
}

#[test]
fn put_then_pull_roundtrip() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    let main = get(d.pull, &l.f.endpoint_path);
    let ct = |r: &Response| r.header("content-type").unwrap_or_default().to_string();
    assert!(ct(&main).starts_with(PLAYLIST_TYPE), "{main:?}");
    assert!(main.text().starts_with("#EXTM3U"), "{}", main.text());
    let media = get(d.pull, &l.media_path);
    assert!(ct(&media).starts_with(PLAYLIST_TYPE), "{media:?}");
    assert!(l.media.contains("#EXT-X-TARGETDURATION:"), "{}", l.media);
    for (p, want) in l.seg_paths.iter().zip(&l.segs) {
        let r = get(d.pull, p);
        assert_eq!(r.status, 200, "{p}: {r:?}");
        assert_eq!(&r.body, want, "{p}: the pushed bytes, unchanged");
    }

    // POST with Content-Length stores too.
    let seg3 = fake_ts(3, 20);
    let r = http(
        d.ingest,
        "POST",
        &l.f.ingest("seg_00003.ts"),
        &[],
        Some(&seg3),
    );
    assert_stored(&r, "segment POST");
    let pl = playlist_for(0..4);
    let r = http(
        d.ingest,
        "POST",
        &l.f.ingest("main.m3u8"),
        &[],
        Some(pl.as_bytes()),
    );
    assert_stored(&r, "playlist POST");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (path, r) = served_media(&d, &l.f);
        let paths = segment_paths(&path, &r.text());
        if paths.len() == 4 {
            let s = get(d.pull, &paths[3]);
            assert_eq!(s.body, seg3, "POSTed segment served");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "POSTed playlist not served:\n{}",
            r.text()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn expect_100_continue_then_body() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("cont", &[]);
    let mut c = Conn::connect(d.ingest);
    let seg = fake_ts(0, 20);
    c.send(
        format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
            f.ingest("seg_00000.ts"),
            d.ingest
        )
        .as_bytes(),
    )
    .unwrap();
    let interim = c.read_response(false).expect("an answer to Expect");
    assert_eq!(
        interim.status, 100,
        "Expect: 100-continue answered with 100 before the body: {interim:?}"
    );
    c.send(&chunked(&seg, 1000)).unwrap();
    assert_stored(&c.read_response(false).unwrap(), "segment after 100");

    // Same connection, Content-Length this time.
    let pl = playlist_for(0..1);
    c.send(
        format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            f.ingest("main.m3u8"),
            d.ingest,
            pl.len()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(c.read_response(false).unwrap().status, 100);
    c.send(pl.as_bytes()).unwrap();
    assert_stored(&c.read_response(false).unwrap(), "playlist after 100");

    assert_eq!(
        wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(5)).status,
        200
    );
    let (path, r) = served_media(&d, &f);
    let segs = segment_paths(&path, &r.text());
    assert_eq!(segs.len(), 1);
    assert_eq!(get(d.pull, &segs[0]).body, seg);
}

#[test]
fn delete_with_empty_chunked_body_keeps_connection_usable() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("del", &[]);
    let mut c = Conn::connect(d.ingest);
    assert_stored(
        &c.put_chunked(&f.ingest("seg_00000.ts"), &fake_ts(0, 5)),
        "PUT",
    );
    // Exactly what ffmpeg sends for -hls_flags delete_segments.
    c.send(
        format!(
            "DELETE {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Lavf/59.27.100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            f.ingest("seg_00000.ts"),
            d.ingest
        )
        .as_bytes(),
    )
    .unwrap();
    let r = c.read_response(false).unwrap();
    assert_eq!(r.status, 204, "DELETE answers 204: {r:?}");
    // The empty body was consumed: the next request on the connection parses.
    assert_stored(
        &c.put_chunked(&f.ingest("seg_00001.ts"), &fake_ts(1, 5)),
        "PUT after DELETE",
    );
    let r = c.request("GET", &f.ingest("seg_00001.ts"), &[], None);
    assert_eq!(
        r.status, 405,
        "GET on ingest after DELETE on the same connection"
    );
}

#[test]
fn ingest_refusals() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("ref", &[]);
    let ghost = "0123456789abcdef0123456789ab";
    let input_id = f.channel["inputs"][0]["id"].as_str().unwrap();
    let body = fake_ts(0, 2);

    let r = http(
        d.ingest,
        "PUT",
        &format!("/v1/{ghost}/{input_id}/seg.ts"),
        &[],
        Some(&body),
    );
    assert_error(&r, 404, "unknown channel");
    let r = http(
        d.ingest,
        "PUT",
        &format!("/v1/{}/{ghost}/seg.ts", f.id),
        &[],
        Some(&body),
    );
    assert_error(&r, 404, "unknown input");
    let ep_id = f.endpoint["id"].as_str().unwrap();
    let r = http(
        d.ingest,
        "PUT",
        &format!("/v1/{}/{ep_id}/seg.ts", f.id),
        &[],
        Some(&body),
    );
    assert_error(&r, 404, "an endpoint id is not an input");

    let r = http(
        d.ingest,
        "PUT",
        &f.ingest("evil.exe"),
        &[],
        Some(b"MZ\x90\x00"),
    );
    assert_error(&r, 415, "bad extension");

    let r = get(d.ingest, &f.ingest("main.m3u8"));
    assert_error(&r, 405, "GET on ingest");
    let allow = r.header("allow").expect("405 carries Allow").to_uppercase();
    assert!(
        allow.contains("PUT") && allow.contains("DELETE"),
        "Allow: {allow}"
    );

    // A huge Content-Length is refused from the head alone, before any body byte.
    let mut c = Conn::connect(d.ingest);
    c.send(
        format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Length: 99999999999\r\n\r\n",
            f.ingest("big.ts"),
            d.ingest
        )
        .as_bytes(),
    )
    .unwrap();
    c.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let r = c.read_response(false).expect("413 before the body is sent");
    assert_error(&r, 413, "Content-Length: 99999999999");

    // Both inputs accept.
    let backup = split_url(&f.backup_url).1;
    assert_stored(
        &http(
            d.ingest,
            "PUT",
            &format!("{backup}/seg_00000.ts"),
            &[],
            Some(&body),
        ),
        "backup input",
    );
}

#[test]
fn oversized_bodies_413_with_limit_from_config() {
    let d = Daemon::start(DaemonOpts {
        config_toml: Some("[limits]\nmax_object_bytes = 1048576\n".into()),
        ..DaemonOpts::default()
    });
    let f = d.hls_channel("big", &[]);

    // Under the limit: stored.
    let ok = vec![0x47u8; 1_048_576 - 4096];
    assert_stored(
        &http(d.ingest, "PUT", &f.ingest("seg_00000.ts"), &[], Some(&ok)),
        "body under max_object_bytes",
    );

    // Content-Length over the limit: refused from the head.
    let mut c = Conn::connect(d.ingest);
    c.send(
        format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            f.ingest("seg_00001.ts"),
            d.ingest,
            1_048_576 + 1
        )
        .as_bytes(),
    )
    .unwrap();
    c.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_error(
        &c.read_response(false).expect("413"),
        413,
        "Content-Length over limit",
    );

    // Chunked, 2 MiB: refused once it passes the limit. Read while writing, so the answer is
    // seen even if the daemon closes (and resets) the connection mid-body.
    let c = Conn::connect(d.ingest);
    let mut w = c.stream.try_clone().unwrap();
    let path = f.ingest("seg_00002.ts");
    let host = d.ingest.to_string();
    let writer = thread::spawn(move || {
        let head =
            format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n");
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        let body = chunked(&vec![0x47u8; 2 * 1_048_576], 65536);
        for part in body.chunks(65536) {
            if w.write_all(part).is_err() {
                return;
            }
        }
    });
    let mut c = c;
    let r = c
        .read_response(false)
        .expect("413 for an oversized chunked body");
    assert_error(&r, 413, "chunked body over max_object_bytes");
    drop(c);
    writer.join().unwrap();

    // Still serving.
    let r = get(d.ingest, &f.ingest("main.m3u8"));
    assert_eq!(r.status, 405);
}

#[test]
fn pull_refusals_and_503_before_media() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("pull", &[]);
    let r = get(d.pull, &f.endpoint_path);
    assert_error(&r, 503, "endpoint before any media");

    let ghost = "0123456789abcdef0123456789ab";
    let ep_id = f.endpoint["id"].as_str().unwrap();
    assert_error(
        &get(d.pull, &format!("/v1/{ghost}/{ep_id}/main.m3u8")),
        404,
        "unknown channel",
    );
    assert_error(
        &get(d.pull, &format!("/v1/{}/{ghost}/main.m3u8", f.id)),
        404,
        "unknown endpoint",
    );
    let input_id = f.channel["inputs"][0]["id"].as_str().unwrap();
    assert_error(
        &get(d.pull, &format!("/v1/{}/{input_id}/main.m3u8", f.id)),
        404,
        "an input id is not an endpoint",
    );

    let r = http(d.pull, "PUT", &f.endpoint_path, &[], Some(b"#EXTM3U\n"));
    assert_error(&r, 405, "PUT on pull");
    let allow: HashSet<String> = r
        .header("allow")
        .expect("405 carries Allow")
        .split(',')
        .map(|m| m.trim().to_uppercase())
        .collect();
    let want: HashSet<String> = ["GET", "HEAD", "OPTIONS"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(allow, want, "Allow: GET, HEAD, OPTIONS");
}

#[test]
fn head_gives_headers_only() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    let mut c = Conn::connect(d.pull);
    for path in [&l.f.endpoint_path, &l.seg_paths[0]] {
        let full = c.request("GET", path, &[], None);
        let head = c.request("HEAD", path, &[], None);
        assert_eq!(head.status, 200, "HEAD {path}");
        assert_eq!(
            head.header("content-length"),
            Some(full.body.len().to_string().as_str()),
            "HEAD {path}: Content-Length of the GET body"
        );
        assert_eq!(head.header("content-type"), full.header("content-type"));
    }
    // Had HEAD sent a body, this response would not parse.
    let r = c.request("GET", &l.seg_paths[1], &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, l.segs[1]);
    assert!(
        c.pending().is_empty(),
        "no stray bytes after HEAD: {:?}",
        text(c.pending())
    );
}

#[test]
fn range_gives_206() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    let seg = &l.segs[0];
    let n = seg.len();
    let r = http(
        d.pull,
        "GET",
        &l.seg_paths[0],
        &[("Range", "bytes=0-99")],
        None,
    );
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-99/{n}").as_str())
    );
    assert_eq!(r.body, seg[..100]);
    let r = http(
        d.pull,
        "GET",
        &l.seg_paths[0],
        &[("Range", "bytes=100-")],
        None,
    );
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 100-{}/{n}", n - 1).as_str())
    );
    assert_eq!(r.body, seg[100..]);
}

#[test]
fn etag_and_304() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    for path in [&l.f.endpoint_path, &l.media_path, &l.seg_paths[0]] {
        let r = get(d.pull, path);
        let etag = r
            .header("etag")
            .unwrap_or_else(|| panic!("ETag on {path}: {r:?}"))
            .to_string();
        let again = get(d.pull, path);
        assert_eq!(
            again.header("etag"),
            Some(etag.as_str()),
            "stable ETag for unchanged {path}"
        );
        let nm = http(d.pull, "GET", path, &[("If-None-Match", &etag)], None);
        assert_eq!(
            nm.status, 304,
            "If-None-Match with the ETag on {path}: {nm:?}"
        );
        assert!(nm.body.is_empty());
        let other = http(
            d.pull,
            "GET",
            path,
            &[("If-None-Match", "\"not-it\"")],
            None,
        );
        assert_eq!(other.status, 200, "a different ETag gets the body");
    }
}

#[test]
fn cors_and_cache_control_present() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    for path in [&l.f.endpoint_path, &l.media_path, &l.seg_paths[0]] {
        let r = get(d.pull, path);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "CORS on {path}: {r:?}"
        );
        let cc = r
            .header("cache-control")
            .unwrap_or_else(|| panic!("Cache-Control on {path}"));
        assert!(!cc.trim().is_empty());
    }
}

/// A browser player on another origin sees an error's status only when the error carries CORS:
/// without it, hls.js reports status 0 (a network error) for a 404 or a 503.
#[test]
fn cors_on_error_answers() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("corserr", &[]);
    let before = get(d.pull, &f.endpoint_path);
    assert_error(&before, 503, "endpoint before any media");
    let ghost = "0123456789abcdef0123456789ab";
    let unknown = get(d.pull, &format!("/v1/{ghost}/{ghost}/main.m3u8"));
    assert_error(&unknown, 404, "unknown channel");
    let head = http(d.pull, "HEAD", &f.endpoint_path, &[], None);
    let put = http(d.pull, "PUT", &f.endpoint_path, &[], Some(b"#EXTM3U\n"));
    assert_error(&put, 405, "PUT on pull");
    for (what, r) in [
        ("503", &before),
        ("404", &unknown),
        ("HEAD 503", &head),
        ("405", &put),
    ] {
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "CORS on the {what} answer: {r:?}"
        );
    }
    let exposed = before
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        before.header("retry-after").is_some() && exposed.contains("retry-after"),
        "the 503's Retry-After is readable by a page: {before:?}"
    );

    let l = live_channel(&d);
    let gone = get(d.pull, &resolve(&l.media_path, "999999999.ts"));
    assert_eq!(gone.status, 404, "{gone:?}");
    assert_eq!(
        gone.header("access-control-allow-origin"),
        Some("*"),
        "CORS on a segment 404: {gone:?}"
    );
}

#[test]
fn keep_alive_and_pipelining() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    let main = get(d.pull, &l.f.endpoint_path);
    let mut c = Conn::connect(d.pull);
    // Three requests in one write: answers come back in order.
    let mut batch = build_request(&d.pull.to_string(), "GET", &l.f.endpoint_path, &[], None);
    batch.extend(build_request(
        &d.pull.to_string(),
        "GET",
        &l.seg_paths[2],
        &[],
        None,
    ));
    batch.extend(build_request(
        &d.pull.to_string(),
        "GET",
        &l.seg_paths[0],
        &[],
        None,
    ));
    c.send(&batch).unwrap();
    let r1 = c.read_response(false).unwrap();
    let r2 = c.read_response(false).unwrap();
    let r3 = c.read_response(false).unwrap();
    assert_eq!((r1.status, r2.status, r3.status), (200, 200, 200));
    assert_eq!(r1.body, main.body, "first answer is the manifest");
    assert_eq!(r2.body, l.segs[2], "second answer is segment 2");
    assert_eq!(r3.body, l.segs[0], "third answer is segment 0");
    // Keep-alive: more requests on the same connection.
    for _ in 0..5 {
        assert_eq!(c.request("GET", &l.seg_paths[1], &[], None).body, l.segs[1]);
    }

    // Pipelined ingest: a segment and a playlist in one write.
    let mut ci = Conn::connect(d.ingest);
    let seg3 = fake_ts(3, 20);
    let pl = playlist_for(0..4);
    let mut batch = build_request(
        &d.ingest.to_string(),
        "PUT",
        &l.f.ingest("seg_00003.ts"),
        &[],
        Some(&seg3),
    );
    batch.extend(build_request(
        &d.ingest.to_string(),
        "PUT",
        &l.f.ingest("main.m3u8"),
        &[],
        Some(pl.as_bytes()),
    ));
    ci.send(&batch).unwrap();
    assert_stored(&ci.read_response(false).unwrap(), "pipelined segment");
    assert_stored(&ci.read_response(false).unwrap(), "pipelined playlist");
}

#[test]
fn unparseable_playlist_400_keeps_previous() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    let main_before = get(d.pull, &l.f.endpoint_path).body;
    for bad in [&b"this is not a playlist\n"[..], b"", b"\x00\x01\x02\xff"] {
        let r = Conn::connect(d.ingest).put_chunked(&l.f.ingest("main.m3u8"), bad);
        assert_error(&r, 400, &format!("unparseable playlist {:?}", text(bad)));
    }
    assert_eq!(
        get(d.pull, &l.f.endpoint_path).body,
        main_before,
        "previous manifest still served"
    );
    assert_eq!(
        get(d.pull, &l.media_path).text(),
        l.media,
        "previous media playlist still served"
    );
    assert_eq!(get(d.pull, &l.seg_paths[2]).body, l.segs[2]);
}

#[test]
fn truncated_bodies_store_nothing() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    push_segments(&d, &l.f, 3..4);
    let next = playlist_for(0..4);
    let head = |framing: &str| {
        format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\n{framing}\r\n\r\n",
            l.f.ingest("main.m3u8"),
            d.ingest
        )
    };
    // Chunked: the whole chunk arrives but not the last-chunk; then the encoder dies.
    let mut req = head("Transfer-Encoding: chunked").into_bytes();
    req.extend_from_slice(format!("{:x}\r\n{next}\r\n", next.len()).as_bytes());
    let mut c = Conn::connect(d.ingest);
    c.send(&req).unwrap();
    let _ = c.stream.shutdown(Shutdown::Both);
    drop(c);
    // Content-Length: fewer bytes than announced.
    let mut req = head(&format!("Content-Length: {}", next.len() + 100)).into_bytes();
    req.extend_from_slice(next.as_bytes());
    let mut c = Conn::connect(d.ingest);
    c.send(&req).unwrap();
    let _ = c.stream.shutdown(Shutdown::Both);
    drop(c);

    thread::sleep(Duration::from_millis(500));
    assert_eq!(
        get(d.pull, &l.media_path).text(),
        l.media,
        "a truncated playlist body is not stored"
    );

    // The channel still takes a complete playlist (so the check above could fail).
    assert_stored(
        &Conn::connect(d.ingest).put_chunked(&l.f.ingest("main.m3u8"), next.as_bytes()),
        "complete playlist",
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while segment_paths(&l.media_path, &get(d.pull, &l.media_path).text()).len() != 4 {
        assert!(Instant::now() < deadline, "complete playlist not served");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn garbage_is_answered_400_or_closed_and_the_daemon_keeps_serving() {
    let d = Daemon::start(DaemonOpts::default());
    let l = live_channel(&d);
    let mut tls = vec![
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
    ];
    tls.extend((0u8..=200).map(|i| i.wrapping_mul(37)));
    tls.extend_from_slice(b"\r\n\r\n");
    let bad_chunk = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        l.f.ingest("seg_00009.ts")
    );
    let garbage: Vec<Vec<u8>> = vec![
        tls,
        b"\x00\x00\x00\x00\x00\x00\x00\x00\r\n\r\n".to_vec(),
        b"GET /v1/x HTTP/1.1\r\nHost: a\r\nBad Header Without Colon\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n".to_vec(),
    ];
    // A bad chunk size only means garbage where PUT is allowed (pull may answer 405 first).
    let bad_chunk = bad_chunk.into_bytes();
    let ingest_garbage: Vec<&Vec<u8>> = garbage.iter().chain([&bad_chunk]).collect();
    let pull_garbage: Vec<&Vec<u8>> = garbage.iter().collect();
    for (port, list) in [(d.ingest, ingest_garbage), (d.pull, pull_garbage)] {
        for g in list {
            let mut c = Conn::connect(port);
            let _ = c.send(g);
            let (answer, closed) = c.read_to_close(Duration::from_secs(5));
            let a = text(&answer);
            assert!(
                answer.is_empty() || a.starts_with("HTTP/1.1 400") || a.starts_with("HTTP/1.0 400"),
                "garbage {:?} on {port}: answered 400 or nothing, got {a:?}",
                text(g)
            );
            assert!(closed, "garbage {:?} on {port}: connection closed", text(g));
        }
    }
    // Half a request, then nothing: the daemon must not wedge on it.
    let mut idle = std::net::TcpStream::connect(d.pull).unwrap();
    idle.write_all(b"GET / HT").unwrap();

    let r = get(d.pull, &l.media_path);
    assert_eq!(r.status, 200, "fresh connection still served");
    assert_eq!(r.text(), l.media);
    assert_eq!(get(d.pull, &l.seg_paths[0]).body, l.segs[0]);
    assert_stored(
        &Conn::connect(d.ingest).put_chunked(&l.f.ingest("seg_00003.ts"), &fake_ts(3, 2)),
        "ingest still works",
    );
    let mut sink = Vec::new();
    idle.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let _ = idle.read_to_end(&mut sink);
}

#[test]
fn window_slides_and_evicts() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel(
        "win",
        &[
            "--max-segment-duration",
            "2",
            "--max-playlist-duration",
            "6",
        ],
    );
    let mut c = Conn::connect(d.ingest);
    let start = Instant::now();
    let mut first_seg_path: Option<String> = None;
    let mut last_seq: Option<u64> = None;
    let mut first_seq = 0;
    let total = 9u32;
    for i in 0..total {
        // Paced like a live encoder: segment i (2 s long) is complete at (i + 1) * 2 s.
        let due = start + Duration::from_secs(2 * i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let seg = fake_ts(i, 10);
        assert_stored(
            &c.put_chunked(&f.ingest(&format!("seg_{i:05}.ts")), &seg),
            "segment",
        );
        // The encoder's own list is longer (6 segments) than the channel's 6 s window.
        let from = i.saturating_sub(5);
        assert_stored(
            &c.put_chunked(&f.ingest("main.m3u8"), playlist_for(from..i + 1).as_bytes()),
            "playlist",
        );

        let main = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(3));
        assert_eq!(main.status, 200, "served after segment {i}");
        let (path, r) = served_media(&d, &f);
        let pl = r.text();
        let seq = media_sequence(&pl);
        if let Some(prev) = last_seq {
            assert!(
                seq >= prev,
                "media sequence went back from {prev} to {seq}:\n{pl}"
            );
        } else {
            first_seq = seq;
        }
        last_seq = Some(seq);
        assert!(
            total_duration(&pl) <= 6.0 + 2.0 + 1e-6,
            "served window exceeds max_playlist_duration (+1 segment):\n{pl}"
        );
        let segs = segment_paths(&path, &pl);
        assert!(!segs.is_empty(), "{pl}");
        if first_seg_path.is_none() {
            let p = segs[0].clone();
            assert_eq!(get(d.pull, &p).body, fake_ts(0, 10));
            first_seg_path = Some(p);
        }
        // Everything listed is fetchable, and the newest is what was just pushed.
        for p in &segs {
            assert_eq!(
                get(d.pull, p).status,
                200,
                "listed segment {p} fetchable:\n{pl}"
            );
        }
        assert_eq!(
            get(d.pull, segs.last().unwrap()).body,
            seg,
            "newest segment last:\n{pl}"
        );
    }
    let last = last_seq.unwrap();
    assert!(
        last > first_seq,
        "media sequence advanced ({first_seq} -> {last})"
    );
    let old = first_seg_path.unwrap();
    let r = get(d.pull, &old);
    assert_eq!(
        r.status, 404,
        "segment 0 ({old}) slid out of the 6 s window: {r:?}"
    );
}

/// A head, and a chunked body, that arrive in several reads are read whole: each read appends
/// to what is buffered. (monoio reads into a `BytesMut` from its start, not its end: reading
/// into the buffer itself overwrote a partial head or chunk line with the next bytes.)
#[test]
fn bytes_arriving_in_several_reads_are_appended() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("split", &[]);
    let pause = || thread::sleep(Duration::from_millis(150));

    let mut c = Conn::connect(d.pull);
    for piece in [
        &b"GET /hea"[..],
        b"lthz HTTP/1.1\r\nHo",
        b"st: x\r\n",
        b"\r\n",
    ] {
        c.send(piece).unwrap();
        pause();
    }
    let r = c.read_response(false).unwrap();
    assert_eq!((r.status, r.text()), (200, "ok\n".to_string()), "{r:?}");

    let seg = fake_ts(7, 100);
    let mut c = Conn::connect(d.ingest);
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        f.ingest("s7.ts")
    );
    c.send(head.as_bytes()).unwrap();
    pause();
    let wire = chunked(&seg, 5000);
    // Cut inside chunk-size lines and between the CR and LF that end a chunk's data.
    let mut at = 0;
    for cut in [1, 4, 5003, 5004, 5006, 10011, wire.len()] {
        c.send(&wire[at..cut.min(wire.len())]).unwrap();
        at = cut.min(wire.len());
        pause();
    }
    let r = c.read_response(false).unwrap();
    assert_eq!(r.status, 201, "{r:?} {}", r.text());
    let pl = encoder_playlist(7, &[("s7.ts".into(), 2.0)], false);
    assert_eq!(
        c.put_chunked(&f.ingest("main.m3u8"), pl.as_bytes()).status,
        201
    );
    let served = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(5));
    let seg_path = resolve(&f.endpoint_path, &playlist_uris(&served.text())[0]);
    assert_eq!(
        get(d.pull, &seg_path).body,
        seg,
        "the segment is stored intact"
    );
}
