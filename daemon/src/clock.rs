//! The one place the daemon reads clocks, to hand `Now` to the core.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use streampack_core::time::Now;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Reads both clocks.
pub fn now() -> Now {
    let mono_ms = u64::try_from(origin().elapsed().as_millis()).unwrap_or(u64::MAX);
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Now { mono_ms, unix_ms }
}

/// Converts a monotonic reading taken earlier into an age in milliseconds.
pub fn age_ms(then_mono_ms: u64) -> u64 {
    now().mono_ms.saturating_sub(then_mono_ms)
}

/// Unix time in whole seconds.
pub fn unix_secs() -> i64 {
    i64::try_from(now().unix_ms / 1000).unwrap_or(i64::MAX)
}
