//! Durable storage of one log: its identity, tree head, entries, stored Merkle hashes and indexes.
//!
//! The [`LogStore`] trait has exactly the methods the sequencer and the read handlers call, and
//! three implementations: [`rocks::RocksStore`] (the embedded default, RocksDB column families
//! of docs/design.md "Storage"), [`postgres::PgStore`] (tables of a PostgreSQL database with
//! synchronous standbys) and [`memory::MemoryStore`] (tests, with switchable faults).
//!
//! Contract shared by all (tests/storage_conformance.rs runs the same suite on each):
//! - [`LogStore::commit`] is atomic and durable: when it returns `Ok`, every row of the batch
//!   survives a crash (RocksDB: one `WriteBatch` written with `sync = true`); when it returns
//!   `Err`, the batch may or may not have been applied, so the caller must treat the tree as
//!   uncertain until it reopens the store (the sequencer stops writing).
//! - Readers never see a partial batch (RocksDB applies a `WriteBatch` atomically).
//! - Only the sequencer commits; reads may run concurrently from any thread.
//! - Nothing is kept in memory per entry ([`upper::UpperLevels`] keeps one hash per 256 entries
//!   in front of a store, for the readers).

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod query;
#[cfg(feature = "rocksdb")]
pub mod rocks;
pub mod upper;

use std::ops::Range;

use arkivo_core::merkle::{Hash, HashReader, MerkleError};

/// Version of the on-disk layout. Opening data written with another version is refused with a
/// clear message, never silently misread (compare electrs' `Config { format }` check).
///
/// Version 2 puts an entry's SET in the entry's own RocksDB row ([`codec::entry_value`]); its
/// rows tell themselves from those of version 1, which still read, so a store of version 1
/// opens as it is (PostgreSQL's tables did not change) and RocksDB records version 2 with the
/// first commit that writes a row of it: from then on an arkivo of version 1 refuses the data
/// instead of misreading those rows.
pub const FORMAT_VERSION: u32 = 2;

/// Whether a store holding data of format `version` can be opened by this arkivo.
pub fn readable_format(version: u32) -> bool {
    (1..=FORMAT_VERSION).contains(&version)
}

/// A log's identity, written once at creation and never changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMeta {
    pub format_version: u32,
    /// Random positive int64 chosen at creation (rekor-v1-api.md §2); the prefix of entry IDs.
    pub tree_id: i64,
    /// The name clients know the log by: v1 checkpoint signature name, and origin prefix.
    pub hostname: String,
    /// C2SP checkpoint origin (tiles-checkpoints-witnesses.md §2).
    pub origin: String,
    /// SHA-256 of the ECDSA log key's SubjectPublicKeyInfo: ties the key files to this data.
    pub log_id: [u8; 32],
    /// Unix seconds of creation; the lower bound of the key's validity in the trusted root.
    pub created: i64,
}

/// The latest durable tree head and the checkpoints signed for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
    /// Integrated time (Unix seconds) of the batch that produced this head; 0 for the empty tree.
    pub timestamp: i64,
    /// Rekor v1 checkpoint (ECDSA), rekor-v1-api.md §8.
    pub checkpoint_v1: String,
    /// C2SP checkpoint (Ed25519), tiles-checkpoints-witnesses.md §2.
    pub checkpoint_c2sp: String,
}

/// Memory the store holds, in bytes, by use (reported in `/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreMemory {
    /// Write buffers not yet flushed to tables.
    pub memtables: u64,
    /// Table readers' own memory (outside the block cache).
    pub table_readers: u64,
    /// The block cache: data, index and filter blocks.
    pub block_cache: u64,
}

/// One entry as stored: its canonical body (the Merkle leaf), when it was integrated, and the
/// SET signed for it when it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub body: Vec<u8>,
    pub integrated_time: i64,
    /// The signed entry timestamp (rekor-v1-api.md §4, DER), signed once by the sequencer and
    /// served as is by every read. `None` for an entry written before SETs were
    /// stored, and for a CT log's leaves (which have none).
    pub set: Option<Vec<u8>>,
}

/// One entry to append in a batch.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub body: Vec<u8>,
    pub leaf_hash: Hash,
    pub index_keys: Vec<String>,
}

/// Everything one sequenced batch writes, applied as one atomic, durable unit.
#[derive(Debug)]
pub struct CommitBatch<'a> {
    /// Index of `entries[0]`; equals the previous head's size.
    pub first_index: u64,
    pub integrated_time: i64,
    pub entries: &'a [NewEntry],
    /// The SET of each of `entries`, in order — or none at all (a CT log's leaves and a mirror's
    /// entries have none: a mirror has no log key).
    pub sets: &'a [Vec<u8>],
    /// Newly completed stored hashes (`merkle::RightBorder::append` output).
    pub hashes: &'a [(u64, Hash)],
    /// The head after the batch, with its signed checkpoints.
    pub head: &'a TreeHead,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The disk is full: writes cannot proceed until space is freed (HTTP 507).
    #[error("storage is out of space: {0}")]
    NoSpace(String),
    #[error("storage failure: {0}")]
    Io(String),
    /// Data that should be there is missing or malformed.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The data directory holds another format version or another log.
    #[error("{0}")]
    Incompatible(String),
    /// This store may not write: another frontend leads the log (PostgreSQL's epoch fence).
    #[error("fenced: {0}")]
    Fenced(String),
}

/// The storage seam. See the module doc for the durability and concurrency contract.
pub trait LogStore: Send + Sync + 'static {
    /// The log's identity, or `None` if no log was created in this store yet.
    fn meta(&self) -> Result<Option<LogMeta>, StorageError>;
    /// Creates the log: writes its identity and the empty tree head. Fails if one exists.
    fn create(&self, meta: &LogMeta, head: &TreeHead) -> Result<(), StorageError>;
    /// The latest committed tree head.
    fn head(&self) -> Result<TreeHead, StorageError>;
    /// Stored Merkle hashes by stored-hash index (`merkle::stored_hash_index`), in order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError>;
    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StorageError>;
    /// The entries at the log indexes of `range`, in order, with one multi-read (an entry
    /// bundle asks for at most 256). A missing one is [`StorageError::Corrupt`]: callers ask
    /// only below a published tree size.
    fn entries(&self, range: Range<u64>) -> Result<Vec<StoredEntry>, StorageError>;
    /// Log indexes of the given leaf hashes (`None` where absent), in order: dedup and UUID lookup.
    fn indexes_of(&self, leaves: &[Hash]) -> Result<Vec<Option<u64>>, StorageError>;
    /// Log indexes recorded under one search-index key (rekor-v1-api.md §10) that are below
    /// `below`, newest first, at most `limit` of them: a caller pages backwards by passing the
    /// last index it got as the next `below`.
    fn search(&self, key: &str, below: u64, limit: usize) -> Result<Vec<u64>, StorageError>;
    /// Whether the search row of `key` for the entry at `index` exists.
    fn search_row_exists(&self, key: &str, index: u64) -> Result<bool, StorageError>;
    /// Appends one batch atomically and durably (see the module doc).
    fn commit(&self, batch: &CommitBatch<'_>) -> Result<(), StorageError>;
    /// Replaces the head of the same tree (another checkpoint for it): an empty batch, as
    /// atomic and durable as any.
    fn commit_head(&self, head: &TreeHead) -> Result<(), StorageError> {
        self.commit(&CommitBatch {
            first_index: head.size,
            integrated_time: head.timestamp,
            entries: &[],
            sets: &[],
            hashes: &[],
            head,
        })
    }
}

/// Adapts a store to the Merkle core's read seam.
pub struct StoreHashes<'a, S: ?Sized>(pub &'a S);

impl<S: LogStore + ?Sized> HashReader for StoreHashes<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.0
            .read_hashes(indexes)
            .map_err(|e| MerkleError::Storage(e.to_string()))
    }
}

/// Row encodings shared by both stores, so that the memory store exercises the same bytes.
#[cfg_attr(not(feature = "rocksdb"), allow(dead_code))] // Only RocksDB reads some of it.
pub(crate) mod codec {
    use super::{LogMeta, StorageError, StoredEntry, TreeHead};
    use arkivo_core::merkle::Hash;

    pub fn index_key(index: u64) -> [u8; 8] {
        index.to_be_bytes()
    }

    /// A search row key: the index key's bytes, a 0x00 separator, then the big-endian log index,
    /// so one prefix scan lists a key's entries in log order. Index keys containing NUL are
    /// refused before they are written (`arkivo_core::entries::check_index_key`), but logs
    /// written before that may hold some; [`search_row_index`] reads such rows unambiguously.
    pub fn search_row(key: &str, index: u64) -> Vec<u8> {
        let mut row = search_prefix(key);
        row.extend_from_slice(&index.to_be_bytes());
        row
    }

    pub fn search_prefix(key: &str) -> Vec<u8> {
        let mut row = Vec::with_capacity(key.len() + 9);
        row.extend_from_slice(key.as_bytes());
        row.push(0);
        row
    }

    /// The log index of `row`, a row that starts with `prefix` ([`search_prefix`]) — or `None`
    /// when it is not a row of that key but of a longer one that continues with a NUL (say
    /// `"a\0b"` under the prefix of `"a"`): the index is the row's last 8 bytes, and the row is
    /// the key's only if nothing but the prefix comes before them. Every row ever written reads
    /// this way, so the on-disk format is unchanged.
    pub fn search_row_index(prefix: &[u8], row: &[u8]) -> Option<u64> {
        let index: [u8; 8] = row.strip_prefix(prefix)?.try_into().ok()?;
        Some(u64::from_be_bytes(index))
    }

    /// The index key and log index of any search row ([`search_row`]): the row's last 8 bytes
    /// are the index, the NUL before them ends the key. `None` for a row of another shape.
    pub fn split_search_row(row: &[u8]) -> Option<(&[u8], u64)> {
        let (key, index) = row.split_last_chunk::<8>()?;
        Some((key.strip_suffix(&[0])?, u64::from_be_bytes(*index)))
    }

    /// The first byte of an entry row of format version 2. A row of version 1 starts with the
    /// integrated time's first big-endian byte instead, 0x00 for every time before the year 10^9
    /// (0xff for a negative one), so the two never read as each other.
    const ENTRY_ROW_V2: u8 = 2;

    /// An entry row: 0x02 ‖ integrated time (i64 BE) ‖ SET length (u16 BE, 0 for none) ‖ SET
    /// (DER) ‖ canonical body. The SET lives in the entry's row so that reading an entry is one
    /// store read.
    pub fn entry_value(body: &[u8], integrated_time: i64, set: Option<&[u8]>) -> Vec<u8> {
        let set = set.unwrap_or_default();
        let set_len = u16::try_from(set.len()).expect("a SET is an ECDSA signature of < 200 bytes");
        let mut v = Vec::with_capacity(11 + set.len() + body.len());
        v.push(ENTRY_ROW_V2);
        v.extend_from_slice(&integrated_time.to_be_bytes());
        v.extend_from_slice(&set_len.to_be_bytes());
        v.extend_from_slice(set);
        v.extend_from_slice(body);
        v
    }

    /// An entry row of either format, and whether it is of version 1: integrated time (i64 BE)
    /// ‖ canonical body, whose SET, if it has one, is a row of its own in RocksDB's `sets`
    /// column family (the caller reads it there).
    pub fn decode_entry(index: u64, v: &[u8]) -> Result<(StoredEntry, bool), StorageError> {
        let truncated = || StorageError::Corrupt(format!("entry {index} is truncated"));
        if let Some((&ENTRY_ROW_V2, rest)) = v.split_first() {
            let (time, rest) = rest.split_first_chunk::<8>().ok_or_else(truncated)?;
            let (set_len, rest) = rest.split_first_chunk::<2>().ok_or_else(truncated)?;
            let set_len = usize::from(u16::from_be_bytes(*set_len));
            let (set, body) = rest.split_at_checked(set_len).ok_or_else(truncated)?;
            let entry = StoredEntry {
                body: body.to_vec(),
                integrated_time: i64::from_be_bytes(*time),
                set: (set_len > 0).then(|| set.to_vec()),
            };
            return Ok((entry, false));
        }
        let (time, body) = v.split_first_chunk::<8>().ok_or_else(truncated)?;
        let entry = StoredEntry {
            body: body.to_vec(),
            integrated_time: i64::from_be_bytes(*time),
            set: None,
        };
        Ok((entry, true))
    }

    pub fn decode_u64(what: &str, v: &[u8]) -> Result<u64, StorageError> {
        let b: [u8; 8] = v
            .try_into()
            .map_err(|_| StorageError::Corrupt(format!("{what} is not 8 bytes")))?;
        Ok(u64::from_be_bytes(b))
    }

    pub fn decode_hash(what: &str, v: &[u8]) -> Result<Hash, StorageError> {
        Hash::from_slice(v).ok_or_else(|| StorageError::Corrupt(format!("{what} is not 32 bytes")))
    }

    /// Meta and head are small JSON documents: readable with `ldb`, and extensible.
    pub fn encode_meta(m: &LogMeta) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "formatVersion": m.format_version,
            "treeId": m.tree_id,
            "hostname": m.hostname,
            "origin": m.origin,
            "logId": hex::encode(m.log_id),
            "created": m.created,
        }))
        .expect("serializing a JSON value cannot fail")
    }

    pub fn decode_meta(v: &[u8]) -> Result<LogMeta, StorageError> {
        let bad = |what: &str| StorageError::Corrupt(format!("log metadata: {what}"));
        let j: serde_json::Value = serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
        let s = |k: &str| j[k].as_str().map(str::to_owned).ok_or_else(|| bad(k));
        let i = |k: &str| j[k].as_i64().ok_or_else(|| bad(k));
        let log_id: [u8; 32] = hex::decode(s("logId")?)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("logId"))?;
        Ok(LogMeta {
            format_version: u32::try_from(i("formatVersion")?).map_err(|_| bad("formatVersion"))?,
            tree_id: i("treeId")?,
            hostname: s("hostname")?,
            origin: s("origin")?,
            log_id,
            created: i("created")?,
        })
    }

    pub fn encode_head(h: &TreeHead) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "size": h.size,
            "root": h.root.to_hex(),
            "timestamp": h.timestamp,
            "checkpointV1": h.checkpoint_v1,
            "checkpointC2sp": h.checkpoint_c2sp,
        }))
        .expect("serializing a JSON value cannot fail")
    }

    pub fn decode_head(v: &[u8]) -> Result<TreeHead, StorageError> {
        let bad = |what: &str| StorageError::Corrupt(format!("tree head: {what}"));
        let j: serde_json::Value = serde_json::from_slice(v).map_err(|e| bad(&e.to_string()))?;
        let s = |k: &str| j[k].as_str().map(str::to_owned).ok_or_else(|| bad(k));
        Ok(TreeHead {
            size: j["size"].as_u64().ok_or_else(|| bad("size"))?,
            root: Hash::from_hex(&s("root")?).ok_or_else(|| bad("root"))?,
            timestamp: j["timestamp"].as_i64().ok_or_else(|| bad("timestamp"))?,
            checkpoint_v1: s("checkpointV1")?,
            checkpoint_c2sp: s("checkpointC2sp")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::codec::{decode_entry, entry_value};

    #[test]
    fn entry_rows_of_both_formats_read_back() {
        let set = vec![0x30; 71];
        for (set, time, body) in [
            (Some(set.as_slice()), 1_765_000_000, b"{\"a\":1}".as_slice()),
            (None, 0, b"".as_slice()),
            (Some(&[7u8; 255][..]), -1, b"\x02\x00\x00".as_slice()),
        ] {
            let (e, version_1) = decode_entry(5, &entry_value(body, time, set)).unwrap();
            assert!(!version_1);
            assert_eq!(
                (e.body.as_slice(), e.integrated_time, e.set.as_deref()),
                (body, time, set)
            );
        }
        // Rows of format version 1: integrated time ‖ body, whatever the body starts with.
        for time in [0i64, 1_765_000_000, (1 << 56) - 1, -1] {
            let row = [&time.to_be_bytes()[..], b"\x02body"].concat();
            let (e, version_1) = decode_entry(5, &row).unwrap();
            assert!(version_1, "{time}");
            assert_eq!(
                (e.body.as_slice(), e.integrated_time),
                (&b"\x02body"[..], time)
            );
            assert_eq!(e.set, None);
        }
    }

    #[test]
    fn truncated_entry_rows_are_corrupt() {
        let row = entry_value(b"body", 1, Some(&[1; 70]));
        // Cut within the time, the SET's length or the SET (a cut in the body is not detectable).
        for len in [1, 8, 10, 11, 80] {
            let err = decode_entry(9, &row[..len]).unwrap_err().to_string();
            assert!(err.contains("entry 9 is truncated"), "{len}: {err}");
        }
        assert!(decode_entry(9, &[0; 7]).is_err());
    }
}
