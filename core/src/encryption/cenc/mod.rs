//! Common Encryption (ISO/IEC 23001-7) of CMAF tracks: init segments declared protected
//! ([`init`]: `encv`/`enca` with `sinf`/`frma`/`schm`/`tenc`, a `pssh`) and media segments
//! encrypted sample by sample ([`segment`]: `senc`/`saiz`/`saio`, video NAL units as
//! subsamples with their headers clear), in one of two schemes:
//!
//! - `cenc`: AES-128-CTR, an 8-byte IV per sample; the protected bytes of a sample's
//!   subsamples are one key stream.
//! - `cbcs`: AES-128-CBC with a constant IV restarted at each subsample, video in a 1:9
//!   pattern (one block encrypted, nine clear), audio every whole block; a trailing partial
//!   block stays clear.

pub mod init;
pub mod segment;

pub use init::{encrypt_init, TrackCrypto};
pub use segment::{encrypt_segment, SegmentKey};

/// Which Common Encryption scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// AES-CTR, full-sample or subsample (`cenc`).
    Cenc,
    /// AES-CBC with a pattern and a constant IV (`cbcs`).
    Cbcs,
}

impl Scheme {
    /// The Common Encryption scheme of an endpoint's encryption setting, if it is one.
    pub fn of(e: crate::channel::config::Encryption) -> Option<Scheme> {
        use crate::channel::config::Encryption;
        match e {
            Encryption::Cenc => Some(Scheme::Cenc),
            Encryption::Cbcs => Some(Scheme::Cbcs),
            _ => None,
        }
    }

    /// The `schm` scheme type.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Scheme::Cenc => *b"cenc",
            Scheme::Cbcs => *b"cbcs",
        }
    }

    /// Bytes of IV per sample in `senc` (`cbcs`: none, the constant IV is in `tenc`).
    pub fn per_sample_iv_size(self) -> usize {
        match self {
            Scheme::Cenc => 8,
            Scheme::Cbcs => 0,
        }
    }
}

/// The constant IV of `cbcs` content encrypted with `key`: derived from the key id, so the
/// init segment and every media segment agree without storing it.
pub fn constant_iv(kid: &[u8; 16]) -> [u8; 16] {
    let mut iv = *kid;
    iv.reverse();
    iv
}

/// The ClearKey / W3C Common PSSH system id (`1077efec-c0b2-4d02-ace3-3c1e52e2fb4b`): a
/// `pssh` of this system lists the key ids, which a browser's ClearKey CDM asks keys for.
pub const COMMON_SYSTEM_ID: [u8; 16] = [
    0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
];

/// The DASH ClearKey system id (`e2719d58-a985-b3c9-781a-b030af78d30e`).
pub const CLEARKEY_SYSTEM_ID: &str = "e2719d58-a985-b3c9-781a-b030af78d30e";

/// Why a CMAF object could not be encrypted (it is then not published).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CencError {
    /// Not boxes, or boxes cut short.
    #[error("not an fMP4 object: {0}")]
    Boxes(#[from] crate::fmp4::BoxError),
    /// Something the encryptor does not handle, named.
    #[error("{0}")]
    Unsupported(String),
}

/// A key id as the UUID text DASH uses (`cenc:default_KID`).
pub fn kid_uuid(kid: &[u8; 16]) -> String {
    let h = crate::hex::encode(kid);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests;
