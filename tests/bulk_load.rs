//! `arkivo bulk-load` writes what the API writes: the same entries, through the real server
//! one at a time and through `bulk-load` in a few large commits, leave the same stored rows —
//! entries, stored hashes, leaf index, search rows, the tree head's size and root — except what
//! depends on the clock or a signature's random nonce (integrated times, checkpoint and SET
//! signatures), which must verify instead; `verify-log` accepts both logs, and the bulk-loaded one
//! serves entries whose proofs and SETs verify.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arkivo_core::merkle::{self, RightBorder};
use arkivo_server::datadir::{self, LogPaths};
use arkivo_server::storage::LogStore;
use common::{EntrySigner, TestServer, arkivo, free_port, path, post_request};

const ENTRIES: usize = 3000;

/// The log in `dir`, opened directly (no server may be running on it).
fn open(dir: &Path) -> datadir::OpenedLog {
    datadir::open(&LogPaths::new(dir, None, None), None, false).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_load_writes_the_rows_the_api_writes() {
    let signer = EntrySigner::new();
    let proposed: Vec<serde_json::Value> = (0..ENTRIES)
        .map(|i| signer.hashedrekord(format!("bulk {i}").as_bytes()))
        .collect();
    let tmp = tempfile::tempdir().unwrap();

    // Through the API, one at a time, so in this order.
    let by_api = tmp.path().join("api");
    let mut server = TestServer::start_in(&by_api, free_port(), &[]);
    let client = reqwest::Client::new();
    for p in &proposed {
        assert_eq!(
            post_request(&client, &server.base_url(), p).await.status(),
            201
        );
    }
    server.signal("TERM");

    // Through bulk-load, in commits of 700 (the last one partial), with a duplicate line and a
    // blank one that must change nothing.
    let file = tmp.path().join("entries.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    for p in proposed.iter().chain([&proposed[5]]) {
        writeln!(f, "{p}\n").unwrap();
    }
    drop(f);
    let by_bulk = tmp.path().join("bulk");
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let (ok, out, err) = arkivo(&[
        "bulk-load",
        "--data-dir",
        path(&by_bulk),
        "--hostname",
        &host,
        "--batch",
        "700",
        path(&file),
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!(
            "appended {ENTRIES} entries (1 already in the log)"
        )),
        "{out}"
    );
    // A bad line is named, and its batch is not written.
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"kind\":\"nothing\"}\n").unwrap();
    let (ok, out, err) = arkivo(&["bulk-load", "--data-dir", path(&by_bulk), path(&bad)]);
    assert!(!ok && err.contains("line 1"), "{out}{err}");

    for dir in [&by_api, &by_bulk] {
        let (ok, out, err) = arkivo(&["verify-log", "--data-dir", path(dir)]);
        assert!(
            ok && out.contains(&format!("{ENTRIES} entries")),
            "{out}{err}"
        );
    }

    // Row by row.
    let (api_log, bulk_log) = (open(&by_api), open(&by_bulk));
    let (a, b) = (api_log.active(), bulk_log.active());
    let (a_store, b_store): (Arc<dyn LogStore>, Arc<dyn LogStore>) =
        (a.store.clone(), b.store.clone());
    let (a_head, b_head) = (a_store.head().unwrap(), b_store.head().unwrap());
    let n = ENTRIES as u64;
    assert_eq!((b_head.size, b_head.root), (n, a_head.root));
    let all: Vec<u64> = (0..merkle::stored_hash_count(n)).collect();
    assert_eq!(
        b_store.read_hashes(&all).unwrap(),
        a_store.read_hashes(&all).unwrap()
    );
    assert_eq!(
        RightBorder::from_stored(
            n,
            &b_store
                .read_hashes(&RightBorder::stored_indexes(n))
                .unwrap()
        )
        .unwrap()
        .root(),
        a_head.root
    );
    let (a_entries, b_entries) = (
        a_store.entries(0..n).unwrap(),
        b_store.entries(0..n).unwrap(),
    );
    let keys = b.identity.keys.ecdsa_verifying_key();
    let log_id = b.identity.keys.log_id_hex();
    use base64::Engine as _;
    let mut keys_seen = std::collections::BTreeSet::new();
    for (i, (x, y)) in (0..).zip(a_entries.iter().zip(&b_entries)) {
        assert_eq!(x.body, y.body, "entry {i}");
        let leaf = merkle::record_hash(&y.body);
        assert_eq!(b_store.indexes_of(&[leaf]).unwrap(), [Some(i)]);
        let e = arkivo_core::entries::canonicalize_bytes(
            &serde_json::to_vec(&proposed[i as usize]).unwrap(),
        )
        .unwrap();
        for key in e.index_keys {
            assert!(b_store.search_row_exists(&key, i).unwrap(), "{key} {i}");
            keys_seen.insert(key);
        }
        // Both logs stored a SET for every entry, each verifying with its own log's key.
        let body = base64::engine::general_purpose::STANDARD.encode(&y.body);
        assert!(
            x.set.is_some(),
            "entry {i} written by the API has a stored SET"
        );
        assert!(arkivo_core::signer::verify_set(
            keys,
            &body,
            y.integrated_time,
            &log_id,
            i,
            y.set.as_deref().unwrap()
        ));
    }
    for key in &keys_seen {
        assert_eq!(
            b_store.search(key, n, usize::MAX).unwrap(),
            a_store.search(key, n, usize::MAX).unwrap(),
            "{key}"
        );
    }
    drop((a_store, b_store, api_log, bulk_log));

    // Served: the bulk-loaded log's entries read back with proofs and SETs that verify.
    let server = TestServer::start_in(&by_bulk, port, &[]);
    let info = common::get_json(&client, format!("{}/api/v1/log", server.base_url())).await;
    assert_eq!(info["treeSize"], ENTRIES);
    assert_eq!(info["rootHash"], a_head.root.to_hex());
    for i in [0, 699, 700, ENTRIES - 1] {
        let j = common::get_json(
            &client,
            format!("{}/api/v1/log/entries?logIndex={i}", server.base_url()),
        )
        .await;
        let (_, e) = j.as_object().unwrap().iter().next().unwrap();
        let set = base64::engine::general_purpose::STANDARD
            .decode(e["verification"]["signedEntryTimestamp"].as_str().unwrap())
            .unwrap();
        assert_eq!(Some(set), b_entries[i].set, "the stored SET is served");
    }
}
