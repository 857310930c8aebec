//! The real `arkivo` binary as a test server on a free loopback port.
//!
//! `TestServer::start(&[])` runs `arkivo serve --data-dir <tempdir> --listen 127.0.0.1:<port>
//! --hostname 127.0.0.1:<port>` and waits until `GET /api/v1/log` answers. The server's stderr
//! goes to a temporary file (never a pipe that could fill up and stall it) and is shown when
//! start-up fails. Dropping a `TestServer` kills the process, so no server outlives a panicking
//! test.
#![allow(dead_code)] // each integration test uses a different part of this module

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer `GET /api/v1/log` after it was started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestServer {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    /// The server's stderr (a temporary file, removed on drop).
    stderr_log: tempfile::NamedTempFile,
    /// Keeps the temporary data directory alive (when the server owns it).
    _tmp: Option<tempfile::TempDir>,
}

/// A port nobody listens on right now (bind 127.0.0.1:0, read the port, drop the listener).
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
        cmd.args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", &addr, "--hostname", &addr])
            .args(extra_args)
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
            stderr_log,
            _tmp: None,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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

    /// Polls `GET /api/v1/log` until it answers 200; panics with the server's stderr after
    /// `READY_TIMEOUT` or if the server exits.
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
                    "arkivo serve on port {} exited during start-up ({status}); its stderr:\n{}",
                    self.port,
                    self.stderr()
                ));
            }
            if http_get_status(self.port, "/readyz") == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(format!(
                    "arkivo serve on port {} did not answer GET /readyz within {} s; its stderr:\n{}",
                    self.port,
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

/// A cosign-style signer: a P-256 key that makes valid hashedrekord v0.0.1 proposed entries.
pub struct EntrySigner {
    key: p256::ecdsa::SigningKey,
    pem: String,
}

impl EntrySigner {
    pub fn new() -> EntrySigner {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        EntrySigner { key, pem }
    }

    /// A proposed entry recording this key's signature of `artifact`.
    pub fn hashedrekord(&self, artifact: &[u8]) -> serde_json::Value {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(artifact);
        let sig: p256::ecdsa::Signature = self.key.sign_prehash(&digest).unwrap();
        serde_json::json!({
            "apiVersion": "0.0.1", "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
                "signature": {"content": B64.encode(sig.to_der().as_bytes()),
                              "publicKey": {"content": B64.encode(&self.pem)}},
            },
        })
    }
}
