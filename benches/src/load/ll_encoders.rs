//! Mode (e): low-latency DASH encoders, many channels fed from one real capture
//! ([`Capture`]) without one ffmpeg per channel. Each channel gets what ffmpeg
//! `-f dash -streaming 1 -ldash 1 -use_timeline 1 -method PUT -http_persistent 1` sends, in real
//! time: the init segments, then per Representation, on its own keep-alive connection, each
//! media segment as ONE chunked PUT (`Transfer-Encoding: chunked`) whose body is written a CMAF
//! chunk at a time, each chunk when its media time is due (when its last sample ends, as an
//! encoder has it), and once the segment's upload has ended, the live MPD listing it.
//!
//! The capture loops with increasing numbers and times, so every channel is a live stream that
//! keeps going. Channels start spread over `stagger` (independent encoders do not cut their
//! chunks at the same instant); each channel's `availabilityStartTime` is its own start.
//!
//! Reported: segments, chunks and MPDs accepted, failures, and how late chunks were written
//! against their due time (whether the replay kept real time on a loaded machine).

use super::client::{Client, Url};
use super::dash_capture::{init_name, segment_name, ticks_duration, Capture, Replayed};
use super::stats::{error_counts, fmt_us, Samples};
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to replay, and where.
#[derive(Debug, Clone)]
pub struct LlEncodersArgs {
    /// One channel per input base URL (ending with `/`; files are PUT under it).
    pub inputs: Vec<Url>,
    /// The capture every channel replays.
    pub capture: Arc<Capture>,
    /// How long to run: no segment starts after it.
    pub duration: Duration,
    /// Executor threads.
    pub threads: usize,
    /// Try io_uring.
    pub uring: bool,
    /// Channel starts spread evenly over this long.
    pub stagger: Duration,
    /// Segments each live MPD lists per Representation.
    pub list_size: usize,
}

/// A thread's (or the merged) result.
#[derive(Debug, Default)]
pub struct LlEncodersResult {
    /// Media segments accepted (2xx).
    pub segments: u64,
    /// Chunks written.
    pub chunks: u64,
    /// Media bytes written.
    pub bytes: u64,
    /// MPDs accepted.
    pub mpds: u64,
    /// Failures by kind: `connect`, `io`, `init-<status>`, `segment-<status>`, `mpd-<status>`,
    /// `overflow` (a media time past what its field holds).
    pub errors: BTreeMap<String, u64>,
    /// Each chunk: written (last byte handed to the kernel) − due.
    pub late: Samples,
}

impl LlEncodersResult {
    fn merge(&mut self, o: LlEncodersResult) {
        self.segments += o.segments;
        self.chunks += o.chunks;
        self.bytes += o.bytes;
        self.mpds += o.mpds;
        for (k, n) in o.errors {
            *self.errors.entry(k).or_default() += n;
        }
        self.late.merge(o.late);
    }

    fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }
}

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        monoio::time::sleep(t - now).await;
    }
}

/// One channel being fed: what its Representations share.
struct Channel {
    args: LlEncodersArgs,
    input: Url,
    /// Its media time zero.
    start: Instant,
    /// Its `availabilityStartTime`.
    ast_unix_ms: u64,
    deadline: Instant,
    /// Per Representation, the segments its MPD lists.
    listed: RefCell<Vec<VecDeque<Replayed>>>,
}

impl Channel {
    /// The live MPD after a segment of Representation `rep` ended; `None` until every
    /// Representation has one (an empty timeline says nothing an encoder would say).
    fn mpd_after(&self, rep: usize, s: Replayed) -> Option<Bytes> {
        let mut listed = self.listed.borrow_mut();
        let l = listed.get_mut(rep)?;
        l.push_back(s);
        while l.len() > self.args.list_size.max(1) {
            l.pop_front();
        }
        if listed.iter().any(VecDeque::is_empty) {
            return None;
        }
        let lists: Vec<Vec<Replayed>> =
            listed.iter().map(|l| l.iter().copied().collect()).collect();
        let text = self
            .args
            .capture
            .live_mpd(self.ast_unix_ms, unix_ms_now(), &lists);
        Some(Bytes::from(text))
    }
}

/// A keep-alive connection, made again when lost.
struct Conn {
    addr: std::net::SocketAddr,
    client: Option<Client>,
}

impl Conn {
    async fn take(&mut self) -> Result<Client, &'static str> {
        match self.client.take() {
            Some(c) => Ok(c),
            None => Client::connect(self.addr).await.map_err(|_| "connect"),
        }
    }

    /// A PUT with `Content-Length`; its status.
    async fn put(&mut self, url: &Url, body: Bytes) -> Result<u16, &'static str> {
        let mut c = self.take().await?;
        c.send(url.request("PUT", Some(body.len())))
            .await
            .map_err(|_| "io")?;
        c.send_body(body).await.map_err(|_| "io")?;
        let r = c.read_response(false, false).await.map_err(|_| "io")?;
        if !r.close {
            self.client = Some(c);
        }
        Ok(r.status)
    }
}

fn ok(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Uploads segment `s` of Representation `rep` as one chunked PUT, each chunk when due.
async fn upload(
    ch: &Channel,
    rep: usize,
    s: Replayed,
    conn: &mut Conn,
    out: &mut LlEncodersResult,
) -> Result<u16, &'static str> {
    let Some(r) = ch.args.capture.reps().nth(rep) else {
        return Err("io");
    };
    let (id, ts, origin) = (&r.info.id, r.info.timescale, r.origin());
    let url = ch
        .input
        .join(&segment_name(id, s.number))
        .map_err(|_| "io")?;
    let mut c = conn.take().await?;
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: streampack-load\r\nTransfer-Encoding: chunked\r\n\r\n",
        url.path, url.authority
    );
    c.send(head.into_bytes()).await.map_err(|_| "io")?;
    let chunks = r.segments.get(s.index).map_or(&[][..], |x| &x.chunks[..]);
    for (j, chunk) in chunks.iter().enumerate() {
        let due = ch.start
            + ticks_duration(
                chunk.end.saturating_add(s.offset).saturating_sub(origin),
                ts,
            );
        sleep_until(due).await;
        let mut buf = Vec::with_capacity(chunk.bytes.len() + 16);
        buf.extend_from_slice(format!("{:x}\r\n", chunk.bytes.len()).as_bytes());
        chunk
            .render_into(s.offset, s.first_sequence + j as u64, &mut buf)
            .map_err(|_| "overflow")?;
        buf.extend_from_slice(b"\r\n");
        c.send_body(Bytes::from(buf)).await.map_err(|_| "io")?;
        out.late
            .record(Instant::now().saturating_duration_since(due));
        out.chunks += 1;
        out.bytes += chunk.bytes.len() as u64;
    }
    c.send_body(Bytes::from_static(b"0\r\n\r\n"))
        .await
        .map_err(|_| "io")?;
    let resp = c.read_response(false, false).await.map_err(|_| "io")?;
    if !resp.close {
        conn.client = Some(c);
    }
    Ok(resp.status)
}

/// Feeds Representation `rep` of a channel until the deadline.
async fn representation(ch: Rc<Channel>, rep: usize) -> LlEncodersResult {
    let mut out = LlEncodersResult::default();
    let Some(r) = ch.args.capture.reps().nth(rep) else {
        return out;
    };
    let mut conn = Conn {
        addr: ch.input.addr,
        client: None,
    };
    let mut init_done = false;
    let mpd_url = ch.input.join("main.mpd");
    for k in 0.. {
        let s = r.segment_at(k);
        let begins = ch.start + ticks_duration(s.t.saturating_sub(r.origin()), r.info.timescale);
        if begins >= ch.deadline {
            break;
        }
        if !init_done {
            let url = ch.input.join(&init_name(&r.info.id));
            match url {
                Ok(u) => match conn.put(&u, r.init.clone()).await {
                    Ok(st) if ok(st) => init_done = true,
                    Ok(st) => out.error(format!("init-{st}")),
                    Err(e) => out.error(e),
                },
                Err(_) => out.error("io"),
            }
        }
        sleep_until(begins).await;
        match upload(&ch, rep, s, &mut conn, &mut out).await {
            Ok(st) if ok(st) => out.segments += 1,
            Ok(st) => out.error(format!("segment-{st}")),
            Err("overflow") => {
                out.error("overflow");
                break;
            }
            Err(e) => {
                out.error(e);
                conn.client = None;
                continue;
            }
        }
        let (Some(body), Ok(url)) = (ch.mpd_after(rep, s), mpd_url.as_ref()) else {
            continue;
        };
        match conn.put(url, body).await {
            Ok(st) if ok(st) => out.mpds += 1,
            Ok(st) => out.error(format!("mpd-{st}")),
            Err(e) => out.error(e),
        }
    }
    out
}

async fn channel(
    args: LlEncodersArgs,
    input: Url,
    start: Instant,
    deadline: Instant,
) -> LlEncodersResult {
    sleep_until(start).await;
    let reps = args.capture.reps().count();
    let ch = Rc::new(Channel {
        args,
        input,
        start,
        ast_unix_ms: unix_ms_now(),
        deadline,
        listed: RefCell::new(vec![VecDeque::new(); reps]),
    });
    let tasks: Vec<_> = (0..reps)
        .map(|i| monoio::spawn(representation(ch.clone(), i)))
        .collect();
    let mut total = LlEncodersResult::default();
    for t in tasks {
        total.merge(t.await);
    }
    total
}

async fn thread(
    args: LlEncodersArgs,
    t0: Instant,
    index: usize,
    threads: usize,
) -> LlEncodersResult {
    let n = args.inputs.len().max(1);
    let deadline = t0 + args.duration;
    let tasks: Vec<_> = args
        .inputs
        .iter()
        .enumerate()
        .filter(|(k, _)| k % threads == index)
        .map(|(k, u)| {
            let start = t0 + args.stagger.mul_f64(k as f64 / n as f64);
            monoio::spawn(channel(args.clone(), u.clone(), start, deadline))
        })
        .collect();
    let mut total = LlEncodersResult::default();
    for t in tasks {
        total.merge(t.await);
    }
    total
}

/// Runs mode (e) and prints the report.
pub fn run(args: &LlEncodersArgs) -> LlEncodersResult {
    let threads = args.threads.max(1);
    let t0 = Instant::now();
    let make = {
        let args = args.clone();
        move |i: usize| thread(args.clone(), t0, i, threads)
    };
    let mut total = LlEncodersResult::default();
    for r in super::run_threads(threads, args.uring, make) {
        total.merge(r);
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    let (errors, errors_by) = error_counts(&total.errors);
    let late = total.late.percentiles(&[0.5, 0.99, 1.0]);
    println!(
        "ll-encoders: {} channels x {} representations, a loop of {} segments, {secs:.1}s",
        args.inputs.len(),
        args.capture.reps().count(),
        args.capture.segments_per_loop
    );
    println!(
        "  segments {} ({:.1}/s), chunks {}, MPDs {}, {:.2} MiB/s; errors {errors} ({errors_by})",
        total.segments,
        total.segments as f64 / secs,
        total.chunks,
        total.mpds,
        total.bytes as f64 / secs / 1_048_576.0
    );
    println!(
        "  chunks written after they were due: p50 {} p99 {} max {}",
        fmt_us(late[0]),
        fmt_us(late[1]),
        fmt_us(late[2])
    );
    println!(
        "RESULT mode=ll-encoders channels={} segments={} chunks={} mpds={} bytes_per_s={:.0} errors={errors} errors_by={errors_by} late_p50_us={} late_p99_us={} late_max_us={}",
        args.inputs.len(),
        total.segments,
        total.chunks,
        total.mpds,
        total.bytes as f64 / secs,
        late[0],
        late[1],
        late[2]
    );
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};

    /// A capture of one Representation, two segments of two chunks of 0.1 s each (and a third,
    /// left out of the loop).
    fn tiny_capture() -> Capture {
        use streampack_core::fmp4::{media_segment, FragmentParams, Sample, SAMPLE_SYNC};
        let mut files = std::collections::HashMap::new();
        let mut seq = 0;
        for i in 0..3u64 {
            let mut body = Vec::new();
            for j in 0..2u64 {
                seq += 1;
                let s = [Sample {
                    duration: 100,
                    size: 1,
                    flags: SAMPLE_SYNC,
                    composition_offset: 0,
                }];
                body.extend(media_segment(
                    &FragmentParams {
                        sequence: seq,
                        track_id: 1,
                        base_decode_time: i * 200 + j * 100,
                        samples: &s,
                        composition_offsets: false,
                    },
                    &[9],
                ));
            }
            files.insert(format!("chunk-stream0-{:05}.m4s", i + 1), body);
        }
        files.insert("init-stream0.m4s".to_string(), b"\0\0\0\x08free".to_vec());
        let mpd = r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period id="0">
<AdaptationSet id="0" contentType="video"><Representation id="0" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="1">
<SegmentTemplate timescale="1000" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="1">
<SegmentTimeline><S t="0" d="200" r="2"/></SegmentTimeline></SegmentTemplate>
</Representation></AdaptationSet></Period></MPD>"#;
        Capture::from_files(mpd.as_bytes(), |p| {
            files.get(p).cloned().ok_or_else(|| p.to_string())
        })
        .unwrap()
    }

    /// One request as a server saw it: method, path, chunk sizes (empty: not chunked), and
    /// when each chunk arrived since the connection was accepted.
    type Seen = (String, String, Vec<usize>, Vec<Duration>);

    /// Accepts one connection and answers each request 201, recording them, until it closes.
    fn server() -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<Seen>>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let t0 = Instant::now();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let mut seen = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                let mut words = line.split_whitespace();
                let method = words.next().unwrap().to_string();
                let path = words.next().unwrap().to_string();
                let (mut chunked, mut len) = (false, 0usize);
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    let h = h.trim_end().to_ascii_lowercase();
                    if h.is_empty() {
                        break;
                    }
                    chunked |= h == "transfer-encoding: chunked";
                    if let Some(v) = h.strip_prefix("content-length: ") {
                        len = v.parse().unwrap();
                    }
                }
                let (mut sizes, mut at) = (Vec::new(), Vec::new());
                if chunked {
                    loop {
                        let mut size = String::new();
                        r.read_line(&mut size).unwrap();
                        let size = usize::from_str_radix(size.trim_end(), 16).unwrap();
                        let mut body = vec![0u8; size + 2];
                        r.read_exact(&mut body).unwrap();
                        if size == 0 {
                            break;
                        }
                        sizes.push(size);
                        at.push(t0.elapsed());
                    }
                } else {
                    let mut body = vec![0u8; len];
                    r.read_exact(&mut body).unwrap();
                }
                seen.push((method, path, sizes, at));
                w.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                    .unwrap();
            }
            seen
        });
        (addr, h)
    }

    #[test]
    fn uploads_like_ffmpeg_ldash_in_real_time() {
        let (addr, srv) = server();
        let capture = Arc::new(tiny_capture());
        let args = LlEncodersArgs {
            inputs: vec![Url::parse(&format!("http://{addr}/v1/c/i/")).unwrap()],
            capture,
            // Segments 1 and 2 begin before 0.3 s, segment 3 (at 0.4 s) not.
            duration: Duration::from_millis(300),
            threads: 1,
            uring: false,
            stagger: Duration::ZERO,
            list_size: 6,
        };
        let r = run(&args);
        let seen = srv.join().unwrap();
        let what: Vec<(&str, &str, usize)> = seen
            .iter()
            .map(|(m, p, sizes, _)| (m.as_str(), p.as_str(), sizes.len()))
            .collect();
        assert_eq!(
            what,
            vec![
                ("PUT", "/v1/c/i/init-stream0.m4s", 0),
                ("PUT", "/v1/c/i/chunk-stream0-00001.m4s", 2),
                ("PUT", "/v1/c/i/main.mpd", 0),
                ("PUT", "/v1/c/i/chunk-stream0-00002.m4s", 2),
                ("PUT", "/v1/c/i/main.mpd", 0),
            ]
        );
        // Chunk k of the stream is due when it ends, at (k + 1) × 0.1 s.
        let at: Vec<Duration> = seen.iter().flat_map(|s| s.3.iter().copied()).collect();
        for (k, t) in at.iter().enumerate() {
            let due = Duration::from_millis(100 * (k as u64 + 1));
            assert!(
                *t + Duration::from_millis(5) >= due && *t < due + Duration::from_millis(80),
                "chunk {k} at {t:?}, due {due:?}"
            );
        }
        assert_eq!((r.segments, r.chunks, r.mpds), (2, 4, 2));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
}
