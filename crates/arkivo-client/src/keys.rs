//! The client's signing keys: generating, storing and loading them, and signing.
//!
//! Two algorithms, the two that every Sigstore verifier and Rekor's `hashedrekord` accept for a
//! self-managed key (rekor-v1-api.md §5.2, §5.4):
//!
//! - **ECDSA P-256** (the default, as cosign's): SHA-256, ASN.1 DER signatures.
//! - **Ed25519**: `hashedrekord` accepts only Ed25519ph over a SHA-512 digest (§5.2 step 3), so
//!   [`SigningKey::sign`] and [`SigningKey::sign_digest`] make Ed25519ph signatures, while
//!   [`SigningKey::sign_dsse`] makes the pure Ed25519 signature that `dsse` verifies (§6.2).
//!
//! Key files read by [`SigningKey::load`] (the label of the PEM block decides):
//!
//! | PEM label | format | password |
//! | --- | --- | --- |
//! | `PRIVATE KEY` | PKCS#8 | none |
//! | `ENCRYPTED PRIVATE KEY` | PKCS#8 PBES2 (what `arkivo keygen` writes: scrypt + AES-256-CBC) | `ARKIVO_PASSWORD` or a prompt |
//! | `EC PRIVATE KEY` | SEC1 (OpenSSL's `ecparam -genkey`) | none |
//! | `ENCRYPTED SIGSTORE PRIVATE KEY`, `ENCRYPTED COSIGN PRIVATE KEY` | cosign's: scrypt + NaCl secretbox over PKCS#8 (CRATES.md) | `COSIGN_PASSWORD` or a prompt |
//!
//! Public keys are SPKI `PUBLIC KEY` PEM ([`load_public_key`]), parsed by
//! [`arkivo_core::entries::pki`], the same code that verifies what the log accepts.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use pkcs8::der::Decode as _;
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde::Deserialize;
use sha2::Digest as _;

use arkivo_core::entries::pki::{GivenSha512, HashAlg, PublicKey, Verifier};

/// A password, wiped from memory when dropped.
pub type Password = Zeroizing<String>;

/// Environment variable holding the password of Arkivo's (PKCS#8) key files.
pub const ARKIVO_PASSWORD: &str = "ARKIVO_PASSWORD";
/// Environment variable holding the password of cosign's key files (cosign's own name for it).
pub const COSIGN_PASSWORD: &str = "COSIGN_PASSWORD";

/// scrypt work factors (N) accepted in a cosign key file (CRATES.md): cosign writes 65536; a
/// larger N in a file would make loading it a denial of service.
const COSIGN_SCRYPT_N: [u64; 3] = [32768, 65536, 131072];
/// The most memory scrypt may use to open an encrypted PKCS#8 file: 128·N·r·p bytes. `keygen`
/// uses N = 2^15, r = 8, p = 1 (32 MiB); 256 MiB leaves room for keys made by other tools
/// without letting a crafted file exhaust memory.
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// The most PBKDF2 iterations accepted in an encrypted PKCS#8 file (OpenSSL writes 2048;
/// OWASP's 2023 advice for PBKDF2-SHA256 is 600 000).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Largest key file read: any real key file is a few hundred bytes.
const MAX_KEY_FILE_BYTES: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Format(String),
    #[error(
        "wrong password for {0} (or a damaged key file): decryption failed; check {env}",
        env = .1
    )]
    WrongPassword(String, &'static str),
    #[error("{0}")]
    NoPassword(String),
    #[error("unsupported key: {0}; arkivo signs with ECDSA P-256 or Ed25519 keys")]
    Unsupported(String),
}

fn format_err(m: impl Into<String>) -> KeyError {
    KeyError::Format(m.into())
}

/// The signature algorithms of [`SigningKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256.
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// Ed25519 (Ed25519ph over SHA-512 for hashedrekord).
    #[value(name = "ed25519")]
    Ed25519,
}

impl KeyAlgorithm {
    /// The digest a `hashedrekord` entry made with this key carries (§5.4 policy table).
    pub fn hash_algorithm(self) -> HashAlg {
        match self {
            KeyAlgorithm::EcdsaP256 => HashAlg::Sha256,
            KeyAlgorithm::Ed25519 => HashAlg::Sha512,
        }
    }

    /// The `PublicKeyDetails` a Rekor v2 verifier names this key with (§6.2): the key type
    /// and the digest of its `hashedrekord` entries.
    pub fn key_details(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "PKIX_ECDSA_P256_SHA_256",
            KeyAlgorithm::Ed25519 => "PKIX_ED25519_PH",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
}

/// Which password a key file needs (it decides the environment variable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordFor {
    /// An `ENCRYPTED PRIVATE KEY` (PKCS#8): `ARKIVO_PASSWORD`.
    Pkcs8,
    /// A cosign key file: `COSIGN_PASSWORD`.
    Cosign,
}

impl PasswordFor {
    pub fn env_var(self) -> &'static str {
        match self {
            PasswordFor::Pkcs8 => ARKIVO_PASSWORD,
            PasswordFor::Cosign => COSIGN_PASSWORD,
        }
    }
}

/// A private key that signs artifacts, DSSE envelopes and image payloads. `Debug` shows only
/// the algorithm.
pub struct SigningKey {
    inner: Inner,
}

enum Inner {
    EcdsaP256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

const OID_EC_PUBLIC_KEY: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_ED25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

impl SigningKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(algorithm: KeyAlgorithm) -> SigningKey {
        let inner = match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                Inner::EcdsaP256(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng))
            }
            KeyAlgorithm::Ed25519 => {
                Inner::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
            }
        };
        SigningKey { inner }
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.inner {
            Inner::EcdsaP256(_) => KeyAlgorithm::EcdsaP256,
            Inner::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// Reads a key file in any of the formats of the module table, asking for a password (from
    /// the environment variable, else on the terminal) only when the file is encrypted.
    ///
    /// # Errors
    ///
    /// [`KeyError`]: unreadable file, unknown format, wrong or missing password, another
    /// algorithm.
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        let text = read_small(path)?;
        let what = path.display().to_string();
        SigningKey::from_pem(&text, &what, &mut |kind| {
            password_from_env_or_prompt(
                kind.env_var(),
                &format!("Enter the password of {what}: "),
                false,
            )
        })
    }

    /// Parses a key file's text. `password` is called at most once, for encrypted formats;
    /// `what` names the key in messages.
    ///
    /// # Errors
    ///
    /// As [`SigningKey::load`].
    pub fn from_pem(
        text: &str,
        what: &str,
        password: &mut dyn FnMut(PasswordFor) -> Result<Password, KeyError>,
    ) -> Result<SigningKey, KeyError> {
        let (label, der) = decode_pem(text).ok_or_else(|| {
            format_err(format!(
                "{what} is not a PEM private key file; expected arkivo keygen's, cosign's, or a \
                 PKCS#8/SEC1 PEM key"
            ))
        })?;
        let der = Zeroizing::new(der);
        match label {
            "PRIVATE KEY" => SigningKey::from_pkcs8_der(&der),
            "EC PRIVATE KEY" => {
                let key = p256::SecretKey::from_sec1_der(&der).map_err(|_| {
                    KeyError::Unsupported(format!("{what} is not a valid SEC1 P-256 key"))
                })?;
                Ok(SigningKey {
                    inner: Inner::EcdsaP256(key.into()),
                })
            }
            "ENCRYPTED PRIVATE KEY" => {
                let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der)
                    .map_err(|e| format_err(format!("{what}: malformed encrypted PKCS#8: {e}")))?;
                check_pkcs8_work_factor(&info, what)?;
                let pw = password(PasswordFor::Pkcs8)?;
                let plain = info
                    .decrypt(pw.as_bytes())
                    .map_err(|_| KeyError::WrongPassword(what.to_owned(), ARKIVO_PASSWORD))?;
                SigningKey::from_pkcs8_der(plain.as_bytes())
            }
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                let plain = decrypt_cosign(&der, what, password)?;
                SigningKey::from_pkcs8_der(&plain)
            }
            other => Err(format_err(format!(
                "{what} holds a PEM block of type {other:?}, not a private key"
            ))),
        }
    }

    /// A PKCS#8 `PrivateKeyInfo` (DER) of a P-256 or Ed25519 key.
    ///
    /// # Errors
    ///
    /// [`KeyError::Format`] for malformed DER, [`KeyError::Unsupported`] for other algorithms.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        let info = pkcs8::PrivateKeyInfo::from_der(der)
            .map_err(|e| format_err(format!("malformed PKCS#8 private key: {e}")))?;
        let alg = info.algorithm;
        let inner = if alg.oid == OID_EC_PUBLIC_KEY {
            if alg.parameters_oid().ok() != Some(OID_P256) {
                return Err(KeyError::Unsupported(
                    "an ECDSA key on a curve other than P-256".into(),
                ));
            }
            Inner::EcdsaP256(
                p256::ecdsa::SigningKey::try_from(info)
                    .map_err(|e| format_err(format!("invalid P-256 private key: {e}")))?,
            )
        } else if alg.oid == OID_ED25519 {
            Inner::Ed25519(
                ed25519_dalek::SigningKey::try_from(info)
                    .map_err(|e| format_err(format!("invalid Ed25519 private key: {e}")))?,
            )
        } else if alg.oid == OID_RSA {
            return Err(KeyError::Unsupported("an RSA key".into()));
        } else {
            return Err(KeyError::Unsupported(format!(
                "a key of algorithm {}",
                alg.oid
            )));
        };
        Ok(SigningKey { inner })
    }

    /// The key as PKCS#8 PEM: encrypted (`ENCRYPTED PRIVATE KEY`, PBES2 with scrypt N = 2^15,
    /// r = 8, p = 1 and AES-256-CBC) unless `password` is empty (`PRIVATE KEY`).
    ///
    /// # Errors
    ///
    /// [`KeyError::Format`] if encoding fails (it does not for valid keys).
    pub fn to_pkcs8_pem(&self, password: &str) -> Result<Zeroizing<String>, KeyError> {
        let pem = match (&self.inner, password.is_empty()) {
            (Inner::EcdsaP256(k), true) => k.to_pkcs8_pem(LineEnding::LF),
            (Inner::Ed25519(k), true) => k.to_pkcs8_pem(LineEnding::LF),
            (Inner::EcdsaP256(k), false) => {
                k.to_pkcs8_encrypted_pem(rand_core::OsRng, password, LineEnding::LF)
            }
            (Inner::Ed25519(k), false) => {
                k.to_pkcs8_encrypted_pem(rand_core::OsRng, password, LineEnding::LF)
            }
        };
        pem.map_err(|e| format_err(format!("encoding the private key: {e}")))
    }

    /// DER SubjectPublicKeyInfo of the public key.
    pub fn public_key_der(&self) -> Vec<u8> {
        let der = match &self.inner {
            Inner::EcdsaP256(k) => k.verifying_key().to_public_key_der(),
            Inner::Ed25519(k) => k.verifying_key().to_public_key_der(),
        };
        der.expect("a valid public key encodes as SPKI").into_vec()
    }

    /// The public key as SPKI `PUBLIC KEY` PEM in Go's layout (what Rekor stores, §5.3).
    pub fn public_key_pem(&self) -> String {
        arkivo_core::entries::pki::pem_encode("PUBLIC KEY", &self.public_key_der())
    }

    /// The digest of `message` that a `hashedrekord` entry of this key carries: SHA-256 for
    /// ECDSA P-256, SHA-512 for Ed25519 (§5.4).
    pub fn digest(&self, message: &[u8]) -> Vec<u8> {
        match self.algorithm().hash_algorithm() {
            HashAlg::Sha512 => sha2::Sha512::digest(message).to_vec(),
            _ => sha2::Sha256::digest(message).to_vec(),
        }
    }

    /// Signs `message` as `hashedrekord` (and cosign's signature verification) expects:
    /// ECDSA P-256 over SHA-256, DER; Ed25519ph over SHA-512. Same as
    /// `sign_digest(&self.digest(message))`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.sign_digest(&self.digest(message))
            .expect("the digest has the key's length")
    }

    /// Signs a digest computed by the caller (a large file hashed while streaming); it must be
    /// of the key's [`KeyAlgorithm::hash_algorithm`].
    ///
    /// # Errors
    ///
    /// [`KeyError::Format`] for a digest of another length.
    pub fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        let want = self.algorithm().hash_algorithm().digest_len();
        if digest.len() != want {
            return Err(format_err(format!(
                "a {} key signs {want}-byte digests, not {} bytes",
                self.algorithm().name(),
                digest.len()
            )));
        }
        match &self.inner {
            Inner::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = k
                    .sign_prehash(digest)
                    .map_err(|e| format_err(format!("ECDSA signing failed: {e}")))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Inner::Ed25519(k) => {
                let mut given = [0u8; 64];
                given.copy_from_slice(digest);
                let sig = k
                    .sign_prehashed(GivenSha512(given), None)
                    .map_err(|e| format_err(format!("Ed25519ph signing failed: {e}")))?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }

    /// Signs a DSSE pre-authentication encoding as the `dsse` kind verifies it (§6.2): ECDSA
    /// P-256 over SHA-256, DER; pure Ed25519.
    pub fn sign_dsse(&self, pae: &[u8]) -> Vec<u8> {
        match &self.inner {
            Inner::EcdsaP256(_) => self.sign(pae),
            Inner::Ed25519(k) => k.sign(pae).to_bytes().to_vec(),
        }
    }
}

/// The label and contents of the one PEM block in `text`. Lenient on layout (any line length,
/// CRLF, surrounding text) as key files come from many tools; no encapsulated headers (the
/// legacy OpenSSL `Proc-Type` encryption is not supported).
fn decode_pem(text: &str) -> Option<(&str, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let b64: String = rest[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    B64.decode(b64).ok().map(|der| (label, der))
}

/// Refuses encrypted PKCS#8 files whose key derivation would take unbounded memory or time.
fn check_pkcs8_work_factor(
    info: &pkcs8::EncryptedPrivateKeyInfo<'_>,
    what: &str,
) -> Result<(), KeyError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    let Some(params) = info.encryption_algorithm.pbes2() else {
        return Err(KeyError::Unsupported(format!(
            "{what} is encrypted with PBES1; re-encrypt it with PBES2 \
             (openssl pkcs8 -topk8 -v2 aes-256-cbc)"
        )));
    };
    let ok = match &params.kdf {
        Kdf::Scrypt(s) => s
            .cost_parameter
            .checked_mul(128 * u64::from(s.block_size) * u64::from(s.parallelization))
            .is_some_and(|m| m <= MAX_SCRYPT_MEMORY),
        Kdf::Pbkdf2(p) => p.iteration_count <= MAX_PBKDF2_ITERATIONS,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format_err(format!(
            "{what}: the key derivation parameters are too expensive (over {} MiB of scrypt \
             memory or {MAX_PBKDF2_ITERATIONS} PBKDF2 iterations)",
            MAX_SCRYPT_MEMORY >> 20
        )))
    }
}

/// The JSON inside cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` block (CRATES.md).
#[derive(Deserialize)]
struct CosignKeyFile {
    kdf: CosignKdf,
    cipher: CosignCipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct CosignKdf {
    name: String,
    params: CosignScrypt,
    salt: String,
}

#[derive(Deserialize)]
struct CosignScrypt {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct CosignCipher {
    name: String,
    nonce: String,
}

/// Opens a cosign key file body: key = scrypt(password, salt, N, r = 8, p = 1, 32 bytes),
/// then NaCl secretbox (XSalsa20-Poly1305) → PKCS#8 DER.
fn decrypt_cosign(
    body: &[u8],
    what: &str,
    password: &mut dyn FnMut(PasswordFor) -> Result<Password, KeyError>,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let bad = |m: &str| format_err(format!("{what}: malformed cosign key file: {m}"));
    let file: CosignKeyFile =
        serde_json::from_slice(body).map_err(|e| bad(&format!("not the expected JSON ({e})")))?;
    if file.kdf.name != "scrypt" {
        return Err(bad(&format!(
            "key derivation {:?}, expected scrypt",
            file.kdf.name
        )));
    }
    if file.cipher.name != "nacl/secretbox" {
        return Err(bad(&format!(
            "cipher {:?}, expected nacl/secretbox",
            file.cipher.name
        )));
    }
    let CosignScrypt { n, r, p } = file.kdf.params;
    if !COSIGN_SCRYPT_N.contains(&n) || r != 8 || p != 1 {
        return Err(bad(&format!(
            "scrypt parameters N={n}, r={r}, p={p}; accepted: N in {COSIGN_SCRYPT_N:?}, r=8, p=1"
        )));
    }
    let salt = B64
        .decode(&file.kdf.salt)
        .map_err(|_| bad("salt is not base64"))?;
    let nonce = B64
        .decode(&file.cipher.nonce)
        .ok()
        .filter(|n| n.len() == 24)
        .ok_or_else(|| bad("nonce is not base64 of 24 bytes"))?;
    let ciphertext = B64
        .decode(&file.ciphertext)
        .map_err(|_| bad("ciphertext is not base64"))?;
    let pw = password(PasswordFor::Cosign)?;
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p, 32)
        .map_err(|e| bad(&format!("scrypt parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(pw.as_bytes(), &salt, &params, key.as_mut())
        .map_err(|e| bad(&format!("scrypt: {e}")))?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(key.as_ref().into());
    let plain = cipher
        .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
        .map_err(|_| KeyError::WrongPassword(what.to_owned(), COSIGN_PASSWORD))?;
    Ok(Zeroizing::new(plain))
}

/// Reads a public key file: SPKI `PUBLIC KEY` PEM (what `arkivo keygen` and cosign write) or a
/// certificate, parsed as the log parses verifiers (rekor-v1-api.md §5.1).
///
/// # Errors
///
/// [`KeyError`] for an unreadable file or one that holds no public key.
pub fn load_public_key(path: &Path) -> Result<Verifier, KeyError> {
    let text = read_small(path)?;
    Verifier::from_pem(text.as_bytes()).map_err(|e| {
        format_err(format!(
            "{} is not a PEM public key or certificate: {e}",
            path.display()
        ))
    })
}

/// The [`PublicKey`] of a PEM public key text (SPKI or certificate).
///
/// # Errors
///
/// [`KeyError::Format`] naming `what`.
pub fn parse_public_key(pem: &str, what: &str) -> Result<PublicKey, KeyError> {
    Verifier::from_pem(pem.as_bytes())
        .map(|v| v.key().clone())
        .map_err(|e| format_err(format!("{what} is not a PEM public key: {e}")))
}

fn read_small(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    use std::io::Read as _;
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format_err(format!(
            "{} is larger than {} KiB: not a key file",
            path.display(),
            MAX_KEY_FILE_BYTES >> 10
        )));
    }
    Ok(text)
}

/// The password in environment variable `var` if it is set (even empty), else asked on the
/// terminal (twice when `confirm`).
///
/// # Errors
///
/// [`KeyError::NoPassword`] when `var` is unset and there is no terminal to ask on, or the two
/// entries differ.
pub fn password_from_env_or_prompt(
    var: &str,
    prompt: &str,
    confirm: bool,
) -> Result<Password, KeyError> {
    if let Some(v) = std::env::var_os(var) {
        return v
            .into_string()
            .map(Zeroizing::new)
            .map_err(|_| KeyError::NoPassword(format!("{var} is not valid UTF-8")));
    }
    let no_terminal = || {
        KeyError::NoPassword(format!(
            "a password is needed and there is no terminal to ask for it: set {var}"
        ))
    };
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal());
    }
    let first = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|_| no_terminal())?);
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("Enter it again: ").map_err(|_| no_terminal())?,
        );
        if *again != *first {
            return Err(KeyError::NoPassword("the two passwords differ".into()));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_password(_: PasswordFor) -> Result<Password, KeyError> {
        panic!("no password should be asked for")
    }

    #[test]
    fn pkcs8_roundtrip_plain_and_encrypted() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let key = SigningKey::generate(alg);
            let plain = key.to_pkcs8_pem("").unwrap();
            assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let again = SigningKey::from_pem(&plain, "k", &mut no_password).unwrap();
            assert_eq!(again.public_key_der(), key.public_key_der());

            let enc = key.to_pkcs8_pem("s3cret").unwrap();
            assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
            let mut asked = Vec::new();
            let again = SigningKey::from_pem(&enc, "k", &mut |k| {
                asked.push(k);
                Ok(Zeroizing::new("s3cret".into()))
            })
            .unwrap();
            assert_eq!(asked, [PasswordFor::Pkcs8]);
            assert_eq!(again.public_key_der(), key.public_key_der());
            let wrong = SigningKey::from_pem(&enc, "k", &mut |_| Ok(Zeroizing::new("x".into())));
            assert!(
                matches!(wrong, Err(KeyError::WrongPassword(..))),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn signatures_verify_as_the_log_verifies_them() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let key = SigningKey::generate(alg);
            let pk = parse_public_key(&key.public_key_pem(), "pub").unwrap();
            let msg = b"hello, rekor\n";
            let digest = key.digest(msg);
            let sig = key.sign(msg);
            let hash = alg.hash_algorithm();
            assert!(pk.verify_digest(hash, &digest, &sig).is_ok(), "{alg:?}");
            assert!(pk.policy_allows(hash));
            assert!(pk.verify_digest(hash, &key.digest(b"other"), &sig).is_err());
            assert!(key.sign_digest(&digest[1..]).is_err());
            let pae = arkivo_core::entries::dsse::pae("t", b"p");
            let dsse = key.sign_dsse(&pae);
            let pae_hash: [u8; 32] = sha2::Sha256::digest(&pae).into();
            assert!(
                pk.verify_dsse(
                    &pae,
                    arkivo_core::entries::pki::HashAlg::Sha256,
                    &pae_hash,
                    &dsse
                )
                .is_ok(),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn sec1_keys_load_and_other_labels_are_refused() {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        let key = SigningKey::from_pem(&sec1, "k", &mut no_password).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
        let point = secret.public_key().to_encoded_point(false);
        assert!(key.public_key_der().ends_with(point.as_bytes()));
        let public = SigningKey::from_pem(&key.public_key_pem(), "k", &mut no_password);
        assert!(matches!(public, Err(KeyError::Format(m)) if m.contains("PUBLIC KEY")));
        assert!(SigningKey::from_pem("garbage", "k", &mut no_password).is_err());
    }
}
