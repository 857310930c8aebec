//! Rekor v1 JSON shapes (rekor-v1-api.md §3–4) and the trusted root that points clients at the
//! log, shared by the server and the client. Data only.
//!
//! Members are declared in alphabetical order because upstream emits Go structs whose fields
//! are alphabetical, and sigstore-rs slices responses at fixed offsets (§1.3): the byte layout
//! is part of the API. [`to_json_line`] writes the compact form with the single trailing `\n`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `{"<80-hex entry ID>": LogEntryBody}` — exactly one member (§4).
pub type LogEntry = BTreeMap<String, LogEntryBody>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogEntryBody {
    /// Base64 of the canonical body (the leaf bytes).
    pub body: String,
    pub integrated_time: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
    /// The virtual (cross-shard) index; equals the shard index while there is one shard.
    pub log_index: u64,
    pub verification: Verification,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub inclusion_proof: InclusionProof,
    /// Base64 DER ECDSA signature over the JCS of {body, integratedTime, logID, logIndex}.
    pub signed_entry_timestamp: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    pub checkpoint: String,
    /// Audit path, leaf to root, lowercase hex.
    pub hashes: Vec<String>,
    pub log_index: u64,
    pub root_hash: String,
    pub tree_size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogInfo {
    /// `null` when there are no inactive shards — not omitted, not `[]` (§3.5).
    pub inactive_shards: Option<Vec<InactiveShard>>,
    pub root_hash: String,
    pub signed_tree_head: String,
    /// Decimal, as a string so JavaScript does not round it.
    #[serde(rename = "treeID")]
    pub tree_id: String,
    pub tree_size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InactiveShard {
    pub root_hash: String,
    pub signed_tree_head: String,
    #[serde(rename = "treeID")]
    pub tree_id: String,
    pub tree_size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyProof {
    pub hashes: Vec<String>,
    pub root_hash: String,
}

/// The error body of every failed call (§1.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: u16,
    pub message: String,
}

/// `POST /api/v1/log/entries/retrieve` request (§3.4); every member optional.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchLogQuery {
    #[serde(
        rename = "entryUUIDs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entry_uuids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_indexes: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<serde_json::Value>>,
}

/// `POST /api/v1/index/retrieve` request (§3.8).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchIndex {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<SearchPublicKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// The header (lower-case) on a `POST /api/v1/index/retrieve` answer that holds only the newest
/// of its matches; its value is how many it holds (an Arkivo extension: upstream Rekor has no
/// cap).
pub const SEARCH_TRUNCATED_HEADER: &str = "x-arkivo-search-truncated";

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SearchPublicKey {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
}

/// The media type of the trusted root the server serves: the v0.1 string, the only one
/// sigstore-python and sigstore-go accept (docs/sigstore-services.md §1); the v0.2 fields
/// (`checkpointKeyId`) are read under it.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

/// A Sigstore TrustedRoot (tiles-checkpoints-witnesses.md §7.4, proto3 JSON: bytes as base64,
/// timestamps as RFC 3339): what `GET /api/v1/log/trustedRoot` serves and what the client reads.
/// CT logs have the shape of transparency logs; certificate and timestamp authorities share
/// [`CertificateAuthority`] (protobuf-specs `sigstore_trustroot.proto`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedRoot {
    pub media_type: String,
    #[serde(default)]
    pub tlogs: Vec<TransparencyLogInstance>,
    #[serde(default)]
    pub certificate_authorities: Vec<CertificateAuthority>,
    #[serde(default)]
    pub ctlogs: Vec<TransparencyLogInstance>,
    #[serde(default)]
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

/// A certificate authority or an RFC 3161 timestamp authority of a trusted root: its chain,
/// **leaf (or issuing certificate) first, root last**, valid for the given period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAuthority {
    #[serde(default)]
    pub subject: DistinguishedName,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    pub cert_chain: CertificateChain,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<ValidFor>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistinguishedName {
    // Both written even when empty: sigstore-python's trusted-root model requires them.
    #[serde(default)]
    pub organization: String,
    #[serde(default)]
    pub common_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateChain {
    #[serde(default)]
    pub certificates: Vec<Certificate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// Base64 of the DER certificate.
    pub raw_bytes: String,
}

/// The media type of a Sigstore signing config v0.2 (sigstore-services.md §1).
pub const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";

/// The media type of a client trust config: a trusted root and a signing config in one file, what
/// `sigstore --trust-config FILE` reads.
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// A Sigstore SigningConfig v0.2: where a client gets certificates, records entries and gets
/// timestamps. CA and Rekor URLs are bases; a TSA URL is the full timestamp URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningConfig {
    pub media_type: String,
    #[serde(default)]
    pub ca_urls: Vec<Service>,
    #[serde(default)]
    pub oidc_urls: Vec<Service>,
    #[serde(default)]
    pub rekor_tlog_urls: Vec<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_tlog_config: Option<ServiceConfiguration>,
    #[serde(default)]
    pub tsa_urls: Vec<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa_config: Option<ServiceConfiguration>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub url: String,
    pub major_api_version: u32,
    pub valid_for: ValidFor,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
}

/// How many of the listed services a client uses. Always `ANY`: sigstore-js implements only it
/// and sigstore-go refuses an unset selector (sigstore-services.md §1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConfiguration {
    pub selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// A client trust config: `{mediaType, trustedRoot, signingConfig}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTrustConfig {
    pub media_type: String,
    pub trusted_root: TrustedRoot,
    pub signing_config: SigningConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransparencyLogInstance {
    #[serde(default)]
    pub base_url: String,
    /// `SHA2_256`.
    #[serde(default)]
    pub hash_algorithm: String,
    pub public_key: TrustedPublicKey,
    pub log_id: TrustedLogId,
    /// The C2SP checkpoint key's ID (v0.2), for a log whose checkpoints this key signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_key_id: Option<TrustedLogId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedPublicKey {
    /// Base64 of the DER SubjectPublicKeyInfo.
    pub raw_bytes: String,
    /// `PKIX_ECDSA_P256_SHA_256` for a Rekor v1 log key.
    #[serde(default)]
    pub key_details: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<ValidFor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidFor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedLogId {
    /// Base64 of the log ID's 32 bytes.
    pub key_id: String,
}

/// Compact JSON followed by exactly one `\n`, as Go's `json.Encoder` writes it (§1.3).
pub fn to_json_line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec(value).expect("wire types always serialize");
    out.push(b'\n');
    out
}
