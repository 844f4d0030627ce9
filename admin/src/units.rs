//! Numbers in words for people: bit rates, ages, durations, byte counts.

/// Bits per second: `812 kbit/s`, `2.4 Mbit/s`.
pub fn bitrate(bps: u64) -> String {
    if bps < 1_000 {
        format!("{bps} bit/s")
    } else if bps < 1_000_000 {
        format!("{} kbit/s", bps / 1_000)
    } else {
        let tenths = bps / 100_000;
        format!("{}.{} Mbit/s", tenths / 10, tenths % 10)
    }
}

/// How long ago, from milliseconds: `1.2 s ago` under a minute, coarser beyond.
pub fn age(ms: u64) -> String {
    if ms < 60_000 {
        let tenths = ms / 100;
        format!("{}.{} s ago", tenths / 10, tenths % 10)
    } else {
        format!("{} ago", duration(ms / 1000))
    }
}

/// A span in seconds, in its two largest units: `42 s`, `5 min 3 s`, `2 h 0 min`, `3 d 4 h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {s} s")
    } else {
        format!("{s} s")
    }
}

/// A byte count in binary units with one decimal, rounded down: `512 B`, `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut scale: u128 = 1024;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if u128::from(n) < scale * 1024 {
            break;
        }
        scale *= 1024;
        unit = u;
    }
    let tenths = u128::from(n) * 10 / scale;
    format!("{}.{} {unit}", tenths / 10, tenths % 10)
}
