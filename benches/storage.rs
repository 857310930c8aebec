//! One durable commit of a batch: bodies, hashes, leaf index, search rows and the tree head in
//! one unit (what the sequencer writes per batch). RocksDB: one synced `WriteBatch` of 256
//! entries. PostgreSQL: one transaction of 256 or 1,024 entries acknowledged by a synchronous
//! standby, on three nodes on loopback (a primary and two standbys, `ANY 1`), started here as the
//! tests start them.

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use arkivo_core::merkle::{self, Hash, RightBorder};
use arkivo_server::storage::postgres::PgStore;
use arkivo_server::storage::rocks::RocksStore;
use arkivo_server::storage::{CommitBatch, LogMeta, LogStore, NewEntry, TreeHead};

/// The next `n` entries (bodies of 560 bytes, two search keys each), the hashes they complete
/// and the head after them.
fn batch(border: &mut RightBorder, n: usize) -> (Vec<NewEntry>, Vec<(u64, Hash)>, TreeHead) {
    let first = border.size();
    let mut hashes = Vec::with_capacity(2 * n);
    let entries = (0..n)
        .map(|i| {
            let body = format!("{first}/{i:0560}").into_bytes();
            let leaf_hash = merkle::record_hash(&body);
            hashes.extend(border.append(leaf_hash));
            NewEntry {
                body,
                leaf_hash,
                index_keys: vec![format!("sha256:{}", leaf_hash.to_hex()), "key".into()],
            }
        })
        .collect();
    let head = TreeHead {
        size: border.size(),
        root: border.root(),
        timestamp: 1,
        checkpoint_v1: String::new(),
        checkpoint_c2sp: String::new(),
    };
    (entries, hashes, head)
}

/// Benchmarks committing batches of `n` entries to `store`, whose log `border` is.
fn commits(
    c: &mut Criterion,
    name: &str,
    store: &dyn LogStore,
    border: &mut RightBorder,
    n: usize,
) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(format!("commit of {n} entries"), |b| {
        b.iter(|| {
            let first = border.size();
            let (entries, hashes, head) = batch(border, n);
            store
                .commit(&CommitBatch {
                    first_index: first,
                    integrated_time: 1,
                    entries: &entries,
                    sets: &[],
                    hashes: &hashes,
                    head: &head,
                })
                .unwrap();
        });
    });
    group.finish();
}

fn rocksdb(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path()).unwrap();
    commits(c, "rocksdb synced", &store, &mut RightBorder::empty(), 256);
}

fn postgres(c: &mut Criterion) {
    let cluster = common::pg::Cluster::start(2);
    let store = PgStore::open(&cluster.options()).unwrap();
    assert!(store.try_lead().unwrap());
    let meta = LogMeta {
        format_version: arkivo_server::storage::FORMAT_VERSION,
        tree_id: 1,
        hostname: "bench.test".into(),
        origin: "bench.test".into(),
        log_id: [0; 32],
        created: 1,
    };
    store.create(&meta, &common::storage::empty_head()).unwrap();
    let mut border = RightBorder::empty();
    commits(c, "postgres 3 nodes", &store, &mut border, 256);
    commits(c, "postgres 3 nodes", &store, &mut border, 1024);
}

criterion_group!(benches, rocksdb, postgres);
criterion_main!(benches);
