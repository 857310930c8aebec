//! The real `arkivo` binary as a test server on a free loopback port.
//!
//! `TestServer::start(&[])` runs `arkivo serve --data-dir <tempdir> --listen 127.0.0.1:<port>
//! --hostname 127.0.0.1:<port>` and waits until `GET /readyz` answers;
//! `TestServer::witness(dir, port, &[...])` runs `arkivo witness` and waits until `GET /` answers.
//! The server's stderr goes to a temporary file (never a pipe that could fill up and stall it)
//! and is shown when start-up fails. Dropping a `TestServer` kills the process, so no server
//! outlives a panicking test.
#![allow(dead_code)] // each integration test uses a different part of this module

pub mod node;
pub mod oidc;
pub mod pg;
pub mod proxy;
pub mod router;
pub mod storage;
pub mod tuf;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to answer `GET /api/v1/log` after it was started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestServer {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    /// `serve`, `witness` or `mirror`.
    subcommand: &'static str,
    /// What answers 200 once the server is up.
    ready_path: &'static str,
    /// The server's stderr (a temporary file, removed on drop).
    stderr_log: tempfile::NamedTempFile,
    /// Keeps the temporary data directory alive (when the server owns it).
    _tmp: Option<tempfile::TempDir>,
}

/// A port nobody listens on right now (bind 127.0.0.1:0, read the port, drop the listener).
/// The load generator (`examples/loadgen.rs`) next to the test's binary (target/release/deps/…).
pub fn loadgen_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/loadgen");
    assert!(
        path.is_file(),
        "{} is missing: build it with cargo build --release --examples",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral loopback port")
}

impl TestServer {
    /// Starts a server on a new log in a temporary directory, on a free port, and waits until it
    /// answers. Retries with another port if the chosen one was taken in the meantime.
    pub fn start(extra_args: &[&str]) -> TestServer {
        TestServer::start_with_env(extra_args, &[])
    }

    /// [`TestServer::start`] with environment variables for the server, set after the harness's
    /// own (so `RUST_LOG` can be raised).
    pub fn start_with_env(extra_args: &[&str], envs: &[(&str, &str)]) -> TestServer {
        let mut last_err = String::new();
        for _ in 0..3 {
            // A fresh directory each time: a log remembers the hostname (and so the port) it was
            // created with.
            let tmp = tempfile::tempdir().expect("creating a temporary data directory");
            let mut s = TestServer::spawn_with_env(tmp.path(), free_port(), extra_args, envs);
            match s.try_wait_ready(READY_TIMEOUT) {
                Ok(()) => {
                    s._tmp = Some(tmp);
                    return s;
                }
                Err(err) => {
                    let port_taken = err.contains("in use") || err.contains("AddrInUse");
                    last_err = err;
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        panic!("{last_err}");
    }

    /// Starts a server on `data_dir` (created on first start) and waits until it answers.
    pub fn start_in(data_dir: &Path, port: u16, extra_args: &[&str]) -> TestServer {
        let mut s = TestServer::spawn(data_dir, port, extra_args);
        s.wait_ready();
        s
    }

    /// Starts a server without waiting for it.
    pub fn spawn(data_dir: &Path, port: u16, extra_args: &[&str]) -> TestServer {
        TestServer::spawn_with_env(data_dir, port, extra_args, &[])
    }

    fn spawn_with_env(
        data_dir: &Path,
        port: u16,
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> TestServer {
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec!["--hostname", &addr];
        args.extend_from_slice(extra_args);
        TestServer::spawn_subcommand("serve", "/readyz", data_dir, port, &args, envs)
    }

    /// Starts `arkivo serve --data-dir <data_dir> --listen 127.0.0.1:<port> <args>` — no
    /// `--hostname` of its own: frontends of one log share its name — without waiting;
    /// [`TestServer::wait_ready_at`] waits for it.
    pub fn spawn_frontend(data_dir: &Path, port: u16, args: &[&str]) -> TestServer {
        TestServer::spawn_subcommand("serve", "/readyz", data_dir, port, args, &[])
    }

    /// Waits (as [`TestServer::wait_ready`]) until `path` answers 200, e.g.
    /// `/readyz?role=reader` on a frontend that does not lead.
    pub fn wait_ready_at(&mut self, path: &'static str) {
        self.ready_path = path;
        self.wait_ready();
    }

    /// Starts `arkivo witness` on `data_dir` (created on first start) and waits until it answers
    /// `GET /` (its vkey).
    pub fn witness(data_dir: &Path, port: u16, extra_args: &[&str]) -> TestServer {
        let mut s = TestServer::spawn_subcommand("witness", "/", data_dir, port, extra_args, &[]);
        s.wait_ready();
        s
    }

    /// Starts `arkivo mirror` on `data_dir` (created on first start) and waits until it answers
    /// `GET /healthz`.
    pub fn mirror(data_dir: &Path, port: u16, extra_args: &[&str]) -> TestServer {
        let mut s =
            TestServer::spawn_subcommand("mirror", "/healthz", data_dir, port, extra_args, &[]);
        s.wait_ready();
        s
    }

    /// Runs `arkivo <subcommand> --data-dir <data_dir> --listen 127.0.0.1:<port> <args>` with
    /// these environment variables.
    fn spawn_subcommand(
        subcommand: &'static str,
        ready_path: &'static str,
        data_dir: &Path,
        port: u16,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> TestServer {
        let addr = format!("127.0.0.1:{port}");
        let stderr_log = tempfile::Builder::new()
            .prefix("arkivo-test-server-")
            .suffix(".stderr")
            .tempfile()
            .expect("creating a file for the server's stderr");
        let stderr = stderr_log
            .as_file()
            .try_clone()
            .expect("opening the server's stderr file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkivo"));
        cmd.args([subcommand, "--data-dir"])
            .arg(data_dir)
            .args(["--listen", &addr])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        // Settings from the developer's environment must not leak into the tests.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ARKIVO_") {
                cmd.env_remove(&key);
            }
        }
        cmd.envs(envs.iter().copied());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} failed: {e}", env!("CARGO_BIN_EXE_arkivo")));
        TestServer {
            child: Some(child),
            port,
            data_dir: data_dir.to_owned(),
            subcommand,
            ready_path,
            stderr_log,
            _tmp: None,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET `path` from a test that has no runtime of its own: the body of a 2xx answer, or a
    /// panic naming the path and the status.
    pub fn get(&self, path: &str) -> Vec<u8> {
        let url = format!("{}{path}", self.base_url());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let res = reqwest::get(&url)
                    .await
                    .unwrap_or_else(|e| panic!("GET {path}: {e}"));
                assert!(res.status().is_success(), "GET {path}: {}", res.status());
                res.bytes().await.unwrap().to_vec()
            })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_log.path()).unwrap_or_default()
    }

    /// Polls `GET /api/v1/log` (a witness: `GET /`) until it answers 200; panics with the
    /// server's stderr after `READY_TIMEOUT` or if the server exits.
    pub fn wait_ready(&mut self) {
        if let Err(err) = self.try_wait_ready(READY_TIMEOUT) {
            panic!("{err}");
        }
    }

    fn try_wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "arkivo {} on port {} exited during start-up ({status}); its stderr:\n{}",
                    self.subcommand,
                    self.port,
                    self.stderr()
                ));
            }
            if http_get_status(self.port, self.ready_path) == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(format!(
                    "arkivo {} on port {} did not answer GET {} within {} s; its stderr:\n{}",
                    self.subcommand,
                    self.port,
                    self.ready_path,
                    timeout.as_secs(),
                    self.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (`"TERM"`, `"INT"`, `"KILL"`, ...) and waits for the process to end (60 s at
    /// most, then SIGKILL); returns everything it wrote to stderr.
    pub fn signal(&mut self, signal: &str) -> String {
        let mut child = self.child.take().expect("the server is running");
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut timed_out = false;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let mut err = self.stderr();
        if timed_out {
            err.push_str(&format!(
                "\n[test harness: the server did not exit within 60 s of SIG{signal}; killed]\n"
            ));
        }
        err
    }

    /// SIGKILL: no chance to flush, drain or answer anything.
    pub fn kill(&mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A minimal HTTP/1.1 GET over std, so that readiness polling needs no async runtime.
fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    if !head.starts_with(b"HTTP/1.") {
        return None;
    }
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Seconds since the Unix epoch, as the server stamps times (shard creation, integrated times).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
        .try_into()
        .expect("seconds fit an i64")
}

/// What one `arkivo shard rotate` did, and the Unix seconds just before and after it ran (the
/// new shard was created in between).
#[derive(Debug)]
pub struct Rotated {
    pub frozen_tree_id: String,
    pub frozen_size: u64,
    pub active_tree_id: String,
    /// The new shard's C2SP checkpoint verifier key, as printed for witnesses.
    pub checkpoint_vkey: String,
    pub before: i64,
    pub after: i64,
}

/// Runs `arkivo shard rotate [--new-key] --data-dir <data_dir>` (through the admin socket of
/// the server serving `data_dir`, or directly); returns success, stdout and stderr.
pub fn try_rotate(data_dir: &Path, new_key: bool) -> (bool, String, String) {
    let mut args = vec!["shard", "rotate", "--data-dir", path(data_dir)];
    if new_key {
        args.push("--new-key");
    }
    arkivo(&args)
}

/// [`try_rotate`], which must succeed, and what it reports.
pub fn rotate(data_dir: &Path, new_key: bool) -> Rotated {
    let before = unix_now();
    let (ok, stdout, stderr) = try_rotate(data_dir, new_key);
    let after = unix_now();
    assert!(
        ok,
        "arkivo shard rotate (new key: {new_key}) failed:\n{stdout}{stderr}"
    );
    // "froze tree <id> at size <n>; new entries go to tree <id>"
    let first = stdout.lines().next().unwrap_or_default();
    let words: Vec<&str> = first.split_whitespace().collect();
    let [
        "froze",
        "tree",
        frozen,
        "at",
        "size",
        size,
        "new",
        "entries",
        "go",
        "to",
        "tree",
        active,
    ] = words.as_slice()
    else {
        panic!("arkivo shard rotate printed an unexpected first line: {first:?}\n{stdout}");
    };
    let checkpoint_vkey = stdout
        .split("verifier key (for witnesses and tile clients): ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no verifier key in {stdout:?}"))
        .to_owned();
    Rotated {
        frozen_tree_id: (*frozen).to_owned(),
        frozen_size: size.trim_end_matches(';').parse().expect("the frozen size"),
        active_tree_id: (*active).to_owned(),
        checkpoint_vkey,
        before,
        after,
    }
}

/// Builds (once, incrementally) and returns the path of a separate interop package's binary.
pub fn build_interop_package(dir: &str, bin: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join("Cargo.toml");
    // Its own target directory: building it must not touch (or lock) the one running this test.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("interop");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("running cargo");
    assert!(status.success(), "building {dir} failed");
    target.join("release").join(bin)
}

/// A cosign-style signer: a P-256 key that makes valid hashedrekord v0.0.1 proposed entries and
/// Rekor v2 requests.
pub struct EntrySigner {
    pub key: p256::ecdsa::SigningKey,
    pem: String,
}

impl EntrySigner {
    pub fn new() -> EntrySigner {
        EntrySigner::with_key(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng))
    }

    /// A signer of this key.
    pub fn with_key(key: p256::ecdsa::SigningKey) -> EntrySigner {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        EntrySigner { key, pem }
    }

    /// The public key as PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePublicKey;
        self.key
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .into_vec()
    }

    /// A DER ECDSA signature over a given SHA-256 digest.
    pub fn sign_digest(&self, digest: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let sig: p256::ecdsa::Signature = self.key.sign_prehash(digest).unwrap();
        sig.to_der().as_bytes().to_vec()
    }

    /// A proposed entry recording this key's signature of `artifact`.
    pub fn hashedrekord(&self, artifact: &[u8]) -> serde_json::Value {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(artifact);
        serde_json::json!({
            "apiVersion": "0.0.1", "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
                "signature": {"content": B64.encode(self.sign_digest(&digest)),
                              "publicKey": {"content": B64.encode(&self.pem)}},
            },
        })
    }

    /// A dsse v0.0.1 proposed entry: this key's DSSE envelope of an in-toto statement whose one
    /// subject has the SHA-256 digest `sha256` (hex), signed over the PAE (DSSE protocol).
    pub fn dsse_of_digest(&self, sha256: &str) -> serde_json::Value {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        use sha2::Digest;
        let payload_type = "application/vnd.in-toto+json";
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "artifact", "digest": {"sha256": sha256}}],
            "predicateType": "https://example.com/p/v1",
            "predicate": {},
        })
        .to_string();
        let mut pae = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            statement.len()
        )
        .into_bytes();
        pae.extend_from_slice(statement.as_bytes());
        let envelope = serde_json::json!({
            "payloadType": payload_type,
            "payload": B64.encode(&statement),
            "signatures": [{"keyid": "", "sig": B64.encode(self.sign_digest(&sha2::Sha256::digest(&pae)))}],
        })
        .to_string();
        serde_json::json!({
            "apiVersion": "0.0.1", "kind": "dsse",
            "spec": {"proposedContent": {"envelope": envelope, "verifiers": [B64.encode(&self.pem)]}},
        })
    }

    /// This key as a Rekor v2 verifier (tiles-checkpoints-witnesses.md §6.2).
    pub fn verifier_v2(&self) -> serde_json::Value {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        serde_json::json!({"publicKey": {"rawBytes": B64.encode(self.spki())},
                           "keyDetails": "PKIX_ECDSA_P256_SHA_256"})
    }

    /// A Rekor v2 `dsseRequestV002` of one signature by this key over `payload`, as
    /// @sigstore/sign makes it.
    pub fn dsse_v2(&self, payload_type: &str, payload: &[u8]) -> serde_json::Value {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        use sha2::Digest;
        let pae = arkivo_core::entries::dsse::pae(payload_type, payload);
        let sig = self.sign_digest(&sha2::Sha256::digest(pae));
        serde_json::json!({"dsseRequestV002": {
            "envelope": {"payload": B64.encode(payload), "payloadType": payload_type,
                         "signatures": [{"sig": B64.encode(sig), "keyid": ""}]},
            "verifiers": [self.verifier_v2()],
        }})
    }

    /// A Rekor v2 `hashedRekordRequestV002` recording this key's signature of `artifact`.
    pub fn hashedrekord_v2(&self, artifact: &[u8]) -> serde_json::Value {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(artifact);
        hashedrekord_v2(&digest, &self.sign_digest(&digest), self.verifier_v2())
    }
}

/// A Rekor v2 `hashedRekordRequestV002` of the given parts (tiles-checkpoints-witnesses.md §6.2).
pub fn hashedrekord_v2(
    digest: &[u8],
    signature: &[u8],
    verifier: serde_json::Value,
) -> serde_json::Value {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    serde_json::json!({"hashedRekordRequestV002": {
        "digest": B64.encode(digest),
        "signature": {"content": B64.encode(signature), "verifier": verifier},
    }})
}

/// `GET url` with `client`, its body as JSON (panicking on a transport error or non-JSON body).
pub async fn get_json(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// The body of `url` as text.
pub async fn get_text(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Makes a self-signed P-256 certificate `cert` and its key `key` (PEM files in `dir`) with
/// openssl: subject `subject`, valid one day, with `extra` options (such as `-addext`).
pub fn self_signed_p256(dir: &Path, subject: &str, extra: &[&str], key: &str, cert: &str) {
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ];
    args.extend(["-nodes", "-days", "1", "-subj", subject]);
    args.extend(extra);
    args.extend(["-keyout", key, "-out", cert]);
    openssl(dir, &args);
}

/// Runs openssl with `args` in `dir`, failing the test if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The status of `GET {base}{path}` with `client`.
pub async fn get_status(client: &reqwest::Client, base: &str, path: &str) -> u16 {
    let res = client.get(format!("{base}{path}")).send().await.unwrap();
    res.status().as_u16()
}

/// The answer to `POST {base}/api/v1/log/entries` with the request `entry`.
pub async fn post_request(
    client: &reqwest::Client,
    base: &str,
    entry: &serde_json::Value,
) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/log/entries"))
        .json(entry)
        .send()
        .await
        .unwrap()
}

/// The status of `POST {base}/api/v1/log/entries` with the request `entry`.
pub async fn post_entry_status(
    client: &reqwest::Client,
    base: &str,
    entry: &serde_json::Value,
) -> u16 {
    post_request(client, base, entry).await.status().as_u16()
}

/// An acknowledged write: its index, its entry ID, and when the answer arrived.
pub struct Acked {
    pub index: u64,
    pub id: String,
    pub at: Instant,
}

/// What a run of the `arkivo` binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout as JSON (panicking, with both outputs, when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}): {}\n{}", self.stdout, self.stderr)
        })
    }
}

/// Runs `arkivo args...` in `dir` (the test's own working directory when `None`), with none of
/// the test's `ARKIVO_*` or `COSIGN_*` variables, then `env` set.
pub fn run_arkivo(dir: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = arkivo_command(dir, args, env)
        .output()
        .expect("running arkivo");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `arkivo serve args...`, which must refuse to start: its stderr. Panics (rather than
/// hang) when it is still running after [`READY_TIMEOUT`] — it started — or exits with success.
pub fn refused_start(args: &[&str]) -> String {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = arkivo_command(None, &[&["serve"], args].concat(), &[])
        .stdout(Stdio::null())
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .expect("running arkivo serve");
    let deadline = Instant::now() + READY_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(stderr.path()).unwrap();
    match status {
        None => panic!("arkivo serve started (still running after {READY_TIMEOUT:?}):\n{err}"),
        Some(s) if s.success() => panic!("arkivo serve exited with success:\n{err}"),
        Some(_) => err,
    }
}

/// The `arkivo args...` command in `dir` (the test's own working directory when `None`), with
/// none of the test's `ARKIVO_*` or `COSIGN_*` variables, then `env` set.
fn arkivo_command(dir: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkivo"));
    cmd.args(args).stdin(Stdio::null()).env("RUST_LOG", "warn");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("ARKIVO_") || k.starts_with("COSIGN_") {
            cmd.env_remove(&key);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// [`run_arkivo`] in the test's working directory: success, stdout and stderr.
pub fn arkivo(args: &[&str]) -> (bool, String, String) {
    let run = run_arkivo(None, args, &[]);
    (run.code == 0, run.stdout, run.stderr)
}

/// The Python of the venv scripts/setup makes (python-tuf, sigstore-python), or `ARKIVO_PYTHON`.
/// The tests that run it fail, never skip, without it.
pub fn python() -> PathBuf {
    let python = std::env::var_os("ARKIVO_PYTHON").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/arkivo-python/bin/python")
        },
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup (it installs python-tuf and sigstore-python into a venv)",
        python.display()
    );
    python
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Posts a new entry recording `signer`'s signature of `artifact`; panics unless it is
/// acknowledged (201).
pub async fn post_entry(
    client: &reqwest::Client,
    base: &str,
    signer: &EntrySigner,
    artifact: &[u8],
) -> Acked {
    let res = post_request(client, base, &signer.hashedrekord(artifact)).await;
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let (id, entry) = body.as_object().unwrap().iter().next().unwrap();
    Acked {
        index: entry["logIndex"].as_u64().unwrap(),
        id: id.clone(),
        at: Instant::now(),
    }
}

/// Concurrent writers of new entries, each recording what was acknowledged, until stopped.
pub struct Writers {
    acked: Arc<Mutex<Vec<Acked>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    /// Starts `n` writers posting entries tagged `tag` to the log at `base`.
    pub fn start(base: &str, tag: &'static str, n: usize) -> Writers {
        let signer = Arc::new(EntrySigner::new());
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..n)
            .map(|writer| {
                let (base, signer) = (base.to_owned(), signer.clone());
                let (acked, stop) = (acked.clone(), stop.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let artifact = format!("{tag} {writer} {i}");
                        let a = post_entry(&client, &base, &signer, artifact.as_bytes()).await;
                        acked.lock().unwrap().push(a);
                        i += 1;
                    }
                })
            })
            .collect();
        Writers { acked, stop, tasks }
    }

    /// How many writes were acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until `n` writes were acknowledged in all (a minute at most).
    pub async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acknowledged() < n {
            assert!(Instant::now() < deadline, "the writers are too slow");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the writers after their writes in flight; returns every acknowledged write.
    pub async fn stop(self) -> Vec<Acked> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

/// `arkivo restore --from backup --data-dir to`, then `arkivo verify-log` on the result;
/// returns what `verify-log` printed.
pub fn restore_and_verify(backup: &Path, to: &Path) -> String {
    let (ok, _, err) = arkivo(&["restore", "--from", path(backup), "--data-dir", path(to)]);
    assert!(ok, "{err}");
    let (ok, out, err) = arkivo(&["verify-log", "--data-dir", path(to)]);
    assert!(ok, "{out}{err}");
    out
}

/// The extensions of a TSA leaf as RFC 3161 §2.3 wants it: the critical timeStamping EKU, not a
/// CA. For [`openssl_tsa_chain`].
pub const TSA_LEAF_EXTENSIONS: &[&str] = &[
    "extendedKeyUsage=critical,timeStamping",
    "basicConstraints=CA:FALSE",
];

/// A TSA chain made with openssl in `dir`: `root.key`/`root.pem`, and a leaf `leaf.key`
/// (mode 0600)/`leaf.pem` with `leaf_ext` (openssl `-extfile` lines); `chain.pem` holds both.
pub fn openssl_tsa_chain(dir: &Path, leaf_ext: &[&str]) {
    self_signed_p256(
        dir,
        "/O=Test/CN=TSA root",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
        "root.key",
        "root.pem",
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "leaf.sec1",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "leaf.sec1",
            "-out",
            "leaf.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/O=Test/CN=TSA",
            "-out",
            "leaf.csr",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), leaf_ext.join("\n")).unwrap();
    openssl(
        dir,
        &[
            "x509", "-req", "-in", "leaf.csr", "-CA", "root.pem", "-CAkey", "root.key", "-days",
            "1", "-extfile", "ext.cnf", "-out", "leaf.pem",
        ],
    );
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(dir.join("leaf.pem")).unwrap(),
        std::fs::read_to_string(dir.join("root.pem")).unwrap()
    );
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("leaf.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A log's key files (mode 0600), so that tests know the log's vkey before it starts, and so
/// that two log instances can share one identity.
pub struct LogKeyFiles {
    _dir: tempfile::TempDir,
    pub ecdsa: PathBuf,
    pub ed25519: PathBuf,
    pub keys: arkivo_core::signer::LogKeys,
}

impl LogKeyFiles {
    #[allow(clippy::new_without_default)]
    pub fn new() -> LogKeyFiles {
        let dir = tempfile::tempdir().unwrap();
        let keys = arkivo_core::signer::LogKeys::generate();
        let write = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            let mut f = std::os::unix::fs::OpenOptionsExt::mode(
                std::fs::OpenOptions::new().write(true).create_new(true),
                0o600,
            )
            .open(&path)
            .unwrap();
            std::io::Write::write_all(&mut f, pem.as_bytes()).unwrap();
            path
        };
        LogKeyFiles {
            ecdsa: write("ecdsa.pem", &keys.ecdsa_pkcs8_pem()),
            ed25519: write("ed25519.pem", &keys.ed25519_pkcs8_pem()),
            keys,
            _dir: dir,
        }
    }

    /// The log's checkpoint verifier when it runs as `127.0.0.1:<port>` (origin = hostname).
    pub fn verifier(&self, port: u16) -> arkivo_core::note::Ed25519Verifier {
        self.keys.ed25519_verifier(&format!("127.0.0.1:{port}"))
    }
}

/// `arkivo serve` on `data_dir` and `port` with these keys and a config file of `toml`.
pub fn start_log(data_dir: &Path, port: u16, keys: &LogKeyFiles, toml: &str) -> TestServer {
    let config = data_dir.with_extension("toml");
    std::fs::write(&config, toml).unwrap();
    TestServer::start_in(
        data_dir,
        port,
        &[
            "--config",
            config.to_str().unwrap(),
            "--ecdsa-key-file",
            keys.ecdsa.to_str().unwrap(),
            "--ed25519-key-file",
            keys.ed25519.to_str().unwrap(),
        ],
    )
}

/// Runs the independent tile client tests/tiles/verify_tiles.py on the log at `base` with
/// `args`: whether it passed, and what it printed.
pub fn verify_tiles_py(base: &str, args: &[String]) -> (bool, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tiles/verify_tiles.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(base)
        .args(args)
        .output()
        .expect("running python3 tests/tiles/verify_tiles.py");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
