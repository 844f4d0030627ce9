//! Which admin socket to talk to.
//!
//! Order: `--socket PATH`, then `$STREAMPACK_SOCKET`, then the systemd unit's socket if it
//! exists, then the per-user socket a daemon started without a config file makes
//! ([`user_socket`]: the same from every working directory).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use streampack_core::admin::socket::{user_socket, SYSTEM_SOCKET};

/// Environment variable naming the admin socket.
pub const ENV_SOCKET: &str = "STREAMPACK_SOCKET";

/// The socket chosen, and every default looked at on the way (empty when the operator named
/// the socket), so a failure can say where streampackctl looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketChoice {
    /// The socket to connect to.
    pub path: PathBuf,
    /// Default paths considered, in order, when none was given.
    pub tried: Vec<PathBuf>,
}

/// Picks the socket. `user` is this user's [`user_socket`]; `exists` is passed in so the order
/// is testable without touching `/run`.
pub fn resolve(
    flag: Option<PathBuf>,
    env: Option<OsString>,
    user: PathBuf,
    exists: impl Fn(&Path) -> bool,
) -> SocketChoice {
    let named = flag.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from));
    if let Some(path) = named {
        return SocketChoice {
            path,
            tried: Vec::new(),
        };
    }
    let defaults = [PathBuf::from(SYSTEM_SOCKET), user];
    let path = defaults
        .iter()
        .find(|p| exists(p))
        .unwrap_or(&defaults[1])
        .clone();
    SocketChoice {
        path,
        tried: defaults.to_vec(),
    }
}

/// [`resolve`] against the real environment and file system.
pub fn resolve_from_env(flag: Option<PathBuf>) -> SocketChoice {
    // The effective uid, as the daemon sees its own: /proc/self belongs to it.
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    let user = user_socket(std::env::var_os("XDG_RUNTIME_DIR").as_deref(), uid);
    resolve(flag, std::env::var_os(ENV_SOCKET), user, |p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER_SOCKET: &str = "/run/user/1000/streampack/streampackd.sock";

    fn choose(flag: Option<&str>, env: Option<&str>, existing: &[&str]) -> SocketChoice {
        let user = PathBuf::from(USER_SOCKET);
        resolve(
            flag.map(PathBuf::from),
            env.map(OsString::from),
            user,
            |p| existing.iter().any(|e| Path::new(e) == p),
        )
    }

    #[test]
    fn precedence() {
        let all = [SYSTEM_SOCKET, USER_SOCKET];
        // flag, env, paths that exist, expected choice
        type Case<'a> = (Option<&'a str>, Option<&'a str>, &'a [&'a str], &'a str);
        let table: &[Case] = &[
            (Some("/f.sock"), Some("/e.sock"), &all, "/f.sock"),
            (None, Some("/e.sock"), &all, "/e.sock"),
            (None, Some(""), &all, SYSTEM_SOCKET),
            (None, None, &all, SYSTEM_SOCKET),
            (None, None, &[USER_SOCKET], USER_SOCKET),
            (None, None, &[], USER_SOCKET),
        ];
        for (flag, env, existing, want) in table {
            let got = choose(*flag, *env, existing);
            assert_eq!(
                got.path,
                PathBuf::from(want),
                "{flag:?} {env:?} {existing:?}"
            );
        }
    }

    #[test]
    fn defaults_are_reported_only_when_used() {
        assert!(choose(Some("/f.sock"), None, &[]).tried.is_empty());
        assert!(choose(None, Some("/e.sock"), &[]).tried.is_empty());
        assert_eq!(
            choose(None, None, &[]).tried,
            vec![PathBuf::from(SYSTEM_SOCKET), PathBuf::from(USER_SOCKET)]
        );
    }
}
