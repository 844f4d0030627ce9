//! The video stage: PES packets of an H.264 or H.265 stream → access units → CMAF samples
//! (length-prefixed NAL units, parameter sets taken out into `avcC`/`hvcC`), with durations from
//! decode-time differences and the track's init segment.

use bytes::Bytes;

use super::{cached_info, RepackageStats, StreamState, TimedPes, TrackSamples};
use crate::cmaf::{Codec, RepackageError, TrackInfo, TrackKind};
use crate::fmp4::{self, InitParams, Sample, SampleEntry, SAMPLE_NON_SYNC, SAMPLE_SYNC};
use crate::ts::{h264, h265, StreamType};

/// Video timescale: TS's 90 kHz clock, so decode times are the DTS values themselves.
const VIDEO_TIMESCALE: u32 = 90_000;
/// A video sample's duration when nothing better is known (one frame at 30 fps).
const FALLBACK_VIDEO_DURATION: u32 = 3000;

/// An access unit: PES packets from one with a PTS up to the next one with a PTS.
struct AccessUnit<'a> {
    dts: u64,
    pts: u64,
    parts: Vec<&'a [u8]>,
    damaged: bool,
}

pub(super) fn video_track(
    state: &mut StreamState,
    pid: u16,
    track_id: u32,
    stream_type: StreamType,
    pes: &[TimedPes<'_>],
    stats: &mut RepackageStats,
) -> Result<Option<TrackSamples>, RepackageError> {
    let hevc = stream_type == StreamType::H265;
    let codec_name = if hevc { "H.265" } else { "H.264" };
    let mut units: Vec<AccessUnit<'_>> = Vec::new();
    for &TimedPes { pts, dts, pes: p } in pes {
        match (pts, units.last_mut()) {
            (Some(pts), _) => units.push(AccessUnit {
                dts: dts.unwrap_or(pts),
                pts,
                parts: vec![&p.data],
                damaged: p.damaged,
            }),
            (None, Some(last)) => {
                last.parts.push(&p.data);
                last.damaged |= p.damaged;
            }
            (None, None) => stats.skipped_video_units += 1,
        }
    }

    // Parameter sets first seen in this segment replace the remembered ones.
    let mut vps: Vec<Vec<u8>> = Vec::new();
    let mut sps: Vec<Vec<u8>> = Vec::new();
    let mut pps: Vec<Vec<u8>> = Vec::new();
    let mut samples = Vec::with_capacity(units.len());
    let mut times = Vec::with_capacity(units.len());
    let mut mdat = Vec::with_capacity(pes.iter().map(|p| p.pes.data.len()).sum());
    let mut captions = false;
    for au in &units {
        let start = mdat.len();
        let mut sync = false;
        for part in &au.parts {
            for nal in h264::nal_units(part) {
                let (t, keep) = if hevc {
                    let t = h265::nal_type(nal);
                    sync |= h265::is_irap(t) && t <= 21;
                    (
                        t,
                        !matches!(
                            t,
                            h265::NAL_VPS | h265::NAL_SPS | h265::NAL_PPS | h265::NAL_AUD
                        ),
                    )
                } else {
                    let t = h264::nal_type(nal);
                    sync |= t == h264::NAL_IDR;
                    (
                        t,
                        !matches!(
                            t,
                            h264::NAL_SPS | h264::NAL_PPS | h264::NAL_AUD | h264::NAL_SPS_EXT
                        ),
                    )
                };
                // Captions ride in SEI messages, which stay in the samples: noted for manifests.
                if !captions && matches!((hevc, t), (false, h264::NAL_SEI) | (true, 39)) {
                    captions = h264::carries_a53_captions(nal);
                }
                if !keep {
                    let list = match (hevc, t) {
                        (true, h265::NAL_VPS) => Some(&mut vps),
                        (true, h265::NAL_SPS) | (false, h264::NAL_SPS) => Some(&mut sps),
                        (true, h265::NAL_PPS) | (false, h264::NAL_PPS) => Some(&mut pps),
                        _ => None,
                    };
                    if let Some(list) = list {
                        if !list.iter().any(|n| n.as_slice() == nal) {
                            list.push(nal.to_vec());
                        }
                    }
                    continue;
                }
                mdat.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                mdat.extend_from_slice(nal);
            }
        }
        let size = mdat.len() - start;
        if size == 0 {
            stats.skipped_video_units += 1;
            continue;
        }
        if au.damaged {
            stats.damaged_samples += 1;
        }
        samples.push(Sample {
            duration: 0,
            size: size as u32,
            flags: if sync { SAMPLE_SYNC } else { SAMPLE_NON_SYNC },
            composition_offset: i32::try_from(au.pts.saturating_sub(au.dts)).unwrap_or(i32::MAX),
        });
        times.push((au.dts, au.pts));
    }
    if !sps.is_empty() {
        state.sps = sps;
    }
    if !pps.is_empty() {
        state.pps = pps;
    }
    if !vps.is_empty() {
        state.vps = vps;
    }
    if samples.is_empty() {
        return Ok(None);
    }
    if state.sps.is_empty() || state.pps.is_empty() || (hevc && state.vps.is_empty()) {
        return Err(RepackageError::MissingParameterSets {
            pid,
            codec: codec_name,
        });
    }
    let bad = |source| RepackageError::BadStream {
        pid,
        codec: codec_name,
        source,
    };

    // Durations from decode-time differences; the last one repeats the one before it.
    for i in 0..samples.len() {
        let d = match times.get(i + 1) {
            Some(next) => u32::try_from(next.0.saturating_sub(times[i].0))
                .unwrap_or(u32::MAX)
                .max(1),
            None => state.last_duration.unwrap_or(FALLBACK_VIDEO_DURATION),
        };
        samples[i].duration = d;
        if times.get(i + 1).is_some() {
            state.last_duration = Some(d);
        }
    }
    if samples.len() == 1 && state.last_duration.is_none() {
        state.last_duration = Some(FALLBACK_VIDEO_DURATION);
    }
    let base_decode_time = times[0].0;
    let earliest_presentation_time = times.iter().map(|t| t.1).min().unwrap_or(base_decode_time);
    state.next_decode = Some(
        base_decode_time.saturating_add(samples.iter().map(|s| u64::from(s.duration)).sum::<u64>()),
    );

    let cfg = if hevc {
        let parsed = h265::parse_sps(&state.sps[0]).map_err(bad)?;
        let v: Vec<&[u8]> = state.vps.iter().map(Vec::as_slice).collect();
        let s: Vec<&[u8]> = state.sps.iter().map(Vec::as_slice).collect();
        let p: Vec<&[u8]> = state.pps.iter().map(Vec::as_slice).collect();
        let hvcc = h265::hevc_config(&v, &s, &p, &parsed);
        VideoConfig {
            entry: SampleEntry::Hevc {
                width: parsed.width as u16,
                height: parsed.height as u16,
                hvcc: hvcc.clone(),
            },
            record: hvcc,
            codec: Codec::H265,
            codecs: h265::codecs(&parsed),
            width: parsed.width,
            height: parsed.height,
            frame_rate: state.vps.first().and_then(|v| h265::vps_frame_rate(v)),
        }
    } else {
        let parsed = h264::parse_sps(&state.sps[0]).map_err(bad)?;
        let p: Vec<&[u8]> = state.pps.iter().map(Vec::as_slice).collect();
        let avcc = h264::avc_config(&state.sps[0], &p, &parsed);
        VideoConfig {
            entry: SampleEntry::Avc {
                width: parsed.width as u16,
                height: parsed.height as u16,
                avcc: avcc.clone(),
            },
            record: avcc,
            codec: Codec::H264,
            codecs: h264::codecs(&parsed),
            width: parsed.width,
            height: parsed.height,
            frame_rate: parsed.frame_rate,
        }
    };
    let VideoConfig {
        record: config,
        entry,
        codec,
        codecs,
        width,
        height,
        frame_rate,
    } = cfg;
    // Streams that do not signal a frame rate: measure it on the decode times.
    let frame_rate = frame_rate.or_else(|| measured_frame_rate(&times));
    let hd = width <= 1920 && height <= 1080;
    let brand = match codec {
        Codec::H264 if hd => Some(*b"cfhd"),
        Codec::H265 if hd => Some(*b"chhd"),
        _ => None,
    };
    let info = cached_info(state, config, track_id, || TrackInfo {
        track_id,
        kind: TrackKind::Video,
        codec,
        codecs,
        timescale: VIDEO_TIMESCALE,
        frame_rate,
        width,
        height,
        sample_rate: 0,
        channels: 0,
        init: Bytes::from(fmp4::init_segment(&InitParams {
            track_id,
            timescale: VIDEO_TIMESCALE,
            entry,
            profile_brand: brand,
            language: *b"und",
        })),
    });
    Ok(Some(TrackSamples {
        kind: TrackKind::Video,
        samples,
        mdat,
        base_decode_time,
        earliest_presentation_time,
        info,
        captions,
    }))
}

/// What the parameter sets say about a video track.
struct VideoConfig {
    /// avcC / hvcC body.
    record: Vec<u8>,
    entry: SampleEntry,
    codec: Codec,
    codecs: String,
    width: u32,
    height: u32,
    frame_rate: Option<(u32, u32)>,
}

/// Rates encoders use, as `(num, den)`.
const COMMON_RATES: [(u32, u32); 10] = [
    (24000, 1001),
    (24, 1),
    (25, 1),
    (30000, 1001),
    (30, 1),
    (48, 1),
    (50, 1),
    (60000, 1001),
    (60, 1),
    (120, 1),
];

/// The frame rate the decode times show: their mean step, matched to a common rate within
/// 0.05 % (24 and 24000/1001 are 0.1 % apart), else rounded to whole frames per second when
/// within 1 %; `None` with fewer than two samples or no rate near.
pub(super) fn measured_frame_rate(times: &[(u64, u64)]) -> Option<(u32, u32)> {
    let (first, last) = (times.first()?.0, times.last()?.0);
    let steps = u128::try_from(times.len().checked_sub(1).filter(|&n| n > 0)?).ok()?;
    let span = u128::from(last.checked_sub(first).filter(|&s| s > 0)?);
    // fps = 90000 · steps / span; compared with n/d as |90000·steps·d − n·span| ≤ n·span / per.
    let ticks = 90_000 * steps;
    let near = |(n, d): (u32, u32), per: u128| {
        let (n128, d128) = (u128::from(n), u128::from(d));
        ((ticks * d128).abs_diff(n128 * span) * per <= n128 * span).then_some((n, d))
    };
    COMMON_RATES
        .iter()
        .find_map(|&r| near(r, 2000))
        .or_else(|| {
            let whole = (2 * ticks + span) / (2 * span);
            let whole = u32::try_from(whole)
                .ok()
                .filter(|w| (1..=1000).contains(w))?;
            near((whole, 1), 100)
        })
}
