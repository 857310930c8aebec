//! A proposed entry as `POST /api/v1/log/entries` or `POST /api/v2/log/entries` receives it: any
//! bytes. Validation must never
//! panic, and an accepted entry must be self-consistent: its body is canonical JSON whose kind and
//! search keys can be read back (the fsck and the search index rely on that). For `dsse` and
//! `intoto` the keys from the in-toto statement are not in the body, so those read back are a
//! subset; a verifier can read the fields of their bodies back.
#![no_main]

use arkivo_core::entries::v2::canonicalize_request;
use arkivo_core::entries::{
    CanonicalEntry, Kind, canonicalize_bytes, dsse, index_keys_of_body, intoto, kind_of_body,
};
use arkivo_core::merkle::record_hash;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for entry in [canonicalize_bytes(data), canonicalize_request(data)] {
        if let Ok(entry) = entry {
            check(&entry);
        }
    }
});

fn check(entry: &CanonicalEntry) {
    assert_eq!(entry.leaf_hash, record_hash(&entry.body));
    assert_eq!(
        kind_of_body(&entry.body).map(|(kind, _)| kind),
        Ok(entry.kind)
    );
    let keys = index_keys_of_body(&entry.body).expect("an accepted body reads back");
    match entry.kind {
        Kind::HashedRekord | Kind::Rekord => assert_eq!(keys, entry.index_keys),
        Kind::Dsse | Kind::Intoto => assert!(keys.iter().all(|k| entry.index_keys.contains(k))),
    }
    // What a verifier reads of a DSSE-recording body: every accepted one reads back.
    match entry.kind {
        Kind::Dsse => drop(dsse::parse_body(&entry.body).expect("a dsse body reads back")),
        Kind::Intoto => drop(intoto::parse_body(&entry.body).expect("an intoto body reads back")),
        Kind::HashedRekord | Kind::Rekord => {}
    }
}
