//! Who signs and which log records it ([`Signing`]), for the commands that sign images and
//! in-toto statements (`sign`, `attest`, `attest-blob`), and [`attest`]: an in-toto statement
//! signed in a DSSE envelope and recorded, which [`Attestation::bundle`] makes a Sigstore
//! bundle of.
//!
//! Nothing is made of a log's answer before it is checked: Rekor v1's with
//! [`verify::verify_answer`] (the entry records the envelope sent; its SET, checkpoint and
//! inclusion proof verify with the trusted logs), Rekor v2's in [`rekor_v2::record`].

use super::bundle::{Bundle, BundleError, DsseEnvelope, Material};
use super::cosign::Statement;
use super::dsse;
use super::fulcio::Credential;
use super::keys::{self, KeyAlgorithm};
use super::rekor::{ClientError, LogEntry, RekorClient};
use super::rekor_v2::{self, RecordError, Recorded};
use super::trust::{RekorV2Trust, TrustedLog};
use super::verify::{self, AnswerError};
use arkivo_core::entries::dsse::{IN_TOTO_PAYLOAD_TYPE, pae};
use arkivo_core::entries::pki::{HashAlg, PublicKey};

/// Why nothing was signed and recorded.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("recording in the log: {0}")]
    Log(#[from] ClientError),
    #[error(transparent)]
    Answer(#[from] AnswerError),
    #[error(transparent)]
    RekorV2(#[from] RecordError),
    #[error("building the bundle: {0}")]
    Bundle(#[from] BundleError),
    #[error("{0}")]
    Unsupported(String),
}

/// Who signs (a key, or an ephemeral key and its certificate), and the log that records it.
pub struct Signing<'a> {
    pub credential: &'a Credential,
    pub rekor: &'a RekorClient,
    pub log: SigningLog<'a>,
}

/// Which API of the log records the signature, and what its answers must verify with.
#[derive(Clone, Copy)]
pub enum SigningLog<'a> {
    /// Rekor v1: a `hashedrekord` or `dsse` entry, whose SET, checkpoint and proof must verify
    /// with these logs.
    V1(&'a [TrustedLog]),
    /// Rekor v2: the signature timestamped by the TSA at `timestamp_url`, then recorded
    /// ([`rekor_v2::record`]); both answers verified with `trust`.
    V2 {
        trust: &'a RekorV2Trust,
        timestamp_url: &'a str,
    },
}

/// The log entry of a signature or attestation.
#[derive(Clone, Debug)]
pub enum SignedEntry {
    /// A Rekor v1 entry (its SET gives it its time).
    V1(LogEntry),
    /// A Rekor v2 entry with the RFC 3161 timestamp that gives it its time.
    V2(Box<Recorded>),
}

impl Signing<'_> {
    /// The signer's public key, to check that the log recorded its signature.
    pub(crate) fn public_key(&self) -> Result<PublicKey, AnswerError> {
        keys::parse_public_key(&self.credential.key.public_key_pem(), "the signing key")
            .map_err(|e| AnswerError::NotSent(e.to_string()))
    }
}

/// An in-toto statement signed in a DSSE envelope and recorded in the log.
#[derive(Clone, Debug)]
pub struct Attestation {
    pub envelope: DsseEnvelope,
    pub entry: SignedEntry,
}

impl Attestation {
    /// Its Sigstore bundle v0.3: the envelope, `signer`'s material, the entry and (Rekor v2)
    /// the timestamp.
    ///
    /// # Errors
    ///
    /// [`BundleError`] for a v1 answer that does not decode.
    pub fn bundle(&self, signer: Material) -> Result<Bundle, BundleError> {
        match &self.entry {
            SignedEntry::V1(entry) => {
                Bundle::for_dsse_envelope(self.envelope.clone(), signer, entry)
            }
            SignedEntry::V2(r) => Ok(Bundle::for_dsse_envelope_v2(
                self.envelope.clone(),
                signer,
                r.entry.clone(),
                r.timestamp_response.clone(),
            )),
        }
    }
}

/// Signs `statement` as `signing.credential` in a DSSE envelope and records it: in Rekor v1 as
/// a `dsse` entry; in Rekor v2 as cosign ≥ 3.1 does, a `hashedrekord` over the SHA-256 of the
/// envelope's PAE with its signature, timestamped ([`rekor_v2::record`]).
///
/// # Errors
///
/// [`SignError`]: the log refuses the entry or answers with one that does not verify; for
/// Rekor v2, an Ed25519 key (its DSSE signature is over the PAE itself, not a digest).
pub async fn attest(
    signing: &Signing<'_>,
    statement: &Statement,
) -> Result<Attestation, SignError> {
    let credential = signing.credential;
    let payload = serde_json::to_vec(statement).expect("a statement serializes");
    let envelope = dsse::sign(&credential.key, IN_TOTO_PAYLOAD_TYPE, payload);
    let entry = match signing.log {
        SigningLog::V1(logs) => {
            let entry = signing
                .rekor
                .create_dsse(&dsse::to_json(&envelope), &credential.verifier_pem())
                .await?;
            let signer = signing.public_key()?;
            verify::verify_answer(&entry, logs, |body| {
                dsse::verify_envelope(body, &envelope, &signer)
            })?;
            SignedEntry::V1(entry)
        }
        SigningLog::V2 {
            trust,
            timestamp_url,
        } => {
            if credential.key.algorithm() != KeyAlgorithm::EcdsaP256 {
                return Err(SignError::Unsupported(format!(
                    "a {} key signs DSSE envelopes over the PAE itself; Rekor v2 records them \
                     as a hashedrekord over its SHA-256, which needs an ECDSA P-256 key",
                    credential.key.algorithm().name()
                )));
            }
            let digest = HashAlg::Sha256.digest(&pae(&envelope.payload_type, &envelope.payload));
            let recorded = rekor_v2::record(
                signing.rekor,
                timestamp_url,
                trust,
                &digest,
                &envelope.signatures[0].sig,
                credential.verifier_v2(),
            )
            .await?;
            SignedEntry::V2(Box::new(recorded))
        }
    };
    Ok(Attestation { envelope, entry })
}
