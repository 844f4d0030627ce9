//! Human-readable text for the daemon's views: aligned tables and key/value lines.
//! Pure functions from a view to a `String`, so what an operator sees is unit-tested.

pub use crate::units::{age, bitrate, bytes, duration};
use std::fmt::Write as _;
use streampack_core::admin::proto::{
    ChannelView, ClusterView, EndpointView, InputAuthView, KeyView, LiveView, SpliceView,
    StatusView,
};

/// `channel list`: one row per channel.
pub fn channel_table(channels: &[ChannelView]) -> String {
    if channels.is_empty() {
        return "no channels: create one with \
                `streampackctl channel create --name NAME --protocol hls`\n"
            .to_string();
    }
    let rows = channels
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.name.clone(),
                c.protocol.to_string(),
                format!("{}s", c.max_segment_duration),
                format!("{}s", c.max_playlist_duration),
                c.endpoints.len().to_string(),
                c.live.active_input.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect::<Vec<_>>();
    table(
        "",
        &[
            "ID",
            "NAME",
            "PROTOCOL",
            "SEG",
            "WINDOW",
            "ENDPOINTS",
            "ACTIVE",
        ],
        &rows,
    )
}

/// `channel show`/`create`/`edit`: settings, inputs, endpoints, live state.
pub fn channel_detail(c: &ChannelView) -> String {
    let mut out = kv(
        "",
        &[
            ("id", c.id.clone()),
            ("name", c.name.clone()),
            ("protocol", c.protocol.to_string()),
            (
                "max segment duration",
                format!("{} s", c.max_segment_duration),
            ),
            (
                "max playlist duration",
                format!("{} s", c.max_playlist_duration),
            ),
            ("description", or_dash(&c.description)),
            ("playlist TTL", format!("{} s", c.manifest_ttl)),
            ("segment TTL", format!("{} s", c.segment_ttl)),
            (
                "encoder end of stream",
                if c.end_on_endlist {
                    "ends the presentation".to_string()
                } else {
                    "stays live (waits for the encoder)".to_string()
                },
            ),
            ("time-shift window", timeshift(c.timeshift_window_secs)),
            ("CDN domains", list_or_dash(&c.cdn_domains)),
        ],
    );

    out.push_str("\ninputs (encoders push to <url>/<file>):\n");
    let inputs = c
        .inputs
        .iter()
        .map(|i| vec![i.role.clone(), i.id.clone(), i.url.clone(), auth(&i.auth)])
        .collect::<Vec<_>>();
    out.push_str(&table("  ", &["ROLE", "ID", "URL", "AUTH"], &inputs));

    out.push_str("\nendpoints:\n");
    if c.endpoints.is_empty() {
        let _ = writeln!(
            out,
            "  none: add one with `streampackctl endpoint create {} --name NAME`",
            c.name
        );
    } else {
        let eps = c
            .endpoints
            .iter()
            .map(|e| vec![e.name.clone(), e.kind.to_string(), e.url.clone()])
            .collect::<Vec<_>>();
        out.push_str(&table("  ", &["NAME", "TYPE", "URL"], &eps));
        let cdn = c
            .endpoints
            .iter()
            .flat_map(|e| e.cdn_urls.iter().map(|u| vec![e.name.clone(), u.clone()]))
            .collect::<Vec<_>>();
        if !cdn.is_empty() {
            out.push_str(&table("  ", &["NAME", "CDN URL"], &cdn));
        }
    }

    out.push_str("\nlive:\n");
    out.push_str(&live(&c.live));
    out
}

/// `off`, or how far back players may seek.
fn timeshift(secs: u64) -> String {
    match secs {
        0 => "off".to_string(),
        s => format!("{s} s"),
    }
}

/// `off`, or `USER:PASSWORD` (what goes into `http://USER:PASSWORD@host/…`).
fn auth(a: &InputAuthView) -> String {
    match (a.enabled, &a.username, &a.password) {
        (true, Some(u), Some(p)) => {
            let mut s = format!("{u}:{p}");
            if let Some(t) = a.previous_valid_until_unix_ms {
                let _ = write!(s, " (previous credentials valid until unix ms {t})");
            }
            s
        }
        _ => "off".into(),
    }
}

fn list_or_dash(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

fn live(l: &LiveView) -> String {
    let active = match &l.active_input {
        Some(role) => role.clone(),
        None => "none yet (no input has delivered a segment)".into(),
    };
    let mut out = kv("  ", &[("active input", active)]);
    let rows = l
        .inputs
        .iter()
        .map(|i| {
            vec![
                i.role.clone(),
                if i.health.is_empty() {
                    "-".into()
                } else {
                    i.health.clone()
                },
                if i.delivering { "delivering" } else { "idle" }.into(),
                i.last_segment_age_ms.map_or_else(|| "never".into(), age),
                i.bitrate_bps.map_or_else(|| "-".into(), bitrate),
                i.segments.to_string(),
                bytes(i.bytes),
                i.ingest_errors.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    out.push_str(&table(
        "  ",
        &[
            "INPUT",
            "HEALTH",
            "STATE",
            "LAST SEGMENT",
            "BITRATE",
            "SEGMENTS",
            "BYTES",
            "ERRORS",
        ],
        &rows,
    ));
    for i in &l.inputs {
        for e in &i.recent_errors {
            out.push_str(&format!(
                "  {} refused at {}: {} {} ({})\n",
                i.role,
                streampack_core::time::format_datetime(e.at_unix_ms),
                e.status,
                e.path,
                e.reason
            ));
        }
    }
    if !l.endpoints.is_empty() {
        let rows = l
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    e.name.clone(),
                    e.requests_per_sec
                        .map_or_else(|| "-".into(), |r| format!("{r:.1}/s")),
                    e.requests.to_string(),
                    bytes(e.bytes),
                ]
            })
            .collect::<Vec<_>>();
        out.push_str(&table(
            "  ",
            &["ENDPOINT", "REQUESTS", "TOTAL", "BYTES OUT"],
            &rows,
        ));
    }
    out.push_str(&kv(
        "  ",
        &[
            ("window segments", l.window_segments.to_string()),
            ("held bytes", bytes(l.held_bytes)),
            ("failovers", l.failovers.to_string()),
            (
                "inputs aligned",
                if l.inputs_aligned { "yes" } else { "no" }.into(),
            ),
            ("ended", if l.ended { "yes" } else { "no" }.into()),
        ],
    ));
    out
}

/// `cdn list`: the channel's domains, then each endpoint's CDN URLs.
pub fn cdn_list(c: &ChannelView) -> String {
    if c.cdn_domains.is_empty() {
        return format!(
            "no CDN domains: bind one with `streampackctl cdn bind {} DOMAIN`\n",
            c.name
        );
    }
    let mut out = String::new();
    for d in &c.cdn_domains {
        let _ = writeln!(out, "{d}");
    }
    let rows = c
        .endpoints
        .iter()
        .flat_map(|e| e.cdn_urls.iter().map(|u| vec![e.name.clone(), u.clone()]))
        .collect::<Vec<_>>();
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table("", &["ENDPOINT", "CDN URL"], &rows));
    }
    out
}

/// `endpoint list`: one row per endpoint.
pub fn endpoint_table(endpoints: &[EndpointView]) -> String {
    if endpoints.is_empty() {
        return "no endpoints: add one with \
                `streampackctl endpoint create CH --name NAME`\n"
            .to_string();
    }
    let rows = endpoints
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.name.clone(),
                e.kind.to_string(),
                e.manifest_name.clone(),
                e.url.clone(),
            ]
        })
        .collect::<Vec<_>>();
    table("", &["ID", "NAME", "TYPE", "MANIFEST", "URL"], &rows)
}

/// `endpoint show`/`create`/`edit`.
pub fn endpoint_detail(e: &EndpointView) -> String {
    kv(
        "",
        &[
            ("id", e.id.clone()),
            ("name", e.name.clone()),
            ("type", e.kind.to_string()),
            ("manifest name", e.manifest_name.clone()),
            ("url", e.url.clone()),
            ("channel id", e.channel_id.clone()),
            (
                "allow",
                if e.allow.is_empty() {
                    "everyone".into()
                } else {
                    e.allow.join(", ")
                },
            ),
            ("block", list_or_dash(&e.block)),
            ("auth keys", list_or_dash(&e.auth_keys)),
            (
                "low latency",
                if e.low_latency { "on" } else { "off" }.into(),
            ),
            ("encryption", encryption(e)),
            (
                "keys from",
                match (&e.key_server, e.encryption.is_on()) {
                    (_, false) => "-".into(),
                    (Some(url), true) => format!("key server {url} (SPEKE v2)"),
                    (None, true) => "the daemon's key store".into(),
                },
            ),
            (
                "ad markers",
                if e.inband_markers {
                    format!("{} + in-band emsg", e.ad_markers)
                } else {
                    e.ad_markers.to_string()
                },
            ),
            ("cdn urls", list_or_dash(&e.cdn_urls)),
        ],
    )
}

/// `channel splice`.
pub fn splice(s: &SpliceView) -> String {
    kv(
        "",
        &[
            ("channel id", s.channel_id.clone()),
            ("splice event id", s.event_id.to_string()),
            (
                "signal",
                match s.signal.as_str() {
                    "out" => "out of network (a break)".into(),
                    "in" => "return to network".into(),
                    other => other.into(),
                },
            ),
            ("at", s.at.clone()),
            (
                "duration",
                s.duration_secs.map_or("-".into(), |d| format!("{d:.3} s")),
            ),
            ("scte35", format!("0x{}", s.scte35_hex)),
        ],
    )
}

/// An endpoint's encryption and key rotation in words.
fn encryption(e: &EndpointView) -> String {
    match (e.encryption.is_on(), e.key_rotation_secs) {
        (false, _) => "none".into(),
        (true, 0) => format!("{} (one key)", e.encryption),
        (true, r) => format!(
            "{} (new key every {})",
            e.encryption,
            duration(u64::from(r))
        ),
    }
}

/// `endpoint keys`.
pub fn key_table(keys: &[KeyView]) -> String {
    if keys.is_empty() {
        return "no keys yet: the first is made when the endpoint's first segment is encrypted\n"
            .to_string();
    }
    let rows = keys
        .iter()
        .map(|k| vec![k.kid.clone(), k.key.clone(), k.from.clone()])
        .collect::<Vec<_>>();
    table("", &["KID", "KEY", "FROM"], &rows)
}

/// `status`.
pub fn status(s: &StatusView) -> String {
    kv(
        "",
        &[
            ("version", s.version.clone()),
            ("uptime", duration(s.uptime_secs)),
            ("io driver", s.io_driver.clone()),
            ("shards", s.shards.to_string()),
            ("channels", s.channels.to_string()),
            ("endpoints", s.endpoints.to_string()),
            ("connections", s.connections.to_string()),
            ("held bytes", bytes(s.held_bytes)),
            ("ingest url", s.ingest_url.clone()),
            ("pull url", s.pull_url.clone()),
            ("state dir", s.state_dir.clone()),
            (
                "metrics",
                s.metrics_url.clone().unwrap_or_else(|| "off".into()),
            ),
            (
                "access log",
                s.access_log.clone().unwrap_or_else(|| "off".into()),
            ),
            ("connections accepted", s.connections_accepted.to_string()),
            (
                "connections refused",
                format!("{} (by connection limit)", s.connections_refused),
            ),
            ("memory (rss)", bytes(s.rss_bytes)),
        ],
    )
}

/// `cluster status`.
pub fn cluster(c: &ClusterView) -> String {
    let etcd = if c.etcd_connected {
        format!("connected ({})", c.etcd.join(", "))
    } else {
        format!(
            "NOT connected ({}): {}",
            c.etcd.join(", "),
            c.etcd_error.as_deref().unwrap_or("unknown")
        )
    };
    let revision = c.config_revision.to_string();
    let mut out = kv(
        "",
        &[
            ("node", c.node.clone()),
            ("etcd", etcd),
            ("config revision", revision),
        ],
    );
    // Liveness as last seen: unknown while this node cannot reach etcd.
    let state = |alive| match (c.etcd_connected, alive) {
        (false, _) => "unknown",
        (true, true) => "alive",
        (true, false) => "DOWN",
    };
    let rows = c.nodes.iter().map(|n| {
        let inputs = if n.inputs.is_empty() {
            "-".to_string()
        } else {
            n.inputs.join(" ")
        };
        let cells = [&n.name, state(n.alive), &n.pull_url, &n.ingest_url, &inputs];
        cells.map(str::to_string).to_vec()
    });
    let header = ["NODE", "STATE", "PULL URL", "INGEST URL", "INPUTS"];
    out.push('\n');
    out.push_str(&table("", &header, &rows.collect::<Vec<_>>()));
    out
}

/// Columns padded to their widest cell, two spaces apart, no trailing blanks.
fn table(indent: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let head = header.iter().map(|h| h.to_string()).collect::<Vec<_>>();
    for row in std::iter::once(&head).chain(rows) {
        let mut line = indent.to_string();
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `key: value` lines with the values aligned.
fn kv(indent: &str, pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let key = format!("{k}:");
        let _ = writeln!(out, "{}", format!("{indent}{key:<width$} {v}").trim_end());
    }
    out
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use streampack_core::admin::proto::{
        EndpointLiveView, IngestErrorView, InputLiveView, InputView, StatusView,
    };
    use streampack_core::channel::{EndpointType, Protocol};

    pub(crate) const CH_ID: &str = "0123456789abcdef0123456789ab";

    /// A channel with one endpoint, the primary live and the backup silent.
    pub(crate) fn sample_channel() -> ChannelView {
        ChannelView {
            id: CH_ID.into(),
            name: "news".into(),
            protocol: Protocol::Hls,
            max_segment_duration: 6,
            max_playlist_duration: 600,
            description: "Studio A".into(),
            inputs: vec![
                InputView {
                    id: "aaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
                    role: "primary".into(),
                    url: format!("http://10.0.0.1:8080/v1/{CH_ID}/aaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                    auth: InputAuthView {
                        enabled: true,
                        username: Some("enc-01020304".into()),
                        password: Some("00112233445566778899aabbccddeeff".into()),
                        previous_valid_until_unix_ms: None,
                    },
                },
                InputView {
                    id: "bbbbbbbbbbbbbbbbbbbbbbbbbbbb".into(),
                    role: "backup".into(),
                    url: format!("http://10.0.0.1:8080/v1/{CH_ID}/bbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
                    auth: InputAuthView::default(),
                },
            ],
            endpoints: vec![sample_endpoint()],
            cdn_domains: vec![],
            manifest_ttl: 1,
            segment_ttl: 600,
            end_on_endlist: false,
            timeshift_window_secs: 0,
            live: LiveView {
                active_input: Some("primary".into()),
                inputs: vec![
                    InputLiveView {
                        role: "primary".into(),
                        last_segment_age_ms: Some(1234),
                        segments: 42,
                        bytes: 12_900_000,
                        health: "healthy".into(),
                        bitrate_bps: Some(896_000),
                        ingest_errors: 1,
                        delivering: true,
                        recent_errors: vec![IngestErrorView {
                            at_unix_ms: 1_767_225_600_000,
                            status: 401,
                            reason: "wrong credentials for this input".into(),
                            path: "main.m3u8".into(),
                        }],
                    },
                    InputLiveView {
                        role: "backup".into(),
                        last_segment_age_ms: None,
                        segments: 0,
                        bytes: 0,
                        health: "never".into(),
                        bitrate_bps: None,
                        ingest_errors: 0,
                        delivering: false,
                        recent_errors: vec![],
                    },
                ],
                window_segments: 100,
                held_bytes: 3 * 1024 * 1024,
                failovers: 2,
                ended: false,
                inputs_aligned: false,
                endpoints: vec![EndpointLiveView {
                    id: "cccccccccccccccccccccccccccc".into(),
                    name: "web".into(),
                    requests_per_sec: Some(12.34),
                    requests: 1500,
                    bytes: 5 * 1024 * 1024,
                }],
            },
        }
    }

    pub(crate) fn sample_endpoint() -> EndpointView {
        EndpointView {
            id: "cccccccccccccccccccccccccccc".into(),
            name: "web".into(),
            kind: EndpointType::Hls,
            manifest_name: "main".into(),
            url: format!("http://10.0.0.1:8081/v1/{CH_ID}/cccccccccccccccccccccccccccc/main.m3u8"),
            channel_id: CH_ID.into(),
            allow: vec!["10.0.0.0/8".into()],
            block: vec![],
            auth_keys: vec![],
            low_latency: false,
            encryption: Default::default(),
            key_rotation_secs: 0,
            key_server: None,
            ad_markers: Default::default(),
            inband_markers: false,
            cdn_urls: vec![],
        }
    }

    #[test]
    fn channel_list_is_aligned() {
        let mut other = sample_channel();
        other.id = "ffffffffffffffffffffffffffff".into();
        other.name = "a-much-longer-name".into();
        other.protocol = Protocol::Dash;
        other.max_playlist_duration = 86_400;
        other.endpoints.clear();
        other.live = LiveView::default();
        let got = channel_table(&[sample_channel(), other]);
        let want = "\
ID                            NAME                PROTOCOL  SEG  WINDOW  ENDPOINTS  ACTIVE
0123456789abcdef0123456789ab  news                hls       6s   600s    1          primary
ffffffffffffffffffffffffffff  a-much-longer-name  dash      6s   86400s  0          -
";
        assert_eq!(got, want);
    }

    #[test]
    fn channel_detail_shows_inputs_endpoints_and_live_state() {
        let got = channel_detail(&sample_channel());
        let want = format!(
            "\
id:                    {CH_ID}
name:                  news
protocol:              hls
max segment duration:  6 s
max playlist duration: 600 s
description:           Studio A
playlist TTL:          1 s
segment TTL:           600 s
encoder end of stream: stays live (waits for the encoder)
time-shift window:     off
CDN domains:           -

inputs (encoders push to <url>/<file>):
  ROLE     ID                            URL                                                                                AUTH
  primary  aaaaaaaaaaaaaaaaaaaaaaaaaaaa  http://10.0.0.1:8080/v1/{CH_ID}/aaaaaaaaaaaaaaaaaaaaaaaaaaaa  enc-01020304:00112233445566778899aabbccddeeff
  backup   bbbbbbbbbbbbbbbbbbbbbbbbbbbb  http://10.0.0.1:8080/v1/{CH_ID}/bbbbbbbbbbbbbbbbbbbbbbbbbbbb  off

endpoints:
  NAME  TYPE  URL
  web   hls   http://10.0.0.1:8081/v1/{CH_ID}/cccccccccccccccccccccccccccc/main.m3u8

live:
  active input: primary
  INPUT    HEALTH   STATE       LAST SEGMENT  BITRATE     SEGMENTS  BYTES     ERRORS
  primary  healthy  delivering  1.2 s ago     896 kbit/s  42        12.3 MiB  1
  backup   never    idle        never         -           0         0 B       0
  primary refused at 2026-01-01T00:00:00.000Z: 401 main.m3u8 (wrong credentials for this input)
  ENDPOINT  REQUESTS  TOTAL  BYTES OUT
  web       12.3/s    1500   5.0 MiB
  window segments: 100
  held bytes:      3.0 MiB
  failovers:       2
  inputs aligned:  no
  ended:           no
"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn channel_detail_shows_the_timeshift_window_in_seconds() {
        let mut c = sample_channel();
        c.timeshift_window_secs = 3600;
        let got = channel_detail(&c);
        assert!(got.contains("\ntime-shift window:     3600 s\n"), "{got}");
    }

    #[test]
    fn cdn_list_prints_domains_and_urls() {
        let mut c = sample_channel();
        assert!(cdn_list(&c).contains("streampackctl cdn bind news DOMAIN"));
        c.cdn_domains = vec!["live.example.com".into()];
        c.endpoints[0].cdn_urls = vec![format!(
            "http://live.example.com/v1/{CH_ID}/cccccccccccccccccccccccccccc/main.m3u8"
        )];
        let out = cdn_list(&c);
        assert!(out.starts_with("live.example.com\n"), "{out}");
        assert!(
            out.contains("web       http://live.example.com/v1/"),
            "{out}"
        );
        let detail = endpoint_detail(&c.endpoints[0]);
        assert!(
            detail.contains("cdn urls:") && detail.contains("live.example.com"),
            "{detail}"
        );
        assert!(
            detail.contains("allow:") && detail.contains("10.0.0.0/8"),
            "{detail}"
        );
    }

    #[test]
    fn a_fresh_channel_says_what_to_do_next() {
        let mut c = sample_channel();
        c.endpoints.clear();
        c.description.clear();
        c.live = LiveView::default();
        let got = channel_detail(&c);
        assert!(got.contains("description:           -\n"), "{got}");
        assert!(
            got.contains("  none: add one with `streampackctl endpoint create news --name NAME`"),
            "{got}"
        );
        assert!(got.contains("active input: none yet"), "{got}");
        assert!(
            !got.lines().any(|l| l.ends_with(' ')),
            "trailing blanks:\n{got}"
        );
    }

    #[test]
    fn endpoint_views() {
        let e = sample_endpoint();
        assert_eq!(
            endpoint_table(std::slice::from_ref(&e)),
            format!(
                "ID                            NAME  TYPE  MANIFEST  URL\n\
                 cccccccccccccccccccccccccccc  web   hls   main      {}\n",
                e.url
            )
        );
        let detail = endpoint_detail(&e);
        assert!(detail.starts_with("id:            cccc"), "{detail}");
        assert!(
            detail.contains(&format!("url:           {}\n", e.url)),
            "{detail}"
        );
        assert!(
            detail.contains(&format!("channel id:    {CH_ID}\n")),
            "{detail}"
        );
        assert!(endpoint_table(&[]).starts_with("no endpoints"));
    }

    #[test]
    fn status_shows_metrics_access_log_and_connections() {
        let s = StatusView {
            version: "0.1.0".into(),
            uptime_secs: 3725,
            io_driver: "epoll".into(),
            shards: 2,
            channels: 1,
            endpoints: 2,
            connections: 3,
            held_bytes: 5 << 20,
            ingest_url: "http://127.0.0.1:8081".into(),
            pull_url: "http://127.0.0.1:8080".into(),
            state_dir: "/var/lib/streampack".into(),
            metrics_url: Some("http://127.0.0.1:9464/metrics".into()),
            access_log: None,
            connections_accepted: 120,
            connections_refused: 4,
            rss_bytes: 24 << 20,
            auth_key_header: "X-TENCENT-PACKAGE".into(),
        };
        let got = status(&s);
        for want in [
            "uptime:               1 h 2 min\n",
            "metrics:              http://127.0.0.1:9464/metrics\n",
            "access log:           off\n",
            "connections accepted: 120\n",
            "connections refused:  4 (by connection limit)\n",
            "memory (rss):         24.0 MiB\n",
        ] {
            assert!(got.contains(want), "{want:?} missing in:\n{got}");
        }
        assert_eq!(bitrate(999), "999 bit/s");
        assert_eq!(bitrate(896_000), "896 kbit/s");
        assert_eq!(bitrate(2_450_000), "2.4 Mbit/s");
    }

    #[test]
    fn units() {
        let ages = [
            (0, "0.0 s ago"),
            (1234, "1.2 s ago"),
            (59_999, "59.9 s ago"),
            (60_000, "1 min 0 s ago"),
            (3_725_000, "1 h 2 min ago"),
        ];
        for (ms, want) in ages {
            assert_eq!(age(ms), want, "{ms}");
        }
        let sizes = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (1024 * 1024 - 1, "1023.9 KiB"),
            (5 * 1024 * 1024 * 1024, "5.0 GiB"),
            (u64::MAX, "15.9 EiB"),
        ];
        for (n, want) in sizes {
            assert_eq!(bytes(n), want, "{n}");
        }
        assert_eq!(duration(2 * 86_400 + 3600), "2 d 1 h");
        assert_eq!(duration(42), "42 s");
    }
}
