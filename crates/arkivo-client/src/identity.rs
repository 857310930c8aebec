//! Keyless verification: whether a signing certificate (Fulcio's profile, docs/keyless.md) was
//! issued by a trusted certificate authority to the expected identity, and was valid when the
//! log recorded the signature. Bytes in, a result out; no I/O.
//!
//! The checks, in order, each failure naming its check ([`CertificateError`]):
//!
//! 1. the CA: the certificate chains to one of the trusted root's `certificateAuthorities`
//!    (signatures, CA constraints, each certificate valid at the leaf's NotBefore —
//!    [`arkivo_core::entries::pki::Verifier::verify_chain`]), whose `validFor` covers the
//!    entry's time, and it is for code signing (EKU `id-kp-codeSigning`, RFC 5280 §4.2.1.12);
//! 2. the time: the entry's time (a Rekor v1 entry's SET-signed integrated time) lies within the
//!    certificate's validity (RFC 5280 §4.1.2.5) — Fulcio's certificates live ten minutes, the
//!    log's timestamp is what proves the signature was made in them;
//! 3. the identity: one of the certificate's subject alternative names is `--certificate-identity`
//!    (or matches `--certificate-identity-regexp`), and the issuer extension
//!    (`1.3.6.1.4.1.57264.1.8`, else the deprecated `.1.1`; fulcio `docs/oid-info.md`) is
//!    `--certificate-oidc-issuer` (or matches its regexp); the GitHub workflow flags compare the
//!    `.1.2`–`.1.6` extensions exactly, as cosign does;
//! 4. the SCT: one of the certificate's embedded signed certificate timestamps (extension
//!    `1.3.6.1.4.1.11129.2.4.2`, RFC 6962 §3.3) is signed by a CT log of the trusted root, valid
//!    at its timestamp, over the precertificate entry it stands for (§3.2: the TBSCertificate
//!    without the SCT list, and the SHA-256 of the issuer's SubjectPublicKeyInfo). A root
//!    without CT logs makes every certificate fail unless the SCT check is waived
//!    (`--insecure-ignore-sct`), as cosign refuses.
//!
//! Regular expressions are unanchored, as cosign's and sigstore-go's (Go `regexp.MatchString`):
//! write `^…$` to match a whole name.

use der::asn1::{ObjectIdentifier, OctetString, Utf8StringRef};
use der::{Decode as _, Encode as _};
use sha2::{Digest as _, Sha256};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::{Certificate, TbsCertificate};

use super::trust::{CertificateTrust, TrustedCa, TrustedLog};
use arkivo_core::ca::identity::oid;
use arkivo_core::ct::{self, SignedCertificateTimestampList, TileLeaf};
use arkivo_core::entries::pki::{PublicKey, Verifier};

/// `id-ce-extKeyUsage` (RFC 5280 §4.2.1.12).
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// `id-kp-codeSigning` (RFC 5280 §4.2.1.12).
const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// Why a certificate is not accepted; each message starts with the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("malformed certificate: {0}")]
    Malformed(String),
    #[error(
        "untrusted CA: the certificate does not chain to a certificate authority of the trusted root ({0})"
    )]
    UntrustedCa(String),
    #[error("not a code-signing certificate: its extended key usage lacks id-kp-codeSigning")]
    NotCodeSigning,
    #[error(
        "expired certificate: the entry was recorded at {time} (Unix seconds), outside the certificate's validity ({not_before} to {not_after})"
    )]
    Expired {
        time: i64,
        not_before: i64,
        not_after: i64,
    },
    #[error("wrong identity: the certificate names {found:?}, not {expected}")]
    Identity {
        expected: String,
        found: Vec<String>,
    },
    #[error("wrong issuer: the certificate's OIDC issuer is {found:?}, not {expected}")]
    Issuer {
        expected: String,
        found: Option<String>,
    },
    #[error("wrong {flag}: the certificate says {found:?}, not {expected:?}")]
    Workflow {
        flag: &'static str,
        expected: String,
        found: Option<String>,
    },
    #[error(
        "missing SCT: the trusted root lists no CT log to check the certificate's signed certificate timestamp with (pass --insecure-ignore-sct to accept certificates without one, as cosign does)"
    )]
    NoCtLog,
    #[error(
        "missing SCT: the certificate carries no embedded signed certificate timestamp (pass --insecure-ignore-sct to accept it)"
    )]
    MissingSct,
    #[error("bad SCT: {0}")]
    BadSct(String),
}

/// An exact value or an (unanchored) regular expression.
#[derive(Clone, Debug)]
pub enum Matcher {
    Exact(String),
    Regex(regex::Regex),
}

impl Matcher {
    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s:?}"),
            Matcher::Regex(r) => write!(f, "a match of /{r}/"),
        }
    }
}

/// Who must have signed: the identity and issuer constraints, and the GitHub workflow
/// extensions that must hold given values.
#[derive(Clone, Debug)]
pub struct IdentityPolicy {
    pub identity: Matcher,
    pub issuer: Matcher,
    /// `(extension arc, flag name, value)`.
    pub workflow: Vec<(u32, &'static str, String)>,
    /// Accept certificates without a verified SCT.
    pub ignore_sct: bool,
}

/// What a verified certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCertificate {
    /// Its subject alternative names.
    pub subjects: Vec<String>,
    pub issuer: String,
    /// The trusted CA it chains to.
    pub ca: String,
    pub not_before: i64,
    pub not_after: i64,
}

/// The value of Fulcio extension `1.3.6.1.4.1.57264.1.<arc>`: a DER UTF8String from `.1.8` on,
/// raw bytes below (oid-info.md).
fn fulcio_extension(tbs: &TbsCertificate, arc: u32) -> Option<String> {
    let id = ObjectIdentifier::new(&format!("1.3.6.1.4.1.57264.1.{arc}")).ok()?;
    let ext = tbs.extensions.iter().flatten().find(|e| e.extn_id == id)?;
    let bytes = ext.extn_value.as_bytes();
    if arc >= oid::ISSUER_V2 {
        Utf8StringRef::from_der(bytes)
            .ok()
            .map(|s| s.as_str().to_owned())
    } else {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

/// The OIDC issuer of a certificate (its TBSCertificate, or a precertificate's as a CT log
/// holds it): `.1.8`, else the deprecated `.1.1`.
pub fn oidc_issuer(tbs: &TbsCertificate) -> Option<String> {
    fulcio_extension(tbs, oid::ISSUER_V2).or_else(|| fulcio_extension(tbs, oid::ISSUER_V1))
}

fn unix(t: x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// The trusted CA that `leaf` (DER) chains to at `time`, or why none does.
fn chain_to_ca<'a>(leaf: &[u8], cas: &'a [TrustedCa], time: i64) -> Result<&'a TrustedCa, String> {
    let mut reasons = Vec::new();
    for ca in cas {
        if ca.valid_from.is_some_and(|t| time < t) || ca.valid_until.is_some_and(|t| time > t) {
            reasons.push(format!("{}: not valid at {time}", ca.name));
            continue;
        }
        let mut ders: Vec<&[u8]> = vec![leaf];
        ders.extend(ca.chain.iter().map(Vec::as_slice));
        match Verifier::from_certificate_ders(&ders).and_then(|v| v.verify_chain()) {
            Ok(()) => return Ok(ca),
            Err(e) => reasons.push(format!("{}: {e}", ca.name)),
        }
    }
    Err(reasons.join("; "))
}

/// Step 4 of the module doc: an embedded SCT of one of `ctlogs` verifies for `cert`, issued by
/// `ca` (whose chain starts with the issuing certificate).
fn check_sct(
    cert: &Certificate,
    ca: &TrustedCa,
    ctlogs: &[TrustedLog],
) -> Result<(), CertificateError> {
    if ctlogs.is_empty() {
        return Err(CertificateError::NoCtLog);
    }
    let extensions = cert
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default();
    let sct_list = extensions
        .iter()
        .find(|e| e.extn_id == ct::SCT_LIST_OID)
        .ok_or(CertificateError::MissingSct)?;
    // The extension's value is an OCTET STRING holding the TLS-encoded list (RFC 6962 §3.3).
    let list = OctetString::from_der(sct_list.extn_value.as_bytes())
        .map_err(|e| CertificateError::BadSct(format!("the SCT list extension: {e}")))?;
    let scts = SignedCertificateTimestampList::parse(list.as_bytes())
        .map_err(|e| CertificateError::BadSct(e.to_string()))?;
    // §3.2: the precertificate's TBSCertificate is the certificate's without the SCT list.
    let mut tbs = cert.tbs_certificate.clone();
    tbs.extensions = Some(
        extensions
            .iter()
            .filter(|e| e.extn_id != ct::SCT_LIST_OID)
            .cloned()
            .collect(),
    );
    let issuer = Certificate::from_der(&ca.chain[0])
        .and_then(|c| c.tbs_certificate.subject_public_key_info.to_der())
        .map_err(|e| CertificateError::BadSct(format!("the issuer's key: {e}")))?;
    let entry = TileLeaf {
        timestamp: 0,
        issuer_key_hash: Sha256::digest(&issuer).into(),
        tbs_certificate: tbs
            .to_der()
            .map_err(|e| CertificateError::BadSct(e.to_string()))?,
        extensions: Vec::new(),
        pre_certificate: Vec::new(),
        certificate_chain: Vec::new(),
    };
    let mut reasons = Vec::new();
    for sct in &scts.0 {
        let Some(log) = ctlogs.iter().find(|l| l.log_id == sct.log_id) else {
            reasons.push(format!(
                "one of CT log {}, not a trusted one",
                hex::encode(sct.log_id)
            ));
            continue;
        };
        let at = i64::try_from(sct.timestamp / 1000).unwrap_or(i64::MAX);
        if log.valid_from.is_some_and(|t| at < t) || log.valid_until.is_some_and(|t| at > t) {
            reasons.push(format!(
                "one of {} at {at}, outside the log key's validity",
                log.log_id_hex()
            ));
            continue;
        }
        if sct.verify(&entry, &log.key) {
            return Ok(());
        }
        reasons.push(format!(
            "the signature of CT log {} does not verify",
            log.log_id_hex()
        ));
    }
    Err(CertificateError::BadSct(reasons.join("; ")))
}

/// Verifies the signing certificate `leaf` (DER) for an entry recorded at `time` (Unix
/// seconds) against `trust` and `policy` (module doc).
///
/// # Errors
///
/// The first [`CertificateError`] met.
pub fn verify_certificate(
    leaf: &[u8],
    trust: &CertificateTrust,
    time: i64,
    policy: &IdentityPolicy,
) -> Result<VerifiedCertificate, CertificateError> {
    let verifier = Verifier::from_certificate_ders(&[leaf]).map_err(CertificateError::Malformed)?;
    let cert =
        Certificate::from_der(leaf).map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let ca = chain_to_ca(leaf, &trust.cas, time).map_err(CertificateError::UntrustedCa)?;
    let code_signing = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == OID_EXT_KEY_USAGE)
        .and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|eku| eku.0.contains(&OID_CODE_SIGNING));
    if !code_signing {
        return Err(CertificateError::NotCodeSigning);
    }
    let validity = &cert.tbs_certificate.validity;
    let (not_before, not_after) = (unix(validity.not_before), unix(validity.not_after));
    if time < not_before || time > not_after {
        return Err(CertificateError::Expired {
            time,
            not_before,
            not_after,
        });
    }
    let subjects = verifier.subjects().to_vec();
    if !subjects.iter().any(|s| policy.identity.matches(s)) {
        return Err(CertificateError::Identity {
            expected: policy.identity.to_string(),
            found: subjects,
        });
    }
    let issuer = oidc_issuer(&cert.tbs_certificate);
    let issuer = match issuer {
        Some(i) if policy.issuer.matches(&i) => i,
        found => {
            return Err(CertificateError::Issuer {
                expected: policy.issuer.to_string(),
                found,
            });
        }
    };
    for (arc, flag, expected) in &policy.workflow {
        let found = fulcio_extension(&cert.tbs_certificate, *arc);
        if found.as_deref() != Some(expected.as_str()) {
            return Err(CertificateError::Workflow {
                flag,
                expected: expected.clone(),
                found,
            });
        }
    }
    if !policy.ignore_sct {
        check_sct(&cert, ca, &trust.ctlogs)?;
    }
    Ok(VerifiedCertificate {
        subjects,
        issuer,
        ca: ca.name.clone(),
        not_before,
        not_after,
    })
}

/// Who a verifier accepts as the signer: a given key, or whoever a trusted CA certified under
/// the identity policy.
#[derive(Clone, Copy, Debug)]
pub enum SignerPolicy<'a> {
    Key(&'a PublicKey),
    Keyless {
        trust: &'a CertificateTrust,
        identity: &'a IdentityPolicy,
    },
}

/// Why a signer is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error(
        "signed keylessly (with a certificate): verify it with --certificate-identity and --certificate-oidc-issuer (and a --trusted-root listing the CA), not --key"
    )]
    CertificateWithKey,
    #[error(
        "signed with a key, not a certificate: verify it with --key instead of a certificate identity"
    )]
    KeyWithoutCertificate,
}

impl SignerPolicy<'_> {
    /// The key that must have made a signature whose signer material is `certificate` (DER;
    /// `None` for a key-signed one) recorded at `time` (Unix seconds): the policy's key, or the
    /// certificate's once it verified, with what it says.
    ///
    /// # Errors
    ///
    /// [`SignerError`], naming the failed check.
    pub fn signer_key(
        &self,
        certificate: Option<&[u8]>,
        time: i64,
    ) -> Result<(PublicKey, Option<VerifiedCertificate>), SignerError> {
        match (self, certificate) {
            (SignerPolicy::Key(key), None) => Ok(((*key).clone(), None)),
            (SignerPolicy::Key(_), Some(_)) => Err(SignerError::CertificateWithKey),
            (SignerPolicy::Keyless { .. }, None) => Err(SignerError::KeyWithoutCertificate),
            (SignerPolicy::Keyless { trust, identity }, Some(der)) => {
                let verified = verify_certificate(der, trust, time, identity)?;
                let key = Verifier::from_certificate_ders(&[der])
                    .map_err(CertificateError::Malformed)?
                    .key()
                    .clone();
                Ok((key, Some(verified)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arkivo_core::ca::cert::{CaKeys, IssuingCa};
    use arkivo_core::ca::identity::{ExtensionValue, Identity, SubjectAltName};
    use arkivo_core::entries::pki::pem_blocks;
    use arkivo_core::signer::LogKeys;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn ca(now: SystemTime) -> (IssuingCa, TrustedCa) {
        let keys = CaKeys::generate("test", now).unwrap();
        let issuing = IssuingCa::from_pem(&keys.intermediate_key_pem, &keys.chain_pem).unwrap();
        let chain = pem_blocks(keys.chain_pem.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(_, der)| der)
            .collect();
        let trusted = TrustedCa {
            chain,
            valid_from: None,
            valid_until: None,
            name: "test CA".into(),
        };
        (issuing, trusted)
    }

    /// A certificate of `ca` for a fresh key, its SCT signed by the CT log `ct`.
    fn leaf(ca: &IssuingCa, now: SystemTime, ct: &LogKeys) -> Vec<u8> {
        let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let spki = p256::pkcs8::EncodePublicKey::to_public_key_der(key.verifying_key()).unwrap();
        let identity = Identity {
            san: SubjectAltName::Email("alice@example.org".into()),
            challenge: "alice@example.org".into(),
            extensions: vec![
                (
                    oid::ISSUER_V1,
                    ExtensionValue::Raw("https://issuer.test".into()),
                ),
                (
                    oid::GITHUB_WORKFLOW_REPOSITORY,
                    ExtensionValue::Raw("org/repo".into()),
                ),
                (
                    oid::ISSUER_V2,
                    ExtensionValue::Utf8("https://issuer.test".into()),
                ),
            ],
        };
        let key = PublicKey::from_spki_der(spki.as_bytes()).unwrap();
        let pre = ca.precertificate(&identity, &key, now).unwrap();
        let entry = TileLeaf {
            timestamp: now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64,
            issuer_key_hash: ca.issuer_key_hash(),
            tbs_certificate: pre.tbs_without_poison().unwrap(),
            extensions: Vec::new(),
            pre_certificate: pre.der().to_vec(),
            certificate_chain: Vec::new(),
        };
        let sct = ct::Sct::sign(&entry, ct);
        ca.finish(pre, &SignedCertificateTimestampList(vec![sct]))
            .unwrap()
    }

    fn policy(identity: Matcher, issuer: Matcher) -> IdentityPolicy {
        IdentityPolicy {
            identity,
            issuer,
            workflow: vec![],
            ignore_sct: true,
        }
    }

    fn exact(s: &str) -> Matcher {
        Matcher::Exact(s.into())
    }

    #[test]
    fn chain_validity_identity_issuer_sct() {
        let now = SystemTime::now();
        let t = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let (issuing, trusted) = ca(now);
        let ct_keys = LogKeys::generate();
        let der = leaf(&issuing, now, &ct_keys);
        let trust = CertificateTrust {
            cas: vec![trusted.clone()],
            ctlogs: vec![],
        };
        let good = policy(exact("alice@example.org"), exact("https://issuer.test"));
        let v = verify_certificate(&der, &trust, t + 1, &good).unwrap();
        assert_eq!(v.subjects, ["alice@example.org"]);
        assert_eq!(v.issuer, "https://issuer.test");

        let re = |s: &str| Matcher::Regex(regex::Regex::new(s).unwrap());
        verify_certificate(&der, &trust, t, &policy(re("^alice@"), re("issuer"))).unwrap();
        let mut workflow = good.clone();
        workflow.workflow = vec![(oid::GITHUB_WORKFLOW_REPOSITORY, "repo", "org/repo".into())];
        verify_certificate(&der, &trust, t, &workflow).unwrap();
        workflow.workflow[0].2 = "org/other".into();
        assert!(matches!(
            verify_certificate(&der, &trust, t, &workflow),
            Err(CertificateError::Workflow { .. })
        ));

        assert!(matches!(
            verify_certificate(
                &der,
                &trust,
                t,
                &policy(exact("bob@example.org"), exact("https://issuer.test"))
            ),
            Err(CertificateError::Identity { .. })
        ));
        assert!(matches!(
            verify_certificate(
                &der,
                &trust,
                t,
                &policy(re("^lice"), exact("https://issuer.test"))
            ),
            Err(CertificateError::Identity { .. })
        ));
        assert!(matches!(
            verify_certificate(
                &der,
                &trust,
                t,
                &policy(exact("alice@example.org"), exact("https://other.test"))
            ),
            Err(CertificateError::Issuer { .. })
        ));
        // Ten minutes of validity: an entry eleven minutes later is outside them.
        assert!(matches!(
            verify_certificate(&der, &trust, t + 660, &good),
            Err(CertificateError::Expired { .. })
        ));
        assert!(matches!(
            verify_certificate(&der, &trust, t - 60, &good),
            Err(CertificateError::Expired { .. })
        ));

        // Another CA, or this CA outside its validFor.
        let (_, other) = ca(now);
        let other_trust = CertificateTrust {
            cas: vec![other],
            ctlogs: vec![],
        };
        assert!(matches!(
            verify_certificate(&der, &other_trust, t, &good),
            Err(CertificateError::UntrustedCa(_))
        ));
        let mut expired_ca = trusted.clone();
        expired_ca.valid_until = Some(t - 1);
        let expired_trust = CertificateTrust {
            cas: vec![expired_ca],
            ctlogs: vec![],
        };
        assert!(matches!(
            verify_certificate(&der, &expired_trust, t, &good),
            Err(CertificateError::UntrustedCa(_))
        ));

        // SCTs are required unless waived.
        let mut strict = good.clone();
        strict.ignore_sct = false;
        assert!(matches!(
            verify_certificate(&der, &trust, t, &strict),
            Err(CertificateError::NoCtLog)
        ));
        // The SCT verifies with its CT log, not with another one.
        let ct_log = |keys: &LogKeys| CertificateTrust {
            cas: trust.cas.clone(),
            ctlogs: vec![TrustedLog::from_public_key_pem(&keys.ecdsa_public_pem(), "ct").unwrap()],
        };
        verify_certificate(&der, &ct_log(&ct_keys), t, &strict).unwrap();
        assert!(matches!(
            verify_certificate(&der, &ct_log(&LogKeys::generate()), t, &strict),
            Err(CertificateError::BadSct(_))
        ));

        // Every single-bit flip of the certificate is refused (or is not a certificate).
        let mut refused = 0;
        for i in (0..der.len()).step_by(7) {
            let mut bad = der.clone();
            bad[i] ^= 0x01;
            if verify_certificate(&bad, &trust, t, &good).is_err() {
                refused += 1;
            } else {
                panic!("a flipped bit at byte {i} still verified");
            }
        }
        assert!(refused > 0);
    }
}
