//! The RFC 3161 timestamp authority, as sigstore/timestamp-authority serves it
//! (docs/sigstore-services.md §3): parsing and checking a request (DER `TimeStampReq` or
//! upstream's JSON form), building the signed `TimeStampResp` from a key, its certificate chain,
//! a time and a serial number, making a first chain, and verifying a timestamp token against the
//! timestamp authorities of a trusted root. No clock, no randomness of its own except when asked
//! to make keys: the caller gives the time and the serial number.
//!
//! The TSA key is ECDSA P-256: every Sigstore client and OpenSSL verify it, and its signatures
//! are the cheapest to make of the curves they accept (a token is one signature). Signing goes
//! through aws-lc-rs (as the log's keys do, [`crate::signer`]); certificates are made with
//! `x509-cert`'s builder and the RustCrypto key, so the tests check one against the other.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cmpv2::status::{PkiStatus, PkiStatusInfo};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{GeneralizedTime, Int, ObjectIdentifier as Oid, OctetString, SetOfVec};
use der::oid::AssociatedOid;
use der::{Any, Decode, Encode, Sequence};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::entries::pki::{HashAlg, Verifier};
use crate::signer::SecretPem;
use crate::wire::{CertificateAuthority, DistinguishedName};

/// The TSA policy upstream's timestamp authority uses by default (Sigstore's arc).
pub const DEFAULT_POLICY: &str = "1.3.6.1.4.1.57264.2";

/// Largest timestamp request accepted, DER or JSON. A DER request with a SHA-512 imprint, a
/// 20-byte nonce and a policy is under 150 bytes; upstream caps its JSON form at 1 KiB.
pub const MAX_REQUEST_BYTES: usize = 1024;

/// How long a chain made by [`generate`] is valid: its timestamps verify only while it is, and
/// the root key is not kept to re-issue the leaf.
pub const GENERATED_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

const OID_SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
const OID_ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
const OID_RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const OID_RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const OID_RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
const OID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const OID_RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const OID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// `id-ct-TSTInfo` (RFC 3161 §2.4.2).
const OID_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// `id-aa-signingCertificateV2` (RFC 5035 §3).
const OID_SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
const OID_EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// `id-kp-timeStamping` (RFC 3161 §2.3).
const OID_KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
const OID_COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
const OID_ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");

/// Why a timestamp request is refused. Every case is the client's fault (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the timestamp request is {0} bytes; at most {MAX_REQUEST_BYTES} are accepted")]
    TooLarge(usize),
    #[error("malformed timestamp request: {0}")]
    Malformed(String),
    #[error("unsupported hash algorithm {0}: use SHA-256, SHA-384 or SHA-512")]
    UnsupportedHash(String),
    #[error("the message imprint is {got} bytes, but a {alg} digest is {want} bytes")]
    DigestLength {
        alg: &'static str,
        want: usize,
        got: usize,
    },
    #[error("timestamp request extensions are not supported")]
    Extensions,
    #[error("policy {requested} is not accepted: this TSA issues timestamps under policy {ours}")]
    UnacceptedPolicy { requested: String, ours: String },
}

/// A checked timestamp request, from either form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRequest {
    /// The message imprint's hash algorithm as the client named it, echoed into TSTInfo.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    pub hash: HashAlg,
    pub digest: Vec<u8>,
    pub nonce: Option<Int>,
    /// Whether the TSA's certificate goes into the token (RFC 3161 §2.4.1 `certReq`).
    pub cert_req: bool,
    pub policy: Option<Oid>,
}

fn hash_of(oid: Oid) -> Result<HashAlg, RequestError> {
    match oid {
        OID_SHA256 => Ok(HashAlg::Sha256),
        OID_SHA384 => Ok(HashAlg::Sha384),
        OID_SHA512 => Ok(HashAlg::Sha512),
        OID_SHA1 => Err(RequestError::UnsupportedHash("SHA-1".into())),
        other => Err(RequestError::UnsupportedHash(other.to_string())),
    }
}

fn oid_of(hash: HashAlg) -> Oid {
    match hash {
        HashAlg::Sha256 => OID_SHA256,
        HashAlg::Sha384 => OID_SHA384,
        HashAlg::Sha512 => OID_SHA512,
    }
}

fn check_digest(hash: HashAlg, digest: &[u8]) -> Result<(), RequestError> {
    if digest.len() != hash.digest_len() {
        return Err(RequestError::DigestLength {
            alg: hash.name(),
            want: hash.digest_len(),
            got: digest.len(),
        });
    }
    Ok(())
}

/// Parses and checks a DER `TimeStampReq` (RFC 3161 §2.4.1): version 1, a SHA-2 imprint of the
/// right length, no extensions (none is defined that this TSA could honour).
pub fn parse_der_request(bytes: &[u8]) -> Result<TimestampRequest, RequestError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge(bytes.len()));
    }
    let req = TimeStampReq::from_der(bytes).map_err(|e| RequestError::Malformed(e.to_string()))?;
    if req.extensions.is_some() {
        return Err(RequestError::Extensions);
    }
    let imprint = req.message_imprint;
    let hash = hash_of(imprint.hash_algorithm.oid)?;
    let digest = imprint.hashed_message.as_bytes().to_vec();
    check_digest(hash, &digest)?;
    Ok(TimestampRequest {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: imprint.hash_algorithm.oid,
            parameters: imprint.hash_algorithm.parameters,
        },
        hash,
        digest,
        nonce: req.nonce,
        cert_req: req.cert_req,
        policy: req.req_policy,
    })
}

/// Upstream's JSON request (`pkg/api/timestamp.go`): what sigstore-js sends, without
/// `certificates` and without a nonce.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest {
    artifact_hash: String,
    hash_algorithm: String,
    #[serde(default)]
    certificates: bool,
    #[serde(default)]
    nonce: Option<serde_json::Number>,
    #[serde(default, rename = "tsaPolicyOID")]
    tsa_policy_oid: Option<String>,
}

/// Parses and checks upstream's JSON request: `{artifactHash (base64), hashAlgorithm ("sha256",
/// "sha384", "sha512"), certificates?, nonce? (an integer 0 ≤ n < 2^64), tsaPolicyOID?}`.
pub fn parse_json_request(bytes: &[u8]) -> Result<TimestampRequest, RequestError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge(bytes.len()));
    }
    let req: JsonRequest =
        serde_json::from_slice(bytes).map_err(|e| RequestError::Malformed(e.to_string()))?;
    let hash = match req.hash_algorithm.as_str() {
        "sha1" => return Err(RequestError::UnsupportedHash("SHA-1".into())),
        name => HashAlg::from_name(name)
            .ok_or_else(|| RequestError::UnsupportedHash(format!("{name:.40?}")))?,
    };
    let digest = B64
        .decode(&req.artifact_hash)
        .map_err(|e| RequestError::Malformed(format!("artifactHash is not base64: {e}")))?;
    check_digest(hash, &digest)?;
    let nonce = req
        .nonce
        .map(|n| {
            n.as_u64()
                .map(|n| positive_int(&n.to_be_bytes()))
                .ok_or_else(|| {
                    RequestError::Malformed(format!(
                        "nonce {n} is not an integer from 0 to 2^64 - 1"
                    ))
                })
        })
        .transpose()?;
    let policy = req
        .tsa_policy_oid
        .filter(|p| !p.is_empty())
        .map(|p| {
            Oid::new(&p).map_err(|_| {
                RequestError::Malformed(format!("tsaPolicyOID {p:.80?} is not an OID"))
            })
        })
        .transpose()?;
    Ok(TimestampRequest {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: oid_of(hash),
            parameters: None,
        },
        hash,
        digest,
        nonce,
        cert_req: req.certificates,
        policy,
    })
}

/// A non-negative DER INTEGER from big-endian magnitude bytes.
fn positive_int(be: &[u8]) -> Int {
    let trimmed = match be.iter().position(|&b| b != 0) {
        Some(i) => &be[i..],
        None => &[0][..],
    };
    let mut bytes = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        bytes.push(0);
    }
    bytes.extend_from_slice(trimmed);
    Int::new(&bytes).expect("at most 9 bytes")
}

/// `SigningCertificateV2` (RFC 5035 §3): binds the signature to the TSA's certificate, which
/// RFC 3161 §2.4.1 requires in the signed attributes (ESSCertIDv2 in place of ESSCertID, RFC 5816).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Vec<Any>>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    /// `DEFAULT {algorithm id-sha256}`: absent (`None`) means SHA-256, and DER leaves it out.
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: OID_SHA256,
        parameters: None,
    }
}

/// Why a key or chain cannot serve as this TSA's.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the TSA key is not a PKCS#8 PEM ECDSA P-256 private key: {0}")]
    Key(String),
    #[error("the TSA certificate chain is not usable: {0}")]
    Chain(String),
    #[error("the TSA policy {0:?} is not an OID")]
    Policy(String),
}

/// The TSA: its key, its chain (leaf first) and its policy.
pub struct TsaSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    chain: Vec<Certificate>,
    /// The leaf as the token carries it when `certReq` is set.
    leaf: CertificateChoices,
    sid: SignerIdentifier,
    /// The signing-certificate-v2 attribute, the same in every token.
    signing_certificate: Attribute,
    policy: Oid,
}

impl std::fmt::Debug for TsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsaSigner")
            .field("policy", &self.policy.to_string())
            .finish_non_exhaustive()
    }
}

impl TsaSigner {
    /// The TSA with the PKCS#8 PEM key `key_pem`, the PEM chain `chain_pem` (leaf first, then
    /// intermediates, root last) and the policy OID `policy`. The chain must have at least two
    /// certificates (sigstore-python ignores a TSA with fewer), each issued and signed by the
    /// next, a leaf fit for timestamping ([`check_tsa_leaf`]) holding this key.
    pub fn new(key_pem: &str, chain_pem: &str, policy: &str) -> Result<TsaSigner, SetupError> {
        let policy = Oid::new(policy).map_err(|_| SetupError::Policy(policy.to_owned()))?;
        let signing_key = p256::ecdsa::SigningKey::from_pkcs8_pem(key_pem)
            .map_err(|e| SetupError::Key(e.to_string()))?;
        let pkcs8 = signing_key
            .to_pkcs8_der()
            .map_err(|e| SetupError::Key(e.to_string()))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_bytes())
            .map_err(|e| SetupError::Key(e.to_string()))?;
        let chain = Certificate::load_pem_chain(chain_pem.as_bytes())
            .map_err(|e| SetupError::Chain(format!("not a PEM certificate chain: {e}")))?;
        let checked = check_chain(&chain).map_err(SetupError::Chain)?;
        let spki = signing_key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| SetupError::Key(e.to_string()))?;
        if checked.key().spki_der() != spki.as_bytes() {
            return Err(SetupError::Chain(
                "the leaf certificate does not hold the TSA key".into(),
            ));
        }
        let leaf = &chain[0];
        let leaf_der = leaf
            .to_der()
            .map_err(|e| SetupError::Chain(e.to_string()))?;
        let signing_certificate = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(HashAlg::Sha256.digest(&leaf_der)).expect("32 bytes"),
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(
                        leaf.tbs_certificate.issuer.clone(),
                    )],
                    serial_number: leaf.tbs_certificate.serial_number.clone(),
                }),
            }],
            policies: None,
        };
        let signing_certificate = attribute(OID_SIGNING_CERTIFICATE_V2, &signing_certificate)
            .map_err(|e| SetupError::Chain(e.to_string()))?;
        Ok(TsaSigner {
            key,
            rng: SystemRandom::new(),
            leaf: CertificateChoices::Certificate(leaf.clone()),
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: leaf.tbs_certificate.issuer.clone(),
                serial_number: leaf.tbs_certificate.serial_number.clone(),
            }),
            chain,
            signing_certificate,
            policy,
        })
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The chain as PEM, leaf first (`GET /api/v1/timestamp/certchain`).
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| {
                crate::entries::pki::pem_encode(
                    "CERTIFICATE",
                    &c.to_der().expect("a parsed certificate encodes"),
                )
            })
            .collect()
    }

    /// When the leaf's validity begins and ends (Unix seconds): the TSA can timestamp only then.
    pub fn validity(&self) -> (u64, u64) {
        leaf_validity(&self.chain[0])
    }

    /// The trusted-root entry of this TSA: the chain leaf first, root last, valid for the
    /// leaf's validity; the subject is the leaf's.
    pub fn authority(&self) -> CertificateAuthority {
        authority_of(&self.chain, None)
    }

    /// The DER `TimeStampResp` granting `req` at `gen_time` (Unix seconds) with serial number
    /// `serial` (RFC 3161 §2.4.2). The request's policy, if any, must be this TSA's.
    ///
    /// genTime is whole seconds with an accuracy of 1 s: sigstore-js mis-parses fractions
    /// (docs/sigstore-services.md §3). The signed attributes are content-type, message-digest
    /// and signing-certificate-v2 (RFC 5652 §11, RFC 5035); the leaf goes in only on `certReq`.
    pub fn timestamp(
        &self,
        req: &TimestampRequest,
        gen_time: u64,
        serial: u128,
    ) -> Result<Vec<u8>, RequestError> {
        if let Some(p) = req.policy
            && p != self.policy
        {
            return Err(RequestError::UnacceptedPolicy {
                requested: p.to_string(),
                ours: self.policy.to_string(),
            });
        }
        let tst_info = TstInfo {
            version: TspVersion::V1,
            policy: self.policy,
            message_imprint: MessageImprint {
                hash_algorithm: spki::AlgorithmIdentifier {
                    oid: req.hash_algorithm.oid,
                    parameters: req.hash_algorithm.parameters.clone(),
                },
                hashed_message: OctetString::new(req.digest.clone()).expect("a digest"),
            },
            serial_number: positive_int(&serial.to_be_bytes()),
            gen_time: GeneralizedTime::from_unix_duration(Duration::from_secs(gen_time))
                .map_err(|e| RequestError::Malformed(format!("time {gen_time}: {e}")))?,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce: req.nonce.clone(),
            tsa: None,
            extensions: None,
        };
        let tst_der = tst_info.to_der().expect("TSTInfo encodes");
        let signed_attrs: SetOfVec<Attribute> = vec![
            attribute(OID_CONTENT_TYPE, &OID_TST_INFO).expect("an OID encodes"),
            attribute(
                OID_MESSAGE_DIGEST,
                &OctetString::new(HashAlg::Sha256.digest(&tst_der)).expect("a digest"),
            )
            .expect("a digest encodes"),
            self.signing_certificate.clone(),
        ]
        .try_into()
        .expect("three distinct attributes");
        // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF.
        let to_sign = signed_attrs.to_der().expect("attributes encode");
        let signature = self
            .key
            .sign(&self.rng, &to_sign)
            .expect("ECDSA signing does not fail");
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: self.sid.clone(),
            digest_alg: sha256_algorithm(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: OID_ECDSA_SHA256,
                parameters: None,
            },
            signature: OctetString::new(signature.as_ref()).expect("a signature"),
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            // RFC 5652 §5.1: version 3 when the content type is not id-data.
            version: CmsVersion::V3,
            digest_algorithms: vec![sha256_algorithm()].try_into().expect("one algorithm"),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: OID_TST_INFO,
                econtent: Some(
                    Any::encode_from(&OctetString::new(tst_der).expect("TSTInfo"))
                        .expect("an octet string encodes"),
                ),
            },
            certificates: req.cert_req.then(|| {
                CertificateSet(vec![self.leaf.clone()].try_into().expect("one certificate"))
            }),
            crls: None,
            signer_infos: SignerInfos(vec![signer_info].try_into().expect("one signer")),
        };
        let resp = TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Accepted,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(ContentInfo {
                content_type: OID_SIGNED_DATA,
                content: Any::encode_from(&signed_data).expect("SignedData encodes"),
            }),
        };
        Ok(resp.to_der().expect("TimeStampResp encodes"))
    }
}

fn attribute(oid: Oid, value: &(impl der::EncodeValue + der::Tagged)) -> der::Result<Attribute> {
    Ok(Attribute {
        oid,
        values: vec![Any::encode_from(value)?].try_into()?,
    })
}

/// The organization and common name of a certificate's subject (the trusted root's `subject`).
pub(crate) fn distinguished_name(name: &Name) -> DistinguishedName {
    let mut dn = DistinguishedName::default();
    for atv in name.0.iter().flat_map(|rdn| rdn.0.iter()) {
        let value = || {
            der::asn1::Utf8StringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    der::asn1::PrintableStringRef::try_from(&atv.value)
                        .map(|s| s.as_str().to_owned())
                })
                .unwrap_or_default()
        };
        match atv.oid {
            OID_COMMON_NAME => dn.common_name = value(),
            OID_ORGANIZATION => dn.organization = value(),
            _ => {}
        }
    }
    dn
}

/// A leaf fit to sign timestamps (RFC 3161 §2.3, as sigstore-go and rfc3161-client check it):
/// not a CA, and exactly one extended key usage, `id-kp-timeStamping`, marked critical.
pub fn check_tsa_leaf(leaf: &Certificate) -> Result<(), String> {
    let extensions = leaf
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default();
    let is_ca = extensions
        .iter()
        .filter(|e| e.extn_id == BasicConstraints::OID)
        .any(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).is_ok_and(|bc| bc.ca));
    if is_ca {
        return Err("the leaf certificate is a CA".into());
    }
    let ekus: Vec<&Extension> = extensions
        .iter()
        .filter(|e| e.extn_id == OID_EXTENDED_KEY_USAGE)
        .collect();
    let [eku] = ekus.as_slice() else {
        return Err("the leaf certificate must have one extended key usage extension".into());
    };
    if !eku.critical {
        return Err("the leaf certificate's extended key usage must be critical".into());
    }
    match ExtendedKeyUsage::from_der(eku.extn_value.as_bytes()) {
        Ok(usage) if usage.0 == [OID_KP_TIME_STAMPING] => Ok(()),
        _ => {
            Err("the leaf certificate's only extended key usage must be id-kp-timeStamping".into())
        }
    }
}

/// Checks a TSA chain (leaf first): at least two certificates, each issued and signed by the next
/// and every issuer a CA ([`Verifier::verify_chain`]), a leaf fit for timestamping. Returns the
/// parsed chain, whose key is the leaf's.
fn check_chain(chain: &[Certificate]) -> Result<Verifier, String> {
    if chain.len() < 2 {
        return Err(format!(
            "{} certificate(s); give the leaf and the certificates up to the root (at least 2: \
             sigstore-python ignores a TSA whose chain is shorter)",
            chain.len()
        ));
    }
    if chain.len() > crate::limits::MAX_CERT_CHAIN_LEN {
        return Err(format!(
            "more than {} certificates",
            crate::limits::MAX_CERT_CHAIN_LEN
        ));
    }
    check_tsa_leaf(&chain[0])?;
    let ders = chain
        .iter()
        .map(|c| c.to_der().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
    let verifier = Verifier::from_certificate_ders(&refs)?;
    verifier.verify_chain()?;
    Ok(verifier)
}

/// The extended key usage `id-kp-timeStamping`, critical as RFC 3161 §2.3 requires (the builder
/// marks [`ExtendedKeyUsage`] non-critical).
struct TimeStampingUsage(ExtendedKeyUsage);

impl AssociatedOid for TimeStampingUsage {
    const OID: Oid = OID_EXTENDED_KEY_USAGE;
}

impl Encode for TimeStampingUsage {
    fn encoded_len(&self) -> der::Result<der::Length> {
        self.0.encoded_len()
    }
    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode(writer)
    }
}

impl AsExtension for TimeStampingUsage {
    fn critical(&self, _: &Name, _: &[Extension]) -> bool {
        true
    }
}

fn name(common_name: &str, organization: &str) -> der::Result<Name> {
    let rdn = |oid: Oid, value: &str| -> der::Result<RelativeDistinguishedName> {
        let atv = AttributeTypeAndValue {
            oid,
            value: Any::encode_from(&der::asn1::Utf8StringRef::new(value)?)?,
        };
        Ok(RelativeDistinguishedName(vec![atv].try_into()?))
    };
    Ok(RdnSequence(vec![
        rdn(OID_ORGANIZATION, organization)?,
        rdn(OID_COMMON_NAME, common_name)?,
    ]))
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    // Positive and of full length (RFC 5280 §4.1.2.2).
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::new(&bytes).expect("16 bytes")
}

/// A new TSA for the log named `hostname`, valid from `now` (Unix seconds) for
/// [`GENERATED_VALIDITY`]: a new P-256 key (PKCS#8 PEM) and the PEM chain of its leaf
/// certificate and a self-signed root. The root's key signs the two certificates and is then
/// dropped: nothing else needs it, and a key that no longer exists cannot leak.
pub fn generate(hostname: &str, now: u64) -> Result<(SecretPem, String), SetupError> {
    let chain_err = |e: &dyn std::fmt::Display| SetupError::Chain(e.to_string());
    let root_key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let leaf_key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let validity = Validity {
        not_before: Time::GeneralTime(
            GeneralizedTime::from_unix_duration(Duration::from_secs(now))
                .map_err(|e| chain_err(&e))?,
        ),
        not_after: Time::GeneralTime(
            GeneralizedTime::from_unix_duration(Duration::from_secs(now) + GENERATED_VALIDITY)
                .map_err(|e| chain_err(&e))?,
        ),
    };
    let root_name =
        name(&format!("{hostname} timestamping root"), "Arkivo").map_err(|e| chain_err(&e))?;
    let spki = |key: &p256::ecdsa::SigningKey| {
        spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(|e| chain_err(&e))
    };
    let root = CertificateBuilder::new(
        Profile::Root,
        random_serial(),
        validity,
        root_name.clone(),
        spki(&root_key)?,
        &root_key,
    )
    .map_err(|e| chain_err(&e))?
    .build::<p256::ecdsa::DerSignature>()
    .map_err(|e| chain_err(&e))?;
    let mut leaf = CertificateBuilder::new(
        Profile::Leaf {
            issuer: root_name,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        random_serial(),
        validity,
        name(&format!("{hostname} timestamp authority"), "Arkivo").map_err(|e| chain_err(&e))?,
        spki(&leaf_key)?,
        &root_key,
    )
    .map_err(|e| chain_err(&e))?;
    leaf.add_extension(&TimeStampingUsage(ExtendedKeyUsage(vec![
        OID_KP_TIME_STAMPING,
    ])))
    .map_err(|e| chain_err(&e))?;
    let leaf = leaf
        .build::<p256::ecdsa::DerSignature>()
        .map_err(|e| chain_err(&e))?;
    let mut chain = String::new();
    for cert in [&leaf, &root] {
        chain.push_str(&crate::entries::pki::pem_encode(
            "CERTIFICATE",
            &cert.to_der().map_err(|e| chain_err(&e))?,
        ));
    }
    let key = leaf_key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SetupError::Key(e.to_string()))?;
    Ok((SecretPem::new(key.as_str().to_owned()), chain))
}

/// Why a timestamp does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp does not verify: {0}")]
pub struct VerifyError(pub String);

/// A timestamp authority a verifier trusts: a trusted root's `timestampAuthorities` entry.
#[derive(Debug, Clone)]
pub struct TrustedTsa {
    chain: Vec<Certificate>,
    leaf_der: Vec<u8>,
    verifier: Verifier,
    /// `validFor` of the trusted root, Unix seconds.
    valid_from: Option<u64>,
    valid_until: Option<u64>,
}

impl TrustedTsa {
    /// From a trusted root's entry: its chain must pass the checks a TSA's own chain passes.
    pub fn from_authority(authority: &CertificateAuthority) -> Result<TrustedTsa, String> {
        let chain = authority
            .cert_chain
            .certificates
            .iter()
            .map(|c| {
                let der = B64
                    .decode(&c.raw_bytes)
                    .map_err(|e| format!("certificate is not base64: {e}"))?;
                Certificate::from_der(&der).map_err(|e| format!("malformed certificate: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let verifier = check_chain(&chain)?;
        let seconds = |t: Option<&String>| -> Result<Option<u64>, String> {
            t.map(|t| {
                rfc3339_seconds(t).ok_or_else(|| format!("validFor time {t:?} is not RFC 3339"))
            })
            .transpose()
        };
        let valid_for = authority.valid_for.as_ref();
        Ok(TrustedTsa {
            leaf_der: chain[0].to_der().map_err(|e| e.to_string())?,
            chain,
            verifier,
            valid_from: seconds(valid_for.and_then(|v| v.start.as_ref()))?,
            valid_until: seconds(valid_for.and_then(|v| v.end.as_ref()))?,
        })
    }
}

/// Unix seconds of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS[.frac]Z` (proto3 JSON timestamps).
fn rfc3339_seconds(t: &str) -> Option<u64> {
    let t = t.strip_suffix('Z')?;
    let (whole, _frac) = t.split_once('.').unwrap_or((t, ""));
    let b = whole.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| whole.get(r)?.parse::<u16>().ok();
    let dt = der::DateTime::new(
        num(0..4)?,
        u8::try_from(num(5..7)?).ok()?,
        u8::try_from(num(8..10)?).ok()?,
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
    )
    .ok()?;
    Some(dt.unix_duration().as_secs())
}

/// What a verified timestamp asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// genTime, Unix seconds (fractions dropped).
    pub gen_time: u64,
    pub policy: String,
    /// The serial number, big-endian.
    pub serial: Vec<u8>,
}

/// A DER `TimeStampReq` (RFC 3161 §2.4.1) for the `hash` digest `digest`, with `nonce`
/// (big-endian; §2.4.1: a large random number guards against replay) and `certReq` set, as
/// Sigstore clients send it: the TSA's certificate goes into the token, so that the token
/// names its signer by the ESSCertIDv2 a verifier checks.
///
/// # Errors
///
/// [`RequestError`] for a digest of the wrong length.
pub fn request(hash: HashAlg, digest: &[u8], nonce: &[u8; 8]) -> Result<Vec<u8>, RequestError> {
    check_digest(hash, digest)?;
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: oid_of(hash),
                parameters: None,
            },
            hashed_message: OctetString::new(digest)
                .map_err(|e| RequestError::Malformed(e.to_string()))?,
        },
        req_policy: None,
        nonce: Some(positive_int(nonce)),
        cert_req: true,
        extensions: None,
    };
    req.to_der()
        .map_err(|e| RequestError::Malformed(e.to_string()))
}

/// The nonce [`request`] sends for `nonce`, to give [`verify_response`].
pub fn request_nonce(nonce: &[u8; 8]) -> Int {
    positive_int(nonce)
}

/// The token of a granted DER `TimeStampResp` (RFC 3161 §2.4.2), as a CMS `ContentInfo`.
fn granted_token(response: &[u8]) -> Result<ContentInfo, VerifyError> {
    let bad = |m: String| VerifyError(m);
    let resp = TimeStampResp::from_der(response)
        .map_err(|e| bad(format!("malformed TimeStampResp: {e}")))?;
    if !matches!(
        resp.status.status,
        PkiStatus::Accepted | PkiStatus::GrantedWithMods
    ) {
        return Err(bad(format!("the TSA refused: {:?}", resp.status.status)));
    }
    resp.time_stamp_token
        .ok_or_else(|| bad("the response holds no token".into()))
}

/// Verifies a DER `TimeStampResp` answering a request of ours ([`verify_signed_timestamp`], and
/// the nonce `nonce` we sent, or its absence, must be echoed).
pub fn verify_response(
    response: &[u8],
    hash: HashAlg,
    digest: &[u8],
    nonce: Option<&Int>,
    tsas: &[TrustedTsa],
) -> Result<VerifiedTimestamp, VerifyError> {
    verify_content_info(&granted_token(response)?, hash, digest, Some(nonce), tsas)
}

/// Verifies a Sigstore bundle's RFC 3161 `signedTimestamp`: a DER `TimeStampResp` (protobuf-specs
/// `RFC3161SignedTimestamp`, as sigstore-go, sigstore-python and sigstore-js write and read it),
/// kept apart from its request, over the message digest `digest` of algorithm `hash`, against the
/// trusted `tsas`: the status is granted; the signer is the leaf of one of them (the certificates
/// inside the token are not trusted for anything); the signed attributes carry the content type
/// id-ct-TSTInfo, the TSTInfo's digest and an ESSCertIDv2 of that leaf; the signature over them
/// verifies with the leaf's key; the imprint matches; genTime is inside every certificate's
/// validity and the trusted root's validFor of the TSA. Its nonce, if any, was the signer's check
/// of the TSA's answer; the verifier never saw the request, so (as sigstore-go and
/// sigstore-python do) it is not compared.
pub fn verify_signed_timestamp(
    response: &[u8],
    hash: HashAlg,
    digest: &[u8],
    tsas: &[TrustedTsa],
) -> Result<VerifiedTimestamp, VerifyError> {
    verify_content_info(&granted_token(response)?, hash, digest, None, tsas)
}

/// `nonce`: `Some` with the request's nonce (or its absence) to compare, `None` when the
/// request is not known ([`verify_signed_timestamp`]).
fn verify_content_info(
    info: &ContentInfo,
    hash: HashAlg,
    digest: &[u8],
    nonce: Option<Option<&Int>>,
    tsas: &[TrustedTsa],
) -> Result<VerifiedTimestamp, VerifyError> {
    let bad = |m: &str| VerifyError(m.to_owned());
    if info.content_type != OID_SIGNED_DATA {
        return Err(bad("the token is not CMS SignedData"));
    }
    let sd: SignedData = info
        .content
        .decode_as()
        .map_err(|e| VerifyError(format!("malformed SignedData: {e}")))?;
    // RFC 5652 §5.1: version 3 for content other than id-data.
    if sd.version != CmsVersion::V3 {
        return Err(bad("the SignedData version is not 3"));
    }
    if sd.encap_content_info.econtent_type != OID_TST_INFO {
        return Err(bad("the token's content is not a TSTInfo"));
    }
    let tst_der = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("the token has no TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(|e| VerifyError(format!("malformed TSTInfo: {e}")))?;
    let tst = TstInfo::from_der(tst_der.as_bytes())
        .map_err(|e| VerifyError(format!("malformed TSTInfo: {e}")))?;
    let [signer] = sd.signer_infos.0.as_slice() else {
        return Err(bad("the token must have exactly one signer"));
    };
    // RFC 5652 §5.3: version 1 goes with an issuer-and-serial-number signer identifier.
    let (CmsVersion::V1, SignerIdentifier::IssuerAndSerialNumber(sid)) =
        (signer.version, &signer.sid)
    else {
        return Err(bad("the signer is not named by issuer and serial number"));
    };
    let tsa = tsas
        .iter()
        .find(|t| {
            let leaf = &t.chain[0].tbs_certificate;
            leaf.issuer == sid.issuer && leaf.serial_number == sid.serial_number
        })
        .ok_or_else(|| bad("the signer is not a trusted timestamp authority"))?;
    let digest_alg = match signer.digest_alg.oid {
        OID_SHA256 => HashAlg::Sha256,
        OID_SHA384 => HashAlg::Sha384,
        OID_SHA512 => HashAlg::Sha512,
        _ => return Err(bad("unsupported signer digest algorithm")),
    };
    if !sd
        .digest_algorithms
        .iter()
        .any(|a| a.oid == signer.digest_alg.oid)
    {
        return Err(bad(
            "the signer's digest algorithm is not among the SignedData's",
        ));
    }
    // The signature algorithm must name the digest the signature was made over (or only the
    // key's algorithm, RFC 5754 §3.3).
    let signature_digest = match signer.signature_algorithm.oid {
        OID_ECDSA_SHA256 | OID_RSA_SHA256 => Some(HashAlg::Sha256),
        OID_ECDSA_SHA384 | OID_RSA_SHA384 => Some(HashAlg::Sha384),
        OID_ECDSA_SHA512 | OID_RSA_SHA512 => Some(HashAlg::Sha512),
        OID_EC_PUBLIC_KEY | OID_RSA_ENCRYPTION => None,
        _ => return Err(bad("unsupported signature algorithm")),
    };
    if signature_digest.is_some_and(|d| d != digest_alg) {
        return Err(bad(
            "the signature algorithm does not match the digest algorithm",
        ));
    }
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("the signer has no signed attributes"))?;
    let single = |oid: Oid| -> Result<&Any, VerifyError> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => Ok(a.values.get(0).expect("one value")),
            _ => Err(VerifyError(format!(
                "the signed attributes must have one {oid} attribute with one value"
            ))),
        }
    };
    let content_type: Oid = single(OID_CONTENT_TYPE)?
        .decode_as()
        .map_err(|_| bad("malformed content-type attribute"))?;
    if content_type != OID_TST_INFO {
        return Err(bad("the content-type attribute is not id-ct-TSTInfo"));
    }
    let message_digest: OctetString = single(OID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(|_| bad("malformed message-digest attribute"))?;
    if message_digest.as_bytes() != digest_alg.digest(tst_der.as_bytes()) {
        return Err(bad(
            "the message-digest attribute does not match the TSTInfo",
        ));
    }
    let signing_certificate: SigningCertificateV2 = single(OID_SIGNING_CERTIFICATE_V2)?
        .decode_as()
        .map_err(|_| bad("malformed signing-certificate-v2 attribute"))?;
    let first = signing_certificate
        .certs
        .first()
        .ok_or_else(|| bad("the signing-certificate-v2 attribute names no certificate"))?;
    let cert_hash = match first.hash_algorithm.as_ref().map_or(OID_SHA256, |a| a.oid) {
        OID_SHA256 => HashAlg::Sha256,
        OID_SHA384 => HashAlg::Sha384,
        OID_SHA512 => HashAlg::Sha512,
        _ => return Err(bad("unsupported ESSCertIDv2 hash algorithm")),
    };
    if first.cert_hash.as_bytes() != cert_hash.digest(&tsa.leaf_der) {
        return Err(bad("the ESSCertIDv2 does not match the TSA's certificate"));
    }
    let signed = attrs
        .to_der()
        .map_err(|e| VerifyError(format!("signed attributes: {e}")))?;
    let signature = signer.signature.as_bytes();
    tsa.verifier
        .key()
        .verify_digest(digest_alg, &digest_alg.digest(&signed), signature)
        .map_err(|e| VerifyError(format!("the signature does not verify: {e}")))?;
    let imprint = &tst.message_imprint;
    if imprint.hash_algorithm.oid != oid_of(hash) || imprint.hashed_message.as_bytes() != digest {
        return Err(bad("the message imprint does not match the data"));
    }
    if nonce.is_some_and(|n| tst.nonce.as_ref() != n) {
        return Err(bad("the nonce does not match the request's"));
    }
    let gen_time = tst.gen_time.to_unix_duration().as_secs();
    for cert in &tsa.chain {
        let v = &cert.tbs_certificate.validity;
        if gen_time < v.not_before.to_unix_duration().as_secs()
            || gen_time > v.not_after.to_unix_duration().as_secs()
        {
            return Err(bad(
                "the time is outside the validity of the TSA's certificates",
            ));
        }
    }
    if tsa.valid_from.is_some_and(|s| gen_time < s) || tsa.valid_until.is_some_and(|e| gen_time > e)
    {
        return Err(bad(
            "the time is outside the TSA's validFor in the trusted root",
        ));
    }
    Ok(VerifiedTimestamp {
        gen_time,
        policy: tst.policy.to_string(),
        serial: tst.serial_number.as_bytes().to_vec(),
    })
}

/// When `leaf`'s validity begins and ends (Unix seconds).
fn leaf_validity(leaf: &Certificate) -> (u64, u64) {
    let v = &leaf.tbs_certificate.validity;
    (
        v.not_before.to_unix_duration().as_secs(),
        v.not_after.to_unix_duration().as_secs(),
    )
}

/// The trusted-root entry of a TSA whose chain is `chain` (leaf first, root last): valid from
/// the leaf's notBefore until its notAfter or, for a TSA replaced by another (its key changed),
/// until `replaced` (Unix seconds) if earlier — so that the timestamps it made before still
/// verify, and none after; the subject is the leaf's.
fn authority_of(chain: &[Certificate], replaced: Option<u64>) -> CertificateAuthority {
    let (start, end) = leaf_validity(&chain[0]);
    let end = replaced.map_or(end, |r| r.min(end));
    let time = |s: u64| {
        let t = GeneralizedTime::from_unix_duration(Duration::from_secs(s))
            .expect("a certificate's time");
        let dt = t.to_date_time();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minutes(),
            dt.seconds()
        )
    };
    CertificateAuthority {
        subject: distinguished_name(&chain[0].tbs_certificate.subject),
        uri: String::new(),
        cert_chain: crate::wire::CertificateChain {
            certificates: chain
                .iter()
                .map(|c| crate::wire::Certificate {
                    raw_bytes: B64.encode(c.to_der().expect("a parsed certificate encodes")),
                })
                .collect(),
        },
        valid_for: Some(crate::wire::ValidFor {
            start: Some(time(start)),
            end: Some(time(end)),
        }),
        operator: String::new(),
    }
}

/// The trusted-root entry of a TSA replaced at `replaced` (Unix seconds), whose PEM chain
/// [`TsaSigner::chain_pem`] gave: see [`authority_of`].
///
/// # Errors
///
/// [`SetupError::Chain`] if `chain_pem` holds no PEM certificate chain.
pub fn replaced_authority(
    chain_pem: &str,
    replaced: u64,
) -> Result<CertificateAuthority, SetupError> {
    let chain = Certificate::load_pem_chain(chain_pem.as_bytes())
        .map_err(|e| SetupError::Chain(format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(SetupError::Chain("no certificate".into()));
    }
    Ok(authority_of(&chain, Some(replaced)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_780_000_000;

    fn tsa() -> (TsaSigner, Vec<TrustedTsa>) {
        let (key, chain) = generate("tsa.test", NOW - 60).unwrap();
        let signer = TsaSigner::new(&key, &chain, DEFAULT_POLICY).unwrap();
        let trusted = vec![TrustedTsa::from_authority(&signer.authority()).unwrap()];
        (signer, trusted)
    }

    fn der_request(hash: Oid, digest: &[u8], nonce: Option<u64>, cert_req: bool) -> Vec<u8> {
        TimeStampReq {
            version: TspVersion::V1,
            message_imprint: MessageImprint {
                hash_algorithm: spki::AlgorithmIdentifier {
                    oid: hash,
                    parameters: None,
                },
                hashed_message: OctetString::new(digest).unwrap(),
            },
            req_policy: None,
            nonce: nonce.map(|n| positive_int(&n.to_be_bytes())),
            cert_req,
            extensions: None,
        }
        .to_der()
        .unwrap()
    }

    fn token_certificates(resp: &[u8]) -> usize {
        let resp = TimeStampResp::from_der(resp).unwrap();
        let sd: SignedData = resp.time_stamp_token.unwrap().content.decode_as().unwrap();
        sd.certificates.map_or(0, |c| c.0.len())
    }

    #[test]
    fn generated_chain_is_a_tsa_chain() {
        let (signer, _) = tsa();
        assert_eq!(signer.chain().len(), 2);
        check_tsa_leaf(&signer.chain()[0]).unwrap();
        assert_eq!(signer.validity().0, NOW - 60);
        let root = signer.authority();
        assert_eq!(root.cert_chain.certificates.len(), 2);
        assert_eq!(root.subject.organization, "Arkivo");
        assert_eq!(root.subject.common_name, "tsa.test timestamp authority");
        assert_eq!(signer.chain_pem().matches("BEGIN CERTIFICATE").count(), 2);
    }

    #[test]
    fn every_hash_round_trips_and_cert_req_is_honoured() {
        let (signer, trusted) = tsa();
        for (oid, hash) in [
            (OID_SHA256, HashAlg::Sha256),
            (OID_SHA384, HashAlg::Sha384),
            (OID_SHA512, HashAlg::Sha512),
        ] {
            for (nonce, cert_req) in [(Some(7u64), true), (None, false), (Some(u64::MAX), false)] {
                let digest = hash.digest(b"artifact");
                let req = parse_der_request(&der_request(oid, &digest, nonce, cert_req)).unwrap();
                let resp = signer.timestamp(&req, NOW, 0x1234).unwrap();
                assert_eq!(token_certificates(&resp), usize::from(cert_req));
                let v =
                    verify_response(&resp, hash, &digest, req.nonce.as_ref(), &trusted).unwrap();
                assert_eq!(v.gen_time, NOW);
                assert_eq!(v.policy, DEFAULT_POLICY);
                assert_eq!(v.serial, [0x12, 0x34]);
            }
        }
    }

    #[test]
    fn changed_imprint_nonce_or_time_fails() {
        let (signer, trusted) = tsa();
        let digest = HashAlg::Sha256.digest(b"artifact");
        let req = parse_der_request(&der_request(OID_SHA256, &digest, Some(42), true)).unwrap();
        let resp = signer.timestamp(&req, NOW, 1).unwrap();
        let other = HashAlg::Sha256.digest(b"other");
        let nonce = req.nonce.as_ref();
        assert!(verify_response(&resp, HashAlg::Sha256, &other, nonce, &trusted).is_err());
        assert!(verify_response(&resp, HashAlg::Sha512, &digest, nonce, &trusted).is_err());
        let wrong_nonce = positive_int(&[43]);
        assert!(
            verify_response(
                &resp,
                HashAlg::Sha256,
                &digest,
                Some(&wrong_nonce),
                &trusted
            )
            .is_err()
        );
        assert!(verify_response(&resp, HashAlg::Sha256, &digest, None, &trusted).is_err());
        // Another TSA's root trusts nothing this one signed.
        let (_, others) = tsa();
        assert!(verify_response(&resp, HashAlg::Sha256, &digest, nonce, &others).is_err());
        // A time outside the leaf's validity.
        let early = signer.timestamp(&req, NOW - 61, 1).unwrap();
        assert!(verify_response(&early, HashAlg::Sha256, &digest, nonce, &trusted).is_err());
    }

    /// A client's request (what `arkivo sign-blob` sends) parses as sent, and the token taken
    /// out of the answer verifies on its own, as a bundle carries it; with another nonce not.
    #[test]
    fn client_requests_and_tokens() {
        let (signer, trusted) = tsa();
        let nonce = [0x80, 1, 2, 3, 4, 5, 6, 7];
        for hash in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            let digest = hash.digest(b"signature bytes");
            let der = request(hash, &digest, &nonce).unwrap();
            let req = parse_der_request(&der).unwrap();
            assert_eq!((req.hash, &req.digest, req.cert_req), (hash, &digest, true));
            assert_eq!(req.nonce, Some(request_nonce(&nonce)));
            let resp = signer.timestamp(&req, NOW, 7).unwrap();
            let sent = request_nonce(&nonce);
            verify_response(&resp, hash, &digest, Some(&sent), &trusted).unwrap();
            let other = request_nonce(&[0; 8]);
            assert!(verify_response(&resp, hash, &digest, Some(&other), &trusted).is_err());
            let kept = verify_signed_timestamp(&resp, hash, &digest, &trusted).unwrap();
            assert_eq!(kept.gen_time, NOW);
            let other_digest = hash.digest(b"other signature");
            assert!(verify_signed_timestamp(&resp, hash, &other_digest, &trusted).is_err());
        }
        assert!(request(HashAlg::Sha256, &[0; 20], &nonce).is_err());
        assert!(verify_signed_timestamp(b"\x30\x00", HashAlg::Sha256, &[0; 32], &[]).is_err());
    }

    /// Every single-byte change of a response (without certificates, whose copy in the token is
    /// not relied on) makes it fail to parse or to verify.
    #[test]
    fn every_byte_flip_fails() {
        let (signer, trusted) = tsa();
        let digest = HashAlg::Sha256.digest(b"artifact");
        let req = parse_der_request(&der_request(OID_SHA256, &digest, Some(9), false)).unwrap();
        let resp = signer.timestamp(&req, NOW, 5).unwrap();
        let nonce = req.nonce.as_ref();
        verify_response(&resp, HashAlg::Sha256, &digest, nonce, &trusted).unwrap();
        let mut survived = Vec::new();
        // The status (RFC 3161 §2.4.2 PKIStatus) at byte 8: 0 flipped is 1, grantedWithMods,
        // which grants as well.
        assert_eq!(resp[6..9], [0x02, 0x01, 0x00]);
        for i in (0..resp.len()).filter(|&i| i != 8) {
            let mut bad = resp.clone();
            bad[i] ^= 0x01;
            if verify_response(&bad, HashAlg::Sha256, &digest, nonce, &trusted).is_ok() {
                survived.push(i);
            }
        }
        assert!(survived.is_empty(), "flips at {survived:?} still verify");
    }

    #[test]
    fn bad_requests_are_refused() {
        let d256 = HashAlg::Sha256.digest(b"x");
        assert_eq!(
            parse_der_request(&der_request(OID_SHA1, &[0; 20], None, false)),
            Err(RequestError::UnsupportedHash("SHA-1".into()))
        );
        assert!(matches!(
            parse_der_request(&der_request(OID_SHA384, &d256, None, false)),
            Err(RequestError::DigestLength {
                want: 48,
                got: 32,
                ..
            })
        ));
        assert!(matches!(
            parse_der_request(&d256),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            parse_der_request(&vec![0x30; MAX_REQUEST_BYTES + 1]),
            Err(RequestError::TooLarge(_))
        ));
        let mut with_ext =
            TimeStampReq::from_der(&der_request(OID_SHA256, &d256, None, false)).unwrap();
        with_ext.extensions = Some(vec![Extension {
            extn_id: OID_KP_TIME_STAMPING,
            critical: false,
            extn_value: OctetString::new(vec![5, 0]).unwrap(),
        }]);
        assert_eq!(
            parse_der_request(&with_ext.to_der().unwrap()),
            Err(RequestError::Extensions)
        );
        let (signer, _) = tsa();
        let mut req = parse_der_request(&der_request(OID_SHA256, &d256, None, false)).unwrap();
        req.policy = Some(Oid::new_unwrap("1.2.3.4"));
        assert!(matches!(
            signer.timestamp(&req, NOW, 1),
            Err(RequestError::UnacceptedPolicy { .. })
        ));
        req.policy = Some(Oid::new_unwrap(DEFAULT_POLICY));
        signer.timestamp(&req, NOW, 1).unwrap();
    }

    #[test]
    fn json_requests() {
        let d = B64.encode(HashAlg::Sha384.digest(b"x"));
        // sigstore-js's form: no certificates, no nonce.
        let req = parse_json_request(
            format!(r#"{{"artifactHash":"{d}","hashAlgorithm":"sha384"}}"#).as_bytes(),
        )
        .unwrap();
        assert_eq!(
            (req.hash, req.cert_req, req.nonce.is_none()),
            (HashAlg::Sha384, false, true)
        );
        let req = parse_json_request(
            format!(
                r#"{{"artifactHash":"{d}","hashAlgorithm":"sha384","certificates":true,"nonce":128,"tsaPolicyOID":"{DEFAULT_POLICY}"}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(req.cert_req);
        assert_eq!(req.nonce.unwrap().as_bytes(), [0, 128]);
        assert_eq!(req.policy, Some(Oid::new_unwrap(DEFAULT_POLICY)));
        for (body, want) in [
            (
                format!(r#"{{"artifactHash":"{d}","hashAlgorithm":"sha1"}}"#),
                "SHA-1",
            ),
            (
                format!(r#"{{"artifactHash":"{d}","hashAlgorithm":"sha256"}}"#),
                "48 bytes",
            ),
            (
                format!(r#"{{"artifactHash":"{d}","hashAlgorithm":"md5"}}"#),
                "md5",
            ),
            (
                format!(r#"{{"artifactHash":"{d}","hashAlgorithm":"sha384","nonce":-1}}"#),
                "nonce",
            ),
            (
                format!(r#"{{"artifactHash":"{d}","hashAlgorithm":"sha384","tsaPolicyOID":"x"}}"#),
                "OID",
            ),
            (
                r#"{"artifactHash":"!!","hashAlgorithm":"sha384"}"#.to_owned(),
                "base64",
            ),
            ("[]".to_owned(), "malformed"),
        ] {
            let err = parse_json_request(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn given_chains_are_checked() {
        let (key, chain) = generate("a.test", NOW).unwrap();
        let (other_key, other_chain) = generate("b.test", NOW).unwrap();
        assert!(TsaSigner::new(&other_key, &chain, DEFAULT_POLICY).is_err());
        let leaf_only: String = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .take(1)
            .collect();
        let err = TsaSigner::new(&key, &leaf_only, DEFAULT_POLICY).unwrap_err();
        assert!(err.to_string().contains("at least 2"), "{err}");
        // The leaf of one chain under the root of another: not signed by it.
        let mixed: String = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .take(1)
            .chain(
                other_chain
                    .split_inclusive("-----END CERTIFICATE-----\n")
                    .skip(1),
            )
            .collect();
        assert!(TsaSigner::new(&key, &mixed, DEFAULT_POLICY).is_err());
        // The root as a leaf: a CA with no timestamping usage.
        let mut reversed: Vec<&str> = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .collect();
        reversed.reverse();
        let reversed = reversed.concat();
        assert!(TsaSigner::new(&key, &reversed, DEFAULT_POLICY).is_err());
        assert!(TsaSigner::new(&key, &chain, "not an oid").is_err());
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(
            rfc3339_seconds("2026-08-19T12:00:00.5Z"),
            Some(1_787_140_800)
        );
        assert_eq!(rfc3339_seconds("2026-08-19 12:00:00Z"), None);
        assert_eq!(rfc3339_seconds("2026-08-19T12:00:00"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_digest_and_nonce_verify(data in proptest::collection::vec(any::<u8>(), 0..64), nonce in any::<Option<u64>>(), serial in any::<u128>()) {
            let (signer, trusted) = tsa();
            let digest = HashAlg::Sha256.digest(&data);
            let req = parse_der_request(&der_request(OID_SHA256, &digest, nonce, true)).unwrap();
            let resp = signer.timestamp(&req, NOW, serial).unwrap();
            let v = verify_response(&resp, HashAlg::Sha256, &digest, req.nonce.as_ref(), &trusted).unwrap();
            prop_assert_eq!(v.serial, positive_int(&serial.to_be_bytes()).as_bytes().to_vec());
        }

        #[test]
        fn request_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_der_request(&bytes);
            let _ = parse_json_request(&bytes);
        }
    }
}
