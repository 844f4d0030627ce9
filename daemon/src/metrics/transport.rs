//! Transport families: TLS handshakes by listener and result, the certificate's remaining
//! validity, HTTP/2 connections and streams.

use super::expo::{Kind, Value, Writer};
use super::Listener;
use crate::context::Shared;

/// Writes the transport families (TLS ones only when TLS is configured).
pub fn render(shared: &Shared, w: &mut Writer) {
    let m = &shared.metrics;
    if let Some(tls) = &shared.tls {
        let name = "streampack_tls_certificate_expiry_seconds";
        w.family(
            name,
            Kind::Gauge,
            "Seconds until the TLS certificate's notAfter (negative once expired).",
        );
        let left = tls.seconds_left(crate::clock::unix_secs());
        w.sample(name, &[], Value::Float(left as f64));
        let name = "streampack_tls_handshakes_total";
        w.family(
            name,
            Kind::Counter,
            "TLS handshakes by listener and result (ok, failed: garbage, wrong protocol, timeouts).",
        );
        for l in Listener::ALL {
            for (ok, result) in [(true, "ok"), (false, "failed")] {
                w.sample(
                    name,
                    &[("listener", l.name()), ("result", result)],
                    Value::Int(m.tls_handshakes(l, ok)),
                );
            }
        }
    }
    let (conns, streams) = m.http2_counts();
    let name = "streampack_http2_connections_total";
    w.family(
        name,
        Kind::Counter,
        "HTTP/2 connections set up on pull (TLS ALPN h2 and h2c).",
    );
    w.sample(name, &[], Value::Int(conns));
    let name = "streampack_http2_streams_total";
    w.family(
        name,
        Kind::Counter,
        "Streams (requests) opened on HTTP/2 connections.",
    );
    w.sample(name, &[], Value::Int(streams));
}
