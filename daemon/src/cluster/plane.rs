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
    pub secret: Option<Arc<str>>,
    /// By channel (shared: a request keeps its channel's route without copying it).
    pub channels: HashMap<Id, Arc<ChannelRoute>>,
}

impl Routes {
    /// Builds the routes as node `me` sees `alive`: each node's addresses resolved once
    /// (those that do not resolve are left out, with a warning), each channel's route from
    /// the few nodes receiving it (one pass over every node's inputs).
    pub fn build(me: &str, secret: Option<Arc<str>>, alive: &[NodeInfo]) -> Routes {
        let resolve = |hostport: &str| -> Option<SocketAddr> {
            let found = hostport.to_socket_addrs().ok().and_then(|mut a| a.next());
            if found.is_none() {
                tracing::warn!("cluster: node address {hostport:?} does not resolve");
            }
            found
        };
        let addrs: HashMap<&str, (Option<SocketAddr>, Option<SocketAddr>)> = alive
            .iter()
            .map(|n| {
                (
                    n.name.as_str(),
                    (resolve(&n.peer_pull), resolve(&n.peer_ingest)),
                )
            })
            .collect();
        let mut receivers: HashMap<Id, Vec<&NodeInfo>> = HashMap::new();
        for n in alive {
            for input in &n.inputs {
                let these = receivers.entry(input.channel).or_default();
                if !these.iter().any(|t| t.name == n.name) {
                    these.push(n);
                }
            }
        }
        let pull = |n: &NodeInfo| addrs.get(n.name.as_str()).and_then(|a| a.0);
        let ingest = |n: &NodeInfo| addrs.get(n.name.as_str()).and_then(|a| a.1);
        let channels = receivers
            .into_iter()
            .map(|(id, nodes)| {
                let order = home_order(&nodes, &id);
                let mine = order.iter().position(|n| n.name == me);
                let ahead = order.get(..mine.unwrap_or(order.len())).unwrap_or_default();
                let route = ChannelRoute {
                    fetch_from: ahead
                        .iter()
                        .filter_map(|n| Some((n.name.clone(), pull(n)?)))
                        .collect(),
                    makes_media: mine.is_some(),
                    relay_to: relay_targets(&nodes, me, &id)
                        .iter()
                        .filter_map(|n| ingest(n))
                        .collect(),
                };
                (id, Arc::new(route))
            })
            .collect();
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use streampack_core::channel::InputRole;
    use streampack_core::cluster::NodeInput;

    fn node(name: &str, port: u16, inputs: &[InputRole]) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            pull_url: String::new(),
            ingest_url: String::new(),
            version: String::new(),
            peer_pull: format!("127.0.0.1:{port}"),
            peer_ingest: format!("127.0.0.1:{}", port + 1),
            inputs: inputs
                .iter()
                .map(|&role| NodeInput {
                    channel: Id::from_random([1; 14]),
                    role,
                })
                .collect(),
        }
    }

    #[test]
    fn each_node_fetches_from_the_ones_ahead_of_it_and_relays_to_the_other_receivers() {
        let ch = Id::from_random([1; 14]);
        let alive = [
            node("c", 3000, &[]),
            node("b", 2000, &[InputRole::Backup]),
            node("a", 1000, &[InputRole::Primary]),
        ];
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let route = |me| {
            let shared = Routes::build(me, None, &alive).channels.remove(&ch);
            Arc::try_unwrap(shared.unwrap()).unwrap()
        };
        let c = route("c");
        let names: Vec<&str> = c.fetch_from.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(c.fetch_from[0].1, addr(1000));
        assert!(!c.makes_media);
        // Were an encoder to push to c, c would relay to both receivers.
        let mut relay = c.relay_to.clone();
        relay.sort();
        assert_eq!(relay, [addr(1001), addr(2001)]);
        let b = route("b");
        assert_eq!(b.fetch_from, [("a".to_string(), addr(1000))]);
        assert!(b.makes_media);
        assert_eq!(b.relay_to, [addr(1001)]);
        let a = route("a");
        assert!(a.fetch_from.is_empty() && a.makes_media);
        assert_eq!(a.relay_to, [addr(2001)]);
    }

    #[test]
    fn only_the_exact_secret_is_a_peer() {
        let r = Routes {
            secret: Some("abcd".into()),
            ..Routes::default()
        };
        assert!(r.is_peer(Some(b"abcd")));
        for other in [&b"abce"[..], b"abc", b"abcde", b""] {
            assert!(!r.is_peer(Some(other)));
        }
        assert!(!r.is_peer(None));
        assert!(
            !Routes::default().is_peer(Some(b"")),
            "no secret known: nobody is a peer"
        );
    }
}
