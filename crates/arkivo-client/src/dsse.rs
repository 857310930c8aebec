//! DSSE envelopes on the client side: signing one, reading one, and checking that it verifies
//! and that a `dsse` log entry records it (rekor-v1-api.md §6). Attestations and cosign v3
//! image signatures are DSSE envelopes (cosign-oci-storage.md §3, §4).
//!
//! The envelope type is the bundle's [`DsseEnvelope`]: its JSON form (`payload` and `sig` in
//! standard base64, `payloadType`, `signatures[].keyid`) is the DSSE envelope JSON itself.

use super::bundle::{DsseEnvelope, DsseSignature};
use super::keys::SigningKey;
use super::verify::{self, VerifyError};
use arkivo_core::entries::dsse::pae;
use arkivo_core::entries::pki::PublicKey;

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

/// Checks that the `dsse` entry `body` records `envelope` with a signature by `key` that
/// verifies ([`verify::verify_dsse`], for each of the envelope's signatures until one does).
///
/// # Errors
///
/// The last signature's [`VerifyError`]; [`VerifyError::Malformed`] without signatures.
pub fn verify_envelope(
    body: &[u8],
    envelope: &DsseEnvelope,
    key: &PublicKey,
) -> Result<(), VerifyError> {
    let mut result = Err(VerifyError::Malformed(
        "the envelope has no signature".into(),
    ));
    for s in &envelope.signatures {
        result = verify::verify_dsse(body, &envelope.payload_type, &envelope.payload, &s.sig, key);
        if result.is_ok() {
            break;
        }
    }
    result
}
