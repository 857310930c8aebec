//! A CA request (`POST /api/v2/signingCert`): the JSON body, then the key request in it — a
//! PEM/base64 public key with a proof of possession, or a PKCS#10 CSR whose self-signature is
//! checked — and a bare CSR, PEM or DER, from any bytes. Parsing must answer, never panic.
#![no_main]

use arkivo_core::ca::{KeyRequest, SigningCertRequest, parse_csr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<SigningCertRequest>(data)
        && let Ok(key) = KeyRequest::from_request(&req)
    {
        let _ = key.into_proven_key("challenge");
    }
    let _ = parse_csr(data);
});
