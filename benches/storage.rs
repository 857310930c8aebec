//! One synced RocksDB commit of a 256-entry batch: bodies, hashes, leaf index, search rows and
//! the tree head in one `WriteBatch` (what the sequencer writes per batch).

use criterion::{Criterion, criterion_group, criterion_main};

use arkivo_core::merkle::{self, RightBorder};
use arkivo_server::storage::rocks::RocksStore;
use arkivo_server::storage::{CommitBatch, LogStore, NewEntry, TreeHead};

fn commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path()).unwrap();
    let mut border = RightBorder::empty();
    let mut batch_no = 0u64;
    c.bench_function("synced commit of 256 entries", |b| {
        b.iter(|| {
            batch_no += 1;
            let first = border.size();
            let mut hashes = Vec::with_capacity(512);
            let entries: Vec<NewEntry> = (0..256)
                .map(|i| {
                    let body = format!("{batch_no}/{i:0560}").into_bytes();
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
            store
                .commit(&CommitBatch {
                    first_index: first,
                    integrated_time: 1,
                    entries: &entries,
                    hashes: &hashes,
                    head: &head,
                })
                .unwrap();
        });
    });
}

criterion_group!(benches, commit);
criterion_main!(benches);
