//! DSSE envelopes on the client side: signing one, verifying its signature, and checking that a
//! `dsse` log entry records it (rekor-v1-api.md §6). Attestations and cosign v3 image signatures
//! are DSSE envelopes (cosign-oci-storage.md §3, §4).
//!
//! The envelope type is the bundle's [`DsseEnvelope`]: its JSON form (`payload` and `sig` in
//! standard base64, `payloadType`, `signatures[].keyid`) is the DSSE envelope JSON itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::bundle::{DsseEnvelope, DsseSignature};
use super::keys::SigningKey;
use super::verify::VerifyError;
use crate::entries::dsse::pae;
use crate::entries::pki::{PublicKey, Verifier};

/// Signs `payload` as a one-signature envelope of `payload_type` (DSSE v1: the signature covers
/// the pre-authentication encoding). `keyid` is left empty, as cosign does for key files.
pub fn sign(key: &SigningKey, payload_type: &str, payload: Vec<u8>) -> DsseEnvelope {
    let sig = key.sign_dsse(&pae(payload_type, &payload));
    DsseEnvelope {
        payload,
        payload_type: payload_type.to_owned(),
        signatures: vec![DsseSignature {
            sig,
            keyid: String::new(),
        }],
    }
}

/// The envelope's JSON: what is logged (its exact bytes are the entry's `envelopeHash`) and
/// stored as a legacy attestation layer.
pub fn to_json(envelope: &DsseEnvelope) -> String {
    serde_json::to_string(envelope).expect("an envelope serializes")
}

/// Parses envelope JSON (a legacy attestation layer).
///
/// # Errors
///
/// [`VerifyError::Malformed`].
pub fn from_json(json: &[u8]) -> Result<DsseEnvelope, VerifyError> {
    serde_json::from_slice(json)
        .map_err(|e| VerifyError::Malformed(format!("not a DSSE envelope: {e}")))
}

/// Checks that `key` made one of the envelope's signatures over its PAE.
///
/// # Errors
///
/// [`VerifyError::Signature`] when none verifies.
pub fn verify_signature(envelope: &DsseEnvelope, key: &PublicKey) -> Result<(), VerifyError> {
    let pae = pae(&envelope.payload_type, &envelope.payload);
    let pae_sha256: [u8; 32] = Sha256::digest(&pae).into();
    let mut last = "the envelope has no signature".to_owned();
    for s in &envelope.signatures {
        match key.verify_dsse(&pae, &pae_sha256, &s.sig) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(VerifyError::Signature(last))
}

/// The members of a canonical `dsse` body that tie it to an envelope (§6.3).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseBody {
    kind: String,
    spec: DsseSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpec {
    envelope_hash: HashValue,
    payload_hash: HashValue,
    signatures: Vec<BodySignature>,
}

#[derive(Deserialize)]
struct HashValue {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct BodySignature {
    signature: String,
    verifier: String,
}

impl HashValue {
    fn is_sha256_of(&self, bytes: &[u8]) -> bool {
        self.algorithm == "sha256"
            && self
                .value
                .eq_ignore_ascii_case(&hex::encode(Sha256::digest(bytes)))
    }
}

/// Checks that the `dsse` entry `body` records `envelope` signed by `key`: the payload hash, a
/// signature equal to one of the envelope's with `key` as its verifier, and, when the exact
/// envelope bytes are known (a legacy attestation layer), the envelope hash. A bundle carries
/// the envelope re-serialised, so there the envelope hash cannot be compared (sigstore-go does
/// not either).
///
/// # Errors
///
/// [`VerifyError::Body`] naming what differs, [`VerifyError::Malformed`].
pub fn verify_body(
    body: &[u8],
    envelope: &DsseEnvelope,
    envelope_json: Option<&[u8]>,
    key: &PublicKey,
) -> Result<(), VerifyError> {
    let b: DsseBody = serde_json::from_slice(body)
        .map_err(|e| VerifyError::Malformed(format!("the dsse entry body: {e}")))?;
    if b.kind != "dsse" {
        return Err(VerifyError::Body(format!(
            "the log entry is a {} entry, not dsse",
            b.kind
        )));
    }
    if !b.spec.payload_hash.is_sha256_of(&envelope.payload) {
        return Err(VerifyError::Body(
            "the log entry records another payload (was the attestation modified?)".into(),
        ));
    }
    if let Some(json) = envelope_json
        && !b.spec.envelope_hash.is_sha256_of(json)
    {
        return Err(VerifyError::Body(
            "the log entry records another envelope (was the attestation modified?)".into(),
        ));
    }
    let recorded = b.spec.signatures.iter().any(|s| {
        let sig = B64.decode(&s.signature).ok();
        let verifier = B64
            .decode(&s.verifier)
            .ok()
            .and_then(|pem| Verifier::from_pem(&pem).ok());
        envelope
            .signatures
            .iter()
            .any(|e| sig.as_deref() == Some(e.sig.as_slice()))
            && verifier.is_some_and(|v| v.key().spki_der() == key.spki_der())
    });
    if recorded {
        Ok(())
    } else {
        Err(VerifyError::Body(
            "the log entry records another signature or another key than the envelope's".into(),
        ))
    }
}
