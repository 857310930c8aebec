//! The RocksDB store and the opening rules of a data directory, on a real RocksDB in a
//! temporary directory.

mod common;

use std::os::unix::fs::PermissionsExt;

use arkivo_core::merkle::{self, RightBorder};
use arkivo_server::datadir::{self, LogPaths};
use arkivo_server::storage::rocks::RocksStore;
use arkivo_server::storage::upper::UpperLevels;
use arkivo_server::storage::{
    CommitBatch, FORMAT_VERSION, LogStore, NewEntry, StorageError, StoreHashes, TreeHead,
};
use common::storage::Batch;

fn paths(dir: &std::path::Path) -> LogPaths {
    LogPaths::new(dir, None, None)
}

/// Appends `bodies` as one batch the way the sequencer does (minus signing) and returns the head.
fn append(store: &RocksStore, border: &mut RightBorder, bodies: &[String], time: i64) -> TreeHead {
    let batch = Batch::append(border, bodies, time);
    store.commit(&batch.commit()).unwrap();
    batch.head
}

/// The upper tree levels kept in memory answer exactly what the store does, cold and warm, for
/// every kind of read (roots, inclusion and consistency proofs, tiles' hashes), and a hash the
/// store lacks is still an error.
#[test]
fn upper_levels_in_memory_answer_as_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let opened = datadir::open(&paths(dir.path()), Some("log.test"), true).unwrap();
    let store = opened.active().store.clone();
    let mut border = RightBorder::empty();
    // 3 · 2^16 + 1000 records: nodes up to level 17, full subtrees of levels 8 and 16, and a
    // ragged right edge.
    for batch in 0..50u64 {
        let bodies: Vec<String> = (0..3952).map(|i| format!("entry {batch}/{i}")).collect();
        append(&store, &mut border, &bodies, 1000);
    }
    let size = border.size();
    let direct = StoreHashes(store.as_ref());
    let upper = UpperLevels::new(store.clone());
    let kept = StoreHashes(&upper);
    for _pass in ["cold", "warm"] {
        assert_eq!(
            merkle::tree_hash(size, &kept).unwrap(),
            merkle::tree_hash(size, &direct).unwrap()
        );
        for index in (0..size)
            .step_by(997)
            .chain([0, 255, 256, 65535, 65536, size - 1])
        {
            assert_eq!(
                merkle::inclusion_proof(size, index, &kept).unwrap(),
                merkle::inclusion_proof(size, index, &direct).unwrap(),
                "{index}"
            );
            let old = index + 1;
            assert_eq!(
                merkle::consistency_proof(old, size, &kept).unwrap(),
                merkle::consistency_proof(old, size, &direct).unwrap(),
                "{old}"
            );
        }
        let all: Vec<u64> = (0..merkle::stored_hash_count(size)).step_by(7).collect();
        assert_eq!(
            upper.read_hashes(&all).unwrap(),
            store.read_hashes(&all).unwrap()
        );
    }
    let beyond = merkle::stored_hash_index(8, size / 256 + 1);
    let top = merkle::stored_hash_index(16, 0);
    assert!(matches!(
        upper.read_hashes(&[top, beyond]),
        Err(StorageError::Corrupt(_))
    ));
}

/// What an inclusion proof costs the store, counted on the memory store: one `read_hashes` call
/// of all its stored hashes (~log2 n of them, 17 here, 24 at 10^7) from the store alone; one
/// call of at most 8 — the levels below 8, inside the entry's own 256-record subtree — once the
/// upper levels are in memory ([`UpperLevels`]).
#[test]
fn an_inclusion_proof_is_one_store_read_of_at_most_eight_hashes() {
    use arkivo_server::storage::memory::MemoryStore;
    use std::sync::atomic::Ordering;
    let store = std::sync::Arc::new(MemoryStore::new());
    let mut border = RightBorder::empty();
    // 2^16 + 512 records: a full subtree of level 16 and a right edge of whole tiles.
    for batch in 0..33u64 {
        let bodies: Vec<String> = (0..2048).map(|i| format!("entry {batch}/{i}")).collect();
        store
            .commit(&Batch::append(&mut border, &bodies, 1000).commit())
            .unwrap();
    }
    let size = border.size();
    assert_eq!(size, 65536 + 2048);
    let count = || {
        (
            store.hash_reads.calls.load(Ordering::SeqCst),
            store.hash_reads.hashes.load(Ordering::SeqCst),
        )
    };
    let before = count();
    let proof = merkle::inclusion_proof(size, 12345, &StoreHashes(store.as_ref())).unwrap();
    let after = count();
    assert_eq!(proof.len(), 17);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 17));

    let upper = UpperLevels::new(store.clone());
    // The first proof of each tile reads its upper-level siblings once.
    for first in (0..size).step_by(256) {
        merkle::inclusion_proof(size, first, &StoreHashes(&upper)).unwrap();
    }
    for index in (0..size)
        .step_by(4099)
        .chain([0, 255, 12345, 65535, 65536, size - 1])
    {
        let before = count();
        let proof = merkle::inclusion_proof(size, index, &StoreHashes(&upper)).unwrap();
        let after = count();
        assert!(proof.len() >= 12);
        assert_eq!(after.0 - before.0, 1, "one read for the proof of {index}");
        assert!(
            after.1 - before.1 <= 8,
            "{} stored hashes read for the proof of {index}",
            after.1 - before.1
        );
    }
}

#[test]
fn commits_survive_reopening_and_serve_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let opened = datadir::open(&paths(dir.path()), Some("log.test"), true).unwrap();
    assert!(opened.created);
    let meta = opened.active().identity.meta.clone();
    let store = opened.active().store.clone();
    let mut border = RightBorder::empty();
    let mut heads = vec![store.head().unwrap()];
    for batch in 0..10 {
        let bodies: Vec<String> = (0..(batch * 7 + 1))
            .map(|i| format!("entry {batch}/{i}"))
            .collect();
        heads.push(append(&store, &mut border, &bodies, 1000 + batch as i64));
    }
    let size = border.size();
    drop((store, opened));

    // Reopen: the same log, the same head, the same tree.
    let reopened = datadir::open(&paths(dir.path()), None, false).unwrap();
    assert!(!reopened.created);
    assert_eq!(reopened.active().identity.meta, meta);
    let store = reopened.active().store.clone();
    let head = store.head().unwrap();
    assert_eq!(&head, heads.last().unwrap());
    // What the store serves is checked by the conformance suite (tests/storage_conformance.rs);
    // here, that all of it survived the reopening: the tree, every older head, every entry.
    let reader = StoreHashes(store.as_ref());
    assert_eq!(merkle::tree_hash(size, &reader).unwrap(), head.root);
    for old in &heads[1..] {
        let proof = merkle::consistency_proof(old.size, size, &reader).unwrap();
        merkle::verify_consistency(old.size, size, &proof, &old.root, &head.root).unwrap();
    }
    let all = store.entries(0..size).unwrap();
    for (i, e) in all.iter().enumerate() {
        let leaf = merkle::record_hash(&e.body);
        assert_eq!(store.indexes_of(&[leaf]).unwrap(), vec![Some(i as u64)]);
    }
    assert!(store.entry(size).unwrap().is_none());
}

#[test]
fn opening_refuses_what_does_not_belong() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    // No log yet, and not asked to create one.
    let err = datadir::open(&p, None, false).err().unwrap().to_string();
    assert!(err.contains("no log in"), "{err}");
    let opened = datadir::open(&p, Some("log.test"), true).unwrap();
    drop(opened);

    // Another hostname: the origin of a log never changes.
    let err = datadir::open(&p, Some("other.test"), false)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("created with hostname \"log.test\""), "{err}");
    assert!(datadir::open(&p, Some("log.test"), false).is_ok());

    // A key file readable by others.
    std::fs::set_permissions(&p.ecdsa_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = datadir::open(&p, None, false).err().unwrap().to_string();
    assert!(err.contains("mode 0600"), "{err}");
    std::fs::set_permissions(&p.ecdsa_key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Keys of another log.
    let other = tempfile::tempdir().unwrap();
    drop(datadir::open(&paths(other.path()), Some("log.test"), true).unwrap());
    let foreign = LogPaths::new(
        dir.path(),
        Some(&other.path().join("keys/log-ecdsa-p256.pem")),
        Some(&other.path().join("keys/log-ed25519.pem")),
    );
    let err = datadir::open(&foreign, None, false)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not belong to the log"), "{err}");

    // Invalid hostnames are refused before anything is created.
    let fresh = tempfile::tempdir().unwrap();
    for bad in ["", "has space", "a+b", "a/b"] {
        assert!(
            datadir::open(&paths(fresh.path()), Some(bad), true).is_err(),
            "{bad:?}"
        );
    }
    assert!(!fresh.path().join("db").exists());
}

#[test]
fn opening_refuses_another_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    drop(datadir::open(&p, Some("log.test"), true).unwrap());
    // Rewrite the stored format version as a future arkivo would.
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path().join("db"),
            ["meta", "entries", "hashes", "by_leaf", "search", "sets"],
        )
        .unwrap();
        let cf = db.cf_handle("meta").unwrap();
        let meta = db.get_cf(cf, b"meta").unwrap().unwrap();
        let mut j: serde_json::Value = serde_json::from_slice(&meta).unwrap();
        j["formatVersion"] = 99.into();
        db.put_cf(cf, b"meta", serde_json::to_vec(&j).unwrap())
            .unwrap();
    }
    let err = format!("{:#}", datadir::open(&p, None, false).err().unwrap());
    assert!(err.contains("format version 99"), "{err}");
}

/// A data directory written before SETs were stored (no `sets` column family, entries without
/// one) opens, serves its entries with a SET that verifies and is the same on every read and
/// after a restart (RFC 6979, signed at read time), takes new entries whose SETs are stored, and
/// passes `verify-log`.
#[test]
fn a_log_written_before_sets_were_stored_opens_and_serves_stable_sets() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let host = format!("127.0.0.1:{port}");
    let signer = common::EntrySigner::new();
    let (keys, log_id) = {
        let opened = datadir::open(&paths(dir.path()), Some(&host), true).unwrap();
        let active = opened.active();
        common::storage::commit_first_batch_without_sets(
            active,
            &signer,
            &[b"\x00", b"\x01", b"\x02"],
        );
        let keys = active.identity.keys.ecdsa_verifying_key().to_owned();
        (keys, active.identity.keys.log_id_hex())
    };
    // What the older arkivo left: the five column families of format version 1, no `sets`.
    rewrite_as_format_1(dir.path(), false);
    let set_at = |server: &common::TestServer, index: u64| {
        let j: serde_json::Value =
            serde_json::from_slice(&server.get(&format!("/api/v1/log/entries?logIndex={index}")))
                .unwrap();
        let (_, e) = j.as_object().unwrap().iter().next().unwrap();
        let set = e["verification"]["signedEntryTimestamp"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(arkivo_core::signer::verify_set(
            &keys,
            e["body"].as_str().unwrap(),
            e["integratedTime"].as_i64().unwrap(),
            &log_id,
            index,
            &base64::engine::general_purpose::STANDARD
                .decode(&set)
                .unwrap()
        ));
        set
    };
    let mut server = common::TestServer::start_in(dir.path(), port, &[]);
    let old: Vec<String> = (0..3).map(|i| set_at(&server, i)).collect();
    assert_eq!(set_at(&server, 1), old[1]);
    server.signal("TERM");
    let server = common::TestServer::start_in(dir.path(), port, &[]);
    for (i, set) in (0..).zip(&old) {
        assert_eq!(&set_at(&server, i), set, "entry {i} after a restart");
    }
    // A new entry: its SET is stored, so the 201's is the one read back.
    let created: serde_json::Value = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let res = common::post_request(
                &reqwest::Client::new(),
                &server.base_url(),
                &signer.hashedrekord(b"new"),
            )
            .await;
            assert_eq!(res.status(), 201);
            res.json().await.unwrap()
        });
    let (_, e) = created.as_object().unwrap().iter().next().unwrap();
    assert_eq!(e["logIndex"], 3);
    assert_eq!(
        e["verification"]["signedEntryTimestamp"].as_str().unwrap(),
        set_at(&server, 3)
    );
    drop(server);
    assert_eq!(stored_format_version(dir.path()), FORMAT_VERSION);
    let (ok, out, err) = common::arkivo(&["verify-log", "--data-dir", common::path(dir.path())]);
    assert!(ok && out.contains("4 entries"), "{out}{err}");
}

/// Turns the log of a data directory into what an arkivo of format version 1 wrote: entry rows
/// of integrated time (i64 BE) ‖ canonical body, with their SETs in the `sets` column family
/// (`with_sets`, as the version that stored SETs did) or none at all (as the one before it did,
/// which had no `sets` column family either).
fn rewrite_as_format_1(dir: &std::path::Path, with_sets: bool) {
    let mut db = rocksdb::DB::open_cf(
        &rocksdb::Options::default(),
        dir.join("db"),
        ["meta", "entries", "hashes", "by_leaf", "search", "sets"],
    )
    .unwrap();
    let entries = db.cf_handle("entries").unwrap();
    let rows: Vec<_> = db
        .iterator_cf(entries, rocksdb::IteratorMode::Start)
        .map(Result::unwrap)
        .collect();
    assert!(!rows.is_empty());
    for (key, row) in rows {
        // Format version 2: 0x02 ‖ time ‖ SET length (u16 BE) ‖ SET ‖ body.
        assert_eq!(row[0], 2, "a row of format version 2");
        let set_len = usize::from(u16::from_be_bytes([row[9], row[10]]));
        let (set, body) = row[11..].split_at(set_len);
        db.put_cf(entries, &key, [&row[1..9], body].concat())
            .unwrap();
        if with_sets && set_len > 0 {
            db.put_cf(db.cf_handle("sets").unwrap(), &key, set).unwrap();
        }
    }
    let meta = db.cf_handle("meta").unwrap();
    let mut j: serde_json::Value =
        serde_json::from_slice(&db.get_cf(meta, b"meta").unwrap().unwrap()).unwrap();
    j["formatVersion"] = 1.into();
    db.put_cf(meta, b"meta", serde_json::to_vec(&j).unwrap())
        .unwrap();
    if !with_sets {
        db.drop_cf("sets").unwrap();
    }
}

fn stored_format_version(dir: &std::path::Path) -> u32 {
    let store = RocksStore::open(&dir.join("db")).unwrap();
    store.meta().unwrap().unwrap().format_version
}

/// A data directory written by the arkivo that stored SETs in a column family of their own
/// (format version 1) opens, serves each entry with the SET stored when it was written (its
/// ECDSA nonce was random, so a SET signed again could not be the same), keeps format version 1
/// until it is written to, then records version 2 with the first new entry, whose SET is in its
/// own row; `verify-log` passes, and an arkivo of version 1 would now refuse the data.
#[test]
fn a_log_of_format_version_1_with_stored_sets_opens_and_serves_them() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let signer = common::EntrySigner::new();
    let post = |server: &common::TestServer, artifact: &[u8]| -> serde_json::Value {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let res = common::post_request(
                    &reqwest::Client::new(),
                    &server.base_url(),
                    &signer.hashedrekord(artifact),
                )
                .await;
                assert_eq!(res.status(), 201);
                res.json().await.unwrap()
            })
    };
    let set_of = |answer: &serde_json::Value| -> String {
        let (_, e) = answer.as_object().unwrap().iter().next().unwrap();
        e["verification"]["signedEntryTimestamp"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let read = |server: &common::TestServer, index: u64| -> serde_json::Value {
        serde_json::from_slice(&server.get(&format!("/api/v1/log/entries?logIndex={index}")))
            .unwrap()
    };
    let written: Vec<String> = {
        let server = common::TestServer::start_in(dir.path(), port, &[]);
        (0..3u8).map(|n| set_of(&post(&server, &[n]))).collect()
    };
    rewrite_as_format_1(dir.path(), true);
    assert_eq!(
        stored_format_version(dir.path()),
        1,
        "opening writes nothing"
    );
    let server = common::TestServer::start_in(dir.path(), port, &[]);
    for (i, set) in (0..).zip(&written) {
        assert_eq!(&set_of(&read(&server, i)), set, "entry {i}");
    }
    let fourth = set_of(&post(&server, b"new"));
    assert_eq!(set_of(&read(&server, 3)), fourth);
    assert_eq!(set_of(&read(&server, 0)), written[0]);
    drop(server);
    assert_eq!(stored_format_version(dir.path()), FORMAT_VERSION);
    let (ok, out, err) = common::arkivo(&["verify-log", "--data-dir", common::path(dir.path())]);
    assert!(ok && out.contains("4 entries"), "{out}{err}");
}

/// Logs written before NUL was refused in index keys may hold rows of keys such as `"v\0"`,
/// whose bytes start with the row prefix of `"v"`. They must neither break a search for `"v"`
/// (they used to make it fail as corrupt, for good) nor be found by it; their own key still
/// finds them.
#[test]
fn rows_of_keys_with_a_nul_do_not_break_searches() {
    let dir = tempfile::tempdir().unwrap();
    let opened = datadir::open(&paths(dir.path()), Some("log.test"), true).unwrap();
    let store = opened.active().store.clone();
    let keys = ["v", "v\0", "v\0\0\0\0\0\0\0\0", "v\0zzzzzzzzzzzzzzzzzz"];
    let entries: Vec<NewEntry> = keys
        .iter()
        .map(|k| NewEntry {
            body: k.as_bytes().to_vec(),
            leaf_hash: merkle::record_hash(k.as_bytes()),
            index_keys: vec![k.to_string(), "v".into()],
        })
        .collect();
    let mut border = RightBorder::empty();
    let hashes: Vec<_> = entries
        .iter()
        .flat_map(|e| border.append(e.leaf_hash))
        .collect();
    let head = TreeHead {
        size: 4,
        root: border.root(),
        timestamp: 1,
        checkpoint_v1: String::new(),
        checkpoint_c2sp: String::new(),
    };
    store
        .commit(&CommitBatch {
            first_index: 0,
            integrated_time: 1,
            entries: &entries,
            sets: &[],
            hashes: &hashes,
            head: &head,
        })
        .unwrap();
    assert_eq!(store.search("v", 4, 100).unwrap(), [3, 2, 1, 0]);
    for (i, k) in keys.iter().enumerate().skip(1) {
        assert_eq!(store.search(k, 4, 100).unwrap(), [i as u64], "{k:?}");
    }
}
