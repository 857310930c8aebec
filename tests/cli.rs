//! The `arkivo` command line: init, serve, config file, environment, and refusals.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn arkivo(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arkivo"))
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn init_creates_a_log_once_with_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, err) = arkivo(&["init", "--data-dir", d, "--hostname", "log.test"], &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains("created a new log") && err.contains("hostname log.test"),
        "{err}"
    );
    assert!(
        err.contains("-----BEGIN PUBLIC KEY-----"),
        "prints the log key: {err}"
    );
    for key in ["log-ecdsa-p256.pem", "log-ed25519.pem"] {
        let mode = std::fs::metadata(dir.path().join("keys").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
        let pem = std::fs::read_to_string(dir.path().join("keys").join(key)).unwrap();
        assert!(
            !err.contains(pem.lines().nth(1).unwrap()),
            "a private key was printed"
        );
    }
    let (ok, err) = arkivo(&["init", "--data-dir", d], &[]);
    assert!(!ok && err.contains("a log already exists"), "{err}");
    // Another hostname for an existing log is refused with a message saying why.
    let (ok, err) = arkivo(
        &[
            "serve",
            "--data-dir",
            d,
            "--hostname",
            "other.test",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert!(
        !ok && err.contains("created with hostname \"log.test\""),
        "{err}"
    );
}

#[test]
fn config_file_and_environment_override_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = dir.path().join("arkivo.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\nmax_batch = 64\n",
            dir.path().join("data").to_str().unwrap()
        ),
    )
    .unwrap();
    // The environment beats the file: a bad value there must be what is refused.
    let (ok, err) = arkivo(
        &["serve", "--config", config.to_str().unwrap()],
        &[("ARKIVO_MAX_BATCH", "0")],
    );
    assert!(!ok && err.contains("max_batch must be at least 1"), "{err}");
    let (ok, err) = arkivo(&["init"], &[("ARKIVO_CONFIG", config.to_str().unwrap())]);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("hostname 127.0.0.1:{port}")),
        "hostname defaults to the listen address: {err}"
    );
    assert!(dir.path().join("data/db").exists());

    std::fs::write(&config, "listen = \"127.0.0.1:1\"\nmax_bacth = 3\n").unwrap();
    let (ok, err) = arkivo(&["init", "--config", config.to_str().unwrap()], &[]);
    assert!(
        !ok && err.contains("max_bacth"),
        "an unknown field is named: {err}"
    );
}

#[test]
fn serve_refuses_to_start_with_a_readable_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(arkivo(&["init", "--data-dir", d, "--hostname", "log.test"], &[]).0);
    let key = dir.path().join("keys/log-ed25519.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, err) = arkivo(&["serve", "--data-dir", d, "--listen", "127.0.0.1:0"], &[]);
    assert!(!ok && err.contains("chmod 600"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn write_tokens_guard_writes_but_not_reads() {
    let out = Command::new(env!("CARGO_BIN_EXE_arkivo"))
        .args(["token", "new"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap()
            .trim()
            .to_owned()
    };
    let token = value("token (give it to the writer; it is not stored anywhere): ");
    let digest = value("line for the --write-tokens file: ");
    assert_eq!(digest.len(), 64);
    assert!(!digest.contains(&token));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, format!("# CI runners\n{digest}\n")).unwrap();
    let server = common::TestServer::start(&["--write-tokens", file.to_str().unwrap()]);
    let url = format!("{}/api/v1/log/entries", server.base_url());
    let client = reqwest::Client::new();
    let entry = serde_json::json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {}});
    let res = client.post(&url).json(&entry).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], 401);
    let res = client
        .post(&url)
        .bearer_auth("wrong")
        .json(&entry)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The right token gets through to validation (this entry is invalid: 400, not 401/403).
    let res = client
        .post(&url)
        .bearer_auth(&token)
        .json(&entry)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Reads stay public.
    assert_eq!(
        client
            .get(format!("{}/api/v1/log", server.base_url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A file holding a plaintext token instead of a digest is refused before anything starts.
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let data = dir.path().join("data");
    let (ok, err) = arkivo(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--write-tokens",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok && err.contains("line 1"), "{err}");
    assert!(!data.exists(), "nothing was created");
}

/// SIGHUP re-reads the write tokens file: a token added is accepted and one removed refused at
/// once; a bad file keeps the tokens from before, and the log says so.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_write_tokens() {
    let (old, old_digest) = arkivo_server::auth::new_token();
    let (new, new_digest) = arkivo_server::auth::new_token();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, format!("{old_digest}\n")).unwrap();
    let server = common::TestServer::start(&["--write-tokens", file.to_str().unwrap()]);
    let url = format!("{}/api/v1/log/entries", server.base_url());
    let client = reqwest::Client::new();
    // An invalid entry: 400 once the token is accepted, 403 when it is not.
    let entry = serde_json::json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {}});
    let status = |token: &str| {
        let req = client.post(&url).bearer_auth(token).json(&entry);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let hangup = |expect: &'static str| {
        let before = server.stderr().matches(expect).count();
        assert!(
            Command::new("kill")
                .args(["-HUP", &server.pid().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while server.stderr().matches(expect).count() == before {
            assert!(
                std::time::Instant::now() < deadline,
                "no {expect:?} after SIGHUP: {}",
                server.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    assert_eq!(status(&old).await, 400);
    assert_eq!(status(&new).await, 403);

    std::fs::write(&file, format!("{new_digest}\n")).unwrap();
    hangup("1 added, 1 removed");
    assert_eq!(status(&new).await, 400);
    assert_eq!(status(&old).await, 403);

    std::fs::write(&file, "not a digest\n").unwrap();
    hangup("keeping the 1 accepted before");
    assert!(server.stderr().contains("line 1"), "{}", server.stderr());
    assert_eq!(status(&new).await, 400);
    std::fs::remove_file(&file).unwrap();
    hangup("keeping the 1 accepted before");
    assert_eq!(status(&new).await, 400);
}
