//! A verifier (public key or certificate chain) as entries carry it, PEM, and a bare DER
//! SubjectPublicKeyInfo: any bytes. Parsing must never panic, and an accepted verifier's
//! canonical PEM must parse again to the same key.
#![no_main]

use arkivo_core::entries::pki::{PublicKey, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = Verifier::from_pem(data) {
        let again = Verifier::from_pem(v.canonical_pem().as_bytes())
            .expect("a verifier's canonical PEM parses");
        assert_eq!(again.key().spki_der(), v.key().spki_der());
        // The chain check must answer, not panic, whatever the certificates say.
        let _ = v.verify_chain();
    }
    if let Ok(k) = PublicKey::from_spki_der(data) {
        assert_eq!(
            PublicKey::from_spki_der(k.spki_der()).map(|k| k.spki_der().to_vec()),
            Ok(k.spki_der().to_vec())
        );
    }
});
