//! `arkivo monitor`: follows a Rekor v1 log (Arkivo's or another) as sigstore's rekor-monitor
//! does, and raises the alarm when it misbehaves.
//!
//! Each round:
//!
//! 1. fetches the log info (rekor-v1-api.md §3.5) and verifies its checkpoint with the log key
//!    (§8: signer name, key hint, ECDSA signature, origin);
//! 2. checks that it extends the checkpoint verified last, read back from the state file and
//!    verified again: same origin, no smaller tree, no other root at the same size, and the log's
//!    consistency proof (§3.7) verified locally;
//! 3. saves the new checkpoint in the state file (temporary file, fsync, rename: a crash leaves
//!    the old state or the new one, never a mix);
//! 4. with watches, fetches the entries added since the last round by index (§3.2), verifies
//!    each (SET, checkpoint, inclusion proof; its checkpoint consistent with the new one) and
//!    reports those whose search keys (§10.1, [`crate::entries::index_keys_of_body`]) match a
//!    watched email, key or artifact digest. The state's `nextIndex` moves past them only once
//!    the whole batch is reported, so a match is reported at least once even across crashes.
//!
//! A failed check is reported as an ALERT and ends the command with exit code 1 (the state file
//! keeps the last checkpoint verified); the log being unreachable is exit code 3 with `--once`,
//! and a retry at the next interval otherwise.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinSet;

use super::commands::{self, Failure, LogTrust, Output, RekorUrl, Report};
use super::rekor::{LogEntry, RekorClient};
use super::trust::TrustedLog;
use super::verify;
use crate::checkpoint::{self, Checkpoint};
use crate::merkle::Hash;

/// Entries fetched at once: enough to hide the round-trip time, few enough not to load the log.
const FETCH_CONCURRENCY: usize = 16;
/// Most entries checked in one round, which bounds its time and memory after a long pause (or
/// on a busy log); the next round continues where this one stopped.
const MAX_ENTRIES_PER_ROUND: u64 = 10_000;

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub rekor: RekorUrl,
    #[command(flatten)]
    pub trust: LogTrust,
    /// Where the last verified checkpoint is kept between rounds (and runs).
    #[arg(long, default_value = "arkivo-monitor.json")]
    pub state: PathBuf,
    /// Report new entries whose signing certificate names this email. Repeatable.
    #[arg(long = "watch-email", value_name = "EMAIL")]
    pub watch_emails: Vec<String>,
    /// Report new entries signed with this public key (PEM file). Repeatable.
    #[arg(long = "watch-key", value_name = "PEMFILE")]
    pub watch_keys: Vec<PathBuf>,
    /// Report new entries of this artifact digest (SHA-256, hex). Repeatable.
    #[arg(long = "watch-sha256", value_name = "HEX")]
    pub watch_sha256: Vec<String>,
    /// Run one round and exit (for cron or CI).
    #[arg(long, conflicts_with = "interval")]
    pub once: bool,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// The state file: the checkpoint verified last, and the first entry not yet watched.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct State {
    /// Hex log ID of the key that signed `signed_tree_head`.
    #[serde(rename = "logID")]
    log_id: String,
    /// The checkpoint as the log served it, verified again when read back.
    signed_tree_head: String,
    /// Its size and root, for people and scripts reading the file.
    tree_size: u64,
    root_hash: String,
    /// Entries from here on have not been checked against the watches yet.
    next_index: u64,
}

/// One watched identity: how it is shown, and the search keys (lower-case) that match it.
struct Watch {
    label: String,
    keys: Vec<String>,
}

fn watches(args: &MonitorArgs) -> Result<Vec<Watch>, Failure> {
    let mut watches = Vec::new();
    for email in &args.watch_emails {
        watches.push(Watch {
            label: format!("email {email}"),
            keys: vec![email.to_lowercase()],
        });
    }
    for path in &args.watch_keys {
        let pem = commands::read_text(path, "the watched key")?;
        let fingerprint = crate::entries::public_key_index_key(pem.as_bytes())
            .map_err(|e| Failure::Input(format!("the watched key {}: {e}", path.display())))?;
        // hashedrekord indexes the fingerprint bare, dsse with a `sha256:` prefix (§10.1).
        watches.push(Watch {
            label: format!("key {} (sha256 {fingerprint})", path.display()),
            keys: vec![format!("sha256:{fingerprint}"), fingerprint],
        });
    }
    for digest in &args.watch_sha256 {
        let hex = commands::sha256_hex(digest, "--watch-sha256")?;
        watches.push(Watch {
            label: format!("artifact sha256:{hex}"),
            keys: vec![format!("sha256:{hex}")],
        });
    }
    Ok(watches)
}

/// Runs rounds until one fails for a reason retrying cannot fix (or once, with `--once`),
/// printing each round's report.
///
/// # Errors
///
/// [`Failure`]: [`Failure::Verification`] (an ALERT) when the log misbehaved.
pub fn monitor(args: &MonitorArgs) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Input(format!("starting the async runtime: {e}")))?;
    let logs = args.trust.load()?.ok_or_else(commands::no_trust)?;
    let watches = watches(args)?;
    let client = RekorClient::new(&args.rekor.url)?;
    loop {
        let result = rt.block_on(round(&client, &logs, &args.state, &watches));
        commands::print_result(args.output, &result);
        match result {
            Ok(_) if args.once => return Ok(()),
            Ok(_) => {}
            // An outage is not misbehaviour: a long-running monitor waits it out.
            Err(f @ Failure::Log(_)) if !args.once => {
                eprintln!("arkivo monitor: {f}; trying again in {} s", args.interval);
            }
            Err(f) => return Err(f),
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}

/// A check the log failed: loud, and naming what the state file still holds.
fn alert(state_path: &Path, f: Failure) -> Failure {
    match f {
        Failure::Verification(m) => Failure::Verification(format!(
            "ALERT: the log misbehaved: {m}. {} keeps the last checkpoint verified",
            state_path.display()
        )),
        f => f,
    }
}

async fn round(
    client: &RekorClient,
    logs: &[TrustedLog],
    state_path: &Path,
    watches: &[Watch],
) -> Result<Report, Failure> {
    let (info, log, new) = commands::current_checkpoint(client, logs)
        .await
        .map_err(|f| alert(state_path, f))?;
    let previous = load_state(state_path, logs)?;
    let next_index = match &previous {
        Some((state, old)) => {
            let what = format!("the checkpoint verified last ({})", state_path.display());
            commands::check_extends(client, old, &new, &what)
                .await
                .map_err(|f| alert(state_path, f))?;
            state.next_index.min(new.size)
        }
        // Trust on first use: watching starts with the entries added after this checkpoint.
        None => new.size,
    };
    let next_index = if watches.is_empty() {
        new.size
    } else {
        next_index
    };
    save_state(state_path, log, &info.signed_tree_head, &new, next_index)?;

    let end = new
        .size
        .min(next_index.saturating_add(MAX_ENTRIES_PER_ROUND));
    // v1 log indexes are virtual: the entries of inactive shards come first (§9).
    let offset = info
        .inactive_shards
        .iter()
        .flatten()
        .map(|s| s.tree_size)
        .sum();
    let scan = scan(client, log, &new, offset, next_index..end, watches)
        .await
        .map_err(|f| alert(state_path, f))?;
    if end > next_index {
        save_state(state_path, log, &info.signed_tree_head, &new, end)?;
    }
    Ok(report(
        client,
        state_path,
        &new,
        previous.as_ref().map(|(_, old)| old),
        (next_index, end),
        &scan,
    ))
}

fn report(
    client: &RekorClient,
    state_path: &Path,
    new: &Checkpoint,
    old: Option<&Checkpoint>,
    (from, to): (u64, u64),
    scan: &Scan,
) -> Report {
    let mut text = format!(
        "log {}: checkpoint of tree size {} (root {}) verified\n",
        client.url(),
        new.size,
        new.root.to_hex()
    );
    text.push_str(&match old {
        Some(old) => format!(
            "  consistent with the checkpoint verified last (tree size {})\n",
            old.size
        ),
        None => format!(
            "  first checkpoint: no earlier one in {}; trusted from now on\n",
            state_path.display()
        ),
    });
    if to > from {
        text.push_str(&format!(
            "  entries {from}..{to} verified and checked against the watches: {} match(es)\n",
            scan.matches.len()
        ));
    }
    if scan.unindexed > 0 {
        text.push_str(&format!(
            "  {} entries of kinds without search keys were not checked\n",
            scan.unindexed
        ));
    }
    if to < new.size {
        text.push_str(&format!(
            "  {} entries remain for the next rounds\n",
            new.size - to
        ));
    }
    for m in &scan.matches {
        text.push_str(&format!(
            "MATCH log index {} entry {}: {}\n",
            m.log_index,
            m.uuid,
            m.matched.join(", ")
        ));
    }
    let matches: Vec<_> = scan
        .matches
        .iter()
        .map(|m| {
            json!({"logIndex": m.log_index, "uuid": m.uuid,
                   "integratedTime": m.integrated_time, "matched": m.matched})
        })
        .collect();
    Report {
        text,
        json: json!({
            "ok": true,
            "rekorUrl": client.url(),
            "treeSize": new.size,
            "rootHash": new.root.to_hex(),
            "previousTreeSize": old.map(|c| c.size),
            "checked": {"from": from, "to": to},
            "remaining": new.size - to,
            "unindexedEntries": scan.unindexed,
            "matches": matches,
            "state": state_path,
        }),
    }
}

/// The state file's checkpoint, verified again with the log key (the file may have been edited,
/// or written for another log); `None` when there is no state file yet.
fn load_state(path: &Path, logs: &[TrustedLog]) -> Result<Option<(State, Checkpoint)>, Failure> {
    if !path.exists() {
        return Ok(None);
    }
    let bad = |m: String| {
        Failure::Input(format!(
            "the state file {} {m}; move it away to start again from the log's current checkpoint",
            path.display()
        ))
    };
    let bytes = commands::read_file(path, "the state file")?;
    let state: State = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("is not an arkivo monitor state ({e})")))?;
    let log = logs
        .iter()
        .find(|l| l.log_id_hex() == state.log_id)
        .ok_or_else(|| {
            bad(format!(
                "is for the log {}, which is not a trusted log",
                state.log_id
            ))
        })?;
    let name = commands::signer_name(&state.signed_tree_head);
    let cp = checkpoint::verify_v1(&state.signed_tree_head, &log.key, &name)
        .map_err(|e| bad(format!("holds a checkpoint that does not verify: {e}")))?;
    if cp.size != state.tree_size || Hash::from_hex(&state.root_hash) != Some(cp.root) {
        return Err(bad(
            "has a treeSize/rootHash other than its checkpoint's".into()
        ));
    }
    Ok(Some((state, cp)))
}

/// Replaces the state file atomically: `<state>.tmp` written and synced, renamed over it, and
/// the directory synced, so that a crash leaves either the old state or the new one (and at
/// worst a stale `.tmp`, overwritten next time).
fn save_state(
    path: &Path,
    log: &TrustedLog,
    signed_tree_head: &str,
    cp: &Checkpoint,
    next_index: u64,
) -> Result<(), Failure> {
    let state = State {
        log_id: log.log_id_hex(),
        signed_tree_head: signed_tree_head.to_owned(),
        tree_size: cp.size,
        root_hash: cp.root.to_hex(),
        next_index,
    };
    let mut bytes = serde_json::to_vec_pretty(&state).expect("the state serializes");
    bytes.push(b'\n');
    let io = |e: std::io::Error| Failure::Input(format!("saving {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

/// What checking a range of entries found.
#[derive(Default)]
struct Scan {
    matches: Vec<Match>,
    /// Entries whose kind has no search keys here (another log's `rekord`, `intoto`, …).
    unindexed: u64,
}

struct Match {
    log_index: u64,
    uuid: String,
    integrated_time: i64,
    /// The labels of the watches it matched.
    matched: Vec<String>,
}

/// Fetches the entries of `range` (indexes in the active tree, `offset` before the virtual
/// index), verifies each against `new`, and matches them against the watches.
async fn scan(
    client: &RekorClient,
    log: &TrustedLog,
    new: &Checkpoint,
    offset: u64,
    range: std::ops::Range<u64>,
    watches: &[Watch],
) -> Result<Scan, Failure> {
    let mut scan = Scan::default();
    // Checkpoints the entries came with, already shown consistent with `new`: one proof per
    // tree size the log served, not one per entry.
    let mut consistent = HashMap::from([(new.size, new.root)]);
    let mut start = range.start;
    while start < range.end {
        let batch_end = range.end.min(start + FETCH_CONCURRENCY as u64);
        let mut fetches = JoinSet::new();
        for index in start..batch_end {
            let client = client.clone();
            fetches.spawn(async move { (index, client.get_by_index(offset + index).await) });
        }
        let mut entries = Vec::new();
        while let Some(joined) = fetches.join_next().await {
            let (index, fetched) =
                joined.map_err(|e| Failure::Input(format!("an entry fetch failed: {e}")))?;
            let entry = fetched.map_err(|e| match e.is_not_found() {
                true => Failure::Verification(format!(
                    "the log signed a tree of {} entries but has no entry at log index {}",
                    new.size,
                    offset + index
                )),
                false => e.into(),
            })?;
            entries.push((index, entry));
        }
        entries.sort_by_key(|(index, _)| *index);
        for (index, entry) in entries {
            check_entry(client, log, new, &mut consistent, offset, index, &entry).await?;
            let body = entry.body().map_err(Failure::Verification)?;
            let Ok(keys) = crate::entries::index_keys_of_body(&body) else {
                scan.unindexed += 1;
                continue;
            };
            let matched: Vec<String> = watches
                .iter()
                .filter(|w| w.keys.iter().any(|k| keys.contains(k)))
                .map(|w| w.label.clone())
                .collect();
            if !matched.is_empty() {
                scan.matches.push(Match {
                    log_index: entry.entry.log_index,
                    uuid: entry.uuid,
                    integrated_time: entry.entry.integrated_time,
                    matched,
                });
            }
        }
        start = batch_end;
    }
    Ok(scan)
}

/// An entry fetched as active-tree index `index` is that entry (SET, inclusion proof in its
/// checkpoint, entry ID), and its checkpoint is consistent with `new`, so it is in the tree
/// `new` commits to.
async fn check_entry(
    client: &RekorClient,
    log: &TrustedLog,
    new: &Checkpoint,
    consistent: &mut HashMap<u64, Hash>,
    offset: u64,
    index: u64,
    entry: &LogEntry,
) -> Result<(), Failure> {
    let e = &entry.entry;
    if e.log_index != offset + index || e.verification.inclusion_proof.log_index != index {
        return Err(Failure::Verification(format!(
            "asked for log index {}, the log answered with the entry of log index {} (tree \
             index {})",
            offset + index,
            e.log_index,
            e.verification.inclusion_proof.log_index
        )));
    }
    let verified = verify::verify_log_entry(entry, std::slice::from_ref(log)).map_err(|e| {
        Failure::Verification(format!("the entry at log index {}: {e}", offset + index))
    })?;
    let cp = verified.checkpoint;
    if consistent.get(&cp.size) == Some(&cp.root) {
        return Ok(());
    }
    let what = format!(
        "the checkpoint of the entry at log index {}",
        offset + index
    );
    // Entries come with the log's current checkpoint, usually a later one than `new`.
    if cp.size >= new.size {
        commands::check_extends(client, new, &cp, "the checkpoint verified this round").await?;
    } else {
        commands::check_extends(client, &cp, new, &what).await?;
    }
    consistent.insert(cp.size, cp.root);
    Ok(())
}
