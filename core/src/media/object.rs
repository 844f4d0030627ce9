//! The objects every output serves: rendered manifests, media objects with their headers, and
//! what a pull path resolves to.

use bytes::Bytes;
use std::any::Any;
use std::sync::{Arc, OnceLock};

use crate::http::prepared::PreparedHeads;

/// The memory a pushed body's bytes live in, opaque to the core: the caller hands it in with
/// the body ([`super::Media::put_body`]) and finds it again on the [`MediaObject`] it serves,
/// to send those bytes without copying them (the daemon keeps segments in page-backed memory
/// the kernel can splice from).
pub type Backing = Arc<dyn Any + Send + Sync>;

/// A pushed object: its bytes and, when the caller gave one, their [`Backing`].
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// The bytes as pushed.
    pub bytes: Bytes,
    /// What holds them, for the caller's own use.
    pub backing: Option<Backing>,
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body {
            bytes,
            backing: None,
        }
    }
}

/// A rendered manifest (playlist or MPD).
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The manifest text.
    pub body: Bytes,
    /// Quoted strong `ETag`; changes whenever the body does.
    pub etag: String,
    /// Unix milliseconds when this body was first rendered.
    pub last_modified_unix_ms: u64,
    /// Its answer heads, rendered by the first pull that asks (shared by the clones a
    /// republished unchanged manifest makes).
    pub heads: Arc<OnceLock<PreparedHeads>>,
}

impl Rendered {
    /// A new version of a manifest, its heads not rendered yet.
    pub fn new(body: Bytes, etag: String, last_modified_unix_ms: u64) -> Rendered {
        Rendered {
            body,
            etag,
            last_modified_unix_ms,
            heads: Arc::default(),
        }
    }
}

/// A segment or init segment, served as pushed.
#[derive(Debug)]
pub struct MediaObject {
    /// The bytes the encoder pushed (shared, never copied).
    pub body: Bytes,
    /// The memory `body` lives in, when it was pushed with one; `None` for what the core
    /// produced itself (repackaged segments).
    pub backing: Option<Backing>,
    /// `Content-Type` from the extension.
    pub content_type: &'static str,
    /// Quoted strong `ETag`.
    pub etag: String,
    /// Unix milliseconds when it was published.
    pub last_modified_unix_ms: u64,
}

/// One published media segment.
#[derive(Debug, Clone)]
pub struct SegmentEntry {
    /// Output sequence number (`<seq>.<ext>`).
    pub seq: u64,
    /// Extension in the URI.
    pub ext: &'static str,
    /// Duration, milliseconds.
    pub duration_ms: u64,
    /// The object.
    pub object: Arc<MediaObject>,
}

/// One init segment (`init<k>.<ext>`).
#[derive(Debug, Clone)]
pub struct InitEntry {
    /// Increments when the init content changes.
    pub k: u64,
    /// Extension in the URI.
    pub ext: &'static str,
    /// The object.
    pub object: Arc<MediaObject>,
}

/// What a pull path of an output resolves to.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A manifest (playlist or MPD) and its `Content-Type`.
    Manifest(&'a Rendered, &'static str),
    /// A segment or init segment.
    Object(&'a MediaObject),
    /// Nothing there (404).
    NotFound,
}

/// Parses a canonical decimal number in a URL (no sign, no leading zeros): one spelling per
/// object, so one CDN cache entry.
pub(crate) fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Strong etags unique across daemon restarts: a seed from the wall clock plus a counter,
/// after a prefix that keeps each output's etags apart (HLS `""`, DASH `"d"`, CMAF `"c"`).
#[derive(Debug)]
pub(crate) struct EtagGen {
    prefix: &'static str,
    seed: u64,
    n: u64,
}

impl EtagGen {
    /// Etags of an output created at `now`.
    pub(crate) fn new(prefix: &'static str, now: crate::time::Now) -> EtagGen {
        EtagGen {
            prefix,
            seed: now.unix_ms,
            n: 0,
        }
    }

    pub(crate) fn next(&mut self) -> String {
        self.n = self.n.wrapping_add(1);
        format!("\"{}{:x}-{:x}\"", self.prefix, self.seed, self.n)
    }

    /// `prev` when `text` is what it holds (same etag), else a new render of `text` at
    /// `unix_ms`.
    pub(crate) fn reuse_or_render(
        &mut self,
        prev: Option<&Rendered>,
        text: String,
        unix_ms: u64,
    ) -> Rendered {
        match prev {
            Some(p) if p.body == text.as_bytes() => p.clone(),
            _ => Rendered::new(Bytes::from(text), self.next(), unix_ms),
        }
    }
}
