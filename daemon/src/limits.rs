//! Connection limits per shard, and the "log a limit once per client per interval" rule.
//!
//! Each shard counts its own connections with no lock and no atomic on the hot path: a
//! `Cell` for the total and a `HashMap` from client address to open connections. Limits are
//! shared out evenly: a shard admits `max_connections / shards` connections in all and
//! `max_connections_per_ip / shards` from one client (at least one each). The kernel spreads
//! connections over the shards' `SO_REUSEPORT` sockets by a hash of the 4-tuple, so the sum
//! over shards never exceeds the configured limit, and a client may be refused a little before
//! reaching it when its connections land unevenly.
//!
//! A client address is an IPv4 address, or the /64 prefix of an IPv6 address (one host
//! usually holds a whole /64). IPv4-mapped IPv6 addresses count as IPv4.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The address limits are counted by: IPv4, or an IPv6 /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The shard holds its share of `max_connections`.
    Total,
    /// The shard holds its share of `max_connections_per_ip` from this client.
    PerClient,
}

/// One shard's open connections.
pub struct ShardConns {
    max_total: usize,
    max_per_client: u32,
    open: Cell<usize>,
    per_client: RefCell<HashMap<IpAddr, u32>>,
}

impl ShardConns {
    /// Counts for one of `shards` shards sharing the given daemon-wide limits.
    pub fn new(max_connections: usize, max_per_ip: usize, shards: usize) -> Rc<ShardConns> {
        let shards = shards.max(1);
        Rc::new(ShardConns {
            max_total: (max_connections / shards).max(1),
            max_per_client: u32::try_from((max_per_ip / shards).max(1)).unwrap_or(u32::MAX),
            open: Cell::new(0),
            per_client: RefCell::new(HashMap::new()),
        })
    }

    /// Connections open on this shard.
    pub fn open(&self) -> usize {
        self.open.get()
    }

    /// Admits a connection from `ip`, or says which limit it hits. The permit gives the slot
    /// back when dropped.
    pub fn admit(self: &Rc<Self>, ip: IpAddr) -> Result<ConnPermit, Refused> {
        if self.open.get() >= self.max_total {
            return Err(Refused::Total);
        }
        let key = client_key(ip);
        let mut map = self.per_client.borrow_mut();
        let n = map.entry(key).or_insert(0);
        if *n >= self.max_per_client {
            return Err(Refused::PerClient);
        }
        *n += 1;
        self.open.set(self.open.get() + 1);
        Ok(ConnPermit {
            conns: Rc::clone(self),
            key,
        })
    }

    fn release(&self, key: IpAddr) {
        self.open.set(self.open.get().saturating_sub(1));
        let mut map = self.per_client.borrow_mut();
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

/// A counted connection; dropping it frees the slot.
pub struct ConnPermit {
    conns: Rc<ShardConns>,
    key: IpAddr,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.conns.release(self.key);
    }
}

/// Warns when `max_connections` cannot be reached because the process may open fewer files
/// (`ulimit -n`; the systemd unit sets `LimitNOFILE`): accept would then fail with EMFILE
/// before the limit refuses anyone.
pub fn check_nofile(max_connections: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    // Listeners, the admin socket, the state file and logs need a few descriptors too.
    let needed = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(64);
    if lim.rlim_cur < needed {
        tracing::warn!(
            "limits.max_connections is {max_connections} but the open-file limit is {} \
             (ulimit -n): raise it (LimitNOFILE=) or lower max_connections",
            lim.rlim_cur
        );
    }
}

/// Seconds between two log lines about the same client hitting limits.
static LOG_INTERVAL_SECS: AtomicU64 = AtomicU64::new(10);
/// Most clients remembered per thread for log rate limiting.
const LOG_MEMORY: usize = 4096;

/// Sets the interval of [`log_limit`] (from `limits.log_interval_secs`).
pub fn set_log_interval(secs: u64) {
    LOG_INTERVAL_SECS.store(secs.max(1), Ordering::Relaxed);
}

thread_local! {
    /// Per client: when it was last logged, and hits not logged since.
    static LAST_LOGGED: RefCell<HashMap<IpAddr, (Instant, u64)>> = RefCell::new(HashMap::new());
}

/// Whether a line about `ip` may be logged now: at most once per interval per client (and per
/// shard thread), so a hostile client cannot flood the log. `Some(n)`: log, mentioning the
/// `n` hits of this client that were not logged since its previous line.
pub fn should_log(ip: IpAddr, now: Instant) -> Option<u64> {
    let interval = Duration::from_secs(LOG_INTERVAL_SECS.load(Ordering::Relaxed));
    let key = client_key(ip);
    LAST_LOGGED.with(|m| {
        let mut m = m.borrow_mut();
        let mut skipped = 0;
        if let Some((last, n)) = m.get_mut(&key) {
            if now.saturating_duration_since(*last) < interval {
                *n = n.saturating_add(1);
                return None;
            }
            skipped = *n;
        }
        if m.len() >= LOG_MEMORY {
            m.retain(|_, (t, _)| now.saturating_duration_since(*t) < interval);
            if m.len() >= LOG_MEMORY {
                // Many clients at once: forget them all rather than grow without bound.
                m.clear();
            }
        }
        m.insert(key, (now, 0));
        Some(skipped)
    })
}

/// Logs that `ip` hit a limit, at most once per client per interval.
pub fn log_limit(ip: IpAddr, what: &str) {
    if let Some(skipped) = should_log(ip, Instant::now()) {
        let secs = LOG_INTERVAL_SECS.load(Ordering::Relaxed);
        tracing::warn!(
            client = %ip,
            "limit hit: {what} ({skipped} earlier hits not logged; next line for this client in {secs} s at the earliest)"
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_client_and_total_caps_are_shared_out_per_shard() {
        // 10 per client over 2 shards: 5 here; 9 in all over 2 shards: 4 here.
        let c = ShardConns::new(9, 10, 2);
        let a: Vec<_> = (0..4).map(|_| c.admit(ip("10.0.0.1")).unwrap()).collect();
        assert_eq!(c.admit(ip("10.0.0.2")).err(), Some(Refused::Total));
        drop(a);
        assert_eq!(c.open(), 0);
        let c = ShardConns::new(100, 10, 2);
        let a: Vec<_> = (0..5).map(|_| c.admit(ip("10.0.0.1")).unwrap()).collect();
        assert_eq!(c.admit(ip("10.0.0.1")).err(), Some(Refused::PerClient));
        let b = c.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(c.open(), 6);
        drop(a);
        assert!(c.admit(ip("10.0.0.1")).is_ok(), "slots come back");
        drop(b);
        assert!(
            c.per_client.borrow().is_empty(),
            "no entry kept for gone clients"
        );
    }

    #[test]
    fn at_least_one_connection_per_shard() {
        let c = ShardConns::new(1, 1, 8);
        let _p = c.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(c.admit(ip("10.0.0.2")).err(), Some(Refused::Total));
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_v4_as_v4() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        let c = ShardConns::new(100, 2, 1);
        let _a = c.admit(ip("2001:db8::1")).unwrap();
        let _b = c.admit(ip("2001:db8::2")).unwrap();
        assert_eq!(c.admit(ip("2001:db8::3")).err(), Some(Refused::PerClient));
    }

    #[test]
    fn logs_once_per_client_per_interval() {
        set_log_interval(10);
        let t0 = Instant::now();
        assert_eq!(should_log(ip("192.0.2.1"), t0), Some(0));
        assert_eq!(
            should_log(ip("192.0.2.1"), t0 + Duration::from_secs(9)),
            None
        );
        assert_eq!(
            should_log(ip("192.0.2.1"), t0 + Duration::from_secs(9)),
            None
        );
        assert_eq!(should_log(ip("192.0.2.2"), t0), Some(0), "another client");
        assert_eq!(
            should_log(ip("192.0.2.1"), t0 + Duration::from_secs(10)),
            Some(2),
            "the next line counts the hits it stood for"
        );
        // Memory stays bounded under many clients.
        for i in 0..(LOG_MEMORY as u32 * 2) {
            should_log(IpAddr::V4(i.into()), t0);
        }
        LAST_LOGGED.with(|m| assert!(m.borrow().len() <= LOG_MEMORY));
    }
}
