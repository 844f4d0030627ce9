//! How an endpoint's media may be encrypted (the settings; the work is in
//! [`crate::encryption`]).

use serde::{Deserialize, Serialize};
use std::fmt;

/// How an endpoint's media is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encryption {
    /// Clear.
    #[default]
    #[serde(rename = "none")]
    None,
    /// HLS: whole TS segments in AES-128-CBC with PKCS7 padding (`METHOD=AES-128`).
    #[serde(rename = "aes-128")]
    Aes128,
    /// HLS: Apple's SAMPLE-AES for TS (the samples of each elementary stream).
    #[serde(rename = "sample-aes")]
    SampleAes,
    /// CMAF: Common Encryption `cenc` (AES-CTR).
    #[serde(rename = "cenc")]
    Cenc,
    /// CMAF: Common Encryption `cbcs` (AES-CBC with a 1:9 pattern).
    #[serde(rename = "cbcs")]
    Cbcs,
}

impl Encryption {
    /// Every scheme, as the CLI offers them.
    pub const ALL: [Encryption; 5] = [
        Encryption::None,
        Encryption::Aes128,
        Encryption::SampleAes,
        Encryption::Cenc,
        Encryption::Cbcs,
    ];

    /// The name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::None => "none",
            Encryption::Aes128 => "aes-128",
            Encryption::SampleAes => "sample-aes",
            Encryption::Cenc => "cenc",
            Encryption::Cbcs => "cbcs",
        }
    }

    /// Parses a name of [`Encryption::as_str`].
    pub fn parse(s: &str) -> Option<Encryption> {
        Encryption::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Whether media is encrypted at all.
    pub fn is_on(self) -> bool {
        self != Encryption::None
    }
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest key rotation period, seconds (7 days).
pub const MAX_KEY_ROTATION_SECS: u32 = 604_800;
