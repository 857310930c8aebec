//! Public keys, certificates and signature verification for `hashedrekord` and `dsse`
//! (rekor-v1-api.md §5.1–§5.4, §6.2, §10.1).
//!
//! A *verifier* is the PEM document a client sends: one `PUBLIC KEY` block, one `CERTIFICATE`
//! block, or a chain of `CERTIFICATE` blocks (leaf first, root last). It is parsed into a
//! [`Verifier`]: the key that verifies signatures, the certificates, the canonical PEM (Go
//! `encoding/pem` layout, which is what the canonical body stores and what index keys hash) and
//! the leaf certificate's subject alternative names.
//!
//! Backends, chosen by measurement (`examples/verify_speed.rs`): aws-lc-rs verifies ECDSA (all
//! three curves, over a caller-given digest), RSA PKCS#1 v1.5 (≥ 2048 bits) and pure Ed25519, 4–9×
//! faster than RustCrypto; RustCrypto covers what aws-lc-rs cannot: Ed25519ph over a given SHA-512
//! digest (`ed25519-dalek`) and RSA keys of 1024–2047 bits (`rsa`; only reached to give the policy
//! error of §5.4 after a valid signature).

use aws_lc_rs::digest as lc_digest;
use aws_lc_rs::signature as lc;
use der::asn1::{BitString, ObjectIdentifier as Oid, Utf8StringRef};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::{Certificate, TbsCertificate};

use super::b64::{self, Alphabet};
use crate::limits::{MAX_CERT_CHAIN_LEN, MAX_PUBLIC_KEY_BYTES, MAX_RSA_KEY_BITS};

const OID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const OID_P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const OID_P521: Oid = Oid::new_unwrap("1.3.132.0.35");
const OID_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: Oid = Oid::new_unwrap("1.3.101.112");
const OID_ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
const OID_RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const OID_RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const OID_RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
const OID_SAN: Oid = Oid::new_unwrap("2.5.29.17");
const OID_BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
/// Sigstore's OtherName SAN (a UTF8String), used by Fulcio for usernames (`user!domain`).
const OID_SIGSTORE_OTHERNAME: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// Digest algorithms a `hashedrekord` entry may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// From the `data.hash.algorithm` enum of the hashedrekord schema.
    pub fn from_name(name: &str) -> Option<HashAlg> {
        match name {
            "sha256" => Some(HashAlg::Sha256),
            "sha384" => Some(HashAlg::Sha384),
            "sha512" => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    /// The name [`HashAlg::from_name`] reads (and search-index keys use).
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        lc_digest::digest(self.lc(), data).as_ref().to_vec()
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The digest of `data` with this algorithm.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        lc_digest::digest(self.lc(), data).as_ref().to_vec()
    }

    /// Go's `crypto.Hash.String()`, used in upstream error messages.
    fn go_name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
        }
    }

    fn lc(self) -> &'static lc_digest::Algorithm {
        match self {
            HashAlg::Sha256 => &lc_digest::SHA256,
            HashAlg::Sha384 => &lc_digest::SHA384,
            HashAlg::Sha512 => &lc_digest::SHA512,
        }
    }
}

/// The NIST curves Arkivo verifies ECDSA on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    /// Length of an uncompressed SEC1 point.
    fn point_len(self) -> usize {
        match self {
            Curve::P256 => 65,
            Curve::P384 => 97,
            Curve::P521 => 133,
        }
    }
}

/// The algorithm of a parsed public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Ecdsa(Curve),
    /// RSA with the modulus length in bits.
    Rsa(usize),
    Ed25519,
}

/// A public key, re-encoded as canonical PKIX DER (what Go's `x509.MarshalPKIXPublicKey` emits).
#[derive(Clone, Debug)]
pub struct PublicKey {
    key_type: KeyType,
    spki_der: Vec<u8>,
    /// The key proper: SEC1 point, PKCS#1 `RSAPublicKey` DER, or the 32 Ed25519 bytes.
    raw: Vec<u8>,
}

impl PublicKey {
    /// Parses a DER `SubjectPublicKeyInfo`, accepting what Go's `x509.ParsePKIXPublicKey` accepts
    /// for the key types Rekor can verify with.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| format!("x509: failed to parse public key: {e}"))?;
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or("x509: invalid public key bit string")?;
        let alg = &spki.algorithm;
        if alg.oid == OID_EC_PUBLIC_KEY {
            let curve_oid: Oid = alg
                .parameters
                .as_ref()
                .ok_or("x509: failed to parse ECDSA parameters as named curve")?
                .decode_as()
                .map_err(|_| "x509: failed to parse ECDSA parameters as named curve")?;
            let curve = match curve_oid {
                c if c == OID_P256 => Curve::P256,
                c if c == OID_P384 => Curve::P384,
                c if c == OID_P521 => Curve::P521,
                _ => return Err("x509: unsupported elliptic curve".into()),
            };
            let on_curve = raw.len() == curve.point_len()
                && raw[0] == 4
                && match curve {
                    Curve::P256 => p256::PublicKey::from_sec1_bytes(raw).is_ok(),
                    Curve::P384 => p384::PublicKey::from_sec1_bytes(raw).is_ok(),
                    Curve::P521 => p521::PublicKey::from_sec1_bytes(raw).is_ok(),
                };
            if !on_curve {
                return Err("x509: failed to unmarshal elliptic curve point".into());
            }
            let params = der::Any::from(curve_oid);
            Ok(PublicKey::build(
                KeyType::Ecdsa(curve),
                OID_EC_PUBLIC_KEY,
                Some(params),
                raw,
            )?)
        } else if alg.oid == OID_RSA {
            let null_params = matches!(&alg.parameters, Some(p) if p.is_null());
            if !null_params {
                return Err("x509: RSA key missing NULL parameters".into());
            }
            let key = rsa::pkcs1::RsaPublicKey::from_der(raw)
                .map_err(|_| "x509: failed to parse RSA public key")?;
            let n = key.modulus.as_bytes();
            let e = key.public_exponent.as_bytes();
            if n.is_empty() || n.iter().all(|&b| b == 0) {
                return Err("x509: RSA modulus is not a positive number".into());
            }
            if e.is_empty() || e.iter().all(|&b| b == 0) {
                return Err("x509: RSA public exponent is not a positive number".into());
            }
            let bits = n.len() * 8 - n[0].leading_zeros() as usize;
            if bits > MAX_RSA_KEY_BITS {
                return Err(format!(
                    "RSA key of {bits} bits is larger than the {MAX_RSA_KEY_BITS} bits accepted"
                ));
            }
            let raw = key.to_der().map_err(|e| e.to_string())?;
            PublicKey::build(KeyType::Rsa(bits), OID_RSA, Some(der::Any::null()), &raw)
        } else if alg.oid == OID_ED25519 {
            if alg.parameters.is_some() {
                return Err("x509: Ed25519 key encoded with illegal parameters".into());
            }
            if raw.len() != 32 {
                return Err("x509: wrong Ed25519 public key size".into());
            }
            PublicKey::build(KeyType::Ed25519, OID_ED25519, None, raw)
        } else {
            Err("x509: unknown public key algorithm".into())
        }
    }

    fn build(
        key_type: KeyType,
        oid: Oid,
        parameters: Option<der::Any>,
        raw: &[u8],
    ) -> Result<PublicKey, String> {
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned { oid, parameters },
            subject_public_key: BitString::from_bytes(raw).map_err(|e| e.to_string())?,
        };
        let spki_der = spki.to_der().map_err(|e| e.to_string())?;
        Ok(PublicKey {
            key_type,
            spki_der,
            raw: raw.to_vec(),
        })
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Canonical PKIX DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Verifies `sig` over a caller-given digest of algorithm `alg`, without re-hashing
    /// (hashedrekord, §5.2 step 3). The error is the upstream reason text.
    pub fn verify_digest(&self, alg: HashAlg, digest: &[u8], sig: &[u8]) -> Result<(), String> {
        if digest.len() != alg.digest_len() {
            return Err("unexpected length of digest for hash function specified".into());
        }
        match self.key_type {
            KeyType::Ecdsa(curve) => self.verify_ecdsa(curve, alg, digest, sig),
            KeyType::Rsa(bits) => self.verify_rsa(bits, alg, digest, sig),
            KeyType::Ed25519 => {
                if alg != HashAlg::Sha512 {
                    return Err(format!(
                        "unsupported hash algorithm: {:?} not in [SHA-512]",
                        alg.go_name()
                    ));
                }
                let mut given = [0u8; 64];
                given.copy_from_slice(digest);
                verify_ed25519ph(&self.raw, given, sig)
                    .map_err(|()| "failed to verify signature: ed25519: invalid signature".into())
            }
        }
    }

    /// Verifies a DSSE signature over `pae` (§6.2): ECDSA and RSA PKCS#1 v1.5 over
    /// `pae_digest`, the digest of the PAE with `alg` (SHA-256 for Rekor v1; what the key
    /// details name for Rekor v2), pure Ed25519 over the PAE bytes.
    pub fn verify_dsse(
        &self,
        pae: &[u8],
        alg: HashAlg,
        pae_digest: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        match self.key_type {
            KeyType::Ed25519 => lc::UnparsedPublicKey::new(&lc::ED25519, &self.raw)
                .verify(pae, sig)
                .map_err(|_| "failed to verify signature".into()),
            _ => self.verify_digest(alg, pae_digest, sig),
        }
    }

    /// Verifies `sig` over a whole message as upstream's default verifier does (sigstore's
    /// `LoadVerifier` with SHA-256, used by `rekord`, §5a): ECDSA on any curve and RSA PKCS#1
    /// v1.5 over the message's SHA-256, pure Ed25519 over the message.
    pub fn verify_message(&self, message: &[u8], sig: &[u8]) -> Result<(), String> {
        let digest = HashAlg::Sha256.digest(message);
        self.verify_dsse(message, HashAlg::Sha256, &digest, sig)
    }

    fn verify_ecdsa(
        &self,
        curve: Curve,
        alg: HashAlg,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        let invalid = || "invalid signature when validating ASN.1 encoded signature".to_string();
        let verifier = ecdsa_algorithm(curve, alg);
        let key = lc::UnparsedPublicKey::new(verifier, &self.spki_der)
            .parse()
            .map_err(|_| invalid())?;
        let digest =
            lc_digest::Digest::import_less_safe(digest, alg.lc()).map_err(|_| invalid())?;
        if key.verify_digest_sig(&digest, sig).is_ok() {
            return Ok(());
        }
        // Fallback: IEEE P1363 `r ‖ s` (§5.2), converted to the DER form.
        if !sig.is_empty() && sig.len().is_multiple_of(2) && sig.len() <= 132 {
            let der = raw_ecdsa_to_der(sig);
            if key.verify_digest_sig(&digest, &der).is_ok() {
                return Ok(());
            }
        }
        Err(invalid())
    }

    fn verify_rsa(
        &self,
        bits: usize,
        alg: HashAlg,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        let invalid = || "crypto/rsa: verification error".to_string();
        if bits >= 2048 {
            let params = match alg {
                HashAlg::Sha256 => &lc::RSA_PKCS1_2048_8192_SHA256,
                HashAlg::Sha384 => &lc::RSA_PKCS1_2048_8192_SHA384,
                HashAlg::Sha512 => &lc::RSA_PKCS1_2048_8192_SHA512,
            };
            let digest =
                lc_digest::Digest::import_less_safe(digest, alg.lc()).map_err(|_| invalid())?;
            return lc::UnparsedPublicKey::new(params, &self.spki_der)
                .verify_digest(&digest, sig)
                .map_err(|_| invalid());
        }
        if bits < 1024 {
            return Err(format!("crypto/rsa: {bits}-bit keys are insecure"));
        }
        // 1024–2047 bits: not allowed by policy (§5.4), but verified first as upstream does.
        use rsa::pkcs1::DecodeRsaPublicKey;
        let key = rsa::RsaPublicKey::from_pkcs1_der(&self.raw).map_err(|_| invalid())?;
        let scheme = match alg {
            HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        };
        key.verify(scheme, digest, sig).map_err(|_| invalid())
    }

    /// The hashedrekord algorithm policy of §5.4 (upstream's default `client-signing-algorithms`).
    pub fn policy_allows(&self, alg: HashAlg) -> bool {
        match self.key_type {
            KeyType::Ecdsa(Curve::P256) => alg == HashAlg::Sha256,
            KeyType::Ecdsa(Curve::P384) => alg == HashAlg::Sha384,
            KeyType::Ecdsa(Curve::P521) => alg == HashAlg::Sha512,
            // Go sizes RSA keys in whole bytes (`Size() * 8`).
            KeyType::Rsa(bits) => {
                matches!(bits.div_ceil(8) * 8, 2048 | 3072 | 4096) && alg == HashAlg::Sha256
            }
            KeyType::Ed25519 => alg == HashAlg::Sha512,
        }
    }
}

fn ecdsa_algorithm(curve: Curve, alg: HashAlg) -> &'static lc::EcdsaVerificationAlgorithm {
    match (curve, alg) {
        (Curve::P256, HashAlg::Sha256) => &lc::ECDSA_P256_SHA256_ASN1,
        (Curve::P256, HashAlg::Sha384) => &lc::ECDSA_P256_SHA384_ASN1,
        (Curve::P256, HashAlg::Sha512) => &lc::ECDSA_P256_SHA512_ASN1,
        (Curve::P384, HashAlg::Sha256) => &lc::ECDSA_P384_SHA256_ASN1,
        (Curve::P384, HashAlg::Sha384) => &lc::ECDSA_P384_SHA384_ASN1,
        (Curve::P384, HashAlg::Sha512) => &lc::ECDSA_P384_SHA512_ASN1,
        (Curve::P521, HashAlg::Sha256) => &lc::ECDSA_P521_SHA256_ASN1,
        (Curve::P521, HashAlg::Sha384) => &lc::ECDSA_P521_SHA384_ASN1,
        (Curve::P521, HashAlg::Sha512) => &lc::ECDSA_P521_SHA512_ASN1,
    }
}

/// `r ‖ s` (two equal halves, big-endian) → DER `Ecdsa-Sig-Value`.
fn raw_ecdsa_to_der(sig: &[u8]) -> Vec<u8> {
    fn integer(mut v: &[u8], out: &mut Vec<u8>) {
        while v.len() > 1 && v[0] == 0 {
            v = &v[1..];
        }
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut body = Vec::with_capacity(sig.len() + 6);
    integer(r, &mut body);
    integer(s, &mut body);
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

/// A SHA-512 "hasher" that yields a digest computed elsewhere, so that `ed25519-dalek`'s
/// prehashed API verifies Ed25519ph over the digest the client gave (§5.2: no re-hashing).
/// Input fed to it is ignored: [`verify_ed25519ph`] and the client's Ed25519ph signer feed none.
#[derive(Clone)]
pub struct GivenSha512(pub [u8; 64]);

impl Default for GivenSha512 {
    fn default() -> Self {
        GivenSha512([0; 64])
    }
}

impl sha2::digest::HashMarker for GivenSha512 {}

impl sha2::digest::OutputSizeUser for GivenSha512 {
    type OutputSize = sha2::digest::consts::U64;
}

impl sha2::digest::Update for GivenSha512 {
    fn update(&mut self, _data: &[u8]) {}
}

impl sha2::digest::FixedOutput for GivenSha512 {
    fn finalize_into(self, out: &mut sha2::digest::Output<Self>) {
        out.copy_from_slice(&self.0);
    }
}

/// Ed25519ph (RFC 8032 §5.1, empty context) over a given SHA-512 digest.
fn verify_ed25519ph(key: &[u8], digest: [u8; 64], sig: &[u8]) -> Result<(), ()> {
    let key: [u8; 32] = key.try_into().map_err(|_| ())?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| ())?;
    let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| ())?;
    key.verify_prehashed(GivenSha512(digest), None, &sig)
        .map_err(|_| ())
}

/// The prefix of [`Verifier::spki_index_key`]: no upstream key starts with it.
pub const SPKI_INDEX_KEY_PREFIX: &str = "spki:sha256:";

/// A parsed verifier: a bare key, a certificate, or a chain (leaf first).
#[derive(Clone, Debug)]
pub struct Verifier {
    key: PublicKey,
    certs: Vec<Certificate>,
    canonical_pem: String,
    subjects: Vec<String>,
}

impl Verifier {
    /// Parses decoded `publicKey.content` / verifier bytes (§5.1). Certificates are parsed but
    /// a chain is not checked here; see [`Verifier::verify_chain`].
    pub fn from_pem(bytes: &[u8]) -> Result<Verifier, String> {
        if bytes.len() > MAX_PUBLIC_KEY_BYTES {
            return Err(format!(
                "invalid public key: PEM document larger than {MAX_PUBLIC_KEY_BYTES} bytes"
            ));
        }
        let blocks = pem_blocks(bytes)?;
        match blocks.as_slice() {
            [] => Err("invalid public key: failure decoding PEM".into()),
            [(label, der)] if label == "PUBLIC KEY" => Verifier::from_spki_der(der),
            [(label, _)] if label != "CERTIFICATE" => {
                Err(format!("invalid public key: cannot handle type {label}"))
            }
            _ => {
                let mut ders = Vec::with_capacity(blocks.len());
                for (label, der) in &blocks {
                    if label != "CERTIFICATE" {
                        return Err(format!(
                            "invalid public key: cannot handle type {label} in a certificate chain"
                        ));
                    }
                    ders.push(der.as_slice());
                }
                Verifier::from_certificate_ders(&ders)
            }
        }
    }

    /// A bare key given as DER SubjectPublicKeyInfo (a Rekor v2 `publicKey.rawBytes`).
    pub fn from_spki_der(der: &[u8]) -> Result<Verifier, String> {
        let key = PublicKey::from_spki_der(der)?;
        let canonical_pem = pem_encode("PUBLIC KEY", key.spki_der());
        Ok(Verifier {
            key,
            certs: Vec::new(),
            canonical_pem,
            subjects: Vec::new(),
        })
    }

    /// A certificate chain given as DER certificates, leaf first (one for a Rekor v2
    /// `x509Certificate.rawBytes`). The chain is not checked here.
    pub fn from_certificate_ders(ders: &[&[u8]]) -> Result<Verifier, String> {
        let mut certs = Vec::with_capacity(ders.len());
        let mut canonical_pem = String::new();
        for der in ders {
            let cert = Certificate::from_der(der)
                .map_err(|e| format!("x509: malformed certificate: {e}"))?;
            certs.push(cert);
            canonical_pem.push_str(&pem_encode("CERTIFICATE", der));
        }
        let leaf = certs.first().ok_or("no certificate")?;
        let spki = leaf
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("x509: malformed certificate: {e}"))?;
        let key = PublicKey::from_spki_der(&spki)?;
        let subjects = subject_alt_names(&leaf.tbs_certificate)?;
        Ok(Verifier {
            key,
            certs,
            canonical_pem,
            subjects,
        })
    }

    /// The key that verifies signatures (the leaf's, for certificates).
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Go `encoding/pem` re-encoding of the key, certificate or chain (§5.3).
    pub fn canonical_pem(&self) -> &str {
        &self.canonical_pem
    }

    /// Lower-case hex SHA-256 of [`Verifier::canonical_pem`] (index key, §10.1).
    pub fn pem_sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_pem.as_bytes()))
    }

    /// The index key of the key itself, however it was given (§10.1, Arkivo's addition):
    /// `spki:sha256:` and the lower-case hex SHA-256 of its DER SubjectPublicKeyInfo — the same
    /// for a bare key and for any certificate or chain whose leaf holds it, so that a key
    /// wrapped in a (self-signed) certificate is still found as that key.
    pub fn spki_index_key(&self) -> String {
        format!(
            "{SPKI_INDEX_KEY_PREFIX}{}",
            hex::encode(Sha256::digest(self.key.spki_der()))
        )
    }

    /// The leaf certificate's SANs in upstream order: DNS names, emails, IP addresses, URIs,
    /// then the Sigstore OtherName SAN. Empty for a bare key.
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// The search-index keys an entry gets for its signer (§10.1), whatever its kind: SHA-256 of
    /// the canonical PEM, the key itself ([`Verifier::spki_index_key`]), then the certificate's
    /// subjects.
    pub fn index_keys(&self) -> Vec<String> {
        let mut keys = vec![self.pem_sha256_hex(), self.spki_index_key()];
        keys.extend(self.subjects.iter().cloned());
        keys
    }

    /// The certificates, leaf first (none for a bare key).
    pub fn certificates(&self) -> &[Certificate] {
        &self.certs
    }

    /// Signatures [`Verifier::verify_chain`] checks: one per certificate above the leaf.
    pub fn chain_signatures(&self) -> usize {
        self.certs.len().saturating_sub(1)
    }

    /// Number of certificates (0 for a bare key).
    pub fn cert_count(&self) -> usize {
        self.certs.len()
    }

    /// For a chain of two or more certificates (§5.2 step 2): each certificate must be issued and
    /// signed by the next one, every issuer must be a CA (within its path-length constraint), and
    /// every certificate must be valid at the leaf's NotBefore. Any extended key usage is allowed.
    /// A single certificate is not checked. Unlike Go's path builder, the chain must be given in
    /// order: leaf, intermediates upwards, root.
    pub fn verify_chain(&self) -> Result<(), String> {
        if self.certs.len() < 2 {
            return Ok(());
        }
        let at = self.certs[0]
            .tbs_certificate
            .validity
            .not_before
            .to_unix_duration();
        for (i, cert) in self.certs.iter().enumerate() {
            let tbs = &cert.tbs_certificate;
            let not_before = tbs.validity.not_before.to_unix_duration();
            let not_after = tbs.validity.not_after.to_unix_duration();
            if at < not_before || at > not_after {
                return Err("x509: certificate has expired or is not yet valid".into());
            }
            if i == 0 {
                continue;
            }
            let bc = tbs
                .extensions
                .iter()
                .flatten()
                .find(|e| e.extn_id == OID_BASIC_CONSTRAINTS)
                .and_then(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).ok());
            match bc {
                Some(bc) if bc.ca => {
                    if let Some(max) = bc.path_len_constraint
                        && i - 1 > usize::from(max)
                    {
                        return Err(
                            "x509: too many intermediates for path length constraint".into()
                        );
                    }
                }
                _ => {
                    return Err(
                        "x509: certificate is not authorized to sign other certificates".into(),
                    );
                }
            }
        }
        for pair in self.certs.windows(2) {
            let (child, parent) = (&pair[0], &pair[1]);
            let issuer = child
                .tbs_certificate
                .issuer
                .to_der()
                .map_err(|e| e.to_string())?;
            let subject = parent
                .tbs_certificate
                .subject
                .to_der()
                .map_err(|e| e.to_string())?;
            if issuer != subject {
                return Err("x509: certificate signed by unknown authority".into());
            }
            check_cert_signature(child, parent)
                .map_err(|why| format!("x509: certificate signed by unknown authority ({why})"))?;
        }
        Ok(())
    }
}

fn check_cert_signature(child: &Certificate, parent: &Certificate) -> Result<(), String> {
    let alg = &child.signature_algorithm;
    if alg.oid != child.tbs_certificate.signature.oid {
        return Err("inner and outer signature algorithm identifiers don't match".into());
    }
    let parent_spki = parent
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let parent_key = PublicKey::from_spki_der(&parent_spki)?;
    let tbs = child.tbs_certificate.to_der().map_err(|e| e.to_string())?;
    let sig = child
        .signature
        .as_bytes()
        .ok_or("invalid signature bit string")?;
    let hash = match alg.oid {
        o if o == OID_ECDSA_SHA256 || o == OID_RSA_SHA256 => Some(HashAlg::Sha256),
        o if o == OID_ECDSA_SHA384 || o == OID_RSA_SHA384 => Some(HashAlg::Sha384),
        o if o == OID_ECDSA_SHA512 || o == OID_RSA_SHA512 => Some(HashAlg::Sha512),
        _ => None,
    };
    let is_ecdsa = [OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_ECDSA_SHA512].contains(&alg.oid);
    let is_rsa = [OID_RSA_SHA256, OID_RSA_SHA384, OID_RSA_SHA512].contains(&alg.oid);
    let ok = match (parent_key.key_type, hash) {
        (KeyType::Ecdsa(curve), Some(h)) if is_ecdsa => {
            lc::UnparsedPublicKey::new(ecdsa_algorithm(curve, h), parent_key.spki_der())
                .verify(&tbs, sig)
                .is_ok()
        }
        (KeyType::Rsa(bits), Some(h)) if is_rsa && bits >= 2048 => {
            let params = match h {
                HashAlg::Sha256 => &lc::RSA_PKCS1_2048_8192_SHA256,
                HashAlg::Sha384 => &lc::RSA_PKCS1_2048_8192_SHA384,
                HashAlg::Sha512 => &lc::RSA_PKCS1_2048_8192_SHA512,
            };
            lc::UnparsedPublicKey::new(params, parent_key.spki_der())
                .verify(&tbs, sig)
                .is_ok()
        }
        (KeyType::Ed25519, None) if alg.oid == OID_ED25519 => {
            lc::UnparsedPublicKey::new(&lc::ED25519, &parent_key.raw)
                .verify(&tbs, sig)
                .is_ok()
        }
        _ => {
            return Err(format!(
                "unsupported certificate signature algorithm {}",
                alg.oid
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err("signature does not verify".into())
    }
}

/// The subject alternative names of a certificate (or of a precertificate's TBSCertificate, as
/// a CT log holds it), in Go's order: DNS names, emails, IP addresses, URIs, then Sigstore's
/// other names.
///
/// # Errors
///
/// An unparsable SAN extension or IP address.
pub fn subject_alt_names(tbs: &TbsCertificate) -> Result<Vec<String>, String> {
    let Some(ext) = tbs
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == OID_SAN)
    else {
        return Ok(Vec::new());
    };
    let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
        .map_err(|e| format!("x509: cannot parse subject alternative names: {e}"))?;
    let (mut dns, mut email, mut ip, mut uri, mut other) = (vec![], vec![], vec![], vec![], vec![]);
    for name in &san.0 {
        match name {
            GeneralName::DnsName(s) => dns.push(s.to_string()),
            GeneralName::Rfc822Name(s) => email.push(s.to_string()),
            GeneralName::UniformResourceIdentifier(s) => uri.push(s.to_string()),
            GeneralName::IpAddress(octets) => {
                let b = octets.as_bytes();
                let addr = match b.len() {
                    4 => std::net::IpAddr::from(<[u8; 4]>::try_from(b).unwrap_or_default()),
                    16 => {
                        let v6 =
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default());
                        // Go prints IPv4-mapped addresses in dotted form.
                        match v6.to_ipv4_mapped() {
                            Some(v4) => v4.into(),
                            None => v6.into(),
                        }
                    }
                    n => return Err(format!("x509: cannot parse IP address of length {n}")),
                };
                ip.push(addr.to_string());
            }
            GeneralName::OtherName(on) if on.type_id == OID_SIGSTORE_OTHERNAME => {
                if let Ok(s) = Utf8StringRef::try_from(&on.value) {
                    other.push(s.as_str().to_owned());
                }
            }
            _ => {}
        }
    }
    // Upstream indexes only the first Sigstore OtherName.
    other.truncate(1);
    Ok([dns, email, ip, uri, other].concat())
}

/// Splits a PEM document into `(label, DER)` blocks. Stricter than Go's `pem.Decode` loop: only
/// whitespace may surround blocks, and headers are not accepted; more than
/// [`MAX_CERT_CHAIN_LEN`] blocks is an error.
pub fn pem_blocks(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let failure = || "invalid public key: failure decoding PEM".to_string();
    let text = std::str::from_utf8(bytes).map_err(|_| failure())?;
    let mut rest = text.trim_ascii();
    let mut blocks = Vec::new();
    while !rest.is_empty() {
        if blocks.len() == MAX_CERT_CHAIN_LEN {
            return Err(format!(
                "invalid public key: more than {MAX_CERT_CHAIN_LEN} certificates in chain"
            ));
        }
        let after_begin = rest.strip_prefix("-----BEGIN ").ok_or_else(failure)?;
        let line_end = after_begin.find('\n').ok_or_else(failure)?;
        let label = after_begin[..line_end]
            .trim_end_matches([' ', '\t', '\r'])
            .strip_suffix("-----")
            .ok_or_else(failure)?;
        let body_and_rest = &after_begin[line_end + 1..];
        let end_marker = format!("-----END {label}-----");
        let end = body_and_rest.find(&end_marker).ok_or_else(failure)?;
        let body = &body_and_rest[..end];
        if body.contains(':') || (!body.is_empty() && !body.ends_with('\n')) {
            return Err(failure());
        }
        let b64: Vec<u8> = body
            .bytes()
            .filter(|c| !matches!(c, b' ' | b'\t'))
            .collect();
        let der = b64::decode_go(&b64, Alphabet::Standard).map_err(|_| failure())?;
        let after = &body_and_rest[end + end_marker.len()..];
        let after_trimmed = after.trim_start_matches([' ', '\t']);
        if !(after_trimmed.is_empty()
            || after_trimmed.starts_with('\n')
            || after_trimmed.starts_with("\r\n"))
        {
            return Err(failure());
        }
        blocks.push((label.to_owned(), der));
        rest = after_trimmed.trim_start_matches(['\r', '\n', ' ', '\t']);
    }
    Ok(blocks)
}

/// Go `encoding/pem` layout: 64-character lines, LF endings, no headers.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = b64::encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_to_der_matches_ecdsa_crate() {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let sk = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        for i in 0..32u8 {
            let sig: p256::ecdsa::Signature = sk.sign_prehash(&[i; 32]).unwrap();
            assert_eq!(raw_ecdsa_to_der(&sig.to_bytes()), sig.to_der().as_bytes());
        }
        // P-521: 132-byte raw signatures need the long DER length form.
        let mut secret = [9u8; 66];
        secret[0] = 0;
        let sk = p521::ecdsa::SigningKey::from_slice(&secret).unwrap();
        let sig: p521::ecdsa::Signature = sk.sign_prehash(&[1u8; 64]).unwrap();
        assert_eq!(raw_ecdsa_to_der(&sig.to_bytes()), sig.to_der().as_bytes());
    }

    #[test]
    fn pem_layout_is_go_layout() {
        let pem = pem_encode("PUBLIC KEY", &[0u8; 91]);
        let lines: Vec<&str> = pem.split_inclusive('\n').collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----\n");
        assert_eq!(lines[1].len(), 65);
        assert_eq!(lines[2].len(), 61);
        assert_eq!(lines[3], "-----END PUBLIC KEY-----\n");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn given_sha512_yields_the_given_digest() {
        let d = GivenSha512([5u8; 64]);
        assert_eq!(Digest::finalize(d)[..], [5u8; 64]);
    }
}
