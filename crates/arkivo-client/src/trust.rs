//! Which logs a verifier trusts: a log's public key (`--log-key`), or the logs of a Sigstore
//! TrustedRoot (`--trusted-root`, tiles-checkpoints-witnesses.md §7.4), as [`TrustedLog`]s.
//!
//! Rekor v1 entries are bound to their log by the log ID (SHA-256 of the log key's DER
//! SubjectPublicKeyInfo, rekor-v1-api.md §2), and the SET and checkpoint are ECDSA P-256
//! signatures (§4, §8): the only log keys used here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::pkcs8::DecodePublicKey as _;
use sha2::{Digest as _, Sha256};

use arkivo_core::signer::EcdsaVerifyingKey;
use arkivo_core::wire::{TrustedRoot, ValidFor};

/// A log whose entries a verifier accepts.
#[derive(Clone, Debug)]
pub struct TrustedLog {
    /// SHA-256 of the key's DER SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
    pub key: EcdsaVerifyingKey,
    /// Unix seconds the key is valid from and until (inclusive; from a trusted root's
    /// `validFor`); an entry integrated outside them is refused.
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    /// The trusted root's `baseUrl`: the checkpoint's signer name must occur in it, as
    /// sigstore-js requires (rekor-v1-api.md §8.2).
    pub base_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{what} is not an ECDSA P-256 public key (a Rekor v1 log key): {detail}")]
    NotALogKey { what: String, detail: String },
    #[error("{what} is not a Sigstore trusted root: {detail}")]
    NotATrustedRoot { what: String, detail: String },
    #[error("{what} does not list the log key {key} (SHA-256 of its DER)")]
    KeyNotListed { what: String, key: String },
    #[error(
        "{what} lists no certificate authority whose chain ends in the root {root} (SHA-256 of its DER)"
    )]
    CaNotListed { what: String, root: String },
}

impl TrustedLog {
    /// A log known by its public key alone, valid at any time.
    ///
    /// # Errors
    ///
    /// [`TrustError::NotALogKey`] unless `pem` is an SPKI PEM ECDSA P-256 key.
    pub fn from_public_key_pem(pem: &str, what: &str) -> Result<TrustedLog, TrustError> {
        let key = EcdsaVerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| {
            TrustError::NotALogKey {
                what: what.to_owned(),
                detail: e.to_string(),
            }
        })?;
        Ok(TrustedLog::from_key(key))
    }

    fn from_key(key: EcdsaVerifyingKey) -> TrustedLog {
        TrustedLog {
            log_id: arkivo_core::signer::ecdsa_log_id(&key),
            key,
            valid_from: None,
            valid_until: None,
            base_url: None,
        }
    }

    pub fn log_id_hex(&self) -> String {
        hex::encode(self.log_id)
    }
}

/// The part of a served trusted root that `pinned` (DER SubjectPublicKeyInfos),
/// `pinned_ca_roots` (DER root certificates) and `pinned_ct_logs` (DER SubjectPublicKeyInfos)
/// vouch for: the `tlogs` whose key is one of `pinned`, the `certificateAuthorities` whose chain
/// ends in one of `pinned_ca_roots` and the `ctlogs` whose key is one of `pinned_ct_logs`, as
/// served (their `validFor`, `baseUrl`, IDs, intermediates), and nothing else. Every other log
/// certificate authority and CT log, and every timestamp authority, is dropped: a root a
/// client writes is trusted by whoever reads it (cosign, sigstore-js, admission controllers),
/// so whatever the server or anyone on the path added must not come out of it. Returns the
/// root and one line per dropped authority.
///
/// # Errors
///
/// [`TrustError::KeyNotListed`] if a pinned key is not among the served logs (or CT logs),
/// [`TrustError::CaNotListed`] if a pinned root ends no served certificate authority's chain.
pub fn pinned_root(
    served: &TrustedRoot,
    pinned: &[Vec<u8>],
    pinned_ca_roots: &[Vec<u8>],
    pinned_ct_logs: &[Vec<u8>],
    what: &str,
) -> Result<(TrustedRoot, Vec<String>), TrustError> {
    let key_of =
        |t: &arkivo_core::wire::TransparencyLogInstance| B64.decode(&t.public_key.raw_bytes).ok();
    for (der, logs) in pinned
        .iter()
        .map(|d| (d, &served.tlogs))
        .chain(pinned_ct_logs.iter().map(|d| (d, &served.ctlogs)))
    {
        if !logs.iter().any(|t| key_of(t).as_ref() == Some(der)) {
            return Err(TrustError::KeyNotListed {
                what: what.to_owned(),
                key: hex::encode(Sha256::digest(der)),
            });
        }
    }
    let (tlogs, others): (Vec<_>, Vec<_>) = served
        .tlogs
        .iter()
        .cloned()
        .partition(|t| key_of(t).is_some_and(|k| pinned.contains(&k)));
    let mut dropped: Vec<String> = others
        .iter()
        .map(|t| {
            format!(
                "dropped the unpinned log {} (logId {}, {})",
                if t.base_url.is_empty() {
                    "without a baseUrl"
                } else {
                    &t.base_url
                },
                t.log_id.key_id,
                t.public_key.key_details
            )
        })
        .collect();
    let root_of = |ca: &arkivo_core::wire::CertificateAuthority| {
        ca.cert_chain
            .certificates
            .last()
            .and_then(|c| B64.decode(&c.raw_bytes).ok())
    };
    for der in pinned_ca_roots {
        if !served
            .certificate_authorities
            .iter()
            .any(|ca| root_of(ca).as_ref() == Some(der))
        {
            return Err(TrustError::CaNotListed {
                what: what.to_owned(),
                root: hex::encode(Sha256::digest(der)),
            });
        }
    }
    let (cas, other_cas): (Vec<_>, Vec<_>) = served
        .certificate_authorities
        .iter()
        .cloned()
        .partition(|ca| root_of(ca).is_some_and(|r| pinned_ca_roots.contains(&r)));
    let (ctlogs, other_ctlogs): (Vec<_>, Vec<_>) = served
        .ctlogs
        .iter()
        .cloned()
        .partition(|t| key_of(t).is_some_and(|k| pinned_ct_logs.contains(&k)));
    for (n, kind) in [
        (
            other_cas.len(),
            "unpinned certificate authorities (pin with --ca-root)",
        ),
        (
            other_ctlogs.len(),
            "unpinned CT logs (pin with --ct-log-key)",
        ),
        (served.timestamp_authorities.len(), "timestamp authorities"),
    ] {
        if n > 0 {
            dropped.push(format!(
                "dropped {n} {kind} (arkivo pins only log keys, CA roots and CT log keys)"
            ));
        }
    }
    let root = TrustedRoot {
        media_type: served.media_type.clone(),
        tlogs,
        certificate_authorities: cas,
        ctlogs,
        timestamp_authorities: Vec::new(),
    };
    Ok((root, dropped))
}

/// The Rekor v1 logs of a TrustedRoot JSON document: each `tlogs` entry with an ECDSA P-256
/// key (`PKIX_ECDSA_P256_SHA_256`) whose `logId.keyId` is the SHA-256 of its `rawBytes`. Other
/// entries (Rekor v2's Ed25519 logs) are skipped; none left is an error.
///
/// # Errors
///
/// [`TrustError::NotATrustedRoot`] naming what is wrong.
pub fn logs_from_trusted_root(json: &[u8], what: &str) -> Result<Vec<TrustedLog>, TrustError> {
    let bad = |detail: String| TrustError::NotATrustedRoot {
        what: what.to_owned(),
        detail,
    };
    let root = parse_trusted_root(json).map_err(bad)?;
    let logs = ecdsa_logs(&root.tlogs, "tlogs").map_err(bad)?;
    if logs.is_empty() {
        return Err(bad("it lists no Rekor v1 log (ECDSA P-256 key)".into()));
    }
    Ok(logs)
}

fn parse_trusted_root(json: &[u8]) -> Result<TrustedRoot, String> {
    let root: TrustedRoot =
        serde_json::from_slice(json).map_err(|e| format!("not the expected JSON ({e})"))?;
    if !root
        .media_type
        .starts_with("application/vnd.dev.sigstore.trustedroot")
    {
        return Err(format!("mediaType {:?}", root.media_type));
    }
    Ok(root)
}

/// A `validFor` as Unix seconds (start, end), each optional; `what` names it in errors.
fn validity(
    valid_for: Option<&ValidFor>,
    what: &str,
) -> Result<(Option<i64>, Option<i64>), String> {
    let time = |s: Option<&String>, which: &str| {
        s.map(|s| {
            humantime::parse_rfc3339_weak(s)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .ok_or_else(|| format!("{what}.validFor.{which} {s:?}"))
        })
        .transpose()
    };
    Ok((
        time(valid_for.and_then(|v| v.start.as_ref()), "start")?,
        time(valid_for.and_then(|v| v.end.as_ref()), "end")?,
    ))
}

/// A certificate authority whose certificates a verifier accepts (a trusted root's
/// `certificateAuthorities` entry): its chain, issuing certificate first and root last, DER.
#[derive(Clone, Debug)]
pub struct TrustedCa {
    pub chain: Vec<Vec<u8>>,
    /// The Unix seconds the CA issues in (`validFor`, inclusive): a certificate used outside
    /// them is refused.
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    /// `uri` and subject, to name the CA in reports.
    pub name: String,
}

/// What a trusted root says about certificates: its certificate authorities and its CT logs
/// (a root without any makes a verifier refuse certificates unless told to ignore SCTs, as
/// cosign does).
#[derive(Clone, Debug)]
pub struct CertificateTrust {
    pub cas: Vec<TrustedCa>,
    /// The `ctlogs` with ECDSA P-256 keys (what RFC 6962 SCTs are signed with here), as logs:
    /// their log ID is the RFC 6962 one, SHA-256 of the key's SubjectPublicKeyInfo.
    pub ctlogs: Vec<TrustedLog>,
}

/// The certificate authorities of a TrustedRoot JSON document (`certificateAuthorities`, each
/// chain leaf-most first) and its CT logs (`ctlogs`, read as [`logs_from_trusted_root`] reads
/// `tlogs`).
///
/// # Errors
///
/// [`TrustError::NotATrustedRoot`] naming what is wrong, or when it lists no certificate
/// authority.
pub fn certificate_trust(json: &[u8], what: &str) -> Result<CertificateTrust, TrustError> {
    let bad = |detail: String| TrustError::NotATrustedRoot {
        what: what.to_owned(),
        detail,
    };
    let root = parse_trusted_root(json).map_err(bad)?;
    let mut cas = Vec::new();
    for (i, ca) in root.certificate_authorities.iter().enumerate() {
        let chain = ca
            .cert_chain
            .certificates
            .iter()
            .map(|c| B64.decode(&c.raw_bytes))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                bad(format!(
                    "certificateAuthorities[{i}].certChain: rawBytes is not base64"
                ))
            })?;
        if chain.is_empty() {
            return Err(bad(format!(
                "certificateAuthorities[{i}].certChain lists no certificate"
            )));
        }
        let (valid_from, valid_until) = validity(
            ca.valid_for.as_ref(),
            &format!("certificateAuthorities[{i}]"),
        )
        .map_err(bad)?;
        let name = [ca.uri.as_str(), ca.subject.common_name.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        cas.push(TrustedCa {
            chain,
            valid_from,
            valid_until,
            name: if name.is_empty() {
                format!("certificateAuthorities[{i}]")
            } else {
                name
            },
        });
    }
    if cas.is_empty() {
        return Err(bad(
            "it lists no certificate authority (certificateAuthorities), which keyless \
             verification needs"
                .into(),
        ));
    }
    let ctlogs = ecdsa_logs(&root.ctlogs, "ctlogs").map_err(bad)?;
    Ok(CertificateTrust { cas, ctlogs })
}

/// The logs among `instances` (a trusted root's `field`) with an ECDSA P-256 key
/// (`PKIX_ECDSA_P256_SHA_256`) whose `logId.keyId` is the SHA-256 of its `rawBytes`; others are
/// skipped.
fn ecdsa_logs(
    instances: &[arkivo_core::wire::TransparencyLogInstance],
    field: &str,
) -> Result<Vec<TrustedLog>, String> {
    let mut logs = Vec::new();
    for (i, t) in instances.iter().enumerate() {
        if t.public_key.key_details != "PKIX_ECDSA_P256_SHA_256" {
            continue;
        }
        let der = B64
            .decode(&t.public_key.raw_bytes)
            .map_err(|_| format!("{field}[{i}].publicKey.rawBytes is not base64"))?;
        let key = EcdsaVerifyingKey::from_public_key_der(&der)
            .map_err(|e| format!("{field}[{i}].publicKey.rawBytes: {e}"))?;
        let key_id = B64
            .decode(&t.log_id.key_id)
            .map_err(|_| format!("{field}[{i}].logId.keyId is not base64"))?;
        if key_id[..] != Sha256::digest(&der)[..] {
            return Err(format!(
                "{field}[{i}].logId.keyId is not the SHA-256 of its public key"
            ));
        }
        if !t.hash_algorithm.is_empty() && t.hash_algorithm != "SHA2_256" {
            return Err(format!("{field}[{i}].hashAlgorithm {:?}", t.hash_algorithm));
        }
        let mut log = TrustedLog::from_key(key);
        (log.valid_from, log.valid_until) = validity(
            t.public_key.valid_for.as_ref(),
            &format!("{field}[{i}].publicKey"),
        )?;
        log.base_url = Some(t.base_url.clone()).filter(|u| !u.is_empty());
        logs.push(log);
    }
    Ok(logs)
}
