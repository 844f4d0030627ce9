//! CMAF endpoints on the pull side: a pull of a `cmaf` endpoint resolves against the channel's
//! [`CmafSnapshot`] (published by the owner, [`crate::shard::cmaf`]) and goes out through the
//! same response path as HLS (Range, ETag/304, CORS, Cache-Control).

use streampack_core::channel::media::Lookup;
use streampack_core::channel::EndpointConfig;
use streampack_core::cmaf::output::CmafSnapshot;
use streampack_core::http::{HttpError, Status};

use super::content::{no_media_yet, MPD_TYPE, PLAYLIST_TYPE};

/// Resolves a pull of a `cmaf` endpoint: what was found and the `Content-Type` of a playlist
/// there (`.mpd`: DASH, `.m3u8`: HLS). 503 before media, 501 when the input cannot be
/// repackaged (fMP4 HLS).
pub fn lookup<'a>(
    snap: Option<&'a CmafSnapshot>,
    endpoint: &EndpointConfig,
    rest: &str,
) -> Result<(Lookup<'a>, &'static [u8]), HttpError> {
    let Some(snap) = snap.filter(|s| s.mpd.is_some()) else {
        if let Some(why) = snap.and_then(|s| s.refused.as_ref()) {
            return Err(HttpError::new(Status::NOT_IMPLEMENTED, why.clone()));
        }
        return Err(no_media_yet());
    };
    let content_type = if rest.ends_with(".mpd") {
        MPD_TYPE
    } else {
        PLAYLIST_TYPE
    };
    Ok((snap.lookup(&endpoint.manifest_name, rest), content_type))
}
