//! CMAF endpoints in the daemon: the owner shard runs a channel's [`CmafPackager`] after
//! publishing its HLS snapshot (only while the channel has a `cmaf` endpoint) and publishes the
//! [`CmafSnapshot`] beside it; pulls of `cmaf` endpoints resolve against that snapshot and go
//! out through the same response path as HLS (Range, ETag/304, CORS, Cache-Control).

use std::sync::Arc;
use streampack_core::channel::media::Lookup;
use streampack_core::channel::{ChannelConfig, EndpointConfig, EndpointType};
use streampack_core::cmaf::output::CmafSnapshot;
use streampack_core::cmaf::packager::CmafPackager;
use streampack_core::http::{HttpError, Status};
use streampack_core::id::Id;
use streampack_core::time::Now;

use crate::registry::MediaSlot;
use crate::{dash, pull};

/// Whether the channel has an endpoint that needs the packager.
pub fn wanted(config: &ChannelConfig) -> bool {
    config
        .endpoints
        .iter()
        .any(|e| e.kind == EndpointType::Cmaf)
}

/// Brings the channel's CMAF output up to date with the HLS snapshot in `slot`: repackages the
/// new segments (once each) and publishes the result. Without a `cmaf` endpoint the packager
/// and its cache are dropped.
pub fn publish(
    packager: &mut Option<CmafPackager>,
    channel: &Id,
    config: &ChannelConfig,
    slot: &MediaSlot,
    now: Now,
) {
    if !wanted(config) {
        if packager.take().is_some() {
            slot.cmaf.store(None);
        }
        return;
    }
    let Some(hls) = slot.hls.load_full() else {
        return;
    };
    let p = packager.get_or_insert_with(|| CmafPackager::new(now));
    let snap = p.update(&hls, now);
    for w in p.drain_warnings() {
        tracing::warn!(channel = %channel, "{w}");
    }
    let current = slot.cmaf.load();
    if !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &snap)) {
        let was_refused = current.as_ref().is_some_and(|c| c.refused.is_some());
        if let (Some(why), false) = (&snap.refused, was_refused) {
            tracing::warn!(channel = %channel, "cmaf endpoints answer 501: {why}");
        }
        slot.cmaf.store(Some(snap));
    }
}

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
        return Err(pull::no_media_yet());
    };
    let content_type = if rest.ends_with(".mpd") {
        dash::MPD_TYPE
    } else {
        pull::PLAYLIST_TYPE
    };
    Ok((snap.lookup(&endpoint.manifest_name, rest), content_type))
}
