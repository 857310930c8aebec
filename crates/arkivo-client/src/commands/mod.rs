//! The client's commands, one module each: [`keygen`], [`blob`] (`sign-blob`, `verify-blob`,
//! `attest-blob`, `verify-blob-attestation`),
//! [`log`] (`log info|get|search|proof`), [`trust_root`] and [`image`] (`sign`, `verify`,
//! `attest`, `verify-attestation`); [`checkpoints`] follows a log's checkpoints for them and for
//! the monitor. What they share is here: failures and their exit codes, output, reading files.
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

pub mod blob;
pub mod checkpoints;
pub mod image;
pub mod keygen;
pub mod log;
pub mod trust_root;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::fulcio::{self, Credential};
use crate::identity::{IdentityPolicy, Matcher, SignerPolicy};
use crate::keys::{self, SigningKey};
use crate::rekor::{ClientError, RekorClient};
use crate::rekor_v2::RecordError;
use crate::signing::{SignError, SignedEntry, SigningLog};
use crate::trust::{self, CertificateTrust, RekorV2Trust, TrustedLog};
use crate::verify::VerifyError;
use arkivo_core::ca::identity::oid;
use arkivo_core::entries::pki::Verifier;
use arkivo_core::wire::TrustedRoot;

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

/// A signature not signed and recorded; `nothing` says what was not made of it.
pub(crate) fn sign_failure(e: SignError, nothing: &str) -> Failure {
    match e {
        SignError::Log(e) => e.into(),
        SignError::Answer(e) => Failure::Log(format!("{e}; {nothing}")),
        SignError::RekorV2(e) => record_failure(e, nothing),
        e @ SignError::Bundle(_) => Failure::Log(format!("the log's answer is not usable: {e}")),
        SignError::Unsupported(m) => Failure::Input(m),
    }
}

/// A signature not recorded in a Rekor v2 log; `nothing` says what was not made of it.
pub(crate) fn record_failure(e: RecordError, nothing: &str) -> Failure {
    match e {
        RecordError::Timestamp(ref c) | RecordError::Entry(ref c) if c.is_log_failure() => {
            Failure::Log(format!("{e}; {nothing}"))
        }
        RecordError::Entry(c) => Failure::Input(format!("the log refused the entry: {c}")),
        e @ (RecordError::Timestamp(_) | RecordError::Request(_)) => Failure::Input(e.to_string()),
        RecordError::Answer(m) => Failure::Log(format!("{m}; {nothing}")),
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

/// What every signing command (`sign-blob`, `sign`, `attest`) takes: the key (or, without one,
/// what keyless signing needs), the log to record the signature in with its write token, and the
/// key(s) the log's answer must verify with before anything is written or pushed.
#[derive(Debug, Args)]
pub struct Signer {
    /// Private key file: arkivo keygen's, cosign's, or PKCS#8/SEC1 PEM. Without it, sign
    /// keyless: an ephemeral key certified for the identity of an OIDC ID token.
    #[arg(long)]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub keyless: fulcio::KeylessArgs,
    #[command(flatten)]
    pub rekor: RekorUrl,
    #[command(flatten)]
    pub write_token: WriteToken,
    /// The log key(s) the log's answer must verify with; without them, the key the log serves
    /// (a check of the log's consistency, not of its identity).
    #[command(flatten)]
    pub trust: LogTrust,
    /// The log's write API: 1 (Rekor v1: the log signs an entry timestamp) or 2 (Rekor v2: the
    /// entry has no time of its own, so the signature is also timestamped by the RFC 3161
    /// timestamp authority, and the bundle carries the timestamp).
    #[arg(long = "rekor-api-version", default_value = "1", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub rekor_api_version: u8,
    /// The RFC 3161 timestamp authority a Rekor v2 signature is timestamped by; default: the
    /// log's own, <rekor-url>/api/v1/timestamp.
    #[arg(long = "timestamp-server-url")]
    pub timestamp_server_url: Option<String>,
}

impl Signer {
    /// The signing key (or an ephemeral key and its certificate), a client of the log that sends
    /// the write token with new entries, and the logs its answers must verify with
    /// ([`crate::verify::verify_answer`]).
    pub(crate) async fn open(&self) -> Result<(Credential, RekorClient, Vec<TrustedLog>), Failure> {
        let client = self.write_token.client(&self.rekor)?;
        let credential = self.credential(&client).await?;
        let (logs, _) = logs_or_served(&client, &self.trust, None).await?;
        Ok((credential, client, logs))
    }

    /// [`Signer::open`] for a Rekor v2 log: what its answers and the TSA's must verify with
    /// is the v2 logs and timestamp authorities of `--trusted-root`, or else of the trusted
    /// root the log serves (a check of consistency, not of identity; the note says so).
    pub(crate) async fn open_v2(&self) -> Result<(Credential, RekorClient, RekorV2Trust), Failure> {
        let client = self.write_token.client(&self.rekor)?;
        let credential = self.credential(&client).await?;
        if !self.trust.log_key.is_empty() {
            return Err(Failure::Input(
                "--log-key pins Rekor v1 keys; a Rekor v2 log's answer is verified with its \
                 Ed25519 checkpoint key and the timestamp authority of --trusted-root"
                    .into(),
            ));
        }
        let trust = match &self.trust.trusted_root {
            Some(path) => trust::rekor_v2_trust(
                &read_file(path, "the trusted root")?,
                &path.display().to_string(),
            )?,
            None => {
                let served: TrustedRoot = serde_json::from_value(client.trusted_root().await?)
                    .map_err(|e| log_out_of_spec(format!("the log's trusted root: {e}")))?;
                eprintln!(
                    "note: verifying with the checkpoint keys and timestamp authorities the log \
                     serves; pass --trusted-root to pin them"
                );
                trust::rekor_v2_trust_of(&served, "the log's trusted root")
                    .map_err(log_out_of_spec)?
            }
        };
        Ok((credential, client, trust))
    }

    /// The signing key, or (keyless) an ephemeral key certified by the CA.
    async fn credential(&self, client: &RekorClient) -> Result<Credential, Failure> {
        match &self.key {
            Some(path) => Ok(Credential::from_key(SigningKey::load(path)?)),
            None => fulcio::certify(&self.keyless, client).await,
        }
    }

    /// [`Signer::open`] or [`Signer::open_v2`], as `--rekor-api-version` says.
    pub(crate) async fn open_any(&self) -> Result<(Credential, RekorClient, Trusted), Failure> {
        if self.rekor_api_version == 2 {
            let (credential, rekor, trust) = self.open_v2().await?;
            let url = self.timestamp_url(&rekor);
            return Ok((credential, rekor, Trusted::V2(trust, url)));
        }
        let (credential, rekor, logs) = self.open().await?;
        Ok((credential, rekor, Trusted::V1(logs)))
    }

    /// Where the signature of a Rekor v2 entry is timestamped.
    pub(crate) fn timestamp_url(&self, client: &RekorClient) -> String {
        self.timestamp_server_url
            .clone()
            .unwrap_or_else(|| format!("{}/api/v1/timestamp", client.url()))
    }
}

/// What a signing command's log answers must verify with: its Rekor v1 logs, or (with
/// `--rekor-api-version 2`) its v2 logs and timestamp authorities, and the TSA's URL.
pub(crate) enum Trusted {
    V1(Vec<TrustedLog>),
    V2(RekorV2Trust, String),
}

impl Trusted {
    pub(crate) fn log(&self) -> SigningLog<'_> {
        match self {
            Trusted::V1(logs) => SigningLog::V1(logs),
            Trusted::V2(trust, url) => SigningLog::V2 {
                trust,
                timestamp_url: url,
            },
        }
    }
}

/// The report lines (ending in a newline) and JSON members (added to `json`) of the log entry
/// a signing command made.
pub(crate) fn entry_report(rekor: &RekorClient, entry: &SignedEntry, json: &mut Value) -> String {
    match entry {
        SignedEntry::V1(entry) => {
            let e = &entry.entry;
            json["logIndex"] = json!(e.log_index);
            json["uuid"] = json!(entry.uuid);
            json["integratedTime"] = json!(e.integrated_time);
            format!(
                "recorded in {} at log index {} (entry {})\n",
                rekor.url(),
                e.log_index,
                entry.uuid
            )
        }
        SignedEntry::V2(r) => {
            let log_id = hex::encode(r.verified.key_id);
            json["rekorApiVersion"] = json!(2);
            json["logIndex"] = json!(r.entry.log_index);
            json["logID"] = json!(log_id);
            json["timestamp"] =
                json!({"genTime": r.timestamp.gen_time, "policy": r.timestamp.policy});
            format!(
                "timestamped at {} (Unix)\nrecorded in {} (Rekor v2, log {log_id}) at log index {}\n",
                r.timestamp.gen_time,
                rekor.url(),
                r.entry.log_index
            )
        }
    }
}

/// An attestation's predicate: a JSON file.
pub(crate) fn read_predicate(path: &Path) -> Result<Value, Failure> {
    serde_json::from_slice(&read_file(path, "the predicate")?)
        .map_err(|e| Failure::Input(format!("the predicate {} is not JSON: {e}", path.display())))
}

/// Who a verification accepts as signer: `--key`, or (keyless) a certificate from a CA of the
/// trusted root for the identity the flags name.
#[derive(Debug, Args)]
pub struct SignerFlags {
    /// The signer's public key (PEM), for key-signed artifacts.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Keyless: the identity the certificate must name (an email, a URI such as
    /// https://github.com/ORG/REPO/.github/workflows/F.yml@refs/heads/main).
    #[arg(long = "certificate-identity")]
    pub identity: Option<String>,
    /// Keyless: a regular expression (unanchored, as cosign's) one of the certificate's
    /// identities must match.
    #[arg(long = "certificate-identity-regexp", conflicts_with = "identity")]
    pub identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer that must have vouched for the identity.
    #[arg(long = "certificate-oidc-issuer")]
    pub issuer: Option<String>,
    /// Keyless: a regular expression (unanchored) the OIDC issuer must match.
    #[arg(long = "certificate-oidc-issuer-regexp", conflicts_with = "issuer")]
    pub issuer_regexp: Option<String>,
    /// Keyless: the GitHub workflow trigger the certificate must name (e.g. push).
    #[arg(long = "certificate-github-workflow-trigger")]
    pub github_workflow_trigger: Option<String>,
    /// Keyless: the commit SHA the GitHub workflow ran at.
    #[arg(long = "certificate-github-workflow-sha")]
    pub github_workflow_sha: Option<String>,
    /// Keyless: the GitHub workflow's name.
    #[arg(long = "certificate-github-workflow-name")]
    pub github_workflow_name: Option<String>,
    /// Keyless: the GitHub repository (ORG/REPO) the workflow ran in.
    #[arg(long = "certificate-github-workflow-repository")]
    pub github_workflow_repository: Option<String>,
    /// Keyless: the git ref the GitHub workflow ran on (e.g. refs/heads/main).
    #[arg(long = "certificate-github-workflow-ref")]
    pub github_workflow_ref: Option<String>,
    /// Keyless: accept certificates without a verified signed certificate timestamp (needed
    /// while the trusted root lists no CT log).
    #[arg(long = "insecure-ignore-sct")]
    pub insecure_ignore_sct: bool,
}

/// A verification's signer policy, owned ([`SignerFlags::load`]).
pub(crate) enum Signers {
    Key(Verifier),
    Keyless(CertificateTrust, IdentityPolicy),
}

impl Signers {
    pub(crate) fn policy(&self) -> SignerPolicy<'_> {
        match self {
            Signers::Key(v) => SignerPolicy::Key(v.key()),
            Signers::Keyless(trust, identity) => SignerPolicy::Keyless { trust, identity },
        }
    }
}

impl SignerFlags {
    /// The key, or the CAs of `--trusted-root` and the identity policy. cosign's rule: a keyless
    /// verification needs both an identity and an issuer constraint.
    pub(crate) fn load(&self, trust: &LogTrust) -> Result<Signers, Failure> {
        let matcher = |exact: &Option<String>, re: &Option<String>, flag: &str| match (exact, re) {
            (Some(s), _) => Ok(Some(Matcher::Exact(s.clone()))),
            (None, Some(r)) => regex::Regex::new(r)
                .map(|r| Some(Matcher::Regex(r)))
                .map_err(|e| Failure::Input(format!("{flag}-regexp: {e}"))),
            (None, None) => Ok(None),
        };
        let identity = matcher(
            &self.identity,
            &self.identity_regexp,
            "--certificate-identity",
        )?;
        let issuer = matcher(
            &self.issuer,
            &self.issuer_regexp,
            "--certificate-oidc-issuer",
        )?;
        let workflow: Vec<(u32, &'static str, String)> = [
            (
                oid::GITHUB_WORKFLOW_TRIGGER,
                "--certificate-github-workflow-trigger",
                &self.github_workflow_trigger,
            ),
            (
                oid::GITHUB_WORKFLOW_SHA,
                "--certificate-github-workflow-sha",
                &self.github_workflow_sha,
            ),
            (
                oid::GITHUB_WORKFLOW_NAME,
                "--certificate-github-workflow-name",
                &self.github_workflow_name,
            ),
            (
                oid::GITHUB_WORKFLOW_REPOSITORY,
                "--certificate-github-workflow-repository",
                &self.github_workflow_repository,
            ),
            (
                oid::GITHUB_WORKFLOW_REF,
                "--certificate-github-workflow-ref",
                &self.github_workflow_ref,
            ),
        ]
        .into_iter()
        .filter_map(|(arc, flag, v)| v.clone().map(|v| (arc, flag, v)))
        .collect();
        let keyless = identity.is_some() || issuer.is_some() || !workflow.is_empty();
        match (&self.key, identity, issuer) {
            (Some(_), ..) if keyless => Err(Failure::Input(
                "--key verifies key-signed artifacts, the --certificate-* flags keyless ones: give one or the other".into(),
            )),
            (Some(path), ..) => Ok(Signers::Key(keys::load_public_key(path)?)),
            (None, Some(identity), Some(issuer)) => {
                let path = trust.trusted_root.as_ref().ok_or_else(|| {
                    Failure::Input(
                        "keyless verification needs --trusted-root: a trusted root listing the \
                         certificate authority (certificateAuthorities) and the log"
                            .into(),
                    )
                })?;
                let json = read_file(path, "the trusted root")?;
                let cas = trust::certificate_trust(&json, &path.display().to_string())?;
                Ok(Signers::Keyless(
                    cas,
                    IdentityPolicy {
                        identity,
                        issuer,
                        workflow,
                        ignore_sct: self.insecure_ignore_sct,
                    },
                ))
            }
            (None, ..) => Err(Failure::Input(
                "verification needs --key (key-signed) or, keyless, both --certificate-identity[-regexp] \
                 and --certificate-oidc-issuer[-regexp]: a certificate proves nothing until its \
                 identity and issuer are pinned"
                    .into(),
            )),
        }
    }
}

/// The write token of a log started with `--write-tokens`, sent as `Authorization: Bearer` with
/// each new entry and never printed.
#[derive(Args)]
pub struct WriteToken {
    /// The log's write token (a log started with --write-tokens refuses entries without one).
    /// Prefer the variable or --write-token-file: a flag's value shows in the process list.
    #[arg(
        long = "write-token",
        env = "ARKIVO_WRITE_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// A file holding the write token (surrounding whitespace ignored); wins over
    /// --write-token and ARKIVO_WRITE_TOKEN.
    #[arg(long = "write-token-file")]
    token_file: Option<PathBuf>,
}

impl std::fmt::Debug for WriteToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteToken")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .finish()
    }
}

impl WriteToken {
    /// A client of the log at `rekor` that sends this token, if any, with new entries.
    pub(crate) fn client(&self, rekor: &RekorUrl) -> Result<RekorClient, Failure> {
        let client = RekorClient::new(&rekor.url)?;
        let token = match &self.token_file {
            Some(path) => Some(read_text(path, "the write token file")?.trim().to_owned()),
            None => self.token.clone(),
        };
        match token {
            Some(t) if t.is_empty() => Err(Failure::Input("the write token is empty".into())),
            Some(t) => client.with_write_token(&t).ok_or_else(|| {
                Failure::Input(
                    "the write token holds characters an HTTP header cannot carry".into(),
                )
            }),
            None => Ok(client),
        }
    }
}

/// The logs to verify a log's answers with: the flags', else the key the log itself serves for
/// the tree `tree_id` (decimal; the active tree when `None`) — the report says so: that checks
/// consistency, not authenticity. True when pinned.
pub(crate) async fn logs_or_served(
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
    pub(crate) fn load(&self) -> Result<Option<Vec<TrustedLog>>, Failure> {
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

impl LogTrust {
    /// The Rekor v2 logs and timestamp authorities of `--trusted-root`; `None` without one or
    /// when it lists none (a Rekor v2 entry is then refused, naming what it needs).
    pub(crate) fn rekor_v2(&self) -> Result<Option<RekorV2Trust>, Failure> {
        let Some(path) = &self.trusted_root else {
            return Ok(None);
        };
        let json = read_file(path, "the trusted root")?;
        Ok(trust::rekor_v2_trust(&json, &path.display().to_string()).ok())
    }
}

/// A command's result: lines for people and the JSON document.
pub struct Report {
    pub(crate) text: String,
    pub(crate) json: Value,
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
pub(crate) fn print_result(output: Output, result: &Result<Report, Failure>) {
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

pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
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

pub(crate) fn read_text(path: &Path, what: &str) -> Result<String, Failure> {
    String::from_utf8(read_file(path, what)?)
        .map_err(|_| Failure::Input(format!("{what} {} is not text", path.display())))
}

fn log_out_of_spec(m: impl std::fmt::Display) -> Failure {
    Failure::Log(format!("the log's answer is not usable: {m}"))
}

pub(crate) fn no_trust() -> Failure {
    Failure::Input(
        "verification needs the log's public key: --log-key FILE (the log serves it at \
         /api/v1/log/publicKey; get it out of band) or --trusted-root FILE (arkivo trust-root)"
            .into(),
    )
}

/// A SHA-256 digest given on the command line (`flag`): 64 hex characters, optionally
/// `sha256:`-prefixed; lower-cased, as the index stores digests (rekor-v1-api.md §10).
pub(crate) fn sha256_hex(arg: &str, flag: &str) -> Result<String, Failure> {
    let h = arg.strip_prefix("sha256:").unwrap_or(arg);
    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::Input(format!(
            "{flag} {h:?} is not 64 hex characters"
        )));
    }
    Ok(h.to_ascii_lowercase())
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
}
