//! TEMPORARY STUB of apis.md section 3 (not committed): replaced by cmaf-core's mod.rs.
#![allow(missing_docs, dead_code)]
use bytes::Bytes;
pub mod manifests;
pub mod output;
pub mod packager;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video,
    Audio,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    Aac,
}
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    pub track_id: u32,
    pub kind: TrackKind,
    pub codec: Codec,
    pub codecs: String,
    pub timescale: u32,
    pub width: u32,
    pub height: u32,
    pub sample_rate: u32,
    pub channels: u16,
    pub init: Bytes,
}
#[derive(Debug, Clone)]
pub struct TrackFragment {
    pub track: usize,
    pub base_decode_time: u64,
    pub earliest_presentation_time: u64,
    pub duration: u64,
    pub samples: u32,
    pub starts_with_sync: bool,
    pub bytes: Bytes,
}
#[derive(Debug, Clone)]
pub struct Repackaged {
    pub tracks: Vec<TrackInfo>,
    pub fragments: Vec<TrackFragment>,
}
#[derive(Debug, thiserror::Error)]
pub enum RepackageError {
    #[error("bad ts")]
    Bad,
}
#[derive(Debug, Default)]
pub struct Repackager {}
impl Repackager {
    pub fn new() -> Repackager {
        Repackager {}
    }
    pub fn repackage(&mut self, _ts: &[u8], _sequence: u32) -> Result<Repackaged, RepackageError> {
        Err(RepackageError::Bad)
    }
}
