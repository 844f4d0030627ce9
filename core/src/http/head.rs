//! Request heads: [`parse_head`] runs `httparse` over a stack header array, then hands out
//! zero-copy [`Bytes`] slices of the frozen head, and decides how the body is framed
//! ([`BodyKind`]), whether the client waits for `100 Continue`, and whether the connection
//! stays open. Framing is strict (RFC 9112 §6): ambiguous lengths are refused, not guessed,
//! because a proxy in front of the origin might guess differently (request smuggling).

use super::status::{HttpError, Status};
use bytes::{Buf, Bytes, BytesMut};
use std::ops::Range;

/// Hard cap on [`Limits::max_headers`]: the size of the stack array handed to `httparse`.
pub const MAX_HEADERS_CAP: usize = 128;
/// Longest request-target accepted, bytes (longer → 414).
pub const MAX_TARGET_LEN: usize = 8 * 1024;

/// Bounds on a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head, request line to blank line included (larger → 431). Default 16 KiB.
    pub max_head_bytes: usize,
    /// Most header fields (more → 431); capped at [`MAX_HEADERS_CAP`]. Default 64.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// Request method. Methods are case-sensitive: `get` is `Other("get")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `PUT`
    Put,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// Any other token, as sent.
    Other(String),
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(s) => s,
        }
    }
}

/// Protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: neither `Content-Length` nor `Transfer-Encoding`.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked` (what ffmpeg sends for every PUT and DELETE).
    Chunked,
}

/// A parsed request head. Every byte field is a slice of one reference-counted buffer.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Request method.
    pub method: Method,
    /// Raw request-target (origin-form `/a/b?q`, or absolute-form), not decoded.
    pub target: Bytes,
    /// Protocol version.
    pub version: Version,
    /// The whole head as received; the header fields are spans of it ([`RequestHead::headers`]).
    head: Bytes,
    /// Each header field's name and value, as ranges of `head`.
    spans: Vec<(Range<usize>, Range<usize>)>,
    /// How the body is framed.
    pub body: BodyKind,
    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1 says to ignore it on
    /// HTTP/1.0; other expectations are ignored too).
    pub expect_continue: bool,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
}

impl RequestHead {
    /// Header fields in arrival order: name as sent, value without surrounding whitespace.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        let at = |r: &Range<usize>| self.head.get(r.clone()).unwrap_or_default();
        self.spans.iter().map(move |(n, v)| (at(n), at(v)))
    }

    /// Value of the first header field with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// [`RequestHead::header`] as text; `None` if absent or not UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The request-target without its `?query`.
    pub fn path(&self) -> &[u8] {
        match self.target.iter().position(|&b| b == b'?') {
            Some(q) => &self.target[..q],
            None => &self.target,
        }
    }

    /// The request target's query, after `?` (empty when there is none or it is not UTF-8).
    pub fn query(&self) -> &str {
        match self.target.iter().position(|&b| b == b'?') {
            Some(q) => std::str::from_utf8(&self.target[q + 1..]).unwrap_or_default(),
            None => "",
        }
    }
}

/// Parses one request head from the front of `buf`.
///
/// `Ok(None)` means more bytes are needed; that is never an error while
/// `buf.len() <= limits.max_head_bytes`. Empty lines before the request line are dropped from
/// `buf` (RFC 9112 §2.2). On success the head's bytes are split off the front of `buf` and
/// frozen; whatever follows (body, pipelined requests) stays in `buf`.
pub fn parse_head(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RequestHead>, HttpError> {
    if !skip_empty_lines(buf)? {
        return Ok(None);
    }
    if buf.starts_with(b"PRI * HTTP/2") {
        return Err(HttpError::new(
            Status::VERSION_NOT_SUPPORTED,
            "HTTP/2 is not supported: use HTTP/1.1",
        ));
    }
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS_CAP];
    let max_headers = limits.max_headers.min(MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut storage[..max_headers]);
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head_bytes => {
            return Err(head_too_large(window, limits))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(map_parse_error(e, window, max_headers)),
    };
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(internal("httparse completed without a request line"));
    };
    if path.len() > MAX_TARGET_LEN {
        return Err(target_too_long());
    }
    let version = match minor {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Err(version_not_supported()),
    };
    let method = Method::from_token(method);
    let target_at = span(window, path.as_bytes())?;
    let mut spans = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        spans.push((span(window, h.name.as_bytes())?, span(window, h.value)?));
    }

    let framing = Framing::of(
        spans
            .iter()
            .map(|(n, v)| (&window[n.clone()], &window[v.clone()])),
    )?;
    let head = buf.split_to(head_len).freeze();
    let body = framing.body_kind(version)?;
    let keep_alive = match version {
        Version::Http11 => !framing.close,
        Version::Http10 => framing.keep_alive && !framing.close,
    };
    Ok(Some(RequestHead {
        method,
        target: head.slice(target_at),
        version,
        head,
        spans,
        body,
        expect_continue: framing.expect_continue && version == Version::Http11,
        keep_alive,
    }))
}

/// Drops CRLF (or bare LF) lines at the front of `buf`. `Ok(false)`: only a lone CR is left.
fn skip_empty_lines(buf: &mut BytesMut) -> Result<bool, HttpError> {
    loop {
        match (buf.first(), buf.get(1)) {
            (Some(b'\n'), _) => buf.advance(1),
            (Some(b'\r'), Some(b'\n')) => buf.advance(2),
            (Some(b'\r'), None) => return Ok(false),
            (Some(b'\r'), Some(_)) => {
                return Err(HttpError::new(
                    Status::BAD_REQUEST,
                    "malformed request head: stray CR before the request line",
                ))
            }
            _ => return Ok(true),
        }
    }
}

/// The byte range `part` occupies inside `base` (both from the same parse).
fn span(base: &[u8], part: &[u8]) -> Result<Range<usize>, HttpError> {
    let start = (part.as_ptr() as usize)
        .checked_sub(base.as_ptr() as usize)
        .ok_or_else(|| internal("parsed slice lies before the buffer"))?;
    let end = start
        .checked_add(part.len())
        .filter(|&e| e <= base.len())
        .ok_or_else(|| internal("parsed slice lies beyond the buffer"))?;
    Ok(start..end)
}

fn internal(what: &'static str) -> HttpError {
    HttpError::new(Status::INTERNAL_SERVER_ERROR, what)
}

fn target_too_long() -> HttpError {
    HttpError::new(
        Status::URI_TOO_LONG,
        format!("request-target longer than {MAX_TARGET_LEN} bytes"),
    )
}

fn version_not_supported() -> HttpError {
    HttpError::new(
        Status::VERSION_NOT_SUPPORTED,
        "only HTTP/1.0 and HTTP/1.1 are supported",
    )
}

/// The head passed `max_head_bytes` before its end: blame the request line when it alone is
/// that long (a huge URL), the header section otherwise.
fn head_too_large(window: &[u8], limits: &Limits) -> HttpError {
    let line_end = window.iter().position(|&b| b == b'\n');
    if line_end.is_none_or(|e| e > MAX_TARGET_LEN) {
        return target_too_long();
    }
    HttpError::new(
        Status::HEADERS_TOO_LARGE,
        format!("request head larger than {} bytes", limits.max_head_bytes),
    )
}

fn map_parse_error(e: httparse::Error, window: &[u8], max_headers: usize) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::new(
            Status::HEADERS_TOO_LARGE,
            format!("more than {max_headers} header fields"),
        ),
        httparse::Error::Version if names_other_http_version(window) => version_not_supported(),
        other => HttpError::new(
            Status::BAD_REQUEST,
            format!("malformed request head: {other}"),
        ),
    }
}

/// Whether the request line ends in `HTTP/<digit>…`: a real but unsupported version (505), as
/// opposed to garbage where the version belongs (400).
fn names_other_http_version(window: &[u8]) -> bool {
    let line = window.split(|&b| b == b'\n').next().unwrap_or_default();
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    version.starts_with(b"HTTP/") && version.get(5).is_some_and(u8::is_ascii_digit)
}

/// What the framing-related header fields say, before they are checked against each other.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    /// `Transfer-Encoding` present at all.
    te: bool,
    /// Number of codings listed, over all `Transfer-Encoding` fields.
    te_codings: usize,
    /// The last coding listed is `chunked`.
    te_final_chunked: bool,
    /// A coding other than `chunked` is listed.
    te_unsupported: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Framing {
    fn of<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Result<Framing, HttpError> {
        let mut f = Framing::default();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case(b"content-length") {
                f.content_length(value)?;
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                f.te = true;
                f.transfer_encoding(value)?;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in list_elements(value) {
                    f.close |= token.eq_ignore_ascii_case(b"close");
                    f.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case(b"expect") {
                f.expect_continue |= trim_ows(value).eq_ignore_ascii_case(b"100-continue");
            }
        }
        Ok(f)
    }

    /// `Content-Length: 5` or a list of identical values (`5, 5`, RFC 9110 §8.6). Every
    /// element must be digits, so an empty value or an empty element is refused.
    fn content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        for element in value.split(|&b| b == b',') {
            let n = parse_decimal(trim_ows(element))
                .ok_or_else(|| HttpError::new(Status::BAD_REQUEST, "invalid Content-Length"))?;
            if self.content_length.is_some_and(|prev| prev != n) {
                return Err(HttpError::new(
                    Status::BAD_REQUEST,
                    "several different Content-Length values",
                ));
            }
            self.content_length = Some(n);
        }
        Ok(())
    }

    fn transfer_encoding(&mut self, value: &[u8]) -> Result<(), HttpError> {
        for coding in list_elements(value) {
            // A coding may carry parameters (`gzip;q=1`); only its name matters here.
            let name = trim_ows(coding.split(|&b| b == b';').next().unwrap_or_default());
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            if chunked && self.te_final_chunked {
                return Err(HttpError::new(
                    Status::BAD_REQUEST,
                    "chunked transfer coding applied twice",
                ));
            }
            self.te_unsupported |= !chunked;
            self.te_final_chunked = chunked;
            self.te_codings = self.te_codings.saturating_add(1);
        }
        Ok(())
    }

    /// Checks the fields against each other and the version (RFC 9112 §6.1–6.3).
    fn body_kind(&self, version: Version) -> Result<BodyKind, HttpError> {
        if !self.te {
            return Ok(match self.content_length {
                Some(n) => BodyKind::Length(n),
                None => BodyKind::Empty,
            });
        }
        if self.content_length.is_some() {
            return Err(HttpError::new(
                Status::BAD_REQUEST,
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if version == Version::Http10 {
            return Err(HttpError::new(
                Status::BAD_REQUEST,
                "Transfer-Encoding on an HTTP/1.0 request",
            ));
        }
        if self.te_codings == 0 {
            return Err(HttpError::new(
                Status::BAD_REQUEST,
                "empty Transfer-Encoding",
            ));
        }
        // RFC 9112 §6.3: without chunked last the length is unknowable, which is a MUST-400;
        // chunked last over a coding we do not decode is 501 (RFC 9112 §6.1).
        if !self.te_final_chunked {
            return Err(HttpError::new(
                Status::BAD_REQUEST,
                "final transfer coding is not chunked",
            ));
        }
        if self.te_unsupported {
            return Err(HttpError::new(
                Status::NOT_IMPLEMENTED,
                "unsupported transfer coding",
            ));
        }
        Ok(BodyKind::Chunked)
    }
}

/// Non-empty elements of a comma-separated list, whitespace trimmed (RFC 9110 §5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// `value` without leading and trailing spaces and tabs.
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |e| e + 1);
    value.get(start..end).unwrap_or_default()
}

/// One or more ASCII digits as a `u64`; `None` on anything else or on overflow.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `$buf` with default limits; the closure sees the head and what stayed in the buffer.
    macro_rules! req {
        ($name:ident, $buf:expr, |$req:ident, $rest:ident| $body:expr) => {
            #[test]
            fn $name() {
                let mut buf = BytesMut::from(&$buf[..]);
                let $req = parse_head(&mut buf, &Limits::default())
                    .expect("parses")
                    .expect("complete");
                let $rest: &[u8] = &buf[..];
                $body
            }
        };
        ($name:ident, $buf:expr, Err($status:expr, $reason:expr)) => {
            #[test]
            fn $name() {
                let mut buf = BytesMut::from(&$buf[..]);
                let err = parse_head(&mut buf, &Limits::default()).expect_err("refused");
                assert_eq!(err.status, $status, "{err}");
                assert!(err.reason.contains($reason), "{err}");
            }
        };
    }

    const ID: &str = "0123456789abcdef0123456789ab";

    req! {
        ffmpeg_segment_put,
        format!("PUT /v1/{ID}/{ID}/seg_00001.ts HTTP/1.1\r\nUser-Agent: Lavf/59.27.100\r\n\
                 Accept: */*\r\nConnection: keep-alive\r\nHost: origin:8080\r\n\
                 Icy-MetaData: 1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n").as_bytes(),
        |req, rest| {
            assert_eq!(req.method, Method::Put);
            assert_eq!(req.version, Version::Http11);
            assert_eq!(&req.target[..], format!("/v1/{ID}/{ID}/seg_00001.ts").as_bytes());
            assert_eq!(req.body, BodyKind::Chunked);
            assert!(req.keep_alive);
            assert!(!req.expect_continue);
            assert_eq!(req.headers().len(), 6);
            assert_eq!(req.header("host"), Some(&b"origin:8080"[..]));
            assert_eq!(rest, b"5\r\nhello\r\n");
        }
    }

    req! {
        simple_get,
        b"GET /v1/a/b/main.m3u8?_HLS_msn=3 HTTP/1.1\r\nHost: x\r\n\r\n",
        |req, rest| {
            assert_eq!(req.method, Method::Get);
            assert_eq!(req.path(), b"/v1/a/b/main.m3u8");
            assert_eq!(&req.target[..], b"/v1/a/b/main.m3u8?_HLS_msn=3");
            assert_eq!(req.body, BodyKind::Empty);
            assert!(req.keep_alive);
            assert!(rest.is_empty());
        }
    }

    req! {
        head_request,
        b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        |req, _rest| {
            assert_eq!(req.method, Method::Head);
            assert!(!req.keep_alive);
        }
    }

    req! {
        ffmpeg_delete_with_expect,
        b"DELETE /v1/a/b/seg_1.ts HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\
          Expect: 100-Continue\r\nHost: x\r\n\r\n0\r\n\r\n",
        |req, rest| {
            assert_eq!(req.method, Method::Delete);
            assert_eq!(req.body, BodyKind::Chunked);
            assert!(req.expect_continue);
            assert_eq!(rest, b"0\r\n\r\n");
        }
    }

    req! {
        other_expectations_are_ignored,
        b"PUT / HTTP/1.1\r\nExpect: something-else\r\nContent-Length: 0\r\n\r\n",
        |req, _rest| {
            assert!(!req.expect_continue);
            assert_eq!(req.body, BodyKind::Length(0));
        }
    }

    req! {
        other_methods_are_kept,
        b"PATCH /x HTTP/1.1\r\n\r\n",
        |req, _rest| {
            assert_eq!(req.method, Method::Other("PATCH".into()));
            assert_eq!(req.method.as_str(), "PATCH");
        }
    }

    req! {
        methods_are_case_sensitive,
        b"get /x HTTP/1.1\r\n\r\n",
        |req, _rest| assert_eq!(req.method, Method::Other("get".into()))
    }

    req! {
        http10_closes_by_default,
        b"GET / HTTP/1.0\r\n\r\n",
        |req, _rest| {
            assert_eq!(req.version, Version::Http10);
            assert!(!req.keep_alive);
        }
    }

    req! {
        http10_keep_alive_on_request,
        b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        |req, _rest| assert!(req.keep_alive)
    }

    req! {
        http10_ignores_expect_continue,
        b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        |req, _rest| {
            assert!(!req.expect_continue);
            assert_eq!(req.body, BodyKind::Length(3));
        }
    }

    req! {
        close_wins_over_keep_alive,
        b"GET / HTTP/1.1\r\nConnection: keep-alive, CLOSE\r\n\r\n",
        |req, _rest| assert!(!req.keep_alive)
    }

    req! {
        connection_tokens_in_a_list,
        b"GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n",
        |req, _rest| assert!(!req.keep_alive)
    }

    req! {
        header_names_are_case_insensitive,
        b"PUT / HTTP/1.1\r\nCONTENT-length: 12\r\nx-Custom: A b\r\n\r\n",
        |req, _rest| {
            assert_eq!(req.body, BodyKind::Length(12));
            assert_eq!(req.header("X-CUSTOM"), Some(&b"A b"[..]));
            assert_eq!(req.header_str("x-custom"), Some("A b"));
            assert_eq!(req.headers().next().unwrap().0, b"CONTENT-length", "names as sent");
            assert_eq!(req.header("missing"), None);
        }
    }

    req! {
        header_str_refuses_non_utf8,
        b"GET / HTTP/1.1\r\nX-Bin: \xff\xfe\r\n\r\n",
        |req, _rest| {
            assert_eq!(req.header("x-bin"), Some(&b"\xff\xfe"[..]));
            assert_eq!(req.header_str("x-bin"), None);
        }
    }

    req! {
        first_header_wins,
        b"GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n",
        |req, _rest| assert_eq!(req.header("a"), Some(&b"1"[..]))
    }

    req! {
        identical_content_lengths_are_one,
        b"PUT / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello",
        |req, rest| {
            assert_eq!(req.body, BodyKind::Length(5));
            assert_eq!(rest, b"hello");
        }
    }

    req! {
        largest_content_length,
        b"PUT / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n",
        |req, _rest| assert_eq!(req.body, BodyKind::Length(u64::MAX))
    }

    req! {
        chunked_is_case_insensitive,
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
        |req, _rest| assert_eq!(req.body, BodyKind::Chunked)
    }

    req! {
        leading_empty_lines_are_skipped,
        b"\r\n\r\n\nGET /a HTTP/1.1\r\n\r\n",
        |req, _rest| assert_eq!(&req.target[..], b"/a")
    }

    req! {
        pipelined_request_stays_in_buffer,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        |req, rest| {
            assert_eq!(&req.target[..], b"/a");
            assert_eq!(rest, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        }
    }

    req! {
        absolute_form_target,
        b"GET http://origin/v1/x HTTP/1.1\r\n\r\n",
        |req, _rest| assert_eq!(req.path(), b"http://origin/v1/x")
    }

    req!(
        malformed_request_line,
        b"GET  / HTTP/1.1\r\n\r\n",
        Err(Status::BAD_REQUEST, "malformed request head")
    );
    req!(
        space_before_colon,
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        Err(
            Status::BAD_REQUEST,
            "malformed request head: invalid header name"
        )
    );
    req!(
        bare_cr_before_request_line,
        b"\rGET / HTTP/1.1\r\n\r\n",
        Err(Status::BAD_REQUEST, "stray CR")
    );
    req!(
        garbage_version,
        b"GET / FOO/1.1\r\n\r\n",
        Err(Status::BAD_REQUEST, "invalid HTTP version")
    );
    req!(
        http2_preface,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        Err(Status::VERSION_NOT_SUPPORTED, "HTTP/2")
    );
    req!(
        http2_preface_prefix,
        b"PRI * HTTP/2.0\r\n",
        Err(Status::VERSION_NOT_SUPPORTED, "HTTP/2")
    );
    req!(
        http_1_2,
        b"GET / HTTP/1.2\r\n\r\n",
        Err(Status::VERSION_NOT_SUPPORTED, "HTTP/1.0 and HTTP/1.1")
    );
    req!(
        http_3_0,
        b"GET / HTTP/3.0\r\n\r\n",
        Err(Status::VERSION_NOT_SUPPORTED, "HTTP/1.0 and HTTP/1.1")
    );
    req!(
        content_length_letters,
        b"PUT / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n",
        Err(Status::BAD_REQUEST, "invalid Content-Length")
    );
    req!(
        content_length_signed,
        b"PUT / HTTP/1.1\r\nContent-Length: +12\r\n\r\n",
        Err(Status::BAD_REQUEST, "invalid Content-Length")
    );
    req!(
        content_length_negative,
        b"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        Err(Status::BAD_REQUEST, "invalid Content-Length")
    );
    req!(
        content_length_empty,
        b"PUT / HTTP/1.1\r\nContent-Length: \r\n\r\n",
        Err(Status::BAD_REQUEST, "Content-Length")
    );
    req!(
        content_length_empty_element,
        b"PUT / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n",
        Err(Status::BAD_REQUEST, "invalid Content-Length")
    );
    req!(
        content_length_overflow,
        b"PUT / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
        Err(Status::BAD_REQUEST, "invalid Content-Length")
    );
    req!(
        content_length_differs_in_list,
        b"PUT / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
        Err(Status::BAD_REQUEST, "different Content-Length")
    );
    req!(
        content_length_differs_across_fields,
        b"PUT / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 50\r\n\r\n",
        Err(Status::BAD_REQUEST, "different Content-Length")
    );
    req!(
        length_and_chunked,
        b"PUT / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        Err(
            Status::BAD_REQUEST,
            "both Content-Length and Transfer-Encoding"
        )
    );
    req!(
        chunked_then_length,
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        Err(Status::BAD_REQUEST, "both")
    );
    req!(
        gzip_then_chunked,
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        Err(Status::NOT_IMPLEMENTED, "unsupported transfer coding")
    );
    req!(
        gzip_field_then_chunked_field,
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        Err(Status::NOT_IMPLEMENTED, "unsupported transfer coding")
    );
    req!(
        chunked_not_last,
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        Err(Status::BAD_REQUEST, "final transfer coding is not chunked")
    );
    req!(
        gzip_alone,
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        Err(Status::BAD_REQUEST, "final transfer coding is not chunked")
    );
    req!(
        chunked_twice,
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        Err(Status::BAD_REQUEST, "applied twice")
    );
    req!(
        te_empty,
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n",
        Err(Status::BAD_REQUEST, "empty Transfer-Encoding")
    );
    req!(
        te_on_http10,
        b"PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        Err(Status::BAD_REQUEST, "HTTP/1.0")
    );

    req!(
        obs_fold_is_refused,
        b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
        Err(Status::BAD_REQUEST, "malformed request head")
    );
    req!(
        nul_in_header_value,
        b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
        Err(
            Status::BAD_REQUEST,
            "malformed request head: invalid header value"
        )
    );

    fn parse_with(
        input: &[u8],
        limits: &Limits,
    ) -> (Result<Option<RequestHead>, HttpError>, BytesMut) {
        let mut buf = BytesMut::from(input);
        let r = parse_head(&mut buf, limits);
        (r, buf)
    }

    #[test]
    fn incomplete_heads_need_more_at_every_cut() {
        let full = b"\r\nPUT /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        for cut in 0..full.len() {
            let (r, _) = parse_with(&full[..cut], &Limits::default());
            assert!(matches!(r, Ok(None)), "cut {cut}: {r:?}");
        }
        let (r, rest) = parse_with(full, &Limits::default());
        assert_eq!(r.unwrap().unwrap().body, BodyKind::Chunked);
        assert!(rest.is_empty());
    }

    #[test]
    fn head_bytes_limit() {
        let limits = Limits {
            max_head_bytes: 64,
            max_headers: 64,
        };
        let head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(41));
        assert_eq!(head.len(), 64);
        assert!(
            parse_with(head.as_bytes(), &limits).0.unwrap().is_some(),
            "exactly at the limit"
        );

        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(42));
        assert_eq!(
            parse_with(big.as_bytes(), &limits).0.unwrap_err().status,
            Status::HEADERS_TOO_LARGE
        );

        // Incomplete: fine up to the limit, refused past it even though the end never came.
        let partial = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(200));
        assert!(matches!(
            parse_with(&partial.as_bytes()[..64], &limits).0,
            Ok(None)
        ));
        let err = parse_with(&partial.as_bytes()[..65], &limits)
            .0
            .unwrap_err();
        assert_eq!(err.status, Status::HEADERS_TOO_LARGE);

        // A complete head followed by a large body is fine: only the head counts.
        let with_body = format!(
            "PUT / HTTP/1.1\r\nContent-Length: 100\r\n\r\n{}",
            "b".repeat(100)
        );
        let (r, rest) = parse_with(with_body.as_bytes(), &limits);
        assert_eq!(r.unwrap().unwrap().body, BodyKind::Length(100));
        assert_eq!(rest.len(), 100);
    }

    #[test]
    fn default_limits_refuse_a_huge_head() {
        let head = format!(
            "GET / HTTP/1.1\r\nCookie: {}\r\n\r\n",
            "c".repeat(16 * 1024)
        );
        let err = parse_with(head.as_bytes(), &Limits::default())
            .0
            .unwrap_err();
        assert_eq!(err.status, Status::HEADERS_TOO_LARGE);
        assert!(err.reason.contains("16384"), "{err}");
    }

    #[test]
    fn header_count_limit() {
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for i in 0..64 {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        let ok = format!("{head}\r\n");
        assert_eq!(
            parse_with(ok.as_bytes(), &Limits::default())
                .0
                .unwrap()
                .unwrap()
                .headers()
                .len(),
            64
        );
        let too_many = format!("{head}X-64: v\r\n\r\n");
        let err = parse_with(too_many.as_bytes(), &Limits::default())
            .0
            .unwrap_err();
        assert_eq!(err.status, Status::HEADERS_TOO_LARGE);
        assert!(err.reason.contains("64 header fields"), "{err}");

        // A configured limit above the stack array is capped, not trusted.
        let limits = Limits {
            max_head_bytes: 1 << 20,
            max_headers: 1000,
        };
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS_CAP {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        let err = parse_with(many.as_bytes(), &limits).0.unwrap_err();
        assert_eq!(err.status, Status::HEADERS_TOO_LARGE);
    }

    #[test]
    fn target_length_limit() {
        let limits = Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 64,
        };
        let ok = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET_LEN - 1));
        assert!(parse_with(ok.as_bytes(), &limits).0.unwrap().is_some());
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET_LEN));
        assert_eq!(
            parse_with(long.as_bytes(), &limits).0.unwrap_err().status,
            Status::URI_TOO_LONG
        );
        // A request line that alone overflows the head limit is blamed on the URL.
        let huge = format!("GET /{}", "a".repeat(20 * 1024));
        let err = parse_with(huge.as_bytes(), &Limits::default())
            .0
            .unwrap_err();
        assert_eq!(err.status, Status::URI_TOO_LONG);
    }

    #[test]
    fn slices_are_zero_copy() {
        let input = b"PUT /v1/file.ts HTTP/1.1\r\nHost: origin\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let mut buf = BytesMut::with_capacity(4096);
        buf.extend_from_slice(input);
        let start = buf.as_ptr() as usize;
        let end = start + buf.capacity();
        let req = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
        let inside = |b: &[u8]| {
            let p = b.as_ptr() as usize;
            p >= start && p + b.len() <= end
        };
        assert!(inside(&req.target));
        assert_eq!(req.target.as_ptr() as usize, start + 4);
        for (n, v) in req.headers() {
            assert!(inside(n) && inside(v));
        }
        // The body's bytes are still in the same allocation, right after the head.
        assert_eq!(buf.as_ptr() as usize, start + input.len() - 5);
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"1 "), None);
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
    }

    proptest::proptest! {
        /// Whatever arrives, parsing neither panics nor loses bytes: a head is split off the
        /// front, or nothing but leading empty lines is consumed.
        #[test]
        fn arbitrary_bytes_never_panic(
            prefix in proptest::sample::select(vec![
                &b""[..], b"GET / HTTP/1.1\r\n", b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
                b"GET / HTTP/1.0\r\nContent-Length: ",
            ]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let input = [prefix, &tail[..]].concat();
            let limits = Limits { max_head_bytes: 256, max_headers: 8 };
            let mut buf = BytesMut::from(&input[..]);
            if let Ok(Some(head)) = parse_head(&mut buf, &limits) {
                proptest::prop_assert!(buf.len() < input.len());
                proptest::prop_assert!(input.ends_with(&buf));
                proptest::prop_assert!(head.headers().len() <= 8);
            } else {
                proptest::prop_assert!(input.ends_with(&buf));
            }
        }
    }
}
