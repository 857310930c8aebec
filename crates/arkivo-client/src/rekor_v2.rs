//! Recording a signature in a Rekor v2 log (tiles-checkpoints-witnesses.md §6), for
//! `sign-blob`, `sign` and `attest` with `--rekor-api-version 2`: a v2 entry has no time of its
//! own (no SET, no integrated time), so the signature is first timestamped by an RFC 3161
//! timestamp authority, then recorded as a `hashedrekord` v0.0.2 entry. Both answers are
//! verified before anything (a bundle, a registry object) is made of them: the timestamp over
//! the signature with the trusted TSAs, the entry as the one sent, in a trusted v2 log
//! (checkpoint and inclusion proof) at the timestamp's time.
//!
//! A DSSE envelope is recorded the same way, as cosign ≥ 3.1, sigstore-go ≥ 1.2 and
//! sigstore-python ≥ 4.3 do (sigstore-services.md §6): a `hashedrekord` whose digest is the
//! SHA-256 of the envelope's pre-authentication encoding, with the envelope's signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand_core::RngCore as _;
use serde_json::json;

use super::bundle::TransparencyLogEntry;
use super::rekor::{ClientError, RekorClient};
use super::trust::RekorV2Trust;
use super::verify::{self, VerifiedV2Entry};
use arkivo_core::entries::pki::HashAlg;
use arkivo_core::entries::v2;
use arkivo_core::tsa::{self, VerifiedTimestamp};

/// Why a signature was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The timestamp authority could not be reached, or refused the request.
    #[error("the timestamp authority: {0}")]
    Timestamp(ClientError),
    /// The log could not be reached, or refused the entry.
    #[error("{0}")]
    Entry(ClientError),
    /// The entry could not be made of what was signed.
    #[error("the entry to record: {0}")]
    Request(String),
    /// An answer (the TSA's or the log's) does not verify.
    #[error("{0}")]
    Answer(String),
}

/// A signature recorded in a Rekor v2 log.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The log's answer, as a bundle carries it.
    pub entry: TransparencyLogEntry,
    /// What the entry verified against.
    pub verified: VerifiedV2Entry,
    /// The TSA's DER `TimeStampResp` (RFC 3161 §2.4.2), as the bundle carries it.
    pub timestamp_response: Vec<u8>,
    /// The verified timestamp.
    pub timestamp: VerifiedTimestamp,
}

/// Timestamps `signature` at the TSA `tsa_url`, then records `signature` over `digest` (of the
/// algorithm the verifier's key details name: tiles-checkpoints-witnesses.md §6.2) by `verifier` (a Rekor v2 `Verifier`: [`crate::fulcio::Credential::verifier_v2`])
/// in the log of `client`; both answers verified with `trust`.
///
/// # Errors
///
/// [`RecordError`].
pub async fn record(
    client: &RekorClient,
    tsa_url: &str,
    trust: &RekorV2Trust,
    digest: &[u8],
    signature: &[u8],
    verifier: serde_json::Value,
) -> Result<Recorded, RecordError> {
    // The message imprint is the SHA-256 of the signature bytes: what Sigstore verifiers hash
    // (sigstore-services.md §3).
    let imprint = HashAlg::Sha256.digest(signature);
    let mut nonce = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut nonce);
    let request = tsa::request(HashAlg::Sha256, &imprint, &nonce).expect("a SHA-256 imprint");
    let timestamp_response = client
        .timestamp(tsa_url, request)
        .await
        .map_err(RecordError::Timestamp)?;
    let timestamp = tsa::verify_response(
        &timestamp_response,
        HashAlg::Sha256,
        &imprint,
        Some(&tsa::request_nonce(&nonce)),
        &trust.tsas,
    )
    .map_err(|e| {
        RecordError::Answer(format!("the timestamp authority's answer ({tsa_url}): {e}"))
    })?;
    let gen_time = i64::try_from(timestamp.gen_time)
        .map_err(|_| RecordError::Answer("the timestamp's genTime is out of range".into()))?;

    let request = json!({"hashedRekordRequestV002": {
        "digest": B64.encode(digest),
        "signature": {"content": B64.encode(signature), "verifier": verifier},
    }});
    let sent = v2::canonicalize_request(request.to_string().as_bytes())
        .map_err(|e| RecordError::Request(e.to_string()))?;
    let entry = client
        .create_entry_v2(&request)
        .await
        .map_err(RecordError::Entry)?;
    // The entry must be the one sent, and its checkpoint and proof must hold at the
    // timestamp's time.
    if entry.canonicalized_body != sent.body {
        return Err(RecordError::Answer(
            "the log returned another entry than the one sent".into(),
        ));
    }
    let verified = verify::verify_v2_entry(&entry, &trust.logs, gen_time)
        .map_err(|e| RecordError::Answer(format!("the log's answer does not verify: {e}")))?;
    Ok(Recorded {
        entry,
        verified,
        timestamp_response,
        timestamp,
    })
}
