//! The real `arkivo` binary as a test server on a free loopback port.
#![allow(dead_code)] // each integration test uses a different part of this module

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestServer {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    /// Keeps the temporary data directory alive (when the server owns it).
    _tmp: Option<tempfile::TempDir>,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral loopback port")
}

impl TestServer {
    /// Starts a server on a new log in a temporary directory.
    pub fn start(extra_args: &[&str]) -> TestServer {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let mut s = TestServer::start_in(tmp.path(), free_port(), extra_args);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on `data_dir` (created on first start) and waits until it answers.
    pub fn start_in(data_dir: &Path, port: u16, extra_args: &[&str]) -> TestServer {
        let mut s = TestServer::spawn(data_dir, port, extra_args);
        s.wait_ready();
        s
    }

    /// Starts a server without waiting for it.
    pub fn spawn(data_dir: &Path, port: u16, extra_args: &[&str]) -> TestServer {
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_arkivo"))
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", &addr, "--hostname", &addr])
            .args(extra_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the arkivo binary");
        TestServer {
            child: Some(child),
            port,
            data_dir: data_dir.to_owned(),
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
        self.child.as_ref().expect("running").id()
    }

    /// Polls `GET /api/v1/log` until it answers 200 (30 s at most).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("arkivo exited early ({status}): {}", self.stderr());
            }
            if http_get_status(self.port, "/api/v1/log") == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let err = self.stderr();
        panic!("arkivo did not answer within 30 s: {err}");
    }

    /// Sends a signal and waits for the process to end; returns its stderr.
    pub fn signal(&mut self, signal: &str) -> String {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status();
        }
        let mut child = self.child.take().expect("running");
        let _ = child.wait();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }

    /// SIGKILL: no chance to flush, drain or answer anything.
    pub fn kill(&mut self) {
        self.signal("KILL");
    }

    fn stderr(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let _ = child.kill();
        let _ = child.wait();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A minimal HTTP/1.1 GET over std, so that readiness polling needs no async runtime.
fn http_get_status(port: u16, path: &str) -> Option<u16> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
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
