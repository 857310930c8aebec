//! `arkivo serve` on PostgreSQL: several frontends serve one log, exactly one of them sequences.
//!
//! Each frontend opens the store ([`open`]) and runs [`Leadership`]'s loop beside its sequencer.
//! A few times a second the loop either
//! - *leads*: it checks that it still holds the leader lock and that the head row still has its
//!   epoch (else it steps down), and publishes the newest acknowledged head when no batch
//!   followed it (`PgStore::publish`); or
//! - *follows*: it tries to take the lock (`PgStore::try_lead`: a session-level advisory lock,
//!   then a bumped epoch). Taken, it reloads the committed head — acknowledged by the epoch
//!   bump's own commit — into the sequencer and takes writes. Not taken, it reloads the
//!   published head when it grew, so that reads, checkpoints and tiles follow the leader.
//!
//! A batch that is fenced, or whose commit's outcome is unknown, fails its writers with 503
//! (never acknowledged: docs/design.md "Storage") and makes the store step down, which the loop
//! notices in its next round. Writes to a follower get 503 with `Retry-After: 1` rather than
//! being forwarded: each acknowledgment is then made by the frontend the client talks to, whose
//! commit it waited for (docs/operations.md "PostgreSQL").
//!
//! The CA's CT log, when there is one, is a second tree in the database ([`open_ct`]) that the
//! same loop leads: only while it leads the log, so that the frontend the load balancer sends
//! writes to (its `/readyz` is 200) is the one that logs precertificates, and two frontends
//! never append to two CT trees under one origin. Its own epoch fences a stale leader exactly
//! as the log's does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::{Config, redact_url};
use crate::datadir::{KeyPaths, LogPaths};
use crate::log::{LogIdentity, LogKind};
use crate::logging::notice;
use crate::sequencer::SequencerHandle;
use crate::storage::postgres::{Namespace, PgOptions, PgStore};
use crate::storage::{LogStore, TreeHead};

/// How often a follower tries to take the lead and reloads the published head, and a leader
/// checks its lock: a takeover follows a leader's death within about this (plus the epoch bump).
pub const ROUND: Duration = Duration::from_millis(200);

/// Why a frontend does not take writes while another one leads (or none yet).
pub const FOLLOWING: &str = "another frontend sequences the log (this one follows it)";

/// The log as a frontend opened it from PostgreSQL.
pub struct OpenedPg {
    pub store: Arc<PgStore>,
    pub identity: Arc<LogIdentity>,
    /// The published head: what this frontend serves until it leads.
    pub head: TreeHead,
    pub created: bool,
}

/// Opens (or, in an empty database, creates) the log stored in `config.storage`, with the key
/// files of `paths`, and checks that they are the log's.
pub fn open(config: &Config, paths: &LogPaths) -> anyhow::Result<OpenedPg> {
    std::fs::create_dir_all(&paths.data_dir)
        .with_context(|| format!("creating {}", paths.data_dir.display()))?;
    open_tree(
        config,
        Namespace::Log,
        &paths.keys(None),
        LogKind::Rekor,
        |store, keys| {
            // The data directory's keys sign whatever RocksDB log or CT log it holds: a new
            // log in the database under them would be a second tree under the same log ID and
            // origin — a fork for every client and monitor that saw the first. Checked before
            // anything is created, so a frontend started before the copy leaves the database
            // empty for it.
            if paths.db().exists() || crate::datadir::read_manifest(&paths.data_dir)?.is_some() {
                bail!(
                    "the data directory {} holds a log (RocksDB) and the database none: a new \
                     log in the database, signed with the same keys, would fork it; move it \
                     first (`arkivo storage copy --to …`, which copies the log and the CA's CT \
                     log), or give this frontend a new data directory for a new log; refusing \
                     to start",
                    paths.data_dir.display()
                );
            }
            refuse_disk_ct(&paths.data_dir)?;
            let hostname = match &config.hostname {
                Some(h) => h.clone(),
                None => crate::serve::default_hostname(config)?,
            };
            crate::datadir::validate_hostname(&hostname)?;
            Ok(crate::log::create_log(store, &hostname, keys)?)
        },
    )
}

/// Opens (or creates) the CA's CT log stored beside the log of `hostname`, under the origin
/// `<hostname>/ct` as on disk, with the key files of `keys` (made on first start): every
/// frontend must have the same ones, which are checked against the database's. Refused when the
/// data directory `data_dir` holds a CT log of its own that the database's does not hold (none
/// in the database, or part of it: a copy that did not end, [`crate::copy`]): a second tree, or
/// a shorter one continued, under the same origin and key would be a fork of it. Returned
/// following: only the log's leader leads it ([`Leadership`]).
pub fn open_ct(
    config: &Config,
    data_dir: &std::path::Path,
    keys: &KeyPaths,
    hostname: &str,
) -> anyhow::Result<OpenedPg> {
    if let Some(dir) = keys.ecdsa.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let opened = open_tree(
        config,
        Namespace::CtLog,
        keys,
        LogKind::StaticCt,
        |store, keys| {
            refuse_disk_ct(data_dir)?;
            let origin = format!("{hostname}/{}", crate::ct::CT_DIR);
            let identity = crate::log::create_log_with_id(
                store,
                crate::log::new_tree_id(),
                hostname,
                &origin,
                keys,
                LogKind::StaticCt,
            )?;
            notice!("made the CT log {origin} in the database");
            Ok(identity)
        },
    )?;
    // Whoever created it led it for that: from now on, the log's leader leads it.
    opened.store.step_down();
    check_holds_disk_ct(&opened, data_dir)?;
    Ok(opened)
}

/// Refuses to make a CT log in the database while the data directory holds one in RocksDB: a
/// new one under the same origin and key would fork it for every monitor.
fn refuse_disk_ct(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let on_disk = data_dir.join(crate::ct::CT_DIR).join("db");
    if on_disk.exists() {
        bail!(
            "the data directory holds a CT log in {} and the database none: a new CT log in \
             the database, under the same origin and key, would fork it for every monitor: \
             move it with the log (`arkivo storage copy`, which copies both) first; refusing \
             to start",
            on_disk.display()
        );
    }
    Ok(())
}

/// Refuses a database whose CT log does not hold the data directory's CT log, if it has one, as
/// a prefix: a copy cut short (`arkivo storage copy` moves the CT log after the log, so an
/// interrupted run can leave the whole log and part of the CT log), or a CT log the data
/// directory's went on from after it was copied. Appending to it would fork the CT log that
/// SCTs were already handed out from.
fn check_holds_disk_ct(opened: &OpenedPg, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let Some((disk, _)) = crate::ct::open_unserved(data_dir)? else {
        return Ok(());
    };
    let (copied, held) = (disk.head()?, &opened.head);
    let holds = copied.size <= held.size
        && arkivo_core::merkle::tree_hash(
            copied.size,
            &crate::storage::StoreHashes(opened.store.as_ref()),
        )
        .context("the database's CT log's root")?
            == copied.root;
    if !holds {
        bail!(
            "the CT log in the database ({} entries) does not hold the one in {} ({} entries, \
             root {}): a copy that did not end (run `arkivo storage copy` again), or a CT log \
             the data directory's went on from; serving it would fork the CT log; refusing to \
             start",
            held.size,
            data_dir.join(crate::ct::CT_DIR).display(),
            copied.size,
            copied.root.to_hex()
        );
    }
    Ok(())
}

/// Opens the tree of `namespace`, creating it with `create` (given the store, leading it, and
/// the keys) in an empty database, and checks that the key files `key_paths` are its.
fn open_tree(
    config: &Config,
    namespace: Namespace,
    key_paths: &KeyPaths,
    kind: LogKind,
    create: impl Fn(&PgStore, arkivo_core::signer::LogKeys) -> anyhow::Result<LogIdentity>,
) -> anyhow::Result<OpenedPg> {
    let store = connect(config, namespace)?;
    if namespace == Namespace::Log {
        if !store.synchronous() {
            tracing::warn!(
                "RUNNING WITHOUT A SYNCHRONOUS STANDBY (storage_allow_async): an entry is \
                 acknowledged once the primary alone has it, and a failover can lose it \
                 (arkivo_storage_synchronous_standby is 0)"
            );
        }
        crate::metrics::set_storage_synchronous(store.synchronous());
    }
    let keys = crate::datadir::create_keys(key_paths)?;
    // Whoever leads creates the tree; the others wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (identity, created) = loop {
        if let Some(meta) = store.meta()? {
            break (LogIdentity { meta, keys, kind }, false);
        }
        if store.try_lead()? {
            break (create(&store, keys)?, true);
        }
        if std::time::Instant::now() > deadline {
            bail!("the database holds no log yet, and the frontend that leads did not create one");
        }
        std::thread::sleep(ROUND);
    };
    let head = check_identity(&store, &identity, config, key_paths)?;
    Ok(OpenedPg {
        store,
        identity: Arc::new(identity),
        head,
        created,
    })
}

/// Connects to the tables of `namespace` in the database of `config.storage` (its URL is shown
/// with the password redacted).
pub(crate) fn connect(config: &Config, namespace: Namespace) -> anyhow::Result<Arc<PgStore>> {
    let url = config.storage.as_deref().context("no storage URL")?;
    let shown = redact_url(url);
    if namespace == Namespace::Log {
        notice!("storage: PostgreSQL at {shown}");
    }
    if let Some(read_url) = &config.storage_read_url
        && namespace == Namespace::Log
    {
        notice!(
            "storage reads: PostgreSQL standby at {} (the primary when it lags or is down)",
            redact_url(read_url)
        );
    }
    let options = PgOptions {
        url: url.to_owned(),
        password_file: config.storage_password_file.clone(),
        ca_file: config.storage_ca_file.clone(),
        allow_no_sync_standby: config.storage_allow_async,
        read_url: config.storage_read_url.clone(),
        namespace,
    };
    Ok(Arc::new(PgStore::open(&options).with_context(|| {
        format!("opening the log's storage at {shown}")
    })?))
}

/// Checks that `identity`'s keys (from the files `paths`) are the ones of the tree in `store`,
/// and that a configured hostname is its; returns the published head.
fn check_identity(
    store: &PgStore,
    identity: &LogIdentity,
    config: &Config,
    paths: &KeyPaths,
) -> anyhow::Result<TreeHead> {
    let (meta, keys) = (&identity.meta, &identity.keys);
    let what = match identity.kind {
        LogKind::Rekor => "log",
        LogKind::StaticCt => "CT log",
    };
    if keys.log_id() != meta.log_id {
        bail!(
            "the ECDSA {what} key in {} is not this {what}'s: the database records log ID {} \
             (tree {}, origin {}), the key has log ID {}; every frontend must sign with the \
             {what}'s keys; refusing to start",
            paths.ecdsa.display(),
            hex::encode(meta.log_id),
            meta.tree_id,
            meta.origin,
            keys.log_id_hex()
        );
    }
    let head = store
        .published()?
        .context("the database holds a log but no published tree head")?;
    // The database keeps no Ed25519 key, but every head it holds carries a C2SP checkpoint
    // signed by it (tiles-checkpoints-witnesses.md §2).
    let verifier = keys.ed25519_verifier(&meta.origin);
    if arkivo_core::note::open(head.checkpoint_c2sp.as_bytes(), &[&verifier]).is_err() {
        bail!(
            "the Ed25519 checkpoint key in {} (verifier key {}) is not this {what}'s: it did \
             not sign the {what}'s checkpoint in the database; every frontend must sign with \
             the {what}'s keys; refusing to start",
            paths.ed25519.display(),
            verifier.vkey()
        );
    }
    if let Some(h) = &config.hostname
        && *h != meta.hostname
    {
        bail!(
            "this log was created with hostname {:?}, which names it in every checkpoint and \
             cannot change; drop --hostname {h:?} (serving under another URL is fine)",
            meta.hostname
        );
    }
    Ok(head)
}

/// The tree of `namespace` stored in PostgreSQL, for `arkivo verify-log`: never created, nor
/// led, and read with the data directory's key files for it, checked against it. `None` when the
/// database holds no such tree.
pub fn open_existing(
    config: &Config,
    namespace: Namespace,
) -> anyhow::Result<Option<(Arc<PgStore>, LogIdentity)>> {
    let (key_paths, kind) = match namespace {
        Namespace::Log => (crate::serve::log_paths(config).keys(None), LogKind::Rekor),
        Namespace::CtLog => (crate::ct::key_paths(&config.data_dir), LogKind::StaticCt),
    };
    let store = connect(config, namespace)?;
    let Some(meta) = store.meta()? else {
        return Ok(None);
    };
    let keys = crate::datadir::read_keys(&key_paths)?;
    let identity = LogIdentity { meta, keys, kind };
    check_identity(&store, &identity, config, &key_paths)?;
    Ok(Some((store, identity)))
}

/// The loop that takes, keeps and gives up the lead (see the module doc).
pub struct Leadership {
    log: Arc<PgStore>,
    ct: Option<Arc<PgStore>>,
    /// Unix milliseconds of the last round that reached the database (`/readyz?role=reader`).
    contact: Arc<AtomicU64>,
    stop: AtomicBool,
}

/// A tree stored in PostgreSQL and the sequencer that serves it.
pub type Served = (Arc<PgStore>, SequencerHandle);

impl Leadership {
    /// Starts the loop on its own thread (the store's client blocks), for the log and, when the
    /// CA has one, its CT log.
    pub fn start(
        log: Served,
        ct: Option<Served>,
    ) -> anyhow::Result<(Arc<Leadership>, std::thread::JoinHandle<()>)> {
        let leadership = Arc::new(Leadership {
            log: log.0.clone(),
            ct: ct.as_ref().map(|(store, _)| store.clone()),
            contact: Arc::new(AtomicU64::new(crate::log::unix_now_ms())),
            stop: AtomicBool::new(false),
        });
        let running = leadership.clone();
        let thread = std::thread::Builder::new()
            .name("arkivo-leadership".into())
            .spawn(move || {
                let mut log = Tree::new(log, "the log");
                let mut ct = ct.map(|ct| Tree::new(ct, "the CT log"));
                running.run(&mut log, ct.as_mut());
            })
            .context("starting the leadership thread")?;
        Ok((leadership, thread))
    }

    /// The log's store: its leader also publishes the TUF repository there ([`crate::tuf`]).
    pub fn log_store(&self) -> Arc<PgStore> {
        self.log.clone()
    }

    /// Ends the loop (its thread then drops its sequencer handles) and gives up the lead.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// When the database last answered a round (Unix milliseconds): readers may trust the
    /// frontend's view of the log that recent.
    pub fn contact(&self) -> Arc<AtomicU64> {
        self.contact.clone()
    }

    fn run(&self, log: &mut Tree, mut ct: Option<&mut Tree>) {
        let mut error = None;
        while !self.stop.load(Ordering::Relaxed) {
            let round = log.round(true).and_then(|()| {
                crate::metrics::set_leader(log.leading);
                // Led only while the log is: see the module doc.
                let may_lead = log.leading;
                ct.as_deref_mut().map_or(Ok(()), |ct| ct.round(may_lead))
            });
            match round {
                Ok(()) => {
                    self.contact
                        .store(crate::log::unix_now_ms(), Ordering::Relaxed);
                    if error.take().is_some() {
                        notice!("the database answers again");
                    }
                }
                Err(e) => {
                    let e = format!("{e:#}");
                    if error.as_ref() != Some(&e) {
                        tracing::warn!(error = %e, "leadership round");
                    }
                    error = Some(e);
                }
            }
            std::thread::sleep(ROUND);
        }
        for store in std::iter::once(&self.log).chain(&self.ct) {
            store.step_down();
        }
    }
}

/// A tree the loop leads or follows, and what the loop knows of it.
struct Tree {
    store: Arc<PgStore>,
    sequencer: SequencerHandle,
    /// What the loop's messages call it.
    name: &'static str,
    /// Whether the sequencer was told to take writes.
    leading: bool,
    /// The size of the head this leader last published.
    published: u64,
    /// The head size the previous round saw: when it did not grow since, no batch followed.
    seen: u64,
}

impl Tree {
    fn new((store, sequencer): Served, name: &'static str) -> Tree {
        Tree {
            store,
            sequencer,
            name,
            leading: false,
            published: 0,
            seen: 0,
        }
    }

    /// Keeps, gives up or (when `may_lead`) takes the lead, and follows the published head
    /// while not leading.
    fn round(&mut self, may_lead: bool) -> anyhow::Result<()> {
        let published = self.sequencer.published();
        if self.leading {
            let lost = if !may_lead {
                Some("this frontend no longer leads the log".to_owned())
            } else if published.stopped().is_some() {
                // A commit failed or was fenced: the store stepped down already (or, after a
                // failed self-check, does so now).
                Some("a commit failed".to_owned())
            } else {
                match self.store.check_lead() {
                    Ok(true) => None,
                    Ok(false) => Some("another frontend took the lead".to_owned()),
                    Err(e) => Some(format!("the leader lock's session failed: {e}")),
                }
            };
            let Some(why) = lost else {
                // While batches follow each other, each publishes its predecessor's head in its
                // own transaction; a transaction of the loop's own would only hold the writer
                // between two of them. So the newest head is published here once the log
                // stayed idle a round (no batch followed it).
                let size = published.head().size;
                if size > self.published && size == self.seen {
                    self.store.publish()?;
                    self.published = size;
                }
                self.seen = size;
                return Ok(());
            };
            self.store.step_down();
            self.leading = false;
            tracing::error!(
                "stepped down ({why}): this frontend no longer sequences {}",
                self.name
            );
            self.sequencer
                .reload(None, Some(FOLLOWING.to_owned()))
                .map_err(anyhow::Error::msg)?;
        }
        if may_lead && self.store.try_lead()? {
            // Committed before the epoch bump, so acknowledged by its commit.
            let head = self.store.head()?;
            if let Err(e) = self.sequencer.reload(Some(head.clone()), None) {
                self.store.step_down();
                bail!("taking the lead of {}: {e}", self.name);
            }
            self.store.publish()?;
            self.leading = true;
            self.published = head.size;
            self.seen = head.size;
            notice!(
                "this frontend leads: it sequences {} from tree size {}",
                self.name,
                head.size
            );
            return Ok(());
        }
        if let Some(head) = self.store.published()?
            && head.size > published.head().size
        {
            self.sequencer
                .reload(Some(head), Some(FOLLOWING.to_owned()))
                .map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
}
