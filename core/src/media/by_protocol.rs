//! The one place the media core names the protocols: a channel's media by its input protocol
//! (fixed when the channel is created).

use super::{Media, MediaParams};
use crate::channel::config::Protocol;
use crate::dash::media::DashMedia;
use crate::hls::media::HlsMedia;
use crate::time::Now;

/// Empty media for a channel of `protocol` created (or restored) at `now`.
pub fn for_channel(protocol: Protocol, params: MediaParams, now: Now) -> Box<dyn Media> {
    match protocol {
        Protocol::Hls => Box::new(HlsMedia::new(params, now)),
        Protocol::Dash => Box::new(DashMedia::new(params, now)),
    }
}
