//! The config file's sections below the top level: access, failover, listeners, limits, cache,
//! storage.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use streampack_core::channel::InputRole;
use streampack_core::media::{FailoverPolicy, Revert};

/// Daemon-wide access-control settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Access {
    /// Header an endpoint's AuthKey travels in.
    pub auth_key_header: String,
    /// CIDRs of proxies (a CDN's edges, a load balancer) whose `X-Forwarded-For` is believed.
    /// Empty: the header is never trusted and the connecting address is the client.
    pub trusted_proxies: Vec<String>,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            auth_key_header: "X-TENCENT-PACKAGE".into(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Access {
    /// The trusted proxies, parsed.
    pub fn trusted_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|s| {
                streampack_core::access::parse_cidr(s)
                    .map_err(|e| format!("access.trusted_proxies: {}", e.0))
            })
            .collect()
    }
}

/// When to go back to the preferred input (see `docs/failover.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevertMode {
    /// Stay on the input that serves until it fails.
    Never,
    /// Only when the switch is seamless (the inputs are aligned).
    WhenAligned,
    /// Even behind a discontinuity.
    Always,
}

/// `[failover]`: the policy of `streampack_core::media::FailoverPolicy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Failover {
    /// Timeout in percent of the channel's `max_segment_duration` (100–1000; default 200).
    pub timeout_pct: u32,
    /// Good segments in a row before an input may take over (1–20; default 3).
    pub healthy_segments: u32,
    /// The input to go back to (`primary` or `backup`).
    pub preferred: InputRole,
    /// `never`, `when-aligned` (default) or `always`.
    pub revert: RevertMode,
    /// Good segments in a row the preferred input needs before going back (1–100; default 5).
    pub revert_after_segments: u32,
}

impl Default for Failover {
    fn default() -> Self {
        Failover::from(FailoverPolicy::default())
    }
}

impl From<FailoverPolicy> for Failover {
    fn from(p: FailoverPolicy) -> Self {
        Failover {
            timeout_pct: p.timeout_pct,
            healthy_segments: p.healthy_segments,
            preferred: p.preferred,
            revert: match p.revert {
                Revert::Never => RevertMode::Never,
                Revert::WhenAligned => RevertMode::WhenAligned,
                Revert::Always => RevertMode::Always,
            },
            revert_after_segments: p.revert_after_segments,
        }
    }
}

impl Failover {
    /// The core policy.
    pub fn policy(&self) -> FailoverPolicy {
        FailoverPolicy {
            timeout_pct: self.timeout_pct,
            healthy_segments: self.healthy_segments,
            preferred: self.preferred,
            revert: match self.revert {
                RevertMode::Never => Revert::Never,
                RevertMode::WhenAligned => Revert::WhenAligned,
                RevertMode::Always => Revert::Always,
            },
            revert_after_segments: self.revert_after_segments,
        }
    }
}

/// One listening address and the URL clients know it by.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Base URL shown in input/endpoint URLs; default `http://<listen>`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Address of the same listener over TLS (needs `[tls]`); unset: no TLS listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_listen: Option<SocketAddr>,
}

/// The certificate and key of the TLS listeners (PEM files; SIGHUP reloads them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain, leaf first.
    pub cert: std::path::PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

impl Listener {
    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// Limits that keep one client from hurting the others.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request head, bytes (431 above).
    pub max_head_bytes: usize,
    /// Most request headers (431 above).
    pub max_headers: usize,
    /// Largest segment or init object, bytes (413 above).
    pub max_object_bytes: u64,
    /// Largest playlist or manifest, bytes (413 above).
    pub max_manifest_bytes: u64,
    /// Seconds to receive a complete request head once it started (408).
    pub head_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit idle between requests.
    pub idle_timeout_secs: u64,
    /// Least seconds allowed for a request body. The actual limit is the larger of this and
    /// `2 × max_segment_duration + 5` of the channel: encoders stream a segment's body while
    /// they encode it.
    pub body_timeout_min_secs: u64,
    /// Most client connections open at once, ingest and pull together (new ones are closed at
    /// once). Each of the N shards admits `max_connections / N`.
    pub max_connections: usize,
    /// Most connections open at once from one client address (an IPv4 address or an IPv6 /64).
    /// Each of the N shards admits `max_connections_per_ip / N` from one client, so the sum
    /// never exceeds it (a client may be refused slightly before when the kernel spreads its
    /// connections unevenly).
    pub max_connections_per_ip: usize,
    /// Seconds a response may take to be written, plus one second per 64 KiB of body; a
    /// client that stops reading is disconnected after that.
    pub send_timeout_secs: u64,
    /// Most channels the daemon holds.
    pub max_channels: usize,
    /// Most endpoints one channel holds.
    pub max_endpoints_per_channel: usize,
    /// A client hitting limits (refused connections, 408/413/414/431) is logged at most once
    /// per this many seconds.
    pub log_interval_secs: u64,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Wrong ingest credentials one client address may send within
    /// `ingest_auth_window_secs` before it is refused (`429`) for `ingest_auth_block_secs`,
    /// whatever it sends; 0 turns the limit off.
    pub ingest_auth_failures: u32,
    /// The window failed ingest logins are counted in, seconds.
    pub ingest_auth_window_secs: u64,
    /// How long a client that reached the limit is refused, seconds.
    pub ingest_auth_block_secs: u64,
}

/// `Cache-Control` lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    /// Playlists and manifests, seconds (1–60).
    pub manifest_max_age_secs: u32,
    /// Segments, seconds (10–1800).
    pub segment_max_age_secs: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_object_bytes: 64 * 1024 * 1024,
            max_manifest_bytes: 1024 * 1024,
            head_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_timeout_min_secs: 10,
            max_connections: 16_384,
            max_connections_per_ip: 512,
            send_timeout_secs: 60,
            max_channels: streampack_core::control::MAX_CHANNELS,
            max_endpoints_per_channel: streampack_core::control::MAX_ENDPOINTS_PER_CHANNEL,
            log_interval_secs: 10,
            shutdown_grace_secs: 5,
            ingest_auth_failures: 10,
            ingest_auth_window_secs: 60,
            ingest_auth_block_secs: 60,
        }
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            manifest_max_age_secs: 1,
            segment_max_age_secs: 600,
        }
    }
}

/// `[storage]`: the media kept on disk for channels with a time-shift window (under the
/// top-level `media_dir`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Most bytes of media on disk, all channels together; 0 (the default): no cap but the
    /// disk's own size.
    pub max_bytes: u64,
}
