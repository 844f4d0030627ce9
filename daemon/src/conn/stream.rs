//! What a [`super::Conn`] reads from and writes to: a plain TCP socket (completion I/O, the
//! zero-copy paths), a TLS session ([`super::tls_io::TlsIo`]: rustls over the same completion
//! I/O), or one HTTP/2 stream (what is written goes through [`super::h2::H2Sink`]).

use bytes::{Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::CancelableAsyncReadRent;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelHandle};
use monoio::net::TcpStream;
use std::io;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::h2::H2Sink;
use super::tls_io::TlsIo;
use crate::send_buf::{recycle_head, HeadBody};

/// The transport under a connection.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS.
    Tls(Box<TlsIo>),
    /// One HTTP/2 stream.
    H2(Box<H2Sink>),
}

/// How an idle read may be ended early.
pub enum Idle<'a> {
    /// Not at all.
    No,
    /// By the shard's canceller.
    Cancel(&'a CancelHandle),
}

impl Stream {
    /// The plain socket, if this is one.
    pub fn plain(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            _ => None,
        }
    }

    /// Reads into `buf`'s spare capacity from `start` up to `end`; `Ok(0)` at end of stream.
    /// `ECANCELED` when the read was ended by `idle`.
    pub async fn read_into(
        &mut self,
        mut buf: BytesMut,
        start: usize,
        end: usize,
        idle: Idle<'_>,
    ) -> (io::Result<usize>, BytesMut) {
        match self {
            Stream::Plain(s) => {
                let spare = buf.slice_mut(start..end);
                let (res, spare) = match idle {
                    Idle::Cancel(c) => s.cancelable_read(spare, c.clone()).await,
                    Idle::No => s.read(spare).await,
                };
                (res, spare.into_inner())
            }
            Stream::Tls(s) => {
                let cancel = match idle {
                    Idle::Cancel(c) => Some(c),
                    Idle::No => None,
                };
                // Boxed: the TLS read's state stays out of every plain connection's task.
                let res = Box::pin(s.read_into(&mut buf, end.saturating_sub(start), cancel)).await;
                (res, buf)
            }
            Stream::H2(_) => (Ok(0), buf),
        }
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Stream::Plain(s) => {
                let (res, buf) = s.write_all(bytes).await;
                (res.map(|_| ()), buf)
            }
            Stream::Tls(s) => {
                let res = Box::pin(s.write_parts(&bytes, &[])).await;
                (res, bytes)
            }
            Stream::H2(sink) => {
                let res = sink.write(Bytes::from(bytes)).await;
                (res, Vec::new())
            }
        }
    }

    /// Writes a head and a shared body: one `writev` on a plain socket (the head buffer and
    /// iovecs back to the shard's pool after), encrypted together on TLS, handed over as they
    /// are on HTTP/2 (the head's `Vec` becomes the `Bytes` the stream slices, the body is not
    /// copied).
    pub async fn write_head_body(&mut self, head: Vec<u8>, body: Bytes) -> io::Result<()> {
        match self {
            Stream::Plain(s) => {
                let (res, sent) = crate::send_buf::write_all(s, HeadBody::new(head, body)).await;
                sent.recycle();
                res
            }
            Stream::Tls(s) => {
                let res = Box::pin(s.write_parts(&head, &body)).await;
                recycle_head(head);
                res
            }
            Stream::H2(sink) => {
                sink.write(Bytes::from(head)).await?;
                sink.write(body).await
            }
        }
    }

    /// Stops writing (TCP FIN; on TLS a close_notify first).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
            Stream::H2(_) => Ok(()),
        }
    }
}

/// A stream whose first bytes were already read (an HTTP/2 preface sniffed on a plain
/// connection): those bytes are read again first.
pub struct Prefixed<T> {
    prefix: Bytes,
    inner: T,
}

impl<T> Prefixed<T> {
    /// `prefix` comes first, then `inner`.
    pub fn new(prefix: Bytes, inner: T) -> Prefixed<T> {
        Prefixed { prefix, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let head = self.prefix.split_to(n);
            buf.put_slice(&head);
            return std::task::Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
