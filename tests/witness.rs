//! Witnessing end to end, with real processes on real sockets (tiles-checkpoints-witnesses.md §3):
//! `arkivo witness` servers and `arkivo serve` configured with them.
//!
//! 1. Two witnesses cosign every checkpoint of a log while a third, dead one (it never answers)
//!    neither slows writes nor stops the quorum; the served checkpoint verifies with the log's
//!    key and both witnesses' vkeys.
//! 2. A witness that cosigned a forked tree (another log instance with the same keys and origin)
//!    refuses the real log's checkpoints and keeps its state, while another witness goes on.
//! 3. A witness's state survives SIGKILL right after an answer, and it refuses rollbacks and
//!    other roots at the same size; its identity and key file are checked at start.
//! 4. Bad `add-checkpoint` requests get the spec's status codes and change nothing, using the
//!    spec's constructed request/response vectors.
//! 5. After `arkivo shard rotate`, the new shard is a new log to the witnesses (its own origin):
//!    they refuse it until told its vkey, then cosign it from scratch; the frozen shard keeps
//!    its final checkpoint.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;

use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::merkle::Hash;
use arkivo_core::note::{
    self, CosignatureVerifier, Cosigner, Ed25519Signer, Ed25519Verifier, NoteVerifier, VKey,
};
use arkivo_core::witness::{self, AddCheckpoint};
use common::{EntrySigner, LogKeyFiles, TestServer, free_port, start_log};

/// How long cosignatures may take to show up (witness back-off included).
const COSIGN_TIMEOUT: Duration = Duration::from_secs(60);

/// The config of a log with these witnesses (vkey, base URL) and quorum; a short interval so
/// that the tests do not wait.
fn witness_config(witnesses: &[(String, String)], quorum: usize) -> String {
    let mut toml = format!("witness_quorum = {quorum}\nwitness_interval_ms = 50\n");
    for (vkey, url) in witnesses {
        toml.push_str(&format!("[[witnesses]]\nvkey = {vkey:?}\nurl = {url:?}\n"));
    }
    toml
}

/// A temporary directory, the key files of a log and a free port for it, and its checkpoint
/// verifier on that port.
fn new_log() -> (tempfile::TempDir, LogKeyFiles, u16, Ed25519Verifier) {
    let keys = LogKeyFiles::new();
    let port = free_port();
    let log_key = keys.verifier(port);
    (tempfile::tempdir().unwrap(), keys, port, log_key)
}

/// `arkivo witness` witnessing the log of `log_vkey`, named `name`; with its vkey and verifier.
async fn start_witness(
    dir: &Path,
    name: &str,
    log_vkey: &str,
) -> (TestServer, String, CosignatureVerifier) {
    let w = TestServer::witness(dir, free_port(), &["--name", name, "--log", log_vkey]);
    let (vkey, key) = witness_key(&w).await;
    (w, vkey, key)
}

/// The body of `GET url`.
async fn get_text(url: String) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// The witness's vkey, from `GET /`, and its verifier.
async fn witness_key(w: &TestServer) -> (String, CosignatureVerifier) {
    let text = get_text(format!("{}/", w.base_url())).await;
    let vkey = text.trim_end().to_owned();
    match note::parse_vkey(&vkey).unwrap() {
        VKey::Cosignature(v) => (vkey, v),
        VKey::Ed25519(_) => panic!("a witness serves a cosignature vkey, got {vkey}"),
    }
}

/// Writes `n` new hashedrekord entries; returns the slowest write.
async fn write_entries(log: &TestServer, n: usize) -> Duration {
    let signer = EntrySigner::new();
    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let artifact: [u8; 16] = rand::random();
        let started = Instant::now();
        let res = client
            .post(format!("{}/api/v1/log/entries", log.base_url()))
            .json(&signer.hashedrekord(&artifact))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

/// The log's current tree size and root, from the v1 API.
async fn log_head(log: &TestServer) -> (u64, Hash) {
    let info: serde_json::Value = reqwest::get(format!("{}/api/v1/log", log.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        info["treeSize"].as_u64().unwrap(),
        Hash::from_hex(info["rootHash"].as_str().unwrap()).unwrap(),
    )
}

/// Polls `GET /checkpoint` until it serves a checkpoint of `size` cosigned by every
/// witness in `by`; returns it opened with the log's key and all of `known`.
async fn wait_cosigned(
    log: &TestServer,
    log_key: &Ed25519Verifier,
    known: &[&CosignatureVerifier],
    size: u64,
    by: &[&CosignatureVerifier],
) -> checkpoint::OpenedCheckpoint {
    wait_cosigned_at(log, "/checkpoint", log_key, known, size, by).await
}

/// [`wait_cosigned`] for the checkpoint at `path` (a shard's: `/shards/<treeID>/checkpoint`).
async fn wait_cosigned_at(
    log: &TestServer,
    path: &str,
    log_key: &Ed25519Verifier,
    known: &[&CosignatureVerifier],
    size: u64,
    by: &[&CosignatureVerifier],
) -> checkpoint::OpenedCheckpoint {
    let deadline = Instant::now() + COSIGN_TIMEOUT;
    let known: Vec<&dyn NoteVerifier> = known.iter().map(|v| *v as _).collect();
    let mut last = String::new();
    loop {
        let res = reqwest::get(format!("{}{path}", log.base_url()))
            .await
            .unwrap();
        if res.status() == 200 {
            assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
            assert_eq!(res.headers()["cache-control"], "public, max-age=2");
            last = res.text().await.unwrap();
            let opened = checkpoint::open_c2sp(&last, log_key, &known)
                .unwrap_or_else(|e| panic!("the served checkpoint does not verify ({e}):\n{last}"));
            if opened.checkpoint.size == size
                && by
                    .iter()
                    .all(|w| opened.note.is_signed_by(w.name(), w.key_id()))
            {
                return opened;
            }
        } else {
            assert_eq!(res.status(), 503);
            assert_eq!(res.headers()["retry-after"], "1");
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint of size {size} cosigned by {:?} within {COSIGN_TIMEOUT:?}; last \
             served:\n{last}\nlog stderr:\n{}",
            by.iter().map(|w| w.name()).collect::<Vec<_>>(),
            log.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One `POST /add-checkpoint`: status, content type and body.
async fn add_checkpoint(
    witness: &TestServer,
    body: impl Into<reqwest::Body>,
) -> (u16, String, String) {
    let res = reqwest::Client::new()
        .post(format!("{}/add-checkpoint", witness.base_url()))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, res.text().await.unwrap())
}

/// Asserts the witness's latest cosigned size for the checkpoint's origin, by sending it with
/// old size 0 and reading the 409 (§3.2: how a client without state learns it).
async fn assert_witness_size(witness: &TestServer, checkpoint: &str, size: u64) {
    let (status, content_type, body) =
        add_checkpoint(witness, format!("old 0\n\n{checkpoint}")).await;
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (409, "text/x.tlog.size", format!("{size}\n").as_str()),
        "the witness should hold tree size {size}"
    );
}

async fn wait_for_stderr(server: &TestServer, needle: &str) {
    let deadline = Instant::now() + COSIGN_TIMEOUT;
    while !server.stderr().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared in:\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_witnesses_cosign_while_a_dead_one_slows_nothing() {
    let (dir, keys, port, log_key) = new_log();
    let (w1, v1, k1) =
        start_witness(&dir.path().join("w1"), "w1.test/witness", &log_key.vkey()).await;
    let (w2, v2, k2) =
        start_witness(&dir.path().join("w2"), "w2.test/witness", &log_key.vkey()).await;
    // A witness that accepts connections and never answers: only its own cosignature waits.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_key = Cosigner::new("dead.test/witness", SigningKey::from_bytes(&[7; 32]), 0)
        .unwrap()
        .verifier();
    let config = witness_config(
        &[
            (v1, w1.base_url()),
            (
                dead_key.vkey(),
                format!("http://{}", dead.local_addr().unwrap()),
            ),
            (v2, w2.base_url()),
        ],
        2,
    );
    let log = start_log(&dir.path().join("log"), port, &keys, &config);
    assert!(
        log.stderr().contains(&log_key.vkey()),
        "serve prints the vkey witnesses need"
    );
    let known = [&k1, &k2, &dead_key];

    // Even the empty tree is witnessed.
    wait_cosigned(&log, &log_key, &known, 0, &[&k1, &k2]).await;
    let slowest = write_entries(&log, 5).await;
    assert!(
        slowest < Duration::from_secs(2),
        "a write took {slowest:?} with a dead witness configured"
    );
    let opened = wait_cosigned(&log, &log_key, &known, 5, &[&k1, &k2]).await;
    assert_eq!(
        (opened.checkpoint.size, opened.checkpoint.root),
        log_head(&log).await
    );
    assert!(!opened.note.is_signed_by(dead_key.name(), dead_key.key_id()));
    // The log's line first, then the witnesses in the config's order; nothing else.
    let names: Vec<&str> = opened
        .note
        .note
        .signatures
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, [log_key.name(), k1.name(), k2.name()]);
    for sig in &opened.note.note.signatures[1..] {
        let ts = CosignatureVerifier::timestamp(&sig.signature).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            ts <= now && now - ts < 300,
            "cosignature time {ts}, now {now}"
        );
    }

    // More writes: the witnesses follow with consistency proofs from what they hold.
    write_entries(&log, 3).await;
    wait_cosigned(&log, &log_key, &known, 8, &[&k1, &k2]).await;
    assert_witness_size(&w1, &log_head_checkpoint(&log).await, 8).await;
    drop(dead);
}

/// The log's published (bare) C2SP checkpoint: the served one without its cosignatures.
async fn log_head_checkpoint(log: &TestServer) -> String {
    let served = get_text(format!("{}/checkpoint", log.base_url())).await;
    let n = note::parse(served.as_bytes()).unwrap();
    note::format(&note::Note {
        text: n.text,
        signatures: n.signatures[..1].to_vec(),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_witness_that_saw_a_fork_refuses_the_log_and_the_other_goes_on() {
    let (dir, keys, port, log_key) = new_log();
    let (honest, honest_vkey, honest_key) =
        start_witness(&dir.path().join("honest"), "honest.test", &log_key.vkey()).await;
    let (forked, forked_vkey, forked_key) =
        start_witness(&dir.path().join("forked"), "forked.test", &log_key.vkey()).await;

    // Another instance of the log — same keys, same origin, other entries — shows the second
    // witness its tree of size 3.
    let mut other = start_log(
        &dir.path().join("other"),
        port,
        &keys,
        &witness_config(&[(forked_vkey.clone(), forked.base_url())], 1),
    );
    write_entries(&other, 3).await;
    wait_cosigned(&other, &log_key, &[&forked_key], 3, &[&forked_key]).await;
    other.signal("TERM");

    // The real log, on the same address, gets 5 entries of its own.
    let log = start_log(
        &dir.path().join("log"),
        port,
        &keys,
        &witness_config(
            &[
                (honest_vkey, honest.base_url()),
                (forked_vkey, forked.base_url()),
            ],
            1,
        ),
    );
    write_entries(&log, 5).await;
    let known = [&honest_key, &forked_key];
    let opened = wait_cosigned(&log, &log_key, &known, 5, &[&honest_key]).await;
    // The log reports the refusal; the witness logs the inconsistent checkpoint as evidence.
    wait_for_stderr(&log, "422").await;
    wait_for_stderr(&forked, "inconsistent with the one cosigned before").await;
    assert!(
        !opened
            .note
            .is_signed_by(forked_key.name(), forked_key.key_id())
    );

    // The forked witness still holds the other tree's size 3, and refuses the real log's
    // checkpoint with the real log's own consistency proof from 3 (422).
    let checkpoint = log_head_checkpoint(&log).await;
    assert_witness_size(&forked, &checkpoint, 3).await;
    let proof: serde_json::Value = reqwest::get(format!(
        "{}/api/v1/log/proof?firstSize=3&lastSize=5",
        log.base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let proof: Vec<Hash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect();
    let body = AddCheckpoint {
        old_size: 3,
        proof,
        checkpoint: checkpoint.clone(),
    }
    .to_body();
    let (status, _, why) = add_checkpoint(&forked, body.clone()).await;
    assert_eq!(status, 422, "{why}");
    assert_witness_size(&forked, &checkpoint, 3).await;

    // The honest witness keeps cosigning the real log.
    write_entries(&log, 2).await;
    wait_cosigned(&log, &log_key, &known, 7, &[&honest_key]).await;
}

/// The constructed vectors of `testdata/signed-note/constructed-checkpoint-and-witness.json`.
struct Vectors {
    json: serde_json::Value,
}

impl Vectors {
    fn load() -> Vectors {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/signed-note/constructed-checkpoint-and-witness.json"
        );
        Vectors {
            json: serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(),
        }
    }

    fn get(&self, key: &str) -> String {
        self.json[key].as_str().unwrap().to_owned()
    }

    fn log_vkey(&self) -> String {
        self.json["log"]["vkey"].as_str().unwrap().to_owned()
    }

    /// The example log's key: the vectors give it, so tests can sign forged checkpoints.
    fn log_signer(&self) -> Ed25519Signer {
        Ed25519Signer::from_go_private_key(self.json["log"]["skey"].as_str().unwrap()).unwrap()
    }

    /// A checkpoint of the example log, signed with its key.
    fn checkpoint(&self, size: u64, root: Hash) -> String {
        let cp = Checkpoint {
            origin: "log.example.internal/tlog1".into(),
            size,
            root,
        };
        checkpoint::sign_note(&cp, &[&self.log_signer()]).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_witness_keeps_its_state_across_a_crash_and_refuses_rollbacks() {
    let v = Vectors::load();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("witness");
    let (mut w, vkey, key) = start_witness(&data, "witness.test/w", &v.log_vkey()).await;
    assert!(w.stderr().contains(&vkey), "the vkey is printed at start");
    let port = w.port();
    let cp6 = v.get("checkpointSize6");
    let cp8 = v.get("checkpointSize8");

    // First contact at size 6, then the spec's request 6 → 8.
    let (status, content_type, line) = add_checkpoint(&w, format!("old 0\n\n{cp6}")).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/plain; charset=utf-8")
    );
    let log = v.log_signer().verifier();
    witness::verify_cosignature(&cp6, line.as_bytes(), &log, &key).unwrap();
    // One line `— <name> base64(key ID ‖ u64 time ‖ Ed25519 signature)`, 76 bytes (§3.1).
    let (name, b64) = line
        .strip_prefix("\u{2014} ")
        .and_then(|l| l.strip_suffix('\n'))
        .and_then(|l| l.split_once(' '))
        .unwrap();
    assert_eq!(name, "witness.test/w");
    let blob = B64.decode(b64).unwrap();
    assert_eq!(blob.len(), 76);
    assert_eq!(
        u32::from_be_bytes(blob[..4].try_into().unwrap()),
        key.key_id()
    );
    let (status, _, line) = add_checkpoint(&w, v.get("addCheckpointRequestBody")).await;
    assert_eq!(status, 200, "{line}");
    let cosigned = witness::verify_cosignature(&cp8, line.as_bytes(), &log, &key).unwrap();
    assert!(cosigned.timestamp > 1_767_225_600 - 365 * 86400);

    // SIGKILL right after the answer: the state was synced before it.
    w.kill();
    let mut w = TestServer::witness(&data, port, &["--log", &v.log_vkey()]);
    assert_eq!(
        witness_key(&w).await.0,
        vkey,
        "same key and name after a restart"
    );
    assert_witness_size(&w, &cp6, 8).await;

    // Rollbacks: an old size past the checkpoint (400); a smaller tree from its own size or
    // from scratch (409, the witness still at 8).
    let (status, _, _) = add_checkpoint(&w, format!("old 8\n\n{cp6}")).await;
    assert_eq!(status, 400);
    let (status, _, body) = add_checkpoint(&w, format!("old 6\n\n{cp6}")).await;
    assert_eq!((status, body.as_str()), (409, "8\n"));
    let (status, _, body) =
        add_checkpoint(&w, format!("old 0\n\n{}", v.get("emptyTreeCheckpoint"))).await;
    assert_eq!((status, body.as_str()), (409, "8\n"));
    // Another root at size 8, validly signed by the log: a fork (422). So is a size-9 tree whose
    // proof does not start from the cosigned root.
    let forged8 = v.checkpoint(8, Hash([8; 32]));
    let (status, _, why) = add_checkpoint(&w, format!("old 8\n\n{forged8}")).await;
    assert_eq!(status, 422, "{why}");
    assert!(why.contains("forked"), "{why}");
    let forged9 = v.checkpoint(9, Hash([9; 32]));
    let bogus = AddCheckpoint {
        old_size: 8,
        proof: vec![Hash([1; 32]); 4],
        checkpoint: forged9,
    };
    let (status, _, _) = add_checkpoint(&w, bogus.to_body()).await;
    assert_eq!(status, 422);
    // The same checkpoint again is fine (and cosigned again).
    let (status, _, _) = add_checkpoint(&w, format!("old 8\n\n{cp8}")).await;
    assert_eq!(status, 200);
    assert_witness_size(&w, &cp6, 8).await;
    w.signal("TERM");

    // The name is part of the vkey: another one is refused; so is a key others can read, and a
    // witness with nothing to witness.
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_arkivo"))
            .args([
                "witness",
                "--data-dir",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["--log", &v.log_vkey(), "--name", "other.test"]);
    assert!(
        !ok && err.contains("created with name \"witness.test/w\""),
        "{err}"
    );
    let (ok, err) = run(&[]);
    assert!(!ok && err.contains("at least one log"), "{err}");
    let (ok, err) = run(&["--log", &vkey]);
    assert!(!ok && err.contains("type 0x04"), "{err}");
    let key_file = data.join("keys/witness-ed25519.pem");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (ok, err) = run(&["--log", &v.log_vkey()]);
    assert!(!ok && err.contains("chmod 600"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_spec_status_codes_and_change_nothing() {
    let v = Vectors::load();
    let dir = tempfile::tempdir().unwrap();
    let (w, _, _) = start_witness(&dir.path().join("w"), "witness.test/w", &v.log_vkey()).await;
    let cp6 = v.get("checkpointSize6");
    let cp8 = v.get("checkpointSize8");
    let hash = B64.encode([0u8; 32]);
    let text6 = note::parse(cp6.as_bytes()).unwrap().text;
    let other_log =
        Ed25519Signer::new("other.example/log", SigningKey::from_bytes(&[5; 32])).unwrap();
    let impostor = Ed25519Signer::new(
        "log.example.internal/tlog1",
        SigningKey::from_bytes(&[6; 32]),
    )
    .unwrap();
    let mut tampered = cp6.clone();
    let at = tampered.len() - 10;
    let c = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, c);

    let cases: Vec<(u16, String, &str)> = vec![
        (400, String::new(), "empty body"),
        (400, "old 0".into(), "no newline"),
        (400, format!("old 00\n\n{cp6}"), "leading zero"),
        (400, format!("old -0\n\n{cp6}"), "sign"),
        (400, format!("old 0\r\n\n{cp6}"), "CRLF"),
        (400, format!("new 0\n\n{cp6}"), "not an old line"),
        (
            400,
            format!("old 0\n{cp6}"),
            "checkpoint lines where proof lines go",
        ),
        (
            400,
            format!("old 0\n{}\n\n{cp6}", &hash[..40]),
            "short hash",
        ),
        (
            400,
            format!("old 0\n{}\n\n{cp6}", hex::encode([0u8; 32])),
            "hex hash",
        ),
        (
            400,
            format!("old 0\n{}\n{cp6}", format!("{hash}\n").repeat(64)),
            "64 proof lines",
        ),
        (400, "old 0\n\nnot a note\n".into(), "not a note"),
        (400, format!("old 0\n\n{text6}"), "no signature"),
        (
            400,
            format!(
                "old 0\n\n{}",
                note::sign("a\nb\n", &[&v.log_signer()]).unwrap()
            ),
            "not a checkpoint",
        ),
        (400, format!("old 7\n\n{cp6}"), "old past the size"),
        (
            404,
            format!(
                "old 0\n\n{}",
                checkpoint::sign_note(
                    &Checkpoint {
                        origin: "other.example/log".into(),
                        size: 1,
                        root: Hash([1; 32])
                    },
                    &[&other_log]
                )
                .unwrap()
            ),
            "unknown origin",
        ),
        (
            403,
            format!(
                "old 0\n\n{}",
                checkpoint::sign_note(&Checkpoint::parse(&text6).unwrap(), &[&impostor]).unwrap()
            ),
            "another key of the log's name",
        ),
        (403, format!("old 0\n\n{tampered}"), "a bad signature"),
        (409, format!("old 6\n\n{cp6}"), "old 6 to a witness at 0"),
        (
            422,
            format!("old 0\n{hash}\n\n{cp6}"),
            "a proof from size 0",
        ),
        (
            422,
            format!("old 0\n\n{}", v.checkpoint(0, Hash([1; 32]))),
            "a size-0 checkpoint with another root",
        ),
    ];
    for (want, body, what) in &cases {
        let (status, _, why) = add_checkpoint(&w, body.clone()).await;
        assert_eq!(status, *want, "{what}: {why}");
    }
    let (status, content_type, body) = add_checkpoint(&w, format!("old 6\n\n{cp6}")).await;
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "0\n")
    );
    // Too large for the limit (413), and only POST is served.
    let huge = vec![b'a'; arkivo_core::limits::MAX_ADD_CHECKPOINT_BYTES + 1];
    assert_eq!(add_checkpoint(&w, huge).await.0, 413);
    let get = reqwest::get(format!("{}/add-checkpoint", w.base_url()))
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    // Nothing was stored: the witness still takes a first checkpoint from old size 0.
    let (status, _, _) = add_checkpoint(&w, format!("old 0\n\n{cp6}")).await;
    assert_eq!(status, 200);
    // With state at 6: a bad proof to 8 (422), then the spec's good one (200).
    let request = AddCheckpoint::parse(v.get("addCheckpointRequestBody").as_bytes()).unwrap();
    for bad_proof in [
        request.proof[..2].to_vec(),
        [request.proof.clone(), vec![Hash([0; 32])]].concat(),
        vec![Hash([0; 32]); 3],
    ] {
        let body = AddCheckpoint {
            proof: bad_proof,
            ..request.clone()
        }
        .to_body();
        assert_eq!(add_checkpoint(&w, body).await.0, 422);
    }
    assert_witness_size(&w, &cp8, 6).await;
    let (status, _, _) = add_checkpoint(&w, v.get("addCheckpointRequestBody")).await;
    assert_eq!(status, 200);
    assert_witness_size(&w, &cp8, 8).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_rotation_witnesses_cosign_the_new_shard_once_told_its_key() {
    let (dir, keys, port, log_key) = new_log();
    let witness_dir = dir.path().join("w");
    let (w, vkey, k) = start_witness(&witness_dir, "w.test/witness", &log_key.vkey()).await;
    let witness_port = w.port();
    let log = start_log(
        &dir.path().join("log"),
        port,
        &keys,
        &witness_config(&[(vkey, w.base_url())], 1),
    );
    write_entries(&log, 3).await;
    let frozen = wait_cosigned(&log, &log_key, &[&k], 3, &[&k]).await;

    let rotated = common::rotate(&dir.path().join("log"), false);
    let (new_vkey, tree) = (rotated.checkpoint_vkey, rotated.active_tree_id);
    let VKey::Ed25519(new_key) = note::parse_vkey(&new_vkey).unwrap() else {
        panic!("{new_vkey} is not an Ed25519 vkey");
    };
    assert_eq!(new_key.name(), format!("127.0.0.1:{port}/shards/{tree}"));
    write_entries(&log, 2).await;

    // The frozen shard keeps serving its final checkpoint at the root paths.
    let served = get_text(format!("{}/checkpoint", log.base_url())).await;
    let opened = checkpoint::open_c2sp(&served, &log_key, &[]).unwrap();
    assert_eq!(opened.checkpoint, frozen.checkpoint);
    // The witness does not know the new origin: no quorum, so no checkpoint, until it does.
    let path = format!("/shards/{tree}/checkpoint");
    let res = reqwest::get(format!("{}{path}", log.base_url()))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    drop(w);
    let _w = TestServer::witness(
        &witness_dir,
        witness_port,
        &["--log", &log_key.vkey(), "--log", &new_vkey],
    );
    wait_cosigned_at(&log, &path, &new_key, &[&k], 2, &[&k]).await;
}
