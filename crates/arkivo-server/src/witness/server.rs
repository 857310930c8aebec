//! `arkivo witness`: a witness server speaking tlog-witness (c2sp.org/tlog-witness,
//! tiles-checkpoints-witnesses.md §3.2).
//!
//! It cosigns the checkpoints of the logs it is configured with (each given by the vkey of its
//! Ed25519 checkpoint key) with its own cosignature/v1 key (§3.1) — but only a checkpoint that
//! is consistent with the latest one it cosigned for that origin, which it persists, synced,
//! before answering. That is the point of a witness: having cosigned tree A at size n, it
//! refuses every checkpoint of size ≥ n that does not extend A, across restarts, so a log
//! cannot show two different trees to two sets of clients without one of them lacking the
//! witness's cosignature.
//!
//! Routes: `POST /add-checkpoint` (the submission prefix is the server's root), `GET /` (the
//! witness's vkey, to configure logs with), `GET /healthz`.
//!
//! Data directory: `db/` (RocksDB, [`super::store`]) and `keys/witness-ed25519.pem` (PKCS#8
//! PEM, mode 0600, created on first start; refused if group or others can read it). The
//! witness's name is fixed when it is created: it is part of its vkey.

use crate::logging::notice;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::timeout::TimeoutLayer;

use super::store::{self, WitnessMeta, WitnessStore};
use crate::config::WitnessConfig;
use crate::storage::StorageError;
use arkivo_core::limits::{HEADER_READ_TIMEOUT, MAX_ADD_CHECKPOINT_BYTES};
use arkivo_core::note::{self, Cosigner, NoteError, NoteSigner};
use arkivo_core::witness::{self, KnownLogs, Refusal, SIZE_CONTENT_TYPE};

/// The cosigning key's file under the data directory.
const KEY_FILE: &str = "keys/witness-ed25519.pem";

const TEXT: &str = "text/plain; charset=utf-8";

/// A witness: its cosigning key, the logs it witnesses, and its state.
#[derive(Debug)]
pub struct Witness {
    cosigner: Cosigner,
    logs: KnownLogs,
    store: WitnessStore,
}

#[derive(Debug, thiserror::Error)]
pub enum AddCheckpointError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("storing the witness's state: {0}")]
    Storage(#[from] StorageError),
    #[error("cosigning: {0}")]
    Signing(#[from] NoteError),
}

impl Witness {
    /// Opens the witness in `config.data_dir`, creating it (key and state) on first start.
    ///
    /// # Errors
    ///
    /// No log to witness, a bad log vkey, a key file readable by others or not belonging to the
    /// data, a `name` other than the one the witness was created with, storage failures.
    pub fn open(config: &WitnessConfig) -> anyhow::Result<Witness> {
        let logs = KnownLogs::from_vkeys(&config.logs)?;
        ensure!(
            !logs.is_empty(),
            "a witness needs at least one log to witness: give --log <vkey> (the log's Ed25519 \
             checkpoint vkey, whose name is its origin) or `logs` in the config file"
        );
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let db = dir.join("db");
        let store = WitnessStore::open(&db)
            .with_context(|| format!("opening the witness database in {}", db.display()))?;
        let key_path = dir.join(KEY_FILE);
        let (name, key) = match store.meta()? {
            Some(meta) => {
                let key = read_key(&key_path)?;
                ensure!(
                    key.verifying_key().to_bytes() == meta.public_key,
                    "the key in {} does not belong to the witness in {}; refusing to start",
                    key_path.display(),
                    dir.display()
                );
                if let Some(name) = &config.name
                    && *name != meta.name
                {
                    bail!(
                        "this witness was created with name {:?}, which is part of its vkey and \
                         cannot change; drop --name {name:?}",
                        meta.name
                    );
                }
                (meta.name, key)
            }
            None => {
                let name = config.name.clone().unwrap_or_else(|| config.listen.clone());
                ensure!(
                    note::is_valid_name(&name),
                    "invalid witness name {name:?}: it names the witness's cosignatures, so it \
                     must be non-empty and contain no whitespace or '+' (e.g. \
                     witness.example.internal/w1)"
                );
                // A key file without state is a supplied key, or one written by a first start
                // that stopped before recording the state: use it rather than overwrite it.
                let key = read_or_make_key(&key_path)?;
                store.create(&WitnessMeta {
                    format_version: store::FORMAT_VERSION,
                    name: name.clone(),
                    public_key: key.verifying_key().to_bytes(),
                })?;
                notice!("created a new witness in {}: name {name}", dir.display());
                (name, key)
            }
        };
        let cosigner = Cosigner::new(&name, key, 0)?;
        Ok(Witness {
            cosigner,
            logs,
            store,
        })
    }

    /// The vkey of the witness's cosigning key (type 0x04), for the logs' configuration.
    pub fn vkey(&self) -> String {
        self.cosigner.vkey()
    }

    pub fn name(&self) -> &str {
        self.cosigner.name()
    }

    pub fn logs(&self) -> &KnownLogs {
        &self.logs
    }

    /// Answers one `add-checkpoint` request (§3.2) at time `now` (POSIX seconds): the
    /// cosignature line, made only after the new state is durable.
    ///
    /// # Errors
    ///
    /// [`AddCheckpointError::Refused`] with the status to answer; storage and signing failures
    /// (then nothing was cosigned).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, AddCheckpointError> {
        let request = witness::verify_request(body, &self.logs)?;
        let cp = &request.checkpoint;
        if let Err(refusal) = self
            .store
            .update(&cp.origin, |latest| witness::decide(&request, latest))?
        {
            // §3.2: the witness MAY keep a validly signed but inconsistent checkpoint, as it
            // may be proof of log misbehaviour: the server log keeps it.
            if let Refusal::Inconsistent(why) = &refusal {
                tracing::warn!(
                    origin = %cp.origin, old_size = request.old_size, size = cp.size,
                    checkpoint = ?request.note, reason = %why,
                    "refused a validly signed checkpoint that is inconsistent with the one \
                     cosigned before (evidence of log misbehaviour)"
                );
            }
            return Err(refusal.into());
        }
        Ok(witness::cosign(&self.cosigner, now, &request.text)?)
    }
}

/// The Ed25519 cosigning key in `path`, made (mode 0600) when the file does not exist.
pub(crate) fn read_or_make_key(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        return read_key(path);
    }
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let pem = key
        .to_pkcs8_pem(pkcs8::LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the cosigning key: {e}"))?;
    crate::keyfile::write_private_key(path, pem.as_bytes())?;
    Ok(key)
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = crate::keyfile::read_private_key(path)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a PKCS#8 PEM Ed25519 private key: {e}",
            path.display()
        )
    })
}

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/", get(vkey))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such route\n") })
        .layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            crate::api::REQUEST_TIMEOUT,
        ))
        .with_state(witness)
}

async fn vkey(State(witness): State<Arc<Witness>>) -> Response {
    (
        [(header::CONTENT_TYPE, TEXT)],
        format!("{}\n", witness.vkey()),
    )
        .into_response()
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let now = u64::try_from(crate::log::unix_now()).unwrap_or(0);
    // Verification and a synced write: blocking work, off the async threads.
    let result = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now)).await;
    match result {
        Ok(Ok(lines)) => ([(header::CONTENT_TYPE, TEXT)], lines).into_response(),
        Ok(Err(AddCheckpointError::Refused(refusal))) => refusal_response(&refusal),
        Ok(Err(e)) => internal(&e),
        Err(e) => internal(&e),
    }
}

/// The answer to a refusal (§3.2): its status code; a 409 carries the latest cosigned size as
/// `text/x.tlog.size`, the others say why in plain text.
pub(crate) fn refusal_response(refusal: &Refusal) -> Response {
    let status =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match refusal {
        Refusal::OldSizeMismatch { latest, .. } => (
            status,
            [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
            witness::size_body(*latest),
        )
            .into_response(),
        other => (status, [(header::CONTENT_TYPE, TEXT)], format!("{other}\n")).into_response(),
    }
}

fn internal(cause: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %cause, "add-checkpoint failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, TEXT)],
        "internal error: the checkpoint was not cosigned\n",
    )
        .into_response()
}

/// Runs `arkivo witness` until `shutdown` completes.
///
/// # Errors
///
/// As [`Witness::open`]; the listen address cannot be bound.
pub async fn run(config: WitnessConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let witness = Arc::new(Witness::open(&config)?);
    notice!(
        "witness vkey (the `vkey` of this witness in a log's [[witnesses]]):\n{}",
        witness.vkey()
    );
    for log in witness.logs().vkeys() {
        notice!("witnessing log {log}");
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    notice!(
        "serving witness {} on {} (POST /add-checkpoint)",
        witness.name(),
        listener.local_addr()?
    );
    let app = crate::api::server::App::new(
        NormalizePathLayer::trim_trailing_slash().layer(router(witness)),
    );
    crate::api::server::serve(listener, app, None, HEADER_READ_TIMEOUT, shutdown).await;
    notice!("shut down cleanly");
    Ok(())
}
