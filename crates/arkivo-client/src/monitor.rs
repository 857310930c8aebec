//! `arkivo monitor`: follows a Rekor v1 log (Arkivo's or another) as sigstore's rekor-monitor
//! does, and raises the alarm when it misbehaves.
//!
//! A log is a sequence of trees (shards, rekor-v1-api.md §9): the active one takes the appends,
//! the older ones are frozen, and virtual log indexes number the entries of all of them in
//! order. Each round:
//!
//! 1. fetches the log info (§3.5), whose active tree's checkpoint must be signed with a trusted
//!    key, and finds in it the tree of the checkpoint verified last, read back from the state
//!    file and verified again: the active tree or, after rotations, one of the inactive shards
//!    (a tree in neither is another log);
//! 2. verifies the checkpoint the log lists for that tree (its final one once the tree is
//!    frozen) with a trusted key (§8: signer name, key hint, ECDSA signature, origin), and checks
//!    that it extends the checkpoint verified last: same origin, no smaller tree, no other root
//!    at the same size, and the log's consistency proof (§3.7, asked of that tree) verified
//!    locally;
//! 3. verifies the checkpoint of each tree started since, up to the active one, with a trusted
//!    key under the same hostname, and starts each one's consistency chain from it. Nothing
//!    links a new tree to the old one cryptographically: being signed with a trusted key is
//!    what makes it the log's. After a rotation to a new key, the operator gives that key too
//!    (`--log-key` is repeatable); the log's own word for it is not taken, as a swapped log
//!    would vouch for itself;
//! 4. saves the new checkpoint in the state file (temporary file, fsync, rename: a crash leaves
//!    the old state or the new one, never a mix);
//! 5. with watches, fetches the entries added since the last round by virtual index (§3.2),
//!    through the rest of the frozen trees to the active one, verifies each (its `logIndex` the
//!    one asked for and its `inclusionProof.logIndex` its index in the tree expected there;
//!    SET, checkpoint of that tree, inclusion proof; its checkpoint consistent with the tree's)
//!    and reports those whose search keys (§10.1, [`arkivo_core::entries::index_keys_of_body`]) match
//!    a watched email, key or artifact digest, or whose certificate names a watched identity
//!    (a subject alternative name, among the search keys) — with `--watch-issuer`, vouched for
//!    by that OIDC issuer (the certificate's `1.3.6.1.4.1.57264.1.8`/`.1.1` extension, read from
//!    `hashedrekord` and `dsse` bodies; entries of other kinds naming the identity are reported
//!    with their issuer unread, a monitor's error on the side of reporting). The state moves on (within a tree, or to the
//!    next tree once a frozen one is done) only once the round's report is printed, so a match
//!    is reported at least once even across crashes, and once only across rotations;
//! 6. with `--watch-sha256`, asks the log's search index for each watched digest too, and
//!    reports the `dsse` entries it names among those checked this round: a `dsse` body holds
//!    only the envelope's and the payload's hashes (§6.3), not the in-toto statement, so its
//!    subjects (§10.1 item 5), which the log indexed from the envelope when it took the entry,
//!    cannot be read from the body. Such a match is the log's word, marked as such: a log that
//!    hides one from its index is not caught (the entry itself was verified in step 5).
//!
//! The state file holds the checkpoint verified last (`signedTreeHead`, with its `logID`,
//! `treeID`, `treeSize` and `rootHash` for people and scripts), the virtual index of its tree's
//! first entry (`treeOffset`: the log must not renumber its entries) and the first entry of
//! that tree not yet watched (`nextIndex`, an index in the tree). Files written before shards
//! were followed lack `treeID` and `treeOffset`: the tree is the one of their checkpoint's
//! origin, and its offset is taken from the log info once.
//!
//! With identities watched and a trusted root that lists the CA's CT log, each round also
//! follows that log ([`ct`]): certificates issued for a watched identity are reported whether
//! or not a log entry was ever made with them.
//!
//! A failed check is reported as an ALERT and ends the command with exit code 1 (the state file
//! keeps the last checkpoint verified); the log being unreachable is exit code 3 with `--once`,
//! and a retry at the next interval otherwise.

mod ct;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinSet;

use crate::commands::checkpoints::{self, ListedTree};
use crate::commands::{self, Failure, LogTrust, Output, RekorUrl, Report};
use crate::identity;
use crate::rekor::{LogEntry, RekorClient};
use crate::trust::{self, TrustedLog};
use crate::verify;
use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::entries::{Kind, dsse, hashedrekord};
use arkivo_core::merkle::Hash;
use arkivo_core::wire::LogInfo;

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
    /// Report new entries whose signing certificate names this identity (a subject alternative
    /// name: an email, or a URI such as a GitHub workflow's). Repeatable.
    #[arg(long = "watch-identity", value_name = "SAN")]
    pub watch_identities: Vec<String>,
    /// With --watch-identity: only certificates issued for tokens of this OIDC issuer.
    #[arg(
        long = "watch-issuer",
        value_name = "URL",
        requires = "watch_identities"
    )]
    pub watch_issuer: Option<String>,
    /// Where the CA's CT log's last verified checkpoint is kept: with --watch-identity or
    /// --watch-email and a --trusted-root listing a CT log, the CT log at <rekor-url>/ct is
    /// followed too, for certificates issued for the watched identities.
    #[arg(long = "ct-state", default_value = "arkivo-monitor-ct.json")]
    pub ct_state: PathBuf,
    /// Run one round and exit (for cron or CI).
    #[arg(long, conflicts_with = "interval")]
    pub once: bool,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// The state file (module doc): the checkpoint verified last, where its tree starts in the
/// virtual index, and the first entry not yet watched.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct State {
    /// Hex log ID of the key that signed `signed_tree_head`.
    #[serde(rename = "logID")]
    log_id: String,
    /// The tree (decimal), the one in the checkpoint's origin; empty in old files until loaded.
    #[serde(rename = "treeID", default)]
    tree_id: String,
    /// The checkpoint as the log served it, verified again when read back.
    signed_tree_head: String,
    /// Its size and root, for people and scripts reading the file.
    tree_size: u64,
    root_hash: String,
    /// The virtual log index of the tree's first entry; `None` in old files.
    tree_offset: Option<u64>,
    /// Entries of the tree from here on have not been checked against the watches yet.
    next_index: u64,
}

/// One watched identity: how it is shown, the search keys (lower-case) that match it, and the
/// OIDC issuer its certificate must name.
#[derive(Clone)]
struct Watch {
    label: String,
    keys: Vec<String>,
    issuer: Option<String>,
    /// An artifact digest, which attestations name in their in-toto subjects: the log's search
    /// index is asked for it too (module doc, step 6).
    in_toto_subject: bool,
    /// An identity a certificate names (email or other SAN): the CT log is watched for it too
    /// ([`ct`]).
    certified: bool,
}

impl Watch {
    /// Whether an entry with search keys `keys` and canonical body `body` matches; `Some(note)`
    /// when it does, the note saying what could not be read.
    fn matches(&self, keys: &[String], body: &[u8]) -> Option<&'static str> {
        if !self.keys.iter().any(|k| keys.contains(k)) {
            return None;
        }
        let Some(issuer) = &self.issuer else {
            return Some("");
        };
        let verifiers = match arkivo_core::entries::kind_of_body(body) {
            Ok((Kind::HashedRekord, _)) => hashedrekord::parse_body(body)
                .map(|b| vec![b.verifier])
                .ok(),
            Ok((Kind::Dsse, _)) => dsse::parse_body(body)
                .map(|b| b.signatures.into_iter().map(|(_, v)| v).collect())
                .ok(),
            _ => None,
        };
        let Some(verifiers) = verifiers else {
            return Some(" (issuer not read from this kind of entry)");
        };
        verifiers
            .iter()
            .filter(|v| {
                v.subjects()
                    .iter()
                    .any(|s| self.keys.contains(&s.to_lowercase()))
            })
            .filter_map(|v| v.certificates().first())
            .any(|leaf| {
                identity::oidc_issuer(&leaf.tbs_certificate).as_deref() == Some(issuer.as_str())
            })
            .then_some("")
    }
}

fn watches(args: &MonitorArgs) -> Result<Vec<Watch>, Failure> {
    let mut watches = Vec::new();
    for email in &args.watch_emails {
        watches.push(Watch {
            label: format!("email {email}"),
            keys: vec![email.to_lowercase()],
            issuer: None,
            in_toto_subject: false,
            certified: true,
        });
    }
    for path in &args.watch_keys {
        let pem = commands::read_text(path, "the watched key")?;
        let [key, _] = arkivo_core::entries::public_key_index_keys(pem.as_bytes())
            .map_err(|e| Failure::Input(format!("the watched key {}: {e}", path.display())))?;
        // The key itself (its SPKI), which every entry's keys carry however it was given: bare,
        // or in a certificate, self-signed or not (§10.1).
        watches.push(Watch {
            label: format!("key {} ({key})", path.display()),
            keys: vec![key],
            issuer: None,
            in_toto_subject: false,
            certified: false,
        });
    }
    for digest in &args.watch_sha256 {
        let hex = commands::sha256_hex(digest, "--watch-sha256")?;
        watches.push(Watch {
            label: format!("artifact sha256:{hex}"),
            keys: vec![format!("sha256:{hex}")],
            issuer: None,
            in_toto_subject: true,
            certified: false,
        });
    }
    for san in &args.watch_identities {
        watches.push(Watch {
            label: match &args.watch_issuer {
                Some(issuer) => format!("identity {san} from {issuer}"),
                None => format!("identity {san}"),
            },
            keys: vec![san.to_lowercase()],
            issuer: args.watch_issuer.clone(),
            in_toto_subject: false,
            certified: true,
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
    let certified: Vec<Watch> = watches.iter().filter(|w| w.certified).cloned().collect();
    let ctlogs = match &args.trust.trusted_root {
        Some(path) if !certified.is_empty() => trust::ct_logs_from_trusted_root(
            &commands::read_file(path, "the trusted root")?,
            &path.display().to_string(),
        )?,
        _ => Vec::new(),
    };
    if !certified.is_empty() && ctlogs.is_empty() {
        eprintln!(
            "note: no CT log to follow (a --trusted-root listing the CA's CT log, ctlogs): \
             certificates are watched only through the log's entries"
        );
    }
    let ct_url = format!("{}/ct", client.url());
    loop {
        let (result, moved) = match rt.block_on(round(&client, &logs, &args.state, &watches)) {
            Ok((report, moved)) => (Ok(report), moved),
            Err(f) => (Err(f), None),
        };
        commands::print_result(args.output, &result);
        // Past the round's matches only once they are printed: each is reported at least once,
        // even if the monitor dies in between.
        if let Some(state) = moved {
            write_state(&args.state, &state)?;
        }
        let result = match result {
            Ok(report) if !ctlogs.is_empty() => {
                let ct_round = rt.block_on(ct::round(
                    &client,
                    &ct_url,
                    &ctlogs,
                    &args.ct_state,
                    &certified,
                ));
                let (ct_result, ct_state) = match ct_round {
                    Ok((r, state)) => (Ok(r), Some(state)),
                    Err(f) => (Err(f), None),
                };
                commands::print_result(args.output, &ct_result);
                if let Some(state) = ct_state {
                    write_state(&args.ct_state, &state)?;
                }
                ct_result.map(|_| report)
            }
            other => other,
        };
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

/// A tree of the log followed this round, its checkpoint verified.
struct Tree<'a> {
    /// Decimal, as the log lists it and the checkpoint's origin names it.
    id: &'a str,
    /// The trusted log whose key signed the checkpoint: the tree's entries must be its too.
    log: &'a TrustedLog,
    /// The checkpoint as the log served it (what the state file keeps)…
    signed_tree_head: &'a str,
    /// … and what it says.
    checkpoint: Checkpoint,
    /// The virtual log index of its first entry (§9).
    offset: u64,
}

impl Tree<'_> {
    /// The virtual log index of its entry `index`.
    fn log_index(&self, index: u64) -> u64 {
        self.offset.saturating_add(index)
    }
}

/// One round: its report, and the state to save once the report is printed (when the watches
/// moved past entries).
async fn round(
    client: &RekorClient,
    logs: &[TrustedLog],
    state_path: &Path,
    watches: &[Watch],
) -> Result<(Report, Option<State>), Failure> {
    // The active tree's checkpoint first: when no trusted key signed it, the keys given are
    // wrong or the log is another, whatever the state file says.
    let (info, _, _) = checkpoints::current_checkpoint(client, logs)
        .await
        .map_err(|f| alert(state_path, f))?;
    let previous = load_state(state_path, logs)?;
    let trees = trees(client, logs, &info, previous.as_ref(), state_path)
        .await
        .map_err(|f| alert(state_path, f))?;
    let last = trees.len() - 1;
    // Where watching resumes: a tree's position in `trees` and an index in that tree.
    let from = match &previous {
        Some((state, _)) if !watches.is_empty() => {
            (0, state.next_index.min(trees[0].checkpoint.size))
        }
        // Trust on first use: watching starts with the entries added after this checkpoint.
        // Without watches, the entries are not fetched at all.
        _ => (last, trees[last].checkpoint.size),
    };
    write_state(state_path, &State::at(&trees[from.0], from.1))?;
    let (to, mut scan) = scan(client, &trees, from, watches)
        .await
        .map_err(|f| alert(state_path, f))?;
    attestations(client, watches, &mut scan).await?;
    let report = report(
        client,
        state_path,
        &trees,
        previous.as_ref().map(|(_, old)| old),
        (from, to),
        &scan,
    );
    Ok((report, (to != from).then(|| State::at(&trees[to.0], to.1))))
}

/// The trees to follow this round, their checkpoints verified (module doc, steps 1–3): the tree
/// of the checkpoint verified last, then those started after it, oldest first; the active one
/// (alone on first use) comes last, and the others are frozen, their checkpoints final.
async fn trees<'a>(
    client: &RekorClient,
    logs: &'a [TrustedLog],
    info: &'a LogInfo,
    previous: Option<&(State, Checkpoint)>,
    state_path: &Path,
) -> Result<Vec<Tree<'a>>, Failure> {
    // As the log lists them: the inactive shards, oldest first, then the active tree.
    let listed: Vec<ListedTree> = info
        .inactive_shards
        .iter()
        .flatten()
        .map(ListedTree::from)
        .chain([ListedTree::from(info)])
        .collect();
    let (first, hostname) = match previous {
        None => (
            listed.len() - 1,
            checkpoints::signer_name(&info.signed_tree_head),
        ),
        Some((state, _)) => {
            let first = listed
                .iter()
                .position(|t| t.tree_id == state.tree_id)
                .ok_or_else(|| {
                    Failure::Verification(format!(
                        "the checkpoint verified last ({}) is of tree {}, which the log lists \
                         neither as its active tree ({}) nor as an inactive shard: another log \
                         or tree",
                        state_path.display(),
                        state.tree_id,
                        info.tree_id
                    ))
                })?;
            (first, checkpoints::signer_name(&state.signed_tree_head))
        }
    };
    // Virtual indexes count the entries of the trees before (§9).
    let mut offset = listed[..first]
        .iter()
        .fold(0u64, |sum, t| sum.saturating_add(t.tree_size));
    if let Some(was) = previous.and_then(|(state, _)| state.tree_offset)
        && was != offset
    {
        return Err(Failure::Verification(format!(
            "the log numbers the entries of tree {} from log index {offset}, it numbered them \
             from {was}: the trees before it changed",
            listed[first].tree_id
        )));
    }
    let mut trees = Vec::new();
    for (i, listed) in listed[first..].iter().enumerate() {
        let (log, checkpoint) = checkpoints::verify_listed(listed, logs, &hostname, client.url())?;
        // The state's tree goes on from the state's checkpoint; a later one starts a new chain.
        if i == 0
            && let Some((_, old)) = previous
        {
            let what = format!("the checkpoint verified last ({})", state_path.display());
            checkpoints::check_extends(client, old, &checkpoint, &what).await?;
        }
        let size = checkpoint.size;
        trees.push(Tree {
            id: listed.tree_id,
            log,
            signed_tree_head: listed.signed_tree_head,
            checkpoint,
            offset,
        });
        offset = offset.saturating_add(size);
    }
    Ok(trees)
}

/// The round's report: the checkpoints verified, the trees followed, the entries checked.
fn report(
    client: &RekorClient,
    state_path: &Path,
    trees: &[Tree],
    old: Option<&Checkpoint>,
    (from, to): ((usize, u64), (usize, u64)),
    scan: &Scan,
) -> Report {
    let (active, frozen) = trees
        .split_last()
        .expect("the active tree is always followed");
    let (from, to) = (trees[from.0].log_index(from.1), trees[to.0].log_index(to.1));
    let remaining = active.log_index(active.checkpoint.size).saturating_sub(to);
    let mut text = format!(
        "log {}: checkpoint of tree {}, size {} (root {}) verified\n",
        client.url(),
        active.id,
        active.checkpoint.size,
        active.checkpoint.root.to_hex()
    );
    text.push_str(&match (old, frozen.first()) {
        (None, _) => format!(
            "  first checkpoint: no earlier one in {}; trusted from now on\n",
            state_path.display()
        ),
        (Some(old), None) => format!(
            "  consistent with the checkpoint verified last (tree size {})\n",
            old.size
        ),
        (Some(old), Some(t)) => format!(
            "  tree {} was frozen at size {}: its final checkpoint is consistent with the \
             checkpoint verified last (tree size {})\n",
            t.id, t.checkpoint.size, old.size
        ),
    });
    for t in frozen.iter().skip(1) {
        text.push_str(&format!(
            "  tree {} was started and frozen since, at size {} (checkpoint verified)\n",
            t.id, t.checkpoint.size
        ));
    }
    if !frozen.is_empty() {
        text.push_str(&format!(
            "  now following tree {}, whose entries start at log index {}\n",
            active.id, active.offset
        ));
    }
    if to > from {
        text.push_str(&format!(
            "  entries {from}..{to} verified and checked against the watches: {} match(es)\n",
            scan.matches.len()
        ));
    }
    for (label, n) in &scan.index_truncated {
        text.push_str(&format!(
            "  the log's index answered only its newest {n} entries of {label}: attestations \
             among older ones may be missed\n"
        ));
    }
    if scan.unindexed > 0 {
        text.push_str(&format!(
            "  {} entries of kinds without search keys were not checked\n",
            scan.unindexed
        ));
    }
    if remaining > 0 {
        text.push_str(&format!(
            "  {remaining} entries remain for the next rounds\n"
        ));
    }
    for m in &scan.matches {
        let by_index = m
            .matched_by_index
            .iter()
            .map(|label| format!("{label} (an in-toto subject, by the log's index)"));
        text.push_str(&format!(
            "MATCH log index {} entry {}: {}\n",
            m.log_index,
            m.uuid,
            m.matched
                .iter()
                .cloned()
                .chain(by_index)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let matches: Vec<_> = scan
        .matches
        .iter()
        .map(|m| {
            json!({"logIndex": m.log_index, "uuid": m.uuid,
                   "integratedTime": m.integrated_time, "matched": m.matched,
                   "matchedByLogIndex": m.matched_by_index})
        })
        .collect();
    let frozen: Vec<_> = frozen
        .iter()
        .map(|t| {
            json!({"treeID": t.id, "treeSize": t.checkpoint.size,
                   "rootHash": t.checkpoint.root.to_hex(), "firstLogIndex": t.offset})
        })
        .collect();
    Report {
        text,
        json: json!({
            "ok": true,
            "rekorUrl": client.url(),
            "treeID": active.id,
            "treeSize": active.checkpoint.size,
            "rootHash": active.checkpoint.root.to_hex(),
            "previousTreeID": old.and_then(Checkpoint::v1_tree_id),
            "previousTreeSize": old.map(|c| c.size),
            "frozenTrees": frozen,
            "checked": {"from": from, "to": to},
            "remaining": remaining,
            "unindexedEntries": scan.unindexed,
            "indexTruncated": scan.index_truncated.iter()
                .map(|(label, n)| json!({"watch": label, "newest": n}))
                .collect::<Vec<_>>(),
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
    let mut state: State = serde_json::from_slice(&bytes)
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
    let name = checkpoints::signer_name(&state.signed_tree_head);
    let cp = checkpoint::verify_v1(&state.signed_tree_head, &log.key, &name)
        .map_err(|e| bad(format!("holds a checkpoint that does not verify: {e}")))?;
    // verify_v1 checked that the origin names a tree.
    let tree_id = cp.v1_tree_id().unwrap_or_default();
    // Files from before shards were followed have no treeID: their checkpoint's is the one.
    if state.tree_id.is_empty() {
        state.tree_id = tree_id.to_owned();
    }
    if state.tree_id != tree_id
        || cp.size != state.tree_size
        || Hash::from_hex(&state.root_hash) != Some(cp.root)
    {
        return Err(bad(
            "has a treeID/treeSize/rootHash other than its checkpoint's".into(),
        ));
    }
    Ok(Some((state, cp)))
}

impl State {
    /// The position `next_index` in `tree`.
    fn at(tree: &Tree, next_index: u64) -> State {
        State {
            log_id: tree.log.log_id_hex(),
            tree_id: tree.id.to_owned(),
            signed_tree_head: tree.signed_tree_head.to_owned(),
            tree_size: tree.checkpoint.size,
            root_hash: tree.checkpoint.root.to_hex(),
            tree_offset: Some(tree.offset),
            next_index,
        }
    }
}

/// Replaces the state file with `state`, atomically ([`arkivo_core::durable::replace`]): a crash
/// leaves either the old state or the new one.
fn write_state(path: &Path, state: &impl Serialize) -> Result<(), Failure> {
    let mut bytes = serde_json::to_vec_pretty(state).expect("the state serializes");
    bytes.push(b'\n');
    arkivo_core::durable::replace(path, &bytes, 0o666)
        .map_err(|e| Failure::Input(format!("saving {}: {e}", path.display())))
}

/// What checking entries found.
#[derive(Default)]
struct Scan {
    /// In log index order.
    matches: Vec<Match>,
    /// Entries whose kind has no search keys here (another log's `rekord`, `intoto`, …).
    unindexed: u64,
    /// The `dsse` entries checked, with their leaf hash (hex): the log's index may name them
    /// (module doc, step 6) before they join the matches.
    attestations: Vec<(String, Match)>,
    /// The watches whose index answer the log cut, and how many entries it kept.
    index_truncated: Vec<(String, u64)>,
}

struct Match {
    /// Virtual.
    log_index: u64,
    uuid: String,
    integrated_time: i64,
    /// The labels of the watches its body matched.
    matched: Vec<String>,
    /// The labels of the watches the log's index says it matched (module doc, step 6).
    matched_by_index: Vec<String>,
}

/// Checks the entries from `from` (a tree's position in `trees`, an index in that tree) on,
/// [`MAX_ENTRIES_PER_ROUND`] at most, through the end of each frozen tree into the next one;
/// returns where it stopped. A frozen tree's end is left for the next tree's start, so that a
/// state saved there is in the tree still to follow.
async fn scan(
    client: &RekorClient,
    trees: &[Tree<'_>],
    from: (usize, u64),
    watches: &[Watch],
) -> Result<((usize, u64), Scan), Failure> {
    let mut scan = Scan::default();
    let (mut at, mut next) = from;
    let mut budget = MAX_ENTRIES_PER_ROUND;
    loop {
        let tree = &trees[at];
        let end = tree.checkpoint.size.min(next.saturating_add(budget));
        scan_tree(client, tree, next..end, watches, &mut scan).await?;
        budget -= end - next;
        next = end;
        if next < tree.checkpoint.size || at + 1 == trees.len() {
            return Ok(((at, next), scan));
        }
        at += 1;
        next = 0;
    }
}

/// Fetches the entries of `range` (indexes in `tree`) by virtual index, verifies each against
/// the tree's checkpoint, and matches them against the watches.
async fn scan_tree(
    client: &RekorClient,
    tree: &Tree<'_>,
    range: std::ops::Range<u64>,
    watches: &[Watch],
    scan: &mut Scan,
) -> Result<(), Failure> {
    // Checkpoints the entries came with, already shown consistent with the tree's: one proof
    // per tree size the log served, not one per entry.
    let mut consistent = HashMap::from([(tree.checkpoint.size, tree.checkpoint.clone())]);
    let mut start = range.start;
    while start < range.end {
        let batch_end = range.end.min(start + FETCH_CONCURRENCY as u64);
        let mut fetches = JoinSet::new();
        for index in start..batch_end {
            let client = client.clone();
            let log_index = tree.log_index(index);
            fetches.spawn(async move { (index, client.get_by_index(log_index).await) });
        }
        let mut entries = Vec::new();
        while let Some(joined) = fetches.join_next().await {
            let (index, fetched) =
                joined.map_err(|e| Failure::Input(format!("an entry fetch failed: {e}")))?;
            let entry = fetched.map_err(|e| match e.is_not_found() {
                true => Failure::Verification(format!(
                    "the log signed a tree {} of {} entries but has no entry at log index {}",
                    tree.id,
                    tree.checkpoint.size,
                    tree.log_index(index)
                )),
                false => e.into(),
            })?;
            entries.push((index, entry));
        }
        entries.sort_by_key(|(index, _)| *index);
        for (index, entry) in entries {
            check_entry(client, tree, &mut consistent, index, &entry).await?;
            let body = entry.body().map_err(Failure::Verification)?;
            let Ok(keys) = arkivo_core::entries::index_keys_of_body(&body) else {
                scan.unindexed += 1;
                continue;
            };
            let matched: Vec<String> = watches
                .iter()
                .filter_map(|w| {
                    w.matches(&keys, &body)
                        .map(|note| format!("{}{note}", w.label))
                })
                .collect();
            let found = Match {
                log_index: entry.entry.log_index,
                uuid: entry.uuid,
                integrated_time: entry.entry.integrated_time,
                matched,
                matched_by_index: Vec::new(),
            };
            // Attestations (dsse, intoto): their bodies hold no subject, only hashes.
            if arkivo_core::entries::kind_of_body(&body).is_ok_and(|(k, _)| {
                matches!(
                    k,
                    arkivo_core::entries::Kind::Dsse | arkivo_core::entries::Kind::Intoto
                )
            }) {
                // The leaf hash of the body whose inclusion was just verified.
                let leaf = arkivo_core::merkle::record_hash(&body).to_hex();
                scan.attestations.push((leaf, found));
            } else if !found.matched.is_empty() {
                scan.matches.push(found);
            }
        }
        start = batch_end;
    }
    Ok(())
}

/// Module doc, step 6: asks the log's index for each watched artifact digest, marks the
/// attestations checked this round that it names, and moves those matched either way into the
/// matches. An entry ID is matched by its leaf hash (its last 64 hex digits): the same body in
/// another tree is the same envelope, so the same subjects.
async fn attestations(
    client: &RekorClient,
    watches: &[Watch],
    scan: &mut Scan,
) -> Result<(), Failure> {
    if !scan.attestations.is_empty() {
        for watch in watches.iter().filter(|w| w.in_toto_subject) {
            for key in &watch.keys {
                let query = arkivo_core::wire::SearchIndex {
                    hash: Some(key.clone()),
                    ..Default::default()
                };
                let answer = client.search_index(&query).await?;
                if let Some(n) = answer.truncated {
                    scan.index_truncated.push((watch.label.clone(), n));
                }
                let named: HashSet<String> = answer
                    .uuids
                    .iter()
                    .filter_map(|id| id.get(id.len().checked_sub(64)?..))
                    .map(str::to_ascii_lowercase)
                    .collect();
                for (leaf, m) in &mut scan.attestations {
                    if named.contains(leaf.as_str()) && !m.matched_by_index.contains(&watch.label) {
                        m.matched_by_index.push(watch.label.clone());
                    }
                }
            }
        }
    }
    let found = std::mem::take(&mut scan.attestations)
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| !m.matched.is_empty() || !m.matched_by_index.is_empty());
    scan.matches.extend(found);
    scan.matches.sort_by_key(|m| m.log_index);
    Ok(())
}

/// An entry fetched as entry `index` of `tree` is that entry: its log index the virtual one
/// asked for and its inclusion proof's the index in `tree`; its log ID the tree's key's, SET,
/// inclusion proof in its checkpoint, entry ID of its checkpoint's tree; and its checkpoint is
/// consistent with the tree's, so of the same tree (same origin), which then holds the entry.
async fn check_entry(
    client: &RekorClient,
    tree: &Tree<'_>,
    consistent: &mut HashMap<u64, Checkpoint>,
    index: u64,
    entry: &LogEntry,
) -> Result<(), Failure> {
    let e = &entry.entry;
    let log_index = tree.log_index(index);
    if e.log_index != log_index || e.verification.inclusion_proof.log_index != index {
        return Err(Failure::Verification(format!(
            "asked for log index {log_index} (entry {index} of tree {}), the log answered with \
             the entry of log index {} (entry {} of its tree)",
            tree.id, e.log_index, e.verification.inclusion_proof.log_index
        )));
    }
    let in_entry =
        |m: String| Failure::Verification(format!("the entry at log index {log_index}: {m}"));
    let verified = verify::verify_log_entry(entry, std::slice::from_ref(tree.log))
        .map_err(|err| in_entry(err.to_string()))?;
    let cp = verified.checkpoint;
    if consistent.get(&cp.size) == Some(&cp) {
        return Ok(());
    }
    // Entries come with the log's current checkpoint of their tree, usually a later one than
    // the tree's verified this round.
    let (old, new, what) = if cp.size >= tree.checkpoint.size {
        (
            &tree.checkpoint,
            &cp,
            "the tree's checkpoint verified this round",
        )
    } else {
        (&cp, &tree.checkpoint, "the entry's checkpoint")
    };
    checkpoints::check_extends(client, old, new, what)
        .await
        .map_err(|f| match f {
            Failure::Verification(m) => in_entry(m),
            f => f,
        })?;
    consistent.insert(cp.size, cp);
    Ok(())
}
