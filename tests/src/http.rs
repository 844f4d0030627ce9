//! HTTP/1.1 over plain TCP: the bytes a player or an encoder would see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// An HTTP response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Status line reason phrase.
    pub reason: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body after de-chunking (empty for HEAD, 1xx, 204, 304).
    pub body: Vec<u8>,
}

impl Response {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as text (lossy).
    pub fn text(&self) -> String {
        text(&self.body)
    }
}

/// Splits `http://host:port/path` into (`host:port`, `/path`).
pub fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// Resolves a playlist URI against the path of the playlist that holds it.
pub fn resolve(base_path: &str, uri: &str) -> String {
    if uri.starts_with("http://") {
        return split_url(uri).1;
    }
    if uri.starts_with('/') {
        return uri.to_string();
    }
    let dir = match base_path.rfind('/') {
        Some(i) => &base_path[..=i],
        None => "/",
    };
    let mut parts: Vec<&str> = Vec::new();
    let full = format!("{dir}{uri}");
    for seg in full.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

/// A keep-alive client connection with a read buffer (so pipelined responses parse in order).
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
    host: String,
}

impl Conn {
    /// Connects with [`IO_TIMEOUT`] read/write timeouts.
    pub fn connect(addr: impl std::fmt::Display) -> Conn {
        let host = addr.to_string();
        let sa: SocketAddr = host.parse().expect("socket address");
        let stream = TcpStream::connect_timeout(&sa, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {host}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            host,
        }
    }

    /// Writes bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one request (adds `Host`, and `Content-Length` for a body unless the headers
    /// frame it already) without reading the answer.
    pub fn send_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<()> {
        let req = build_request(&self.host, method, path, headers, body);
        self.send(&req)
    }

    /// Sends a request and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        self.send_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: write failed: {e}"));
        self.read_response(method == "HEAD")
            .unwrap_or_else(|e| panic!("{method} {path}: no response: {e}"))
    }

    /// Sends a chunked PUT the way ffmpeg does (no Content-Type, no Content-Length).
    pub fn put_chunked(&mut self, path: &str, body: &[u8]) -> Response {
        let mut req = format!(
            "PUT {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Lavf/59.27.100\r\nAccept: */*\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            self.host
        )
        .into_bytes();
        req.extend_from_slice(&chunked(body, 4096));
        self.send(&req)
            .unwrap_or_else(|e| panic!("PUT {path}: write failed: {e}"));
        self.read_response(false)
            .unwrap_or_else(|e| panic!("PUT {path}: no response: {e}"))
    }

    /// Reads exactly one response (a `1xx` interim response counts as one).
    pub fn read_response(&mut self, head_request: bool) -> io::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = text(&self.buf[..head_end]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let mut sp = status_line.splitn(3, ' ');
        let version = sp.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            ));
        }
        let status: u16 = sp.next().unwrap_or_default().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
        let reason = sp.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        for l in lines.filter(|l| !l.is_empty()) {
            let (n, v) = l.split_once(':').ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad header {l:?}"))
            })?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        self.buf.drain(..head_end);
        let mut resp = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(resp);
        }
        let te = resp.header("transfer-encoding").map(|s| s.to_lowercase());
        if te.as_deref().is_some_and(|t| t.contains("chunked")) {
            resp.body = self.read_chunked()?;
        } else if let Some(cl) = resp.header("content-length") {
            let n: usize = cl.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad Content-Length {cl}"),
                )
            })?;
            while self.buf.len() < n {
                self.fill()?;
            }
            resp.body = self.buf.drain(..n).collect();
        } else {
            // Close-delimited.
            loop {
                match self.fill() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill()?;
            };
            let line = text(&self.buf[..line_end]);
            let size_str = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_str, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            self.buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let end = loop {
                        if let Some(i) = find(&self.buf, b"\r\n") {
                            break i;
                        }
                        self.fill()?;
                    };
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        return Ok(body);
                    }
                }
            }
            while self.buf.len() < size + 2 {
                self.fill()?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    /// Bytes received but not yet parsed.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Reads until the peer closes or `timeout` passes; returns buffered plus new bytes and
    /// whether the peer closed.
    pub fn read_to_close(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        let mut closed = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.fill() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    closed = true;
                    break;
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    break
                }
                // A reset is a close too.
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        (std::mem::take(&mut self.buf), closed)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Encodes a body as chunks of at most `max` bytes plus the last chunk.
pub fn chunked(body: &[u8], max: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for c in body.chunks(max.max(1)) {
        v.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        v.extend_from_slice(c);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

/// Request bytes: request line, `Host`, the given headers, `Content-Length` when there is a
/// body and no framing header was given.
pub fn build_request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    let framed = headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    });
    if let Some(b) = body {
        if !framed {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    bytes
}

/// One request on a fresh connection.
pub fn http(
    addr: impl std::fmt::Display,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    Conn::connect(addr).request(method, path, headers, body)
}

/// `GET` on a fresh connection.
pub fn get(addr: impl std::fmt::Display, path: &str) -> Response {
    http(addr, "GET", path, &[], None)
}

/// Writes bytes on a fresh connection and reads until the peer closes or `timeout` passes.
pub fn raw_with_timeout(addr: impl std::fmt::Display, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let mut c = Conn::connect(addr);
    // The peer may close before taking everything: that is an answer too.
    let _ = c.send(bytes);
    c.read_to_close(timeout).0
}

/// [`raw_with_timeout`] with 5 s.
pub fn raw(addr: impl std::fmt::Display, bytes: &[u8]) -> Vec<u8> {
    raw_with_timeout(addr, bytes, Duration::from_secs(5))
}

/// Polls `GET path` until it answers 200 or `timeout` passes; returns the last response.
pub fn wait_for_200(addr: impl std::fmt::Display, path: &str, timeout: Duration) -> Response {
    let addr = addr.to_string();
    let deadline = Instant::now() + timeout;
    loop {
        let r = get(&addr, path);
        if r.status == 200 || Instant::now() >= deadline {
            return r;
        }
        thread::sleep(Duration::from_millis(200));
    }
}
