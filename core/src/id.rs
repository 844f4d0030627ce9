//! Object ids: 28 lowercase hexadecimal characters (14 random bytes), as the seed service uses.
//!
//! The core does not draw random numbers; the daemon passes the bytes in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of an id in characters.
pub const ID_LEN: usize = 28;

/// A 28-character lowercase hex id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id([u8; ID_LEN]);

impl Id {
    /// Builds an id from 14 random bytes.
    pub fn from_random(bytes: [u8; ID_LEN / 2]) -> Id {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; ID_LEN];
        for (i, b) in bytes.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        Id(out)
    }

    /// Parses an id; `None` unless it is exactly 28 lowercase hex characters.
    pub fn parse(s: &str) -> Option<Id> {
        let b = s.as_bytes();
        if b.len() != ID_LEN || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; ID_LEN];
        out.copy_from_slice(b);
        Some(Id(out))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// A stable 64-bit hash of the id, used to pick the owning shard.
    pub fn hash64(&self) -> u64 {
        fnv1a64(&self.0)
    }
}

/// FNV-1a, 64 bits: stable across runs and builds, unlike std's RandomState.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.as_str())
    }
}

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(s: String) -> Result<Id, String> {
        Id::parse(&s)
            .ok_or_else(|| format!("invalid id {s:?}: expected 28 lowercase hex characters"))
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.as_str().to_owned()
    }
}

/// Which owner shard (0..shards) a channel belongs to.
pub fn shard_for(id: &Id, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    (id.hash64() % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_render_as_lowercase_hex() {
        let id = Id::from_random([0xab; 14]);
        assert_eq!(id.as_str(), "abababababababababababababab");
        assert_eq!(Id::parse(id.as_str()), Some(id));
    }

    #[test]
    fn parse_rejects_wrong_shapes() {
        for bad in [
            "",
            "abc",
            "ABABABABABABABABABABABABABAB",
            "zbababababababababababababab",
            "abababababababababababababab0",
        ] {
            assert_eq!(Id::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn serde_round_trip_and_rejects_bad_ids() {
        let id = Id::from_random([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<Id>(&json).unwrap(), id);
        assert!(serde_json::from_str::<Id>("\"nope\"").is_err());
    }

    #[test]
    fn shard_is_stable_and_in_range() {
        let id = Id::from_random([7; 14]);
        for n in 1..9 {
            let s = shard_for(&id, n);
            assert!(s < n);
            assert_eq!(s, shard_for(&id, n));
        }
    }
}
