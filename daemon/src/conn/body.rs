//! Reading request bodies into one buffer: whole, or a step at a time.

use bytes::{Bytes, BytesMut};
use std::time::Duration;
use streampack_core::http::{BodyDecoder, BodyKind, BodyStatus, HttpError, Status};

use super::{Conn, ReadError, BODY_READ, MAX_PREALLOC};
use crate::context::Shared;

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
        let read = self
            .stream
            .read_into(buf, start, end, super::stream::Idle::No);
        match monoio::time::timeout(limit, read).await {
            Err(_) => Err(ReadError::Timeout),
            Ok((res, buf)) => {
                *out = buf;
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
        while !self.read_body_step(&mut dec, &mut out, deadline).await? {}
        Ok(out.freeze())
    }

    /// Reads more of a body onto the end of `out`, by `deadline`: `true` once it is whole.
    /// Whoever wants to look at a body as it arrives (a chunked segment upload) calls it in a
    /// loop.
    pub async fn read_body_step(
        &mut self,
        dec: &mut BodyDecoder,
        out: &mut BytesMut,
        deadline: monoio::time::Instant,
    ) -> Result<bool, HttpError> {
        if dec.decode(&mut self.rbuf, out)? == BodyStatus::Done {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(monoio::time::Instant::now());
        let want = dec.remaining().map_or(BODY_READ, |r| {
            usize::try_from(r).unwrap_or(BODY_READ).clamp(1, BODY_READ)
        });
        // Content-Length with `rbuf` drained: read straight into the body, one copy less.
        let direct = dec.remaining().is_some() && self.rbuf.is_empty();
        let read = if direct {
            self.read_into(out, want, left).await
        } else {
            self.read_more(want, left).await
        };
        match read {
            Ok(n) if direct => {
                dec.advance(n)?;
                Ok(false)
            }
            Ok(_) => Ok(false),
            Err(ReadError::Timeout) => Err(HttpError::new(
                Status::REQUEST_TIMEOUT,
                "request body not received in time",
            )),
            Err(_) => Err(HttpError::new(
                Status::BAD_REQUEST,
                "connection closed before the body was complete",
            )),
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
