//! The product model as the operator configures it: channels, their two inputs, endpoints.
//! Everything here is persisted in the state directory and validated before it is accepted.

pub use super::encryption::{Encryption, MAX_KEY_ROTATION_SECS};
use crate::access::InputAuth;
use crate::id::Id;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Default `max_segment_duration`, seconds (the seed service's default).
pub const DEFAULT_MAX_SEGMENT_DURATION: u32 = 15;
/// Default `max_playlist_duration`, seconds (the seed service's default).
pub const DEFAULT_MAX_PLAYLIST_DURATION: u32 = 600;
/// Accepted range of `max_segment_duration`, seconds.
pub const SEGMENT_DURATION_RANGE: (u32, u32) = (1, 60);
/// Accepted range of `max_playlist_duration`, seconds (24 hours at most: media is held in memory).
pub const PLAYLIST_DURATION_RANGE: (u32, u32) = (6, 86_400);
/// A live playlist must span at least this many target durations (RFC 8216 §6.2.2).
pub const MIN_SEGMENTS_PER_WINDOW: u32 = 3;
/// Longest description, characters.
pub const MAX_DESCRIPTION_LEN: usize = 256;
/// Default manifest name of an endpoint (`main.m3u8`, `main.mpd`).
pub const DEFAULT_MANIFEST_NAME: &str = "main";

/// What a channel ingests (fixed at creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HLS pushed as TS or fMP4 segments plus playlists.
    Hls,
    /// DASH pushed as an MPD plus init and media segments.
    Dash,
}

impl Protocol {
    /// Lowercase name as used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Hls => "hls",
            Protocol::Dash => "dash",
        }
    }

    /// Parses `hls` or `dash`.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "hls" => Some(Protocol::Hls),
            "dash" => Some(Protocol::Dash),
            _ => None,
        }
    }

    /// The endpoint type a channel of this protocol gets when none is asked for.
    pub fn default_endpoint_type(self) -> EndpointType {
        match self {
            Protocol::Hls => EndpointType::Hls,
            Protocol::Dash => EndpointType::Dash,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointType {
    /// HLS playlists and the pushed segments.
    Hls,
    /// A DASH MPD and the pushed segments.
    Dash,
    /// An HLS/TS input repackaged into CMAF (fMP4), as DASH and fMP4 HLS.
    Cmaf,
}

impl EndpointType {
    /// Every endpoint type, in [`EndpointType::index`] order.
    pub const ALL: [EndpointType; 3] = [EndpointType::Hls, EndpointType::Dash, EndpointType::Cmaf];

    /// 0, 1, 2 in [`EndpointType::ALL`] order (array slots per type).
    pub fn index(self) -> usize {
        match self {
            EndpointType::Hls => 0,
            EndpointType::Dash => 1,
            EndpointType::Cmaf => 2,
        }
    }

    /// Lowercase name as used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointType::Hls => "hls",
            EndpointType::Dash => "dash",
            EndpointType::Cmaf => "cmaf",
        }
    }

    /// Parses `hls`, `dash` or `cmaf`.
    pub fn parse(s: &str) -> Option<EndpointType> {
        match s {
            "hls" => Some(EndpointType::Hls),
            "dash" => Some(EndpointType::Dash),
            "cmaf" => Some(EndpointType::Cmaf),
            _ => None,
        }
    }

    /// File extension of this endpoint's manifest.
    pub fn manifest_extension(self) -> &'static str {
        match self {
            EndpointType::Hls => "m3u8",
            EndpointType::Dash | EndpointType::Cmaf => "mpd",
        }
    }
}

impl fmt::Display for EndpointType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of the channel's two inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputRole {
    /// The first input.
    Primary,
    /// The second input.
    Backup,
}

impl InputRole {
    /// Both roles, in slot order.
    pub const ALL: [InputRole; 2] = [InputRole::Primary, InputRole::Backup];

    /// Slot index (0 primary, 1 backup).
    pub fn index(self) -> usize {
        match self {
            InputRole::Primary => 0,
            InputRole::Backup => 1,
        }
    }

    /// The other input.
    pub fn other(self) -> InputRole {
        match self {
            InputRole::Primary => InputRole::Backup,
            InputRole::Backup => InputRole::Primary,
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            InputRole::Primary => "primary",
            InputRole::Backup => "backup",
        }
    }
}

impl fmt::Display for InputRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of a channel's inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputConfig {
    /// Id that appears in the input URL.
    pub id: Id,
    /// Primary or backup.
    pub role: InputRole,
    /// Ingest credentials; `None`: anyone who knows the URL may push.
    #[serde(default)]
    pub auth: Option<InputAuth>,
}

/// An endpoint players pull from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointConfig {
    /// Id that appears in the endpoint URL.
    pub id: Id,
    /// Unique within its channel.
    pub name: String,
    /// What it serves.
    #[serde(rename = "type")]
    pub kind: EndpointType,
    /// Manifest file stem (`main` → `main.m3u8`).
    pub manifest_name: String,
    /// Client networks admitted; empty: everyone (unless blocked).
    #[serde(default)]
    pub allow: Vec<IpNet>,
    /// Client networks refused; wins over `allow`.
    #[serde(default)]
    pub block: Vec<IpNet>,
    /// AuthKeys, any one of which a request must carry; empty: none needed.
    #[serde(default)]
    pub auth_keys: Vec<String>,
    /// Low latency (DASH endpoints: LL-DASH): segments announced before they are whole and
    /// served as their chunks arrive.
    #[serde(default)]
    pub low_latency: bool,
    /// How its media is encrypted (`none`, the default, and what state files written before
    /// the setting load with: clear).
    #[serde(default)]
    pub encryption: Encryption,
    /// A new content key every this many seconds, on a segment boundary; 0: one key for the
    /// endpoint's life.
    #[serde(default)]
    pub key_rotation_secs: u32,
    /// Where its keys come from: a SPEKE v2 key server's URL, or `None`: the built-in key
    /// store.
    #[serde(default)]
    pub key_server: Option<String>,
    /// How its manifests signal ad markers (`daterange`, the default, and what state files
    /// written before the setting load with).
    #[serde(default)]
    pub ad_markers: AdMarkerStyle,
    /// `cmaf` endpoints: SCTE-35 also in-band, an `emsg` in the video segment that holds each
    /// splice point (and `InbandEventStream` in the MPD).
    #[serde(default)]
    pub inband_markers: bool,
}

/// How an endpoint signals ad markers (SCTE-35) in its manifests; DASH and CMAF MPDs carry
/// an `EventStream` in every style but `none`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AdMarkerStyle {
    /// None written.
    #[serde(rename = "none")]
    None,
    /// HLS `EXT-X-DATERANGE` with `SCTE35-OUT`/`-IN` (RFC 8216bis).
    #[default]
    #[serde(rename = "daterange")]
    DateRange,
    /// HLS `EXT-X-CUE-OUT` / `-CUE-OUT-CONT` / `-CUE-IN` (what some ad servers want).
    #[serde(rename = "cue")]
    Cue,
    /// HLS: the encoder's own tags as they came (others as `daterange`).
    #[serde(rename = "passthrough")]
    Passthrough,
}

impl AdMarkerStyle {
    /// Every style, as the CLI offers them.
    pub const ALL: [AdMarkerStyle; 4] = [
        AdMarkerStyle::None,
        AdMarkerStyle::DateRange,
        AdMarkerStyle::Cue,
        AdMarkerStyle::Passthrough,
    ];

    /// The name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AdMarkerStyle::None => "none",
            AdMarkerStyle::DateRange => "daterange",
            AdMarkerStyle::Cue => "cue",
            AdMarkerStyle::Passthrough => "passthrough",
        }
    }

    /// Parses a name of [`AdMarkerStyle::as_str`].
    pub fn parse(s: &str) -> Option<AdMarkerStyle> {
        AdMarkerStyle::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for AdMarkerStyle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EndpointConfig {
    /// The manifest file name this endpoint answers to (`main.m3u8`).
    pub fn manifest_file(&self) -> String {
        format!("{}.{}", self.manifest_name, self.kind.manifest_extension())
    }
}

/// A channel and everything configured on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// Generated id.
    pub id: Id,
    /// Unique name.
    pub name: String,
    /// Fixed at creation.
    pub protocol: Protocol,
    /// Longest segment accepted, seconds.
    pub max_segment_duration: u32,
    /// Length of the served window, seconds; older media is freed.
    pub max_playlist_duration: u32,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Primary then backup.
    pub inputs: [InputConfig; 2],
    /// In creation order.
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
    /// CDN playback domains bound to this channel (each bound to one channel at most).
    #[serde(default)]
    pub cdn_domains: Vec<String>,
    /// Playlist/manifest `Cache-Control: max-age`, seconds; `None`: the daemon's default.
    #[serde(default)]
    pub manifest_ttl: Option<u32>,
    /// Segment `Cache-Control: max-age`, seconds; `None`: the daemon's default.
    #[serde(default)]
    pub segment_ttl: Option<u32>,
    /// An encoder's end of stream (`EXT-X-ENDLIST`, a static MPD) ends the presentation on
    /// the endpoints. Off by default: a live channel stays live through an encoder restart.
    #[serde(default)]
    pub end_on_endlist: bool,
    /// How far back players may seek, seconds: media this old is kept on disk past the live
    /// window. 0 (the default, and what state files written before the setting load with):
    /// off, media is freed when it leaves the window.
    #[serde(default)]
    pub timeshift_window_secs: u64,
}

impl ChannelConfig {
    /// The input with this id.
    pub fn input(&self, id: &Id) -> Option<&InputConfig> {
        self.inputs.iter().find(|i| &i.id == id)
    }

    /// The endpoint with this id.
    pub fn endpoint(&self, id: &Id) -> Option<&EndpointConfig> {
        self.endpoints.iter().find(|e| &e.id == id)
    }

    /// Window length in milliseconds.
    pub fn window_ms(&self) -> u64 {
        u64::from(self.max_playlist_duration) * 1000
    }

    /// Longest accepted segment in milliseconds.
    pub fn max_segment_ms(&self) -> u64 {
        u64::from(self.max_segment_duration) * 1000
    }
}

/// Why a configuration value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Checks a channel or endpoint name: 1–32 characters of `[A-Za-z0-9_-]`.
pub fn validate_name(what: &str, name: &str) -> Result<(), Invalid> {
    validate_token(what, name, 32)
}

/// Checks a manifest name: 1–64 characters of `[A-Za-z0-9_-]` (it becomes a file name).
pub fn validate_manifest_name(name: &str) -> Result<(), Invalid> {
    validate_token("manifest name", name, 64)
}

fn validate_token(what: &str, s: &str, max: usize) -> Result<(), Invalid> {
    if s.is_empty() || s.len() > max {
        return Err(Invalid(format!(
            "{what} must be 1-{max} characters, got {}",
            s.chars().count()
        )));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(Invalid(format!(
            "{what} {s:?} contains {c:?}: only letters, digits, '_' and '-' are allowed"
        )));
    }
    Ok(())
}

/// Accepted playlist/manifest TTLs, seconds (the seed service's range).
pub const MANIFEST_TTL_RANGE: (u32, u32) = (1, 60);
/// Accepted segment TTLs, seconds (10 s to 30 min, the seed service's range).
pub const SEGMENT_TTL_RANGE: (u32, u32) = (10, 1800);

/// Checks per-channel cache TTLs.
pub fn validate_ttls(manifest: Option<u32>, segment: Option<u32>) -> Result<(), Invalid> {
    let (mlo, mhi) = MANIFEST_TTL_RANGE;
    if let Some(m) = manifest.filter(|m| !(mlo..=mhi).contains(m)) {
        return Err(Invalid(format!(
            "manifest TTL must be {mlo}-{mhi} seconds, got {m}"
        )));
    }
    let (slo, shi) = SEGMENT_TTL_RANGE;
    if let Some(s) = segment.filter(|s| !(slo..=shi).contains(s)) {
        return Err(Invalid(format!(
            "segment TTL must be {slo}-{shi} seconds, got {s}"
        )));
    }
    Ok(())
}

/// Longest time-shift window, seconds (14 days).
pub const MAX_TIMESHIFT_WINDOW_SECS: u64 = 14 * 24 * 3600;

/// Checks a time-shift window: 0 (off) up to [`MAX_TIMESHIFT_WINDOW_SECS`].
pub fn validate_timeshift_window(secs: u64) -> Result<(), Invalid> {
    if secs > MAX_TIMESHIFT_WINDOW_SECS {
        return Err(Invalid(format!(
            "timeshift window {secs} s is longer than 14 days ({MAX_TIMESHIFT_WINDOW_SECS} s)"
        )));
    }
    Ok(())
}

/// Longest AuthKey, characters.
pub const MAX_AUTH_KEY_LEN: usize = 256;

/// Checks an AuthKey: 8–256 visible ASCII characters (it travels in a header value).
pub fn validate_auth_key(k: &str) -> Result<(), Invalid> {
    if k.len() < 8 || k.len() > MAX_AUTH_KEY_LEN {
        return Err(Invalid(format!(
            "an auth key must be 8-{MAX_AUTH_KEY_LEN} characters, got {}",
            k.chars().count()
        )));
    }
    if let Some(c) = k.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(Invalid(format!(
            "auth key contains {c:?}: only visible ASCII characters (no spaces) are allowed"
        )));
    }
    Ok(())
}

/// Checks the two durations alone and together.
pub fn validate_durations(max_segment: u32, max_playlist: u32) -> Result<(), Invalid> {
    let (smin, smax) = SEGMENT_DURATION_RANGE;
    if !(smin..=smax).contains(&max_segment) {
        return Err(Invalid(format!(
            "max segment duration must be {smin}-{smax} seconds, got {max_segment}"
        )));
    }
    let (pmin, pmax) = PLAYLIST_DURATION_RANGE;
    if !(pmin..=pmax).contains(&max_playlist) {
        return Err(Invalid(format!(
            "max playlist duration must be {pmin}-{pmax} seconds, got {max_playlist}"
        )));
    }
    if max_playlist < MIN_SEGMENTS_PER_WINDOW * max_segment {
        return Err(Invalid(format!(
            "max playlist duration ({max_playlist} s) must be at least {MIN_SEGMENTS_PER_WINDOW} times \
             the max segment duration ({max_segment} s): a live playlist must hold {MIN_SEGMENTS_PER_WINDOW} segments"
        )));
    }
    Ok(())
}

/// Checks a description's length and characters.
pub fn validate_description(d: &str) -> Result<(), Invalid> {
    if d.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(Invalid(format!(
            "description must be at most {MAX_DESCRIPTION_LEN} characters"
        )));
    }
    if d.chars().any(|c| c.is_control()) {
        return Err(Invalid(
            "description must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// Checks that an endpoint type fits the channel's protocol.
pub fn validate_endpoint_type(protocol: Protocol, kind: EndpointType) -> Result<(), Invalid> {
    match (protocol, kind) {
        // cmaf: the fMP4 tracks served as a DASH MPD and fMP4 HLS (on an hls channel, the
        // HLS/TS input repackaged into fMP4 first).
        (Protocol::Dash, EndpointType::Dash) | (Protocol::Dash, EndpointType::Cmaf) => Ok(()),
        (Protocol::Hls, EndpointType::Hls) | (Protocol::Hls, EndpointType::Cmaf) => Ok(()),
        (Protocol::Dash, EndpointType::Hls) => Err(Invalid(
            "a dash channel cannot have hls endpoints: use --type dash".into(),
        )),
        (Protocol::Hls, EndpointType::Dash) => Err(Invalid(
            "an hls channel cannot have dash endpoints: use --type hls (or cmaf, to repackage into DASH/CMAF)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let table: &[(&str, bool)] = &[
            ("a", true),
            ("live_1-B", true),
            (&"x".repeat(32), true),
            ("", false),
            (&"x".repeat(33), false),
            ("has space", false),
            ("dot.ted", false),
            ("slash/", false),
            ("é", false),
        ];
        for (name, ok) in table {
            assert_eq!(validate_name("channel name", name).is_ok(), *ok, "{name:?}");
        }
        let err = validate_name("channel name", "a b").unwrap_err();
        assert!(err.0.contains("' '"), "{err}");
    }

    #[test]
    fn durations() {
        let table = [
            (15, 600, true),
            (1, 6, true),
            (60, 86_400, true),
            (2, 6, true),
            (0, 600, false),
            (61, 600, false),
            (15, 5, false),
            (15, 86_401, false),
            (15, 44, false),
            (15, 45, true),
        ];
        for (s, p, ok) in table {
            assert_eq!(validate_durations(s, p).is_ok(), ok, "{s} {p}");
        }
        assert!(validate_durations(15, 44)
            .unwrap_err()
            .0
            .contains("3 times"));
    }

    #[test]
    fn endpoint_types_follow_protocol() {
        assert!(validate_endpoint_type(Protocol::Hls, EndpointType::Hls).is_ok());
        let e = validate_endpoint_type(Protocol::Dash, EndpointType::Hls).unwrap_err();
        assert!(e.0.contains("--type dash"), "{e}");
        assert!(validate_endpoint_type(Protocol::Hls, EndpointType::Cmaf).is_ok());
        assert!(validate_endpoint_type(Protocol::Dash, EndpointType::Cmaf).is_ok());
    }

    #[test]
    fn dash_channels_take_dash_endpoints_only() {
        assert!(validate_endpoint_type(Protocol::Dash, EndpointType::Dash).is_ok());
        let e = validate_endpoint_type(Protocol::Dash, EndpointType::Hls).unwrap_err();
        assert!(e.0.contains("dash channel") && e.0.contains("hls"), "{e}");
        let e = validate_endpoint_type(Protocol::Hls, EndpointType::Dash).unwrap_err();
        assert!(e.0.contains("hls channel") && e.0.contains("dash"), "{e}");
        assert_eq!(Protocol::Dash.default_endpoint_type(), EndpointType::Dash);
    }

    #[test]
    fn auth_keys() {
        assert!(validate_auth_key("k3y-2026-a").is_ok());
        assert!(validate_auth_key("short").unwrap_err().0.contains("8-256"));
        assert!(validate_auth_key("has a space")
            .unwrap_err()
            .0
            .contains("' '"));
        assert!(validate_auth_key(&"k".repeat(257)).is_err());
    }

    #[test]
    fn old_state_without_access_fields_loads() {
        let e: EndpointConfig = serde_json::from_str(
            r#"{"id":"0123456789abcdef0123456789ab","name":"e","type":"hls","manifest_name":"main"}"#,
        )
        .unwrap();
        assert!(e.allow.is_empty() && e.block.is_empty() && e.auth_keys.is_empty());
        let i: InputConfig =
            serde_json::from_str(r#"{"id":"0123456789abcdef0123456789ab","role":"primary"}"#)
                .unwrap();
        assert!(i.auth.is_none());
    }

    #[test]
    fn old_state_without_timeshift_window_loads_with_it_off() {
        let c: ChannelConfig = serde_json::from_str(
            r#"{"id":"0123456789abcdef0123456789ab","name":"c","protocol":"hls",
                "max_segment_duration":15,"max_playlist_duration":600,
                "inputs":[{"id":"0123456789abcdef0123456789ac","role":"primary"},
                          {"id":"0123456789abcdef0123456789ad","role":"backup"}]}"#,
        )
        .unwrap();
        assert_eq!(c.timeshift_window_secs, 0);
    }

    #[test]
    fn descriptions() {
        assert!(validate_description("Main feed, studio A").is_ok());
        assert!(validate_description(&"d".repeat(257)).is_err());
        assert!(validate_description("line\nbreak").is_err());
    }
}
