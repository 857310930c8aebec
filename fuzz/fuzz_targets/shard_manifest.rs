//! A data directory's shard list (`shards.json`), as `arkivo serve` reads it at start: any
//! bytes. Parsing never panics; an accepted list has shards with distinct positive tree IDs and
//! paths inside the data directory, and writes back to a list that parses to the same shards.
#![no_main]

use arkivo_server::shards::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse(data) {
        assert!(!manifest.shards.is_empty());
        for (i, shard) in manifest.shards.iter().enumerate() {
            assert!(shard.tree_id > 0);
            assert!(
                manifest.shards[..i]
                    .iter()
                    .all(|s| s.tree_id != shard.tree_id)
            );
            for path in std::iter::once(&shard.db).chain(&shard.keys) {
                assert!(!path.starts_with('/') && !path.split('/').any(|c| c == ".."));
            }
        }
        assert_eq!(Manifest::parse(&manifest.to_json()), Ok(manifest));
    }
});
