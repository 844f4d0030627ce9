//! The objects every output serves: rendered manifests, media objects with their headers, and
//! what a pull path resolves to.

use bytes::Bytes;
use std::any::Any;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// Manifests kept by path with their content types, as [`super::MediaOutput::manifests`]
/// lists them: by path, in order.
pub fn listed_manifests<'a>(
    map: &'a std::collections::HashMap<String, (Rendered, &'static str)>,
) -> Vec<(String, &'a Rendered)> {
    let mut out: Vec<(String, &Rendered)> = map.iter().map(|(p, (r, _))| (p.clone(), r)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Smallest object that is ever given a sending form of its own ([`super::Media::promote_hot`]):
/// below it, making one costs more than the copies it saves.
pub const PROMOTE_MIN_BYTES: usize = 64 * 1024;

/// How many pulls of an object of `len` bytes make a sending form of its own pay, `None` for
/// objects that never get one. Measured on the daemon's page mappings (`docs/performance.md`):
/// making one costs ~0.5 µs per KiB (mapping, zeroing and copying the bytes), sending from it
/// saves ~33 µs of server CPU per pull whatever the size, so it pays after about one pull per
/// 64 KiB, and never before the second pull.
pub fn promote_after_pulls(len: usize) -> Option<u32> {
    (len >= PROMOTE_MIN_BYTES).then(|| u32::try_from(len / (64 * 1024)).unwrap_or(u32::MAX).max(2))
}

/// A segment or init segment, served as pushed.
#[derive(Debug)]
pub struct MediaObject {
    /// The bytes the encoder pushed (shared, never copied).
    pub body: Bytes,
    /// The memory `body` lives in, when it has a sending form of its own (given at ingest, or
    /// by [`super::Media::promote_hot`]); `None` for bytes on the heap.
    pub backing: Option<Backing>,
    /// `Content-Type` from the extension.
    pub content_type: &'static str,
    /// Quoted strong `ETag`.
    pub etag: String,
    /// Unix milliseconds when it was published.
    pub last_modified_unix_ms: u64,
    /// Pulls counted so far, up to [`promote_after_pulls`].
    pulls: AtomicU32,
}

impl MediaObject {
    /// An object over `body`, counted from no pull.
    pub fn new(
        body: Body,
        content_type: &'static str,
        etag: String,
        last_modified_unix_ms: u64,
    ) -> MediaObject {
        MediaObject {
            body: body.bytes,
            backing: body.backing,
            content_type,
            etag,
            last_modified_unix_ms,
            pulls: AtomicU32::new(0),
        }
    }

    /// The same object (etag, times, type) over a copy of its bytes in `body`.
    pub fn moved_to(&self, body: Body) -> MediaObject {
        MediaObject::new(
            body,
            self.content_type,
            self.etag.clone(),
            self.last_modified_unix_ms,
        )
    }

    /// Counts a pull; true when this pull made the object hot ([`MediaObject::is_hot`]). Once
    /// hot, a pull only reads the count: the object's cache line is not written by every core
    /// that sends it.
    pub fn count_pull(&self) -> bool {
        let Some(hot) = self.hot_after() else {
            return false;
        };
        let n = self.pulls.load(Ordering::Relaxed);
        n < hot && self.pulls.fetch_add(1, Ordering::Relaxed).saturating_add(1) == hot
    }

    /// Pulled often enough that a sending form of its own pays, and it has none yet.
    pub fn is_hot(&self) -> bool {
        self.backing.is_none()
            && self
                .hot_after()
                .is_some_and(|hot| self.pulls.load(Ordering::Relaxed) >= hot)
    }

    fn hot_after(&self) -> Option<u32> {
        promote_after_pulls(self.body.len())
    }
}

/// Replaces `object` by its copy in `promote`'s memory when it is hot; whether it did.
pub(crate) fn promote_if_hot(
    object: &mut Arc<MediaObject>,
    promote: &mut dyn FnMut(&Bytes) -> Option<Body>,
) -> bool {
    if !object.is_hot() {
        return false;
    }
    match promote(&object.body) {
        Some(body) if body.bytes == object.body => {
            *object = Arc::new(object.moved_to(body));
            true
        }
        _ => false,
    }
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
    /// Wall-clock time of its first frame, Unix ms: what the encoder's
    /// `EXT-X-PROGRAM-DATE-TIME` says, else the origin's own stamp (continuous with the
    /// segment before it, anchored on arrival after a break).
    pub start_unix_ms: u64,
    /// The init segment (`init<k>`) it needs, when its track has them.
    pub init: Option<u64>,
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
    /// A segment still arriving (low latency), with its `Content-Type`: answered at once and
    /// streamed as its chunks arrive.
    Growing(&'a Arc<super::growing::GrowingObject>, &'static str),
    /// LL-HLS: Partial Segment `i` of a segment uploaded (or being uploaded) a chunk at a time,
    /// with its `Content-Type`: answered once that chunk is whole.
    Part(&'a Arc<super::growing::GrowingObject>, usize, &'static str),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_before_a_sending_form_pays() {
        let table: [(usize, Option<u32>); 6] = [
            (0, None),
            (PROMOTE_MIN_BYTES - 1, None),
            (PROMOTE_MIN_BYTES, Some(2)),
            (233_001, Some(3)),
            (1 << 20, Some(16)),
            (8 << 20, Some(128)),
        ];
        for (len, want) in table {
            assert_eq!(promote_after_pulls(len), want, "{len} bytes");
        }
    }

    fn object(len: usize) -> MediaObject {
        MediaObject::new(
            Bytes::from(vec![7u8; len]).into(),
            "video/mp2t",
            "\"e\"".into(),
            1,
        )
    }

    #[test]
    fn an_object_turns_hot_once_and_stops_counting() {
        let o = object(233_001);
        assert!(!o.count_pull() && !o.count_pull() && !o.is_hot());
        assert!(o.count_pull(), "the third pull makes it hot");
        assert!(o.is_hot());
        for _ in 0..10 {
            assert!(!o.count_pull(), "it turns hot only once");
        }
        assert_eq!(
            o.pulls.load(Ordering::Relaxed),
            3,
            "a hot object's count is not written"
        );
        let small = object(1_000);
        for _ in 0..100 {
            assert!(!small.count_pull());
        }
        assert!(!small.is_hot());
    }

    #[test]
    fn promotion_moves_a_hot_object_only_into_the_same_bytes() {
        let mut o = Arc::new(object(100_000));
        let mut copies = 0;
        let mut copy = |b: &Bytes| {
            copies += 1;
            Some(Body::from(Bytes::copy_from_slice(b)))
        };
        assert!(!promote_if_hot(&mut o, &mut copy), "not hot yet");
        o.count_pull();
        o.count_pull();
        let before = Arc::clone(&o);
        assert!(promote_if_hot(&mut o, &mut copy));
        assert!(!Arc::ptr_eq(&o, &before));
        assert_eq!(
            (&o.body, &o.etag, o.last_modified_unix_ms),
            (&before.body, &before.etag, 1)
        );
        assert_ne!(
            o.body.as_ptr(),
            before.body.as_ptr(),
            "served from the copy"
        );
        // A copy that is not the same bytes is never served.
        let mut hot = Arc::new(object(100_000));
        hot.count_pull();
        hot.count_pull();
        let mut wrong = |_: &Bytes| Some(Body::from(Bytes::from_static(b"other")));
        assert!(!promote_if_hot(&mut hot, &mut wrong));
        let mut none = |_: &Bytes| None;
        assert!(!promote_if_hot(&mut hot, &mut none));
        assert_eq!(copies, 1);
    }
}
