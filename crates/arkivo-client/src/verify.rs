//! Offline verification of Rekor v1 log entries: bytes in, a result out; no I/O.
//!
//! [`verify_log_entry`] checks what binds an entry to a trusted log, in the order of
//! rekor-v1-api.md §4 and §8.2:
//!
//! 1. the log: the entry's `logID` is one of the trusted logs, and its integrated time lies in
//!    the key's validity (a trusted root's `validFor`);
//! 2. the SET: the log's ECDSA signature over `{body, integratedTime, logID, logIndex}` (§4,
//!    [`arkivo_core::signer::verify_set`]);
//! 3. the checkpoint: a v1 checkpoint with one signature by the log key, its origin
//!    `<name> - <treeID>` ([`arkivo_core::checkpoint::verify_v1`]); its size and root equal the
//!    proof's; with a trusted root, the signer name occurs in the log's `baseUrl` (§8.2);
//! 4. the inclusion proof: the leaf `SHA-256(0x00 ‖ body)` is at `inclusionProof.logIndex` in the
//!    tree of the checkpoint ([`arkivo_core::merkle::verify_inclusion`]); the entry ID ends in that
//!    leaf hash and, when it has one, starts with the checkpoint's tree ID.
//!
//! What the entry says is checked separately, against the artifact: [`verify_hashedrekord`],
//! [`verify_dsse`]. [`verify_answer`] puts both together for a log's answer to a new entry,
//! before anything (a bundle, a registry object) is made of it.
//! [`verify_consistency`] checks that a later checkpoint extends an earlier one.
//!
//! A Rekor v2 entry has no SET and no integrated time: [`verify_timestamps`] gives it the time
//! of an RFC 3161 timestamp over the signature, and [`verify_v2_entry`] checks its C2SP
//! checkpoint and inclusion proof at that time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::bundle::{Bundle, TransparencyLogEntry};
use super::rekor::{LogEntry, RekorBundle};
use super::trust::{RekorV2Trust, TrustedCheckpointKey, TrustedLog};
use arkivo_core::checkpoint::{self, Checkpoint, CheckpointError};
use arkivo_core::entries::pki::{HashAlg, PublicKey};
use arkivo_core::entries::{self, Kind, dsse, hashedrekord, intoto, v2};
use arkivo_core::merkle::{self, Hash, MerkleError};
use arkivo_core::note::Ed25519Verifier;
use arkivo_core::tsa::{self, TrustedTsa, VerifiedTimestamp};

/// Why an entry does not verify. Each message says which check failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "the entry was recorded in log {0}, which is not a trusted log (check --log-key or --trusted-root)"
    )]
    UnknownLog(String),
    #[error(
        "the entry was integrated at {time} (Unix seconds), outside the validity of log key {log_id}"
    )]
    OutsideValidity { time: i64, log_id: String },
    #[error("the signed entry timestamp (SET) does not verify with the log key {0}")]
    SignedEntryTimestamp(String),
    #[error("the entry carries no inclusion proof")]
    NoInclusionProof,
    #[error("the checkpoint does not verify: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "the checkpoint is signed by {name:?}, which does not occur in the log's URL {base_url}"
    )]
    CheckpointName { name: String, base_url: String },
    #[error("the inclusion proof does not match its checkpoint: {0}")]
    ProofCheckpointMismatch(String),
    #[error("the inclusion proof does not verify: {0}")]
    Inclusion(MerkleError),
    #[error("the consistency proof does not verify: {0}")]
    Consistency(MerkleError),
    #[error("the entry ID {uuid} does not match the entry: {why}")]
    EntryId { uuid: String, why: String },
    #[error("the log entry does not match the artifact: {0}")]
    Body(String),
    #[error("the signature does not verify with the given public key: {0}")]
    Signature(String),
    #[error("malformed entry: {0}")]
    Malformed(String),
    #[error(
        "no verified RFC 3161 timestamp: {0} (a Rekor v2 entry has no time of its own; its \
         bundle needs a timestamp over the signature from a timestamp authority of the trusted root)"
    )]
    Timestamp(String),
    #[error(
        "a Rekor v2 entry is verified with a --trusted-root that lists its log's checkpoint key \
         (PKIX_ED25519) and a timestamp authority"
    )]
    NoRekorV2Trust,
}

/// What a verified entry was verified against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// The log (its log ID), from the trusted logs.
    pub log_id: [u8; 32],
    /// The checkpoint the inclusion proof reaches (verified).
    pub checkpoint: Checkpoint,
    /// The checkpoint's signer name (the log's hostname).
    pub hostname: String,
    /// The leaf hash, `SHA-256(0x00 ‖ body)`: the entry UUID.
    pub leaf_hash: Hash,
}

fn malformed(m: impl Into<String>) -> VerifyError {
    VerifyError::Malformed(m.into())
}

fn find_log<'a>(
    log_id_hex: &str,
    integrated_time: i64,
    logs: &'a [TrustedLog],
) -> Result<&'a TrustedLog, VerifyError> {
    let log = logs
        .iter()
        .find(|l| l.log_id_hex() == log_id_hex.to_ascii_lowercase())
        .ok_or_else(|| VerifyError::UnknownLog(log_id_hex.to_owned()))?;
    let early = log.valid_from.is_some_and(|t| integrated_time < t);
    let late = log.valid_until.is_some_and(|t| integrated_time > t);
    if early || late {
        return Err(VerifyError::OutsideValidity {
            time: integrated_time,
            log_id: log.log_id_hex(),
        });
    }
    Ok(log)
}

/// SET check (§4), on the members as the entry carries them. The body is re-encoded from its
/// bytes and the log ID lower-cased first, as sigstore-js and sigstore-python do, so that an
/// entry rebuilt from a bundle verifies like the original.
fn check_set(
    log: &TrustedLog,
    body: &[u8],
    integrated_time: i64,
    log_index: u64,
    set_b64: &str,
) -> Result<(), VerifyError> {
    let set = B64
        .decode(set_b64)
        .map_err(|_| malformed("the SET is not base64"))?;
    let ok = arkivo_core::signer::verify_set(
        &log.key,
        &B64.encode(body),
        integrated_time,
        &log.log_id_hex(),
        log_index,
        &set,
    );
    if ok {
        Ok(())
    } else {
        Err(VerifyError::SignedEntryTimestamp(log.log_id_hex()))
    }
}

/// Why a log's answer to a new entry cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The entry in the answer is not the one sent.
    #[error("the log returned another entry: {0}")]
    NotSent(String),
    /// Its SET, checkpoint or inclusion proof does not verify with the trusted logs.
    #[error("the log's answer does not verify: {0}")]
    DoesNotVerify(#[from] VerifyError),
}

/// The log's answer to a new entry, checked before anything is written or pushed with it:
/// `is_sent` says (from the answer's body) that it records what was sent, and
/// [`verify_log_entry`] that it is in one of `logs`. A signer that only checked the body would
/// hand verifiers an entry whose SET or proof a log (or anyone on the path) made up.
///
/// # Errors
///
/// [`AnswerError`].
pub fn verify_answer(
    entry: &LogEntry,
    logs: &[TrustedLog],
    is_sent: impl FnOnce(&[u8]) -> Result<(), VerifyError>,
) -> Result<VerifiedEntry, AnswerError> {
    let body = entry.body().map_err(AnswerError::NotSent)?;
    is_sent(&body).map_err(|e| AnswerError::NotSent(e.to_string()))?;
    Ok(verify_log_entry(entry, logs)?)
}

/// Verifies that `entry` is in one of `logs`: log, SET, checkpoint, inclusion proof (module
/// doc). Does not look at what the body says.
///
/// # Errors
///
/// The first [`VerifyError`] met.
pub fn verify_log_entry(
    entry: &LogEntry,
    logs: &[TrustedLog],
) -> Result<VerifiedEntry, VerifyError> {
    let e = &entry.entry;
    let body = entry.body().map_err(malformed)?;
    let log = find_log(&e.log_id, e.integrated_time, logs)?;
    check_set(
        log,
        &body,
        e.integrated_time,
        e.log_index,
        &e.verification.signed_entry_timestamp,
    )?;

    let proof = &e.verification.inclusion_proof;
    let note = arkivo_core::note::parse(proof.checkpoint.as_bytes())
        .map_err(|err| VerifyError::Checkpoint(err.into()))?;
    let hostname = note
        .signatures
        .first()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let cp = checkpoint::verify_v1(&proof.checkpoint, &log.key, &hostname)?;
    if let Some(base_url) = &log.base_url
        && !base_url.contains(&hostname)
    {
        return Err(VerifyError::CheckpointName {
            name: hostname,
            base_url: base_url.clone(),
        });
    }
    let root = Hash::from_hex(&proof.root_hash)
        .ok_or_else(|| malformed("inclusionProof.rootHash is not 64 hex"))?;
    if cp.size != proof.tree_size || cp.root != root {
        return Err(VerifyError::ProofCheckpointMismatch(format!(
            "proof for tree size {} root {}, checkpoint size {} root {}",
            proof.tree_size,
            proof.root_hash,
            cp.size,
            cp.root.to_hex()
        )));
    }
    let hashes = parse_hashes(&proof.hashes, "inclusionProof.hashes")?;
    let leaf_hash = merkle::record_hash(&body);
    merkle::verify_inclusion(proof.log_index, cp.size, &leaf_hash, &hashes, &cp.root)
        .map_err(VerifyError::Inclusion)?;
    check_entry_id(&entry.uuid, &leaf_hash, &cp)?;
    Ok(VerifiedEntry {
        log_id: log.log_id,
        checkpoint: cp,
        hostname,
        leaf_hash,
    })
}

/// The entry ID is `[hex16(treeID)] ‖ hex(leaf hash)` (rekor-v1-api.md §2); the tree ID is
/// the one in the checkpoint's origin `<hostname> - <treeID>`.
fn check_entry_id(uuid: &str, leaf: &Hash, cp: &Checkpoint) -> Result<(), VerifyError> {
    let wrong = |why: String| VerifyError::EntryId {
        uuid: uuid.to_owned(),
        why,
    };
    let uuid_lc = uuid.to_ascii_lowercase();
    let (prefix, leaf_hex) = match uuid_lc.len() {
        80 => uuid_lc.split_at(16),
        64 => ("", uuid_lc.as_str()),
        n => return Err(wrong(format!("{n} characters, not 64 or 80"))),
    };
    if leaf_hex != leaf.to_hex() {
        return Err(wrong(format!("the body's leaf hash is {}", leaf.to_hex())));
    }
    if !prefix.is_empty() {
        let tree_id = cp
            .v1_tree_id()
            .and_then(|id| id.parse::<i64>().ok())
            .ok_or_else(|| wrong("the checkpoint origin has no tree ID".into()))?;
        if prefix != format!("{tree_id:016x}") {
            return Err(wrong(format!(
                "the checkpoint is of tree {tree_id} ({tree_id:016x})"
            )));
        }
    }
    Ok(())
}

fn parse_hashes(hex_hashes: &[String], what: &str) -> Result<Vec<Hash>, VerifyError> {
    hex_hashes
        .iter()
        .map(|h| Hash::from_hex(h).ok_or_else(|| malformed(format!("{what}: {h:?} is not 64 hex"))))
        .collect()
}

/// Verifies cosign's legacy Rekor bundle annotation: the SET alone (cosign-oci-storage.md §2;
/// cosign's `VerifySET`). It carries no inclusion proof.
///
/// # Errors
///
/// [`VerifyError::UnknownLog`], [`VerifyError::OutsideValidity`],
/// [`VerifyError::SignedEntryTimestamp`], [`VerifyError::Malformed`].
pub fn verify_rekor_bundle(bundle: &RekorBundle, logs: &[TrustedLog]) -> Result<(), VerifyError> {
    let p = &bundle.payload;
    let body = B64
        .decode(&p.body)
        .map_err(|_| malformed("the bundle's body is not base64"))?;
    let log = find_log(&p.log_id, p.integrated_time, logs)?;
    check_set(
        log,
        &body,
        p.integrated_time,
        p.log_index,
        &bundle.signed_entry_timestamp,
    )
}

/// Checks a `hashedrekord` body against the artifact: it records `digest` (of algorithm
/// `algorithm`), `signature` and the public key `key`, and the signature verifies over the
/// digest (rekor-v1-api.md §5.2–5.3). This is what makes the log entry about *this* artifact.
///
/// # Errors
///
/// [`VerifyError::Body`] naming the field that differs, [`VerifyError::Signature`].
pub fn verify_hashedrekord(
    body: &[u8],
    algorithm: HashAlg,
    digest: &[u8],
    signature: &[u8],
    key: &PublicKey,
) -> Result<(), VerifyError> {
    let b = hashedrekord::parse_body(body).map_err(|e| VerifyError::Body(e.to_string()))?;
    check_signed(
        &Signed::new(b.algorithm, &b.digest(), &b.signature, b.verifier.key()),
        &Signed::new(algorithm, digest, signature, key),
    )
}

/// [`verify_hashedrekord`] for a Rekor v2 `hashedrekord` v0.0.2 body
/// (tiles-checkpoints-witnesses.md §6.3).
///
/// # Errors
///
/// As [`verify_hashedrekord`].
pub fn verify_hashedrekord_v2(
    body: &[u8],
    algorithm: HashAlg,
    digest: &[u8],
    signature: &[u8],
    key: &PublicKey,
) -> Result<(), VerifyError> {
    let b = v2::parse_hashedrekord_body(body).map_err(|e| VerifyError::Body(e.to_string()))?;
    check_signed(
        &Signed::new(b.algorithm, &b.digest, &b.signature, b.verifier.key()),
        &Signed::new(algorithm, digest, signature, key),
    )
}

/// A signature over a digest with a key: as an entry records it, or as the artifact, bundle
/// and verifier have it.
struct Signed<'a> {
    algorithm: HashAlg,
    digest: &'a [u8],
    signature: &'a [u8],
    key: &'a PublicKey,
}

impl<'a> Signed<'a> {
    fn new(algorithm: HashAlg, digest: &'a [u8], signature: &'a [u8], key: &'a PublicKey) -> Self {
        Self {
            algorithm,
            digest,
            signature,
            key,
        }
    }
}

/// The entry records what the verifier has, and the signature verifies.
fn check_signed(recorded: &Signed, given: &Signed) -> Result<(), VerifyError> {
    if recorded.algorithm != given.algorithm || recorded.digest != given.digest {
        return Err(VerifyError::Body(format!(
            "the entry records {}:{}, the artifact is {}:{} (was the file modified?)",
            recorded.algorithm.name(),
            hex::encode(recorded.digest),
            given.algorithm.name(),
            hex::encode(given.digest)
        )));
    }
    if recorded.signature != given.signature {
        return Err(VerifyError::Body(
            "the entry records another signature than the bundle's".into(),
        ));
    }
    if recorded.key.spki_der() != given.key.spki_der() {
        return Err(VerifyError::Body(
            "the entry was signed with another key than the given public key".into(),
        ));
    }
    given
        .key
        .verify_digest(given.algorithm, given.digest, given.signature)
        .map_err(VerifyError::Signature)
}

/// The time of a Rekor v2 bundle: the first of its RFC 3161 timestamps that verifies
/// over the SHA-256 of `signature` with one of `tsas` (RFC 3161 §2.4.2; the chain, the TSA
/// certificate's validity at genTime and the trusted root's validFor are checked by
/// [`arkivo_core::tsa::verify_signed_timestamp`]). A v2 entry has no SET and no integrated
/// time: without a verified timestamp nothing says when the signature existed.
///
/// # Errors
///
/// [`VerifyError::Timestamp`] when none verifies, with each one's reason.
pub fn verify_timestamps<'a>(
    tokens: impl Iterator<Item = &'a [u8]>,
    signature: &[u8],
    tsas: &[TrustedTsa],
) -> Result<VerifiedTimestamp, VerifyError> {
    let digest = HashAlg::Sha256.digest(signature);
    let mut reasons = Vec::new();
    for token in tokens {
        match tsa::verify_signed_timestamp(token, HashAlg::Sha256, &digest, tsas) {
            Ok(verified) => return Ok(verified),
            Err(e) => reasons.push(e.0),
        }
    }
    Err(VerifyError::Timestamp(if reasons.is_empty() {
        "the bundle carries no RFC 3161 timestamp \
         (verificationMaterial.timestampVerificationData.rfc3161Timestamps)"
            .into()
    } else {
        reasons.join("; ")
    }))
}

/// What a verified Rekor v2 entry was verified against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedV2Entry {
    /// The log: its checkpoint key's C2SP key hash.
    pub key_id: [u8; 32],
    /// The checkpoint the inclusion proof reaches (verified).
    pub checkpoint: Checkpoint,
}

/// Verifies that a Rekor v2 entry is in one of `logs` at `time` (Unix seconds, a verified
/// timestamp's genTime), tiles-checkpoints-witnesses.md §6.5 and §7.2:
///
/// 1. the log: `logId.keyId` is the key hash of one of the trusted checkpoint keys, under the
///    checkpoint's origin (the C2SP key hash binds the name to the key), and `time` lies in the
///    key's validity;
/// 2. the checkpoint: a C2SP signed note with a signature by that key
///    ([`arkivo_core::checkpoint::verify_c2sp`]); its size and root are the proof's;
/// 3. the inclusion proof: the leaf `SHA-256(0x00 ‖ body)` is at `logIndex`.
///
/// # Errors
///
/// The first [`VerifyError`] met.
pub fn verify_v2_entry(
    entry: &TransparencyLogEntry,
    logs: &[TrustedCheckpointKey],
    time: i64,
) -> Result<VerifiedV2Entry, VerifyError> {
    let log_id = hex::encode(&entry.log_id.key_id);
    let log = logs
        .iter()
        .find(|l| l.key_id[..] == entry.log_id.key_id[..])
        .ok_or_else(|| VerifyError::UnknownLog(log_id.clone()))?;
    if log.valid_from.is_some_and(|t| time < t) || log.valid_until.is_some_and(|t| time > t) {
        return Err(VerifyError::OutsideValidity { time, log_id });
    }
    let proof = entry
        .inclusion_proof
        .as_ref()
        .ok_or(VerifyError::NoInclusionProof)?;
    let envelope = &proof.checkpoint.envelope;
    let origin = envelope.split('\n').next().unwrap_or_default();
    let verifier = Ed25519Verifier::new(origin, log.key);
    if verifier.key_hash() != log.key_id {
        return Err(VerifyError::ProofCheckpointMismatch(format!(
            "the checkpoint's origin {origin:?} is not the name of log {log_id}"
        )));
    }
    let cp = checkpoint::verify_c2sp(envelope, &verifier, &[])?;
    let root = <[u8; 32]>::try_from(proof.root_hash.as_slice())
        .map(Hash)
        .map_err(|_| malformed("inclusionProof.rootHash is not 32 bytes"))?;
    if cp.size != proof.tree_size || cp.root != root {
        return Err(VerifyError::ProofCheckpointMismatch(format!(
            "proof for tree size {} root {}, checkpoint size {} root {}",
            proof.tree_size,
            root.to_hex(),
            cp.size,
            cp.root.to_hex()
        )));
    }
    let hashes = proof
        .hashes
        .iter()
        .map(|h| {
            <[u8; 32]>::try_from(h.as_slice())
                .map(Hash)
                .map_err(|_| malformed("inclusionProof.hashes: a hash is not 32 bytes"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaf_hash = merkle::record_hash(&entry.canonicalized_body);
    merkle::verify_inclusion(proof.log_index, cp.size, &leaf_hash, &hashes, &cp.root)
        .map_err(VerifyError::Inclusion)?;
    Ok(VerifiedV2Entry {
        key_id: log.key_id,
        checkpoint: cp,
    })
}

/// Checks a log entry body against one signature of a DSSE envelope (what a bundle or an
/// attestation carries) by the public key `key`, in whichever kind records DSSE:
///
/// - `dsse` v0.0.1 (rekor-v1-api.md §6.3) and `intoto` v0.0.1/v0.0.2 (§6a.2, §6a.3): the body
///   records the payload's SHA-256 and the key, with this signature (`dsse`, `intoto` v0.0.2;
///   v0.0.1 records only the key) and the payload type (`intoto` v0.0.2). The envelope hash is
///   not compared: envelopes are re-serialised between signer and verifier (the checks
///   sigstore-js makes);
/// - `hashedrekord` v0.0.2 (Rekor v2; sigstore-services.md §6: how cosign ≥ 3.1, sigstore-go
///   and sigstore-python record DSSE): the digest is SHA-256 of the pre-authentication
///   encoding, with this signature and key;
///
/// and the signature verifies over the PAE (DSSE v1 protocol).
///
/// # Errors
///
/// [`VerifyError::Body`] naming what differs, [`VerifyError::Signature`].
pub fn verify_dsse(
    body: &[u8],
    payload_type: &str,
    payload: &[u8],
    signature: &[u8],
    key: &PublicKey,
) -> Result<(), VerifyError> {
    use sha2::{Digest as _, Sha256};
    let body_error = |e: arkivo_core::entries::EntryError| VerifyError::Body(e.to_string());
    let pae = dsse::pae(payload_type, payload);
    let pae_hash: [u8; 32] = Sha256::digest(&pae).into();
    let (payload_hash, recorded) = match entries::kind_of_body(body).map_err(body_error)? {
        (Kind::HashedRekord, v2::API_VERSION) => {
            return verify_hashedrekord_v2(body, HashAlg::Sha256, &pae_hash, signature, key);
        }
        (Kind::Dsse, "0.0.1") => {
            let b = dsse::parse_body(body).map_err(body_error)?;
            let recorded = b.signatures.into_iter().map(|(s, v)| (Some(s), v));
            (b.payload_hash, recorded.collect())
        }
        (Kind::Intoto, _) => {
            let b = intoto::parse_body(body).map_err(body_error)?;
            if let Some(t) = b.payload_type.as_deref().filter(|t| *t != payload_type) {
                return Err(VerifyError::Body(format!(
                    "the entry records payload type {t:?}, the envelope {payload_type:?}"
                )));
            }
            (b.payload_hash, b.signatures)
        }
        (kind, version) => {
            return Err(VerifyError::Body(format!(
                "a {} v{version} entry does not record a DSSE envelope",
                kind.as_str()
            )));
        }
    };
    if payload_hash != hex::encode(Sha256::digest(payload)) {
        return Err(VerifyError::Body(
            "the entry records another payload (payload hash mismatch)".into(),
        ));
    }
    let sig_b64 = B64.encode(signature);
    let (_, verifier) = recorded
        .iter()
        .find(|(s, _)| s.as_ref().is_none_or(|s| *s == sig_b64))
        .ok_or_else(|| VerifyError::Body("the entry records another signature".into()))?;
    if verifier.key().spki_der() != key.spki_der() {
        return Err(VerifyError::Body(
            "the entry was signed with another key than the given public key".into(),
        ));
    }
    key.verify_dsse(&pae, HashAlg::Sha256, &pae_hash, signature)
        .map_err(VerifyError::Signature)
}

/// What a bundle's transparency log entry was verified against, and so when the signature
/// existed.
#[derive(Clone, Debug)]
pub enum VerifiedTlog {
    /// Rekor v1: SET, checkpoint and inclusion proof; the entry rebuilt from the bundle.
    V1 {
        entry: Box<LogEntry>,
        verified: VerifiedEntry,
    },
    /// Rekor v2: an RFC 3161 timestamp over the signature, the checkpoint and inclusion proof
    /// at its time (`time`, its genTime).
    V2 {
        verified: VerifiedV2Entry,
        timestamp: VerifiedTimestamp,
        time: i64,
    },
}

impl VerifiedTlog {
    /// When the signature existed (Unix seconds): the SET-signed integrated time (v1), the
    /// timestamp's genTime (v2). A certificate must have been valid then.
    pub fn time(&self) -> i64 {
        match self {
            VerifiedTlog::V1 { entry, .. } => entry.entry.integrated_time,
            VerifiedTlog::V2 { time, .. } => *time,
        }
    }
}

/// Verifies the one transparency log entry of `bundle`, whose signature is `signature`: a
/// Rekor v1 entry with `logs` ([`verify_log_entry`]), a Rekor v2 entry with `v2` (the first
/// RFC 3161 timestamp that verifies over the signature, [`verify_timestamps`], then
/// [`verify_v2_entry`] at its time). Does not look at what the body says.
///
/// # Errors
///
/// The first [`VerifyError`] met; [`VerifyError::NoRekorV2Trust`] for a v2 entry without `v2`.
pub fn verify_bundle_tlog(
    bundle: &Bundle,
    signature: &[u8],
    logs: &[TrustedLog],
    v2: Option<&RekorV2Trust>,
) -> Result<VerifiedTlog, VerifyError> {
    let tlog = bundle.tlog_entry().map_err(|e| malformed(e.to_string()))?;
    if !tlog.is_rekor_v2() {
        let entry = tlog.to_log_entry().map_err(|e| malformed(e.to_string()))?;
        let verified = verify_log_entry(&entry, logs)?;
        return Ok(VerifiedTlog::V1 {
            entry: Box::new(entry),
            verified,
        });
    }
    let trust = v2.ok_or(VerifyError::NoRekorV2Trust)?;
    let timestamp = verify_timestamps(bundle.rfc3161_timestamps(), signature, &trust.tsas)?;
    let time = i64::try_from(timestamp.gen_time)
        .map_err(|_| malformed("the timestamp's genTime is out of range"))?;
    let verified = verify_v2_entry(tlog, &trust.logs, time)?;
    Ok(VerifiedTlog::V2 {
        verified,
        timestamp,
        time,
    })
}

/// Verifies that checkpoint `new` extends checkpoint `old` (same origin; RFC 6962 consistency
/// proof `proof`, hex hashes as `GET /api/v1/log/proof` returns them). Both checkpoints must
/// already be verified.
///
/// # Errors
///
/// [`VerifyError::Consistency`], or [`VerifyError::Malformed`] for other origins or bad hex.
pub fn verify_consistency(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[String],
) -> Result<(), VerifyError> {
    if old.origin != new.origin {
        return Err(malformed(format!(
            "the checkpoints are of different logs ({:?} and {:?})",
            old.origin, new.origin
        )));
    }
    let hashes = parse_hashes(proof, "consistency proof")?;
    merkle::verify_consistency(old.size, new.size, &hashes, &old.root, &new.root)
        .map_err(VerifyError::Consistency)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arkivo_core::signer::LogKeys;
    use arkivo_core::wire::{InclusionProof, LogEntryBody, Verification};

    /// A one-entry log at `keys`, host `log.test`, tree ID 5.
    fn logged(keys: &LogKeys, body: &[u8]) -> LogEntry {
        let leaf = merkle::record_hash(body);
        let cp = Checkpoint {
            origin: "log.test - 5".into(),
            size: 1,
            root: leaf,
        };
        let body_b64 = B64.encode(body);
        let set = keys.sign_set(&body_b64, 1000, &keys.log_id_hex(), 0);
        LogEntry {
            uuid: format!("{:016x}{}", 5, leaf.to_hex()),
            entry: LogEntryBody {
                body: body_b64,
                integrated_time: 1000,
                log_id: keys.log_id_hex(),
                log_index: 0,
                verification: Verification {
                    inclusion_proof: InclusionProof {
                        checkpoint: checkpoint::sign_v1(&cp, "log.test", keys),
                        hashes: vec![],
                        log_index: 0,
                        root_hash: leaf.to_hex(),
                        tree_size: 1,
                    },
                    signed_entry_timestamp: B64.encode(set),
                },
            },
        }
    }

    fn trusted(keys: &LogKeys) -> TrustedLog {
        TrustedLog::from_public_key_pem(&keys.ecdsa_public_pem(), "log key").unwrap()
    }

    #[test]
    fn entry_set_checkpoint_and_proof() {
        let keys = LogKeys::generate();
        let entry = logged(&keys, b"{}");
        let logs = [trusted(&keys)];
        let v = verify_log_entry(&entry, &logs).unwrap();
        assert_eq!((v.hostname.as_str(), v.checkpoint.size), ("log.test", 1));
        verify_rekor_bundle(&entry.rekor_bundle(), &logs).unwrap();

        let other = [trusted(&LogKeys::generate())];
        assert!(matches!(
            verify_log_entry(&entry, &other),
            Err(VerifyError::UnknownLog(_))
        ));
        assert!(matches!(
            verify_rekor_bundle(&entry.rekor_bundle(), &other),
            Err(VerifyError::UnknownLog(_))
        ));
        let mut late = entry.clone();
        late.entry.integrated_time += 1;
        assert!(matches!(
            verify_log_entry(&late, &logs),
            Err(VerifyError::SignedEntryTimestamp(_))
        ));
        let mut bundle = entry.rekor_bundle();
        bundle.payload.log_index = 1;
        assert!(verify_rekor_bundle(&bundle, &logs).is_err());
        let mut wrong_tree = entry.clone();
        wrong_tree.uuid.replace_range(..16, &format!("{:016x}", 6));
        assert!(matches!(
            verify_log_entry(&wrong_tree, &logs),
            Err(VerifyError::EntryId { .. })
        ));
        let mut windowed = trusted(&keys);
        windowed.valid_from = Some(1001);
        assert!(matches!(
            verify_log_entry(&entry, &[windowed.clone()]),
            Err(VerifyError::OutsideValidity { .. })
        ));
        windowed.valid_from = Some(1000);
        windowed.base_url = Some("https://log.example".into());
        assert!(matches!(
            verify_log_entry(&entry, &[windowed]),
            Err(VerifyError::CheckpointName { .. })
        ));
    }

    #[test]
    fn bodies_against_artifacts() {
        use crate::keys::{KeyAlgorithm, SigningKey};
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let key = SigningKey::generate(alg);
            let other = SigningKey::generate(alg);
            let public = crate::keys::parse_public_key(&key.public_key_pem(), "k").unwrap();
            let other_public = crate::keys::parse_public_key(&other.public_key_pem(), "k").unwrap();
            let b64 = |b: &[u8]| B64.encode(b);

            // hashedrekord, through the log's own validation.
            let h = alg.hash_algorithm();
            let digest = key.digest(b"artifact");
            let sig = key.sign(b"artifact");
            let proposed = serde_json::json!({"apiVersion": "0.0.1", "kind": "hashedrekord",
                "spec": {"data": {"hash": {"algorithm": h.name(), "value": hex::encode(&digest)}},
                         "signature": {"content": b64(&sig),
                                       "publicKey": {"content": b64(key.public_key_pem().as_bytes())}}}});
            let body = arkivo_core::entries::canonicalize(&proposed).unwrap().body;
            verify_hashedrekord(&body, h, &digest, &sig, &public).unwrap();
            let wrong = key.digest(b"other");
            assert!(matches!(
                verify_hashedrekord(&body, h, &wrong, &sig, &public),
                Err(VerifyError::Body(_))
            ));
            assert!(matches!(
                verify_hashedrekord(&body, h, &digest, &sig, &other_public),
                Err(VerifyError::Body(_))
            ));
            assert!(verify_hashedrekord(&body, h, &digest, &key.sign(b"x"), &public).is_err());

            // dsse.
            let payload = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
            let pae = dsse::pae("application/vnd.in-toto+json", payload);
            let dsig = key.sign_dsse(&pae);
            let envelope = serde_json::json!({"payloadType": "application/vnd.in-toto+json",
                "payload": b64(payload), "signatures": [{"keyid": "", "sig": b64(&dsig)}]});
            let proposed = serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse",
                "spec": {"proposedContent": {"envelope": envelope.to_string(),
                         "verifiers": [b64(key.public_key_pem().as_bytes())]}}});
            let body = arkivo_core::entries::canonicalize(&proposed).unwrap().body;
            let t = "application/vnd.in-toto+json";
            verify_dsse(&body, t, payload, &dsig, &public).unwrap();
            assert!(matches!(
                verify_dsse(&body, t, b"{}", &dsig, &public),
                Err(VerifyError::Body(_))
            ));
            assert!(matches!(
                verify_dsse(&body, t, payload, &dsig, &other_public),
                Err(VerifyError::Body(_))
            ));
            assert!(matches!(
                verify_dsse(&body, "text/plain", payload, &dsig, &public),
                Err(VerifyError::Signature(_))
            ));
        }
    }
}
