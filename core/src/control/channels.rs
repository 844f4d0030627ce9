//! Channel rules: creation with two fresh inputs, edits, the endpoints-first delete rule.

use super::commands::{ChannelCreate, ChannelPatch};
use super::{ControlError, ControlState};
use crate::channel::config::{
    validate_description, validate_durations, validate_name, validate_timeshift_window,
    validate_ttls, ChannelConfig, InputConfig, InputRole, DEFAULT_MAX_PLAYLIST_DURATION,
    DEFAULT_MAX_SEGMENT_DURATION,
};
use crate::id::Id;

impl ControlState {
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
        let timeshift_window_secs = req.timeshift_window_secs.unwrap_or(0);
        validate_timeshift_window(timeshift_window_secs)?;
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
            end_on_endlist: req.end_on_endlist.unwrap_or(false),
            timeshift_window_secs,
        };
        self.channels.push(cfg);
        Ok(&self.channels[self.channels.len() - 1])
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
        if let Some(e) = patch.end_on_endlist {
            next.end_on_endlist = e;
        }
        if let Some(t) = patch.timeshift_window_secs {
            validate_timeshift_window(t)?;
            next.timeshift_window_secs = t;
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
}
