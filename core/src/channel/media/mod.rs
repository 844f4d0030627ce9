//! A channel's live HLS media: what its two inputs pushed (`store`), the output timeline of
//! each rendition (`timeline`), and the immutable snapshots pull requests read ([`snapshot`]).
//!
//! [`ChannelMedia`] is owned by one thread (the channel's owner shard); it is sans-io: callers
//! pass the bytes in and the clock reading `now`.
//!
//! # Failover (see [`failover`] and `docs/failover.md`)
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
//!   [`MediaEvent`]s for the caller ([`ChannelMedia::drain_events`]).
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

mod deliveries;
pub mod failover;
mod publish;
pub mod snapshot;
mod store;
mod timeline;

pub use failover::{FailoverPolicy, Health, MediaEvent, Revert, SwitchReason};
pub use snapshot::{
    HlsSnapshot, InitEntry, InputStatus, Lookup, MediaObject, MediaStatus, Rendered,
    RenditionSnapshot, SegmentEntry,
};
pub use timeline::OVERLONG_TOLERANCE_MS;

use crate::channel::config::InputRole;
use crate::hls::{classify, parse_playlist, ObjectKind, PlaylistIn};
use crate::time::Now;
use bytes::Bytes;
use std::sync::Arc;
use store::InputStore;
use timeline::{Ctx, Rendition, StartAt};

/// The channel settings media handling depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaParams {
    /// Longest accepted segment, ms (`max_segment_duration`).
    pub max_segment_ms: u64,
    /// Served window, ms (`max_playlist_duration`).
    pub window_ms: u64,
    /// When to switch inputs.
    pub failover: FailoverPolicy,
}

impl MediaParams {
    /// The settings with the default failover policy.
    pub fn new(max_segment_ms: u64, window_ms: u64) -> MediaParams {
        MediaParams {
            max_segment_ms,
            window_ms,
            failover: FailoverPolicy::default(),
        }
    }
}

/// What a successful PUT has to say (the daemon logs the warnings).
#[derive(Debug, Default)]
pub struct PutOutcome {
    /// E.g. a refused overlong segment, naming it and both durations.
    pub warnings: Vec<String>,
}

/// Why an ingest PUT was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Not something an HLS input accepts (HTTP 415).
    #[error("{0}")]
    UnsupportedMedia(String),
    /// A playlist that cannot be used (HTTP 400); the previous good state is untouched.
    #[error("{0}")]
    BadPlaylist(String),
}

impl IngestError {
    /// The HTTP status the daemon answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            IngestError::UnsupportedMedia(_) => 415,
            IngestError::BadPlaylist(_) => 400,
        }
    }
}

/// Strong etags unique across daemon restarts: a seed from the wall clock plus a counter,
/// after a prefix that keeps each output's etags apart (HLS `""`, DASH `"d"`, CMAF `"c"`).
#[derive(Debug)]
pub(crate) struct EtagGen {
    prefix: &'static str,
    seed: u64,
    n: u64,
}

impl EtagGen {
    /// Etags of an output created at `now`.
    pub(crate) fn new(prefix: &'static str, now: Now) -> EtagGen {
        EtagGen {
            prefix,
            seed: now.unix_ms,
            n: 0,
        }
    }

    pub(crate) fn next(&mut self) -> String {
        self.n = self.n.wrapping_add(1);
        format!("\"{}{:x}-{:x}\"", self.prefix, self.seed, self.n)
    }
}

/// A channel's media state. See the module docs for the policies.
#[derive(Debug)]
pub struct ChannelMedia {
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
    tracker: failover::Tracker,
    refused: u64,
    version: u64,
    /// [`Self::version`] when the output (not only its status) last changed.
    output_version: u64,
    /// `output_version` the cached snapshot was built at: when only the status moved since,
    /// the next snapshot reuses its playlists and objects and recomputes the status alone.
    cache_output_version: u64,
    etag: EtagGen,
    cache: Option<Arc<HlsSnapshot>>,
    /// Previous renders, reused while their text is unchanged (stable etags).
    rendered: publish::RenderCache,
    /// The latest `now` seen (`Last-Modified` of renders).
    last_now: Now,
}

impl ChannelMedia {
    /// Empty media for a channel created (or restored) at `now`.
    pub fn new(params: MediaParams, now: Now) -> ChannelMedia {
        ChannelMedia {
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
            tracker: failover::Tracker::default(),
            refused: 0,
            version: 1,
            output_version: 1,
            cache_output_version: 0,
            etag: EtagGen::new("", now),
            cache: None,
            rendered: publish::RenderCache::default(),
            last_now: now,
        }
    }

    /// Applies edited channel settings; a smaller window applies at once.
    pub fn set_params(&mut self, params: MediaParams, now: Now) {
        self.params = params;
        self.last_now = now;
        for r in &mut self.renditions {
            r.trim(params.window_ms);
        }
        self.process(now, &mut Vec::new());
        self.bump();
    }

    /// Stores an object pushed to `<input url>/<path>`: playlists are parsed, segments stored.
    pub fn put(
        &mut self,
        input: InputRole,
        path: &str,
        body: Bytes,
        now: Now,
    ) -> Result<PutOutcome, IngestError> {
        self.last_now = now;
        let kind = classify(path).map_err(IngestError::UnsupportedMedia)?;
        let store = &mut self.inputs[input.index()];
        let is_playlist = kind == ObjectKind::Playlist;
        match kind {
            ObjectKind::Media { .. } => store.put_object(path, body, now.mono_ms),
            ObjectKind::Playlist => match parse_playlist(path, &body) {
                Err(why) => return Err(IngestError::BadPlaylist(format!("{path}: {why}"))),
                Ok(PlaylistIn::Master(m)) => store.put_master(path, m),
                Ok(PlaylistIn::Media(m)) => {
                    if store.put_media(path, m, now.mono_ms) {
                        self.tracker.restarted(input);
                        if self.active == Some(input) {
                            self.reset(StartAt::First);
                        }
                    }
                }
            },
        }
        let mut warnings = Vec::new();
        let changed = self.process(now, &mut warnings);
        // A segment usually arrives before the playlist that lists it: storing it changes
        // only the status, which is republished without rendering the playlists again.
        if changed || is_playlist {
            self.bump();
        } else {
            self.bump_status();
        }
        Ok(PutOutcome { warnings })
    }

    /// Encoder DELETE. Returns whether the object existed. The output keeps its own reference
    /// to what it serves, so this never removes a segment from the window.
    pub fn delete(&mut self, input: InputRole, path: &str, now: Now) -> bool {
        self.last_now = now;
        let existed = self.inputs[input.index()].delete(path);
        if existed {
            if self.process(now, &mut Vec::new()) {
                self.bump();
            } else {
                self.bump_status();
            }
        }
        existed
    }

    /// Periodic work (about every 500 ms): pending-segment timeouts, failover, eviction.
    pub fn tick(&mut self, now: Now) {
        self.last_now = now;
        if self.process(now, &mut Vec::new()) {
            self.bump();
        }
    }

    /// Takes the events since the last call (inputs up, down, restarted; switches). At most
    /// 256 are kept for a caller that does not drain them.
    pub fn drain_events(&mut self) -> Vec<MediaEvent> {
        self.tracker.drain()
    }

    /// Increments whenever the published output or its status changes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The current snapshot: rebuilt once per change (only the status when only the status
    /// changed), otherwise a cheap `Arc` clone.
    pub fn snapshot(&mut self) -> Arc<HlsSnapshot> {
        if let Some(s) = self.cache.as_ref().filter(|s| s.version == self.version) {
            return s.clone();
        }
        let snap = match self.cache.take() {
            Some(prev) if self.cache_output_version == self.output_version => {
                Arc::new(publish::refresh_status(self, &prev))
            }
            _ => Arc::new(publish::build(self)),
        };
        self.cache_output_version = self.output_version;
        self.cache = Some(snap.clone());
        snap
    }

    /// The output changed: the next snapshot renders it again.
    fn bump(&mut self) {
        self.version = self.version.wrapping_add(1);
        self.output_version = self.version;
    }

    /// Only the status changed (an object stored or deleted that the output does not serve).
    fn bump_status(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// A new delta will be chosen: every rendition starts again behind a discontinuity.
    fn reset(&mut self, start_at: StartAt) {
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
        if let Some(active) = self.active {
            changed |= self.sync_renditions(active);
            let store = &self.inputs[active.index()];
            let mut ctx = Ctx {
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
            };
            for r in self.renditions.iter_mut().filter(|r| r.listed) {
                if let Some(pl) = store.current_media(&r.source) {
                    changed |= r.advance(pl, &mut ctx);
                }
                changed |= r.trim(self.params.window_ms);
            }
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
        self.tracker.observe(&self.inputs, now.mono_ms, max_ok);
        // Health shows in the status: a change is a change of the output.
        let health_changed = before != self.health();
        let Some(a) = self.active else {
            let Some(role) = InputRole::ALL
                .into_iter()
                .find(|r| self.inputs[r.index()].has_publishable())
            else {
                return health_changed;
            };
            self.switch(None, role, SwitchReason::FirstInput, false);
            return true;
        };
        let b = a.other();
        let a_down = matches!(
            self.tracker.health(a, &policy),
            Health::Down | Health::Never
        );
        let a_ended = failover::ended(&self.inputs[a.index()]);
        let b_healthy = self.tracker.health(b, &policy) == Health::Healthy
            && self.inputs[b.index()].has_publishable()
            && !failover::ended(&self.inputs[b.index()]);
        if (a_down || a_ended) && b_healthy {
            let reason = match self.tracker.silent_ms(a, now.mono_ms) {
                Some(_) if !a_down => SwitchReason::ActiveEnded,
                silent => SwitchReason::ActiveSilent {
                    silent_ms: silent.unwrap_or(0),
                },
            };
            let aligned = self.aligned(a);
            self.switch(Some(a), b, reason, aligned);
            return true;
        }
        if b == policy.preferred && policy.revert != Revert::Never && b_healthy && !a_down {
            let segments = self.tracker.inputs[b.index()].streak;
            if segments >= self.tracker.revert_requirement(&policy) {
                let aligned = self.aligned(a);
                if aligned || policy.revert == Revert::Always {
                    let reason = SwitchReason::PreferredHealthy { segments };
                    self.switch(Some(a), b, reason, aligned);
                    return true;
                }
            }
        }
        self.tracker.served(a, &policy);
        health_changed
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

    /// Whether the active input `a` and the other one are aligned (see [`failover::aligned`]).
    fn aligned(&self, a: InputRole) -> bool {
        let sources: Vec<&str> = self
            .renditions
            .iter()
            .filter(|r| r.listed)
            .map(|r| r.source.as_str())
            .collect();
        failover::aligned(&self.tracker.inputs, &self.inputs, a, &sources)
    }

    /// Puts `to` on air. Aligned: numbering and cursors carry on; else a new delta behind a
    /// discontinuity, from the new input's newest segment.
    fn switch(
        &mut self,
        from: Option<InputRole>,
        to: InputRole,
        reason: SwitchReason,
        aligned: bool,
    ) {
        self.active = Some(to);
        if from.is_some() {
            self.failovers = self.failovers.saturating_add(1);
            if !aligned {
                self.reset(StartAt::Last);
            }
        } else {
            self.reset(StartAt::First);
        }
        let policy = self.params.failover;
        self.tracker.switched(from, &policy);
        self.tracker.push(MediaEvent::Switched {
            from,
            to,
            reason,
            aligned,
        });
    }

    /// Makes the rendition list follow the active input: its master's variants and renditions,
    /// or (no master) every current media playlist.
    fn sync_renditions(&mut self, active: InputRole) -> bool {
        let store = &self.inputs[active.index()];
        let sources: Vec<&str> = match &store.master {
            Some(m) => m
                .media
                .iter()
                .filter_map(|x| x.uri.as_deref())
                .chain(m.variants.iter().map(|v| v.uri.as_str()))
                .collect(),
            None => store
                .media
                .iter()
                .filter(|(_, e)| e.epoch == store.epoch)
                .map(|(p, _)| p.as_str())
                .collect(),
        };
        let mut changed = false;
        for src in &sources {
            match self.renditions.iter_mut().find(|r| r.source == *src) {
                Some(r) => {
                    if !r.listed {
                        r.listed = true;
                        changed = true;
                    }
                }
                None => {
                    let name = unique_name(&self.renditions, src);
                    self.renditions
                        .push(Rendition::new(name, (*src).to_string()));
                    changed = true;
                }
            }
        }
        // With a master, what it does not list goes; without, a rendition whose playlist the
        // store forgot (not updated for a whole window) goes.
        let has_master = store.master.is_some();
        if !has_master && store.media.is_empty() {
            // The whole input went quiet (both inputs down): hold the window as it is rather
            // than empty it under the players' feet; it resumes when media comes back.
            return changed;
        }
        for r in &mut self.renditions {
            let gone = if has_master {
                !sources.contains(&r.source.as_str())
            } else {
                !store.media.contains_key(&r.source)
            };
            if r.listed && gone {
                r.listed = false;
                r.clear();
                changed = true;
            }
        }
        if store.master.is_some() || self.renditions.len() > 1 {
            self.master_mode = true;
        }
        changed
    }
}

/// A rendition name from its playlist's file stem, `[A-Za-z0-9_-]` only, unique.
fn unique_name(existing: &[Rendition], source: &str) -> String {
    let file = source.rsplit('/').next().unwrap_or(source);
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let mut base: String = stem
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() {
        base.push('r');
    }
    let mut name = base.clone();
    let mut n = 2u32;
    while existing.iter().any(|r| r.name == name) {
        name = format!("{base}_{n}");
        n = n.saturating_add(1);
    }
    name
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod failover_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod proptests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
