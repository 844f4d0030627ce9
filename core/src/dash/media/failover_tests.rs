//! Two inputs: which one serves, and what players see at a switch.

use super::tests::{mpd_text, shape, t0, Enc};
use super::*;
use crate::dash::golden::assert_golden;

const P: InputRole = InputRole::Primary;
const B: InputRole = InputRole::Backup;

fn switched(dm: &mut DashMedia) -> Vec<(Option<InputRole>, InputRole, bool)> {
    dm.drain_events()
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Switched {
                from, to, aligned, ..
            } => Some((from, to, aligned)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_unaligned_failover_starts_a_new_period_and_numbers_go_on() {
    let mut dm = DashMedia::new(MediaParams::new(3_000, 600_000), t0());
    let mut a = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    // The backup encoder started 1000 s earlier: its timeline does not line up.
    let mut b = Enc::new(B, "2026-11-24T00:43:20Z", 500);
    b.init_tag = "init-b";
    let mut now = t0();
    for _ in 0..5 {
        now = now.plus_ms(2_000);
        a.step(&mut dm, now);
        b.step(&mut dm, now.plus_ms(300));
    }
    assert_eq!(switched(&mut dm), vec![(None, P, false)]);
    // The primary goes silent; the switch waits for the timeout (2 × 3 s).
    for _ in 0..2 {
        now = now.plus_ms(2_000);
        b.step(&mut dm, now);
        dm.tick(now);
    }
    assert_eq!(shape(&mut dm).len(), 1);
    let mut events = Vec::new();
    for _ in 0..3 {
        now = now.plus_ms(2_000);
        b.step(&mut dm, now);
        events.extend(switched(&mut dm));
    }
    assert_eq!(events, vec![(Some(P), B, false)]);
    let s = shape(&mut dm);
    assert_eq!(s.len(), 2, "{s:?}");
    let first = first_number(t0());
    assert_eq!(s[0].2[0], ("v0".to_string(), first, 5));
    // From the backup's newest segment, numbered after everything served.
    assert_eq!(s[1].0, format!("p{}", first + 5));
    assert_eq!(s[1].2[0].1, first + 5);
    assert!(s[1].1 >= 10_000, "after the first Period's media: {s:?}");
    assert_eq!(dm.snapshot().status.failovers, 1);
    assert_eq!(dm.snapshot().status.active, Some(B));
    assert_golden("media_failover_unaligned.mpd", &mpd_text(&mut dm));
}

#[test]
fn an_aligned_failover_continues_the_period() {
    let mut dm = DashMedia::new(MediaParams::new(3_000, 600_000), t0());
    // Both encoders on the same clock with the same init segments.
    let mut a = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut b = Enc::new(B, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    for _ in 0..5 {
        now = now.plus_ms(2_000);
        a.step(&mut dm, now);
        b.step(&mut dm, now.plus_ms(300));
    }
    assert!(dm.snapshot().status.aligned);
    let mut events = Vec::new();
    for _ in 0..4 {
        now = now.plus_ms(2_000);
        b.step(&mut dm, now);
        dm.tick(now.plus_ms(1_000));
        events.extend(switched(&mut dm));
    }
    events.retain(|e| e.0.is_some());
    assert_eq!(events, vec![(Some(P), B, true)]);
    let s = shape(&mut dm);
    assert_eq!(s.len(), 1, "{s:?}");
    let first = first_number(t0());
    assert_eq!(s[0].2[0], ("v0".to_string(), first, 9));
    // One unbroken timeline: 9 × 2 s segments in one S entry.
    let text = mpd_text(&mut dm);
    assert!(text.contains(r#"<S t="0" d="25600" r="8"/>"#), "{text}");
}

#[test]
fn the_active_input_ending_hands_over_to_the_other() {
    let mut dm = DashMedia::new(MediaParams::new(3_000, 600_000), t0());
    let mut a = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut b = Enc::new(B, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    for _ in 0..4 {
        now = now.plus_ms(2_000);
        a.step(&mut dm, now);
        b.step(&mut dm, now.plus_ms(300));
    }
    a.end(&mut dm, now.plus_ms(500));
    now = now.plus_ms(2_000);
    b.step(&mut dm, now);
    let events: Vec<_> = switched(&mut dm)
        .into_iter()
        .filter(|e| e.0.is_some())
        .collect();
    assert_eq!(events, vec![(Some(P), B, true)]);
    assert!(mpd_text(&mut dm).contains("type=\"dynamic\""));
    // The backup ending too: a live channel waits for an encoder; one that ends with its
    // encoder (`end_on_endlist`) ends.
    b.end(&mut dm, now.plus_ms(500));
    assert!(mpd_text(&mut dm).contains("type=\"dynamic\""));
    assert!(!dm.snapshot().status.ended);
    let ending = MediaParams {
        end_on_endlist: true,
        ..MediaParams::new(3_000, 600_000)
    };
    dm.set_params(ending, now.plus_ms(600));
    assert!(mpd_text(&mut dm).contains("type=\"static\""));
    assert!(dm.snapshot().status.ended);
}

#[test]
fn the_output_returns_to_the_preferred_input_only_when_aligned() {
    let mut dm = DashMedia::new(MediaParams::new(3_000, 600_000), t0());
    let mut a = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    let mut b = Enc::new(B, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    // Backup first: it goes on air.
    b.steps(&mut dm, &mut now, 3);
    assert_eq!(switched(&mut dm), vec![(None, B, false)]);
    // The primary catches up on the same clock: after 5 good segments the output goes back.
    a.n = b.n;
    let mut events = Vec::new();
    for _ in 0..7 {
        now = now.plus_ms(2_000);
        b.step(&mut dm, now);
        a.step(&mut dm, now.plus_ms(100));
        events.extend(switched(&mut dm));
    }
    assert_eq!(events, vec![(Some(B), P, true)]);
    assert_eq!(shape(&mut dm).len(), 1);
}

#[test]
fn the_same_clock_running_late_is_not_aligned() {
    let mut dm = DashMedia::new(MediaParams::new(3_000, 600_000), t0());
    let mut a = Enc::new(P, "2026-11-24T01:00:00Z", 0);
    // Same timestamps and init segments, but each segment arrives three segments later.
    let mut b = Enc::new(B, "2026-11-24T01:00:00Z", 0);
    let mut now = t0();
    for i in 0..6 {
        now = now.plus_ms(2_000);
        a.step(&mut dm, now);
        if i >= 3 {
            b.step(&mut dm, now.plus_ms(300));
        }
    }
    b.steps(&mut dm, &mut now, 3);
    assert!(!dm.snapshot().status.aligned);
    b.steps(&mut dm, &mut now, 3);
    let events: Vec<_> = switched(&mut dm)
        .into_iter()
        .filter(|e| e.0.is_some())
        .collect();
    assert_eq!(events, vec![(Some(P), B, false)]);
    assert_eq!(shape(&mut dm).len(), 2);
}
