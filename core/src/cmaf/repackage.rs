//! The repackager: one TS segment in, one CMAF fragment per track out, with the state that
//! must survive between segments (33-bit unwrap, parameter sets, expected decode times).

use std::collections::HashMap;

use bytes::Bytes;

use super::{Codec, RepackageError, Repackaged, TrackFragment, TrackInfo, TrackKind};
use crate::fmp4::{
    self, FragmentParams, InitParams, Sample, SampleEntry, SAMPLE_NON_SYNC, SAMPLE_SYNC,
};
use crate::ts::adts::{self, Adts, AdtsConfig, FRAME_SAMPLES};
use crate::ts::{h264, h265, DemuxStats, Demuxer, Pes, PtsUnwrapper, StreamType};

/// Largest TS segment accepted (far above any real segment; keeps every box under 4 GiB).
pub const MAX_SEGMENT_BYTES: usize = 256 << 20;

/// Video timescale: TS's 90 kHz clock, so decode times are the DTS values themselves.
const VIDEO_TIMESCALE: u32 = 90_000;
/// A video sample's duration when nothing better is known (one frame at 30 fps).
const FALLBACK_VIDEO_DURATION: u32 = 3000;

/// Damage met while repackaging one segment; none of it is fatal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepackageStats {
    pub demux: DemuxStats,
    /// Samples built from PES packets that lost bytes (continuity gaps).
    pub damaged_samples: u64,
    /// Bytes of the AAC streams that were not whole, valid ADTS frames.
    pub skipped_audio_bytes: u64,
    /// Video PES without a PTS that had no access unit to belong to, or access units with no
    /// picture data.
    pub skipped_video_units: u64,
}

/// Keeps what must carry over between the segments of one rendition. See [`super`].
#[derive(Debug, Default)]
pub struct Repackager {
    clock: PtsUnwrapper,
    streams: HashMap<u16, StreamState>,
}

#[derive(Debug, Default)]
struct StreamState {
    /// Latest parameter sets (H.264: SPS, PPS; H.265: VPS, SPS, PPS).
    vps: Vec<Vec<u8>>,
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    /// The decoder configuration and track id the cached `info` was built from.
    cached: Option<(Vec<u8>, u32, TrackInfo)>,
    /// Where the next sample's decode time is expected (track timescale).
    next_decode: Option<u64>,
    last_duration: Option<u32>,
}

/// A track's samples for one segment, before muxing.
struct TrackSamples {
    kind: TrackKind,
    samples: Vec<Sample>,
    /// Samples' bytes back to back (mdat payload).
    mdat: Vec<u8>,
    base_decode_time: u64,
    earliest_presentation_time: u64,
    info: TrackInfo,
}

impl Repackager {
    pub fn new() -> Repackager {
        Repackager::default()
    }

    /// One whole TS segment in; one CMAF fragment per track out. `sequence` goes into `mfhd`.
    pub fn repackage(&mut self, ts: &[u8], sequence: u32) -> Result<Repackaged, RepackageError> {
        if ts.len() > MAX_SEGMENT_BYTES {
            return Err(RepackageError::TooLarge {
                len: ts.len(),
                max: MAX_SEGMENT_BYTES,
            });
        }
        let mut demuxer = Demuxer::new();
        demuxer.push(ts);
        let demuxed = demuxer.finish();
        if !demuxed.saw_packets {
            return Err(RepackageError::NotTransportStream);
        }
        if demuxed.programs.is_empty() {
            return Err(RepackageError::NoProgram);
        }
        // The first program (in PAT order) that carries media we support.
        let Some(program) = demuxed
            .programs
            .iter()
            .find(|p| p.streams.iter().any(|s| s.stream_type.supported()))
        else {
            let types: Vec<String> = demuxed
                .programs
                .iter()
                .flat_map(|p| p.streams.iter())
                .map(|s| match s.stream_type {
                    StreamType::Other(t) => format!("{t:#04x}"),
                    t => format!("{t:?}"),
                })
                .collect();
            return Err(RepackageError::NoSupportedStreams(if types.is_empty() {
                "none".into()
            } else {
                types.join(", ")
            }));
        };
        let mut stats = RepackageStats {
            demux: demuxed.stats.clone(),
            ..Default::default()
        };

        // Unwrap every timestamp in arrival order, through one clock for the whole program.
        let pids: Vec<(u32, u16, StreamType)> = program
            .streams
            .iter()
            .filter(|s| s.stream_type.supported())
            .enumerate()
            .map(|(i, s)| (i as u32 + 1, s.pid, s.stream_type))
            .collect();
        let mut per_pid: HashMap<u16, Vec<TimedPes<'_>>> = HashMap::new();
        for pes in &demuxed.pes {
            if !pids.iter().any(|p| p.1 == pes.pid) {
                continue;
            }
            let pts = pes.pts.map(|t| self.clock.unwrap(t));
            let dts = pes.dts.map(|t| self.clock.unwrap(t));
            per_pid
                .entry(pes.pid)
                .or_default()
                .push(TimedPes { pts, dts, pes });
        }

        let mut built = Vec::new();
        for &(track_id, pid, stream_type) in &pids {
            let Some(pes) = per_pid.get(&pid) else {
                continue;
            };
            let state = self.streams.entry(pid).or_default();
            let track = match stream_type {
                StreamType::H264 | StreamType::H265 => {
                    video_track(state, pid, track_id, stream_type, pes, &mut stats)?
                }
                StreamType::AacAdts => audio_track(state, track_id, pes, &mut stats)?,
                StreamType::Other(_) => None,
            };
            if let Some(t) = track {
                built.push(t);
            }
        }
        if built.is_empty() {
            return Err(RepackageError::NoSamples);
        }
        built.sort_by_key(|t| match t.kind {
            TrackKind::Video => 0,
            TrackKind::Audio => 1,
        });

        let mut out = Repackaged {
            tracks: Vec::new(),
            fragments: Vec::new(),
            stats,
        };
        for (i, t) in built.into_iter().enumerate() {
            let bytes = fmp4::media_segment(
                &FragmentParams {
                    sequence,
                    track_id: t.info.track_id,
                    base_decode_time: t.base_decode_time,
                    samples: &t.samples,
                    composition_offsets: t.kind == TrackKind::Video,
                },
                &t.mdat,
            );
            out.fragments.push(TrackFragment {
                track: i,
                base_decode_time: t.base_decode_time,
                earliest_presentation_time: t.earliest_presentation_time,
                duration: t.samples.iter().map(|s| u64::from(s.duration)).sum(),
                samples: t.samples.len() as u32,
                starts_with_sync: t.samples.first().is_some_and(|s| s.flags == SAMPLE_SYNC),
                bytes: Bytes::from(bytes),
            });
            out.tracks.push(t.info);
        }
        Ok(out)
    }
}

/// A PES with its timestamps unwrapped.
struct TimedPes<'a> {
    pts: Option<u64>,
    dts: Option<u64>,
    pes: &'a Pes,
}

/// An access unit: PES packets from one with a PTS up to the next one with a PTS.
struct AccessUnit<'a> {
    dts: u64,
    pts: u64,
    parts: Vec<&'a [u8]>,
    damaged: bool,
}

fn video_track(
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

/// The cached [`TrackInfo`] when the decoder configuration is unchanged, else a new one.
fn cached_info(
    state: &mut StreamState,
    config: Vec<u8>,
    track_id: u32,
    make: impl FnOnce() -> TrackInfo,
) -> TrackInfo {
    if let Some((c, id, info)) = &state.cached {
        if *c == config && *id == track_id {
            return info.clone();
        }
    }
    let info = make();
    state.cached = Some((config, track_id, info.clone()));
    info
}

/// A 90 kHz time in another timescale, rounded to the nearest tick (saturating: hostile
/// timestamps can push the unwrapped clock far, never into an overflow).
fn to_timescale(t90k: u64, rate: u64) -> u64 {
    let v = (u128::from(t90k) * u128::from(rate) + 45_000) / 90_000;
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn audio_track(
    state: &mut StreamState,
    track_id: u32,
    pes: &[TimedPes<'_>],
    stats: &mut RepackageStats,
) -> Result<Option<TrackSamples>, RepackageError> {
    let mut config: Option<AdtsConfig> = None;
    let mut samples = Vec::new();
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
                    let mut t = match (off >= carried, pts) {
                        (true, Some(pts)) => to_timescale(pts, rate)
                            .saturating_add(pes_frames * u64::from(FRAME_SAMPLES)),
                        _ => next.unwrap_or(0),
                    };
                    if let Some(n) = next {
                        if t.abs_diff(n) <= half_frame {
                            t = n;
                        }
                    }
                    if off >= carried {
                        pes_frames += 1;
                    }
                    if f.config != c {
                        // A configuration change inside a segment: keep the first one.
                        stats.skipped_audio_bytes += f.frame_len as u64;
                    } else {
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
                    }
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
        })),
    });
    Ok(Some(TrackSamples {
        kind: TrackKind::Audio,
        samples,
        mdat,
        base_decode_time: base,
        earliest_presentation_time: base,
        info,
    }))
}

#[cfg(test)]
mod tests;
