//! The Rekor v2 write API (tiles-checkpoints-witnesses.md §6): `POST /api/v2/log/entries`.
//!
//! The entry goes into the same tree as Rekor v1 entries, through the same sequencer; the
//! answer is a `dev.sigstore.rekor.v1.TransparencyLogEntry` in proto3 JSON with unpopulated
//! fields emitted, as rekor-tiles' HTTP gateway writes it (§6.1, §6.5).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;

use super::{ApiError, AppState, Written, json_line};
use crate::sequencer::Sequenced;
use crate::storage::StoreHashes;
use arkivo_core::entries::{CanonicalEntry, v2};
use arkivo_core::merkle::{self, Hash};
use arkivo_core::proto;
use arkivo_core::proto::common_v1::LogId;
use arkivo_core::proto::rekor_v1::{Checkpoint, InclusionProof, KindVersion, TransparencyLogEntry};

/// `POST /api/v2/log/entries` (§6.1–6.5): 201 with the entry, its inclusion proof and the C2SP
/// checkpoint that proof leads to; 409 with `x-log-index` for an entry already in the log.
pub async fn create_entry(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let rendered = st
        .write(body, v2::canonicalize_request, |_, entry, s| {
            transparency_log_entry(&entry, &s)
        })
        .await?;
    match rendered {
        Written::Appended(json) => Ok(json_line(StatusCode::CREATED, json)),
        Written::Duplicate { index, .. } => Err(ApiError {
            log_index: Some(index),
            ..ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "an equivalent entry already exists in the transparency log at index {index}"
                ),
            )
        }),
    }
}

/// The answer of §6.5 for an entry just sequenced: in a Rekor v2 log each shard is a log of its
/// own, so the index is the one in the active shard, never a virtual one. Its head is the one its batch published, so
/// the checkpoint covers the entry (size > index) and the proof is for exactly that size; the
/// proof is verified against the checkpoint's root before it is given out, as rekor-tiles does
/// (§6.4). Blocking: reads O(log n) hashes.
fn transparency_log_entry(entry: &CanonicalEntry, s: &Sequenced) -> Result<Vec<u8>, ApiError> {
    let shard = &s.view.active;
    let head = &shard.head;
    let proof = merkle::inclusion_proof(head.size, s.index, &StoreHashes(shard.store()))
        .and_then(|proof| {
            merkle::verify_inclusion(s.index, head.size, &entry.leaf_hash, &proof, &head.root)
                .map(|()| proof)
        })
        .map_err(|e| ApiError::internal(&e))?;
    let int64 = |n: u64| i64::try_from(n).map_err(|e| ApiError::internal(&e));
    let log_index = int64(s.index)?;
    let tle = TransparencyLogEntry {
        log_index,
        // The full C2SP key hash of the checkpoint key, not the RFC 6962 log ID (§6.5).
        log_id: Some(LogId {
            key_id: shard
                .identity()
                .keys
                .checkpoint_key_id(&shard.identity().meta.origin)
                .to_vec(),
        }),
        kind_version: Some(KindVersion {
            kind: entry.kind.as_str().into(),
            version: v2::API_VERSION.into(),
        }),
        // Rekor v2 asserts no time and signs no entry timestamp (§6.4).
        integrated_time: 0,
        inclusion_promise: None,
        inclusion_proof: Some(InclusionProof {
            log_index,
            root_hash: head.root.as_bytes().to_vec(),
            tree_size: int64(head.size)?,
            hashes: proof.iter().map(|h: &Hash| h.as_bytes().to_vec()).collect(),
            checkpoint: Some(Checkpoint {
                envelope: head.checkpoint_c2sp.clone(),
            }),
        }),
        canonicalized_body: entry.body.clone(),
    };
    Ok(proto::transparency_log_entry_json(&tle))
}
