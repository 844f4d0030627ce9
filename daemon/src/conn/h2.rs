//! HTTP/2 on pull, on the `h2` crate: a connection's streams are accepted here and each is
//! served by the same pull handler as an HTTP/1.1 request, on a [`Conn`] whose writes go to
//! that stream ([`H2Sink`], through `streampack_core::http::h2_bridge`). Segment bodies are
//! handed to `h2` as the shared `Bytes` they are (no copy; TLS then encrypts them as it must).
//!
//! Limits a hostile client meets: at most [`MAX_STREAMS`] concurrent streams, a header list no
//! larger than the HTTP/1.1 head limit (`h2` counts CONTINUATION frames into it, so a
//! CONTINUATION flood ends at the limit), [`MAX_PENDING_RESETS`] streams reset before they were
//! served (rapid reset, CVE-2023-44487: beyond it the connection is closed with
//! ENHANCE_YOUR_CALM), a bounded number of errors it provokes, the handshake within the head
//! timeout and a connection with no stream open closed after the idle timeout. `h2` answers
//! PING and SETTINGS once per frame read and reads no further while its answers are unsent,
//! so those floods cost the reader, not the server.

use bytes::Bytes;
use h2::server::{Builder, SendResponse};
use h2::SendStream;
use monoio::io::CancelHandle;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use streampack_core::http::h2_bridge::{request_head, Piece, ResponseBridge};
use streampack_core::http::{parse_head, HttpError, Limits, Status};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Conn, HEAD_READ};
use crate::context::Shared;

/// Concurrent streams a client may open (nginx's default too).
pub const MAX_STREAMS: u32 = 128;
/// Streams a client may reset before they were served, pending at once.
pub const MAX_PENDING_RESETS: usize = 64;
/// Bodies up to this size are queued without waiting for the client's window.
const SMALL_BODY: usize = 16 * 1024;
/// Stream errors a client may cause before the connection is closed.
pub const MAX_ERROR_RESETS: usize = 256;

impl Conn {
    /// Whether the connection opens with the HTTP/2 preface (h2c with prior knowledge, RFC
    /// 9113 §3.3); `None` when it closed (or idled out) first. Reads only as far as needed to
    /// tell: the bytes stay in `rbuf` either way.
    pub async fn starts_with_h2_preface(
        &mut self,
        shared: &Shared,
        idle: &CancelHandle,
    ) -> Option<bool> {
        const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        let cfg = &shared.config.limits;
        // One deadline from the first byte to the whole preface (a byte at a time gets no more).
        let mut deadline = None;
        loop {
            let n = self.rbuf.len().min(PREFACE.len());
            if self.rbuf[..n] != PREFACE[..n] {
                return Some(false);
            }
            if n == PREFACE.len() {
                return Some(true);
            }
            let r = if self.rbuf.is_empty() {
                let limit = Duration::from_secs(cfg.idle_timeout_secs);
                self.read_idle(limit, idle.clone()).await
            } else {
                let head = Duration::from_secs(cfg.head_timeout_secs);
                let until = *deadline.get_or_insert_with(|| monoio::time::Instant::now() + head);
                let limit = until.saturating_duration_since(monoio::time::Instant::now());
                self.read_more(HEAD_READ, limit).await
            };
            match r {
                Ok(_) => {}
                Err(_) if self.rbuf.is_empty() => return None,
                // What was read is answered by the HTTP/1.1 path (a 400 or a 408).
                Err(_) => return Some(false),
            }
        }
    }
}

/// Serves one HTTP/2 connection until the client closes it, it idles out, or the daemon stops.
pub async fn serve<T>(io: T, peer: SocketAddr, shared: Arc<Shared>, shutdown: flume::Receiver<()>)
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let cfg = &shared.config.limits;
    let mut builder = Builder::new();
    builder
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(u32::try_from(cfg.max_head_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(Some(MAX_ERROR_RESETS))
        .initial_window_size(1 << 20)
        .initial_connection_window_size(4 << 20)
        .max_send_buffer_size(1 << 20);
    let handshake = monoio::time::timeout(
        Duration::from_secs(cfg.head_timeout_secs),
        builder.handshake::<_, Bytes>(io),
    );
    let mut conn = match handshake.await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "HTTP/2 handshake failed: {e}");
            return;
        }
        Err(_) => {
            crate::limits::log_limit(peer.ip(), "HTTP/2 preface not received in time");
            return;
        }
    };
    shared.metrics.http2_connection();
    // Streams being served (a stream the client reset after it was accepted stays counted
    // until its handler ends), and a signal when one ends.
    let active = Rc::new(Cell::new(0usize));
    let freed = Rc::new(event_listener::Event::new());
    let idle = Duration::from_secs(cfg.idle_timeout_secs);
    let mut closing = false;
    loop {
        if active.get() >= MAX_STREAMS as usize {
            // At the limit: the connection is driven (answers go out) but no stream is taken
            // until a handler ends.
            let slot = freed.listen();
            if active.get() >= MAX_STREAMS as usize {
                let closed = monoio::select! {
                    _ = std::future::poll_fn(|cx| conn.poll_closed(cx)) => true,
                    _ = slot => false,
                };
                if closed {
                    break;
                }
                continue;
            }
        }
        let next = if closing {
            Some(monoio::time::timeout(idle, conn.accept()).await)
        } else {
            monoio::select! {
                _ = shutdown.recv_async() => None,
                r = monoio::time::timeout(idle, conn.accept()) => Some(r),
            }
        };
        match next {
            // The daemon stops: no new streams, the open ones finish.
            None => {
                conn.graceful_shutdown();
                closing = true;
            }
            // Idle for the idle timeout: closing already, it is over; else with no stream
            // open it begins to close.
            Some(Err(_)) if closing => break,
            Some(Err(_)) => {
                if active.get() == 0 {
                    conn.graceful_shutdown();
                    closing = true;
                }
            }
            Some(Ok(Some(Ok((req, respond))))) => {
                shared.metrics.http2_stream();
                let shared = Arc::clone(&shared);
                let (active, freed) = (Rc::clone(&active), Rc::clone(&freed));
                active.set(active.get() + 1);
                monoio::spawn(async move {
                    serve_stream(req, respond, peer, &shared).await;
                    active.set(active.get() - 1);
                    freed.notify(1);
                });
            }
            Some(Ok(Some(Err(e)))) => {
                if e.is_go_away() && !e.is_remote() {
                    let why = format!("HTTP/2 connection closed by the server: {e}");
                    crate::limits::log_limit(peer.ip(), &why);
                } else {
                    tracing::debug!(%peer, "HTTP/2 connection error: {e}");
                }
                break;
            }
            Some(Ok(None)) => break,
        }
    }
    // Sends what open streams still have queued, then closes.
    let _ = monoio::time::timeout(
        Duration::from_secs(cfg.send_timeout_secs),
        std::future::poll_fn(|cx| conn.poll_closed(cx)),
    )
    .await;
}

/// Serves one stream with the pull handler.
async fn serve_stream(
    req: http::Request<h2::RecvStream>,
    respond: SendResponse<Bytes>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) {
    // A body is dropped at once (h2 discards what comes and gives the window back), but for
    // the one request the pull path reads one: a ClearKey licence POST, read here first.
    let (parts, body) = req.into_parts();
    let head_only = parts.method == http::Method::HEAD;
    let mut conn = Conn::for_h2(peer, H2Sink::new(respond, head_only));
    let posted = if parts.method == http::Method::POST
        && crate::pull::keys::is_license_path(parts.uri.path().as_bytes())
    {
        match read_small_body(body).await {
            Some(b) => Some(b),
            None => {
                let e = HttpError::new(
                    Status::PAYLOAD_TOO_LARGE,
                    "a licence request is at most 16 KiB, sent within 5 s",
                );
                conn.send_error(&e, true, false).await;
                conn.finish_h2().await;
                return;
            }
        }
    } else {
        drop(body);
        None
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .as_bytes();
    let authority = parts.uri.authority().map(|a| a.as_str().as_bytes());
    let fields = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
    let limits = Limits {
        max_head_bytes: shared.config.limits.max_head_bytes,
        max_headers: shared.config.limits.max_headers,
    };
    let parsed = request_head(parts.method.as_str().as_bytes(), target, authority, fields)
        .and_then(|mut h| {
            parse_head(&mut h, &limits)?
                .ok_or_else(|| HttpError::new(Status::BAD_REQUEST, "incomplete request"))
        });
    match parsed {
        Ok(mut head) => {
            if let Some(b) = posted {
                // As if it had come on the connection, framed by its length.
                head.body = streampack_core::http::BodyKind::Length(b.len() as u64);
                conn.rbuf.extend_from_slice(&b);
            }
            // Boxed: the stream's task stays small (it is moved into place when spawned).
            Box::pin(crate::pull::handle(&mut conn, head, shared)).await;
        }
        Err(e) => {
            shared
                .metrics
                .unrouted(crate::metrics::Listener::Pull, e.status.code());
            conn.send_error(&e, true, head_only).await;
        }
    }
    conn.finish_h2().await;
}

/// A request body of at most [`clearkey::MAX_REQUEST_BYTES`], read within 5 s (`None`:
/// larger, slower, or reset).
async fn read_small_body(mut body: h2::RecvStream) -> Option<Vec<u8>> {
    use streampack_core::encryption::clearkey;
    let read = async {
        let mut out = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| body.poll_data(cx)).await {
            let chunk = chunk.ok()?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if out.len() + chunk.len() > clearkey::MAX_REQUEST_BYTES {
                return None;
            }
            out.extend_from_slice(&chunk);
        }
        Some(out)
    };
    monoio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()
        .flatten()
}

/// Where a [`Conn`] serving one HTTP/2 stream writes: the response as written for HTTP/1.1,
/// sent as HEADERS and DATA frames.
pub struct H2Sink {
    bridge: ResponseBridge,
    respond: Option<SendResponse<Bytes>>,
    body: Option<SendStream<Bytes>>,
    pieces: Vec<Piece>,
}

impl H2Sink {
    /// A sink answering through `respond`; `head_only` for HEAD.
    pub fn new(respond: SendResponse<Bytes>, head_only: bool) -> H2Sink {
        H2Sink {
            bridge: ResponseBridge::new(head_only),
            respond: Some(respond),
            body: None,
            pieces: Vec::new(),
        }
    }

    /// Takes the next bytes of the response; body bytes go out as the client's flow-control
    /// window allows (what waits is bounded by the window, not by the body).
    pub async fn write(&mut self, bytes: Bytes) -> std::io::Result<()> {
        let mut pieces = std::mem::take(&mut self.pieces);
        let fed = self.bridge.feed(bytes, &mut pieces);
        let sent = self.send(&mut pieces).await;
        pieces.clear();
        self.pieces = pieces;
        if let Err(e) = fed {
            tracing::error!("{e}");
            self.reset();
            return Err(std::io::Error::other(e));
        }
        sent
    }

    async fn send(&mut self, pieces: &mut Vec<Piece>) -> std::io::Result<()> {
        let gone = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let mut it = pieces.drain(..).peekable();
        while let Some(p) = it.next() {
            match p {
                Piece::Head {
                    status,
                    fields,
                    empty,
                } => {
                    let res = response(status, fields)?;
                    let respond = self.respond.as_mut().ok_or_else(gone)?;
                    let stream = respond.send_response(res, empty).map_err(|_| gone())?;
                    self.respond = None;
                    if !empty {
                        self.body = Some(stream);
                    }
                    if empty && it.peek() == Some(&Piece::End) {
                        it.next();
                    }
                }
                Piece::Data(d) => {
                    let end = it.peek() == Some(&Piece::End);
                    if end {
                        it.next();
                    }
                    let body = self.body.as_mut().ok_or_else(gone)?;
                    send_data(body, d, end).await?;
                }
                Piece::End => {
                    let body = self.body.as_mut().ok_or_else(gone)?;
                    body.send_data(Bytes::new(), true).map_err(|_| gone())?;
                }
            }
        }
        Ok(())
    }

    /// The handler is done: a body without framing ends here; one left incomplete resets the
    /// stream (the client must not take a truncated object for a whole one).
    pub async fn finish(&mut self) {
        let mut pieces = Vec::new();
        if self.bridge.close(&mut pieces) {
            let _ = self.send(&mut pieces).await;
        } else {
            self.reset();
        }
    }

    fn reset(&mut self) {
        if let Some(b) = self.body.as_mut() {
            b.send_reset(h2::Reason::INTERNAL_ERROR);
        } else if let Some(r) = self.respond.as_mut() {
            r.send_reset(h2::Reason::INTERNAL_ERROR);
        }
    }
}

/// The HTTP/2 response of a status and fields.
fn response(status: u16, fields: Vec<(Bytes, Bytes)>) -> std::io::Result<http::Response<()>> {
    let bad = || std::io::Error::other("response field not allowed in HTTP/2");
    let mut res = http::Response::new(());
    *res.status_mut() = http::StatusCode::from_u16(status).map_err(|_| bad())?;
    let headers = res.headers_mut();
    headers.reserve(fields.len());
    for (name, value) in fields {
        let name = http::HeaderName::from_bytes(&name).map_err(|_| bad())?;
        let value = http::HeaderValue::from_maybe_shared(value).map_err(|_| bad())?;
        headers.append(name, value);
    }
    Ok(res)
}

/// Sends `data` as the stream's window allows: capacity is reserved and awaited, so a client
/// that opens no window holds a stream, not the server's memory.
async fn send_data(
    body: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> std::io::Result<()> {
    let gone = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
    // A small body (a playlist, a part) is queued as it is: at most 128 × 16 KiB per
    // connection, and no round through the connection task for capacity.
    if data.len() <= SMALL_BODY {
        return body.send_data(data, end).map_err(|_| gone());
    }
    while !data.is_empty() {
        body.reserve_capacity(data.len());
        let cap = match std::future::poll_fn(|cx| body.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            _ => return Err(gone()),
        };
        if cap == 0 {
            continue;
        }
        let chunk = data.split_to(cap.min(data.len()));
        body.send_data(chunk, end && data.is_empty())
            .map_err(|_| gone())?;
    }
    Ok(())
}
