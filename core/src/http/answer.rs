//! How an origin answers players and CDNs, decided without I/O: the answer to a `GET`/`HEAD` of
//! a manifest or segment (conditional GET → 304, `Range` → 206/416, `ETag`, `Last-Modified`,
//! `Cache-Control`, CORS), the caching and CORS headers of error answers (with `Retry-After`
//! on a 503), and the CORS preflight. The daemon writes the head built here and sends the part
//! of the body it names.

use super::range::{if_none_match_matches, parse_range, RangeOutcome};
use super::response::write_head;
use super::status::Status;
use super::RequestHead;
use std::time::UNIX_EPOCH;

/// Methods pull listeners answer.
pub const ALLOW: &[u8] = b"GET, HEAD, OPTIONS";

/// What a browser on another origin may send to endpoints: also `POST`, which encrypted
/// endpoints take for ClearKey licences.
pub const CORS_METHODS: &[u8] = b"GET, HEAD, POST, OPTIONS";

/// CORS headers of error answers: without them a browser player on another origin sees status
/// 0 (a network error) instead of the 404 or 503, and cannot read the 503's `Retry-After`.
pub const ERROR_CORS: [(&str, &[u8]); 2] = [
    ("Access-Control-Allow-Origin", b"*"),
    ("Access-Control-Expose-Headers", b"Retry-After"),
];

/// Seconds a player is told to wait on a 503 (a channel whose media has not started yet).
pub const RETRY_AFTER_SECS: &[u8] = b"2";

/// A stored object about to be served.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// Length of the whole body.
    pub len: u64,
    /// `Content-Type`.
    pub content_type: &'a [u8],
    /// Quoted strong `ETag`.
    pub etag: &'a str,
    /// When the body was first published, Unix ms (`Last-Modified`, `If-Modified-Since`).
    pub last_modified_unix_ms: u64,
    /// `Cache-Control`.
    pub cache_control: &'a [u8],
    /// Whether `Range` requests are honoured (segments; manifests are always sent whole).
    pub ranges: bool,
}

/// The request headers that shape the answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// `If-None-Match` (wins over `If-Modified-Since`, RFC 9110 §13.1.3).
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`, as sent.
    pub if_modified_since: Option<&'a str>,
    /// `Range`.
    pub range: Option<&'a [u8]>,
}

impl<'a> Conditions<'a> {
    /// The conditions of a parsed request head.
    pub fn of(head: &'a RequestHead) -> Conditions<'a> {
        Conditions {
            if_none_match: head.header("if-none-match"),
            if_modified_since: head.header_str("if-modified-since"),
            range: head.header("range"),
        }
    }
}

/// What was decided: the status, and which bytes of the body follow the head (none for 304
/// and 416; a `HEAD` request sends none whatever this says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status written.
    pub status: Status,
    /// `start..end` of the body to send, `None` for no body.
    pub body: Option<std::ops::Range<usize>>,
}

/// Writes the head answering `cond` for `obj` into `out` (`date`, `last_modified`: the HTTP
/// dates of now and of `obj.last_modified_unix_ms`) and says what body follows.
pub fn answer_object(
    out: &mut Vec<u8>,
    cond: &Conditions<'_>,
    obj: &Served<'_>,
    date: &str,
    last_modified: &str,
    keep_alive: bool,
) -> Answer {
    let mut hdrs: [(&str, &[u8]); 9] = [
        ("Date", date.as_bytes()),
        ("Content-Type", obj.content_type),
        ("Cache-Control", obj.cache_control),
        ("ETag", obj.etag.as_bytes()),
        ("Last-Modified", last_modified.as_bytes()),
        ("Access-Control-Allow-Origin", b"*"),
        (
            "Access-Control-Expose-Headers",
            b"Content-Length, Content-Range, ETag, Age",
        ),
        ("Accept-Ranges", b"bytes"),
        ("Content-Range", b""),
    ];
    // The last two slots only for segments: `Accept-Ranges`, then `Content-Range`.
    let n = if obj.ranges { 8 } else { 7 };
    if not_modified(cond, obj) {
        write_head(out, Status::NOT_MODIFIED, &hdrs[..n], None, keep_alive);
        return Answer {
            status: Status::NOT_MODIFIED,
            body: None,
        };
    }
    let len = obj.len;
    let range = cond.range.filter(|_| obj.ranges);
    match range.map_or(RangeOutcome::Full, |r| parse_range(r, len)) {
        RangeOutcome::Full => {
            write_head(out, Status::OK, &hdrs[..n], Some(len), keep_alive);
            Answer {
                status: Status::OK,
                body: Some(0..usize::try_from(len).unwrap_or(usize::MAX)),
            }
        }
        RangeOutcome::Partial {
            start,
            end_inclusive,
        } => {
            let cr = format!("bytes {start}-{end_inclusive}/{len}");
            hdrs[8].1 = cr.as_bytes();
            // parse_range clamps both bounds to `len`.
            let start = usize::try_from(start).unwrap_or(usize::MAX);
            let end = usize::try_from(end_inclusive.saturating_add(1)).unwrap_or(usize::MAX);
            let part_len = end.saturating_sub(start) as u64;
            write_head(
                out,
                Status::PARTIAL_CONTENT,
                &hdrs,
                Some(part_len),
                keep_alive,
            );
            Answer {
                status: Status::PARTIAL_CONTENT,
                body: Some(start..end),
            }
        }
        RangeOutcome::Unsatisfiable => {
            let cr = format!("bytes */{len}");
            hdrs[8].1 = cr.as_bytes();
            write_head(
                out,
                Status::RANGE_NOT_SATISFIABLE,
                &hdrs,
                Some(0),
                keep_alive,
            );
            Answer {
                status: Status::RANGE_NOT_SATISFIABLE,
                body: None,
            }
        }
    }
}

/// `If-None-Match` against the etag, else `If-Modified-Since` against the publication time
/// (whole seconds, as HTTP dates are).
pub(crate) fn not_modified(cond: &Conditions<'_>, obj: &Served<'_>) -> bool {
    if let Some(inm) = cond.if_none_match {
        return if_none_match_matches(inm, obj.etag);
    }
    let Some(since) = cond
        .if_modified_since
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    let since = since
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    obj.last_modified_unix_ms / 1000 <= since
}

/// `Cache-Control` of an error answer: a CDN may remember a 404 briefly (a segment not yet
/// there appears within a second); an answer that depends on who asks (403) or on the moment
/// (503, other errors) must not be stored.
pub fn error_cache_control(status: Status) -> &'static [u8] {
    if status == Status::NOT_FOUND {
        b"public, max-age=1"
    } else {
        b"no-store"
    }
}

/// The headers of a pull error answer: [`ERROR_CORS`], [`error_cache_control`], `Retry-After`
/// on a 503, then `extra` (e.g. `Allow` on a 405).
pub fn error_headers<'a>(
    status: Status,
    extra: &[(&'a str, &'a [u8])],
) -> Vec<(&'a str, &'a [u8])> {
    let mut hdrs: Vec<(&str, &[u8])> = Vec::with_capacity(ERROR_CORS.len() + extra.len() + 2);
    hdrs.extend_from_slice(&ERROR_CORS);
    hdrs.push(("Cache-Control", error_cache_control(status)));
    if status == Status::SERVICE_UNAVAILABLE {
        hdrs.push(("Retry-After", RETRY_AFTER_SECS));
    }
    hdrs.extend_from_slice(extra);
    hdrs
}

/// Writes the answer to a CORS preflight (`OPTIONS`): every origin may `GET`/`HEAD` with the
/// headers it asks for; browsers keep the answer a day.
pub fn write_preflight(out: &mut Vec<u8>, request_headers: Option<&[u8]>, keep_alive: bool) {
    let hdrs: [(&str, &[u8]); 5] = [
        ("Access-Control-Allow-Origin", b"*"),
        ("Access-Control-Allow-Methods", CORS_METHODS),
        (
            "Access-Control-Allow-Headers",
            request_headers.unwrap_or(b"*"),
        ),
        ("Access-Control-Max-Age", b"86400"),
        ("Allow", ALLOW),
    ];
    write_head(out, Status::NO_CONTENT, &hdrs, None, keep_alive);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const LM_MS: u64 = 784_111_777_000;

    fn obj(ranges: bool) -> Served<'static> {
        Served {
            len: 10,
            content_type: b"video/mp2t",
            etag: "\"e1\"",
            last_modified_unix_ms: LM_MS + 250,
            cache_control: b"public, max-age=60",
            ranges,
        }
    }

    fn run(cond: Conditions<'_>, obj: &Served<'_>, keep: bool) -> (Answer, String) {
        let mut out = Vec::new();
        let a = answer_object(
            &mut out,
            &cond,
            obj,
            "Mon, 07 Nov 1994 08:49:37 GMT",
            LM,
            keep,
        );
        (a, String::from_utf8(out).unwrap())
    }

    #[test]
    fn statuses_and_bodies() {
        let none = Conditions::default();
        let inm = |v: &'static [u8]| Conditions {
            if_none_match: Some(v),
            ..none
        };
        let ims = |v: &'static str| Conditions {
            if_modified_since: Some(v),
            ..none
        };
        let range = |v: &'static [u8]| Conditions {
            range: Some(v),
            ..none
        };
        type Body = Option<std::ops::Range<usize>>;
        // (what, request conditions, object takes ranges, status, body sent)
        let table: Vec<(&str, Conditions<'_>, bool, u16, Body)> = vec![
            ("plain segment", none, true, 200, Some(0..10)),
            ("plain manifest", none, false, 200, Some(0..10)),
            ("etag matches", inm(b"\"e1\""), true, 304, None),
            ("etag list matches", inm(b"\"x\", \"e1\""), true, 304, None),
            ("star matches", inm(b"*"), true, 304, None),
            ("weak compare", inm(b"W/\"e1\""), true, 304, None),
            ("etag differs", inm(b"\"e2\""), true, 200, Some(0..10)),
            ("same second", ims(LM), true, 304, None),
            (
                "later",
                ims("Mon, 07 Nov 1994 08:49:37 GMT"),
                true,
                304,
                None,
            ),
            (
                "earlier",
                ims("Sat, 05 Nov 1994 08:49:37 GMT"),
                true,
                200,
                Some(0..10),
            ),
            ("bad date ignored", ims("yesterday"), true, 200, Some(0..10)),
            ("first bytes", range(b"bytes=0-3"), true, 206, Some(0..4)),
            ("suffix", range(b"bytes=-3"), true, 206, Some(7..10)),
            ("open end", range(b"bytes=5-"), true, 206, Some(5..10)),
            ("clamped end", range(b"bytes=5-99"), true, 206, Some(5..10)),
            ("past the end", range(b"bytes=10-"), true, 416, None),
            (
                "manifests ignore Range",
                range(b"bytes=0-3"),
                false,
                200,
                Some(0..10),
            ),
            (
                "other units ignored",
                range(b"items=0-3"),
                true,
                200,
                Some(0..10),
            ),
        ];
        for (what, cond, ranges, status, body) in table {
            let (a, _) = run(cond, &obj(ranges), true);
            assert_eq!(a.status.code(), status, "{what}");
            assert_eq!(a.body, body, "{what}");
        }
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let cond = Conditions {
            if_none_match: Some(b"\"other\""),
            if_modified_since: Some(LM),
            range: None,
        };
        assert_eq!(run(cond, &obj(true), true).0.status, Status::OK);
    }

    #[test]
    fn heads_carry_the_headers_players_and_caches_read() {
        let (_, head) = run(Conditions::default(), &obj(true), true);
        for line in [
            "HTTP/1.1 200 OK\r\n",
            "Content-Type: video/mp2t\r\n",
            "Cache-Control: public, max-age=60\r\n",
            "ETag: \"e1\"\r\n",
            "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
            "Access-Control-Allow-Origin: *\r\n",
            "Accept-Ranges: bytes\r\n",
            "Content-Length: 10\r\n",
        ] {
            assert!(head.contains(line), "{line:?} in {head}");
        }
        assert!(!head.contains("\r\nContent-Range:"));
        assert!(!head.contains("Connection: close"));
        let (_, manifest) = run(Conditions::default(), &obj(false), false);
        assert!(!manifest.contains("Accept-Ranges"));
        assert!(manifest.contains("Connection: close\r\n"));
        let cond = Conditions {
            range: Some(b"bytes=2-4"),
            ..Conditions::default()
        };
        let (_, partial) = run(cond, &obj(true), true);
        assert!(partial.starts_with("HTTP/1.1 206 Partial Content\r\n"));
        assert!(partial.contains("Content-Range: bytes 2-4/10\r\n"));
        assert!(partial.contains("Content-Length: 3\r\n"));
        let cond = Conditions {
            range: Some(b"bytes=20-"),
            ..Conditions::default()
        };
        let (_, unsat) = run(cond, &obj(true), true);
        assert!(unsat.contains("Content-Range: bytes */10\r\n"));
        assert!(unsat.contains("Content-Length: 0\r\n"));
        let cond = Conditions {
            if_none_match: Some(b"\"e1\""),
            ..Conditions::default()
        };
        let (_, nm) = run(cond, &obj(true), true);
        assert!(nm.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(nm.contains("ETag: \"e1\"\r\n"));
        assert!(!nm.contains("\r\nContent-Length:"));
    }

    #[test]
    fn error_headers_by_status() {
        let names = |s: Status| -> Vec<(String, String)> {
            error_headers(s, &[("Allow", ALLOW)])
                .into_iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8(v.to_vec()).unwrap()))
                .collect()
        };
        let nf = names(Status::NOT_FOUND);
        assert!(nf.contains(&("Cache-Control".into(), "public, max-age=1".into())));
        assert!(!nf.iter().any(|(n, _)| n == "Retry-After"));
        let su = names(Status::SERVICE_UNAVAILABLE);
        assert!(su.contains(&("Cache-Control".into(), "no-store".into())));
        assert!(su.contains(&("Retry-After".into(), "2".into())));
        assert!(su.contains(&("Access-Control-Expose-Headers".into(), "Retry-After".into())));
        assert_eq!(su.last().unwrap().0, "Allow");
        assert!(names(Status::FORBIDDEN).contains(&("Cache-Control".into(), "no-store".into())));
    }

    #[test]
    fn preflight_allows_what_was_asked() {
        let mut out = Vec::new();
        write_preflight(&mut out, Some(b"range, x-tencent-package"), true);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(s.contains("Access-Control-Allow-Headers: range, x-tencent-package\r\n"));
        assert!(s.contains("Access-Control-Allow-Methods: GET, HEAD, POST, OPTIONS\r\n"));
        let mut out = Vec::new();
        write_preflight(&mut out, None, false);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("Access-Control-Allow-Headers: *\r\n"));
        assert!(s.contains("Connection: close\r\n"));
    }
}
