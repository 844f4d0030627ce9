//! What every shard reads without locks: the published control-plane registry (channels with
//! their config) and, per channel, the latest media snapshot its owner published.
//!
//! Both are behind `ArcSwap`: readers `load()` a guard (no lock, no refcount traffic on the
//! fast path); writers build a new value and `store()` it.

use arc_swap::ArcSwapOption;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use streampack_core::channel::{ChannelConfig, InputRole};
use streampack_core::control::ControlState;
use streampack_core::id::Id;
use streampack_core::media::wake::WAKE_KEYS;
use streampack_core::media::{MediaStatus, Published};

use crate::metrics::ChannelMetrics;

/// The slot a channel's owner publishes its media into (whatever the protocol: pulls ask the
/// [`Published`] view for their endpoint type's output). It survives config edits.
#[derive(Default)]
pub struct MediaSlot {
    published: ArcSwapOption<Published>,
    /// A pull made an object hot: the owner gives it pages at its next tick
    /// ([`streampack_core::media::Media::promote_hot`]).
    promote_wanted: AtomicBool,
    /// Wakes the pulls parked on this channel's playlists (LL-HLS blocking reloads), by track
    /// ([`streampack_core::media::wake`]): no pull polls.
    changed: [event_listener::Event; WAKE_KEYS],
    /// Monotonic ms (+1, 0: never) of each input's last push an encoder made to this node
    /// (cluster mode tells which inputs a node receives by it; relayed pushes do not count).
    local_push: [AtomicU64; 2],
}

impl MediaSlot {
    /// The latest published media, `None` before the owner first published.
    pub fn load(&self) -> arc_swap::Guard<Option<Arc<Published>>> {
        self.published.load()
    }

    /// Publishes `media`; the caller wakes whom it concerns ([`MediaSlot::notify_all`],
    /// [`MediaSlot::notify_track`]).
    pub fn store(&self, media: Arc<Published>) {
        self.published.store(Some(media));
    }

    /// Wakes every pull parked on this channel.
    pub fn notify_all(&self) {
        for e in &self.changed {
            e.notify(usize::MAX);
        }
    }

    /// Wakes the pulls parked on the tracks of wake key `key`.
    pub fn notify_track(&self, key: u8) {
        if let Some(e) = self.changed.get(usize::from(key)) {
            e.notify(usize::MAX);
        }
    }

    /// A wait for the next change of the tracks of wake key `key`: make it *before* looking
    /// at the media, then await it, so that no change between the look and the wait is missed.
    pub fn listen(&self, key: u8) -> event_listener::EventListener {
        let at = usize::from(key) % WAKE_KEYS;
        self.changed.get(at).map_or_else(
            || event_listener::Event::new().listen(),
            event_listener::Event::listen,
        )
    }

    /// Notes an encoder's push on input `role` at monotonic `now_ms`.
    pub fn note_local_push(&self, role: InputRole, now_ms: u64) {
        if let Some(at) = self.local_push.get(role.index()) {
            at.store(now_ms.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// When an encoder last pushed input `role` here (monotonic ms).
    pub fn last_local_push(&self, role: InputRole) -> Option<u64> {
        let at = self.local_push.get(role.index())?.load(Ordering::Relaxed);
        at.checked_sub(1)
    }

    /// Live state of the channel's media.
    pub fn status(&self) -> Option<MediaStatus> {
        self.published.load().as_ref().map(|p| p.status.clone())
    }

    /// Asks the owner for a promotion round (a pull made an object hot).
    pub fn want_promotion(&self) {
        self.promote_wanted.store(true, Ordering::Relaxed);
    }

    /// Whether a promotion round was asked for since the last call.
    pub fn take_promotion(&self) -> bool {
        self.promote_wanted.load(Ordering::Relaxed)
            && self.promote_wanted.swap(false, Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use streampack_core::control::commands::ChannelCreate;
    use streampack_core::media::Published;

    fn ids() -> impl FnMut() -> Id {
        let mut n = 0u8;
        move || {
            n += 1;
            Id::from_random([n; 14])
        }
    }

    fn create(st: &mut ControlState, req: ChannelCreate, gen: &mut dyn FnMut() -> Id) -> Id {
        st.create_channel(&req, gen).unwrap().id
    }

    fn named(name: &str) -> ChannelCreate {
        ChannelCreate {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rebuilds_keep_the_published_media_of_channels_that_remain() {
        let mut st = ControlState::new();
        let mut gen = ids();
        let a = create(&mut st, named("a"), &mut gen);
        let b = create(&mut st, named("b"), &mut gen);
        st.cdn_bind("a", "live.example.com").unwrap();
        let first = Registry::rebuild(&st, &Registry::for_shards(2));
        assert!(
            first.channels[&a].media.status().is_none(),
            "nothing published yet"
        );
        let published = Arc::new(Published::new(7, MediaStatus::default()));
        first.channels[&a].media.store(published);
        st.delete_channel("b").unwrap();
        let second = Registry::rebuild(&st, &first);
        assert!(Arc::ptr_eq(
            &first.channels[&a].media,
            &second.channels[&a].media
        ));
        let media = second.channels[&a].media.load();
        assert_eq!(media.as_ref().map(|p| p.version), Some(7));
        assert!(second.channels[&a].media.status().is_some());
        assert!(!second.channels.contains_key(&b));
        assert_eq!(second.domains.get("live.example.com"), Some(&a));
        assert_eq!(second.shards, 2);
    }

    #[test]
    fn a_channel_recreated_under_the_same_name_starts_without_media() {
        let mut st = ControlState::new();
        let mut gen = ids();
        let a = create(&mut st, named("a"), &mut gen);
        let first = Registry::rebuild(&st, &Registry::for_shards(1));
        first.channels[&a]
            .media
            .store(Arc::new(Published::new(1, MediaStatus::default())));
        st.delete_channel("a").unwrap();
        let a2 = create(&mut st, named("a"), &mut gen);
        let second = Registry::rebuild(&st, &first);
        assert_ne!(a, a2);
        assert!(second.channels[&a2].media.status().is_none());
    }

    #[test]
    fn channel_ttls_become_their_cache_control() {
        let mut st = ControlState::new();
        let mut gen = ids();
        let own = create(
            &mut st,
            ChannelCreate {
                manifest_ttl: Some(2),
                segment_ttl: Some(600),
                ..named("own")
            },
            &mut gen,
        );
        let default = create(&mut st, named("default"), &mut gen);
        let reg = Registry::rebuild(&st, &Registry::for_shards(1));
        let e = &reg.channels[&own];
        assert_eq!(
            e.manifest_cache_control.as_deref(),
            Some("public, max-age=2")
        );
        assert_eq!(
            e.segment_cache_control.as_deref(),
            Some("public, max-age=600")
        );
        let d = &reg.channels[&default];
        assert_eq!(d.manifest_cache_control, None);
        assert_eq!(d.segment_cache_control, None);
    }
}
