//! Batches for storage tests, appended the way the sequencer appends them (minus signing).

use arkivo_core::merkle::{self, Hash, RightBorder};
use arkivo_server::datadir::OpenedShard;
use arkivo_server::storage::{CommitBatch, LogStore, NewEntry, TreeHead};

use super::EntrySigner;

/// One batch: its entries, the stored hashes they complete, and the head after it.
pub struct Batch {
    pub first_index: u64,
    pub time: i64,
    pub entries: Vec<NewEntry>,
    /// A stand-in SET per entry (`set of <body>`); clear it for a batch without (a CT log's).
    pub sets: Vec<Vec<u8>>,
    pub hashes: Vec<(u64, Hash)>,
    pub head: TreeHead,
}

impl Batch {
    /// Appends `bodies` to `border`; each entry gets the search key `key-<body length mod 3>`.
    pub fn append(border: &mut RightBorder, bodies: &[String], time: i64) -> Batch {
        let first_index = border.size();
        let mut hashes = Vec::new();
        let entries = bodies
            .iter()
            .map(|b| {
                let leaf = merkle::record_hash(b.as_bytes());
                hashes.extend(border.append(leaf));
                NewEntry {
                    body: b.clone().into_bytes(),
                    leaf_hash: leaf,
                    index_keys: vec![format!("key-{}", b.len() % 3)],
                }
            })
            .collect();
        let head = TreeHead {
            size: border.size(),
            root: border.root(),
            timestamp: time,
            checkpoint_v1: format!("v1 {}", border.size()),
            checkpoint_c2sp: format!("c2sp {}", border.size()),
        };
        let sets = bodies
            .iter()
            .map(|b| format!("set of {b}").into_bytes())
            .collect();
        Batch {
            first_index,
            time,
            entries,
            sets,
            hashes,
            head,
        }
    }

    pub fn commit(&self) -> CommitBatch<'_> {
        CommitBatch {
            first_index: self.first_index,
            integrated_time: self.time,
            entries: &self.entries,
            sets: &self.sets,
            hashes: &self.hashes,
            head: &self.head,
        }
    }
}

/// The head of an empty log, as `create` takes it.
pub fn empty_head() -> TreeHead {
    TreeHead {
        size: 0,
        root: merkle::empty_root(),
        timestamp: 0,
        checkpoint_v1: "v1 0".into(),
        checkpoint_c2sp: "c2sp 0".into(),
    }
}

/// Commits, as the empty log's first batch, one `hashedrekord` entry signed by `signer` per
/// payload, the way the sequencer did before SETs were stored: at the log's creation time, with
/// its checkpoints signed, and no SETs.
pub fn commit_first_batch_without_sets(
    shard: &OpenedShard,
    signer: &EntrySigner,
    payloads: &[&[u8]],
) {
    let mut border = RightBorder::empty();
    let mut hashes = Vec::new();
    let entries: Vec<NewEntry> = payloads
        .iter()
        .map(|payload| {
            let proposed = serde_json::to_vec(&signer.hashedrekord(payload)).unwrap();
            let e = arkivo_core::entries::canonicalize_bytes(&proposed).unwrap();
            hashes.extend(border.append(e.leaf_hash));
            NewEntry {
                body: e.body,
                leaf_hash: e.leaf_hash,
                index_keys: e.index_keys,
            }
        })
        .collect();
    let size = border.size();
    let time = shard.identity.meta.created;
    shard
        .store
        .commit(&CommitBatch {
            first_index: 0,
            integrated_time: time,
            entries: &entries,
            sets: &[],
            hashes: &hashes,
            head: &shard.identity.signed_head(size, border.root(), time),
        })
        .unwrap();
}
