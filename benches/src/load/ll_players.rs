//! Mode (d): LL-HLS players parked on blocking playlist reloads. Each player loads the media
//! playlist once, then asks for the next part with `?_HLS_msn=M&_HLS_part=K` (the arriving
//! segment `M` and its first part not listed yet, `K`), which the server holds until that part
//! exists; it reads the answer, finds the new edge, and asks again at once. So at any moment
//! nearly every player has a request parked at the server, and every part wakes all of them.
//!
//! Players may follow several playlists (many channels, as an origin behind a CDN holds its
//! parked requests: a few per playlist, over many playlists), spread over them round-robin.
//!
//! What it measures is the server's fan-out, seen from the clients: for each part `(M, K)` of
//! each playlist, the time from the first player's answer arriving to each other parked player's
//! answer arriving: the wake-up spread, each parked request's wake-to-answer latency.
//! "Arriving" is the kernel's receive timestamp of the answer's last bytes (`SO_TIMESTAMPNS`;
//! on loopback, taken as the server writes them), so the generator's own reading — thousands
//! of answers on the same CPUs — does not count; the spread as the players read their answers
//! is reported beside it. A request counts as parked when it was sent before the first answer
//! for its part arrived; one sent later was answered at once and is counted apart. Only parts
//! first answered after the ramp (every player started) count; at the end of the run, requests
//! still parked are dropped.

use super::client::{Client, Url};
use super::playlist::{self, LlEdge, Playlist};
use super::stats::{error_counts, fmt_us, Samples};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What to follow.
#[derive(Debug, Clone)]
pub struct LlPlayersArgs {
    /// The media playlists (a multivariant one is followed to its first variant); player `i`
    /// follows `urls[i % urls.len()]`.
    pub urls: Vec<Url>,
    /// Players (connections) in total.
    pub players: usize,
    /// How long the run lasts, ramp included.
    pub duration: Duration,
    /// Executor threads.
    pub threads: usize,
    /// Try io_uring.
    pub uring: bool,
    /// Spread player starts over this long (a connect storm is not what is measured).
    pub ramp: Duration,
    /// Write every blocking request here as CSV
    /// (`msn,part,sent_us,got_us,rx_us,status,thread,playlist`).
    pub dump: Option<std::path::PathBuf>,
}

/// One blocking request as its player saw it; times in µs since the run began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Which playlist (index in [`LlPlayersArgs::urls`]).
    pub playlist: u32,
    /// `_HLS_msn` asked for.
    pub msn: u64,
    /// `_HLS_part` asked for.
    pub part: u32,
    /// When the request was written.
    pub sent_us: u64,
    /// When the player had read the whole answer (or the request failed).
    pub got_us: u64,
    /// When the answer's last bytes reached the socket (kernel receive timestamp), if known.
    pub rx_us: Option<u64>,
    /// The answer's status; 0: none (I/O error or timeout).
    pub status: u16,
    /// The generator thread of its player.
    pub thread: u16,
}

/// A thread's (or the merged) result.
#[derive(Debug, Default)]
pub struct LlPlayersResult {
    /// Every blocking request.
    pub requests: Vec<Request>,
    /// Failures by kind: a status code, `io`, `timeout`, `connect`, `not-ll`, `unparsable`,
    /// `stale` (a 200 that does not list the part asked for).
    pub errors: BTreeMap<String, u64>,
    /// Players that got a low-latency playlist at least once.
    pub started: usize,
}

impl LlPlayersResult {
    fn merge(&mut self, other: LlPlayersResult) {
        self.requests.extend(other.requests);
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        self.started += other.started;
    }

    fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_string()).or_default() += 1;
    }
}

/// The fan-outs found among the answered requests.
#[derive(Debug, Default)]
pub struct FanOut {
    /// For each part of each playlist, from its first answer to each other parked request's
    /// answer (each one's wake-to-answer latency), by the answers' receive timestamps (read
    /// times where there is none).
    pub spread: Samples,
    /// The same by the times the players had read their answers.
    pub spread_read: Samples,
    /// Answers with a kernel receive timestamp.
    pub stamped: u64,
    /// How long parked requests were held (sent → answered).
    pub held: Samples,
    /// Parts (of any playlist) that woke at least one parked request.
    pub parts: usize,
    /// Answers (200) to parked requests.
    pub parked: u64,
    /// Answers (200) to requests sent after their part had been answered to someone.
    pub at_once: u64,
    /// Most parked requests answered for one part.
    pub max_fan_out: usize,
    /// Most requests sent and not yet answered at one time.
    pub max_in_flight: usize,
}

/// Groups the answered requests by the part they asked for, `(playlist, msn, part)`, and
/// measures each fan-out whose first answer came at `from_us` or later (once every player has
/// started).
pub fn fan_out(requests: &[Request], from_us: u64) -> FanOut {
    let arrived = |r: &Request| r.rx_us.unwrap_or(r.got_us);
    let mut out = FanOut::default();
    let mut ok: Vec<&Request> = requests.iter().filter(|r| r.status == 200).collect();
    ok.sort_unstable_by_key(|r| (r.playlist, r.msn, r.part, arrived(r)));
    for group in ok.chunk_by(|a, b| (a.playlist, a.msn, a.part) == (b.playlist, b.msn, b.part)) {
        let first = arrived(group[0]);
        if first < from_us {
            continue;
        }
        let first_read = group
            .iter()
            .filter(|r| r.sent_us < first)
            .map(|r| r.got_us)
            .min()
            .unwrap_or(group[0].got_us);
        let mut parked = 0usize;
        for (i, r) in group.iter().enumerate() {
            if i == 0 || r.sent_us < first {
                parked += 1;
                out.stamped += u64::from(r.rx_us.is_some());
                out.held
                    .record(Duration::from_micros(r.got_us.saturating_sub(r.sent_us)));
                if i > 0 {
                    out.spread
                        .record(Duration::from_micros(arrived(r).saturating_sub(first)));
                }
                if r.got_us > first_read {
                    out.spread_read
                        .record(Duration::from_micros(r.got_us - first_read));
                }
            } else {
                out.at_once += 1;
            }
        }
        out.parked += parked as u64;
        out.parts += 1;
        out.max_fan_out = out.max_fan_out.max(parked);
    }
    // In flight: +1 when sent, -1 when answered; at equal times the answer counts first.
    let mut events: Vec<(u64, i8)> = requests
        .iter()
        .flat_map(|r| [(r.sent_us, 1), (r.got_us, -1)])
        .collect();
    events.sort_unstable();
    let mut now = 0i64;
    for (_, d) in events {
        now += i64::from(d);
        out.max_in_flight = out.max_in_flight.max(usize::try_from(now).unwrap_or(0));
    }
    out
}

/// The request for `path` (with its query) on `url`'s server.
fn request(url: &Url, path: String) -> Vec<u8> {
    Url {
        addr: url.addr,
        authority: url.authority.clone(),
        path,
    }
    .request("GET", None)
}

/// When the run began, by both clocks: receive timestamps are wall-clock times.
#[derive(Debug, Clone, Copy)]
struct Origin {
    at: Instant,
    wall: Duration,
}

impl Origin {
    fn now() -> Origin {
        let at = Instant::now();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Origin { at, wall }
    }

    fn micros(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.at).as_micros()).unwrap_or(u64::MAX)
    }

    fn micros_wall(&self, t: Duration) -> u64 {
        u64::try_from(t.saturating_sub(self.wall).as_micros()).unwrap_or(u64::MAX)
    }
}

async fn player(
    mut url: Url,
    playlist: u32,
    origin: Origin,
    deadline: Instant,
    delay: Duration,
    thread: u16,
) -> LlPlayersResult {
    monoio::time::sleep(delay).await;
    let mut out = LlPlayersResult::default();
    let mut conn: Option<Client> = None;
    let mut edge: Option<LlEdge> = None;
    let mut variants_followed = 0;
    while Instant::now() < deadline {
        let mut c = match conn.take() {
            Some(c) => c,
            None => match Client::connect(url.addr).await {
                Ok(mut c) => {
                    // Without timestamps, the read times stand in.
                    let _ = c.stamp_receives();
                    c
                }
                Err(_) => {
                    out.error("connect");
                    monoio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        let base = url.path.split('?').next().unwrap_or("/");
        let (req, target, limit) = match edge {
            // The server answers a blocking reload within three target durations (503 after).
            Some(e) => (
                request(
                    &url,
                    format!("{base}?_HLS_msn={}&_HLS_part={}", e.msn, e.parts),
                ),
                Some((e.msn, e.parts)),
                Duration::from_secs_f64(e.target_duration_s.clamp(1.0, 60.0) * 3.0 + 5.0),
            ),
            None => (
                request(&url, url.path.clone()),
                None,
                Duration::from_secs(10),
            ),
        };
        let sent = Instant::now();
        // The run ends at the deadline: a request still parked then is dropped, not failed.
        let left = deadline.saturating_duration_since(sent);
        let answer = monoio::time::timeout(limit.min(left), c.get(req, true, false)).await;
        let got = Instant::now();
        let (resp, failure) = match answer {
            Ok(Ok((resp, _))) => (Some(resp), None),
            Ok(Err(_)) => (None, Some("io")),
            Err(_) if limit > left => break,
            Err(_) => (None, Some("timeout")),
        };
        let status = resp.as_ref().map_or(0, |r| r.status);
        let next = resp
            .as_ref()
            .filter(|r| r.status == 200)
            .and_then(|r| playlist::ll_edge(&r.body));
        // An answer that does not list the part asked for was no wake-up: the server did not
        // hold the request (its numbering disagrees with the playlist's, or the encoder
        // stopped). Not a sample, and no spinning on it.
        let stale =
            matches!((target, next), (Some(t), Some(e)) if !e.ended && (e.msn, e.parts) <= t);
        if let (Some((msn, part)), false) = (target, stale) {
            out.requests.push(Request {
                playlist,
                msn,
                part,
                sent_us: origin.micros(sent),
                got_us: origin.micros(got),
                rx_us: resp
                    .as_ref()
                    .and_then(|r| r.received)
                    .map(|t| origin.micros_wall(t)),
                status,
                thread,
            });
        }
        let Some(resp) = resp else {
            out.error(failure.unwrap_or("io"));
            edge = None;
            monoio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if !resp.close {
            conn = Some(c);
        }
        if status != 200 {
            out.error(&status.to_string());
            // Start again from the playlist as it is now.
            if edge.take().is_none() {
                monoio::time::sleep(Duration::from_millis(500)).await;
            }
            continue;
        }
        match next {
            Some(e) if e.ended => break,
            Some(e) => {
                if stale {
                    out.error("stale");
                    monoio::time::sleep(Duration::from_millis(500)).await;
                }
                out.started = 1;
                edge = Some(e);
            }
            None if target.is_none() && variants_followed < 2 => {
                match playlist::parse(&resp.body).map(|p| match p {
                    Playlist::Master(v) => url.join(&v).ok(),
                    Playlist::Media(_) => None,
                }) {
                    Some(Some(v)) => {
                        url = v;
                        variants_followed += 1;
                    }
                    _ => {
                        out.error("not-ll");
                        break;
                    }
                }
            }
            None => {
                out.error("unparsable");
                edge = None;
            }
        }
    }
    out
}

async fn thread(
    args: LlPlayersArgs,
    origin: Origin,
    index: usize,
    threads: usize,
) -> LlPlayersResult {
    let n = super::share(args.players, threads, index);
    // Players numbered thread by thread for the playlists: each thread's players go round the
    // playlists, so every playlist's players are on every thread.
    let first: usize = (0..index)
        .map(|i| super::share(args.players, threads, i))
        .sum();
    let deadline = origin.at + args.duration;
    let tasks: Vec<_> = (0..n)
        .map(|k| {
            // Spread starts evenly over the ramp, across all threads.
            let global = k * threads + index;
            let delay = args
                .ramp
                .mul_f64(global as f64 / args.players.max(1) as f64);
            let thread = u16::try_from(index).unwrap_or(u16::MAX);
            let playlist = (first + k) % args.urls.len().max(1);
            let url = args.urls.get(playlist).cloned();
            let playlist = u32::try_from(playlist).unwrap_or(u32::MAX);
            monoio::spawn(async move {
                match url {
                    Some(u) => player(u, playlist, origin, deadline, delay, thread).await,
                    None => LlPlayersResult::default(),
                }
            })
        })
        .collect();
    let mut total = LlPlayersResult::default();
    for t in tasks {
        total.merge(t.await);
    }
    total
}

fn dump(path: &std::path::Path, requests: &[Request]) -> std::io::Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "msn,part,sent_us,got_us,rx_us,status,thread,playlist")?;
    for r in requests {
        let rx = r.rx_us.map(|t| t.to_string()).unwrap_or_default();
        writeln!(
            w,
            "{},{},{},{},{rx},{},{},{}",
            r.msn, r.part, r.sent_us, r.got_us, r.status, r.thread, r.playlist
        )?;
    }
    w.flush()
}

/// Runs mode (d) and prints the report; returns the merged result.
pub fn run(args: &LlPlayersArgs) -> LlPlayersResult {
    let threads = args.threads.max(1);
    let origin = Origin::now();
    let cpu0 = super::cpu_time();
    let make = {
        let args = args.clone();
        move |i: usize| thread(args.clone(), origin, i, threads)
    };
    let mut total = LlPlayersResult::default();
    for r in super::run_threads(threads, args.uring, make) {
        total.merge(r);
    }
    let elapsed = origin.at.elapsed().as_secs_f64().max(1e-9);
    let cpu = super::cpu_time().saturating_sub(cpu0).as_secs_f64();
    if let Some(path) = &args.dump {
        if let Err(e) = dump(path, &total.requests) {
            eprintln!("streampack-load: {}: {e}", path.display());
        }
    }
    let mut f = fan_out(
        &total.requests,
        u64::try_from(args.ramp.as_micros()).unwrap_or(u64::MAX),
    );
    let answered = total.requests.iter().filter(|r| r.status == 200).count();
    let (errors, errors_by) = error_counts(&total.errors);
    let s = f.spread.percentiles(&[0.5, 0.99, 1.0]);
    let sr = f.spread_read.percentiles(&[0.5, 0.99, 1.0]);
    let h = f.held.percentiles(&[0.5]);
    let following = match &args.urls[..] {
        [one] => one.path.clone(),
        many => format!("{} playlists", many.len()),
    };
    println!(
        "ll-players {following}: {} players ({} started), {} threads, {:.1}s (ramp {:.1}s)",
        args.players,
        total.started,
        threads,
        elapsed,
        args.ramp.as_secs_f64()
    );
    println!(
        "  blocking requests answered {answered} ({:.0}/s); errors {errors} ({errors_by})",
        answered as f64 / elapsed
    );
    println!(
        "  after the ramp, parts fanned out {}: parked answers {}, answered at once {}; most parked for one part {}; most in flight {}",
        f.parts, f.parked, f.at_once, f.max_fan_out, f.max_in_flight
    );
    println!(
        "  wake-up spread (per playlist and part: first answer -> each other parked answer, {} samples, {} with receive timestamps): p50 {} p99 {} max {}",
        f.spread.len(),
        f.stamped,
        fmt_us(s[0]),
        fmt_us(s[1]),
        fmt_us(s[2])
    );
    println!(
        "  same as read by the players: p50 {} p99 {} max {}",
        fmt_us(sr[0]),
        fmt_us(sr[1]),
        fmt_us(sr[2])
    );
    println!(
        "  held p50 {}; generator CPU {:.1}s ({:.0}% of one core)",
        fmt_us(h[0]),
        cpu,
        cpu / elapsed * 100.0
    );
    println!(
        "RESULT mode=ll-players players={} playlists={} started={} answered={answered} errors={errors} errors_by={errors_by} parts={} parked={} at_once={} max_fan_out={} max_in_flight={} spread_p50_us={} spread_p99_us={} spread_max_us={} spread_read_p50_us={} spread_read_p99_us={} spread_read_max_us={} stamped={} held_p50_us={} gen_cpu_s={cpu:.1} elapsed_s={elapsed:.1}",
        args.players,
        args.urls.len(),
        total.started,
        f.parts,
        f.parked,
        f.at_once,
        f.max_fan_out,
        f.max_in_flight,
        s[0],
        s[1],
        s[2],
        sr[0],
        sr[1],
        sr[2],
        f.stamped,
        h[0]
    );
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(msn: u64, part: u32, sent_us: u64, got_us: u64) -> Request {
        Request {
            playlist: 0,
            msn,
            part,
            sent_us,
            got_us,
            rx_us: None,
            status: 200,
            thread: 0,
        }
    }

    #[test]
    fn spread_is_measured_from_the_first_answer_of_each_part() {
        let mut f = fan_out(
            &[
                // Part (10, 1): three parked, answered at 1000, 1300, 1900; one sent at 1500
                // (after the first answer) is answered at once and not a wake-up.
                req(10, 1, 100, 1300),
                req(10, 1, 0, 1000),
                req(10, 1, 200, 1900),
                req(10, 1, 1500, 1600),
                // Part (10, 2): two parked, 50 µs apart.
                req(10, 2, 1000, 2000),
                req(10, 2, 1300, 2050),
                // Failed requests do not count as answers but were in flight.
                Request {
                    status: 503,
                    ..req(10, 2, 1900, 2100)
                },
            ],
            0,
        );
        assert_eq!((f.parts, f.parked, f.at_once, f.max_fan_out), (2, 5, 1, 3));
        assert_eq!(f.spread.len(), 3);
        assert_eq!(f.spread.percentiles(&[0.0, 1.0]), vec![50, 900]);
        assert_eq!(f.held.len(), 5);
        // Three parked from 200 µs; at 1000 one answered before the next sent; the fourth
        // in flight at 1500 (sent 200, 1000, 1300, 1500).
        assert_eq!(f.max_in_flight, 4);
    }

    #[test]
    fn receive_timestamps_come_before_read_times() {
        let stamped = |sent, got, rx| Request {
            rx_us: Some(rx),
            ..req(5, 0, sent, got)
        };
        // Written 10 µs apart, read 2 ms apart by a busy generator.
        let mut f = fan_out(
            &[
                stamped(0, 3000, 1000),
                stamped(0, 1000, 990),
                stamped(0, 2000, 1010),
            ],
            0,
        );
        assert_eq!((f.parked, f.stamped, f.max_fan_out), (3, 3, 3));
        assert_eq!(f.spread.percentiles(&[0.0, 1.0]), vec![10, 20]);
        assert_eq!(f.spread_read.percentiles(&[0.0, 1.0]), vec![1000, 2000]);
        // A part first answered before `from_us` (during the ramp) is left out.
        let f = fan_out(&[stamped(0, 1000, 990)], 991);
        assert_eq!((f.parts, f.parked), (0, 0));
    }

    #[test]
    fn each_playlist_fans_out_on_its_own() {
        let on = |playlist, r: Request| Request { playlist, ..r };
        // Part (7, 0) of two playlists: each first answer starts its own spread, so the
        // second playlist's answers 3 ms later are not 3 ms of spread.
        let mut f = fan_out(
            &[
                on(0, req(7, 0, 0, 1000)),
                on(0, req(7, 0, 0, 1020)),
                on(1, req(7, 0, 0, 4000)),
                on(1, req(7, 0, 0, 4050)),
                on(1, req(7, 0, 0, 4060)),
            ],
            0,
        );
        assert_eq!((f.parts, f.parked, f.max_fan_out), (2, 5, 3));
        assert_eq!(f.spread.percentiles(&[0.0, 0.5, 1.0]), vec![20, 50, 60]);
    }

    #[test]
    fn nothing_answered_is_no_fan_out() {
        let mut f = fan_out(
            &[Request {
                status: 0,
                ..req(1, 0, 0, 10)
            }],
            0,
        );
        assert_eq!(
            (f.parts, f.parked, f.max_fan_out, f.max_in_flight),
            (0, 0, 0, 1)
        );
        assert_eq!(f.spread.percentiles(&[0.99]), vec![0]);
    }
}
