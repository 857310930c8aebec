//! OIDC ID tokens (OpenID Connect Core §2, §3.1.3.7): a JWS in compact serialization (RFC 7515
//! §7.1) verified against its issuer's JWKS (RFC 7517), then its claims checked.
//!
//! The algorithm is pinned per key: a key's JWK `alg` (or, when absent, the one algorithm its type
//! and curve imply) is the only algorithm it verifies, and a token whose header names another is
//! refused. So `alg: none`, the HMAC family keyed with a public key (RFC 8725 §2.1) and
//! RSA-vs-ECDSA confusion are refused by construction, never by a deny list.

use aws_lc_rs::signature as lc;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::limits::{MAX_ID_TOKEN_BYTES, MAX_JWKS_KEYS};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, as go-oidc (Fulcio's verifier) allows.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWS compact serialization or claims set.
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    /// No key of the issuer's JWKS has the token's key ID (the JWKS may need a refresh).
    #[error("the ID token is signed with key {0:?}, which the issuer does not publish")]
    UnknownKey(String),
    /// The signature, algorithm or a claim is not acceptable.
    #[error("the ID token is not valid: {0}")]
    Invalid(String),
}

/// The JWS algorithms a key may be pinned to (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl JwsAlgorithm {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "EdDSA" => Self::EdDSA,
            _ => return None,
        })
    }
}

/// A public key of a JWKS, with the one algorithm it verifies.
#[derive(Debug, Clone)]
struct Jwk {
    kid: Option<String>,
    alg: JwsAlgorithm,
    key: KeyMaterial,
}

#[derive(Debug, Clone)]
enum KeyMaterial {
    /// Big-endian modulus and exponent (RFC 7518 §6.3.1).
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed SEC1 point (RFC 7518 §6.2.1) or the 32 Ed25519 bytes (RFC 8037 §2).
    Point(Vec<u8>),
}

/// The signing keys an issuer publishes (RFC 7517 §5). Keys of other uses or of types Arkivo
/// cannot verify with are skipped, as OIDC relying parties do.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<Map<String, Value>>,
}

impl Jwks {
    /// Parses a JWKS document.
    ///
    /// # Errors
    ///
    /// Not JSON, no `keys` array, too many keys, or no usable signing key.
    pub fn parse(bytes: &[u8]) -> Result<Jwks, String> {
        let raw: RawJwks =
            serde_json::from_slice(bytes).map_err(|e| format!("the JWKS is not valid: {e}"))?;
        if raw.keys.len() > MAX_JWKS_KEYS {
            return Err(format!(
                "the JWKS has {} keys, more than the {MAX_JWKS_KEYS} accepted",
                raw.keys.len()
            ));
        }
        let keys: Vec<Jwk> = raw.keys.iter().filter_map(parse_jwk).collect();
        if keys.is_empty() {
            return Err("the JWKS has no RSA, EC or Ed25519 signing key".into());
        }
        Ok(Jwks { keys })
    }

    /// Whether a key with this ID is published.
    pub fn has_key(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn parse_jwk(jwk: &Map<String, Value>) -> Option<Jwk> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| text(name).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let (implied, key) = match (text("kty")?, text("crv")) {
        ("RSA", _) => {
            let (n, e) = (bytes("n")?, bytes("e")?);
            (JwsAlgorithm::RS256, KeyMaterial::Rsa { n, e })
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            let len = if crv == "P-256" { 32 } else { 48 };
            if x.len() != len || y.len() != len {
                return None;
            }
            let alg = if crv == "P-256" {
                JwsAlgorithm::ES256
            } else {
                JwsAlgorithm::ES384
            };
            (alg, KeyMaterial::Point([&[4][..], &x, &y].concat()))
        }
        ("OKP", Some("Ed25519")) => (JwsAlgorithm::EdDSA, KeyMaterial::Point(bytes("x")?)),
        _ => return None,
    };
    // A stated algorithm must fit the key (RFC 7518 §6): an RSA key may be pinned to any RSA
    // algorithm, an EC key only to its curve's.
    let alg = match text("alg") {
        None => implied,
        Some(name) => {
            let alg = JwsAlgorithm::from_name(name)?;
            let rsa = matches!(key, KeyMaterial::Rsa { .. });
            let fits = match alg {
                JwsAlgorithm::ES256 | JwsAlgorithm::ES384 | JwsAlgorithm::EdDSA => alg == implied,
                _ => rsa,
            };
            if !fits {
                return None;
            }
            alg
        }
    };
    Some(Jwk {
        kid: text("kid").map(str::to_owned),
        alg,
        key,
    })
}

/// A token split and decoded, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct UnverifiedToken {
    alg: String,
    kid: Option<String>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    claims: Map<String, Value>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

impl UnverifiedToken {
    /// Splits a compact JWS (RFC 7515 §7.1) and decodes its header and claims.
    ///
    /// # Errors
    ///
    /// [`TokenError::Malformed`], naming what is wrong.
    pub fn parse(token: &str) -> Result<UnverifiedToken, TokenError> {
        let malformed = |m: &str| TokenError::Malformed(m.to_owned());
        if token.len() > MAX_ID_TOKEN_BYTES {
            return Err(TokenError::Malformed(format!(
                "it is longer than {MAX_ID_TOKEN_BYTES} bytes"
            )));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("a JWS has three dot-separated parts"));
        };
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| TokenError::Malformed(format!("its {what} is not base64url")))
        };
        let h: Header = serde_json::from_slice(&decode(header, "header")?)
            .map_err(|e| TokenError::Malformed(format!("its header: {e}")))?;
        // RFC 7515 §4.1.11: extensions the recipient does not understand must be refused.
        if h.crit.is_some() {
            return Err(malformed("its header has critical extensions (crit)"));
        }
        let claims: Map<String, Value> = serde_json::from_slice(&decode(payload, "payload")?)
            .map_err(|e| TokenError::Malformed(format!("its claims: {e}")))?;
        Ok(UnverifiedToken {
            alg: h.alg,
            kid: h.kid,
            signing_input: token.as_bytes()[..header.len() + 1 + payload.len()].to_vec(),
            signature: decode(signature, "signature")?,
            claims,
        })
    }

    /// The `iss` claim, to find the issuer whose keys verify the token.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// A string claim, unverified: what a client reads to find the challenge claim's value
    /// (the proof of possession signs it before the CA has checked the token).
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// The key ID of the header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Verifies the signature with `jwks` and checks the claims (OpenID Connect Core §3.1.3.7:
    /// `iss` exactly `issuer`, `aud` containing `audience`, unexpired; `nbf` and `iat` not in the
    /// future, each with [`CLOCK_SKEW_SECONDS`]). `now` is in Unix seconds.
    ///
    /// # Errors
    ///
    /// [`TokenError::UnknownKey`] when the key ID is not in `jwks`, else
    /// [`TokenError::Invalid`] naming the failed check.
    pub fn verify(
        self,
        jwks: &Jwks,
        issuer: &str,
        audience: &str,
        now: i64,
    ) -> Result<Claims, TokenError> {
        let invalid = |m: String| TokenError::Invalid(m);
        let alg = JwsAlgorithm::from_name(&self.alg).ok_or_else(|| {
            invalid(format!(
                "its algorithm {:?} is not one of the asymmetric JWS algorithms accepted",
                self.alg
            ))
        })?;
        let candidates: Vec<&Jwk> = match &self.kid {
            Some(kid) => {
                let found: Vec<&Jwk> = jwks
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_ref() == Some(kid))
                    .collect();
                if found.is_empty() {
                    return Err(TokenError::UnknownKey(kid.clone()));
                }
                found
            }
            // Without a key ID, any key of the issuer may have signed (as go-oidc tries them).
            None => jwks.keys.iter().collect(),
        };
        let pinned: Vec<&&Jwk> = candidates.iter().filter(|k| k.alg == alg).collect();
        if pinned.is_empty() {
            return Err(invalid(format!(
                "its header names algorithm {:?}, which its issuer's key is not published for",
                self.alg
            )));
        }
        if !pinned
            .iter()
            .any(|k| verify_signature(k, &self.signing_input, &self.signature))
        {
            return Err(invalid("its signature does not verify".into()));
        }
        let claims = Claims(self.claims);
        if claims.string("iss") != Some(issuer) {
            return Err(invalid(format!("its issuer is not {issuer}")));
        }
        let audience_ok = match claims.0.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(invalid(format!("its audience (aud) is not {audience:?}")));
        }
        let time = |name: &str| -> Result<Option<i64>, TokenError> {
            match claims.0.get(name) {
                None => Ok(None),
                // NumericDate (RFC 7519 §2): seconds, possibly fractional.
                Some(Value::Number(n)) => n
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| Some(f as i64))
                    .ok_or_else(|| invalid(format!("its {name} is not a NumericDate"))),
                Some(_) => Err(invalid(format!("its {name} is not a NumericDate"))),
            }
        };
        let exp = time("exp")?.ok_or_else(|| invalid("it has no expiry (exp)".into()))?;
        if now > exp.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(invalid(format!("it expired at {exp} (now {now})")));
        }
        if let Some(nbf) = time("nbf")?
            && nbf > now.saturating_add(CLOCK_SKEW_SECONDS)
        {
            return Err(invalid(format!("it is not valid before {nbf} (now {now})")));
        }
        if let Some(iat) = time("iat")?
            && iat > now.saturating_add(CLOCK_SKEW_SECONDS)
        {
            return Err(invalid(format!("it was issued in the future, at {iat}")));
        }
        Ok(claims)
    }
}

fn verify_signature(key: &Jwk, message: &[u8], signature: &[u8]) -> bool {
    let rsa = |params: &'static lc::RsaParameters| match &key.key {
        KeyMaterial::Rsa { n, e } => lc::RsaPublicKeyComponents { n, e }
            .verify(params, message, signature)
            .is_ok(),
        KeyMaterial::Point(_) => false,
    };
    // JWS ECDSA signatures are r ‖ s (RFC 7518 §3.4), the FIXED encodings.
    let point = |alg: &'static dyn lc::VerificationAlgorithm| match &key.key {
        KeyMaterial::Point(p) => lc::UnparsedPublicKey::new(alg, p)
            .verify(message, signature)
            .is_ok(),
        KeyMaterial::Rsa { .. } => false,
    };
    match key.alg {
        JwsAlgorithm::RS256 => rsa(&lc::RSA_PKCS1_2048_8192_SHA256),
        JwsAlgorithm::RS384 => rsa(&lc::RSA_PKCS1_2048_8192_SHA384),
        JwsAlgorithm::RS512 => rsa(&lc::RSA_PKCS1_2048_8192_SHA512),
        JwsAlgorithm::PS256 => rsa(&lc::RSA_PSS_2048_8192_SHA256),
        JwsAlgorithm::PS384 => rsa(&lc::RSA_PSS_2048_8192_SHA384),
        JwsAlgorithm::PS512 => rsa(&lc::RSA_PSS_2048_8192_SHA512),
        JwsAlgorithm::ES256 => point(&lc::ECDSA_P256_SHA256_FIXED),
        JwsAlgorithm::ES384 => point(&lc::ECDSA_P384_SHA384_FIXED),
        JwsAlgorithm::EdDSA => point(&lc::ED25519),
    }
}

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// A string claim.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// A claim as the text an extension carries: strings as they are, numbers (GitHub's
    /// `run_id`, GitLab's `project_id` may come either way) in decimal.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A boolean claim; some issuers send `"true"` as a string.
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.0.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// An object claim (Kubernetes' `kubernetes.io`).
    pub fn object(&self, name: &str) -> Option<&Map<String, Value>> {
        self.0.get(name).and_then(Value::as_object)
    }
}
