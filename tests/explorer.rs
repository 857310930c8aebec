//! The web explorer (docs/explorer.md) driven in a real headless Chromium (Debian's `chromium`,
//! through puppeteer-core: tests/interop/explorer.mjs) against the real server with entries of
//! every kind — hashedrekord v0.0.1 with a key and with a certificate (email and URI identities,
//! a Fulcio issuer extension), dsse v0.0.1, intoto v0.0.2 (found by its in-toto subject's
//! digest), hashedrekord and dsse v0.0.2 (Rekor v2) — and through
//! proxies that tamper with the server's answers: searches by each key find their entries, the
//! entry pages show the entries' fields and verify them in the browser, a changed proof hash and
//! a checkpoint signed by another key show as NOT verified, the log page verifies the checkpoint
//! and the consistency between two visits (and, through a proxy changing consistency proofs,
//! says NOT consistent); the same verification code, run by Node.js, refuses
//! every kind of change to those entries' answers (tests/interop/explorer-mutations.mjs). The
//! headers (Content-Security-Policy and the others) and `--no-explorer` are checked without a
//! browser.
//!
//! Screenshots of the main pages go to a temporary directory, or to docs/explorer/ when
//! `ARKIVO_EXPLORER_SCREENSHOTS=docs` (how the committed ones are made). Chromium, Node.js and
//! npm are required: the test never skips.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::TestServer;
use common::node::{install_packages, interop_dir, require_tool, run_node};
use common::proxy::{ENTRY_TAMPERS, Proxy};
use serde_json::{Value, json};
use sha2::Digest as _;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Entries of one key, more than a page of results (20) holds.
const PAGED: usize = 23;

/// Posts `request` to `path`; returns the new entry's UUID and index (panics unless 201).
async fn log(http: &reqwest::Client, base: &str, path: &str, request: &Value) -> (String, u64) {
    let res = http
        .post(format!("{base}{path}"))
        .json(request)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{path}: {}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    if let Some((uuid, entry)) = body.as_object().unwrap().iter().next()
        && entry.get("logIndex").is_some()
    {
        return (uuid.clone(), entry["logIndex"].as_u64().unwrap());
    }
    // A Rekor v2 answer (a TransparencyLogEntry): find the v1 UUID by the index.
    let index: u64 = body["logIndex"].as_str().unwrap().parse().unwrap();
    let entry = common::get_json(http, format!("{base}/api/v1/log/entries?logIndex={index}")).await;
    (
        entry.as_object().unwrap().keys().next().unwrap().clone(),
        index,
    )
}

/// A checkpoint note whose ECDSA signature is made, under the log's name and key hint, by another
/// P-256 key than the log's.
fn resigned(checkpoint: &str) -> String {
    use p256::ecdsa::signature::Signer as _;
    let (text, signatures) = checkpoint.split_at(checkpoint.rfind("\n\n").unwrap() + 1);
    // "\n— <name> <base64(key hint ‖ signature)>\n"
    let fields: Vec<&str> = signatures.trim().split(' ').collect();
    let (name, signed) = (fields[1], B64.decode(fields[2]).unwrap());
    let other = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let sig: p256::ecdsa::Signature = other.sign(text.as_bytes());
    let mut blob = signed[..4].to_vec();
    blob.extend_from_slice(sig.to_der().as_bytes());
    format!("{text}\n\u{2014} {name} {}\n", B64.encode(blob))
}

fn screenshots() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var("ARKIVO_EXPLORER_SCREENSHOTS").as_deref() {
        Ok("docs") => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/explorer"),
            None,
        ),
        _ => {
            let tmp = tempfile::tempdir().unwrap();
            (tmp.path().to_owned(), Some(tmp))
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn explorer_searches_shows_and_verifies_entries_in_chromium() {
    require_tool("node");
    let chromium = std::process::Command::new(CHROMIUM)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!("{CHROMIUM} is needed (Debian: apt-get install chromium chromium-driver): {e}")
        });
    assert!(chromium.status.success(), "{CHROMIUM} --version failed");
    let dir = interop_dir();
    install_packages(&dir);

    let server = TestServer::start(&[]);
    let base = server.base_url();
    let http = reqwest::Client::new();
    let tmp = tempfile::tempdir().unwrap();

    // A key's signatures: hashedrekord v0.0.1 and v0.0.2, dsse v0.0.1 and v0.0.2 of one digest.
    let keyed = common::EntrySigner::new();
    let artifact = b"explorer: the keyed artifact";
    let digest = hex::encode(sha2::Sha256::digest(artifact));
    let (rekord, _) = log(
        &http,
        &base,
        "/api/v1/log/entries",
        &keyed.hashedrekord(artifact),
    )
    .await;
    let (dsse, _) = log(
        &http,
        &base,
        "/api/v1/log/entries",
        &keyed.dsse_of_digest(&digest),
    )
    .await;
    let (rekord_v2, _) = log(
        &http,
        &base,
        "/api/v2/log/entries",
        &keyed.hashedrekord_v2(b"explorer: a v2 artifact"),
    )
    .await;
    let (dsse_v2, _) = log(
        &http,
        &base,
        "/api/v2/log/entries",
        &keyed.dsse_v2("text/plain", b"explorer: a v2 envelope"),
    )
    .await;

    // An intoto v0.0.2 entry (what `@sigstore/cli attest` writes), of another key and digest.
    let attester = common::EntrySigner::new();
    let attested = hex::encode(sha2::Sha256::digest(b"explorer: an attested artifact"));
    let proposed = attester.dsse_of_digest(&attested);
    let envelope: Value = serde_json::from_str(
        proposed["spec"]["proposedContent"]["envelope"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let intoto_request = json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {"content": {
            "envelope": {
                "payloadType": envelope["payloadType"],
                "payload": B64.encode(envelope["payload"].as_str().unwrap()),
                "signatures": [{
                    "sig": B64.encode(envelope["signatures"][0]["sig"].as_str().unwrap()),
                    "publicKey": B64.encode(attester.pem()),
                }],
            },
            "hash": {"algorithm": "sha256", "value": "ab".repeat(32)},
        }},
    });
    let (intoto, _) = log(&http, &base, "/api/v1/log/entries", &intoto_request).await;

    // A certificate's: email and URI identities, the Fulcio issuer extension (OID .1.8).
    let (email, uri, issuer) = (
        "builder@example.com",
        "https://ci.example.com/workflows/release",
        "https://issuer.example.com",
    );
    let san = format!("subjectAltName=email:{email},URI:{uri}");
    let fulcio_issuer = format!("1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:{issuer}");
    common::self_signed_p256(
        tmp.path(),
        "/O=sigstore.dev",
        &["-addext", &san, "-addext", &fulcio_issuer],
        "cert.key",
        "cert.pem",
    );
    let cert_pem = std::fs::read_to_string(tmp.path().join("cert.pem")).unwrap();
    let cert_key = {
        use p256::pkcs8::DecodePrivateKey as _;
        let pem = std::fs::read_to_string(tmp.path().join("cert.key")).unwrap();
        p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap()
    };
    let certified = common::EntrySigner::with_key(cert_key);
    let mut request = certified.hashedrekord(b"explorer: a certified artifact");
    request["spec"]["signature"]["publicKey"]["content"] = B64.encode(&cert_pem).into();
    let (cert_rekord, cert_index) = log(&http, &base, "/api/v1/log/entries", &request).await;

    // A key with more entries than a page of results.
    let busy = common::EntrySigner::new();
    for i in 0..PAGED {
        log(
            &http,
            &base,
            "/api/v1/log/entries",
            &busy.hashedrekord(format!("explorer: busy {i}").as_bytes()),
        )
        .await;
    }
    let total = 6 + PAGED;

    // Proxies standing for a log that lies: a changed inclusion-proof hash; a checkpoint signed
    // by another key.
    let (_, changed_hash) = ENTRY_TAMPERS[1];
    let changed_proof = Proxy::tampering_entries(&base, changed_hash);
    let other_key = Proxy::tampering_entries(&base, |e| {
        let proof = &mut e["verification"]["inclusionProof"];
        proof["checkpoint"] = resigned(proof["checkpoint"].as_str().unwrap()).into();
    });

    // And one whose consistency proofs are changed (a log hiding a fork between two visits).
    let forked = Proxy::start(&base, |path, body| {
        if !path.starts_with("/api/v1/log/proof") {
            return None;
        }
        let mut proof: Value = serde_json::from_slice(body).ok()?;
        proof["hashes"][0] = "00".repeat(32).into();
        Some(serde_json::to_vec(&proof).unwrap())
    });

    let (shots, _keep) = screenshots();
    std::fs::create_dir_all(&shots).unwrap();
    let plan = json!({
        "chromium": CHROMIUM,
        "base": base,
        "screenshots": shots,
        "total": total,
        "searches": [
            {"kind": "digest", "q": format!("sha256:{digest}"), "expect": [rekord, dsse], "screenshot": "search"},
            {"kind": "digest or entry UUID", "q": digest, "expect": [rekord, dsse]},
            {"kind": "email", "q": email, "expect": [cert_rekord]},
            {"kind": "certificate identity", "q": uri, "expect": [cert_rekord]},
            {"kind": "public key", "q": keyed.pem().trim().replace('\n', " "), "expect": [rekord, dsse, rekord_v2, dsse_v2]},
            {"kind": "log index", "q": cert_index.to_string(), "expect": [cert_rekord]},
            {"kind": "entry UUID", "q": dsse, "expect": [dsse]},
            {"kind": "digest or entry UUID", "q": &rekord_v2[16..], "expect": [rekord_v2]},
            {"kind": "digest", "q": format!("sha256:{attested}"), "expect": [intoto]},
        ],
        "paging": {"q": busy.pem().trim(), "total": PAGED},
        "entries": [
            {"name": "hashedrekord with a key", "uuid": rekord,
             "shows": ["hashedrekord 0.0.1", format!("sha256:{digest}"), "BEGIN PUBLIC KEY"]},
            {"name": "dsse", "uuid": dsse, "shows": ["dsse 0.0.1", "public key"]},
            {"name": "hashedrekord v0.0.2", "uuid": rekord_v2, "shows": ["hashedrekord 0.0.2", "BEGIN PUBLIC KEY"]},
            {"name": "dsse v0.0.2", "uuid": dsse_v2, "shows": ["dsse 0.0.2", "BEGIN PUBLIC KEY"]},
            {"name": "intoto v0.0.2", "uuid": intoto,
             "shows": ["intoto 0.0.2", "application/vnd.in-toto+json", "BEGIN PUBLIC KEY"]},
            {"name": "hashedrekord with a certificate", "uuid": cert_rekord, "screenshot": "entry",
             "shows": ["certificate", email, uri, issuer, "O=sigstore.dev"]},
        ],
        "forked": forked.base_url(),
        "tampered": [
            {"name": "a changed inclusion-proof hash", "base": changed_proof.base_url(), "uuid": rekord,
             "failsAt": "Inclusion proof", "screenshot": "entry-tampered"},
            {"name": "a checkpoint signed by another key", "base": other_key.base_url(), "uuid": cert_rekord,
             "failsAt": "Checkpoint signature"},
        ],
    });
    let plan_file = tmp.path().join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let run = tokio::task::spawn_blocking(move || {
        run_node(&dir, "explorer.mjs", &[plan_file.to_str().unwrap()])
    });
    let (ok, stdout, stderr) = run.await.unwrap();
    println!("{stdout}");
    assert!(ok, "explorer.mjs failed:\n{stdout}\n{stderr}");

    // The same verification (the served entry.js) on every kind of change to these answers.
    let entry_js =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/arkivo-server/explorer/entry.js");
    let dir = interop_dir();
    let run = tokio::task::spawn_blocking(move || {
        let args = [
            entry_js.to_str().unwrap(),
            &base,
            &rekord,
            &dsse,
            &rekord_v2,
            &dsse_v2,
            &cert_rekord,
        ];
        run_node(&dir, "explorer-mutations.mjs", &args)
    });
    let (ok, stdout, stderr) = run.await.unwrap();
    assert!(ok, "explorer-mutations.mjs failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
}

/// The policy every explorer file is served with (CSP Level 3): this origin only, no inline
/// script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[tokio::test]
async fn explorer_files_carry_a_strict_content_security_policy() {
    let server = TestServer::start(&[]);
    let base = server.base_url();
    let http = reqwest::Client::new();
    for (path, media_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/?q=sha256%3A00", "text/html; charset=utf-8"),
        ("/ui/log", "text/html; charset=utf-8"),
        ("/ui/entry/0123abcd", "text/html; charset=utf-8"),
        ("/ui/assets/app.js", "text/javascript; charset=utf-8"),
        ("/ui/assets/style.css", "text/css; charset=utf-8"),
    ] {
        let res = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        assert_eq!(h["content-security-policy"], CSP, "{path}");
        assert_eq!(h["content-type"], media_type, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    // The page loads its script and style from files, never inline (the policy would block it).
    let page = common::get_text(&http, format!("{base}/")).await;
    assert!(!page.contains("<script>") && !page.contains("style=") && !page.contains("<style"));
    assert!(
        !page.contains("http:") && !page.contains("https:"),
        "nothing from elsewhere"
    );
    let missing = http
        .get(format!("{base}/ui/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("no such explorer file")
    );
}

#[tokio::test]
async fn no_explorer_serves_the_api_without_pages() {
    let server = TestServer::start(&["--no-explorer"]);
    let base = server.base_url();
    let http = reqwest::Client::new();
    for path in ["/", "/ui/log", "/ui/assets/app.js"] {
        assert_eq!(common::get_status(&http, &base, path).await, 404, "{path}");
    }
    assert_eq!(common::get_status(&http, &base, "/api/v1/log").await, 200);
}

/// The explorer's proof checks (the served merkle.js itself, run by Node.js) accept and reject
/// exactly as the transparency-dev/merkle vectors say.
#[test]
fn explorer_merkle_checks_pass_the_transparency_dev_vectors() {
    require_tool("node");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let merkle = root.join("crates/arkivo-server/explorer/merkle.js");
    let vectors = root.join("testdata/merkle");
    let (ok, stdout, stderr) = run_node(
        &interop_dir(),
        "explorer-merkle.mjs",
        &[merkle.to_str().unwrap(), vectors.to_str().unwrap()],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("196 probes, 0 failures"), "{stdout}");
}
