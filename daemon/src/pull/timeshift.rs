//! Time-shifted pulls: manifests asked for with `start`, `end` or `delay`, rendered over the
//! channel's archive by the endpoint's output; and segments that left the live window, sent
//! from their archive files.

use std::fs::File;
use streampack_core::channel::{EndpointConfig, EndpointType, Protocol};
use streampack_core::http::answer::{answer_object, Conditions, Served};
use streampack_core::http::{HttpError, Method, RequestHead, Status};
use streampack_core::timeshift::{self, query, ShiftRequest, Shifted};

use super::{send_error, with_http_dates};
use crate::conn::{Conn, Outcome};
use crate::context::Shared;
use crate::registry::ChannelEntry;
use crate::storage;

/// `Cache-Control` of a closed window whose end has passed: it never changes.
const COMPLETE_CACHE_CONTROL: &[u8] = b"public, max-age=86400, immutable";

/// Whether `rest` names a manifest (what time-shift parameters apply to).
pub fn is_manifest(rest: &str) -> bool {
    rest.ends_with(".m3u8") || rest.ends_with(".mpd")
}

/// Answers a manifest request that carries time-shift parameters; `None` for one that
/// carries none (a live request). Rendered from the archive alone: it answers before the
/// encoder is back after a restart.
pub async fn manifest(
    conn: &mut Conn,
    head: &RequestHead,
    shared: &Shared,
    entry: &ChannelEntry,
    endpoint: &EndpointConfig,
    rest: &str,
) -> Option<Outcome> {
    let (keep, head_only) = (head.keep_alive, head.method == Method::Head);
    let now_ms = crate::clock::now().unix_ms;
    let window_ms = entry.config.timeshift_window_secs.saturating_mul(1000);
    let parsed = query::parse(head.query(), window_ms, now_ms);
    if matches!(parsed, Ok(None)) {
        return None;
    }
    if endpoint.encryption.is_on() {
        // The archive keeps clear media: it is never served on an encrypted endpoint.
        let e = HttpError::new(
            Status::NOT_IMPLEMENTED,
            "time-shift is not offered on encrypted endpoints yet: use the live playlist",
        );
        return Some(send_error(conn, &e, keep, head_only).await);
    }
    if endpoint.kind == EndpointType::Cmaf && entry.config.protocol == Protocol::Dash {
        let e = HttpError::new(
            Status::NOT_IMPLEMENTED,
            "time-shift is not offered on the cmaf endpoints of dash channels yet: use a dash endpoint",
        );
        return Some(send_error(conn, &e, keep, head_only).await);
    }
    let window = match parsed {
        Ok(Some(w)) => w,
        Ok(None) => return None,
        Err(why) => {
            let e = HttpError::new(Status::BAD_REQUEST, why);
            return Some(send_error(conn, &e, keep, head_only).await);
        }
    };
    let Some(archive) = shared.storage.archive(&entry.config.id) else {
        let e = if shared.storage.is_loaded() {
            HttpError::new(
                Status::NOT_FOUND,
                "nothing is archived for this channel yet",
            )
        } else {
            HttpError::new(
                Status::SERVICE_UNAVAILABLE,
                "the time-shift archive is still loading",
            )
        };
        return Some(send_error(conn, &e, keep, head_only).await);
    };
    let request = ShiftRequest {
        window,
        live_ms: entry.config.window_ms(),
        window_ms,
        now_ms,
    };
    let shifted = {
        let archived = storage::read(&archive);
        match timeshift::manifest(
            endpoint.kind,
            &endpoint.manifest_name,
            rest,
            &archived,
            &request,
        ) {
            Shifted::Manifest(body, content_type) => {
                // The MPD's clock is the live output's (the archive keeps its Periods).
                let live = entry.media.load();
                let output = live.as_ref().and_then(|p| p.output(endpoint.kind));
                let clock = |t: u64| output.map_or(t, |o| o.mpd_clock(t));
                let body = timeshift::with_markers(
                    endpoint.kind,
                    rest,
                    body,
                    &archived,
                    &request,
                    endpoint.ad_markers,
                    &clock,
                );
                Shifted::Manifest(body, content_type)
            }
            other => other,
        }
    };
    let (body, content_type) = match shifted {
        Shifted::Manifest(body, content_type) => (body, content_type),
        Shifted::NotFound => {
            let e = HttpError::new(Status::NOT_FOUND, "no such playlist in the archive");
            return Some(send_error(conn, &e, keep, head_only).await);
        }
        Shifted::Empty => {
            let e = HttpError::new(
                Status::NOT_FOUND,
                "the archive holds no media in that window",
            );
            return Some(send_error(conn, &e, keep, head_only).await);
        }
    };
    // Same text, same etag, on every core and across restarts.
    let etag = format!(
        "\"t{:016x}\"",
        streampack_core::id::fnv1a64(body.as_bytes())
    );
    let complete = request.ended();
    let cache_control = if complete {
        COMPLETE_CACHE_CONTROL
    } else {
        entry
            .manifest_cache_control
            .as_deref()
            .unwrap_or(&shared.manifest_cache_control)
            .as_bytes()
    };
    let served = Served {
        len: body.len() as u64,
        content_type: content_type.as_bytes(),
        etag: &etag,
        last_modified_unix_ms: now_ms,
        cache_control,
        ranges: false,
    };
    let mut out = crate::send_buf::head_buf();
    let cond = Conditions::of(head);
    let answer = with_http_dates(now_ms, |date, lm| {
        answer_object(&mut out, &cond, &served, date, lm, keep)
    });
    Some(match answer.body.filter(|r| !head_only && !r.is_empty()) {
        Some(_) => {
            conn.answer_with_body(answer.status, out, body.into(), keep)
                .await
        }
        None => conn.answer(answer.status, out, keep).await,
    })
}

/// Answers a request for an object the live output no longer (or does not yet) hold from the
/// archive; `None` when the archive does not hold it either.
pub async fn archived_object(
    conn: &mut Conn,
    head: &RequestHead,
    shared: &Shared,
    entry: &ChannelEntry,
    endpoint: &EndpointConfig,
    rest: &str,
) -> Option<Outcome> {
    let (keep, head_only) = (head.keep_alive, head.method == Method::Head);
    if endpoint.encryption.is_on() {
        // Archived segments are clear: an encrypted endpoint serves only its own.
        return None;
    }
    let archive = shared.storage.archive(&entry.config.id)?;
    let (len, etag, content_type, last_modified) = {
        let a = storage::read(&archive);
        let found = a.find(endpoint.kind, rest)?;
        let (len, etag, ct, lm) = found.parts();
        (len, etag.to_string(), ct.to_string(), lm)
    };
    let path = shared
        .storage
        .path_of(&entry.config.id, endpoint.kind, rest);
    let file = match File::open(&path) {
        Ok(f) if f.metadata().is_ok_and(|m| m.len() == len) => f,
        // Removed by retention since the index was read.
        _ => return None,
    };
    let served = Served {
        len,
        content_type: content_type.as_bytes(),
        etag: &etag,
        last_modified_unix_ms: last_modified,
        cache_control: entry
            .segment_cache_control
            .as_deref()
            .unwrap_or(&shared.segment_cache_control)
            .as_bytes(),
        ranges: true,
    };
    let mut out = crate::send_buf::head_buf();
    let cond = Conditions::of(head);
    let answer = with_http_dates(last_modified, |date, lm| {
        answer_object(&mut out, &cond, &served, date, lm, keep)
    });
    Some(match answer.body.filter(|r| !head_only && !r.is_empty()) {
        Some(range) => {
            let n = range.len();
            conn.answer_with_file(answer.status, out, &file, range.start as u64, n, keep)
                .await
        }
        None => conn.answer(answer.status, out, keep).await,
    })
}
