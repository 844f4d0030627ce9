//! One client connection: reads request heads into a buffer the sans-io core parses (bodies:
//! [`body`]), and writes responses. A response is a head `Vec` plus a body `Bytes` that goes
//! out in one `writev`, the body being the very `Bytes` every other reader shares (no copy);
//! a body held in its own pages goes by `vmsplice`/`splice` ([`crate::splice`]) instead.

mod body;
pub mod h2;
pub mod stream;
pub mod tls_io;

use bytes::{Bytes, BytesMut};
use monoio::io::CancelHandle;
use monoio::net::TcpStream;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use streampack_core::http::{error_response, parse_head, HttpError, Limits, RequestHead, Status};

use crate::context::Shared;
use crate::send_buf::recycle_head;
use stream::{Idle, Stream};
use streampack_core::media::Backing;

/// Bytes asked of the kernel per read while reading heads.
const HEAD_READ: usize = 16 * 1024;
/// Read buffer of an idle keep-alive connection: room for the request heads players and CDNs
/// send (a longer head goes on with [`HEAD_READ`]). An idle connection's read is in flight
/// with its buffer, so this is what every open connection holds.
const IDLE_READ: usize = 2 * 1024;
/// An empty read buffer larger than this (grown by a long head or a chunked body) is swapped
/// for an [`IDLE_READ`] one before the connection waits for its next request.
const IDLE_KEEP: usize = 4 * IDLE_READ;
/// Bytes asked of the kernel per read while reading bodies.
const BODY_READ: usize = 256 * 1024;
/// Most bytes allocated up front for a body from its `Content-Length` (already within the cap).
const MAX_PREALLOC: usize = 16 * 1024 * 1024;
/// Smallest page-backed response body sent by `splice` rather than copied: below it the pipe
/// round trip costs more than the copy it saves (a small `Range`).
const SPLICE_MIN: usize = 16 * 1024;

/// Why reading stopped.
pub enum ReadError {
    /// The peer closed the connection.
    Eof,
    /// The deadline passed.
    Timeout,
    /// A socket error.
    Io,
    /// Shutdown began while the connection was idle.
    Shutdown,
}

/// What answering one request came to: the status sent (metrics, access log) and whether the
/// connection stays open for the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The status of the answer.
    pub status: Status,
    /// The connection stays open.
    pub keep_alive: bool,
}

impl Outcome {
    /// An answer with `status`; the connection stays open when `keep_alive`.
    pub fn new(status: Status, keep_alive: bool) -> Outcome {
        Outcome { status, keep_alive }
    }
}

/// A connection with its read buffer.
pub struct Conn {
    stream: Stream,
    /// Bytes read and not yet parsed (a partial head, body bytes, pipelined requests).
    pub rbuf: BytesMut,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Time a response may take to be written, plus one second per [`SEND_BYTES_PER_SEC`].
    pub send_timeout: Duration,
    /// Bytes written on this connection so far.
    pub sent: u64,
    /// The socket was made non-blocking for [`crate::splice`].
    nonblocking: bool,
}

/// Longest a closing connection is drained ([`Conn::linger`]).
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most bytes drained from a closing connection.
const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// Slowest average rate a response body is granted on top of [`Conn::send_timeout`].
const SEND_BYTES_PER_SEC: usize = 64 * 1024;

impl Conn {
    /// Wraps an accepted plain stream.
    pub fn new(stream: TcpStream, peer: SocketAddr) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn::over(Stream::Plain(stream), peer)
    }

    /// Wraps an accepted TLS session.
    pub fn tls(s: tls_io::TlsIo, peer: SocketAddr) -> Conn {
        Conn::over(Stream::Tls(Box::new(s)), peer)
    }

    /// A connection serving one HTTP/2 stream: what is written goes to `sink`.
    pub fn for_h2(peer: SocketAddr, sink: h2::H2Sink) -> Conn {
        Conn::over(Stream::H2(Box::new(sink)), peer)
    }

    fn over(stream: Stream, peer: SocketAddr) -> Conn {
        Conn {
            stream,
            rbuf: BytesMut::with_capacity(IDLE_READ),
            peer,
            send_timeout: Duration::from_secs(60),
            sent: 0,
            nonblocking: false,
        }
    }

    /// The HTTP/2 stream is answered: ends what the handler left open.
    pub async fn finish_h2(&mut self) {
        if let Stream::H2(sink) = &mut self.stream {
            sink.finish().await;
        }
    }

    /// Gives the plain socket and what was read from it but not parsed (an HTTP/2 preface).
    pub fn into_plain(self) -> Option<(TcpStream, BytesMut)> {
        match self.stream {
            Stream::Plain(s) => Some((s, self.rbuf)),
            _ => None,
        }
    }

    /// Reads more bytes into `rbuf`, giving up after `limit`.
    pub async fn read_more(&mut self, want: usize, limit: Duration) -> Result<usize, ReadError> {
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.reserve(want);
        // Read into the spare capacity after what is buffered, or a partial head or chunk
        // line would be overwritten.
        let len = buf.len();
        let end = buf.capacity();
        let read = self.stream.read_into(buf, len, end, Idle::No);
        match monoio::time::timeout(limit, read).await {
            Err(_) => Err(ReadError::Timeout),
            Ok((res, buf)) => {
                self.rbuf = buf;
                match res {
                    Ok(0) => Err(ReadError::Eof),
                    Ok(n) => Ok(n),
                    Err(_) => Err(ReadError::Io),
                }
            }
        }
    }

    /// Closes so that the client can read the last answer (nginx's lingering close): stop
    /// writing (FIN), then read and drop what the client still sends, for at most
    /// [`LINGER_TIME`] and [`LINGER_BYTES`]. Closing with unread bytes in the kernel would
    /// answer them with a reset, which can destroy a 4xx still in flight (a 413 for an upload,
    /// a 431 for a huge head).
    pub async fn linger(&mut self) {
        // Bounded: over TLS the close_notify is a write a client that stopped reading never
        // takes (a plain FIN never waits).
        match monoio::time::timeout(LINGER_TIME, self.stream.shutdown()).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        let deadline = monoio::time::Instant::now() + LINGER_TIME;
        let mut drained = 0usize;
        self.rbuf.clear();
        while drained < LINGER_BYTES {
            let left = deadline.saturating_duration_since(monoio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.read_more(HEAD_READ * 4, left).await {
                Ok(n) => {
                    drained = drained.saturating_add(n);
                    self.rbuf.clear();
                }
                Err(_) => break,
            }
        }
    }

    /// Reads more bytes into `rbuf` between requests: like [`Conn::read_more`], and ended by
    /// the shard's canceller when shutdown begins.
    async fn read_idle(&mut self, limit: Duration, c: CancelHandle) -> Result<usize, ReadError> {
        let mut buf = std::mem::take(&mut self.rbuf);
        if buf.is_empty() && buf.capacity() > IDLE_KEEP {
            buf = BytesMut::with_capacity(IDLE_READ);
        }
        buf.reserve(IDLE_READ);
        // As in `read_more`: read after what is buffered, never over it.
        let len = buf.len();
        let end = buf.capacity();
        let read = self.stream.read_into(buf, len, end, Idle::Cancel(&c));
        match monoio::time::timeout(limit, read).await {
            Err(_) => Err(ReadError::Timeout),
            Ok((res, buf)) => {
                self.rbuf = buf;
                match res {
                    Ok(0) => Err(ReadError::Eof),
                    Ok(n) => Ok(n),
                    Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => Err(ReadError::Shutdown),
                    Err(_) => Err(ReadError::Io),
                }
            }
        }
    }

    /// Reads the next request head. `Ok(None)`: the connection ended quietly (peer closed
    /// while idle, idle timeout, shutdown); `Err(status)`: an error was answered with `status`.
    pub async fn next_head(
        &mut self,
        shared: &Shared,
        limits: &Limits,
        idle_reads: &CancelHandle,
    ) -> Result<Option<RequestHead>, Status> {
        let cfg = &shared.config.limits;
        let mut started: Option<monoio::time::Instant> = None;
        loop {
            match parse_head(&mut self.rbuf, limits) {
                Ok(Some(head)) => return Ok(Some(head)),
                Ok(None) => {}
                Err(e) => {
                    let answer = Box::pin(self.send_error(&e, false, false));
                    return Err(answer.await.status);
                }
            }
            // Idle only until the first byte: empty lines before a request line are consumed by
            // the parser but still start the head clock, or a client trickling CRLFs would
            // hold the connection forever on the idle timeout.
            let idle = self.rbuf.is_empty() && started.is_none();
            let limit = if idle {
                if shared.is_shutting_down() {
                    return Ok(None);
                }
                Duration::from_secs(cfg.idle_timeout_secs)
            } else {
                let t0 = *started.get_or_insert_with(monoio::time::Instant::now);
                Duration::from_secs(cfg.head_timeout_secs).saturating_sub(t0.elapsed())
            };
            let r = if idle {
                self.read_idle(limit, idle_reads.clone()).await
            } else {
                self.read_more(HEAD_READ, limit).await
            };
            match r {
                Ok(_) => {
                    started.get_or_insert_with(monoio::time::Instant::now);
                }
                Err(ReadError::Timeout) if !idle => {
                    let e = HttpError::new(
                        Status::REQUEST_TIMEOUT,
                        "request head not received in time",
                    );
                    let answer = Box::pin(self.send_error(&e, false, false));
                    return Err(answer.await.status);
                }
                Err(_) => return Ok(None),
            }
        }
    }

    /// How long writing `len` bytes may take before the client counts as not reading.
    fn send_limit(&self, len: usize) -> Duration {
        let per_rate = u64::try_from(len / SEND_BYTES_PER_SEC).unwrap_or(u64::MAX);
        self.send_timeout
            .saturating_add(Duration::from_secs(per_rate))
    }

    /// A write that did not finish in time: the client stopped reading.
    fn send_timed_out(&self) -> bool {
        crate::limits::log_limit(
            self.peer.ip(),
            "response not taken by the client within limits.send_timeout_secs: connection closed",
        );
        false
    }

    /// Sends a complete answer (`head`, its body in it if any) with `status`; the connection
    /// stays open when the write succeeded and `keep_alive`.
    pub async fn answer(&mut self, status: Status, head: Vec<u8>, keep_alive: bool) -> Outcome {
        let written = self.write(head).await;
        Outcome::new(status, written && keep_alive)
    }

    /// [`Conn::answer`] with a shared body sent after the head in one `writev`.
    pub async fn answer_with_body(
        &mut self,
        status: Status,
        head: Vec<u8>,
        body: Bytes,
        keep_alive: bool,
    ) -> Outcome {
        let written = self.write_with_body(head, body).await;
        Outcome::new(status, written && keep_alive)
    }

    /// [`Conn::answer_with_body`] for a body that may live in page-backed memory
    /// (`backing`): sent from its pages without copying when it does and is large enough to
    /// gain from it, else copied like any other.
    pub async fn answer_with_pages(
        &mut self,
        status: Status,
        head: Vec<u8>,
        body: Bytes,
        backing: Option<&Backing>,
        keep_alive: bool,
    ) -> Outcome {
        let spliced = body.len() >= SPLICE_MIN && crate::pages::find(backing, &body).is_some();
        if !spliced || !self.make_nonblocking() {
            return self.answer_with_body(status, head, body, keep_alive).await;
        }
        let Some(sock) = self.stream.plain() else {
            return self.answer_with_body(status, head, body, keep_alive).await;
        };
        self.sent = self
            .sent
            .wrapping_add(head.len().saturating_add(body.len()) as u64);
        let limit = self.send_limit(head.len().saturating_add(body.len()));
        // `body` (and so the mapping it lies in) stays alive until the send is over.
        let send = crate::splice::send(sock, &head, &body);
        let written = match monoio::time::timeout(limit, send).await {
            Ok(res) => res.is_ok(),
            Err(_) => self.send_timed_out(),
        };
        recycle_head(head);
        Outcome::new(status, written && keep_alive)
    }

    /// Answers with `len` bytes of `file` from `offset` after the head, spliced from the
    /// file's pages without copying them (read and copied when the socket cannot be made
    /// non-blocking).
    pub async fn answer_with_file(
        &mut self,
        status: Status,
        head: Vec<u8>,
        file: &std::fs::File,
        offset: u64,
        len: usize,
        keep_alive: bool,
    ) -> Outcome {
        if !self.make_nonblocking() {
            use std::os::unix::fs::FileExt;
            let mut body = vec![0; len];
            if file.read_exact_at(&mut body, offset).is_err() {
                return Outcome::new(status, false);
            }
            return self
                .answer_with_body(status, head, Bytes::from(body), keep_alive)
                .await;
        }
        let Some(sock) = self.stream.plain() else {
            return Outcome::new(status, false);
        };
        self.sent = self
            .sent
            .wrapping_add(head.len().saturating_add(len) as u64);
        let limit = self.send_limit(head.len().saturating_add(len));
        let send = crate::splice::send_file(sock, &head, file, offset, len);
        let written = match monoio::time::timeout(limit, send).await {
            Ok(res) => res.is_ok(),
            Err(_) => self.send_timed_out(),
        };
        recycle_head(head);
        Outcome::new(status, written && keep_alive)
    }

    /// Makes the socket non-blocking once; whether it is (never for TLS and HTTP/2, whose
    /// bytes are not the socket's bytes: those answers are copied through the session).
    fn make_nonblocking(&mut self) -> bool {
        if !self.nonblocking {
            use std::os::fd::AsRawFd;
            let Some(sock) = self.stream.plain() else {
                return false;
            };
            self.nonblocking = crate::splice::make_nonblocking(sock.as_raw_fd()).is_ok();
        }
        self.nonblocking
    }

    /// Writes raw bytes; whether they all went out in time.
    pub async fn write(&mut self, bytes: Vec<u8>) -> bool {
        self.count(bytes.len());
        let limit = self.send_limit(bytes.len());
        match monoio::time::timeout(limit, self.stream.write_all(bytes)).await {
            Ok((res, buf)) => {
                recycle_head(buf);
                res.is_ok()
            }
            Err(_) => self.send_timed_out(),
        }
    }

    /// Writes a head and a shared body ([`Stream::write_head_body`]: one `writev` on a plain
    /// socket).
    pub async fn write_with_body(&mut self, head: Vec<u8>, body: Bytes) -> bool {
        if body.is_empty() {
            return self.write(head).await;
        }
        self.count(head.len().saturating_add(body.len()));
        let limit = self.send_limit(head.len().saturating_add(body.len()));
        match monoio::time::timeout(limit, self.stream.write_head_body(head, body)).await {
            Ok(res) => res.is_ok(),
            Err(_) => self.send_timed_out(),
        }
    }

    /// Counts what goes out (access log, metrics).
    #[inline]
    fn count(&mut self, len: usize) {
        self.sent = self.sent.wrapping_add(len as u64);
    }

    /// Answers an error with a text body.
    pub async fn send_error(
        &mut self,
        err: &HttpError,
        keep_alive: bool,
        head_only: bool,
    ) -> Outcome {
        self.send_error_with(err, &[], keep_alive, head_only).await
    }

    /// Answers an error with extra headers (`Allow`, `WWW-Authenticate`, …).
    pub async fn send_error_with(
        &mut self,
        err: &HttpError,
        extra: &[(&str, &[u8])],
        keep_alive: bool,
        head_only: bool,
    ) -> Outcome {
        if matches!(
            err.status,
            Status::REQUEST_TIMEOUT
                | Status::PAYLOAD_TOO_LARGE
                | Status::URI_TOO_LONG
                | Status::HEADERS_TOO_LARGE
        ) {
            crate::limits::log_limit(
                self.peer.ip(),
                &format!("{} {}", err.status.code(), err.reason),
            );
        }
        let bytes = error_response(err, extra, keep_alive, head_only);
        self.answer(err.status, bytes, keep_alive).await
    }
}

/// Counts an open connection for as long as it lives, in its shard's own metrics slot
/// (a connection's task never leaves the shard that accepted it).
pub struct ConnGuard(pub Arc<Shared>);

impl ConnGuard {
    /// Counts one more connection.
    pub fn new(shared: Arc<Shared>) -> ConnGuard {
        shared.metrics.connection_opened();
        ConnGuard(shared)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
    }
}
