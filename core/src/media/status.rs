//! The live state of a channel's media, as operators see it (`channel show`, `/metrics`).

use crate::channel::config::InputRole;
use crate::media::failover::Health;

/// Live state of a channel's media.
#[derive(Debug, Clone, Default)]
pub struct MediaStatus {
    /// The input on air, `None` before any delivered.
    pub active: Option<InputRole>,
    /// Primary then backup.
    pub inputs: [InputStatus; 2],
    /// Segments in the served window, all renditions.
    pub window_segments: u64,
    /// Media bytes held (distinct buffers: a segment in both the store and the window counts once).
    pub held_bytes: u64,
    /// Input switches since the channel media was created.
    pub failovers: u64,
    /// The active input ended the stream (`EXT-X-ENDLIST`) and every rendition played it out.
    pub ended: bool,
    /// Segments refused for being longer than the channel's maximum.
    pub refused_segments: u64,
    /// The inputs number the same moments alike: a switch now would be seamless.
    pub aligned: bool,
}

/// Live state of one input.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputStatus {
    /// Monotonic ms when it last pushed a segment.
    pub last_segment_mono_ms: Option<u64>,
    /// Segments (and init segments) pushed.
    pub segments: u64,
    /// Bytes of those.
    pub bytes: u64,
    /// Health as the failover policy sees it.
    pub health: Health,
    /// Good segments in a row (of its leader playlist).
    pub good_streak: u32,
}

impl InputStatus {
    /// Counts a segment or init segment of `bytes` pushed at `now_mono`.
    pub(crate) fn count_object(&mut self, bytes: usize, now_mono: u64) {
        self.segments = self.segments.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.last_segment_mono_ms = Some(now_mono);
    }
}
