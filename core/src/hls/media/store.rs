//! One input's ingest store: the objects an encoder pushed (segments, init segments) and the
//! latest parsed version of each playlist, bounded so an encoder cannot make it grow forever.
//!
//! Bounds: a segment listed by a playlist and no longer listed is freed (the output keeps its
//! own reference while it is in the window); an object never listed is freed `window_ms` after
//! it arrived; a media playlist not updated for `window_ms` is forgotten, and only its path is
//! remembered (at most [`FORGOTTEN_MAX`] of them): a playlist pushed there again is a new run
//! of the encoder, whatever its numbers say (it stopped for longer than the window).

use crate::hls::{MasterPlaylistIn, MediaPlaylistIn};
use crate::media::status::InputStatus;
use crate::media::Body;
use std::collections::{BTreeMap, HashMap, HashSet};

/// How many forgotten playlist paths an input remembers.
pub(crate) const FORGOTTEN_MAX: usize = 64;

/// An object as pushed.
#[derive(Debug)]
pub(crate) struct StoredObject {
    pub body: Body,
    pub arrived_mono_ms: u64,
    /// Some playlist of this input listed it at some point.
    pub listed: bool,
}

/// The latest version of one media playlist.
#[derive(Debug)]
pub(crate) struct MediaEntry {
    pub playlist: MediaPlaylistIn,
    /// The encoder run it belongs to (see [`InputStore::run`]).
    pub run: u64,
    pub updated_mono_ms: u64,
}

/// Everything one input holds.
#[derive(Debug, Default)]
pub(crate) struct InputStore {
    pub objects: HashMap<String, StoredObject>,
    pub master: Option<MasterPlaylistIn>,
    /// Where the master was pushed (a media playlist pushed there later replaces it).
    pub master_path: Option<String>,
    /// Media playlists by path (sorted: a stable order for renditions without a master).
    pub media: BTreeMap<String, MediaEntry>,
    /// Bumped when the encoder restarts: playlists of an older run no longer drive the output
    /// until they are replaced, so their old sequence numbers never mix with the new run's.
    pub run: u64,
    pub status: InputStatus,
    /// Paths of media playlists forgotten for age: the next one pushed there starts a new run.
    forgotten: HashSet<String>,
}

impl InputStore {
    /// Stores a segment or init segment. A body pushed again at a path is a new object: it
    /// is kept like one never listed until a playlist lists it (a restarted encoder reuses its
    /// file names before its new playlist arrives).
    pub fn put_object(&mut self, path: &str, body: Body, now_mono: u64) {
        self.status.count_object(body.bytes.len(), now_mono);
        self.objects.insert(
            path.to_string(),
            StoredObject {
                body,
                arrived_mono_ms: now_mono,
                listed: false,
            },
        );
    }

    /// Stores a master playlist (replacing any media playlist at that path).
    pub fn put_master(&mut self, path: &str, master: MasterPlaylistIn) {
        self.media.remove(path);
        self.master = Some(master);
        self.master_path = Some(path.to_string());
    }

    /// Stores a media playlist; returns whether it shows that the encoder restarted.
    pub fn put_media(&mut self, path: &str, playlist: MediaPlaylistIn, now_mono: u64) -> bool {
        if self.master_path.as_deref() == Some(path) {
            // The encoder went from several renditions to one, under the same name.
            self.master = None;
            self.master_path = None;
        }
        let restarted = match self.media.get(path) {
            Some(prev) => prev.run == self.run && is_restart(&prev.playlist, &playlist),
            // The encoder was silent for longer than the window and pushes again: its numbers
            // cannot be compared with what it served before, so this is a new run.
            None => self.forgotten.remove(path),
        };
        if restarted {
            self.run = self.run.saturating_add(1);
        }
        self.media.insert(
            path.to_string(),
            MediaEntry {
                playlist,
                run: self.run,
                updated_mono_ms: now_mono,
            },
        );
        restarted
    }

    /// The media playlist at `path` if it belongs to the encoder's current run.
    pub fn current_media(&self, path: &str) -> Option<&MediaPlaylistIn> {
        self.media
            .get(path)
            .filter(|e| e.run == self.run)
            .map(|e| &e.playlist)
    }

    /// The object at `path`, if pushed.
    pub fn object(&self, path: &str) -> Option<&Body> {
        self.objects.get(path).map(|o| &o.body)
    }

    /// Whether a segment of `seg` and its init segment are both here.
    pub fn has_segment(&self, uri: &str, map_uri: Option<&str>) -> bool {
        self.objects.contains_key(uri) && map_uri.is_none_or(|m| self.objects.contains_key(m))
    }

    /// Whether some current playlist lists a segment that is here (the input could go on air).
    pub fn has_publishable(&self) -> bool {
        self.media.values().filter(|e| e.run == self.run).any(|e| {
            e.playlist
                .segments
                .iter()
                .any(|s| self.has_segment(&s.uri, s.map_uri.as_deref()))
        })
    }

    /// Encoder DELETE; returns whether something was there.
    pub fn delete(&mut self, path: &str) -> bool {
        if self.objects.remove(path).is_some() {
            return true;
        }
        if self.media.contains_key(path) {
            // Kept until it ages out (see `gc`): forgetting it now would end its rendition and
            // take segments out of the window players are reading.
            return true;
        }
        if self.master_path.as_deref() == Some(path) {
            self.master = None;
            self.master_path = None;
            return true;
        }
        false
    }

    /// Applies the bounds described in the module docs; returns whether anything was freed.
    pub fn gc(&mut self, now_mono: u64, window_ms: u64) -> bool {
        let before = self.objects.len() + self.media.len();
        let forgotten = &mut self.forgotten;
        self.media.retain(|path, e| {
            let keep = now_mono.saturating_sub(e.updated_mono_ms) <= window_ms;
            if !keep && forgotten.len() < FORGOTTEN_MAX {
                forgotten.insert(path.clone());
            }
            keep
        });
        let listed: HashSet<&str> = self
            .media
            .values()
            .flat_map(|e| e.playlist.segments.iter())
            .flat_map(|s| std::iter::once(s.uri.as_str()).chain(s.map_uri.as_deref()))
            .collect();
        self.objects.retain(|path, o| {
            if listed.contains(path.as_str()) {
                o.listed = true;
                true
            } else {
                !o.listed && now_mono.saturating_sub(o.arrived_mono_ms) <= window_ms
            }
        });
        before != self.objects.len() + self.media.len()
    }
}

/// An encoder restart shows as a playlist whose first or last sequence number goes backwards,
/// or one that lists a different segment at a sequence number it already gave. A live playlist
/// after `EXT-X-ENDLIST` that goes on counting (ffmpeg's `append_list`) is not a restart.
fn is_restart(prev: &MediaPlaylistIn, new: &MediaPlaylistIn) -> bool {
    if new.media_sequence < prev.media_sequence {
        return true;
    }
    let end = |p: &MediaPlaylistIn| p.media_sequence.saturating_add(p.segments.len() as u64);
    if end(new) < end(prev) {
        return true;
    }
    let offset = new.media_sequence - prev.media_sequence;
    prev.segments
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .zip(&new.segments)
        .any(|(a, b)| a.uri != b.uri)
}
