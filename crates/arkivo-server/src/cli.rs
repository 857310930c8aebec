//! The server's commands: `serve`, `init`, `verify-log`, `bulk-load`, `token`, `witness`,
//! `backup`, `restore`, `shard` and `storage`, with their flags (each overrides the config file).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::{Config, WitnessConfig};
use crate::datadir;
use crate::logging::notice;
use crate::serve::{log_paths, open_log, open_unserved, serve, shutdown_signal};
use crate::storage::LogStore;
use crate::storage::postgres::Namespace;

/// The server's commands, a part of `arkivo`'s.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Serve the log (creating it on first start in an empty data directory).
    Serve(ServerArgs),
    /// Create a log without serving it.
    Init(ServerArgs),
    /// Check a log's consistency (an fsck): recompute every leaf and tree hash from the stored
    /// entries, check the indexes and the signed checkpoints. Exits non-zero on the first problem.
    /// On a mirror's data directory (with --vkey), checks the mirror's copy the same way against
    /// the log's keys, and its checkpoints.
    VerifyLog(VerifyLogArgs),
    /// Append entries from a file (one proposed entry, the JSON of POST /api/v1/log/entries, per
    /// line; `-` reads standard input) without HTTP, through the same validation and sequencer
    /// as the API, in large commits; creates the log in an empty data directory. Not while the
    /// log is served.
    BulkLoad(BulkLoadArgs),
    /// Write tokens for `serve --write-tokens`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run a witness (c2sp.org/tlog-witness): cosign the checkpoints of the given logs, each only
    /// if it is consistent with the last one cosigned (creating the witness's key on first
    /// start).
    Witness(WitnessArgs),
    /// Mirror a log (c2sp.org/tlog-mirror): follow it through its tiles, verify every checkpoint,
    /// tile and entry against the log's key and the mirror's own copy, store what verified,
    /// cosign it, and serve it with the tlog-tiles read API (creating the mirror's key on first
    /// start). A fork of the log stops the mirror following, and it keeps its copy.
    Mirror(MirrorArgs),
    /// Copy the log, consistently, into a new directory while it is served (or not): the
    /// database and its keys, ready for `verify-log` and `restore`.
    Backup(BackupArgs),
    /// Make a data directory from a backup; refuses to overwrite an existing log.
    Restore(RestoreArgs),
    /// Manage the log's shards (trees).
    #[command(subcommand)]
    Shard(ShardCommand),
    /// Move the log between stores.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// The log's TUF repository (served under /tuf/): export it, and make, sign and install new
    /// root versions (docs/tuf.md).
    #[command(subcommand)]
    Tuf(TufCommand),
}

#[derive(Debug, Subcommand)]
pub enum TufCommand {
    /// Write the repository, as served under /tuf/, into a directory (for a file:// mirror, a
    /// web server or a bucket); run it again after each change to keep the copy current. With
    /// the log in PostgreSQL, the database's repository (no frontend needed).
    Export(TufExportArgs),
    /// Make an Ed25519 key for a TUF role: the private key into FILE (mode 0600), the public
    /// key (for new-root) on standard output.
    NewKey {
        /// The private key file to write; refused when it exists.
        file: PathBuf,
    },
    /// Write the next root version, unsigned, with the changes asked for (none: the same keys,
    /// a new expiry); with the log in PostgreSQL, after the database's newest root.
    NewRoot(Box<NewRootArgs>),
    /// Add signatures to a root version (where the root keys are kept).
    SignRoot {
        /// The root version to sign, rewritten with the new signatures.
        file: PathBuf,
        /// A root key file (PKCS#8 PEM, mode 0600): an old one for the clients that trust the
        /// current version, a new one for the new version. Repeatable.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
    },
    /// Put a signed root version in place (through the running server, or directly); refused
    /// unless clients that trust the current version would accept it. With the log in
    /// PostgreSQL, through the frontend of --data-dir if it leads, or with no frontend running
    /// into the database (docs/tuf.md).
    InstallRoot {
        /// The signed root version.
        file: PathBuf,
        #[command(flatten)]
        log: ServerArgs,
    },
}

#[derive(Debug, Args)]
pub struct TufExportArgs {
    /// The directory to write the repository into.
    pub dir: PathBuf,
    #[command(flatten)]
    pub log: ServerArgs,
}

#[derive(Debug, Args)]
pub struct NewRootArgs {
    /// The file to write the new root version into.
    #[arg(long)]
    pub out: PathBuf,
    /// A root key of the new version (public key PEM, from new-key); repeatable. The given
    /// keys replace the current root keys [default: unchanged].
    #[arg(long = "root-key")]
    pub root_keys: Vec<PathBuf>,
    /// Root signatures a root version needs [default: unchanged].
    #[arg(long)]
    pub threshold: Option<u64>,
    /// A new targets key (public key PEM; its private key goes into <data-dir>/tuf/keys/).
    #[arg(long)]
    pub targets_key: Option<PathBuf>,
    /// A new snapshot key (as --targets-key).
    #[arg(long)]
    pub snapshot_key: Option<PathBuf>,
    /// A new timestamp key (as --targets-key).
    #[arg(long)]
    pub timestamp_key: Option<PathBuf>,
    #[command(flatten)]
    pub log: ServerArgs,
}

/// Flags of `arkivo witness`; each overrides the config file (`--log` adds to its `logs`).
#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// TOML config file (fields: data_dir, listen, name, logs).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./arkivo-witness-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Listen address [default: 127.0.0.1:3100].
    #[arg(long)]
    pub listen: Option<String>,
    /// Name of the witness's cosignatures (in its vkey); fixed at creation [default: the listen
    /// address].
    #[arg(long)]
    pub name: Option<String>,
    /// A log to witness: the vkey of its Ed25519 checkpoint key, whose name is its origin.
    /// Repeat for several logs.
    #[arg(long = "log", value_name = "VKEY")]
    pub logs: Vec<String>,
}

impl WitnessArgs {
    /// Defaults, then the config file, then flags.
    pub fn resolve(&self) -> anyhow::Result<WitnessConfig> {
        let mut c = match &self.config {
            Some(path) => WitnessConfig::from_file(path)?,
            None => WitnessConfig::default(),
        };
        if let Some(v) = &self.data_dir {
            c.data_dir.clone_from(v);
        }
        if let Some(v) = &self.listen {
            c.listen.clone_from(v);
        }
        if self.name.is_some() {
            c.name.clone_from(&self.name);
        }
        c.logs.extend(self.logs.iter().cloned());
        Ok(c)
    }
}

/// Flags of `arkivo mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// The log's URL prefix: where its /checkpoint and /tile/ are (e.g. https://log.example).
    #[arg(long = "log", value_name = "URL", env = "ARKIVO_MIRROR_LOG")]
    pub log_url: String,
    /// The vkey of the log's Ed25519 checkpoint key (its name is the log's origin), as the log
    /// prints it at start-up.
    #[arg(long, env = "ARKIVO_MIRROR_VKEY")]
    pub vkey: String,
    /// Data directory [default: ./arkivo-mirror-data].
    #[arg(
        long,
        env = "ARKIVO_MIRROR_DATA_DIR",
        default_value = "arkivo-mirror-data"
    )]
    pub data_dir: PathBuf,
    /// Listen address.
    #[arg(long, env = "ARKIVO_MIRROR_LISTEN", default_value = "127.0.0.1:3200")]
    pub listen: String,
    /// Name of the mirror's cosignatures (in its vkey); fixed at creation [default: the listen
    /// address].
    #[arg(long, env = "ARKIVO_MIRROR_NAME")]
    pub name: Option<String>,
    /// Milliseconds between two polls of the log's checkpoint.
    #[arg(long, env = "ARKIVO_MIRROR_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// The log's Rekor v1 public key (ECDSA P-256, PEM, as its /api/v1/log/publicKey serves
    /// it): the mirror then also copies each entry's integrated time and SET and the log's v1
    /// checkpoints, verified with this key, and serves the Rekor v1 reads of what it holds.
    #[arg(long, env = "ARKIVO_MIRROR_LOG_KEY", value_name = "FILE")]
    pub log_key: Option<PathBuf>,
    /// Push mode: take the log's checkpoints and entries at POST /add-checkpoint and
    /// /add-entries (c2sp.org/tlog-mirror) instead of following the log.
    #[arg(long, env = "ARKIVO_MIRROR_PUSH")]
    pub push: bool,
}

/// Flags of `arkivo verify-log`.
#[derive(Debug, Args)]
pub struct VerifyLogArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The data directory is a mirror's (`arkivo mirror`): the vkey of the log's Ed25519
    /// checkpoint key, as given to the mirror.
    #[arg(long)]
    pub vkey: Option<String>,
    /// With --vkey: the log's Rekor v1 public key (PEM, as given to the mirror's --log-key), to
    /// check every stored SET and the stored v1 checkpoint.
    #[arg(long, value_name = "FILE", requires = "vkey")]
    pub log_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ShardCommand {
    /// Freeze the active tree and start a new one, with a new tree ID, while serving (through
    /// the server's admin socket; directly when the server is stopped). Entries keep their
    /// index; new entries get the next ones, in the new tree.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Give the new tree new signing keys (ECDSA and Ed25519, made in its directory) instead of
    /// the active tree's.
    #[arg(long)]
    pub new_key: bool,
    #[command(flatten)]
    pub log: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy the log of the data directory (RocksDB, not served), and its CA's CT log if it has
    /// one, into a PostgreSQL database — an empty one, or one an interrupted copy left, which is
    /// continued — then verify each copy: the same tree head and checkpoints, every entry, and
    /// verify-log's checks. The
    /// --storage-password-file, --storage-ca-file and --storage-allow-async flags apply to the
    /// database.
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The PostgreSQL database to copy the log into (a postgres:// URL or libpq string, as
    /// --storage of `serve`).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Most entries per transaction.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    #[command(flatten)]
    pub log: ServerArgs,
}

#[derive(Debug, Args)]
pub struct BulkLoadArgs {
    /// The file of entries, one JSON object per line; `-` for standard input.
    pub entries: PathBuf,
    /// Entries per commit (one atomic, synced write each).
    #[arg(long, default_value_t = 50_000)]
    pub batch: usize,
    #[command(flatten)]
    pub log: ServerArgs,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new directory to write the backup to. It holds the log's private keys.
    #[arg(long)]
    pub to: PathBuf,
    #[command(flatten)]
    pub log: ServerArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory written by `arkivo backup`.
    #[arg(long)]
    pub from: PathBuf,
    #[command(flatten)]
    pub log: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh token, and the line to add to the write tokens file.
    New,
}

/// Flags shared by `serve` and `init`; each overrides the config file.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// TOML config file (see deploy/config.example.toml).
    #[arg(long, env = "ARKIVO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./arkivo-data].
    #[arg(long, env = "ARKIVO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the log is stored: a postgres:// URL (PostgreSQL with synchronous standbys;
    /// several frontends may serve one database) [default: RocksDB in the data directory].
    #[arg(long, env = "ARKIVO_STORAGE", value_name = "URL")]
    pub storage: Option<String>,
    /// File whose first line is the PostgreSQL password [default: from the URL].
    #[arg(long, env = "ARKIVO_STORAGE_PASSWORD_FILE")]
    pub storage_password_file: Option<PathBuf>,
    /// PEM CA certificates for the PostgreSQL server's TLS certificate (sslmode=require)
    /// [default: the system's roots].
    #[arg(long, env = "ARKIVO_STORAGE_CA_FILE")]
    pub storage_ca_file: Option<PathBuf>,
    /// Run on PostgreSQL without a synchronous standby (a failover can lose acknowledged
    /// entries) [default: refused].
    #[arg(long)]
    pub storage_allow_async: bool,
    /// A hot standby of the PostgreSQL database to read entries, proofs, tiles and search
    /// from; reads it cannot answer yet go to the primary [default: read from the primary].
    #[arg(long, env = "ARKIVO_STORAGE_READ_URL", value_name = "URL")]
    pub storage_read_url: Option<String>,
    /// Listen address [default: 127.0.0.1:3000].
    #[arg(long, env = "ARKIVO_LISTEN")]
    pub listen: Option<String>,
    /// Name of the log in its checkpoints; fixed at creation [default: the listen address].
    #[arg(long, env = "ARKIVO_HOSTNAME")]
    pub hostname: Option<String>,
    /// URL clients reach the log at [default: derived from the hostname].
    #[arg(long, env = "ARKIVO_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// ECDSA P-256 log key (PKCS#8 PEM) [default: <data-dir>/keys/log-ecdsa-p256.pem].
    #[arg(long, env = "ARKIVO_ECDSA_KEY_FILE")]
    pub ecdsa_key_file: Option<PathBuf>,
    /// Ed25519 checkpoint key (PKCS#8 PEM) [default: <data-dir>/keys/log-ed25519.pem].
    #[arg(long, env = "ARKIVO_ED25519_KEY_FILE")]
    pub ed25519_key_file: Option<PathBuf>,
    /// Timestamp authority key (PKCS#8 PEM, ECDSA P-256), with --tsa-cert-chain
    /// [default: <data-dir>/keys/tsa-ecdsa-p256.pem, generated].
    #[arg(
        long = "tsa-key",
        env = "ARKIVO_TSA_KEY_FILE",
        requires = "tsa_cert_chain_file"
    )]
    pub tsa_key_file: Option<PathBuf>,
    /// PEM chain of --tsa-key: leaf (critical EKU timeStamping) first, root last
    /// [default: <data-dir>/keys/tsa-chain.pem, generated].
    #[arg(
        long = "tsa-cert-chain",
        env = "ARKIVO_TSA_CERT_CHAIN_FILE",
        requires = "tsa_key_file"
    )]
    pub tsa_cert_chain_file: Option<PathBuf>,
    /// Policy OID of the timestamps [default: 1.3.6.1.4.1.57264.2].
    #[arg(long, env = "ARKIVO_TSA_POLICY")]
    pub tsa_policy: Option<String>,
    /// File of SHA-256 digests of the tokens allowed to write [default: writes are open].
    #[arg(long = "write-tokens", env = "ARKIVO_WRITE_TOKENS")]
    pub write_tokens_file: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with --tls-key) [default: plain HTTP].
    #[arg(long = "tls-cert", env = "ARKIVO_TLS_CERT", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long = "tls-key", env = "ARKIVO_TLS_KEY", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Requests a second each client IP may make; 429 beyond [default: 0, no limit].
    #[arg(long, env = "ARKIVO_RATE_LIMIT_PER_SECOND")]
    pub rate_limit_per_second: Option<u32>,
    /// Requests a client may make at once above its rate [default: the rate].
    #[arg(long, env = "ARKIVO_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// Most requests handled at once; 503 beyond [default: 2048].
    #[arg(long, env = "ARKIVO_MAX_REQUESTS_IN_FLIGHT")]
    pub max_requests_in_flight: Option<usize>,
    /// PEM CA certificates: clients with a certificate from them may write (mutual TLS).
    #[arg(long = "tls-client-ca", env = "ARKIVO_TLS_CLIENT_CA")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Longest a client may take to send its request headers, in ms [default: 10000].
    #[arg(long, env = "ARKIVO_HEADER_READ_TIMEOUT_MS")]
    pub header_read_timeout_ms: Option<u64>,
    /// Most entries per commit [default: 1024].
    #[arg(long, env = "ARKIVO_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// Longest an entry waits for its batch, in ms [default: 1].
    #[arg(long, env = "ARKIVO_MAX_BATCH_AGE_MS")]
    pub max_batch_age_ms: Option<u64>,
    /// Most entries waiting to be sequenced [default: 8192].
    #[arg(long, env = "ARKIVO_INBOX_CAPACITY")]
    pub inbox_capacity: Option<usize>,
    /// TUF snapshot versions kept before the current one, with the targets they name
    /// [default: 8].
    #[arg(long, env = "ARKIVO_TUF_KEEP_VERSIONS")]
    pub tuf_keep_versions: Option<u64>,
    /// Do not serve the web explorer at `/` and `/ui/` [default: served].
    #[arg(long)]
    pub no_explorer: bool,
    /// The certificate authority's flags (boxed: they would make every command's value large).
    #[command(flatten)]
    pub ca: Box<CaArgs>,
}

/// Flags of the certificate authority (docs/keyless.md).
#[derive(Debug, Args)]
pub struct CaArgs {
    /// An OIDC issuer whose ID tokens (email type, audience `sigstore`) get certificates from
    /// the CA; repeatable, added to the config file's `[[ca.oidc_issuers]]`.
    #[arg(long = "oidc-issuer", value_name = "URL")]
    pub oidc_issuers: Vec<String>,
    /// The CA's signing key (PKCS#8 PEM ECDSA P-256), with --ca-chain [default: made on first
    /// start, <data-dir>/keys/ca-intermediate-p256.pem].
    #[arg(
        long = "ca-key",
        env = "ARKIVO_CA_KEY_FILE",
        requires = "ca_chain_file"
    )]
    pub ca_key_file: Option<PathBuf>,
    /// PEM chain of --ca-key: its certificate first, the root last.
    #[arg(
        long = "ca-chain",
        env = "ARKIVO_CA_CHAIN_FILE",
        requires = "ca_key_file"
    )]
    pub ca_chain_file: Option<PathBuf>,
}

impl ServerArgs {
    /// Defaults, then the config file, then environment and flags.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = &self.data_dir {
            c.data_dir.clone_from(v);
        }
        if let Some(v) = &self.listen {
            c.listen.clone_from(v);
        }
        if self.storage.is_some() {
            c.storage.clone_from(&self.storage);
        }
        if self.storage_password_file.is_some() {
            c.storage_password_file
                .clone_from(&self.storage_password_file);
        }
        if self.storage_ca_file.is_some() {
            c.storage_ca_file.clone_from(&self.storage_ca_file);
        }
        c.storage_allow_async |= self.storage_allow_async;
        if self.storage_read_url.is_some() {
            c.storage_read_url.clone_from(&self.storage_read_url);
        }
        if self.hostname.is_some() {
            c.hostname.clone_from(&self.hostname);
        }
        if self.public_url.is_some() {
            c.public_url.clone_from(&self.public_url);
        }
        if self.ecdsa_key_file.is_some() {
            c.ecdsa_key_file.clone_from(&self.ecdsa_key_file);
        }
        if self.ed25519_key_file.is_some() {
            c.ed25519_key_file.clone_from(&self.ed25519_key_file);
        }
        if self.tsa_key_file.is_some() {
            c.tsa_key_file.clone_from(&self.tsa_key_file);
            c.tsa_cert_chain_file.clone_from(&self.tsa_cert_chain_file);
        }
        if let Some(v) = &self.tsa_policy {
            c.tsa_policy.clone_from(v);
        }
        if self.tls_cert_file.is_some() {
            c.tls_cert_file.clone_from(&self.tls_cert_file);
            c.tls_key_file.clone_from(&self.tls_key_file);
        }
        if self.tls_client_ca_file.is_some() {
            c.tls_client_ca_file.clone_from(&self.tls_client_ca_file);
        }
        if self.write_tokens_file.is_some() {
            c.write_tokens_file.clone_from(&self.write_tokens_file);
        }
        c.rate_limit_per_second = self
            .rate_limit_per_second
            .unwrap_or(c.rate_limit_per_second);
        if self.rate_limit_burst.is_some() {
            c.rate_limit_burst = self.rate_limit_burst;
        }
        c.max_requests_in_flight = self
            .max_requests_in_flight
            .unwrap_or(c.max_requests_in_flight);
        c.header_read_timeout_ms = self
            .header_read_timeout_ms
            .unwrap_or(c.header_read_timeout_ms);
        c.max_batch = self.max_batch.unwrap_or(c.max_batch);
        c.max_batch_age_ms = self.max_batch_age_ms.unwrap_or(c.max_batch_age_ms);
        c.inbox_capacity = self.inbox_capacity.unwrap_or(c.inbox_capacity);
        c.tuf_keep_versions = self.tuf_keep_versions.unwrap_or(c.tuf_keep_versions);
        c.explorer &= !self.no_explorer;
        c.ca.oidc_issuers.extend(
            self.ca
                .oidc_issuers
                .iter()
                .map(|url| crate::config::OidcIssuer::from_url(url)),
        );
        if self.ca.ca_key_file.is_some() {
            c.ca.key_file.clone_from(&self.ca.ca_key_file);
            c.ca.chain_file.clone_from(&self.ca.ca_chain_file);
        }
        c.validate()?;
        Ok(c)
    }
}

/// Runs one of the server's commands.
pub fn run(command: ServerCommand) -> anyhow::Result<()> {
    match command {
        ServerCommand::Serve(args) => {
            let config = args.resolve()?;
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(serve(config))
        }
        ServerCommand::Witness(args) => {
            let config = args.resolve()?;
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(crate::witness::server::run(config, shutdown_signal()))
        }
        ServerCommand::Mirror(args) => {
            let config = crate::mirror::MirrorConfig {
                log_url: args.log_url,
                vkey: args.vkey,
                data_dir: args.data_dir,
                listen: args.listen,
                name: args.name,
                poll_interval: std::time::Duration::from_millis(args.poll_ms.max(1)),
                log_key: args.log_key,
                push: args.push,
            };
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(crate::mirror::run(config, shutdown_signal()))
        }
        ServerCommand::Token(TokenCommand::New) => {
            let (token, digest) = crate::auth::new_token();
            println!("token (give it to the writer; it is not stored anywhere): {token}");
            println!("line for the --write-tokens file: {digest}");
            Ok(())
        }
        ServerCommand::VerifyLog(args) => {
            let config = args.server.resolve()?;
            if let Some(vkey) = &args.vkey {
                let report = crate::mirror::verify(&config.data_dir, vkey, args.log_key.as_deref())
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "the mirror in {} is inconsistent: {e:#}",
                            config.data_dir.display()
                        )
                    })?;
                println!("{report}");
                return Ok(());
            }
            // Each tree's own store: the checks read every stored hash, never a cached one. The
            // CA's CT log is where the log is: in the data directory, or in the database.
            let place = match &config.storage {
                None => config.data_dir.display().to_string(),
                Some(url) => format!("the database {}", crate::config::redact_url(url)),
            };
            let (shards, ct): (Vec<crate::sequencer::Shard>, _) = match &config.storage {
                None => (
                    datadir::open(&log_paths(&config), None, false)?
                        .shards
                        .into_iter()
                        .map(|s| crate::sequencer::Shard {
                            store: s.store,
                            identity: s.identity,
                        })
                        .collect(),
                    crate::ct::open_unserved(&config.data_dir)?
                        .map(|(store, identity)| (Arc::new(store) as Arc<dyn LogStore>, identity)),
                ),
                Some(_) => {
                    let (store, identity) = crate::leader::open_existing(&config, Namespace::Log)?
                        .context("the database holds no log: serve it once to create one")?;
                    // Asked first: opening a store of the CT log would make its tables.
                    let ct = if store.has_namespace(Namespace::CtLog)? {
                        crate::leader::open_existing(&config, Namespace::CtLog)
                            .context("opening the CT log in the database")?
                            .map(|(store, identity)| (store as Arc<dyn LogStore>, identity))
                    } else {
                        None
                    };
                    let log = crate::sequencer::Shard {
                        store,
                        identity: Arc::new(identity),
                    };
                    (vec![log], ct)
                }
            };
            for shard in &shards {
                let tree_id = shard.identity.meta.tree_id;
                let report = crate::fsck::verify_log(shard.store.as_ref(), &shard.identity, |n| {
                    if n % 1_000_000 == 0 {
                        notice!("tree {tree_id}: checked {n} entries");
                    }
                })
                .map_err(|e| {
                    anyhow::anyhow!("tree {tree_id} of the log in {place} is inconsistent: {e}")
                })?;
                println!(
                    "ok: tree {tree_id}: {} entries, {} stored hashes, root {:?}; both \
                     checkpoints verify",
                    report.entries, report.stored_hashes, report.root
                );
            }
            if let Some((store, identity)) = ct {
                let report = crate::fsck::verify_log(store.as_ref(), &identity, |_| {})
                    .map_err(|e| anyhow::anyhow!("the CT log in {place} is inconsistent: {e}"))?;
                println!(
                    "ok: CT log: {} entries, {} stored hashes, root {:?}; its checkpoint verifies",
                    report.entries, report.stored_hashes, report.root
                );
            }
            Ok(())
        }
        ServerCommand::BulkLoad(args) => {
            let config = args.log.resolve()?;
            let loaded = if args.entries.as_os_str() == "-" {
                crate::bulk::load(&config, std::io::stdin().lock(), args.batch)?
            } else {
                let file = std::fs::File::open(&args.entries)
                    .with_context(|| format!("opening {}", args.entries.display()))?;
                crate::bulk::load(&config, std::io::BufReader::new(file), args.batch)?
            };
            let seconds = loaded.elapsed.as_secs_f64();
            println!(
                "appended {} entries ({} already in the log) in {seconds:.1} s: {:.0} entries/s; \
                 tree size {}",
                loaded.appended,
                loaded.duplicates,
                loaded.appended as f64 / seconds,
                loaded.tree_size
            );
            Ok(())
        }
        ServerCommand::Shard(ShardCommand::Rotate(args)) => {
            let config = args.log.resolve()?;
            rocksdb_only(&config, "shard rotate")?;
            let paths = log_paths(&config);
            let rotation = match crate::backup::ask_rotate(&paths.data_dir, args.new_key)? {
                Some(rotation) => rotation,
                None => {
                    let opened = open_unserved(&paths)?;
                    let active = opened.active();
                    let size = LogStore::head(active.store.as_ref())?.size;
                    crate::shards::check_rotatable(active.identity.meta.tree_id, size)
                        .map_err(anyhow::Error::msg)?;
                    let (shard, _) = datadir::create_shard(
                        &paths,
                        &opened.manifest(),
                        &active.identity,
                        args.new_key,
                    )?;
                    crate::backup::Rotation::new(
                        active.identity.meta.tree_id,
                        size,
                        &shard.identity,
                    )
                }
            };
            println!(
                "froze tree {} at size {}; new entries go to tree {}\n\
                 its C2SP checkpoint origin is {:?}, verifier key (for witnesses and tile \
                 clients): {}\n\
                 its public key (Rekor v1 checkpoints and SETs):\n{}",
                rotation.frozen_tree_id,
                rotation.frozen_tree_size,
                rotation.active_tree_id,
                rotation.origin,
                rotation.checkpoint_vkey,
                rotation.public_key
            );
            Ok(())
        }
        ServerCommand::Storage(StorageCommand::Copy(args)) => {
            let config = args.log.resolve()?;
            anyhow::ensure!(
                config.storage.is_none(),
                "`arkivo storage copy` copies the log of the data directory: give the database \
                 to copy into with --to, not storage (--storage, ARKIVO_STORAGE)"
            );
            let copied = crate::copy::copy(&config, &args.to, args.batch)?;
            print_copied("log", &copied.log, "both checkpoints");
            match &copied.ct {
                Some(ct) => print_copied("CT log", ct, "its checkpoint"),
                None => println!("CT log: none in the data directory (no CA was served from it)"),
            }
            Ok(())
        }
        ServerCommand::Tuf(command) => run_tuf(command),
        ServerCommand::Backup(args) => {
            let config = args.log.resolve()?;
            rocksdb_only(&config, "backup")?;
            let paths = log_paths(&config);
            // The server resolves the path, so it must not depend on our working directory.
            let to = std::path::absolute(&args.to)
                .with_context(|| format!("resolving {}", args.to.display()))?;
            let snapshot = match crate::backup::ask_server(&paths.data_dir, &to)? {
                Some(snapshot) => snapshot,
                None => {
                    let opened = open_unserved(&paths)?;
                    let shards = crate::backup::DiskShards {
                        ct: crate::ct::open_unserved(&paths.data_dir)?
                            .map(|(store, _)| Arc::new(store)),
                        ..crate::backup::DiskShards::new(&opened)
                    };
                    let tuf = crate::tuf::read_files(&crate::tuf::repository_dir(&paths.data_dir))?;
                    crate::backup::backup(&shards, &paths, &Arc::new(tuf), &to)?
                }
            };
            println!(
                "backed up tree size {} (root hash {}) to {}; it holds the log's private keys",
                snapshot.tree_size,
                snapshot.root_hash,
                to.display()
            );
            Ok(())
        }
        ServerCommand::Restore(args) => {
            let config = args.log.resolve()?;
            rocksdb_only(&config, "restore")?;
            let snapshot = crate::backup::restore(&args.from, &log_paths(&config))?;
            println!(
                "restored tree size {} (root hash {}) into {}",
                snapshot.tree_size,
                snapshot.root_hash,
                config.data_dir.display()
            );
            Ok(())
        }
        ServerCommand::Init(args) => {
            let config = args.resolve()?;
            rocksdb_only(&config, "init")?;
            let opened = open_log(&config, true)?;
            if !opened.created {
                anyhow::bail!(
                    "a log already exists in {}; nothing was changed",
                    config.data_dir.display()
                );
            }
            Ok(())
        }
    }
}

/// What `arkivo storage copy` did to one tree (`name`, whose head carries `checkpoints`).
fn print_copied(name: &str, copied: &crate::copy::TreeCopied, checkpoints: &str) {
    let seconds = copied.elapsed.as_secs_f64();
    println!(
        "{name}: copied {} entries (indexes {}..{}) in {} transactions in {seconds:.1} s: {:.0} \
         entries/s",
        copied.entries,
        copied.resumed_at,
        copied.verified.entries,
        copied.transactions,
        copied.entries as f64 / seconds.max(1e-9)
    );
    println!(
        "{name}: verified: the database's tree head is the data directory's (size {}, root \
         {:?}, {checkpoints} byte for byte), so is every entry (body, integrated time, SET), and \
         verify-log's checks pass ({} stored hashes)",
        copied.verified.entries, copied.verified.root, copied.verified.stored_hashes
    );
}

/// Refuses a command that works on the data directory's RocksDB log when the log is stored
/// in PostgreSQL, whose backups and restores are the database's (docs/operations.md).
fn rocksdb_only(config: &Config, command: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.storage.is_none(),
        "`arkivo {command}` works on a log stored in the data directory, not on one stored in \
         PostgreSQL (storage is set)"
    );
    Ok(())
}

fn run_tuf(command: TufCommand) -> anyhow::Result<()> {
    use crate::tuf;
    let runtime = || tokio::runtime::Runtime::new().context("starting the async runtime");
    match command {
        TufCommand::Export(args) => {
            let config = args.log.resolve()?;
            let ordered = tuf::write_order(repository_files(&config)?);
            tuf::write_files(&args.dir, &ordered)?;
            println!("wrote {} files into {}", ordered.len(), args.dir.display());
            Ok(())
        }
        TufCommand::NewKey { file } => {
            let (key, pem) = tuf::RoleKey::generate();
            crate::keyfile::write_private_key(&file, pem.as_bytes())?;
            print!("{}", key.public_pem());
            Ok(())
        }
        TufCommand::NewRoot(args) => {
            let config = args.log.resolve()?;
            let current = tuf::current_root(&repository_files(&config)?)?;
            let mut changes = tuf::RootChanges {
                root_keys: args
                    .root_keys
                    .iter()
                    .map(|p| tuf::read_public_key(p))
                    .collect::<anyhow::Result<_>>()?,
                threshold: args.threshold,
                role_keys: Vec::new(),
            };
            for (role, path) in [
                (tough::schema::RoleType::Targets, &args.targets_key),
                (tough::schema::RoleType::Snapshot, &args.snapshot_key),
                (tough::schema::RoleType::Timestamp, &args.timestamp_key),
            ] {
                if let Some(path) = path {
                    changes.role_keys.push((role, tuf::read_public_key(path)?));
                }
            }
            let lifetime = std::time::Duration::from_secs(config.tuf_root_expiry_secs);
            let bytes = tuf::next_root(&current, changes, lifetime)?;
            std::fs::write(&args.out, bytes)
                .with_context(|| format!("writing {}", args.out.display()))?;
            println!(
                "wrote root version {} (unsigned) to {}: sign it with `arkivo tuf sign-root`",
                current.signed.version.get() + 1,
                args.out.display()
            );
            Ok(())
        }
        TufCommand::SignRoot { file, keys } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let keys = keys
                .iter()
                .map(|p| tuf::RoleKey::read(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let signed = runtime()?.block_on(tuf::sign_root(&bytes, keys))?;
            std::fs::write(&file, signed).with_context(|| format!("writing {}", file.display()))?;
            println!("signed {}", file.display());
            Ok(())
        }
        TufCommand::InstallRoot { file, log } => {
            let config = log.resolve()?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            // The frontend of this data directory installs it when one runs (on PostgreSQL only
            // if it leads: only the leader signs, docs/tuf.md); with none running, it goes into
            // the data directory, or on PostgreSQL into the database under the leader lock,
            // and the next start (the next leader) signs the rest.
            let version = match crate::backup::ask_install_root(&config.data_dir, &bytes)? {
                Some(v) => v,
                None if config.storage.is_some() => {
                    let store = crate::leader::connect(&config, Namespace::Log)?;
                    tuf::install_root_in_database(&store, &tuf::keys_dir(&config.data_dir), &bytes)?
                }
                None => tuf::install_root_unserved(&config.data_dir, &bytes)?,
            };
            println!("root version {version} is in place");
            Ok(())
        }
    }
}

/// The TUF repository's files as served: on PostgreSQL the database's (the data directory's
/// copy is current only on the leader), else the data directory's.
fn repository_files(
    config: &Config,
) -> anyhow::Result<std::collections::BTreeMap<String, axum::body::Bytes>> {
    let (files, origin) = match config.storage {
        Some(_) => {
            let store = crate::leader::connect(config, Namespace::Log)?;
            let files = store
                .tuf_files()
                .context("reading the TUF repository from the database")?
                .1
                .into_iter()
                .map(|(path, content)| (path, content.into()))
                .collect();
            (files, "the database".to_owned())
        }
        None => (
            crate::tuf::read_files(&crate::tuf::repository_dir(&config.data_dir))?,
            config.data_dir.display().to_string(),
        ),
    };
    anyhow::ensure!(
        !files.is_empty(),
        "no TUF repository in {origin}: serve the log once"
    );
    Ok(files)
}
