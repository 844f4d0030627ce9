//! The repackager: one TS segment in, one CMAF fragment per track out, with the state that
//! must survive between segments (33-bit unwrap, parameter sets, expected decode times).
//!
//! Stages: [`crate::ts::Demuxer`] → PES with unwrapped timestamps ([`TimedPes`]) → samples per
//! track ([`video::video_track`], [`audio::audio_track`]) → [`crate::fmp4`] writers.

use std::collections::HashMap;

use bytes::Bytes;

use super::{RepackageError, Repackaged, TrackFragment, TrackInfo, TrackKind};
use crate::fmp4::{self, FragmentParams, Sample, SAMPLE_SYNC};
use crate::ts::{DemuxStats, Demuxer, Pes, Program, PtsUnwrapper, StreamType};

mod audio;
mod video;

/// Largest TS segment accepted (far above any real segment; keeps every box under 4 GiB).
pub const MAX_SEGMENT_BYTES: usize = 256 << 20;

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
pub(super) struct StreamState {
    /// Latest parameter sets (H.264: SPS, PPS; H.265: VPS, SPS, PPS).
    pub(super) vps: Vec<Vec<u8>>,
    pub(super) sps: Vec<Vec<u8>>,
    pub(super) pps: Vec<Vec<u8>>,
    /// The decoder configuration and track id the cached `info` was built from.
    pub(super) cached: Option<(Vec<u8>, u32, TrackInfo)>,
    /// Where the next sample's decode time is expected (track timescale).
    pub(super) next_decode: Option<u64>,
    pub(super) last_duration: Option<u32>,
}

/// A track's samples for one segment, before muxing.
pub(super) struct TrackSamples {
    pub(super) kind: TrackKind,
    pub(super) samples: Vec<Sample>,
    /// Samples' bytes back to back (mdat payload).
    pub(super) mdat: Vec<u8>,
    pub(super) base_decode_time: u64,
    pub(super) earliest_presentation_time: u64,
    pub(super) info: TrackInfo,
    /// Its samples carry CEA-608/708 captions (SEI).
    pub(super) captions: bool,
}

impl Repackager {
    /// A repackager for a new rendition: no timestamps or parameter sets seen yet.
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
        // The first program (in PAT order) with media we support in this segment; failing
        // that, the first that declares some (its error will say what is missing).
        let has_pes = |pid: u16| demuxed.pes.iter().any(|p| p.pid == pid);
        let supported = |p: &&Program| p.streams.iter().any(|s| s.stream_type.supported());
        let Some(program) = demuxed
            .programs
            .iter()
            .filter(supported)
            .find(|p| {
                p.streams
                    .iter()
                    .any(|s| s.stream_type.supported() && has_pes(s.pid))
            })
            .or_else(|| demuxed.programs.iter().find(supported))
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
                    video::video_track(state, pid, track_id, stream_type, pes, &mut stats)?
                }
                StreamType::AacAdts => audio::audio_track(state, track_id, pes, &mut stats)?,
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
            TrackKind::Text => 2,
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
                captions: t.captions,
                bytes: Bytes::from(bytes),
            });
            out.tracks.push(t.info);
        }
        Ok(out)
    }
}

/// A PES with its timestamps unwrapped.
pub(super) struct TimedPes<'a> {
    pub(super) pts: Option<u64>,
    pub(super) dts: Option<u64>,
    pub(super) pes: &'a Pes,
}

/// The cached [`TrackInfo`] when the decoder configuration is unchanged, else a new one.
pub(super) fn cached_info(
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

#[cfg(test)]
mod tests;
