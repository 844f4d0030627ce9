//! Low latency: each Representation of the live Period announces the segment after its newest
//! one before that segment is whole, so that low-latency players request it as soon as its
//! first chunk can arrive and receive its chunks as they come ([`GrowingObject`]).
//!
//! The announced segment is where the active input will push its next one: the path its
//! `@media` template gives for the number after the newest published (`$Number$`) at the time
//! the newest ends (`$Time$`), its duration taken to be the newest one's. It is announced only
//! while the Representation has published everything its input lists (caught up), the Period
//! follows the active input's current run, and the stream has not ended; otherwise, and when
//! the channel has no low-latency endpoint, nothing is. An announcement whose upload never
//! began is broken off when the output moves on (its waiting pullers answer 404).

use super::output::Output;
use super::period::{find_rep, OutRep, Pending};
use super::store::InputStore;
use crate::channel::config::InputRole;
use crate::media::growing::{GrowingObject, Progress};
use std::sync::Arc;

/// Whether `path` of `input` is the segment announced by a Representation of the newest Period.
pub(crate) fn is_announced(out: &Output, input: InputRole, path: &str) -> bool {
    announced_track(out, input, path).is_some()
}

/// The track (its output name) whose announced segment `input` uploads at `path`, if any.
pub(crate) fn announced_track<'a>(
    out: &'a Output,
    input: InputRole,
    path: &str,
) -> Option<&'a str> {
    let p = out.periods.back()?;
    p.reps()
        .find(|r| {
            r.pending
                .as_ref()
                .is_some_and(|x| x.role == input && x.path == path)
        })
        .map(|r| r.name.as_str())
}

/// How long the active input may be silent before it is down: the policy's timeout, or, when
/// it uploads its segments in `chunks` chunks (low latency: players hold about one segment of
/// buffer), three chunks, at least a second — chunks keep an input heard between segments.
pub(crate) fn failover_timeout_ms(params: &crate::media::MediaParams, chunks: usize) -> u64 {
    let policy = params.failover.timeout_ms(params.max_segment_ms);
    if chunks == 0 {
        return policy;
    }
    let chunk_ms = params.max_segment_ms / chunks as u64;
    policy.min(chunk_ms.saturating_mul(3).max(1_000))
}

/// What a Representation should announce: `(t, d, path)` of its next input segment, and
/// when its newest segment arrived (monotonic ms).
type Next = (u64, u64, String, u64);

/// Announces the next segment of every Representation of the live Period when `on`, and
/// withdraws what no longer holds. Returns whether any announcement changed.
pub(crate) fn announce(
    out: &mut Output,
    stores: &mut [InputStore; 2],
    active: Option<InputRole>,
    on: bool,
    now_mono: u64,
) -> bool {
    let mut changed = false;
    let last = out.periods.len().saturating_sub(1);
    let ended = out.ended;
    for (i, p) in out.periods.iter_mut().enumerate() {
        let role = p.source.role;
        let announcing = p.reps().any(|r| r.pending.is_some());
        let live = on && !ended && i == last && !p.closed && active == Some(role);
        if !live && !announcing {
            continue;
        }
        // What each Representation should announce, read from the input's listing first…
        let nexts: Vec<Vec<Option<Next>>> = {
            let store = &stores[role.index()];
            let p_in = store
                .mpd
                .as_ref()
                .filter(|_| live && store.run == p.source.run)
                .and_then(|m| m.mpd.periods.iter().find(|x| x.id == p.source.period));
            p.sets
                .iter()
                .enumerate()
                .map(|(ai, set)| {
                    set.reps
                        .iter()
                        .map(|rep| {
                            p_in.and_then(|p_in| find_rep(p_in, ai, &rep.src_id))
                                .and_then(|r_in| next_of(rep, r_in))
                        })
                        .collect()
                })
                .collect()
        };
        // …then announced, the growing objects made in the input's store.
        let store = &mut stores[role.index()];
        for (set, nexts) in p.sets.iter_mut().zip(nexts) {
            for (rep, next) in set.reps.iter_mut().zip(nexts) {
                changed |= set_pending(rep, next, role, store, now_mono);
            }
        }
    }
    // An announced number is taken: a Period opening later starts above it.
    let announced = out
        .periods
        .iter()
        .flat_map(|p| p.reps())
        .filter_map(|r| r.pending.as_ref().map(|x| x.number.saturating_add(1)))
        .max();
    if let Some(n) = announced {
        out.next_free = out.next_free.max(n);
    }
    changed
}

/// The next input segment of `rep`, when it has published all its input lists.
fn next_of(rep: &OutRep, r_in: &crate::dash::parse::RepresentationIn) -> Option<Next> {
    let newest = rep.segments.back().filter(|_| rep.caught_up)?;
    let t = newest.t.saturating_add(newest.d);
    let path = r_in.media_path(newest.in_number.saturating_add(1), t)?;
    Some((t, newest.d, path, newest.arrived_mono_ms))
}

/// Keeps, replaces or withdraws `rep`'s announcement; whether it changed.
fn set_pending(
    rep: &mut OutRep,
    next: Option<Next>,
    role: InputRole,
    store: &mut InputStore,
    now_mono: u64,
) -> bool {
    let keep = match (&rep.pending, &next) {
        (Some(p), Some((t, d, path, _))) => {
            p.number == rep.next_number
                && p.role == role
                && p.path == *path
                && (p.t, p.d) == (*t, *d)
                && p.object.progress() != Progress::Broken
        }
        (None, None) => true,
        _ => false,
    };
    if keep {
        return false;
    }
    if let Some(old) = rep.pending.take() {
        if old.object.progress() == Progress::Complete {
            rep.answered = Some((old.number, old.role, old.path.clone()));
        }
        withdraw(old, store);
    }
    if let Some((t, d, path, newest_arrived)) = next {
        // Already whole (pushed, not listed yet): announced complete — unless it is older than
        // the newest segment (a leftover of an earlier run under the same name).
        let whole = store
            .objects
            .get(&path)
            .filter(|o| o.arrived_mono_ms >= newest_arrived);
        let object = match whole {
            Some(o) => {
                let g = GrowingObject::new();
                g.complete(&o.body.bytes);
                Arc::new(g)
            }
            None => store.growing_at(&path, now_mono),
        };
        rep.pending = Some(Pending {
            number: rep.next_number,
            t,
            d,
            role,
            path,
            object,
        });
    }
    true
}

/// An announcement the output no longer makes: when no byte of it came, nobody will send it
/// under that name; its waiting pullers are told so.
fn withdraw(old: Pending, store: &mut InputStore) {
    if old.object.is_empty() && old.object.progress() == Progress::Arriving {
        if store
            .growing
            .get(&old.path)
            .is_some_and(|(g, _)| Arc::ptr_eq(g, &old.object))
        {
            store.growing.remove(&old.path);
        }
        old.object.break_off();
    }
}
