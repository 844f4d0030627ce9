//! Time-shifted manifests, rendered from a channel's archive alone: the segments, the Periods
//! and the outline its outputs recorded. No live output is needed, so startover, closed
//! windows and delayed live answer from the moment the archive is loaded, before an encoder
//! pushes again.

use super::hls::{master_with_query, media_playlist};
use super::{ChannelArchive, ShiftRequest, Shifted};
use crate::ad_markers::output::mark_manifest;
use crate::channel::config::AdMarkerStyle;
use crate::channel::config::EndpointType;
use crate::dash::mpd::MPD_CONTENT_TYPE;
use crate::hls::PLAYLIST_CONTENT_TYPE;

/// The manifest at `rest` (the path after `/v1/<channel>/<endpoint>/`) of an endpoint of type
/// `kind` whose manifest name is `manifest`, over what `request` asks for.
pub fn manifest(
    kind: EndpointType,
    manifest: &str,
    rest: &str,
    archive: &ChannelArchive,
    request: &ShiftRequest,
) -> Shifted {
    let main = rest.strip_prefix(manifest);
    match kind {
        EndpointType::Dash | EndpointType::Cmaf if main == Some(".mpd") => {
            super::dash::mpd(archive, kind, request)
                .map_or(Shifted::Empty, |t| Shifted::Manifest(t, MPD_CONTENT_TYPE))
        }
        EndpointType::Dash => Shifted::NotFound,
        EndpointType::Hls | EndpointType::Cmaf => playlist(kind, main, rest, archive, request),
    }
}

/// How far before a window its markers are looked for: a break under way when the window
/// starts is signalled on its first segment (the longest break a marker may announce).
const BREAK_LOOKBACK_MS: u64 = 3_600_000;

/// A time-shifted manifest `text` (at `rest`) of an endpoint of type `kind` with the archived
/// ad markers of its window, in the endpoint's `style`. MPD events go on the MPD's clock as
/// the archive knows it ([`ChannelArchive::mpd_clock_at`]), else as `mpd_clock` (the live
/// output's) maps wall-clock time.
pub fn with_markers(
    kind: EndpointType,
    rest: &str,
    text: String,
    archive: &ChannelArchive,
    request: &ShiftRequest,
    style: AdMarkerStyle,
    mpd_clock: &dyn Fn(u64) -> u64,
) -> String {
    if style == AdMarkerStyle::None {
        return text;
    }
    let (from, to) = request.span_ms();
    let markers = archive.markers(from.saturating_sub(BREAK_LOOKBACK_MS), to);
    // A delayed MPD's clock runs `delay` behind the live one (its media comes that late).
    let delay = match request.window {
        super::Window::Delayed { delay_ms } => delay_ms,
        _ => 0,
    };
    let clock = |t: u64| {
        archive
            .mpd_clock_at(kind, t)
            .unwrap_or_else(|| mpd_clock(t))
            .saturating_add(delay)
    };
    mark_manifest(rest, &text, &markers, style, &clock).unwrap_or(text)
}

/// HLS: the main playlist (the master with the window carried on its URIs, or a single
/// rendition's playlist) or a track's playlist. `hls` renditions are `<dir>/index.m3u8`; `cmaf`
/// tracks `<rendition>/<track>.m3u8`, their URIs under `<track>/`.
fn playlist(
    kind: EndpointType,
    main: Option<&str>,
    rest: &str,
    archive: &ChannelArchive,
    request: &ShiftRequest,
) -> Shifted {
    let outline = archive.outline(kind);
    let (dir, prefix) = if main == Some(".m3u8") {
        if let Some(master) = outline.and_then(|o| o.master.as_deref()) {
            let query = request.window.to_query();
            return Shifted::Manifest(master_with_query(master, &query), PLAYLIST_CONTENT_TYPE);
        }
        // A single rendition served as the main playlist (`hls` only: `cmaf` always has a
        // master); the one recorded last if its name changed over the window.
        if kind != EndpointType::Hls {
            return Shifted::NotFound;
        }
        let newest = archive
            .tracks_of(kind)
            .max_by_key(|(_, t)| t.entries.back().map(|e| e.rec.start_unix_ms));
        let Some((dir, _)) = newest else {
            return Shifted::NotFound;
        };
        (dir.to_string(), format!("{dir}/"))
    } else {
        match kind {
            EndpointType::Hls => match rest.strip_suffix("/index.m3u8") {
                Some(dir) => (dir.to_string(), String::new()),
                None => return Shifted::NotFound,
            },
            _ => match rest.strip_suffix(".m3u8") {
                Some(dir) => {
                    let track = dir.rsplit('/').next().unwrap_or_default();
                    (dir.to_string(), format!("{track}/"))
                }
                None => return Shifted::NotFound,
            },
        }
    };
    let Some(track) = archive.track(kind, &dir) else {
        return Shifted::NotFound;
    };
    // fMP4 tracks cut by the packager always start on a keyframe.
    let independent =
        kind == EndpointType::Cmaf || outline.is_some_and(|o| o.independent.contains(&dir));
    match media_playlist(track, request, &prefix, independent) {
        Some(text) => Shifted::Manifest(text, PLAYLIST_CONTENT_TYPE),
        None => Shifted::Empty,
    }
}
