//! A witness's `add-checkpoint` request body (tlog-witness) and a 409's size body, as any client
//! may send them: any bytes. Parsing never panics, and a parsed request formats back to exactly
//! its input (the strict parser accepts one spelling of each request).
#![no_main]

use arkivo_core::witness::{AddCheckpoint, parse_size_body, size_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = AddCheckpoint::parse(data) {
        assert_eq!(request.to_body().as_bytes(), data);
    }
    if let Some(size) = parse_size_body(data) {
        assert_eq!(parse_size_body(size_body(size).as_bytes()), Some(size));
    }
});
