//! The log's two signing keys (DESIGN.md "Identity and keys of a log"), the log ID and the
//! signed entry timestamp (SET).
//!
//! - ECDSA P-256 signs the Rekor v1 checkpoints and the SETs: some clients (sigstore-go, cosign
//!   without a trusted root) verify SETs only with ECDSA (rekor-v1-api.md §4). The log ID is
//!   SHA-256 of its DER SubjectPublicKeyInfo; the v1 checkpoint key hint is its first 4 bytes.
//! - Ed25519 signs the C2SP checkpoint (tiles-checkpoints-v2.md §1–2), which witnesses cosign.
//!
//! Keys are stored as PKCS#8 PEM. Signing on the hot path (a SET for every answer) uses
//! aws-lc-rs; the RustCrypto `p256` key is kept for encoding and for verification helpers, so
//! tests check one implementation with the other. Nothing here prints a private key: `Debug`
//! shows only the log ID.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::note::Ed25519Verifier;

pub use p256::ecdsa::VerifyingKey as EcdsaVerifyingKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the ECDSA log key is not a PKCS#8 PEM P-256 private key: {0}")]
    Ecdsa(String),
    #[error("the Ed25519 log key is not a PKCS#8 PEM Ed25519 private key: {0}")]
    Ed25519(String),
}

/// A PEM string holding a private key; wiped from memory when dropped.
pub type SecretPem = p256::pkcs8::der::zeroize::Zeroizing<String>;

pub struct LogKeys {
    ecdsa: p256::SecretKey,
    ecdsa_verifying: EcdsaVerifyingKey,
    ecdsa_fast: EcdsaKeyPair,
    ecdsa_spki: Vec<u8>,
    log_id: [u8; 32],
    ed25519: ed25519_dalek::SigningKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for LogKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKeys")
            .field("log_id", &self.log_id_hex())
            .finish_non_exhaustive()
    }
}

/// The SET payload (rekor-v1-api.md §4): these four members, in this (RFC 8785) order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SetPayload<'a> {
    body: &'a str,
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    log_index: u64,
}

fn set_payload(body_b64: &str, integrated_time: i64, log_id_hex: &str, log_index: u64) -> Vec<u8> {
    serde_json::to_vec(&SetPayload {
        body: body_b64,
        integrated_time,
        log_id: log_id_hex,
        log_index,
    })
    .expect("a struct of strings and integers serializes")
}

impl LogKeys {
    /// Fresh keys from the operating system's random source.
    pub fn generate() -> Self {
        let ecdsa = p256::SecretKey::random(&mut rand_core::OsRng);
        let ed25519 = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        Self::from_parts(ecdsa, ed25519).expect("freshly generated keys are valid")
    }

    pub fn from_pkcs8_pem(ecdsa_pem: &str, ed25519_pem: &str) -> Result<Self, KeyError> {
        let ecdsa = p256::SecretKey::from_pkcs8_pem(ecdsa_pem)
            .map_err(|e| KeyError::Ecdsa(e.to_string()))?;
        let ed25519 = ed25519_dalek::SigningKey::from_pkcs8_pem(ed25519_pem)
            .map_err(|e| KeyError::Ed25519(e.to_string()))?;
        Self::from_parts(ecdsa, ed25519)
    }

    fn from_parts(
        ecdsa: p256::SecretKey,
        ed25519: ed25519_dalek::SigningKey,
    ) -> Result<Self, KeyError> {
        let der = ecdsa
            .to_pkcs8_der()
            .map_err(|e| KeyError::Ecdsa(e.to_string()))?;
        let ecdsa_fast = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der.as_bytes())
            .map_err(|e| KeyError::Ecdsa(e.to_string()))?;
        let ecdsa_verifying = EcdsaVerifyingKey::from(ecdsa.public_key());
        let ecdsa_spki = ecdsa
            .public_key()
            .to_public_key_der()
            .map_err(|e| KeyError::Ecdsa(e.to_string()))?
            .into_vec();
        let log_id = Sha256::digest(&ecdsa_spki).into();
        Ok(LogKeys {
            ecdsa,
            ecdsa_verifying,
            ecdsa_fast,
            ecdsa_spki,
            log_id,
            ed25519,
            rng: SystemRandom::new(),
        })
    }

    pub fn ecdsa_pkcs8_pem(&self) -> SecretPem {
        self.ecdsa
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a P-256 key encodes as PKCS#8")
    }

    pub fn ed25519_pkcs8_pem(&self) -> SecretPem {
        self.ed25519
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key encodes as PKCS#8")
    }

    /// SHA-256 of the ECDSA key's DER SubjectPublicKeyInfo (rekor-v1-api.md §2).
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    pub fn log_id_hex(&self) -> String {
        hex::encode(self.log_id)
    }

    /// The v1 checkpoint key hint: the log ID's first 4 bytes (rekor-v1-api.md §8.1).
    pub fn key_hint(&self) -> [u8; 4] {
        [
            self.log_id[0],
            self.log_id[1],
            self.log_id[2],
            self.log_id[3],
        ]
    }

    pub fn ecdsa_spki_der(&self) -> Vec<u8> {
        self.ecdsa_spki.clone()
    }

    /// The ECDSA public key as PEM, laid out as Go's `encoding/pem` writes it.
    pub fn ecdsa_public_pem(&self) -> String {
        self.ecdsa
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 key encodes as SPKI")
    }

    pub fn ecdsa_verifying_key(&self) -> &EcdsaVerifyingKey {
        &self.ecdsa_verifying
    }

    /// ECDSA P-256 over SHA-256 of `message`, ASN.1 DER.
    pub fn ecdsa_sign(&self, message: &[u8]) -> Vec<u8> {
        self.ecdsa_fast
            .sign(&self.rng, message)
            .expect("ECDSA signing with a valid key does not fail")
            .as_ref()
            .to_vec()
    }

    /// The SET: ECDSA over the RFC 8785 JSON of {body, integratedTime, logID, logIndex}
    /// (rekor-v1-api.md §4). `log_index` is the virtual index.
    pub fn sign_set(
        &self,
        body_b64: &str,
        integrated_time: i64,
        log_id_hex: &str,
        log_index: u64,
    ) -> Vec<u8> {
        self.ecdsa_sign(&set_payload(
            body_b64,
            integrated_time,
            log_id_hex,
            log_index,
        ))
    }

    /// Pure Ed25519 over `message`.
    pub fn ed25519_sign(&self, message: &[u8]) -> [u8; 64] {
        self.ed25519.sign(message).to_bytes()
    }

    pub fn ed25519_public_key(&self) -> [u8; 32] {
        self.ed25519.verifying_key().to_bytes()
    }

    pub fn ed25519_spki_der(&self) -> Vec<u8> {
        self.ed25519
            .verifying_key()
            .to_public_key_der()
            .expect("an Ed25519 key encodes as SPKI")
            .into_vec()
    }

    /// The C2SP note verifier of the Ed25519 key under the key name `origin`.
    pub fn ed25519_verifier(&self, origin: &str) -> Ed25519Verifier {
        Ed25519Verifier::new(origin, self.ed25519.verifying_key())
    }
}

/// Verifies a SET with an ECDSA P-256 log key (what clients do, rekor-v1-api.md §4).
pub fn verify_set(
    key: &EcdsaVerifyingKey,
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: u64,
    set: &[u8],
) -> bool {
    let Ok(sig) = p256::ecdsa::Signature::from_der(set) else {
        return false;
    };
    key.verify(
        &set_payload(body_b64, integrated_time, log_id_hex, log_index),
        &sig,
    )
    .is_ok()
}
