//! Who a verified ID token names, as Fulcio puts it in a certificate (fulcio
//! `docs/certificate-specification.md`, `docs/oid-info.md`): the one subject alternative name of
//! the issuer's type, the challenge claim the proof of possession signs, and the extensions.

use serde::{Deserialize, Serialize};

use super::token::Claims;

/// How an issuer's tokens name their subject (Fulcio's `IssuerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuerType {
    Email,
    GithubWorkflow,
    GitlabPipeline,
    Kubernetes,
    Spiffe,
    Uri,
    Username,
}

impl IssuerType {
    /// The name in configuration and in `GET /api/v2/configuration`.
    pub fn name(self) -> &'static str {
        match self {
            IssuerType::Email => "email",
            IssuerType::GithubWorkflow => "github-workflow",
            IssuerType::GitlabPipeline => "gitlab-pipeline",
            IssuerType::Kubernetes => "kubernetes",
            IssuerType::Spiffe => "spiffe",
            IssuerType::Uri => "uri",
            IssuerType::Username => "username",
        }
    }

    /// The claim whose value the proof of possession signs: `email` for email issuers, `sub`
    /// for every other type.
    pub fn challenge_claim(self) -> &'static str {
        match self {
            IssuerType::Email => "email",
            _ => "sub",
        }
    }

    /// Whether the type needs a subject domain (`spiffe`: the trust domain; `uri`: the scheme
    /// and host subjects must be under; `username`: the domain appended to the name).
    pub fn needs_subject_domain(self) -> bool {
        matches!(
            self,
            IssuerType::Spiffe | IssuerType::Uri | IssuerType::Username
        )
    }
}

/// The certificate's one subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    /// An `rfc822Name`.
    Email(String),
    /// A `uniformResourceIdentifier`.
    Uri(String),
    /// An `otherName` of type `1.3.6.1.4.1.57264.1.7` holding `user!domain` (username issuers).
    Username(String),
}

/// Fulcio's certificate extensions, `1.3.6.1.4.1.57264.1.<arc>` (oid-info.md).
pub mod oid {
    /// Issuer (V1): the raw bytes of the issuer URL, deprecated but still emitted.
    pub const ISSUER_V1: u32 = 1;
    /// GitHub Workflow Trigger / SHA / Name / Repository / Ref (deprecated, raw bytes).
    pub const GITHUB_WORKFLOW_TRIGGER: u32 = 2;
    pub const GITHUB_WORKFLOW_SHA: u32 = 3;
    pub const GITHUB_WORKFLOW_NAME: u32 = 4;
    pub const GITHUB_WORKFLOW_REPOSITORY: u32 = 5;
    pub const GITHUB_WORKFLOW_REF: u32 = 6;
    /// The `otherName` type of a username SAN.
    pub const OTHER_NAME_SAN: u32 = 7;
    /// Issuer (V2) and the build claims, each a DER UTF8String.
    pub const ISSUER_V2: u32 = 8;
    pub const BUILD_SIGNER_URI: u32 = 9;
    pub const BUILD_SIGNER_DIGEST: u32 = 10;
    pub const RUNNER_ENVIRONMENT: u32 = 11;
    pub const SOURCE_REPOSITORY_URI: u32 = 12;
    pub const SOURCE_REPOSITORY_DIGEST: u32 = 13;
    pub const SOURCE_REPOSITORY_REF: u32 = 14;
    pub const SOURCE_REPOSITORY_IDENTIFIER: u32 = 15;
    pub const SOURCE_REPOSITORY_OWNER_URI: u32 = 16;
    pub const SOURCE_REPOSITORY_OWNER_IDENTIFIER: u32 = 17;
    pub const BUILD_CONFIG_URI: u32 = 18;
    pub const BUILD_CONFIG_DIGEST: u32 = 19;
    pub const BUILD_TRIGGER: u32 = 20;
    pub const RUN_INVOCATION_URI: u32 = 21;
    pub const SOURCE_REPOSITORY_VISIBILITY: u32 = 22;
}

/// One Fulcio extension's value: raw bytes (the deprecated `.1`–`.6`) or a DER UTF8String
/// (`.8` on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionValue {
    Raw(String),
    Utf8(String),
}

/// What a certificate says about its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub san: SubjectAltName,
    /// The challenge claim's value: what a proof of possession signs.
    pub challenge: String,
    /// `(arc under 1.3.6.1.4.1.57264.1, value)`, in arc order.
    pub extensions: Vec<(u32, ExtensionValue)>,
}

impl Identity {
    /// The identity a verified token of an issuer at `issuer_url`, of type `kind`, names.
    /// `subject_domain` is the issuer's configured domain (see
    /// [`IssuerType::needs_subject_domain`]).
    ///
    /// # Errors
    ///
    /// A message naming the missing or unacceptable claim.
    pub fn from_claims(
        kind: IssuerType,
        issuer_url: &str,
        subject_domain: Option<&str>,
        claims: &Claims,
    ) -> Result<Identity, String> {
        let need = |name: &str| {
            claims.text(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!(
                    "the token has no {name:?} claim, which a {} issuer's tokens need",
                    kind.name()
                )
            })
        };
        let challenge = need(kind.challenge_claim())?;
        let domain = || {
            subject_domain.ok_or_else(|| format!("a {} issuer needs a subject domain", kind.name()))
        };
        let mut ext = vec![
            (oid::ISSUER_V1, ExtensionValue::Raw(issuer_url.to_owned())),
            (oid::ISSUER_V2, ExtensionValue::Utf8(issuer_url.to_owned())),
        ];
        let mut utf8 = |arc: u32, value: Option<String>| {
            if let Some(v) = value {
                ext.push((arc, ExtensionValue::Utf8(v)));
            }
        };
        let san = match kind {
            IssuerType::Email => {
                // OpenID Connect Core §5.1: an address the issuer has not verified names nobody.
                if claims.flag("email_verified") != Some(true) {
                    return Err("the token's email is not verified (email_verified)".into());
                }
                SubjectAltName::Email(challenge.clone())
            }
            IssuerType::GithubWorkflow => {
                // Fulcio's github-workflow principal; the claims are GitHub's (docs.github.com,
                // "About security hardening with OpenID Connect").
                const GITHUB: &str = "https://github.com/";
                let t = |name: &str| claims.text(name);
                let prefixed = |name: &str| t(name).map(|v| format!("{GITHUB}{v}"));
                let signer = need("job_workflow_ref")?;
                utf8(oid::BUILD_SIGNER_URI, Some(format!("{GITHUB}{signer}")));
                utf8(oid::BUILD_SIGNER_DIGEST, t("job_workflow_sha"));
                utf8(oid::RUNNER_ENVIRONMENT, t("runner_environment"));
                utf8(oid::SOURCE_REPOSITORY_URI, prefixed("repository"));
                utf8(oid::SOURCE_REPOSITORY_DIGEST, t("sha"));
                utf8(oid::SOURCE_REPOSITORY_REF, t("ref"));
                utf8(oid::SOURCE_REPOSITORY_IDENTIFIER, t("repository_id"));
                utf8(
                    oid::SOURCE_REPOSITORY_OWNER_URI,
                    prefixed("repository_owner"),
                );
                utf8(
                    oid::SOURCE_REPOSITORY_OWNER_IDENTIFIER,
                    t("repository_owner_id"),
                );
                utf8(oid::BUILD_CONFIG_URI, prefixed("workflow_ref"));
                utf8(oid::BUILD_CONFIG_DIGEST, t("workflow_sha"));
                utf8(oid::BUILD_TRIGGER, t("event_name"));
                let run = match (t("repository"), t("run_id"), t("run_attempt")) {
                    (Some(repo), Some(id), Some(attempt)) => Some(format!(
                        "{GITHUB}{repo}/actions/runs/{id}/attempts/{attempt}"
                    )),
                    _ => None,
                };
                utf8(oid::RUN_INVOCATION_URI, run);
                utf8(
                    oid::SOURCE_REPOSITORY_VISIBILITY,
                    t("repository_visibility"),
                );
                let legacy = [
                    (oid::GITHUB_WORKFLOW_TRIGGER, "event_name"),
                    (oid::GITHUB_WORKFLOW_SHA, "sha"),
                    (oid::GITHUB_WORKFLOW_NAME, "workflow"),
                    (oid::GITHUB_WORKFLOW_REPOSITORY, "repository"),
                    (oid::GITHUB_WORKFLOW_REF, "ref"),
                ];
                for (arc, name) in legacy {
                    if let Some(v) = t(name) {
                        ext.push((arc, ExtensionValue::Raw(v)));
                    }
                }
                SubjectAltName::Uri(format!("{GITHUB}{signer}"))
            }
            IssuerType::GitlabPipeline => {
                // Fulcio's gitlabcom principal; the instance is the issuer's host.
                let t = |name: &str| claims.text(name);
                let base = issuer_url.trim_end_matches('/');
                let config = format!("https://{}", need("ci_config_ref_uri")?);
                utf8(oid::BUILD_SIGNER_URI, Some(config.clone()));
                utf8(oid::BUILD_SIGNER_DIGEST, t("ci_config_sha"));
                utf8(oid::RUNNER_ENVIRONMENT, t("runner_environment"));
                let project = t("project_path");
                utf8(
                    oid::SOURCE_REPOSITORY_URI,
                    project.as_ref().map(|p| format!("{base}/{p}")),
                );
                utf8(oid::SOURCE_REPOSITORY_DIGEST, t("sha"));
                let git_ref = match (t("ref_type").as_deref(), t("ref")) {
                    (Some("branch"), Some(r)) => Some(format!("refs/heads/{r}")),
                    (Some("tag"), Some(r)) => Some(format!("refs/tags/{r}")),
                    _ => None,
                };
                utf8(oid::SOURCE_REPOSITORY_REF, git_ref);
                utf8(oid::SOURCE_REPOSITORY_IDENTIFIER, t("project_id"));
                utf8(
                    oid::SOURCE_REPOSITORY_OWNER_URI,
                    t("namespace_path").map(|n| format!("{base}/{n}")),
                );
                utf8(oid::SOURCE_REPOSITORY_OWNER_IDENTIFIER, t("namespace_id"));
                utf8(oid::BUILD_CONFIG_URI, Some(config.clone()));
                utf8(oid::BUILD_CONFIG_DIGEST, t("ci_config_sha"));
                utf8(oid::BUILD_TRIGGER, t("pipeline_source"));
                let run = match (&project, t("job_id")) {
                    (Some(p), Some(job)) => Some(format!("{base}/{p}/-/jobs/{job}")),
                    _ => None,
                };
                utf8(oid::RUN_INVOCATION_URI, run);
                utf8(oid::SOURCE_REPOSITORY_VISIBILITY, t("project_visibility"));
                SubjectAltName::Uri(config)
            }
            IssuerType::Kubernetes => {
                let k8s = claims
                    .object("kubernetes.io")
                    .ok_or("the token has no \"kubernetes.io\" claim")?;
                let namespace = k8s.get("namespace").and_then(|v| v.as_str());
                let account = k8s
                    .get("serviceaccount")
                    .and_then(|v| v.get("name"))
                    .and_then(|v| v.as_str());
                let (Some(ns), Some(sa)) = (namespace, account) else {
                    return Err(
                        "the token's \"kubernetes.io\" claim names no namespace and service \
                         account"
                            .into(),
                    );
                };
                SubjectAltName::Uri(format!(
                    "https://kubernetes.io/namespaces/{ns}/serviceaccounts/{sa}"
                ))
            }
            IssuerType::Spiffe => {
                // A SPIFFE ID of the configured trust domain (SPIFFE-ID §2).
                let domain = domain()?;
                let prefix = format!("spiffe://{domain}/");
                if !challenge.starts_with(&prefix) || challenge.len() == prefix.len() {
                    return Err(format!(
                        "the token's subject is not a SPIFFE ID of trust domain {domain}"
                    ));
                }
                SubjectAltName::Uri(challenge.clone())
            }
            IssuerType::Uri => {
                let domain = domain()?.trim_end_matches('/');
                let under = challenge
                    .strip_prefix(domain)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
                if !under {
                    return Err(format!("the token's subject is not a URI under {domain}"));
                }
                SubjectAltName::Uri(challenge.clone())
            }
            IssuerType::Username => {
                if challenge.contains('!') {
                    return Err("the token's subject contains '!'".into());
                }
                SubjectAltName::Username(format!("{challenge}!{}", domain()?))
            }
        };
        ext.sort_by_key(|(arc, _)| *arc);
        Ok(Identity {
            san,
            challenge,
            extensions: ext,
        })
    }
}
