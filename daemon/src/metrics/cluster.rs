//! Cluster families (cluster mode only): the etcd link, live nodes, media fetched from other
//! nodes, pushes relayed to them.

use std::sync::atomic::Ordering;

use super::expo::{Kind, Value, Writer};
use crate::context::Shared;

/// Writes the cluster families (nothing on a single node).
pub fn render(shared: &Shared, w: &mut Writer) {
    let Some(plane) = &shared.cluster else { return };
    let s = &plane.stats;
    let gauge = |w: &mut Writer, name: &str, help: &str, v: u64| {
        w.family(name, Kind::Gauge, help);
        w.sample(name, &[], Value::Int(v));
    };
    gauge(
        w,
        "streampack_cluster_etcd_connected",
        "1 while this node is connected to etcd (its configuration follows the cluster's; admin writes work).",
        u64::from(s.etcd_connected.load(Ordering::Relaxed)),
    );
    gauge(
        w,
        "streampack_cluster_nodes_alive",
        "Nodes whose etcd lease is alive, this one included, as last seen.",
        s.nodes_alive.load(Ordering::Relaxed),
    );
    gauge(
        w,
        "streampack_cluster_cache_bytes",
        "Bytes of media fetched from other nodes held in memory.",
        plane.cache.bytes(),
    );
    let name = "streampack_cluster_fetches_total";
    w.family(
        name,
        Kind::Counter,
        "Pulls of channels another node makes, by result: hit (from the cache), fetched (from the making node), failed (no making node answered).",
    );
    for (result, n) in [
        ("hit", &s.cache_hits),
        ("fetched", &s.fetched),
        ("failed", &s.fetch_failed),
    ] {
        w.sample(
            name,
            &[("result", result)],
            Value::Int(n.load(Ordering::Relaxed)),
        );
    }
    let name = "streampack_cluster_relayed_total";
    w.family(
        name,
        Kind::Counter,
        "Encoder pushes relayed to the other nodes receiving the channel's inputs, by result: queued, dropped (a node's queue was full), failed (the node refused or did not answer).",
    );
    for (result, n) in [
        ("queued", &plane.relay.queued),
        ("dropped", &plane.relay.dropped),
        ("failed", &*plane.relay.failed),
    ] {
        w.sample(
            name,
            &[("result", result)],
            Value::Int(n.load(Ordering::Relaxed)),
        );
    }
}
