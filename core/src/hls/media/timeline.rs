//! One rendition's output timeline: the cursor into the active input's media playlist, the
//! published window, and the rules that keep it a gapless, monotonic HLS playlist.
//!
//! Output numbering is gapless per rendition (a segment's number is `MEDIA-SEQUENCE` plus its
//! index, RFC 8216 §6.2.2), so the next published segment always gets `last + 1`. Renditions of
//! one input share one delta (`out = in + delta`) chosen when the input goes on air or its
//! encoder restarts; a rendition that must skip a segment (timed out, overlong) or starts late
//! keeps counting from its own last number, behind a discontinuity.
//!
//! A listed segment whose bytes have not arrived holds the rendition back for at most
//! `max_segment_duration`, or half of it once a later listed segment has been here that long
//! (encoders push in order: the missing PUT failed, e.g. during a network outage).

use super::store::InputStore;
use crate::hls::{MediaPlaylistIn, MediaPlaylistOut, SegmentOut};
use crate::media::object::{promote_if_hot, Body, EtagGen, InitEntry, MediaObject, SegmentEntry};
use crate::media::{StartAt, OVERLONG_TOLERANCE_MS};
use crate::time::Now;
use std::collections::VecDeque;
use std::sync::Arc;

/// Shared state of the active input while renditions advance.
pub(crate) struct AdvanceCtx<'a> {
    pub store: &'a InputStore,
    pub now: Now,
    pub max_segment_ms: u64,
    /// `out = in + delta`, chosen by the first rendition that starts after a reset.
    pub delta: &'a mut Option<i128>,
    /// Input sequence number the leader started at: other renditions start at or after it.
    pub start_in: &'a mut Option<u64>,
    pub start_at: StartAt,
    /// One more than the highest sequence number ever issued on this channel.
    pub next_free_out: &'a mut u64,
    pub etag: &'a mut EtagGen,
    pub warnings: &'a mut Vec<String>,
    pub refused: &'a mut u64,
    /// The rendition advancing is the one whose ad-marker tags count (the first listed: the
    /// others carry the same ones).
    pub collect_cues: bool,
    /// Ad-marker tags of the segments published: the tags, the segment's start, whether it
    /// had the encoder's own `EXT-X-PROGRAM-DATE-TIME`.
    pub cues: &'a mut Vec<PublishedCues>,
    /// The first PTS of the encoder's stream (its media sequence 0), for the WebVTT
    /// segments that have no `X-TIMESTAMP-MAP` ([`crate::hls::webvtt`]).
    pub stream_origin_pts: &'a mut Option<u64>,
}

/// The ad markers of one segment published.
#[derive(Debug)]
pub(crate) struct PublishedCues {
    /// The tags written before it in its playlist.
    pub tags: Vec<crate::ad_markers::hls_in::CueTag>,
    /// The SCTE-35 sections it carries (TS), with their offsets from its start.
    pub sections: crate::ad_markers::ts_in::TsCues,
    /// Its start, Unix ms.
    pub start_unix_ms: u64,
    /// Its duration, ms.
    pub duration_ms: u64,
    /// It had the encoder's own `EXT-X-PROGRAM-DATE-TIME`.
    pub encoder_clock: bool,
}

/// A published segment.
#[derive(Debug)]
pub(crate) struct OutSegment {
    pub entry: SegmentEntry,
    pub discontinuity: bool,
    pub pdt: Option<String>,
    pub init: Option<u64>,
}

/// One rendition.
#[derive(Debug)]
pub(crate) struct Rendition {
    pub name: String,
    /// Path of its media playlist inside the input.
    pub source: String,
    /// Listed by the active input's master (or no master): unlisted ones are hidden and empty.
    pub listed: bool,
    pub segments: VecDeque<OutSegment>,
    pub inits: VecDeque<InitEntry>,
    next_init_k: u64,
    total_ms: u64,
    pub disc_seq: u64,
    pub target_s: u64,
    pub independent: bool,
    /// The input ended its stream (`EXT-X-ENDLIST`) and everything it listed is published.
    pub ended: bool,
    /// Next input sequence number to publish; `None` = fresh (to be placed).
    next_in: Option<u64>,
    /// Next output sequence number; `None` until the first publish.
    next_out: Option<u64>,
    disc_pending: bool,
    has_published: bool,
    /// (input seq, since) of a listed segment whose bytes have not arrived.
    pending: Option<(u64, u64)>,
    /// Wall-clock end of the last segment published, Unix ms: the next one's start unless a
    /// break comes between them.
    next_start_unix_ms: Option<u64>,
}

impl Rendition {
    pub fn new(name: String, source: String) -> Rendition {
        Rendition {
            name,
            source,
            listed: true,
            segments: VecDeque::new(),
            inits: VecDeque::new(),
            next_init_k: 0,
            total_ms: 0,
            disc_seq: 0,
            target_s: 1,
            independent: false,
            ended: false,
            next_in: None,
            next_out: None,
            disc_pending: false,
            has_published: false,
            pending: None,
            next_start_unix_ms: None,
        }
    }

    /// A new delta is being chosen: place the cursor again, behind a discontinuity.
    pub fn reset(&mut self) {
        self.next_in = None;
        self.pending = None;
        self.disc_pending = self.next_out.is_some();
    }

    /// Empties the window (rendition no longer listed); numbering goes on from where it was.
    pub fn clear(&mut self) {
        while self.pop_front() {}
        self.pending = None;
        self.disc_pending = self.has_published;
    }

    fn pop_front(&mut self) -> bool {
        let Some(s) = self.segments.pop_front() else {
            return false;
        };
        self.total_ms = self.total_ms.saturating_sub(s.entry.duration_ms);
        if s.discontinuity {
            self.disc_seq = self.disc_seq.saturating_add(1);
        }
        self.prune_inits();
        true
    }

    fn prune_inits(&mut self) {
        let segments = &self.segments;
        self.inits
            .retain(|i| segments.iter().any(|s| s.init == Some(i.k)));
    }

    /// Drops from the front until the window fits `window_ms` (keeping at least one segment).
    pub fn trim(&mut self, window_ms: u64) -> bool {
        let mut changed = false;
        while self.total_ms > window_ms && self.segments.len() > 1 {
            changed |= self.pop_front();
        }
        changed
    }

    /// Publishes what the playlist allows; returns whether the output changed.
    pub fn advance(&mut self, pl: &MediaPlaylistIn, ctx: &mut AdvanceCtx<'_>) -> bool {
        let mut changed = false;
        self.independent = pl.independent_segments;
        let first = pl.media_sequence;
        let end = first.saturating_add(pl.segments.len() as u64);
        let seg_at = |i: u64| {
            i.checked_sub(first)
                .and_then(|o| usize::try_from(o).ok())
                .and_then(|o| pl.segments.get(o))
        };
        loop {
            let ni = match self.next_in {
                Some(n) => n,
                None => match self.place(pl, ctx) {
                    Some(n) => n,
                    None => break,
                },
            };
            if ni < first {
                // What we were waiting for slid out of the encoder's playlist.
                self.next_in = Some(first);
                self.disc_pending = true;
                self.pending = None;
                continue;
            }
            let Some(seg) = seg_at(ni).filter(|_| ni < end) else {
                self.pending = None;
                break;
            };
            if seg.duration_ms > ctx.max_segment_ms.saturating_add(OVERLONG_TOLERANCE_MS) {
                ctx.warnings.push(format!(
                    "refused segment {:?}: {} ms is longer than the channel's maximum of {} ms",
                    seg.uri, seg.duration_ms, ctx.max_segment_ms
                ));
                *ctx.refused = ctx.refused.saturating_add(1);
                self.skip(ni);
                continue;
            }
            let body = ctx.store.object(&seg.uri);
            let init = seg.map_uri.as_deref().map(|m| (m, ctx.store.object(m)));
            let (Some(body), None | Some((_, Some(_)))) = (body, init) else {
                let now = ctx.now.mono_ms;
                match self.pending {
                    Some((p, since)) if p == ni => {
                        let waited = now.saturating_sub(since);
                        // Encoders push in order: a later segment here for a while means this
                        // one's PUT failed (an outage), so waiting the full time only stalls.
                        let later = usize::try_from(ni - first).unwrap_or(usize::MAX);
                        let overtaken = pl
                            .segments
                            .iter()
                            .skip(later.saturating_add(1))
                            .filter(|s| ctx.store.has_segment(&s.uri, s.map_uri.as_deref()))
                            .filter_map(|s| ctx.store.objects.get(&s.uri))
                            .any(|o| {
                                now.saturating_sub(o.arrived_mono_ms) >= ctx.max_segment_ms / 2
                            });
                        if waited >= ctx.max_segment_ms || overtaken {
                            ctx.warnings.push(format!(
                                "skipped segment {:?}: listed but not received within {waited} ms",
                                seg.uri
                            ));
                            self.skip(ni);
                            continue;
                        }
                    }
                    _ => self.pending = Some((ni, now)),
                }
                break;
            };
            let init_k = match init {
                Some((m, Some(init))) => Some(self.init_for(m, init, ctx)),
                _ => None,
            };
            let (ext, _) = ext_of(&seg.uri);
            if ni == 0 && ext == "ts" && (ctx.collect_cues || ctx.stream_origin_pts.is_none()) {
                *ctx.stream_origin_pts = crate::ad_markers::ts_in::first_pts(&body.bytes);
            }
            let body = if crate::hls::webvtt::is_webvtt(ext) {
                crate::hls::webvtt::with_timestamp_map(body, *ctx.stream_origin_pts)
            } else {
                body.clone()
            };
            self.publish(seg, body, init_k, ctx);
            self.next_in = Some(ni.saturating_add(1));
            self.pending = None;
            changed = true;
        }
        let ended =
            pl.end_list && !self.segments.is_empty() && self.next_in.is_some_and(|n| n >= end);
        if ended != self.ended {
            self.ended = ended;
            changed = true;
        }
        changed
    }

    fn skip(&mut self, ni: u64) {
        self.next_in = Some(ni.saturating_add(1));
        self.disc_pending = true;
        self.pending = None;
    }

    /// Places a fresh cursor; fixes the input's delta when it is the first to do so.
    fn place(&mut self, pl: &MediaPlaylistIn, ctx: &mut AdvanceCtx<'_>) -> Option<u64> {
        let bound = ctx.start_in.unwrap_or(0);
        let listed = pl
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (pl.media_sequence.saturating_add(i as u64), s))
            .filter(|(n, _)| *n >= bound);
        let present = |(_, s): &(u64, &crate::hls::SegmentIn)| {
            ctx.store.has_segment(&s.uri, s.map_uri.as_deref())
        };
        let pick = if ctx.delta.is_none() && ctx.start_at == StartAt::Last {
            listed.clone().rfind(present)
        } else {
            listed.clone().find(present)
        };
        let start = pick.or_else(|| listed.clone().next()).map(|(n, _)| n)?;
        if ctx.delta.is_none() {
            *ctx.delta = Some(i128::from(*ctx.next_free_out) - i128::from(start));
            *ctx.start_in = Some(start);
        }
        if self.next_out.is_none() {
            let mapped = ctx
                .delta
                .and_then(|d| u64::try_from(i128::from(start) + d).ok())
                .unwrap_or(*ctx.next_free_out);
            // A rendition that never published may take any number: aligned with its peers.
            self.next_out = Some(mapped);
        }
        self.next_in = Some(start);
        Some(start)
    }

    /// The init number for this init content: the current one if the bytes are the same.
    fn init_for(&mut self, uri: &str, body: &Body, ctx: &mut AdvanceCtx<'_>) -> u64 {
        if let Some(cur) = self.inits.back() {
            if cur.object.body == body.bytes {
                return cur.k;
            }
        }
        let k = self.next_init_k;
        self.next_init_k = self.next_init_k.saturating_add(1);
        let (ext, content_type) = ext_of(uri);
        self.inits.push_back(InitEntry {
            k,
            ext,
            object: Arc::new(MediaObject::new(
                body.clone(),
                content_type,
                ctx.etag.next(),
                ctx.now.unix_ms,
            )),
        });
        k
    }

    fn publish(
        &mut self,
        seg: &crate::hls::SegmentIn,
        body: Body,
        init: Option<u64>,
        ctx: &mut AdvanceCtx<'_>,
    ) {
        let published_before = self.has_published;
        let seq = self.next_out.unwrap_or(*ctx.next_free_out);
        self.next_out = Some(seq.saturating_add(1));
        self.has_published = true;
        *ctx.next_free_out = (*ctx.next_free_out).max(seq.saturating_add(1));
        let break_before = seg.discontinuity || self.disc_pending || self.ended;
        let discontinuity = !self.segments.is_empty() && break_before;
        if self.segments.is_empty() && break_before && published_before {
            // The window was emptied (rendition unlisted): the break has no segment to sit
            // before, so it counts as one that already slid out.
            self.disc_seq = self.disc_seq.saturating_add(1);
        }
        self.disc_pending = false;
        self.ended = false;
        let start_unix_ms = self.stamp(seg, break_before, ctx.now);
        if ctx.collect_cues {
            let sections = if ext_of(&seg.uri).0 == "ts" {
                crate::ad_markers::ts_in::scan(&body.bytes)
            } else {
                Default::default()
            };
            if !seg.cues.is_empty()
                || !sections.sections.is_empty()
                || !sections.warnings.is_empty()
            {
                ctx.cues.push(PublishedCues {
                    tags: seg.cues.clone(),
                    sections,
                    start_unix_ms,
                    duration_ms: seg.duration_ms,
                    encoder_clock: seg.program_date_time.is_some(),
                });
            }
        }
        self.target_s = self.target_s.max(seg.duration_ms.div_ceil(1000)).max(1);
        self.total_ms = self.total_ms.saturating_add(seg.duration_ms);
        let (ext, content_type) = ext_of(&seg.uri);
        self.segments.push_back(OutSegment {
            entry: SegmentEntry {
                seq,
                ext,
                duration_ms: seg.duration_ms,
                start_unix_ms,
                init,
                object: Arc::new(MediaObject::new(
                    body,
                    content_type,
                    ctx.etag.next(),
                    ctx.now.unix_ms,
                )),
            },
            discontinuity,
            pdt: seg.program_date_time.clone(),
            init,
        });
    }

    /// The wall-clock start of `seg`, published now: the encoder's `EXT-X-PROGRAM-DATE-TIME`
    /// when it has one; else where the segment before it ended, so the rendition's clock runs
    /// with its durations; after a break (or for the first segment), when it arrived less its
    /// duration, never before what was already published. The next start follows from it.
    fn stamp(&mut self, seg: &crate::hls::SegmentIn, break_before: bool, now: Now) -> u64 {
        let encoder = seg
            .program_date_time
            .as_deref()
            .and_then(crate::time::parse_rfc3339_ms)
            .and_then(|ms| u64::try_from(ms).ok());
        let start = match (encoder, self.next_start_unix_ms) {
            (Some(ms), _) => ms,
            (None, Some(next)) if !break_before => next,
            (None, prev) => now
                .unix_ms
                .saturating_sub(seg.duration_ms)
                .max(prev.unwrap_or(0)),
        };
        self.next_start_unix_ms = Some(start.saturating_add(seg.duration_ms));
        start
    }

    /// Moves its hot segments and init segments into `promote`'s memory; how many moved.
    pub fn promote_hot(&mut self, promote: &mut dyn FnMut(&bytes::Bytes) -> Option<Body>) -> usize {
        let segments = self.segments.iter_mut().map(|s| &mut s.entry.object);
        let inits = self.inits.iter_mut().map(|i| &mut i.object);
        segments
            .chain(inits)
            .map(|o| usize::from(promote_if_hot(o, promote)))
            .sum()
    }

    /// Whether the output ends here: the input ended its stream, everything it listed is
    /// published, and the channel ends with its encoder (`end_on_endlist`).
    pub fn output_ended(&self, end_on_endlist: bool) -> bool {
        self.ended && end_on_endlist
    }

    /// The playlist to render, URIs prefixed with `prefix`; `EXT-X-ENDLIST` only when the
    /// output ended ([`Rendition::output_ended`]).
    pub fn playlist<'a>(&'a self, prefix: &'a str, end_on_endlist: bool) -> MediaPlaylistOut<'a> {
        let init_ext = |k: u64| {
            self.inits
                .iter()
                .find(|i| i.k == k)
                .map_or("mp4", |i| i.ext)
        };
        MediaPlaylistOut {
            target_duration_s: self.target_s,
            media_sequence: self.segments.front().map_or(0, |s| s.entry.seq),
            discontinuity_sequence: self.disc_seq,
            independent_segments: self.independent,
            end_list: self.output_ended(end_on_endlist),
            uri_prefix: prefix,
            segments: self
                .segments
                .iter()
                .map(|s| SegmentOut {
                    seq: s.entry.seq,
                    ext: s.entry.ext,
                    duration_ms: s.entry.duration_ms,
                    discontinuity: s.discontinuity,
                    program_date_time: s.pdt.as_deref(),
                    start_unix_ms: Some(s.entry.start_unix_ms),
                    init: s.init.map(|k| (k, init_ext(k))),
                })
                .collect(),
        }
    }
}

/// Canonical extension and content type of a stored object's path (the store only holds
/// objects whose extension was accepted, so the fallback is never used in practice).
fn ext_of(path: &str) -> (&'static str, &'static str) {
    match crate::hls::classify(path) {
        Ok(crate::hls::ObjectKind::Media { ext, content_type }) => (ext, content_type),
        _ => ("bin", "application/octet-stream"),
    }
}
