//! What a channel's outputs publish, turned into archive records: each segment and init
//! segment once, in the order the outputs serve them.

use super::log::{InitRec, Record, SegmentRecord, TrackKey};
use crate::ad_markers::AdMarker;
use crate::channel::config::EndpointType;
use crate::media::{Outline, PeriodView, Published};
use bytes::Bytes;
use std::collections::HashMap;

/// Remembers, per track, the last segment and init segment recorded.
#[derive(Debug, Default)]
pub struct Recorder {
    last_seq: HashMap<TrackKey, u64>,
    last_init: HashMap<TrackKey, u64>,
    /// The Periods as last recorded, per output, while the output still has them.
    periods: HashMap<(usize, String), PeriodView>,
    /// The outline as last recorded, per output.
    outlines: HashMap<usize, Outline>,
    /// The markers recorded that are still published.
    markers: Vec<AdMarker>,
}

impl Recorder {
    /// A recorder that has recorded nothing (everything published next is new).
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The records of what `published` serves that was not recorded yet, with the bytes to
    /// write first; init segments before the segments that need them.
    pub fn record(&mut self, published: &Published) -> Vec<(Record, Bytes)> {
        let mut out = Vec::new();
        // Where the live window starts: the earliest first segment of any track.
        let mut window_start: Option<u64> = None;
        for kind in EndpointType::ALL {
            let Some(output) = published.output(kind) else {
                continue;
            };
            let tracks = output.tracks();
            for s in tracks.iter().filter_map(|t| t.segments.first()) {
                window_start =
                    Some(window_start.map_or(s.start_unix_ms, |w| w.min(s.start_unix_ms)));
            }
            // An output with no media (yet, or for a moment) has nothing to say about its
            // shape; nothing recorded yet reads as the empty outline.
            if tracks.iter().any(|t| !t.segments.is_empty()) {
                let outline = output.outline();
                let last = self.outlines.get(&kind.index());
                if last.map_or(outline != Outline::default(), |l| *l != outline) {
                    self.outlines.insert(kind.index(), outline.clone());
                    out.push((Record::Outline { kind, outline }, Bytes::new()));
                }
            }
            let views = output.periods();
            self.periods.retain(|(k, id), _| {
                *k != kind.index() || views.iter().any(|v| &v.period.id == id)
            });
            for view in views {
                let key = (kind.index(), view.period.id.clone());
                if self.periods.get(&key) != Some(&view) {
                    self.periods.insert(key, view.clone());
                    out.push((Record::Period { kind, view }, Bytes::new()));
                }
            }
            for t in tracks {
                let key = TrackKey { kind, dir: t.dir };
                let last_init = self.last_init.get(&key).copied();
                for i in t.inits.iter().filter(|i| last_init.is_none_or(|k| i.k > k)) {
                    let init = InitRec {
                        k: i.k,
                        file: (t.init_file)(i),
                        len: i.object.body.len() as u64,
                        etag: i.object.etag.clone(),
                        content_type: i.object.content_type.to_string(),
                    };
                    self.last_init.insert(key.clone(), i.k);
                    out.push((
                        Record::Init {
                            key: key.clone(),
                            init,
                        },
                        i.object.body.clone(),
                    ));
                }
                let last = self.last_seq.get(&key).copied();
                let from = last.map_or(0, |l| t.segments.partition_point(|s| s.seq <= l));
                for (i, s) in t.segments.iter().enumerate().skip(from) {
                    let seg = SegmentRecord {
                        seq: s.seq,
                        file: (t.segment_file)(s),
                        duration_ms: s.duration_ms,
                        start_unix_ms: s.start_unix_ms,
                        discontinuity: t.discontinuities.binary_search(&s.seq).is_ok(),
                        init: s.init,
                        len: s.object.body.len() as u64,
                        etag: s.object.etag.clone(),
                        content_type: s.object.content_type.to_string(),
                        timing: t.timing.get(i).cloned(),
                    };
                    self.last_seq.insert(key.clone(), s.seq);
                    out.push((
                        Record::Segment {
                            key: key.clone(),
                            seg,
                        },
                        s.object.body.clone(),
                    ));
                }
            }
        }
        self.record_markers(published, window_start, &mut out);
        out
    }

    /// The markers `published` signals that were not recorded yet; and those recorded that
    /// it no longer signals although their media is still in the window (from
    /// `window_start`): cancelled (the window's own eviction takes only markers wholly
    /// before it), so the archive forgets them too.
    fn record_markers(
        &mut self,
        published: &Published,
        window_start: Option<u64>,
        out: &mut Vec<(Record, Bytes)>,
    ) {
        for gone in self
            .markers
            .iter()
            .filter(|m| !published.markers.contains(m))
        {
            let end = gone.end_unix_ms().unwrap_or(gone.start_unix_ms);
            if window_start.is_some_and(|w| end >= w) {
                out.push((Record::MarkerGone(gone.clone()), Bytes::new()));
            }
        }
        self.markers.retain(|m| published.markers.contains(m));
        for m in published.markers.iter() {
            if !self.markers.contains(m) {
                self.markers.push(m.clone());
                out.push((Record::Marker(m.clone()), Bytes::new()));
            }
        }
    }

    /// `record` could not be archived (the store's queue was full): a Period or an outline is
    /// recorded again with the next publication (a segment is simply missing from the archive).
    pub fn unrecord(&mut self, record: &Record) {
        match record {
            Record::Outline { kind, .. } => {
                self.outlines.remove(&kind.index());
            }
            Record::Period { kind, view } => {
                self.periods.remove(&(kind.index(), view.period.id.clone()));
            }
            Record::Marker(m) => self.markers.retain(|x| x != m),
            Record::MarkerGone(_) => {}
            Record::Init { .. } | Record::Segment { .. } | Record::Expired { .. } => {}
        }
    }
}
