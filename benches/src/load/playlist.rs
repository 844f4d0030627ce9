//! Just enough HLS playlist reading for a simulated player or encoder watcher.

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
}
