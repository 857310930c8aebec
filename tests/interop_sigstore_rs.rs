//! sigstore-rs, an independently written Rekor v1 client, against the real server on a socket:
//! it creates entries (hashedrekord, and a rekord with its data, found again by its hash), reads
//! them back by index and UUID through its fixed-offset response parser (rekor-v1-api.md §1.3),
//! and verifies inclusion proofs, checkpoint signatures, SETs and
//! consistency with its own code (tests/interop-rs) — before and after shard rotations (§9, issue
//! 8 item 4), each entry against its own shard's key, fetched as rekor-cli does with
//! `publicKey?treeID=<the tree ID in its entry ID>`.

mod common;

use std::process::Command;

use common::TestServer;

/// One run of the client; `since` is the tree head an earlier run printed. Returns its summary.
fn run_client(
    client: &std::path::Path,
    server: &TestServer,
    since: Option<&str>,
) -> serde_json::Value {
    let out = Command::new(client)
        .arg(server.base_url())
        .args(since)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sigstore-rs (since {since:?}): {}{}\n--- arkivo stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("sigstore-rs: {summary}");
    assert_eq!(summary["created"], 3);
    summary
}

#[test]
fn sigstore_rs_creates_fetches_and_verifies_entries_across_shard_rotations() {
    let client = common::build_interop_package("tests/interop-rs", "arkivo-interop-sigstore-rs");
    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut server = TestServer::start_in(data.path(), port, &[]);
    let created = |r: &serde_json::Value, from: u64| {
        assert_eq!(
            r["createdAt"],
            serde_json::json!([from, from + 1, from + 2]),
            "{r}"
        );
    };

    // One tree, twice: the second run also checks consistency from the first run's head.
    let first = run_client(&client, &server, None);
    created(&first, 0);
    assert_eq!(
        (first["shards"].as_u64(), first["entries"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(first["since"], serde_json::Value::Null);
    let second = run_client(&client, &server, first["head"].as_str());
    created(&second, 3);
    assert_eq!(second["since"], "active");
    assert_eq!(second["otherKeyRejected"], 0);
    let tree1 = second["activeTree"].as_str().unwrap().to_owned();

    // A rotation with new keys: the six entries stay in tree 1, frozen, with its key; new ones go
    // to tree 2 at virtual indexes 6.., signed with the new key. The first run's head (tree 1 at
    // 3) is checked against tree 1's final head with `proof?treeID=`.
    let r1 = common::rotate(server.data_dir(), true);
    assert_eq!(
        (r1.frozen_tree_id.as_str(), r1.frozen_size),
        (tree1.as_str(), 6)
    );
    let third = run_client(&client, &server, first["head"].as_str());
    created(&third, 6);
    assert_eq!(third["activeTree"], r1.active_tree_id.as_str());
    assert_eq!(
        (third["shards"].as_u64(), third["entries"].as_u64()),
        (Some(2), Some(9))
    );
    assert_eq!(
        third["treeSize"], 3,
        "the active tree holds only the new entries"
    );
    assert_eq!(
        third["otherKeyRejected"], 6,
        "tree 1's entries do not verify with tree 2's key"
    );
    assert_eq!(third["frozenConsistency"], 1);
    assert_eq!(third["since"], "frozen");
    let fourth = run_client(&client, &server, third["head"].as_str());
    created(&fourth, 9);
    assert_eq!(fourth["since"], "active");
    assert_eq!(fourth["treeSize"], 6);

    // A rotation keeping the keys: tree 2 frozen at 6 entries, tree 3 active with the same key;
    // then a restart, which reads the shards back from disk.
    let r2 = common::rotate(server.data_dir(), false);
    assert_eq!(
        (r2.frozen_tree_id.as_str(), r2.frozen_size),
        (r1.active_tree_id.as_str(), 6)
    );
    server.signal("TERM");
    let server = TestServer::start_in(data.path(), port, &[]);
    let fifth = run_client(&client, &server, third["head"].as_str());
    created(&fifth, 12);
    assert_eq!(fifth["activeTree"], r2.active_tree_id.as_str());
    assert_eq!(
        (fifth["shards"].as_u64(), fifth["entries"].as_u64()),
        (Some(3), Some(15))
    );
    assert_eq!(fifth["treeSize"], 3);
    assert_eq!(fifth["otherKeyRejected"], 6, "only tree 1 has another key");
    assert_eq!(fifth["frozenConsistency"], 2);
    assert_eq!(fifth["since"], "frozen");
}
