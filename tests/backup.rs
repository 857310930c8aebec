//! `arkivo backup` while the real server takes concurrent writes, `arkivo restore`, and what comes
//! back: a log that `verify-log` accepts, that holds every entry acknowledged before the backup
//! started, and that takes more writes when served; with a CA, its CT log and the TUF repository
//! too.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Acked, EntrySigner, TestServer, Writers, arkivo, path, post_entry, restore_and_verify,
};

/// The tree size in `arkivo backup` / `arkivo restore` output ("... tree size N ...").
fn tree_size(stdout: &str) -> u64 {
    stdout
        .split_once("tree size ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tree size in {stdout:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_under_write_load_restores_to_a_log_that_verifies_and_grows() {
    let mut server = TestServer::start(&[]);
    let (port, base) = (server.port(), server.base_url());
    let data = server.data_dir().to_owned();
    // Only the server's user may ask it for backups.
    let socket = data.join("admin.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let writers = Writers::start(&base, "backup load", 8);
    writers.wait_for(300).await;

    let work = tempfile::tempdir().unwrap();
    // Its parent does not exist yet: it is created.
    let backup = work.path().join("backups").join("first");
    let started = Instant::now();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (data, backup) = (data.clone(), backup.clone());
        move || arkivo(&["backup", "--data-dir", path(&data), "--to", path(&backup)])
    })
    .await
    .unwrap();
    let finished = Instant::now();
    assert!(ok, "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acked = writers.stop().await;
    let in_backup = tree_size(&out);
    assert!(out.contains("private keys"), "{out}");
    let before: Vec<&Acked> = acked.iter().filter(|a| a.at < started).collect();
    assert!(before.len() >= 300);
    let during = acked
        .iter()
        .filter(|a| a.at > started && a.at < finished)
        .count();
    eprintln!(
        "{} entries acknowledged before the backup, {during} during it; it holds {in_backup}",
        before.len()
    );
    assert!(during > 0, "writes went on during the backup");
    for a in &before {
        assert!(
            a.index < in_backup,
            "entry {} was acknowledged before the backup started, which has tree size {in_backup}",
            a.index
        );
    }
    for key in ["log-ecdsa-p256.pem", "log-ed25519.pem"] {
        let mode = std::fs::metadata(backup.join("keys").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    assert!(!socket.exists(), "the admin socket is removed at shutdown");
    let total = acked.len() as u64;

    // The backup restores into a log that verifies.
    let restored = work.path().join("restored");
    let out = restore_and_verify(&backup, &restored);
    assert!(out.contains(&format!(": {in_backup} entries,")), "{out}");
    // A restore never overwrites a log.
    let (ok, _, err) = arkivo(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&restored),
    ]);
    assert!(!ok && err.contains("a log already exists"), "{err}");

    // Keys that exist where the config names them must belong to the log: otherwise the restore
    // is undone, and the foreign keys are left alone.
    let other = work.path().join("other");
    assert!(
        arkivo(&[
            "init",
            "--data-dir",
            path(&other),
            "--hostname",
            "other.test"
        ])
        .0
    );
    let (ecdsa, ed25519) = (
        other.join("keys/log-ecdsa-p256.pem"),
        other.join("keys/log-ed25519.pem"),
    );
    let refused = work.path().join("refused");
    let (ok, _, err) = arkivo(&[
        "restore",
        "--from",
        path(&backup),
        "--data-dir",
        path(&refused),
        "--ecdsa-key-file",
        path(&ecdsa),
        "--ed25519-key-file",
        path(&ed25519),
    ]);
    assert!(!ok && err.contains("does not belong to the log"), "{err}");
    assert!(!refused.join("db").exists());
    assert!(ecdsa.exists() && ed25519.exists());

    // With no server running, `arkivo backup` opens the log itself: all of it.
    let offline = work.path().join("offline");
    let (ok, out, err) = arkivo(&["backup", "--data-dir", path(&data), "--to", path(&offline)]);
    assert!(ok, "{err}");
    assert_eq!(tree_size(&out), total);
    let (ok, _, err) = arkivo(&["backup", "--data-dir", path(&data), "--to", path(&offline)]);
    assert!(
        !ok && err.contains("a backup goes into a new directory"),
        "{err}"
    );

    // Served (under its own name, so on the same port), the restored log holds every entry
    // acknowledged before the backup started, at its index, and takes more.
    let restored_server = TestServer::start_in(&restored, port, &[]);
    let client = reqwest::Client::new();
    for a in &before {
        let res = client
            .get(format!("{base}/api/v1/log/entries?logIndex={}", a.index))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "entry {}", a.index);
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body.get(&a.id).is_some(), "entry {} is {body}", a.index);
    }
    let signer = EntrySigner::new();
    for n in 0..5u64 {
        let artifact = format!("after restore {n}");
        let a = post_entry(&client, &base, &signer, artifact.as_bytes()).await;
        assert_eq!(a.index, in_backup + n);
    }
    drop(restored_server);
}

/// A server running a CA, so a CT log beside the Rekor log, and its TUF repository: `arkivo
/// backup` while it serves covers both. Restored and served, the CT log's tiles verify against
/// its checkpoint (the one of before the backup: same size and root) and take more
/// certificates; python-tuf, bootstrapped from the backed-up server's first root, refreshes from
/// the restored one; `verify-log` checks the CT log, and names a damaged one.
#[tokio::test(flavor = "multi_thread")]
async fn backup_and_restore_cover_the_ct_log_and_the_tuf_repository() {
    use common::oidc::{Alg, TestIssuer, request_cert};
    let issuer = TestIssuer::start(false);
    let issuer_url = issuer.url("email");
    let args = ["--oidc-issuer", issuer_url.as_str()];
    let mut server = TestServer::start(&args);
    let (port, base) = (server.port(), server.base_url());
    let data = server.data_dir().to_owned();
    let client = reqwest::Client::new();
    let certify = |n: usize| {
        let (base, issuer) = (base.clone(), &issuer);
        async move {
            let email = format!("user{n}@example.org");
            let token = issuer.token(
                Alg::Es256,
                "email",
                serde_json::json!({"email": email, "email_verified": true}),
            );
            let (status, answer) = request_cert(&base, &token, &email).await;
            assert_eq!(status, 201, "{answer}");
        }
    };
    const CERTIFICATES: usize = 5;
    for n in 0..CERTIFICATES {
        certify(n).await;
    }
    let get = |path: &str| {
        let url = format!("{base}{path}");
        let client = client.clone();
        async move {
            let res = client.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 200, "GET {url}");
            res.text().await.unwrap()
        }
    };
    // A checkpoint's body (origin, size, root), without its signatures' timestamps.
    let body = |checkpoint: &str| checkpoint.lines().take(3).collect::<Vec<_>>().join("\n");
    let ct_before = body(&get("/ct/checkpoint").await);
    assert!(
        ct_before.contains(&format!("\n{CERTIFICATES}\n")),
        "{ct_before}"
    );
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("root.json"), get("/tuf/1.root.json").await).unwrap();
    let backup = work.path().join("backup");
    let (ok, _, err) = tokio::task::spawn_blocking({
        let (data, backup) = (data.clone(), backup.clone());
        move || arkivo(&["backup", "--data-dir", path(&data), "--to", path(&backup)])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    for key in ["ct/keys/log-ecdsa-p256.pem", "ct/keys/log-ed25519.pem"] {
        let mode = std::fs::metadata(backup.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");

    let restored = work.path().join("restored");
    let out = restore_and_verify(&backup, &restored);
    assert!(
        out.contains(&format!("ok: CT log: {CERTIFICATES} entries,")),
        "{out}"
    );
    let mut restored_server = TestServer::start_in(&restored, port, &args);
    assert_eq!(body(&get("/ct/checkpoint").await), ct_before);
    let verify_tiles = || {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tiles/verify_tiles.py");
        let out = std::process::Command::new("python3")
            .arg(script)
            .arg(format!("{base}/ct"))
            .arg("--static-ct")
            .output()
            .expect("running python3 tests/tiles/verify_tiles.py");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    verify_tiles();
    let refreshed = common::tuf::refresh(
        work.path(),
        &format!("{base}/tuf"),
        Some(&work.path().join("root.json")),
    )
    .unwrap();
    let trusted_root: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.path().join("dl").join("trusted_root.json")).unwrap(),
    )
    .unwrap();
    let served: serde_json::Value =
        serde_json::from_str(&get("/api/v1/log/trustedRoot").await).unwrap();
    assert_eq!(trusted_root["ctlogs"], served["ctlogs"], "{refreshed}");
    // The restored CT log takes more certificates after those of the backup.
    certify(CERTIFICATES).await;
    assert!(
        get("/ct/checkpoint")
            .await
            .contains(&format!("\n{}\n", CERTIFICATES + 1))
    );
    verify_tiles();
    let stderr = restored_server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    let (ok, out, err) = arkivo(&["verify-log", "--data-dir", path(&restored)]);
    assert!(ok && out.contains("ok: CT log: 6 entries,"), "{out}{err}");

    // A CT leaf damaged in the store: verify-log names it.
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            restored.join("ct").join("db"),
            ["meta", "entries", "hashes", "by_leaf", "search", "sets"],
        )
        .unwrap();
        let cf = db.cf_handle("entries").unwrap();
        let mut stored = db.get_cf(cf, 2u64.to_be_bytes()).unwrap().unwrap();
        // The integrated time (8 bytes), then the TileLeaf: timestamp (8), entry type (2),
        // issuer key hash (32), the TBSCertificate's length (3), then a byte of it.
        stored[8 + 8 + 2 + 32 + 3 + 20] ^= 1;
        db.put_cf(cf, 2u64.to_be_bytes(), stored).unwrap();
    }
    let (ok, out, err) = arkivo(&["verify-log", "--data-dir", path(&restored)]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("the CT log") && err.contains("entry 2"),
        "{err}"
    );
}
