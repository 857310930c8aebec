//! Search-index keys as entries and search requests bring them: an in-toto statement's subject
//! and material digests (rekor-v1-api.md §10.1 item 5), a stored body re-read for its keys, a
//! search term, a public key to search by. Any bytes; nothing may panic, and every key that comes
//! out can be stored: no NUL (the row separator), at most `MAX_INTOTO_INDEX_KEYS` from one
//! statement, each `<alg>:<hex>` of an indexed algorithm and its length.
#![no_main]

use arkivo_core::entries::dsse::in_toto_keys;
use arkivo_core::entries::{check_index_key, index_keys_of_body, public_key_index_keys};
use arkivo_core::limits::MAX_INTOTO_INDEX_KEYS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(keys) = in_toto_keys(data) {
        assert!(keys.len() <= MAX_INTOTO_INDEX_KEYS);
        for key in &keys {
            let (alg, hex) = key.split_once(':').expect("an <alg>:<digest> key");
            let len = match alg {
                "sha1" => 40,
                "sha256" => 64,
                "sha512" => 128,
                _ => panic!("{key:?}: not an indexed algorithm"),
            };
            assert_eq!(hex.len(), len, "{key:?}");
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{key:?}");
        }
    }
    if let Ok(keys) = index_keys_of_body(data) {
        for key in &keys {
            assert!(check_index_key(key).is_ok(), "{key:?}");
        }
    }
    if let Ok(term) = std::str::from_utf8(data) {
        assert_eq!(check_index_key(term).is_ok(), !term.contains('\0'));
    }
    if let Ok(keys) = public_key_index_keys(data) {
        for key in &keys {
            assert!(check_index_key(key).is_ok(), "{key:?}");
        }
    }
});
