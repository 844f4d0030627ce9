//! What pull answers carry whatever the endpoint type: the playlists' content types and the
//! 503 of a channel with no media yet.

use streampack_core::dash::mpd::MPD_CONTENT_TYPE;
use streampack_core::hls::PLAYLIST_CONTENT_TYPE;
use streampack_core::http::{HttpError, Status};

/// `Content-Type` of HLS playlists (HLS endpoints, and the fMP4 ones of CMAF endpoints).
pub const PLAYLIST_TYPE: &[u8] = PLAYLIST_CONTENT_TYPE.as_bytes();

/// `Content-Type` of MPDs.
pub const MPD_TYPE: &[u8] = MPD_CONTENT_TYPE.as_bytes();

/// The 503 of an endpoint whose channel has no input that delivered media yet (answered with
/// `Retry-After`).
pub fn no_media_yet() -> HttpError {
    HttpError::new(
        Status::SERVICE_UNAVAILABLE,
        "no input has delivered media to this channel yet",
    )
}
