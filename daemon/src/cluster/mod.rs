//! Cluster mode: the configuration lives in etcd and every node follows it.
//!
//! One thread runs the etcd client (`etcd-client`, on a tokio runtime of its own, so no
//! data-plane core ever waits on etcd): it keeps this node's lease alive, watches everything
//! under [`streampack_core::cluster::PREFIX`], and hands each new configuration to the admin
//! plane as a [`ConfigUpdate`] (applied like a local change: persisted, then published). An
//! admin write is one etcd transaction ([`Cluster::commit`]) guarded by the configuration's
//! revision: it applies whole or not at all, and fails with a message naming etcd when etcd
//! cannot be reached. The node keeps serving its last configuration meanwhile.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use streampack_core::admin::proto::{ClusterView, NodeView};
use streampack_core::cluster::{self, KeyWrite, NodeInfo};
use streampack_core::control::{ControlError, ControlState};
use streampack_core::id::Id;

pub mod cache;
pub mod peer_http;
pub mod plane;
pub mod relay;
mod session;

use crate::config::ClusterSettings;
use crate::context::Shared;

/// How long an admin write waits for etcd's answer.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an admin write waits for the node to reconnect to etcd.
const LINK_WAIT: Duration = Duration::from_secs(6);
/// etcd's default limit of operations in one transaction (`--max-txn-ops`).
const MAX_TXN_OPS: usize = 128;

/// A configuration read from etcd, for the admin plane to apply.
pub struct ConfigUpdate {
    /// The whole configuration.
    pub state: ControlState,
    /// `mod_revision` of the configuration's revision key: what the next write compares.
    pub revision: i64,
}

/// Why an admin write did not reach the cluster.
#[derive(Debug)]
pub enum CommitError {
    /// Another node changed the configuration since this one applied it: apply the newer one
    /// (it is on its way from the watch) and try again.
    Stale,
    /// etcd cannot take it; nothing changed.
    Failed(ControlError),
}

/// This node's handle on the cluster.
pub struct Cluster {
    settings: ClusterSettings,
    /// What this node announces (its inputs filled in by the session).
    me: NodeInfo,
    runtime: tokio::runtime::Handle,
    /// The data plane's view, rebuilt with the members.
    plane: Arc<plane::PeerPlane>,
    link: Mutex<Link>,
    members: Mutex<Members>,
    /// Set at shutdown: the session stops instead of joining again.
    leaving: std::sync::atomic::AtomicBool,
}

/// The connection to etcd as the session last left it.
#[derive(Default)]
struct Link {
    client: Option<etcd_client::Client>,
    error: Option<String>,
    /// When the session was lost (`None` before the first connection).
    down_since: Option<std::time::Instant>,
    /// The session's lease.
    lease: Option<i64>,
}

/// Nodes as the watch shows them.
#[derive(Default)]
struct Members {
    joined: BTreeMap<String, NodeInfo>,
    alive: BTreeMap<String, NodeInfo>,
    config_revision: i64,
}

impl Cluster {
    /// Starts the etcd thread. `local` is the configuration this node starts from: written to
    /// etcd when etcd holds none yet (the first node of a new cluster brings its channels).
    pub fn start(
        settings: ClusterSettings,
        shared: Arc<Shared>,
        plane: Arc<plane::PeerPlane>,
        local: ControlState,
    ) -> std::io::Result<(Arc<Cluster>, flume::Receiver<ConfigUpdate>)> {
        let cfg = &shared.config;
        let peer = |listen| settings.peer_addr(listen).map_err(std::io::Error::other);
        let (peer_pull, peer_ingest) = (peer(cfg.pull.listen)?, peer(cfg.ingest.listen)?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let me = NodeInfo {
            name: settings.node().to_string(),
            pull_url: shared.pull_base.clone(),
            ingest_url: shared.ingest_base.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            peer_pull,
            peer_ingest,
            inputs: Vec::new(),
        };
        let cluster = Arc::new(Cluster {
            settings,
            me,
            runtime: runtime.handle().clone(),
            plane,
            link: Mutex::new(Link {
                client: None,
                error: Some("not connected yet".into()),
                down_since: None,
                lease: None,
            }),
            members: Mutex::new(Members::default()),
            leaving: std::sync::atomic::AtomicBool::new(false),
        });
        let (tx, rx) = flume::unbounded();
        let c = Arc::clone(&cluster);
        std::thread::Builder::new()
            .name("cluster-etcd".into())
            .spawn(move || runtime.block_on(session::run(c, shared, local, tx)))?;
        Ok((cluster, rx))
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.me.name
    }

    /// Leaves the cluster at shutdown: revokes the node's lease (waiting a second at most),
    /// so the other nodes see it gone at once instead of after `lease_secs`.
    pub fn leave(&self) {
        self.leaving
            .store(true, std::sync::atomic::Ordering::Release);
        let (client, lease) = {
            let link = self.link.lock().unwrap_or_else(|p| p.into_inner());
            (link.client.clone(), link.lease)
        };
        let (Some(mut client), Some(lease)) = (client, lease) else {
            return;
        };
        let (tx, rx) = flume::bounded(1);
        self.runtime.spawn(async move {
            let _ = tx.send(client.lease_revoke(lease).await.is_ok());
        });
        if rx.recv_timeout(Duration::from_secs(1)) == Ok(true) {
            tracing::info!(node = %self.me.name, "left the cluster (lease revoked)");
        }
    }

    /// Writes the change from `prev` to `next` in one etcd transaction, on condition that the
    /// configuration is still at `revision`; returns the configuration's new revision.
    pub fn commit(
        &self,
        prev: &ControlState,
        next: &ControlState,
        revision: i64,
    ) -> Result<i64, CommitError> {
        let writes = cluster::config_writes(prev, next)
            .map_err(|e| CommitError::Failed(ControlError::Invalid(e)))?;
        if writes.is_empty() {
            return Ok(revision);
        }
        if writes.len() + 1 > MAX_TXN_OPS {
            return Err(CommitError::Failed(ControlError::Invalid(format!(
                "this change writes {} channels at once, more than etcd takes in one transaction ({MAX_TXN_OPS})",
                writes.len()
            ))));
        }
        let client = self.client().map_err(CommitError::Failed)?;
        if revision == 0 {
            return Err(CommitError::Failed(ControlError::Unavailable(
                "this node has not read the cluster's configuration from etcd yet (it is connecting, or the first node is writing its channels there): nothing changed, try again in a moment".into(),
            )));
        }
        let txn = etcd_client::Txn::new()
            .when([etcd_client::Compare::mod_revision(
                cluster::CONFIG_REVISION_KEY,
                etcd_client::CompareOp::Equal,
                revision,
            )])
            .and_then(self.txn_ops(writes));
        let (tx, rx) = flume::bounded(1);
        self.runtime.spawn(async move {
            let mut client = client;
            let _ = tx.send(client.txn(txn).await);
        });
        match rx.recv_timeout(COMMIT_TIMEOUT) {
            Ok(Ok(resp)) if resp.succeeded() => {
                Ok(resp.header().map_or(revision, |h| h.revision()))
            }
            Ok(Ok(_)) => Err(CommitError::Stale),
            Ok(Err(etcd_client::Error::GRpcStatus(st)))
                // gRPC's CANCELLED (1) and DEADLINE_EXCEEDED (4): sent, not answered.
                if matches!(i32::from(st.code()), 1 | 4) =>
            {
                Err(CommitError::Failed(ControlError::Unavailable(format!(
                    "etcd did not answer in time ({}): the change may still apply; `streampackctl channel list` shows whether it did",
                    st.message()
                ))))
            }
            Ok(Err(e)) => Err(CommitError::Failed(unreachable(&e.to_string()))),
            Err(_) => Err(CommitError::Failed(ControlError::Unavailable(format!(
                "etcd did not answer within {} s: the change may still apply; `streampackctl channel list` shows whether it did",
                COMMIT_TIMEOUT.as_secs()
            )))),
        }
    }

    /// The transaction's operations: the revision key (who wrote, when) and the channels.
    fn txn_ops(&self, writes: Vec<KeyWrite>) -> Vec<etcd_client::TxnOp> {
        let stamp = serde_json::json!({
            "node": self.me.name,
            "unix_ms": crate::clock::now().unix_ms,
        });
        let mut ops = vec![etcd_client::TxnOp::put(
            cluster::CONFIG_REVISION_KEY,
            stamp.to_string(),
            None,
        )];
        ops.extend(writes.into_iter().map(|w| match w {
            KeyWrite::Put(k, v) => etcd_client::TxnOp::put(k, v, None),
            KeyWrite::Delete(k) => etcd_client::TxnOp::delete(k, None),
        }));
        ops
    }

    /// The connected client. Within [`LINK_WAIT`] of losing etcd it waits for the session
    /// to reconnect (to another member, once a new leader is elected, when one died); later
    /// it gives up at once.
    fn client(&self) -> Result<etcd_client::Client, ControlError> {
        let deadline = {
            let link = self.link.lock().unwrap_or_else(|p| p.into_inner());
            link.down_since
                .map_or_else(std::time::Instant::now, |t| t + LINK_WAIT)
        };
        loop {
            {
                let link = self.link.lock().unwrap_or_else(|p| p.into_inner());
                match &link.client {
                    Some(c) => return Ok(c.clone()),
                    None if std::time::Instant::now() >= deadline => {
                        return Err(unreachable(
                            link.error.as_deref().unwrap_or("not connected"),
                        ))
                    }
                    None => {}
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The cluster as this node sees it; `name_of` names a channel.
    pub fn view(&self, name_of: impl Fn(&Id) -> Option<String>) -> ClusterView {
        let (connected, error) = {
            let link = self.link.lock().unwrap_or_else(|p| p.into_inner());
            (link.client.is_some(), link.error.clone())
        };
        let m = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let nodes = m
            .joined
            .iter()
            .map(|(name, joined)| {
                let alive = m.alive.get(name);
                let info = alive.unwrap_or(joined);
                NodeView {
                    name: name.clone(),
                    pull_url: info.pull_url.clone(),
                    ingest_url: info.ingest_url.clone(),
                    version: info.version.clone(),
                    alive: alive.is_some(),
                    inputs: alive
                        .map(|a| {
                            a.inputs
                                .iter()
                                .map(|i| {
                                    let name = name_of(&i.channel)
                                        .unwrap_or_else(|| i.channel.to_string());
                                    format!("{name}/{}", i.role.as_str())
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        ClusterView {
            node: self.me.name.clone(),
            etcd: self.settings.etcd.clone(),
            etcd_connected: connected,
            etcd_error: if connected { None } else { error },
            config_revision: m.config_revision,
            nodes,
        }
    }
}

/// An admin write refused because etcd cannot be reached.
fn unreachable(why: &str) -> ControlError {
    ControlError::Unavailable(format!(
        "etcd cannot be reached ({why}): the cluster's configuration cannot change now and nothing changed; this node goes on serving the last configuration, try again once etcd is back"
    ))
}
