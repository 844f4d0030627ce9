//! What the CMAF packager keeps per rendition between updates.

use super::text::TextState;
use super::window::{self, Packaged, PackagedTrack, TrackInits, SLOTS};
use super::Repackager;
use crate::media::object::SegmentEntry;
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

impl RenditionState {
    /// Counts a new fragment of track `slot` in its target duration and peak bit rate.
    pub(super) fn account(&mut self, slot: usize, t: &PackagedTrack) {
        let secs = window::ms(t.duration, t.timescale).saturating_add(500) / 1000;
        self.targets[slot] = self.targets[slot].max(secs).max(1);
        if t.duration > 0 {
            let bits = u128::from(t.object.body.len() as u64) * 8 * u128::from(t.timescale);
            let bps = u64::try_from(bits / u128::from(t.duration)).unwrap_or(u64::MAX);
            self.peak_bps[slot] = self.peak_bps[slot].max(bps);
        }
    }

    /// Drops the cached segments that left the window (`segments`) and the init versions no
    /// kept segment needs; how many segments went.
    pub(super) fn evict_outside(&mut self, segments: &[SegmentEntry]) -> usize {
        let before = self.cache.len();
        self.cache
            .retain(|seq, _| segments.binary_search_by_key(seq, |s| s.seq).is_ok());
        for (slot, inits) in self.inits.iter_mut().enumerate() {
            let cache = &self.cache;
            inits.versions.retain(|v| {
                cache
                    .values()
                    .flatten()
                    .any(|p| p.tracks[slot].as_ref().is_some_and(|t| t.init_k == v.k))
            });
        }
        before - self.cache.len()
    }
}
