//! A DASH channel's live media: what its two inputs pushed (`store`), the origin's own output
//! timeline (`output`: Periods, numbering, timing) and the immutable snapshots pull requests
//! read ([`DashSnapshot`]).
//!
//! [`DashMedia`] is owned by one thread (the channel's owner shard); it is sans-io: callers pass
//! the bytes in (whole bodies: the daemon buffers them) and the clock reading `now`.
//!
//! # Ingest
//! A path ending in `.mpd` is the input's MPD: parsed ([`crate::dash::parse`]); a bad one is
//! refused with the reason ([`IngestError::BadPlaylist`]) and the previous one stays in
//! force. Anything else with an fMP4/WebM extension is stored by path, whether the MPD lists it
//! yet or not; HLS playlists (ffmpeg's `-hls_playlist 1`) are accepted and ignored; other
//! extensions are refused ([`IngestError::UnsupportedMedia`]).
//!
//! A segment is published when the active input's MPD lists it and its bytes (and its init
//! segment's) are here; a listed segment still missing while a later one has been here for its
//! duration (at most `max_segment_duration`; at once for a Representation's first segment in a
//! Period) is skipped, a gap in the timeline. A segment longer than
//! `max_segment_duration` (plus [`OVERLONG_TOLERANCE_MS`]) is refused: counted in
//! [`MediaStatus::refused_segments`], named in [`PutOutcome::warnings`].
//!
//! # DELETE
//! A segment the encoder deleted *and* no longer lists stops being served (from the front of
//! its Representation only: the served timeline never gets a hole; and each Representation of
//! the newest Period keeps its newest segment, so the MPD never falls back to older media).
//! One still listed, or only unlisted, is kept while it is in the window.
//!
//! # Window
//! Segments that ended more than `max_playlist_duration` before the newest one are dropped;
//! `timeShiftBufferDepth` says the same to players.
//!
//! # Failover (as for HLS, see `docs/failover.md`; the health bookkeeping is shared)
//! The first input whose leader Representation (first of the first AdaptationSet of its last
//! Period) delivers goes on air. When the active input delivers nothing for
//! [`FailoverPolicy::timeout_ms`] or ends its stream while the other is healthy, the output
//! switches: seamlessly (same Period, timeline and numbering go on) when the other input runs
//! on the same clock with the same init segments, else in a new Period from the other input's
//! newest segment. Reverting to the preferred input follows [`crate::media::Revert`].

mod archived;
mod hls_view;
mod markers;
mod model;
mod output;
mod pending;
mod period;
mod snapshot;
mod store;

pub use snapshot::{CmafOfDash, DashSnapshot};

use crate::channel::config::{EndpointType, InputRole};
use crate::dash::parse::parse_mpd;
use crate::media::failover::{self, InputReadiness, Tracker};
use crate::media::object::EtagGen;
use crate::media::versions::Versions;
use crate::media::wake::{wake_key, Woken};
use crate::media::Body;
use crate::media::{
    Health, IngestError, Media, MediaEvent, MediaParams, MediaStatus, Published, PutOutcome,
    Rendered, StartAt, OVERLONG_TOLERANCE_MS,
};
use crate::time::Now;
use output::Output;
pub use period::first_number;
use period::{ticks_to_ms_ceil, PublishCtx};
use std::sync::Arc;
pub use store::is_fmp4_segment_path;
use store::{InputStore, SEGMENT_EXTENSIONS};

/// A DASH channel's media state. See the module docs for the policies.
#[derive(Debug)]
pub struct DashMedia {
    params: MediaParams,
    inputs: [InputStore; 2],
    active: Option<InputRole>,
    output: Output,
    tracker: Tracker,
    /// Per input, the newest delivery of its leader: (key, number).
    last_delivered: [Option<(String, u64)>; 2],
    failovers: u64,
    refused: u64,
    /// Change counters (what the next snapshot must render).
    versions: Versions,
    etag: EtagGen,
    cache: Option<Arc<DashSnapshot>>,
    /// The previous MPD render, reused while its text is unchanged (stable etag).
    rendered: Option<Rendered>,
    /// The same for the MPD of low-latency endpoints.
    rendered_low_latency: Option<Rendered>,
    /// The same for the HLS playlists of `cmaf` endpoints, by variant and file.
    prev_hls: std::collections::HashMap<String, Rendered>,
    /// HLS target durations announced so far (they never go down).
    hls_targets: hls_view::Targets,
    /// The last view published.
    published: Option<Arc<Published>>,
    /// When the output last changed (`MPD@publishTime`).
    changed_unix_ms: u64,
    last_now: Now,
    /// Ad markers in the window, and how far segments were read for them.
    markers: crate::ad_markers::AdMarkers,
    emsg_scanned: markers::EmsgScanned,
}

impl DashMedia {
    /// Empty media for a channel created (or restored) at `now`. Output numbers start at
    /// [`first_number`]`(now)`, above anything a previous run of the daemon served.
    pub fn new(params: MediaParams, now: Now) -> DashMedia {
        DashMedia {
            params,
            inputs: [InputStore::default(), InputStore::default()],
            active: None,
            output: Output::new(first_number(now)),
            tracker: Tracker::default(),
            last_delivered: [None, None],
            failovers: 0,
            refused: 0,
            versions: Versions::new(),
            etag: EtagGen::new("d", now),
            cache: None,
            rendered: None,
            rendered_low_latency: None,
            prev_hls: std::collections::HashMap::new(),
            hls_targets: hls_view::Targets::default(),
            published: None,
            changed_unix_ms: now.unix_ms,
            last_now: now,
            markers: crate::ad_markers::AdMarkers::default(),
            emsg_scanned: markers::EmsgScanned::default(),
        }
    }

    /// The current DASH output: rebuilt once per change (only the status when only the status
    /// changed), otherwise a cheap `Arc` clone.
    pub fn snapshot(&mut self) -> Arc<DashSnapshot> {
        if let Some(s) = self
            .cache
            .as_ref()
            .filter(|s| s.version == self.versions.current)
        {
            return s.clone();
        }
        let reuse = self.versions.renders_reusable();
        let parts_moved = self.versions.parts_moved();
        let snap = match self.cache.take() {
            Some(prev) if reuse && parts_moved => Arc::new(snapshot::refresh_parts(self, &prev)),
            Some(prev) if reuse => Arc::new(snapshot::refresh_status(self, &prev)),
            _ => Arc::new(snapshot::build(self)),
        };
        self.cache = Some(snap.clone());
        snap
    }

    /// Decides the active input, publishes, applies DELETEs and the window. Returns whether
    /// anything changed.
    fn process(&mut self, now: Now, warnings: &mut Vec<String>) -> bool {
        let mut changed = self.choose_active(now);
        let mut output_changed = false;
        if let Some(active) = self.active {
            let mut ctx = PublishCtx {
                store: &self.inputs[active.index()],
                role: active,
                now,
                max_segment_ms: self.params.max_segment_ms,
                etag: &mut self.etag,
                warnings,
                refused: &mut self.refused,
            };
            output_changed |= self.output.advance(&mut ctx);
            output_changed |= markers::take_events(
                &self.output,
                &self.inputs[active.index()],
                active,
                (&mut self.markers, &mut self.emsg_scanned),
                warnings,
            );
        }
        output_changed |= self.output.withdraw(&self.inputs);
        output_changed |= self.output.trim(self.params.window_ms);
        output_changed |= pending::announce(
            &mut self.output,
            &mut self.inputs,
            self.active,
            self.params.low_latency,
            now.mono_ms,
        );
        let keep_ms = self
            .params
            .window_ms
            .saturating_add(self.params.max_segment_ms);
        for s in &mut self.inputs {
            changed |= s.gc(now.mono_ms, keep_ms);
        }
        if output_changed {
            self.changed_unix_ms = now.unix_ms;
        }
        changed || output_changed
    }

    /// Records each input's new deliveries, then switches inputs as the policy says.
    fn choose_active(&mut self, now: Now) -> bool {
        let policy = self.params.failover;
        let before = self.health();
        self.tracker.age(
            now.mono_ms,
            self.failover_timeout_ms(),
            self.params.window_ms,
        );
        for role in InputRole::ALL {
            self.observe(role, now);
        }
        let health_changed = before != self.health();
        let inputs = InputRole::ALL.map(|r| InputReadiness {
            can_start: self.last_delivered[r.index()].is_some(),
            can_take_over: true,
            ended: self.inputs[r.index()].ended(),
        });
        let (output, stores) = (&self.output, &self.inputs);
        let decision = failover::decide(
            &mut self.tracker,
            &policy,
            self.active,
            now.mono_ms,
            inputs,
            |_, a| output.aligned_with(&stores[a.other().index()]),
        );
        match decision {
            Some(sw) => {
                self.switch(sw);
                true
            }
            None => health_changed,
        }
    }

    /// How long the active input may be silent before it is down
    /// ([`pending::failover_timeout_ms`]).
    fn failover_timeout_ms(&self) -> u64 {
        let chunks = self
            .active
            .map_or(0, |a| self.inputs[a.index()].chunks_per_segment);
        pending::failover_timeout_ms(&self.params, chunks)
    }

    /// New deliveries of `role`'s leader Representation: listed, with its bytes and init here.
    fn observe(&mut self, role: InputRole, now: Now) {
        let store = &self.inputs[role.index()];
        let Some(entry) = store.mpd.as_ref() else {
            return;
        };
        let Some(period) = entry.mpd.periods.last() else {
            return;
        };
        let Some(leader) = period
            .adaptation_sets
            .first()
            .and_then(|a| a.representations.first())
        else {
            return;
        };
        let key = format!("{}/{}/{}", store.run, period.id, leader.id);
        let max_ok = self
            .params
            .max_segment_ms
            .saturating_add(OVERLONG_TOLERANCE_MS);
        let fresh: Vec<(u64, u64)> = store
            .segments(leader)
            .iter()
            .filter(|s| {
                store.objects.contains_key(&s.path)
                    && leader
                        .init
                        .as_ref()
                        .is_none_or(|i| store.objects.contains_key(i))
            })
            .filter(|s| match &self.last_delivered[role.index()] {
                Some((k, n)) if *k == key => s.number > *n,
                _ => true,
            })
            .map(|s| (s.number, ticks_to_ms_ceil(s.d, leader.timescale)))
            .collect();
        for (number, duration_ms) in fresh {
            self.tracker
                .deliver(role, &key, number, duration_ms, None, now.mono_ms, max_ok);
            self.last_delivered[role.index()] = Some((key.clone(), number));
        }
    }

    fn health(&self) -> [(Health, u32); 2] {
        let p = &self.params.failover;
        InputRole::ALL.map(|r| {
            (
                self.tracker.health(r, p),
                self.tracker.inputs[r.index()].streak,
            )
        })
    }

    /// Puts the switch's input on air: aligned, the current Period goes on from it; else a
    /// new Period from its newest segment.
    fn switch(&mut self, sw: failover::Switch) {
        self.active = Some(sw.to);
        match sw.from {
            Some(_) => {
                self.failovers = self.failovers.saturating_add(1);
                if sw.aligned {
                    self.output.rebind(sw.to, &self.inputs[sw.to.index()]);
                } else {
                    self.output.start_at = StartAt::Last;
                }
            }
            None => self.output.start_at = StartAt::First,
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

    /// The current status (as in the snapshot).
    pub fn status(&mut self) -> MediaStatus {
        self.snapshot().status.clone()
    }
}

impl Media for DashMedia {
    /// Applies edited channel settings; a smaller window applies at once.
    fn set_params(&mut self, params: MediaParams, now: Now) {
        self.params = params;
        self.last_now = now;
        self.process(now, &mut Vec::new());
        self.versions.output_changed();
    }

    /// Stores an object pushed to `<input url>/<path>`: MPDs are parsed, segments stored.
    fn put_body(
        &mut self,
        input: InputRole,
        path: &str,
        body: Body,
        now: Now,
    ) -> Result<PutOutcome, IngestError> {
        self.last_now = now;
        let ext = path
            .rsplit('/')
            .next()
            .and_then(|f| f.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        let store = &mut self.inputs[input.index()];
        let is_mpd = ext.as_deref() == Some("mpd");
        let mut event_warnings = Vec::new();
        let mut announced_whole = false;
        match ext.as_deref() {
            Some("mpd") => {
                let mut mpd = parse_mpd(path, &body.bytes)
                    .map_err(|why| IngestError::BadPlaylist(format!("{path}: {why}")))?;
                event_warnings = std::mem::take(&mut mpd.event_warnings);
                if store.put_mpd(mpd, now.mono_ms) {
                    self.tracker.restarted(input);
                    self.last_delivered[input.index()] = None;
                    if self.active == Some(input) {
                        self.output.start_at = StartAt::First;
                    }
                }
            }
            Some(e) if SEGMENT_EXTENSIONS.contains(&e) => {
                // An announced segment now whole: its playlists stop hinting at more parts.
                announced_whole =
                    self.params.cmaf && pending::is_announced(&self.output, input, path);
                store.put_object(path, body, now.mono_ms)
            }
            // ffmpeg's dash muxer writes HLS playlists beside the MPD with `-hls_playlist 1`:
            // not an error, nothing to serve either.
            Some("m3u8") => {
                return Ok(PutOutcome {
                    warnings: vec![format!("{path}: HLS playlist on a DASH input, ignored")],
                })
            }
            _ => {
                return Err(IngestError::UnsupportedMedia(format!(
                    "{path}: a DASH input takes an .mpd manifest and fMP4 segments (.m4s, .mp4, .cmfv, .cmfa…)"
                )))
            }
        }
        let mut warnings = event_warnings;
        let changed = self.process(now, &mut warnings);
        // Segments usually arrive before the MPD that lists them: storing one changes only
        // the status, which is republished without rendering the MPD again.
        self.versions.changed(changed || is_mpd || announced_whole);
        Ok(PutOutcome { warnings })
    }

    /// A chunk of a segment being uploaded: whoever streams that segment gets it at once
    /// (nothing is republished: the announced segment is the same object).
    fn put_chunk(
        &mut self,
        input: InputRole,
        path: &str,
        chunk: crate::media::growing::ChunkIn,
        now: Now,
    ) -> Woken {
        self.last_now = now;
        self.inputs[input.index()].put_chunk(path, chunk, now.mono_ms);
        self.tracker.heard(input, now.mono_ms);
        // LL-HLS playlists list the parts of the segment arriving: a new one is a new version
        // of that track's playlist (streams of the segment itself are woken by the segment).
        let hls_parts = self.params.cmaf && self.params.low_latency;
        match pending::announced_track(&self.output, input, path) {
            Some(track) if hls_parts => {
                self.versions.parts_changed();
                Woken::Track(wake_key(track))
            }
            _ => Woken::Nobody,
        }
    }

    /// The upload broke off: its streams end unfinished, and an announcement of it is made
    /// again for the encoder's retry.
    fn abort_upload(&mut self, input: InputRole, path: &str, upload: u64, now: Now) {
        self.last_now = now;
        if self.inputs[input.index()].abort_upload(path, upload) {
            let changed = self.process(now, &mut Vec::new());
            self.versions.changed(changed);
        }
    }

    /// Encoder DELETE. Returns whether the object existed. A published segment stops being
    /// served once its encoder deleted it and no longer lists it (module docs).
    fn delete(&mut self, input: InputRole, path: &str, now: Now) -> bool {
        self.last_now = now;
        let existed = self.inputs[input.index()].delete(path);
        if existed {
            let changed = self.process(now, &mut Vec::new());
            self.versions.changed(changed);
        }
        existed
    }

    /// Periodic work (about every 500 ms): missing-segment timeouts, failover, eviction.
    fn tick(&mut self, now: Now) {
        self.last_now = now;
        if self.process(now, &mut Vec::new()) {
            self.versions.output_changed();
        }
    }

    /// Increments whenever the published output (or its status) changes.
    fn version(&self) -> u64 {
        self.versions.current
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

    fn publish(&mut self, _now: Now) -> Arc<Published> {
        if let Some(p) = self
            .published
            .as_ref()
            .filter(|p| p.version == self.versions.current)
        {
            return Arc::clone(p);
        }
        let dash = self.snapshot();
        let mut p = Published::new(self.versions.current, dash.status.clone())
            .with_markers(self.window_markers());
        if self.params.cmaf {
            p = p.with_output(EndpointType::Cmaf, Arc::new(CmafOfDash(Arc::clone(&dash))));
        }
        let p = p.with_output(EndpointType::Dash, dash as _);
        let p = Arc::new(p);
        self.published = Some(Arc::clone(&p));
        p
    }

    fn promote_hot(&mut self, promote: &mut dyn FnMut(&bytes::Bytes) -> Option<Body>) -> usize {
        let moved = self.output.promote_hot(promote);
        if moved > 0 {
            self.versions.output_changed();
        }
        moved
    }
}

#[cfg(test)]
mod failover_tests;
#[cfg(test)]
mod low_latency_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
