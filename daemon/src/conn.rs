//! One client connection: reads request heads and bodies into a buffer the sans-io core
//! parses, and writes responses. A response is a head `Vec` plus a body `Bytes` that goes out
//! in one `writev`, the body being the very `Bytes` every other reader shares (no copy).

use bytes::{Bytes, BytesMut};
use monoio::buf::{IoBufMut, IoVecBuf};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent};
use monoio::net::TcpStream;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use streampack_core::http::{
    error_response, parse_head, BodyDecoder, BodyKind, BodyStatus, HttpError, Limits, RequestHead,
    Status,
};

use crate::registry::Shared;

/// Bytes asked of the kernel per read while reading heads.
const HEAD_READ: usize = 16 * 1024;
/// Bytes asked of the kernel per read while reading bodies.
const BODY_READ: usize = 256 * 1024;
/// Most bytes allocated up front for a body from its `Content-Length` (already within the cap).
const MAX_PREALLOC: usize = 16 * 1024 * 1024;

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

/// A connection with its read buffer.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet parsed (a partial head, body bytes, pipelined requests).
    pub rbuf: BytesMut,
    /// The peer's address.
    pub peer: SocketAddr,
}

impl Conn {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream, peer: SocketAddr) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            rbuf: BytesMut::with_capacity(HEAD_READ),
            peer,
        }
    }

    /// Reads more bytes into `rbuf`, giving up after `limit`.
    pub async fn read_more(&mut self, want: usize, limit: Duration) -> Result<usize, ReadError> {
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.reserve(want);
        match monoio::time::timeout(limit, self.stream.read(buf)).await {
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

    /// Reads more bytes into `rbuf` between requests: like [`Conn::read_more`], and ended by
    /// the shard's canceller when shutdown begins.
    async fn read_idle(&mut self, limit: Duration, c: CancelHandle) -> Result<usize, ReadError> {
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.reserve(HEAD_READ);
        match monoio::time::timeout(limit, self.stream.cancelable_read(buf, c)).await {
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
    /// while idle, idle timeout, shutdown); an error was already answered when `Err`.
    pub async fn next_head(
        &mut self,
        shared: &Shared,
        limits: &Limits,
        idle_reads: &CancelHandle,
    ) -> Result<Option<RequestHead>, ()> {
        let cfg = &shared.config.limits;
        let mut started: Option<monoio::time::Instant> = None;
        loop {
            match parse_head(&mut self.rbuf, limits) {
                Ok(Some(head)) => return Ok(Some(head)),
                Ok(None) => {}
                Err(e) => {
                    self.send_error(&e, false, false).await;
                    return Err(());
                }
            }
            let idle = self.rbuf.is_empty();
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
                    if started.is_none() && !self.rbuf.is_empty() {
                        started = Some(monoio::time::Instant::now());
                    }
                }
                Err(ReadError::Timeout) if !idle => {
                    let e = HttpError::new(
                        Status::REQUEST_TIMEOUT,
                        "request head not received in time",
                    );
                    self.send_error(&e, false, false).await;
                    return Err(());
                }
                Err(_) => return Ok(None),
            }
        }
    }

    /// Reads at most `max` bytes onto the end of `out`, giving up after `limit`.
    async fn read_into(
        &mut self,
        out: &mut BytesMut,
        max: usize,
        limit: Duration,
    ) -> Result<usize, ReadError> {
        let mut buf = std::mem::take(out);
        buf.reserve(max);
        let start = buf.len();
        let end = start.saturating_add(max).min(buf.capacity());
        match monoio::time::timeout(limit, self.stream.read(buf.slice_mut(start..end))).await {
            Err(_) => Err(ReadError::Timeout),
            Ok((res, slice)) => {
                *out = slice.into_inner();
                match res {
                    Ok(0) => Err(ReadError::Eof),
                    Ok(n) => Ok(n),
                    Err(_) => Err(ReadError::Io),
                }
            }
        }
    }

    /// Reads a whole body into one buffer, within `limit` in total.
    pub async fn read_body(
        &mut self,
        mut dec: BodyDecoder,
        limit: Duration,
        size_hint: usize,
    ) -> Result<Bytes, HttpError> {
        let deadline = monoio::time::Instant::now() + limit;
        // A Content-Length body gets its whole buffer at once (no regrowth copies).
        let mut out = BytesMut::with_capacity(size_hint.min(MAX_PREALLOC));
        loop {
            if dec.decode(&mut self.rbuf, &mut out)? == BodyStatus::Done {
                return Ok(out.freeze());
            }
            let left = deadline.saturating_duration_since(monoio::time::Instant::now());
            let want = dec.remaining().map_or(BODY_READ, |r| {
                usize::try_from(r).unwrap_or(BODY_READ).clamp(1, BODY_READ)
            });
            // Content-Length with `rbuf` drained: read straight into the body, one copy less.
            let direct = dec.remaining().is_some() && self.rbuf.is_empty();
            let read = if direct {
                self.read_into(&mut out, want, left).await
            } else {
                self.read_more(want, left).await
            };
            match read {
                Ok(n) if direct => {
                    dec.advance(n)?;
                }
                Ok(_) => {}
                Err(ReadError::Timeout) => {
                    return Err(HttpError::new(
                        Status::REQUEST_TIMEOUT,
                        "request body not received in time",
                    ))
                }
                Err(_) => {
                    return Err(HttpError::new(
                        Status::BAD_REQUEST,
                        "connection closed before the body was complete",
                    ))
                }
            }
        }
    }

    /// Reads and drops a small body (e.g. of a GET) so the connection can be reused.
    pub async fn discard_body(&mut self, kind: BodyKind, shared: &Shared) -> Result<(), HttpError> {
        if kind == BodyKind::Empty {
            return Ok(());
        }
        let dec = BodyDecoder::new(kind, 64 * 1024)?;
        let limit = Duration::from_secs(shared.config.limits.head_timeout_secs);
        self.read_body(dec, limit, 0).await.map(|_| ())
    }

    /// Writes raw bytes.
    pub async fn write(&mut self, bytes: Vec<u8>) -> bool {
        let (res, _) = self.stream.write_all(bytes).await;
        res.is_ok()
    }

    /// Writes a head and a shared body in one `writev`.
    pub async fn write_with_body(&mut self, head: Vec<u8>, body: Bytes) -> bool {
        if body.is_empty() {
            return self.write(head).await;
        }
        let (res, _) = self
            .stream
            .write_vectored_all(HeadBody::new(head, body))
            .await;
        res.is_ok()
    }

    /// Answers an error with a text body.
    pub async fn send_error(&mut self, err: &HttpError, keep_alive: bool, head_only: bool) -> bool {
        self.send_error_with(err, &[], keep_alive, head_only).await
    }

    /// Answers an error with extra headers (`Allow`, `WWW-Authenticate`, …).
    pub async fn send_error_with(
        &mut self,
        err: &HttpError,
        extra: &[(&str, &[u8])],
        keep_alive: bool,
        head_only: bool,
    ) -> bool {
        let bytes = error_response(err, extra, keep_alive, head_only);
        self.write(bytes).await && keep_alive
    }
}

/// A response head plus a shared body, as one iovec array.
struct HeadBody {
    iov: Box<[libc::iovec; 2]>,
    _head: Vec<u8>,
    _body: Bytes,
}

impl HeadBody {
    fn new(head: Vec<u8>, body: Bytes) -> HeadBody {
        let iov = Box::new([
            libc::iovec {
                iov_base: head.as_ptr() as *mut libc::c_void,
                iov_len: head.len(),
            },
            libc::iovec {
                iov_base: body.as_ptr() as *mut libc::c_void,
                iov_len: body.len(),
            },
        ]);
        HeadBody {
            iov,
            _head: head,
            _body: body,
        }
    }
}

// SAFETY: the iovecs point into `_head`'s and `_body`'s heap buffers, which live (unmoved, as
// Vec and Bytes never move their heap data) exactly as long as this value; the iovec array is
// boxed so its address is stable too.
unsafe impl IoVecBuf for HeadBody {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov.as_ptr()
    }
    fn read_iovec_len(&self) -> usize {
        2
    }
}

/// Counts an open connection for as long as it lives.
pub struct ConnGuard(pub Arc<Shared>);

impl ConnGuard {
    /// Counts one more connection.
    pub fn new(shared: Arc<Shared>) -> ConnGuard {
        shared
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ConnGuard(shared)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
