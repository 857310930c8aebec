//! `GET /cosigned-checkpoint`: the log's C2SP checkpoint with its witnesses' cosignatures, as
//! [`Cosignatures::checkpoint`] chooses it — the newest checkpoint with the cosignatures
//! collected for exactly it, or, when a `witness_quorum` is set, the newest checkpoint that
//! reached the quorum (tiles-checkpoints-v2.md §3).
//!
//! [`checkpoint`] is the whole answer the tlog-tiles `GET /checkpoint` (§4.2) should give, so
//! that both routes serve one source of truth: `text/plain; charset=utf-8`, not cacheable (it
//! changes with every checkpoint), and 503 with `Retry-After` while no checkpoint has reached
//! the quorum.
//!
//! [`Cosignatures::checkpoint`]: crate::witness::client::Cosignatures::checkpoint

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The cosigned checkpoint (see the module doc).
pub async fn checkpoint(State(st): State<AppState>) -> Response {
    match st.cosignatures.checkpoint() {
        Some(note) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            note,
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::RETRY_AFTER, "1"),
            ],
            format!(
                "no checkpoint has been cosigned by {} of the log's {} witnesses yet\n",
                st.cosignatures.quorum(),
                st.cosignatures.endpoints().len()
            ),
        )
            .into_response(),
    }
}
