//! Rekor v2 entries (tiles-checkpoints-witnesses.md §6.2–6.3): a `CreateEntryRequest` with a
//! `hashedRekordRequestV002` or a `dsseRequestV002` → the validated `dev.sigstore.rekor.v2.Entry`
//! whose RFC 8785 form is the Merkle leaf.
//!
//! Keys, certificates and signatures are checked with the same code as Rekor v1 entries
//! ([`super::pki`]); what differs is the request shape, the `keyDetails` that name the
//! algorithm, and the stored entry. A DSSE envelope that a client logs as a hashedrekord over its
//! PAE (sigstore-python, upstream's recommendation since dsse v0.0.2 was deprecated) is simply a
//! hashedrekord here. `dsse` v0.0.2 is accepted as upstream accepted it before removing it,
//! because @sigstore/sign 4.1.1 still sends it.

use sha2::{Digest, Sha256};

use super::dsse::{IN_TOTO_PAYLOAD_TYPE, in_toto_keys, pae};
use super::jcs::{self, Node};
use super::pki::{Curve, HashAlg, KeyType, Verifier};
use super::{CanonicalEntry, EntryError, Kind, check_depth};
use crate::limits::{
    MAX_DSSE_SIGNATURES, MAX_DSSE_VERIFIERS, MAX_JSON_DEPTH, MAX_PUBLIC_KEY_BYTES,
    MAX_SIGNATURE_BYTES,
};
use crate::proto::common_v1::{HashAlgorithm, HashOutput, PublicKeyDetails};
use crate::proto::intoto::Envelope;
use crate::proto::rekor_v2::{
    self, CreateEntryRequest, DsseLogEntryV002, DsseRequestV002, Entry, HashedRekordLogEntryV002,
    HashedRekordRequestV002, Signature, Spec, create_entry_request, spec, verifier,
};

/// The `apiVersion` of every Rekor v2 entry.
pub const API_VERSION: &str = "0.0.2";

fn invalid(detail: impl Into<String>) -> EntryError {
    EntryError::InvalidRequest(detail.into())
}

/// `POST /api/v2/log/entries` body → the validated entry (§6.2–6.3). Unknown JSON fields,
/// duplicate fields and two entry types at once are refused, as upstream's strict gateway does.
pub fn canonicalize_request(json: &[u8]) -> Result<CanonicalEntry, EntryError> {
    check_depth(json, MAX_JSON_DEPTH).map_err(invalid)?;
    // The path names the field at fault (`hashedRekordRequestV002.digest: …`); the generated
    // reader names the first member of a oneof given twice as the duplicate.
    let request: CreateEntryRequest = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(json),
    )
    .map_err(|e| {
        let hint = if e.inner().to_string().contains("duplicate field") {
            " (a field given twice, or more than one entry type in one request)"
        } else {
            ""
        };
        let at = e.path().to_string();
        let at = if at == "." {
            String::new()
        } else {
            format!("{at}: ")
        };
        invalid(format!("invalid request body: {at}{}{hint}", e.inner()))
    })?;
    match request.spec {
        Some(create_entry_request::Spec::HashedRekordRequestV002(hr)) => hashedrekord(&hr),
        Some(create_entry_request::Spec::DsseRequestV002(ds)) => dsse(&ds),
        None => Err(invalid(
            "the request holds no entry: expected hashedRekordRequestV002 or dsseRequestV002",
        )),
    }
}

/// `hashedrekord` v0.0.2 (§6.2): checks in upstream's order, then the entry of §6.3.
fn hashedrekord(hr: &HashedRekordRequestV002) -> Result<CanonicalEntry, EntryError> {
    let what = |e: String| invalid(format!("invalid hashedrekord request: {e}"));
    let Some(signature) = hr.signature.as_ref().filter(|s| !s.content.is_empty()) else {
        return Err(what("missing signature".into()));
    };
    let Some(v) = &signature.verifier else {
        return Err(what("missing verifier".into()));
    };
    if hr.digest.is_empty() {
        return Err(what("missing digest".into()));
    }
    if signature.content.len() > MAX_SIGNATURE_BYTES {
        return Err(what(format!(
            "signature is larger than {MAX_SIGNATURE_BYTES} bytes"
        )));
    }
    let (verifier, stored) = parse_verifier(v).map_err(what)?;
    let alg = key_details_hash(v.key_details, &verifier).map_err(what)?;
    if hr.digest.len() != alg.digest_len() {
        return Err(what(format!(
            "digest length ({}) does not match expected size ({}) for algorithm {}",
            hr.digest.len(),
            alg.digest_len(),
            alg.name()
        )));
    }
    verifier
        .key()
        .verify_digest(alg, &hr.digest, &signature.content)
        .map_err(|e| what(format!("verifying signature: {e}")))?;

    let mut keys = vec![format!("{}:{}", alg.name(), hex::encode(&hr.digest))];
    keys.extend(verifier.index_keys());
    let entry = Entry {
        kind: Kind::HashedRekord.as_str().into(),
        api_version: API_VERSION.into(),
        spec: Some(Spec {
            spec: Some(spec::Spec::HashedRekordV002(HashedRekordLogEntryV002 {
                data: Some(HashOutput {
                    algorithm: hash_algorithm(alg).into(),
                    digest: hr.digest.clone(),
                }),
                signature: Some(Signature {
                    content: signature.content.clone(),
                    verifier: Some(stored),
                }),
            })),
        }),
    };
    CanonicalEntry::new(Kind::HashedRekord, canonical_bytes(&entry), keys)
}

/// `dsse` v0.0.2 (§6.3, as upstream had it before #744): every envelope signature must verify
/// with one of the verifiers; the entry keeps the payload's SHA-256 and each signature with
/// the verifier that verified it, sorted by the raw signature bytes. Signatures and verifiers
/// are capped by [`crate::limits`] as for v1 dsse (8 each; upstream allowed 10): each costs a
/// verification per verifier.
fn dsse(ds: &DsseRequestV002) -> Result<CanonicalEntry, EntryError> {
    let what = |e: String| invalid(format!("invalid dsse request: {e}"));
    let Some(envelope) = &ds.envelope else {
        return Err(what("missing envelope".into()));
    };
    if ds.verifiers.is_empty() {
        return Err(what("missing verifiers".into()));
    }
    if ds.verifiers.len() > MAX_DSSE_VERIFIERS {
        return Err(what(format!(
            "too many verifiers: {}, max allowed: {MAX_DSSE_VERIFIERS}",
            ds.verifiers.len()
        )));
    }
    let mut parsed = Vec::with_capacity(ds.verifiers.len());
    for (i, v) in ds.verifiers.iter().enumerate() {
        let (verifier, stored) =
            parse_verifier(v).map_err(|e| what(format!("verifier {i}: {e}")))?;
        // Upstream compares the raw bytes; so does this, after a key sent as a certificate is
        // named a key.
        if parsed
            .iter()
            .any(|(_, s, _): &(Verifier, rekor_v2::Verifier, HashAlg)| {
                s.verifier == stored.verifier
            })
        {
            return Err(what("duplicate verifier".into()));
        }
        let alg = key_details_hash(v.key_details, &verifier)
            .map_err(|e| what(format!("verifier {i}: {e}")))?;
        parsed.push((verifier, stored, alg));
    }
    let Envelope {
        payload,
        payload_type,
        signatures,
    } = envelope;
    if signatures.is_empty() {
        return Err(what("envelope missing signatures".into()));
    }
    if signatures.len() > MAX_DSSE_SIGNATURES {
        return Err(what(format!(
            "too many signatures: {}, max allowed: {MAX_DSSE_SIGNATURES}",
            signatures.len()
        )));
    }
    // Distinct signatures (upstream keys them by value), each waiting for a verifier.
    let mut pending: Vec<&[u8]> = Vec::with_capacity(signatures.len());
    for s in signatures {
        if s.sig.is_empty() {
            return Err(what("envelope signature empty".into()));
        }
        if s.sig.len() > MAX_SIGNATURE_BYTES {
            return Err(what(format!(
                "envelope signature is larger than {MAX_SIGNATURE_BYTES} bytes"
            )));
        }
        if !pending.contains(&s.sig.as_slice()) {
            pending.push(&s.sig);
        }
    }

    let pae = pae(payload_type, payload);
    let mut verified: Vec<Signature> = Vec::with_capacity(pending.len());
    let mut keys = Vec::new();
    for (i, (verifier, stored, alg)) in parsed.iter().enumerate() {
        if pending.is_empty() {
            break;
        }
        let digest = alg.digest(&pae);
        let before = pending.len();
        pending.retain(|sig| {
            let ok = verifier.key().verify_dsse(&pae, *alg, &digest, sig).is_ok();
            if ok {
                verified.push(Signature {
                    content: sig.to_vec(),
                    verifier: Some(stored.clone()),
                });
            }
            !ok
        });
        if pending.len() == before {
            return Err(what(format!(
                "could not verify envelope: no signature verifies with verifier {i}"
            )));
        }
        keys.extend(verifier.index_keys());
    }
    if !pending.is_empty() {
        return Err(what(
            "all signatures must have a key that verifies it".into(),
        ));
    }
    verified.sort_by(|a, b| a.content.cmp(&b.content));

    let payload_hash = Sha256::digest(payload);
    keys.push(format!("sha256:{}", hex::encode(payload_hash)));
    if payload_type == IN_TOTO_PAYLOAD_TYPE {
        keys.extend(in_toto_keys(payload).map_err(|e| match e {
            EntryError::Invalid(m) => what(m),
            other => other,
        })?);
    }
    let entry = Entry {
        kind: Kind::Dsse.as_str().into(),
        api_version: API_VERSION.into(),
        spec: Some(Spec {
            spec: Some(spec::Spec::DsseV002(DsseLogEntryV002 {
                payload_hash: Some(HashOutput {
                    algorithm: HashAlgorithm::Sha2256.into(),
                    digest: payload_hash.to_vec(),
                }),
                signatures: verified,
            })),
        }),
    };
    CanonicalEntry::new(Kind::Dsse, canonical_bytes(&entry), keys)
}

/// Parses a request's verifier (§6.2 step 2; certificates are not chain-validated) and returns
/// it with the verifier to store: the request's, verbatim — except that a bare
/// SubjectPublicKeyInfo sent as `x509Certificate` is stored as the `publicKey` it is.
/// @sigstore/sign 4.1.1 sends every key that way (its `toCreateEntryRequest` always fills
/// `x509Certificate` with the DER of whatever PEM the signer gave); upstream refuses it, which
/// leaves key-based JS signers no way to use Rekor v2, and recording it under its true name keeps
/// the log's entries parseable by everyone.
fn parse_verifier(v: &rekor_v2::Verifier) -> Result<(Verifier, rekor_v2::Verifier), String> {
    let (raw, is_key) = match &v.verifier {
        None => return Err("missing signature public key or X.509 certificate".into()),
        Some(verifier::Verifier::PublicKey(k)) => (&k.raw_bytes, true),
        Some(verifier::Verifier::X509Certificate(c)) => (&c.raw_bytes, false),
    };
    if raw.is_empty() {
        return Err(if is_key {
            "missing public key raw bytes"
        } else {
            "missing X.509 certificate raw bytes"
        }
        .into());
    }
    if raw.len() > MAX_PUBLIC_KEY_BYTES {
        return Err(format!(
            "verifier is larger than {MAX_PUBLIC_KEY_BYTES} bytes"
        ));
    }
    if is_key {
        let parsed =
            Verifier::from_spki_der(raw).map_err(|e| format!("parsing public key: {e}"))?;
        return Ok((parsed, v.clone()));
    }
    match Verifier::from_certificate_ders(&[raw]) {
        Ok(parsed) => Ok((parsed, v.clone())),
        Err(cert_error) => {
            let parsed = Verifier::from_spki_der(raw)
                .map_err(|_| format!("parsing certificate: {cert_error}"))?;
            let as_key = rekor_v2::Verifier {
                verifier: Some(verifier::Verifier::PublicKey(rekor_v2::PublicKey {
                    raw_bytes: raw.clone(),
                })),
                key_details: v.key_details,
            };
            Ok((parsed, as_key))
        }
    }
}

/// The digest algorithm `details` names, if the server allows it (§6.2 step 3, upstream's
/// default list) and `verifier`'s key is of the type it names. The hashedrekord algorithm policy
/// of Rekor v1 (`policy_allows`) is then satisfied by construction, and checked all the same.
fn key_details_hash(details: i32, verifier: &Verifier) -> Result<HashAlg, String> {
    use PublicKeyDetails as D;
    // The request's JSON was read by name or known number, so this holds a known value.
    let details = D::try_from(details).map_err(|_| format!("unknown key details {details}"))?;
    let key = verifier.key();
    // Go sizes RSA keys in whole bytes.
    let rsa_bits =
        |bits: usize| matches!(key.key_type(), KeyType::Rsa(b) if b.div_ceil(8) * 8 == bits);
    let (alg, matches) = match details {
        D::PkixEcdsaP256Sha256 => (
            HashAlg::Sha256,
            key.key_type() == KeyType::Ecdsa(Curve::P256),
        ),
        D::PkixEcdsaP384Sha384 => (
            HashAlg::Sha384,
            key.key_type() == KeyType::Ecdsa(Curve::P384),
        ),
        D::PkixEcdsaP521Sha512 => (
            HashAlg::Sha512,
            key.key_type() == KeyType::Ecdsa(Curve::P521),
        ),
        D::PkixRsaPkcs1v152048Sha256 => (HashAlg::Sha256, rsa_bits(2048)),
        D::PkixRsaPkcs1v153072Sha256 => (HashAlg::Sha256, rsa_bits(3072)),
        D::PkixRsaPkcs1v154096Sha256 => (HashAlg::Sha256, rsa_bits(4096)),
        D::PkixEd25519Ph => (HashAlg::Sha512, key.key_type() == KeyType::Ed25519),
        other => {
            return Err(format!(
                "unsupported key details {}: allowed are PKIX_ECDSA_P256_SHA_256, \
                 PKIX_ECDSA_P384_SHA_384, PKIX_ECDSA_P521_SHA_512, \
                 PKIX_RSA_PKCS1V15_2048_SHA256, PKIX_RSA_PKCS1V15_3072_SHA256, \
                 PKIX_RSA_PKCS1V15_4096_SHA256 and PKIX_ED25519_PH",
                other.as_str_name()
            ));
        }
    };
    if !matches || !key.policy_allows(alg) {
        return Err(format!(
            "key details {} do not match the {} key",
            details.as_str_name(),
            key_name(key.key_type())
        ));
    }
    Ok(alg)
}

fn key_name(key_type: KeyType) -> String {
    match key_type {
        KeyType::Ecdsa(Curve::P256) => "ECDSA P-256".into(),
        KeyType::Ecdsa(Curve::P384) => "ECDSA P-384".into(),
        KeyType::Ecdsa(Curve::P521) => "ECDSA P-521".into(),
        KeyType::Rsa(bits) => format!("RSA-{bits}"),
        KeyType::Ed25519 => "Ed25519".into(),
    }
}

fn hash_algorithm(alg: HashAlg) -> HashAlgorithm {
    match alg {
        HashAlg::Sha256 => HashAlgorithm::Sha2256,
        HashAlg::Sha384 => HashAlgorithm::Sha2384,
        HashAlg::Sha512 => HashAlgorithm::Sha2512,
    }
}

/// §6.3: proto3 JSON (defaults omitted, as protojson writes it), then RFC 8785.
fn canonical_bytes(entry: &Entry) -> Vec<u8> {
    let value = serde_json::to_value(entry).expect("generated messages always serialize");
    let node = Node::from_value(&value).expect("a Rekor v2 entry holds only strings");
    jcs::to_vec(&node)
}

/// The digest algorithm, digest and signature of a stored `hashedrekord` v0.0.2 (§6.3).
fn hashedrekord_parts(
    hr: &HashedRekordLogEntryV002,
) -> Result<(HashAlg, &[u8], &Signature), String> {
    let data = hr.data.as_ref().ok_or("no data")?;
    let alg = match HashAlgorithm::try_from(data.algorithm) {
        Ok(HashAlgorithm::Sha2256) => HashAlg::Sha256,
        Ok(HashAlgorithm::Sha2384) => HashAlg::Sha384,
        Ok(HashAlgorithm::Sha2512) => HashAlg::Sha512,
        _ => return Err("unsupported digest algorithm".into()),
    };
    let signature = hr.signature.as_ref().ok_or("no signature")?;
    Ok((alg, &data.digest, signature))
}

/// What a stored `hashedrekord` v0.0.2 body records (§6.3), for a verifier to compare with the
/// artifact: the digest and its algorithm, the signature, and the verifier (a key, or the
/// signing certificate) with its bytes as stored.
#[derive(Debug)]
pub struct HashedRekordBody {
    pub algorithm: HashAlg,
    pub digest: Vec<u8>,
    pub signature: Vec<u8>,
    pub verifier: Verifier,
    /// The stored key's SubjectPublicKeyInfo or certificate, DER.
    pub verifier_der: Vec<u8>,
}

/// Reads a stored `hashedrekord` v0.0.2 body (a Rekor v2 bundle's `canonicalizedBody`). The
/// signature is not verified here: the verifier checks it with the key it trusts.
///
/// # Errors
///
/// [`EntryError::InvalidRequest`] for a body that is not one.
pub fn parse_hashedrekord_body(body: &[u8]) -> Result<HashedRekordBody, EntryError> {
    let bad = |what: String| EntryError::invalid(format!("not a hashedrekord v0.0.2 body: {what}"));
    let entry: Entry = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let Some(spec::Spec::HashedRekordV002(hr)) = entry.spec.as_ref().and_then(|s| s.spec.as_ref())
    else {
        return Err(bad("no hashedRekordV002 spec".into()));
    };
    if entry.kind != Kind::HashedRekord.as_str() || entry.api_version != API_VERSION {
        return Err(bad(format!(
            "kind {:?} apiVersion {:?}",
            entry.kind, entry.api_version
        )));
    }
    let (algorithm, digest, signature) = hashedrekord_parts(hr).map_err(bad)?;
    let stored = signature
        .verifier
        .as_ref()
        .ok_or_else(|| bad("no verifier".into()))?;
    let verifier_der = match &stored.verifier {
        Some(verifier::Verifier::PublicKey(k)) => k.raw_bytes.clone(),
        Some(verifier::Verifier::X509Certificate(c)) => c.raw_bytes.clone(),
        None => return Err(bad("no verifier".into())),
    };
    let (verifier, _) = parse_verifier(stored).map_err(bad)?;
    Ok(HashedRekordBody {
        algorithm,
        digest: digest.to_vec(),
        signature: signature.content.clone(),
        verifier,
        verifier_der,
    })
}

/// Re-reads a stored v2 body: the bytes [`canonical_bytes`] makes of it (for the caller to
/// compare with the stored ones) and its search-index keys. No signature verification; the
/// in-toto keys of a dsse entry cannot be re-derived (the envelope is not stored).
pub(crate) fn reparse_body(body: &[u8]) -> Result<(Vec<u8>, Vec<String>), EntryError> {
    let bad = |what: String| EntryError::invalid(format!("stored v2 body: {what}"));
    let entry: Entry = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    if entry.api_version != API_VERSION {
        return Err(bad(format!("apiVersion is not {API_VERSION}")));
    }
    let verifier_of = |s: &Signature| -> Result<Verifier, EntryError> {
        let v = s
            .verifier
            .as_ref()
            .ok_or_else(|| bad("no verifier".into()))?;
        let (parsed, stored) = parse_verifier(v).map_err(bad)?;
        if &stored != v {
            return Err(bad("a key is stored as a certificate".into()));
        }
        Ok(parsed)
    };
    let mut keys = Vec::new();
    match entry.spec.as_ref().and_then(|s| s.spec.as_ref()) {
        Some(spec::Spec::HashedRekordV002(hr)) if entry.kind == Kind::HashedRekord.as_str() => {
            let (alg, digest, signature) = hashedrekord_parts(hr).map_err(bad)?;
            keys.push(format!("{}:{}", alg.name(), hex::encode(digest)));
            keys.extend(verifier_of(signature)?.index_keys());
        }
        Some(spec::Spec::DsseV002(ds)) if entry.kind == Kind::Dsse.as_str() => {
            for s in &ds.signatures {
                keys.extend(verifier_of(s)?.index_keys());
            }
            let hash = ds
                .payload_hash
                .as_ref()
                .ok_or_else(|| bad("no payload hash".into()))?;
            keys.push(format!("sha256:{}", hex::encode(&hash.digest)));
        }
        _ => return Err(bad("kind and spec do not match".into())),
    }
    Ok((canonical_bytes(&entry), keys))
}
