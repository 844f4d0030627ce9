//! One channel's archive on disk: its objects' files and its index log, and the index in
//! memory that the log replays to.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use streampack_core::timeshift::{log, ChannelArchive, Record};

use super::direct::FileWriter;

/// The index log's name in a channel's folder.
pub const LOG_NAME: &str = "index.log";

/// Below this a log is never compacted.
const COMPACT_MIN_BYTES: u64 = 1 << 20;

/// A channel's archive as the writer holds it.
#[derive(Debug)]
pub struct ChannelStore {
    /// `<media_dir>/<channel id>`.
    pub dir: PathBuf,
    log: File,
    log_len: u64,
    made: HashSet<PathBuf>,
    /// The index, shared with pulls.
    pub archive: Arc<RwLock<ChannelArchive>>,
}

/// What loading a channel's archive found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Bytes of a torn or corrupt tail cut off the log.
    pub cut: u64,
    /// Listed objects whose file was missing or of the wrong size (dropped from the index).
    pub unreadable: usize,
}

impl ChannelStore {
    /// Opens the archive in `dir`, creating it, or replaying its log: a torn tail is cut,
    /// objects that cannot be read are dropped, and the log is rewritten compact.
    pub fn open(dir: PathBuf) -> io::Result<(ChannelStore, Loaded)> {
        fs::create_dir_all(&dir)?;
        let path = dir.join(LOG_NAME);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let (records, good) = log::decode(&bytes);
        let mut loaded = Loaded {
            cut: (bytes.len() - good) as u64,
            unreadable: 0,
        };
        let mut archive = ChannelArchive::new();
        for r in &records {
            archive.apply(r);
        }
        // Keep only what can be read: a file of the size recorded.
        let mut readable = ChannelArchive::new();
        for r in archive.snapshot_records() {
            let Some((rel, len)) = r.object() else {
                readable.apply(&r);
                continue;
            };
            match fs::metadata(dir.join(&rel)) {
                Ok(m) if m.len() == len => {
                    readable.apply(&r);
                }
                _ => loaded.unreadable += 1,
            }
        }
        let mut store = ChannelStore {
            log: OpenOptions::new().append(true).create(true).open(&path)?,
            log_len: 0,
            dir,
            made: HashSet::new(),
            archive: Arc::new(RwLock::new(readable)),
        };
        store.compact()?;
        Ok((store, loaded))
    }

    /// Writes an object's bytes to its file (`rel`; none for a record without bytes), then
    /// appends its record; `Err` leaves the index as it was (and no file behind).
    pub fn put(
        &mut self,
        files: &mut FileWriter,
        rel: Option<&str>,
        bytes: &[u8],
        record: &Record,
    ) -> io::Result<()> {
        let Some(rel) = rel else {
            self.append(record)?;
            self.apply_in_memory(record);
            return Ok(());
        };
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            if !self.made.contains(parent) {
                fs::create_dir_all(parent)?;
                self.made.insert(parent.to_path_buf());
            }
        }
        if let Err(e) = files.write(&path, bytes) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        if let Err(e) = self.append(record) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        self.apply_in_memory(record);
        Ok(())
    }

    /// Appends an expiry `record` to the log, applies it to the index and removes the files
    /// it expires; how many segments it removed.
    pub fn expire(&mut self, record: &Record) -> io::Result<usize> {
        self.append(record)?;
        let removed = self.apply_in_memory(record);
        let segments = removed.iter().filter(|(rel, _)| !is_init(rel)).count();
        for (rel, _) in removed {
            let _ = fs::remove_file(self.dir.join(rel));
        }
        Ok(segments)
    }

    fn append(&mut self, record: &Record) -> io::Result<()> {
        let frame = log::encode(record);
        // A record the log could not read back would end the log there at the next start.
        if frame.len() > log::FRAME_HEADER + log::MAX_PAYLOAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "record larger than the index log takes (a master playlist over 64 KiB?)",
            ));
        }
        self.log.write_all(&frame)?;
        self.log_len += frame.len() as u64;
        Ok(())
    }

    fn apply_in_memory(&self, record: &Record) -> Vec<(String, u64)> {
        self.archive
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .apply(record)
    }

    /// Rewrites the log as the records of the index alone when it has grown well past them
    /// written beside it, synced, renamed over it.
    pub fn compact_if_grown(&mut self) -> io::Result<()> {
        // What a compacted log holds: a segment's record, a marker's (with its section).
        let live = {
            let a = super::read(&self.archive);
            a.segments() as u64 * 160 + a.marker_count() as u64 * 256
        };
        if self.log_len > COMPACT_MIN_BYTES && self.log_len > 4 * live {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> io::Result<()> {
        let records = super::read(&self.archive).snapshot_records();
        let bytes: Vec<u8> = records.iter().flat_map(log::encode).collect();
        let path = self.dir.join(LOG_NAME);
        let tmp = self.dir.join("index.log.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()?;
        self.log = OpenOptions::new().append(true).open(&path)?;
        self.log_len = bytes.len() as u64;
        Ok(())
    }

    /// Removes the channel's whole archive from disk.
    pub fn remove(self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn is_init(rel: &str) -> bool {
    rel.rsplit('/')
        .next()
        .is_some_and(|f| f.starts_with("init"))
}
