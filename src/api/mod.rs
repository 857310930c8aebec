//! The HTTP surface: the Rekor v1 REST API (rekor-v1-api.md §3) and operational routes.
//!
//! Handlers parse and bound the request, do CPU-bound work (signature verification, proofs,
//! signing) on the blocking pool so the async threads keep serving, and reach storage only
//! through [`LogStore`] reads and the sequencer handle.

mod error;
mod observe;
pub mod server;
mod v1;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::Layer;
use tower_http::cors::CorsLayer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;

use crate::limits::{MAX_REQUEST_BODY_BYTES, MAX_REQUESTS_IN_FLIGHT};
use crate::log::LogIdentity;
use crate::sequencer::SequencerHandle;
use crate::storage::LogStore;

/// Longest a request may take end to end, including waiting for its batch to be durable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn LogStore>,
    pub identity: Arc<LogIdentity>,
    pub sequencer: SequencerHandle,
    /// The URL clients reach the log at (the trusted root's `baseUrl`).
    pub public_url: String,
    /// When set, every write needs one of these bearer tokens.
    pub write_tokens: Option<Arc<crate::auth::WriteTokens>>,
    /// When set, each client's requests are limited to a rate (429 beyond it).
    rate_limiter: Option<Arc<crate::ratelimit::RateLimiter>>,
    /// Most requests handled at once; further ones get 503 at once.
    max_requests_in_flight: usize,
    /// One thread per core for the CPU-bound work of requests (verification, proofs, signing).
    cpu: Arc<rayon::ThreadPool>,
    /// Signed entry timestamps by log index. A SET covers only what never changes for an
    /// index (body, integrated time, log ID, index), so it can be served again instead of
    /// signed again (rekor-v1-api.md §4: "caching is fine"); signing was 14 µs of every read.
    sets: Arc<quick_cache::sync::Cache<u64, Arc<[u8]>>>,
}

/// SETs kept in memory: about 100 bytes each, so about 10 MB.
const SET_CACHE_ENTRIES: usize = 100_000;

impl AppState {
    pub fn new(
        store: Arc<dyn LogStore>,
        identity: Arc<LogIdentity>,
        sequencer: SequencerHandle,
        public_url: String,
    ) -> Self {
        let cpu = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("arkivo-cpu-{i}"))
            .build()
            .expect("starting the CPU worker threads");
        AppState {
            store,
            identity,
            sequencer,
            public_url,
            write_tokens: None,
            rate_limiter: None,
            max_requests_in_flight: MAX_REQUESTS_IN_FLIGHT,
            cpu: Arc::new(cpu),
            sets: Arc::new(quick_cache::sync::Cache::new(SET_CACHE_ENTRIES)),
        }
    }

    /// The SET of the entry at `index`, from the cache or freshly signed.
    fn signed_entry_timestamp(
        &self,
        index: u64,
        body_b64: &str,
        integrated_time: i64,
        log_id_hex: &str,
    ) -> Arc<[u8]> {
        if let Some(set) = self.sets.get(&index) {
            return set;
        }
        let set: Arc<[u8]> = self
            .identity
            .keys
            .sign_set(body_b64, integrated_time, log_id_hex, index)
            .into();
        self.sets.insert(index, set.clone());
        set
    }

    /// Requires one of `tokens` for every write.
    #[must_use]
    pub fn with_write_tokens(mut self, tokens: crate::auth::WriteTokens) -> Self {
        self.write_tokens = Some(Arc::new(tokens));
        self
    }

    /// Limits each client (IP address, IPv6 /64) to `per_second` requests a second on average,
    /// with bursts of up to `burst`.
    #[must_use]
    pub fn with_rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.rate_limiter = Some(Arc::new(crate::ratelimit::RateLimiter::new(
            per_second, burst,
        )));
        self
    }

    /// Handles at most `n` requests at once (default [`MAX_REQUESTS_IN_FLIGHT`]).
    #[must_use]
    pub fn with_max_requests_in_flight(mut self, n: usize) -> Self {
        self.max_requests_in_flight = n;
        self
    }

    /// 401 without a bearer token, 403 with one that is not accepted; Ok when writes are open.
    fn authorize_write(&self, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
        let Some(tokens) = &self.write_tokens else {
            return Ok(());
        };
        let auth = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        tokens.check(auth).map_err(|e| match e {
            crate::auth::AuthError::Missing => ApiError {
                www_authenticate: true,
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "writes to this log need an Authorization: Bearer token",
                )
            },
            crate::auth::AuthError::Refused => ApiError::new(
                StatusCode::FORBIDDEN,
                "this token may not write to this log",
            ),
        })
    }

    /// Runs CPU-bound work (and the short storage reads around it) on the CPU pool, so that
    /// the async threads keep serving. A bounded pool, unlike `spawn_blocking`'s, keeps the
    /// number of runnable threads at the number of cores: measured, it spends far less time
    /// switching between threads under load.
    async fn cpu<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cpu.spawn(move || drop(tx.send(f())));
        rx.await
            .unwrap_or_else(|_| Err(ApiError::internal(&"a CPU worker panicked")))
    }
}

/// The whole HTTP service: [`router`] behind trailing-slash normalization, which has to run
/// before routing (§1.1: sigstore-python posts to `/api/v1/log/entries/retrieve/`).
pub fn service(state: AppState) -> NormalizePath<Router> {
    NormalizePathLayer::trim_trailing_slash().layer(router(state))
}

/// Every route, with body limit, CORS, timeouts, the per-client rate limit (not on the health
/// probes and metrics), the global limit on requests in flight, request IDs and HTTP metrics.
pub fn router(state: AppState) -> Router {
    let in_flight = state.max_requests_in_flight;
    let routes = Router::new()
        .route(
            "/api/v1/log/entries",
            post(v1::create_entry).get(v1::get_entry_by_index),
        )
        .route("/api/v1/log/entries/retrieve", post(v1::retrieve_entries))
        .route(
            "/api/v1/log/entries/{entry_uuid}",
            get(v1::get_entry_by_uuid),
        )
        .route("/api/v1/log", get(v1::log_info))
        .route("/api/v1/log/publicKey", get(v1::public_key))
        .route("/api/v1/log/proof", get(v1::log_proof))
        .route("/api/v1/log/trustedRoot", get(v1::trusted_root))
        .route("/api/v1/index/retrieve", post(v1::search_index))
        .route(
            "/ping",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], ".") }),
        )
        // Health probes and metrics are neither rate limited nor shed: an orchestrator must
        // see a busy server as alive, and a busy server is when its metrics matter.
        .route_layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(
                    move |_: tower::BoxError| async move {
                        ApiError {
                            retry_after: Some(1),
                            ..ApiError::new(
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!(
                                    "the server is handling its limit of {in_flight} requests; \
                                     retry shortly"
                                ),
                            )
                        }
                    },
                ))
                .load_shed()
                // Global: one semaphore for every route (a plain concurrency limit would give
                // each route its own).
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(in_flight)),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit,
        ))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(observe::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .layer(CorsLayer::permissive())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    observe::instrument(routes).with_state(state)
}

/// 429 with `Retry-After` for a client over its rate. The client's address is the connection's
/// peer, which the accept loop puts in every request ([`server::serve`]).
async fn rate_limit(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    if let (Some(limiter), Some(peer)) = (&st.rate_limiter, peer)
        && let Err(crate::ratelimit::RetryAfter(wait)) =
            limiter.check(peer.0.ip(), std::time::Instant::now())
    {
        let secs = u32::try_from(wait.as_secs_f64().ceil() as u64).unwrap_or(u32::MAX);
        return ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many requests from {}: retry after {secs} s",
                    peer.0.ip()
                ),
            )
        }
        .into_response();
    }
    next.run(req).await
}

/// Ready only while the sequencer can commit.
async fn readyz(axum::extract::State(st): axum::extract::State<AppState>) -> Response {
    match st.sequencer.published().stopped() {
        None => "ready\n".into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

/// The `NoCache` headers upstream puts on its GET routes (§1.5).
fn no_cache(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private, max-age=0"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::EXPIRES,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 UTC"),
    );
    h.insert("x-accel-expires", HeaderValue::from_static("0"));
    res
}

/// A JSON answer in upstream's byte layout (compact, one trailing newline).
fn json_line(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
