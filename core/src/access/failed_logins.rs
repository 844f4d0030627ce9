//! Failed ingest logins per client address: a client that sends wrong credentials too often
//! is refused for a while (`429` with `Retry-After`), whatever it sends then — so guessing a
//! password goes at the limit's pace, and a guess that happens to be right is not told apart.
//! Requests without credentials (an encoder's first try, before the challenge) and stale
//! Digest nonces are not failures. Memory is bounded; past it the table is emptied (it fails
//! open rather than growing).

use std::collections::HashMap;
use std::net::IpAddr;

/// Addresses remembered at most.
const MAX_ADDRESSES: usize = 65_536;

/// The limit: `max_failures` within `window_ms` block the address for `block_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    /// Failures allowed within the window (0: no limit).
    pub max_failures: u32,
    /// The window, ms.
    pub window_ms: u64,
    /// How long an address is refused once it reached the limit, ms.
    pub block_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Failures since `since`.
    failures: u32,
    since: u64,
    blocked_until: u64,
}

/// What the limiter knows of each address.
#[derive(Debug)]
pub struct FailedLogins {
    limit: LoginLimit,
    by_addr: HashMap<IpAddr, Entry>,
}

impl FailedLogins {
    /// An empty table for `limit`.
    pub fn new(limit: LoginLimit) -> FailedLogins {
        FailedLogins {
            limit,
            by_addr: HashMap::new(),
        }
    }

    /// Seconds `addr` must wait before it may log in again (`None`: it may now).
    pub fn blocked(&self, addr: IpAddr, now_ms: u64) -> Option<u64> {
        let e = self.by_addr.get(&addr)?;
        (e.blocked_until > now_ms).then(|| (e.blocked_until - now_ms).div_ceil(1000).max(1))
    }

    /// Records wrong credentials from `addr`; the seconds it must now wait when this reached
    /// the limit.
    pub fn failed(&mut self, addr: IpAddr, now_ms: u64) -> Option<u64> {
        let l = self.limit;
        if l.max_failures == 0 {
            return None;
        }
        if self.by_addr.len() >= MAX_ADDRESSES && !self.by_addr.contains_key(&addr) {
            self.by_addr.retain(|_, e| {
                e.blocked_until > now_ms || now_ms.saturating_sub(e.since) < l.window_ms
            });
            if self.by_addr.len() >= MAX_ADDRESSES {
                self.by_addr.clear();
            }
        }
        let e = self.by_addr.entry(addr).or_insert(Entry {
            failures: 0,
            since: now_ms,
            blocked_until: 0,
        });
        if now_ms.saturating_sub(e.since) >= l.window_ms {
            e.failures = 0;
            e.since = now_ms;
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures >= l.max_failures {
            e.blocked_until = now_ms.saturating_add(l.block_ms);
            e.failures = 0;
            e.since = e.blocked_until;
        }
        self.blocked(addr, now_ms)
    }

    /// Right credentials from `addr` (not blocked): its count starts again.
    pub fn succeeded(&mut self, addr: IpAddr) {
        self.by_addr.remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: LoginLimit = LoginLimit {
        max_failures: 3,
        window_ms: 60_000,
        block_ms: 30_000,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_limit_blocks_the_address_for_its_time() {
        let mut f = FailedLogins::new(LIMIT);
        let (a, b) = (ip("192.0.2.1"), ip("2001:db8::1"));
        assert_eq!(f.failed(a, 1_000), None);
        assert_eq!(f.failed(a, 2_000), None);
        assert_eq!(f.blocked(a, 2_000), None);
        assert_eq!(f.failed(a, 3_000), Some(30), "the third failure blocks");
        assert_eq!(f.blocked(a, 3_000), Some(30));
        assert_eq!(f.blocked(a, 32_500), Some(1), "rounded up");
        assert_eq!(f.blocked(b, 3_000), None, "other addresses are not touched");
        assert_eq!(f.blocked(a, 33_000), None, "the block ends");
        // Then it counts afresh.
        assert_eq!(f.failed(a, 34_000), None);
    }

    #[test]
    fn failures_far_apart_never_block_and_a_success_resets() {
        let mut f = FailedLogins::new(LIMIT);
        let a = ip("192.0.2.1");
        for i in 0..10u64 {
            assert_eq!(f.failed(a, i * 61_000), None, "one failure a window");
        }
        f.failed(a, 700_000);
        f.failed(a, 700_001);
        f.succeeded(a);
        assert_eq!(
            f.failed(a, 700_002),
            None,
            "counted from zero after a success"
        );
        let mut off = FailedLogins::new(LoginLimit {
            max_failures: 0,
            ..LIMIT
        });
        for i in 0..100 {
            assert_eq!(off.failed(a, i), None, "0 turns the limit off");
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let mut f = FailedLogins::new(LIMIT);
        for i in 0..(MAX_ADDRESSES as u32 + 10) {
            f.failed(IpAddr::from(i.to_be_bytes()), 1_000);
        }
        assert!(f.by_addr.len() <= MAX_ADDRESSES);
    }
}
