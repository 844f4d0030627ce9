//! The daemon's context: what every thread shares, built once by [`crate::server`] at start-up
//! (effective config, the published registry, the owner shards' inboxes, counters, the access
//! log). Leaf modules take the narrow piece they use ([`crate::registry::Registry`],
//! [`crate::metrics::Metrics`], [`crate::access_log::Sink`]) rather than the whole context.

use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use streampack_core::http::RequestHead;

use crate::access_log;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::shard::msg::ShardMsg;

/// State shared by every thread of the daemon.
pub struct Shared {
    /// Effective configuration.
    pub config: Config,
    /// Published registry.
    pub registry: ArcSwap<Registry>,
    /// Each owner shard's inbox, by shard index.
    pub inboxes: Vec<flume::Sender<ShardMsg>>,
    /// Set once shutdown began.
    pub shutting_down: AtomicBool,
    /// When the daemon started.
    pub started: Instant,
    /// Name of the io driver in use.
    pub io_driver: &'static str,
    /// Base URL of inputs.
    pub ingest_base: String,
    /// Base URL of endpoints.
    pub pull_base: String,
    /// Host of [`Shared::pull_base`], lowercase: requests naming it reach every channel.
    pub pull_host: String,
    /// `Cache-Control` of playlists and manifests.
    pub manifest_cache_control: String,
    /// `Cache-Control` of segments.
    pub segment_cache_control: String,
    /// AuthKey header name (looked up case-insensitively).
    pub auth_key_header: String,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Daemon-wide counters and live rates.
    pub metrics: Metrics,
    /// The access log, when on.
    pub access_log: Option<access_log::Sink>,
    /// The time-shift media store.
    pub storage: crate::storage::Storage,
    /// The built-in key provider's content keys (made on a channel's owner shard once per
    /// rotation period, listed by the admin plane: a lock is fine).
    pub keys: std::sync::Arc<std::sync::Mutex<crate::keys::KeyStore>>,
    /// The SPEKE v2 key server client (its own thread).
    pub key_servers: crate::key_server::KeyServers,
    /// Cluster mode: routes to other nodes, the cache of their media, the relay queues.
    pub cluster: Option<std::sync::Arc<crate::cluster::plane::PeerPlane>>,
    /// The TLS listeners' certificate state (`None`: no TLS listener).
    pub tls: Option<std::sync::Arc<crate::tls::Tls>>,
    /// Failed ingest logins per client address (refusals are rare: a lock is fine).
    pub failed_logins: std::sync::Mutex<streampack_core::access::FailedLogins>,
    /// Digest nonce counts used with the right credentials (a replayed one is refused).
    pub nonce_counts: std::sync::Mutex<streampack_core::access::NonceCounts>,
    /// The issue time of the last Digest nonce, Unix ms: each challenge gets a later one, so
    /// two clients never share a nonce (and its counts).
    pub nonce_clock: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// An issue time for a new Digest nonce: `now_unix_ms`, or just after the last one.
    pub fn nonce_issue_ms(&self, now_unix_ms: u64) -> u64 {
        use std::sync::atomic::Ordering;
        let mut prev = self.nonce_clock.load(Ordering::Relaxed);
        loop {
            let next = now_unix_ms.max(prev.saturating_add(1));
            match self.nonce_clock.compare_exchange_weak(
                prev,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }

    /// How long an input may deliver nothing before it counts as down (the channel's
    /// failover timeout under the configured policy).
    pub fn failover_timeout_ms(&self, max_segment_ms: u64) -> u64 {
        self.config.failover.policy().timeout_ms(max_segment_ms)
    }

    /// Number of owner shards.
    pub fn shards(&self) -> usize {
        self.inboxes.len()
    }

    /// Starts the access-log line of a request (`None`, no work, when the log is off).
    #[inline]
    pub fn log_begin(&self, head: &RequestHead) -> Option<access_log::Pending> {
        access_log::begin(self.access_log.as_ref(), head)
    }

    /// Finishes the access-log line of a request begun with [`Shared::log_begin`].
    #[inline]
    pub fn log_end(
        &self,
        line: Option<access_log::Pending>,
        peer: SocketAddr,
        status: u16,
        bytes: u64,
        started: Instant,
    ) {
        access_log::end(
            self.access_log.as_ref(),
            &self.metrics,
            line,
            peer,
            status,
            bytes,
            started,
        );
    }

    /// Whether shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

impl Shared {
    /// Whether `head` is another cluster node's request (it carries the cluster secret): a
    /// fetch of media this node makes, or a push relayed from an encoder's node.
    pub fn from_peer(&self, head: &RequestHead) -> bool {
        self.cluster.as_ref().is_some_and(|p| {
            p.routes
                .load()
                .is_peer(head.header(streampack_core::cluster::PEER_HEADER))
        })
    }
}
