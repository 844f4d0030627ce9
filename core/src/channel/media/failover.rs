//! Input health and the failover decision (see `docs/failover.md` for the operator's view).
//!
//! Each input's *leader* media playlist (the first variant of its master, else the first media
//! playlist by path) is followed segment by segment: when a sequence number is listed and its
//! bytes are here, it is *delivered*, at that `now`. The log of deliveries (bounded by the
//! window, cleared when the encoder restarts) gives the three things the decision needs:
//! - **up/down**: an input is down once it delivered nothing for the timeout
//!   ([`FailoverPolicy::timeout_ms`]);
//! - **healthy**: up, and its last [`FailoverPolicy::healthy_segments`] deliveries were good
//!   (consecutive numbers, not overlong);
//! - **aligned** with the other input: the same numbers name the same moment (see [`aligned`]).

use super::deliveries::{Delivery, DeliveryLog};
use super::store::InputStore;
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

/// What happened to a channel's inputs, for the caller to log (see
/// [`super::ChannelMedia::drain_events`]).
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
    last: Option<(String, u64)>,
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

/// The path whose deliveries stand for the input: its master's first variant, else its first
/// current media playlist.
pub(crate) fn leader_path(store: &InputStore) -> Option<&str> {
    match &store.master {
        Some(m) => m
            .variants
            .iter()
            .map(|v| v.uri.as_str())
            .find(|u| store.current_media(u).is_some()),
        None => store
            .media
            .iter()
            .find(|(_, e)| e.epoch == store.epoch)
            .map(|(p, _)| p.as_str()),
    }
}

/// Whether the input's leader playlist ended (`EXT-X-ENDLIST`).
pub(crate) fn ended(store: &InputStore) -> bool {
    leader_path(store)
        .and_then(|p| store.current_media(p))
        .is_some_and(|pl| pl.end_list)
}

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

    /// Records new deliveries of each input's leader playlist.
    pub fn observe(&mut self, stores: &[InputStore; 2], now_mono: u64, max_ok_ms: u64) {
        for role in InputRole::ALL {
            let store = &stores[role.index()];
            let Some(path) = leader_path(store) else {
                continue;
            };
            let Some(pl) = store.current_media(path) else {
                continue;
            };
            let mut pdt: Option<i64> = None;
            let mut fresh = Vec::new();
            for (i, seg) in pl.segments.iter().enumerate() {
                let seq = pl.media_sequence.saturating_add(i as u64);
                pdt = match seg.program_date_time.as_deref().and_then(parse_pdt_ms) {
                    Some(p) => Some(p),
                    None => pdt,
                };
                let this_pdt = pdt;
                pdt = pdt.map(|p| p.saturating_add(i64::try_from(seg.duration_ms).unwrap_or(0)));
                let t = &self.inputs[role.index()];
                // Newer: a higher number, or bytes pushed after the last delivery (an encoder
                // that restarted after its old playlist was forgotten numbers from 0 again).
                let newer = !t.log.contains(path, seq)
                    && (match &t.last {
                        Some((p, s)) if p == path => seq > *s,
                        _ => true,
                    } || store
                        .objects
                        .get(&seg.uri)
                        .is_some_and(|o| t.last_at.is_some_and(|l| o.arrived_mono_ms > l)));
                // A listed segment still missing is not waited for: if a later one is here,
                // the gap breaks the streak; arriving late, it is older than the last and ignored.
                if newer && store.has_segment(&seg.uri, seg.map_uri.as_deref()) {
                    fresh.push((seq, seg.duration_ms, this_pdt));
                }
            }
            for (seq, duration_ms, pdt_ms) in fresh {
                self.deliver(role, path, seq, duration_ms, pdt_ms, now_mono, max_ok_ms);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn deliver(
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

/// Whether `a` and `b` number the same moments alike, so that the output can go on from `a`'s
/// segment `n` to `b`'s segment `n + 1` without a discontinuity.
///
/// Evidence, on the leader playlist (the same path on both inputs, `renditions` all present on
/// `b`): among the sequence numbers both delivered (newest four), at least two, and for each
/// - durations within 5 % (at least 40 ms, one frame at 25 fps);
/// - with `EXT-X-PROGRAM-DATE-TIME` on both: dates within half the segment's duration;
///   without: delivered within half the segment's duration of each other (a numbering offset by
///   `k` segments shows as `k` durations apart).
pub(crate) fn aligned(
    tracks: &[InputTrack; 2],
    stores: &[InputStore; 2],
    a: InputRole,
    renditions: &[&str],
) -> bool {
    let b = a.other();
    let (sa, sb) = (&stores[a.index()], &stores[b.index()]);
    let Some(path) = leader_path(sa) else {
        return false;
    };
    if leader_path(sb) != Some(path)
        || sa.master.is_some() != sb.master.is_some()
        || renditions.iter().any(|r| sb.current_media(r).is_none())
    {
        return false;
    }
    let (la, lb) = (&tracks[a.index()].log, &tracks[b.index()].log);
    let common: Vec<(&Delivery, &Delivery)> = la
        .newest_first(path)
        .filter_map(|(seq, da)| lb.get(path, seq).map(|db| (da, db)))
        .take(4)
        .collect();
    common.len() >= 2 && common.iter().all(|(da, db)| same_moment(da, db))
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

/// Parses an `EXT-X-PROGRAM-DATE-TIME` (ISO 8601 with a time zone) into Unix milliseconds.
pub(crate) fn parse_pdt_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = digits.parse().ok()?;
    }
    let offset_min = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = s.get(i + 1..)?.replace(':', "");
            let oh: i64 = rest.get(0..2)?.parse().ok()?;
            let om: i64 = rest.get(2..4).map_or(Some(0), |m| m.parse().ok())?;
            let m = oh * 60 + om;
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn pdt_parses_with_zones_and_fractions() {
        assert_eq!(parse_pdt_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_pdt_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_pdt_ms("2023-11-14T22:13:20.000+0000"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_pdt_ms("2023-11-14T23:13:20.123+01:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_pdt_ms("2023-11-14T21:13:20.123456-01"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_pdt_ms("2023-13-14T21:13:20Z"), None);
        assert_eq!(parse_pdt_ms("yesterday"), None);
        assert_eq!(parse_pdt_ms("2023-11-14T21:13:20?"), None);
    }

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
