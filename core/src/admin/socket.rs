//! Where the admin socket of a daemon started without a config file lives, so that
//! `streampackctl` finds it from any working directory. Pure: the caller passes the environment in.

use std::ffi::OsStr;
use std::path::PathBuf;

/// File name of the admin socket in every directory it is put in.
pub const SOCKET_NAME: &str = "streampackd.sock";

/// Where the systemd unit's daemon puts its socket (its runtime directory).
pub const SYSTEM_SOCKET: &str = "/run/streampack/streampackd.sock";

/// The per-user admin socket: `$XDG_RUNTIME_DIR/streampack/streampackd.sock` when the login
/// session has a runtime directory (an absolute path), else `/tmp/streampack-<uid>/streampackd.sock`.
/// The daemon creates that directory with mode 0700 and refuses one another user owns.
pub fn user_socket(xdg_runtime_dir: Option<&OsStr>, uid: u32) -> PathBuf {
    let base = match xdg_runtime_dir.map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir.join("streampack"),
        _ => PathBuf::from(format!("/tmp/streampack-{uid}")),
    };
    base.join(SOCKET_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_socket_follows_the_session_runtime_dir() {
        type Case<'a> = (Option<&'a str>, u32, &'a str);
        let table: &[Case] = &[
            (
                Some("/run/user/1000"),
                1000,
                "/run/user/1000/streampack/streampackd.sock",
            ),
            (None, 1000, "/tmp/streampack-1000/streampackd.sock"),
            (Some(""), 0, "/tmp/streampack-0/streampackd.sock"),
            // A relative runtime dir is not one (the XDG spec requires an absolute path).
            (Some("run"), 7, "/tmp/streampack-7/streampackd.sock"),
        ];
        for (xdg, uid, want) in table {
            assert_eq!(
                user_socket(xdg.map(OsStr::new), *uid),
                PathBuf::from(want),
                "{xdg:?} {uid}"
            );
        }
    }
}
