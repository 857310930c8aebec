//! The client subcommands: `keygen`, `sign-blob`, `verify-blob`, `log info|get|search|proof`
//! and `trust-root`; the image ones are in [`super::image_commands`].
//!
//! Exit codes ([`Failure::exit_code`]), the same for every client command:
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | done; for a verification: everything verified |
//! | 1 | verification failed (signature, SET, checkpoint, inclusion or consistency proof, artifact ↔ entry) |
//! | 2 | usage or input error (flags, unreadable or malformed file, wrong password, the log refused the request) |
//! | 3 | the log (or, for image commands, the registry) could not be reached, failed (5xx, 429) or answered out of spec |
//!
//! With `--output json` the result (or `{"ok":false,"exitCode":…,"error":…}`) is one JSON
//! document on stdout; messages for people go to stderr either way.

use std::fs::OpenOptions;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::bundle::Bundle;
use super::keys::{self, KeyAlgorithm, SigningKey};
use super::rekor::{ClientError, LogEntry, RekorClient};
use super::trust::{self, TrustedLog};
use super::verify::{self, VerifiedEntry, VerifyError};
use crate::checkpoint::{self, Checkpoint};
use crate::entries::pki::HashAlg;
use crate::merkle::{self, Hash};
use crate::wire::{InactiveShard, LogInfo, SearchIndex, SearchPublicKey};

/// Files at least this large are hashed with a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;
/// Read size when hashing a file.
const HASH_CHUNK: usize = 1 << 20;
/// Largest bundle, trusted root or log key file read.
const MAX_INPUT_FILE_BYTES: u64 = 16 << 20;

/// A failed command, with its exit code (module doc).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("verification failed: {0}")]
    Verification(String),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Log(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Verification(_) => 1,
            Failure::Input(_) => 2,
            Failure::Log(_) => 3,
        }
    }
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Failure {
        Failure::Verification(e.to_string())
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        if e.is_log_failure() {
            Failure::Log(e.to_string())
        } else {
            Failure::Input(e.to_string())
        }
    }
}

impl From<keys::KeyError> for Failure {
    fn from(e: keys::KeyError) -> Failure {
        Failure::Input(e.to_string())
    }
}

impl From<trust::TrustError> for Failure {
    fn from(e: trust::TrustError) -> Failure {
        Failure::Input(e.to_string())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// `--rekor-url`, also from `ARKIVO_REKOR_URL`.
#[derive(Debug, Args)]
pub struct RekorUrl {
    /// URL of the log, e.g. http://127.0.0.1:3000.
    #[arg(long = "rekor-url", env = "ARKIVO_REKOR_URL")]
    pub url: String,
}

/// The log(s) trusted for verification.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct LogTrust {
    /// The log's public key (PEM; GET /api/v1/log/publicKey). Repeatable: a log rotated to a
    /// new key (arkivo shard rotate --new-key) signs each tree with its own.
    #[arg(long = "log-key")]
    pub log_key: Vec<PathBuf>,
    /// A Sigstore trusted root listing the log (arkivo trust-root writes one).
    #[arg(long = "trusted-root")]
    pub trusted_root: Option<PathBuf>,
}

impl LogTrust {
    /// The trusted logs, `None` when neither flag is given.
    pub(super) fn load(&self) -> Result<Option<Vec<TrustedLog>>, Failure> {
        if !self.log_key.is_empty() {
            let logs = self
                .log_key
                .iter()
                .map(|path| {
                    let pem = read_text(path, "the log key")?;
                    Ok(TrustedLog::from_public_key_pem(
                        &pem,
                        &path.display().to_string(),
                    )?)
                })
                .collect::<Result<_, Failure>>()?;
            return Ok(Some(logs));
        }
        if let Some(path) = &self.trusted_root {
            let json = read_file(path, "the trusted root")?;
            return Ok(Some(trust::logs_from_trusted_root(
                &json,
                &path.display().to_string(),
            )?));
        }
        Ok(None)
    }
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Signature algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub algorithm: KeyAlgorithm,
    /// Writes <PREFIX>.key (private, mode 0600) and <PREFIX>.pub; never overwrites.
    #[arg(long, default_value = "arkivo")]
    pub output_prefix: PathBuf,
}

#[derive(Debug, Args)]
pub struct SignBlobArgs {
    /// Private key file: arkivo keygen's, cosign's, or PKCS#8/SEC1 PEM.
    #[arg(long)]
    pub key: PathBuf,
    #[command(flatten)]
    pub rekor: RekorUrl,
    /// Where to write the Sigstore bundle (v0.3 JSON).
    #[arg(long)]
    pub bundle: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The file to sign.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyBlobArgs {
    /// The signer's public key (PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// The Sigstore bundle of the file.
    #[arg(long)]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub trust: LogTrust,
    /// Also fetch the log's current checkpoint and check that it extends the bundle's.
    #[arg(long = "rekor-url", env = "ARKIVO_REKOR_URL")]
    pub rekor_url: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The file to verify.
    pub file: PathBuf,
}

/// What every `log` subcommand takes.
#[derive(Debug, Args)]
pub struct LogCommon {
    #[command(flatten)]
    pub rekor: RekorUrl,
    #[command(flatten)]
    pub trust: LogTrust,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// The log's size, root and checkpoint (signature verified).
    Info(LogCommon),
    /// One entry, by log index or entry UUID, with its SET and inclusion proof verified.
    Get {
        /// A log index, or a 64/80-hex entry UUID.
        entry: String,
        #[command(flatten)]
        common: LogCommon,
    },
    /// Entry UUIDs by artifact digest, signer public key or email.
    Search {
        #[command(flatten)]
        by: SearchArgs,
        #[command(flatten)]
        common: LogCommon,
    },
    /// A consistency proof between two tree sizes, verified against the signed checkpoint.
    Proof {
        #[arg(long)]
        first: u64,
        #[arg(long)]
        last: u64,
        /// The tree (shard) of a rotated log, by its decimal tree ID [default: the active one].
        #[arg(long)]
        tree_id: Option<i64>,
        #[command(flatten)]
        common: LogCommon,
    },
}

impl LogCommand {
    pub fn common(&self) -> &LogCommon {
        match self {
            LogCommand::Info(c)
            | LogCommand::Get { common: c, .. }
            | LogCommand::Search { common: c, .. }
            | LogCommand::Proof { common: c, .. } => c,
        }
    }
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SearchArgs {
    /// SHA-256 of an artifact (hex).
    #[arg(long)]
    pub sha256: Option<String>,
    /// A signer's public key (PEM file).
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// An email address in signing certificates.
    #[arg(long)]
    pub email: Option<String>,
}

#[derive(Debug, Args)]
pub struct TrustRootArgs {
    #[command(flatten)]
    pub rekor: RekorUrl,
    /// Check that the trusted root lists this log key (PEM), e.g. one obtained out of band.
    #[arg(long = "log-key")]
    pub log_key: Option<PathBuf>,
}

/// A command's result: lines for people and the JSON document.
pub struct Report {
    pub(super) text: String,
    pub(super) json: Value,
}

/// Runs a client command and prints its result; the error carries the exit code.
///
/// # Errors
///
/// [`Failure`], after printing it as JSON on stdout when `output` is JSON.
pub fn run(
    output: Output,
    command: impl AsyncFnOnce() -> Result<Report, Failure>,
) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Input(format!("starting the async runtime: {e}")))?;
    let result = rt.block_on(command());
    print_result(output, &result);
    result.map(|_| ())
}

/// Prints a command's result on stdout: its text, its JSON document, or (JSON only) the
/// failure as `{"ok":false,"exitCode":…,"error":…}`; a failure's text goes to stderr elsewhere.
pub(super) fn print_result(output: Output, result: &Result<Report, Failure>) {
    match (result, output) {
        (Ok(r), Output::Text) => print!("{}", r.text),
        (Ok(r), Output::Json) => println!("{}", pretty(&r.json)),
        (Err(f), Output::Json) => println!(
            "{}",
            pretty(&json!({"ok": false, "exitCode": f.exit_code(), "error": f.to_string()}))
        ),
        (Err(_), Output::Text) => {}
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON values serialize")
}

pub fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let prefix = args.output_prefix.display().to_string();
    let key_path = PathBuf::from(format!("{prefix}.key"));
    let pub_path = PathBuf::from(format!("{prefix}.pub"));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(Failure::Input(format!(
                "{} already exists; nothing was written (choose another --output-prefix)",
                p.display()
            )));
        }
    }
    let password = keys::password_from_env_or_prompt(
        keys::ARKIVO_PASSWORD,
        "Enter a password for the private key (empty for none): ",
        true,
    )?;
    let key = SigningKey::generate(args.algorithm);
    let pem = key.to_pkcs8_pem(&password)?;
    write_new(&key_path, pem.as_bytes(), 0o600)?;
    write_new(&pub_path, key.public_key_pem().as_bytes(), 0o644)?;
    eprintln!(
        "wrote {} ({}, {}) and {}",
        key_path.display(),
        args.algorithm.name(),
        if password.is_empty() {
            "NOT encrypted: set ARKIVO_PASSWORD or type a password to encrypt it"
        } else {
            "encrypted"
        },
        pub_path.display()
    );
    Ok(())
}

/// Creates `path` (never replacing a file) with `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Failure::Input(format!("creating {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::Input(format!("writing {}: {e}", path.display())))
}

pub(super) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    let f = std::fs::File::open(path)
        .map_err(|e| Failure::Input(format!("reading {what} {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    f.take(MAX_INPUT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Input(format!("reading {what} {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_INPUT_FILE_BYTES {
        return Err(Failure::Input(format!(
            "{what} {} is larger than {} MiB",
            path.display(),
            MAX_INPUT_FILE_BYTES >> 20
        )));
    }
    Ok(bytes)
}

pub(super) fn read_text(path: &Path, what: &str) -> Result<String, Failure> {
    String::from_utf8(read_file(path, what)?)
        .map_err(|_| Failure::Input(format!("{what} {} is not text", path.display())))
}

/// Hashes a file while reading it, with a progress bar on a terminal for large files.
fn digest_file(path: &Path, alg: HashAlg) -> Result<Vec<u8>, Failure> {
    let io = |e: std::io::Error| Failure::Input(format!("reading {}: {e}", path.display()));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let bar = (std::io::stderr().is_terminal() && len >= PROGRESS_MIN_BYTES).then(|| {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "hashing {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut hasher: Box<dyn sha2::digest::DynDigest> = match alg {
        HashAlg::Sha256 => Box::new(sha2::Sha256::new()),
        HashAlg::Sha384 => Box::new(sha2::Sha384::new()),
        HashAlg::Sha512 => Box::new(sha2::Sha512::new()),
    };
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(b) = &bar {
            b.inc(n as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(hasher.finalize().to_vec())
}

pub async fn sign_blob(args: &SignBlobArgs) -> Result<Report, Failure> {
    let key = SigningKey::load(&args.key)?;
    let client = RekorClient::new(&args.rekor.url)?;
    let alg = key.algorithm().hash_algorithm();
    let digest = digest_file(&args.file, alg)?;
    let signature = key.sign_digest(&digest)?;
    let public_pem = key.public_key_pem();
    let entry = client
        .create_hashedrekord(alg, &digest, &signature, &public_pem)
        .await
        .map_err(|e| match e.is_log_failure() {
            true => Failure::Log(e.to_string()),
            false => Failure::Input(format!("the log refused the entry: {e}")),
        })?;
    // The log answered with an entry: it must be the one just made.
    let body = entry.body().map_err(log_out_of_spec)?;
    let signer = keys::parse_public_key(&public_pem, "the signing key")?;
    verify::verify_hashedrekord(&body, alg, &digest, &signature, &signer)
        .map_err(|e| log_out_of_spec(format!("the log returned another entry: {e}")))?;
    let bundle =
        Bundle::for_message_signature(alg, &digest, &signature, &key.public_key_der(), &entry)
            .map_err(|e| log_out_of_spec(e.to_string()))?;
    std::fs::write(&args.bundle, bundle.to_json())
        .map_err(|e| Failure::Input(format!("writing {}: {e}", args.bundle.display())))?;
    let e = &entry.entry;
    Ok(Report {
        text: format!(
            "signed {} ({}:{})\nrecorded in {} at log index {} (entry {})\nbundle written to {}\n",
            args.file.display(),
            alg.name(),
            hex::encode(&digest),
            client.url(),
            e.log_index,
            entry.uuid,
            args.bundle.display()
        ),
        json: json!({
            "ok": true,
            "file": args.file,
            "digest": format!("{}:{}", alg.name(), hex::encode(&digest)),
            "logIndex": e.log_index,
            "uuid": entry.uuid,
            "integratedTime": e.integrated_time,
            "bundle": args.bundle,
        }),
    })
}

fn log_out_of_spec(m: impl std::fmt::Display) -> Failure {
    Failure::Log(format!("the log's answer is not usable: {m}"))
}

pub(super) fn no_trust() -> Failure {
    Failure::Input(
        "verification needs the log's public key: --log-key FILE (the log serves it at \
         /api/v1/log/publicKey; get it out of band) or --trusted-root FILE (arkivo trust-root)"
            .into(),
    )
}

pub async fn verify_blob(args: &VerifyBlobArgs) -> Result<Report, Failure> {
    let logs = args.trust.load()?.ok_or_else(no_trust)?;
    let signer = keys::load_public_key(&args.key)?;
    let bundle = Bundle::from_json(&read_file(&args.bundle, "the bundle")?)
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    let (alg, bundle_digest, signature) = bundle
        .message_signature()
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    let entry = bundle
        .log_entry()
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    let digest = digest_file(&args.file, alg)?;
    if digest != bundle_digest {
        return Err(Failure::Verification(format!(
            "{} has {}:{}, the bundle signs {}:{}: the file was modified or is not the signed one",
            args.file.display(),
            alg.name(),
            hex::encode(&digest),
            alg.name(),
            hex::encode(bundle_digest)
        )));
    }
    let verified = verify::verify_log_entry(&entry, &logs)?;
    let body = entry
        .body()
        .map_err(|e| Failure::Input(format!("{}: {e}", args.bundle.display())))?;
    verify::verify_hashedrekord(&body, alg, &digest, signature, signer.key())?;

    let mut text = format!(
        "verified {} ({}:{})\n  signature: OK with {}\n  log entry: index {}, integrated at {} (Unix), log ID {}\n  \
         SET: OK; inclusion proof: OK in the signed checkpoint of tree size {} (root {})\n",
        args.file.display(),
        alg.name(),
        hex::encode(&digest),
        args.key.display(),
        entry.entry.log_index,
        entry.entry.integrated_time,
        hex::encode(verified.log_id),
        verified.checkpoint.size,
        verified.checkpoint.root.to_hex()
    );
    let mut report = json!({
        "ok": true,
        "verified": true,
        "file": args.file,
        "digest": format!("{}:{}", alg.name(), hex::encode(&digest)),
        "logIndex": entry.entry.log_index,
        "integratedTime": entry.entry.integrated_time,
        "logID": hex::encode(verified.log_id),
        "uuid": entry.uuid,
        "checkpoint": {"origin": verified.checkpoint.origin, "treeSize": verified.checkpoint.size,
                        "rootHash": verified.checkpoint.root.to_hex()},
    });
    if let Some(url) = &args.rekor_url {
        let client = RekorClient::new(url)?;
        let log = logs
            .iter()
            .find(|l| l.log_id == verified.log_id)
            .expect("the entry verified with one of the logs");
        // The bundle's tree: after a rotation, a frozen one, whose final checkpoint must extend
        // the bundle's.
        let (_, _, current) = tree_checkpoint(
            &client,
            std::slice::from_ref(log),
            verified.checkpoint.v1_tree_id(),
        )
        .await?;
        check_extends(
            &client,
            &verified.checkpoint,
            &current,
            "the bundle's checkpoint",
        )
        .await?;
        text.push_str(&format!(
            "  consistency: OK, the log's current checkpoint (tree size {}) extends the bundle's\n",
            current.size
        ));
        report["consistency"] =
            json!({"treeSize": current.size, "rootHash": current.root.to_hex()});
    }
    Ok(Report { text, json: report })
}

/// Checks that the log's verified checkpoint `new` extends the verified checkpoint `old`
/// (`what` names `old` in messages): another origin is another log (or another of its trees), a
/// smaller tree a rollback, another root at the same size a fork; otherwise the log's
/// consistency proof, asked of the tree the origin names (which need not be the active one
/// after a rotation), must verify. No request when the sizes are equal or `old` is the empty
/// tree, which every tree extends.
pub(super) async fn check_extends(
    client: &RekorClient,
    old: &Checkpoint,
    new: &Checkpoint,
    what: &str,
) -> Result<(), Failure> {
    if new.origin != old.origin {
        return Err(Failure::Verification(format!(
            "the log's checkpoint is of {:?}, {what} of {:?}: another log or tree",
            new.origin, old.origin
        )));
    }
    if new.size < old.size {
        return Err(Failure::Verification(format!(
            "the log's tree size {} is smaller than the size {} of {what}: the log was rolled back",
            new.size, old.size
        )));
    }
    if new.size == old.size {
        if new.root != old.root {
            return Err(Failure::Verification(format!(
                "the log's checkpoint of tree size {} has root {}, {what} has root {}: a forked \
                 or rewritten log",
                new.size,
                new.root.to_hex(),
                old.root.to_hex()
            )));
        }
        return Ok(());
    }
    if old.size == 0 {
        return Ok(());
    }
    let proof = client
        .consistency_proof(old.size, new.size, old.v1_tree_id())
        .await?;
    verify::verify_consistency(old, new, &proof.hashes).map_err(|e| {
        Failure::Verification(format!(
            "{e}: the log's tree of size {} does not extend {what} of size {} \
             (a forked or rewritten log)",
            new.size, old.size
        ))
    })
}

/// `GET /api/v1/log`, its active tree's checkpoint verified ([`verify_listed`]).
pub(super) async fn current_checkpoint<'a>(
    client: &RekorClient,
    logs: &'a [TrustedLog],
) -> Result<(LogInfo, &'a TrustedLog, Checkpoint), Failure> {
    tree_checkpoint(client, logs, None).await
}

/// The log's checkpoint of the tree `tree_id` (decimal) — the active tree's current one, or a
/// frozen tree's final one from `inactiveShards` (rekor-v1-api.md §3.5, §9) — verified with
/// one of `logs`; the active tree's when `None`.
///
/// # Errors
///
/// [`Failure::Verification`] when the log lists no such tree or its checkpoint does not verify.
pub(super) async fn tree_checkpoint<'a>(
    client: &RekorClient,
    logs: &'a [TrustedLog],
    tree_id: Option<&str>,
) -> Result<(LogInfo, &'a TrustedLog, Checkpoint), Failure> {
    let info = client.log_info().await?;
    let tree = match tree_id {
        None => ListedTree::from(&info),
        Some(id) if id == info.tree_id => ListedTree::from(&info),
        Some(id) => info
            .inactive_shards
            .iter()
            .flatten()
            .find(|s| s.tree_id == id)
            .map(ListedTree::from)
            .ok_or_else(|| {
                Failure::Verification(format!(
                    "the log at {} lists no tree {id}, neither active nor frozen",
                    client.url()
                ))
            })?,
    };
    let name = signer_name(tree.signed_tree_head);
    let (log, cp) = verify_listed(&tree, logs, &name, client.url())?;
    Ok((info, log, cp))
}

/// One tree as `GET /api/v1/log` lists it (rekor-v1-api.md §3.5): the active one or an
/// inactive shard, with the members that must agree with its checkpoint.
pub(super) struct ListedTree<'a> {
    /// Decimal.
    pub(super) tree_id: &'a str,
    pub(super) tree_size: u64,
    pub(super) root_hash: &'a str,
    pub(super) signed_tree_head: &'a str,
}

impl<'a> From<&'a LogInfo> for ListedTree<'a> {
    fn from(info: &'a LogInfo) -> Self {
        ListedTree {
            tree_id: &info.tree_id,
            tree_size: info.tree_size,
            root_hash: &info.root_hash,
            signed_tree_head: &info.signed_tree_head,
        }
    }
}

impl<'a> From<&'a InactiveShard> for ListedTree<'a> {
    fn from(shard: &'a InactiveShard) -> Self {
        ListedTree {
            tree_id: &shard.tree_id,
            tree_size: shard.tree_size,
            root_hash: &shard.root_hash,
            signed_tree_head: &shard.signed_tree_head,
        }
    }
}

/// The checkpoint of a tree the log at `url` lists, verified with whichever of `logs` signed
/// it (signer name `hostname`, key hint, signature, origin `<hostname> - <treeID>`), and its
/// `treeID`/`treeSize`/`rootHash` checked against it.
///
/// # Errors
///
/// [`Failure::Verification`]; when no trusted key has the checkpoint's key hint, the message
/// says where the log serves the tree's key, to be checked out of band: trusting it on the
/// log's word would let a swapped log vouch for itself.
pub(super) fn verify_listed<'a>(
    tree: &ListedTree,
    logs: &'a [TrustedLog],
    hostname: &str,
    url: &str,
) -> Result<(&'a TrustedLog, Checkpoint), Failure> {
    let hint = crate::note::parse(tree.signed_tree_head.as_bytes())
        .ok()
        .and_then(|n| n.signatures.first().map(|s| s.key_id));
    let mut failure = None;
    for log in logs {
        match checkpoint::verify_v1(tree.signed_tree_head, &log.key, hostname) {
            Ok(cp) => {
                let agrees = cp.v1_tree_id() == Some(tree.tree_id)
                    && cp.size == tree.tree_size
                    && Hash::from_hex(tree.root_hash) == Some(cp.root);
                if !agrees {
                    return Err(Failure::Verification(format!(
                        "the log's treeID/treeSize/rootHash of tree {} differ from its signed \
                         checkpoint",
                        tree.tree_id
                    )));
                }
                return Ok((log, cp));
            }
            // Signed with another key: not a failure of this one.
            Err(_) if hint.is_some_and(|h| h != checkpoint::v1_key_hint(&log.key)) => {}
            Err(e) => failure = Some(e),
        }
    }
    Err(Failure::Verification(match failure {
        Some(e) => format!(
            "the checkpoint of tree {} of the log at {url} does not verify: {e}",
            tree.tree_id
        ),
        None => format!(
            "the checkpoint of tree {id} of the log at {url} is not signed by a trusted log key \
             (its key hint is {}); if the log's operator rotated it to a new key, get the key \
             from {url}/api/v1/log/publicKey?treeID={id}, check it out of band and trust it \
             too (another --log-key, or in the --trusted-root)",
            hint.map(|h| format!("{h:08x}")).unwrap_or_default(),
            id = tree.tree_id
        ),
    }))
}

/// The logs to verify `log` answers with: the flags', else the key the log itself serves for
/// the tree `tree_id` (decimal; the active tree when `None`) — the report says so: that checks
/// consistency, not authenticity.
async fn logs_or_served(
    client: &RekorClient,
    trust: &LogTrust,
    tree_id: Option<&str>,
) -> Result<(Vec<TrustedLog>, bool), Failure> {
    if let Some(logs) = trust.load()? {
        return Ok((logs, true));
    }
    let pem = client.public_key(tree_id).await?;
    let log = TrustedLog::from_public_key_pem(&pem, "the key served by the log")
        .map_err(|e| log_out_of_spec(e.to_string()))?;
    eprintln!(
        "note: verifying with the key the log serves ({}); pass --log-key or --trusted-root to pin it",
        log.log_id_hex()
    );
    Ok((vec![log], false))
}

/// The signer name of a v1 checkpoint (checked by [`checkpoint::verify_v1`] afterwards).
pub(super) fn signer_name(text: &str) -> String {
    crate::note::parse(text.as_bytes())
        .ok()
        .and_then(|n| n.signatures.first().map(|s| s.name.clone()))
        .unwrap_or_default()
}

pub async fn log(command: &LogCommand) -> Result<Report, Failure> {
    let common = command.common();
    let client = RekorClient::new(&common.rekor.url)?;
    match command {
        LogCommand::Info(_) => {
            let (logs, pinned) = logs_or_served(&client, &common.trust, None).await?;
            let (info, log, _) = current_checkpoint(&client, &logs).await?;
            let frozen = info.inactive_shards.as_deref().unwrap_or_default();
            let mut text = format!(
                "log {}\n  tree ID {}, tree size {}, root {}\n  log ID {}\n  checkpoint signature: OK ({})\n",
                client.url(),
                info.tree_id,
                info.tree_size,
                info.root_hash,
                log.log_id_hex(),
                if pinned {
                    "trusted key"
                } else {
                    "key served by the log"
                }
            );
            // Listed as the log lists them; `log proof --tree-id` verifies one.
            for shard in frozen {
                text.push_str(&format!(
                    "  frozen tree {}: tree size {}, root {}\n",
                    shard.tree_id, shard.tree_size, shard.root_hash
                ));
            }
            let total = info.tree_size + frozen.iter().map(|s| s.tree_size).sum::<u64>();
            Ok(Report {
                text,
                json: json!({
                    "ok": true, "treeID": info.tree_id, "treeSize": info.tree_size,
                    "rootHash": info.root_hash, "logID": log.log_id_hex(),
                    "signedTreeHead": info.signed_tree_head, "keyPinned": pinned,
                    "inactiveShards": info.inactive_shards, "totalSize": total,
                }),
            })
        }
        LogCommand::Get { entry, .. } => {
            let fetched = match entry.parse::<u64>() {
                Ok(index) if entry.len() < 64 => client.get_by_index(index).await,
                _ => client.get_by_uuid(entry).await,
            }
            .map_err(|e| match e.is_not_found() {
                true => Failure::Input(format!("no entry {entry} in the log at {}", client.url())),
                false => e.into(),
            })?;
            // Unpinned, the key of the entry's own tree (its entry ID names it), as rekor-cli
            // asks for it.
            let tree_id = fetched
                .uuid
                .get(..16)
                .filter(|_| fetched.uuid.len() == 80)
                .and_then(|hex| i64::from_str_radix(hex, 16).ok())
                .map(|id| id.to_string());
            let (logs, pinned) = logs_or_served(&client, &common.trust, tree_id.as_deref()).await?;
            let verified = verify::verify_log_entry(&fetched, &logs)?;
            Ok(entry_report(&fetched, &verified, pinned))
        }
        LogCommand::Search { by, .. } => {
            let query = search_query(by)?;
            let ids = client.search_index(&query).await?;
            Ok(Report {
                text: ids.iter().map(|id| format!("{id}\n")).collect(),
                json: json!({"ok": true, "uuids": ids}),
            })
        }
        LogCommand::Proof {
            first,
            last,
            tree_id,
            ..
        } => {
            let tree_id = tree_id.map(|id| id.to_string());
            let (logs, pinned) = logs_or_served(&client, &common.trust, tree_id.as_deref()).await?;
            proof(&client, &logs, pinned, tree_id.as_deref(), *first, *last).await
        }
    }
}

fn entry_report(entry: &LogEntry, verified: &VerifiedEntry, pinned: bool) -> Report {
    let body = entry.body().unwrap_or_default();
    let kind = crate::entries::kind_of_body(&body)
        .map(|k| k.as_str())
        .unwrap_or("?");
    let mut text = format!(
        "entry {}\n  kind {kind}, log index {}, integrated at {} (Unix)\n  SET: OK; inclusion proof: OK in the signed checkpoint of tree size {} ({})\n",
        entry.uuid,
        entry.entry.log_index,
        entry.entry.integrated_time,
        verified.checkpoint.size,
        if pinned {
            "trusted key"
        } else {
            "key served by the log"
        }
    );
    if let Ok(b) = crate::entries::hashedrekord::parse_body(&body) {
        text.push_str(&format!("  artifact {}:{}\n", b.algorithm.name(), b.value));
    }
    text.push_str(&format!("  body {}\n", String::from_utf8_lossy(&body)));
    Report {
        text,
        json: json!({
            "ok": true,
            "verified": true,
            "keyPinned": pinned,
            "entry": entry.to_map(),
        }),
    }
}

fn search_query(s: &SearchArgs) -> Result<SearchIndex, Failure> {
    use base64::Engine as _;
    let mut q = SearchIndex::default();
    if let Some(h) = &s.sha256 {
        q.hash = Some(format!("sha256:{}", sha256_hex(h, "--sha256")?));
    }
    if let Some(path) = &s.public_key {
        let pem = read_text(path, "the public key")?;
        q.public_key = Some(SearchPublicKey {
            format: Some("x509".into()),
            content: Some(base64::engine::general_purpose::STANDARD.encode(pem)),
        });
    }
    q.email.clone_from(&s.email);
    Ok(q)
}

/// A SHA-256 digest given on the command line (`flag`): 64 hex characters, optionally
/// `sha256:`-prefixed; lower-cased, as the index stores digests (rekor-v1-api.md §10).
pub(super) fn sha256_hex(arg: &str, flag: &str) -> Result<String, Failure> {
    let h = arg.strip_prefix("sha256:").unwrap_or(arg);
    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::Input(format!(
            "{flag} {h:?} is not 64 hex characters"
        )));
    }
    Ok(h.to_ascii_lowercase())
}

/// `log proof`: the root at `last` comes from the log's signed checkpoint, directly when
/// `last` is the current size, else through a consistency proof to it; the root at `first` is
/// learnt the same way from the proof `first → last` (rekor-v1-api.md §3.7 gives no signed
/// roots for past sizes). The proof then verifies between the two.
async fn proof(
    client: &RekorClient,
    logs: &[TrustedLog],
    pinned: bool,
    tree_id: Option<&str>,
    first: u64,
    last: u64,
) -> Result<Report, Failure> {
    if first == 0 || first > last {
        return Err(Failure::Input(format!(
            "--first {first} --last {last}: need 1 <= first <= last"
        )));
    }
    let (_, _, current) = tree_checkpoint(client, logs, tree_id).await?;
    if last > current.size {
        return Err(Failure::Input(format!(
            "--last {last} is beyond the log's current tree size {}",
            current.size
        )));
    }
    let last_root = root_at(client, &current, tree_id, last).await?;
    let proof = client.consistency_proof(first, last, tree_id).await?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| Hash::from_hex(h).ok_or_else(|| log_out_of_spec(format!("{h:?} is not 64 hex"))))
        .collect::<Result<Vec<_>, _>>()?;
    let first_root = match merkle::consistency_old_root(first, last, &hashes, &last_root) {
        Ok(Some(root)) => Some(root),
        Ok(None) => None,
        Err(e) => return Err(VerifyError::Consistency(e).into()),
    };
    let first_text = first_root.map_or_else(
        || "not contained in the proof (a power-of-two size); compare it with a checkpoint you hold".to_owned(),
        |r| r.to_hex(),
    );
    Ok(Report {
        text: format!(
            "consistency proof {first} -> {last}: {} hashes, OK against the signed checkpoint of tree size {} ({})\n  \
             root at {first}: {first_text}\n  root at {last}: {}\n",
            hashes.len(),
            current.size,
            if pinned {
                "trusted key"
            } else {
                "key served by the log"
            },
            last_root.to_hex()
        ),
        json: json!({
            "ok": true, "verified": true, "keyPinned": pinned,
            "firstSize": first, "lastSize": last,
            "firstRootHash": first_root.map(|r| r.to_hex()),
            "lastRootHash": last_root.to_hex(),
            "hashes": proof.hashes,
            "checkpointTreeSize": current.size,
        }),
    })
}

/// The root of the tree of `size` records, from the verified checkpoint `current`.
async fn root_at(
    client: &RekorClient,
    current: &Checkpoint,
    tree_id: Option<&str>,
    size: u64,
) -> Result<Hash, Failure> {
    if size == current.size {
        return Ok(current.root);
    }
    let proof = client
        .consistency_proof(size, current.size, tree_id)
        .await?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| Hash::from_hex(h).ok_or_else(|| log_out_of_spec(format!("{h:?} is not 64 hex"))))
        .collect::<Result<Vec<_>, _>>()?;
    match merkle::consistency_old_root(size, current.size, &hashes, &current.root) {
        Ok(Some(root)) => Ok(root),
        Ok(None) => Err(Failure::Input(format!(
            "the root at --last {size} (a power of two) is not in any v1 proof; use --last {}",
            current.size
        ))),
        Err(e) => Err(VerifyError::Consistency(e).into()),
    }
}

pub async fn trust_root(args: &TrustRootArgs) -> Result<Report, Failure> {
    let client = RekorClient::new(&args.rekor.url)?;
    let root = client.trusted_root().await?;
    let bytes = serde_json::to_vec(&root).expect("JSON values serialize");
    let logs = trust::logs_from_trusted_root(&bytes, "the log's trusted root")
        .map_err(|e| log_out_of_spec(e.to_string()))?;
    let want = match &args.log_key {
        Some(path) => {
            let pem = read_text(path, "the log key")?;
            TrustedLog::from_public_key_pem(&pem, &path.display().to_string())?.log_id
        }
        None => {
            let pem = client.public_key(None).await?;
            eprintln!(
                "note: not pinned: checked against the key the log serves; pass --log-key to \
                 check against a key obtained out of band"
            );
            TrustedLog::from_public_key_pem(&pem, "the key served by the log")
                .map_err(|e| log_out_of_spec(e.to_string()))?
                .log_id
        }
    };
    if !logs.iter().any(|l| l.log_id == want) {
        return Err(Failure::Verification(format!(
            "the trusted root the log serves does not list the log key {}",
            hex::encode(want)
        )));
    }
    let text = format!("{}\n", pretty(&root));
    Ok(Report { text, json: root })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Failure::Verification(String::new()).exit_code(), 1);
        assert_eq!(Failure::Input(String::new()).exit_code(), 2);
        assert_eq!(Failure::Log(String::new()).exit_code(), 3);
    }

    #[test]
    fn search_queries() {
        let q = search_query(&SearchArgs {
            sha256: Some(format!("sha256:{}", "AB".repeat(32))),
            public_key: None,
            email: None,
        })
        .unwrap();
        assert_eq!(q.hash.unwrap(), format!("sha256:{}", "ab".repeat(32)));
        assert!(
            search_query(&SearchArgs {
                sha256: Some("abc".into()),
                public_key: None,
                email: None,
            })
            .is_err()
        );
    }
}
