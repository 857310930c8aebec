//! One storage contract, every store: the same suite runs against the in-memory store, RocksDB
//! in a temporary directory, and PostgreSQL (a primary with a synchronous standby, started by
//! the test under a temporary directory).

mod common;

use arkivo_core::merkle::{self, Hash, RightBorder};
use arkivo_server::storage::memory::MemoryStore;
use arkivo_server::storage::postgres::PgStore;
use arkivo_server::storage::rocks::RocksStore;
use arkivo_server::storage::{
    FORMAT_VERSION, LogMeta, LogStore, StorageError, StoreHashes, TreeHead,
};
use common::pg::Cluster;
use common::storage::{Batch, empty_head};

fn meta() -> LogMeta {
    LogMeta {
        format_version: FORMAT_VERSION,
        tree_id: 4242,
        hostname: "log.test".into(),
        origin: "log.test".into(),
        log_id: [7; 32],
        created: 1_700_000_000,
    }
}

/// The contract of `LogStore`, on a store with no log yet (and, for PostgreSQL, leading).
fn conformance(store: &dyn LogStore) {
    // A log is created once.
    assert_eq!(store.meta().unwrap(), None);
    store.create(&meta(), &empty_head()).unwrap();
    assert_eq!(store.meta().unwrap(), Some(meta()));
    assert_eq!(store.head().unwrap(), empty_head());
    assert!(matches!(
        store.create(&meta(), &empty_head()),
        Err(StorageError::Incompatible(_))
    ));
    assert_eq!(
        store.meta().unwrap(),
        Some(meta()),
        "unchanged by the refused create"
    );

    // Batches of growing size; each commit moves the head.
    let mut border = RightBorder::empty();
    let mut heads: Vec<TreeHead> = vec![empty_head()];
    for batch in 0..10 {
        let bodies: Vec<String> = (0..(batch * 7 + 1))
            .map(|i| format!("entry {batch}/{i}"))
            .collect();
        let mut b = Batch::append(&mut border, &bodies, 1000 + batch as i64);
        if batch == 3 {
            // A batch without SETs, as a CT log's.
            b.sets.clear();
        }
        store.commit(&b.commit()).unwrap();
        assert_eq!(store.head().unwrap(), b.head);
        heads.push(b.head);
    }
    let size = border.size();
    let head = heads.last().unwrap();

    // The stored hashes make the tree: its root, its right border, and every proof.
    let reader = StoreHashes(store);
    assert_eq!(merkle::tree_hash(size, &reader).unwrap(), head.root);
    let stored = store
        .read_hashes(&RightBorder::stored_indexes(size))
        .unwrap();
    assert_eq!(RightBorder::from_stored(size, &stored).unwrap(), border);
    assert!(matches!(
        store.read_hashes(&[u64::from(u32::MAX)]),
        Err(StorageError::Corrupt(_))
    ));
    for old in &heads[1..] {
        let proof = merkle::consistency_proof(old.size, size, &reader).unwrap();
        merkle::verify_consistency(old.size, size, &proof, &old.root, &head.root).unwrap();
    }

    // Entries by index, with their batch's integrated time; leaf hashes back to indexes.
    for i in [0, 1, size / 2, size - 1] {
        let e = store.entry(i).unwrap().unwrap();
        let leaf = merkle::record_hash(&e.body);
        assert_eq!(store.indexes_of(&[leaf]).unwrap(), vec![Some(i)]);
        let proof = merkle::inclusion_proof(size, i, &reader).unwrap();
        merkle::verify_inclusion(i, size, &leaf, &proof, &head.root).unwrap();
    }
    assert_eq!(store.entry(0).unwrap().unwrap().integrated_time, 1000);
    assert_eq!(
        store.entry(size - 1).unwrap().unwrap().integrated_time,
        1009
    );
    assert!(store.entry(size).unwrap().is_none());
    // Each entry's SET as committed with it; none for the batch committed without.
    let without: std::ops::Range<u64> = (1 + 8 + 15)..(1 + 8 + 15 + 22);
    for i in [
        0,
        without.start - 1,
        without.start,
        without.end - 1,
        without.end,
        size - 1,
    ] {
        let e = store.entry(i).unwrap().unwrap();
        let expected = (!without.contains(&i))
            .then(|| format!("set of {}", String::from_utf8(e.body.clone()).unwrap()).into_bytes());
        assert_eq!(e.set, expected, "entry {i}");
    }
    let leaves: Vec<Hash> = [3, 0, 9]
        .iter()
        .map(|&i| merkle::record_hash(&store.entry(i).unwrap().unwrap().body))
        .collect();
    assert_eq!(
        store
            .indexes_of(&[leaves[0], Hash([9; 32]), leaves[1], leaves[2]])
            .unwrap(),
        vec![Some(3), None, Some(0), Some(9)],
        "in the order asked, absent ones as None"
    );

    // A range read gives the same entries in order; a missing one is corruption.
    let all = store.entries(0..size).unwrap();
    assert_eq!(all.len() as u64, size);
    for i in [0, 1, size / 2, size - 1] {
        assert_eq!(all[i as usize], store.entry(i).unwrap().unwrap());
    }
    assert_eq!(store.entries(5..9).unwrap(), all[5..9]);
    assert!(store.entries(size..size).unwrap().is_empty());
    assert!(matches!(
        store.entries(size - 1..size + 1),
        Err(StorageError::Corrupt(_))
    ));

    // Search: newest first, below a bound, at most a limit; a key's prefix is another key.
    let found = store.search("key-0", size, usize::MAX).unwrap();
    assert!(
        !found.is_empty() && found.windows(2).all(|w| w[0] > w[1]),
        "newest first: {found:?}"
    );
    assert_eq!(store.search("key-0", size, 2).unwrap(), found[..2]);
    assert_eq!(store.search("key-0", found[1], 1).unwrap(), found[2..3]);
    assert_eq!(store.search("key-0", u64::MAX, usize::MAX).unwrap(), found);
    for &i in &found {
        assert_eq!(store.entry(i).unwrap().unwrap().body.len() % 3, 0);
        assert!(store.search_row_exists("key-0", i).unwrap());
        assert!(!store.search_row_exists("key-1", i).unwrap());
    }
    assert!(store.search("key", size, usize::MAX).unwrap().is_empty());
    assert!(
        store
            .search("nothing", size, usize::MAX)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn memory() {
    conformance(&MemoryStore::new());
}

#[test]
fn rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&RocksStore::open(dir.path()).unwrap());
}

#[test]
fn postgres() {
    let cluster = Cluster::start(1);
    let store = PgStore::open(&cluster.options()).unwrap();
    assert!(store.try_lead().unwrap());
    conformance(&store);
    // Another frontend on the same database reads the same log.
    let other = PgStore::open(&cluster.options()).unwrap();
    assert_eq!(other.meta().unwrap(), Some(meta()));
    assert_eq!(other.head().unwrap(), store.head().unwrap());
}
