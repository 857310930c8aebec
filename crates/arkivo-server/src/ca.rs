//! The certificate authority's I/O (docs/keyless.md): its keys on disk, and the OIDC issuers'
//! keys fetched over HTTP (OpenID Connect Discovery §4, then the JWKS), cached and refreshed.
//! What a token and a certificate are is `arkivo_core::ca`'s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use arkivo_core::ca::cert::{CaKeys, IssuingCa};
use arkivo_core::ca::identity::Identity;
use arkivo_core::ca::token::{Jwks, TokenError, UnverifiedToken};
use arkivo_core::limits::MAX_OIDC_DOCUMENT_BYTES;
use serde::Deserialize;

use crate::config::{CaConfig, OidcIssuer, check_issuer_url};
use crate::ct::CtLog;

/// Longest a fetch from an issuer (discovery, then JWKS) may take; a request waiting for it
/// gets 503 after this.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Least time between two fetches of an issuer's keys: a token naming an unknown key ID makes
/// the CA refetch at most this often, so unknown key IDs cannot make it hammer the issuer.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// How long fetched keys are used before they are fetched again (for keys an issuer withdrew).
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Why a certificate was not issued.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The token is not acceptable (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The issuer's keys could not be fetched (503).
    #[error("{0}")]
    Unavailable(String),
}

/// One trusted issuer and its cached keys.
struct Issuer {
    config: OidcIssuer,
    keys: tokio::sync::Mutex<CachedKeys>,
}

#[derive(Default)]
struct CachedKeys {
    jwks: Option<Arc<Jwks>>,
    fetched: Option<Instant>,
}

/// The CA: its issuing key and chain, its CT log, and the issuers it trusts.
pub struct CertificateAuthority {
    pub signer: IssuingCa,
    pub ct: CtLog,
    issuers: Vec<Issuer>,
    http: reqwest::Client,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl CertificateAuthority {
    pub fn new(signer: IssuingCa, ct: CtLog, issuers: &[OidcIssuer]) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // A redirect could lead a fetch to plain HTTP elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("making the OIDC HTTP client")?;
        Ok(CertificateAuthority {
            signer,
            ct,
            issuers: issuers
                .iter()
                .map(|config| Issuer {
                    config: config.clone(),
                    keys: tokio::sync::Mutex::new(CachedKeys::default()),
                })
                .collect(),
            http,
        })
    }

    /// The issuers trusted, as configured.
    pub fn issuers(&self) -> impl Iterator<Item = &OidcIssuer> {
        self.issuers.iter().map(|i| &i.config)
    }

    /// Verifies an ID token against its issuer's keys and returns the identity it names.
    ///
    /// # Errors
    ///
    /// [`CaError::Unauthenticated`] for any token that is not acceptable (malformed, unknown
    /// issuer, bad signature, wrong audience, expired, missing claims);
    /// [`CaError::Unavailable`] when the issuer's keys cannot be fetched.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, CaError> {
        let unauthenticated = |e: TokenError| CaError::Unauthenticated(e.to_string());
        let token = UnverifiedToken::parse(token).map_err(unauthenticated)?;
        let issuer = token
            .issuer()
            .and_then(|iss| self.issuers.iter().find(|i| i.config.url == iss))
            .ok_or_else(|| {
                CaError::Unauthenticated(format!(
                    "the ID token's issuer {:.200?} is not one this CA trusts",
                    token.issuer().unwrap_or("(none)")
                ))
            })?;
        let jwks = issuer.keys(&self.http, token.kid()).await?;
        let now = crate::log::unix_now();
        let claims = token
            .verify(&jwks, &issuer.config.url, &issuer.config.client_id, now)
            .map_err(unauthenticated)?;
        Identity::from_claims(
            issuer.config.issuer_type,
            &issuer.config.url,
            issuer.config.subject_domain.as_deref(),
            &claims,
        )
        .map_err(CaError::Unauthenticated)
    }
}

impl Issuer {
    /// The issuer's keys: cached ones while fresh and holding `kid`, else fetched (at most once
    /// per [`MIN_REFRESH_INTERVAL`]; concurrent callers wait for one fetch).
    async fn keys(&self, http: &reqwest::Client, kid: Option<&str>) -> Result<Arc<Jwks>, CaError> {
        let mut cached = self.keys.lock().await;
        let age = cached.fetched.map(|t| t.elapsed());
        if let Some(jwks) = &cached.jwks {
            let fresh = age.is_some_and(|a| a < KEYS_MAX_AGE);
            let knows = kid.is_none_or(|k| jwks.has_key(k));
            let may_refresh = age.is_none_or(|a| a >= MIN_REFRESH_INTERVAL);
            if (fresh && knows) || !may_refresh {
                return Ok(jwks.clone());
            }
        } else if age.is_some_and(|a| a < MIN_REFRESH_INTERVAL) {
            return Err(CaError::Unavailable(format!(
                "the keys of OIDC issuer {} could not be fetched; retry in a few seconds",
                self.config.url
            )));
        }
        cached.fetched = Some(Instant::now());
        match self.fetch(http).await {
            Ok(jwks) => {
                let jwks = Arc::new(jwks);
                cached.jwks = Some(jwks.clone());
                Ok(jwks)
            }
            // Keys fetched before still verify the tokens they verified.
            Err(e) => match &cached.jwks {
                Some(jwks) => {
                    tracing::warn!(issuer = %self.config.url, error = %e, "refreshing OIDC keys");
                    Ok(jwks.clone())
                }
                None => Err(CaError::Unavailable(e)),
            },
        }
    }

    /// Discovery, then the JWKS it names.
    async fn fetch(&self, http: &reqwest::Client) -> Result<Jwks, String> {
        let url = &self.config.url;
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            url.trim_end_matches('/')
        );
        let discovery: Discovery = serde_json::from_slice(&get(http, &discovery_url).await?)
            .map_err(|e| format!("the OIDC discovery document of {url}: {e}"))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if discovery.issuer != *url {
            return Err(format!(
                "the OIDC discovery document of {url} names issuer {:.200?}",
                discovery.issuer
            ));
        }
        check_issuer_url(&discovery.jwks_uri).map_err(|e| format!("{url}'s jwks_uri: {e:#}"))?;
        Jwks::parse(&get(http, &discovery.jwks_uri).await?)
            .map_err(|e| format!("the keys of OIDC issuer {url}: {e}"))
    }
}

/// GETs a bounded document.
async fn get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("fetching {url}: {e}");
    let mut res = http.get(url).send().await.map_err(|e| failed(&e))?;
    if !res.status().is_success() {
        return Err(failed(&res.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| failed(&e))? {
        if body.len() + chunk.len() > MAX_OIDC_DOCUMENT_BYTES {
            return Err(failed(&format!(
                "larger than {MAX_OIDC_DOCUMENT_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The CA's files made in the data directory on first start: the root's key, the
/// intermediate's (issuing) key, and the chain.
pub fn default_files(data_dir: &Path) -> [PathBuf; 3] {
    [
        data_dir.join("keys").join("ca-root-p256.pem"),
        data_dir.join("keys").join("ca-intermediate-p256.pem"),
        data_dir.join("ca-chain.pem"),
    ]
}

/// Where the CA's files are: the configured ones, or the defaults in the data directory.
fn ca_files(config: &CaConfig, data_dir: &Path) -> (PathBuf, PathBuf, bool) {
    match (&config.key_file, &config.chain_file) {
        (Some(key), Some(chain)) => (key.clone(), chain.clone(), false),
        _ => {
            let [_, key, chain] = default_files(data_dir);
            (key, chain, true)
        }
    }
}

/// The issuing CA: from the configured key and chain, or from the data directory, where a root
/// and an intermediate named after `organization` are made on first start (keys mode 0600).
pub fn open_signer(
    config: &CaConfig,
    data_dir: &Path,
    organization: &str,
) -> anyhow::Result<IssuingCa> {
    let (key_path, chain_path, default) = ca_files(config, data_dir);
    if default && !key_path.exists() && !chain_path.exists() {
        let keys = CaKeys::generate(organization, SystemTime::now())
            .map_err(|e| anyhow::anyhow!("making the CA: {e}"))?;
        // The chain last: a crash before it leaves keys without a chain, refused below
        // rather than silently replaced.
        let [root_key_path, ..] = default_files(data_dir);
        crate::keyfile::write_private_key(&root_key_path, keys.root_key_pem.as_bytes())?;
        crate::keyfile::write_private_key(&key_path, keys.intermediate_key_pem.as_bytes())?;
        arkivo_core::durable::replace(&chain_path, keys.chain_pem.as_bytes(), 0o644)
            .with_context(|| format!("writing {}", chain_path.display()))?;
        crate::logging::notice!(
            "made the CA: a root and an intermediate ({})",
            chain_path.display()
        );
    }
    let key = crate::keyfile::read_private_key(&key_path)?;
    let chain = std::fs::read_to_string(&chain_path)
        .with_context(|| format!("reading {}", chain_path.display()))?;
    IssuingCa::from_pem(&key, &chain).map_err(|e| {
        anyhow::anyhow!(
            "the CA key {} and chain {}: {e}",
            key_path.display(),
            chain_path.display()
        )
    })
}
