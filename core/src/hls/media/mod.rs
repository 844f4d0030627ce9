//! An HLS channel's live media: what its two inputs pushed (`store`), the output timeline of
//! each rendition (`timeline`), and the immutable snapshots pull requests read ([`snapshot`]).
//!
//! [`HlsMedia`] is owned by one thread (the channel's owner shard); it is sans-io: callers
//! pass the bytes in and the clock reading `now`.
//!
//! # Failover (see [`crate::media::failover`], [`leader`] and `docs/failover.md`)
//! - The active input is the first input that has a playlist listing a segment it received
//!   (primary wins a tie).
//! - When the active input delivers nothing for [`FailoverPolicy::timeout_ms`] (or ends its
//!   stream with `EXT-X-ENDLIST`) and the other is healthy (and not ended), the output switches
//!   to it; it goes back to the preferred input only as
//!   [`Revert`] says, after a run of good segments that doubles each time the preferred input
//!   fails again (no flapping). Both down: the output holds (the playlist stops growing).
//! - Aligned inputs switch seamlessly: the output keeps its numbering (`delta`) and its
//!   cursors and goes on with the other input's next segment, no discontinuity. Unaligned
//!   inputs switch behind an `EXT-X-DISCONTINUITY`, at the other input's newest segment.
//! - Only the active input's playlists drive the output. The other input's media is stored and
//!   indexed, bounded the same way, so a switch can take its next segment at once.
//! - What happened (inputs up/down/restarted, switches with their reason) is queued as
//!   [`MediaEvent`]s for the caller ([`Media::drain_events`]).
//!
//! # Sequence numbers
//! Output sequence numbers are the origin's own. The first is seeded from `now.unix_ms / 100`
//! (segments never arrive faster than 10 per second in real time, so a restarted daemon starts
//! above every number it served before). An input's renditions share one delta
//! (`out = in + delta`) chosen when the input goes on air, when its encoder restarts (media
//! sequence going backwards, a different URI at a sequence number already given, a live
//! playlist after `EXT-X-ENDLIST`) and at a failover; numbering stays gapless per rendition
//! (see the `timeline` module).
//!
//! # Output URLs
//! `<manifest>` (the master playlist, or the single rendition's media playlist),
//! `R/index.m3u8`, `R/<seq>.<ext>`, `R/init<k>.<ext>`: relative, so one render serves every
//! endpoint of the channel, and never an encoder's file name.

mod leader;
mod markers;
mod publish;
mod renditions;
pub mod snapshot;
mod store;
mod timeline;

pub use snapshot::{HlsSnapshot, RenditionSnapshot};

use crate::ad_markers::AdMarkers;
use crate::channel::config::InputRole;
use crate::cmaf::packager::CmafPackager;
use crate::hls::{classify, parse_playlist, ObjectKind, PlaylistIn};
use crate::media::failover::{self, InputReadiness, Tracker};
use crate::media::object::EtagGen;
use crate::media::versions::Versions;
use crate::media::Body;
use crate::media::{
    IngestError, Media, MediaEvent, MediaParams, Published, PutOutcome, StartAt,
    OVERLONG_TOLERANCE_MS,
};
use crate::time::Now;
use std::sync::Arc;
use store::InputStore;
use timeline::{AdvanceCtx, Rendition};

/// An HLS channel's media state. See the module docs for the policies.
#[derive(Debug)]
pub struct HlsMedia {
    params: MediaParams,
    inputs: [InputStore; 2],
    active: Option<InputRole>,
    delta: Option<i128>,
    start_in: Option<u64>,
    start_at: StartAt,
    next_free_out: u64,
    renditions: Vec<Rendition>,
    /// Once a master was served, `main` stays a master (players cached it as one).
    master_mode: bool,
    failovers: u64,
    /// Input health, alignment evidence, undrained events.
    tracker: Tracker,
    refused: u64,
    /// Change counters (what the next snapshot must render).
    versions: Versions,
    etag: EtagGen,
    cache: Option<Arc<HlsSnapshot>>,
    /// Previous renders, reused while their text is unchanged (stable etags).
    rendered: publish::RenderCache,
    /// The latest `now` seen (`Last-Modified` of renders).
    last_now: Now,
    /// The repackager of `cmaf` endpoints, while the channel has one.
    cmaf: Option<CmafPackager>,
    /// The last view published.
    published: Option<Arc<Published>>,
    /// Ad markers in the window.
    markers: AdMarkers,
    /// The first PTS of the encoder's stream ([`crate::hls::webvtt`]), and since when
    /// subtitles wait for it.
    stream_origin_pts: Option<u64>,
    subtitles_held_since: Option<u64>,
}

impl HlsMedia {
    /// Empty media for a channel created (or restored) at `now`.
    pub fn new(params: MediaParams, now: Now) -> HlsMedia {
        HlsMedia {
            params,
            inputs: [InputStore::default(), InputStore::default()],
            active: None,
            delta: None,
            start_in: None,
            start_at: StartAt::First,
            next_free_out: now.unix_ms / 100,
            renditions: Vec::new(),
            master_mode: false,
            failovers: 0,
            tracker: Tracker::default(),
            refused: 0,
            versions: Versions::new(),
            etag: EtagGen::new("", now),
            cache: None,
            rendered: publish::RenderCache::default(),
            last_now: now,
            cmaf: None,
            published: None,
            markers: AdMarkers::default(),
            stream_origin_pts: None,
            subtitles_held_since: None,
        }
    }

    /// The current HLS output: rebuilt once per change (only the status when only the status
    /// changed), otherwise a cheap `Arc` clone.
    pub fn snapshot(&mut self) -> Arc<HlsSnapshot> {
        if let Some(s) = self
            .cache
            .as_ref()
            .filter(|s| s.version == self.versions.current)
        {
            return s.clone();
        }
        let reuse = self.versions.renders_reusable();
        let snap = match self.cache.take() {
            Some(prev) if reuse => Arc::new(publish::refresh_status(self, &prev)),
            _ => Arc::new(publish::build(self)),
        };
        self.cache = Some(snap.clone());
        snap
    }

    /// A new delta will be chosen: every rendition starts again behind a discontinuity.
    fn reset(&mut self, start_at: StartAt) {
        self.stream_origin_pts = None;
        self.delta = None;
        self.start_in = None;
        self.start_at = start_at;
        for r in &mut self.renditions {
            r.reset();
        }
    }

    /// Decides the active input, advances every rendition, applies the bounds. Returns whether
    /// anything changed.
    fn process(&mut self, now: Now, warnings: &mut Vec<String>) -> bool {
        let mut changed = self.choose_active(now);
        let mut cues = Vec::new();
        if let Some(active) = self.active {
            let store = &self.inputs[active.index()];
            changed |= renditions::sync(&mut self.renditions, &mut self.master_mode, store);
            let store = &self.inputs[active.index()];
            // Ad markers (and the stream's first PTS) come from the first variant's playlist
            // (the master lists alternative renditions, subtitles among them, first); it
            // advances first, so subtitles published with it know where the stream began.
            let lead = self.lead();
            // Then the other renditions with media, subtitles last.
            let subtitles = |r: &Rendition| {
                store
                    .current_media(&r.source)
                    .and_then(|pl| pl.segments.first())
                    .is_some_and(|s| {
                        let uri = s.uri.to_ascii_lowercase();
                        uri.ends_with(".vtt") || uri.ends_with(".webvtt")
                    })
            };
            let mut order: Vec<usize> = (0..self.renditions.len()).collect();
            order.sort_by_key(|&i| (Some(i) != lead, subtitles(&self.renditions[i])));
            // Subtitles wait for the stream's first frame while the lead's first segment (media
            // sequence 0) is still to come, for at most a segment's time: their
            // X-TIMESTAMP-MAP needs it.
            let origin_due = self.stream_origin_pts.is_none()
                && lead
                    .map(|l| store.current_media(&self.renditions[l].source))
                    .is_some_and(|pl| pl.is_none_or(|pl| pl.media_sequence == 0));
            let since = *self.subtitles_held_since.get_or_insert(now.mono_ms);
            let hold = origin_due && now.mono_ms.saturating_sub(since) < self.params.max_segment_ms;
            if !origin_due {
                self.subtitles_held_since = None;
            }
            let mut ctx = AdvanceCtx {
                store,
                now,
                max_segment_ms: self.params.max_segment_ms,
                delta: &mut self.delta,
                start_in: &mut self.start_in,
                start_at: self.start_at,
                next_free_out: &mut self.next_free_out,
                etag: &mut self.etag,
                warnings,
                refused: &mut self.refused,
                collect_cues: false,
                cues: &mut cues,
                stream_origin_pts: &mut self.stream_origin_pts,
            };
            for i in order {
                let r = &mut self.renditions[i];
                if !r.listed {
                    continue;
                }
                ctx.collect_cues = Some(i) == lead;
                if hold && ctx.stream_origin_pts.is_none() && subtitles(r) {
                    continue;
                }
                if let Some(pl) = store.current_media(&r.source) {
                    changed |= r.advance(pl, &mut ctx);
                }
                changed |= r.trim(self.params.window_ms);
            }
            changed |= self.take_cues(cues, warnings);
        }
        let window_start = self
            .lead_with_media()
            .and_then(|r| r.segments.front())
            .map(|s| s.entry.start_unix_ms);
        if let Some(start) = window_start {
            changed |= self.markers.evict_before(start);
        }
        for s in &mut self.inputs {
            changed |= s.gc(now.mono_ms, self.params.window_ms);
        }
        changed
    }

    fn choose_active(&mut self, now: Now) -> bool {
        let policy = self.params.failover;
        let max_ok = self
            .params
            .max_segment_ms
            .saturating_add(OVERLONG_TOLERANCE_MS);
        let before = self.health();
        self.tracker.age(
            now.mono_ms,
            policy.timeout_ms(self.params.max_segment_ms),
            self.params.window_ms,
        );
        leader::observe(&mut self.tracker, &self.inputs, now.mono_ms, max_ok);
        // Health shows in the status: a change is a change of the output.
        let health_changed = before != self.health();
        let inputs = self.inputs.each_ref().map(|s| {
            let ended = leader::ended(s);
            InputReadiness {
                can_start: s.has_publishable(),
                can_take_over: s.has_publishable(),
                ended,
            }
        });
        let (renditions, stores) = (&self.renditions, &self.inputs);
        let decision = failover::decide(
            &mut self.tracker,
            &policy,
            self.active,
            now.mono_ms,
            inputs,
            |t, a| aligned(t, stores, renditions, a),
        );
        match decision {
            Some(sw) => {
                self.switch(sw);
                true
            }
            None => health_changed,
        }
    }

    fn health(&self) -> [(crate::media::Health, u32); 2] {
        let p = &self.params.failover;
        InputRole::ALL.map(|r| {
            (
                self.tracker.health(r, p),
                self.tracker.inputs[r.index()].streak,
            )
        })
    }

    /// Puts the switch's input on air. Aligned: numbering and cursors carry on; else a new
    /// delta behind a discontinuity, from the new input's newest segment.
    fn switch(&mut self, sw: failover::Switch) {
        self.active = Some(sw.to);
        if sw.from.is_some() {
            self.failovers = self.failovers.saturating_add(1);
            if !sw.aligned {
                self.reset(StartAt::Last);
            }
        } else {
            self.reset(StartAt::First);
        }
        let policy = self.params.failover;
        self.tracker.switched(sw.from, &policy);
        self.tracker.push(MediaEvent::Switched {
            from: sw.from,
            to: sw.to,
            reason: sw.reason,
            aligned: sw.aligned,
        });
    }
}

/// Whether the active input `a` and the other one are aligned on the renditions the output
/// serves (see [`leader::aligned`]).
fn aligned(
    tracker: &Tracker,
    stores: &[InputStore; 2],
    renditions: &[Rendition],
    a: InputRole,
) -> bool {
    let sources: Vec<&str> = renditions
        .iter()
        .filter(|r| r.listed)
        .map(|r| r.source.as_str())
        .collect();
    leader::aligned(&tracker.inputs, stores, a, &sources)
}

impl Media for HlsMedia {
    /// Applies edited channel settings; a smaller window applies at once.
    fn set_params(&mut self, params: MediaParams, now: Now) {
        self.params = params;
        self.last_now = now;
        for r in &mut self.renditions {
            r.trim(params.window_ms);
        }
        self.process(now, &mut Vec::new());
        self.versions.output_changed();
    }

    /// Stores an object pushed to `<input url>/<path>`: playlists are parsed, segments stored.
    fn put_body(
        &mut self,
        input: InputRole,
        path: &str,
        body: Body,
        now: Now,
    ) -> Result<PutOutcome, IngestError> {
        self.last_now = now;
        let kind = classify(path).map_err(IngestError::UnsupportedMedia)?;
        let store = &mut self.inputs[input.index()];
        let is_playlist = kind == ObjectKind::Playlist;
        let mut cue_warnings = Vec::new();
        match kind {
            ObjectKind::Media { .. } => store.put_object(path, body, now.mono_ms),
            ObjectKind::Playlist => match parse_playlist(path, &body.bytes) {
                Err(why) => return Err(IngestError::BadPlaylist(format!("{path}: {why}"))),
                Ok(PlaylistIn::Master(m)) => store.put_master(path, m),
                Ok(PlaylistIn::Media(mut m)) => {
                    cue_warnings = std::mem::take(&mut m.cue_warnings);
                    if store.put_media(path, m, now.mono_ms) {
                        self.tracker.restarted(input);
                        if self.active == Some(input) {
                            self.reset(StartAt::First);
                        }
                    }
                }
            },
        }
        let mut warnings = cue_warnings;
        let changed = self.process(now, &mut warnings);
        // A segment usually arrives before the playlist that lists it: storing it changes
        // only the status, which is republished without rendering the playlists again.
        self.versions.changed(changed || is_playlist);
        Ok(PutOutcome { warnings })
    }

    /// Encoder DELETE. Returns whether the object existed. The output keeps its own reference
    /// to what it serves, so this never removes a segment from the window.
    fn delete(&mut self, input: InputRole, path: &str, now: Now) -> bool {
        self.last_now = now;
        let existed = self.inputs[input.index()].delete(path);
        if existed {
            let changed = self.process(now, &mut Vec::new());
            self.versions.changed(changed);
        }
        existed
    }

    /// Periodic work (about every 500 ms): pending-segment timeouts, failover, eviction.
    fn tick(&mut self, now: Now) {
        self.last_now = now;
        if self.process(now, &mut Vec::new()) {
            self.versions.output_changed();
        }
    }

    fn splice(
        &mut self,
        req: &crate::ad_markers::SpliceRequest,
        now: Now,
    ) -> Result<crate::ad_markers::AdMarker, String> {
        self.operator_splice(req, now)
    }

    /// Takes the events since the last call (inputs up, down, restarted; switches). At most
    /// 256 are kept for a caller that does not drain them.
    fn drain_events(&mut self) -> Vec<MediaEvent> {
        self.tracker.drain()
    }

    /// Increments whenever the published output or its status changes.
    fn version(&self) -> u64 {
        self.versions.current
    }

    fn publish(&mut self, now: Now) -> Arc<Published> {
        if let Some(p) = self
            .published
            .as_ref()
            .filter(|p| p.version == self.versions.current)
        {
            return Arc::clone(p);
        }
        let p = Arc::new(publish::published(self, now));
        self.published = Some(Arc::clone(&p));
        p
    }

    fn promote_hot(&mut self, promote: &mut dyn FnMut(&bytes::Bytes) -> Option<Body>) -> usize {
        let moved = self
            .renditions
            .iter_mut()
            .map(|r| r.promote_hot(promote))
            .sum();
        if moved > 0 {
            self.versions.output_changed();
        }
        moved
    }
}

#[cfg(test)]
mod failover_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod webvtt_tests;
