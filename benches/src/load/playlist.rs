//! Just enough HLS playlist reading for a simulated player or encoder watcher, and the live
//! edge of an LL-HLS playlist for a blocking-reload player.

/// A media playlist as a player reads it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration_s: f64,
    /// `EXT-X-MEDIA-SEQUENCE`.
    pub media_sequence: u64,
    /// `(sequence, duration s, uri)` of each segment.
    pub segments: Vec<(u64, f64, String)>,
    /// `EXT-X-ENDLIST` seen.
    pub ended: bool,
}

impl MediaPlaylist {
    /// Sequence number of the newest segment.
    pub fn last_seq(&self) -> Option<u64> {
        self.segments.last().map(|s| s.0)
    }
}

/// What a playlist is.
#[derive(Debug, Clone, PartialEq)]
pub enum Playlist {
    /// A master playlist: the first variant's URI.
    Master(String),
    /// A media playlist.
    Media(MediaPlaylist),
}

/// Reads a playlist; `None` if it is not one.
pub fn parse(text: &[u8]) -> Option<Playlist> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next()? != "#EXTM3U" {
        return None;
    }
    let mut p = MediaPlaylist::default();
    let mut duration: Option<f64> = None;
    let mut variant_next = false;
    for l in lines {
        if let Some(v) = l.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target_duration_s = v.parse().ok()?;
        } else if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().ok()?;
        } else if let Some(v) = l.strip_prefix("#EXTINF:") {
            duration = Some(v.split(',').next()?.parse().ok()?);
        } else if l.starts_with("#EXT-X-STREAM-INF:") {
            variant_next = true;
        } else if l == "#EXT-X-ENDLIST" {
            p.ended = true;
        } else if !l.starts_with('#') {
            if variant_next {
                return Some(Playlist::Master(l.to_string()));
            }
            let seq = p.media_sequence + p.segments.len() as u64;
            p.segments
                .push((seq, duration.take().unwrap_or(0.0), l.to_string()));
        }
    }
    Some(Playlist::Media(p))
}

/// Where an LL-HLS media playlist stands: the segment still arriving and how many of its parts
/// are listed. A blocking reload for the next part asks `_HLS_msn=msn&_HLS_part=parts`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlEdge {
    /// Media Sequence Number of the segment still arriving: `EXT-X-MEDIA-SEQUENCE` plus the
    /// number of `#EXTINF` lines.
    pub msn: u64,
    /// `#EXT-X-PART` lines after the last `#EXTINF`: the arriving segment's parts `0..parts`.
    pub parts: u32,
    /// `EXT-X-TARGETDURATION`, seconds (0 when missing).
    pub target_duration_s: f64,
    /// `EXT-X-ENDLIST` seen: nothing more will arrive.
    pub ended: bool,
}

/// Reads the live edge of an LL-HLS media playlist; `None` if it is not a playlist, or not a
/// low-latency one (no `EXT-X-PART-INF`: a blocking reload would be answered at once).
pub fn ll_edge(text: &[u8]) -> Option<LlEdge> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.lines().map(str::trim);
    if lines.next()? != "#EXTM3U" {
        return None;
    }
    let (mut media_sequence, mut segments, mut parts) = (0u64, 0u64, 0u32);
    let (mut target_duration_s, mut ended, mut low_latency) = (0.0, false, false);
    for l in lines {
        if l.starts_with("#EXTINF:") {
            segments += 1;
            parts = 0;
        } else if l.starts_with("#EXT-X-PART:") {
            parts = parts.checked_add(1)?;
        } else if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            media_sequence = v.parse().ok()?;
        } else if let Some(v) = l.strip_prefix("#EXT-X-TARGETDURATION:") {
            target_duration_s = v.parse().ok()?;
        } else if l.starts_with("#EXT-X-PART-INF:") {
            low_latency = true;
        } else if l == "#EXT-X-ENDLIST" {
            ended = true;
        }
    }
    low_latency.then_some(LlEdge {
        msn: media_sequence.checked_add(segments)?,
        parts,
        target_duration_s,
        ended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_and_master() {
        let m = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\na.ts\n#EXTINF:1.5,\nb.ts\n";
        let Some(Playlist::Media(p)) = parse(m) else {
            panic!("media")
        };
        assert_eq!(p.target_duration_s, 2.0);
        assert_eq!(
            p.segments,
            vec![(7, 2.0, "a.ts".into()), (8, 1.5, "b.ts".into())]
        );
        assert_eq!(p.last_seq(), Some(8));
        assert!(!p.ended);
        let m = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi/index.m3u8\n";
        assert_eq!(parse(m), Some(Playlist::Master("hi/index.m3u8".into())));
        assert_eq!(parse(b"<html>"), None);
    }

    #[test]
    fn ll_edge_is_the_arriving_segment_and_its_listed_parts() {
        let head = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.520\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-MAP:URI=\"v0/init1.m4s\"\n";
        let done = "#EXT-X-PART:DURATION=0.520,URI=\"v0/101.0.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.520,URI=\"v0/101.1.m4s\"\n#EXTINF:2.000,\nv0/101.m4s\n";
        let arriving = "#EXT-X-PART:DURATION=0.520,URI=\"v0/102.0.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.520,URI=\"v0/102.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"v0/102.2.m4s\"\n#EXT-X-RENDITION-REPORT:URI=\"a0.m3u8\",LAST-MSN=102,LAST-PART=1\n";
        let first = "#EXTINF:2.000,\nv0/100.m4s\n";
        // Two whole segments listed (100, 101): 102 arrives, parts 0 and 1 listed.
        let e = ll_edge(format!("{head}{first}{done}{arriving}").as_bytes()).unwrap();
        assert_eq!(
            (e.msn, e.parts, e.target_duration_s, e.ended),
            (102, 2, 2.0, false)
        );
        // Right after a segment closed: the next one, no part yet.
        let e = ll_edge(format!("{head}{first}{done}").as_bytes()).unwrap();
        assert_eq!((e.msn, e.parts), (102, 0));
        let e = ll_edge(format!("{head}{first}{done}#EXT-X-ENDLIST\n").as_bytes()).unwrap();
        assert!(e.ended);
        // Not low latency, not a playlist.
        assert_eq!(
            ll_edge(b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:2,\na.ts\n"),
            None
        );
        assert_eq!(ll_edge(b"<html>"), None);
        assert_eq!(
            ll_edge(format!("{head}#EXT-X-MEDIA-SEQUENCE:x\n").as_bytes()),
            None
        );
    }
}
