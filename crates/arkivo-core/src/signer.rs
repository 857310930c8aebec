//! The log's two signing keys (docs/design.md "Identity and keys of a log"), the log ID and the
//! signed entry timestamp (SET).
//!
//! - ECDSA P-256 signs the Rekor v1 checkpoints and the SETs: some clients (sigstore-go, cosign
//!   without a trusted root) verify SETs only with ECDSA (rekor-v1-api.md §4). The log ID is
//!   SHA-256 of its DER SubjectPublicKeyInfo; the v1 checkpoint key hint is its first 4 bytes.
//! - Ed25519 signs the C2SP checkpoint (tiles-checkpoints-witnesses.md §1–2), which witnesses cosign;
//!   its full signed-note key hash is Rekor v2's `logId.keyId`.
//!
//! Keys are stored as PKCS#8 PEM. ECDSA signing (a SET for every answer, a checkpoint for every
//! batch) goes through aws-lc-rs, several times faster than the RustCrypto `p256` key, which is
//! kept for encoding and for the verification helpers — so every test that verifies what we
//! sign checks one implementation against the other. Nothing here prints a private key: `Debug`
//! shows only the log ID, and the PEM strings wipe themselves when dropped.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::note::{self, Ed25519Signer, Ed25519Verifier, NoteError};

pub use p256::ecdsa::VerifyingKey as EcdsaVerifyingKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the ECDSA log key is not a PKCS#8 PEM P-256 private key: {0}")]
    Ecdsa(String),
    #[error("the Ed25519 log key is not a PKCS#8 PEM Ed25519 private key: {0}")]
    Ed25519(String),
}

/// A PEM string holding a private key; wiped from memory when dropped.
pub type SecretPem = pkcs8::der::zeroize::Zeroizing<String>;

/// The log's ECDSA P-256 and Ed25519 keys. `Debug` prints only the log ID.
pub struct LogKeys {
    ecdsa: p256::ecdsa::SigningKey,
    ed25519: ed25519_dalek::SigningKey,
    /// The same ECDSA key, for fast signing.
    ecdsa_fast: EcdsaKeyPair,
    rng: SystemRandom,
    ecdsa_spki: Vec<u8>,
    log_id: [u8; 32],
}

impl std::fmt::Debug for LogKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKeys")
            .field("log_id", &self.log_id_hex())
            .finish_non_exhaustive()
    }
}

/// SHA-256 of the DER SubjectPublicKeyInfo of an ECDSA P-256 key: its Rekor log ID.
pub fn ecdsa_log_id(key: &EcdsaVerifyingKey) -> [u8; 32] {
    let spki = key
        .to_public_key_der()
        .expect("a P-256 public key encodes as SPKI");
    Sha256::digest(spki.as_bytes()).into()
}

/// The SET payload (rekor-v1-api.md §4): these four members, in this (RFC 8785) order.
#[derive(Serialize)]
struct SetPayload<'a> {
    body: &'a str,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    #[serde(rename = "logIndex")]
    log_index: u64,
}

/// The RFC 8785 (JCS) bytes a SET signs: `{"body":…,"integratedTime":…,"logID":…,"logIndex":…}`,
/// compact, members in that (sorted) order, strings escaped by serde_json (which for base64 and
/// hex strings is no escaping at all, as JCS requires).
pub fn set_payload(
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: u64,
) -> Vec<u8> {
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
        let ecdsa = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let ed25519 = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        Self::from_keys(ecdsa, ed25519).expect("freshly generated keys are valid")
    }

    /// Reads the two keys from PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    ///
    /// [`KeyError`] naming the key that is not a PKCS#8 PEM key of its algorithm.
    pub fn from_pkcs8_pem(ecdsa_pem: &str, ed25519_pem: &str) -> Result<Self, KeyError> {
        let ecdsa = p256::ecdsa::SigningKey::from_pkcs8_pem(ecdsa_pem)
            .map_err(|e| KeyError::Ecdsa(e.to_string()))?;
        let ed25519 = ed25519_dalek::SigningKey::from_pkcs8_pem(ed25519_pem)
            .map_err(|e| KeyError::Ed25519(e.to_string()))?;
        Self::from_keys(ecdsa, ed25519)
    }

    /// Wraps existing keys.
    ///
    /// # Errors
    ///
    /// [`KeyError::Ecdsa`] if aws-lc-rs refuses the ECDSA key (it does not for valid keys).
    pub fn from_keys(
        ecdsa: p256::ecdsa::SigningKey,
        ed25519: ed25519_dalek::SigningKey,
    ) -> Result<Self, KeyError> {
        let der = ecdsa
            .to_pkcs8_der()
            .map_err(|e| KeyError::Ecdsa(e.to_string()))?;
        let ecdsa_fast = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der.as_bytes())
            .map_err(|e| KeyError::Ecdsa(e.to_string()))?;
        let ecdsa_spki = ecdsa
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| KeyError::Ecdsa(e.to_string()))?
            .into_vec();
        let log_id = Sha256::digest(&ecdsa_spki).into();
        Ok(LogKeys {
            ecdsa,
            ed25519,
            ecdsa_fast,
            rng: SystemRandom::new(),
            ecdsa_spki,
            log_id,
        })
    }

    /// The ECDSA key as PKCS#8 PEM (`PRIVATE KEY`, LF line endings).
    pub fn ecdsa_pkcs8_pem(&self) -> SecretPem {
        self.ecdsa
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a P-256 key encodes as PKCS#8")
    }

    /// The Ed25519 key as PKCS#8 PEM (`PRIVATE KEY`, LF line endings).
    pub fn ed25519_pkcs8_pem(&self) -> SecretPem {
        self.ed25519
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key encodes as PKCS#8")
    }

    /// SHA-256 of the ECDSA key's DER SubjectPublicKeyInfo (rekor-v1-api.md §2).
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The log ID in lowercase hex, as Rekor v1 responses and the SET carry it.
    pub fn log_id_hex(&self) -> String {
        crate::merkle::hex_string(&self.log_id)
    }

    /// The v1 checkpoint key hint: the log ID's first 4 bytes (rekor-v1-api.md §8.1).
    pub fn key_hint(&self) -> [u8; 4] {
        let [a, b, c, d, ..] = self.log_id;
        [a, b, c, d]
    }

    pub fn ecdsa_spki_der(&self) -> Vec<u8> {
        self.ecdsa_spki.clone()
    }

    /// The ECDSA public key as SPKI PEM, laid out as Go's `encoding/pem` writes it: 64-character
    /// lines, LF, a final newline.
    pub fn ecdsa_public_pem(&self) -> String {
        self.ecdsa
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 key encodes as SPKI")
    }

    pub fn ecdsa_verifying_key(&self) -> &EcdsaVerifyingKey {
        self.ecdsa.verifying_key()
    }

    /// ECDSA P-256 over SHA-256 of `message`, ASN.1 DER (randomised nonce).
    pub fn ecdsa_sign(&self, message: &[u8]) -> Vec<u8> {
        self.ecdsa_fast
            .sign(&self.rng, message)
            .expect("ECDSA signing with a valid key does not fail")
            .as_ref()
            .to_vec()
    }

    /// The SET: ECDSA P-256 / SHA-256 / DER over [`set_payload`] (rekor-v1-api.md §4).
    /// `log_index` is the virtual index.
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

    /// ECDSA P-256 over SHA-256 of `message`, ASN.1 DER, with the nonce derived from the key and
    /// the message (RFC 6979 §3.2): the same message gives the same bytes every time. Through the
    /// RustCrypto key, slower than [`Self::ecdsa_sign`]; for what must not change between two
    /// answers but was not stored.
    pub fn ecdsa_sign_deterministic(&self, message: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature =
            p256::ecdsa::signature::Signer::sign(&self.ecdsa, message);
        signature.to_der().as_bytes().to_vec()
    }

    /// The SET of an entry written before SETs were stored: as [`Self::sign_set`], but with an
    /// RFC 6979 nonce, so that every read of the entry (after a restart too) returns the same
    /// bytes, as a stored SET would be.
    pub fn sign_set_deterministic(
        &self,
        body_b64: &str,
        integrated_time: i64,
        log_id_hex: &str,
        log_index: u64,
    ) -> Vec<u8> {
        self.ecdsa_sign_deterministic(&set_payload(
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

    /// The raw 32-byte Ed25519 public key.
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

    /// The Ed25519 public key as SPKI PEM (same layout as [`Self::ecdsa_public_pem`]).
    pub fn ed25519_public_pem(&self) -> String {
        self.ed25519
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 key encodes as SPKI")
    }

    /// The C2SP note verifier of the Ed25519 key under the key name `origin`.
    pub fn ed25519_verifier(&self, origin: &str) -> Ed25519Verifier {
        Ed25519Verifier::new(origin, self.ed25519.verifying_key())
    }

    /// The C2SP note signer of the Ed25519 key under the key name `origin`.
    ///
    /// # Errors
    ///
    /// [`NoteError::MalformedKey`] if `origin` is not a valid key name.
    pub fn ed25519_note_signer(&self, origin: &str) -> Result<Ed25519Signer, NoteError> {
        Ed25519Signer::new(origin, self.ed25519.clone())
    }

    /// The full C2SP key hash of the Ed25519 key under `origin`: Rekor v2's `logId.keyId` and
    /// the trusted root's `checkpointKeyId`. Its first 4 bytes are the note key ID.
    pub fn checkpoint_key_id(&self, origin: &str) -> [u8; 32] {
        note::key_hash(
            origin,
            note::ED25519,
            self.ed25519.verifying_key().as_bytes(),
        )
    }
}

/// Verifies a SET with an ECDSA P-256 log key, as clients do (rekor-v1-api.md §4).
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

#[cfg(test)]
mod tests {
    use super::*;
    use note::{NoteSigner as _, NoteVerifier as _};

    fn fixed() -> LogKeys {
        LogKeys::from_keys(
            p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap(),
            ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
        )
        .unwrap()
    }

    #[test]
    fn set_payload_is_jcs() {
        assert_eq!(
            set_payload("Ym9keQ==", -1, "ab", u64::MAX),
            br#"{"body":"Ym9keQ==","integratedTime":-1,"logID":"ab","logIndex":18446744073709551615}"#
        );
    }

    #[test]
    fn fast_signatures_verify_with_rustcrypto_and_bind_every_field() {
        let k = fixed();
        let id = k.log_id_hex();
        let set = k.sign_set("Ym9keQ==", 5, &id, 9);
        let vk = k.ecdsa_verifying_key();
        assert!(verify_set(vk, "Ym9keQ==", 5, &id, 9, &set));
        assert!(!verify_set(vk, "Ym9keq==", 5, &id, 9, &set));
        assert!(!verify_set(vk, "Ym9keQ==", 6, &id, 9, &set));
        assert!(!verify_set(vk, "Ym9keQ==", 5, &id.to_uppercase(), 9, &set));
        assert!(!verify_set(vk, "Ym9keQ==", 5, &id, 8, &set));
        assert!(!verify_set(vk, "Ym9keQ==", 5, &id, 9, &set[1..]));
        let other = LogKeys::generate();
        assert!(!verify_set(
            other.ecdsa_verifying_key(),
            "Ym9keQ==",
            5,
            &id,
            9,
            &set
        ));
    }

    /// RFC 6979 A.2.5, P-256 with SHA-256: the deterministic nonce gives the published (r, s).
    #[test]
    fn deterministic_signatures_match_rfc6979_vectors() {
        let x = hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
            .unwrap();
        let k = LogKeys::from_keys(
            p256::ecdsa::SigningKey::from_slice(&x).unwrap(),
            ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
        )
        .unwrap();
        for (message, r, s) in [
            (
                "sample",
                "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
                "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
            ),
            (
                "test",
                "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
                "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
            ),
        ] {
            let der = k.ecdsa_sign_deterministic(message.as_bytes());
            let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
            assert_eq!(hex::encode_upper(sig.r().to_bytes()), r, "{message}");
            assert_eq!(hex::encode_upper(sig.s().to_bytes()), s, "{message}");
            assert_eq!(k.ecdsa_sign_deterministic(message.as_bytes()), der);
        }
        let id = k.log_id_hex();
        let set = k.sign_set_deterministic("Ym9keQ==", 5, &id, 9);
        assert_eq!(set, k.sign_set_deterministic("Ym9keQ==", 5, &id, 9));
        let vk = k.ecdsa_verifying_key();
        assert!(verify_set(vk, "Ym9keQ==", 5, &id, 9, &set));
        assert!(!verify_set(vk, "Ym9keQ==", 5, &id, 10, &set));
        assert_ne!(set, k.sign_set_deterministic("Ym9keQ==", 5, &id, 10));
    }

    #[test]
    fn identities_are_derived_from_the_public_keys() {
        let k = fixed();
        assert_eq!(
            k.log_id(),
            <[u8; 32]>::from(Sha256::digest(k.ecdsa_spki_der()))
        );
        assert_eq!(k.log_id(), ecdsa_log_id(k.ecdsa_verifying_key()));
        assert_eq!(k.key_hint(), k.log_id()[..4]);
        assert_eq!(k.ed25519_spki_der()[12..], k.ed25519_public_key());
        let s = k.ed25519_note_signer("log.test").unwrap();
        let v = k.ed25519_verifier("log.test");
        assert_eq!(s.key_id(), v.key_id());
        assert_eq!(
            k.checkpoint_key_id("log.test")[..4],
            v.key_id().to_be_bytes()
        );
        assert!(v.verify(b"m\n", &s.sign(b"m\n").unwrap()));
        assert!(v.verify(b"m\n", &k.ed25519_sign(b"m\n")));
        assert!(k.ed25519_note_signer("log test").is_err());
        for pem in [k.ecdsa_public_pem(), k.ed25519_public_pem()] {
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
            assert!(pem.ends_with("\n-----END PUBLIC KEY-----\n"), "{pem}");
            let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let (last, full) = body.split_last().unwrap();
            assert!(
                full.iter().all(|l| l.len() == 64) && last.len() <= 64,
                "{pem}"
            );
        }
        assert!(k.ecdsa_public_pem().lines().nth(1).unwrap().len() == 64);
    }

    #[test]
    fn pkcs8_roundtrip_and_refusals() {
        let k = fixed();
        let (e, d) = (k.ecdsa_pkcs8_pem(), k.ed25519_pkcs8_pem());
        assert!(e.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(d.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = LogKeys::from_pkcs8_pem(&e, &d).unwrap();
        assert_eq!(again.log_id(), k.log_id());
        assert_eq!(again.ed25519_public_key(), k.ed25519_public_key());
        assert!(matches!(
            LogKeys::from_pkcs8_pem(&d, &d),
            Err(KeyError::Ecdsa(_))
        ));
        assert!(matches!(
            LogKeys::from_pkcs8_pem(&e, &e),
            Err(KeyError::Ed25519(_))
        ));
        assert!(LogKeys::from_pkcs8_pem("garbage", &d).is_err());
        // A public key is not a private key.
        assert!(LogKeys::from_pkcs8_pem(&k.ecdsa_public_pem(), &d).is_err());
    }

    #[test]
    fn debug_shows_only_the_log_id() {
        let k = fixed();
        let shown = format!("{k:?}");
        assert!(shown.contains(&k.log_id_hex()), "{shown}");
        let secret = hex::encode([3u8; 32]);
        assert!(!shown.contains(&secret) && !shown.contains("PRIVATE") && !shown.contains("[3, 3"));
        let err = LogKeys::from_pkcs8_pem("garbage", "garbage").unwrap_err();
        assert!(!format!("{err:?} {err}").contains("garbage"));
    }
}
