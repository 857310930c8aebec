//! The write gate as a client meets it: any `Authorization` header value against one accepted
//! token, and any write-tokens file. Nothing may panic; a header is accepted exactly when it is
//! the `Bearer` scheme in any case (RFC 9110 §11.1), then the token, surrounded by nothing but
//! spaces and tabs; a file that parses accepts at least one token.
#![no_main]

use std::sync::OnceLock;

use arkivo_server::auth::{AuthError, WriteTokens};
use libfuzzer_sys::fuzz_target;

const TOKEN: &[u8] = b"tok3n";

fn tokens() -> &'static WriteTokens {
    static TOKENS: OnceLock<WriteTokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        use sha2::Digest as _;
        WriteTokens::parse(&hex::encode(sha2::Sha256::digest(TOKEN))).expect("one digest")
    })
}

fuzz_target!(|data: &[u8]| {
    let expected = data.len() >= 7
        && data[..7].eq_ignore_ascii_case(b"bearer ")
        && data[7..].trim_ascii() == TOKEN;
    match tokens().check(Some(data)) {
        Ok(()) => assert!(expected, "accepted {data:?}"),
        Err(AuthError::Missing | AuthError::Refused) => assert!(!expected, "refused {data:?}"),
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(file) = WriteTokens::parse(text)
    {
        assert!(!file.is_empty());
    }
});
