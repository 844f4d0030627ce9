//! Request latency histograms: fixed bucket bounds, one single-writer histogram per shard,
//! summed at scrape time.

use super::shard::Counter;

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
pub(crate) const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

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
    pub(crate) fn add(&mut self, h: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&h.buckets) {
            *a = a.wrapping_add(b.get());
        }
        self.sum_us = self.sum_us.wrapping_add(h.sum_us.get());
    }
}
