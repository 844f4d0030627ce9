//! The origin's own playlists, written by hand (not by `m3u8-rs`): the output must be exactly
//! what we decide, byte for byte, and is rendered once per change, never per request.

use super::parse::{MasterPlaylistIn, MediaIn, VariantIn};
use std::fmt::Write;

/// A media playlist to render.
#[derive(Debug, Clone, Default)]
pub struct MediaPlaylistOut<'a> {
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration_s: u64,
    /// `EXT-X-MEDIA-SEQUENCE` (sequence number of the first segment).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE`.
    pub discontinuity_sequence: u64,
    /// Render `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent_segments: bool,
    /// Render `EXT-X-ENDLIST`.
    pub end_list: bool,
    /// Prepended to every URI (`""` or `"hi/"`).
    pub uri_prefix: &'a str,
    /// Segments in order; their sequence numbers follow `media_sequence` without gaps.
    pub segments: Vec<SegmentOut<'a>>,
}

/// One segment line group of a media playlist.
#[derive(Debug, Clone, Copy, Default)]
pub struct SegmentOut<'a> {
    /// Output sequence number (names the URI `<seq>.<ext>`).
    pub seq: u64,
    /// Extension of the URI.
    pub ext: &'a str,
    /// Duration, milliseconds.
    pub duration_ms: u64,
    /// Render `EXT-X-DISCONTINUITY` before it.
    pub discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME` to pass through as the encoder wrote it.
    pub program_date_time: Option<&'a str>,
    /// Its wall-clock start, Unix ms, written as `EXT-X-PROGRAM-DATE-TIME` when there is no
    /// text to pass through.
    pub start_unix_ms: Option<u64>,
    /// Init segment `(k, ext)` → `init<k>.<ext>`; `EXT-X-MAP` is written when it changes.
    pub init: Option<(u64, &'a str)>,
}

/// Renders a media playlist. Version 6 when `EXT-X-MAP` is used, else 3.
pub fn render_media(p: &MediaPlaylistOut<'_>) -> String {
    let mut s = String::with_capacity(128 + p.segments.len() * 64);
    let version = if p.segments.iter().any(|x| x.init.is_some()) {
        6
    } else {
        3
    };
    let _ = write!(
        s,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n\
         #EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
        p.target_duration_s, p.media_sequence, p.discontinuity_sequence
    );
    if p.independent_segments {
        s.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    let mut current_init: Option<(u64, &str)> = None;
    for seg in &p.segments {
        if seg.discontinuity {
            s.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if let Some(init) = seg.init {
            if current_init != Some(init) {
                let _ = writeln!(
                    s,
                    "#EXT-X-MAP:URI=\"{}init{}.{}\"",
                    p.uri_prefix, init.0, init.1
                );
            }
        }
        current_init = seg.init;
        match (seg.program_date_time, seg.start_unix_ms) {
            (Some(pdt), _) => {
                let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{pdt}");
            }
            (None, Some(ms)) => {
                let _ = writeln!(
                    s,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    crate::time::format_datetime(ms)
                );
            }
            (None, None) => {}
        }
        let _ = write!(
            s,
            "#EXTINF:{}.{:03},\n{}{}.{}\n",
            seg.duration_ms / 1000,
            seg.duration_ms % 1000,
            p.uri_prefix,
            seg.seq,
            seg.ext
        );
    }
    if p.end_list {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

/// HLS `FRAME-RATE` of `num / den` frames a second: decimal, three places (`29.970`).
pub fn hls_frame_rate((num, den): (u32, u32)) -> String {
    let milli = u64::from(num) * 1000 / u64::from(den.max(1));
    format!("{}.{:03}", milli / 1000, milli % 1000)
}

/// An fMP4 multivariant playlist (version 6, independent segments): the `video` variants,
/// with the `audio` renditions as their group; with no video, the audio playlists themselves
/// are the variants (`audio_only`) and there is no group.
pub fn render_av_master(
    video: Vec<VariantIn>,
    audio: Vec<MediaIn>,
    audio_only: impl FnOnce() -> Vec<VariantIn>,
) -> String {
    let (variants, media) = if video.is_empty() {
        (audio_only(), Vec::new())
    } else {
        (video, audio)
    };
    render_master(
        &MasterPlaylistIn {
            independent_segments: true,
            variants,
            media,
        },
        6,
    )
}

/// Renders a master playlist whose URIs were already rewritten to output URIs.
pub fn render_master(m: &MasterPlaylistIn, version: u8) -> String {
    let mut s = String::with_capacity(256);
    let _ = writeln!(s, "#EXTM3U\n#EXT-X-VERSION:{version}");
    if m.independent_segments {
        s.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    for media in &m.media {
        write_media(&mut s, media);
    }
    for v in &m.variants {
        write_variant(&mut s, v);
    }
    s
}

fn write_media(s: &mut String, m: &MediaIn) {
    let _ = write!(
        s,
        "#EXT-X-MEDIA:TYPE={},GROUP-ID=\"{}\",NAME=\"{}\"",
        m.media_type, m.group_id, m.name
    );
    if let Some(l) = &m.language {
        let _ = write!(s, ",LANGUAGE=\"{l}\"");
    }
    if let Some(l) = &m.assoc_language {
        let _ = write!(s, ",ASSOC-LANGUAGE=\"{l}\"");
    }
    let yes_no = |b: bool| if b { "YES" } else { "NO" };
    let _ = write!(
        s,
        ",DEFAULT={},AUTOSELECT={}",
        yes_no(m.default),
        yes_no(m.autoselect)
    );
    if m.forced {
        s.push_str(",FORCED=YES");
    }
    if let Some(i) = &m.instream_id {
        let _ = write!(s, ",INSTREAM-ID=\"{i}\"");
    }
    if let Some(c) = &m.characteristics {
        let _ = write!(s, ",CHARACTERISTICS=\"{c}\"");
    }
    if let Some(c) = &m.channels {
        let _ = write!(s, ",CHANNELS=\"{c}\"");
    }
    if let Some(u) = &m.uri {
        let _ = write!(s, ",URI=\"{u}\"");
    }
    s.push('\n');
}

fn write_variant(s: &mut String, v: &VariantIn) {
    let _ = write!(s, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
    if let Some(a) = v.average_bandwidth {
        let _ = write!(s, ",AVERAGE-BANDWIDTH={a}");
    }
    if let Some(c) = &v.codecs {
        let _ = write!(s, ",CODECS=\"{c}\"");
    }
    if let Some((w, h)) = v.resolution {
        let _ = write!(s, ",RESOLUTION={w}x{h}");
    }
    if let Some(f) = &v.frame_rate {
        let _ = write!(s, ",FRAME-RATE={f}");
    }
    for (name, val) in [
        ("AUDIO", &v.audio),
        ("VIDEO", &v.video),
        ("SUBTITLES", &v.subtitles),
    ] {
        if let Some(g) = val {
            let _ = write!(s, ",{name}=\"{g}\"");
        }
    }
    match &v.closed_captions {
        Some(Some(g)) => {
            let _ = write!(s, ",CLOSED-CAPTIONS=\"{g}\"");
        }
        Some(None) => s.push_str(",CLOSED-CAPTIONS=NONE"),
        None => {}
    }
    let _ = write!(s, "\n{}\n", v.uri);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_playlist_layout() {
        let p = MediaPlaylistOut {
            target_duration_s: 2,
            media_sequence: 10,
            discontinuity_sequence: 1,
            independent_segments: true,
            end_list: true,
            uri_prefix: "hi/",
            segments: vec![
                SegmentOut {
                    seq: 10,
                    ext: "m4s",
                    duration_ms: 2000,
                    init: Some((0, "mp4")),
                    ..Default::default()
                },
                SegmentOut {
                    seq: 11,
                    ext: "m4s",
                    duration_ms: 1960,
                    init: Some((0, "mp4")),
                    program_date_time: Some("2026-01-01T00:00:02.000+00:00"),
                    ..Default::default()
                },
                SegmentOut {
                    seq: 12,
                    ext: "m4s",
                    duration_ms: 5,
                    discontinuity: true,
                    init: Some((1, "mp4")),
                    start_unix_ms: Some(1_767_225_604_500),
                    ..Default::default()
                },
            ],
        };
        let want = "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI=\"hi/init0.mp4\"
#EXTINF:2.000,
hi/10.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000+00:00
#EXTINF:1.960,
hi/11.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI=\"hi/init1.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:04.500Z
#EXTINF:0.005,
hi/12.m4s
#EXT-X-ENDLIST
";
        assert_eq!(render_media(&p), want);
    }

    #[test]
    fn master_attribute_order() {
        let m = MasterPlaylistIn {
            independent_segments: false,
            variants: vec![VariantIn {
                uri: "hi/index.m3u8".into(),
                bandwidth: 1000,
                average_bandwidth: Some(900),
                codecs: Some("avc1.64000b,mp4a.40.2".into()),
                resolution: Some((640, 360)),
                frame_rate: Some("25.000".into()),
                audio: Some("aud".into()),
                closed_captions: Some(None),
                ..Default::default()
            }],
            media: vec![MediaIn {
                media_type: "AUDIO".into(),
                group_id: "aud".into(),
                name: "English".into(),
                language: Some("en".into()),
                default: true,
                autoselect: true,
                uri: Some("en/index.m3u8".into()),
                ..Default::default()
            }],
        };
        assert_eq!(
            render_master(&m, 3),
            "#EXTM3U\n#EXT-X-VERSION:3\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,URI=\"en/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000,AVERAGE-BANDWIDTH=900,CODECS=\"avc1.64000b,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=25.000,AUDIO=\"aud\",CLOSED-CAPTIONS=NONE\n\
             hi/index.m3u8\n"
        );
    }
}
