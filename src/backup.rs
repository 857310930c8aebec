//! `arkivo backup` and `arkivo restore`: a consistent copy of a log taken while it is served,
//! and a new data directory made from one.
//!
//! **A backup is a data directory**: `db/`, a RocksDB checkpoint, and `keys/`, copies of the
//! log's two private keys (mode 0600) wherever the server reads them from. So `arkivo
//! verify-log --data-dir BACKUP` checks it as it is, and a backup must be kept as safe as the
//! keys. A checkpoint is a point-in-time copy of the whole database: hard links to the immutable
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
//! and does the same.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api::ApiError;
use crate::datadir::{self, LogPaths};
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

/// Writes a backup of the log open in `store`, whose keys are at `paths`, into the new
/// directory `to`. On failure nothing is left at `to`.
pub fn backup(store: &RocksStore, paths: &LogPaths, to: &Path) -> anyhow::Result<Snapshot> {
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
    let written = write_backup(store, paths, to);
    if written.is_err() {
        let _ = fs::remove_dir_all(to);
    }
    written
}

fn write_backup(store: &RocksStore, paths: &LogPaths, to: &Path) -> anyhow::Result<Snapshot> {
    let copy = LogPaths::new(to, None, None);
    // The keys first and the database last (RocksDB renames it into place when complete): a
    // backup directory with a `db/` is a whole backup.
    copy_key(&paths.ecdsa_key, &copy.ecdsa_key)?;
    copy_key(&paths.ed25519_key, &copy.ed25519_key)?;
    store
        .checkpoint_to(&copy.db())
        .with_context(|| format!("making a RocksDB checkpoint in {}", copy.db().display()))?;
    // Opening the copy checks that it is a log whose keys belong to it.
    snapshot(&copy)
}

fn copy_key(from: &Path, to: &Path) -> anyhow::Result<()> {
    datadir::write_private_key(to, datadir::read_private_key(from)?.as_bytes())
}

/// Opens the log in `paths` and reads its tree head.
fn snapshot(paths: &LogPaths) -> anyhow::Result<Snapshot> {
    let opened = datadir::open(paths, None, false)?;
    let head = opened.store.head()?;
    Ok(Snapshot {
        tree_size: head.size,
        root_hash: head.root.to_hex(),
    })
}

/// Makes the data directory of `paths` from the backup in `from`. Refuses when a log exists
/// there; keeps key files that exist at `paths` (they must then belong to the backed-up log, as
/// when the keys come from a secret store) and copies the backup's keys where none exist.
pub fn restore(from: &Path, paths: &LogPaths) -> anyhow::Result<Snapshot> {
    let source = LogPaths::new(from, None, None);
    if !source.db().join("CURRENT").is_file() {
        bail!(
            "{} is not a backup made by `arkivo backup`: it has no database in db/",
            from.display()
        );
    }
    let db = paths.db();
    if db.exists() {
        bail!(
            "a log already exists in {}; restore into a new data directory (nothing was changed)",
            paths.data_dir.display()
        );
    }
    fs::create_dir_all(&paths.data_dir)
        .with_context(|| format!("creating {}", paths.data_dir.display()))?;
    // The database is copied beside its final place and renamed into it: a restore that dies
    // half-way leaves only this staging directory, which `serve` never opens and the next
    // restore replaces.
    let staging = paths.data_dir.join("db.restoring");
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    copy_files(&source.db(), &staging)?;
    let mut new_keys = Vec::new();
    for (from, to) in [
        (&source.ecdsa_key, &paths.ecdsa_key),
        (&source.ed25519_key, &paths.ed25519_key),
    ] {
        if !to.exists() {
            copy_key(from, to)?;
            new_keys.push(to);
        }
    }
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
    store: Arc<RocksStore>,
    paths: LogPaths,
}

#[derive(Deserialize)]
struct BackupRequest {
    to: PathBuf,
}

/// Listens on the admin socket of `paths.data_dir`. Call with the log open: RocksDB's lock
/// then guarantees that a socket file already there was left by a server that died.
pub fn serve_admin(store: Arc<RocksStore>, paths: LogPaths) -> anyhow::Result<AdminServer> {
    let socket = admin_socket(&paths.data_dir);
    match fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", socket.display())),
    }
    let listener = tokio::net::UnixListener::bind(&socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", socket.display()))?;
    let app = axum::Router::new()
        .route("/backup", axum::routing::post(backup_handler))
        .with_state(Arc::new(Admin { store, paths }));
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
    /// Stops listening, waits for a backup in progress, and removes the socket.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        let _ = fs::remove_file(&self.socket);
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
    let to = req.to.clone();
    let done = tokio::task::spawn_blocking(move || backup(&admin.store, &admin.paths, &req.to))
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the backup task failed: {e}")));
    match done {
        Ok(snapshot) => {
            tracing::info!(path = %to.display(), tree_size = snapshot.tree_size, "backup written");
            Json(snapshot).into_response()
        }
        // The admin socket's clients are the server's operators: they get the whole cause.
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response()
        }
    }
}

/// Asks the server serving `data_dir` to back it up into `to` (absolute). `None` when no server
/// listens there.
pub fn ask_server(data_dir: &Path, to: &Path) -> anyhow::Result<Option<Snapshot>> {
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
                    "connecting to {} (run arkivo backup as the server's user)",
                    socket.display()
                )
            });
        }
    };
    let to = to
        .to_str()
        .with_context(|| format!("{} is not UTF-8", to.display()))?;
    let body = serde_json::json!({ "to": to }).to_string();
    // One request on a connection the server closes after answering: plain HTTP/1.1 suffices.
    write!(
        stream,
        "POST /backup HTTP/1.1\r\nHost: arkivo\r\nContent-Type: application/json\r\n\
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
    let ok = head.starts_with("HTTP/1.1 200 ");
    if !ok {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.to_owned());
        bail!("the server could not back up the log: {message}");
    }
    serde_json::from_str(body)
        .map(Some)
        .with_context(|| format!("the server answered {body:?}"))
}
