//! Chaos on real processes: three PostgreSQL nodes (a primary, two synchronous standbys), two
//! `arkivo serve` frontends on the multi-host URL of all three, and the load generator writing
//! through both (to the other frontend on a 503 or a connection error) and recording every 201.
//! Each cycle SIGKILLs the leading frontend (restarted afterwards as a follower), then SIGKILLs
//! the primary: the standby with the most WAL is promoted, the other repointed, the old primary
//! rewound with pg_rewind and rejoined — every fifth cycle its data is deleted and it is rebuilt
//! from a base backup instead (a lost machine). At the end:
//! - every acknowledged entry is at its index, with an inclusion proof from the API that
//!   verifies against the final tree;
//! - every checkpoint a client saw is signed by the log and consistent with the final tree;
//! - all three nodes hold the same rows once caught up (count, highest index, digests of the
//!   entries, the stored hashes and the head row);
//! - `arkivo verify-log` on the database finds the tree, its head and checkpoints whole;
//! - every transport error the load generator met (a request without an HTTP answer) came while
//!   a kill explains it: from a second before the kill until [`KILL_GRACE`] after the frontend
//!   was back (a frontend kill) or writes resumed (a primary kill). A frontend that drops
//!   connections while healthy fails the test.
//!
//! The write gap after each kind of kill (the longest time without a 201 across it) is printed. `ARKIVO_PG_CHAOS_CYCLES` sets the number
//! of cycles (default 15). The load generator is `target/release/examples/loadgen`, built by
//! `cargo test --release` (or `cargo build --release --examples`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arkivo_core::checkpoint;
use arkivo_core::merkle::{self, Hash};
use arkivo_core::signer::LogKeys;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::pg::{Cluster, Rejoin, share_key_files};
use common::{TestServer, free_port};
use serde_json::Value;

/// The log's name, the same on both frontends.
const HOSTNAME: &str = "chaos.arkivo.test";
/// Writes a second, paced (latency counts from each request's due time).
const RATE: u32 = 250;
/// How long the load runs between two kills.
const WRITE_FOR: Duration = Duration::from_millis(1500);
/// How long after a kill's recovery a transport error still counts as the kill's: a request
/// sent to the killed frontend or held by a dying connection may fail that much later (a
/// connection pauses 20 ms between attempts; an attempt takes at most the batch's commit).
const KILL_GRACE: Duration = Duration::from_secs(2);

fn cycles() -> usize {
    std::env::var("ARKIVO_PG_CHAOS_CYCLES").map_or(15, |v| v.parse().expect("a number"))
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Two frontends of one log, in data directories of their own holding the same keys.
struct Frontends {
    servers: Vec<TestServer>,
    dirs: Vec<tempfile::TempDir>,
    ports: Vec<u16>,
    storage: String,
}

impl Frontends {
    fn start(cluster: &Cluster) -> Frontends {
        let mut f = Frontends {
            servers: vec![],
            dirs: vec![tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()],
            ports: vec![free_port(), free_port()],
            storage: cluster.multi_host_url(),
        };
        // The first creates the log (and its keys) and leads; the second signs with copies.
        let first = f.spawn(0);
        f.servers.push(first);
        f.servers[0].wait_ready();
        share_key_files(f.dirs[0].path(), f.dirs[1].path());
        let mut second = f.spawn(1);
        second.wait_ready_at("/readyz?role=reader");
        f.servers.push(second);
        f
    }

    fn spawn(&self, i: usize) -> TestServer {
        TestServer::spawn_frontend(
            self.dirs[i].path(),
            self.ports[i],
            &["--storage", &self.storage, "--hostname", HOSTNAME],
        )
    }

    fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect()
    }

    /// The frontend that takes writes (its `/readyz` answers 200), once there is one.
    fn wait_leader(&self, rt: &tokio::runtime::Runtime, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        loop {
            for (i, url) in self.urls().iter().enumerate() {
                let ready = rt.block_on(async {
                    client
                        .get(format!("{url}/readyz"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200)
                });
                if ready {
                    return i;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no frontend took writes within {timeout:?}; stderr of each:\n{}\n---\n{}",
                self.servers[0].stderr(),
                self.servers[1].stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs frontend `i`.
    fn kill(&mut self, i: usize) {
        self.servers[i].kill();
    }

    /// Starts frontend `i` again on its port and waits until it serves reads.
    fn restart(&mut self, i: usize) {
        let mut server = self.spawn(i);
        server.wait_ready_at("/readyz?role=reader");
        self.servers[i] = server;
    }

    fn keys(&self) -> LogKeys {
        let read = |name: &str| {
            std::fs::read_to_string(self.dirs[0].path().join("keys").join(name)).unwrap()
        };
        LogKeys::from_pkcs8_pem(&read("log-ecdsa-p256.pem"), &read("log-ed25519.pem")).unwrap()
    }
}

/// Waits until the load generator recorded a 201 answered after `after_ms`: writes resumed.
fn wait_for_write(record: &Path, after_ms: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(record).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            // A 201's line, not a transport error's.
            .find(|v| v.get("uuid").is_some())
            .and_then(|v| v["atMs"].as_u64());
        if last.is_some_and(|at| at > after_ms) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no write acknowledged within 60 s of a kill"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One 201 as the load generator recorded it.
struct Acknowledged {
    at_ms: u64,
    uuid: String,
    index: u64,
    checkpoint: String,
}

/// A request that got no HTTP answer, as the load generator recorded it.
struct TransportError {
    at_ms: u64,
    url: String,
    error: String,
}

/// The record, but for a last line cut short when the load generator was stopped: the 201s and
/// the transport errors.
fn read_record(path: &Path) -> (Vec<Acknowledged>, Vec<TransportError>) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for (n, line) in lines.iter().enumerate() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            assert_eq!(n + 1, lines.len(), "line {n} of the record: {line}");
            continue;
        };
        if let Some(error) = v["transportError"].as_str() {
            errors.push(TransportError {
                at_ms: v["atMs"].as_u64().unwrap(),
                url: v["url"].as_str().unwrap().to_owned(),
                error: error.to_owned(),
            });
            continue;
        }
        out.push(Acknowledged {
            at_ms: v["atMs"].as_u64().unwrap(),
            uuid: v["uuid"].as_str().unwrap().to_owned(),
            index: v["logIndex"].as_u64().unwrap(),
            checkpoint: v["checkpoint"].as_str().unwrap().to_owned(),
        });
    }
    (out, errors)
}

fn hash(hex_text: &str) -> Hash {
    Hash::from_slice(&hex::decode(hex_text).unwrap()).unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect()
}

/// The write gap a kill (its process gone) caused: the longest time without a 201 that ends after
/// the kill, among the answers from a second before it up to the first one after the next kill
/// (an outage not over by then spans both). The first 201 after the kill may still be for a
/// batch committed before it, hence the longest gap rather than the first answer.
fn gap(kill_ms: u64, next_kill_ms: u64, record: &[Acknowledged]) -> Option<Duration> {
    let mut answered: Vec<u64> = record
        .iter()
        .map(|a| a.at_ms)
        .filter(|&at| at + 1000 >= kill_ms)
        .collect();
    answered.sort_unstable();
    let end = answered.partition_point(|&at| at < next_kill_ms);
    let resumed = answered[..end].iter().any(|&at| at > kill_ms);
    answered.truncate(if resumed { end } else { end + 1 });
    answered
        .windows(2)
        .filter(|w| w[1] > kill_ms)
        .map(|w| Duration::from_millis(w[1] - w[0]))
        .max()
}

fn summary(name: &str, gaps: &[Duration]) -> String {
    let mut ms: Vec<u128> = gaps.iter().map(Duration::as_millis).collect();
    ms.sort_unstable();
    format!(
        "{name}: {} kills, writes paused for min {} ms, median {} ms, max {} ms (each: {ms:?})",
        ms.len(),
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    )
}

#[test]
fn failovers_of_frontends_and_databases_lose_no_acknowledged_entry() {
    let started = Instant::now();
    let rt = runtime();
    let mut cluster = Cluster::start(2);
    let mut frontends = Frontends::start(&cluster);
    let cycles = cycles();

    let work = tempfile::tempdir().unwrap();
    let record_path = work.path().join("record.jsonl");
    // Enough entries for the run's longest duration at the rate, signed before it starts.
    let seconds = 400;
    let mut loadgen: Child = Command::new(common::loadgen_path())
        .args(frontends.urls().iter().flat_map(|u| ["--url", u]))
        .args(["--connections", "16", "--rate", &RATE.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .args(["--count", &(seconds * RATE).to_string()])
        .arg("--kills-expected")
        .arg("--record")
        .arg(&record_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let (mut frontend_kills, mut database_kills) = (vec![], vec![]);
    let mut rejoins = BTreeMap::<String, usize>::new();
    // When each kill happened and when it was over (the frontend back, writes resumed after the
    // primary's): the windows in which transport errors are expected.
    let mut kill_windows: Vec<(&str, u64, u64)> = vec![];
    for cycle in 0..cycles {
        let leader = frontends.wait_leader(&rt, Duration::from_secs(60));
        std::thread::sleep(WRITE_FOR);
        frontends.kill(leader);
        frontend_kills.push(unix_ms(SystemTime::now()));
        wait_for_write(&record_path, *frontend_kills.last().unwrap());
        frontends.restart(leader);
        let back = unix_ms(SystemTime::now());
        kill_windows.push(("frontend", *frontend_kills.last().unwrap(), back));

        std::thread::sleep(WRITE_FOR);
        let failover = cluster.fail_over(cycle % 5 == 4);
        database_kills.push(unix_ms(failover.killed_at));
        if cycle % 5 == 4 {
            assert_eq!(failover.rejoin, Rejoin::Rebuilt);
        }
        *rejoins.entry(format!("{:?}", failover.rejoin)).or_default() += 1;
        wait_for_write(&record_path, *database_kills.last().unwrap());
        let resumed = unix_ms(SystemTime::now());
        kill_windows.push(("primary", *database_kills.last().unwrap(), resumed));
        eprintln!(
            "cycle {cycle}: frontend {leader} killed; primary {} killed, {} promoted in {:?}, \
             old primary {:?}",
            failover.old_primary, failover.new_primary, failover.promoted_after, failover.rejoin
        );
    }
    std::thread::sleep(WRITE_FOR);
    loadgen.kill().unwrap();
    loadgen.wait().unwrap();
    let load_ended = started.elapsed();

    // The final tree, once nothing changes any more (a write in flight when the load generator
    // was stopped may still commit).
    let leader = frontends.wait_leader(&rt, Duration::from_secs(60));
    let base = frontends.urls()[leader].clone();
    let log_info = || -> Value {
        rt.block_on(async {
            reqwest::get(format!("{base}/api/v1/log"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    };
    let mut info = log_info();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let again = log_info();
        if again == info {
            break;
        }
        info = again;
    }
    let size = info["treeSize"].as_u64().unwrap();
    let root = hash(info["rootHash"].as_str().unwrap());

    let (record, transport_errors) = read_record(&record_path);
    // Each transport error within a kill's window, counted for the latest kill whose window holds
    // it (a window's grace can reach past the next kill); none outside all of them.
    let grace = KILL_GRACE.as_millis() as u64;
    let mut explained = vec![0usize; kill_windows.len()];
    let unexplained: Vec<String> = transport_errors
        .iter()
        .filter(|e| {
            let window = kill_windows
                .iter()
                .rposition(|&(_, from, to)| from <= e.at_ms + 1000 && e.at_ms <= to + grace);
            if let Some(w) = window {
                explained[w] += 1;
            }
            window.is_none()
        })
        .map(|e| format!("at {} ms, {}: {}", e.at_ms, e.url, e.error))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} transport errors no kill explains (kills and recoveries: {kill_windows:?}):\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    assert!(
        record.len() as u64 > u64::from(RATE),
        "only {} entries acknowledged",
        record.len()
    );
    // No index acknowledged twice, for two entries.
    let mut at_index = BTreeMap::new();
    for a in &record {
        if let Some(other) = at_index.insert(a.index, &a.uuid) {
            assert_eq!(
                other, &a.uuid,
                "two entries acknowledged at index {}",
                a.index
            );
        }
    }

    // Every acknowledged entry is at its index, included in the final tree.
    let client = reqwest::Client::new();
    let checked = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(
            record
                .iter()
                .map(|a| (a.index, a.uuid.clone()))
                .collect::<Vec<_>>(),
        ));
        for _ in 0..16 {
            let (client, base, queue) = (client.clone(), base.clone(), queue.clone());
            tasks.spawn(async move {
                let mut n = 0;
                loop {
                    let Some((index, uuid)) = queue.lock().unwrap().pop() else {
                        return n;
                    };
                    let answer: Value = client
                        .get(format!("{base}/api/v1/log/entries?logIndex={index}"))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let entry = answer
                        .get(&uuid)
                        .unwrap_or_else(|| panic!("index {index} holds {answer}, not {uuid}"));
                    let body = B64.decode(entry["body"].as_str().unwrap()).unwrap();
                    let leaf = merkle::record_hash(&body);
                    assert!(uuid.ends_with(&hex::encode(leaf.as_bytes())), "{uuid}");
                    let proof = &entry["verification"]["inclusionProof"];
                    assert_eq!(proof["treeSize"].as_u64(), Some(size));
                    assert_eq!(hash(proof["rootHash"].as_str().unwrap()), root);
                    merkle::verify_inclusion(index, size, &leaf, &hashes(&proof["hashes"]), &root)
                        .unwrap_or_else(|e| panic!("entry {index}: {e:?}"));
                    n += 1;
                }
            });
        }
        let mut n = 0;
        while let Some(done) = tasks.join_next().await {
            n += done.unwrap();
        }
        n
    });
    assert_eq!(checked, record.len());

    // Every checkpoint a client saw is the log's, and the final tree extends it.
    let keys = frontends.keys();
    let seen: BTreeSet<&str> = record.iter().map(|a| a.checkpoint.as_str()).collect();
    let mut sizes = BTreeMap::new();
    for text in &seen {
        let cp = checkpoint::verify_v1(text, keys.ecdsa_verifying_key(), HOSTNAME)
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        if let Some(other) = sizes.insert(cp.size, cp.root) {
            assert_eq!(other, cp.root, "two roots for size {}", cp.size);
        }
    }
    for (&old_size, old_root) in &sizes {
        if old_size == size {
            assert_eq!(*old_root, root);
            continue;
        }
        let proof: Value = rt.block_on(async {
            client
                .get(format!(
                    "{base}/api/v1/log/proof?firstSize={old_size}&lastSize={size}"
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        merkle::verify_consistency(old_size, size, &hashes(&proof["hashes"]), old_root, &root)
            .unwrap_or_else(|e| panic!("checkpoint at {old_size} → {size}: {e:?}"));
    }

    // All nodes hold the same rows.
    cluster.wait_caught_up();
    let digests = cluster.log_digests();
    assert!(
        digests[0]
            .1
            .starts_with(&format!("{size} entries, max index {}", size - 1)),
        "{digests:?}"
    );
    assert!(
        digests.iter().all(|(_, d)| *d == digests[0].1),
        "{digests:?}"
    );
    // verify-log recomputes the tree from the rows of the current primary (the multi-host URL)
    // and checks it against the stored head and both signed checkpoints.
    let data = common::path(frontends.dirs[0].path());
    let run = common::run_arkivo(
        None,
        &[
            "verify-log",
            "--data-dir",
            data,
            "--storage",
            &frontends.storage,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(": {size} entries")),
        "{}",
        run.stdout
    );

    // Kills alternate: a frontend's, then the primary's, in every cycle.
    let mut kills: Vec<u64> = frontend_kills
        .iter()
        .chain(&database_kills)
        .copied()
        .collect();
    kills.sort_unstable();
    let gaps = |of: &[u64]| -> Vec<Duration> {
        of.iter()
            .map(|&t| {
                let next = kills.iter().copied().find(|&k| k > t).unwrap_or(u64::MAX);
                gap(t, next, &record).expect("201s after the kill")
            })
            .collect()
    };
    let (frontend_gaps, database_gaps) = (gaps(&frontend_kills), gaps(&database_kills));
    let mut kinds = BTreeMap::<String, usize>::new();
    for e in &transport_errors {
        let authority = e.url.trim_start_matches("http://");
        *kinds.entry(e.error.replace(authority, "…")).or_default() += 1;
    }
    eprintln!(
        "{cycles} cycles in {load_ended:?} (whole test {:?}); {} entries acknowledged, final \
         tree {size}, {} checkpoints seen ({} sizes) all consistent with it; old primaries: \
         {rejoins:?}; transport errors {} (all within a kill's window; per kill, frontend and \
         primary alternating: {explained:?}; by kind: {kinds:?})\n{}\n{}",
        started.elapsed(),
        record.len(),
        seen.len(),
        sizes.len(),
        transport_errors.len(),
        summary("leading frontend SIGKILLed", &frontend_gaps),
        summary("primary SIGKILLed (failover done at once)", &database_gaps),
    );
}

/// The benchmark of docs/performance.md (`benches/postgres.sh`): one frontend on the three
/// nodes, the load generator for `ARKIVO_BENCH_SECONDS` (default 10) at `--max-batch` 256 and
/// 1,024. A batch takes what is waiting, so it fills only with as many requests in flight: 256
/// connections, and 512 — all one client address may open (an eighth of the server's
/// connections) — for 1,024, with the in-flight limit raised to let them all in. Prints the
/// load generator's report of each run (with the server's CPU per write) and what each write
/// cost PostgreSQL: the CPU of every process of the three nodes, and WAL bytes on the primary,
/// per acknowledged entry. A run with a transport error fails (no server is killed here).
#[test]
#[ignore = "a benchmark: run by benches/postgres.sh"]
fn write_throughput() {
    let seconds: u32 =
        std::env::var("ARKIVO_BENCH_SECONDS").map_or(10, |v| v.parse().expect("a number"));
    let cluster = Cluster::start(2);
    let storage = cluster.multi_host_url();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    for (batch, connections) in [("256", "256"), ("1024", "512")] {
        let args = [
            "--storage",
            &storage,
            "--hostname",
            HOSTNAME,
            "--max-batch",
            batch,
            "--max-requests-in-flight",
            "8192",
        ];
        let mut server = TestServer::spawn_frontend(dir.path(), port, &args);
        server.wait_ready();
        let (cpu_before, wal_before) = (cluster.cpu_us(), cluster.wal_bytes());
        // Entries for up to 20,000 writes a second, signed before the clock starts (the
        // PostgreSQL figures include the pre-signing's idle seconds: nothing else runs then).
        let out = Command::new(common::loadgen_path())
            .args(["--url", &server.base_url(), "--connections", connections])
            .args(["--server-pid", &server.pid().to_string()])
            .args(["--seconds", &seconds.to_string()])
            .args(["--count", &(seconds * 20000).to_string()])
            .output()
            .unwrap();
        // Its report, and why it failed: a run with transport errors (no kill here) is no figure.
        assert!(
            out.status.success(),
            "max_batch {batch}, {connections} connections: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let (cpu_after, wal_after) = (cluster.cpu_us(), cluster.wal_bytes());
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let entries = report["ok"].as_u64().unwrap().max(1);
        let per_entry = |total: u64| (total as f64 / entries as f64 * 10.0).round() / 10.0;
        let by_node: Vec<f64> = cpu_before
            .iter()
            .zip(&cpu_after)
            .map(|(b, a)| per_entry(a.saturating_sub(*b)))
            .collect();
        println!(
            "max_batch {batch}, {connections} connections: {}\n  postgres CPU µs per write: \
             {} (primary, standbys: {by_node:?}); WAL bytes per entry: {}",
            String::from_utf8_lossy(&out.stdout).trim(),
            per_entry(cpu_after.iter().sum::<u64>() - cpu_before.iter().sum::<u64>()),
            per_entry(wal_after - wal_before),
        );
        server.signal("TERM");
    }
}
