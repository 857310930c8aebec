//! Reads from a hot standby (`--storage-read-url`), as real processes on a real PostgreSQL
//! primary and hot standby (`pg_basebackup -R`, `hot_standby = on`; tests/common/pg.rs): the
//! frontend's entries, proofs, tiles and search verify and are read on the standby (its own
//! statistics say so); with the standby's replay paused, entries the frontend acknowledged are
//! still served, with proofs that verify (read on the primary, and counted); with the standby
//! stopped, reads go to the primary at once, and back to the standby once it is up again; the
//! standby URL's password is never logged.

mod common;

use std::time::{Duration, Instant};

use arkivo_core::checkpoint;
use arkivo_core::merkle::{self, Hash, RightBorder};
use arkivo_core::signer::LogKeys;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::pg::Cluster;
use common::{EntrySigner, TestServer, free_port};
use serde_json::Value;

#[test]
fn a_frontend_reads_from_a_hot_standby_and_from_the_primary_whenever_the_standby_lags_or_is_down() {
    let cluster = Cluster::start(1);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(standby_reads(cluster));
}

/// The figures of docs/performance.md "Reads from a standby": read rates through a frontend
/// reading from the primary and through one reading from a hot standby, on one log of a few
/// thousand entries, the nodes, both frontends and the load generator on this machine.
///   cargo build --release --bins --examples
///   ARKIVO_BENCH_SECONDS=10 cargo test --release -p arkivo --test postgres_standby -- \
///     --ignored read_throughput --nocapture
#[test]
#[ignore = "a benchmark: run by hand (see its doc)"]
fn read_throughput() {
    let seconds: u32 =
        std::env::var("ARKIVO_BENCH_SECONDS").map_or(10, |v| v.parse().expect("a number"));
    let cluster = Cluster::start(1);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let name = "bench.arkivo.test";
    let primary = cluster.url(0);
    let mut on_primary = TestServer::spawn_frontend(
        dir_a.path(),
        port_a,
        &["--storage", &primary, "--hostname", name],
    );
    on_primary.wait_ready();
    let loadgen = |base: &str, args: &[&str]| {
        let out = std::process::Command::new(common::loadgen_path())
            .args(["--url", base, "--seconds", &seconds.to_string()])
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "loadgen failed");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let filled = loadgen(
        &on_primary.base_url(),
        &["--connections", "64", "--count", "4096"],
    );
    println!("filling: {filled}");
    std::fs::create_dir(dir_b.path().join("keys")).unwrap();
    for key in ["log-ecdsa-p256.pem", "log-ed25519.pem"] {
        let to = dir_b.path().join("keys").join(key);
        std::fs::copy(dir_a.path().join("keys").join(key), to).unwrap();
    }
    let mut on_standby = TestServer::spawn_frontend(
        dir_b.path(),
        port_b,
        &[
            "--storage",
            &primary,
            "--storage-read-url",
            &cluster.url(1),
            "--hostname",
            name,
        ],
    );
    on_standby.wait_ready_at("/readyz?role=reader");
    cluster.wait_caught_up();
    // The follower serves the leader's published head within a round.
    std::thread::sleep(Duration::from_secs(1));
    for mode in ["read-index", "read-proof", "read-tile"] {
        for (from, server) in [("primary", &on_primary), ("standby", &on_standby)] {
            let report = loadgen(&server.base_url(), &["--mode", mode, "--connections", "32"]);
            println!("{mode} from the {from}: {report}");
        }
    }
    let metrics = String::from_utf8(on_standby.get("/metrics")).unwrap();
    println!(
        "the standby frontend: {} reads from the standby, {} fallbacks",
        counter(&metrics, "arkivo_storage_standby_reads_total"),
        counter(&metrics, "arkivo_storage_read_fallbacks_total")
    );
}

async fn standby_reads(mut cluster: Cluster) {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let name = "standby.arkivo.test";
    // A password in the standby's URL (the test cluster trusts local connections) is never shown.
    let read_url = format!("{} password=standby-sekrit", cluster.url(1));
    let args = [
        "--storage",
        &cluster.url(0),
        "--storage-read-url",
        &read_url,
        "--hostname",
        name,
    ];
    let mut server = TestServer::spawn_frontend(data.path(), port, &args);
    server.wait_ready();
    let base = server.base_url();
    let keys = {
        let read = |f: &str| std::fs::read_to_string(data.path().join("keys").join(f)).unwrap();
        LogKeys::from_pkcs8_pem(&read("log-ecdsa-p256.pem"), &read("log-ed25519.pem")).unwrap()
    };
    let http = reqwest::Client::new();

    let signer = EntrySigner::new();
    for i in 0..5 {
        assert_eq!(write(&http, &base, &signer, i).await, i);
    }
    wait_caught_up(&cluster).await;
    // (Writing, the sequencer's duplicate checks may have gone to the primary while the standby
    // replayed the previous batch.)
    let m = metrics(&http, &base).await;
    let fallbacks_before = counter(&m, "arkivo_storage_read_fallbacks_total");
    let standby_before = counter(&m, "arkivo_storage_standby_reads_total");
    let scans_before = standby_scans(&cluster).await;
    let (size, root) = checkpoint(&http, &base, &keys, name).await;
    assert_eq!(size, 5);
    verify_reads(&http, &base, 5, &root).await;
    // The standby ran those reads: its own statistics count scans of the log's tables (flushed
    // by its backends within seconds).
    until("the standby's statistics show the reads", || async {
        standby_scans(&cluster).await > scans_before
    })
    .await;
    // Every one of them, by the frontend's count.
    let m = metrics(&http, &base).await;
    assert!(
        counter(&m, "arkivo_storage_standby_reads_total") > standby_before,
        "{m}"
    );
    assert_eq!(
        counter(&m, "arkivo_storage_read_fallbacks_total"),
        fallbacks_before,
        "{m}"
    );

    // The standby stops replaying: an entry acknowledged now (commits wait for the standby to
    // flush the WAL, not to replay it) is on the primary only.
    exec(&cluster, 1, "SELECT pg_wal_replay_pause()").await;
    until("the standby's replay pauses", || async {
        sql(&cluster, 1, "SELECT pg_get_wal_replay_pause_state()").await == "paused"
    })
    .await;
    assert_eq!(write(&http, &base, &signer, 5).await, 5);
    let on_standby = sql(&cluster, 1, "SELECT count(*)::text FROM arkivo_entries").await;
    assert_eq!(on_standby, "5", "the standby replayed the new entry");
    let (size, root) = checkpoint(&http, &base, &keys, name).await;
    assert_eq!(size, 6);
    // Never a 404, nor a proof for a tree the client cannot verify: the reads the standby cannot
    // answer yet go to the primary.
    verify_reads(&http, &base, 6, &root).await;
    let m = metrics(&http, &base).await;
    assert!(
        counter(
            &m,
            "arkivo_storage_read_fallbacks_total{reason=\"standby_behind\"}"
        ) > 0.0,
        "{m}"
    );
    exec(&cluster, 1, "SELECT pg_wal_replay_resume()").await;
    wait_caught_up(&cluster).await;

    // The standby is down: reads go to the primary without waiting for it, and the frontend
    // stays ready to read (docs/operations.md "Reads from standbys").
    cluster.nodes[1].stop();
    let started = Instant::now();
    verify_reads(&http, &base, 6, &root).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "reads took {took:?}");
    let ready = http
        .get(format!("{base}/readyz?role=reader"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let m = metrics(&http, &base).await;
    assert!(
        counter(
            &m,
            "arkivo_storage_read_fallbacks_total{reason=\"standby_unavailable\"}"
        ) > 0.0,
        "{m}"
    );

    // Back up, it serves the reads again.
    tokio::task::block_in_place(|| {
        cluster.nodes[1].start();
        cluster.wait_streaming(1);
    });
    let before = counter(
        &metrics(&http, &base).await,
        "arkivo_storage_standby_reads_total",
    );
    until("reads return to the standby", || async {
        verify_reads(&http, &base, 6, &root).await;
        counter(
            &metrics(&http, &base).await,
            "arkivo_storage_standby_reads_total",
        ) > before
    })
    .await;

    let stderr = server.signal("TERM");
    assert!(
        stderr.contains("storage reads: PostgreSQL standby at"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("standby-sekrit"),
        "the password was shown:\n{stderr}"
    );
}

/// Writes the `i`-th entry through the v1 API; its log index.
async fn write(http: &reqwest::Client, base: &str, signer: &EntrySigner, i: u64) -> u64 {
    let entry = signer.hashedrekord(format!("artifact {i}").as_bytes());
    let res = common::post_request(http, base, &entry).await;
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().await.unwrap();
    body.as_object().unwrap().values().next().unwrap()["logIndex"]
        .as_u64()
        .unwrap()
}

/// The frontend's C2SP checkpoint, verified with the log's Ed25519 key: (size, root).
async fn checkpoint(
    http: &reqwest::Client,
    base: &str,
    keys: &LogKeys,
    origin: &str,
) -> (u64, Hash) {
    let text = common::get_text(http, format!("{base}/checkpoint")).await;
    let cp = checkpoint::verify_c2sp(&text, &keys.ed25519_verifier(origin), &[]).unwrap();
    (cp.size, cp.root)
}

/// Every entry of the tree of `size` and `root` (the frontend's checkpoint) as the v1 API, the
/// tiles and the search index serve it, each verified against `root`.
async fn verify_reads(http: &reqwest::Client, base: &str, size: u64, root: &Hash) {
    let mut leaves = Vec::new();
    for i in 0..size {
        let res = http
            .get(format!("{base}/api/v1/log/entries?logIndex={i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "entry {i}");
        let body: Value = res.json().await.unwrap();
        let (uuid, entry) = body.as_object().unwrap().iter().next().unwrap();
        let canonical = B64.decode(entry["body"].as_str().unwrap()).unwrap();
        let leaf = merkle::record_hash(&canonical);
        let proof = &entry["verification"]["inclusionProof"];
        let proof_size = proof["treeSize"].as_u64().unwrap();
        let proof_root = Hash::from_hex(proof["rootHash"].as_str().unwrap()).unwrap();
        merkle::verify_inclusion(
            i,
            proof_size,
            &leaf,
            &hex_hashes(&proof["hashes"]),
            &proof_root,
        )
        .unwrap();
        // The proof's tree is the checkpoint's, or (the frontend's head moved on) a larger one
        // consistent with it.
        if proof_size != size {
            let consistency: Value = common::get_json(
                http,
                format!("{base}/api/v1/log/proof?firstSize={size}&lastSize={proof_size}"),
            )
            .await;
            merkle::verify_consistency(
                size,
                proof_size,
                &hex_hashes(&consistency["hashes"]),
                root,
                &proof_root,
            )
            .unwrap();
        }
        // The search index finds it by its artifact's digest.
        let digest = entry_digest(&canonical);
        let found: Value = http
            .post(format!("{base}/api/v1/index/retrieve"))
            .json(&serde_json::json!({ "hash": digest }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            found.as_array().unwrap().iter().any(|u| u == uuid.as_str()),
            "search for entry {i}: {found}"
        );
        leaves.push(leaf);
    }
    // A consistency proof from the first entry's tree.
    let consistency: Value = common::get_json(
        http,
        format!("{base}/api/v1/log/proof?firstSize=1&lastSize={size}"),
    )
    .await;
    merkle::verify_consistency(
        1,
        size,
        &hex_hashes(&consistency["hashes"]),
        &leaves[0],
        root,
    )
    .unwrap();
    // The tiles: the level-0 tile holds the leaf hashes, the entry bundle the entries; both make
    // the checkpoint's root.
    let tile = http
        .get(format!("{base}/tile/0/000.p/{size}"))
        .send()
        .await
        .unwrap();
    assert_eq!(tile.status().as_u16(), 200);
    let tile = tile.bytes().await.unwrap();
    let bundle = http
        .get(format!("{base}/tile/entries/000.p/{size}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status().as_u16(), 200);
    let bundle = bundle.bytes().await.unwrap();
    let mut border = RightBorder::empty();
    let mut rest = &bundle[..];
    for (i, hash) in tile.chunks(32).enumerate() {
        let hash = Hash::from_slice(hash).unwrap();
        assert_eq!(hash, leaves[i]);
        // tlog-tiles: each entry is a big-endian uint16 length and the entry.
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        assert_eq!(merkle::record_hash(&rest[2..2 + len]), hash);
        rest = &rest[2 + len..];
        // Only the root is checked here: the completed hashes are not kept.
        let _ = border.append(hash);
    }
    assert!(rest.is_empty());
    assert_eq!(border.size(), size);
    assert_eq!(border.root(), *root);
}

fn hex_hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect()
}

/// The artifact digest of a hashedrekord's canonical body.
fn entry_digest(canonical: &[u8]) -> String {
    let body: Value = serde_json::from_slice(canonical).unwrap();
    body["spec"]["data"]["hash"]["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn metrics(http: &reqwest::Client, base: &str) -> String {
    common::get_text(http, format!("{base}/metrics")).await
}

/// The sum of a counter's series whose name (with labels) starts with `series`.
fn counter(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .fold(0.0, |sum, v| sum + v)
}

/// One value of a query on node `i` (the synchronous client runs outside the async runtime).
async fn sql(cluster: &Cluster, i: usize, query: &'static str) -> String {
    let url = cluster.url(i);
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .query_one(query, &[])
            .unwrap()
            .get::<_, Option<String>>(0)
            .unwrap_or_default()
    })
    .await
    .unwrap()
}

/// Runs `statement` on node `i`.
async fn exec(cluster: &Cluster, i: usize, statement: &'static str) {
    let url = cluster.url(i);
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.batch_execute(statement).unwrap();
    })
    .await
    .unwrap();
}

/// Index and sequential scans of the log's tables on the standby, by its own statistics.
async fn standby_scans(cluster: &Cluster) -> u64 {
    sql(
        cluster,
        1,
        "SELECT sum(coalesce(idx_scan, 0) + seq_scan)::text FROM pg_stat_user_tables \
         WHERE relname IN ('arkivo_entries', 'arkivo_hashes', 'arkivo_search')",
    )
    .await
    .parse()
    .unwrap()
}

async fn wait_caught_up(cluster: &Cluster) {
    tokio::task::block_in_place(|| cluster.wait_caught_up());
}

/// Waits until `check` holds, polling every 100 ms; panics after 30 s.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
