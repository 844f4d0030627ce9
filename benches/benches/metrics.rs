//! What metrics cost a pull request.
//!
//! - `metrics/per_request`: everything the pull path adds for metrics, on a shard thread:
//!   two clock reads, classifying the path, and `EndpointMetrics::record` (request and byte
//!   counters, latency histogram), plus the status/bytes bookkeeping `Conn` does per write.
//! - `pull/segment_keepalive`: one whole pull request against a real `streampackd` started in
//!   this process (one shard, loopback, keep-alive, a 3.7 kB segment), client work included.
//!
//! The ratio of the two is the share of a pull request's cost that metrics take (an upper
//! bound: on loopback the request is as cheap as it gets). Run: `cargo bench -p
//! streampack-benches --bench metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};
use streampack_core::admin::frame;
use streampack_core::admin::proto::{ChannelCreate, EndpointCreate, Request, Response};
use streampack_core::id::Id;
use streampackd::metrics::{enter_shard, EndpointMetrics, ObjectType};

fn per_request(c: &mut Criterion) {
    enter_shard(0);
    let m = EndpointMetrics::new(Id::from_random([1; 14]), 2);
    let path = String::from("hi/17000000042.ts");
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 3760\r\n\r\n".to_vec();
    let (mut status, mut sent) = (0u16, 0u64);
    c.bench_function("metrics/per_request", |b| {
        b.iter(|| {
            let started = Instant::now();
            let kind = ObjectType::of_path(black_box(&path));
            // What Conn::note does per response head.
            if let Some([a, b, c]) = black_box(&head).get(9..12) {
                let d = |x: u8| u16::from(x.wrapping_sub(b'0'));
                status = d(*a) * 100 + d(*b) * 10 + d(*c);
            }
            sent = sent.wrapping_add(head.len() as u64 + 3760);
            let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            m.record(kind, status, black_box(3760), us);
        })
    });
    black_box((status, sent));
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn admin(sock: &Path, req: Request) -> Response {
    let mut s = UnixStream::connect(sock).unwrap();
    s.write_all(&frame::encode(&req).unwrap()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    frame::decode::<Response>(&buf).unwrap().unwrap().0
}

/// Sends one request on a keep-alive connection and reads the whole response; returns the
/// status and body.
fn exchange(s: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> (u16, Vec<u8>) {
    s.write_all(req).unwrap();
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            let status: u16 = head[9..12].parse().unwrap();
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed");
                buf.extend_from_slice(&chunk[..n]);
            }
            return (status, buf[end + 4..end + 4 + len].to_vec());
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn fake_ts(packets: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(188 * packets);
    for i in 0..packets {
        v.push(0x47);
        v.extend(std::iter::repeat_n(i as u8, 187));
    }
    v
}

fn pull_request(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    use streampackd::config::{Config, Listener, MetricsListen, Observability};
    let listener = |listen| Listener {
        tls_listen: None,
        listen,
        public_url: None,
    };
    let cfg = Config {
        state_dir: dir.path().join("state"),
        admin_socket: Some(dir.path().join("ctl.sock")),
        ingest: listener(free_addr()),
        pull: listener(free_addr()),
        cores: 1,
        observability: Observability {
            metrics_listen: MetricsListen::Off,
            ..Observability::default()
        },
        ..Config::default()
    };
    let (sock, ingest, pull) = (
        cfg.admin_socket.clone().unwrap(),
        cfg.ingest.listen,
        cfg.pull.listen,
    );
    std::thread::spawn(move || streampackd::server::run(cfg));
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let Response::Channel(ch) = admin(
        &sock,
        Request::ChannelCreate(ChannelCreate {
            name: "bench".into(),
            ..Default::default()
        }),
    ) else {
        panic!("channel create refused")
    };
    let Response::Endpoint(ep) = admin(
        &sock,
        Request::EndpointCreate {
            channel: ch.id.clone(),
            spec: EndpointCreate {
                name: "web".into(),
                ..Default::default()
            },
        },
    ) else {
        panic!("endpoint create refused")
    };
    let input = format!("/v1/{}/{}", ch.id, ch.inputs[0].id);
    let mut s = TcpStream::connect(ingest).unwrap();
    let mut buf = Vec::new();
    let seg = fake_ts(20);
    for i in 0..3 {
        let mut req = format!(
            "PUT {input}/seg_{i}.ts HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            seg.len()
        )
        .into_bytes();
        req.extend_from_slice(&seg);
        assert_eq!(exchange(&mut s, &req, &mut buf).0, 201);
    }
    let pl = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
              #EXTINF:2.0,\nseg_0.ts\n#EXTINF:2.0,\nseg_1.ts\n#EXTINF:2.0,\nseg_2.ts\n";
    let mut req = format!(
        "PUT {input}/main.m3u8 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        pl.len()
    )
    .into_bytes();
    req.extend_from_slice(pl.as_bytes());
    assert_eq!(exchange(&mut s, &req, &mut buf).0, 201);

    let ep_path = ep.url.split_once("//").unwrap().1;
    let ep_path = &ep_path[ep_path.find('/').unwrap()..];
    let base = &ep_path[..ep_path.rfind('/').unwrap() + 1];
    let mut p = TcpStream::connect(pull).unwrap();
    p.set_nodelay(true).unwrap();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    let mut deadline = Instant::now() + Duration::from_secs(10);
    let main = loop {
        let (st, body) = exchange(&mut p, &get(ep_path), &mut buf);
        if st == 200 {
            break String::from_utf8(body).unwrap();
        }
        assert!(Instant::now() < deadline, "endpoint never served");
        std::thread::sleep(Duration::from_millis(50));
    };
    let last = main.lines().rfind(|l| !l.starts_with('#')).unwrap();
    let seg_req = get(&format!("{base}{last}"));
    deadline = Instant::now();
    let (st, body) = exchange(&mut p, &seg_req, &mut buf);
    assert_eq!(
        (st, body.len()),
        (200, seg.len()),
        "{last}: {:?}",
        deadline.elapsed()
    );
    c.bench_function("pull/segment_keepalive", |b| {
        b.iter(|| black_box(exchange(&mut p, &seg_req, &mut buf)))
    });
}

criterion_group!(benches, per_request, pull_request);
criterion_main!(benches);
