//! The etcd thread's loop: connect, announce this node under a lease, read and watch
//! everything under the prefix, hand configurations to the admin plane; on any failure, mark
//! the link down, wait, and start again (a whole read each time: nothing is missed).

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, PutOptions, WatchOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use streampack_core::channel::ChannelConfig;
use streampack_core::cluster::{
    self, NodeInfo, NodeInput, ALIVE_PREFIX, CHANNELS_PREFIX, CONFIG_REVISION_KEY, KEY_MASTER_KEY,
    MEMBERS_PREFIX, PREFIX, SECRET_KEY, SEED_LOCK_KEY,
};
use streampack_core::control::ControlState;
use streampack_core::media::failover::Health;

use super::plane::Routes;
use super::{Cluster, ConfigUpdate, Link, Members, MAX_TXN_OPS};
use crate::context::Shared;

/// Pause between two attempts to reach etcd.
const RETRY: Duration = Duration::from_millis(500);
/// How often the node checks which inputs it receives.
const INPUTS_EVERY: Duration = Duration::from_secs(1);

/// One key as last read: `create_revision`, `mod_revision`, value (and, for a channel key,
/// the channel read from it, once per change of the key).
struct Kv {
    created: i64,
    modified: i64,
    value: Vec<u8>,
    channel: Option<Result<ChannelConfig, String>>,
}

impl Kv {
    fn read(key: &str, kv: &etcd_client::KeyValue) -> Kv {
        let channel = key
            .starts_with(CHANNELS_PREFIX)
            .then(|| cluster::parse_channel(key, kv.value()).map_err(|e| e.to_string()));
        Kv {
            created: kv.create_revision(),
            modified: kv.mod_revision(),
            value: kv.value().to_vec(),
            channel,
        }
    }
}

/// Runs forever: one session after another.
pub(super) async fn run(
    cluster: Arc<Cluster>,
    shared: Arc<Shared>,
    local: ControlState,
    updates: flume::Sender<ConfigUpdate>,
) {
    let mut seed = Some(local);
    // One member at a time, moving to the next when the session fails (a member's death is
    // seen at once: its connections close), starting at one that depends on the node name so
    // that nodes spread over the members.
    let endpoints = &cluster.settings.etcd;
    let mut at = cluster.me.name.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    loop {
        if cluster.leaving.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let endpoint = &endpoints[at % endpoints.len()];
        at = at.wrapping_add(1);
        let why = match session(&cluster, endpoint, &shared, &mut seed, &updates).await {
            Ok(never) => match never {},
            Err(e) => e,
        };
        let why = format!("{endpoint}: {why}");
        let was_up = {
            let mut link = cluster.link.lock().unwrap_or_else(|p| p.into_inner());
            let was_up = link.client.is_some();
            link.client = None;
            link.error = Some(why.clone());
            let connected = &cluster.plane.stats.etcd_connected;
            connected.store(false, std::sync::atomic::Ordering::Relaxed);
            if was_up {
                link.down_since = Some(std::time::Instant::now());
            }
            was_up
        };
        if was_up {
            tracing::warn!(node = %cluster.me.name, "etcd lost: {why}; serving the last configuration, admin writes refused until it is back");
        } else {
            tracing::debug!("etcd not reached: {why}");
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// An etcd client error in a line: gRPC's message and its innermost cause ("tcp connect
/// error: Connection refused (os error 111)"), not the whole debug chain.
fn text(e: etcd_client::Error) -> String {
    match &e {
        etcd_client::Error::GRpcStatus(status) => {
            let mut cause = std::error::Error::source(status);
            let mut last = None;
            while let Some(c) = cause {
                last = Some(c.to_string());
                cause = c.source();
            }
            match last {
                Some(l) if l != status.message() => format!("{}: {l}", status.message()),
                _ => status.message().to_string(),
            }
        }
        other => other.to_string(),
    }
}

async fn session(
    cluster: &Cluster,
    endpoint: &str,
    shared: &Shared,
    seed: &mut Option<ControlState>,
    updates: &flume::Sender<ConfigUpdate>,
) -> Result<std::convert::Infallible, String> {
    let ttl = i64::try_from(cluster.settings.lease_secs).unwrap_or(5);
    let opts = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(2))
        .with_keep_alive(Duration::from_secs(1), Duration::from_secs(2))
        .with_keep_alive_while_idle(true);
    let mut client = Client::connect([endpoint], Some(opts))
        .await
        .map_err(text)?;
    let lease = client.lease_grant(ttl, None).await.map_err(text)?.id();
    let (mut keeper, mut kept) = client.lease_keep_alive(lease).await.map_err(text)?;
    let mut me = cluster.me.clone();
    me.inputs = receiving(shared);
    let json = serde_json::to_vec(&me).map_err(|e| e.to_string())?;
    client
        .put(cluster::member_key(&me.name), json.clone(), None)
        .await
        .map_err(text)?;
    let leased = Some(PutOptions::new().with_lease(lease));
    client
        .put(cluster::alive_key(&me.name), json, leased.clone())
        .await
        .map_err(text)?;

    make_secrets(&mut client).await?;
    let (read_at, mut mirror) = read_all(&mut client).await?;
    if mirror.contains_key(CONFIG_REVISION_KEY) {
        *seed = None;
    } else if let Some(local) = seed.as_ref() {
        if seed_config(&mut client, (&cluster.me.name, lease), local).await? {
            *seed = None;
        }
    }
    let mut watch = client
        .watch(
            PREFIX,
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(read_at + 1),
            ),
        )
        .await
        .map_err(text)?;
    publish_key_master(shared, &mirror);
    publish_config(&mirror, updates);
    publish_members(cluster, &mirror);
    {
        let mut link = cluster.link.lock().unwrap_or_else(|p| p.into_inner());
        *link = Link {
            client: Some(client.clone()),
            error: None,
            down_since: None,
            lease: Some(lease),
        };
        let connected = &cluster.plane.stats.etcd_connected;
        connected.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    tracing::info!(node = %me.name, etcd = endpoint, revision = read_at, "connected to etcd");

    let lease_ttl = Duration::from_secs(cluster.settings.lease_secs);
    let mut keep_tick = tokio::time::interval(lease_ttl / 3);
    let mut renewed = tokio::time::Instant::now();
    let mut inputs_tick = tokio::time::interval(INPUTS_EVERY);
    loop {
        tokio::select! {
            msg = watch.message() => {
                let resp = msg.map_err(text)?.ok_or("etcd ended the watch")?;
                if resp.canceled() {
                    return Err(format!("etcd cancelled the watch: {}", resp.cancel_reason()));
                }
                let mut config_changed = false;
                let mut members_changed = false;
                for ev in resp.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let Ok(key) = kv.key_str() else { continue };
                    config_changed |= key == CONFIG_REVISION_KEY || key.starts_with(CHANNELS_PREFIX);
                    members_changed |= key.starts_with(MEMBERS_PREFIX) || key.starts_with(ALIVE_PREFIX);
                    match ev.event_type() {
                        EventType::Put => {
                            mirror.insert(key.to_string(), Kv::read(key, kv));
                        }
                        EventType::Delete => {
                            mirror.remove(key);
                        }
                    }
                }
                if config_changed {
                    publish_config(&mirror, updates);
                }
                if members_changed || config_changed || resp.events().iter().any(|e| {
                    e.kv().is_some_and(|kv| kv.key() == SECRET_KEY.as_bytes())
                }) {
                    publish_members(cluster, &mirror);
                }
            }
            // Renewals are sent on a tick and their answers read as they come (a leader
            // election delays them without stopping the watch); a lease not renewed within
            // its own time to live is gone.
            _ = keep_tick.tick() => {
                if cluster.leaving.load(std::sync::atomic::Ordering::Acquire) {
                    return Err("leaving the cluster".into());
                }
                if renewed.elapsed() > lease_ttl {
                    return Err("etcd did not renew this node's lease in time".into());
                }
                keeper.keep_alive().await.map_err(text)?;
            }
            answer = kept.message() => {
                match answer.map_err(text)? {
                    Some(r) if r.ttl() > 0 => renewed = tokio::time::Instant::now(),
                    _ => return Err("this node's etcd lease expired".into()),
                }
            }
            _ = inputs_tick.tick() => {
                let now = receiving(shared);
                if now != me.inputs {
                    me.inputs = now;
                    let json = serde_json::to_vec(&me).map_err(|e| e.to_string())?;
                    client
                        .put(cluster::alive_key(&me.name), json, leased.clone())
                        .await
                        .map_err(text)?;
                }
            }
        }
    }
}

/// Keys read in one request (a page stays far below gRPC's 4 MiB answer limit).
const PAGE: i64 = 500;
/// Most bytes of channel values in one seeding transaction (etcd takes 1.5 MiB requests).
const SEED_BATCH_BYTES: usize = 1 << 20;

/// Everything under the prefix, in pages, all at one revision: that revision and the keys.
async fn read_all(client: &mut Client) -> Result<(i64, BTreeMap<String, Kv>), String> {
    let mut end = PREFIX.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let mut from = PREFIX.as_bytes().to_vec();
    let mut at = 0;
    let mut mirror = BTreeMap::new();
    loop {
        let mut opts = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if at > 0 {
            opts = opts.with_revision(at);
        }
        let page = client.get(from.clone(), Some(opts)).await.map_err(text)?;
        if at == 0 {
            at = page.header().map_or(0, |h| h.revision());
        }
        for kv in page.kvs() {
            if let Ok(key) = kv.key_str() {
                mirror.insert(key.to_string(), Kv::read(key, kv));
            }
        }
        match page.kvs().last() {
            Some(last) if page.more() => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => return Ok((at, mirror)),
        }
    }
}

/// Writes the configuration this node started with into an etcd that holds none, under a
/// leased lock (one node at a time; one that dies midway lets the next start over): the
/// channel keys cleared, the channels in batches, the revision key last (until it is there,
/// no node takes any of it). `true` once this node wrote it; `false` when etcd holds one
/// already or another node is writing its own (it arrives by the watch).
async fn seed_config(
    client: &mut Client,
    (node, lease): (&str, i64),
    local: &ControlState,
) -> Result<bool, String> {
    use etcd_client::{Compare, CompareOp, DeleteOptions, TxnOp};
    let absent = || Compare::create_revision(CONFIG_REVISION_KEY, CompareOp::Equal, 0);
    let lock = etcd_client::Txn::new()
        .when([
            absent(),
            Compare::create_revision(SEED_LOCK_KEY, CompareOp::Equal, 0),
        ])
        .and_then([TxnOp::put(
            SEED_LOCK_KEY,
            node,
            Some(PutOptions::new().with_lease(lease)),
        )]);
    if !client.txn(lock).await.map_err(text)?.succeeded() {
        return Ok(false);
    }
    let writes = cluster::config_writes(&ControlState::new(), local)?;
    let mut batches: Vec<Vec<TxnOp>> = vec![vec![TxnOp::delete(
        CHANNELS_PREFIX,
        Some(DeleteOptions::new().with_prefix()),
    )]];
    let mut bytes = 0;
    for w in writes {
        let cluster::KeyWrite::Put(k, v) = w else {
            continue;
        };
        let full = batches.last().is_none_or(|b| b.len() >= MAX_TXN_OPS - 2);
        if full || bytes + v.len() > SEED_BATCH_BYTES {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += v.len();
        if let Some(b) = batches.last_mut() {
            b.push(TxnOp::put(k, v, None));
        }
    }
    let stamp = serde_json::json!({ "node": node, "seeded": true }).to_string();
    if let Some(last) = batches.last_mut() {
        last.push(TxnOp::put(CONFIG_REVISION_KEY, stamp, None));
        last.push(TxnOp::delete(SEED_LOCK_KEY, None));
    }
    for ops in batches {
        let ours = Compare::value(SEED_LOCK_KEY, CompareOp::Equal, node);
        let txn = etcd_client::Txn::new().when([absent(), ours]).and_then(ops);
        if !client.txn(txn).await.map_err(text)?.succeeded() {
            return Err("lost the seeding lock while writing this node's channels".into());
        }
    }
    tracing::info!(
        channels = local.channels.len(),
        "etcd held no configuration: wrote this node's"
    );
    Ok(true)
}

/// Hands the configuration the mirror holds to the admin plane (none while the revision key
/// is absent: etcd holds no configuration yet, or one being seeded).
fn publish_config(mirror: &BTreeMap<String, Kv>, updates: &flume::Sender<ConfigUpdate>) {
    let Some(rev) = mirror.get(CONFIG_REVISION_KEY) else {
        return;
    };
    let stored: Result<Vec<(i64, ChannelConfig)>, String> = mirror
        .range(CHANNELS_PREFIX.to_string()..)
        .take_while(|(k, _)| k.starts_with(CHANNELS_PREFIX))
        .filter_map(|(_, kv)| Some(kv.channel.clone()?.map(|c| (kv.created, c))))
        .collect();
    let state = stored.and_then(|s| cluster::state_from_channels(s).map_err(|e| e.to_string()));
    match state {
        Ok(state) => {
            let _ = updates.send(ConfigUpdate {
                state,
                revision: rev.modified,
            });
        }
        Err(e) => tracing::error!(
            revision = rev.modified,
            "the cluster's configuration in etcd cannot be used ({e}); keeping the last one"
        ),
    }
}

/// Writes a random cluster secret and key master unless there are some (the first node's
/// win: each only where its key is absent).
async fn make_secrets(client: &mut Client) -> Result<(), String> {
    for key in [SECRET_KEY, KEY_MASTER_KEY] {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no random numbers for {key}: {e}"))?;
        let value = streampack_core::hex::encode(&bytes);
        let txn = etcd_client::Txn::new()
            .when([etcd_client::Compare::create_revision(
                key,
                etcd_client::CompareOp::Equal,
                0,
            )])
            .and_then([etcd_client::TxnOp::put(key, value, None)]);
        client.txn(txn).await.map_err(text)?;
    }
    Ok(())
}

/// Hands the key master to the key store once it is read.
fn publish_key_master(shared: &Shared, mirror: &BTreeMap<String, Kv>) {
    let master = mirror
        .get(KEY_MASTER_KEY)
        .and_then(|kv| streampack_core::hex::decode(std::str::from_utf8(&kv.value).ok()?))
        .and_then(|v| <[u8; 32]>::try_from(v).ok());
    if let Some(m) = master {
        shared
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_master(m);
    }
}

/// Refreshes the node list `cluster status` shows and the data plane's routes.
fn publish_members(cluster: &Cluster, mirror: &BTreeMap<String, Kv>) {
    let nodes = |prefix: &str| -> BTreeMap<String, NodeInfo> {
        mirror
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(_, kv)| serde_json::from_slice::<NodeInfo>(&kv.value).ok())
            .map(|n| (n.name.clone(), n))
            .collect()
    };
    let alive = nodes(ALIVE_PREFIX);
    let listed: Vec<NodeInfo> = alive.values().cloned().collect();
    let secret = mirror
        .get(SECRET_KEY)
        .map(|kv| Arc::from(String::from_utf8_lossy(&kv.value).as_ref()));
    let routes = Routes::build(&cluster.me.name, secret, &listed);
    cluster.plane.routes.store(Arc::new(routes));
    let stats = &cluster.plane.stats;
    stats
        .nodes_alive
        .store(alive.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let mut m = cluster.members.lock().unwrap_or_else(|p| p.into_inner());
    *m = Members {
        joined: nodes(MEMBERS_PREFIX),
        alive,
        config_revision: mirror.get(CONFIG_REVISION_KEY).map_or(0, |kv| kv.modified),
    };
}

/// The channel inputs an encoder is pushing to this node now: pushed here (not relayed)
/// within the channel's failover timeout, and not down by its failover rules.
fn receiving(shared: &Shared) -> Vec<NodeInput> {
    let reg = shared.registry.load();
    let now = crate::clock::now().mono_ms;
    let timeout_pct = u64::from(shared.config.failover.timeout_pct);
    let mut out: Vec<NodeInput> = reg
        .channels
        .iter()
        .filter_map(|(id, entry)| Some((id, entry, entry.media.status()?)))
        .flat_map(|(id, entry, status)| {
            let timeout = entry.config.max_segment_ms().saturating_mul(timeout_pct) / 100;
            streampack_core::channel::InputRole::ALL
                .into_iter()
                .filter(move |role| {
                    let pushed = entry.media.last_local_push(*role);
                    pushed.is_some_and(|t| now.saturating_sub(t) <= timeout)
                        && matches!(
                            status.inputs[role.index()].health,
                            Health::Starting | Health::Healthy
                        )
                })
                .map(move |role| NodeInput { channel: *id, role })
        })
        .collect();
    out.sort();
    out
}
