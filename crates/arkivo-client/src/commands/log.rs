//! `arkivo log info|get|search|proof`: queries of a Rekor v1 log, every answer verified.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::checkpoints::{current_checkpoint, tree_checkpoint};
use super::{
    Failure, LogTrust, Output, RekorUrl, Report, log_out_of_spec, logs_or_served, read_text,
    sha256_hex,
};
use crate::rekor::{LogEntry, RekorClient};
use crate::trust::TrustedLog;
use crate::verify::{self, VerifiedEntry, VerifyError};
use arkivo_core::checkpoint::Checkpoint;
use arkivo_core::merkle::{self, Hash};
use arkivo_core::wire::{SearchIndex, SearchPublicKey};

/// What every `log` subcommand takes.
#[derive(Debug, Args)]
pub struct LogCommon {
    #[command(flatten)]
    pub rekor: RekorUrl,
    #[command(flatten)]
    pub trust: LogTrust,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// The log's size, root and checkpoint (signature verified).
    Info(LogCommon),
    /// One entry, by log index or entry UUID, with its SET and inclusion proof verified.
    Get {
        /// A log index, or a 64/80-hex entry UUID.
        entry: String,
        #[command(flatten)]
        common: LogCommon,
    },
    /// Entry UUIDs by artifact digest, signer public key or email.
    Search {
        #[command(flatten)]
        by: SearchArgs,
        #[command(flatten)]
        common: LogCommon,
    },
    /// A consistency proof between two tree sizes, verified against the signed checkpoint.
    Proof {
        #[arg(long)]
        first: u64,
        #[arg(long)]
        last: u64,
        /// The tree (shard) of a rotated log, by its decimal tree ID [default: the active one].
        #[arg(long)]
        tree_id: Option<i64>,
        #[command(flatten)]
        common: LogCommon,
    },
}

impl LogCommand {
    pub fn common(&self) -> &LogCommon {
        match self {
            LogCommand::Info(c)
            | LogCommand::Get { common: c, .. }
            | LogCommand::Search { common: c, .. }
            | LogCommand::Proof { common: c, .. } => c,
        }
    }
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SearchArgs {
    /// SHA-256 of an artifact (hex).
    #[arg(long)]
    pub sha256: Option<String>,
    /// A signer's public key (PEM file).
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// An email address in signing certificates.
    #[arg(long)]
    pub email: Option<String>,
}

pub async fn log(command: &LogCommand) -> Result<Report, Failure> {
    let common = command.common();
    let client = RekorClient::new(&common.rekor.url)?;
    match command {
        LogCommand::Info(_) => {
            let (logs, pinned) = logs_or_served(&client, &common.trust, None).await?;
            let (info, log, _) = current_checkpoint(&client, &logs).await?;
            let frozen = info.inactive_shards.as_deref().unwrap_or_default();
            let mut text = format!(
                "log {}\n  tree ID {}, tree size {}, root {}\n  log ID {}\n  checkpoint signature: OK ({})\n",
                client.url(),
                info.tree_id,
                info.tree_size,
                info.root_hash,
                log.log_id_hex(),
                if pinned {
                    "trusted key"
                } else {
                    "key served by the log"
                }
            );
            // Listed as the log lists them; `log proof --tree-id` verifies one.
            for shard in frozen {
                text.push_str(&format!(
                    "  frozen tree {}: tree size {}, root {}\n",
                    shard.tree_id, shard.tree_size, shard.root_hash
                ));
            }
            let total = info.tree_size + frozen.iter().map(|s| s.tree_size).sum::<u64>();
            Ok(Report {
                text,
                json: json!({
                    "ok": true, "treeID": info.tree_id, "treeSize": info.tree_size,
                    "rootHash": info.root_hash, "logID": log.log_id_hex(),
                    "signedTreeHead": info.signed_tree_head, "keyPinned": pinned,
                    "inactiveShards": info.inactive_shards, "totalSize": total,
                }),
            })
        }
        LogCommand::Get { entry, .. } => {
            let fetched = match entry.parse::<u64>() {
                Ok(index) if entry.len() < 64 => client.get_by_index(index).await,
                _ => client.get_by_uuid(entry).await,
            }
            .map_err(|e| match e.is_not_found() {
                true => Failure::Input(format!("no entry {entry} in the log at {}", client.url())),
                false => e.into(),
            })?;
            // Unpinned, the key of the entry's own tree (its entry ID names it), as rekor-cli
            // asks for it.
            let tree_id = fetched
                .uuid
                .get(..16)
                .filter(|_| fetched.uuid.len() == 80)
                .and_then(|hex| i64::from_str_radix(hex, 16).ok())
                .map(|id| id.to_string());
            let (logs, pinned) = logs_or_served(&client, &common.trust, tree_id.as_deref()).await?;
            let verified = verify::verify_log_entry(&fetched, &logs)?;
            Ok(entry_report(&fetched, &verified, pinned))
        }
        LogCommand::Search { by, .. } => {
            let query = search_query(by)?;
            let answer = client.search_index(&query).await?;
            let mut text: String = answer.uuids.iter().map(|id| format!("{id}\n")).collect();
            if let Some(n) = answer.truncated {
                text.push_str(&format!(
                    "(the log answered only its newest {n} matches; narrow the query)\n"
                ));
            }
            Ok(Report {
                text,
                json: json!({"ok": true, "uuids": answer.uuids, "truncated": answer.truncated}),
            })
        }
        LogCommand::Proof {
            first,
            last,
            tree_id,
            ..
        } => {
            let tree_id = tree_id.map(|id| id.to_string());
            let (logs, pinned) = logs_or_served(&client, &common.trust, tree_id.as_deref()).await?;
            proof(&client, &logs, pinned, tree_id.as_deref(), *first, *last).await
        }
    }
}

fn entry_report(entry: &LogEntry, verified: &VerifiedEntry, pinned: bool) -> Report {
    let body = entry.body().unwrap_or_default();
    let kind = arkivo_core::entries::kind_of_body(&body)
        .map(|(k, _)| k.as_str())
        .unwrap_or("?");
    let mut text = format!(
        "entry {}\n  kind {kind}, log index {}, integrated at {} (Unix)\n  SET: OK; inclusion proof: OK in the signed checkpoint of tree size {} ({})\n",
        entry.uuid,
        entry.entry.log_index,
        entry.entry.integrated_time,
        verified.checkpoint.size,
        if pinned {
            "trusted key"
        } else {
            "key served by the log"
        }
    );
    if let Ok(b) = arkivo_core::entries::hashedrekord::parse_body(&body) {
        text.push_str(&format!("  artifact {}:{}\n", b.algorithm.name(), b.value));
    }
    text.push_str(&format!("  body {}\n", String::from_utf8_lossy(&body)));
    Report {
        text,
        json: json!({
            "ok": true,
            "verified": true,
            "keyPinned": pinned,
            "entry": entry.to_map(),
        }),
    }
}

fn search_query(s: &SearchArgs) -> Result<SearchIndex, Failure> {
    use base64::Engine as _;
    let mut q = SearchIndex::default();
    if let Some(h) = &s.sha256 {
        q.hash = Some(format!("sha256:{}", sha256_hex(h, "--sha256")?));
    }
    if let Some(path) = &s.public_key {
        let pem = read_text(path, "the public key")?;
        q.public_key = Some(SearchPublicKey {
            format: Some("x509".into()),
            content: Some(base64::engine::general_purpose::STANDARD.encode(pem)),
        });
    }
    q.email.clone_from(&s.email);
    Ok(q)
}

/// `log proof`: the root at `last` comes from the log's signed checkpoint, directly when
/// `last` is the current size, else through a consistency proof to it; the root at `first` is
/// learnt the same way from the proof `first → last` (rekor-v1-api.md §3.7 gives no signed
/// roots for past sizes). The proof then verifies between the two.
async fn proof(
    client: &RekorClient,
    logs: &[TrustedLog],
    pinned: bool,
    tree_id: Option<&str>,
    first: u64,
    last: u64,
) -> Result<Report, Failure> {
    if first == 0 || first > last {
        return Err(Failure::Input(format!(
            "--first {first} --last {last}: need 1 <= first <= last"
        )));
    }
    let (_, _, current) = tree_checkpoint(client, logs, tree_id).await?;
    if last > current.size {
        return Err(Failure::Input(format!(
            "--last {last} is beyond the log's current tree size {}",
            current.size
        )));
    }
    let last_root = root_at(client, &current, tree_id, last).await?;
    let proof = client.consistency_proof(first, last, tree_id).await?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| Hash::from_hex(h).ok_or_else(|| log_out_of_spec(format!("{h:?} is not 64 hex"))))
        .collect::<Result<Vec<_>, _>>()?;
    let first_root = match merkle::consistency_old_root(first, last, &hashes, &last_root) {
        Ok(Some(root)) => Some(root),
        Ok(None) => None,
        Err(e) => return Err(VerifyError::Consistency(e).into()),
    };
    let first_text = first_root.map_or_else(
        || "not contained in the proof (a power-of-two size); compare it with a checkpoint you hold".to_owned(),
        |r| r.to_hex(),
    );
    Ok(Report {
        text: format!(
            "consistency proof {first} -> {last}: {} hashes, OK against the signed checkpoint of tree size {} ({})\n  \
             root at {first}: {first_text}\n  root at {last}: {}\n",
            hashes.len(),
            current.size,
            if pinned {
                "trusted key"
            } else {
                "key served by the log"
            },
            last_root.to_hex()
        ),
        json: json!({
            "ok": true, "verified": true, "keyPinned": pinned,
            "firstSize": first, "lastSize": last,
            "firstRootHash": first_root.map(|r| r.to_hex()),
            "lastRootHash": last_root.to_hex(),
            "hashes": proof.hashes,
            "checkpointTreeSize": current.size,
        }),
    })
}

/// The root of the tree of `size` records, from the verified checkpoint `current`.
async fn root_at(
    client: &RekorClient,
    current: &Checkpoint,
    tree_id: Option<&str>,
    size: u64,
) -> Result<Hash, Failure> {
    if size == current.size {
        return Ok(current.root);
    }
    let proof = client
        .consistency_proof(size, current.size, tree_id)
        .await?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| Hash::from_hex(h).ok_or_else(|| log_out_of_spec(format!("{h:?} is not 64 hex"))))
        .collect::<Result<Vec<_>, _>>()?;
    match merkle::consistency_old_root(size, current.size, &hashes, &current.root) {
        Ok(Some(root)) => Ok(root),
        Ok(None) => Err(Failure::Input(format!(
            "the root at --last {size} (a power of two) is not in any v1 proof; use --last {}",
            current.size
        ))),
        Err(e) => Err(VerifyError::Consistency(e).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_queries() {
        let q = search_query(&SearchArgs {
            sha256: Some(format!("sha256:{}", "AB".repeat(32))),
            public_key: None,
            email: None,
        })
        .unwrap();
        assert_eq!(q.hash.unwrap(), format!("sha256:{}", "ab".repeat(32)));
        assert!(
            search_query(&SearchArgs {
                sha256: Some("abc".into()),
                public_key: None,
                email: None,
            })
            .is_err()
        );
    }
}
