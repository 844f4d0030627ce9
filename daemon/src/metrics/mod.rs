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

pub mod collect;
pub mod expo;
pub mod live;
pub mod serve;
pub mod settings;

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use streampack_core::channel::{ChannelConfig, InputRole};
use streampack_core::id::Id;

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Declares the calling thread to be shard `i`: it alone writes slot `i` of every
/// [`PerShard`]. Called once at the start of each shard thread.
pub fn enter_shard(i: usize) {
    SHARD.with(|s| s.set(i));
}

fn shard_index() -> usize {
    SHARD.with(Cell::get)
}

/// A monotonically increasing count with a single writer (see the module docs).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the slot's own shard calls this, so load-then-store loses nothing.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Keeps each shard's slot on its own cache lines (128 bytes: adjacent-line prefetch).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// One `T` per shard thread.
#[derive(Debug)]
pub struct PerShard<T> {
    slots: Box<[Padded<T>]>,
}

impl<T: Default> PerShard<T> {
    /// `n` zeroed slots.
    pub fn new(n: usize) -> PerShard<T> {
        PerShard {
            slots: (0..n).map(|_| Padded::default()).collect(),
        }
    }
}

impl<T> PerShard<T> {
    /// The calling shard's slot; `None` on threads that are not shards (they never count).
    #[inline]
    pub fn mine(&self) -> Option<&T> {
        self.slots.get(shard_index()).map(|p| &p.0)
    }

    /// Every slot (for summing on scrape).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|p| &p.0)
    }

    /// Sum of `f` over every slot.
    pub fn sum(&self, f: impl Fn(&T) -> u64) -> u64 {
        self.iter().map(f).fold(0u64, u64::wrapping_add)
    }
}

/// Which listener a request or connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Encoders.
    Ingest,
    /// Players and CDNs.
    Pull,
}

impl Listener {
    /// Both, in label order.
    pub const ALL: [Listener; 2] = [Listener::Ingest, Listener::Pull];

    fn index(self) -> usize {
        self as usize
    }

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Listener::Ingest => "ingest",
            Listener::Pull => "pull",
        }
    }
}

/// What a pull request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// Playlists and manifests.
    Manifest,
    /// Media and init segments (and anything else under an endpoint).
    Segment,
}

impl ObjectType {
    /// Both, in label order.
    pub const ALL: [ObjectType; 2] = [ObjectType::Manifest, ObjectType::Segment];

    fn index(self) -> usize {
        self as usize
    }

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Manifest => "manifest",
            ObjectType::Segment => "segment",
        }
    }

    /// Classifies a request path by its extension.
    pub fn of_path(path: &str) -> ObjectType {
        let p = path.as_bytes();
        let ends =
            |ext: &[u8]| p.len() >= ext.len() && p[p.len() - ext.len()..].eq_ignore_ascii_case(ext);
        if ends(b".m3u8") || ends(b".mpd") {
            ObjectType::Manifest
        } else {
            ObjectType::Segment
        }
    }
}

/// Status class labels, by [`status_class`] index.
pub const STATUS_CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// Index into [`STATUS_CLASSES`]; `None` for what is not a final status (0: nothing was sent).
pub fn status_class(status: u16) -> Option<usize> {
    match status {
        200..=299 => Some(0),
        300..=399 => Some(1),
        400..=499 => Some(2),
        500..=599 => Some(3),
        _ => None,
    }
}

/// Upper bounds of the latency histogram's buckets, microseconds.
pub const LATENCY_BOUNDS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000,
];
/// The same bounds as `le` label values, seconds.
pub const LATENCY_LE: [&str; 14] = [
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "2.5",
];
const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// A latency histogram: per-bucket (not cumulative) counts, the last one above every bound.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [Counter; BUCKETS],
    sum_us: Counter,
}

impl Histogram {
    /// Records one observation.
    #[inline]
    pub fn observe(&self, us: u64) {
        let i = LATENCY_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BOUNDS_US.len());
        if let Some(b) = self.buckets.get(i) {
            b.add(1);
        }
        self.sum_us.add(us);
    }
}

/// A histogram summed over shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistogramSum {
    /// Per-bucket counts, not cumulative; the last is above every bound.
    pub buckets: [u64; BUCKETS],
    /// Sum of observations, microseconds.
    pub sum_us: u64,
}

impl HistogramSum {
    fn add(&mut self, h: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&h.buckets) {
            *a = a.wrapping_add(b.get());
        }
        self.sum_us = self.sum_us.wrapping_add(h.sum_us.get());
    }
}

/// One endpoint's request counters, one shard's worth.
#[derive(Debug, Default)]
pub struct EndpointCounters {
    requests: [[Counter; 4]; 2],
    bytes: [[Counter; 4]; 2],
    latency: [Histogram; 2],
}

/// An endpoint's counters over all shards.
#[derive(Debug)]
pub struct EndpointMetrics {
    /// The endpoint.
    pub id: Id,
    shards: PerShard<EndpointCounters>,
}

impl EndpointMetrics {
    /// Zeroed counters of endpoint `id` for `shards` shard threads.
    pub fn new(id: Id, shards: usize) -> EndpointMetrics {
        EndpointMetrics {
            id,
            shards: PerShard::new(shards),
        }
    }

    /// Counts one answered request. `status` 0 (nothing sent) is not counted.
    #[inline]
    pub fn record(&self, kind: ObjectType, status: u16, bytes: u64, elapsed_us: u64) {
        let (Some(c), Some(class)) = (self.shards.mine(), status_class(status)) else {
            return;
        };
        let k = kind.index();
        if let (Some(r), Some(b), Some(h)) = (
            c.requests.get(k).and_then(|r| r.get(class)),
            c.bytes.get(k).and_then(|r| r.get(class)),
            c.latency.get(k),
        ) {
            r.add(1);
            b.add(bytes);
            h.observe(elapsed_us);
        }
    }

    /// Requests of one type and status class, all shards.
    pub fn requests(&self, kind: ObjectType, class: usize) -> u64 {
        self.shards.sum(|c| c.requests[kind.index()][class].get())
    }

    /// Response bytes of one type and status class, all shards.
    pub fn bytes(&self, kind: ObjectType, class: usize) -> u64 {
        self.shards.sum(|c| c.bytes[kind.index()][class].get())
    }

    /// Every request, all types and classes.
    pub fn requests_total(&self) -> u64 {
        ObjectType::ALL
            .iter()
            .flat_map(|&k| (0..STATUS_CLASSES.len()).map(move |c| (k, c)))
            .map(|(k, c)| self.requests(k, c))
            .fold(0, u64::wrapping_add)
    }

    /// Every response byte, all types and classes.
    pub fn bytes_total(&self) -> u64 {
        ObjectType::ALL
            .iter()
            .flat_map(|&k| (0..STATUS_CLASSES.len()).map(move |c| (k, c)))
            .map(|(k, c)| self.bytes(k, c))
            .fold(0, u64::wrapping_add)
    }

    /// Latency of one type, all shards.
    pub fn latency(&self, kind: ObjectType) -> HistogramSum {
        let mut s = HistogramSum::default();
        for c in self.shards.iter() {
            s.add(&c.latency[kind.index()]);
        }
        s
    }
}

/// Ingest statuses counted one by one; anything else is counted as the last entry ("other").
pub const INGEST_ERROR_STATUSES: [u16; 13] = [
    400, 401, 403, 404, 405, 408, 411, 413, 415, 431, 500, 501, 503,
];

/// One input's ingest counters, one shard's worth.
#[derive(Debug, Default)]
pub struct InputCounters {
    errors: [Counter; INGEST_ERROR_STATUSES.len() + 1],
}

/// The label of an [`InputCounters`] error slot.
pub fn ingest_error_label(i: usize) -> String {
    INGEST_ERROR_STATUSES
        .get(i)
        .map_or_else(|| "other".to_string(), |s| s.to_string())
}

/// A channel's counters: its inputs' ingest errors and its endpoints' requests.
#[derive(Debug, Clone)]
pub struct ChannelMetrics {
    inputs: Arc<PerShard<[InputCounters; 2]>>,
    /// In the channel's endpoint order.
    pub endpoints: Vec<Arc<EndpointMetrics>>,
}

impl ChannelMetrics {
    /// Counters for `config`, keeping `old`'s for the inputs and endpoints that still exist.
    pub fn rebuild(config: &ChannelConfig, old: Option<&ChannelMetrics>, shards: usize) -> Self {
        let inputs = old
            .map(|o| Arc::clone(&o.inputs))
            .unwrap_or_else(|| Arc::new(PerShard::new(shards)));
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| {
                old.and_then(|o| o.endpoints.iter().find(|m| m.id == e.id))
                    .map(Arc::clone)
                    .unwrap_or_else(|| Arc::new(EndpointMetrics::new(e.id, shards)))
            })
            .collect();
        ChannelMetrics { inputs, endpoints }
    }

    /// The counters of endpoint `id`.
    #[inline]
    pub fn endpoint(&self, id: &Id) -> Option<&EndpointMetrics> {
        self.endpoints.iter().find(|m| &m.id == id).map(|m| &**m)
    }

    /// Counts one refused ingest request of `input`.
    pub fn ingest_error(&self, input: InputRole, status: u16) {
        let Some(c) = self.inputs.mine().and_then(|s| s.get(input.index())) else {
            return;
        };
        let i = INGEST_ERROR_STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(INGEST_ERROR_STATUSES.len());
        if let Some(e) = c.errors.get(i) {
            e.add(1);
        }
    }

    /// Ingest errors of `input` by [`ingest_error_label`] slot, all shards.
    pub fn ingest_errors(&self, input: InputRole) -> Vec<u64> {
        (0..=INGEST_ERROR_STATUSES.len())
            .map(|i| self.inputs.sum(|s| s[input.index()].errors[i].get()))
            .collect()
    }
}

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

/// Records a finished ingest request: errors on their input when it got that far, else as
/// unrouted. (Limits hit are logged where the refusal is answered: `limits::log_limit`.)
pub fn ingest_done(
    metrics: &Metrics,
    input: Option<(InputRole, Option<&ChannelMetrics>)>,
    status: u16,
) {
    if status < 400 {
        return;
    }
    match input {
        Some((role, channel_metrics)) => {
            if let Some(c) = channel_metrics {
                c.ingest_error(role, status);
            }
        }
        None => metrics.unrouted(Listener::Ingest, status),
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
    use super::*;

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
