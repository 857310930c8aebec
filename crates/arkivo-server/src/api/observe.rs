//! What every request leaves behind for the operator: a request ID, a log span, and HTTP
//! metrics ([`crate::metrics`]); and the `/metrics` route.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use super::AppState;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request ID accepted from a client; a longer or unprintable one is replaced by a fresh
/// one, since it is repeated in every log line of the request.
const MAX_REQUEST_ID_BYTES: usize = 128;

/// Methods counted by name in the `method` label; any other counts as `other`, so that a client
/// cannot create series at will.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

/// Wraps every route: a request keeps the client's `x-request-id` or gets a fresh UUID, which is
/// echoed in the response and recorded in the request's log span, so every line logged while
/// handling it carries the ID; then the request is counted under its route template.
///
/// With the default log filter (`info`) the span is recorded but no line is written per
/// request; `RUST_LOG=info,tower_http=debug` adds one per answer with its status and latency.
pub(super) fn instrument(routes: Router<AppState>) -> Router<AppState> {
    routes.layer(axum::middleware::from_fn(record_http)).layer(
        tower::ServiceBuilder::new()
            .map_request(drop_unusable_request_id)
            .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(DefaultOnResponse::new().latency_unit(LatencyUnit::Micros))
                    // Server errors are logged where they happen (`ApiError::internal`);
                    // a 503 under load is not worth a line per request.
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(X_REQUEST_ID)),
    )
}

fn drop_unusable_request_id(mut req: Request) -> Request {
    let usable = req.headers().get(&X_REQUEST_ID).is_none_or(|v| {
        (1..=MAX_REQUEST_ID_BYTES).contains(&v.len())
            && v.as_bytes().iter().all(u8::is_ascii_graphic)
    });
    if !usable {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    req
}

fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = id,
        method = %req.method(),
        path = req.uri().path(),
    )
}

/// Counts and times each request under its route template (routing has run: this is a route
/// layer), never its path.
async fn record_http(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(crate::metrics::UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let method = METHODS
        .into_iter()
        .find(|m| *m == req.method().as_str())
        .unwrap_or("other");
    let started = Instant::now();
    let res = next.run(req).await;
    crate::metrics::http_request(route, method, res.status().as_u16(), started.elapsed());
    res
}

/// `GET /metrics`: the Prometheus text exposition format.
pub(super) async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
        .into_response()
}
