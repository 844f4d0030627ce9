//! Status codes a client can see, and [`HttpError`]: the one error type for everything a
//! client did wrong (or asked for that the origin cannot give). The daemon turns an
//! `HttpError` into a response with [`crate::http::error_response`].

use std::borrow::Cow;

/// An HTTP status code. Any `u16` can be carried; the associated constants name the codes the
/// origin uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u16);

impl Status {
    /// 100: the client may send the body it announced with `Expect: 100-continue`.
    pub const CONTINUE: Status = Status(100);
    /// 200.
    pub const OK: Status = Status(200);
    /// 201: a PUT stored a new resource.
    pub const CREATED: Status = Status(201);
    /// 204.
    pub const NO_CONTENT: Status = Status(204);
    /// 206: a `Range` request served in part.
    pub const PARTIAL_CONTENT: Status = Status(206);
    /// 304: `If-None-Match` matched.
    pub const NOT_MODIFIED: Status = Status(304);
    /// 400: malformed request.
    pub const BAD_REQUEST: Status = Status(400);
    /// 401: credentials missing or wrong.
    pub const UNAUTHORIZED: Status = Status(401);
    /// 403.
    pub const FORBIDDEN: Status = Status(403);
    /// 404.
    pub const NOT_FOUND: Status = Status(404);
    /// 405: send an `Allow` header with it.
    pub const METHOD_NOT_ALLOWED: Status = Status(405);
    /// 408: the client was too slow.
    pub const REQUEST_TIMEOUT: Status = Status(408);
    /// 411.
    pub const LENGTH_REQUIRED: Status = Status(411);
    /// 413: body larger than accepted.
    pub const PAYLOAD_TOO_LARGE: Status = Status(413);
    /// 414: request-target too long.
    pub const URI_TOO_LONG: Status = Status(414);
    /// 415.
    pub const UNSUPPORTED_MEDIA_TYPE: Status = Status(415);
    /// 416: `Range` cannot be satisfied.
    pub const RANGE_NOT_SATISFIABLE: Status = Status(416);
    /// 431: request head (or chunked trailers) too large, or too many header fields.
    pub const HEADERS_TOO_LARGE: Status = Status(431);
    /// 500.
    pub const INTERNAL_SERVER_ERROR: Status = Status(500);
    /// 501: e.g. a transfer coding other than `chunked`.
    pub const NOT_IMPLEMENTED: Status = Status(501);
    /// 502: an upstream (another cluster node) could not be reached.
    pub const BAD_GATEWAY: Status = Status(502);
    /// 503.
    pub const SERVICE_UNAVAILABLE: Status = Status(503);
    /// 429 Too Many Requests
    pub const TOO_MANY_REQUESTS: Status = Status(429);
    /// 505: anything but HTTP/1.0 and HTTP/1.1 (including the HTTP/2 preface).
    pub const VERSION_NOT_SUPPORTED: Status = Status(505);

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// The canonical reason phrase (RFC 9110 §15); `"Unknown"` for codes the origin never sends.
    pub fn reason_phrase(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            101 => "Switching Protocols",
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            204 => "No Content",
            206 => "Partial Content",
            301 => "Moved Permanently",
            302 => "Found",
            304 => "Not Modified",
            307 => "Temporary Redirect",
            308 => "Permanent Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            408 => "Request Timeout",
            409 => "Conflict",
            410 => "Gone",
            411 => "Length Required",
            412 => "Precondition Failed",
            413 => "Content Too Large",
            414 => "URI Too Long",
            415 => "Unsupported Media Type",
            416 => "Range Not Satisfiable",
            417 => "Expectation Failed",
            422 => "Unprocessable Content",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            505 => "HTTP Version Not Supported",
            _ => "Unknown",
        }
    }
}

/// A request the origin refuses: the status to answer with and a short human reason, which
/// becomes the plain-text body of the error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status:?} {reason}")]
pub struct HttpError {
    /// Status of the response.
    pub status: Status,
    /// Short explanation for a human (no trailing newline).
    pub reason: Cow<'static, str>,
}

impl HttpError {
    /// An error with this status and reason.
    pub fn new(status: Status, reason: impl Into<Cow<'static, str>>) -> Self {
        HttpError {
            status,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_of_the_named_codes() {
        let table = [
            (Status::CONTINUE, 100, "Continue"),
            (Status::OK, 200, "OK"),
            (Status::PARTIAL_CONTENT, 206, "Partial Content"),
            (Status::NOT_MODIFIED, 304, "Not Modified"),
            (Status::PAYLOAD_TOO_LARGE, 413, "Content Too Large"),
            (
                Status::HEADERS_TOO_LARGE,
                431,
                "Request Header Fields Too Large",
            ),
            (
                Status::VERSION_NOT_SUPPORTED,
                505,
                "HTTP Version Not Supported",
            ),
            (Status(599), 599, "Unknown"),
        ];
        for (s, code, phrase) in table {
            assert_eq!(s.code(), code);
            assert_eq!(s.reason_phrase(), phrase);
        }
    }

    #[test]
    fn error_display_names_status_and_reason() {
        let e = HttpError::new(Status::NOT_FOUND, "no such path");
        assert_eq!(e.to_string(), "Status(404) no such path");
        let owned = HttpError::new(Status::BAD_REQUEST, format!("bad {}", 1));
        assert_eq!(owned.reason, "bad 1");
    }
}
