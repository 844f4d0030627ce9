use super::*;
use crate::cmaf::Codec;
use crate::fmp4::fragment::parse_media_segment;
use crate::fmp4::reader::{parse_boxes, top_level};
use crate::ts::adts::{self, AdtsConfig};
use crate::ts::demux::{build_pes, packetize};
use crate::ts::psi::{build_pat, build_pmt};
use crate::ts::PTS_MODULUS;
use proptest::prelude::*;

const H264_AAC: [&[u8]; 3] = [
    include_bytes!("../../../testdata/ts/h264_aac/seg_00000.ts"),
    include_bytes!("../../../testdata/ts/h264_aac/seg_00001.ts"),
    include_bytes!("../../../testdata/ts/h264_aac/seg_00002.ts"),
];

#[test]
fn h264_aac_segments() {
    let mut r = Repackager::new();
    let mut inits = Vec::new();
    let mut ends: Vec<Option<u64>> = vec![None, None];
    for (i, ts) in H264_AAC.iter().enumerate() {
        let out = r.repackage(ts, i as u32 + 1).unwrap();
        assert_eq!(out.tracks.len(), 2);
        let v = &out.tracks[0];
        assert_eq!(
            (v.kind, v.codec, v.codecs.as_str(), v.width, v.height),
            (TrackKind::Video, Codec::H264, "avc1.64001e", 640, 360)
        );
        let a = &out.tracks[1];
        assert_eq!(
            (
                a.kind,
                a.codecs.as_str(),
                a.sample_rate,
                a.channels,
                a.timescale
            ),
            (TrackKind::Audio, "mp4a.40.2", 48000, 1, 48000)
        );
        inits.push(
            out.tracks
                .iter()
                .map(|t| t.init.clone())
                .collect::<Vec<_>>(),
        );
        for f in &out.fragments {
            top_level(&f.bytes).unwrap();
            let p = parse_media_segment(&f.bytes).unwrap();
            assert_eq!(p.sequence, i as u32 + 1);
            assert_eq!(p.base_decode_time, f.base_decode_time);
            assert_eq!(p.samples.len() as u32, f.samples);
            if let Some(end) = ends[f.track] {
                assert_eq!(
                    f.base_decode_time, end,
                    "track {} segment {i} continues",
                    f.track
                );
            }
            ends[f.track] = Some(f.base_decode_time + f.duration);
        }
        assert!(out.fragments[0].starts_with_sync);
        assert_eq!(out.fragments[0].samples, 50);
    }
    assert!(
        inits.windows(2).all(|w| w[0] == w[1]),
        "init segments are byte-identical"
    );
    parse_boxes(&inits[0][0]).unwrap();
}

const H265_AAC: [&[u8]; 2] = [
    include_bytes!("../../../testdata/ts/h265_aac/seg_00000.ts"),
    include_bytes!("../../../testdata/ts/h265_aac/seg_00001.ts"),
];
const WRAP: [&[u8]; 3] = [
    include_bytes!("../../../testdata/ts/wrap/seg_00000.ts"),
    include_bytes!("../../../testdata/ts/wrap/seg_00001.ts"),
    include_bytes!("../../../testdata/ts/wrap/seg_00002.ts"),
];

/// Every fragment parses, tiles and agrees with its `TrackFragment` summary; returns
/// `(base_decode_time, duration)` per track.
fn check(out: &Repackaged) -> Vec<(u64, u64)> {
    assert_eq!(out.tracks.len(), out.fragments.len());
    assert!(
        out.tracks
            .iter()
            .map(|t| t.kind == TrackKind::Audio)
            .is_sorted(),
        "video first"
    );
    out.fragments
        .iter()
        .enumerate()
        .map(|(i, f)| {
            assert_eq!(f.track, i);
            let tiles = top_level(&f.bytes).unwrap();
            assert_eq!(tiles.iter().map(|t| t.2).sum::<usize>(), f.bytes.len());
            top_level(&out.tracks[i].init).unwrap();
            let p = parse_media_segment(&f.bytes).unwrap();
            assert_eq!(p.track_id, out.tracks[i].track_id);
            assert_eq!(p.samples.len() as u32, f.samples);
            assert_eq!(
                p.samples.iter().map(|s| u64::from(s.duration)).sum::<u64>(),
                f.duration
            );
            assert_eq!(
                p.samples.iter().map(|s| s.size as usize).sum::<usize>(),
                p.mdat.len()
            );
            (f.base_decode_time, f.duration)
        })
        .collect()
}

#[test]
fn h265_with_b_frames() {
    let mut r = Repackager::new();
    let mut end = None;
    for (i, ts) in H265_AAC.iter().enumerate() {
        let out = r.repackage(ts, i as u32).unwrap();
        let v = &out.tracks[0];
        assert_eq!(
            (v.codec, v.codecs.as_str(), v.width, v.height),
            (Codec::H265, "hvc1.1.6.L60.90", 320, 180)
        );
        let hvcc = parse_boxes(&v.init).unwrap()[1]
            .at(&[
                b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"hvc1", b"hvcC",
            ])
            .cloned()
            .unwrap();
        assert_eq!(hvcc.prefix[22], 3, "VPS, SPS and PPS arrays");
        let times = check(&out);
        if let Some(e) = end {
            assert_eq!(times[0].0, e);
        }
        end = Some(times[0].0 + times[0].1);
        let p = parse_media_segment(&out.fragments[0].bytes).unwrap();
        assert!(
            p.samples.iter().any(|s| s.composition_offset > 0),
            "B-frames reorder"
        );
        assert!(out.fragments[0].earliest_presentation_time > out.fragments[0].base_decode_time);
        assert!(out.fragments[0].starts_with_sync);
        assert_eq!(out.tracks[1].channels, 1);
    }
}

#[test]
fn pts_wrap_is_unwrapped_across_and_inside_segments() {
    let mut r = Repackager::new();
    let mut ends = [None, None];
    let mut firsts = Vec::new();
    for (i, ts) in WRAP.iter().enumerate() {
        let out = r.repackage(ts, i as u32).unwrap();
        for (k, (t, d)) in check(&out).into_iter().enumerate() {
            if let Some(e) = ends[k] {
                assert_eq!(t, e, "track {k} segment {i}");
            }
            ends[k] = Some(t + d);
            if i == 0 {
                firsts.push(t);
            }
        }
    }
    let video_end = ends[0].unwrap();
    assert!(
        firsts[0] < PTS_MODULUS && video_end > PTS_MODULUS + 90_000,
        "{firsts:?} → {video_end}"
    );
    let audio_end = ends[1].unwrap();
    assert!(audio_end > PTS_MODULUS * 48_000 / 90_000);
}

#[test]
fn torn_and_padded_segments() {
    let ts = H264_AAC[0];
    let whole = Repackager::new().repackage(ts, 1).unwrap();
    let mut padded = ts.to_vec();
    padded.extend_from_slice(&[0xFF; 1000]);
    let out = Repackager::new().repackage(&padded, 1).unwrap();
    assert_eq!(out.fragments[0].bytes, whole.fragments[0].bytes);
    assert_eq!(out.fragments[1].bytes, whole.fragments[1].bytes);
    assert_eq!(out.stats.demux.skipped_bytes, 1000);
    let torn = &ts[..ts.len() - 100];
    let out = Repackager::new().repackage(torn, 1).unwrap();
    check(&out);
    assert_eq!(out.stats.demux.skipped_bytes, 88);
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |data: &[u8]| Repackager::new().repackage(data, 1).unwrap_err();
    assert!(matches!(
        err(b"#EXTM3U\n#EXT-X-VERSION:3\n"),
        RepackageError::NotTransportStream
    ));
    assert!(matches!(err(&[]), RepackageError::NotTransportStream));
    // Packets, but no PAT.
    let mut cc = 0;
    let only_pes = packetize(
        0x100,
        &build_pes(0xE0, Some(1), None, &[0, 0, 1, 0x65], false),
        &mut cc,
        true,
    );
    assert!(matches!(err(&only_pes), RepackageError::NoProgram));
    // A program with timed metadata only.
    let e = err(&synthetic(&[(0x15, 0x102)], &[]));
    assert!(matches!(e, RepackageError::NoSupportedStreams(_)));
    assert_eq!(
        e.to_string(),
        "no H.264, H.265 or AAC (ADTS) stream in the segment (stream types: 0x15)"
    );
    // H.264 pictures without SPS/PPS, here or before.
    let e = err(&synthetic(
        &[(0x1B, 0x100)],
        &[(0x100, Some(0), &idr(false))],
    ));
    assert_eq!(
        e.to_string(),
        "H.264 stream on PID 256 has no parameter sets (SPS/PPS) in this segment or earlier ones"
    );
    // A program whose streams carry nothing.
    assert!(matches!(
        err(&synthetic(&[(0x1B, 0x100)], &[])),
        RepackageError::NoSamples
    ));
}

/// An H.264 access unit: AUD, optionally SPS + PPS, and an IDR slice.
fn idr(with_params: bool) -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 9, 0xF0];
    if with_params {
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(crate::ts::h264::tests::SPS_640X360);
        au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xef, 0x3c, 0xb0]);
    }
    au.extend_from_slice(&[0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33]);
    au
}

const LC_48K_MONO: AdtsConfig = AdtsConfig {
    object_type: 2,
    sample_rate_index: 3,
    channel_config: 1,
};

fn adts_frames(n: usize, raw_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(&adts::build_header(LC_48K_MONO, raw_len));
        out.extend(std::iter::repeat_n(i as u8, raw_len));
    }
    out
}

/// PAT → PMT 0x1000 (program 1) with `streams`, then each `(pid, pts, es)` as one PES.
fn synthetic(streams: &[(u8, u16)], pes: &[(u16, Option<u64>, &[u8])]) -> Vec<u8> {
    synthetic_programs(&[(1, 0x1000, streams)], pes)
}

/// `(program_number, pmt_pid, [(stream_type, pid)])`.
type ProgramSpec<'a> = (u16, u16, &'a [(u8, u16)]);

fn synthetic_programs(programs: &[ProgramSpec<'_>], pes: &[(u16, Option<u64>, &[u8])]) -> Vec<u8> {
    let mut ccs: HashMap<u16, u8> = HashMap::new();
    let mut section = vec![0u8];
    section.extend(build_pat(
        &programs.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
    ));
    let mut ts = packetize(0, &section, ccs.entry(0).or_default(), false);
    for &(number, pmt_pid, streams) in programs {
        let mut section = vec![0u8];
        section.extend(build_pmt(
            number,
            streams.first().map_or(0x1FFF, |s| s.1),
            streams,
        ));
        ts.extend(packetize(
            pmt_pid,
            &section,
            ccs.entry(pmt_pid).or_default(),
            false,
        ));
    }
    for &(pid, pts, es) in pes {
        let video = pid == 0x100 || pid == 0x200;
        let p = build_pes(if video { 0xE0 } else { 0xC0 }, pts, None, es, !video);
        ts.extend(packetize(pid, &p, ccs.entry(pid).or_default(), video));
    }
    ts
}

#[test]
fn first_program_with_media_is_used() {
    let a = adts_frames(3, 20);
    let v = idr(true);
    let ts = synthetic_programs(
        &[
            (1, 0x1000, &[(0x15, 0x102)]),
            (2, 0x1001, &[(0x1B, 0x200), (0x0F, 0x201)]),
        ],
        &[
            (0x200, Some(9000), &v),
            (0x201, Some(9000), &a),
            (0x200, Some(12600), &v),
        ],
    );
    let out = Repackager::new().repackage(&ts, 7).unwrap();
    check(&out);
    // A first program that declares H.264 but carries nothing in this segment is passed over.
    let silent = synthetic_programs(
        &[
            (1, 0x1000, &[(0x1B, 0x300)]),
            (2, 0x1001, &[(0x1B, 0x200), (0x0F, 0x201)]),
        ],
        &[(0x200, Some(9000), &v), (0x201, Some(9000), &a)],
    );
    assert_eq!(
        Repackager::new()
            .repackage(&silent, 1)
            .unwrap()
            .tracks
            .len(),
        2
    );
    assert_eq!(
        out.tracks
            .iter()
            .map(|t| (t.track_id, t.codecs.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "avc1.64001e"), (2, "mp4a.40.2")]
    );
    assert_eq!(out.fragments[0].samples, 2);
    assert_eq!(
        out.fragments[0].duration,
        2 * 3600,
        "the last sample repeats the previous duration"
    );
    assert_eq!(out.fragments[1].samples, 3);
    assert_eq!(
        out.fragments[1].base_decode_time, 4800,
        "9000 at 90 kHz = 4800 at 48 kHz"
    );
    let p = parse_media_segment(&out.fragments[1].bytes).unwrap();
    assert_eq!(p.sequence, 7);
    assert_eq!(
        p.mdat,
        [vec![0u8; 20], vec![1u8; 20], vec![2u8; 20]].concat(),
        "raw AAC, no ADTS headers"
    );
    let v = parse_media_segment(&out.fragments[0].bytes).unwrap();
    // AUD, SPS and PPS dropped: only the IDR slice, length-prefixed.
    assert_eq!(v.mdat[..9], [0, 0, 0, 5, 0x65, 0x88, 0x84, 0x00, 0x33]);
    assert_eq!(v.samples[0].flags, SAMPLE_SYNC);
}

#[test]
fn adts_frame_split_across_pes_is_joined() {
    let a = adts_frames(4, 30);
    let (first, second) = a.split_at(37 + 10);
    // PES 1: a whole frame and the start of the second; PES 2 (its PTS is the third frame's).
    let ts = synthetic(
        &[(0x0F, 0x101)],
        &[
            (0x101, Some(90_000), first),
            (0x101, Some(90_000 + 2 * 1920), second),
        ],
    );
    let out = Repackager::new().repackage(&ts, 1).unwrap();
    assert_eq!(out.fragments[0].samples, 4);
    assert_eq!(out.stats.skipped_audio_bytes, 0);
    let p = parse_media_segment(&out.fragments[0].bytes).unwrap();
    assert_eq!(p.base_decode_time, 48_000);
    assert_eq!(p.mdat.len(), 4 * 30);
    assert_eq!(&p.mdat[30..60], &[1u8; 30]);
}

#[test]
fn parameter_sets_carry_over_to_later_segments() {
    let v_params = idr(true);
    let v_plain = idr(false);
    let seg1 = synthetic(&[(0x1B, 0x100)], &[(0x100, Some(0), &v_params)]);
    let seg2 = synthetic(&[(0x1B, 0x100)], &[(0x100, Some(3600), &v_plain)]);
    let mut r = Repackager::new();
    let a = r.repackage(&seg1, 1).unwrap();
    let b = r.repackage(&seg2, 2).unwrap();
    assert_eq!(a.tracks[0].init, b.tracks[0].init);
    assert_eq!(b.fragments[0].base_decode_time, 3600);
    assert!(Repackager::new().repackage(&seg2, 1).is_err());
}

#[test]
fn continuity_gaps_are_counted_not_fatal() {
    let ts = H264_AAC[1];
    // Drop one packet in the middle of the segment.
    let at = (ts.len() / 188 / 2) * 188;
    let mut cut = ts[..at].to_vec();
    cut.extend_from_slice(&ts[at + 188..]);
    let out = Repackager::new().repackage(&cut, 1).unwrap();
    check(&out);
    assert_eq!(out.stats.demux.continuity_errors, 1);
    assert_eq!(out.stats.damaged_samples, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4000)) {
        if let Ok(out) = Repackager::new().repackage(&data, 1) {
            check(&out);
        }
    }

    /// Real segments cut anywhere and with bytes flipped: never a panic, and whatever comes out
    /// is well-formed.
    #[test]
    fn damaged_real_segments(set in 0usize..3, cut in 0usize..300_000,
                             flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..30)) {
        let src = [H264_AAC[0], H265_AAC[0], WRAP[1]][set];
        let mut ts = src[..cut.min(src.len())].to_vec();
        for (at, v) in flips {
            if !ts.is_empty() {
                let n = ts.len();
                ts[at % n] = v;
            }
        }
        let mut r = Repackager::new();
        if let Ok(out) = r.repackage(&ts, 1) {
            check(&out);
        }
        // And the same repackager keeps going on the next, intact, segment.
        let out = r.repackage(src, 2).unwrap();
        check(&out);
    }
}

#[test]
fn audio_gaps_lengthen_the_previous_sample_and_overlaps_are_dropped() {
    let two = adts_frames(2, 10);
    // 2 frames at 0, 2 frames 1 s later (a gap of 48000 - 2048 samples), then a PES that
    // overlaps the previous one by a whole frame.
    let ts = synthetic(
        &[(0x0F, 0x101)],
        &[
            (0x101, Some(0), &two),
            (0x101, Some(90_000), &two),
            (0x101, Some(90_000 + 1920), &two),
        ],
    );
    let out = Repackager::new().repackage(&ts, 1).unwrap();
    let p = parse_media_segment(&out.fragments[0].bytes).unwrap();
    let durations: Vec<u32> = p.samples.iter().map(|s| s.duration).collect();
    // The overlapping PES: its first frame overlaps (dropped), its second snaps onto the clock.
    assert_eq!(durations, vec![1024, 48_000 - 1024, 1024, 1024, 1024]);
    assert_eq!(out.fragments[0].duration, 48_000 + 3 * 1024);
    assert_eq!(out.stats.skipped_audio_bytes, 17);
}

#[test]
fn audio_without_any_pts_is_skipped_not_timed_at_zero() {
    let two = adts_frames(2, 10);
    let ts = synthetic(
        &[(0x0F, 0x101)],
        &[(0x101, None, &two), (0x101, Some(9000), &two)],
    );
    let out = Repackager::new().repackage(&ts, 1).unwrap();
    assert_eq!(out.fragments[0].samples, 2);
    assert_eq!(out.fragments[0].base_decode_time, 4800);
    assert_eq!(out.stats.skipped_audio_bytes, 34);
}

#[test]
fn frame_rates_signalled_or_measured() {
    let rate = |ts: &[u8]| Repackager::new().repackage(ts, 1).unwrap().tracks[0].frame_rate;
    // x264 writes VUI timing; x265 writes none in its VPS: measured on the decode times.
    assert_eq!(rate(H264_AAC[0]), Some((25, 1)));
    assert_eq!(rate(H265_AAC[0]), Some((25, 1)));
    assert_eq!(rate(WRAP[1]), Some((25, 1)), "through the wrap");
    let out = Repackager::new().repackage(H264_AAC[0], 1).unwrap();
    assert_eq!(out.tracks[1].frame_rate, None, "audio");

    let steps = |d: &[u64]| {
        let mut t = 1000u64;
        let mut v = vec![(t, t)];
        for s in d {
            t += s;
            v.push((t, t));
        }
        video::measured_frame_rate(&v)
    };
    assert_eq!(steps(&[3003; 10]), Some((30000, 1001)));
    assert_eq!(steps(&[1501, 1502, 1501]), Some((60000, 1001)));
    assert_eq!(steps(&[3750; 4]), Some((24, 1)));
    assert_eq!(
        steps(&[7500; 4]),
        Some((12, 1)),
        "whole rates outside the table"
    );
    assert_eq!(steps(&[3000, 4000]), None, "no rate near 25.7 fps");
    assert_eq!(steps(&[]), None);
    assert_eq!(steps(&[0, 0]), None);
}
