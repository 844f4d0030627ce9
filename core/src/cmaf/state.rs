//! What the CMAF packager keeps per rendition between updates.

use super::text::TextState;
use super::window::{Packaged, TrackInits, SLOTS};
use super::Repackager;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Per-rendition state: the repackager, the cache, the init versions.
#[derive(Debug, Default)]
pub(super) struct RenditionState {
    pub(super) repackager: Repackager,
    /// Sequence number last fed to the repackager.
    pub(super) last_seq: Option<u64>,
    /// Repackaged segments by sequence number; `None`: failed (not retried).
    pub(super) cache: BTreeMap<u64, Option<Arc<Packaged>>>,
    pub(super) inits: [TrackInits; SLOTS],
    /// Per track slot, the largest segment duration ever served, rounded to whole seconds:
    /// `EXT-X-TARGETDURATION` must not shrink while the stream lives (RFC 8216 §6.2.1).
    pub(super) targets: [u64; SLOTS],
    /// Per track slot, the peak segment bit rate ever served (`BANDWIDTH`, DASH `@bandwidth`).
    /// Monotonic rather than the window's peak: a value that moves with the window makes
    /// renditions of similar rates trade places at every update, and dash.js then switches
    /// quality at every update (and stalls on it at the live edge).
    pub(super) peak_bps: [u64; SLOTS],
    /// A subtitles rendition's state.
    pub(super) text: TextState,
}
