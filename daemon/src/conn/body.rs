//! Reading request bodies: whole into one buffer, or a segment into pages of its own.

use bytes::{Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use std::time::Duration;
use streampack_core::http::{BodyDecoder, BodyKind, BodyStatus, HttpError, Status};
use streampack_core::media::Body;

use super::{Conn, ReadError, BODY_READ, MAX_PREALLOC};
use crate::context::Shared;
use crate::pages::{self, Pages};

impl Conn {
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

    /// Reads a segment's body: one of at least [`pages::MIN_BYTES`] into its own mapping
    /// (straight from the socket when its length is known, else copied there once complete),
    /// so pulls can send it without copying; a smaller one, or when no mapping can be had, on
    /// the heap.
    pub async fn read_segment(
        &mut self,
        dec: BodyDecoder,
        limit: Duration,
        size_hint: usize,
    ) -> Result<Body, HttpError> {
        // A declared length is trusted with pages of its own only up to what a heap body
        // would be given up front; a longer one is mapped once it has fully arrived.
        let known = dec
            .remaining()
            .filter(|_| (pages::MIN_BYTES..=MAX_PREALLOC).contains(&size_hint));
        if let Some(len) = known.and_then(|n| usize::try_from(n).ok()) {
            if let Ok(p) = Pages::new(len) {
                return self.read_into_pages(dec, limit, p).await.map(Pages::freeze);
            }
        }
        let bytes = self.read_body(dec, limit, size_hint).await?;
        if bytes.len() >= pages::MIN_BYTES {
            if let Ok(p) = Pages::copy_of(&bytes) {
                return Ok(p.freeze());
            }
        }
        Ok(Body::from(bytes))
    }

    /// Reads a `Content-Length` body of exactly `pages`' length into `pages`.
    async fn read_into_pages(
        &mut self,
        mut dec: BodyDecoder,
        limit: Duration,
        mut pages: Pages,
    ) -> Result<Pages, HttpError> {
        let deadline = monoio::time::Instant::now() + limit;
        loop {
            // What the head's read already brought.
            let left = dec.remaining().unwrap_or(0);
            let buffered = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.rbuf.len());
            if buffered > 0 {
                let n = pages.append(&self.rbuf[..buffered]);
                bytes::Buf::advance(&mut self.rbuf, n);
                dec.advance(n)?;
            }
            if dec.advance(0)? == BodyStatus::Done {
                return Ok(pages);
            }
            let left = deadline.saturating_duration_since(monoio::time::Instant::now());
            let filled = pages.filled();
            let read = self.stream.read(pages.slice_mut(filled..));
            let (res, slice) = match monoio::time::timeout(left, read).await {
                Ok(done) => done,
                Err(_) => {
                    return Err(HttpError::new(
                        Status::REQUEST_TIMEOUT,
                        "request body not received in time",
                    ))
                }
            };
            pages = slice.into_inner();
            match res {
                Ok(n) if n > 0 => {
                    dec.advance(n)?;
                }
                _ => {
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
}
