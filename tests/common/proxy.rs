//! A proxy on a real loopback socket in front of a test server, standing for a hostile log or
//! anyone on the path: it forwards every request and lets the test rewrite answers.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Rewrites the answer body of a request to `path` (the path and query), or returns `None` to
/// pass it through.
pub type Rewrite = dyn Fn(&str, &[u8]) -> Option<Vec<u8>> + Send + Sync;

struct Inner {
    upstream: String,
    rewrite: Box<Rewrite>,
    http: reqwest::Client,
}

pub struct Proxy {
    port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (a base URL) on its own thread; it stops when dropped.
    pub fn start(
        upstream: &str,
        rewrite: impl Fn(&str, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Proxy {
        let inner = Arc::new(Inner {
            upstream: upstream.to_owned(),
            rewrite: Box::new(rewrite),
            http: reqwest::Client::new(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(forward).with_state(inner);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Proxy { port, _stop: stop }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A damage done to a log entry (the value under its UUID) on the way.
pub type Tamper = fn(&mut serde_json::Value);

/// The ways a log on the path can make an entry's proofs up, each named: its SET, its inclusion
/// proof, its checkpoint.
pub const ENTRY_TAMPERS: [(&str, Tamper); 3] = [
    ("SET", |e| {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD as B64;
        let set = &mut e["verification"]["signedEntryTimestamp"];
        let mut der = B64.decode(set.as_str().unwrap()).unwrap();
        let last = der.len() - 1;
        der[last] ^= 1;
        *set = B64.encode(der).into();
    }),
    ("inclusion proof", |e| {
        let hashes = e["verification"]["inclusionProof"]["hashes"]
            .as_array_mut()
            .unwrap();
        hashes[0] = "00".repeat(32).into();
    }),
    ("checkpoint", |e| {
        let proof = &mut e["verification"]["inclusionProof"];
        let cp = proof["checkpoint"].as_str().unwrap();
        let mut lines: Vec<String> = cp.lines().map(str::to_owned).collect();
        lines[1] = (lines[1].parse::<u64>().unwrap() + 1).to_string();
        proof["checkpoint"] = format!("{}\n", lines.join("\n")).into();
    }),
];

impl Proxy {
    /// A proxy to `upstream` that applies `tamper` to every log entry it answers with: a new
    /// entry, or the existing one a client fetches after a 409.
    pub fn tampering_entries(upstream: &str, tamper: Tamper) -> Proxy {
        Proxy::start(upstream, move |path, body| {
            if !path.starts_with("/api/v1/log/entries") {
                return None;
            }
            let mut answer: serde_json::Value = serde_json::from_slice(body).ok()?;
            if answer.get("code").is_some() {
                return None;
            }
            for entry in answer.as_object_mut()?.values_mut() {
                tamper(entry);
            }
            Some(serde_json::to_vec(&answer).unwrap())
        })
    }
}

async fn forward(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let mut headers = HeaderMap::new();
    for name in ["content-type", "accept", "authorization"] {
        if let Some(v) = parts.headers.get(name) {
            headers.insert(name, v.clone());
        }
    }
    let answer = inner
        .http
        .request(parts.method, format!("{}{path}", inner.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let kept: Vec<_> = ["content-type", "location", "www-authenticate"]
        .into_iter()
        .filter_map(|name| Some((name, answer.headers().get(name)?.clone())))
        .collect();
    let bytes: Bytes = answer.bytes().await.unwrap();
    let bytes = (inner.rewrite)(&path, &bytes).map_or(bytes, Bytes::from);
    let mut res = (status, Body::from(bytes)).into_response();
    for (name, value) in kept {
        res.headers_mut().insert(name, value);
    }
    res
}
