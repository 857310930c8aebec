//! Validators and conditional requests for the read tier (tiles, entry bundles, checkpoints,
//! CT issuers, TUF files), so that an HTTP cache in front of the log (deploy/nginx.conf) can
//! revalidate what it holds instead of fetching it again.
//!
//! Every successful answer of these routes gets a strong `ETag` (RFC 9110 §8.8.3): a digest of
//! its bytes, so it changes exactly when the bytes do and needs no bookkeeping. `If-None-Match`
//! (§13.1.2) and, without it, `If-Modified-Since` (§13.1.3) against the `Last-Modified` the
//! handler set (§8.8.2) are answered `304 Not Modified` (§15.4.5).

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `Last-Modified` value of a resource last changed at `unix_seconds` (§5.6.7 IMF-fixdate).
pub fn last_modified(unix_seconds: i64) -> HeaderValue {
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix_seconds).unwrap_or(0));
    HeaderValue::from_str(&httpdate::fmt_http_date(time)).expect("an HTTP-date is a header value")
}

/// The middleware: adds the `ETag` to a `200` answer of a `GET` or `HEAD`, and turns it into a
/// `304` when the request's preconditions say the client already holds it.
pub async fn conditional(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return next.run(req).await;
    }
    let conditions = req.headers().clone();
    let res = next.run(req).await;
    if res.status() != StatusCode::OK {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // The handlers of these routes answer from bytes in memory: collecting them copies nothing.
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let digest = Sha256::digest(&bytes);
    // 128 bits of SHA-256 tell apart any two representations a cache could hold.
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    parts.headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex in quotes is a header value"),
    );
    if !not_modified(&conditions, &etag, parts.headers.get(header::LAST_MODIFIED)) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    // §15.4.5: a 304 carries the fields a 200 would have that guide caches (Cache-Control,
    // ETag, Last-Modified, Vary, ...), but no content and no metadata describing one.
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::empty())
}

/// Whether the preconditions of a request with headers `conditions` fail for a representation
/// tagged `etag` and last modified at `last_modified` (§13.2.2 steps 3 and 4 for GET and HEAD).
/// Public for the fuzz target `conditional_request`: the header values come from clients.
pub fn not_modified(
    conditions: &HeaderMap,
    etag: &str,
    last_modified: Option<&HeaderValue>,
) -> bool {
    if let Some(if_none_match) = conditions.get(header::IF_NONE_MATCH) {
        // §13.1.2: "*" or a list of entity tags compared weakly (a W/ prefix is ignored).
        let Ok(list) = if_none_match.to_str() else {
            return false;
        };
        return list
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
    }
    // §13.1.3: only without If-None-Match, and an invalid date is ignored.
    let since = conditions
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let modified = last_modified
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    matches!((since, modified), (Some(since), Some(modified)) if modified <= since && since <= SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn if_none_match_is_compared_weakly_and_takes_precedence() {
        let tag = "\"0123\"";
        let lm = last_modified(1_000);
        for (value, expected) in [
            ("\"0123\"", true),
            ("W/\"0123\"", true),
            ("\"9\", \"0123\"", true),
            ("*", true),
            ("\"0124\"", false),
            ("0123", false),
        ] {
            let h = headers(&[(header::IF_NONE_MATCH, value)]);
            assert_eq!(not_modified(&h, tag, Some(&lm)), expected, "{value}");
        }
        // A failing If-None-Match is not overridden by a matching If-Modified-Since.
        let h = headers(&[
            (header::IF_NONE_MATCH, "\"other\""),
            (header::IF_MODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert!(!not_modified(&h, tag, Some(&last_modified(0))));
    }

    #[test]
    fn if_modified_since_needs_a_valid_date_not_before_last_modified() {
        let lm = last_modified(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        for (value, expected) in [
            ("Sun, 06 Nov 1994 08:49:37 GMT", true),
            ("Sun, 06 Nov 1994 08:49:38 GMT", true),
            ("Sun, 06 Nov 1994 08:49:36 GMT", false),
            ("yesterday", false),
            // A date in the future is invalid (§13.1.3).
            ("Sun, 06 Nov 2994 08:49:37 GMT", false),
        ] {
            let h = headers(&[(header::IF_MODIFIED_SINCE, value)]);
            assert_eq!(not_modified(&h, "\"t\"", Some(&lm)), expected, "{value}");
        }
        let h = headers(&[(header::IF_MODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert!(!not_modified(&h, "\"t\"", None));
        assert_eq!(lm, "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
