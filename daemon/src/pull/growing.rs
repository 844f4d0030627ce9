//! Low latency: answering with a segment that is still arriving ([`GrowingObject`]). The
//! answer starts as soon as the segment's first chunk is here (an announced segment whose
//! upload has not begun yet is waited for, parked: no timer polls, the segment itself wakes
//! it) and streams each chunk with chunked transfer as it arrives. It ends with the last chunk
//! only when the upload completed; an upload that broke off ends the connection without the
//! final chunk, so no client or cache takes what it got for a whole segment.
//!
//! The answer has no `ETag`, `Last-Modified` or `Content-Length` (none is known until it is
//! whole) and takes no `Range`; once whole, the segment is an ordinary object with all of
//! them.

use std::sync::Arc;
use std::time::Duration;
use streampack_core::http::{write_head, HttpError, Status};
use streampack_core::media::growing::{GrowingObject, Progress};

use super::send_error;
use crate::conn::{Conn, Outcome};

/// What the answer needs besides the object.
pub struct Streamed<'a> {
    pub content_type: &'static str,
    pub cache_control: &'a [u8],
    /// How long to wait for the first byte, and then between two chunks.
    pub idle: Duration,
    pub keep_alive: bool,
    pub head_only: bool,
}

/// Answers with `object`, streamed as it arrives. See the module docs.
pub async fn serve(conn: &mut Conn, object: Arc<GrowingObject>, how: Streamed<'_>) -> Outcome {
    // Parked until its first byte (or its end) is here. Each wait is bounded by this
    // object's own progress, not by the channel's other news.
    let mut until = monoio::time::Instant::now() + how.idle;
    loop {
        let wake = object.listen();
        match object.progress() {
            Progress::Broken if object.is_empty() => {
                let e = HttpError::new(
                    Status::NOT_FOUND,
                    "this segment will not come (its upload broke off or the stream moved on)",
                );
                return send_error(conn, &e, how.keep_alive, how.head_only).await;
            }
            Progress::Arriving if object.is_empty() => {}
            _ => break,
        }
        if !wait_until(until, wake).await {
            let e = HttpError::new(Status::NOT_FOUND, "this segment has not begun arriving");
            return send_error(conn, &e, how.keep_alive, how.head_only).await;
        }
    }
    // nginx in front passes it on as it comes instead of holding it until it is whole
    // (docs/low-latency.md): the one header that makes a buffering proxy stream.
    let streaming: &[(&str, &[u8])] = if how.head_only {
        &[("X-Accel-Buffering", b"no")]
    } else {
        &[
            ("X-Accel-Buffering", b"no"),
            ("Transfer-Encoding", b"chunked"),
        ]
    };
    let head = head_of(&how, streaming, None);
    if how.head_only {
        return conn.answer(Status::OK, head, how.keep_alive).await;
    }
    let mut sent = 0usize;
    let mut pending_head = Some(head);
    loop {
        let wake = object.listen();
        let read = object.read_from(sent);
        if !read.chunks.is_empty() {
            until = monoio::time::Instant::now() + how.idle;
        }
        for chunk in read.chunks {
            let mut prefix = pending_head.take().unwrap_or_default();
            if sent > 0 {
                prefix.extend_from_slice(b"\r\n");
            }
            prefix.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            sent = sent.saturating_add(chunk.len());
            if !conn.write_with_body(prefix, chunk).await {
                return Outcome::new(Status::OK, false);
            }
        }
        match read.progress {
            Progress::Complete => {
                let mut end = pending_head.take().unwrap_or_default();
                if sent > 0 {
                    end.extend_from_slice(b"\r\n");
                }
                end.extend_from_slice(b"0\r\n\r\n");
                let written = conn.write(end).await;
                return Outcome::new(Status::OK, written && how.keep_alive);
            }
            // Never ended as if it were whole.
            Progress::Broken => return Outcome::new(Status::OK, false),
            Progress::Arriving => {}
        }
        if !wait_until(until, wake).await {
            return Outcome::new(Status::OK, false);
        }
    }
}

/// The `200` head of a growing segment or one of its parts: `extra` after the headers every
/// such answer carries.
fn head_of(how: &Streamed<'_>, extra: &[(&str, &[u8])], len: Option<u64>) -> Vec<u8> {
    let mut head = crate::send_buf::head_buf();
    super::with_http_dates(0, |date, _| {
        let common: [(&str, &[u8]); 4] = [
            ("Date", date.as_bytes()),
            ("Content-Type", how.content_type.as_bytes()),
            ("Cache-Control", how.cache_control),
            ("Access-Control-Allow-Origin", b"*"),
        ];
        let headers: Vec<(&str, &[u8])> = common.iter().chain(extra).copied().collect();
        write_head(&mut head, Status::OK, &headers, len, how.keep_alive);
    });
    head
}

/// Waits for `wake` until `until`; whether it came first.
async fn wait_until(until: monoio::time::Instant, wake: event_listener::EventListener) -> bool {
    let left = until.saturating_duration_since(monoio::time::Instant::now());
    !left.is_zero() && monoio::time::timeout(left, wake).await.is_ok()
}

/// LL-HLS: answers with Partial Segment `index` of `object` once that chunk is whole (the part
/// an `EXT-X-PRELOAD-HINT` names is asked for before it exists: parked until it does). `404`
/// when the segment ended without it, or it did not come within `how.idle`.
pub async fn serve_part(
    conn: &mut Conn,
    object: Arc<GrowingObject>,
    index: usize,
    how: Streamed<'_>,
) -> Outcome {
    let until = monoio::time::Instant::now() + how.idle;
    let bytes = loop {
        let wake = object.listen();
        if let Some((bytes, _)) = object.part(index) {
            break bytes;
        }
        if object.progress() != Progress::Arriving {
            let e = HttpError::new(Status::NOT_FOUND, "this segment has no such part");
            return send_error(conn, &e, how.keep_alive, how.head_only).await;
        }
        if !wait_until(until, wake).await {
            let e = HttpError::new(Status::NOT_FOUND, "this part has not arrived");
            return send_error(conn, &e, how.keep_alive, how.head_only).await;
        }
    };
    let head = head_of(&how, &[], Some(bytes.len() as u64));
    if how.head_only {
        return conn.answer(Status::OK, head, how.keep_alive).await;
    }
    conn.answer_with_body(Status::OK, head, bytes, how.keep_alive)
        .await
}
