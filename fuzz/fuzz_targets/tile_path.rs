//! Tile paths from request URLs, and tiles and entry bundles as a mirror or verifier reads them:
//! any bytes. Parsing never panics; a parsed path prints back to exactly the input (one path per
//! tile, so caches never hold two copies); decoded tiles and bundles encode back to the input.
#![no_main]

use arkivo_core::tiles::{
    TilePath, decode_entry_bundle, decode_tile, encode_entry_bundle, encode_tile,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data)
        && let Ok(tile) = TilePath::parse(path)
    {
        assert_eq!(tile.to_string(), path);
    }
    if let Ok(entries) = decode_entry_bundle(data) {
        assert_eq!(encode_entry_bundle(0, entries).as_deref(), Ok(data));
    }
    if let Ok(width) = u16::try_from(data.len() / 32)
        && let Ok(hashes) = decode_tile(data, width)
    {
        assert_eq!(encode_tile(&hashes), data);
    }
});
