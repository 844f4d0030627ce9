//! Ad markers from a DASH input: the SCTE-35 events of the active input's MPD
//! ([`crate::ad_markers::dash_in`]) placed on the output's clock, through the output Period
//! that follows their input Period: an event `t` after its Period's start is at the media time
//! the Period's first Representation has there, and that media time is on the output's
//! timeline (`availabilityStartTime` + `Period@start` + media time − `presentationTimeOffset`).

use super::output::Output;
use super::period::{OutPeriod, OutRep};
use super::store::InputStore;
use super::DashMedia;
use crate::ad_markers::AdMarkers;
use crate::channel::config::InputRole;
use crate::time::rescale;

/// Keeps the markers of `store`'s (the active input's) MPD whose Periods the output follows;
/// whether a new one was kept.
pub(super) fn take_events(
    output: &Output,
    store: &InputStore,
    role: InputRole,
    (markers, scanned): (&mut AdMarkers, &mut EmsgScanned),
    warnings: &mut Vec<String>,
) -> bool {
    let (Some(entry), Some(ast), Some(span)) = (&store.mpd, output.ast, output.span_unix_ms())
    else {
        return false;
    };
    let mut added = false;
    for p in entry.mpd.periods.iter().filter(|p| !p.events.is_empty()) {
        let Some(out) = output.periods.iter().rev().find(|o| {
            o.source.role == role && o.source.run == store.run && o.source.period == p.id
        }) else {
            continue;
        };
        let Some(rep) = out.reps().find(|r| !r.segments.is_empty()) else {
            continue;
        };
        let ts = rep.info.timescale.max(1);
        for ev in &p.events {
            let media = rep.info.presentation_time_offset.saturating_add(rescale(
                ev.period_ticks,
                ev.timescale,
                ts,
            ));
            // Gone from the window (taken before, then forgotten), or far ahead of it.
            let Some(at) = wall_ms(ast, out, rep, media).filter(|at| in_reach(*at, span)) else {
                continue;
            };
            added |= markers
                .take_section(ev.section.clone().into(), at, warnings)
                .is_some();
        }
    }
    added | take_emsg(output, span, markers, scanned, warnings)
}

/// Where media time `media` of `rep` in output Period `out` is on the output's clock (Unix
/// ms, `ast`: `availabilityStartTime`); `None` before the Period's start.
fn wall_ms(ast: u64, out: &OutPeriod, rep: &OutRep, media: u64) -> Option<u64> {
    let rel = media.checked_sub(rep.pto)?;
    let ts = rep.info.timescale.max(1);
    Some(
        ast.saturating_add(out.start_ms)
            .saturating_add(rescale(rel, ts, 1000)),
    )
}

/// Whether a marker at `at` is in the window `span` or at most [`MAX_LEAD_MS`] after it.
fn in_reach(at: u64, (start, end): (u64, u64)) -> bool {
    start <= at && at <= end.saturating_add(crate::ad_markers::MAX_LEAD_MS)
}

/// The newest segment number scanned for `emsg`, per output Period (its first
/// Representation's segments).
#[derive(Debug, Default)]
pub(super) struct EmsgScanned(std::collections::HashMap<String, u64>);

/// Keeps the markers of the SCTE-35 `emsg` boxes in the segments of each Period's first
/// Representation published since the last pass; whether a new one was kept.
fn take_emsg(
    output: &Output,
    span: (u64, u64),
    markers: &mut AdMarkers,
    scanned: &mut EmsgScanned,
    warnings: &mut Vec<String>,
) -> bool {
    use crate::ad_markers::emsg_in::{scan, EmsgTime};
    let Some(ast) = output.ast else {
        return false;
    };
    scanned
        .0
        .retain(|id, _| output.periods.iter().any(|p| &p.id == id));
    let mut added = false;
    for out in &output.periods {
        // The video's segments carry the emsg (packagers put them there), else the first.
        let video = out
            .sets
            .iter()
            .filter(|s| s.content_type == crate::dash::mpd::ContentType::Video)
            .flat_map(|s| s.reps.iter())
            .find(|r| !r.segments.is_empty());
        let Some(rep) = video.or_else(|| out.reps().find(|r| !r.segments.is_empty())) else {
            continue;
        };
        let ts = rep.info.timescale.max(1);
        let last = scanned.0.entry(out.id.clone()).or_insert(0);
        let from = *last;
        *last = rep.segments.back().map_or(from, |s| s.number.max(from));
        for seg in rep.segments.iter().filter(|s| s.number > from) {
            for cue in scan(&seg.object.body) {
                let media = match cue.time {
                    EmsgTime::AfterSegmentStart(d) => {
                        seg.t.saturating_add(rescale(d, cue.timescale, ts))
                    }
                    EmsgTime::MediaTime(t) => rescale(t, cue.timescale, ts),
                };
                let Some(at) = wall_ms(ast, out, rep, media).filter(|at| in_reach(*at, span))
                else {
                    continue;
                };
                added |= markers
                    .take_section(cue.section.into(), at, warnings)
                    .is_some();
            }
        }
    }
    added
}

impl DashMedia {
    /// The operator's splice ([`crate::media::Media::splice`]).
    pub(super) fn operator_splice(
        &mut self,
        req: &crate::ad_markers::SpliceRequest,
        now: crate::time::Now,
    ) -> Result<crate::ad_markers::AdMarker, String> {
        self.last_now = now;
        let at = crate::ad_markers::splice_time(req, self.output.span_unix_ms())?;
        let m = self.markers.splice(req, at)?;
        self.versions.output_changed();
        Ok(m)
    }

    /// The markers in the window, older ones forgotten.
    pub(super) fn window_markers(&mut self) -> std::sync::Arc<[crate::ad_markers::AdMarker]> {
        if let Some((start, _)) = self.output.span_unix_ms() {
            self.markers.evict_before(start);
        }
        self.markers.published()
    }
}
