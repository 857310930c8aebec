//! `arkivo storage copy`: a log written by a real `arkivo serve` on RocksDB (through HTTP, with
//! entries from before SETs were stored) copied into a real PostgreSQL cluster (a primary and
//! a synchronous standby, tests/common/pg.rs), then served from it by `arkivo serve --storage`
//! byte for byte as before; an interrupted copy continued; and the targets it must refuse. The
//! CA's CT log, with the certificates a real CA issued, is copied beside the log and continues
//! in the database.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arkivo_server::datadir::{self, LogPaths};
use arkivo_server::storage::LogStore;
use common::oidc::{Alg, TestIssuer, chain, ct_entry, post_cert_request};
use common::pg::Cluster;
use common::{EntrySigner, TestServer, free_port, path, run_arkivo};
use serde_json::Value;

/// POSTs a v1 proposed entry: the status and the answer.
fn post(server: &TestServer, entry: &Value) -> (u16, Value) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let res =
                common::post_request(&reqwest::Client::new(), &server.base_url(), entry).await;
            let status = res.status().as_u16();
            (status, res.json().await.unwrap_or(Value::Null))
        })
}

/// The log index of a 201 answer.
fn index_of(answer: &Value) -> u64 {
    answer.as_object().unwrap().values().next().unwrap()["logIndex"]
        .as_u64()
        .unwrap()
}

/// Creates the log in `dir` named `host` and commits two entries the way the sequencer did
/// before SETs were stored: no SET rows (tests/storage.rs has the whole story).
fn old_format_log(dir: &Path, host: &str, signer: &EntrySigner) {
    let opened = datadir::open(&LogPaths::new(dir, None, None), Some(host), true).unwrap();
    let active = opened.active();
    common::storage::commit_first_batch_without_sets(active, signer, &[b"o\x00", b"o\x01"]);
    assert_eq!(active.store.entry(0).unwrap().unwrap().set, None);
}

/// Everything a client reads of a log of `size` entries: each v1 entry (SET, integrated time,
/// inclusion proof with its checkpoint), the log info, a consistency proof, the C2SP
/// checkpoint, and the level-0 and entry tiles.
fn reads(server: &TestServer, size: u64) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<String> = (0..size)
        .map(|i| format!("/api/v1/log/entries?logIndex={i}"))
        .collect();
    paths.extend([
        "/api/v1/log".to_owned(),
        format!("/api/v1/log/proof?firstSize=1&lastSize={size}"),
        "/checkpoint".to_owned(),
        format!("/tile/0/000.p/{size}"),
        format!("/tile/entries/000.p/{size}"),
    ]);
    paths
        .into_iter()
        .map(|p| {
            let body = server.get(&p);
            (p, body)
        })
        .collect()
}

fn copy(dir: &Path, url: &str, extra: &[&str]) -> common::Run {
    let args = [
        &["storage", "copy", "--data-dir", path(dir), "--to", url][..],
        extra,
    ]
    .concat();
    run_arkivo(None, &args, &[])
}

/// Runs the copy with `extra` flags, which must succeed and print each of `lines`.
fn copied(dir: &Path, url: &str, extra: &[&str], lines: &[&str]) {
    let run = copy(dir, url, extra);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for line in lines {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }
}

fn verify_log(dir: &Path, url: &str) -> common::Run {
    run_arkivo(
        None,
        &["verify-log", "--data-dir", path(dir), "--storage", url],
        &[],
    )
}

#[test]
fn a_copied_log_serves_the_same_bytes_from_postgres_and_continues() {
    let cluster = Cluster::start(1);
    let url = cluster.url(0);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let signer = EntrySigner::new();
    old_format_log(dir.path(), &host, &signer);

    let server = TestServer::start_in(dir.path(), port, &[]);
    for n in 0..3u8 {
        assert_eq!(post(&server, &signer.hashedrekord(&[b'n', n])).0, 201);
    }
    for digest in ["11", "22"] {
        let (status, answer) = post(&server, &signer.dsse_of_digest(&digest.repeat(32)));
        assert_eq!(status, 201, "{answer}");
    }
    let size = 7;
    let before = reads(&server, size);
    drop(server);

    // Served on the database before the copy, the data directory's keys would start a second
    // log under the same log ID: refused before anything is created, so the copy below finds
    // the database empty.
    let listen = format!("127.0.0.1:{}", free_port());
    let refused = common::refused_start(&[
        "--data-dir",
        path(dir.path()),
        "--storage",
        &url,
        "--listen",
        &listen,
    ]);
    assert!(
        refused.contains("holds a log (RocksDB) and the database none"),
        "{refused}"
    );

    let run = copy(dir.path(), &url, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("copied 7 entries (indexes 0..7)") && run.stdout.contains("verified"),
        "{}",
        run.stdout
    );
    // SETs as stored: none for the old entries, the very bytes for the others.
    let mut db = cluster.client();
    let sets: Vec<Option<Vec<u8>>> = db
        .query(
            "SELECT signed_entry_timestamp FROM arkivo_entries ORDER BY idx",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(sets.iter().filter(|s| s.is_none()).count(), 2);
    // The in-toto statement's subject digest is searchable: its row came from the source.
    let found: i64 = db
        .query_one(
            "SELECT count(*) FROM arkivo_search WHERE key = $1",
            &[&format!("sha256:{}", "11".repeat(32)).as_bytes()],
        )
        .unwrap()
        .get(0);
    assert_eq!(found, 1);

    // The same data directory's keys (and TSA, CA) serve the copy.
    let mut frontend = TestServer::spawn_frontend(dir.path(), free_port(), &["--storage", &url]);
    frontend.wait_ready();
    for ((p, want), (_, got)) in before.iter().zip(reads(&frontend, size)) {
        assert!(
            *want == got,
            "{p} differs:\n{}\n{}",
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(&got)
        );
    }
    let (status, answer) = post(&frontend, &signer.hashedrekord(b"after the move"));
    assert_eq!(status, 201, "{answer}");
    assert_eq!(index_of(&answer), size);
    drop(frontend);

    let run = verify_log(dir.path(), &url);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ok: tree"), "{}", run.stdout);

    // A body changed in the database is found.
    db.execute(
        "UPDATE arkivo_entries SET body = body || ' ' WHERE idx = 4",
        &[],
    )
    .unwrap();
    let run = verify_log(dir.path(), &url);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stderr.contains("entry 4"), "{}", run.stderr);
}

#[test]
fn an_interrupted_copy_continues_and_other_targets_are_refused() {
    let cluster = Cluster::start(1);
    let url = cluster.url(0);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let signer = EntrySigner::new();
    let total = 3000u64;
    let lines: String = (0..total)
        .map(|n| format!("{}\n", signer.hashedrekord(&n.to_be_bytes())))
        .collect();
    let file = dir.path().join("entries.jsonl");
    std::fs::write(&file, lines).unwrap();
    let data = dir.path().join("data");
    let run = run_arkivo(
        None,
        &[
            "bulk-load",
            path(&file),
            "--batch",
            "1000",
            "--data-dir",
            path(&data),
            "--hostname",
            &host,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Killed mid-way: the database keeps a signed prefix.
    let mut child = Command::new(env!("CARGO_BIN_EXE_arkivo"))
        .args([
            "storage",
            "copy",
            "--data-dir",
            path(&data),
            "--to",
            &url,
            "--batch",
            "5",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut db = cluster.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let copied = |db: &mut postgres::Client| {
        db.query_one("SELECT size FROM arkivo_head", &[])
            .map_or(0, |row| row.get::<_, i64>(0))
    };
    while copied(&mut db) < 100 {
        assert!(Instant::now() < deadline, "the copy did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Its last commit may still complete after the kill: the prefix is known once its
    // sessions are gone.
    while db
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' \
             AND datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(Instant::now() < deadline, "the killed copy's session stays");
        std::thread::sleep(Duration::from_millis(5));
    }
    let prefix = copied(&mut db);
    assert!((100..total as i64).contains(&prefix), "{prefix}");

    let run = copy(&data, &url, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "copied {} entries (indexes {prefix}..{total})",
            total - prefix as u64
        )),
        "{}",
        run.stdout
    );
    // Again: nothing left to copy, and the copy verifies.
    let run = copy(&data, &url, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("copied 0 entries"), "{}", run.stdout);
    let run = verify_log(&data, &url);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // A served source is refused; meanwhile it takes an entry the database does not have.
    let server = TestServer::start_in(&data, port, &[]);
    let run = copy(&data, &url, &[]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("is being served"), "{}", run.stderr);
    let (status, answer) = post(&server, &signer.hashedrekord(b"only in RocksDB"));
    assert_eq!(status, 201, "{answer}");
    drop(server);

    // The database takes another entry at the same index: the two logs diverge.
    let mut frontend = TestServer::spawn_frontend(&data, free_port(), &["--storage", &url]);
    frontend.wait_ready();
    let (status, answer) = post(&frontend, &signer.hashedrekord(b"only in PostgreSQL"));
    assert_eq!(status, 201, "{answer}");
    assert_eq!(index_of(&answer), total);
    // While a frontend serves the database, it is refused too.
    let run = copy(&data, &url, &[]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("a frontend serves"), "{}", run.stderr);
    drop(frontend);
    let run = copy(&data, &url, &[]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("diverges"), "{}", run.stderr);

    // Another log is refused.
    let other = dir.path().join("other");
    let run = run_arkivo(
        None,
        &[
            "init",
            "--data-dir",
            path(&other),
            "--hostname",
            "other.example",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = copy(&other, &url, &[]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("holds another log"), "{}", run.stderr);
}

/// A certificate for `email` from the CA of `server`: its CT log entry (the leaf index its SCT
/// names, and its TBSCertificate). Retried while it answers 503: a frontend on PostgreSQL
/// leads the CT log from the round after it took the log's lead (its `/readyz` is 200 then).
fn certificate(server: &TestServer, issuer: &TestIssuer, email: &str) -> String {
    let token = issuer.token(
        Alg::Es256,
        "email",
        serde_json::json!({"email": email, "email_verified": true}),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let (status, answer) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            loop {
                let res = post_cert_request(&server.base_url(), &token, email).await;
                let status = res.status().as_u16();
                let answer = res.json::<Value>().await.unwrap_or(Value::Null);
                if status != 503 || Instant::now() > deadline {
                    return (status, answer);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    assert_eq!(status, 201, "{answer}");
    ct_entry(&chain(&answer)[0])
}

/// The leaf indexes of CT log entries.
fn leaf_indexes(entries: &[String]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect()
}

#[test]
fn the_ct_log_of_a_ca_is_copied_with_the_log_and_continues_in_postgres() {
    let cluster = Cluster::start(1);
    let url = cluster.url(0);
    let issuer = TestIssuer::start(false);
    let issuer_url = issuer.url("email");
    let ca = ["--oidc-issuer", issuer_url.as_str()];
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let signer = EntrySigner::new();

    // A RocksDB server whose CA issued two certificates, copied.
    let server = TestServer::start_in(dir.path(), port, &ca);
    let mut entries = vec![
        certificate(&server, &issuer, "a@example.org"),
        certificate(&server, &issuer, "b@example.org"),
    ];
    assert_eq!(post(&server, &signer.hashedrekord(b"one")).0, 201);
    drop(server);
    copied(
        dir.path(),
        &url,
        &[],
        &[
            "log: copied 1 entries (indexes 0..1)",
            "CT log: copied 2 entries (indexes 0..2)",
            "CT log: verified",
        ],
    );

    // Served on RocksDB again (the move not done yet), it issues one more: the next copy
    // continues both trees where the database ends.
    let server = TestServer::start_in(dir.path(), port, &ca);
    entries.push(certificate(&server, &issuer, "c@example.org"));
    assert_eq!(post(&server, &signer.hashedrekord(b"two")).0, 201);
    let ct_checkpoint = server.get("/ct/checkpoint");
    drop(server);
    // Meanwhile the database's CT log is a part of the data directory's: a frontend with the
    // CA refuses to continue it.
    let frontend_port = free_port();
    let listen = format!("127.0.0.1:{frontend_port}");
    let err = common::refused_start(&[
        "--data-dir",
        path(dir.path()),
        "--listen",
        &listen,
        "--storage",
        &url,
        "--oidc-issuer",
        &issuer_url,
    ]);
    assert!(
        err.contains("the CT log in the database (2 entries) does not hold the one in")
            && err.contains("run `arkivo storage copy` again"),
        "{err}"
    );
    copied(
        dir.path(),
        &url,
        &["--batch", "1"],
        &[
            "log: copied 1 entries (indexes 1..2)",
            "CT log: copied 1 entries (indexes 2..3) in 1 transactions",
        ],
    );
    // A rerun has nothing left to copy, and verifies both again.
    copied(
        dir.path(),
        &url,
        &[],
        &[
            "log: copied 0 entries (indexes 2..2)",
            "CT log: copied 0 entries (indexes 3..3)",
            "CT log: verified",
        ],
    );

    // The database serves the CT log as it was, and its next certificate follows it.
    let mut frontend = TestServer::spawn_frontend(
        dir.path(),
        frontend_port,
        &["--storage", &url, "--oidc-issuer", &issuer_url],
    );
    frontend.wait_ready();
    assert_eq!(frontend.get("/ct/checkpoint"), ct_checkpoint);
    entries.push(certificate(&frontend, &issuer, "d@example.org"));
    assert_eq!(leaf_indexes(&entries), ["0", "1", "2", "3"], "{entries:?}");
    // Every certificate is in the database's tree at its SCT's index, by the independent
    // client reading its tiles.
    let mut args = vec!["--static-ct".to_owned()];
    for e in &entries {
        args.extend(["--entry".to_owned(), e.clone()]);
    }
    let (ok, out) = common::verify_tiles_py(&format!("{}/ct", frontend.base_url()), &args);
    assert!(ok, "{out}");
    drop(frontend);

    let run = verify_log(dir.path(), &url);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("ok: CT log: 4 entries"),
        "{}",
        run.stdout
    );

    // The data directory's CT log, served again, issues its own certificate at index 3: the
    // two CT logs diverge, and the copy refuses, naming the CT log.
    let server = TestServer::start_in(dir.path(), port, &ca);
    let forked = certificate(&server, &issuer, "e@example.org");
    assert_eq!(leaf_indexes(&[forked]), ["3"]);
    drop(server);
    let run = copy(dir.path(), &url, &[]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("the CT log in the database") && run.stderr.contains("diverges"),
        "{}",
        run.stderr
    );

    // A CT leaf changed in the database is found, and named.
    let mut db = cluster.client();
    db.execute(
        "UPDATE arkivo_ct.arkivo_entries SET body = body || '\\x00'::bytea WHERE idx = 1",
        &[],
    )
    .unwrap();
    let run = verify_log(dir.path(), &url);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("the CT log in the database") && run.stderr.contains("CT entry 1"),
        "{}",
        run.stderr
    );
}

/// The copy rate of docs/performance.md: a log of `ARKIVO_COPY_ENTRIES` (default 10^5)
/// bulk-loaded entries copied into a primary with a synchronous standby.
///   cargo test --release -p arkivo --test postgres_copy -- --ignored copy_rate --nocapture
#[test]
#[ignore = "a measurement: minutes, and about 1 KB of disk per entry"]
fn copy_rate() {
    let total: u64 = std::env::var("ARKIVO_COPY_ENTRIES").map_or(100_000, |n| n.parse().unwrap());
    let cluster = Cluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let signer = EntrySigner::new();
    let file = dir.path().join("entries.jsonl");
    let lines: String = (0..total)
        .map(|n| format!("{}\n", signer.hashedrekord(&n.to_be_bytes())))
        .collect();
    std::fs::write(&file, lines).unwrap();
    let data = dir.path().join("data");
    let run = run_arkivo(
        None,
        &[
            "bulk-load",
            path(&file),
            "--data-dir",
            path(&data),
            "--hostname",
            "h.example",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    println!("{}", run.stdout.trim());
    let started = Instant::now();
    let run = copy(&data, &cluster.url(0), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    println!("{}", run.stdout.trim());
    println!(
        "copy and verification: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
