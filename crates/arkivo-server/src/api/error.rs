//! One error type for every HTTP answer that is not a success (rekor-v1-api.md §1.4, §11).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use arkivo_core::wire::{ErrorBody, to_json_line};

/// An error answer: status, the Rekor `{code, message}` body, and the headers some need.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The body's `code`: the HTTP status, or a go-openapi validation code (6xx) for 422s.
    pub code: u16,
    pub message: String,
    pub location: Option<String>,
    /// The `x-log-index` header: where the existing entry of a Rekor v2 409 is
    /// (tiles-checkpoints-witnesses.md §6.1).
    pub log_index: Option<u64>,
    pub retry_after: Option<u32>,
    /// Add `WWW-Authenticate: Bearer` (a 401).
    pub www_authenticate: bool,
    /// Answer with no body at all (upstream's 404 on entry lookups has none).
    pub empty: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: status.as_u16(),
            message: message.into(),
            location: None,
            log_index: None,
            retry_after: None,
            www_authenticate: false,
            empty: false,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A schema validation failure: HTTP 422 with a go-openapi code (601 type, 602 required,
    /// 605 pattern, 609 minimum, 611 too many items).
    pub fn validation(code: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
        }
    }

    pub fn not_found() -> Self {
        ApiError {
            empty: true,
            ..Self::new(StatusCode::NOT_FOUND, "")
        }
    }

    /// Anything unexpected: the cause goes to the server log, the client gets a generic text.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected error communicating with transparency log",
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request Entity Too Large. Limit set to {limit}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = if self.empty {
            self.status.into_response()
        } else {
            let body = to_json_line(&ErrorBody {
                code: self.code,
                message: self.message,
            });
            (
                self.status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response()
        };
        let headers = res.headers_mut();
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, loc);
        }
        if let Some(index) = self.log_index {
            headers.insert("x-log-index", HeaderValue::from(index));
        }
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
