//! Crash safety of the real server process: concurrent writers, SIGKILL at random moments
//! (also during start-up and shutdown), restart, and then every acknowledged entry must be
//! present at the index it was given with the same body, no index may have been given twice,
//! and every checkpoint any client was shown must be consistent with the final tree.
//!
//! `ARKIVO_CRASH_CYCLES` sets the number of kill/restart cycles (default 20; docs/testing.md
//! documents a longer run).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arkivo_core::checkpoint::{Checkpoint, verify_v1};
use arkivo_core::merkle::{self, Hash};
use arkivo_core::wire::{ConsistencyProof, LogEntry, LogInfo};
use common::TestServer;
use p256::pkcs8::DecodePublicKey;

#[derive(Default)]
struct Seen {
    /// log index → (entry ID, base64 body) of every acknowledged entry.
    acked: BTreeMap<u64, (String, String)>,
    /// Every checkpoint a client was shown.
    checkpoints: Vec<String>,
    /// Every acknowledged proposed entry, to re-post after the crashes.
    proposed: Vec<(u64, serde_json::Value)>,
}

/// Writers post unique entries until the server dies; every 201 is recorded.
async fn write_until_killed(base: String, seen: Arc<Mutex<Seen>>, cycle: usize, writers: usize) {
    let signer = Arc::new(common::EntrySigner::new());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (base, seen, signer, client) =
            (base.clone(), seen.clone(), signer.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let entry = signer.hashedrekord(
                    format!(
                        "{cycle}/{w}/{n}/{}",
                        rand_core::RngCore::next_u64(&mut rand_core::OsRng)
                    )
                    .as_bytes(),
                );
                let Ok(res) = client
                    .post(format!("{base}/api/v1/log/entries"))
                    .json(&entry)
                    .send()
                    .await
                else {
                    return;
                };
                let status = res.status().as_u16();
                let Ok(body) = res.bytes().await else { return };
                match status {
                    201 => {
                        let e: LogEntry = serde_json::from_slice(&body).unwrap();
                        let (id, e) = e.into_iter().next().unwrap();
                        let mut s = seen.lock().unwrap();
                        let prev = s.acked.insert(e.log_index, (id.clone(), e.body.clone()));
                        assert!(
                            prev.is_none_or(|p| p.0 == id),
                            "index {} given twice",
                            e.log_index
                        );
                        s.checkpoints
                            .push(e.verification.inclusion_proof.checkpoint);
                        s.proposed.push((e.log_index, entry));
                    }
                    503 => tokio::time::sleep(Duration::from_millis(5)).await,
                    other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body)),
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_concurrent_writes_loses_nothing_acknowledged() {
    let cycles: usize = std::env::var("ARKIVO_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let seen = Arc::new(Mutex::new(Seen::default()));

    for cycle in 0..cycles {
        let mut server = TestServer::start_in(dir.path(), port, &["--max-batch-age-ms", "2"]);
        let writers = tokio::spawn(write_until_killed(
            server.base_url(),
            seen.clone(),
            cycle,
            16,
        ));
        // Kill at a random moment: anywhere from mid-start-up of the writers to mid-stream.
        let delay = 20 + rand_core::RngCore::next_u32(&mut rand_core::OsRng) % 400;
        tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
        server.kill();
        writers.await.unwrap();
        match cycle % 5 {
            // SIGKILL during start-up, before the server answers.
            1 => {
                let mut s = TestServer::spawn(dir.path(), port, &[]);
                std::thread::sleep(Duration::from_millis(u64::from(delay % 40)));
                s.kill();
            }
            // SIGTERM (graceful shutdown) interrupted by SIGKILL.
            3 => {
                let mut s = TestServer::start_in(dir.path(), port, &[]);
                let pid = s.pid().to_string();
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid])
                    .status();
                std::thread::sleep(Duration::from_millis(u64::from(delay % 20)));
                s.kill();
            }
            _ => {}
        }
    }

    // The final tree.
    let mut server = TestServer::start_in(dir.path(), port, &[]);
    let base = server.base_url();
    let pem = reqwest::get(format!("{base}/api/v1/log/publicKey"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let log_key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
    let hostname = format!("127.0.0.1:{port}");
    let info: LogInfo = get_json(&format!("{base}/api/v1/log")).await;
    let head = verify_v1(&info.signed_tree_head, &log_key, &hostname).unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.acked.len() > cycles,
        "too few writes got through: {}",
        seen.acked.len()
    );
    assert!(head.size >= seen.acked.len() as u64);

    // Every acknowledged entry is there, at its index, with its body.
    for (index, (id, body)) in &seen.acked {
        let e: LogEntry = get_json(&format!("{base}/api/v1/log/entries?logIndex={index}")).await;
        let (got_id, got) = e.into_iter().next().unwrap();
        assert_eq!(
            (&got_id, &got.body),
            (id, body),
            "entry {index} changed after the crashes"
        );
    }
    // Every checkpoint anyone saw is consistent with the final tree: no fork, ever.
    let mut by_size: BTreeMap<u64, Hash> = BTreeMap::new();
    for text in &seen.checkpoints {
        let cp: Checkpoint = verify_v1(text, &log_key, &hostname).unwrap();
        if let Some(other) = by_size.insert(cp.size, cp.root) {
            assert_eq!(
                other, cp.root,
                "two different roots for tree size {}",
                cp.size
            );
        }
    }
    for (&size, root) in &by_size {
        let p: ConsistencyProof = get_json(&format!(
            "{base}/api/v1/log/proof?firstSize={size}&lastSize={}",
            head.size
        ))
        .await;
        let proof: Vec<Hash> = p
            .hashes
            .iter()
            .map(|h| Hash::from_hex(h).unwrap())
            .collect();
        merkle::verify_consistency(size, head.size, &proof, root, &head.root).unwrap_or_else(|e| {
            panic!("checkpoint of size {size} is not consistent with the final tree: {e}")
        });
    }
    // Re-posting an acknowledged entry is a duplicate of the same entry.
    let client = reqwest::Client::new();
    for (index, entry) in seen.proposed.iter().step_by(97) {
        let res = common::post_request(&client, &base, entry).await;
        assert_eq!(res.status(), 409);
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.ends_with(&seen.acked[index].0), "{loc}");
    }
    eprintln!(
        "{cycles} kill cycles: {} acknowledged entries, {} distinct checkpoints, final size {}",
        seen.acked.len(),
        by_size.len(),
        head.size
    );
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
}

/// What the CA's clients were given before the kills: each certificate's precertificate TBS
/// (the final TBS without the SCT list, RFC 6962 §3.2) at its SCT's leaf index, and every CT
/// checkpoint (size, root) read meanwhile.
#[derive(Default)]
struct Issued {
    certificates: BTreeMap<u64, Vec<u8>>,
    checkpoints: BTreeMap<u64, Hash>,
}

/// The SCT's leaf index and the precertificate TBS of a certificate the CA issued (PEM).
fn leaf_of(cert_pem: &str) -> (u64, Vec<u8>) {
    use der::{Decode, Encode};
    let blocks = arkivo_core::entries::pki::pem_blocks(cert_pem.as_bytes()).unwrap();
    let cert = x509_cert::Certificate::from_der(&blocks[0].1).unwrap();
    let mut tbs = cert.tbs_certificate;
    let exts = tbs.extensions.as_mut().unwrap();
    let at = exts
        .iter()
        .position(|e| e.extn_id.to_string() == "1.3.6.1.4.1.11129.2.4.2")
        .expect("an SCT list");
    let list = der::asn1::OctetString::from_der(exts.remove(at).extn_value.as_bytes()).unwrap();
    let scts = arkivo_core::ct::SignedCertificateTimestampList::parse(list.as_bytes()).unwrap();
    let index = arkivo_core::ct::parse_leaf_index(&scts.0[0].extensions).unwrap();
    (index, tbs.to_der().unwrap())
}

/// Clients asking the CA for certificates, and one reading the CT checkpoint, until the server
/// is killed.
async fn certify_until_killed(
    base: String,
    issuer: Arc<common::oidc::TestIssuer>,
    issued: Arc<Mutex<Issued>>,
    clients: usize,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (base, issuer, issued, client) =
            (base.clone(), issuer.clone(), issued.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let email = format!("c{c}n{n}@example.org");
                let token = issuer.token(
                    common::oidc::Alg::Es256,
                    "email",
                    serde_json::json!({"email": email, "email_verified": true}),
                );
                let (pem, proof) = common::oidc::key_and_proof(&email);
                let body = serde_json::json!({
                    "credentials": {"oidcIdentityToken": token},
                    "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem},
                                         "proofOfPossession": proof},
                });
                // A request cut by the kill ends this client.
                let Ok(res) = client
                    .post(format!("{base}/api/v2/signingCert"))
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                let status = res.status().as_u16();
                let Ok(answer) = res.json::<serde_json::Value>().await else {
                    return;
                };
                match status {
                    201 => {
                        let pem = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
                            [0]
                        .as_str()
                        .unwrap();
                        let (index, tbs) = leaf_of(pem);
                        let prev = issued.lock().unwrap().certificates.insert(index, tbs);
                        assert!(prev.is_none(), "CT leaf index {index} given twice");
                    }
                    503 => tokio::time::sleep(Duration::from_millis(5)).await,
                    other => panic!("unexpected {other}: {answer}"),
                }
            }
        }));
    }
    let reader = tokio::spawn(async move {
        loop {
            let Ok(res) = reqwest::get(format!("{base}/ct/checkpoint")).await else {
                return;
            };
            let Ok(text) = res.text().await else { return };
            let cp = Checkpoint::parse(&text[..text.find("\n\n").unwrap() + 1]).unwrap();
            if let Some(other) = issued.lock().unwrap().checkpoints.insert(cp.size, cp.root) {
                assert_eq!(other, cp.root, "two CT roots for size {}", cp.size);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    for t in tasks {
        let _ = t.await;
    }
    let _ = reader.await;
}

/// SIGKILL while the CA issues certificates to concurrent clients (the CT log commits each
/// precertificate before its SCT is signed): after a restart every certificate a client got has
/// its precertificate at its SCT's leaf index in the CT log (checked by the independent tile
/// client), every CT checkpoint read before a kill is the root of the final tree's first leaves
/// (no fork), and verify-log is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_certificates_are_issued_loses_no_ct_leaf() {
    let issuer = Arc::new(common::oidc::TestIssuer::start(false));
    let issuer_url = issuer.url("email");
    let args = [
        "--oidc-issuer",
        issuer_url.as_str(),
        "--max-batch-age-ms",
        "2",
    ];
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let issued = Arc::new(Mutex::new(Issued::default()));
    for _ in 0..4 {
        let mut server = TestServer::start_in(dir.path(), port, &args);
        let clients = tokio::spawn(certify_until_killed(
            server.base_url(),
            issuer.clone(),
            issued.clone(),
            8,
        ));
        let delay = 100 + rand_core::RngCore::next_u32(&mut rand_core::OsRng) % 400;
        tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
        server.kill();
        clients.await.unwrap();
    }
    let mut server = TestServer::start_in(dir.path(), port, &args);
    let base = server.base_url();
    let issued = std::mem::take(&mut *issued.lock().unwrap());
    assert!(issued.certificates.len() > 4, "too few certificates issued");

    // Every certificate's precertificate is in the CT log at its SCT's leaf index.
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tiles/verify_tiles.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("{base}/ct"))
        .arg("--static-ct")
        .args(
            issued
                .certificates
                .iter()
                .flat_map(|(i, tbs)| ["--entry".to_owned(), format!("{i}:{}", b64(tbs))]),
        )
        .output()
        .expect("running python3 tests/tiles/verify_tiles.py");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Every CT checkpoint read before a kill is the root of the final tree's first leaves.
    let text = reqwest::get(format!("{base}/ct/checkpoint"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let size = Checkpoint::parse(&text[..text.find("\n\n").unwrap() + 1])
        .unwrap()
        .size;
    let mut leaves = Vec::new();
    for tile in 0..size.div_ceil(256) {
        let width = (size - tile * 256).min(256);
        let path = if width == 256 {
            format!("{tile:03}")
        } else {
            format!("{tile:03}.p/{width}")
        };
        let bytes = reqwest::get(format!("{base}/ct/tile/data/{path}"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        leaves.extend(arkivo_core::ct::TileLeaf::parse_data_tile(&bytes).unwrap());
    }
    assert_eq!(leaves.len() as u64, size);
    let mut border = merkle::RightBorder::empty();
    let mut roots = vec![border.root()];
    for leaf in &leaves {
        let _ = border.append(leaf.leaf_hash());
        roots.push(border.root());
    }
    for (&seen_size, root) in &issued.checkpoints {
        assert_eq!(
            roots.get(usize::try_from(seen_size).unwrap()),
            Some(root),
            "the CT checkpoint of size {seen_size} read before a kill is not the final tree's"
        );
    }
    eprintln!(
        "4 kill cycles: {} certificates, {} CT checkpoints seen, final CT tree size {size}",
        issued.certificates.len(),
        issued.checkpoints.len()
    );
    let stderr = server.signal("TERM");
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    let (ok, out, err) = common::arkivo(&["verify-log", "--data-dir", common::path(dir.path())]);
    assert!(ok && out.contains("ok: CT log:"), "{out}{err}");
}
