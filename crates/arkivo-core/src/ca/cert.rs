//! The certificate authority's certificates: the root and intermediate it makes for itself, and
//! the short-lived code-signing certificates it issues, in Fulcio's profile (fulcio
//! `docs/certificate-specification.md`): empty subject, exactly one critical SAN, KU
//! digitalSignature, EKU codeSigning, a 159-bit random serial, SKI and AKI, ten minutes of
//! validity, and the identity extensions of [`super::identity`].

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5String, OctetString, Utf8StringRef};
use der::oid::{AssociatedOid, ObjectIdentifier};
use der::{Decode, Encode};
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use super::identity::{ExtensionValue, Identity, SubjectAltName as San, oid};
use crate::entries::pki::{PublicKey, pem_blocks, pem_encode};

/// How long an issued certificate is valid: Fulcio's ten minutes.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(10 * 60);

/// How long the root and intermediate made by [`CaKeys::generate`] are valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// `ecdsa-with-SHA256` (RFC 5758 §3.2): the CA signs with ECDSA P-256.
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `id-kp-codeSigning` (RFC 5280 §4.2.1.12).
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's arc (oid-info.md).
const FULCIO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1");

/// The issuing key and its chain (intermediate first, root last).
pub struct IssuingCa {
    key: SigningKey,
    chain: Vec<Vec<u8>>,
    issuer: Name,
    key_id: Vec<u8>,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl std::fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingCa").finish_non_exhaustive()
    }
}

/// A new CA: the root's and intermediate's keys and certificates, as files hold them.
pub struct CaKeys {
    /// PKCS#8 PEM of the root key (kept only to make another intermediate).
    pub root_key_pem: String,
    /// PKCS#8 PEM of the intermediate key, which signs every certificate.
    pub intermediate_key_pem: String,
    /// The intermediate's certificate then the root's, PEM.
    pub chain_pem: String,
}

impl CaKeys {
    /// Makes a root (self-signed) and an intermediate under it, both ECDSA P-256, valid for
    /// [`CA_VALIDITY`] from `now`, named `O=<organization>, CN=<organization> root` and
    /// `… intermediate`.
    ///
    /// # Errors
    ///
    /// An organization that makes no valid name.
    pub fn generate(organization: &str, now: SystemTime) -> Result<CaKeys, String> {
        let root_key = SigningKey::random(&mut rand_core::OsRng);
        let intermediate_key = SigningKey::random(&mut rand_core::OsRng);
        let name = |role: &str| {
            // RFC 4514 string: escape what would end the value.
            let escaped: String = organization
                .chars()
                .flat_map(|c| {
                    let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=');
                    special.then_some('\\').into_iter().chain(Some(c))
                })
                .collect();
            Name::from_str(&format!("CN={escaped} {role},O={escaped}"))
                .map_err(|e| format!("the CA name {organization:?}: {e}"))
        };
        let validity = validity(now, CA_VALIDITY)?;
        let (root_name, intermediate_name) = (name("root")?, name("intermediate")?);
        let root_spki = spki(&root_key)?;
        let root_id = key_id(&root_spki);
        let ca_extensions = |id: &[u8], issuer_id: Option<&[u8]>, path_len: Option<u8>| {
            let mut exts = vec![
                extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign), true)?,
                extension(
                    &BasicConstraints {
                        ca: true,
                        path_len_constraint: path_len,
                    },
                    true,
                )?,
                extension(&SubjectKeyIdentifier(octets(id)?), false)?,
            ];
            if let Some(issuer_id) = issuer_id {
                exts.push(extension(&authority_key_id(issuer_id)?, false)?);
                // As Fulcio's intermediate: it issues code-signing certificates only.
                exts.push(extension(&ExtendedKeyUsage(vec![CODE_SIGNING]), false)?);
            }
            Ok::<_, String>(exts)
        };
        let root = sign(
            x509_cert::TbsCertificate {
                version: x509_cert::Version::V3,
                serial_number: random_serial()?,
                signature: ecdsa_with_sha256(),
                issuer: root_name.clone(),
                validity,
                subject: root_name.clone(),
                subject_public_key_info: root_spki,
                issuer_unique_id: None,
                subject_unique_id: None,
                extensions: Some(ca_extensions(&root_id, None, Some(1))?),
            },
            &root_key,
        )?;
        let intermediate_spki = spki(&intermediate_key)?;
        let intermediate = sign(
            x509_cert::TbsCertificate {
                version: x509_cert::Version::V3,
                serial_number: random_serial()?,
                signature: ecdsa_with_sha256(),
                issuer: root_name,
                validity,
                subject: intermediate_name,
                extensions: Some(ca_extensions(
                    &key_id(&intermediate_spki),
                    Some(&root_id),
                    Some(0),
                )?),
                subject_public_key_info: intermediate_spki,
                issuer_unique_id: None,
                subject_unique_id: None,
            },
            &root_key,
        )?;
        let pkcs8 = |k: &SigningKey| {
            k.to_pkcs8_pem(LineEnding::LF)
                .map(|p| p.to_string())
                .map_err(|e| e.to_string())
        };
        Ok(CaKeys {
            root_key_pem: pkcs8(&root_key)?,
            intermediate_key_pem: pkcs8(&intermediate_key)?,
            chain_pem: pem_encode("CERTIFICATE", &intermediate) + &pem_encode("CERTIFICATE", &root),
        })
    }
}

impl IssuingCa {
    /// The issuing CA from its PKCS#8 PEM ECDSA P-256 key and its chain (PEM certificates, the
    /// key's own first, root last).
    ///
    /// # Errors
    ///
    /// A key that is not P-256, a chain that does not start with the key's certificate.
    pub fn from_pem(key_pem: &str, chain_pem: &str) -> Result<IssuingCa, String> {
        let key = SigningKey::from_pkcs8_pem(key_pem)
            .map_err(|e| format!("the CA key is not a PKCS#8 ECDSA P-256 key: {e}"))?;
        let blocks =
            pem_blocks(chain_pem.as_bytes()).map_err(|_| "the CA chain is not PEM".to_owned())?;
        let mut chain = Vec::new();
        for (label, der) in blocks {
            if label != "CERTIFICATE" {
                return Err(format!(
                    "the CA chain holds a {label}, not only certificates"
                ));
            }
            chain.push(der);
        }
        let first = chain.first().ok_or("the CA chain holds no certificate")?;
        let cert = Certificate::from_der(first)
            .map_err(|e| format!("the CA chain's first certificate: {e}"))?;
        let tbs = &cert.tbs_certificate;
        if tbs.subject_public_key_info != spki(&key)? {
            return Err("the CA chain's first certificate is not the CA key's".into());
        }
        Ok(IssuingCa {
            key_id: key_id(&tbs.subject_public_key_info),
            issuer: tbs.subject.clone(),
            not_before: tbs.validity.not_before.to_system_time(),
            not_after: tbs.validity.not_after.to_system_time(),
            key,
            chain,
        })
    }

    /// The chain, DER, intermediate first, root last.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// When the issuing certificate's validity starts (the trusted root's `validFor.start`).
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// When the issuing certificate expires: no certificate is issued past it.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Issues a certificate for `key`, naming `identity`, valid for [`LEAF_VALIDITY`] from
    /// `now`. Returns its DER.
    ///
    /// # Errors
    ///
    /// A value that cannot be encoded (a SAN that is not IA5), or the CA's own expiry.
    pub fn issue(
        &self,
        identity: &Identity,
        key: &PublicKey,
        now: SystemTime,
    ) -> Result<Vec<u8>, String> {
        if now + LEAF_VALIDITY > self.not_after {
            return Err("the CA's certificate expires before the certificate would".into());
        }
        let subject_key = SubjectPublicKeyInfoOwned::from_der(key.spki_der())
            .map_err(|e| format!("the public key: {e}"))?;
        let ia5 = |s: &str| {
            Ia5String::new(s).map_err(|_| format!("the identity {s:?} is not ASCII (IA5String)"))
        };
        let san = match &identity.san {
            San::Email(e) => GeneralName::Rfc822Name(ia5(e)?),
            San::Uri(u) => GeneralName::UniformResourceIdentifier(ia5(u)?),
            San::Username(u) => GeneralName::OtherName(OtherName {
                type_id: fulcio_oid(oid::OTHER_NAME_SAN)?,
                value: der::Any::from(
                    Utf8StringRef::new(u).map_err(|e| format!("the username: {e}"))?,
                ),
            }),
        };
        let mut extensions = vec![
            extension(&KeyUsage(KeyUsages::DigitalSignature.into()), true)?,
            extension(&ExtendedKeyUsage(vec![CODE_SIGNING]), false)?,
            extension(&SubjectKeyIdentifier(octets(&key_id(&subject_key))?), false)?,
            extension(&authority_key_id(&self.key_id)?, false)?,
            // RFC 5280 §4.2.1.6: with an empty subject the SAN is critical.
            extension(&SubjectAltName(vec![san]), true)?,
        ];
        for (arc, value) in &identity.extensions {
            let bytes = match value {
                ExtensionValue::Raw(v) => v.as_bytes().to_vec(),
                ExtensionValue::Utf8(v) => Utf8StringRef::new(v)
                    .and_then(|s| s.to_der())
                    .map_err(|e| format!("extension {arc}: {e}"))?,
            };
            extensions.push(Extension {
                extn_id: fulcio_oid(*arc)?,
                critical: false,
                extn_value: OctetString::new(bytes).map_err(|e| e.to_string())?,
            });
        }
        sign(
            x509_cert::TbsCertificate {
                version: x509_cert::Version::V3,
                serial_number: random_serial()?,
                signature: ecdsa_with_sha256(),
                issuer: self.issuer.clone(),
                validity: validity(now, LEAF_VALIDITY)?,
                subject: Name::default(),
                subject_public_key_info: subject_key,
                issuer_unique_id: None,
                subject_unique_id: None,
                extensions: Some(extensions),
            },
            &self.key,
        )
    }
}

fn fulcio_oid(arc: u32) -> Result<ObjectIdentifier, String> {
    FULCIO.push_arc(arc).map_err(|e| e.to_string())
}

fn ecdsa_with_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    }
}

fn spki(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, String> {
    let der = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| e.to_string())?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(|e| e.to_string())
}

/// A key identifier: the leftmost 160 bits of the SHA-256 of the subjectPublicKey bits (RFC 7093
/// §2 method 1).
fn key_id(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

fn octets(bytes: &[u8]) -> Result<OctetString, String> {
    OctetString::new(bytes).map_err(|e| e.to_string())
}

fn authority_key_id(id: &[u8]) -> Result<AuthorityKeyIdentifier, String> {
    Ok(AuthorityKeyIdentifier {
        key_identifier: Some(octets(id)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    })
}

fn extension<T: AssociatedOid + Encode>(value: &T, critical: bool) -> Result<Extension, String> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?,
    })
}

/// A positive serial of 159 random bits, as Fulcio draws (below 2^159, so 20 octets at most:
/// RFC 5280 §4.1.2.2).
fn random_serial() -> Result<SerialNumber, String> {
    let mut bytes: [u8; 20] = rand::random();
    bytes[0] &= 0x7f;
    SerialNumber::new(&bytes).map_err(|e| e.to_string())
}

fn validity(from: SystemTime, length: Duration) -> Result<Validity, String> {
    let time = |t: SystemTime| Time::try_from(t).map_err(|e| format!("a validity time: {e}"));
    Ok(Validity {
        not_before: time(from)?,
        not_after: time(from + length)?,
    })
}

/// Signs `tbs` with `key` (ECDSA P-256, SHA-256, the DER signature of RFC 5758 §3.2) and returns
/// the certificate's DER.
fn sign(tbs: x509_cert::TbsCertificate, key: &SigningKey) -> Result<Vec<u8>, String> {
    let signature: DerSignature = key.sign(&tbs.to_der().map_err(|e| e.to_string())?);
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_with_sha256(),
        signature: BitString::from_bytes(signature.as_bytes()).map_err(|e| e.to_string())?,
    }
    .to_der()
    .map_err(|e| e.to_string())
}
