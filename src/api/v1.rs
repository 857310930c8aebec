//! Rekor v1 handlers (rekor-v1-api.md §3). Each cites the section whose behaviour it copies.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{ApiError, AppState, json_line, no_cache};
use crate::entries::{self, EntryError};
use crate::limits::MAX_RETRIEVE_ITEMS;
use crate::merkle::{self, Hash};
use crate::sequencer::SequenceError;
use crate::storage::{NewEntry, StoreHashes, TreeHead};
use crate::wire::{
    ConsistencyProof, InclusionProof, LogEntry, LogEntryBody, LogInfo, SearchIndex, SearchLogQuery,
    TRUSTED_ROOT_MEDIA_TYPE, TransparencyLogInstance, TrustedLogId, TrustedPublicKey, TrustedRoot,
    ValidFor, Verification, to_json_line,
};

type Params = Query<Vec<(String, String)>>;

fn entry_error(e: &EntryError) -> ApiError {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError {
        code: e.code(),
        ..ApiError::new(status, e.to_string())
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(crate::limits::MAX_REQUEST_BODY_BYTES)
        } else {
            ApiError::bad_request(format!("reading the request body: {}", r.body_text()))
        }
    })
}

/// Builds the `{"<entry ID>": {...}}` answer for the entry at `index`, with an inclusion proof
/// against `head` and a fresh SET (§4). Blocking: reads hashes, signs.
fn log_entry(
    st: &AppState,
    index: u64,
    body: &[u8],
    integrated_time: i64,
    head: &TreeHead,
) -> Result<(String, Vec<u8>), ApiError> {
    let leaf = merkle::record_hash(body);
    let id = st.identity.entry_id(&leaf);
    let proof = merkle::inclusion_proof(head.size, index, &StoreHashes(st.store.as_ref()))
        .map_err(|e| ApiError::internal(&e))?;
    let body_b64 = B64.encode(body);
    let log_id = st.identity.keys.log_id_hex();
    let set = st.signed_entry_timestamp(index, &body_b64, integrated_time, &log_id);
    let entry: LogEntry = BTreeMap::from([(
        id.clone(),
        LogEntryBody {
            body: body_b64,
            integrated_time,
            log_id,
            log_index: index,
            verification: Verification {
                inclusion_proof: InclusionProof {
                    checkpoint: head.checkpoint_v1.clone(),
                    hashes: proof.iter().map(Hash::to_hex).collect(),
                    log_index: index,
                    root_hash: head.root.to_hex(),
                    tree_size: head.size,
                },
                signed_entry_timestamp: B64.encode(&set),
            },
        },
    )]);
    Ok((id, to_json_line(&entry)))
}

/// Reads the entry at `index` and renders it against the current head; `None` if absent.
fn stored_log_entry(st: &AppState, index: u64) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let head = st.sequencer.published().head();
    if index >= head.size {
        return Ok(None);
    }
    let entry = st
        .store
        .entry(index)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::internal(&format!("entry {index} is missing below the tree size"))
        })?;
    log_entry(st, index, &entry.body, entry.integrated_time, &head).map(Some)
}

fn location(id: &str) -> String {
    format!("/api/v1/log/entries/{id}")
}

/// `POST /api/v1/log/entries` (§3.1).
pub async fn create_entry(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    st.authorize_write(&headers)?;
    let body = body_bytes(body)?;
    // Verification is the most expensive step of a write: keep it off the async threads.
    let entry = st
        .cpu(move || entries::canonicalize_bytes(&body).map_err(|e| entry_error(&e)))
        .await?;
    let leaf = entry.leaf_hash;
    // The answer is built from the body in hand: no read after the commit.
    let canonical = entry.body.clone();
    let sequenced = st
        .sequencer
        .submit(NewEntry {
            body: entry.body,
            leaf_hash: entry.leaf_hash,
            index_keys: entry.index_keys,
        })
        .await;
    match sequenced {
        Ok(s) => {
            let st2 = st.clone();
            let (id, json) = st
                .cpu(move || log_entry(&st2, s.index, &canonical, s.integrated_time, &s.head))
                .await?;
            let mut res = json_line(StatusCode::CREATED, json);
            let h = res.headers_mut();
            // ETag is the bare entry ID, no quotes: sigstore-go looks the entry up by it.
            h.insert(header::ETAG, header_value(&id)?);
            h.insert(header::LOCATION, header_value(&location(&id))?);
            Ok(res)
        }
        Err(SequenceError::Duplicate(_)) => {
            let id = st.identity.entry_id(&leaf);
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
        Err(e @ SequenceError::Pushback) => Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }),
        Err(e @ SequenceError::Stopped(_)) => Err(ApiError {
            retry_after: Some(30),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }),
        Err(e @ SequenceError::NoSpace(_)) => Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            e.to_string(),
        )),
    }
}

fn header_value(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s).map_err(|e| ApiError::internal(&e))
}

/// One integer query parameter with go-openapi's validation errors (§1.4 (b)).
fn int_param(params: &[(String, String)], name: &str, min: i64) -> Result<Option<i64>, ApiError> {
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

fn required(name: &str) -> ApiError {
    ApiError::validation(602, format!("{name} in query is required"))
}

/// `GET /api/v1/log/entries?logIndex=<n>` (§3.2).
pub async fn get_entry_by_index(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let index = int_param(&params, "logIndex", 0)?.ok_or_else(|| required("logIndex"))?;
    let index = u64::try_from(index).map_err(|e| ApiError::internal(&e))?;
    match st.clone().cpu(move || stored_log_entry(&st, index)).await? {
        Some((_, json)) => Ok(no_cache(json_line(StatusCode::OK, json))),
        None => Err(ApiError::not_found()),
    }
}

const UUID_PATTERN: &str = "^([0-9a-fA-F]{64}|[0-9a-fA-F]{80})$";

/// A 64-hex UUID or an 80-hex entry ID → the leaf hash, if the ID names this log's tree.
/// `Ok(None)` for a well-formed ID of another tree.
fn parse_entry_uuid(st: &AppState, uuid: &str, what: &str) -> Result<Option<Hash>, ApiError> {
    let pattern_error =
        || ApiError::validation(605, format!("{what} should match '{UUID_PATTERN}'"));
    if !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(pattern_error());
    }
    let leaf_hex = match uuid.len() {
        64 => uuid,
        80 => {
            if !uuid[..16].eq_ignore_ascii_case(&st.identity.tree_id_hex()) {
                return Ok(None);
            }
            &uuid[16..]
        }
        _ => return Err(pattern_error()),
    };
    Hash::from_hex(leaf_hex).map(Some).ok_or_else(pattern_error)
}

fn lookup_leaf(st: &AppState, leaf: &Hash) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let index = st
        .store
        .indexes_of(std::slice::from_ref(leaf))
        .map_err(|e| ApiError::internal(&e))?
        .pop()
        .flatten();
    match index {
        Some(i) => stored_log_entry(st, i),
        None => Ok(None),
    }
}

/// `GET /api/v1/log/entries/{entryUUID}` (§3.3).
pub async fn get_entry_by_uuid(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let Some(leaf) = parse_entry_uuid(&st, &uuid, "entryUUID in path")? else {
        return Err(ApiError::not_found());
    };
    match st.clone().cpu(move || lookup_leaf(&st, &leaf)).await? {
        Some((_, json)) => Ok(no_cache(json_line(StatusCode::OK, json))),
        None => Err(ApiError::not_found()),
    }
}

/// `POST /api/v1/log/entries/retrieve` (§3.4): found entries as an array of one-key maps,
/// nothing found → `[]`, never 404.
pub async fn retrieve_entries(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let query: SearchLogQuery = serde_json::from_slice(&body).map_err(|e| {
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
    let mut leaves = Vec::new();
    // Upstream order: full entry IDs first, then bare UUIDs and proposed entries, then indexes.
    let (full, bare): (Vec<_>, Vec<_>) = uuids.iter().enumerate().partition(|(_, u)| u.len() == 80);
    for (i, uuid) in full.into_iter().chain(bare) {
        if let Some(leaf) = parse_entry_uuid(&st, uuid, &format!("entryUUIDs.{i} in body"))? {
            leaves.push(leaf);
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
    let st2 = st.clone();
    let items = st
        .cpu(move || {
            // Proposed entries are fully validated again, signatures included (§3.4).
            for p in &proposed {
                let e = entries::canonicalize(p).map_err(|e| entry_error(&e))?;
                leaves.push(e.leaf_hash);
            }
            let mut items = Vec::new();
            for leaf in &leaves {
                if let Some((_, json)) = lookup_leaf(&st2, leaf)? {
                    items.push(json);
                }
            }
            for &index in &indexes {
                let index = u64::try_from(index).map_err(|e| ApiError::internal(&e))?;
                if let Some((_, json)) = stored_log_entry(&st2, index)? {
                    items.push(json);
                }
            }
            Ok(items)
        })
        .await?;
    // Each item is one compact JSON object + "\n"; the array joins them without the newlines.
    let mut out = Vec::from(*b"[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.strip_suffix(b"\n").unwrap_or(item));
    }
    out.extend_from_slice(b"]\n");
    Ok(json_line(StatusCode::OK, out))
}

/// `GET /api/v1/log` (§3.5).
pub async fn log_info(State(st): State<AppState>) -> Response {
    let head = st.sequencer.published().head();
    let info = LogInfo {
        inactive_shards: None,
        root_hash: head.root.to_hex(),
        signed_tree_head: head.checkpoint_v1.clone(),
        tree_id: st.identity.meta.tree_id.to_string(),
        tree_size: head.size,
    };
    no_cache(json_line(StatusCode::OK, to_json_line(&info)))
}

/// Checks an optional `treeID` query parameter names this log (§3.6, §3.7).
fn check_tree_id(
    st: &AppState,
    params: &[(String, String)],
    unknown: ApiError,
) -> Result<(), ApiError> {
    let Some((_, raw)) = params.iter().find(|(k, _)| k == "treeID") else {
        return Ok(());
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation(
            605,
            "treeID in query should match '^[0-9]+$'",
        ));
    }
    if raw.parse::<i64>().ok() == Some(st.identity.meta.tree_id) {
        Ok(())
    } else {
        Err(unknown)
    }
}

/// `GET /api/v1/log/publicKey` (§3.6): the raw PEM, `application/x-pem-file`.
pub async fn public_key(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    check_tree_id(&st, &params, ApiError::bad_request("Bad Request"))?;
    let res = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        )],
        st.identity.keys.ecdsa_public_pem(),
    )
        .into_response();
    Ok(no_cache(res))
}

/// `GET /api/v1/log/proof?firstSize=&lastSize=` (§3.7). `rootHash` is the root at `lastSize`.
pub async fn log_proof(
    State(st): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let first = int_param(&params, "firstSize", 1)?.unwrap_or(1);
    let last = int_param(&params, "lastSize", 1)?.ok_or_else(|| required("lastSize"))?;
    if let Some((_, raw)) = params.iter().find(|(k, _)| k == "treeID") {
        check_tree_id(
            &st,
            &params,
            ApiError::bad_request(format!("no log range found for tree ID {raw}")),
        )?;
    }
    if first > last {
        return Err(ApiError::bad_request(format!(
            "firstSize({first}) must be less than lastSize({last})"
        )));
    }
    let head = st.sequencer.published().head();
    let (first, last) = (first.unsigned_abs(), last.unsigned_abs());
    if last > head.size {
        return Err(ApiError::bad_request(format!(
            "the tree size requested({last}) was greater than what is currently observable({})",
            head.size
        )));
    }
    let json = st
        .clone()
        .cpu(move || {
            let reader = StoreHashes(st.store.as_ref());
            let proof = if first == last {
                Vec::new()
            } else {
                merkle::consistency_proof(first, last, &reader)
                    .map_err(|e| ApiError::internal(&e))?
            };
            let root = merkle::tree_hash(last, &reader).map_err(|e| ApiError::internal(&e))?;
            Ok(to_json_line(&ConsistencyProof {
                hashes: proof.iter().map(Hash::to_hex).collect(),
                root_hash: root.to_hex(),
            }))
        })
        .await?;
    Ok(no_cache(json_line(StatusCode::OK, json)))
}

/// `POST /api/v1/index/retrieve` (§3.8, semantics §10.2): matching entry IDs.
pub async fn search_index(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
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
    let mut keys = Vec::new();
    if let Some(hash) = &q.hash {
        keys.push(hash_key(hash)?);
    }
    if let Some(email) = &q.email {
        if !email.contains('@') {
            return Err(ApiError::validation(
                601,
                format!("email in body must be of type email: {email:?}"),
            ));
        }
        keys.push(email.to_lowercase());
    }
    if let Some(subject) = &q.subject {
        keys.push(subject.to_lowercase());
    }
    if let Some(pk) = &q.public_key {
        keys.push(public_key_key(pk)?);
    }
    let json = st
        .clone()
        .cpu(move || {
            let mut result: Option<Vec<u64>> = None;
            for key in &keys {
                let found = st.store.search(key).map_err(|e| ApiError::internal(&e))?;
                result = Some(match result {
                    None => found,
                    Some(acc) if and => acc.into_iter().filter(|i| found.contains(i)).collect(),
                    Some(mut acc) => {
                        acc.extend(found);
                        acc
                    }
                });
            }
            let mut indexes = result.unwrap_or_default();
            indexes.sort_unstable();
            indexes.dedup();
            let mut ids = Vec::with_capacity(indexes.len());
            for i in indexes {
                let e = st
                    .store
                    .entry(i)
                    .map_err(|e| ApiError::internal(&e))?
                    .ok_or_else(|| ApiError::internal(&format!("indexed entry {i} is missing")))?;
                ids.push(st.identity.entry_id(&merkle::record_hash(&e.body)));
            }
            Ok(to_json_line(&ids))
        })
        .await?;
    Ok(json_line(StatusCode::OK, json))
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

fn public_key_key(pk: &crate::wire::SearchPublicKey) -> Result<String, ApiError> {
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
    entries::public_key_index_key(&pem)
        .map_err(|_| ApiError::bad_request("public key provided could not be parsed"))
}

/// `GET /api/v1/log/trustedRoot`: a Sigstore TrustedRoot (tiles-checkpoints-v2.md §7.4) that
/// lists this log, so that a client can be configured from it.
pub async fn trusted_root(State(st): State<AppState>) -> Response {
    let created = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(st.identity.meta.created.unsigned_abs());
    let root = TrustedRoot {
        media_type: TRUSTED_ROOT_MEDIA_TYPE.to_owned(),
        tlogs: vec![TransparencyLogInstance {
            base_url: st.public_url.clone(),
            hash_algorithm: "SHA2_256".to_owned(),
            public_key: TrustedPublicKey {
                raw_bytes: B64.encode(st.identity.keys.ecdsa_spki_der()),
                key_details: "PKIX_ECDSA_P256_SHA_256".to_owned(),
                valid_for: Some(ValidFor {
                    start: Some(humantime::format_rfc3339_seconds(created).to_string()),
                    end: None,
                }),
            },
            log_id: TrustedLogId {
                key_id: B64.encode(st.identity.keys.log_id()),
            },
        }],
        certificate_authorities: Vec::new(),
        ctlogs: Vec::new(),
        timestamp_authorities: Vec::new(),
    };
    no_cache(json_line(StatusCode::OK, to_json_line(&root)))
}
