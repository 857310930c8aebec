//! `arkivo mirror` (c2sp.org/tlog-mirror, docs/mirror.md): follows a log through its tiles,
//! verifies every checkpoint, tile and entry bundle against the log's key and against what it
//! already holds, stores what it verified in its own RocksDB, cosigns each checkpoint it has
//! durably copied, and serves the copy with the tlog-tiles read API.
//!
//! Update process (tlog-mirror "Updating a Mirror", pull variant: "A mirror MAY additionally
//! implement other update processes"). The store's tree head is the mirror's *next entry*: the
//! verified tree `(c, root_c)` it holds, pending entries included; its `checkpoint_c2sp` is the
//! *mirror checkpoint*, the log's note of size `m ≤ c` with the mirror's cosignature, which is
//! all that is served. Each round:
//! 1. fetch the log's checkpoint, verify its signature by the log's key (the `--vkey`);
//! 2. a smaller checkpoint must match the root the mirror computes at its size from its own
//!    hashes (else the log forked); an equal size must have the same root; a larger one needs
//!    the consistency proof from `c`, read from the log's hash tiles and classified by
//!    [`arkivo_core::mirror::classify`] — a proof that leads to the signed root from another
//!    root is a fork: an alert, the `arkivo_mirror_forked` metric and `/mirror/status`, and the
//!    mirror stops following and keeps serving what it had;
//! 3. fetch the entry bundles of `[c, n)` in chunks; append their leaf hashes to the right
//!    border and prove the chunk's root consistent with the signed root `n` (from hash tiles)
//!    before committing the chunk's entries, hashes and next entry as one synced batch; the
//!    last chunk's root must be the signed root itself, and its batch also carries the new
//!    mirror checkpoint with the mirror's cosignature (tlog-mirror: "MUST NOT sign or update its
//!    mirror checkpoint until all entries are durably committed").
//!
//! A crash anywhere leaves a verified prefix: the next start resumes from the stored next entry.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, ensure};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::task::JoinSet;

use crate::api::{ApiError, cache, tiles as tile_api};
use crate::log::{LogKind, new_tree_id, unix_now};
use crate::logging::notice;
use crate::storage::rocks::RocksStore;
use crate::storage::{CommitBatch, LogMeta, LogStore, NewEntry, StoreHashes, TreeHead};
use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::limits::HEADER_READ_TIMEOUT;
use arkivo_core::merkle::{self, RightBorder};
use arkivo_core::mirror::{Consistency, classify, consistency_proof_tiles};
use arkivo_core::note::{self, Cosigner, Ed25519Verifier, NoteVerifier, VKey};
use arkivo_core::tiles::{self, TILE_WIDTH, Tile, TilePath, TileSet};

/// The mirror's cosigning key's file under the data directory.
const KEY_FILE: &str = "keys/mirror-ed25519.pem";

/// Entry bundles fetched, verified and committed together: 16,384 entries, one synced batch.
const CHUNK_BUNDLES: u64 = 64;

/// Entry bundles fetched at once.
const FETCHES_IN_FLIGHT: usize = 8;

/// The longest answer the mirror reads from the log: a full entry bundle of the largest entries
/// (tlog-tiles §4.5: 256 entries, each a `uint16` length and at most 65,535 bytes).
const MAX_FETCH_BYTES: usize = TILE_WIDTH as usize * (2 + tiles::MAX_BUNDLE_ENTRY_BYTES);

/// Longest one request to the log may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of `arkivo mirror`.
#[derive(Clone, Debug)]
pub struct MirrorConfig {
    /// The log's URL prefix (where its `/checkpoint` and `/tile/` are).
    pub log_url: String,
    /// The vkey of the log's Ed25519 checkpoint key; its name is the log's origin.
    pub vkey: String,
    pub data_dir: std::path::PathBuf,
    pub listen: String,
    /// Name of the mirror's cosignatures; fixed at creation [default: the listen address].
    pub name: Option<String>,
    /// Time between two polls of the log's checkpoint.
    pub poll_interval: Duration,
}

/// What `/mirror/status` shows.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    /// The size of the log's latest checkpoint that verified.
    log_size: u64,
    /// Why the mirror stopped following: the log signed a tree inconsistent with the mirror's.
    fork: Option<String>,
    /// The last round's failure (the log unreachable, data that did not verify), if it failed.
    last_error: Option<String>,
}

/// A mirror: its store, the log it copies, its cosigning key.
pub struct Mirror {
    store: Arc<RocksStore>,
    log: Ed25519Verifier,
    cosigner: Cosigner,
    log_url: String,
    http: reqwest::Client,
    /// The served mirror checkpoint (with the mirror's cosignature) and its tree size; empty
    /// and 0 before the first copy.
    served: RwLock<(String, u64)>,
    status: RwLock<Status>,
}

/// Why a round stopped.
enum RoundError {
    /// The log signed a tree inconsistent with the mirror's: stop following.
    Fork(String),
    /// Anything else (unreachable, bad data): retried next round, nothing stored.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for RoundError {
    fn from(e: anyhow::Error) -> Self {
        RoundError::Failed(e)
    }
}

impl Mirror {
    /// Opens the mirror in `config.data_dir`, creating it (key and store) on first start.
    ///
    /// # Errors
    /// A vkey that is not an Ed25519 one, a data directory mirroring another log, a key file
    /// readable by others, storage failures.
    pub fn open(config: &MirrorConfig) -> anyhow::Result<Mirror> {
        let log = match note::parse_vkey(&config.vkey)
            .with_context(|| format!("--vkey {:?}", config.vkey))?
        {
            VKey::Ed25519(v) => v,
            VKey::Cosignature(_) => anyhow::bail!(
                "--vkey must be the log's Ed25519 checkpoint key (type 0x01), not a cosigner's"
            ),
        };
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let db = dir.join("db");
        let store = RocksStore::open(&db)
            .with_context(|| format!("opening the mirror database in {}", db.display()))?;
        let key = crate::witness::server::read_or_make_key(&dir.join(KEY_FILE))?;
        // The log's identity in the store: its origin and its key's hash. The name is the
        // mirror's own (the name of its cosignatures).
        let name = match store.meta()? {
            Some(meta) => {
                ensure!(
                    meta.origin == log.name() && meta.log_id == log.key_hash(),
                    "{} mirrors the log {:?} with another key, not {}; refusing to start",
                    dir.display(),
                    meta.origin,
                    config.vkey
                );
                if let Some(name) = &config.name {
                    ensure!(
                        *name == meta.hostname,
                        "this mirror was created with name {:?}, which is part of its vkey and \
                         cannot change; drop --name {name:?}",
                        meta.hostname
                    );
                }
                meta.hostname
            }
            None => {
                let name = config.name.clone().unwrap_or_else(|| config.listen.clone());
                ensure!(
                    note::is_valid_name(&name),
                    "invalid mirror name {name:?}: it names the mirror's cosignatures, so it \
                     must be non-empty and contain no whitespace or '+'"
                );
                let meta = LogMeta {
                    format_version: crate::storage::FORMAT_VERSION,
                    tree_id: new_tree_id(),
                    hostname: name.clone(),
                    origin: log.name().to_owned(),
                    log_id: log.key_hash(),
                    created: unix_now(),
                };
                let head = TreeHead {
                    size: 0,
                    root: merkle::empty_root(),
                    timestamp: 0,
                    checkpoint_v1: String::new(),
                    checkpoint_c2sp: String::new(),
                };
                store.create(&meta, &head)?;
                notice!(
                    "created a new mirror of {} in {}: name {name}",
                    log.name(),
                    dir.display()
                );
                name
            }
        };
        let head = store.head()?;
        let served_size = served_size(&head.checkpoint_c2sp)?;
        crate::metrics::install();
        metrics::gauge!(crate::metrics::MIRROR_TREE_SIZE).set(served_size as f64);
        metrics::gauge!(crate::metrics::MIRROR_FORKED).set(0.0);
        Ok(Mirror {
            store: Arc::new(store),
            cosigner: Cosigner::new(&name, key, 0)?,
            log,
            log_url: config.log_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .context("making the HTTP client")?,
            served: RwLock::new((head.checkpoint_c2sp, served_size)),
            status: RwLock::new(Status::default()),
        })
    }

    /// The vkey of the mirror's cosignatures (type 0x04), for the mirror's clients.
    pub fn vkey(&self) -> String {
        self.cosigner.vkey()
    }

    /// Follows the log every `interval` until it forks (then returns; the mirror keeps serving).
    pub async fn follow(self: Arc<Self>, interval: Duration) {
        let mut held = match self.held() {
            Ok(held) => held,
            Err(e) => {
                tracing::error!(error = %e, "reading the mirror's tree; not following the log");
                self.set_status(|s| s.last_error = Some(format!("{e:#}")));
                return;
            }
        };
        loop {
            match self.round(&mut held).await {
                Ok(()) => self.set_status(|s| s.last_error = None),
                Err(RoundError::Fork(why)) => {
                    tracing::error!(log = %self.log_url, reason = %why,
                        "the log forked: it signed a tree inconsistent with the one this mirror \
                         holds; the mirror keeps its copy, stops following and serves no more of \
                         the log");
                    metrics::gauge!(crate::metrics::MIRROR_FORKED).set(1.0);
                    self.set_status(|s| s.fork = Some(why));
                    return;
                }
                Err(RoundError::Failed(e)) => {
                    tracing::warn!(log = %self.log_url, error = format!("{e:#}"),
                        "mirroring round failed; nothing of it was stored");
                    self.set_status(|s| s.last_error = Some(format!("{e:#}")));
                }
            }
            tokio::time::sleep(interval).await;
        }
    }

    fn set_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.write().unwrap_or_else(|p| p.into_inner()));
    }

    /// The stored tree (next entry) as a right border, checked against the stored root.
    fn held(&self) -> anyhow::Result<RightBorder> {
        let head = self.store.head()?;
        Ok(crate::sequencer::right_border(self.store.as_ref(), &head)?)
    }

    /// One round: the log's checkpoint, checked and, when it is new, copied.
    async fn round(&self, held: &mut RightBorder) -> Result<(), RoundError> {
        let note = self.fetch_text("checkpoint").await?;
        let opened = checkpoint::open_c2sp(&note, &self.log, &[])
            .map_err(|e| anyhow::anyhow!("the log's checkpoint does not verify: {e}"))?;
        let cp = opened.checkpoint;
        self.set_status(|s| s.log_size = s.log_size.max(cp.size));
        metrics::gauge!(crate::metrics::MIRROR_LOG_TREE_SIZE).set(cp.size as f64);
        let (size, root) = (held.size(), held.root());
        if cp.size < size {
            // An older view of the log (a cache, a replica behind): it must be a prefix of ours.
            let ours = merkle::tree_hash(cp.size, &StoreHashes(self.store.as_ref()))
                .map_err(anyhow::Error::from)?;
            if ours != cp.root {
                return Err(RoundError::Fork(format!(
                    "the log signed root {} for tree size {}, but the tree this mirror holds \
                     has root {} at that size; the log's checkpoint:\n{note}",
                    cp.root.to_hex(),
                    cp.size,
                    ours.to_hex()
                )));
            }
            return Ok(());
        }
        let mut set = TileSet::new();
        if size > 0 {
            self.fetch_proof_tiles(&mut set, size, cp.size).await?;
            let proof = merkle::consistency_proof(size, cp.size, &set)
                .map_err(|e| anyhow::anyhow!("reading the proof from the log's tiles: {e}"))?;
            let log_old_root = if size.is_power_of_two() {
                merkle::tree_hash(size, &set).ok()
            } else {
                None
            };
            match classify(
                size,
                &root,
                cp.size,
                &cp.root,
                &proof,
                log_old_root.as_ref(),
            ) {
                Consistency::Extends => {}
                Consistency::Forked { log_old_root } => {
                    return Err(RoundError::Fork(format!(
                        "the log's tree of size {} (root {}) does not extend the tree of size \
                         {size} this mirror holds (root {}): the log's own hashes give root {} \
                         at that size; the log's checkpoint:\n{note}",
                        cp.size,
                        cp.root.to_hex(),
                        root.to_hex(),
                        log_old_root.map_or_else(|| "?".into(), |h| h.to_hex()),
                    )));
                }
                Consistency::Unverified(e) => {
                    return Err(RoundError::Failed(anyhow::anyhow!(
                        "the log's hash tiles do not prove its checkpoint of size {} \
                         consistent with the mirror's tree of size {size}: {e}",
                        cp.size
                    )));
                }
            }
        }
        if cp.size > size || self.served.read().unwrap_or_else(|p| p.into_inner()).1 < cp.size {
            self.copy(held, &cp, opened.note.text(), &note, &mut set)
                .await?;
        }
        Ok(())
    }

    /// Copies the entries `[held.size(), cp.size)` chunk by chunk, each verified against the
    /// signed root before it is committed, then commits the mirror checkpoint.
    async fn copy(
        &self,
        held: &mut RightBorder,
        cp: &Checkpoint,
        text: &str,
        note: &str,
        set: &mut TileSet,
    ) -> anyhow::Result<()> {
        let n = cp.size;
        let width = u64::from(TILE_WIDTH);
        let mut border = held.clone();
        loop {
            let next = border.size();
            let end = n.min((next / width + CHUNK_BUNDLES) * width);
            let bodies = self.fetch_entries(next, end, n).await?;
            let mut entries = Vec::with_capacity(bodies.len());
            let mut hashes = Vec::new();
            for body in bodies {
                let leaf_hash = merkle::record_hash(&body);
                hashes.extend(border.append(leaf_hash));
                entries.push(NewEntry {
                    body,
                    leaf_hash,
                    index_keys: Vec::new(),
                });
            }
            if end < n {
                self.fetch_proof_tiles(set, end, n).await?;
                let proof = merkle::consistency_proof(end, n, &*set)?;
                merkle::verify_consistency(end, n, &proof, &border.root(), &cp.root).map_err(
                    |e| {
                        anyhow::anyhow!(
                            "the log's entries [{next}, {end}) do not verify against its \
                             checkpoint of size {n}: {e}"
                        )
                    },
                )?;
            } else {
                ensure!(
                    border.root() == cp.root,
                    "the log's entries [{next}, {n}) do not verify against its checkpoint of size \
                     {n}: with the mirror's tree they do not hash to its root"
                );
            }
            let now = unix_now();
            let served_note = if end == n {
                let line = arkivo_core::witness::cosign(
                    &self.cosigner,
                    u64::try_from(now).unwrap_or(0),
                    text,
                )?;
                format!("{note}{line}")
            } else {
                self.served
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .clone()
            };
            let head = TreeHead {
                size: end,
                root: border.root(),
                timestamp: now,
                checkpoint_v1: String::new(),
                checkpoint_c2sp: served_note.clone(),
            };
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || {
                store.commit(&CommitBatch {
                    first_index: next,
                    integrated_time: now,
                    entries: &entries,
                    hashes: &hashes,
                    // A mirror cannot sign the log's SETs (it has no log key).
                    sets: &[],
                    head: &head,
                })
            })
            .await
            .context("the commit task panicked")??;
            *held = border.clone();
            if end == n {
                *self.served.write().unwrap_or_else(|p| p.into_inner()) = (served_note, n);
                metrics::gauge!(crate::metrics::MIRROR_TREE_SIZE).set(n as f64);
                return Ok(());
            }
        }
    }

    /// Adds to `set` the log's hash tiles (of its tree of `new` records) that hold the
    /// consistency proof from `old`, and for an old size that is a power of two, its root.
    async fn fetch_proof_tiles(&self, set: &mut TileSet, old: u64, new: u64) -> anyhow::Result<()> {
        for tile in consistency_proof_tiles(old, new)? {
            if merkle::consistency_proof(old, new, &*set).is_ok()
                && (!old.is_power_of_two() || merkle::tree_hash(old, &*set).is_ok())
            {
                break;
            }
            let data = self.fetch(&TilePath::Hashes(tile).to_string()).await?;
            set.insert(tile, &data)
                .with_context(|| format!("the log's {}", TilePath::Hashes(tile)))?;
        }
        Ok(())
    }

    /// The bodies of the log's entries `[from, to)`, from its entry bundles of the tree of
    /// `size` records (§4.5), fetched [`FETCHES_IN_FLIGHT`] at a time.
    async fn fetch_entries(&self, from: u64, to: u64, size: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        let width = u64::from(TILE_WIDTH);
        let mut jobs = JoinSet::new();
        let mut bundles: Vec<Option<Vec<Vec<u8>>>> = Vec::new();
        for (slot, index) in (from / width..to.div_ceil(width)).enumerate() {
            let bundle_width = (size - index * width).min(width);
            let tile = Tile::new(0, index, u16::try_from(bundle_width).unwrap_or(TILE_WIDTH))?;
            let path = TilePath::Entries(tile).to_string();
            let (http, url) = (self.http.clone(), format!("{}/{path}", self.log_url));
            bundles.push(None);
            if jobs.len() >= FETCHES_IN_FLIGHT {
                let (slot, got) = jobs.join_next().await.expect("jobs are running")?;
                bundles[slot] = Some(got?);
            }
            jobs.spawn(async move {
                let got = async {
                    let data = fetch_url(&http, &url).await?;
                    let entries = tiles::decode_entry_bundle(&data)
                        .with_context(|| format!("the log's {path}"))?;
                    ensure!(
                        entries.len() as u64 == bundle_width,
                        "the log's {path} holds {} entries, not {bundle_width}",
                        entries.len()
                    );
                    Ok::<Vec<Vec<u8>>, anyhow::Error>(
                        entries.into_iter().map(<[u8]>::to_vec).collect(),
                    )
                };
                (slot, got.await)
            });
        }
        while let Some(done) = jobs.join_next().await {
            let (slot, got) = done?;
            bundles[slot] = Some(got?);
        }
        let skip = usize::try_from(from % width).unwrap_or(0);
        let take = usize::try_from(to - from).unwrap_or(usize::MAX);
        Ok(bundles
            .into_iter()
            .flat_map(Option::unwrap_or_default)
            .skip(skip)
            .take(take)
            .collect())
    }

    async fn fetch(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        fetch_url(&self.http, &format!("{}/{path}", self.log_url)).await
    }

    async fn fetch_text(&self, path: &str) -> anyhow::Result<String> {
        String::from_utf8(self.fetch(path).await?)
            .with_context(|| format!("the log's {path} is not UTF-8"))
    }
}

/// The body of a 200 answer to `GET url`, refused past [`MAX_FETCH_BYTES`]: a log (or anyone on
/// the path) cannot make the mirror hold more.
async fn fetch_url(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let mut res = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    ensure!(
        res.status() == StatusCode::OK,
        "GET {url}: {}",
        res.status()
    );
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.with_context(|| format!("GET {url}"))? {
        ensure!(
            body.len() + chunk.len() <= MAX_FETCH_BYTES,
            "GET {url}: the answer is longer than {MAX_FETCH_BYTES} bytes, more than any tile, \
             entry bundle or checkpoint"
        );
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The tree size of a stored mirror checkpoint (0 when none was stored yet).
fn served_size(note: &str) -> anyhow::Result<u64> {
    if note.is_empty() {
        return Ok(0);
    }
    let parsed = note::parse(note.as_bytes()).context("the stored mirror checkpoint")?;
    Ok(Checkpoint::parse(&parsed.text)
        .context("the stored mirror checkpoint")?
        .size)
}

/// The mirror's routes: the tlog-tiles read API at the root and under `/<origin hash>`
/// (tlog-mirror "Introduction": the monitoring prefix followed by the hex SHA-256 of the log's
/// origin), its vkey at `/`, `/mirror/status`, `/metrics`, and a clear refusal of everything else.
pub fn router(mirror: Arc<Mirror>) -> Router {
    use sha2::Digest;
    let tiles = Router::new()
        .route("/checkpoint", get(serve_checkpoint))
        .route("/tile/{*path}", get(serve_tile))
        .route_layer(axum::middleware::from_fn(cache::conditional));
    let origin_hash = hex::encode(sha2::Sha256::digest(mirror.log.name().as_bytes()));
    Router::new()
        .merge(tiles.clone())
        .nest(&format!("/{origin_hash}"), tiles)
        .route(
            "/",
            get(|State(m): State<Arc<Mirror>>| async move { format!("{}\n", m.vkey()) }),
        )
        .route("/mirror/status", get(status))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(|| async { crate::metrics::render() }))
        .fallback(refuse)
        .with_state(mirror)
}

/// `GET /checkpoint`: the mirror checkpoint, the log's note with the mirror's cosignature.
async fn serve_checkpoint(State(m): State<Arc<Mirror>>) -> Response {
    let (note, size) = m.served.read().unwrap_or_else(|p| p.into_inner()).clone();
    if size == 0 && note.is_empty() {
        return tile_api::no_store(ApiError::new(
            StatusCode::NOT_FOUND,
            "this mirror has not copied any checkpoint of the log yet",
        ));
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(tile_api::CACHE_CHECKPOINT),
            ),
        ],
        note,
    )
        .into_response()
}

/// `GET /tile/...`: a tile of the mirror checkpoint's tree, from the raw path (as the log's).
async fn serve_tile(State(m): State<Arc<Mirror>>, uri: Uri) -> Response {
    let served = async {
        let tile_path = tile_api::parse_tile_path(uri.path())?;
        let size = m.served.read().unwrap_or_else(|p| p.into_inner()).1;
        let store = m.store.clone();
        let (body, modified) = tokio::task::spawn_blocking(move || {
            tile_api::read_tile(store.as_ref(), size, LogKind::Rekor, tile_path, 0)
        })
        .await
        .map_err(|e| ApiError::internal(&e))??;
        Ok::<_, ApiError>(tile_api::tile_response(&tile_path, body, modified))
    };
    served.await.unwrap_or_else(tile_api::no_store)
}

/// `GET /mirror/status`: the served tree, the log's, and a fork or the last failure.
async fn status(State(m): State<Arc<Mirror>>) -> Response {
    let status = m.status.read().unwrap_or_else(|p| p.into_inner()).clone();
    let size = m.served.read().unwrap_or_else(|p| p.into_inner()).1;
    axum::Json(serde_json::json!({
        "origin": m.log.name(),
        "log": m.log_url,
        "size": size,
        "logSize": status.log_size,
        "fork": status.fork,
        "lastError": status.last_error,
    }))
    .into_response()
}

/// Everything else: a mirror takes no writes (405) and serves no Rekor API (501), and says
/// where the log is.
async fn refuse(State(m): State<Arc<Mirror>>, method: Method, uri: Uri) -> ApiError {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "this is a read-only mirror of the log {}: write to the log at {}",
                m.log.name(),
                m.log_url
            ),
        );
    }
    if uri.path().starts_with("/api/") {
        return ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "this mirror of the log {} serves its tiles (/checkpoint, /tile/...), not the \
                 Rekor API: ask the log at {}",
                m.log.name(),
                m.log_url
            ),
        );
    }
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// Runs `arkivo mirror` until `shutdown` completes.
///
/// # Errors
/// As [`Mirror::open`]; the listen address cannot be bound.
pub async fn run(
    config: MirrorConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mirror = Arc::new(Mirror::open(&config)?);
    notice!(
        "mirror vkey (its cosignatures on the log's checkpoints):\n{}",
        mirror.vkey()
    );
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    notice!(
        "mirroring {} ({}) on {}",
        mirror.log.name(),
        mirror.log_url,
        listener.local_addr()?
    );
    let follower = tokio::spawn(mirror.clone().follow(config.poll_interval));
    let app = crate::api::server::App::new(router(mirror));
    crate::api::server::serve(listener, app, None, HEADER_READ_TIMEOUT, shutdown).await;
    follower.abort();
    notice!("shut down cleanly");
    Ok(())
}
