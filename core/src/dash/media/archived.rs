//! What a DASH channel's output offers the time-shift archive and encrypted endpoints: per
//! Representation a track of segments (with their Period and timeline entry) and init
//! segments, the Periods with their Representations' attributes, and the MPD's model. Built
//! with the snapshot, only for a channel that keeps a time-shift window or has encrypted
//! endpoints.

use super::output::Output;
use crate::dash::mpd;
use crate::media::{InitEntry, PeriodView, SegmentEntry, SegmentTiming, TrackView};

/// One Representation's segments over every Period of the window.
#[derive(Debug)]
pub(crate) struct DashTrack {
    dir: String,
    segments: Vec<SegmentEntry>,
    timing: Vec<SegmentTiming>,
    /// A text AdaptationSet's.
    text: bool,
    inits: Vec<InitEntry>,
}

/// The output as the archive records it.
#[derive(Debug)]
pub(crate) struct ArchiveView {
    tracks: Vec<DashTrack>,
    periods: Vec<PeriodView>,
    /// The MPD's model (an encrypted endpoint with key rotation splits its Periods).
    pub(crate) model: mpd::Mpd,
}

impl ArchiveView {
    /// The view of `out`, whose MPD model is `model`.
    pub(crate) fn of(out: &Output, model: &mpd::Mpd) -> ArchiveView {
        let mut view = ArchiveView {
            tracks: Vec::new(),
            periods: Vec::new(),
            model: model.clone(),
        };
        let ast = model.availability_start_unix_ms;
        for p in &out.periods {
            let start_unix_ms = ast.saturating_add(p.start_ms);
            let reps = p
                .sets
                .iter()
                .flat_map(|s| s.reps.iter().map(move |r| (s.content_type, r)));
            for (content_type, r) in reps {
                let Some((k, init)) = &r.init else {
                    continue;
                };
                let i = match view.tracks.iter().position(|t| t.dir == r.name) {
                    Some(i) => i,
                    None => {
                        view.tracks.push(DashTrack {
                            dir: r.name.clone(),
                            segments: Vec::new(),
                            timing: Vec::new(),
                            inits: Vec::new(),
                            text: content_type == mpd::ContentType::Text,
                        });
                        view.tracks.len() - 1
                    }
                };
                let t = &mut view.tracks[i];
                if t.inits.last().is_none_or(|last| last.k < *k) {
                    t.inits.push(InitEntry {
                        k: *k,
                        ext: "m4s",
                        object: init.clone(),
                    });
                }
                let ts = u64::from(r.info.timescale.max(1));
                for s in &r.segments {
                    if t.segments.last().is_some_and(|last| last.seq >= s.number) {
                        continue;
                    }
                    let from_period_ms = s.t.saturating_sub(r.pto).saturating_mul(1000) / ts;
                    t.segments.push(SegmentEntry {
                        seq: s.number,
                        ext: "m4s",
                        duration_ms: s.d.saturating_mul(1000) / ts,
                        start_unix_ms: start_unix_ms.saturating_add(from_period_ms),
                        init: Some(*k),
                        object: s.object.clone(),
                    });
                    t.timing.push(SegmentTiming {
                        period: p.id.clone(),
                        t: s.t,
                        d: s.d,
                    });
                }
            }
        }
        // The model's Periods are the output's, with the same `start_ms`.
        view.periods = model
            .periods
            .iter()
            .map(|p| PeriodView::of(p.clone(), ast))
            .collect();
        view
    }

    /// The tracks, for [`crate::media::MediaOutput::tracks`].
    pub(crate) fn tracks(&self) -> Vec<TrackView<'_>> {
        self.tracks
            .iter()
            .map(|t| TrackView {
                dir: t.dir.clone(),
                segments: &t.segments,
                discontinuities: &[],
                inits: &t.inits,
                segment_file: |s| format!("{}.m4s", s.seq),
                init_file: |i| format!("init{}.m4s", i.k),
                timing: t.timing.clone(),
                text: t.text,
            })
            .collect()
    }

    /// The Periods, for [`crate::media::MediaOutput::periods`].
    pub(crate) fn periods(&self) -> Vec<PeriodView> {
        self.periods.clone()
    }
}
