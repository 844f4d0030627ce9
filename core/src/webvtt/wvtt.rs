//! WebVTT in ISO BMFF (ISO/IEC 14496-30 §7): the `wvtt` sample entry's configuration and the
//! samples of a text fragment. A sample covers an interval in which the same cues show: one
//! `vttc` box per cue (`iden`, `sttg`, `payl`), or an empty `vtte` where none does; samples
//! never overlap and tile the fragment.

use super::Cue;
use crate::fmp4::{media_segment, BoxWriter, FragmentParams, Sample, SAMPLE_SYNC};

/// The `vttC` text: the WebVTT file header the samples' cues belong under.
pub const CONFIG: &str = "WEBVTT";

/// The RFC 6381 `codecs` value of the track.
pub const CODECS: &str = "wvtt";

/// One sample: its duration (the track's timescale) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSample {
    pub duration: u32,
    pub bytes: Vec<u8>,
}

/// The samples tiling `[start, end)` (the track's timescale) for `cues` (times on the same
/// timeline); cue parts outside the interval are left to the neighbouring fragments.
pub fn samples(cues: &[Cue], start: u64, end: u64) -> Vec<TextSample> {
    if end <= start {
        return Vec::new();
    }
    let mut edges: Vec<u64> = vec![start, end];
    for c in cues {
        for t in [c.start_ms, c.end_ms] {
            if t > start && t < end {
                edges.push(t);
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let mut out: Vec<TextSample> = Vec::with_capacity(edges.len());
    for w in edges.windows(2) {
        let (a, b) = (w[0], w[1]);
        let mut showing: Vec<&Cue> = cues
            .iter()
            .filter(|c| c.start_ms <= a && c.end_ms >= b)
            .collect();
        showing.sort_by_key(|c| c.start_ms);
        let mut bx = BoxWriter::new();
        if showing.is_empty() {
            bx.bx(b"vtte", |_| {});
        }
        for c in showing {
            bx.bx(b"vttc", |w| {
                if !c.id.is_empty() {
                    w.bx(b"iden", |w| w.bytes(c.id.as_bytes()));
                }
                if !c.settings.is_empty() {
                    w.bx(b"sttg", |w| w.bytes(c.settings.as_bytes()));
                }
                w.bx(b"payl", |w| w.bytes(c.payload.as_bytes()));
            });
        }
        let bytes = bx.into_vec();
        let duration = u32::try_from(b - a).unwrap_or(u32::MAX);
        // Two empty intervals in a row (a cue of another fragment's edge): one sample.
        match out.last_mut() {
            Some(last) if last.bytes == bytes && bytes.len() == 8 => {
                last.duration = last.duration.saturating_add(duration);
            }
            _ => out.push(TextSample { duration, bytes }),
        }
    }
    out
}

/// A CMAF text fragment (`styp` + `moof` + `mdat`) of `[start, end)` showing `cues`.
pub fn fragment(sequence: u32, track_id: u32, cues: &[Cue], start: u64, end: u64) -> Vec<u8> {
    let samples = samples(cues, start, end);
    let entries: Vec<Sample> = samples
        .iter()
        .map(|s| Sample {
            duration: s.duration,
            size: s.bytes.len() as u32,
            flags: SAMPLE_SYNC,
            composition_offset: 0,
        })
        .collect();
    let mdat: Vec<u8> = samples.into_iter().flat_map(|s| s.bytes).collect();
    media_segment(
        &FragmentParams {
            sequence,
            track_id,
            base_decode_time: start,
            samples: &entries,
            composition_offsets: false,
        },
        &mdat,
    )
}
