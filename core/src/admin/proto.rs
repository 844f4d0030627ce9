//! Admin requests and the views the daemon answers with. Views are also what
//! `streampackctl --json` prints, so their field names are a public contract.
//!
//! Postcard is not self-describing: no `skip_serializing_if` or untagged enums here.

pub use crate::admin::cluster_view::{ClusterView, NodeView};
use crate::channel::config::{AdMarkerStyle, Encryption, EndpointType, Protocol};
pub use crate::control::commands::{
    ChannelCreate, ChannelPatch, EndpointCreate, EndpointPatch, InputAuthAction,
};
use crate::control::ControlError;
use serde::{Deserialize, Serialize};

/// A request from the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Daemon-wide status.
    Status,
    /// The cluster: nodes, liveness, inputs (cluster mode only).
    ClusterStatus,
    /// Create a channel.
    ChannelCreate(ChannelCreate),
    /// All channels.
    ChannelList,
    /// One channel by id or name.
    ChannelShow {
        /// Id or name.
        channel: String,
    },
    /// Change a channel.
    ChannelEdit {
        /// Id or name.
        channel: String,
        /// Fields to change.
        patch: ChannelPatch,
    },
    /// Delete a channel without endpoints.
    ChannelDelete {
        /// Id or name.
        channel: String,
    },
    /// Create an endpoint on a channel.
    EndpointCreate {
        /// Id or name.
        channel: String,
        /// The endpoint.
        spec: EndpointCreate,
    },
    /// A channel's endpoints.
    EndpointList {
        /// Id or name.
        channel: String,
    },
    /// One endpoint.
    EndpointShow {
        /// Id or name.
        channel: String,
        /// Id or name.
        endpoint: String,
    },
    /// Change an endpoint.
    EndpointEdit {
        /// Id or name.
        channel: String,
        /// Id or name.
        endpoint: String,
        /// Fields to change.
        patch: EndpointPatch,
    },
    /// Delete an endpoint.
    EndpointDelete {
        /// Id or name.
        channel: String,
        /// Id or name.
        endpoint: String,
    },
    /// Bind a CDN playback domain to a channel.
    CdnBind {
        /// Id or name.
        channel: String,
        /// Bare host name.
        domain: String,
    },
    /// Unbind a CDN playback domain.
    CdnUnbind {
        /// Id or name.
        channel: String,
        /// Bare host name.
        domain: String,
    },
    /// A channel's CDN domains (answered with the channel).
    CdnList {
        /// Id or name.
        channel: String,
    },
    /// Enable, disable or rotate an input's ingest credentials.
    InputAuth {
        /// Id or name.
        channel: String,
        /// `1`/`primary`, `2`/`backup`, or the input's id.
        input: String,
        /// What to do.
        action: InputAuthAction,
    },
    /// An encrypted endpoint's content keys.
    EndpointKeys {
        /// Id or name.
        channel: String,
        /// Id or name.
        endpoint: String,
    },
    /// Insert a SCTE-35 splice (`channel splice`).
    ChannelSplice {
        /// Id or name.
        channel: String,
        /// What to insert.
        splice: SpliceSpec,
    },
}

/// The operator's splice as the CLI and console send it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpliceSpec {
    /// The break's duration, ms (required unless `return_to_network`).
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// When: an RFC 3339 date; `None`: the next segment boundary.
    #[serde(default)]
    pub at: Option<String>,
    /// `splice_event_id`; `None`: one the channel has not used.
    #[serde(default)]
    pub event_id: Option<u32>,
    /// An early return from the break in progress.
    #[serde(default, rename = "return")]
    pub return_to_network: bool,
}

impl SpliceSpec {
    /// The request for the channel's media; what to fix when it is not one.
    pub fn request(&self) -> Result<crate::ad_markers::SpliceRequest, String> {
        let duration_ms = match self.duration_ms {
            Some(_) if self.return_to_network => {
                return Err("a return (--return) has no --duration".into())
            }
            Some(d) if d == 0 || d > 86_400_000 => {
                return Err(format!(
                    "--duration must be more than 0 and at most 86400 seconds, got {} s",
                    d as f64 / 1000.0
                ))
            }
            Some(d) => Some(d),
            None if self.return_to_network => None,
            None => return Err("a break needs --duration SECONDS (or --return to end one)".into()),
        };
        let at_unix_ms = match &self.at {
            Some(at) => Some(
                crate::time::parse_rfc3339_ms(at)
                    .and_then(|t| u64::try_from(t).ok())
                    .ok_or_else(|| {
                        format!("--at {at:?} is not an RFC 3339 date (2026-12-07T18:00:00Z)")
                    })?,
            ),
            None => None,
        };
        Ok(crate::ad_markers::SpliceRequest {
            duration_ms,
            at_unix_ms,
            event_id: self.event_id,
            return_to_network: self.return_to_network,
        })
    }
}

/// A splice inserted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpliceView {
    /// Id of the channel.
    pub channel_id: String,
    /// `splice_event_id`.
    pub event_id: u32,
    /// `out` (a break) or `in` (a return).
    pub signal: String,
    /// The splice point (RFC 3339 UTC, ms).
    pub at: String,
    /// The break's duration, seconds.
    pub duration_secs: Option<f64>,
    /// The `splice_info_section`, hex (as in `SCTE35-OUT`).
    pub scte35_hex: String,
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Daemon status.
    Status(StatusView),
    /// One channel.
    Channel(ChannelView),
    /// Several channels.
    Channels(Vec<ChannelView>),
    /// One endpoint.
    Endpoint(EndpointView),
    /// Several endpoints.
    Endpoints(Vec<EndpointView>),
    /// Content keys, oldest first.
    Keys(Vec<KeyView>),
    /// A splice inserted.
    Splice(SpliceView),
    /// The cluster as this node sees it.
    Cluster(ClusterView),
    /// Something was deleted; the id says what.
    Deleted {
        /// Id of what was deleted.
        id: String,
    },
    /// The request was refused.
    Error(ControlError),
}

/// A channel as the operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    /// 28 hex characters.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// `hls` or `dash`.
    pub protocol: Protocol,
    /// Seconds.
    pub max_segment_duration: u32,
    /// Seconds.
    pub max_playlist_duration: u32,
    /// Free text.
    pub description: String,
    /// Primary then backup.
    pub inputs: Vec<InputView>,
    /// In creation order.
    pub endpoints: Vec<EndpointView>,
    /// Bound CDN playback domains.
    pub cdn_domains: Vec<String>,
    /// Playlist `Cache-Control: max-age` in effect, seconds.
    pub manifest_ttl: u32,
    /// Segment `Cache-Control: max-age` in effect, seconds.
    pub segment_ttl: u32,
    /// Whether the encoder's end of stream ends the presentation (else the endpoints stay
    /// live through an encoder restart).
    pub end_on_endlist: bool,
    /// How far back players may seek, seconds; 0: time-shift is off.
    pub timeshift_window_secs: u64,
    /// What the channel is doing now.
    pub live: LiveView,
}

/// An input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputView {
    /// 28 hex characters.
    pub id: String,
    /// `primary` or `backup`.
    pub role: String,
    /// The prefix an encoder appends its file names to (`<url>/main.m3u8`).
    pub url: String,
    /// Ingest credentials.
    pub auth: InputAuthView,
}

/// An input's ingest credentials as the operator sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAuthView {
    /// Whether pushes must authenticate.
    pub enabled: bool,
    /// Current username (`None` when disabled).
    pub username: Option<String>,
    /// Current password (`None` when disabled).
    pub password: Option<String>,
    /// Until when (Unix ms) the credentials before the last rotation are still accepted.
    pub previous_valid_until_unix_ms: Option<u64>,
}

/// An endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// 28 hex characters.
    pub id: String,
    /// Name, unique in its channel.
    pub name: String,
    /// `hls`, `dash` or `cmaf`.
    #[serde(rename = "type")]
    pub kind: EndpointType,
    /// Manifest file stem.
    pub manifest_name: String,
    /// Full manifest URL.
    pub url: String,
    /// Id of the channel it belongs to.
    pub channel_id: String,
    /// Allowlist CIDRs (empty: everyone).
    pub allow: Vec<String>,
    /// Blocklist CIDRs.
    pub block: Vec<String>,
    /// AuthKeys, one of which a request must carry in the daemon's AuthKey header.
    pub auth_keys: Vec<String>,
    /// Low latency (LL-DASH).
    pub low_latency: bool,
    /// How its media is encrypted.
    pub encryption: Encryption,
    /// Seconds between content keys (0: one key).
    pub key_rotation_secs: u32,
    /// The SPEKE v2 key server its keys come from (`None`: the daemon's own keys).
    pub key_server: Option<String>,
    /// How its manifests signal ad markers.
    pub ad_markers: AdMarkerStyle,
    /// SCTE-35 in-band too (`emsg` in the CMAF segments).
    pub inband_markers: bool,
    /// The manifest URL through each bound CDN domain.
    pub cdn_urls: Vec<String>,
}

/// One content key of an encrypted endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    /// Key id, 32 hex characters.
    pub kid: String,
    /// The AES-128 key, 32 hex characters.
    pub key: String,
    /// When media starts being encrypted with it (RFC 3339 UTC).
    pub from: String,
    /// Its rotation period's number (Unix time over the rotation period; 0 without rotation).
    pub period: u64,
}

/// Live state of a channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveView {
    /// `primary`, `backup`, or `None` before any input delivered.
    pub active_input: Option<String>,
    /// Per input, primary then backup.
    pub inputs: Vec<InputLiveView>,
    /// Segments in the served window (all renditions).
    pub window_segments: u64,
    /// Media bytes held in memory for this channel.
    pub held_bytes: u64,
    /// Input switches since the daemon started.
    pub failovers: u64,
    /// The encoder ended the stream (`EXT-X-ENDLIST`).
    pub ended: bool,
    /// The two inputs number the same moments alike: a switch would be seamless (no
    /// discontinuity). See `docs/failover.md`.
    pub inputs_aligned: bool,
    /// Per endpoint, in creation order: what the audience gets.
    pub endpoints: Vec<EndpointLiveView>,
}

/// Live figures of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointLiveView {
    /// 28 hex characters.
    pub id: String,
    /// Name.
    pub name: String,
    /// Requests answered per second over the last few seconds (`None` until measured).
    pub requests_per_sec: Option<f64>,
    /// Requests answered since the daemon started.
    pub requests: u64,
    /// Bytes written since the daemon started.
    pub bytes: u64,
}

/// Live state of one input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputLiveView {
    /// `primary` or `backup`.
    pub role: String,
    /// Milliseconds since this input last delivered a segment.
    pub last_segment_age_ms: Option<u64>,
    /// Segments received since the daemon started.
    pub segments: u64,
    /// Bytes received since the daemon started.
    pub bytes: u64,
    /// `never`, `starting`, `healthy` (may take over) or `down` (silent for the failover
    /// timeout).
    pub health: String,
    /// Bits per second received over the last few seconds (`None` until measured).
    pub bitrate_bps: Option<u64>,
    /// Ingest requests refused since the daemon started.
    pub ingest_errors: u64,
    /// Whether it delivered a segment within the failover timeout.
    pub delivering: bool,
    /// The last few refused ingest requests, newest first.
    pub recent_errors: Vec<IngestErrorView>,
}

/// One refused ingest request: what an operator needs to fix the encoder's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestErrorView {
    /// When it was answered, Unix milliseconds.
    pub at_unix_ms: u64,
    /// The HTTP status answered.
    pub status: u16,
    /// The reason given with it.
    pub reason: String,
    /// The path pushed to, below the input's URL.
    pub path: String,
}

/// Daemon-wide status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// streampackd version.
    pub version: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// `io_uring` or `epoll`.
    pub io_driver: String,
    /// Executor threads.
    pub shards: u32,
    /// Channels configured.
    pub channels: u32,
    /// Endpoints configured.
    pub endpoints: u32,
    /// Client connections open now.
    pub connections: u64,
    /// Media bytes held in memory.
    pub held_bytes: u64,
    /// Base URL encoders push to.
    pub ingest_url: String,
    /// Base URL players pull from.
    pub pull_url: String,
    /// State directory.
    pub state_dir: String,
    /// Where Prometheus scrapes (`http://ADDR/metrics`), `None` when off.
    pub metrics_url: Option<String>,
    /// Access log target (`-` or a path), `None` when off.
    pub access_log: Option<String>,
    /// Client connections accepted since start.
    pub connections_accepted: u64,
    /// Client connections closed at once by a connection limit since start.
    pub connections_refused: u64,
    /// Resident memory of the daemon, bytes.
    pub rss_bytes: u64,
    /// The header endpoints' AuthKeys travel in.
    pub auth_key_header: String,
}
