//! A log's identity (tree ID, names, keys) and the writing of a new log into an empty store.
//! Data directories are opened in [`crate::datadir`].

use crate::storage::{FORMAT_VERSION, LogMeta, LogStore, StorageError, TreeHead};
use arkivo_core::checkpoint::Checkpoint;
use arkivo_core::merkle::{self, Hash};
use arkivo_core::signer::LogKeys;

/// Everything that identifies a log and signs for it.
#[derive(Debug)]
pub struct LogIdentity {
    pub meta: LogMeta,
    pub keys: LogKeys,
    pub kind: LogKind,
}

/// What a log is, which decides how its checkpoints are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// A shard of the Rekor log: a Rekor v1 checkpoint and a C2SP one.
    Rekor,
    /// The CA's Certificate Transparency log (c2sp.org/static-ct-api): one checkpoint, signed
    /// with the RFC 6962 note signature and with Ed25519.
    StaticCt,
}

impl LogIdentity {
    /// The Rekor v1 checkpoint origin `<hostname> - <treeID>` (rekor-v1-api.md §8.1).
    pub fn v1_origin(&self) -> String {
        format!("{} - {}", self.meta.hostname, self.meta.tree_id)
    }

    /// The 80-hex entry ID of `leaf` in this log's tree.
    pub fn entry_id(&self, leaf: &Hash) -> String {
        entry_id(self.meta.tree_id, leaf)
    }

    /// The tree head of `size` entries with root `root`, stamped `timestamp`, with both
    /// checkpoints signed ([`Self::sign_checkpoints`]).
    pub fn signed_head(&self, size: u64, root: Hash, timestamp: i64) -> TreeHead {
        let (checkpoint_v1, checkpoint_c2sp) = self.sign_checkpoints(size, &root);
        TreeHead {
            size,
            root,
            timestamp,
            checkpoint_v1,
            checkpoint_c2sp,
        }
    }

    /// Signs both checkpoints of a tree head: the Rekor v1 one (ECDSA P-256, one signature line
    /// named by the hostname) and the C2SP one (Ed25519, named by the origin). A CT log has no
    /// Rekor v1 checkpoint (an empty one); its C2SP checkpoint is static-ct-api's, timestamped
    /// now.
    pub fn sign_checkpoints(&self, size: u64, root: &Hash) -> (String, String) {
        let v1 = Checkpoint {
            origin: self.v1_origin(),
            size,
            root: *root,
        };
        let c2sp = Checkpoint {
            origin: self.meta.origin.clone(),
            size,
            root: *root,
        };
        if self.kind == LogKind::StaticCt {
            return (
                String::new(),
                arkivo_core::ct::sign_checkpoint(&c2sp, &self.keys, unix_now_ms()),
            );
        }
        (
            arkivo_core::checkpoint::sign_v1(&v1, &self.meta.hostname, &self.keys),
            arkivo_core::checkpoint::sign_c2sp(&c2sp, &self.keys),
        )
    }
}

/// The 80-hex entry ID: 16-hex tree ID ‖ 64-hex leaf hash (rekor-v1-api.md §2).
pub fn entry_id(tree_id: i64, leaf: &Hash) -> String {
    format!("{tree_id:016x}{}", leaf.to_hex())
}

/// Writes a new log — random tree ID, the given name and keys, the signed empty tree head —
/// into an empty store. Its C2SP origin is its hostname.
pub fn create_log(
    store: &dyn LogStore,
    hostname: &str,
    keys: LogKeys,
) -> Result<LogIdentity, StorageError> {
    create_log_with_id(
        store,
        new_tree_id(),
        hostname,
        hostname,
        keys,
        LogKind::Rekor,
    )
}

/// Writes a new shard — the given tree ID (chosen distinct from the other shards'), names,
/// keys and kind, the signed empty tree head — into an empty store.
pub fn create_log_with_id(
    store: &dyn LogStore,
    tree_id: i64,
    hostname: &str,
    origin: &str,
    keys: LogKeys,
    kind: LogKind,
) -> Result<LogIdentity, StorageError> {
    let meta = LogMeta {
        format_version: FORMAT_VERSION,
        tree_id,
        hostname: hostname.to_owned(),
        origin: origin.to_owned(),
        log_id: keys.log_id(),
        created: unix_now(),
    };
    let identity = LogIdentity { meta, keys, kind };
    let head = identity.signed_head(0, merkle::empty_root(), 0);
    store.create(&identity.meta, &head)?;
    Ok(identity)
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Now, in Unix milliseconds (RFC 6962 timestamps).
pub(crate) fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A random positive int64 (rekor-v1-api.md §2: tree ID 0 is invalid).
pub(crate) fn new_tree_id() -> i64 {
    loop {
        let id = rand::random::<i64>() & i64::MAX;
        if id != 0 {
            return id;
        }
    }
}
