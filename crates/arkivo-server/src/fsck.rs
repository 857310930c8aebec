//! `arkivo verify-log`: re-derives everything that can be derived from the stored entries and
//! compares it with what is stored — leaf hashes and the leaf index, every stored Merkle hash and
//! the root, the search rows, the order of integrated times, and the signed checkpoints of the
//! tree head. The CA's CT log is checked the same way, its leaves as static-ct-api `TileLeaf`s
//! (each naming its own index) and its one checkpoint by both of its signatures. The first
//! inconsistency is reported by name; nothing is written.

use crate::log::{LogIdentity, LogKind};
use crate::storage::{LogStore, StoredEntry};
use arkivo_core::checkpoint;
use arkivo_core::ct::{Rfc6962NoteVerifier, TileLeaf, parse_leaf_index};
use arkivo_core::entries;
use arkivo_core::entries::pki::SPKI_INDEX_KEY_PREFIX;
use arkivo_core::merkle::{self, RightBorder};

/// Entries checked per round of reads.
const CHUNK: u64 = 4096;

/// What a clean check covered.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    pub stored_hashes: u64,
    pub root: merkle::Hash,
}

/// Checks the whole log. `progress` is called with the number of entries checked so far.
pub fn verify_log(
    store: &dyn LogStore,
    identity: &LogIdentity,
    progress: impl FnMut(u64),
) -> Result<Report, String> {
    let head = store
        .head()
        .map_err(|e| format!("reading the tree head: {e}"))?;
    let size = head.size;
    let (border, stored_hashes) = verify_tree(
        store,
        size,
        |i, e| {
            if identity.kind == LogKind::Rekor {
                check_search_rows(store, i, &e.body)?;
            }
            leaf_hash(identity.kind, i, &e.body)
        },
        progress,
    )?;
    if border.root() != head.root {
        return Err(format!(
            "the tree head says root {:?} for size {size}; the entries give {:?}",
            head.root,
            border.root()
        ));
    }
    if store
        .entry(size)
        .map_err(|e| format!("reading entry {size}: {e}"))?
        .is_some()
    {
        return Err(format!(
            "an entry is stored at index {size}, beyond the tree size"
        ));
    }
    if identity.kind == LogKind::StaticCt {
        verify_ct_checkpoint(identity, &head.checkpoint_c2sp, size, head.root)?;
        if !head.checkpoint_v1.is_empty() {
            return Err("the CT log has a Rekor v1 checkpoint".to_owned());
        }
        return Ok(Report {
            entries: size,
            stored_hashes,
            root: head.root,
        });
    }
    let v1 = checkpoint::verify_v1(
        &head.checkpoint_v1,
        identity.keys.ecdsa_verifying_key(),
        &identity.meta.hostname,
    )
    .map_err(|e| format!("the stored v1 checkpoint does not verify: {e}"))?;
    let c2sp = checkpoint::verify_c2sp(
        &head.checkpoint_c2sp,
        &identity.keys.ed25519_verifier(&identity.meta.origin),
        &[],
    )
    .map_err(|e| format!("the stored C2SP checkpoint does not verify: {e}"))?;
    for (name, cp) in [("v1", &v1), ("C2SP", &c2sp)] {
        if (cp.size, cp.root) != (size, head.root) {
            return Err(format!(
                "the stored {name} checkpoint is for size {} root {:?}, not the tree head",
                cp.size, cp.root
            ));
        }
    }
    if v1.origin != identity.v1_origin() {
        return Err(format!(
            "the stored v1 checkpoint has origin {:?}",
            v1.origin
        ));
    }
    Ok(Report {
        entries: size,
        stored_hashes,
        root: head.root,
    })
}

/// Each search key of the Rekor entry `body`, at index `i`, has its row (also of a mirror's
/// copy: `arkivo verify-log --vkey`).
pub(crate) fn check_search_rows(store: &dyn LogStore, i: u64, body: &[u8]) -> Result<(), String> {
    let keys = entries::index_keys_of_body(body)
        .map_err(|err| format!("entry {i} has a body that is not a valid entry: {err}"))?;
    for key in keys {
        let found = store
            .search_row_exists(&key, i)
            .map_err(|e| format!("reading the search index: {e}"))?;
        // Logs written before keys themselves were indexed have no such rows; searches by key
        // still find those entries under upstream's PEM-hash key.
        if !found && !key.starts_with(SPKI_INDEX_KEY_PREFIX) {
            return Err(format!(
                "entry {i} is missing from the search index under {key:?}"
            ));
        }
    }
    Ok(())
}

/// The Merkle leaf hash of the entry `i`, whose stored body is `body`, of a log of `kind`: a
/// Rekor entry's body is its leaf (RFC 6962 §2.1), a CT log's holds its leaf's `TileLeaf`.
///
/// # Errors
///
/// A CT log's body that is not its entry's `TileLeaf` (named).
pub fn leaf_hash(kind: LogKind, i: u64, body: &[u8]) -> Result<merkle::Hash, String> {
    match kind {
        LogKind::Rekor => Ok(merkle::record_hash(body)),
        LogKind::StaticCt => ct_leaf_hash(i, body),
    }
}

/// The Merkle leaf hash of the CT log's entry `i`: one `TileLeaf` whose `leaf_index` extension
/// is `i` (c2sp.org/static-ct-api, "Log entries").
fn ct_leaf_hash(i: u64, body: &[u8]) -> Result<merkle::Hash, String> {
    let bad = |why: String| format!("CT entry {i} is not a TileLeaf of this log: {why}");
    let [leaf] = TileLeaf::parse_data_tile(body)
        .map_err(|e| bad(e.to_string()))?
        .try_into()
        .map_err(|leaves: Vec<TileLeaf>| bad(format!("{} leaves", leaves.len())))?;
    let index = parse_leaf_index(&leaf.extensions).map_err(|e| bad(e.to_string()))?;
    if index != i {
        return Err(bad(format!("its leaf_index is {index}")));
    }
    Ok(leaf.leaf_hash())
}

/// The CT log's stored checkpoint carries both of its signatures (static-ct-api's RFC 6962
/// note signature and the Ed25519 one witnesses check) and is for the tree head.
fn verify_ct_checkpoint(
    identity: &LogIdentity,
    text: &str,
    size: u64,
    root: merkle::Hash,
) -> Result<(), String> {
    let origin = &identity.meta.origin;
    let rfc6962 = Rfc6962NoteVerifier::new(origin, *identity.keys.ecdsa_verifying_key());
    let ed25519 = identity.keys.ed25519_verifier(origin);
    for (name, verifier) in [
        ("RFC 6962", &rfc6962 as &dyn arkivo_core::note::NoteVerifier),
        ("Ed25519", &ed25519),
    ] {
        let cp = checkpoint::verify_c2sp(text, verifier, &[])
            .map_err(|e| format!("the stored CT checkpoint's {name} signature: {e}"))?;
        if (cp.size, cp.root) != (size, root) {
            return Err(format!(
                "the stored CT checkpoint is for size {} root {:?}, not the tree head",
                cp.size, cp.root
            ));
        }
    }
    Ok(())
}

/// Checks the entries `[0, size)` of `store`: `leaf` checks each (`i`, entry) and gives its leaf
/// hash; integrated times never go back; the leaf index maps each leaf hash to its entry; every
/// stored hash (the tiles' contents) is the one the leaves give. Returns the tree of the leaves
/// and how many stored hashes were checked; the caller compares its root with what it trusts.
pub fn verify_tree(
    store: &dyn LogStore,
    size: u64,
    mut leaf: impl FnMut(u64, &StoredEntry) -> Result<merkle::Hash, String>,
    mut progress: impl FnMut(u64),
) -> Result<(RightBorder, u64), String> {
    let mut border = RightBorder::empty();
    let mut last_time = i64::MIN;
    let mut stored_hashes = 0;
    let mut start = 0;
    while start < size {
        let end = (start + CHUNK).min(size);
        let mut leaves = Vec::new();
        let mut expected = Vec::new();
        // One multi-read per chunk (a query on PostgreSQL, not one per entry).
        let chunk = store
            .entries(start..end)
            .map_err(|e| format!("reading entries {start}..{end} (tree size {size}): {e}"))?;
        for (i, e) in (start..).zip(chunk) {
            if e.integrated_time < last_time {
                return Err(format!(
                    "entry {i} was integrated at {}, before entry {} ({last_time})",
                    e.integrated_time,
                    i - 1
                ));
            }
            last_time = e.integrated_time;
            let hash = leaf(i, &e)?;
            leaves.push(hash);
            expected.extend(border.append(hash));
        }
        let indexes = store
            .indexes_of(&leaves)
            .map_err(|e| format!("reading the leaf index: {e}"))?;
        for (i, (leaf, index)) in (start..).zip(leaves.iter().zip(indexes)) {
            if index != Some(i) {
                return Err(format!(
                    "the leaf index maps entry {i}'s leaf hash {leaf:?} to {index:?}"
                ));
            }
        }
        let at: Vec<u64> = expected.iter().map(|(i, _)| *i).collect();
        let stored = store
            .read_hashes(&at)
            .map_err(|e| format!("reading stored hashes of entries {start}..{end}: {e}"))?;
        for ((index, want), got) in expected.iter().zip(stored) {
            if got != *want {
                let (level, n) = merkle::split_stored_hash_index(*index);
                return Err(format!(
                    "stored hash {index} (level {level}, node {n}) is {got:?}; the entries give {want:?}"
                ));
            }
        }
        stored_hashes += at.len() as u64;
        start = end;
        progress(end);
    }
    Ok((border, stored_hashes))
}
