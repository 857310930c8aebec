//! The C2SP tlog-tiles read API (c2sp.org/tlog-tiles; tiles-checkpoints-witnesses.md §4.2):
//! `/checkpoint`, hash tiles `/tile/<L>/<N>[.p/<W>]` and entry bundles
//! `/tile/entries/<N>[.p/<W>]`, for mirrors, caches, monitors and witnesses.
//!
//! Every shard is a tiled log of its own (its own origin): `/shards/<treeID>/checkpoint` and
//! `/shards/<treeID>/tile/...` serve any shard, the root paths the log's first shard — whose
//! origin is the hostname — so that a tile client's URL prefix names one tree forever, also
//! after a rotation. A frozen shard's checkpoint is its final one.
//!
//! Everything is answered from the *published* tree head (the one the sequencer made durable and
//! showed), never from rows of a batch not yet published. Tiles are not stored as such: a tile's
//! hashes are stored hashes ([`arkivo_core::tiles`]), so each request is one multi-read of at most 256
//! hashes or 256 bodies, on the CPU pool — the same work at any log size.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, cache};
use crate::log::LogKind;
use crate::sequencer::{ShardView, View};
use crate::storage::{LogStore, StoredEntry};
use arkivo_core::tiles::{self, TileError, TilePath};

/// Full tiles and bundles never change (§4.2: "immutable: long-lived"), so caches may keep them
/// for a year, as Tessera's and Sunlight's servers let them.
const CACHE_FULL: &str = "public, max-age=31536000, immutable";

/// The bytes of a partial tile never change either (a tile of width W is a prefix of every wider
/// one), but only clients at the right edge of the tree ask for one, and a wider one follows
/// within seconds: a minute of caching absorbs a burst of them without pinning right-edge data
/// for a year (should an operator ever restore the log from an older backup).
const CACHE_PARTIAL: &str = "public, max-age=60";

/// The checkpoint of the active shard changes with every batch and with every cosignature
/// collected (§4.2: "mutable: at most a few seconds"): two seconds let a cache in front answer a
/// burst of verifiers with one request to the log, and no client sees one older than that.
pub(crate) const CACHE_CHECKPOINT: &str = "public, max-age=2";

/// A 404 for a tile beyond the tree turns into a 200 once the tree grows, and a 503 for a
/// checkpoint without its quorum into a 200 once the witnesses answer: neither is stored.
const NO_STORE: &str = "no-store";

/// `GET /checkpoint`: the log's C2SP checkpoint, signed with its Ed25519 key (tlog-tiles
/// "Checkpoints": `text/plain; charset=utf-8`), with its witnesses' cosignatures, as
/// [`Cosignatures::checkpoint`] chooses it — the newest published checkpoint with the
/// cosignatures collected for exactly it, or, when a `witness_quorum` is set, the newest one that
/// reached the quorum (§3), and 503 with `Retry-After` while none has.
///
/// [`Cosignatures::checkpoint`]: crate::witness::client::Cosignatures::checkpoint
pub async fn checkpoint(State(st): State<AppState>) -> Response {
    let first = first_shard(&st.view());
    serve_checkpoint(&st, &first)
}

/// `GET /shards/<treeID>/checkpoint`: [`checkpoint`] of any shard.
pub async fn shard_checkpoint(State(st): State<AppState>, Path(tree_id): Path<String>) -> Response {
    match shard(&st.view(), &tree_id) {
        Ok(shard) => serve_checkpoint(&st, &shard),
        Err(e) => no_store(e),
    }
}

/// The log's first shard: the one at the root paths.
fn first_shard(view: &View) -> ShardView {
    view.oldest_first()
        .next()
        .expect("a log has at least one shard")
        .clone()
}

/// The shard a `/shards/<treeID>/` path names, in decimal as the log writes it: `+5` or `05`
/// would be second names for the same checkpoint and tiles.
fn shard(view: &View, tree_id: &str) -> Result<ShardView, ApiError> {
    tree_id
        .parse::<i64>()
        .ok()
        .filter(|id| id.to_string() == tree_id)
        .and_then(|id| view.shard(id))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("this log has no shard with tree ID {tree_id:?}"),
            )
        })
}

/// A frozen shard's checkpoint is its final one, served without cosignatures, and never changes:
/// it is cached like a full tile, last modified when its last batch was.
fn serve_checkpoint(st: &AppState, shard: &ShardView) -> Response {
    let text = HeaderValue::from_static("text/plain; charset=utf-8");
    let no_store = HeaderValue::from_static(NO_STORE);
    if shard.tree_id() != st.view().active.tree_id() {
        return (
            [
                (header::CONTENT_TYPE, text),
                (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_FULL)),
                (
                    header::LAST_MODIFIED,
                    cache::last_modified(shard.head.timestamp),
                ),
            ],
            shard.head.checkpoint_c2sp.clone(),
        )
            .into_response();
    }
    match st.cosignatures.checkpoint() {
        Some(note) => (
            [
                (header::CONTENT_TYPE, text),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(CACHE_CHECKPOINT),
                ),
            ],
            note,
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, text),
                (header::CACHE_CONTROL, no_store),
                (header::RETRY_AFTER, HeaderValue::from_static("1")),
            ],
            format!(
                "no checkpoint has been cosigned by {} of the log's {} witnesses yet\n",
                st.cosignatures.quorum(),
                st.cosignatures.endpoints().len()
            ),
        )
            .into_response(),
    }
}

/// `GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]`.
///
/// The path is parsed from the raw URI, not a percent-decoded one, so that only the canonical
/// path of a tile is served (`/tile/0/%30%30%30` is a 400, not a second name for `tile/0/000`).
///
/// Partial tiles: tlog-tiles requires serving "partial tiles corresponding to tree sizes for
/// which a checkpoint was produced" and allows deleting them once the full tile exists. Every
/// batch publishes a checkpoint, and we keep no list of their sizes, so a partial tile of width
/// `W` is served whenever the published tree has its `W` hashes, including after its full tile
/// exists: that covers every size we ever published and shows nothing beyond the published head.
pub async fn tile(State(st): State<AppState>, uri: Uri) -> Response {
    let first = first_shard(&st.view());
    serve_tile(st, first, uri.path())
        .await
        .unwrap_or_else(no_store)
}

/// `GET /shards/<treeID>/tile/...`: [`tile`] of any shard.
pub async fn shard_tile(
    State(st): State<AppState>,
    Path((tree_id, _)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let served = async {
        let shard = shard(&st.view(), &tree_id)?;
        // The raw path, as for `tile`; a tree ID spelt otherwise than in decimal names nothing.
        let path = uri
            .path()
            .strip_prefix(&format!("/shards/{tree_id}"))
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such tile"))?;
        serve_tile(st, shard, path).await
    };
    served.await.unwrap_or_else(no_store)
}

/// An error answer that no cache keeps: the tile may exist soon.
pub(crate) fn no_store(e: ApiError) -> Response {
    let mut res = e.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    res
}

/// Serves the tile at `path` (`/tile/...`) of `shard`, as of its published head.
async fn serve_tile(st: AppState, shard: ShardView, path: &str) -> Result<Response, ApiError> {
    let tile_path = parse_tile_path(path)?;
    let (body, modified) = st
        .cpu(move || {
            read_tile(
                shard.store(),
                shard.head.size,
                shard.identity().kind,
                tile_path,
                shard.offset,
            )
        })
        .await?;
    Ok(tile_response(&tile_path, body, modified))
}

/// The tile a request path (`/tile/...`, raw) names; 400 unless canonical (§4.3).
pub(crate) fn parse_tile_path(path: &str) -> Result<TilePath, ApiError> {
    let path = path.strip_prefix('/').unwrap_or(path);
    TilePath::parse(path).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The bytes of the tile `tile_path` of the tree of `size` records held in `store` (of a log of
/// `kind`; `offset` is the virtual index of its first entry), and the integrated time of the
/// last record they cover: the tile's `Last-Modified`, since it is complete from that batch on.
/// Blocking (storage reads): run it on the CPU pool.
pub(crate) fn read_tile(
    store: &dyn LogStore,
    size: u64,
    kind: LogKind,
    tile_path: TilePath,
    offset: u64,
) -> Result<(Vec<u8>, i64), ApiError> {
    let tile = tile_path.tile();
    let beyond = |_: TileError| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{tile_path} is beyond the published tree of size {size}"),
        )
    };
    match tile_path {
        TilePath::Entries(_) if kind == LogKind::StaticCt => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "a static-ct-api log serves its entries as tile/data/<N>",
        )),
        TilePath::Data(_) if kind == LogKind::Rekor => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this log serves its entries as tile/entries/<N>",
        )),
        TilePath::Hashes(_) => {
            let indexes = tile.stored_hash_indexes(size).map_err(beyond)?;
            let last = tile.record_range(size).map_err(beyond)?.end - 1;
            let hashes = store
                .read_hashes(&indexes)
                .map_err(|e| ApiError::internal(&e))?;
            let last = store
                .entry(last)
                .map_err(|e| ApiError::internal(&e))?
                .ok_or_else(|| ApiError::internal(&format!("entry {last} is missing")))?;
            Ok((tiles::encode_tile(&hashes), last.integrated_time))
        }
        TilePath::Entries(_) => {
            let range = tile.record_range(size).map_err(beyond)?;
            let first = range.start;
            let entries = store.entries(range).map_err(|e| ApiError::internal(&e))?;
            let modified = last_integrated(&entries);
            let bundle =
                tiles::encode_entry_bundle(first, entries.iter().map(|e| e.body.as_slice()))
                    .map_err(|e| bundle_error(&tile_path, offset, &e))?;
            Ok((bundle, modified))
        }
        // The stored bodies are the `TileLeaf`s: the data tile is their concatenation.
        TilePath::Data(_) => {
            let range = tile.record_range(size).map_err(beyond)?;
            let entries = store.entries(range).map_err(|e| ApiError::internal(&e))?;
            let modified = last_integrated(&entries);
            Ok((entries.into_iter().flat_map(|e| e.body).collect(), modified))
        }
    }
}

/// A tile's answer: its bytes, cached as long as its kind allows (§4.2).
pub(crate) fn tile_response(tile_path: &TilePath, body: Vec<u8>, modified: i64) -> Response {
    let policy = if tile_path.tile().is_full() {
        CACHE_FULL
    } else {
        CACHE_PARTIAL
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(policy)),
            (header::LAST_MODIFIED, cache::last_modified(modified)),
        ],
        body,
    )
        .into_response()
}

/// The integrated time of the last of `entries`, a tile's records (never empty: a tile has a
/// width of at least 1).
fn last_integrated(entries: &[StoredEntry]) -> i64 {
    entries.last().map_or(0, |e| e.integrated_time)
}

/// An entry too long for the bundle's 16-bit length prefix (§4.5) cannot be served in a bundle;
/// say which one and where else to read it, rather than a generic 500.
fn bundle_error(path: &TilePath, offset: u64, e: &TileError) -> ApiError {
    tracing::error!(error = %e, %path, "serving an entry bundle");
    let mut message = format!("{path} cannot be served: {e}");
    if let TileError::EntryTooLarge { index, .. } = e {
        message.push_str(&format!(
            "; read it with GET /api/v1/log/entries?logIndex={}",
            offset + index
        ));
    }
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
}

/// The CA's CT log, or 404 when this server runs no CA.
fn ct_log(st: &AppState) -> Result<&crate::ct::CtLog, ApiError> {
    st.ca.as_deref().map(|ca| &ca.ct).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this server runs no certificate authority, so no CT log",
        )
    })
}

/// The CT log's only tree, at its published head.
fn ct_shard(st: &AppState) -> Result<ShardView, ApiError> {
    Ok(ct_log(st)?.sequencer().published().view().active.clone())
}

/// `GET /ct/checkpoint`: the CT log's checkpoint (c2sp.org/static-ct-api "Checkpoints"), signed
/// with the RFC 6962 note signature and the log's Ed25519 key.
pub async fn ct_checkpoint(State(st): State<AppState>) -> Response {
    match ct_shard(&st) {
        Ok(shard) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(CACHE_CHECKPOINT),
                ),
            ],
            shard.head.checkpoint_c2sp.clone(),
        )
            .into_response(),
        Err(e) => no_store(e),
    }
}

/// `GET /ct/tile/<L>/<N>[.p/<W>]` and `GET /ct/tile/data/<N>[.p/<W>]` (static-ct-api "Merkle
/// Tree", "Log entries"), from the raw path as [`tile`].
pub async fn ct_tile(State(st): State<AppState>, uri: Uri) -> Response {
    let served = async {
        let shard = ct_shard(&st)?;
        let path = uri.path().strip_prefix("/ct").unwrap_or(uri.path());
        serve_tile(st, shard, path).await
    };
    served.await.unwrap_or_else(no_store)
}

/// `GET /ct/issuer/<fingerprint>` (static-ct-api "Issuers"): the issuer certificate whose
/// SHA-256 is the lowercase hex fingerprint, DER.
pub async fn ct_issuer(State(st): State<AppState>, Path(fingerprint): Path<String>) -> Response {
    let found = ct_log(&st).and_then(|ct| {
        let lowercase = fingerprint.len() == 64
            && fingerprint
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let bytes = hex::decode(&fingerprint)
            .ok()
            .filter(|_| lowercase)
            .ok_or_else(|| {
                ApiError::bad_request("an issuer fingerprint is 64 lowercase hex digits")
            })?;
        ct.issuer(&bytes)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no issuer with this fingerprint"))
    });
    match found {
        Ok(der) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/pkix-cert"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_FULL)),
            ],
            der,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /ct/ct/v1/get-roots` (RFC 6962 §4.7): the root the log accepts chains to, the CA's own.
pub async fn ct_get_roots(State(st): State<AppState>) -> Result<Response, ApiError> {
    use base64::Engine;
    let ct = ct_log(&st)?;
    let certificates: Vec<String> = ct
        .issuers()
        .last()
        .into_iter()
        .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
        .collect();
    let mut body = serde_json::to_vec(&serde_json::json!({ "certificates": certificates }))
        .expect("strings serialize");
    body.push(b'\n');
    Ok(super::json_line(StatusCode::OK, body))
}
