//! Media fetched from other nodes, shared by every shard: kept for its time to live, bounded
//! in bytes, and fetched once however many requests miss at the same moment (the first
//! fetches, the others wait for its answer).

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An answer fetched from another node, as it is served again.
#[derive(Debug)]
pub struct Fetched {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Vec<u8>,
    /// `Cache-Control`.
    pub cache_control: Vec<u8>,
    /// `ETag` (empty when none).
    pub etag: String,
    /// `Last-Modified`, Unix ms (0 when none).
    pub last_modified_unix_ms: u64,
    /// The body.
    pub body: Bytes,
}

enum Slot {
    /// A fetch is under way; its waiters listen here.
    Pending(Arc<event_listener::Event>),
    /// Fetched, good until then.
    Ready(Arc<Fetched>, Instant),
}

#[derive(Default)]
struct Inner {
    slots: HashMap<String, Slot>,
    bytes: u64,
}

/// The cache.
pub struct PeerCache {
    inner: Mutex<Inner>,
    max_bytes: u64,
}

/// What a lookup found.
pub enum Found<'a> {
    /// A fresh answer.
    Hit(Arc<Fetched>),
    /// Another request is fetching it: wait, then look again.
    Wait(event_listener::EventListener),
    /// Nobody is: fetch it, then [`FetchTurn::done`] (dropping the turn lets the waiters go).
    Fetch(FetchTurn<'a>),
}

/// The right (and duty) to fetch one key.
pub struct FetchTurn<'a> {
    cache: &'a PeerCache,
    key: String,
    event: Arc<event_listener::Event>,
    finished: bool,
}

impl PeerCache {
    /// A cache of at most `max_bytes` of bodies.
    pub fn new(max_bytes: u64) -> PeerCache {
        PeerCache {
            inner: Mutex::new(Inner::default()),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks `key` up at `now`.
    pub fn find(&self, key: &str, now: Instant) -> Found<'_> {
        let mut inner = self.lock();
        match inner.slots.get(key) {
            Some(Slot::Ready(f, until)) if *until > now => return Found::Hit(Arc::clone(f)),
            Some(Slot::Pending(ev)) => return Found::Wait(ev.listen()),
            _ => {}
        }
        if let Some(Slot::Ready(old, _)) = inner.slots.remove(key) {
            inner.bytes = inner.bytes.saturating_sub(old.body.len() as u64);
        }
        let event = Arc::new(event_listener::Event::new());
        inner
            .slots
            .insert(key.to_string(), Slot::Pending(Arc::clone(&event)));
        Found::Fetch(FetchTurn {
            cache: self,
            key: key.to_string(),
            event,
            finished: false,
        })
    }

    /// Bytes of bodies held.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Makes room for `need` more bytes: expired entries first, then those expiring soonest.
    fn make_room(&self, inner: &mut Inner, need: u64, now: Instant) {
        if inner.bytes + need <= self.max_bytes {
            return;
        }
        let mut ready: Vec<(Instant, String, u64)> = inner
            .slots
            .iter()
            .filter_map(|(k, s)| match s {
                Slot::Ready(f, until) => Some((*until, k.clone(), f.body.len() as u64)),
                Slot::Pending(_) => None,
            })
            .collect();
        ready.sort();
        for (until, key, len) in ready {
            if inner.bytes + need <= self.max_bytes && until > now {
                break;
            }
            inner.slots.remove(&key);
            inner.bytes = inner.bytes.saturating_sub(len);
        }
    }
}

impl FetchTurn<'_> {
    /// Stores the answer for `ttl` (zero: only for the requests waiting now) and wakes the
    /// waiters.
    pub fn done(mut self, answer: Arc<Fetched>, ttl: Duration) {
        let now = Instant::now();
        let len = answer.body.len() as u64;
        let mut inner = self.cache.lock();
        inner.slots.remove(&self.key);
        // Zero TTL still serves the waiters woken now (they look again at once).
        let until = now + ttl.max(Duration::from_millis(50));
        if len <= self.cache.max_bytes {
            self.cache.make_room(&mut inner, len, now);
            inner
                .slots
                .insert(std::mem::take(&mut self.key), Slot::Ready(answer, until));
            inner.bytes += len;
        }
        drop(inner);
        self.finished = true;
        self.event.notify(usize::MAX);
    }
}

impl Drop for FetchTurn<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut inner = self.cache.lock();
        if matches!(inner.slots.get(&self.key), Some(Slot::Pending(_))) {
            inner.slots.remove(&self.key);
        }
        drop(inner);
        self.event.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn fetched(len: usize) -> Arc<Fetched> {
        Arc::new(Fetched {
            status: 200,
            content_type: b"video/mp2t".to_vec(),
            cache_control: Vec::new(),
            etag: String::new(),
            last_modified_unix_ms: 0,
            body: Bytes::from(vec![0u8; len]),
        })
    }

    #[test]
    fn one_fetch_for_concurrent_misses_then_hits_until_the_ttl() {
        let cache = PeerCache::new(1 << 20);
        let now = Instant::now();
        let Found::Fetch(turn) = cache.find("/a", now) else {
            panic!("first miss fetches")
        };
        assert!(matches!(cache.find("/a", now), Found::Wait(_)));
        turn.done(fetched(10), Duration::from_secs(5));
        assert!(matches!(cache.find("/a", now), Found::Hit(_)));
        assert_eq!(cache.bytes(), 10);
        let later = now + Duration::from_secs(6);
        assert!(matches!(cache.find("/a", later), Found::Fetch(_)));
    }

    #[test]
    fn an_abandoned_fetch_lets_the_next_request_fetch() {
        let cache = PeerCache::new(1 << 20);
        let now = Instant::now();
        let Found::Fetch(turn) = cache.find("/a", now) else {
            panic!()
        };
        drop(turn);
        assert!(matches!(cache.find("/a", now), Found::Fetch(_)));
    }

    #[test]
    fn the_byte_bound_evicts_what_expires_first() {
        let cache = PeerCache::new(25);
        let now = Instant::now();
        for (key, ttl) in [("/a", 10), ("/b", 5), ("/c", 20)] {
            let Found::Fetch(turn) = cache.find(key, now) else {
                panic!()
            };
            turn.done(fetched(10), Duration::from_secs(ttl));
        }
        assert_eq!(cache.bytes(), 20);
        assert!(
            matches!(cache.find("/b", now), Found::Fetch(_)),
            "/b went first"
        );
        assert!(matches!(cache.find("/a", now), Found::Hit(_)));
        assert!(matches!(cache.find("/c", now), Found::Hit(_)));
        // Larger than the whole cache: served to the waiters, never kept.
        let Found::Fetch(turn) = cache.find("/big", now) else {
            panic!()
        };
        turn.done(fetched(100), Duration::from_secs(5));
        assert!(cache.bytes() <= 25);
    }
}
