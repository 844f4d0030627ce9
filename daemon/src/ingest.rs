//! Ingest requests: `PUT|POST|DELETE /v1/<channelId>/<inputId>/<path>`. Everything that can be
//! refused from the head (route, method, size) is refused before the body is read, so an
//! encoder that sent `Expect: 100-continue` never uploads a body for nothing.

use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use streampack_core::channel::{InputRole, Protocol};
use streampack_core::dash::is_fmp4_segment_path;
use streampack_core::fmp4::chunks::{ChunkCutter, TrackDefaults};
use streampack_core::http::{
    parse_v1_path, write_head, BodyDecoder, BodyKind, HttpError, Method, RequestHead, Status,
    CONTINUE_100,
};
use streampack_core::id::Id;
use streampack_core::media::growing::{ChunkIn, PartInfo};
use streampack_core::media::{Body, IngestError};

use crate::conn::{Conn, Outcome};
use crate::context::Shared;
use crate::metrics;
use crate::shard::{ChunkOp, IngestDone, IngestOp, ShardMsg};

const ALLOW: &[u8] = b"PUT, POST, DELETE";

/// Is this path a manifest (smaller size cap)?
fn is_manifest(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.ends_with(".m3u8") || p.ends_with(".mpd")
}

/// Maps the core's ingest errors to HTTP: the one place this is decided.
pub fn ingest_error(e: &IngestError) -> HttpError {
    let status = match e {
        IngestError::UnsupportedMedia(_) => Status::UNSUPPORTED_MEDIA_TYPE,
        IngestError::BadPlaylist(_) => Status::BAD_REQUEST,
    };
    HttpError::new(status, e.to_string())
}

/// Where the chunks of an upload go: the channel's owner.
struct ChunkTo<'a> {
    inbox: &'a flume::Sender<ShardMsg>,
    channel: Id,
    input: InputRole,
    path: &'a str,
    /// This upload, unique in the daemon's life: chunks of another one at the same path (a
    /// retry overlapping a stalled original) never mix with its.
    upload: u64,
}

/// Upload ids.
static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl ChunkTo<'_> {
    fn op(&self, offset: usize, bytes: Bytes, part: Option<PartInfo>) -> ChunkOp {
        ChunkOp {
            channel: self.channel,
            input: self.input,
            path: self.path.to_string(),
            chunk: ChunkIn {
                upload: self.upload,
                offset,
                bytes,
                part,
            },
        }
    }
}

/// Reads a chunked segment upload whole, handing each CMAF chunk to the owner the moment its
/// last byte is here (a copy: the whole body stays one buffer, stored when it ends). A body
/// that is not a sequence of chunks is only stored whole; one that breaks off is reported, so
/// that what was streamed of it is never taken for a whole segment.
async fn read_by_chunk(
    conn: &mut Conn,
    mut dec: BodyDecoder,
    limit: Duration,
    to: ChunkTo<'_>,
) -> Result<Bytes, HttpError> {
    let deadline = monoio::time::Instant::now() + limit;
    let mut out = bytes::BytesMut::with_capacity(64 * 1024);
    // Encoders state chunk timing in the `moof` (`tfhd` defaults): no `trex` defaults here; a
    // chunk whose samples take their duration from `trex` has no known duration.
    let mut cutter = Some(ChunkCutter::new(TrackDefaults::default()));
    let mut sent_any = false;
    loop {
        let step = conn.read_body_step(&mut dec, &mut out, deadline).await;
        let done = match step {
            Ok(done) => done,
            Err(e) => {
                if sent_any {
                    let _ = to.inbox.send(ShardMsg::Abort(to.op(0, Bytes::new(), None)));
                }
                return Err(e);
            }
        };
        if let Some(c) = cutter.as_mut() {
            match c.feed(&out) {
                Ok(chunks) => {
                    for ch in chunks {
                        let part = (ch.duration > 0).then_some(PartInfo {
                            duration: ch.duration,
                            independent: ch.independent,
                        });
                        let offset = ch.range.start;
                        let bytes = Bytes::copy_from_slice(&out[ch.range]);
                        let _ = to.inbox.send(ShardMsg::Chunk(to.op(offset, bytes, part)));
                        sent_any = true;
                    }
                }
                Err(e) => {
                    tracing::debug!(path = to.path, "not cut into chunks: {e}");
                    cutter = None;
                }
            }
        }
        if done {
            return Ok(out.freeze());
        }
    }
}

/// Cluster mode: sends an encoder's push on to the other nodes receiving the channel's
/// inputs (`body` `None`: a deletion).
fn relay(shared: &Shared, channel: &Id, head: &RequestHead, body: Option<&Bytes>) {
    let Some(plane) = &shared.cluster else { return };
    let routes = plane.routes.load();
    let (Some(route), Some(secret)) = (routes.channels.get(channel), &routes.secret) else {
        return;
    };
    if route.relay_to.is_empty() {
        return;
    }
    let target = String::from_utf8_lossy(streampack_core::http::strip_scheme_and_authority(
        &head.target,
    ));
    plane.relay.send(&route.relay_to, &target, body, secret);
}

/// What serving a request learned, for counting and remembering a refusal on its input.
#[derive(Default)]
struct Seen {
    /// The channel and input it was routed to.
    input: Option<(Id, InputRole)>,
    /// The path below the input's URL.
    path: String,
    /// Why it was refused.
    reason: std::borrow::Cow<'static, str>,
}

/// Handles one ingest request; returns whether the connection stays open. Refusals are
/// counted on their input (or as unrouted) and, when the access log is on, it is logged.
pub async fn handle(conn: &mut Conn, head: RequestHead, shared: &Arc<Shared>) -> bool {
    let started = Instant::now();
    let log = shared.log_begin(&head);
    let sent = conn.sent;
    let mut seen = Seen::default();
    let outcome = serve_request(conn, head, shared, &mut seen).await;
    let status = outcome.status.code();
    // The channel's counters are looked up only for an error (the only case counted per input).
    let channel_metrics = seen
        .input
        .filter(|_| status >= 400)
        .and_then(|(id, _)| shared.registry.load().channels.get(&id).cloned());
    metrics::ingest_done(
        &shared.metrics,
        seen.input
            .map(|(_, role)| (role, channel_metrics.as_ref().map(|e| &e.metrics))),
        metrics::IngestAnswered {
            status,
            reason: &seen.reason,
            path: &seen.path,
            at_unix_ms: crate::clock::now().unix_ms,
        },
    );
    let bytes = conn.sent.wrapping_sub(sent);
    shared.log_end(log, conn.peer, status, bytes, started);
    outcome.keep_alive
}

async fn serve_request(
    conn: &mut Conn,
    head: RequestHead,
    shared: &Arc<Shared>,
    seen: &mut Seen,
) -> Outcome {
    let keep = head.keep_alive;
    // `WWW-Authenticate` values when the answer is 401.
    let mut challenge_values: Vec<String> = Vec::new();
    let challenge = &mut challenge_values;
    // `Retry-After` seconds when the answer is 429.
    let mut retry_after_secs: Option<u64> = None;
    let retry_after = &mut retry_after_secs;
    let has_body = head.body != BodyKind::Empty;
    // An error answered before the body was read must close the connection unless there is
    // no body: the unread bytes would otherwise be taken for the next request.
    let early = |e: HttpError| (e, keep && !has_body);

    let outcome: Result<Status, (HttpError, bool)> = async {
        let is_delete = match head.method {
            Method::Put | Method::Post => false,
            Method::Delete => true,
            _ => {
                let e = HttpError::new(
                    Status::METHOD_NOT_ALLOWED,
                    "ingest accepts PUT, POST and DELETE",
                );
                return Err(early(e));
            }
        };
        let route = parse_v1_path(head.path()).map_err(early)?;
        let reg = shared.registry.load();
        let Some(entry) = reg.channels.get(&route.channel) else {
            return Err(early(HttpError::new(Status::NOT_FOUND, "unknown channel")));
        };
        let Some(input) = entry.config.input(&route.second) else {
            return Err(early(HttpError::new(
                Status::NOT_FOUND,
                "unknown input for this channel",
            )));
        };
        let role = input.role;
        seen.input = Some((entry.config.id, role));
        // A push another node relays (it checked the encoder's credentials).
        let relayed = shared.from_peer(&head);
        seen.path = route.rest.to_string();
        // Before `100 Continue` and before any body byte: a client that sent
        // `Expect: 100-continue` without credentials (ffmpeg with `user:pass@` URLs) retries
        // with them and loses nothing.
        if let Some(auth) = input.auth.as_ref().filter(|_| !relayed) {
            let asked = crate::ingest_auth::Asked {
                authorization: head.header("authorization"),
                method: if is_delete {
                    "DELETE"
                } else {
                    head.method.as_str()
                },
                target: &head.target,
                client: conn.peer.ip(),
            };
            let now = crate::clock::now().unix_ms;
            if let Err(r) = crate::ingest_auth::check(shared, auth, &asked, now) {
                *challenge = r.challenges;
                *retry_after = r.retry_after_secs;
                return Err(early(r.error));
            }
        }
        let limits = &shared.config.limits;
        let manifest = is_manifest(&route.rest);
        let cap = if manifest {
            limits.max_manifest_bytes
        } else {
            limits.max_object_bytes
        };
        if !is_delete && head.body == BodyKind::Empty {
            let e = HttpError::new(
                Status::LENGTH_REQUIRED,
                "PUT/POST needs Content-Length or chunked Transfer-Encoding",
            );
            return Err(early(e));
        }
        let dec = BodyDecoder::new(head.body, if is_delete { 64 * 1024 } else { cap })
            .map_err(|e| (e, false))?;
        if head.expect_continue && !conn.write(CONTINUE_100.to_vec()).await {
            return Err((
                HttpError::new(Status::BAD_REQUEST, "connection lost"),
                false,
            ));
        }
        let seg_secs = u64::from(entry.config.max_segment_duration);
        let body_limit = Duration::from_secs(limits.body_timeout_min_secs.max(2 * seg_secs + 5));
        let hint = match head.body {
            BodyKind::Length(n) => usize::try_from(n).unwrap_or(0),
            _ => 0,
        };
        let channel = entry.config.id;
        // A DASH segment uploaded chunked (a low-latency encoder) to a channel with
        // low-latency endpoints is handed to the owner a CMAF chunk at a time as well, so that
        // their pulls get each chunk at once.
        let by_chunk = entry.config.protocol == Protocol::Dash
            && entry.config.endpoints.iter().any(|e| e.low_latency)
            && head.body == BodyKind::Chunked
            && !is_delete
            && is_fmp4_segment_path(&route.rest);
        let media = Arc::clone(&entry.media);
        drop(reg);
        let owner = streampack_core::id::shard_for(&channel, shared.shards());
        let unavailable = || {
            (
                HttpError::new(Status::SERVICE_UNAVAILABLE, "shutting down"),
                false,
            )
        };
        let Some(inbox) = shared.inboxes.get(owner) else {
            return Err(unavailable());
        };
        // Every body goes on the heap, in one buffer of its exact length when it is known: the
        // allocator hands freed segment buffers out again, which is what keeps ingest cheap.
        // Segments that pulls ask for often move into pages of their own later
        // (`Media::promote_hot`), where the first pulls have paid for it.
        let read = if by_chunk {
            let to = ChunkTo {
                inbox,
                channel,
                input: role,
                path: &route.rest,
                upload: UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            };
            read_by_chunk(conn, dec, body_limit, to).await
        } else {
            conn.read_body(dec, body_limit, hint).await
        };
        let bytes = read.map_err(|e| (e, false))?;
        let relay_body = (!is_delete).then(|| bytes.clone());
        let body = Body::from(bytes);
        let (tx, rx) = flume::bounded(1);
        let op = IngestOp {
            channel,
            input: role,
            path: route.rest.into_owned(),
            body: if is_delete { None } else { Some(body) },
            reply: tx,
        };
        inbox
            .send_async(ShardMsg::Ingest(op))
            .await
            .map_err(|_| unavailable())?;
        let answer = rx.recv_async().await;
        if !relayed && matches!(answer, Ok(Ok(_))) {
            media.note_local_push(role, crate::clock::now().mono_ms);
            relay(shared, &channel, &head, relay_body.as_ref());
        }
        match answer {
            Ok(Ok(IngestDone::Stored(outcome))) => {
                for w in outcome.warnings {
                    tracing::warn!(channel = %channel, input = %role, "{w}");
                }
                Ok(Status::CREATED)
            }
            Ok(Ok(IngestDone::Deleted(_))) => Ok(Status::NO_CONTENT),
            Ok(Err(e)) => {
                tracing::debug!(channel = %channel, input = %role, "ingest refused: {e}");
                Err((ingest_error(&e), keep))
            }
            Err(_) => Err(unavailable()),
        }
    }
    .await;

    match outcome {
        Ok(status) => {
            let mut out = crate::send_buf::head_buf();
            let len = (status != Status::NO_CONTENT).then_some(0);
            write_head(&mut out, status, &[], len, keep);
            conn.answer(status, out, keep).await
        }
        Err((e, keep_open)) => {
            seen.reason = e.reason.clone();
            let retry = retry_after_secs.map(|s| s.to_string());
            let extra: Vec<(&str, &[u8])> = if e.status == Status::METHOD_NOT_ALLOWED {
                vec![("Allow", ALLOW)]
            } else if let Some(secs) = retry.as_deref() {
                vec![("Retry-After", secs.as_bytes())]
            } else if e.status == Status::UNAUTHORIZED {
                challenge_values
                    .iter()
                    .map(|v| ("WWW-Authenticate", v.as_bytes()))
                    .collect()
            } else {
                Vec::new()
            };
            conn.send_error_with(&e, &extra, keep_open, false).await
        }
    }
}
