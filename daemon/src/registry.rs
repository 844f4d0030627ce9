//! What every shard reads without locks: the published control-plane registry (channels with
//! their config) and, per channel, the latest media snapshot its owner published.
//!
//! Both are behind `ArcSwap`: readers `load()` a guard (no lock, no refcount traffic on the
//! fast path); writers build a new value and `store()` it.

use arc_swap::ArcSwapOption;
use std::collections::HashMap;
use std::sync::Arc;
use streampack_core::channel::media::{HlsSnapshot, MediaStatus};
use streampack_core::channel::ChannelConfig;
use streampack_core::cmaf::output::CmafSnapshot;
use streampack_core::control::ControlState;
use streampack_core::dash::DashSnapshot;
use streampack_core::id::Id;

use crate::metrics::ChannelMetrics;

/// The slot a channel's owner publishes snapshots into. It survives config edits.
#[derive(Default)]
pub struct MediaSlot {
    /// Latest HLS output, `None` before the owner first published.
    pub hls: ArcSwapOption<HlsSnapshot>,
    /// Latest DASH output (DASH channels), `None` before the owner first published.
    pub dash: ArcSwapOption<DashSnapshot>,
    /// Latest CMAF output (repackaged from `hls`), `None` unless the channel has a `cmaf`
    /// endpoint.
    pub cmaf: ArcSwapOption<CmafSnapshot>,
}

impl MediaSlot {
    /// Live state of the channel's media, whichever protocol published it.
    pub fn status(&self) -> Option<MediaStatus> {
        if let Some(s) = self.hls.load().as_ref() {
            return Some(s.status.clone());
        }
        self.dash.load().as_ref().map(|s| s.status.clone())
    }
}

/// A channel as the data plane sees it.
pub struct ChannelEntry {
    /// Its configuration at the time the registry was built.
    pub config: ChannelConfig,
    /// Where its owner publishes media.
    pub media: Arc<MediaSlot>,
    /// Its ingest and endpoint counters (kept across rebuilds while it exists).
    pub metrics: ChannelMetrics,
    /// `Cache-Control` of its playlists when the channel sets its own TTL.
    pub manifest_cache_control: Option<String>,
    /// `Cache-Control` of its segments when the channel sets its own TTL.
    pub segment_cache_control: Option<String>,
}

/// The data plane's view of the control-plane state.
#[derive(Default)]
pub struct Registry {
    /// Channels by id.
    pub channels: HashMap<Id, Arc<ChannelEntry>>,
    /// CDN playback domains and the channel each is bound to.
    pub domains: HashMap<String, Id>,
    /// Shard threads: one counter slot each in every channel's metrics.
    pub shards: usize,
}

impl Registry {
    /// An empty registry whose channels will count for `shards` shard threads.
    pub fn for_shards(shards: usize) -> Registry {
        Registry {
            channels: HashMap::new(),
            domains: HashMap::new(),
            shards,
        }
    }

    /// Builds the registry for `state`, keeping the media slots of channels that still exist.
    pub fn rebuild(state: &ControlState, old: &Registry) -> Registry {
        let channels = state
            .channels
            .iter()
            .map(|c| {
                let prev = old.channels.get(&c.id);
                let media = prev.map(|e| Arc::clone(&e.media)).unwrap_or_default();
                let metrics = ChannelMetrics::rebuild(c, prev.map(|e| &e.metrics), old.shards);
                (
                    c.id,
                    Arc::new(ChannelEntry {
                        config: c.clone(),
                        media,
                        metrics,
                        manifest_cache_control: c
                            .manifest_ttl
                            .map(|t| format!("public, max-age={t}")),
                        segment_cache_control: c
                            .segment_ttl
                            .map(|t| format!("public, max-age={t}")),
                    }),
                )
            })
            .collect();
        let domains = state
            .channels
            .iter()
            .flat_map(|c| c.cdn_domains.iter().map(|d| (d.clone(), c.id)))
            .collect();
        Registry {
            channels,
            domains,
            shards: old.shards,
        }
    }
}
