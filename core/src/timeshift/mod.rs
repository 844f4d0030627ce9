//! Time-shift: a channel's media kept for its time-shift window, and manifests over any part
//! of it (startover, closed windows, a delayed live edge).
//!
//! The owner of a channel's media records what its outputs serve ([`Recorder`]: one
//! [`Record`] per new segment or init segment, with its bytes); the caller writes the bytes
//! to disk and then appends the record to the channel's index log ([`log`]), so the log only
//! ever names objects that can be read. The index in memory ([`ChannelArchive`]) is the same
//! log replayed, retention included ([`ChannelArchive::expiring_before`] for the window,
//! [`ChannelArchive::oldest`] for a disk cap). Pull requests read the query ([`query::parse`]
//! into a [`Window`]) and render the manifest from the archive alone
//! ([`manifest`], with what the outputs recorded of themselves: [`crate::media::Outline`]); segments keep their live URLs, and one that
//! left the live window is found in the archive by its path ([`ChannelArchive::find`]).

pub mod archive;
pub mod dash;
pub mod hls;
pub mod log;
pub mod query;
mod recorder;
mod render;

pub use archive::{ChannelArchive, Entry, Found, Track};
pub use log::{InitRec, Record, SegmentRecord, TrackKey};
pub use query::Window;
pub use recorder::Recorder;
pub use render::{manifest, with_markers};

/// A time-shifted manifest request, as outputs render it.
#[derive(Debug, Clone)]
pub struct ShiftRequest {
    /// What media it asks for.
    pub window: Window,
    /// The channel's live window, ms (the length of a delayed one).
    pub live_ms: u64,
    /// The channel's time-shift window, ms (DASH `timeShiftBufferDepth`).
    pub window_ms: u64,
    /// The wall clock, Unix ms.
    pub now_ms: u64,
}

impl ShiftRequest {
    /// The manifest ends (`EXT-X-ENDLIST`, a static MPD): a closed window whose end passed.
    pub fn ended(&self) -> bool {
        self.window.is_complete(self.now_ms)
    }

    /// The wall-clock span (Unix ms) whose media the request asks for.
    pub fn span_ms(&self) -> (u64, u64) {
        match self.window {
            Window::Startover { start_ms } => (start_ms, self.now_ms),
            Window::Closed { start_ms, end_ms } => (start_ms, end_ms),
            Window::Delayed { delay_ms } => {
                let edge = self.now_ms.saturating_sub(delay_ms);
                (edge.saturating_sub(self.live_ms), edge)
            }
        }
    }
}

/// What a time-shifted manifest request is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shifted {
    /// The manifest and its `Content-Type`.
    Manifest(String, &'static str),
    /// Not a manifest path, or a track the archive does not hold (404).
    NotFound,
    /// The archive holds nothing in the window asked for (404 with this reason).
    Empty,
}

#[cfg(test)]
mod tests;
