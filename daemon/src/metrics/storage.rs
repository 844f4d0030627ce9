//! The time-shift store's families: bytes and segments archived (daemon-wide and per
//! channel), the cap, writes, failures, drops and removals.

use std::sync::atomic::Ordering::Relaxed;

use super::expo::{Kind, Value, Writer};
use crate::context::Shared;
use crate::storage;

/// Writes the store's families.
pub fn render(shared: &Shared, w: &mut Writer) {
    let s = &shared.storage;
    let st = &s.stats;
    let gauges: [(&str, &str, u64); 4] = [
        (
            "streampack_timeshift_bytes",
            "Bytes of media in the time-shift archives on disk, all channels.",
            st.bytes.load(Relaxed),
        ),
        (
            "streampack_timeshift_segments",
            "Segments in the time-shift archives, all channels and tracks.",
            st.segments.load(Relaxed),
        ),
        (
            "streampack_timeshift_max_bytes",
            "storage.max_bytes: the cap on archived bytes (0: none but the disk).",
            s.max_bytes,
        ),
        (
            "streampack_timeshift_disk_full",
            "1 when the last archive write failed for lack of space (live serving goes on).",
            u64::from(st.disk_full.load(Relaxed)),
        ),
    ];
    for (name, help, v) in gauges {
        w.family(name, Kind::Gauge, help);
        w.sample(name, &[], Value::Int(v));
    }
    let counters: [(&str, &str, u64); 3] = [
        (
            "streampack_timeshift_objects_written_total",
            "Segments and init segments written to the time-shift archives.",
            st.written.load(Relaxed),
        ),
        (
            "streampack_timeshift_write_errors_total",
            "Objects that could not be archived (disk full, I/O error); they stayed live.",
            st.write_errors.load(Relaxed),
        ),
        (
            "streampack_timeshift_dropped_total",
            "Objects not archived because the archive writer fell behind.",
            st.dropped.load(Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        w.family(name, Kind::Counter, help);
        w.sample(name, &[], Value::Int(v));
    }
    let name = "streampack_timeshift_expired_segments_total";
    w.family(
        name,
        Kind::Counter,
        "Archived segments removed, by reason: window (left the channel's window) or cap (oldest first, over storage.max_bytes).",
    );
    w.sample(
        name,
        &[("reason", "window")],
        Value::Int(st.expired_window.load(Relaxed)),
    );
    w.sample(
        name,
        &[("reason", "cap")],
        Value::Int(st.expired_cap.load(Relaxed)),
    );
    let name = "streampack_timeshift_channel_bytes";
    w.family(
        name,
        Kind::Gauge,
        "Bytes of media in a channel's time-shift archive.",
    );
    let reg = shared.registry.load();
    let mut rows: Vec<(String, String, u64)> = reg
        .channels
        .values()
        .filter_map(|e| {
            let a = s.archive(&e.config.id)?;
            let bytes = storage::read(&a).bytes();
            Some((e.config.name.clone(), e.config.id.to_string(), bytes))
        })
        .collect();
    rows.sort();
    for (name_label, id, bytes) in &rows {
        w.sample(
            name,
            &[("channel", id), ("channel_name", name_label)],
            Value::Int(*bytes),
        );
    }
}
