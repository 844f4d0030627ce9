//! Media fetched from other nodes, shared by every shard: kept for its time to live, bounded
//! in bytes (bodies and a per-entry overhead, so many small answers count too), and fetched
//! once however many requests miss at the same moment (the first fetches, the others wait for
//! its answer). Entries leave in expiry order: the expired ones at each insert, then the
//! soonest to expire while the bound is exceeded.

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
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

/// Bytes an entry costs besides its body and key (the answer's headers, the maps' entries).
const ENTRY_OVERHEAD: u64 = 256;

enum Slot {
    /// A fetch is under way; its waiters listen here.
    Pending(Arc<event_listener::Event>),
    /// Fetched, good until then; its place in the expiry order.
    Ready(Arc<Fetched>, (Instant, u64)),
}

#[derive(Default)]
struct Inner {
    slots: HashMap<String, Slot>,
    /// Ready entries by expiry (then insertion).
    by_expiry: BTreeMap<(Instant, u64), String>,
    bytes: u64,
    seq: u64,
}

impl Inner {
    fn cost(key: &str, f: &Fetched) -> u64 {
        f.body.len() as u64 + key.len() as u64 + ENTRY_OVERHEAD
    }

    /// Removes `key`'s ready entry, if any.
    fn remove_ready(&mut self, key: &str) {
        if let Some(Slot::Ready(f, at)) = self.slots.get(key) {
            let cost = Inner::cost(key, f);
            let at = *at;
            self.slots.remove(key);
            self.by_expiry.remove(&at);
            self.bytes = self.bytes.saturating_sub(cost);
        }
    }

    /// Drops expired entries, then the soonest to expire until `need` more bytes fit `max`.
    fn make_room(&mut self, need: u64, max: u64, now: Instant) {
        while let Some((&(until, seq), _)) = self.by_expiry.first_key_value() {
            if until > now && self.bytes + need <= max {
                break;
            }
            if let Some(key) = self.by_expiry.remove(&(until, seq)) {
                if let Some(Slot::Ready(f, _)) = self.slots.remove(&key) {
                    self.bytes = self.bytes.saturating_sub(Inner::cost(&key, &f));
                }
            }
        }
    }
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
            Some(Slot::Ready(f, (until, _))) if *until > now => return Found::Hit(Arc::clone(f)),
            Some(Slot::Pending(ev)) => return Found::Wait(ev.listen()),
            _ => {}
        }
        inner.remove_ready(key);
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
}

impl FetchTurn<'_> {
    /// Stores the answer for `ttl` (zero: only for the requests waiting now) and wakes the
    /// waiters.
    pub fn done(mut self, answer: Arc<Fetched>, ttl: Duration) {
        let now = Instant::now();
        let cost = Inner::cost(&self.key, &answer);
        let mut inner = self.cache.lock();
        inner.slots.remove(&self.key);
        // Zero TTL still serves the waiters woken now (they look again at once).
        let until = now + ttl.max(Duration::from_millis(50));
        inner.make_room(cost, self.cache.max_bytes, now);
        if cost <= self.cache.max_bytes {
            inner.seq += 1;
            let at = (until, inner.seq);
            let key = std::mem::take(&mut self.key);
            inner.by_expiry.insert(at, key.clone());
            inner.slots.insert(key, Slot::Ready(answer, at));
            inner.bytes += cost;
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
        assert_eq!(
            cache.bytes(),
            10 + 2 + ENTRY_OVERHEAD,
            "body, key and overhead"
        );
        let later = now + Duration::from_secs(6);
        assert!(matches!(cache.find("/a", later), Found::Fetch(_)));
    }

    #[test]
    fn expired_entries_leave_at_the_next_insert() {
        let cache = PeerCache::new(1 << 20);
        let now = Instant::now();
        for i in 0..100 {
            let Found::Fetch(turn) = cache.find(&format!("/junk?{i}"), now) else {
                panic!()
            };
            turn.done(fetched(10), Duration::ZERO);
        }
        std::thread::sleep(Duration::from_millis(60));
        let Found::Fetch(turn) = cache.find("/next", Instant::now()) else {
            panic!()
        };
        turn.done(fetched(10), Duration::from_secs(5));
        assert_eq!(cache.bytes(), 10 + 5 + ENTRY_OVERHEAD, "only /next is left");
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
        // Room for two entries of 10 body bytes ("/a": 2 key bytes), not three.
        let one = 10 + 2 + ENTRY_OVERHEAD;
        let cache = PeerCache::new(2 * one + one / 2);
        let now = Instant::now();
        for (key, ttl) in [("/a", 10), ("/b", 5), ("/c", 20)] {
            let Found::Fetch(turn) = cache.find(key, now) else {
                panic!()
            };
            turn.done(fetched(10), Duration::from_secs(ttl));
        }
        assert_eq!(cache.bytes(), 2 * one);
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
        turn.done(fetched(1000), Duration::from_secs(5));
        assert!(cache.bytes() <= 2 * one + one / 2);
    }
}
