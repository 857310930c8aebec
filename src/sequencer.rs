//! The sequencer: the single writer that owns the tree.
//!
//! Entries arrive already validated and canonicalized (the sequencer never sees entry kinds).
//! One OS thread takes them from a bounded inbox in batches (up to `max_batch` entries, or
//! whatever arrived within `max_batch_age` of the first), drops duplicates, assigns log indexes,
//! extends the right border, signs the new checkpoints and writes everything as **one atomic,
//! synced commit**. Only then does it answer the waiters: an entry is acknowledged only once it
//! is durable, and a checkpoint is shown to nobody before the tree it commits to is durable.
//!
//! What a crash at each step means:
//! 1. before the commit: nothing of the batch reached the disk and nobody was answered; the
//!    clients see a connection error and retry.
//! 2. during the commit: RocksDB applies a `WriteBatch` atomically, so after restart the batch is
//!    either entirely present or entirely absent; nobody was answered either way. A retry of an
//!    entry that did land gets 409 with its index.
//! 3. after the commit, before or while answering: the batch is durable; unanswered clients
//!    retry and get 409.
//!
//! A failed commit leaves the tree uncertain (the batch may be on disk or not), so the
//! sequencer stops accepting writes instead of guessing — guessing wrong would sign two
//! different trees of the same size, a fork. Reads keep working; a restart re-reads the truth.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::log::LogIdentity;
use crate::merkle::{self, Hash, RightBorder};
use crate::storage::{CommitBatch, LogStore, NewEntry, StorageError, StoreHashes, TreeHead};

/// Batching and back-pressure settings.
#[derive(Clone, Debug)]
pub struct SequencerConfig {
    /// Most entries in one commit.
    pub max_batch: usize,
    /// Longest an entry waits for its batch to fill before it is committed.
    pub max_batch_age: Duration,
    /// Most entries waiting to be sequenced; beyond it, writers are told to retry (503).
    pub inbox_capacity: usize,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            max_batch: 1024,
            max_batch_age: Duration::from_millis(1),
            inbox_capacity: 8192,
        }
    }
}

/// A durably sequenced entry.
#[derive(Clone, Debug)]
pub struct Sequenced {
    pub index: u64,
    /// When the entry's batch was integrated (Unix seconds).
    pub integrated_time: i64,
    /// The head right after the entry's batch; it includes the entry.
    pub head: Arc<TreeHead>,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum SequenceError {
    /// The same leaf is already in the log at this index (409).
    #[error("an equivalent entry already exists at log index {0}")]
    Duplicate(u64),
    /// The inbox is full (503 with Retry-After).
    #[error("the log is busy: too many entries waiting to be sequenced")]
    Pushback,
    /// Writes are stopped after a storage failure, or the server is shutting down (503).
    #[error("writes are stopped: {0}")]
    Stopped(String),
    /// The disk is full (507).
    #[error("the log's storage is full: {0}")]
    NoSpace(String),
}

struct Pending {
    entry: NewEntry,
    reply: Reply,
}

/// State shared between the sequencer and the readers.
#[derive(Debug)]
pub struct Published {
    /// A watch rather than a plain lock so that background tasks (the witness client) can wait
    /// for the next head instead of polling; reads are the same lock-and-clone either way.
    head: watch::Sender<Arc<TreeHead>>,
    stopped: RwLock<Option<String>>,
}

impl Published {
    /// The latest durable tree head: what every read is answered against.
    pub fn head(&self) -> Arc<TreeHead> {
        self.head.borrow().clone()
    }

    /// A receiver of the heads published from now on: it starts at the current one, marked as
    /// seen, and sees the latest head whenever it changes (heads published in between are
    /// skipped). It reports the sender gone only when this `Published` is dropped.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TreeHead>> {
        self.head.subscribe()
    }

    /// Why writes are stopped, if they are.
    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stop(&self, reason: String) {
        let mut s = self.stopped.write().unwrap_or_else(|p| p.into_inner());
        s.get_or_insert(reason);
    }
}

/// A cloneable handle to submit entries. When every handle is dropped the sequencer drains its
/// inbox and its thread ends.
#[derive(Clone, Debug)]
pub struct SequencerHandle {
    inbox: SyncSender<Pending>,
    published: Arc<Published>,
}

impl SequencerHandle {
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// Queues an entry and waits until it is durable (or refused).
    pub async fn submit(&self, entry: NewEntry) -> Result<Sequenced, SequenceError> {
        if let Some(reason) = self.published.stopped() {
            return Err(SequenceError::Stopped(reason));
        }
        let (reply, answer) = oneshot::channel();
        let queued = Instant::now();
        match self.inbox.try_send(Pending { entry, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(SequenceError::Pushback),
            Err(TrySendError::Disconnected(_)) => {
                return Err(SequenceError::Stopped("the sequencer has shut down".into()));
            }
        }
        let result = answer.await.unwrap_or_else(|_| {
            Err(SequenceError::Stopped(
                "the sequencer ended before answering".into(),
            ))
        });
        if result.is_ok() {
            crate::metrics::entry_sequenced(queued.elapsed());
        }
        result
    }
}

/// Starts the sequencer thread over an opened log. Reads the right border (O(log n) hashes) and
/// checks it against the stored root before accepting anything.
pub fn start<S: LogStore>(
    store: Arc<S>,
    identity: Arc<LogIdentity>,
    config: SequencerConfig,
) -> Result<(SequencerHandle, std::thread::JoinHandle<()>), StorageError> {
    let head = store.head()?;
    let indexes = RightBorder::stored_indexes(head.size);
    let border = RightBorder::from_stored(head.size, &store.read_hashes(&indexes)?)
        .map_err(|e| StorageError::Corrupt(format!("right border: {e}")))?;
    if border.root() != head.root {
        return Err(StorageError::Corrupt(format!(
            "the stored hashes give root {} for tree size {}, but the tree head says {}",
            border.root().to_hex(),
            head.size,
            head.root.to_hex()
        )));
    }
    crate::metrics::set_tree_size(head.size);
    let published = Arc::new(Published {
        head: watch::Sender::new(Arc::new(head)),
        stopped: RwLock::new(None),
    });
    let (inbox, rx) = std::sync::mpsc::sync_channel(config.inbox_capacity);
    let mut seq = Sequencer {
        store,
        identity,
        config,
        border,
        published: published.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("arkivo-sequencer".into())
        .spawn(move || seq.run(&rx))
        .map_err(|e| StorageError::Io(format!("starting the sequencer thread: {e}")))?;
    Ok((SequencerHandle { inbox, published }, thread))
}

struct Sequencer<S> {
    store: Arc<S>,
    identity: Arc<LogIdentity>,
    config: SequencerConfig,
    /// The right border of the durable tree; only replaced after a successful commit.
    border: RightBorder,
    published: Arc<Published>,
}

enum Outcome {
    Appended(u64),
    Duplicate(u64),
}

impl<S: LogStore> Sequencer<S> {
    fn run(&mut self, rx: &Receiver<Pending>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            let deadline = Instant::now() + self.config.max_batch_age;
            while batch.len() < self.config.max_batch {
                let wait = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(p) => batch.push(p),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.sequence(batch);
        }
    }

    fn sequence(&mut self, batch: Vec<Pending>) {
        let (entries, replies): (Vec<NewEntry>, Vec<_>) =
            batch.into_iter().map(|p| (p.entry, p.reply)).unzip();
        if let Some(reason) = self.published.stopped() {
            return fail_all(replies, &SequenceError::Stopped(reason));
        }
        let leaves: Vec<Hash> = entries.iter().map(|e| e.leaf_hash).collect();
        // Reading the leaf index does not change the tree: a failure here refuses this batch
        // but leaves the log writable.
        let existing = match self.store.indexes_of(&leaves) {
            Ok(v) => v,
            Err(e) => {
                let err = SequenceError::Stopped(format!("reading the leaf index: {e}"));
                return fail_all(replies, &err);
            }
        };

        let old_head = self.published.head();
        let mut border = self.border.clone();
        let mut hashes = Vec::new();
        let mut fresh = Vec::new();
        let mut outcomes = Vec::with_capacity(entries.len());
        let mut in_batch: HashMap<Hash, u64> = HashMap::new();
        for (entry, known) in entries.into_iter().zip(existing) {
            if let Some(index) = known.or_else(|| in_batch.get(&entry.leaf_hash).copied()) {
                outcomes.push(Outcome::Duplicate(index));
                continue;
            }
            let index = border.size();
            in_batch.insert(entry.leaf_hash, index);
            hashes.extend(border.append(entry.leaf_hash));
            fresh.push(entry);
            outcomes.push(Outcome::Appended(index));
        }

        let head = if fresh.is_empty() {
            old_head
        } else {
            // Integrated time never goes backwards in index order, even if the clock does.
            let timestamp = crate::log::unix_now().max(old_head.timestamp);
            let (checkpoint_v1, checkpoint_c2sp) = self
                .identity
                .sign_checkpoints(border.size(), &border.root());
            let head = TreeHead {
                size: border.size(),
                root: border.root(),
                timestamp,
                checkpoint_v1,
                checkpoint_c2sp,
            };
            let commit = CommitBatch {
                first_index: old_head.size,
                integrated_time: timestamp,
                entries: &fresh,
                hashes: &hashes,
                head: &head,
            };
            let last_leaf = fresh.last().map(|e| e.leaf_hash).unwrap_or_default();
            let started = Instant::now();
            let committed = self.store.commit(&commit);
            let commit_time = started.elapsed();
            if let Err(e) = committed.and_then(|()| self.check(&head, &last_leaf)) {
                // The batch may or may not be on disk: stop writing rather than risk a fork.
                tracing::error!(error = %e, "commit failed; writes are stopped until restart");
                let err = match &e {
                    StorageError::NoSpace(m) => SequenceError::NoSpace(m.clone()),
                    other => SequenceError::Stopped(other.to_string()),
                };
                self.published.stop(err.to_string());
                return fail_all(replies, &err);
            }
            // Durable. From here on the new head may be shown to anyone.
            crate::metrics::batch_committed(fresh.len(), commit_time, head.size);
            self.border = border;
            let head = Arc::new(head);
            self.published.head.send_replace(head.clone());
            head
        };

        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let answer = match outcome {
                Outcome::Appended(index) => Ok(Sequenced {
                    index,
                    integrated_time: head.timestamp,
                    head: head.clone(),
                }),
                Outcome::Duplicate(index) => Err(SequenceError::Duplicate(index)),
            };
            // A waiter that went away (client disconnected) is no error: the entry is durable.
            drop(reply.send(answer));
        }
    }

    /// Re-reads the newest leaf's inclusion proof from storage and verifies it against the new
    /// root, as rekor-tiles does after every integration: a store that lost or garbled hashes is
    /// caught before its head is published.
    fn check(&self, head: &TreeHead, last_leaf: &Hash) -> Result<(), StorageError> {
        let last = head.size - 1;
        merkle::inclusion_proof(head.size, last, &StoreHashes(self.store.as_ref()))
            .and_then(|proof| {
                merkle::verify_inclusion(last, head.size, last_leaf, &proof, &head.root)
            })
            .map_err(|e| StorageError::Corrupt(format!("post-commit self-check: {e}")))
    }
}

type Reply = oneshot::Sender<Result<Sequenced, SequenceError>>;

fn fail_all(replies: Vec<Reply>, err: &SequenceError) {
    for reply in replies {
        drop(reply.send(Err(err.clone())));
    }
}
