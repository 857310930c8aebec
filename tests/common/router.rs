//! The HTTP API through the real router (no socket), over the in-memory store.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tower::ServiceExt;

use arkivo_core::merkle::{self, Hash};
use arkivo_core::signer::LogKeys;
use arkivo_core::wire::LogEntry;
use arkivo_server::api::{AppState, service};
use arkivo_server::log::{LogIdentity, create_log};
use arkivo_server::sequencer::{self, SequencerConfig, Shard};
use arkivo_server::storage::memory::MemoryStore;

/// A log on the in-memory store behind the real router.
pub struct Api {
    pub state: AppState,
    /// The log's first shard.
    pub store: Arc<MemoryStore>,
    pub identity: Arc<LogIdentity>,
}

/// A fresh log named `127.0.0.1:3000`, served at `http://127.0.0.1:3000`.
pub fn api() -> Api {
    let store = Arc::new(MemoryStore::new());
    let identity =
        Arc::new(create_log(store.as_ref(), "127.0.0.1:3000", LogKeys::generate()).unwrap());
    api_on(store, identity)
}

/// A server over a log already in `store`: a new sequencer and server state, as after a
/// restart.
pub fn api_on(store: Arc<MemoryStore>, identity: Arc<LogIdentity>) -> Api {
    let active = Shard {
        store: store.clone(),
        identity: identity.clone(),
    };
    let (sequencer, _thread) = sequencer::start(
        active,
        Vec::new(),
        SequencerConfig {
            max_batch: 64,
            max_batch_age: Duration::from_millis(1),
            inbox_capacity: 256,
        },
    )
    .unwrap();
    Api {
        state: AppState::new(sequencer, "http://127.0.0.1:3000".into()),
        store,
        identity,
    }
}

/// A response, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    /// Asserts the answer's status, showing the body when it is another.
    pub fn assert_status(&self, status: StatusCode) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    /// Rekor's error body: `{"code":N,"message":"..."}` + "\n".
    pub fn error(&self) -> (u64, String) {
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert!(self.body.ends_with(b"}\n"));
        let j = self.json();
        (
            j["code"].as_u64().unwrap(),
            j["message"].as_str().unwrap().to_owned(),
        )
    }
}

impl Api {
    pub async fn call(&self, method: &str, uri: &str, body: impl Into<Body>) -> Answer {
        self.call_with(method, uri, body, &[]).await
    }
    /// A request with extra headers.
    pub async fn call_with(
        &self,
        method: &str,
        uri: &str,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = service(self.state.clone())
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }
    pub async fn get(&self, uri: &str) -> Answer {
        self.call("GET", uri, Body::empty()).await
    }
    pub async fn post(&self, uri: &str, json: &serde_json::Value) -> Answer {
        self.call("POST", uri, serde_json::to_vec(json).unwrap())
            .await
    }
}

/// Checks a LogEntry answer against the log's key and returns (entry ID, index, body bytes).
pub fn check_log_entry(api: &Api, a: &Answer) -> (String, u64, Vec<u8>) {
    check_entry_of(&api.identity, 0, a)
}

/// Checks a LogEntry answer of the shard `shard` whose first entry has virtual index `offset`
/// (rekor-v1-api.md §9): the entry ID names the shard's tree, the SET and checkpoint verify
/// with its key, the top-level index is virtual and the proof's is in the shard. Returns (entry
/// ID, virtual index, body bytes).
pub fn check_entry_of(shard: &LogIdentity, offset: u64, a: &Answer) -> (String, u64, Vec<u8>) {
    let text = std::str::from_utf8(&a.body).unwrap();
    // sigstore-rs slices the raw text: `{"<80 hex>":{` ... `}}\n` (§1.3).
    assert!(text.starts_with("{\""), "{text}");
    assert_eq!(&text[82..85], "\":{");
    assert!(text.ends_with("}}\n") && !text.ends_with("\n\n"));
    assert!(!text[..text.len() - 1].contains('\n') || text.contains("\\n"));
    let entry: LogEntry = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(entry.len(), 1);
    let (id, e) = entry.into_iter().next().unwrap();
    assert_eq!(id, text[2..82]);
    let body = B64.decode(&e.body).unwrap();
    let leaf = merkle::record_hash(&body);
    assert_eq!(id, shard.entry_id(&leaf));
    let keys = &shard.keys;
    assert_eq!(e.log_id, keys.log_id_hex());
    // SET over {body, integratedTime, logID, logIndex} (§4).
    let set = B64.decode(&e.verification.signed_entry_timestamp).unwrap();
    assert!(arkivo_core::signer::verify_set(
        keys.ecdsa_verifying_key(),
        &e.body,
        e.integrated_time,
        &e.log_id,
        e.log_index,
        &set
    ));
    // Inclusion proof against the checkpoint, which verifies with the log key.
    let p = &e.verification.inclusion_proof;
    let cp = arkivo_core::checkpoint::verify_v1(
        &p.checkpoint,
        keys.ecdsa_verifying_key(),
        &shard.meta.hostname,
    )
    .unwrap();
    assert_eq!(cp.origin, shard.v1_origin());
    assert_eq!(
        (cp.size, cp.root.to_hex()),
        (p.tree_size, p.root_hash.clone())
    );
    let proof: Vec<Hash> = p
        .hashes
        .iter()
        .map(|h| Hash::from_hex(h).unwrap())
        .collect();
    merkle::verify_inclusion(p.log_index, p.tree_size, &leaf, &proof, &cp.root).unwrap();
    assert_eq!(e.log_index, offset + p.log_index);
    (id, e.log_index, body)
}
