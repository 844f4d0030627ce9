//! The log of one input's deliveries of its leader playlist: what failover's alignment check
//! compares between the two inputs, bounded by the window.
//!
//! Deliveries are recorded with a non-decreasing `now`, so a queue in delivery order has the
//! oldest at its front and expiring them costs only the entries that expire. (The log was a
//! map retained in full on every ingest: with a window of many short segments that scan was
//! 22 % of the ingest CPU.)

use std::collections::{BTreeMap, HashMap, VecDeque};

/// One delivered segment of a leader playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub at_mono: u64,
    pub duration_ms: u64,
    /// `EXT-X-PROGRAM-DATE-TIME` (given or extrapolated within the playlist), Unix ms.
    pub pdt_ms: Option<i64>,
}

/// Deliveries by playlist path and input sequence number.
#[derive(Debug, Default)]
pub(crate) struct DeliveryLog {
    by_path: HashMap<String, BTreeMap<u64, Delivery>>,
    /// `(at_mono, path, seq)` in delivery order.
    order: VecDeque<(u64, String, u64)>,
}

impl DeliveryLog {
    pub fn get(&self, path: &str, seq: u64) -> Option<&Delivery> {
        self.by_path.get(path)?.get(&seq)
    }

    pub fn contains(&self, path: &str, seq: u64) -> bool {
        self.get(path, seq).is_some()
    }

    /// Deliveries of `path`, highest sequence number first.
    pub fn newest_first<'a>(&'a self, path: &str) -> impl Iterator<Item = (u64, &'a Delivery)> {
        self.by_path
            .get(path)
            .into_iter()
            .flat_map(|m| m.iter().rev().map(|(s, d)| (*s, d)))
    }

    /// Records a delivery (replacing one of the same path and number).
    pub fn insert(&mut self, path: &str, seq: u64, d: Delivery) {
        match self.by_path.get_mut(path) {
            Some(m) => {
                m.insert(seq, d);
            }
            None => {
                self.by_path
                    .insert(path.to_string(), BTreeMap::from([(seq, d)]));
            }
        }
        self.order.push_back((d.at_mono, path.to_string(), seq));
    }

    /// Forgets deliveries older than `window_ms` at `now_mono`.
    pub fn expire(&mut self, now_mono: u64, window_ms: u64) {
        while let Some((at, _, _)) = self.order.front() {
            if now_mono.saturating_sub(*at) <= window_ms {
                break;
            }
            let Some((at, path, seq)) = self.order.pop_front() else {
                break;
            };
            let Some(m) = self.by_path.get_mut(&path) else {
                continue;
            };
            // A replaced delivery leaves its older queue entry behind: keep the newer one.
            if m.get(&seq).is_some_and(|d| d.at_mono == at) {
                m.remove(&seq);
                if m.is_empty() {
                    self.by_path.remove(&path);
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.by_path.clear();
        self.order.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_path.values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(at_mono: u64) -> Delivery {
        Delivery {
            at_mono,
            duration_ms: 2000,
            pdt_ms: None,
        }
    }

    #[test]
    fn expires_only_what_left_the_window() {
        let mut log = DeliveryLog::default();
        for (i, at) in [0u64, 1000, 2000, 3000].into_iter().enumerate() {
            log.insert("a.m3u8", i as u64, d(at));
        }
        log.insert("b.m3u8", 7, d(2500));
        log.expire(6000, 4000);
        assert!(!log.contains("a.m3u8", 0) && !log.contains("a.m3u8", 1));
        assert!(log.contains("a.m3u8", 2) && log.contains("a.m3u8", 3));
        assert!(log.contains("b.m3u8", 7));
        assert_eq!(log.len(), 3);
        let seqs: Vec<u64> = log.newest_first("a.m3u8").map(|(s, _)| s).collect();
        assert_eq!(seqs, vec![3, 2]);
        log.expire(100_000, 4000);
        assert_eq!(log.len(), 0);
        assert!(log.by_path.is_empty() && log.order.is_empty());
    }

    #[test]
    fn a_replaced_delivery_lives_as_long_as_its_newest_time() {
        let mut log = DeliveryLog::default();
        log.insert("a.m3u8", 5, d(0));
        log.insert("a.m3u8", 5, d(3000));
        log.expire(4500, 4000);
        assert_eq!(log.get("a.m3u8", 5).map(|d| d.at_mono), Some(3000));
        log.expire(7500, 4000);
        assert!(!log.contains("a.m3u8", 5));
    }

    #[test]
    fn clear_forgets_everything() {
        let mut log = DeliveryLog::default();
        log.insert("a.m3u8", 1, d(0));
        log.clear();
        assert_eq!(log.len(), 0);
        assert!(log.newest_first("a.m3u8").next().is_none());
    }
}
