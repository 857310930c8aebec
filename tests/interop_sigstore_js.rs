//! The official Sigstore JavaScript libraries (@sigstore/sign, @sigstore/verify) against the
//! real server on a socket: hashedrekord and dsse entries signed with a local key, recorded
//! through `RekorWitness`, and their bundles verified offline against the server's TrustedRoot
//! (signature, body, SET, checkpoint, inclusion proof), with tampered bundles and a foreign log
//! key rejected. See tests/interop/sigstore-js.mjs. Node and npm are required: this test never
//! skips.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestServer;

/// Installs the pinned npm packages if they are not there yet (`scripts/setup` does the same).
fn npm_ci(dir: &Path) {
    if dir.join("node_modules/@sigstore/sign").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("npm is required for the interop tests (Debian: apt-get install nodejs npm)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

#[test]
fn sigstore_js_signs_and_verifies_hashedrekord_and_dsse_bundles() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    npm_ci(&dir);
    let server = TestServer::start(&[]);
    let out = Command::new("node")
        .arg("sigstore-js.mjs")
        .arg(server.base_url())
        .current_dir(&dir)
        .output()
        .expect("node is required for the interop tests");
    assert!(
        out.status.success(),
        "sigstore-js: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["client"], "sigstore-js");
    assert_eq!(result["duplicate"]["status"], 409);
    assert_eq!(result["hashedrekord"]["logIndex"], 0);
    assert_eq!(result["dsse"]["logIndex"], 1);
}
