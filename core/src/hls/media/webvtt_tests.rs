//! WebVTT segments without `X-TIMESTAMP-MAP` get one from the stream's first frame, even when
//! the subtitles playlist comes before the video's (the order ffmpeg pushes them in).

use super::*;
use crate::channel::config::InputRole;
use crate::media::Media;
use crate::time::Now;
use bytes::Bytes;

/// A TS segment whose video starts at `pts`.
fn ts(pts: u64) -> Bytes {
    use crate::ts::demux::{build_pes, packetize};
    use crate::ts::psi::{build_pat, build_pmt};
    let mut out = Vec::new();
    let mut pat = vec![0u8];
    pat.extend(build_pat(&[(1, 0x1000)]));
    out.extend(packetize(0, &pat, &mut 0, false));
    let mut pmt = vec![0u8];
    pmt.extend(build_pmt(1, 0x100, &[(0x1B, 0x100)]));
    out.extend(packetize(0x1000, &pmt, &mut 0, false));
    out.extend(packetize(
        0x100,
        &build_pes(0xE0, Some(pts), None, &[0; 200], false),
        &mut 0,
        true,
    ));
    out.into()
}

#[test]
fn subtitles_get_the_streams_first_frame_as_their_timestamp_map() {
    let now = Now {
        unix_ms: 1_796_600_000_000,
        mono_ms: 1_000_000,
    };
    let mut m = HlsMedia::new(crate::media::MediaParams::new(4000, 60_000), now);
    let master =
        "#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"s\",URI=\"v0_vtt.m3u8\"\n\
                  #EXT-X-STREAM-INF:BANDWIDTH=100000,SUBTITLES=\"subs\"\nv0.m3u8\n";
    let list = |seg: &str| {
        format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n{seg}\n")
    };
    let vtt = "WEBVTT\n\n00:00.080 --> 00:01.080\ncue 0\n";
    let pushes: [(&str, Bytes); 5] = [
        ("main.m3u8", Bytes::from(master)),
        ("s0.ts", ts(133_200)),
        ("v00.vtt", Bytes::from(vtt)),
        ("v0_vtt.m3u8", Bytes::from(list("v00.vtt"))),
        ("v0.m3u8", Bytes::from(list("s0.ts"))),
    ];
    for (path, body) in pushes {
        m.put(InputRole::Primary, path, body, now).unwrap();
    }
    m.tick(now.plus_ms(500));
    let snap = m.snapshot();
    let subs = snap
        .renditions
        .iter()
        .find(|r| r.name.contains("vtt"))
        .unwrap();
    let body = &subs.segments[0].object.body;
    assert!(
        body.starts_with(b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:133200,LOCAL:00:00:00.000\n"),
        "{}",
        String::from_utf8_lossy(body)
    );
}
