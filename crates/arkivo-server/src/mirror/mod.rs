//! `arkivo mirror` (c2sp.org/tlog-mirror, docs/mirror.md): follows a log through its tiles,
//! verifies every checkpoint, tile and entry bundle against the log's key and against what it
//! already holds, stores what it verified in its own RocksDB, cosigns each checkpoint it has
//! durably copied, and serves the copy with the tlog-tiles read API.
//!
//! Update process (tlog-mirror "Updating a Mirror", pull variant: "A mirror MAY additionally
//! implement other update processes"). The store's tree head is the mirror's *next entry*: the
//! verified tree `(c, root_c)` it holds, pending entries included; its `checkpoint_c2sp` is the
//! *mirror checkpoint*, the log's note of size `m ≤ c` with the mirror's cosignature, which is
//! all that is served. Each round:
//! 1. fetch the log's checkpoint, verify its signature by the log's key (the `--vkey`);
//! 2. a smaller checkpoint must match the root the mirror computes at its size from its own
//!    hashes (else the log forked); an equal size must have the same root; a larger one needs
//!    the consistency proof from `c`, read from the log's hash tiles and classified by
//!    [`arkivo_core::mirror::classify`] — a proof that leads to the signed root from another
//!    root is a fork: an alert, the `arkivo_mirror_forked` metric and `/mirror/status`, and the
//!    mirror stops following and keeps serving what it had;
//! 3. fetch the entry bundles of `[c, n)` in chunks; append their leaf hashes to the right
//!    border and prove the chunk's root consistent with the signed root `n` (from hash tiles)
//!    before committing the chunk's entries (with their search rows), hashes and next entry as
//!    one synced batch; the last chunk's root must be the signed root itself, and its batch
//!    also carries the new mirror checkpoint with the mirror's cosignature (tlog-mirror: "MUST
//!    NOT sign or update its mirror checkpoint until all entries are durably committed").
//!
//! A crash anywhere leaves a verified prefix: the next start resumes from the stored next entry.
//!
//! With the log's v1 key (`--log-key`) the mirror also copies and serves the Rekor v1 reads:
//! [`v1`].

mod push;
mod v1;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, ensure};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::task::JoinSet;

use crate::api::{ApiError, cache, tiles as tile_api};
use crate::log::{LogKind, new_tree_id, unix_now};
use crate::logging::notice;
use crate::storage::rocks::RocksStore;
use crate::storage::{CommitBatch, LogMeta, LogStore, NewEntry, StoreHashes, TreeHead};
use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::limits::{
    HEADER_READ_TIMEOUT, MAX_ADD_CHECKPOINT_BYTES, MAX_QUERY_BODY_BYTES, MAX_RETRIEVE_ITEMS,
};
use arkivo_core::merkle::{self, Hash, RightBorder};
use arkivo_core::mirror::{
    Consistency, V1Entry, classify, consistency_proof_tiles, verify_v1_entry,
};
use arkivo_core::note::{self, Cosigner, Ed25519Verifier, NoteVerifier, VKey};
use arkivo_core::tiles::{self, TILE_WIDTH, Tile, TilePath, TileSet};
use arkivo_core::wire::{LogEntry, LogInfo};
use v1::{
    V1Head, V1Log, v1_entry_by_index, v1_entry_by_uuid, v1_log_info, v1_log_proof, v1_public_key,
    v1_retrieve, v1_search,
};

/// The mirror's cosigning key's file under the data directory.
const KEY_FILE: &str = "keys/mirror-ed25519.pem";

/// Entry bundles fetched, verified and committed together: 16,384 entries, one synced batch.
const CHUNK_BUNDLES: u64 = 64;

/// Entry bundles fetched at once.
const FETCHES_IN_FLIGHT: usize = 8;

/// The longest answer the mirror reads from the log: a full entry bundle of the largest entries
/// (tlog-tiles §4.5: 256 entries, each a `uint16` length and at most 65,535 bytes).
const MAX_FETCH_BYTES: usize = TILE_WIDTH as usize * (2 + tiles::MAX_BUNDLE_ENTRY_BYTES);

/// Longest one request to the log may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of `arkivo mirror`.
#[derive(Clone, Debug)]
pub struct MirrorConfig {
    /// The log's URL prefix (where its `/checkpoint` and `/tile/` are).
    pub log_url: String,
    /// The vkey of the log's Ed25519 checkpoint key; its name is the log's origin.
    pub vkey: String,
    pub data_dir: std::path::PathBuf,
    pub listen: String,
    /// Name of the mirror's cosignatures; fixed at creation [default: the listen address].
    pub name: Option<String>,
    /// Time between two polls of the log's checkpoint.
    pub poll_interval: Duration,
    /// The log's Rekor v1 ECDSA public key (PEM): with it the mirror also copies what the v1
    /// reads need and serves them.
    pub log_key: Option<std::path::PathBuf>,
    /// Push mode (docs/mirror.md): take `add-checkpoint` and `add-entries` instead of following
    /// the log.
    pub push: bool,
}

/// Entries of one chunk that the log integrated at one time: committed as one batch.
struct Run {
    first_index: u64,
    integrated_time: i64,
    entries: Vec<NewEntry>,
    sets: Vec<Vec<u8>>,
    hashes: Vec<(u64, Hash)>,
    /// The tree after the run.
    border: RightBorder,
}

/// What `/mirror/status` shows.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    /// The size of the log's latest checkpoint that verified.
    log_size: u64,
    /// Why the mirror stopped following: the log signed a tree inconsistent with the mirror's.
    fork: Option<String>,
    /// The last round's failure (the log unreachable, data that did not verify), if it failed.
    last_error: Option<String>,
}

/// A mirror: its store, the log it copies, its cosigning key.
pub struct Mirror {
    store: Arc<RocksStore>,
    log: Ed25519Verifier,
    cosigner: Cosigner,
    log_url: String,
    http: reqwest::Client,
    /// The served mirror checkpoint (with the mirror's cosignature) and its tree size; empty
    /// and 0 before the first copy.
    served: RwLock<(String, u64)>,
    status: RwLock<Status>,
    /// The log's v1 key, when the mirror serves v1 reads.
    v1: Option<Arc<V1Log>>,
    /// The v1 checkpoint served; none before the first is stored.
    v1_head: RwLock<Option<V1Head>>,
    /// Push mode's state; none in pull mode.
    push: Option<push::Push>,
}

/// Why a round stopped.
enum RoundError {
    /// The log signed a tree inconsistent with the mirror's: stop following.
    Fork(String),
    /// Anything else (unreachable, bad data): retried next round, nothing stored.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for RoundError {
    fn from(e: anyhow::Error) -> Self {
        RoundError::Failed(e)
    }
}

impl Mirror {
    /// Opens the mirror in `config.data_dir`, creating it (key and store) on first start.
    ///
    /// # Errors
    /// A vkey that is not an Ed25519 one, a data directory mirroring another log, a key file
    /// readable by others, storage failures.
    pub fn open(config: &MirrorConfig) -> anyhow::Result<Mirror> {
        let log = match note::parse_vkey(&config.vkey)
            .with_context(|| format!("--vkey {:?}", config.vkey))?
        {
            VKey::Ed25519(v) => v,
            VKey::Cosignature(_) => anyhow::bail!(
                "--vkey must be the log's Ed25519 checkpoint key (type 0x01), not a cosigner's"
            ),
        };
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let db = dir.join("db");
        let store = RocksStore::open(&db)
            .with_context(|| format!("opening the mirror database in {}", db.display()))?;
        let key = crate::witness::server::read_or_make_key(&dir.join(KEY_FILE))?;
        // The log's identity in the store: its origin and its key's hash. The name is the
        // mirror's own (the name of its cosignatures).
        let name = match store.meta()? {
            Some(meta) => {
                ensure!(
                    meta.origin == log.name() && meta.log_id == log.key_hash(),
                    "{} mirrors the log {:?} with another key, not {}; refusing to start",
                    dir.display(),
                    meta.origin,
                    config.vkey
                );
                if let Some(name) = &config.name {
                    ensure!(
                        *name == meta.hostname,
                        "this mirror was created with name {:?}, which is part of its vkey and \
                         cannot change; drop --name {name:?}",
                        meta.hostname
                    );
                }
                meta.hostname
            }
            None => {
                let name = config.name.clone().unwrap_or_else(|| config.listen.clone());
                ensure!(
                    note::is_valid_name(&name),
                    "invalid mirror name {name:?}: it names the mirror's cosignatures, so it \
                     must be non-empty and contain no whitespace or '+'"
                );
                let meta = LogMeta {
                    format_version: crate::storage::FORMAT_VERSION,
                    tree_id: new_tree_id(),
                    hostname: name.clone(),
                    origin: log.name().to_owned(),
                    log_id: log.key_hash(),
                    created: unix_now(),
                };
                let head = TreeHead {
                    size: 0,
                    root: merkle::empty_root(),
                    timestamp: 0,
                    checkpoint_v1: String::new(),
                    checkpoint_c2sp: String::new(),
                };
                store.create(&meta, &head)?;
                notice!(
                    "created a new mirror of {} in {}: name {name}",
                    log.name(),
                    dir.display()
                );
                name
            }
        };
        let head = store.head()?;
        backfill_search_rows(&store, head.size)?;
        let served_size = served_size(&head.checkpoint_c2sp)?;
        ensure!(
            !(config.push && config.log_key.is_some()),
            "--push takes the log's tiles only (add-entries carries no SETs): drop --log-key, \
             or mirror the v1 reads in pull mode"
        );
        let push = if config.push {
            Some(push::Push::open(
                dir,
                &store,
                &log,
                &head.checkpoint_c2sp,
                served_size,
            )?)
        } else {
            push::discard(dir)?;
            None
        };
        let v1 = config.log_key.as_deref().map(V1Log::read).transpose()?;
        let v1_head = match &v1 {
            Some(v1) if !head.checkpoint_v1.is_empty() => Some(
                v1.open_checkpoint(&head.checkpoint_v1)
                    .context("the stored v1 checkpoint does not verify with --log-key")?,
            ),
            _ => None,
        };
        if v1.is_some() && head.size > 0 {
            // Every entry copied with --log-key has its SET; a run without it leaves its last
            // entry without one, so checking the last finds any gap.
            let last = store.entry(head.size - 1)?;
            ensure!(
                last.is_some_and(|e| e.set.is_some()),
                "this mirror copied entries without --log-key, so it lacks their integrated \
                 times and SETs; serve v1 reads from a mirror started with --log-key on a new \
                 data directory"
            );
        }
        crate::metrics::install();
        metrics::gauge!(crate::metrics::MIRROR_TREE_SIZE).set(served_size as f64);
        metrics::gauge!(crate::metrics::MIRROR_FORKED).set(0.0);
        Ok(Mirror {
            store: Arc::new(store),
            cosigner: Cosigner::new(&name, key, 0)?,
            log,
            log_url: config.log_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .context("making the HTTP client")?,
            served: RwLock::new((head.checkpoint_c2sp, served_size)),
            status: RwLock::new(Status::default()),
            v1: v1.map(Arc::new),
            v1_head: RwLock::new(v1_head),
            push,
        })
    }

    /// The vkey of the mirror's cosignatures (type 0x04), for the mirror's clients.
    pub fn vkey(&self) -> String {
        self.cosigner.vkey()
    }

    /// Follows the log every `interval` until it forks (then returns; the mirror keeps serving).
    pub async fn follow(self: Arc<Self>, interval: Duration) {
        let mut held = match self.held() {
            Ok(held) => held,
            Err(e) => {
                tracing::error!(error = %e, "reading the mirror's tree; not following the log");
                self.set_status(|s| s.last_error = Some(format!("{e:#}")));
                return;
            }
        };
        loop {
            match self.round(&mut held).await {
                Ok(()) => self.set_status(|s| s.last_error = None),
                Err(RoundError::Fork(why)) => {
                    tracing::error!(log = %self.log_url, reason = %why,
                        "the log forked: it signed a tree inconsistent with the one this mirror \
                         holds; the mirror keeps its copy, stops following and serves no more of \
                         the log");
                    metrics::gauge!(crate::metrics::MIRROR_FORKED).set(1.0);
                    self.set_status(|s| s.fork = Some(why));
                    return;
                }
                Err(RoundError::Failed(e)) => {
                    tracing::warn!(log = %self.log_url, error = format!("{e:#}"),
                        "mirroring round failed; nothing of it was stored");
                    self.set_status(|s| s.last_error = Some(format!("{e:#}")));
                }
            }
            tokio::time::sleep(interval).await;
        }
    }

    fn set_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.write().unwrap_or_else(|p| p.into_inner()));
    }

    /// The stored tree (next entry) as a right border, checked against the stored root.
    fn held(&self) -> anyhow::Result<RightBorder> {
        let head = self.store.head()?;
        Ok(crate::sequencer::right_border(self.store.as_ref(), &head)?)
    }

    /// One round: the log's checkpoint, checked and, when it is new, copied.
    async fn round(&self, held: &mut RightBorder) -> Result<(), RoundError> {
        // The v1 checkpoint first: the C2SP one read after it is at least as large, so this
        // round copies everything the v1 one covers.
        let v1_head = match &self.v1 {
            Some(v1) => Some(self.fetch_v1_head(v1).await?),
            None => None,
        };
        let note = self.fetch_text("checkpoint").await?;
        let opened = checkpoint::open_c2sp(&note, &self.log, &[])
            .map_err(|e| anyhow::anyhow!("the log's checkpoint does not verify: {e}"))?;
        let cp = opened.checkpoint;
        self.set_status(|s| s.log_size = s.log_size.max(cp.size));
        metrics::gauge!(crate::metrics::MIRROR_LOG_TREE_SIZE).set(cp.size as f64);
        let (size, root) = (held.size(), held.root());
        if cp.size < size {
            // An older view of the log (a cache, a replica behind): it must be a prefix of ours.
            let ours = merkle::tree_hash(cp.size, &StoreHashes(self.store.as_ref()))
                .map_err(anyhow::Error::from)?;
            if ours != cp.root {
                return Err(RoundError::Fork(format!(
                    "the log signed root {} for tree size {}, but the tree this mirror holds \
                     has root {} at that size; the log's checkpoint:\n{note}",
                    cp.root.to_hex(),
                    cp.size,
                    ours.to_hex()
                )));
            }
            return Ok(());
        }
        let mut set = TileSet::new();
        if size > 0 {
            self.fetch_proof_tiles(&mut set, size, cp.size).await?;
            let proof = merkle::consistency_proof(size, cp.size, &set)
                .map_err(|e| anyhow::anyhow!("reading the proof from the log's tiles: {e}"))?;
            let log_old_root = if size.is_power_of_two() {
                merkle::tree_hash(size, &set).ok()
            } else {
                None
            };
            match classify(
                size,
                &root,
                cp.size,
                &cp.root,
                &proof,
                log_old_root.as_ref(),
            ) {
                Consistency::Extends => {}
                Consistency::Forked { log_old_root } => {
                    return Err(RoundError::Fork(format!(
                        "the log's tree of size {} (root {}) does not extend the tree of size \
                         {size} this mirror holds (root {}): the log's own hashes give root {} \
                         at that size; the log's checkpoint:\n{note}",
                        cp.size,
                        cp.root.to_hex(),
                        root.to_hex(),
                        log_old_root.map_or_else(|| "?".into(), |h| h.to_hex()),
                    )));
                }
                Consistency::Unverified(e) => {
                    return Err(RoundError::Failed(anyhow::anyhow!(
                        "the log's hash tiles do not prove its checkpoint of size {} \
                         consistent with the mirror's tree of size {size}: {e}",
                        cp.size
                    )));
                }
            }
        }
        if cp.size > size || self.served.read().unwrap_or_else(|p| p.into_inner()).1 < cp.size {
            self.copy(held, &cp, opened.note.text(), &note, &mut set)
                .await?;
        }
        if let Some(v1_head) = v1_head {
            self.store_v1_head(held, v1_head).await?;
        }
        Ok(())
    }

    /// The log's v1 checkpoint (`GET /api/v1/log`, rekor-v1-api.md §3.5), verified.
    async fn fetch_v1_head(&self, v1: &V1Log) -> anyhow::Result<V1Head> {
        let info: LogInfo = serde_json::from_slice(&self.fetch("api/v1/log").await?)
            .context("the log's /api/v1/log")?;
        ensure!(
            info.inactive_shards.is_none(),
            "the log has frozen shards; a mirror serves the v1 reads of a log's active tree only, \
             and mirrors a log with one tree"
        );
        let head = v1
            .open_checkpoint(&info.signed_tree_head)
            .context("the log's v1 checkpoint does not verify with --log-key")?;
        ensure!(
            info.tree_id == head.tree_id.to_string(),
            "the log's /api/v1/log says tree {} but its checkpoint tree {}",
            info.tree_id,
            head.tree_id
        );
        Ok(head)
    }

    /// Stores and serves the log's v1 checkpoint `v1` when it is newer than the served one and
    /// within the mirror's tree, whose root at that size it must have: another root is a fork.
    async fn store_v1_head(&self, held: &RightBorder, v1: V1Head) -> Result<(), RoundError> {
        let size = v1.checkpoint.size;
        let served = self
            .v1_head
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(served) = &served
            && served.tree_id != v1.tree_id
        {
            return Err(RoundError::Failed(anyhow::anyhow!(
                "the log's v1 checkpoint is of tree {}, the mirror's of tree {}: the log \
                 started a new tree, which this mirror does not follow",
                v1.tree_id,
                served.tree_id
            )));
        }
        if size <= served.map_or(0, |s| s.checkpoint.size) || size > held.size() {
            return Ok(());
        }
        let ours = if size == held.size() {
            held.root()
        } else {
            merkle::tree_hash(size, &StoreHashes(self.store.as_ref()))
                .map_err(anyhow::Error::from)?
        };
        if ours != v1.checkpoint.root {
            return Err(RoundError::Fork(format!(
                "the log's v1 checkpoint signs root {} for tree size {size}, but the tree this \
                 mirror holds (verified against its C2SP checkpoints) has root {} at that size; \
                 the log's v1 checkpoint:\n{}",
                v1.checkpoint.root.to_hex(),
                ours.to_hex(),
                v1.note
            )));
        }
        let store = self.store.clone();
        let note = v1.note.clone();
        tokio::task::spawn_blocking(move || {
            let mut head = store.head()?;
            head.checkpoint_v1 = note;
            store.commit_head(&head)
        })
        .await
        .context("the commit task panicked")?
        .map_err(anyhow::Error::from)?;
        *self.v1_head.write().unwrap_or_else(|p| p.into_inner()) = Some(v1);
        Ok(())
    }

    /// Copies the entries `[held.size(), cp.size)` chunk by chunk, each verified against the
    /// signed root before it is committed, then commits the mirror checkpoint.
    async fn copy(
        &self,
        held: &mut RightBorder,
        cp: &Checkpoint,
        text: &str,
        note: &str,
        set: &mut TileSet,
    ) -> anyhow::Result<()> {
        let n = cp.size;
        let width = u64::from(TILE_WIDTH);
        let mut border = held.clone();
        loop {
            let next = border.size();
            let end = n.min((next / width + CHUNK_BUNDLES) * width);
            let new_entries = self.fetch_entries(next, end, n).await?;
            let v1_entries = match &self.v1 {
                Some(v1) => Some(self.fetch_v1_entries(v1, next, &new_entries).await?),
                None => None,
            };
            let now = unix_now();
            let mut runs: Vec<Run> = Vec::new();
            for (i, entry) in (next..).zip(new_entries) {
                let (time, set) = match &v1_entries {
                    Some(v1) => {
                        let e = &v1[usize::try_from(i - next).unwrap_or(usize::MAX)];
                        (e.integrated_time, Some(e.set.clone()))
                    }
                    None => (now, None),
                };
                if runs.last().is_none_or(|r| r.integrated_time != time) {
                    runs.push(Run {
                        first_index: i,
                        integrated_time: time,
                        entries: Vec::new(),
                        sets: Vec::new(),
                        hashes: Vec::new(),
                        border: border.clone(),
                    });
                }
                let run = runs.last_mut().expect("a run was pushed");
                run.hashes.extend(run.border.append(entry.leaf_hash));
                border = run.border.clone();
                run.entries.push(entry);
                run.sets.extend(set);
            }
            if end < n {
                self.fetch_proof_tiles(set, end, n).await?;
                let proof = merkle::consistency_proof(end, n, &*set)?;
                merkle::verify_consistency(end, n, &proof, &border.root(), &cp.root).map_err(
                    |e| {
                        anyhow::anyhow!(
                            "the log's entries [{next}, {end}) do not verify against its \
                             checkpoint of size {n}: {e}"
                        )
                    },
                )?;
            } else {
                ensure!(
                    border.root() == cp.root,
                    "the log's entries [{next}, {n}) do not verify against its checkpoint of size \
                     {n}: with the mirror's tree they do not hash to its root"
                );
            }
            let last = runs.len().saturating_sub(1);
            for (k, run) in runs.into_iter().enumerate() {
                let served_note = if end == n && k == last {
                    let line = arkivo_core::witness::cosign(
                        &self.cosigner,
                        u64::try_from(unix_now()).unwrap_or(0),
                        text,
                    )?;
                    format!("{note}{line}")
                } else {
                    self.served
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                        .clone()
                };
                let head = TreeHead {
                    size: run.border.size(),
                    root: run.border.root(),
                    timestamp: run.integrated_time,
                    checkpoint_v1: self
                        .v1_head
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_ref()
                        .map(|h| h.note.clone())
                        .unwrap_or_default(),
                    checkpoint_c2sp: served_note.clone(),
                };
                let store = self.store.clone();
                let Run {
                    first_index,
                    integrated_time,
                    entries,
                    sets,
                    hashes,
                    border: after,
                } = run;
                tokio::task::spawn_blocking(move || {
                    store.commit(&CommitBatch {
                        first_index,
                        integrated_time,
                        entries: &entries,
                        hashes: &hashes,
                        // The log's SETs, verified; none without --log-key (a mirror cannot
                        // sign them: it has no log key).
                        sets: &sets,
                        head: &head,
                    })
                })
                .await
                .context("the commit task panicked")??;
                *held = after;
                if end == n && k == last {
                    *self.served.write().unwrap_or_else(|p| p.into_inner()) = (served_note, n);
                    metrics::gauge!(crate::metrics::MIRROR_TREE_SIZE).set(n as f64);
                }
            }
            if end == n {
                return Ok(());
            }
        }
    }

    /// The log's integrated times and SETs of its entries `[first, first + bodies.len())`, read
    /// with `POST /api/v1/log/entries/retrieve` ([`MAX_RETRIEVE_ITEMS`] indexes a request,
    /// [`FETCHES_IN_FLIGHT`] requests at a time), each checked against its body from the tiles
    /// and the log's key ([`verify_v1_entry`]).
    async fn fetch_v1_entries(
        &self,
        v1: &Arc<V1Log>,
        first: u64,
        entries: &[NewEntry],
    ) -> anyhow::Result<Vec<V1Entry>> {
        let url = format!("{}/api/v1/log/entries/retrieve", self.log_url);
        let mut jobs = JoinSet::new();
        let mut out: Vec<Option<V1Entry>> = vec![None; entries.len()];
        let mut store = |got: Vec<(usize, V1Entry)>| {
            for (slot, e) in got {
                out[slot] = Some(e);
            }
        };
        for (group, chunk) in entries.chunks(MAX_RETRIEVE_ITEMS).enumerate() {
            if jobs.len() >= FETCHES_IN_FLIGHT {
                store(jobs.join_next().await.expect("jobs are running")??);
            }
            let start = group * MAX_RETRIEVE_ITEMS;
            let indexes: Vec<u64> = (first + start as u64..).take(chunk.len()).collect();
            let bodies: Vec<Vec<u8>> = chunk.iter().map(|e| e.body.clone()).collect();
            let (http, url, v1) = (self.http.clone(), url.clone(), v1.clone());
            jobs.spawn(async move {
                let query = serde_json::json!({ "logIndexes": indexes });
                let data = fetch_request(http.post(&url).json(&query), &url).await?;
                tokio::task::spawn_blocking(move || {
                    let answers: Vec<LogEntry> = serde_json::from_slice(&data)
                        .with_context(|| format!("the log's answer to POST {url}"))?;
                    ensure!(
                        answers.len() == indexes.len(),
                        "the log answered {} of the entries {indexes:?}",
                        answers.len()
                    );
                    // Upstream answers in the order of the indexes asked for (§3.4).
                    let mut got = Vec::with_capacity(answers.len());
                    for (k, answer) in answers.iter().enumerate() {
                        let e = verify_v1_entry(&v1.key, indexes[k], &bodies[k], answer)
                            .map_err(|e| anyhow::anyhow!("the log's v1 answer: {e}"))?;
                        got.push((start + k, e));
                    }
                    Ok(got)
                })
                .await?
            });
        }
        while let Some(done) = jobs.join_next().await {
            store(done??);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Adds to `set` the log's hash tiles (of its tree of `new` records) that hold the
    /// consistency proof from `old`, and for an old size that is a power of two, its root.
    async fn fetch_proof_tiles(&self, set: &mut TileSet, old: u64, new: u64) -> anyhow::Result<()> {
        for tile in consistency_proof_tiles(old, new)? {
            if merkle::consistency_proof(old, new, &*set).is_ok()
                && (!old.is_power_of_two() || merkle::tree_hash(old, &*set).is_ok())
            {
                break;
            }
            let data = self.fetch(&TilePath::Hashes(tile).to_string()).await?;
            set.insert(tile, &data)
                .with_context(|| format!("the log's {}", TilePath::Hashes(tile)))?;
        }
        Ok(())
    }

    /// The log's entries `[from, to)`, from its entry bundles of the tree of `size` records
    /// (§4.5), fetched [`FETCHES_IN_FLIGHT`] at a time, each with its leaf hash and search keys
    /// ([`search_keys`]), derived as its bundle arrives, beside the other fetches: the chunk is
    /// verified against the signed root before any of it is stored.
    async fn fetch_entries(&self, from: u64, to: u64, size: u64) -> anyhow::Result<Vec<NewEntry>> {
        let width = u64::from(TILE_WIDTH);
        let mut jobs = JoinSet::new();
        let mut bundles: Vec<Option<Vec<NewEntry>>> = Vec::new();
        for (slot, index) in (from / width..to.div_ceil(width)).enumerate() {
            let bundle_width = (size - index * width).min(width);
            let tile = Tile::new(0, index, u16::try_from(bundle_width).unwrap_or(TILE_WIDTH))?;
            let path = TilePath::Entries(tile).to_string();
            let (http, url) = (self.http.clone(), format!("{}/{path}", self.log_url));
            bundles.push(None);
            if jobs.len() >= FETCHES_IN_FLIGHT {
                let (slot, got) = jobs.join_next().await.expect("jobs are running")?;
                bundles[slot] = Some(got?);
            }
            jobs.spawn(async move {
                let got = async {
                    let data = fetch_url(&http, &url).await?;
                    let entries = tiles::decode_entry_bundle(&data)
                        .with_context(|| format!("the log's {path}"))?;
                    ensure!(
                        entries.len() as u64 == bundle_width,
                        "the log's {path} holds {} entries, not {bundle_width}",
                        entries.len()
                    );
                    let bodies: Vec<Vec<u8>> = entries.into_iter().map(<[u8]>::to_vec).collect();
                    tokio::task::spawn_blocking(move || {
                        (index * width..)
                            .zip(bodies)
                            .map(|(i, body)| {
                                Ok(NewEntry {
                                    leaf_hash: merkle::record_hash(&body),
                                    index_keys: search_keys(i, &body)?,
                                    body,
                                })
                            })
                            .collect::<anyhow::Result<Vec<NewEntry>>>()
                    })
                    .await?
                };
                (slot, got.await)
            });
        }
        while let Some(done) = jobs.join_next().await {
            let (slot, got) = done?;
            bundles[slot] = Some(got?);
        }
        let skip = usize::try_from(from % width).unwrap_or(0);
        let take = usize::try_from(to - from).unwrap_or(usize::MAX);
        Ok(bundles
            .into_iter()
            .flat_map(Option::unwrap_or_default)
            .skip(skip)
            .take(take)
            .collect())
    }

    async fn fetch(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        fetch_url(&self.http, &format!("{}/{path}", self.log_url)).await
    }

    async fn fetch_text(&self, path: &str) -> anyhow::Result<String> {
        String::from_utf8(self.fetch(path).await?)
            .with_context(|| format!("the log's {path} is not UTF-8"))
    }
}

/// `arkivo verify-log --vkey … [--log-key …]` on a mirror's data directory (not while the mirror
/// runs): every entry's leaf hash, the leaf index, its search rows and every stored hash (what
/// the tiles are made of) re-derived as the log's own `verify-log` does; the tree's root that of
/// the stored next entry; the mirror checkpoint signed by the log's key and cosigned by the
/// mirror's, with the root of the stored tree at its size. With the log's v1 key, also every
/// entry's SET (rekor-v1-api.md §4) and the stored v1 checkpoint (its signature and root).
/// Returns the report line.
///
/// # Errors
/// The first problem, by name.
pub fn verify(
    data_dir: &std::path::Path,
    vkey: &str,
    log_key: Option<&std::path::Path>,
) -> anyhow::Result<String> {
    let log = match note::parse_vkey(vkey).with_context(|| format!("--vkey {vkey:?}"))? {
        VKey::Ed25519(v) => v,
        VKey::Cosignature(_) => anyhow::bail!("--vkey must be the log's Ed25519 checkpoint key"),
    };
    let key_file = data_dir.join(KEY_FILE);
    ensure!(
        key_file.exists(),
        "{} is not a mirror's data directory (no {KEY_FILE})",
        data_dir.display()
    );
    let v1 = log_key.map(V1Log::read).transpose()?;
    let store = RocksStore::open(&data_dir.join("db")).with_context(|| {
        format!(
            "opening the mirror database in {} (is the mirror running?)",
            data_dir.display()
        )
    })?;
    let meta = store
        .meta()?
        .context("the mirror's database holds no log")?;
    ensure!(
        meta.origin == log.name() && meta.log_id == log.key_hash(),
        "the mirror in {} copies the log {:?} with another key, not {vkey}",
        data_dir.display(),
        meta.origin
    );
    let cosigner = Cosigner::new(
        &meta.hostname,
        crate::witness::server::read_or_make_key(&key_file)?,
        0,
    )?
    .verifier();
    let head = store.head()?;
    let (border, stored_hashes) = crate::fsck::verify_tree(
        &store,
        head.size,
        |i, e| {
            crate::fsck::check_search_rows(&store, i, &e.body)?;
            if let Some(v1) = &v1 {
                let set = e
                    .set
                    .as_deref()
                    .ok_or_else(|| format!("entry {i} has no SET"))?;
                if !arkivo_core::signer::verify_set(
                    &v1.key,
                    &B64.encode(&e.body),
                    e.integrated_time,
                    &v1.log_id_hex,
                    i,
                    set,
                ) {
                    return Err(format!(
                        "the stored SET of entry {i} does not verify with the log's key"
                    ));
                }
            }
            Ok(merkle::record_hash(&e.body))
        },
        |_| {},
    )
    .map_err(anyhow::Error::msg)?;
    ensure!(
        border.root() == head.root,
        "the stored next entry says root {} for size {}; the entries give {}",
        head.root.to_hex(),
        head.size,
        border.root().to_hex()
    );
    let reader = StoreHashes(&store);
    // A stored checkpoint (the mirror's or the v1 one) must be of the stored tree.
    let of_stored_tree = |cp: &Checkpoint, which: &str| -> anyhow::Result<()> {
        ensure!(
            cp.size <= head.size && merkle::tree_hash(cp.size, &reader)? == cp.root,
            "the stored {which} checkpoint (size {}, root {}) is not the stored tree's",
            cp.size,
            cp.root.to_hex()
        );
        Ok(())
    };
    let mut report = format!(
        "ok: mirror of {}: {} entries with their search rows, {stored_hashes} stored hashes, \
         root {}",
        log.name(),
        head.size,
        head.root.to_hex()
    );
    if !head.checkpoint_c2sp.is_empty() {
        let opened = checkpoint::open_c2sp(
            &head.checkpoint_c2sp,
            &log,
            &[&cosigner as &dyn NoteVerifier],
        )
        .context("the stored mirror checkpoint does not verify with the log's key")?;
        ensure!(
            opened.note.is_signed_by(cosigner.name(), cosigner.key_id()),
            "the stored mirror checkpoint lacks the mirror's cosignature"
        );
        let cp = opened.checkpoint;
        of_stored_tree(&cp, "mirror")?;
        report.push_str(&format!("; mirror checkpoint of size {} verifies", cp.size));
    }
    if let Some(v1) = &v1
        && !head.checkpoint_v1.is_empty()
    {
        let h = v1
            .open_checkpoint(&head.checkpoint_v1)
            .context("the stored v1 checkpoint does not verify with the log's key")?;
        let cp = h.checkpoint;
        of_stored_tree(&cp, "v1")?;
        report.push_str(&format!(
            "; v1 checkpoint of size {} and every SET verify",
            cp.size
        ));
    }
    Ok(report)
}

/// The body of a 200 answer to `GET url`, refused past [`MAX_FETCH_BYTES`]: a log (or anyone on
/// the path) cannot make the mirror hold more.
async fn fetch_url(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    fetch_request(http.get(url), url).await
}

/// The body of a 200 answer to `request` (to `url`), refused past [`MAX_FETCH_BYTES`].
async fn fetch_request(request: reqwest::RequestBuilder, url: &str) -> anyhow::Result<Vec<u8>> {
    let mut res = request.send().await.with_context(|| url.to_owned())?;
    ensure!(res.status() == StatusCode::OK, "{url}: {}", res.status());
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.with_context(|| format!("GET {url}"))? {
        ensure!(
            body.len() + chunk.len() <= MAX_FETCH_BYTES,
            "GET {url}: the answer is longer than {MAX_FETCH_BYTES} bytes, more than any tile, \
             entry bundle or checkpoint"
        );
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The tree size of a stored mirror checkpoint (0 when none was stored yet).
fn served_size(note: &str) -> anyhow::Result<u64> {
    if note.is_empty() {
        return Ok(0);
    }
    let parsed = note::parse(note.as_bytes()).context("the stored mirror checkpoint")?;
    Ok(Checkpoint::parse(&parsed.text)
        .context("the stored mirror checkpoint")?
        .size)
}

/// The search keys (rekor-v1-api.md §10.1) of the log's entry `index`, derived from its
/// canonical body as the log derived them when it accepted it
/// ([`arkivo_core::entries::index_keys_of_body`]), stored with the entry in the same commit so
/// that the mirror answers the log's searches. Every entry a log accepted re-derives its keys
/// (the log's own `verify-log` requires it); one that does not is of a kind this mirror does not
/// know, and copying it without its keys would make searches silently miss it, so it is refused
/// by name and nothing of its chunk is stored.
fn search_keys(index: u64, body: &[u8]) -> anyhow::Result<Vec<String>> {
    arkivo_core::entries::index_keys_of_body(body).map_err(|e| {
        anyhow::anyhow!(
            "the log's entry {index} is not a Rekor entry this mirror can index for searches \
             ({e}); an arkivo that knows its kind can copy it"
        )
    })
}

/// Entries read, indexed and written per batch by [`backfill_search_rows`].
const BACKFILL_CHUNK: u64 = 4096;

/// Gives the entries of a data directory made before the mirror stored search rows their rows,
/// once, at start, before anything is served. Backfilled rather than refused: the rows derive
/// from the stored bodies alone ([`search_keys`]), so an upgraded mirror answers searches
/// completely after a short pause (docs/mirror.md gives the rate) instead of needing a copy of
/// the whole log into a new data directory; and it never answers a search from part of the
/// rows, since it serves only once they are all written.
///
/// Every mirror that stores rows writes an entry's rows in the commit of the entry, and this
/// writes them from the first entry up, so the last entry lacks its rows exactly when some
/// entry does: an interrupted backfill starts again (rewriting rows is harmless).
fn backfill_search_rows(store: &RocksStore, size: u64) -> anyhow::Result<()> {
    let Some(last) = size.checked_sub(1) else {
        return Ok(());
    };
    let body = store
        .entry(last)?
        .with_context(|| format!("the stored entry {last} is missing"))?
        .body;
    let mut indexed = true;
    for key in search_keys(last, &body)? {
        indexed &= store.search_row_exists(&key, last)?;
    }
    if indexed {
        return Ok(());
    }
    notice!(
        "this data directory was made by a mirror that kept no search index: indexing its \
         {size} entries for searches (once, before serving)"
    );
    let started = std::time::Instant::now();
    for first in (0..size).step_by(usize::try_from(BACKFILL_CHUNK).unwrap_or(usize::MAX)) {
        let end = size.min(first + BACKFILL_CHUNK);
        let keys = (first..)
            .zip(store.entries(first..end)?)
            .map(|(i, e)| search_keys(i, &e.body))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.add_search_rows(first, &keys)?;
    }
    notice!(
        "indexed {size} entries for searches in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The mirror's routes: the tlog-tiles read API at the root and under `/<origin hash>`
/// (tlog-mirror "Introduction": the monitoring prefix followed by the hex SHA-256 of the log's
/// origin), its vkey at `/`, `/mirror/status`, `/metrics`, and a clear refusal of everything else.
pub fn router(mirror: Arc<Mirror>) -> Router {
    use sha2::Digest;
    let tiles = Router::new()
        .route("/checkpoint", get(serve_checkpoint))
        .route("/tile/{*path}", get(serve_tile))
        .route_layer(axum::middleware::from_fn(cache::conditional));
    let origin_hash = hex::encode(sha2::Sha256::digest(mirror.log.name().as_bytes()));
    // Push mode's update endpoints, at the root: the submission prefix (tlog-mirror
    // "Introduction"). add-entries streams its body, so it has no body limit.
    let updates = if mirror.push.is_some() {
        Router::new()
            .route(
                "/add-checkpoint",
                post(push::add_checkpoint)
                    .fallback(refuse)
                    .layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BYTES)),
            )
            .route("/add-entries", post(push::add_entries).fallback(refuse))
    } else {
        Router::new()
    };
    Router::new()
        .merge(updates)
        .merge(tiles.clone())
        .nest(&format!("/{origin_hash}"), tiles)
        .route(
            "/",
            get(|State(m): State<Arc<Mirror>>| async move { format!("{}\n", m.vkey()) }),
        )
        .route("/api/v1/log", get(v1_log_info).fallback(refuse))
        .route("/api/v1/log/publicKey", get(v1_public_key).fallback(refuse))
        .route("/api/v1/log/proof", get(v1_log_proof).fallback(refuse))
        .route(
            "/api/v1/log/entries",
            get(v1_entry_by_index).fallback(refuse),
        )
        .route(
            "/api/v1/log/entries/{uuid}",
            get(v1_entry_by_uuid).fallback(refuse),
        )
        .route(
            "/api/v1/log/entries/retrieve",
            post(v1_retrieve)
                .fallback(refuse)
                .layer(DefaultBodyLimit::max(MAX_QUERY_BODY_BYTES)),
        )
        .route(
            "/api/v1/index/retrieve",
            post(v1_search)
                .fallback(refuse)
                .layer(DefaultBodyLimit::max(MAX_QUERY_BODY_BYTES)),
        )
        .route("/mirror/status", get(status))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(|| async { crate::metrics::render() }))
        .fallback(refuse)
        .with_state(mirror)
}

/// `GET /checkpoint`: the mirror checkpoint, the log's note with the mirror's cosignature.
async fn serve_checkpoint(State(m): State<Arc<Mirror>>) -> Response {
    let (note, size) = m.served.read().unwrap_or_else(|p| p.into_inner()).clone();
    if size == 0 && note.is_empty() {
        return tile_api::no_store(ApiError::new(
            StatusCode::NOT_FOUND,
            "this mirror has not copied any checkpoint of the log yet",
        ));
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(tile_api::CACHE_CHECKPOINT),
            ),
        ],
        note,
    )
        .into_response()
}

/// `GET /tile/...`: a tile of the mirror checkpoint's tree, from the raw path (as the log's).
async fn serve_tile(State(m): State<Arc<Mirror>>, uri: Uri) -> Response {
    let served = async {
        let tile_path = tile_api::parse_tile_path(uri.path())?;
        let size = m.served.read().unwrap_or_else(|p| p.into_inner()).1;
        let store = m.store.clone();
        let (body, modified) = tokio::task::spawn_blocking(move || {
            tile_api::read_tile(store.as_ref(), size, LogKind::Rekor, tile_path, 0)
        })
        .await
        .map_err(|e| ApiError::internal(&e))??;
        Ok::<_, ApiError>(tile_api::tile_response(&tile_path, body, modified))
    };
    served.await.unwrap_or_else(tile_api::no_store)
}

/// `GET /mirror/status`: the served tree, the log's, and a fork or the last failure.
async fn status(State(m): State<Arc<Mirror>>) -> Response {
    let status = m.status.read().unwrap_or_else(|p| p.into_inner()).clone();
    let size = m.served.read().unwrap_or_else(|p| p.into_inner()).1;
    axum::Json(serde_json::json!({
        "origin": m.log.name(),
        "log": m.log_url,
        "mode": if m.push.is_some() { "push" } else { "pull" },
        "size": size,
        "v1Size": m.v1_head.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|h| h.checkpoint.size),
        "logSize": status.log_size,
        "fork": status.fork,
        "lastError": status.last_error,
    }))
    .into_response()
}

/// Everything else: a mirror takes no writes (405) and serves no Rekor API (501), and says
/// where the log is.
async fn refuse(State(m): State<Arc<Mirror>>, method: Method, uri: Uri) -> ApiError {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "this is a read-only mirror of the log {}: write to the log at {}",
                m.log.name(),
                m.log_url
            ),
        );
    }
    if uri.path().starts_with("/api/") {
        return ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "this mirror of the log {} serves its tiles (/checkpoint, /tile/...) and, with \
                 the log's --log-key, the Rekor v1 entry, log, proof and search reads; not this: \
                 ask the log at {}",
                m.log.name(),
                m.log_url
            ),
        );
    }
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// Runs `arkivo mirror` until `shutdown` completes.
///
/// # Errors
/// As [`Mirror::open`]; the listen address cannot be bound.
pub async fn run(
    config: MirrorConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mirror = Arc::new(Mirror::open(&config)?);
    notice!(
        "mirror vkey (its cosignatures on the log's checkpoints):\n{}",
        mirror.vkey()
    );
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    notice!(
        "mirroring {} ({}) on {}",
        mirror.log.name(),
        mirror.log_url,
        listener.local_addr()?
    );
    // In push mode the senders are the only writers: nothing follows the log.
    let follower =
        (!config.push).then(|| tokio::spawn(mirror.clone().follow(config.poll_interval)));
    let app = crate::api::server::App::new(router(mirror));
    crate::api::server::serve(listener, app, None, HEADER_READ_TIMEOUT, shutdown).await;
    if let Some(follower) = follower {
        follower.abort();
    }
    notice!("shut down cleanly");
    Ok(())
}
