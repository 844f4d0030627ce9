use super::*;
use crate::ts::psi::{build_pat, build_pmt};
use proptest::prelude::*;

const PMT: u16 = 0x1000;
const V: u16 = 0x100;
const A: u16 = 0x101;

fn psi_packets(cc: &mut u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pat = vec![0u8];
    pat.extend(build_pat(&[(1, PMT)]));
    out.extend(packetize(0, &pat, cc, false));
    let mut pmt = vec![0u8];
    pmt.extend(build_pmt(1, V, &[(0x1B, V), (0x0F, A), (0x15, 0x102)]));
    let mut c2 = 0;
    out.extend(packetize(PMT, &pmt, &mut c2, false));
    out
}

/// PAT, PMT, an unbounded 1000-byte video PES, a bounded audio PES, another video PES.
fn stream() -> Vec<u8> {
    let (mut c0, mut cv, mut ca) = (0, 0, 0);
    let mut ts = psi_packets(&mut c0);
    let video: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    ts.extend(packetize(
        V,
        &build_pes(0xE0, Some(9000), Some(6000), &video, false),
        &mut cv,
        true,
    ));
    ts.extend(packetize(
        A,
        &build_pes(0xC0, Some(8000), None, &[7; 300], true),
        &mut ca,
        false,
    ));
    ts.extend(packetize(
        V,
        &build_pes(0xE0, Some(12600), Some(9600), &[1, 2, 3], false),
        &mut cv,
        false,
    ));
    ts
}

fn demux(data: &[u8]) -> Demuxed {
    let mut d = Demuxer::new();
    d.push(data);
    d.finish()
}

#[test]
fn pat_pmt_and_pes_reassembly() {
    let out = demux(&stream());
    assert_eq!(out.programs.len(), 1);
    assert_eq!(out.programs[0].streams.len(), 3);
    let summary: Vec<_> = out
        .pes
        .iter()
        .map(|p| (p.pid, p.pts, p.dts, p.data.len(), p.random_access))
        .collect();
    assert_eq!(
        summary,
        vec![
            (A, Some(8000), None, 300, false),
            (V, Some(9000), Some(6000), 1000, true),
            (V, Some(12600), Some(9600), 3, false),
        ]
    );
    assert_eq!(out.pes[1].data[999], (999u32 % 256) as u8);
    assert_eq!(
        out.stats,
        DemuxStats {
            packets: out.stats.packets,
            ..Default::default()
        }
    );
}

#[test]
fn pieces_of_any_size_give_the_same_result() {
    let ts = stream();
    let whole = demux(&ts).pes;
    for step in [1usize, 7, 187, 188, 189, 500] {
        let mut d = Demuxer::new();
        for chunk in ts.chunks(step) {
            d.push(chunk);
        }
        assert_eq!(d.finish().pes, whole, "step {step}");
    }
}

#[test]
fn continuity_gap_marks_the_pes_and_is_counted() {
    let ts = stream();
    // Drop the second packet of the first video PES (the 4th packet overall).
    let mut cut = ts[..3 * 188].to_vec();
    cut.extend_from_slice(&ts[4 * 188..]);
    let out = demux(&cut);
    assert_eq!(out.stats.continuity_errors, 1);
    let v: Vec<_> = out.pes.iter().filter(|p| p.pid == V).collect();
    assert!(v[0].damaged);
    assert_eq!(v[0].data.len(), 1000 - 184);
    assert!(!v[1].damaged);
}

#[test]
fn duplicate_packets_are_ignored() {
    let ts = stream();
    let mut dup = ts[..3 * 188].to_vec();
    dup.extend_from_slice(&ts[2 * 188..]);
    assert_eq!(demux(&dup).pes, demux(&ts).pes);
    assert_eq!(demux(&dup).stats.continuity_errors, 0);
}

#[test]
fn garbage_before_and_between_packets_is_skipped() {
    let ts = stream();
    let mut bad = vec![0x47, 1, 2, 3, 0x47];
    bad.extend_from_slice(&ts[..188 * 2]);
    bad.extend_from_slice(&[0xAA; 50]);
    bad.extend_from_slice(&ts[188 * 2..]);
    let out = demux(&bad);
    assert_eq!(out.pes, demux(&ts).pes);
    assert_eq!(out.stats.skipped_bytes, 55);
}

#[test]
fn torn_and_padded_tails() {
    let ts = stream();
    // Torn: the last video PES loses the end of its only packet; padding: zeros after it.
    let torn = &ts[..ts.len() - 100];
    let out = demux(torn);
    assert_eq!(out.stats.skipped_bytes, 88);
    assert_eq!(out.pes.iter().filter(|p| p.pid == V).count(), 1);
    let mut padded = ts.clone();
    padded.extend_from_slice(&[0u8; 1000]);
    let out = demux(&padded);
    assert_eq!(out.pes, demux(&ts).pes);
    assert_eq!(out.stats.skipped_bytes, 1000);
}

#[test]
fn truncated_bounded_pes_is_dropped() {
    let (mut c0, mut ca) = (0, 0);
    let mut ts = psi_packets(&mut c0);
    let pes = build_pes(0xC0, Some(1), None, &[7; 400], true);
    ts.extend(packetize(A, &pes, &mut ca, false));
    let ts = &ts[..ts.len() - 188];
    let out = demux(ts);
    assert!(out.pes.is_empty());
    assert_eq!(out.stats.dropped_pes, 1);
}

#[test]
fn not_ts_at_all() {
    let out = demux(b"#EXTM3U\n#EXT-X-VERSION:3\n");
    assert!(!out.saw_packets);
    assert!(out.programs.is_empty());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let _ = demux(&data);
    }

    #[test]
    fn damaged_streams_never_panic(cut in 0usize..3000, flips in proptest::collection::vec((0usize..3000, any::<u8>()), 0..20)) {
        let mut ts = stream();
        for (at, v) in flips {
            let n = ts.len();
            ts[at % n] = v;
        }
        ts.truncate(cut.min(ts.len()));
        let _ = demux(&ts);
    }
}
