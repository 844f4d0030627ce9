//! The pieces of the output timeline: Periods, AdaptationSets and Representations with the
//! segments published so far, and how one Representation takes its next segments from the
//! active input's listing (see [`super::output`] for the policies).

use super::store::InputStore;
use crate::channel::config::InputRole;
use crate::dash::mpd::ContentType;
use crate::dash::parse::{AdaptationSetIn, PeriodIn, RepresentationIn, SegmentIn, SegmentsIn};
use crate::media::growing::GrowingObject;
use crate::media::object::{EtagGen, MediaObject};
use crate::media::Body;
use crate::media::OVERLONG_TOLERANCE_MS;
use crate::time::{rescale, Now};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What an output Period follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub role: InputRole,
    pub run: u64,
    /// The input Period's id and start.
    pub period: String,
    pub period_start_ms: u64,
}

/// Counters kept per Representation name (`v0`) across Periods.
#[derive(Debug, Default)]
pub(crate) struct PerName {
    /// Its last init number.
    pub init_k: HashMap<String, u64>,
    /// HLS (cmaf endpoints): the Media Sequence Number of its next segment, consecutive across
    /// Periods whatever the DASH numbers do.
    pub next_msn: HashMap<String, u64>,
}

/// One published segment.
#[derive(Debug, Clone)]
pub(crate) struct OutSeg {
    pub number: u64,
    /// Its HLS Media Sequence Number (cmaf endpoints).
    pub msn: u64,
    /// Its number in the input (`$Number$`).
    pub in_number: u64,
    /// Media time and duration, ticks (the input's clock).
    pub t: u64,
    pub d: u64,
    pub object: Arc<MediaObject>,
    /// Where it came from, to honour the encoder's DELETE.
    pub role: InputRole,
    pub path: String,
    pub gen: u64,
    /// When its bytes reached the origin (monotonic ms): alignment evidence.
    pub arrived_mono_ms: u64,
    /// Its chunks, when it was uploaded a chunk at a time (LL-HLS parts).
    pub chunked: Option<Arc<GrowingObject>>,
    /// Its path below the endpoint (`v0/12.m4s`), made once: HLS playlists list it in every
    /// render.
    pub uri: Arc<str>,
}

/// The segment announced after a Representation's newest.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// Its output number (the Representation's next).
    pub number: u64,
    /// Media time and (expected) duration, ticks.
    pub t: u64,
    pub d: u64,
    /// Where the active input pushes it.
    pub role: InputRole,
    pub path: String,
    /// Its bytes as they arrive.
    pub object: Arc<GrowingObject>,
}

/// Where a Representation's next segment is in the input listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// The first segment that ends after this time (ticks): where a Period opens.
    Overlapping(u64),
    /// The first segment starting after this time (the last one consumed).
    After(u64),
}

impl Cursor {
    fn wants(self, s: &SegmentIn) -> bool {
        match self {
            Cursor::Overlapping(a) => s.t.saturating_add(s.d) > a,
            Cursor::After(x) => s.t > x,
        }
    }
}

/// A Representation of an output Period.
#[derive(Debug)]
pub(crate) struct OutRep {
    /// Path folder (`v0`).
    pub name: String,
    /// The input Representation's id.
    pub src_id: String,
    pub info: RepresentationIn,
    /// Output `presentationTimeOffset`.
    pub pto: u64,
    /// `(k, object)` once its init segment is here.
    pub init: Option<(u64, Arc<MediaObject>)>,
    pub segments: VecDeque<OutSeg>,
    pub next_number: u64,
    cursor: Cursor,
    /// Published everything its input lists.
    pub caught_up: bool,
    /// Low latency: the segment announced after its newest ([`super::pending`]).
    pub pending: Option<Pending>,
    /// Low latency: the last announced number answered whole, with the upload it held (input
    /// and path): that number may carry nothing else.
    pub answered: Option<(u64, InputRole, String)>,
}

impl OutRep {
    /// The earliest input time (ticks) its next segment may start at: where a Period
    /// reopening after it resumes.
    pub fn resume_from(&self) -> u64 {
        match self.cursor {
            Cursor::Overlapping(a) => a,
            Cursor::After(x) => x.saturating_add(1),
        }
    }

    /// `startNumber`: the first segment's number.
    pub fn start_number(&self) -> u64 {
        self.segments.front().map_or(self.next_number, |s| s.number)
    }
}

/// An AdaptationSet of an output Period.
#[derive(Debug)]
pub(crate) struct OutSet {
    pub content_type: ContentType,
    pub mime_type: String,
    pub lang: Option<String>,
    /// `Content-Type` of its segments.
    pub segment_mime: &'static str,
    pub reps: Vec<OutRep>,
}

/// 2020-01-01T00:00:00Z, Unix ms.
const NUMBER_EPOCH_UNIX_MS: u64 = 1_577_836_800_000;

/// The first output segment number of a channel media created at `now`: half-seconds since
/// 2020. `startNumber` is an `xs:unsignedInt` and ffmpeg's DASH reader keeps `$Number$` in a
/// signed 32-bit int, so numbers must stay below 2³¹: this seed does until 2053. Segments are
/// never shorter than half a second on average, so a restarted daemon starts above every
/// number it served before (as the HLS side's `unix_ms / 100` does for its 64-bit numbers).
pub fn first_number(now: crate::time::Now) -> u64 {
    now.unix_ms.saturating_sub(NUMBER_EPOCH_UNIX_MS) / 500
}

/// An output Period.
#[derive(Debug)]
pub(crate) struct OutPeriod {
    pub id: String,
    /// How many Periods opened before it (HLS: its discontinuity sequence number).
    pub seq: u64,
    pub start_ms: u64,
    /// An init segment changed: nothing more is published in it.
    pub closed: bool,
    pub source: Source,
    pub sets: Vec<OutSet>,
}

impl OutPeriod {
    pub fn reps(&self) -> impl Iterator<Item = &OutRep> {
        self.sets.iter().flat_map(|s| s.reps.iter())
    }

    /// End of its media, ms on the MPD's clock (0 when empty).
    pub fn end_ms(&self) -> u64 {
        self.reps()
            .filter_map(|r| r.segments.back().map(|s| self.seg_end_ms(r, s)))
            .max()
            .unwrap_or(self.start_ms)
    }

    /// End of segment `s` of `r`, ms on the MPD's clock.
    pub fn seg_end_ms(&self, r: &OutRep, s: &OutSeg) -> u64 {
        let rel = s.t.saturating_add(s.d).saturating_sub(r.pto);
        self.start_ms
            .saturating_add(ticks_to_ms_ceil(rel, r.info.timescale))
    }
}

/// What advancing needs besides the output.
pub(crate) struct PublishCtx<'a> {
    pub store: &'a InputStore,
    pub role: InputRole,
    pub now: Now,
    pub max_segment_ms: u64,
    pub etag: &'a mut EtagGen,
    pub warnings: &'a mut Vec<String>,
    pub refused: &'a mut u64,
}

/// The input Representation an output one follows: by id in the same AdaptationSet position.
pub(crate) fn find_rep<'a>(p: &'a PeriodIn, ai: usize, id: &str) -> Option<&'a RepresentationIn> {
    p.adaptation_sets
        .get(ai)
        .and_then(|a| a.representations.iter().find(|r| r.id == id))
}

pub(crate) fn out_set(
    a: &AdaptationSetIn,
    leader_timescale: u32,
    anchor_ticks: u64,
    number: u64,
    counts: &mut HashMap<ContentType, u32>,
) -> OutSet {
    let (prefix, fallback_mime) = match a.content_type {
        ContentType::Video => ("v", "video/mp4"),
        ContentType::Audio => ("a", "audio/mp4"),
        ContentType::Text => ("t", "application/mp4"),
    };
    let mime_type = if a.mime_type.is_empty() {
        fallback_mime.to_string()
    } else {
        a.mime_type.clone()
    };
    let reps = a
        .representations
        .iter()
        .map(|r| {
            let n = counts.entry(a.content_type).or_insert(0);
            let name = format!("{prefix}{n}");
            *n = n.saturating_add(1);
            // The anchor in this Representation's ticks.
            let anchor = rescale(anchor_ticks, leader_timescale, r.timescale);
            let pto = r.presentation_time_offset.saturating_add(anchor);
            OutRep {
                name,
                src_id: r.id.clone(),
                // Attributes only: the listing is read from the input each time.
                info: RepresentationIn {
                    segments: SegmentsIn::Listed(Vec::new()),
                    ..r.clone()
                },
                pto,
                init: None,
                segments: VecDeque::new(),
                next_number: number,
                cursor: Cursor::Overlapping(pto),
                caught_up: false,
                pending: None,
                answered: None,
            }
        })
        .collect();
    OutSet {
        content_type: a.content_type,
        segment_mime: static_mime(&mime_type, a.content_type),
        mime_type,
        lang: a.lang.clone(),
        reps,
    }
}

/// What one Representation's step did.
pub(crate) enum Step {
    /// Whether it published anything.
    Published(bool),
    /// Its init segment's bytes changed, or its next number was announced with other bytes
    /// than its next segment's (low latency): the Period cannot go on.
    InitChanged,
}

/// Whether segment `s` of `rep` can be published: its bytes and its init segment are here.
pub(crate) fn deliverable(store: &InputStore, rep: &RepresentationIn, s: &SegmentIn) -> bool {
    store.objects.contains_key(&s.path)
        && rep
            .init
            .as_ref()
            .is_none_or(|i| store.objects.contains_key(i))
}

pub(crate) fn advance_rep(
    rep: &mut OutRep,
    r_in: &RepresentationIn,
    segs: &[SegmentIn],
    content_type: &'static str,
    names: &mut PerName,
    ctx: &mut PublishCtx<'_>,
) -> Step {
    let store = ctx.store;
    let mut changed = false;
    let max_ok = ctx.max_segment_ms.saturating_add(OVERLONG_TOLERANCE_MS);
    loop {
        let Some(i) = segs.iter().position(|s| rep.cursor.wants(s)) else {
            rep.caught_up = true;
            return Step::Published(changed);
        };
        rep.caught_up = false;
        let s = &segs[i];
        let Some(obj) = store.objects.get(&s.path) else {
            // Missing while a later one has been here for this one's duration: it is not
            // coming (an encoder pushes a Representation's segments in order). At the start of
            // a Period there is nothing to keep continuous: no wait (ffmpeg names the first AAC
            // segment with its negative time, `-1024`, and lists it at 0: that file never comes).
            let wait_ms = if rep.segments.is_empty() {
                0
            } else {
                ticks_to_ms_ceil(s.d, r_in.timescale).min(ctx.max_segment_ms)
            };
            let later_here = segs[i + 1..].iter().any(|l| {
                store
                    .objects
                    .get(&l.path)
                    .is_some_and(|o| ctx.now.mono_ms.saturating_sub(o.arrived_mono_ms) >= wait_ms)
            });
            if later_here {
                rep.cursor = Cursor::After(s.t);
                continue;
            }
            return Step::Published(changed);
        };
        let init = match &r_in.init {
            Some(p) => match store.objects.get(p) {
                Some(o) => Some(o),
                None => return Step::Published(changed),
            },
            None => None,
        };
        match (&rep.init, init) {
            (Some((_, have)), Some(new)) if have.body != new.body.bytes => {
                return Step::InitChanged;
            }
            (None, Some(new)) => {
                let k = names.init_k.entry(rep.name.clone()).or_insert(0);
                *k = k.saturating_add(1);
                let object = media_object(&new.body, content_type, ctx);
                rep.init = Some((*k, object));
            }
            _ => {}
        }
        let d_ms = ticks_to_ms_ceil(s.d, r_in.timescale);
        rep.cursor = Cursor::After(s.t);
        if d_ms > max_ok {
            *ctx.refused = ctx.refused.saturating_add(1);
            ctx.warnings.push(format!(
                "segment {} lasts {d_ms} ms, over the channel's maximum of {} ms: refused",
                s.path, ctx.max_segment_ms
            ));
            continue;
        }
        // Low latency: the number this segment would take was announced, and another upload was
        // answered whole under it. A URL never carries two bodies: a new Period, from a number
        // above it. (An answer cut short by a broken upload was never whole for anyone.)
        let whole = rep
            .pending
            .as_ref()
            .filter(|p| p.object.progress() == crate::media::growing::Progress::Complete)
            .map(|p| (p.number, p.role, p.path.as_str()));
        let answered = rep.answered.as_ref().map(|(n, r, p)| (*n, *r, p.as_str()));
        let announced_other = whole
            .into_iter()
            .chain(answered)
            .any(|(n, role, path)| n == rep.next_number && (path != s.path || role != ctx.role));
        if announced_other {
            rep.cursor = Cursor::After(s.t.saturating_sub(1));
            return Step::InitChanged;
        }
        let object = media_object(&obj.body, content_type, ctx);
        let next_msn = names
            .next_msn
            .entry(rep.name.clone())
            .or_insert(rep.next_number);
        let msn = *next_msn;
        *next_msn = msn.saturating_add(1);
        let uri: Arc<str> = format!("{}/{}.m4s", rep.name, rep.next_number).into();
        rep.segments.push_back(OutSeg {
            uri,
            number: rep.next_number,
            msn,
            in_number: s.number,
            t: s.t,
            d: s.d,
            object,
            role: ctx.role,
            path: s.path.clone(),
            gen: obj.gen,
            arrived_mono_ms: obj.arrived_mono_ms,
            chunked: obj.chunked.clone(),
        });
        rep.next_number = rep.next_number.saturating_add(1);
        changed = true;
    }
}

fn media_object(
    body: &Body,
    content_type: &'static str,
    ctx: &mut PublishCtx<'_>,
) -> Arc<MediaObject> {
    Arc::new(MediaObject::new(
        body.clone(),
        content_type,
        ctx.etag.next(),
        ctx.now.unix_ms,
    ))
}

/// The `Content-Type` of a set's segments.
fn static_mime(mime: &str, ct: ContentType) -> &'static str {
    match mime {
        "video/mp4" => "video/mp4",
        "audio/mp4" => "audio/mp4",
        "application/mp4" => "application/mp4",
        "video/webm" => "video/webm",
        "audio/webm" => "audio/webm",
        _ => match ct {
            ContentType::Video => "video/mp4",
            ContentType::Audio => "audio/mp4",
            ContentType::Text => "application/mp4",
        },
    }
}

/// `ticks / timescale` in ms, rounded up.
pub(crate) fn ticks_to_ms_ceil(ticks: u64, timescale: u32) -> u64 {
    let ts = u128::from(timescale.max(1));
    let ms = (u128::from(ticks) * 1000).div_ceil(ts);
    u64::try_from(ms).unwrap_or(u64::MAX)
}
