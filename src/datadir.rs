//! How a data directory is created and opened: the RocksDB store and the key files.
//!
//! Creating a log is a deliberate, visible act (`arkivo init`, or the first `arkivo serve` on an
//! empty data directory). Opening refuses — with a message that says what to do — data of another
//! format, keys that do not belong to the data, and a hostname other than the one the log was
//! created with, because a log's origin never changes (DESIGN.md "Identity and keys of a log").

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::log::{LogIdentity, create_log};
use crate::signer::LogKeys;
use crate::storage::LogStore;
use crate::storage::rocks::RocksStore;

/// Where a log keeps its files.
#[derive(Clone, Debug)]
pub struct LogPaths {
    pub data_dir: PathBuf,
    pub ecdsa_key: PathBuf,
    pub ed25519_key: PathBuf,
}

impl LogPaths {
    /// The default layout: `<data>/db` for RocksDB, `<data>/keys/*.pem` for the keys.
    pub fn new(data_dir: &Path, ecdsa_key: Option<&Path>, ed25519_key: Option<&Path>) -> Self {
        let keys = data_dir.join("keys");
        LogPaths {
            data_dir: data_dir.to_owned(),
            ecdsa_key: ecdsa_key.map_or_else(|| keys.join("log-ecdsa-p256.pem"), Path::to_owned),
            ed25519_key: ed25519_key.map_or_else(|| keys.join("log-ed25519.pem"), Path::to_owned),
        }
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.data_dir.join("db")
    }
}

/// An opened log: its store and identity.
pub struct OpenedLog {
    pub store: std::sync::Arc<RocksStore>,
    pub identity: std::sync::Arc<LogIdentity>,
    /// True if this call created the log.
    pub created: bool,
}

/// Checks that a hostname can serve as a checkpoint signature name and origin.
pub fn validate_hostname(hostname: &str) -> anyhow::Result<()> {
    if hostname.is_empty()
        || hostname.len() > 253
        || hostname
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+' || c == '/')
    {
        bail!(
            "invalid hostname {hostname:?}: it names the log in its checkpoints, so it must be \
             non-empty and contain no whitespace, '+' or '/' (e.g. rekor.example.internal or \
             127.0.0.1:3000)"
        );
    }
    Ok(())
}

/// Opens the log in `paths`, creating it if `create` is set and none exists.
pub fn open(paths: &LogPaths, hostname: Option<&str>, create: bool) -> anyhow::Result<OpenedLog> {
    if let Some(h) = hostname {
        validate_hostname(h)?;
    }
    let db_dir = paths.db();
    if !db_dir.exists() && !create {
        bail!(
            "no log in {}: create one with `arkivo init --data-dir {}`",
            paths.data_dir.display(),
            paths.data_dir.display()
        );
    }
    fs::create_dir_all(&paths.data_dir)
        .with_context(|| format!("creating {}", paths.data_dir.display()))?;
    let store = RocksStore::open(&db_dir)
        .with_context(|| format!("opening the log database in {}", db_dir.display()))?;

    let (identity, created) = match store.meta()? {
        Some(meta) => {
            let keys = read_keys(paths)?;
            if keys.log_id() != meta.log_id {
                bail!(
                    "the key in {} does not belong to the log in {} (log ID {} expected, key has \
                     {}); refusing to start",
                    paths.ecdsa_key.display(),
                    paths.data_dir.display(),
                    hex::encode(meta.log_id),
                    keys.log_id_hex()
                );
            }
            if let Some(h) = hostname
                && h != meta.hostname
            {
                bail!(
                    "this log was created with hostname {:?}, which names it in every checkpoint \
                     and cannot change; drop --hostname {h:?} (serving under another URL is fine)",
                    meta.hostname
                );
            }
            (LogIdentity { meta, keys }, false)
        }
        None if create => {
            let hostname = hostname.context("a hostname is needed to create a log")?;
            let keys = create_keys(paths)?;
            (create_log(&store, hostname, keys)?, true)
        }
        None => bail!(
            "no log in {}: create one with `arkivo init`",
            paths.data_dir.display()
        ),
    };
    Ok(OpenedLog {
        store: std::sync::Arc::new(store),
        identity: std::sync::Arc::new(identity),
        created,
    })
}

/// Reads a private key file, refusing one that others can read.
pub(crate) fn read_private_key(path: &Path) -> anyhow::Result<String> {
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

fn read_keys(paths: &LogPaths) -> anyhow::Result<LogKeys> {
    let ecdsa = read_private_key(&paths.ecdsa_key)?;
    let ed25519 = read_private_key(&paths.ed25519_key)?;
    LogKeys::from_pkcs8_pem(&ecdsa, &ed25519).map_err(|e| {
        anyhow::anyhow!(
            "loading the log keys from {} and {}: {e}",
            paths.ecdsa_key.display(),
            paths.ed25519_key.display()
        )
    })
}

/// Uses supplied key files when both exist, generates the missing ones otherwise.
fn create_keys(paths: &LogPaths) -> anyhow::Result<LogKeys> {
    match (paths.ecdsa_key.exists(), paths.ed25519_key.exists()) {
        (true, true) => read_keys(paths),
        (false, false) => {
            let keys = LogKeys::generate();
            write_private_key(&paths.ecdsa_key, keys.ecdsa_pkcs8_pem().as_bytes())?;
            write_private_key(&paths.ed25519_key, keys.ed25519_pkcs8_pem().as_bytes())?;
            Ok(keys)
        }
        _ => bail!(
            "only one of {} and {} exists: supply both log keys or neither",
            paths.ecdsa_key.display(),
            paths.ed25519_key.display()
        ),
    }
}

/// Writes a new private key file with mode 0600 (never overwriting), and syncs it.
pub(crate) fn write_private_key(path: &Path, pem: &[u8]) -> anyhow::Result<()> {
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
