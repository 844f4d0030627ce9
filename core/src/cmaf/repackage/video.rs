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
                        !matches!(t, h264::NAL_SPS | h264::NAL_PPS | h264::NAL_AUD | 13),
                    )
                };
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

    let (config, entry, info) = if hevc {
        let parsed = h265::parse_sps(&state.sps[0]).map_err(bad)?;
        let v: Vec<&[u8]> = state.vps.iter().map(Vec::as_slice).collect();
        let s: Vec<&[u8]> = state.sps.iter().map(Vec::as_slice).collect();
        let p: Vec<&[u8]> = state.pps.iter().map(Vec::as_slice).collect();
        let hvcc = h265::hevc_config(&v, &s, &p, &parsed);
        let entry = SampleEntry::Hevc {
            width: parsed.width as u16,
            height: parsed.height as u16,
            hvcc: hvcc.clone(),
        };
        (
            hvcc,
            entry,
            (
                Codec::H265,
                h265::codecs(&parsed),
                parsed.width,
                parsed.height,
            ),
        )
    } else {
        let parsed = h264::parse_sps(&state.sps[0]).map_err(bad)?;
        let p: Vec<&[u8]> = state.pps.iter().map(Vec::as_slice).collect();
        let avcc = h264::avc_config(&state.sps[0], &p, &parsed);
        let entry = SampleEntry::Avc {
            width: parsed.width as u16,
            height: parsed.height as u16,
            avcc: avcc.clone(),
        };
        (
            avcc,
            entry,
            (
                Codec::H264,
                h264::codecs(&parsed),
                parsed.width,
                parsed.height,
            ),
        )
    };
    let (codec, codecs, width, height) = info;
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
        width,
        height,
        sample_rate: 0,
        channels: 0,
        init: Bytes::from(fmp4::init_segment(&InitParams {
            track_id,
            timescale: VIDEO_TIMESCALE,
            entry,
            profile_brand: brand,
        })),
    });
    Ok(Some(TrackSamples {
        kind: TrackKind::Video,
        samples,
        mdat,
        base_decode_time,
        earliest_presentation_time,
        info,
    }))
}
