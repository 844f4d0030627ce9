//! Sending a response head and a segment's pages without copying the segment: the head is
//! written into a pipe (a copy of a few hundred bytes), the pages are `vmsplice`d after it by
//! reference, and the pipe is `splice`d to the socket, which takes the page references along.
//! Both io drivers use it: the calls are non-blocking and the connection waits for the socket
//! to become writable through monoio (a poll op on io_uring, readiness on epoll).
//!
//! Files (the time-shift archive's segments) go the same way, their page-cache pages
//! `splice`d into the pipe instead of `vmsplice`d.
//!
//! Only for memory that is never written again nor reused while a socket may hold its pages:
//! [`crate::pages::Pages`]. Pipes come from a per-shard pool.

use monoio::net::TcpStream;
use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Pipe capacity asked for: a 233 KB segment and its head in one fill. Pipes that cannot get
/// it (`pipe-user-pages-soft`) keep the default 64 KiB and just take more rounds.
const PIPE_BYTES: libc::c_int = 1024 * 1024;
/// Empty pipes a shard keeps for the next send.
const POOL: usize = 16;

/// One pipe, both ends non-blocking.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: a valid pipe descriptor; failure leaves the default size.
        unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES);
        }
        Ok(Pipe { read, write })
    }
}

thread_local! {
    static PIPES: RefCell<Vec<Pipe>> = const { RefCell::new(Vec::new()) };
}

fn take_pipe() -> io::Result<Pipe> {
    match PIPES.with(|p| p.borrow_mut().pop()) {
        Some(p) => Ok(p),
        None => Pipe::new(),
    }
}

/// Puts an empty pipe back (one with bytes left in it is closed instead).
fn give_back(pipe: Pipe) {
    PIPES.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < POOL {
            pool.push(pipe);
        }
    });
}

/// Sets `O_NONBLOCK` on the socket (io_uring's accepted sockets are blocking; its reads and
/// writes keep working on a non-blocking socket: the kernel still waits for them).
pub fn make_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `head` and then `body` (memory that stays unchanged and mapped until the kernel let
/// go of its pages: see the module docs) on the non-blocking `stream`.
pub async fn send(stream: &TcpStream, head: &[u8], body: &[u8]) -> io::Result<()> {
    send_from(stream, head, Source::Pages(body)).await
}

/// Sends `head` and then `len` bytes of `file` from `offset` on the non-blocking `stream`:
/// the file's page-cache pages are spliced into the pipe by reference (a page not in the
/// cache is read from disk by this call, on this thread).
pub async fn send_file(
    stream: &TcpStream,
    head: &[u8],
    file: &std::fs::File,
    offset: u64,
    len: usize,
) -> io::Result<()> {
    let source = Source::File {
        fd: file.as_raw_fd(),
        offset: i64::try_from(offset).map_err(io::Error::other)?,
        len,
    };
    send_from(stream, head, source).await
}

/// Where the body's pages come from.
enum Source<'a> {
    /// Memory of our own (vmspliced).
    Pages(&'a [u8]),
    /// A file's pages (spliced).
    File { fd: RawFd, offset: i64, len: usize },
}

impl Source<'_> {
    fn left(&self) -> usize {
        match self {
            Source::Pages(b) => b.len(),
            Source::File { len, .. } => *len,
        }
    }

    /// Moves what fits of the body into the pipe; how much, `None` when the pipe is full.
    fn fill(&mut self, pipe: &Pipe) -> io::Result<Option<usize>> {
        match self {
            Source::Pages(b) => {
                let n = vmsplice(pipe, b)?;
                if let Some(n) = n {
                    *b = &b[n..];
                }
                Ok(n)
            }
            Source::File { fd, offset, len } => {
                let n = splice_in(*fd, offset, pipe, *len)?;
                match n {
                    // The file is shorter than it was said to be.
                    Some(0) => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                    Some(k) => {
                        *len -= k;
                        Ok(Some(k))
                    }
                    None => Ok(None),
                }
            }
        }
    }
}

async fn send_from(stream: &TcpStream, head: &[u8], mut body: Source<'_>) -> io::Result<()> {
    let pipe = take_pipe()?;
    let sock = stream.as_raw_fd();
    let mut head_left = head;
    let mut in_pipe = 0usize;
    loop {
        // Fill: the head (copied into the pipe), then the body's pages by reference.
        if !head_left.is_empty() {
            match write_pipe(&pipe, head_left)? {
                Some(n) => {
                    head_left = &head_left[n..];
                    in_pipe += n;
                }
                None if in_pipe == 0 => return Err(io::Error::other("pipe full while empty")),
                None => {}
            }
        }
        if head_left.is_empty() && body.left() > 0 {
            if let Some(n) = body.fill(&pipe)? {
                in_pipe += n;
            }
        }
        if in_pipe == 0 {
            give_back(pipe);
            return Ok(());
        }
        // Drain to the socket; wait for room when it has none.
        let more = body.left() > 0;
        match splice_out(&pipe, sock, in_pipe, more)? {
            Some(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Some(n) => in_pipe -= n,
            None => stream.writable(false).await?,
        }
    }
}

/// `Ok(None)` for `EAGAIN`.
fn would_block(n: isize) -> io::Result<Option<usize>> {
    if n >= 0 {
        return Ok(usize::try_from(n).ok());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) => Ok(None),
        _ => Err(e),
    }
}

fn write_pipe(pipe: &Pipe, bytes: &[u8]) -> io::Result<Option<usize>> {
    // SAFETY: writes from a valid slice into our pipe.
    let n = unsafe { libc::write(pipe.write.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    would_block(n)
}

fn vmsplice(pipe: &Pipe, bytes: &[u8]) -> io::Result<Option<usize>> {
    let iov = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: one iovec over a live slice; without SPLICE_F_GIFT the kernel only takes
    // references to its pages (the caller guarantees they are never written again).
    let n = unsafe { libc::vmsplice(pipe.write.as_raw_fd(), &iov, 1, libc::SPLICE_F_NONBLOCK) };
    would_block(n)
}

fn splice_in(fd: RawFd, offset: &mut i64, pipe: &Pipe, len: usize) -> io::Result<Option<usize>> {
    let mut off: libc::loff_t = *offset;
    // SAFETY: file → our pipe, both valid descriptors; `off` is a local the kernel advances.
    let n = unsafe {
        libc::splice(
            fd,
            &mut off,
            pipe.write.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
        )
    };
    let n = would_block(n)?;
    *offset = off;
    Ok(n)
}

fn splice_out(pipe: &Pipe, sock: RawFd, len: usize, more: bool) -> io::Result<Option<usize>> {
    let mut flags = libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE;
    if more {
        flags |= libc::SPLICE_F_MORE;
    }
    // SAFETY: pipe → socket, both valid descriptors, no offsets.
    let n = unsafe {
        libc::splice(
            pipe.read.as_raw_fd(),
            std::ptr::null_mut(),
            sock,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    would_block(n)
}
