//! The control-plane state: every channel with its inputs and endpoints. The admin socket
//! changes it, the daemon persists it (as JSON, atomically) and restores it on start.
//!
//! All rules the operator can run into live here (unique names, id-or-name lookup, the
//! endpoint-before-channel delete rule) so they are tested without a daemon.

use crate::access::cdn::normalize_domain;
use crate::access::credentials::RANDOM_BYTES;
use crate::access::{parse_cidr, InputAuth};
use crate::admin::proto::{
    ChannelCreate, ChannelPatch, EndpointCreate, EndpointPatch, InputAuthAction,
};
use crate::channel::config::{
    validate_auth_key, validate_description, validate_durations, validate_endpoint_type,
    validate_manifest_name, validate_name, validate_ttls, ChannelConfig, EndpointConfig,
    InputConfig, InputRole, DEFAULT_MANIFEST_NAME, DEFAULT_MAX_PLAYLIST_DURATION,
    DEFAULT_MAX_SEGMENT_DURATION,
};
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

/// Why a control-plane request was refused. The kind decides the CLI's exit status; the
/// message is shown to the operator as is, so it says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ControlError {
    /// No such channel or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// A value is out of range or malformed.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with existing state (duplicate name, channel still has endpoints).
    #[error("{0}")]
    Conflict(String),
    /// A limit was reached.
    #[error("{0}")]
    Limit(String),
    /// The daemon could not carry the change out (e.g. the state file could not be written);
    /// nothing was changed.
    #[error("{0}")]
    Unavailable(String),
}

impl From<crate::channel::Invalid> for ControlError {
    fn from(e: crate::channel::Invalid) -> Self {
        ControlError::Invalid(e.0)
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

    fn channel_index(&self, key: &str) -> Result<usize, ControlError> {
        let by_id = Id::parse(key);
        self.channels
            .iter()
            .position(|c| Some(c.id) == by_id || c.name == key)
            .ok_or_else(|| ControlError::NotFound(format!("no channel with id or name {key:?}")))
    }

    /// Creates a channel with two fresh inputs. `new_id` draws ids.
    pub fn create_channel(
        &mut self,
        req: &ChannelCreate,
        new_id: &mut dyn FnMut() -> Id,
    ) -> Result<&ChannelConfig, ControlError> {
        validate_name("channel name", &req.name)?;
        let seg = req
            .max_segment_duration
            .unwrap_or(DEFAULT_MAX_SEGMENT_DURATION);
        let pl = req
            .max_playlist_duration
            .unwrap_or(DEFAULT_MAX_PLAYLIST_DURATION);
        validate_durations(seg, pl)?;
        let description = req.description.clone().unwrap_or_default();
        validate_description(&description)?;
        validate_ttls(req.manifest_ttl, req.segment_ttl)?;
        if self.channels.iter().any(|c| c.name == req.name) {
            return Err(ControlError::Conflict(format!(
                "a channel named {:?} already exists",
                req.name
            )));
        }
        if self.channels.len() >= self.limits.max_channels {
            return Err(ControlError::Limit(format!(
                "at most {} channels (limits.max_channels)",
                self.limits.max_channels
            )));
        }
        let id = self.fresh_id(new_id, &[]);
        let primary = self.fresh_id(new_id, &[id]);
        let backup = self.fresh_id(new_id, &[id, primary]);
        let cfg = ChannelConfig {
            id,
            name: req.name.clone(),
            protocol: req.protocol,
            max_segment_duration: seg,
            max_playlist_duration: pl,
            description,
            inputs: [
                InputConfig {
                    id: primary,
                    role: InputRole::Primary,
                    auth: None,
                },
                InputConfig {
                    id: backup,
                    role: InputRole::Backup,
                    auth: None,
                },
            ],
            endpoints: Vec::new(),
            cdn_domains: Vec::new(),
            manifest_ttl: req.manifest_ttl,
            segment_ttl: req.segment_ttl,
        };
        self.channels.push(cfg);
        Ok(&self.channels[self.channels.len() - 1])
    }

    /// Draws ids until one is used nowhere (random 112-bit ids collide only in tests).
    fn fresh_id(&self, new_id: &mut dyn FnMut() -> Id, also_taken: &[Id]) -> Id {
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

    /// Applies an edit; the protocol cannot change.
    pub fn edit_channel(
        &mut self,
        key: &str,
        patch: &ChannelPatch,
    ) -> Result<&ChannelConfig, ControlError> {
        let i = self.channel_index(key)?;
        let cur = &self.channels[i];
        let mut next = cur.clone();
        if let Some(name) = &patch.name {
            validate_name("channel name", name)?;
            if self
                .channels
                .iter()
                .any(|c| c.id != cur.id && &c.name == name)
            {
                return Err(ControlError::Conflict(format!(
                    "a channel named {name:?} already exists"
                )));
            }
            next.name = name.clone();
        }
        if let Some(s) = patch.max_segment_duration {
            next.max_segment_duration = s;
        }
        if let Some(p) = patch.max_playlist_duration {
            next.max_playlist_duration = p;
        }
        validate_durations(next.max_segment_duration, next.max_playlist_duration)?;
        if let Some(d) = &patch.description {
            validate_description(d)?;
            next.description = d.clone();
        }
        validate_ttls(patch.manifest_ttl, patch.segment_ttl)?;
        if patch.manifest_ttl.is_some() {
            next.manifest_ttl = patch.manifest_ttl;
        }
        if patch.segment_ttl.is_some() {
            next.segment_ttl = patch.segment_ttl;
        }
        self.channels[i] = next;
        Ok(&self.channels[i])
    }

    /// Deletes a channel that has no endpoints.
    pub fn delete_channel(&mut self, key: &str) -> Result<ChannelConfig, ControlError> {
        let i = self.channel_index(key)?;
        let c = &self.channels[i];
        if !c.endpoints.is_empty() {
            let names: Vec<String> = c
                .endpoints
                .iter()
                .map(|e| format!("{} ({})", e.name, e.id))
                .collect();
            let (n, them) = match c.endpoints.len() {
                1 => ("an endpoint".to_string(), "it"),
                n => (format!("{n} endpoints"), "them"),
            };
            return Err(ControlError::Conflict(format!(
                "channel {:?} still has {n}: {}; delete {them} first",
                c.name,
                names.join(", ")
            )));
        }
        Ok(self.channels.remove(i))
    }

    fn endpoint_index(&self, ci: usize, key: &str) -> Result<usize, ControlError> {
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

    /// Finds an endpoint of a channel by id or name.
    pub fn endpoint(
        &self,
        channel: &str,
        key: &str,
    ) -> Result<(&ChannelConfig, &EndpointConfig), ControlError> {
        let ci = self.channel_index(channel)?;
        let ei = self.endpoint_index(ci, key)?;
        Ok((&self.channels[ci], &self.channels[ci].endpoints[ei]))
    }

    /// Creates an endpoint on a channel.
    pub fn create_endpoint(
        &mut self,
        channel: &str,
        req: &EndpointCreate,
        new_id: &mut dyn FnMut() -> Id,
    ) -> Result<(&ChannelConfig, &EndpointConfig), ControlError> {
        let ci = self.channel_index(channel)?;
        validate_name("endpoint name", &req.name)?;
        let c = &self.channels[ci];
        let kind = req
            .kind
            .unwrap_or_else(|| c.protocol.default_endpoint_type());
        validate_endpoint_type(c.protocol, kind)?;
        let manifest_name = req
            .manifest_name
            .clone()
            .unwrap_or_else(|| DEFAULT_MANIFEST_NAME.into());
        validate_manifest_name(&manifest_name)?;
        if c.endpoints.iter().any(|e| e.name == req.name) {
            return Err(ControlError::Conflict(format!(
                "channel {:?} already has an endpoint named {:?}",
                c.name, req.name
            )));
        }
        if c.endpoints.len() >= self.limits.max_endpoints_per_channel {
            return Err(ControlError::Limit(format!(
                "at most {} endpoints per channel (limits.max_endpoints_per_channel)",
                self.limits.max_endpoints_per_channel
            )));
        }
        let allow = parse_cidrs("--allow", &req.allow)?;
        let block = parse_cidrs("--block", &req.block)?;
        let auth_keys = check_auth_keys(&req.auth_keys)?;
        let id = self.fresh_id(new_id, &[]);
        self.channels[ci].endpoints.push(EndpointConfig {
            id,
            name: req.name.clone(),
            kind,
            manifest_name,
            allow,
            block,
            auth_keys,
        });
        let c = &self.channels[ci];
        Ok((c, &c.endpoints[c.endpoints.len() - 1]))
    }

    /// Edits an endpoint (name, manifest name; the type is fixed).
    pub fn edit_endpoint(
        &mut self,
        channel: &str,
        key: &str,
        patch: &EndpointPatch,
    ) -> Result<(&ChannelConfig, &EndpointConfig), ControlError> {
        let ci = self.channel_index(channel)?;
        let ei = self.endpoint_index(ci, key)?;
        let mut next = self.channels[ci].endpoints[ei].clone();
        if let Some(name) = &patch.name {
            validate_name("endpoint name", name)?;
            if self.channels[ci]
                .endpoints
                .iter()
                .any(|e| e.id != next.id && &e.name == name)
            {
                return Err(ControlError::Conflict(format!(
                    "channel {:?} already has an endpoint named {name:?}",
                    self.channels[ci].name
                )));
            }
            next.name = name.clone();
        }
        if let Some(m) = &patch.manifest_name {
            validate_manifest_name(m)?;
            next.manifest_name = m.clone();
        }
        if let Some(a) = &patch.allow {
            next.allow = parse_cidrs("--allow", a)?;
        }
        if let Some(b) = &patch.block {
            next.block = parse_cidrs("--block", b)?;
        }
        if let Some(k) = &patch.auth_keys {
            next.auth_keys = check_auth_keys(k)?;
        }
        self.channels[ci].endpoints[ei] = next;
        let c = &self.channels[ci];
        Ok((c, &c.endpoints[ei]))
    }

    /// Deletes an endpoint.
    pub fn delete_endpoint(
        &mut self,
        channel: &str,
        key: &str,
    ) -> Result<EndpointConfig, ControlError> {
        let ci = self.channel_index(channel)?;
        let ei = self.endpoint_index(ci, key)?;
        Ok(self.channels[ci].endpoints.remove(ei))
    }
}

/// Parses a list of CIDRs; the error names the flag and the value.
fn parse_cidrs(flag: &str, list: &[String]) -> Result<Vec<ipnet::IpNet>, ControlError> {
    let mut out: Vec<ipnet::IpNet> = Vec::with_capacity(list.len());
    for s in list {
        let net = parse_cidr(s).map_err(|e| ControlError::Invalid(format!("{flag}: {}", e.0)))?;
        if !out.contains(&net) {
            out.push(net);
        }
    }
    Ok(out)
}

fn check_auth_keys(keys: &[String]) -> Result<Vec<String>, ControlError> {
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for k in keys {
        validate_auth_key(k).map_err(|e| ControlError::Invalid(format!("--auth-key: {}", e.0)))?;
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    Ok(out)
}

impl ControlState {
    fn input_slot(&self, ci: usize, key: &str) -> Result<usize, ControlError> {
        let c = &self.channels[ci];
        let slot = match key {
            "1" | "primary" => Some(0),
            "2" | "backup" => Some(1),
            _ => Id::parse(key).and_then(|id| c.inputs.iter().position(|i| i.id == id)),
        };
        slot.ok_or_else(|| {
            ControlError::NotFound(format!(
                "channel {:?} has no input {key:?} (use 1, 2, primary, backup or the input id)",
                c.name
            ))
        })
    }

    /// Enables, disables or rotates an input's ingest credentials. `random` draws the bytes new
    /// credentials are made from; `now_unix_ms` starts a rotation's grace window.
    pub fn input_auth(
        &mut self,
        channel: &str,
        input: &str,
        action: InputAuthAction,
        now_unix_ms: u64,
        random: &mut dyn FnMut() -> [u8; RANDOM_BYTES],
    ) -> Result<&ChannelConfig, ControlError> {
        let ci = self.channel_index(channel)?;
        let slot = self.input_slot(ci, input)?;
        let c = &mut self.channels[ci];
        let inp = &mut c.inputs[slot];
        match action {
            InputAuthAction::Enable => {
                if inp.auth.is_none() {
                    inp.auth = Some(InputAuth::generate(random()));
                }
            }
            InputAuthAction::Disable => inp.auth = None,
            InputAuthAction::Rotate { grace_secs } => {
                if grace_secs > MAX_ROTATION_GRACE_SECS {
                    return Err(ControlError::Invalid(format!(
                        "--grace must be at most {MAX_ROTATION_GRACE_SECS} seconds, got {grace_secs}"
                    )));
                }
                let Some(cur) = &inp.auth else {
                    return Err(ControlError::Invalid(format!(
                        "authentication is not enabled on the {} input of channel {:?}: run `input auth enable` first",
                        inp.role, c.name
                    )));
                };
                inp.auth = Some(cur.rotate(random(), now_unix_ms, grace_secs));
            }
        }
        Ok(&self.channels[ci])
    }
}

impl ControlState {
    /// Binds a CDN playback domain to a channel; a domain belongs to one channel at most.
    /// Binding a domain the channel already has changes nothing.
    pub fn cdn_bind(
        &mut self,
        channel: &str,
        domain: &str,
    ) -> Result<&ChannelConfig, ControlError> {
        let ci = self.channel_index(channel)?;
        let d = normalize_domain(domain)?;
        if let Some(other) = self
            .channels
            .iter()
            .find(|c| c.id != self.channels[ci].id && c.cdn_domains.contains(&d))
        {
            return Err(ControlError::Conflict(format!(
                "{d} is already bound to channel {:?} ({}); unbind it there first",
                other.name, other.id
            )));
        }
        let c = &mut self.channels[ci];
        if !c.cdn_domains.contains(&d) {
            if c.cdn_domains.len() >= MAX_CDN_DOMAINS_PER_CHANNEL {
                return Err(ControlError::Limit(format!(
                    "at most {MAX_CDN_DOMAINS_PER_CHANNEL} CDN domains per channel"
                )));
            }
            c.cdn_domains.push(d);
        }
        Ok(&self.channels[ci])
    }

    /// Unbinds a CDN playback domain from a channel.
    pub fn cdn_unbind(
        &mut self,
        channel: &str,
        domain: &str,
    ) -> Result<&ChannelConfig, ControlError> {
        let ci = self.channel_index(channel)?;
        let d = normalize_domain(domain)?;
        let c = &mut self.channels[ci];
        let Some(i) = c.cdn_domains.iter().position(|x| *x == d) else {
            return Err(ControlError::NotFound(format!(
                "{d} is not bound to channel {:?}",
                c.name
            )));
        };
        c.cdn_domains.remove(i);
        Ok(&self.channels[ci])
    }
}

/// Most CDN domains one channel holds.
pub const MAX_CDN_DOMAINS_PER_CHANNEL: usize = 16;

/// Longest grace window of a rotation, seconds (one week).
pub const MAX_ROTATION_GRACE_SECS: u32 = 7 * 24 * 3600;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{EndpointType, Protocol};

    fn ids() -> impl FnMut() -> Id {
        let mut n = 0u8;
        move || {
            n += 1;
            Id::from_random([n; 14])
        }
    }

    fn create(
        st: &mut ControlState,
        name: &str,
        gen: &mut dyn FnMut() -> Id,
    ) -> Result<Id, ControlError> {
        let req = ChannelCreate {
            name: name.into(),
            protocol: Protocol::Hls,
            ..Default::default()
        };
        st.create_channel(&req, gen).map(|c| c.id)
    }

    #[test]
    fn configured_limits_are_enforced_and_not_persisted() {
        let mut st = ControlState::new();
        st.limits = StateLimits {
            max_channels: 2,
            max_endpoints_per_channel: 1,
        };
        let mut gen = ids();
        let a = create(&mut st, "a", &mut gen).unwrap();
        create(&mut st, "b", &mut gen).unwrap();
        let e = create(&mut st, "c", &mut gen).unwrap_err();
        assert!(
            matches!(&e, ControlError::Limit(m) if m.contains("at most 2 channels")),
            "{e:?}"
        );
        let ep = EndpointCreate {
            name: "x".into(),
            ..Default::default()
        };
        st.create_endpoint(&a.to_string(), &ep, &mut gen).unwrap();
        let ep2 = EndpointCreate {
            name: "y".into(),
            ..Default::default()
        };
        let e = st
            .create_endpoint(&a.to_string(), &ep2, &mut gen)
            .unwrap_err();
        assert!(matches!(e, ControlError::Limit(_)), "{e:?}");
        let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
        assert_eq!(
            back.limits,
            StateLimits::default(),
            "limits come from the config"
        );
        assert_eq!(back.channels, st.channels);
    }

    #[test]
    fn create_applies_defaults_and_generates_two_inputs() {
        let mut st = ControlState::new();
        let mut gen = ids();
        let id = create(&mut st, "news", &mut gen).unwrap();
        let c = st.channel("news").unwrap();
        assert_eq!(c.id, id);
        assert_eq!((c.max_segment_duration, c.max_playlist_duration), (15, 600));
        assert_eq!(c.inputs[0].role, InputRole::Primary);
        assert_eq!(c.inputs[1].role, InputRole::Backup);
        assert_ne!(c.inputs[0].id, c.inputs[1].id);
        assert_eq!(st.channel(id.as_str()).unwrap().name, "news");
    }

    #[test]
    fn names_are_unique() {
        let mut st = ControlState::new();
        let mut gen = ids();
        create(&mut st, "a", &mut gen).unwrap();
        let e = create(&mut st, "a", &mut gen).unwrap_err();
        assert!(matches!(e, ControlError::Conflict(_)), "{e}");
        create(&mut st, "b", &mut gen).unwrap();
        let e = st
            .edit_channel(
                "b",
                &ChannelPatch {
                    name: Some("a".into()),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(matches!(e, ControlError::Conflict(_)));
    }

    #[test]
    fn fresh_ids_skip_taken_ones() {
        let mut st = ControlState::new();
        let mut seq = [1u8, 1, 1, 2, 2, 3, 1, 2, 3, 4].into_iter();
        let mut gen = move || Id::from_random([seq.next().unwrap_or(99); 14]);
        create(&mut st, "a", &mut gen).unwrap();
        let c = st.channel("a").unwrap();
        assert_eq!(
            [c.id, c.inputs[0].id, c.inputs[1].id],
            [1, 2, 3].map(|n| Id::from_random([n; 14]))
        );
        let req = EndpointCreate {
            name: "e".into(),
            ..Default::default()
        };
        let (_, ep) = st.create_endpoint("a", &req, &mut gen).unwrap();
        assert_eq!(ep.id, Id::from_random([4; 14]));
    }

    #[test]
    fn edit_validates_the_combination() {
        let mut st = ControlState::new();
        let mut gen = ids();
        create(&mut st, "a", &mut gen).unwrap();
        let e = st
            .edit_channel(
                "a",
                &ChannelPatch {
                    max_segment_duration: Some(30),
                    max_playlist_duration: Some(60),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(matches!(e, ControlError::Invalid(_)), "{e}");
        assert_eq!(
            st.channel("a").unwrap().max_segment_duration,
            15,
            "refused edit left state alone"
        );
        st.edit_channel(
            "a",
            &ChannelPatch {
                max_playlist_duration: Some(60),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(st.channel("a").unwrap().max_playlist_duration, 60);
    }

    #[test]
    fn channel_with_endpoints_cannot_be_deleted_and_error_names_them() {
        let mut st = ControlState::new();
        let mut gen = ids();
        create(&mut st, "a", &mut gen).unwrap();
        let req = EndpointCreate {
            name: "web".into(),
            ..Default::default()
        };
        let (_, ep) = st.create_endpoint("a", &req, &mut gen).unwrap();
        assert_eq!(ep.kind, EndpointType::Hls);
        assert_eq!(ep.manifest_name, "main");
        let e = st.delete_channel("a").unwrap_err();
        assert!(matches!(e, ControlError::Conflict(_)));
        let msg = e.to_string();
        assert!(msg.contains("still has an endpoint: web ("), "{msg}");
        assert!(msg.ends_with("; delete it first"), "{msg}");
        let req2 = EndpointCreate {
            name: "cdn".into(),
            ..Default::default()
        };
        st.create_endpoint("a", &req2, &mut gen).unwrap();
        let msg = st.delete_channel("a").unwrap_err().to_string();
        assert!(msg.contains("still has 2 endpoints: web ("), "{msg}");
        assert!(msg.ends_with("; delete them first"), "{msg}");
        st.delete_endpoint("a", "cdn").unwrap();
        st.delete_endpoint("a", "web").unwrap();
        st.delete_channel("a").unwrap();
        assert!(matches!(st.channel("a"), Err(ControlError::NotFound(_))));
    }

    #[test]
    fn endpoint_rules() {
        let mut st = ControlState::new();
        let mut gen = ids();
        create(&mut st, "a", &mut gen).unwrap();
        let req = EndpointCreate {
            name: "web".into(),
            ..Default::default()
        };
        st.create_endpoint("a", &req, &mut gen).unwrap();
        assert!(matches!(
            st.create_endpoint("a", &req, &mut gen),
            Err(ControlError::Conflict(_))
        ));
        let dash = EndpointCreate {
            name: "d".into(),
            kind: Some(EndpointType::Dash),
            ..Default::default()
        };
        assert!(matches!(
            st.create_endpoint("a", &dash, &mut gen),
            Err(ControlError::Invalid(_))
        ));
        let bad = EndpointCreate {
            name: "x".into(),
            manifest_name: Some("a.b".into()),
            ..Default::default()
        };
        assert!(matches!(
            st.create_endpoint("a", &bad, &mut gen),
            Err(ControlError::Invalid(_))
        ));
        let (_, ep) = st
            .edit_endpoint(
                "a",
                "web",
                &EndpointPatch {
                    manifest_name: Some("index".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(ep.manifest_file(), "index.m3u8");
        assert!(matches!(
            st.endpoint("a", "nope"),
            Err(ControlError::NotFound(_))
        ));
    }

    #[test]
    fn json_round_trip_and_corruption_is_an_error() {
        let mut st = ControlState::new();
        let mut gen = ids();
        create(&mut st, "a", &mut gen).unwrap();
        st.create_endpoint(
            "a",
            &EndpointCreate {
                name: "web".into(),
                ..Default::default()
            },
            &mut gen,
        )
        .unwrap();
        let bytes = st.to_json().unwrap();
        assert_eq!(ControlState::from_json(&bytes).unwrap(), st);
        assert!(matches!(
            ControlState::from_json(&bytes[..bytes.len() / 2]),
            Err(LoadError::Corrupt(_))
        ));
        assert!(matches!(
            ControlState::from_json(b"{\"format\":99,\"channels\":[]}"),
            Err(LoadError::Format(99))
        ));
        let mut dup = st.clone();
        dup.channels.push(st.channels[0].clone());
        assert!(matches!(
            ControlState::from_json(&dup.to_json().unwrap()),
            Err(LoadError::Inconsistent(_))
        ));
    }

    #[test]
    fn input_auth_enable_rotate_disable_persist() {
        let mut st = ControlState::new();
        let mut gen = ids();
        create(&mut st, "a", &mut gen).unwrap();
        let mut n = 0u8;
        let mut rnd = || {
            n += 1;
            [n; RANDOM_BYTES]
        };
        let e = st
            .input_auth(
                "a",
                "1",
                InputAuthAction::Rotate { grace_secs: 0 },
                0,
                &mut rnd,
            )
            .unwrap_err();
        assert!(e.to_string().contains("input auth enable"), "{e}");
        let c = st
            .input_auth("a", "primary", InputAuthAction::Enable, 0, &mut rnd)
            .unwrap();
        let first = c.inputs[0].auth.clone().unwrap();
        assert!(c.inputs[1].auth.is_none());
        // Enabling again keeps what encoders were given.
        let c = st
            .input_auth("a", "1", InputAuthAction::Enable, 0, &mut rnd)
            .unwrap();
        assert_eq!(c.inputs[0].auth.as_ref(), Some(&first));
        let c = st
            .input_auth(
                "a",
                "1",
                InputAuthAction::Rotate { grace_secs: 30 },
                5_000,
                &mut rnd,
            )
            .unwrap();
        let second = c.inputs[0].auth.clone().unwrap();
        assert_ne!(second.password, first.password);
        assert_eq!(
            second.previous.as_ref().unwrap().valid_until_unix_ms,
            35_000
        );
        let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
        assert_eq!(back.channels[0].inputs[0].auth.as_ref(), Some(&second));
        let backup_id = st.channels[0].inputs[1].id.to_string();
        st.input_auth("a", &backup_id, InputAuthAction::Enable, 0, &mut rnd)
            .unwrap();
        assert!(st.channels[0].inputs[1].auth.is_some());
        st.input_auth("a", "1", InputAuthAction::Disable, 0, &mut rnd)
            .unwrap();
        assert!(st.channels[0].inputs[0].auth.is_none());
        let e = st
            .input_auth("a", "3", InputAuthAction::Enable, 0, &mut rnd)
            .unwrap_err();
        assert!(matches!(e, ControlError::NotFound(_)), "{e:?}");
        let e = st
            .input_auth(
                "a",
                "1",
                InputAuthAction::Rotate {
                    grace_secs: u32::MAX,
                },
                0,
                &mut rnd,
            )
            .unwrap_err();
        assert!(matches!(e, ControlError::Invalid(_)), "{e:?}");
    }

    #[test]
    fn endpoint_access_lists_are_validated_and_replaced_on_edit() {
        let mut st = ControlState::new();
        let mut gen = ids();
        create(&mut st, "a", &mut gen).unwrap();
        let bad = EndpointCreate {
            name: "web".into(),
            allow: vec!["10.0.0.0/8".into(), "10.0.0.0/40".into()],
            ..Default::default()
        };
        let e = st.create_endpoint("a", &bad, &mut gen).unwrap_err();
        assert!(
            e.to_string().contains("--allow") && e.to_string().contains("10.0.0.0/40"),
            "{e}"
        );
        let req = EndpointCreate {
            name: "web".into(),
            allow: vec!["127.0.0.1".into(), "::1".into()],
            block: vec!["192.0.2.0/24".into()],
            auth_keys: vec!["key-one-1".into(), "key-two-2".into()],
            ..Default::default()
        };
        let (_, e) = st.create_endpoint("a", &req, &mut gen).unwrap();
        assert_eq!(e.allow.len(), 2);
        assert_eq!(e.auth_keys.len(), 2);
        let patch = EndpointPatch {
            allow: Some(vec![]),
            auth_keys: Some(vec!["key-three".into()]),
            ..Default::default()
        };
        let (_, e) = st.edit_endpoint("a", "web", &patch).unwrap();
        assert!(e.allow.is_empty());
        assert_eq!(e.block.len(), 1, "untouched");
        assert_eq!(e.auth_keys, vec!["key-three".to_string()]);
        let patch = EndpointPatch {
            auth_keys: Some(vec!["short".into()]),
            ..Default::default()
        };
        let e = st.edit_endpoint("a", "web", &patch).unwrap_err();
        assert!(e.to_string().contains("--auth-key"), "{e}");
        let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
        assert_eq!(back.channels, st.channels);
    }

    #[test]
    fn cdn_domains_belong_to_one_channel() {
        let mut st = ControlState::new();
        let mut gen = ids();
        create(&mut st, "a", &mut gen).unwrap();
        create(&mut st, "b", &mut gen).unwrap();
        let c = st.cdn_bind("a", "Live.Example.com.").unwrap();
        assert_eq!(c.cdn_domains, vec!["live.example.com".to_string()]);
        st.cdn_bind("a", "live.example.com").unwrap();
        assert_eq!(st.channels[0].cdn_domains.len(), 1, "idempotent");
        let e = st.cdn_bind("b", "live.example.com").unwrap_err();
        assert!(
            matches!(&e, ControlError::Conflict(m) if m.contains("channel \"a\"")),
            "{e:?}"
        );
        let e = st.cdn_bind("b", "http://x.example/").unwrap_err();
        assert!(matches!(e, ControlError::Invalid(_)), "{e:?}");
        let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
        assert_eq!(back.channels, st.channels);
        let mut dup = st.clone();
        dup.channels[1].cdn_domains.push("live.example.com".into());
        assert!(matches!(
            ControlState::from_json(&dup.to_json().unwrap()),
            Err(LoadError::Inconsistent(_))
        ));
        st.cdn_unbind("a", "live.example.com").unwrap();
        assert!(matches!(
            st.cdn_unbind("a", "live.example.com"),
            Err(ControlError::NotFound(_))
        ));
        st.cdn_bind("b", "live.example.com").unwrap();
    }

    #[test]
    fn ttls_are_validated() {
        let mut st = ControlState::new();
        let mut gen = ids();
        let req = ChannelCreate {
            name: "t".into(),
            manifest_ttl: Some(61),
            ..Default::default()
        };
        let e = st.create_channel(&req, &mut gen).unwrap_err();
        assert!(e.to_string().contains("1-60"), "{e}");
        let req = ChannelCreate {
            name: "t".into(),
            manifest_ttl: Some(2),
            segment_ttl: Some(1800),
            ..Default::default()
        };
        st.create_channel(&req, &mut gen).unwrap();
        let patch = ChannelPatch {
            segment_ttl: Some(9),
            ..Default::default()
        };
        let e = st.edit_channel("t", &patch).unwrap_err();
        assert!(e.to_string().contains("10-1800"), "{e}");
        let patch = ChannelPatch {
            segment_ttl: Some(30),
            ..Default::default()
        };
        let c = st.edit_channel("t", &patch).unwrap();
        assert_eq!((c.manifest_ttl, c.segment_ttl), (Some(2), Some(30)));
    }
}
