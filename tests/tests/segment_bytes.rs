//! What a pull sends is exactly what was pushed (chunked or with a length, held on the heap or,
//! once pulls made it hot, in pages of its own): every segment size, every kind of `Range`
//! (first byte, middle, last byte, suffixes, open ends, 416), `HEAD`, on both io drivers, many
//! answers on one keep-alive connection (the shard reuses its head buffers between answers);
//! and while the window slides under concurrent pulls, an answer is the whole segment or a
//! 404 — never bytes of another segment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// `len` bytes that name segment `tag` in their first four and differ at every position.
fn pattern(tag: u32, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|i| {
            let x = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(tag.wrapping_mul(7_919));
            (x >> 13) as u8
        })
        .collect();
    for (b, t) in v.iter_mut().zip(tag.to_le_bytes()) {
        *b = t;
    }
    v
}

fn stored(r: &Response, what: &str) {
    assert!(r.status == 201 || r.status == 204, "{what}: {r:?}");
}

fn exact_bytes_on(driver: &str) {
    let d = Daemon::start(DaemonOpts::args(&["--io-driver", driver]));
    let f = d.hls_channel("bytes", &[]);
    let mut c = Conn::connect(d.ingest);
    let sizes = [1usize, 188, 65_535, 65_537, 233_001, 1_048_579, 16_385];
    let segs: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(i as u32, n))
        .collect();
    let mut listed = Vec::new();
    // Even segments arrive chunked (as ffmpeg sends them), odd ones with a Content-Length:
    // both must serve what came in.
    for (i, s) in segs.iter().enumerate() {
        let path = f.ingest(&format!("s{i}.ts"));
        let r = if i % 2 == 0 {
            c.put_chunked(&path, s)
        } else {
            c.request("PUT", &path, &[], Some(s))
        };
        stored(&r, "segment PUT");
        listed.push((format!("s{i}.ts"), 2.0));
    }
    let pl = encoder_playlist(0, &listed, false);
    stored(
        &c.put_chunked(&f.ingest("main.m3u8"), pl.as_bytes()),
        "playlist PUT",
    );
    let main = wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(5));
    let uris = playlist_uris(&main.text());
    assert_eq!(uris.len(), sizes.len(), "{}", main.text());
    // One keep-alive connection for everything: a reused head buffer that kept old bytes, or
    // an iovec array pointing at a previous answer, shows here.
    let mut p = Conn::connect(d.pull);
    // From the heap first; the pulls make the segments of 64 KiB and more hot, their owner
    // moves them into pages of their own at its next tick, and they are checked again there.
    every_byte_and_range(driver, &mut p, &f, &uris, &segs);
    for _ in 0..16 {
        for (uri, s) in uris.iter().zip(&segs) {
            let r = p.request("GET", &resolve(&f.endpoint_path, uri), &[], None);
            assert!(r.status == 200 && r.body == *s, "{driver} {uri}");
        }
    }
    let large = sizes.iter().filter(|&&n| n >= 64 * 1024).count() as f64;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let moved = scrape(d.metrics).get("streampack_objects_promoted_total", &[]);
        if moved >= large {
            assert_eq!(moved, large, "only the segments of 64 KiB and more");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{moved} of {large} segments moved"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    every_byte_and_range(driver, &mut p, &f, &uris, &segs);
}

/// Checks every segment whole, by `HEAD`, by six kinds of `Range` and a 416.
fn every_byte_and_range(
    driver: &str,
    p: &mut Conn,
    f: &Fixture,
    uris: &[String],
    segs: &[Vec<u8>],
) {
    for (uri, s) in uris.iter().zip(segs) {
        let path = resolve(&f.endpoint_path, uri);
        let n = s.len();
        let full = p.request("GET", &path, &[], None);
        assert_eq!(full.status, 200, "{driver} {path}");
        assert!(
            full.body == *s,
            "{driver} {path}: {n} bytes served differently"
        );
        let head = p.request("HEAD", &path, &[], None);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some(n.to_string().as_str()));
        assert!(head.body.is_empty());
        let mid = n / 2;
        let ranges = [
            ("bytes=0-0".to_string(), 0..1),
            (format!("bytes={mid}-{}", mid + n / 4), mid..mid + n / 4 + 1),
            ("bytes=-1".to_string(), n - 1..n),
            ("bytes=-100".to_string(), n.saturating_sub(100)..n),
            (format!("bytes={}-", n / 3), n / 3..n),
            (format!("bytes={}-{}", n - 1, n + 1000), n - 1..n),
        ];
        for (range, want) in ranges {
            let r = p.request("GET", &path, &[("Range", &range)], None);
            assert_eq!(r.status, 206, "{driver} {path} {range}");
            let cr = format!("bytes {}-{}/{n}", want.start, want.end - 1);
            assert_eq!(r.header("content-range"), Some(cr.as_str()), "{range}");
            assert!(
                r.body == s[want.clone()],
                "{driver} {path} {range}: wrong bytes"
            );
        }
        let past = p.request("GET", &path, &[("Range", &format!("bytes={n}-"))], None);
        assert_eq!(past.status, 416, "{driver} {path}");
        let star = format!("bytes */{n}");
        assert_eq!(past.header("content-range"), Some(star.as_str()));
        assert!(past.body.is_empty());
    }
}

#[test]
fn every_byte_and_range_as_pushed_with_io_uring() {
    exact_bytes_on("uring");
}

#[test]
fn every_byte_and_range_as_pushed_with_epoll() {
    exact_bytes_on("epoll");
}

/// An encoder pushes 233 KB segments as fast as it can into a 6-second window (old segments
/// expire at once) while four players pull the oldest listed segment, whole and as a range,
/// over keep-alive connections: each answer is that segment's exact bytes, or a 404.
#[test]
fn segments_expiring_under_concurrent_pulls_are_whole_or_absent() {
    let d = Daemon::start(DaemonOpts::args(&[]));
    let f = d.hls_channel(
        "churn",
        &[
            "--max-segment-duration",
            "2",
            "--max-playlist-duration",
            "6",
        ],
    );
    let size = 233_001;
    let stop = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicU64::new(0));
    let (pull, endpoint) = (d.pull, f.endpoint_path.clone());
    // A first segment so that players have something to start with.
    let mut c = Conn::connect(d.ingest);
    stored(
        &c.put_chunked(&f.ingest("s0.ts"), &pattern(0, size)),
        "segment PUT",
    );
    let pl = encoder_playlist(0, &[("s0.ts".into(), 2.0)], false);
    stored(
        &c.put_chunked(&f.ingest("main.m3u8"), pl.as_bytes()),
        "playlist PUT",
    );
    wait_for_200(d.pull, &f.endpoint_path, Duration::from_secs(5));
    let players: Vec<_> = (0..4)
        .map(|_| {
            let (stop, checked, endpoint) = (stop.clone(), checked.clone(), endpoint.clone());
            std::thread::spawn(move || {
                let mut p = Conn::connect(pull);
                while !stop.load(Ordering::Relaxed) {
                    let main = p.request("GET", &endpoint, &[], None);
                    let Some(uri) = playlist_uris(&main.text()).into_iter().next() else {
                        continue;
                    };
                    let path = resolve(&endpoint, &uri);
                    let r = p.request("GET", &path, &[], None);
                    match r.status {
                        404 => continue,
                        200 => {}
                        s => panic!("{path}: status {s}"),
                    }
                    assert_eq!(r.body.len(), size, "{path}: a partial segment");
                    let tag = u32::from_le_bytes(r.body[..4].try_into().unwrap());
                    assert!(r.body == pattern(tag, size), "{path}: mixed bytes");
                    let part = p.request("GET", &path, &[("Range", "bytes=100000-")], None);
                    if part.status == 206 {
                        assert!(part.body == pattern(tag, size)[100_000..], "{path}: range");
                    } else {
                        assert_eq!(part.status, 404, "{path}");
                    }
                    checked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut k = 1u32;
    while started.elapsed() < Duration::from_secs(4) {
        let name = format!("s{k}.ts");
        stored(
            &c.put_chunked(&f.ingest(&name), &pattern(k, size)),
            "segment PUT",
        );
        let first = k.saturating_sub(3);
        let listed: Vec<(String, f64)> = (first..=k).map(|i| (format!("s{i}.ts"), 2.0)).collect();
        let pl = encoder_playlist(u64::from(first), &listed, false);
        stored(
            &c.put_chunked(&f.ingest("main.m3u8"), pl.as_bytes()),
            "playlist PUT",
        );
        k += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for p in players {
        p.join().expect("a player failed");
    }
    let n = checked.load(Ordering::Relaxed);
    assert!(k > 20, "the encoder pushed only {k} segments");
    assert!(n > 20, "only {n} segments were checked");
}
