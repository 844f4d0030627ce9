//! The `[cluster]` section and its flags (`--cluster-etcd`, `--node-name`).

use serde::{Deserialize, Serialize};

/// Cluster mode (`docs/cluster.md`): off unless `etcd` lists endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// etcd client URLs (`http://host:2379`, several for a multi-member etcd); empty: this
    /// daemon is a single node, with its configuration in its state directory only.
    pub etcd: Vec<String>,
    /// This node's name, unique in the cluster (required with `etcd`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Seconds of the node's etcd lease: how long after it dies it still shows alive.
    pub lease_secs: u64,
    /// The host other nodes reach this one at (its pull and ingest ports); default: the
    /// listen addresses' IP, which must then not be a wildcard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise_host: Option<String>,
    /// Most bytes of media fetched from other nodes kept in memory.
    pub cache_max_bytes: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            etcd: Vec::new(),
            node_name: None,
            lease_secs: 5,
            advertise_host: None,
            cache_max_bytes: 1 << 30,
        }
    }
}

impl ClusterSettings {
    /// Whether this daemon is a cluster node.
    pub fn enabled(&self) -> bool {
        !self.etcd.is_empty()
    }

    /// `HOST:PORT` where other nodes reach the listener on `listen`.
    pub fn peer_addr(&self, listen: std::net::SocketAddr) -> Result<String, String> {
        match &self.advertise_host {
            Some(h) => Ok(format!("{h}:{}", listen.port())),
            None if listen.ip().is_unspecified() => Err(format!(
                "cluster mode with a listener on {listen}: set cluster.advertise_host, the address other nodes reach this one at"
            )),
            None => Ok(listen.to_string()),
        }
    }

    /// Checks the combination, saying what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            if self.node_name.is_some() {
                return Err("--node-name needs --cluster-etcd (cluster.etcd): the etcd endpoints the cluster keeps its configuration in".into());
            }
            return Ok(());
        }
        let Some(name) = &self.node_name else {
            return Err("--cluster-etcd needs --node-name (cluster.node_name): this node's name, unique in the cluster".into());
        };
        streampack_core::cluster::check_node_name(name)?;
        for url in &self.etcd {
            let rest = url.strip_prefix("http://").ok_or_else(|| {
                format!("etcd endpoint {url:?}: write it as http://HOST:PORT (etcd's client URL)")
            })?;
            if rest.is_empty() || rest.contains('/') {
                return Err(format!(
                    "etcd endpoint {url:?}: write it as http://HOST:PORT, without a path"
                ));
            }
        }
        if !(2..=60).contains(&self.lease_secs) {
            return Err("cluster.lease_secs must be 2-60".into());
        }
        Ok(())
    }

    /// The node name (empty when not a cluster node).
    pub fn node(&self) -> &str {
        self.node_name.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(etcd: &[&str], name: Option<&str>) -> ClusterSettings {
        ClusterSettings {
            etcd: etcd.iter().map(|s| s.to_string()).collect(),
            node_name: name.map(str::to_string),
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn the_combinations_say_what_to_fix() {
        assert!(with(&[], None).validate().is_ok());
        assert!(with(&["http://127.0.0.1:2379"], Some("a"))
            .validate()
            .is_ok());
        let cases = [
            (with(&[], Some("a")), "needs --cluster-etcd"),
            (with(&["http://127.0.0.1:2379"], None), "needs --node-name"),
            (with(&["127.0.0.1:2379"], Some("a")), "http://HOST:PORT"),
            (with(&["http://h:2379/x"], Some("a")), "without a path"),
            (with(&["http://h:2379"], Some("A b")), "node name"),
        ];
        for (s, want) in cases {
            let err = s.validate().err().unwrap_or_default();
            assert!(err.contains(want), "{s:?}: {err}");
        }
    }
}
