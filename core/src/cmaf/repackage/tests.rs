use super::*;
use crate::fmp4::fragment::parse_media_segment;
use crate::fmp4::reader::{parse_boxes, top_level};

const H264_AAC: [&[u8]; 3] = [
    include_bytes!("../../../tests/fixtures/ts/h264_aac/seg_00000.ts"),
    include_bytes!("../../../tests/fixtures/ts/h264_aac/seg_00001.ts"),
    include_bytes!("../../../tests/fixtures/ts/h264_aac/seg_00002.ts"),
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
