//! `rekord` 0.0.1 entries (rekor-v1-api.md §5a) through the running server over plain HTTP,
//! signed by OpenSSL (an independent implementation): EC P-256 and P-384 keys, RSA 2048,
//! Ed25519 and a self-signed certificate. Each entry is written, its answer verified with the
//! client's `verify_answer` (SET, checkpoint and inclusion proof with the log's key), read back
//! by UUID, found by the data's SHA-256, by the key and (the certificate's) by the email, and by
//! `retrieve` from the proposed entry itself; 8 MiB of data is logged (as its hash), a request
//! over the body limit is a 413. Refusals are 400s naming the problem, and write nothing.

mod common;

use std::path::Path;

use arkivo_client::rekor::{LogEntry, RekorClient};
use arkivo_client::trust::TrustedLog;
use arkivo_client::verify::{VerifyError, verify_answer};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::TestServer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// An OpenSSL key in `dir`, its PEM public key (or certificate) and how it signs.
struct Key {
    name: &'static str,
    key: String,
    verifier: String,
    /// Ed25519 signs the data itself (`pkeyutl -rawin`); the others sign its SHA-256 (`dgst`).
    ed25519: bool,
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap()
}

fn keys(dir: &Path) -> Vec<Key> {
    let mut out = Vec::new();
    for (name, args) in [
        (
            "p256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        ),
        (
            "p384",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"][..],
        ),
        (
            "rsa2048",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
        ),
        ("ed25519", &["-algorithm", "ED25519"][..]),
    ] {
        let key = format!("{name}.key");
        let mut a = vec!["genpkey"];
        a.extend_from_slice(args);
        a.extend(["-out", &key]);
        common::openssl(dir, &a);
        let public = format!("{name}.pub");
        common::openssl(dir, &["pkey", "-in", &key, "-pubout", "-out", &public]);
        out.push(Key {
            name,
            key,
            verifier: read(dir, &public),
            ed25519: name == "ed25519",
        });
    }
    common::self_signed_p256(
        dir,
        "/CN=rekord",
        &["-addext", "subjectAltName=email:signer@example.org"],
        "cert.key",
        "cert.pem",
    );
    out.push(Key {
        name: "certificate",
        key: "cert.key".into(),
        verifier: read(dir, "cert.pem"),
        ed25519: false,
    });
    out
}

/// OpenSSL's signature of `data` with `key`, as rekor-cli's x509 signer makes it.
fn sign(dir: &Path, key: &Key, data: &[u8], extra: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("data"), data).unwrap();
    let mut args: Vec<&str> = if key.ed25519 {
        vec![
            "pkeyutl", "-sign", "-rawin", "-inkey", &key.key, "-in", "data",
        ]
    } else {
        vec!["dgst", "-sha256", "-sign", &key.key]
    };
    args.extend_from_slice(extra);
    args.extend(["-out", "sig"]);
    if !key.ed25519 {
        args.push("data");
    }
    common::openssl(dir, &args);
    std::fs::read(dir.join("sig")).unwrap()
}

fn rekord(format: &str, data: &[u8], sig: &[u8], pem: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "rekord", "spec": {
        "signature": {"format": format, "content": B64.encode(sig),
                      "publicKey": {"content": B64.encode(pem)}},
        "data": {"content": B64.encode(data)}}})
}

async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let res = http.post(url).json(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The body the log answered with records `data`'s SHA-256, `sig` and the x509 format, not the
/// data.
fn is_sent(body: &[u8], sha: &str, sig: &[u8]) -> Result<(), VerifyError> {
    let b: Value = serde_json::from_slice(body).map_err(|e| VerifyError::Body(e.to_string()))?;
    let ok = b["kind"] == "rekord"
        && b["spec"]["data"]["hash"] == json!({"algorithm": "sha256", "value": sha})
        && b["spec"]["data"].get("content").is_none()
        && b["spec"]["signature"]["format"] == "x509"
        && b["spec"]["signature"]["content"] == B64.encode(sig);
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Body(format!("another body: {b}")))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_signed_rekord_entries_are_logged_found_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let http = reqwest::Client::new();
    let client = RekorClient::new(&base).unwrap();
    let log_key = client.public_key(None).await.unwrap();
    let logs = [TrustedLog::from_public_key_pem(&log_key, "the log key").unwrap()];

    let all = keys(dir.path());
    for key in &all {
        let data = format!("rekord signed by openssl with {}\n", key.name).into_bytes();
        let sha = hex::encode(Sha256::digest(&data));
        let sig = sign(dir.path(), key, &data, &[]);
        let proposed = rekord("x509", &data, &sig, &key.verifier);
        let entry: LogEntry = client
            .create_entry(&proposed)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.name));
        verify_answer(&entry, &logs, |body| is_sent(body, &sha, &sig))
            .unwrap_or_else(|e| panic!("{}: {e}", key.name));
        let body = entry.body().unwrap();
        let leaf = hex::encode(
            Sha256::new()
                .chain_update([0u8])
                .chain_update(&body)
                .finalize(),
        );

        // Read back by UUID, the same entry.
        let again = client.get_by_uuid(&leaf).await.unwrap();
        assert_eq!(again.body().unwrap(), body, "{}", key.name);
        verify_answer(&again, &logs, |b| is_sent(b, &sha, &sig)).unwrap();

        // The same entry again: 409, the existing entry.
        let res = common::post_request(&http, &base, &proposed).await;
        assert_eq!(res.status(), 409, "{}", key.name);

        // Found by the data's hash, by the key (as hashedrekord entries are), by the email.
        let mut queries = vec![
            json!({"hash": format!("sha256:{sha}")}),
            json!({"hash": sha}),
            json!({"publicKey": {"format": "x509", "content": B64.encode(&key.verifier)}}),
        ];
        if key.name == "certificate" {
            queries.push(json!({"email": "signer@example.org"}));
        }
        for q in queries {
            let (status, found) =
                post_json(&http, &format!("{base}/api/v1/index/retrieve"), &q).await;
            assert_eq!(status, 200, "{q}: {found}");
            let found: Vec<&str> = found
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert!(
                found.iter().any(|f| f.ends_with(&leaf)),
                "{}: {q} found {found:?}",
                key.name
            );
        }
        // `retrieve` with the proposed entry finds it (§3.4).
        let (status, got) = post_json(
            &http,
            &format!("{base}/api/v1/log/entries/retrieve"),
            &json!({"entries": [proposed]}),
        )
        .await;
        assert_eq!(status, 200, "{got}");
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        let (id, _) = got[0].as_object().unwrap().iter().next().unwrap();
        assert!(id.ends_with(&leaf), "{id}");
    }

    // The data rides in the request body (32 MiB, so about 24 MiB of data): 8 MiB is logged,
    // and only its hash is stored; 25 MiB of data makes the request too large (413).
    let big = vec![0x5a; 8 << 20];
    let sig = sign(dir.path(), &all[0], &big, &[]);
    let entry = client
        .create_entry(&rekord("x509", &big, &sig, &all[0].verifier))
        .await
        .unwrap();
    let sha = hex::encode(Sha256::digest(&big));
    verify_answer(&entry, &logs, |body| is_sent(body, &sha, &sig)).unwrap();
    assert!(entry.body().unwrap().len() < 1024);
    let too_big = vec![0x5a; 25 << 20];
    let res = common::post_request(
        &http,
        &base,
        &rekord("x509", &too_big, &sig, &all[0].verifier),
    )
    .await;
    assert_eq!(res.status(), 413);

    // Refusals: 400 naming the problem; nothing written.
    let size = |info: Value| info["treeSize"].as_u64().unwrap();
    let before = size(common::get_json(&http, format!("{base}/api/v1/log")).await);
    let (p256, rsa) = (&all[0], &all[2]);
    let data = b"refused\n";
    let sig = sign(dir.path(), p256, data, &[]);
    let pss = sign(dir.path(), rsa, data, &["-sigopt", "rsa_padding_mode:pss"]);
    let mut hash_only = rekord("x509", data, &sig, &p256.verifier);
    hash_only["spec"]["data"] =
        json!({"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(data))}});
    let mut mismatch = rekord("x509", data, &sig, &p256.verifier);
    mismatch["spec"]["data"]["hash"] =
        json!({"algorithm": "sha256", "value": hex::encode(Sha256::digest(b"other"))});
    for (request, want) in [
        (
            rekord("pgp", data, &sig, &p256.verifier),
            "rekord with format pgp is not supported",
        ),
        (
            rekord("ssh", data, &sig, &p256.verifier),
            "rekord with format ssh is not supported",
        ),
        (
            rekord("x509", b"other\n", &sig, &p256.verifier),
            "verifying signature over data.content",
        ),
        (
            rekord("x509", data, &sig, &all[1].verifier),
            "verifying signature over data.content",
        ),
        (
            rekord("x509", data, &pss, &rsa.verifier),
            "crypto/rsa: verification error",
        ),
        (hash_only, "'content' must be specified for data"),
        (mismatch, "SHA mismatch"),
    ] {
        let (status, err) = post_json(&http, &format!("{base}/api/v1/log/entries"), &request).await;
        assert_eq!(status, 400, "{err}");
        let msg = err["message"].as_str().unwrap();
        assert!(msg.contains(want), "{msg} lacks {want}");
    }
    assert_eq!(
        size(common::get_json(&http, format!("{base}/api/v1/log")).await),
        before
    );
    drop(server);
}
