//! Signing, attesting and verifying container images against a Rekor v1 or v2 log, stored in
//! the registry as cosign stores them (`docs/cosign-oci-storage.md`).
//!
//! - [`sign`]: resolve the image to its manifest digest (a tag is never signed; an index is
//!   signed by its own digest), then either the legacy layout (§2: a simple-signing payload, a
//!   `hashedrekord` entry, one layer of the `sha256-<hex>.sig` image carrying the signature and
//!   the Rekor bundle annotation) or the bundle format (§4: an in-toto statement of predicate
//!   type `https://sigstore.dev/cosign/sign/v1` in DSSE, a `dsse` entry, a Sigstore bundle v0.3
//!   in a referrer manifest, listed in the `sha256-<hex>` referrers index).
//! - [`attest`]: the same with the user's statement; the legacy layout is `sha256-<hex>.att` (§3).
//!
//!   Both push nothing before the log's answer is checked ([`verify::verify_answer`]): the entry
//!   recorded is the signature or envelope sent, and its SET, checkpoint and inclusion proof
//!   verify with the trusted logs. Through a Rekor v2 log ([`SigningLog::V2`]) only the bundle
//!   format: the envelope timestamped and recorded as cosign v3 does ([`signing::attest`]), the
//!   bundle carrying the v2 entry and the timestamp.
//! - [`verify`] / [`verify_attestations`]: read both layouts and keep what verifies: the
//!   signature with the given key, the log entry against the trusted logs (SET; for bundles also
//!   the checkpoint and inclusion proof; for legacy signatures too when a log URL is given; for
//!   Rekor v2 bundles the RFC 3161 timestamp, checkpoint and inclusion proof), the
//!   entry's body against the signature, and the payload against the image digest and the
//!   required annotations or predicate type.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use oci_client::Reference;
use oci_client::manifest::{OciDescriptor, OciImageIndex, OciImageManifest};
use serde_json::Value;

use super::bundle::{BUNDLE_V03_MEDIA_TYPE, Bundle};
use super::cosign::{self, SimpleSigning, Statement};
use super::dsse;
use super::fulcio::Credential;
use super::identity::SignerPolicy;
use super::oci::{Manifest, OciError, Registry};
use super::rekor::{ClientError, LogEntry, RekorBundle, RekorClient};
use super::signing::{self, SignError, SignedEntry, Signing, SigningLog};
use super::trust::{RekorV2Trust, TrustedLog};
use super::verify::{self, AnswerError, VerifyError};
use arkivo_core::entries::hashedrekord;
use arkivo_core::entries::pki::{PublicKey, pem_blocks};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Registry(#[from] OciError),
    #[error("{0}; nothing pushed to the registry")]
    Sign(#[from] SignError),
    #[error("{what} in the registry is not what cosign writes: {detail}")]
    Layout { what: String, detail: String },
    #[error(
        "no {what} found for {image} ({digest}): looked in the tag {tag} and in the referrers{hint}"
    )]
    NothingFound {
        what: String,
        image: String,
        digest: String,
        tag: String,
        hint: &'static str,
    },
    #[error("no {what} of {image} ({digest}) verifies:\n{}", .reasons.join("\n"))]
    NothingVerified {
        what: String,
        image: String,
        digest: String,
        reasons: Vec<String>,
    },
}

/// How a signature or attestation is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `sha256-<hex>.sig` / `.att` tags (cosign v2, Kyverno, the policy-controller).
    Legacy,
    /// A Sigstore bundle in an OCI 1.1 referrer (cosign v3's default, `--new-bundle-format`).
    Bundle,
}

/// What signing or attesting did.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The manifest digest that was signed.
    pub digest: String,
    /// The log entry that records it.
    pub entry: SignedEntry,
    /// Where it is stored: the tag (legacy) or the referrer manifest (bundle).
    pub stored_at: String,
}

/// A signature or attestation that verified.
#[derive(Clone, Debug)]
pub struct Verified {
    /// Where it was found (tag and layer, or referrer manifest).
    pub source: String,
    /// cosign's output for it: for a signature, the simple-signing payload with the Rekor bundle
    /// as `optional.Bundle`; for an attestation, the statement.
    pub output: Value,
}

/// What is signed: the manifest an image reference names, and a reference to it by digest in
/// the same repository.
struct Subject {
    manifest: Manifest,
    by_digest: Reference,
}

impl Subject {
    fn digest(&self) -> &str {
        &self.manifest.digest
    }
}

async fn resolve(registry: &Registry, image: &Reference) -> Result<Subject, ImageError> {
    let manifest = registry.resolve(image).await?;
    let by_digest = Reference::with_digest(
        image.registry().to_owned(),
        image.repository().to_owned(),
        manifest.digest.clone(),
    );
    Ok(Subject {
        manifest,
        by_digest,
    })
}

/// `registry/repository`: cosign's docker-reference and statement subject name.
fn repository_name(image: &Reference) -> String {
    format!("{}/{}", image.registry(), image.repository())
}

fn tag_ref(image: &Reference, tag: String) -> Reference {
    Reference::with_tag(
        image.registry().to_owned(),
        image.repository().to_owned(),
        tag,
    )
}

fn layout_error(what: impl Into<String>, detail: impl ToString) -> ImageError {
    ImageError::Layout {
        what: what.into(),
        detail: detail.to_string(),
    }
}

/// Signs `image` as `signing.credential`, records the signature in the log, checks the log's
/// answer, and attaches it in `layout`.
///
/// # Errors
///
/// [`ImageError`]: the image cannot be resolved, the log refuses the entry or answers with one
/// that does not verify, or the registry refuses the signature.
pub async fn sign(
    registry: &Registry,
    image: &Reference,
    signing: &Signing<'_>,
    annotations: &BTreeMap<String, String>,
    layout: Layout,
) -> Result<Signed, ImageError> {
    check_layout(layout, signing.log)?;
    let subject = resolve(registry, image).await?;
    match (layout, signing.log) {
        (Layout::Legacy, SigningLog::V1(logs)) => {
            let payload =
                SimpleSigning::new(&repository_name(image), subject.digest(), annotations)
                    .to_bytes();
            let credential = signing.credential;
            let algorithm = credential.key.algorithm().hash_algorithm();
            let signature = credential.key.sign(&payload);
            let digest = algorithm.hash(&payload);
            let entry = signing
                .rekor
                .create_hashedrekord(algorithm, &digest, &signature, &credential.verifier_pem())
                .await?;
            let signer = signing.public_key()?;
            verify::verify_answer(&entry, logs, |body| {
                verify::verify_hashedrekord(body, algorithm, &digest, &signature, &signer)
            })?;
            let stored_at = attach_legacy(
                registry,
                &subject,
                cosign::SIGNATURE_SUFFIX,
                payload,
                cosign::SIMPLE_SIGNING_MEDIA_TYPE,
                log_annotations(&entry, B64.encode(&signature), credential),
            )
            .await?;
            Ok(Signed {
                digest: subject.manifest.digest,
                entry: SignedEntry::V1(entry),
                stored_at,
            })
        }
        _ => {
            let statement = Statement::new(
                "",
                subject.digest(),
                annotations,
                cosign::COSIGN_SIGN_PREDICATE_TYPE,
                Value::Object(serde_json::Map::new()),
            );
            sign_statement(registry, &subject, signing, &statement, layout).await
        }
    }
}

/// Attests `predicate` of `predicate_type` about `image`: an in-toto statement in DSSE,
/// recorded as a `dsse` entry and attached in `layout`.
///
/// # Errors
///
/// As [`sign`].
pub async fn attest(
    registry: &Registry,
    image: &Reference,
    signing: &Signing<'_>,
    predicate_type: &str,
    predicate: Value,
    layout: Layout,
) -> Result<Signed, ImageError> {
    check_layout(layout, signing.log)?;
    let subject = resolve(registry, image).await?;
    let statement = Statement::new(
        &repository_name(image),
        subject.digest(),
        &BTreeMap::new(),
        predicate_type,
        predicate,
    );
    sign_statement(registry, &subject, signing, &statement, layout).await
}

impl From<ClientError> for ImageError {
    fn from(e: ClientError) -> ImageError {
        ImageError::Sign(e.into())
    }
}

impl From<AnswerError> for ImageError {
    fn from(e: AnswerError) -> ImageError {
        ImageError::Sign(e.into())
    }
}

/// A Rekor v2 entry is stored in the bundle format only.
fn check_layout(layout: Layout, log: SigningLog<'_>) -> Result<(), ImageError> {
    match (layout, log) {
        (Layout::Legacy, SigningLog::V2 { .. }) => Err(SignError::Unsupported(
            "the legacy layout (sha256-<hex>.sig and .att tags) carries a Rekor v1 entry's SET, \
             which a Rekor v2 entry does not have: use --new-bundle-format (as cosign v3 does)"
                .into(),
        )
        .into()),
        _ => Ok(()),
    }
}

/// The annotations that tie a legacy layer to its log entry (§2): the signature (empty for
/// attestations, whose signature is inside the envelope), cosign's Rekor bundle, and a keyless
/// signer's certificate and chain.
fn log_annotations(
    entry: &LogEntry,
    signature: String,
    signer: &Credential,
) -> BTreeMap<String, String> {
    let mut annotations = signer.certificate_annotations();
    annotations.extend([
        (cosign::SIGNATURE_ANNOTATION.to_owned(), signature),
        (
            cosign::BUNDLE_ANNOTATION.to_owned(),
            serde_json::to_string(&entry.rekor_bundle()).expect("a bundle serializes"),
        ),
    ]);
    annotations
}

async fn sign_statement(
    registry: &Registry,
    subject: &Subject,
    signing: &Signing<'_>,
    statement: &Statement,
    layout: Layout,
) -> Result<Signed, ImageError> {
    let attestation = signing::attest(signing, statement).await?;
    let credential = signing.credential;
    let stored_at = match (layout, &attestation.entry) {
        (Layout::Legacy, SignedEntry::V1(entry)) => {
            let mut annotations = log_annotations(entry, String::new(), credential);
            annotations.insert(
                cosign::PREDICATE_TYPE_ANNOTATION.to_owned(),
                statement.predicate_type.clone(),
            );
            attach_legacy(
                registry,
                subject,
                cosign::ATTESTATION_SUFFIX,
                dsse::to_json(&attestation.envelope).into_bytes(),
                cosign::DSSE_ENVELOPE_MEDIA_TYPE,
                annotations,
            )
            .await?
        }
        // The bundle format (a v2 entry is never in the legacy layout: [`check_layout`]).
        _ => {
            let bundle = attestation
                .bundle(credential.material())
                .map_err(SignError::from)?;
            attach_referrer(
                registry,
                subject,
                bundle.to_json().into_bytes(),
                &statement.predicate_type,
            )
            .await?
        }
    };
    Ok(Signed {
        digest: subject.digest().to_owned(),
        entry: attestation.entry,
        stored_at,
    })
}

/// Adds one layer to the legacy image under `sha256-<hex>.<suffix>`, keeping the layers already
/// there (§2); returns the tag reference.
async fn attach_legacy(
    registry: &Registry,
    subject: &Subject,
    suffix: &str,
    blob: Vec<u8>,
    media_type: &str,
    annotations: BTreeMap<String, String>,
) -> Result<String, ImageError> {
    let repo = &subject.by_digest;
    let tag = tag_ref(repo, cosign::digest_tag(subject.digest(), Some(suffix)));
    let layer = cosign::layer(&blob, media_type, annotations);
    let existing = match registry.manifest(&tag).await? {
        Some(m) => parse_image_manifest(&m, &tag)?.layers,
        None => Vec::new(),
    };
    let Some(layers) = cosign::append_layer(existing, layer) else {
        return Ok(tag.whole());
    };
    registry.put_blob(repo, blob, media_type).await?;
    let config = registry
        .put_blob(
            repo,
            cosign::signature_image_config(&layers),
            cosign::IMAGE_CONFIG_MEDIA_TYPE,
        )
        .await?;
    registry
        .put_manifest(
            &tag,
            cosign::signature_image_manifest(config, layers),
            oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
        )
        .await?;
    Ok(tag.whole())
}

/// Pushes a bundle as a referrer of the subject (by its own digest, no tag) and lists it in the
/// referrers index under `sha256-<hex>`, which registries without the referrers API (such as
/// distribution 2.8) need (§4); returns the referrer's reference.
async fn attach_referrer(
    registry: &Registry,
    subject: &Subject,
    bundle_json: Vec<u8>,
    predicate_type: &str,
) -> Result<String, ImageError> {
    let repo = &subject.by_digest;
    registry
        .put_blob(repo, cosign::EMPTY_JSON.to_vec(), cosign::EMPTY_MEDIA_TYPE)
        .await?;
    let layer = registry
        .put_blob(repo, bundle_json, BUNDLE_V03_MEDIA_TYPE)
        .await?;
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let referrer = cosign::bundle_referrer_manifest(
        subject.manifest.descriptor(),
        layer,
        predicate_type,
        &created,
    );
    let bytes = serde_json::to_vec(&referrer).expect("a manifest serializes");
    let referrer_manifest = Manifest::from_bytes(bytes.clone(), "the referrer manifest")?;
    let referrer_ref = repo.clone_with_digest(referrer_manifest.digest.clone());
    registry
        .put_manifest(&referrer_ref, bytes, &referrer_manifest.media_type)
        .await?;

    let index_tag = tag_ref(repo, cosign::digest_tag(subject.digest(), None));
    let existing = match registry.manifest(&index_tag).await? {
        Some(m) => Some(
            serde_json::from_slice::<OciImageIndex>(&m.bytes)
                .map_err(|e| layout_error(format!("the referrers index {index_tag}"), e))?,
        ),
        None => None,
    };
    let index = cosign::add_referrer(existing, &referrer_manifest.descriptor(), &referrer);
    registry
        .put_manifest(
            &index_tag,
            serde_json::to_vec(&index).expect("an index serializes"),
            oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
        )
        .await?;
    Ok(referrer_ref.whole())
}

fn parse_image_manifest(m: &Manifest, at: &Reference) -> Result<OciImageManifest, ImageError> {
    let manifest: OciImageManifest = serde_json::from_slice(&m.bytes)
        .map_err(|e| layout_error(format!("the manifest {at}"), e))?;
    if manifest.layers.len() > cosign::MAX_LAYERS {
        return Err(layout_error(
            format!("the manifest {at}"),
            format!(
                "{} layers, more than {}",
                manifest.layers.len(),
                cosign::MAX_LAYERS
            ),
        ));
    }
    Ok(manifest)
}

/// One stored signature or attestation, as read from the registry.
enum Candidate {
    /// A layer of the legacy image: its descriptor (with the annotations) and blob.
    Layer {
        source: String,
        descriptor: OciDescriptor,
        blob: Vec<u8>,
    },
    /// A bundle from a referrer manifest.
    Bundle { source: String, bundle: Bundle },
    /// Something that could not even be read; the reason is reported.
    Unreadable { source: String, reason: String },
}

/// Everything stored for the subject under the legacy tag with `suffix` and in bundle referrers,
/// except what is labelled with another predicate type than `predicate_type` (the labels are
/// not signed: they only spare verifying what is not asked for; the statement's own predicate
/// type is what is checked).
async fn candidates(
    registry: &Registry,
    subject: &Subject,
    suffix: &str,
    predicate_type: &str,
) -> Result<Vec<Candidate>, ImageError> {
    let other_type = |annotations: Option<&BTreeMap<String, String>>, key: &str| {
        annotations
            .and_then(|a| a.get(key))
            .is_some_and(|t| t != predicate_type)
    };
    let by_digest = &subject.by_digest;
    let mut out = Vec::new();
    let tag = tag_ref(
        by_digest,
        cosign::digest_tag(subject.digest(), Some(suffix)),
    );
    if let Some(m) = registry.manifest(&tag).await? {
        for (i, descriptor) in parse_image_manifest(&m, &tag)?
            .layers
            .into_iter()
            .enumerate()
        {
            if other_type(
                descriptor.annotations.as_ref(),
                cosign::PREDICATE_TYPE_ANNOTATION,
            ) {
                continue;
            }
            let source = format!("{} layer {i}", tag.whole());
            match registry.blob(by_digest, &descriptor).await {
                Ok(blob) => out.push(Candidate::Layer {
                    source,
                    descriptor,
                    blob,
                }),
                Err(e) => out.push(Candidate::Unreadable {
                    source,
                    reason: e.to_string(),
                }),
            }
        }
    }
    let index = registry.referrers(by_digest, BUNDLE_V03_MEDIA_TYPE).await?;
    for entry in index.manifests {
        if other_type(
            entry.annotations.as_ref(),
            cosign::BUNDLE_PREDICATE_TYPE_ANNOTATION,
        ) {
            continue;
        }
        let referrer = by_digest.clone_with_digest(entry.digest.clone());
        let source = referrer.whole();
        match read_bundle(registry, &referrer).await {
            Ok(bundle) => out.push(Candidate::Bundle { source, bundle }),
            Err(reason) => out.push(Candidate::Unreadable { source, reason }),
        }
    }
    Ok(out)
}

/// The bundle of a referrer manifest, read as cosign's bundle reader does: exactly one layer, of
/// a Sigstore bundle media type, holding a bundle v0.3.
async fn read_bundle(registry: &Registry, referrer: &Reference) -> Result<Bundle, String> {
    let m = registry
        .manifest(referrer)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the referrer manifest is gone")?;
    let manifest = parse_image_manifest(&m, referrer).map_err(|e| e.to_string())?;
    let [layer] = manifest.layers.as_slice() else {
        return Err(format!(
            "a bundle referrer has one layer, this one {}",
            manifest.layers.len()
        ));
    };
    if !layer
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(format!(
            "layer media type {:?} is not a bundle",
            layer.media_type
        ));
    }
    let blob = registry
        .blob(referrer, layer)
        .await
        .map_err(|e| e.to_string())?;
    Bundle::from_json(&blob).map_err(|e| e.to_string())
}

/// What the verifier trusts and requires.
pub struct Policy<'a> {
    /// Who must have signed: a key, or a certified identity.
    pub signer: SignerPolicy<'a>,
    /// The Rekor v1 logs whose entries count.
    pub logs: &'a [TrustedLog],
    /// The Rekor v2 logs whose entries count and the timestamp authorities that give them
    /// their time (from the trusted root; none: v2 bundles are refused).
    pub v2: Option<&'a RekorV2Trust>,
    /// When set, legacy signatures' entries are fetched from this log and their inclusion proof
    /// checked too (the legacy annotation carries only the SET).
    pub rekor: Option<&'a RekorClient>,
}

/// Verifies the signatures of `image`: those signed by the policy's signer, recorded in a trusted
/// log, over this manifest digest, carrying every one of `annotations`.
///
/// # Errors
///
/// [`ImageError::NothingFound`] without signatures, [`ImageError::NothingVerified`] with the
/// reason for each when none verifies, or a registry error.
pub async fn verify(
    registry: &Registry,
    image: &Reference,
    policy: &Policy<'_>,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<Verified>, ImageError> {
    let subject = resolve(registry, image).await?;
    let digest = subject.digest();
    let found = candidates(
        registry,
        &subject,
        cosign::SIGNATURE_SUFFIX,
        cosign::COSIGN_SIGN_PREDICATE_TYPE,
    )
    .await?;
    let mut checks = Vec::new();
    for c in found {
        let result = match &c {
            Candidate::Layer {
                descriptor, blob, ..
            } => verify_signature_layer(descriptor, blob, digest, policy, annotations).await,
            Candidate::Bundle { bundle, .. } => {
                verify_bundle(bundle, policy).and_then(|statement| {
                    check_statement(&statement, digest, cosign::COSIGN_SIGN_PREDICATE_TYPE)?;
                    signature_output_of_statement(&statement, image, digest, annotations)
                })
            }
            Candidate::Unreadable { reason, .. } => Err(reason.clone()),
        };
        checks.push((c, result));
    }
    conclude(
        "signature".into(),
        image,
        digest,
        cosign::SIGNATURE_SUFFIX,
        checks,
    )
}

/// Verifies the attestations of `image` of `predicate_type`, as [`verify`] does signatures;
/// attestations of other predicate types are skipped.
///
/// # Errors
///
/// As [`verify`].
pub async fn verify_attestations(
    registry: &Registry,
    image: &Reference,
    policy: &Policy<'_>,
    predicate_type: &str,
) -> Result<Vec<Verified>, ImageError> {
    let subject = resolve(registry, image).await?;
    let digest = subject.digest();
    let found = candidates(
        registry,
        &subject,
        cosign::ATTESTATION_SUFFIX,
        predicate_type,
    )
    .await?;
    let mut checks = Vec::new();
    for c in found {
        let result = match &c {
            Candidate::Layer {
                descriptor, blob, ..
            } => verify_attestation_layer(descriptor, blob, policy).await,
            Candidate::Bundle { bundle, .. } => verify_bundle(bundle, policy),
            Candidate::Unreadable { reason, .. } => Err(reason.clone()),
        }
        .and_then(|statement| {
            check_statement(&statement, digest, predicate_type)?;
            serde_json::to_value(&statement).map_err(|e| e.to_string())
        });
        checks.push((c, result));
    }
    conclude(
        format!("{predicate_type} attestation"),
        image,
        digest,
        cosign::ATTESTATION_SUFFIX,
        checks,
    )
}

/// The verified ones, or why none verified.
fn conclude(
    what: String,
    image: &Reference,
    digest: &str,
    suffix: &str,
    checks: Vec<(Candidate, Result<Value, String>)>,
) -> Result<Vec<Verified>, ImageError> {
    if checks.is_empty() {
        return Err(ImageError::NothingFound {
            what,
            image: image.whole(),
            digest: digest.to_owned(),
            tag: cosign::digest_tag(digest, Some(suffix)),
            hint: if image.digest().is_none() {
                "; was the tag moved to another image after signing?"
            } else {
                ""
            },
        });
    }
    let mut verified = Vec::new();
    let mut reasons = Vec::new();
    for (c, result) in checks {
        let source = match c {
            Candidate::Layer { source, .. }
            | Candidate::Bundle { source, .. }
            | Candidate::Unreadable { source, .. } => source,
        };
        match result {
            Ok(output) => verified.push(Verified { source, output }),
            Err(reason) => reasons.push(format!("  {source}: {reason}")),
        }
    }
    if verified.is_empty() {
        return Err(ImageError::NothingVerified {
            what,
            image: image.whole(),
            digest: digest.to_owned(),
            reasons,
        });
    }
    for r in &reasons {
        eprintln!("arkivo: skipped a {what} that does not verify:\n{r}");
    }
    Ok(verified)
}

/// The Rekor bundle annotation of a legacy layer, its SET verified, and the entry body it
/// carries; with a log URL, the entry is fetched and its inclusion proof verified too.
async fn verified_rekor_bundle(
    descriptor: &OciDescriptor,
    policy: &Policy<'_>,
) -> Result<(RekorBundle, Vec<u8>), String> {
    let json = annotation(descriptor, cosign::BUNDLE_ANNOTATION)
        .ok_or("not recorded in a transparency log (no dev.sigstore.cosign/bundle annotation)")?;
    let bundle: RekorBundle = serde_json::from_str(json)
        .map_err(|e| format!("the dev.sigstore.cosign/bundle annotation is malformed: {e}"))?;
    verify::verify_rekor_bundle(&bundle, policy.logs).map_err(|e| e.to_string())?;
    let body = B64
        .decode(&bundle.payload.body)
        .map_err(|_| "the Rekor bundle's body is not base64".to_owned())?;
    if let Some(rekor) = policy.rekor {
        let entry = rekor
            .get_by_index(bundle.payload.log_index)
            .await
            .map_err(|e| e.to_string())?;
        verify::verify_log_entry(&entry, policy.logs).map_err(|e| e.to_string())?;
        if entry.body().ok().as_deref() != Some(body.as_slice()) {
            return Err(format!(
                "the log holds another entry at index {} than the Rekor bundle says",
                bundle.payload.log_index
            ));
        }
    }
    Ok((bundle, body))
}

/// The key a legacy layer must be signed with: the policy's, or that of the layer's
/// `dev.sigstore.cosign/certificate` once it verified for the entry's (SET-signed) time.
fn layer_signer_key(
    descriptor: &OciDescriptor,
    bundle: &RekorBundle,
    policy: &Policy<'_>,
) -> Result<PublicKey, String> {
    let certificate = match annotation(descriptor, cosign::CERTIFICATE_ANNOTATION) {
        Some(pem) => {
            let blocks = pem_blocks(pem.as_bytes())
                .map_err(|e| format!("the {} annotation: {e}", cosign::CERTIFICATE_ANNOTATION))?;
            match blocks.into_iter().next() {
                Some((label, der)) if label == "CERTIFICATE" => Some(der),
                _ => {
                    return Err(format!(
                        "the {} annotation holds no certificate",
                        cosign::CERTIFICATE_ANNOTATION
                    ));
                }
            }
        }
        None => None,
    };
    policy
        .signer
        .signer_key(certificate.as_deref(), bundle.payload.integrated_time)
        .map(|(key, _)| key)
        .map_err(|e| e.to_string())
}

fn annotation<'a>(descriptor: &'a OciDescriptor, key: &str) -> Option<&'a str> {
    descriptor
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// A legacy signature layer (§2): signature annotation over the payload with the key, the
/// log entry (SET) recording exactly that, the payload naming this digest, the annotations.
async fn verify_signature_layer(
    descriptor: &OciDescriptor,
    payload: &[u8],
    digest: &str,
    policy: &Policy<'_>,
    annotations: &BTreeMap<String, String>,
) -> Result<Value, String> {
    if descriptor.media_type != cosign::SIMPLE_SIGNING_MEDIA_TYPE {
        return Err(format!(
            "layer media type {:?} is not a simple-signing payload",
            descriptor.media_type
        ));
    }
    let signature = annotation(descriptor, cosign::SIGNATURE_ANNOTATION)
        .and_then(|s| B64.decode(s).ok())
        .ok_or("no base64 dev.cosignproject.cosign/signature annotation")?;
    let (bundle, body) = verified_rekor_bundle(descriptor, policy).await?;
    let key = layer_signer_key(descriptor, &bundle, policy)?;
    let recorded = hashedrekord::parse_body(&body)
        .map_err(|e| format!("the log entry is not a hashedrekord entry: {e}"))?;
    let payload_digest = recorded.algorithm.hash(payload);
    verify::verify_hashedrekord(&body, recorded.algorithm, &payload_digest, &signature, &key)
        .map_err(|e| match e {
            VerifyError::Body(_) if recorded.digest() != payload_digest => {
                "the payload is not the one the log recorded (was it modified?)".to_owned()
            }
            e => e.to_string(),
        })?;
    let ss: SimpleSigning = serde_json::from_slice(payload)
        .map_err(|e| format!("the payload is not a simple-signing payload: {e}"))?;
    if ss.critical.kind != cosign::SIMPLE_SIGNING_TYPE {
        return Err(format!("the payload type is {:?}", ss.critical.kind));
    }
    if ss.critical.image.docker_manifest_digest != digest {
        return Err(format!(
            "the signature is for {}, not for this image {digest}",
            ss.critical.image.docker_manifest_digest
        ));
    }
    let signed: BTreeMap<String, String> = ss
        .optional
        .iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
        .collect();
    check_annotations(&signed, annotations)?;
    let mut output = serde_json::to_value(&ss).map_err(|e| e.to_string())?;
    let optional = &mut output["optional"];
    if !optional.is_object() {
        *optional = Value::Object(serde_json::Map::new());
    }
    optional["Bundle"] = serde_json::to_value(&bundle).map_err(|e| e.to_string())?;
    Ok(output)
}

/// A legacy attestation layer (§3): a DSSE envelope signed by the key and recorded (SET) as a
/// `dsse` entry; returns its statement.
async fn verify_attestation_layer(
    descriptor: &OciDescriptor,
    blob: &[u8],
    policy: &Policy<'_>,
) -> Result<Statement, String> {
    if descriptor.media_type != cosign::DSSE_ENVELOPE_MEDIA_TYPE {
        return Err(format!(
            "layer media type {:?} is not a DSSE envelope",
            descriptor.media_type
        ));
    }
    let envelope = dsse::from_json(blob).map_err(|e| e.to_string())?;
    let (bundle, body) = verified_rekor_bundle(descriptor, policy).await?;
    let key = layer_signer_key(descriptor, &bundle, policy)?;
    dsse::verify_envelope(&body, &envelope, &key).map_err(|e| e.to_string())?;
    dsse::statement_of(&envelope)
}

/// A bundle (§4): its log entry verified offline (Rekor v1: SET, checkpoint, inclusion proof;
/// Rekor v2: RFC 3161 timestamp, checkpoint, inclusion proof), its DSSE envelope signed by the
/// policy's signer and recorded by that entry ([`dsse::verify_bundle`]); returns its statement.
fn verify_bundle(bundle: &Bundle, policy: &Policy<'_>) -> Result<Statement, String> {
    dsse::verify_bundle(bundle, &policy.signer, policy.logs, policy.v2).map(|v| v.statement)
}

/// The statement is about this digest and of this predicate type.
fn check_statement(
    statement: &Statement,
    digest: &str,
    predicate_type: &str,
) -> Result<(), String> {
    if statement.subject_for(digest).is_none() {
        return Err(format!("the statement is not about this image {digest}"));
    }
    if statement.predicate_type != predicate_type {
        return Err(format!(
            "predicate type {:?}, not {predicate_type:?}",
            statement.predicate_type
        ));
    }
    Ok(())
}

/// Every required annotation is among the signed ones, with the same value.
fn check_annotations(
    signed: &BTreeMap<String, String>,
    required: &BTreeMap<String, String>,
) -> Result<(), String> {
    match required.iter().find(|(k, v)| signed.get(*k) != Some(*v)) {
        None => Ok(()),
        Some((k, v)) => Err(format!(
            "the signature does not carry the annotation {k}={v} (it carries {signed:?})"
        )),
    }
}

/// The output of a bundle-format signature in the shape of a legacy one: the payload cosign
/// would have signed, with the statement subject's annotations as `optional`.
fn signature_output_of_statement(
    statement: &Statement,
    image: &Reference,
    digest: &str,
    required: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let signed = statement
        .subject_for(digest)
        .map(|s| s.annotations.clone())
        .unwrap_or_default();
    check_annotations(&signed, required)?;
    serde_json::to_value(SimpleSigning::new(&repository_name(image), digest, &signed))
        .map_err(|e| e.to_string())
}
