//! Durable file replacement, shared by the server (the shard list) and the client (the
//! monitor's state): what a crash may leave behind must be the old file or the new one.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` atomically and durably: written to `<path>.tmp` (created with
/// `mode`, less the umask), synced, renamed over `path`, and the directory synced so that the
/// rename survives a crash. A crash leaves the old file or the new one, never a mix (at worst a
/// stale `.tmp`, overwritten next time).
///
/// # Errors
///
/// The first I/O error; `path` is then the old file or the new one.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)?.sync_all()
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
}
