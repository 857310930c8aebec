//! How cosign keeps signatures and attestations in a registry, as values: tag names, the
//! simple-signing payload, in-toto statements, the legacy signature image and the
//! bundle-in-referrer manifest with its fallback index (`docs/cosign-oci-storage.md`).
//!
//! Pure: no I/O. [`super::image`] moves these values to and from a registry.

use std::collections::BTreeMap;

use oci_client::manifest::{
    ImageIndexEntry, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
    OciImageIndex, OciImageManifest,
};
use serde::{Deserialize, Serialize};

use super::bundle::BUNDLE_V03_MEDIA_TYPE;

/// Layer media type of a legacy signature (§2, `SimpleSigningMediaType`).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer media type of a legacy attestation (§3, `DssePayloadType`).
pub const DSSE_ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Config media type of the legacy signature image (§2, `pkg/oci/empty`).
pub const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The OCI empty descriptor's media type; its blob is `{}` (§4).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_JSON: &[u8] = b"{}";

/// Layer annotation: base64 of the signature; empty for attestations (§2, §3).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation: cosign's Rekor bundle JSON (§2).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// A keyless signature's signing certificate and the chain above it, PEM (§2).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation of a legacy attestation: the statement's predicate type (§3).
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
/// Referrer manifest annotations (§4).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
pub const BUNDLE_CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// `dev.sigstore.bundle.content` of a bundle holding a DSSE envelope.
pub const DSSE_CONTENT: &str = "dsse-envelope";

/// `critical.type` of a simple-signing payload (§2).
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
/// The predicate type cosign v3 signs images with in the bundle format (§4,
/// `CosignSignPredicateType`).
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// in-toto Statement v1 `_type`.
pub const IN_TOTO_STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// Tag suffix of legacy signatures (§1).
pub const SIGNATURE_SUFFIX: &str = "sig";
/// Tag suffix of legacy attestations (§1).
pub const ATTESTATION_SUFFIX: &str = "att";

/// Largest number of signature layers read from one tag: each verifies separately, and a tag
/// with more was not made by signing.
pub const MAX_LAYERS: usize = 1000;

/// The tag of the referrers tag schema for `digest` (`sha256:<hex>` → `sha256-<hex>`), and, with
/// a suffix, cosign's legacy signature or attestation tag (`sha256-<hex>.sig`; §1).
pub fn digest_tag(digest: &str, suffix: Option<&str>) -> String {
    let base = digest.replacen(':', "-", 1);
    match suffix {
        Some(s) => format!("{base}.{s}"),
        None => base,
    }
}

/// cosign's `-a key=value` annotations, parsed.
///
/// # Errors
///
/// The offending argument when it has no `=` or an empty key.
pub fn parse_annotations(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("annotation {a:?} is not key=value")),
        })
        .collect()
}

/// The simple-signing payload (§2; sigstore/sigstore `pkg/signature/payload`). Members in the
/// Go structs' order; `optional` is `null` without annotations, as cosign writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: Image,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The payload for the manifest `digest` of repository `docker_reference` (registry and
    /// repository, no tag or digest).
    pub fn new(
        docker_reference: &str,
        digest: &str,
        annotations: &BTreeMap<String, String>,
    ) -> SimpleSigning {
        SimpleSigning {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.to_owned(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_owned(),
                },
                kind: SIMPLE_SIGNING_TYPE.to_owned(),
            },
            optional: (!annotations.is_empty()).then(|| {
                annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect()
            }),
        }
    }

    /// The bytes that are signed and stored as the layer.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a payload serializes")
    }
}

/// An in-toto Statement v1 about one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// An in-toto ResourceDescriptor as a statement subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Statement {
    /// A statement with `predicate` about the manifest `digest` (`sha256:<hex>`): the subject is
    /// named by the repository (what cosign attest writes) and carries the annotations (what
    /// cosign sign writes in the bundle format).
    pub fn new(
        name: &str,
        digest: &str,
        annotations: &BTreeMap<String, String>,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Statement {
        let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        Statement {
            statement_type: IN_TOTO_STATEMENT_TYPE.to_owned(),
            subject: vec![Subject {
                name: name.to_owned(),
                digest: BTreeMap::from([(alg.to_owned(), hex.to_owned())]),
                annotations: annotations.clone(),
            }],
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// The subject that names the manifest `digest`, if any.
    pub fn subject_for(&self, digest: &str) -> Option<&Subject> {
        let (alg, hex) = digest.split_once(':')?;
        self.subject.iter().find(|s| {
            s.digest
                .get(alg)
                .is_some_and(|h| h.eq_ignore_ascii_case(hex))
        })
    }
}

/// The predicate type URI of `cosign attest --type` (cosign's `GenerateStatement` and
/// `options.PredicateTypeMap`): a short name, or a URI given as is.
///
/// # Errors
///
/// A message for a name that is neither known nor a URI.
pub fn predicate_type(name: &str) -> Result<&str, String> {
    Ok(match name {
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "link" => "https://in-toto.io/Link/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "openvex" => "https://openvex.dev/ns",
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        uri if uri.contains("://") => uri,
        other => {
            return Err(format!(
                "unknown predicate type {other:?}: use slsaprovenance, slsaprovenance1, link, \
                 spdx, spdxjson, cyclonedx, vuln, openvex, custom or a URI"
            ));
        }
    })
}

/// A layer of the legacy layout: `blob` stored with `media_type` and `annotations`.
pub fn layer(
    blob: &[u8],
    media_type: &str,
    annotations: BTreeMap<String, String>,
) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_owned(),
        digest: super::oci::sha256_digest(blob),
        size: blob.len() as i64,
        annotations: Some(annotations),
        ..OciDescriptor::default()
    }
}

/// The layers of a legacy signature (or attestation) image after adding `new` to the `existing`
/// ones, unless an identical layer (same blob and annotations) is there already, as cosign's
/// duplicate detector does (§2). `None` when nothing changes.
pub fn append_layer(
    existing: Vec<OciDescriptor>,
    new: OciDescriptor,
) -> Option<Vec<OciDescriptor>> {
    let duplicate = existing
        .iter()
        .any(|l| l.digest == new.digest && l.annotations == new.annotations);
    (!duplicate).then(|| {
        let mut layers = existing;
        layers.push(new);
        layers
    })
}

/// The config blob of a legacy signature image: an empty image whose root filesystem lists
/// the layers (uncompressed, so each diff ID is the layer digest), as cosign's
/// `mutate.AppendSignatures` leaves it.
pub fn signature_image_config(layers: &[OciDescriptor]) -> Vec<u8> {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("a config serializes")
}

/// The manifest of a legacy signature image (§2): OCI image manifest, OCI config.
pub fn signature_image_manifest(config: OciDescriptor, layers: Vec<OciDescriptor>) -> Vec<u8> {
    serde_json::to_vec(&OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config,
        layers,
        ..OciImageManifest::default()
    })
    .expect("a manifest serializes")
}

/// The referrer manifest that carries a Sigstore bundle for `subject` (§4): artifact type and
/// only layer the bundle, the empty config, the bundle annotations.
pub fn bundle_referrer_manifest(
    subject: OciDescriptor,
    bundle: OciDescriptor,
    predicate_type: &str,
    created: &str,
) -> OciImageManifest {
    OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        artifact_type: Some(BUNDLE_V03_MEDIA_TYPE.to_owned()),
        config: empty_descriptor(),
        layers: vec![bundle],
        subject: Some(subject),
        annotations: Some(BTreeMap::from([
            (CREATED_ANNOTATION.to_owned(), created.to_owned()),
            (
                BUNDLE_CONTENT_ANNOTATION.to_owned(),
                DSSE_CONTENT.to_owned(),
            ),
            (
                BUNDLE_PREDICATE_TYPE_ANNOTATION.to_owned(),
                predicate_type.to_owned(),
            ),
        ])),
    }
}

/// The OCI empty descriptor: `{}`, 2 bytes.
pub fn empty_descriptor() -> OciDescriptor {
    OciDescriptor {
        media_type: EMPTY_MEDIA_TYPE.to_owned(),
        digest: super::oci::sha256_digest(EMPTY_JSON),
        size: EMPTY_JSON.len() as i64,
        ..OciDescriptor::default()
    }
}

/// The referrers index (tag schema fallback, §4) after adding the referrer manifest
/// `manifest` (its descriptor `descriptor`) to `existing`; an index entry carries the
/// referrer's artifact type and annotations so that readers can filter without fetching it.
pub fn add_referrer(
    existing: Option<OciImageIndex>,
    descriptor: &OciDescriptor,
    manifest: &OciImageManifest,
) -> OciImageIndex {
    let mut index = existing.unwrap_or(OciImageIndex {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_INDEX_MEDIA_TYPE.to_owned()),
        manifests: Vec::new(),
        artifact_type: None,
        annotations: None,
    });
    if !index
        .manifests
        .iter()
        .any(|m| m.digest == descriptor.digest)
    {
        index.manifests.push(ImageIndexEntry {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            platform: None,
            annotations: manifest.annotations.clone(),
            artifact_type: manifest.artifact_type.clone(),
        });
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:2281c6a1d1b8c6d3e3a2f1e0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a26d26";

    #[test]
    fn tags_derive_from_the_digest() {
        let hex = &DIGEST[7..];
        assert_eq!(
            digest_tag(DIGEST, Some(SIGNATURE_SUFFIX)),
            format!("sha256-{hex}.sig")
        );
        assert_eq!(
            digest_tag(DIGEST, Some(ATTESTATION_SUFFIX)),
            format!("sha256-{hex}.att")
        );
        assert_eq!(digest_tag(DIGEST, None), format!("sha256-{hex}"));
    }

    #[test]
    fn simple_signing_payload_bytes() {
        let p = SimpleSigning::new("127.0.0.1:5000/test", DIGEST, &BTreeMap::new());
        assert_eq!(
            String::from_utf8(p.to_bytes()).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/test"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let a = parse_annotations(&["team=a".into(), "env=prod=1".into()]).unwrap();
        let p = SimpleSigning::new("r/x", DIGEST, &a);
        let text = String::from_utf8(p.to_bytes()).unwrap();
        assert!(
            text.ends_with(r#""optional":{"env":"prod=1","team":"a"}}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<SimpleSigning>(&text).unwrap(), p);
        assert!(parse_annotations(&["novalue".into()]).is_err());
        assert!(parse_annotations(&["=v".into()]).is_err());
    }

    #[test]
    fn predicate_types() {
        assert_eq!(
            predicate_type("slsaprovenance").unwrap(),
            "https://slsa.dev/provenance/v0.2"
        );
        assert_eq!(
            predicate_type("spdxjson").unwrap(),
            "https://spdx.dev/Document"
        );
        assert_eq!(
            predicate_type("https://example.com/p/v1").unwrap(),
            "https://example.com/p/v1"
        );
        assert!(predicate_type("sbom").is_err());
    }

    #[test]
    fn statement_subject() {
        let s = Statement::new(
            "r/x",
            DIGEST,
            &BTreeMap::new(),
            "https://p",
            serde_json::json!({}),
        );
        assert!(s.subject_for(DIGEST).is_some());
        assert!(s.subject_for(&DIGEST.replace("26d26", "26d27")).is_none());
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.starts_with(r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"r/x","digest":{"sha256":"#));
    }

    #[test]
    fn duplicate_layers_are_not_appended() {
        let ann = BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), "c2ln".to_owned())]);
        let l = layer(b"payload", SIMPLE_SIGNING_MEDIA_TYPE, ann);
        let layers = append_layer(Vec::new(), l.clone()).unwrap();
        assert_eq!(layers.len(), 1);
        assert!(append_layer(layers.clone(), l.clone()).is_none());
        let mut other = l;
        other.annotations = Some(BTreeMap::new());
        assert_eq!(append_layer(layers, other).unwrap().len(), 2);
    }

    #[test]
    fn referrer_manifest_and_index() {
        let subject = OciDescriptor {
            media_type: OCI_IMAGE_MEDIA_TYPE.into(),
            digest: DIGEST.into(),
            size: 345,
            ..OciDescriptor::default()
        };
        let bundle = layer(b"{}", BUNDLE_V03_MEDIA_TYPE, BTreeMap::new());
        let m = bundle_referrer_manifest(subject, bundle, "https://p", "2026-01-01T00:00:00Z");
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["artifactType"], BUNDLE_V03_MEDIA_TYPE);
        assert_eq!(v["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(v["subject"]["digest"], DIGEST);
        assert_eq!(v["annotations"][BUNDLE_CONTENT_ANNOTATION], DSSE_CONTENT);
        let d = OciDescriptor {
            media_type: OCI_IMAGE_MEDIA_TYPE.into(),
            digest: "sha256:aa".into(),
            size: 1,
            ..OciDescriptor::default()
        };
        let index = add_referrer(None, &d, &m);
        assert_eq!(index.manifests.len(), 1);
        assert_eq!(
            index.manifests[0].artifact_type.as_deref(),
            Some(BUNDLE_V03_MEDIA_TYPE)
        );
        assert_eq!(add_referrer(Some(index), &d, &m).manifests.len(), 1);
    }
}
