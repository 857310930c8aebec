//! `arkivo verify-log` on a log written through the real server, then on copies of it damaged
//! in every table: each damage must be found and named, and the clean log must pass.

mod common;

use std::path::Path;
use std::process::Command;

/// A named way to damage a log, and what verify-log must say about it.
type Damage = (&'static str, Box<dyn FnOnce(&rocksdb::DB)>, &'static str);

const CFS: [&str; 6] = ["meta", "entries", "hashes", "by_leaf", "search", "sets"];

fn verify_log(data: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arkivo"))
        .args(["verify-log", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A copy of the log, damaged by `damage` acting on its RocksDB.
fn damaged(clean: &Path, into: &Path, damage: impl FnOnce(&rocksdb::DB)) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(clean)
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success());
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), into.join("db"), CFS).unwrap();
    damage(&db);
}

fn key(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_log_passes_a_clean_log_and_names_every_damage() {
    let mut server = common::TestServer::start(&[]);
    let signer = common::EntrySigner::new();
    let client = reqwest::Client::new();
    const N: u64 = 300;
    for n in 0..N {
        let entry = signer.hashedrekord(format!("artifact {n}").as_bytes());
        let res = client
            .post(format!("{}/api/v1/log/entries", server.base_url()))
            .json(&entry)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    let clean = server.data_dir().to_owned();

    let (ok, out) = verify_log(&clean);
    assert!(ok, "{out}");
    assert!(out.contains(&format!(": {N} entries,")), "{out}");

    let work = tempfile::tempdir().unwrap();
    let cases: Vec<Damage> = vec![
        (
            "entry body changed",
            Box::new(|db| {
                let cf = db.cf_handle("entries").unwrap();
                let mut v = db.get_cf(cf, key(7)).unwrap().unwrap();
                // Another digit of the artifact digest: still a canonical entry, another leaf.
                let at = v.windows(7).position(|w| w == b"\"value\"").unwrap() + 10;
                v[at] = if v[at] == b'0' { b'1' } else { b'0' };
                db.put_cf(cf, key(7), v).unwrap();
            }),
            "entry 7",
        ),
        (
            "entry deleted",
            Box::new(|db| {
                db.delete_cf(db.cf_handle("entries").unwrap(), key(100))
                    .unwrap()
            }),
            "entry 100 is missing",
        ),
        (
            "entry beyond the tree",
            Box::new(|db| {
                let cf = db.cf_handle("entries").unwrap();
                let v = db.get_cf(cf, key(0)).unwrap().unwrap();
                db.put_cf(cf, key(N), v).unwrap();
            }),
            "beyond the tree size",
        ),
        (
            "stored hash changed",
            Box::new(|db| {
                db.put_cf(db.cf_handle("hashes").unwrap(), key(20), [9u8; 32])
                    .unwrap()
            }),
            "stored hash 20",
        ),
        (
            "stored hash deleted",
            Box::new(|db| {
                db.delete_cf(db.cf_handle("hashes").unwrap(), key(5))
                    .unwrap()
            }),
            "stored hash 5 is missing",
        ),
        (
            "leaf index points elsewhere",
            Box::new(|db| {
                let entries = db.cf_handle("entries").unwrap();
                let row = db.get_cf(entries, key(3)).unwrap().unwrap();
                // 0x02 ‖ integrated time (8) ‖ SET length (u16 BE) ‖ SET ‖ body.
                let set_len = usize::from(u16::from_be_bytes([row[9], row[10]]));
                let leaf = arkivo_core::merkle::record_hash(&row[11 + set_len..]);
                db.put_cf(db.cf_handle("by_leaf").unwrap(), leaf.as_bytes(), key(4))
                    .unwrap();
            }),
            "leaf index maps entry 3",
        ),
        (
            "search row deleted",
            Box::new(|db| {
                let cf = db.cf_handle("search").unwrap();
                let victim = db
                    .iterator_cf(cf, rocksdb::IteratorMode::Start)
                    .map(Result::unwrap)
                    .find(|(k, _)| k.ends_with(&key(42)))
                    .unwrap()
                    .0;
                db.delete_cf(cf, victim).unwrap();
            }),
            "entry 42 is missing from the search index",
        ),
        (
            "tree head root changed",
            Box::new(|db| {
                let cf = db.cf_handle("meta").unwrap();
                let mut head: serde_json::Value =
                    serde_json::from_slice(&db.get_cf(cf, b"head").unwrap().unwrap()).unwrap();
                head["root"] = "00".repeat(32).into();
                db.put_cf(cf, b"head", serde_json::to_vec(&head).unwrap())
                    .unwrap();
            }),
            "the tree head says root",
        ),
        (
            "checkpoint replaced",
            Box::new(|db| {
                let cf = db.cf_handle("meta").unwrap();
                let mut head: serde_json::Value =
                    serde_json::from_slice(&db.get_cf(cf, b"head").unwrap().unwrap()).unwrap();
                let v1 = head["checkpointV1"].as_str().unwrap().replacen(
                    &format!("\n{N}\n"),
                    &format!("\n{}\n", N - 1),
                    1,
                );
                head["checkpointV1"] = v1.into();
                db.put_cf(cf, b"head", serde_json::to_vec(&head).unwrap())
                    .unwrap();
            }),
            "v1 checkpoint does not verify",
        ),
    ];
    for (i, (what, damage, expect)) in cases.into_iter().enumerate() {
        let copy = work.path().join(format!("case{i}"));
        damaged(&clean, &copy, damage);
        let (ok, out) = verify_log(&copy);
        assert!(!ok, "{what}: verify-log passed a damaged log: {out}");
        assert!(
            out.contains(expect),
            "{what}: expected {expect:?} in: {out}"
        );
    }
}
