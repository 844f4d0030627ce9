//! What an operator asks the control plane for: the commands' fields, carried by the admin
//! protocol ([`crate::admin::proto`]) and applied by [`super::ControlState`].
//!
//! The web console's JSON API reads them too: unknown fields are refused (a typo is an
//! error, not a silent no-op) and an endpoint's lists and flags may be left out.

use crate::channel::config::{AdMarkerStyle, Encryption, EndpointType, Protocol};
use serde::{Deserialize, Serialize};

/// What `input auth` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputAuthAction {
    /// Generate credentials (keeps existing ones if already enabled).
    Enable,
    /// Remove the check.
    Disable,
    /// Replace the credentials; the old ones stay valid for `grace_secs` (0: fail at once).
    Rotate {
        /// Seconds the old credentials stay valid.
        grace_secs: u32,
    },
}

/// Fields of a new channel; `None` takes the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelCreate {
    /// 1–32 `[A-Za-z0-9_-]`, unique.
    pub name: String,
    /// `hls` or `dash`.
    pub protocol: Protocol,
    /// Seconds, default 15.
    pub max_segment_duration: Option<u32>,
    /// Seconds, default 600.
    pub max_playlist_duration: Option<u32>,
    /// Free text.
    pub description: Option<String>,
    /// Playlist TTL, seconds (1-60); default: the daemon's.
    pub manifest_ttl: Option<u32>,
    /// Segment TTL, seconds (10-1800); default: the daemon's.
    pub segment_ttl: Option<u32>,
    /// End the presentation when the encoder ends its stream; default no.
    pub end_on_endlist: Option<bool>,
    /// Time-shift window, seconds (0-1209600, 0: off); default off.
    pub timeshift_window_secs: Option<u64>,
}

impl Default for ChannelCreate {
    fn default() -> Self {
        ChannelCreate {
            name: String::new(),
            protocol: Protocol::Hls,
            max_segment_duration: None,
            max_playlist_duration: None,
            description: None,
            manifest_ttl: None,
            segment_ttl: None,
            end_on_endlist: None,
            timeshift_window_secs: None,
        }
    }
}

/// Channel fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    /// New name.
    pub name: Option<String>,
    /// New max segment duration, seconds.
    pub max_segment_duration: Option<u32>,
    /// New window, seconds.
    pub max_playlist_duration: Option<u32>,
    /// New description.
    pub description: Option<String>,
    /// New playlist TTL, seconds.
    pub manifest_ttl: Option<u32>,
    /// New segment TTL, seconds.
    pub segment_ttl: Option<u32>,
    /// Whether the encoder's end of stream ends the presentation.
    pub end_on_endlist: Option<bool>,
    /// New time-shift window, seconds (0: off).
    pub timeshift_window_secs: Option<u64>,
}

/// Fields of a new endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointCreate {
    /// 1–32 `[A-Za-z0-9_-]`, unique in the channel.
    pub name: String,
    /// Default: the channel protocol's own type.
    #[serde(rename = "type")]
    pub kind: Option<EndpointType>,
    /// Default `main`.
    pub manifest_name: Option<String>,
    /// Allowlist CIDRs (empty: everyone).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Blocklist CIDRs.
    #[serde(default)]
    pub block: Vec<String>,
    /// AuthKeys (empty: none required).
    #[serde(default)]
    pub auth_keys: Vec<String>,
    /// Low latency (LL-DASH on DASH endpoints).
    #[serde(default)]
    pub low_latency: bool,
    /// How its media is encrypted (default: clear).
    #[serde(default)]
    pub encryption: Encryption,
    /// Seconds between content keys; 0: one key.
    #[serde(default)]
    pub key_rotation_secs: u32,
    /// A SPEKE v2 key server's URL (default: keys made and kept by the daemon).
    #[serde(default)]
    pub key_server: Option<String>,
    /// How its manifests signal ad markers (default: `daterange`).
    #[serde(default)]
    pub ad_markers: AdMarkerStyle,
    /// `cmaf` endpoints: SCTE-35 in-band too (`emsg` in the segments).
    #[serde(default)]
    pub inband_markers: bool,
}

/// Endpoint fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    /// New name.
    pub name: Option<String>,
    /// New manifest name.
    pub manifest_name: Option<String>,
    /// Replaces the allowlist (`Some(vec![])` clears it).
    pub allow: Option<Vec<String>>,
    /// Replaces the blocklist.
    pub block: Option<Vec<String>>,
    /// Replaces the AuthKeys.
    pub auth_keys: Option<Vec<String>>,
    /// Turns low latency on or off.
    pub low_latency: Option<bool>,
    /// Changes the encryption (new keys from the next segment on).
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// Changes the key rotation period (0: one key).
    #[serde(default)]
    pub key_rotation_secs: Option<u32>,
    /// Changes where keys come from: a SPEKE v2 key server's URL, or `""` for the daemon's
    /// own keys.
    #[serde(default)]
    pub key_server: Option<String>,
    /// Changes how its manifests signal ad markers.
    #[serde(default)]
    pub ad_markers: Option<AdMarkerStyle>,
    /// Turns in-band SCTE-35 (`emsg` in the segments) on or off.
    #[serde(default)]
    pub inband_markers: Option<bool>,
}
