//! The control domain: every channel with its inputs and endpoints, the commands that change
//! them and why a change is refused. The admin socket carries the commands, the daemon persists
//! the state (as JSON, atomically) and restores it on start.
//!
//! All rules the operator can run into live here (unique names, id-or-name lookup, the
//! endpoint-before-channel delete rule) so they are tested without a daemon.
//!
//! # Layout
//! - [`commands`]: what an operator asks for (create, patch, input auth).
//! - [`error`]: why a command is refused.
//! - `channels`, `endpoints`, `inputs`, `cdn`: the rules of each, as methods of [`ControlState`].

pub mod commands;
pub mod error;

mod cdn;
mod channels;
mod endpoints;
mod inputs;

pub use cdn::MAX_CDN_DOMAINS_PER_CHANNEL;
pub use error::ControlError;
pub use inputs::MAX_ROTATION_GRACE_SECS;

use crate::channel::config::{ChannelConfig, InputRole};
use crate::id::Id;
use serde::{Deserialize, Serialize};

/// Version of the state file's format.
pub const STATE_FORMAT: u32 = 1;
/// Most channels one daemon holds, unless [`StateLimits`] says otherwise.
pub const MAX_CHANNELS: usize = 10_000;
/// Most endpoints one channel holds, unless [`StateLimits`] says otherwise.
pub const MAX_ENDPOINTS_PER_CHANNEL: usize = 64;
/// How much the control plane may hold (the daemon's `[limits]`). Not persisted: a lower limit
/// set later keeps what exists and refuses new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    /// Most channels.
    pub max_channels: usize,
    /// Most endpoints per channel.
    pub max_endpoints_per_channel: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            max_channels: MAX_CHANNELS,
            max_endpoints_per_channel: MAX_ENDPOINTS_PER_CHANNEL,
        }
    }
}
/// Everything the daemon persists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlState {
    /// Format version of the file.
    pub format: u32,
    /// Channels in creation order.
    pub channels: Vec<ChannelConfig>,
    /// Limits enforced on changes (not part of the file).
    #[serde(skip)]
    pub limits: StateLimits,
}

/// Why a state file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not valid JSON of the expected shape.
    #[error("state file is corrupt: {0}")]
    Corrupt(String),
    /// Written by a newer streampack.
    #[error("state file has format {0}, this build reads format {STATE_FORMAT}")]
    Format(u32),
    /// Parsed, but breaks a rule (e.g. duplicate names) that the daemon never lets through.
    #[error("state file is inconsistent: {0}")]
    Inconsistent(String),
}
impl ControlState {
    /// An empty state.
    pub fn new() -> ControlState {
        ControlState {
            format: STATE_FORMAT,
            channels: Vec::new(),
            limits: StateLimits::default(),
        }
    }

    /// Serializes for the state file.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut v = serde_json::to_vec_pretty(self)?;
        v.push(b'\n');
        Ok(v)
    }

    /// Parses a state file, refusing anything corrupt rather than starting empty.
    pub fn from_json(bytes: &[u8]) -> Result<ControlState, LoadError> {
        let st: ControlState =
            serde_json::from_slice(bytes).map_err(|e| LoadError::Corrupt(e.to_string()))?;
        if st.format != STATE_FORMAT {
            return Err(LoadError::Format(st.format));
        }
        st.check().map_err(LoadError::Inconsistent)?;
        Ok(st)
    }

    /// A state of these channels (in this order), checked by the rules of a state file: how
    /// a cluster node reads the configuration from etcd.
    pub fn from_channels(channels: Vec<ChannelConfig>) -> Result<ControlState, LoadError> {
        let st = ControlState {
            channels,
            ..ControlState::new()
        };
        st.check().map_err(LoadError::Inconsistent)?;
        Ok(st)
    }

    fn check(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        let mut domains = std::collections::HashSet::new();
        for c in &self.channels {
            if !names.insert(c.name.as_str()) {
                return Err(format!("duplicate channel name {:?}", c.name));
            }
            for id in [c.id, c.inputs[0].id, c.inputs[1].id] {
                if !ids.insert(id) {
                    return Err(format!("duplicate id {id}"));
                }
            }
            if c.inputs[0].role != InputRole::Primary || c.inputs[1].role != InputRole::Backup {
                return Err(format!(
                    "channel {} inputs are not primary then backup",
                    c.id
                ));
            }
            for d in &c.cdn_domains {
                if !domains.insert(d.as_str()) {
                    return Err(format!("CDN domain {d} is bound to two channels"));
                }
            }
            let mut ep_names = std::collections::HashSet::new();
            for e in &c.endpoints {
                if !ep_names.insert(e.name.as_str()) || !ids.insert(e.id) {
                    return Err(format!("duplicate endpoint {} in channel {}", e.name, c.id));
                }
            }
        }
        Ok(())
    }

    /// Finds a channel by id or by name.
    pub fn channel(&self, key: &str) -> Result<&ChannelConfig, ControlError> {
        self.channel_index(key).map(|i| &self.channels[i])
    }

    pub(super) fn channel_index(&self, key: &str) -> Result<usize, ControlError> {
        let by_id = Id::parse(key);
        self.channels
            .iter()
            .position(|c| Some(c.id) == by_id || c.name == key)
            .ok_or_else(|| ControlError::NotFound(format!("no channel with id or name {key:?}")))
    }

    /// Draws ids until one is used nowhere (random 112-bit ids collide only in tests).
    pub(super) fn fresh_id(&self, new_id: &mut dyn FnMut() -> Id, also_taken: &[Id]) -> Id {
        loop {
            let id = new_id();
            let taken = also_taken.contains(&id)
                || self.channels.iter().any(|c| {
                    c.id == id
                        || c.inputs.iter().any(|i| i.id == id)
                        || c.endpoints.iter().any(|e| e.id == id)
                });
            if !taken {
                return id;
            }
        }
    }

    pub(super) fn endpoint_index(&self, ci: usize, key: &str) -> Result<usize, ControlError> {
        let c = &self.channels[ci];
        let by_id = Id::parse(key);
        c.endpoints
            .iter()
            .position(|e| Some(e.id) == by_id || e.name == key)
            .ok_or_else(|| {
                ControlError::NotFound(format!(
                    "channel {:?} has no endpoint with id or name {key:?}",
                    c.name
                ))
            })
    }
}

/// A channel of `protocol` with `endpoints`, as the control plane makes it (tests of what
/// reads a channel's configuration), or why it refuses one of them.
#[cfg(test)]
pub(crate) fn test_channel(
    protocol: crate::channel::Protocol,
    endpoints: &[commands::EndpointCreate],
) -> Result<crate::channel::config::ChannelConfig, ControlError> {
    let mut st = ControlState::new();
    let mut n = 0u8;
    let mut ids = move || {
        n += 1;
        crate::id::Id::from_random([n; 14])
    };
    let create = commands::ChannelCreate {
        name: "test".into(),
        protocol,
        ..Default::default()
    };
    let ch = st.create_channel(&create, &mut ids)?.id.to_string();
    for e in endpoints {
        st.create_endpoint(&ch, e, &mut ids)?;
    }
    st.channel(&ch).cloned()
}

#[cfg(test)]
mod tests;
