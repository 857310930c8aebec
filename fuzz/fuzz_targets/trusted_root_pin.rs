//! `arkivo trust-root`'s pinning of a served trusted root: any bytes as the root a server (or
//! anyone on the path) serves. Nothing may panic; pinned to the key of one of its logs, the
//! root written keeps only logs of that key, taken from the served ones, and no certificate
//! authority, CT log or timestamp authority; a key the served root does not list is refused.
//! Pinned also to the root certificate of its first timestamp authority, it keeps only served
//! timestamp authorities whose chain ends in that root (or refuses the pin).
#![no_main]

use arkivo_client::trust::{self, Pins, TrustError};
use arkivo_core::wire::TrustedRoot;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(served) = serde_json::from_slice::<TrustedRoot>(data) else {
        return;
    };
    let unlisted = vec![0u8; 91];
    let listed = served
        .tlogs
        .iter()
        .filter_map(|t| B64.decode(&t.public_key.raw_bytes).ok())
        .find(|k| *k != unlisted);
    if !served
        .tlogs
        .iter()
        .any(|t| B64.decode(&t.public_key.raw_bytes).ok() == Some(unlisted.clone()))
    {
        let pins = Pins {
            logs: vec![unlisted],
            ..Pins::default()
        };
        assert!(matches!(
            trust::pinned_root(&served, &pins, "fuzz"),
            Err(TrustError::KeyNotListed { .. })
        ));
    }
    let Some(key) = listed else {
        return;
    };
    let pins = Pins {
        logs: vec![key.clone()],
        ..Pins::default()
    };
    let (root, _) = trust::pinned_root(&served, &pins, "fuzz").expect("a listed key is pinned");
    assert!(!root.tlogs.is_empty());
    for t in &root.tlogs {
        assert_eq!(
            B64.decode(&t.public_key.raw_bytes).ok().as_ref(),
            Some(&key)
        );
        assert!(served.tlogs.contains(t));
    }
    assert!(root.certificate_authorities.is_empty());
    assert!(root.ctlogs.is_empty());
    assert!(root.timestamp_authorities.is_empty());
    let json = serde_json::to_vec(&root).expect("a root serializes");
    let _ = trust::logs_from_trusted_root(&json, "fuzz");

    let root_of = |ca: &arkivo_core::wire::CertificateAuthority| {
        (ca.cert_chain.certificates.last()).and_then(|c| B64.decode(&c.raw_bytes).ok())
    };
    let Some(tsa_root) = served.timestamp_authorities.first().and_then(root_of) else {
        return;
    };
    let pins = Pins {
        logs: vec![key],
        tsa_roots: vec![tsa_root.clone()],
        ..Pins::default()
    };
    match trust::pinned_root(&served, &pins, "fuzz") {
        Ok((root, _)) => {
            assert!(!root.timestamp_authorities.is_empty());
            for tsa in &root.timestamp_authorities {
                assert_eq!(root_of(tsa).as_ref(), Some(&tsa_root));
                assert!(served.timestamp_authorities.contains(tsa));
            }
        }
        Err(e) => assert!(matches!(e, TrustError::CaNotListed { .. }), "{e}"),
    }
});
