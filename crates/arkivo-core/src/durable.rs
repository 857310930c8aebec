//! Durable file replacement, shared by the server (the shard list) and the client (the
//! monitor's state): what a crash may leave behind must be the old file or the new one.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why [`replace`] failed, and so what `path` holds now.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// Nothing was renamed: `path` is still the old file (or absent).
    #[error("{0}")]
    NotReplaced(io::Error),
    /// The new file was renamed over `path` but the directory could not be synced: `path` is
    /// the new file now, and after a crash it may be either.
    #[error("renamed, but the directory could not be synced: {0}")]
    NotDurable(io::Error),
}

impl From<ReplaceError> for io::Error {
    fn from(e: ReplaceError) -> Self {
        match e {
            ReplaceError::NotReplaced(e) => e,
            ReplaceError::NotDurable(e) => io::Error::new(e.kind(), ReplaceError::NotDurable(e)),
        }
    }
}

/// Replaces `path` with `bytes` atomically and durably: written to a new temporary file beside
/// it (created with `mode`, less the umask), synced, renamed over `path`, and the directory
/// synced so that the rename survives a crash. A crash leaves the old file or the new one,
/// never a mix (at worst a stale `.<name>.<random>.tmp`).
///
/// The temporary file has an unpredictable name and is created exclusively without following
/// symlinks: in a directory others can write to, a link placed there in advance could
/// otherwise redirect the write to any file the caller may write, and the rename would then
/// install the link itself as `path`.
///
/// # Errors
///
/// The first I/O error, saying whether `path` was already replaced.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ReplaceError> {
    let tmp = temp_path(path);
    let written = create_exclusive(&tmp, mode).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    });
    if let Err(e) = written {
        // Ours alone (created exclusively), so safe to remove.
        let _ = fs::remove_file(&tmp);
        return Err(ReplaceError::NotReplaced(e));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ReplaceError::NotDurable)
}

/// `.<file name>.<random>.tmp` in the directory of `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = format!(".{name}.{:016x}.tmp", rand::random::<u64>());
    path.with_file_name(tmp)
}

/// Creates `path` new, failing if anything — a file or a symlink, even a dangling one — is
/// there already.
fn create_exclusive(path: &Path, mode: u32) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(mode)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_with_the_mode_asked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        replace(&path, b"first", 0o600).unwrap();
        replace(&path, b"second, longer", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no .tmp left");
    }

    #[test]
    fn a_symlink_placed_at_a_temporary_path_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("state.json");
        // Where a writer that names its temporary file predictably would write.
        std::os::unix::fs::symlink(&victim, dir.path().join("state.json.tmp")).unwrap();
        replace(&path, b"new state", 0o600).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&path).unwrap(), b"new state");

        // Even at the exact temporary path, a link (live or dangling) is refused, not followed.
        let tmp = temp_path(&path);
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        let err = create_exclusive(&tmp, 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let dangling = temp_path(&path);
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(create_exclusive(&dangling, 0o600).is_err());
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }
}
