//! Mode (a): N keep-alive connections request one URL back to back for a fixed time.

use super::client::{Client, Url};
use super::stats::{fmt_us, Samples};
use std::time::{Duration, Instant};

/// What to hammer.
#[derive(Debug, Clone)]
pub struct HammerArgs {
    /// The URL.
    pub url: Url,
    /// Connections in total.
    pub connections: usize,
    /// How long.
    pub duration: Duration,
    /// Executor threads.
    pub threads: usize,
    /// Send HEAD instead of GET.
    pub head: bool,
    /// Try io_uring.
    pub uring: bool,
}

/// One thread's (or the merged) result.
#[derive(Debug, Default)]
pub struct HammerResult {
    /// Requests answered 2xx/3xx.
    pub ok: u64,
    /// Other statuses, I/O errors.
    pub errors: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Latencies of the answered requests.
    pub latency: Samples,
    /// Wall time measured.
    pub elapsed: Duration,
}

async fn connection(args: HammerArgs, deadline: Instant) -> HammerResult {
    let mut r = HammerResult::default();
    let method = if args.head { "HEAD" } else { "GET" };
    let mut req = args.url.request(method, None);
    let mut client: Option<Client> = None;
    while Instant::now() < deadline {
        let mut c = match client.take() {
            Some(c) => c,
            None => match Client::connect(args.url.addr).await {
                Ok(c) => c,
                Err(_) => {
                    r.errors += 1;
                    monoio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let t0 = Instant::now();
        match c.get(req, false, args.head).await {
            Ok((resp, back)) => {
                req = back;
                if (200..400).contains(&resp.status) {
                    r.ok += 1;
                    r.bytes += resp.body_len;
                    r.latency.record(t0.elapsed());
                } else {
                    r.errors += 1;
                }
                if !resp.close {
                    client = Some(c);
                }
            }
            Err(_) => {
                r.errors += 1;
                req = args.url.request(method, None);
            }
        }
    }
    r
}

async fn thread(args: HammerArgs, conns: usize) -> HammerResult {
    let start = Instant::now();
    let deadline = start + args.duration;
    let tasks: Vec<_> = (0..conns)
        .map(|_| monoio::spawn(connection(args.clone(), deadline)))
        .collect();
    let mut total = HammerResult::default();
    for t in tasks {
        let r = t.await;
        total.ok += r.ok;
        total.errors += r.errors;
        total.bytes += r.bytes;
        total.latency.merge(r.latency);
    }
    total.elapsed = start.elapsed();
    total
}

/// Runs mode (a) and prints the report; returns the merged result.
pub fn run(args: &HammerArgs) -> HammerResult {
    let threads = args.threads.max(1);
    let per_thread = {
        let args = args.clone();
        move |i: usize| thread(args.clone(), super::share(args.connections, threads, i))
    };
    let mut total = HammerResult::default();
    for r in super::run_threads(threads, args.uring, per_thread) {
        total.ok += r.ok;
        total.errors += r.errors;
        total.bytes += r.bytes;
        total.latency.merge(r.latency);
        total.elapsed = total.elapsed.max(r.elapsed);
    }
    let secs = total.elapsed.as_secs_f64().max(1e-9);
    let p = total.latency.percentiles(&[0.5, 0.99, 0.999]);
    println!(
        "hammer {} {}: {} connections, {} threads, {:.1}s",
        if args.head { "HEAD" } else { "GET" },
        args.url.path,
        args.connections,
        threads,
        secs
    );
    println!(
        "  {:.0} req/s, {:.1} MiB/s, latency p50 {} p99 {} p999 {}, errors {}",
        total.ok as f64 / secs,
        total.bytes as f64 / secs / 1048576.0,
        fmt_us(p[0]),
        fmt_us(p[1]),
        fmt_us(p[2]),
        total.errors
    );
    println!(
        "RESULT mode=hammer req_per_s={:.0} bytes_per_s={:.0} p50_us={} p99_us={} p999_us={} errors={}",
        total.ok as f64 / secs,
        total.bytes as f64 / secs,
        p[0],
        p[1],
        p[2],
        total.errors
    );
    total
}
