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
    /// Header fields in arrival order: name as sent, value without surrounding whitespace.
    pub headers: Vec<(Bytes, Bytes)>,
    /// How the body is framed.
    pub body: BodyKind,
    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1 says to ignore it on
    /// HTTP/1.0; other expectations are ignored too).
    pub expect_continue: bool,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
}

impl RequestHead {
    /// Value of the first header field with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
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

    let head = buf.split_to(head_len).freeze();
    let headers: Vec<(Bytes, Bytes)> = spans
        .into_iter()
        .map(|(n, v)| (head.slice(n), head.slice(v)))
        .collect();
    let framing = Framing::of(&headers)?;
    let body = framing.body_kind(version)?;
    let keep_alive = match version {
        Version::Http11 => !framing.close,
        Version::Http10 => framing.keep_alive && !framing.close,
    };
    Ok(Some(RequestHead {
        method,
        target: head.slice(target_at),
        version,
        headers,
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
    fn of(headers: &[(Bytes, Bytes)]) -> Result<Framing, HttpError> {
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

    /// `Content-Length: 5` or a list of identical values (`5, 5`, RFC 9110 §8.6).
    fn content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        let mut any = false;
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
            any = true;
        }
        if !any {
            return Err(HttpError::new(Status::BAD_REQUEST, "empty Content-Length"));
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
