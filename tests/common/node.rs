//! Node.js scripts of tests/interop (the npm packages pinned in its package.json, installed with
//! `npm ci` when missing or stale) run against a test server, with a time limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole run of a script (the sigstore-js ones have their own 180 s limit and 30 s per
/// request).
const NODE_TIMEOUT: Duration = Duration::from_secs(300);
const PACKAGES: [&str; 7] = [
    "@sigstore/cli",
    "@sigstore/sign",
    "@sigstore/verify",
    "@sigstore/bundle",
    "@sigstore/protobuf-specs",
    "@sigstore/tuf",
    "puppeteer-core",
];

pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Fails the test, with instructions, if `tool --version` cannot run.
pub fn require_tool(tool: &str) -> String {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => panic!(
            "`{tool} --version` failed ({}): {}{}\nThe Node.js tests need Node.js >= 20.17 and npm \
             (e.g. `apt-get install nodejs npm`); it is mandatory and never skipped.",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "`{tool}` is not available ({e}). The Node.js tests need Node.js >= 20.17 and npm \
             on PATH (e.g. `apt-get install nodejs npm`); it is mandatory and never skipped."
        ),
    }
}

/// The exact versions package.json pins for `PACKAGES`.
pub fn pinned_versions(dir: &Path) -> Vec<(String, String)> {
    let manifest =
        read_json(&dir.join("package.json")).expect("reading tests/interop/package.json");
    PACKAGES
        .iter()
        .map(|p| {
            let v = manifest["dependencies"][*p]
                .as_str()
                .unwrap_or_else(|| panic!("tests/interop/package.json does not pin {p}"));
            (p.to_string(), v.to_owned())
        })
        .collect()
}

/// Runs `npm ci` unless node_modules already holds exactly the pinned versions.
pub fn install_packages(dir: &Path) {
    let pins = pinned_versions(dir);
    let installed = |p: &str| {
        read_json(&dir.join("node_modules").join(p).join("package.json"))
            .and_then(|m| m["version"].as_str().map(str::to_owned))
    };
    if pins.iter().all(|(p, v)| installed(p).as_deref() == Some(v)) {
        return;
    }
    require_tool("npm");
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running npm ci");
    assert!(
        out.status.success(),
        "`npm ci --no-audit --no-fund` failed in {} ({}):\n{}{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (p, v) in &pins {
        assert_eq!(
            installed(p).as_deref(),
            Some(v.as_str()),
            "{p} after npm ci"
        );
    }
}

/// Runs a script of tests/interop with a time limit; returns (success, stdout, stderr).
pub fn run_node(dir: &Path, script: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // @sigstore/sign's HTTP client honours proxy variables; the server is on loopback.
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "PROXY",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("starting node");
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + NODE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for node") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap();
    let mut stderr = err_reader.join().unwrap();
    if status.is_none() {
        stderr.push_str(&format!(
            "\n[test harness: node did not finish within {} s; killed]\n",
            NODE_TIMEOUT.as_secs()
        ));
    }
    (status.is_some_and(|s| s.success()), stdout, stderr)
}
