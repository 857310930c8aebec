//! [`UpperLevels`]: a store whose Merkle hashes of the upper levels of the tree are also kept in
//! memory.
//!
//! An inclusion proof in a tree of 10^7 records reads ~24 stored hashes, one per level. The 8
//! of the levels below 8 lie in one 256-record subtree, stored next to each other (post-order
//! numbering, `merkle::stored_hash_index`), so one or two disk blocks hold them; each of the
//! higher ones lies in another block, and for uniformly random entries those blocks are cold.
//! The nodes of levels 8 and up are few — one per 256 records, 1/128 of all stored hashes,
//! 78,000 at 10^7 — and every proof reads some of them: kept here, they cost no disk read.
//!
//! A stored hash never changes once its batch is durable, and hashes are read only below a
//! published tree size (`merkle::HashReader`'s contract), so a cached one is never stale: the
//! cache is filled by reads only, never by a commit that might not have become durable.

use std::ops::Range;
use std::sync::Arc;

use arkivo_core::merkle::{self, Hash};

use super::{CommitBatch, LogMeta, LogStore, StorageError, StoredEntry, TreeHead};

/// The lowest Merkle level kept: level 8 is the level of the hashes of tile level 1, so a
/// subtree below it is one level-0 tile.
const LOWEST_KEPT_LEVEL: u8 = 8;

/// Hashes kept at most: all of levels 8 and up for a tree of 3.3·10^7 records; above that,
/// the most used of them (the highest levels are in every proof). About 48 bytes each.
const KEPT_HASHES: usize = 1 << 18;

/// A [`LogStore`] that answers reads of upper-level stored hashes from memory and passes
/// everything else to the store it wraps.
pub struct UpperLevels {
    store: Arc<dyn LogStore>,
    hashes: quick_cache::sync::Cache<u64, Hash>,
}

impl UpperLevels {
    pub fn new(store: Arc<dyn LogStore>) -> UpperLevels {
        UpperLevels {
            store,
            hashes: quick_cache::sync::Cache::new(KEPT_HASHES),
        }
    }
}

fn kept(index: u64) -> bool {
    merkle::split_stored_hash_index(index).0 >= LOWEST_KEPT_LEVEL
}

impl LogStore for UpperLevels {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
        let mut found: Vec<Option<Hash>> = indexes.iter().map(|i| self.hashes.get(i)).collect();
        let missing: Vec<u64> = indexes
            .iter()
            .zip(&found)
            .filter(|(_, h)| h.is_none())
            .map(|(i, _)| *i)
            .collect();
        if !missing.is_empty() {
            let mut read = self.store.read_hashes(&missing)?.into_iter();
            for (index, slot) in indexes.iter().zip(&mut found) {
                if slot.is_none() {
                    let hash = read.next().ok_or_else(|| {
                        StorageError::Corrupt(format!("stored hash {index} is missing"))
                    })?;
                    if kept(*index) {
                        self.hashes.insert(*index, hash);
                    }
                    *slot = Some(hash);
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.store.meta()
    }
    fn create(&self, meta: &LogMeta, head: &TreeHead) -> Result<(), StorageError> {
        self.store.create(meta, head)
    }
    fn head(&self) -> Result<TreeHead, StorageError> {
        self.store.head()
    }
    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StorageError> {
        self.store.entry(index)
    }
    fn entries(&self, range: Range<u64>) -> Result<Vec<StoredEntry>, StorageError> {
        self.store.entries(range)
    }
    fn indexes_of(&self, leaves: &[Hash]) -> Result<Vec<Option<u64>>, StorageError> {
        self.store.indexes_of(leaves)
    }
    fn search(&self, key: &str, below: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        self.store.search(key, below, limit)
    }
    fn search_row_exists(&self, key: &str, index: u64) -> Result<bool, StorageError> {
        self.store.search_row_exists(key, index)
    }
    fn commit(&self, batch: &CommitBatch<'_>) -> Result<(), StorageError> {
        self.store.commit(batch)
    }
}
