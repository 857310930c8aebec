//! `arkivo serve --storage postgres://…` as real processes on real PostgreSQL clusters (a
//! primary and a synchronous standby, started by tests/common/pg.rs): writes through the v1 API
//! (the `arkivo` client signs and verifies) and the v2 API, a restart, two frontends of which
//! exactly one leads and the other takes over when the leader is killed, and the refusals at
//! start (other keys, no synchronous standby).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use arkivo_core::checkpoint;
use arkivo_core::merkle::{self, Hash};
use arkivo_core::proto::rekor_v1::TransparencyLogEntry;
use arkivo_core::signer::LogKeys;
use common::pg::Cluster;
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
    let url = cluster.url(0);
    let rows: i64 = tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
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
}

#[test]
fn one_of_two_frontends_leads_and_the_other_takes_over_when_it_dies() {
    on_cluster(1, failover);
}

async fn failover(cluster: Cluster) {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let name = "log.arkivo.test";
    let mut a = frontend(&cluster, dir_a.path(), port_a, name);
    a.wait_ready();
    // The second frontend signs with the same key files.
    std::fs::create_dir(dir_b.path().join("keys")).unwrap();
    for key in ["log-ecdsa-p256.pem", "log-ed25519.pem"] {
        let to = dir_b.path().join("keys").join(key);
        std::fs::copy(dir_a.path().join("keys").join(key), to).unwrap();
    }
    let mut b = frontend(&cluster, dir_b.path(), port_b, name);
    b.wait_ready_at("/readyz?role=reader");
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
    let run = run_arkivo(
        None,
        &["verify-log", "--data-dir", d, "--storage", &url],
        &[],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("not on one stored in PostgreSQL"),
        "{}",
        run.stderr
    );
}
