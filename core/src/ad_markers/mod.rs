//! Ad markers on the media core: SCTE-35 cues, whatever brought them (an encoder's HLS tags,
//! the operator's `channel splice`), as one timed-event model on the wall clock, kept with a
//! channel's media while the segments they concern are in its window, and signalled by every
//! endpoint in its own style ([`hls_out`]: `EXT-X-DATERANGE` or `EXT-X-CUE-OUT/IN`; [`mpd_out`]:
//! an MPD `EventStream`), layered over the manifests every output already renders
//! ([`output`]).
//!
//! A marker's time is where its segment starts on the wall clock (what
//! `EXT-X-PROGRAM-DATE-TIME` says, [`crate::media::SegmentEntry::start_unix_ms`]), so it lands
//! on the same media in HLS, DASH and CMAF, on every rendition, after a failover (only the
//! active input's playlists bring markers; the same event id is never signalled twice).
//!
//! Sans-io: callers pass the cues and times in.

pub mod dash_in;
pub mod emsg_in;
pub mod emsg_out;
pub mod hls_in;
pub mod hls_out;
pub mod mpd_out;
pub mod output;
pub mod ts_in;

use crate::scte35::{self, Signal, SpliceInsert};
use bytes::Bytes;
use std::sync::Arc;

/// Markers a channel keeps at most (the oldest go first, with a warning): an encoder
/// flooding cues cannot grow the channel's memory or its manifests without bound.
pub const MAX_MARKERS: usize = 64;

/// One SCTE-35 cue placed on the wall clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdMarker {
    /// `EXT-X-DATERANGE` `ID`: the encoder's, or `splice-<event id>`.
    pub id: String,
    /// `splice_event_id` (or the segmentation descriptor's event id).
    pub event_id: u32,
    /// Out (a break starts), in (it ends), or another command.
    pub signal: Signal,
    /// The splice point, Unix ms.
    pub start_unix_ms: u64,
    /// The break's planned duration, ms.
    pub duration_ms: Option<u64>,
    /// The whole `splice_info_section`, as received or as written by the origin.
    pub section: Bytes,
    /// The encoder's own tag lines (`passthrough` endpoints write them as they came).
    pub tags: Option<Arc<str>>,
    /// Made by the operator (`channel splice`), not by an encoder.
    pub operator: bool,
}

impl AdMarker {
    /// The marker a section signals at `start_unix_ms` (`id`: the encoder's DATERANGE ID).
    /// Sections that cannot be read, or signal no cue (`splice_null`, …), are refused with
    /// the reason.
    pub fn from_section(
        section: Bytes,
        start_unix_ms: u64,
        id: Option<String>,
    ) -> Result<AdMarker, String> {
        let info = scte35::parse(&section).map_err(|e| e.to_string())?;
        let cue = info.cue().ok_or_else(|| {
            format!(
                "SCTE-35 {:?} signals no cue (only splice_insert and time_signal are markers)",
                info.command
            )
        })?;
        Ok(AdMarker {
            id: id.unwrap_or_else(|| format!("splice-{}", cue.event_id)),
            event_id: cue.event_id,
            signal: cue.signal,
            start_unix_ms,
            duration_ms: cue.duration.map(|d| d / 90),
            section,
            tags: None,
            operator: false,
        })
    }

    /// When the break it starts ends, when that is known.
    pub fn end_unix_ms(&self) -> Option<u64> {
        self.duration_ms
            .map(|d| self.start_unix_ms.saturating_add(d))
    }
}

/// The operator's splice (`streampackctl channel splice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpliceRequest {
    /// The break's duration, ms (required for a break, none for a return).
    pub duration_ms: Option<u64>,
    /// When, Unix ms; `None`: at the next segment boundary.
    pub at_unix_ms: Option<u64>,
    /// `splice_event_id`; `None`: one the channel has not used.
    pub event_id: Option<u32>,
    /// An early return from the break in progress (`--return`).
    pub return_to_network: bool,
}

/// Where the operator's splice goes: at `--at`, which must not be before the window, else at
/// the next segment boundary, where the newest segment published ends. `live` is the
/// window's (start, end) on the wall clock, if anything is live.
pub fn splice_time(req: &SpliceRequest, live: Option<(u64, u64)>) -> Result<u64, String> {
    match (req.at_unix_ms, live) {
        (Some(at), Some((start, _))) if at < start => Err(format!(
            "--at {} is before the channel's window (it starts at {}): splice at a time still to come",
            crate::time::format_datetime(at),
            crate::time::format_datetime(start)
        )),
        (Some(at), _) => Ok(at),
        (None, Some((_, end))) => Ok(end),
        (None, None) => Err(
            "nothing is live on this channel yet: a splice goes at the next segment boundary (or give --at)"
                .into(),
        ),
    }
}

/// How far from the media that brings it (its segment, the window's live edge) a marker may
/// be: a cue for tomorrow is an encoder's mistake, and would take a place among the markers
/// kept until then.
pub const MAX_LEAD_MS: u64 = 3_600_000;

/// Two cues of one event id and direction this close (ms) are one cue sent again (by both
/// encoders, or repeated by one); further apart, the id was reused for a new event.
pub const SAME_EVENT_MS: u64 = 10_000;

/// Whether `b` is `a` again: same event id and direction, at (nearly) the same time or while
/// the break `a` opened is still under way.
fn same_event(a: &AdMarker, b: &AdMarker) -> bool {
    a.event_id == b.event_id
        && a.signal == b.signal
        && (a.start_unix_ms.abs_diff(b.start_unix_ms) <= SAME_EVENT_MS
            || (a.signal == Signal::Out
                && a.start_unix_ms <= b.start_unix_ms
                && a.end_unix_ms().is_some_and(|e| b.start_unix_ms < e)))
}

/// How far from a segment boundary a splice point may be and still count as on it: a frame
/// at 25 fps.
pub const ON_BOUNDARY_MS: u64 = 40;

/// What to say when marker `id`'s splice point at `at_unix_ms` falls inside the segment
/// `(start, duration)` (ms) rather than on its boundary: the origin passes the input's
/// segments as they are, so the marker keeps its exact time and is signalled on that segment.
pub fn inside_segment(id: &str, at_unix_ms: u64, (start, duration): (u64, u64)) -> Option<String> {
    let offset = at_unix_ms.checked_sub(start)?;
    (offset > ON_BOUNDARY_MS && offset + ON_BOUNDARY_MS < duration).then(|| {
        format!(
            "ad marker {id} at {} falls {}.{:03} s into its segment (the input has no segment boundary there): signalled on that segment with its exact time",
            crate::time::format_datetime(at_unix_ms),
            offset / 1000,
            offset % 1000
        )
    })
}

/// A channel's markers, oldest first.
#[derive(Debug, Default)]
pub struct AdMarkers {
    list: Vec<AdMarker>,
    /// The published form, rebuilt after a change.
    published: Option<Arc<[AdMarker]>>,
    /// Event ids given to the operator's splices count up from here.
    next_event_id: u32,
}

/// What [`AdMarkers::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// A new marker.
    New,
    /// The same event (id and direction) is already kept: ignored.
    Duplicate,
    /// A cancel: the event's markers were removed.
    Cancelled,
}

impl AdMarkers {
    /// Keeps `m` unless the same event is already kept; a cancel removes the event. Beyond
    /// [`MAX_MARKERS`] the oldest is dropped, and `warnings` says so.
    pub fn add(&mut self, m: AdMarker, warnings: &mut Vec<String>) -> Added {
        if scte35::parse(&m.section)
            .ok()
            .and_then(|i| i.cue())
            .is_some_and(|c| c.cancel)
        {
            self.list.retain(|x| x.event_id != m.event_id);
            self.published = None;
            return Added::Cancelled;
        }
        if self.list.iter().any(|x| same_event(x, &m)) {
            return Added::Duplicate;
        }
        let at = self
            .list
            .partition_point(|x| x.start_unix_ms <= m.start_unix_ms);
        self.list.insert(at, m);
        if self.list.len() > MAX_MARKERS {
            let old = self.list.remove(0);
            warnings.push(format!(
                "more than {MAX_MARKERS} ad markers in the window: dropped the oldest ({})",
                old.id
            ));
        }
        self.published = None;
        Added::New
    }

    /// Keeps the marker a binary section signals at `at_unix_ms` (SCTE-35 in TS); sections
    /// that signal no cue (`splice_null` heartbeats) are ignored, unreadable ones dropped
    /// with a warning. The new marker's id and start, if it is one.
    pub fn take_section(
        &mut self,
        section: Bytes,
        at_unix_ms: u64,
        warnings: &mut Vec<String>,
    ) -> Option<(String, u64)> {
        match scte35::parse(&section) {
            Ok(info) if info.cue().is_none() => None,
            Ok(_) => match AdMarker::from_section(section, at_unix_ms, None) {
                Ok(m) => self.add_new(m, warnings),
                Err(why) => {
                    warnings.push(format!("ad marker dropped: {why}"));
                    None
                }
            },
            Err(e) => {
                warnings.push(format!("ad marker dropped: {e}"));
                None
            }
        }
    }

    /// [`AdMarkers::add`]; the marker's id and start when it is new.
    pub(crate) fn add_new(
        &mut self,
        m: AdMarker,
        warnings: &mut Vec<String>,
    ) -> Option<(String, u64)> {
        let placed = (m.id.clone(), m.start_unix_ms);
        (self.add(m, warnings) == Added::New).then_some(placed)
    }

    /// Drops markers wholly before `unix_ms` (the window's start); whether any went.
    pub fn evict_before(&mut self, unix_ms: u64) -> bool {
        let before = self.list.len();
        self.list
            .retain(|m| m.end_unix_ms().unwrap_or(m.start_unix_ms) >= unix_ms);
        let changed = self.list.len() != before;
        if changed {
            self.published = None;
        }
        changed
    }

    /// The markers kept, as outputs read them.
    pub fn published(&mut self) -> Arc<[AdMarker]> {
        self.published
            .get_or_insert_with(|| self.list.clone().into())
            .clone()
    }

    /// The marker for the operator's splice at `at_unix_ms`; kept like an encoder's. A
    /// return needs a break in progress (its event id, unless one is given).
    pub fn splice(&mut self, req: &SpliceRequest, at_unix_ms: u64) -> Result<AdMarker, String> {
        let open = self.open_at(at_unix_ms);
        let event_id = match (req.event_id, req.return_to_network) {
            (Some(id), _) => id,
            (None, true) => open
                .map(|m| m.event_id)
                .ok_or("no break is under way to return from (it ended, or none started)")?,
            (None, false) => self.fresh_event_id(),
        };
        if !req.return_to_network && req.duration_ms.is_none() {
            return Err("a break needs --duration (seconds)".into());
        }
        let insert = SpliceInsert {
            event_id,
            out_of_network: !req.return_to_network,
            immediate: true,
            duration: req.duration_ms.map(|d| d.saturating_mul(90)),
            auto_return: req.duration_ms.is_some(),
            ..SpliceInsert::default()
        };
        let section = Bytes::from(scte35::splice_insert_section(&insert));
        let mut m = AdMarker::from_section(section, at_unix_ms, None)?;
        m.operator = true;
        if self.list.iter().any(|x| same_event(x, &m)) {
            return Err(format!(
                "splice event {event_id} was already signalled: give another --id"
            ));
        }
        self.add(m.clone(), &mut Vec::new());
        Ok(m)
    }

    /// The break under way at `t`: started at or before it, not yet returned from.
    pub(crate) fn open_at(&self, t: u64) -> Option<&AdMarker> {
        self.open_within(t, 0)
    }

    /// [`AdMarkers::open_at`], counting a break as under way `grace_ms` past its planned end
    /// (a return that comes when it was planned).
    pub(crate) fn open_within(&self, t: u64, grace_ms: u64) -> Option<&AdMarker> {
        self.list.iter().rev().find(|m| {
            m.signal == Signal::Out
                && m.start_unix_ms <= t
                && m.end_unix_ms()
                    .is_none_or(|e| t < e.saturating_add(grace_ms))
                && !self.list.iter().any(|r| {
                    r.signal == Signal::In
                        && r.event_id == m.event_id
                        && r.start_unix_ms >= m.start_unix_ms
                        && r.start_unix_ms <= t
                })
        })
    }

    fn fresh_event_id(&mut self) -> u32 {
        if self.next_event_id == 0 {
            self.next_event_id = 0x5350_0000; // "SP": apart from most encoders' counters
        }
        loop {
            let id = self.next_event_id;
            self.next_event_id = self.next_event_id.wrapping_add(1);
            if !self.list.iter().any(|m| m.event_id == id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests;
