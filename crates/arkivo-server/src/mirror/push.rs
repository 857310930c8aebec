//! `arkivo mirror --push`: the mirror is sent the log (c2sp.org/tlog-mirror "Updating a
//! Mirror") instead of following it.
//!
//! - `POST /add-checkpoint` updates the *pending checkpoint*, handled as a witness handles it
//!   (tlog-witness §3.2: the same parsing, signature check by the log's key, consistency proof
//!   from the stored size, and the same atomic compare-and-update of a [`WitnessStore`]), but
//!   answered with an empty body: the mirror cosigns nothing here (tlog-mirror "add-checkpoint").
//! - `POST /add-entries` streams entry packages ([`arkivo_core::mirror`]); each is authenticated
//!   by its subtree consistency proof against the pending checkpoint of size `upload_end` and
//!   then committed, entries and hashes in one synced batch, to the store the pull mode uses.
//!   When all of `[upload_start, upload_end)` is held, the pending checkpoint becomes the mirror
//!   checkpoint with the mirror's cosignature (tlog-cosignature), committed before the answer.
//!
//! One writer: every commit of entries or of the mirror checkpoint happens under [`Push::held`],
//! the lock on the tree the mirror holds (its *next entry*). The follow loop does not run in push
//! mode, and a pull-mode start discards the pending state ([`discard`]), so the two modes never
//! write the mirror's state at once, and the pending checkpoint always contains the held tree:
//! it is either the mirror checkpoint itself (what a push-mode start begins from) or a
//! checkpoint proven consistent with the previous pending one, and entries are only stored once
//! proven part of a pending checkpoint.

use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, ensure};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::Mirror;
use crate::api::ApiError;
use crate::log::unix_now;
use crate::storage::rocks::RocksStore;
use crate::storage::{CommitBatch, LogStore, NewEntry, StoreHashes};
use crate::witness::server::refusal_response;
use crate::witness::store::WitnessStore;
use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::merkle::{self, HashReader, RightBorder};
use arkivo_core::mirror::{
    AddEntriesHeader, Consistency, EntryPackage, MIRROR_INFO_CONTENT_TYPE, PACKAGE_WIDTH,
    PackageRange, classify, entry_packages, mirror_info_body,
};
use arkivo_core::note::{self, Cosigner, Ed25519Verifier, NoteSigner, NoteVerifier};
use arkivo_core::witness::{self, KnownLogs, Refusal, Witnessed};

/// The pending checkpoint's store under the data directory.
const PENDING_DIR: &str = "pending";

/// A mirror's push-mode state.
pub(super) struct Push {
    /// The pending checkpoint, kept as a witness keeps its latest cosigned checkpoint.
    pending: WitnessStore,
    /// The one log, for [`witness::verify_request`].
    logs: KnownLogs,
    /// The tree the mirror holds (its next entry); its lock makes one writer of the store.
    held: Mutex<RightBorder>,
}

/// Drops the pending state a push-mode run left (a pull-mode start): the follow loop checks the
/// log against the held tree, not against a pending checkpoint, so an old one would no longer be
/// known to contain what the mirror then holds.
pub(super) fn discard(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let dir = data_dir.join(PENDING_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

impl Push {
    /// Opens the push-mode state in `data_dir`. Without a pending checkpoint at least as large
    /// as the mirror checkpoint `(served_size, served_note)`, the pending checkpoint starts as
    /// the mirror checkpoint; that needs the held tree to be exactly the mirror checkpoint's.
    pub(super) fn open(
        data_dir: &std::path::Path,
        store: &RocksStore,
        log: &Ed25519Verifier,
        served_note: &str,
        served_size: u64,
    ) -> anyhow::Result<Push> {
        let held = crate::sequencer::right_border(store, &store.head()?)?;
        let pending = WitnessStore::open(&data_dir.join(PENDING_DIR))?;
        let latest = pending.latest(log.name())?;
        if latest.as_ref().is_none_or(|p| p.size < served_size) {
            ensure!(
                held.size() == served_size,
                "this mirror holds {} entries but its mirror checkpoint is of size \
                 {served_size} (a pull round was interrupted): start it once without --push \
                 until /mirror/status shows it caught up, then with --push",
                held.size()
            );
            if served_size > 0 {
                let root = Checkpoint::parse(&note::parse(served_note.as_bytes())?.text)?.root;
                let start = Witnessed {
                    size: served_size,
                    root,
                    checkpoint: served_note.to_owned(),
                };
                pending
                    .update(log.name(), |_| Ok::<_, Infallible>(start))?
                    .unwrap_or_else(|e| match e {});
            }
        }
        Ok(Push {
            pending,
            logs: KnownLogs::from_vkeys(&[log.vkey()])?,
            held: Mutex::new(held),
        })
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, RightBorder> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn push_of(m: &Mirror) -> &Push {
    m.push
        .as_ref()
        .expect("the push routes exist only in push mode")
}

/// `POST /add-checkpoint` (tlog-mirror "add-checkpoint"): a witness's request and refusals; on
/// success the pending checkpoint is durable and the answer is empty.
pub(super) async fn add_checkpoint(State(m): State<Arc<Mirror>>, body: Bytes) -> Response {
    let done = tokio::task::spawn_blocking(move || {
        let push = push_of(&m);
        let request = witness::verify_request(&body, &push.logs)?;
        let cp = &request.checkpoint;
        let mut forked = false;
        let decided = push
            .pending
            .update(&cp.origin, |latest| {
                let decided = witness::decide(&request, latest);
                // A refused proof is evidence of a fork only if its hashes lead to the log's
                // signed root (so they are the log's) from another root than the pending one,
                // as in pull mode ([`classify`]); otherwise it is just a bad proof.
                if let (Err(Refusal::Inconsistent(_)), Some(pending)) = (&decided, latest) {
                    forked = matches!(
                        classify(
                            pending.size,
                            &pending.root,
                            cp.size,
                            &cp.root,
                            &request.proof,
                            None
                        ),
                        Consistency::Forked { .. }
                    );
                }
                decided
            })
            .map_err(|e| Refused::Internal(e.to_string()))?;
        if let Err(Refusal::Inconsistent(why)) = &decided
            && forked
        {
            // A validly signed checkpoint that does not extend the pending one: the log
            // forked. The mirror keeps its branch and says so, as in pull mode.
            tracing::error!(origin = %cp.origin, size = cp.size, checkpoint = ?request.note,
                reason = %why, "refused a validly signed checkpoint inconsistent with the \
                 pending checkpoint: the log forked");
            metrics::gauge!(crate::metrics::MIRROR_FORKED).set(1.0);
            m.set_status(|s| {
                s.fork = Some(format!(
                    "the log forked: {why}; the log's checkpoint:\n{}",
                    request.note
                ));
            });
        }
        decided?;
        Ok::<_, Refused>(())
    })
    .await;
    match done {
        Ok(Ok(())) => (StatusCode::OK, [(header::CONTENT_TYPE, TEXT)], "").into_response(),
        Ok(Err(Refused::Witness(refusal))) => refusal_response(&refusal),
        Ok(Err(Refused::Internal(e))) => ApiError::internal(&e).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// An add-checkpoint refusal.
enum Refused {
    Witness(Refusal),
    Internal(String),
}

impl From<Refusal> for Refused {
    fn from(r: Refusal) -> Self {
        Refused::Witness(r)
    }
}

/// The request body, decoded (gzip, which tlog-mirror requires mirrors to take) as it arrives.
struct BodyReader {
    stream: axum::body::BodyDataStream,
    gzip: Option<flate2::write::GzDecoder<Vec<u8>>>,
    /// Decoded bytes not yet consumed.
    buf: Vec<u8>,
    ended: bool,
}

impl BodyReader {
    /// Adds the next chunk to `buf`; at the end (or on a broken stream or bad gzip, which end
    /// it too: what was read stays usable) sets `ended`.
    async fn read_more(&mut self) {
        let chunk = match self.stream.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(_)) | None => {
                if let Some(gz) = &mut self.gzip {
                    let _ = gz.try_finish();
                    self.buf.append(gz.get_mut());
                }
                self.ended = true;
                return;
            }
        };
        match &mut self.gzip {
            None => self.buf.extend_from_slice(&chunk),
            Some(gz) => {
                let ok = gz.write_all(&chunk).is_ok();
                self.buf.append(gz.get_mut());
                self.ended |= !ok;
            }
        }
    }
}

/// An add-entries answer other than 200.
fn answer(status: StatusCode, body: String, content_type: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // tlog-mirror: mirrors SHOULD say which compressions they take.
            (header::ACCEPT_ENCODING, HeaderValue::from_static("gzip")),
        ],
        body,
    )
        .into_response()
}

fn refuse(status: StatusCode, why: impl std::fmt::Display) -> Response {
    answer(status, format!("{why}\n"), TEXT)
}

/// A 409 or 202 answer: a valid pending size, the next entry, an empty ticket (the mirror keeps
/// only its current pending checkpoint, so a ticket would carry nothing it can use).
fn mirror_info(status: StatusCode, pending_size: u64, next_entry: u64) -> Response {
    answer(
        status,
        mirror_info_body(pending_size, next_entry, b""),
        MIRROR_INFO_CONTENT_TYPE,
    )
}

/// `POST /add-entries` (tlog-mirror "add-entries"), streamed: the header is checked before the
/// packages are read, each package is verified and committed as it completes.
pub(super) async fn add_entries(
    State(m): State<Arc<Mirror>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(HeaderValue::as_bytes)
    {
        None | Some(b"identity") => None,
        Some(b"gzip") => Some(flate2::write::GzDecoder::new(Vec::new())),
        Some(other) => {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Encoding {:?} is not supported: send the body as is or gzip",
                    String::from_utf8_lossy(other)
                ),
            );
        }
    };
    let mut body = BodyReader {
        stream: body.into_data_stream(),
        gzip,
        buf: Vec::new(),
        ended: false,
    };
    let header = loop {
        match AddEntriesHeader::parse(&body.buf) {
            Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
            Ok(Some((header, len))) => {
                body.buf.drain(..len);
                break header;
            }
            Ok(None) if body.ended => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "malformed add-entries request: the body ends inside its header",
                );
            }
            Ok(None) => body.read_more().await,
        }
    };
    if header.log_origin != m.log.name() {
        return refuse(
            StatusCode::NOT_FOUND,
            format!(
                "unknown log origin {:?}: this mirror copies {:?}",
                header.log_origin,
                m.log.name()
            ),
        );
    }
    let push = push_of(&m);
    let pending = match push.pending.latest(m.log.name()) {
        Ok(p) => p,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let served_size = m.served.read().unwrap_or_else(|p| p.into_inner()).1;
    let next = push.lock_held().size();
    let pending_size = pending.as_ref().map_or(served_size, |p| p.size);
    let Some(pending) = pending.filter(|p| p.size == header.upload_end) else {
        return mirror_info(StatusCode::CONFLICT, pending_size, next);
    };
    if header.upload_end < served_size
        || header.upload_start > next
        // "Too far below" the next entry: before the package that holds it.
        || header.upload_start < next - next % PACKAGE_WIDTH
    {
        return mirror_info(StatusCode::CONFLICT, header.upload_end, next);
    }
    let pending = Arc::new(pending);
    let mut saved = 0u64;
    for range in entry_packages(header.upload_start, header.upload_end) {
        let package = loop {
            match EntryPackage::parse(&body.buf, range) {
                Ok(Some((package, len))) => {
                    body.buf.drain(..len);
                    break Some(package);
                }
                Ok(None) if !body.ended => body.read_more().await,
                // The end of the body, or bytes that are no package: what came before stays.
                Ok(None) | Err(_) => break None,
            }
        };
        let Some(package) = package else {
            let next = push.lock_held().size();
            return if saved > 0 {
                mirror_info(StatusCode::ACCEPTED, header.upload_end, next)
            } else {
                refuse(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "malformed add-entries request: no complete entry package for [{}, {}) \
                         (the body ended or the package is malformed)",
                        range.start, range.end
                    ),
                )
            };
        };
        let (m2, pending2) = (m.clone(), pending.clone());
        let stored = tokio::task::spawn_blocking(move || {
            commit_package(&m2, push_of(&m2), range, &package, &pending2)
        })
        .await;
        match stored {
            Ok(Ok(Ok(()))) => saved += 1,
            Ok(Ok(Err(why))) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, why),
            Ok(Err(e)) => return ApiError::internal(&format!("{e:#}")).into_response(),
            Err(e) => return ApiError::internal(&e).into_response(),
        }
    }
    let m2 = m.clone();
    let finished = tokio::task::spawn_blocking(move || finish(&m2, push_of(&m2), &pending)).await;
    match finished {
        Ok(Ok(Finish::Cosigned(line))) => answer(StatusCode::OK, line, TEXT),
        Ok(Ok(Finish::Stale { next })) => {
            let pending_size = push
                .pending
                .latest(m.log.name())
                .ok()
                .flatten()
                .map_or(header.upload_end, |p| p.size);
            mirror_info(StatusCode::CONFLICT, pending_size, next)
        }
        Ok(Err(e)) => ApiError::internal(&format!("{e:#}")).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// Verifies one package against the pending checkpoint and commits the entries of it the mirror
/// does not hold yet (tlog-mirror "Processing": "the mirror MUST skip saving that entry"). The
/// outer error is the store's; the inner one says why the package is refused (it does not
/// verify, or holds an entry whose search keys cannot be derived). Blocking.
fn commit_package(
    m: &Mirror,
    push: &Push,
    range: PackageRange,
    package: &EntryPackage,
    pending: &Witnessed,
) -> anyhow::Result<Result<(), String>> {
    let mut held = push.lock_held();
    let next = held.size();
    ensure!(
        range.start <= next,
        "entries [{}, {}) would leave a gap after the held {next}",
        range.start,
        range.end
    );
    // The subtree's records before the package's first are held: upload_start <= next entry.
    let before = (range.subtree_start..range.start)
        .map(|i| merkle::stored_hash_index(0, i))
        .collect::<Vec<_>>();
    let before = if before.is_empty() {
        Vec::new()
    } else {
        StoreHashes(m.store.as_ref()).read_hashes(&before)?
    };
    let leaves = match package.verify(range, &before, pending.size, &pending.root) {
        Ok(leaves) => leaves,
        Err(e) => {
            return Ok(Err(format!(
                "the entry package of [{}, {}) does not verify against the pending checkpoint \
                 of size {}: {e}",
                range.start, range.end, pending.size
            )));
        }
    };
    let skip = usize::try_from(next - range.start).unwrap_or(usize::MAX);
    if skip >= leaves.len() {
        return Ok(Ok(()));
    }
    let mut border = held.clone();
    let mut hashes = Vec::new();
    let mut entries = Vec::new();
    for ((i, body), leaf_hash) in (range.start..).zip(&package.entries).zip(leaves).skip(skip) {
        hashes.extend(border.append(leaf_hash));
        let index_keys = match super::search_keys(i, body) {
            Ok(keys) => keys,
            Err(e) => return Ok(Err(format!("{e:#}"))),
        };
        entries.push(NewEntry {
            body: body.clone(),
            leaf_hash,
            index_keys,
        });
    }
    let now = unix_now();
    let mut head = m.store.head()?;
    head.size = border.size();
    head.root = border.root();
    head.timestamp = now;
    m.store.commit(&CommitBatch {
        first_index: next,
        integrated_time: now,
        entries: &entries,
        sets: &[],
        hashes: &hashes,
        head: &head,
    })?;
    *held = border;
    Ok(Ok(()))
}

/// How add-entries ends once every package is held.
enum Finish {
    /// The mirror checkpoint is (now) the pending one of size `upload_end`: the mirror's
    /// cosignature line.
    Cosigned(String),
    /// The mirror checkpoint moved past `upload_end` meanwhile (409).
    Stale { next: u64 },
}

/// tlog-mirror's last, atomic step: if `upload_end` is still at least the mirror checkpoint's
/// size, the pending checkpoint of that size becomes the mirror checkpoint, cosigned and
/// committed before the answer. At the same size it is already the mirror checkpoint, whose
/// cosignature is the answer. Blocking.
fn finish(m: &Mirror, push: &Push, pending: &Witnessed) -> anyhow::Result<Finish> {
    let held = push.lock_held();
    ensure!(
        held.size() >= pending.size,
        "the mirror holds {} entries, fewer than the pending checkpoint's {}",
        held.size(),
        pending.size
    );
    let mut served = m.served.write().unwrap_or_else(|p| p.into_inner());
    let cosigner: &Cosigner = &m.cosigner;
    if pending.size < served.1 {
        return Ok(Finish::Stale { next: held.size() });
    }
    if pending.size == served.1 && !served.0.is_empty() {
        let ours = note::parse(served.0.as_bytes())?
            .signatures
            .into_iter()
            .find(|s| s.name == cosigner.name() && s.key_id == cosigner.key_id())
            .context("the mirror checkpoint lacks the mirror's cosignature")?;
        return Ok(Finish::Cosigned(note::signature_line(
            &ours.name,
            ours.key_id,
            &ours.signature,
        )));
    }
    // The log's signature (and any other) stays (tlog-mirror "add-checkpoint": "MUST retain the
    // log's signature"); a line claiming the mirror's own key is not the mirror's to keep.
    let mut parsed = note::parse(pending.checkpoint.as_bytes())?;
    parsed
        .signatures
        .retain(|s| !(s.name == cosigner.name() && s.key_id == cosigner.key_id()));
    let text = checkpoint::open_c2sp(&pending.checkpoint, &m.log, &[])?
        .note
        .text()
        .to_owned();
    let line = witness::cosign(cosigner, u64::try_from(unix_now()).unwrap_or(0), &text)?;
    let note = format!("{}{line}", note::format(&parsed)?);
    let mut head = m.store.head()?;
    head.checkpoint_c2sp = note.clone();
    m.store.commit_head(&head)?;
    *served = (note, pending.size);
    metrics::gauge!(crate::metrics::MIRROR_TREE_SIZE).set(pending.size as f64);
    Ok(Finish::Cosigned(line))
}
