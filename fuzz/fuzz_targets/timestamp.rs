//! Timestamp requests (DER `TimeStampReq` and upstream's JSON form), timestamp responses and
//! tokens (a bundle's `signedTimestamp`): any bytes. Parsing and verifying must never panic; an
//! accepted request must be granted with a response that verifies for its imprint and nonce
//! (RFC 3161 §2.4), and whose token, taken out, verifies on its own.
#![no_main]

use std::sync::OnceLock;

use arkivo_core::tsa::{
    DEFAULT_POLICY, TrustedTsa, TsaSigner, generate, parse_der_request, parse_json_request,
    verify_response, verify_signed_timestamp,
};
use libfuzzer_sys::fuzz_target;

fn tsa() -> &'static (TsaSigner, Vec<TrustedTsa>) {
    static TSA: OnceLock<(TsaSigner, Vec<TrustedTsa>)> = OnceLock::new();
    TSA.get_or_init(|| {
        let (key, chain) = generate("fuzz.test", 1_700_000_000).unwrap();
        let signer = TsaSigner::new(&key, &chain, DEFAULT_POLICY).unwrap();
        let trusted = vec![TrustedTsa::from_authority(&signer.authority()).unwrap()];
        (signer, trusted)
    })
}

fuzz_target!(|data: &[u8]| {
    let (signer, trusted) = tsa();
    for req in [parse_der_request(data), parse_json_request(data)]
        .into_iter()
        .flatten()
    {
        // Refused only for another policy.
        if let Ok(resp) = signer.timestamp(&req, 1_700_000_001, 1) {
            verify_response(&resp, req.hash, &req.digest, req.nonce.as_ref(), trusted)
                .expect("a granted request's response verifies");
            verify_signed_timestamp(&resp, req.hash, &req.digest, trusted)
                .expect("as a bundle's signed timestamp too");
        }
    }
    let digest = [0u8; 32];
    let sha256 = arkivo_core::entries::pki::HashAlg::Sha256;
    let _ = verify_response(data, sha256, &digest, None, trusted);
    let _ = verify_signed_timestamp(data, sha256, &digest, trusted);
});
