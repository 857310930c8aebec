//! The `arkivo` command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio::task::JoinSet;

use crate::client::{commands, image_commands};
use crate::config::{Config, WitnessConfig};
use crate::datadir::{self, LogPaths};
use crate::witness::client::{Cosignatures, Endpoint};

#[derive(Debug, Parser)]
#[command(
    name = "arkivo",
    version,
    about = "A private, Rekor-compatible transparency log"
)]
pub struct Cli {
    /// How logs are written to stderr: `text`, or `json` (one JSON object per line, for log
    /// collectors; start-up notices included).
    #[arg(
        long,
        global = true,
        env = "ARKIVO_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The log target of notices, which no `RUST_LOG` filter hides.
pub(crate) const NOTICE_TARGET: &str = "arkivo::notice";

pub(crate) static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// Sets up logging to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => {
            JSON_LOGS.store(true, Ordering::Relaxed);
            let notices = format!("{NOTICE_TARGET}=info")
                .parse()
                .expect("a valid filter directive");
            // Each line carries the fields of the request span it was logged in (its ID).
            logs.json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_env_filter(filter.add_directive(notices))
                .init();
        }
    }
}

/// Reports the error that ends the command, in the log format.
pub fn report_fatal(e: &anyhow::Error) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        tracing::error!(target: NOTICE_TARGET, "{e:#}");
    } else {
        eprintln!("arkivo: {e:#}");
    }
}

/// Tells the operator something whatever the log filter (what was created, where the server
/// listens, that it stopped): a plain line on stderr, or with JSON logs an event on
/// [`NOTICE_TARGET`], so that every line is JSON.
macro_rules! notice {
    ($($arg:tt)*) => {
        if $crate::cli::JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(target: $crate::cli::NOTICE_TARGET, "{}", format_args!($($arg)*));
        } else {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use notice;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the log (creating it on first start in an empty data directory).
    Serve(ServerArgs),
    /// Create a log without serving it.
    Init(ServerArgs),
    /// Check a log's consistency (an fsck): recompute every leaf and tree hash from the stored
    /// entries, check the indexes and the signed checkpoints. Exits non-zero on the first problem.
    VerifyLog(ServerArgs),
    /// Write tokens for `serve --write-tokens`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run a witness (c2sp.org/tlog-witness): cosign the checkpoints of the given logs, each only
    /// if it is consistent with the last one cosigned (creating the witness's key on first
    /// start).
    Witness(WitnessArgs),
    /// Copy the log, consistently, into a new directory while it is served (or not): the
    /// database and its keys, ready for `verify-log` and `restore`.
    Backup(BackupArgs),
    /// Make a data directory from a backup; refuses to overwrite an existing log.
    Restore(RestoreArgs),
    /// Manage the log's shards (trees).
    #[command(subcommand)]
    Shard(ShardCommand),
    /// Create a signing key pair: <prefix>.key (encrypted PKCS#8 unless the password is empty)
    /// and <prefix>.pub.
    Keygen(commands::KeygenArgs),
    /// Sign a file, record the signature in the log (hashedrekord) and write a Sigstore bundle.
    SignBlob(commands::SignBlobArgs),
    /// Verify a file against its bundle offline: signature, entry, SET, checkpoint, inclusion.
    VerifyBlob(commands::VerifyBlobArgs),
    /// Query the log; every answer is verified.
    #[command(subcommand)]
    Log(commands::LogCommand),
    /// Print the Sigstore trusted root that points sigstore clients at the log.
    TrustRoot(commands::TrustRootArgs),
    /// Sign a container image by digest, record the signature in the log and attach it in the
    /// registry as cosign does.
    Sign(image_commands::SignArgs),
    /// Verify an image's signatures: key, log entry, payload ↔ digest, annotations.
    Verify(image_commands::VerifyArgs),
    /// Attest a predicate about an image (in-toto statement in DSSE), record and attach it.
    Attest(image_commands::AttestArgs),
    /// Verify an image's attestations of one predicate type and print their statements.
    VerifyAttestation(image_commands::VerifyAttestationArgs),
    /// Follow a Rekor v1 log: verify each new checkpoint and its consistency with the last one
    /// verified (kept in --state), report new entries of watched emails, keys and digests. Exit
    /// code 1 when the log misbehaved.
    Monitor(crate::client::monitor::MonitorArgs),
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
        c.validate()?;
        Ok(c)
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(serve(config))
        }
        Command::Witness(args) => {
            let config = args.resolve()?;
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(crate::witness::server::run(config, shutdown_signal()))
        }
        Command::Token(TokenCommand::New) => {
            let (token, digest) = crate::auth::new_token();
            println!("token (give it to the writer; it is not stored anywhere): {token}");
            println!("line for the --write-tokens file: {digest}");
            Ok(())
        }
        Command::VerifyLog(args) => {
            let config = args.resolve()?;
            let opened = datadir::open(&log_paths(&config), None, false)?;
            for shard in &opened.shards {
                let tree_id = shard.identity.meta.tree_id;
                let report = crate::fsck::verify_log(shard.store.as_ref(), &shard.identity, |n| {
                    if n % 1_000_000 == 0 {
                        notice!("tree {tree_id}: checked {n} entries");
                    }
                })
                .map_err(|e| {
                    anyhow::anyhow!(
                        "tree {tree_id} of the log in {} is inconsistent: {e}",
                        config.data_dir.display()
                    )
                })?;
                println!(
                    "ok: tree {tree_id}: {} entries, {} stored hashes, root {:?}; both \
                     checkpoints verify",
                    report.entries, report.stored_hashes, report.root
                );
            }
            Ok(())
        }
        Command::Shard(ShardCommand::Rotate(args)) => {
            let config = args.log.resolve()?;
            let paths = log_paths(&config);
            let rotation = match crate::backup::ask_rotate(&paths.data_dir, args.new_key)? {
                Some(rotation) => rotation,
                None => {
                    let opened = open_unserved(&paths)?;
                    let active = opened.active();
                    let size = crate::storage::LogStore::head(active.store.as_ref())?.size;
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
        Command::Backup(args) => {
            let config = args.log.resolve()?;
            let paths = log_paths(&config);
            // The server resolves the path, so it must not depend on our working directory.
            let to = std::path::absolute(&args.to)
                .with_context(|| format!("resolving {}", args.to.display()))?;
            let snapshot = match crate::backup::ask_server(&paths.data_dir, &to)? {
                Some(snapshot) => snapshot,
                None => {
                    let opened = open_unserved(&paths)?;
                    crate::backup::backup(&crate::backup::DiskShards::new(&opened), &paths, &to)?
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
        Command::Restore(args) => {
            let config = args.log.resolve()?;
            let snapshot = crate::backup::restore(&args.from, &log_paths(&config))?;
            println!(
                "restored tree size {} (root hash {}) into {}",
                snapshot.tree_size,
                snapshot.root_hash,
                config.data_dir.display()
            );
            Ok(())
        }
        Command::Keygen(args) => Ok(commands::keygen(&args)?),
        Command::SignBlob(args) => Ok(commands::run(args.output, async || {
            commands::sign_blob(&args).await
        })?),
        Command::VerifyBlob(args) => Ok(commands::run(args.output, async || {
            commands::verify_blob(&args).await
        })?),
        Command::Log(command) => Ok(commands::run(command.common().output, async || {
            commands::log(&command).await
        })?),
        Command::TrustRoot(args) => Ok(commands::run(commands::Output::Text, async || {
            commands::trust_root(&args).await
        })?),
        Command::Sign(args) => Ok(commands::run(args.output, async || {
            image_commands::sign(&args).await
        })?),
        Command::Verify(args) => Ok(commands::run(args.common.output, async || {
            image_commands::verify(&args).await
        })?),
        Command::Attest(args) => Ok(commands::run(args.output, async || {
            image_commands::attest(&args).await
        })?),
        Command::VerifyAttestation(args) => Ok(commands::run(args.common.output, async || {
            image_commands::verify_attestation(&args).await
        })?),
        Command::Monitor(args) => Ok(crate::client::monitor::monitor(&args)?),
        Command::Init(args) => {
            let config = args.resolve()?;
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

/// Opens the log for an admin command that no server answered (its admin socket is absent or
/// dead): RocksDB's lock then keeps a server from starting on it meanwhile.
fn open_unserved(paths: &LogPaths) -> anyhow::Result<datadir::OpenedLog> {
    datadir::open(paths, None, false).with_context(|| {
        format!(
            "no server answered on {}, so the log was opened directly",
            crate::backup::admin_socket(&paths.data_dir).display()
        )
    })
}

fn log_paths(config: &Config) -> LogPaths {
    LogPaths::new(
        &config.data_dir,
        config.ecdsa_key_file.as_deref(),
        config.ed25519_key_file.as_deref(),
    )
}

fn open_log(config: &Config, create: bool) -> anyhow::Result<datadir::OpenedLog> {
    let paths = log_paths(config);
    let is_new = !paths.db().exists() && datadir::read_manifest(&paths.data_dir)?.is_none();
    // A new log is named by its listen address unless told otherwise (DESIGN.md).
    let hostname = match (&config.hostname, is_new) {
        (Some(h), _) => Some(h.clone()),
        (None, true) => {
            // The name is forever, and 0.0.0.0 (as in a container) names no host clients reach.
            if config
                .listen
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_unspecified())
            {
                anyhow::bail!(
                    "a new log needs a hostname when listening on {}: set hostname (--hostname, \
                     ARKIVO_HOSTNAME) to the name clients reach it by, e.g. rekor.example.internal",
                    config.listen
                );
            }
            Some(config.listen.clone())
        }
        (None, false) => None,
    };
    let opened = datadir::open(&paths, hostname.as_deref(), create)?;
    let id = &opened.active().identity;
    if opened.created {
        notice!(
            "created a new log in {}: tree ID {}, hostname {}",
            config.data_dir.display(),
            id.meta.tree_id,
            id.meta.hostname
        );
    }
    if opened.shards.len() > 1 {
        notice!(
            "{} shards; the active one is tree {}, with origin {}",
            opened.shards.len(),
            id.meta.tree_id,
            id.meta.origin
        );
    }
    notice!(
        "log ID {}\nlog public key (ECDSA P-256; checkpoints and SETs):\n{}",
        id.keys.log_id_hex(),
        id.keys.ecdsa_public_pem()
    );
    // What a tlog-tiles client, mirror or witness (`arkivo witness --log`) needs to verify
    // /checkpoint.
    notice!(
        "C2SP checkpoint verifier key (Ed25519; /checkpoint): {}",
        id.keys.ed25519_verifier(&id.meta.origin).vkey()
    );
    Ok(opened)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Read before the log is opened (or created): a bad file must change nothing.
    let write_tokens = config
        .write_tokens_file
        .as_deref()
        .map(crate::auth::WriteTokens::from_file)
        .transpose()?;
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(crate::api::server::tls_acceptor(
            cert,
            key,
            config.tls_client_ca_file.as_deref(),
        )?),
        _ => None,
    };
    crate::metrics::install();
    let opened = open_log(&config, true)?;
    let (frozen, active) = opened.shards.split_at(opened.shards.len() - 1);
    let (sequencer, thread) = crate::sequencer::start(
        active[0].shard(),
        frozen.iter().map(datadir::OpenedShard::shard).collect(),
        config.sequencer(),
    )
    .context("starting the sequencer")?;
    let public_url = config.public_url_for(&opened.active().identity.meta.hostname);
    let tree_size = sequencer.published().head().size;
    let cosignatures = Arc::new(Cosignatures::new(
        sequencer.published().clone(),
        Endpoint::from_config(&config.witnesses)?,
        config.witness_quorum,
    ));
    // In the background, off the write path: a witness only ever delays its own cosignature.
    let mut witnessing = if cosignatures.endpoints().is_empty() {
        JoinSet::new()
    } else {
        for e in cosignatures.endpoints() {
            notice!("witness {} at {}", e.verifier.vkey(), e.add_checkpoint_url);
        }
        match config.witness_quorum {
            0 => notice!("checkpoints are served with the cosignatures collected for them"),
            k => notice!(
                "only checkpoints cosigned by at least {k} of the {} witnesses are served",
                cosignatures.endpoints().len()
            ),
        }
        crate::witness::client::start(
            &cosignatures,
            Duration::from_millis(config.witness_interval_ms),
        )?
    };
    let mut state = crate::api::AppState::new(sequencer.clone(), public_url.clone())
        .with_cosignatures(cosignatures);
    if config.tls_client_ca_file.is_some() {
        notice!("clients with a certificate from the client CA may write (mutual TLS)");
        state = state.with_client_certificate_writes();
    }
    match write_tokens {
        Some(tokens) => {
            notice!("writes need a bearer token ({} accepted)", tokens.len());
            state = state.with_write_tokens(tokens);
        }
        None if config.tls_client_ca_file.is_some() => {}
        None => tracing::warn!(
            "writes are open to anyone who can reach {}: use --write-tokens to restrict them",
            config.listen
        ),
    }
    if config.rate_limit_per_second > 0 {
        let burst = config
            .rate_limit_burst
            .unwrap_or(config.rate_limit_per_second);
        notice!(
            "each client may make {} requests a second (bursts of {burst})",
            config.rate_limit_per_second
        );
        state = state.with_rate_limit(config.rate_limit_per_second, burst);
    }
    let app = crate::api::service(state.with_max_requests_in_flight(config.max_requests_in_flight));
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Started last, so that nothing is left behind when starting fails.
    let shards = Arc::new(std::sync::Mutex::new(crate::backup::DiskShards::new(
        &opened,
    )));
    let admin = crate::backup::serve_admin(shards.clone(), log_paths(&config), sequencer)
        .inspect_err(|e| {
            tracing::warn!(
                "no admin socket, so `arkivo backup` and `arkivo shard rotate` need the server \
                 stopped: {e:#}"
            );
        })
        .ok();
    let metrics = tokio::spawn(crate::metrics::keep_up(Arc::new(move || {
        // Not while a backup or rotation holds the shards: the next round measures.
        match shards.try_lock() {
            Ok(shards) => shards.usage().map(Some),
            Err(_) => Ok(None),
        }
    })));
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let trimming = tokio::spawn(trim_malloc_arenas());
    notice!("serving {public_url} on {addr} (tree size {tree_size})");
    crate::api::server::serve(
        listener,
        app,
        tls,
        Duration::from_millis(config.header_read_timeout_ms),
        shutdown_signal(),
    )
    .await;
    // The witness tasks read the store: they end before it is closed.
    witnessing.shutdown().await;
    if let Some(admin) = admin {
        admin.shutdown().await;
    }
    metrics.abort();
    let _ = metrics.await;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    trimming.abort();
    // Every handle is gone with the server: the sequencer drains its inbox and ends.
    drop(opened);
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .context("waiting for the sequencer")?
        .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))?;
    notice!("shut down cleanly");
    Ok(())
}

/// Gives the memory glibc's malloc holds free back to the kernel, once a minute. RocksDB and the
/// server allocate and free large buffers (blocks, memtable arenas, compaction buffers) from
/// many threads, and glibc keeps what they free in fragmented per-thread arenas: measured in a
/// soak, a quarter of the heap was free yet resident, and resident memory crept up with the log
/// while what is in use stayed bounded (the block cache and memtables). A trim takes
/// milliseconds, on the blocking pool.
///
/// The one `unsafe` of the crate (`unsafe_code` is denied everywhere else): a call into glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
async fn trim_malloc_arenas() {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.tick().await;
    loop {
        every.tick().await;
        // SAFETY: malloc_trim only returns free memory to the kernel; it takes malloc's own
        // locks and touches no memory in use.
        let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    notice!("shutting down: finishing the requests in flight");
}
