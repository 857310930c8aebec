//! The RFC 3161 timestamp authority of `arkivo serve` on a real socket, checked with an
//! independent implementation (`openssl ts -verify`) and with the core verifier, and the trust
//! material that points clients at it (trusted root, signing config, client trust config).

mod common;

use std::path::Path;
use std::process::Command;

use arkivo_core::entries::pki::HashAlg;
use arkivo_core::tsa::{TrustedTsa, verify_response};
use arkivo_core::wire::{ClientTrustConfig, SigningConfig, TrustedRoot};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{TestServer, openssl};

/// `openssl ts -verify` of `resp` with the extra arguments, against the chain in `dir`
/// (`root.pem` trusted, `leaf.pem` untrusted): whether it verified, and its output.
fn openssl_verify(dir: &Path, resp: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-in",
            resp,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "leaf.pem",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("Verification: OK"),
        text,
    )
}

/// Writes the served chain as `leaf.pem` and `root.pem` in `dir`; returns the PEM.
async fn fetch_chain(client: &reqwest::Client, base: &str, dir: &Path) -> String {
    let res = client
        .get(format!("{base}/api/v1/timestamp/certchain"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/pem-certificate-chain"
    );
    let pem = res.text().await.unwrap();
    let certs: Vec<&str> = pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(certs.len(), 2, "{pem}");
    std::fs::write(dir.join("leaf.pem"), certs[0]).unwrap();
    std::fs::write(dir.join("root.pem"), certs[1]).unwrap();
    pem
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/timestamp"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn timestamp_reply(res: reqwest::Response) -> Vec<u8> {
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/timestamp-reply");
    res.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn openssl_verifies_timestamps_and_refuses_tampered_ones() {
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fetch_chain(&client, &base, dir).await;
    std::fs::write(dir.join("data"), b"artifact").unwrap();
    std::fs::write(dir.join("other"), b"another artifact").unwrap();

    for (hash, cert) in [("-sha256", true), ("-sha384", false), ("-sha512", true)] {
        let mut args = vec!["ts", "-query", "-data", "data", hash, "-out", "req.tsq"];
        if cert {
            args.push("-cert");
        }
        openssl(dir, &args);
        let query = std::fs::read(dir.join("req.tsq")).unwrap();
        let reply =
            timestamp_reply(post(&client, &base, "application/timestamp-query", query).await).await;
        std::fs::write(dir.join("resp.tsr"), &reply).unwrap();
        let (ok, out) = openssl_verify(dir, "resp.tsr", &["-data", "data"]);
        assert!(ok, "{hash}: {out}");
        // The query checks the nonce and imprint too.
        let (ok, out) = openssl_verify(dir, "resp.tsr", &["-queryfile", "req.tsq"]);
        assert!(ok, "{hash}: {out}");
        // A changed imprint.
        let (ok, _) = openssl_verify(dir, "resp.tsr", &["-data", "other"]);
        assert!(!ok, "{hash}: another artifact verified");
        // Another nonce: a second query for the same data.
        openssl(
            dir,
            &["ts", "-query", "-data", "data", hash, "-out", "req2.tsq"],
        );
        let (ok, _) = openssl_verify(dir, "resp.tsr", &["-queryfile", "req2.tsq"]);
        assert!(!ok, "{hash}: another request's nonce verified");
        // A changed signature (its last byte).
        let mut bad = reply.clone();
        *bad.last_mut().unwrap() ^= 1;
        std::fs::write(dir.join("bad.tsr"), &bad).unwrap();
        let (ok, _) = openssl_verify(dir, "bad.tsr", &["-data", "data"]);
        assert!(!ok, "{hash}: a changed signature verified");
        // genTime in whole seconds (sigstore-js mis-parses fractions).
        let text = Command::new("openssl")
            .args(["ts", "-reply", "-in", "resp.tsr", "-text"])
            .current_dir(dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Status: Granted."), "{text}");
        assert!(text.contains("Policy OID: 1.3.6.1.4.1.57264.2"), "{text}");
        assert!(text.contains("Accuracy: 0x01 seconds"), "{text}");
        let time = text.lines().find(|l| l.starts_with("Time stamp:")).unwrap();
        assert!(!time.contains('.'), "{time}");
    }

    // sigstore-js's form: JSON, no certificates, no nonce; media-type parameters allowed.
    let digest = HashAlg::Sha256.digest(b"artifact");
    let body = serde_json::json!({"artifactHash": B64.encode(&digest), "hashAlgorithm": "sha256"});
    let reply = timestamp_reply(
        post(
            &client,
            &base,
            "application/json; charset=utf-8",
            body.to_string().into_bytes(),
        )
        .await,
    )
    .await;
    std::fs::write(dir.join("json.tsr"), &reply).unwrap();
    let (ok, out) = openssl_verify(dir, "json.tsr", &["-data", "data"]);
    assert!(ok, "{out}");

    // The core verifier, trusting the TSA the served trusted root lists.
    let root: TrustedRoot = serde_json::from_value(
        common::get_json(&client, format!("{base}/api/v1/log/trustedRoot")).await,
    )
    .unwrap();
    let tsas: Vec<TrustedTsa> = root
        .timestamp_authorities
        .iter()
        .map(|a| TrustedTsa::from_authority(a).unwrap())
        .collect();
    let v = verify_response(&reply, HashAlg::Sha256, &digest, None, &tsas).unwrap();
    assert!(v.gen_time.abs_diff(common::unix_now() as u64) < 60);
    let other = HashAlg::Sha256.digest(b"another artifact");
    assert!(verify_response(&reply, HashAlg::Sha256, &other, None, &tsas).is_err());
    let mut bad = reply.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(verify_response(&bad, HashAlg::Sha256, &digest, None, &tsas).is_err());
}

#[tokio::test]
async fn trust_material_lists_the_log_and_its_tsa() {
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let tmp = tempfile::tempdir().unwrap();
    let pem = fetch_chain(&client, &base, tmp.path()).await;

    let res = client
        .get(format!("{base}/api/v1/log/clientTrustConfig"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let config: ClientTrustConfig = res.json().await.unwrap();
    assert_eq!(
        config.media_type,
        "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
    );
    let root = &config.trusted_root;
    assert_eq!(
        root.media_type,
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    );
    let [tsa] = root.timestamp_authorities.as_slice() else {
        panic!("one TSA expected: {root:?}")
    };
    // Leaf first, root last: the served chain.
    let served: Vec<String> = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(|c| {
            let b64: String = c.lines().filter(|l| !l.starts_with("-----")).collect();
            b64
        })
        .collect();
    let listed: Vec<String> = tsa
        .cert_chain
        .certificates
        .iter()
        .map(|c| c.raw_bytes.clone())
        .collect();
    assert_eq!(listed, served);
    assert_eq!(tsa.subject.organization, "Arkivo");
    assert!(tsa.valid_for.as_ref().unwrap().start.is_some());

    let signing: SigningConfig = serde_json::from_value(
        common::get_json(&client, format!("{base}/api/v1/log/signingConfig")).await,
    )
    .unwrap();
    assert_eq!(signing, config.signing_config);
    assert_eq!(
        signing.media_type,
        "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    );
    let versions: Vec<(String, u32)> = signing
        .rekor_tlog_urls
        .iter()
        .map(|s| (s.url.clone(), s.major_api_version))
        .collect();
    assert_eq!(versions, [(base.clone(), 2), (base.clone(), 1)]);
    assert_eq!(signing.tsa_urls.len(), 1);
    assert_eq!(signing.tsa_urls[0].url, format!("{base}/api/v1/timestamp"));
    assert_eq!(signing.tsa_urls[0].major_api_version, 1);
    for config in [&signing.rekor_tlog_config, &signing.tsa_config] {
        assert_eq!(config.as_ref().unwrap().selector, "ANY");
    }
    // sigstore-python refuses a service without an operator (sigstore-services.md §1).
    let hostname = base.trim_start_matches("http://");
    for service in signing.rekor_tlog_urls.iter().chain(&signing.tsa_urls) {
        assert_eq!(service.operator, hostname, "{}", service.url);
    }
    // The validity starts at the log's creation, as the log key's does.
    assert_eq!(
        signing.rekor_tlog_urls[0].valid_for.start,
        root.tlogs[0].public_key.valid_for.as_ref().unwrap().start
    );
}

#[tokio::test]
async fn the_tsa_is_made_once_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let keys = tmp.path().join("keys");
    let first = {
        let _server = TestServer::start_in(tmp.path(), port, &[]);
        std::fs::read_to_string(keys.join("tsa-chain.pem")).unwrap()
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(keys.join("tsa-ecdsa-p256.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    {
        let _server = TestServer::start_in(tmp.path(), port, &[]);
        assert_eq!(
            std::fs::read_to_string(keys.join("tsa-chain.pem")).unwrap(),
            first
        );
    }
    // A key without its chain is refused, not replaced.
    std::fs::remove_file(keys.join("tsa-chain.pem")).unwrap();
    let run = common::run_arkivo(
        Some(tmp.path()),
        &[
            "serve",
            "--data-dir",
            tmp.path().to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
        &[],
    );
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("tsa-chain.pem"), "{}", run.stderr);
}

#[tokio::test]
async fn a_given_chain_is_checked_and_used() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::openssl_tsa_chain(dir, common::TSA_LEAF_EXTENSIONS);
    let key = dir.join("leaf.key");
    let chain = dir.join("chain.pem");
    let args = [
        "--tsa-key",
        key.to_str().unwrap(),
        "--tsa-cert-chain",
        chain.to_str().unwrap(),
        "--tsa-policy",
        "1.2.3.4",
    ];
    let server = TestServer::start(&args);
    let base = server.base_url();
    let client = reqwest::Client::new();
    let served = common::get_text(&client, format!("{base}/api/v1/timestamp/certchain")).await;
    assert!(
        served.contains(
            std::fs::read_to_string(dir.join("leaf.pem"))
                .unwrap()
                .lines()
                .nth(1)
                .unwrap()
        )
    );
    std::fs::write(dir.join("data"), b"x").unwrap();
    openssl(
        dir,
        &[
            "ts",
            "-query",
            "-data",
            "data",
            "-sha256",
            "-cert",
            "-tspolicy",
            "1.2.3.4",
            "-out",
            "q.tsq",
        ],
    );
    let reply = timestamp_reply(
        post(
            &client,
            &base,
            "application/timestamp-query",
            std::fs::read(dir.join("q.tsq")).unwrap(),
        )
        .await,
    )
    .await;
    std::fs::write(dir.join("r.tsr"), &reply).unwrap();
    let (ok, out) = openssl_verify(dir, "r.tsr", &["-queryfile", "q.tsq"]);
    assert!(ok, "{out}");
    // Another policy is refused.
    openssl(
        dir,
        &[
            "ts",
            "-query",
            "-data",
            "data",
            "-sha256",
            "-tspolicy",
            "1.2.3.5",
            "-out",
            "p.tsq",
        ],
    );
    let res = post(
        &client,
        &base,
        "application/timestamp-query",
        std::fs::read(dir.join("p.tsq")).unwrap(),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("policy 1.2.3.5"));
    drop(server);

    // A leaf whose timestamping usage is not critical: refused at start.
    let tmp2 = tempfile::tempdir().unwrap();
    common::openssl_tsa_chain(tmp2.path(), &["extendedKeyUsage=timeStamping"]);
    let (key, chain) = (tmp2.path().join("leaf.key"), tmp2.path().join("chain.pem"));
    let run = common::run_arkivo(
        Some(tmp2.path()),
        &[
            "serve",
            "--data-dir",
            tmp2.path().join("data").to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{}", common::free_port()),
            "--tsa-key",
            key.to_str().unwrap(),
            "--tsa-cert-chain",
            chain.to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("must be critical"), "{}", run.stderr);
}

#[tokio::test]
async fn write_tokens_cover_the_tsa() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tokens");
    std::fs::write(&file, format!("{}\n", "ab".repeat(32))).unwrap();
    let server = TestServer::start(&["--write-tokens", file.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let body =
        serde_json::json!({"artifactHash": B64.encode([0u8; 32]), "hashAlgorithm": "sha256"});
    let res = post(
        &client,
        &server.base_url(),
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(res.status(), 401);
    // The chain stays public.
    let res = client
        .get(format!("{}/api/v1/timestamp/certchain", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// A TSA key file that group or others can read is refused at start, with a message naming the
/// file and the fix.
#[test]
fn a_tsa_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::openssl_tsa_chain(dir, common::TSA_LEAF_EXTENSIONS);
    let key = dir.join("leaf.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = common::refused_start(&[
        "--data-dir",
        common::path(&dir.join("data")),
        "--listen",
        "127.0.0.1:0",
        "--hostname",
        "log.test",
        "--tsa-key",
        common::path(&key),
        "--tsa-cert-chain",
        common::path(&dir.join("chain.pem")),
    ]);
    assert!(err.contains(common::path(&key)), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}
