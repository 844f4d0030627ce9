//! TLS sessions driven directly on rustls (sans-io) with the shard's own socket I/O.
//!
//! [`TlsIo`] is what HTTP/1.1 over TLS reads and writes through: ciphertext comes in by the
//! same completion reads as plain connections (io_uring `recv` parked in the kernel: no
//! `EAGAIN` round, idle reads cancelled by the shard's canceller at shutdown), and a response
//! goes out as one run of records in one write (head and body encrypted together).
//!
//! [`PollTls`] is the same session over a poll-style socket, with tokio's `AsyncRead` and
//! `AsyncWrite`, for the `h2` crate once ALPN chose HTTP/2.

use bytes::{Buf, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent,
};
use monoio::net::tcp::stream_poll::TcpStreamPoll;
use monoio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Ciphertext asked of the kernel per read: one full record and its overhead.
const RECORD_READ: usize = 16 * 1024 + 512;
/// Plaintext handed to the session before its records are written out.
const WRITE_CHUNK: usize = 256 * 1024;
/// Largest record buffer a connection keeps between writes (a playlist's fits).
const TX_KEEP: usize = 32 * 1024;

/// A server TLS session over a completion-I/O socket.
pub struct TlsIo {
    tcp: TcpStream,
    session: ServerConnection,
    /// Ciphertext read and not yet taken by the session.
    rx: BytesMut,
    /// Records on their way out (kept for reuse).
    tx: Vec<u8>,
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsIo {
    /// Runs the server side of a handshake on `tcp`.
    pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsIo> {
        let session = ServerConnection::new(config).map_err(invalid)?;
        let mut t = TlsIo {
            tcp,
            session,
            rx: BytesMut::new(),
            tx: Vec::new(),
        };
        while t.session.is_handshaking() {
            if t.session.wants_write() {
                t.flush().await?;
                continue;
            }
            if t.fill(None).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if let Err(e) = t.feed() {
                // The alert rustls queued says why, when the socket still takes it.
                let _ = t.flush().await;
                return Err(e);
            }
        }
        t.flush().await?;
        // What is written goes out in runs of WRITE_CHUNK (write_parts): let the session take
        // a whole run (its default stops at 64 KiB).
        t.session.set_buffer_limit(None);
        Ok(t)
    }

    /// The protocol ALPN chose, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.session.alpn_protocol()
    }

    /// Reads ciphertext from the socket into `rx`; `Ok(0)` at end of stream.
    async fn fill(&mut self, cancel: Option<&CancelHandle>) -> io::Result<usize> {
        let mut buf = std::mem::take(&mut self.rx);
        buf.reserve(RECORD_READ);
        let len = buf.len();
        let end = buf.capacity();
        let spare = buf.slice_mut(len..end);
        let (res, spare) = match cancel {
            Some(c) => self.tcp.cancelable_read(spare, c.clone()).await,
            None => self.tcp.read(spare).await,
        };
        self.rx = spare.into_inner();
        res
    }

    /// Hands buffered ciphertext to the session, stopping once it has plaintext to give.
    fn feed(&mut self) -> io::Result<()> {
        while !self.rx.is_empty() {
            let mut r: &[u8] = &self.rx;
            let n = self.session.read_tls(&mut r)?;
            self.rx.advance(n);
            let state = self.session.process_new_packets().map_err(invalid)?;
            if n == 0 || state.plaintext_bytes_to_read() > 0 {
                break;
            }
        }
        Ok(())
    }

    /// Writes out every record the session has.
    pub async fn flush(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            let mut out = std::mem::take(&mut self.tx);
            out.clear();
            while self.session.wants_write() {
                self.session.write_tls(&mut out)?;
            }
            let (res, out) = self.tcp.write_all(out).await;
            // A segment's run of records is not kept for an idle connection to hold.
            if out.capacity() <= TX_KEEP {
                self.tx = out;
            }
            res?;
        }
        Ok(())
    }

    /// Reads at most `max` bytes of plaintext onto the end of `dst`; `Ok(0)` at end of stream.
    /// An idle read ends with `ECANCELED` when `cancel` fires.
    pub async fn read_into(
        &mut self,
        dst: &mut BytesMut,
        max: usize,
        cancel: Option<&CancelHandle>,
    ) -> io::Result<usize> {
        // A record carries 16 KiB at most: more room would only be zeroed for nothing.
        let max = max.min(4 * 16 * 1024);
        loop {
            let len = dst.len();
            dst.resize(len + max, 0);
            let got = self.session.reader().read(&mut dst[len..]);
            dst.truncate(len + *got.as_ref().unwrap_or(&0));
            match got {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.rx.is_empty() {
                // Whatever the session wants said first (a key update, tickets).
                self.flush().await?;
                if self.fill(cancel).await? == 0 {
                    return Ok(0);
                }
            }
            let fed = self.feed();
            if fed.is_err() {
                let _ = self.flush().await;
            }
            fed?;
        }
    }

    /// Writes `head` then `body`: encrypted together (one record when they fit) and sent in
    /// one write per [`WRITE_CHUNK`] of plaintext.
    pub async fn write_parts(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let total = head.len() + body.len();
        let mut off = 0;
        while off < total {
            let (h, b) = if off < head.len() {
                (&head[off..], body)
            } else {
                (&[][..], &body[off - head.len()..])
            };
            let b = &b[..b.len().min(WRITE_CHUNK.saturating_sub(h.len()))];
            let n = self
                .session
                .writer()
                .write_vectored(&[io::IoSlice::new(h), io::IoSlice::new(b)])?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            off += n;
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends close_notify, then FIN.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.session.send_close_notify();
        self.flush().await?;
        self.tcp.shutdown().await
    }

    /// The same session over a poll-style socket, for HTTP/2.
    pub fn into_poll(mut self) -> io::Result<PollTls> {
        // Records queued per write: h2 writes frames of 16 KiB, several at once.
        self.session.set_buffer_limit(Some(WRITE_CHUNK));
        let tcp = self.tcp.try_into_poll_io().map_err(|(e, _)| e)?;
        Ok(PollTls {
            tcp,
            session: self.session,
            rx: self.rx,
            unsent: 0,
            deferred: false,
        })
    }
}

/// A server TLS session with tokio's poll-style traits (for `h2`).
pub struct PollTls {
    tcp: TcpStreamPoll,
    session: ServerConnection,
    /// Ciphertext read before the switch, handed to the session first.
    rx: BytesMut,
    /// Plaintext given to the session since its records last went to the socket.
    unsent: usize,
    /// A flush was deferred: the records go out on the task's next poll.
    deferred: bool,
}

/// Below this much unsent plaintext a flush is deferred to the connection task's next poll
/// (it is woken at once): `h2` flushes before every DATA frame over 256 bytes, and the
/// answers other streams are about to queue then leave in the same write.
const FLUSH_AT: usize = 64 * 1024;

/// The socket as blocking `Read`/`Write` for rustls: `Pending` shows as `WouldBlock`.
struct SyncIo<'a, 'b> {
    io: &'a mut TcpStreamPoll,
    cx: &'a mut Context<'b>,
}

impl Read for SyncIo<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut rb) {
            Poll::Ready(Ok(())) => Ok(rb.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for SyncIo<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PollTls {
    /// Writes out the session's records; `Pending` until the socket took them all.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.session.wants_write() {
            let mut io = SyncIo {
                io: &mut self.tcp,
                cx,
            };
            match self.session.write_tls(&mut io) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.unsent = 0;
        self.deferred = false;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for PollTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.deferred {
            if let Poll::Ready(Err(e)) = this.poll_flush_tls(cx) {
                return Poll::Ready(Err(e));
            }
        }
        loop {
            match this.session.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let n = if this.rx.is_empty() {
                let mut io = SyncIo {
                    io: &mut this.tcp,
                    cx,
                };
                match this.session.read_tls(&mut io) {
                    Ok(0) => return Poll::Ready(Ok(())),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            } else {
                let mut r: &[u8] = &this.rx;
                let n = this.session.read_tls(&mut r)?;
                this.rx.advance(n);
                n
            };
            if let Err(e) = this.session.process_new_packets() {
                // Say why (the alert), if the socket takes it now.
                let _ = this.poll_flush_tls(cx);
                return Poll::Ready(Err(invalid(e)));
            }
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl AsyncWrite for PollTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            // Records pile up in the session (up to its buffer limit) and go out on flush, or
            // when the buffer is full: not one write per frame h2 hands over.
            let n = this.session.writer().write_vectored(bufs)?;
            if n > 0 || bufs.iter().all(|b| b.is_empty()) {
                this.unsent += n;
                return Poll::Ready(Ok(n));
            }
            match this.poll_flush_tls(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|()| 0)),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.session.writer().flush()?;
        if !this.deferred && this.session.wants_write() && this.unsent < FLUSH_AT {
            // Out on the task's next poll (in poll_read, or in the next flush: a flush is
            // deferred once), once the tasks already woken have queued their answers.
            this.deferred = true;
            cx.waker().wake_by_ref();
            return Poll::Ready(Ok(()));
        }
        match this.poll_flush_tls(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.session.send_close_notify();
        match this.poll_flush_tls(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_shutdown(cx),
            other => other,
        }
    }
}
