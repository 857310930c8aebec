//! HTTPS with `--tls-cert`/`--tls-key` (rustls): a client that trusts the certificate is served;
//! plain HTTP on the same port is not.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    server_certificate(dir.path());
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    let port = common::free_port();
    let data = dir.path().join("data");
    let _server = common::TestServer::spawn(
        &data,
        port,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/api/v1/log");
    let deadline = Instant::now() + Duration::from_secs(30);
    let info: serde_json::Value = loop {
        match client.get(&url).send().await {
            Ok(res) => break res.json().await.unwrap(),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no HTTPS answer: {e}"),
        }
    };
    assert_eq!(info["treeSize"], 0);
    // The trusted root names the https URL.
    let root: serde_json::Value = common::get_json(
        &client,
        format!("https://127.0.0.1:{port}/api/v1/log/trustedRoot"),
    )
    .await;
    assert_eq!(
        root["tlogs"][0]["baseUrl"],
        format!("https://127.0.0.1:{port}")
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/api/v1/log"))
            .await
            .is_err()
    );
    // A client that does not trust the certificate is refused.
    assert!(reqwest::get(&url).await.is_err());
}

/// The server's certificate for 127.0.0.1 (`server.pem`) and its key (`server.key`) in `dir`.
fn server_certificate(dir: &std::path::Path) {
    let extensions = [
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        // An end-entity certificate: webpki refuses a CA certificate as a server's.
        "-addext",
        "basicConstraints=critical,CA:FALSE",
    ];
    common::self_signed_p256(
        dir,
        "/CN=127.0.0.1",
        &extensions,
        "server.key",
        "server.pem",
    );
}

/// A CA (`<name>-ca.pem`) and a client certificate it issued, with its key, in one PEM file
/// (`<name>-client.pem`), as reqwest's `Identity::from_pem` takes it.
fn client_ca_and_certificate(dir: &std::path::Path, name: &str) {
    let (ca_key, ca) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
    common::self_signed_p256(dir, "/CN=writers CA", &[], &ca_key, &ca);
    let (key, csr, cert) = (
        format!("{name}-client.key"),
        format!("{name}-client.csr"),
        format!("{name}-client.crt"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut args = vec!["req", "-new", "-subj", "/CN=ci-runner"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr]);
    common::openssl(dir, &args);
    let ext = dir.join(format!("{name}-ext.cnf"));
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    common::openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-extfile",
            ext.to_str().unwrap(),
        ],
    );
    let pem = [
        std::fs::read(dir.join(&cert)).unwrap(),
        std::fs::read(dir.join(&key)).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join(format!("{name}-client.pem")), pem).unwrap();
}

/// Mutual TLS (`--tls-client-ca`): a client certificate from the client CA lets a request write;
/// without one reads are served and writes get 401; a certificate from another CA is refused at
/// the handshake; with `--write-tokens` as well, a token also lets a request write.
#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_from_the_client_ca_may_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    server_certificate(d);
    client_ca_and_certificate(d, "ours");
    client_ca_and_certificate(d, "theirs");
    let (token, digest) = {
        let out = Command::new(env!("CARGO_BIN_EXE_arkivo"))
            .args(["token", "new"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let last = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit(' ').next())
                .unwrap()
                .to_owned()
        };
        (last("token"), last("line"))
    };
    std::fs::write(d.join("tokens"), format!("{digest}\n")).unwrap();

    let path = |f: &str| d.join(f).to_str().unwrap().to_owned();
    let server_ca =
        reqwest::Certificate::from_pem(&std::fs::read(d.join("server.pem")).unwrap()).unwrap();
    let client = |identity: Option<&str>| {
        let mut b = reqwest::Client::builder().add_root_certificate(server_ca.clone());
        if let Some(name) = identity {
            let pem = std::fs::read(d.join(format!("{name}-client.pem"))).unwrap();
            b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        b.build().unwrap()
    };
    let signer = common::EntrySigner::new();

    for with_tokens in [false, true] {
        let port = common::free_port();
        let mut flags = vec![
            "--tls-cert".to_owned(),
            path("server.pem"),
            "--tls-key".to_owned(),
            path("server.key"),
            "--tls-client-ca".to_owned(),
            path("ours-ca.pem"),
        ];
        if with_tokens {
            flags.extend(["--write-tokens".to_owned(), path("tokens")]);
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let _server =
            common::TestServer::spawn(&d.join(format!("data-{with_tokens}")), port, &flags);
        let base = format!("https://127.0.0.1:{port}");
        let anonymous = client(None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while anonymous
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "no HTTPS answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let write = |c: &reqwest::Client, artifact: &str| {
            c.post(format!("{base}/api/v1/log/entries"))
                .json(&signer.hashedrekord(format!("{artifact} {with_tokens}").as_bytes()))
        };
        // No certificate: reads are served, writes refused with a message naming what is needed.
        let res = anonymous
            .get(format!("{base}/api/v1/log"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = write(&anonymous, "anonymous").send().await.unwrap();
        assert_eq!(res.status(), 401);
        let msg: serde_json::Value = res.json().await.unwrap();
        assert!(
            msg["message"]
                .as_str()
                .unwrap()
                .contains("client certificate"),
            "{msg}"
        );
        // A certificate from the client CA writes.
        let res = write(&client(Some("ours")), "ours").send().await.unwrap();
        assert_eq!(res.status(), 201);
        // One from another CA does not even get a TLS session.
        assert!(
            write(&client(Some("theirs")), "theirs")
                .send()
                .await
                .is_err()
        );
        // A bearer token writes too when tokens are configured; a wrong one is 403.
        let res = write(&anonymous, "token")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), if with_tokens { 201 } else { 401 });
        if with_tokens {
            let res = write(&anonymous, "wrong")
                .bearer_auth("not-a-token")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403);
        }
    }
}

/// A TLS private key that group or others can read is refused at start, like the log's keys,
/// with the fix in the message; nothing is created.
#[test]
fn a_tls_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::self_signed_p256(d, "/CN=127.0.0.1", &[], "server.key", "server.pem");
    let key = d.join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let data = d.join("data");
    let err = common::refused_start(&[
        "--data-dir",
        common::path(&data),
        "--listen",
        "127.0.0.1:0",
        "--hostname",
        "log.test",
        "--tls-cert",
        common::path(&d.join("server.pem")),
        "--tls-key",
        common::path(&key),
    ]);
    assert!(err.contains("chmod 600"), "{err}");
    assert!(err.contains(common::path(&key)), "{err}");
    assert!(!data.exists(), "a refused start created the log");
}
