//! A segment still arriving: low-latency encoders upload a segment as one growing body, a CMAF
//! chunk at a time ([`crate::fmp4::chunks`]), and pullers get each chunk the moment it is
//! whole. A [`GrowingObject`] is shared between the channel's owner, which appends the chunks
//! and then completes it (or breaks it off), and every puller streaming it, each from its own
//! offset. It is only ever complete with the bytes the upload ended with: a body that broke off
//! is never served as a whole segment.
//!
//! Sans-io: nothing here waits. It tells whoever [`GrowingObject::listen`]s that it changed
//! (a chunk, its end, its breaking off); pullers then re-read it. Each reader is woken by its
//! own segment only, never by the rest of the channel.

use bytes::Bytes;
use std::sync::{Mutex, MutexGuard};

/// Where a growing object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More may come.
    Arriving,
    /// Every byte is here: what a reader has now is the whole object.
    Complete,
    /// The upload broke off (or never came): what was read so far is not a whole segment.
    Broken,
}

/// What is known of one chunk: a CMAF chunk cut from the upload says its duration and
/// whether playback can start with it (an LL-HLS part); what remained at completion says
/// nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartInfo {
    /// Its samples' durations summed, in its track's timescale.
    pub duration: u64,
    /// It begins with a sync sample (`INDEPENDENT=YES`).
    pub independent: bool,
}

/// A chunk of an upload, as the ingest hands it over.
#[derive(Debug, Clone, Default)]
pub struct ChunkIn {
    /// Which upload it belongs to (unique per request, from the caller).
    pub upload: u64,
    /// Where it starts in the upload's body.
    pub offset: usize,
    /// Its bytes.
    pub bytes: Bytes,
    /// Its timing, when it is a CMAF chunk (an LL-HLS part).
    pub part: Option<PartInfo>,
}

#[derive(Debug, Default)]
struct State {
    chunks: Vec<Bytes>,
    /// Parallel to `chunks`.
    parts: Vec<Option<PartInfo>>,
    len: usize,
    broken: bool,
    complete: bool,
    /// The upload whose chunks it holds (the first to send one at offset 0).
    upload: Option<u64>,
}

/// An object whose bytes arrive a chunk at a time. See the module docs.
#[derive(Debug, Default)]
pub struct GrowingObject {
    state: Mutex<State>,
    changed: event_listener::Event,
}

/// What a reader gets: the bytes after its offset, and whether more may follow.
#[derive(Debug)]
pub struct Read {
    /// The bytes from the offset asked for to the end of what has arrived, as the chunks they
    /// came in (shared, not copied).
    pub chunks: Vec<Bytes>,
    /// Whether more may come.
    pub progress: Progress,
}

impl GrowingObject {
    /// An object with no byte yet.
    pub fn new() -> GrowingObject {
        GrowingObject::default()
    }

    /// A wait for its next change: made *before* reading it, then awaited, so that no change
    /// between the read and the wait is missed.
    pub fn listen(&self) -> event_listener::EventListener {
        self.changed.listen()
    }

    /// Wakes the readers (after the state changed and its lock is released).
    fn changed(&self) {
        self.changed.notify(usize::MAX);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A reader or the owner never panics while holding the lock; a poisoned lock still
        // holds consistent data (every update is a single push or flag).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a whole chunk (owner). Ignored once the object is complete or broken.
    pub fn push(&self, chunk: Bytes) {
        let offset = self.len();
        self.push_part(0, offset, chunk, None);
    }

    /// Appends a whole CMAF chunk of `upload`, found at `offset` in its body, with its timing
    /// (owner). Taken only in order from the upload it holds (the first to send one at offset
    /// 0): a chunk of another upload at the same path (an encoder's retry overlapping the
    /// stalled original), or one after a gap, is dropped. Whether it was taken.
    pub fn push_part(
        &self,
        upload: u64,
        offset: usize,
        chunk: Bytes,
        info: Option<PartInfo>,
    ) -> bool {
        {
            let mut s = self.state();
            let ours = s.upload.is_none_or(|u| u == upload);
            if s.complete || s.broken || chunk.is_empty() || !ours || offset != s.len {
                return false;
            }
            s.upload = Some(upload);
            s.len = s.len.saturating_add(chunk.len());
            s.chunks.push(chunk);
            s.parts.push(info);
        }
        self.changed();
        true
    }

    /// Whether its chunks come from `upload` (or none came yet).
    pub fn held_by(&self, upload: u64) -> bool {
        self.state().upload.is_none_or(|u| u == upload)
    }

    /// Chunk `i` once it is whole, with what is known of it.
    pub fn part(&self, i: usize) -> Option<(Bytes, Option<PartInfo>)> {
        let s = self.state();
        let bytes = s.chunks.get(i)?.clone();
        Some((bytes, s.parts.get(i).copied().flatten()))
    }

    /// What is known of each chunk so far, in order.
    pub fn parts(&self) -> Vec<Option<PartInfo>> {
        self.state().parts.clone()
    }

    /// Completes the object with the whole body its upload ended with (owner). The chunks
    /// pushed so far must be its first bytes, byte for byte, or the object breaks off instead
    /// (never complete with other bytes than those sent); the rest is appended. The chunks
    /// are then slices of `whole`: their copies are freed.
    pub fn complete(&self, whole: &Bytes) {
        self.complete_state(whole);
        self.changed();
    }

    /// [`GrowingObject::complete`]'s change of state, under the lock (readers are woken
    /// after it is released).
    fn complete_state(&self, whole: &Bytes) {
        let mut s = self.state();
        if s.complete || s.broken {
            return;
        }
        let mut at = 0usize;
        let mut slices = Vec::with_capacity(s.chunks.len() + 1);
        for c in &s.chunks {
            let end = at.saturating_add(c.len());
            match whole.get(at..end) {
                Some(b) if b == &c[..] => slices.push(whole.slice(at..end)),
                _ => {
                    s.broken = true;
                    return;
                }
            }
            at = end;
        }
        if whole.len() > at {
            slices.push(whole.slice(at..));
            s.parts.push(None);
        }
        s.chunks = slices;
        s.len = whole.len();
        s.complete = true;
    }

    /// The upload broke off or will not come (owner): readers stop, and whoever had started
    /// sending it must not end it as if it were whole.
    pub fn break_off(&self) {
        {
            let mut s = self.state();
            if !s.complete {
                s.broken = true;
            }
        }
        self.changed();
    }

    /// Bytes received so far.
    pub fn len(&self) -> usize {
        self.state().len
    }

    /// No byte received yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many chunks arrived (the last one of a completed object is what remained).
    pub fn chunk_count(&self) -> usize {
        self.state().chunks.len()
    }

    /// Where it stands.
    pub fn progress(&self) -> Progress {
        let s = self.state();
        progress(&s)
    }

    /// The bytes after `offset`, and where the object stands.
    pub fn read_from(&self, offset: usize) -> Read {
        let s = self.state();
        let mut chunks = Vec::new();
        let mut at = 0usize;
        for c in &s.chunks {
            let end = at.saturating_add(c.len());
            if end > offset {
                chunks.push(c.slice(offset.saturating_sub(at).min(c.len())..));
            }
            at = end;
        }
        Read {
            chunks,
            progress: progress(&s),
        }
    }
}

fn progress(s: &State) -> Progress {
    if s.broken {
        Progress::Broken
    } else if s.complete {
        Progress::Complete
    } else {
        Progress::Arriving
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(g: &GrowingObject, from: usize) -> (Vec<u8>, Progress) {
        let r = g.read_from(from);
        (r.chunks.concat(), r.progress)
    }

    #[test]
    fn readers_get_each_chunk_from_their_own_offset() {
        let g = GrowingObject::new();
        assert_eq!(read_all(&g, 0), (vec![], Progress::Arriving));
        g.push(Bytes::from_static(b"abc"));
        g.push(Bytes::from_static(b"defg"));
        assert_eq!(g.len(), 7);
        assert_eq!(read_all(&g, 0).0, b"abcdefg");
        assert_eq!(read_all(&g, 2).0, b"cdefg", "mid-chunk offset");
        assert_eq!(read_all(&g, 3).0, b"defg");
        assert_eq!(read_all(&g, 7).0, b"");
        assert_eq!(read_all(&g, 99).0, b"", "beyond the end: nothing");
        g.complete(&Bytes::from_static(b"abcdefghij"));
        assert_eq!(read_all(&g, 7), (b"hij".to_vec(), Progress::Complete));
        assert_eq!(g.len(), 10);
        g.push(Bytes::from_static(b"late"));
        g.break_off();
        assert_eq!(
            read_all(&g, 0),
            (b"abcdefghij".to_vec(), Progress::Complete),
            "a complete object stays what it is"
        );
    }

    #[test]
    fn a_completion_with_no_new_byte_or_a_shorter_body() {
        let g = GrowingObject::new();
        g.push(Bytes::from_static(b"abc"));
        g.complete(&Bytes::from_static(b"abc"));
        assert_eq!(g.progress(), Progress::Complete);
        assert_eq!(g.chunk_count(), 1);
        let short = GrowingObject::new();
        short.push(Bytes::from_static(b"abcdef"));
        short.complete(&Bytes::from_static(b"abc"));
        assert_eq!(
            short.progress(),
            Progress::Broken,
            "never complete with other bytes than those sent"
        );
    }

    #[test]
    fn only_its_upload_in_order_and_the_same_bytes_complete_it() {
        let g = GrowingObject::new();
        let part = |u, off, b: &'static [u8]| g.push_part(u, off, Bytes::from_static(b), None);
        assert!(!part(1, 3, b"late"), "a gap: not taken");
        assert!(part(1, 0, b"abc"));
        assert!(
            !part(2, 3, b"XYZ"),
            "another upload at the same path: not taken"
        );
        assert!(!part(1, 0, b"abc"), "the same offset twice: not taken");
        assert!(part(1, 3, b"def"));
        assert!(g.held_by(1) && !g.held_by(2));
        // The body the upload ended with differs from what was streamed: never complete.
        g.complete(&Bytes::from_static(b"abXdefgh"));
        assert_eq!(g.progress(), Progress::Broken);
        // The same bytes: complete, its chunks now slices of the whole body.
        let ok = GrowingObject::new();
        ok.push_part(5, 0, Bytes::from_static(b"abc"), None);
        let whole = Bytes::from_static(b"abcdef");
        ok.complete(&whole);
        let read = ok.read_from(0);
        assert_eq!(read.progress, Progress::Complete);
        assert_eq!(read.chunks[0].as_ptr(), whole.as_ptr(), "the copy is freed");
        assert_eq!(read.chunks.concat(), b"abcdef");
    }

    #[test]
    fn a_broken_upload_is_never_complete() {
        let g = GrowingObject::new();
        g.push(Bytes::from_static(b"abc"));
        g.break_off();
        g.complete(&Bytes::from_static(b"abcdef"));
        assert_eq!(read_all(&g, 0), (b"abc".to_vec(), Progress::Broken));
        assert!(!g.is_empty());
    }
}
