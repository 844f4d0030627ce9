//! The owner side of a shard: the live media state of the channels this shard owns
//! (`shard_for(channel_id)`). Ingest from any core is handed here as a message; the owner
//! applies it to the channel's media ([`OwnedMedia`]: HLS or DASH) and publishes a new
//! immutable snapshot when the output changed. Nothing here is shared: no locks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use streampack_core::channel::media::{MediaEvent, MediaParams};
use streampack_core::channel::ChannelConfig;
use streampack_core::cmaf::packager::CmafPackager;
use streampack_core::id::Id;
use streampack_core::time::Now;

pub mod cmaf;
pub mod media;
pub mod msg;

use crate::clock;
use crate::context::Shared;
use crate::registry::MediaSlot;
use media::OwnedMedia;
pub use msg::{IngestDone, IngestOp, IngestReply, ShardMsg};

/// How often owners run time-based work (pending segments, failover, eviction).
pub const TICK: Duration = Duration::from_millis(500);

struct Owned {
    media: OwnedMedia,
    params: MediaParams,
    slot: Arc<MediaSlot>,
    published: u64,
    /// The channel's CMAF packager while it has a `cmaf` endpoint.
    cmaf: Option<CmafPackager>,
}

fn params_of(shared: &Shared, c: &ChannelConfig) -> MediaParams {
    MediaParams {
        failover: shared.config.failover.policy(),
        ..MediaParams::new(c.max_segment_ms(), c.window_ms())
    }
}

type Channels = Rc<RefCell<HashMap<Id, Owned>>>;

/// Runs the owner loop until the inbox closes or shutdown begins.
pub async fn owner_loop(
    shared: Arc<Shared>,
    inbox: flume::Receiver<ShardMsg>,
    shutdown: flume::Receiver<()>,
) {
    let channels: Channels = Rc::new(RefCell::new(HashMap::new()));
    let ticker = monoio::spawn(tick_loop(
        Arc::clone(&shared),
        Rc::clone(&channels),
        shutdown.clone(),
    ));
    loop {
        let msg = monoio::select! {
            _ = shutdown.recv_async() => break,
            m = inbox.recv_async() => m,
        };
        match msg {
            Ok(ShardMsg::Ingest(op)) => {
                let reply = op.reply.clone();
                let out = apply(&shared, &channels, op);
                let _ = reply.send(out);
            }
            Err(_) => break,
        }
    }
    let _ = ticker.await;
}

fn apply(shared: &Shared, channels: &Channels, op: IngestOp) -> IngestReply {
    let now = clock::now();
    let reg = shared.registry.load();
    let mut map = channels.borrow_mut();
    let Some(entry) = reg.channels.get(&op.channel) else {
        // Deleted between routing and now: nothing to store into.
        map.remove(&op.channel);
        return Ok(IngestDone::Deleted(false));
    };
    let params = params_of(shared, &entry.config);
    let protocol = entry.config.protocol;
    let owned = map.entry(op.channel).or_insert_with(|| Owned {
        media: OwnedMedia::new(protocol, params, now),
        params,
        slot: Arc::clone(&entry.media),
        published: u64::MAX,
        cmaf: None,
    });
    if owned.params != params {
        owned.media.set_params(params, now);
        owned.params = params;
    }
    let result = match op.body {
        Some(body) => owned
            .media
            .put(op.input, &op.path, body, now)
            .map(IngestDone::Stored),
        None => Ok(IngestDone::Deleted(
            owned.media.delete(op.input, &op.path, now),
        )),
    };
    log_events(&op.channel, &mut owned.media);
    publish(owned, &op.channel, &entry.config, now);
    result
}

/// Logs what happened to the channel's inputs: every switch with its reason, inputs going
/// up, down, or restarting.
fn log_events(channel: &Id, media: &mut OwnedMedia) {
    for e in media.drain_events() {
        match e {
            MediaEvent::Switched {
                from,
                to,
                reason,
                aligned,
            } => tracing::info!(
                channel = %channel,
                from = from.map_or("none", |r| r.as_str()),
                input = to.as_str(),
                aligned,
                "input switch: {reason}"
            ),
            // Info-level "started/stopped delivering" lines come from the metrics sampler, with
            // the channel's name and the input's id; these stay for debugging the policy.
            MediaEvent::InputUp { input } => {
                tracing::debug!(channel = %channel, input = input.as_str(), "input up")
            }
            MediaEvent::InputDown { input, silent_ms } => tracing::debug!(
                channel = %channel,
                input = input.as_str(),
                silent_ms,
                "input down: no segment for {silent_ms} ms"
            ),
            MediaEvent::InputRestarted { input } => tracing::info!(
                channel = %channel,
                input = input.as_str(),
                "input encoder restarted (numbering went back)"
            ),
        }
    }
}

fn publish(owned: &mut Owned, id: &Id, config: &ChannelConfig, now: Now) {
    let v = owned.media.version();
    if v != owned.published {
        owned.media.publish(&owned.slot);
        owned.published = v;
    }
    cmaf::publish(&mut owned.cmaf, id, config, &owned.slot, now);
}

async fn tick_loop(shared: Arc<Shared>, channels: Channels, shutdown: flume::Receiver<()>) {
    loop {
        monoio::select! {
            _ = shutdown.recv_async() => return,
            _ = monoio::time::sleep(TICK) => {},
        }
        let now = clock::now();
        let reg = shared.registry.load();
        let mut map = channels.borrow_mut();
        map.retain(|id, owned| match reg.channels.get(id) {
            Some(entry) => {
                let params = params_of(&shared, &entry.config);
                if owned.params != params {
                    owned.media.set_params(params, now);
                    owned.params = params;
                }
                if !Arc::ptr_eq(&owned.slot, &entry.media) {
                    owned.slot = Arc::clone(&entry.media);
                    owned.published = u64::MAX;
                }
                owned.media.tick(now);
                log_events(id, &mut owned.media);
                publish(owned, id, &entry.config, now);
                true
            }
            None => {
                tracing::info!(channel = %id, "channel deleted: media freed");
                false
            }
        });
    }
}
