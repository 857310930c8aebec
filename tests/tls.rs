//! HTTPS with `--tls-cert`/`--tls-key` (rustls): a client that trusts the certificate is served;
//! plain HTTP on the same port is not.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            // An end-entity certificate: webpki refuses a CA certificate as a server's.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl makes the test certificate");
    assert!(status.success());
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
    let root: serde_json::Value = client
        .get(format!("https://127.0.0.1:{port}/api/v1/log/trustedRoot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
