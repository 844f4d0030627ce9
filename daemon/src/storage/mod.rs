//! The time-shift media store: segments of channels with a time-shift window, kept on disk
//! under `media_dir` for that window.
//!
//! Owner shards record what their channels' outputs publish (`core::timeshift::Recorder`) and
//! hand each new object to the store ([`Storage::record`], never blocking: a full queue drops
//! the object from the archive, counted, and live serving is untouched). One thread
//! ([`writer`]) writes the objects, appends their records to each channel's index log after
//! the bytes are written, and applies retention (the window, then the daemon-wide
//! `storage.max_bytes`, oldest first). Pulls read a channel's index in memory
//! ([`Storage::archive`], a read lock held while a manifest renders) and send archived
//! objects from their files.
//!
//! Layout: `<media_dir>/<channel id>/index.log` and `<media_dir>/<channel id>/<endpoint
//! type>/<track>/<file>`, the file named as in the endpoint's URL.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use streampack_core::channel::EndpointType;
use streampack_core::id::Id;
use streampack_core::timeshift::{ChannelArchive, Record};

mod direct;
mod disk;
pub mod writer;

/// Objects waiting to be written before new ones are dropped (about a minute of a busy
/// channel's segments; the writer only falls behind when the disk does).
const QUEUE: usize = 4096;

/// Bytes waiting to be written before new objects are dropped: what a disk that falls behind
/// may keep in memory beyond the live windows.
const QUEUE_BYTES: u64 = 256 << 20;

/// One object to archive.
#[derive(Debug)]
pub struct Put {
    /// Its channel.
    pub channel: Id,
    /// Its record, appended once the bytes are on disk.
    pub record: Record,
    /// Its bytes.
    pub bytes: Bytes,
}

/// The store's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes of media archived now, over all channels.
    pub bytes: AtomicU64,
    /// Segments archived now.
    pub segments: AtomicU64,
    /// Objects written.
    pub written: AtomicU64,
    /// Objects that could not be written (disk full, I/O error).
    pub write_errors: AtomicU64,
    /// Objects dropped because the writer fell behind.
    pub dropped: AtomicU64,
    /// Segments removed because they left their channel's window.
    pub expired_window: AtomicU64,
    /// Segments removed, oldest first, to stay under `storage.max_bytes`.
    pub expired_cap: AtomicU64,
    /// The last write failed for lack of space.
    pub disk_full: AtomicBool,
}

/// Shared by the shards, the writer and pulls.
#[derive(Debug)]
pub struct Storage {
    /// `media_dir`.
    pub dir: PathBuf,
    /// `storage.max_bytes` (0: no cap but the disk).
    pub max_bytes: u64,
    /// Counters.
    pub stats: Stats,
    tx: flume::Sender<Put>,
    /// Bytes of the objects in the queue.
    queued_bytes: AtomicU64,
    archives: ArcSwap<HashMap<Id, Arc<RwLock<ChannelArchive>>>>,
    /// The archives left on disk are loaded (until then a channel without one may just not
    /// be loaded yet).
    loaded: AtomicBool,
}

impl Storage {
    /// A store over `dir` and the receiving end of its queue, for [`writer::spawn`].
    pub fn new(dir: PathBuf, max_bytes: u64) -> (Storage, flume::Receiver<Put>) {
        let (tx, rx) = flume::bounded(QUEUE);
        let storage = Storage {
            dir,
            max_bytes,
            stats: Stats::default(),
            tx,
            queued_bytes: AtomicU64::new(0),
            archives: ArcSwap::from_pointee(HashMap::new()),
            loaded: AtomicBool::new(false),
        };
        (storage, rx)
    }

    /// Queues an object of `channel` for the archive; never waits. Dropped (counted) when the
    /// queue is full, by objects or by bytes: then the record comes back.
    pub fn record(&self, channel: &Id, record: Record, bytes: Bytes) -> Option<Record> {
        let len = bytes.len() as u64;
        if self.queued_bytes.fetch_add(len, Relaxed) + len > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(len, Relaxed);
            self.stats.dropped.fetch_add(1, Relaxed);
            return Some(record);
        }
        let put = Put {
            channel: *channel,
            record,
            bytes,
        };
        let e = self.tx.try_send(put).err()?;
        self.queued_bytes.fetch_sub(len, Relaxed);
        self.stats.dropped.fetch_add(1, Relaxed);
        Some(e.into_inner().record)
    }

    /// The writer took `put` off the queue.
    fn dequeued(&self, put: &Put) {
        self.queued_bytes.fetch_sub(put.bytes.len() as u64, Relaxed);
    }

    /// The channel's archive index, when it has one.
    pub fn archive(&self, channel: &Id) -> Option<Arc<RwLock<ChannelArchive>>> {
        self.archives.load().get(channel).cloned()
    }

    /// Whether the archives left on disk are loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The file of the object at `rest` of output `kind` of `channel`.
    pub fn path_of(&self, channel: &Id, kind: EndpointType, rest: &str) -> PathBuf {
        self.dir
            .join(channel.as_str())
            .join(kind.as_str())
            .join(rest)
    }

    fn channel_dir(&self, channel: &Id) -> PathBuf {
        self.dir.join(channel.as_str())
    }

    /// Adds one channel's archive to what pulls see.
    fn publish_one(&self, channel: Id, archive: Arc<RwLock<ChannelArchive>>) {
        let mut map = HashMap::clone(&self.archives.load());
        map.insert(channel, archive);
        self.publish(map);
    }

    fn publish(&self, map: HashMap<Id, Arc<RwLock<ChannelArchive>>>) {
        self.archives.store(Arc::new(map));
    }

    /// Says the archives left on disk are all published.
    fn set_loaded(&self) {
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

/// A read lock on an archive, whatever a panicking writer left (the index is only ever
/// changed by whole records).
pub fn read(archive: &RwLock<ChannelArchive>) -> RwLockReadGuard<'_, ChannelArchive> {
    archive.read().unwrap_or_else(|e| e.into_inner())
}

/// Whether `dir` looks like a channel's archive (a folder named by a channel id holding an
/// index log): only those are ever removed.
fn is_channel_archive(dir: &Path) -> Option<Id> {
    let id = Id::parse(dir.file_name()?.to_str()?)?;
    dir.join(disk::LOG_NAME).is_file().then_some(id)
}
