//! Hostile clients against the real daemon, while ffmpeg pushes channel A and another ffmpeg
//! plays it: malformed heads and bodies, oversized and overflowing lengths, path tricks,
//! unknown methods and versions, pipelined junk, 1,000 slowloris connections from one client
//! address and a client that stops reading. Every case gets the right 4xx (or a closed
//! connection), the daemon stays up, its memory comes back to where it was, and the player
//! keeps decoding in real time the whole while.
//!
//! Loopback only, bounded in count and time (≈ 1 minute). Hostile traffic comes from
//! 127.0.0.2 so that the per-client connection limit it runs into is not the player's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use streampack_tests::*;

/// Where hostile clients connect from.
const HOSTILE_IP: [u8; 4] = [127, 0, 0, 2];
/// Slowloris connections attempted.
const SLOWLORIS: usize = 1000;
/// Daemon-wide per-client limit in this test (each of the shards admits its share).
const PER_IP: usize = 400;
/// `limits.head_timeout_secs` in this test.
const HEAD_TIMEOUT: u64 = 4;
/// `limits.send_timeout_secs` in this test.
const SEND_TIMEOUT: u64 = 3;

fn config() -> String {
    format!(
        "cores = 2\n[limits]\nhead_timeout_secs = {HEAD_TIMEOUT}\nmax_connections_per_ip = {PER_IP}\n\
         send_timeout_secs = {SEND_TIMEOUT}\nmax_object_bytes = 8388608\n"
    )
}

/// Raises the soft descriptor limit so 1,000 sockets (plus the daemon's side of them, which
/// inherits it) fit; fails loudly when the hard limit does not allow it.
fn ensure_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            assert!(
                lim.rlim_max >= want,
                "ulimit -n hard limit {} is below the {want} this test needs",
                lim.rlim_max
            );
            lim.rlim_cur = want;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
}

/// A connection from [`HOSTILE_IP`].
fn hostile_connect(to: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.bind(&SocketAddr::from((HOSTILE_IP, 0)).into())?;
    s.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(s)
}

/// `VmRSS` of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/pid/status")
}

/// Sends `bytes` (a write error is an answer too: the daemon may close before taking them
/// all) and reads until the daemon closes or 5 s pass. Returns (status of the first
/// response if any, whole answer, closed).
fn exchange(to: SocketAddr, bytes: &[u8]) -> (Option<u16>, String, bool) {
    let mut s = hostile_connect(to).unwrap();
    let writer = {
        let mut w = s.try_clone().unwrap();
        let bytes = bytes.to_vec();
        thread::spawn(move || {
            let _ = w.write_all(&bytes);
        })
    };
    let mut answer = Vec::new();
    let mut closed = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 16384];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => break,
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    let text = text(&answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok());
    (status, text, closed)
}

/// Statuses of every response in an answer, in order.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| answer.get(i + 9..i + 12).and_then(|c| c.parse().ok()))
        .collect()
}

/// ffmpeg playing a live HLS URL, reporting decoded frames as it goes.
struct Player {
    child: Child,
    frames: Arc<AtomicU64>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Player {
    fn start(url: &str, stderr_log: &std::path::Path) -> Player {
        let mut child = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-v",
                "error",
                "-stats_period",
                "0.5",
                "-progress",
                "pipe:1",
            ])
            .args(["-i", url, "-f", "null", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr_log).unwrap())
            .spawn()
            .expect("spawn ffmpeg player");
        let frames = Arc::new(AtomicU64::new(0));
        let out = child.stdout.take().unwrap();
        let f = Arc::clone(&frames);
        let reader = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("frame=") {
                    if let Ok(n) = n.trim().parse() {
                        f.store(n, Ordering::Relaxed);
                    }
                }
            }
        });
        Player {
            child,
            frames,
            reader: Some(reader),
        }
    }

    fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The request/response cases: (what, listener, bytes, check of (status, answer, closed)).
fn single_cases(d: &Daemon, ingest_b: &str, pull_b: &str, seg_b: &str) -> usize {
    let ing = d.ingest;
    let pull = d.pull;
    let put = |path: &str, headers: &str, body: &[u8]| {
        let mut v = format!("PUT {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes();
        v.extend_from_slice(body);
        v
    };
    let get_raw = |target: &[u8]| {
        let mut v = b"GET ".to_vec();
        v.extend_from_slice(target);
        v.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        v
    };
    let mut garbage = Vec::with_capacity(4096);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push(x as u8);
    }
    let big_head = {
        let mut v = b"GET /healthz HTTP/1.1\r\nX-Big: ".to_vec();
        v.resize(v.len() + (1 << 20), b'a');
        v.extend_from_slice(b"\r\n\r\n");
        v
    };
    let many_headers = {
        let mut v = b"GET /healthz HTTP/1.1\r\n".to_vec();
        for i in 0..10_000 {
            v.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    let long_path = get_raw(format!("{pull_b}/{}", "a".repeat(9000)).as_bytes());
    let long_rest = get_raw(format!("{pull_b}/{}.ts", "a".repeat(1100)).as_bytes());
    let nul_raw = get_raw(format!("{pull_b}/a\0b.ts").as_bytes());
    let seg = format!("{ingest_b}/seg_x.ts");

    type Check = fn(Option<u16>, &str, bool) -> bool;
    let refused_400: Check = |s, _, closed| s == Some(400) || (s.is_none() && closed);
    let cases: Vec<(&str, SocketAddr, Vec<u8>, Check)> = vec![
        ("garbage bytes (ingest)", ing, garbage.clone(), refused_400),
        ("garbage bytes (pull)", pull, garbage, refused_400),
        ("1 MiB request head", pull, big_head, |s, _, c| {
            s == Some(431) && c
        }),
        ("10,000 headers", pull, many_headers, |s, _, c| {
            s == Some(431) && c
        }),
        (
            "negative Content-Length",
            ing,
            put(&seg, "Content-Length: -1\r\n", b""),
            |s, _, c| s == Some(400) && c,
        ),
        (
            "overflowing Content-Length",
            ing,
            put(&seg, "Content-Length: 99999999999999999999999\r\n", b""),
            |s, _, c| s == Some(400) && c,
        ),
        (
            "conflicting Content-Length list",
            ing,
            put(&seg, "Content-Length: 5, 6\r\n", b"hello"),
            |s, _, c| s == Some(400) && c,
        ),
        (
            "conflicting Content-Length fields",
            ing,
            put(&seg, "Content-Length: 5\r\nContent-Length: 6\r\n", b"hello"),
            |s, _, c| s == Some(400) && c,
        ),
        (
            "Content-Length and chunked",
            ing,
            put(
                &seg,
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                b"0\r\n\r\n",
            ),
            |s, _, c| s == Some(400) && c,
        ),
        (
            "u64::MAX Content-Length",
            ing,
            put(&seg, "Content-Length: 18446744073709551615\r\n", b""),
            |s, _, c| s == Some(413) && c,
        ),
        (
            "overflowing chunk size",
            ing,
            put(
                &seg,
                "Transfer-Encoding: chunked\r\n",
                b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
            ),
            |s, _, c| s == Some(400) && c,
        ),
        (
            "huge chunk size",
            ing,
            put(
                &seg,
                "Transfer-Encoding: chunked\r\n",
                b"ffffffffffffffff\r\nabc\r\n0\r\n\r\n",
            ),
            |s, _, c| s == Some(413) && c,
        ),
        (
            "body longer than declared",
            ing,
            put(
                &seg,
                "Content-Length: 5\r\n",
                b"hello, and then some more bytes\r\n\r\n",
            ),
            |_, a, c| statuses(a) == [201, 400] && c,
        ),
        (
            "dot-dot path (ingest)",
            ing,
            put(
                &format!("{ingest_b}/a/../../x.ts"),
                "Content-Length: 1\r\n",
                b"x",
            ),
            |s, _, _| s == Some(400),
        ),
        (
            "%2e%2e path (ingest)",
            ing,
            put(
                &format!("{ingest_b}/%2e%2e/x.ts"),
                "Content-Length: 1\r\n",
                b"x",
            ),
            |s, _, _| s == Some(400),
        ),
        (
            "dot-dot path (pull)",
            pull,
            get_raw(format!("{pull_b}/../../etc/passwd").as_bytes()),
            |s, _, _| s == Some(400),
        ),
        (
            "%2e%2e path (pull)",
            pull,
            get_raw(format!("{pull_b}/%2e%2E/%2e%2e/x.ts").as_bytes()),
            |s, _, _| s == Some(400),
        ),
        (
            "encoded NUL in path",
            pull,
            get_raw(format!("{pull_b}/a%00.ts").as_bytes()),
            |s, _, _| s == Some(400),
        ),
        ("raw NUL in path", pull, nul_raw, |s, _, c| {
            s == Some(400) || (s.is_none() && c)
        }),
        ("9 KB request-target", pull, long_path, |s, _, _| {
            s == Some(414)
        }),
        ("1.1 KB file path", pull, long_rest, |s, _, _| {
            s == Some(414) || s == Some(400)
        }),
        (
            "unknown method (ingest)",
            ing,
            format!("BREW {seg} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes(),
            |s, a, _| s == Some(405) && a.contains("Allow: "),
        ),
        (
            "unknown method (pull)",
            pull,
            format!("PROPFIND {seg_b} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .into_bytes(),
            |s, a, _| s == Some(405) && a.contains("Allow: "),
        ),
        (
            "lowercase method",
            pull,
            format!("get {seg_b} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes(),
            |s, _, _| s == Some(405),
        ),
        (
            "HTTP/1.0 closes after the answer",
            pull,
            b"GET /healthz HTTP/1.0\r\n\r\n".to_vec(),
            |s, _, c| s == Some(200) && c,
        ),
        (
            "HTTP/0.9 request line",
            pull,
            b"GET /healthz\r\n".to_vec(),
            |s, _, c| s == Some(400) || (s.is_none() && c),
        ),
        (
            // h2c with prior knowledge: the server's SETTINGS frame (type 4) comes back.
            "HTTP/2 preface on pull",
            pull,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            |s, a, _| s.is_none() && a.as_bytes().get(3) == Some(&4),
        ),
        (
            "HTTP/2 preface on ingest (HTTP/1.1 only)",
            ing,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            |s, _, _| s == Some(505),
        ),
        (
            "overflowing Range",
            pull,
            format!(
                "GET {seg_b} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Range: bytes=18446744073709551615-99999999999999999999999\r\n\r\n"
            )
            .into_bytes(),
            |s, _, _| s == Some(416) || s == Some(200),
        ),
        (
            "inverted and many Range parts",
            pull,
            format!(
                "GET {seg_b} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Range: bytes=5-1,{}\r\n\r\n",
                "0-0,".repeat(500)
            )
            .into_bytes(),
            |s, _, _| matches!(s, Some(200 | 206 | 416)),
        ),
        (
            "pipelined junk after a good request",
            pull,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01junk junk\r\n\r\n".to_vec(),
            |_, a, c| statuses(a) == [200, 400] && c,
        ),
    ];
    let n = cases.len();
    for (what, to, bytes, check) in cases {
        let (status, answer, closed) = exchange(to, &bytes);
        let head: String = answer.chars().take(300).collect();
        assert!(
            check(status, &answer, closed),
            "{what}: unexpected answer (status {status:?}, closed {closed}):\n{head}"
        );
    }
    n
}

/// 1,000 connections from one address trickling a request head one byte every 2 s (half of
/// them only empty lines, CRLF every 2 s, which the parser skips). The per-client limit refuses what is over it at
/// once; the head timeout, counted from the first byte, cuts the rest.
fn slowloris(d: &Daemon) {
    struct Slow {
        s: TcpStream,
        /// The trickle pass during which the daemon closed it (0: refused at accept).
        closed_at_pass: Option<usize>,
        crlf: bool,
        sent: usize,
    }
    let mut conns: Vec<Slow> = Vec::with_capacity(SLOWLORIS);
    for i in 0..SLOWLORIS {
        let to = if i % 2 == 0 { d.pull } else { d.ingest };
        let s = hostile_connect(to).unwrap();
        s.set_nonblocking(true).unwrap();
        conns.push(Slow {
            s,
            closed_at_pass: None,
            crlf: i % 4 < 2,
            sent: 0,
        });
    }
    // Let the daemon accept (or refuse) them all before the first pass.
    thread::sleep(Duration::from_millis(500));
    let head = b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
    let start = Instant::now();
    let mut pass = 0;
    let limit = Duration::from_secs(HEAD_TIMEOUT + 6);
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        let mut open = 0;
        for c in conns.iter_mut().filter(|c| c.closed_at_pass.is_none()) {
            let byte = [head.get(c.sent).copied().unwrap_or(b'a')];
            // A whole empty line at a time: the parser drops it and the buffer is empty again.
            let bytes: &[u8] = if c.crlf { b"\r\n" } else { &byte };
            let wrote = c.s.write(bytes);
            c.sent += 1;
            let read = c.s.read(&mut buf);
            let gone = match (wrote, read) {
                (Err(e), _) if e.kind() != ErrorKind::WouldBlock => true,
                (_, Ok(_)) => true, // EOF, or the 408 that precedes the close
                (_, Err(e)) => e.kind() != ErrorKind::WouldBlock,
            };
            if gone {
                c.closed_at_pass = Some(pass);
            } else {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        pass += 1;
        thread::sleep(Duration::from_secs(2));
    }
    let refused = conns.iter().filter(|c| c.closed_at_pass == Some(0)).count();
    let still_open = conns.iter().filter(|c| c.closed_at_pass.is_none()).count();
    let crlf_open = conns
        .iter()
        .filter(|c| c.crlf && c.closed_at_pass.is_none())
        .count();
    let admitted = SLOWLORIS - refused;
    assert_eq!(
        still_open, 0,
        "every slowloris connection is cut within head_timeout ({HEAD_TIMEOUT} s) + slack; \
         {still_open} still open after {limit:?} ({crlf_open} of them trickling only CRLFs)"
    );
    assert!(
        (PER_IP / 2..=PER_IP).contains(&admitted),
        "the per-client limit ({PER_IP}) admits at most {PER_IP} and no fewer than half: admitted {admitted}"
    );
}

/// A client that pipelines requests for a segment and never reads: cut after the send
/// timeout rather than holding the connection (and the segment) forever.
fn stops_reading(d: &Daemon, seg_path: &str, seg_len: usize) {
    let mut s = hostile_connect(d.pull).unwrap();
    let req = format!("GET {seg_path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let n = 2000;
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    for _ in 0..n {
        if s.write_all(req.as_bytes()).is_err() {
            break;
        }
    }
    let budget = SEND_TIMEOUT + (seg_len as u64) / 65536 + 4;
    thread::sleep(Duration::from_secs(budget));
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(k) => total += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                break false
            }
            Err(_) => break true,
        }
    };
    assert!(
        closed && total < n * seg_len,
        "a client that stops reading is disconnected after the send timeout \
         (closed {closed}, read {total} of {} bytes)",
        n * seg_len
    );
}

#[test]
fn hostile_clients_never_hurt_the_origin() {
    if !require_tool("ffmpeg") {
        return;
    }
    ensure_nofile(4096);
    let d = Daemon::start(DaemonOpts {
        config_toml: Some(config()),
        ..DaemonOpts::default()
    });
    let pid = d.pid().unwrap();
    let a = d.hls_channel(
        "a",
        &[
            "--max-segment-duration",
            "4",
            "--max-playlist-duration",
            "20",
        ],
    );
    let b = d.hls_channel("b", &[]);

    // Channel B gets hand-made media, the target of the pull-side cases.
    let mut c = Conn::connect(d.ingest);
    let seg = fake_ts(1, 2000);
    assert_eq!(c.put_chunked(&b.ingest("s1.ts"), &seg).status, 201);
    let pl = encoder_playlist(1, &[("s1.ts".into(), 2.0)], false);
    assert_eq!(
        c.put_chunked(&b.ingest("main.m3u8"), pl.as_bytes()).status,
        201
    );
    let served = wait_for_200(d.pull, &b.endpoint_path, Duration::from_secs(5));
    assert_eq!(served.status, 200);
    let seg_b = resolve(&b.endpoint_path, &playlist_uris(&served.text())[0]);
    assert_eq!(get(d.pull, &seg_b).body, seg);
    let pull_b = b.endpoint_path.rsplit_once('/').unwrap().0.to_string();

    // Channel A: ffmpeg pushes live, another ffmpeg plays it.
    let push_log = d.dir().join("push.log");
    let mut pusher = ffmpeg_push_hls(HlsPush::Ts, &a.primary_url, 90, &push_log);
    let first = wait_for_200(d.pull, &a.endpoint_path, Duration::from_secs(30));
    assert_eq!(first.status, 200, "channel A goes live: {first:?}");
    let play_log = d.dir().join("play.log");
    let mut player = Player::start(&a.endpoint_url, &play_log);
    let t = Instant::now();
    while player.frames() < 100 && t.elapsed() < Duration::from_secs(20) {
        thread::sleep(Duration::from_millis(200));
    }
    assert!(player.frames() >= 100, "the player decodes channel A");
    // Let the window fill (20 s) so that held media stops growing, then take the baseline.
    thread::sleep(Duration::from_secs(8));
    let rss_before = rss_kib(pid);
    let frames_before = player.frames();
    let t0 = Instant::now();

    let cases = single_cases(&d, &b.primary_path, &pull_b, &seg_b);
    slowloris(&d);
    stops_reading(&d, &seg_b, seg.len());

    // A short pause so the last closes are seen, then everything is measured.
    thread::sleep(Duration::from_secs(1));
    let secs = t0.elapsed().as_secs_f64();
    let frames = player.frames() - frames_before;
    let rss_after = rss_kib(pid);
    eprintln!(
        "hostile: {cases} cases + {SLOWLORIS} slowloris + a non-reader in {secs:.1} s; \
         player decoded {frames} frames (25 fps); VmRSS {rss_before} KiB -> {rss_after} KiB"
    );

    assert!(player.running(), "the player is still playing");
    let play_errors = std::fs::read_to_string(&play_log).unwrap_or_default();
    assert!(
        play_errors.trim().is_empty(),
        "the player reported errors:\n{play_errors}"
    );
    let expected = 25.0 * (secs - 4.0);
    assert!(
        frames as f64 >= expected * 0.9,
        "the player kept decoding in real time: {frames} frames in {secs:.1} s (want ≥ {:.0})",
        expected * 0.9
    );
    let tolerance = 24 * 1024;
    assert!(
        rss_after <= rss_before + tolerance,
        "memory returns to its baseline: VmRSS {rss_before} KiB before, {rss_after} KiB after"
    );
    // The daemon is up and serves both channels.
    assert_eq!(get(d.pull, "/healthz").status, 200);
    assert_eq!(get(d.pull, &seg_b).body, seg);
    assert_eq!(get(d.pull, &a.endpoint_path).status, 200);
    let status = d.ctl_json(&["status"]);
    assert!(status["connections"].as_u64().unwrap() < 20, "{status}");
    // Well over a thousand limit hits by 127.0.0.2, logged at most once per 10 s per shard.
    let log = d.stderr_log();
    let limit_lines = log
        .lines()
        .filter(|l| l.contains("limit hit") && l.contains("127.0.0.2"))
        .count();
    let most = 2 * (secs as usize / 10 + 1);
    assert!(
        (1..=most).contains(&limit_lines),
        "limit hits are logged once per client per interval, not per request: {limit_lines} lines (at most {most})"
    );
    assert!(
        log.contains("max_connections_per_ip reached") || log.contains("earlier hits not logged"),
        "the per-client connection limit shows in the log"
    );
    drop(player);
    let _ = pusher.kill();
    let _ = pusher.wait();
}

/// A client that sends its whole request before reading (most encoders without
/// `Expect: 100-continue`) gets the 4xx refusing it, not a reset: the daemon stops writing and
/// drains for a moment before closing, instead of closing on unread bytes.
#[test]
fn refusals_reach_clients_that_send_everything_first() {
    let d = Daemon::start(DaemonOpts::default());
    let f = d.hls_channel("linger", &[]);
    let too_big = vec![b'#'; 16 << 20];
    let mut head_1mib = b"GET /healthz HTTP/1.1\r\nX-Big: ".to_vec();
    head_1mib.resize(head_1mib.len() + (1 << 20), b'a');
    head_1mib.extend_from_slice(b"\r\n\r\n");
    let cases: Vec<(&str, SocketAddr, Vec<u8>, u16)> = vec![
        (
            "playlist over max_manifest_bytes",
            d.ingest,
            build_request(
                "x",
                "PUT",
                &f.ingest("main.m3u8"),
                &[("Content-Length", &too_big.len().to_string())],
                Some(&too_big),
            ),
            413,
        ),
        ("1 MiB head", d.pull, head_1mib, 431),
    ];
    for (what, to, bytes, want) in cases {
        let mut c = Conn::connect(to);
        let sent = c.send(&bytes);
        let r = c.read_response(false);
        assert!(
            sent.is_ok() && r.as_ref().is_ok_and(|r| r.status == want),
            "{what}: the client sends its request whole, then reads {want}: sent {sent:?}, read {r:?}"
        );
    }
}

/// Keep-alive connections with no request started are closed after `idle_timeout_secs`, and
/// so are connections that never send anything.
#[test]
fn idle_connections_are_closed() {
    let d = Daemon::start(DaemonOpts {
        config_toml: Some("[limits]\nidle_timeout_secs = 2\n".into()),
        ..DaemonOpts::default()
    });
    let mut used = Conn::connect(d.pull);
    assert_eq!(used.request("GET", "/healthz", &[], None).status, 200);
    let mut silent = Conn::connect(d.pull);
    let t = Instant::now();
    let (rest, closed) = used.read_to_close(Duration::from_secs(6));
    assert!(closed && rest.is_empty(), "idle keep-alive closed quietly");
    let (rest, closed) = silent.read_to_close(Duration::from_secs(6));
    assert!(
        closed && rest.is_empty(),
        "silent connection closed quietly"
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "closed after about idle_timeout_secs (2 s): {took:?}"
    );
}

/// Idle keep-alive connections (a request served, the next not started) cost a few KiB each,
/// so a daemon at its connection cap (16,384) stays in the low hundreds of MiB.
#[test]
fn idle_keepalive_connections_cost_a_few_kib_each() {
    const N: usize = 2000;
    /// Bound per connection, KiB: the debug daemon measured 6.0 (8.1 while an idle connection
    /// kept a 16 KiB read buffer; the release daemon 6.0 and 8.1 with 10,000 connections).
    const MAX_KIB: f64 = 7.0;
    ensure_nofile(4096 + N as u64);
    let d = Daemon::start(DaemonOpts {
        config_toml: Some(format!("[limits]\nmax_connections_per_ip = {}\n", 2 * N)),
        ..DaemonOpts::default()
    });
    let pid = d.pid().unwrap();
    let head = b"GET /healthz HTTP/1.1\r\nHost: idle\r\nUser-Agent: idle-test\r\n\r\n";
    let serve = |s: &mut TcpStream| {
        s.write_all(head).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(b"ok\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed instead of answering");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    };
    // Warm the daemon up (threads, first allocations) before the baseline.
    let mut warm = hostile_connect(d.pull).unwrap();
    serve(&mut warm);
    thread::sleep(Duration::from_millis(300));
    let before = rss_kib(pid);
    let mut conns = Vec::with_capacity(N);
    for _ in 0..N {
        let mut s = hostile_connect(d.pull).unwrap();
        serve(&mut s);
        conns.push(s);
    }
    thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid);
    let per_conn = after.saturating_sub(before) as f64 / N as f64;
    eprintln!(
        "{N} idle keep-alive connections: VmRSS {before} -> {after} KiB, {per_conn:.2} KiB each"
    );
    assert!(
        per_conn <= MAX_KIB,
        "an idle keep-alive connection costs at most {MAX_KIB} KiB: {per_conn:.2} KiB \
         ({before} -> {after} KiB for {N})"
    );
    // They are still open and usable.
    for s in conns.iter_mut().step_by(97) {
        serve(s);
    }
}
