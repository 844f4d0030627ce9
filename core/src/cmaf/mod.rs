//! TS → CMAF repackaging: an HLS input's MPEG-TS segments become CMAF tracks (one init segment
//! and one fragment per track and segment) that DASH and fMP4 HLS endpoints serve.
//!
//! The pipeline is typed stages (see `docs/cmaf.md`): [`crate::ts::Demuxer`] (packets → PES)
//! → access units and AAC frames with unwrapped timestamps → [`crate::fmp4`] writers. A
//! [`Repackager`] is kept per rendition so decode times continue across segments (and across
//! the 33-bit PTS wrap).
//!
//! The `cmaf` endpoints are built on top: [`packager::CmafPackager`] follows a channel's HLS
//! output, repackages each new segment once and publishes a [`output::CmafSnapshot`] (DASH MPD,
//! fMP4 HLS playlists, init and media segments).

mod assemble;
mod manifests;
pub mod output;
pub mod packager;
mod repackage;
mod state;
mod text;
mod window;

pub use repackage::{RepackageStats, Repackager, MAX_SEGMENT_BYTES};

use bytes::Bytes;

use crate::ts::EsError;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video,
    Audio,
    /// Subtitles (WebVTT).
    Text,
}

/// The codecs the repackager carries from TS into CMAF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    Aac,
    /// WebVTT cues in `wvtt` samples.
    WebVtt,
}

/// One CMAF track of a rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    pub track_id: u32,
    pub kind: TrackKind,
    pub codec: Codec,
    /// RFC 6381: "avc1.64001f", "hvc1.1.6.L93.B0", "mp4a.40.2".
    pub codecs: String,
    /// 90000 for video, the sample rate for audio.
    pub timescale: u32,
    /// Video picture size (0 for audio).
    pub width: u32,
    pub height: u32,
    /// Video frames per second as `(num, den)`, e.g. `(30000, 1001)`: from the H.264 SPS's
    /// VUI or the H.265 VPS's timing info when the stream signals it, else measured on the
    /// first segment's decode times and matched to a common rate. `None` for audio, or when
    /// unknown.
    pub frame_rate: Option<(u32, u32)>,
    /// Audio (0 for video).
    pub sample_rate: u32,
    pub channels: u16,
    /// `ftyp` + `moov` of this one track; byte-identical (the same `Bytes`, even) across
    /// segments while the stream's parameters do not change.
    pub init: Bytes,
}

/// One CMAF fragment (a whole CMAF segment: `styp` + `moof` + `mdat`) of one track.
#[derive(Debug, Clone)]
pub struct TrackFragment {
    /// Index into [`Repackaged::tracks`].
    pub track: usize,
    /// `tfdt`, in the track's timescale, 33-bit wraps unwrapped.
    pub base_decode_time: u64,
    /// The smallest presentation time of the fragment, track timescale (for MPD `S@t`).
    pub earliest_presentation_time: u64,
    /// Sum of the sample durations, track timescale.
    pub duration: u64,
    pub samples: u32,
    pub starts_with_sync: bool,
    /// Its samples carry CEA-608/708 captions in SEI messages (kept as they came).
    pub captions: bool,
    pub bytes: Bytes,
}

/// A TS segment repackaged: video tracks first, then audio; one fragment per track, in the
/// same order. A stream with no samples in this segment has no track here.
#[derive(Debug, Clone)]
pub struct Repackaged {
    pub tracks: Vec<TrackInfo>,
    pub fragments: Vec<TrackFragment>,
    /// Damage met on the way (none of it fatal): for logs and metrics.
    pub stats: RepackageStats,
}

/// Why a segment could not be repackaged. The message is fit for an operator's log.
#[derive(Debug, thiserror::Error)]
pub enum RepackageError {
    #[error("segment of {len} bytes exceeds the {max}-byte repackaging limit")]
    TooLarge { len: usize, max: usize },
    #[error("not an MPEG-TS segment: no 188-byte packets with sync byte 0x47")]
    NotTransportStream,
    #[error("no PAT/PMT in the segment: cannot tell which streams it carries")]
    NoProgram,
    #[error("no H.264, H.265 or AAC (ADTS) stream in the segment (stream types: {0})")]
    NoSupportedStreams(String),
    #[error("{codec} stream on PID {pid} has no parameter sets (SPS/PPS) in this segment or earlier ones")]
    MissingParameterSets { pid: u16, codec: &'static str },
    #[error("{codec} stream on PID {pid}: {source}")]
    BadStream {
        pid: u16,
        codec: &'static str,
        #[source]
        source: EsError,
    },
    #[error("no media samples in the segment")]
    NoSamples,
}
