//! The TUF repository under `/tuf/` (docs/tuf.md) against python-tuf's ngclient — the TUF client
//! sigstore-python uses — run by tests/tuf/client.py on a real socket: bootstrap from the first
//! root, both refreshes around `arkivo shard rotate --new-key`, a bundle signed after the rotation
//! verified with the refreshed trusted root, tampering through a proxy (tests/common/proxy.rs),
//! an offline root rotation, and `arkivo tuf export` byte for byte.
//!
//! python-tuf must be installed (scripts/setup puts it in a venv; `ARKIVO_PYTHON` names another
//! interpreter): this test fails, never skips, without it.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::proxy::Proxy;
use common::tuf::refresh;
use common::{EntrySigner, TestServer, path, post_entry, run_arkivo};
use serde_json::Value;

async fn get(url: &str) -> (u16, HashMap<String, String>, Vec<u8>) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    let file = dir.join("arkivo.toml");
    std::fs::write(&file, extra).unwrap();
    file
}

fn ok(run: &common::Run, what: &str) {
    assert_eq!(
        run.code, 0,
        "{what} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
}

/// Signs `file` in `dir` with a new key through the log, writing `bundle`.
fn sign_blob(dir: &Path, url: &str, prefix: &str, file: &str, bundle: &str) {
    let nopw = [("ARKIVO_PASSWORD", "")];
    let run = run_arkivo(
        Some(dir),
        &[
            "keygen",
            "--algorithm",
            "ecdsa-p256",
            "--output-prefix",
            prefix,
        ],
        &nopw,
    );
    ok(&run, "keygen");
    std::fs::write(dir.join(file), prefix.as_bytes()).unwrap();
    let key = format!("{prefix}.key");
    let run = run_arkivo(
        Some(dir),
        &[
            "sign-blob",
            "--key",
            &key,
            "--rekor-url",
            url,
            "--bundle",
            bundle,
            file,
        ],
        &nopw,
    );
    ok(&run, "sign-blob");
}

/// `arkivo verify-blob` of a bundle against a trusted root file only.
fn verify_blob(dir: &Path, prefix: &str, file: &str, bundle: &str, trusted_root: &Path) -> bool {
    let public = format!("{prefix}.pub");
    let args = [
        "verify-blob",
        "--key",
        &public,
        "--bundle",
        bundle,
        "--trusted-root",
        path(trusted_root),
        file,
    ];
    run_arkivo(Some(dir), &args, &[]).code == 0
}

#[tokio::test(flavor = "multi_thread")]
async fn python_tuf_follows_a_key_rotation_and_verifies_the_new_keys_bundles() {
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (status, headers, root) = get(&format!("{base}/tuf/1.root.json")).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    std::fs::write(w.join("root.json"), &root).unwrap();
    let tuf = format!("{base}/tuf");

    let first = refresh(w, &tuf, Some(&w.join("root.json"))).unwrap();
    assert_eq!(first["root"], 1);
    assert_eq!(first["targets"], 1);
    let served = get(&format!("{base}/api/v1/log/trustedRoot")).await.2;
    let fetched = std::fs::read(w.join("dl/trusted_root.json")).unwrap();
    assert_eq!(
        fetched, served,
        "the target is the served trusted root, byte for byte"
    );
    std::fs::copy(w.join("dl/trusted_root.json"), w.join("before.json")).unwrap();

    let (_, headers, _) = get(&format!("{base}/tuf/timestamp.json")).await;
    assert_eq!(headers["cache-control"], "no-cache");
    for hostile in [
        "/tuf/",
        "/tuf/../keys/timestamp.pem",
        "/tuf/targets/",
        "/tuf/2.root.json",
    ] {
        assert_eq!(get(&format!("{base}{hostile}")).await.0, 404, "{hostile}");
    }

    // A rotation needs an entry to freeze.
    let client = reqwest::Client::new();
    post_entry(&client, &base, &EntrySigner::new(), b"before the rotation").await;
    common::rotate(server.data_dir(), true);
    sign_blob(w, &base, "after", "after.txt", "after.bundle");

    let second = refresh(w, &tuf, None).unwrap();
    assert_eq!(second["targets"], 2, "{second}");
    let fetched = std::fs::read(w.join("dl/trusted_root.json")).unwrap();
    let served = get(&format!("{base}/api/v1/log/trustedRoot")).await.2;
    assert_eq!(fetched, served);
    let new_key = get(&format!("{base}/api/v1/log/publicKey")).await.2;
    let new_key = String::from_utf8(new_key).unwrap();
    let spki: String = new_key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(
        String::from_utf8_lossy(&fetched).contains(&spki),
        "the refreshed trusted root lists the new key"
    );
    assert!(
        !String::from_utf8_lossy(&std::fs::read(w.join("before.json")).unwrap()).contains(&spki)
    );
    let refreshed = w.join("dl/trusted_root.json");
    assert!(verify_blob(
        w,
        "after",
        "after.txt",
        "after.bundle",
        &refreshed
    ));
    assert!(
        !verify_blob(
            w,
            "after",
            "after.txt",
            "after.bundle",
            &w.join("before.json")
        ),
        "the trusted root from before the rotation does not know the new key"
    );

    // The export is what /tuf/ serves, byte for byte.
    let out = w.join("export");
    let run = run_arkivo(
        None,
        &[
            "tuf",
            "export",
            path(&out),
            "--data-dir",
            path(server.data_dir()),
        ],
        &[],
    );
    ok(&run, "tuf export");
    let mut n = 0;
    for sub in ["", "targets"] {
        for entry in std::fs::read_dir(out.join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let name = entry
                    .path()
                    .strip_prefix(&out)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                let (status, _, body) = get(&format!("{tuf}/{name}")).await;
                assert_eq!(status, 200, "{name}");
                assert_eq!(body, std::fs::read(entry.path()).unwrap(), "{name}");
                n += 1;
            }
        }
    }
    assert!(
        n >= 8,
        "root ×2, targets ×2, snapshot ×2, timestamp, trusted roots: {n}"
    );
}

/// Answers to swap in, by request path.
type Swaps = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// A proxy in front of `base` that answers the paths in the returned map with their bodies.
fn tampering(base: &str) -> (Proxy, Swaps) {
    let swaps: Swaps = Arc::default();
    let s = swaps.clone();
    let proxy = Proxy::start(base, move |path, _| s.lock().unwrap().get(path).cloned());
    (proxy, swaps)
}

#[tokio::test(flavor = "multi_thread")]
async fn python_tuf_refuses_a_tampered_target_an_expired_timestamp_and_rollbacks() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "tuf_timestamp_expiry_secs = 4\n");
    let server = TestServer::start(&["--config", path(&cfg)]);
    let base = server.base_url();
    let (proxy, swaps) = tampering(&base);
    let tuf = format!("{}/tuf", proxy.base_url());
    let root = get(&format!("{base}/tuf/1.root.json")).await.2;
    let w = dir.path();
    std::fs::write(w.join("root.json"), &root).unwrap();
    let fresh = |name: &str| {
        let d = w.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };

    // A changed target.
    let targets: Value =
        serde_json::from_slice(&get(&format!("{base}/tuf/1.targets.json")).await.2).unwrap();
    let hash = targets["signed"]["targets"]["trusted_root.json"]["hashes"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let target_path = format!("/tuf/targets/{hash}.trusted_root.json");
    let mut changed = get(&format!("{base}{target_path}")).await.2;
    let at = changed.len() / 2;
    changed[at] ^= 1;
    swaps.lock().unwrap().insert(target_path.clone(), changed);
    let err = refresh(&fresh("changed"), &tuf, Some(&w.join("root.json"))).unwrap_err();
    assert!(err.contains("hash") || err.contains("length"), "{err}");
    swaps.lock().unwrap().clear();

    // A client that trusts the current versions...
    let trusting = fresh("trusting");
    let now = refresh(&trusting, &tuf, Some(&w.join("root.json"))).unwrap();
    let (t1, s1) = (
        get(&format!("{base}/tuf/timestamp.json")).await.2,
        get(&format!("{base}/tuf/1.snapshot.json")).await.2,
    );
    let targets1 = get(&format!("{base}/tuf/1.targets.json")).await.2;
    // ... after the timestamp was re-signed (half of 4 s, checked every second) and the trust
    // material changed (a rotation: targets and snapshot 2).
    post_entry(&reqwest::Client::new(), &base, &EntrySigner::new(), b"x").await;
    common::rotate(server.data_dir(), true);
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(get(&format!("{base}/tuf/2.targets.json")).await.0, 200);

    // The old timestamp, replayed: expired, and older than the trusted one.
    swaps
        .lock()
        .unwrap()
        .insert("/tuf/timestamp.json".into(), t1.clone());
    let err = refresh(&fresh("expired"), &tuf, Some(&w.join("root.json"))).unwrap_err();
    assert!(err.contains("expired"), "{err}");
    let err = refresh(&trusting, &tuf, None).unwrap_err();
    assert!(err.contains("expired") || err.contains("version"), "{err}");
    swaps.lock().unwrap().clear();

    // A rollback of the snapshot or of the targets under the current timestamp.
    swaps
        .lock()
        .unwrap()
        .insert("/tuf/2.snapshot.json".into(), s1);
    let err = refresh(
        &fresh("snapshot-rollback"),
        &tuf,
        Some(&w.join("root.json")),
    )
    .unwrap_err();
    assert!(
        err.contains("hash") || err.contains("length") || err.contains("version"),
        "{err}"
    );
    swaps.lock().unwrap().clear();
    swaps
        .lock()
        .unwrap()
        .insert("/tuf/2.targets.json".into(), targets1);
    let err = refresh(&fresh("targets-rollback"), &tuf, Some(&w.join("root.json"))).unwrap_err();
    assert!(err.contains("version"), "{err}");
    swaps.lock().unwrap().clear();

    // Untampered, the trusting client moves on.
    let later = refresh(&trusting, &tuf, None).unwrap();
    assert!(
        later["timestamp"].as_u64() > now["timestamp"].as_u64(),
        "{later}"
    );
    assert_eq!(later["targets"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_rotated_offline_is_accepted_by_clients_of_the_old_root() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let data = w.join("data");
    let port = common::free_port();
    let mut server = TestServer::start_in(&data, port, &[]);
    let base = server.base_url();
    let root1 = get(&format!("{base}/tuf/1.root.json")).await.2;
    std::fs::write(w.join("root.json"), &root1).unwrap();
    // The root key goes offline: out of the data directory, then a restart.
    server.kill();
    let offline = w.join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    std::fs::rename(data.join("tuf/keys/root-1.pem"), offline.join("root-1.pem")).unwrap();
    let server = TestServer::start_in(&data, port, &[]);
    let (proxy, swaps) = tampering(&base);
    let tuf = format!("{}/tuf", proxy.base_url());
    let client = w.join("client");
    let before = refresh(&client, &tuf, Some(&w.join("root.json"))).unwrap();
    assert_eq!(before["root"], 1);

    let arkivo = |args: &[&str]| {
        let run = run_arkivo(Some(w), args, &[]);
        ok(&run, &args.join(" "));
        run.stdout
    };
    // A new root key (offline) and a new timestamp key (online, in the data directory).
    let root2_pub = arkivo(&["tuf", "new-key", path(&offline.join("root-2.pem"))]);
    std::fs::write(w.join("root-2.pub"), root2_pub).unwrap();
    let ts_pub = arkivo(&[
        "tuf",
        "new-key",
        path(&data.join("tuf/keys/timestamp-2.pem")),
    ]);
    std::fs::write(w.join("timestamp-2.pub"), ts_pub).unwrap();
    arkivo(&[
        "tuf",
        "new-root",
        "--data-dir",
        path(&data),
        "--out",
        "2.root.json",
        "--root-key",
        "root-2.pub",
        "--timestamp-key",
        "timestamp-2.pub",
    ]);
    // Signed by the new key only: refused, the clients of version 1 would refuse it.
    std::fs::copy(w.join("2.root.json"), w.join("new-only.json")).unwrap();
    arkivo(&[
        "tuf",
        "sign-root",
        "new-only.json",
        "--key",
        path(&offline.join("root-2.pem")),
    ]);
    let run = run_arkivo(
        Some(w),
        &[
            "tuf",
            "install-root",
            "new-only.json",
            "--data-dir",
            path(&data),
        ],
        &[],
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("root version 1"), "{}", run.stderr);
    arkivo(&[
        "tuf",
        "sign-root",
        "2.root.json",
        "--key",
        path(&offline.join("root-1.pem")),
        "--key",
        path(&offline.join("root-2.pem")),
    ]);
    arkivo(&[
        "tuf",
        "install-root",
        "2.root.json",
        "--data-dir",
        path(&data),
    ]);
    // python-tuf refuses the one signed by the new key only, served in place of version 2.
    swaps.lock().unwrap().insert(
        "/tuf/2.root.json".into(),
        std::fs::read(w.join("new-only.json")).unwrap(),
    );
    let err = refresh(&w.join("other"), &tuf, Some(&w.join("root.json"))).unwrap_err();
    assert!(
        err.contains("unsignedmetadata") || err.contains("signed by"),
        "{err}"
    );
    swaps.lock().unwrap().clear();
    let after = refresh(&client, &tuf, None).unwrap();
    assert_eq!(after["root"], 2, "{after}");
    assert!(after["timestamp"].as_u64() > before["timestamp"].as_u64());
    let timestamp: Value =
        serde_json::from_slice(&get(&format!("{base}/tuf/timestamp.json")).await.2).unwrap();
    let root2: Value =
        serde_json::from_slice(&get(&format!("{base}/tuf/2.root.json")).await.2).unwrap();
    assert_eq!(
        timestamp["signatures"][0]["keyid"], root2["signed"]["roles"]["timestamp"]["keyids"][0],
        "the timestamp is signed with the new key"
    );
    drop(server);
}

/// A TSA key change: the server runs with one TSA key file, then is restarted with another.
/// python-tuf refreshes to a trusted root listing the new TSA and the old one, valid until the
/// change (as a frozen shard's key is), so a timestamp the old TSA made before still verifies
/// with the refreshed trusted root — and not with the new TSA alone.
#[tokio::test(flavor = "multi_thread")]
async fn python_tuf_follows_a_tsa_key_change() {
    use arkivo_core::entries::pki::HashAlg;
    use arkivo_core::tsa::{TrustedTsa, verify_response};
    use arkivo_core::wire::CertificateAuthority;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (old, new) = (w.join("old-tsa"), w.join("new-tsa"));
    for dir in [&old, &new] {
        std::fs::create_dir(dir).unwrap();
        common::openssl_tsa_chain(dir, common::TSA_LEAF_EXTENSIONS);
    }
    let data = w.join("data");
    let port = common::free_port();
    let start = |tsa: &Path| {
        let (key, chain) = (tsa.join("leaf.key"), tsa.join("chain.pem"));
        TestServer::start_in(
            &data,
            port,
            &["--tsa-key", path(&key), "--tsa-cert-chain", path(&chain)],
        )
    };
    // The leaf certificate of a chain made above, base64 DER as a trusted root holds it.
    let leaf = |tsa: &Path| {
        let pem = std::fs::read_to_string(tsa.join("leaf.pem")).unwrap();
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    let refreshed_tsas = || -> Vec<CertificateAuthority> {
        let root: Value =
            serde_json::from_slice(&std::fs::read(w.join("dl/trusted_root.json")).unwrap())
                .unwrap();
        serde_json::from_value(root["timestampAuthorities"].clone()).unwrap()
    };

    let mut server = start(&old);
    let (base, tuf) = (server.base_url(), format!("{}/tuf", server.base_url()));
    let (_, _, root) = get(&format!("{tuf}/1.root.json")).await;
    std::fs::write(w.join("root.json"), root).unwrap();
    refresh(w, &tuf, Some(&w.join("root.json"))).unwrap();
    let tsas = refreshed_tsas();
    assert_eq!(tsas.len(), 1);
    assert_eq!(tsas[0].cert_chain.certificates[0].raw_bytes, leaf(&old));
    // A timestamp by the old TSA.
    std::fs::write(w.join("artifact"), b"timestamped before the change").unwrap();
    common::openssl(
        w,
        &[
            "ts",
            "-query",
            "-data",
            "artifact",
            "-sha256",
            "-cert",
            "-no_nonce",
            "-out",
            "req.tsq",
        ],
    );
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/timestamp"))
        .header("content-type", "application/timestamp-query")
        .body(std::fs::read(w.join("req.tsq")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let old_timestamp = res.bytes().await.unwrap();
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");

    let changed = common::unix_now();
    let _server = start(&new);
    refresh(w, &tuf, None).unwrap();
    let tsas = refreshed_tsas();
    assert_eq!(tsas.len(), 2, "{tsas:?}");
    assert_eq!(tsas[0].cert_chain.certificates[0].raw_bytes, leaf(&old));
    assert_eq!(tsas[1].cert_chain.certificates[0].raw_bytes, leaf(&new));
    let end = tsas[0].valid_for.as_ref().unwrap().end.clone().unwrap();
    let end = humantime::parse_rfc3339(&end)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let end = i64::try_from(end).unwrap();
    assert!(
        (changed..=changed + 30).contains(&end),
        "the old TSA is valid until {end}, not when it was replaced ({changed})"
    );
    let digest = <sha2::Sha256 as sha2::Digest>::digest(b"timestamped before the change");
    let trusted: Vec<TrustedTsa> = tsas
        .iter()
        .map(|a| TrustedTsa::from_authority(a).unwrap())
        .collect();
    let verified = verify_response(&old_timestamp, HashAlg::Sha256, &digest, None, &trusted)
        .expect("the old TSA's timestamp verifies with the refreshed trusted root");
    assert!(i64::try_from(verified.gen_time).unwrap() <= end);
    assert!(
        verify_response(
            &old_timestamp,
            HashAlg::Sha256,
            &digest,
            None,
            &trusted[1..]
        )
        .is_err(),
        "the new TSA alone verified the old TSA's timestamp"
    );
}

/// The repository's files on disk, by path (metadata and `targets/`).
fn repository_files(data_dir: &Path) -> Vec<String> {
    let dir = data_dir.join("tuf/repository");
    let mut names = Vec::new();
    for sub in ["", "targets"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if entry.file_type().unwrap().is_file() && !name.starts_with('.') {
                names.push(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    names.sort();
    names
}

/// What `keep` older snapshot versions before `snapshot` keep, read from the files: those
/// snapshots, the targets versions they name and the target files those name, every root.
fn expected_files(data_dir: &Path, snapshot: u64, keep: u64) -> Vec<String> {
    let dir = data_dir.join("tuf/repository");
    let json = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
    };
    let mut names = vec!["root.json".to_owned(), "timestamp.json".to_owned()];
    names.extend(
        repository_files(data_dir)
            .into_iter()
            .filter(|n| n.ends_with(".root.json")),
    );
    for s in snapshot - keep..=snapshot {
        names.push(format!("{s}.snapshot.json"));
        let t = json(&format!("{s}.snapshot.json"))["signed"]["meta"]["targets.json"]["version"]
            .as_u64()
            .unwrap();
        let targets = format!("{t}.targets.json");
        if !names.contains(&targets) {
            for (name, target) in json(&targets)["signed"]["targets"].as_object().unwrap() {
                let hash = target["hashes"]["sha256"].as_str().unwrap();
                let file = format!("targets/{hash}.{name}");
                if !names.contains(&file) {
                    names.push(file);
                }
            }
            names.push(targets);
        }
    }
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn old_tuf_versions_are_pruned_and_clients_still_refresh() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let data = w.join("data");
    let port = common::free_port();
    let cfg = config(w, "tuf_keep_versions = 2\n");
    let mut server = TestServer::start_in(&data, port, &["--config", path(&cfg)]);
    let base = server.base_url();
    let tuf = format!("{base}/tuf");
    let (_, _, root) = get(&format!("{tuf}/1.root.json")).await;
    let bootstrap = w.join("1.root.json");
    std::fs::write(&bootstrap, root).unwrap();
    // A client that refreshes before all the publishes and again after them.
    let early = refresh(&w.join("early"), &tuf, Some(&bootstrap)).unwrap();
    assert_eq!(early["snapshot"], 1, "{early}");
    let first = repository_files(&data);

    // Each rotation publishes a new trusted root: targets, snapshot and timestamp versions.
    let client = reqwest::Client::new();
    for i in 0..5 {
        post_entry(
            &client,
            &base,
            &EntrySigner::new(),
            format!("entry {i}").as_bytes(),
        )
        .await;
        common::rotate(&data, true);
    }
    let late = refresh(&w.join("late"), &tuf, Some(&bootstrap)).unwrap();
    assert_eq!(late["root"], 1, "{late}");
    assert_eq!(late["snapshot"], 6, "{late}");
    assert_eq!(late["targets"], 6, "{late}");
    let kept = repository_files(&data);
    assert_eq!(kept, expected_files(&data, 6, 2));
    for name in [
        "1.snapshot.json",
        "3.snapshot.json",
        "1.targets.json",
        "3.targets.json",
    ] {
        assert!(
            !kept.contains(&name.to_owned()),
            "{name} was kept: {kept:?}"
        );
    }
    assert!(kept.contains(&"4.snapshot.json".to_owned()), "{kept:?}");
    let old_trusted_root = first
        .iter()
        .find(|n| n.ends_with(".trusted_root.json"))
        .unwrap();
    assert!(!kept.contains(old_trusted_root), "{kept:?}");
    // What is served is what is on disk: the pruned files are gone from /tuf/ too.
    for name in &first {
        let status = get(&format!("{tuf}/{name}")).await.0;
        assert_eq!(
            status,
            if kept.contains(name) { 200 } else { 404 },
            "{name}"
        );
    }
    for name in &kept {
        let (status, _, body) = get(&format!("{tuf}/{name}")).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(
            body,
            std::fs::read(data.join("tuf/repository").join(name)).unwrap()
        );
    }
    // The client of version 1 refreshes to the newest; one that refreshed since still does.
    let early = refresh(&w.join("early"), &tuf, None).unwrap();
    assert_eq!(early["targets"], 6, "{early}");
    let served = get(&format!("{base}/api/v1/log/trustedRoot")).await.2;
    assert_eq!(
        std::fs::read(w.join("early/dl/trusted_root.json")).unwrap(),
        served
    );
    refresh(&w.join("late"), &tuf, None).unwrap();

    // A smaller setting takes effect at the next start, before anything is published.
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    let _server = TestServer::start_in(
        &data,
        port,
        &["--config", path(&cfg), "--tuf-keep-versions", "1"],
    );
    assert_eq!(repository_files(&data), expected_files(&data, 6, 1));
    let again = refresh(&w.join("early"), &tuf, None).unwrap();
    assert_eq!(again["snapshot"], 6, "{again}");
    let fresh = refresh(&w.join("fresh"), &tuf, Some(&bootstrap)).unwrap();
    assert_eq!(fresh["targets"], 6, "{fresh}");
}
