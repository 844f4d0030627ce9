//! Segment memory the kernel can send from without copying.
//!
//! A segment that pulls ask for often ([`streampack_core::media::MediaObject::is_hot`]) is
//! copied by its owner shard into an anonymous mapping of its own ([`promote`]); the mapping is
//! never written again, and it is unmapped when the last reader lets go of it. Pulls hand its
//! pages to the socket by reference (`vmsplice` into a pipe, `splice` to the socket:
//! [`crate::splice`]). Because the mapping is never reused, a page a socket still holds (a
//! retransmission queue outlives the request) keeps the bytes it was given; heap memory, which
//! the allocator hands out again, could not promise that, so heap bodies are always copied into
//! the socket.
//!
//! Why not at ingest: fresh pages cost their allocation and zeroing (~0.4 µs per KiB here,
//! 2.5× the CPU of receiving a segment into a reused heap buffer), and a segment pulled once
//! or twice never earns that back (see `docs/performance.md`).
//!
//! Why anonymous memory and not a memfd per segment: the same zero-copy path without a file
//! descriptor per segment (a few hundred channels hold hundreds of thousands of segments), and
//! RSS counts it like any other memory.

use bytes::Bytes;
use std::io;
use std::ptr::NonNull;
use std::sync::Arc;
use streampack_core::media::Body;

/// One segment's mapping, holding `len` bytes.
pub struct Pages {
    ptr: NonNull<u8>,
    map_len: usize,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; once made ([`Pages::copy_of`]) it is only
// read, from any thread.
unsafe impl Send for Pages {}
// SAFETY: see `Send`: shared references only read.
unsafe impl Sync for Pages {}

impl Pages {
    /// A mapping of its own holding a copy of `bytes` (not empty), its pages faulted in up
    /// front (one walk instead of a fault per page while it is filled).
    pub fn copy_of(bytes: &[u8]) -> io::Result<Pages> {
        let len = bytes.len();
        if len == 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let map_len = len.div_ceil(page_size()).saturating_mul(page_size());
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        // SAFETY: the mapping has room for `len` bytes and does not overlap `bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), len);
        }
        Ok(Pages { ptr, map_len, len })
    }

    /// The bytes it holds.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the mapping were written in `copy_of`, and stay
        // mapped while `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The body to hand to the core: `Bytes` over the mapping (no copy) and the mapping as
    /// its backing, which the pull path finds on the media object it serves.
    pub fn freeze(self) -> Body {
        let shared = Arc::new(self);
        Body {
            bytes: Bytes::from_owner(Frozen(Arc::clone(&shared))),
            backing: Some(shared),
        }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once. Pages a socket still references
        // stay alive in the kernel until it lets go; nothing can write them any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.map_len);
        }
    }
}

/// The owner of the `Bytes` of a frozen mapping.
struct Frozen(Arc<Pages>);

impl AsRef<[u8]> for Frozen {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// [`streampack_core::media::Media::promote_hot`]'s copy: `bytes` in pages of their own,
/// `None` when no mapping can be had (the object stays on the heap and is sent by copy).
pub fn promote(bytes: &Bytes) -> Option<Body> {
    Pages::copy_of(bytes).ok().map(Pages::freeze)
}

/// The mapping `bytes` lies in, with its offset there, when `backing` is one of ours.
pub fn find<'a>(
    backing: Option<&'a streampack_core::media::Backing>,
    bytes: &Bytes,
) -> Option<(&'a Pages, usize)> {
    let pages = backing?.downcast_ref::<Pages>()?;
    let start = pages.ptr.as_ptr() as usize;
    let at = (bytes.as_ptr() as usize).checked_sub(start)?;
    (at.checked_add(bytes.len())? <= pages.len).then_some((pages, at))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_mapping_is_its_bytes_and_found_again_from_them() {
        let mut src = vec![7u8; 6_000];
        src.extend_from_slice(&[9u8; 4_000]);
        let body = promote(&Bytes::from(src)).unwrap();
        assert_eq!(body.bytes.len(), 10_000);
        assert!(body.bytes[..6_000].iter().all(|&b| b == 7));
        assert!(body.bytes[6_000..].iter().all(|&b| b == 9));
        let part = bytes::Bytes::slice(&body.bytes, 100..200);
        let (pages, at) = find(body.backing.as_ref(), &part).unwrap();
        assert_eq!((pages.as_slice().len(), at), (10_000, 100));
        // Bytes from elsewhere are not taken for the mapping's.
        let other = Bytes::from(vec![0u8; 100]);
        assert!(find(body.backing.as_ref(), &other).is_none());
        let no_backing: Option<streampack_core::media::Backing> = Some(Arc::new(1u32));
        assert!(find(no_backing.as_ref(), &part).is_none());
    }

    #[test]
    fn a_copy_holds_the_same_bytes() {
        let src: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let body = Pages::copy_of(&src).unwrap().freeze();
        assert_eq!(&body.bytes[..], &src[..]);
        assert!(Pages::copy_of(&[]).is_err());
    }
}
