//! Property tests: random scripts of encoder behaviour on both inputs (segments, playlists,
//! restarts, missing and late segments, overlong segments, deletes, bad playlists, time
//! passing) must never break what players rely on.

use super::tests::{at, check};
use super::*;
use crate::channel::config::InputRole::{Backup, Primary};
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::HashMap;

const WINDOW_MS: u64 = 12_000;
const MAX_SEG_MS: u64 = 4_000;
const LIST_SIZE: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    /// The encoder on `input` finishes a segment of `dur_ms` in every rendition; `missing`:
    /// its PUT never completes (the playlist names it anyway); `end`: with EXT-X-ENDLIST.
    Emit {
        input: usize,
        dur_ms: u64,
        missing: bool,
        end: bool,
    },
    /// The encoder restarts: sequence 0 again (same file names when `same_names`).
    Restart { input: usize, same_names: bool },
    /// A segment the playlist named completes late.
    Late { input: usize },
    /// Encoder DELETE of its oldest listed segment.
    Delete { input: usize },
    /// A playlist that does not parse.
    Garbage { input: usize },
    /// Time passes, then a tick.
    Tick { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..2usize, prop_oneof![Just(1000u64), Just(2000), Just(2000), Just(3000), Just(4400), Just(6000)], prop::bool::weighted(0.1), prop::bool::weighted(0.03))
            .prop_map(|(input, dur_ms, missing, end)| Op::Emit { input, dur_ms, missing, end }),
        1 => (0..2usize, any::<bool>()).prop_map(|(input, same_names)| Op::Restart { input, same_names }),
        1 => (0..2usize).prop_map(|input| Op::Late { input }),
        1 => (0..2usize).prop_map(|input| Op::Delete { input }),
        1 => (0..2usize).prop_map(|input| Op::Garbage { input }),
        4 => (0..12_000u64).prop_map(|ms| Op::Tick { ms }),
    ]
}

/// A model encoder: per rendition the list it publishes.
#[derive(Default)]
struct Encoder {
    run: u32,
    seq: u64,
    list: Vec<(String, u64)>,
    first: u64,
    missing: Vec<(String, Bytes)>,
    ended: bool,
}

struct Harness {
    m: HlsMedia,
    t: u64,
    renditions: Vec<&'static str>,
    enc: [Encoder; 2],
    counter: u64,
    put_times: Vec<u64>,
    max_obj: u64,
    // Observed facts that must hold for the channel's life.
    bytes_of: HashMap<(String, u64), Bytes>,
    cc_of: HashMap<(String, u64), u64>,
    last: HashMap<String, (u64, u64)>,
}

impl Harness {
    fn put(&mut self, input: usize, path: &str, body: Bytes) {
        let role = InputRole::ALL[input];
        if !path.ends_with(".m3u8") {
            self.put_times.push(self.t);
            self.max_obj = self.max_obj.max(body.len() as u64);
        }
        let _ = self.m.put(role, path, body, at(self.t));
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Emit {
                input,
                dur_ms,
                missing,
                end,
            } => {
                let e = &mut self.enc[input];
                e.ended = end;
                let seq = e.seq;
                e.seq += 1;
                let run = e.run;
                let mut objs = Vec::new();
                for r in &self.renditions {
                    self.counter += 1;
                    let name = format!("{r}/s{run}_{seq}.ts");
                    let body = Bytes::from(format!("{input}/{name}/{}", self.counter).repeat(3));
                    objs.push((name, body));
                }
                let e = &mut self.enc[input];
                e.list.push((format!("s{run}_{seq}.ts"), dur_ms));
                if e.list.len() > LIST_SIZE {
                    e.list.remove(0);
                    e.first += 1;
                }
                for (name, body) in objs {
                    if missing {
                        self.enc[input].missing.push((name, body));
                    } else {
                        self.put(input, &name, body);
                    }
                }
                self.put_playlists(input);
                self.t += dur_ms.min(3000);
            }
            Op::Restart { input, same_names } => {
                let e = &mut self.enc[input];
                e.seq = 0;
                e.first = 0;
                e.list.clear();
                if !same_names {
                    e.run += 1;
                }
            }
            Op::Late { input } => {
                if let Some((name, body)) = self.enc[input].missing.pop() {
                    self.put(input, &name, body);
                }
            }
            Op::Delete { input } => {
                if let Some((name, _)) = self.enc[input].list.first().cloned() {
                    for r in self.renditions.clone() {
                        let _ = self.m.delete(
                            InputRole::ALL[input],
                            &format!("{r}/{name}"),
                            at(self.t),
                        );
                    }
                }
            }
            Op::Garbage { input } => {
                let r = self.renditions[0];
                let bad = Bytes::from_static(b"#EXTM3U\n#EXTINF:oops,\nx.ts\n");
                let res = self.m.put(
                    InputRole::ALL[input],
                    &format!("{r}/index.m3u8"),
                    bad,
                    at(self.t),
                );
                assert!(matches!(res, Err(IngestError::BadPlaylist(_))));
            }
            Op::Tick { ms } => {
                self.t += ms;
                self.m.tick(at(self.t));
            }
        }
    }

    fn put_playlists(&mut self, input: usize) {
        let e = &self.enc[input];
        let mut text = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:{}\n",
            e.first
        );
        for (name, d) in &e.list {
            text.push_str(&format!("#EXTINF:{}.{:03},\n{name}\n", d / 1000, d % 1000));
        }
        if e.ended {
            text.push_str("#EXT-X-ENDLIST\n");
        }
        for r in self.renditions.clone() {
            self.put(input, &format!("{r}/index.m3u8"), Bytes::from(text.clone()));
        }
    }

    fn verify(&mut self) {
        let s = self.m.snapshot();
        check(&s);
        for r in &s.renditions {
            let p = m3u8_rs::parse_media_playlist_res(&r.playlist.body).unwrap();
            let (first, disc) = (p.media_sequence, p.discontinuity_sequence);
            if let Some(&(pf, pd)) = self.last.get(&r.name) {
                assert!(
                    first >= pf,
                    "{}: media sequence went back {pf} -> {first}",
                    r.name
                );
                assert!(disc >= pd, "{}: discontinuity sequence went back", r.name);
            }
            self.last.insert(r.name.clone(), (first, disc));
            let mut cc = disc;
            let mut total = 0;
            for (seg, e) in p.segments.iter().zip(&r.segments) {
                if seg.discontinuity {
                    cc += 1;
                }
                total += e.duration_ms;
                let key = (r.name.clone(), e.seq);
                let b = self
                    .bytes_of
                    .entry(key.clone())
                    .or_insert_with(|| e.object.body.clone());
                assert_eq!(b, &e.object.body, "{}/{} changed bytes", r.name, e.seq);
                let c = *self.cc_of.entry(key).or_insert(cc);
                assert_eq!(c, cc, "{}/{} changed discontinuity count", r.name, e.seq);
                assert!(e.duration_ms <= MAX_SEG_MS + OVERLONG_TOLERANCE_MS);
            }
            let last = r.segments.last().map_or(0, |e| e.duration_ms);
            assert!(total <= WINDOW_MS + last, "{}: window {total} ms", r.name);
        }
        // Memory: what is listed (2 inputs x renditions x list size), what arrived in the last
        // window, and the output window; nothing else survives.
        let max_obj = self.max_obj;
        let recent = self
            .put_times
            .iter()
            .filter(|&&t| t + WINDOW_MS + 1000 >= self.t)
            .count() as u64;
        let listed = (2 * self.renditions.len() * (LIST_SIZE + 1)) as u64;
        let bound = max_obj * (listed + recent + s.status.window_segments);
        assert!(
            s.status.held_bytes <= bound,
            "held {} > {bound}",
            s.status.held_bytes
        );
    }
}

proptest! {
    // 96 cases keep `cargo test` fast; PROPTEST_CASES=5000 for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { ProptestConfig::default().cases } else { 96 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_scripts_keep_the_output_sound(multi in any::<bool>(), ops in prop::collection::vec(op(), 1..120)) {
        let renditions = if multi { vec!["a", "b"] } else { vec!["v"] };
        let mut h = Harness {
            m: HlsMedia::new(MediaParams::new(MAX_SEG_MS, WINDOW_MS), at(0)),
            t: 0,
            renditions,
            enc: [Encoder::default(), Encoder::default()],
            counter: 0,
            put_times: Vec::new(),
            max_obj: 0,
            bytes_of: HashMap::new(),
            cc_of: HashMap::new(),
            last: HashMap::new(),
        };
        for op in &ops {
            h.apply(op);
            h.verify();
        }
        let _ = (Primary, Backup);
    }
}
