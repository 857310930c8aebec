//! `arkivo shard rotate` on the real server and RocksDB (rekor-v1-api.md §9): rotations while
//! eight writers keep writing lose no acknowledged entry and renumber none; the shards survive
//! restarts, `verify-log`, backup and restore, and a rotation with the server stopped; a
//! SIGKILL at any moment of a rotation leaves one active shard and every acknowledged entry.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    Acked, EntrySigner, TestServer, Writers, arkivo, get_json, path, post_entry, restore_and_verify,
};

/// `arkivo shard rotate` against the log in `data` (served or not), off the async threads.
async fn rotate(data: &Path, new_key: bool) -> (bool, String, String) {
    let data = data.to_owned();
    tokio::task::spawn_blocking(move || common::try_rotate(&data, new_key))
        .await
        .unwrap()
}

/// Checks that every acknowledged entry is where it was acknowledged: by virtual index and by
/// entry ID, the same entry, and that the indexes are exactly 0..n.
async fn check_acknowledged(base: &str, acked: &[Acked]) {
    let client = reqwest::Client::new();
    let mut indexes: Vec<u64> = acked.iter().map(|a| a.index).collect();
    indexes.sort_unstable();
    assert!(
        indexes.iter().copied().eq(0..acked.len() as u64),
        "virtual indexes are not 0..{}",
        acked.len()
    );
    for a in acked {
        let by_index = get_json(
            &client,
            format!("{base}/api/v1/log/entries?logIndex={}", a.index),
        )
        .await;
        let by_id = get_json(&client, format!("{base}/api/v1/log/entries/{}", a.id)).await;
        assert_eq!(by_index, by_id, "entry {} at {}", a.id, a.index);
        assert_eq!(by_id[&a.id]["logIndex"], a.index);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotations_under_write_load_lose_nothing_and_survive_restart_and_backup() {
    let mut server = TestServer::start(&[]);
    let (port, base) = (server.port(), server.base_url());
    let data = server.data_dir().to_owned();
    let client = reqwest::Client::new();
    let first_tree = get_json(&client, format!("{base}/api/v1/log")).await["treeID"]
        .as_str()
        .unwrap()
        .to_owned();

    let writers = Writers::start(&base, "shard load", 8);
    writers.wait_for(200).await;
    // While the writers write: once with new keys, then keeping them (the third tree shares
    // the second's keys).
    let (ok, out, err) = rotate(&data, true).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("froze tree {first_tree} at size ")),
        "{out}"
    );
    writers.wait_for(writers.acknowledged() + 200).await;
    let (ok, out, err) = rotate(&data, false).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("verifier key (for witnesses and tile clients): "),
        "{out}"
    );
    writers.wait_for(writers.acknowledged() + 200).await;
    let acked = writers.stop().await;
    check_acknowledged(&base, &acked).await;

    let info = get_json(&client, format!("{base}/api/v1/log")).await;
    let inactive = info["inactiveShards"].as_array().unwrap().clone();
    assert_eq!(inactive.len(), 2);
    assert_eq!(inactive[0]["treeID"], first_tree.as_str());
    let sizes: u64 = inactive
        .iter()
        .map(|s| s["treeSize"].as_u64().unwrap())
        .sum::<u64>()
        + info["treeSize"].as_u64().unwrap();
    assert_eq!(sizes, acked.len() as u64);
    let active_tree = info["treeID"].as_str().unwrap().to_owned();
    let second_tree = inactive[1]["treeID"].as_str().unwrap();
    // The new keys are the second tree's own, private; the third uses them.
    assert!(!data.join("shards").join(&active_tree).join("keys").exists());
    for key in ["log-ecdsa-p256.pem", "log-ed25519.pem"] {
        let file = data.join("shards").join(second_tree).join("keys").join(key);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }

    // A restart opens the same shards, the same way round.
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    let server = TestServer::start_in(&data, port, &[]);
    assert_eq!(get_json(&client, format!("{base}/api/v1/log")).await, info);
    check_acknowledged(&base, &acked).await;

    // A backup holds every shard; the restored log verifies and serves the same log.
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("backup");
    let (ok, _, err) = tokio::task::spawn_blocking({
        let (data, backup) = (data.clone(), backup.clone());
        move || arkivo(&["backup", "--data-dir", path(&data), "--to", path(&backup)])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    drop(server);
    let restored = work.path().join("restored");
    let out = restore_and_verify(&backup, &restored);
    assert_eq!(out.matches("ok: tree ").count(), 3, "{out}");
    let server = TestServer::start_in(&restored, port, &[]);
    assert_eq!(get_json(&client, format!("{base}/api/v1/log")).await, info);
    check_acknowledged(&base, &acked).await;
    drop(server);

    // With the server stopped, the command rotates the log itself; an empty shard is not
    // rotated.
    let (ok, out, err) = rotate(&restored, false).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("froze tree {active_tree} at size ")),
        "{out}"
    );
    let (ok, _, err) = rotate(&restored, false).await;
    assert!(!ok && err.contains("is empty"), "{err}");
    let (ok, out, err) = arkivo(&["verify-log", "--data-dir", path(&restored)]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.matches("ok: tree ").count(), 4, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_during_a_rotation_leaves_one_active_shard_and_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let signer = EntrySigner::new();
    let mut acked: Vec<Acked> = Vec::new();
    let mut trees = 1;
    // The kill lands at different moments of the rotation: before, during, after its steps.
    for (cycle, delay_ms) in [0u64, 4, 8, 12, 16, 24, 32, 48, 64, 96]
        .into_iter()
        .enumerate()
    {
        let mut server = TestServer::start_in(&data, port, &[]);
        check_acknowledged(&base, &acked).await;
        for i in 0..5 {
            let artifact = format!("crash {cycle} {i}");
            acked.push(post_entry(&client, &base, &signer, artifact.as_bytes()).await);
        }
        let rotation = tokio::spawn({
            let data = data.clone();
            async move { rotate(&data, cycle % 2 == 1).await }
        });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.kill();
        let (rotated, _, _) = rotation.await.unwrap();
        // A rotation that said it succeeded is durable; one cut short may or may not be.
        let server = TestServer::start_in(&data, port, &[]);
        let info = get_json(&client, format!("{base}/api/v1/log")).await;
        let now = 1 + info["inactiveShards"].as_array().map_or(0, Vec::len);
        assert!(
            now == trees || now == trees + 1,
            "{now} shards after {trees}"
        );
        assert!(
            !rotated || now == trees + 1,
            "an acknowledged rotation was lost"
        );
        eprintln!("SIGKILL {delay_ms} ms into a rotation: acknowledged {rotated}, {now} shards");
        trees = now;
        drop(server);
    }
    let server = TestServer::start_in(&data, port, &[]);
    check_acknowledged(&base, &acked).await;
    drop(server);
    let (ok, out, err) = arkivo(&["verify-log", "--data-dir", path(&data)]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.matches("ok: tree ").count(), trees, "{out}");
}
