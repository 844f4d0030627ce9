//! Pulls on a cluster node for a channel whose media another node makes: the request is
//! fetched from that node (the nodes receiving the channel's inputs, best first), kept in the
//! shared cache (segments for the segment TTL, playlists for half a second: concurrent misses
//! make one fetch), and answered here with the same conditional and range handling as local
//! media. The bytes are the making node's, so every node serves the same playlists and
//! segment names. A request that carries the cluster secret is itself a node's fetch: it is
//! always answered from this node's own media.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use streampack_core::http::answer::{answer_object, Conditions, Served};
use streampack_core::http::{write_head, HttpError, Method, RequestHead, Status};
use streampack_core::id::Id;

use crate::cluster::cache::{Fetched, Found};
use crate::cluster::peer_http::{self, PeerAnswer};
use crate::cluster::plane::PeerPlane;
use crate::conn::{Conn, Outcome};
use crate::context::Shared;

/// How long a fetched playlist or manifest is served again.
const MANIFEST_TTL: Duration = Duration::from_millis(500);
/// How long a segment or playlist fetch may take (a blocking LL-HLS reload waits for its part).
const FETCH_TIMEOUT: Duration = Duration::from_secs(12);

/// Answers `head` with channel `channel`'s media fetched from the node that makes it; `None`
/// when this node serves it itself (it makes the channel's media, or no node does). A
/// ClearKey licence request (`license`: its body) is sent on as it is, never cached.
pub async fn serve(
    conn: &mut Conn,
    head: &RequestHead,
    shared: &Shared,
    channel: &Id,
    (manifest, license): (bool, Option<&[u8]>),
) -> Option<Outcome> {
    let plane = shared.cluster.as_ref()?;
    let (route, secret) = {
        let routes = plane.routes.load();
        let route = routes.channels.get(channel)?;
        if route.fetch_from.is_empty() {
            return None;
        }
        (Arc::clone(route), Arc::clone(routes.secret.as_ref()?))
    };
    let (from, makes_media) = (&route.fetch_from, route.makes_media);
    let target = streampack_core::http::strip_scheme_and_authority(&head.target);
    let target = String::from_utf8_lossy(target).into_owned();
    let ttl = if manifest {
        MANIFEST_TTL
    } else {
        Duration::from_secs(u64::from(shared.config.cache.segment_max_age_secs))
    };
    let fetched = match license {
        None => fetch(plane, shared, (from, makes_media), &target, &secret, ttl).await,
        Some(body) => post(shared, from, &target, &secret, body).await,
    };
    let keep = head.keep_alive;
    let head_only = head.method == Method::Head;
    match fetched {
        Some(f) => Some(answer(conn, head, &f, keep, head_only).await),
        None if makes_media => None,
        None => {
            let names: Vec<&str> = from.iter().map(|(n, _)| n.as_str()).collect();
            let e = HttpError::new(
                Status::BAD_GATEWAY,
                format!(
                    "the nodes making this channel's media ({}) cannot be reached",
                    names.join(", ")
                ),
            );
            Some(conn.send_error(&e, keep, head_only).await)
        }
    }
}

/// The answer for `target`: cached, waited for, or fetched from the first node of `from`
/// that answers without a server error (a 5xx: the next is asked; when every one fails so,
/// the last 5xx is the answer, unless this node makes the media itself: `None`, serve it).
async fn fetch(
    plane: &PeerPlane,
    shared: &Shared,
    (from, makes_media): (&[(String, std::net::SocketAddr)], bool),
    target: &str,
    secret: &str,
    ttl: Duration,
) -> Option<Arc<Fetched>> {
    let max_body = shared.config.limits.max_object_bytes;
    let started = Instant::now();
    loop {
        match plane.cache.find(target, Instant::now()) {
            Found::Hit(f) => {
                plane.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Some(f);
            }
            Found::Wait(listener) => {
                let left = FETCH_TIMEOUT.saturating_sub(started.elapsed());
                if left.is_zero() || monoio::time::timeout(left, listener).await.is_err() {
                    return None;
                }
            }
            Found::Fetch(turn) => {
                let mut failed_with = None;
                for (name, addr) in from {
                    let limits = (FETCH_TIMEOUT, max_body);
                    match peer_http::get(*addr, target, secret, None, limits).await {
                        Ok(a) if a.status >= 500 => {
                            tracing::debug!(node = %name, %target, status = a.status, "cluster fetch: server error");
                            failed_with = Some(Arc::new(fetched(a)));
                        }
                        Ok(a) => {
                            let f = Arc::new(fetched(a));
                            let keep_for = if f.status == 200 { ttl } else { Duration::ZERO };
                            turn.done(Arc::clone(&f), keep_for);
                            plane.stats.fetched.fetch_add(1, Ordering::Relaxed);
                            return Some(f);
                        }
                        Err(e) => {
                            tracing::debug!(node = %name, %target, "cluster fetch failed: {e}");
                        }
                    }
                }
                plane.stats.fetch_failed.fetch_add(1, Ordering::Relaxed);
                return match failed_with {
                    Some(f) if !makes_media => {
                        turn.done(Arc::clone(&f), Duration::ZERO);
                        Some(f)
                    }
                    _ => None,
                };
            }
        }
    }
}

/// A licence request sent to the first making node that answers.
async fn post(
    shared: &Shared,
    from: &[(String, std::net::SocketAddr)],
    target: &str,
    secret: &str,
    body: &[u8],
) -> Option<Arc<Fetched>> {
    let limits = (FETCH_TIMEOUT, shared.config.limits.max_object_bytes);
    for (name, addr) in from {
        match peer_http::get(*addr, target, secret, Some(body), limits).await {
            Ok(a) => return Some(Arc::new(fetched(a))),
            Err(e) => tracing::debug!(node = %name, %target, "cluster licence request failed: {e}"),
        }
    }
    None
}

fn fetched(a: PeerAnswer) -> Fetched {
    let text = |name| a.header(name).map(<[u8]>::to_vec).unwrap_or_default();
    let last_modified_unix_ms = a
        .header("last-modified")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    Fetched {
        status: a.status,
        content_type: text("content-type"),
        cache_control: text("cache-control"),
        etag: String::from_utf8_lossy(&text("etag")).into_owned(),
        last_modified_unix_ms,
        body: a.body,
    }
}

/// Answers from a fetched answer: a `200` as local media is answered (conditions, ranges of
/// segments), anything else as the making node answered it.
async fn answer(
    conn: &mut Conn,
    head: &RequestHead,
    f: &Fetched,
    keep: bool,
    head_only: bool,
) -> Outcome {
    let mut out = crate::send_buf::head_buf();
    if f.status != 200 || head.method == Method::Post {
        let status = Status(f.status);
        let cache_control: &[u8] = match f.status {
            200 if !f.cache_control.is_empty() => &f.cache_control,
            _ => b"no-store",
        };
        write_head(
            &mut out,
            status,
            &[
                ("Content-Type", &f.content_type),
                ("Cache-Control", cache_control),
                ("Access-Control-Allow-Origin", b"*"),
            ],
            Some(f.body.len() as u64),
            keep,
        );
        return if head_only {
            conn.answer(status, out, keep).await
        } else {
            conn.answer_with_body(status, out, f.body.clone(), keep)
                .await
        };
    }
    let served = Served {
        len: f.body.len() as u64,
        content_type: &f.content_type,
        etag: &f.etag,
        last_modified_unix_ms: f.last_modified_unix_ms,
        cache_control: &f.cache_control,
        ranges: !super::timeshift::is_manifest(&String::from_utf8_lossy(head.path())),
    };
    let cond = Conditions::of(head);
    let answer = super::with_http_dates(served.last_modified_unix_ms, |date, lm| {
        answer_object(&mut out, &cond, &served, date, lm, keep)
    });
    match answer.body.filter(|r| !head_only && !r.is_empty()) {
        Some(range) => {
            let end = range.end.min(f.body.len());
            let part = f.body.slice(range.start.min(end)..end);
            conn.answer_with_body(answer.status, out, part, keep).await
        }
        None => conn.answer(answer.status, out, keep).await,
    }
}
