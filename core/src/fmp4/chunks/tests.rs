use super::*;
use crate::fmp4::writer::BoxWriter;
use crate::fmp4::{media_segment, FragmentParams, Sample, SAMPLE_NON_SYNC, SAMPLE_SYNC};
use proptest::prelude::*;

/// A segment of fragments written by the CMAF writer: `(tfdt, samples)` each.
fn segment(fragments: &[(u64, Vec<Sample>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (tfdt, samples)) in fragments.iter().enumerate() {
        let mdat: Vec<u8> = samples
            .iter()
            .flat_map(|s| std::iter::repeat_n(0xAB, s.size as usize))
            .collect();
        out.extend(media_segment(
            &FragmentParams {
                sequence: i as u32 + 1,
                track_id: 1,
                base_decode_time: *tfdt,
                samples,
                composition_offsets: true,
            },
            &mdat,
        ));
    }
    out
}

fn sample(duration: u32, size: u32, sync: bool) -> Sample {
    Sample {
        duration,
        size,
        flags: if sync { SAMPLE_SYNC } else { SAMPLE_NON_SYNC },
        composition_offset: 0,
    }
}

fn arb_fragments() -> impl Strategy<Value = Vec<(u64, Vec<Sample>)>> {
    let samples = proptest::collection::vec((1u32..5000, 0u32..300, any::<bool>()), 1..12)
        .prop_map(|v| {
            v.into_iter()
                .map(|(d, s, k)| sample(d, s, k))
                .collect::<Vec<_>>()
        });
    proptest::collection::vec((any::<u32>(), samples), 1..6)
        .prop_map(|v| v.into_iter().map(|(t, s)| (u64::from(t), s)).collect())
}

proptest! {
    /// However the body arrives (any cut points), the same chunks come out, each as soon as
    /// its last byte is there; they tile the segment and carry the fragments' timing.
    #[test]
    fn chunks_come_out_as_their_last_byte_arrives(
        fragments in arb_fragments(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let body = segment(&fragments);
        let mut whole = ChunkCutter::default();
        let all = whole.feed(&body).unwrap();
        prop_assert!(whole.finish(body.len()).is_ok());
        prop_assert_eq!(all.len(), fragments.len());
        let mut at = 0;
        for (c, (tfdt, samples)) in all.iter().zip(&fragments) {
            prop_assert_eq!(c.range.start, at);
            at = c.range.end;
            prop_assert_eq!(c.decode_time, *tfdt);
            prop_assert_eq!(c.duration, samples.iter().map(|s| u64::from(s.duration)).sum::<u64>());
            prop_assert_eq!(c.independent, samples[0].flags == SAMPLE_SYNC);
        }
        prop_assert_eq!(at, body.len());

        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
        points.push(body.len());
        points.sort_unstable();
        let mut cutter = ChunkCutter::default();
        let mut got = Vec::new();
        for p in points {
            for c in cutter.feed(&body[..p]).unwrap() {
                // Published at once: its last byte is the last one fed, or was fed before.
                prop_assert!(c.range.end <= p);
                got.push(c);
            }
            prop_assert_eq!(cutter.complete_len(), got.last().map_or(0, |c| c.range.end));
            let expect_finish = all.iter().any(|c| c.range.end == p) || p == 0;
            prop_assert_eq!(cutter.finish(p).is_ok(), expect_finish, "finish at {}", p);
        }
        prop_assert_eq!(got, all);
    }
}

/// A `moof` whose `trun` leaves durations and flags to `tfhd` (and to `trex`).
fn moof_with_defaults(tfhd_duration: Option<u32>, tfhd_flags: Option<u32>, count: u32) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(256);
    w.bx(b"moof", |w| {
        w.full(b"mfhd", 0, 0, |w| w.u32(1));
        w.bx(b"traf", |w| {
            let mut flags = 0x02_0000;
            flags |= tfhd_duration.map_or(0, |_| 0x08);
            flags |= tfhd_flags.map_or(0, |_| 0x20);
            w.full(b"tfhd", 0, flags, |w| {
                w.u32(2);
                if let Some(d) = tfhd_duration {
                    w.u32(d);
                }
                if let Some(f) = tfhd_flags {
                    w.u32(f);
                }
            });
            w.full(b"tfdt", 0, 0, |w| w.u32(90_000));
            w.full(b"trun", 0, 0x200, |w| {
                w.u32(count);
                for _ in 0..count {
                    w.u32(1);
                }
            });
        });
    });
    w.bx(b"mdat", |w| w.bytes(&vec![0; count as usize]));
    w.into_vec()
}

#[test]
fn durations_and_flags_from_tfhd_then_trex() {
    let trex = TrackDefaults {
        sample_duration: 1024,
        sample_flags: SAMPLE_SYNC,
    };
    let cases = [
        (Some(3000), Some(SAMPLE_NON_SYNC), 4, 12_000, false),
        (Some(3000), None, 4, 12_000, true),
        (None, Some(SAMPLE_NON_SYNC), 5, 5 * 1024, false),
        (None, None, 2, 2048, true),
    ];
    for (duration, flags, count, want_duration, want_independent) in cases {
        let body = moof_with_defaults(duration, flags, count);
        let chunks = ChunkCutter::new(trex).feed(&body).unwrap();
        assert_eq!(
            chunks,
            vec![Chunk {
                range: 0..body.len(),
                decode_time: 90_000,
                duration: want_duration,
                independent: want_independent,
            }],
            "{duration:?} {flags:?}"
        );
    }
}

#[test]
fn malformed_bodies_are_refused_with_the_box_and_offset() {
    let frag = segment(&[(0, vec![sample(10, 5, true)])]);
    let tops = crate::fmp4::top_level(&frag).unwrap();
    let (moof, mdat) = (tops[1], tops[2]);
    let mdat_first = [
        &frag[mdat.1..mdat.1 + mdat.2],
        &frag[moof.1..moof.1 + moof.2],
    ]
    .concat();
    let two_moofs = [&frag[moof.1..moof.1 + moof.2], &frag[moof.1..]].concat();
    let mut size_zero = frag.clone();
    size_zero[mdat.1..mdat.1 + 4].copy_from_slice(&[0, 0, 0, 0]);
    let mut tiny = frag.clone();
    tiny[mdat.1..mdat.1 + 4].copy_from_slice(&[0, 0, 0, 4]);
    for (body, want) in [
        (mdat_first, "mdat' at offset 0: an mdat without a moof"),
        (two_moofs, "a second moof before an mdat"),
        (size_zero, "size 0"),
        (tiny, "smaller than its header"),
    ] {
        let e = ChunkCutter::default().feed(&body).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
    // An upload that broke off mid-chunk: the chunks before it are whole, the rest is not.
    let two = segment(&[
        (0, vec![sample(10, 5, true)]),
        (10, vec![sample(10, 50, true)]),
    ]);
    let mut c = ChunkCutter::default();
    let got = c.feed(&two[..two.len() - 3]).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        c.finish(two.len() - 3),
        Err(ChunkError::Incomplete {
            complete: got[0].range.end,
            len: two.len() - 3
        })
    );
}

/// Sizes chosen to overflow: a 64-bit largesize near the top of the address space, and a
/// `trun` claiming four billion samples without per-sample fields. Refused, never a panic, a
/// wrap or a long loop.
#[test]
fn hostile_sizes_are_refused() {
    let mut huge = Vec::new();
    huge.extend_from_slice(&16u32.to_be_bytes());
    huge.extend_from_slice(b"free");
    huge.extend_from_slice(&[0; 8]);
    huge.extend_from_slice(&1u32.to_be_bytes());
    huge.extend_from_slice(b"mdat");
    huge.extend_from_slice(&(u64::MAX - 15).to_be_bytes());
    let e = ChunkCutter::default().feed(&huge).unwrap_err().to_string();
    assert!(e.contains("too large"), "{e}");

    let mut w = BoxWriter::with_capacity(128);
    w.bx(b"moof", |w| {
        w.bx(b"traf", |w| {
            w.full(b"tfhd", 0, 0x02_0008, |w| {
                w.u32(1);
                w.u32(u32::MAX);
            });
            w.full(b"tfdt", 0, 0, |w| w.u32(0));
            for _ in 0..3 {
                w.full(b"trun", 0, 0, |w| w.u32(u32::MAX));
            }
        });
    });
    w.bx(b"mdat", |w| w.bytes(&[0; 4]));
    let body = w.into_vec();
    let e = ChunkCutter::default().feed(&body).unwrap_err().to_string();
    assert!(e.contains("overflow"), "{e}");
}
