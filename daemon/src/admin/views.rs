//! What the control plane shows: channel, endpoint, live and status views built from the state,
//! the registry's counters and the published snapshots.

use streampack_core::admin::proto::{
    ChannelView, EndpointLiveView, EndpointView, InputAuthView, InputLiveView, InputView, LiveView,
    StatusView,
};
use streampack_core::channel::{ChannelConfig, EndpointConfig, InputRole};

use super::Admin;
use crate::clock;
use crate::metrics::Listener;

impl Admin {
    pub(super) fn channel_view(&self, c: &ChannelConfig) -> ChannelView {
        ChannelView {
            id: c.id.to_string(),
            name: c.name.clone(),
            protocol: c.protocol,
            max_segment_duration: c.max_segment_duration,
            max_playlist_duration: c.max_playlist_duration,
            description: c.description.clone(),
            inputs: c
                .inputs
                .iter()
                .map(|i| InputView {
                    id: i.id.to_string(),
                    role: i.role.to_string(),
                    url: format!("{}/v1/{}/{}", self.shared.ingest_base, c.id, i.id),
                    auth: match &i.auth {
                        None => InputAuthView::default(),
                        Some(a) => InputAuthView {
                            enabled: true,
                            username: Some(a.username.clone()),
                            password: Some(a.password.clone()),
                            previous_valid_until_unix_ms: a
                                .previous
                                .as_ref()
                                .map(|p| p.valid_until_unix_ms)
                                .filter(|&t| t > clock::now().unix_ms),
                        },
                    },
                })
                .collect(),
            endpoints: c
                .endpoints
                .iter()
                .map(|e| self.endpoint_view(c, e))
                .collect(),
            cdn_domains: c.cdn_domains.clone(),
            manifest_ttl: c
                .manifest_ttl
                .unwrap_or(self.shared.config.cache.manifest_max_age_secs),
            segment_ttl: c
                .segment_ttl
                .unwrap_or(self.shared.config.cache.segment_max_age_secs),
            end_on_endlist: c.end_on_endlist,
            timeshift_window_secs: c.timeshift_window_secs,
            live: self.live_view(c),
        }
    }

    pub(super) fn endpoint_view(&self, c: &ChannelConfig, e: &EndpointConfig) -> EndpointView {
        EndpointView {
            id: e.id.to_string(),
            name: e.name.clone(),
            kind: e.kind,
            manifest_name: e.manifest_name.clone(),
            url: format!(
                "{}/v1/{}/{}/{}",
                self.shared.pull_base,
                c.id,
                e.id,
                e.manifest_file()
            ),
            channel_id: c.id.to_string(),
            allow: e.allow.iter().map(|n| n.to_string()).collect(),
            block: e.block.iter().map(|n| n.to_string()).collect(),
            auth_keys: e.auth_keys.clone(),
            low_latency: e.low_latency,
            encryption: e.encryption,
            key_rotation_secs: e.key_rotation_secs,
            key_server: e.key_server.clone(),
            ad_markers: e.ad_markers,
            inband_markers: e.inband_markers,
            cdn_urls: c
                .cdn_domains
                .iter()
                .map(|d| {
                    format!(
                        "{}://{d}/v1/{}/{}/{}",
                        self.pull_scheme(),
                        c.id,
                        e.id,
                        e.manifest_file()
                    )
                })
                .collect(),
        }
    }

    /// `http` or `https`, as in the pull base URL: the CDN URL keeps the origin's scheme.
    pub(super) fn pull_scheme(&self) -> &str {
        self.shared
            .pull_base
            .split_once("://")
            .map_or("http", |(s, _)| s)
    }

    pub(super) fn live_view(&self, c: &ChannelConfig) -> LiveView {
        let id = &c.id;
        let reg = self.shared.registry.load();
        let entry = reg.channels.get(id);
        let status = entry.and_then(|e| e.media.status());
        let live = self.shared.metrics.live.lock().ok();
        let endpoints = c
            .endpoints
            .iter()
            .map(|e| {
                let m = entry.and_then(|en| en.metrics.endpoint(&e.id));
                EndpointLiveView {
                    id: e.id.to_string(),
                    name: e.name.clone(),
                    requests_per_sec: live.as_ref().and_then(|l| l.endpoint_rate(id, &e.id)),
                    requests: m.map_or(0, |m| m.requests_total()),
                    bytes: m.map_or(0, |m| m.bytes_total()),
                }
            })
            .collect();
        let timeout = self.shared.failover_timeout_ms(c.max_segment_ms());
        let inputs = InputRole::ALL
            .iter()
            .map(|r| {
                let i = status.as_ref().map(|s| s.inputs[r.index()]);
                let age = i.and_then(|i| i.last_segment_mono_ms).map(clock::age_ms);
                InputLiveView {
                    role: r.to_string(),
                    last_segment_age_ms: age,
                    segments: i.map_or(0, |i| i.segments),
                    bytes: i.map_or(0, |i| i.bytes),
                    bitrate_bps: live.as_ref().and_then(|l| l.input_bitrate(id, *r)),
                    ingest_errors: entry
                        .map_or(0, |e| e.metrics.ingest_errors(*r).iter().sum::<u64>()),
                    recent_errors: entry.map_or_else(Vec::new, |e| e.metrics.recent.of(*r)),
                    delivering: age.is_some_and(|a| a <= timeout),
                    health: i.map_or_else(|| "never".into(), |i| i.health.as_str().to_owned()),
                }
            })
            .collect();
        let Some(s) = status else {
            return LiveView {
                inputs,
                endpoints,
                ..Default::default()
            };
        };
        LiveView {
            active_input: s.active.map(|r| r.to_string()),
            inputs,
            window_segments: s.window_segments,
            held_bytes: s.held_bytes,
            failovers: s.failovers,
            ended: s.ended,
            inputs_aligned: s.aligned,
            endpoints,
        }
    }

    pub(super) fn status(&self) -> StatusView {
        let (channels, endpoints) = match self.state.lock() {
            Ok(st) => (
                st.channels.len(),
                st.channels.iter().map(|c| c.endpoints.len()).sum(),
            ),
            Err(_) => (0, 0),
        };
        let reg = self.shared.registry.load();
        let held_bytes = reg
            .channels
            .values()
            .filter_map(|e| e.media.status())
            .map(|s| s.held_bytes)
            .sum();
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_secs: self.shared.started.elapsed().as_secs(),
            io_driver: self.shared.io_driver.to_owned(),
            shards: u32::try_from(self.shared.shards()).unwrap_or(u32::MAX),
            channels: u32::try_from(channels).unwrap_or(u32::MAX),
            endpoints: u32::try_from(endpoints).unwrap_or(u32::MAX),
            connections: self.shared.metrics.open_connections(),
            held_bytes,
            ingest_url: self.shared.ingest_base.clone(),
            pull_url: self.shared.pull_base.clone(),
            state_dir: self.dir.display().to_string(),
            metrics_url: self
                .shared
                .metrics
                .listen
                .get()
                .map(|a| format!("http://{a}/metrics")),
            access_log: self.shared.access_log.as_ref().map(|l| l.target.clone()),
            connections_accepted: Listener::ALL
                .iter()
                .map(|&l| self.shared.metrics.accepted(l))
                .sum(),
            auth_key_header: self.shared.auth_key_header.clone(),
            connections_refused: Listener::ALL
                .iter()
                .map(|&l| self.shared.metrics.refused(l))
                .sum(),
            rss_bytes: crate::metrics::rss_bytes(),
        }
    }
}

/// A stored content key as `endpoint keys` lists it.
pub(super) fn key_view(k: &crate::keys::Listed) -> streampack_core::admin::proto::KeyView {
    use streampack_core::encryption::keys::from_rfc3339;
    streampack_core::admin::proto::KeyView {
        kid: k.key.kid_hex(),
        key: k.key.key_hex(),
        from: from_rfc3339(k.key.period, k.rotation_secs),
        period: k.key.period,
    }
}

/// A splice the owner inserted.
pub(super) fn splice_view(
    channel: &streampack_core::id::Id,
    m: &streampack_core::ad_markers::AdMarker,
) -> streampack_core::admin::proto::SpliceView {
    streampack_core::admin::proto::SpliceView {
        channel_id: channel.to_string(),
        event_id: m.event_id,
        signal: match m.signal {
            streampack_core::scte35::Signal::Out => "out",
            streampack_core::scte35::Signal::In => "in",
            streampack_core::scte35::Signal::Other => "other",
        }
        .into(),
        at: streampack_core::time::format_datetime(m.start_unix_ms),
        duration_secs: m.duration_ms.map(|d| d as f64 / 1000.0),
        scte35_hex: streampack_core::hex::encode(&m.section),
    }
}
