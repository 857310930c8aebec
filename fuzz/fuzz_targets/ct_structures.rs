//! The CT log's TLS structures as a monitor or a verifier of an embedded SCT reads them: any
//! bytes as a static-ct-api data tile, as an RFC 6962 `SignedCertificateTimestampList` and as
//! `CtExtensions`. Parsing never panics, and whatever parses encodes back to exactly the input.
#![no_main]

use arkivo_core::ct::{SignedCertificateTimestampList, TileLeaf, parse_leaf_index};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(leaves) = TileLeaf::parse_data_tile(data) {
        assert_eq!(
            leaves.iter().flat_map(TileLeaf::encode).collect::<Vec<_>>(),
            data
        );
    }
    if let Ok(list) = SignedCertificateTimestampList::parse(data) {
        assert_eq!(list.encode(), data);
    }
    let _ = parse_leaf_index(data);
});
