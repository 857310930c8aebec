//! The log's side of witnessing (tiles-checkpoints-witnesses.md §3): asking each configured witness to
//! cosign the log's C2SP checkpoints, and keeping what they cosigned for the HTTP layer.
//!
//! - A *pacer* task picks the checkpoint to witness: the newest published one, at most one new
//!   one per `witness_interval_ms`, so that every witness cosigns the same checkpoints (a quorum
//!   needs that) and none gets more than one request per interval.
//! - One task per witness sends it each new target (`POST <url>/add-checkpoint`, §3.2) with a
//!   consistency proof from the tree size it last cosigned — 0 at first, which the witness
//!   corrects with a 409 carrying its size — verifies the returned cosignature with the
//!   witness's vkey, and records it in [`Cosignatures`].
//! - [`Cosignatures::checkpoint`] is the checkpoint to serve (`GET /checkpoint`).
//!
//! None of this is on the write path: the sequencer publishes heads without waiting for any
//! witness, so a slow, dead or refusing witness only delays (or never gives) its cosignatures.
//! Every request is bounded in time and answer size; failures back off exponentially.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::sequencer::{Published, ShardView, View};
use crate::storage::{StoreHashes, TreeHead};
use arkivo_core::checkpoint::CheckpointError;
use arkivo_core::limits::{MAX_NOTE_SIGNATURES, MAX_WITNESS_RESPONSE_BYTES};
use arkivo_core::merkle;
use arkivo_core::note::{self, CosignatureVerifier, NoteVerifier, VKey};
use arkivo_core::witness::{self, AddCheckpoint, SIZE_CONTENT_TYPE};
use serde::{Deserialize, Serialize};

/// One witness of the log (`[[witnesses]]` in the config file).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogWitness {
    /// The witness's cosigning key as a vkey of type 0x04 (cosignature/v1): `name+hex8+base64`,
    /// as `arkivo witness` prints at start and serves at `GET /`.
    pub vkey: String,
    /// Its submission prefix: the log posts to `<url>/add-checkpoint` (http or https).
    pub url: String,
}

/// Longest one `add-checkpoint` exchange may take. A healthy witness verifies one signature and
/// one proof and makes one synced write, well under a second; 10 s lets a loaded one answer,
/// while a dead one costs only a retry later.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest connection set-up (TCP and TLS) to a witness.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Delay before retrying a witness that failed, doubled after each further failure up to
/// [`MAX_BACKOFF`], back to this after a success: a down witness gets about one request a minute.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// 409s in a row before backing off: one is expected (first contact, or after a restart of
/// either side), a second means the witness moved meanwhile, more means something is off.
const MAX_CONFLICTS: u32 = 3;
/// Checkpoints remembered per witness: enough for a witness a few intervals behind the others
/// to still count towards a quorum on a checkpoint they all cosigned.
const RECENT: usize = 16;

/// One witness the log asks for cosignatures, from the config's `[[witnesses]]`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub verifier: CosignatureVerifier,
    /// `<url>/add-checkpoint`.
    pub add_checkpoint_url: String,
}

impl Endpoint {
    /// Checks and resolves the configured witnesses: cosignature vkeys (type 0x04), http(s)
    /// URLs, distinct names, and few enough that the log's signature and every cosignature fit
    /// one note.
    ///
    /// # Errors
    ///
    /// A message naming the witness and what is wrong with it.
    pub fn from_config(witnesses: &[LogWitness]) -> anyhow::Result<Vec<Endpoint>> {
        ensure!(
            witnesses.len() < MAX_NOTE_SIGNATURES,
            "{} witnesses configured; at most {} fit one checkpoint note with the log's signature",
            witnesses.len(),
            MAX_NOTE_SIGNATURES - 1
        );
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(witnesses.len());
        for w in witnesses {
            let verifier = match note::parse_vkey(&w.vkey)
                .with_context(|| format!("witness vkey {:?}", w.vkey))?
            {
                VKey::Cosignature(v) => v,
                VKey::Ed25519(_) => bail!(
                    "witness vkey {:?} is an Ed25519 signing key (type 0x01); witnesses cosign \
                     with a cosignature/v1 key (type 0x04, its base64 starts with \"B\")",
                    w.vkey
                ),
            };
            let url = w.url.trim_end_matches('/');
            ensure!(
                (url.starts_with("http://") || url.starts_with("https://"))
                    && reqwest::Url::parse(url).is_ok(),
                "witness url {:?} is not an http:// or https:// URL",
                w.url
            );
            ensure!(
                endpoints
                    .iter()
                    .all(|e| e.verifier.name() != verifier.name()),
                "two witnesses are named {:?}",
                verifier.name()
            );
            endpoints.push(Endpoint {
                verifier,
                add_checkpoint_url: format!("{url}/add-checkpoint"),
            });
        }
        Ok(endpoints)
    }
}

/// One witness's verified cosignature of one published checkpoint.
#[derive(Clone, Debug)]
struct Cosigned {
    head: Arc<TreeHead>,
    /// The cosignature line, ready to append to `head.checkpoint_c2sp`.
    line: String,
}

/// The witnesses of the log and what they cosigned: shared by the witness tasks, which record
/// cosignatures, and the HTTP layer, which serves [`Cosignatures::checkpoint`]. Held in memory
/// only: after a restart the witnesses are asked again (and answer at once).
#[derive(Debug)]
pub struct Cosignatures {
    published: Arc<Published>,
    endpoints: Vec<Endpoint>,
    quorum: usize,
    /// Per witness (in `endpoints` order), its latest cosigned checkpoints, oldest first.
    recent: Mutex<Vec<VecDeque<Cosigned>>>,
}

impl Cosignatures {
    /// `quorum` as the config's `witness_quorum` (checked there to be at most
    /// `endpoints.len()`). With no endpoints, [`Cosignatures::checkpoint`] is simply the
    /// published checkpoint.
    pub fn new(published: Arc<Published>, endpoints: Vec<Endpoint>, quorum: usize) -> Self {
        let recent = Mutex::new(vec![VecDeque::new(); endpoints.len()]);
        Cosignatures {
            published,
            endpoints,
            quorum,
            recent,
        }
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// The C2SP checkpoint note to serve, with witness cosignature lines appended (in the
    /// config's order) — the single source of truth for `GET /checkpoint`:
    ///
    /// - quorum 0: the newest published checkpoint, with the cosignatures collected for exactly
    ///   that checkpoint (none yet, right after it is published);
    /// - quorum k > 0: the newest checkpoint that at least k witnesses cosigned, with all the
    ///   cosignatures collected for it; `None` until there is one (after a start, until the
    ///   witnesses answered): a log that requires a quorum publishes only checkpoints that
    ///   reached it (§3, as Tessera does when its witness policy is not met).
    pub fn checkpoint(&self) -> Option<String> {
        let head = self.published.head();
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        select(&head, &recent, self.quorum)
    }

    fn record(&self, witness: usize, head: Arc<TreeHead>, line: String) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let mine = &mut recent[witness];
        // The same checkpoint cosigned again (after a restart): the newer line replaces it.
        mine.retain(|c| c.head.size != head.size);
        mine.push_back(Cosigned { head, line });
        while mine.len() > RECENT {
            mine.pop_front();
        }
    }
}

/// The cosignature lines recorded for exactly the checkpoint `cp`, one per witness that has one.
fn lines_for<'a>(cp: &TreeHead, recent: &'a [VecDeque<Cosigned>]) -> Vec<&'a str> {
    recent
        .iter()
        .filter_map(|mine| {
            mine.iter()
                // The same tree and the same note: after a rotation, a new shard's tree can
                // equal an old one's (the same entries again) under another origin.
                .find(|c| {
                    c.head.size == cp.size
                        && c.head.root == cp.root
                        && c.head.checkpoint_c2sp == cp.checkpoint_c2sp
                })
                .map(|c| c.line.as_str())
        })
        .collect()
}

/// The choice of [`Cosignatures::checkpoint`], given the published head and what each witness
/// cosigned.
fn select(head: &TreeHead, recent: &[VecDeque<Cosigned>], quorum: usize) -> Option<String> {
    let chosen: &TreeHead = if quorum == 0 {
        head
    } else {
        // Only the active shard's: after a rotation, the old shard's cosigned checkpoints
        // are another log's (another origin).
        let origin = |h: &TreeHead| h.checkpoint_c2sp.split('\n').next().map(str::to_owned);
        let mut cosigned: Vec<&TreeHead> = recent
            .iter()
            .flatten()
            .map(|c| &*c.head)
            .filter(|h| origin(h) == origin(head))
            .collect();
        cosigned.sort_by_key(|h| std::cmp::Reverse(h.size));
        cosigned
            .into_iter()
            .find(|cp| lines_for(cp, recent).len() >= quorum)?
    };
    let mut note = chosen.checkpoint_c2sp.clone();
    for line in lines_for(chosen, recent) {
        note.push_str(line);
    }
    Some(note)
}

/// Starts witnessing on the current runtime: the pacer and one task per witness of
/// `cosignatures`, for the active shard — after a rotation, the new one, from scratch: it is
/// another log to the witnesses, under its own origin. Each published view gives the
/// consistency proofs (its active shard's store) and the key that checks the witnesses'
/// answers. The tasks run until the set is dropped or shut down, which must happen before the
/// stores are closed.
///
/// # Errors
///
/// If the HTTP client cannot be built (no TLS roots).
pub fn start(cosignatures: &Arc<Cosignatures>, interval: Duration) -> anyhow::Result<JoinSet<()>> {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        // A witness's answer is the answer: a redirect would resend the checkpoint elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("arkivo/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client for the witnesses")?;
    let (target, targets) = watch::channel(cosignatures.published.view());
    let mut tasks = JoinSet::new();
    tasks.spawn(pace(cosignatures.published.subscribe(), target, interval));
    for index in 0..cosignatures.endpoints.len() {
        let submitter = Submitter {
            index,
            http: http.clone(),
            cosignatures: cosignatures.clone(),
        };
        tasks.spawn(submitter.run(targets.clone()));
    }
    Ok(tasks)
}

/// Moves the witnessing target to the newest published view, at most once per `interval`:
/// views published meanwhile are coalesced into the next one.
async fn pace(
    mut views: watch::Receiver<Arc<View>>,
    target: watch::Sender<Arc<View>>,
    interval: Duration,
) {
    while views.changed().await.is_ok() {
        let view = views.borrow_and_update().clone();
        target.send_replace(view);
        tokio::time::sleep(interval).await;
    }
}

/// What a witness answered to one `add-checkpoint`.
enum Answer {
    /// 200 with a valid cosignature line of the checkpoint.
    Cosigned(String),
    /// 409: the witness's latest cosigned size is this one.
    Conflict(u64),
}

#[derive(Debug, thiserror::Error)]
enum SubmitError {
    #[error(
        "the witness holds tree size {witness} of this log, past the log's {log}: the log lost \
         entries or was forked (restored from an old backup?)"
    )]
    WitnessAhead { witness: u64, log: u64 },
    #[error("computing the consistency proof: {0}")]
    Proof(String),
    #[error("request failed: {0}")]
    Http(String),
    #[error("answered {status}: {body:?}")]
    Refused { status: u16, body: String },
    #[error("answer larger than {MAX_WITNESS_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error(transparent)]
    BadCosignature(#[from] CheckpointError),
}

impl SubmitError {
    /// Whether the witness says, or the sizes show, that the log is not consistent with what
    /// the witness saw before: a fork, or a log that lost entries.
    fn is_inconsistency(&self) -> bool {
        matches!(
            self,
            SubmitError::WitnessAhead { .. }
                | SubmitError::Refused {
                    status: 409 | 422,
                    ..
                }
        )
    }
}

fn http_error(e: reqwest::Error) -> SubmitError {
    SubmitError::Http(format!("{:#}", anyhow::Error::new(e)))
}

struct Submitter {
    /// Index of this witness in `cosignatures.endpoints`.
    index: usize,
    http: reqwest::Client,
    cosignatures: Arc<Cosignatures>,
}

impl Submitter {
    fn endpoint(&self) -> &Endpoint {
        &self.cosignatures.endpoints[self.index]
    }

    async fn run(self, mut targets: watch::Receiver<Arc<View>>) {
        let name = self.endpoint().verifier.name().to_owned();
        // §3.2: a client without state sends old size 0 and learns the witness's from the 409.
        let mut witness_size = 0;
        let mut tree_id = None;
        let mut conflicts = 0;
        let mut backoff = MIN_BACKOFF;
        loop {
            let view = targets.borrow_and_update().clone();
            let shard = &view.active;
            if tree_id.replace(shard.tree_id()) != Some(shard.tree_id()) {
                // A new shard (or the first): what the witness holds of it is unknown.
                witness_size = 0;
            }
            let head = shard.head.clone();
            match self.submit(witness_size, shard).await {
                Ok(Answer::Cosigned(line)) => {
                    tracing::debug!(witness = %name, size = head.size, "cosigned");
                    witness_size = head.size;
                    (conflicts, backoff) = (0, MIN_BACKOFF);
                    self.cosignatures.record(self.index, head, line);
                    if targets.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(Answer::Conflict(size)) => {
                    witness_size = size;
                    conflicts += 1;
                    if conflicts < MAX_CONFLICTS {
                        continue; // at once, from the size the witness holds
                    }
                    tracing::warn!(
                        witness = %name, witness_size = size, log_size = head.size,
                        "the witness keeps answering 409; retrying in {backoff:?}"
                    );
                }
                Err(e) if e.is_inconsistency() => tracing::error!(
                    witness = %name, witness_size, log_size = head.size, error = %e,
                    "the witness saw a tree of this log that this checkpoint does not extend \
                     (a fork, or a log that lost entries); retrying in {backoff:?}"
                ),
                Err(e) => tracing::warn!(
                    witness = %name, log_size = head.size, error = %e,
                    "no cosignature; retrying in {backoff:?}"
                ),
            }
            conflicts = 0;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One `add-checkpoint` exchange for the head of `shard`, from the witness's `old` size.
    async fn submit(&self, old: u64, shard: &ShardView) -> Result<Answer, SubmitError> {
        let head = &shard.head;
        if old > head.size {
            return Err(SubmitError::WitnessAhead {
                witness: old,
                log: head.size,
            });
        }
        // §3.2: no proof from size 0; an empty one between equal sizes (the roots must match).
        let proof = if old == 0 || old == head.size {
            Vec::new()
        } else {
            let (store, new) = (shard.shard.store.clone(), head.size);
            tokio::task::spawn_blocking(move || {
                merkle::consistency_proof(old, new, &StoreHashes(store.as_ref()))
            })
            .await
            .map_err(|e| SubmitError::Proof(e.to_string()))?
            .map_err(|e| SubmitError::Proof(e.to_string()))?
        };
        let body = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: head.checkpoint_c2sp.clone(),
        }
        .to_body();
        let mut answer = self
            .http
            .post(&self.endpoint().add_checkpoint_url)
            .body(body)
            .send()
            .await
            .map_err(http_error)?;
        let status = answer.status().as_u16();
        let is_size = answer
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == SIZE_CONTENT_TYPE.as_bytes());
        if answer
            .content_length()
            .is_some_and(|n| n > MAX_WITNESS_RESPONSE_BYTES as u64)
        {
            return Err(SubmitError::TooLarge);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(http_error)? {
            if bytes.len() + chunk.len() > MAX_WITNESS_RESPONSE_BYTES {
                return Err(SubmitError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        match status {
            200 => {
                let identity = shard.identity();
                let cosignature = witness::verify_cosignature(
                    &head.checkpoint_c2sp,
                    &bytes,
                    &identity.keys.ed25519_verifier(&identity.meta.origin),
                    &self.endpoint().verifier,
                )?;
                Ok(Answer::Cosigned(cosignature.line))
            }
            // A 409 without the size type is tlog-witness v1.0.0's "same size, other root".
            409 if is_size => witness::parse_size_body(&bytes)
                .map(Answer::Conflict)
                .ok_or_else(|| refused(status, &bytes)),
            _ => Err(refused(status, &bytes)),
        }
    }
}

/// A refusal, with the start of the witness's explanation for the operator.
fn refused(status: u16, body: &[u8]) -> SubmitError {
    SubmitError::Refused {
        status,
        body: String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arkivo_core::merkle::Hash;

    fn head(size: u64) -> Arc<TreeHead> {
        Arc::new(TreeHead {
            size,
            root: Hash([size as u8; 32]),
            timestamp: 0,
            checkpoint_v1: String::new(),
            checkpoint_c2sp: format!("log\n{size}\nroot\n\n— log sig{size}\n"),
        })
    }

    fn cosigned(size: u64, witness: &str) -> Cosigned {
        Cosigned {
            head: head(size),
            line: format!("— {witness} cosig{size}\n"),
        }
    }

    fn recent(witnesses: &[&[(u64, &str)]]) -> Vec<VecDeque<Cosigned>> {
        witnesses
            .iter()
            .map(|w| w.iter().map(|&(s, n)| cosigned(s, n)).collect())
            .collect()
    }

    #[test]
    fn quorum_zero_serves_the_newest_head_with_its_cosignatures() {
        let r = recent(&[&[(4, "a"), (5, "a")], &[(4, "b")]]);
        assert_eq!(
            select(&head(5), &r, 0).unwrap(),
            "log\n5\nroot\n\n— log sig5\n— a cosig5\n"
        );
        // Not cosigned yet: served bare.
        assert_eq!(select(&head(6), &r, 0).unwrap(), head(6).checkpoint_c2sp);
        assert_eq!(select(&head(6), &[], 0).unwrap(), head(6).checkpoint_c2sp);
    }

    #[test]
    fn a_quorum_serves_the_newest_checkpoint_that_reached_it() {
        let r = recent(&[
            &[(3, "a"), (4, "a"), (5, "a")],
            &[(3, "b"), (4, "b")],
            &[(3, "c")],
        ]);
        assert_eq!(
            select(&head(6), &r, 1).unwrap(),
            "log\n5\nroot\n\n— log sig5\n— a cosig5\n"
        );
        assert_eq!(
            select(&head(6), &r, 2).unwrap(),
            "log\n4\nroot\n\n— log sig4\n— a cosig4\n— b cosig4\n"
        );
        assert_eq!(
            select(&head(6), &r, 3).unwrap(),
            "log\n3\nroot\n\n— log sig3\n— a cosig3\n— b cosig3\n— c cosig3\n"
        );
        assert_eq!(select(&head(6), &recent(&[&[], &[(3, "b")]]), 2), None);
        // Another root at the same size does not count for the quorum.
        let mut forked = recent(&[&[(4, "a")], &[(4, "b")]]);
        forked[1][0].head = Arc::new(TreeHead {
            root: Hash([99; 32]),
            ..(*head(4)).clone()
        });
        assert_eq!(select(&head(4), &forked, 2), None);
        // Nor does a frozen shard's (another origin's) checkpoint, after a rotation.
        let mut other_shard = recent(&[&[(7, "a")]]);
        other_shard[0][0].head = Arc::new(TreeHead {
            checkpoint_c2sp: "log/shards/9\n7\nroot\n\n— log sig7\n".into(),
            ..(*head(7)).clone()
        });
        assert_eq!(select(&head(2), &other_shard, 1), None);
    }

    #[test]
    fn record_keeps_a_bounded_history_and_replaces_repeats() {
        let c = Cosignatures {
            published: test_published(),
            endpoints: Vec::new(),
            quorum: 1,
            recent: Mutex::new(vec![VecDeque::new()]),
        };
        for size in 0..(RECENT as u64 + 5) {
            c.record(0, head(size), format!("— a cosig{size}\n"));
        }
        c.record(0, head(RECENT as u64 + 4), "— a again\n".into());
        let recent = c.recent.lock().unwrap();
        assert_eq!(recent[0].len(), RECENT);
        assert_eq!(recent[0].front().unwrap().head.size, 5);
        assert_eq!(recent[0].back().unwrap().line, "— a again\n");
    }

    fn test_published() -> Arc<Published> {
        let store = Arc::new(crate::storage::memory::MemoryStore::new());
        let identity = crate::log::create_log(
            store.as_ref(),
            "log.test",
            arkivo_core::signer::LogKeys::generate(),
        )
        .unwrap();
        let active = crate::sequencer::Shard {
            store,
            identity: Arc::new(identity),
        };
        let (handle, _thread) = crate::sequencer::start(
            active,
            Vec::new(),
            crate::sequencer::SequencerConfig::default(),
        )
        .unwrap();
        handle.published().clone()
    }

    #[test]
    fn endpoints_are_checked() {
        let w = note::Cosigner::new("w.test", ed25519_dalek::SigningKey::from_bytes(&[1; 32]), 0)
            .unwrap();
        let log =
            note::Ed25519Signer::new("w.test", ed25519_dalek::SigningKey::from_bytes(&[1; 32]))
                .unwrap();
        let ok = LogWitness {
            vkey: w.vkey(),
            url: "https://w.test/prefix/".into(),
        };
        let e = Endpoint::from_config(std::slice::from_ref(&ok)).unwrap();
        assert_eq!(
            e[0].add_checkpoint_url,
            "https://w.test/prefix/add-checkpoint"
        );
        for (bad, why) in [
            (
                vec![LogWitness {
                    vkey: log.vkey(),
                    ..ok.clone()
                }],
                "type 0x01",
            ),
            (
                vec![LogWitness {
                    url: "ftp://w.test".into(),
                    ..ok.clone()
                }],
                "not an http",
            ),
            (vec![ok.clone(), ok.clone()], "two witnesses"),
            (
                vec![LogWitness {
                    vkey: "junk".into(),
                    ..ok.clone()
                }],
                "witness vkey",
            ),
        ] {
            let e = Endpoint::from_config(&bad).unwrap_err();
            assert!(format!("{e:#}").contains(why), "{e:#}");
        }
    }
}
