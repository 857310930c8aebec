//! The certificate authority's certificates: the root and intermediate it makes for itself, and
//! the short-lived code-signing certificates it issues, in Fulcio's profile (fulcio
//! `docs/certificate-specification.md`): empty subject, exactly one critical SAN, KU
//! digitalSignature, EKU codeSigning, a 159-bit random serial, SKI and AKI, ten minutes of
//! validity, and the identity extensions of [`super::identity`]; each issued first as a
//! precertificate for the CT log, then with the log's SCT embedded (RFC 6962 §3.1, §3.3).

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString, UtcTime, Utf8StringRef};
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
use crate::ct::{POISON_OID, SCT_LIST_OID, SignedCertificateTimestampList};
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
    issuer_key_hash: [u8; 32],
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
            issuer_key_hash: Sha256::digest(
                tbs.subject_public_key_info
                    .to_der()
                    .map_err(|e| e.to_string())?,
            )
            .into(),
            issuer: tbs.subject.clone(),
            not_before: tbs.validity.not_before.to_system_time(),
            not_after: tbs.validity.not_after.to_system_time(),
            key,
            chain,
        })
    }

    /// The issuing certificate's subject (the trusted root's `certificateAuthorities[].subject`).
    pub fn subject(&self) -> crate::wire::DistinguishedName {
        crate::tsa::distinguished_name(&self.issuer)
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

    /// SHA-256 of the issuing certificate's SubjectPublicKeyInfo: a precertificate's
    /// `issuer_key_hash` (RFC 6962 §3.2).
    pub fn issuer_key_hash(&self) -> [u8; 32] {
        self.issuer_key_hash
    }

    /// The precertificate of a certificate for `key`, naming `identity`, valid for
    /// [`LEAF_VALIDITY`] from `now` (RFC 6962 §3.1): the certificate with the poison extension,
    /// signed by the issuing key itself, so that the final certificate ([`Self::finish`]) is
    /// the same but for the poison replaced by the SCT list.
    ///
    /// # Errors
    ///
    /// A value that cannot be encoded (a SAN that is not IA5), or the CA's own expiry.
    pub fn precertificate(
        &self,
        identity: &Identity,
        key: &PublicKey,
        now: SystemTime,
    ) -> Result<Precertificate, String> {
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
        // RFC 6962 §3.1: critical, its value ASN.1 NULL. Last, where the SCT list goes.
        extensions.push(Extension {
            extn_id: POISON_OID,
            critical: true,
            extn_value: octets(&der::asn1::Null.to_der().map_err(|e| e.to_string())?)?,
        });
        let tbs = x509_cert::TbsCertificate {
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
        };
        Ok(Precertificate {
            der: sign(tbs.clone(), &self.key)?,
            tbs,
        })
    }

    /// The final certificate of `precertificate`: the same TBSCertificate with the poison
    /// extension replaced, in place, by the SCT list extension (RFC 6962 §3.3: an OCTET STRING
    /// holding the TLS-encoded `SignedCertificateTimestampList`), signed. Returns its DER.
    ///
    /// # Errors
    ///
    /// A list too long to encode.
    pub fn finish(
        &self,
        precertificate: Precertificate,
        scts: &SignedCertificateTimestampList,
    ) -> Result<Vec<u8>, String> {
        let mut tbs = precertificate.tbs;
        let sct_list = Extension {
            extn_id: SCT_LIST_OID,
            critical: false,
            extn_value: octets(
                &octets(&scts.encode())?
                    .to_der()
                    .map_err(|e| e.to_string())?,
            )?,
        };
        for ext in tbs.extensions.iter_mut().flatten() {
            if ext.extn_id == POISON_OID {
                *ext = sct_list.clone();
            }
        }
        sign(tbs, &self.key)
    }
}

/// A precertificate ([`IssuingCa::precertificate`]): what the CT log logs, and what
/// [`IssuingCa::finish`] makes the certificate of.
#[derive(Clone, Debug)]
pub struct Precertificate {
    tbs: x509_cert::TbsCertificate,
    der: Vec<u8>,
}

impl Precertificate {
    /// The precertificate, DER (RFC 6962 §3.1 `pre_certificate`).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Its TBSCertificate without the poison extension, DER (RFC 6962 §3.2
    /// `PreCert.tbs_certificate`): what the SCT signs, and what a verifier rebuilds from the
    /// final certificate by removing the SCT list extension.
    ///
    /// # Errors
    ///
    /// Never for a precertificate made here (its TBSCertificate encoded once already).
    pub fn tbs_without_poison(&self) -> Result<Vec<u8>, String> {
        let mut tbs = self.tbs.clone();
        if let Some(exts) = &mut tbs.extensions {
            exts.retain(|e| e.extn_id != POISON_OID);
        }
        tbs.to_der().map_err(|e| e.to_string())
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

/// RFC 5280 §4.1.2.5: dates through 2049 are UTCTime, later ones GeneralizedTime (sigstore-python
/// refuses a certificate that writes a date before 2050 as GeneralizedTime).
fn validity(from: SystemTime, length: Duration) -> Result<Validity, String> {
    let time = |t: SystemTime| {
        UtcTime::from_system_time(t)
            .map(Time::UtcTime)
            .or_else(|_| GeneralizedTime::from_system_time(t).map(Time::GeneralTime))
            .map_err(|e| format!("a validity time: {e}"))
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::{Sct, SignedCertificateTimestampList};
    use x509_cert::ext::pkix::name::GeneralName;

    fn ca() -> IssuingCa {
        let keys = CaKeys::generate("Test, Inc.", SystemTime::now()).unwrap();
        IssuingCa::from_pem(&keys.intermediate_key_pem, &keys.chain_pem).unwrap()
    }

    #[test]
    fn validity_is_utc_time_through_2049_and_generalized_time_after() {
        // 2049-12-31T23:59:59Z, and one second later 2050-01-01T00:00:00Z (RFC 5280 §4.1.2.5).
        let last_utc = SystemTime::UNIX_EPOCH + Duration::from_secs(2_524_607_999);
        let v = validity(last_utc, Duration::from_secs(1)).unwrap();
        assert!(matches!(v.not_before, Time::UtcTime(_)), "{v:?}");
        assert!(matches!(v.not_after, Time::GeneralTime(_)), "{v:?}");
        assert_eq!(
            v.not_after.to_system_time(),
            last_utc + Duration::from_secs(1)
        );
        let ca = ca();
        assert_eq!(ca.subject().organization, "Test, Inc.");
        assert!(!ca.subject().common_name.is_empty());
        for der in ca.chain() {
            let cert = Certificate::from_der(der).unwrap();
            assert!(matches!(
                cert.tbs_certificate.validity.not_before,
                Time::UtcTime(_)
            ));
        }
    }

    fn subject_key() -> PublicKey {
        let key = SigningKey::random(&mut rand_core::OsRng);
        PublicKey::from_spki_der(key.verifying_key().to_public_key_der().unwrap().as_bytes())
            .unwrap()
    }

    fn identity(san: San) -> Identity {
        Identity {
            san,
            challenge: String::new(),
            extensions: vec![
                (1, ExtensionValue::Raw("https://issuer.example".into())),
                (8, ExtensionValue::Utf8("https://issuer.example".into())),
            ],
        }
    }

    fn scts() -> SignedCertificateTimestampList {
        SignedCertificateTimestampList(vec![Sct {
            log_id: [1; 32],
            timestamp: 2,
            extensions: crate::ct::leaf_index_extensions(3),
            signature: vec![0x30, 0x00],
        }])
    }

    fn find<'a>(cert: &'a Certificate, oid: &str) -> Option<&'a Extension> {
        cert.tbs_certificate
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id.to_string() == oid)
    }

    /// One SAN per identity type, critical (RFC 5280 §4.2.1.6), as Fulcio encodes it.
    #[test]
    fn each_identity_type_has_its_one_critical_san() {
        let ca = ca();
        let cases = [
            San::Email("a@example.org".into()),
            San::Uri("https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main".into()),
            San::Username("alice!example.org".into()),
        ];
        for san in cases {
            let pre = ca
                .precertificate(&identity(san.clone()), &subject_key(), SystemTime::now())
                .unwrap();
            let cert = Certificate::from_der(&ca.finish(pre, &scts()).unwrap()).unwrap();
            let ext = find(&cert, "2.5.29.17").unwrap();
            assert!(ext.critical);
            let names = SubjectAltName::from_der(ext.extn_value.as_bytes())
                .unwrap()
                .0;
            match (&san, names.as_slice()) {
                (San::Email(e), [GeneralName::Rfc822Name(n)]) => assert_eq!(n.as_str(), e),
                (San::Uri(u), [GeneralName::UniformResourceIdentifier(n)]) => {
                    assert_eq!(n.as_str(), u);
                }
                (San::Username(u), [GeneralName::OtherName(o)]) => {
                    assert_eq!(o.type_id.to_string(), "1.3.6.1.4.1.57264.1.7");
                    assert_eq!(o.value.decode_as::<String>().unwrap(), *u);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// The DER of the extensions: the raw `.1`, the UTF8String `.8`, the poison (critical
    /// NULL) of the precertificate, and the final certificate's SCT list (an OCTET STRING
    /// inside the extension's), the rest byte for byte the precertificate's.
    #[test]
    fn extensions_are_fulcios_and_the_sct_list_replaces_the_poison() {
        let ca = ca();
        let pre = ca
            .precertificate(
                &identity(San::Email("a@example.org".into())),
                &subject_key(),
                SystemTime::now(),
            )
            .unwrap();
        let precert = Certificate::from_der(pre.der()).unwrap();
        let poison = find(&precert, "1.3.6.1.4.1.11129.2.4.3").unwrap();
        assert!(poison.critical);
        assert_eq!(poison.extn_value.as_bytes(), [0x05, 0x00]);
        assert_eq!(
            find(&precert, "1.3.6.1.4.1.57264.1.1")
                .unwrap()
                .extn_value
                .as_bytes(),
            b"https://issuer.example"
        );
        let utf8 = find(&precert, "1.3.6.1.4.1.57264.1.8")
            .unwrap()
            .extn_value
            .as_bytes();
        assert_eq!(utf8[..2], [0x0c, 22]);
        let tbs = pre.tbs_without_poison().unwrap();

        let cert = Certificate::from_der(&ca.finish(pre, &scts()).unwrap()).unwrap();
        assert!(find(&cert, "1.3.6.1.4.1.11129.2.4.3").is_none());
        let list = find(&cert, "1.3.6.1.4.1.11129.2.4.2").unwrap();
        assert!(!list.critical);
        let inner = OctetString::from_der(list.extn_value.as_bytes()).unwrap();
        assert_eq!(
            SignedCertificateTimestampList::parse(inner.as_bytes()),
            Ok(scts())
        );
        assert_eq!(
            cert.tbs_certificate.serial_number,
            precert.tbs_certificate.serial_number
        );
        let mut without = cert.tbs_certificate.clone();
        without
            .extensions
            .as_mut()
            .unwrap()
            .retain(|e| e.extn_id != SCT_LIST_OID);
        assert_eq!(without.to_der().unwrap(), tbs);
        // Signed by the intermediate, whose key hash is the SCT's issuer_key_hash.
        let intermediate = Certificate::from_der(&ca.chain()[0]).unwrap();
        let spki = intermediate
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        assert_eq!(ca.issuer_key_hash(), <[u8; 32]>::from(Sha256::digest(spki)));
    }

    #[test]
    fn an_identity_that_is_not_ia5_or_a_ca_about_to_expire_is_refused() {
        let ca = ca();
        let key = subject_key();
        let err = ca
            .precertificate(
                &identity(San::Email("é@example.org".into())),
                &key,
                SystemTime::now(),
            )
            .unwrap_err();
        assert!(err.contains("IA5String"), "{err}");
        let late = ca.not_after() - LEAF_VALIDITY + Duration::from_secs(1);
        assert!(
            ca.precertificate(&identity(San::Uri("https://x".into())), &key, late)
                .is_err()
        );
    }
}
