//! LL-HLS delivery directives on a low-latency endpoint's media playlist requests
//! (`streampack_core::hls::directives`): `_HLS_skip` picks the Playlist Delta Update;
//! `_HLS_msn`/`_HLS_part` hold the request, parked on its track's change notification (no
//! timer polls, no thread: only the connection; parts of the other renditions do not wake it), until the playlist has that segment or part,
//! then it is answered from the newest playlist. `400` at once for directives the spec refuses
//! or targets beyond its limits; `503` after three target durations.

use std::time::Duration;
use streampack_core::hls::directives::{self, Decision, Directives};
use streampack_core::http::{HttpError, Status};

use crate::registry::ChannelEntry;
use streampack_core::channel::EndpointConfig;

/// Whether a query carries delivery directives (an LL-HLS player's playlist request).
pub fn has_directives(query: &str) -> bool {
    query.contains("_HLS_")
}

/// Reads the directives of a playlist request: `400` when malformed.
pub fn parse(query: &str) -> Result<Directives, HttpError> {
    directives::parse(query).map_err(|why| HttpError::new(Status::BAD_REQUEST, why))
}

/// Holds a blocking request until the playlist at `rest` has what `dirs` asks for. `Ok` to
/// answer now (also when the playlist is not a low-latency one: directives are then
/// ignored), `Err` with the `400` or `503` to send.
pub async fn wait(
    entry: &ChannelEntry,
    endpoint: &EndpointConfig,
    rest: &str,
    dirs: Directives,
) -> Result<(), HttpError> {
    let Some(want) = dirs.block else {
        return Ok(());
    };
    let mut deadline = None;
    // The playlist's track's key, learnt at the first look (it never changes for a path).
    let mut key = None;
    loop {
        // Listening first: a change between the look and the wait wakes it.
        let wake = key.map(|k| entry.media.listen(k));
        let position = {
            let published = entry.media.load();
            published
                .as_ref()
                .and_then(|p| p.output_for(endpoint))
                .and_then(|o| o.playlist_position(&endpoint.manifest_name, rest))
        };
        let Some(position) = position else {
            return Ok(());
        };
        match position.decide(want) {
            Decision::Ready => return Ok(()),
            Decision::TooFar(why) => return Err(HttpError::new(Status::BAD_REQUEST, why)),
            Decision::Wait => {}
        }
        let Some(wake) = wake else {
            // The first look: listen on its track, then look again before waiting.
            key = Some(position.wake_key);
            continue;
        };
        let until = *deadline.get_or_insert_with(|| {
            let ms = directives::block_timeout_ms(position.target_duration_ms.max(1000));
            monoio::time::Instant::now() + Duration::from_millis(ms)
        });
        let left = until.saturating_duration_since(monoio::time::Instant::now());
        if left.is_zero() || monoio::time::timeout(left, wake).await.is_err() {
            return Err(HttpError::new(
                Status::SERVICE_UNAVAILABLE,
                "the segment or part asked for did not appear within three target durations",
            ));
        }
    }
}
