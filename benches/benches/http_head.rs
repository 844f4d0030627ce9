//! The request-head parser on what players and encoders really send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use streampack_core::http::{parse_head, Limits};

const LIMITS: Limits = Limits {
    max_head_bytes: 16 * 1024,
    max_headers: 64,
};

/// A segment GET as hls.js in Chromium sends it.
const PLAYER_GET: &[u8] = b"GET /v1/0123456789abcdef0123456789ab/fedcba9876543210fedcba987654/hi/17000000123.ts HTTP/1.1\r\n\
Host: origin.example.com:8080\r\nConnection: keep-alive\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Accept: */*\r\nOrigin: http://player.example.com\r\nReferer: http://player.example.com/\r\n\
Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n";

/// A segment PUT as ffmpeg's HLS muxer sends it.
const FFMPEG_PUT: &[u8] = b"PUT /v1/0123456789abcdef0123456789ab/abcdefabcdefabcdefabcdefabcd/seg_00042.ts HTTP/1.1\r\n\
Transfer-Encoding: chunked\r\nUser-Agent: Lavf/59.27.100\r\nAccept: */*\r\nConnection: keep-alive\r\n\
Host: 127.0.0.1:8081\r\nIcy-MetaData: 1\r\n\r\n";

/// wrk's minimal GET.
const WRK_GET: &[u8] =
    b"GET /v1/0123456789abcdef0123456789ab/fedcba9876543210fedcba987654/main.m3u8 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_head");
    for (name, head) in [
        ("player_get", PLAYER_GET),
        ("ffmpeg_put", FFMPEG_PUT),
        ("wrk_get", WRK_GET),
    ] {
        g.throughput(Throughput::Bytes(head.len() as u64));
        g.bench_function(name, |b| {
            // The daemon's read buffer: the head arrives in it, and is split off its front.
            let mut buf = BytesMut::with_capacity(16 * 1024);
            b.iter(|| {
                buf.extend_from_slice(head);
                let h = parse_head(&mut buf, &LIMITS).unwrap().unwrap();
                black_box(h);
            })
        });
    }
    // 16 pipelined GETs in one read.
    let mut pipelined = Vec::new();
    for _ in 0..16 {
        pipelined.extend_from_slice(WRK_GET);
    }
    g.throughput(Throughput::Elements(16));
    g.bench_function("wrk_get_pipelined_x16", |b| {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        b.iter(|| {
            buf.extend_from_slice(&pipelined);
            while let Some(h) = parse_head(&mut buf, &LIMITS).unwrap() {
                black_box(h);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
