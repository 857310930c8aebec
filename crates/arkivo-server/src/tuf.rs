//! The log's TUF repository (TUF specification 1.0, consistent snapshots), through which the
//! Sigstore clients get its trust material (docs/sigstore-services.md §2): the targets are named
//! as Sigstore's (`trusted_root.json`, `signing_config.v0.2.json`) and hold exactly what the log
//! serves at `/api/v1/log/trustedRoot`.
//!
//! The repository is a directory of files, `<data_dir>/tuf/repository/`, served as they are under
//! `/tuf/` and copied as they are by `arkivo tuf export`; its keys are in `<data_dir>/tuf/keys/`
//! (PKCS#8 PEM, mode 0600). The targets, snapshot and timestamp roles are online: a new version
//! of each is signed whenever the trust material changes ([`Repository::publish`]) and before
//! it expires. The root role may be kept offline: [`Repository::install_root`] puts in place a
//! root version made and signed elsewhere (docs/tuf.md).
//!
//! Metadata is signed by `tough` ([`SignedRole`]): canonical JSON (OLPC) of the `signed` object.
//!
//! Each publish adds versioned files; once the new timestamp is in place the ones no client can
//! still need are removed ([`prunable`]): every root version stays.
//!
//! On PostgreSQL (several frontends, one leader: [`crate::leader`]) the repository is one for all
//! frontends: the leader publishes its files as a set into the database
//! ([`PgStore::publish_tuf`]) and every frontend serves the database's set, re-read when its
//! generation changes. The data directory keeps the leader's working copy: a frontend that takes
//! the lead first brings it to the database's files (same versions, same keys — its key files
//! are checked against the database's root), so versions only grow across takeovers. There
//! `arkivo tuf export` and `arkivo tuf new-root` read the database's files, and a root version
//! is installed by the leader ([`Repository::install_root`]) or, with no frontend running, into
//! the database under the leader lock ([`install_root_in_database`]).

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, ensure};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use axum::body::Bytes;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use serde::Serialize;
use tough::TargetName;
use tough::editor::signed::SignedRole;
use tough::key_source::KeySource;
use tough::schema::key::{Ed25519Key, Ed25519Scheme, Key};
use tough::schema::{
    Hashes, KeyHolder, Metafile, Role, RoleKeys, RoleType, Root, Signed, Snapshot, Target, Targets,
    Timestamp,
};
use tough::sign::Sign;

use crate::storage::postgres::{PgStore, TufFiles};

/// The target holding the trusted root, as Sigstore's TUF repositories name it.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";
/// The signing config's target, named as Sigstore's (sigstore-services.md §2).
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";

/// The version of the TUF specification the metadata follows (what python-tuf writes).
const SPEC_VERSION: &str = "1.0.31";

/// The four top-level roles, in the order their keys are made.
const ROLES: [RoleType; 4] = [
    RoleType::Root,
    RoleType::Targets,
    RoleType::Snapshot,
    RoleType::Timestamp,
];

/// How the repository is made and kept (the `tuf_*` settings of [`crate::config::Config`]).
#[derive(Clone, Debug)]
pub struct TufSettings {
    /// Root keys made with a new repository.
    pub root_keys: usize,
    /// Root signatures a root version needs.
    pub root_threshold: u64,
    /// Lifetime of each role's metadata; a new version is signed once half of it has passed.
    pub root_expiry: Duration,
    pub targets_expiry: Duration,
    pub snapshot_expiry: Duration,
    pub timestamp_expiry: Duration,
    /// Snapshot versions kept before the current one, with the targets metadata and target
    /// files they name ([`prunable`]).
    pub keep_versions: u64,
}

impl TufSettings {
    /// How often to look for metadata to re-sign: often enough that the timestamp is re-signed
    /// soon after half its lifetime has passed.
    pub fn check_interval(&self) -> Duration {
        (self.timestamp_expiry / 8).clamp(Duration::from_secs(1), Duration::from_secs(600))
    }
}

/// An Ed25519 signing key of a role, from a PKCS#8 PEM file.
#[derive(Debug)]
pub struct RoleKey {
    pkcs8_der: Vec<u8>,
    public: [u8; 32],
}

impl RoleKey {
    /// A new key and its PKCS#8 PEM.
    pub fn generate() -> (RoleKey, String) {
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let pem = key
            .to_pkcs8_pem(pkcs8::LineEnding::LF)
            .expect("encoding an Ed25519 key")
            .to_string();
        (RoleKey::from_signing_key(&key), pem)
    }

    /// Reads a private key file (refused when others can read it: [`crate::keyfile`]).
    pub fn read(path: &Path) -> anyhow::Result<RoleKey> {
        let pem = crate::keyfile::read_private_key(path)?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 key: {e}", path.display()))?;
        Ok(RoleKey::from_signing_key(&key))
    }

    fn from_signing_key(key: &ed25519_dalek::SigningKey) -> RoleKey {
        RoleKey {
            pkcs8_der: key
                .to_pkcs8_der()
                .expect("encoding an Ed25519 key")
                .as_bytes()
                .to_vec(),
            public: key.verifying_key().to_bytes(),
        }
    }

    /// The public key, as TUF metadata lists it.
    pub fn tuf_key(&self) -> Key {
        ed25519_tuf_key(&self.public)
    }

    /// The public key as a SubjectPublicKeyInfo PEM (what `arkivo tuf root new` takes).
    pub fn public_pem(&self) -> String {
        ed25519_dalek::VerifyingKey::from_bytes(&self.public)
            .expect("a key's own public key")
            .to_public_key_pem(pkcs8::LineEnding::LF)
            .expect("encoding an Ed25519 public key")
    }
}

fn ed25519_tuf_key(public: &[u8; 32]) -> Key {
    Key::Ed25519 {
        keyval: Ed25519Key {
            public: public.to_vec().into(),
            _extra: HashMap::new(),
        },
        scheme: Ed25519Scheme::Ed25519,
        _extra: HashMap::new(),
    }
}

/// Reads an Ed25519 public key (SubjectPublicKeyInfo PEM) as TUF metadata lists it.
pub fn read_public_key(path: &Path) -> anyhow::Result<Key> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
        anyhow::anyhow!("{} is not an Ed25519 public key (PEM): {e}", path.display())
    })?;
    Ok(ed25519_tuf_key(&key.to_bytes()))
}

#[tough::async_trait]
impl KeySource for RoleKey {
    async fn as_sign(
        &self,
    ) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(Box::new(Ed25519KeyPair::from_pkcs8_maybe_unchecked(
            &self.pkcs8_der,
        )?))
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Err("the key files are written only by arkivo".into())
    }
}

fn boxed(keys: Vec<RoleKey>) -> Arc<Vec<Box<dyn KeySource>>> {
    Arc::new(
        keys.into_iter()
            .map(|k| Box::new(k) as Box<dyn KeySource>)
            .collect(),
    )
}

/// Signs `role` with those of `keys` that `holder` lists for it (TUF §4.3: the root lists the
/// keys of every top-level role).
async fn sign<T: Role + Serialize>(
    role: T,
    holder: &Root,
    keys: &[Box<dyn KeySource>],
) -> anyhow::Result<SignedRole<T>> {
    let what = T::TYPE;
    SignedRole::new(
        role,
        &KeyHolder::Root(holder.clone()),
        keys,
        &SystemRandom::new(),
    )
    .await
    .with_context(|| format!("signing the {what} metadata"))
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `now + lifetime`, in whole seconds: python-tuf refuses fractional ones (sigstore-services.md
/// §2).
fn expires(now: i64, lifetime: Duration) -> jiff::Timestamp {
    let secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2);
    jiff::Timestamp::from_second(now.saturating_add(secs)).unwrap_or(jiff::Timestamp::MAX)
}

/// Whether metadata expiring at `expires`, signed for `lifetime`, is past half its lifetime.
fn due(expires: jiff::Timestamp, lifetime: Duration, now: i64) -> bool {
    let half = i64::try_from(lifetime.as_secs() / 2).unwrap_or(i64::MAX);
    expires.as_second().saturating_sub(now) < half
}

/// Whether an online role must be signed anew: it has never been, it is past half its lifetime,
/// or it no longer verifies under `root` (after a root version with new online keys).
fn renewal_due<T: Role + Serialize>(
    current: Option<&Signed<T>>,
    lifetime: Duration,
    now: i64,
    root: &Root,
) -> bool {
    current.is_none_or(|t| due(t.signed.expires(), lifetime, now) || root.verify_role(t).is_err())
}

/// The version after `current`'s (1 for a role never signed).
fn next_version<T: Role>(current: Option<&Signed<T>>) -> NonZeroU64 {
    version(current.map_or(1, |t| t.signed.version().get() + 1))
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], name: &str) -> anyhow::Result<Signed<T>> {
    serde_json::from_slice(bytes).with_context(|| format!("parsing {name}"))
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest(&SHA256, bytes).as_ref().to_vec()
}

fn version(v: u64) -> NonZeroU64 {
    NonZeroU64::new(v).unwrap_or(NonZeroU64::MIN)
}

/// The repository's files, by their path under `/tuf/`.
pub type Files = Arc<BTreeMap<String, Bytes>>;

/// What the online roles last signed.
#[derive(Clone)]
struct State {
    /// The keys in the keys directory; each role signs with those the root lists for it.
    keys: Arc<Vec<Box<dyn KeySource>>>,
    root: Signed<Root>,
    targets: Option<Signed<Targets>>,
    snapshot: Option<Signed<Snapshot>>,
    timestamp: Option<Signed<Timestamp>>,
    /// On PostgreSQL: the leader epoch at which the repository was last brought to the
    /// database's ([`Repository::publish`] does so once per epoch, before signing).
    adopted: Option<i64>,
}

impl State {
    /// What the online roles last signed among `files`, under `root`.
    fn read(
        files: &BTreeMap<String, Bytes>,
        root: Signed<Root>,
        keys: Vec<RoleKey>,
    ) -> anyhow::Result<State> {
        let current = |name: &str| files.get(name).map(|b| b.as_ref());
        let timestamp = current("timestamp.json")
            .map(|b| parse::<Timestamp>(b, "timestamp.json"))
            .transpose()?;
        let snapshot = timestamp
            .as_ref()
            .and_then(|t| t.signed.meta.get("snapshot.json"))
            .map(|m| format!("{}.snapshot.json", m.version))
            .and_then(|name| current(&name).map(|b| parse::<Snapshot>(b, &name)))
            .transpose()?;
        let targets = snapshot
            .as_ref()
            .and_then(|s| s.signed.meta.get("targets.json"))
            .map(|m| format!("{}.targets.json", m.version))
            .and_then(|name| current(&name).map(|b| parse::<Targets>(b, &name)))
            .transpose()?;
        Ok(State {
            keys: boxed(keys),
            root,
            targets,
            snapshot,
            timestamp,
            adopted: None,
        })
    }
}

/// The repository of one data directory.
pub struct Repository {
    dir: PathBuf,
    keys_dir: PathBuf,
    settings: TufSettings,
    state: tokio::sync::Mutex<State>,
    /// The files of the data directory.
    files: RwLock<Files>,
    /// On PostgreSQL: the log's store, into which the leader publishes the files.
    shared: Option<Arc<PgStore>>,
    /// On PostgreSQL: the files served, the database's, with their generation.
    served: RwLock<(i64, Files)>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// `<data_dir>/tuf/repository`: the files served under `/tuf/`.
pub fn repository_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tuf").join("repository")
}

/// `<data_dir>/tuf/keys`: the role keys kept online.
pub fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tuf").join("keys")
}

/// Reads every file of a repository directory (its metadata and `targets/`), by path.
pub fn read_files(dir: &Path) -> anyhow::Result<BTreeMap<String, Bytes>> {
    let mut files = BTreeMap::new();
    for sub in ["", "targets"] {
        let d = dir.join(sub);
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", d.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", d.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type()?.is_file() || name.starts_with('.') {
                continue;
            }
            let path = if sub.is_empty() {
                name
            } else {
                format!("{sub}/{name}")
            };
            match std::fs::read(entry.path()) {
                Ok(bytes) => files.insert(path, Bytes::from(bytes)),
                // Pruned by the server since the directory was listed.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", entry.path().display()));
                }
            };
        }
    }
    Ok(files)
}

/// The newest root version among `files` (`N.root.json`, TUF §5.3 with consistent snapshots).
fn latest_root(files: &BTreeMap<String, Bytes>) -> Option<(u64, &Bytes)> {
    files
        .iter()
        .filter_map(|(name, bytes)| {
            let v = name.strip_suffix(".root.json")?.parse::<u64>().ok()?;
            Some((v, bytes))
        })
        .max_by_key(|(v, _)| *v)
}

/// Writes `files` into `dir` in order, each atomically (a temporary file renamed over it) and
/// durably, so that a reader of the directory (the server after a restart, a web server serving
/// an export) never finds a file that names one not yet written.
pub fn write_files(dir: &Path, files: &[(String, Bytes)]) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir.join("targets"))
        .with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        let parent = path.parent().unwrap_or(dir);
        let tmp = parent.join(format!(".{}.tmp", std::process::id()));
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", parent.display()))?;
    }
    Ok(())
}

impl Repository {
    /// Opens the repository of `data_dir`, making it (keys and a first root version) when there
    /// is none, and publishes `targets` ([`Repository::publish`]). With `shared`, the log's
    /// store on PostgreSQL, the data directory is first brought to the database's repository
    /// when it holds one ([`adopt`]).
    pub async fn open(
        data_dir: &Path,
        settings: TufSettings,
        content: Vec<(String, Vec<u8>)>,
        shared: Option<Arc<PgStore>>,
    ) -> anyhow::Result<Repository> {
        let dir = repository_dir(data_dir);
        let mut files = read_files(&dir)?;
        let mut served = (0, Files::default());
        if let Some(store) = &shared
            && let Some((generation, database)) = database_files(store).await?
        {
            adopt(&dir, &keys_dir(data_dir), &files, &database).await?;
            files = (*database).clone();
            served = (generation, database);
        }
        let root = match latest_root(&files) {
            Some((v, bytes)) => parse::<Root>(bytes, &format!("{v}.root.json"))?,
            None => {
                let root = create(data_dir, &settings).await?;
                let written = root_files(1, Bytes::from(root.buffer().clone()));
                write_files(&dir, &written)?;
                files.extend(written);
                root.signed().clone()
            }
        };
        // What the online roles signed last ([`Repository::publish`] signs again what no longer
        // verifies under the newest root).
        let keys = read_keys(&keys_dir(data_dir))?;
        let state = State::read(&files, root, keys.into_iter().map(|(_, k)| k).collect())?;
        let repository = Repository {
            keys_dir: keys_dir(data_dir),
            dir,
            settings,
            state: tokio::sync::Mutex::new(state),
            files: RwLock::new(Arc::new(files)),
            shared,
            served: RwLock::new(served),
        };
        repository.publish(content).await?;
        // Also what a crash in the middle of a prune, or a smaller `keep_versions`, left.
        let state = repository.state.lock().await;
        repository.prune(&state).await;
        drop(state);
        Ok(repository)
    }

    /// The files of the data directory, by path: those served under `/tuf/` but on
    /// PostgreSQL ([`Repository::served_files`]).
    pub fn files(&self) -> Files {
        self.files.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The files served under `/tuf/`, by path. On PostgreSQL, the database's: re-read when
    /// their generation changed, so that every frontend serves the same versions (a client
    /// behind a load balancer would refuse an older timestamp as a rollback, TUF §5.4.3). When
    /// the database does not answer, those read last.
    pub async fn served_files(&self) -> Files {
        let Some(store) = &self.shared else {
            return self.files();
        };
        let known = self.served.read().unwrap_or_else(|p| p.into_inner()).0;
        let store = store.clone();
        let read = tokio::task::spawn_blocking(move || {
            if store.tuf_generation()? == known {
                return Ok(None);
            }
            store.tuf_files().map(Some)
        })
        .await;
        match read {
            Ok(Ok(Some((generation, files)))) => {
                let mut served = self.served.write().unwrap_or_else(|p| p.into_inner());
                if generation > served.0 {
                    *served = (generation, to_files(files));
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "reading the TUF repository's generation"),
            Err(e) => tracing::warn!(error = %e, "reading the TUF repository's generation"),
        }
        self.served
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// Makes `targets` (name, content) the repository's targets. When they differ from the
    /// current ones (or the current metadata is past half its lifetime), signs new targets,
    /// snapshot and timestamp versions and writes them — targets first, timestamp last — before
    /// returning: a client that refreshes after this returns gets them.
    ///
    /// On PostgreSQL only the leader publishes, into the database; the first time at an epoch
    /// after bringing the repository to the database's ([`adopt`]).
    pub async fn publish(&self, targets: Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        let mut state = self.state.lock().await;
        self.publish_locked(&mut state, targets, false).await
    }

    /// On PostgreSQL: whether this frontend leads (`None`: it does not). The first time at an
    /// epoch it first brings the repository to the database's ([`adopt`]), and answers whether
    /// the database lacks the repository (none published yet).
    async fn lead(&self, store: &Arc<PgStore>, state: &mut State) -> anyhow::Result<Option<bool>> {
        let s = store.clone();
        let Some(epoch) = tokio::task::spawn_blocking(move || s.epoch()).await? else {
            return Ok(None);
        };
        if state.adopted == Some(epoch) {
            return Ok(Some(false));
        }
        let unshared = match database_files(store).await? {
            Some((generation, database)) => {
                let (root, keys) = adopt(&self.dir, &self.keys_dir, &self.files(), &database)
                    .await
                    .context("taking the lead of the TUF repository")?;
                *state = State::read(&database, root, keys)?;
                *self.files.write().unwrap_or_else(|p| p.into_inner()) = database.clone();
                *self.served.write().unwrap_or_else(|p| p.into_inner()) = (generation, database);
                false
            }
            None => true,
        };
        state.adopted = Some(epoch);
        Ok(Some(unshared))
    }

    /// [`Repository::publish`] with the state lock held; with `share`, the files go into the
    /// database even when nothing was signed anew.
    async fn publish_locked(
        &self,
        state: &mut State,
        targets: Vec<(String, Vec<u8>)>,
        share: bool,
    ) -> anyhow::Result<()> {
        // Whether the files must go into the database even when nothing is signed anew.
        let mut unshared = share;
        if let Some(store) = &self.shared {
            match self.lead(store, state).await? {
                Some(lacking) => unshared |= lacking,
                None => return Ok(()),
            }
        }
        let now = now();
        let mut next = state.clone();
        let mut written: Vec<(String, Bytes)> = Vec::new();
        let s = &self.settings;
        // An online root (its keys in the data directory) is renewed like the other roles.
        if due(next.root.signed.expires, s.root_expiry, now)
            && next.root.signed.verify_role(&next.root).is_ok()
        {
            let mut root = next.root.signed.clone();
            root.version = version(root.version.get() + 1);
            root.expires = expires(now, s.root_expiry);
            if let Ok(signed) = sign(root, &next.root.signed, &next.keys).await
                && next.root.signed.verify_role(signed.signed()).is_ok()
            {
                let v = signed.signed().signed.version.get();
                written.extend(root_files(v, Bytes::from(signed.buffer().clone())));
                next.root = signed.signed().clone();
            }
        }
        let root = next.root.signed.clone();
        let mut wanted = HashMap::new();
        for (name, content) in &targets {
            let target = Target {
                length: content.len() as u64,
                hashes: Hashes {
                    sha256: sha256(content).into(),
                    _extra: HashMap::new(),
                },
                custom: HashMap::new(),
                _extra: HashMap::new(),
            };
            wanted.insert(TargetName::new(name.clone())?, target);
        }
        let new_targets = next
            .targets
            .as_ref()
            .is_some_and(|t| t.signed.targets != wanted)
            || renewal_due(next.targets.as_ref(), s.targets_expiry, now, &root);
        if new_targets {
            let v = next_version(next.targets.as_ref());
            let mut role = Targets::new(SPEC_VERSION.to_owned(), v, expires(now, s.targets_expiry));
            role.targets = wanted;
            let signed = sign(role, &root, &next.keys).await?;
            // With consistent snapshots a target is fetched as `targets/<sha256>.<name>`
            // (TUF §5.7.3).
            for (name, content) in &targets {
                written.push((
                    format!("targets/{}.{name}", hex::encode(sha256(content))),
                    Bytes::from(content.clone()),
                ));
            }
            written.push((
                format!("{v}.targets.json"),
                Bytes::from(signed.buffer().clone()),
            ));
            next.targets = Some(signed.signed().clone());
        }
        let targets_version = next.targets.as_ref().map_or(1, |t| t.signed.version.get());
        let new_snapshot =
            new_targets || renewal_due(next.snapshot.as_ref(), s.snapshot_expiry, now, &root);
        let mut snapshot_meta = None;
        if new_snapshot {
            let v = next_version(next.snapshot.as_ref());
            let mut role =
                Snapshot::new(SPEC_VERSION.to_owned(), v, expires(now, s.snapshot_expiry));
            role.meta.insert(
                "targets.json".to_owned(),
                Metafile {
                    length: None,
                    hashes: None,
                    version: version(targets_version),
                    _extra: HashMap::new(),
                },
            );
            let signed = sign(role, &root, &next.keys).await?;
            let bytes = Bytes::from(signed.buffer().clone());
            snapshot_meta = Some((v, bytes.len() as u64, sha256(&bytes)));
            written.push((format!("{v}.snapshot.json"), bytes));
            next.snapshot = Some(signed.signed().clone());
        }
        let new_timestamp =
            new_snapshot || renewal_due(next.timestamp.as_ref(), s.timestamp_expiry, now, &root);
        if new_timestamp {
            let v = next_version(next.timestamp.as_ref());
            let mut role =
                Timestamp::new(SPEC_VERSION.to_owned(), v, expires(now, s.timestamp_expiry));
            let meta = match snapshot_meta {
                Some((v, length, hash)) => Metafile {
                    length: Some(length),
                    hashes: Some(Hashes {
                        sha256: hash.into(),
                        _extra: HashMap::new(),
                    }),
                    version: v,
                    _extra: HashMap::new(),
                },
                // The snapshot is unchanged: so is what the timestamp says of it.
                None => next
                    .timestamp
                    .as_ref()
                    .and_then(|t| t.signed.meta.get("snapshot.json").cloned())
                    .context("the timestamp names no snapshot")?,
            };
            role.meta.insert("snapshot.json".to_owned(), meta);
            let signed = sign(role, &root, &next.keys).await?;
            written.push((
                "timestamp.json".to_owned(),
                Bytes::from(signed.buffer().clone()),
            ));
            next.timestamp = Some(signed.signed().clone());
        }
        if written.is_empty() && !unshared {
            return Ok(());
        }
        self.write_and_serve(written).await?;
        *state = next;
        tracing::info!(
            targets = state.targets.as_ref().map(|t| t.signed.version.get()),
            snapshot = state.snapshot.as_ref().map(|t| t.signed.version.get()),
            timestamp = state.timestamp.as_ref().map(|t| t.signed.version.get()),
            "published the TUF repository"
        );
        // Only now that the new timestamp is in place: until then clients are led to the files
        // of the versions before.
        self.prune(state).await;
        if let Some(store) = &self.shared {
            // The set after the prune, in one transaction: every frontend goes from the
            // previous set to this one at once.
            let (files, s) = (self.files(), store.clone());
            let shared = files.clone();
            let generation = tokio::task::spawn_blocking(move || {
                let set: Vec<(&str, &[u8])> = shared
                    .iter()
                    .map(|(p, c)| (p.as_str(), c.as_ref()))
                    .collect();
                s.publish_tuf(&set)
            })
            .await?
            .context("publishing the TUF repository in the database")?;
            *self.served.write().unwrap_or_else(|p| p.into_inner()) = (generation, files);
        }
        Ok(())
    }

    /// Stops serving and deletes the files no client needs any longer ([`prunable`]), with the
    /// state lock held (`state`) so that no publish writes meanwhile. A failure is logged, not
    /// returned: the publish it follows stands, and what is left is pruned next time.
    async fn prune(&self, state: &State) {
        let Some(snapshot) = &state.snapshot else {
            return;
        };
        let files = self.files();
        let names = match prunable(
            &files,
            snapshot.signed.version.get(),
            self.settings.keep_versions,
        ) {
            Ok(names) if names.is_empty() => return,
            Ok(names) => names,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "pruning the TUF repository failed"
                );
                return;
            }
        };
        let mut served = (*files).clone();
        for name in &names {
            served.remove(name);
        }
        *self.files.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(served);
        let dir = self.dir.clone();
        let count = names.len();
        let removed = tokio::task::spawn_blocking(move || remove_files(&dir, &names)).await;
        match removed {
            Ok(Ok(())) => tracing::info!(files = count, "pruned the TUF repository"),
            Ok(Err(e)) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "pruning the TUF repository failed"
                );
            }
            Err(e) => tracing::error!(error = %e, "pruning the TUF repository failed"),
        }
    }
}

/// Of a repository's `files`, those no client needs after the publish of snapshot version
/// `snapshot`: the snapshot versions before the newest `keep + 1`, the targets versions none of
/// the kept snapshot versions names, and the target files none of the kept targets versions
/// names. A client that read any of the last `keep + 1` timestamps (mid-refresh, or through a
/// cache) still finds every file it leads to; one that refreshed long ago needs only the newest
/// (TUF §5.4 to §5.6: the versions it holds are compared with the new ones, never fetched).
/// Every root version stays: a client walks them one by one (TUF §5.3.4).
///
/// In deletion order — snapshots, targets metadata, target files — so that a crash midway leaves
/// no kept file naming a deleted one.
fn prunable(
    files: &BTreeMap<String, Bytes>,
    snapshot: u64,
    keep: u64,
) -> anyhow::Result<Vec<String>> {
    let versioned = |name: &str, role: &str| -> Option<u64> {
        name.strip_suffix(role)?.strip_suffix('.')?.parse().ok()
    };
    let oldest = snapshot.saturating_sub(keep).max(1);
    let mut kept_targets = std::collections::BTreeSet::new();
    for v in oldest..=snapshot {
        let name = format!("{v}.snapshot.json");
        if let Some(bytes) = files.get(&name) {
            let s = parse::<Snapshot>(bytes, &name)?;
            kept_targets.extend(s.signed.meta.get("targets.json").map(|m| m.version.get()));
        }
    }
    let mut kept_files = std::collections::BTreeSet::new();
    for v in &kept_targets {
        let name = format!("{v}.targets.json");
        if let Some(bytes) = files.get(&name) {
            let t = parse::<Targets>(bytes, &name)?;
            kept_files.extend(t.signed.targets.iter().map(|(name, target)| {
                format!(
                    "targets/{}.{}",
                    hex::encode(&target.hashes.sha256),
                    name.raw()
                )
            }));
        }
    }
    let (mut snapshots, mut targets, mut target_files) = (Vec::new(), Vec::new(), Vec::new());
    for name in files.keys() {
        if let Some(v) = versioned(name, "snapshot.json") {
            if !(oldest..=snapshot).contains(&v) {
                snapshots.push(name.clone());
            }
        } else if let Some(v) = versioned(name, "targets.json") {
            if !kept_targets.contains(&v) {
                targets.push(name.clone());
            }
        } else if name.starts_with("targets/") && !kept_files.contains(name) {
            target_files.push(name.clone());
        }
    }
    snapshots.extend(targets);
    snapshots.extend(target_files);
    Ok(snapshots)
}

/// Deletes `names` from `dir`, in order. Not synced: a deletion a crash undoes leaves a file
/// that is pruned again at the next start.
fn remove_files(dir: &Path, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("deleting {}", path.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Makes the keys and the first root version of a new repository: `root_keys` root keys and
/// one key for each online role, each read from `<keys dir>/<role>.pem` (`root-<i>.pem`) when
/// given there, else made there.
async fn create(data_dir: &Path, s: &TufSettings) -> anyhow::Result<SignedRole<Root>> {
    ensure!(
        s.root_threshold >= 1 && usize::try_from(s.root_threshold).is_ok_and(|t| t <= s.root_keys),
        "tuf_root_threshold must be between 1 and tuf_root_keys ({})",
        s.root_keys
    );
    let dir = keys_dir(data_dir);
    let mut root = Root {
        spec_version: SPEC_VERSION.to_owned(),
        consistent_snapshot: true,
        version: NonZeroU64::MIN,
        expires: expires(now(), s.root_expiry),
        keys: HashMap::new(),
        roles: HashMap::new(),
        _extra: HashMap::new(),
    };
    let mut keys: Vec<Box<dyn KeySource>> = Vec::new();
    for role in ROLES {
        let (names, threshold) = match role {
            RoleType::Root => (
                (1..=s.root_keys).map(|i| format!("root-{i}.pem")).collect(),
                s.root_threshold,
            ),
            _ => (vec![format!("{}.pem", role_name(role))], 1),
        };
        let mut keyids = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let key = if path.exists() {
                RoleKey::read(&path)?
            } else {
                let (key, pem) = RoleKey::generate();
                crate::keyfile::write_private_key(&path, pem.as_bytes())?;
                key
            };
            let tuf_key = key.tuf_key();
            let id = tuf_key.key_id()?;
            root.keys.insert(id.clone(), tuf_key);
            keyids.push(id);
            keys.push(Box::new(key));
        }
        root.roles.insert(
            role,
            RoleKeys {
                keyids,
                threshold: version(threshold),
                _extra: HashMap::new(),
            },
        );
    }
    let holder = root.clone();
    sign(root, &holder, &keys).await
}

/// The name of a top-level role in metadata and file names.
pub fn role_name(role: RoleType) -> &'static str {
    match role {
        RoleType::Root => "root",
        RoleType::Targets => "targets",
        RoleType::Snapshot => "snapshot",
        RoleType::Timestamp => "timestamp",
        RoleType::DelegatedTargets => "delegated_targets",
    }
}

/// Every key file (`*.pem`) in the keys directory, with its path.
fn read_keys(dir: &Path) -> anyhow::Result<Vec<(PathBuf, RoleKey)>> {
    let mut keys = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            let key = RoleKey::read(&path)?;
            keys.push((path, key));
        }
    }
    Ok(keys)
}

/// Checks that `keys` hold, for each online role, as many of the keys `root` lists for it as its
/// threshold.
fn check_online_keys(root: &Root, keys: &[RoleKey], dir: &Path) -> anyhow::Result<()> {
    for role in [RoleType::Targets, RoleType::Snapshot, RoleType::Timestamp] {
        let listed = root.keys(role).filter_map(|k| k.key_id().ok());
        let have = listed
            .filter(|id| {
                keys.iter()
                    .any(|k| k.tuf_key().key_id().ok().as_ref() == Some(id))
            })
            .count();
        let threshold = root.roles.get(&role).map_or(1, |r| r.threshold.get());
        ensure!(
            have as u64 >= threshold,
            "root version {} lists {} keys for the {} role that are not in {}",
            root.version,
            threshold.saturating_sub(have as u64),
            role_name(role),
            dir.display()
        );
    }
    Ok(())
}

/// The database's repository and its generation; `None` before the first publish.
async fn database_files(store: &Arc<PgStore>) -> anyhow::Result<Option<(i64, Files)>> {
    let s = store.clone();
    let (generation, files) = tokio::task::spawn_blocking(move || s.tuf_files())
        .await?
        .context("reading the TUF repository from the database")?;
    Ok((generation > 0).then(|| (generation, to_files(files))))
}

fn to_files(files: TufFiles) -> Files {
    Arc::new(
        files
            .into_iter()
            .map(|(path, content)| (path, Bytes::from(content)))
            .collect(),
    )
}

/// Checks that the key files of `keys_dir` are those of the repository `files`: each one listed
/// by one of its root versions (a key a root rotation retired may stay until it is deleted), and
/// those of each online role of its newest root enough to sign for it. Returns that root and the
/// keys.
fn check_key_files(
    keys_dir: &Path,
    files: &BTreeMap<String, Bytes>,
) -> anyhow::Result<(Signed<Root>, Vec<RoleKey>)> {
    let (v, bytes) = latest_root(files).context("the database's TUF repository has no root")?;
    let root = parse::<Root>(bytes, &format!("{v}.root.json"))?;
    let mut listed = std::collections::HashSet::new();
    for (name, bytes) in files {
        if name.ends_with(".root.json") {
            listed.extend(parse::<Root>(bytes, name)?.signed.keys.into_keys());
        }
    }
    let mut keys = Vec::new();
    for (path, key) in read_keys(keys_dir)? {
        ensure!(
            listed.contains(&key.tuf_key().key_id()?),
            "the TUF key file {} is not one of the repository's: no root version in the \
             database lists such a key; every frontend must have the TUF key files of the \
             frontend that made the repository",
            path.display()
        );
        keys.push(key);
    }
    check_online_keys(&root.signed, &keys, keys_dir).context(
        "every frontend must have the TUF key files of the frontend that made the repository",
    )?;
    Ok((root, keys))
}

/// Brings the repository directory `dir`, holding `local`, to the database's files `database`,
/// after checking that the key files of `keys_dir` are the repository's ([`check_key_files`]).
/// Returns the database's newest root and the keys.
async fn adopt(
    dir: &Path,
    keys_dir: &Path,
    local: &BTreeMap<String, Bytes>,
    database: &Files,
) -> anyhow::Result<(Signed<Root>, Vec<RoleKey>)> {
    let (root, keys) = check_key_files(keys_dir, database)?;
    let (dir, stale) = (
        dir.to_path_buf(),
        local
            .keys()
            .filter(|name| !database.contains_key(*name))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let files = write_order((**database).clone());
    tokio::task::spawn_blocking(move || {
        write_files(&dir, &files)?;
        remove_files(&dir, &stale)
    })
    .await?
    .context("bringing the TUF repository to the database's")?;
    Ok((root, keys))
}

/// Checks that `new` may follow `trusted` as a client updating its root checks it (TUF §5.3.4,
/// §5.3.5, §5.3.10): the next version, signed by a threshold of the trusted root's root keys and
/// of its own, not expired, with consistent snapshots.
pub fn check_root_update(trusted: &Signed<Root>, new: &Signed<Root>) -> anyhow::Result<()> {
    let v = trusted.signed.version.get();
    ensure!(
        new.signed.version.get() == v + 1,
        "the new root is version {}, not the next one, {}",
        new.signed.version,
        v + 1
    );
    trusted.signed.verify_role(new).map_err(|e| {
        anyhow::anyhow!("the new root is not signed by enough keys of root version {v}: {e}")
    })?;
    new.signed.verify_role(new).map_err(|e| {
        anyhow::anyhow!("the new root is not signed by enough of its own root keys: {e}")
    })?;
    ensure!(
        new.signed.expires.as_second() > now(),
        "the new root expired at {}",
        new.signed.expires
    );
    ensure!(
        new.signed.consistent_snapshot,
        "the new root must keep consistent_snapshot: true"
    );
    Ok(())
}

impl Repository {
    /// Writes `written` into the working copy and serves it from then on (beside the files
    /// already served, replacing those of the same names).
    async fn write_and_serve(&self, written: Vec<(String, Bytes)>) -> anyhow::Result<()> {
        let dir = self.dir.clone();
        let files = written.clone();
        tokio::task::spawn_blocking(move || write_files(&dir, &files))
            .await
            .context("writing the TUF repository")??;
        let mut served = (*self.files()).clone();
        served.extend(written);
        *self.files.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(served);
        Ok(())
    }

    /// Puts in place a root version signed elsewhere (`arkivo tuf install-root`), after
    /// [`check_root_update`] against the current one; re-reads the keys directory (a new
    /// online key is put there first) and signs again, with `content` as the targets, the
    /// metadata that no longer verifies. Returns the new root version.
    ///
    /// On PostgreSQL only the leader installs: the root goes into the database with the rest of
    /// the files, in one publication fenced by its epoch, so it reaches the database once, and
    /// at the newest versions (a follower's state may be behind the database's). Its key files
    /// are checked as a frontend taking the lead checks them ([`check_key_files`]).
    pub async fn install_root(
        &self,
        bytes: &[u8],
        content: Vec<(String, Vec<u8>)>,
    ) -> anyhow::Result<u64> {
        let new: Signed<Root> = parse(bytes, "the new root")?;
        let mut state = self.state.lock().await;
        if let Some(store) = &self.shared {
            ensure!(
                self.lead(store, &mut state).await?.is_some(),
                "this frontend does not lead the log, and only the leader signs the TUF \
                 repository: run `arkivo tuf install-root` with the data directory of the \
                 frontend that leads (its /readyz answers 200), or with every frontend stopped"
            );
        }
        check_root_update(&state.root, &new)?;
        let v = new.signed.version.get();
        let written = root_files(v, Bytes::copy_from_slice(bytes)).to_vec();
        let keys = if self.shared.is_some() {
            let mut files = (*self.files()).clone();
            files.extend(written.clone());
            check_key_files(&self.keys_dir, &files)
                .context("the new root: put its online keys there before installing it")?
                .1
        } else {
            let keys: Vec<RoleKey> = read_keys(&self.keys_dir)?
                .into_iter()
                .map(|(_, k)| k)
                .collect();
            check_online_keys(&new.signed, &keys, &self.keys_dir)
                .context("the new root: put its online keys there before installing it")?;
            keys
        };
        self.write_and_serve(written).await?;
        state.root = new;
        state.keys = boxed(keys);
        self.publish_locked(&mut state, content, true).await?;
        // Published only while leading: the lead lost meanwhile leaves the database without
        // the root (the working copy is brought back to the database's at the next lead).
        if self.shared.is_some() {
            let root = format!("{v}.root.json");
            let served = self.served.read().unwrap_or_else(|p| p.into_inner());
            ensure!(
                served.1.contains_key(&root),
                "this frontend stopped leading the log while installing root version {v}: it \
                 is not in the database; run `arkivo tuf install-root` again"
            );
        }
        Ok(state.root.signed.version.get())
    }
}

/// Puts a root version in place in the database while no frontend leads (`arkivo tuf
/// install-root` on PostgreSQL with no frontend answering on the data directory's admin
/// socket): under the leader lock, so no frontend publishes meanwhile, the database's files
/// with the root added, fenced by the epoch taken ([`check_root_update`] first against the
/// database's newest root). The next leader brings its working copy to these files and signs
/// again what no longer verifies under the new root ([`Repository::publish`]). The TUF key
/// files of `keys_dir`, if any (run on a frontend's machine), are checked as that leader will
/// check its own.
pub fn install_root_in_database(
    store: &PgStore,
    keys_dir: &Path,
    bytes: &[u8],
) -> anyhow::Result<u64> {
    let new: Signed<Root> = parse(bytes, "the new root")?;
    ensure!(
        store.try_lead()?,
        "another frontend leads the log, and only the leader signs the TUF repository: run \
         `arkivo tuf install-root` with the data directory of the frontend that leads (its \
         admin socket takes the root), or with every frontend stopped"
    );
    let installed = (|| -> anyhow::Result<u64> {
        let (generation, files) = store.tuf_files()?;
        ensure!(
            generation > 0,
            "the database holds no TUF repository yet: serve the log once"
        );
        let mut files = files
            .into_iter()
            .map(|(path, content)| (path, Bytes::from(content)))
            .collect::<BTreeMap<_, _>>();
        let current = current_root(&files)?;
        check_root_update(&current, &new)?;
        let v = new.signed.version.get();
        files.extend(root_files(v, Bytes::copy_from_slice(bytes)));
        if !read_keys(keys_dir)?.is_empty() {
            check_key_files(keys_dir, &files)
                .context("the new root: put its online keys there before installing it")?;
        }
        let set: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_ref()))
            .collect();
        store
            .publish_tuf(&set)
            .context("publishing the root in the database")?;
        Ok(v)
    })();
    // The lock goes back for the frontends; the next leader signs the rest.
    store.step_down();
    installed
}

/// The files a root version `v` is kept as (TUF specification, "Update the root role": clients
/// fetch `VERSION.root.json` one version after another; `root.json` is the newest one).
fn root_files(v: u64, bytes: Bytes) -> [(String, Bytes); 2] {
    [
        (format!("{v}.root.json"), bytes.clone()),
        ("root.json".to_owned(), bytes),
    ]
}

/// The current root of a repository's `files`.
pub fn current_root(files: &BTreeMap<String, Bytes>) -> anyhow::Result<Signed<Root>> {
    let (v, bytes) = latest_root(files).context("the TUF repository has no root")?;
    parse(bytes, &format!("{v}.root.json"))
}

/// What to change in a new root version (`arkivo tuf root new`).
#[derive(Debug, Default)]
pub struct RootChanges {
    /// The root keys of the new version (unchanged when empty).
    pub root_keys: Vec<Key>,
    /// Root signatures needed (unchanged when `None`).
    pub threshold: Option<u64>,
    /// A new key for an online role, replacing its keys.
    pub role_keys: Vec<(RoleType, Key)>,
}

/// The next root version after `current`, with `changes`, expiring after `lifetime`,
/// unsigned: sign it with `arkivo tuf root sign` (by a threshold of the old root keys and of
/// the new ones).
pub fn next_root(
    current: &Signed<Root>,
    changes: RootChanges,
    lifetime: Duration,
) -> anyhow::Result<Vec<u8>> {
    let mut root = current.signed.clone();
    root.version = version(root.version.get() + 1);
    root.expires = expires(now(), lifetime);
    let mut set = |role: RoleType, keys: Vec<Key>| -> anyhow::Result<()> {
        let ids = keys
            .iter()
            .map(Key::key_id)
            .collect::<Result<Vec<_>, _>>()?;
        for (id, key) in ids.iter().zip(keys) {
            root.keys.insert(id.clone(), key);
        }
        let role_keys = root.roles.get_mut(&role).context("the root lacks a role")?;
        role_keys.keyids = ids;
        Ok(())
    };
    if !changes.root_keys.is_empty() {
        set(RoleType::Root, changes.root_keys)?;
    }
    for (role, key) in changes.role_keys {
        set(role, vec![key])?;
    }
    let root_role = root
        .roles
        .get_mut(&RoleType::Root)
        .context("the root lacks the root role")?;
    if let Some(t) = changes.threshold {
        root_role.threshold = version(t);
    }
    ensure!(
        root_role.threshold.get() >= 1
            && root_role.threshold.get() <= root_role.keyids.len() as u64,
        "the root threshold ({}) must be between 1 and the number of root keys ({})",
        root_role.threshold,
        root_role.keyids.len()
    );
    // Keys no role lists any longer leave the root.
    let listed: Vec<_> = root.roles.values().flat_map(|r| r.keyids.clone()).collect();
    root.keys.retain(|id, _| listed.contains(id));
    let unsigned = Signed {
        signed: root,
        signatures: Vec::new(),
    };
    let mut bytes = serde_json::to_vec_pretty(&unsigned)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Adds the signatures of `keys` to a root version (`arkivo tuf root sign`, on the machine that
/// holds them): an old root key signs for the clients that trust the old version, a new one for
/// the new version itself (TUF §5.3.4).
pub async fn sign_root(bytes: &[u8], keys: Vec<RoleKey>) -> anyhow::Result<Vec<u8>> {
    let root: Signed<Root> = parse(bytes, "the root")?;
    // tough signs a role with the keys its holder lists for it: list these.
    let mut holder = root.signed.clone();
    for key in &keys {
        let tuf_key = key.tuf_key();
        let id = tuf_key.key_id()?;
        holder.keys.insert(id.clone(), tuf_key);
        let role = holder
            .roles
            .get_mut(&RoleType::Root)
            .context("the root lacks the root role")?;
        if !role.keyids.contains(&id) {
            role.keyids.push(id);
        }
    }
    let signed = sign(root.signed, &holder, &boxed(keys))
        .await?
        .add_old_signatures(root.signatures)?;
    Ok(signed.buffer().clone())
}

/// `files` in the order [`write_files`] must write them for a reader never to find a file
/// naming one not yet there: targets, roots, targets metadata, snapshots, the timestamp last.
pub fn write_order(files: BTreeMap<String, Bytes>) -> Vec<(String, Bytes)> {
    let rank = |name: &str| {
        if name.starts_with("targets/") {
            0
        } else if name.ends_with(".root.json") {
            1
        } else if name == "root.json" {
            2
        } else if name.ends_with(".targets.json") {
            3
        } else if name.ends_with(".snapshot.json") {
            4
        } else {
            5
        }
    };
    let mut files: Vec<_> = files.into_iter().collect();
    files.sort_by_key(|(name, _)| rank(name));
    files
}

/// Puts a root version in place while no server runs ([`check_root_update`] first); the next
/// start signs again what no longer verifies under it ([`Repository::open`]).
pub fn install_root_unserved(data_dir: &Path, bytes: &[u8]) -> anyhow::Result<u64> {
    let dir = repository_dir(data_dir);
    let new: Signed<Root> = parse(bytes, "the new root")?;
    let files = read_files(&dir)?;
    ensure!(
        !files.is_empty(),
        "no TUF repository in {}: serve the log once",
        dir.display()
    );
    check_root_update(&current_root(&files)?, &new)?;
    let v = new.signed.version.get();
    write_files(&dir, &root_files(v, Bytes::copy_from_slice(bytes)))?;
    Ok(v)
}

/// The targets for the log as `view` describes it, served by `api`: exactly what its API
/// serves.
pub fn targets(
    api: &crate::api::AppState,
    view: &crate::sequencer::View,
) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            TRUSTED_ROOT_TARGET.to_owned(),
            crate::api::trusted_root_json(api, view),
        ),
        (
            SIGNING_CONFIG_TARGET.to_owned(),
            crate::api::signing_config_json(api),
        ),
    ]
}

/// Re-signs the metadata past half its lifetime, every [`TufSettings::check_interval`].
/// On PostgreSQL also every second at most, so that a frontend taking the lead publishes soon.
pub async fn keep_fresh(repository: Arc<Repository>, api: crate::api::AppState) {
    let mut interval = repository.settings.check_interval();
    if repository.shared.is_some() {
        interval = interval.min(Duration::from_secs(1));
    }
    let mut every = tokio::time::interval(interval);
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(e) = repository
            .publish(targets(&api, &api.sequencer.published().view()))
            .await
        {
            tracing::error!(
                error = format!("{e:#}"),
                "re-signing the TUF repository failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsigned<T: Serialize>(role: T) -> Bytes {
        let signed = Signed {
            signed: role,
            signatures: Vec::new(),
        };
        Bytes::from(serde_json::to_vec(&signed).unwrap())
    }

    /// A repository whose targets version `t` names `targets/<t>…<t>.trusted_root.json`, and
    /// whose snapshot version `s` names targets version `targets_of(s)`.
    fn repository(snapshots: u64, targets_of: impl Fn(u64) -> u64) -> BTreeMap<String, Bytes> {
        let when = jiff::Timestamp::MAX;
        let mut files = BTreeMap::new();
        for s in 1..=snapshots {
            let t = targets_of(s);
            let mut snapshot = Snapshot::new(SPEC_VERSION.to_owned(), version(s), when);
            snapshot.meta.insert(
                "targets.json".to_owned(),
                Metafile {
                    length: None,
                    hashes: None,
                    version: version(t),
                    _extra: HashMap::new(),
                },
            );
            files.insert(format!("{s}.snapshot.json"), unsigned(snapshot));
            let mut targets = Targets::new(SPEC_VERSION.to_owned(), version(t), when);
            let hash = [u8::try_from(t).unwrap(); 32];
            targets.targets.insert(
                TargetName::new(TRUSTED_ROOT_TARGET).unwrap(),
                Target {
                    length: 1,
                    hashes: Hashes {
                        sha256: hash.to_vec().into(),
                        _extra: HashMap::new(),
                    },
                    custom: HashMap::new(),
                    _extra: HashMap::new(),
                },
            );
            files.insert(format!("{t}.targets.json"), unsigned(targets));
            let file = format!("targets/{}.{TRUSTED_ROOT_TARGET}", hex::encode(hash));
            files.insert(file, Bytes::new());
        }
        for name in ["1.root.json", "2.root.json", "root.json", "timestamp.json"] {
            files.insert(name.to_owned(), Bytes::new());
        }
        files
    }

    fn target_file(t: u8) -> String {
        format!("targets/{}.{TRUSTED_ROOT_TARGET}", hex::encode([t; 32]))
    }

    #[test]
    fn prunes_snapshots_then_targets_then_target_files_and_never_a_root() {
        // Each snapshot with its own targets version: keep 2 keeps versions 4 to 6.
        let files = repository(6, |s| s);
        let pruned = prunable(&files, 6, 2).unwrap();
        let mut expected: Vec<String> = (1..=3).map(|v| format!("{v}.snapshot.json")).collect();
        expected.extend((1..=3).map(|v| format!("{v}.targets.json")));
        expected.extend((1..=3).map(target_file));
        assert_eq!(pruned, expected);
        // Nothing to prune within the window, nor twice.
        assert!(prunable(&files, 6, 8).unwrap().is_empty());
        let mut rest = files.clone();
        for name in &pruned {
            rest.remove(name);
        }
        assert!(prunable(&rest, 6, 2).unwrap().is_empty());
    }

    #[test]
    fn keeps_the_older_targets_a_kept_snapshot_names() {
        // Snapshots re-signed while the targets stayed: snapshots 1–3 name targets 1, 4–6
        // targets 2. Keeping snapshots 5 and 6 keeps targets 2 only; keeping 3 to 6 keeps 1 too.
        let files = repository(6, |s| if s <= 3 { 1 } else { 2 });
        assert_eq!(
            prunable(&files, 6, 1).unwrap(),
            [
                "1.snapshot.json",
                "2.snapshot.json",
                "3.snapshot.json",
                "4.snapshot.json",
                "1.targets.json",
                &target_file(1),
            ]
        );
        assert_eq!(
            prunable(&files, 6, 3).unwrap(),
            ["1.snapshot.json", "2.snapshot.json"]
        );
    }

    #[test]
    fn prunes_what_a_crash_left_newer_than_the_timestamp_names() {
        // 7.snapshot.json and 7.targets.json written, the timestamp still naming 6.
        let files = repository(7, |s| s);
        let pruned = prunable(&files, 6, 8).unwrap();
        assert_eq!(
            pruned,
            ["7.snapshot.json", "7.targets.json", &target_file(7)]
        );
    }
}
