//! The store's writer thread: writes queued objects, applies retention once a second, and
//! loads the archives left on disk at start-up. Blocking file I/O lives here, never on a
//! shard.

use super::direct::FileWriter;
use super::disk::ChannelStore;
use super::{is_channel_archive, read, Put, Storage};
use crate::context::Shared;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use streampack_core::id::Id;
use streampack_core::timeshift::Record;

/// How often retention runs.
const RETAIN_EVERY: Duration = Duration::from_secs(1);

/// At most one line per this long about failing writes or the disk cap.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Starts the writer thread.
pub fn spawn(shared: Arc<Shared>, rx: flume::Receiver<Put>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("timeshift-store".into())
        .spawn(move || run(&shared, &rx))
        .map(|_| ())
}

struct Writer {
    stores: HashMap<Id, ChannelStore>,
    files: FileWriter,
    last_error_log: Option<Instant>,
    last_cap_log: Option<Instant>,
}

fn run(shared: &Shared, rx: &flume::Receiver<Put>) {
    let storage = &shared.storage;
    let mut w = Writer {
        stores: HashMap::new(),
        files: FileWriter::default(),
        last_error_log: None,
        last_cap_log: None,
    };
    w.load_all(shared);
    w.retain(shared);
    let mut last_retain = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(put) => {
                storage.dequeued(&put);
                w.put(shared, put);
            }
            Err(flume::RecvTimeoutError::Timeout) => {}
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
        if shared.is_shutting_down() {
            return;
        }
        if last_retain.elapsed() >= RETAIN_EVERY {
            w.retain(shared);
            last_retain = Instant::now();
        }
        storage.stats.bytes.store(w.bytes(), Relaxed);
    }
}

/// The channel's time-shift window in ms, 0 when it is off or the channel is gone.
fn window_ms(shared: &Shared, id: &Id) -> u64 {
    shared
        .registry
        .load()
        .channels
        .get(id)
        .map_or(0, |e| e.config.timeshift_window_secs.saturating_mul(1000))
}

fn rate_limited(last: &mut Option<Instant>) -> bool {
    if last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
        return true;
    }
    *last = Some(Instant::now());
    false
}

impl Writer {
    fn bytes(&self) -> u64 {
        self.stores.values().map(|s| read(&s.archive).bytes()).sum()
    }

    fn publish(&self, storage: &Storage) {
        storage.publish(
            self.stores
                .iter()
                .map(|(id, s)| (*id, Arc::clone(&s.archive)))
                .collect(),
        );
    }

    /// Opens the archives of channels that keep a window; removes those of channels that no
    /// longer exist or keep none.
    fn load_all(&mut self, shared: &Shared) {
        let storage = &shared.storage;
        let Ok(dir) = std::fs::read_dir(&storage.dir) else {
            storage.set_loaded();
            return;
        };
        for d in dir.flatten() {
            let path = d.path();
            let Some(id) = is_channel_archive(&path) else {
                continue;
            };
            if window_ms(shared, &id) == 0 {
                tracing::info!(channel = %id, "time-shift archive removed: the channel is gone or keeps no window");
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            match ChannelStore::open(path) {
                Ok((store, loaded)) => {
                    let a = read(&store.archive);
                    tracing::info!(
                        channel = %id,
                        segments = a.segments(),
                        bytes = a.bytes(),
                        torn_tail_bytes = loaded.cut,
                        unreadable = loaded.unreadable,
                        "time-shift archive loaded"
                    );
                    drop(a);
                    self.stores.insert(id, store);
                }
                Err(e) => {
                    tracing::error!(channel = %id, "time-shift archive cannot be opened: {e}")
                }
            }
        }
        self.publish(storage);
        storage.set_loaded();
    }

    fn put(&mut self, shared: &Shared, put: Put) {
        let storage = &shared.storage;
        if window_ms(shared, &put.channel) == 0 {
            return;
        }
        // Expiry is the writer's own business (retention), never queued by a shard.
        if matches!(put.record, Record::Expired { .. }) {
            return;
        }
        let rel = put.record.object().map(|(rel, _)| rel);
        let store = match self.stores.entry(put.channel) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                match ChannelStore::open(storage.channel_dir(&put.channel)) {
                    Ok((store, _)) => {
                        let store = v.insert(store);
                        storage.publish_one(put.channel, Arc::clone(&store.archive));
                        store
                    }
                    Err(e) => return self.write_failed(storage, &put.channel, &e),
                }
            }
        };
        match store.put(&mut self.files, rel.as_deref(), &put.bytes, &put.record) {
            Ok(()) => {
                storage.stats.written.fetch_add(1, Relaxed);
                storage.stats.disk_full.store(false, Relaxed);
                if storage.max_bytes > 0 {
                    self.enforce_cap(storage);
                }
            }
            Err(e) => self.write_failed(storage, &put.channel, &e),
        }
    }

    fn write_failed(&mut self, storage: &Storage, channel: &Id, e: &std::io::Error) {
        storage.stats.write_errors.fetch_add(1, Relaxed);
        let full = e.raw_os_error() == Some(libc::ENOSPC);
        storage.stats.disk_full.store(full, Relaxed);
        if !rate_limited(&mut self.last_error_log) {
            tracing::warn!(
                channel = %channel,
                dir = %storage.dir.display(),
                "time-shift archive write failed ({e}): the segment stays live but is not archived"
            );
        }
    }

    /// Removes what left each channel's window, and the archives of channels gone or
    /// without a window; then the oldest while over the cap.
    fn retain(&mut self, shared: &Shared) {
        let storage = &shared.storage;
        let now = crate::clock::now().unix_ms;
        let gone: Vec<Id> = self
            .stores
            .keys()
            .filter(|id| window_ms(shared, id) == 0)
            .copied()
            .collect();
        for id in &gone {
            if let Some(store) = self.stores.remove(id) {
                tracing::info!(channel = %id, "time-shift archive removed: the channel is gone or keeps no window");
                store.remove();
            }
        }
        if !gone.is_empty() {
            self.publish(storage);
        }
        for (id, store) in &mut self.stores {
            let before = now.saturating_sub(window_ms(shared, id));
            let expiring = read(&store.archive).expiring_before(before);
            for r in expiring {
                match store.expire(&r) {
                    Ok(n) => {
                        storage.stats.expired_window.fetch_add(n as u64, Relaxed);
                    }
                    Err(e) => tracing::warn!(channel = %id, "time-shift index append failed: {e}"),
                }
            }
            if let Err(e) = store.compact_if_grown() {
                tracing::warn!(channel = %id, "time-shift index compaction failed: {e}");
            }
        }
        if storage.max_bytes > 0 {
            self.enforce_cap(storage);
        }
        let segments = self
            .stores
            .values()
            .map(|s| read(&s.archive).segments() as u64)
            .sum();
        storage.stats.segments.store(segments, Relaxed);
    }

    /// Removes the oldest segment over all channels while the archives hold more than the cap.
    fn enforce_cap(&mut self, storage: &Storage) {
        let mut total = self.bytes();
        let mut removed = 0u64;
        while total > storage.max_bytes {
            let oldest = self
                .stores
                .iter()
                .filter_map(|(id, s)| read(&s.archive).oldest().map(|(t, r)| (t, *id, r)))
                .min_by_key(|(t, _, _)| *t);
            let Some((_, id, record)) = oldest else {
                break;
            };
            let Some(store) = self.stores.get_mut(&id) else {
                break;
            };
            match store.expire(&record) {
                Ok(n) => removed += n as u64,
                Err(e) => {
                    tracing::warn!(channel = %id, "time-shift index append failed: {e}");
                    break;
                }
            }
            let after = self.bytes();
            if after >= total {
                break;
            }
            total = after;
        }
        storage.stats.bytes.store(total, Relaxed);
        if removed > 0 {
            storage.stats.expired_cap.fetch_add(removed, Relaxed);
            if !rate_limited(&mut self.last_cap_log) {
                tracing::warn!(
                    max_bytes = storage.max_bytes,
                    "time-shift storage cap reached: the oldest archived segments are removed first"
                );
            }
        }
    }
}
