//! The sequencer over the in-memory store: batching, dedup, durability-before-answer, and what
//! happens when storage fails. After every step `check_log` re-verifies the whole log.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arkivo_core::merkle::{self, Hash};
use arkivo_core::signer::LogKeys;
use arkivo_server::log::{LogIdentity, create_log};
use arkivo_server::sequencer::{self, SequenceError, SequencerConfig, SequencerHandle, Shard};
use arkivo_server::storage::memory::MemoryStore;
use arkivo_server::storage::{LogStore, NewEntry, StoreHashes};

fn entry(n: u64) -> NewEntry {
    let body = format!("{{\"entry\":{n}}}").into_bytes();
    NewEntry {
        leaf_hash: merkle::record_hash(&body),
        index_keys: vec![format!("sha256:{n:064x}"), "shared-key".into()],
        body,
    }
}

struct Log {
    store: Arc<MemoryStore>,
    identity: Arc<LogIdentity>,
    handle: SequencerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn config() -> SequencerConfig {
    SequencerConfig {
        max_batch: 16,
        max_batch_age: Duration::from_millis(2),
        inbox_capacity: 256,
    }
}

fn new_log(config: SequencerConfig) -> Log {
    let store = Arc::new(MemoryStore::new());
    let identity =
        Arc::new(create_log(store.as_ref(), "log.test:3000", LogKeys::generate()).unwrap());
    start(store, identity, config)
}

fn start(store: Arc<MemoryStore>, identity: Arc<LogIdentity>, config: SequencerConfig) -> Log {
    let active = Shard {
        store: store.clone(),
        identity: identity.clone(),
    };
    let (handle, thread) = sequencer::start(active, Vec::new(), config).unwrap();
    Log {
        store,
        identity,
        handle,
        thread: Some(thread),
    }
}

impl Log {
    /// Stops the sequencer (drains it) and starts a new one over the same store: a restart.
    fn restart(mut self, config: SequencerConfig) -> Log {
        let (store, identity, thread) = (
            self.store.clone(),
            self.identity.clone(),
            self.thread.take(),
        );
        drop(self);
        thread.unwrap().join().unwrap();
        start(store, identity, config)
    }
}

/// Invariants of a log at rest: the stored head is the published one, the stored hashes give
/// its root, every entry is indexed by its leaf hash and provably included, and both
/// checkpoints verify and commit to the head.
fn check_log(log: &Log, expect_size: u64) {
    let store = log.store.as_ref();
    let head = store.head().unwrap();
    assert_eq!(head.size, expect_size);
    assert_eq!(*log.handle.published().head(), head);
    let reader = StoreHashes(store);
    assert_eq!(merkle::tree_hash(head.size, &reader).unwrap(), head.root);
    let leaves: Vec<Hash> = (0..head.size)
        .map(|i| merkle::record_hash(&store.entry(i).unwrap().unwrap().body))
        .collect();
    assert!(store.entry(head.size).unwrap().is_none());
    let indexes = store.indexes_of(&leaves).unwrap();
    for (i, leaf) in leaves.iter().enumerate() {
        let i = i as u64;
        assert_eq!(indexes[i as usize], Some(i));
        let proof = merkle::inclusion_proof(head.size, i, &reader).unwrap();
        merkle::verify_inclusion(i, head.size, leaf, &proof, &head.root).unwrap();
    }
    let keys = &log.identity.keys;
    let v1 = arkivo_core::checkpoint::verify_v1(
        &head.checkpoint_v1,
        keys.ecdsa_verifying_key(),
        &log.identity.meta.hostname,
    )
    .unwrap();
    assert_eq!(
        (v1.origin.as_str(), v1.size, v1.root),
        (log.identity.v1_origin().as_str(), head.size, head.root)
    );
    let c2sp = arkivo_core::checkpoint::verify_c2sp(
        &head.checkpoint_c2sp,
        &keys.ed25519_verifier(&log.identity.meta.origin),
        &[],
    )
    .unwrap();
    assert_eq!((c2sp.size, c2sp.root), (head.size, head.root));
}

async fn submit_all(
    h: &SequencerHandle,
    range: std::ops::Range<u64>,
) -> Vec<Result<u64, SequenceError>> {
    let futs = range.map(|n| {
        let h = h.clone();
        tokio::spawn(async move { h.submit(entry(n)).await.map(|s| s.index) })
    });
    let mut out = Vec::new();
    for f in futs.collect::<Vec<_>>() {
        out.push(f.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sequences_concurrent_writers_into_one_consistent_tree() {
    let log = new_log(config());
    check_log(&log, 0);
    let results = submit_all(&log.handle, 0..200).await;
    let mut indexes: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        (0..200).collect::<Vec<_>>(),
        "every index given exactly once"
    );
    check_log(&log, 200);
    // Search rows were written with the batch.
    assert_eq!(
        log.store.search("shared-key", 200, 1000).unwrap(),
        (0..200).rev().collect::<Vec<_>>()
    );
    assert_eq!(
        log.store
            .search(&format!("sha256:{:064x}", 7), 200, 1000)
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_only_with_a_head_that_includes_the_entry() {
    let log = new_log(config());
    for n in 0..20 {
        let s = log.handle.submit(entry(n)).await.unwrap();
        let head = s.view.head();
        assert!(head.size > s.index);
        // The head handed back is durable: it is (or precedes) the stored head.
        assert!(log.store.head().unwrap().size >= head.size);
        let proof =
            merkle::inclusion_proof(head.size, s.index, &StoreHashes(log.store.as_ref())).unwrap();
        merkle::verify_inclusion(s.index, head.size, &entry(n).leaf_hash, &proof, &head.root)
            .unwrap();
    }
    check_log(&log, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_get_the_existing_index_within_and_across_batches() {
    let log = new_log(config());
    let first = log.handle.submit(entry(1)).await.unwrap().index;
    match log.handle.submit(entry(1)).await {
        Err(SequenceError::Duplicate { index, .. }) => assert_eq!(index, first),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    // Many copies of one new entry at once: exactly one is appended, all others are duplicates.
    let futs: Vec<_> = (0..30)
        .map(|_| {
            let h = log.handle.clone();
            tokio::spawn(async move { h.submit(entry(2)).await.map(|s| s.index) })
        })
        .collect();
    let mut appended = Vec::new();
    let mut dups = Vec::new();
    for f in futs {
        match f.await.unwrap() {
            Ok(i) => appended.push(i),
            Err(SequenceError::Duplicate { index, .. }) => dups.push(index),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(appended.len(), 1);
    assert!(dups.iter().all(|&i| i == appended[0]));
    check_log(&log, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_commit_stops_writes_but_not_reads_and_writes_nothing() {
    let log = new_log(config());
    submit_all(&log.handle, 0..10)
        .await
        .into_iter()
        .for_each(|r| assert!(r.is_ok(), "{r:?}"));
    log.store.faults.fail_commits.store(true, Ordering::SeqCst);
    match log.handle.submit(entry(100)).await {
        Err(SequenceError::Stopped(m)) => assert!(m.contains("injected commit failure"), "{m}"),
        other => panic!("expected writes to stop, got {other:?}"),
    }
    // Even with storage healthy again, this process refuses writes: the tree was uncertain.
    log.store.faults.fail_commits.store(false, Ordering::SeqCst);
    assert!(matches!(
        log.handle.submit(entry(101)).await,
        Err(SequenceError::Stopped(_))
    ));
    assert!(log.handle.published().stopped().is_some());
    check_log(&log, 10);
    assert_eq!(log.store.entry_count(), 10);
    // A restart re-reads the truth and writes resume.
    let log = log.restart(config());
    assert_eq!(log.handle.submit(entry(100)).await.unwrap().index, 10);
    check_log(&log, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_that_landed_but_reported_failure_is_recovered_after_restart() {
    let log = new_log(config());
    submit_all(&log.handle, 0..5)
        .await
        .into_iter()
        .for_each(|r| assert!(r.is_ok(), "{r:?}"));
    log.store.faults.fail_commits.store(true, Ordering::SeqCst);
    log.store
        .faults
        .commit_applies_then_fails
        .store(true, Ordering::SeqCst);
    assert!(
        log.handle.submit(entry(5)).await.is_err(),
        "not acknowledged"
    );
    log.store.faults.fail_commits.store(false, Ordering::SeqCst);
    // The published head never moved past what was acknowledged...
    assert_eq!(log.handle.published().head().size, 5);
    // ...and after a restart the landed batch is part of the log; its retry is a duplicate,
    // and no second tree of size 6 is ever signed.
    let log = log.restart(config());
    check_log(&log, 6);
    assert!(matches!(
        log.handle.submit(entry(5)).await,
        Err(SequenceError::Duplicate { index: 5, .. })
    ));
    assert_eq!(log.handle.submit(entry(6)).await.unwrap().index, 6);
    check_log(&log, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_answers_no_space() {
    let log = new_log(config());
    log.store.faults.no_space.store(true, Ordering::SeqCst);
    log.store.faults.fail_commits.store(true, Ordering::SeqCst);
    assert!(matches!(
        log.handle.submit(entry(0)).await,
        Err(SequenceError::NoSpace(_))
    ));
    check_log(&log, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_inbox_pushes_back_instead_of_queueing() {
    let log = new_log(SequencerConfig {
        max_batch: 1,
        max_batch_age: Duration::ZERO,
        inbox_capacity: 4,
    });
    log.store.faults.stall_commits.store(true, Ordering::SeqCst);
    let h = log.handle.clone();
    let pending = tokio::spawn(async move { submit_all(&h, 0..40).await });
    // With commits stalled at most 1 + 4 entries are accepted; the rest are pushed back.
    tokio::time::sleep(Duration::from_millis(200)).await;
    log.store
        .faults
        .stall_commits
        .store(false, Ordering::SeqCst);
    let results = pending.await.unwrap();
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let pushed_back = results
        .iter()
        .filter(|r| matches!(r, Err(SequenceError::Pushback)))
        .count();
    assert_eq!(accepted + pushed_back, 40, "{results:?}");
    assert!((1..=5).contains(&accepted), "accepted {accepted}");
    check_log(&log, accepted as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_continues_the_same_tree() {
    let log = new_log(config());
    submit_all(&log.handle, 0..37)
        .await
        .into_iter()
        .for_each(|r| assert!(r.is_ok(), "{r:?}"));
    let before = log.handle.published().head();
    let log = log.restart(config());
    assert_eq!(*log.handle.published().head(), *before);
    submit_all(&log.handle, 37..64)
        .await
        .into_iter()
        .for_each(|r| assert!(r.is_ok(), "{r:?}"));
    check_log(&log, 64);
    let proof = merkle::consistency_proof(37, 64, &StoreHashes(log.store.as_ref())).unwrap();
    merkle::verify_consistency(
        37,
        64,
        &proof,
        &before.root,
        &log.store.head().unwrap().root,
    )
    .unwrap();
}
