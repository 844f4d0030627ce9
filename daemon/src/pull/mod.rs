//! Pull requests: `GET|HEAD /v1/<channelId>/<endpointId>/<file>` from players and CDNs.
//! The hot path loads the registry and the channel's snapshot lock-free, finds the
//! pre-rendered playlist or the shared segment `Bytes`, and writes it without copying.

use bytes::Bytes;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use streampack_core::access::cdn::{host_may_reach, host_of};
use streampack_core::access::{auth_key_ok, client_ip, ip_allowed};
use streampack_core::channel::media::Lookup;
use streampack_core::channel::{EndpointConfig, EndpointType};
use streampack_core::http::{
    if_none_match_matches, parse_range, parse_v1_path, write_head, HttpError, Method, RangeOutcome,
    RequestHead, Status,
};

pub mod cmaf;
pub mod content;
pub mod dash;

use crate::conn::Conn;
use crate::context::Shared;
use crate::metrics::{self, EndpointMetrics, ObjectType};
use crate::registry::Registry;
use content::{no_media_yet, MPD_TYPE, PLAYLIST_TYPE};

const ALLOW: &[u8] = b"GET, HEAD, OPTIONS";
/// Error answers carry CORS too: without it a browser player on another origin sees status 0
/// (a network error) instead of the 404 or 503, and cannot read the 503's `Retry-After`.
const ERROR_CORS: [(&str, &[u8]); 2] = [
    ("Access-Control-Allow-Origin", b"*"),
    ("Access-Control-Expose-Headers", b"Retry-After"),
];

/// What a successful pull answers with.
struct Answer<'a> {
    body: Bytes,
    content_type: &'a [u8],
    etag: &'a str,
    last_modified_unix_ms: u64,
    cache_control: &'a str,
    ranges: bool,
}

/// Handles one pull request; returns whether the connection stays open. The request is
/// counted on its endpoint (or as unrouted when it never reached one) and, when the access
/// log is on, logged.
pub async fn handle(conn: &mut Conn, head: RequestHead, shared: &Arc<Shared>) -> bool {
    let started = Instant::now();
    let log = shared.log_begin(&head);
    let reg = shared.registry.load();
    let sent = conn.sent;
    conn.last_status = 0;
    let mut tag = None;
    let keep = serve_request(conn, head, shared, &reg, &mut tag).await;
    let bytes = conn.sent.wrapping_sub(sent);
    metrics::pull_done(&shared.metrics, tag, conn.last_status, bytes, started);
    shared.log_end(log, conn.peer, conn.last_status, bytes, started);
    keep
}

async fn serve_request<'r>(
    conn: &mut Conn,
    head: RequestHead,
    shared: &Arc<Shared>,
    reg: &'r Registry,
    tag: &mut Option<(&'r EndpointMetrics, ObjectType)>,
) -> bool {
    let keep = head.keep_alive;
    let head_only = head.method == Method::Head;
    match head.method {
        Method::Get | Method::Head => {}
        Method::Options => return preflight(conn, &head, shared).await,
        _ => {
            let e = HttpError::new(
                Status::METHOD_NOT_ALLOWED,
                "endpoints answer GET, HEAD and OPTIONS",
            );
            let keep_open = keep && head.body == streampack_core::http::BodyKind::Empty;
            return send_error_with(conn, &e, &[("Allow", ALLOW)], keep_open, false).await;
        }
    }
    if let Err(e) = conn.discard_body(head.body, shared).await {
        return send_error(conn, &e, false, head_only).await;
    }
    if head.path() == b"/healthz" {
        let mut out = Vec::with_capacity(128);
        write_head(
            &mut out,
            Status::OK,
            &[
                ("Content-Type", b"text/plain"),
                ("Cache-Control", b"no-store"),
            ],
            Some(3),
            keep,
        );
        if !head_only {
            out.extend_from_slice(b"ok\n");
        }
        return conn.write(out).await && keep;
    }
    if head.path() == dash::TIME_PATH {
        return dash::serve_time(conn, &head, head_only).await;
    }
    let route = match parse_v1_path(head.path()) {
        Ok(r) => r,
        Err(e) => return send_error(conn, &e, keep, head_only).await,
    };
    let Some(entry) = reg.channels.get(&route.channel) else {
        return send_error(
            conn,
            &HttpError::new(Status::NOT_FOUND, "unknown channel"),
            keep,
            head_only,
        )
        .await;
    };
    let Some(endpoint) = entry.config.endpoint(&route.second) else {
        let e = HttpError::new(Status::NOT_FOUND, "unknown endpoint for this channel");
        return send_error(conn, &e, keep, head_only).await;
    };
    let host = head.header("host").and_then(host_of);
    if let Err(why) = host_may_reach(
        host.as_deref(),
        &entry.config.id,
        !entry.config.cdn_domains.is_empty(),
        |h| reg.domains.get(h).copied(),
        &shared.pull_host,
    ) {
        let e = HttpError::new(Status::NOT_FOUND, why);
        return send_error(conn, &e, keep, head_only).await;
    }
    *tag = entry
        .metrics
        .endpoint(&endpoint.id)
        .map(|m| (m, ObjectType::of_path(&route.rest)));
    if let Some(e) = access_denied(conn, &head, shared, endpoint) {
        return send_error(conn, &e, keep, head_only).await;
    }
    let mut manifest_buf = [0u8; MANIFEST_FILE_MAX];
    let manifest_owned;
    let manifest = match manifest_file_on_stack(endpoint, &mut manifest_buf) {
        Some(m) => m,
        None => {
            manifest_owned = endpoint.manifest_file();
            manifest_owned.as_str()
        }
    };
    // Each protocol's snapshot stays loaded while the answer borrows from it.
    let (hls_snap, dash_snap, cmaf_snap);
    let (lookup, manifest_type) = match endpoint.kind {
        EndpointType::Hls => {
            hls_snap = entry.media.hls.load();
            let Some(snap) = hls_snap.as_ref().filter(|s| s.main.is_some()) else {
                return send_no_media_yet(conn, keep, head_only).await;
            };
            (snap.lookup(manifest, &route.rest), PLAYLIST_TYPE)
        }
        EndpointType::Dash => {
            dash_snap = entry.media.dash.load();
            let Some(snap) = dash_snap.as_ref().filter(|s| s.mpd.is_some()) else {
                return send_no_media_yet(conn, keep, head_only).await;
            };
            (snap.lookup(manifest, &route.rest), MPD_TYPE)
        }
        EndpointType::Cmaf => {
            cmaf_snap = entry.media.cmaf.load();
            match cmaf::lookup(cmaf_snap.as_deref(), endpoint, &route.rest) {
                Ok(found) => found,
                Err(e) => return send_unavailable(conn, &e, keep, head_only).await,
            }
        }
    };
    let answer = match lookup {
        Lookup::Playlist(r) => Answer {
            body: r.body.clone(),
            content_type: manifest_type,
            etag: &r.etag,
            last_modified_unix_ms: r.last_modified_unix_ms,
            cache_control: entry
                .manifest_cache_control
                .as_deref()
                .unwrap_or(&shared.manifest_cache_control),
            ranges: false,
        },
        Lookup::Object(o) => Answer {
            body: o.body.clone(),
            content_type: o.content_type.as_bytes(),
            etag: &o.etag,
            last_modified_unix_ms: o.last_modified_unix_ms,
            cache_control: entry
                .segment_cache_control
                .as_deref()
                .unwrap_or(&shared.segment_cache_control),
            ranges: true,
        },
        Lookup::NotFound => {
            let e = HttpError::new(
                Status::NOT_FOUND,
                "no such playlist or segment (segments leave after the window)",
            );
            return send_error(conn, &e, keep, head_only).await;
        }
    };
    let (out, body) = respond(&head, &answer);
    if head_only || body.is_empty() {
        conn.write(out).await && keep
    } else {
        conn.write_with_body(out, body).await && keep
    }
}

/// The endpoint's IP lists, then its AuthKeys: `Some(403)` when the request may not pass.
fn access_denied(
    conn: &Conn,
    head: &RequestHead,
    shared: &Shared,
    endpoint: &EndpointConfig,
) -> Option<HttpError> {
    if !endpoint.allow.is_empty() || !endpoint.block.is_empty() {
        let client = client_ip(
            conn.peer.ip(),
            head.header("x-forwarded-for"),
            &shared.trusted_proxies,
        );
        if let Err(why) = ip_allowed(&endpoint.allow, &endpoint.block, client) {
            return Some(HttpError::new(Status::FORBIDDEN, why.to_string()));
        }
    }
    if !auth_key_ok(&endpoint.auth_keys, head.header(&shared.auth_key_header)) {
        let why = if head.header(&shared.auth_key_header).is_some() {
            format!("wrong {} key for this endpoint", shared.auth_key_header)
        } else {
            format!(
                "this endpoint requires the {} header",
                shared.auth_key_header
            )
        };
        return Some(HttpError::new(Status::FORBIDDEN, why));
    }
    None
}

/// Answers [`no_media_yet`].
async fn send_no_media_yet(conn: &mut Conn, keep: bool, head_only: bool) -> bool {
    send_unavailable(conn, &no_media_yet(), keep, head_only).await
}

/// Answers an error; a 503 (no media yet) says when to retry.
async fn send_unavailable(
    conn: &mut Conn,
    e: &HttpError,
    keep_alive: bool,
    head_only: bool,
) -> bool {
    let extra: &[(&str, &[u8])] = if e.status == Status::SERVICE_UNAVAILABLE {
        &[("Retry-After", b"2")]
    } else {
        &[]
    };
    send_error_with(conn, e, extra, keep_alive, head_only).await
}

/// Answers an error with [`ERROR_CORS`].
async fn send_error(conn: &mut Conn, e: &HttpError, keep_alive: bool, head_only: bool) -> bool {
    send_error_with(conn, e, &[], keep_alive, head_only).await
}

/// Answers an error with [`ERROR_CORS`] and `extra` headers.
async fn send_error_with(
    conn: &mut Conn,
    e: &HttpError,
    extra: &[(&str, &[u8])],
    keep_alive: bool,
    head_only: bool,
) -> bool {
    let mut hdrs: Vec<(&str, &[u8])> = Vec::with_capacity(ERROR_CORS.len() + extra.len() + 1);
    hdrs.extend_from_slice(&ERROR_CORS);
    // A CDN may remember a 404 briefly (a segment not yet there appears within a second); an
    // answer that depends on who asks (403) or on the moment (503, 4xx/5xx) must not be stored.
    let cache: &[u8] = if e.status == Status::NOT_FOUND {
        b"public, max-age=1"
    } else {
        b"no-store"
    };
    hdrs.push(("Cache-Control", cache));
    hdrs.extend_from_slice(extra);
    conn.send_error_with(e, &hdrs, keep_alive, head_only).await
}

/// Builds the response head (and the body slice to send) for a found object.
fn respond(head: &RequestHead, a: &Answer<'_>) -> (Vec<u8>, Bytes) {
    with_http_dates(a.last_modified_unix_ms, |date, lm| {
        respond_dated(head, a, date, lm)
    })
}

/// [`respond`] with the `Date` and `Last-Modified` values. The headers live in an array on
/// the stack (the last two slots only for segments: `Accept-Ranges`, then `Content-Range`).
fn respond_dated(head: &RequestHead, a: &Answer<'_>, date: &str, lm: &str) -> (Vec<u8>, Bytes) {
    let keep = head.keep_alive;
    let mut hdrs: [(&str, &[u8]); 9] = [
        ("Date", date.as_bytes()),
        ("Content-Type", a.content_type),
        ("Cache-Control", a.cache_control.as_bytes()),
        ("ETag", a.etag.as_bytes()),
        ("Last-Modified", lm.as_bytes()),
        ("Access-Control-Allow-Origin", b"*"),
        (
            "Access-Control-Expose-Headers",
            b"Content-Length, Content-Range, ETag, Age",
        ),
        ("Accept-Ranges", b"bytes"),
        ("Content-Range", b""),
    ];
    let n = if a.ranges { 8 } else { 7 };
    let mut out = Vec::with_capacity(512);
    if not_modified(head, a) {
        write_head(&mut out, Status::NOT_MODIFIED, &hdrs[..n], None, keep);
        return (out, Bytes::new());
    }
    let len = a.body.len() as u64;
    if a.ranges {
        if let Some(value) = head.header("range") {
            match parse_range(value, len) {
                RangeOutcome::Full => {}
                RangeOutcome::Partial {
                    start,
                    end_inclusive,
                } => {
                    let cr = format!("bytes {start}-{end_inclusive}/{len}");
                    hdrs[8].1 = cr.as_bytes();
                    // Bounds come from parse_range, which clamps them to `len`.
                    let (s, e) = (start as usize, end_inclusive as usize + 1);
                    let part = a.body.slice(s.min(a.body.len())..e.min(a.body.len()));
                    write_head(
                        &mut out,
                        Status::PARTIAL_CONTENT,
                        &hdrs,
                        Some(part.len() as u64),
                        keep,
                    );
                    return (out, part);
                }
                RangeOutcome::Unsatisfiable => {
                    let cr = format!("bytes */{len}");
                    hdrs[8].1 = cr.as_bytes();
                    write_head(
                        &mut out,
                        Status::RANGE_NOT_SATISFIABLE,
                        &hdrs,
                        Some(0),
                        keep,
                    );
                    return (out, Bytes::new());
                }
            }
        }
    }
    write_head(&mut out, Status::OK, &hdrs[..n], Some(len), keep);
    (out, a.body.clone())
}

fn not_modified(head: &RequestHead, a: &Answer<'_>) -> bool {
    if let Some(inm) = head.header("if-none-match") {
        return if_none_match_matches(inm, a.etag);
    }
    if let Some(ims) = head.header_str("if-modified-since") {
        if let Ok(t) = httpdate::parse_http_date(ims) {
            let since = t
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            return a.last_modified_unix_ms / 1000 <= since;
        }
    }
    false
}

async fn preflight(conn: &mut Conn, head: &RequestHead, shared: &Shared) -> bool {
    if let Err(e) = conn.discard_body(head.body, shared).await {
        return send_error(conn, &e, false, false).await;
    }
    let req_headers = head
        .header("access-control-request-headers")
        .unwrap_or(b"*");
    let hdrs: [(&str, &[u8]); 5] = [
        ("Access-Control-Allow-Origin", b"*"),
        ("Access-Control-Allow-Methods", ALLOW),
        ("Access-Control-Allow-Headers", req_headers),
        ("Access-Control-Max-Age", b"86400"),
        ("Allow", ALLOW),
    ];
    let mut out = Vec::with_capacity(256);
    write_head(&mut out, Status::NO_CONTENT, &hdrs, None, head.keep_alive);
    conn.write(out).await && head.keep_alive
}

/// Longest manifest file name built on the stack: names are at most 32 characters, plus the
/// dot and the extension (longer ones, if the limit ever grows, take a `String`).
const MANIFEST_FILE_MAX: usize = 48;

/// The endpoint's manifest file (`<manifest_name>.<ext>`, as
/// [`EndpointConfig::manifest_file`]) written into `buf`, or `None` when it does not fit.
fn manifest_file_on_stack<'b>(
    endpoint: &EndpointConfig,
    buf: &'b mut [u8; MANIFEST_FILE_MAX],
) -> Option<&'b str> {
    let name = endpoint.manifest_name.as_bytes();
    let ext = endpoint.kind.manifest_extension().as_bytes();
    let len = name.len().checked_add(1)?.checked_add(ext.len())?;
    let out = buf.get_mut(..len)?;
    let (n, rest) = out.split_at_mut(name.len());
    n.copy_from_slice(name);
    let (dot, e) = rest.split_at_mut(1);
    dot.copy_from_slice(b".");
    e.copy_from_slice(ext);
    std::str::from_utf8(out).ok()
}

/// Runs `f` with the `Date` value (now) and the `Last-Modified` value of `unix_ms`, borrowed
/// from per-thread caches: each is formatted at most once per second (`Date`) or once per
/// change (the same playlist or segment is asked for many times in a row), never copied.
fn with_http_dates<R>(unix_ms: u64, f: impl FnOnce(&str, &str) -> R) -> R {
    thread_local! {
        static NOW: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
        static LAST: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let lm_secs = unix_ms / 1000;
    NOW.with(|date| {
        LAST.with(|lm| {
            let mut date = date.borrow_mut();
            if date.0 != now_secs || date.1.is_empty() {
                *date = (now_secs, httpdate::fmt_http_date(now));
            }
            let mut lm = lm.borrow_mut();
            if lm.0 != lm_secs || lm.1.is_empty() {
                *lm = (
                    lm_secs,
                    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(lm_secs)),
                );
            }
            f(&date.1, &lm.1)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(kind: &str, manifest_name: &str) -> EndpointConfig {
        let json = format!(
            r#"{{"id":"0123456789abcdef0123456789ab","name":"e","type":"{kind}","manifest_name":"{manifest_name}"}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn manifest_file_on_stack_is_manifest_file() {
        for kind in ["hls", "dash", "cmaf"] {
            for name in ["main", "x", "A_b-9", &"n".repeat(32)] {
                let ep = endpoint(kind, name);
                let mut buf = [0u8; MANIFEST_FILE_MAX];
                assert_eq!(
                    manifest_file_on_stack(&ep, &mut buf),
                    Some(ep.manifest_file().as_str())
                );
            }
        }
        // Too long for the stack: the caller falls back to the `String`.
        let ep = endpoint("hls", &"n".repeat(MANIFEST_FILE_MAX));
        let mut buf = [0u8; MANIFEST_FILE_MAX];
        assert_eq!(manifest_file_on_stack(&ep, &mut buf), None);
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        with_http_dates(784_111_777_000, |date, lm| {
            assert_eq!(lm, "Sun, 06 Nov 1994 08:49:37 GMT");
            assert_eq!(date.len(), 29);
            assert!(date.ends_with(" GMT"));
        });
        // A second object in the same second of "now" gets its own Last-Modified.
        with_http_dates(0, |_, lm| assert_eq!(lm, "Thu, 01 Jan 1970 00:00:00 GMT"));
    }
}
