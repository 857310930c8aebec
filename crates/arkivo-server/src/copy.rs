//! `arkivo storage copy`: moves a log from the data directory's RocksDB into PostgreSQL, and
//! verifies the copy (docs/operations.md "Moving a log to PostgreSQL").
//!
//! Nothing here writes rows itself: the entries go into the database through
//! [`PgStore::commit`](crate::storage::LogStore::commit), a batch per transaction, exactly as
//! the sequencer's batches do — with the source's integrated times, its stored SET bytes (none
//! for entries written before SETs were stored), its search rows, and the stored hashes
//! recomputed by the same right border. A batch never spans two integrated times, or entries
//! with and without a SET, since a [`CommitBatch`] has one time and SETs for all or none.
//!
//! Each batch's transaction moves the database's head to the batch's end, with checkpoints
//! signed by the log's own keys (a head the database holds must be signed: every frontend
//! checks); the last batch's head is the source's own, its checkpoints byte-identical. So an
//! interrupted copy leaves a consistent, signed prefix of the log, and the next run continues
//! from its end once the source's root at that size is the prefix's.
//!
//! The log's identity (tree ID, hostname, origin, the key's log ID, creation time) is copied as
//! is; the private keys stay files, given to every frontend. One tree only: a data directory
//! whose log was rotated into shards is refused (PostgreSQL stores one tree).
//!
//! The CA's CT log (`<data>/ct/`), when the data directory has one, is copied the same way — the
//! same code, with its own identity and leaf hashes — into the schema `arkivo_ct`, where the
//! frontends serve it ([`crate::leader::open_ct`]). Order and interruptions:
//! - Both trees' leader locks are taken before anything is copied, and held to the end, so no
//!   frontend leads (writes to) either of them during the copy.
//! - The log is copied first, then the CT log. Interrupted during the log, the database holds a
//!   prefix of the log and no CT log: a frontend with the CA refuses to start (a data directory
//!   with a CT log and a database without one), and the next run continues the log, then copies
//!   the CT log.
//! - Interrupted during the CT log, the database holds the whole log and a prefix of the CT log:
//!   the next run finds the log complete (nothing copied, verified again) and continues the CT
//!   log from its prefix, checked as the log's is. A frontend with the CA refuses to start on
//!   it meanwhile ([`crate::leader::open_ct`]: the database's CT log does not hold the data
//!   directory's); one without the CA must not be started on a prefix of the log before a run
//!   has ended well (docs/operations.md).
//! - Each run verifies both trees whole, so a run that ends well is the proof of the copy, however
//!   many runs it took.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::config::{Config, redact_url};
use crate::fsck;
use crate::log::{LogIdentity, LogKind};
use crate::logging::notice;
use crate::storage::postgres::{Namespace, PgStore};
use crate::storage::rocks::RocksStore;
use crate::storage::{CommitBatch, LogStore, NewEntry, StoreHashes, StoredEntry, TreeHead};
use arkivo_core::merkle::{self, RightBorder};

/// Log indexes whose search rows are read in one scan of the source's search index (its rows
/// are sorted by key, so each window reads all of them): memory is about one window's keys.
const SEARCH_WINDOW: u64 = 1 << 20;

/// Entries compared per read when verifying the copy.
const COMPARE_CHUNK: u64 = 4096;

/// What a copy did: for the log, and for the CA's CT log when the data directory has one.
#[derive(Debug)]
pub struct Copied {
    pub log: TreeCopied,
    pub ct: Option<TreeCopied>,
}

/// What a copy did to one tree.
#[derive(Debug)]
pub struct TreeCopied {
    /// The database's tree size before: 0, or where an interrupted copy had stopped.
    pub resumed_at: u64,
    /// Entries copied by this run.
    pub entries: u64,
    /// Transactions (batches) committed by this run.
    pub transactions: u64,
    /// The copying alone, without the verification.
    pub elapsed: Duration,
    /// The verification: the head compared, every entry compared, verify-log's checks.
    pub verified: fsck::Report,
}

/// One tree to copy: the data directory's store and identity, and the database's store.
struct Tree<'a> {
    source: &'a RocksStore,
    identity: &'a LogIdentity,
    target: Arc<PgStore>,
    /// Where the source is, for messages.
    place: String,
}

impl Tree<'_> {
    /// The tree's name in messages.
    fn what(&self) -> &'static str {
        match self.identity.kind {
            LogKind::Rekor => "log",
            LogKind::StaticCt => "CT log",
        }
    }
}

/// Copies the log in `config`'s data directory, and its CA's CT log if it has one, into the
/// PostgreSQL database `to` (with `config`'s storage password, CA and async settings), at most
/// `batch` entries per transaction, then verifies each copy.
///
/// # Errors
///
/// The source is served, sharded, or inconsistent; the database holds another log (or CT log),
/// or one that is not a prefix of this one, or a frontend serves it; a storage failure; or the
/// copy does not match the source (named, with the tree concerned).
pub fn copy(config: &Config, to: &str, batch: usize) -> anyhow::Result<Copied> {
    let batch = batch.max(1) as u64;
    let paths = crate::serve::log_paths(config);
    let log = open_source(config, &paths)?;
    // Opened after the log: a served data directory is refused by the log's lock, named.
    let ct = crate::ct::open_unserved(&config.data_dir)?;
    let target_config = Config {
        storage: Some(to.to_owned()),
        ..config.clone()
    };
    let shown = redact_url(to);
    let mut trees = vec![Tree {
        source: log.store.as_ref(),
        identity: log.identity.as_ref(),
        target: crate::leader::connect(&target_config, Namespace::Log)?,
        place: config.data_dir.display().to_string(),
    }];
    if let Some((store, identity)) = &ct {
        trees.push(Tree {
            source: store,
            identity,
            target: crate::leader::connect(&target_config, Namespace::CtLog)?,
            place: config
                .data_dir
                .join(crate::ct::CT_DIR)
                .display()
                .to_string(),
        });
    }
    for tree in &trees {
        ensure!(
            tree.target.try_lead()?,
            "a frontend serves the {} in the database at {shown}: stop every frontend (no \
             writes may happen during the copy) and run the copy again",
            tree.what()
        );
    }
    let mut copied = trees
        .iter()
        .map(|tree| copy_tree(tree, batch, &shown))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter();
    Ok(Copied {
        log: copied.next().context("the log's copy")?,
        ct: copied.next(),
    })
}

/// Copies one tree into the database (where a previous run stopped, if it did), then verifies
/// the copy.
fn copy_tree(tree: &Tree, batch: u64, shown: &str) -> anyhow::Result<TreeCopied> {
    let (store, identity, target, what) = (
        tree.source,
        tree.identity,
        tree.target.as_ref(),
        tree.what(),
    );
    let head = store.head()?;
    match target.meta()? {
        None => {
            // The empty tree of a source that holds nothing is its own head; else one signed now
            // (the source keeps no checkpoint of its empty tree once it grew).
            let empty = if head.size == 0 {
                head.clone()
            } else {
                identity.signed_head(0, merkle::empty_root(), 0)
            };
            target.create(&identity.meta, &empty)?;
        }
        Some(meta) if meta != identity.meta => bail!(
            "the database at {shown} holds another {what} (tree {}, origin {:?}, log ID {}), not \
             the one in {} (tree {}, origin {:?}, log ID {}); refusing to copy into it",
            meta.tree_id,
            meta.origin,
            hex::encode(meta.log_id),
            tree.place,
            identity.meta.tree_id,
            identity.meta.origin,
            hex::encode(identity.meta.log_id)
        ),
        Some(_) => {}
    }
    let resumed_at = check_prefix(tree, &head, shown)?;
    let mut border = crate::sequencer::right_border(target, &target.head()?)?;

    let started = Instant::now();
    let mut transactions = 0;
    let mut start = resumed_at;
    while start < head.size {
        let window = start..(start + SEARCH_WINDOW).min(head.size);
        let mut keys = store.search_keys(window.clone())?;
        while start < window.end {
            let before = start;
            let end = (start + batch).min(window.end);
            let entries = store.entries(start..end)?;
            for run in runs(entries) {
                let first_index = start;
                start += run.len() as u64;
                commit_run(tree, &head, &mut border, &mut keys, first_index, run)?;
                transactions += 1;
            }
            if before / 100_000 != start / 100_000 {
                notice!("{what}: copied {start} of {} entries", head.size);
            }
        }
    }
    target.publish()?;
    let elapsed = started.elapsed();
    let verified = verify(tree, &head).map_err(|e| {
        anyhow::anyhow!("the copy of the {what} in the database at {shown} is wrong: {e}")
    })?;
    Ok(TreeCopied {
        resumed_at,
        entries: head.size - resumed_at,
        transactions,
        elapsed,
        verified,
    })
}

/// Opens the data directory's log, which must not be served and must have one tree.
fn open_source(
    config: &Config,
    paths: &crate::datadir::LogPaths,
) -> anyhow::Result<crate::datadir::OpenedShard> {
    let mut opened = crate::datadir::open(paths, None, false).map_err(|e| {
        // RocksDB's lock: one process has a database open, and `arkivo serve` keeps it open.
        if format!("{e:#}").contains("While lock file") {
            anyhow::anyhow!(
                "the log in {} is being served (its database is locked by a running arkivo): \
                 stop the server — no writes may happen during the copy — and run the copy \
                 again",
                config.data_dir.display()
            )
        } else {
            e
        }
    })?;
    ensure!(
        opened.shards.len() == 1,
        "the log in {} has {} shards (trees), but a database stores one tree: copying a \
         sharded log is not supported (docs/operations.md \"Moving a log to PostgreSQL\")",
        config.data_dir.display(),
        opened.shards.len()
    );
    Ok(opened.shards.remove(0))
}

/// The database's tree size, after checking that its tree is a prefix of the source's: no
/// longer, and with the source's root at its size.
fn check_prefix(tree: &Tree, head: &TreeHead, shown: &str) -> anyhow::Result<u64> {
    let what = tree.what();
    let prefix = tree.target.head()?;
    ensure!(
        prefix.size <= head.size,
        "the database at {shown} holds {} entries of this {what}, more than the {} in {}: it \
         is not a copy of that {what} (it took writes of its own); refusing to copy into it",
        prefix.size,
        head.size,
        tree.place
    );
    let root = merkle::tree_hash(prefix.size, &StoreHashes(tree.source))
        .with_context(|| format!("the source {what}'s root at size {}", prefix.size))?;
    ensure!(
        root == prefix.root,
        "the {what} in the database at {shown} diverges from the one in {}: its {} entries \
         have root {}, the first {} in {} have root {}; refusing to copy into it",
        tree.place,
        prefix.size,
        prefix.root.to_hex(),
        prefix.size,
        tree.place,
        root.to_hex()
    );
    if prefix.size > 0 {
        notice!(
            "the database holds the first {} entries of the {what}: continuing from there",
            prefix.size
        );
    }
    Ok(prefix.size)
}

/// Splits entries into the longest runs one [`CommitBatch`] can hold: one integrated time, and
/// a SET for every entry or for none.
fn runs(entries: Vec<StoredEntry>) -> Vec<Vec<StoredEntry>> {
    let mut runs: Vec<Vec<StoredEntry>> = Vec::new();
    for e in entries {
        match runs.last_mut() {
            Some(run)
                if run[0].integrated_time == e.integrated_time
                    && run[0].set.is_some() == e.set.is_some() =>
            {
                run.push(e);
            }
            _ => runs.push(vec![e]),
        }
    }
    runs
}

/// Commits one run of the source's entries, starting at `first_index`, in one transaction.
fn commit_run(
    tree: &Tree,
    source_head: &TreeHead,
    border: &mut RightBorder,
    keys: &mut HashMap<u64, Vec<String>>,
    first_index: u64,
    run: Vec<StoredEntry>,
) -> anyhow::Result<()> {
    let (identity, what) = (tree.identity, tree.what());
    let integrated_time = run[0].integrated_time;
    let mut hashes = Vec::new();
    let mut sets = Vec::new();
    let mut entries = Vec::with_capacity(run.len());
    for (index, e) in (first_index..).zip(run) {
        // A Rekor entry's leaf is its body; a CT log's is the TileLeaf its body encodes.
        let leaf_hash = fsck::leaf_hash(identity.kind, index, &e.body).map_err(|e| {
            anyhow::anyhow!(
                "the {what} in {}: {e}; run `arkivo verify-log` on it; nothing from entry \
                 {first_index} on was copied",
                tree.place
            )
        })?;
        hashes.extend(border.append(leaf_hash));
        sets.extend(e.set);
        entries.push(NewEntry {
            body: e.body,
            leaf_hash,
            index_keys: keys.remove(&index).unwrap_or_default(),
        });
    }
    let head = if border.size() == source_head.size {
        ensure!(
            border.root() == source_head.root,
            "the entries of the {what} in {} give root {}, but its tree head says {}: run \
             `arkivo verify-log` on it; the last batch was not copied",
            tree.place,
            border.root().to_hex(),
            source_head.root.to_hex()
        );
        source_head.clone()
    } else {
        identity.signed_head(border.size(), border.root(), integrated_time)
    };
    tree.target.commit(&CommitBatch {
        first_index,
        integrated_time,
        entries: &entries,
        sets: &sets,
        hashes: &hashes,
        head: &head,
    })?;
    Ok(())
}

/// The copy is the source: the same head (size, root, time, the checkpoints' bytes), committed
/// and published; every entry's body, integrated time and SET the same; and verify-log's
/// checks pass on it.
fn verify(tree: &Tree, head: &TreeHead) -> Result<fsck::Report, String> {
    let (source, target) = (tree.source, tree.target.as_ref());
    let copied = target.head().map_err(|e| e.to_string())?;
    if copied != *head {
        return Err(format!(
            "its tree head (size {}, root {}) is not the one in {} (size {}, root {}), or its \
             checkpoints' bytes differ",
            copied.size,
            copied.root.to_hex(),
            tree.place,
            head.size,
            head.root.to_hex()
        ));
    }
    if target.published().map_err(|e| e.to_string())?.as_ref() != Some(head) {
        return Err(format!(
            "its published tree head is not the one in {}",
            tree.place
        ));
    }
    let mut start = 0;
    while start < head.size {
        let range: Range<u64> = start..(start + COMPARE_CHUNK).min(head.size);
        let (want, got) = (
            source.entries(range.clone()).map_err(|e| e.to_string())?,
            target.entries(range.clone()).map_err(|e| e.to_string())?,
        );
        if let Some((i, (w, g))) = (range.start..)
            .zip(want.iter().zip(&got))
            .find(|(_, (w, g))| w != g)
        {
            let what = if w.body != g.body {
                "body"
            } else if w.integrated_time != g.integrated_time {
                "integrated time"
            } else {
                "SET"
            };
            return Err(format!(
                "entry {i}'s {what} differs from the one in {}",
                tree.place
            ));
        }
        start = range.end;
    }
    fsck::verify_log(target, tree.identity, |_| {})
}
