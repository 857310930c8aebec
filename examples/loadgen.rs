//! Load generator for Arkivo (issue 4): not a subcommand, so no user runs it by accident.
//!
//! ```text
//! cargo run --release --example loadgen -- [--url URL] [--mode write|read-index|read-proof|read-info]
//!     [--connections 64] [--seconds 10] [--count N] [--max-batch N] [--max-batch-age-ms N] [--ceiling]
//! ```
//!
//! Without `--url` it starts `arkivo serve` itself on a fresh log in a temporary directory (with
//! the given batch settings) and stops it afterwards. Write mode pre-signs unique hashedrekord
//! entries (ECDSA P-256, cosign's default; `--count` of them, to build a log of a given size)
//! before the clock starts, then drives the server with
//! `--connections` keep-alive connections for `--seconds`. It reports accepted entries per
//! second, latency p50/p95/p99/max and every non-201 answer by status. `--ceiling` also measures
//! the machine's raw ECDSA P-256 verification rate in the same run (two `openssl speed
//! ecdsap256` processes side by side, verify/s summed) and reports the ratio.
//! Read modes fill the log first (unless `--url` is given) and then fetch entries by index
//! (with an inclusion proof), consistency proofs, or log info.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

struct Args {
    url: Option<String>,
    mode: String,
    connections: usize,
    seconds: u64,
    server_args: Vec<String>,
    fill: usize,
    count: Option<usize>,
    ceiling: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        url: None,
        mode: "write".into(),
        connections: 64,
        seconds: 10,
        server_args: vec![],
        fill: 10_000,
        count: None,
        ceiling: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = Some(value()),
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

/// Unique, validly signed hashedrekord entries, serialized, made before the clock starts.
fn presign(count: usize) -> Vec<Vec<u8>> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let spki = p256::PublicKey::from_sec1_bytes(key.public_key().as_ref()).unwrap();
    let pem = p256::pkcs8::EncodePublicKey::to_public_key_pem(&spki, p256::pkcs8::LineEnding::LF)
        .unwrap();
    let pem_b64 = B64.encode(pem);
    let nonce: u64 = rand::random();
    (0..count)
        .map(|i| {
            let artifact = format!("loadgen {nonce} {i}");
            let sig = key.sign(&rng, artifact.as_bytes()).unwrap();
            format!(
                r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{}"}}}},"signature":{{"content":"{}","publicKey":{{"content":"{pem_b64}"}}}}}}}}"#,
                hex::encode(Sha256::digest(artifact.as_bytes())),
                B64.encode(sig.as_ref())
            )
            .into_bytes()
        })
        .collect()
}

/// Two `openssl speed ecdsap256` side by side: the machine's raw P-256 verifications per second.
fn verify_ceiling() -> Option<f64> {
    let run = || {
        Command::new("openssl")
            .args(["speed", "-seconds", "5", "ecdsap256"])
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

struct Outcome {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, usize>,
    errors: usize,
}

async fn drive(
    base: String,
    mode: String,
    connections: usize,
    seconds: u64,
    bodies: Arc<Vec<Vec<u8>>>,
    size: u64,
) -> (Outcome, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, base, mode, bodies, next) = (
            client.clone(),
            base.clone(),
            mode.clone(),
            bodies.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut o = Outcome {
                latencies_us: Vec::new(),
                statuses: BTreeMap::new(),
                errors: 0,
            };
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let req = match mode.as_str() {
                    "write" => {
                        let Some(body) = bodies.get(n) else { break };
                        client
                            .post(format!("{base}/api/v1/log/entries"))
                            .header("content-type", "application/json")
                            .body(body.clone())
                    }
                    "read-index" => client.get(format!(
                        "{base}/api/v1/log/entries?logIndex={}",
                        (n as u64 * 7919) % size
                    )),
                    "read-proof" => {
                        let first = 1 + (n as u64 * 7919) % (size - 1);
                        client.get(format!(
                            "{base}/api/v1/log/proof?firstSize={first}&lastSize={size}"
                        ))
                    }
                    "read-info" => client.get(format!("{base}/api/v1/log")),
                    other => panic!("unknown mode {other}"),
                };
                let t = Instant::now();
                match req.send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let ok = res.bytes().await.is_ok();
                        o.latencies_us
                            .push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                        *o.statuses.entry(status).or_default() += 1;
                        if !ok {
                            o.errors += 1;
                        }
                    }
                    Err(_) => o.errors += 1,
                }
            }
            o
        }));
    }
    let mut all = Outcome {
        latencies_us: Vec::new(),
        statuses: BTreeMap::new(),
        errors: 0,
    };
    for t in tasks {
        let o = t.await.unwrap();
        all.latencies_us.extend(o.latencies_us);
        for (k, v) in o.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
        all.errors += o.errors;
    }
    (all, start.elapsed())
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
    let (_server, base) = match &args.url {
        Some(u) => (None, u.trim_end_matches('/').to_owned()),
        None => {
            let (s, b) = start_server(&args.server_args);
            (Some(s), b)
        }
    };
    let ok_status = if args.mode == "write" { 201 } else { 200 };
    let mut size = 0;
    let bodies = if args.mode == "write" {
        // Exactly --count entries, or enough for 20,000 writes a second.
        let n = args.count.unwrap_or(20_000 * args.seconds as usize);
        eprintln!("pre-signing {n} entries...");
        Arc::new(presign(n))
    } else {
        if args.url.is_none() {
            eprintln!("filling the log with {} entries...", args.fill);
            let fill = Arc::new(presign(args.fill));
            let (o, _) = drive(base.clone(), "write".into(), 64, 3600, fill, 0).await;
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
        Arc::new(Vec::new())
    };
    let (mut o, elapsed) = drive(
        base.clone(),
        args.mode.clone(),
        args.connections,
        args.seconds,
        bodies,
        size,
    )
    .await;
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
        "ok": ok,
        "perSecond": rate.round(),
        "latencyMs": {
            "p50": percentile(&o.latencies_us, 0.50),
            "p95": percentile(&o.latencies_us, 0.95),
            "p99": percentile(&o.latencies_us, 0.99),
            "max": percentile(&o.latencies_us, 1.0),
        },
        "otherStatuses": others,
        "transportErrors": o.errors,
        "verifyCeilingPerSecond": ceiling,
        "ratioToCeiling": ceiling.map(|c| (rate / c * 1000.0).round() / 1000.0),
    });
    println!("{report}");
}
