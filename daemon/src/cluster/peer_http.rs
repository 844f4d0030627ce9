//! A node's GET (or licence POST) to another node's pull listener, on the shard's own runtime: one connection
//! per request (`Connection: close`), the cluster secret in [`PEER_HEADER`], the answer read
//! whole (`Content-Length`, chunked or until close) with the same strict body reader as
//! requests.

use bytes::{Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use streampack_core::cluster::PEER_HEADER;
use streampack_core::http::{BodyDecoder, BodyKind};

/// How long connecting to another node may take (a dead host answers nothing at all).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest answer head, bytes.
const MAX_HEAD: usize = 64 * 1024;

/// Another node's answer.
pub struct PeerAnswer {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body.
    pub body: Bytes,
}

impl PeerAnswer {
    /// The first header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// `GET target` (`POST` with `post` as its body) from the node at `addr`, within `timeout`,
/// an answer body of at most `max_body`.
pub async fn get(
    addr: SocketAddr,
    target: &str,
    secret: &str,
    post: Option<&[u8]>,
    (timeout, max_body): (Duration, u64),
) -> io::Result<PeerAnswer> {
    match monoio::time::timeout(timeout, exchange(addr, target, secret, post, max_body)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {} ms", timeout.as_millis()),
        )),
    }
}

async fn exchange(
    addr: SocketAddr,
    target: &str,
    secret: &str,
    post: Option<&[u8]>,
    max_body: u64,
) -> io::Result<PeerAnswer> {
    let mut s = match monoio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(s) => s?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    };
    let _ = s.set_nodelay(true);
    let (method, length) = match post {
        Some(b) => ("POST", format!("Content-Length: {}\r\n", b.len())),
        None => ("GET", String::new()),
    };
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\n{PEER_HEADER}: {secret}\r\n{length}Connection: close\r\n\r\n"
    )
    .into_bytes();
    req.extend_from_slice(post.unwrap_or_default());
    let (res, _) = s.write_all(req).await;
    res?;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let (status, headers, head_len) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 48];
        let mut resp = httparse::Response::new(&mut slots);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                let headers = resp
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                    .collect::<Vec<_>>();
                break (resp.code.unwrap_or(502), headers, n);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                if read_more(&mut s, &mut buf).await? == 0 {
                    return Err(bad("the connection closed before the answer's head ended"));
                }
            }
            Ok(httparse::Status::Partial) => return Err(bad("answer head too large")),
            Err(e) => return Err(bad(&format!("unreadable answer head: {e}"))),
        }
    };
    let _ = buf.split_to(head_len);
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let chunked = find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"));
    let length = find("content-length")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let kind = match (chunked, length) {
        (true, _) => Some(BodyKind::Chunked),
        (false, Some(n)) => Some(BodyKind::Length(n)),
        (false, None) if status == 204 || status == 304 => Some(BodyKind::Empty),
        (false, None) => None,
    };
    let body = match kind {
        Some(kind) => {
            let mut dec = BodyDecoder::new(kind, max_body).map_err(|e| bad(&e.reason))?;
            let mut out =
                BytesMut::with_capacity(usize::try_from(length.unwrap_or(0)).unwrap_or(0));
            loop {
                match dec.decode(&mut buf, &mut out).map_err(|e| bad(&e.reason))? {
                    streampack_core::http::BodyStatus::Done => break out.freeze(),
                    streampack_core::http::BodyStatus::NeedMore => {
                        if read_more(&mut s, &mut buf).await? == 0 {
                            return Err(bad("the connection closed inside the answer's body"));
                        }
                    }
                }
            }
        }
        // Neither length nor chunks: the body ends with the connection.
        None => {
            while read_more(&mut s, &mut buf).await? > 0 {
                if buf.len() as u64 > max_body {
                    return Err(bad("answer body too large"));
                }
            }
            buf.freeze()
        }
    };
    Ok(PeerAnswer {
        status,
        headers,
        body,
    })
}

/// Reads more onto the end of `buf` (into its spare capacity: a read into the buffer itself
/// would write over what it holds).
async fn read_more(s: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    buf.reserve(64 * 1024);
    let owned = std::mem::take(buf);
    let (start, end) = (owned.len(), owned.capacity());
    let (res, spare) = s.read(owned.slice_mut(start..end)).await;
    *buf = spare.into_inner();
    res
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::{Read, Write};

    /// Serves one request with `answer` written in pieces of `piece` bytes, a pause between.
    fn server(answer: Vec<u8>, piece: usize) -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = [0u8; 4096];
            let n = s.read(&mut req).unwrap();
            let req = String::from_utf8_lossy(&req[..n]).into_owned();
            assert!(req.contains("x-streampack-cluster: s3cret"), "{req}");
            for part in answer.chunks(piece) {
                s.write_all(part).unwrap();
                s.flush().unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        addr
    }

    fn fetch(addr: SocketAddr) -> io::Result<PeerAnswer> {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(get(
            addr,
            "/v1/a/b/c.ts",
            "s3cret",
            None,
            (Duration::from_secs(5), 1 << 20),
        ))
    }

    #[test]
    fn answers_arriving_in_small_pieces_are_read_whole() {
        let body: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut chunked =
            b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        for part in body.chunks(700) {
            chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            chunked.extend_from_slice(part);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let mut length = format!(
            "HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        length.extend_from_slice(&body);
        let mut closed = b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n".to_vec();
        closed.extend_from_slice(&body);
        for (answer, status) in [(chunked, 200), (length, 200), (closed, 404)] {
            // Pieces that split the head, the chunk-size lines and the CRLFs.
            for piece in [7, 100, 1 << 16] {
                let a = fetch(server(answer.clone(), piece)).unwrap();
                assert_eq!(a.status, status, "piece {piece}");
                assert_eq!(a.body, body, "piece {piece}");
            }
        }
    }

    #[test]
    fn a_refused_connection_fails_at_once() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let started = std::time::Instant::now();
        assert!(fetch(addr).is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
