//! The PostgreSQL store: the same rows as the RocksDB store, in tables of one database, for logs
//! that outgrow one machine. Failover is the database's job (Patroni, CloudNativePG, a managed
//! service); this store only makes sure that nothing is acknowledged or published before a
//! synchronous standby has it, and that exactly one frontend writes (docs/design.md "Storage").
//!
//! | table | rows |
//! | --- | --- |
//! | `arkivo_schema` | the schema version this database was brought to |
//! | `arkivo_meta` | the log's [`LogMeta`] (the same JSON as RocksDB's `meta` row) |
//! | `arkivo_head` | one row: the leader's epoch, the newest committed head, the published head |
//! | `arkivo_entries` | log index → integrated time, canonical body, SET (null before schema 2); the leaf hash, unique |
//! | `arkivo_hashes` | stored-hash index → 32-byte hash |
//! | `arkivo_search` | (index key, log index) |
//! | `arkivo_tuf` | path under `/tuf/` → the TUF repository's file, as the leader last published it |
//!
//! The CA's CT log (docs/keyless.md "The CT log") is a second tree in the same database: the
//! same tables, with their own schema version, in the schema `arkivo_ct` ([`Namespace`]), so
//! the same statements, versioning, fencing and replication guard serve it unchanged; only its
//! leader lock is its own. (Its schema gets the `arkivo_tuf` table too, from the one list of
//! migrations, and leaves it empty: the log's leader publishes the TUF repository.)
//!
//! Three PostgreSQL behaviours shape it:
//! - A commit waits for its synchronous standby (`synchronous_commit = on`), and while it waits
//!   it is invisible to other sessions. A wait that is cancelled or whose session is terminated
//!   ends with a WARNING that the transaction "might not have been replicated" — and `COMMIT`
//!   still reports success. So a commit counts as acknowledged only when it returned without any
//!   warning ([`Writer::finish`]); otherwise the store stops writing (steps down) and the next
//!   leader reloads the head. No statement timeout or cancel is ever put on a commit.
//! - The committed head is not what readers are shown: a head is *published* (the
//!   `published_*` columns) only by a transaction that commits after the head's own commit was
//!   acknowledged, so a head made visible by a cancelled wait is never served.
//! - Exactly one writer: leadership is a session-level advisory lock held on a dedicated
//!   session, and an epoch in `arkivo_head` that each new leader bumps. Every batch's first
//!   statement updates the head row `WHERE epoch = <mine> AND size = <old size>`: a frontend that
//!   lost the lock (its session died, the primary failed over) writes nothing and steps down.
//!
//! Reads of rows (entries, stored hashes, search rows, leaf lookups) may go to a hot standby
//! ([`PgOptions::read_url`]); the head, the published head and the log's identity are always
//! read from the primary. A standby replays the primary's commits in order and may lag, so a
//! read goes there only when the standby's own head row shows that it replayed every row below
//! the largest tree size this store has handed out ([`PgStore::read_rows`]); otherwise, or when
//! the standby does not answer, it goes to the primary (docs/design.md "Reads from standbys").

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::config::TargetSessionAttrs;
use postgres::error::{DbError, Severity, SqlState};
use postgres::types::Type;
use postgres::{Client, Config};
use r2d2_postgres::{PostgresConnectionManager, r2d2};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls;

use super::codec;
use super::{
    CommitBatch, FORMAT_VERSION, LogMeta, LogStore, StorageError, StoredEntry, TreeHead,
    readable_format,
};
use arkivo_core::merkle::Hash;

/// The newest schema this arkivo knows; [`MIGRATIONS`]`[v]` brings a database from `v` to `v + 1`.
pub const SCHEMA_VERSION: i32 = 3;

const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    "
    CREATE TABLE arkivo_meta (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        meta bytea NOT NULL
    );
    CREATE TABLE arkivo_head (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        epoch bigint NOT NULL,
        size bigint NOT NULL,
        head bytea,
        published_size bigint NOT NULL,
        published_head bytea
    );
    INSERT INTO arkivo_head (epoch, size, published_size) VALUES (0, 0, 0);
    CREATE TABLE arkivo_entries (
        idx bigint PRIMARY KEY,
        leaf_hash bytea NOT NULL UNIQUE,
        integrated_time bigint NOT NULL,
        body bytea NOT NULL
    );
    CREATE TABLE arkivo_hashes (
        idx bigint PRIMARY KEY,
        hash bytea NOT NULL
    );
    CREATE TABLE arkivo_search (
        key bytea NOT NULL,
        idx bigint NOT NULL,
        PRIMARY KEY (key, idx)
    );
",
    "
    -- The SET signed when the entry was written (rekor-v1-api.md §4); null for the entries
    -- written before, which are served with one signed at read time.
    ALTER TABLE arkivo_entries ADD COLUMN signed_entry_timestamp bytea;
",
    "
    -- The TUF repository (docs/tuf.md): its files as served, replaced as a set by the leader in
    -- one transaction that bumps tuf_generation, which tells the frontends to re-read them.
    ALTER TABLE arkivo_head ADD COLUMN tuf_generation bigint NOT NULL DEFAULT 0;
    CREATE TABLE arkivo_tuf (
        path text PRIMARY KEY,
        content bytea NOT NULL
    );
",
];

/// Advisory lock keys, in the two-key form `pg_advisory_lock(class, id)`: the class is "arkv".
const LOCK_CLASS: i32 = i32::from_be_bytes(*b"arkv");
const LOCK_MIGRATION: i32 = 1;
const LOCK_LEADER: i32 = 2;
const LOCK_CT_LEADER: i32 = 3;

/// The TUF repository's files in the database: (path under `/tuf/`, content).
pub type TufFiles = Vec<(String, Vec<u8>)>;

/// Which tree a store holds. Its sessions find its tables through their `search_path`, so every
/// statement names them alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Namespace {
    /// The log: its tables in the database's default schema (`public`).
    #[default]
    Log,
    /// The CA's CT log: the same tables in the schema `arkivo_ct`, led under a lock of its own
    /// (by the frontend that leads the log: `crate::leader`).
    CtLog,
}

impl Namespace {
    /// The schema holding the tables, when not the default one.
    fn schema(self) -> Option<&'static str> {
        match self {
            Namespace::Log => None,
            Namespace::CtLog => Some("arkivo_ct"),
        }
    }

    fn leader_lock(self) -> i32 {
        match self {
            Namespace::Log => LOCK_LEADER,
            Namespace::CtLog => LOCK_CT_LEADER,
        }
    }
}

/// Hashes kept in [`PgStore`]'s `recent`: about two per entry, so those of the last ~64,000
/// entries (the left siblings of a new entry's proof up to level 15); ~6 MB.
const RECENT_HASHES: usize = 1 << 17;

/// Session settings of the writer: a commit must wait for the standby (never `local`/`off`,
/// whatever the role's or database's default), and nothing may time it out.
const WRITER_OPTIONS: &str = "-c synchronous_commit=on -c statement_timeout=0 \
                              -c idle_in_transaction_session_timeout=0";

/// How to reach the database. Deliberately not `Debug`: the URL may carry a password.
#[derive(Clone, Default)]
pub struct PgOptions {
    /// A `postgres://` URL or libpq `key=value` string. Point it at the primary's address (or
    /// list every node: the writer and the leader lock ask for `target_session_attrs=read-write`)
    /// and never at a transaction pooler, which would not keep a session's advisory lock.
    pub url: String,
    /// A file holding the password (its first line), instead of one in the URL.
    pub password_file: Option<PathBuf>,
    /// PEM certificates to verify the server's with, instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Run without a synchronous standby: commits are then acknowledged when the primary alone
    /// has them, and a failover can lose acknowledged entries.
    pub allow_no_sync_standby: bool,
    /// Where to read rows from instead of the primary: a hot standby's URL (or several hosts
    /// with `target_session_attrs=prefer-standby`), with the same password file and CA file.
    pub read_url: Option<String>,
    /// Which tree's tables the store reads and writes.
    pub namespace: Namespace,
}

/// Warnings the server sent on the writer's session (its notice callback collects them).
type Warnings = Arc<Mutex<Vec<String>>>;

type Manager = PostgresConnectionManager<MakeRustlsConnect>;

/// The session that commits, the one that holds the leader lock, and what they know as leader.
struct Writer {
    client: Client,
    /// Warnings the server sent on this session since they were last taken.
    warnings: Warnings,
    /// The epoch this store leads at; `None` when it does not lead (never did, or stepped down).
    epoch: Option<i64>,
    /// The newest head known replicated: its commit was acknowledged, or a later one was.
    acknowledged: Option<TreeHead>,
    /// The session holding the leader lock, once taken; closed (releasing it) on stepping down.
    leader_lock: Option<Client>,
}

pub struct PgStore {
    config: Config,
    tls: MakeRustlsConnect,
    /// Reads on the primary: any thread, concurrently.
    pool: r2d2::Pool<Manager>,
    /// Reads of rows on a standby, when [`PgOptions::read_url`] names one.
    standby: Option<r2d2::Pool<StandbyManager>>,
    /// The largest tree size this store has handed out (a head it read, committed or created):
    /// the frontend may serve rows below it, so a standby serves a read only once it holds
    /// them all.
    served_size: AtomicU64,
    writer: Mutex<Writer>,
    /// The hashes this store's acknowledged commits stored, the newest [`RECENT_HASHES`] of
    /// them: the 201 of each entry of a batch reads its inclusion proof, whose hashes below
    /// level 16 or so lie in the last few batches, so those proofs cost no query each. A stored
    /// hash never changes once acknowledged, so one kept here is never stale.
    recent: quick_cache::sync::Cache<u64, Hash>,
    /// Whether commits wait for a synchronous standby (`false` only when allowed not to).
    synchronous: bool,
    /// The advisory lock its leader holds ([`Namespace`]).
    leader_lock: i32,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hosts and database only: never the password.
        f.debug_struct("PgStore")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("standby", &self.standby.is_some())
            .finish()
    }
}

fn db_error(e: postgres::Error) -> StorageError {
    if e.code() == Some(&SqlState::DISK_FULL) {
        StorageError::NoSpace(e.to_string())
    } else {
        StorageError::Io(e.to_string())
    }
}

/// A log index or size as PostgreSQL's `bigint`.
fn to_sql(n: u64) -> Result<i64, StorageError> {
    i64::try_from(n).map_err(|_| StorageError::Io(format!("index {n} does not fit a bigint")))
}

fn from_sql(what: &str, n: i64) -> Result<u64, StorageError> {
    u64::try_from(n).map_err(|_| StorageError::Corrupt(format!("{what} is negative: {n}")))
}

/// A connection string, with the password of the password file if there is one.
fn parse_config(url: &str, password: Option<&str>) -> Result<Config, StorageError> {
    // The parse error names the bad parameter, never the password.
    let mut config = Config::from_str(url)
        .map_err(|e| StorageError::Io(format!("the PostgreSQL connection string: {e}")))?;
    if let Some(password) = password {
        config.password(password);
    }
    config.connect_timeout(Duration::from_secs(10));
    Ok(config)
}

fn tls(options: &PgOptions) -> Result<MakeRustlsConnect, StorageError> {
    let mut roots = rustls::RootCertStore::empty();
    match &options.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    StorageError::Io(format!("reading the CA file {}: {e}", path.display()))
                })?;
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    StorageError::Io(format!("a certificate in {}: {e}", path.display()))
                })?;
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    // As for the HTTP server: aws-lc-rs, named, since more than one provider is linked.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StorageError::Io(format!("TLS to the database: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

impl PgStore {
    /// Connects, brings the schema to [`SCHEMA_VERSION`] (refusing a newer one), and checks that
    /// commits wait for a synchronous standby. The store serves reads; it writes only after
    /// [`PgStore::try_lead`].
    pub fn open(options: &PgOptions) -> Result<Self, StorageError> {
        let password = match &options.password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    StorageError::Io(format!("reading the password file {}: {e}", path.display()))
                })?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            None => None,
        };
        let in_namespace = |mut config: Config| {
            if let Some(schema) = options.namespace.schema() {
                let found = config.get_options().unwrap_or_default().to_owned();
                config.options(&format!("{found} -c search_path={schema}"));
            }
            config
        };
        let config = in_namespace(parse_config(&options.url, password.as_deref())?);
        let standby_config = options
            .read_url
            .as_deref()
            .map(|url| parse_config(url, password.as_deref()).map(in_namespace))
            .transpose()?;
        let tls = tls(options)?;
        let (client, warnings) = connect_writer(&config, &tls)?;
        let mut writer = Writer {
            client,
            warnings,
            epoch: None,
            acknowledged: None,
            leader_lock: None,
        };
        migrate(&mut writer.client, options.namespace)?;
        let synchronous = check_replication(&mut writer.client, options.allow_no_sync_standby)?;
        let mut read_config = config.clone();
        read_config.application_name("arkivo reader");
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            // No round trip before every read: a session broken (say by a failover) fails one
            // read and is then dropped from the pool.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(PostgresConnectionManager::new(read_config, tls.clone()))
            .map_err(|e| StorageError::Io(format!("connecting to PostgreSQL: {e}")))?;
        let standby = standby_config.map(|mut config| {
            // A standby cut off without a reset (a dropped network path) fails a read within
            // the timeout rather than the kernel's retransmission minutes.
            config
                .application_name("arkivo standby reader")
                .connect_timeout(STANDBY_CONNECT_TIMEOUT)
                .tcp_user_timeout(STANDBY_CONNECT_TIMEOUT);
            r2d2::Pool::builder()
                .max_size(8)
                // One session kept open: while the standby is down, the pool keeps trying to
                // open it in the background (at most every STANDBY_CONNECT_TIMEOUT / 2), and
                // reads go to the primary without waiting.
                .min_idle(Some(1))
                .test_on_check_out(false)
                .connection_timeout(STANDBY_CONNECT_TIMEOUT)
                .error_handler(Box::new(StandbyErrors))
                // Unchecked: a standby that is down at start is no reason not to serve.
                .build_unchecked(StandbyManager(PostgresConnectionManager::new(
                    config,
                    tls.clone(),
                )))
        });
        let store = PgStore {
            config,
            tls,
            pool,
            standby,
            served_size: AtomicU64::new(0),
            writer: Mutex::new(writer),
            recent: quick_cache::sync::Cache::new(RECENT_HASHES),
            synchronous,
            leader_lock: options.namespace.leader_lock(),
        };
        if let Some(meta) = store.meta()?
            && !readable_format(meta.format_version)
        {
            return Err(StorageError::Incompatible(format!(
                "the database holds a log of format version {}, but this arkivo reads format \
                 versions 1 to {FORMAT_VERSION}; it was not modified",
                meta.format_version
            )));
        }
        Ok(store)
    }

    /// Takes the leadership if no other frontend holds it: the advisory lock on a dedicated
    /// session, then a bumped epoch, committed and acknowledged. The head it finds is then known
    /// replicated (the bump committed after it), so it is this leader's first published head.
    /// Returns `false` when another frontend leads.
    pub fn try_lead(&self) -> Result<bool, StorageError> {
        let mut w = self.writer();
        if w.epoch.is_some() {
            return Ok(true);
        }
        if w.leader_lock.as_ref().is_none_or(Client::is_closed) {
            let mut config = self.config.clone();
            config
                .application_name("arkivo leader lock")
                .target_session_attrs(TargetSessionAttrs::ReadWrite);
            w.leader_lock = Some(config.connect(self.tls.clone()).map_err(db_error)?);
        }
        let session = w.leader_lock.as_mut().expect("connected above");
        let taken: bool = session
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&LOCK_CLASS, &self.leader_lock],
            )
            .map_err(db_error)?
            .get(0);
        if !taken {
            return Ok(false);
        }
        let bump = |w: &mut Writer| -> Result<(i64, Option<TreeHead>), StorageError> {
            if w.client.is_closed() {
                (w.client, w.warnings) = connect_writer(&self.config, &self.tls)?;
            }
            let (epoch, head) = w.transaction(|tx| {
                let row = tx.query_one(
                    "UPDATE arkivo_head SET epoch = epoch + 1 RETURNING epoch, head",
                    &[],
                )?;
                Ok((row.get::<_, i64>(0), row.get::<_, Option<Vec<u8>>>(1)))
            })?;
            Ok((epoch, head.as_deref().map(codec::decode_head).transpose()?))
        };
        let (epoch, head) = bump(&mut w).inspect_err(|_| {
            // Gives the lock back for another frontend.
            w.step_down();
        })?;
        if let Some(head) = &head {
            self.served(head.size);
        }
        w.acknowledged = head;
        w.epoch = Some(epoch);
        tracing::info!(epoch, "leading: this frontend sequences the log");
        Ok(true)
    }

    /// The epoch this store leads at, if it leads.
    pub fn epoch(&self) -> Option<i64> {
        self.writer().epoch
    }

    /// Whether this store still leads: its lock's session answers, and the head row still has
    /// its epoch. Steps down (releasing the lock) when not.
    pub fn check_lead(&self) -> Result<bool, StorageError> {
        let mut w = self.writer();
        let Some(epoch) = w.epoch else {
            return Ok(false);
        };
        let Some(session) = w.leader_lock.as_mut() else {
            w.step_down();
            return Ok(false);
        };
        match session.query_one("SELECT epoch FROM arkivo_head", &[]) {
            Ok(row) if row.get::<_, i64>(0) == epoch => Ok(true),
            Ok(_) => {
                w.step_down();
                Ok(false)
            }
            Err(e) => {
                w.step_down();
                Err(db_error(e))
            }
        }
    }

    /// Stops writing and releases the leader lock (to another frontend, or to this one's next
    /// [`PgStore::try_lead`], which reloads the head).
    pub fn step_down(&self) {
        self.writer().step_down();
    }

    /// Whether commits wait for a synchronous standby: `false` only on a database without one
    /// that [`PgOptions::allow_no_sync_standby`] let this store open.
    pub fn synchronous(&self) -> bool {
        self.synchronous
    }

    /// Publishes the newest acknowledged head, in a transaction of its own (a batch publishes
    /// its predecessor's in its own transaction; this is for when no batch follows).
    pub fn publish(&self) -> Result<(), StorageError> {
        let mut w = self.writer();
        let epoch = w.leading()?;
        let Some(head) = w.acknowledged.clone() else {
            return Ok(());
        };
        let (size, row) = (to_sql(head.size)?, codec::encode_head(&head));
        w.transaction(|tx| {
            tx.execute(
                "UPDATE arkivo_head SET published_size = $1, published_head = $2 \
                 WHERE epoch = $3 AND published_size < $1",
                &[&size, &row, &epoch],
            )
        })?;
        Ok(())
    }

    /// The generation of the TUF repository's files in the database: 0 before the first
    /// [`PgStore::publish_tuf`], then one more with each. Read from the primary.
    pub fn tuf_generation(&self) -> Result<i64, StorageError> {
        Ok(self
            .read()?
            .query_one("SELECT tuf_generation FROM arkivo_head", &[])
            .map_err(db_error)?
            .get(0))
    }

    /// The TUF repository's files and their generation, read in one statement, so from one
    /// snapshot. Read from the primary.
    pub fn tuf_files(&self) -> Result<(i64, TufFiles), StorageError> {
        let rows = self
            .read()?
            .query(
                "SELECT h.tuf_generation, t.path, t.content \
                 FROM arkivo_head h LEFT JOIN arkivo_tuf t ON true",
                &[],
            )
            .map_err(db_error)?;
        let generation = rows.first().map_or(0, |row| row.get(0));
        let files = rows
            .iter()
            // No file: one row of nulls beside the generation (the left join).
            .filter_map(|row| Some((row.get::<_, Option<String>>(1)?, row.get(2))))
            .collect();
        Ok((generation, files))
    }

    /// Replaces the TUF repository's files with `files` (path, content), in one transaction
    /// fenced like a batch by this leader's epoch; returns their generation.
    pub fn publish_tuf(&self, files: &[(&str, &[u8])]) -> Result<i64, StorageError> {
        let mut w = self.writer();
        let epoch = w.leading()?;
        let paths: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
        let contents: Vec<&[u8]> = files.iter().map(|(_, c)| *c).collect();
        let generation = w.transaction(|tx| {
            // First statement: the fence.
            let Some(row) = tx.query_opt(
                "UPDATE arkivo_head SET tuf_generation = tuf_generation + 1 WHERE epoch = $1 \
                 RETURNING tuf_generation",
                &[&epoch],
            )?
            else {
                return Ok(None);
            };
            tx.execute("DELETE FROM arkivo_tuf", &[])?;
            tx.execute(
                "INSERT INTO arkivo_tuf (path, content) \
                 SELECT * FROM unnest($1::text[], $2::bytea[])",
                &[&paths, &contents],
            )?;
            Ok(Some(row.get::<_, i64>(0)))
        })?;
        generation.ok_or_else(|| {
            w.step_down();
            fenced(epoch)
        })
    }

    /// Whether the database has the tables of `namespace` (made by the first store opened in
    /// it), asked without making them.
    pub fn has_namespace(&self, namespace: Namespace) -> Result<bool, StorageError> {
        let table = match namespace.schema() {
            Some(schema) => format!("{schema}.arkivo_meta"),
            None => "arkivo_meta".to_owned(),
        };
        Ok(self
            .read()?
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .map_err(db_error)?
            .get(0))
    }

    /// The published head: what readers may serve (entries, proofs and tiles below its size).
    /// Always read from the primary.
    pub fn published(&self) -> Result<Option<TreeHead>, StorageError> {
        let head = self
            .read()?
            .query_one("SELECT published_head FROM arkivo_head", &[])
            .map_err(db_error)?
            .get::<_, Option<Vec<u8>>>(0)
            .as_deref()
            .map(codec::decode_head)
            .transpose()?;
        if let Some(head) = &head {
            self.served(head.size);
        }
        Ok(head)
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session on the primary.
    fn read(&self) -> Result<r2d2::PooledConnection<Manager>, StorageError> {
        self.pool
            .get()
            .map_err(|e| StorageError::Io(format!("connecting to PostgreSQL: {e}")))
    }

    /// Records that the frontend may now serve rows below `size`. Called before the head is
    /// returned, so before anything below it can be asked for.
    fn served(&self, size: u64) {
        self.served_size.fetch_max(size, Ordering::SeqCst);
    }

    /// Runs a read of rows on the standby when it holds every row below the largest size this
    /// store handed out, else on the primary.
    ///
    /// Why that is enough: every row is written in the same transaction as the head row that
    /// covers it (`commit`, `create`), a standby replays transactions in commit order, and rows
    /// are never changed or deleted. So once a session on the standby has seen a head of size
    /// `s`, every row below `s` is there for the rest of that session, exactly as on the
    /// primary: an entry, a stored hash of any tree up to `s`, every search row of the entries
    /// below `s`. Rows at or above the served size may be missing on the standby, but nobody
    /// may serve them yet (callers read only below a published size, as on the primary).
    fn read_rows<T>(
        &self,
        read: impl Fn(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StorageError> {
        if let Some(standby) = &self.standby {
            let needed = self.served_size.load(Ordering::SeqCst);
            match read_on_standby(standby, needed, &read) {
                Ok(Some(value)) => {
                    crate::metrics::standby_read();
                    return Ok(value);
                }
                Ok(None) => crate::metrics::read_fallback("standby_behind"),
                Err(e) => {
                    tracing::debug!(error = %e, "reading from the standby");
                    crate::metrics::read_fallback("standby_unavailable");
                }
            }
        }
        read(&mut *self.read()?).map_err(db_error)
    }
}

/// How long a read waits for a session on the standby (or for the standby to acknowledge what
/// was sent to it) before it goes to the primary, and twice the longest pause between the
/// pool's attempts to reach a standby that is down.
const STANDBY_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// `read` on a session of the standby, or `None` when the standby has not yet replayed the head
/// of size `needed`; an error when it cannot be reached or fails.
fn read_on_standby<T>(
    standby: &r2d2::Pool<StandbyManager>,
    needed: u64,
    read: impl Fn(&mut Client) -> Result<T, postgres::Error>,
) -> Result<Option<T>, String> {
    // No session at all: the standby is down (the pool keeps trying in the background). Waiting
    // for one would delay every read by the connect timeout.
    if standby.state().connections == 0 {
        return Err("no session on the standby".into());
    }
    let mut session = standby.get().map_err(|e| e.to_string())?;
    // A session that once saw a head of this size still sees every row below it: no need to
    // ask again until the frontend serves a larger tree.
    if session.replayed < needed {
        // The simple protocol: one round trip. The head row's size is the committed head's:
        // every row below it is in the standby's snapshot (see PgStore::read_rows).
        let rows = session
            .client
            .simple_query("SELECT size FROM arkivo_head")
            .map_err(|e| e.to_string())?;
        session.replayed = rows
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse::<u64>().ok(),
                _ => None,
            })
            .ok_or("the standby has no head row")?;
        if session.replayed < needed {
            return Ok(None);
        }
    }
    read(&mut session.client)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A session on the standby, and the largest head size it has seen there.
struct StandbySession {
    client: Client,
    replayed: u64,
}

/// The standby's sessions: the primary's kind, each with what it has seen replayed.
struct StandbyManager(Manager);

impl r2d2::ManageConnection for StandbyManager {
    type Connection = StandbySession;
    type Error = postgres::Error;

    fn connect(&self) -> Result<StandbySession, postgres::Error> {
        Ok(StandbySession {
            client: self.0.connect()?,
            replayed: 0,
        })
    }

    fn is_valid(&self, session: &mut StandbySession) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut session.client)
    }

    fn has_broken(&self, session: &mut StandbySession) -> bool {
        self.0.has_broken(&mut session.client)
    }
}

/// The standby pool's connection errors, at debug level: while the standby is down the pool
/// retries every second or so, and each read that goes to the primary instead is counted in
/// `arkivo_storage_read_fallbacks_total`.
#[derive(Debug)]
struct StandbyErrors;

impl r2d2::HandleError<postgres::Error> for StandbyErrors {
    fn handle_error(&self, error: postgres::Error) {
        tracing::debug!(error = %error, "connecting to the standby");
    }
}

/// The writer's session, with its warnings collected rather than only logged.
fn connect_writer(
    config: &Config,
    tls: &MakeRustlsConnect,
) -> Result<(Client, Warnings), StorageError> {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let sink = warnings.clone();
    let mut config = config.clone();
    let options = [config.get_options().unwrap_or_default(), WRITER_OPTIONS].join(" ");
    config
        .application_name("arkivo sequencer")
        .target_session_attrs(TargetSessionAttrs::ReadWrite)
        .options(&options)
        .notice_callback(move |notice: DbError| {
            // The parsed severity, not the text: messages follow the server's lc_messages.
            if notice.parsed_severity() == Some(Severity::Warning) {
                let text = match notice.detail() {
                    Some(detail) => format!("{} ({detail})", notice.message()),
                    None => notice.message().to_owned(),
                };
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(text);
            }
        });
    let client = config.connect(tls.clone()).map_err(db_error)?;
    Ok((client, warnings))
}

/// Applies the migrations `namespace`'s tables lack, one frontend at a time.
fn migrate(client: &mut Client, namespace: Namespace) -> Result<(), StorageError> {
    let mut tx = client.transaction().map_err(db_error)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_CLASS, &LOCK_MIGRATION],
    )
    .map_err(db_error)?;
    if let Some(schema) = namespace.schema() {
        // The session's search_path names it: its tables are made in it.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .map_err(db_error)?;
    }
    tx.batch_execute("CREATE TABLE IF NOT EXISTS arkivo_schema (version integer NOT NULL)")
        .map_err(db_error)?;
    let found: Option<i32> = tx
        .query_opt("SELECT version FROM arkivo_schema", &[])
        .map_err(db_error)?
        .map(|row| row.get(0));
    let version = found.unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(StorageError::Incompatible(format!(
            "the database holds Arkivo schema version {version}, newer than this arkivo knows \
             ({SCHEMA_VERSION}): run a newer arkivo; the database was not modified"
        )));
    }
    if version == SCHEMA_VERSION {
        // Nothing to write: a frontend starting while the standby is away does not wait.
        return tx.commit().map_err(db_error);
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql).map_err(|e| {
            StorageError::Io(format!("migrating the schema from version {from}: {e}"))
        })?;
    }
    if found.is_none() {
        tx.execute(
            "INSERT INTO arkivo_schema (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )
    } else {
        tx.execute("UPDATE arkivo_schema SET version = $1", &[&SCHEMA_VERSION])
    }
    .map_err(db_error)?;
    tx.commit().map_err(db_error)
}

/// Refuses a database whose commits would not wait for a standby, unless told otherwise;
/// whether they wait. (`synchronous_commit` is the writer's own: always `on`.)
fn check_replication(client: &mut Client, allow_without: bool) -> Result<bool, StorageError> {
    let names: String = client
        .query_one("SELECT current_setting('synchronous_standby_names')", &[])
        .map_err(db_error)?
        .get(0);
    if !names.trim().is_empty() {
        return Ok(true);
    }
    if allow_without {
        tracing::warn!(
            "PostgreSQL has no synchronous standby (synchronous_standby_names is empty): entries \
             are acknowledged when the primary alone has them, and a failover can lose them"
        );
        return Ok(false);
    }
    Err(StorageError::Incompatible(
        "PostgreSQL has no synchronous standby (synchronous_standby_names is empty), so an \
         acknowledged entry could be lost in a failover; configure one, or allow running \
         without it explicitly"
            .into(),
    ))
}

impl Writer {
    fn leading(&self) -> Result<i64, StorageError> {
        self.epoch.ok_or_else(|| {
            StorageError::Fenced(
                "this frontend does not lead (it never did, or stepped down)".into(),
            )
        })
    }

    /// Runs `f` in one transaction and commits it; `Ok` only if the commit was acknowledged:
    /// it returned, and without a warning (the one that matters says the transaction "might not
    /// have been replicated to the standby"). Any failure steps down: after an unknown outcome
    /// only a new leader, reloading the head, may write.
    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, StorageError> {
        self.take_warnings();
        let result = self.client.transaction().and_then(|mut tx| {
            let value = f(&mut tx)?;
            tx.commit().map(|()| value)
        });
        let warnings = self.take_warnings();
        match result {
            Ok(value) if warnings.is_empty() => Ok(value),
            Ok(_) => {
                self.step_down();
                Err(StorageError::Io(format!(
                    "the commit was not acknowledged as replicated: {}",
                    warnings.join("; ")
                )))
            }
            Err(e) => {
                self.step_down();
                Err(db_error(e))
            }
        }
    }

    fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Stops writing and closes the lock's session, which releases the lock to the next leader.
    fn step_down(&mut self) {
        if let Some(epoch) = self.epoch.take() {
            tracing::error!(epoch, "stepping down: this frontend no longer writes");
        }
        self.acknowledged = None;
        self.leader_lock = None;
    }
}

/// The first statement of a writing transaction found another epoch or another size.
fn fenced(epoch: i64) -> StorageError {
    StorageError::Fenced(format!(
        "the log's head is no longer this frontend's (epoch {epoch}): another frontend leads; \
         nothing was written"
    ))
}

impl LogStore for PgStore {
    fn meta(&self) -> Result<Option<LogMeta>, StorageError> {
        self.read()?
            .query_opt("SELECT meta FROM arkivo_meta", &[])
            .map_err(db_error)?
            .map(|row| codec::decode_meta(row.get(0)))
            .transpose()
    }

    fn create(&self, meta: &LogMeta, head: &TreeHead) -> Result<(), StorageError> {
        let mut w = self.writer();
        let epoch = w.leading()?;
        let (meta_row, head_row) = (codec::encode_meta(meta), codec::encode_head(head));
        let size = to_sql(head.size)?;
        let outcome = w.transaction(|tx| {
            let created = tx.execute(
                "INSERT INTO arkivo_meta (meta) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&meta_row],
            )?;
            // The empty tree holds nothing a failover could lose: published at once.
            let headed = tx.execute(
                "UPDATE arkivo_head SET size = $1, head = $2, published_size = $1, \
                 published_head = $2 WHERE epoch = $3",
                &[&size, &head_row, &epoch],
            )?;
            Ok((created, headed))
        });
        match outcome? {
            (0, _) => Err(StorageError::Incompatible(
                "a log already exists in this database".into(),
            )),
            (_, 0) => Err(fenced(epoch)),
            _ => {
                self.served(head.size);
                w.acknowledged = Some(head.clone());
                Ok(())
            }
        }
    }

    fn head(&self) -> Result<TreeHead, StorageError> {
        let row = self
            .read()?
            .query_one("SELECT head FROM arkivo_head", &[])
            .map_err(db_error)?;
        let head: Option<&[u8]> = row.get(0);
        let head = codec::decode_head(
            head.ok_or_else(|| StorageError::Corrupt("the tree head is missing".into()))?,
        )?;
        self.served(head.size);
        Ok(head)
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
        if let Some(hashes) = indexes.iter().map(|i| self.recent.get(i)).collect() {
            return Ok(hashes);
        }
        let keys = indexes
            .iter()
            .map(|&i| to_sql(i))
            .collect::<Result<Vec<_>, _>>()?;
        let found: HashMap<i64, Vec<u8>> = self
            .read_rows(|c| {
                c.query(
                    "SELECT idx, hash FROM arkivo_hashes WHERE idx = ANY($1)",
                    &[&keys],
                )
            })?
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        keys.iter()
            .zip(indexes)
            .map(|(key, i)| {
                let v = found
                    .get(key)
                    .ok_or_else(|| StorageError::Corrupt(format!("stored hash {i} is missing")))?;
                codec::decode_hash(&format!("stored hash {i}"), v)
            })
            .collect()
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StorageError> {
        let index = to_sql(index)?;
        Ok(self
            .read_rows(|c| {
                c.query_opt(
                    "SELECT integrated_time, body, signed_entry_timestamp FROM arkivo_entries \
                     WHERE idx = $1",
                    &[&index],
                )
            })?
            .map(|row| StoredEntry {
                integrated_time: row.get(0),
                body: row.get(1),
                set: row.get(2),
            }))
    }

    fn entries(&self, range: Range<u64>) -> Result<Vec<StoredEntry>, StorageError> {
        let (start, end) = (to_sql(range.start)?, to_sql(range.end)?);
        let rows = self.read_rows(|c| {
            c.query(
                "SELECT idx, integrated_time, body, signed_entry_timestamp FROM arkivo_entries \
                 WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&start, &end],
            )
        })?;
        let mut rows = rows.into_iter();
        range
            .map(|index| {
                let row = rows
                    .next()
                    .filter(|row| row.get::<_, i64>(0) == index as i64)
                    .ok_or_else(|| StorageError::Corrupt(format!("entry {index} is missing")))?;
                Ok(StoredEntry {
                    integrated_time: row.get(1),
                    body: row.get(2),
                    set: row.get(3),
                })
            })
            .collect()
    }

    fn indexes_of(&self, leaves: &[Hash]) -> Result<Vec<Option<u64>>, StorageError> {
        let keys: Vec<&[u8]> = leaves.iter().map(|l| &l.as_bytes()[..]).collect();
        let found: HashMap<Vec<u8>, i64> = self
            .read_rows(|c| {
                c.query(
                    "SELECT leaf_hash, idx FROM arkivo_entries WHERE leaf_hash = ANY($1)",
                    &[&keys],
                )
            })?
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        keys.iter()
            .map(|k| {
                found
                    .get(*k)
                    .map(|&i| from_sql("leaf index", i))
                    .transpose()
            })
            .collect()
    }

    fn search(&self, key: &str, below: u64, limit: usize) -> Result<Vec<u64>, StorageError> {
        // Callers pass a tree size or a found index as `below`, and "all" as `limit`.
        let below = i64::try_from(below).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read_rows(|c| {
            c.query(
                "SELECT idx FROM arkivo_search WHERE key = $1 AND idx < $2 \
                 ORDER BY idx DESC LIMIT $3",
                &[&key.as_bytes(), &below, &limit],
            )
        })?
        .into_iter()
        .map(|row| from_sql("search index", row.get(0)))
        .collect()
    }

    fn search_row_exists(&self, key: &str, index: u64) -> Result<bool, StorageError> {
        let index = to_sql(index)?;
        Ok(self
            .read_rows(|c| {
                c.query_opt(
                    "SELECT 1 FROM arkivo_search WHERE key = $1 AND idx = $2",
                    &[&key.as_bytes(), &index],
                )
            })?
            .is_some())
    }

    fn commit(&self, b: &CommitBatch<'_>) -> Result<(), StorageError> {
        let mut w = self.writer();
        let epoch = w.leading()?;
        let old_size = to_sql(b.first_index)?;
        let (size, head_row) = (to_sql(b.head.size)?, codec::encode_head(b.head));
        // The previous head was acknowledged (or this leader would have stepped down): this
        // batch's transaction, committing after it, publishes it.
        let published = w.acknowledged.clone();
        let published_size = to_sql(published.as_ref().map_or(0, |h| h.size))?;
        let published_row = published.as_ref().map(codec::encode_head);
        let mut indexes = Vec::with_capacity(b.entries.len());
        let mut leaves = Vec::with_capacity(b.entries.len());
        let mut bodies = Vec::with_capacity(b.entries.len());
        let (mut search_keys, mut search_indexes) = (Vec::new(), Vec::new());
        for (index, e) in (b.first_index..).zip(b.entries) {
            let index = to_sql(index)?;
            indexes.push(index);
            leaves.push(&e.leaf_hash.as_bytes()[..]);
            bodies.push(&e.body[..]);
            // Each (key, index) once, so the rows go in as they are (COPY has no `ON CONFLICT`,
            // which made each a speculative insertion anyway: an index probe first, and a
            // confirm record in the WAL after). No other batch can hold this index's rows: the
            // fence checked the size.
            let mut keys: Vec<&[u8]> = e.index_keys.iter().map(|k| k.as_bytes()).collect();
            keys.sort_unstable();
            keys.dedup();
            search_indexes.extend(std::iter::repeat_n(index, keys.len()));
            search_keys.extend(keys);
        }
        let hash_indexes = b
            .hashes
            .iter()
            .map(|(i, _)| to_sql(*i))
            .collect::<Result<Vec<_>, _>>()?;
        let hashes: Vec<&[u8]> = b.hashes.iter().map(|(_, h)| &h.as_bytes()[..]).collect();
        let fenced_out = w.transaction(|tx| {
            // First statement: the fence. Another leader's epoch, or another size, and the
            // batch writes nothing. Typed statements (here and below) are parsed, bound and run
            // in one round trip each, instead of a prepare's round trip before each.
            let owned = tx.execute_typed(
                "UPDATE arkivo_head SET size = $1, head = $2, \
                 published_size = greatest(published_size, $3), \
                 published_head = CASE WHEN $3 > published_size THEN $4 ELSE published_head END \
                 WHERE epoch = $5 AND size = $6",
                &[
                    (&size, Type::INT8),
                    (&head_row, Type::BYTEA),
                    (&published_size, Type::INT8),
                    (&published_row, Type::BYTEA),
                    (&epoch, Type::INT8),
                    (&old_size, Type::INT8),
                ],
            )?;
            if owned == 0 {
                return Ok(true);
            }
            // The rows, by binary COPY: heap rows go in a page at a time (one WAL record per
            // page, where `INSERT … SELECT FROM unnest(…)` wrote one per row), and no
            // statement text is planned for them. Two round trips per table (prepare, copy).
            let entries = tx.copy_in(
                "COPY arkivo_entries (idx, leaf_hash, integrated_time, body, \
                 signed_entry_timestamp) FROM STDIN (FORMAT binary)",
            )?;
            let mut rows = BinaryCopyInWriter::new(
                entries,
                &[
                    Type::INT8,
                    Type::BYTEA,
                    Type::INT8,
                    Type::BYTEA,
                    Type::BYTEA,
                ],
            );
            for (i, index) in indexes.iter().enumerate() {
                // No SETs (a CT log's leaves): null ones.
                let set = b.sets.get(i).map(Vec::as_slice);
                rows.write(&[index, &leaves[i], &b.integrated_time, &bodies[i], &set])?;
            }
            rows.finish()?;
            let mut rows = BinaryCopyInWriter::new(
                tx.copy_in("COPY arkivo_hashes (idx, hash) FROM STDIN (FORMAT binary)")?,
                &[Type::INT8, Type::BYTEA],
            );
            for (index, hash) in hash_indexes.iter().zip(&hashes) {
                rows.write(&[index, hash])?;
            }
            rows.finish()?;
            let mut rows = BinaryCopyInWriter::new(
                tx.copy_in("COPY arkivo_search (key, idx) FROM STDIN (FORMAT binary)")?,
                &[Type::BYTEA, Type::INT8],
            );
            for (key, index) in search_keys.iter().zip(&search_indexes) {
                rows.write(&[key, index])?;
            }
            rows.finish()?;
            Ok(false)
        })?;
        if fenced_out {
            // The transaction committed nothing but the no-op: step down all the same.
            w.step_down();
            return Err(fenced(epoch));
        }
        self.served(b.head.size);
        w.acknowledged = Some(b.head.clone());
        for (index, hash) in b.hashes {
            self.recent.insert(*index, *hash);
        }
        Ok(())
    }
}
