//! What the data plane knows of the cluster: for each channel, the nodes to fetch its media
//! from and the nodes to relay its pushes to ([`Routes`], rebuilt by the etcd thread whenever
//! a node comes, goes or changes the inputs it receives, read lock-free by every request), the
//! cluster secret, the cache of media fetched from other nodes and the relay queues.

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use streampack_core::cluster::{home_order, relay_targets, NodeInfo};
use streampack_core::id::Id;

use super::cache::PeerCache;
use super::relay::Relay;

/// Where one channel's media is.
#[derive(Debug, Default, Clone)]
pub struct ChannelRoute {
    /// The nodes to fetch from, best first, ahead of this node (empty: serve it here).
    pub fetch_from: Vec<(String, SocketAddr)>,
    /// Whether this node is one of the nodes that make its media (it serves it itself once
    /// the ones ahead of it fail).
    pub makes_media: bool,
    /// Other nodes receiving its inputs: where this node relays each push (their ingest).
    pub relay_to: Vec<SocketAddr>,
}

/// The routes of every channel some node receives.
#[derive(Debug, Default)]
pub struct Routes {
    /// The cluster secret (`None` until read from etcd: peer requests are refused meanwhile).
    pub secret: Option<String>,
    /// By channel.
    pub channels: HashMap<Id, ChannelRoute>,
}

impl Routes {
    /// Builds the routes as node `me` sees `alive` (addresses that do not resolve are left
    /// out, with a warning).
    pub fn build(me: &str, secret: Option<String>, alive: &[NodeInfo]) -> Routes {
        let resolve = |hostport: &str| -> Option<SocketAddr> {
            let found = hostport.to_socket_addrs().ok().and_then(|mut a| a.next());
            if found.is_none() {
                tracing::warn!("cluster: node address {hostport:?} does not resolve");
            }
            found
        };
        let mut channels = HashMap::new();
        for n in alive {
            for input in &n.inputs {
                channels
                    .entry(input.channel)
                    .or_insert_with(ChannelRoute::default);
            }
        }
        for (id, route) in &mut channels {
            let order = home_order(alive, id);
            let mine = order.iter().position(|n| n.name == me);
            route.makes_media = mine.is_some();
            route.fetch_from = order[..mine.unwrap_or(order.len())]
                .iter()
                .filter_map(|n| Some((n.name.clone(), resolve(&n.peer_pull)?)))
                .collect();
            route.relay_to = relay_targets(alive, me, id)
                .iter()
                .filter_map(|n| resolve(&n.peer_ingest))
                .collect();
        }
        Routes { secret, channels }
    }

    /// Whether `presented` (a request's [`streampack_core::cluster::PEER_HEADER`]) is the
    /// cluster secret, compared in constant time.
    pub fn is_peer(&self, presented: Option<&[u8]>) -> bool {
        match (&self.secret, presented) {
            (Some(s), Some(p)) if s.len() == p.len() => {
                s.bytes().zip(p).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
            }
            _ => false,
        }
    }
}

/// Counters of the cluster's data plane (`/metrics`).
#[derive(Default)]
pub struct PeerStats {
    /// Connected to etcd now.
    pub etcd_connected: AtomicBool,
    /// Nodes alive as last seen.
    pub nodes_alive: AtomicU64,
    /// Pulls answered from the cache.
    pub cache_hits: AtomicU64,
    /// Pulls fetched from a making node.
    pub fetched: AtomicU64,
    /// Pulls no making node answered.
    pub fetch_failed: AtomicU64,
}

/// The cluster's share of the data plane (in [`crate::context::Shared`] on a cluster node).
pub struct PeerPlane {
    /// Counters.
    pub stats: PeerStats,
    /// The routes in force.
    pub routes: ArcSwap<Routes>,
    /// Media fetched from other nodes.
    pub cache: PeerCache,
    /// Pushes on their way to other nodes.
    pub relay: Relay,
}

impl PeerPlane {
    /// An empty plane holding at most `cache_bytes` of fetched media.
    pub fn new(cache_bytes: u64) -> Arc<PeerPlane> {
        Arc::new(PeerPlane {
            stats: PeerStats::default(),
            routes: ArcSwap::from_pointee(Routes::default()),
            cache: PeerCache::new(cache_bytes),
            relay: Relay::default(),
        })
    }
}
