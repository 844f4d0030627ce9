//! Content encryption, done once when media is packaged, never per request: an encrypted
//! endpoint serves an [`EncryptedOutput`], built by its endpoint's [`Encryptor`] from the
//! channel's clear output each time that output is published. Its objects are encrypted
//! copies made once per segment (pulls send them without copying, like clear ones), its
//! manifests the clear ones with the key tags added.
//!
//! Keys come from a [`KeySource`] the caller provides (the daemon's key store: random keys
//! kept in the state directory), one per rotation period; a segment whose key cannot be had is
//! not published, and nothing after it: clear media is never announced as encrypted.
//!
//! - [`aes128`]: HLS `METHOD=AES-128`, whole TS segments in AES-128-CBC with PKCS7 padding.
//! - [`playlist`]: HLS media playlists with their `EXT-X-KEY` tags.

pub mod aes128;
pub mod cenc;
pub mod cipher;
pub mod clearkey;
pub mod cpix;
pub mod encryptor;
pub mod keys;
pub mod mpd;
pub mod output;
pub mod periods;
pub mod playlist;
pub mod sample_aes;

pub use encryptor::Encryptor;
pub use keys::{ContentKey, KeySource, KEY_DIR};
pub use output::EncryptedOutput;

#[cfg(test)]
mod tests;
