//! The conditional-request headers of the cached read routes as clients send them:
//! `If-None-Match` (RFC 9110 §13.1.2) and `If-Modified-Since` (§13.1.3), any bytes. Nothing may
//! panic; a list naming the representation's entity tag (strong or `W/`) or `*` always matches;
//! a list without the tag's digits nor `*` never does; with neither header nothing matches.
#![no_main]

use arkivo_server::api::cache::{last_modified, not_modified};
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

const ETAG: &str = "\"0123456789abcdef0123456789abcdef\"";

fuzz_target!(|data: &[u8]| {
    // First byte: how many of the rest are If-None-Match; the remainder is If-Modified-Since.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (inm, ims) = rest.split_at(usize::from(n).min(rest.len()));
    let mut conditions = HeaderMap::new();
    // A value HTTP cannot carry never reaches the handler: the header is then absent.
    let inm = HeaderValue::from_bytes(inm).ok();
    if let Some(v) = &inm {
        conditions.insert(header::IF_NONE_MATCH, v.clone());
    }
    if let Ok(v) = HeaderValue::from_bytes(ims) {
        conditions.insert(header::IF_MODIFIED_SINCE, v);
    }
    let answer = not_modified(&conditions, ETAG, Some(&last_modified(1_000_000_000)));
    match inm.as_ref().map(|v| v.to_str()) {
        Some(Ok(list)) => {
            let tokens: Vec<&str> = list.split(',').map(str::trim).collect();
            if tokens.iter().any(|t| *t == "*" || *t == ETAG || t.strip_prefix("W/") == Some(ETAG)) {
                assert!(answer, "{list:?} names the tag");
            }
            if !list.contains('*') && !list.contains(&ETAG[1..33]) {
                assert!(!answer, "{list:?} does not name the tag");
            }
        }
        // Not visible ASCII: no entity tag can be in it.
        Some(Err(_)) => assert!(!answer),
        None if !conditions.contains_key(header::IF_MODIFIED_SINCE) => assert!(!answer),
        None => {}
    }
});
