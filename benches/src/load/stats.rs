//! Latency samples and their percentiles.

use std::collections::BTreeMap;
use std::time::Duration;

/// Errors counted by kind: their total, and `kind:n,kind:n` (`none` when there is none) for a
/// `RESULT` line.
pub fn error_counts(errors: &BTreeMap<String, u64>) -> (u64, String) {
    let total = errors.values().sum();
    if errors.is_empty() {
        return (total, "none".to_string());
    }
    let by = errors
        .iter()
        .map(|(k, n)| format!("{k}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    (total, by)
}

/// Latency samples in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    us: Vec<u32>,
}

impl Samples {
    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        self.us
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    /// Adds another thread's samples.
    pub fn merge(&mut self, other: Samples) {
        self.us.extend(other.us);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.us.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.us.is_empty()
    }

    /// The percentiles `qs` (0.0–1.0), in microseconds; 0 when there are no samples.
    pub fn percentiles(&mut self, qs: &[f64]) -> Vec<u32> {
        self.us.sort_unstable();
        qs.iter().map(|&q| percentile(&self.us, q)).collect()
    }
}

/// Nearest-rank percentile of sorted `v`: the smallest sample with at least `q` of all samples
/// at or below it. 0 for an empty slice.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let q = q.clamp(0.0, 1.0);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Formats microseconds for people (`850us`, `1.25ms`, `2.0s`).
pub fn fmt_us(us: u32) -> String {
    match us {
        0..=9_999 => format!("{us}us"),
        10_000..=9_999_999 => format!("{:.2}ms", f64::from(us) / 1000.0),
        _ => format!("{:.1}s", f64::from(us) / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 0.999), 100);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 0.999), 7);
        assert_eq!(percentile(&[], 0.5), 0);
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.999), 999);
    }

    #[test]
    fn samples_sort_before_ranking() {
        let mut s = Samples::default();
        for us in [30u64, 10, 20] {
            s.record(Duration::from_micros(us));
        }
        let mut t = Samples::default();
        t.record(Duration::from_micros(40));
        s.merge(t);
        assert_eq!(s.len(), 4);
        assert_eq!(s.percentiles(&[0.5, 1.0]), vec![20, 40]);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_us(850), "850us");
        assert_eq!(fmt_us(12_500), "12.50ms");
        assert_eq!(fmt_us(20_000_000), "20.0s");
    }
}
