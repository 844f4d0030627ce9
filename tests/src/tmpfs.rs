//! A small tmpfs mounted for one child process only: the child gets a mount namespace of its
//! own (and, when not run as root, a user namespace mapping the caller's uid to root inside, so
//! no privilege is needed), and a tmpfs of a fixed size over a directory. Writes past that size
//! fail with `ENOSPC`: a real full disk, seen by nobody but that child.

use std::ffi::CString;
use std::io;
use std::path::Path;

/// What the child runs between `fork` and `exec`, prepared beforehand (no allocation there).
pub struct PrivateTmpfs {
    target: CString,
    options: CString,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    as_root: bool,
}

impl PrivateTmpfs {
    /// A tmpfs of `bytes` over `target` (which must exist).
    pub fn new(target: &Path, bytes: u64) -> PrivateTmpfs {
        // SAFETY: plain getters without arguments.
        let (uid, gid, euid) = unsafe { (libc::getuid(), libc::getgid(), libc::geteuid()) };
        PrivateTmpfs {
            target: CString::new(target.as_os_str().as_encoded_bytes()).expect("no NUL in path"),
            options: CString::new(format!("size={bytes},mode=0755")).expect("no NUL"),
            uid_map: format!("0 {uid} 1").into_bytes(),
            gid_map: format!("0 {gid} 1").into_bytes(),
            as_root: euid == 0,
        }
    }

    /// Runs in the child (`pre_exec`): only async-signal-safe calls.
    pub fn enter(&self) -> io::Result<()> {
        let flags = if self.as_root {
            libc::CLONE_NEWNS
        } else {
            libc::CLONE_NEWUSER | libc::CLONE_NEWNS
        };
        // SAFETY: unshare(2) with constant flags.
        check(unsafe { libc::unshare(flags) })?;
        if !self.as_root {
            write_file(c"/proc/self/setgroups", b"deny")?;
            write_file(c"/proc/self/uid_map", &self.uid_map)?;
            write_file(c"/proc/self/gid_map", &self.gid_map)?;
        }
        // Nothing mounted here propagates back to the host's namespace.
        // SAFETY: mount(2) with valid NUL-terminated strings.
        check(unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        })?;
        // SAFETY: as above; `options` is the tmpfs data string.
        check(unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                self.target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                self.options.as_ptr().cast(),
            )
        })
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path and a live buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
