//! Writing archived objects around the page cache (`O_DIRECT`): a segment written once and read
//! rarely should not push the live media's pages out of memory, nor leave gigabytes of dirty
//! pages for the kernel to throttle and reclaim while shards allocate. The bytes are copied into
//! one reused, page-aligned buffer, written whole blocks at a time (the disk reads them by DMA),
//! and the file is cut to its length. Where the file system refuses `O_DIRECT`, plain buffered
//! writes.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Alignment of the buffer, of the write sizes and offsets: a page (what every block device
/// and file system takes).
const ALIGN: usize = 4096;

/// The largest buffer kept between writes (segments are a few MiB at most).
const KEEP: usize = 16 << 20;

/// Writes objects to files; owns the aligned buffer.
#[derive(Debug, Default)]
pub struct FileWriter {
    buf: AlignedBuf,
    /// `O_DIRECT` is refused where the archive lives: write through the page cache.
    buffered: bool,
}

impl FileWriter {
    /// Creates (or replaces) `path` holding `bytes`.
    pub fn write(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if !self.buffered {
            match OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
            {
                Ok(f) => match self.write_direct(&f, bytes) {
                    // Opened, but its writes are refused (a device with larger blocks).
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.go_buffered(),
                    done => return done,
                },
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.go_buffered(),
                Err(e) => return Err(e),
            }
        }
        File::create(path)?.write_all(bytes)
    }

    fn go_buffered(&mut self) {
        tracing::info!(
            "the time-shift archive's file system refuses O_DIRECT: writing through the page cache"
        );
        self.buffered = true;
        self.buf.free();
    }

    fn write_direct(&mut self, f: &File, bytes: &[u8]) -> io::Result<()> {
        let padded = bytes.len().div_ceil(ALIGN) * ALIGN;
        let buf = self.buf.at_least(padded)?;
        buf[..bytes.len()].copy_from_slice(bytes);
        buf[bytes.len()..padded].fill(0);
        let written = f
            .write_all_at(&buf[..padded], 0)
            .and_then(|()| f.set_len(bytes.len() as u64));
        // One outsized object does not pin its buffer for the process's life.
        if self.buf.len > KEEP {
            self.buf.free();
        }
        written
    }
}

/// A zeroed, page-aligned heap buffer that only grows.
#[derive(Debug, Default)]
struct AlignedBuf {
    ptr: Option<std::ptr::NonNull<u8>>,
    len: usize,
}

// SAFETY: the buffer is plain memory owned by this value alone.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// The buffer, `n` bytes or more.
    fn at_least(&mut self, n: usize) -> io::Result<&mut [u8]> {
        if n > self.len {
            let len = n.max(1 << 20).next_power_of_two();
            let layout = Layout::from_size_align(len, ALIGN)
                .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
            // SAFETY: `layout` has a non-zero size.
            let ptr = std::ptr::NonNull::new(unsafe { alloc_zeroed(layout) })
                .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
            self.free();
            self.ptr = Some(ptr);
            self.len = len;
        }
        match self.ptr {
            // SAFETY: `ptr` points at `len` initialised bytes owned by `self`.
            Some(p) => Ok(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), self.len) }),
            None => Ok(&mut []),
        }
    }

    fn free(&mut self) {
        let len = std::mem::take(&mut self.len);
        if let Some(p) = self.ptr.take() {
            // SAFETY: allocated in `at_least` with this size and alignment.
            unsafe {
                dealloc(p.as_ptr(), Layout::from_size_align_unchecked(len, ALIGN));
            }
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        self.free();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_hold_exactly_the_bytes_whatever_their_length() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = FileWriter::default();
        for len in [
            0usize,
            1,
            4095,
            4096,
            4097,
            1 << 20,
            (3 << 20) + 17,
            (20 << 20) + 1,
            5,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let path = dir.path().join(format!("{len}.ts"));
            w.write(&path, &bytes).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{len} bytes");
            // Replacing a longer file leaves no tail behind.
            w.write(&path, &bytes[..len / 2]).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), &bytes[..len / 2]);
        }
    }
}
