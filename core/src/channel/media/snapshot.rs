//! What pull requests read: an immutable [`HlsSnapshot`] of a channel's output, rebuilt once per
//! change and shared by `Arc`. Lookups are allocation-free.

use crate::channel::config::InputRole;
use bytes::Bytes;
use std::sync::Arc;

/// A channel's published output at one version.
#[derive(Debug)]
pub struct HlsSnapshot {
    /// [`super::ChannelMedia::version`] it was built at.
    pub version: u64,
    /// The version at which its playlists and objects were last rendered: snapshots that
    /// differ only in `status` share it (what follows the output, like the CMAF packager,
    /// has nothing to redo for them).
    pub output_version: u64,
    /// The endpoint's manifest: `None` until some segment is playable (the daemon answers 503).
    pub main: Option<Rendered>,
    /// Renditions that have segments, in master order.
    pub renditions: Vec<RenditionSnapshot>,
    /// Live state for the admin `LiveView`.
    pub status: MediaStatus,
}

/// A rendered playlist.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The playlist text.
    pub body: Bytes,
    /// Quoted strong `ETag`; changes whenever the body does.
    pub etag: String,
    /// Unix milliseconds when this body was first rendered.
    pub last_modified_unix_ms: u64,
}

/// A segment or init segment, served as pushed.
#[derive(Debug)]
pub struct MediaObject {
    /// The bytes the encoder pushed (shared, never copied).
    pub body: Bytes,
    /// `Content-Type` from the extension.
    pub content_type: &'static str,
    /// Quoted strong `ETag`.
    pub etag: String,
    /// Unix milliseconds when it was published.
    pub last_modified_unix_ms: u64,
}

/// One published media segment.
#[derive(Debug, Clone)]
pub struct SegmentEntry {
    /// Output sequence number (`<seq>.<ext>`).
    pub seq: u64,
    /// Extension in the URI.
    pub ext: &'static str,
    /// Duration, milliseconds.
    pub duration_ms: u64,
    /// The object.
    pub object: Arc<MediaObject>,
}

/// One init segment (`init<k>.<ext>`).
#[derive(Debug, Clone)]
pub struct InitEntry {
    /// Increments when the init content changes.
    pub k: u64,
    /// Extension in the URI.
    pub ext: &'static str,
    /// The object.
    pub object: Arc<MediaObject>,
}

/// One rendition's output.
#[derive(Debug, Clone)]
pub struct RenditionSnapshot {
    /// URI folder of the rendition (`hi` → `hi/index.m3u8`).
    pub name: String,
    /// `index.m3u8`.
    pub playlist: Rendered,
    /// Sequence number of the first segment.
    pub first_seq: u64,
    /// Segments in the window, by increasing `seq`.
    pub segments: Vec<SegmentEntry>,
    /// Init segments still referenced, by increasing `k`.
    pub inits: Vec<InitEntry>,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` of its playlist.
    pub discontinuity_sequence: u64,
    /// Sequence numbers of the segments its playlist puts an `EXT-X-DISCONTINUITY` before,
    /// increasing (derived outputs such as CMAF break their timelines at the same places).
    pub discontinuities: Vec<u64>,
    /// Its playlist ends with `EXT-X-ENDLIST`.
    pub ended: bool,
}

/// What a pull path resolves to.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A playlist.
    Playlist(&'a Rendered),
    /// A segment or init segment.
    Object(&'a MediaObject),
    /// Nothing there (404).
    NotFound,
}

/// Live state of a channel's media.
#[derive(Debug, Clone, Default)]
pub struct MediaStatus {
    /// The input on air, `None` before any delivered.
    pub active: Option<InputRole>,
    /// Primary then backup.
    pub inputs: [InputStatus; 2],
    /// Segments in the served window, all renditions.
    pub window_segments: u64,
    /// Media bytes held (distinct buffers: a segment in both the store and the window counts once).
    pub held_bytes: u64,
    /// Input switches since the channel media was created.
    pub failovers: u64,
    /// The active input ended the stream (`EXT-X-ENDLIST`) and every rendition played it out.
    pub ended: bool,
    /// Segments refused for being longer than the channel's maximum.
    pub refused_segments: u64,
    /// The inputs number the same moments alike: a switch now would be seamless.
    pub aligned: bool,
}

/// Live state of one input.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputStatus {
    /// Monotonic ms when it last pushed a segment.
    pub last_segment_mono_ms: Option<u64>,
    /// Segments (and init segments) pushed.
    pub segments: u64,
    /// Bytes of those.
    pub bytes: u64,
    /// Health as the failover policy sees it.
    pub health: super::Health,
    /// Good segments in a row (of its leader playlist).
    pub good_streak: u32,
}

impl InputStatus {
    /// Counts a segment or init segment of `bytes` pushed at `now_mono`.
    pub(crate) fn count_object(&mut self, bytes: usize, now_mono: u64) {
        self.segments = self.segments.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.last_segment_mono_ms = Some(now_mono);
    }
}

/// Parses a canonical decimal sequence number (no sign, no leading zeros).
fn parse_seq(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

impl HlsSnapshot {
    /// Resolves a pull path. `manifest_file` is the endpoint's manifest (`main.m3u8`), `rest` the
    /// path after `/v1/<channel>/<endpoint>/`.
    pub fn lookup(&self, manifest_file: &str, rest: &str) -> Lookup<'_> {
        if rest == manifest_file {
            return self
                .main
                .as_ref()
                .map_or(Lookup::NotFound, Lookup::Playlist);
        }
        let Some((name, file)) = rest.split_once('/') else {
            return Lookup::NotFound;
        };
        let Some(r) = self.renditions.iter().find(|r| r.name == name) else {
            return Lookup::NotFound;
        };
        if file == "index.m3u8" {
            return Lookup::Playlist(&r.playlist);
        }
        let Some((stem, ext)) = file.split_once('.') else {
            return Lookup::NotFound;
        };
        if let Some(k) = stem.strip_prefix("init") {
            let Some(k) = parse_seq(k) else {
                return Lookup::NotFound;
            };
            return match r.inits.binary_search_by_key(&k, |i| i.k) {
                Ok(i) if r.inits[i].ext == ext => Lookup::Object(&r.inits[i].object),
                _ => Lookup::NotFound,
            };
        }
        let Some(seq) = parse_seq(stem) else {
            return Lookup::NotFound;
        };
        match r.segments.binary_search_by_key(&seq, |s| s.seq) {
            Ok(i) if r.segments[i].ext == ext => Lookup::Object(&r.segments[i].object),
            _ => Lookup::NotFound,
        }
    }
}
