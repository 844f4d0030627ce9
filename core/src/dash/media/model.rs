//! The MPD model of a DASH channel's output: its Periods, AdaptationSets and Representations
//! with their `SegmentTemplate` timelines, and the MPD-wide timing players read.

use super::output::Output;
use super::period::{ticks_to_ms_ceil, OutPeriod, OutRep};
use crate::dash::mpd;

/// How the MPD of a low-latency endpoint differs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LowLatencyForm {
    /// Chunks a segment comes in (0: not known yet).
    pub chunks_per_segment: usize,
}

/// The MPD model of the output, `None` before any segment; static once `ended` (the output's
/// end, see [`Output::presentation_ended`]). With `low_latency`, each Representation's
/// announced segment ends its timeline ([`super::pending`]) and the MPD says how early
/// segments can be requested.
pub(crate) fn mpd_of(
    out: &Output,
    window_ms: u64,
    ended: bool,
    publish_unix_ms: u64,
    low_latency: Option<LowLatencyForm>,
) -> Option<mpd::Mpd> {
    let ast = out.ast?;
    let mut max_d_ms = 0u64;
    let mut periods = Vec::new();
    for p in &out.periods {
        let mut sets = Vec::new();
        for (i, set) in p.sets.iter().enumerate() {
            let reps: Vec<mpd::Representation> = set
                .reps
                .iter()
                .filter(|r| !r.segments.is_empty() && r.init.is_some())
                .map(|r| {
                    for s in &r.segments {
                        max_d_ms = max_d_ms.max(ticks_to_ms_ceil(s.d, r.info.timescale));
                    }
                    out_representation(r, low_latency.is_some())
                })
                .collect();
            if !reps.is_empty() {
                sets.push(mpd::AdaptationSet {
                    id: u32::try_from(i).unwrap_or(u32::MAX),
                    content_type: set.content_type,
                    mime_type: set.mime_type.clone(),
                    lang: set.lang.clone(),
                    segment_alignment: true,
                    cea608: None,
                    representations: reps,
                });
            }
        }
        if !sets.is_empty() {
            periods.push(mpd::Period {
                id: p.id.clone(),
                start_ms: p.start_ms,
                adaptation_sets: sets,
            });
        }
    }
    if periods.is_empty() {
        return None;
    }
    let seg_ms = max_d_ms.max(1);
    let end_ms = out.periods.iter().map(OutPeriod::end_ms).max().unwrap_or(0);
    let low_latency = low_latency
        .filter(|_| !ended)
        .map(|form| low_latency_of(seg_ms, form));
    // Players that start the suggested delay behind the live edge (Shaka) are told the
    // latency target instead of three segments.
    let presentation_delay_ms =
        low_latency.map_or(seg_ms.saturating_mul(3), |ll| ll.target_latency_ms);
    Some(mpd::Mpd {
        dynamic: !ended,
        availability_start_unix_ms: ast,
        publish_time_unix_ms: publish_unix_ms,
        time_shift_buffer_ms: window_ms,
        min_update_period_ms: seg_ms,
        suggested_presentation_delay_ms: presentation_delay_ms,
        min_buffer_time_ms: seg_ms,
        max_segment_duration_ms: seg_ms,
        media_presentation_duration_ms: ended.then_some(end_ms),
        utc_timing: vec![mpd::UtcTiming::origin()],
        low_latency,
        periods,
    })
}

/// Chunk duration assumed before the encoder's first chunked upload is seen: ffmpeg's
/// `-frag_duration 0.5`, the common setting.
const DEFAULT_CHUNK_MS: u64 = 500;

/// The low-latency attributes for segments of `seg_ms` coming in chunks: a segment can be
/// asked for once its first chunk can be there, and players aim at about three chunks of
/// buffer behind the live edge, never under one segment, speeding up or slowing down by at
/// most 4 % to hold it.
fn low_latency_of(seg_ms: u64, form: LowLatencyForm) -> mpd::LowLatency {
    let chunk_ms = match form.chunks_per_segment {
        0 => DEFAULT_CHUNK_MS.min(seg_ms),
        n => seg_ms / n as u64,
    }
    .max(1);
    let target = (3 * chunk_ms + 500).max(seg_ms).min(seg_ms * 2);
    mpd::LowLatency {
        availability_time_offset_ms: seg_ms.saturating_sub(chunk_ms),
        target_latency_ms: target,
        min_latency_ms: target / 2,
        max_latency_ms: target * 3,
        playback_rate_permille: (960, 1040),
    }
}

fn out_representation(r: &OutRep, low_latency: bool) -> mpd::Representation {
    let i = &r.info;
    let k = r.init.as_ref().map_or(0, |(k, _)| *k);
    mpd::Representation {
        id: r.name.clone(),
        bandwidth: if i.bandwidth > 0 {
            i.bandwidth
        } else {
            peak_bps(r)
        },
        codecs: i.codecs.clone(),
        width: i.width,
        height: i.height,
        frame_rate: i.frame_rate.clone(),
        audio_sampling_rate: i.audio_sampling_rate,
        audio_channels: i.audio_channels,
        template: mpd::SegmentTemplate {
            timescale: i.timescale,
            presentation_time_offset: r.pto,
            initialization: format!("{}/init{k}.m4s", r.name),
            media: format!("{}/$Number$.m4s", r.name),
            start_number: r.start_number(),
            timeline: mpd::timeline_from(
                r.segments
                    .iter()
                    .map(|s| (s.t, s.d))
                    .chain(r.pending.iter().filter(|_| low_latency).map(|p| (p.t, p.d))),
            ),
        },
    }
}

/// Peak bit rate over the window, for an encoder that gave no `@bandwidth`.
fn peak_bps(r: &OutRep) -> u64 {
    r.segments
        .iter()
        .map(|s| {
            let ms = ticks_to_ms_ceil(s.d, r.info.timescale).max(1);
            (s.object.body.len() as u64).saturating_mul(8_000) / ms
        })
        .max()
        .unwrap_or(0)
        .max(1)
}
