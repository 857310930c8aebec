//! What the client reads from outside: a Sigstore bundle (verified against a fixed log key),
//! a private key file (up to the point where a password is needed), a trusted root. Any bytes;
//! nothing may panic, and a bundle that parses writes back to one that parses the same.
#![no_main]

use std::sync::OnceLock;

use arkivo_client::bundle::Bundle;
use arkivo_client::keys::{KeyError, SigningKey};
use arkivo_client::trust::{self, TrustedLog};
use arkivo_client::verify;
use libfuzzer_sys::fuzz_target;

/// A log key, made once per run.
fn log() -> &'static [TrustedLog] {
    static LOG: OnceLock<Vec<TrustedLog>> = OnceLock::new();
    LOG.get_or_init(|| {
        let pem = arkivo_core::signer::LogKeys::generate().ecdsa_public_pem();
        vec![TrustedLog::from_public_key_pem(&pem, "log").expect("a P-256 key")]
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::from_json(data) {
        let again =
            Bundle::from_json(bundle.to_json().as_bytes()).expect("a written bundle parses");
        assert_eq!(again, bundle);
        if let Ok(entry) = bundle.log_entry() {
            let _ = verify::verify_log_entry(&entry, log());
        }
        let _ = bundle.message_signature();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = SigningKey::from_pem(text, "fuzz", &mut |_| {
            Err(KeyError::NoPassword("not while fuzzing".into()))
        });
    }
    let _ = trust::logs_from_trusted_root(data, "fuzz");
});
