//! A Fulcio-compatible certificate authority, the pure part (docs/sigstore-services.md §4): the
//! request of `POST /api/v2/signingCert` ([`SigningCertRequest`]), the key it certifies and the
//! proof that the caller holds it ([`KeyRequest`]), ID tokens ([`token`]), the identity a token
//! names ([`identity`]) and the certificates ([`cert`]). Fetching an issuer's keys is the
//! server's.

pub mod cert;
pub mod identity;
pub mod token;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use der::Decode;
use der::Encode;
use der::oid::ObjectIdentifier;
use serde::{Deserialize, Serialize};
use x509_cert::request::CertReq;

use crate::entries::pki::{HashAlg, KeyType, PublicKey, Verifier, pem_blocks};
use crate::limits::MAX_PUBLIC_KEY_BYTES;

/// The body of `POST /api/v2/signingCert` (fulcio `fulcio.proto` `CreateSigningCertificateRequest`,
/// proto3 JSON: lowerCamelCase, the proto names accepted too).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningCertRequest {
    #[serde(default)]
    pub credentials: Option<Credentials>,
    #[serde(default, alias = "public_key_request")]
    pub public_key_request: Option<PublicKeyRequest>,
    /// Base64 of a PEM (or DER) PKCS#10 certificate request.
    #[serde(default, alias = "certificate_signing_request")]
    pub certificate_signing_request: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    #[serde(default, alias = "oidc_identity_token")]
    pub oidc_identity_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyRequest {
    #[serde(alias = "public_key")]
    pub public_key: RequestPublicKey,
    /// Base64 of the signature of the token's challenge claim with the key.
    #[serde(alias = "proof_of_possession")]
    pub proof_of_possession: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RequestPublicKey {
    /// `ECDSA`, `RSA_PSS`, `ED25519`…: informative; the key itself says what it is.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// PEM `PUBLIC KEY` (or base64 DER SubjectPublicKeyInfo).
    pub content: String,
}

/// The answer of `POST /api/v2/signingCert`: the certificate with its chain, PEM, leaf first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningCertResponse {
    pub signed_certificate_embedded_sct: SignedCertificate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCertificate {
    pub chain: PemChain,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PemChain {
    pub certificates: Vec<String>,
}

/// `GET /api/v2/trustBundle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustBundle {
    pub chains: Vec<PemChain>,
}

/// `GET /api/v2/configuration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    pub issuers: Vec<IssuerInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerInfo {
    pub issuer_url: String,
    pub audience: String,
    pub challenge_claim: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spiffe_trust_domain: String,
    pub issuer_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_domain: String,
}

/// The key to certify, with what proves the caller holds it.
#[derive(Debug, Clone)]
pub enum KeyRequest {
    /// A bare key and a signature of the token's challenge claim (checked once the token is).
    PublicKey { key: PublicKey, proof: Vec<u8> },
    /// The key of a certificate request whose self-signature verified: the request is the
    /// proof (Fulcio ignores its subject and extensions).
    Csr(PublicKey),
}

impl KeyRequest {
    /// The key request of a signing-certificate request: exactly one of `publicKeyRequest` and
    /// `certificateSigningRequest`.
    ///
    /// # Errors
    ///
    /// What is missing or malformed.
    pub fn from_request(req: &SigningCertRequest) -> Result<KeyRequest, String> {
        match (&req.public_key_request, &req.certificate_signing_request) {
            (Some(pk), None) => {
                let content = pk.public_key.content.as_bytes();
                let key = if content.trim_ascii_start().starts_with(b"-----") {
                    let verifier = Verifier::from_pem(content)?;
                    if verifier.cert_count() > 0 {
                        return Err(
                            "publicKey.content must be a public key, not a certificate".into()
                        );
                    }
                    verifier.key().clone()
                } else {
                    let der = STANDARD
                        .decode(pk.public_key.content.trim())
                        .map_err(|_| "publicKey.content is neither PEM nor base64 DER")?;
                    PublicKey::from_spki_der(&der)?
                };
                let proof = STANDARD
                    .decode(pk.proof_of_possession.trim())
                    .map_err(|_| "proofOfPossession is not base64")?;
                check_key(&key)?;
                Ok(KeyRequest::PublicKey { key, proof })
            }
            (None, Some(csr)) => {
                let bytes = STANDARD
                    .decode(csr.trim())
                    .map_err(|_| "certificateSigningRequest is not base64")?;
                Ok(KeyRequest::Csr(parse_csr(&bytes)?))
            }
            (Some(_), Some(_)) => {
                Err("give either publicKeyRequest or certificateSigningRequest, not both".into())
            }
            (None, None) => Err("the request has neither publicKeyRequest nor \
                                 certificateSigningRequest"
                .into()),
        }
    }

    /// The key, once the proof of possession of a bare key verifies over `challenge` (the
    /// token's challenge claim): ECDSA and RSA over its SHA-256, Ed25519 over the bytes, as
    /// Fulcio checks it.
    ///
    /// # Errors
    ///
    /// The proof does not verify.
    pub fn into_proven_key(self, challenge: &str) -> Result<PublicKey, String> {
        match self {
            KeyRequest::Csr(key) => Ok(key),
            KeyRequest::PublicKey { key, proof } => {
                let data = challenge.as_bytes();
                key.verify_dsse(data, HashAlg::Sha256, &HashAlg::Sha256.digest(data), &proof)
                    .map_err(|_| {
                        "the proof of possession is not a signature of the token's challenge \
                         claim with the key"
                            .to_owned()
                    })?;
                Ok(key)
            }
        }
    }
}

/// Keys Fulcio certifies: ECDSA on the NIST curves, RSA of 2048 bits or more, Ed25519.
fn check_key(key: &PublicKey) -> Result<(), String> {
    match key.key_type() {
        KeyType::Rsa(bits) if bits < 2048 => Err(format!(
            "an RSA key of {bits} bits is too small: at least 2048 bits"
        )),
        _ => Ok(()),
    }
}

/// Parses a PKCS#10 certificate request (RFC 2986), PEM or DER, and verifies its
/// self-signature; returns its key.
///
/// # Errors
///
/// A malformed request, an unsupported signature algorithm or a signature that does not verify.
pub fn parse_csr(bytes: &[u8]) -> Result<PublicKey, String> {
    if bytes.len() > MAX_PUBLIC_KEY_BYTES {
        return Err(format!(
            "the certificate request is larger than {MAX_PUBLIC_KEY_BYTES} bytes"
        ));
    }
    let der = if bytes.trim_ascii_start().starts_with(b"-----") {
        match pem_blocks(bytes)
            .map_err(|_| "the certificate request is not valid PEM")?
            .as_slice()
        {
            [(label, der)] if label == "CERTIFICATE REQUEST" => der.clone(),
            _ => return Err("expected one PEM CERTIFICATE REQUEST block".into()),
        }
    } else {
        bytes.to_vec()
    };
    let req = CertReq::from_der(&der)
        .map_err(|e| format!("the certificate request is malformed: {e}"))?;
    let spki = req
        .info
        .public_key
        .to_der()
        .map_err(|e| format!("the certificate request's key: {e}"))?;
    let key = PublicKey::from_spki_der(&spki)?;
    check_key(&key)?;
    let info = req
        .info
        .to_der()
        .map_err(|e| format!("the certificate request: {e}"))?;
    let signature = req
        .signature
        .as_bytes()
        .ok_or("the certificate request's signature is not whole bytes")?;
    let alg = signature_hash(&req.algorithm.oid, key.key_type())?;
    key.verify_dsse(&info, alg, &alg.digest(&info), signature)
        .map_err(|_| "the certificate request's signature does not verify with its key")?;
    Ok(key)
}

/// The digest of a CSR's signature algorithm (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3) for the
/// key's type; a mismatch (an ECDSA algorithm with an RSA key) is refused.
fn signature_hash(alg: &ObjectIdentifier, key: KeyType) -> Result<HashAlg, String> {
    let (hash, ecdsa) = match alg.to_string().as_str() {
        "1.2.840.10045.4.3.2" => (HashAlg::Sha256, Some(true)),
        "1.2.840.10045.4.3.3" => (HashAlg::Sha384, Some(true)),
        "1.2.840.10045.4.3.4" => (HashAlg::Sha512, Some(true)),
        "1.2.840.113549.1.1.11" => (HashAlg::Sha256, Some(false)),
        "1.2.840.113549.1.1.12" => (HashAlg::Sha384, Some(false)),
        "1.2.840.113549.1.1.13" => (HashAlg::Sha512, Some(false)),
        "1.3.101.112" => (HashAlg::Sha512, None),
        other => {
            return Err(format!(
                "the certificate request's signature algorithm {other} is not supported"
            ));
        }
    };
    let fits = matches!(
        (ecdsa, key),
        (Some(true), KeyType::Ecdsa(_)) | (Some(false), KeyType::Rsa(_)) | (None, KeyType::Ed25519)
    );
    if fits {
        Ok(hash)
    } else {
        Err("the certificate request's signature algorithm does not fit its key".into())
    }
}
