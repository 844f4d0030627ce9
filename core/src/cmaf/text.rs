//! Subtitles renditions of the CMAF endpoint: each WebVTT segment of an HLS subtitles rendition
//! becomes one `wvtt` fragment (ISO/IEC 14496-30) on the channel's media timeline.
//!
//! # Placement
//! Cue times come from the segment's `X-TIMESTAMP-MAP` (the origin writes one where ffmpeg
//! leaves it out), so they land on the same MPEG-TS timeline the video's decode times are on.
//! A fragment's span is the video (or audio) segment it was cut with: the reference segment
//! whose program date is nearest its own; a subtitles segment of another length than the
//! video's keeps its own duration. Fragments of consecutive segments are contiguous (a text
//! track's timeline has no gaps). Cue parts beyond a fragment's end are carried into the next
//! one, so a cue a segmenter wrote once is shown for its whole time.

use super::output::url_number;
use super::window::{ms, Packaged, PackagedTrack, TrackInits, SLOTS, TEXT, TRACK_SLOTS};
use super::{Codec, TrackInfo, TrackKind};
use crate::fmp4::{init_segment, InitParams, SampleEntry};
use crate::media::object::{EtagGen, MediaObject, SegmentEntry};
use crate::webvtt::{self, wvtt, Cue};
use bytes::Bytes;
use std::sync::Arc;

/// Text track timescale: milliseconds.
pub(crate) const TEXT_TIMESCALE: u32 = 1000;
const TEXT_TRACK_ID: u32 = 3;
/// Cues carried into the next fragment, at most.
const MAX_CARRIED: usize = 64;
/// Segments whose durations differ by no more were cut together.
const SAME_LENGTH_MS: u64 = 100;

/// Where media time stands against the wall clock: the reference rendition's segments.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// (program date, media start ms, duration ms), by increasing program date.
    segments: Vec<(u64, u64, u64)>,
}

impl Clock {
    /// From a rendition's packaged segments (video preferred, else audio).
    pub(crate) fn of<'a>(segs: impl Iterator<Item = (&'a SegmentEntry, &'a Packaged)>) -> Clock {
        let segments = segs
            .filter_map(|(source, p)| {
                let t = p.tracks[..TEXT].iter().flatten().next()?;
                Some((
                    source.start_unix_ms,
                    ms(t.ept, t.timescale),
                    ms(t.duration, t.timescale),
                ))
            })
            .collect();
        Clock { segments }
    }

    /// The media span (ms) of a segment published at `start_unix_ms` lasting `duration_ms`:
    /// from the reference segment that holds its start (else the nearest), at the same
    /// distance; a segment cut with the reference one (starting within half of the shorter
    /// of the two, lasting as long within [`SAME_LENGTH_MS`]) takes its span exactly.
    fn place(&self, start_unix_ms: u64, duration_ms: u64) -> Option<(u64, u64)> {
        let holds = |&&(at, _, len): &&(u64, u64, u64)| {
            at <= start_unix_ms && start_unix_ms < at.saturating_add(len.max(1))
        };
        let &(at, start, len) = match self.segments.iter().find(holds) {
            Some(s) => s,
            None => self
                .segments
                .iter()
                .min_by_key(|(at, _, _)| at.abs_diff(start_unix_ms))?,
        };
        let delta = start_unix_ms as i64 - at as i64;
        let same_length = len.abs_diff(duration_ms) <= SAME_LENGTH_MS;
        if same_length && delta.unsigned_abs().saturating_mul(2) <= len.min(duration_ms) {
            return Some((start, start.saturating_add(len)));
        }
        let start = start.saturating_add_signed(delta);
        Some((start, start.saturating_add(duration_ms)))
    }
}

/// A subtitles rendition's packaging state.
#[derive(Debug, Default)]
pub(crate) struct TextState {
    /// The last fragment made: its segment's number and its end (ms).
    last: Option<(u64, u64)>,
    /// Cues (track ms) still showing after the last fragment's end.
    carried: Vec<Cue>,
}

/// What a text fragment is made from.
pub(crate) struct TextSegment<'a> {
    pub seg: &'a SegmentEntry,
    /// An `EXT-X-DISCONTINUITY` precedes it: no continuity with the fragment before.
    pub discontinuity: bool,
    /// `mdhd` language.
    pub language: [u8; 3],
}

/// The `mdhd` code of a `LANGUAGE` attribute: a three-letter tag as it is, else `und` (the
/// manifests carry the full tag).
pub(crate) fn mdhd_language(tag: Option<&str>) -> [u8; 3] {
    let primary = tag.and_then(|t| t.split('-').next()).unwrap_or("");
    let b = primary.as_bytes();
    match b {
        [x, y, z] if b.iter().all(u8::is_ascii_alphabetic) => [
            x.to_ascii_lowercase(),
            y.to_ascii_lowercase(),
            z.to_ascii_lowercase(),
        ],
        _ => *b"und",
    }
}

/// One WebVTT segment as a `wvtt` fragment, with a warning when its file could not be read
/// (it is then an empty fragment: the track's timeline stays whole). `None`: nothing to place
/// it against yet.
pub(crate) fn package(
    st: &mut TextState,
    inits: &mut TrackInits,
    t: &TextSegment<'_>,
    clock: &Clock,
    etags: &mut EtagGen,
) -> Option<(PackagedTrack, Option<String>)> {
    let seg = t.seg;
    let (placed_start, placed_end) = clock.place(seg.start_unix_ms, seg.duration_ms)?;
    let body = &seg.object.body;
    // An empty segment is a stretch without cues (segmenters write those).
    let (file, warning) = match webvtt::parse(body) {
        Ok(f) => (f, None),
        Err(_) if body.is_empty() => (webvtt::WebVtt::default(), None),
        Err(e) => (webvtt::WebVtt::default(), Some(e.to_string())),
    };
    // It continues the fragment before (no gap in the track's timeline) when it follows it
    // and lands where that one ended, within half its length.
    let continues = !t.discontinuity
        && st.last.is_some_and(|(seq, end)| {
            seq.checked_add(1) == Some(seg.seq)
                && end.abs_diff(placed_start).saturating_mul(2) <= seg.duration_ms.max(1)
        });
    let start = match st.last {
        Some((_, end)) if continues => end,
        _ => {
            st.carried.clear();
            placed_start
        }
    };
    let end = if placed_end > start {
        placed_end
    } else {
        start.saturating_add(seg.duration_ms.max(1))
    };
    let reference = start.saturating_mul(90);
    let mut cues = std::mem::take(&mut st.carried);
    for c in file.cues {
        let on_track = |local: u64| webvtt::to_pts(local, file.map, reference) / 90;
        let cue = Cue {
            start_ms: on_track(c.start_ms),
            end_ms: on_track(c.end_ms),
            ..c
        };
        // A segmenter repeats a cue that spans segments: keep it once.
        if cue.end_ms > start && !cues.contains(&cue) {
            cues.push(cue);
        }
    }
    let bytes = wvtt::fragment(
        u32::try_from(url_number(seg.seq)).unwrap_or(0),
        TEXT_TRACK_ID,
        &cues,
        start,
        end,
    );
    cues.retain(|c| c.end_ms > end);
    cues.truncate(MAX_CARRIED);
    st.carried = cues;
    st.last = Some((seg.seq, end));
    let init = init_segment(&InitParams {
        track_id: TEXT_TRACK_ID,
        timescale: TEXT_TIMESCALE,
        entry: SampleEntry::WebVtt {
            config: wvtt::CONFIG.into(),
        },
        profile_brand: None,
        language: t.language,
    });
    let info = TrackInfo {
        track_id: TEXT_TRACK_ID,
        kind: TrackKind::Text,
        codec: Codec::WebVtt,
        codecs: wvtt::CODECS.into(),
        timescale: TEXT_TIMESCALE,
        width: 0,
        height: 0,
        frame_rate: None,
        sample_rate: 0,
        channels: 0,
        init: Bytes::from(init),
    };
    let content_type = TRACK_SLOTS[TEXT].2;
    let unix_ms = seg.object.last_modified_unix_ms;
    let init_k = inits.k_for(&info, || {
        MediaObject::new(
            info.init.clone().into(),
            content_type,
            etags.next(),
            unix_ms,
        )
    });
    let track = PackagedTrack {
        init_k,
        timescale: TEXT_TIMESCALE,
        ept: start,
        duration: end - start,
        object: Arc::new(MediaObject::new(
            Bytes::from(bytes).into(),
            content_type,
            etags.next(),
            unix_ms,
        )),
        captions: false,
    };
    Some((track, warning))
}

/// A packaged segment holding only its text track.
pub(crate) fn packaged(track: PackagedTrack) -> Packaged {
    let mut tracks: [Option<PackagedTrack>; SLOTS] = Default::default();
    tracks[TEXT] = Some(track);
    Packaged { tracks }
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
