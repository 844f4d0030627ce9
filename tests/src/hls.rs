//! Reading and writing playlist text in tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// `EXT-X-MEDIA-SEQUENCE` of a media playlist (0 when absent, per RFC 8216).
pub fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.trim().strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .map(|v| v.trim().parse().expect("numeric media sequence"))
        .unwrap_or(0)
}

/// URI lines (non-empty, not tags/comments) in order.
pub fn playlist_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Whether a playlist is a master playlist.
pub fn is_master(playlist: &str) -> bool {
    playlist.contains("#EXT-X-STREAM-INF")
}

/// Sum of `EXTINF` durations, seconds.
pub fn total_duration(playlist: &str) -> f64 {
    playlist
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#EXTINF:"))
        .map(|v| {
            v.split(',')
                .next()
                .unwrap_or("0")
                .trim()
                .parse::<f64>()
                .unwrap_or(0.0)
        })
        .sum()
}

/// A media playlist as an encoder writes it: `segments` are (uri, duration seconds).
pub fn encoder_playlist(media_sequence: u64, segments: &[(String, f64)], ended: bool) -> String {
    let target = segments
        .iter()
        .map(|(_, d)| d.ceil() as u64)
        .max()
        .unwrap_or(2);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{media_sequence}\n"
    );
    for (uri, d) in segments {
        s.push_str(&format!("#EXTINF:{d:.6},\n{uri}\n"));
    }
    if ended {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

/// Bytes shaped like an MPEG-TS segment (188-byte null packets with a marker in the payload),
/// distinct per `tag`. Good enough for ingest, not for playback.
pub fn fake_ts(tag: u32, packets: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(packets * 188);
    for i in 0..packets {
        let mut p = [0xffu8; 188];
        p[0] = 0x47;
        p[1] = 0x1f;
        p[2] = 0xff;
        p[3] = 0x10 | (i as u8 & 0x0f);
        p[4..8].copy_from_slice(&tag.to_be_bytes());
        p[8..12].copy_from_slice(&(i as u32).to_be_bytes());
        v.extend_from_slice(&p);
    }
    v
}
