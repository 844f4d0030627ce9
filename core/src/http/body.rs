//! Request bodies: [`BodyDecoder`] reads a `Content-Length` or chunked body from the front of
//! a read buffer, appends the payload to an output buffer, and stops exactly at the body's end
//! so that a pipelined next request stays where it is.
//!
//! Chunked framing is read strictly (CRLF line ends, no bare CR/LF, bounded lines and
//! trailers): a lenient reader behind a proxy that reads differently is a smuggling hole.

use super::head::BodyKind;
use super::status::{HttpError, Status};
use bytes::{Buf, BytesMut};

/// Longest chunk-size line (size plus extensions), bytes including CRLF.
pub const MAX_CHUNK_LINE: usize = 4 * 1024;
/// Most bytes of trailer section after the last chunk, empty line excluded.
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Where decoding stands after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStatus {
    /// The body goes on: feed more bytes.
    NeedMore,
    /// The whole body, framing included, has been consumed.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Payload bytes still expected of a `Content-Length` body.
    Length(u64),
    /// Reading a chunk-size line.
    Size,
    /// Payload bytes left in the current chunk.
    Data(u64),
    /// The CRLF that ends a chunk's data.
    DataEnd,
    /// Trailer fields after the last chunk, up to the empty line.
    Trailers,
    Done,
    /// A previous call failed; the same error is returned again.
    Failed(HttpError),
}

/// Sans-io state machine for one request body.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    /// Whether the body is framed by `Content-Length` (or empty), as opposed to chunked.
    length_framed: bool,
    max_body: u64,
    /// Payload bytes announced so far (chunked): checked against `max_body` per chunk.
    announced: u64,
    /// Trailer bytes seen so far.
    trailer_bytes: usize,
    /// Bytes at the front of the input already searched for a line end without success.
    scanned: usize,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`, accepting at most `max_body` payload bytes.
    /// A `Content-Length` above `max_body` is refused here with 413, before any of it is read.
    pub fn new(kind: BodyKind, max_body: u64) -> Result<BodyDecoder, HttpError> {
        let (state, length_framed) = match kind {
            BodyKind::Empty | BodyKind::Length(0) => (State::Done, true),
            BodyKind::Length(n) if n > max_body => return Err(too_large(max_body)),
            BodyKind::Length(n) => (State::Length(n), true),
            BodyKind::Chunked => (State::Size, false),
        };
        Ok(BodyDecoder {
            state,
            length_framed,
            max_body,
            announced: 0,
            trailer_bytes: 0,
            scanned: 0,
        })
    }

    /// Consumes body bytes from the front of `input` and appends the payload (de-chunked) to
    /// `out`, one copy per contiguous run. Stops exactly at the end of the body (chunked
    /// trailers and final CRLF included); anything after it stays in `input`. An incomplete
    /// chunk-size or trailer line is left in `input` until its end arrives.
    pub fn decode(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<BodyStatus, HttpError> {
        let result = self.run(input, out);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// For `Content-Length` (and empty) bodies: payload bytes still expected, so the caller can
    /// size its reads or read straight into its output. `None` for chunked bodies.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            _ if self.length_framed => Some(0),
            _ => None,
        }
    }

    /// For `Content-Length` bodies: records that the caller appended `n` payload bytes itself
    /// (read straight from the socket). More than [`BodyDecoder::remaining`], or any use on a
    /// chunked body, is a caller bug reported as 500.
    pub fn advance(&mut self, n: usize) -> Result<BodyStatus, HttpError> {
        let n = u64::try_from(n).map_err(|_| misuse("advance beyond the body"))?;
        match self.state {
            _ if n == 0 && self.is_done() => Ok(BodyStatus::Done),
            State::Length(left) => {
                let left = left
                    .checked_sub(n)
                    .ok_or_else(|| misuse("advance beyond the body"))?;
                self.state = if left == 0 {
                    State::Done
                } else {
                    State::Length(left)
                };
                Ok(self.status())
            }
            State::Failed(ref e) => Err(e.clone()),
            _ if self.length_framed => Err(misuse("advance beyond the body")),
            _ => Err(misuse("advance on a chunked body")),
        }
    }

    /// Whether the whole body has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn status(&self) -> BodyStatus {
        if self.is_done() {
            BodyStatus::Done
        } else {
            BodyStatus::NeedMore
        }
    }

    fn run(&mut self, input: &mut BytesMut, out: &mut BytesMut) -> Result<BodyStatus, HttpError> {
        loop {
            match self.state {
                State::Done => return Ok(BodyStatus::Done),
                State::Failed(ref e) => return Err(e.clone()),
                State::Length(left) | State::Data(left) => {
                    let n = take(left, input.len());
                    if n == 0 {
                        return Ok(BodyStatus::NeedMore);
                    }
                    out.extend_from_slice(&input[..n]);
                    input.advance(n);
                    // `n <= left` by construction of `take`.
                    let left = left.saturating_sub(n as u64);
                    self.state = match (&self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::DataEnd,
                        (_, l) => State::Data(l),
                    };
                }
                State::DataEnd => match (input.first(), input.get(1)) {
                    (None, _) | (Some(b'\r'), None) => return Ok(BodyStatus::NeedMore),
                    (Some(b'\r'), Some(b'\n')) => {
                        input.advance(2);
                        self.state = State::Size;
                    }
                    _ => return Err(malformed("missing CRLF after chunk data")),
                },
                State::Size => {
                    let Some(line_len) = self.line(input, MAX_CHUNK_LINE, line_too_long)? else {
                        return Ok(BodyStatus::NeedMore);
                    };
                    let size = parse_chunk_size(&input[..line_len - 2])?;
                    input.advance(line_len);
                    self.announced = self
                        .announced
                        .checked_add(size)
                        .filter(|&a| a <= self.max_body)
                        .ok_or_else(|| too_large(self.max_body))?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Trailers => {
                    let bound = MAX_TRAILER_BYTES.saturating_sub(self.trailer_bytes) + 2;
                    let Some(line_len) = self.line(input, bound, trailers_too_large)? else {
                        return Ok(BodyStatus::NeedMore);
                    };
                    if line_len == 2 {
                        input.advance(2);
                        self.state = State::Done;
                        continue;
                    }
                    let field = &input[..line_len - 2];
                    let folded = matches!(field.first(), Some(b' ' | b'\t'));
                    if folded || !field.contains(&b':') {
                        return Err(malformed("malformed trailer field"));
                    }
                    self.trailer_bytes = self
                        .trailer_bytes
                        .checked_add(line_len - 2)
                        .filter(|&t| t <= MAX_TRAILER_BYTES)
                        .ok_or_else(trailers_too_large)?;
                    input.advance(line_len);
                }
            }
        }
    }

    /// Length of the CRLF-terminated line at the front of `input` (CRLF included), `None` if its
    /// end has not arrived. A line (CRLF included) longer than `bound` is `too_long()`; a bare
    /// LF, or a CR anywhere else than before the LF, is a 400.
    fn line(
        &mut self,
        input: &BytesMut,
        bound: usize,
        too_long: fn() -> HttpError,
    ) -> Result<Option<usize>, HttpError> {
        let from = self.scanned.min(input.len());
        let Some(lf) = input[from..].iter().position(|&b| b == b'\n') else {
            self.scanned = input.len();
            if input.len() >= bound {
                return Err(too_long());
            }
            return Ok(None);
        };
        self.scanned = 0;
        let len = from + lf + 1;
        if len > bound {
            return Err(too_long());
        }
        let body = &input[..len - 1];
        if body.last() != Some(&b'\r') {
            return Err(malformed("chunked body line not ended by CRLF"));
        }
        if body[..len - 2].contains(&b'\r') {
            return Err(malformed("stray CR in chunked body line"));
        }
        Ok(Some(len))
    }
}

/// How many of `available` bytes belong to a run of `left` bytes.
fn take(left: u64, available: usize) -> usize {
    usize::try_from(left).map_or(available, |l| l.min(available))
}

/// `1*HEXDIG [ BWS ";" chunk-ext ]`: extensions are skipped but must be printable.
fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(malformed("missing chunk size"));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or_else(|| malformed("chunk size overflows"))?;
    }
    let rest = &line[digits..];
    // Whitespace is allowed only before a `;` (BWS in RFC 9112 §7.1.1's chunk-ext).
    let ext = &rest[rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()..];
    if !(rest.is_empty() || ext.first() == Some(&b';')) {
        return Err(malformed("invalid chunk size"));
    }
    if ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(malformed("control byte in chunk extension"));
    }
    Ok(size)
}

fn malformed(what: &'static str) -> HttpError {
    HttpError::new(
        Status::BAD_REQUEST,
        format!("malformed chunked body: {what}"),
    )
}

fn line_too_long() -> HttpError {
    malformed("chunk-size line too long")
}

fn too_large(max_body: u64) -> HttpError {
    HttpError::new(
        Status::PAYLOAD_TOO_LARGE,
        format!("body larger than {max_body} bytes"),
    )
}

fn trailers_too_large() -> HttpError {
    HttpError::new(
        Status::HEADERS_TOO_LARGE,
        format!("chunked trailers larger than {MAX_TRAILER_BYTES} bytes"),
    )
}

fn misuse(what: &'static str) -> HttpError {
    HttpError::new(Status::INTERNAL_SERVER_ERROR, what)
}
