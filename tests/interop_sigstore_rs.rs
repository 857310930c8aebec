//! sigstore-rs, an independently written Rekor v1 client, against the real server on a socket:
//! it creates entries, reads them back by index and UUID through its fixed-offset response
//! parser (rekor-v1-api.md §1.3), and verifies inclusion proofs, checkpoint signatures and
//! consistency with its own code (tests/interop-rs).

mod common;

use std::process::Command;

use common::TestServer;

#[test]
fn sigstore_rs_creates_fetches_and_verifies_entries() {
    let client = common::build_interop_package("tests/interop-rs", "arkivo-interop-sigstore-rs");
    let server = TestServer::start(&[]);
    // Twice: the second run also checks consistency from a non-empty tree.
    for _ in 0..2 {
        let out = Command::new(&client)
            .arg(server.base_url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sigstore-rs: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["created"], 3);
    }
}
