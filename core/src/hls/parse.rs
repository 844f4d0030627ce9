//! Parsing what encoders push: a playlist body becomes a [`PlaylistIn`] whose URIs are resolved
//! to paths inside the input (`hi/index.m3u8` listing `seg1.ts` → `hi/seg1.ts`).
//!
//! `m3u8-rs` does the tokenizing. Around it we check what it is lenient about: it stops quietly
//! at the first line it cannot read (we report that line), it forgets `EXT-X-MAP` after the
//! first segment that follows it (we carry it forward, as RFC 8216 §4.3.2.5 says), and it drops
//! tags after the last segment (we look for `EXT-X-ENDLIST` ourselves). Durations are converted
//! from `EXTINF` floats to integer milliseconds here, once.

use crate::parse_error::ParseError;
use m3u8_rs::{ClosedCaptionGroupId, KeyMethod};

/// A parsed playlist.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaylistIn {
    /// A master (multivariant) playlist.
    Master(MasterPlaylistIn),
    /// A media playlist.
    Media(MediaPlaylistIn),
}

/// A media playlist, URIs resolved inside the input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaPlaylistIn {
    /// `EXT-X-TARGETDURATION`, seconds (0 when absent).
    pub target_duration_s: u64,
    /// `EXT-X-MEDIA-SEQUENCE` (sequence number of the first segment).
    pub media_sequence: u64,
    /// Segments in order.
    pub segments: Vec<SegmentIn>,
    /// `EXT-X-ENDLIST` was present.
    pub end_list: bool,
    /// `EXT-X-INDEPENDENT-SEGMENTS` was present.
    pub independent_segments: bool,
    /// Ad-marker tags that were dropped, and why.
    pub cue_warnings: Vec<String>,
}

/// One segment of a media playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentIn {
    /// Path of the segment inside the input.
    pub uri: String,
    /// `EXTINF` duration rounded to milliseconds.
    pub duration_ms: u64,
    /// An `EXT-X-DISCONTINUITY` precedes it.
    pub discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME`, passed through as the encoder wrote it.
    pub program_date_time: Option<String>,
    /// Path of the init segment (`EXT-X-MAP`) that applies to it, if any.
    pub map_uri: Option<String>,
    /// The ad-marker tags written before it.
    pub cues: Vec<crate::ad_markers::hls_in::CueTag>,
}

/// A master playlist, variant and rendition URIs resolved inside the input.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MasterPlaylistIn {
    /// `EXT-X-INDEPENDENT-SEGMENTS` was present.
    pub independent_segments: bool,
    /// `EXT-X-STREAM-INF` entries (I-frame variants are left out).
    pub variants: Vec<VariantIn>,
    /// `EXT-X-MEDIA` entries.
    pub media: Vec<MediaIn>,
}

/// An `EXT-X-STREAM-INF` variant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VariantIn {
    /// Playlist path (input side) or output URI (once rewritten).
    pub uri: String,
    /// `BANDWIDTH`, bits per second.
    pub bandwidth: u64,
    /// `AVERAGE-BANDWIDTH`.
    pub average_bandwidth: Option<u64>,
    /// `CODECS`.
    pub codecs: Option<String>,
    /// `RESOLUTION` as (width, height).
    pub resolution: Option<(u64, u64)>,
    /// `FRAME-RATE`, kept as the text the encoder sent (three decimals).
    pub frame_rate: Option<String>,
    /// `AUDIO` group id.
    pub audio: Option<String>,
    /// `VIDEO` group id.
    pub video: Option<String>,
    /// `SUBTITLES` group id.
    pub subtitles: Option<String>,
    /// `CLOSED-CAPTIONS`: `Some(None)` is the `NONE` value, `Some(Some(g))` a group id.
    pub closed_captions: Option<Option<String>>,
}

/// An `EXT-X-MEDIA` rendition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaIn {
    /// `TYPE` (`AUDIO`, `VIDEO`, `SUBTITLES`, `CLOSED-CAPTIONS`).
    pub media_type: String,
    /// Playlist path (input side) or output URI (once rewritten).
    pub uri: Option<String>,
    /// `GROUP-ID`.
    pub group_id: String,
    /// `LANGUAGE`.
    pub language: Option<String>,
    /// `ASSOC-LANGUAGE`.
    pub assoc_language: Option<String>,
    /// `NAME`.
    pub name: String,
    /// `DEFAULT=YES`.
    pub default: bool,
    /// `AUTOSELECT=YES`.
    pub autoselect: bool,
    /// `FORCED=YES`.
    pub forced: bool,
    /// `INSTREAM-ID`.
    pub instream_id: Option<String>,
    /// `CHARACTERISTICS`.
    pub characteristics: Option<String>,
    /// `CHANNELS`.
    pub channels: Option<String>,
}

/// Parses a playlist pushed at `path` (relative to the input root). The error says why, with
/// the line number when one is to blame.
pub fn parse_playlist(path: &str, body: &[u8]) -> Result<PlaylistIn, ParseError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ParseError::encoding(format!(
            "playlist is not UTF-8 text (byte {})",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.starts_with("#EXTM3U") {
        return Err(ParseError::syntax(
            "line 1: a playlist must start with #EXTM3U",
        ));
    }
    let input = text.as_bytes();
    if m3u8_rs::is_master_playlist(input) {
        let (rest, master) = m3u8_rs::parse_master_playlist(input)
            .map_err(|e| ParseError::syntax(format!("cannot parse master playlist: {e:?}")))?;
        check_rest(text, rest)?;
        convert_master(path, master)
    } else {
        // Ad-marker tags are read by `ad_markers::hls_in` (m3u8-rs refuses some forms of
        // them, and a bad marker must not refuse the playlist): blanked for m3u8-rs, lines
        // kept so its line numbers stay right.
        let blanked: String;
        let input = if text.lines().any(crate::ad_markers::hls_in::is_cue_line) {
            blanked = text
                .split_inclusive('\n')
                .map(|l| {
                    if crate::ad_markers::hls_in::is_cue_line(l) {
                        if l.ends_with('\n') {
                            "\n"
                        } else {
                            ""
                        }
                    } else {
                        l
                    }
                })
                .collect();
            blanked.as_bytes()
        } else {
            input
        };
        let (rest, media) = m3u8_rs::parse_media_playlist(input)
            .map_err(|e| ParseError::syntax(format!("cannot parse media playlist: {e:?}")))?;
        check_rest(std::str::from_utf8(input).unwrap_or(text), rest)?;
        lint_media(text)?;
        let end_list = text.lines().any(|l| l.trim_end() == "#EXT-X-ENDLIST");
        convert_media(path, text, media, end_list)
    }
}

/// `m3u8-rs` stops at the first line it cannot read and returns what it had: that is an error.
fn check_rest(text: &str, rest: &[u8]) -> Result<(), ParseError> {
    if rest.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(());
    }
    let offset = text.len().saturating_sub(rest.len());
    let line_no = text
        .as_bytes()
        .get(..offset)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1;
    let line: String = String::from_utf8_lossy(rest)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(80)
        .collect();
    Err(ParseError::syntax(format!(
        "line {line_no}: cannot parse {line:?}"
    )))
}

/// `EXT-X-PROGRAM-DATE-TIME` of each segment, as sent. `m3u8-rs` only keeps the RFC 3339
/// form with a colon in the offset and silently drops ffmpeg's `+0000`, so we read it ourselves.
fn scan_program_date_times(text: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut pending = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pending = Some(v.trim().to_string());
        } else if !line.is_empty() && !line.starts_with('#') {
            out.push(pending.take());
        }
    }
    out
}

/// Checks what `m3u8-rs` lets through: it reads a malformed `EXTINF` as an unknown tag and
/// any stray line as a URI, which would publish zero-length or bogus segments.
fn lint_media(text: &str) -> Result<(), ParseError> {
    let mut open_extinf: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or("").trim();
            if d.parse::<f64>().map_or(true, |d| !d.is_finite() || d < 0.0) {
                return Err(ParseError::invalid(format!(
                    "line {n}: bad EXTINF duration {d:?}"
                )));
            }
            if let Some(prev) = open_extinf {
                return Err(ParseError::missing(format!(
                    "line {prev}: #EXTINF without a segment URI"
                )));
            }
            open_extinf = Some(n);
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            if v.trim().parse::<u64>().is_err() {
                return Err(ParseError::invalid(format!(
                    "line {n}: bad EXT-X-TARGETDURATION {v:?}"
                )));
            }
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            if v.trim().parse::<u64>().is_err() {
                return Err(ParseError::invalid(format!(
                    "line {n}: bad EXT-X-MEDIA-SEQUENCE {v:?}"
                )));
            }
        } else if line.starts_with("#EXT-X-STREAM-INF") {
            return Err(ParseError::syntax(format!(
                "line {n}: EXT-X-STREAM-INF in a media playlist (mixed master and media tags)"
            )));
        } else if !line.starts_with('#') && open_extinf.take().is_none() {
            return Err(ParseError::missing(format!(
                "line {n}: segment {line:?} has no #EXTINF"
            )));
        }
    }
    match open_extinf {
        Some(prev) => Err(ParseError::missing(format!(
            "line {prev}: #EXTINF without a segment URI"
        ))),
        None => Ok(()),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.trim_end() == needle || l.starts_with(needle))
        .map_or(0, |i| i + 1)
}

fn convert_media(
    path: &str,
    text: &str,
    media: m3u8_rs::MediaPlaylist,
    end_list: bool,
) -> Result<PlaylistIn, ParseError> {
    if media.i_frames_only {
        return Err(ParseError::unsupported(
            "I-frame-only playlists are not supported",
        ));
    }
    let pdts = scan_program_date_times(text);
    if pdts.len() != media.segments.len() {
        return Err(ParseError::syntax(format!(
            "found {} segment URIs but m3u8-rs read {} segments",
            pdts.len(),
            media.segments.len()
        )));
    }
    let (cues, cue_warnings) = crate::ad_markers::hls_in::scan(text);
    let mut cues = cues.into_iter();
    let mut segments = Vec::with_capacity(media.segments.len());
    let mut map_uri: Option<String> = None;
    for (seg, pdt) in media.segments.into_iter().zip(pdts) {
        let at = || match line_of(text, &seg.uri) {
            0 => String::new(),
            n => format!("line {n}: "),
        };
        if seg.byte_range.is_some() {
            return Err(ParseError::unsupported(format!(
                "{}byte-range segments are not supported",
                at()
            )));
        }
        if let Some(key) = &seg.key {
            if key.method != KeyMethod::None {
                return Err(ParseError::unsupported(format!(
                    "{}encrypted segments (EXT-X-KEY) are not supported",
                    at()
                )));
            }
        }
        if let Some(map) = &seg.map {
            if map.byte_range.is_some() {
                return Err(ParseError::unsupported(format!(
                    "{}byte-range EXT-X-MAP is not supported",
                    at()
                )));
            }
            map_uri = Some(resolve_uri(path, &map.uri).map_err(|e| e.prefixed(&at()))?);
        }
        let uri = resolve_uri(path, &seg.uri).map_err(|e| e.prefixed(&at()))?;
        if uri.to_ascii_lowercase().ends_with(".m3u8") {
            return Err(ParseError::invalid(format!(
                "{}segment URI {:?} is a playlist",
                at(),
                seg.uri
            )));
        }
        let d = f64::from(seg.duration);
        if !(0.0..=86_400.0).contains(&d) {
            return Err(ParseError::invalid(format!(
                "{}EXTINF duration {d} is out of range",
                at()
            )));
        }
        // Rounded to the millisecond: bookkeeping is integer from here on.
        let duration_ms = (d * 1000.0).round() as u64;
        segments.push(SegmentIn {
            uri,
            duration_ms,
            discontinuity: seg.discontinuity,
            program_date_time: pdt,
            map_uri: map_uri.clone(),
            cues: cues.next().unwrap_or_default(),
        });
    }
    Ok(PlaylistIn::Media(MediaPlaylistIn {
        target_duration_s: media.target_duration,
        media_sequence: media.media_sequence,
        segments,
        end_list: end_list || media.end_list,
        independent_segments: media.independent_segments,
        cue_warnings,
    }))
}

fn convert_master(path: &str, master: m3u8_rs::MasterPlaylist) -> Result<PlaylistIn, ParseError> {
    let mut variants = Vec::new();
    for v in master.variants.into_iter().filter(|v| !v.is_i_frame) {
        let uri =
            resolve_uri(path, &v.uri).map_err(|e| e.prefixed(&format!("variant {:?}: ", v.uri)))?;
        if !uri.to_ascii_lowercase().ends_with(".m3u8") {
            return Err(ParseError::invalid(format!(
                "variant {:?} is not a .m3u8 playlist",
                v.uri
            )));
        }
        variants.push(VariantIn {
            uri,
            bandwidth: v.bandwidth,
            average_bandwidth: v.average_bandwidth,
            codecs: v.codecs,
            resolution: v.resolution.map(|r| (r.width, r.height)),
            frame_rate: v.frame_rate.map(|f| format!("{f:.3}")),
            audio: v.audio,
            video: v.video,
            subtitles: v.subtitles,
            closed_captions: v.closed_captions.map(|c| match c {
                ClosedCaptionGroupId::None => None,
                ClosedCaptionGroupId::GroupId(g) | ClosedCaptionGroupId::Other(g) => Some(g),
            }),
        });
    }
    if variants.is_empty() {
        return Err(ParseError::missing(
            "master playlist lists no variant streams (EXT-X-STREAM-INF)",
        ));
    }
    let mut media = Vec::new();
    for m in master.alternatives {
        let uri = match &m.uri {
            Some(u) => {
                let r = resolve_uri(path, u)
                    .map_err(|e| e.prefixed(&format!("EXT-X-MEDIA {u:?}: ")))?;
                if !r.to_ascii_lowercase().ends_with(".m3u8") {
                    return Err(ParseError::invalid(format!(
                        "EXT-X-MEDIA URI {u:?} is not a .m3u8 playlist"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        media.push(MediaIn {
            media_type: m.media_type.to_string(),
            uri,
            group_id: m.group_id,
            language: m.language,
            assoc_language: m.assoc_language,
            name: m.name,
            default: m.default,
            autoselect: m.autoselect,
            forced: m.forced,
            instream_id: m.instream_id.map(|i| i.to_string()),
            characteristics: m.characteristics,
            channels: m.channels,
        });
    }
    Ok(PlaylistIn::Master(MasterPlaylistIn {
        independent_segments: master.independent_segments,
        variants,
        media,
    }))
}

/// Resolves `uri`, found in the playlist at `base` (a path inside the input), to a path inside
/// the input. Absolute URLs, absolute paths and `..` escaping the input are refused.
pub fn resolve_uri(base: &str, uri: &str) -> Result<String, ParseError> {
    let uri = uri.trim();
    let uri = uri.split(['?', '#']).next().unwrap_or("");
    if uri.is_empty() {
        return Err(ParseError::missing("empty URI"));
    }
    if uri.contains("://") || uri.starts_with("//") || uri.starts_with('/') {
        return Err(ParseError::outside_input(format!(
            "absolute URI {uri:?}: URIs must be relative to the playlist (the origin only serves what was pushed to this input)"
        )));
    }
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop(); // the playlist's own file name
    parts.retain(|p| !p.is_empty() && *p != ".");
    for comp in uri.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(ParseError::outside_input(format!(
                        "URI {uri:?} escapes the input with '..'"
                    )));
                }
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(ParseError::missing(format!("URI {uri:?} names no file")));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
