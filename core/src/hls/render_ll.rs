//! Media playlists with the Low-Latency HLS tags (RFC 8216bis, draft 22): Partial Segments
//! (`EXT-X-PART`, `EXT-X-PART-INF`), `EXT-X-PRELOAD-HINT`, `EXT-X-SERVER-CONTROL`, Playlist Delta
//! Updates (`EXT-X-SKIP`) and `EXT-X-RENDITION-REPORT`; without them (`server_control: None`),
//! an ordinary fMP4 media playlist. Written by hand like [`super::render`], once per change.
//! Segment URIs are given whole: a segment's Media Sequence Number is its place in the
//! playlist, not a number in its URI.

use std::fmt::Write;
use std::sync::Arc;

/// What `EXT-X-SERVER-CONTROL` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerControl {
    /// `CAN-SKIP-UNTIL`, ms (at least six target durations).
    pub can_skip_until_ms: u64,
    /// `PART-HOLD-BACK`, ms (at least three part targets), when the playlist has parts.
    pub part_hold_back_ms: Option<u64>,
}

/// A media playlist to render.
#[derive(Debug, Clone, Default)]
pub struct LlPlaylistOut {
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration_s: u64,
    /// `EXT-X-MEDIA-SEQUENCE`: the Media Sequence Number of the first segment.
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE`.
    pub discontinuity_sequence: u64,
    /// `EXT-X-ENDLIST`.
    pub end_list: bool,
    /// `EXT-X-SERVER-CONTROL` (and version 9): `CAN-BLOCK-RELOAD=YES` and the rest.
    pub server_control: Option<ServerControl>,
    /// `EXT-X-PART-INF:PART-TARGET`, ms.
    pub part_target_ms: Option<u64>,
    /// A Playlist Delta Update: this many first segments are replaced by `EXT-X-SKIP`.
    pub skipped: usize,
    /// Segments in order (the skipped ones included); the last one may be still arriving.
    pub segments: Vec<LlSegmentOut>,
    /// `EXT-X-PRELOAD-HINT:TYPE=PART` URI.
    pub preload_hint: Option<String>,
    /// `EXT-X-RENDITION-REPORT`s: URI, `LAST-MSN`, `LAST-PART`.
    pub rendition_reports: Vec<(String, u64, Option<u64>)>,
}

/// A segment of a media playlist.
#[derive(Debug, Clone, Default)]
pub struct LlSegmentOut {
    /// Its URI (shared: the same segment is listed in every render of every version).
    pub uri: Arc<str>,
    /// Duration, ms.
    pub duration_ms: u64,
    /// `EXT-X-DISCONTINUITY` before it.
    pub discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME`, Unix ms.
    pub start_unix_ms: u64,
    /// Its init segment's URI; `EXT-X-MAP` is written when it changes.
    pub map: Arc<str>,
    /// Its Partial Segments listed (`EXT-X-PART`).
    pub parts: Vec<PartOut>,
    /// Still arriving: only its parts are listed, no `EXTINF`.
    pub arriving: bool,
}

/// An `EXT-X-PART`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartOut {
    /// Its URI.
    pub uri: String,
    /// Duration, ms.
    pub duration_ms: u64,
    /// `INDEPENDENT=YES`.
    pub independent: bool,
}

/// `ms` as decimal seconds with three places, appended to `s`.
fn secs(s: &mut String, ms: u64) {
    let _ = write!(s, "{}.{:03}", ms / 1000, ms % 1000);
}

/// Renders the playlist.
pub fn render_ll(p: &LlPlaylistOut) -> String {
    let mut s = String::with_capacity(256 + p.segments.len() * 96);
    let version = if p.server_control.is_some() { 9 } else { 6 };
    let _ = write!(
        s,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{}\n",
        p.target_duration_s
    );
    if let Some(sc) = p.server_control {
        s.push_str("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=");
        secs(&mut s, sc.can_skip_until_ms);
        if let Some(h) = sc.part_hold_back_ms {
            s.push_str(",PART-HOLD-BACK=");
            secs(&mut s, h);
        }
        s.push('\n');
    }
    if let Some(t) = p.part_target_ms {
        s.push_str("#EXT-X-PART-INF:PART-TARGET=");
        secs(&mut s, t);
        s.push('\n');
    }
    let _ = write!(
        s,
        "#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        p.media_sequence, p.discontinuity_sequence
    );
    let skipped = p.skipped.min(p.segments.len());
    if skipped > 0 {
        let _ = writeln!(s, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
    }
    let mut map: Option<&str> = None;
    for seg in &p.segments[skipped..] {
        if seg.discontinuity {
            s.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map != Some(&*seg.map) {
            s.push_str("#EXT-X-MAP:URI=\"");
            s.push_str(&seg.map);
            s.push_str("\"\n");
            map = Some(&seg.map);
        }
        s.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        crate::time::write_datetime(&mut s, seg.start_unix_ms);
        s.push('\n');
        for part in &seg.parts {
            s.push_str("#EXT-X-PART:DURATION=");
            secs(&mut s, part.duration_ms);
            s.push_str(",URI=\"");
            s.push_str(&part.uri);
            s.push('"');
            if part.independent {
                s.push_str(",INDEPENDENT=YES");
            }
            s.push('\n');
        }
        if !seg.arriving {
            s.push_str("#EXTINF:");
            secs(&mut s, seg.duration_ms);
            s.push_str(",\n");
            s.push_str(&seg.uri);
            s.push('\n');
        }
    }
    if let Some(hint) = &p.preload_hint {
        let _ = writeln!(s, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"");
    }
    for (uri, msn, part) in &p.rendition_reports {
        let _ = write!(s, "#EXT-X-RENDITION-REPORT:URI=\"{uri}\",LAST-MSN={msn}");
        if let Some(part) = part {
            let _ = write!(s, ",LAST-PART={part}");
        }
        s.push('\n');
    }
    if p.end_list {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: u64, parts: usize, arriving: bool) -> LlSegmentOut {
        LlSegmentOut {
            uri: format!("v0/{n}.m4s").into(),
            duration_ms: 2_000,
            discontinuity: false,
            start_unix_ms: 1_800_000_000_000 + n * 2_000,
            map: "v0/init1.m4s".into(),
            parts: (0..parts)
                .map(|i| PartOut {
                    uri: format!("v0/{n}.{i}.m4s"),
                    duration_ms: 500,
                    independent: i == 0,
                })
                .collect(),
            arriving,
        }
    }

    #[test]
    fn a_low_latency_playlist_tag_by_tag() {
        let p = LlPlaylistOut {
            target_duration_s: 2,
            media_sequence: 10,
            discontinuity_sequence: 1,
            end_list: false,
            server_control: Some(ServerControl {
                can_skip_until_ms: 12_000,
                part_hold_back_ms: Some(1_500),
            }),
            part_target_ms: Some(500),
            skipped: 0,
            segments: vec![seg(10, 0, false), seg(11, 4, false), seg(12, 2, true)],
            preload_hint: Some("v0/12.2.m4s".into()),
            rendition_reports: vec![("a0.m3u8".into(), 12, Some(1))],
        };
        let text = render_ll(&p);
        let want = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,PART-HOLD-BACK=1.500\n\
#EXT-X-PART-INF:PART-TARGET=0.500\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n\
#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"v0/init1.m4s\"\n\
#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:20.000Z\n#EXTINF:2.000,\nv0/10.m4s\n\
#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:22.000Z\n\
#EXT-X-PART:DURATION=0.500,URI=\"v0/11.0.m4s\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.500,URI=\"v0/11.1.m4s\"\n#EXT-X-PART:DURATION=0.500,URI=\"v0/11.2.m4s\"\n\
#EXT-X-PART:DURATION=0.500,URI=\"v0/11.3.m4s\"\n#EXTINF:2.000,\nv0/11.m4s\n\
#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:24.000Z\n\
#EXT-X-PART:DURATION=0.500,URI=\"v0/12.0.m4s\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.500,URI=\"v0/12.1.m4s\"\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"v0/12.2.m4s\"\n\
#EXT-X-RENDITION-REPORT:URI=\"a0.m3u8\",LAST-MSN=12,LAST-PART=1\n";
        assert_eq!(text, want);
        // The same as a Playlist Delta Update of one segment.
        let delta = render_ll(&LlPlaylistOut {
            skipped: 1,
            ..p.clone()
        });
        assert!(delta.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n#EXT-X-MAP:URI=\"v0/init1.m4s\"\n"), "{delta}");
        assert!(!delta.contains("v0/10.m4s"));
        assert!(delta.contains("#EXT-X-MEDIA-SEQUENCE:10\n"));
    }

    #[test]
    fn without_server_control_it_is_a_plain_fmp4_playlist() {
        let p = LlPlaylistOut {
            target_duration_s: 2,
            media_sequence: 3,
            end_list: true,
            segments: vec![seg(3, 0, false), {
                let mut s = seg(4, 0, false);
                s.discontinuity = true;
                s.map = "v0/init2.m4s".into();
                s
            }],
            ..LlPlaylistOut::default()
        };
        let text = render_ll(&p);
        assert!(text.starts_with(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:3\n"
        ));
        assert!(!text.contains("SERVER-CONTROL") && !text.contains("PART"));
        assert!(text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"v0/init2.m4s\"\n"));
        assert!(text.ends_with("v0/4.m4s\n#EXT-X-ENDLIST\n"));
    }
}
