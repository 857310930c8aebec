//! The web explorer (docs/explorer.md): a page at `/` (and `/ui/entry/<id>`, `/ui/log`) whose
//! scripts search, read and verify entries through the public read API alone, so that it works
//! the same on a mirror or behind the read cache. Its files are compiled into the binary: nothing
//! is fetched from elsewhere, which the Content-Security-Policy enforces.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiError, AppState};

/// Only this origin's scripts, styles, images and API; no inline script or style (every script
/// and style is a file below), no plugins, no framing (clickjacking), no `<base>` rewriting,
/// forms only to this origin (CSP Level 3, §6).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The page every explorer address serves; its script reads the address.
const INDEX: &[u8] = include_bytes!("../../explorer/index.html");

/// The files under `/ui/assets/`: name, media type, content.
const ASSETS: [(&str, &str, &[u8]); 9] = [
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../explorer/icon.svg"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../explorer/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/api.js"),
    ),
    (
        "merkle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/merkle.js"),
    ),
    (
        "note.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/note.js"),
    ),
    (
        "der.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/der.js"),
    ),
    (
        "entry.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/entry.js"),
    ),
    (
        "views.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/views.js"),
    ),
];

/// The explorer's routes, merged into the API's by [`super::router`] unless turned off.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/ui/log", get(page))
        .route("/ui/entry/{id}", get(|_: Path<String>| page()))
        .route("/ui/assets/{name}", get(asset))
}

async fn page() -> Response {
    respond("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, media_type, body)) => respond(media_type, body),
        None => ApiError::new(StatusCode::NOT_FOUND, "no such explorer file").into_response(),
    }
}

/// A file of the explorer with its security headers. `no-cache`: a browser revalidates, so an
/// upgraded server's pages never mix with the previous version's scripts.
fn respond(media_type: &'static str, body: &'static [u8]) -> Response {
    let mut res = ([(header::CONTENT_TYPE, media_type)], body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}
