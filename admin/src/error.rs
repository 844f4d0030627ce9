//! Everything that can go wrong after the command line parsed, and the exit status of each.
//! Usage errors never get here: clap reports them and exits 2.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use streampack_core::admin::frame::FrameError;
use streampack_core::control::ControlError;

/// Exit status: the daemon refused the request.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: the daemon could not be reached (or stopped answering).
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit status: the daemon answered something this build cannot understand.
pub const EXIT_PROTOCOL: u8 = 4;

/// Why a command failed. The message is printed after `streampackctl: `.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The daemon refused; its message already says what to fix.
    #[error("{0}")]
    Refused(ControlError),
    /// Nothing accepted the connection.
    #[error(
        "streampackd is not running or not reachable at {} ({source}): start it (see README) \
         or pass --socket PATH{}{}",
        path.display(),
        tried_note(tried),
        permission_note(source)
    )]
    Unreachable {
        /// Socket connected to.
        path: PathBuf,
        /// Defaults considered when none was named.
        tried: Vec<PathBuf>,
        /// Why connecting failed.
        source: io::Error,
    },
    /// Connected, but no answer came in time.
    #[error(
        "streampackd at {} accepted the request but did not answer within {} s: it may be \
         overloaded or stuck (check its log, e.g. journalctl -u streampackd)",
        path.display(),
        after.as_secs()
    )]
    Timeout {
        /// Socket connected to.
        path: PathBuf,
        /// How long we waited.
        after: Duration,
    },
    /// The connection broke mid-exchange.
    #[error("lost the connection to streampackd at {} ({source})", path.display())]
    Connection {
        /// Socket connected to.
        path: PathBuf,
        /// What broke.
        source: io::Error,
    },
    /// A frame could not be encoded or decoded (version mismatch, bad length, garbage).
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The daemon hung up before a whole answer arrived.
    #[error(
        "streampackd at {} closed the connection after {got} bytes, before a whole answer",
        path.display()
    )]
    Truncated {
        /// Socket connected to.
        path: PathBuf,
        /// Bytes received.
        got: usize,
    },
    /// A well-formed answer that does not fit the request.
    #[error(
        "streampackd answered {got} to a {sent} request; is it the same release as streampackctl?"
    )]
    Mismatch {
        /// Request kind sent.
        sent: &'static str,
        /// Answer kind received.
        got: &'static str,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
    /// A harvest could not be done; the message says why.
    #[error("harvest: {0}")]
    Harvest(String),
    /// The console could not start; the message says what to fix.
    #[error("console: {0}")]
    Console(String),
}

fn tried_note(tried: &[PathBuf]) -> String {
    if tried.is_empty() {
        return String::new();
    }
    let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    format!(" (looked at {})", list.join(", "))
}

fn permission_note(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::PermissionDenied {
        "; the socket is restricted to its owner and group: run as root or as a member of that group"
    } else {
        ""
    }
}

impl CtlError {
    /// The process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Refused(_)
            | CtlError::Output(_)
            | CtlError::Harvest(_)
            | CtlError::Console(_) => EXIT_REFUSED,
            CtlError::Unreachable { .. }
            | CtlError::Timeout { .. }
            | CtlError::Connection { .. } => EXIT_UNREACHABLE,
            CtlError::Frame(_) | CtlError::Truncated { .. } | CtlError::Mismatch { .. } => {
                EXIT_PROTOCOL
            }
        }
    }

    /// Wraps an I/O error on an established connection.
    pub fn connection(path: &Path, source: io::Error) -> CtlError {
        CtlError::Connection {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_names_every_path_looked_at() {
        let e = CtlError::Unreachable {
            path: PathBuf::from("/tmp/streampack-1000/streampackd.sock"),
            tried: vec![
                PathBuf::from("/run/streampack/streampackd.sock"),
                PathBuf::from("/tmp/streampack-1000/streampackd.sock"),
            ],
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("streampackd is not running or not reachable at /tmp/streampack-1000/streampackd.sock ("),
            "{msg}"
        );
        assert!(msg.contains("or pass --socket PATH"), "{msg}");
        assert!(msg.contains("/run/streampack/streampackd.sock"), "{msg}");
        assert_eq!(e.exit_code(), EXIT_UNREACHABLE);
        assert!(!msg.contains("restricted"), "{msg}");
    }

    #[test]
    fn permission_denied_says_how_to_get_access() {
        let e = CtlError::Unreachable {
            path: PathBuf::from("/run/streampack/streampackd.sock"),
            tried: Vec::new(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("or pass --socket PATH; the socket is restricted"),
            "{msg}"
        );
    }

    #[test]
    fn exit_codes_follow_the_kind() {
        let refused = CtlError::Refused(ControlError::Conflict("taken".into()));
        assert_eq!(
            (refused.exit_code(), refused.to_string().as_str()),
            (1, "taken")
        );
        let frame = CtlError::Frame(FrameError::Version { peer: 9 });
        assert_eq!(frame.exit_code(), 4);
        assert!(frame.to_string().contains("version mismatch"));
    }
}
