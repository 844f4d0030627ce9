//! Start-up and shutdown: state, listeners, shard threads, admin socket, readiness, signals.

use monoio::io::Canceller;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accept::{accept_loop, ConnCtx, Role};
use crate::admin::{self, Admin};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::context::Shared;
use crate::limits::{self, ShardConns};
use crate::metrics::{self, Metrics};
use crate::registry::Registry;
use crate::runtime::{bind_reuseport, choose_driver, uring_runtime, Driver};
use crate::shard::{self, ShardMsg};
use crate::tls::{Tls, TlsFiles};
use crate::{access_log, notify, persist};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// State could not be loaded.
    #[error(transparent)]
    State(#[from] persist::PersistError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen {
        /// Which listener.
        what: &'static str,
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The admin socket could not be created.
    #[error("cannot create admin socket {path}: {source}")]
    AdminSocket {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// io_uring was required and is unavailable.
    #[error("io_uring is unavailable ({0}); use --io-driver auto or epoll")]
    Uring(std::io::Error),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// The access log could not be opened.
    #[error("cannot open access log {path}: {source}")]
    AccessLog {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Signal handling could not be set up.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// Runs the daemon until SIGTERM or SIGINT (SIGHUP reopens the access log and reloads the TLS
/// certificate and key).
pub fn run(cfg: Config) -> Result<(), StartError> {
    let tls = match &cfg.tls {
        Some(t) => Some(Arc::new(Tls::load(TlsFiles {
            cert: t.cert.clone(),
            key: t.key.clone(),
        })?)),
        None => None,
    };
    let mut state = persist::load(&cfg.state_dir)?;
    state.limits = streampack_core::control::StateLimits {
        max_channels: cfg.limits.max_channels,
        max_endpoints_per_channel: cfg.limits.max_endpoints_per_channel,
    };
    limits::set_log_interval(cfg.limits.log_interval_secs);
    limits::check_nofile(cfg.limits.max_connections);
    let shards = cfg.shard_count().max(1);
    let listen = |what: &'static str, addr, n| {
        bind_reuseport(addr, n).map_err(|(addr, source)| StartError::Listen { what, addr, source })
    };
    let ingest_socks = listen("ingest", cfg.ingest.listen, shards)?;
    let pull_socks = listen("pull", cfg.pull.listen, shards)?;
    let tls_socks = |what, addr: Option<SocketAddr>| match addr {
        Some(a) => listen(what, a, shards).map(|v| v.into_iter().map(Some).collect()),
        None => Ok((0..shards).map(|_| None).collect::<Vec<_>>()),
    };
    let ingest_tls_socks = tls_socks("ingest TLS", cfg.ingest.tls_listen)?;
    let pull_tls_socks = tls_socks("pull TLS", cfg.pull.tls_listen)?;
    let driver = choose_driver(cfg.io_driver).map_err(StartError::Uring)?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(StartError::Signals)?;

    let (inbox_tx, inbox_rx): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| flume::unbounded::<ShardMsg>()).unzip();
    let registry = Registry::rebuild(&state, &Registry::for_shards(shards));
    let metrics_listener = match cfg.observability.metrics_listen {
        crate::config::MetricsListen::Off => None,
        crate::config::MetricsListen::At(addr) => Some(metrics::serve::bind(addr).map_err(
            |source| StartError::Listen {
                what: "metrics",
                addr,
                source,
            },
        )?),
    };
    let access_log = access_log::open(&cfg.observability.access_log).map_err(|source| {
        StartError::AccessLog {
            path: cfg.observability.access_log.to_string(),
            source,
        }
    })?;
    let (storage, storage_rx) =
        crate::storage::Storage::new(cfg.media_dir(), cfg.storage.max_bytes);
    let keys = crate::keys::KeyStore::new(&cfg.state_dir);
    let keys = if cfg.cluster.enabled() {
        keys.for_cluster()
    } else {
        keys
    };
    let keys = Arc::new(std::sync::Mutex::new(keys));
    let key_servers =
        crate::key_server::KeyServers::start(Arc::clone(&keys)).map_err(StartError::Thread)?;
    let shared = Arc::new(Shared {
        manifest_cache_control: format!("public, max-age={}", cfg.cache.manifest_max_age_secs),
        segment_cache_control: format!("public, max-age={}", cfg.cache.segment_max_age_secs),
        auth_key_header: cfg.access.auth_key_header.clone(),
        // validate() parsed these already: nothing can be dropped here.
        trusted_proxies: cfg.access.trusted_nets().unwrap_or_default(),
        ingest_base: cfg.ingest.base_url(),
        pull_base: cfg.pull.base_url(),
        pull_host: url_host(&cfg.pull.base_url()),
        config: cfg.clone(),
        registry: arc_swap::ArcSwap::from_pointee(registry),
        inboxes: inbox_tx,
        shutting_down: AtomicBool::new(false),
        started: Instant::now(),
        io_driver: driver.name(),
        metrics: Metrics::new(shards),
        access_log,
        storage,
        keys,
        key_servers,
        failed_logins: std::sync::Mutex::new(streampack_core::access::FailedLogins::new(
            streampack_core::access::LoginLimit {
                max_failures: cfg.limits.ingest_auth_failures,
                window_ms: cfg.limits.ingest_auth_window_secs.saturating_mul(1000),
                block_ms: cfg.limits.ingest_auth_block_secs.saturating_mul(1000),
            },
        )),
        nonce_counts: std::sync::Mutex::new(streampack_core::access::NonceCounts::new()),
        nonce_clock: std::sync::atomic::AtomicU64::new(0),
        tls: tls.clone(),
        cluster: cfg
            .cluster
            .enabled()
            .then(|| crate::cluster::plane::PeerPlane::new(cfg.cluster.cache_max_bytes)),
    });
    if let Some(tls) = &tls {
        spawn_expiry_check(Arc::clone(tls)).map_err(StartError::Thread)?;
    }
    crate::storage::writer::spawn(Arc::clone(&shared), storage_rx).map_err(StartError::Thread)?;
    if let Some(l) = metrics_listener {
        metrics::serve::spawn(Arc::clone(&shared), l).map_err(StartError::Thread)?;
    }
    metrics::live::spawn(Arc::clone(&shared)).map_err(StartError::Thread)?;

    let socket_path = cfg.admin_socket_path();
    let admin_listener =
        admin::bind(&socket_path, cfg.admin_socket_group.as_deref()).map_err(|source| {
            StartError::AdminSocket {
                path: socket_path.display().to_string(),
                source,
            }
        })?;
    let cluster = match &shared.cluster {
        Some(plane) => {
            let plane = Arc::clone(plane);
            let local = state.clone();
            let started = Cluster::start(cfg.cluster.clone(), Arc::clone(&shared), plane, local);
            Some(started.map_err(StartError::Thread)?)
        }
        None => None,
    };
    let admin = Arc::new(Admin::new(
        Arc::clone(&shared),
        state,
        cfg.state_dir.clone(),
        cluster.as_ref().map(|(c, _)| Arc::clone(c)),
    ));
    let cluster_node = cluster.as_ref().map(|(c, _)| Arc::clone(c));
    if let Some((_, updates)) = cluster {
        let admin = Arc::clone(&admin);
        std::thread::Builder::new()
            .name("cluster-apply".into())
            .spawn(move || {
                for update in updates {
                    admin.apply_cluster(update);
                }
            })
            .map_err(StartError::Thread)?;
    }
    {
        let admin = Arc::clone(&admin);
        std::thread::Builder::new()
            .name("admin".into())
            .spawn(move || admin.serve(admin_listener))
            .map_err(StartError::Thread)?;
    }

    let (shutdown_tx, shutdown_rx) = flume::bounded::<()>(1);
    let mut threads = Vec::with_capacity(shards);
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let socks = ingest_socks
        .into_iter()
        .zip(pull_socks)
        .zip(ingest_tls_socks.into_iter().zip(pull_tls_socks))
        .map(|((ingest, pull), (ingest_tls, pull_tls))| ShardListeners {
            ingest,
            pull,
            ingest_tls,
            pull_tls,
        });
    for (i, (listeners, inbox)) in socks.zip(inbox_rx).enumerate() {
        let shared = Arc::clone(&shared);
        let shutdown = shutdown_rx.clone();
        let t = std::thread::Builder::new()
            .name(format!("shard-{i}"))
            .spawn(move || {
                metrics::enter_shard(i);
                run_shard(driver, i % ncpu, shared, listeners, inbox, shutdown)
            })
            .map_err(StartError::Thread)?;
        threads.push(t);
    }
    drop(shutdown_rx);

    let tls_addr = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_string(), |a| a.to_string());
    tracing::info!(
        ingest = %cfg.ingest.listen, pull = %cfg.pull.listen,
        ingest_tls = %tls_addr(cfg.ingest.tls_listen), pull_tls = %tls_addr(cfg.pull.tls_listen),
        admin_socket = %socket_path.display(),
        state_dir = %cfg.state_dir.display(), io_driver = driver.name(), shards,
        metrics = %cfg.observability.metrics_listen, access_log = %cfg.observability.access_log,
        "streampackd ready"
    );
    notify::notify("READY=1");

    // SIGHUP reopens the access log (logrotate's postrotate, systemd's ExecReload) and
    // reloads the TLS certificate and key; the others stop the daemon.
    let sig = signals.forever().find(|&sig| {
        if sig != signal_hook::consts::SIGHUP {
            return true;
        }
        match &shared.access_log {
            Some(log) => log.reopen(),
            None => tracing::info!("SIGHUP: no access log to reopen"),
        }
        if let Some(tls) = &shared.tls {
            tls.reload();
        }
        false
    });
    tracing::info!(signal = ?sig, "shutting down: finishing in-flight requests");
    notify::notify("STOPPING=1");
    shared.shutting_down.store(true, Ordering::SeqCst);
    if let Some(c) = &cluster_node {
        c.leave();
    }
    drop(shutdown_tx);
    for t in threads {
        if t.join().is_err() {
            tracing::error!("a shard thread panicked");
        }
    }
    admin.quiesce();
    if let Some(log) = &shared.access_log {
        log.finish();
    }
    let _ = std::fs::remove_file(&socket_path);
    tracing::info!("stopped");
    Ok(())
}

/// Checks the certificate's expiry once a day (it is checked at start and on reload too).
fn spawn_expiry_check(tls: Arc<Tls>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tls-expiry".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(86_400));
            tls.check_expiry(crate::clock::unix_secs());
        })
        .map(|_| ())
}

/// One shard's listening sockets (its share of each `SO_REUSEPORT` group).
struct ShardListeners {
    ingest: std::net::TcpListener,
    pull: std::net::TcpListener,
    ingest_tls: Option<std::net::TcpListener>,
    pull_tls: Option<std::net::TcpListener>,
}

fn run_shard(
    driver: Driver,
    cpu: usize,
    shared: Arc<Shared>,
    listeners: ShardListeners,
    inbox: flume::Receiver<ShardMsg>,
    shutdown: flume::Receiver<()>,
) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
    let main = shard_main(shared, listeners, inbox, shutdown);
    if driver == Driver::Uring {
        match uring_runtime() {
            Ok(mut rt) => return rt.block_on(main),
            Err(e) => {
                tracing::warn!("io_uring ring cannot be created on this shard ({e}); using epoll")
            }
        }
    }
    match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
    {
        Ok(mut rt) => rt.block_on(main),
        Err(e) => tracing::error!("cannot start an executor: {e}"),
    }
}

async fn shard_main(
    shared: Arc<Shared>,
    listeners: ShardListeners,
    inbox: flume::Receiver<ShardMsg>,
    shutdown: flume::Receiver<()>,
) {
    let l = &shared.config.limits;
    let open = ShardConns::new(l.max_connections, l.max_connections_per_ip, shared.shards());
    // Idle keep-alive reads end at shutdown through one shard-local canceller: O(1) per read,
    // where waiting on the shared shutdown channel in every read cost a lock and an O(waiters)
    // removal (flume) per request.
    let idle = Canceller::new();
    let idle_reads = idle.handle();
    monoio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let _ = shutdown.recv_async().await;
            drop(idle.cancel());
        }
    });
    let owner = monoio::spawn(shard::owner_loop(
        Arc::clone(&shared),
        inbox,
        shutdown.clone(),
    ));
    let ShardListeners {
        ingest,
        pull,
        ingest_tls,
        pull_tls,
    } = listeners;
    let all = [
        (Some(ingest), Role::Ingest, false),
        (Some(pull), Role::Pull, false),
        (ingest_tls, Role::Ingest, true),
        (pull_tls, Role::Pull, true),
    ];
    let mut loops = Vec::with_capacity(all.len());
    for (sock, role, tls) in all {
        let Some(sock) = sock else { continue };
        let tls = if tls { shared.tls.clone() } else { None };
        let ctx = ConnCtx {
            shared: Arc::clone(&shared),
            role,
            tls,
            shutdown: shutdown.clone(),
            idle_reads: idle_reads.clone(),
        };
        loops.push(monoio::spawn(accept_loop(ctx, sock, Rc::clone(&open))));
    }
    let flush = monoio::spawn(access_log_flush_loop(Arc::clone(&shared), shutdown.clone()));
    for l in loops {
        let _ = l.await;
    }
    let deadline = Instant::now() + Duration::from_secs(shared.config.limits.shutdown_grace_secs);
    while open.open() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = owner.await;
    let _ = flush.await;
    access_log::hand_off(shared.access_log.as_ref(), &shared.metrics);
}

/// A shard's flush task: hands lines over every [`access_log::FLUSH_EVERY`] until shutdown. Lines of
/// requests that finish during the shutdown grace period are handed over by the shard's last
/// call to [`access_log::hand_off`], once its connections are closed.
async fn access_log_flush_loop(shared: Arc<Shared>, shutdown: flume::Receiver<()>) {
    if shared.access_log.is_none() {
        return;
    }
    loop {
        monoio::select! {
            _ = shutdown.recv_async() => break,
            _ = monoio::time::sleep(access_log::FLUSH_EVERY) => {
                access_log::hand_off(shared.access_log.as_ref(), &shared.metrics)
            }
        }
    }
    access_log::hand_off(shared.access_log.as_ref(), &shared.metrics);
}

/// Host of a base URL (`http://HOST:PORT/…` → `host`), lowercase, IPv6 without brackets.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    streampack_core::access::cdn::host_of(authority.as_bytes())
        .map(|h| h.into_owned())
        .unwrap_or_default()
}
