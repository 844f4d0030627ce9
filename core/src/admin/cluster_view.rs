//! What `streampackctl cluster status` shows: this node, its etcd, every node that joined.

use serde::{Deserialize, Serialize};

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The node answering.
    pub node: String,
    /// The etcd endpoints it was given.
    pub etcd: Vec<String>,
    /// Whether it is connected to etcd now (its configuration follows the cluster's).
    pub etcd_connected: bool,
    /// Why it is not, when it is not.
    pub etcd_error: Option<String>,
    /// etcd's revision of the configuration this node applies (0: none from etcd yet).
    pub config_revision: i64,
    /// Every node that joined, by name.
    pub nodes: Vec<NodeView>,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// Its `--node-name`.
    pub name: String,
    /// Where it serves pulls.
    pub pull_url: String,
    /// Where encoders push to it.
    pub ingest_url: String,
    /// Its streampack version.
    pub version: String,
    /// Its etcd lease is alive (it is running and reaches etcd).
    pub alive: bool,
    /// The channel inputs it receives now, as `<channel name>/<primary|backup>`.
    pub inputs: Vec<String>,
}
