//! A test OIDC issuer on a loopback socket — the one piece of the outside world the CA tests
//! stand in for. It serves OpenID Connect discovery and a JWKS (an RSA key and a P-256 key) for
//! any issuer path `/<name>`, and signs real ID tokens (RS256, ES256) with those keys.
//! `hang_jwks` makes its JWKS never answer (a dead issuer).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use der::{Decode, Encode};
use p256::ecdsa::signature::Signer;
use p256::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use x509_cert::Certificate;

pub struct TestIssuer {
    pub base: String,
    rsa: rsa::RsaPrivateKey,
    ec: p256::ecdsa::SigningKey,
    /// Dropped with the issuer: its server thread then ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The JWS algorithm a token is signed with.
#[derive(Clone, Copy, Debug)]
pub enum Alg {
    Rs256,
    Es256,
}

impl TestIssuer {
    pub fn start(hang_jwks: bool) -> TestIssuer {
        let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let ec = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let point = ec.verifying_key().to_encoded_point(false);
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
             "n": B64URL.encode(rsa.n().to_bytes_be()), "e": B64URL.encode(rsa.e().to_bytes_be())},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256",
             "x": B64URL.encode(point.x().unwrap()), "y": B64URL.encode(point.y().unwrap())},
        ]});
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer_base = base.clone();
        let app = axum::Router::new()
            .route(
                "/{name}/.well-known/openid-configuration",
                axum::routing::get(
                    move |axum::extract::Path(name): axum::extract::Path<String>| {
                        let base = issuer_base.clone();
                        async move {
                            axum::Json(json!({
                                "issuer": format!("{base}/{name}"),
                                "jwks_uri": format!("{base}/{name}/jwks"),
                                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                            }))
                        }
                    },
                ),
            )
            .route(
                "/{name}/jwks",
                axum::routing::get(move || {
                    let jwks = jwks.clone();
                    async move {
                        if hang_jwks {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        axum::Json(jwks)
                    }
                }),
            );
        // Its own thread and runtime, so that sync and async tests alike can use it.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
                serve.await.unwrap();
            });
        });
        TestIssuer {
            base,
            rsa,
            ec,
            _stop: stop,
        }
    }

    /// The issuer URL of issuer `name`.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Claims of a fresh token of issuer `name` for audience `sigstore`, with `extra` merged in.
    pub fn claims(&self, name: &str, extra: Value) -> Value {
        let now = super::unix_now();
        let mut claims = json!({
            "iss": self.url(name), "aud": "sigstore", "sub": "subject-1",
            "iat": now, "nbf": now, "exp": now + 300,
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    /// A token of `claims` signed with `alg`'s key.
    pub fn sign(&self, alg: Alg, claims: &Value) -> String {
        let (name, kid) = match alg {
            Alg::Rs256 => ("RS256", "rsa-1"),
            Alg::Es256 => ("ES256", "ec-1"),
        };
        let header = json!({"alg": name, "kid": kid, "typ": "JWT"});
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let signature = match alg {
            Alg::Rs256 => {
                let key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.rsa.clone());
                let sig: rsa::pkcs1v15::Signature = key.sign(input.as_bytes());
                rsa::signature::SignatureEncoding::to_vec(&sig)
            }
            Alg::Es256 => {
                let sig: p256::ecdsa::Signature = self.ec.sign(input.as_bytes());
                sig.to_bytes().to_vec()
            }
        };
        format!("{input}.{}", B64URL.encode(signature))
    }

    /// A token of issuer `name` with the default claims and `extra`.
    pub fn token(&self, alg: Alg, name: &str, extra: Value) -> String {
        self.sign(alg, &self.claims(name, extra))
    }

    /// The RSA public key as PEM (what an `HS256` confusion attack would key its HMAC with).
    pub fn rsa_public_pem(&self) -> String {
        use rsa::pkcs8::EncodePublicKey;
        self.rsa
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
    }
}

/// A fresh P-256 key: PEM public key, and the proof of possession over `challenge`.
pub fn key_and_proof(challenge: &str) -> (String, String) {
    let key = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let pem = key
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    let sig: p256::ecdsa::DerSignature = key.sign(challenge.as_bytes());
    (pem, B64.encode(sig.as_bytes()))
}

/// Asks the CA at `base` for a certificate of a fresh key with the ID token `token`, proving
/// possession over `challenge`: the status and the JSON answer.
pub async fn request_cert(base: &str, token: &str, challenge: &str) -> (u16, Value) {
    let res = post_cert_request(base, token, challenge).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// [`request_cert`]'s request, answered.
pub async fn post_cert_request(base: &str, token: &str, challenge: &str) -> reqwest::Response {
    let (pem, proof) = key_and_proof(challenge);
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem},
                             "proofOfPossession": proof},
    });
    reqwest::Client::new()
        .post(format!("{base}/api/v2/signingCert"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A PEM block's DER.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(body).unwrap()
}

/// The chain of a 201 answer, DER, leaf first.
pub fn chain(answer: &Value) -> Vec<Vec<u8>> {
    answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .expect("a chain")
        .iter()
        .map(|c| pem_to_der(c.as_str().unwrap()))
        .collect()
}

/// One embedded SCT: log ID, timestamp, extensions, DER signature.
pub type EmbeddedSct = (Vec<u8>, u64, Vec<u8>, Vec<u8>);

/// The SCTs embedded in `cert` (RFC 6962 §3.3), read byte by byte here rather than with
/// arkivo-core's parser.
pub fn embedded_scts(cert: &Certificate) -> Vec<EmbeddedSct> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.extn_id.to_string() == "1.3.6.1.4.1.11129.2.4.2")
        .expect("an SCT list extension");
    assert!(!ext.critical);
    let list = der::asn1::OctetString::from_der(ext.extn_value.as_bytes()).unwrap();
    let bytes = list.as_bytes();
    let u = |b: &[u8]| b.iter().fold(0usize, |n, &x| (n << 8) | usize::from(x));
    assert_eq!(u(&bytes[..2]), bytes.len() - 2, "the list's length");
    let mut rest = &bytes[2..];
    let mut scts = Vec::new();
    while !rest.is_empty() {
        let len = u(&rest[..2]);
        let sct = &rest[2..2 + len];
        rest = &rest[2 + len..];
        assert_eq!(sct[0], 0, "SCT version v1");
        let ext_len = u(&sct[41..43]);
        let after = &sct[43 + ext_len..];
        assert_eq!(after[..2], [4, 3], "SHA-256, ECDSA");
        assert_eq!(u(&after[2..4]), after.len() - 4, "the signature's length");
        scts.push((
            sct[1..33].to_vec(),
            u64::from_be_bytes(sct[33..41].try_into().unwrap()),
            sct[43..43 + ext_len].to_vec(),
            after[4..].to_vec(),
        ));
    }
    scts
}

/// The TBSCertificate of `cert` without its SCT list: what its precertificate's CT log entry
/// holds (RFC 6962 §3.2).
pub fn tbs_without_scts(cert: &Certificate) -> Vec<u8> {
    let mut tbs = cert.tbs_certificate.clone();
    if let Some(exts) = &mut tbs.extensions {
        exts.retain(|e| e.extn_id.to_string() != "1.3.6.1.4.1.11129.2.4.2");
    }
    tbs.to_der().unwrap()
}

/// The CT log entry of the certificate `der`, as tests/tiles/verify_tiles.py's `--entry` takes
/// it: the leaf index its SCT's `leaf_index` extension names (c2sp.org/static-ct-api), and the
/// base64 TBSCertificate.
pub fn ct_entry(der: &[u8]) -> String {
    let cert = Certificate::from_der(der).unwrap();
    let scts = embedded_scts(&cert);
    assert_eq!(scts.len(), 1);
    let extensions = &scts[0].2;
    assert_eq!(extensions[..3], [0, 0, 5], "a leaf_index extension");
    let index = u64::from_be_bytes([&[0; 3], &extensions[3..]].concat().try_into().unwrap());
    format!("{index}:{}", B64.encode(tbs_without_scts(&cert)))
}
