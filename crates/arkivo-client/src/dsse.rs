//! DSSE envelopes on the client side: signing one, reading one, and checking that it verifies
//! and that a `dsse` log entry records it (rekor-v1-api.md §6). Attestations and cosign v3
//! image signatures are DSSE envelopes (cosign-oci-storage.md §3, §4).
//!
//! The envelope type is the bundle's [`DsseEnvelope`]: its JSON form (`payload` and `sig` in
//! standard base64, `payloadType`, `signatures[].keyid`) is the DSSE envelope JSON itself.

use super::bundle::{Bundle, BundleSigner, DsseEnvelope, DsseSignature};
use super::cosign::Statement;
use super::identity::{SignerPolicy, VerifiedCertificate};
use super::keys::SigningKey;
use super::trust::{RekorV2Trust, TrustedLog};
use super::verify::{self, VerifiedTlog, VerifyError};
use arkivo_core::entries::dsse::{IN_TOTO_PAYLOAD_TYPE, pae};
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

/// The in-toto statement an envelope carries.
///
/// # Errors
///
/// A message for another payload type or a payload that is not a statement.
pub fn statement_of(envelope: &DsseEnvelope) -> Result<Statement, String> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "the envelope's payload type is {:?}, not an in-toto statement",
            envelope.payload_type
        ));
    }
    serde_json::from_slice(&envelope.payload)
        .map_err(|e| format!("the payload is not an in-toto statement: {e}"))
}

/// A DSSE bundle that verified.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    /// Its log entry, and when the signature existed.
    pub tlog: VerifiedTlog,
    /// Keyless: what the signing certificate says (verified at that time).
    pub certificate: Option<VerifiedCertificate>,
    /// The envelope's in-toto statement (not yet checked against a subject).
    pub statement: Statement,
}

/// Verifies a DSSE bundle (an attestation, a cosign v3 image signature): the log entry
/// ([`verify::verify_bundle_tlog`], Rekor v1 or v2 with its timestamp), the signer at the time
/// it gives ([`SignerPolicy::signer_key`]), the entry against the envelope and the envelope's
/// signature over the PAE ([`verify::verify_dsse`]), and the payload as an in-toto statement.
/// A bundle's envelope has exactly one signature (protobuf-specs `Bundle.dsse_envelope`): the
/// one the timestamp and the entry are about.
///
/// # Errors
///
/// A message naming the failed check.
pub fn verify_bundle(
    bundle: &Bundle,
    signer: &SignerPolicy<'_>,
    logs: &[TrustedLog],
    v2: Option<&RekorV2Trust>,
) -> Result<VerifiedBundle, String> {
    let envelope = bundle
        .dsse_envelope
        .as_ref()
        .ok_or("the bundle holds a message signature, not a DSSE envelope")?;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(format!(
            "the envelope has {} signatures; a bundle's has one",
            envelope.signatures.len()
        ));
    };
    let tlog =
        verify::verify_bundle_tlog(bundle, &signature.sig, logs, v2).map_err(|e| e.to_string())?;
    let certificate = match bundle.signer() {
        BundleSigner::Certificate(der) => Some(der),
        BundleSigner::PublicKey => None,
    };
    let (key, certificate) = signer
        .signer_key(certificate, tlog.time())
        .map_err(|e| e.to_string())?;
    let body = &bundle
        .tlog_entry()
        .map_err(|e| e.to_string())?
        .canonicalized_body;
    verify::verify_dsse(
        body,
        &envelope.payload_type,
        &envelope.payload,
        &signature.sig,
        &key,
    )
    .map_err(|e| e.to_string())?;
    Ok(VerifiedBundle {
        tlog,
        certificate,
        statement: statement_of(envelope)?,
    })
}
