//! How a data directory is created and opened: the RocksDB stores of its shards, their key
//! files and the shard list, and how the next shard is made.
//!
//! Creating a log is a deliberate, visible act (`arkivo init`, or the first `arkivo serve` on an
//! empty data directory). Opening refuses — with a message that says what to do — data of another
//! format, keys that do not belong to the data, and a hostname other than the one the log was
//! created with, because a log's origin never changes (docs/design.md "Identity and keys of a log").

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::keyfile::{read_private_key, write_private_key};
use crate::log::{LogIdentity, LogKind, create_log};
use crate::sequencer::Shard;
use crate::shards::{MANIFEST_FILE, Manifest, ShardListChanged, ShardRecord};
use crate::storage::rocks::RocksStore;
use crate::storage::upper::UpperLevels;
use crate::storage::{LogMeta, LogStore};
use arkivo_core::durable::ReplaceError;
use arkivo_core::signer::LogKeys;

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
        let keys = KeyPaths::in_dir(&data_dir.join("keys"));
        LogPaths {
            data_dir: data_dir.to_owned(),
            ecdsa_key: ecdsa_key.map_or(keys.ecdsa, Path::to_owned),
            ed25519_key: ed25519_key.map_or(keys.ed25519, Path::to_owned),
        }
    }

    /// The first shard's database (the only one of a log never rotated).
    pub(crate) fn db(&self) -> PathBuf {
        self.data_dir.join("db")
    }

    /// The key files of a shard: those in its own key directory `keys_dir` (relative to the
    /// data directory), or the configured ones.
    pub fn keys(&self, keys_dir: Option<&str>) -> KeyPaths {
        match keys_dir {
            Some(dir) => KeyPaths::in_dir(&self.data_dir.join(dir)),
            None => KeyPaths {
                ecdsa: self.ecdsa_key.clone(),
                ed25519: self.ed25519_key.clone(),
            },
        }
    }
}

/// Where a shard's two private keys are.
#[derive(Clone, Debug)]
pub struct KeyPaths {
    pub ecdsa: PathBuf,
    pub ed25519: PathBuf,
}

impl KeyPaths {
    /// The file names a key directory holds (`keys/` of a data directory, or of a shard).
    pub fn in_dir(dir: &Path) -> Self {
        KeyPaths {
            ecdsa: dir.join("log-ecdsa-p256.pem"),
            ed25519: dir.join("log-ed25519.pem"),
        }
    }
}

/// One opened shard of a log.
pub struct OpenedShard {
    pub store: std::sync::Arc<RocksStore>,
    pub identity: std::sync::Arc<LogIdentity>,
    pub record: ShardRecord,
}

impl OpenedShard {
    /// The shard as the sequencer and the readers hold it: its upper tree levels in memory.
    pub fn shard(&self) -> Shard {
        Shard {
            store: std::sync::Arc::new(UpperLevels::new(self.store.clone())),
            identity: self.identity.clone(),
        }
    }
}

/// An opened log: its shards, oldest first, the last one active (rekor-v1-api.md §9).
pub struct OpenedLog {
    pub shards: Vec<OpenedShard>,
    /// True if this call created the log.
    pub created: bool,
}

impl OpenedLog {
    /// The shard that takes appends.
    pub fn active(&self) -> &OpenedShard {
        self.shards.last().expect("a log has at least one shard")
    }

    /// The shard list as the data directory records it.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            shards: self.shards.iter().map(|s| s.record.clone()).collect(),
        }
    }
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

/// Opens the log in `paths` — every shard its shard list names, or the single shard in `db/`
/// when it was never rotated — creating it if `create` is set and none exists.
pub fn open(paths: &LogPaths, hostname: Option<&str>, create: bool) -> anyhow::Result<OpenedLog> {
    if let Some(h) = hostname {
        validate_hostname(h)?;
    }
    let manifest = read_manifest(&paths.data_dir)?;
    let db_dir = paths.db();
    if manifest.is_none() && !db_dir.exists() && !create {
        bail!(
            "no log in {}: create one with `arkivo init --data-dir {}`",
            paths.data_dir.display(),
            paths.data_dir.display()
        );
    }
    let Some(manifest) = manifest else {
        // Never rotated: one shard in `db/` with the configured keys.
        fs::create_dir_all(&paths.data_dir)
            .with_context(|| format!("creating {}", paths.data_dir.display()))?;
        let store = open_store(&db_dir)?;
        let (identity, created) = match store.meta()? {
            Some(meta) => (check_shard(paths, meta, paths.keys(None))?, false),
            None if create => {
                let hostname = hostname.context("a hostname is needed to create a log")?;
                let keys = create_keys(&paths.keys(None))?;
                (create_log(&store, hostname, keys)?, true)
            }
            None => bail!(
                "no log in {}: create one with `arkivo init`",
                paths.data_dir.display()
            ),
        };
        let record = Manifest::single(identity.meta.tree_id).shards.remove(0);
        let shards = vec![OpenedShard {
            store: std::sync::Arc::new(store),
            identity: std::sync::Arc::new(identity),
            record,
        }];
        return check_hostname(OpenedLog { shards, created }, hostname);
    };
    let mut shards = Vec::with_capacity(manifest.shards.len());
    for record in manifest.shards {
        let dir = paths.data_dir.join(&record.db);
        if !dir.join("CURRENT").is_file() {
            bail!(
                "shard {} of the log in {} is missing: {} holds no database",
                record.tree_id,
                paths.data_dir.display(),
                dir.display()
            );
        }
        let store = open_store(&dir)?;
        let meta = store.meta()?.with_context(|| {
            format!("{} holds no log (shard {})", dir.display(), record.tree_id)
        })?;
        if meta.tree_id != record.tree_id {
            bail!(
                "{} holds tree {}, but {MANIFEST_FILE} says tree {} is there; refusing to start",
                dir.display(),
                meta.tree_id,
                record.tree_id
            );
        }
        let keys = paths.keys(record.keys.as_deref());
        let identity = check_shard(paths, meta, keys)?;
        shards.push(OpenedShard {
            store: std::sync::Arc::new(store),
            identity: std::sync::Arc::new(identity),
            record,
        });
    }
    warn_unlisted_shards(paths, &shards);
    check_hostname(
        OpenedLog {
            shards,
            created: false,
        },
        hostname,
    )
}

/// Names the shard directories the shard list does not name: left by a rotation that did not
/// finish (a crash before the list was replaced), never opened. They are left for the operator
/// to remove, since they may hold keys.
fn warn_unlisted_shards(paths: &LogPaths, shards: &[OpenedShard]) {
    let Ok(dirs) = fs::read_dir(paths.data_dir.join("shards")) else {
        return;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if !shards
            .iter()
            .any(|s| s.record.db.starts_with(&format!("shards/{name}/")))
        {
            tracing::warn!(
                "{} is not a shard of this log (left by a rotation that did not finish); it is \
                 not used and may be removed",
                dir.path().display()
            );
        }
    }
}

pub(crate) fn open_store(dir: &Path) -> anyhow::Result<RocksStore> {
    RocksStore::open(dir).with_context(|| format!("opening the log database in {}", dir.display()))
}

/// The shard list of the log in `data_dir`, if it was ever rotated.
pub fn read_manifest(data_dir: &Path) -> anyhow::Result<Option<Manifest>> {
    let path = data_dir.join(MANIFEST_FILE);
    match fs::read(&path) {
        Ok(bytes) => Manifest::parse(&bytes)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The identity of a shard whose metadata is `meta`, with its keys from `keys` (which must be
/// the ones it was created with).
fn check_shard(paths: &LogPaths, meta: LogMeta, keys: KeyPaths) -> anyhow::Result<LogIdentity> {
    check_log(&paths.data_dir, meta, &keys, LogKind::Rekor)
}

/// The identity of the log of kind `kind` in `data_dir` whose metadata is `meta`, with its
/// keys from `keys` (which must be the ones it was created with).
pub(crate) fn check_log(
    data_dir: &Path,
    meta: LogMeta,
    keys: &KeyPaths,
    kind: LogKind,
) -> anyhow::Result<LogIdentity> {
    let loaded = read_keys(keys)?;
    if loaded.log_id() != meta.log_id {
        bail!(
            "the key in {} does not belong to the log in {} (tree {}: log ID {} expected, key \
             has {}); refusing to start",
            keys.ecdsa.display(),
            data_dir.display(),
            meta.tree_id,
            hex::encode(meta.log_id),
            loaded.log_id_hex()
        );
    }
    Ok(LogIdentity {
        meta,
        keys: loaded,
        kind,
    })
}

/// Refuses a `--hostname` other than the one the log was created with.
fn check_hostname(opened: OpenedLog, hostname: Option<&str>) -> anyhow::Result<OpenedLog> {
    let meta = &opened.active().identity.meta;
    if let Some(h) = hostname
        && h != meta.hostname
    {
        bail!(
            "this log was created with hostname {:?}, which names it in every checkpoint and \
             cannot change; drop --hostname {h:?} (serving under another URL is fine)",
            meta.hostname
        );
    }
    Ok(opened)
}

/// Makes the next shard of the log in `paths`, whose shards are `manifest` and whose active
/// shard is `active`, and makes it the active one in the data directory's shard list. The new
/// shard has a new random tree ID, the same hostname, the C2SP origin
/// `<hostname>/shards/<treeID>` (so that no witness mistakes it for the old tree), and either
/// the active shard's keys or, with `new_keys`, new ones in `shards/<treeID>/keys/`.
///
/// Steps, each durable before the next (what a crash at each means is narrated at
/// `Sequencer::rotate`): the shard's directory with its keys and database holding the signed
/// empty tree; then the new shard list, written beside the old one, synced and renamed over
/// it. Until that rename nothing a restart reads has changed; on failure before it the new
/// directory is removed again. A failure after it (the directory not synced) keeps the new
/// directory, since the shard list now names it, and answers [`ShardListChanged`]: the caller
/// must not append to the old shard any more, and a restart opens whichever list the disk kept.
pub fn create_shard(
    paths: &LogPaths,
    manifest: &Manifest,
    active: &LogIdentity,
    new_keys: bool,
) -> anyhow::Result<(OpenedShard, Manifest)> {
    create_shard_with(paths, manifest, active, new_keys, |data_dir, next| {
        arkivo_core::durable::replace(&data_dir.join(MANIFEST_FILE), &next.to_json(), 0o600)
    })
}

/// [`create_shard`], writing the shard list with `write` (a seam for tests to fail it at each
/// step).
fn create_shard_with(
    paths: &LogPaths,
    manifest: &Manifest,
    active: &LogIdentity,
    new_keys: bool,
    write: impl FnOnce(&Path, &Manifest) -> Result<(), ReplaceError>,
) -> anyhow::Result<(OpenedShard, Manifest)> {
    let tree_id = loop {
        let id = crate::log::new_tree_id();
        if manifest.shards.iter().all(|s| s.tree_id != id) {
            break id;
        }
    };
    let dir = format!("shards/{tree_id}");
    let active_record = manifest.shards.last().context("the shard list is empty")?;
    let record = ShardRecord {
        tree_id,
        db: format!("{dir}/db"),
        keys: if new_keys {
            Some(format!("{dir}/keys"))
        } else {
            active_record.keys.clone()
        },
    };
    let shard_dir = paths.data_dir.join(&dir);
    let made = (|| {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&shard_dir)
            .with_context(|| format!("creating {}", shard_dir.display()))?;
        let key_paths = paths.keys(record.keys.as_deref());
        let keys = if new_keys {
            create_keys(&key_paths)?
        } else {
            read_keys(&key_paths)?
        };
        let store = open_store(&paths.data_dir.join(&record.db))?;
        let hostname = &active.meta.hostname;
        let origin = format!("{hostname}/shards/{tree_id}");
        let identity = crate::log::create_log_with_id(
            &store,
            tree_id,
            hostname,
            &origin,
            keys,
            LogKind::Rekor,
        )?;
        Ok::<_, anyhow::Error>(OpenedShard {
            store: std::sync::Arc::new(store),
            identity: std::sync::Arc::new(identity),
            record: record.clone(),
        })
    })();
    let shard = match made {
        Ok(shard) => shard,
        Err(e) => {
            let _ = fs::remove_dir_all(&shard_dir);
            return Err(e);
        }
    };
    let mut next = manifest.clone();
    next.shards.push(record);
    match write(&paths.data_dir, &next) {
        Ok(()) => Ok((shard, next)),
        Err(ReplaceError::NotReplaced(e)) => {
            // The list on disk is the old one: nothing names the new directory.
            drop(shard);
            let _ = fs::remove_dir_all(&shard_dir);
            Err(e).with_context(|| {
                format!("replacing {}", paths.data_dir.join(MANIFEST_FILE).display())
            })
        }
        Err(ReplaceError::NotDurable(source)) => Err(ShardListChanged { tree_id, source }.into()),
    }
}

/// Replaces the shard list of `data_dir` atomically and durably: written beside it, synced,
/// renamed over it, and the directory synced so that the rename survives a crash.
pub fn write_manifest(data_dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let path = data_dir.join(MANIFEST_FILE);
    arkivo_core::durable::replace(&path, &manifest.to_json(), 0o600)
        .with_context(|| format!("replacing {}", path.display()))
}

pub(crate) fn read_keys(paths: &KeyPaths) -> anyhow::Result<LogKeys> {
    let ecdsa = read_private_key(&paths.ecdsa)?;
    let ed25519 = read_private_key(&paths.ed25519)?;
    LogKeys::from_pkcs8_pem(&ecdsa, &ed25519).map_err(|e| {
        anyhow::anyhow!(
            "loading the log keys from {} and {}: {e}",
            paths.ecdsa.display(),
            paths.ed25519.display()
        )
    })
}

/// Uses supplied key files when both exist, generates the missing ones otherwise.
pub(crate) fn create_keys(paths: &KeyPaths) -> anyhow::Result<LogKeys> {
    match (paths.ecdsa.exists(), paths.ed25519.exists()) {
        (true, true) => read_keys(paths),
        (false, false) => {
            let keys = LogKeys::generate();
            write_private_key(&paths.ecdsa, keys.ecdsa_pkcs8_pem().as_bytes())?;
            write_private_key(&paths.ed25519, keys.ed25519_pkcs8_pem().as_bytes())?;
            Ok(keys)
        }
        _ => bail!(
            "only one of {} and {} exists: supply both log keys or neither",
            paths.ecdsa.display(),
            paths.ed25519.display()
        ),
    }
}

/// The default files of the timestamp authority in a data directory.
pub fn default_tsa_files(data_dir: &Path) -> (PathBuf, PathBuf) {
    let keys = data_dir.join("keys");
    (keys.join("tsa-ecdsa-p256.pem"), keys.join("tsa-chain.pem"))
}

/// The log's RFC 3161 timestamp authority: the given key and chain files, or the data
/// directory's own, made on the first start that finds neither (a new key, mode 0600, and a
/// chain of its leaf and a root for `hostname`, valid from `now`). The chain is written first
/// and the key last, so a chain without its key is what an interrupted first start leaves (it
/// never signed anything) and is made again; a key without its chain is refused rather than
/// replaced by a second TSA. The second value is true if this call made them.
pub fn open_tsa(
    data_dir: &Path,
    given: Option<(&Path, &Path)>,
    hostname: &str,
    policy: &str,
    now: u64,
) -> anyhow::Result<(arkivo_core::tsa::TsaSigner, bool)> {
    let defaults = default_tsa_files(data_dir);
    let (key_path, chain_path) = given.unwrap_or((&defaults.0, &defaults.1));
    let mut created = false;
    if given.is_none() {
        match (key_path.exists(), chain_path.exists()) {
            (true, true) => {}
            (false, _) => {
                let (key, chain) = arkivo_core::tsa::generate(hostname, now)?;
                if let Some(dir) = chain_path.parent() {
                    fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                arkivo_core::durable::replace(chain_path, chain.as_bytes(), 0o644)
                    .with_context(|| format!("writing {}", chain_path.display()))?;
                write_private_key(key_path, key.as_bytes())?;
                created = true;
            }
            (true, false) => bail!(
                "{} exists but {} does not: the timestamp authority's key and chain go together \
                 (restore the chain, or remove the key to make a new TSA that clients must be \
                 told to trust)",
                key_path.display(),
                chain_path.display()
            ),
        }
    }
    let key = read_private_key(key_path)?;
    let chain = fs::read_to_string(chain_path)
        .with_context(|| format!("reading {}", chain_path.display()))?;
    let signer = arkivo_core::tsa::TsaSigner::new(&key, &chain, policy).with_context(|| {
        format!(
            "the timestamp authority in {} and {}",
            key_path.display(),
            chain_path.display()
        )
    })?;
    Ok((signer, created))
}

/// The record of the log's timestamp authorities, in the data directory: the chain in use and
/// those it replaced, each with when.
pub const TSA_HISTORY_FILE: &str = "tsa-history.json";

#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TsaHistory {
    /// The PEM chain in use ([`arkivo_core::tsa::TsaSigner::chain_pem`]).
    active: Option<String>,
    replaced: Vec<ReplacedTsa>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReplacedTsa {
    chain: String,
    /// When another chain took its place (Unix seconds).
    replaced: u64,
}

/// Records `tsa` as the log's timestamp authority at `now`: when its chain is not the one in use
/// before (its key or chain file changed), the one before is recorded as replaced now. Returns
/// the trusted-root entries of every TSA replaced so far, oldest first, each valid until it was
/// replaced — as a frozen shard's key stays in the trusted root, valid until the freeze — so
/// that timestamps they made still verify, and none dated after.
pub fn record_tsa(
    data_dir: &Path,
    tsa: &arkivo_core::tsa::TsaSigner,
    now: u64,
) -> anyhow::Result<Vec<arkivo_core::wire::CertificateAuthority>> {
    let path = data_dir.join(TSA_HISTORY_FILE);
    let mut history: TsaHistory = match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TsaHistory::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let current = tsa.chain_pem();
    if history.active.as_deref() != Some(current.as_str()) {
        if let Some(chain) = history.active.replace(current) {
            history.replaced.push(ReplacedTsa {
                chain,
                replaced: now,
            });
        }
        let bytes = serde_json::to_vec_pretty(&history).context("encoding the TSA history")?;
        arkivo_core::durable::replace(&path, &bytes, 0o644)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    history
        .replaced
        .iter()
        .map(|r| {
            arkivo_core::tsa::replaced_authority(&r.chain, r.replaced)
                .with_context(|| format!("a replaced TSA in {}", path.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log created in a new directory, and its paths.
    fn new_log() -> (tempfile::TempDir, LogPaths, OpenedLog) {
        let dir = tempfile::tempdir().unwrap();
        let paths = LogPaths::new(&dir.path().join("data"), None, None);
        let opened = open(&paths, Some("log.example"), true).unwrap();
        (dir, paths, opened)
    }

    /// Rotates the log in `paths`, writing the shard list with `write`; returns the new tree
    /// ID and the error.
    fn rotate_failing(
        paths: &LogPaths,
        opened: OpenedLog,
        write: impl FnOnce(&Path, &Manifest) -> Result<(), ReplaceError>,
    ) -> (i64, anyhow::Error) {
        let new_id = std::cell::Cell::new(0);
        let err = create_shard_with(
            paths,
            &opened.manifest(),
            &opened.active().identity,
            true,
            |dir, next| {
                new_id.set(next.shards.last().unwrap().tree_id);
                write(dir, next)
            },
        )
        .err()
        .expect("the rotation fails");
        (new_id.get(), err)
    }

    #[test]
    fn a_shard_list_renamed_but_not_synced_keeps_the_shard_it_names() {
        let (_dir, paths, opened) = new_log();
        let old_id = opened.active().identity.meta.tree_id;
        let (new_id, err) = rotate_failing(&paths, opened, |dir, next| {
            arkivo_core::durable::replace(&dir.join(MANIFEST_FILE), &next.to_json(), 0o600)?;
            Err(ReplaceError::NotDurable(std::io::Error::other(
                "injected: syncing the directory failed",
            )))
        });
        let changed = err
            .downcast_ref::<ShardListChanged>()
            .expect("ShardListChanged");
        assert_eq!(changed.tree_id, new_id);
        // A restart opens the list the disk holds, and the shard it names is there.
        let reopened = open(&paths, None, false).unwrap();
        let ids: Vec<i64> = reopened.shards.iter().map(|s| s.record.tree_id).collect();
        assert_eq!(ids, [old_id, new_id]);
    }

    #[test]
    fn a_shard_list_not_replaced_leaves_the_old_log() {
        let (_dir, paths, opened) = new_log();
        let old_id = opened.active().identity.meta.tree_id;
        let (new_id, err) = rotate_failing(&paths, opened, |_, _| {
            Err(ReplaceError::NotReplaced(std::io::Error::other(
                "injected: the disk is full",
            )))
        });
        assert!(!err.is::<ShardListChanged>(), "{err:#}");
        assert!(!paths.data_dir.join(format!("shards/{new_id}")).exists());
        let reopened = open(&paths, None, false).unwrap();
        let ids: Vec<i64> = reopened.shards.iter().map(|s| s.record.tree_id).collect();
        assert_eq!(ids, [old_id]);
    }
}
