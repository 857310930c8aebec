//! Keyless signing: an ID token, an ephemeral key, and a certificate for it from a
//! Fulcio-compatible certificate authority (Arkivo's own, docs/keyless.md, or Fulcio).
//!
//! The flow of every Sigstore signer (sigstore-services.md §4):
//!
//! 1. an OIDC ID token: given (`--identity-token`, a token or a file holding one), from
//!    `SIGSTORE_ID_TOKEN` (what GitLab CI's `id_tokens:` and most CI systems set), or GitHub
//!    Actions' ambient token (`ACTIONS_ID_TOKEN_REQUEST_URL` with `&audience=sigstore`, bearer
//!    `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, as cosign and sigstore-js fetch it);
//! 2. a fresh ECDSA P-256 key, never stored;
//! 3. the proof of possession: the key's signature of the token's challenge claim — `email` when
//!    the token has one, else `sub` — read from the unverified payload as cosign does (the CA
//!    verifies the token, not the client);
//! 4. `POST /api/v2/signingCert` with the key and proof to the CA — `--fulcio-url`, else the
//!    first CA of the log's signing config (`GET /api/v1/log/signingConfig`: `caUrls` of Fulcio
//!    API version 1 valid now, sigstore-services.md §1) — for the certificate chain, leaf first.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use serde_json::json;

use super::bundle::Material;
use super::commands::Failure;
use super::cosign;
use super::keys::{KeyAlgorithm, SigningKey};
use super::rekor::{self, RekorClient};
use arkivo_core::ca::token::UnverifiedToken;
use arkivo_core::entries::pki::{Verifier, pem_blocks, pem_encode};
use arkivo_core::wire::SigningConfig;

/// GitHub Actions' token request: the URL and bearer token its runner sets with
/// `permissions: id-token: write`.
const GITHUB_TOKEN_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
const GITHUB_TOKEN_BEARER: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
/// The audience Sigstore CAs expect.
const AUDIENCE: &str = "sigstore";

/// Where keyless signing gets its token and certificate.
#[derive(Args)]
pub struct KeylessArgs {
    /// The OIDC ID token (or a file holding it) to get a certificate with, when signing
    /// without --key. Also from SIGSTORE_ID_TOKEN; in GitHub Actions the ambient token is used.
    #[arg(
        long = "identity-token",
        env = "SIGSTORE_ID_TOKEN",
        hide_env_values = true
    )]
    pub identity_token: Option<String>,
    /// The certificate authority (Fulcio v2 API) to get the certificate from; default: the
    /// first one the log's signing config lists (Arkivo lists its own CA there).
    #[arg(long = "fulcio-url", env = "ARKIVO_FULCIO_URL")]
    pub fulcio_url: Option<String>,
}

impl std::fmt::Debug for KeylessArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeylessArgs")
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "<redacted>"),
            )
            .field("fulcio_url", &self.fulcio_url)
            .finish()
    }
}

/// What signs: a self-managed key, or an ephemeral key with its certificate chain (DER, leaf
/// first).
pub struct Credential {
    pub key: SigningKey,
    /// Empty for a self-managed key.
    pub chain: Vec<Vec<u8>>,
}

impl Credential {
    pub fn from_key(key: SigningKey) -> Credential {
        Credential {
            key,
            chain: Vec::new(),
        }
    }

    /// What a `hashedrekord` or `dsse` entry records as the verifier: the public key, or the
    /// signing certificate (PEM).
    pub fn verifier_pem(&self) -> String {
        match self.chain.first() {
            Some(leaf) => pem_encode("CERTIFICATE", leaf),
            None => self.key.public_key_pem(),
        }
    }

    /// What a Rekor v2 entry records as the verifier (tiles-checkpoints-witnesses.md §6.2):
    /// the public key's or the signing certificate's DER, with the key details.
    pub fn verifier_v2(&self) -> serde_json::Value {
        let details = self.key.algorithm().key_details();
        match self.chain.first() {
            Some(leaf) => json!({"x509Certificate": {"rawBytes": B64.encode(leaf)},
                                             "keyDetails": details}),
            None => json!({"publicKey": {"rawBytes": B64.encode(self.key.public_key_der())},
                                       "keyDetails": details}),
        }
    }

    /// What a bundle names as the signer.
    pub fn material(&self) -> Material {
        match self.chain.first() {
            Some(leaf) => Material::Certificate(leaf.clone()),
            None => Material::PublicKey(self.key.public_key_der()),
        }
    }

    /// cosign's annotations of a keyless legacy layer (cosign-oci-storage.md §2): the signing
    /// certificate and the chain above it, PEM. None for a key.
    pub fn certificate_annotations(&self) -> BTreeMap<String, String> {
        let Some((leaf, above)) = self.chain.split_first() else {
            return BTreeMap::new();
        };
        BTreeMap::from([
            (
                cosign::CERTIFICATE_ANNOTATION.to_owned(),
                pem_encode("CERTIFICATE", leaf),
            ),
            (
                cosign::CHAIN_ANNOTATION.to_owned(),
                above
                    .iter()
                    .map(|der| pem_encode("CERTIFICATE", der))
                    .collect(),
            ),
        ])
    }
}

/// The ID token (module doc, step 1).
async fn id_token(args: &KeylessArgs) -> Result<String, Failure> {
    if let Some(given) = &args.identity_token {
        let path = Path::new(given);
        // A token is never a path that exists; cosign takes either too.
        if given.len() < 4096 && path.is_file() {
            return Ok(super::commands::read_text(path, "the identity token file")?
                .trim()
                .to_owned());
        }
        return Ok(given.trim().to_owned());
    }
    if let (Ok(url), Ok(bearer)) = (
        std::env::var(GITHUB_TOKEN_URL),
        std::env::var(GITHUB_TOKEN_BEARER),
    ) {
        return github_token(&url, &bearer).await;
    }
    Err(Failure::Input(
        "signing without --key needs an OIDC ID token: --identity-token TOKEN|FILE, \
         SIGSTORE_ID_TOKEN, or GitHub Actions with `permissions: id-token: write`"
            .into(),
    ))
}

/// GitHub Actions' ambient token for audience `sigstore`: `GET <url>&audience=sigstore` with
/// the runner's bearer token answers `{"value": "<JWT>"}`.
async fn github_token(url: &str, bearer: &str) -> Result<String, Failure> {
    #[derive(serde::Deserialize)]
    struct Answer {
        value: String,
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{sep}audience={AUDIENCE}");
    let res = reqwest::Client::new()
        .get(&url)
        .bearer_auth(bearer)
        .send()
        .await
        .map_err(|e| Failure::Log(rekor::unreachable(&url, &e).to_string()))?;
    let answer: Answer = rekor::read_json(&url, res)
        .await
        .map_err(|e| Failure::Log(format!("GitHub Actions' ID token: {e}")))?;
    Ok(answer.value)
}

/// The value of the token's challenge claim (module doc, step 3).
fn challenge(token: &UnverifiedToken) -> Result<&str, Failure> {
    token
        .claim("email")
        .or_else(|| token.claim("sub"))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Failure::Input("the ID token has neither an email nor a sub claim to prove".into())
        })
}

/// The CA's URL: the first of `config.caUrls` of Fulcio API version 1 (its `/api/v2/` paths)
/// valid at `now` (Unix seconds).
fn ca_from_signing_config(config: &SigningConfig, now: i64) -> Option<&str> {
    let at = |t: &Option<String>| {
        t.as_deref().and_then(|t| {
            humantime::parse_rfc3339_weak(t)
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok())
        })
    };
    config
        .ca_urls
        .iter()
        .find(|s| {
            s.major_api_version == 1
                && at(&s.valid_for.start).is_none_or(|t| t <= now)
                && at(&s.valid_for.end).is_none_or(|t| now < t)
        })
        .map(|s| s.url.as_str())
}

/// Gets a certificate for a fresh key from the CA at `args.fulcio_url`, else the one `log`'s
/// signing config names.
///
/// # Errors
///
/// [`Failure::Input`] without a usable token, without a CA, or when the CA refuses the token,
/// [`Failure::Log`] when the log or CA cannot be reached or answers out of spec.
pub async fn certify(args: &KeylessArgs, log: &RekorClient) -> Result<Credential, Failure> {
    let token = id_token(args).await?;
    let parsed = UnverifiedToken::parse(&token)
        .map_err(|e| Failure::Input(format!("the identity token: {e}")))?;
    let ca_url = match &args.fulcio_url {
        Some(url) => url.clone(),
        None => {
            let config = log.signing_config().await.map_err(|e| {
                let m = format!(
                    "finding the certificate authority in the log's signing config: {e} \
                     (or give --fulcio-url)"
                );
                if e.is_log_failure() {
                    Failure::Log(m)
                } else {
                    Failure::Input(m)
                }
            })?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            ca_from_signing_config(&config, now)
                .ok_or_else(|| {
                    Failure::Input(format!(
                        "the signing config of {} lists no certificate authority (does the \
                         log run one? give --fulcio-url)",
                        log.url()
                    ))
                })?
                .to_owned()
        }
    };
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    let proof = key.sign(challenge(&parsed)?.as_bytes());
    let ca = RekorClient::new(&ca_url)?;
    let request = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": key.public_key_pem()},
            "proofOfPossession": B64.encode(proof),
        },
    });
    let pems = ca.signing_certificate(&request).await.map_err(|e| {
        let m = format!("the certificate authority: {e}");
        if e.is_log_failure() {
            Failure::Log(m)
        } else {
            Failure::Input(m)
        }
    })?;
    let out_of_spec = |m: String| Failure::Log(format!("the certificate authority's answer: {m}"));
    let mut chain = Vec::new();
    for pem in &pems {
        for (label, der) in pem_blocks(pem.as_bytes()).map_err(out_of_spec)? {
            if label != "CERTIFICATE" {
                return Err(out_of_spec(format!("a {label} block in the chain")));
            }
            chain.push(der);
        }
    }
    let ders: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let verifier = Verifier::from_certificate_ders(&ders).map_err(out_of_spec)?;
    // The certificate must be for the key just made, in a chain that holds together.
    if verifier.key().spki_der() != key.public_key_der() {
        return Err(out_of_spec("the certificate is for another key".into()));
    }
    verifier.verify_chain().map_err(out_of_spec)?;
    Ok(Credential { key, chain })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn token(claims: serde_json::Value) -> UnverifiedToken {
        let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        UnverifiedToken::parse(&format!(
            "{}.{}.c2ln",
            part(json!({"alg": "ES256"})),
            part(claims)
        ))
        .unwrap()
    }

    #[test]
    fn ca_from_the_signing_config() {
        let config: SigningConfig = serde_json::from_value(json!({
            "mediaType": arkivo_core::wire::SIGNING_CONFIG_MEDIA_TYPE,
            "caUrls": [
                {"url": "https://old", "majorApiVersion": 1,
                 "validFor": {"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}},
                {"url": "https://v2", "majorApiVersion": 2, "validFor": {"start": "2020-01-01T00:00:00Z"}},
                {"url": "https://ca", "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z"}},
            ],
        }))
        .unwrap();
        assert_eq!(
            ca_from_signing_config(&config, 1_700_000_000),
            Some("https://ca")
        );
        assert_eq!(
            ca_from_signing_config(&config, 1_590_000_000),
            Some("https://old")
        );
        assert_eq!(ca_from_signing_config(&config, 1_500_000_000), None);
    }

    #[test]
    fn challenge_is_email_else_sub() {
        let both = token(json!({"sub": "s", "email": "e@example.org"}));
        assert_eq!(challenge(&both).unwrap(), "e@example.org");
        assert_eq!(challenge(&token(json!({"sub": "s"}))).unwrap(), "s");
        assert!(challenge(&token(json!({"iss": "i"}))).is_err());
        assert!(challenge(&token(json!({"sub": ""}))).is_err());
    }
}
