//! The media state an owner shard keeps for one channel: HLS ([`ChannelMedia`]) or DASH
//! ([`DashMedia`]), by the channel's protocol (fixed at creation). Both take the same ingest
//! calls; each publishes its own snapshot type into its field of the channel's [`MediaSlot`].

use bytes::Bytes;
use streampack_core::channel::media::{
    ChannelMedia, IngestError, MediaEvent, MediaParams, PutOutcome,
};
use streampack_core::channel::{InputRole, Protocol};
use streampack_core::dash::DashMedia;
use streampack_core::time::Now;

use crate::registry::MediaSlot;

/// One channel's media, by protocol.
pub enum OwnedMedia {
    /// An HLS channel (boxed: the two states differ in size, and there is one per channel).
    Hls(Box<ChannelMedia>),
    /// A DASH channel.
    Dash(Box<DashMedia>),
}

impl OwnedMedia {
    /// Empty media for a channel of `protocol`.
    pub fn new(protocol: Protocol, params: MediaParams, now: Now) -> OwnedMedia {
        match protocol {
            Protocol::Hls => OwnedMedia::Hls(Box::new(ChannelMedia::new(params, now))),
            Protocol::Dash => OwnedMedia::Dash(Box::new(DashMedia::new(params, now))),
        }
    }

    /// Applies new channel settings.
    pub fn set_params(&mut self, params: MediaParams, now: Now) {
        match self {
            OwnedMedia::Hls(m) => m.set_params(params, now),
            OwnedMedia::Dash(m) => m.set_params(params, now),
        }
    }

    /// Stores a pushed object (playlist, MPD or segment).
    pub fn put(
        &mut self,
        input: InputRole,
        path: &str,
        body: Bytes,
        now: Now,
    ) -> Result<PutOutcome, IngestError> {
        match self {
            OwnedMedia::Hls(m) => m.put(input, path, body, now),
            OwnedMedia::Dash(m) => m.put(input, path, body, now),
        }
    }

    /// Deletes a pushed object; whether it existed.
    pub fn delete(&mut self, input: InputRole, path: &str, now: Now) -> bool {
        match self {
            OwnedMedia::Hls(m) => m.delete(input, path, now),
            OwnedMedia::Dash(m) => m.delete(input, path, now),
        }
    }

    /// Time-based work (pending segments, failover, eviction).
    pub fn tick(&mut self, now: Now) {
        match self {
            OwnedMedia::Hls(m) => m.tick(now),
            OwnedMedia::Dash(m) => m.tick(now),
        }
    }

    /// What happened to the inputs since the last call.
    pub fn drain_events(&mut self) -> Vec<MediaEvent> {
        match self {
            OwnedMedia::Hls(m) => m.drain_events(),
            OwnedMedia::Dash(m) => m.drain_events(),
        }
    }

    /// Changes whenever the output does.
    pub fn version(&self) -> u64 {
        match self {
            OwnedMedia::Hls(m) => m.version(),
            OwnedMedia::Dash(m) => m.version(),
        }
    }

    /// Publishes the current output into its field of `slot`.
    pub fn publish(&mut self, slot: &MediaSlot) {
        match self {
            OwnedMedia::Hls(m) => slot.hls.store(Some(m.snapshot())),
            OwnedMedia::Dash(m) => slot.dash.store(Some(m.snapshot())),
        }
    }
}
