//! `arkivo bulk-load`: appends entries from a file, without HTTP, far faster than the API can —
//! to build logs of 10^7 and 10^8 entries for measurements, or to import a log's entries.
//!
//! Nothing here writes rows itself: each line is validated and canonicalized by the function
//! `POST /api/v1/log/entries` uses ([`entries::canonicalize_bytes`]), and the entries go through
//! the real [sequencer](crate::sequencer) — deduplication, indexes, the stored hashes, the SETs,
//! both signed checkpoints, one atomic synced commit per batch — so the data directory holds
//! exactly what the same entries written through the API would leave, only in fewer, larger
//! commits (`batch` entries each instead of what arrives within a millisecond).

use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::Context;
use rayon::prelude::*;

use crate::config::Config;
use crate::datadir;
use crate::sequencer::{self, SequenceError, SequencerConfig};
use crate::serve::open_log;
use crate::storage::NewEntry;
use arkivo_core::entries;

/// What a bulk load did.
#[derive(Debug)]
pub struct Loaded {
    /// Entries appended.
    pub appended: u64,
    /// Lines whose entry the log already held (skipped, as the API answers 409).
    pub duplicates: u64,
    /// The active tree's size afterwards.
    pub tree_size: u64,
    pub elapsed: Duration,
}

/// Appends the entries of `input`, one proposed entry (the JSON body of
/// `POST /api/v1/log/entries`, rekor-v1-api.md §3.1) per line, to the log of `config` (creating
/// it if the data directory is empty), committing `batch` entries at a time. The log must not be
/// served meanwhile (RocksDB's lock refuses it).
///
/// # Errors
///
/// A line that is not a valid entry (named by its number; the batches before it are
/// committed, nothing of its own batch is), or a storage failure.
pub fn load(config: &Config, input: impl BufRead, batch: usize) -> anyhow::Result<Loaded> {
    let batch = batch.max(1);
    let started = Instant::now();
    let opened = open_log(config, true)?;
    let (frozen, active) = opened.shards.split_at(opened.shards.len() - 1);
    let (sequencer, thread) = sequencer::start(
        active[0].shard(),
        frozen.iter().map(datadir::OpenedShard::shard).collect(),
        SequencerConfig {
            max_batch: batch,
            // A batch is closed by its size: the whole of it is queued at once, below.
            max_batch_age: Duration::from_secs(1),
            inbox_capacity: batch,
        },
    )
    .context("starting the sequencer")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("starting the async runtime")?;
    let (mut appended, mut duplicates) = (0, 0);
    let mut lines = input.lines().enumerate();
    loop {
        let chunk: Vec<(usize, String)> = lines
            .by_ref()
            .take(batch)
            .map(|(n, line)| line.map(|l| (n + 1, l)))
            .collect::<Result<_, _>>()
            .context("reading the entries")?;
        if chunk.is_empty() {
            break;
        }
        // Validation (signature checks) is the costly part: on every core, as the API's pool.
        let new: Vec<NewEntry> = chunk
            .par_iter()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                let e = entries::canonicalize_bytes(line.as_bytes())
                    .map_err(|e| anyhow::anyhow!("line {n}: {e}"))?;
                Ok(NewEntry {
                    body: e.body,
                    leaf_hash: e.leaf_hash,
                    index_keys: e.index_keys,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let results = runtime.block_on(async {
            let mut waiting = tokio::task::JoinSet::new();
            for entry in new {
                let sequencer = sequencer.clone();
                waiting.spawn(async move { sequencer.submit(entry).await });
            }
            waiting.join_all().await
        });
        for result in results {
            match result {
                Ok(_) => appended += 1,
                Err(SequenceError::Duplicate { .. }) => duplicates += 1,
                Err(e) => anyhow::bail!("appending: {e}"),
            }
        }
    }
    let tree_size = sequencer.published().head().size;
    drop(sequencer);
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))?;
    Ok(Loaded {
        appended,
        duplicates,
        tree_size,
        elapsed: started.elapsed(),
    })
}
