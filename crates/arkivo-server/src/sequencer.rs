//! The sequencer: the single writer that owns the tree.
//!
//! Entries arrive already validated and canonicalized (the sequencer never sees entry kinds).
//! One OS thread takes them from a bounded inbox in batches (up to `max_batch` entries, or
//! whatever arrived within `max_batch_age` of the first), drops duplicates, assigns log indexes,
//! forms the leaves that depend on their index ([`Leaf`]), extends the right border, signs the
//! new checkpoints and writes everything as **one atomic, synced commit**. Only then does it answer the waiters: an entry is acknowledged only once it
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
//!
//! The sequencer also switches the active shard (rekor-v1-api.md §9, [`SequencerHandle::rotate`])
//! between two batches, so no batch straddles two trees; see [`Sequencer::rotate`] for what a
//! crash during a rotation means. Readers get the head, the active shard and the frozen ones
//! together, as one [`View`], so a head is never paired with another shard's keys or store.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::log::{LogIdentity, LogKind};
use crate::storage::{CommitBatch, LogStore, NewEntry, StorageError, StoreHashes, TreeHead};
use arkivo_core::merkle::{self, Hash, RightBorder};

/// One tree of the log: where it is stored and what identifies and signs for it.
#[derive(Clone)]
pub struct Shard {
    pub store: Arc<dyn LogStore>,
    pub identity: Arc<LogIdentity>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("tree_id", &self.identity.meta.tree_id)
            .finish_non_exhaustive()
    }
}

/// A shard as readers see it: with a head (for a frozen shard, its final one) and the virtual
/// index of its first entry (rekor-v1-api.md §9).
#[derive(Clone, Debug)]
pub struct ShardView {
    pub shard: Shard,
    pub head: Arc<TreeHead>,
    pub offset: u64,
}

impl ShardView {
    pub fn tree_id(&self) -> i64 {
        self.shard.identity.meta.tree_id
    }

    pub fn store(&self) -> &dyn LogStore {
        self.shard.store.as_ref()
    }

    pub fn identity(&self) -> &LogIdentity {
        &self.shard.identity
    }
}

/// Everything readers answer against, published as one value.
#[derive(Clone, Debug)]
pub struct View {
    /// The shard taking appends, at its latest durable head.
    pub active: ShardView,
    /// The frozen shards, oldest first.
    pub frozen: Arc<[ShardView]>,
}

impl View {
    /// The active shard's latest durable head.
    pub fn head(&self) -> &Arc<TreeHead> {
        &self.active.head
    }

    /// The shard with this tree ID.
    pub fn shard(&self, tree_id: i64) -> Option<&ShardView> {
        self.frozen
            .iter()
            .chain(std::iter::once(&self.active))
            .find(|s| s.tree_id() == tree_id)
    }

    /// The shard and the index in it of the entry at virtual index `virtual_index`, if there
    /// is one (§9).
    pub fn locate(&self, virtual_index: u64) -> Option<(&ShardView, u64)> {
        let sizes: Vec<u64> = self.frozen.iter().map(|s| s.head.size).collect();
        let (position, index) = crate::shards::locate(virtual_index, &sizes);
        let shard = self.frozen.get(position).unwrap_or(&self.active);
        (index < shard.head.size).then_some((shard, index))
    }

    /// Every shard in the order a lookup by bare UUID searches them (§3.3): the active one,
    /// then the frozen ones, oldest first.
    pub fn search_order(&self) -> impl Iterator<Item = &ShardView> {
        std::iter::once(&self.active).chain(self.frozen.iter())
    }

    /// Every shard, newest first (the active one first).
    pub fn newest_first(&self) -> impl Iterator<Item = &ShardView> {
        std::iter::once(&self.active).chain(self.frozen.iter().rev())
    }

    /// Every shard, oldest first (the active one last).
    pub fn oldest_first(&self) -> impl Iterator<Item = &ShardView> {
        self.frozen.iter().chain(std::iter::once(&self.active))
    }
}

/// Makes the next shard on disk, given the active shard's identity, and makes it the one a
/// restart opens as active (the data directory's shard list). Returns it opened. On `Err` the
/// active shard must still be the one a restart opens.
pub type CreateShard = Box<dyn FnOnce(&LogIdentity) -> anyhow::Result<Shard> + Send>;

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
    /// Its index in the active shard of `view`.
    pub index: u64,
    /// When the entry's batch was integrated (Unix seconds).
    pub integrated_time: i64,
    /// Its SET as stored with it (a Rekor log's entry; none for a CT log's leaf).
    pub set: Option<Vec<u8>>,
    /// The view right after the entry's batch: its active shard holds the entry and its head
    /// includes it.
    pub view: Arc<View>,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum SequenceError {
    /// The same leaf is already in the active shard (tree `tree_id`) at `index` (409).
    #[error("an equivalent entry already exists at index {index} of tree {tree_id}")]
    Duplicate { index: u64, tree_id: i64 },
    /// The inbox is full (503 with Retry-After).
    #[error("the log is busy: too many entries waiting to be sequenced")]
    Pushback,
    /// Writes are stopped after a storage failure, or the server is shutting down (503).
    #[error("writes are stopped: {0}")]
    Stopped(String),
    /// Another frontend sequences this log (PostgreSQL storage): 503 with a short
    /// `Retry-After`, for the load balancer to send the write to the leader.
    #[error("this frontend does not take writes: {0}")]
    NotLeader(String),
    /// The disk is full (507).
    #[error("the log's storage is full: {0}")]
    NoSpace(String),
}

/// A leaf to append, as the sequencer gets it.
///
/// Most leaves are known before they are sequenced, and are deduplicated by their hash. A CT
/// log's leaf is not: its `TimestampedEntry` carries the index it is given (the `leaf_index`
/// extension of c2sp.org/static-ct-api), so its hash exists only once the sequencer has chosen
/// the index. Rather than a second sequencer, such a leaf comes as the function that forms it
/// from its index; the sequencer calls it while it assigns the batch's indexes, in the one
/// writer, and the batch is committed as one atomic, synced unit as any other.
pub enum Leaf {
    /// A leaf known in advance (a Rekor entry): a duplicate of one in the active shard, or
    /// earlier in the batch, is answered with the index it already has.
    Hashed(NewEntry),
    /// A leaf formed from the index the sequencer assigns it (a CT log's `TileLeaf`). Never a
    /// duplicate: its index is part of it.
    AtIndex(Box<dyn FnOnce(u64) -> NewEntry + Send>),
}

struct Pending {
    leaf: Leaf,
    reply: Reply,
}

/// What the sequencer's inbox carries.
enum Job {
    Entry(Pending),
    Rotate {
        create: CreateShard,
        reply: oneshot::Sender<Result<Arc<View>, String>>,
    },
    Reload {
        head: Option<TreeHead>,
        not_leading: Option<String>,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// State shared between the sequencer and the readers.
pub struct Published {
    /// A watch rather than a plain lock so that background tasks (the witness client) can wait
    /// for the next head instead of polling; reads are the same lock-and-clone either way.
    view: watch::Sender<Arc<View>>,
    stopped: RwLock<Option<String>>,
    /// Why this frontend does not sequence, when another one does (PostgreSQL storage: the
    /// leadership loop of `crate::leader` sets it); `None` on a frontend that writes.
    not_leading: RwLock<Option<String>>,
    /// Called with the view of a new shard before it is published (the TUF repository).
    before_rotation: RwLock<Option<BeforeRotation>>,
}

/// What [`Published::before_rotation`] runs: publishes what clients need to trust the new
/// shard's keys; an error stops writes.
pub type BeforeRotation = Arc<dyn Fn(&View) -> Result<(), String> + Send + Sync>;

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published")
            .field("view", &self.view)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl Published {
    /// The latest view: what every read is answered against.
    pub fn view(&self) -> Arc<View> {
        self.view.borrow().clone()
    }

    /// The active shard's latest durable tree head.
    pub fn head(&self) -> Arc<TreeHead> {
        self.view.borrow().active.head.clone()
    }

    /// A receiver of the views published from now on: it starts at the current one, marked as
    /// seen, and sees the latest view whenever it changes (views published in between are
    /// skipped). It reports the sender gone only when this `Published` is dropped.
    pub fn subscribe(&self) -> watch::Receiver<Arc<View>> {
        self.view.subscribe()
    }

    /// Why writes are stopped, if they are.
    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Why this frontend does not take writes because another one leads, if so.
    pub fn not_leading(&self) -> Option<String> {
        self.not_leading
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether this log's sequencing is what the `/metrics` tree size and batch figures
    /// describe: the Rekor log's; the CT log beside it is counted by certificates issued.
    fn records_metrics(&self) -> bool {
        self.view.borrow().active.identity().kind == LogKind::Rekor
    }

    /// Runs `hook` with the view of each new shard, before any entry or checkpoint is signed
    /// with its keys: clients that refresh their trust material then already have the new keys
    /// when they meet the first signature by them. `None` drops the hook (and whatever it
    /// holds: a hook holding a [`SequencerHandle`] keeps the sequencer running until then).
    pub fn before_rotation(&self, hook: Option<BeforeRotation>) {
        *self
            .before_rotation
            .write()
            .unwrap_or_else(|p| p.into_inner()) = hook;
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
    inbox: SyncSender<Job>,
    published: Arc<Published>,
}

impl SequencerHandle {
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// Queues an entry and waits until it is durable (or refused).
    pub async fn submit(&self, entry: NewEntry) -> Result<Sequenced, SequenceError> {
        self.submit_leaf(Leaf::Hashed(entry)).await
    }

    /// Queues a leaf and waits until it is durable (or refused).
    pub async fn submit_leaf(&self, leaf: Leaf) -> Result<Sequenced, SequenceError> {
        let (reply, answer) = oneshot::channel();
        self.submit_then(leaf, move |result| drop(reply.send(result)));
        answer.await.expect("a Reply always answers")
    }

    /// Queues a leaf; `then` is called exactly once with its outcome: at once if it is refused
    /// before being queued, else on the sequencer's thread after its batch (so it must only
    /// hand the outcome on). Not async: a CPU worker that validated an entry queues it itself,
    /// and its answer can be rendered on a CPU worker too, without a round trip through an
    /// async thread in between (each such hand-off is a thread wake-up per write).
    pub fn submit_then(&self, leaf: Leaf, then: impl FnOnce(Answer) + Send + 'static) {
        let queued = Instant::now();
        let published = self.published.clone();
        let reply = Reply(Some(Box::new(move |result| {
            if result.is_ok() && published.records_metrics() {
                crate::metrics::entry_sequenced(queued.elapsed());
            }
            then(result);
        })));
        if let Some(reason) = self.published.not_leading() {
            return reply.send(Err(SequenceError::NotLeader(reason)));
        }
        if let Some(reason) = self.published.stopped() {
            return reply.send(Err(SequenceError::Stopped(reason)));
        }
        match self.inbox.try_send(Job::Entry(Pending { leaf, reply })) {
            Ok(()) => {}
            Err(TrySendError::Full(Job::Entry(p))) => p.reply.send(Err(SequenceError::Pushback)),
            // Dropping the job answers it (`Reply`'s drop): the sequencer has shut down.
            Err(_) => {}
        }
    }

    /// Freezes the active shard and makes the one `create` makes active, between two batches:
    /// every entry acknowledged before is in the old shard, every one after in the new one.
    /// Blocks until done (waits for room in a full inbox rather than refusing); returns the
    /// view with the new shard active.
    ///
    /// # Errors
    ///
    /// Why the rotation was not made; the active shard is then unchanged.
    pub fn rotate(&self, create: CreateShard) -> Result<Arc<View>, String> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Job::Rotate { create, reply })
            .map_err(|_| "the sequencer has shut down".to_owned())?;
        answer
            .blocking_recv()
            .unwrap_or_else(|_| Err("the sequencer ended before rotating".to_owned()))
    }

    /// Between two batches: makes `head` (read again from the active shard's store, its right
    /// border checked against its root) the published one, if given, and sets whether this
    /// frontend sequences (`not_leading` is `None`) or another one does. Taking the lead clears
    /// a stop after a failed commit: the new leader's head is the store's truth, as after a
    /// restart. Blocks until done. For PostgreSQL storage, where frontends take turns leading.
    ///
    /// # Errors
    ///
    /// Why the head could not be read; the view is then unchanged.
    pub fn reload(
        &self,
        head: Option<TreeHead>,
        not_leading: Option<String>,
    ) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.inbox
            .send(Job::Reload {
                head,
                not_leading,
                reply,
            })
            .map_err(|_| "the sequencer has shut down".to_owned())?;
        answer
            .blocking_recv()
            .unwrap_or_else(|_| Err("the sequencer ended before reloading".to_owned()))
    }
}

/// Starts the sequencer thread over an opened log: `active` takes the appends, `frozen` (oldest
/// first) are only read. Reads the active shard's right border (O(log n) hashes) and checks it
/// against the stored root before accepting anything.
pub fn start(
    active: Shard,
    frozen: Vec<Shard>,
    config: SequencerConfig,
) -> Result<(SequencerHandle, std::thread::JoinHandle<()>), StorageError> {
    let head = active.store.head()?;
    start_at(active, frozen, head, None, config)
}

/// [`start`] at a given head of the active shard (PostgreSQL: the published head, which may be
/// behind the newest committed one), taking writes only if `not_leading` is `None`.
pub fn start_at(
    active: Shard,
    frozen: Vec<Shard>,
    head: TreeHead,
    not_leading: Option<String>,
    config: SequencerConfig,
) -> Result<(SequencerHandle, std::thread::JoinHandle<()>), StorageError> {
    let mut offset = 0;
    let mut frozen_views = Vec::with_capacity(frozen.len());
    for shard in frozen {
        let head = Arc::new(shard.store.head()?);
        let size = head.size;
        frozen_views.push(ShardView {
            shard,
            head,
            offset,
        });
        offset += size;
    }
    let border = right_border(active.store.as_ref(), &head)?;
    if active.identity.kind == LogKind::Rekor {
        crate::metrics::set_tree_size(head.size);
    }
    let view = View {
        active: ShardView {
            shard: active,
            head: Arc::new(head),
            offset,
        },
        frozen: frozen_views.into(),
    };
    let published = Arc::new(Published {
        view: watch::Sender::new(Arc::new(view)),
        stopped: RwLock::new(None),
        not_leading: RwLock::new(not_leading),
        before_rotation: RwLock::new(None),
    });
    let (inbox, rx) = std::sync::mpsc::sync_channel(config.inbox_capacity);
    let mut seq = Sequencer {
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

/// The right border of the tree `head` describes, checked against its root.
pub(crate) fn right_border(
    store: &dyn LogStore,
    head: &TreeHead,
) -> Result<RightBorder, StorageError> {
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
    Ok(border)
}

struct Sequencer {
    config: SequencerConfig,
    /// The right border of the active shard's durable tree; only replaced after a successful
    /// commit (or with the shard, at a rotation).
    border: RightBorder,
    /// The sequencer is the only one to publish; it reads its own latest view from here.
    published: Arc<Published>,
}

enum Outcome {
    Appended(u64),
    Duplicate(u64),
}

impl Sequencer {
    fn run(&mut self, rx: &Receiver<Job>) {
        let mut next = rx.recv().ok();
        while let Some(job) = next.take() {
            let first = match job {
                Job::Entry(p) => p,
                Job::Rotate { create, reply } => {
                    drop(reply.send(self.rotate(create)));
                    next = rx.recv().ok();
                    continue;
                }
                Job::Reload {
                    head,
                    not_leading,
                    reply,
                } => {
                    drop(reply.send(self.reload(head, not_leading)));
                    next = rx.recv().ok();
                    continue;
                }
            };
            let mut batch = vec![first];
            let deadline = Instant::now() + self.config.max_batch_age;
            while batch.len() < self.config.max_batch {
                let wait = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(Job::Entry(p)) => batch.push(p),
                    // A rotation (or reload) ends the batch: it is committed first.
                    Ok(job) => {
                        next = Some(job);
                        break;
                    }
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.sequence(batch);
            if next.is_none() {
                next = rx.recv().ok();
            }
        }
    }

    /// Freezes the active shard at its durable head and makes the one `create` makes active.
    ///
    /// What a crash at each step means:
    /// 1. while `create` makes the new shard (its database, keys and signed empty head): the
    ///    data directory's shard list still names the old shard active, so a restart carries
    ///    on with it; the unlisted new files are ignored.
    /// 2. when `create` replaces the shard list (write, sync, rename, sync the directory): the
    ///    rename is atomic, so a restart opens either the old list or the new one, each
    ///    complete. Every acknowledged entry is in the old shard either way, and nothing was
    ///    written to the new one yet.
    /// 3. after `create` returns: the new list is durable; writes go to the new shard, and the
    ///    old one is never written again — its last head is final, so it cannot fork.
    ///
    /// If `create` fails (even at the last step, where the new list may be durable or not),
    /// writes go on in the old shard: if the new list did survive, a restart finds the old
    /// shard frozen with every entry acknowledged meanwhile — nothing is lost either way. If the
    /// new shard, made and listed, cannot be read back, writes stop until a restart.
    fn rotate(&mut self, create: CreateShard) -> Result<Arc<View>, String> {
        if let Some(reason) = self.published.stopped() {
            return Err(format!("writes are stopped: {reason}"));
        }
        let old = self.published.view();
        crate::shards::check_rotatable(old.active.tree_id(), old.active.head.size)?;
        let shard = match create(old.active.identity()) {
            Ok(shard) => shard,
            Err(e) => {
                let reason = format!("{e:#}");
                // The shard list on disk may name the new shard already: appending to the old
                // one would put entries where a restart no longer writes.
                if e.is::<crate::shards::ShardListChanged>() {
                    self.published.stop(reason.clone());
                }
                return Err(reason);
            }
        };
        let (head, border) = match shard
            .store
            .head()
            .and_then(|head| right_border(shard.store.as_ref(), &head).map(|b| (head, b)))
        {
            Ok(read) => read,
            Err(e) => {
                // A restart opens the new shard, which cannot be read: do not write elsewhere.
                let reason = format!(
                    "the new shard {} cannot be read: {e}",
                    shard.identity.meta.tree_id
                );
                self.published.stop(reason.clone());
                return Err(reason);
            }
        };
        let mut frozen = old.frozen.to_vec();
        frozen.push(old.active.clone());
        let view = Arc::new(View {
            active: ShardView {
                shard,
                head: Arc::new(head),
                offset: old.active.offset + old.active.head.size,
            },
            frozen: frozen.into(),
        });
        let hook = self
            .published
            .before_rotation
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(hook) = hook
            && let Err(e) = hook(&view)
        {
            // The new shard is on the shard list: a restart opens it, and publishes first.
            let reason = format!("the new shard's keys could not be published: {e}");
            self.published.stop(reason.clone());
            return Err(reason);
        }
        self.border = border;
        if self.published.records_metrics() {
            crate::metrics::set_tree_size(view.active.head.size);
        }
        self.published.view.send_replace(view.clone());
        tracing::info!(
            frozen = old.active.tree_id(),
            frozen_size = old.active.head.size,
            active = view.active.tree_id(),
            "rotated the log: the old shard is frozen, appends go to the new one"
        );
        Ok(view)
    }

    /// See [`SequencerHandle::reload`].
    fn reload(
        &mut self,
        head: Option<TreeHead>,
        not_leading: Option<String>,
    ) -> Result<(), String> {
        if let Some(head) = head {
            let old = self.published.view();
            let border =
                right_border(old.active.store(), &head).map_err(|e| format!("reloading: {e}"))?;
            if self.published.records_metrics() {
                crate::metrics::set_tree_size(head.size);
            }
            self.border = border;
            let view = Arc::new(View {
                active: ShardView {
                    head: Arc::new(head),
                    ..old.active.clone()
                },
                frozen: old.frozen.clone(),
            });
            self.published.view.send_replace(view);
        }
        if not_leading.is_none() {
            *self
                .published
                .stopped
                .write()
                .unwrap_or_else(|p| p.into_inner()) = None;
        }
        *self
            .published
            .not_leading
            .write()
            .unwrap_or_else(|p| p.into_inner()) = not_leading;
        Ok(())
    }

    fn sequence(&mut self, batch: Vec<Pending>) {
        let (leaves, replies): (Vec<Leaf>, Vec<_>) =
            batch.into_iter().map(|p| (p.leaf, p.reply)).unzip();
        if let Some(reason) = self.published.not_leading() {
            return fail_all(replies, &SequenceError::NotLeader(reason));
        }
        if let Some(reason) = self.published.stopped() {
            return fail_all(replies, &SequenceError::Stopped(reason));
        }
        let old_view = self.published.view();
        let active = &old_view.active;
        let known: Vec<Hash> = leaves
            .iter()
            .filter_map(|l| match l {
                Leaf::Hashed(e) => Some(e.leaf_hash),
                Leaf::AtIndex(_) => None,
            })
            .collect();
        // Reading the leaf index does not change the tree: a failure here refuses this batch
        // but leaves the log writable. Duplicates are looked for in the active shard only, as
        // Rekor does: an entry of a frozen shard may be logged again.
        let mut existing = match active.store().indexes_of(&known) {
            Ok(v) => v.into_iter(),
            Err(e) => {
                let err = SequenceError::Stopped(format!("reading the leaf index: {e}"));
                return fail_all(replies, &err);
            }
        };

        let old_head = active.head.clone();
        let mut border = self.border.clone();
        let mut hashes = Vec::new();
        let mut fresh = Vec::new();
        let mut outcomes = Vec::with_capacity(leaves.len());
        let mut in_batch: HashMap<Hash, u64> = HashMap::new();
        for leaf in leaves {
            let index = border.size();
            let entry = match leaf {
                Leaf::Hashed(entry) => {
                    let known = existing.next().flatten();
                    if let Some(index) = known.or_else(|| in_batch.get(&entry.leaf_hash).copied()) {
                        outcomes.push(Outcome::Duplicate(index));
                        continue;
                    }
                    in_batch.insert(entry.leaf_hash, index);
                    entry
                }
                Leaf::AtIndex(form) => form(index),
            };
            hashes.extend(border.append(entry.leaf_hash));
            fresh.push(entry);
            outcomes.push(Outcome::Appended(index));
        }

        let mut sets = Vec::new();
        let view = if fresh.is_empty() {
            old_view.clone()
        } else {
            // Integrated time never goes backwards in index order, even if the clock does, nor
            // before the shard's creation, where the validity of its keys in the trusted root
            // starts (clients reject a SET integrated outside it).
            let timestamp = crate::log::unix_now()
                .max(old_head.timestamp)
                .max(active.identity().meta.created);
            sets = signed_entry_timestamps(active, old_head.size, timestamp, &fresh);
            let head = active
                .identity()
                .signed_head(border.size(), border.root(), timestamp);
            let commit = CommitBatch {
                first_index: old_head.size,
                integrated_time: timestamp,
                entries: &fresh,
                sets: &sets,
                hashes: &hashes,
                head: &head,
            };
            let last_leaf = fresh.last().map(|e| e.leaf_hash).unwrap_or_default();
            let started = Instant::now();
            let committed = active.store().commit(&commit);
            let commit_time = started.elapsed();
            if let Err(e) = committed.and_then(|()| check(active.store(), &head, &last_leaf)) {
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
            if self.published.records_metrics() {
                crate::metrics::batch_committed(fresh.len(), commit_time, head.size);
            }
            self.border = border;
            let view = Arc::new(View {
                active: ShardView {
                    head: Arc::new(head),
                    ..active.clone()
                },
                frozen: old_view.frozen.clone(),
            });
            self.published.view.send_replace(view.clone());
            view
        };
        let tree_id = view.active.tree_id();
        // Appended entries come in index order, as their SETs do.
        let mut sets = sets.into_iter();
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let answer = match outcome {
                Outcome::Appended(index) => Ok(Sequenced {
                    index,
                    integrated_time: view.active.head.timestamp,
                    set: sets.next(),
                    view: view.clone(),
                }),
                Outcome::Duplicate(index) => Err(SequenceError::Duplicate { index, tree_id }),
            };
            // A waiter that went away (client disconnected) is no error: the entry is durable.
            reply.send(answer);
        }
    }
}

/// The SETs of a Rekor log's batch `fresh`, whose first entry gets index `first_index` of the
/// active shard, integrated at `integrated_time` (rekor-v1-api.md §4: the SET signs the virtual
/// index, §9). None for a CT log, whose leaves have none.
///
/// Signed here once, stored with the entries in their commit, and served as is by the 201 and
/// every read, so that two reads of an entry return the same bytes. The 201 signed one per entry before, so this moves
/// work rather than adding it; the batch is signed across the CPU worker threads, so the single
/// writer does not wait for one core to sign it all.
fn signed_entry_timestamps(
    active: &ShardView,
    first_index: u64,
    integrated_time: i64,
    fresh: &[NewEntry],
) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    use rayon::prelude::*;
    let identity = active.identity();
    if identity.kind != LogKind::Rekor {
        return Vec::new();
    }
    let log_id = identity.keys.log_id_hex();
    let first = active.offset + first_index;
    fresh
        .par_iter()
        .enumerate()
        .map(|(i, e)| {
            let body = base64::engine::general_purpose::STANDARD.encode(&e.body);
            identity
                .keys
                .sign_set(&body, integrated_time, &log_id, first + i as u64)
        })
        .collect()
}

/// Re-reads the newest leaf's inclusion proof from storage and verifies it against the new
/// root, as rekor-tiles does after every integration: a store that lost or garbled hashes is
/// caught before its head is published.
fn check(store: &dyn LogStore, head: &TreeHead, last_leaf: &Hash) -> Result<(), StorageError> {
    let last = head.size - 1;
    merkle::inclusion_proof(head.size, last, &StoreHashes(store))
        .and_then(|proof| merkle::verify_inclusion(last, head.size, last_leaf, &proof, &head.root))
        .map_err(|e| StorageError::Corrupt(format!("post-commit self-check: {e}")))
}

/// Where a queued leaf's outcome goes: called exactly once. One dropped unanswered (the
/// sequencer's thread ended, or a batch was abandoned) answers that writes are stopped, so no
/// waiter is left hanging and none mistakes it for another failure.
struct Reply(Option<Box<dyn FnOnce(Answer) + Send>>);

/// What a queued leaf's waiter is told.
type Answer = Result<Sequenced, SequenceError>;

impl Reply {
    fn send(mut self, result: Answer) {
        if let Some(then) = self.0.take() {
            then(result);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(then) = self.0.take() {
            then(Err(SequenceError::Stopped(
                "the sequencer ended before answering".into(),
            )));
        }
    }
}

fn fail_all(replies: Vec<Reply>, err: &SequenceError) {
    for reply in replies {
        reply.send(Err(err.clone()));
    }
}
