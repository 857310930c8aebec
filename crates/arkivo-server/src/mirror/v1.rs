//! The mirror's Rekor v1 reads (docs/mirror.md).
//!
//! Rekor v1 reads (with `--log-key`, the log's ECDSA key): an entry's v1 answer needs its
//! integrated time and SET and a v1 checkpoint, none of which is in the tiles. Each round reads
//! the log's v1 checkpoint (`GET /api/v1/log`) before its C2SP one, so it falls within what the
//! round copies; each chunk's entries are read with `POST /api/v1/log/entries/retrieve` beside
//! their bundles and checked by [`arkivo_core::mirror::verify_v1_entry`] (body equal to the
//! bundle's, SET valid under the log's key) before the chunk is committed, with its entries'
//! integrated times and SETs, one batch per run of equal integrated time (as the log wrote
//! them). The v1 checkpoint is stored once its root equals the mirror's own tree at its size.
//! The mirror then answers the v1 reads of the entries below that size, byte for byte as the
//! log did at that size, also when the log is gone; searches too, with the log's search code
//! over the rows the mirror stored with each entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::Mirror;
use crate::api::v1::{
    EntryRef, Retrieve, int_param, log_proof_json, parse_entry_uuid, parse_retrieve, parse_search,
    proof_sizes, required, search_answer, search_response, search_store,
};
use crate::api::{ApiError, body_bytes, entry_error, json_array_line, json_line, no_cache};
use crate::log::entry_id;
use crate::storage::rocks::RocksStore;
use crate::storage::{LogStore, StoreHashes};
use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::entries;
use arkivo_core::limits::{MAX_QUERY_BODY_BYTES, MAX_RETRIEVE_VERIFICATIONS};
use arkivo_core::merkle::{self, Hash};
use arkivo_core::note::{self, NoteVerifier};
use arkivo_core::signer::EcdsaVerifyingKey;
use arkivo_core::wire::{
    InclusionProof, LogEntry, LogEntryBody, LogInfo, Verification, to_json_line,
};

/// The log's Rekor v1 key, which signs its SETs and v1 checkpoints.
pub(super) struct V1Log {
    pub(super) key: EcdsaVerifyingKey,
    /// As given (served at `/api/v1/log/publicKey`, as the log serves it).
    pem: String,
    /// Hex SHA-256 of the key's SubjectPublicKeyInfo: the `logID` of every answer.
    pub(super) log_id_hex: String,
}

impl V1Log {
    pub(super) fn read(path: &std::path::Path) -> anyhow::Result<V1Log> {
        use p256::pkcs8::DecodePublicKey;
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading --log-key {}", path.display()))?;
        let key = EcdsaVerifyingKey::from_public_key_pem(&pem).with_context(|| {
            format!(
                "--log-key {} is not an ECDSA P-256 public key in PEM (the log's \
                 /api/v1/log/publicKey)",
                path.display()
            )
        })?;
        Ok(V1Log {
            log_id_hex: hex::encode(arkivo_core::signer::ecdsa_log_id(&key)),
            key,
            pem,
        })
    }

    /// Verifies a v1 checkpoint of the log (rekor-v1-api.md §8.2): one signature, by this key,
    /// named by the log's hostname, with the origin `<hostname> - <treeID>`.
    pub(super) fn open_checkpoint(&self, note: &str) -> anyhow::Result<V1Head> {
        let parsed = note::parse(note.as_bytes())?;
        let hostname = parsed
            .signatures
            .first()
            .map(|s| s.name.clone())
            .context("the v1 checkpoint has no signature")?;
        let checkpoint = checkpoint::verify_v1(note, &self.key, &hostname)?;
        let tree_id = checkpoint
            .v1_tree_id()
            .and_then(|id| id.parse::<i64>().ok())
            .filter(|&id| id > 0)
            .context("the v1 checkpoint's origin names no tree ID")?;
        Ok(V1Head {
            note: note.to_owned(),
            checkpoint,
            tree_id,
        })
    }
}

/// The log's v1 checkpoint the mirror serves its v1 reads at: verified, and with the root of
/// the mirror's own tree at its size.
#[derive(Clone, Debug)]
pub(super) struct V1Head {
    pub(super) note: String,
    pub(super) checkpoint: Checkpoint,
    pub(super) tree_id: i64,
}

/// The v1 key and checkpoint the v1 reads are served with: 501 for a mirror started without
/// `--log-key` (it has only the tiles), 503 before its first v1 checkpoint is stored.
fn v1_served(m: &Mirror) -> Result<(Arc<V1Log>, V1Head), ApiError> {
    let Some(v1) = &m.v1 else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "this mirror of the log {} serves its tiles (/checkpoint, /tile/...), not the \
                 Rekor API (it was started without the log's --log-key): ask the log at {}",
                m.log.name(),
                m.log_url
            ),
        ));
    };
    let head = m.v1_head.read().unwrap_or_else(|p| p.into_inner()).clone();
    let head = head.ok_or_else(|| ApiError {
        retry_after: Some(1),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "this mirror has not verified a v1 checkpoint of the log yet: ask the log at {}",
                m.log_url
            ),
        )
    })?;
    Ok((v1.clone(), head))
}

/// An entry this mirror does not hold at its v1 checkpoint: 404, as the log answers for an
/// entry it does not have — the mirror is the log as of that checkpoint — naming the log, which
/// may have it by now.
fn v1_not_held(m: &Mirror, head: &V1Head) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "this mirror holds the log's entries below {} (its v1 checkpoint); a newer entry may \
             be in the log at {}",
            head.checkpoint.size, m.log_url
        ),
    )
}

/// The v1 answer for the entry at `index` (below the v1 checkpoint), as the log serves it
/// (rekor-v1-api.md §4): the stored body, integrated time and SET, an inclusion proof from the
/// mirror's hashes against the v1 checkpoint. Blocking: reads the store.
fn v1_entry(
    store: &RocksStore,
    v1: &V1Log,
    head: &V1Head,
    index: u64,
) -> Result<Vec<u8>, ApiError> {
    let size = head.checkpoint.size;
    let stored = store
        .entry(index)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::internal(&format!("entry {index} is missing below {size}")))?;
    let set = stored
        .set
        .ok_or_else(|| ApiError::internal(&format!("entry {index} has no stored SET")))?;
    let leaf = merkle::record_hash(&stored.body);
    let proof = merkle::inclusion_proof(size, index, &StoreHashes(store))
        .map_err(|e| ApiError::internal(&e))?;
    let entry: LogEntry = BTreeMap::from([(
        entry_id(head.tree_id, &leaf),
        LogEntryBody {
            body: B64.encode(&stored.body),
            integrated_time: stored.integrated_time,
            log_id: v1.log_id_hex.clone(),
            log_index: index,
            verification: Verification {
                inclusion_proof: InclusionProof {
                    checkpoint: head.note.clone(),
                    hashes: proof.iter().map(Hash::to_hex).collect(),
                    log_index: index,
                    root_hash: head.checkpoint.root.to_hex(),
                    tree_size: size,
                },
                signed_entry_timestamp: B64.encode(set),
            },
        },
    )]);
    Ok(to_json_line(&entry))
}

/// The index of what `entry` names, if the mirror holds it below its v1 checkpoint. Blocking.
fn v1_lookup(store: &RocksStore, head: &V1Head, entry: &EntryRef) -> Result<Option<u64>, ApiError> {
    let leaf = match entry {
        EntryRef::InTree(tree_id, _) if *tree_id != head.tree_id => return Ok(None),
        EntryRef::InTree(_, leaf) | EntryRef::Leaf(leaf) => leaf,
    };
    let index = store
        .indexes_of(std::slice::from_ref(leaf))
        .map_err(|e| ApiError::internal(&e))?
        .pop()
        .flatten();
    Ok(index.filter(|&i| i < head.checkpoint.size))
}

/// Runs a blocking read of the mirror's store.
async fn blocking<T: Send + 'static>(
    m: &Mirror,
    f: impl FnOnce(&RocksStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = m.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::internal(&e))?
}

/// `GET /api/v1/log` (rekor-v1-api.md §3.5) at the mirror's v1 checkpoint.
pub(super) async fn v1_log_info(State(m): State<Arc<Mirror>>) -> Result<Response, ApiError> {
    let (_, head) = v1_served(&m)?;
    let info = LogInfo {
        inactive_shards: None,
        root_hash: head.checkpoint.root.to_hex(),
        signed_tree_head: head.note.clone(),
        tree_id: head.tree_id.to_string(),
        tree_size: head.checkpoint.size,
    };
    Ok(no_cache(json_line(StatusCode::OK, to_json_line(&info))))
}

/// `GET /api/v1/log/publicKey` (§3.6): the log's key, as given with `--log-key`.
pub(super) async fn v1_public_key(State(m): State<Arc<Mirror>>) -> Result<Response, ApiError> {
    let (v1, _) = v1_served(&m)?;
    let res = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        )],
        v1.pem.clone(),
    )
        .into_response();
    Ok(no_cache(res))
}

/// `GET /api/v1/log/proof?firstSize=&lastSize=` (§3.7), within the mirror's v1 checkpoint.
pub(super) async fn v1_log_proof(
    State(m): State<Arc<Mirror>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (_, head) = v1_served(&m)?;
    let first = int_param(&params, "firstSize", 1)?.unwrap_or(1);
    let last = int_param(&params, "lastSize", 1)?.ok_or_else(|| required("lastSize"))?;
    let (first, last) = proof_sizes(
        first,
        last,
        head.checkpoint.size,
        &format!(
            "; this mirror holds the log up to its v1 checkpoint, the log is at {}",
            m.log_url
        ),
    )?;
    let json = blocking(&m, move |store| {
        log_proof_json(first, last, &StoreHashes(store))
    })
    .await?;
    Ok(no_cache(json_line(StatusCode::OK, json)))
}

/// `GET /api/v1/log/entries?logIndex=` (§3.2).
pub(super) async fn v1_entry_by_index(
    State(m): State<Arc<Mirror>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (v1, head) = v1_served(&m)?;
    let index = int_param(&params, "logIndex", 0)?.ok_or_else(|| required("logIndex"))?;
    let index = index.unsigned_abs();
    if index >= head.checkpoint.size {
        return Err(v1_not_held(&m, &head));
    }
    let json = blocking(&m, move |store| v1_entry(store, &v1, &head, index)).await?;
    Ok(no_cache(json_line(StatusCode::OK, json)))
}

/// `GET /api/v1/log/entries/{entryUUID}` (§3.3).
pub(super) async fn v1_entry_by_uuid(
    State(m): State<Arc<Mirror>>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let (v1, head) = v1_served(&m)?;
    let Some(entry) = parse_entry_uuid(&uuid, "entryUUID in path")? else {
        return Err(v1_not_held(&m, &head));
    };
    let head2 = head.clone();
    let json = blocking(&m, move |store| match v1_lookup(store, &head2, &entry)? {
        Some(index) => v1_entry(store, &v1, &head2, index).map(Some),
        None => Ok(None),
    })
    .await?;
    match json {
        Some(json) => Ok(no_cache(json_line(StatusCode::OK, json))),
        None => Err(v1_not_held(&m, &head)),
    }
}

/// `POST /api/v1/log/entries/retrieve` (§3.4): the entries the mirror holds, in upstream's
/// order, as an array; `[]` when none.
pub(super) async fn v1_retrieve(
    State(m): State<Arc<Mirror>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (v1, head) = v1_served(&m)?;
    let Retrieve {
        mut wanted,
        proposed,
        indexes,
    } = parse_retrieve(&body_bytes(body, MAX_QUERY_BODY_BYTES)?)?;
    let items = blocking(&m, move |store| {
        let mut budget = entries::VerifyBudget::new(MAX_RETRIEVE_VERIFICATIONS);
        for p in &proposed {
            let e = entries::canonicalize_within(p, &mut budget).map_err(|e| entry_error(&e))?;
            wanted.push(EntryRef::Leaf(e.leaf_hash));
        }
        let mut found: Vec<u64> = Vec::new();
        for entry in &wanted {
            found.extend(v1_lookup(store, &head, entry)?);
        }
        found.extend(indexes.into_iter().filter(|&i| i < head.checkpoint.size));
        found
            .into_iter()
            .map(|i| v1_entry(store, &v1, &head, i))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(json_array_line(&items))
}

/// `POST /api/v1/index/retrieve` (§3.8, semantics §10.2): the log's search (its own code, over
/// the search rows the mirror stored with each entry), over the entries below the v1
/// checkpoint, so the answer is the log's at that tree size.
pub(super) async fn v1_search(
    State(m): State<Arc<Mirror>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (_, head) = v1_served(&m)?;
    let clauses = parse_search(body)?;
    let answer = blocking(&m, move |store| {
        let mut ids = Vec::new();
        search_store(store, &clauses, head.checkpoint.size, &mut ids, |leaf| {
            entry_id(head.tree_id, leaf)
        })?;
        Ok(search_answer(ids))
    })
    .await?;
    Ok(search_response(answer))
}
