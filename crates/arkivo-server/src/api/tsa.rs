//! The RFC 3161 timestamp authority, with sigstore/timestamp-authority's routes
//! (docs/sigstore-services.md §3), and the signing config and client trust config that point
//! Sigstore clients at this log and its TSA (§1).
//!
//! Refusals: 415 for a body that is neither `application/timestamp-query` nor
//! `application/json`; 400 with `{code, message}` naming the problem for everything else the
//! client got wrong (malformed DER or JSON, SHA-1 or an unknown hash, a digest of the wrong
//! length, request extensions, another policy) — as upstream answers, rather than a
//! `TimeStampResp` with a `PKIFailureInfo`, which no Sigstore client reads; 413 above
//! [`MAX_REQUEST_BYTES`] as on every route; 503 while the clock is before the log's creation or
//! outside the TSA certificate's validity (a timestamp then would be wrong or unverifiable).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, body_bytes, json_line, no_cache, unix_now};
use arkivo_core::tsa::{self, MAX_REQUEST_BYTES, TsaSigner};
use arkivo_core::wire::{
    CLIENT_TRUST_CONFIG_MEDIA_TYPE, ClientTrustConfig, SIGNING_CONFIG_MEDIA_TYPE, Service,
    ServiceConfiguration, SigningConfig, ValidFor, to_json_line,
};

fn tsa_of(st: &AppState) -> Result<Arc<TsaSigner>, ApiError> {
    st.tsa.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this server runs no timestamp authority",
        )
    })
}

/// `POST /api/v1/timestamp`: a DER `TimeStampResp` (200, `application/timestamp-reply`) for a
/// DER `TimeStampReq` or upstream's JSON request. The serial number is 128 random bits (126
/// after the sign and length bits are fixed): unique without a counter to persist, restore from
/// a backup or share between servers — two serials collide with probability about 2^-63 after
/// 2^32 timestamps.
pub async fn timestamp(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let signer = tsa_of(&st)?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    let parse = match media.as_deref() {
        Some("application/timestamp-query") => tsa::parse_der_request,
        Some("application/json") => tsa::parse_json_request,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "the request body must be sent as Content-Type: application/timestamp-query \
                     (a DER TimeStampReq) or application/json (got {:.100})",
                    media.as_deref().unwrap_or("none")
                ),
            ));
        }
    };
    let body = body_bytes(body, MAX_REQUEST_BYTES)?;
    let created = st
        .view()
        .oldest_first()
        .next()
        .map_or(0, |s| s.identity().meta.created);
    let now = unix_now();
    let (not_before, not_after) = signer.validity();
    if i64::try_from(now).unwrap_or(i64::MAX) < created || now < not_before || now > not_after {
        return Err(ApiError {
            retry_after: Some(60),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server's clock is before the log's creation or outside the validity of \
                 the timestamp authority's certificate: no timestamp can be trusted now",
            )
        });
    }
    let serial = rand::random::<u128>();
    let resp = st
        .cpu(move || {
            let req = parse(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            signer
                .timestamp(&req, now, serial)
                .map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .await?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/timestamp-reply"),
        )],
        resp,
    )
        .into_response())
}

/// `GET /api/v1/timestamp/certchain`: the TSA's chain as PEM, leaf first, root last.
pub async fn cert_chain(State(st): State<AppState>) -> Result<Response, ApiError> {
    let pem = tsa_of(&st)?.chain_pem();
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pem-certificate-chain"),
        )],
        pem,
    )
        .into_response())
}

/// The SigningConfig v0.2 of this server: the log under both its API versions (Rekor v2 first:
/// sigstore-python takes the highest version it supports, sigstore-go the first), the TSA's full
/// timestamp URL, each valid from the log's creation and operated by the log's hostname, selectors
/// `ANY` (the only one every client implements). CAs, when the server runs one, go into `caUrls` here.
pub(super) fn signing_config_of(st: &AppState) -> SigningConfig {
    let view = st.view();
    let first = view.oldest_first().next().map(|s| &s.identity().meta);
    let created = first.map_or(0, |m| m.created);
    // Who runs each service: sigstore-python requires the field (a missing one fails its whole
    // ClientTrustConfig) and keeps the highest API version per operator.
    let operator = first.map_or_else(String::new, |m| m.hostname.clone());
    let valid_for = ValidFor {
        start: Some(
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(created.unsigned_abs()),
            )
            .to_string(),
        ),
        end: None,
    };
    let service = |url: String, major_api_version: u32| Service {
        url,
        major_api_version,
        valid_for: valid_for.clone(),
        operator: operator.clone(),
    };
    let any = || {
        Some(ServiceConfiguration {
            selector: "ANY".to_owned(),
            count: None,
        })
    };
    SigningConfig {
        media_type: SIGNING_CONFIG_MEDIA_TYPE.to_owned(),
        // Fulcio's v2 paths are its API version 1 (sigstore-services.md §4).
        ca_urls: st
            .ca
            .iter()
            .map(|_| service(st.public_url.clone(), 1))
            .collect(),
        oidc_urls: Vec::new(),
        rekor_tlog_urls: vec![
            service(st.public_url.clone(), 2),
            service(st.public_url.clone(), 1),
        ],
        rekor_tlog_config: any(),
        tsa_urls: st
            .tsa
            .iter()
            .map(|_| service(format!("{}/api/v1/timestamp", st.public_url), 1))
            .collect(),
        tsa_config: any(),
    }
}

/// `GET /api/v1/log/signingConfig`.
pub async fn signing_config(State(st): State<AppState>) -> Response {
    no_cache(json_line(StatusCode::OK, signing_config_json(&st)))
}

/// The body of [`signing_config`]: also the TUF repository's `signing_config.v0.2.json`.
pub fn signing_config_json(st: &AppState) -> Vec<u8> {
    to_json_line(&signing_config_of(st))
}

/// `GET /api/v1/log/clientTrustConfig`: the trusted root and the signing config in one document,
/// what `sigstore --trust-config FILE` reads.
pub async fn client_trust_config(State(st): State<AppState>) -> Response {
    let config = ClientTrustConfig {
        media_type: CLIENT_TRUST_CONFIG_MEDIA_TYPE.to_owned(),
        trusted_root: super::v1::trusted_root_of(&st, &st.view()),
        signing_config: signing_config_of(&st),
    };
    no_cache(json_line(StatusCode::OK, to_json_line(&config)))
}
