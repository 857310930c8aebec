//! A `rekord` 0.0.1 entry (rekor-v1-api.md §5a) as its two parsers see it: any bytes as the
//! `spec` of a proposed entry, and as a stored body re-read for its search keys. Nothing may
//! panic; an accepted entry stores no data, only the SHA-256 of the `data.content` it was
//! verified over, and reads back with the keys it was written with.
#![no_main]

use arkivo_core::entries::{Kind, canonicalize, check_index_key, index_keys_of_body, kind_of_body};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = serde_json::from_slice::<serde_json::Value>(data) {
        let proposed = serde_json::json!({"apiVersion": "0.0.1", "kind": "rekord", "spec": spec});
        if let Ok(entry) = canonicalize(&proposed) {
            assert_eq!(entry.kind, Kind::Rekord);
            assert_eq!(kind_of_body(&entry.body), Ok((Kind::Rekord, "0.0.1")));
            assert_eq!(
                index_keys_of_body(&entry.body).as_ref(),
                Ok(&entry.index_keys)
            );
            let body: serde_json::Value = serde_json::from_slice(&entry.body).unwrap();
            assert!(body["spec"]["data"].get("content").is_none());
            let content = B64
                .decode(spec["data"]["content"].as_str().unwrap())
                .unwrap();
            assert_eq!(
                body["spec"]["data"]["hash"]["value"],
                hex::encode(Sha256::digest(&content))
            );
        }
    }
    if let Ok(keys) = index_keys_of_body(data) {
        assert!(keys.iter().all(|k| check_index_key(k).is_ok()));
    }
});
