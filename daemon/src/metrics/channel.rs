//! A channel's counters, kept across registry rebuilds while the channel exists: its inputs'
//! ingest errors and its endpoints' requests, bytes and latencies.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use streampack_core::admin::proto::IngestErrorView;
use streampack_core::channel::{ChannelConfig, InputRole};
use streampack_core::id::Id;

use super::histogram::{Histogram, HistogramSum};
use super::labels::{status_class, ObjectType, STATUS_CLASSES};
use super::shard::{Counter, PerShard};

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
pub const INGEST_ERROR_STATUSES: [u16; 14] = [
    400, 401, 403, 404, 405, 408, 411, 413, 415, 429, 431, 500, 501, 503,
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

/// How many refused ingest requests an input remembers for `channel show` and the console.
pub const RECENT_INGEST_ERRORS: usize = 5;

/// The last refused ingest requests of each input, newest first. Refusals are rare and
/// answered slowly anyway: a lock is fine here.
#[derive(Debug, Default)]
pub struct RecentIngestErrors(Mutex<[VecDeque<IngestErrorView>; 2]>);

impl RecentIngestErrors {
    fn push(&self, input: InputRole, e: IngestErrorView) {
        let Ok(mut all) = self.0.lock() else { return };
        let Some(q) = all.get_mut(input.index()) else {
            return;
        };
        q.push_front(e);
        q.truncate(RECENT_INGEST_ERRORS);
    }

    /// The remembered refusals of `input`, newest first.
    pub fn of(&self, input: InputRole) -> Vec<IngestErrorView> {
        self.0
            .lock()
            .ok()
            .and_then(|all| all.get(input.index()).map(|q| q.iter().cloned().collect()))
            .unwrap_or_default()
    }
}

/// An answered ingest request, counted and remembered when refused
/// ([`ChannelMetrics::ingest_error`]).
#[derive(Debug, Clone, Copy)]
pub struct IngestAnswered<'a> {
    /// The status answered.
    pub status: u16,
    /// Its reason.
    pub reason: &'a str,
    /// The path below the input's URL.
    pub path: &'a str,
    /// When, Unix milliseconds.
    pub at_unix_ms: u64,
}

/// A channel's counters: its inputs' ingest errors and its endpoints' requests.
#[derive(Debug, Clone)]
pub struct ChannelMetrics {
    inputs: Arc<PerShard<[InputCounters; 2]>>,
    /// The inputs' last refusals.
    pub recent: Arc<RecentIngestErrors>,
    /// In the channel's endpoint order.
    pub endpoints: Vec<Arc<EndpointMetrics>>,
}

impl ChannelMetrics {
    /// Counters for `config`, keeping `old`'s for the inputs and endpoints that still exist.
    pub fn rebuild(config: &ChannelConfig, old: Option<&ChannelMetrics>, shards: usize) -> Self {
        let inputs = old
            .map(|o| Arc::clone(&o.inputs))
            .unwrap_or_else(|| Arc::new(PerShard::new(shards)));
        let recent = old.map(|o| Arc::clone(&o.recent)).unwrap_or_default();
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| {
                old.and_then(|o| o.endpoints.iter().find(|m| m.id == e.id))
                    .map(Arc::clone)
                    .unwrap_or_else(|| Arc::new(EndpointMetrics::new(e.id, shards)))
            })
            .collect();
        ChannelMetrics {
            inputs,
            recent,
            endpoints,
        }
    }

    /// The counters of endpoint `id`.
    #[inline]
    pub fn endpoint(&self, id: &Id) -> Option<&EndpointMetrics> {
        self.endpoints.iter().find(|m| &m.id == id).map(|m| &**m)
    }

    /// Counts one refused ingest request of `input` and remembers it.
    pub fn ingest_error(&self, input: InputRole, r: IngestAnswered<'_>) {
        self.recent.push(
            input,
            IngestErrorView {
                at_unix_ms: r.at_unix_ms,
                status: r.status,
                reason: r.reason.to_owned(),
                path: r.path.to_owned(),
            },
        );
        let status = r.status;
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
