//! HTTP/2 streams through the HTTP/1.1 engine: one stream is served as if it were one request
//! on its own HTTP/1.1 connection, so every rule of [`super::head`] and the pull path applies to
//! both protocols once.
//!
//! - [`request_head`] writes an HTTP/2 request (pseudo-headers and fields, already validated by
//!   the HTTP/2 layer) as an HTTP/1.1 head that [`super::parse_head`] then reads with the same
//!   limits as any other.
//! - [`ResponseBridge`] reads what the pull path writes for that request (a head, then body
//!   bytes, identity or chunked) and hands back the status, the fields HTTP/2 may carry
//!   (RFC 9113 §8.2.2: no connection-specific fields) and the body as slices of the very
//!   `Bytes` written, with no copy.

use bytes::{Buf, Bytes, BytesMut};

use super::{HttpError, Status};

/// Connection-specific fields: meaningful on one HTTP/1.1 hop, forbidden in HTTP/2
/// (RFC 9113 §8.2.2). Dropped from requests and responses alike.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

/// Whether `name` (any case) is a connection-specific field.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
}

/// Writes an HTTP/2 request as an HTTP/1.1 head: `METHOD target HTTP/1.1`, `Host` from
/// `:authority` (or the request's own `host` field), the other fields as they came, minus
/// connection-specific ones. A byte that cannot stand in an HTTP/1.1 head (CR, LF, NUL) is
/// refused with 400.
pub fn request_head<'a>(
    method: &[u8],
    target: &[u8],
    authority: Option<&[u8]>,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<BytesMut, HttpError> {
    let bad = |b: &[u8]| b.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0);
    let refuse = || HttpError::new(Status::BAD_REQUEST, "field value not allowed in a request");
    if bad(method) || bad(target) || target.contains(&b' ') || method.contains(&b' ') {
        return Err(HttpError::new(
            Status::BAD_REQUEST,
            "malformed request line",
        ));
    }
    let mut out = BytesMut::with_capacity(256);
    out.extend_from_slice(method);
    out.extend_from_slice(b" ");
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(a) = authority {
        if bad(a) {
            return Err(refuse());
        }
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in fields {
        // The request body is not forwarded (the pull path takes none): no length either.
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || (authority.is_some() && name.eq_ignore_ascii_case(b"host"))
        {
            continue;
        }
        if bad(name) || bad(value) || name.is_empty() || name.contains(&b':') {
            return Err(refuse());
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// What a response written in HTTP/1.1 comes to for HTTP/2, piece by piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// The status and the fields to send.
    Head {
        /// Status code.
        status: u16,
        /// Fields (name as written, value), without connection-specific ones: slices of the
        /// head as written, no copy.
        fields: Vec<(Bytes, Bytes)>,
        /// The body is empty by its own framing (`Content-Length: 0`, 204, 304).
        empty: bool,
    },
    /// Body bytes (a slice of what was written).
    Data(Bytes),
    /// The body is complete.
    End,
}

#[derive(Debug)]
enum State {
    /// Collecting the head.
    Head(BytesMut),
    /// Identity body with this many bytes to come.
    Length(u64),
    /// Chunked body: reading a chunk-size line (collected here).
    ChunkSize(BytesMut),
    /// Inside a chunk: bytes left, then its CRLF.
    Chunk(u64),
    /// The CRLF after a chunk: bytes of it still to skip.
    ChunkEnd(u8),
    /// After the last chunk: skipping trailers up to the final empty line.
    Trailer(BytesMut),
    /// Until the writer stops (no framing: HTTP/1.1 would close the connection).
    UntilClose,
    /// Complete; anything more is an error of the writer.
    Done,
}

/// Reads a response written for HTTP/1.1 and turns it into [`Piece`]s.
#[derive(Debug)]
pub struct ResponseBridge {
    state: State,
    /// A response to HEAD: the head's framing announces a body that does not follow.
    head_only: bool,
}

/// Longest head accepted from the writer (the pull path writes a few hundred bytes).
const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size line.
const MAX_CHUNK_LINE: usize = 64;

/// The writer broke HTTP/1.1 framing (a bug on this side): the stream is reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("response framing broken: {0}")]
pub struct FramingError(pub &'static str);

impl ResponseBridge {
    /// A bridge for one response; `head_only` for a response to HEAD.
    pub fn new(head_only: bool) -> ResponseBridge {
        ResponseBridge {
            state: State::Head(BytesMut::new()),
            head_only,
        }
    }

    /// Whether the response is complete.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the head has been read.
    pub fn head_seen(&self) -> bool {
        !matches!(self.state, State::Head(_))
    }

    /// Reads `bytes` (the next bytes written), appending what they come to onto `out`.
    pub fn feed(&mut self, mut bytes: Bytes, out: &mut Vec<Piece>) -> Result<(), FramingError> {
        while !bytes.is_empty() {
            // The whole head in one write (what the pull path does): read in place, no copy.
            if matches!(&self.state, State::Head(buf) if buf.is_empty()) {
                if let Some(end) = find_end_of_head(&bytes) {
                    let head = bytes.split_to(end);
                    self.read_head(&head, out)?;
                    continue;
                }
            }
            match &mut self.state {
                State::Head(buf) => {
                    buf.extend_from_slice(&bytes);
                    let Some(end) = find_end_of_head(buf) else {
                        if buf.len() > MAX_HEAD {
                            return Err(FramingError("head too long"));
                        }
                        return Ok(());
                    };
                    let head = buf.split_to(end).freeze();
                    let rest = buf.split().freeze();
                    self.read_head(&head, out)?;
                    bytes = rest;
                }
                State::Length(left) => {
                    let n = (*left).min(bytes.len() as u64) as usize;
                    out.push(Piece::Data(bytes.split_to(n)));
                    *left -= n as u64;
                    if *left == 0 {
                        self.finish(out);
                        if !bytes.is_empty() {
                            return Err(FramingError("bytes after the body"));
                        }
                    }
                }
                State::UntilClose => {
                    out.push(Piece::Data(std::mem::take(&mut bytes)));
                }
                State::ChunkSize(line) => {
                    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
                        line.extend_from_slice(&bytes);
                        if line.len() > MAX_CHUNK_LINE {
                            return Err(FramingError("chunk-size line too long"));
                        }
                        return Ok(());
                    };
                    line.extend_from_slice(&bytes[..nl]);
                    bytes.advance(nl + 1);
                    let size = chunk_size(line)?;
                    self.state = if size == 0 {
                        State::Trailer(BytesMut::new())
                    } else {
                        State::Chunk(size)
                    };
                }
                State::Chunk(left) => {
                    let n = (*left).min(bytes.len() as u64) as usize;
                    out.push(Piece::Data(bytes.split_to(n)));
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::ChunkEnd(2);
                    }
                }
                State::ChunkEnd(left) => {
                    let want: &[u8] = if *left == 2 { b"\r\n" } else { b"\n" };
                    let n = (*left as usize).min(bytes.len());
                    if bytes[..n] != want[..n] {
                        return Err(FramingError("chunk not followed by CRLF"));
                    }
                    bytes.advance(n);
                    *left -= n as u8;
                    if *left == 0 {
                        self.state = State::ChunkSize(BytesMut::new());
                    }
                }
                State::Trailer(buf) => {
                    let before = buf.len();
                    buf.extend_from_slice(&bytes);
                    let end = if buf.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        find_end_of_head(buf)
                    };
                    match end {
                        Some(end) => {
                            // What follows the final CRLF is not part of this response.
                            bytes.advance(end.saturating_sub(before).min(bytes.len()));
                            self.finish(out);
                        }
                        None if buf.len() > MAX_HEAD => {
                            return Err(FramingError("trailer too long"))
                        }
                        None => bytes.clear(),
                    }
                }
                State::Done => return Err(FramingError("bytes after the end of the response")),
            }
        }
        Ok(())
    }

    /// The writer is done: a body without framing ends here. Whether the response was complete.
    pub fn close(&mut self, out: &mut Vec<Piece>) -> bool {
        match self.state {
            State::UntilClose => {
                self.finish(out);
                true
            }
            State::Done => true,
            _ => false,
        }
    }

    fn finish(&mut self, out: &mut Vec<Piece>) {
        self.state = State::Done;
        out.push(Piece::End);
    }

    fn read_head(&mut self, head: &Bytes, out: &mut Vec<Piece>) -> Result<(), FramingError> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(FramingError("malformed head")),
        }
        let status = res.code.ok_or(FramingError("no status"))?;
        if status < 200 {
            // The pull path never writes an interim answer; one here is a bug, not a head.
            return Err(FramingError("interim (1xx) answers are not bridged"));
        }
        let mut fields = Vec::with_capacity(res.headers.len());
        let mut length = None;
        let mut chunked = false;
        for h in res.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value).map_err(|_| FramingError("length"))?;
                length = Some(
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| FramingError("length"))?,
                );
            }
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h.value.eq_ignore_ascii_case(b"chunked");
            }
            if is_hop_by_hop(h.name.as_bytes()) {
                continue;
            }
            fields.push((head.slice_ref(h.name.as_bytes()), head.slice_ref(h.value)));
        }
        let no_body =
            self.head_only || status == 204 || status == 304 || (100..200).contains(&status);
        let empty = no_body || (!chunked && length == Some(0));
        out.push(Piece::Head {
            status,
            fields,
            empty,
        });
        self.state = if empty {
            out.push(Piece::End);
            State::Done
        } else if chunked {
            State::ChunkSize(BytesMut::new())
        } else if let Some(n) = length {
            State::Length(n)
        } else {
            State::UntilClose
        };
        Ok(())
    }
}

fn find_end_of_head(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let hex = line.split(|&b| b == b';').next().unwrap_or(line);
    let s = std::str::from_utf8(hex).map_err(|_| FramingError("chunk size"))?;
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FramingError("chunk size"));
    }
    u64::from_str_radix(s, 16).map_err(|_| FramingError("chunk size"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_head, Limits, Method};
    use proptest::prelude::*;

    fn run(head_only: bool, writes: &[&[u8]]) -> Result<Vec<Piece>, FramingError> {
        let mut b = ResponseBridge::new(head_only);
        let mut out = Vec::new();
        for w in writes {
            b.feed(Bytes::copy_from_slice(w), &mut out)?;
        }
        b.close(&mut out);
        Ok(out)
    }

    fn body(pieces: &[Piece]) -> Vec<u8> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Data(d) => Some(d.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn a_request_becomes_a_head_the_parser_reads() {
        let fields: Vec<(&[u8], &[u8])> = vec![
            (b"user-agent", b"curl"),
            (b"connection", b"close"),
            (b"host", b"ignored"),
            (b"if-none-match", b"\"x\""),
        ];
        let mut h = request_head(
            b"GET",
            b"/v1/a/b/index.m3u8?x=1",
            Some(b"origin:8080"),
            fields.into_iter(),
        )
        .unwrap();
        let head = parse_head(&mut h, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.path(), b"/v1/a/b/index.m3u8");
        assert_eq!(head.header("host"), Some(&b"origin:8080"[..]));
        assert_eq!(head.header("if-none-match"), Some(&b"\"x\""[..]));
        assert_eq!(head.header("connection"), None);
        assert!(head.keep_alive);
    }

    #[test]
    fn bytes_that_cannot_stand_in_a_head_are_refused() {
        let cases: [(&[u8], &[u8], &[u8]); 4] = [
            (b"GET", b"/a b", b"v"),
            (b"GET", b"/a\r\n", b"v"),
            (b"GET", b"/a", b"v\r\nx: y"),
            (b"GET", b"/a", b"v\0"),
        ];
        for (m, t, v) in cases {
            let f: Vec<(&[u8], &[u8])> = vec![(b"x-a", v)];
            let e = request_head(m, t, None, f.into_iter()).unwrap_err();
            assert_eq!(e.status, Status::BAD_REQUEST, "{t:?} {v:?}");
        }
    }

    #[test]
    fn identity_body_as_slices_without_connection_fields() {
        let out = run(
            false,
            &[
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nETag: \"1\"\r\n\r\nhe",
                b"llo",
            ],
        )
        .unwrap();
        let Piece::Head {
            status,
            fields,
            empty,
        } = &out[0]
        else {
            panic!("{out:?}")
        };
        assert_eq!(*status, 200);
        assert!(!empty);
        assert!(fields
            .iter()
            .all(|(n, _)| !n.eq_ignore_ascii_case(b"connection")));
        assert!(fields.iter().any(|(n, v)| n == "ETag" && v == "\"1\""));
        assert_eq!(body(&out), b"hello");
        assert_eq!(out.last(), Some(&Piece::End));
    }

    #[test]
    fn chunked_body_split_anywhere_is_decoded() {
        let whole: &[u8] =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10;x=y\r\n0123456789abcdef\r\n0\r\n\r\n";
        for cut in 0..whole.len() {
            let out = run(false, &[&whole[..cut], &whole[cut..]]).unwrap();
            assert_eq!(body(&out), b"abc0123456789abcdef", "cut {cut}");
            assert_eq!(out.last(), Some(&Piece::End), "cut {cut}");
            let Piece::Head { fields, .. } = &out[0] else {
                panic!()
            };
            assert!(fields
                .iter()
                .all(|(n, _)| !n.eq_ignore_ascii_case(b"transfer-encoding")));
        }
    }

    #[test]
    fn head_304_and_empty_bodies_end_at_the_head() {
        for (head_only, w) in [
            (true, &b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"[..]),
            (false, b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n"),
            (false, b"HTTP/1.1 204 No Content\r\n\r\n"),
            (
                false,
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            ),
        ] {
            let out = run(head_only, &[w]).unwrap();
            assert!(matches!(out[0], Piece::Head { empty: true, .. }), "{out:?}");
            assert_eq!(out[1..], [Piece::End]);
        }
    }

    #[test]
    fn bytes_after_the_end_and_odd_sizes_are_errors() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut trailing = chunked.to_vec();
        trailing.extend_from_slice(b"1\r\na\r\n0\r\n\r\nextra");
        assert!(run(false, &[&trailing]).is_err());
        let mut plus = chunked.to_vec();
        plus.extend_from_slice(b"+1\r\na\r\n0\r\n\r\n");
        assert!(run(false, &[&plus]).is_err());
        assert!(run(false, &[b"HTTP/1.1 100 Continue\r\n\r\n"]).is_err());
        let f: Vec<(&[u8], &[u8])> = vec![(b"content-length", b"5")];
        let mut h = request_head(b"GET", b"/a", None, f.into_iter()).unwrap();
        let head = parse_head(&mut h, &Limits::default()).unwrap().unwrap();
        assert_eq!(
            head.body,
            crate::http::BodyKind::Empty,
            "no body is forwarded"
        );
    }

    #[test]
    fn broken_framing_is_an_error_not_a_panic() {
        assert!(run(false, &[b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab"]).is_err());
        assert!(run(
            false,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
        )
        .is_err());
        assert!(run(
            false,
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY"]
        )
        .is_err());
        assert!(run(false, &[b"garbage\r\n\r\n"]).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(writes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let mut b = ResponseBridge::new(false);
            let mut out = Vec::new();
            let mut w = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            w.extend(writes.concat());
            let _ = b.feed(Bytes::from(w), &mut out);
            b.close(&mut out);
        }

        #[test]
        fn chunked_round_trip(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..6), cut in 0usize..2000) {
            let mut w = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for c in &chunks {
                w.extend(format!("{:x}\r\n", c.len()).as_bytes());
                w.extend(c);
                w.extend(b"\r\n");
            }
            w.extend(b"0\r\n\r\n");
            let cut = cut.min(w.len());
            let out = run(false, &[&w[..cut], &w[cut..]]).unwrap();
            prop_assert_eq!(body(&out), chunks.concat());
            prop_assert_eq!(out.last(), Some(&Piece::End));
        }
    }
}
