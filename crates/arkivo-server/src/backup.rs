//! `arkivo backup` and `arkivo restore`: a consistent copy of a log taken while it is served,
//! and a new data directory made from one.
//!
//! **A backup is a data directory**: `db/`, a RocksDB checkpoint, and `keys/`, copies of the
//! log's two private keys (mode 0600) wherever the server reads them from; for a rotated log
//! also every other shard's database and own keys under `shards/`, and the shard list; when the
//! server runs a CA, its CT log (`ct/`: a checkpoint of its database and its keys); and the TUF
//! repository (`tuf/`: the metadata and targets as served at one moment, and the online role
//! keys). So `arkivo verify-log --data-dir BACKUP` checks it as it is, and a backup must be kept
//! as safe as the keys. A checkpoint is a point-in-time copy of the whole database: hard links to the immutable
//! table files when the backup is on the same filesystem (taking it costs almost no space or
//! time; copy it elsewhere to survive the disk), copies otherwise, and the write-ahead log up to
//! one sequence number. It holds every commit finished before it started and none in part; since
//! the sequencer acknowledges an entry only after its batch's synced commit, **a backup holds
//! every entry acknowledged before `arkivo backup` started**.
//!
//! **Why the server takes it.** RocksDB lets one process open a database for writing, and only
//! that instance can make a checkpoint (it pauses file deletions and flushes its memtables); a
//! read-only or secondary instance cannot, and copying the files from outside could catch a
//! compaction half-way. So `arkivo serve` listens on a Unix socket in its data directory,
//! [`ADMIN_SOCKET`], mode 0600: only the server's own user (and root) can connect, never anyone
//! over the network, whatever proxy or sidecar sits in front of the HTTP port. `arkivo backup`
//! asks the server there (`POST /backup` with `{"to": "/absolute/dir"}`); when no server
//! answers, it opens the log itself (holding RocksDB's lock, so no server can start meanwhile)
//! and does the same. `arkivo shard rotate` goes the same way (`POST /rotate`), because only
//! the server's sequencer may switch the shard it appends to; one lock orders backups and
//! rotations, so a backup never holds half a rotation.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api::ApiError;
use crate::ct::CT_DIR;
use crate::datadir::{self, KeyPaths, LogPaths};
use crate::keyfile;
use crate::log::LogIdentity;
use crate::sequencer::{SequencerHandle, View};
use crate::shards::Manifest;
use crate::storage::LogStore;
use crate::storage::rocks::RocksStore;

/// The admin socket's file name in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// What a backup (or a restored data directory) holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub tree_size: u64,
    pub root_hash: String,
}

/// The open stores of a log's shards and the list that names them (oldest first, as in the
/// data directory's shard list), and the CT log's store when there is one: what backups copy
/// and rotations extend.
pub struct DiskShards {
    pub manifest: Manifest,
    pub stores: Vec<Arc<RocksStore>>,
    pub ct: Option<Arc<RocksStore>>,
}

impl DiskShards {
    /// The shards of `opened`, without a CT log.
    pub fn new(opened: &datadir::OpenedLog) -> Self {
        DiskShards {
            manifest: opened.manifest(),
            stores: opened.shards.iter().map(|s| s.store.clone()).collect(),
            ct: None,
        }
    }

    /// Bytes on disk and memory of every shard's database (the block cache is shared).
    pub fn usage(&self) -> anyhow::Result<crate::metrics::StorageUsage> {
        let mut usage = crate::metrics::StorageUsage::default();
        for store in &self.stores {
            let memory = store.memory()?;
            usage.disk_bytes += store.disk_bytes()?;
            usage.memory.memtables += memory.memtables;
            usage.memory.table_readers += memory.table_readers;
            usage.memory.block_cache = memory.block_cache;
        }
        Ok(usage)
    }
}

/// Writes a backup of the log whose shards are `shards` and whose configured keys are at
/// `paths`, with the TUF repository's files `tuf` (see [`crate::tuf::Repository::files`]), into
/// the new directory `to`. On failure nothing is left at `to`.
pub fn backup(
    shards: &DiskShards,
    paths: &LogPaths,
    tuf: &crate::tuf::Files,
    to: &Path,
) -> anyhow::Result<Snapshot> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    // A new directory every time: two backups never mix, and an old one is never overwritten.
    fs::DirBuilder::new()
        .mode(0o700)
        .create(to)
        .with_context(|| {
            format!(
                "creating {} (a backup goes into a new directory)",
                to.display()
            )
        })?;
    let written = write_backup(shards, paths, tuf, to);
    if written.is_err() {
        let _ = fs::remove_dir_all(to);
    }
    written
}

fn write_backup(
    shards: &DiskShards,
    paths: &LogPaths,
    tuf: &crate::tuf::Files,
    to: &Path,
) -> anyhow::Result<Snapshot> {
    let copy = LogPaths::new(to, None, None);
    // The keys and the other shards first, the first shard's database last (RocksDB renames a
    // checkpoint into place when complete): a backup directory with a `db/` is a whole backup.
    copy_keys(&paths.keys(None), &copy.keys(None))?;
    for dir in shards.manifest.key_dirs() {
        copy_keys(&paths.keys(Some(dir)), &copy.keys(Some(dir)))?;
    }
    let mut first = None;
    for (record, store) in shards.manifest.shards.iter().zip(&shards.stores) {
        if record.db == "db" {
            first = Some(store);
            continue;
        }
        let db = to.join(&record.db);
        if let Some(parent) = db.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        store
            .checkpoint_to(&db)
            .with_context(|| format!("making a RocksDB checkpoint in {}", db.display()))?;
    }
    if shards.manifest.shards.len() > 1 {
        datadir::write_manifest(to, &shards.manifest)?;
    }
    if let Some(ct) = &shards.ct {
        let (from, into) = (paths.data_dir.join(CT_DIR), to.join(CT_DIR));
        create_private_dir(&into)?;
        copy_keys(
            &KeyPaths::in_dir(&from.join("keys")),
            &KeyPaths::in_dir(&into.join("keys")),
        )?;
        ct.checkpoint_to(&into.join("db"))
            .with_context(|| format!("making a RocksDB checkpoint in {}/db", into.display()))?;
    }
    copy_tuf(tuf, &paths.data_dir, to)?;
    copy_authorities(&paths.data_dir, to)?;
    first
        .context("the log's first shard is not in db/")?
        .checkpoint_to(&copy.db())
        .with_context(|| format!("making a RocksDB checkpoint in {}", copy.db().display()))?;
    // Opening the copy checks that it is a log whose keys belong to it.
    snapshot(&copy)
}

fn copy_keys(from: &KeyPaths, to: &KeyPaths) -> anyhow::Result<()> {
    copy_key(&from.ecdsa, &to.ecdsa)?;
    copy_key(&from.ed25519, &to.ed25519)
}

fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    keyfile::write_private_key(to, keyfile::read_private_key(from)?.as_bytes())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Copies the files of the timestamp authority and the CA made in the data directory `from` (not
/// those configured from elsewhere), and the record of replaced TSAs, into the data directory
/// `to` where it has none: without them a restored server would make a new TSA and CA, which
/// clients do not trust yet.
fn copy_authorities(from: &Path, to: &Path) -> anyhow::Result<()> {
    let (tsa_key, tsa_chain) = datadir::default_tsa_files(from);
    let [ca_root_key, ca_key, ca_chain] = crate::ca::default_files(from);
    let private = [tsa_key, ca_root_key, ca_key];
    let public = [tsa_chain, ca_chain, from.join(datadir::TSA_HISTORY_FILE)];
    for (file, private) in private
        .iter()
        .map(|f| (f, true))
        .chain(public.iter().map(|f| (f, false)))
    {
        let dest = to.join(
            file.strip_prefix(from)
                .expect("a file of the data directory"),
        );
        if !file.exists() || dest.exists() {
            continue;
        }
        if private {
            copy_key(file, &dest)?;
        } else {
            let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            arkivo_core::durable::replace(&dest, &bytes, 0o644)
                .with_context(|| format!("writing {}", dest.display()))?;
        }
    }
    Ok(())
}

/// Writes the TUF repository's `files` into the data directory `to`, in the order that keeps it
/// consistent at every moment, and copies the online role keys of the data directory `from`.
fn copy_tuf(files: &crate::tuf::Files, from: &Path, to: &Path) -> anyhow::Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    crate::tuf::write_files(
        &crate::tuf::repository_dir(to),
        &crate::tuf::write_order(files.as_ref().clone()),
    )?;
    let keys = crate::tuf::keys_dir(from);
    let entries = match fs::read_dir(&keys) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", keys.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", keys.display()))?;
        if entry.file_type()?.is_file() {
            copy_key(
                &entry.path(),
                &crate::tuf::keys_dir(to).join(entry.file_name()),
            )?;
        }
    }
    Ok(())
}

/// Opens the log in `paths` and reads its active shard's tree head.
fn snapshot(paths: &LogPaths) -> anyhow::Result<Snapshot> {
    let opened = datadir::open(paths, None, false)?;
    let head = opened.active().store.head()?;
    Ok(Snapshot {
        tree_size: head.size,
        root_hash: head.root.to_hex(),
    })
}

/// Makes the data directory of `paths` from the backup in `from`. Refuses when a log exists
/// there; keeps key files that exist at `paths` (they must then belong to the backed-up log, as
/// when the keys come from a secret store) and copies the backup's keys where none exist.
///
/// The first shard's database is moved into `db/` last: a log always has it (it is created
/// first and never removed), so a data directory without it holds no log, only what a restore
/// that died half-way left, which the next restore replaces.
pub fn restore(from: &Path, paths: &LogPaths) -> anyhow::Result<Snapshot> {
    let source = LogPaths::new(from, None, None);
    if !source.db().join("CURRENT").is_file() {
        bail!(
            "{} is not a backup made by `arkivo backup`: it has no database in db/",
            from.display()
        );
    }
    let manifest = datadir::read_manifest(from)?;
    let db = paths.db();
    if db.exists() {
        bail!(
            "a log already exists in {}; restore into a new data directory (nothing was changed)",
            paths.data_dir.display()
        );
    }
    fs::create_dir_all(&paths.data_dir)
        .with_context(|| format!("creating {}", paths.data_dir.display()))?;
    // Left by a restore that died half-way (see above).
    let staging = paths.data_dir.join("db.restoring");
    for leftover in [
        staging.clone(),
        paths.data_dir.join("shards"),
        paths.data_dir.join(CT_DIR),
        paths.data_dir.join("tuf"),
    ] {
        if leftover.exists() {
            fs::remove_dir_all(&leftover)
                .with_context(|| format!("removing {}", leftover.display()))?;
        }
    }
    let _ = fs::remove_file(paths.data_dir.join(crate::shards::MANIFEST_FILE));
    copy_files(&source.db(), &staging)?;
    let mut new_keys = Vec::new();
    for (from, to) in [
        (&source.ecdsa_key, &paths.ecdsa_key),
        (&source.ed25519_key, &paths.ed25519_key),
    ] {
        if !to.exists() {
            copy_key(from, to)?;
            new_keys.push(to.clone());
        }
    }
    if let Some(manifest) = &manifest {
        for dir in manifest.key_dirs() {
            copy_keys(&source.keys(Some(dir)), &paths.keys(Some(dir)))?;
        }
        for record in &manifest.shards {
            if record.db != "db" {
                let to = paths.data_dir.join(&record.db);
                if let Some(parent) = to.parent() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                copy_files(&from.join(&record.db), &to)?;
            }
        }
        datadir::write_manifest(&paths.data_dir, manifest)?;
    }
    let ct = from.join(CT_DIR);
    if ct.join("db").is_dir() {
        let into = paths.data_dir.join(CT_DIR);
        create_private_dir(&into)?;
        copy_keys(
            &KeyPaths::in_dir(&ct.join("keys")),
            &KeyPaths::in_dir(&into.join("keys")),
        )?;
        copy_files(&ct.join("db"), &into.join("db"))?;
    }
    copy_tuf(
        &Arc::new(crate::tuf::read_files(&crate::tuf::repository_dir(from))?),
        from,
        &paths.data_dir,
    )?;
    copy_authorities(from, &paths.data_dir)?;
    fs::rename(&staging, &db).with_context(|| format!("moving the copy to {}", db.display()))?;
    sync_dir(&paths.data_dir)?;
    snapshot(paths).map_err(|e| {
        let _ = fs::remove_dir_all(&db);
        for key in new_keys {
            let _ = fs::remove_file(key);
        }
        e.context("the restored log does not open, so it was removed again")
    })
}

/// Copies the files of `from` (a RocksDB directory: no subdirectories) into the new directory
/// `to`, durably.
fn copy_files(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(to)
        .with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if !entry.file_type()?.is_file() {
            bail!(
                "{} is not a file; is {} a backup?",
                src.display(),
                from.display()
            );
        }
        fs::copy(&src, &dst)
            .and_then(|_| fs::File::open(&dst)?.sync_all())
            .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    }
    sync_dir(to)
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// The admin socket of the server serving `data_dir`.
pub fn admin_socket(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_SOCKET)
}

/// The server end of the admin socket; [`AdminServer::shutdown`] stops it and removes the socket.
pub struct AdminServer {
    socket: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

struct Admin {
    /// Held for a whole backup or rotation: they never overlap.
    shards: Arc<Mutex<DiskShards>>,
    paths: LogPaths,
    sequencer: SequencerHandle,
    /// The TUF repository, backed up with the log.
    tuf: Arc<crate::tuf::Repository>,
}

/// What `POST /tuf/root` needs: the TUF repository, and what its targets are made from.
struct TufAdmin {
    tuf: Arc<crate::tuf::Repository>,
    trust: crate::api::AppState,
}

#[derive(Deserialize)]
struct BackupRequest {
    to: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RotateRequest {
    new_keys: bool,
}

/// What a rotation made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// The frozen shard and its final size.
    pub frozen_tree_id: i64,
    pub frozen_tree_size: u64,
    /// The new active shard, its C2SP origin and checkpoint verifier key (for witnesses and
    /// tile clients), and its ECDSA public key (PEM).
    pub active_tree_id: i64,
    pub origin: String,
    pub checkpoint_vkey: String,
    pub public_key: String,
}

/// Listens on the Unix socket `socket`, which has mode 0600 from its first moment: it is bound in
/// a fresh directory only this user may enter, restricted there, then renamed into place. Bound
/// in place, it would have the umask's mode (often 0755 or 0777) until the `chmod`, and another
/// local user could connect in that window and keep a connection to ask for backups and
/// rotations.
fn bind_private(socket: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    let dir = socket.with_extension(format!("staging-{}", std::process::id()));
    // Left by a server that died with the same process ID: its socket is dead.
    let _ = fs::remove_dir_all(&dir);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let staged = dir.join(ADMIN_SOCKET);
    let bound = tokio::net::UnixListener::bind(&staged)
        .with_context(|| format!("listening on {}", staged.display()))
        .and_then(|listener| {
            fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restricting {}", staged.display()))?;
            fs::rename(&staged, socket)
                .with_context(|| format!("moving the admin socket to {}", socket.display()))?;
            Ok(listener)
        });
    let _ = fs::remove_dir_all(&dir);
    bound
}

/// Listens on the admin socket of `paths.data_dir`. Call with the log open: RocksDB's lock
/// then guarantees that a socket file already there was left by a server that died (on
/// PostgreSQL, each frontend has a data directory of its own).
///
/// `shards` is `None` for a log stored in PostgreSQL, whose backups are the database's: its
/// frontends answer only `POST /tuf/root` (installed by the leader only,
/// [`crate::tuf::Repository::install_root`]).
pub fn serve_admin(
    shards: Option<Arc<Mutex<DiskShards>>>,
    paths: LogPaths,
    tuf: Arc<crate::tuf::Repository>,
    trust: crate::api::AppState,
) -> anyhow::Result<AdminServer> {
    let socket = admin_socket(&paths.data_dir);
    match fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", socket.display())),
    }
    let listener = bind_private(&socket)?;
    let mut app = axum::Router::new()
        .route("/tuf/root", axum::routing::post(install_root_handler))
        .with_state(Arc::new(TufAdmin {
            tuf: tuf.clone(),
            trust: trust.clone(),
        }));
    if let Some(shards) = shards {
        app = app.merge(
            axum::Router::new()
                .route("/backup", axum::routing::post(backup_handler))
                .route("/rotate", axum::routing::post(rotate_handler))
                .with_state(Arc::new(Admin {
                    shards,
                    paths,
                    sequencer: trust.sequencer.clone(),
                    tuf,
                })),
        );
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "the admin socket stopped");
        }
    });
    Ok(AdminServer { socket, stop, task })
}

impl AdminServer {
    /// Stops listening, waits for a backup or rotation in progress, and removes the socket.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        let _ = fs::remove_file(&self.socket);
    }
}

/// Runs `work` on the blocking pool and answers its result as JSON, or its whole error (the
/// admin socket's clients are the server's operators) as a 500.
async fn admin_answer<T: Serialize + Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Response {
    let done = tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the admin task failed: {e}")));
    match done {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response()
        }
    }
}

async fn backup_handler(
    State(admin): State<Arc<Admin>>,
    Json(req): Json<BackupRequest>,
) -> Response {
    if !req.to.is_absolute() {
        return ApiError::bad_request("the backup directory must be an absolute path")
            .into_response();
    }
    admin_answer(move || {
        let shards = admin.shards.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot = backup(&shards, &admin.paths, &admin.tuf.files(), &req.to)?;
        tracing::info!(path = %req.to.display(), tree_size = snapshot.tree_size, "backup written");
        Ok(snapshot)
    })
    .await
}

/// `arkivo tuf install-root`: the body is the signed root version.
async fn install_root_handler(
    State(admin): State<Arc<TufAdmin>>,
    body: axum::body::Bytes,
) -> Response {
    let targets = crate::tuf::targets(&admin.trust, &admin.trust.sequencer.published().view());
    match admin.tuf.install_root(&body, targets).await {
        Ok(version) => Json(version).into_response(),
        Err(e) => ApiError::bad_request(format!("{e:#}")).into_response(),
    }
}

async fn rotate_handler(
    State(admin): State<Arc<Admin>>,
    Json(req): Json<RotateRequest>,
) -> Response {
    admin_answer(move || {
        let mut shards = admin.shards.lock().unwrap_or_else(|p| p.into_inner());
        let made = Arc::new(Mutex::new(None));
        let (paths, manifest, slot) = (admin.paths.clone(), shards.manifest.clone(), made.clone());
        let view = admin
            .sequencer
            .rotate(Box::new(move |active| {
                let (shard, manifest) =
                    datadir::create_shard(&paths, &manifest, active, req.new_keys)?;
                let new = shard.shard();
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((shard.store, manifest));
                Ok(new)
            }))
            .map_err(|e| anyhow::anyhow!("the log was not rotated: {e}"))?;
        let (store, manifest) = made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .context("the new shard was not recorded")?;
        shards.stores.push(store);
        shards.manifest = manifest;
        Ok(Rotation::of(&view))
    })
    .await
}

impl Rotation {
    /// The rotation that froze tree `frozen_tree_id` at `frozen_tree_size` and made `active`.
    pub fn new(frozen_tree_id: i64, frozen_tree_size: u64, active: &LogIdentity) -> Self {
        Rotation {
            frozen_tree_id,
            frozen_tree_size,
            active_tree_id: active.meta.tree_id,
            origin: active.meta.origin.clone(),
            checkpoint_vkey: active.keys.ed25519_verifier(&active.meta.origin).vkey(),
            public_key: active.keys.ecdsa_public_pem(),
        }
    }

    /// The rotation that made `view`.
    fn of(view: &View) -> Self {
        let frozen = view.frozen.last().expect("a rotation froze a shard");
        Rotation::new(frozen.tree_id(), frozen.head.size, view.active.identity())
    }
}

/// Asks the server serving `data_dir` to back it up into `to` (absolute). `None` when no server
/// listens there.
pub fn ask_server(data_dir: &Path, to: &Path) -> anyhow::Result<Option<Snapshot>> {
    let to = to
        .to_str()
        .with_context(|| format!("{} is not UTF-8", to.display()))?;
    ask(data_dir, "/backup", &serde_json::json!({ "to": to }))
        .map_err(|e| e.context("the server could not back up the log"))
}

/// Asks the server serving `data_dir` to rotate the log. `None` when no server listens there.
pub fn ask_rotate(data_dir: &Path, new_keys: bool) -> anyhow::Result<Option<Rotation>> {
    ask(
        data_dir,
        "/rotate",
        &serde_json::json!({ "newKeys": new_keys }),
    )
}

/// Asks the server serving `data_dir` to install a root version; `None` when no server listens.
pub fn ask_install_root(data_dir: &Path, root: &[u8]) -> anyhow::Result<Option<u64>> {
    let root: serde_json::Value =
        serde_json::from_slice(root).context("the root version is not JSON")?;
    ask(data_dir, "/tuf/root", &root)
}

/// Posts `body` to `path` on the admin socket of `data_dir`; `None` when no server listens.
fn ask<T: serde::de::DeserializeOwned>(
    data_dir: &Path,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<Option<T>> {
    let socket = admin_socket(data_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "connecting to {} (run arkivo as the server's user)",
                    socket.display()
                )
            });
        }
    };
    let body = body.to_string();
    // One request on a connection the server closes after answering: plain HTTP/1.1 suffices.
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: arkivo\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .with_context(|| format!("writing to {}", socket.display()))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .with_context(|| format!("reading from {}", socket.display()))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .with_context(|| format!("the server answered {answer:?}"))?;
    if !head.starts_with("HTTP/1.1 200 ") {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.to_owned());
        bail!("{message}");
    }
    serde_json::from_str(body)
        .map(Some)
        .with_context(|| format!("the server answered {body:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[tokio::test]
    async fn the_admin_socket_is_private_and_reachable_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let socket = admin_socket(dir.path());
        let _listener = bind_private(&socket).unwrap();
        let meta = fs::symlink_metadata(&socket).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [ADMIN_SOCKET], "the staging directory is removed");
    }
}
