//! One DASH input's ingest store: the objects its encoder pushed, by path, and the latest good
//! MPD, bounded so an encoder cannot make it grow forever.
//!
//! Bounds: an object the current MPD does not list is freed once it is older than the window
//! (plus one segment); the output keeps its own reference to what it serves. Deletions are
//! remembered (bounded) so the output can withdraw a segment the encoder deleted and no longer
//! lists.

use crate::dash::parse::{MpdIn, RepresentationIn, SegmentIn, SegmentsIn};
use crate::media::growing::{ChunkIn, GrowingObject};
use crate::media::Body;
use crate::media::InputStatus;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// Extensions a DASH input stores as segments.
pub(crate) const SEGMENT_EXTENSIONS: &[&str] = &[
    "m4s", "mp4", "m4v", "m4a", "cmfv", "cmfa", "cmft", "webm", "chk",
];

/// Whether a DASH input stores `path` as an fMP4 media or init segment: what a low-latency
/// encoder uploads a chunk at a time.
pub fn is_fmp4_segment_path(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.').is_some_and(|(_, e)| {
        let e = e.to_ascii_lowercase();
        e != "webm" && SEGMENT_EXTENSIONS.contains(&e.as_str())
    })
}

/// Deletions remembered per input.
const MAX_TOMBSTONES: usize = 4096;

/// An object as pushed.
#[derive(Debug)]
pub(crate) struct StoredObject {
    pub body: Body,
    pub arrived_mono_ms: u64,
    /// Distinguishes two uploads at one path (an encoder restart rewrites its file names).
    pub gen: u64,
    /// Its chunks, when it was uploaded a CMAF chunk at a time (LL-HLS parts).
    pub chunked: Option<Arc<GrowingObject>>,
}

/// The latest good MPD of the input.
#[derive(Debug)]
pub(crate) struct MpdEntry {
    pub mpd: MpdIn,
    /// Every path it lists (init and media segments).
    pub listed: HashSet<String>,
    /// When it was stored (monotonic ms).
    pub stored_mono_ms: u64,
}

/// Everything one input holds.
#[derive(Debug, Default)]
pub(crate) struct InputStore {
    pub objects: HashMap<String, StoredObject>,
    pub mpd: Option<MpdEntry>,
    /// Bumped when the encoder restarts (a new `availabilityStartTime`, or a live MPD after
    /// the static one that ended the stream).
    pub run: u64,
    /// `(path, gen)` of objects the encoder deleted, oldest first.
    tombstones: VecDeque<(String, u64)>,
    next_gen: u64,
    pub status: InputStatus,
    /// Segments still arriving (a chunked upload under way, or announced to low-latency
    /// players before its upload began), by path, with when each began (monotonic ms).
    pub growing: HashMap<String, (Arc<GrowingObject>, u64)>,
    /// Chunks the last completed chunked upload came in (0: none seen yet).
    pub chunks_per_segment: usize,
}

impl InputStore {
    /// Stores a segment or init segment; a growing object at that path is complete with it.
    pub fn put_object(&mut self, path: &str, body: Body, now_mono: u64) {
        self.status.count_object(body.bytes.len(), now_mono);
        let mut chunked = None;
        if let Some((g, _)) = self.growing.remove(path) {
            let chunks = g.chunk_count();
            g.complete(&body.bytes);
            if chunks > 0 && g.progress() == crate::media::growing::Progress::Complete {
                self.chunks_per_segment = g.chunk_count();
                chunked = Some(g);
            }
        }
        self.next_gen = self.next_gen.wrapping_add(1);
        self.objects.insert(
            path.to_string(),
            StoredObject {
                body,
                arrived_mono_ms: now_mono,
                gen: self.next_gen,
                chunked,
            },
        );
    }

    /// Stores a parsed MPD; returns whether it shows that the encoder restarted: another
    /// `availabilityStartTime`, a live MPD after the static one that ended the stream, or the
    /// leader's timeline going back within the same Period (an encoder that keeps its
    /// `availabilityStartTime` across restarts).
    ///
    /// At a restart, the media segments the previous run listed and pushed before its last MPD
    /// are dropped: the new run reuses the file names (`chunk-stream0-00001.m4s`, or `$Time$`
    /// from 0 again), and an old leftover must never pass for the new segment its MPD lists a
    /// moment before pushing it.
    pub fn put_mpd(&mut self, mpd: MpdIn, now_mono: u64) -> bool {
        let restarted = self.mpd.as_ref().is_some_and(|prev| {
            (prev.mpd.availability_start.is_some()
                && mpd.availability_start.is_some()
                && prev.mpd.availability_start != mpd.availability_start)
                || (!prev.mpd.dynamic && mpd.dynamic)
                || matches!(
                    (leader_end(&prev.mpd), leader_end(&mpd)),
                    (Some((p1, e1)), Some((p2, e2))) if p1 == p2 && e2 < e1
                )
        });
        if restarted {
            self.run = self.run.wrapping_add(1);
            // Announced segments of the previous run will not come under those names.
            self.growing.retain(|_, (g, _)| {
                let uploading = !g.is_empty();
                if !uploading {
                    g.break_off();
                }
                uploading
            });
            if let Some(prev) = self.mpd.take() {
                let reps: Vec<&RepresentationIn> = prev
                    .mpd
                    .periods
                    .iter()
                    .flat_map(|p| p.adaptation_sets.iter())
                    .flat_map(|a| a.representations.iter())
                    .collect();
                self.objects.retain(|path, o| {
                    o.arrived_mono_ms > prev.stored_mono_ms
                        || !reps.iter().any(|r| is_media_of(r, path))
                });
            }
        }
        let listed = listed_paths(&mpd);
        self.mpd = Some(MpdEntry {
            mpd,
            listed,
            stored_mono_ms: now_mono,
        });
        restarted
    }

    /// The growing object at `path`, made when there is none.
    pub fn growing_at(&mut self, path: &str, now_mono: u64) -> Arc<GrowingObject> {
        let (g, _) = self
            .growing
            .entry(path.to_string())
            .or_insert_with(|| (Arc::new(GrowingObject::new()), now_mono));
        Arc::clone(g)
    }

    /// A whole chunk of the segment being uploaded at `path`.
    pub fn put_chunk(&mut self, path: &str, chunk: ChunkIn, now_mono: u64) {
        self.growing_at(path, now_mono).push_part(
            chunk.upload,
            chunk.offset,
            chunk.bytes,
            chunk.part,
        );
    }

    /// `upload` to `path` broke off: whoever streams it stops; the segment is not stored. An
    /// upload that holds nothing there (a retry overlapping it holds it) changes nothing.
    pub fn abort_upload(&mut self, path: &str, upload: u64) -> bool {
        if !self
            .growing
            .get(path)
            .is_some_and(|(g, _)| g.held_by(upload))
        {
            return false;
        }
        match self.growing.remove(path) {
            Some((g, _)) => {
                g.break_off();
                true
            }
            None => false,
        }
    }

    /// Encoder DELETE; returns whether the object existed.
    pub fn delete(&mut self, path: &str) -> bool {
        let Some(o) = self.objects.remove(path) else {
            return false;
        };
        if self.tombstones.len() >= MAX_TOMBSTONES {
            self.tombstones.pop_front();
        }
        self.tombstones.push_back((path.to_string(), o.gen));
        true
    }

    /// Whether the encoder deleted this upload and its MPD no longer lists the path: the
    /// output must stop serving it.
    pub fn withdrawn(&self, path: &str, gen: u64) -> bool {
        let listed = self.mpd.as_ref().is_some_and(|m| m.listed.contains(path));
        !listed && self.tombstones.iter().any(|(p, g)| *g == gen && p == path)
    }

    /// Frees unlisted objects older than `keep_ms`. Returns whether anything went.
    pub fn gc(&mut self, now_mono: u64, keep_ms: u64) -> bool {
        let growing = self.growing.len();
        self.growing.retain(|_, (g, began)| {
            let keep = now_mono.saturating_sub(*began) <= keep_ms;
            if !keep {
                g.break_off();
            }
            keep
        });
        let before = self.objects.len();
        let listed = self.mpd.as_ref().map(|m| &m.listed);
        self.objects.retain(|path, o| {
            listed.is_some_and(|l| l.contains(path))
                || now_mono.saturating_sub(o.arrived_mono_ms) <= keep_ms
        });
        before != self.objects.len() || growing != self.growing.len()
    }

    /// Whether the encoder ended its stream (`type="static"`).
    pub fn ended(&self) -> bool {
        self.mpd.as_ref().is_some_and(|m| !m.mpd.dynamic)
    }

    /// The media segments of `rep` as listed or, for `@duration` addressing, as pushed: every
    /// object whose path the template produces, from `startNumber` on (an encoder using
    /// `@duration` keeps `startNumber` while it deletes old segments).
    pub fn segments(&self, rep: &RepresentationIn) -> Vec<SegmentIn> {
        match &rep.segments {
            SegmentsIn::Listed(s) => s.clone(),
            SegmentsIn::Numbered {
                start_number,
                duration,
                ..
            } => {
                let mut out: Vec<SegmentIn> = self
                    .objects
                    .keys()
                    .filter_map(|path| {
                        let number = rep.numbered_match(path)?;
                        // Canonical names only: `7.m4s` and `007.m4s` are not both segment 7.
                        if rep.numbered_path(number).as_deref() != Some(path.as_str()) {
                            return None;
                        }
                        let t = (number - start_number)
                            .saturating_mul(*duration)
                            .saturating_add(rep.presentation_time_offset);
                        Some(SegmentIn {
                            number,
                            t,
                            d: *duration,
                            path: path.clone(),
                        })
                    })
                    .collect();
                out.sort_unstable_by_key(|s| s.number);
                out
            }
        }
    }
}

fn leader_end(mpd: &MpdIn) -> Option<(&str, u64)> {
    let p = mpd.periods.last()?;
    let r = p.adaptation_sets.first()?.representations.first()?;
    match &r.segments {
        SegmentsIn::Listed(s) => s.last().map(|s| (p.id.as_str(), s.t.saturating_add(s.d))),
        SegmentsIn::Numbered { .. } => None,
    }
}

/// Whether `path` is one of `rep`'s media segments (listed, or matching its `@duration`
/// template).
fn is_media_of(rep: &RepresentationIn, path: &str) -> bool {
    match &rep.segments {
        SegmentsIn::Listed(s) => s.iter().any(|s| s.path == path),
        SegmentsIn::Numbered { .. } => rep.numbered_match(path).is_some(),
    }
}

fn listed_paths(mpd: &MpdIn) -> HashSet<String> {
    let mut out = HashSet::new();
    for p in &mpd.periods {
        for a in &p.adaptation_sets {
            for r in &a.representations {
                if let Some(i) = &r.init {
                    out.insert(i.clone());
                }
                if let SegmentsIn::Listed(s) = &r.segments {
                    out.extend(s.iter().map(|s| s.path.clone()));
                }
            }
        }
    }
    out
}
