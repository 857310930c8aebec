//! The certificate authority's API, Fulcio's v2 (docs/sigstore-services.md §4):
//! `POST /api/v2/signingCert`, `GET /api/v2/trustBundle`, `GET /api/v2/configuration`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::{ApiError, AppState, body_bytes, json_line};
use crate::ca::{CaError, CertificateAuthority};
use arkivo_core::ca::cert::LEAF_VALIDITY;
use arkivo_core::ca::{
    Configuration, IssuerInfo, KeyRequest, PemChain, SignedCertificate, SigningCertRequest,
    SigningCertResponse, TrustBundle,
};
use arkivo_core::entries::pki::pem_encode;
use arkivo_core::limits::MAX_QUERY_BODY_BYTES;

fn ca(st: &AppState) -> Result<&Arc<CertificateAuthority>, ApiError> {
    st.ca.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this server runs no certificate authority: configure an OIDC issuer \
             (--oidc-issuer) to run one",
        )
    })
}

fn pem_chain(ders: &[Vec<u8>]) -> PemChain {
    PemChain {
        certificates: ders.iter().map(|d| pem_encode("CERTIFICATE", d)).collect(),
    }
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    let mut body = serde_json::to_vec(value).expect("the answer serializes");
    body.push(b'\n');
    json_line(status, body)
}

/// `POST /api/v2/signingCert`: 201 with the certificate and its chain; 400 for a malformed
/// request or a failed proof of possession, 401 for an unacceptable ID token, 503 when the
/// issuer's keys cannot be fetched.
pub async fn signing_cert(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ca = ca(&st)?.clone();
    let body = body_bytes(body, MAX_QUERY_BODY_BYTES)?;
    let req: SigningCertRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the request is not valid: {e}")))?;
    let key_request = KeyRequest::from_request(&req).map_err(ApiError::bad_request)?;
    // The token comes in the body (sigstore-js) or as a bearer token (sigstore-go,
    // sigstore-python, cosign).
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let token = bearer
        .map(str::trim)
        .or_else(|| {
            req.credentials
                .as_ref()
                .and_then(|c| c.oidc_identity_token.as_deref())
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no OIDC ID token: send it as credentials.oidcIdentityToken or as an \
                 Authorization: Bearer token",
            )
        })?;
    let identity = ca.authenticate(token).await.map_err(|e| match e {
        CaError::Unauthenticated(m) => ApiError::new(StatusCode::UNAUTHORIZED, m),
        CaError::Unavailable(m) => ApiError {
            retry_after: Some(10),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m)
        },
    })?;
    let now = SystemTime::now();
    if now + LEAF_VALIDITY > ca.signer.not_after() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the CA's own certificate expires within a certificate's lifetime: it needs a new \
             one",
        ));
    }
    let answer = st
        .cpu(move || {
            let key = key_request
                .into_proven_key(&identity.challenge)
                .map_err(ApiError::bad_request)?;
            let leaf = ca
                .signer
                .issue(&identity, &key, now)
                .map_err(ApiError::bad_request)?;
            crate::metrics::certificate_issued();
            let mut chain = pem_chain(ca.signer.chain());
            chain
                .certificates
                .insert(0, pem_encode("CERTIFICATE", &leaf));
            Ok(SigningCertResponse {
                signed_certificate_embedded_sct: SignedCertificate { chain },
            })
        })
        .await?;
    Ok(json(StatusCode::CREATED, &answer))
}

/// `GET /api/v2/trustBundle`: the CA's chain, intermediate first.
pub async fn trust_bundle(State(st): State<AppState>) -> Result<Response, ApiError> {
    let bundle = TrustBundle {
        chains: vec![pem_chain(ca(&st)?.signer.chain())],
    };
    Ok(json(StatusCode::OK, &bundle))
}

/// `GET /api/v2/configuration`: the issuers trusted, each with its audience and challenge claim.
pub async fn configuration(State(st): State<AppState>) -> Result<Response, ApiError> {
    let issuers = ca(&st)?
        .issuers()
        .map(|i| {
            let domain = i.subject_domain.clone().unwrap_or_default();
            let spiffe = i.issuer_type == arkivo_core::ca::identity::IssuerType::Spiffe;
            IssuerInfo {
                issuer_url: i.url.clone(),
                audience: i.client_id.clone(),
                challenge_claim: i.issuer_type.challenge_claim().to_owned(),
                spiffe_trust_domain: if spiffe {
                    domain.clone()
                } else {
                    String::new()
                },
                issuer_type: i.issuer_type.name().to_owned(),
                subject_domain: if spiffe { String::new() } else { domain },
            }
        })
        .collect();
    Ok(json(StatusCode::OK, &Configuration { issuers }))
}
