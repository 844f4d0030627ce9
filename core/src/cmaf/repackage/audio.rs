//! The audio stage: PES packets of an AAC/ADTS stream → ADTS frames (joined across PES when
//! split) → CMAF samples of raw AAC, timed in the sample rate and kept continuous with the
//! previous segment, and the track's init segment.

use bytes::Bytes;

use super::{cached_info, RepackageStats, StreamState, TimedPes, TrackSamples};
use crate::cmaf::{Codec, RepackageError, TrackInfo, TrackKind};
use crate::fmp4::{self, InitParams, Sample, SampleEntry, SAMPLE_SYNC};
use crate::ts::adts::{self, Adts, AdtsConfig, FRAME_SAMPLES};

/// A 90 kHz time in another timescale, rounded to the nearest tick (saturating: hostile
/// timestamps can push the unwrapped clock far, never into an overflow).
fn to_timescale(t90k: u64, rate: u64) -> u64 {
    let v = (u128::from(t90k) * u128::from(rate) + 45_000) / 90_000;
    u64::try_from(v).unwrap_or(u64::MAX)
}

pub(super) fn audio_track(
    state: &mut StreamState,
    track_id: u32,
    pes: &[TimedPes<'_>],
    stats: &mut RepackageStats,
) -> Result<Option<TrackSamples>, RepackageError> {
    let mut config: Option<AdtsConfig> = None;
    let mut samples: Vec<Sample> = Vec::new();
    let mut mdat = Vec::new();
    let mut first_time: Option<u64> = None;
    // Bytes of a frame that continues in the next PES, and the time its frame starts at.
    let mut pending: Vec<u8> = Vec::new();
    let mut next: Option<u64> = state.next_decode;
    let half_frame = u64::from(FRAME_SAMPLES / 2);
    for &TimedPes { pts, pes: p, .. } in pes {
        let mut data = std::mem::take(&mut pending);
        let carried = data.len();
        data.extend_from_slice(&p.data);
        let mut pes_frames = 0u64;
        let mut off = 0usize;
        while off < data.len() {
            match adts::parse_frame(&data[off..]) {
                Ok(Adts::Frame(f)) => {
                    let c = *config.get_or_insert(f.config);
                    let rate = u64::from(c.sample_rate());
                    // Frames starting in this PES take its PTS; snap to the running clock when
                    // within half a frame, so rounding 90 kHz → sample rate never leaves gaps.
                    let t = match (off >= carried, pts) {
                        (true, Some(pts)) => Some(
                            to_timescale(pts, rate)
                                .saturating_add(pes_frames * u64::from(FRAME_SAMPLES)),
                        ),
                        _ => next,
                    };
                    if off >= carried {
                        pes_frames += 1;
                    }
                    let t = match (t, next) {
                        (Some(t), Some(n)) if t.abs_diff(n) <= half_frame => Some(n),
                        // Inside the fragment samples follow each other: a gap in the source
                        // lengthens the previous sample; an overlap drops this frame.
                        (Some(t), Some(n)) if !samples.is_empty() && t > n => {
                            if let Some(last) = samples.last_mut() {
                                let gap = u32::try_from(t - n).unwrap_or(u32::MAX);
                                last.duration = last.duration.saturating_add(gap);
                            }
                            Some(t)
                        }
                        (Some(_), Some(_)) if !samples.is_empty() => None,
                        (t, _) => t,
                    };
                    let Some(t) = t.filter(|_| f.config == c) else {
                        // Untimed (no PTS seen yet), overlapping, or a configuration change
                        // inside the segment (the first configuration is kept).
                        stats.skipped_audio_bytes += f.frame_len as u64;
                        off += f.frame_len;
                        continue;
                    };
                    first_time.get_or_insert(t);
                    let raw = &data[off + f.header_len..off + f.frame_len];
                    mdat.extend_from_slice(raw);
                    samples.push(Sample {
                        duration: FRAME_SAMPLES,
                        size: raw.len() as u32,
                        flags: SAMPLE_SYNC,
                        composition_offset: 0,
                    });
                    if p.damaged {
                        stats.damaged_samples += 1;
                    }
                    next = Some(t.saturating_add(u64::from(FRAME_SAMPLES)));
                    off += f.frame_len;
                }
                Ok(Adts::Incomplete) => {
                    pending = data[off..].to_vec();
                    break;
                }
                Err(_) => {
                    // Look for the next syncword.
                    let skip = data[off + 1..]
                        .windows(2)
                        .position(|w| w[0] == 0xFF && w[1] & 0xF6 == 0xF0)
                        .map_or(data.len() - off, |i| i + 1);
                    stats.skipped_audio_bytes += skip as u64;
                    off += skip;
                }
            }
        }
    }
    stats.skipped_audio_bytes += pending.len() as u64;
    let (Some(c), Some(base)) = (config, first_time) else {
        return Ok(None);
    };
    state.next_decode = next;
    let sample_rate = c.sample_rate();
    let asc = c.audio_specific_config().to_vec();
    let info = cached_info(state, asc.clone(), track_id, || TrackInfo {
        track_id,
        kind: TrackKind::Audio,
        codec: Codec::Aac,
        codecs: c.codecs(),
        timescale: sample_rate,
        width: 0,
        height: 0,
        frame_rate: None,
        sample_rate,
        channels: c.channels(),
        init: Bytes::from(fmp4::init_segment(&InitParams {
            track_id,
            timescale: sample_rate,
            entry: SampleEntry::Aac {
                sample_rate,
                channels: c.channels(),
                audio_specific_config: asc,
            },
            profile_brand: (c.object_type == 2 && c.channels() <= 2).then_some(*b"caac"),
            language: *b"und",
        })),
    });
    Ok(Some(TrackSamples {
        kind: TrackKind::Audio,
        samples,
        mdat,
        base_decode_time: base,
        earliest_presentation_time: base,
        info,
        captions: false,
    }))
}
