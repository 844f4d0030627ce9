//! Fragmented MP4 as CMAF uses it: a box writer that patches sizes ([`writer`]), a box reader
//! for checking what was written ([`reader`]), init segments ([`init`]) and media segments
//! ([`fragment`]), and the chunks of a segment still arriving ([`chunks`]).
//!
//! Written by hand because the `mp4` crate cannot write fragmented MP4 (see docs/testing.md).

pub mod chunks;
pub(crate) mod fields;
pub mod fragment;
pub mod init;
pub mod reader;
pub mod writer;

pub use fragment::{media_segment, FragmentParams, Sample, SAMPLE_NON_SYNC, SAMPLE_SYNC};
pub use init::{init_segment, InitParams, SampleEntry};
pub use reader::{parse_boxes, top_level, BoxError, BoxNode};
pub use writer::BoxWriter;

/// A box type (four ASCII characters).
pub type FourCc = [u8; 4];
