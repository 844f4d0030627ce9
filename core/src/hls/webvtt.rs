//! WebVTT segments of HLS subtitle renditions as the origin serves them. RFC 8216 §3.5: a
//! WebVTT segment of a stream whose MPEG-TS timestamps do not start at 0 needs an
//! `X-TIMESTAMP-MAP` header; ffmpeg (5.1 and earlier) writes none while its TS starts at 1.4 s,
//! and players then show every cue that much early. When the encoder's segment has no map and
//! the origin saw where the encoder's stream began (the first frame of its first segment,
//! media sequence 0), the origin writes the map: cue time 0 is that frame.

use crate::media::Body;
use bytes::Bytes;

/// A WebVTT segment's extension (`.vtt`, or `.webvtt` as Apple's segmenter names them).
pub fn is_webvtt(ext: &str) -> bool {
    matches!(ext, "vtt" | "webvtt")
}

/// `body` with `X-TIMESTAMP-MAP=MPEGTS:<origin_pts>,LOCAL:00:00:00.000` after its `WEBVTT`
/// line, unless it has a map already or `origin_pts` is unknown.
pub fn with_timestamp_map(body: &Body, origin_pts: Option<u64>) -> Body {
    let Some(pts) = origin_pts else {
        return body.clone();
    };
    let text = &body.bytes[..];
    if !text.starts_with(b"WEBVTT") && !text.starts_with("\u{feff}WEBVTT".as_bytes()) {
        return body.clone();
    }
    if memchr::memmem::find(text, b"X-TIMESTAMP-MAP").is_some() {
        return body.clone();
    }
    let Some(eol) = memchr::memchr(b'\n', text) else {
        return body.clone();
    };
    let mut out = Vec::with_capacity(text.len() + 48);
    out.extend_from_slice(&text[..=eol]);
    out.extend_from_slice(format!("X-TIMESTAMP-MAP=MPEGTS:{pts},LOCAL:00:00:00.000\n").as_bytes());
    out.extend_from_slice(&text[eol + 1..]);
    Bytes::from(out).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_is_written_only_where_one_is_missing_and_known() {
        let vtt = Body::from(Bytes::from_static(
            b"WEBVTT\n\n00:00.080 --> 00:01.080\ncue 0\n",
        ));
        let mapped = with_timestamp_map(&vtt, Some(126_000));
        assert_eq!(
            &mapped.bytes[..],
            &b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n00:00.080 --> 00:01.080\ncue 0\n"[..]
        );
        assert_eq!(with_timestamp_map(&vtt, None).bytes, vtt.bytes);
        assert_eq!(with_timestamp_map(&mapped, Some(1)).bytes, mapped.bytes);
        let not_vtt = Body::from(Bytes::from_static(b"garbage\n"));
        assert_eq!(with_timestamp_map(&not_vtt, Some(1)).bytes, not_vtt.bytes);
    }
}
