//! The RocksDB store: one database, the column families of docs/design.md "Storage".
//!
//! | column family | key | value |
//! | --- | --- | --- |
//! | `meta` | `"meta"`, `"head"` | [`LogMeta`], [`TreeHead`] (JSON) |
//! | `entries` | log index (u64 BE) | 0x02 ‖ integrated time (i64 BE) ‖ SET length (u16 BE) ‖ SET (DER) ‖ canonical body |
//! | `sets` | log index (u64 BE) | the SET (DER) of an entry row of format version 1; no longer written |
//! | `hashes` | stored-hash index (u64 BE) | 32-byte hash |
//! | `by_leaf` | leaf hash (32 bytes) | log index (u64 BE) |
//! | `search` | index key ‖ 0x00 ‖ log index (u64 BE), read from the end | empty |
//!
//! Opening reads only `meta`; the sequencer then reads the right border (O(log n) hashes), so
//! start-up time does not grow with the log.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB,
    DBCompressionType, Direction, FlushOptions, IteratorMode, Options, WriteBatch, WriteOptions,
};

use std::sync::atomic::{AtomicBool, Ordering};

use super::codec;
use super::{
    CommitBatch, FORMAT_VERSION, LogMeta, LogStore, StorageError, StoreMemory, StoredEntry,
    TreeHead, readable_format,
};
use arkivo_core::merkle::Hash;

const CF_META: &str = "meta";
const CF_ENTRIES: &str = "entries";
const CF_HASHES: &str = "hashes";
const CF_BY_LEAF: &str = "by_leaf";
const CF_SEARCH: &str = "search";
/// The SETs of entry rows of format version 1, written by the arkivo that stored SETs before
/// they moved into the entry's row (format version 2, `codec::entry_value`); read only for a
/// row of version 1. A database written before SETs were stored at all gets it, empty, when it
/// is opened (`create_missing_column_families`), and its entries are served with a SET signed
/// at read time (see `api::AppState::signed_entry_timestamp`).
const CF_SETS: &str = "sets";
const COLUMN_FAMILIES: [&str; 6] = [
    CF_META, CF_ENTRIES, CF_HASHES, CF_BY_LEAF, CF_SEARCH, CF_SETS,
];

/// RocksDB's block cache, shared by every column family. Proofs read the hashes of large, old
/// subtrees again and again; 64 MiB keeps them hot while keeping resident memory well under the
/// 300 MB target at 10^7 entries. Index and filter blocks live in it too (see [`table_options`]),
/// so it bounds what reading the tables costs in memory however large the log grows.
const BLOCK_CACHE_BYTES: usize = 64 << 20;

/// All memtables together (every column family). The write-ahead log bound below already makes
/// them flush; this makes their memory a constant of the process too.
const MEMTABLE_BYTES: usize = 64 << 20;

/// The write-ahead log is flushed into tables once it holds this much, so that recovery after a
/// crash replays at most this much, however large the log: start-up time does not grow with it.
const MAX_WAL_BYTES: u64 = 64 << 20;

const KEY_META: &[u8] = b"meta";
const KEY_HEAD: &[u8] = b"head";

pub struct RocksStore {
    db: DB,
    cache: Cache,
    /// The stored format version is older than [`FORMAT_VERSION`]: the next commit, the first
    /// to write rows of this version, records it in the same atomic batch.
    record_format: AtomicBool,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.db.path())
            .finish()
    }
}

/// Maps a RocksDB error, telling a full disk (507 material) from other failures.
pub(crate) fn storage_error(e: rocksdb::Error) -> StorageError {
    let message = e.into_string();
    // RocksDB reports ENOSPC as an IO error whose text carries strerror's wording.
    if message.contains("No space left on device") {
        StorageError::NoSpace(message)
    } else {
        StorageError::Io(message)
    }
}

impl RocksStore {
    /// Opens (creating if missing) the database at `path`, and refuses data of another format.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_total_wal_size(MAX_WAL_BYTES);
        opts.set_db_write_buffer_size(MEMTABLE_BYTES);
        let cache = block_cache();
        let cfs = COLUMN_FAMILIES.map(|name| {
            let mut cf = Options::default();
            cf.set_block_based_table_factory(&table_options(name, &cache));
            // Bodies are base64-heavy JSON; LZ4 is cheap enough for the write path.
            if name == CF_ENTRIES {
                cf.set_compression_type(DBCompressionType::Lz4);
            } else {
                // Hashes, leaf hashes and signatures are random bytes: compression would only cost
                // CPU.
                cf.set_compression_type(DBCompressionType::None);
            }
            ColumnFamilyDescriptor::new(name, cf)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(storage_error)?;
        let store = RocksStore {
            db,
            cache,
            record_format: AtomicBool::new(false),
        };
        if let Some(meta) = store.meta()? {
            if !readable_format(meta.format_version) {
                return Err(StorageError::Incompatible(format!(
                    "{} holds a log of format version {}, but this arkivo reads format versions \
                     1 to {FORMAT_VERSION}; it was not modified",
                    path.display(),
                    meta.format_version,
                )));
            }
            store
                .record_format
                .store(meta.format_version < FORMAT_VERSION, Ordering::Relaxed);
        }
        Ok(store)
    }

    /// The search keys (rekor-v1-api.md §10) of the entries at the log indexes of `range`, as
    /// stored: one scan of every search row, since they are sorted by key (`arkivo storage copy`
    /// reads them this way, a window of indexes at a time; the keys of an in-toto statement
    /// cannot be derived again from the stored body).
    pub fn search_keys(
        &self,
        range: Range<u64>,
    ) -> Result<HashMap<u64, Vec<String>>, StorageError> {
        let mut keys: HashMap<u64, Vec<String>> = HashMap::new();
        for item in self.db.iterator_cf(self.cf(CF_SEARCH), IteratorMode::Start) {
            let (row, _) = item.map_err(storage_error)?;
            let (key, index) = codec::split_search_row(&row)
                .ok_or_else(|| StorageError::Corrupt(format!("search row {row:02x?}")))?;
            if range.contains(&index) {
                let key = String::from_utf8(key.to_vec()).map_err(|_| {
                    StorageError::Corrupt(format!("search key of entry {index} is not UTF-8"))
                })?;
                keys.entry(index).or_default().push(key);
            }
        }
        Ok(keys)
    }

    /// Adds search rows (rekor-v1-api.md §10): `keys[k]` are the keys of the entry at
    /// `first + k`. One synced batch; rows that exist are written again, unchanged. For a
    /// mirror's data directory made before it stored search rows.
    pub fn add_search_rows(&self, first: u64, keys: &[Vec<String>]) -> Result<(), StorageError> {
        let search = self.cf(CF_SEARCH);
        let mut batch = WriteBatch::default();
        for (index, keys) in (first..).zip(keys) {
            for key in keys {
                batch.put_cf(search, codec::search_row(key, index), []);
            }
        }
        self.write_synced(batch)
    }

    /// Memory RocksDB holds now, by use.
    pub fn memory(&self) -> Result<StoreMemory, StorageError> {
        let stats = rocksdb::perf::get_memory_usage_stats(Some(&[&self.db]), Some(&[&self.cache]))
            .map_err(storage_error)?;
        Ok(StoreMemory {
            memtables: stats.mem_table_total,
            table_readers: stats.mem_table_readers_total,
            block_cache: stats.cache_total,
        })
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is created at open")
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(storage_error)
    }

    /// Bytes of every file in the database directory (tables, write-ahead log, manifest): one
    /// directory listing, cheap enough to repeat every few seconds.
    pub fn disk_bytes(&self) -> std::io::Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir(self.db.path())? {
            match entry?.metadata() {
                Ok(m) => total += m.len(),
                // Deleted since the listing (a compaction finished): no longer on disk.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// A consistent copy of the whole database at `dir` (RocksDB checkpoint: hard links where
    /// possible), taken while serving.
    pub fn checkpoint_to(&self, dir: &Path) -> Result<(), StorageError> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(dir))
            .map_err(storage_error)
    }
}

/// The block cache of every database this process opens (each shard of a log is one): memory
/// stays [`BLOCK_CACHE_BYTES`] however many shards there are.
fn block_cache() -> Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE
        .get_or_init(|| Cache::new_lru_cache(BLOCK_CACHE_BYTES))
        .clone()
}

/// How the tables of column family `name` are read.
///
/// By default RocksDB keeps every table's index and filter blocks in memory outside the block
/// cache, so resident memory grows with the log (a 30-minute soak went from 143 to 268 MiB over
/// 9.9 M entries). Here they are partitioned, charged to the shared block cache and evicted like
/// data blocks; only each table's small top-level index stays pinned, and level 0 (the tables
/// every write's duplicate check reads first) keeps its blocks pinned while it exists.
fn table_options(name: &str, cache: &Cache) -> BlockBasedOptions {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    table.set_cache_index_and_filter_blocks(true);
    table.set_cache_index_and_filter_blocks_with_high_priority(true);
    table.set_pin_top_level_index_and_filter(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    if name == CF_BY_LEAF {
        // Every write looks up leaf hashes that are almost never there (dedup): a bloom filter
        // answers "absent" without reading the tables. Partitioned like the index, so that only
        // the partitions in use take cache space.
        table.set_bloom_filter(10.0, false);
        table.set_partition_filters(true);
    }
    table
}

/// A clean close flushes the memtables, so that the next start has no log to replay.
impl Drop for RocksStore {
    fn drop(&mut self) {
        let cfs: Vec<&ColumnFamily> = COLUMN_FAMILIES.iter().map(|n| self.cf(n)).collect();
        if let Err(e) = self.db.flush_cfs_opt(&cfs, &FlushOptions::default()) {
            tracing::warn!(error = %e, "flushing the database at close");
        }
    }
}

impl LogStore for RocksStore {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.db
            .get_pinned_cf(self.cf(CF_META), KEY_META)
            .map_err(storage_error)?
            .map(|v| codec::decode_meta(&v))
            .transpose()
    }

    fn create(&self, meta: &LogMeta, head: &TreeHead) -> Result<(), StorageError> {
        if self.meta()?.is_some() {
            return Err(StorageError::Incompatible(
                "a log already exists in this data directory".into(),
            ));
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), KEY_META, codec::encode_meta(meta));
        batch.put_cf(self.cf(CF_META), KEY_HEAD, codec::encode_head(head));
        self.write_synced(batch)
    }

    fn head(&self) -> Result<TreeHead, StorageError> {
        let v = self
            .db
            .get_pinned_cf(self.cf(CF_META), KEY_HEAD)
            .map_err(storage_error)?
            .ok_or_else(|| StorageError::Corrupt("the tree head is missing".into()))?;
        codec::decode_head(&v)
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
        let cf = self.cf(CF_HASHES);
        let keys: Vec<[u8; 8]> = indexes.iter().map(|&i| codec::index_key(i)).collect();
        self.db
            .batched_multi_get_cf(cf, &keys, false)
            .into_iter()
            .zip(indexes)
            .map(|(r, i)| {
                let v = r
                    .map_err(storage_error)?
                    .ok_or_else(|| StorageError::Corrupt(format!("stored hash {i} is missing")))?;
                codec::decode_hash(&format!("stored hash {i}"), &v)
            })
            .collect()
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StorageError> {
        let key = codec::index_key(index);
        let Some(v) = self
            .db
            .get_pinned_cf(self.cf(CF_ENTRIES), key)
            .map_err(storage_error)?
        else {
            return Ok(None);
        };
        let (mut entry, version_1) = codec::decode_entry(index, &v)?;
        if version_1 {
            entry.set = self
                .db
                .get_cf(self.cf(CF_SETS), key)
                .map_err(storage_error)?;
        }
        Ok(Some(entry))
    }

    fn entries(&self, range: Range<u64>) -> Result<Vec<StoredEntry>, StorageError> {
        let keys: Vec<[u8; 8]> = range.clone().map(codec::index_key).collect();
        // Big-endian keys of an ascending range are sorted, which lets RocksDB skip sorting.
        let mut entries = Vec::with_capacity(keys.len());
        let mut version_1 = Vec::new();
        for (r, (index, key)) in self
            .db
            .batched_multi_get_cf(self.cf(CF_ENTRIES), &keys, true)
            .into_iter()
            .zip(range.zip(&keys))
        {
            let v = r
                .map_err(storage_error)?
                .ok_or_else(|| StorageError::Corrupt(format!("entry {index} is missing")))?;
            let (entry, old) = codec::decode_entry(index, &v)?;
            if old {
                version_1.push((entries.len(), key));
            }
            entries.push(entry);
        }
        // Rows of format version 1 have their SETs in a column family of their own.
        let old_keys: Vec<&[u8; 8]> = version_1.iter().map(|(_, k)| *k).collect();
        let sets = self
            .db
            .batched_multi_get_cf(self.cf(CF_SETS), old_keys, true);
        for ((position, _), set) in version_1.into_iter().zip(sets) {
            entries[position].set = set.map_err(storage_error)?.map(|s| s.to_vec());
        }
        Ok(entries)
    }

    fn indexes_of(&self, leaves: &[Hash]) -> Result<Vec<Option<u64>>, StorageError> {
        let keys: Vec<&[u8; 32]> = leaves.iter().map(Hash::as_bytes).collect();
        self.db
            .batched_multi_get_cf(self.cf(CF_BY_LEAF), keys, false)
            .into_iter()
            .map(|r| {
                r.map_err(storage_error)?
                    .map(|v| codec::decode_u64("leaf index", &v))
                    .transpose()
            })
            .collect()
    }

    fn search(&self, key: &str, below: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        let prefix = codec::search_prefix(key);
        let mut out = Vec::new();
        // Backwards from the row of `below` itself (excluded below): newest first.
        let start = codec::search_row(key, below);
        let iter = self.db.iterator_cf(
            self.cf(CF_SEARCH),
            IteratorMode::From(&start, Direction::Reverse),
        );
        for item in iter {
            if out.len() == limit {
                break;
            }
            let (row, _) = item.map_err(storage_error)?;
            if !row.starts_with(&prefix) {
                break;
            }
            match codec::search_row_index(&prefix, &row) {
                Some(index) if index < below => out.push(index),
                Some(_) => {}
                None => tracing::debug!(key, "skipped the search row of a longer key with a NUL"),
            }
        }
        Ok(out)
    }

    fn search_row_exists(&self, key: &str, index: u64) -> Result<bool, StorageError> {
        self.db
            .get_pinned_cf(self.cf(CF_SEARCH), codec::search_row(key, index))
            .map(|v| v.is_some())
            .map_err(storage_error)
    }

    fn commit(&self, b: &CommitBatch<'_>) -> Result<(), StorageError> {
        let (entries, hashes, by_leaf, search, meta) = (
            self.cf(CF_ENTRIES),
            self.cf(CF_HASHES),
            self.cf(CF_BY_LEAF),
            self.cf(CF_SEARCH),
            self.cf(CF_META),
        );
        let mut batch = WriteBatch::default();
        let record_format = self.record_format.load(Ordering::Relaxed);
        if record_format {
            let mut m = self
                .meta()?
                .ok_or_else(|| StorageError::Corrupt("the log metadata is missing".into()))?;
            m.format_version = FORMAT_VERSION;
            batch.put_cf(meta, KEY_META, codec::encode_meta(&m));
        }
        for (i, (index, e)) in (b.first_index..).zip(b.entries).enumerate() {
            let set = b.sets.get(i).map(Vec::as_slice);
            batch.put_cf(
                entries,
                codec::index_key(index),
                codec::entry_value(&e.body, b.integrated_time, set),
            );
            batch.put_cf(by_leaf, e.leaf_hash.as_bytes(), codec::index_key(index));
            for key in &e.index_keys {
                batch.put_cf(search, codec::search_row(key, index), []);
            }
        }
        for (i, h) in b.hashes {
            batch.put_cf(hashes, codec::index_key(*i), h.as_bytes());
        }
        batch.put_cf(meta, KEY_HEAD, codec::encode_head(b.head));
        self.write_synced(batch)?;
        if record_format {
            self.record_format.store(false, Ordering::Relaxed);
        }
        Ok(())
    }
}
