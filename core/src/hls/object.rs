//! What an HLS input accepts, by file extension, and the `Content-Type` each is served with.

/// `Content-Type` of every playlist the origin serves.
pub const PLAYLIST_CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";

/// What an object pushed to an HLS input is, judged by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// An `.m3u8` playlist (master or media).
    Playlist,
    /// A media or init segment.
    Media {
        /// Canonical lowercase extension, reused in output URIs (`ts`, `m4s`, …).
        ext: &'static str,
        /// `Content-Type` it is served with.
        content_type: &'static str,
    },
}

/// Accepted segment extensions and their content types.
const MEDIA_TYPES: &[(&str, &str)] = &[
    ("ts", "video/mp2t"),
    ("m4s", "video/mp4"),
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("cmfv", "video/mp4"),
    ("m4a", "audio/mp4"),
    ("cmfa", "audio/mp4"),
    ("aac", "audio/aac"),
    ("ac3", "audio/ac3"),
    ("ec3", "audio/eac3"),
    ("mp3", "audio/mpeg"),
    ("vtt", "text/vtt"),
    ("webvtt", "text/vtt"),
];

/// Classifies `path` (a relative path inside an input) by its extension; the error says why
/// it is refused, ready for a 415 body.
pub fn classify(path: &str) -> Result<ObjectKind, String> {
    let file = path.rsplit('/').next().unwrap_or(path);
    let Some((_, ext)) = file.rsplit_once('.') else {
        return Err(format!(
            "{file:?} has no file extension: an HLS input accepts .m3u8 playlists and media segments"
        ));
    };
    if ext.eq_ignore_ascii_case("m3u8") {
        return Ok(ObjectKind::Playlist);
    }
    if let Some((canon, content_type)) = MEDIA_TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
    {
        return Ok(ObjectKind::Media {
            ext: canon,
            content_type,
        });
    }
    if ext.eq_ignore_ascii_case("mpd") {
        return Err(format!(
            "{file:?} is a DASH manifest but this is an HLS channel: push HLS (.m3u8) here"
        ));
    }
    Err(format!(
        "unsupported file type .{ext} ({file:?}): an HLS input accepts .m3u8 and .ts, .m4s, .mp4, \
         .m4a, .m4v, .cmfv, .cmfa, .aac, .ac3, .ec3, .mp3, .vtt, .webvtt"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        let table: &[(&str, Option<&str>)] = &[
            ("main.m3u8", Some("playlist")),
            ("hi/Index.M3U8", Some("playlist")),
            ("seg_1.ts", Some("video/mp2t")),
            ("a/b/seg.TS", Some("video/mp2t")),
            ("init.mp4", Some("video/mp4")),
            ("x.m4s", Some("video/mp4")),
            ("x.m4a", Some("audio/mp4")),
            ("x.cmfa", Some("audio/mp4")),
            ("x.aac", Some("audio/aac")),
            ("x.ac3", Some("audio/ac3")),
            ("x.ec3", Some("audio/eac3")),
            ("x.mp3", Some("audio/mpeg")),
            ("x.vtt", Some("text/vtt")),
            ("x.webvtt", Some("text/vtt")),
            ("x.exe", None),
            ("manifest.mpd", None),
            ("noext", None),
            ("dir.ts/file", None),
        ];
        for (path, want) in table {
            let got = classify(path);
            match (got, want) {
                (Ok(ObjectKind::Playlist), Some("playlist")) => {}
                (Ok(ObjectKind::Media { content_type, .. }), Some(ct)) => {
                    assert_eq!(content_type, *ct, "{path}")
                }
                (Err(_), None) => {}
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
        assert!(classify("m.mpd").unwrap_err().contains("HLS channel"));
        assert!(classify("a.exe").unwrap_err().contains(".exe"));
        assert_eq!(
            classify("S.TS").unwrap(),
            ObjectKind::Media {
                ext: "ts",
                content_type: "video/mp2t"
            }
        );
    }
}
