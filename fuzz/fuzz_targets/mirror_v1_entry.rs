//! A log's Rekor v1 answer as a mirror reads it (`POST /api/v1/log/entries/retrieve`, one item):
//! any bytes. Parsing and `verify_v1_entry` never panic, and an accepted answer is for the asked
//! index and carries exactly the body the mirror verified in the tiles, with a SET that verifies.
#![no_main]

use arkivo_core::mirror::verify_v1_entry;
use arkivo_core::signer::{LogKeys, verify_set};
use arkivo_core::wire::LogEntry;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(answers) = serde_json::from_slice::<Vec<LogEntry>>(data) else {
        return;
    };
    static KEYS: std::sync::OnceLock<LogKeys> = std::sync::OnceLock::new();
    let key = KEYS.get_or_init(LogKeys::generate).ecdsa_verifying_key();
    for (index, answer) in (0u64..).zip(&answers) {
        let body = br#"{"kind":"fuzz"}"#;
        if let Ok(e) = verify_v1_entry(key, index, body, answer) {
            let (_, got) = answer.iter().next().unwrap();
            assert_eq!(got.log_index, index);
            assert_eq!(B64.decode(&got.body).unwrap(), body);
            assert!(verify_set(key, &got.body, e.integrated_time, &got.log_id, index, &e.set));
        }
    }
});
