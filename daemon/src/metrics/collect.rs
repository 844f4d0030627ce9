//! What a scrape prints: daemon, channel/input and endpoint families, summed over shards.
//! Channels come from the registry in effect, so a deleted channel's series are gone from the
//! next scrape. Series are sorted by channel name for a stable, diffable output.

use std::sync::Arc;
use streampack_core::channel::InputRole;
use streampack_core::media::{MediaStatus, RepackageStats};

use super::expo::{Kind, Value, Writer};
use super::{
    ingest_error_label, rss_bytes, EndpointMetrics, Listener, ObjectType, CONNECTION_LIMITS,
    LATENCY_LE, STATUS_CLASSES,
};
use crate::clock;
use crate::context::Shared;
use crate::registry::ChannelEntry;

struct Chan {
    id: String,
    entry: Arc<ChannelEntry>,
    status: Option<MediaStatus>,
}

impl Chan {
    fn labels(&self) -> [(&'static str, &str); 2] {
        [
            ("channel", &self.id),
            ("channel_name", &self.entry.config.name),
        ]
    }
}

/// The whole exposition.
pub fn render(shared: &Shared) -> String {
    let reg = shared.registry.load();
    let mut chans: Vec<Chan> = reg
        .channels
        .values()
        .map(|e| Chan {
            id: e.config.id.to_string(),
            entry: Arc::clone(e),
            status: e.media.status(),
        })
        .collect();
    drop(reg);
    chans.sort_by(|a, b| a.entry.config.name.cmp(&b.entry.config.name));
    let mut w = Writer::new();
    daemon(shared, &chans, &mut w);
    super::storage::render(shared, &mut w);
    super::transport::render(shared, &mut w);
    super::encryption::render(shared, &mut w);
    super::cluster::render(shared, &mut w);
    inputs(shared, &chans, &mut w);
    channels(&chans, &mut w);
    cmaf_channels(&chans, &mut w);
    endpoints(&chans, &mut w);
    w.finish()
}

fn gauge(w: &mut Writer, name: &str, help: &str, v: Value) {
    w.family(name, Kind::Gauge, help);
    w.sample(name, &[], v);
}

fn daemon(shared: &Shared, chans: &[Chan], w: &mut Writer) {
    let m = &shared.metrics;
    w.family(
        "streampack_build_info",
        Kind::Gauge,
        "streampackd build: version label, value 1.",
    );
    w.sample(
        "streampack_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        Value::Int(1),
    );
    gauge(
        w,
        "streampack_start_time_seconds",
        "Unix time the daemon started.",
        Value::Float(m.started_unix_secs.floor()),
    );
    w.family(
        "streampack_io_driver_info",
        Kind::Gauge,
        "io driver the shards run: driver label, value 1.",
    );
    w.sample(
        "streampack_io_driver_info",
        &[("driver", shared.io_driver)],
        Value::Int(1),
    );
    gauge(
        w,
        "streampack_shards",
        "Executor threads (one per core).",
        Value::Int(shared.shards() as u64),
    );
    gauge(
        w,
        "streampack_channels",
        "Channels configured.",
        Value::Int(chans.len() as u64),
    );
    let endpoints: usize = chans.iter().map(|c| c.entry.config.endpoints.len()).sum();
    gauge(
        w,
        "streampack_endpoints",
        "Endpoints configured.",
        Value::Int(endpoints as u64),
    );
    gauge(
        w,
        "streampack_connections_open",
        "Client connections open now, ingest and pull.",
        Value::Int(shared.metrics.open_connections()),
    );
    w.family(
        "streampack_connections_accepted_total",
        Kind::Counter,
        "Client connections accepted, by listener.",
    );
    for l in Listener::ALL {
        w.sample(
            "streampack_connections_accepted_total",
            &[("listener", l.name())],
            Value::Int(m.accepted(l)),
        );
    }
    w.family(
        "streampack_connections_refused_total",
        Kind::Counter,
        "Client connections closed at once because a connection limit was reached, by listener and limit.",
    );
    for l in Listener::ALL {
        for (i, limit) in CONNECTION_LIMITS.iter().enumerate() {
            w.sample(
                "streampack_connections_refused_total",
                &[("listener", l.name()), ("limit", limit)],
                Value::Int(m.refused_by(l, i)),
            );
        }
    }
    w.family(
        "streampack_objects_promoted_total",
        Kind::Counter,
        "Segments moved into pages of their own (sent without copying) because pulls asked for them often.",
    );
    w.sample(
        "streampack_objects_promoted_total",
        &[],
        Value::Int(m.promoted_count()),
    );
    w.family(
        "streampack_unrouted_requests_total",
        Kind::Counter,
        "Requests answered before reaching a channel input or endpoint (malformed, unknown channel, /healthz), by listener and status class.",
    );
    for l in Listener::ALL {
        for (i, class) in STATUS_CLASSES.iter().enumerate() {
            w.sample(
                "streampack_unrouted_requests_total",
                &[("listener", l.name()), ("status_class", class)],
                Value::Int(m.unrouted_count(l, i)),
            );
        }
    }
    let held: u64 = chans
        .iter()
        .filter_map(|c| c.status.as_ref())
        .map(|s| s.held_bytes)
        .sum();
    gauge(
        w,
        "streampack_held_media_bytes",
        "Media bytes held in memory, all channels.",
        Value::Int(held),
    );
    gauge(
        w,
        "process_resident_memory_bytes",
        "Resident memory size of the daemon, bytes.",
        Value::Int(rss_bytes()),
    );
    w.family(
        "streampack_access_log_dropped_lines_total",
        Kind::Counter,
        "Access log lines dropped because the writer fell behind (the data plane never waits for it).",
    );
    w.sample(
        "streampack_access_log_dropped_lines_total",
        &[],
        Value::Int(m.access_log_dropped_count()),
    );
}

fn inputs(shared: &Shared, chans: &[Chan], w: &mut Writer) {
    type Field = fn(&Chan, InputRole) -> Option<Value>;
    let families: [(&str, Kind, &str, Field); 4] = [
        (
            "streampack_input_segments_received_total",
            Kind::Counter,
            "Media and init segments an input stored.",
            |c, r| {
                Some(Value::Int(
                    c.status
                        .as_ref()
                        .map_or(0, |s| s.inputs[r.index()].segments),
                ))
            },
        ),
        (
            "streampack_input_received_bytes_total",
            Kind::Counter,
            "Bytes of the segments an input stored.",
            |c, r| {
                Some(Value::Int(
                    c.status.as_ref().map_or(0, |s| s.inputs[r.index()].bytes),
                ))
            },
        ),
        (
            "streampack_input_last_segment_age_seconds",
            Kind::Gauge,
            "Seconds since an input last delivered a segment (absent before its first).",
            |c, r| {
                let t = c.status.as_ref()?.inputs[r.index()].last_segment_mono_ms?;
                Some(Value::Float(clock::age_ms(t) as f64 / 1000.0))
            },
        ),
        (
            "streampack_input_active",
            Kind::Gauge,
            "1 for the input the channel serves from, 0 for the other.",
            |c, r| {
                let active = c.status.as_ref().and_then(|s| s.active);
                Some(Value::Int(u64::from(active == Some(r))))
            },
        ),
    ];
    for (name, kind, help, field) in families {
        w.family(name, kind, help);
        for c in chans {
            let [a, b] = c.labels();
            for r in InputRole::ALL {
                if let Some(v) = field(c, r) {
                    w.sample(name, &[a, b, ("input", r.as_str())], v);
                }
            }
        }
    }
    w.family(
        "streampack_input_delivering",
        Kind::Gauge,
        "1 while an input delivers segments (last one within the channel's failover timeout).",
    );
    for c in chans {
        let [a, b] = c.labels();
        let timeout = shared.failover_timeout_ms(c.entry.config.max_segment_ms());
        for r in InputRole::ALL {
            let fresh = c
                .status
                .as_ref()
                .and_then(|s| s.inputs[r.index()].last_segment_mono_ms)
                .is_some_and(|t| clock::age_ms(t) <= timeout);
            w.sample(
                "streampack_input_delivering",
                &[a, b, ("input", r.as_str())],
                Value::Int(u64::from(fresh)),
            );
        }
    }
    w.family(
        "streampack_input_ingest_errors_total",
        Kind::Counter,
        "Ingest requests an input refused, by HTTP status (only statuses seen).",
    );
    for c in chans {
        let [a, b] = c.labels();
        for r in InputRole::ALL {
            for (i, n) in c.entry.metrics.ingest_errors(r).into_iter().enumerate() {
                if n > 0 {
                    let label = ingest_error_label(i);
                    w.sample(
                        "streampack_input_ingest_errors_total",
                        &[a, b, ("input", r.as_str()), ("status", &label)],
                        Value::Int(n),
                    );
                }
            }
        }
    }
}

fn channels(chans: &[Chan], w: &mut Writer) {
    type Field = fn(&MediaStatus) -> u64;
    let families: [(&str, Kind, &str, Field); 4] = [
        (
            "streampack_channel_failovers_total",
            Kind::Counter,
            "Switches of a channel's active input.",
            |s| s.failovers,
        ),
        (
            "streampack_channel_held_media_bytes",
            Kind::Gauge,
            "Media bytes a channel holds in memory.",
            |s| s.held_bytes,
        ),
        (
            "streampack_channel_window_segments",
            Kind::Gauge,
            "Segments in a channel's served window, all renditions.",
            |s| s.window_segments,
        ),
        (
            "streampack_channel_refused_segments_total",
            Kind::Counter,
            "Segments refused for being longer than the channel's maximum.",
            |s| s.refused_segments,
        ),
    ];
    for (name, kind, help, field) in families {
        w.family(name, kind, help);
        for c in chans {
            let v = c.status.as_ref().map_or(0, field);
            w.sample(name, &c.labels(), Value::Int(v));
        }
    }
}

/// The CMAF packager's counters, for channels with a `cmaf` endpoint.
fn cmaf_channels(chans: &[Chan], w: &mut Writer) {
    type Field = fn(&RepackageStats) -> u64;
    let families: [(&str, &str, Field); 2] = [
        (
            "streampack_channel_cmaf_repackaged_segments_total",
            "TS segments repackaged into CMAF (once each) for a channel's cmaf endpoints.",
            |s| s.repackaged,
        ),
        (
            "streampack_channel_cmaf_repackage_failures_total",
            "TS segments that could not be repackaged (skipped; the log says why).",
            |s| s.failed,
        ),
    ];
    let snaps: Vec<(&Chan, RepackageStats)> = chans
        .iter()
        .filter_map(|c| Some((c, c.entry.media.load().as_ref()?.repackaging?)))
        .collect();
    for (name, help, field) in families {
        w.family(name, Kind::Counter, help);
        for (c, s) in &snaps {
            w.sample(name, &c.labels(), Value::Int(field(s)));
        }
    }
    let name = "streampack_channel_cmaf_held_bytes";
    w.family(
        name,
        Kind::Gauge,
        "Bytes of CMAF init and media segments a channel holds for its cmaf endpoints.",
    );
    for (c, s) in &snaps {
        w.sample(name, &c.labels(), Value::Int(s.held_bytes));
    }
}

/// Calls `f` for every endpoint of every channel with its labels.
fn each_endpoint(
    chans: &[Chan],
    w: &mut Writer,
    mut f: impl FnMut(&mut Writer, &[(&str, &str); 4], &EndpointMetrics),
) {
    for c in chans {
        let [a, b] = c.labels();
        let eps = &c.entry.config.endpoints;
        for (cfg, m) in eps.iter().zip(&c.entry.metrics.endpoints) {
            let id = cfg.id.to_string();
            f(
                w,
                &[a, b, ("endpoint", &id), ("endpoint_name", &cfg.name)],
                m,
            );
        }
    }
}

fn endpoints(chans: &[Chan], w: &mut Writer) {
    for (name, help, bytes) in [
        (
            "streampack_endpoint_requests_total",
            "Requests an endpoint answered, by object type and status class.",
            false,
        ),
        (
            "streampack_endpoint_response_bytes_total",
            "Bytes an endpoint wrote (heads and bodies), by object type and status class.",
            true,
        ),
    ] {
        w.family(name, Kind::Counter, help);
        each_endpoint(chans, w, |w, l, m| {
            for t in ObjectType::ALL {
                for (i, class) in STATUS_CLASSES.iter().enumerate() {
                    let v = if bytes {
                        m.bytes(t, i)
                    } else {
                        m.requests(t, i)
                    };
                    let [a, b, c, d] = *l;
                    w.sample(
                        name,
                        &[a, b, c, d, ("type", t.name()), ("status_class", class)],
                        Value::Int(v),
                    );
                }
            }
        });
    }
    let name = "streampack_endpoint_request_duration_seconds";
    w.family(
        name,
        Kind::Histogram,
        "Time from a request's head parsed to its response written, by object type.",
    );
    each_endpoint(chans, w, |w, l, m| {
        for t in ObjectType::ALL {
            let h = m.latency(t);
            let [a, b, c, d] = *l;
            w.histogram(
                name,
                &[a, b, c, d, ("type", t.name())],
                &LATENCY_LE,
                &h.buckets,
                h.sum_us as f64 / 1e6,
            );
        }
    });
}
