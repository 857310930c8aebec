//! A log's checkpoints as the commands follow them: the current one fetched and verified against
//! a trusted key, a frozen tree's final one, and the consistency of a later one with an earlier
//! one. Used by `verify-blob --rekor-url`, `log` and `monitor`.

use super::Failure;
use crate::rekor::RekorClient;
use crate::trust::TrustedLog;
use crate::verify;
use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::merkle::Hash;
use arkivo_core::wire::{InactiveShard, LogInfo};

/// Checks that the log's verified checkpoint `new` extends the verified checkpoint `old`
/// (`what` names `old` in messages): another origin is another log (or another of its trees), a
/// smaller tree a rollback, another root at the same size a fork; otherwise the log's
/// consistency proof, asked of the tree the origin names (which need not be the active one
/// after a rotation), must verify. No request when the sizes are equal or `old` is the empty
/// tree, which every tree extends.
pub(crate) async fn check_extends(
    client: &RekorClient,
    old: &Checkpoint,
    new: &Checkpoint,
    what: &str,
) -> Result<(), Failure> {
    if new.origin != old.origin {
        return Err(Failure::Verification(format!(
            "the log's checkpoint is of {:?}, {what} of {:?}: another log or tree",
            new.origin, old.origin
        )));
    }
    if new.size < old.size {
        return Err(Failure::Verification(format!(
            "the log's tree size {} is smaller than the size {} of {what}: the log was rolled back",
            new.size, old.size
        )));
    }
    if new.size == old.size {
        if new.root != old.root {
            return Err(Failure::Verification(format!(
                "the log's checkpoint of tree size {} has root {}, {what} has root {}: a forked \
                 or rewritten log",
                new.size,
                new.root.to_hex(),
                old.root.to_hex()
            )));
        }
        return Ok(());
    }
    if old.size == 0 {
        return Ok(());
    }
    let proof = client
        .consistency_proof(old.size, new.size, old.v1_tree_id())
        .await?;
    verify::verify_consistency(old, new, &proof.hashes).map_err(|e| {
        Failure::Verification(format!(
            "{e}: the log's tree of size {} does not extend {what} of size {} \
             (a forked or rewritten log)",
            new.size, old.size
        ))
    })
}

/// `GET /api/v1/log`, its active tree's checkpoint verified ([`verify_listed`]).
pub(crate) async fn current_checkpoint<'a>(
    client: &RekorClient,
    logs: &'a [TrustedLog],
) -> Result<(LogInfo, &'a TrustedLog, Checkpoint), Failure> {
    tree_checkpoint(client, logs, None).await
}

/// The log's checkpoint of the tree `tree_id` (decimal) — the active tree's current one, or a
/// frozen tree's final one from `inactiveShards` (rekor-v1-api.md §3.5, §9) — verified with
/// one of `logs`; the active tree's when `None`.
///
/// # Errors
///
/// [`Failure::Verification`] when the log lists no such tree or its checkpoint does not verify.
pub(crate) async fn tree_checkpoint<'a>(
    client: &RekorClient,
    logs: &'a [TrustedLog],
    tree_id: Option<&str>,
) -> Result<(LogInfo, &'a TrustedLog, Checkpoint), Failure> {
    let info = client.log_info().await?;
    let tree = match tree_id {
        None => ListedTree::from(&info),
        Some(id) if id == info.tree_id => ListedTree::from(&info),
        Some(id) => info
            .inactive_shards
            .iter()
            .flatten()
            .find(|s| s.tree_id == id)
            .map(ListedTree::from)
            .ok_or_else(|| {
                Failure::Verification(format!(
                    "the log at {} lists no tree {id}, neither active nor frozen",
                    client.url()
                ))
            })?,
    };
    let name = signer_name(tree.signed_tree_head);
    let (log, cp) = verify_listed(&tree, logs, &name, client.url())?;
    Ok((info, log, cp))
}

/// One tree as `GET /api/v1/log` lists it (rekor-v1-api.md §3.5): the active one or an
/// inactive shard, with the members that must agree with its checkpoint.
pub(crate) struct ListedTree<'a> {
    /// Decimal.
    pub(crate) tree_id: &'a str,
    pub(crate) tree_size: u64,
    pub(crate) root_hash: &'a str,
    pub(crate) signed_tree_head: &'a str,
}

impl<'a> From<&'a LogInfo> for ListedTree<'a> {
    fn from(info: &'a LogInfo) -> Self {
        ListedTree {
            tree_id: &info.tree_id,
            tree_size: info.tree_size,
            root_hash: &info.root_hash,
            signed_tree_head: &info.signed_tree_head,
        }
    }
}

impl<'a> From<&'a InactiveShard> for ListedTree<'a> {
    fn from(shard: &'a InactiveShard) -> Self {
        ListedTree {
            tree_id: &shard.tree_id,
            tree_size: shard.tree_size,
            root_hash: &shard.root_hash,
            signed_tree_head: &shard.signed_tree_head,
        }
    }
}

/// The checkpoint of a tree the log at `url` lists, verified with whichever of `logs` signed
/// it (signer name `hostname`, key hint, signature, origin `<hostname> - <treeID>`), and its
/// `treeID`/`treeSize`/`rootHash` checked against it.
///
/// # Errors
///
/// [`Failure::Verification`]; when no trusted key has the checkpoint's key hint, the message
/// says where the log serves the tree's key, to be checked out of band: trusting it on the
/// log's word would let a swapped log vouch for itself.
pub(crate) fn verify_listed<'a>(
    tree: &ListedTree,
    logs: &'a [TrustedLog],
    hostname: &str,
    url: &str,
) -> Result<(&'a TrustedLog, Checkpoint), Failure> {
    let hint = arkivo_core::note::parse(tree.signed_tree_head.as_bytes())
        .ok()
        .and_then(|n| n.signatures.first().map(|s| s.key_id));
    let mut failure = None;
    for log in logs {
        match checkpoint::verify_v1(tree.signed_tree_head, &log.key, hostname) {
            Ok(cp) => {
                let agrees = cp.v1_tree_id() == Some(tree.tree_id)
                    && cp.size == tree.tree_size
                    && Hash::from_hex(tree.root_hash) == Some(cp.root);
                if !agrees {
                    return Err(Failure::Verification(format!(
                        "the log's treeID/treeSize/rootHash of tree {} differ from its signed \
                         checkpoint",
                        tree.tree_id
                    )));
                }
                return Ok((log, cp));
            }
            // Signed with another key: not a failure of this one.
            Err(_) if hint.is_some_and(|h| h != checkpoint::v1_key_hint(&log.key)) => {}
            Err(e) => failure = Some(e),
        }
    }
    Err(Failure::Verification(match failure {
        Some(e) => format!(
            "the checkpoint of tree {} of the log at {url} does not verify: {e}",
            tree.tree_id
        ),
        None => format!(
            "the checkpoint of tree {id} of the log at {url} is not signed by a trusted log key \
             (its key hint is {}); if the log's operator rotated it to a new key, get the key \
             from {url}/api/v1/log/publicKey?treeID={id}, check it out of band and trust it \
             too (another --log-key, or in the --trusted-root)",
            hint.map(|h| format!("{h:08x}")).unwrap_or_default(),
            id = tree.tree_id
        ),
    }))
}

/// The signer name of a v1 checkpoint (checked by [`checkpoint::verify_v1`] afterwards).
pub(crate) fn signer_name(text: &str) -> String {
    arkivo_core::note::parse(text.as_bytes())
        .ok()
        .and_then(|n| n.signatures.first().map(|s| s.name.clone()))
        .unwrap_or_default()
}
