//! The state file: written atomically (temp file, fsync, rename, fsync of the directory) so a
//! crash at any moment leaves the old or the new state, never a torn file; read strictly, so
//! a corrupt file stops the daemon instead of silently starting empty.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use streampack_core::control::ControlState;

/// File name inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// Why the state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The state directory cannot be created or used.
    #[error("state directory {path}: {source}")]
    Dir {
        /// Directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file exists but cannot be used; it is left untouched.
    #[error("state file {path} cannot be loaded ({source}); it was left untouched: fix or move it away, then start again")]
    Load {
        /// File.
        path: PathBuf,
        /// Cause.
        source: streampack_core::control::LoadError,
    },
}

/// Creates the directory (mode 0700) and loads the state, empty when there is no file yet.
pub fn load(dir: &Path) -> Result<ControlState, PersistError> {
    fs::create_dir_all(dir).map_err(|source| PersistError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let path = dir.join(STATE_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            ControlState::from_json(&bytes).map_err(|source| PersistError::Load { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ControlState::new()),
        Err(source) => Err(PersistError::Io { path, source }),
    }
}

/// Writes the state atomically, file mode 0600.
pub fn save(dir: &Path, state: &ControlState) -> Result<(), PersistError> {
    let path = dir.join(STATE_FILE);
    let json = state.to_json().map_err(|e| PersistError::Io {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_private(dir, STATE_FILE, &json).map_err(|source| PersistError::Io { path, source })
}

/// Writes `dir/name` atomically (temp file, fsync, rename, fsync of `dir`), mode 0600: a
/// crash leaves the old or the new file, never a torn one.
pub fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    File::open(dir).and_then(|d| d.sync_all())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use streampack_core::admin::proto::ChannelCreate;
    use streampack_core::id::Id;

    #[test]
    fn save_then_load_round_trips_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("st");
        assert_eq!(load(&d).unwrap(), ControlState::new());
        let mut st = ControlState::new();
        let mut n = 0u8;
        let mut gen = || {
            n += 1;
            Id::from_random([n; 14])
        };
        st.create_channel(
            &ChannelCreate {
                name: "a".into(),
                ..Default::default()
            },
            &mut gen,
        )
        .unwrap();
        save(&d, &st).unwrap();
        assert_eq!(load(&d).unwrap(), st);
        let mode = fs::metadata(d.join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!d.join(".state.json.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(STATE_FILE);
        fs::write(&f, b"{\"format\":1,\"chan").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("corrupt") && e.contains("untouched"), "{e}");
        assert_eq!(fs::read(&f).unwrap(), b"{\"format\":1,\"chan");
    }
}
