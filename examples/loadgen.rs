//! Load generator for Arkivo (issue 4): not a subcommand, so no user runs it by accident.
//!
//! ```text
//! cargo run --release --example loadgen -- [--url URL]...
//!     [--mode write|read-index|read-proof|read-info|read-tile|timestamp|certificate|print]
//!     [--connections 64] [--seconds 10] [--count N] [--stream] [--rate R] [--report-every S]
//!     [--server-pid PID] [--max-batch N] [--max-batch-age-ms N] [--ceiling] [--record FILE]
//!     [--kills-expected]
//! ```
//!
//! Without `--url` it starts `arkivo serve` itself on a fresh log in a temporary directory (with
//! the given batch settings) and stops it afterwards. Write mode pre-signs unique hashedrekord
//! entries (ECDSA P-256, cosign's default; `--count` of them, to build a log of a given size)
//! before the clock starts, then drives the server with
//! `--connections` keep-alive connections (exactly that many sockets, each task owning one) for
//! `--seconds`. It reports accepted entries per second, latency p50/p95/p99/max, every non-201
//! answer by status, transport errors (attempts without an HTTP answer), retries and requests
//! left unanswered apart, and, when it knows the server's process (its own, or `--server-pid`),
//! the server's CPU time per accepted answer. A run with any transport error, unanswered request
//! or 201 without an entry exits with status 1 after its report (a benchmark figure measured
//! while requests failed is not valid), unless `--kills-expected` says servers are being killed.
//! `--ceiling` also measures the machine's raw ECDSA P-256 verification rate in the same run (two
//! `openssl speed -seconds 3 ecdsap256` processes side by side, verify/s summed) and reports the
//! ratio.
//! Read modes fill the log first (unless `--url` is given) and then fetch entries by index
//! (with an inclusion proof), consistency proofs, log info, or full level-0 hash tiles (what a
//! tile client reads, and what a cache in front of the log keeps: benches/read-cache.sh).
//! `timestamp` asks the TSA for RFC 3161 timestamps (`POST /api/v1/timestamp`, a distinct digest,
//! a nonce and the certificate asked for each time). `certificate` asks the CA for certificates
//! (`POST /api/v2/signingCert`: ID token checked, proof of possession, precertificate logged in
//! the CT log and committed, SCT embedded); it starts its own server trusting a test OIDC issuer
//! of its own (tests/common/oidc.rs), whose ID token (valid 5 minutes) every request presents.
//!
//! `print` starts no server: it writes `--count` write-mode entries to standard output, one per
//! line, for `arkivo bulk-load -` (a log of 10^7 entries without HTTP: benches/scale.sh --bulk).
//!
//! For runs too long to pre-sign (a log of 10^7 entries, a 30-minute soak), `--stream` signs
//! entries on two background threads while the run goes on: that costs the server CPU, so
//! throughput figures come from pre-signed runs. `--rate R` paces the run open-loop at R requests
//! a second in all (latency counted from each request's scheduled time, so a stalled server
//! cannot hide its queue), and `--report-every S` adds a line per S seconds with that
//! interval's rate and latencies and, with `--server-pid`, the server's resident memory.
//!
//! Several `--url`s are frontends of one log (PostgreSQL storage): writes go to the first, and a
//! connection whose request meets a 503 (a follower) or a connection error (a frontend down)
//! sends the same entry to the next one, after a short pause, until it is answered otherwise or
//! the run ends; its latency counts from the first attempt. `--record FILE` writes one JSON line
//! per 201 as it comes (so the file is complete up to when the run is stopped, however): when it
//! was answered (`atMs`, Unix milliseconds), the entry's UUID, `logIndex`, and the inclusion
//! proof's `treeSize`, `rootHash` and `checkpoint` — every checkpoint the run saw, for a test to
//! check against the final tree — and one per transport error: `atMs`, the frontend's `url` and
//! the `transportError`, for a test to check that a kill explains each.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arkivo_core::tiles::{Tile, TilePath};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::Full;
use sha2::{Digest, Sha256};

/// The test OIDC issuer of the integration tests, for `--mode certificate`.
#[path = "../tests/common/oidc.rs"]
#[allow(dead_code)] // the tests' other token helpers
mod oidc;

/// What [`oidc`] dates its tokens from.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
        .try_into()
        .expect("seconds fit an i64")
}

struct Args {
    urls: Vec<String>,
    mode: String,
    connections: usize,
    seconds: u64,
    server_args: Vec<String>,
    fill: usize,
    count: Option<usize>,
    ceiling: bool,
    stream: bool,
    rate: Option<f64>,
    report_every: Option<u64>,
    server_pid: Option<u32>,
    record: Option<std::path::PathBuf>,
    kills_expected: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        urls: vec![],
        mode: "write".into(),
        connections: 64,
        seconds: 10,
        server_args: vec![],
        fill: 10_000,
        count: None,
        ceiling: false,
        stream: false,
        rate: None,
        report_every: None,
        server_pid: None,
        record: None,
        kills_expected: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.urls.push(value().trim_end_matches('/').to_owned()),
            "--mode" => a.mode = value(),
            "--connections" => a.connections = value().parse().expect("--connections"),
            "--seconds" => a.seconds = value().parse().expect("--seconds"),
            "--fill" => a.fill = value().parse().expect("--fill"),
            "--count" => a.count = Some(value().parse().expect("--count")),
            "--max-batch" | "--max-batch-age-ms" | "--inbox-capacity" => {
                a.server_args.push(flag.clone());
                a.server_args.push(value());
            }
            "--ceiling" => a.ceiling = true,
            "--stream" => a.stream = true,
            "--rate" => a.rate = Some(value().parse().expect("--rate")),
            "--report-every" => a.report_every = Some(value().parse().expect("--report-every")),
            "--server-pid" => a.server_pid = Some(value().parse().expect("--server-pid")),
            "--record" => a.record = Some(value().into()),
            "--kills-expected" => a.kills_expected = true,
            "--bench" => {} // passed by `cargo bench`; ignored
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A server of our own on a fresh log, killed on drop.
struct OwnServer {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(extra: &[String]) -> (OwnServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let exe = std::env::current_exe().unwrap();
    // examples live in target/release/examples; the binary in target/release.
    let bin = exe.parent().unwrap().parent().unwrap().join("arkivo");
    let child = Command::new(&bin)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &addr])
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "starting {}: {e} (build it with cargo build --release)",
                bin.display()
            )
        });
    // From here on, dropping the server (also by a panic) kills the process.
    let server = OwnServer { child, _dir: dir };
    let started = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        std::net::TcpStream::connect(&addr).is_ok()
    });
    assert!(started, "the server did not start");
    (server, format!("http://{addr}"))
}

/// Makes unique, validly signed hashedrekord entries (one key; the artifact names differ).
struct EntryMaker {
    key: EcdsaKeyPair,
    pem_b64: String,
    nonce: u64,
    rng: SystemRandom,
}

impl EntryMaker {
    fn new() -> EntryMaker {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let spki = p256::PublicKey::from_sec1_bytes(key.public_key().as_ref()).unwrap();
        let pem =
            p256::pkcs8::EncodePublicKey::to_public_key_pem(&spki, p256::pkcs8::LineEnding::LF)
                .unwrap();
        EntryMaker {
            key,
            pem_b64: B64.encode(pem),
            nonce: rand::random(),
            rng,
        }
    }

    /// The `i`th entry, serialized.
    fn entry(&self, i: usize) -> Vec<u8> {
        let artifact = format!("loadgen {} {i}", self.nonce);
        let sig = self.key.sign(&self.rng, artifact.as_bytes()).unwrap();
        format!(
            r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{}"}}}},"signature":{{"content":"{}","publicKey":{{"content":"{}"}}}}}}}}"#,
            hex::encode(Sha256::digest(artifact.as_bytes())),
            B64.encode(sig.as_ref()),
            self.pem_b64,
        )
        .into_bytes()
    }
}

/// Writes `count` entries to standard output, one per line, signed on every core a chunk at a
/// time (so that 10^7 of them never sit in memory at once).
fn print_entries(count: usize) {
    use rayon::prelude::*;
    use std::io::Write;
    const CHUNK: usize = 65_536;
    let maker = EntryMaker::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for start in (0..count).step_by(CHUNK) {
        let chunk: Vec<Vec<u8>> = (start..count.min(start + CHUNK))
            .into_par_iter()
            .map(|i| maker.entry(i))
            .collect();
        for entry in chunk {
            // A closed pipe (the loader failed) ends the run; it reports why.
            if out
                .write_all(&entry)
                .and_then(|()| out.write_all(b"\n"))
                .is_err()
            {
                return;
            }
        }
    }
    out.flush().ok();
}

/// Where the bodies of writes come from.
enum Bodies {
    /// Signed before the clock started (on every core).
    Presigned(Vec<Vec<u8>>),
    /// Signed during the run by background threads, `count` in all.
    Streamed(tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Vec<u8>>>),
    /// The same body every time (`--mode certificate`).
    Same(Vec<u8>),
    /// Reads send no body; timestamp requests are made as they go.
    None,
}

impl Bodies {
    fn presigned(count: usize) -> Bodies {
        use rayon::prelude::*;
        let maker = EntryMaker::new();
        Bodies::Presigned((0..count).into_par_iter().map(|i| maker.entry(i)).collect())
    }

    fn streamed(count: usize) -> Bodies {
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let maker = Arc::new(EntryMaker::new());
        let next = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let (tx, maker, next) = (tx.clone(), maker.clone(), next.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || tx.blocking_send(maker.entry(i)).is_err() {
                        break;
                    }
                }
            });
        }
        Bodies::Streamed(tokio::sync::Mutex::new(rx))
    }

    /// The body of the `n`th write, or None when all have been sent.
    async fn get(&self, n: usize) -> Option<Vec<u8>> {
        match self {
            Bodies::Presigned(all) => all.get(n).cloned(),
            Bodies::Streamed(rx) => rx.lock().await.recv().await,
            Bodies::Same(body) => Some(body.clone()),
            Bodies::None => None,
        }
    }
}

/// The `n`th timestamp request: what sigstore-js sends, with the nonce and the certificate that
/// sigstore-go and sigstore-python also ask for (sigstore-services.md §3).
fn timestamp_request(n: usize) -> serde_json::Value {
    serde_json::json!({
        "artifactHash": B64.encode(Sha256::digest(n.to_be_bytes())),
        "hashAlgorithm": "sha256",
        "certificates": true,
        "nonce": n,
    })
}

/// A Fulcio `signingCert` request as sigstore-go makes it: an ID token of `issuer`, a P-256 key
/// and its proof of possession (a signature over the token's `email`, the challenge claim).
fn signing_cert_request(issuer: &oidc::TestIssuer) -> Vec<u8> {
    use p256::ecdsa::signature::Signer;
    let email = "loadgen@example.org";
    let token = issuer.token(
        oidc::Alg::Es256,
        "loadgen",
        serde_json::json!({"email": email, "email_verified": true}),
    );
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let pem = p256::pkcs8::EncodePublicKey::to_public_key_pem(
        key.verifying_key(),
        p256::pkcs8::LineEnding::LF,
    )
    .unwrap();
    let proof: p256::ecdsa::DerSignature = key.sign(email.as_bytes());
    serde_json::json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": pem},
            "proofOfPossession": B64.encode(proof.as_bytes()),
        },
    })
    .to_string()
    .into_bytes()
}

/// Two `openssl speed ecdsap256` side by side: the machine's raw P-256 verifications per second.
fn verify_ceiling() -> Option<f64> {
    let run = || {
        Command::new("openssl")
            .args(["speed", "-seconds", "3", "ecdsap256"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    };
    let (a, b) = (run()?, run()?);
    let mut total = 0.0;
    for child in [a, b] {
        let out = child.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "256 bits ecdsa (nistp256)   0.0000s   0.0001s  48000.0  14000.0": the last is verify/s.
        let line = text.lines().find(|l| l.contains("ecdsa (nistp256)"))?;
        total += line.split_whitespace().last()?.parse::<f64>().ok()?;
    }
    Some(total)
}

#[derive(Default)]
struct Outcome {
    /// Latency of each answered request, and when (since the start) it was answered.
    latencies_us: Vec<u32>,
    answered_ms: Vec<u32>,
    statuses: BTreeMap<u16, usize>,
    /// Attempts that got no HTTP answer (each counts, also when the entry was then sent again).
    transport_errors: usize,
    /// Attempts that sent an entry again, to the next frontend, after a 503 or a transport error.
    retries: usize,
    /// Requests never answered: their transport error ended them (one frontend), or the run
    /// ended while they were still being retried.
    unanswered: usize,
    /// 201s whose body is not an entry.
    bad_answers: usize,
}

impl Outcome {
    fn merge(&mut self, o: Outcome) {
        self.latencies_us.extend(o.latencies_us);
        self.answered_ms.extend(o.answered_ms);
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.transport_errors += o.transport_errors;
        self.retries += o.retries;
        self.unanswered += o.unanswered;
        self.bad_answers += o.bad_answers;
    }

    /// Counts an answer to a request due at `due`, recording a 201.
    fn answered(
        &mut self,
        run: &Run,
        start: tokio::time::Instant,
        due: tokio::time::Instant,
        (status, answer): (u16, Bytes),
    ) {
        let now = tokio::time::Instant::now();
        self.latencies_us
            .push(u32::try_from((now - due).as_micros()).unwrap_or(u32::MAX));
        self.answered_ms
            .push(u32::try_from((now - start).as_millis()).unwrap_or(u32::MAX));
        *self.statuses.entry(status).or_default() += 1;
        if status == 201 && !run.record(&answer) {
            self.bad_answers += 1;
        }
    }

    /// Counts a transport error, and records it (with `--record`).
    fn transport_error(&mut self, run: &Run, base: &str, e: TransportError) {
        self.transport_errors += 1;
        run.record_line(&serde_json::json!({
            "atMs": unix_ms(),
            "url": base,
            "transportError": e.0,
        }));
    }
}

struct Run {
    /// The frontends; all but read modes use the first, writes fail over to the others.
    bases: Vec<String>,
    mode: String,
    connections: usize,
    seconds: u64,
    /// Requests a second in all, paced open-loop; None: as fast as answers come.
    rate: Option<f64>,
    /// The tree size read modes pick indexes and sizes below.
    size: u64,
    /// The `--record` file, written a line at a time.
    record: Option<std::sync::Mutex<std::fs::File>>,
}

impl Run {
    /// Appends the `--record` line of a 201 answer; false if the answer was not an entry.
    fn record(&self, answer: &[u8]) -> bool {
        if self.record.is_none() {
            return true;
        }
        let Some(record) = record_of(answer) else {
            return false;
        };
        self.record_line(&record);
        true
    }

    /// Appends a line to the `--record` file, if there is one.
    fn record_line(&self, line: &serde_json::Value) {
        use std::io::Write;
        let Some(file) = &self.record else {
            return;
        };
        // One write per line, so a run stopped by a signal leaves whole lines.
        let line = format!("{line}\n");
        file.lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(line.as_bytes())
            .expect("writing the --record file");
    }
}

/// Now, in Unix milliseconds (the `atMs` of `--record` lines).
fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis()
}

/// The `--record` line of a 201 answer to a Rekor v1 write: `{"<uuid>": {"logIndex", …}}`.
fn record_of(body: &[u8]) -> Option<serde_json::Value> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let (uuid, entry) = answer.as_object()?.iter().next()?;
    let proof = &entry["verification"]["inclusionProof"];
    Some(serde_json::json!({
        "atMs": unix_ms(),
        "uuid": uuid,
        "logIndex": entry["logIndex"],
        "treeSize": proof["treeSize"],
        "rootHash": proof["rootHash"],
        "checkpoint": proof["checkpoint"],
    }))
}

/// One connection of the load generator: opened on first use, kept alive across requests, and
/// opened anew after a transport error (or a server's `Connection: close`). Each task owns one,
/// so `--connections` is exactly how many sockets the server sees. A pooled client (reqwest's,
/// hyper-util's legacy pool) is not: a request that finds no idle connection starts a new one
/// and, when a busy one comes back first, keeps the new one too. At 512 connections — all the
/// server lets one client address hold — those extra connections were refused and closed, the
/// transport errors of the PostgreSQL benchmark at batch 1,024.
#[derive(Default)]
struct Conn {
    /// The frontend it is open to, and its request sender.
    open: Option<(String, hyper::client::conn::http1::SendRequest<Full<Bytes>>)>,
}

/// A request that got no HTTP answer: the connection could not be opened, broke, or the answer
/// took longer than [`REQUEST_TIMEOUT`].
struct TransportError(String);

/// How long a request may take before it counts as a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Conn {
    /// Sends one request to `base` (`http://host:port`) and reads the whole answer.
    async fn send(
        &mut self,
        base: &str,
        method: hyper::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), TransportError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(base, method, path, body)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.open = None;
                Err(TransportError(e))
            }
            Err(_) => {
                self.open = None;
                Err(TransportError(format!(
                    "no answer within {REQUEST_TIMEOUT:?}"
                )))
            }
        }
    }

    async fn exchange(
        &mut self,
        base: &str,
        method: hyper::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), String> {
        use http_body_util::BodyExt;
        let authority = base
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the load generator speaks plain HTTP, not {base}"));
        if self
            .open
            .as_ref()
            .is_none_or(|(to, sender)| to != base || sender.is_closed())
        {
            self.open = None;
            let stream = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|e| format!("connecting to {authority}: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("HTTP handshake with {authority}: {e}"))?;
            tokio::spawn(connection);
            self.open = Some((base.to_owned(), sender));
        }
        let (_, sender) = self.open.as_mut().expect("opened above");
        sender
            .ready()
            .await
            .map_err(|e| format!("connection to {authority}: {e}"))?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, authority);
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a valid request");
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request to {authority}: {e}"))?;
        let status = response.status().as_u16();
        let close = response
            .headers()
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("answer from {authority}: {e}"))?
            .to_bytes();
        if close {
            self.open = None;
        }
        Ok((status, answer))
    }
}

async fn drive(run: Arc<Run>, bodies: Arc<Bodies>) -> (Outcome, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let deadline = start + Duration::from_secs(run.seconds);
    let mut tasks = Vec::new();
    for _ in 0..run.connections {
        let (run, bodies, next) = (run.clone(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut o = Outcome::default();
            let mut conn = Conn::default();
            // The frontend this connection writes to; the next one after a 503 or an error.
            let mut frontend = 0;
            loop {
                let base = run.bases[frontend].clone();
                let n = next.fetch_add(1, Ordering::Relaxed);
                // Open loop: the nth request is due at start + n/rate, whatever came before,
                // and its latency counts from then.
                let due = match run.rate {
                    Some(rate) => start + Duration::from_secs_f64(n as f64 / rate),
                    None => tokio::time::Instant::now(),
                };
                // The run ends at the deadline also when the server falls behind the rate (the
                // backlog then shows in the latencies).
                if due >= deadline || tokio::time::Instant::now() >= deadline {
                    break;
                }
                // Only an open loop waits: tokio's timer rounds a deadline up to its next
                // millisecond tick, so `sleep_until(now)` would add about a millisecond to every
                // closed-loop request (measured: one reader's p50 1.44 ms, 0.07 ms without it).
                if run.rate.is_some() {
                    tokio::time::sleep_until(due).await;
                }
                let size = run.size;
                let (method, path, body) = match run.mode.as_str() {
                    "write" => {
                        let Some(body) = bodies.get(n).await else {
                            break;
                        };
                        if run.bases.len() > 1 {
                            let answer = write_with_failover(
                                &mut conn,
                                &run,
                                &mut frontend,
                                body,
                                deadline,
                                &mut o,
                            )
                            .await;
                            match answer {
                                Some(answer) => o.answered(&run, start, due, answer),
                                None => o.unanswered += 1,
                            }
                            continue;
                        }
                        (
                            hyper::Method::POST,
                            "/api/v1/log/entries".to_owned(),
                            Some(body),
                        )
                    }
                    "read-index" => (
                        hyper::Method::GET,
                        format!("/api/v1/log/entries?logIndex={}", (n as u64 * 7919) % size),
                        None,
                    ),
                    "read-proof" => {
                        let first = 1 + (n as u64 * 7919) % (size - 1);
                        (
                            hyper::Method::GET,
                            format!("/api/v1/log/proof?firstSize={first}&lastSize={size}"),
                            None,
                        )
                    }
                    "read-info" => (hyper::Method::GET, "/api/v1/log".to_owned(), None),
                    "read-tile" => {
                        let full_tiles = size / 256;
                        let tile = Tile::new(0, (n as u64 * 7919) % full_tiles, 256)
                            .expect("a level-0 tile of width 256");
                        (
                            hyper::Method::GET,
                            format!("/{}", TilePath::Hashes(tile)),
                            None,
                        )
                    }
                    "timestamp" => (
                        hyper::Method::POST,
                        "/api/v1/timestamp".to_owned(),
                        Some(timestamp_request(n).to_string().into_bytes()),
                    ),
                    "certificate" => (
                        hyper::Method::POST,
                        "/api/v2/signingCert".to_owned(),
                        Some(bodies.get(n).await.expect("the same body")),
                    ),
                    other => panic!("unknown mode {other}"),
                };
                match conn.send(&base, method, &path, body).await {
                    Ok(answer) => o.answered(&run, start, due, answer),
                    Err(e) => {
                        o.transport_error(&run, &base, e);
                        o.unanswered += 1;
                    }
                }
            }
            o
        }));
    }
    let mut all = Outcome::default();
    for t in tasks {
        all.merge(t.await.unwrap());
    }
    (all, start.elapsed())
}

/// Sends one entry to the frontends, starting at `frontend`, moving on to the next after a 503
/// or a transport error (each further attempt a retry), until another answer comes or the run's
/// deadline passes (`None`).
async fn write_with_failover(
    conn: &mut Conn,
    run: &Run,
    frontend: &mut usize,
    body: Vec<u8>,
    deadline: tokio::time::Instant,
    o: &mut Outcome,
) -> Option<(u16, Bytes)> {
    let mut first = true;
    while tokio::time::Instant::now() < deadline {
        if !first {
            o.retries += 1;
        }
        first = false;
        let base = &run.bases[*frontend];
        match conn
            .send(
                base,
                hyper::Method::POST,
                "/api/v1/log/entries",
                Some(body.clone()),
            )
            .await
        {
            Ok((503, _)) => {}
            Ok(answer) => return Some(answer),
            Err(e) => o.transport_error(run, base, e),
        }
        *frontend = (*frontend + 1) % run.bases.len();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// CPU time (user and system, all threads) process `pid` has used, in microseconds: fields 14
/// and 15 of `/proc/PID/stat`, in clock ticks of the kernel's fixed `USER_HZ` (100 on Linux).
fn cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from the `)` that closes it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000)
}

/// Resident memory of process `pid`, in MiB.
fn resident_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}

/// The server's resident memory every `every` seconds until `stop`, as (second, MiB).
fn sample_memory(
    pid: u32,
    every: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<(u64, f64)>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        let mut second = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Some(mib) = resident_mib(pid) {
                samples.push((second, mib));
            }
            std::thread::sleep(Duration::from_secs(every));
            second += every;
        }
        samples
    })
}

/// One line per `every` seconds of a run of `seconds`: that interval's answers, rate and
/// latencies (answers that came after the end count in the last interval).
fn intervals(
    o: &Outcome,
    every: u64,
    seconds: u64,
    memory: &[(u64, f64)],
) -> Vec<serde_json::Value> {
    let width_ms = every * 1000;
    let last = (seconds / every).max(1) - 1;
    let mut buckets: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for (&at, &lat) in o.answered_ms.iter().zip(&o.latencies_us) {
        let i = (u64::from(at) / width_ms).min(last);
        buckets.entry(i).or_default().push(lat);
    }
    buckets
        .into_iter()
        .map(|(i, mut lat)| {
            lat.sort_unstable();
            let from = i * every;
            serde_json::json!({
                "fromSecond": from,
                "answers": lat.len(),
                "perSecond": (lat.len() as f64 / every as f64).round(),
                "p50Ms": percentile(&lat, 0.50),
                "p99Ms": percentile(&lat, 0.99),
                "maxMs": percentile(&lat, 1.0),
                "serverRssMiB": memory.iter().find(|(s, _)| *s >= from).map(|(_, m)| m),
            })
        })
        .collect()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    if args.mode == "print" {
        return print_entries(args.count.expect("--mode print needs --count"));
    }
    let issuer = (args.mode == "certificate").then(|| {
        assert!(
            args.urls.is_empty(),
            "--mode certificate starts its own server (one that trusts its OIDC issuer)"
        );
        oidc::TestIssuer::start(false)
    });
    let (server, bases) = match args.urls.first() {
        Some(_) => (None, args.urls.clone()),
        None => {
            let mut server_args = args.server_args.clone();
            if let Some(issuer) = &issuer {
                server_args.extend(["--oidc-issuer".to_owned(), issuer.url("loadgen")]);
            }
            let (s, b) = start_server(&server_args);
            (Some(s), vec![b])
        }
    };
    let base = bases[0].clone();
    let server_pid = args.server_pid.or(server.as_ref().map(|s| s.child.id()));
    let ok_status = if matches!(args.mode.as_str(), "write" | "certificate") {
        201
    } else {
        200
    };
    let mut size = 0;
    let bodies = if args.mode == "write" {
        // Exactly --count entries, or enough for 20,000 writes a second.
        let n = args.count.unwrap_or(20_000 * args.seconds as usize);
        if args.stream {
            Bodies::streamed(n)
        } else {
            eprintln!("pre-signing {n} entries...");
            Bodies::presigned(n)
        }
    } else if let Some(issuer) = &issuer {
        Bodies::Same(signing_cert_request(issuer))
    } else if args.mode == "timestamp" {
        Bodies::None
    } else {
        if args.urls.is_empty() {
            eprintln!("filling the log with {} entries...", args.fill);
            let fill = Run {
                bases: bases.clone(),
                mode: "write".into(),
                connections: 64,
                seconds: 3600,
                rate: None,
                size: 0,
                record: None,
            };
            let (o, _) = drive(Arc::new(fill), Arc::new(Bodies::presigned(args.fill))).await;
            assert_eq!(
                o.statuses.get(&201),
                Some(&args.fill),
                "fill: {:?}",
                o.statuses
            );
        }
        let info: serde_json::Value = reqwest::get(format!("{base}/api/v1/log"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        size = info["treeSize"].as_u64().unwrap();
        assert!(size >= 2, "the log needs entries to read");
        assert!(
            args.mode != "read-tile" || size >= 256,
            "read-tile needs a full tile: at least 256 entries"
        );
        Bodies::None
    };
    let run = Run {
        bases,
        mode: args.mode.clone(),
        connections: args.connections,
        seconds: args.seconds,
        rate: args.rate,
        size,
        record: args.record.as_ref().map(|path| {
            let file = std::fs::File::create(path)
                .unwrap_or_else(|e| panic!("creating --record {}: {e}", path.display()));
            std::sync::Mutex::new(file)
        }),
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let memory = match (args.report_every, server_pid) {
        (Some(every), Some(pid)) => Some(sample_memory(pid, every, stop.clone())),
        _ => None,
    };
    let cpu_before = server_pid.and_then(cpu_us);
    let (mut o, elapsed) = drive(Arc::new(run), Arc::new(bodies)).await;
    let cpu_used = cpu_before
        .zip(server_pid.and_then(cpu_us))
        .map(|(a, b)| b - a);
    stop.store(true, Ordering::Relaxed);
    let memory = memory.map(|m| m.join().unwrap()).unwrap_or_default();
    if let Some(every) = args.report_every {
        for line in intervals(&o, every, args.seconds, &memory) {
            println!("{line}");
        }
    }
    let ceiling = if args.ceiling { verify_ceiling() } else { None };
    o.latencies_us.sort_unstable();
    let ok = o.statuses.get(&ok_status).copied().unwrap_or(0);
    let rate = ok as f64 / elapsed.as_secs_f64();
    let others: BTreeMap<_, _> = o
        .statuses
        .iter()
        .filter(|(k, _)| **k != ok_status)
        .collect();
    let report = serde_json::json!({
        "mode": args.mode,
        "connections": args.connections,
        "seconds": elapsed.as_secs_f64(),
        "serverArgs": args.server_args,
        "targetRate": args.rate,
        "ok": ok,
        "perSecond": rate.round(),
        "latencyMs": {
            "p50": percentile(&o.latencies_us, 0.50),
            "p95": percentile(&o.latencies_us, 0.95),
            "p99": percentile(&o.latencies_us, 0.99),
            "max": percentile(&o.latencies_us, 1.0),
        },
        "otherStatuses": others,
        "transportErrors": o.transport_errors,
        "retries": o.retries,
        "unanswered": o.unanswered,
        "badAnswers": o.bad_answers,
        "serverRssMiB": server_pid.and_then(resident_mib),
        // Less sensitive to other work on the machine than the rate: what an answer costs.
        "serverCpuUsPerOk": cpu_used
            .filter(|_| ok > 0)
            .map(|us| (us as f64 / ok as f64 * 10.0).round() / 10.0),
        "verifyCeilingPerSecond": ceiling,
        "ratioToCeiling": ceiling.map(|c| (rate / c * 1000.0).round() / 1000.0),
    });
    println!("{report}");
    // A figure measured while requests failed is no figure: unless servers are being killed,
    // any failure fails the run (and the benchmark scripts with it).
    let failed = o.transport_errors + o.unanswered + o.bad_answers;
    if failed > 0 && !args.kills_expected {
        eprintln!(
            "loadgen: {} transport errors, {} requests unanswered, {} 201s without an entry, \
             and no server was killed: this run is not a valid measurement",
            o.transport_errors, o.unanswered, o.bad_answers
        );
        std::process::exit(1);
    }
}
