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
use arkivo_core::tsa::TrustedTsa;
use arkivo_core::wire::{CertificateAuthority, TrustedRoot, ValidFor};

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
    #[error("{what} lists no {kind} whose chain ends in the root {root} (SHA-256 of its DER)")]
    CaNotListed {
        what: String,
        kind: &'static str,
        root: String,
    },
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

/// What an operator obtained out of band and pins in a trusted root ([`pinned_root`]).
#[derive(Debug, Default)]
pub struct Pins {
    /// Log keys, DER SubjectPublicKeyInfos.
    pub logs: Vec<Vec<u8>>,
    /// Root certificates of certificate authorities, DER.
    pub ca_roots: Vec<Vec<u8>>,
    /// CT log keys, DER SubjectPublicKeyInfos.
    pub ct_logs: Vec<Vec<u8>>,
    /// Root certificates of timestamp authorities, DER.
    pub tsa_roots: Vec<Vec<u8>>,
}

/// The part of a served trusted root that `pins` vouch for: the `tlogs` whose key is one of
/// `pins.logs`, the `certificateAuthorities` whose chain ends in one of `pins.ca_roots`, the
/// `ctlogs` whose key is one of `pins.ct_logs` and the `timestampAuthorities` whose chain ends
/// in one of `pins.tsa_roots` (and passes the checks of a TSA's chain), as served (their
/// `validFor`, `baseUrl`, IDs, intermediates), and nothing else. Every other log, certificate
/// authority, CT log and timestamp authority is dropped: a root a client writes is trusted by
/// whoever reads it (cosign, sigstore-js, admission controllers), so whatever the server or
/// anyone on the path added must not come out of it. Returns the root and one line per dropped
/// authority.
///
/// # Errors
///
/// [`TrustError::KeyNotListed`] if a pinned key is not among the served logs (or CT logs),
/// [`TrustError::CaNotListed`] if a pinned root ends no served certificate (or timestamp)
/// authority's chain.
pub fn pinned_root(
    served: &TrustedRoot,
    pins: &Pins,
    what: &str,
) -> Result<(TrustedRoot, Vec<String>), TrustError> {
    let (pinned, pinned_ct_logs) = (&pins.logs, &pins.ct_logs);
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
    // The authorities among `served` whose chain ends in one of `roots` (and, for a TSA,
    // passes the checks of its chain), and how many others there are.
    let pin_chains = |served: &[CertificateAuthority], roots: &[Vec<u8>], tsa: bool| {
        let root_of = |ca: &CertificateAuthority| {
            ca.cert_chain
                .certificates
                .last()
                .and_then(|c| B64.decode(&c.raw_bytes).ok())
        };
        let (kept, others): (Vec<_>, Vec<_>) = served.iter().cloned().partition(|ca| {
            root_of(ca).is_some_and(|r| roots.contains(&r))
                && (!tsa || TrustedTsa::from_authority(ca).is_ok())
        });
        match roots
            .iter()
            .find(|der| !kept.iter().any(|ca| root_of(ca).as_ref() == Some(der)))
        {
            Some(der) => Err(TrustError::CaNotListed {
                what: what.to_owned(),
                kind: if tsa {
                    "timestamp authority (with a valid TSA chain)"
                } else {
                    "certificate authority"
                },
                root: hex::encode(Sha256::digest(der)),
            }),
            None => Ok((kept, others.len())),
        }
    };
    let (cas, other_cas) = pin_chains(&served.certificate_authorities, &pins.ca_roots, false)?;
    let (tsas, other_tsas) = pin_chains(&served.timestamp_authorities, &pins.tsa_roots, true)?;
    let (ctlogs, other_ctlogs): (Vec<_>, Vec<_>) = served
        .ctlogs
        .iter()
        .cloned()
        .partition(|t| key_of(t).is_some_and(|k| pinned_ct_logs.contains(&k)));
    for (n, kind) in [
        (
            other_cas,
            "unpinned certificate authorities (pin with --ca-root)",
        ),
        (
            other_ctlogs.len(),
            "unpinned CT logs (pin with --ct-log-key)",
        ),
        (
            other_tsas,
            "unpinned timestamp authorities (pin with --tsa-root)",
        ),
    ] {
        if n > 0 {
            dropped.push(format!("dropped {n} {kind}"));
        }
    }
    let root = TrustedRoot {
        media_type: served.media_type.clone(),
        tlogs,
        certificate_authorities: cas,
        ctlogs,
        timestamp_authorities: tsas,
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

/// A Rekor v2 log, by its Ed25519 checkpoint key (a trusted root's `PKIX_ED25519` `tlogs`
/// entry, tiles-checkpoints-witnesses.md §7.4).
#[derive(Clone, Debug)]
pub struct TrustedCheckpointKey {
    /// `logId.keyId`: the C2SP key hash of the key under the log's origin, which a v2 entry
    /// names its log by.
    pub key_id: [u8; 32],
    pub key: ed25519_dalek::VerifyingKey,
    /// Unix seconds the key is valid from and until (inclusive; `validFor`).
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
}

/// What verifying a Rekor v2 entry takes from a trusted root: the v2 logs' checkpoint keys and
/// the timestamp authorities whose timestamps give the entry its time.
#[derive(Clone, Debug)]
pub struct RekorV2Trust {
    pub logs: Vec<TrustedCheckpointKey>,
    pub tsas: Vec<TrustedTsa>,
}

/// The Rekor v2 logs and the timestamp authorities of a TrustedRoot JSON document.
///
/// # Errors
///
/// [`TrustError::NotATrustedRoot`] naming what is wrong, or when it lists no v2 log or no
/// timestamp authority.
pub fn rekor_v2_trust(json: &[u8], what: &str) -> Result<RekorV2Trust, TrustError> {
    let root = parse_trusted_root(json).map_err(|detail| TrustError::NotATrustedRoot {
        what: what.to_owned(),
        detail,
    })?;
    rekor_v2_trust_of(&root, what)
}

/// [`rekor_v2_trust`] of a parsed root.
///
/// # Errors
///
/// As [`rekor_v2_trust`].
pub fn rekor_v2_trust_of(root: &TrustedRoot, what: &str) -> Result<RekorV2Trust, TrustError> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    let bad = |detail: String| TrustError::NotATrustedRoot {
        what: what.to_owned(),
        detail,
    };
    let mut logs = Vec::new();
    for (i, t) in root.tlogs.iter().enumerate() {
        if t.public_key.key_details != "PKIX_ED25519" {
            continue;
        }
        let der = B64
            .decode(&t.public_key.raw_bytes)
            .map_err(|_| bad(format!("tlogs[{i}].publicKey.rawBytes is not base64")))?;
        let key = ed25519_dalek::VerifyingKey::from_public_key_der(&der)
            .map_err(|e| bad(format!("tlogs[{i}].publicKey.rawBytes: {e}")))?;
        let key_id = B64
            .decode(&t.log_id.key_id)
            .ok()
            .and_then(|id| <[u8; 32]>::try_from(id).ok())
            .ok_or_else(|| bad(format!("tlogs[{i}].logId.keyId is not 32 bytes of base64")))?;
        let (valid_from, valid_until) = validity(
            t.public_key.valid_for.as_ref(),
            &format!("tlogs[{i}].publicKey"),
        )
        .map_err(bad)?;
        logs.push(TrustedCheckpointKey {
            key_id,
            key,
            valid_from,
            valid_until,
        });
    }
    if logs.is_empty() {
        return Err(bad(
            "it lists no Rekor v2 log (a PKIX_ED25519 checkpoint key in tlogs)".into(),
        ));
    }
    let tsas = root
        .timestamp_authorities
        .iter()
        .enumerate()
        .map(|(i, a)| {
            TrustedTsa::from_authority(a)
                .map_err(|e| bad(format!("timestampAuthorities[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if tsas.is_empty() {
        return Err(bad(
            "it lists no timestamp authority (timestampAuthorities): a Rekor v2 entry has no \
             time of its own, only an RFC 3161 timestamp gives it one"
                .into(),
        ));
    }
    Ok(RekorV2Trust { logs, tsas })
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

/// The CT logs of a TrustedRoot JSON document (`ctlogs`, read as [`logs_from_trusted_root`]
/// reads `tlogs`); none is not an error.
///
/// # Errors
///
/// [`TrustError::NotATrustedRoot`] naming what is wrong.
pub fn ct_logs_from_trusted_root(json: &[u8], what: &str) -> Result<Vec<TrustedLog>, TrustError> {
    let bad = |detail: String| TrustError::NotATrustedRoot {
        what: what.to_owned(),
        detail,
    };
    let root = parse_trusted_root(json).map_err(bad)?;
    ecdsa_logs(&root.ctlogs, "ctlogs").map_err(bad)
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
