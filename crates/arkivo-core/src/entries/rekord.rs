//! `rekord` v0.0.1 (rekor-v1-api.md §5a): a detached signature over the data itself, which the
//! client sends whole; the log verifies it, then stores the data's SHA-256 instead of the data.
//! Older cosign, rekor-cli and sigstore-rs write these entries.
//!
//! Only the `x509` signature format is accepted — a PEM PKIX public key, certificate or chain,
//! parsed and verified by [`super::pki`] exactly as for `hashedrekord`; `pgp`, `minisign` and
//! `ssh` (the other values of upstream's schema enum) are refused by name.
//!
//! Pipeline (upstream `pkg/types/rekord/v0.0.1`): decode base64 → schema checks (format enum,
//! required members, `sha256` only) → cross-field checks (hash length and hex) → `data.content`
//! required (Arkivo never fetches data) → SHA-256 of the data, equal to `data.hash` when given →
//! verifier PEM → signature over the data with upstream's default verifier (SHA-256 for ECDSA on
//! every curve and for RSA PKCS#1 v1.5, pure Ed25519), with no algorithm policy (upstream applies
//! its policy to `hashedrekord` only) → canonical body and index keys (§10.1).

use serde_json::Value;

use super::b64;
use super::hashedrekord::decode_content;
use super::jcs::{self, Node};
use super::pki::{HashAlg, Verifier};
use super::{EntryError, VerifyBudget, get_obj, get_str};
use crate::limits::{MAX_PUBLIC_KEY_BYTES, MAX_REKORD_DATA_BYTES, MAX_SIGNATURE_BYTES};

/// The values of the schema's `signature.format` enum, in the schema's order.
const FORMATS: [&str; 4] = ["pgp", "minisign", "x509", "ssh"];

/// Validates a rekord `spec` and returns the canonical body and the (raw) index keys.
pub(crate) fn canonicalize_spec(
    spec: &Value,
    budget: &mut VerifyBudget,
) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    let Value::Object(spec) = spec else {
        return Err(EntryError::invalid("spec in body must be of type object"));
    };
    let signature = get_obj(spec, "signature", "signature")?;
    let data = get_obj(spec, "data", "data")?;

    // Base64 first, as upstream's DecodeEntry does.
    let (format, sig_bytes, key_obj) = match signature {
        Some(sig) => {
            let format = get_str(sig, "format", "signature.format")?;
            let content = get_str(sig, "content", "signature.content")?;
            let sig_bytes = decode_content(content, "signature content", MAX_SIGNATURE_BYTES)?;
            (
                format,
                sig_bytes,
                get_obj(sig, "publicKey", "signature.publicKey")?,
            )
        }
        None => (None, None, None),
    };
    let pem = match key_obj {
        Some(k) => {
            let content = get_str(k, "content", "signature.publicKey.content")?;
            decode_content(content, "public key content", MAX_PUBLIC_KEY_BYTES)?
        }
        None => None,
    };
    let (hash, content) = match data {
        Some(d) => {
            let content = get_str(d, "content", "data.content")?;
            (
                get_obj(d, "hash", "data.hash")?,
                decode_content(content, "data content", MAX_REKORD_DATA_BYTES)?,
            )
        }
        None => (None, None),
    };

    // Schema (field) validation.
    if signature.is_none() {
        return Err(EntryError::invalid("signature in body is required"));
    }
    let Some(format) = format else {
        return Err(EntryError::invalid("signature.format in body is required"));
    };
    if !FORMATS.contains(&format) {
        return Err(EntryError::invalid(format!(
            "signature.format in body should be one of [pgp minisign x509 ssh], got {format:?}"
        )));
    }
    if data.is_none() {
        return Err(EntryError::invalid("data in body is required"));
    }
    let given = match hash {
        Some(h) => {
            let alg = get_str(h, "algorithm", "data.hash.algorithm")?
                .ok_or_else(|| EntryError::invalid("data.hash.algorithm in body is required"))?;
            let value = get_str(h, "value", "data.hash.value")?
                .ok_or_else(|| EntryError::invalid("data.hash.value in body is required"))?;
            if alg != "sha256" {
                return Err(EntryError::invalid(
                    "data.hash.algorithm in body should be one of [sha256]",
                ));
            }
            Some(value)
        }
        None => None,
    };

    // Cross-field validation (upstream's validate()).
    let Some(sig_bytes) = sig_bytes else {
        return Err(EntryError::invalid(
            "'content' must be specified for signature",
        ));
    };
    if key_obj.is_none() {
        return Err(EntryError::invalid("missing public key"));
    }
    let Some(pem) = pem else {
        return Err(EntryError::invalid(
            "'content' must be specified for publicKey",
        ));
    };
    if let Some(value) = given
        && (value.len() != 64 || !value.bytes().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(EntryError::invalid("invalid value for hash"));
    }
    if format != "x509" {
        return Err(EntryError::invalid(format!(
            "rekord with format {format} is not supported: this log verifies x509 signatures \
             (PEM public keys and certificates) only"
        )));
    }
    // Upstream with only `data.hash` hashes the empty content and fails on the mismatch (it
    // fetched `data.url` once, no longer); Arkivo says why: it needs the data to verify over.
    let Some(content) = content else {
        return Err(EntryError::invalid(
            "'content' must be specified for data: the signature is verified over the data, \
             which this log does not fetch (send data.content, or use hashedrekord to log a \
             signature over a digest)",
        ));
    };
    let computed = hex::encode(HashAlg::Sha256.digest(&content));
    if let Some(value) = given
        && value != computed
    {
        // Upstream compares the hex strings as given (so upper-case hex never matches).
        return Err(EntryError::invalid(format!(
            "SHA mismatch: {computed} != {value}"
        )));
    }

    let verifier = Verifier::from_pem(&pem).map_err(EntryError::Invalid)?;
    budget.spend(verifier.chain_signatures() + 1)?;
    verifier
        .verify_chain()
        .and_then(|()| verifier.key().verify_message(&content, &sig_bytes))
        .map_err(|e| EntryError::invalid(format!("verifying signature over data.content: {e}")))?;
    Ok(build(&computed, &sig_bytes, &verifier))
}

/// The canonical body and the index keys of a validated entry: upstream's `Canonicalize` keeps
/// the format, signature, canonical PEM and the data's hash, never the data, and its JSON goes
/// through RFC 8785 as every body does (§5a).
fn build(sha256_hex: &str, sig: &[u8], verifier: &Verifier) -> (Vec<u8>, Vec<String>) {
    let body = Node::obj([
        ("apiVersion", Node::s("0.0.1")),
        ("kind", Node::s("rekord")),
        (
            "spec",
            Node::obj([
                (
                    "data",
                    Node::obj([(
                        "hash",
                        Node::obj([
                            ("algorithm", Node::s("sha256")),
                            ("value", Node::s(sha256_hex)),
                        ]),
                    )]),
                ),
                (
                    "signature",
                    Node::obj([
                        ("content", Node::s(b64::encode(sig))),
                        ("format", Node::s("x509")),
                        (
                            "publicKey",
                            Node::obj([(
                                "content",
                                Node::s(b64::encode(verifier.canonical_pem().as_bytes())),
                            )]),
                        ),
                    ]),
                ),
            ]),
        ),
    ]);
    // Upstream's IndexKeys: the canonical PEM's SHA-256, the certificate's subjects and
    // `sha256:<hex>`; plus the key itself, as for every kind (§10.1).
    let mut keys = verifier.index_keys();
    keys.push(format!("sha256:{sha256_hex}"));
    (jcs::to_vec(&body), keys)
}

/// Re-reads a stored body: returns what [`build`] makes of its fields (for the caller to compare
/// with the stored bytes) and the index keys. No signature verification (the data is not stored).
pub(crate) fn reparse_body(body: &Value) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    let bad = |what: &str| EntryError::invalid(format!("stored rekord body: {what}"));
    if body.get("apiVersion").and_then(Value::as_str) != Some("0.0.1") {
        return Err(bad("apiVersion is not 0.0.1"));
    }
    let spec = &body["spec"];
    if spec["signature"]["format"].as_str() != Some("x509") {
        return Err(bad("signature format is not x509"));
    }
    let value = spec["data"]["hash"]["value"]
        .as_str()
        .filter(|v| v.len() == 64 && v.bytes().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| bad("no SHA-256 hash value"))?;
    let sig = spec["signature"]["content"]
        .as_str()
        .ok_or_else(|| bad("no signature"))?;
    let sig = decode_content(Some(sig), "signature content", MAX_SIGNATURE_BYTES)?
        .ok_or_else(|| bad("empty signature"))?;
    let pem = spec["signature"]["publicKey"]["content"]
        .as_str()
        .ok_or_else(|| bad("no public key"))?;
    let pem = decode_content(Some(pem), "public key content", MAX_PUBLIC_KEY_BYTES)?
        .ok_or_else(|| bad("empty public key"))?;
    let verifier = Verifier::from_pem(&pem).map_err(EntryError::Invalid)?;
    Ok(build(value, &sig, &verifier))
}
