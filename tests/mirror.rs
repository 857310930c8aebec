//! `arkivo mirror` (c2sp.org/tlog-mirror, docs/mirror.md) against real `arkivo serve` primaries,
//! with real processes on real sockets:
//!
//! 1. A mirror follows a primary under a write load, through a SIGKILL and restart of itself
//!    and of the primary; at the end its tiles are byte for byte the primary's (nothing lost or
//!    duplicated), its checkpoint is the primary's with the mirror's cosignature, and a client
//!    verifies entries and their inclusion proofs through the mirror against the primary's key.
//!    It refuses writes and Rekor API reads, naming the primary.
//! 2. Tiles damaged on the way (a proxy flipping a byte) are refused and nothing is stored; once
//!    they are whole again the mirror catches up. A forked primary (another instance with the
//!    same keys and origin, with other entries) is detected, whether first seen smaller or
//!    larger than the mirror's tree: the mirror alerts (log line, metric, status), keeps its
//!    copy and never serves the fork.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::merkle::{self, Hash};
use arkivo_core::note::{self, CosignatureVerifier, Ed25519Verifier, NoteVerifier, VKey};
use arkivo_core::tiles::{self, TILE_WIDTH, Tile, TilePath, TileSet};
use common::proxy::Proxy;
use common::{LogKeyFiles, TestServer, Writers, free_port, start_log};

/// How long a mirror may take to reach a size.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

/// A mirror of the log at `log_url` named `mirror.test/m1`, in pull mode (`mode` is the flag
/// and value that set it: polling every 50 ms) or push mode (`--push`).
fn start_mirror_in(dir: &Path, port: u16, log_url: &str, vkey: &str, mode: &[&str]) -> TestServer {
    let mut args = vec!["--log", log_url, "--vkey", vkey, "--name", "mirror.test/m1"];
    args.extend_from_slice(mode);
    TestServer::mirror(dir, port, &args)
}

fn start_mirror(dir: &Path, port: u16, log_url: &str, vkey: &str) -> TestServer {
    start_mirror_in(dir, port, log_url, vkey, &["--poll-ms", "50"])
}

async fn get_bytes(url: &str) -> (u16, Vec<u8>) {
    let res = reqwest::get(url).await.unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

async fn status(mirror: &TestServer) -> serde_json::Value {
    common::get_json(
        &reqwest::Client::new(),
        format!("{}/mirror/status", mirror.base_url()),
    )
    .await
}

/// Waits until the mirror serves a tree of at least `size` entries; returns its status.
async fn wait_size(mirror: &TestServer, size: u64) -> serde_json::Value {
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let s = status(mirror).await;
        if s["size"].as_u64().unwrap() >= size {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the mirror did not reach size {size}: {s}\n{}",
            mirror.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The mirror's vkey (`GET /`) and verifier.
async fn mirror_key(mirror: &TestServer) -> CosignatureVerifier {
    let text = common::get_text(&reqwest::Client::new(), mirror.base_url()).await;
    match note::parse_vkey(text.trim_end()).unwrap() {
        VKey::Cosignature(v) => v,
        VKey::Ed25519(_) => panic!("a mirror's vkey is a cosignature one, got {text}"),
    }
}

/// The checkpoint at `base`, verified with the log's key (and the mirror's, when given, which
/// must have cosigned it).
async fn checkpoint(
    base: &str,
    log: &Ed25519Verifier,
    mirror: Option<&CosignatureVerifier>,
) -> Checkpoint {
    let (status, note) = get_bytes(&format!("{base}/checkpoint")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&note));
    let note = String::from_utf8(note).unwrap();
    let cosigners: Vec<&dyn NoteVerifier> =
        mirror.iter().map(|m| *m as &dyn NoteVerifier).collect();
    let opened = checkpoint::open_c2sp(&note, log, &cosigners).unwrap();
    if let Some(m) = mirror {
        assert!(opened.note.is_signed_by(m.name(), m.key_id()), "{note}");
    }
    opened.checkpoint
}

/// Every hash tile and entry bundle of the tree of `size` entries at `base`, by path.
async fn all_tiles(base: &str, size: u64) -> Vec<(String, Vec<u8>)> {
    let width = u64::from(TILE_WIDTH);
    let mut out = Vec::new();
    let mut level = 0;
    while tiles::level_hash_count(size, level) > 0 {
        let count = tiles::level_hash_count(size, level);
        for index in 0..count.div_ceil(width) {
            let w = u16::try_from((count - index * width).min(width)).unwrap();
            let tile = Tile::new(level, index, w).unwrap();
            let mut paths = vec![TilePath::Hashes(tile)];
            if level == 0 {
                paths.push(TilePath::Entries(tile));
            }
            for path in paths {
                let (status, body) = get_bytes(&format!("{base}/{path}")).await;
                assert_eq!(status, 200, "{base}/{path}");
                out.push((path.to_string(), body));
            }
        }
        level += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_follows_a_log_under_load_through_kills_of_each() {
    let dir = tempfile::tempdir().unwrap();
    let keys = LogKeyFiles::new();
    let port = free_port();
    let log_key = keys.verifier(port);
    let mut log = start_log(&dir.path().join("log"), port, &keys, "");
    let writers = Writers::start(&log.base_url(), "before", 4);
    writers.wait_for(200).await;

    let mirror_port = free_port();
    let mirror_dir = dir.path().join("mirror");
    let mut mirror = start_mirror(&mirror_dir, mirror_port, &log.base_url(), &log_key.vkey());
    let mirror_verifier = mirror_key(&mirror).await;
    wait_size(&mirror, 100).await;

    // SIGKILL the mirror while it follows the writes, and start it again on its data.
    mirror.kill();
    let mirror = start_mirror(&mirror_dir, mirror_port, &log.base_url(), &log_key.vkey());
    let resumed = wait_size(&mirror, 1).await["size"].as_u64().unwrap();
    wait_size(&mirror, resumed + 100).await;
    let mut acked = writers.stop().await;

    // SIGKILL the primary; the mirror keeps serving and follows the restarted primary.
    log.kill();
    let during = status(&mirror).await;
    assert!(during["size"].as_u64().unwrap() > 0, "{during}");
    let log = start_log(&dir.path().join("log"), port, &keys, "");
    let writers = Writers::start(&log.base_url(), "after", 4);
    writers.wait_for(150).await;
    acked.extend(writers.stop().await);
    let head = checkpoint(&log.base_url(), &log_key, None).await;
    let s = wait_size(&mirror, head.size).await;
    assert_eq!(s["fork"], serde_json::Value::Null, "{s}");

    // The mirror's checkpoint: the primary's, cosigned by the mirror.
    let mirrored = checkpoint(&mirror.base_url(), &log_key, Some(&mirror_verifier)).await;
    assert_eq!(mirrored, head);
    // Also under the tlog-mirror prefix, the hex SHA-256 of the origin.
    use sha2::Digest;
    let prefix = hex::encode(sha2::Sha256::digest(log_key.name().as_bytes()));
    let under_prefix = format!("{}/{prefix}", mirror.base_url());
    assert_eq!(
        checkpoint(&under_prefix, &log_key, Some(&mirror_verifier)).await,
        head
    );

    // Nothing lost or duplicated: every tile and bundle is the primary's, byte for byte.
    let ours = all_tiles(&mirror.base_url(), head.size).await;
    assert_eq!(ours, all_tiles(&log.base_url(), head.size).await);

    // A client verifies entries through the mirror alone against the primary's key: the tiles
    // give the signed root, each acknowledged entry is in its bundle at its index, with an
    // inclusion proof.
    let mut set = TileSet::new();
    let mut bundles = std::collections::HashMap::new();
    for (path, body) in &ours {
        match TilePath::parse(path).unwrap() {
            TilePath::Hashes(t) => set.insert(t, body).unwrap(),
            TilePath::Entries(t) => {
                bundles.insert(t.index(), body.clone());
            }
            TilePath::Data(_) => unreachable!(),
        }
    }
    assert_eq!(merkle::tree_hash(head.size, &set).unwrap(), head.root);
    assert!(acked.len() >= 350);
    for a in &acked {
        let bundle = &bundles[&(a.index / 256)];
        let body = tiles::decode_entry_bundle(bundle).unwrap()[(a.index % 256) as usize];
        let leaf = merkle::record_hash(body);
        assert_eq!(
            leaf,
            Hash::from_hex(&a.id[16..]).unwrap(),
            "entry {}",
            a.index
        );
        let proof = merkle::inclusion_proof(head.size, a.index, &set).unwrap();
        merkle::verify_inclusion(a.index, head.size, &leaf, &proof, &head.root).unwrap();
    }

    // A mirror takes no writes and answers no Rekor API, and says where the log is.
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/api/v1/log/entries", mirror.base_url()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert!(res.text().await.unwrap().contains(&log.base_url()));
    let (code, body) = get_bytes(&format!("{}/api/v1/log", mirror.base_url())).await;
    assert_eq!(code, 501);
    assert!(String::from_utf8_lossy(&body).contains(&log.base_url()));
    // Beyond the mirror checkpoint: nothing.
    let beyond = Tile::new(0, head.size / 256 + 1, 1).unwrap();
    let (code, _) = get_bytes(&format!(
        "{}/{}",
        mirror.base_url(),
        TilePath::Hashes(beyond)
    ))
    .await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_refuses_damaged_tiles_and_a_forked_log() {
    let dir = tempfile::tempdir().unwrap();
    let keys = LogKeyFiles::new();
    let port = free_port();
    let log_key = keys.verifier(port);
    let mut log = start_log(&dir.path().join("log"), port, &keys, "");
    let damage = Arc::new(AtomicBool::new(false));
    let flip = damage.clone();
    let proxy = Proxy::start(&log.base_url(), move |path, body| {
        if !flip.load(Ordering::Relaxed) || !path.starts_with("/tile/") || body.is_empty() {
            return None;
        }
        let mut body = body.to_vec();
        let middle = body.len() / 2;
        body[middle] ^= 1;
        Some(body)
    });

    let writers = Writers::start(&log.base_url(), "first", 4);
    writers.wait_for(20).await;
    let mut acknowledged = writers.stop().await.len();
    let first = published(&log, &log_key, acknowledged).await;
    let (mirror_dir, mirror_port) = (dir.path().join("mirror"), free_port());
    let mirror = start_mirror(&mirror_dir, mirror_port, &proxy.base_url(), &log_key.vkey());
    let mirror_verifier = mirror_key(&mirror).await;
    wait_size(&mirror, first.size).await;

    // Damaged hash tiles and bundles: refused, nothing stored, no fork alleged.
    damage.store(true, Ordering::Relaxed);
    let writers = Writers::start(&log.base_url(), "second", 4);
    writers.wait_for(300).await;
    acknowledged += writers.stop().await.len();
    let second = published(&log, &log_key, acknowledged).await;
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    let refused = loop {
        let s = status(&mirror).await;
        if s["lastError"].is_string() && s["logSize"].as_u64() == Some(second.size) {
            break s;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused["size"].as_u64(), Some(first.size), "{refused}");
    assert_eq!(refused["fork"], serde_json::Value::Null, "{refused}");
    // Whole again: the mirror catches up.
    damage.store(false, Ordering::Relaxed);
    wait_size(&mirror, second.size).await;
    let held = checkpoint(&mirror.base_url(), &log_key, Some(&mirror_verifier)).await;
    assert_eq!(held, second);

    // A fork: another instance of the log (same keys, same origin, same address) with other
    // entries. Seen first at a smaller size than the mirror's: its root there is not the one the
    // mirror computes from its own copy.
    log.signal("TERM");
    let fork = start_log(&dir.path().join("fork"), port, &keys, "");
    let writers = Writers::start(&fork.base_url(), "fork", 8);
    writers.wait_for(5).await;
    writers.stop().await;
    let alert = wait_fork(&mirror).await;
    assert!(alert.contains("at that size"), "{alert}");
    assert_fork_alerted(&mirror, &log_key, &mirror_verifier, &second).await;

    // Seen first at a larger size (the mirror was down while the fork grew past it): the fork's
    // own consistency proof from the mirror's size leads to its root from another root.
    let mut mirror = mirror;
    mirror.kill();
    let writers = Writers::start(&fork.base_url(), "fork more", 8);
    writers.wait_for(second.size as usize + 10).await;
    writers.stop().await;
    let forked = checkpoint(&fork.base_url(), &log_key, None).await;
    assert!(forked.size > second.size);
    let mirror = start_mirror(&mirror_dir, mirror_port, &proxy.base_url(), &log_key.vkey());
    let alert = wait_fork(&mirror).await;
    assert!(alert.contains("does not extend"), "{alert}");
    assert_fork_alerted(&mirror, &log_key, &mirror_verifier, &second).await;
}

/// Waits for the mirror's fork alert; returns it.
/// The log's checkpoint once it covers all `acknowledged` entries: it is published after the
/// writes are answered, so one read right after they stop may still show a smaller tree.
async fn published(log: &TestServer, log_key: &Ed25519Verifier, acknowledged: usize) -> Checkpoint {
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let cp = checkpoint(&log.base_url(), log_key, None).await;
        if cp.size == acknowledged as u64 {
            return cp;
        }
        assert!(
            Instant::now() < deadline,
            "checkpoint {} of {acknowledged}",
            cp.size
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_fork(mirror: &TestServer) -> String {
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let s = status(mirror).await;
        if let Some(fork) = s["fork"].as_str() {
            return fork.to_owned();
        }
        assert!(Instant::now() < deadline, "{s}\n{}", mirror.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The alert is logged and in the metrics, and the mirror keeps serving its own copy, `held`,
/// and none of the fork.
async fn assert_fork_alerted(
    mirror: &TestServer,
    log_key: &Ed25519Verifier,
    mirror_verifier: &CosignatureVerifier,
    held: &Checkpoint,
) {
    let stderr = mirror.stderr();
    assert!(stderr.contains("the log forked"), "{stderr}");
    assert!(stderr.contains(log_key.name()), "{stderr}");
    let (_, metrics) = get_bytes(&format!("{}/metrics", mirror.base_url())).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("arkivo_mirror_forked 1"), "{metrics}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kept = checkpoint(&mirror.base_url(), log_key, Some(mirror_verifier)).await;
    assert_eq!(kept, *held);
    assert_eq!(status(mirror).await["size"].as_u64(), Some(held.size));
}

/// The log's Rekor v1 key as PEM in `dir`, for `--log-key`.
fn log_key_file(dir: &Path, keys: &LogKeyFiles) -> String {
    let path = dir.join("log-key.pem");
    std::fs::write(&path, keys.keys.ecdsa_public_pem()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Waits until the mirror serves v1 reads at a tree of `size` entries.
async fn wait_v1_size(mirror: &TestServer, size: u64) {
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    while status(mirror).await["v1Size"].as_u64() != Some(size) {
        assert!(
            Instant::now() < deadline,
            "the mirror did not reach v1 size {size}: {}\n{}",
            status(mirror).await,
            mirror.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post_bytes(url: &str, json: &serde_json::Value) -> (u16, Vec<u8>) {
    let res = reqwest::Client::new()
        .post(url)
        .json(json)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

/// A read: its path, its body for a POST, the status the log answers it with.
type Read = (String, Option<serde_json::Value>, u16);

/// The v1 reads a client makes of an entry and of the log (all answered 200).
fn v1_reads(acked: &[common::Acked], size: u64) -> Vec<Read> {
    let mut reads: Vec<(String, Option<serde_json::Value>)> = vec![
        ("/api/v1/log".to_owned(), None),
        ("/api/v1/log/publicKey".to_owned(), None),
        (
            format!("/api/v1/log/proof?firstSize=3&lastSize={size}"),
            None,
        ),
        (format!("/api/v1/log/proof?lastSize={}", size - 1), None),
    ];
    for a in acked.iter().step_by(23).chain(acked.last()) {
        reads.push((format!("/api/v1/log/entries?logIndex={}", a.index), None));
        reads.push((format!("/api/v1/log/entries/{}", a.id), None));
        reads.push((format!("/api/v1/log/entries/{}", &a.id[16..]), None));
    }
    let some: Vec<&common::Acked> = acked.iter().step_by(31).take(4).collect();
    reads.push((
        "/api/v1/log/entries/retrieve".to_owned(),
        Some(serde_json::json!({
            "entryUUIDs": [some[0].id, &some[1].id[16..]],
            "logIndexes": [some[2].index, some[3].index, size + 5],
        })),
    ));
    reads.into_iter().map(|(p, b)| (p, b, 200)).collect()
}

/// The searches a client makes (rekor-v1-api.md §3.8, §10.2) for the entries of `key` (PEM),
/// of its certificate `cert` (PEM, with the email address `email`) and of the artifact whose
/// SHA-256 is `hash` (hex): each term alone, in the forms the log takes, `and`/`or`; then
/// queries the log refuses (the mirror must refuse them with the log's error body).
fn searches(key: &str, cert: &str, email: &str, hash: &str) -> Vec<Read> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let key = serde_json::json!({"format": "x509", "content": b64(key)});
    let cert = serde_json::json!({"format": "x509", "content": b64(cert)});
    let ok = [
        serde_json::json!({"hash": hash}),
        serde_json::json!({"hash": format!("sha256:{}", hash.to_uppercase())}),
        serde_json::json!({"publicKey": key}),
        serde_json::json!({"publicKey": cert}),
        serde_json::json!({"email": email}),
        serde_json::json!({"email": email.to_uppercase()}),
        serde_json::json!({"publicKey": key, "hash": hash, "operator": "and"}),
        serde_json::json!({"email": email, "hash": hash, "operator": "and"}),
        serde_json::json!({"publicKey": key, "email": email, "operator": "or"}),
        serde_json::json!({"publicKey": key, "hash": hash}),
        serde_json::json!({}),
    ];
    let bad = [
        (serde_json::json!({"hash": "sha256:zz"}), 422),
        (serde_json::json!({"email": "nobody"}), 422),
        (serde_json::json!({"operator": "xor"}), 422),
        (
            serde_json::json!({"publicKey": {"format": "pgp", "content": b64("x")}}),
            400,
        ),
        (
            serde_json::json!({"publicKey": {"format": "x509", "content": b64("no key")}}),
            400,
        ),
        (serde_json::json!("not a query"), 400),
    ];
    let path = "/api/v1/index/retrieve".to_owned();
    ok.into_iter()
        .map(|q| (q, 200))
        .chain(bad)
        .map(|(q, status)| (path.clone(), Some(q), status))
        .collect()
}

/// Posts an entry of `artifact` signed with the key of the test certificate that names
/// `alice@example.com`, the certificate as its public key: a search by email finds it.
async fn post_certificate_entry(base: &str, artifact: &[u8]) -> (String, String) {
    use base64::Engine;
    use p256::pkcs8::DecodePrivateKey;
    let fixture = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/entries/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let (cert, key) = (fixture("selfsigned.pem"), fixture("selfsigned.key"));
    let signer =
        common::EntrySigner::with_key(p256::ecdsa::SigningKey::from_pkcs8_pem(&key).unwrap());
    let mut entry = signer.hashedrekord(artifact);
    entry["spec"]["signature"]["publicKey"]["content"] = base64::engine::general_purpose::STANDARD
        .encode(&cert)
        .into();
    let res = common::post_request(&reqwest::Client::new(), base, &entry).await;
    assert_eq!(res.status(), 201);
    (cert, signer.pem().to_owned())
}

async fn read_all(base: &str, reads: &[Read]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    for (path, body, _) in reads {
        let url = format!("{base}{path}");
        out.push(match body {
            None => get_bytes(&url).await,
            Some(json) => post_bytes(&url, json).await,
        });
    }
    out
}

/// A mirror started with the log's v1 key copies each entry's integrated time and SET and the
/// log's v1 checkpoint, verified (a SET damaged on the way is refused and nothing stored), and
/// answers the Rekor v1 reads byte for byte as the log does — also after the log is gone and the
/// mirror restarted. The client's offline verification accepts its answers with the log's key.
/// Entries beyond its v1 checkpoint are 404 naming the log. It answers the log's searches (by
/// artifact hash, key, certificate, email; bad queries) byte for byte too, from the search rows
/// it stored with each entry; a data directory without them (an older mirror's) is indexed at
/// start, and `verify-log` finds a missing row.
#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_answers_the_logs_v1_reads_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let keys = LogKeyFiles::new();
    let port = free_port();
    let log_key = keys.verifier(port);
    let mut log = start_log(&dir.path().join("log"), port, &keys, "");
    let damage = Arc::new(AtomicBool::new(false));
    let flip = damage.clone();
    let proxy = Proxy::start(&log.base_url(), move |path, body| {
        if !flip.load(Ordering::Relaxed) || !path.starts_with("/api/v1/log/entries/retrieve") {
            return None;
        }
        let mut answer: Vec<serde_json::Value> = serde_json::from_slice(body).ok()?;
        let entry = answer.first_mut()?.as_object_mut()?.values_mut().next()?;
        common::proxy::ENTRY_TAMPERS[0].1(entry);
        Some(serde_json::to_vec(&answer).unwrap())
    });
    let writers = Writers::start(&log.base_url(), "v1", 4);
    writers.wait_for(300).await;
    // Among them, entries of one more key: one of them of an artifact also signed with a
    // certificate of another key, which names an email address.
    let mine = common::EntrySigner::new();
    let client = reqwest::Client::new();
    for i in 0..3 {
        common::post_entry(
            &client,
            &log.base_url(),
            &mine,
            format!("mine {i}").as_bytes(),
        )
        .await;
    }
    let (cert, cert_key) = post_certificate_entry(&log.base_url(), b"mine 1").await;
    let mut acked = writers.stop().await;
    acked.sort_by_key(|a| a.index);
    let size = published(&log, &log_key, acked.len() + 4).await.size;

    let key_file = log_key_file(dir.path(), &keys);
    let (mirror_dir, mirror_port) = (dir.path().join("mirror"), free_port());
    let args = |dir: &Path, port: u16, url: &str| {
        TestServer::mirror(
            dir,
            port,
            &[
                "--log",
                url,
                "--vkey",
                &log_key.vkey(),
                "--name",
                "mirror.test/m1",
                "--poll-ms",
                "50",
                "--log-key",
                &key_file,
            ],
        )
    };
    // Before anything is copied, the v1 reads wait.
    damage.store(true, Ordering::Relaxed);
    let mut mirror = args(&mirror_dir, mirror_port, &proxy.base_url());
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    let refused = loop {
        let s = status(&mirror).await;
        if s["lastError"].as_str().is_some_and(|e| e.contains("SET")) {
            break s;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused["size"].as_u64(), Some(0), "{refused}");
    assert_eq!(refused["fork"], serde_json::Value::Null, "{refused}");
    let (code, body) = get_bytes(&format!("{}/api/v1/log", mirror.base_url())).await;
    assert_eq!(code, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains(&proxy.base_url()));
    damage.store(false, Ordering::Relaxed);
    wait_v1_size(&mirror, size).await;

    use sha2::Digest;
    let mut reads = v1_reads(&acked, size);
    let hash = hex::encode(sha2::Sha256::digest(b"mine 1"));
    reads.extend(searches(mine.pem(), &cert, "alice@example.com", &hash));
    reads.extend(searches(&cert_key, &cert, "alice@example.com", &hash));
    let from_log = read_all(&log.base_url(), &reads).await;
    let found = |answer: &(u16, Vec<u8>)| {
        serde_json::from_slice::<Vec<String>>(&answer.1).map_or(0, |ids| ids.len())
    };
    // The searches find what they should in the log: the key's three entries, the artifact's
    // two, the certificate's one.
    let counts: Vec<usize> = from_log[reads.len() - 34..].iter().map(found).collect();
    assert_eq!(
        counts,
        [2, 2, 3, 1, 1, 1, 1, 1, 4, 4, 0, 0, 0, 0, 0, 0, 0]
            .into_iter()
            .chain([2, 2, 1, 1, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0])
            .collect::<Vec<_>>()
    );
    for (((path, body, status), ours), theirs) in reads
        .iter()
        .zip(read_all(&mirror.base_url(), &reads).await)
        .zip(&from_log)
    {
        assert_eq!(theirs.0, *status, "{path} {body:?}");
        assert_eq!(
            (ours.0, String::from_utf8_lossy(&ours.1)),
            (theirs.0, String::from_utf8_lossy(&theirs.1)),
            "{path}"
        );
    }

    // The client's offline verification (log key, SET, checkpoint, inclusion proof) accepts the
    // mirror's answers.
    let trusted = arkivo_client::trust::TrustedLog::from_public_key_pem(
        &keys.keys.ecdsa_public_pem(),
        "the log key",
    )
    .unwrap();
    for a in acked.iter().step_by(50) {
        let (code, body) = get_bytes(&format!(
            "{}/api/v1/log/entries?logIndex={}",
            mirror.base_url(),
            a.index
        ))
        .await;
        assert_eq!(code, 200);
        let map: arkivo_core::wire::LogEntry = serde_json::from_slice(&body).unwrap();
        let entry = arkivo_client::rekor::LogEntry::from_map(map).unwrap();
        assert_eq!(entry.uuid, a.id);
        arkivo_client::verify::verify_log_entry(&entry, std::slice::from_ref(&trusted)).unwrap();
    }

    // The log gone, the mirror restarted: the same answers, from its own store.
    log.kill();
    mirror.kill();
    let mut mirror = args(&mirror_dir, mirror_port, &proxy.base_url());
    wait_v1_size(&mirror, size).await;
    let after = read_all(&mirror.base_url(), &reads).await;
    for (((path, body, _), ours), theirs) in reads.iter().zip(&after).zip(&from_log) {
        assert_eq!(ours, theirs, "{path} {body:?}");
    }
    // Not held (beyond its v1 checkpoint, or a leaf it does not have): 404 naming the log.
    for path in [
        format!("/api/v1/log/entries?logIndex={size}"),
        format!("/api/v1/log/entries/{}", "ab".repeat(32)),
    ] {
        let (code, body) = get_bytes(&format!("{}{path}", mirror.base_url())).await;
        assert_eq!(code, 404, "{path}");
        assert!(
            String::from_utf8_lossy(&body).contains(&proxy.base_url()),
            "{path}"
        );
    }

    // verify-log on the mirror's data directory: clean, then a damaged SET and a damaged stored
    // hash (a tile's content) are each found.
    mirror.kill();
    let verify = || {
        common::arkivo(&[
            "verify-log",
            "--data-dir",
            common::path(&mirror_dir),
            "--vkey",
            &log_key.vkey(),
            "--log-key",
            &key_file,
        ])
    };
    let (ok, out, err) = verify();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("{size} entries")) && out.contains("every SET verify"),
        "{out}"
    );

    // A data directory of a mirror that stored no search rows (as before they were stored):
    // verify-log names the missing row; the mirror indexes every entry at start, then answers
    // the searches as the log did.
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            mirror_dir.join("db"),
            ["meta", "entries", "hashes", "by_leaf", "search", "sets"],
        )
        .unwrap();
        let cf = db.cf_handle("search").unwrap();
        let rows: Vec<Box<[u8]>> = db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .map(|r| r.unwrap().0)
            .collect();
        assert!(rows.len() as u64 >= 2 * size, "{} rows", rows.len());
        for row in rows {
            db.delete_cf(cf, row).unwrap();
        }
    }
    let (ok, out, err) = verify();
    assert!(!ok, "{out}");
    assert!(
        err.contains("entry 0 is missing from the search index"),
        "{err}"
    );
    let mut mirror = args(&mirror_dir, mirror_port, &proxy.base_url());
    assert!(
        mirror
            .stderr()
            .contains(&format!("indexing its {size} entries")),
        "{}",
        mirror.stderr()
    );
    let after = read_all(&mirror.base_url(), &reads).await;
    for (((path, body, _), ours), theirs) in reads.iter().zip(&after).zip(&from_log) {
        assert_eq!(ours, theirs, "{path} {body:?}");
    }
    mirror.kill();
    assert!(verify().0);
    damage_store(&mirror_dir, size / 2, |set, _| set[10] ^= 1);
    let (ok, out, err) = verify();
    assert!(!ok, "{out}");
    assert!(err.contains(&format!("SET of entry {}", size / 2)), "{err}");
    damage_store(&mirror_dir, size / 2, |set, _| set[10] ^= 1);
    assert!(verify().0);
    let node = merkle::stored_hash_index(0, 5);
    damage_store(&mirror_dir, size / 2, |_, hashes| {
        hashes.push((node, Hash([7; 32])))
    });
    let (ok, out, err) = verify();
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("stored hash {node} (level 0, node 5)")),
        "{err}"
    );
}

/// Rewrites the mirror's entry `index` through the store's own commit (whatever its row format):
/// `damage` changes its SET and adds stored hashes to overwrite.
fn damage_store(dir: &Path, index: u64, damage: impl FnOnce(&mut Vec<u8>, &mut Vec<(u64, Hash)>)) {
    use arkivo_server::storage::{CommitBatch, LogStore, NewEntry, rocks::RocksStore};
    let store = RocksStore::open(&dir.join("db")).unwrap();
    let head = store.head().unwrap();
    let entry = store.entry(index).unwrap().unwrap();
    let mut set = entry.set.unwrap();
    let mut hashes = Vec::new();
    damage(&mut set, &mut hashes);
    store
        .commit(&CommitBatch {
            first_index: index,
            integrated_time: entry.integrated_time,
            entries: &[NewEntry {
                leaf_hash: merkle::record_hash(&entry.body),
                body: entry.body,
                index_keys: Vec::new(),
            }],
            sets: &[set],
            hashes: &hashes,
            head: &head,
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Push mode: the test is the sender, speaking tlog-mirror's add-checkpoint and add-entries.
// ---------------------------------------------------------------------------------------------

fn start_push_mirror(dir: &Path, port: u16, log_url: &str, vkey: &str) -> TestServer {
    start_mirror_in(dir, port, log_url, vkey, &["--push"])
}

/// What a sender reads from the log at one checkpoint: the note as signed, every hash tile
/// (for proofs) and every entry.
struct LogView {
    note: String,
    size: u64,
    hashes: TileSet,
    entries: Vec<Vec<u8>>,
}

async fn log_view(base: &str) -> LogView {
    let (status, note) = get_bytes(&format!("{base}/checkpoint")).await;
    assert_eq!(status, 200);
    let note = String::from_utf8(note).unwrap();
    let size = Checkpoint::parse(&note::parse(note.as_bytes()).unwrap().text)
        .unwrap()
        .size;
    let mut hashes = TileSet::new();
    let mut entries = Vec::new();
    for (path, body) in all_tiles(base, size).await {
        match TilePath::parse(&path).unwrap() {
            TilePath::Hashes(tile) => hashes.insert(tile, &body).unwrap(),
            TilePath::Entries(_) | TilePath::Data(_) => {
                entries.extend(
                    tiles::decode_entry_bundle(&body)
                        .unwrap()
                        .into_iter()
                        .map(<[u8]>::to_vec),
                );
            }
        }
    }
    assert_eq!(entries.len() as u64, size);
    LogView {
        note,
        size,
        hashes,
        entries,
    }
}

/// `POST /add-checkpoint` (tlog-witness §3.2 wire format): status and body.
async fn add_checkpoint(mirror: &str, old: u64, proof: &[Hash], note: &str) -> (u16, String) {
    use base64::Engine;
    let mut body = format!("old {old}\n");
    for h in proof {
        body.push_str(&base64::engine::general_purpose::STANDARD.encode(h.as_bytes()));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    let res = reqwest::Client::new()
        .post(format!("{mirror}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// What a test does to each package (by its subtree start) before it is encoded: its entries and
/// its proof.
type Damage<'a> = dyn Fn(u64, &mut Vec<Vec<u8>>, &mut Vec<Hash>) + 'a;

/// An add-entries body (tlog-mirror "Request Body") for `[start, end)` of `view`'s log, proven
/// against the checkpoint of size `end`; `packages` limits it to a prefix of the canonical
/// sequence, `damage` may change each package's entries and proof before it is encoded.
fn entries_body(
    origin: &str,
    view: &LogView,
    start: u64,
    end: u64,
    packages: usize,
    damage: &Damage<'_>,
) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u16::try_from(origin.len()).unwrap().to_be_bytes());
    body.extend(origin.as_bytes());
    body.extend(start.to_be_bytes());
    body.extend(end.to_be_bytes());
    body.extend(0u16.to_be_bytes());
    let mut subtree_start = start / 256 * 256;
    for _ in 0..packages {
        if subtree_start >= end {
            break;
        }
        let (from, to) = (start.max(subtree_start), end.min(subtree_start + 256));
        let mut entries = view.entries[from as usize..to as usize].to_vec();
        let mut proof =
            merkle::subtree_consistency_proof(subtree_start, to, end, &view.hashes).unwrap();
        damage(subtree_start, &mut entries, &mut proof);
        for e in &entries {
            body.extend(u16::try_from(e.len()).unwrap().to_be_bytes());
            body.extend(e);
        }
        body.push(u8::try_from(proof.len()).unwrap());
        for h in &proof {
            body.extend(h.as_bytes());
        }
        subtree_start += 256;
    }
    body
}

/// `POST /add-entries`: status, `Content-Type`, body.
async fn add_entries(mirror: &str, body: Vec<u8>, gzip: bool) -> (u16, String, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{mirror}/add-entries"))
        .header("content-type", "application/octet-stream");
    let body = if gzip {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&body).unwrap();
        req = req.header("content-encoding", "gzip");
        gz.finish().unwrap()
    } else {
        body
    };
    let res = req.body(body).send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

fn no_damage(_: u64, _: &mut Vec<Vec<u8>>, _: &mut Vec<Hash>) {}

/// The mirror's `/checkpoint` as served (the raw note).
async fn served_note(mirror: &TestServer) -> (u16, String) {
    let (status, body) = get_bytes(&format!("{}/checkpoint", mirror.base_url())).await;
    (status, String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_in_push_mode_takes_the_log_from_a_sender() {
    let dir = tempfile::tempdir().unwrap();
    let keys = LogKeyFiles::new();
    let port = free_port();
    let log_key = keys.verifier(port);
    let origin = log_key.name().to_owned();
    let mut log = start_log(&dir.path().join("log"), port, &keys, "");
    let writers = Writers::start(&log.base_url(), "first", 4);
    writers.wait_for(600).await;
    writers.stop().await;
    let first = log_view(&log.base_url()).await;
    assert!(first.size > 512, "three packages at least");

    let (mirror_dir, mirror_port) = (dir.path().join("mirror"), free_port());
    let mut mirror = start_push_mirror(&mirror_dir, mirror_port, &log.base_url(), &log_key.vkey());
    let m = mirror.base_url();
    let mirror_verifier = mirror_key(&mirror).await;
    assert_eq!(status(&mirror).await["mode"], "push");

    // A sender without state learns the mirror's (tlog-mirror: upload_start = upload_end = 0).
    let probe = entries_body(&origin, &first, 0, 0, 0, &no_damage);
    let (code, ct, info) = add_entries(&m, probe, false).await;
    assert_eq!(
        (code, ct.as_str(), info.as_str()),
        (409, "text/x.tlog.mirror-info", "0\n0\n\n")
    );

    // add-checkpoint refusals, as a witness's (tlog-witness §3.2).
    let mut bad_sig = note::parse(first.note.as_bytes()).unwrap();
    for sig in &mut bad_sig.signatures {
        if sig.name == origin && sig.key_id == log_key.key_id() {
            sig.signature[9] ^= 1;
        }
    }
    let bad_sig = note::format(&bad_sig).unwrap();
    assert_eq!(add_checkpoint(&m, 0, &[], &bad_sig).await.0, 403);
    let text = note::parse(first.note.as_bytes()).unwrap().text;
    let other_key = arkivo_core::signer::LogKeys::generate()
        .ed25519_note_signer(&origin)
        .unwrap();
    let other = note::sign(&text, &[&other_key as &dyn note::NoteSigner]).unwrap();
    let (code, why) = add_checkpoint(&m, 0, &[], &other).await;
    assert_eq!(code, 403, "{why}");
    let stranger = arkivo_core::signer::LogKeys::generate()
        .ed25519_note_signer("other.log")
        .unwrap();
    let foreign = note::sign(
        &text.replacen(&origin, "other.log", 1),
        &[&stranger as &dyn note::NoteSigner],
    )
    .unwrap();
    assert_eq!(add_checkpoint(&m, 0, &[], &foreign).await.0, 404);
    let (code, size) = add_checkpoint(&m, 5, &[], &first.note).await;
    assert_eq!((code, size.as_str()), (409, "0\n"));
    assert_eq!(
        add_checkpoint(&m, 0, &[Hash([1; 32])], &first.note).await.0,
        422
    );
    // The first pending checkpoint: an empty answer, no cosignature yet.
    assert_eq!(
        add_checkpoint(&m, 0, &[], &first.note).await,
        (200, String::new())
    );
    assert_eq!(served_note(&mirror).await.0, 404);

    // add-entries refusals: nothing is stored.
    let n = first.size;
    let unknown = entries_body("other.log", &first, 0, n, 9, &no_damage);
    assert_eq!(add_entries(&m, unknown, false).await.0, 404);
    let not_pending = entries_body(&origin, &first, 0, n - 1, 9, &no_damage);
    let (code, _, info) = add_entries(&m, not_pending, false).await;
    assert_eq!((code, info), (409, format!("{n}\n0\n\n")));
    let ahead = entries_body(&origin, &first, 256, n, 9, &no_damage);
    assert_eq!(add_entries(&m, ahead, false).await.0, 409);
    let flip_proof = |_: u64, _: &mut Vec<Vec<u8>>, p: &mut Vec<Hash>| p[0].0[3] ^= 1;
    let (code, _, why) = add_entries(
        &m,
        entries_body(&origin, &first, 0, n, 9, &flip_proof),
        false,
    )
    .await;
    assert_eq!(code, 422, "{why}");
    let changed = |_: u64, e: &mut Vec<Vec<u8>>, _: &mut Vec<Hash>| e[7].push(b' ');
    let (code, _, why) =
        add_entries(&m, entries_body(&origin, &first, 0, n, 9, &changed), false).await;
    assert_eq!(code, 422, "{why}");
    let mut truncated = entries_body(&origin, &first, 0, n, 1, &no_damage);
    truncated.truncate(truncated.len() - 5);
    assert_eq!(add_entries(&m, truncated, false).await.0, 400);
    let s = status(&mirror).await;
    assert_eq!(
        (&s["size"], &s["fork"]),
        (&0.into(), &serde_json::Value::Null),
        "{s}"
    );

    // A prefix of one package: 202 with the next entry; the rest, gzip'd: 200 with the
    // mirror's cosignature on the log's checkpoint, which is then the mirror checkpoint.
    let (code, ct, info) = add_entries(
        &m,
        entries_body(&origin, &first, 0, n, 1, &no_damage),
        false,
    )
    .await;
    assert_eq!(
        (code, ct.as_str(), info),
        (202, "text/x.tlog.mirror-info", format!("{n}\n256\n\n"))
    );
    let (code, _, line) = add_entries(
        &m,
        entries_body(&origin, &first, 256, n, 9, &no_damage),
        true,
    )
    .await;
    assert_eq!(code, 200, "{line}");
    let cosigned = format!("{}{line}", first.note);
    let opened = checkpoint::open_c2sp(
        &cosigned,
        &log_key,
        &[&mirror_verifier as &dyn NoteVerifier],
    )
    .unwrap();
    assert!(
        opened
            .note
            .is_signed_by(mirror_verifier.name(), mirror_verifier.key_id())
    );
    assert_eq!(served_note(&mirror).await, (200, cosigned.clone()));
    assert_eq!(all_tiles(&m, n).await, all_tiles(&log.base_url(), n).await);
    // Sent again: already held, the same answer.
    let (code, _, again) = add_entries(
        &m,
        entries_body(&origin, &first, n - n % 256, n, 9, &no_damage),
        false,
    )
    .await;
    assert_eq!((code, again), (200, line.clone()));

    // The log grows; a consistency proof moves the pending checkpoint.
    let writers = Writers::start(&log.base_url(), "second", 4);
    writers.wait_for(300).await;
    writers.stop().await;
    let second = log_view(&log.base_url()).await;
    let proof = merkle::consistency_proof(n, second.size, &second.hashes).unwrap();
    let mut bad = proof.clone();
    bad[0].0[0] ^= 1;
    assert_eq!(add_checkpoint(&m, n, &bad, &second.note).await.0, 422);
    assert_eq!(
        add_checkpoint(&m, n, &proof, &second.note).await,
        (200, String::new())
    );
    // An old checkpoint: the pending one is larger now.
    assert_eq!(
        add_checkpoint(&m, second.size, &[], &first.note).await.0,
        400
    );
    let (code, size) = add_checkpoint(&m, n, &[], &first.note).await;
    assert_eq!((code, size), (409, format!("{}\n", second.size)));
    let stale = entries_body(&origin, &first, n, n, 9, &no_damage);
    let (code, _, info) = add_entries(&m, stale, false).await;
    assert_eq!((code, info), (409, format!("{}\n{n}\n\n", second.size)));

    // A fork: another instance of the log (same keys and origin) with other entries.
    log.signal("TERM");
    let fork = start_log(&dir.path().join("fork"), port, &keys, "");
    let writers = Writers::start(&fork.base_url(), "fork", 8);
    writers.wait_for(second.size as usize + 10).await;
    writers.stop().await;
    let forked = log_view(&fork.base_url()).await;
    let fork_proof = merkle::consistency_proof(second.size, forked.size, &forked.hashes).unwrap();
    let (code, why) = add_checkpoint(&m, second.size, &fork_proof, &forked.note).await;
    assert_eq!(code, 422, "{why}");
    // The proof leads to the fork's signed root from another root at the pending size: a fork
    // (unprovable when that size is a power of two: the proof then omits the old root).
    let s = status(&mirror).await;
    if !second.size.is_power_of_two() {
        assert!(s["fork"].as_str().unwrap().contains("forked"), "{s}");
    }
    // The fork's entries do not verify against the pending checkpoint.
    let fork_entries = |from: u64, e: &mut Vec<Vec<u8>>, _: &mut Vec<Hash>| {
        let at = usize::try_from(n.max(from)).unwrap();
        *e = forked.entries[at..at + e.len()].to_vec();
    };
    let (code, _, why) = add_entries(
        &m,
        entries_body(&origin, &second, n, second.size, 9, &fork_entries),
        false,
    )
    .await;
    assert_eq!(code, 422, "{why}");
    assert_eq!(served_note(&mirror).await, (200, cosigned.clone()));

    // A restart keeps the mirror checkpoint and the pending one; the real log's entries then
    // complete the copy.
    mirror.kill();
    let mut mirror = start_push_mirror(&mirror_dir, mirror_port, &fork.base_url(), &log_key.vkey());
    assert_eq!(served_note(&mirror).await, (200, cosigned));
    let (code, _, line) = add_entries(
        &m,
        entries_body(&origin, &second, n, second.size, 99, &no_damage),
        true,
    )
    .await;
    assert_eq!(code, 200, "{line}");
    assert_eq!(
        served_note(&mirror).await,
        (200, format!("{}{line}", second.note))
    );
    let held = checkpoint(&m, &log_key, Some(&mirror_verifier)).await;
    assert_eq!(held.size, second.size);

    // Each entry was stored with its search rows, as in pull mode.
    mirror.kill();
    let (ok, out, err) = common::arkivo(&[
        "verify-log",
        "--data-dir",
        common::path(&mirror_dir),
        "--vkey",
        &log_key.vkey(),
    ]);
    assert!(ok, "{out}{err}");
}
