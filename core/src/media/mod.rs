//! The media core: what every protocol's live media offers, in one vocabulary.
//!
//! A channel's media (HLS: [`crate::hls::media::HlsMedia`]; DASH:
//! [`crate::dash::media::DashMedia`]) is owned by one thread, the channel's owner shard, which
//! drives it through the [`Media`] interface: objects its two inputs push ([`Media::put`],
//! [`Media::delete`]), time passing ([`Media::tick`]), what happened to the inputs
//! ([`Media::drain_events`]), and a [`Published`] view of its outputs ([`Media::publish`]).
//! Pull requests on any core read that view lock-free: per endpoint type, a [`MediaOutput`]
//! resolves a path to a manifest or an object with its headers ([`Lookup`]), or says why
//! nothing can be served yet ([`Unavailable`]).
//!
//! Shared by every protocol: the failover policy and its input-health tracker ([`failover`]),
//! the objects outputs serve ([`object`]), the live status ([`status`]).
//!
//! Sans-io: callers pass bytes in, and the clock reading `now`.

mod by_protocol;
mod deliveries;
pub mod failover;
pub mod growing;
pub mod object;
mod published;
pub mod status;
pub(crate) mod versions;
pub mod wake;

pub use by_protocol::for_channel;
pub use failover::{FailoverPolicy, Health, MediaEvent, Revert, SwitchReason};
pub use object::{
    promote_after_pulls, Backing, Body, InitEntry, Lookup, MediaObject, Rendered, SegmentEntry,
    PROMOTE_MIN_BYTES,
};
pub use published::{Published, RepackageStats};
pub use status::{InputStatus, MediaStatus};

use crate::channel::config::InputRole;
use crate::time::Now;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// Segments up to this much longer than `max_segment_ms` are still accepted: encoders round
/// durations (ffmpeg's `-hls_time 2` gives 2.002 s or 2.08 s when keyframes fall late), and a
/// hard cut at the exact limit would refuse healthy streams.
pub const OVERLONG_TOLERANCE_MS: u64 = 500;

/// The channel settings media handling depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaParams {
    /// Longest accepted segment, ms (`max_segment_duration`).
    pub max_segment_ms: u64,
    /// Served window, ms (`max_playlist_duration`).
    pub window_ms: u64,
    /// When to switch inputs.
    pub failover: FailoverPolicy,
    /// The channel has `cmaf` endpoints: an HLS channel repackages its TS segments for them.
    pub cmaf: bool,
    /// The active input's end of stream (`EXT-X-ENDLIST`, a static MPD) ends the output
    /// (`EXT-X-ENDLIST`, a static MPD). Otherwise the output stays live and goes on, behind a
    /// discontinuity (a new Period), when an encoder pushes again.
    pub end_on_endlist: bool,
    /// The channel keeps a time-shift window: outputs describe their tracks and Periods for
    /// the archive ([`MediaOutput::tracks`], [`MediaOutput::periods`]).
    pub timeshift: bool,
    /// The channel has encrypted endpoints: outputs describe their tracks, manifests and MPD
    /// model for the endpoints' encryptors (as for the archive).
    pub encrypted: bool,
    /// The channel has low-latency endpoints: outputs announce segments before they are whole
    /// and serve them as their chunks arrive.
    pub low_latency: bool,
}

impl MediaParams {
    /// The settings with the default failover policy and no CMAF endpoint.
    pub fn new(max_segment_ms: u64, window_ms: u64) -> MediaParams {
        MediaParams {
            max_segment_ms,
            window_ms,
            failover: FailoverPolicy::default(),
            cmaf: false,
            end_on_endlist: false,
            timeshift: false,
            encrypted: false,
            low_latency: false,
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
    /// Not something the channel's input accepts (HTTP 415).
    #[error("{0}")]
    UnsupportedMedia(String),
    /// A playlist or MPD that cannot be used (HTTP 400); the previous good state is untouched.
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

/// Where the output starts in an input's listing when it (re)starts following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartAt {
    /// The oldest deliverable segment (first go on air, an encoder restarting).
    First,
    /// The newest deliverable segment (an unaligned failover: take the other input's live edge).
    Last,
}

/// A channel's live media, as its owner shard drives it. One implementation per input
/// protocol; see the module docs.
pub trait Media: fmt::Debug {
    /// Applies edited channel settings; a smaller window applies at once.
    fn set_params(&mut self, params: MediaParams, now: Now);

    /// Stores an object pushed to `<input url>/<path>`: manifests are parsed, segments stored
    /// with their [`Backing`], which every output serving them as pushed carries along.
    fn put_body(
        &mut self,
        input: InputRole,
        path: &str,
        body: Body,
        now: Now,
    ) -> Result<PutOutcome, IngestError>;

    /// [`Media::put_body`] with bytes that have no backing of their own.
    fn put(
        &mut self,
        input: InputRole,
        path: &str,
        body: Bytes,
        now: Now,
    ) -> Result<PutOutcome, IngestError> {
        self.put_body(input, path, body.into(), now)
    }

    /// Low latency: a whole chunk of the segment being uploaded to `path` (the daemon cuts a
    /// chunked upload as it arrives), with its timing when it is a CMAF chunk (an LL-HLS
    /// part); the upload's end is a [`Media::put_body`] of the whole
    /// body, which must begin with the chunks given. Whether the media takes uploads a chunk
    /// at a time (an HLS input does not: [`wake::Woken::Nobody`]), and whose parked pulls the
    /// chunk concerns once the output is published again.
    fn put_chunk(
        &mut self,
        input: InputRole,
        path: &str,
        chunk: growing::ChunkIn,
        now: Now,
    ) -> wake::Woken {
        let _ = (input, path, chunk, now);
        wake::Woken::Nobody
    }

    /// Low latency: `upload` to `path` broke off before its end; what was published of it is
    /// never served as a whole segment.
    fn abort_upload(&mut self, input: InputRole, path: &str, upload: u64, now: Now) {
        let _ = (input, path, upload, now);
    }

    /// Encoder DELETE; whether the object existed. The output never loses a segment from the
    /// middle of its window because of it.
    fn delete(&mut self, input: InputRole, path: &str, now: Now) -> bool;

    /// Periodic work (about every 500 ms): missing-segment timeouts, failover, eviction.
    fn tick(&mut self, now: Now);

    /// The operator's splice ([`crate::ad_markers::SpliceRequest`]): a `splice_insert` cue
    /// at its time or the next segment boundary, signalled by every endpoint as an encoder's
    /// would be. The reason when it cannot be placed.
    fn splice(
        &mut self,
        req: &crate::ad_markers::SpliceRequest,
        now: Now,
    ) -> Result<crate::ad_markers::AdMarker, String>;

    /// Takes the events since the last call (inputs up, down, restarted; switches; output
    /// warnings). At most 256 are kept for a caller that does not drain them.
    fn drain_events(&mut self) -> Vec<MediaEvent>;

    /// Increments whenever the published outputs or their status change.
    fn version(&self) -> u64;

    /// The outputs at the current version: built once per change, else the same `Arc`.
    fn publish(&mut self, now: Now) -> Arc<Published>;

    /// Gives the objects its outputs serve that pulls made hot ([`MediaObject::is_hot`]) a
    /// sending form of their own: `promote` copies their bytes into memory of the caller's
    /// choosing (the daemon: pages a socket is spliced from), and the outputs serve that copy
    /// from then on, under the same etag. The bytes pushed stay on the heap, which encoders
    /// fill fastest, until nothing else holds them. Returns how many objects moved; the next
    /// [`Media::publish`] serves them.
    fn promote_hot(&mut self, promote: &mut dyn FnMut(&Bytes) -> Option<Body>) -> usize;
}

/// Which form of an output's manifests a request gets ([`MediaOutput::lookup_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variant {
    /// The endpoint is low-latency (LL-DASH, LL-HLS).
    pub low_latency: bool,
    /// A Playlist Delta Update (`_HLS_skip`), where there is one.
    pub delta: bool,
}

/// Why an output has nothing to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable<'a> {
    /// No input has delivered media yet (503 with `Retry-After`).
    NoMediaYet,
    /// The input's media cannot feed this output, and why (501), e.g. fMP4 HLS input on a
    /// `cmaf` endpoint.
    Refused(&'a str),
    /// Media is there but held back, and why (503 with `Retry-After`), e.g. an encrypted
    /// endpoint waiting for its content key.
    Waiting(&'a str),
}

/// What pulls of one endpoint type read: an immutable view, shared by `Arc`; lookups never
/// allocate.
pub trait MediaOutput: fmt::Debug + Send + Sync {
    /// Resolves `rest`, the path after `/v1/<channel>/<endpoint>/`; `manifest` is the endpoint's
    /// manifest name (`main`: `main.m3u8`, `main.mpd`).
    fn lookup<'a>(&'a self, manifest: &str, rest: &str) -> Result<Lookup<'a>, Unavailable<'a>>;

    /// [`MediaOutput::lookup`] for the `variant` of the endpoint asking: a low-latency one
    /// gets the manifests that announce segments before they are whole, and may ask for a
    /// Playlist Delta Update. Outputs with no such forms answer as `lookup`.
    fn lookup_with<'a>(
        &'a self,
        manifest: &str,
        rest: &str,
        variant: Variant,
    ) -> Result<Lookup<'a>, Unavailable<'a>> {
        let _ = variant;
        self.lookup(manifest, rest)
    }

    /// LL-HLS: where the low-latency media playlist at `rest` stands, for a blocking playlist
    /// reload (`None`: not such a playlist).
    fn playlist_position(
        &self,
        manifest: &str,
        rest: &str,
    ) -> Option<crate::hls::directives::Position> {
        let _ = (manifest, rest);
        None
    }

    /// [`MediaOutput::lookup`] with "nothing to serve yet" read as not found (for tests and
    /// diagnostics, where only what is there matters).
    fn get<'a>(&'a self, manifest: &str, rest: &str) -> Lookup<'a> {
        self.lookup(manifest, rest).unwrap_or(Lookup::NotFound)
    }

    /// Time-shift: the tracks whose segments the channel's archive keeps (none: this output
    /// is not archived).
    fn tracks(&self) -> Vec<TrackView<'_>> {
        Vec::new()
    }

    /// Time-shift: the Periods its tracks' segments belong to (DASH), in order.
    fn periods(&self) -> Vec<PeriodView> {
        Vec::new()
    }

    /// Its MPD as a model, when it renders one from a model (CMAF), for outputs derived from
    /// this one.
    fn mpd_model(&self) -> Option<&crate::dash::mpd::Mpd> {
        None
    }

    /// Time-shift: what its time-shifted manifests take from it besides the segments.
    fn outline(&self) -> Outline {
        Outline::default()
    }

    /// Every manifest it serves, by path under the endpoint (`main.m3u8`, `hi/index.m3u8`),
    /// for outputs derived from this one (encryption). None: it cannot be derived from.
    fn manifests(&self, manifest: &str) -> Vec<(String, &Rendered)> {
        let _ = manifest;
        Vec::new()
    }

    /// The low-latency forms of its manifests, for outputs derived from this one (ad
    /// markers): by path, with whether it is a Playlist Delta Update. None by default.
    fn low_latency_manifests(&self, manifest: &str) -> Vec<(String, bool, &Rendered)> {
        let _ = manifest;
        Vec::new()
    }

    /// Where a program date (Unix ms, `EXT-X-PROGRAM-DATE-TIME`) falls on its MPD's wall clock
    /// (`availabilityStartTime` + `Period@start` + media time): the same, unless the MPD
    /// anchors its clock elsewhere (CMAF repackaged from TS anchors on arrival).
    fn mpd_clock(&self, unix_ms: u64) -> u64 {
        unix_ms
    }

    /// An encrypted output's content keys (ClearKey licences).
    fn content_keys(&self) -> &[crate::encryption::ContentKey] {
        &[]
    }

    /// An encrypted output's content key at `rest` (`keys/<kid>.key`), for key delivery.
    fn content_key(&self, rest: &str) -> Option<&crate::encryption::ContentKey> {
        let _ = rest;
        None
    }
}

/// What an output's time-shifted manifests take from the live output besides its tracks'
/// segments; the archive keeps the last one, so those manifests need no live output (after a
/// restart, before the encoder is back).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// The main manifest when it lists the tracks (an HLS master playlist), as served live.
    pub master: Option<String>,
    /// Tracks whose playlists declare `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent: Vec<String>,
}

/// One track of an output as the time-shift archive records it.
#[derive(Debug)]
pub struct TrackView<'a> {
    /// Folder of its objects in the endpoint's URLs (`hi`, `hi/video`).
    pub dir: String,
    /// Its segments in the live window, by increasing `seq`.
    pub segments: &'a [SegmentEntry],
    /// Sequence numbers of the segments the output puts a discontinuity before.
    pub discontinuities: &'a [u64],
    /// Its init segments, by increasing `k`.
    pub inits: &'a [InitEntry],
    /// The URL file name of a segment (`<seq>.ts`).
    pub segment_file: fn(&SegmentEntry) -> String,
    /// The URL file name of an init segment (`init<k>.mp4`).
    pub init_file: fn(&InitEntry) -> String,
    /// DASH: each segment's place on its Period's timeline, parallel to `segments` (empty
    /// for outputs without Periods).
    pub timing: Vec<SegmentTiming>,
    /// Subtitles (WebVTT, as text or in `wvtt` samples): served clear by encrypted endpoints.
    pub text: bool,
}

/// Where a DASH segment sits: its Period and its `SegmentTimeline` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentTiming {
    /// `Period@id`.
    pub period: String,
    /// `S@t`, ticks of its Representation's timescale.
    pub t: u64,
    /// `S@d`, ticks.
    pub d: u64,
}

/// A DASH Period as the time-shift archive keeps it: its AdaptationSets and Representations
/// with empty timelines (the archive's segments fill them in), and its start on the wall
/// clock.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodView {
    /// The Period, `start_ms` and timelines left out.
    pub period: crate::dash::mpd::Period,
    /// `availabilityStartTime + Period@start`, Unix ms.
    pub start_unix_ms: u64,
}

impl PeriodView {
    /// `period` of an MPD whose `availabilityStartTime` is `ast_unix_ms`, its start moved to
    /// the wall clock and its timelines (and start numbers) left out.
    pub fn of(mut period: crate::dash::mpd::Period, ast_unix_ms: u64) -> PeriodView {
        let start_unix_ms = ast_unix_ms.saturating_add(period.start_ms);
        period.start_ms = 0;
        for rep in period
            .adaptation_sets
            .iter_mut()
            .flat_map(|s| s.representations.iter_mut())
        {
            rep.template.timeline.clear();
            rep.template.start_number = 0;
        }
        PeriodView {
            period,
            start_unix_ms,
        }
    }
}
