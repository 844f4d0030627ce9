//! What answers are written from: response-head buffers and the `writev` iovec arrays of a head
//! plus a shared body, taken from a per-shard pool and given back when the write completes, so
//! a warm shard answers without allocating for it. ([`write_all`] loops over `writev` itself:
//! monoio's `write_vectored_all` copies the iovec array into a new `Vec` per call.)

use bytes::Bytes;
use monoio::buf::IoVecBuf;
use monoio::io::AsyncWriteRent;
use std::io;

/// A response head plus a shared body, as one iovec array.
pub struct HeadBody {
    iov: Box<[libc::iovec; 2]>,
    _head: Vec<u8>,
    _body: Bytes,
}

impl HeadBody {
    /// `head` then `body`, as the two iovecs of one `writev`.
    pub fn new(head: Vec<u8>, body: Bytes) -> HeadBody {
        let mut iov = POOL
            .with(|p| p.borrow_mut().iovecs.pop())
            .unwrap_or_else(|| {
                Box::new(
                    [libc::iovec {
                        iov_base: std::ptr::null_mut(),
                        iov_len: 0,
                    }; 2],
                )
            });
        iov[0] = libc::iovec {
            iov_base: head.as_ptr() as *mut libc::c_void,
            iov_len: head.len(),
        };
        iov[1] = libc::iovec {
            iov_base: body.as_ptr() as *mut libc::c_void,
            iov_len: body.len(),
        };
        HeadBody {
            iov,
            _head: head,
            _body: body,
        }
    }

    /// Bytes not written yet.
    pub fn remaining(&self) -> usize {
        self.iov.iter().map(|v| v.iov_len).sum()
    }

    /// Moves the iovecs past `n` written bytes (a short `writev`).
    pub fn consume(&mut self, mut n: usize) {
        for v in self.iov.iter_mut() {
            let step = n.min(v.iov_len);
            // SAFETY: `step` ≤ the iovec's length, so the pointer stays inside its buffer.
            v.iov_base = unsafe { v.iov_base.cast::<u8>().add(step).cast() };
            v.iov_len -= step;
            n -= step;
        }
    }

    /// Gives the head buffer and the iovec array back to the shard's pool (the body is
    /// released: its last reference frees an expired segment).
    pub fn recycle(self) {
        let HeadBody { iov, _head, _body } = self;
        recycle_head(_head);
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.iovecs.len() < POOL_MAX {
                p.iovecs.push(iov);
            }
        });
    }
}

/// Writes all of `buf` to `stream`, giving `buf` back (to be recycled).
pub async fn write_all<S: AsyncWriteRent>(
    stream: &mut S,
    mut buf: HeadBody,
) -> (io::Result<()>, HeadBody) {
    while buf.remaining() > 0 {
        let (res, b) = stream.writev(buf).await;
        buf = b;
        match res {
            Ok(0) => return (Err(io::Error::from(io::ErrorKind::WriteZero)), buf),
            Ok(n) => buf.consume(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Response-head buffers and iovec arrays a shard reuses: an answer costs no allocation once
/// the shard has served a few. Per shard (thread-local), so nothing is shared; bounded, so a
/// burst of concurrent answers does not keep memory afterwards.
#[derive(Default)]
struct Pool {
    heads: Vec<Vec<u8>>,
    /// Boxed on purpose: a `HeadBody` takes the box, and the kernel reads the iovecs at the
    /// box's address while the write is in flight, so that address must not move with the Vec.
    #[allow(clippy::vec_box)]
    iovecs: Vec<Box<[libc::iovec; 2]>>,
}

/// Buffers kept per kind and shard.
const POOL_MAX: usize = 256;
/// A head buffer that grew past this (a long error text) is freed rather than kept.
const HEAD_KEEP_MAX: usize = 4096;

thread_local! {
    static POOL: std::cell::RefCell<Pool> = std::cell::RefCell::new(Pool::default());
}

/// An empty buffer for a response head, from the shard's pool when it has one.
pub fn head_buf() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().heads.pop())
        .unwrap_or_else(|| Vec::with_capacity(512))
}

/// Returns a written head buffer to the shard's pool.
pub fn recycle_head(mut buf: Vec<u8>) {
    if buf.capacity() > HEAD_KEEP_MAX {
        return;
    }
    buf.clear();
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.heads.len() < POOL_MAX {
            p.heads.push(buf);
        }
    });
}

// SAFETY: the iovecs point into `_head`'s and `_body`'s heap buffers, which live (unmoved, as
// Vec and Bytes never move their heap data) exactly as long as this value; the iovec array is
// boxed so its address is stable too.
unsafe impl IoVecBuf for HeadBody {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov.as_ptr()
    }
    fn read_iovec_len(&self) -> usize {
        2
    }
}
