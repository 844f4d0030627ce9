//! A channel's time-shift archive as an index: per output track, the segments (and the init
//! segments they need) kept on disk, in order, with what manifests and answers need of them.
//! Built by replaying [`Record`]s, so the index on disk and the one in memory are the same
//! function of the same log.

use super::log::{InitRec, Record, SegmentRecord, TrackKey};
use crate::ad_markers::AdMarker;
use crate::channel::config::EndpointType;
use crate::media::{Outline, PeriodView};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;

/// One archived segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What was recorded.
    pub rec: SegmentRecord,
    /// `EXT-X-DISCONTINUITY` before it in a time-shifted playlist: the output had one, or
    /// the archive has a gap (a restart, a segment that was never written).
    pub discontinuity: bool,
    /// Discontinuity sequence number: how many discontinuities came before it, itself
    /// included.
    pub dsn: u64,
}

impl Entry {
    /// End of its media, Unix ms.
    pub fn end_unix_ms(&self) -> u64 {
        self.rec.start_unix_ms.saturating_add(self.rec.duration_ms)
    }
}

/// A track's archived objects.
#[derive(Debug, Default, Clone)]
pub struct Track {
    /// By increasing `seq`.
    pub entries: VecDeque<Entry>,
    /// By increasing `k`.
    pub inits: VecDeque<InitRec>,
    by_file: HashMap<String, u64>,
}

/// An object of the archive a pull path names.
#[derive(Debug, Clone, Copy)]
pub enum Found<'a> {
    /// A media segment.
    Segment(&'a Entry),
    /// An init segment.
    Init(&'a InitRec),
}

impl Found<'_> {
    /// Bytes, `ETag`, `Content-Type`, publication time.
    pub fn parts(&self) -> (u64, &str, &str, u64) {
        match self {
            Found::Segment(e) => (e.rec.len, &e.rec.etag, &e.rec.content_type, e.end_unix_ms()),
            Found::Init(i) => (i.len, &i.etag, &i.content_type, 0),
        }
    }
}

/// What applying one record removed, for the caller to delete from disk: paths below the
/// channel's archive folder, and their bytes.
pub type Removed = Vec<(String, u64)>;

/// A channel's archive index.
#[derive(Debug, Default, Clone)]
pub struct ChannelArchive {
    tracks: BTreeMap<TrackKey, Track>,
    /// DASH Periods, per output, in order.
    periods: BTreeMap<usize, VecDeque<PeriodView>>,
    /// The last outline, per output.
    outlines: BTreeMap<usize, Outline>,
    /// Ad markers, by increasing splice point; those before every track's first segment
    /// go with it.
    markers: VecDeque<AdMarker>,
    bytes: u64,
}

/// Markers an archive keeps at most (the oldest go first): far more than a time-shift window
/// of breaks holds.
pub const MAX_ARCHIVED_MARKERS: usize = 10_000;

impl ChannelArchive {
    /// An empty archive.
    pub fn new() -> ChannelArchive {
        ChannelArchive::default()
    }

    /// Bytes of the objects it lists.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Segments it lists, over all tracks.
    pub fn segments(&self) -> usize {
        self.tracks.values().map(|t| t.entries.len()).sum()
    }

    /// The tracks, by key.
    pub fn tracks(&self) -> impl Iterator<Item = (&TrackKey, &Track)> {
        self.tracks.iter()
    }

    /// One track.
    pub fn track(&self, kind: EndpointType, dir: &str) -> Option<&Track> {
        // Few tracks per channel: a scan costs less than building a key.
        self.tracks
            .iter()
            .find(|(k, _)| k.kind == kind && k.dir == dir)
            .map(|(_, t)| t)
    }

    /// The Periods of output `kind`, in order.
    pub fn periods(&self, kind: EndpointType) -> impl Iterator<Item = &PeriodView> {
        self.periods.get(&kind.index()).into_iter().flatten()
    }

    /// Where wall-clock (program date) time `unix_ms` is on the clock of output `kind`'s
    /// MPDs, live and time-shifted alike: from the archived segment that holds it (else the
    /// one before it) and the Period it belongs to. `None` without such a segment.
    pub fn mpd_clock_at(&self, kind: EndpointType, unix_ms: u64) -> Option<u64> {
        for (dir, t) in self.tracks_of(kind) {
            let i = t
                .entries
                .partition_point(|e| e.rec.start_unix_ms <= unix_ms);
            let Some(e) = t.entries.get(i.saturating_sub(1)) else {
                continue;
            };
            let Some(timing) = &e.rec.timing else {
                continue;
            };
            let Some(view) = self.periods(kind).find(|v| v.period.id == timing.period) else {
                continue;
            };
            let rep = view
                .period
                .adaptation_sets
                .iter()
                .flat_map(|s| &s.representations)
                .find(|r| r.template.media.rsplit_once('/').map(|(d, _)| d) == Some(dir));
            let Some(rep) = rep else {
                continue;
            };
            let tmpl = &rep.template;
            let into = timing.t.saturating_sub(tmpl.presentation_time_offset);
            let at =
                view.start_unix_ms
                    .saturating_add(crate::time::rescale(into, tmpl.timescale, 1000));
            let delta = unix_ms as i64 - e.rec.start_unix_ms as i64;
            return Some(at.saturating_add_signed(delta));
        }
        None
    }

    /// Ad markers it keeps.
    pub fn marker_count(&self) -> usize {
        self.markers.len()
    }

    /// The ad markers whose splice point is in `[from_unix_ms, to_unix_ms)`.
    pub fn markers(&self, from_unix_ms: u64, to_unix_ms: u64) -> Vec<AdMarker> {
        let from = self
            .markers
            .partition_point(|m| m.start_unix_ms < from_unix_ms);
        let to = self
            .markers
            .partition_point(|m| m.start_unix_ms < to_unix_ms);
        self.markers.range(from..to.max(from)).cloned().collect()
    }

    /// The last outline of output `kind`.
    pub fn outline(&self, kind: EndpointType) -> Option<&Outline> {
        self.outlines.get(&kind.index())
    }

    /// The tracks of output `kind`, by folder.
    pub fn tracks_of(&self, kind: EndpointType) -> impl Iterator<Item = (&str, &Track)> {
        self.tracks
            .iter()
            .filter(move |(k, _)| k.kind == kind)
            .map(|(k, t)| (k.dir.as_str(), t))
    }

    /// The object at `rest` (`<dir>/<file>`) of output `kind`.
    pub fn find(&self, kind: EndpointType, rest: &str) -> Option<Found<'_>> {
        let (dir, file) = rest.rsplit_once('/')?;
        let t = self.track(kind, dir)?;
        if let Some(i) = t.inits.iter().find(|i| i.file == file) {
            return Some(Found::Init(i));
        }
        let seq = *t.by_file.get(file)?;
        let i = t.entries.binary_search_by_key(&seq, |e| e.rec.seq).ok()?;
        t.entries.get(i).map(Found::Segment)
    }

    /// Applies one record; what it removed from the index. A segment that does not come
    /// after its track's last one is ignored (the log never holds one; replay stays total).
    pub fn apply(&mut self, record: &Record) -> Removed {
        match record {
            Record::Init { key, init } => {
                let t = self.tracks.entry(key.clone()).or_default();
                if t.inits.back().is_some_and(|i| i.k >= init.k) {
                    return Vec::new();
                }
                self.bytes = self.bytes.saturating_add(init.len);
                t.inits.push_back(init.clone());
                Vec::new()
            }
            Record::Segment { key, seg } => {
                let t = self.tracks.entry(key.clone()).or_default();
                let (discontinuity, dsn) = match t.entries.back() {
                    Some(last) if last.rec.seq >= seg.seq => return Vec::new(),
                    Some(last) => {
                        let gap = seg.discontinuity || last.rec.seq + 1 != seg.seq;
                        (gap, last.dsn + u64::from(gap))
                    }
                    None => (false, 0),
                };
                self.bytes = self.bytes.saturating_add(seg.len);
                t.by_file.insert(seg.file.clone(), seg.seq);
                t.entries.push_back(Entry {
                    rec: seg.clone(),
                    discontinuity,
                    dsn,
                });
                Vec::new()
            }
            Record::Period { kind, view } => {
                let periods = self.periods.entry(kind.index()).or_default();
                match periods.iter_mut().find(|p| p.period.id == view.period.id) {
                    Some(p) => *p = view.clone(),
                    None => periods.push_back(view.clone()),
                }
                Vec::new()
            }
            Record::Outline { kind, outline } => {
                self.outlines.insert(kind.index(), outline.clone());
                Vec::new()
            }
            Record::Expired { key, through_seq } => {
                let removed = self.expire_through(key, *through_seq);
                self.drop_unused_periods(key.kind);
                self.drop_old_markers();
                removed
            }
            Record::Marker(m) => {
                if !self.markers.contains(m) {
                    let at = self
                        .markers
                        .partition_point(|x| x.start_unix_ms <= m.start_unix_ms);
                    self.markers.insert(at, m.clone());
                    if self.markers.len() > MAX_ARCHIVED_MARKERS {
                        self.markers.pop_front();
                    }
                }
                Vec::new()
            }
            Record::MarkerGone(m) => {
                self.markers.retain(|x| x != m);
                Vec::new()
            }
        }
    }

    /// Drops the markers whose splice point is before every track's first segment (a break
    /// under way at the oldest segment keeps its start).
    fn drop_old_markers(&mut self) {
        let oldest = self
            .tracks
            .values()
            .filter_map(|t| t.entries.front())
            .map(|e| e.rec.start_unix_ms)
            .min();
        let Some(oldest) = oldest else {
            self.markers.clear();
            return;
        };
        let keep_from = self
            .markers
            .iter()
            .rposition(|m| {
                m.signal == crate::scte35::Signal::Out
                    && m.start_unix_ms <= oldest
                    && m.start_unix_ms
                        .saturating_add(m.duration_ms.unwrap_or(u64::MAX))
                        > oldest
            })
            .unwrap_or(usize::MAX);
        let before = self.markers.partition_point(|m| m.start_unix_ms < oldest);
        self.markers.drain(..keep_from.min(before));
    }

    /// Removes the track's segments up to `through_seq` and the init segments no remaining
    /// segment needs (all of them when none remains).
    fn expire_through(&mut self, key: &TrackKey, through_seq: u64) -> Removed {
        let Some(t) = self.tracks.get_mut(key) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        while t.entries.front().is_some_and(|e| e.rec.seq <= through_seq) {
            let Some(e) = t.entries.pop_front() else {
                break;
            };
            t.by_file.remove(&e.rec.file);
            removed.push((key.path_of(&e.rec.file), e.rec.len));
        }
        let needed = t.entries.iter().filter_map(|e| e.rec.init).min();
        while let Some(i) = t.inits.front() {
            if needed.is_some_and(|k| i.k >= k) {
                break;
            }
            removed.push((key.path_of(&i.file), i.len));
            t.inits.pop_front();
        }
        if t.entries.is_empty() && t.inits.is_empty() {
            self.tracks.remove(key);
        }
        let gone: u64 = removed.iter().map(|(_, n)| n).sum();
        self.bytes = self.bytes.saturating_sub(gone);
        removed
    }

    /// Drops the Periods of `kind` before the Period of every track's first segment: no
    /// segment belongs to them any more (segments follow their Periods' order).
    fn drop_unused_periods(&mut self, kind: EndpointType) {
        let Some(periods) = self.periods.get_mut(&kind.index()) else {
            return;
        };
        let firsts: Vec<&str> = self
            .tracks
            .iter()
            .filter(|(k, _)| k.kind == kind)
            .filter_map(|(_, t)| t.entries.front()?.rec.timing.as_ref())
            .map(|t| t.period.as_str())
            .collect();
        while periods
            .front()
            .is_some_and(|p| !firsts.contains(&p.period.id.as_str()))
        {
            periods.pop_front();
        }
    }

    /// The records that expire everything ending at or before `before_unix_ms` (retention by
    /// window).
    pub fn expiring_before(&self, before_unix_ms: u64) -> Vec<Record> {
        self.tracks
            .iter()
            .filter_map(|(key, t)| {
                let last_gone = t
                    .entries
                    .iter()
                    .take_while(|e| e.end_unix_ms() <= before_unix_ms)
                    .last()?;
                Some(Record::Expired {
                    key: key.clone(),
                    through_seq: last_gone.rec.seq,
                })
            })
            .collect()
    }

    /// The oldest segment over all tracks (retention by disk cap): its start and the record
    /// that expires it.
    pub fn oldest(&self) -> Option<(u64, Record)> {
        self.tracks
            .iter()
            .filter_map(|(key, t)| {
                let e = t.entries.front()?;
                Some((
                    e.rec.start_unix_ms,
                    Record::Expired {
                        key: key.clone(),
                        through_seq: e.rec.seq,
                    },
                ))
            })
            .min_by_key(|(start, _)| *start)
    }

    /// Records that rebuild exactly this index (to compact a log).
    pub fn snapshot_records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for (&kind, periods) in &self.periods {
            let kind = EndpointType::ALL[kind];
            out.extend(periods.iter().map(|view| Record::Period {
                kind,
                view: view.clone(),
            }));
        }
        for (key, t) in &self.tracks {
            out.extend(t.inits.iter().map(|i| Record::Init {
                key: key.clone(),
                init: i.clone(),
            }));
            out.extend(t.entries.iter().map(|e| Record::Segment {
                key: key.clone(),
                seg: e.rec.clone(),
            }));
        }
        out.extend(self.markers.iter().cloned().map(Record::Marker));
        // Last: a log cut short at one of them keeps every segment.
        out.extend(
            self.outlines
                .iter()
                .map(|(&kind, outline)| Record::Outline {
                    kind: EndpointType::ALL[kind],
                    outline: outline.clone(),
                }),
        );
        out
    }
}

impl Track {
    /// The entries a time-shifted manifest lists for `window` at `now_ms` (`live_ms`: the
    /// channel's live window, the length of a delayed one).
    pub fn select(&self, window: &super::Window, live_ms: u64, now_ms: u64) -> Range<usize> {
        use super::Window;
        let e = &self.entries;
        let (from, to) = match *window {
            // Segments that overlap [start, end).
            Window::Startover { start_ms } => {
                (e.partition_point(|x| x.end_unix_ms() <= start_ms), e.len())
            }
            Window::Closed { start_ms, end_ms } => (
                e.partition_point(|x| x.end_unix_ms() <= start_ms),
                e.partition_point(|x| x.rec.start_unix_ms < end_ms),
            ),
            // Segments complete at now − delay, the live window's worth.
            Window::Delayed { delay_ms } => {
                let edge = now_ms.saturating_sub(delay_ms);
                let to = e.partition_point(|x| x.end_unix_ms() <= edge);
                let from = e.partition_point(|x| x.end_unix_ms() <= edge.saturating_sub(live_ms));
                (from, to)
            }
        };
        from.min(to)..to
    }

    /// The init segment number `k`.
    pub fn init(&self, k: u64) -> Option<&InitRec> {
        self.inits.iter().find(|i| i.k == k)
    }
}
