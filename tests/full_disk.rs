//! A real full disk: the data directory on a small tmpfs (root mounts it here), nearly filled.
//! Writes must answer 507 with a clear message while reads keep working, nothing stored may be
//! damaged, and once space is freed a restart resumes writes. Needs root (CI and the developers'
//! machines run as root); it fails, never skips, without it.

mod common;

use std::path::{Path, PathBuf};

use common::EntrySigner;
use std::process::Command;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Tmpfs { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn entry(signer: &EntrySigner, n: u64) -> serde_json::Value {
    signer.hashedrekord(format!("full disk {n}").as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_answers_507_keeps_reads_and_recovers_after_freeing_space() {
    let fs = Tmpfs::mount("256m");
    let data: PathBuf = fs.path().join("data");
    let port = common::free_port();
    let mut server = common::TestServer::start_in(&data, port, &[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let signer = std::sync::Arc::new(common::EntrySigner::new());

    // Leave about 3 MiB free: a filler file takes the rest.
    let filler = fs.path().join("filler");
    let fill = free_bytes(fs.path()).saturating_sub(3 << 20);
    let status = Command::new("fallocate")
        .args(["-l", &fill.to_string()])
        .arg(&filler)
        .status()
        .unwrap();
    assert!(status.success());

    // 32 concurrent writers until the first refusal.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..32u64 {
        let (client, base, signer, stop) =
            (client.clone(), base.clone(), signer.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let (mut acked, mut refusal) = (Vec::new(), None);
            for n in 0..10_000u64 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let e = entry(&signer, w * 1_000_000 + n);
                let res = client
                    .post(format!("{base}/api/v1/log/entries"))
                    .json(&e)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await.unwrap();
                if status == 201 {
                    let (id, e) = body.as_object().unwrap().iter().next().unwrap();
                    acked.push((e["logIndex"].as_u64().unwrap(), id.clone()));
                } else {
                    refusal = Some((status, body["message"].as_str().unwrap().to_owned()));
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
            }
            (acked, refusal)
        }));
    }
    let mut acked = Vec::new();
    let mut refusals = Vec::new();
    for w in writers {
        let (a, r) = w.await.unwrap();
        acked.extend(a);
        refusals.extend(r);
    }
    // The first refusal is the full disk; writers refused after it see writes stopped (503).
    let refusal = refusals
        .iter()
        .find(|(s, _)| *s == 507)
        .cloned()
        .or_else(|| refusals.first().cloned());
    let (status, message) = refusal.expect("the disk never filled up");
    assert_eq!(status, 507, "{message}");
    assert!(message.contains("storage is full"), "{message}");
    assert!(!acked.is_empty());
    // Further writes are refused at once; reads keep working.
    let status = common::post_entry_status(&client, &base, &entry(&signer, 999_999)).await;
    assert!(matches!(status, 503 | 507), "{status}");
    assert_eq!(common::get_status(&client, &base, "/readyz").await, 503);
    let info: serde_json::Value = common::get_json(&client, format!("{base}/api/v1/log")).await;
    assert_eq!(info["treeSize"].as_u64().unwrap(), acked.len() as u64);
    let (index, id) = acked.last().unwrap();
    let res = client
        .get(format!("{base}/api/v1/log/entries?logIndex={index}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.json::<serde_json::Value>()
            .await
            .unwrap()
            .get(id)
            .is_some()
    );

    // Free the space, restart: writes resume, and every acknowledged entry is intact.
    server.kill();
    std::fs::remove_file(&filler).unwrap();
    let server = common::TestServer::start_in(&data, port, &[]);
    assert_eq!(
        common::post_entry_status(&client, &base, &entry(&signer, 999_999)).await,
        201
    );
    for (index, id) in acked.iter().step_by(7) {
        let e: serde_json::Value = common::get_json(
            &client,
            format!("{base}/api/v1/log/entries?logIndex={index}"),
        )
        .await;
        assert!(e.get(id).is_some(), "entry {index} changed");
    }
    drop(server);
    let out = Command::new(env!("CARGO_BIN_EXE_arkivo"))
        .args(["verify-log", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
