//! The owner side of a shard: the live media state of the channels this shard owns
//! (`shard_for(channel_id)`). Ingest from any core is handed here as a message; the owner
//! applies it to the channel's media (a [`Media`], whatever its protocol) and publishes the new
//! immutable view of its outputs when they changed. Nothing here is shared: no locks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use streampack_core::channel::{ChannelConfig, EndpointType};
use streampack_core::id::Id;
use streampack_core::media::wake::Woken;
use streampack_core::media::{self, FailoverPolicy, Media, MediaEvent, MediaParams};
use streampack_core::time::Now;
use streampack_core::timeshift::Recorder;

mod encrypt;
pub mod msg;
use crate::clock;
use crate::context::Shared;
use crate::registry::MediaSlot;
use crate::storage::Storage;

pub use msg::{ChunkOp, IngestDone, IngestOp, IngestReply, ShardMsg, SpliceOp, SpliceReply};
use streampack_core::ad_markers::output::Marking;

/// How often owners run time-based work (pending segments, failover, eviction).
pub const TICK: Duration = Duration::from_millis(500);

struct Owned {
    media: Box<dyn Media>,
    params: MediaParams,
    slot: Arc<MediaSlot>,
    published: u64,
    /// Present while the channel keeps a time-shift window: what its outputs published that
    /// the archive has not been handed yet.
    recorder: Option<Recorder>,
    /// One per encrypted endpoint.
    encryptors: Vec<encrypt::EndpointEncryptor>,
    /// The endpoints that signal ad markers, and their marked manifests.
    marking: Marking,
}

impl Owned {
    /// Starts or stops recording for the archive as the channel's window is set or cleared.
    fn set_timeshift(&mut self, c: &ChannelConfig) {
        match (c.timeshift_window_secs > 0, self.recorder.is_some()) {
            (true, false) => {
                self.recorder = Some(Recorder::new());
                self.published = u64::MAX;
            }
            (false, true) => self.recorder = None,
            _ => {}
        }
    }

    /// Follows the channel's encrypted endpoints: a new encryptor (and a new publication)
    /// for each endpoint whose encryption changed.
    fn set_encryption(&mut self, c: &ChannelConfig, pull_base: &str, now: Now) {
        if encrypt::follow(&mut self.encryptors, c, pull_base, now) {
            self.published = u64::MAX;
        }
    }
}

impl Owned {
    /// Follows the endpoints' ad-marker styles: republishes when one changed.
    fn set_markers(&mut self, c: &ChannelConfig) {
        if self.marking.follow(c) {
            self.published = u64::MAX;
        }
    }
}

/// What the channel's media needs of its settings: durations, the daemon's failover policy,
/// whether it serves `cmaf` endpoints, whether an encoder's end of stream ends it.
fn params_of(shared: &Shared, c: &ChannelConfig) -> MediaParams {
    media_params(shared.config.failover.policy(), c)
}

fn media_params(failover: FailoverPolicy, c: &ChannelConfig) -> MediaParams {
    MediaParams {
        failover,
        cmaf: c.endpoints.iter().any(|e| e.kind == EndpointType::Cmaf),
        end_on_endlist: c.end_on_endlist,
        timeshift: c.timeshift_window_secs > 0,
        encrypted: c.endpoints.iter().any(|e| e.encryption.is_on()),
        low_latency: c.endpoints.iter().any(|e| e.low_latency),
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
            Ok(ShardMsg::Chunk(op)) => apply_chunk(&shared, &channels, op, false),
            Ok(ShardMsg::Abort(op)) => apply_chunk(&shared, &channels, op, true),
            Ok(ShardMsg::Splice(op)) => {
                let reply = op.reply.clone();
                let _ = reply.send(apply_splice(&shared, &channels, op));
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
        media: media::for_channel(protocol, params, now),
        params,
        slot: Arc::clone(&entry.media),
        published: u64::MAX,
        recorder: None,
        encryptors: Vec::new(),
        marking: Marking::default(),
    });
    if owned.params != params {
        owned.media.set_params(params, now);
        owned.params = params;
    }
    owned.set_timeshift(&entry.config);
    owned.set_encryption(&entry.config, &shared.pull_base, now);
    owned.set_markers(&entry.config);
    let result = match op.body {
        Some(body) => owned
            .media
            .put_body(op.input, &op.path, body, now)
            .map(IngestDone::Stored),
        None => Ok(IngestDone::Deleted(
            owned.media.delete(op.input, &op.path, now),
        )),
    };
    publish(owned, now, &op.channel, &shared.into());
    log_events(&op.channel, owned.media.as_mut());
    result
}

/// A chunk of an upload under way (or its breaking off): handed to the channel's media, and
/// the pulls streaming that segment woken. A channel not owned yet (no object pushed) has
/// nothing announced: the chunk waits for the whole upload like any body.
fn apply_chunk(shared: &Shared, channels: &Channels, op: ChunkOp, abort: bool) {
    let now = clock::now();
    let mut map = channels.borrow_mut();
    let Some(owned) = map.get_mut(&op.channel) else {
        return;
    };
    let woken = if abort {
        let upload = op.chunk.upload;
        owned.media.abort_upload(op.input, &op.path, upload, now);
        Woken::Everyone
    } else {
        owned.media.put_chunk(op.input, &op.path, op.chunk, now)
    };
    // Streams of the growing segment itself were woken by the segment. An LL-HLS part is a new
    // version of one track's playlists: published, then only the pulls parked on that track
    // are woken (every part of every rendition would otherwise wake them all).
    match woken {
        Woken::Nobody => {}
        Woken::Track(key) => {
            publish_quietly(owned, now, &op.channel, &shared.into());
            owned.slot.notify_track(key);
        }
        Woken::Everyone => publish(owned, now, &op.channel, &shared.into()),
    }
}

/// Logs what happened to the channel's inputs: every switch with its reason, inputs going
/// up, down, or restarting.
fn log_events(channel: &Id, media: &mut dyn Media) {
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
            MediaEvent::OutputWarning { message } => {
                tracing::warn!(channel = %channel, "{message}")
            }
        }
    }
}

/// What a publication is handed to besides the pulls: the time-shift store, and the key
/// store encrypted endpoints take their keys from.
struct Sinks<'a> {
    storage: &'a Storage,
    keys: &'a std::sync::Mutex<crate::keys::KeyStore>,
    key_servers: Option<&'a crate::key_server::KeyServers>,
}

impl<'a> From<&'a Shared> for Sinks<'a> {
    fn from(shared: &'a Shared) -> Sinks<'a> {
        Sinks {
            storage: &shared.storage,
            keys: &shared.keys,
            key_servers: Some(&shared.key_servers),
        }
    }
}

/// Publishes the channel's outputs when they changed since the last time, and hands what is
/// new in them to the time-shift archive when the channel keeps one.
/// Publishes what changed, waking every pull parked on the channel.
fn publish(owned: &mut Owned, now: Now, id: &Id, to: &Sinks<'_>) {
    if publish_quietly(owned, now, id, to) {
        owned.slot.notify_all();
    }
}

/// Publishes what changed without waking anyone (the caller wakes whom it concerns); whether
/// anything was published.
fn publish_quietly(owned: &mut Owned, now: Now, id: &Id, to: &Sinks<'_>) -> bool {
    let v = owned.media.version();
    if v == owned.published {
        return false;
    }
    let mut published = owned.media.publish(now);
    if let Some(recorder) = &mut owned.recorder {
        for (record, bytes) in recorder.record(&published) {
            if let Some(dropped) = to.storage.record(id, record, bytes) {
                recorder.unrecord(&dropped);
            }
        }
    }
    if let (false, Some(servers)) = (owned.encryptors.is_empty(), to.key_servers) {
        published = encrypt::outputs(
            &mut owned.encryptors,
            &published,
            id,
            (to.keys, servers),
            now,
        );
    }
    if let Some(marked) = owned.marking.apply(&published, now.unix_ms) {
        published = Arc::new(marked);
    }
    owned.slot.store(published);
    owned.published = v;
    true
}

/// The operator's splice on a channel this shard owns: placed by its media, published at
/// once.
fn apply_splice(shared: &Shared, channels: &Channels, op: SpliceOp) -> SpliceReply {
    // The admin gave up waiting (and told the operator it failed): not applied behind its back.
    if op.reply.is_disconnected() {
        return Err("the splice timed out before the channel's shard took it".into());
    }
    let now = clock::now();
    let mut map = channels.borrow_mut();
    let Some(owned) = map.get_mut(&op.channel) else {
        return Err(
            "nothing is live on this channel yet: no encoder has pushed to it since the daemon started"
                .into(),
        );
    };
    let marker = owned.media.splice(&op.request, now)?;
    publish(owned, now, &op.channel, &shared.into());
    tracing::info!(
        channel = %op.channel,
        event_id = marker.event_id,
        at = %streampack_core::time::format_datetime(marker.start_unix_ms),
        "operator splice"
    );
    Ok(marker)
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
                owned.set_timeshift(&entry.config);
                owned.set_encryption(&entry.config, &shared.pull_base, now);
                owned.set_markers(&entry.config);
                owned.media.tick(now);
                if owned.slot.take_promotion() {
                    let mut moved = owned.media.promote_hot(&mut crate::pages::promote);
                    let encrypted = encrypt::promote_hot(&mut owned.encryptors);
                    if encrypted > 0 {
                        // Their outputs are rebuilt from the same clear media.
                        owned.published = u64::MAX;
                    }
                    moved += encrypted;
                    shared.metrics.promoted(moved as u64);
                }
                publish(owned, now, id, &(&*shared).into());
                log_events(id, owned.media.as_mut());
                true
            }
            None => {
                tracing::info!(channel = %id, "channel deleted: media freed");
                false
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use streampack_core::channel::{InputRole, Protocol};
    use streampack_core::control::commands::{ChannelCreate, EndpointCreate};
    use streampack_core::control::ControlState;

    fn ids() -> impl FnMut() -> Id {
        let mut n = 0u8;
        move || {
            n += 1;
            Id::from_random([n; 14])
        }
    }

    fn view(slot: &MediaSlot) -> Arc<streampack_core::media::Published> {
        slot.load().as_ref().cloned().unwrap()
    }

    fn now(ms: u64) -> Now {
        Now {
            mono_ms: ms,
            unix_ms: 1_800_000_000_000 + ms,
        }
    }

    #[test]
    fn media_params_follow_the_channel_settings_and_its_endpoints() {
        let mut st = ControlState::new();
        let mut gen = ids();
        let req = ChannelCreate {
            name: "c".into(),
            protocol: Protocol::Hls,
            max_segment_duration: Some(6),
            max_playlist_duration: Some(120),
            ..Default::default()
        };
        st.create_channel(&req, &mut gen).unwrap();
        let policy = FailoverPolicy::default();
        let p = media_params(policy, &st.channels[0]);
        assert_eq!(
            (p.max_segment_ms, p.window_ms, p.cmaf),
            (6_000, 120_000, false)
        );
        let ep = EndpointCreate {
            name: "hls".into(),
            ..Default::default()
        };
        st.create_endpoint("c", &ep, &mut gen).unwrap();
        assert!(!media_params(policy, &st.channels[0]).cmaf);
        let cmaf = EndpointCreate {
            name: "cmaf".into(),
            kind: Some(EndpointType::Cmaf),
            ..Default::default()
        };
        st.create_endpoint("c", &cmaf, &mut gen).unwrap();
        assert!(media_params(policy, &st.channels[0]).cmaf);
    }

    /// An owner publishes once per change of the media, and what it publishes is what pulls
    /// of every endpoint type then read.
    #[test]
    fn an_owner_publishes_each_change_once() {
        let params = MediaParams {
            cmaf: true,
            ..MediaParams::new(4_000, 60_000)
        };
        let mut owned = Owned {
            media: media::for_channel(Protocol::Hls, params, now(0)),
            params,
            slot: Arc::new(MediaSlot::default()),
            published: u64::MAX,
            recorder: Some(Recorder::new()),
            encryptors: Vec::new(),
            marking: Marking::default(),
        };
        let id = Id::parse("0123456789abcdef0123456789ab").unwrap();
        let (storage, archived) = Storage::new("/nonexistent".into(), 0);
        let keys = std::sync::Mutex::new(crate::keys::KeyStore::new("/nonexistent".as_ref()));
        let storage = Sinks {
            storage: &storage,
            keys: &keys,
            key_servers: None,
        };
        publish(&mut owned, now(0), &id, &storage);
        let empty = view(&owned.slot);
        assert!(empty.output(EndpointType::Hls).is_some());
        publish(&mut owned, now(10), &id, &storage);
        assert!(archived.is_empty(), "nothing to archive yet");
        assert!(
            Arc::ptr_eq(&empty, &view(&owned.slot)),
            "no change, no new view"
        );
        let playlist =
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\ns0.ts\n";
        owned
            .media
            .put(
                InputRole::Primary,
                "s0.ts",
                Bytes::from_static(b"not really ts"),
                now(20),
            )
            .unwrap();
        owned
            .media
            .put(
                InputRole::Primary,
                "main.m3u8",
                Bytes::from(playlist),
                now(30),
            )
            .unwrap();
        publish(&mut owned, now(30), &id, &storage);
        let put = archived.try_recv().unwrap();
        assert_eq!(put.channel, id);
        assert_eq!(
            &put.bytes[..],
            b"not really ts",
            "the segment goes to the archive"
        );
        assert!(matches!(
            put.record,
            streampack_core::timeshift::Record::Segment { .. }
        ));
        assert!(archived.is_empty(), "once");
        let view = view(&owned.slot);
        assert!(!Arc::ptr_eq(&empty, &view));
        assert_eq!(view.version, owned.media.version());
        let hls = view.output(EndpointType::Hls).unwrap();
        assert!(hls.lookup("main", "main.m3u8").is_ok());
        assert!(
            view.output(EndpointType::Dash).is_none(),
            "an HLS channel has no DASH output"
        );
        // The CMAF output exists (cmaf endpoints) and says why this input cannot feed it.
        assert!(view.repackaging.is_some());
        assert!(view.output(EndpointType::Cmaf).is_some());
        assert_eq!(
            owned.slot.status().unwrap().active,
            Some(InputRole::Primary)
        );
    }
}
