//! `GET /tuf/<file>`: the log's TUF repository ([`crate::tuf`]), as the files
//! `arkivo tuf export` writes.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// A file of the repository. Every file but `timestamp.json` and `root.json` is named by its
/// version or hash (consistent snapshots, TUF §5.7.3) and never changes: cached for a year as
/// immutable. Those two change with each new version and must be fetched fresh: a client
/// refreshes from the timestamp (TUF §5.4), so a cached one would hide a rotation.
///
/// The path is matched as sent, not percent-decoded: every file name is plain ASCII, so an
/// encoded one names nothing (404), as does anything that is not a file of the repository.
pub async fn file(State(st): State<AppState>, uri: Uri) -> Response {
    let path = uri.path().strip_prefix("/tuf/").unwrap_or_default();
    let files = match &st.tuf {
        Some(repository) => Some(repository.served_files().await),
        None => None,
    };
    let Some(bytes) = files.and_then(|f| f.get(path).cloned()) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no file {path:.100} in the TUF repository"),
        )
        .into_response();
    };
    let cache = if path == "timestamp.json" || path == "root.json" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response()
}
