//! `arkivo monitor` as an operator runs it: the real binary against real servers on loopback.
//! A first round records the checkpoint; later rounds check consistency and report new entries
//! signed by a watched key or of a watched digest; then the log at the URL is swapped for
//! another one signed with the same keys under the same hostname, and the monitor must raise
//! the alarm (exit 1) and keep the last good checkpoint. A wrong log key is exit 1, an
//! unreachable log exit 3. Rotations (`arkivo shard rotate`, while entries are written) are
//! followed, each watched entry reported once across them; a rotation to a key the monitor was
//! not given, a forked frozen tree and a swap for another rotated log are alarms.

mod common;

use std::path::Path;
use std::process::Command;

use common::{EntrySigner, Run, TestServer};
use serde_json::Value;
use sha2::Digest as _;

/// `arkivo monitor --once --output json --rekor-url URL --log-key log.pub --state state.json
/// extra...` in `dir`.
fn monitor(dir: &Path, url: &str, extra: &[&str]) -> Run {
    let mut args = vec!["monitor", "--once", "--output", "json", "--rekor-url", url];
    args.extend(["--state", "state.json"]);
    args.extend(extra);
    common::run_arkivo(Some(dir), &args, &[])
}

fn expect(run: &Run, code: i32, what: &str) {
    assert_eq!(
        run.code, code,
        "{what}: expected exit {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        run.stdout, run.stderr
    );
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Records `signer`'s signature of each artifact; returns their (virtual) log indexes, to
/// compare with what the monitor reports.
fn add_entries(server: &TestServer, signer: &EntrySigner, artifacts: &[&[u8]]) -> Vec<u64> {
    artifacts
        .iter()
        .map(|a| add_entry(server, &signer.hashedrekord(a)))
        .collect()
}

/// Records a proposed entry; returns its (virtual) log index.
fn add_entry(server: &TestServer, proposed: &Value) -> u64 {
    block_on(async {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/log/entries", server.base_url()))
            .json(proposed)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap());
        let entry: Value = res.json().await.unwrap();
        let (_, entry) = entry.as_object().unwrap().iter().next().unwrap();
        entry["logIndex"].as_u64().unwrap()
    })
}

/// A new log, and a monitor's working directory with the log's key (`log.pub`) and the key of
/// the signer it watches (`watched.pub`).
fn watched_log() -> (tempfile::TempDir, TestServer, EntrySigner) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&[]);
    save_log_key(&server, dir.path());
    let watched = watched_signer(dir.path());
    (dir, server, watched)
}

/// The flags of a monitor following the log of `log.pub` and watching for `watched.pub`.
const WATCH_KEY: &[&str] = &["--log-key", "log.pub", "--watch-key", "watched.pub"];

/// A monitor round that must raise the alarm: exit 1, `ALERT` and each of `needles` on stderr,
/// and the state file as it was before the round. Returns the round.
fn raises_alarm(dir: &Path, url: &str, extra: &[&str], what: &str, needles: &[&str]) -> Run {
    let before = state(dir);
    let run = monitor(dir, url, extra);
    expect(&run, 1, what);
    for needle in ["ALERT"].iter().chain(needles) {
        assert!(
            run.stderr.contains(needle),
            "{what}: {needle:?} in:\n{}",
            run.stderr
        );
    }
    assert_eq!(state(dir), before, "{what}: the state must be kept");
    run
}

/// Writes the log's public key to `log.pub` in `dir`, for `--log-key`.
fn save_log_key(server: &TestServer, dir: &Path) {
    std::fs::write(dir.join("log.pub"), server.get("/api/v1/log/publicKey")).unwrap();
}

/// A new signer whose public key is `watched.pub` in `dir`, for `--watch-key`.
fn watched_signer(dir: &Path) -> EntrySigner {
    let signer = EntrySigner::new();
    std::fs::write(dir.join("watched.pub"), signer.pem()).unwrap();
    signer
}

fn state(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap()
}

#[test]
fn monitor_follows_a_log_and_raises_the_alarm_when_it_is_swapped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut server = TestServer::start_in(&data.path().join("log"), port, &[]);
    let url = server.base_url();
    save_log_key(&server, d);
    let watched = watched_signer(d);
    let others = EntrySigner::new();
    add_entries(&server, &others, &[b"one", b"two", b"three"]);
    let watched_digest = hex::encode(sha2::Sha256::digest(b"release.tar"));
    let watch: &[&str] = &[
        "--log-key",
        "log.pub",
        "--watch-key",
        "watched.pub",
        "--watch-sha256",
        &watched_digest,
        "--watch-email",
        "nobody@example.com",
    ];

    // First round: the checkpoint is trusted and saved; nothing to watch yet.
    let first = monitor(d, &url, watch);
    expect(&first, 0, "first round");
    let report = first.json();
    assert_eq!(report["treeSize"], 3, "{report}");
    assert_eq!(report["previousTreeSize"], Value::Null);
    assert_eq!(state(d)["treeSize"], 3);
    assert_eq!(state(d)["nextIndex"], 3);

    // New entries: one by the watched key, one of the watched digest by someone else.
    add_entries(&server, &others, &[b"four"]);
    add_entries(&server, &watched, &[b"signed by the watched key"]);
    add_entries(&server, &others, &[b"release.tar", b"seven"]);
    let second = monitor(d, &url, watch);
    expect(&second, 0, "second round");
    let report = second.json();
    assert_eq!(
        (
            report["treeSize"].as_u64(),
            report["previousTreeSize"].as_u64()
        ),
        (Some(7), Some(3)),
        "{report}"
    );
    let matches = report["matches"].as_array().unwrap();
    let found: Vec<(u64, String)> = matches
        .iter()
        .map(|m| {
            assert_eq!(m["uuid"].as_str().unwrap().len(), 80, "{m}");
            (m["logIndex"].as_u64().unwrap(), m["matched"].to_string())
        })
        .collect();
    assert_eq!(found.len(), 2, "{report}");
    assert_eq!(found[0].0, 4);
    assert!(found[0].1.contains("key watched.pub"), "{found:?}");
    assert_eq!(found[1].0, 5);
    assert!(found[1].1.contains(&watched_digest), "{found:?}");
    let good = state(d);
    assert_eq!(
        (good["treeSize"].as_u64(), good["nextIndex"].as_u64()),
        (Some(7), Some(7))
    );

    // Text output, nothing new: still consistent, no match.
    let mut text = Command::new(env!("CARGO_BIN_EXE_arkivo"));
    let out = text
        .args([
            "monitor",
            "--once",
            "--rekor-url",
            &url,
            "--state",
            "state.json",
        ])
        .args(watch)
        .current_dir(d)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("consistent with the checkpoint verified last"),
        "{stdout}"
    );
    assert!(!stdout.contains("MATCH"), "{stdout}");

    // A wrong log key: exit 1, and the state is untouched.
    let other = TestServer::start(&[]);
    std::fs::write(d.join("other.pub"), other.get("/api/v1/log/publicKey")).unwrap();
    let wrong = monitor(d, &url, &["--log-key", "other.pub"]);
    expect(&wrong, 1, "wrong log key");
    assert!(
        wrong.stderr.contains("not signed by a trusted log key"),
        "{}",
        wrong.stderr
    );
    assert_eq!(wrong.json()["exitCode"], 1);
    drop(other);

    // The log is swapped: a new log with the same keys and hostname on the same port, with
    // as many entries, so the checkpoint verifies but holds another tree.
    let keys = data.path().join("log").join("keys");
    server.signal("TERM");
    let ecdsa = keys.join("log-ecdsa-p256.pem");
    let ed25519 = keys.join("log-ed25519.pem");
    let swapped = TestServer::start_in(
        &data.path().join("swapped"),
        port,
        &[
            "--ecdsa-key-file",
            ecdsa.to_str().unwrap(),
            "--ed25519-key-file",
            ed25519.to_str().unwrap(),
        ],
    );
    assert_eq!(
        swapped.get("/api/v1/log/publicKey"),
        std::fs::read(d.join("log.pub")).unwrap()
    );
    add_entries(
        &swapped,
        &others,
        &[b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"],
    );
    let alarm = raises_alarm(d, &url, watch, "swapped log", &[]);
    let error = alarm.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("another log or tree"), "{error}");
    assert_eq!(state(d), good, "the last good state must be kept");

    // Unreachable: exit 3, state untouched.
    drop(swapped);
    let down = monitor(d, &url, watch);
    expect(&down, 3, "log down");
    assert!(down.stderr.contains("cannot reach"), "{}", down.stderr);
    assert_eq!(state(d), good);
}

/// An attestation (dsse) about a watched digest holds it only in its in-toto subjects, which its
/// logged body does not carry (the envelope's and payload's hashes only): the monitor finds it
/// through the log's search index, says so, and reports nothing for attestations about other
/// digests or for signatures of other artifacts.
#[test]
fn monitor_reports_attestations_about_a_watched_digest_by_the_logs_index() {
    let (dir, server, watched) = watched_log();
    let d = dir.path();
    let url = server.base_url();
    let digest = hex::encode(sha2::Sha256::digest(b"image manifest"));
    let other = hex::encode(sha2::Sha256::digest(b"another image"));
    let watch: &[&str] = &["--log-key", "log.pub", "--watch-sha256", &digest];
    expect(&monitor(d, &url, watch), 0, "first round");

    let others = EntrySigner::new();
    add_entries(&server, &others, &[b"unrelated"]);
    let attested = add_entry(&server, &watched.dsse_of_digest(&digest));
    add_entry(&server, &others.dsse_of_digest(&other));
    // The same attestation twice is one entry (409): one more, by another key.
    let attested_again = add_entry(&server, &others.dsse_of_digest(&digest));
    let round = monitor(d, &url, watch);
    expect(&round, 0, "second round");
    let report = round.json();
    let matches = report["matches"].as_array().unwrap();
    let found: Vec<u64> = matches
        .iter()
        .map(|m| m["logIndex"].as_u64().unwrap())
        .collect();
    assert_eq!(found, [attested, attested_again], "{report}");
    for m in matches {
        assert_eq!(m["matched"], serde_json::json!([]), "{m}");
        assert_eq!(
            m["matchedByLogIndex"],
            serde_json::json!([format!("artifact sha256:{digest}")]),
            "{m}"
        );
    }
    assert_eq!(report["indexTruncated"], serde_json::json!([]));

    // In text, the match says where the subject claim comes from.
    add_entry(&server, &EntrySigner::new().dsse_of_digest(&digest));
    let text = common::run_arkivo(
        Some(d),
        &[
            &[
                "monitor",
                "--once",
                "--rekor-url",
                &url,
                "--state",
                "state.json",
            ],
            watch,
        ]
        .concat(),
        &[],
    );
    expect(&text, 0, "text round");
    assert!(
        text.stdout
            .contains("an in-toto subject, by the log's index"),
        "{}",
        text.stdout
    );
}

/// Runs `arkivo args...`, which must succeed.
fn arkivo_ok(args: &[&str]) {
    let (ok, _, stderr) = common::arkivo(args);
    assert!(ok, "arkivo {args:?}: {stderr}");
}

/// A fork under the same origin: the log is restored from an old backup and grows another
/// way. The checkpoints verify and name the same tree; only the roots and the consistency proof
/// tell the histories apart.
#[test]
fn monitor_catches_a_log_restored_from_an_old_backup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = tempfile::tempdir().unwrap();
    let (a, b, backup) = (
        data.path().join("a"),
        data.path().join("b"),
        data.path().join("backup"),
    );
    let port = common::free_port();
    let mut server = TestServer::start_in(&a, port, &[]);
    let url = server.base_url();
    save_log_key(&server, d);
    let signer = EntrySigner::new();
    add_entries(&server, &signer, &[b"one", b"two"]);
    arkivo_ok(&[
        "backup",
        "--to",
        backup.to_str().unwrap(),
        "--data-dir",
        a.to_str().unwrap(),
    ]);
    add_entries(&server, &signer, &[b"three", b"four", b"five"]);
    expect(
        &monitor(d, &url, &["--log-key", "log.pub"]),
        0,
        "first round",
    );
    let good = state(d);
    assert_eq!(good["treeSize"], 5);

    server.signal("TERM");
    arkivo_ok(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        b.to_str().unwrap(),
    ]);
    let restored = TestServer::start_in(&b, port, &[]);
    add_entries(&restored, &signer, &[b"3", b"4", b"5"]);
    let log_key: &[&str] = &["--log-key", "log.pub"];
    raises_alarm(
        d,
        &url,
        log_key,
        "another root at the same size",
        &["forked"],
    );
    assert_eq!(state(d), good);

    add_entries(&restored, &signer, &[b"6"]);
    let not_extended = &["does not extend the checkpoint verified last"];
    raises_alarm(
        d,
        &url,
        log_key,
        "a larger tree that does not extend the old one",
        not_extended,
    );
    assert_eq!(state(d), good);

    // Frozen, the forked tree is still caught: its final checkpoint does not extend the one
    // verified last either.
    common::rotate(&b, false);
    add_entries(&restored, &signer, &[b"in the next tree"]);
    raises_alarm(
        d,
        &url,
        log_key,
        "a frozen tree that does not extend the old one",
        not_extended,
    );
    assert_eq!(state(d), good);
}

/// The log info: the active tree ID and the inactive shards' (tree ID, size), oldest first.
fn shards(server: &TestServer) -> (String, Vec<(String, u64)>) {
    let info: Value = serde_json::from_slice(&server.get("/api/v1/log")).unwrap();
    let inactive = info["inactiveShards"]
        .as_array()
        .map(|shards| {
            shards
                .iter()
                .map(|s| {
                    (
                        s["treeID"].as_str().unwrap().to_owned(),
                        s["treeSize"].as_u64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (info["treeID"].as_str().unwrap().to_owned(), inactive)
}

/// The log indexes the monitor reported, each checked to be in the tree the log numbers it in:
/// its entry ID starts with that tree's ID.
fn reported(report: &Value, server: &TestServer) -> Vec<u64> {
    let (active, inactive) = shards(server);
    let tree_of = |index: u64| {
        let mut first = 0;
        for (id, size) in &inactive {
            if index < first + size {
                return id.clone();
            }
            first += size;
        }
        active.clone()
    };
    report["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let index = m["logIndex"].as_u64().unwrap();
            let tree: i64 = tree_of(index).parse().unwrap();
            assert!(
                m["uuid"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{tree:016x}")),
                "{m} is not in tree {tree}"
            );
            index
        })
        .collect()
}

#[test]
fn monitor_follows_rotations_and_reports_each_watched_entry_once() {
    let (dir, server, watched) = watched_log();
    let d = dir.path();
    let url = server.base_url();
    let others = EntrySigner::new();
    add_entries(&server, &others, &[b"one", b"two", b"three"]);
    expect(&monitor(d, &url, WATCH_KEY), 0, "first round");
    let (first_tree, _) = shards(&server);
    assert_eq!(state(d)["treeID"], first_tree.as_str());
    assert_eq!(state(d)["treeOffset"], 0);

    // A state file written before shards were followed has neither treeID nor treeOffset.
    let mut old = state(d);
    let fields = old.as_object_mut().unwrap();
    fields.remove("treeID");
    fields.remove("treeOffset");
    std::fs::write(d.join("state.json"), old.to_string()).unwrap();

    // The log is rotated while watched entries are written: some land in each tree, and
    // before and after make sure of it.
    let mut expected = add_entries(&server, &watched, &[b"before"]);
    let during: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("during {i}").into_bytes())
        .collect();
    let during: Vec<&[u8]> = during.iter().map(Vec::as_slice).collect();
    expected.extend(std::thread::scope(|s| {
        let writer = s.spawn(|| add_entries(&server, &watched, &during));
        common::rotate(server.data_dir(), false);
        writer.join().unwrap()
    }));
    add_entries(&server, &others, &[b"after, not watched"]);
    expected.extend(add_entries(&server, &watched, &[b"after"]));
    let (second_tree, inactive) = shards(&server);
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0].0, first_tree);
    let frozen_size = inactive[0].1;

    let run = monitor(d, &url, WATCH_KEY);
    expect(&run, 0, "the round after the rotation");
    let report = run.json();
    assert_eq!(report["treeID"], second_tree.as_str(), "{report}");
    assert_eq!(report["previousTreeID"], first_tree.as_str());
    assert_eq!(report["frozenTrees"][0]["treeID"], first_tree.as_str());
    assert_eq!(report["frozenTrees"][0]["treeSize"], frozen_size);
    assert_eq!(reported(&report, &server), expected, "{report}");
    let now = state(d);
    assert_eq!(now["treeID"], second_tree.as_str(), "{now}");
    assert_eq!(now["treeOffset"], frozen_size);
    assert_eq!(now["nextIndex"], report["treeSize"]);

    // Two rotations between rounds, a watched entry in each tree.
    let mut expected = add_entries(&server, &watched, &[b"second tree"]);
    common::rotate(server.data_dir(), false);
    expected.extend(add_entries(&server, &watched, &[b"third tree"]));
    common::rotate(server.data_dir(), false);
    add_entries(&server, &others, &[b"fourth tree, not watched"]);
    let (fourth_tree, inactive) = shards(&server);
    let run = monitor(d, &url, WATCH_KEY);
    expect(&run, 0, "the round after two more rotations");
    let report = run.json();
    let frozen: Vec<&str> = report["frozenTrees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["treeID"].as_str().unwrap())
        .collect();
    assert_eq!(frozen, [inactive[1].0.as_str(), &inactive[2].0], "{report}");
    assert_eq!(reported(&report, &server), expected, "{report}");
    let now = state(d);
    assert_eq!(now["treeID"], fourth_tree.as_str(), "{now}");
    assert_eq!(
        now["treeOffset"],
        inactive.iter().map(|(_, size)| size).sum::<u64>()
    );
    assert_eq!(now["nextIndex"], 1);

    // Nothing new: nothing reported again.
    let run = monitor(d, &url, WATCH_KEY);
    expect(&run, 0, "a round with nothing new");
    let report = run.json();
    assert_eq!(report["matches"], serde_json::json!([]), "{report}");
    assert_eq!(report["frozenTrees"], serde_json::json!([]), "{report}");
    assert_eq!(state(d), now);
}

#[test]
fn monitor_follows_a_rotation_to_a_new_key_only_when_given_that_key() {
    let (dir, server, watched) = watched_log();
    let d = dir.path();
    let url = server.base_url();
    add_entries(&server, &EntrySigner::new(), &[b"one", b"two"]);
    expect(&monitor(d, &url, WATCH_KEY), 0, "first round");

    let mut expected = add_entries(&server, &watched, &[b"old tree"]);
    common::rotate(server.data_dir(), true);
    expected.extend(add_entries(&server, &watched, &[b"new tree"]));
    let (new_tree, _) = shards(&server);

    // Only the old key: the new tree's checkpoint is an alarm, naming the tree and where its
    // key is, and the state stays where it was.
    let before = state(d);
    raises_alarm(
        d,
        &url,
        WATCH_KEY,
        "a new tree signed by a key not given",
        &[
            &format!("tree {new_tree}"),
            "not signed by a trusted log key",
            &format!("/api/v1/log/publicKey?treeID={new_tree}"),
        ],
    );

    // With the new key too, the rotation is followed.
    let new_key = server.get(&format!("/api/v1/log/publicKey?treeID={new_tree}"));
    assert_ne!(new_key, std::fs::read(d.join("log.pub")).unwrap());
    std::fs::write(d.join("new.pub"), new_key).unwrap();
    let both_keys: &[&str] = &[
        "--log-key",
        "log.pub",
        "--log-key",
        "new.pub",
        "--watch-key",
        "watched.pub",
    ];
    let run = monitor(d, &url, both_keys);
    expect(&run, 0, "both keys");
    let report = run.json();
    assert_eq!(reported(&report, &server), expected, "{report}");
    let now = state(d);
    assert_eq!(now["treeID"], new_tree.as_str());
    assert_ne!(
        now["logID"], before["logID"],
        "the new tree has its own log ID"
    );
    let again = monitor(d, &url, both_keys);
    expect(&again, 0, "both keys, nothing new");
    assert_eq!(again.json()["matches"], serde_json::json!([]));
}

/// The log at the URL is swapped for another log, with the same keys and hostname, that was
/// rotated: its inactive shards do not hold the tree the monitor followed.
#[test]
fn monitor_catches_a_swap_for_another_rotated_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let (log, other) = (data.path().join("log"), data.path().join("other"));
    let mut server = TestServer::start_in(&log, port, &[]);
    let url = server.base_url();
    save_log_key(&server, d);
    let signer = EntrySigner::new();
    add_entries(&server, &signer, &[b"one", b"two"]);
    expect(
        &monitor(d, &url, &["--log-key", "log.pub"]),
        0,
        "first round",
    );
    let good = state(d);
    let (followed, _) = shards(&server);

    server.signal("TERM");
    let keys = log.join("keys");
    let (ecdsa, ed25519) = (
        keys.join("log-ecdsa-p256.pem"),
        keys.join("log-ed25519.pem"),
    );
    let swapped = TestServer::start_in(
        &other,
        port,
        &[
            "--ecdsa-key-file",
            ecdsa.to_str().unwrap(),
            "--ed25519-key-file",
            ed25519.to_str().unwrap(),
        ],
    );
    add_entries(&swapped, &signer, &[b"a", b"b", b"c"]);
    common::rotate(&other, false);
    add_entries(&swapped, &signer, &[b"d"]);
    assert!(shards(&swapped).1.iter().all(|(id, _)| *id != followed));
    raises_alarm(
        d,
        &url,
        &["--log-key", "log.pub"],
        "a swap for another rotated log",
        &[&format!(
            "is of tree {followed}, which the log lists neither as its active tree"
        )],
    );
    assert_eq!(state(d), good);
}
