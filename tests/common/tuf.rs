//! python-tuf's ngclient — the TUF client sigstore-python uses — run by tests/tuf/client.py
//! against a server's `/tuf/`. python-tuf must be installed (scripts/setup puts it in a venv;
//! `ARKIVO_PYTHON` names another interpreter): the tests that use it fail, never skip, without it.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{path, python};

/// One refresh by python-tuf of the repository at `url` with the metadata kept in `work/md`
/// (bootstrapped from `root` the first time), downloading the targets into `work/dl`: its
/// trusted versions, or its error message.
pub fn refresh(work: &Path, url: &str, root: Option<&Path>) -> Result<Value, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tuf/client.py");
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .args(["--download-dir", path(&work.join("dl"))]);
    if let Some(root) = root {
        cmd.args(["--root", path(root)]);
    }
    cmd.arg(path(&work.join("md")))
        .arg(url)
        .arg("trusted_root.json");
    let out = cmd.output().expect("running python");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        // "<python-tuf error class>: <message>", lowercased for the checks.
        return Err(stderr.to_lowercase());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}")))
}
