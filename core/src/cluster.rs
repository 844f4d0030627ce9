//! Cluster mode's data in etcd: the key layout, what a configuration change writes, how a
//! node rebuilds the configuration from what it reads, and what each node announces. No etcd
//! client here: the daemon runs one and hands the keys and values in and out.
//!
//! # Keys (all under [`PREFIX`])
//! - `config/revision`: written by every configuration change; a change is one etcd
//!   transaction that compares this key's `mod_revision` with the one its author started from
//!   (so two nodes never interleave changes) and writes it along with the channels it changes.
//! - `channels/<id>`: one channel (inputs, credentials, endpoints, CDN domains) as JSON, so a
//!   change writes only what it changes and no value nears etcd's 1.5 MiB request limit.
//!   Channel order is creation order: etcd's `create_revision`.
//! - `members/<node>`: a node that joined (kept when it dies, so a dead node shows as dead).
//! - `alive/<node>`: the same node, under its lease: present while the node is alive; it says
//!   which channel inputs the node receives.
//! - `secret`: the cluster secret nodes prove themselves to each other with (made by the first
//!   node, random).
//!
//! # Media
//! A channel's media is made where its inputs arrive. Its *home* is the node receiving its
//! primary input, else the one receiving its backup ([`home_order`]: the same answer on every
//! node, from the same etcd view); every other node fetches its media from there. The nodes
//! receiving a channel's inputs also relay each push to each other ([`relay_targets`]), so
//! each of them runs the channel's failover rules on both inputs, as one node does.

use crate::channel::config::{ChannelConfig, InputRole};
use crate::control::{ControlState, LoadError};
use crate::id::Id;
use serde::{Deserialize, Serialize};

/// Every key streampack writes starts with this.
pub const PREFIX: &str = "/streampack/v1/";
/// The key every configuration change compares and writes.
pub const CONFIG_REVISION_KEY: &str = "/streampack/v1/config/revision";
/// Where channels live.
pub const CHANNELS_PREFIX: &str = "/streampack/v1/channels/";
/// Where nodes that joined live.
pub const MEMBERS_PREFIX: &str = "/streampack/v1/members/";
/// Where live nodes live (leased).
pub const ALIVE_PREFIX: &str = "/streampack/v1/alive/";
/// Held (leased) by the node writing its channels into an empty etcd.
pub const SEED_LOCK_KEY: &str = "/streampack/v1/seeding";
/// The cluster secret.
pub const SECRET_KEY: &str = "/streampack/v1/secret";
/// The root of the content keys every node derives alike ([`derive_content_key`]).
pub const KEY_MASTER_KEY: &str = "/streampack/v1/key-master";
/// The header a node's requests to another node carry the cluster secret in.
pub const PEER_HEADER: &str = "x-streampack-cluster";
/// Longest node name.
pub const MAX_NODE_NAME: usize = 63;

/// The key of channel `id`.
pub fn channel_key(id: &Id) -> String {
    format!("{CHANNELS_PREFIX}{id}")
}

/// The member key of node `name`.
pub fn member_key(name: &str) -> String {
    format!("{MEMBERS_PREFIX}{name}")
}

/// The liveness key of node `name`.
pub fn alive_key(name: &str) -> String {
    format!("{ALIVE_PREFIX}{name}")
}

/// Checks a node name: 1 to 63 of `a-z 0-9 - _ .`, starting with a letter or digit (it is
/// part of etcd keys and of logs).
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || name.len() > MAX_NODE_NAME || !first_ok || !name.chars().all(ok_char) {
        return Err(format!(
            "node name {name:?}: use 1 to {MAX_NODE_NAME} of a-z, 0-9, '-', '_', '.', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// One write of a configuration change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyWrite {
    /// Put this value at this key.
    Put(String, Vec<u8>),
    /// Delete this key.
    Delete(String),
}

/// What changing the configuration from `prev` to `next` writes: each added or changed
/// channel, each removed one (the revision key is the caller's: it carries who wrote).
pub fn config_writes(prev: &ControlState, next: &ControlState) -> Result<Vec<KeyWrite>, String> {
    let before: std::collections::HashMap<&Id, &ChannelConfig> =
        prev.channels.iter().map(|c| (&c.id, c)).collect();
    let after: std::collections::HashSet<&Id> = next.channels.iter().map(|c| &c.id).collect();
    let mut out = Vec::new();
    for c in &next.channels {
        if before.get(&c.id).is_some_and(|p| *p == c) {
            continue;
        }
        let json = serde_json::to_vec(c).map_err(|e| format!("channel {}: {e}", c.id))?;
        out.push(KeyWrite::Put(channel_key(&c.id), json));
    }
    for p in &prev.channels {
        if !after.contains(&p.id) {
            out.push(KeyWrite::Delete(channel_key(&p.id)));
        }
    }
    Ok(out)
}

/// Reads channel key `key`'s value (read once per change of the key, not per configuration).
pub fn parse_channel(key: &str, value: &[u8]) -> Result<ChannelConfig, LoadError> {
    serde_json::from_slice(value).map_err(|e| LoadError::Corrupt(format!("{key}: {e}")))
}

/// The configuration of these channels with their keys' `create_revision`, in creation
/// order, checked by the same rules as the state file.
pub fn state_from_channels(
    mut stored: Vec<(i64, ChannelConfig)>,
) -> Result<ControlState, LoadError> {
    stored.sort_by_key(|(created, _)| *created);
    ControlState::from_channels(stored.into_iter().map(|(_, c)| c).collect())
}

/// What a node announces about itself (its member and alive keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its `--node-name`.
    pub name: String,
    /// Where it serves pulls (its public pull URL).
    pub pull_url: String,
    /// Where encoders push to it (its public ingest URL).
    pub ingest_url: String,
    /// Its streampack version.
    pub version: String,
    /// Where other nodes reach its pull listener (`HOST:PORT`).
    #[serde(default)]
    pub peer_pull: String,
    /// Where other nodes reach its ingest listener (`HOST:PORT`).
    #[serde(default)]
    pub peer_ingest: String,
    /// The channel inputs it receives now from an encoder (relayed pushes are not counted).
    #[serde(default)]
    pub inputs: Vec<NodeInput>,
}

/// The nodes that make channel `channel`'s media, best first: those receiving its primary
/// input, then those receiving its backup, each by name. Empty: no node receives it.
pub fn home_order<'a>(alive: &[&'a NodeInfo], channel: &Id) -> Vec<&'a NodeInfo> {
    let receives = |n: &NodeInfo, role: InputRole| {
        n.inputs
            .iter()
            .any(|i| i.channel == *channel && i.role == role)
    };
    let mut order: Vec<&NodeInfo> = Vec::new();
    for role in InputRole::ALL {
        let mut these: Vec<&NodeInfo> = alive
            .iter()
            .copied()
            .filter(|n| receives(n, role) && !order.iter().any(|o| o.name == n.name))
            .collect();
        these.sort_by(|a, b| a.name.cmp(&b.name));
        order.extend(these);
    }
    order
}

/// Where node `me` relays a push it received on channel `channel`: every other node receiving
/// an input of that channel.
pub fn relay_targets<'a>(alive: &[&'a NodeInfo], me: &str, channel: &Id) -> Vec<&'a NodeInfo> {
    alive
        .iter()
        .copied()
        .filter(|n| n.name != me && n.inputs.iter().any(|i| i.channel == *channel))
        .collect()
}

/// A channel input a node receives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeInput {
    /// The channel.
    pub channel: Id,
    /// Which of its inputs.
    pub role: InputRole,
}

/// The content key of an endpoint's rotation period, derived from the cluster's key master
/// (HMAC-SHA256, one label for the key id, one for the key): every node that encrypts the
/// channel's media makes the same key for the same period without asking any other, so a
/// player switching node, or a node taking over, decrypts alike.
pub fn derive_content_key(
    master: &[u8; 32],
    channel: &Id,
    endpoint: &Id,
    scheme: &str,
    rotation_secs: u32,
    period: u64,
) -> crate::encryption::ContentKey {
    use hmac::{Hmac, Mac};
    let part = |label: &str| -> [u8; 16] {
        let mut out = [0u8; 16];
        if let Ok(mut m) = Hmac::<sha2::Sha256>::new_from_slice(master) {
            m.update(
                format!(
                    "streampack-v1 {label} {channel} {endpoint} {scheme} {rotation_secs} {period}"
                )
                .as_bytes(),
            );
            out.copy_from_slice(&m.finalize().into_bytes()[..16]);
        }
        out
    };
    crate::encryption::ContentKey {
        kid: part("kid"),
        key: part("key"),
        period,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::admin::proto::ChannelCreate;

    fn state_with(names: &[&str]) -> ControlState {
        let mut st = ControlState::new();
        let mut n = 0u8;
        let mut gen = || {
            n += 1;
            Id::from_random([n; 14])
        };
        for name in names {
            let spec = ChannelCreate {
                name: (*name).into(),
                ..Default::default()
            };
            st.create_channel(&spec, &mut gen).unwrap();
        }
        st
    }

    fn stored(writes: &[KeyWrite]) -> Vec<(i64, ChannelConfig)> {
        writes
            .iter()
            .enumerate()
            .filter_map(|(i, w)| match w {
                KeyWrite::Put(k, v) => Some((i as i64, parse_channel(k, v).unwrap())),
                KeyWrite::Delete(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_state_written_as_keys_reads_back_in_creation_order() {
        let st = state_with(&["a", "b", "c"]);
        let writes = config_writes(&ControlState::new(), &st).unwrap();
        assert_eq!(writes.len(), 3);
        let mut keys = stored(&writes);
        keys.reverse();
        // Sorted by create_revision, not by key or by the order etcd listed them.
        for (i, k) in keys.iter_mut().enumerate() {
            k.0 = 10 - i as i64;
        }
        assert_eq!(state_from_channels(keys).unwrap(), st);
    }

    #[test]
    fn a_change_writes_only_what_it_changes() {
        let prev = state_with(&["a", "b"]);
        let mut next = prev.clone();
        next.channels[1].name = "renamed".into();
        let gone = next.channels.remove(0);
        let writes = config_writes(&prev, &next).unwrap();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert!(
            matches!(&writes[0], KeyWrite::Put(k, _) if *k == channel_key(&next.channels[0].id))
        );
        assert_eq!(writes[1], KeyWrite::Delete(channel_key(&gone.id)));
        assert!(config_writes(&next, &next).unwrap().is_empty());
    }

    #[test]
    fn keys_breaking_the_rules_are_refused_with_the_key() {
        let st = state_with(&["a"]);
        let writes = config_writes(&ControlState::new(), &st).unwrap();
        let mut twice = stored(&writes);
        twice.push(twice[0].clone());
        assert!(matches!(
            state_from_channels(twice),
            Err(LoadError::Inconsistent(_))
        ));
        let key = channel_key(&st.channels[0].id);
        let err = parse_channel(&key, b"{").unwrap_err().to_string();
        assert!(err.contains(&key), "{err}");
    }

    #[test]
    fn node_names() {
        for ok in [
            "a",
            "node-1",
            "eu-west.2",
            "n_3",
            &"x".repeat(MAX_NODE_NAME),
        ] {
            assert!(check_node_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "Node",
            "a/b",
            "a b",
            &"x".repeat(MAX_NODE_NAME + 1),
        ] {
            assert!(check_node_name(bad).is_err(), "{bad}");
        }
    }

    fn node(name: &str, inputs: &[(u8, InputRole)]) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            pull_url: format!("http://{name}:8080"),
            ingest_url: format!("http://{name}:8081"),
            version: "0.1.0".into(),
            peer_pull: format!("{name}:8080"),
            peer_ingest: format!("{name}:8081"),
            inputs: inputs
                .iter()
                .map(|&(c, role)| NodeInput {
                    channel: Id::from_random([c; 14]),
                    role,
                })
                .collect(),
        }
    }

    #[test]
    fn derived_keys_are_the_same_for_the_same_period_and_differ_otherwise() {
        let (c, e) = (Id::from_random([1; 14]), Id::from_random([2; 14]));
        let m = [7u8; 32];
        let k = derive_content_key(&m, &c, &e, "cenc", 60, 5);
        assert_eq!(k, derive_content_key(&m, &c, &e, "cenc", 60, 5));
        assert_ne!(k.kid, k.key);
        for other in [
            derive_content_key(&[8u8; 32], &c, &e, "cenc", 60, 5),
            derive_content_key(&m, &e, &c, "cenc", 60, 5),
            derive_content_key(&m, &c, &e, "cbcs", 60, 5),
            derive_content_key(&m, &c, &e, "cenc", 30, 5),
            derive_content_key(&m, &c, &e, "cenc", 60, 6),
        ] {
            assert_ne!(other.kid, k.kid);
            assert_ne!(other.key, k.key);
        }
    }

    #[test]
    fn node_info_round_trips() {
        let info = node("a", &[(1, InputRole::Backup)]);
        let json = serde_json::to_vec(&info).unwrap();
        assert_eq!(serde_json::from_slice::<NodeInfo>(&json).unwrap(), info);
    }

    #[test]
    fn the_home_is_where_the_primary_arrives_else_the_backup() {
        use InputRole::{Backup, Primary};
        let ch = Id::from_random([1; 14]);
        let names = |v: Vec<&NodeInfo>| v.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
        let cases: Vec<(Vec<NodeInfo>, Vec<&str>)> = vec![
            (vec![node("a", &[]), node("b", &[])], vec![]),
            (
                vec![
                    node("c", &[]),
                    node("b", &[(1, Backup)]),
                    node("a", &[(1, Primary)]),
                ],
                vec!["a", "b"],
            ),
            // The primary's node first whatever the names; ties by name; a node with both once.
            (
                vec![node("a", &[(1, Backup)]), node("z", &[(1, Primary)])],
                vec!["z", "a"],
            ),
            (
                vec![
                    node("b", &[(1, Primary)]),
                    node("a", &[(1, Primary), (1, Backup)]),
                ],
                vec!["a", "b"],
            ),
            // Another channel's inputs do not count.
            (
                vec![node("a", &[(2, Primary)]), node("b", &[(1, Backup)])],
                vec!["b"],
            ),
        ];
        for (alive, want) in cases {
            let refs: Vec<&NodeInfo> = alive.iter().collect();
            assert_eq!(names(home_order(&refs, &ch)), want, "{alive:?}");
        }
        let alive = [
            node("a", &[(1, Primary)]),
            node("b", &[(1, Backup)]),
            node("c", &[(2, Primary)]),
        ];
        let alive: Vec<&NodeInfo> = alive.iter().collect();
        assert_eq!(names(relay_targets(&alive, "a", &ch)), ["b"]);
        assert_eq!(names(relay_targets(&alive, "b", &ch)), ["a"]);
        assert!(relay_targets(&alive, "c", &ch).len() == 2);
    }
}
