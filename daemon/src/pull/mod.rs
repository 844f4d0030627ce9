//! Pull requests: `GET|HEAD /v1/<channelId>/<endpointId>/<file>` from players and CDNs.
//! The hot path loads the registry and the channel's snapshot lock-free, finds the
//! pre-rendered playlist or the shared segment `Bytes`, and writes it without copying.

use bytes::Bytes;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use streampack_core::access::cdn::{host_may_reach, host_of};
use streampack_core::access::{auth_key_ok, client_ip, ip_allowed};
use streampack_core::channel::EndpointConfig;
use streampack_core::encryption::KEY_DIR;
use streampack_core::hls::directives::Skip;
use streampack_core::http::answer::{
    answer_object, error_headers, write_preflight, Conditions, Served, ALLOW,
};
use streampack_core::http::prepared::PreparedHeads;
use streampack_core::http::{parse_v1_path, write_head, HttpError, Method, RequestHead, Status};
use streampack_core::media::{Lookup, Unavailable, Variant};

pub mod blocking;
pub mod content;
pub mod dash;
pub mod growing;
pub mod keys;
pub mod peer;
pub mod timeshift;

use crate::conn::{Conn, Outcome};
use crate::context::Shared;
use crate::metrics::{self, EndpointMetrics, ObjectType};
use crate::registry::Registry;
use content::no_media_yet;

/// Handles one pull request; returns whether the connection stays open. The request is
/// counted on its endpoint (or as unrouted when it never reached one) and, when the access
/// log is on, logged.
pub async fn handle(conn: &mut Conn, head: RequestHead, shared: &Arc<Shared>) -> bool {
    let started = Instant::now();
    let log = shared.log_begin(&head);
    let reg = shared.registry.load();
    let sent = conn.sent;
    let mut tag = None;
    let outcome = serve_request(conn, head, shared, &reg, &mut tag).await;
    let bytes = conn.sent.wrapping_sub(sent);
    let status = outcome.status.code();
    metrics::pull_done(&shared.metrics, tag, status, bytes, started);
    shared.log_end(log, conn.peer, status, bytes, started);
    outcome.keep_alive
}

async fn serve_request<'r>(
    conn: &mut Conn,
    head: RequestHead,
    shared: &Arc<Shared>,
    reg: &'r Registry,
    tag: &mut Option<(&'r EndpointMetrics, ObjectType)>,
) -> Outcome {
    let keep = head.keep_alive;
    let head_only = head.method == Method::Head;
    // A ClearKey licence request is the one body a pull takes (read first: no media view is
    // held while it arrives).
    let mut license_request = None;
    match head.method {
        Method::Get | Method::Head => {}
        Method::Options => return preflight(conn, &head, shared).await,
        Method::Post if keys::is_license_path(head.path()) => {
            match keys::read_license_request(conn, &head).await {
                Ok(body) => license_request = Some(body),
                Err(e) => return send_error(conn, &e, false, false).await,
            }
        }
        _ => {
            let e = HttpError::new(
                Status::METHOD_NOT_ALLOWED,
                "endpoints answer GET, HEAD and OPTIONS",
            );
            let keep_open = keep && head.body == streampack_core::http::BodyKind::Empty;
            return send_error_with(conn, &e, &[("Allow", ALLOW)], keep_open, false).await;
        }
    }
    if license_request.is_none() {
        if let Err(e) = conn.discard_body(head.body, shared).await {
            return send_error(conn, &e, false, head_only).await;
        }
    }
    if head.path() == b"/healthz" {
        let mut out = crate::send_buf::head_buf();
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
        return conn.answer(Status::OK, out, keep).await;
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
    // Another cluster node's fetch: it checked the player's host and access already.
    let from_peer = shared.from_peer(&head);
    let host = head.header("host").and_then(host_of);
    if from_peer {
    } else if let Err(why) = host_may_reach(
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
    if let Some(e) = access_denied(conn, &head, shared, endpoint).filter(|_| !from_peer) {
        return send_error(conn, &e, keep, head_only).await;
    }
    if !from_peer {
        let manifest = timeshift::is_manifest(&route.rest);
        let how = (manifest, license_request.as_deref());
        if let Some(outcome) = peer::serve(conn, &head, shared, &route.channel, how).await {
            return outcome;
        }
    }
    // The channel's published media stays loaded while the answer borrows from it.
    let published = entry.media.load();
    let output = published.as_ref().and_then(|p| p.output_for(endpoint));
    if let Some(body) = &license_request {
        return keys::license(
            conn,
            &head,
            output.filter(|_| endpoint.encryption.is_on()),
            body,
        )
        .await;
    }
    if endpoint.encryption.is_on()
        && route
            .rest
            .strip_prefix(KEY_DIR)
            .is_some_and(|r| r.starts_with('/'))
    {
        return keys::serve(conn, &head, output, &route.rest).await;
    }
    let manifest = timeshift::is_manifest(&route.rest);
    let refused = |o: &dyn streampack_core::media::MediaOutput| {
        matches!(
            o.lookup(&endpoint.manifest_name, &route.rest),
            Err(Unavailable::Refused(_))
        )
    };
    if manifest && !head.query().is_empty() && !output.is_some_and(refused) {
        let shifted = timeshift::manifest(conn, &head, shared, entry, endpoint, &route.rest);
        if let Some(outcome) = shifted.await {
            return outcome;
        }
    }
    // LL-HLS delivery directives: a Delta Update asked for, or a blocking reload held until
    // its segment or part is there (then answered from the newest media).
    let mut variant = Variant {
        low_latency: endpoint.low_latency,
        delta: false,
    };
    let mut published = published;
    if manifest && endpoint.low_latency && blocking::has_directives(head.query()) {
        let dirs = match blocking::parse(head.query()) {
            Ok(d) => d,
            Err(e) => return send_error(conn, &e, keep, head_only).await,
        };
        variant.delta = dirs.skip != Skip::No;
        if dirs.block.is_some() {
            drop(published);
            if let Err(e) = blocking::wait(entry, endpoint, &route.rest, dirs).await {
                return send_error(conn, &e, keep, head_only).await;
            }
            published = entry.media.load();
        }
    }
    let output = published.as_ref().and_then(|p| p.output_for(endpoint));
    let lookup = output.map(|o| o.lookup_with(&endpoint.manifest_name, &route.rest, variant));
    let lookup = match lookup {
        Some(Ok(found)) => found,
        None | Some(Err(Unavailable::NoMediaYet)) => {
            if !manifest {
                let archived =
                    timeshift::archived_object(conn, &head, shared, entry, endpoint, &route.rest);
                if let Some(outcome) = archived.await {
                    return outcome;
                }
            }
            return send_error(conn, &no_media_yet(), keep, head_only).await;
        }
        Some(Err(Unavailable::Waiting(why))) => {
            let e = HttpError::new(Status::SERVICE_UNAVAILABLE, why.to_string());
            return send_error(conn, &e, keep, head_only).await;
        }
        Some(Err(Unavailable::Refused(why))) => {
            let e = HttpError::new(Status::NOT_IMPLEMENTED, why.to_string());
            return send_error(conn, &e, keep, head_only).await;
        }
    };
    let (body, object, heads, served) = match lookup {
        // A segment still arriving streams for as long as it grows: the media view it came
        // from is let go first.
        Lookup::Growing(o, content_type) => {
            let object = Arc::clone(o);
            drop(published);
            let how = streamed(shared, entry, content_type, keep, head_only);
            return growing::serve(conn, object, how).await;
        }
        Lookup::Part(o, i, content_type) => {
            let object = Arc::clone(o);
            drop(published);
            let how = streamed(shared, entry, content_type, keep, head_only);
            return growing::serve_part(conn, object, i, how).await;
        }
        Lookup::Manifest(r, content_type) => (
            &r.body,
            None,
            Some(&*r.heads),
            Served {
                len: r.body.len() as u64,
                content_type: content_type.as_bytes(),
                etag: &r.etag,
                last_modified_unix_ms: r.last_modified_unix_ms,
                cache_control: entry
                    .manifest_cache_control
                    .as_deref()
                    .unwrap_or(&shared.manifest_cache_control)
                    .as_bytes(),
                ranges: false,
            },
        ),
        Lookup::Object(o) => (
            &o.body,
            Some(o),
            None,
            Served {
                len: o.body.len() as u64,
                content_type: o.content_type.as_bytes(),
                etag: &o.etag,
                last_modified_unix_ms: o.last_modified_unix_ms,
                cache_control: entry
                    .segment_cache_control
                    .as_deref()
                    .unwrap_or(&shared.segment_cache_control)
                    .as_bytes(),
                ranges: true,
            },
        ),
        Lookup::NotFound => {
            if !manifest {
                let archived =
                    timeshift::archived_object(conn, &head, shared, entry, endpoint, &route.rest);
                if let Some(outcome) = archived.await {
                    return outcome;
                }
            }
            let e = HttpError::new(
                Status::NOT_FOUND,
                "no such playlist or segment (segments leave after the window)",
            );
            return send_error(conn, &e, keep, head_only).await;
        }
    };
    let mut out = crate::send_buf::head_buf();
    let cond = Conditions::of(&head);
    // A manifest on a keep-alive connection: its version's heads, rendered once.
    let prepared = heads.filter(|_| keep);
    let answer = with_http_dates(served.last_modified_unix_ms, |date, lm| {
        match prepared.map(|cell| cell.get_or_init(|| PreparedHeads::new(&served, lm))) {
            Some(h) if h.fits(&served) => h.answer(&mut out, &cond, &served, date),
            _ => answer_object(&mut out, &cond, &served, date, lm, keep),
        }
    });
    match answer.body.filter(|r| !head_only && !r.is_empty()) {
        Some(range) => {
            let part = slice(body, range);
            // Objects pulls ask for often are moved into pages of their own by the owner.
            if object.is_some_and(|o| o.count_pull()) {
                entry.media.want_promotion();
            }
            let backing = object.and_then(|o| o.backing.as_ref());
            conn.answer_with_pages(answer.status, out, part, backing, keep)
                .await
        }
        None => conn.answer(answer.status, out, keep).await,
    }
}

/// How a growing segment or part of `entry` is streamed.
fn streamed<'a>(
    shared: &'a Shared,
    entry: &'a crate::registry::ChannelEntry,
    content_type: &'static str,
    keep_alive: bool,
    head_only: bool,
) -> growing::Streamed<'a> {
    growing::Streamed {
        content_type,
        cache_control: entry
            .segment_cache_control
            .as_deref()
            .unwrap_or(&shared.segment_cache_control)
            .as_bytes(),
        idle: Duration::from_millis(entry.config.max_segment_ms().saturating_add(1_000)),
        keep_alive,
        head_only,
    }
}

/// `range` of `body` (clamped: the answer's bounds come from its length), shared, not copied.
fn slice(body: &Bytes, range: std::ops::Range<usize>) -> Bytes {
    let end = range.end.min(body.len());
    body.slice(range.start.min(end)..end)
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

/// Answers an error with the CORS and caching headers of pull errors (and `Retry-After` on a
/// 503).
pub(crate) async fn send_error(
    conn: &mut Conn,
    e: &HttpError,
    keep_alive: bool,
    head_only: bool,
) -> Outcome {
    send_error_with(conn, e, &[], keep_alive, head_only).await
}

/// [`send_error`] with `extra` headers.
async fn send_error_with(
    conn: &mut Conn,
    e: &HttpError,
    extra: &[(&str, &[u8])],
    keep_alive: bool,
    head_only: bool,
) -> Outcome {
    let hdrs = error_headers(e.status, extra);
    conn.send_error_with(e, &hdrs, keep_alive, head_only).await
}

async fn preflight(conn: &mut Conn, head: &RequestHead, shared: &Shared) -> Outcome {
    if let Err(e) = conn.discard_body(head.body, shared).await {
        return send_error(conn, &e, false, false).await;
    }
    let mut out = crate::send_buf::head_buf();
    write_preflight(
        &mut out,
        head.header("access-control-request-headers"),
        head.keep_alive,
    );
    conn.answer(Status::NO_CONTENT, out, head.keep_alive).await
}

/// Runs `f` with the `Date` value (now) and the `Last-Modified` value of `unix_ms`, borrowed
/// from per-thread caches: each is formatted at most once per second (`Date`) or once per
/// change (the same playlist or segment is asked for many times in a row), never copied.
pub(crate) fn with_http_dates<R>(unix_ms: u64, f: impl FnOnce(&str, &str) -> R) -> R {
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
