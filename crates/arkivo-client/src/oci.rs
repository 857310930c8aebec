//! Registry access for image signing: resolving a tag to its manifest digest, reading and writing
//! manifests and blobs, over `oci-client` (OCI distribution spec).
//!
//! What this module adds to the crate is policy, not protocol:
//!
//! - **Credentials**, first found wins: `--registry-username`/`--registry-password`; then the
//!   Docker client's `config.json` (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`):
//!   a `credHelpers` entry for the registry or a `credsStore` (run as
//!   `docker-credential-<name> get`), else its `auths` entry; else anonymous. `oci-client`
//!   answers the registry's challenge with them: HTTP basic, or a bearer token fetched from the
//!   challenge's realm (with the credentials when there are some).
//! - **Plain HTTP** only for a registry on the loopback interface (`localhost`, `127.0.0.0/8`,
//!   `[::1]`) or with `--allow-insecure-registry`; everything else is HTTPS.
//! - **Bounds** on what is read: manifests as large as distribution accepts, blobs as large as an
//!   SBOM attestation may reasonably be.
//! - **Errors** that say what to do: a refused login names the flags, a missing manifest is a
//!   value ([`Registry::manifest`] returns `None`), not an error.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageIndex,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// Largest manifest read: distribution's own limit on a manifest PUT (4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Largest blob read (a signature payload, a bundle, a DSSE envelope): attestations carry whole
/// SBOMs, which reach tens of MiB for large images; 128 MiB leaves room without letting a
/// registry make the client exhaust memory.
pub const MAX_BLOB_BYTES: usize = 128 << 20;

/// Manifest media types asked for when resolving an image: either kind of single image and
/// either kind of index (a multi-platform image is signed by its index digest).
const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// How to reach registries (the command-line flags).
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    pub username: Option<String>,
    pub password: Option<String>,
    /// Plain HTTP to registries off the loopback interface.
    pub allow_insecure: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{0:?} is not an image reference (expected e.g. registry.example/team/app:1.0)")]
    InvalidReference(String),
    #[error(
        "the registry {registry} refused access to {repository}: give credentials with \
         --registry-username/--registry-password or log in with `docker login {registry}`"
    )]
    Unauthorized {
        registry: String,
        repository: String,
    },
    #[error("{image} does not exist in the registry (no manifest for that tag or digest)")]
    NotFound { image: String },
    #[error("{what}: {source}{hint}")]
    Registry {
        what: String,
        source: OciDistributionError,
        hint: &'static str,
    },
    #[error("{what} is larger than {limit} bytes; refusing to read it")]
    TooLarge { what: String, limit: usize },
    #[error("{what} is not a valid manifest: {detail}")]
    Malformed { what: String, detail: String },
    #[error("reading Docker credentials from {path}: {detail}")]
    DockerConfig { path: PathBuf, detail: String },
}

/// A manifest as the registry stores it: its bytes, their digest and its media type.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Manifest {
    /// A manifest from its bytes: the media type from its `mediaType` member, or for manifests
    /// that omit it (allowed by the OCI image spec, and what umoci writes), OCI's index or
    /// manifest type by shape.
    ///
    /// # Errors
    ///
    /// [`OciError::Malformed`] for bytes that are not a JSON object.
    pub fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<Manifest, OciError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Shape {
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let shape: Shape = serde_json::from_slice(&bytes).map_err(|e| OciError::Malformed {
            what: what.to_owned(),
            detail: e.to_string(),
        })?;
        let media_type = shape.media_type.unwrap_or_else(|| {
            if shape.manifests.is_some() {
                OCI_IMAGE_INDEX_MEDIA_TYPE
            } else {
                OCI_IMAGE_MEDIA_TYPE
            }
            .to_owned()
        });
        Ok(Manifest {
            digest: sha256_digest(&bytes),
            media_type,
            bytes,
        })
    }

    /// Its descriptor (media type, digest, size), e.g. the `subject` of a referrer.
    pub fn descriptor(&self) -> OciDescriptor {
        OciDescriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as i64,
            ..OciDescriptor::default()
        }
    }
}

/// `sha256:<hex>` of `bytes`: the digest that names a blob or manifest.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Parses an image reference as Docker does (`docker.io/library/` for bare names, `:latest` when
/// neither tag nor digest is given).
///
/// # Errors
///
/// [`OciError::InvalidReference`].
pub fn parse_reference(image: &str) -> Result<Reference, OciError> {
    image
        .parse()
        .map_err(|_| OciError::InvalidReference(image.to_owned()))
}

/// Is plain HTTP allowed to `registry` (`host[:port]`) without `--allow-insecure-registry`?
/// Only on the loopback interface, where nobody else can read or change the traffic.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A client of the registry that holds one image.
pub struct Registry {
    client: oci_client::Client,
    auth: RegistryAuth,
    registry: String,
}

impl Registry {
    /// A client for the registry of `image`, with the credentials the options or the Docker
    /// config give (module doc).
    ///
    /// # Errors
    ///
    /// [`OciError::DockerConfig`] for an unreadable Docker config or a failing credential helper.
    pub async fn connect(
        image: &Reference,
        options: &RegistryOptions,
    ) -> Result<Registry, OciError> {
        let registry = image.resolve_registry().to_owned();
        let protocol = if options.allow_insecure || is_loopback_registry(&registry) {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = oci_client::Client::new(ClientConfig {
            protocol,
            // The platform resolver picks one image of an index; signing never does: an index
            // is signed by its own digest.
            platform_resolver: None,
            user_agent: concat!("arkivo/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        });
        let auth = match (&options.username, &options.password) {
            (Some(u), Some(p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            _ => docker_credentials(image.registry())?.unwrap_or(RegistryAuth::Anonymous),
        };
        client.store_auth_if_needed(&registry, &auth).await;
        Ok(Registry {
            client,
            auth,
            registry,
        })
    }

    fn error(&self, image: &Reference, what: String, e: OciDistributionError) -> OciError {
        if is_refusal(&e) {
            return OciError::Unauthorized {
                registry: self.registry.clone(),
                repository: image.repository().to_owned(),
            };
        }
        match e {
            OciDistributionError::RequestError(_) => OciError::Registry {
                what,
                source: e,
                hint: "; check the registry address (a registry that speaks plain HTTP \
                       off this machine needs --allow-insecure-registry)",
            },
            _ => OciError::Registry {
                what,
                source: e,
                hint: "",
            },
        }
    }

    /// The manifest `image` names (by tag or digest), or `None` when there is none.
    ///
    /// # Errors
    ///
    /// [`OciError`] for anything but a missing manifest.
    pub async fn manifest(&self, image: &Reference) -> Result<Option<Manifest>, OciError> {
        let what = format!("reading the manifest of {image}");
        match self
            .client
            .pull_manifest_raw(image, &self.auth, &MANIFEST_MEDIA_TYPES)
            .await
        {
            Ok((bytes, digest)) => {
                if bytes.len() > MAX_MANIFEST_BYTES {
                    return Err(OciError::TooLarge {
                        what: format!("the manifest of {image}"),
                        limit: MAX_MANIFEST_BYTES,
                    });
                }
                let manifest = Manifest::from_bytes(bytes.to_vec(), &what)?;
                // oci-client checked the bytes against the registry's Docker-Content-Digest and
                // against a digest in the reference; this only guards our own hashing.
                debug_assert_eq!(manifest.digest, digest);
                Ok(Some(manifest))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error(image, what, e)),
        }
    }

    /// The manifest `image` names; its digest is what gets signed.
    ///
    /// # Errors
    ///
    /// [`OciError::NotFound`] when there is none, else as [`Registry::manifest`].
    pub async fn resolve(&self, image: &Reference) -> Result<Manifest, OciError> {
        self.manifest(image)
            .await?
            .ok_or_else(|| OciError::NotFound {
                image: image.whole(),
            })
    }

    /// Writes a manifest under `target` (a tag, or its own digest) in `target`'s repository.
    ///
    /// # Errors
    ///
    /// [`OciError`] when the registry refuses it.
    pub async fn put_manifest(
        &self,
        target: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<(), OciError> {
        let what = format!("writing the manifest {target}");
        self.authorize_push(target).await?;
        let content_type = media_type.parse().map_err(|_| OciError::Malformed {
            what: what.clone(),
            detail: format!("media type {media_type:?}"),
        })?;
        self.client
            .push_manifest_raw(target, bytes, content_type)
            .await
            .map(drop)
            .map_err(|e| self.error(target, what, e))
    }

    /// Reads the blob `descriptor` names from `repository`'s repository, checking its digest
    /// (oci-client) and bounding its size.
    ///
    /// # Errors
    ///
    /// [`OciError::TooLarge`], or [`OciError`] when the registry fails.
    pub async fn blob(
        &self,
        repository: &Reference,
        descriptor: &OciDescriptor,
    ) -> Result<Vec<u8>, OciError> {
        let what = format!("reading the blob {}", descriptor.digest);
        let too_large = || OciError::TooLarge {
            what: format!("the blob {}", descriptor.digest),
            limit: MAX_BLOB_BYTES,
        };
        if usize::try_from(descriptor.size).map_or(true, |s| s > MAX_BLOB_BYTES) {
            return Err(too_large());
        }
        let mut stream = self
            .client
            .pull_blob_stream(repository, descriptor)
            .await
            .map_err(|e| self.error(repository, what.clone(), e))?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.error(repository, what.clone(), e.into()))?;
            if out.len() + chunk.len() > MAX_BLOB_BYTES {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Uploads `bytes` as a blob of `repository`'s repository unless it is there already;
    /// returns its descriptor with `media_type`.
    ///
    /// # Errors
    ///
    /// [`OciError`] when the registry refuses it.
    pub async fn put_blob(
        &self,
        repository: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<OciDescriptor, OciError> {
        let digest = sha256_digest(&bytes);
        let what = format!("uploading the blob {digest}");
        self.authorize_push(repository).await?;
        let descriptor = OciDescriptor {
            media_type: media_type.to_owned(),
            digest: digest.clone(),
            size: bytes.len() as i64,
            ..OciDescriptor::default()
        };
        let exists = self
            .client
            .blob_exists(repository, &digest)
            .await
            .map_err(|e| self.error(repository, what.clone(), e))?;
        if !exists {
            self.client
                .push_blob(repository, bytes, &digest)
                .await
                .map_err(|e| self.error(repository, what, e))?;
        }
        Ok(descriptor)
    }

    /// The referrers of `subject` (a reference by digest) with `artifact_type`: the OCI 1.1
    /// referrers API, or the referrers tag schema (`sha256-<hex>`) on registries without it
    /// (oci-client falls back on a 404, as the distribution spec says).
    ///
    /// # Errors
    ///
    /// [`OciError`] when the registry fails.
    pub async fn referrers(
        &self,
        subject: &Reference,
        artifact_type: &str,
    ) -> Result<OciImageIndex, OciError> {
        self.client
            .pull_referrers(subject, Some(artifact_type))
            .await
            .map_err(|e| self.error(subject, format!("listing the referrers of {subject}"), e))
    }

    /// Pushing needs a token with push scope where the registry uses bearer tokens; with
    /// basic auth or none this is a no-op.
    async fn authorize_push(&self, image: &Reference) -> Result<(), OciError> {
        self.client
            .auth(image, &self.auth, RegistryOperation::Push)
            .await
            .map(drop)
            .map_err(|e| self.error(image, format!("authorizing a push to {image}"), e))
    }
}

/// Did the registry (or its token service) refuse the credentials or the operation? Pulls
/// report 401 as such; pushes as a server error with the status, or an error envelope.
fn is_refusal(e: &OciDistributionError) -> bool {
    use oci_client::errors::OciErrorCode;
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::ServerError { code, .. } => matches!(code, 401 | 403),
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
        _ => false,
    }
}

/// Did the registry say there is no such manifest or repository?
fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                oci_client::errors::OciErrorCode::ManifestUnknown
                    | oci_client::errors::OciErrorCode::NameUnknown
            )
        }),
        _ => false,
    }
}

/// The parts of the Docker client's `config.json` that hold credentials.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DockerAuth {
    /// base64 of `username:password` (what `docker login` writes).
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// What a credential helper prints for `get` (docker-credential-helpers' protocol).
#[derive(Deserialize)]
struct HelperCredentials {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The Docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker/config.json")),
    }
}

/// The host part of an `auths` key: `docker login` writes `host[:port]`, older clients and
/// Docker Hub use URLs such as `https://index.docker.io/v1/`.
fn auths_key_host(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// The names under which `registry` (as written in the image reference) may appear in a Docker
/// config: Docker Hub has several.
fn registry_aliases(registry: &str) -> Vec<&str> {
    const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    if DOCKER_HUB.contains(&registry) {
        DOCKER_HUB.to_vec()
    } else {
        vec![registry]
    }
}

/// Credentials for `registry` from the Docker config, if it has some (module doc).
fn docker_credentials(registry: &str) -> Result<Option<RegistryAuth>, OciError> {
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(OciError::DockerConfig {
                path,
                detail: e.to_string(),
            });
        }
    };
    let config: DockerConfig =
        serde_json::from_slice(&text).map_err(|e| OciError::DockerConfig {
            path: path.clone(),
            detail: e.to_string(),
        })?;
    credentials_from_config(&config, registry, &path)
}

fn credentials_from_config(
    config: &DockerConfig,
    registry: &str,
    path: &Path,
) -> Result<Option<RegistryAuth>, OciError> {
    let aliases = registry_aliases(registry);
    let bad = |detail: String| OciError::DockerConfig {
        path: path.to_owned(),
        detail,
    };
    let helper = aliases
        .iter()
        .find_map(|a| config.cred_helpers.get(*a))
        .or(config.creds_store.as_ref());
    if let Some(helper) = helper {
        return credential_helper(helper, registry).map_err(bad);
    }
    let Some(entry) = config
        .auths
        .iter()
        .find(|(k, _)| aliases.contains(&auths_key_host(k)))
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(RegistryAuth::Basic(u.clone(), p.clone())));
    }
    let Some(auth) = &entry.auth else {
        return Ok(None);
    };
    let decoded = B64
        .decode(auth)
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| {
            bad(format!(
                "the auth of {registry} is not base64 of user:password"
            ))
        })?;
    let (user, password) = decoded.split_once(':').ok_or_else(|| {
        bad(format!(
            "the auth of {registry} is not base64 of user:password"
        ))
    })?;
    Ok(Some(RegistryAuth::Basic(
        user.to_owned(),
        password.to_owned(),
    )))
}

/// Runs `docker-credential-<helper> get` with the registry on stdin. A helper that knows no
/// credentials for it (non-zero exit, "credentials not found") means anonymous access.
fn credential_helper(helper: &str, registry: &str) -> Result<Option<RegistryAuth>, String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running the credential helper {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .map_err(|e| format!("writing to {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running {program}: {e}"))?;
    if !out.status.success() {
        return Ok(None);
    }
    let creds: HelperCredentials = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{program} printed something else than credentials: {e}"))?;
    // "<token>" is how helpers hand out an identity (refresh) token, which the registry's
    // OAuth2 exchange would need; basic credentials are what oci-client can send.
    if creds.username == "<token>" {
        return Err(format!(
            "{program} gave an identity token for {registry}; use --registry-username/--registry-password"
        ));
    }
    Ok(Some(RegistryAuth::Basic(creds.username, creds.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        for r in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "LOCALHOST",
        ] {
            assert!(is_loopback_registry(r), "{r}");
        }
        for r in [
            "registry.example:5000",
            "10.0.0.1:5000",
            "localhost.example",
            "[::2]:5000",
        ] {
            assert!(!is_loopback_registry(r), "{r}");
        }
    }

    #[test]
    fn manifest_media_type_from_member_or_shape() {
        let m = Manifest::from_bytes(br#"{"schemaVersion":2,"layers":[]}"#.to_vec(), "t").unwrap();
        assert_eq!(m.media_type, OCI_IMAGE_MEDIA_TYPE);
        let i =
            Manifest::from_bytes(br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(), "t").unwrap();
        assert_eq!(i.media_type, OCI_IMAGE_INDEX_MEDIA_TYPE);
        let d = Manifest::from_bytes(
            format!(r#"{{"schemaVersion":2,"mediaType":"{IMAGE_MANIFEST_MEDIA_TYPE}"}}"#).into(),
            "t",
        )
        .unwrap();
        assert_eq!(d.media_type, IMAGE_MANIFEST_MEDIA_TYPE);
        assert_eq!(d.descriptor().size, d.bytes.len() as i64);
        assert!(Manifest::from_bytes(b"[]".to_vec(), "t").is_err());
    }

    fn config(json: &str) -> DockerConfig {
        serde_json::from_str(json).unwrap()
    }

    fn creds(c: &DockerConfig, registry: &str) -> Option<RegistryAuth> {
        credentials_from_config(c, registry, Path::new("config.json")).unwrap()
    }

    #[test]
    fn docker_config_auths() {
        let c = config(&format!(
            r#"{{"auths": {{
                "127.0.0.1:5000": {{"auth": "{}"}},
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "http://plain.example:80/v2/": {{"username": "u", "password": "p:q"}}
            }}}}"#,
            B64.encode("alice:s3:cret"),
            B64.encode("hub:pw")
        ));
        let basic = |u: &str, p: &str| Some(RegistryAuth::Basic(u.into(), p.into()));
        assert_eq!(creds(&c, "127.0.0.1:5000"), basic("alice", "s3:cret"));
        assert_eq!(creds(&c, "docker.io"), basic("hub", "pw"));
        assert_eq!(creds(&c, "plain.example:80"), basic("u", "p:q"));
        assert_eq!(creds(&c, "127.0.0.1:5001"), None);
        let broken = config(r#"{"auths": {"r.example": {"auth": "not base64!"}}}"#);
        assert!(credentials_from_config(&broken, "r.example", Path::new("c")).is_err());
    }
}
