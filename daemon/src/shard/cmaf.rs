//! CMAF endpoints on the owner side: after publishing a channel's HLS snapshot, the owner runs
//! its [`CmafPackager`] (only while the channel has a `cmaf` endpoint) and publishes the
//! `CmafSnapshot` beside it. Pulls resolve against it in [`crate::pull::cmaf`].

use std::sync::Arc;
use streampack_core::channel::{ChannelConfig, EndpointType};
use streampack_core::cmaf::packager::CmafPackager;
use streampack_core::id::Id;
use streampack_core::time::Now;

use crate::registry::MediaSlot;

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
