use super::*;
use crate::hex;
use proptest::prelude::*;

/// ANSI/SCTE 35 2023 §14.1: a time_signal with a Provider Placement Opportunity Start.
const TIME_SIGNAL: &str = "fc3034000000000000fffff00506fe72bd0050001e021c435545494800008e7fcf0001a599b00808000000002ca0a18a3402009ac9d17e";
/// §14.2: a splice_insert, out of network, 60.293567 s auto-return break.
const SPLICE_INSERT: &str = "fc302f000000000000fffff014054800008f7feffe7369c02efe0052ccf500000000000a0008435545490000013562dba30a";

fn bytes(h: &str) -> Vec<u8> {
    hex::decode(h).unwrap()
}

#[test]
fn reads_the_specification_examples_as_threefive_does() {
    let ts = parse(&bytes(TIME_SIGNAL)).unwrap();
    assert_eq!(
        ts.command,
        SpliceCommand::TimeSignal {
            pts: Some(1_924_989_008)
        }
    );
    let seg = &ts.segmentation[0];
    assert_eq!(
        (seg.event_id, seg.type_id, seg.duration),
        (0x4800_008e, 0x34, Some(27_630_000))
    );
    assert_eq!(
        (seg.upid_type, seg.upid.as_slice()),
        (8, &[0, 0, 0, 0, 0x2c, 0xa0, 0xa1, 0x8a][..])
    );
    let cue = ts.cue().unwrap();
    assert_eq!(
        (cue.event_id, cue.signal, cue.duration),
        (0x4800_008e, Signal::Out, Some(27_630_000))
    );

    let si = parse(&bytes(SPLICE_INSERT)).unwrap();
    let SpliceCommand::Insert(i) = si.command else {
        panic!("{si:?}")
    };
    assert_eq!(i.event_id, 1_207_959_695);
    assert!(i.out_of_network && i.auto_return && !i.immediate && !i.cancel);
    assert_eq!(i.pts, Some(1_936_310_318));
    assert_eq!(i.duration, Some(5_426_421));
    assert!(
        si.segmentation.is_empty(),
        "the avail descriptor is skipped"
    );
}

#[test]
fn written_sections_read_back() {
    let insert = SpliceInsert {
        event_id: 1_207_959_695,
        out_of_network: true,
        pts: Some(1_936_310_318),
        duration: Some(5_426_421),
        auto_return: true,
        ..SpliceInsert::default()
    };
    let s = splice_insert_section(&insert);
    assert_eq!(parse(&s).unwrap().command, SpliceCommand::Insert(insert));
    // The specification's example without its avail descriptor, byte for byte.
    assert_eq!(&s[14..34], &bytes(SPLICE_INSERT)[14..34]);
}

#[test]
fn hostile_sections_are_refused_with_a_reason() {
    let good = bytes(SPLICE_INSERT);
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    assert_eq!(parse(&bad_crc), Err(Scte35Error::Crc));
    assert_eq!(
        parse(&[0xFC, 0x30, 0x0d]),
        Err(Scte35Error::Truncated("section_length"))
    );
    let mut wrong_table = good.clone();
    wrong_table[0] = 0x02;
    assert_eq!(parse(&wrong_table), Err(Scte35Error::TableId(2)));
    for n in 0..good.len() {
        assert!(parse(&good[..n]).is_err(), "truncated at {n}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(parse(&trailing).is_err());
    // An unknown command with a correct CRC.
    let mut unknown = good[..good.len() - 4].to_vec();
    unknown[13] = 0x42;
    let crc = crc32_mpeg2(&unknown);
    unknown.extend_from_slice(&crc.to_be_bytes());
    assert_eq!(parse(&unknown), Err(Scte35Error::UnknownCommand(0x42)));
}

proptest! {
    #[test]
    fn any_splice_insert_round_trips(
        event_id in any::<u32>(),
        cancel in any::<bool>(),
        out in any::<bool>(),
        immediate in any::<bool>(),
        pts in proptest::option::of(0u64..(1 << 33)),
        duration in proptest::option::of(0u64..(1 << 33)),
        auto_return in any::<bool>(),
        upid in any::<u16>(),
    ) {
        let insert = if cancel {
            SpliceInsert { event_id, cancel, ..SpliceInsert::default() }
        } else {
            SpliceInsert {
                event_id,
                out_of_network: out,
                immediate,
                pts: pts.filter(|_| !immediate),
                duration,
                auto_return: auto_return && duration.is_some(),
                unique_program_id: upid,
                ..SpliceInsert::default()
            }
        };
        let s = splice_insert_section(&insert);
        prop_assert_eq!(parse(&s).unwrap().command, SpliceCommand::Insert(insert));
    }

    #[test]
    fn any_bytes_parse_or_fail_without_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&data);
    }

    #[test]
    fn any_body_with_a_good_crc_parses_or_fails_without_panic(
        body in proptest::collection::vec(any::<u8>(), 11..120),
    ) {
        let len = body.len() + 4;
        let mut s = vec![0xFC, 0x30 | (len >> 8) as u8, len as u8];
        s.extend_from_slice(&body);
        s[4] &= 0x7F;
        let crc = crc32_mpeg2(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        let _ = parse(&s).map(|i| i.cue());
    }
}
