//! DASH MPDs over archived media: the archived Periods with their Representations' timelines
//! filled from the archived segments the window selects.
//!
//! Times: a Period's wall-clock start was recorded (`availabilityStartTime + Period@start` of
//! the live MPD), so any `availabilityStartTime` may be chosen; the first listed Period's
//! start is. A delayed MPD moves it `delay` later: every segment becomes available `delay`
//! after it did live, and players play that far behind. A closed window whose end passed is
//! a static MPD (`mediaPresentationDuration`); the others are dynamic, their
//! `timeShiftBufferDepth` the channel's time-shift window.

use super::archive::ChannelArchive;
use super::{ShiftRequest, Window};
use crate::channel::config::EndpointType;
use crate::dash::mpd;

/// The MPD of output `kind` for `request`, `None` when the window holds no segment.
pub fn mpd(archive: &ChannelArchive, kind: EndpointType, request: &ShiftRequest) -> Option<String> {
    let mut periods = Vec::new();
    let mut base = None;
    let mut end_unix = 0u64;
    let mut max_d_ms = 1u64;
    for view in archive.periods(kind) {
        let mut p = view.period.clone();
        // Where the earliest selected segment of the Period starts: a window that begins
        // mid-Period begins the Period there.
        let mut first_start = u64::MAX;
        for set in &mut p.adaptation_sets {
            set.representations.retain_mut(|rep| {
                // The track is the folder of the Representation's media (`v0`, `hi/video`).
                let dir = rep.template.media.rsplit_once('/').map_or("", |(d, _)| d);
                let Some(track) = archive.track(kind, dir) else {
                    return false;
                };
                let range = track.select(&request.window, request.live_ms, request.now_ms);
                let mine = track.entries.range(range).filter(|e| {
                    e.rec
                        .timing
                        .as_ref()
                        .is_some_and(|t| t.period == view.period.id)
                });
                let mut first = None;
                let mut pairs = Vec::new();
                for e in mine {
                    if first.is_none() {
                        // `$Number$` as its URL says (CMAF's wrap at 2^31).
                        let stem = e.rec.file.split('.').next().unwrap_or_default();
                        first = Some(stem.parse().unwrap_or(e.rec.seq));
                        first_start = first_start.min(e.rec.start_unix_ms);
                    }
                    end_unix = end_unix.max(e.end_unix_ms());
                    max_d_ms = max_d_ms.max(e.rec.duration_ms);
                    if let Some(t) = &e.rec.timing {
                        pairs.push((t.t, t.d));
                    }
                }
                let Some(first) = first else {
                    return false;
                };
                rep.template.start_number = first;
                rep.template.timeline = mpd::timeline_from(pairs);
                true
            });
        }
        p.adaptation_sets.retain(|s| !s.representations.is_empty());
        if p.adaptation_sets.is_empty() {
            continue;
        }
        let shift_ms = first_start.saturating_sub(view.start_unix_ms);
        for rep in p
            .adaptation_sets
            .iter_mut()
            .flat_map(|s| s.representations.iter_mut())
        {
            let ticks = shift_ms.saturating_mul(u64::from(rep.template.timescale)) / 1000;
            rep.template.presentation_time_offset =
                rep.template.presentation_time_offset.saturating_add(ticks);
        }
        let start_unix = view.start_unix_ms.saturating_add(shift_ms);
        let base = *base.get_or_insert(start_unix);
        p.start_ms = start_unix.saturating_sub(base);
        periods.push(p);
    }
    let base = base?;
    let ended = request.ended();
    let delay = match request.window {
        Window::Delayed { delay_ms } => delay_ms,
        _ => 0,
    };
    let seg_ms = max_d_ms.div_ceil(1000) * 1000;
    Some(mpd::render(&mpd::Mpd {
        dynamic: !ended,
        availability_start_unix_ms: base.saturating_add(delay),
        // A complete window never changes: nor does its publishTime (or its etag).
        publish_time_unix_ms: if ended { end_unix } else { request.now_ms },
        time_shift_buffer_ms: request.window_ms,
        min_update_period_ms: seg_ms,
        suggested_presentation_delay_ms: seg_ms.saturating_mul(3),
        min_buffer_time_ms: seg_ms,
        max_segment_duration_ms: seg_ms,
        media_presentation_duration_ms: ended.then_some(end_unix.saturating_sub(base)),
        utc_timing: vec![mpd::UtcTiming::origin()],
        low_latency: None,
        periods,
    }))
}
