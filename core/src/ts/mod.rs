//! MPEG-2 transport streams as HLS encoders push them: packets and PSI ([`packet`], [`psi`]),
//! PES reassembly ([`demux`]), the elementary streams inside ([`h264`], [`h265`], [`adts`])
//! and 33-bit timestamps ([`time`]).
//!
//! Everything is bytes in, plain data out: [`demux::Demuxer`] takes a segment's bytes and hands
//! back whole PES packets per elementary stream; the codec modules turn those into access units
//! and decoder configurations. [`crate::cmaf`] drives the pipeline.

pub mod adts;
pub(crate) mod bits;
pub mod demux;
pub mod h264;
pub mod h265;
pub mod packet;
pub mod psi;
pub mod time;

pub use demux::{DemuxStats, Demuxed, Demuxer, Pes};
pub use psi::{ElementaryStream, Program, StreamType};
pub use time::{PtsUnwrapper, PTS_MODULUS};

/// Size of one transport stream packet.
pub const PACKET_SIZE: usize = 188;
/// The first byte of every packet.
pub const SYNC_BYTE: u8 = 0x47;

/// Why an elementary stream's parameters could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EsError {
    /// A bitstream ended before a field it must contain.
    #[error("{0} is truncated")]
    Truncated(&'static str),
    /// A field has a value the format does not allow (or streampack does not support).
    #[error("{what}: {why}")]
    Invalid { what: &'static str, why: String },
}
