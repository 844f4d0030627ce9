//! Binding the admin socket: private modes, no stealing a live daemon's socket.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Binds the admin socket with mode 0600 (0660 owned by `group` when one is given), refusing
/// to steal a live daemon's socket.
pub fn bind(path: &Path, group: Option<&str>) -> std::io::Result<UnixListener> {
    let gid = match group {
        None => None,
        Some(name) => match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Some(g.gid),
            Ok(None) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("admin_socket_group: no group named {name:?}"),
                ))
            }
            Err(e) => return Err(std::io::Error::from(e)),
        },
    };
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "another streampackd is running with admin socket {}",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private_dir(parent)?;
    }
    // No window in which the socket is reachable by others: umask first, chmod to be sure.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if let Some(gid) = gid {
        // Group first, then the group bits: never readable by a group that is not the one asked.
        nix::unistd::chown(path, None, Some(gid)).map_err(std::io::Error::from)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    }
    Ok(listener)
}

/// Creates the socket's directory (mode 0700 when it makes it, so a per-user socket under
/// `/tmp` is no one else's) and refuses a directory that another user owns and can swap the
/// socket in.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let meta = std::fs::metadata(dir)?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to uid {}, not to this daemon's uid {me}: remove it or set admin_socket",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    Ok(())
}
