//! Property tests: random scripts of pushes, MPDs, deletes, restarts and time passing on both
//! inputs never panic, and never produce an MPD players would choke on: numbers never go
//! backwards or get reused, Periods never go back in time, every referenced path is served.

use super::tests::{mpd, t0, Enc};
use super::*;
use crate::dash::parse::{parse_mpd, SegmentsIn};
use crate::media::{Lookup, MediaOutput};
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    /// Media segment `n` of representation `rep` (0 video, 1 audio).
    Seg { input: usize, rep: u8, n: u64 },
    /// An init segment, `tag` making its bytes differ.
    Init { input: usize, rep: u8, tag: u8 },
    /// An MPD listing `first..=first+len` on clock `offset` of encoder run `ast`.
    Mpd {
        input: usize,
        ast: u8,
        first: u64,
        len: u64,
        offset: u64,
        dynamic: bool,
    },
    /// Encoder DELETE.
    Delete { input: usize, rep: u8, n: u64 },
    /// A body that is not an MPD.
    Garbage { input: usize },
    /// A well-behaved encoder on `input` finishes its next segment (inits, segments, MPD,
    /// deletes).
    Step { input: usize },
    /// That encoder restarts (a new run, numbering from 1 again, maybe another clock).
    Restart { input: usize, ast: u8, offset: u64 },
    /// Time passes, then a tick.
    Tick { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..2u8, 1..25u64).prop_map(|(input, rep, n)| Op::Seg { input, rep, n }),
        1 => (0..2usize, 0..2u8, 0..2u8).prop_map(|(input, rep, tag)| Op::Init { input, rep, tag }),
        5 => (0..2usize, 0..3u8, 1..25u64, 0..6u64, 0..3u64, prop::bool::weighted(0.9))
            .prop_map(|(input, ast, first, len, offset, dynamic)| Op::Mpd { input, ast, first, len, offset, dynamic }),
        2 => (0..2usize, 0..2u8, 1..25u64).prop_map(|(input, rep, n)| Op::Delete { input, rep, n }),
        1 => (0..2usize).prop_map(|input| Op::Garbage { input }),
        3 => (0..9_000u64).prop_map(|ms| Op::Tick { ms }),
        12 => (0..2usize).prop_map(|input| Op::Step { input }),
        1 => (0..2usize, 0..3u8, 0..3u64).prop_map(|(input, ast, offset)| Op::Restart { input, ast, offset }),
    ]
}

const ASTS: [&str; 3] = [
    "2026-11-24T01:00:00Z",
    "2026-11-24T01:10:00Z",
    "2026-11-24T01:20:00Z",
];

fn role(i: usize) -> InputRole {
    InputRole::ALL[i]
}

/// Checks one snapshot's MPD: it parses, Periods go forward in time, each Period's numbers are
/// above the previous one's, every referenced path is served. `newest` collects the highest
/// number listed per Representation name.
fn check(dm: &mut DashMedia, newest: &mut HashMap<String, u64>) {
    let snap = dm.snapshot();
    let Some(r) = snap.mpd.as_ref() else {
        return;
    };
    let m = parse_mpd("main.mpd", &r.body).expect("the origin's MPD parses");
    let mut last_start = 0u64;
    let mut floor = 0u64;
    for p in &m.periods {
        assert!(p.start_ms >= last_start, "Periods go back in time");
        last_start = p.start_ms;
        let mut period_max = floor;
        for a in &p.adaptation_sets {
            for rep in &a.representations {
                let init = rep.init.as_deref().expect("init");
                assert!(
                    matches!(snap.get("main", init), Lookup::Object(_)),
                    "{init}"
                );
                let SegmentsIn::Listed(segs) = &rep.segments else {
                    panic!("numbered output");
                };
                assert!(!segs.is_empty());
                assert!(segs[0].number >= floor, "numbers reused across Periods");
                for s in segs {
                    assert!(
                        matches!(snap.get("main", &s.path), Lookup::Object(_)),
                        "{}",
                        s.path
                    );
                }
                let last = segs[segs.len() - 1].number;
                period_max = period_max.max(last + 1);
                let seen = newest.entry(rep.id.clone()).or_insert(0);
                *seen = (*seen).max(last);
            }
        }
        floor = period_max;
    }
}

/// Runs a script, checking the output after every step.
fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut dm = DashMedia::new(MediaParams::new(4_000, 12_000), t0());
    let mut now = t0();
    let mut encs = [Enc::new(role(0), ASTS[0], 0), Enc::new(role(1), ASTS[0], 0)];
    let mut newest: HashMap<String, u64> = HashMap::new();
    let mut served: HashMap<String, String> = HashMap::new();
    for op in ops.iter().cloned() {
        now = now.plus_ms(137);
        match op {
            Op::Seg { input, rep, n } => {
                let body = Bytes::from(format!("{input}-{rep}-{n}-{}", now.mono_ms));
                dm.put(
                    role(input),
                    &format!("chunk-stream{rep}-{n:05}.m4s"),
                    body,
                    now,
                )
                .unwrap();
            }
            Op::Init { input, rep, tag } => {
                let body = Bytes::from(format!("init-{rep}-{tag}"));
                dm.put(role(input), &format!("init-stream{rep}.m4s"), body, now)
                    .unwrap();
            }
            Op::Mpd {
                input,
                ast,
                first,
                len,
                offset,
                dynamic,
            } => {
                let body = mpd(ASTS[usize::from(ast)], first, first + len, offset, dynamic);
                dm.put(role(input), "main.mpd", body, now).unwrap();
            }
            Op::Delete { input, rep, n } => {
                dm.delete(role(input), &format!("chunk-stream{rep}-{n:05}.m4s"), now);
            }
            Op::Garbage { input } => {
                let before = dm.snapshot().mpd.as_ref().map(|r| r.body.clone());
                prop_assert!(dm
                    .put(role(input), "main.mpd", Bytes::from_static(b"<MPD><"), now)
                    .is_err());
                let after = dm.snapshot().mpd.as_ref().map(|r| r.body.clone());
                prop_assert_eq!(before, after);
            }
            Op::Step { input } => {
                now = now.plus_ms(900);
                encs[input].step(&mut dm, now);
            }
            Op::Restart { input, ast, offset } => {
                encs[input] = Enc::new(role(input), ASTS[usize::from(ast)], offset);
            }
            Op::Tick { ms } => {
                now = now.plus_ms(ms);
                dm.tick(now);
            }
        }
        let before = newest.clone();
        check(&mut dm, &mut newest);
        // Across snapshots: the newest number listed per Representation never goes down,
        // and a path once served never names other bytes.
        let snap = dm.snapshot();
        if let Some(r) = snap.mpd.as_ref() {
            let m = parse_mpd("main.mpd", &r.body).unwrap();
            for rep in m
                .periods
                .last()
                .into_iter()
                .flat_map(|p| p.adaptation_sets.iter())
                .flat_map(|a| a.representations.iter())
            {
                if let (SegmentsIn::Listed(segs), Some(prev)) = (&rep.segments, before.get(&rep.id))
                {
                    prop_assert!(segs[segs.len() - 1].number >= *prev, "{} went back", rep.id);
                }
            }
        }
        for path in snap.object_paths() {
            let Lookup::Object(o) = snap.get("main", path) else {
                unreachable!()
            };
            prop_assert!(path.split('/').nth(1).is_some_and(|f| f.starts_with("init")
                || f.trim_end_matches(".m4s")
                    .parse::<u64>()
                    .is_ok_and(|n| n >= first_number(t0()))));
            let body = String::from_utf8_lossy(&o.body).into_owned();
            let e = served
                .entry(path.to_string())
                .or_insert_with(|| body.clone());
            prop_assert_eq!(&*e, &body, "{} reused", path);
        }
        let _ = dm.drain_events();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn scripts_never_break_the_output(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops)?;
    }
}

/// Found by the proptest: a restarted encoder deleted the only segment of the new Period
/// (the output waited for one it had deleted before), and the MPD fell back to the old
/// Period's media.
#[test]
fn the_newest_period_keeps_a_segment_when_its_encoder_deletes_it() {
    use Op::{Mpd, Seg, Step, Tick};
    let mut ops = vec![Step { input: 0 }; 6];
    ops.extend([
        Tick { ms: 6531 },
        Tick { ms: 6300 },
        Step { input: 0 },
        Seg {
            input: 0,
            rep: 0,
            n: 4,
        },
        Seg {
            input: 0,
            rep: 0,
            n: 6,
        },
        Seg {
            input: 0,
            rep: 0,
            n: 1,
        },
        Mpd {
            input: 0,
            ast: 0,
            first: 7,
            len: 0,
            offset: 2,
            dynamic: false,
        },
        Step { input: 1 },
        Seg {
            input: 0,
            rep: 0,
            n: 1,
        },
        Step { input: 0 },
        Step { input: 0 },
    ]);
    run(&ops).unwrap();
}
