//! The HTTP surface: the Rekor v1 REST API (rekor-v1-api.md §3), the Rekor v2 write API
//! (tiles-checkpoints-witnesses.md §6), the C2SP tlog-tiles read API (§4) and operational routes. Both
//! write APIs append to the same tree through the same sequencer ([`AppState::write`]).
//!
//! Handlers parse and bound the request, do CPU-bound work (signature verification, proofs,
//! signing) on the blocking pool so the async threads keep serving, and reach storage only
//! through [`LogStore`] reads and the sequencer handle.

pub mod cache;
mod error;
mod explorer;
mod fulcio;
mod observe;
pub mod server;
pub(crate) mod tiles;
mod tsa;
mod tuf;
pub(crate) mod v1;
mod v2;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{self, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use tsa::signing_config_json;
pub use v1::trusted_root_json;

use crate::log::LogIdentity;
use crate::sequencer::{Leaf, SequenceError, Sequenced, SequencerHandle, View};
use crate::storage::NewEntry;
use crate::witness::client::Cosignatures;
use arkivo_core::entries::{CanonicalEntry, EntryError};
use arkivo_core::limits::{
    BODY_GRACE, MAX_QUERY_BODY_BYTES, MAX_REQUEST_BODY_BYTES, MAX_REQUESTS_IN_FLIGHT,
    MIN_BODY_BYTES_PER_SECOND,
};
use arkivo_core::merkle::Hash;

/// Longest a request may take end to end, including waiting for its batch to be durable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares: one reference to [`Shared`], so that the clone axum makes for each
/// request, and those a handler makes for work on the CPU pool, are one atomic increment each
/// rather than one per field and a copy of the URL (measured: 3% of a write's CPU went to
/// cloning and dropping the fields one by one).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    /// Gives the [`View`] each request is answered against (the shards and the active head).
    pub sequencer: SequencerHandle,
    /// The URL clients reach the log at (the trusted root's `baseUrl`).
    pub public_url: String,
    /// When set, every write needs one of these bearer tokens (or a client certificate, below).
    /// Replaced when the file is reloaded ([`crate::auth::reload_on_sighup`]).
    pub write_tokens: Option<Arc<std::sync::RwLock<crate::auth::WriteTokens>>>,
    /// Whether a verified TLS client certificate lets a request write (mutual TLS).
    client_certificates_write: bool,
    /// When set, each client's requests are limited to a rate (429 beyond it).
    rate_limiter: Option<Arc<crate::ratelimit::RateLimiter>>,
    /// The requests handled at once, shared among clients; further ones get 503 (429 from a
    /// client over its share) at once.
    in_flight: Arc<crate::ratelimit::ClientSlots>,
    /// The witnesses' cosignatures, and the checkpoint to serve (`GET /checkpoint`): see
    /// [`tiles::checkpoint`].
    pub cosignatures: Arc<Cosignatures>,
    /// Signed entry timestamps, by virtual log index, of entries written before SETs were
    /// stored ([`AppState::signed_entry_timestamp`]). A SET covers only what never changes for
    /// an index (body, integrated time, the shard's log ID, the virtual index), so it can be
    /// served again instead of signed again (rekor-v1-api.md §4: "caching is fine").
    sets: Arc<quick_cache::sync::Cache<u64, Arc<[u8]>>>,
    /// The TUF repository served under `/tuf/` (none: 404 there).
    tuf: Option<Arc<crate::tuf::Repository>>,
    /// The certificate authority, when OIDC issuers are configured (`/api/v2/signingCert`).
    pub ca: Option<Arc<crate::ca::CertificateAuthority>>,
    /// The RFC 3161 timestamp authority, when the server runs one (`arkivo serve` always does).
    tsa: Option<Arc<arkivo_core::tsa::TsaSigner>>,
    /// Whether the web explorer is served at `/` and `/ui/` ([`explorer`]).
    explorer: bool,
    /// The TSAs `tsa` replaced (its key changed), oldest first, each valid until it was
    /// replaced: still in the trusted root, so that their timestamps verify.
    replaced_tsas: Arc<Vec<arkivo_core::wire::CertificateAuthority>>,
    /// On a PostgreSQL-stored log: when the database last answered this frontend's leadership
    /// loop (Unix milliseconds), which keeps its view of the log current.
    storage_contact: Option<Arc<std::sync::atomic::AtomicU64>>,
}

/// SETs kept in memory: about 100 bytes each, so about 10 MB.
const SET_CACHE_ENTRIES: usize = 100_000;

impl AppState {
    pub fn new(sequencer: SequencerHandle, public_url: String) -> Self {
        let cosignatures = Arc::new(Cosignatures::new(
            sequencer.published().clone(),
            Vec::new(),
            0,
        ));
        AppState(Arc::new(Shared {
            sequencer,
            public_url,
            write_tokens: None,
            client_certificates_write: false,
            rate_limiter: None,
            in_flight: crate::ratelimit::ClientSlots::new(MAX_REQUESTS_IN_FLIGHT),
            cosignatures,
            sets: Arc::new(quick_cache::sync::Cache::new(SET_CACHE_ENTRIES)),
            tuf: None,
            ca: None,
            tsa: None,
            explorer: true,
            replaced_tsas: Arc::default(),
            storage_contact: None,
        }))
    }

    /// The fields, for the `with_…` builders: they run before the state is shared, so this
    /// never copies them.
    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// What this request is answered against: the shards, with the active one's latest head.
    fn view(&self) -> Arc<View> {
        self.sequencer.published().view()
    }

    /// The SET of an entry written before SETs were stored with entries, at virtual index
    /// `virtual_index` of `shard`: from the cache, or signed with the shard's key. The nonce is
    /// derived from the key and the payload (RFC 6979), so every read of the entry, after a
    /// restart too, returns the same bytes — as for an entry whose SET is stored. Data written
    /// before is thus served without a migration that would sign its whole history at start-up.
    fn signed_entry_timestamp(
        &self,
        shard: &LogIdentity,
        virtual_index: u64,
        body_b64: &str,
        integrated_time: i64,
        log_id_hex: &str,
    ) -> Arc<[u8]> {
        if let Some(set) = self.sets.get(&virtual_index) {
            return set;
        }
        let set: Arc<[u8]> = shard
            .keys
            .sign_set_deterministic(body_b64, integrated_time, log_id_hex, virtual_index)
            .into();
        self.sets.insert(virtual_index, set.clone());
        set
    }

    /// Does not serve the web explorer (`--no-explorer`).
    #[must_use]
    pub fn without_explorer(mut self) -> Self {
        self.shared_mut().explorer = false;
        self
    }

    /// Runs the certificate authority.
    #[must_use]
    pub fn with_ca(mut self, ca: crate::ca::CertificateAuthority) -> Self {
        self.shared_mut().ca = Some(Arc::new(ca));
        self
    }

    /// Requires one of `tokens` for every write.
    #[must_use]
    pub fn with_write_tokens(mut self, tokens: crate::auth::WriteTokens) -> Self {
        self.shared_mut().write_tokens = Some(Arc::new(std::sync::RwLock::new(tokens)));
        self
    }

    /// Limits each client (IP address, IPv6 /64) to `per_second` requests a second on average,
    /// with bursts of up to `burst`.
    #[must_use]
    pub fn with_rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.shared_mut().rate_limiter = Some(Arc::new(crate::ratelimit::RateLimiter::new(
            per_second, burst,
        )));
        self
    }

    /// Handles at most `n` requests at once (default [`MAX_REQUESTS_IN_FLIGHT`]), an eighth of
    /// them from one client.
    #[must_use]
    pub fn with_max_requests_in_flight(mut self, n: usize) -> Self {
        self.shared_mut().in_flight = crate::ratelimit::ClientSlots::new(n);
        self
    }

    /// Serves the checkpoints with the cosignatures of these witnesses (by default: no
    /// witnesses, the published checkpoint as it is).
    #[must_use]
    pub fn with_cosignatures(mut self, cosignatures: Arc<Cosignatures>) -> Self {
        self.shared_mut().cosignatures = cosignatures;
        self
    }

    /// Runs the timestamp authority `tsa` (`/api/v1/timestamp`), listed in the trusted root and
    /// the signing config.
    #[must_use]
    pub fn with_tsa(mut self, tsa: arkivo_core::tsa::TsaSigner) -> Self {
        self.shared_mut().tsa = Some(Arc::new(tsa));
        self
    }

    /// Lists the TSAs `tsa` replaced ([`crate::datadir::record_tsa`]) in the trusted root.
    #[must_use]
    pub fn with_replaced_tsas(
        mut self,
        tsas: Vec<arkivo_core::wire::CertificateAuthority>,
    ) -> Self {
        self.shared_mut().replaced_tsas = Arc::new(tsas);
        self
    }

    /// Reads are ready (`/readyz?role=reader`) only while `contact` (Unix milliseconds) is
    /// recent: see [`READER_STALE_AFTER`].
    #[must_use]
    pub fn with_storage_contact(mut self, contact: Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.shared_mut().storage_contact = Some(contact);
        self
    }

    /// Serves this TUF repository under `/tuf/`.
    #[must_use]
    pub fn with_tuf(mut self, repository: Arc<crate::tuf::Repository>) -> Self {
        self.shared_mut().tuf = Some(repository);
        self
    }

    /// Lets a request whose TLS client certificate was verified against the client CA write;
    /// without write tokens, only such requests may write.
    #[must_use]
    pub fn with_client_certificate_writes(mut self) -> Self {
        self.shared_mut().client_certificates_write = true;
        self
    }

    /// Ok when writes are open, the request's client certificate was verified (with mutual TLS
    /// configured), or it carries an accepted bearer token; else 401 (no credential) or 403 (a
    /// token that is not accepted).
    fn authorize_write(
        &self,
        headers: &axum::http::HeaderMap,
        client_certificate: bool,
    ) -> Result<(), ApiError> {
        if self.client_certificates_write && client_certificate {
            return Ok(());
        }
        let missing = |what: &str| ApiError {
            www_authenticate: self.write_tokens.is_some(),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!("writes to this log need {what}"),
            )
        };
        let Some(tokens) = &self.write_tokens else {
            return if self.client_certificates_write {
                Err(missing("a TLS client certificate from the log's client CA"))
            } else {
                Ok(())
            };
        };
        let auth = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let checked = tokens.read().unwrap_or_else(|e| e.into_inner()).check(auth);
        checked.map_err(|e| match e {
            crate::auth::AuthError::Missing if self.client_certificates_write => missing(
                "an Authorization: Bearer token or a TLS client certificate from the log's client CA",
            ),
            crate::auth::AuthError::Missing => missing("an Authorization: Bearer token"),
            crate::auth::AuthError::Refused => ApiError::new(
                StatusCode::FORBIDDEN,
                "this token may not write to this log",
            ),
        })
    }

    /// The write path of both APIs (docs/life-of-an-entry.md), after the route's
    /// [`require_writer`] gate: reads the bounded body and validates it with `validate` on a CPU
    /// worker (verification is the most expensive step of a write), which queues it with the
    /// sequencer itself; once its batch is durable, its answer is rendered (`render`) on a CPU
    /// worker as well. The async thread is woken once, for the answer, instead of three times
    /// (after validation, after the commit, after rendering): measured, each hand-off between
    /// threads costs a wake-up, and at these rates wake-ups are a tenth of a write's CPU.
    async fn write<T: Send + 'static>(
        &self,
        body: Result<Bytes, BytesRejection>,
        validate: fn(&[u8]) -> Result<CanonicalEntry, EntryError>,
        render: fn(&AppState, CanonicalEntry, Sequenced) -> Result<T, ApiError>,
    ) -> Result<Written<T>, ApiError> {
        let body = body_bytes(body, MAX_REQUEST_BODY_BYTES)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let st = self.clone();
        rayon::spawn(move || {
            let entry = match validate(&body) {
                Ok(entry) => entry,
                Err(e) => return drop(tx.send(Err(entry_error(&e)))),
            };
            let new = NewEntry {
                body: entry.body.clone(),
                leaf_hash: entry.leaf_hash,
                index_keys: entry.index_keys.clone(),
            };
            let sequencer = st.sequencer.clone();
            sequencer.submit_then(Leaf::Hashed(new), move |outcome| {
                // Usually on the sequencer's thread, which must go on to the next batch.
                rayon::spawn(move || {
                    let answer = match outcome {
                        // The answer is built from the entry in hand: no read after the commit.
                        Ok(sequenced) => render(&st, entry, sequenced).map(Written::Appended),
                        Err(SequenceError::Duplicate { index, tree_id }) => {
                            Ok(Written::Duplicate {
                                leaf: entry.leaf_hash,
                                index,
                                tree_id,
                            })
                        }
                        Err(e) => Err(e.into()),
                    };
                    drop(tx.send(answer));
                });
            });
        });
        rx.await
            .unwrap_or_else(|_| Err(ApiError::internal(&"a CPU worker panicked")))
    }

    /// Runs CPU-bound work (and the short storage reads around it) on the CPU pool, so that
    /// the async threads keep serving. A bounded pool, unlike `spawn_blocking`'s, keeps the
    /// number of runnable threads at the number of cores: measured, it spends far less time
    /// switching between threads under load. It is rayon's global pool, the one the sequencer
    /// signs each batch's SETs on: a pool of its own beside it doubled the threads that spin
    /// (`sched_yield`) between jobs (measured: 10% of a write's CPU).
    async fn cpu<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        rayon::spawn(move || drop(tx.send(f())));
        rx.await
            .unwrap_or_else(|_| Err(ApiError::internal(&"a CPU worker panicked")))
    }
}

/// What became of a valid entry given to [`AppState::write`].
enum Written<T> {
    /// Durable, and answered with what the write's `render` made of it.
    Appended(T),
    /// The same leaf was already in the active shard, tree `tree_id`, at `index` (409).
    Duplicate {
        leaf: Hash,
        index: u64,
        tree_id: i64,
    },
}

/// An invalid entry: its status and the error body's code (rekor-v1-api.md §3.1).
pub(crate) fn entry_error(e: &EntryError) -> ApiError {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError {
        code: e.code(),
        ..ApiError::new(status, e.to_string())
    }
}

/// A write the sequencer refused: 503 with `Retry-After` while it is busy or stopped, 507 when
/// the disk is full, 409 for a duplicate.
impl From<SequenceError> for ApiError {
    fn from(e: SequenceError) -> ApiError {
        let (status, retry_after) = match e {
            SequenceError::Duplicate { .. } => (StatusCode::CONFLICT, None),
            SequenceError::Pushback => (StatusCode::SERVICE_UNAVAILABLE, Some(1)),
            SequenceError::Stopped(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(30)),
            // The leader changes within about a second of a failover.
            SequenceError::NotLeader(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(1)),
            SequenceError::NoSpace(_) => (StatusCode::INSUFFICIENT_STORAGE, None),
        };
        ApiError {
            retry_after,
            ..ApiError::new(status, e.to_string())
        }
    }
}

/// The body read by the route's extractor, whose limit is `limit`; 413 over it, 408 when it came
/// too slowly ([`MinRateBody`]), 400 otherwise.
pub(crate) fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let mut source: Option<&dyn std::error::Error> = Some(&r);
        while let Some(e) = source {
            if e.is::<BodyTooSlow>() {
                return ApiError::new(StatusCode::REQUEST_TIMEOUT, e.to_string());
            }
            source = e.source();
        }
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limit)
        } else {
            ApiError::bad_request(format!("reading the request body: {}", r.body_text()))
        }
    })
}

/// The whole HTTP service, over request bodies of type `B`: [`router`] behind
/// [`trim_api_trailing_slash`].
pub type Service<B> = tower::util::MapRequest<Router, fn(Request<B>) -> Request<B>>;

/// [`router`] behind [`trim_api_trailing_slash`], which has to run before routing.
pub fn service<B>(state: AppState) -> Service<B> {
    tower::util::MapRequest::new(router(state), trim_api_trailing_slash::<B>)
}

/// Trims the trailing slashes of a path under `/api/`: sigstore-python posts to
/// `/api/v1/log/entries/retrieve/` (§1.1). Nowhere else: a checkpoint or tile has exactly one
/// path (tlog-tiles), and a second name for an immutable tile would be cached as a second copy.
fn trim_api_trailing_slash<B>(mut req: Request<B>) -> Request<B> {
    let path = req.uri().path();
    if path.starts_with("/api/") && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Every route, with body limits, CORS, timeouts, the per-client rate limit and the limit on
/// requests in flight (neither on the health probes and metrics), request IDs and HTTP metrics.
pub fn router(state: AppState) -> Router {
    // The one gate of both write APIs.
    let writers = axum::middleware::from_fn_with_state(state.clone(), require_writer);
    let json = axum::middleware::from_fn(require_json);
    // The reads an HTTP cache may keep (docs/operations.md "A caching read tier"), with
    // validators and conditional requests.
    let read_tier = Router::new()
        .route("/checkpoint", get(tiles::checkpoint))
        .route("/tile/{*path}", get(tiles::tile))
        .route("/shards/{tree_id}/checkpoint", get(tiles::shard_checkpoint))
        .route("/shards/{tree_id}/tile/{*path}", get(tiles::shard_tile))
        .route("/ct/checkpoint", get(tiles::ct_checkpoint))
        .route("/ct/tile/{*path}", get(tiles::ct_tile))
        .route("/ct/issuer/{fingerprint}", get(tiles::ct_issuer))
        .route("/tuf/{*path}", get(tuf::file))
        .route_layer(axum::middleware::from_fn(cache::conditional));
    let pages = if state.explorer {
        explorer::routes()
    } else {
        Router::new()
    };
    let routes = pages
        .route(
            "/api/v1/log/entries",
            post(v1::create_entry)
                .route_layer(writers.clone())
                .route_layer(json.clone())
                .get(v1::get_entry_by_index),
        )
        .route(
            "/api/v1/log/entries/retrieve",
            post(v1::retrieve_entries)
                .route_layer(json.clone())
                .layer(DefaultBodyLimit::max(MAX_QUERY_BODY_BYTES)),
        )
        .route(
            "/api/v1/log/entries/{entry_uuid}",
            get(v1::get_entry_by_uuid),
        )
        .route("/api/v1/log", get(v1::log_info))
        .route("/api/v1/log/publicKey", get(v1::public_key))
        .route("/api/v1/log/proof", get(v1::log_proof))
        .route("/api/v1/log/trustedRoot", get(v1::trusted_root))
        .route("/api/v1/log/signingConfig", get(tsa::signing_config))
        .route(
            "/api/v1/log/clientTrustConfig",
            get(tsa::client_trust_config),
        )
        .route(
            "/api/v1/timestamp",
            post(tsa::timestamp)
                .route_layer(writers.clone())
                .layer(DefaultBodyLimit::max(arkivo_core::tsa::MAX_REQUEST_BYTES)),
        )
        .route("/api/v1/timestamp/certchain", get(tsa::cert_chain))
        .route(
            "/api/v1/index/retrieve",
            post(v1::search_index)
                .route_layer(json.clone())
                .layer(DefaultBodyLimit::max(MAX_QUERY_BODY_BYTES)),
        )
        .route(
            "/api/v2/log/entries",
            post(v2::create_entry)
                .route_layer(writers)
                .route_layer(json.clone()),
        )
        // The CA's: the ID token is the credential, so no write gate.
        .route(
            "/api/v2/signingCert",
            post(fulcio::signing_cert)
                .route_layer(json.clone())
                .layer(DefaultBodyLimit::max(MAX_QUERY_BODY_BYTES)),
        )
        .route("/api/v2/trustBundle", get(fulcio::trust_bundle))
        .route("/api/v2/configuration", get(fulcio::configuration))
        .merge(read_tier)
        .route("/ct/ct/v1/get-roots", get(tiles::ct_get_roots))
        .route(
            "/ping",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], ".") }),
        )
        // Health probes and metrics are neither rate limited nor shed: an orchestrator must
        // see a busy server as alive, and a busy server is when its metrics matter.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            in_flight,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit,
        ))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(observe::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        // Any origin may read (monitors and search pages run in browsers), but never with
        // credentials (a client certificate, cookies) or an `Authorization` header: a page
        // cannot write as its visitor.
        .layer(
            CorsLayer::new()
                .allow_origin(cors::Any)
                .allow_methods([Method::GET, Method::HEAD, Method::POST])
                .allow_headers([header::CONTENT_TYPE])
                .expose_headers(cors::Any),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    observe::instrument(routes).with_state(state)
}

/// The write routes' gate: [`AppState::authorize_write`] before the handler runs, so a refused
/// write costs no parsing or verification.
async fn require_writer(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let client_certificate = req
        .extensions()
        .get::<crate::auth::VerifiedClientCertificate>()
        .is_some();
    match st.authorize_write(req.headers(), client_certificate) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The JSON POST routes' gate: 415 unless the body is declared `application/json`. A browser
/// sends `text/plain`, forms and multipart cross-origin without a CORS preflight, so a route
/// that parsed those as JSON could be written to by any page its visitor opens.
async fn require_json(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let content_type = req.headers().get(header::CONTENT_TYPE);
    let is_json = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        return next.run(req).await;
    }
    let got = content_type.map_or_else(
        || "none".to_owned(),
        |v| String::from_utf8_lossy(v.as_bytes()).into_owned(),
    );
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("the request body must be sent as Content-Type: application/json (got {got:.100})"),
    )
    .into_response()
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

/// Holds one of the requests-in-flight slots for the request (503 with `Retry-After` when all
/// are held, 429 when this client holds its share), and makes its body arrive at the minimum
/// rate: a stalled body would otherwise hold its slot for the whole request timeout.
async fn in_flight(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Requests handed to the router directly (tests) have no peer: they count as one client.
    let client = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip());
    let _slot = match st.in_flight.try_acquire(client) {
        Ok(slot) => slot,
        Err(full) => {
            let status = match full {
                crate::ratelimit::Full::Client(_) => StatusCode::TOO_MANY_REQUESTS,
                crate::ratelimit::Full::All(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            return ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    status,
                    format!("the server is handling its limit of requests ({full}); retry shortly"),
                )
            }
            .into_response();
        }
    };
    next.run(req.map(|body| axum::body::Body::new(MinRateBody::new(body))))
        .await
}

/// A request body that fails with [`BodyTooSlow`] once it falls behind
/// [`MIN_BODY_BYTES_PER_SECOND`] after [`BODY_GRACE`].
struct MinRateBody {
    inner: axum::body::Body,
    started: tokio::time::Instant,
    received: u64,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

#[derive(Debug)]
struct BodyTooSlow;

impl std::fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body came slower than {MIN_BODY_BYTES_PER_SECOND} bytes a second (after \
             {} s)",
            BODY_GRACE.as_secs()
        )
    }
}

impl std::error::Error for BodyTooSlow {}

impl MinRateBody {
    fn new(inner: axum::body::Body) -> Self {
        let started = tokio::time::Instant::now();
        MinRateBody {
            inner,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + BODY_GRACE)),
        }
    }
}

impl hyper::body::Body for MinRateBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let earned = Duration::from_secs_f64(
                        this.received as f64 / MIN_BODY_BYTES_PER_SECOND as f64,
                    );
                    this.deadline
                        .as_mut()
                        .reset(this.started + BODY_GRACE + earned);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow)))),
                Poll::Pending => Poll::Pending,
            },
            done => done,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// How long a PostgreSQL frontend may go without reaching the database before it stops calling
/// itself ready to read: its view of the log may be that old.
pub const READER_STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// `role=reader`: readiness to serve reads only.
#[derive(serde::Deserialize)]
struct ReadyQuery {
    role: Option<String>,
}

/// `/readyz`: ready only while this frontend takes writes — the sequencer can commit, and on
/// PostgreSQL this frontend leads — and a request would not be refused for want of a slot (an
/// orchestrator then sends clients elsewhere). `/readyz?role=reader`: ready to serve reads,
/// which any frontend is while its view of the log is current (docs/operations.md).
async fn readyz(
    axum::extract::State(st): axum::extract::State<AppState>,
    axum::extract::Query(query): axum::extract::Query<ReadyQuery>,
) -> Response {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response()
    };
    if st.in_flight.exhausted() {
        return not_ready("handling its limit of requests in flight".into());
    }
    match query.role.as_deref() {
        None | Some("writer") => {}
        Some("reader") => {
            if let Some(contact) = &st.storage_contact {
                let last = contact.load(std::sync::atomic::Ordering::Relaxed);
                let since = crate::log::unix_now_ms().saturating_sub(last);
                if u128::from(since) > READER_STALE_AFTER.as_millis() {
                    return not_ready(format!(
                        "the database has not answered for {} s, so reads may be stale",
                        since / 1000
                    ));
                }
            }
            return "ready\n".into_response();
        }
        Some(other) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("role must be writer or reader, not {other:?}"),
            )
            .into_response();
        }
    }
    if let Some(reason) = st.sequencer.published().not_leading() {
        return not_ready(reason);
    }
    if let Some(reason) = st.sequencer.published().stopped() {
        return not_ready(reason.to_string());
    }
    "ready\n".into_response()
}

/// Seconds since the Unix epoch by the system clock (0 if it is set before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `NoCache` headers upstream puts on its GET routes (§1.5).
pub(crate) fn no_cache(mut res: Response) -> Response {
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
/// A 200 whose body is one line: the JSON array of `items`, each a compact JSON object and "\n"
/// as [`json_line`] answers one (the retrieve endpoint's shape, rekor-v1-api.md §3.4).
pub(crate) fn json_array_line(items: &[Vec<u8>]) -> Response {
    let mut out = Vec::from(*b"[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.strip_suffix(b"\n").unwrap_or(item));
    }
    out.extend_from_slice(b"]\n");
    json_line(StatusCode::OK, out)
}

pub(crate) fn json_line(status: StatusCode, body: Vec<u8>) -> Response {
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
