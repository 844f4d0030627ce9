//! CDN playback domains: each bound to one channel at most.

use super::{ControlError, ControlState};
use crate::access::cdn::normalize_domain;
use crate::channel::config::ChannelConfig;

/// Most CDN domains one channel holds.
pub const MAX_CDN_DOMAINS_PER_CHANNEL: usize = 16;

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
