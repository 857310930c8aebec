//! Crash safety of the real server process: concurrent writers, SIGKILL at random moments
//! (also during start-up and shutdown), restart, and then every acknowledged entry must be
//! present at the index it was given with the same body, no index may have been given twice,
//! and every checkpoint any client was shown must be consistent with the final tree.
//!
//! `ARKIVO_CRASH_CYCLES` sets the number of kill/restart cycles (default 20; docs/testing.md
//! documents a longer run).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arkivo_core::checkpoint::{Checkpoint, verify_v1};
use arkivo_core::merkle::{self, Hash};
use arkivo_core::wire::{ConsistencyProof, LogEntry, LogInfo};
use common::TestServer;
use p256::pkcs8::DecodePublicKey;

#[derive(Default)]
struct Seen {
    /// log index → (entry ID, base64 body) of every acknowledged entry.
    acked: BTreeMap<u64, (String, String)>,
    /// Every checkpoint a client was shown.
    checkpoints: Vec<String>,
    /// Every acknowledged proposed entry, to re-post after the crashes.
    proposed: Vec<(u64, serde_json::Value)>,
}

/// Writers post unique entries until the server dies; every 201 is recorded.
async fn write_until_killed(base: String, seen: Arc<Mutex<Seen>>, cycle: usize, writers: usize) {
    let signer = Arc::new(common::EntrySigner::new());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (base, seen, signer, client) =
            (base.clone(), seen.clone(), signer.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let entry = signer.hashedrekord(
                    format!(
                        "{cycle}/{w}/{n}/{}",
                        rand_core::RngCore::next_u64(&mut rand_core::OsRng)
                    )
                    .as_bytes(),
                );
                let Ok(res) = client
                    .post(format!("{base}/api/v1/log/entries"))
                    .json(&entry)
                    .send()
                    .await
                else {
                    return;
                };
                let status = res.status().as_u16();
                let Ok(body) = res.bytes().await else { return };
                match status {
                    201 => {
                        let e: LogEntry = serde_json::from_slice(&body).unwrap();
                        let (id, e) = e.into_iter().next().unwrap();
                        let mut s = seen.lock().unwrap();
                        let prev = s.acked.insert(e.log_index, (id.clone(), e.body.clone()));
                        assert!(
                            prev.is_none_or(|p| p.0 == id),
                            "index {} given twice",
                            e.log_index
                        );
                        s.checkpoints
                            .push(e.verification.inclusion_proof.checkpoint);
                        s.proposed.push((e.log_index, entry));
                    }
                    503 => tokio::time::sleep(Duration::from_millis(5)).await,
                    other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body)),
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_concurrent_writes_loses_nothing_acknowledged() {
    let cycles: usize = std::env::var("ARKIVO_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let seen = Arc::new(Mutex::new(Seen::default()));

    for cycle in 0..cycles {
        let mut server = TestServer::start_in(dir.path(), port, &["--max-batch-age-ms", "2"]);
        let writers = tokio::spawn(write_until_killed(
            server.base_url(),
            seen.clone(),
            cycle,
            16,
        ));
        // Kill at a random moment: anywhere from mid-start-up of the writers to mid-stream.
        let delay = 20 + rand_core::RngCore::next_u32(&mut rand_core::OsRng) % 400;
        tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
        server.kill();
        writers.await.unwrap();
        match cycle % 5 {
            // SIGKILL during start-up, before the server answers.
            1 => {
                let mut s = TestServer::spawn(dir.path(), port, &[]);
                std::thread::sleep(Duration::from_millis(u64::from(delay % 40)));
                s.kill();
            }
            // SIGTERM (graceful shutdown) interrupted by SIGKILL.
            3 => {
                let mut s = TestServer::start_in(dir.path(), port, &[]);
                let pid = s.pid().to_string();
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid])
                    .status();
                std::thread::sleep(Duration::from_millis(u64::from(delay % 20)));
                s.kill();
            }
            _ => {}
        }
    }

    // The final tree.
    let mut server = TestServer::start_in(dir.path(), port, &[]);
    let base = server.base_url();
    let pem = reqwest::get(format!("{base}/api/v1/log/publicKey"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let log_key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
    let hostname = format!("127.0.0.1:{port}");
    let info: LogInfo = get_json(&format!("{base}/api/v1/log")).await;
    let head = verify_v1(&info.signed_tree_head, &log_key, &hostname).unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.acked.len() > cycles,
        "too few writes got through: {}",
        seen.acked.len()
    );
    assert!(head.size >= seen.acked.len() as u64);

    // Every acknowledged entry is there, at its index, with its body.
    for (index, (id, body)) in &seen.acked {
        let e: LogEntry = get_json(&format!("{base}/api/v1/log/entries?logIndex={index}")).await;
        let (got_id, got) = e.into_iter().next().unwrap();
        assert_eq!(
            (&got_id, &got.body),
            (id, body),
            "entry {index} changed after the crashes"
        );
    }
    // Every checkpoint anyone saw is consistent with the final tree: no fork, ever.
    let mut by_size: BTreeMap<u64, Hash> = BTreeMap::new();
    for text in &seen.checkpoints {
        let cp: Checkpoint = verify_v1(text, &log_key, &hostname).unwrap();
        if let Some(other) = by_size.insert(cp.size, cp.root) {
            assert_eq!(
                other, cp.root,
                "two different roots for tree size {}",
                cp.size
            );
        }
    }
    for (&size, root) in &by_size {
        let p: ConsistencyProof = get_json(&format!(
            "{base}/api/v1/log/proof?firstSize={size}&lastSize={}",
            head.size
        ))
        .await;
        let proof: Vec<Hash> = p
            .hashes
            .iter()
            .map(|h| Hash::from_hex(h).unwrap())
            .collect();
        merkle::verify_consistency(size, head.size, &proof, root, &head.root).unwrap_or_else(|e| {
            panic!("checkpoint of size {size} is not consistent with the final tree: {e}")
        });
    }
    // Re-posting an acknowledged entry is a duplicate of the same entry.
    let client = reqwest::Client::new();
    for (index, entry) in seen.proposed.iter().step_by(97) {
        let res = common::post_request(&client, &base, entry).await;
        assert_eq!(res.status(), 409);
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.ends_with(&seen.acked[index].0), "{loc}");
    }
    eprintln!(
        "{cycles} kill cycles: {} acknowledged entries, {} distinct checkpoints, final size {}",
        seen.acked.len(),
        by_size.len(),
        head.size
    );
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
}
