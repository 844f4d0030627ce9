//! The clock reading callers pass into the core. The core never reads a clock itself, so
//! time-based behaviour (window sliding, timeouts, failover) is tested deterministically.

/// A reading of both clocks, taken once by the caller.
///
/// `mono_ms` drives durations and timeouts (it never jumps); `unix_ms` is only used for what a
/// client sees as wall-clock time (`Last-Modified`, sequence-number seeding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Now {
    /// Milliseconds on a monotonic clock with an arbitrary origin.
    pub mono_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl Now {
    /// A reading `ms` milliseconds later on both clocks (handy in tests).
    pub fn plus_ms(self, ms: u64) -> Now {
        Now {
            mono_ms: self.mono_ms.saturating_add(ms),
            unix_ms: self.unix_ms.saturating_add(ms),
        }
    }
}
