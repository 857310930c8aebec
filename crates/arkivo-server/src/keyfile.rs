//! Private key files: written once with mode 0600 in a 0700 directory and synced; read only when
//! no one but their owner can read them (the log's keys, the witness's key, the TLS key).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};

/// Reads a private key file, refusing one that others can read.
pub fn read_private_key(path: &Path) -> anyhow::Result<String> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by group or others (mode {:o}); a private key must be mode 0600: \
             run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes a new private key file with mode 0600 (never overwriting), and syncs it.
pub fn write_private_key(path: &Path, pem: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(pem)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
