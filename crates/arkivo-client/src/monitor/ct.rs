//! Following the CA's CT log (static-ct-api: `<baseUrl>/checkpoint` and the data tiles
//! `<baseUrl>/tile/data/<N>[.p/<W>]`) for certificates issued for a watched identity, whether
//! or not any log entry was ever made with them: a stolen token certifies a key without
//! leaving a trace in the transparency log, but every certificate the CA issues is in its CT
//! log first (RFC 6962 §3.1).
//!
//! Each round:
//!
//! 1. fetches the CT log's checkpoint and verifies its RFC 6962 note signature (static-ct-api
//!    "Checkpoints") with a CT log key of the trusted root (`ctlogs`);
//! 2. reads every leaf added since the checkpoint verified last from the data tiles, appends
//!    its Merkle leaf hash (RFC 6962 §3.4) to the right border of that tree (kept in the state
//!    file) and checks that the border's root is the new checkpoint's: the new tree extends the
//!    old one (consistency) and the leaves read are exactly the log's;
//! 3. reports each precertificate whose subject alternative name is a watched identity (with
//!    `--watch-issuer`, whose OIDC issuer extension names that issuer). On the first round the
//!    tree is read from its start but nothing is reported: as for the log, watching starts
//!    after the first checkpoint (trust on first use).
//!
//! The state (the checkpoint verified last and the right border of its tree) is saved after
//! the round's report is printed, in its own file (`--ct-state`).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Watch;
use crate::commands::{self, Failure, Report};
use crate::identity;
use crate::rekor::RekorClient;
use crate::trust::TrustedLog;
use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::ct::{Rfc6962NoteVerifier, TileLeaf};
use arkivo_core::entries::pki::subject_alt_names;
use arkivo_core::merkle::{Hash, RightBorder};
use arkivo_core::tiles::{TILE_WIDTH, Tile, TilePath};
use der::Decode as _;
use x509_cert::TbsCertificate;

/// The CT log state file: the checkpoint verified last and its tree's right border.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CtState {
    /// The checkpoint as the CT log served it, verified again when read back.
    signed_tree_head: String,
    tree_size: u64,
    root_hash: String,
    /// The stored hashes of the tree's right border (hex), from which the next leaves extend it.
    right_border: Vec<String>,
}

/// A certificate the CT log holds for a watched identity.
struct CtMatch {
    index: u64,
    /// Milliseconds since the Unix epoch: the SCT's timestamp.
    timestamp: u64,
    subjects: Vec<String>,
    issuer: Option<String>,
    matched: Vec<String>,
}

/// The checkpoint `text` verified with one of the `ctlogs` keys, under its own origin (the
/// RFC 6962 note key ID binds the name to the key).
fn verify_checkpoint(text: &str, ctlogs: &[TrustedLog]) -> Result<Checkpoint, String> {
    let origin = text.split('\n').next().unwrap_or_default();
    let mut reasons = Vec::new();
    for log in ctlogs {
        let verifier = Rfc6962NoteVerifier::new(origin, log.key);
        match checkpoint::verify_c2sp(text, &verifier, &[]) {
            Ok(cp) => return Ok(cp),
            Err(e) => reasons.push(format!("{}: {e}", log.log_id_hex())),
        }
    }
    Err(reasons.join("; "))
}

fn load(path: &Path, ctlogs: &[TrustedLog]) -> Result<Option<(Checkpoint, RightBorder)>, Failure> {
    if !path.exists() {
        return Ok(None);
    }
    let bad = |m: String| {
        Failure::Input(format!(
            "the CT state file {} {m}; move it away to start again from the CT log's current \
             checkpoint",
            path.display()
        ))
    };
    let bytes = commands::read_file(path, "the CT state file")?;
    let state: CtState = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("is not an arkivo monitor CT state ({e})")))?;
    let cp = verify_checkpoint(&state.signed_tree_head, ctlogs)
        .map_err(|e| bad(format!("holds a checkpoint that does not verify: {e}")))?;
    let hashes = (state.right_border.iter())
        .map(|h| Hash::from_hex(h).ok_or_else(|| bad("holds a hash that is not 64 hex".into())))
        .collect::<Result<Vec<_>, _>>()?;
    let border = RightBorder::from_stored(cp.size, &hashes).map_err(|e| {
        bad(format!(
            "holds a right border that does not fit its tree: {e}"
        ))
    })?;
    if border.root() != cp.root {
        return Err(bad(
            "holds a right border whose root is not its checkpoint's".into(),
        ));
    }
    Ok(Some((cp, border)))
}

/// Whether `watch` names a certificate with these subject alternative names and OIDC issuer:
/// one of the names is the watched identity, and the issuer the watched issuer, if any.
fn matches(watch: &Watch, subjects: &[String], issuer: Option<&str>) -> bool {
    subjects
        .iter()
        .any(|s| watch.keys.contains(&s.to_lowercase()))
        && watch.issuer.as_deref().is_none_or(|i| Some(i) == issuer)
}

/// One round (module doc): its report, and the state to save once the report is printed.
pub(super) async fn round(
    client: &RekorClient,
    base_url: &str,
    ctlogs: &[TrustedLog],
    state_path: &Path,
    watches: &[Watch],
) -> Result<(Report, CtState), Failure> {
    let alarm = |m: String| {
        Failure::Verification(format!(
            "ALERT: the CT log at {base_url} misbehaved: {m}. {} keeps the last checkpoint verified",
            state_path.display()
        ))
    };
    let bytes = client.get(&format!("{base_url}/checkpoint")).await?;
    let signed_tree_head =
        String::from_utf8(bytes).map_err(|_| alarm("its checkpoint is not text".into()))?;
    let cp = verify_checkpoint(&signed_tree_head, ctlogs).map_err(|e| {
        alarm(format!(
            "its checkpoint does not verify with a CT log key of the trusted root: {e}"
        ))
    })?;
    let previous = load(state_path, ctlogs)?;
    let (from, mut border) = match previous {
        Some((old, border)) => {
            if cp.origin != old.origin || cp.size < old.size {
                return Err(alarm(format!(
                    "its checkpoint ({}, size {}) does not extend the one verified last ({}, \
                     size {})",
                    cp.origin, cp.size, old.origin, old.size
                )));
            }
            (Some(old.size), border)
        }
        None => (None, RightBorder::empty()),
    };
    let mut found = Vec::new();
    let mut index = border.size();
    while index < cp.size {
        let tile_index = index / u64::from(TILE_WIDTH);
        let first = tile_index * u64::from(TILE_WIDTH);
        let width =
            u16::try_from((cp.size - first).min(u64::from(TILE_WIDTH))).expect("at most 256");
        let tile = Tile::new(0, tile_index, width).map_err(|e| alarm(e.to_string()))?;
        let path = TilePath::Data(tile).to_string();
        let data = client.get(&format!("{base_url}/{path}")).await?;
        let leaves = TileLeaf::parse_data_tile(&data).map_err(|e| alarm(format!("{path}: {e}")))?;
        if leaves.len() != usize::from(width) {
            return Err(alarm(format!(
                "{path} holds {} leaves, not {width}",
                leaves.len()
            )));
        }
        for leaf in &leaves[usize::try_from(index - first).expect("under 256")..] {
            let _completed = border.append(leaf.leaf_hash());
            // The first round only learns the tree (module doc, step 3).
            // What the leaf hash covers is read: the precertificate's TBSCertificate (RFC 6962
            // §3.2), not the precertificate logged beside it.
            if from.is_some() {
                let tbs = TbsCertificate::from_der(&leaf.tbs_certificate)
                    .map_err(|e| alarm(format!("leaf {index}: the TBSCertificate: {e}")))?;
                let subjects =
                    subject_alt_names(&tbs).map_err(|e| alarm(format!("leaf {index}: {e}")))?;
                let issuer = identity::oidc_issuer(&tbs);
                let matched: Vec<String> = watches
                    .iter()
                    .filter(|w| matches(w, &subjects, issuer.as_deref()))
                    .map(|w| w.label.clone())
                    .collect();
                if !matched.is_empty() {
                    found.push(CtMatch {
                        index,
                        timestamp: leaf.timestamp,
                        subjects,
                        issuer,
                        matched,
                    });
                }
            }
            index += 1;
        }
    }
    if border.root() != cp.root {
        return Err(alarm(format!(
            "its leaves up to {} do not make its checkpoint's root{}",
            cp.size,
            match from {
                Some(old) => format!(" extending the tree verified last (size {old})"),
                None => String::new(),
            }
        )));
    }
    let mut text = format!(
        "CT log {base_url}: checkpoint of size {} (root {}) verified\n",
        cp.size,
        cp.root.to_hex()
    );
    text.push_str(&match from {
        None => format!(
            "  first checkpoint: no earlier one in {}; its certificates are watched from now on\n",
            state_path.display()
        ),
        Some(old) => format!(
            "  consistent with the checkpoint verified last (size {old}); certificates {old}..{} \
             checked against the watches: {} match(es)\n",
            cp.size,
            found.len()
        ),
    });
    for m in &found {
        text.push_str(&format!(
            "MATCH CT log index {}: a certificate for {} (issuer {}) issued at {} ms: {}\n",
            m.index,
            m.subjects.join(", "),
            m.issuer.as_deref().unwrap_or("unknown"),
            m.timestamp,
            m.matched.join(", ")
        ));
    }
    let json = json!({
        "ctLog": base_url,
        "treeSize": cp.size,
        "rootHash": cp.root.to_hex(),
        "checkedFrom": from,
        "matches": found.iter().map(|m| json!({"index": m.index, "timestamp": m.timestamp,
            "subjects": m.subjects, "issuer": m.issuer, "matched": m.matched}))
            .collect::<Vec<_>>(),
    });
    let state = CtState {
        signed_tree_head,
        tree_size: cp.size,
        root_hash: cp.root.to_hex(),
        right_border: border.hashes().iter().map(Hash::to_hex).collect(),
    };
    Ok((Report { text, json }, state))
}
