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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NEXT: &[u8] = b"GET /next HTTP/1.1\r\n\r\n";

    /// Decodes `input` in one call: (result, payload, what stayed in the input).
    fn decode_once(
        kind: BodyKind,
        max: u64,
        input: &[u8],
    ) -> (Result<BodyStatus, HttpError>, Vec<u8>, Vec<u8>) {
        let mut dec = BodyDecoder::new(kind, max).unwrap();
        let mut input = BytesMut::from(input);
        let mut out = BytesMut::new();
        let r = dec.decode(&mut input, &mut out);
        (r, out.to_vec(), input.to_vec())
    }

    #[test]
    fn good_bodies() {
        type Case<'a> = (&'a str, BodyKind, &'a [u8], &'a [u8]);
        let table: &[Case] = &[
            ("empty", BodyKind::Empty, b"", b""),
            ("length 0", BodyKind::Length(0), b"", b""),
            ("length", BodyKind::Length(5), b"hello", b"hello"),
            ("ffmpeg delete", BodyKind::Chunked, b"0\r\n\r\n", b""),
            (
                "several chunks",
                BodyKind::Chunked,
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                b"hello world",
            ),
            (
                "hex digits both cases, leading zeros",
                BodyKind::Chunked,
                b"a\r\n0123456789\r\n00B\r\nabcdefghijk\r\n000\r\n\r\n",
                b"0123456789abcdefghijk",
            ),
            (
                "extensions ignored",
                BodyKind::Chunked,
                b"5;name=value\r\nhello\r\n1 ; a ; b=\"q;x\"\r\n!\r\n0;last\r\n\r\n",
                b"hello!",
            ),
            (
                "trailers discarded",
                BodyKind::Chunked,
                b"3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other:z\r\n\r\n",
                b"abc",
            ),
        ];
        for (name, kind, input, payload) in table {
            let mut with_next = input.to_vec();
            with_next.extend_from_slice(NEXT);
            let (r, out, rest) = decode_once(*kind, 1 << 20, &with_next);
            assert_eq!(r, Ok(BodyStatus::Done), "{name}");
            assert_eq!(out, *payload, "{name}");
            assert_eq!(rest, NEXT, "{name}: the pipelined request is untouched");
        }
    }

    #[test]
    fn bad_chunked_bodies() {
        let too_long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(MAX_CHUNK_LINE));
        let unterminated_ext = format!("5;{}", "x".repeat(MAX_CHUNK_LINE));
        let big_trailers = format!("0\r\nX: {}\r\n\r\n", "t".repeat(MAX_TRAILER_BYTES));
        let many_trailers = format!("0\r\n{}\r\n", "X-T: 0123456789\r\n".repeat(600));
        let table: &[(&str, &[u8], Status, &str)] = &[
            (
                "overflowing size",
                b"ffffffffffffffffff\r\n",
                Status::BAD_REQUEST,
                "overflows",
            ),
            (
                "17 digits",
                b"10000000000000000\r\n",
                Status::BAD_REQUEST,
                "overflows",
            ),
            (
                "u64::MAX over max_body",
                b"ffffffffffffffff\r\n",
                Status::PAYLOAD_TOO_LARGE,
                "larger than",
            ),
            (
                "chunk over max_body",
                b"401\r\n",
                Status::PAYLOAD_TOO_LARGE,
                "larger than 1024",
            ),
            (
                "chunks sum over max_body",
                b"400\r\n",
                Status::PAYLOAD_TOO_LARGE,
                "",
            ),
            (
                "negative size",
                b"-5\r\nhello\r\n",
                Status::BAD_REQUEST,
                "missing chunk size",
            ),
            (
                "0x prefix",
                b"0x5\r\nhello\r\n",
                Status::BAD_REQUEST,
                "invalid chunk size",
            ),
            (
                "empty size",
                b"\r\nhello\r\n",
                Status::BAD_REQUEST,
                "missing chunk size",
            ),
            (
                "leading space",
                b" 5\r\nhello\r\n",
                Status::BAD_REQUEST,
                "missing chunk size",
            ),
            (
                "trailing space",
                b"5 \r\nhello\r\n",
                Status::BAD_REQUEST,
                "invalid chunk size",
            ),
            (
                "non-hex",
                b"5g\r\nhello\r\n",
                Status::BAD_REQUEST,
                "invalid chunk size",
            ),
            (
                "bare LF size line",
                b"5\nhello\r\n0\r\n\r\n",
                Status::BAD_REQUEST,
                "CRLF",
            ),
            (
                "stray CR in size line",
                b"5\r;x\r\nhello\r\n",
                Status::BAD_REQUEST,
                "stray CR",
            ),
            (
                "control byte in extension",
                b"5;a\x01\r\nhello\r\n",
                Status::BAD_REQUEST,
                "control byte",
            ),
            (
                "data longer than size",
                b"5\r\nhelloX\r\n0\r\n\r\n",
                Status::BAD_REQUEST,
                "missing CRLF after chunk data",
            ),
            (
                "LF only after data",
                b"5\r\nhello\n0\r\n\r\n",
                Status::BAD_REQUEST,
                "missing CRLF after chunk data",
            ),
            (
                "CR then junk after data",
                b"5\r\nhello\rX",
                Status::BAD_REQUEST,
                "missing CRLF after chunk data",
            ),
            (
                "size line too long",
                too_long_ext.as_bytes(),
                Status::BAD_REQUEST,
                "too long",
            ),
            (
                "unterminated size line",
                unterminated_ext.as_bytes(),
                Status::BAD_REQUEST,
                "too long",
            ),
            (
                "trailer without colon",
                b"0\r\nnot a field\r\n\r\n",
                Status::BAD_REQUEST,
                "trailer",
            ),
            (
                "folded trailer",
                b"0\r\nA: b\r\n c\r\n\r\n",
                Status::BAD_REQUEST,
                "trailer",
            ),
            ("bare LF ending", b"0\r\n\n", Status::BAD_REQUEST, "CRLF"),
            (
                "trailer line too large",
                big_trailers.as_bytes(),
                Status::HEADERS_TOO_LARGE,
                "trailers",
            ),
            (
                "trailers too large in total",
                many_trailers.as_bytes(),
                Status::HEADERS_TOO_LARGE,
                "trailers",
            ),
        ];
        for (name, input, status, reason) in table {
            // "chunks sum" needs two chunks: the second pushes the total past 1024.
            let input: Vec<u8> = if *name == "chunks sum over max_body" {
                [&b"1\r\nx\r\n"[..], input].concat()
            } else {
                input.to_vec()
            };
            let (r, _, _) = decode_once(BodyKind::Chunked, 1024, &input);
            let err = r.expect_err(name);
            assert_eq!(err.status, *status, "{name}: {err}");
            assert!(err.reason.contains(reason), "{name}: {err}");
        }
    }

    #[test]
    fn ffmpeg_segment_put() {
        // ffmpeg's avio flushes its buffer as `%x\r\n<data>\r\n` (lowercase hex), then ends the
        // PUT with `0\r\n\r\n`; the next PUT (the playlist) follows on the same connection.
        let ts: Vec<u8> = (0..3 * 188)
            .map(|i| if i % 188 == 0 { 0x47 } else { (i % 251) as u8 })
            .collect();
        let mut wire = Vec::new();
        for part in ts.chunks(0x100) {
            wire.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            wire.extend_from_slice(part);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\nPUT /v1/a/b/main.m3u8 HTTP/1.1\r\n");
        let (r, out, rest) = decode_once(BodyKind::Chunked, 1 << 20, &wire);
        assert_eq!(r, Ok(BodyStatus::Done));
        assert_eq!(out, ts);
        assert_eq!(rest, b"PUT /v1/a/b/main.m3u8 HTTP/1.1\r\n");
    }

    #[test]
    fn errors_stick() {
        let mut dec = BodyDecoder::new(BodyKind::Chunked, 100).unwrap();
        let mut out = BytesMut::new();
        let first = dec
            .decode(&mut BytesMut::from(&b"zz\r\n"[..]), &mut out)
            .unwrap_err();
        let again = dec
            .decode(&mut BytesMut::from(&b"0\r\n\r\n"[..]), &mut out)
            .unwrap_err();
        assert_eq!(first, again);
        assert!(!dec.is_done());
    }

    #[test]
    fn length_over_max_is_refused_before_reading() {
        let err = BodyDecoder::new(BodyKind::Length(1025), 1024).unwrap_err();
        assert_eq!(err.status, Status::PAYLOAD_TOO_LARGE);
        assert!(BodyDecoder::new(BodyKind::Length(1024), 1024).is_ok());
        assert!(BodyDecoder::new(BodyKind::Length(u64::MAX), u64::MAX).is_ok());
    }

    #[test]
    fn chunked_exactly_at_max_is_accepted() {
        let (r, out, _) = decode_once(BodyKind::Chunked, 4, b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n");
        assert_eq!(r, Ok(BodyStatus::Done));
        assert_eq!(out, b"abcd");
        let (r, _, _) = decode_once(BodyKind::Chunked, 3, b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n");
        assert_eq!(r.unwrap_err().status, Status::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn remaining_and_advance() {
        let mut dec = BodyDecoder::new(BodyKind::Length(10), 100).unwrap();
        assert_eq!(dec.remaining(), Some(10));
        assert_eq!(dec.advance(4), Ok(BodyStatus::NeedMore));
        assert_eq!(dec.remaining(), Some(6));
        let mut input = BytesMut::from(&b"abc"[..]);
        let mut out = BytesMut::new();
        assert_eq!(dec.decode(&mut input, &mut out), Ok(BodyStatus::NeedMore));
        assert_eq!(dec.remaining(), Some(3));
        assert_eq!(
            dec.advance(4).unwrap_err().status,
            Status::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            dec.remaining(),
            Some(3),
            "a refused advance changes nothing"
        );
        assert_eq!(dec.advance(3), Ok(BodyStatus::Done));
        assert!(dec.is_done());
        assert_eq!(dec.remaining(), Some(0));
        assert_eq!(dec.advance(0), Ok(BodyStatus::Done));
        assert!(dec.advance(1).is_err());

        let empty = BodyDecoder::new(BodyKind::Empty, 0).unwrap();
        assert!(empty.is_done());
        assert_eq!(empty.remaining(), Some(0));

        let mut chunked = BodyDecoder::new(BodyKind::Chunked, 100).unwrap();
        assert_eq!(chunked.remaining(), None);
        assert_eq!(
            chunked.advance(1).unwrap_err().status,
            Status::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn done_decoder_consumes_nothing() {
        let mut dec = BodyDecoder::new(BodyKind::Empty, 0).unwrap();
        let mut input = BytesMut::from(NEXT);
        let mut out = BytesMut::new();
        assert_eq!(dec.decode(&mut input, &mut out), Ok(BodyStatus::Done));
        assert_eq!(&input[..], NEXT);
        assert!(out.is_empty());
    }

    #[test]
    fn data_is_copied_in_one_run() {
        // A large chunk arriving whole lands in `out` as one contiguous append, and the
        // decoder does not hold on to any of it.
        let payload = vec![7u8; 1 << 16];
        let mut wire = format!("{:x}\r\n", payload.len()).into_bytes();
        wire.extend_from_slice(&payload);
        wire.extend_from_slice(b"\r\n0\r\n\r\n");
        let (r, out, rest) = decode_once(BodyKind::Chunked, 1 << 20, &wire);
        assert_eq!(r, Ok(BodyStatus::Done));
        assert_eq!(out, payload);
        assert!(rest.is_empty());
    }

    /// One chunk of a generated body: its data length, how its size is spelled, and an
    /// optional extension.
    #[derive(Debug, Clone)]
    struct ChunkSpec {
        len: usize,
        upper: bool,
        zeros: usize,
        ext: Option<String>,
    }

    fn chunk_spec() -> impl Strategy<Value = ChunkSpec> {
        (
            1usize..300,
            any::<bool>(),
            0usize..3,
            proptest::option::of("( ?;[a-z]{1,5}(=[a-z0-9]{1,5})?){1,2}"),
        )
            .prop_map(|(len, upper, zeros, ext)| ChunkSpec {
                len,
                upper,
                zeros,
                ext,
            })
    }

    /// Chunked encoding of `payload` cut as `specs` say (the last chunk takes what is left).
    fn encode_chunked(payload: &[u8], specs: &[ChunkSpec], trailers: &[String]) -> Vec<u8> {
        let mut wire = Vec::new();
        let mut at = 0;
        let mut specs = specs.iter().cycle();
        let default = ChunkSpec {
            len: 1,
            upper: false,
            zeros: 0,
            ext: None,
        };
        while at < payload.len() {
            let spec = specs.next().unwrap_or(&default);
            let len = spec.len.min(payload.len() - at);
            let hex = if spec.upper {
                format!("{len:X}")
            } else {
                format!("{len:x}")
            };
            wire.extend_from_slice("0".repeat(spec.zeros).as_bytes());
            wire.extend_from_slice(hex.as_bytes());
            if let Some(ext) = &spec.ext {
                wire.extend_from_slice(ext.as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(&payload[at..at + len]);
            wire.extend_from_slice(b"\r\n");
            at += len;
        }
        wire.extend_from_slice(b"0\r\n");
        for t in trailers {
            wire.extend_from_slice(t.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        wire
    }

    /// Cut points that split `len` bytes into pieces, from arbitrary numbers.
    fn pieces(len: usize, cuts: &[usize]) -> Vec<usize> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
        points.push(0);
        points.push(len);
        points.sort_unstable();
        points.dedup();
        points
    }

    /// Feeds `wire ++ suffix` to a fresh decoder cut at `points`; checks the payload, that
    /// `Done` comes exactly when the body's last byte has arrived, and that the suffix is left.
    fn feed(kind: BodyKind, wire: &[u8], suffix: &[u8], points: &[usize], payload: &[u8]) {
        let all = [wire, suffix].concat();
        let mut dec = BodyDecoder::new(kind, payload.len() as u64).unwrap();
        let mut input = BytesMut::new();
        let mut out = BytesMut::new();
        for w in points.windows(2) {
            input.extend_from_slice(&all[w[0]..w[1]]);
            let status = dec.decode(&mut input, &mut out).unwrap();
            let expected = if w[1] >= wire.len() {
                BodyStatus::Done
            } else {
                BodyStatus::NeedMore
            };
            assert_eq!(status, expected, "after {} of {} bytes", w[1], wire.len());
        }
        assert!(dec.is_done());
        assert_eq!(&out[..], payload);
        assert_eq!(&input[..], suffix);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn chunked_round_trip_at_any_split(
            payload in proptest::collection::vec(any::<u8>(), 0..1500),
            specs in proptest::collection::vec(chunk_spec(), 1..8),
            trailers in proptest::collection::vec("[A-Za-z-]{1,8}: ?[ -~]{0,12}", 0..3),
            suffix in proptest::collection::vec(any::<u8>(), 0..40),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let wire = encode_chunked(&payload, &specs, &trailers);
            let total = wire.len() + suffix.len();
            feed(BodyKind::Chunked, &wire, &suffix, &pieces(total, &cuts), &payload);
            feed(BodyKind::Chunked, &wire, &suffix, &[0, total], &payload);
            let bytewise: Vec<usize> = (0..=total).collect();
            feed(BodyKind::Chunked, &wire, &suffix, &bytewise, &payload);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            input in proptest::collection::vec(any::<u8>(), 0..400),
            max in 0u64..64,
        ) {
            let mut dec = BodyDecoder::new(BodyKind::Chunked, max).unwrap();
            let mut buf = BytesMut::from(&input[..]);
            let mut out = BytesMut::new();
            let _ = dec.decode(&mut buf, &mut out);
            prop_assert!(out.len() as u64 <= max);
            prop_assert!(input.ends_with(&buf));
        }

        #[test]
        fn length_round_trip_with_advance(
            payload in proptest::collection::vec(any::<u8>(), 0..1500),
            suffix in proptest::collection::vec(any::<u8>(), 0..40),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            direct in proptest::collection::vec(any::<bool>(), 12),
        ) {
            let kind = BodyKind::Length(payload.len() as u64);
            let total = payload.len() + suffix.len();
            let points = pieces(total, &cuts);
            feed(kind, &payload, &suffix, &points, &payload);

            // Same pieces, but some read "straight into out" by the caller, then `advance`.
            let all = [&payload[..], &suffix[..]].concat();
            let mut dec = BodyDecoder::new(kind, payload.len() as u64).unwrap();
            let mut input = BytesMut::new();
            let mut out = BytesMut::new();
            for (i, w) in points.windows(2).enumerate() {
                let piece = &all[w[0]..w[1]];
                let want = dec.remaining().unwrap();
                if direct[i % direct.len()] && input.is_empty() {
                    let n = piece.len().min(want as usize);
                    out.extend_from_slice(&piece[..n]);
                    dec.advance(n).unwrap();
                    input.extend_from_slice(&piece[n..]);
                } else {
                    input.extend_from_slice(piece);
                    dec.decode(&mut input, &mut out).unwrap();
                }
                prop_assert_eq!(dec.is_done(), w[1] >= payload.len());
            }
            prop_assert_eq!(&out[..], &payload[..]);
            prop_assert_eq!(&input[..], &suffix[..]);
            prop_assert_eq!(dec.remaining(), Some(0));
        }
    }
}
