//! Validation and canonical bodies of Rekor v1 proposed entries: `hashedrekord`, `rekord` and
//! `dsse` v0.0.1, `intoto` v0.0.1 and v0.0.2 (rekor-v1-api.md §3.1, §5, §5a, §6, §6a, §7, §10.1); and of Rekor v2 requests, `hashedrekord`
//! and `dsse` v0.0.2 ([`v2`], tiles-checkpoints-witnesses.md §6.2–6.3), which share the key,
//! certificate and signature code of [`pki`] and go into the same tree.
//!
//! Pure, as rekor-tiles' `ToLogEntry` (STYLE.md §4): bytes or a parsed JSON value in, a
//! [`CanonicalEntry`] (the JCS body that is the Merkle leaf, its leaf hash and its search-index
//! keys) or an [`EntryError`] out. No I/O, no clock, no global registry; every input dimension is
//! bounded by a constant of [`crate::limits`]; everything is iterated in a fixed order.
//!
//! Processing order (§3.1): `kind` → `apiVersion` → `spec` → kind enabled? → version supported?
//! → the kind's own validation, which verifies the signature(s) → (hashedrekord) the algorithm
//! policy → canonical body.

mod b64;
pub mod dsse;
pub mod hashedrekord;
pub mod intoto;
mod jcs;
pub mod pki;
pub mod rekord;
pub mod v2;

use serde_json::Value;

use crate::limits::{MAX_CANONICAL_BODY_BYTES, MAX_JSON_DEPTH};
use crate::merkle::{self, Hash};

/// The entry kinds Arkivo accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    HashedRekord,
    Rekord,
    Dsse,
    Intoto,
}

impl Kind {
    /// The `kind` string of the wire format.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::HashedRekord => "hashedrekord",
            Kind::Rekord => "rekord",
            Kind::Dsse => "dsse",
            Kind::Intoto => "intoto",
        }
    }

    /// The Rekor v1 `apiVersion`s Arkivo implements for this kind (v2: [`v2::API_VERSION`]).
    pub fn api_versions(&self) -> &'static [&'static str] {
        match self {
            Kind::HashedRekord | Kind::Rekord | Kind::Dsse => &["0.0.1"],
            Kind::Intoto => &["0.0.1", "0.0.2"],
        }
    }
}

/// Every kind upstream Rekor knows (§3.1); those other than ours are "not enabled".
pub const KNOWN_KINDS: [&str; 11] = [
    "alpine",
    "cose",
    "dsse",
    "hashedrekord",
    "helm",
    "intoto",
    "jar",
    "rekord",
    "rfc3161",
    "rpm",
    "tuf",
];

/// A validated entry, ready to be appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalEntry {
    pub kind: Kind,
    /// The canonical body, RFC 8785 (JCS) bytes = the Merkle leaf (§5.3, §6.3, §7).
    pub body: Vec<u8>,
    /// `record_hash(&body)`: SHA-256(0x00 ‖ body); hex of it is the entry UUID.
    pub leaf_hash: Hash,
    /// Search-index keys (§10.1): lower-cased, sorted, deduplicated.
    pub index_keys: Vec<String>,
}

impl CanonicalEntry {
    /// The entry of a canonical body, of either API; refused when the body is larger than a
    /// tile entry bundle can carry ([`MAX_CANONICAL_BODY_BYTES`]).
    fn new(kind: Kind, body: Vec<u8>, keys: Vec<String>) -> Result<CanonicalEntry, EntryError> {
        if body.len() > MAX_CANONICAL_BODY_BYTES {
            return Err(EntryError::Invalid(format!(
                "the canonical entry would be {} bytes, more than the {MAX_CANONICAL_BODY_BYTES} \
                 a log entry may have (the tile entry bundles give each entry a 16-bit length); \
                 use a smaller certificate or chain",
                body.len()
            )));
        }
        for key in &keys {
            check_index_key(key).map_err(|e| {
                EntryError::Invalid(format!(
                    "{e} (a certificate's subject alternative name or an in-toto digest)"
                ))
            })?;
        }
        let leaf_hash = merkle::record_hash(&body);
        Ok(CanonicalEntry {
            kind,
            body,
            leaf_hash,
            index_keys: normalize_keys(keys),
        })
    }
}

/// Why a proposed entry was refused. `Display` is the exact upstream message;
/// [`EntryError::status`] and [`EntryError::code`] give the HTTP status and the error body's `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Not JSON, too deep, or not an object; or a top-level member of the wrong JSON type.
    #[error("parsing proposedEntry body from \"\" failed, because {0}")]
    Malformed(String),
    /// `kind` missing or empty.
    #[error("kind in body is required")]
    MissingKind,
    /// `kind` is none of upstream's kinds.
    #[error("invalid kind value: {}", go_quote(.0))]
    UnknownKind(String),
    /// A kind upstream knows but Arkivo does not implement.
    #[error(
        "error processing entry: entry kind '{0}' is not enabled for submission on this server"
    )]
    KindNotEnabled(String),
    /// `apiVersion` missing or empty.
    #[error("apiVersion in body is required")]
    MissingApiVersion,
    /// `apiVersion` is not semver-shaped (the schema pattern).
    #[error("apiVersion in body should match '{}'", SEMVER_PATTERN)]
    InvalidApiVersion(String),
    /// `spec` missing (or null).
    #[error("spec in body is required")]
    MissingSpec,
    /// A version of a supported kind that Arkivo does not implement.
    #[error(
        "error processing entry: {kind} implementation for version '{version}' not found: unable to locate entry for version {version}"
    )]
    UnsupportedVersion { kind: String, version: String },
    /// Bad spec, base64, PEM, signature, policy, DSSE problems.
    #[error("error processing entry: {0}")]
    Invalid(String),
    /// A Rekor v2 request that is not valid, with what is wrong (tiles-checkpoints-witnesses.md §6.2).
    #[error("{0}")]
    InvalidRequest(String),
}

/// The `apiVersion` pattern of upstream's swagger (semantic versioning 2.0).
const SEMVER_PATTERN: &str = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$";

impl EntryError {
    /// HTTP status (§3.1 error table).
    pub fn status(&self) -> u16 {
        match self {
            EntryError::Malformed(_) => 400,
            EntryError::MissingKind
            | EntryError::UnknownKind(_)
            | EntryError::MissingApiVersion
            | EntryError::InvalidApiVersion(_)
            | EntryError::MissingSpec => 422,
            EntryError::KindNotEnabled(_)
            | EntryError::UnsupportedVersion { .. }
            | EntryError::Invalid(_)
            | EntryError::InvalidRequest(_) => 400,
        }
    }

    /// The `code` member of the Rekor error body (§1.4): the status for handler errors, a
    /// go-openapi validation code for schema errors.
    pub fn code(&self) -> u16 {
        match self {
            EntryError::MissingKind | EntryError::MissingApiVersion | EntryError::MissingSpec => {
                602
            }
            EntryError::InvalidApiVersion(_) => 605,
            other => other.status(),
        }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> EntryError {
        EntryError::Invalid(detail.into())
    }
}

/// Go's `%q` for the ASCII strings that matter here (Rust's `{:?}` differs only on exotic input).
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Is `v` shaped like a semantic version (the swagger `apiVersion` pattern)?
fn is_semver(v: &str) -> bool {
    let (core, _build) = match v.split_once('+') {
        Some((c, b)) => {
            let ok = !b.is_empty()
                && b.split('.').all(|p| {
                    !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                });
            if !ok {
                return false;
            }
            (c, Some(b))
        }
        None => (v, None),
    };
    let (version, pre) = match core.split_once('-') {
        Some((v, p)) => (v, Some(p)),
        None => (core, None),
    };
    let numeric = |p: &str| {
        !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
    };
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| numeric(p)) {
        return false;
    }
    match pre {
        None => true,
        Some(pre) => pre.split('.').all(|p| {
            !p.is_empty()
                && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && (!p.bytes().all(|c| c.is_ascii_digit()) || numeric(p))
        }),
    }
}

/// How many signature verifications a validation may still do: each signature of a certificate
/// chain and each signature tried against a key counts one. One entry is bounded by the limits
/// of [`crate::limits`] (a dsse entry up to about 140 verifications); where a request validates
/// entries for nothing in return (retrieve, §3.4), a budget bounds what the request costs.
#[derive(Debug)]
pub struct VerifyBudget {
    limit: usize,
    spent: usize,
}

impl VerifyBudget {
    pub fn new(limit: usize) -> VerifyBudget {
        VerifyBudget { limit, spent: 0 }
    }

    /// Takes `n` verifications from the budget, or fails naming the limit.
    pub(crate) fn spend(&mut self, n: usize) -> Result<(), EntryError> {
        self.spent = self.spent.saturating_add(n);
        if self.spent > self.limit {
            return Err(EntryError::invalid(format!(
                "validating the proposed entries needs more than the {} signature verifications \
                 one request may do",
                self.limit
            )));
        }
        Ok(())
    }
}

/// A Rekor v1 proposed entry (`{"apiVersion","kind","spec"}`) → validated canonical entry.
pub fn canonicalize(proposed: &Value) -> Result<CanonicalEntry, EntryError> {
    canonicalize_within(proposed, &mut VerifyBudget::new(usize::MAX))
}

/// [`canonicalize`], doing at most what is left of `budget` in signature verifications.
pub fn canonicalize_within(
    proposed: &Value,
    budget: &mut VerifyBudget,
) -> Result<CanonicalEntry, EntryError> {
    let Value::Object(obj) = proposed else {
        return Err(EntryError::Malformed(format!(
            "json: cannot unmarshal {} into Go value of type models.ProposedEntry",
            json_type(proposed)
        )));
    };
    let kind = match obj.get("kind") {
        None | Some(Value::Null) => return Err(EntryError::MissingKind),
        Some(Value::String(k)) if k.is_empty() => return Err(EntryError::MissingKind),
        Some(Value::String(k)) => k.as_str(),
        Some(other) => return Err(type_error("kind", other)),
    };
    let kind = match kind {
        "hashedrekord" => Ok(Kind::HashedRekord),
        "rekord" => Ok(Kind::Rekord),
        "dsse" => Ok(Kind::Dsse),
        "intoto" => Ok(Kind::Intoto),
        k if KNOWN_KINDS.contains(&k) => Err(k),
        k => return Err(EntryError::UnknownKind(k.to_owned())),
    };
    let version = match obj.get("apiVersion") {
        None | Some(Value::Null) => return Err(EntryError::MissingApiVersion),
        Some(Value::String(v)) if v.is_empty() => return Err(EntryError::MissingApiVersion),
        Some(Value::String(v)) => v.as_str(),
        Some(other) => return Err(type_error("apiVersion", other)),
    };
    if !is_semver(version) {
        return Err(EntryError::InvalidApiVersion(version.to_owned()));
    }
    let spec = match obj.get("spec") {
        None | Some(Value::Null) => return Err(EntryError::MissingSpec),
        Some(spec) => spec,
    };
    let kind = kind.map_err(|k| EntryError::KindNotEnabled(k.to_owned()))?;
    if !kind.api_versions().contains(&version) {
        return Err(EntryError::UnsupportedVersion {
            kind: kind.as_str().to_owned(),
            version: version.to_owned(),
        });
    }
    let (body, keys) = match kind {
        Kind::HashedRekord => hashedrekord::canonicalize_spec(spec, budget)?,
        Kind::Rekord => rekord::canonicalize_spec(spec, budget)?,
        Kind::Dsse => dsse::canonicalize_spec(spec, budget)?,
        Kind::Intoto if version == "0.0.1" => intoto::canonicalize_v001(spec, budget)?,
        Kind::Intoto => intoto::canonicalize_v002(spec, budget)?,
    };
    CanonicalEntry::new(kind, body, keys)
}

/// Same as [`canonicalize`], from raw request bytes (JSON errors → [`EntryError::Malformed`];
/// nesting deeper than [`MAX_JSON_DEPTH`] is refused before parsing).
pub fn canonicalize_bytes(json: &[u8]) -> Result<CanonicalEntry, EntryError> {
    let value = parse_json(json)?;
    canonicalize(&value)
}

/// Parses a stored canonical body back and re-derives its search-index keys, checking that the
/// body is exactly what [`canonicalize`] (or [`v2::canonicalize_request`]) would have produced (JCS, canonical PEM, canonical
/// base64, sorted signatures). Signatures are not re-verified.
///
/// For `dsse` and `intoto`, the keys taken from the in-toto statement (§10.1 item 5) cannot be
/// re-derived: the payload is not stored. All other keys are.
pub fn index_keys_of_body(body: &[u8]) -> Result<Vec<String>, EntryError> {
    let value = parse_json(body)?;
    let obj = value
        .as_object()
        .ok_or_else(|| EntryError::invalid("body is not an object"))?;
    let kind = obj.get("kind").and_then(Value::as_str);
    let version = obj.get("apiVersion").and_then(Value::as_str);
    let (rebuilt, keys) = match (kind, version) {
        (Some("intoto"), _) => intoto::reparse_body(&value)?,
        (_, Some(v2::API_VERSION)) => v2::reparse_body(body)?,
        (Some("hashedrekord"), _) => hashedrekord::reparse_body(&value)?,
        (Some("rekord"), _) => rekord::reparse_body(&value)?,
        (Some("dsse"), _) => dsse::reparse_body(&value)?,
        _ => return Err(EntryError::invalid("body has no supported kind")),
    };
    if rebuilt != body {
        return Err(EntryError::invalid("body is not in canonical form"));
    }
    Ok(normalize_keys(keys))
}

/// The kind and `apiVersion` of a stored canonical body, v1 or v2 (cheap: no verification, no
/// canonical-form check).
pub fn kind_of_body(body: &[u8]) -> Result<(Kind, &'static str), EntryError> {
    let value = parse_json(body)?;
    let kind = match value.get("kind").and_then(Value::as_str) {
        Some("hashedrekord") => Kind::HashedRekord,
        Some("rekord") => Kind::Rekord,
        Some("dsse") => Kind::Dsse,
        Some("intoto") => Kind::Intoto,
        _ => return Err(EntryError::invalid("body has no supported kind")),
    };
    let version = value.get("apiVersion").and_then(Value::as_str);
    kind.api_versions()
        .iter()
        .chain(match kind {
            Kind::HashedRekord | Kind::Dsse => &[v2::API_VERSION][..],
            Kind::Rekord | Kind::Intoto => &[],
        })
        .find(|v| Some(**v) == version)
        .map(|v| (kind, *v))
        .ok_or_else(|| EntryError::invalid("body has no supported apiVersion"))
}

/// The `publicKey` search keys of §10.2: `pem` (decoded `publicKey.content` of a search request,
/// x509 format) parsed as in §5.1 — key, certificate or chain, not verified. First the key
/// itself ([`pki::Verifier::spki_index_key`]), which finds every entry of that key, bare or in a
/// certificate; then upstream's lower-case hex SHA-256 of the re-canonicalised PEM (the
/// hashedrekord key-index key), which also finds the entries written before Arkivo indexed keys
/// themselves.
pub fn public_key_index_keys(pem: &[u8]) -> Result<[String; 2], EntryError> {
    let verifier = pki::Verifier::from_pem(pem).map_err(EntryError::Invalid)?;
    Ok([verifier.spki_index_key(), verifier.pem_sha256_hex()])
}

/// Whether `key` can be a search-index key: anything but a NUL, which the stored rows use as the
/// separator (a search term or an entry's key with one is refused, never stored).
///
/// # Errors
///
/// What is wrong with it, naming the key (escaped).
pub fn check_index_key(key: &str) -> Result<(), String> {
    if key.contains('\0') {
        return Err(format!("{key:?} cannot be a search key: it contains a NUL"));
    }
    Ok(())
}

fn normalize_keys(keys: Vec<String>) -> Vec<String> {
    let mut keys: Vec<String> = keys.into_iter().map(|k| k.to_lowercase()).collect();
    keys.sort();
    keys.dedup();
    keys
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(member: &str, v: &Value) -> EntryError {
    EntryError::Malformed(format!("{member} must be a string, not {}", json_type(v)))
}

/// Parses JSON after checking its nesting depth, so that no parser recursion limit is ever the
/// only guard.
pub(crate) fn parse_json(json: &[u8]) -> Result<Value, EntryError> {
    check_depth(json, MAX_JSON_DEPTH).map_err(EntryError::Malformed)?;
    serde_json::from_slice(json).map_err(|e| EntryError::Malformed(e.to_string()))
}

/// Fails if `[`/`{` nest deeper than `max` outside strings. Linear, no allocation; brackets of
/// invalid JSON are counted as seen (the parser reports the real error afterwards).
pub(crate) fn check_depth(json: &[u8], max: usize) -> Result<(), String> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &c in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(format!("JSON nested deeper than {max} levels"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A member of a JSON object that must be an object if present (`null` counts as absent).
pub(crate) fn get_obj<'a>(
    v: &'a serde_json::Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, EntryError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(EntryError::invalid(format!(
            "{path} in body must be of type object: {:?}",
            json_type(other)
        ))),
    }
}

/// A member of a JSON object that must be a string if present (`null` counts as absent).
pub(crate) fn get_str<'a>(
    v: &'a serde_json::Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a str>, EntryError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(EntryError::invalid(format!(
            "{path} in body must be of type string: {:?}",
            json_type(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_shapes() {
        for ok in [
            "0.0.1",
            "0.0.2",
            "10.20.30",
            "1.0.0-alpha.1",
            "1.0.0+build.5",
            "1.0.0-x-y",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "", "0.0", "01.0.0", "0.0.1.", "v0.0.1", "0.0.1-", "0.0.1+", "0.0.1-01", "a.b.c",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn depth_check_ignores_brackets_in_strings() {
        assert!(check_depth(b"[[[]]]", 3).is_ok());
        assert!(check_depth(b"[[[[]]]]", 3).is_err());
        assert!(check_depth(br#"{"a":"[[[[[[\"[[["}"#, 1).is_ok());
    }

    #[test]
    fn statuses_and_codes() {
        let cases = [
            (EntryError::Malformed("x".into()), 400, 400),
            (EntryError::MissingKind, 422, 602),
            (EntryError::UnknownKind("foo".into()), 422, 422),
            (EntryError::KindNotEnabled("rpm".into()), 400, 400),
            (EntryError::MissingApiVersion, 422, 602),
            (EntryError::InvalidApiVersion("x".into()), 422, 605),
            (EntryError::MissingSpec, 422, 602),
            (
                EntryError::UnsupportedVersion {
                    kind: "dsse".into(),
                    version: "0.0.2".into(),
                },
                400,
                400,
            ),
            (EntryError::Invalid("x".into()), 400, 400),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status(), e.code()), (status, code), "{e:?}");
        }
    }
}
