//! The image subcommands: `sign`, `verify`, `attest` and `verify-attestation`, with cosign's
//! flag names. Exit codes and `--output` as for every client command ([`super::commands`]).

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::{
    Failure, LogTrust, Output, Report, Signer, SignerFlags, entry_report, no_trust, read_predicate,
    sign_failure,
};
use crate::cosign;
use crate::image::{self, ImageError, Layout, Policy, Signed, Verified};
use crate::oci::{self, OciError, Registry, RegistryOptions};
use crate::rekor::RekorClient;
use crate::signing::Signing;

impl From<ImageError> for Failure {
    fn from(e: ImageError) -> Failure {
        match e {
            ImageError::Sign(e) => sign_failure(e, "nothing pushed to the registry"),
            ImageError::Registry(OciError::Registry { .. }) => Failure::Log(e.to_string()),
            ImageError::Registry(_) => Failure::Input(e.to_string()),
            ImageError::Layout { .. }
            | ImageError::NothingFound { .. }
            | ImageError::NothingVerified { .. } => Failure::Verification(e.to_string()),
        }
    }
}

/// How to reach the registry.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Registry user name [default: from the Docker config (docker login), else anonymous].
    #[arg(long, env = "ARKIVO_REGISTRY_USERNAME", requires = "registry_password")]
    pub registry_username: Option<String>,
    /// Registry password or token.
    #[arg(
        long,
        env = "ARKIVO_REGISTRY_PASSWORD",
        requires = "registry_username",
        hide_env_values = true
    )]
    pub registry_password: Option<String>,
    /// Allow plain HTTP to a registry off this machine (loopback registries always may).
    #[arg(long)]
    pub allow_insecure_registry: bool,
}

impl RegistryArgs {
    async fn connect(&self, image: &str) -> Result<(Registry, oci_client::Reference), Failure> {
        let reference = oci::parse_reference(image).map_err(|e| Failure::Input(e.to_string()))?;
        let options = RegistryOptions {
            username: self.registry_username.clone(),
            password: self.registry_password.clone(),
            allow_insecure: self.allow_insecure_registry,
        };
        let registry = Registry::connect(&reference, &options)
            .await
            .map_err(|e| Failure::Input(e.to_string()))?;
        Ok((registry, reference))
    }
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub signer: Signer,
    /// An annotation to sign with the image (key=value; repeatable).
    #[arg(short = 'a', long = "annotations")]
    pub annotations: Vec<String>,
    /// Store a Sigstore bundle as an OCI 1.1 referrer (cosign v3) instead of the
    /// sha256-<hex>.sig tag (cosign v2, Kyverno, the policy-controller).
    #[arg(long)]
    pub new_bundle_format: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The image: a tag (resolved to its digest, which is what gets signed) or a digest.
    pub image: String,
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    #[command(flatten)]
    pub signer: Signer,
    /// The predicate: a JSON file (SLSA provenance, an SBOM, a scan report, ...).
    #[arg(long)]
    pub predicate: PathBuf,
    /// Predicate type: slsaprovenance, slsaprovenance1, link, spdx, spdxjson, cyclonedx, vuln,
    /// openvex, custom, or a URI.
    #[arg(long = "type", default_value = "custom")]
    pub predicate_type: String,
    /// Store a Sigstore bundle as an OCI 1.1 referrer instead of the sha256-<hex>.att tag.
    #[arg(long)]
    pub new_bundle_format: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The image: a tag (resolved to its digest) or a digest.
    pub image: String,
}

/// What `verify` and `verify-attestation` share.
#[derive(Debug, Args)]
pub struct ImageVerifyCommon {
    #[command(flatten)]
    pub signer: SignerFlags,
    #[command(flatten)]
    pub trust: LogTrust,
    /// Also fetch legacy signatures' log entries and verify their inclusion proofs (the
    /// sha256-<hex>.sig layout carries only the SET; bundles are verified offline in full).
    #[arg(long = "rekor-url", env = "ARKIVO_REKOR_URL")]
    pub rekor_url: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// The image: a tag (resolved to its digest) or a digest.
    pub image: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An annotation the signature must carry (key=value; repeatable).
    #[arg(short = 'a', long = "annotations")]
    pub annotations: Vec<String>,
    #[command(flatten)]
    pub common: ImageVerifyCommon,
}

#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// Predicate type to verify (as `attest --type`).
    #[arg(long = "type", default_value = "custom")]
    pub predicate_type: String,
    #[command(flatten)]
    pub common: ImageVerifyCommon,
}

fn layout(new_bundle_format: bool) -> Layout {
    if new_bundle_format {
        Layout::Bundle
    } else {
        Layout::Legacy
    }
}

fn signed_report(what: &str, image: &str, rekor: &RekorClient, signed: &Signed) -> Report {
    let mut json = json!({
        "ok": true,
        "image": image,
        "digest": signed.digest,
        "storedAt": signed.stored_at,
    });
    let recorded = entry_report(rekor, &signed.entry, &mut json);
    Report {
        text: format!(
            "{what} {image} ({})\n{recorded}stored at {}\n",
            signed.digest, signed.stored_at
        ),
        json,
    }
}

pub async fn sign(args: &SignArgs) -> Result<Report, Failure> {
    let annotations = cosign::parse_annotations(&args.annotations).map_err(Failure::Input)?;
    let (credential, rekor, trusted) = args.signer.open_any().await?;
    let (registry, image) = args.registry.connect(&args.image).await?;
    let signing = Signing {
        credential: &credential,
        rekor: &rekor,
        log: trusted.log(),
    };
    let signed = image::sign(
        &registry,
        &image,
        &signing,
        &annotations,
        layout(args.new_bundle_format),
    )
    .await?;
    Ok(signed_report("signed", &args.image, &rekor, &signed))
}

pub async fn attest(args: &AttestArgs) -> Result<Report, Failure> {
    let predicate_type = cosign::predicate_type(&args.predicate_type).map_err(Failure::Input)?;
    let predicate = read_predicate(&args.predicate)?;
    let (credential, rekor, trusted) = args.signer.open_any().await?;
    let (registry, image) = args.registry.connect(&args.image).await?;
    let signing = Signing {
        credential: &credential,
        rekor: &rekor,
        log: trusted.log(),
    };
    let signed = image::attest(
        &registry,
        &image,
        &signing,
        predicate_type,
        predicate,
        layout(args.new_bundle_format),
    )
    .await?;
    Ok(signed_report("attested", &args.image, &rekor, &signed))
}

/// Runs a verification with the policy of `common`.
async fn with_policy<T>(
    common: &ImageVerifyCommon,
    check: impl AsyncFnOnce(&Registry, &oci_client::Reference, &Policy<'_>) -> Result<T, ImageError>,
) -> Result<T, Failure> {
    let logs = common.trust.load()?.ok_or_else(no_trust)?;
    let v2 = common.trust.rekor_v2()?;
    let signers = common.signer.load(&common.trust)?;
    let rekor = common
        .rekor_url
        .as_deref()
        .map(RekorClient::new)
        .transpose()?;
    let (registry, image) = common.registry.connect(&common.image).await?;
    let policy = Policy {
        signer: signers.policy(),
        logs: &logs,
        v2: v2.as_ref(),
        rekor: rekor.as_ref(),
    };
    Ok(check(&registry, &image, &policy).await?)
}

/// The checks each verified signature passed, in cosign's words.
fn checks_text(common: &ImageVerifyCommon, what: &str) -> String {
    let log_check = if common.rekor_url.is_some() {
        "verified offline (SET), and online for legacy signatures (inclusion proof)"
    } else {
        "verified offline (Rekor v1: SET, for bundles also the checkpoint and inclusion \
         proof; Rekor v2 bundles: the RFC 3161 timestamp, checkpoint and inclusion proof)"
    };
    format!(
        "Verification for {} --\nThe following checks were performed on each of these {what}s:\n  \
         - The cosign claims were validated\n  \
         - Existence of the claims in the transparency log was {log_check}\n  \
         - {}\n",
        common.image,
        match common.signer.key.is_some() {
            true => "The signatures were verified against the specified public key",
            false =>
                "The code-signing certificate was verified against the trusted root's CA, \
                      and its identity and issuer against the given ones",
        }
    )
}

fn verified_report(common: &ImageVerifyCommon, what: &str, verified: Vec<Verified>) -> Report {
    eprint!("{}", checks_text(common, what));
    let text = verified
        .iter()
        .map(|v| format!("verified {what}: {}\n{}\n", v.source, v.output))
        .collect();
    Report {
        text,
        json: Value::Array(verified.into_iter().map(|v| v.output).collect()),
    }
}

pub async fn verify(args: &VerifyArgs) -> Result<Report, Failure> {
    let annotations = cosign::parse_annotations(&args.annotations).map_err(Failure::Input)?;
    let verified = with_policy(&args.common, async |registry, image, policy| {
        image::verify(registry, image, policy, &annotations).await
    })
    .await?;
    Ok(verified_report(&args.common, "signature", verified))
}

pub async fn verify_attestation(args: &VerifyAttestationArgs) -> Result<Report, Failure> {
    let predicate_type = cosign::predicate_type(&args.predicate_type).map_err(Failure::Input)?;
    let verified = with_policy(&args.common, async |registry, image, policy| {
        image::verify_attestations(registry, image, policy, predicate_type).await
    })
    .await?;
    Ok(verified_report(&args.common, "attestation", verified))
}
