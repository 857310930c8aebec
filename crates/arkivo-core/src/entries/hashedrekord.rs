//! `hashedrekord` v0.0.1 (rekor-v1-api.md §5): a signature over a digest the client computed.
//!
//! Pipeline: decode base64 (§5.1) → schema checks → parse the verifier PEM → digest length and
//! hex → chain check (≥ 2 certificates) → signature over the given digest, no re-hashing (§5.2)
//! → algorithm policy (§5.4) → canonical body (§5.3) and index keys (§10.1).

use serde_json::Value;

use super::b64::{self, Alphabet};
use super::jcs::{self, Node};
use super::pki::{HashAlg, Verifier};
use super::{EntryError, VerifyBudget, get_obj, get_str};
use crate::limits::{MAX_PUBLIC_KEY_BYTES, MAX_SIGNATURE_BYTES};

/// Base64 of `n` bytes is about 4n/3 characters; allow as much again for line breaks.
fn max_b64_chars(n: usize) -> usize {
    n.div_ceil(3) * 8 + 16
}

/// Decodes a base64 member (§5.1) of at most `max` bytes: an empty string counts as absent.
pub(crate) fn decode_content(
    s: Option<&str>,
    what: &str,
    max: usize,
) -> Result<Option<Vec<u8>>, EntryError> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let too_large = || EntryError::invalid(format!("{what} is larger than {max} bytes"));
    if s.len() > max_b64_chars(max) {
        return Err(too_large());
    }
    let bytes = b64::decode_go(s.as_bytes(), Alphabet::Standard)
        .map_err(|e| EntryError::invalid(format!("failed parsing base64 data for {what}: {e}")))?;
    if bytes.len() > max {
        return Err(too_large());
    }
    Ok(Some(bytes))
}

/// Validates a hashedrekord `spec` and returns the canonical body and the (raw) index keys.
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
    let (sig_bytes, key_obj) = match signature {
        Some(sig) => {
            let content = get_str(sig, "content", "signature.content")?;
            let sig_bytes = decode_content(content, "signature content", MAX_SIGNATURE_BYTES)?;
            (sig_bytes, get_obj(sig, "publicKey", "signature.publicKey")?)
        }
        None => (None, None),
    };
    let pem = match key_obj {
        Some(k) => {
            let content = get_str(k, "content", "signature.publicKey.content")?;
            decode_content(content, "public key content", MAX_PUBLIC_KEY_BYTES)?
        }
        None => None,
    };

    // Schema (field) validation.
    if signature.is_none() {
        return Err(EntryError::invalid("signature in body is required"));
    }
    let Some(data) = data else {
        return Err(EntryError::invalid("data in body is required"));
    };
    let hash = get_obj(data, "hash", "data.hash")?;
    let (alg_name, value) = match hash {
        Some(h) => {
            let alg = get_str(h, "algorithm", "data.hash.algorithm")?
                .ok_or_else(|| EntryError::invalid("data.hash.algorithm in body is required"))?;
            let value = get_str(h, "value", "data.hash.value")?
                .ok_or_else(|| EntryError::invalid("data.hash.value in body is required"))?;
            (alg, value)
        }
        None => return Err(EntryError::invalid("missing hash")),
    };
    let alg = HashAlg::from_name(alg_name).ok_or_else(|| {
        EntryError::invalid("data.hash.algorithm in body should be one of [sha256 sha384 sha512]")
    })?;

    // Cross-field validation.
    if key_obj.is_none() {
        return Err(EntryError::invalid("missing public key"));
    }
    let verifier =
        Verifier::from_pem(pem.as_deref().unwrap_or_default()).map_err(EntryError::Invalid)?;
    if value.len() != alg.digest_len() * 2 {
        return Err(EntryError::invalid("invalid value for hash"));
    }
    let digest = decode_hex(value)?;
    let Some(sig_bytes) = sig_bytes else {
        return Err(EntryError::invalid(
            "verifying signature: X509 signature has not been initialized",
        ));
    };
    budget.spend(verifier.chain_signatures() + 1)?;
    verifier
        .verify_chain()
        .and_then(|()| verifier.key().verify_digest(alg, &digest, &sig_bytes))
        .map_err(|e| EntryError::invalid(format!("verifying signature: {e}")))?;
    if !verifier.key().policy_allows(alg) {
        return Err(EntryError::invalid("entry algorithms are not allowed"));
    }
    Ok(build(alg_name, value, &sig_bytes, &verifier))
}

/// Go's `hex.DecodeString` with its error text.
fn decode_hex(value: &str) -> Result<Vec<u8>, EntryError> {
    hex::decode(value).map_err(|_| {
        let bad = value
            .chars()
            .find(|c| !c.is_ascii_hexdigit())
            .unwrap_or('?');
        EntryError::invalid(format!(
            "encoding/hex: invalid byte: U+{:04X} {bad:?}",
            bad as u32
        ))
    })
}

/// The canonical body (§5.3) and the index keys (§10.1) of a validated entry.
fn build(alg: &str, value: &str, sig: &[u8], verifier: &Verifier) -> (Vec<u8>, Vec<String>) {
    let body = Node::obj([
        ("apiVersion", Node::s("0.0.1")),
        ("kind", Node::s("hashedrekord")),
        (
            "spec",
            Node::obj([
                (
                    "data",
                    Node::obj([(
                        "hash",
                        Node::obj([("algorithm", Node::s(alg)), ("value", Node::s(value))]),
                    )]),
                ),
                (
                    "signature",
                    Node::obj([
                        ("content", Node::s(b64::encode(sig))),
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
    let mut keys = verifier.index_keys();
    keys.push(format!("{alg}:{value}"));
    (jcs::to_vec(&body), keys)
}

/// The fields of a stored `hashedrekord` body (§5.3).
#[derive(Clone, Debug)]
pub struct HashedRekordBody {
    pub algorithm: HashAlg,
    /// The digest as stored: hex, case as submitted.
    pub value: String,
    pub signature: Vec<u8>,
    pub verifier: Verifier,
}

impl HashedRekordBody {
    /// The digest's bytes.
    pub fn digest(&self) -> Vec<u8> {
        hex::decode(&self.value).unwrap_or_default()
    }
}

/// Reads a stored canonical `hashedrekord` body (what a client gets back from the log) into its
/// fields. Neither the canonical form nor the signature is checked: a verifier compares the
/// fields with what it expects and verifies the signature itself.
///
/// # Errors
///
/// [`EntryError::Invalid`] naming the missing or malformed field.
pub fn parse_body(body: &[u8]) -> Result<HashedRekordBody, EntryError> {
    let value = super::parse_json(body)?;
    if value.get("kind").and_then(Value::as_str) != Some("hashedrekord") {
        return Err(EntryError::invalid("the body is not a hashedrekord entry"));
    }
    fields(&value)
}

fn fields(body: &Value) -> Result<HashedRekordBody, EntryError> {
    let bad = |what: &str| EntryError::invalid(format!("stored hashedrekord body: {what}"));
    if body.get("apiVersion").and_then(Value::as_str) != Some("0.0.1") {
        return Err(bad("apiVersion is not 0.0.1"));
    }
    let spec = &body["spec"];
    let hash = &spec["data"]["hash"];
    let alg_name = hash["algorithm"]
        .as_str()
        .ok_or_else(|| bad("no hash algorithm"))?;
    let value = hash["value"].as_str().ok_or_else(|| bad("no hash value"))?;
    let algorithm = HashAlg::from_name(alg_name).ok_or_else(|| bad("unknown hash algorithm"))?;
    if value.len() != algorithm.digest_len() * 2 || !value.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad("invalid hash value"));
    }
    let sig = spec["signature"]["content"]
        .as_str()
        .ok_or_else(|| bad("no signature"))?;
    let signature = decode_content(Some(sig), "signature content", MAX_SIGNATURE_BYTES)?
        .ok_or_else(|| bad("empty signature"))?;
    let pem = spec["signature"]["publicKey"]["content"]
        .as_str()
        .ok_or_else(|| bad("no public key"))?;
    let pem = decode_content(Some(pem), "public key content", MAX_PUBLIC_KEY_BYTES)?
        .ok_or_else(|| bad("empty public key"))?;
    let verifier = Verifier::from_pem(&pem).map_err(EntryError::Invalid)?;
    Ok(HashedRekordBody {
        algorithm,
        value: value.to_owned(),
        signature,
        verifier,
    })
}

/// Re-reads a stored body: returns what [`build`] makes of its fields (for the caller to compare
/// with the stored bytes) and the index keys. No signature verification.
pub(crate) fn reparse_body(body: &Value) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    let f = fields(body)?;
    Ok(build(
        f.algorithm.name(),
        &f.value,
        &f.signature,
        &f.verifier,
    ))
}
