//! Mode (c): simulated encoders. Each pushes to its own channel what ffmpeg's HLS muxer pushes
//! (segment PUT, then the sliding playlist PUT, then a DELETE of the segment that left the
//! list), on one keep-alive connection, and after every segment polls the *served* playlist on
//! another connection until it lists the new segment.
//!
//! Reported: ingest throughput, PUT latency, and the delay from the segment's last byte
//! leaving the encoder to the first served playlist that lists it (which includes the playlist
//! PUT that makes it visible).

use super::client::{Client, Response, Url};
use super::playlist::{self, Playlist};
use super::stats::{fmt_us, Samples};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// One encoder's channel.
#[derive(Debug, Clone)]
pub struct Target {
    /// Input base URL (segments and `main.m3u8` are pushed under it).
    pub input: Url,
    /// The served playlist to watch, `None` to skip watching.
    pub served: Option<Url>,
}

/// What to push.
#[derive(Debug, Clone)]
pub struct EncodersArgs {
    /// One encoder per target.
    pub targets: Vec<Target>,
    /// Segment bodies, pushed in turn.
    pub segments: Vec<Bytes>,
    /// Duration written in the playlist for every segment, seconds.
    pub segment_duration: f64,
    /// Push in real time (one segment per duration) instead of back to back.
    pub realtime: bool,
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many segments per encoder.
    pub count: Option<u64>,
    /// Segments the playlist lists.
    pub list_size: u64,
    /// DELETE segments that left the playlist (ffmpeg's `delete_segments`).
    pub delete: bool,
    /// Executor threads.
    pub threads: usize,
    /// Try io_uring.
    pub uring: bool,
}

/// A thread's (or the merged) result.
#[derive(Debug, Default)]
pub struct EncodersResult {
    /// Segments accepted (2xx).
    pub segments: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Refused requests and I/O errors.
    pub errors: u64,
    /// Segments never seen in the served playlist within 2 s.
    pub not_visible: u64,
    /// Segment PUT latency (head sent → response).
    pub put_latency: Samples,
    /// Segment last byte → listed in the served playlist.
    pub visible: Samples,
    /// Wall time.
    pub elapsed: Duration,
}

/// The encoder's playlist after segment `last`, as ffmpeg writes it.
pub fn encoder_playlist(last: u64, list_size: u64, seg_s: f64) -> Bytes {
    let first = last.saturating_sub(list_size.max(1) - 1);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{first}\n",
        seg_s.ceil() as u64
    );
    for n in first..=last {
        s.push_str(&format!("#EXTINF:{seg_s:.6},\n{}\n", segment_name(n)));
    }
    Bytes::from(s)
}

/// File name of segment `n`.
pub fn segment_name(n: u64) -> String {
    format!("seg_{n:05}.ts")
}

struct Conn {
    addr: std::net::SocketAddr,
    client: Option<Client>,
}

impl Conn {
    async fn request(
        &mut self,
        req: Vec<u8>,
        body: Option<Bytes>,
        keep: bool,
    ) -> Option<(Response, Instant)> {
        let mut c = match self.client.take() {
            Some(c) => c,
            None => Client::connect(self.addr).await.ok()?,
        };
        c.send(req).await.ok()?;
        if let Some(b) = body {
            c.send_body(b).await.ok()?;
        }
        let sent = Instant::now();
        let r = c.read_response(keep, false).await.ok()?;
        if !r.close {
            self.client = Some(c);
        }
        Some((r, sent))
    }

    async fn put(&mut self, url: &Url, body: Bytes) -> Option<(Response, Instant)> {
        let req = url.request("PUT", Some(body.len()));
        self.request(req, Some(body), false).await
    }
}

fn ok(r: &Option<(Response, Instant)>) -> bool {
    r.as_ref()
        .is_some_and(|(r, _)| (200..300).contains(&r.status))
}

async fn encoder(args: EncodersArgs, target: Target, out: &mut EncodersResult) {
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut ingest = Conn {
        addr: target.input.addr,
        client: None,
    };
    let mut watch = target.served.as_ref().map(|u| Conn {
        addr: u.addr,
        client: None,
    });
    let mut seen_last: Option<u64> = None;
    let mut n = 0u64;
    while Instant::now() < deadline && args.count.is_none_or(|c| n < c) {
        if args.realtime {
            let due = start + Duration::from_secs_f64(args.segment_duration * n as f64);
            let now = Instant::now();
            if due > now {
                monoio::time::sleep(due - now).await;
            }
        }
        let Some(body) = args
            .segments
            .get(usize::try_from(n).unwrap_or(0) % args.segments.len().max(1))
            .cloned()
        else {
            return;
        };
        let len = body.len() as u64;
        let Ok(seg_url) = target.input.join(&segment_name(n)) else {
            return;
        };
        let t0 = Instant::now();
        let r = ingest.put(&seg_url, body).await;
        if !ok(&r) {
            out.errors += 1;
            n += 1;
            continue;
        }
        out.put_latency.record(t0.elapsed());
        // The last byte left when the body write completed (TCP_NODELAY).
        let last_byte = r.map_or(t0, |(_, sent)| sent);
        out.segments += 1;
        out.bytes += len;
        let Ok(pl_url) = target.input.join("main.m3u8") else {
            return;
        };
        let pl = encoder_playlist(n, args.list_size, args.segment_duration);
        if !ok(&ingest.put(&pl_url, pl).await) {
            out.errors += 1;
        }
        if let (Some(w), Some(url)) = (watch.as_mut(), target.served.as_ref()) {
            let give_up = Instant::now() + Duration::from_secs(2);
            let mut visible = false;
            while Instant::now() < give_up {
                let got = w.request(url.request("GET", None), None, true).await;
                let last = got
                    .as_ref()
                    .filter(|(r, _)| r.status == 200)
                    .and_then(|(r, _)| playlist::parse(&r.body))
                    .and_then(|p| match p {
                        Playlist::Media(m) => m.last_seq(),
                        Playlist::Master(_) => None,
                    });
                if let Some(l) = last {
                    if seen_last.is_none_or(|s| l > s) {
                        out.visible.record(last_byte.elapsed());
                        seen_last = Some(l);
                        visible = true;
                        break;
                    }
                }
                if got.is_none() {
                    monoio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            if !visible {
                out.not_visible += 1;
            }
        }
        if args.delete && n > args.list_size {
            let old = n - args.list_size - 1;
            if let Ok(u) = target.input.join(&segment_name(old)) {
                if !ok(&ingest
                    .request(u.request("DELETE", Some(0)), None, false)
                    .await)
                {
                    out.errors += 1;
                }
            }
        }
        n += 1;
    }
}

async fn thread(args: EncodersArgs, index: usize, threads: usize) -> EncodersResult {
    let start = Instant::now();
    let tasks: Vec<_> = args
        .targets
        .iter()
        .enumerate()
        .filter(|(k, _)| k % threads == index)
        .map(|(_, t)| {
            let args = args.clone();
            let t = t.clone();
            monoio::spawn(async move {
                let mut out = EncodersResult::default();
                encoder(args, t, &mut out).await;
                out
            })
        })
        .collect();
    let mut total = EncodersResult::default();
    for t in tasks {
        merge(&mut total, t.await);
    }
    total.elapsed = start.elapsed();
    total
}

fn merge(total: &mut EncodersResult, r: EncodersResult) {
    total.segments += r.segments;
    total.bytes += r.bytes;
    total.errors += r.errors;
    total.not_visible += r.not_visible;
    total.put_latency.merge(r.put_latency);
    total.visible.merge(r.visible);
    total.elapsed = total.elapsed.max(r.elapsed);
}

/// Runs mode (c) and prints the report.
pub fn run(args: &EncodersArgs) -> EncodersResult {
    let threads = args.threads.max(1);
    let make = {
        let args = args.clone();
        move |i: usize| thread(args.clone(), i, threads)
    };
    let mut total = EncodersResult::default();
    for r in super::run_threads(threads, args.uring, make) {
        merge(&mut total, r);
    }
    let secs = total.elapsed.as_secs_f64().max(1e-9);
    let put = total.put_latency.percentiles(&[0.5, 0.99]);
    let vis = total.visible.percentiles(&[0.5, 0.99]);
    println!(
        "encoders: {} channels, {} mode, {:.1}s",
        args.targets.len(),
        if args.realtime {
            "real-time"
        } else {
            "back-to-back"
        },
        secs
    );
    println!(
        "  {} segments, {:.1} segments/s, {:.1} MiB/s; segment PUT p50 {} p99 {}; errors {}",
        total.segments,
        total.segments as f64 / secs,
        total.bytes as f64 / secs / 1048576.0,
        fmt_us(put[0]),
        fmt_us(put[1]),
        total.errors
    );
    if !total.visible.is_empty() || total.not_visible > 0 {
        println!(
            "  last byte -> listed in served playlist: p50 {} p99 {} ({} never seen)",
            fmt_us(vis[0]),
            fmt_us(vis[1]),
            total.not_visible
        );
    }
    println!(
        "RESULT mode=encoders segments={} segments_per_s={:.1} bytes_per_s={:.0} put_p50_us={} put_p99_us={} visible_p50_us={} visible_p99_us={} not_visible={} errors={}",
        total.segments,
        total.segments as f64 / secs,
        total.bytes as f64 / secs,
        put[0],
        put[1],
        vis[0],
        vis[1],
        total.not_visible,
        total.errors
    );
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_slides_like_ffmpeg() {
        let p = encoder_playlist(7, 6, 2.0);
        let text = std::str::from_utf8(&p).unwrap();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:2\n"));
        assert!(text.contains("#EXT-X-TARGETDURATION:2\n"));
        assert!(text.contains("seg_00002.ts") && text.contains("seg_00007.ts"));
        assert!(!text.contains("seg_00001.ts"));
        let Some(Playlist::Media(m)) = playlist::parse(&p) else {
            panic!("parses")
        };
        assert_eq!(m.last_seq(), Some(7));
        assert_eq!(m.segments.len(), 6);
        let first = encoder_playlist(0, 6, 2.0);
        assert!(std::str::from_utf8(&first)
            .unwrap()
            .contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    }
}
