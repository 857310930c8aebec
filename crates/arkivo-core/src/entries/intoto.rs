//! `intoto` v0.0.1 and v0.0.2 (rekor-v1-api.md §6a): a DSSE envelope, usually holding an in-toto
//! statement, and the key(s) that verify it. cosign writes v0.0.1 (`--rekor-entry-type=intoto`),
//! sigstore-js's `attest` writes v0.0.2.
//!
//! v0.0.1 carries the envelope as a JSON string and one key; at least one envelope signature
//! must verify with it (upstream's DSSE threshold of 1). The body keeps the SHA-256 of the
//! envelope string and of the payload, and the canonical key (§6a.2).
//!
//! v0.0.2 carries the envelope as an object whose `payload` and `sig`s are base64 *of the
//! envelope's base64 strings* (upstream reads them as `format: byte` and hands the decoded
//! strings to the DSSE library), each signature with its own key; every key must verify at
//! least one signature and every signature must be verified by some key. The body keeps the
//! signatures and keys as given, the client's envelope hash and the payload's SHA-256, not the
//! payload (§6a.3).
//!
//! Upstream recomputes `payloadHash` (and v0.0.1's `hash`) and silently replaces what the client
//! gave; Arkivo refuses a given value that differs, since such a client computes digests wrongly.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::b64::{self, Alphabet};
use super::dsse::{
    Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE, chain_checked_verifier, decode_payload,
    distinct_signatures, envelope_error, in_toto_keys, pae, read_envelope,
};
use super::hashedrekord::decode_content;
use super::jcs::{self, Node};
use super::pki::{HashAlg, Verifier};
use super::{EntryError, VerifyBudget, get_obj, get_str};
use crate::limits::{
    MAX_DSSE_ENVELOPE_BYTES, MAX_DSSE_SIGNATURES, MAX_PUBLIC_KEY_BYTES, MAX_SIGNATURE_BYTES,
};

fn spec_object(spec: &Value) -> Result<&serde_json::Map<String, Value>, EntryError> {
    spec.as_object()
        .ok_or_else(|| EntryError::invalid("spec in body must be of type object"))
}

fn required<T>(v: Option<T>, path: &str) -> Result<T, EntryError> {
    v.ok_or_else(|| EntryError::invalid(format!("{path} in body is required")))
}

fn not_insertable(why: &str) -> EntryError {
    EntryError::invalid(format!("entry not insertable into log: {why}"))
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A `{"algorithm","value"}` member a client may send: if present it must name SHA-256 and, when
/// the server can compute the value (`expected`), hold exactly that; otherwise 64 lower-case hex
/// digits. Returns the value given.
fn given_sha256<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &str,
    path: &str,
    expected: Option<&str>,
) -> Result<Option<&'a str>, EntryError> {
    let Some(h) = get_obj(obj, name, path)? else {
        return Ok(None);
    };
    let alg = get_str(h, "algorithm", &format!("{path}.algorithm"))?;
    let value = get_str(h, "value", &format!("{path}.value"))?;
    let alg = required(alg, &format!("{path}.algorithm"))?;
    let value = required(value, &format!("{path}.value"))?;
    if alg != "sha256" {
        return Err(EntryError::invalid(format!(
            "{path}.algorithm in body should be one of [sha256]"
        )));
    }
    match expected {
        Some(e) if value != e => Err(EntryError::invalid(format!(
            "{path}.value {value:?} does not match the SHA-256 the server computed, {e}"
        ))),
        None if value.len() != 64
            || !value
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Err(EntryError::invalid(format!(
                "{path}.value must be 64 lower-case hex digits (a SHA-256)"
            )))
        }
        _ => Ok(Some(value)),
    }
}

fn hash_node(value: &str) -> Node {
    Node::obj([("algorithm", Node::s("sha256")), ("value", Node::s(value))])
}

/// The search keys of a key (§10.1): the SHA-256 of its canonical PEM, the key itself, the
/// certificate's subject alternative names.
fn key_index_keys(v: &Verifier, keys: &mut Vec<String>) {
    keys.push(format!("sha256:{}", v.pem_sha256_hex()));
    keys.push(v.spki_index_key());
    keys.extend(v.subjects().iter().cloned());
}

/// Validates an intoto v0.0.1 `spec` (§6a.1–6a.2) and returns the canonical body and the (raw)
/// index keys.
pub(crate) fn canonicalize_v001(
    spec: &Value,
    budget: &mut VerifyBudget,
) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    let spec = spec_object(spec)?;
    let pem = decode_content(
        get_str(spec, "publicKey", "publicKey")?,
        "public key",
        MAX_PUBLIC_KEY_BYTES,
    )?;
    let content = required(get_obj(spec, "content", "content")?, "content")?;
    let pem = required(pem, "publicKey")?;
    let envelope = get_str(content, "envelope", "content.envelope")?.unwrap_or_default();
    if envelope.is_empty() {
        return Err(not_insertable("missing envelope content"));
    }
    if envelope.len() > MAX_DSSE_ENVELOPE_BYTES {
        return Err(EntryError::invalid(format!(
            "envelope is larger than {MAX_DSSE_ENVELOPE_BYTES} bytes"
        )));
    }
    let hash = hex_sha256(envelope.as_bytes());
    given_sha256(content, "hash", "content.hash", Some(&hash))?;
    let verifier = chain_checked_verifier(&pem, budget)?;
    let (env, payload) = read_envelope(envelope)?;
    if env.payload.is_empty() || env.payload_type.is_empty() {
        return Err(not_insertable("invalid DSSE envelope"));
    }
    let payload_hash = hex_sha256(&payload);
    given_sha256(
        content,
        "payloadHash",
        "content.payloadHash",
        Some(&payload_hash),
    )?;

    let pae = pae(&env.payload_type, &payload);
    let pae_sha256 = Sha256::digest(&pae);
    let mut verified = false;
    for (_, sig) in distinct_signatures(&env)? {
        budget.spend(1)?;
        if verifier
            .key()
            .verify_dsse(&pae, HashAlg::Sha256, &pae_sha256, &sig)
            .is_ok()
        {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(envelope_error(
            "accepted signatures do not match threshold, Found: 0, Expected 1",
        ));
    }
    let (body, mut keys) = build_v001(&hash, &payload_hash, &verifier);
    if env.payload_type == IN_TOTO_PAYLOAD_TYPE {
        keys.extend(in_toto_keys(&payload)?);
    }
    Ok((body, keys))
}

/// The v0.0.1 canonical body (§6a.2) and the index keys derivable from it.
fn build_v001(hash: &str, payload_hash: &str, verifier: &Verifier) -> (Vec<u8>, Vec<String>) {
    let body = Node::obj([
        ("apiVersion", Node::s("0.0.1")),
        ("kind", Node::s("intoto")),
        (
            "spec",
            Node::obj([
                (
                    "content",
                    Node::obj([
                        ("hash", hash_node(hash)),
                        ("payloadHash", hash_node(payload_hash)),
                    ]),
                ),
                (
                    "publicKey",
                    Node::s(b64::encode(verifier.canonical_pem().as_bytes())),
                ),
            ]),
        ),
    ]);
    let mut keys = vec![format!("sha256:{hash}")];
    key_index_keys(verifier, &mut keys);
    keys.push(format!("sha256:{payload_hash}"));
    (jcs::to_vec(&body), keys)
}

/// One signature of a v0.0.2 envelope as the body keeps it (§6a.3).
struct SignatureV002 {
    keyid: String,
    /// The key as given (decoded from the request's base64).
    public_key: Vec<u8>,
    verifier: Verifier,
    /// The envelope's signature string: canonical standard base64 of the signature.
    sig: String,
}

/// Validates an intoto v0.0.2 `spec` (§6a.1, §6a.3) and returns the canonical body and the (raw)
/// index keys.
pub(crate) fn canonicalize_v002(
    spec: &Value,
    budget: &mut VerifyBudget,
) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    let spec = spec_object(spec)?;
    let content = required(get_obj(spec, "content", "content")?, "content")?;
    let env = required(
        get_obj(content, "envelope", "content.envelope")?,
        "content.envelope",
    )?;
    let payload_type = required(
        get_str(env, "payloadType", "content.envelope.payloadType")?,
        "content.envelope.payloadType",
    )?;
    let items = match env.get("signatures") {
        None | Some(Value::Null) => {
            return Err(EntryError::invalid(
                "content.envelope.signatures in body is required",
            ));
        }
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(EntryError::invalid(
                "content.envelope.signatures in body must be of type array",
            ));
        }
    };
    if items.is_empty() {
        return Err(EntryError::invalid(
            "content.envelope.signatures in body should have at least 1 items",
        ));
    }
    if items.len() > MAX_DSSE_SIGNATURES {
        return Err(EntryError::invalid(format!(
            "content.envelope.signatures in body should have at most {MAX_DSSE_SIGNATURES} items"
        )));
    }
    // The envelope's strings, decoded once from the request's base64 (as upstream's DecodeEntry).
    let payload = decode_content(
        get_str(env, "payload", "content.envelope.payload")?,
        "payload",
        MAX_DSSE_ENVELOPE_BYTES,
    )?
    .ok_or_else(|| not_insertable("missing envelope content"))?;
    let mut signatures = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("content.envelope.signatures.{i}");
        let Value::Object(item) = item else {
            return Err(EntryError::invalid(format!(
                "{path} in body must be of type object"
            )));
        };
        let keyid = get_str(item, "keyid", &format!("{path}.keyid"))?.unwrap_or_default();
        let sig = decode_content(
            get_str(item, "sig", &format!("{path}.sig"))?,
            "signature",
            MAX_SIGNATURE_BYTES.div_ceil(3) * 4,
        )?;
        let sig = required(sig, &format!("{path}.sig"))?;
        let public_key = decode_content(
            get_str(item, "publicKey", &format!("{path}.publicKey"))?,
            "public key",
            MAX_PUBLIC_KEY_BYTES,
        )?;
        let public_key = required(public_key, &format!("{path}.publicKey"))?;
        let sig = String::from_utf8(sig).map_err(|_| {
            EntryError::invalid(format!(
                "{path}.sig must be the base64 of the envelope's base64 signature"
            ))
        })?;
        signatures.push((keyid.to_owned(), public_key, sig));
    }
    let hash = given_sha256(content, "hash", "content.hash", None)?
        .ok_or_else(|| EntryError::invalid("missing envelope digest: content.hash is required"))?;

    // The envelope the signatures are over (go-securesystemslib's reading of it).
    let envelope = Envelope {
        payload_type: payload_type.to_owned(),
        payload: String::from_utf8(payload).map_err(|_| {
            envelope_error("unable to base64 decode payload (is payload in the right format?)")
        })?,
        signatures: signatures
            .iter()
            .map(|(keyid, _, sig)| EnvelopeSignature {
                keyid: keyid.clone(),
                sig: sig.clone(),
            })
            .collect(),
    };
    let payload = decode_payload(&envelope.payload)?;
    let payload_hash = hex_sha256(&payload);
    given_sha256(
        content,
        "payloadHash",
        "content.payloadHash",
        Some(&payload_hash),
    )?;
    let distinct = distinct_signatures(&envelope)?;

    // Every key must verify at least one signature (the DSSE threshold of 1 upstream applies per
    // key), and every signature must be verified by some key.
    let pae = pae(payload_type, &payload);
    let pae_sha256 = Sha256::digest(&pae);
    let mut unverified: Vec<&str> = distinct.iter().map(|(s, _)| *s).collect();
    let mut parsed = Vec::with_capacity(signatures.len());
    for (keyid, public_key, sig) in signatures {
        let verifier = chain_checked_verifier(&public_key, budget)?;
        let mut any = false;
        for (s, bytes) in &distinct {
            budget.spend(1)?;
            if verifier
                .key()
                .verify_dsse(&pae, HashAlg::Sha256, &pae_sha256, bytes)
                .is_ok()
            {
                any = true;
                unverified.retain(|u| u != s);
            }
        }
        if !any {
            return Err(envelope_error(
                "accepted signatures do not match threshold, Found: 0, Expected 1",
            ));
        }
        parsed.push(SignatureV002 {
            keyid,
            public_key,
            verifier,
            sig,
        });
    }
    if !unverified.is_empty() {
        return Err(EntryError::invalid(
            "all signatures must have a key that verifies it",
        ));
    }
    let (body, mut keys) = build_v002(payload_type, &parsed, hash, &payload_hash);
    if payload_type == IN_TOTO_PAYLOAD_TYPE {
        keys.extend(in_toto_keys(&payload)?);
    }
    Ok((body, keys))
}

/// The v0.0.2 canonical body (§6a.3) and the index keys derivable from it.
fn build_v002(
    payload_type: &str,
    signatures: &[SignatureV002],
    hash: &str,
    payload_hash: &str,
) -> (Vec<u8>, Vec<String>) {
    let mut keys = Vec::new();
    let sigs = signatures
        .iter()
        .map(|s| {
            key_index_keys(&s.verifier, &mut keys);
            let mut members = vec![
                ("publicKey".to_owned(), Node::s(b64::encode(&s.public_key))),
                ("sig".to_owned(), Node::s(b64::encode(s.sig.as_bytes()))),
            ];
            // Upstream's model omits an empty keyid.
            if !s.keyid.is_empty() {
                members.push(("keyid".to_owned(), Node::s(s.keyid.as_str())));
            }
            Node::Obj(members)
        })
        .collect();
    let body = Node::obj([
        ("apiVersion", Node::s("0.0.2")),
        ("kind", Node::s("intoto")),
        (
            "spec",
            Node::obj([(
                "content",
                Node::obj([
                    (
                        "envelope",
                        Node::obj([
                            ("payloadType", Node::s(payload_type)),
                            ("signatures", Node::Arr(sigs)),
                        ]),
                    ),
                    ("hash", hash_node(hash)),
                    ("payloadHash", hash_node(payload_hash)),
                ]),
            )]),
        ),
    ]);
    keys.push(format!("sha256:{payload_hash}"));
    (jcs::to_vec(&body), keys)
}

/// The fields of a stored intoto body (§6a.2, §6a.3), as [`fields`] reads them.
enum Fields {
    V001 {
        hash: String,
        payload_hash: String,
        verifier: Verifier,
    },
    V002 {
        payload_type: String,
        signatures: Vec<SignatureV002>,
        hash: String,
        payload_hash: String,
    },
}

/// Reads the fields of a stored intoto body. No signature verification.
fn fields(body: &Value) -> Result<Fields, EntryError> {
    let bad = |what: &str| EntryError::invalid(format!("stored intoto body: {what}"));
    let spec = body["spec"].as_object().ok_or_else(|| bad("no spec"))?;
    let content = get_obj(spec, "content", "content")?.ok_or_else(|| bad("no content"))?;
    let hash_of = |name: &str| -> Result<String, EntryError> {
        given_sha256(content, name, name, None)?
            .map(str::to_owned)
            .ok_or_else(|| bad("missing hash"))
    };
    let hash = hash_of("hash")?;
    let payload_hash = hash_of("payloadHash")?;
    let pem = |s: Option<&str>| -> Result<(Vec<u8>, Verifier), EntryError> {
        let pem = decode_content(s, "public key", MAX_PUBLIC_KEY_BYTES)?
            .ok_or_else(|| bad("no public key"))?;
        let verifier = Verifier::from_pem(&pem).map_err(EntryError::Invalid)?;
        Ok((pem, verifier))
    };
    match body["apiVersion"].as_str() {
        Some("0.0.1") => {
            let (_, verifier) = pem(get_str(spec, "publicKey", "publicKey")?)?;
            Ok(Fields::V001 {
                hash,
                payload_hash,
                verifier,
            })
        }
        Some("0.0.2") => {
            let env = &content.get("envelope").ok_or_else(|| bad("no envelope"))?;
            let payload_type = env["payloadType"]
                .as_str()
                .ok_or_else(|| bad("no payloadType"))?;
            let items = env["signatures"]
                .as_array()
                .filter(|a| !a.is_empty() && a.len() <= MAX_DSSE_SIGNATURES)
                .ok_or_else(|| bad("wrong number of signatures"))?;
            let mut signatures = Vec::with_capacity(items.len());
            for item in items {
                let (public_key, verifier) = pem(item["publicKey"].as_str())?;
                let sig = b64::decode_go(
                    item["sig"].as_str().unwrap_or_default().as_bytes(),
                    Alphabet::Standard,
                )
                .ok()
                .and_then(|s| String::from_utf8(s).ok())
                .ok_or_else(|| bad("signature is not base64"))?;
                signatures.push(SignatureV002 {
                    keyid: item["keyid"].as_str().unwrap_or_default().to_owned(),
                    public_key,
                    verifier,
                    sig,
                });
            }
            Ok(Fields::V002 {
                payload_type: payload_type.to_owned(),
                signatures,
                hash,
                payload_hash,
            })
        }
        _ => Err(bad("apiVersion is neither 0.0.1 nor 0.0.2")),
    }
}

/// Re-reads a stored intoto body: what the builders make of its fields (for the caller to
/// compare with the stored bytes) and the index keys they determine. No signature verification;
/// the in-toto statement's keys cannot be re-derived (the payload is not stored).
pub(crate) fn reparse_body(body: &Value) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    Ok(match fields(body)? {
        Fields::V001 {
            hash,
            payload_hash,
            verifier,
        } => build_v001(&hash, &payload_hash, &verifier),
        Fields::V002 {
            payload_type,
            signatures,
            hash,
            payload_hash,
        } => build_v002(&payload_type, &signatures, &hash, &payload_hash),
    })
}

/// What a stored intoto body records of its envelope, for a verifier to compare with the
/// envelope it holds (the envelope itself is not stored).
#[derive(Clone, Debug)]
pub struct IntotoBody {
    /// Lower-case hex SHA-256 of the decoded payload.
    pub payload_hash: String,
    /// v0.0.2: the envelope's payload type (v0.0.1 does not record it).
    pub payload_type: Option<String>,
    /// The keys that verified the envelope: v0.0.2 each signature (its standard base64
    /// string) with its key; v0.0.1 the one key, with no signature recorded.
    pub signatures: Vec<(Option<String>, Verifier)>,
}

/// Reads a stored canonical `intoto` body (v0.0.1 or v0.0.2). Neither the canonical form nor
/// the signatures are checked.
///
/// # Errors
///
/// [`EntryError::Invalid`] naming the missing or malformed field.
pub fn parse_body(body: &[u8]) -> Result<IntotoBody, EntryError> {
    let value = super::parse_json(body)?;
    if value.get("kind").and_then(Value::as_str) != Some("intoto") {
        return Err(EntryError::invalid("the body is not an intoto entry"));
    }
    Ok(match fields(&value)? {
        Fields::V001 {
            payload_hash,
            verifier,
            ..
        } => IntotoBody {
            payload_hash,
            payload_type: None,
            signatures: vec![(None, verifier)],
        },
        Fields::V002 {
            payload_type,
            signatures,
            payload_hash,
            ..
        } => IntotoBody {
            payload_hash,
            payload_type: Some(payload_type),
            signatures: signatures
                .into_iter()
                .map(|s| (Some(s.sig), s.verifier))
                .collect(),
        },
    })
}
