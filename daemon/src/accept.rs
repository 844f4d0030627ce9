//! A shard's listeners: accepting connections (within the connection limits), setting each
//! up (TLS handshake, HTTP/2 by ALPN or the h2c preface) and serving HTTP/1.1 requests on it
//! until it closes.

use monoio::io::CancelHandle;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use streampack_core::http::Limits;

use crate::conn::stream::Prefixed;
use crate::conn::tls_io::TlsIo;
use crate::conn::{Conn, ConnGuard};
use crate::context::Shared;
use crate::limits::{self, ShardConns};
use crate::metrics::Listener;
use crate::tls::Tls;
use crate::{ingest, pull};

#[derive(Clone, Copy)]
pub enum Role {
    /// Encoders push here.
    Ingest,
    /// Players and CDNs pull here.
    Pull,
}

impl Role {
    /// The metrics label of the listener.
    pub fn listener(self) -> Listener {
        match self {
            Role::Ingest => Listener::Ingest,
            Role::Pull => Listener::Pull,
        }
    }
}

/// What a listener's connections are served with.
#[derive(Clone)]
pub struct ConnCtx {
    /// What every thread shares.
    pub shared: Arc<Shared>,
    /// Which listener.
    pub role: Role,
    /// TLS listeners: the certificate state.
    pub tls: Option<Arc<Tls>>,
    /// Ends with the daemon.
    pub shutdown: flume::Receiver<()>,
    /// The shard's canceller of idle reads.
    pub idle_reads: CancelHandle,
}

/// Accepts connections on one listener of this shard until shutdown, each served by a task
/// of its own.
pub async fn accept_loop(ctx: ConnCtx, listener: std::net::TcpListener, open: Rc<ShardConns>) {
    let (shared, role, shutdown) = (&ctx.shared, ctx.role, &ctx.shutdown);
    let listener = match monoio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("listener unusable: {e}");
            return;
        }
    };
    loop {
        let accepted = monoio::select! {
            _ = shutdown.recv_async() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("accept failed: {e}");
                // Out of descriptors and the like: let the situation pass instead of spinning.
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let permit = match open.admit(peer.ip()) {
            Ok(p) => p,
            Err(why) => {
                // Closed at once: answering would spend a write on a client over its limit.
                drop(stream);
                let (limit, what) = match why {
                    limits::Refused::Total => (
                        "max_connections",
                        "max_connections reached: connection closed",
                    ),
                    limits::Refused::PerClient => (
                        "max_connections_per_ip",
                        "max_connections_per_ip reached: connection closed",
                    ),
                };
                shared.metrics.connection_refused(role.listener(), limit);
                limits::log_limit(peer.ip(), what);
                continue;
            }
        };
        shared.metrics.connection_accepted(role.listener());
        let ctx = ctx.clone();
        monoio::spawn(async move {
            let _guard = ConnGuard::new(Arc::clone(&ctx.shared));
            if let Some(conn) = Box::pin(open_conn(stream, peer, &ctx)).await {
                serve(conn, ctx).await;
            }
            drop(permit);
        });
    }
}

/// Sets up a connection: the TLS handshake on TLS listeners, HTTP/2 when ALPN or the h2c
/// preface says so (served here to the end: `None`), else the HTTP/1.1 connection to serve.
async fn open_conn(
    stream: monoio::net::TcpStream,
    peer: SocketAddr,
    ctx: &ConnCtx,
) -> Option<Conn> {
    let shared = &ctx.shared;
    let Some(tls) = &ctx.tls else {
        let mut conn = Conn::new(stream, peer);
        if matches!(ctx.role, Role::Pull)
            && conn.starts_with_h2_preface(shared, &ctx.idle_reads).await?
        {
            let (stream, read) = conn.into_plain()?;
            let io = stream.try_into_poll_io().map_err(|(e, _)| e);
            serve_h2(io.map(|io| Prefixed::new(read.freeze(), io)), peer, ctx).await;
            return None;
        }
        return Some(conn);
    };
    let _ = stream.set_nodelay(true);
    let pull = matches!(ctx.role, Role::Pull);
    let limit = Duration::from_secs(shared.config.limits.head_timeout_secs);
    let handshake = Box::pin(TlsIo::accept(stream, tls.config(pull)));
    let session = match monoio::time::timeout(limit, handshake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.metrics.tls_handshake(ctx.role.listener(), false);
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            return None;
        }
        Err(_) => {
            shared.metrics.tls_handshake(ctx.role.listener(), false);
            limits::log_limit(peer.ip(), "TLS handshake not completed in time");
            return None;
        }
    };
    shared.metrics.tls_handshake(ctx.role.listener(), true);
    if pull && session.alpn() == Some(b"h2") {
        serve_h2(session.into_poll(), peer, ctx).await;
        return None;
    }
    Some(Conn::tls(session, peer))
}

/// Serves an HTTP/2 connection (h2c after its sniffed preface, or TLS after ALPN) on `io`, the
/// socket switched to poll-style I/O for `h2`; a socket that cannot switch is dropped, logged.
async fn serve_h2<T>(io: std::io::Result<T>, peer: SocketAddr, ctx: &ConnCtx)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    match io {
        // Boxed, as every path not taken by plain HTTP/1.1: an idle connection's task carries
        // only the state of the path it is on.
        Ok(io) => {
            let shutdown = ctx.shutdown.clone();
            Box::pin(crate::conn::h2::serve(
                io,
                peer,
                Arc::clone(&ctx.shared),
                shutdown,
            ))
            .await
        }
        Err(e) => tracing::warn!(%peer, "HTTP/2 connection dropped: socket not usable for it: {e}"),
    }
}

async fn serve(mut conn: Conn, ctx: ConnCtx) {
    let (shared, role, idle_reads) = (ctx.shared, ctx.role, ctx.idle_reads);
    conn.send_timeout = Duration::from_secs(shared.config.limits.send_timeout_secs);
    let limits = Limits {
        max_head_bytes: shared.config.limits.max_head_bytes,
        max_headers: shared.config.limits.max_headers,
    };
    loop {
        let head = match conn.next_head(&shared, &limits, &idle_reads).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(status) => {
                // Answered already (malformed head, too large, too slow).
                shared.metrics.unrouted(role.listener(), status.code());
                let linger = Box::pin(conn.linger());
                return linger.await;
            }
        };
        // The request's handling lives on the heap for the request only: inlined, its state
        // (~2.7 KiB) made every connection's task that large for as long as it stays open,
        // idle or not. Boxed, the task is 1.8 KiB and a playlist GET costs less CPU, not more
        // (alternated A/B under wrk: 8.0-8.4 -> 7.4-7.9 us). The `let`s keep the unboxed
        // futures out of the task's state (temporaries of an awaited expression would not be).
        let handler: Pin<Box<dyn Future<Output = bool> + '_>> = match role {
            Role::Ingest => Box::pin(ingest::handle(&mut conn, head, &shared)),
            Role::Pull => Box::pin(pull::handle(&mut conn, head, &shared)),
        };
        let keep = handler.await;
        if !keep {
            let linger = Box::pin(conn.linger());
            return linger.await;
        }
        if shared.is_shutting_down() {
            return;
        }
    }
}
