//! Input health and the failover decision, for every protocol (see `docs/failover.md` for the
//! operator's view).
//!
//! Each input's *leader* (HLS: the first variant of its master, else the first media playlist
//! by path; DASH: the first Representation of the first AdaptationSet of its last Period) is
//! followed segment by segment: when a segment is listed and its bytes are here, it is
//! *delivered*, at that `now` ([`Tracker::deliver`], called by the protocol's media). The log of deliveries (bounded by the
//! window, cleared when the encoder restarts) gives the three things the decision needs:
//! - **up/down**: an input is down once it delivered nothing for the timeout
//!   ([`FailoverPolicy::timeout_ms`]);
//! - **healthy**: up, and its last [`FailoverPolicy::healthy_segments`] deliveries were good
//!   (consecutive numbers, not overlong);
//! - **aligned** with the other input: the same numbers name the same moment (see
//!   [`logs_aligned`]).

use super::deliveries::{Delivery, DeliveryLog};
use crate::channel::config::InputRole;
use std::fmt;

/// Whether the output goes back to the preferred input once it is healthy again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Revert {
    /// Stay on the input that serves until it fails (equal preference).
    Never,
    /// Go back to the preferred input when that switch is seamless (the inputs are aligned):
    /// players never see it. Default.
    #[default]
    WhenAligned,
    /// Go back to the preferred input even when that costs a discontinuity.
    Always,
}

/// The failover policy of a channel. All counts are segments of the input's leader playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverPolicy {
    /// Timeout in percent of `max_segment_duration` (default 200: twice the longest segment,
    /// so one late segment never triggers a switch).
    pub timeout_pct: u32,
    /// Consecutive good segments before an input counts as healthy (default 3).
    pub healthy_segments: u32,
    /// The input [`Revert`] goes back to (default primary).
    pub preferred: InputRole,
    /// When to go back to `preferred`.
    pub revert: Revert,
    /// Consecutive good segments `preferred` must deliver before going back (default 5). Each
    /// failure of `preferred` after a switch back doubles it (up to 16×): a flapping input is
    /// left alone for longer and longer.
    pub revert_after_segments: u32,
}

impl Default for FailoverPolicy {
    fn default() -> FailoverPolicy {
        FailoverPolicy {
            timeout_pct: 200,
            healthy_segments: 3,
            preferred: InputRole::Primary,
            revert: Revert::WhenAligned,
            revert_after_segments: 5,
        }
    }
}

impl FailoverPolicy {
    /// How long the active input may deliver nothing before it counts as down:
    /// `max_segment_ms × timeout_pct / 100`, at least one second.
    pub fn timeout_ms(&self, max_segment_ms: u64) -> u64 {
        (max_segment_ms.saturating_mul(u64::from(self.timeout_pct)) / 100).max(1_000)
    }
}

/// Why the output changed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchReason {
    /// The first input to deliver goes on air.
    FirstInput,
    /// The active input delivered nothing for `silent_ms` (over the timeout) and the other one
    /// is healthy.
    ActiveSilent {
        /// Time since the active input's last delivery.
        silent_ms: u64,
    },
    /// The active input's encoder ended its stream (`EXT-X-ENDLIST`) while the other one goes
    /// on: a clean stop of one encoder is not the end of the channel.
    ActiveEnded,
    /// The preferred input has been healthy for `segments` consecutive segments.
    PreferredHealthy {
        /// Its good streak.
        segments: u32,
    },
}

impl fmt::Display for SwitchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchReason::FirstInput => f.write_str("first input to deliver"),
            SwitchReason::ActiveSilent { silent_ms } => {
                write!(f, "active input delivered no segment for {silent_ms} ms")
            }
            SwitchReason::ActiveEnded => f.write_str("active input ended its stream"),
            SwitchReason::PreferredHealthy { segments } => {
                write!(f, "preferred input healthy for {segments} segments")
            }
        }
    }
}

/// What happened to a channel's inputs (and its outputs' warnings), for the caller to log (see
/// [`super::Media::drain_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The input delivered a segment after being down (or for the first time).
    InputUp {
        /// Which.
        input: InputRole,
    },
    /// The input delivered nothing for the timeout.
    InputDown {
        /// Which.
        input: InputRole,
        /// Time since its last delivery.
        silent_ms: u64,
    },
    /// The input's encoder restarted (its numbering went back).
    InputRestarted {
        /// Which.
        input: InputRole,
    },
    /// The output now serves `to`.
    Switched {
        /// The input served before, if any.
        from: Option<InputRole>,
        /// The input served now.
        to: InputRole,
        /// Why.
        reason: SwitchReason,
        /// Seamless (no discontinuity: the inputs are aligned).
        aligned: bool,
    },
    /// An output could not use what the input sent (a segment that failed to repackage for
    /// `cmaf` endpoints, or an input they cannot repackage at all).
    OutputWarning {
        /// What happened, naming the segment or rendition.
        message: String,
    },
}

/// An input's health as shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Never delivered a segment.
    #[default]
    Never,
    /// Delivering, fewer than `healthy_segments` good ones in a row so far.
    Starting,
    /// Delivering, enough good segments in a row to take over.
    Healthy,
    /// Nothing delivered for the timeout.
    Down,
    /// Its encoder ended the stream (`EXT-X-ENDLIST`, a static MPD): done, not failing.
    Ended,
}

impl Health {
    /// `never`, `starting`, `healthy`, `down` or `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Never => "never",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Down => "down",
            Health::Ended => "ended",
        }
    }

    /// What an operator is told of an input: `Ended` once its encoder ended the stream,
    /// whatever the failover tracker still counts (it keeps deciding on the raw health).
    pub fn reported(self, ended: bool) -> Health {
        if ended {
            Health::Ended
        } else {
            self
        }
    }
}

/// What is followed of one input.
#[derive(Debug, Default)]
pub(crate) struct InputTrack {
    /// Deliveries of the leader playlist, bounded by the window.
    pub log: DeliveryLog,
    /// Path and number of the newest delivery.
    pub last: Option<(String, u64)>,
    pub last_at: Option<u64>,
    /// Good deliveries in a row.
    pub streak: u32,
    up: bool,
}

/// Health of both inputs, the revert penalty and the events not drained yet.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub inputs: [InputTrack; 2],
    /// Failovers away from the preferred input since it last served well.
    flaps: u32,
    events: Vec<MediaEvent>,
}

/// Events kept for a caller that never drains them.
const MAX_EVENTS: usize = 256;

impl Tracker {
    pub fn push(&mut self, e: MediaEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.remove(0);
        }
        self.events.push(e);
    }

    pub fn drain(&mut self) -> Vec<MediaEvent> {
        std::mem::take(&mut self.events)
    }

    /// The encoder of `input` restarted: its history says nothing about its new run.
    pub fn restarted(&mut self, input: InputRole) {
        let t = &mut self.inputs[input.index()];
        t.log.clear();
        t.last = None;
        t.streak = 0;
        self.push(MediaEvent::InputRestarted { input });
    }

    /// Records that `role` delivered segment `seq` of its leader `path` at `now_mono`.
    #[allow(clippy::too_many_arguments)]
    pub fn deliver(
        &mut self,
        role: InputRole,
        path: &str,
        seq: u64,
        duration_ms: u64,
        pdt_ms: Option<i64>,
        now_mono: u64,
        max_ok_ms: u64,
    ) {
        let t = &mut self.inputs[role.index()];
        let follows = matches!(&t.last, Some((p, s)) if p == path && s.checked_add(1) == Some(seq));
        let good = duration_ms <= max_ok_ms;
        t.streak = match (good, follows && t.up) {
            (false, _) => 0,
            (true, true) => t.streak.saturating_add(1),
            (true, false) => 1,
        };
        t.last = Some((path.to_string(), seq));
        t.last_at = Some(now_mono);
        t.log.insert(
            path,
            seq,
            Delivery {
                at_mono: now_mono,
                duration_ms,
                pdt_ms,
            },
        );
        if !t.up {
            t.up = true;
            self.push(MediaEvent::InputUp { input: role });
        }
    }

    /// `role`'s encoder is heard from between two segments (a chunk of an upload under way):
    /// an input that is up stays up while it is heard, however long its segments take.
    pub fn heard(&mut self, role: InputRole, now_mono: u64) {
        let t = &mut self.inputs[role.index()];
        if t.up {
            t.last_at = Some(t.last_at.map_or(now_mono, |a| a.max(now_mono)));
        }
    }

    /// Marks inputs silent for the timeout as down; drops log entries older than the window.
    pub fn age(&mut self, now_mono: u64, timeout_ms: u64, window_ms: u64) {
        for role in InputRole::ALL {
            let t = &mut self.inputs[role.index()];
            let silent = t.last_at.map(|a| now_mono.saturating_sub(a));
            if t.up && silent.is_some_and(|s| s >= timeout_ms) {
                t.up = false;
                t.streak = 0;
                let silent_ms = silent.unwrap_or(0);
                self.push(MediaEvent::InputDown {
                    input: role,
                    silent_ms,
                });
            }
            let t = &mut self.inputs[role.index()];
            t.log.expire(now_mono, window_ms);
        }
    }

    pub fn health(&self, role: InputRole, policy: &FailoverPolicy) -> Health {
        let t = &self.inputs[role.index()];
        match (t.last_at, t.up) {
            (None, _) => Health::Never,
            (Some(_), false) => Health::Down,
            (Some(_), true) if t.streak >= policy.healthy_segments.max(1) => Health::Healthy,
            (Some(_), true) => Health::Starting,
        }
    }

    pub fn silent_ms(&self, role: InputRole, now_mono: u64) -> Option<u64> {
        self.inputs[role.index()]
            .last_at
            .map(|a| now_mono.saturating_sub(a))
    }

    /// Good segments the preferred input needs in a row before the output goes back to it:
    /// `revert_after_segments`, doubled for each further failure of the preferred input since it
    /// last served well (up to 16×).
    pub fn revert_requirement(&self, policy: &FailoverPolicy) -> u32 {
        let doublings = self.flaps.saturating_sub(1).min(4);
        policy
            .revert_after_segments
            .max(policy.healthy_segments)
            .max(1)
            .saturating_mul(1 << doublings)
    }

    /// Bookkeeping of a switch from `from` to `to`.
    pub fn switched(&mut self, from: Option<InputRole>, policy: &FailoverPolicy) {
        if from == Some(policy.preferred) {
            self.flaps = self.flaps.saturating_add(1);
        }
    }

    /// While the preferred input serves, a run of twice the revert requirement forgives its
    /// earlier failures.
    pub fn served(&mut self, active: InputRole, policy: &FailoverPolicy) {
        if active == policy.preferred
            && self.inputs[active.index()].streak
                >= self.revert_requirement(policy).saturating_mul(2)
        {
            self.flaps = 0;
        }
    }
}

/// The delivery evidence of alignment: among the numbers of `path` both inputs delivered
/// (newest four), at least two, and for each
/// - durations within 5 % (at least 40 ms, one frame at 25 fps);
/// - with a wall-clock date on both (HLS `EXT-X-PROGRAM-DATE-TIME`): dates within half the
///   segment's duration; without: delivered within half the segment's duration of each other (a
///   numbering offset by `k` segments shows as `k` durations apart).
///
/// The protocol adds its own conditions (the same leader, the same renditions).
pub(crate) fn logs_aligned(tracks: &[InputTrack; 2], a: InputRole, path: &str) -> bool {
    let (la, lb) = (&tracks[a.index()].log, &tracks[a.other().index()].log);
    let common: Vec<(&Delivery, &Delivery)> = la
        .newest_first(path)
        .filter_map(|(seq, da)| lb.get(path, seq).map(|db| (da, db)))
        .take(4)
        .collect();
    common.len() >= 2 && common.iter().all(|(da, db)| same_moment(da, db))
}

/// What the failover decision needs to know of one input besides its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InputReadiness {
    /// It has something the output could go on air with (the first input to be so wins).
    pub can_start: bool,
    /// It could take over from the active input now (besides being healthy).
    pub can_take_over: bool,
    /// Its encoder ended the stream.
    pub ended: bool,
}

/// A switch the policy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Switch {
    /// The input served before, `None` when the first goes on air.
    pub from: Option<InputRole>,
    /// The input to serve.
    pub to: InputRole,
    /// Why.
    pub reason: SwitchReason,
    /// Whether the switch is seamless (`aligned(from)` said so).
    pub aligned: bool,
}

/// The failover decision, the same for every protocol: the first input able to start goes on
/// air (primary wins a tie); the active input is left when it is down or ended and the other is
/// healthy; the preferred input gets the output back after its revert requirement, when the
/// switch is seamless or the policy says always. `aligned(tracker, a)` tells whether the
/// active input `a` and the other one are aligned (asked only when a switch is considered). With no switch
/// the tracker's revert bookkeeping is updated.
pub(crate) fn decide(
    tracker: &mut Tracker,
    policy: &FailoverPolicy,
    active: Option<InputRole>,
    now_mono: u64,
    inputs: [InputReadiness; 2],
    aligned: impl Fn(&Tracker, InputRole) -> bool,
) -> Option<Switch> {
    let Some(a) = active else {
        let to = InputRole::ALL
            .into_iter()
            .find(|r| inputs[r.index()].can_start)?;
        return Some(Switch {
            from: None,
            to,
            reason: SwitchReason::FirstInput,
            aligned: false,
        });
    };
    let b = a.other();
    let a_down = matches!(tracker.health(a, policy), Health::Down | Health::Never);
    let standby = inputs[b.index()];
    let b_healthy =
        tracker.health(b, policy) == Health::Healthy && standby.can_take_over && !standby.ended;
    if (a_down || inputs[a.index()].ended) && b_healthy {
        let reason = match tracker.silent_ms(a, now_mono) {
            Some(_) if !a_down => SwitchReason::ActiveEnded,
            silent => SwitchReason::ActiveSilent {
                silent_ms: silent.unwrap_or(0),
            },
        };
        return Some(Switch {
            from: Some(a),
            to: b,
            reason,
            aligned: aligned(tracker, a),
        });
    }
    if b == policy.preferred && policy.revert != Revert::Never && b_healthy && !a_down {
        let segments = tracker.inputs[b.index()].streak;
        if segments >= tracker.revert_requirement(policy) {
            let aligned = aligned(tracker, a);
            if aligned || policy.revert == Revert::Always {
                return Some(Switch {
                    from: Some(a),
                    to: b,
                    reason: SwitchReason::PreferredHealthy { segments },
                    aligned,
                });
            }
        }
    }
    tracker.served(a, policy);
    None
}

fn same_moment(a: &Delivery, b: &Delivery) -> bool {
    let d = a.duration_ms.max(b.duration_ms);
    let dur_tol = (d / 20).max(40);
    if a.duration_ms.abs_diff(b.duration_ms) > dur_tol {
        return false;
    }
    let half = d / 2;
    match (a.pdt_ms, b.pdt_ms) {
        (Some(x), Some(y)) => x.abs_diff(y) <= half,
        _ => a.at_mono.abs_diff(b.at_mono) <= half,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_formula() {
        let p = FailoverPolicy::default();
        assert_eq!(p.timeout_ms(4_000), 8_000);
        assert_eq!(p.timeout_ms(100), 1_000);
        let p = FailoverPolicy {
            timeout_pct: 150,
            ..p
        };
        assert_eq!(p.timeout_ms(2_000), 3_000);
    }

    #[test]
    fn an_input_heard_between_segments_stays_up() {
        let p = FailoverPolicy::default();
        let mut t = Tracker::default();
        let primary = InputRole::Primary;
        // Not delivered yet: hearing it says nothing.
        t.heard(primary, 100);
        assert_eq!(t.health(primary, &p), Health::Never);
        t.deliver(primary, "v", 1, 2_000, None, 1_000, 2_500);
        // Chunks every 500 ms for 5 s, no segment: up all along with a 1.5 s timeout.
        for at in (1_500..6_000).step_by(500) {
            t.heard(primary, at);
            t.age(at, 1_500, 60_000);
            assert_ne!(t.health(primary, &p), Health::Down, "at {at}");
        }
        // Silent for the timeout: down, and hearing it again does not bring it back up
        // (only a delivered segment does).
        t.age(7_600, 1_500, 60_000);
        assert_eq!(t.health(primary, &p), Health::Down);
        t.heard(primary, 7_700);
        t.age(7_800, 1_500, 60_000);
        assert_eq!(t.health(primary, &p), Health::Down);
    }

    #[test]
    fn same_moment_rules() {
        let d = |at_mono, duration_ms, pdt_ms| Delivery {
            at_mono,
            duration_ms,
            pdt_ms,
        };
        assert!(same_moment(&d(0, 2000, None), &d(900, 2000, None)));
        assert!(!same_moment(&d(0, 2000, None), &d(1100, 2000, None)));
        assert!(!same_moment(&d(0, 2000, None), &d(0, 1800, None)));
        assert!(same_moment(&d(0, 2000, None), &d(0, 2040, None)));
        // Dates decide when both have them, whatever the delivery times.
        assert!(same_moment(
            &d(0, 2000, Some(5000)),
            &d(5000, 2000, Some(5300))
        ));
        assert!(!same_moment(
            &d(0, 2000, Some(5000)),
            &d(0, 2000, Some(7000))
        ));
    }
}
