//! Content keys and their rotation periods.

use crate::time::format_datetime;

/// Folder of an endpoint's key URLs: `<endpoint>/keys/<kid>.key`.
pub const KEY_DIR: &str = "keys";

/// One content key: what encrypts an endpoint's segments during one rotation period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentKey {
    /// Key id (CENC `KID`; HLS: the name of its key URL).
    pub kid: [u8; 16],
    /// The AES-128 key.
    pub key: [u8; 16],
    /// Its rotation period: segments starting in `[period × rotation, (period + 1) × rotation)`
    /// seconds of Unix time use it (0 without rotation).
    pub period: u64,
}

impl ContentKey {
    /// The key id in lowercase hex (32 characters): the file name of its key URL.
    pub fn kid_hex(&self) -> String {
        crate::hex::encode(&self.kid)
    }

    /// The key in lowercase hex.
    pub fn key_hex(&self) -> String {
        crate::hex::encode(&self.key)
    }
}

/// A DRM system's signalling for a key, as a key server returned it: its `pssh` box, or
/// (FairPlay) the URI of its HLS key tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPssh {
    /// The key it is for.
    pub kid: [u8; 16],
    /// The DRM system's id (UUID text, lowercase).
    pub system_id: String,
    /// The whole `pssh` box (empty for systems without one: FairPlay).
    pub pssh: Vec<u8>,
    /// FairPlay: its whole `EXT-X-KEY` line (`URI="skd://…"`,
    /// `KEYFORMAT="com.apple.streamingkeydelivery"`), as the key server signalled it.
    pub hls_key_tag: Option<String>,
}

/// Where an endpoint's keys come from, one per rotation period (the daemon: its key store).
pub trait KeySource {
    /// The key of `period`, which starts at `from_unix_ms` (made, or fetched, when it has
    /// none yet); `None` when no key can be had now: media of that period waits.
    fn key(&mut self, period: u64, from_unix_ms: u64) -> Option<ContentKey>;

    /// Other DRM systems' `pssh` boxes for key `kid` (a key server's; none by default).
    fn drm_pssh(&mut self, kid: &[u8; 16]) -> Vec<SystemPssh> {
        let _ = kid;
        Vec::new()
    }

    /// Why a key [`KeySource::key`] did not give is missing, for players held back.
    fn why_missing(&self) -> String {
        "this endpoint's content key is not available yet".into()
    }
}

/// The rotation period a segment starting at `start_unix_ms` belongs to (0 without rotation).
pub fn period_of(start_unix_ms: u64, rotation_secs: u32) -> u64 {
    match u64::from(rotation_secs) * 1000 {
        0 => 0,
        ms => start_unix_ms / ms,
    }
}

/// When `period` starts, Unix ms (0 without rotation: the key has always been in use).
pub fn period_start_unix_ms(period: u64, rotation_secs: u32) -> u64 {
    period.saturating_mul(u64::from(rotation_secs) * 1000)
}

/// RFC 3339 time a key is used from (`KeyView::from`).
pub fn from_rfc3339(period: u64, rotation_secs: u32) -> String {
    format_datetime(period_start_unix_ms(period, rotation_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_cut_unix_time_into_rotation_slices() {
        let table = [
            (0, 0, 0),
            (1_800_000_123_456, 0, 0),
            (1_800_000_000_000, 10, 180_000_000),
            (1_800_000_009_999, 10, 180_000_000),
            (1_800_000_010_000, 10, 180_000_001),
        ];
        for (start, rotation, period) in table {
            assert_eq!(period_of(start, rotation), period, "{start} / {rotation}");
            assert!(period_start_unix_ms(period, rotation) <= start);
        }
        assert_eq!(from_rfc3339(180_000_001, 10), "2027-01-15T08:00:10.000Z");
        assert_eq!(from_rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
    }
}
