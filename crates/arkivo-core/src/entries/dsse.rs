//! `dsse` v0.0.1 (rekor-v1-api.md §6): a DSSE envelope and the keys that verify it.
//!
//! Pipeline: schema checks → envelope (bounded size, depth and signature count; strict standard
//! base64 signatures) → PAE → verifiers in the given order, each accounting for at most one
//! signature, until every signature is verified (§6.2) → canonical body (§6.3) and index keys
//! (§10.1). The envelope itself is not stored.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::b64::{self, Alphabet};
use super::jcs::{self, Node};
use super::pki::{HashAlg, Verifier};
use super::{EntryError, VerifyBudget, check_depth, get_obj, get_str};
use crate::limits::{
    MAX_DSSE_ENVELOPE_BYTES, MAX_DSSE_SIGNATURES, MAX_DSSE_VERIFIERS, MAX_INTOTO_INDEX_KEYS,
    MAX_JSON_DEPTH, MAX_PUBLIC_KEY_BYTES,
};

/// The in-toto payload type whose statements contribute index keys.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope as Go's `encoding/json` reads it into go-securesystemslib's `Envelope`:
/// member names matched case-insensitively (last one wins), unknown members ignored, `null`
/// leaves a member empty.
#[derive(Default, Debug)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One entry of an envelope's `signatures`; `keyid` is read but never used (§6.2).
#[derive(Default, Debug)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

/// Go's `strings.EqualFold` against an ASCII lower-case `target`: ASCII case folding plus the two
/// non-ASCII letters that fold to ASCII ones (KELVIN SIGN → k, LONG S → s).
fn fold_eq(key: &str, target: &str) -> bool {
    let mut k = key.chars().map(|c| match c {
        '\u{212A}' => 'k',
        '\u{17F}' => 's',
        c => c.to_ascii_lowercase(),
    });
    let mut t = target.chars();
    loop {
        match (k.next(), t.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Envelope;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a DSSE envelope object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
                let mut env = Envelope::default();
                while let Some(key) = map.next_key::<String>()? {
                    if fold_eq(&key, "payloadtype") {
                        if let Some(v) = map.next_value::<Option<String>>()? {
                            env.payload_type = v;
                        }
                    } else if fold_eq(&key, "payload") {
                        if let Some(v) = map.next_value::<Option<String>>()? {
                            env.payload = v;
                        }
                    } else if fold_eq(&key, "signatures") {
                        if let Some(v) =
                            map.next_value::<Option<Vec<Option<EnvelopeSignature>>>>()?
                        {
                            env.signatures = v.into_iter().map(Option::unwrap_or_default).collect();
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for EnvelopeSignature {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvelopeSignature;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a DSSE signature object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<EnvelopeSignature, A::Error> {
                let mut s = EnvelopeSignature::default();
                while let Some(key) = map.next_key::<String>()? {
                    if fold_eq(&key, "keyid") {
                        if let Some(v) = map.next_value::<Option<String>>()? {
                            s.keyid = v;
                        }
                    } else if fold_eq(&key, "sig") {
                        if let Some(v) = map.next_value::<Option<String>>()? {
                            s.sig = v;
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(s)
            }
        }
        d.deserialize_map(V)
    }
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

const BOTH: &str = "either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both";

pub(crate) fn envelope_error(detail: impl fmt::Display) -> EntryError {
    EntryError::invalid(format!("could not verify envelope: {detail}"))
}

/// Reads a DSSE envelope as go-securesystemslib does before verifying it (§6.2): bounded size
/// and depth, at least one and at most [`MAX_DSSE_SIGNATURES`] signatures, the payload decoded
/// from standard or URL-safe base64. Returns the envelope and the decoded payload.
pub(crate) fn read_envelope(envelope: &str) -> Result<(Envelope, Vec<u8>), EntryError> {
    if envelope.len() > MAX_DSSE_ENVELOPE_BYTES {
        return Err(EntryError::invalid(format!(
            "envelope is larger than {MAX_DSSE_ENVELOPE_BYTES} bytes"
        )));
    }
    check_depth(envelope.as_bytes(), MAX_JSON_DEPTH).map_err(EntryError::invalid)?;
    let env: Envelope =
        serde_json::from_str(envelope).map_err(|e| EntryError::invalid(e.to_string()))?;
    if env.signatures.is_empty() {
        return Err(envelope_error("no signature found"));
    }
    if env.signatures.len() > MAX_DSSE_SIGNATURES {
        return Err(EntryError::invalid(format!(
            "envelope has {} signatures, more than the {MAX_DSSE_SIGNATURES} accepted",
            env.signatures.len()
        )));
    }
    let payload = decode_payload(&env.payload)?;
    Ok((env, payload))
}

/// An envelope's payload as go-securesystemslib decodes it: standard, else URL-safe base64.
pub(crate) fn decode_payload(payload: &str) -> Result<Vec<u8>, EntryError> {
    b64::decode_go(payload.as_bytes(), Alphabet::Standard)
        .or_else(|_| b64::decode_go(payload.as_bytes(), Alphabet::UrlSafe))
        .map_err(|_| {
            envelope_error("unable to base64 decode payload (is payload in the right format?)")
        })
}

/// The distinct signature strings of an envelope in envelope order, each decoded. Each must be
/// canonical standard base64 (§6.3: the stored bodies carry them, and anything else would make
/// them unparseable by Go clients).
pub(crate) fn distinct_signatures(env: &Envelope) -> Result<Vec<(&str, Vec<u8>)>, EntryError> {
    let mut out: Vec<(&str, Vec<u8>)> = Vec::with_capacity(env.signatures.len());
    for s in &env.signatures {
        if out.iter().any(|(p, _)| *p == s.sig) {
            continue;
        }
        if !b64::is_canonical_standard(&s.sig) {
            return Err(EntryError::invalid(
                "envelope signature is not standard base64 with padding",
            ));
        }
        let bytes = b64::decode_go(s.sig.as_bytes(), Alphabet::Standard)
            .map_err(|e| EntryError::invalid(e.to_string()))?;
        out.push((&s.sig, bytes));
    }
    Ok(out)
}

/// A verifier from the base64 PEM a request carries, its chain checked (§5.1, §6.2), the
/// verifications that costs taken from `budget`.
pub(crate) fn chain_checked_verifier(
    pem: &[u8],
    budget: &mut VerifyBudget,
) -> Result<Verifier, EntryError> {
    let bad = |e: String| EntryError::invalid(format!("could not parse public key as x509: {e}"));
    let verifier = Verifier::from_pem(pem).map_err(bad)?;
    budget.spend(verifier.chain_signatures())?;
    verifier.verify_chain().map_err(bad)?;
    Ok(verifier)
}

/// Validates a dsse `spec` and returns the canonical body and the (raw) index keys.
pub(crate) fn canonicalize_spec(
    spec: &Value,
    budget: &mut VerifyBudget,
) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    let Value::Object(spec) = spec else {
        return Err(EntryError::invalid("spec in body must be of type object"));
    };
    let proposed = get_obj(spec, "proposedContent", "proposedContent")?;
    let has_canonical_fields = ["envelopeHash", "payloadHash"]
        .iter()
        .any(|k| !matches!(spec.get(*k), None | Some(Value::Null)))
        || matches!(spec.get("signatures"), Some(Value::Array(a)) if !a.is_empty());
    let Some(proposed) = proposed else {
        return Err(EntryError::invalid(if has_canonical_fields {
            "proposedContent is required to insert a dsse entry"
        } else {
            "either proposedContent or envelopeHash, payloadHash, and signatures must be present"
        }));
    };
    if has_canonical_fields {
        return Err(EntryError::invalid(BOTH));
    }
    let envelope = get_str(proposed, "envelope", "proposedContent.envelope")?
        .ok_or_else(|| EntryError::invalid("proposedContent.envelope in body is required"))?;
    let verifiers = match proposed.get("verifiers") {
        None | Some(Value::Null) => {
            return Err(EntryError::invalid(
                "proposedContent.verifiers in body is required",
            ));
        }
        Some(Value::Array(v)) => v,
        Some(_) => {
            return Err(EntryError::invalid(
                "proposedContent.verifiers in body must be of type array",
            ));
        }
    };
    if verifiers.is_empty() {
        return Err(EntryError::invalid(
            "proposedContent.verifiers in body should have at least 1 items",
        ));
    }
    if verifiers.len() > MAX_DSSE_VERIFIERS {
        return Err(EntryError::invalid(format!(
            "proposedContent.verifiers in body should have at most {MAX_DSSE_VERIFIERS} items"
        )));
    }
    // Decode every verifier's base64 up front (as upstream's DecodeEntry does); parse lazily.
    let mut verifier_pems = Vec::with_capacity(verifiers.len());
    for (i, v) in verifiers.iter().enumerate() {
        let s = v.as_str().ok_or_else(|| {
            EntryError::invalid(format!(
                "proposedContent.verifiers.{i} in body must be of type string"
            ))
        })?;
        if s.len() > MAX_PUBLIC_KEY_BYTES.div_ceil(3) * 8 + 16 {
            return Err(EntryError::invalid(format!(
                "verifier {i} is larger than {MAX_PUBLIC_KEY_BYTES} bytes"
            )));
        }
        let pem = b64::decode_go(s.as_bytes(), Alphabet::Standard).map_err(|e| {
            EntryError::invalid(format!("failed parsing base64 data for verifier: {e}"))
        })?;
        verifier_pems.push(pem);
    }

    let (env, payload) = read_envelope(envelope)?;
    let mut pending = distinct_signatures(&env)?;

    let pae = pae(&env.payload_type, &payload);
    let pae_sha256: [u8; 32] = Sha256::digest(&pae).into();
    let mut verified: Vec<(String, Verifier)> = Vec::with_capacity(pending.len());
    for pem in &verifier_pems {
        if pending.is_empty() {
            break;
        }
        let verifier = chain_checked_verifier(pem, budget)?;
        let mut hit = None;
        for (i, (_, sig)) in pending.iter().enumerate() {
            budget.spend(1)?;
            if verifier
                .key()
                .verify_dsse(&pae, HashAlg::Sha256, &pae_sha256, sig)
                .is_ok()
            {
                hit = Some(i);
                break;
            }
        }
        let Some(hit) = hit else {
            return Err(envelope_error(
                "accepted signatures do not match threshold, Found: 0, Expected 1",
            ));
        };
        let (sig, _) = pending.remove(hit);
        verified.push((sig.to_owned(), verifier));
    }
    if !pending.is_empty() {
        return Err(EntryError::invalid(
            "all signatures must have a key that verifies it",
        ));
    }

    let envelope_hash = hex::encode(Sha256::digest(envelope.as_bytes()));
    let payload_hash = hex::encode(Sha256::digest(&payload));
    let (body, mut keys) = build(&envelope_hash, &payload_hash, verified);
    if env.payload_type == IN_TOTO_PAYLOAD_TYPE {
        keys.extend(in_toto_keys(&payload)?);
    }
    Ok((body, keys))
}

/// The canonical body (§6.3) and the index keys derivable from it (§10.1 items 1–4).
fn build(
    envelope_hash: &str,
    payload_hash: &str,
    mut signatures: Vec<(String, Verifier)>,
) -> (Vec<u8>, Vec<String>) {
    signatures.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let hash = |v: &str| Node::obj([("algorithm", Node::s("sha256")), ("value", Node::s(v))]);
    let sigs = signatures
        .iter()
        .map(|(sig, v)| {
            Node::obj([
                ("signature", Node::s(sig.as_str())),
                (
                    "verifier",
                    Node::s(b64::encode(v.canonical_pem().as_bytes())),
                ),
            ])
        })
        .collect();
    let body = Node::obj([
        ("apiVersion", Node::s("0.0.1")),
        ("kind", Node::s("dsse")),
        (
            "spec",
            Node::obj([
                ("envelopeHash", hash(envelope_hash)),
                ("payloadHash", hash(payload_hash)),
                ("signatures", Node::Arr(sigs)),
            ]),
        ),
    ]);
    let mut keys = Vec::new();
    for (_, v) in &signatures {
        keys.push(format!("sha256:{}", v.pem_sha256_hex()));
        keys.push(v.spki_index_key());
        keys.extend(v.subjects().iter().cloned());
    }
    keys.push(format!("sha256:{payload_hash}"));
    keys.push(format!("sha256:{envelope_hash}"));
    (jcs::to_vec(&body), keys)
}

/// A member of an object, matched as Go's `encoding/json` matches struct fields.
fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(name).or_else(|| {
        let lower = name.to_ascii_lowercase();
        obj.iter().find(|(k, _)| fold_eq(k, &lower)).map(|(_, v)| v)
    })
}

/// The digest algorithms of in-toto digest sets that become index keys, with their hex lengths:
/// the ones a `hash` search can name (rekor-v1-api.md §10.2). Other algorithms (`gitCommit`,
/// `sha384`, ...) are legal in-toto but unsearchable, so they are not indexed.
const IN_TOTO_INDEXED_DIGESTS: [(&str, usize); 3] = [("sha1", 40), ("sha256", 64), ("sha512", 128)];

/// `<alg>:<digest>` for every `subject[].digest` and `predicate.materials[].digest` entry of an
/// in-toto statement (§10.1 item 5) whose algorithm is one of [`IN_TOTO_INDEXED_DIGESTS`], at
/// most [`MAX_INTOTO_INDEX_KEYS`]: so each key is at most 135 bytes and one statement adds at
/// most about 35 KiB to the index. Not a statement → none.
///
/// # Errors
///
/// A digest of an indexed algorithm that is not hex of its length (upstream would index any
/// string, a NUL or 20 MiB included): the statement names no such artifact.
pub fn in_toto_keys(payload: &[u8]) -> Result<Vec<String>, EntryError> {
    if check_depth(payload, MAX_JSON_DEPTH).is_err() {
        return Ok(Vec::new());
    }
    let Ok(statement) = serde_json::from_slice::<Value>(payload) else {
        return Ok(Vec::new());
    };
    let digests = |items: Option<&Value>, what: &str| -> Result<Vec<String>, EntryError> {
        let mut out = Vec::new();
        for item in items.and_then(Value::as_array).into_iter().flatten() {
            let Some(Value::Object(digest)) = member(item, "digest") else {
                continue;
            };
            for (alg, d) in digest {
                let alg = alg.to_ascii_lowercase();
                let (Some((_, len)), Value::String(d)) =
                    (IN_TOTO_INDEXED_DIGESTS.iter().find(|(a, _)| *a == alg), d)
                else {
                    continue;
                };
                if d.len() != *len || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(EntryError::invalid(format!(
                        "in-toto statement: a {what} {alg} digest must be {len} hex digits, \
                         not {} bytes{}",
                        d.len(),
                        if d.contains('\0') { " with a NUL" } else { "" }
                    )));
                }
                out.push(format!("{alg}:{d}"));
            }
        }
        Ok(out)
    };
    let mut keys = digests(member(&statement, "subject"), "subject")?;
    keys.extend(digests(
        member(&statement, "predicate").and_then(|p| member(p, "materials")),
        "material",
    )?);
    keys.truncate(MAX_INTOTO_INDEX_KEYS);
    Ok(keys)
}

/// The fields of a stored `dsse` body (§6.3).
#[derive(Clone, Debug)]
pub struct DsseBody {
    /// Lower-case hex SHA-256 of the envelope as submitted.
    pub envelope_hash: String,
    /// Lower-case hex SHA-256 of the decoded payload.
    pub payload_hash: String,
    /// Each envelope signature (its standard base64 string, verbatim) and the key that
    /// verified it.
    pub signatures: Vec<(String, Verifier)>,
}

/// Reads a stored canonical `dsse` body into its fields. Neither the canonical form nor the
/// signatures are checked: a verifier compares the fields with the envelope it holds.
///
/// # Errors
///
/// [`EntryError::Invalid`] naming the missing or malformed field.
pub fn parse_body(body: &[u8]) -> Result<DsseBody, EntryError> {
    let value = super::parse_json(body)?;
    if value.get("kind").and_then(Value::as_str) != Some("dsse") {
        return Err(EntryError::invalid("the body is not a dsse entry"));
    }
    fields(&value)
}

fn fields(body: &Value) -> Result<DsseBody, EntryError> {
    let bad = |what: &str| EntryError::invalid(format!("stored dsse body: {what}"));
    if body.get("apiVersion").and_then(Value::as_str) != Some("0.0.1") {
        return Err(bad("apiVersion is not 0.0.1"));
    }
    let spec = &body["spec"];
    let hash_of = |name: &str| -> Result<String, EntryError> {
        let h = &spec[name];
        if h["algorithm"].as_str() != Some("sha256") {
            return Err(bad("hash algorithm is not sha256"));
        }
        match h["value"].as_str() {
            Some(v)
                if v.len() == 64 && v.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(v.to_owned())
            }
            _ => Err(bad("invalid hash value")),
        }
    };
    let envelope_hash = hash_of("envelopeHash")?;
    let payload_hash = hash_of("payloadHash")?;
    let sigs = spec["signatures"]
        .as_array()
        .ok_or_else(|| bad("no signatures"))?;
    if sigs.is_empty() || sigs.len() > MAX_DSSE_SIGNATURES {
        return Err(bad("wrong number of signatures"));
    }
    let mut signatures = Vec::with_capacity(sigs.len());
    for s in sigs {
        let sig = s["signature"].as_str().ok_or_else(|| bad("no signature"))?;
        if !b64::is_canonical_standard(sig) {
            return Err(bad("signature is not standard base64"));
        }
        let pem = s["verifier"].as_str().ok_or_else(|| bad("no verifier"))?;
        let pem = b64::decode_go(pem.as_bytes(), Alphabet::Standard)
            .map_err(|e| bad(&format!("verifier: {e}")))?;
        let verifier = Verifier::from_pem(&pem).map_err(EntryError::Invalid)?;
        signatures.push((sig.to_owned(), verifier));
    }
    Ok(DsseBody {
        envelope_hash,
        payload_hash,
        signatures,
    })
}

/// Re-reads a stored body: returns what [`build`] makes of its fields (for the caller to compare
/// with the stored bytes) and the index keys it determines. No signature verification.
pub(crate) fn reparse_body(body: &Value) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    let f = fields(body)?;
    Ok(build(&f.envelope_hash, &f.payload_hash, f.signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn envelope_members_fold_like_go() {
        let env: Envelope = serde_json::from_str(
            r#"{"PAYLOADTYPE":"t","payload":"x","payload":"cA==","extra":[1,{"a":2}],
                "\u017Fignatures":[null,{"\u212Aeyid":"k","SIG":"c2ln"}]}"#,
        )
        .unwrap();
        assert_eq!(env.payload_type, "t");
        assert_eq!(env.payload, "cA==");
        assert_eq!(env.signatures.len(), 2);
        assert_eq!(env.signatures[0].sig, "");
        assert_eq!(env.signatures[1].keyid, "k");
        assert_eq!(env.signatures[1].sig, "c2ln");
        assert!(serde_json::from_str::<Envelope>("[]").is_err());
        assert!(serde_json::from_str::<Envelope>(r#"{"payload":1}"#).is_err());
    }

    #[test]
    fn in_toto_subjects_and_materials() {
        let (a, b, c) = ("AA".repeat(32), "bb".repeat(64), "cc".repeat(20));
        let st = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v0.1",
            "subject":[{{"name":"a","digest":{{"sha256":"{a}","sha512":"{b}","gitCommit":"x"}}}},{{"name":"b"}}],
            "predicate":{{"materials":[{{"uri":"git+x","digest":{{"sha1":"{c}","sha384":"dd"}}}}]}}}}"#
        );
        let mut keys = in_toto_keys(st.as_bytes()).unwrap();
        keys.sort();
        assert_eq!(
            keys,
            [
                format!("sha1:{c}"),
                format!("sha256:{a}"),
                format!("sha512:{b}")
            ]
        );
        assert!(in_toto_keys(b"not json").unwrap().is_empty());
    }

    #[test]
    fn in_toto_digests_that_cannot_be_keys_are_refused() {
        let good = "ab".repeat(32);
        for bad in [
            format!("{good}\\u0000"),
            format!("{good}00"),
            "ab".into(),
            "zz".repeat(32),
            "a".repeat(20 << 20),
        ] {
            let st = format!(r#"{{"subject":[{{"digest":{{"sha256":"{bad}"}}}}]}}"#);
            let err = in_toto_keys(st.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("sha256 digest must be 64 hex digits"), "{err}");
        }
    }
}
