//! The `/metrics` listener.
//!
//! Served by a dedicated thread with blocking I/O rather than from shard 0: a scrape walks
//! every channel and endpoint and formats text (microseconds to milliseconds with many
//! channels), which on a shard would stall every connection that shard serves, and the
//! answer needs nothing from the shards beyond `Relaxed` loads and `ArcSwap` snapshots. A
//! scrape comes every few seconds, so one connection at a time, with short timeouts, is enough.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::{collect, expo};
use crate::context::Shared;

/// Longest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// Read and write timeout of one scrape connection.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds the listener (before readiness, so a taken port stops the start).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Serves scrapes on its own thread until the process exits.
pub fn spawn(shared: Arc<Shared>, listener: TcpListener) -> std::io::Result<()> {
    if let Ok(a) = listener.local_addr() {
        let _ = shared.metrics.listen.set(a);
    }
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(c) => handle(&shared, c),
                    Err(e) => {
                        tracing::debug!("metrics accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        })
        .map(|_| ())
}

fn handle(shared: &Shared, mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
    let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            let _ = conn.write_all(&answer(
                431,
                "text/plain",
                b"request head too large\n",
                false,
            ));
            return;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let head_only = method == b"HEAD";
    let resp = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => {
            let body = collect::render(shared);
            answer(200, expo::CONTENT_TYPE, body.as_bytes(), head_only)
        }
        (b"GET" | b"HEAD", b"/") => answer(
            200,
            "text/plain",
            b"streampackd metrics: GET /metrics\n",
            head_only,
        ),
        (b"GET" | b"HEAD", _) => answer(404, "text/plain", b"not found: try /metrics\n", head_only),
        _ => answer(405, "text/plain", b"GET or HEAD only\n", false),
    };
    let _ = conn.write_all(&resp);
}

fn answer(status: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}
