//! The origin's output timeline: Periods of Representations whose segments carry the origin's
//! own numbers and paths, filled from the active input's MPD and objects.
//!
//! # Periods
//! An output Period follows one Period of one run of one input (its [`Source`]). A new one
//! opens when the stream starts, when the encoder restarts or moves to its next Period, when an
//! init segment changes, and at a failover whose timelines do not line up. Its id is `p<n>`
//! with `n` its first segment number (unique, never reused).
//!
//! # Timing
//! `availabilityStartTime` (AST) is chosen once, when the first Period opens:
//! `AST = now − (media the Period published at once, from its time 0 to the end of its newest
//! segment)` (one segment's duration when the input starts), so that the availability time a
//! player computes (`AST + Period@start + (t − presentationTimeOffset) / timescale + d`) is
//! about when each segment actually reached the origin. A later Period starts at
//! `max(now − its published media − AST, end of the previous Period's media)`: a gap while no
//! input delivered is a gap in the presentation, and the live edge stays where the media is.
//! Within a Period, output time 0 is the input's presentation time of the segment that opened
//! it (the *anchor*), applied alike to every Representation, so audio and video keep the
//! encoder's sync: `presentationTimeOffset = input PTO + anchor`.
//!
//! # Numbers and paths
//! A Period's Representations number their segments from the stream-wide next free number,
//! consecutively (as `$Number$` with a `SegmentTimeline` requires). Paths are
//! `<rep>/init<k>.m4s` and `<rep>/<n>.m4s`, `<rep>` being `v0`, `a0`, `t0`… by content type.

use super::period::{
    advance_rep, deliverable, find_rep, out_set, ticks_to_ms_ceil, OutPeriod, OutRep, OutSeg,
    PerName, PublishCtx, Source, Step,
};
use super::store::InputStore;
use crate::channel::config::InputRole;
use crate::dash::mpd::ContentType;
use crate::dash::parse::PeriodIn;
use crate::dash::parse::SegmentIn;
use crate::media::StartAt;
use std::collections::{HashMap, VecDeque};

/// The whole output.
#[derive(Debug)]
pub(crate) struct Output {
    pub periods: VecDeque<OutPeriod>,
    /// `availabilityStartTime`, Unix ms, once the first segment is published.
    pub ast: Option<u64>,
    /// The next number no segment has had.
    pub next_free: u64,
    /// Where the next Period opening for a new source starts.
    pub start_at: StartAt,
    /// Init numbers and HLS sequence numbers per Representation name.
    names: PerName,
    /// Periods opened so far.
    opened: u64,
    /// The active input ended its stream and everything it listed is published.
    pub ended: bool,
}

impl Output {
    pub fn new(next_free: u64) -> Output {
        Output {
            periods: VecDeque::new(),
            ast: None,
            next_free,
            start_at: StartAt::First,
            names: PerName::default(),
            opened: 0,
            ended: false,
        }
    }

    /// Moves the hot segments and init segments of every Period into `promote`'s memory; how
    /// many moved.
    /// The window on the wall clock (Unix ms): where the first segment starts, where the
    /// newest ends.
    pub fn span_unix_ms(&self) -> Option<(u64, u64)> {
        let ast = self.ast?;
        let first = self.periods.front()?;
        let start = first
            .reps()
            .filter_map(|r| {
                let s = r.segments.front()?;
                let rel = s.t.saturating_sub(r.pto);
                Some(first.start_ms + rel.saturating_mul(1000) / u64::from(r.info.timescale.max(1)))
            })
            .min()?;
        let end = self.periods.back()?.end_ms();
        Some((ast.saturating_add(start), ast.saturating_add(end)))
    }

    pub fn promote_hot(
        &mut self,
        promote: &mut dyn FnMut(&bytes::Bytes) -> Option<crate::media::Body>,
    ) -> usize {
        let reps = self
            .periods
            .iter_mut()
            .flat_map(|p| p.sets.iter_mut())
            .flat_map(|s| s.reps.iter_mut());
        let mut moved = 0;
        for r in reps {
            let segments = r.segments.iter_mut().map(|s| &mut s.object);
            let init = r.init.iter_mut().map(|(_, o)| o);
            for o in segments.chain(init) {
                moved += usize::from(crate::media::object::promote_if_hot(o, promote));
            }
        }
        moved
    }

    /// Whether the presentation ends here: the active input ended its stream, everything it
    /// listed is published, and the channel ends with its encoder (`end_on_endlist`).
    pub fn presentation_ended(&self, end_on_endlist: bool) -> bool {
        self.ended && end_on_endlist
    }

    /// Publishes what the active input delivered. Returns whether the output changed.
    pub fn advance(&mut self, ctx: &mut PublishCtx<'_>) -> bool {
        let store = ctx.store;
        let Some(entry) = store.mpd.as_ref() else {
            return false;
        };
        let mpd = &entry.mpd;
        let mut changed = false;
        // Bounded: each turn opens a Period or ends the loop.
        for _ in 0..=mpd.periods.len().saturating_add(1) {
            let current = self
                .periods
                .back()
                .filter(|p| p.source.role == ctx.role && p.source.run == ctx.store.run);
            let Some(cur) = current else {
                // A new source: its first Period with something deliverable (its newest
                // segment after an unaligned failover).
                let start = self.start_at;
                let opened = match start {
                    StartAt::First => mpd.periods.iter().any(|p| self.open(p, start, None, ctx)),
                    StartAt::Last => mpd
                        .periods
                        .iter()
                        .rev()
                        .any(|p| self.open(p, start, None, ctx)),
                };
                if !opened {
                    break;
                }
                changed = true;
                continue;
            };
            let src = cur.source.clone();
            let cur_closed = cur.closed;
            let Some(pi) = mpd.periods.iter().position(|p| p.id == src.period) else {
                // The input moved on to a Period we do not follow yet.
                let next = mpd
                    .periods
                    .iter()
                    .find(|p| p.start_ms >= src.period_start_ms)
                    .or(mpd.periods.last());
                match next {
                    Some(p) if self.open(p, StartAt::First, None, ctx) => {
                        changed = true;
                        continue;
                    }
                    _ => break,
                }
            };
            let p_in = &mpd.periods[pi];
            if !cur_closed {
                let (c, init_changed) = self.advance_period(p_in, ctx);
                changed |= c;
                if init_changed {
                    if let Some(p) = self.periods.back_mut() {
                        p.closed = true;
                    }
                }
            }
            if self.periods.back().is_some_and(|p| p.closed) {
                // Reopen from the leader's next segment (its times are in the leader's ticks)
                // once it is deliverable; until then the closed Period holds.
                let from = self
                    .periods
                    .back()
                    .and_then(|p| p.reps().next())
                    .map(OutRep::resume_from);
                if self.open(p_in, StartAt::First, from, ctx) {
                    changed = true;
                    continue;
                }
                break;
            }
            let all_caught_up = self
                .periods
                .back()
                .is_some_and(|p| p.reps().all(|r| r.caught_up));
            let next = mpd.periods.get(pi + 1);
            // A Period whose last segments never come is left once the next one has had a
            // deliverable segment for a whole maximum segment duration.
            let give_up = next.is_some_and(|n| waited_long_enough(n, ctx));
            match next {
                Some(next) if all_caught_up || give_up => {
                    if self.open(next, StartAt::First, None, ctx) {
                        changed = true;
                        continue;
                    }
                    break;
                }
                _ => {
                    let ended = all_caught_up && !mpd.dynamic;
                    changed |= ended != self.ended;
                    self.ended = ended;
                    break;
                }
            }
        }
        changed
    }

    /// Publishes the next segments of every Representation of the current Period. Returns
    /// whether anything was published and whether a Representation's init segment changed.
    fn advance_period(&mut self, p_in: &PeriodIn, ctx: &mut PublishCtx<'_>) -> (bool, bool) {
        let Some(period) = self.periods.back_mut() else {
            return (false, false);
        };
        let mut changed = false;
        let mut init_changed = false;
        for (ai, set) in period.sets.iter_mut().enumerate() {
            let ct = set.segment_mime;
            for rep in &mut set.reps {
                let Some(r_in) = find_rep(p_in, ai, &rep.src_id) else {
                    continue;
                };
                let segs = ctx.store.segments(r_in);
                match advance_rep(rep, r_in, &segs, ct, &mut self.names, ctx) {
                    Step::Published(c) => changed |= c,
                    Step::InitChanged => init_changed = true,
                }
                self.next_free = self.next_free.max(rep.next_number);
            }
        }
        (changed, init_changed)
    }

    /// Opens a Period following `p_in` of the active input, starting at its first or newest
    /// deliverable segment (at or after `from`, if given). Returns false when nothing of it is
    /// deliverable yet.
    fn open(
        &mut self,
        p_in: &PeriodIn,
        start: StartAt,
        from: Option<u64>,
        ctx: &mut PublishCtx<'_>,
    ) -> bool {
        let Some(leader) = p_in
            .adaptation_sets
            .first()
            .and_then(|a| a.representations.first())
        else {
            return false;
        };
        let segs = ctx.store.segments(leader);
        let mut ok = segs
            .iter()
            .filter(|s| from.is_none_or(|f| s.t >= f) && deliverable(ctx.store, leader, s));
        let first = match start {
            StartAt::First => ok.next(),
            StartAt::Last => ok.next_back(),
        };
        let Some(first) = first else {
            return false;
        };
        let prev_end = self.periods.back().map_or(0, OutPeriod::end_ms);
        // The anchor as a fraction of a second kept in the leader's ticks, converted per
        // Representation.
        let anchor_ticks = first.t.saturating_sub(leader.presentation_time_offset);
        let number = self.next_free;
        let mut counts: HashMap<ContentType, u32> = HashMap::new();
        let sets = p_in
            .adaptation_sets
            .iter()
            .map(|a| out_set(a, leader.timescale, anchor_ticks, number, &mut counts))
            .collect();
        let seq = self.opened;
        self.opened = self.opened.saturating_add(1);
        self.periods.push_back(OutPeriod {
            id: format!("p{number}"),
            seq,
            start_ms: 0,
            closed: false,
            source: Source {
                role: ctx.role,
                run: ctx.store.run,
                period: p_in.id.clone(),
                period_start_ms: p_in.start_ms,
            },
            sets,
        });
        self.ended = false;
        self.advance_period(p_in, ctx);
        // Timing (module docs): what was just published is available now. From the newest
        // segment, not the first: an input listing several segments at once must not put
        // the live edge in the future for good.
        let published_ms = self.periods.back().map_or(0, OutPeriod::end_ms);
        let began = ctx.now.unix_ms.saturating_sub(published_ms);
        let first_ever = self.ast.is_none();
        let ast = *self.ast.get_or_insert(began);
        if let Some(p) = self.periods.back_mut().filter(|_| !first_ever) {
            p.start_ms = began.saturating_sub(ast).max(prev_end);
        }
        true
    }

    /// Makes the current Period follow `role` from now on (an aligned failover: same clock,
    /// same init segments, so the timeline goes on).
    pub fn rebind(&mut self, role: InputRole, store: &InputStore) {
        let Some(mpd) = store.mpd.as_ref().map(|m| &m.mpd) else {
            return;
        };
        let Some(period) = self.periods.back_mut() else {
            return;
        };
        let Some(p_in) = mpd.periods.last() else {
            return;
        };
        period.source = Source {
            role,
            run: store.run,
            period: p_in.id.clone(),
            period_start_ms: p_in.start_ms,
        };
        for (ai, set) in period.sets.iter_mut().enumerate() {
            let Some(a) = p_in.adaptation_sets.get(ai) else {
                continue;
            };
            for (ri, rep) in set.reps.iter_mut().enumerate() {
                if let Some(r) = a.representations.get(ri) {
                    rep.src_id = r.id.clone();
                }
            }
        }
    }

    /// Whether `store` (another input) can continue the current Period seamlessly: the same
    /// structure and init segments, and its leader lists at least two of the segment times
    /// the output already published (the same media clock), each pushed within half a segment
    /// of the published one (the same moment: an encoder running late by several segments on
    /// the same clock would put the live edge behind the availability times).
    pub fn aligned_with(&self, store: &InputStore) -> bool {
        let (Some(period), Some(mpd)) = (self.periods.back(), store.mpd.as_ref()) else {
            return false;
        };
        let Some(p_in) = mpd.mpd.periods.last() else {
            return false;
        };
        if p_in.adaptation_sets.len() != period.sets.len() {
            return false;
        }
        for (set, a) in period.sets.iter().zip(&p_in.adaptation_sets) {
            if a.representations.len() != set.reps.len() {
                return false;
            }
            for (rep, r) in set.reps.iter().zip(&a.representations) {
                let same_init = match (&rep.init, &r.init) {
                    (Some((_, o)), Some(path)) => store
                        .objects
                        .get(path)
                        .is_some_and(|x| x.body.bytes == o.body),
                    (None, None) => true,
                    _ => false,
                };
                if r.timescale != rep.info.timescale || !same_init {
                    return false;
                }
            }
        }
        let (Some(rep), Some(r)) = (
            period.sets.first().and_then(|s| s.reps.first()),
            p_in.adaptation_sets
                .first()
                .and_then(|a| a.representations.first()),
        ) else {
            return false;
        };
        let tol = u64::from(r.timescale / 25).max(1);
        let theirs = store.segments(r);
        let same = |o: &OutSeg, s: &SegmentIn| {
            let half_ms = ticks_to_ms_ceil(o.d, r.timescale) / 2;
            s.t.abs_diff(o.t) <= tol
                && s.d.abs_diff(o.d) <= tol.max(o.d / 20)
                && store
                    .objects
                    .get(&s.path)
                    .is_some_and(|x| x.arrived_mono_ms.abs_diff(o.arrived_mono_ms) <= half_ms)
        };
        let common = rep
            .segments
            .iter()
            .filter(|o| theirs.iter().any(|s| same(o, s)))
            .count();
        common >= 2
    }

    /// Withdraws, from the front of each Representation, segments their encoder deleted and
    /// no longer lists (never from the middle: the served timeline stays whole). A
    /// Representation of the newest Period keeps its newest segment, so that the MPD never
    /// goes back to an older Period's media.
    pub fn withdraw(&mut self, inputs: &[InputStore; 2]) -> bool {
        let mut changed = false;
        let last = self.periods.len().saturating_sub(1);
        for (i, p) in self.periods.iter_mut().enumerate() {
            let keep = usize::from(i == last);
            for set in &mut p.sets {
                for rep in &mut set.reps {
                    while rep.segments.len() > keep
                        && rep
                            .segments
                            .front()
                            .is_some_and(|s| inputs[s.role.index()].withdrawn(&s.path, s.gen))
                    {
                        rep.segments.pop_front();
                        changed = true;
                    }
                }
            }
        }
        changed | self.drop_empty_periods()
    }

    /// Keeps the window: drops segments that ended more than `window_ms` before the newest
    /// segment's end (a Representation of the newest Period keeps its newest segment).
    pub fn trim(&mut self, window_ms: u64) -> bool {
        let newest = self
            .periods
            .iter()
            .map(OutPeriod::end_ms)
            .max()
            .unwrap_or(0);
        let cut = newest.saturating_sub(window_ms);
        let mut changed = false;
        let last = self.periods.len().saturating_sub(1);
        for (i, p) in self.periods.iter_mut().enumerate() {
            let start = p.start_ms;
            let keep = usize::from(i == last);
            for set in &mut p.sets {
                for rep in &mut set.reps {
                    while let Some(s) = rep.segments.front().filter(|_| rep.segments.len() > keep) {
                        let end = start.saturating_add(ticks_to_ms_ceil(
                            s.t.saturating_add(s.d).saturating_sub(rep.pto),
                            rep.info.timescale,
                        ));
                        if end > cut || newest == 0 {
                            break;
                        }
                        rep.segments.pop_front();
                        changed = true;
                    }
                }
            }
        }
        changed | self.drop_empty_periods()
    }

    fn drop_empty_periods(&mut self) -> bool {
        let mut changed = false;
        while self.periods.len() > 1
            && self
                .periods
                .front()
                .is_some_and(|p| p.reps().all(|r| r.segments.is_empty()))
        {
            self.periods.pop_front();
            changed = true;
        }
        changed
    }
}

/// Whether the leader of `p` has a deliverable segment that arrived at least
/// `max_segment_ms` ago.
fn waited_long_enough(p: &PeriodIn, ctx: &PublishCtx<'_>) -> bool {
    let Some(leader) = p
        .adaptation_sets
        .first()
        .and_then(|a| a.representations.first())
    else {
        return false;
    };
    ctx.store.segments(leader).iter().any(|s| {
        deliverable(ctx.store, leader, s)
            && ctx.store.objects.get(&s.path).is_some_and(|o| {
                ctx.now.mono_ms.saturating_sub(o.arrived_mono_ms) >= ctx.max_segment_ms
            })
    })
}
