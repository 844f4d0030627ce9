//! Digest nonce counts (RFC 7616 §3.4: `nc` counts the requests a client sent with one nonce):
//! a request whose `nc` was already used with its nonce is a replay, answered like an expired
//! nonce (`401` with `stale=true`: a real client retries with a fresh one; a replayed capture
//! cannot). Counts may arrive out of order over parallel connections: the last 64 below the
//! highest are remembered one by one.
//!
//! Only requests whose credentials were right are recorded, so the table holds what real
//! clients used; it is bounded all the same (the oldest nonces go first, and none outlives
//! [`super::digest::NONCE_LIFETIME_MS`]).

use std::collections::{HashMap, VecDeque};

/// Nonces remembered at most.
const MAX_NONCES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Highest count seen.
    max: u64,
    /// Bit `i`: count `max - i` seen.
    window: u64,
}

/// The counts seen per nonce.
#[derive(Debug, Default)]
pub struct NonceCounts {
    seen: HashMap<String, Seen>,
    /// Nonces in the order first seen, with when (Unix ms).
    order: VecDeque<(u64, String)>,
}

impl NonceCounts {
    /// An empty table.
    pub fn new() -> NonceCounts {
        NonceCounts::default()
    }

    /// Records count `nc` of `nonce` at `now_ms`; `false` when it was used already (or is too
    /// far below the highest to tell), i.e. a replay.
    pub fn fresh(&mut self, nonce: &str, nc: u64, now_ms: u64) -> bool {
        self.expire(now_ms);
        let Some(s) = self.seen.get_mut(nonce) else {
            if self.seen.len() >= MAX_NONCES {
                if let Some((_, oldest)) = self.order.pop_front() {
                    self.seen.remove(&oldest);
                }
            }
            self.seen
                .insert(nonce.to_owned(), Seen { max: nc, window: 1 });
            self.order.push_back((now_ms, nonce.to_owned()));
            return true;
        };
        if nc > s.max {
            let shift = nc - s.max;
            s.window = if shift >= 64 { 0 } else { s.window << shift };
            s.window |= 1;
            s.max = nc;
            return true;
        }
        let back = s.max - nc;
        if back >= 64 || s.window & (1 << back) != 0 {
            return false;
        }
        s.window |= 1 << back;
        true
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some((at, nonce)) = self.order.front() {
            if now_ms.saturating_sub(*at) <= super::digest::NONCE_LIFETIME_MS {
                break;
            }
            self.seen.remove(nonce);
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_taken_once_even_out_of_order() {
        let mut t = NonceCounts::new();
        assert!(t.fresh("n1", 1, 0));
        assert!(!t.fresh("n1", 1, 0), "replayed");
        assert!(t.fresh("n1", 3, 0));
        assert!(t.fresh("n1", 2, 0), "late, over a parallel connection");
        assert!(!t.fresh("n1", 2, 0));
        assert!(t.fresh("n2", 1, 0), "counts are per nonce");
        assert!(t.fresh("n1", 100, 0));
        assert!(!t.fresh("n1", 36, 0), "too far behind to tell: refused");
        assert!(t.fresh("n1", 40, 0));
        assert!(!t.fresh("n1", 40, 0));
    }

    #[test]
    fn nonces_are_forgotten_after_their_lifetime_and_the_table_is_bounded() {
        let mut t = NonceCounts::new();
        assert!(t.fresh("n1", 1, 0));
        let later = super::super::digest::NONCE_LIFETIME_MS + 1;
        assert!(
            t.fresh("n1", 1, later),
            "forgotten after its lifetime (the nonce itself is stale by then)"
        );
        for i in 0..(MAX_NONCES + 5) {
            t.fresh(&format!("x{i}"), 1, later);
        }
        assert!(t.seen.len() <= MAX_NONCES);
        assert_eq!(t.seen.len(), t.order.len());
    }
}
