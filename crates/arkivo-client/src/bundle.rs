//! Sigstore bundles, v0.3 JSON (`application/vnd.dev.sigstore.bundle.v0.3+json`,
//! tiles-checkpoints-witnesses.md §7.3): the verification material — a public key *hint* (the
//! verifier supplies the key) for a self-managed key, or the signing certificate (keyless; v0.3
//! carries the leaf alone in `certificate`, v0.1/v0.2 a chain in `x509CertificateChain`) — one
//! Rekor v1 transparency log entry, and a message signature or a DSSE envelope.
//!
//! Serialised as protobuf's JSON mapping (§7.1): lowerCamelCase names, `int64` as strings,
//! `bytes` as standard padded base64, enums by name, unset members omitted. Parsing also takes
//! what other writers produce: `int64` as numbers, the v0.1/v0.2 media types (@sigstore/sign 4
//! labels its message-signature bundles v0.2), unknown members.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::rekor::LogEntry;
use arkivo_core::entries::pki::HashAlg;
use arkivo_core::wire::{InclusionProof, LogEntryBody, Verification};

pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Media types of bundles read (v0.1 and v0.2 differ only in carrying a certificate chain).
const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    BUNDLE_V03_MEDIA_TYPE,
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a Sigstore bundle: {0}")]
    Malformed(String),
    #[error("unsupported bundle: {0}")]
    Unsupported(String),
}

fn malformed(m: impl Into<String>) -> BundleError {
    BundleError::Malformed(m.into())
}

/// `dev.sigstore.bundle.v1.Bundle`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<DsseEnvelope>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// `publicKey {hint}`: the oneof member for a self-managed key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    /// `certificate`: the signing certificate (keyless, v0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<X509Certificate>,
    /// `x509CertificateChain`: the signing certificate first (keyless, v0.1 and v0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<X509CertificateChain>,
    #[serde(default)]
    pub tlog_entries: Vec<TransparencyLogEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<TimestampVerificationData>,
}

/// `dev.sigstore.bundle.v1.TimestampVerificationData`: the RFC 3161 timestamps of the
/// signature (a Rekor v2 entry asserts no time of its own).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimestampVerificationData {
    #[serde(default)]
    pub rfc3161_timestamps: Vec<Rfc3161SignedTimestamp>,
}

/// `dev.sigstore.common.v1.RFC3161SignedTimestamp`: a DER `TimeStampResp` (RFC 3161 §2.4.2, the
/// TSA's whole answer, as protobuf-specs defines it and sigstore-go, sigstore-python and
/// sigstore-js write it) whose message imprint is the digest of the signature bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rfc3161SignedTimestamp {
    #[serde(with = "b64_bytes")]
    pub signed_timestamp: Vec<u8>,
}

/// `dev.sigstore.common.v1.X509Certificate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Certificate {
    #[serde(with = "b64_bytes")]
    pub raw_bytes: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509CertificateChain {
    #[serde(default)]
    pub certificates: Vec<X509Certificate>,
}

/// Who signed, as a bundle is made from it.
#[derive(Clone, Debug)]
pub enum Material {
    /// A self-managed key: its DER SubjectPublicKeyInfo (the bundle carries its hint).
    PublicKey(Vec<u8>),
    /// Keyless: the signing certificate, DER.
    Certificate(Vec<u8>),
}

/// The signer a bundle names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleSigner<'a> {
    /// A self-managed key, by hint: the verifier supplies the key.
    PublicKey,
    /// The signing certificate, DER.
    Certificate(&'a [u8]),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    #[serde(default)]
    pub hint: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    pub message_digest: HashOutput,
    #[serde(with = "b64_bytes")]
    pub signature: Vec<u8>,
}

/// `dev.sigstore.common.v1.HashOutput`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashOutput {
    /// `SHA2_256`, `SHA2_384` or `SHA2_512`.
    pub algorithm: String,
    #[serde(with = "b64_bytes")]
    pub digest: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DsseEnvelope {
    #[serde(with = "b64_bytes")]
    pub payload: Vec<u8>,
    pub payload_type: String,
    pub signatures: Vec<DsseSignature>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsseSignature {
    #[serde(with = "b64_bytes")]
    pub sig: Vec<u8>,
    #[serde(default)]
    pub keyid: String,
}

/// `dev.sigstore.rekor.v1.TransparencyLogEntry` (§7.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransparencyLogEntry {
    /// proto3 JSON leaves out a zero (the first entry of a log; sigstore-js writes it so).
    #[serde(default, with = "int64")]
    pub log_index: u64,
    pub log_id: LogId,
    pub kind_version: KindVersion,
    /// Absent (0) in Rekor v2 entries.
    #[serde(default, with = "int64")]
    pub integrated_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_promise: Option<InclusionPromise>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<TlogInclusionProof>,
    #[serde(with = "b64_bytes")]
    pub canonicalized_body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    #[serde(with = "b64_bytes")]
    pub key_id: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindVersion {
    pub kind: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    #[serde(with = "b64_bytes")]
    pub signed_entry_timestamp: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogInclusionProof {
    #[serde(default, with = "int64")]
    pub log_index: u64,
    #[serde(with = "b64_bytes")]
    pub root_hash: Vec<u8>,
    #[serde(with = "int64")]
    pub tree_size: u64,
    #[serde(default, with = "b64_list")]
    pub hashes: Vec<Vec<u8>>,
    pub checkpoint: CheckpointEnvelope,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEnvelope {
    pub envelope: String,
}

/// The hint of a public key in a bundle: base64 of SHA-256 of its DER SubjectPublicKeyInfo, as
/// sigstore-go's and cosign's key signers set it. Verifiers use it only to pick a key.
pub fn public_key_hint(spki_der: &[u8]) -> String {
    B64.encode(Sha256::digest(spki_der))
}

/// The `HashOutput.algorithm` enum name of a digest algorithm.
pub fn hash_algorithm_name(alg: HashAlg) -> &'static str {
    match alg {
        HashAlg::Sha256 => "SHA2_256",
        HashAlg::Sha384 => "SHA2_384",
        HashAlg::Sha512 => "SHA2_512",
    }
}

fn message_signature(algorithm: HashAlg, digest: &[u8], signature: &[u8]) -> MessageSignature {
    MessageSignature {
        message_digest: HashOutput {
            algorithm: hash_algorithm_name(algorithm).to_owned(),
            digest: digest.to_vec(),
        },
        signature: signature.to_vec(),
    }
}

fn hash_algorithm_from_name(name: &str) -> Option<HashAlg> {
    [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512]
        .into_iter()
        .find(|a| hash_algorithm_name(*a) == name)
}

impl TransparencyLogEntry {
    /// A Rekor v2 entry (`*` v0.0.2): no SET, no integrated time; its time comes from an
    /// RFC 3161 timestamp (tiles-checkpoints-witnesses.md §6.4).
    pub fn is_rekor_v2(&self) -> bool {
        self.kind_version.version == arkivo_core::entries::v2::API_VERSION
            && self.inclusion_promise.is_none()
    }

    /// The bundle form of a v1 log entry: hex → bytes, the SET as inclusion promise, the
    /// checkpoint text as the checkpoint envelope.
    ///
    /// # Errors
    ///
    /// [`BundleError::Malformed`] when the entry's body, hashes or log ID do not decode.
    pub fn from_log_entry(entry: &LogEntry) -> Result<TransparencyLogEntry, BundleError> {
        let e = &entry.entry;
        let body = entry.body().map_err(malformed)?;
        let (kind, version) = arkivo_core::entries::kind_of_body(&body)
            .map_err(|err| malformed(format!("log entry body: {err}")))?;
        let hex_bytes = |h: &str, what: &str| {
            hex::decode(h).map_err(|_| malformed(format!("{what} is not hex")))
        };
        let p = &e.verification.inclusion_proof;
        Ok(TransparencyLogEntry {
            log_index: e.log_index,
            log_id: LogId {
                key_id: hex_bytes(&e.log_id, "logID")?,
            },
            kind_version: KindVersion {
                kind: kind.as_str().to_owned(),
                version: version.to_owned(),
            },
            integrated_time: u64::try_from(e.integrated_time)
                .map_err(|_| malformed("negative integratedTime"))?,
            inclusion_promise: Some(InclusionPromise {
                signed_entry_timestamp: B64
                    .decode(&e.verification.signed_entry_timestamp)
                    .map_err(|_| malformed("the SET is not base64"))?,
            }),
            inclusion_proof: Some(TlogInclusionProof {
                log_index: p.log_index,
                root_hash: hex_bytes(&p.root_hash, "rootHash")?,
                tree_size: p.tree_size,
                hashes: p
                    .hashes
                    .iter()
                    .map(|h| hex_bytes(h, "an inclusion proof hash"))
                    .collect::<Result<_, _>>()?,
                checkpoint: CheckpointEnvelope {
                    envelope: p.checkpoint.clone(),
                },
            }),
            canonicalized_body: body,
        })
    }

    /// The v1 log entry this stands for, for [`super::verify::verify_log_entry`]. Its UUID is
    /// the leaf hash (the bundle does not carry the tree ID).
    ///
    /// # Errors
    ///
    /// [`BundleError::Unsupported`] without an inclusion promise (SET) or inclusion proof: a
    /// Rekor v2 entry, or a v0.1 bundle without a proof.
    pub fn to_log_entry(&self) -> Result<LogEntry, BundleError> {
        let set = self.inclusion_promise.as_ref().ok_or_else(|| {
            BundleError::Unsupported(
                "the log entry has no inclusion promise (SET): not a Rekor v1 entry".into(),
            )
        })?;
        let p = self.inclusion_proof.as_ref().ok_or_else(|| {
            BundleError::Unsupported("the log entry has no inclusion proof".into())
        })?;
        let integrated_time = i64::try_from(self.integrated_time)
            .map_err(|_| malformed("integratedTime out of range"))?;
        Ok(LogEntry {
            uuid: arkivo_core::merkle::record_hash(&self.canonicalized_body).to_hex(),
            entry: LogEntryBody {
                body: B64.encode(&self.canonicalized_body),
                integrated_time,
                log_id: hex::encode(&self.log_id.key_id),
                log_index: self.log_index,
                verification: Verification {
                    inclusion_proof: InclusionProof {
                        checkpoint: p.checkpoint.envelope.clone(),
                        hashes: p.hashes.iter().map(hex::encode).collect(),
                        log_index: p.log_index,
                        root_hash: hex::encode(&p.root_hash),
                        tree_size: p.tree_size,
                    },
                    signed_entry_timestamp: B64.encode(&set.signed_entry_timestamp),
                },
            },
        })
    }
}

impl VerificationMaterial {
    /// The signer's material (a key's hint or the certificate), the one log entry and the
    /// RFC 3161 timestamps.
    fn new(
        signer: Material,
        entry: TransparencyLogEntry,
        timestamps: Vec<Vec<u8>>,
    ) -> VerificationMaterial {
        let (public_key, certificate) = match signer {
            Material::PublicKey(der) => (
                Some(PublicKeyIdentifier {
                    hint: public_key_hint(&der),
                }),
                None,
            ),
            Material::Certificate(der) => (None, Some(X509Certificate { raw_bytes: der })),
        };
        VerificationMaterial {
            public_key,
            certificate,
            x509_certificate_chain: None,
            tlog_entries: vec![entry],
            timestamp_verification_data: (!timestamps.is_empty()).then(|| {
                TimestampVerificationData {
                    rfc3161_timestamps: timestamps
                        .into_iter()
                        .map(|t| Rfc3161SignedTimestamp {
                            signed_timestamp: t,
                        })
                        .collect(),
                }
            }),
        }
    }
}

impl Bundle {
    /// A v0.3 bundle of a message signature: `digest` of the artifact (algorithm `algorithm`),
    /// the `signature` over it, the signer's material and the log entry that records them.
    ///
    /// # Errors
    ///
    /// As [`TransparencyLogEntry::from_log_entry`].
    pub fn for_message_signature(
        algorithm: HashAlg,
        digest: &[u8],
        signature: &[u8],
        signer: Material,
        entry: &LogEntry,
    ) -> Result<Bundle, BundleError> {
        let entry = TransparencyLogEntry::from_log_entry(entry)?;
        Ok(Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_owned(),
            verification_material: VerificationMaterial::new(signer, entry, Vec::new()),
            message_signature: Some(message_signature(algorithm, digest, signature)),
            dsse_envelope: None,
        })
    }

    /// A v0.3 bundle of a message signature recorded in a Rekor v2 log: as
    /// [`Bundle::for_message_signature`], with the log's answer (`entry`) as it came and the
    /// RFC 3161 `timestamp` (the TSA's `TimeStampResp`) over the signature that stands in for
    /// the integrated time a v2 entry lacks.
    pub fn for_message_signature_v2(
        algorithm: HashAlg,
        digest: &[u8],
        signature: &[u8],
        signer: Material,
        entry: TransparencyLogEntry,
        timestamp: Vec<u8>,
    ) -> Bundle {
        Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_owned(),
            verification_material: VerificationMaterial::new(signer, entry, vec![timestamp]),
            message_signature: Some(message_signature(algorithm, digest, signature)),
            dsse_envelope: None,
        }
    }

    /// A v0.3 bundle of a DSSE envelope (an attestation, or a cosign v3 image signature), the
    /// signer's material and the `dsse` log entry that records it.
    ///
    /// # Errors
    ///
    /// As [`TransparencyLogEntry::from_log_entry`].
    pub fn for_dsse_envelope(
        envelope: DsseEnvelope,
        signer: Material,
        entry: &LogEntry,
    ) -> Result<Bundle, BundleError> {
        Ok(Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_owned(),
            verification_material: VerificationMaterial::new(
                signer,
                TransparencyLogEntry::from_log_entry(entry)?,
                Vec::new(),
            ),
            message_signature: None,
            dsse_envelope: Some(envelope),
        })
    }

    /// [`Bundle::for_dsse_envelope`] for an envelope recorded in a Rekor v2 log (as
    /// [`Bundle::for_message_signature_v2`]: the log's answer as it came, and the RFC 3161
    /// `timestamp` over the envelope's signature).
    pub fn for_dsse_envelope_v2(
        envelope: DsseEnvelope,
        signer: Material,
        entry: TransparencyLogEntry,
        timestamp: Vec<u8>,
    ) -> Bundle {
        Bundle {
            media_type: BUNDLE_V03_MEDIA_TYPE.to_owned(),
            verification_material: VerificationMaterial::new(signer, entry, vec![timestamp]),
            message_signature: None,
            dsse_envelope: Some(envelope),
        }
    }

    /// Parses a bundle JSON document, checking its media type and shape.
    ///
    /// # Errors
    ///
    /// [`BundleError::Malformed`] for what is not a bundle, or names no signer or more than
    /// one.
    pub fn from_json(json: &[u8]) -> Result<Bundle, BundleError> {
        let bundle: Bundle = serde_json::from_slice(json).map_err(|e| malformed(e.to_string()))?;
        if !ACCEPTED_MEDIA_TYPES.contains(&bundle.media_type.as_str()) {
            return Err(malformed(format!("mediaType {:?}", bundle.media_type)));
        }
        let vm = &bundle.verification_material;
        let signers = [
            vm.public_key.is_some(),
            vm.certificate.is_some(),
            vm.x509_certificate_chain.is_some(),
        ];
        if signers.iter().filter(|s| **s).count() != 1 {
            return Err(malformed(
                "exactly one of publicKey, certificate and x509CertificateChain must be present",
            ));
        }
        if vm
            .x509_certificate_chain
            .as_ref()
            .is_some_and(|c| c.certificates.is_empty())
        {
            return Err(malformed("x509CertificateChain lists no certificate"));
        }
        if bundle.message_signature.is_some() == bundle.dsse_envelope.is_some() {
            return Err(malformed(
                "exactly one of messageSignature and dsseEnvelope must be present",
            ));
        }
        Ok(bundle)
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a bundle serializes");
        s.push('\n');
        s
    }

    /// The signer the bundle names: a key (by hint) or the signing certificate.
    pub fn signer(&self) -> BundleSigner<'_> {
        let vm = &self.verification_material;
        match (&vm.certificate, &vm.x509_certificate_chain) {
            (Some(c), _) => BundleSigner::Certificate(&c.raw_bytes),
            // from_json ensures a chain has a first certificate.
            (None, Some(chain)) => chain
                .certificates
                .first()
                .map_or(BundleSigner::PublicKey, |c| {
                    BundleSigner::Certificate(&c.raw_bytes)
                }),
            (None, None) => BundleSigner::PublicKey,
        }
    }

    /// The one transparency log entry, as the bundle carries it.
    ///
    /// # Errors
    ///
    /// [`BundleError`] unless there is exactly one.
    pub fn tlog_entry(&self) -> Result<&TransparencyLogEntry, BundleError> {
        match self.verification_material.tlog_entries.as_slice() {
            [one] => Ok(one),
            [] => Err(malformed("no transparency log entry")),
            more => Err(BundleError::Unsupported(format!(
                "{} transparency log entries; arkivo verifies bundles with one",
                more.len()
            ))),
        }
    }

    /// The one transparency log entry, as a v1 log entry.
    ///
    /// # Errors
    ///
    /// [`BundleError`] unless there is exactly one Rekor v1 entry with SET and proof.
    pub fn log_entry(&self) -> Result<LogEntry, BundleError> {
        self.tlog_entry()?.to_log_entry()
    }

    /// The RFC 3161 timestamps (DER `TimeStampResp`s) of `timestampVerificationData`.
    pub fn rfc3161_timestamps(&self) -> impl Iterator<Item = &[u8]> {
        self.verification_material
            .timestamp_verification_data
            .iter()
            .flat_map(|d| &d.rfc3161_timestamps)
            .map(|t| t.signed_timestamp.as_slice())
    }

    /// The message signature's digest algorithm, digest and signature.
    ///
    /// # Errors
    ///
    /// [`BundleError`] for a DSSE bundle or an unknown digest algorithm.
    pub fn message_signature(&self) -> Result<(HashAlg, &[u8], &[u8]), BundleError> {
        let m = self.message_signature.as_ref().ok_or_else(|| {
            BundleError::Unsupported("a DSSE bundle, not a message signature".into())
        })?;
        let alg = hash_algorithm_from_name(&m.message_digest.algorithm).ok_or_else(|| {
            BundleError::Unsupported(format!("digest algorithm {:?}", m.message_digest.algorithm))
        })?;
        if m.message_digest.digest.len() != alg.digest_len() {
            return Err(malformed("the message digest has the wrong length"));
        }
        Ok((alg, &m.message_digest.digest, &m.signature))
    }
}

/// proto3 JSON `int64`: written as a string, read from a string or a number.
mod int64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Int {
            S(String),
            N(u64),
        }
        match Int::deserialize(d)? {
            Int::N(n) => Ok(n),
            Int::S(s) => s
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an int64"))),
        }
    }
}

/// proto3 JSON `bytes`: standard padded base64.
mod b64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(&s)
            .map_err(|_| serde::de::Error::custom("bytes are not standard base64"))
    }
}

/// proto3 JSON `repeated bytes`.
mod b64_list {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde::ser::SerializeSeq as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&B64.encode(b))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                B64.decode(s)
                    .map_err(|_| serde::de::Error::custom("bytes are not standard base64"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// proto3 JSON as other writers emit it: int64 as numbers, an empty `hashes` omitted.
    #[test]
    fn reads_numbers_and_omitted_members_writes_strings() {
        let json = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2",
            "verificationMaterial": {
                "publicKey": {"hint": "h"},
                "tlogEntries": [{
                    "logIndex": 7, "logId": {"keyId": B64.encode([1u8; 32])},
                    "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                    "integratedTime": "1700000000",
                    "inclusionPromise": {"signedEntryTimestamp": "AAAA"},
                    "inclusionProof": {"logIndex": "7", "rootHash": B64.encode([2u8; 32]),
                                       "treeSize": 8, "checkpoint": {"envelope": "cp\n"}},
                    "canonicalizedBody": B64.encode(b"{}"),
                }],
                "timestampVerificationData": {},
            },
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256",
                                 "digest": B64.encode([3u8; 32])}, "signature": "AAAA"},
        });
        // A zero logIndex is left out (proto3 JSON's default), as sigstore-js writes it.
        let mut first = json.clone();
        let t = &mut first["verificationMaterial"]["tlogEntries"][0];
        t.as_object_mut().unwrap().remove("logIndex");
        t["inclusionProof"]
            .as_object_mut()
            .unwrap()
            .remove("logIndex");
        let entry = Bundle::from_json(first.to_string().as_bytes())
            .unwrap()
            .log_entry()
            .unwrap();
        assert_eq!(entry.entry.log_index, 0);
        assert_eq!(entry.entry.verification.inclusion_proof.log_index, 0);
        let b = Bundle::from_json(json.to_string().as_bytes()).unwrap();
        let entry = b.log_entry().unwrap();
        assert_eq!(entry.entry.log_index, 7);
        assert_eq!(entry.entry.integrated_time, 1_700_000_000);
        assert_eq!(entry.entry.log_id, hex::encode([1u8; 32]));
        assert!(entry.entry.verification.inclusion_proof.hashes.is_empty());
        assert_eq!(entry.uuid, arkivo_core::merkle::record_hash(b"{}").to_hex());
        let (alg, digest, _) = b.message_signature().unwrap();
        assert_eq!((alg, digest), (HashAlg::Sha256, &[3u8; 32][..]));
        let out: serde_json::Value = serde_json::from_str(&b.to_json()).unwrap();
        let t = &out["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(t["logIndex"], "7");
        assert_eq!(t["inclusionProof"]["treeSize"], "8");
        assert_eq!(t["inclusionProof"]["hashes"], serde_json::json!([]));

        assert_eq!(b.signer(), BundleSigner::PublicKey);

        // Keyless: the certificate (v0.3) or the chain (v0.1, v0.2), never beside a key.
        let mut two = json.clone();
        two["verificationMaterial"]["certificate"] = serde_json::json!({"rawBytes": "AAAA"});
        assert!(Bundle::from_json(two.to_string().as_bytes()).is_err());
        let mut keyless = two.clone();
        keyless["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("publicKey");
        let b = Bundle::from_json(keyless.to_string().as_bytes()).unwrap();
        assert_eq!(b.signer(), BundleSigner::Certificate(&[0, 0, 0]));
        let out: serde_json::Value = serde_json::from_str(&b.to_json()).unwrap();
        assert_eq!(
            out["verificationMaterial"]["certificate"],
            serde_json::json!({"rawBytes": "AAAA"})
        );
        let mut chain = keyless.clone();
        let vm = chain["verificationMaterial"].as_object_mut().unwrap();
        vm.remove("certificate");
        vm.insert(
            "x509CertificateChain".into(),
            serde_json::json!({"certificates": [{"rawBytes": "AQID"}, {"rawBytes": "AAAA"}]}),
        );
        let b = Bundle::from_json(chain.to_string().as_bytes()).unwrap();
        assert_eq!(b.signer(), BundleSigner::Certificate(&[1, 2, 3]));
        chain["verificationMaterial"]["x509CertificateChain"]["certificates"] =
            serde_json::json!([]);
        assert!(Bundle::from_json(chain.to_string().as_bytes()).is_err());
        let mut both = json;
        both["dsseEnvelope"] =
            serde_json::json!({"payload": "", "payloadType": "t", "signatures": []});
        assert!(Bundle::from_json(both.to_string().as_bytes()).is_err());
    }
}
