//! `arkivo serve --storage postgres://…` as real processes on real PostgreSQL clusters (a
//! primary and a synchronous standby, started by tests/common/pg.rs): writes through the v1 API
//! (the `arkivo` client signs and verifies) and the v2 API, a restart, two frontends of which
//! exactly one leads and the other takes over when the leader is killed, the same for the CA and
//! its CT log (one CT tree in the database, sequenced by the leader; certificates issued before
//! and after a takeover are all in it, and a keyless signature made before still verifies), the
//! TUF repository (one in the database: python-tuf refreshes from either frontend, before and
//! after a takeover, and a frontend with other TUF keys is refused), the `arkivo tuf` commands on
//! it (export, a root rotation through the leader and with no frontend running), and the
//! refusals at start (other keys, no synchronous standby).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use arkivo_core::checkpoint;
use arkivo_core::merkle::{self, Hash};
use arkivo_core::proto::rekor_v1::TransparencyLogEntry;
use arkivo_core::signer::LogKeys;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::oidc::{Alg, TestIssuer, chain, ct_entry, post_cert_request};
use common::pg::{Cluster, copy_files, share_key_files};
use common::tuf::refresh;
use common::{EntrySigner, TestServer, free_port, path, refused_start, run_arkivo};
use serde_json::Value;

/// The log's keys, as the frontend in `data_dir` made them.
fn log_keys(data_dir: &Path) -> LogKeys {
    let read = |name: &str| std::fs::read_to_string(data_dir.join("keys").join(name)).unwrap();
    LogKeys::from_pkcs8_pem(&read("log-ecdsa-p256.pem"), &read("log-ed25519.pem")).unwrap()
}

/// A frontend of the log in `cluster`, in `data_dir`, named `hostname`.
fn frontend(cluster: &Cluster, data_dir: &Path, port: u16, hostname: &str) -> TestServer {
    let url = cluster.url(0);
    TestServer::spawn_frontend(data_dir, port, &["--storage", &url, "--hostname", hostname])
}

/// A frontend with `args` on `dirs.0` that creates the log and leads, then one on `dirs.1`, with
/// the first one's key files (the log's and the TUF repository's), that follows.
fn leader_and_follower(
    dirs: (&Path, &Path),
    ports: (u16, u16),
    args: &[&str],
) -> (TestServer, TestServer) {
    let mut a = TestServer::spawn_frontend(dirs.0, ports.0, args);
    a.wait_ready();
    share_key_files(dirs.0, dirs.1);
    let mut b = TestServer::spawn_frontend(dirs.1, ports.1, args);
    b.wait_ready_at("/readyz?role=reader");
    (a, b)
}

async fn get(base: &str, p: &str) -> reqwest::Response {
    reqwest::get(format!("{base}{p}")).await.unwrap()
}

async fn tree_size(base: &str) -> u64 {
    let log: Value = get(base, "/api/v1/log").await.json().await.unwrap();
    log["treeSize"].as_u64().unwrap()
}

/// The frontend's C2SP checkpoint, verified with the log's Ed25519 key: (size, root).
async fn checkpoint(base: &str, keys: &LogKeys, origin: &str) -> (u64, Hash) {
    let text = get(base, "/checkpoint").await.text().await.unwrap();
    let cp = checkpoint::verify_c2sp(&text, &keys.ed25519_verifier(origin), &[]).unwrap();
    (cp.size, cp.root)
}

/// POSTs a v1 hashedrekord; its status, `Retry-After`, and body.
async fn post_v1(base: &str, entry: &Value) -> (u16, Option<String>, Value) {
    let res = common::post_request(&reqwest::Client::new(), base, entry).await;
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

/// The log index of a 201 answer of the v1 API.
fn v1_index(body: &Value) -> u64 {
    let entry = body.as_object().unwrap().values().next().unwrap();
    entry["logIndex"].as_u64().unwrap()
}

/// Waits until `check` holds, polling every 20 ms; panics after `timeout`.
async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < timeout,
            "{what}: not within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

async fn status(base: &str, p: &str) -> u16 {
    get(base, p).await.status().as_u16()
}

/// Runs `test` on a cluster of a primary and `standbys` standbys, started and stopped outside
/// the async runtime (its client blocks on a runtime of its own).
fn on_cluster<F: std::future::Future<Output = ()>>(
    standbys: usize,
    test: impl FnOnce(Cluster) -> F,
) {
    let cluster = Cluster::start(standbys);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(test(cluster));
}

#[test]
fn serves_v1_and_v2_writes_from_a_synchronous_cluster_and_keeps_them_across_a_restart() {
    on_cluster(1, serve_and_restart);
}

async fn serve_and_restart(cluster: Cluster) {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let hostname = format!("127.0.0.1:{port}");
    // A password in the URL (the test cluster trusts every local connection) is never shown.
    let url = format!("{} password=sekrit-pw", cluster.url(0));
    let args = ["--storage", &url, "--hostname", &hostname];
    let mut server = TestServer::spawn_frontend(data.path(), port, &args);
    server.wait_ready();
    let base = server.base_url();

    // v1, with the real client: it signs, sends, and verifies the answer (SET, checkpoint,
    // inclusion proof) before writing the bundle; verify-blob checks the bundle offline.
    let work = tempfile::tempdir().unwrap();
    let client = |args: &[&str]| {
        let run = run_arkivo(Some(work.path()), args, &[("ARKIVO_PASSWORD", "")]);
        assert_eq!(run.code, 0, "arkivo {args:?}: {}{}", run.stdout, run.stderr);
    };
    client(&["keygen", "--output-prefix", "k"]);
    std::fs::write(work.path().join("blob"), b"stored in PostgreSQL").unwrap();
    std::fs::write(
        work.path().join("log.pub"),
        get(&base, "/api/v1/log/publicKey")
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    client(&[
        "sign-blob",
        "--key",
        "k.key",
        "--rekor-url",
        &base,
        "--bundle",
        "b.json",
        "blob",
    ]);
    let verify = [
        "verify-blob",
        "--key",
        "k.pub",
        "--bundle",
        "b.json",
        "--log-key",
        "log.pub",
    ];
    client(&[&verify[..], &["blob"]].concat());

    // v2: the answer's inclusion proof verifies against its C2SP checkpoint.
    let keys = log_keys(data.path());
    let request = EntrySigner::new().hashedrekord_v2(b"a v2 artifact");
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v2/log/entries"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let tle: TransparencyLogEntry = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(tle.log_index, 1);
    let proof = tle.inclusion_proof.as_ref().unwrap();
    let cp = checkpoint::verify_c2sp(
        &proof.checkpoint.as_ref().unwrap().envelope,
        &keys.ed25519_verifier(&hostname),
        &[],
    )
    .unwrap();
    let hashes: Vec<Hash> = proof
        .hashes
        .iter()
        .map(|h| Hash::from_slice(h).unwrap())
        .collect();
    merkle::verify_inclusion(
        1,
        cp.size,
        &merkle::record_hash(&tle.canonicalized_body),
        &hashes,
        &cp.root,
    )
    .unwrap();

    // Both entries are rows of the database.
    let db = cluster.url(0);
    let rows: i64 = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        client
            .query_one("SELECT count(*) FROM arkivo_entries", &[])
            .unwrap()
            .get(0)
    })
    .await
    .unwrap();
    assert_eq!(rows, 2);

    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    assert!(
        !stderr.contains("sekrit-pw"),
        "the password was shown:\n{stderr}"
    );
    assert!(stderr.contains("password=***"), "{stderr}");

    // Restarted, it serves the same log and continues it.
    let mut server = TestServer::spawn_frontend(data.path(), port, &args);
    server.wait_ready();
    assert_eq!(tree_size(&base).await, 2);
    assert_eq!(
        checkpoint(&base, &keys, &hostname).await,
        (cp.size, cp.root)
    );
    client(&[&verify[..], &["blob"]].concat());
    let (code, _, body) = post_v1(&base, &EntrySigner::new().hashedrekord(b"after restart")).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(v1_index(&body), 2);
    server.signal("TERM");

    // verify-log checks the log in the database as it does one in RocksDB …
    let d = path(data.path());
    let verify_log = ["verify-log", "--data-dir", d, "--storage", &url];
    let run = run_arkivo(None, &verify_log, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("ok: tree") && run.stdout.contains(": 3 entries"),
        "{}",
        run.stdout
    );
    // … and finds an entry changed behind its back.
    let db = cluster.url(0);
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        let changed = client
            .execute(
                "UPDATE arkivo_entries SET body = body || ' ' WHERE idx = 1",
                &[],
            )
            .unwrap();
        assert_eq!(changed, 1);
    })
    .await
    .unwrap();
    let run = run_arkivo(None, &verify_log, &[]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stderr.contains("is inconsistent"), "{}", run.stderr);
    assert!(!run.stderr.contains("sekrit-pw"), "{}", run.stderr);
}

#[test]
fn one_of_two_frontends_leads_and_the_other_takes_over_when_it_dies() {
    on_cluster(1, failover);
}

async fn failover(cluster: Cluster) {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let name = "log.arkivo.test";
    let url = cluster.url(0);
    let (mut a, b) = leader_and_follower(
        (dir_a.path(), dir_b.path()),
        (port_a, port_b),
        &["--storage", &url, "--hostname", name],
    );
    let (base_a, base_b) = (a.base_url(), b.base_url());
    let keys = log_keys(dir_a.path());

    // Exactly one leads: the load balancer sends writes to the one whose /readyz is 200.
    assert_eq!(status(&base_a, "/readyz").await, 200);
    let follower = get(&base_b, "/readyz").await;
    assert_eq!(follower.status().as_u16(), 503);
    let reason = follower.text().await.unwrap();
    assert!(
        reason.contains("another frontend sequences the log"),
        "{reason}"
    );
    assert_eq!(status(&base_a, "/readyz?role=reader").await, 200);
    assert_eq!(status(&base_b, "/readyz?role=bogus").await, 400);
    let (code, retry, body) = post_v1(&base_b, &EntrySigner::new().hashedrekord(b"to b")).await;
    assert_eq!((code, retry.as_deref()), (503, Some("1")), "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not take writes"),
        "{body}"
    );

    for i in 0..3 {
        let artifact = format!("entry {i}");
        let (code, _, body) = post_v1(
            &base_a,
            &EntrySigner::new().hashedrekord(artifact.as_bytes()),
        )
        .await;
        assert_eq!(code, 201, "{body}");
        assert_eq!(v1_index(&body), i);
    }
    // The follower's reads follow the leader's published head.
    until(
        "the follower sees the leader's entries",
        Duration::from_secs(5),
        || async { tree_size(&base_b).await == 3 },
    )
    .await;
    let entry = get(&base_b, "/api/v1/log/entries?logIndex=2").await;
    assert_eq!(entry.status().as_u16(), 200);
    let before = checkpoint(&base_b, &keys, name).await;
    assert_eq!(before.0, 3);

    // The leader dies: the follower takes the lead once PostgreSQL ends its sessions.
    a.kill();
    let takeover = until(
        "the follower takes over",
        Duration::from_secs(10),
        || async { status(&base_b, "/readyz").await == 200 },
    )
    .await;
    println!(
        "takeover after SIGKILL of the leader: {} ms",
        takeover.as_millis()
    );
    assert!(
        takeover < Duration::from_secs(3),
        "takeover took {takeover:?}"
    );

    // The log continues at the next index, consistently with the old leader's checkpoint.
    let (code, _, body) =
        post_v1(&base_b, &EntrySigner::new().hashedrekord(b"after failover")).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(v1_index(&body), 3);
    let after = checkpoint(&base_b, &keys, name).await;
    assert_eq!(after.0, 4);
    let proof: Value = get(&base_b, "/api/v1/log/proof?firstSize=3&lastSize=4")
        .await
        .json()
        .await
        .unwrap();
    let hashes: Vec<Hash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect();
    merkle::verify_consistency(3, 4, &hashes, &before.1, &after.1).unwrap();

    // The old leader, restarted, follows the new one.
    let mut a = frontend(&cluster, dir_a.path(), port_a, name);
    a.wait_ready_at("/readyz?role=reader");
    assert_eq!(status(&base_a, "/readyz").await, 503);
    until(
        "the restarted frontend catches up",
        Duration::from_secs(5),
        || async { tree_size(&base_a).await == 4 },
    )
    .await;
    let (code, _, _) = post_v1(&base_a, &EntrySigner::new().hashedrekord(b"to a")).await;
    assert_eq!(code, 503);
}

/// The version of the timestamp a frontend serves.
async fn timestamp_version(base: &str) -> u64 {
    let timestamp: Value = get(base, "/tuf/timestamp.json").await.json().await.unwrap();
    timestamp["signed"]["version"].as_u64().unwrap()
}

#[test]
fn the_tuf_repository_is_one_across_frontends_and_its_versions_grow_across_a_takeover() {
    on_cluster(1, tuf_failover);
}

async fn tuf_failover(cluster: Cluster) {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let name = "log.arkivo.test";
    let url = cluster.url(0);
    // A timestamp re-signed every few seconds: publications while the client refreshes, and
    // one by the new leader soon after it takes over.
    let config = dir_a.path().join("arkivo.toml");
    std::fs::write(&config, "tuf_timestamp_expiry_secs = 4\n").unwrap();
    let args = [
        "--storage",
        &url,
        "--hostname",
        name,
        "--config",
        path(&config),
    ];
    let (mut a, b) = leader_and_follower((dir_a.path(), dir_b.path()), (port_a, port_b), &args);
    let (base_a, base_b) = (a.base_url(), b.base_url());

    // Both serve the database's files: the same root, the same timestamp.
    for file in ["1.root.json", "root.json", "timestamp.json"] {
        until(
            &format!("both frontends serve the same {file}"),
            Duration::from_secs(5),
            || async {
                let p = format!("/tuf/{file}");
                let (x, y) = (get(&base_a, &p).await, get(&base_b, &p).await);
                x.status() == 200 && x.bytes().await.unwrap() == y.bytes().await.unwrap()
            },
        )
        .await;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let root = get(&base_a, "/tuf/1.root.json")
        .await
        .bytes()
        .await
        .unwrap();
    std::fs::write(w.join("root.json"), &root).unwrap();

    // A client behind a load balancer, alternating between the frontends while the leader
    // re-signs: never a rollback, never a bad signature.
    let mut seen = 0;
    for i in 0..10 {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        let bootstrap = (i == 0).then(|| w.join("root.json"));
        let trusted = refresh(w, &format!("{base}/tuf"), bootstrap.as_deref())
            .unwrap_or_else(|e| panic!("refresh {i} from {base}: {e}"));
        let version = trusted["timestamp"].as_u64().unwrap();
        assert!(version >= seen, "timestamp version {version} after {seen}");
        seen = version;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    println!("timestamp version {seen} after 10 refreshes alternating between two frontends");
    assert!(seen > 1, "the leader re-signed the timestamp meanwhile");

    // The leader dies; the new one publishes from the database's versions, not from its own.
    a.kill();
    until(
        "the follower takes over",
        Duration::from_secs(10),
        || async { status(&base_b, "/readyz").await == 200 },
    )
    .await;
    let before = timestamp_version(&base_b).await;
    let published = until(
        "the new leader publishes a new timestamp",
        Duration::from_secs(10),
        || async { timestamp_version(&base_b).await > before },
    )
    .await;
    println!(
        "the new leader re-signed the timestamp (version {before} before) {} ms after taking over",
        published.as_millis()
    );
    let after = refresh(w, &format!("{base_b}/tuf"), None).unwrap();
    assert!(after["timestamp"].as_u64().unwrap() > seen, "{after}");
    assert_eq!(after["root"], 1);
    // The old leader, restarted, follows and serves the new leader's versions.
    let mut a = TestServer::spawn_frontend(dir_a.path(), port_a, &args);
    a.wait_ready_at("/readyz?role=reader");
    let again = refresh(w, &format!("{base_a}/tuf"), None).unwrap();
    assert!(
        again["timestamp"].as_u64().unwrap() >= after["timestamp"].as_u64().unwrap(),
        "{again} after {after}"
    );
    // A client bootstrapping now, from either, gets the same.
    let fresh = tempfile::tempdir().unwrap();
    let root = Some(w.join("root.json"));
    refresh(fresh.path(), &format!("{base_a}/tuf"), root.as_deref()).unwrap();
    refresh(fresh.path(), &format!("{base_b}/tuf"), None).unwrap();

    // A frontend with another TUF key (the log's keys, but a targets key of its own) is
    // refused, naming the file.
    let other = tempfile::tempdir().unwrap();
    copy_files(&dir_a.path().join("keys"), &other.path().join("keys"));
    let keys = other.path().join("tuf/keys");
    std::fs::create_dir_all(&keys).unwrap();
    let targets = keys.join("targets.pem");
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", path(&targets)])
        .status()
        .expect("running openssl");
    assert!(made.success());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&targets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = path(other.path());
    let mut refused = vec!["--data-dir", o, "--listen", "127.0.0.1:0"];
    refused.extend(args);
    let err = refused_start(&refused);
    assert!(
        err.contains("the TUF key file")
            && err.contains("targets.pem is not one of the repository's"),
        "{err}"
    );
    // Nothing it did reached the clients.
    refresh(w, &format!("{base_b}/tuf"), None).unwrap();
}

/// Every file of a repository directory (metadata and `targets/`), by path under `/tuf/`.
fn repository_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for sub in ["", "targets"] {
        for file in std::fs::read_dir(dir.join(sub)).unwrap() {
            let file = file.unwrap();
            if file.file_type().unwrap().is_file() {
                let name = file.file_name().to_string_lossy().into_owned();
                let name = if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                };
                files.push((name, std::fs::read(file.path()).unwrap()));
            }
        }
    }
    files
}

/// `arkivo tuf export` from the database, with a data directory of its own (no frontend): each
/// file as every frontend of `bases` serves it.
async fn export_is_served(w: &Path, url: &str, bases: &[&str]) -> usize {
    let (elsewhere, out) = (w.join("elsewhere"), w.join("export"));
    let _ = std::fs::remove_dir_all(&out);
    let args = [
        "tuf",
        "export",
        path(&out),
        "--data-dir",
        path(&elsewhere),
        "--storage",
        url,
    ];
    let run = run_arkivo(Some(w), &args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let files = repository_files(&out);
    for name in ["1.root.json", "root.json", "timestamp.json"] {
        assert!(files.iter().any(|(n, _)| n == name), "{name} exported");
    }
    for (name, content) in &files {
        for base in bases {
            let served = get(base, &format!("/tuf/{name}")).await;
            assert_eq!(served.status(), 200, "{base}/tuf/{name}");
            assert_eq!(
                &served.bytes().await.unwrap()[..],
                content,
                "{base}/tuf/{name}"
            );
        }
    }
    files.len()
}

#[test]
fn the_tuf_commands_work_on_the_database_and_a_root_rotation_reaches_it_once() {
    on_cluster(1, tuf_commands);
}

/// `arkivo tuf export`, `new-root` and `install-root` on PostgreSQL: the export and the next
/// root are the database's; a root version goes in through the leader's admin socket (a
/// follower refuses, so does anything with another frontend leading, and a root the clients
/// would refuse), or with no frontend running straight into the database, and the next leader
/// signs the rest. python-tuf, trusting root version 1, follows both rotations from either
/// frontend, also after a SIGKILL of the leader.
async fn tuf_commands(cluster: Cluster) {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let url = cluster.url(0);
    let args = ["--storage", &url, "--hostname", "log.arkivo.test"];
    let (mut a, mut b) = leader_and_follower((dir_a.path(), dir_b.path()), (port_a, port_b), &args);
    let (base_a, base_b) = (a.base_url(), b.base_url());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let exported = export_is_served(w, &url, &[&base_a, &base_b]).await;
    println!("tuf export from the database: {exported} files, as both frontends serve them");

    let arkivo = |args: &[&str]| {
        let run = run_arkivo(Some(w), args, &[]);
        assert_eq!(run.code, 0, "arkivo {}: {}", args.join(" "), run.stderr);
        run.stdout
    };
    // A data directory of its own: the commands read the database, not a frontend's copy.
    let elsewhere = w.join("elsewhere");
    let install = |data_dir: &Path, file: &str| {
        let args = [
            "tuf",
            "install-root",
            file,
            "--data-dir",
            path(data_dir),
            "--storage",
            &url,
        ];
        run_arkivo(Some(w), &args, &[])
    };
    let refused = |data_dir: &Path, file: &str, message: &str| {
        let run = install(data_dir, file);
        assert_ne!(run.code, 0, "{file} installed: {}", run.stdout);
        assert!(run.stderr.contains(message), "{}", run.stderr);
    };
    let root1 = get(&base_a, "/tuf/1.root.json")
        .await
        .bytes()
        .await
        .unwrap();
    std::fs::write(w.join("root.json"), &root1).unwrap();
    let client = w.join("client");
    let before = refresh(
        &client,
        &format!("{base_a}/tuf"),
        Some(&w.join("root.json")),
    )
    .unwrap();
    assert_eq!(before["root"], 1);

    // Root version 2: a new root key, kept offline.
    let offline = w.join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    let root_1 = dir_a.path().join("tuf/keys/root-1.pem");
    let root_2 = offline.join("root-2.pem");
    let root2_pub = arkivo(&["tuf", "new-key", path(&root_2)]);
    std::fs::write(w.join("root-2.pub"), root2_pub).unwrap();
    let e = path(&elsewhere);
    let new_root = |out: &str, changes: &[&str]| {
        let mut args = vec!["tuf", "new-root", "--out", out, "--data-dir", e];
        args.extend(["--storage", &url]);
        args.extend(changes);
        arkivo(&args);
    };
    new_root("2.root.json", &["--root-key", "root-2.pub"]);
    std::fs::copy(w.join("2.root.json"), w.join("new-only.json")).unwrap();
    arkivo(&["tuf", "sign-root", "new-only.json", "--key", path(&root_2)]);
    let both = ["--key", path(&root_1), "--key", path(&root_2)];
    arkivo(&[&["tuf", "sign-root", "2.root.json"][..], &both[..]].concat());
    // The follower does not sign: it says where to go.
    refused(dir_b.path(), "2.root.json", "does not lead the log");
    // Nor does anything else while a frontend leads.
    refused(&elsewhere, "2.root.json", "another frontend leads the log");
    // A root the clients of version 1 would refuse: signed by the new key only.
    refused(dir_a.path(), "new-only.json", "root version 1");
    let run = install(dir_a.path(), "2.root.json");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("root version 2 is in place"),
        "{}",
        run.stdout
    );
    // Exactly once: it is no longer the next version.
    refused(dir_a.path(), "2.root.json", "not the next one");
    for base in [&base_b, &base_a] {
        let after = refresh(&client, &format!("{base}/tuf"), None).unwrap();
        assert_eq!(after["root"], 2, "{base}: {after}");
    }
    export_is_served(w, &url, &[&base_a, &base_b]).await;

    // The leader dies: the follower takes the lead with root version 2 (its root-1.pem, which
    // version 2 no longer lists, may stay) and clients get it from there.
    a.kill();
    until(
        "the follower takes over",
        Duration::from_secs(10),
        || async { status(&base_b, "/readyz").await == 200 },
    )
    .await;
    let fresh = w.join("fresh");
    let taken = refresh(&fresh, &format!("{base_b}/tuf"), Some(&w.join("root.json"))).unwrap();
    assert_eq!(taken["root"], 2, "{taken}");
    // Its TUF loop (every second) has taken the lead of the repository meanwhile, without error.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !b.stderr().contains("taking the lead of the TUF repository"),
        "{}",
        b.stderr()
    );

    // Root version 3, with a new timestamp key, with no frontend running: into the database;
    // the next leader signs the rest with the new key.
    b.kill();
    let timestamp_3 = dir_b.path().join("tuf/keys/timestamp-3.pem");
    let ts_pub = arkivo(&["tuf", "new-key", path(&timestamp_3)]);
    std::fs::write(w.join("timestamp-3.pub"), ts_pub).unwrap();
    // Every frontend gets the new online key (keeping its mode 0600).
    std::fs::copy(&timestamp_3, dir_a.path().join("tuf/keys/timestamp-3.pem")).unwrap();
    new_root("3.root.json", &["--timestamp-key", "timestamp-3.pub"]);
    std::fs::copy(w.join("3.root.json"), w.join("old-key.json")).unwrap();
    arkivo(&["tuf", "sign-root", "old-key.json", "--key", path(&root_1)]);
    arkivo(&["tuf", "sign-root", "3.root.json", "--key", path(&root_2)]);
    // Signed by a key version 2 no longer lists: refused.
    refused(&elsewhere, "old-key.json", "root version 2");
    let run = install(&elsewhere, "3.root.json");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("root version 3 is in place"),
        "{}",
        run.stdout
    );
    refused(&elsewhere, "3.root.json", "not the next one");
    let mut b = TestServer::spawn_frontend(dir_b.path(), port_b, &args);
    b.wait_ready();
    let mut a = TestServer::spawn_frontend(dir_a.path(), port_a, &args);
    a.wait_ready_at("/readyz?role=reader");
    // python-tuf accepts the timestamp only once signed by the new key (TUF §5.4.2).
    for base in [&base_a, &base_b] {
        until(
            "the new leader signs the timestamp with root version 3's key",
            Duration::from_secs(10),
            || async {
                refresh(&client, &format!("{base}/tuf"), None)
                    .is_ok_and(|trusted| trusted["root"] == 3)
            },
        )
        .await;
    }
    let root3: Value = get(&base_a, "/tuf/3.root.json").await.json().await.unwrap();
    let timestamp: Value = get(&base_a, "/tuf/timestamp.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        timestamp["signatures"][0]["keyid"], root3["signed"]["roles"]["timestamp"]["keyids"][0],
        "the timestamp is signed with the new key"
    );
    export_is_served(w, &url, &[&base_a, &base_b]).await;
    drop((a, b));
}

/// A certificate for `email` from the CA at `base`: the status, `Retry-After`, and the answer.
async fn sign_cert(base: &str, issuer: &TestIssuer, email: &str) -> (u16, Option<String>, Value) {
    let token = issuer.token(
        Alg::Es256,
        "email",
        serde_json::json!({"email": email, "email_verified": true}),
    );
    let res = post_cert_request(base, &token, email).await;
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

/// The CT log's checkpoint at `base`, verified with its RFC 6962 note signature (the key the
/// trusted root lists, DER SPKI): its text and size.
async fn ct_checkpoint(base: &str, spki: &[u8], origin: &str) -> (String, u64) {
    let text = get(base, "/ct/checkpoint").await.text().await.unwrap();
    let key =
        <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(spki)
            .unwrap();
    let verifier = arkivo_core::ct::Rfc6962NoteVerifier::new(origin, key);
    let opened = arkivo_core::note::open(text.as_bytes(), &[&verifier]).unwrap();
    let cp = checkpoint::Checkpoint::parse(opened.text()).unwrap();
    assert_eq!(cp.origin, origin);
    (text, cp.size)
}

#[test]
fn the_ca_and_its_ct_log_are_one_across_frontends_and_survive_a_takeover() {
    on_cluster(1, ct_failover);
}

async fn ct_failover(cluster: Cluster) {
    let issuer = TestIssuer::start(false);
    let issuer_url = issuer.url("email");
    let url = cluster.url(0);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    // Both named as one, as behind a load balancer (here: the first frontend's address, which
    // the checkpoints name and verify-blob checks against the log's URL).
    let name = format!("127.0.0.1:{port_a}");
    let origin = format!("{name}/ct");
    let args = [
        "--storage",
        url.as_str(),
        "--hostname",
        &name,
        "--oidc-issuer",
        &issuer_url,
    ];
    let mut a = TestServer::spawn_frontend(dir_a.path(), port_a, &args);
    a.wait_ready();
    // Another CT key (a frontend that made its own) is refused, naming the file.
    let other = tempfile::tempdir().unwrap();
    copy_files(&dir_a.path().join("keys"), &other.path().join("keys"));
    let mut refused = vec!["--data-dir", path(other.path()), "--listen", "127.0.0.1:0"];
    refused.extend(args);
    let err = refused_start(&refused);
    assert!(
        err.contains("the ECDSA CT log key in") && err.contains("is not this CT log's"),
        "{err}"
    );
    // The second frontend has the same key files: the log's, the TSA's, the CA's, the CT
    // log's (below), the TUF repository's.
    share_key_files(dir_a.path(), dir_b.path());
    std::fs::copy(
        dir_a.path().join("ca-chain.pem"),
        dir_b.path().join("ca-chain.pem"),
    )
    .unwrap();
    copy_files(&dir_a.path().join("ct/keys"), &dir_b.path().join("ct/keys"));
    let mut b = TestServer::spawn_frontend(dir_b.path(), port_b, &args);
    b.wait_ready_at("/readyz?role=reader");
    let (base_a, base_b) = (a.base_url(), b.base_url());

    // Both serve the same trusted root: one CA, one CT log.
    let root_a: Value = get(&base_a, "/api/v1/log/trustedRoot")
        .await
        .json()
        .await
        .unwrap();
    let root_b: Value = get(&base_b, "/api/v1/log/trustedRoot")
        .await
        .json()
        .await
        .unwrap();
    for kind in ["certificateAuthorities", "ctlogs", "tlogs"] {
        assert_eq!(root_a[kind], root_b[kind], "{kind}");
    }
    let spki = B64
        .decode(
            root_a["ctlogs"][0]["publicKey"]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();

    // The follower's CA refuses as its log does: the load balancer sends it to the leader.
    let (code, retry, body) = sign_cert(&base_b, &issuer, "b@example.org").await;
    assert_eq!((code, retry.as_deref()), (503, Some("1")), "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not take writes"),
        "{body}"
    );

    let mut entries = Vec::new();
    for i in 0..2 {
        let (code, _, answer) = sign_cert(&base_a, &issuer, &format!("user{i}@example.org")).await;
        assert_eq!(code, 201, "{answer}");
        entries.push(ct_entry(&chain(&answer)[0]));
    }
    // A keyless signature through the leader (its certificate is the CT log's third entry).
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let file = w.join("artifact");
    std::fs::write(&file, b"signed keyless before the takeover").unwrap();
    let bundle = w.join("artifact.bundle");
    const EMAIL: &str = "alice@example.org";
    let token = issuer.token(
        Alg::Es256,
        "email",
        serde_json::json!({"email": EMAIL, "email_verified": true}),
    );
    let signed = run_arkivo(
        None,
        &[
            "sign-blob",
            "--identity-token",
            &token,
            "--rekor-url",
            &base_a,
            "--bundle",
            path(&bundle),
            path(&file),
        ],
        &[],
    );
    assert_eq!(signed.code, 0, "{}\n{}", signed.stdout, signed.stderr);
    let b_json: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let leaf = B64
        .decode(
            b_json["verificationMaterial"]["certificate"]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    entries.push(ct_entry(&leaf));

    // The follower serves the leader's CT tree.
    until(
        "the follower sees the leader's CT log",
        Duration::from_secs(5),
        || async { ct_checkpoint(&base_b, &spki, &origin).await.1 == 3 },
    )
    .await;
    let (before, _) = ct_checkpoint(&base_b, &spki, &origin).await;
    std::fs::write(w.join("before.checkpoint"), &before).unwrap();

    // The leader dies; the other frontend takes over the log and the CT log, and issues more.
    a.kill();
    until(
        "the follower takes over",
        Duration::from_secs(10),
        || async { status(&base_b, "/readyz").await == 200 },
    )
    .await;
    for i in 2..4 {
        let email = format!("user{i}@example.org");
        let (code, _, answer) = until_issued(&base_b, &issuer, &email).await;
        assert_eq!(code, 201, "{answer}");
        entries.push(ct_entry(&chain(&answer)[0]));
    }
    let indexes: Vec<&str> = entries
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert_eq!(indexes, ["0", "1", "2", "3", "4"], "{entries:?}");
    let (_, size) = ct_checkpoint(&base_b, &spki, &origin).await;
    assert_eq!(size, 5);

    // Consistent: the old leader's checkpoint's root is recomputed from the new leader's tiles
    // of that size, by the independent client; and every certificate handed out, before and
    // after the takeover, is in the final tree at its SCT's index (inclusion proofs).
    let ct_url = format!("{base_b}/ct");
    let old = [
        "--static-ct".to_owned(),
        "--checkpoint".to_owned(),
        path(&w.join("before.checkpoint")).to_owned(),
    ];
    let (ok, out) = common::verify_tiles_py(&ct_url, &old);
    assert!(ok, "{out}");
    let mut all = vec!["--static-ct".to_owned()];
    for e in &entries {
        all.extend(["--entry".to_owned(), e.clone()]);
    }
    let (ok, out) = common::verify_tiles_py(&ct_url, &all);
    assert!(ok, "{out}");

    // The keyless signature made before the takeover verifies with the new leader's trusted
    // root, its SCT included.
    let root: Value = get(&base_b, "/api/v1/log/trustedRoot")
        .await
        .json()
        .await
        .unwrap();
    std::fs::write(w.join("root.json"), root.to_string()).unwrap();
    let verified = run_arkivo(
        None,
        &[
            "verify-blob",
            "--bundle",
            path(&bundle),
            "--trusted-root",
            path(&w.join("root.json")),
            "--certificate-identity",
            EMAIL,
            "--certificate-oidc-issuer",
            &issuer_url,
            path(&file),
        ],
        &[],
    );
    assert_eq!(verified.code, 0, "{}\n{}", verified.stdout, verified.stderr);

    // The old leader, restarted, follows: its CA refuses, and it serves the new CT tree.
    let mut a = TestServer::spawn_frontend(dir_a.path(), port_a, &args);
    a.wait_ready_at("/readyz?role=reader");
    let (code, _, _) = sign_cert(&base_a, &issuer, "a@example.org").await;
    assert_eq!(code, 503);
    until(
        "the restarted frontend serves the CT log",
        Duration::from_secs(5),
        || async { ct_checkpoint(&base_a, &spki, &origin).await.1 == 5 },
    )
    .await;
}

/// A certificate from the CA at `base`, retried while it answers 503 (a leader that has just
/// taken over leads the CT log from its next round).
async fn until_issued(
    base: &str,
    issuer: &TestIssuer,
    email: &str,
) -> (u16, Option<String>, Value) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = sign_cert(base, issuer, email).await;
        if answer.0 != 503 || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn refuses_a_database_without_a_synchronous_standby_and_frontends_with_other_keys() {
    on_cluster(0, refusals);
}

async fn refusals(cluster: Cluster) {
    let url = cluster.url(0);
    let data = tempfile::tempdir().unwrap();
    let d = path(data.path());
    let err = refused_start(&["--data-dir", d, "--storage", &url, "--hostname", "a.test"]);
    assert!(err.contains("no synchronous standby"), "{err}");
    // A database nobody answers for is a clear error at start, too.
    let nowhere = format!("host=127.0.0.1 port={} user=arkivo", free_port());
    let err = refused_start(&[
        "--data-dir",
        d,
        "--storage",
        &nowhere,
        "--hostname",
        "a.test",
    ]);
    assert!(
        err.contains("opening the log's storage at host=127.0.0.1"),
        "{err}"
    );

    // The TUF commands read the database's repository: none before a frontend served the log.
    for command in [
        &["tuf", "export", "out"][..],
        &["tuf", "new-root", "--out", "2.json"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--data-dir", d, "--storage", &url, "--storage-allow-async"]);
        let run = run_arkivo(Some(data.path()), &args, &[]);
        assert_ne!(run.code, 0);
        assert!(
            run.stderr
                .contains("no TUF repository in the database: serve the log once"),
            "{}",
            run.stderr
        );
    }

    // Allowed explicitly, it starts, and says so loudly, in the log and in /metrics.
    let port = free_port();
    let async_args = [
        "--storage",
        &url,
        "--hostname",
        "a.test",
        "--storage-allow-async",
    ];
    let mut server = TestServer::spawn_frontend(data.path(), port, &async_args);
    server.wait_ready();
    assert!(
        server.stderr().contains("WITHOUT A SYNCHRONOUS STANDBY"),
        "{}",
        server.stderr()
    );
    let metrics = get(&server.base_url(), "/metrics")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("arkivo_storage_synchronous_standby 0"),
        "{metrics}"
    );
    assert!(metrics.contains("arkivo_storage_leader 1"), "{metrics}");

    // A frontend with other keys is refused, naming the key that differs.
    let other = tempfile::tempdir().unwrap();
    let o = path(other.path());
    let mut args = vec!["--data-dir", o, "--listen", "127.0.0.1:0"];
    args.extend(async_args);
    let err = refused_start(&args);
    assert!(
        err.contains("the ECDSA log key in") && err.contains("is not this log's"),
        "{err}"
    );
    // The log's ECDSA key, but another Ed25519 key (the one just made in `other`).
    let ecdsa = data.path().join("keys/log-ecdsa-p256.pem");
    let ed25519 = other.path().join("keys/log-ed25519.pem");
    args.extend([
        "--ecdsa-key-file",
        path(&ecdsa),
        "--ed25519-key-file",
        path(&ed25519),
    ]);
    let err = refused_start(&args);
    assert!(
        err.contains("the Ed25519 checkpoint key in") && err.contains("is not this log's"),
        "{err}"
    );
    // Commands for logs in the data directory refuse PostgreSQL storage.
    let run = run_arkivo(None, &["init", "--data-dir", d, "--storage", &url], &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("not on one stored in PostgreSQL"),
        "{}",
        run.stderr
    );
}
