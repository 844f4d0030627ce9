//! Failover scenarios: two model encoders cut the same source into numbered 2 s segments and
//! push them to the primary and the backup input; the tests read what a player would read.
//! Each segment's bytes name the input and the encoder's number (`P:7`), so the output's content
//! order can be checked: inside a run without `EXT-X-DISCONTINUITY` the numbers follow each
//! other (no gap, no repeat), always.

use super::tests::{at, check, T0_UNIX};
use super::*;
use crate::channel::config::InputRole::{Backup, Primary};
use crate::media::{FailoverPolicy, Health, Revert, SwitchReason};
use bytes::Bytes;
use proptest::prelude::*;

const SEG_MS: u64 = 2_000;
const LIST: u64 = 6;

fn params(policy: FailoverPolicy) -> MediaParams {
    MediaParams {
        max_segment_ms: 4_000,
        window_ms: 20_000,
        failover: policy,
        cmaf: false,
        end_on_endlist: false,
        timeshift: false,
        encrypted: false,
        low_latency: false,
    }
}

/// One encoder: its tag, its run (file names change on restart) and where its numbering starts.
#[derive(Clone, Copy)]
struct Enc {
    input: InputRole,
    tag: &'static str,
    /// Encoder number `n` is source segment `n + offset` (0 for aligned encoders).
    run: u32,
    /// Tag segments with `EXT-X-PROGRAM-DATE-TIME` (source time + `pdt_skew_ms`).
    pdt: bool,
    pdt_skew_ms: i64,
}

impl Enc {
    fn new(input: InputRole) -> Enc {
        Enc {
            input,
            tag: if input == Primary { "P" } else { "B" },
            run: 0,
            pdt: false,
            pdt_skew_ms: 0,
        }
    }

    fn name(&self, n: u64) -> String {
        format!("r{}_seg_{n}.ts", self.run)
    }

    /// Pushes segment `n` (source moment `moment`) and the playlist listing it, at `t`.
    fn emit(&self, m: &mut HlsMedia, n: u64, moment: u64, t: u64) {
        let name = self.name(n);
        m.put(
            self.input,
            &name,
            Bytes::from(format!("{}:{moment};", self.tag)),
            at(t),
        )
        .unwrap();
        let first = n.saturating_sub(LIST - 1);
        let mut s = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
        );
        for k in first..=n {
            if self.pdt {
                let src_moment = moment + k - n;
                let ms = (T0_UNIX + src_moment * SEG_MS) as i64 + self.pdt_skew_ms;
                s.push_str(&format!("#EXT-X-PROGRAM-DATE-TIME:{}\n", iso(ms)));
            }
            s.push_str(&format!("#EXTINF:2.000,\n{}\n", self.name(k)));
        }
        m.put(self.input, "main.m3u8", Bytes::from(s), at(t + 5))
            .unwrap();
    }
}

/// Unix ms as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn iso(ms: i64) -> String {
    crate::time::format_datetime(u64::try_from(ms).unwrap_or(0))
}

#[test]
fn iso_round_trips_through_the_pdt_parser() {
    for ms in [T0_UNIX, T0_UNIX + 86_399_999, 1_709_251_200_000] {
        assert_eq!(
            crate::time::parse_rfc3339_ms(&iso(ms as i64)),
            Some(ms as i64)
        );
    }
}

/// A served segment: (seq, discontinuity before, tag, source moment).
type Seg = (u64, bool, String, u64);

/// What a player reads.
struct Out {
    media_seq: u64,
    disc_seq: u64,
    segs: Vec<Seg>,
}

fn out(m: &mut HlsMedia) -> Out {
    let s = m.snapshot();
    check(&s);
    let r = &s.renditions[0];
    let p = m3u8_rs::parse_media_playlist_res(&r.playlist.body).unwrap();
    let segs = p
        .segments
        .iter()
        .zip(&r.segments)
        .map(|(ps, e)| {
            let b = std::str::from_utf8(&e.object.body).unwrap();
            let (tag, n) = b.trim_end_matches(';').split_once(':').unwrap();
            (e.seq, ps.discontinuity, tag.to_string(), n.parse().unwrap())
        })
        .collect();
    Out {
        media_seq: p.media_sequence,
        disc_seq: p.discontinuity_sequence,
        segs,
    }
}

/// Inside a run without a discontinuity, source moments follow each other.
fn assert_continuous(o: &Out) {
    for w in o.segs.windows(2) {
        if !w[1].1 {
            assert_eq!(
                w[1].3,
                w[0].3 + 1,
                "gap or repeat without a discontinuity: {:?} then {:?}",
                w[0],
                w[1]
            );
        }
    }
}

fn switches(events: &[MediaEvent]) -> Vec<(InputRole, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Switched {
                from: Some(_),
                to,
                aligned,
                ..
            } => Some((*to, *aligned)),
            _ => None,
        })
        .collect()
}

/// Both encoders run; `skew` ms between their pushes; the primary stops after `stop`.
fn run_pair(m: &mut HlsMedia, p: Enc, b: Enc, skew: u64, until: u64, stop: u64) {
    for n in 0..until {
        let t = n * SEG_MS;
        if n < stop {
            p.emit(m, n, n, t);
        }
        b.emit(m, n, n, t + skew);
        m.tick(at(t + 1000));
    }
}

#[test]
fn aligned_failover_is_seamless() {
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    run_pair(&mut m, Enc::new(Primary), Enc::new(Backup), 300, 20, 8);
    let o = out(&mut m);
    assert_continuous(&o);
    assert!(o.segs.iter().all(|s| !s.1), "no discontinuity");
    assert_eq!(o.disc_seq, 0);
    // The window holds the end of the primary's run and the backup's segments after it.
    assert_eq!(o.segs.last().unwrap().2, "B");
    assert_eq!(o.segs.last().unwrap().3, 19);
    let s = m.snapshot();
    assert_eq!(s.status.active, Some(Backup));
    assert_eq!(s.status.failovers, 1);
    let ev = m.drain_events();
    assert_eq!(switches(&ev), vec![(Backup, true)]);
    assert!(ev.iter().any(|e| matches!(
        e,
        MediaEvent::InputDown { input: Primary, silent_ms } if (8_000..8_500).contains(silent_ms)
    )));
    assert!(ev.iter().any(|e| matches!(
        e,
        MediaEvent::Switched {
            reason: SwitchReason::ActiveSilent { silent_ms },
            ..
        } if (8_000..8_500).contains(silent_ms)
    )));
    assert!(m.drain_events().is_empty(), "drained");
}

#[test]
fn aligned_failover_keeps_every_segment_across_the_switch() {
    // A window long enough to see the whole run: sources 0..=19 each exactly once.
    let mut m = HlsMedia::new(
        MediaParams {
            window_ms: 60_000,
            ..params(FailoverPolicy::default())
        },
        at(0),
    );
    run_pair(&mut m, Enc::new(Primary), Enc::new(Backup), 700, 20, 8);
    let o = out(&mut m);
    let moments: Vec<u64> = o.segs.iter().map(|s| s.3).collect();
    assert_eq!(moments, (0..20).collect::<Vec<_>>());
    let tags: String = o.segs.iter().map(|s| s.2.as_str()).collect();
    assert_eq!(tags, "PPPPPPPPBBBBBBBBBBBB");
    // Numbering went on: gapless from the first.
    assert_eq!(o.segs[8].0, o.segs[7].0 + 1);
    assert_eq!(o.media_seq, o.segs[0].0);
}

#[test]
fn program_date_time_decides_alignment_over_arrival() {
    // The backup's pushes arrive 1.5 s late (network), but its dates match: aligned.
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    let (mut p, mut b) = (Enc::new(Primary), Enc::new(Backup));
    p.pdt = true;
    b.pdt = true;
    b.pdt_skew_ms = 40;
    run_pair(&mut m, p, b, 1_500, 20, 8);
    assert_eq!(switches(&m.drain_events()), vec![(Backup, true)]);
    assert!(out(&mut m).segs.iter().all(|s| !s.1));
    // Same arrival but dates one segment apart: the numbering means different moments.
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    b.pdt_skew_ms = 2_000;
    run_pair(&mut m, p, b, 100, 20, 8);
    assert_eq!(switches(&m.drain_events()), vec![(Backup, false)]);
}

#[test]
fn unaligned_failover_signals_the_discontinuity_and_counts_it_out() {
    // The backup started 7 s later: its segment n arrives 7 s after the primary's n.
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    let (p, b) = (Enc::new(Primary), Enc::new(Backup));
    let mut last_seq = 0;
    let mut last_disc = 0;
    let mut saw_disc = false;
    for k in 0..40u64 {
        let t = k * SEG_MS;
        if k < 10 {
            p.emit(&mut m, k, k, t);
        }
        if k >= 3 {
            // Encoder number k-3 carries source moment k-3, pushed 7 s (3.5 segments) late.
            b.emit(&mut m, k - 3, k - 3, t + 1_000);
        }
        m.tick(at(t + 1_500));
        let o = out(&mut m);
        assert!(o.media_seq >= last_seq, "media sequence went back");
        assert!(o.disc_seq >= last_disc, "discontinuity sequence went back");
        assert_continuous(&o);
        let in_window = o.segs.iter().filter(|s| s.1).count() as u64;
        saw_disc |= in_window > 0;
        // Every discontinuity is counted once: in the window or in the sequence.
        assert_eq!(o.disc_seq + in_window, u64::from(saw_disc), "k={k}");
        (last_seq, last_disc) = (o.media_seq, o.disc_seq);
    }
    assert!(saw_disc);
    assert_eq!(last_disc, 1, "the discontinuity slid out and is counted");
    assert_eq!(switches(&m.drain_events()), vec![(Backup, false)]);
}

#[test]
fn both_dead_holds_without_a_discontinuity_storm() {
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    run_pair(&mut m, Enc::new(Primary), Enc::new(Backup), 200, 6, 6);
    let before = out(&mut m).segs;
    let v = m.version();
    for k in 0..60u64 {
        m.tick(at(12_000 + k * 500));
    }
    let s = m.snapshot();
    assert_eq!(
        s.status.active,
        Some(Primary),
        "held on the last active input"
    );
    assert_eq!(s.status.failovers, 0);
    assert_eq!(out(&mut m).segs, before, "the playlist stopped growing");
    assert!(m.version() > v, "health changed (both down)");
    let v = m.version();
    m.tick(at(50_000));
    assert_eq!(m.version(), v, "nothing changes while both stay down");
    let ev = m.drain_events();
    assert_eq!(switches(&ev), vec![]);
    let downs = ev
        .iter()
        .filter(|e| matches!(e, MediaEvent::InputDown { .. }))
        .count();
    assert_eq!(downs, 2);
    assert_eq!(s.status.inputs[0].health, Health::Down);
    assert_eq!(s.status.inputs[1].health, Health::Down);
    // The primary's encoder comes back where the source is now (it kept counting): one
    // discontinuity for the gap, and the primary serves again.
    let p = Enc::new(Primary);
    for n in 25..30 {
        p.emit(&mut m, n, n, n * SEG_MS);
        m.tick(at(n * SEG_MS + 1_500));
    }
    let o = out(&mut m);
    assert_continuous(&o);
    assert_eq!(o.segs.iter().filter(|s| s.1).count(), 1, "one break");
    assert_eq!(o.segs.last().unwrap().3, 29);
    assert_eq!(switches(&m.drain_events()), vec![]);
}

#[test]
fn backup_returning_first_from_both_dead_takes_over_when_healthy() {
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    run_pair(&mut m, Enc::new(Primary), Enc::new(Backup), 200, 6, 6);
    m.tick(at(30_000));
    let mut b = Enc::new(Backup);
    b.run = 1; // restarted encoder: numbers from 0, other names
    for n in 0..2 {
        b.emit(&mut m, n, 15 + n, 30_000 + n * SEG_MS);
    }
    assert_eq!(m.snapshot().status.active, Some(Primary), "not healthy yet");
    assert_eq!(m.snapshot().status.inputs[1].health, Health::Starting);
    b.emit(&mut m, 2, 17, 34_000);
    let s = m.snapshot();
    assert_eq!(s.status.active, Some(Backup));
    assert_eq!(s.status.inputs[1].health, Health::Healthy);
    let o = out(&mut m);
    assert_continuous(&o);
    assert!(
        o.segs.last().unwrap().1,
        "a restarted encoder is an unaligned switch"
    );
    let ev = m.drain_events();
    assert!(ev.contains(&MediaEvent::InputRestarted { input: Backup }));
    assert_eq!(switches(&ev), vec![(Backup, false)]);
}

#[test]
fn standby_restart_forgets_alignment() {
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    let (p, mut b) = (Enc::new(Primary), Enc::new(Backup));
    for n in 0..6 {
        p.emit(&mut m, n, n, n * SEG_MS);
        b.emit(&mut m, n, n, n * SEG_MS + 100);
    }
    assert!(m.snapshot().status.aligned);
    // The backup's encoder restarts: numbers from 0 again, for source moment 6 on.
    b.run = 1;
    for n in 6..12 {
        p.emit(&mut m, n, n, n * SEG_MS);
        b.emit(&mut m, n - 6, n, n * SEG_MS + 100);
    }
    assert!(!m.snapshot().status.aligned);
    for n in 12..18 {
        b.emit(&mut m, n - 6, n, n * SEG_MS + 100);
        m.tick(at(n * SEG_MS + 1000));
    }
    assert_eq!(switches(&m.drain_events()), vec![(Backup, false)]);
    let o = out(&mut m);
    assert_continuous(&o);
    assert_eq!(o.segs.iter().filter(|s| s.1).count(), 1);
}

#[test]
fn revert_to_the_preferred_input_only_when_aligned_by_default() {
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    let (p, b) = (Enc::new(Primary), Enc::new(Backup));
    // Primary out from 8 to 14 (network): the backup serves, then the primary comes back
    // aligned (its encoder kept numbering) and, after 5 good segments, serves again.
    for n in 0..30u64 {
        let t = n * SEG_MS;
        if !(8..14).contains(&n) {
            p.emit(&mut m, n, n, t);
        }
        b.emit(&mut m, n, n, t + 300);
        m.tick(at(t + 1000));
        if n == 17 {
            assert_eq!(m.snapshot().status.active, Some(Backup), "n={n}");
        }
    }
    let s = m.snapshot();
    assert_eq!(s.status.active, Some(Primary));
    assert_eq!(s.status.failovers, 2);
    let ev = m.drain_events();
    assert_eq!(switches(&ev), vec![(Backup, true), (Primary, true)]);
    assert!(ev.iter().any(|e| matches!(
        e,
        MediaEvent::Switched {
            reason: SwitchReason::PreferredHealthy { segments: 5 },
            ..
        }
    )));
    let o = out(&mut m);
    assert_continuous(&o);
    assert!(o.segs.iter().all(|s| !s.1));
}

#[test]
fn revert_never_and_always() {
    // A restarted primary is unaligned: never by default's WhenAligned, yes with Always.
    for (revert, want) in [
        (Revert::WhenAligned, Backup),
        (Revert::Never, Backup),
        (Revert::Always, Primary),
    ] {
        let policy = FailoverPolicy {
            revert,
            ..FailoverPolicy::default()
        };
        let mut m = HlsMedia::new(params(policy), at(0));
        let (p, b) = (Enc::new(Primary), Enc::new(Backup));
        let mut p2 = p;
        p2.run = 1;
        for n in 0..30u64 {
            let t = n * SEG_MS;
            if n < 8 {
                p.emit(&mut m, n, n, t);
            } else if n >= 14 {
                p2.emit(&mut m, n - 14, n, t + 900);
            }
            b.emit(&mut m, n, n, t + 100);
            m.tick(at(t + 1000));
        }
        assert_eq!(m.snapshot().status.active, Some(want), "{revert:?}");
        let o = out(&mut m);
        assert_continuous(&o);
    }
}

#[test]
fn an_encoder_restarting_after_its_playlist_was_forgotten_is_up_again() {
    // The primary dies at 8; its playlist is forgotten a window (20 s) later; at 40 its encoder
    // starts again from 0 with the same file names.
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    let (p, b) = (Enc::new(Primary), Enc::new(Backup));
    for n in 0..30u64 {
        let t = n * SEG_MS;
        if n < 8 {
            p.emit(&mut m, n, n, t);
        } else if n >= 20 {
            p.emit(&mut m, n - 20, n, t + 700);
        }
        b.emit(&mut m, n, n, t + 100);
        m.tick(at(t + 1000));
        if n == 19 {
            assert_eq!(m.snapshot().status.inputs[0].health, Health::Down);
        }
    }
    let s = m.snapshot();
    assert_eq!(s.status.inputs[0].health, Health::Healthy);
    assert_eq!(s.status.inputs[0].good_streak, 10);
    assert_eq!(s.status.active, Some(Backup), "unaligned: no switch back");
    assert!(!s.status.aligned);
    let ev = m.drain_events();
    let ups = ev
        .iter()
        .filter(|e| **e == MediaEvent::InputUp { input: Primary })
        .count();
    assert_eq!(ups, 2);
}

#[test]
fn a_flapping_preferred_input_is_reverted_to_less_and_less() {
    // The primary delivers 6 segments, vanishes for 10 s, again and again; aligned.
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    let (p, b) = (Enc::new(Primary), Enc::new(Backup));
    for n in 0..200u64 {
        let t = n * SEG_MS;
        if n % 11 < 6 {
            p.emit(&mut m, n, n, t);
        }
        b.emit(&mut m, n, n, t + 300);
        m.tick(at(t + 1000));
    }
    let sw = switches(&m.drain_events());
    // First failure: revert after 5 good. Second: needs 10, the primary never gets there.
    assert_eq!(sw, vec![(Backup, true), (Primary, true), (Backup, true)]);
    let o = out(&mut m);
    assert_continuous(&o);
    assert!(o.segs.iter().all(|s| !s.1));
}

#[test]
fn an_encoder_ending_its_stream_hands_over_at_once_when_the_other_goes_on() {
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    let (p, b) = (Enc::new(Primary), Enc::new(Backup));
    for n in 0..8u64 {
        p.emit(&mut m, n, n, n * SEG_MS);
        b.emit(&mut m, n, n, n * SEG_MS + 300);
    }
    // The primary's encoder stops cleanly: its last playlist says EXT-X-ENDLIST.
    let ended = |first: u64, last: u64| {
        let mut s = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n"
        );
        for k in first..=last {
            s.push_str(&format!("#EXTINF:2.000,\nr0_seg_{k}.ts\n"));
        }
        s.push_str("#EXT-X-ENDLIST\n");
        Bytes::from(s)
    };
    m.put(Primary, "r0_seg_8.ts", Bytes::from("P:8;"), at(16_000))
        .unwrap();
    m.put(Primary, "main.m3u8", ended(3, 8), at(16_005))
        .unwrap();
    let st = m.snapshot();
    assert_eq!(st.status.active, Some(Backup));
    assert!(!st.status.ended, "players never see the primary's end");
    b.emit(&mut m, 8, 8, 16_300);
    b.emit(&mut m, 9, 9, 18_300);
    let o = out(&mut m);
    assert_continuous(&o);
    assert!(o.segs.iter().all(|s| !s.1), "aligned: seamless");
    assert_eq!(o.segs.last().unwrap().3, 9);
    let ev = m.drain_events();
    assert!(ev.iter().any(|e| matches!(
        e,
        MediaEvent::Switched {
            to: Backup,
            reason: SwitchReason::ActiveEnded,
            aligned: true,
            ..
        }
    )));
    // Then the backup ends too: no switch back, and on a live channel the output waits for
    // an encoder; on one that ends with its encoder (`end_on_endlist`), that is the end.
    m.put(Backup, "main.m3u8", ended(4, 9), at(18_400)).unwrap();
    let st = m.snapshot();
    assert_eq!(st.status.active, Some(Backup));
    assert!(!st.status.ended);
    assert_eq!(switches(&m.drain_events()), vec![]);
    let ending = MediaParams {
        end_on_endlist: true,
        ..params(FailoverPolicy::default())
    };
    m.set_params(ending, at(18_500));
    let st = m.snapshot();
    assert!(st.status.ended);
    assert_eq!(st.status.active, Some(Backup));
    assert_eq!(switches(&m.drain_events()), vec![]);
}

#[test]
fn status_shows_health_and_alignment() {
    let mut m = HlsMedia::new(params(FailoverPolicy::default()), at(0));
    let (p, b) = (Enc::new(Primary), Enc::new(Backup));
    p.emit(&mut m, 0, 0, 0);
    let s = m.snapshot();
    assert_eq!(s.status.inputs[0].health, Health::Starting);
    assert_eq!(s.status.inputs[1].health, Health::Never);
    assert!(!s.status.aligned);
    b.emit(&mut m, 0, 0, 50);
    for n in 1..4 {
        p.emit(&mut m, n, n, n * SEG_MS);
        b.emit(&mut m, n, n, n * SEG_MS + 50);
    }
    let s = m.snapshot();
    assert_eq!(s.status.inputs[0].health, Health::Healthy);
    assert_eq!(s.status.inputs[0].good_streak, 4);
    assert!(s.status.aligned);
    let ev = m.drain_events();
    assert_eq!(
        ev[..2],
        [
            MediaEvent::InputUp { input: Primary },
            MediaEvent::Switched {
                from: None,
                to: Primary,
                reason: SwitchReason::FirstInput,
                aligned: false
            }
        ]
    );
}

/// One step of the random aligned scripts.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// Which inputs push this source segment.
    p_on: bool,
    b_on: bool,
    /// The backup's push lag, ms (under half a segment: aligned).
    b_lag: u64,
    /// Extra silence after the step (both dead for a while).
    pause_ms: u64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.8),
        0..900u64,
        prop_oneof![8 => Just(0u64), 1 => 0..20_000u64],
    )
        .prop_map(|(p_on, b_on, b_lag, pause_ms)| Step {
            p_on,
            b_on,
            b_lag,
            pause_ms,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { ProptestConfig::default().cases } else { 64 },
        ..ProptestConfig::default()
    })]

    /// Aligned encoders with outages of either or both: the output's numbers only go forward,
    /// discontinuities are counted right, content never jumps or repeats without a
    /// discontinuity, and switches never outnumber the failures that justify them.
    #[test]
    fn aligned_inputs_with_random_outages(revert_always in any::<bool>(), steps in prop::collection::vec(step(), 1..80)) {
        let policy = FailoverPolicy {
            revert: if revert_always { Revert::Always } else { Revert::WhenAligned },
            ..FailoverPolicy::default()
        };
        let mut m = HlsMedia::new(params(policy), at(0));
        let (p, b) = (Enc::new(Primary), Enc::new(Backup));
        let mut t = 0;
        let mut last: Option<(u64, u64, Vec<Seg>)> = None;
        let mut events = Vec::new();
        for (n, s) in steps.iter().enumerate() {
            let n = n as u64;
            if s.p_on {
                p.emit(&mut m, n, n, t);
            }
            if s.b_on {
                b.emit(&mut m, n, n, t + s.b_lag);
            }
            m.tick(at(t + 1_000));
            t += SEG_MS + s.pause_ms;
            m.tick(at(t));
            events.extend(m.drain_events());
            if m.snapshot().main.is_none() {
                continue;
            }
            let o = out(&mut m);
            assert_continuous(&o);
            if let Some((seq, disc, segs)) = &last {
                prop_assert!(o.media_seq >= *seq);
                prop_assert!(o.disc_seq >= *disc);
                // What stayed in the window is unchanged, and what slid out was counted.
                let gone: Vec<_> = segs.iter().filter(|x| x.0 < o.media_seq).collect();
                let gone_discs = gone.iter().filter(|x| x.1).count() as u64;
                prop_assert_eq!(o.disc_seq, disc + gone_discs);
                for x in segs.iter().filter(|x| x.0 >= o.media_seq) {
                    let y = o.segs.iter().find(|y| y.0 == x.0);
                    prop_assert_eq!(Some(x), y, "a published segment changed");
                }
            }
            last = Some((o.media_seq, o.disc_seq, o.segs));
        }
        let downs = events.iter().filter(|e| matches!(e, MediaEvent::InputDown { .. })).count();
        let failovers = events.iter().filter(|e| matches!(e, MediaEvent::Switched { reason: SwitchReason::ActiveSilent { .. }, .. })).count();
        let reverts = events.iter().filter(|e| matches!(e, MediaEvent::Switched { reason: SwitchReason::PreferredHealthy { .. }, .. })).count();
        prop_assert!(failovers <= downs, "a failover without a failure");
        prop_assert!(reverts <= failovers + 1, "reverts outnumber failovers: {events:?}");
    }
}
