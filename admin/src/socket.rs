//! Which admin socket to talk to.
//!
//! Order: `--socket PATH`, then `$STREAMPACK_SOCKET`, then the systemd unit's socket if it
//! exists, then the socket a daemon started without a config file makes in `./streampack-state`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Environment variable naming the admin socket.
pub const ENV_SOCKET: &str = "STREAMPACK_SOCKET";
/// Where the systemd unit's daemon puts its socket (its runtime directory).
pub const SYSTEM_SOCKET: &str = "/run/streampack/streampackd.sock";
/// Where a daemon started without a config file puts its socket (inside its state directory).
pub const LOCAL_SOCKET: &str = "./streampack-state/streampackd.sock";

/// The socket chosen, and every default looked at on the way (empty when the operator named
/// the socket), so a failure can say where streampackctl looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketChoice {
    /// The socket to connect to.
    pub path: PathBuf,
    /// Default paths considered, in order, when none was given.
    pub tried: Vec<PathBuf>,
}

/// Picks the socket. `exists` is passed in so the order is testable without touching `/run`.
pub fn resolve(
    flag: Option<PathBuf>,
    env: Option<OsString>,
    exists: impl Fn(&Path) -> bool,
) -> SocketChoice {
    let named = flag.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from));
    if let Some(path) = named {
        return SocketChoice {
            path,
            tried: Vec::new(),
        };
    }
    let defaults = [PathBuf::from(SYSTEM_SOCKET), PathBuf::from(LOCAL_SOCKET)];
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
    resolve(flag, std::env::var_os(ENV_SOCKET), |p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(flag: Option<&str>, env: Option<&str>, existing: &[&str]) -> SocketChoice {
        resolve(flag.map(PathBuf::from), env.map(OsString::from), |p| {
            existing.iter().any(|e| Path::new(e) == p)
        })
    }

    #[test]
    fn precedence() {
        let all = [SYSTEM_SOCKET, LOCAL_SOCKET];
        // flag, env, paths that exist, expected choice
        type Case<'a> = (Option<&'a str>, Option<&'a str>, &'a [&'a str], &'a str);
        let table: &[Case] = &[
            (Some("/f.sock"), Some("/e.sock"), &all, "/f.sock"),
            (None, Some("/e.sock"), &all, "/e.sock"),
            (None, Some(""), &all, SYSTEM_SOCKET),
            (None, None, &all, SYSTEM_SOCKET),
            (None, None, &[LOCAL_SOCKET], LOCAL_SOCKET),
            (None, None, &[], LOCAL_SOCKET),
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
            vec![PathBuf::from(SYSTEM_SOCKET), PathBuf::from(LOCAL_SOCKET)]
        );
    }
}
