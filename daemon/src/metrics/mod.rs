//! Prometheus metrics, counted per shard and summed when scraped.
//!
//! # How counting stays off the hot path's toes
//! Every counter a request touches lives in a [`PerShard`] array: one cache-line-aligned slot
//! per shard thread, written only by that thread (`load` + `store`, both `Relaxed`: a plain
//! load and store on x86-64 and arm64, no `lock` prefix, no cache line shared with another
//! writer). The scrape thread reads every slot with `Relaxed` loads and sums them: a scrape may
//! see one shard's increment before another's, which Prometheus tolerates (counters are only
//! ever compared over time). Which slot a thread writes is set once by [`enter_shard`]; other
//! threads (admin, metrics) never count, so each slot has exactly one writer.
//!
//! Per-endpoint and per-input counters hang off the registry's channel entries
//! ([`ChannelMetrics`]) and are kept across registry rebuilds while the channel (endpoint)
//! exists: a deleted channel's counters go with its entry, so its series disappear from the
//! next scrape. Figures the channel's owner already keeps (segments and bytes received,
//! last-segment time, active input, failovers, held bytes) are read from the published
//! snapshot's status (`HlsSnapshot` or `DashSnapshot`) at scrape time and cost the hot path nothing.
//!
//! # Layout
//! - [`expo`]: the text exposition writer (format 0.0.4), pure and unit-tested.
//! - [`collect`]: what a scrape prints.
//! - [`serve`]: the `/metrics` listener thread.
//! - [`live`]: a once-a-second sampler: rates for `streampackctl channel show`, and the
//!   "input started/stopped delivering" log lines (switches are logged by the owner shard).
//! - [`settings`]: the `[observability]` config section.
//! - [`storage`]: the time-shift store's families.
//! - [`transport`]: TLS (handshakes, the certificate's expiry) and HTTP/2 families.
//! - `shard`, `histogram`, `labels`, `channel`: the counting primitives, latency histograms,
//!   label sets and a channel's counters; this file: the daemon-wide counters ([`Metrics`]).

pub mod cluster;
pub mod collect;
pub mod encryption;
pub mod expo;
pub mod live;
pub mod serve;
pub mod settings;
pub mod storage;
pub mod transport;

mod channel;
mod histogram;
mod labels;
mod shard;

pub use channel::{
    ingest_error_label, ChannelMetrics, EndpointCounters, EndpointMetrics, IngestAnswered,
    InputCounters, INGEST_ERROR_STATUSES,
};
pub use histogram::{Histogram, HistogramSum, LATENCY_BOUNDS_US, LATENCY_LE};
pub use labels::{status_class, Listener, ObjectType, STATUS_CLASSES};
pub use shard::{enter_shard, Counter, PerShard};

use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use streampack_core::channel::InputRole;

/// Connection limits counted by name (`limit` label); any other name counts as `other`.
/// A new limit adds its name here.
pub const CONNECTION_LIMITS: [&str; 3] = ["max_connections", "max_connections_per_ip", "other"];

fn limit_index(limit: &str) -> usize {
    CONNECTION_LIMITS
        .iter()
        .position(|&l| l == limit)
        .unwrap_or(CONNECTION_LIMITS.len() - 1)
}

/// Daemon-wide counters of one shard.
#[derive(Debug, Default)]
pub struct ShardCounters {
    accepted: [Counter; 2],
    refused_by_limit: [[Counter; CONNECTION_LIMITS.len()]; 2],
    /// Requests answered before they could be tied to a channel's input or endpoint
    /// (malformed heads, unknown channels, `/healthz`), by listener and status class.
    unrouted: [[Counter; 4]; 2],
    access_log_dropped: Counter,
    /// Client connections opened and closed on this shard (open now: the difference, summed
    /// over shards at scrape time; the shard that opens a connection also closes it).
    conns_opened: Counter,
    conns_closed: Counter,
    /// Objects moved into pages of their own because pulls asked for them often.
    promoted: Counter,
    /// TLS handshakes by listener, completed (0) and failed (1).
    tls_handshakes: [[Counter; 2]; 2],
    /// HTTP/2 connections set up and streams opened on them.
    http2_connections: Counter,
    http2_streams: Counter,
}

/// The daemon's metrics state, in [`crate::context::Shared`].
#[derive(Debug)]
pub struct Metrics {
    shards: PerShard<ShardCounters>,
    /// Rates and input state, sampled once a second by [`live`].
    pub live: Mutex<live::Live>,
    /// Unix seconds at start.
    pub started_unix_secs: f64,
    /// Where `/metrics` is served, once bound.
    pub listen: OnceLock<std::net::SocketAddr>,
}

impl Metrics {
    /// Metrics for `shards` shard threads.
    pub fn new(shards: usize) -> Metrics {
        Metrics {
            shards: PerShard::new(shards),
            live: Mutex::new(live::Live::default()),
            started_unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            listen: OnceLock::new(),
        }
    }

    /// A connection was accepted.
    #[inline]
    pub fn connection_accepted(&self, l: Listener) {
        if let Some(c) = self.shards.mine() {
            c.accepted[l.index()].add(1);
        }
    }

    /// A connection was closed at once because a connection limit was reached. Only counted:
    /// the caller logs it once per client and interval (`limits::log_limit`).
    pub fn connection_refused(&self, l: Listener, limit: &'static str) {
        if let Some(c) = self.shards.mine() {
            if let Some(n) = c.refused_by_limit[l.index()].get(limit_index(limit)) {
                n.add(1);
            }
        }
    }

    /// A request was answered before it reached a channel's input or endpoint.
    #[inline]
    pub fn unrouted(&self, l: Listener, status: u16) {
        if let (Some(c), Some(class)) = (self.shards.mine(), status_class(status)) {
            c.unrouted[l.index()][class].add(1);
        }
    }

    /// `n` objects were moved into pages of their own (`Media::promote_hot`).
    pub fn promoted(&self, n: u64) {
        if let Some(c) = self.shards.mine() {
            c.promoted.add(n);
        }
    }

    /// A TLS handshake on `l` completed (`ok`) or failed.
    pub fn tls_handshake(&self, l: Listener, ok: bool) {
        if let Some(c) = self.shards.mine() {
            c.tls_handshakes[l.index()][usize::from(!ok)].add(1);
        }
    }

    /// TLS handshakes on `l` that completed (`ok`) or failed, all shards.
    pub fn tls_handshakes(&self, l: Listener, ok: bool) -> u64 {
        self.shards
            .sum(|c| c.tls_handshakes[l.index()][usize::from(!ok)].get())
    }

    /// An HTTP/2 connection was set up.
    pub fn http2_connection(&self) {
        if let Some(c) = self.shards.mine() {
            c.http2_connections.add(1);
        }
    }

    /// A stream was opened on an HTTP/2 connection.
    #[inline]
    pub fn http2_stream(&self) {
        if let Some(c) = self.shards.mine() {
            c.http2_streams.add(1);
        }
    }

    /// HTTP/2 connections and streams, all shards.
    pub fn http2_counts(&self) -> (u64, u64) {
        (
            self.shards.sum(|c| c.http2_connections.get()),
            self.shards.sum(|c| c.http2_streams.get()),
        )
    }

    /// Objects moved into pages of their own, all shards.
    pub fn promoted_count(&self) -> u64 {
        self.shards.sum(|c| c.promoted.get())
    }

    /// Access log lines dropped because the writer fell behind.
    pub fn access_log_dropped(&self, lines: u64) {
        if let Some(c) = self.shards.mine() {
            c.access_log_dropped.add(lines);
        }
    }

    /// Connections accepted on `l`, all shards.
    pub fn accepted(&self, l: Listener) -> u64 {
        self.shards.sum(|c| c.accepted[l.index()].get())
    }

    /// Connections refused by any limit on `l`, all shards.
    pub fn refused(&self, l: Listener) -> u64 {
        (0..CONNECTION_LIMITS.len())
            .map(|i| self.refused_by(l, i))
            .sum()
    }

    /// Connections refused on `l` by the limit [`CONNECTION_LIMITS`]`[i]`, all shards.
    pub fn refused_by(&self, l: Listener, i: usize) -> u64 {
        self.shards
            .sum(|c| c.refused_by_limit[l.index()].get(i).map_or(0, Counter::get))
    }

    /// Unrouted requests on `l` of status class `class`, all shards.
    pub fn unrouted_count(&self, l: Listener, class: usize) -> u64 {
        self.shards.sum(|c| c.unrouted[l.index()][class].get())
    }

    /// Access log lines dropped, all shards.
    pub fn access_log_dropped_count(&self) -> u64 {
        self.shards.sum(|c| c.access_log_dropped.get())
    }

    /// A client connection opened on this shard: counted in this shard's own slot, so the
    /// accept path shares no cache line with other cores.
    #[inline]
    pub fn connection_opened(&self) {
        if let Some(c) = self.shards.mine() {
            c.conns_opened.add(1);
        }
    }

    /// A client connection of this shard closed.
    #[inline]
    pub fn connection_closed(&self) {
        if let Some(c) = self.shards.mine() {
            c.conns_closed.add(1);
        }
    }

    /// Client connections open now, all shards.
    pub fn open_connections(&self) -> u64 {
        let opened = self.shards.sum(|c| c.conns_opened.get());
        let closed = self.shards.sum(|c| c.conns_closed.get());
        // Slots are read one after another: a close may be seen before its open.
        opened.saturating_sub(closed)
    }
}

/// Records a finished pull request: on its endpoint when it got that far, else as unrouted.
#[inline]
pub fn pull_done(
    metrics: &Metrics,
    endpoint: Option<(&EndpointMetrics, ObjectType)>,
    status: u16,
    bytes: u64,
    started: Instant,
) {
    match endpoint {
        Some((m, kind)) => {
            let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            m.record(kind, status, bytes, us);
        }
        None => metrics.unrouted(Listener::Pull, status),
    }
}

/// Records a finished ingest request: errors on their input when it got that far (remembered
/// there for `channel show`), else as unrouted. (Limits hit are logged where the refusal is
/// answered: `limits::log_limit`.)
pub fn ingest_done(
    metrics: &Metrics,
    input: Option<(InputRole, Option<&ChannelMetrics>)>,
    answered: IngestAnswered<'_>,
) {
    if answered.status < 400 {
        return;
    }
    match input {
        Some((role, channel_metrics)) => {
            if let Some(c) = channel_metrics {
                c.ingest_error(role, answered);
            }
        }
        None => metrics.unrouted(Listener::Ingest, answered.status),
    }
}

/// Resident set size of this process, bytes (`/proc/self/statm`), 0 when unknown.
pub fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.saturating_mul(u64::try_from(page).unwrap_or(4096))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::histogram::BUCKETS;
    use super::*;
    use std::sync::Arc;
    use streampack_core::id::Id;

    #[test]
    fn classes_and_types() {
        assert_eq!(status_class(200), Some(0));
        assert_eq!(status_class(304), Some(1));
        assert_eq!(status_class(404), Some(2));
        assert_eq!(status_class(503), Some(3));
        assert_eq!(status_class(0), None);
        assert_eq!(status_class(100), None);
        assert_eq!(ObjectType::of_path("main.m3u8"), ObjectType::Manifest);
        assert_eq!(ObjectType::of_path("hi/INDEX.M3U8"), ObjectType::Manifest);
        assert_eq!(ObjectType::of_path("main.mpd"), ObjectType::Manifest);
        assert_eq!(ObjectType::of_path("hi/42.ts"), ObjectType::Segment);
        assert_eq!(ObjectType::of_path(""), ObjectType::Segment);
    }

    #[test]
    fn only_shard_threads_count_and_shards_sum() {
        let id = Id::from_random([7; 14]);
        let m = Arc::new(EndpointMetrics::new(id, 2));
        m.record(ObjectType::Segment, 200, 10, 5);
        assert_eq!(m.requests_total(), 0, "not a shard thread: not counted");
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    enter_shard(i);
                    for _ in 0..1000 {
                        m.record(ObjectType::Segment, 200, 10, 300);
                    }
                    m.record(ObjectType::Manifest, 404, 1, 3_000_000);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(m.requests(ObjectType::Segment, 0), 2000);
        assert_eq!(m.bytes(ObjectType::Segment, 0), 20_000);
        assert_eq!(m.requests(ObjectType::Manifest, 2), 2);
        assert_eq!(m.requests_total(), 2002);
        let h = m.latency(ObjectType::Segment);
        assert_eq!(h.buckets[2], 2000, "300 us falls in the 500 us bucket");
        assert_eq!(h.sum_us, 600_000);
        let h = m.latency(ObjectType::Manifest);
        assert_eq!(h.buckets[BUCKETS - 1], 2, "above every bound");
    }

    #[test]
    fn open_connections_are_counted_per_shard_and_summed() {
        let m = Arc::new(Metrics::new(2));
        m.connection_opened();
        assert_eq!(m.open_connections(), 0, "not a shard thread: not counted");
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    enter_shard(i);
                    for _ in 0..10 {
                        m.connection_opened();
                    }
                    for _ in 0..(3 + i) {
                        m.connection_closed();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(m.open_connections(), 20 - 3 - 4);
    }
}
