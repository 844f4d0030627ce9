//! What ingest on any core hands a channel's owner shard, and the owner's answer.

use streampack_core::channel::InputRole;
use streampack_core::id::Id;
use streampack_core::media::{IngestError, PutOutcome};

/// A message to an owner shard.
pub enum ShardMsg {
    /// Store or delete an object of a channel's input.
    Ingest(IngestOp),
    /// A whole chunk of a segment still being uploaded (low latency).
    Chunk(ChunkOp),
    /// A chunked upload broke off before its end.
    Abort(ChunkOp),
    /// The operator's splice (`channel splice`).
    Splice(SpliceOp),
}

/// The operator's splice, handed to the channel's owner.
pub struct SpliceOp {
    /// Channel.
    pub channel: Id,
    /// What to insert.
    pub request: streampack_core::ad_markers::SpliceRequest,
    /// Where the outcome goes.
    pub reply: flume::Sender<SpliceReply>,
}

/// The marker inserted, or why not.
pub type SpliceReply = Result<streampack_core::ad_markers::AdMarker, String>;

/// A chunk of an upload under way, or (no bytes) its breaking off.
pub struct ChunkOp {
    /// Channel.
    pub channel: Id,
    /// Input the encoder pushes to.
    pub input: InputRole,
    /// Safe relative path under the input.
    pub path: String,
    /// The chunk, with its upload and offset (no bytes for [`ShardMsg::Abort`]).
    pub chunk: streampack_core::media::growing::ChunkIn,
}

/// One ingest request, handed to the channel's owner.
pub struct IngestOp {
    /// Channel.
    pub channel: Id,
    /// Input the encoder pushed to.
    pub input: InputRole,
    /// Safe relative path under the input.
    pub path: String,
    /// Body to store, or `None` to delete.
    pub body: Option<streampack_core::media::Body>,
    /// Where the outcome goes.
    pub reply: flume::Sender<IngestReply>,
}

/// What the owner did with an [`IngestOp`].
pub enum IngestDone {
    /// Stored; warnings to log.
    Stored(PutOutcome),
    /// Deleted (whether it existed).
    Deleted(bool),
}

/// The owner's answer.
pub type IngestReply = Result<IngestDone, IngestError>;
