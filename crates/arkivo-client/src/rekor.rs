//! A small Rekor v1 client (rekor-v1-api.md §3): create `hashedrekord` and `dsse` entries, read
//! entries by index or entry ID, search the index, read the log info, consistency proofs, the
//! public key and the trusted root; and the Rekor v2 write and the RFC 3161 timestamp a Rekor v2
//! bundle needs.
//!
//! Every response is parsed with the shapes of [`arkivo_core::wire`], which the server writes with.
//! Nothing here verifies anything: [`super::verify`] does, offline.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::bundle::TransparencyLogEntry;
use arkivo_core::entries::pki::HashAlg;
use arkivo_core::wire::{self, ConsistencyProof, LogEntryBody, LogInfo, SearchIndex};

/// A whole request, connection to last byte: a create waits for its batch to be durable, which
/// takes milliseconds; 30 s is sigstore-go's default.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read (a log entry is a few KiB; a trusted root a few KiB too).
const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// A log entry as the v1 API returns it (§4): the entry ID and the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The 80-hex entry ID (`hex16(treeID) ‖ leaf hash`), or the 64-hex leaf hash alone for an
    /// entry rebuilt from a bundle, which does not carry the tree ID.
    pub uuid: String,
    /// `body`, `integratedTime`, `logID`, `logIndex`, `verification` (inclusion proof with
    /// checkpoint, SET).
    pub entry: LogEntryBody,
}

/// cosign's "Rekor bundle" (`RekorBundle` in cosign's `pkg/cosign/bundle/rekor.go`), the
/// `dev.sigstore.cosign/bundle` annotation of a signature layer (cosign-oci-storage.md §2). Go's
/// default JSON names: the outer keys capitalised, the inner ones not; members in Go's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorBundle {
    /// Base64 SET.
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    pub payload: RekorBundlePayload,
}

/// The four members the SET signs (rekor-v1-api.md §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorBundlePayload {
    /// Base64 of the canonical body.
    pub body: String,
    #[serde(rename = "integratedTime")]
    pub integrated_time: i64,
    #[serde(rename = "logIndex")]
    pub log_index: u64,
    /// Hex log ID.
    #[serde(rename = "logID")]
    pub log_id: String,
}

impl LogEntry {
    /// The one entry of a v1 `{"<entry ID>": {...}}` map.
    ///
    /// # Errors
    ///
    /// A message when the map does not have exactly one member.
    pub fn from_map(map: wire::LogEntry) -> Result<LogEntry, String> {
        let mut it = map.into_iter();
        match (it.next(), it.next()) {
            (Some((uuid, entry)), None) => Ok(LogEntry { uuid, entry }),
            _ => Err("a log entry response must hold exactly one entry".into()),
        }
    }

    /// The v1 `{"<entry ID>": {...}}` map (what `arkivo log get --output json` prints).
    pub fn to_map(&self) -> wire::LogEntry {
        wire::LogEntry::from([(self.uuid.clone(), self.entry.clone())])
    }

    /// The canonical body: the leaf bytes.
    ///
    /// # Errors
    ///
    /// A message when `body` is not base64.
    pub fn body(&self) -> Result<Vec<u8>, String> {
        B64.decode(&self.entry.body)
            .map_err(|_| "the entry body is not base64".to_owned())
    }

    /// cosign's Rekor bundle annotation for this entry (no inclusion proof: cosign's legacy
    /// layout has none).
    pub fn rekor_bundle(&self) -> RekorBundle {
        RekorBundle {
            signed_entry_timestamp: self.entry.verification.signed_entry_timestamp.clone(),
            payload: RekorBundlePayload {
                body: self.entry.body.clone(),
                integrated_time: self.entry.integrated_time,
                log_index: self.entry.log_index,
                log_id: self.entry.log_id.clone(),
            },
        }
    }
}

/// Why a call to the log failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0:?} is not an http:// or https:// URL of a Rekor log")]
    InvalidUrl(String),
    #[error(
        "cannot reach the log at {url}: {reason}; check the URL (--rekor-url or ARKIVO_REKOR_URL) and that the log is running"
    )]
    Unreachable { url: String, reason: String },
    /// The log answered with an error status; `message` is its error body's message.
    #[error("the log at {url} answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "the log at {url} sent a response that is not what the Rekor v1 API specifies: {detail}"
    )]
    Malformed { url: String, detail: String },
}

impl ClientError {
    /// Did the log answer 404 (no such entry)?
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Status { status: 404, .. })
    }

    /// Is this the log's (or the network's) fault rather than the request's: unreachable,
    /// 5xx, 429, or a malformed answer?
    pub fn is_log_failure(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } | ClientError::Malformed { .. } => true,
            ClientError::Status { status, .. } => *status >= 500 || *status == 429,
            ClientError::InvalidUrl(_) => false,
        }
    }
}

/// What `POST /api/v1/index/retrieve` answered.
#[derive(Clone, Debug)]
pub struct SearchAnswer {
    pub uuids: Vec<String>,
    /// `Some(n)`: the log holds more matches than these, its newest `n`
    /// ([`wire::SEARCH_TRUNCATED_HEADER`]).
    pub truncated: Option<u64>,
}

/// A client of one Rekor v1 log.
#[derive(Clone, Debug)]
pub struct RekorClient {
    base: String,
    http: reqwest::Client,
    /// `Bearer <token>`, marked sensitive so that it is never shown in debug output.
    write_token: Option<reqwest::header::HeaderValue>,
}

impl RekorClient {
    /// A client of the log at `url` (e.g. `http://127.0.0.1:3000`; a trailing `/` is ignored).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUrl`] unless `url` is an http(s) URL without query or fragment.
    pub fn new(url: &str) -> Result<RekorClient, ClientError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|_| ClientError::InvalidUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(ClientError::InvalidUrl(url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("arkivo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(RekorClient {
            base: url.trim_end_matches('/').to_owned(),
            http,
            write_token: None,
        })
    }

    /// This client, sending `token` as `Authorization: Bearer` with new entries (the log's
    /// `--write-tokens`); `None` if it cannot be a header value.
    pub fn with_write_token(mut self, token: &str) -> Option<RekorClient> {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
        value.set_sensitive(true);
        self.write_token = Some(value);
        Some(self)
    }

    /// The log's base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `POST /api/v1/log/entries` with a proposed entry (§3.1). An entry already in the log
    /// (409) is fetched through the `Location` the log names, as sigstore-js's
    /// `fetchOnConflict` does, so recording the same signature twice is not an error.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; the log's refusal (400/422) is a [`ClientError::Status`] with its message.
    pub async fn create_entry(
        &self,
        proposed: &serde_json::Value,
    ) -> Result<LogEntry, ClientError> {
        let url = format!("{}/api/v1/log/entries", self.base);
        let mut req = self.http.post(&url).json(proposed);
        if let Some(token) = &self.write_token {
            req = req.header(reqwest::header::AUTHORIZATION, token.clone());
        }
        let res = req.send().await.map_err(|e| unreachable(&url, &e))?;
        if res.status() == reqwest::StatusCode::CONFLICT {
            let existing = res
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.rsplit('/').next())
                .map(str::to_owned);
            return match existing {
                Some(id) => self.get_by_uuid(&id).await,
                None => Err(malformed(&url, "409 without a Location header")),
            };
        }
        let map: wire::LogEntry = read_json(&url, res).await?;
        LogEntry::from_map(map).map_err(|e| malformed(&url, &e))
    }

    /// `POST /api/v2/log/entries` with a Rekor v2 `CreateEntryRequest`
    /// (tiles-checkpoints-witnesses.md §6.1–6.5): the entry as a bundle carries it, with its
    /// inclusion proof and the C2SP checkpoint the proof leads to. Rekor v2 answers an entry
    /// already in the log with 409 and no way to fetch it: that is an error here.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; the log's refusal (400, 409) is a [`ClientError::Status`] with its
    /// message.
    pub async fn create_entry_v2(
        &self,
        request: &serde_json::Value,
    ) -> Result<TransparencyLogEntry, ClientError> {
        let url = format!("{}/api/v2/log/entries", self.base);
        let mut req = self.http.post(&url).json(request);
        if let Some(token) = &self.write_token {
            req = req.header(reqwest::header::AUTHORIZATION, token.clone());
        }
        let res = req.send().await.map_err(|e| unreachable(&url, &e))?;
        read_json(&url, res).await
    }

    /// `POST` of a DER `TimeStampReq` to the RFC 3161 timestamp authority at `url`
    /// (sigstore-services.md §3; Arkivo's is `/api/v1/timestamp`, behind the write token like
    /// the log's writes): the DER `TimeStampResp`.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; the TSA's refusal is a [`ClientError::Status`] with its message.
    pub async fn timestamp(&self, url: &str, request: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
            .body(request);
        if let Some(token) = &self.write_token {
            req = req.header(reqwest::header::AUTHORIZATION, token.clone());
        }
        let res = req.send().await.map_err(|e| unreachable(url, &e))?;
        read_body(url, res).await
    }

    /// `POST /api/v2/signingCert` of the certificate authority at this client's URL (Fulcio's
    /// v2 API, sigstore-services.md §4; Arkivo serves it beside the log): the certificate chain
    /// for the key of `request`, PEM, leaf first.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; the CA's refusal is a [`ClientError::Status`] with its message.
    pub async fn signing_certificate(
        &self,
        request: &serde_json::Value,
    ) -> Result<Vec<String>, ClientError> {
        let url = format!("{}/api/v2/signingCert", self.base);
        let res = self
            .http
            .post(&url)
            .json(request)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        let answer: arkivo_core::ca::SigningCertResponse = read_json(&url, res).await?;
        Ok(answer.signed_certificate_embedded_sct.chain.certificates)
    }

    /// Records a signature over a digest (`hashedrekord` v0.0.1, §5.1).
    ///
    /// # Errors
    ///
    /// As [`RekorClient::create_entry`].
    pub async fn create_hashedrekord(
        &self,
        algorithm: HashAlg,
        digest: &[u8],
        signature: &[u8],
        public_key_pem: &str,
    ) -> Result<LogEntry, ClientError> {
        let proposed = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": algorithm.name(), "value": hex::encode(digest)}},
                "signature": {
                    "content": B64.encode(signature),
                    "publicKey": {"content": B64.encode(public_key_pem)},
                },
            },
        });
        self.create_entry(&proposed).await
    }

    /// Records a DSSE envelope (`dsse` v0.0.1, §6.1). `envelope_json` is sent verbatim: its
    /// exact bytes are what `envelopeHash` covers (§6.3).
    ///
    /// # Errors
    ///
    /// As [`RekorClient::create_entry`].
    pub async fn create_dsse(
        &self,
        envelope_json: &str,
        public_key_pem: &str,
    ) -> Result<LogEntry, ClientError> {
        let proposed = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {"proposedContent": {
                "envelope": envelope_json,
                "verifiers": [B64.encode(public_key_pem)],
            }},
        });
        self.create_entry(&proposed).await
    }

    /// `GET /api/v1/log/entries?logIndex=` (§3.2).
    ///
    /// # Errors
    ///
    /// [`ClientError`]; 404 ([`ClientError::is_not_found`]) for an index beyond the log.
    pub async fn get_by_index(&self, index: u64) -> Result<LogEntry, ClientError> {
        self.get_entry(format!("{}/api/v1/log/entries?logIndex={index}", self.base))
            .await
    }

    /// `GET /api/v1/log/entries/{entryUUID}` (§3.3): 64-hex leaf hash or 80-hex entry ID.
    ///
    /// # Errors
    ///
    /// [`ClientError`]; 404 for an unknown entry.
    pub async fn get_by_uuid(&self, uuid: &str) -> Result<LogEntry, ClientError> {
        if !matches!(uuid.len(), 64 | 80) || !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Status {
                url: self.base.clone(),
                status: 422,
                message: format!("{uuid:?} is not a 64- or 80-hex entry UUID"),
            });
        }
        self.get_entry(format!("{}/api/v1/log/entries/{uuid}", self.base))
            .await
    }

    async fn get_entry(&self, url: String) -> Result<LogEntry, ClientError> {
        let map: wire::LogEntry = self.get_json(&url).await?;
        LogEntry::from_map(map).map_err(|e| malformed(&url, &e))
    }

    /// `POST /api/v1/index/retrieve` (§3.8): entry IDs (newest first from Arkivo, unordered
    /// from upstream Rekor), and whether the log said it cut the answer.
    ///
    /// # Errors
    ///
    /// [`ClientError`].
    pub async fn search_index(&self, query: &SearchIndex) -> Result<SearchAnswer, ClientError> {
        let url = format!("{}/api/v1/index/retrieve", self.base);
        let res = self
            .http
            .post(&url)
            .json(query)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        let truncated = res
            .headers()
            .get(wire::SEARCH_TRUNCATED_HEADER)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        Ok(SearchAnswer {
            uuids: read_json(&url, res).await?,
            truncated,
        })
    }

    /// `GET /api/v1/log` (§3.5).
    ///
    /// # Errors
    ///
    /// [`ClientError`].
    pub async fn log_info(&self) -> Result<LogInfo, ClientError> {
        self.get_json(&format!("{}/api/v1/log", self.base)).await
    }

    /// `GET /api/v1/log/proof?firstSize=&lastSize=[&treeID=]` (§3.7), in the tree `tree_id`
    /// (decimal) names: the active one when `None`.
    ///
    /// # Errors
    ///
    /// [`ClientError`].
    pub async fn consistency_proof(
        &self,
        first_size: u64,
        last_size: u64,
        tree_id: Option<&str>,
    ) -> Result<ConsistencyProof, ClientError> {
        let tree = tree_id
            .map(|id| format!("&treeID={id}"))
            .unwrap_or_default();
        self.get_json(&format!(
            "{}/api/v1/log/proof?firstSize={first_size}&lastSize={last_size}{tree}",
            self.base
        ))
        .await
    }

    /// `GET url`: the body of a successful answer (a checkpoint, a tile), bounded.
    ///
    /// # Errors
    ///
    /// [`ClientError`].
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        let res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(url, &e))?;
        read_body(url, res).await
    }

    /// `GET /api/v1/log/publicKey[?treeID=]` (§3.6): the public key PEM of the tree `tree_id`
    /// (decimal) names, the active one when `None`.
    ///
    /// # Errors
    ///
    /// [`ClientError`].
    pub async fn public_key(&self, tree_id: Option<&str>) -> Result<String, ClientError> {
        let tree = tree_id
            .map(|id| format!("?treeID={id}"))
            .unwrap_or_default();
        let url = format!("{}/api/v1/log/publicKey{tree}", self.base);
        let bytes = self.get(&url).await?;
        String::from_utf8(bytes).map_err(|_| malformed(&url, "the public key is not text"))
    }

    /// `GET /api/v1/log/trustedRoot`: the Sigstore TrustedRoot that lists this log
    /// (tiles-checkpoints-witnesses.md §7.4), as JSON.
    ///
    /// # Errors
    ///
    /// [`ClientError`].
    pub async fn trusted_root(&self) -> Result<serde_json::Value, ClientError> {
        self.get_json(&format!("{}/api/v1/log/trustedRoot", self.base))
            .await
    }

    /// `GET /api/v1/log/signingConfig`: the Sigstore SigningConfig v0.2 of the server (where
    /// clients get certificates and timestamps and record entries; sigstore-services.md §1).
    ///
    /// # Errors
    ///
    /// [`ClientError`]; a log that serves none answers 404.
    pub async fn signing_config(&self) -> Result<wire::SigningConfig, ClientError> {
        self.get_json(&format!("{}/api/v1/log/signingConfig", self.base))
            .await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ClientError> {
        let res = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(url, &e))?;
        read_json(url, res).await
    }
}

pub(crate) fn unreachable(url: &str, e: &reqwest::Error) -> ClientError {
    // reqwest's Display is terse ("error sending request"); the source says why.
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    ClientError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

fn malformed(url: &str, detail: &str) -> ClientError {
    ClientError::Malformed {
        url: url.to_owned(),
        detail: detail.to_owned(),
    }
}

/// The body of a successful response, bounded; an error status becomes
/// [`ClientError::Status`] with the message of the error body (§1.4) when there is one.
async fn read_body(url: &str, mut res: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    let status = res.status();
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| unreachable(url, &e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(malformed(
                url,
                &format!("response larger than {} MiB", MAX_RESPONSE_BYTES >> 20),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    if status.is_success() {
        return Ok(body);
    }
    let message = serde_json::from_slice::<wire::ErrorBody>(&body)
        .map(|e| e.message)
        .unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                text.chars().take(300).collect()
            }
        });
    Err(ClientError::Status {
        url: url.to_owned(),
        status: status.as_u16(),
        message,
    })
}

pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    url: &str,
    res: reqwest::Response,
) -> Result<T, ClientError> {
    let body = read_body(url, res).await?;
    serde_json::from_slice(&body).map_err(|e| malformed(url, &e.to_string()))
}
