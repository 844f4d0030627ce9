//! Which parked pulls a change concerns. A low-latency channel changes with every chunk of
//! every track (a part of each rendition every half second); a pull parked on one rendition's
//! playlist needs waking only when that rendition changed. Tracks are spread over
//! [`WAKE_KEYS`] keys by name; a change of the whole output (a segment stored, an MPD, a
//! switch) wakes them all.

/// How many keys parked pulls are spread over (tracks sharing one only wake each other
/// needlessly: never wrongly).
pub const WAKE_KEYS: usize = 16;

/// The key of the track named `track` in the output (`v0`, the folder of its segments and the
/// stem of its LL-HLS playlist).
pub fn wake_key(track: &str) -> u8 {
    // FNV-1a: stable across runs and builds, so the owner and the pulls always agree.
    let h = track.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (h % WAKE_KEYS as u32) as u8
}

/// Whom a change wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// Nobody: nothing changed.
    Nobody,
    /// The pulls parked on this key's tracks.
    Track(u8),
    /// Every parked pull.
    Everyone,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_spread() {
        assert_eq!(wake_key("v0"), wake_key("v0"));
        let keys: std::collections::HashSet<u8> = ["v0", "v1", "v2", "a0", "a1", "t0"]
            .iter()
            .map(|t| wake_key(t))
            .collect();
        assert!(keys.len() >= 4, "{keys:?}");
        assert!(keys.iter().all(|&k| usize::from(k) < WAKE_KEYS));
    }
}
