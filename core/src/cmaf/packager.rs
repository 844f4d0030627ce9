//! The CMAF endpoint's packager: follows a channel's [`HlsSnapshot`]s, repackages each new
//! MPEG-TS segment exactly once (one [`Repackager`] per rendition), caches the fragments with
//! their source segment (freed when it leaves the window) and builds a [`CmafSnapshot`]: DASH
//! MPD, fMP4 HLS playlists, init and media segments. Sans-io: `now` is passed in.
//!
//! # Policies
//! - Numbering: a fragment keeps the HLS endpoint's sequence number of its source segment, so
//!   the fMP4 HLS playlists number exactly like the HLS endpoint's (`EXT-X-MEDIA-SEQUENCE`);
//!   URLs and DASH `$Number$` carry its low 31 bits ([`super::output::url_number`]).
//! - A segment that fails to repackage is skipped with a warning and counted; the track's
//!   window then starts after it (playlists and timelines stay gapless, the live edge plays on).
//! - Discontinuities of the HLS output become `EXT-X-DISCONTINUITY` in the fMP4 playlists and a
//!   new DASH Period (id `p<discontinuity sequence>`); the repackager restarts there.
//! - Init segments are versioned per track (`init<k>.mp4`, a new `k` when the bytes change).
//!   HLS follows each change with `EXT-X-MAP`; a DASH Representation names one init per
//!   Period (its newest), so parameters that change without a discontinuity (which encoders
//!   do not do) reach DASH players only at the next Period.
//! - Timing of the DASH Periods: see the `manifests` module; audio is the first rendition's.
//! - fMP4 HLS input is not repackaged: renditions whose segments are not `.ts` are left out,
//!   and a channel with no TS rendition gets [`CmafSnapshot::refused`] (an `hls` endpoint
//!   serves fMP4 input as it is).

use super::assemble::{build, views, Out};
use super::manifests;
use super::output::{CmafSnapshot, PackagerStats};
use super::state::RenditionState;
use super::text::{self, Clock, TextSegment};
use super::window::{Anchor, Packaged, PackagedTrack, SLOTS, TEXT, TRACK_SLOTS};
use super::Repackager;
use crate::hls::media::snapshot::{HlsSnapshot, RenditionSnapshot};
use crate::media::object::{EtagGen, MediaObject, Rendered};
use crate::time::Now;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Follows one channel's HLS output and builds its CMAF output. Owned by the channel's owner
/// shard, like [`crate::hls::media::HlsMedia`].
#[derive(Debug)]
pub struct CmafPackager {
    renditions: HashMap<String, RenditionState>,
    /// DASH Periods by discontinuity sequence number.
    periods: BTreeMap<u64, Anchor>,
    availability_start_unix_ms: Option<u64>,
    etags: EtagGen,
    current: Option<Arc<CmafSnapshot>>,
    /// Previous renders by path, reused while their text is unchanged (stable etags).
    rendered: HashMap<String, Rendered>,
    stats: PackagerStats,
    warnings: Vec<String>,
}

impl CmafPackager {
    /// A packager for a channel, created at `now`.
    pub fn new(now: Now) -> CmafPackager {
        CmafPackager {
            renditions: HashMap::new(),
            periods: BTreeMap::new(),
            availability_start_unix_ms: None,
            etags: EtagGen::new("c", now),
            current: None,
            rendered: HashMap::new(),
            stats: PackagerStats::default(),
            warnings: Vec::new(),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> PackagerStats {
        self.stats
    }

    /// Why the last output built serves nothing although the input delivered (fMP4 input).
    pub fn refused(&self) -> Option<&str> {
        self.current.as_ref().and_then(|c| c.refused.as_deref())
    }

    /// Warnings since the last call (segments that failed to repackage), for the log.
    pub fn drain_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The CMAF output for `hls`: repackages its new segments, drops what left its window and
    /// renders the manifests. Returns the previous snapshot when `hls` has the same output
    /// (only its status moved since).
    pub fn update(&mut self, hls: &HlsSnapshot, now: Now) -> Arc<CmafSnapshot> {
        if let Some(cur) = self
            .current
            .as_ref()
            .filter(|c| c.version == hls.output_version)
        {
            return Arc::clone(cur);
        }
        let mut refused = None;
        let mut any_ts = false;
        for r in hls.renditions.iter().filter(|r| r.subtitles.is_none()) {
            if r.segments.iter().any(|s| s.ext != "ts") {
                refused = Some(format!(
                    "cmaf endpoints repackage MPEG-TS input; rendition {:?} of this channel is \
                     fMP4 HLS (serve it with an hls endpoint)",
                    r.name
                ));
                continue;
            }
            any_ts = true;
            self.ingest_rendition(r, now);
        }
        // Subtitles go on the media timeline of the first rendition packaged.
        let subtitles: Vec<&RenditionSnapshot> = hls
            .renditions
            .iter()
            .filter(|r| r.subtitles.is_some())
            .collect();
        if !subtitles.is_empty() {
            let clock = hls
                .renditions
                .iter()
                .filter(|r| r.subtitles.is_none())
                .find_map(|r| {
                    let st = self.renditions.get(&r.name)?;
                    let packaged = r.segments.iter().filter_map(|s| {
                        let p = st.cache.get(&s.seq)?.as_ref()?;
                        Some((s, &**p))
                    });
                    Some(Clock::of(packaged))
                })
                .unwrap_or_default();
            for r in subtitles {
                self.ingest_subtitles(r, &clock);
            }
        }
        self.renditions
            .retain(|name, _| hls.renditions.iter().any(|r| &r.name == name));
        let views = views(&self.renditions, hls);
        manifests::anchor_periods(
            &views,
            &mut self.periods,
            &mut self.availability_start_unix_ms,
        );
        let mut out = Out {
            etags: &mut self.etags,
            previous: &self.rendered,
            rendered: HashMap::with_capacity(self.rendered.len()),
            unix_ms: 0,
        };
        let snap = build(
            hls,
            &views,
            &self.periods,
            self.availability_start_unix_ms.unwrap_or(0),
            &mut out,
            if any_ts { None } else { refused },
            self.stats,
        );
        self.rendered = out.rendered;
        let mut snap = snap;
        snap.mpd_clock = manifests::mpd_clock(
            &views,
            &self.periods,
            self.availability_start_unix_ms.unwrap_or(0),
        );
        let snap = Arc::new(snap);
        self.current = Some(Arc::clone(&snap));
        snap
    }

    /// Repackages the rendition's segments not seen yet; evicts those that left its window.
    fn ingest_rendition(&mut self, r: &RenditionSnapshot, now: Now) {
        let st = self.renditions.entry(r.name.clone()).or_default();
        for seg in &r.segments {
            if st.cache.contains_key(&seg.seq) {
                self.stats.cache_hits = self.stats.cache_hits.saturating_add(1);
                continue;
            }
            if st.last_seq.is_some_and(|l| l >= seg.seq) {
                // Older than what the repackager has seen (cannot happen with the HLS output's
                // monotonic numbering): not worth breaking its timestamp state for.
                continue;
            }
            let continues = st
                .last_seq
                .is_some_and(|l| l.checked_add(1) == Some(seg.seq));
            if !continues || r.discontinuities.binary_search(&seg.seq).is_ok() {
                st.repackager = Repackager::new();
            }
            st.last_seq = Some(seg.seq);
            // mfhd numbers only need to increase; the low 31 bits of ours do.
            let mfhd = u32::try_from(super::output::url_number(seg.seq)).unwrap_or(0);
            let out = match st.repackager.repackage(&seg.object.body, mfhd) {
                Ok(out) => out,
                Err(e) => {
                    self.stats.failed = self.stats.failed.saturating_add(1);
                    self.warnings.push(format!(
                        "cmaf: segment {}/{}.ts not repackaged (skipped): {e}",
                        r.name, seg.seq
                    ));
                    st.cache.insert(seg.seq, None);
                    continue;
                }
            };
            self.stats.repackaged = self.stats.repackaged.saturating_add(1);
            let mut tracks: [Option<PackagedTrack>; SLOTS] = Default::default();
            for (slot, (kind, _, content_type)) in TRACK_SLOTS[..TEXT].iter().enumerate() {
                let Some((ti, info)) = out.tracks.iter().enumerate().find(|(_, t)| t.kind == *kind)
                else {
                    continue;
                };
                let Some(frag) = out.fragments.iter().find(|f| f.track == ti) else {
                    continue;
                };
                let unix_ms = seg.object.last_modified_unix_ms.max(now.unix_ms);
                let etags = &mut self.etags;
                let init_k = st.inits[slot].k_for(info, || {
                    MediaObject::new(
                        info.init.clone().into(),
                        content_type,
                        etags.next(),
                        unix_ms,
                    )
                });
                let track = PackagedTrack {
                    captions: frag.captions,
                    init_k,
                    timescale: info.timescale,
                    ept: frag.earliest_presentation_time,
                    duration: frag.duration,
                    object: Arc::new(MediaObject::new(
                        frag.bytes.clone().into(),
                        content_type,
                        self.etags.next(),
                        seg.object.last_modified_unix_ms,
                    )),
                };
                st.account(slot, &track);
                tracks[slot] = Some(track);
            }
            st.cache
                .insert(seg.seq, Some(Arc::new(Packaged { tracks })));
        }
        let evicted = st.evict_outside(&r.segments) as u64;
        self.stats.evicted = self.stats.evicted.saturating_add(evicted);
    }
}

impl CmafPackager {
    /// Packages the subtitles rendition's WebVTT segments not seen yet (those that cannot be
    /// placed yet are tried again at the next update); evicts those that left its window.
    fn ingest_subtitles(&mut self, r: &RenditionSnapshot, clock: &Clock) {
        let st = self.renditions.entry(r.name.clone()).or_default();
        let language =
            text::mdhd_language(r.subtitles.as_ref().and_then(|s| s.language.as_deref()));
        for seg in &r.segments {
            if st.cache.contains_key(&seg.seq) {
                continue;
            }
            let t = TextSegment {
                seg,
                discontinuity: r.discontinuities.binary_search(&seg.seq).is_ok(),
                language,
            };
            let packaged = text::package(
                &mut st.text,
                &mut st.inits[TEXT],
                &t,
                clock,
                &mut self.etags,
            );
            let Some((track, warning)) = packaged else {
                break;
            };
            if let Some(e) = warning {
                self.stats.failed = self.stats.failed.saturating_add(1);
                self.warnings.push(format!(
                    "cmaf: subtitles segment {}/{}.{} has no cues the origin can read ({e}): served empty",
                    r.name, seg.seq, seg.ext
                ));
            }
            self.stats.repackaged = self.stats.repackaged.saturating_add(1);
            st.account(TEXT, &track);
            st.cache
                .insert(seg.seq, Some(Arc::new(text::packaged(track))));
        }
        st.evict_outside(&r.segments);
    }
}

#[cfg(test)]
#[path = "packager_tests.rs"]
mod tests;
