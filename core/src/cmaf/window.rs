//! The window model the CMAF packager keeps and its manifests read: each source segment's
//! repackaged tracks ([`Packaged`]), the init versions of each track ([`TrackInits`]), a
//! rendition's served window ([`RenditionView`]) and where a DASH Period sits ([`Anchor`]).

use super::output::{AUDIO_DIR, TEXT_DIR, VIDEO_DIR};
use super::{TrackInfo, TrackKind};
use crate::hls::media::snapshot::SubtitlesInfo;
use crate::media::{MediaObject, SegmentEntry};
use std::collections::VecDeque;
use std::sync::Arc;

/// Track slots of a rendition: video, audio, and text (a subtitles rendition has only text).
pub(crate) const TRACK_SLOTS: [(TrackKind, &str, &str); SLOTS] = [
    (TrackKind::Video, VIDEO_DIR, "video/mp4"),
    (TrackKind::Audio, AUDIO_DIR, "audio/mp4"),
    (TrackKind::Text, TEXT_DIR, "application/mp4"),
];
pub(crate) const SLOTS: usize = 3;
pub(crate) const VIDEO: usize = 0;
pub(crate) const AUDIO: usize = 1;
pub(crate) const TEXT: usize = 2;

/// One track of one repackaged source segment.
#[derive(Debug, Clone)]
pub(crate) struct PackagedTrack {
    /// Init segment version (`init<k>.mp4`).
    pub init_k: u64,
    /// Track timescale.
    pub timescale: u32,
    /// Earliest presentation time, track timescale.
    pub ept: u64,
    /// Duration, track timescale.
    pub duration: u64,
    /// `styp`+`moof`+`mdat`.
    pub object: Arc<MediaObject>,
    /// Its samples carry CEA-608/708 captions.
    pub captions: bool,
}

/// A repackaged source segment: its tracks by [`TRACK_SLOTS`] index.
#[derive(Debug)]
pub(crate) struct Packaged {
    pub tracks: [Option<PackagedTrack>; SLOTS],
}

/// One version of a track's init segment.
#[derive(Debug)]
pub(crate) struct InitVersion {
    pub k: u64,
    pub info: TrackInfo,
    pub object: Arc<MediaObject>,
}

/// A track's init segments still referenced.
#[derive(Debug, Default)]
pub(crate) struct TrackInits {
    pub versions: VecDeque<InitVersion>,
    next_k: u64,
}

impl TrackInits {
    pub(crate) fn k_for(&mut self, info: &TrackInfo, object: impl FnOnce() -> MediaObject) -> u64 {
        if let Some(v) = self
            .versions
            .iter()
            .rev()
            .find(|v| v.info.init == info.init)
        {
            return v.k;
        }
        let k = self.next_k;
        self.next_k = self.next_k.saturating_add(1);
        self.versions.push_back(InitVersion {
            k,
            info: info.clone(),
            object: Arc::new(object()),
        });
        k
    }

    pub(crate) fn get(&self, k: u64) -> Option<&InitVersion> {
        self.versions.iter().find(|v| v.k == k)
    }
}

/// One served segment of a rendition.
#[derive(Debug)]
pub(crate) struct KeptSeg<'a> {
    pub seq: u64,
    /// Discontinuity sequence number (RFC 8216 §6.2.2) of the segment.
    pub dsn: u64,
    /// An `EXT-X-DISCONTINUITY` precedes it.
    pub discontinuity: bool,
    pub source: &'a SegmentEntry,
    pub packaged: &'a Packaged,
}

/// A rendition's served window.
#[derive(Debug)]
pub(crate) struct RenditionView<'a> {
    pub name: &'a str,
    /// Gapless, increasing `seq`; never empty.
    pub segs: Vec<KeptSeg<'a>>,
    pub ended: bool,
    pub inits: &'a [TrackInits; SLOTS],
    /// `EXT-X-TARGETDURATION` per track slot (never shrinks).
    pub targets: [u64; SLOTS],
    /// A subtitles rendition: its attributes.
    pub subtitles: Option<&'a SubtitlesInfo>,
    /// Peak segment bit rate per track slot since the stream started (never shrinks).
    pub peak_bps: [u64; SLOTS],
}

/// Where a DASH Period sits (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// `Period@start`, ms after `availabilityStartTime`.
    pub start_ms: u64,
    /// Media time of the Period's start in `ref_timescale`.
    pub ref_ticks: u64,
    pub ref_timescale: u32,
    /// Track slot the reference comes from.
    pub ref_slot: usize,
    /// End of its newest segment, ms after `availabilityStartTime`.
    pub end_ms: u64,
}

impl Anchor {
    /// `presentationTimeOffset` in a track of `timescale`.
    pub(crate) fn pto(&self, timescale: u32) -> u64 {
        rescale(self.ref_ticks, self.ref_timescale, timescale)
    }
}

pub(crate) use crate::time::rescale;

/// Ticks of `timescale` in milliseconds, rounded.
pub(crate) fn ms(ticks: u64, timescale: u32) -> u64 {
    let ts = u128::from(timescale.max(1));
    let v = (u128::from(ticks) * 1000 + ts / 2) / ts;
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl RenditionView<'_> {
    /// Whether its video (slot 0) carries CEA-608/708 captions (in a segment of the window).
    pub fn captions(&self) -> bool {
        self.track(VIDEO).any(|(_, t)| t.captions)
    }

    /// The segments carrying track `slot`: those after the last one that lacks it.
    pub(crate) fn track(
        &self,
        slot: usize,
    ) -> impl Iterator<Item = (&KeptSeg<'_>, &PackagedTrack)> {
        let start = self
            .segs
            .iter()
            .rposition(|s| s.packaged.tracks[slot].is_none())
            .map_or(0, |i| i + 1);
        self.segs[start..]
            .iter()
            .filter_map(move |s| s.packaged.tracks[slot].as_ref().map(|t| (s, t)))
    }

    pub(crate) fn has(&self, slot: usize) -> bool {
        self.track(slot).next().is_some()
    }

    /// Peak bit rate of track `slot` (at least 1).
    pub(crate) fn peak_bps(&self, slot: usize) -> u64 {
        self.peak_bps[slot].max(1)
    }

    /// Track info of the newest init of `slot`.
    pub(crate) fn info(&self, slot: usize) -> Option<&TrackInfo> {
        let (_, t) = self.track(slot).last()?;
        self.inits[slot].get(t.init_k).map(|v| &v.info)
    }
}
