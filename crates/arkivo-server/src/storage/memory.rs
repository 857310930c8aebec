//! An in-memory [`LogStore`] for tests, with switchable faults.
//!
//! It keeps the same rows as the RocksDB store (it shares its encodings), so tests exercise the
//! same bytes. [`Faults`] make reads or commits fail on demand; a failing commit can be made to
//! apply the batch anyway (`commit_applies_then_fails`) to model a sync error after the write
//! reached the disk — the case that makes the tree uncertain.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::codec;
use super::{CommitBatch, LogMeta, LogStore, StorageError, StoredEntry, TreeHead};
use arkivo_core::merkle::Hash;

/// Fault switches; all off by default.
#[derive(Debug, Default)]
pub struct Faults {
    pub fail_reads: AtomicBool,
    pub fail_commits: AtomicBool,
    /// With `fail_commits`: apply the batch, then report failure.
    pub commit_applies_then_fails: AtomicBool,
    pub no_space: AtomicBool,
    /// Commits wait while this is set (a stalled disk), so tests can fill the inbox.
    pub stall_commits: AtomicBool,
}

#[derive(Debug, Default)]
struct Rows {
    meta: Option<Vec<u8>>,
    head: Option<Vec<u8>>,
    entries: BTreeMap<u64, Vec<u8>>,
    hashes: BTreeMap<u64, Hash>,
    by_leaf: BTreeMap<Hash, u64>,
    search: BTreeMap<Vec<u8>, ()>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    rows: Mutex<Rows>,
    pub faults: Faults,
    /// What `read_hashes` was asked so far: what a proof costs the store, counted by tests so
    /// that it cannot grow unnoticed.
    pub hash_reads: HashReads,
}

/// Counts of [`LogStore::read_hashes`] calls and of the stored hashes they asked for.
#[derive(Debug, Default)]
pub struct HashReads {
    pub calls: AtomicU64,
    pub hashes: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> Result<std::sync::MutexGuard<'_, Rows>, StorageError> {
        if self.faults.fail_reads.load(Ordering::SeqCst) {
            return Err(StorageError::Io("injected read failure".into()));
        }
        Ok(self.rows.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Number of committed entries (for tests checking that nothing was written).
    pub fn entry_count(&self) -> usize {
        self.rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }
}

impl Rows {
    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StorageError> {
        let Some(v) = self.entries.get(&index) else {
            return Ok(None);
        };
        // Every row here is written by this version: none reads as one of version 1.
        Ok(Some(codec::decode_entry(index, v)?.0))
    }
}

impl LogStore for MemoryStore {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.rows()?
            .meta
            .as_deref()
            .map(codec::decode_meta)
            .transpose()
    }

    fn create(&self, meta: &LogMeta, head: &TreeHead) -> Result<(), StorageError> {
        let mut rows = self.rows()?;
        if rows.meta.is_some() {
            return Err(StorageError::Incompatible(
                "a log already exists in this data directory".into(),
            ));
        }
        rows.meta = Some(codec::encode_meta(meta));
        rows.head = Some(codec::encode_head(head));
        Ok(())
    }

    fn head(&self) -> Result<TreeHead, StorageError> {
        let rows = self.rows()?;
        let v = rows
            .head
            .as_deref()
            .ok_or_else(|| StorageError::Corrupt("the tree head is missing".into()))?;
        codec::decode_head(v)
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
        self.hash_reads.calls.fetch_add(1, Ordering::Relaxed);
        self.hash_reads
            .hashes
            .fetch_add(indexes.len() as u64, Ordering::Relaxed);
        let rows = self.rows()?;
        indexes
            .iter()
            .map(|i| {
                rows.hashes
                    .get(i)
                    .copied()
                    .ok_or_else(|| StorageError::Corrupt(format!("stored hash {i} is missing")))
            })
            .collect()
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StorageError> {
        self.rows()?.entry(index)
    }

    fn entries(&self, range: Range<u64>) -> Result<Vec<StoredEntry>, StorageError> {
        let rows = self.rows()?;
        range
            .map(|index| {
                rows.entry(index)?
                    .ok_or_else(|| StorageError::Corrupt(format!("entry {index} is missing")))
            })
            .collect()
    }

    fn indexes_of(&self, leaves: &[Hash]) -> Result<Vec<Option<u64>>, StorageError> {
        let rows = self.rows()?;
        Ok(leaves
            .iter()
            .map(|l| rows.by_leaf.get(l).copied())
            .collect())
    }

    fn search(&self, key: &str, below: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        let rows = self.rows()?;
        let prefix = codec::search_prefix(key);
        Ok(rows
            .search
            .range(prefix.clone()..=codec::search_row(key, below))
            .rev()
            .filter_map(|(row, ())| codec::search_row_index(&prefix, row))
            .filter(|&index| index < below)
            .take(limit)
            .collect())
    }

    fn search_row_exists(&self, key: &str, index: u64) -> Result<bool, StorageError> {
        Ok(self
            .rows()?
            .search
            .contains_key(&codec::search_row(key, index)))
    }

    fn commit(&self, b: &CommitBatch<'_>) -> Result<(), StorageError> {
        while self.faults.stall_commits.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let fail = self.faults.fail_commits.load(Ordering::SeqCst);
        if fail && !self.faults.commit_applies_then_fails.load(Ordering::SeqCst) {
            return Err(self.injected());
        }
        let mut rows = self.rows()?;
        for (i, (index, e)) in (b.first_index..).zip(b.entries).enumerate() {
            let set = b.sets.get(i).map(Vec::as_slice);
            rows.entries
                .insert(index, codec::entry_value(&e.body, b.integrated_time, set));
            rows.by_leaf.insert(e.leaf_hash, index);
            for key in &e.index_keys {
                rows.search.insert(codec::search_row(key, index), ());
            }
        }
        rows.hashes.extend(b.hashes.iter().copied());
        rows.head = Some(codec::encode_head(b.head));
        if fail {
            return Err(self.injected());
        }
        Ok(())
    }
}

impl MemoryStore {
    fn injected(&self) -> StorageError {
        if self.faults.no_space.load(Ordering::SeqCst) {
            StorageError::NoSpace("injected: no space left on device".into())
        } else {
            StorageError::Io("injected commit failure".into())
        }
    }
}
