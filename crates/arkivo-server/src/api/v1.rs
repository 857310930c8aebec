//! Rekor v1 handlers (rekor-v1-api.md §3). Each cites the section whose behaviour it copies.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{
    ApiError, AppState, Written, body_bytes, entry_error, json_array_line, json_line, no_cache,
};
use crate::sequencer::{ShardView, View};
use crate::storage::{LogStore, StoreHashes, StoredEntry, query};
use arkivo_core::entries;
use arkivo_core::limits::{
    MAX_QUERY_BODY_BYTES, MAX_RETRIEVE_ITEMS, MAX_RETRIEVE_VERIFICATIONS, MAX_SEARCH_RESULTS,
};
use arkivo_core::merkle::{self, Hash};
use arkivo_core::wire::{
    Certificate, CertificateAuthority, CertificateChain, ConsistencyProof, InactiveShard,
    InclusionProof, LogEntry, LogEntryBody, LogInfo, SearchIndex, SearchLogQuery,
    TRUSTED_ROOT_MEDIA_TYPE, TransparencyLogInstance, TrustedLogId, TrustedPublicKey, TrustedRoot,
    ValidFor, Verification, to_json_line,
};

type Params = Query<Vec<(String, String)>>;

/// Builds the `{"<entry ID>": {...}}` answer for the entry at `index` of `shard`, with an
/// inclusion proof against the shard's head and a SET (§4): the top-level `logIndex` (and the
/// SET's) is the virtual index, the proof's the index in the shard (§2, §9). The SET is the one
/// stored with the entry; only an entry written before SETs were stored gets one signed here.
/// Blocking: reads hashes.
fn log_entry(
    st: &AppState,
    shard: &ShardView,
    index: u64,
    entry: &StoredEntry,
) -> Result<(String, Vec<u8>), ApiError> {
    let (identity, head) = (shard.identity(), &shard.head);
    let (body, integrated_time) = (&entry.body, entry.integrated_time);
    let leaf = merkle::record_hash(body);
    let id = identity.entry_id(&leaf);
    let proof = merkle::inclusion_proof(head.size, index, &StoreHashes(shard.store()))
        .map_err(|e| ApiError::internal(&e))?;
    let body_b64 = B64.encode(body);
    let log_id = identity.keys.log_id_hex();
    let virtual_index = shard.offset + index;
    let set = match &entry.set {
        Some(set) => B64.encode(set),
        None => B64.encode(st.signed_entry_timestamp(
            identity,
            virtual_index,
            &body_b64,
            integrated_time,
            &log_id,
        )),
    };
    let entry: LogEntry = BTreeMap::from([(
        id.clone(),
        LogEntryBody {
            body: body_b64,
            integrated_time,
            log_id,
            log_index: virtual_index,
            verification: Verification {
                inclusion_proof: InclusionProof {
                    checkpoint: head.checkpoint_v1.clone(),
                    hashes: proof.iter().map(Hash::to_hex).collect(),
                    log_index: index,
                    root_hash: head.root.to_hex(),
                    tree_size: head.size,
                },
                signed_entry_timestamp: set,
            },
        },
    )]);
    Ok((id, to_json_line(&entry)))
}

/// Reads the entry at `index` of `shard` and renders it; `None` if beyond its head.
fn stored_log_entry(
    st: &AppState,
    shard: &ShardView,
    index: u64,
) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    if index >= shard.head.size {
        return Ok(None);
    }
    let entry = shard
        .store()
        .entry(index)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::internal(&format!(
                "entry {index} of tree {} is missing below its size",
                shard.tree_id()
            ))
        })?;
    log_entry(st, shard, index, &entry).map(Some)
}

/// The entry at virtual index `virtual_index`, whichever shard holds it (§9).
fn entry_at(
    st: &AppState,
    view: &View,
    virtual_index: u64,
) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    match view.locate(virtual_index) {
        Some((shard, index)) => stored_log_entry(st, shard, index),
        None => Ok(None),
    }
}

fn location(id: &str) -> String {
    format!("/api/v1/log/entries/{id}")
}

/// `POST /api/v1/log/entries` (§3.1).
pub async fn create_entry(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let rendered = st
        .write(body, entries::canonicalize_bytes, |st, entry, s| {
            let stored = StoredEntry {
                body: entry.body,
                integrated_time: s.integrated_time,
                set: s.set,
            };
            log_entry(st, &s.view.active, s.index, &stored)
        })
        .await?;
    match rendered {
        Written::Appended((id, json)) => {
            let mut res = json_line(StatusCode::CREATED, json);
            let h = res.headers_mut();
            // ETag is the bare entry ID, no quotes: sigstore-go looks the entry up by it.
            h.insert(header::ETAG, header_value(&id)?);
            h.insert(header::LOCATION, header_value(&location(&id))?);
            Ok(res)
        }
        Written::Duplicate { leaf, tree_id, .. } => {
            let id = crate::log::entry_id(tree_id, &leaf);
            Err(ApiError {
                location: Some(location(&id)),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "an equivalent entry already exists in the transparency log with UUID {id}"
                    ),
                )
            })
        }
    }
}

fn header_value(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s).map_err(|e| ApiError::internal(&e))
}

/// One integer query parameter with go-openapi's validation errors (§1.4 (b)).
pub(crate) fn int_param(
    params: &[(String, String)],
    name: &str,
    min: i64,
) -> Result<Option<i64>, ApiError> {
    let Some((_, raw)) = params.iter().find(|(k, _)| k == name) else {
        return Ok(None);
    };
    let v: i64 = raw.parse().map_err(|_| {
        ApiError::validation(
            601,
            format!("{name} in query must be of type int64: {raw:?}"),
        )
    })?;
    if v < min {
        return Err(ApiError::validation(
            609,
            format!("{name} in query should be greater than or equal to {min}"),
        ));
    }
    Ok(Some(v))
}

pub(crate) fn required(name: &str) -> ApiError {
    ApiError::validation(602, format!("{name} in query is required"))
}

/// `GET /api/v1/log/entries?logIndex=<n>` (§3.2).
pub async fn get_entry_by_index(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let index = int_param(&params, "logIndex", 0)?.ok_or_else(|| required("logIndex"))?;
    let index = u64::try_from(index).map_err(|e| ApiError::internal(&e))?;
    let view = st.view();
    match st.clone().cpu(move || entry_at(&st, &view, index)).await? {
        Some((_, json)) => Ok(no_cache(json_line(StatusCode::OK, json))),
        None => Err(ApiError::not_found()),
    }
}

const UUID_PATTERN: &str = "^([0-9a-fA-F]{64}|[0-9a-fA-F]{80})$";

/// What an entry UUID names (§2, §3.3).
pub(crate) enum EntryRef {
    /// A 64-hex UUID: the leaf, in whichever shards hold it.
    Leaf(Hash),
    /// An 80-hex entry ID: the leaf in the shard of this tree ID.
    InTree(i64, Hash),
}

/// Parses a 64-hex UUID or an 80-hex entry ID. `Ok(None)` for a well-formed ID whose tree part
/// is 0 or not an int64, which names no shard.
pub(crate) fn parse_entry_uuid(uuid: &str, what: &str) -> Result<Option<EntryRef>, ApiError> {
    let pattern_error =
        || ApiError::validation(605, format!("{what} should match '{UUID_PATTERN}'"));
    if !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(pattern_error());
    }
    match uuid.len() {
        64 => Hash::from_hex(uuid)
            .map(|leaf| Some(EntryRef::Leaf(leaf)))
            .ok_or_else(pattern_error),
        80 => {
            let leaf = Hash::from_hex(&uuid[16..]).ok_or_else(pattern_error)?;
            Ok(i64::from_str_radix(&uuid[..16], 16)
                .ok()
                .filter(|&t| t > 0)
                .map(|tree_id| EntryRef::InTree(tree_id, leaf)))
        }
        _ => Err(pattern_error()),
    }
}

/// The entry of `leaf` in `shard`, if it holds it.
fn lookup_leaf(
    st: &AppState,
    shard: &ShardView,
    leaf: &Hash,
) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let index = shard
        .store()
        .indexes_of(std::slice::from_ref(leaf))
        .map_err(|e| ApiError::internal(&e))?
        .pop()
        .flatten();
    match index {
        Some(i) => stored_log_entry(st, shard, i),
        None => Ok(None),
    }
}

/// The entries an entry UUID names: for an entry ID, the one in its shard; for a bare UUID, one
/// per shard that holds the leaf, active shard first (§3.3, §3.4).
fn lookup(
    st: &AppState,
    view: &View,
    entry: &EntryRef,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let mut found = Vec::new();
    match entry {
        EntryRef::InTree(tree_id, leaf) => {
            if let Some(shard) = view.shard(*tree_id) {
                found.extend(lookup_leaf(st, shard, leaf)?);
            }
        }
        EntryRef::Leaf(leaf) => {
            for shard in view.search_order() {
                found.extend(lookup_leaf(st, shard, leaf)?);
            }
        }
    }
    Ok(found)
}

/// `GET /api/v1/log/entries/{entryUUID}` (§3.3): the first shard holding it wins.
pub async fn get_entry_by_uuid(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let Some(entry) = parse_entry_uuid(&uuid, "entryUUID in path")? else {
        return Err(ApiError::not_found());
    };
    let view = st.view();
    let found = st.clone().cpu(move || lookup(&st, &view, &entry)).await?;
    match found.into_iter().next() {
        Some((_, json)) => Ok(no_cache(json_line(StatusCode::OK, json))),
        None => Err(ApiError::not_found()),
    }
}

/// A `POST /api/v1/log/entries/retrieve` body (§3.4), checked as upstream checks it.
pub(crate) struct Retrieve {
    /// The entry IDs asked for, in upstream's answer order: full entry IDs, then bare UUIDs.
    pub wanted: Vec<EntryRef>,
    /// The proposed entries, still to be validated (signatures included).
    pub proposed: Vec<serde_json::Value>,
    /// The log indexes asked for.
    pub indexes: Vec<u64>,
}

/// Parses and checks a retrieve body: at most [`MAX_RETRIEVE_ITEMS`] items per field and in
/// all, well-formed entry IDs, indexes ≥ 0 — with upstream's codes and messages.
pub(crate) fn parse_retrieve(body: &[u8]) -> Result<Retrieve, ApiError> {
    let query: SearchLogQuery = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("parsing entry body from \"\" failed, because {e}"))
    })?;
    let uuids = query.entry_uuids.unwrap_or_default();
    let indexes = query.log_indexes.unwrap_or_default();
    let proposed = query.entries.unwrap_or_default();
    for (name, n) in [
        ("entryUUIDs", uuids.len()),
        ("logIndexes", indexes.len()),
        ("entries", proposed.len()),
    ] {
        if n > MAX_RETRIEVE_ITEMS {
            return Err(ApiError::validation(
                611,
                format!("{name} in body should have at most {MAX_RETRIEVE_ITEMS} items"),
            ));
        }
    }
    if uuids.len() + indexes.len() + proposed.len() > MAX_RETRIEVE_ITEMS {
        return Err(ApiError::validation(
            422,
            format!("more than max allowed {MAX_RETRIEVE_ITEMS} entries in request"),
        ));
    }
    let mut wanted = Vec::new();
    // Upstream order: full entry IDs first, then bare UUIDs and proposed entries, then indexes.
    let (full, bare): (Vec<_>, Vec<_>) = uuids.iter().enumerate().partition(|(_, u)| u.len() == 80);
    for (i, uuid) in full.into_iter().chain(bare) {
        if let Some(entry) = parse_entry_uuid(uuid, &format!("entryUUIDs.{i} in body"))? {
            wanted.push(entry);
        }
    }
    for (i, index) in indexes.iter().enumerate() {
        if *index < 0 {
            return Err(ApiError::validation(
                609,
                format!("logIndexes.{i} in body should be greater than or equal to 0"),
            ));
        }
    }
    Ok(Retrieve {
        wanted,
        proposed,
        indexes: indexes.iter().map(|i| i.unsigned_abs()).collect(),
    })
}

/// `POST /api/v1/log/entries/retrieve` (§3.4): found entries as an array of one-key maps,
/// nothing found → `[]`, never 404.
pub async fn retrieve_entries(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Retrieve {
        mut wanted,
        proposed,
        indexes,
    } = parse_retrieve(&body_bytes(body, MAX_QUERY_BODY_BYTES)?)?;
    let st2 = st.clone();
    let view = st.view();
    let items = st
        .cpu(move || {
            // Proposed entries are fully validated again, signatures included (§3.4), within
            // one budget for the whole request.
            let mut budget = entries::VerifyBudget::new(MAX_RETRIEVE_VERIFICATIONS);
            for p in &proposed {
                let e =
                    entries::canonicalize_within(p, &mut budget).map_err(|e| entry_error(&e))?;
                wanted.push(EntryRef::Leaf(e.leaf_hash));
            }
            let mut items = Vec::new();
            for entry in &wanted {
                items.extend(
                    lookup(&st2, &view, entry)?
                        .into_iter()
                        .map(|(_, json)| json),
                );
            }
            for &index in &indexes {
                if let Some((_, json)) = entry_at(&st2, &view, index)? {
                    items.push(json);
                }
            }
            Ok(items)
        })
        .await?;
    Ok(json_array_line(&items))
}

/// `GET /api/v1/log` (§3.5): the active shard, and the frozen ones with their final
/// checkpoints (`null` when there are none).
pub async fn log_info(State(st): State<AppState>) -> Response {
    let view = st.view();
    let head = view.head();
    let inactive_shards = (!view.frozen.is_empty()).then(|| {
        view.frozen
            .iter()
            .map(|s| InactiveShard {
                root_hash: s.head.root.to_hex(),
                signed_tree_head: s.head.checkpoint_v1.clone(),
                tree_id: s.tree_id().to_string(),
                tree_size: s.head.size,
            })
            .collect()
    });
    let info = LogInfo {
        inactive_shards,
        root_hash: head.root.to_hex(),
        signed_tree_head: head.checkpoint_v1.clone(),
        tree_id: view.active.tree_id().to_string(),
        tree_size: head.size,
    };
    no_cache(json_line(StatusCode::OK, to_json_line(&info)))
}

/// The shard an optional `treeID` query parameter names (§3.6, §3.7): the active one when the
/// parameter is absent; `unknown` when no shard has that tree ID.
fn shard_param(
    view: &View,
    params: &[(String, String)],
    unknown: impl FnOnce(&str) -> ApiError,
) -> Result<ShardView, ApiError> {
    let Some((_, raw)) = params.iter().find(|(k, _)| k == "treeID") else {
        return Ok(view.active.clone());
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation(
            605,
            "treeID in query should match '^[0-9]+$'",
        ));
    }
    raw.parse::<i64>()
        .ok()
        .and_then(|id| view.shard(id))
        .cloned()
        .ok_or_else(|| unknown(raw))
}

/// `GET /api/v1/log/publicKey[?treeID=]` (§3.6): the shard's key as raw PEM,
/// `application/x-pem-file`.
pub async fn public_key(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let shard = shard_param(&st.view(), &params, |_| {
        ApiError::bad_request("Bad Request")
    })?;
    let res = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        )],
        shard.identity().keys.ecdsa_public_pem(),
    )
        .into_response();
    Ok(no_cache(res))
}

/// `GET /api/v1/log/proof?firstSize=&lastSize=[&treeID=]` (§3.7), in the shard `treeID` names
/// (the active one by default). `rootHash` is the root at `lastSize`.
pub async fn log_proof(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let first = int_param(&params, "firstSize", 1)?.unwrap_or(1);
    let last = int_param(&params, "lastSize", 1)?.ok_or_else(|| required("lastSize"))?;
    let shard = shard_param(&st.view(), &params, |raw| {
        ApiError::bad_request(format!("no log range found for tree ID {raw}"))
    })?;
    let (first, last) = proof_sizes(first, last, shard.head.size, "")?;
    let json = st
        .cpu(move || log_proof_json(first, last, &StoreHashes(shard.store())))
        .await?;
    Ok(no_cache(json_line(StatusCode::OK, json)))
}

/// The sizes of a `GET /api/v1/log/proof` (§3.7), checked as upstream does, after its
/// parameters parsed: `firstSize <= lastSize`, and `lastSize` within the `observable` tree
/// (whose refusal ends with `beyond`, which may say where a larger tree is).
pub(crate) fn proof_sizes(
    first: i64,
    last: i64,
    observable: u64,
    beyond: &str,
) -> Result<(u64, u64), ApiError> {
    if first > last {
        return Err(ApiError::bad_request(format!(
            "firstSize({first}) must be less than lastSize({last})"
        )));
    }
    let (first, last) = (first.unsigned_abs(), last.unsigned_abs());
    if last > observable {
        return Err(ApiError::bad_request(format!(
            "the tree size requested({last}) was greater than what is currently \
             observable({observable}){beyond}"
        )));
    }
    Ok((first, last))
}

/// The answer to `GET /api/v1/log/proof` for sizes [`proof_sizes`] accepted: the consistency
/// proof (empty for equal sizes) and the root at `last`. Blocking: reads the store.
pub(crate) fn log_proof_json(
    first: u64,
    last: u64,
    reader: &impl merkle::HashReader,
) -> Result<Vec<u8>, ApiError> {
    let proof = if first == last {
        Vec::new()
    } else {
        merkle::consistency_proof(first, last, reader).map_err(|e| ApiError::internal(&e))?
    };
    let root = merkle::tree_hash(last, reader).map_err(|e| ApiError::internal(&e))?;
    Ok(to_json_line(&ConsistencyProof {
        hashes: proof.iter().map(Hash::to_hex).collect(),
        root_hash: root.to_hex(),
    }))
}

/// `POST /api/v1/index/retrieve` (§3.8, semantics §10.2): matching entry IDs.
pub async fn search_index(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let clauses = parse_search(body)?;
    let view = st.view();
    let answer = st
        .cpu(move || {
            // Newest first: the newest shard first, each answering the whole query over its own
            // entries, until one more than the cap was found (which says the answer is cut).
            let mut ids = Vec::new();
            for shard in view.newest_first() {
                // Rows beyond the shard's published head belong to a batch being committed.
                search_store(shard.store(), &clauses, shard.head.size, &mut ids, |leaf| {
                    shard.identity().entry_id(leaf)
                })?;
                if ids.len() > MAX_SEARCH_RESULTS {
                    break;
                }
            }
            Ok(search_answer(ids))
        })
        .await?;
    Ok(search_response(answer))
}

/// A search query's body (§3.8) → its clauses, each a disjunction of the index keys that
/// record one term, to be met all (`"operator": "and"`) or, folded into one clause, any.
/// The errors are upstream's (status, code, message).
pub(crate) fn parse_search(
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<Vec<String>>, ApiError> {
    let body = body_bytes(body, MAX_QUERY_BODY_BYTES)?;
    let q: SearchIndex = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("parsing query body from \"\" failed, because {e}"))
    })?;
    let and = match q.operator.as_deref() {
        None | Some("or") => false,
        Some("and") => true,
        Some(other) => {
            return Err(ApiError::validation(
                606,
                format!("operator in body should be one of [and or], got {other:?}"),
            ));
        }
    };
    let mut clauses: Vec<Vec<String>> = Vec::new();
    if let Some(hash) = &q.hash {
        clauses.push(vec![hash_key(hash)?]);
    }
    if let Some(email) = &q.email {
        if !email.contains('@') {
            return Err(ApiError::validation(
                601,
                format!("email in body must be of type email: {email:?}"),
            ));
        }
        clauses.push(vec![text_key("email", email)?]);
    }
    if let Some(subject) = &q.subject {
        clauses.push(vec![text_key("subject", subject)?]);
    }
    if let Some(pk) = &q.public_key {
        clauses.push(public_key_keys(pk)?.into());
    }
    if !and {
        clauses = vec![clauses.concat()];
    }
    Ok(clauses)
}

/// Appends to `ids` the entry IDs (`entry_id` of the leaf) of the newest entries of `store`
/// below `size` that match `clauses`, until `ids` holds one more than [`MAX_SEARCH_RESULTS`].
/// Blocking: reads the store. Shared by the log (per shard) and a mirror (below its v1
/// checkpoint), so that both answer alike.
pub(crate) fn search_store<S: LogStore + ?Sized>(
    store: &S,
    clauses: &[Vec<String>],
    size: u64,
    ids: &mut Vec<String>,
    entry_id: impl Fn(&Hash) -> String,
) -> Result<(), ApiError> {
    let wanted = (MAX_SEARCH_RESULTS + 1).saturating_sub(ids.len());
    let found =
        query::newest_matches(store, clauses, size, wanted).map_err(|e| ApiError::internal(&e))?;
    for i in found {
        let e = store
            .entry(i)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| ApiError::internal(&format!("indexed entry {i} is missing")))?;
        ids.push(entry_id(&merkle::record_hash(&e.body)));
    }
    Ok(())
}

/// The JSON of the newest [`MAX_SEARCH_RESULTS`] of `ids`, and whether more were found.
pub(crate) fn search_answer(mut ids: Vec<String>) -> (Vec<u8>, bool) {
    let cut = ids.len() > MAX_SEARCH_RESULTS;
    ids.truncate(MAX_SEARCH_RESULTS);
    (to_json_line(&ids), cut)
}

/// The 200 answer of [`search_answer`], with [`SEARCH_TRUNCATED`] when it was cut.
pub(crate) fn search_response((json, cut): (Vec<u8>, bool)) -> Response {
    let mut res = json_line(StatusCode::OK, json);
    if cut {
        res.headers_mut()
            .insert(SEARCH_TRUNCATED, HeaderValue::from(MAX_SEARCH_RESULTS));
    }
    res
}

/// Set on a search answer that holds only the newest [`MAX_SEARCH_RESULTS`] of its matches
/// (its value is that number): the client narrows the query (`"operator": "and"` with a hash).
pub const SEARCH_TRUNCATED: HeaderName =
    HeaderName::from_static(arkivo_core::wire::SEARCH_TRUNCATED_HEADER);

/// An `email` or `subject` search term → its index key (lower-cased); 422 for what no entry can
/// be recorded under.
fn text_key(what: &str, term: &str) -> Result<String, ApiError> {
    entries::check_index_key(term)
        .map_err(|e| ApiError::validation(422, format!("{what} in body: {e}")))?;
    Ok(term.to_lowercase())
}

/// A `hash` search term → its index key (§10.2): prefix inferred from the length, lower-cased.
fn hash_key(hash: &str) -> Result<String, ApiError> {
    let (prefix, hex) = match hash.split_once(':') {
        Some((p, h)) => (Some(p.to_ascii_lowercase()), h),
        None => (None, hash),
    };
    let by_len = match hex.len() {
        40 => "sha1",
        64 => "sha256",
        128 => "sha512",
        _ => "",
    };
    let valid = !by_len.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && prefix.as_deref().is_none_or(|p| p == by_len);
    if !valid {
        return Err(ApiError::validation(
            605,
            "hash in body should match '^(sha512:)?[0-9a-fA-F]{128}$|^(sha256:)?[0-9a-fA-F]{64}$|^(sha1:)?[0-9a-fA-F]{40}$'",
        ));
    }
    Ok(format!("{by_len}:{}", hex.to_ascii_lowercase()))
}

fn public_key_keys(pk: &arkivo_core::wire::SearchPublicKey) -> Result<[String; 2], ApiError> {
    let format = pk
        .format
        .as_deref()
        .ok_or_else(|| ApiError::validation(602, "publicKey.format in body is required"))?;
    match format {
        "x509" => {}
        "pgp" | "minisign" | "ssh" | "tuf" => {
            return Err(ApiError::bad_request(
                "the PKI format requested is not supported by this server",
            ));
        }
        other => {
            return Err(ApiError::validation(
                606,
                format!(
                    "publicKey.format in body should be one of [pgp x509 minisign ssh tuf], got {other:?}"
                ),
            ));
        }
    }
    let content = pk.content.as_deref().unwrap_or_default();
    let pem = B64
        .decode(content)
        .map_err(|_| ApiError::bad_request("public key provided could not be parsed"))?;
    entries::public_key_index_keys(&pem)
        .map_err(|_| ApiError::bad_request("public key provided could not be parsed"))
}

/// `GET /api/v1/log/trustedRoot`: a Sigstore TrustedRoot (tiles-checkpoints-witnesses.md §7.4) from
/// which a client can be configured for every shard of this log (rekor-v1-api.md §9):
///
/// - each ECDSA key, once however many shards share it: it signs the Rekor v1 checkpoints and
///   SETs of its shards (log ID = SHA-256 of its SPKI);
/// - each shard's Ed25519 key under that shard's origin: it signs the C2SP checkpoints of Rekor
///   v2 answers (log ID and `checkpointKeyId` = the full C2SP key hash under the origin, as Rekor
///   v2 logs set them; a v0.2 field, read under the v0.1 media type), with the URL of the shard's tiles
///   as `baseUrl` (a client matches the checkpoint's signature name inside it).
///
/// Each key is valid from the creation of its first shard to the creation of the shard that
/// replaced its last one (or that shard's last integrated time, if later: the clock went back;
/// open-ended while the active shard uses it), so that clients accept it only for entries
/// integrated meanwhile — which are all its entries, since no entry is integrated before its
/// shard's creation. Clients pick the instance by log ID or by
/// checkpoint key ID (§7.4).
pub async fn trusted_root(State(st): State<AppState>) -> Response {
    no_cache(json_line(
        StatusCode::OK,
        trusted_root_json(&st, &st.view()),
    ))
}

/// The body of [`trusted_root`] for `view`: also the TUF repository's `trusted_root.json`.
pub fn trusted_root_json(st: &AppState, view: &View) -> Vec<u8> {
    to_json_line(&trusted_root_of(st, view))
}

/// The TrustedRoot [`trusted_root`] serves for `view`, also inside the client trust config.
pub(super) fn trusted_root_of(st: &AppState, view: &View) -> TrustedRoot {
    let public_url = &st.public_url;
    let shards: Vec<&ShardView> = view.oldest_first().collect();
    let time = |secs: i64| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.unsigned_abs());
        humantime::format_rfc3339_seconds(t).to_string()
    };
    // When each shard stopped taking entries: when the next one was created — or at its last
    // entry's integrated time, if the clock had gone back by then: a key must stay valid for
    // every entry it signed.
    let ended = |i: usize| {
        shards
            .get(i + 1)
            .map(|next| next.identity().meta.created.max(shards[i].head.timestamp))
    };
    let instance = |base_url: String,
                    raw: Vec<u8>,
                    details: &str,
                    log_id: String,
                    start: i64,
                    end: Option<i64>| {
        TransparencyLogInstance {
            base_url,
            hash_algorithm: "SHA2_256".to_owned(),
            public_key: TrustedPublicKey {
                raw_bytes: B64.encode(raw),
                key_details: details.to_owned(),
                valid_for: Some(ValidFor {
                    start: Some(time(start)),
                    end: end.map(time),
                }),
            },
            log_id: TrustedLogId { key_id: log_id },
            checkpoint_key_id: None,
        }
    };
    let mut tlogs = Vec::new();
    // The Rekor v1 log: one instance per ECDSA key (SETs and v1 checkpoints).
    for (i, shard) in shards.iter().enumerate() {
        let keys = &shard.identity().keys;
        let log_id = keys.log_id();
        if shards[..i]
            .iter()
            .any(|s| s.identity().keys.log_id() == log_id)
        {
            continue;
        }
        let last = shards
            .iter()
            .rposition(|s| s.identity().keys.log_id() == log_id)
            .unwrap_or(i);
        tlogs.push(instance(
            public_url.to_owned(),
            keys.ecdsa_spki_der(),
            "PKIX_ECDSA_P256_SHA_256",
            B64.encode(log_id),
            shard.identity().meta.created,
            ended(last),
        ));
    }
    // The same log as Rekor v2 clients know it: per shard, the Ed25519 key of its C2SP
    // checkpoints, identified by the checkpoint key ID.
    for (i, shard) in shards.iter().enumerate() {
        let (meta, keys) = (&shard.identity().meta, &shard.identity().keys);
        let checkpoint_key_id = B64.encode(keys.checkpoint_key_id(&meta.origin));
        let base_url = if i == 0 {
            public_url.to_owned()
        } else {
            format!("{}/shards/{}", public_url, meta.tree_id)
        };
        tlogs.push(TransparencyLogInstance {
            checkpoint_key_id: Some(TrustedLogId {
                key_id: checkpoint_key_id.clone(),
            }),
            ..instance(
                base_url,
                keys.ed25519_spki_der(),
                "PKIX_ED25519",
                checkpoint_key_id,
                meta.created,
                ended(i),
            )
        });
    }
    // The CA (sigstore-services.md §4), its chain intermediate first, root last.
    let certificate_authorities = st
        .ca
        .iter()
        .map(|ca| {
            let start = ca.signer.not_before();
            let seconds = |t: std::time::SystemTime| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            };
            CertificateAuthority {
                subject: ca.signer.subject(),
                uri: st.public_url.clone(),
                cert_chain: CertificateChain {
                    certificates: ca
                        .signer
                        .chain()
                        .iter()
                        .map(|der| Certificate {
                            raw_bytes: B64.encode(der),
                        })
                        .collect(),
                },
                valid_for: Some(ValidFor {
                    start: Some(time(seconds(start))),
                    end: None,
                }),
                operator: String::new(),
            }
        })
        .collect();
    // The CA's CT log (sigstore-services.md §5): its ECDSA key, identified by the RFC 6962 log
    // ID, which is what an SCT names.
    let ctlogs = st
        .ca
        .iter()
        .map(|ca| {
            let view = ca.ct.sequencer().published().view();
            let identity = view.active.identity();
            instance(
                format!("{}/ct", st.public_url),
                identity.keys.ecdsa_spki_der(),
                "PKIX_ECDSA_P256_SHA_256",
                B64.encode(identity.keys.log_id()),
                identity.meta.created,
                None,
            )
        })
        .collect();
    TrustedRoot {
        media_type: TRUSTED_ROOT_MEDIA_TYPE.to_owned(),
        tlogs,
        certificate_authorities,
        ctlogs,
        // Replaced TSAs first, each valid until its replacement (as a frozen shard's key is).
        timestamp_authorities: st
            .replaced_tsas
            .iter()
            .cloned()
            .chain(st.tsa.iter().map(|t| t.authority()))
            .collect(),
    }
}
