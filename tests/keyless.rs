//! Keyless signing and verification of blobs with the real binary against a real server with
//! its CA, and ID tokens of a test OIDC issuer that really signs them (tests/common/oidc.rs):
//! `arkivo sign-blob --identity-token` writes a bundle carrying the certificate, which
//! `arkivo verify-blob` accepts for the certificate's identity and issuer and refuses, naming
//! the check, for another identity, another issuer, a trusted root whose CA is another one, a
//! certificate expired when the log recorded the signature, a trusted root without CT logs
//! (unless --insecure-ignore-sct), and without identity flags; the same through Rekor v2, where
//! the certificate is checked at the RFC 3161 timestamp's genTime. `arkivo monitor --watch-identity
//! [--watch-issuer]` reports the entries whose certificate names a watched identity.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use arkivo_client::bundle::{Bundle, Material};
use arkivo_client::rekor::RekorClient;
use arkivo_core::ca::cert::{CaKeys, IssuingCa};
use arkivo_core::ca::identity::{ExtensionValue, Identity, SubjectAltName, oid};
use arkivo_core::ct::{Sct, SignedCertificateTimestampList, TileLeaf};
use arkivo_core::entries::pki::{HashAlg, PublicKey, pem_blocks, pem_encode};
use arkivo_core::signer::LogKeys;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::oidc::{Alg, TestIssuer};
use common::{Run, TestServer, path, run_arkivo};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey;
use serde_json::{Value, json};
use sha2::Digest;

const EMAIL: &str = "alice@example.org";

fn ok(run: &Run) -> &Run {
    assert_eq!(
        run.code, 0,
        "arkivo failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// A verification that fails with exit code `code` and a message containing `needle`.
fn refused(run: &Run, code: i32, needle: &str) {
    assert_eq!(
        run.code, code,
        "expected exit {code}:\n{}\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains(needle) || run.stdout.contains(needle),
        "expected {needle:?} in:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

async fn served_root(base: &str) -> Value {
    common::get_json(
        &reqwest::Client::new(),
        format!("{base}/api/v1/log/trustedRoot"),
    )
    .await
}

fn write_json(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    path(&p).to_owned()
}

/// A root listing `chain_pem`'s CA (intermediate first) instead of the served one.
fn with_ca(root: &Value, chain_pem: &str) -> Value {
    let certs: Vec<Value> = pem_blocks(chain_pem.as_bytes())
        .unwrap()
        .into_iter()
        .map(|(_, der)| json!({"rawBytes": B64.encode(der)}))
        .collect();
    let mut root = root.clone();
    root["certificateAuthorities"] = json!([{"subject": {"organization": "other"},
        "certChain": {"certificates": certs}, "validFor": {"start": "2020-01-01T00:00:00Z"}}]);
    root
}

/// A certificate for [`EMAIL`] from `issuer_url`, issued by `issuing` at `at` (valid ten
/// minutes), and its key. Its SCT is of a CT log no root lists: these certificates are verified
/// with --insecure-ignore-sct.
fn issue(
    issuing: &IssuingCa,
    issuer_url: &str,
    at: SystemTime,
) -> (p256::ecdsa::SigningKey, Vec<u8>) {
    let key = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
    let spki = key.verifying_key().to_public_key_der().unwrap();
    let identity = Identity {
        san: SubjectAltName::Email(EMAIL.into()),
        challenge: EMAIL.into(),
        extensions: vec![(oid::ISSUER_V2, ExtensionValue::Utf8(issuer_url.to_owned()))],
    };
    let pre = issuing
        .precertificate(
            &identity,
            &PublicKey::from_spki_der(spki.as_bytes()).unwrap(),
            at,
        )
        .unwrap();
    let entry = TileLeaf {
        timestamp: at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
        issuer_key_hash: issuing.issuer_key_hash(),
        tbs_certificate: pre.tbs_without_poison().unwrap(),
        extensions: Vec::new(),
        pre_certificate: pre.der().to_vec(),
        certificate_chain: Vec::new(),
    };
    let sct = Sct::sign(&entry, &LogKeys::generate());
    let cert = issuing
        .finish(pre, &SignedCertificateTimestampList(vec![sct]))
        .unwrap();
    (key, cert)
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_blob_keyless_and_verify_identity_issuer_ca_validity_sct() {
    let issuer = TestIssuer::start(false);
    let issuer_url = issuer.url("email");
    let server = TestServer::start(&["--oidc-issuer", &issuer_url]);
    let base = server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let file = w.join("artifact");
    std::fs::write(&file, b"signed keyless by arkivo").unwrap();
    // The trusted root as a verifier writes it: the log key and the CA's root, both obtained
    // out of band (here: from the server), pinned by `arkivo trust-root`.
    let http = reqwest::Client::new();
    let get = async |p: &str| {
        let res = http.get(format!("{base}{p}")).send().await.unwrap();
        res.text().await.unwrap()
    };
    std::fs::write(w.join("log.pub"), get("/api/v1/log/publicKey").await).unwrap();
    let bundle_json: Value = serde_json::from_str(&get("/api/v2/trustBundle").await).unwrap();
    let ca_root = bundle_json["chains"][0]["certificates"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(w.join("ca-root.pem"), &ca_root).unwrap();
    let served = served_root(&base).await;
    let ct_key = B64
        .decode(
            served["ctlogs"][0]["publicKey"]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    std::fs::write(w.join("ct.pub"), pem_encode("PUBLIC KEY", &ct_key)).unwrap();
    let pin = |ca: &str| {
        run_arkivo(
            Some(w),
            &[
                "trust-root",
                "--rekor-url",
                &base,
                "--log-key",
                "log.pub",
                "--ca-root",
                ca,
                "--ct-log-key",
                "ct.pub",
            ],
            &[],
        )
    };
    let pinned = pin("ca-root.pem");
    ok(&pinned);
    let root = write_json(w, "root.json", &pinned.json());
    for kind in ["certificateAuthorities", "ctlogs"] {
        assert_eq!(pinned.json()[kind], served[kind], "{kind}");
    }

    let token = issuer.token(
        Alg::Es256,
        "email",
        json!({"email": EMAIL, "email_verified": true}),
    );
    let bundle = w.join("artifact.bundle");
    let signed = run_arkivo(
        None,
        &[
            "sign-blob",
            "--identity-token",
            &token,
            "--rekor-url",
            &base,
            "--bundle",
            path(&bundle),
            "--output",
            "json",
            path(&file),
        ],
        &[],
    );
    ok(&signed);
    let b: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(
        b["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert!(b["verificationMaterial"]["publicKey"].is_null());
    let leaf = B64
        .decode(
            b["verificationMaterial"]["certificate"]["rawBytes"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    // The log recorded the certificate as the entry's verifier.
    let body: Value = serde_json::from_slice(
        &B64.decode(
            b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let recorded = B64
        .decode(
            body["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(recorded).unwrap(),
        pem_encode("CERTIFICATE", &leaf)
    );

    // The token also comes from SIGSTORE_ID_TOKEN, and from a file.
    let token_file = w.join("token");
    std::fs::write(&token_file, &token).unwrap();
    for (args, env) in [
        (vec!["--identity-token", path(&token_file)], vec![]),
        (vec![], vec![("SIGSTORE_ID_TOKEN", token.as_str())]),
    ] {
        let mut all = vec!["sign-blob", "--rekor-url", &base, "--bundle"];
        let other = w.join("other.bundle");
        all.push(path(&other));
        all.extend(args);
        all.push(path(&file));
        ok(&run_arkivo(None, &all, &env));
    }

    let verify = |extra: &[&str], root: &str| {
        let mut args = vec![
            "verify-blob",
            "--bundle",
            path(&bundle),
            "--trusted-root",
            root,
            "--output",
            "json",
        ];
        args.extend(extra);
        args.push(path(&file));
        run_arkivo(None, &args, &[])
    };
    let id = ["--certificate-identity", EMAIL];
    let iss = ["--certificate-oidc-issuer", issuer_url.as_str()];
    // The certificate's embedded SCT verifies with the CT log of the root.
    let good = [&id[..], &iss[..]].concat();
    let v = verify(&good, &root);
    ok(&v);
    let report = v.json();
    assert_eq!(report["verified"], true);
    assert_eq!(report["certificate"]["subjects"], json!([EMAIL]));
    assert_eq!(report["certificate"]["issuer"], issuer_url);
    ok(&verify(
        &[
            "--certificate-identity-regexp",
            "^alice@",
            "--certificate-oidc-issuer-regexp",
            "/email$",
            "--insecure-ignore-sct",
        ],
        &root,
    ));

    // Each refusal names its check.
    refused(
        &verify(
            &[
                "--certificate-identity",
                "mallory@example.org",
                "--certificate-oidc-issuer",
                &issuer_url,
                "--insecure-ignore-sct",
            ],
            &root,
        ),
        1,
        "wrong identity",
    );
    refused(
        &verify(
            &[
                "--certificate-identity",
                EMAIL,
                "--certificate-oidc-issuer",
                &issuer.url("other"),
                "--insecure-ignore-sct",
            ],
            &root,
        ),
        1,
        "wrong issuer",
    );
    refused(
        &verify(
            &[
                &id[..],
                &iss[..],
                &[
                    "--certificate-github-workflow-repository",
                    "org/repo",
                    "--insecure-ignore-sct",
                ],
            ]
            .concat(),
            &root,
        ),
        1,
        "wrong --certificate-github-workflow-repository",
    );
    // A root without the CT log: refused unless the SCT check is waived; a root with another
    // CT log: the SCT is not one of its.
    let mut no_ct: Value = serde_json::from_str(&std::fs::read_to_string(&root).unwrap()).unwrap();
    no_ct["ctlogs"] = json!([]);
    let no_ct = write_json(w, "no-ct.json", &no_ct);
    refused(
        &verify(&good, &no_ct),
        1,
        "missing SCT: the trusted root lists no CT log",
    );
    ok(&verify(
        &[&good[..], &["--insecure-ignore-sct"]].concat(),
        &no_ct,
    ));
    let mut other_ct: Value =
        serde_json::from_str(&std::fs::read_to_string(&root).unwrap()).unwrap();
    let other_key = LogKeys::generate();
    other_ct["ctlogs"][0]["publicKey"]["rawBytes"] = json!(B64.encode(other_key.ecdsa_spki_der()));
    other_ct["ctlogs"][0]["logId"]["keyId"] = json!(B64.encode(other_key.log_id()));
    let other_ct = write_json(w, "other-ct.json", &other_ct);
    refused(&verify(&good, &other_ct), 1, "bad SCT");
    // cosign's rule: no keyless verification without identity and issuer.
    refused(&verify(&id, &root), 2, "--certificate-oidc-issuer");
    refused(
        &verify(&["--insecure-ignore-sct"], &root),
        2,
        "--certificate-identity",
    );
    // A key does not verify a certificate bundle.
    let pub_path = w.join("some.pub");
    std::fs::write(
        &pub_path,
        p256::ecdsa::SigningKey::random(&mut rand::thread_rng())
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap(),
    )
    .unwrap();
    refused(
        &verify(&["--key", path(&pub_path)], &root),
        1,
        "signed keylessly",
    );

    // A root whose CA is another one: the certificate does not chain to it.
    // Made two hours ago, so that it could issue the certificate of an hour ago below.
    let other_ca =
        CaKeys::generate("other", SystemTime::now() - Duration::from_secs(7200)).unwrap();
    let other_root = write_json(
        w,
        "other-root.json",
        &with_ca(
            &serde_json::from_str(&std::fs::read_to_string(&root).unwrap()).unwrap(),
            &other_ca.chain_pem,
        ),
    );
    refused(&verify(&good, &other_root), 1, "untrusted CA");
    // trust-root keeps no CA whose root was not pinned, and refuses a root the log does not serve.
    std::fs::write(
        w.join("other-root.pem"),
        pem_blocks(other_ca.chain_pem.as_bytes())
            .map(|b| pem_encode("CERTIFICATE", &b[1].1))
            .unwrap(),
    )
    .unwrap();
    refused(&pin("other-root.pem"), 1, "lists no certificate authority");

    // A certificate that had expired when the log recorded the signature: issued an hour ago
    // (valid ten minutes) by a CA the root lists, the signature recorded now in the real log.
    let issuing = IssuingCa::from_pem(&other_ca.intermediate_key_pem, &other_ca.chain_pem).unwrap();
    let record = async |at: SystemTime, name: &str| {
        let (key, cert) = issue(&issuing, &issuer_url, at);
        let artifact = std::fs::read(&file).unwrap();
        let digest = sha2::Sha256::digest(&artifact).to_vec();
        let signature: p256::ecdsa::DerSignature = key.sign(&artifact);
        let entry = RekorClient::new(&base)
            .unwrap()
            .create_hashedrekord(
                HashAlg::Sha256,
                &digest,
                signature.as_bytes(),
                &pem_encode("CERTIFICATE", &cert),
            )
            .await
            .unwrap();
        let bundle = Bundle::for_message_signature(
            HashAlg::Sha256,
            &digest,
            signature.as_bytes(),
            Material::Certificate(cert),
            &entry,
        )
        .unwrap();
        let p = w.join(name);
        std::fs::write(&p, bundle.to_json()).unwrap();
        p
    };
    let verify_with = |bundle: &Path| {
        let mut args = vec![
            "verify-blob",
            "--bundle",
            path(bundle),
            "--trusted-root",
            &other_root,
            // These certificates carry no SCT: the check is waived for them.
            "--insecure-ignore-sct",
        ];
        args.extend(&good);
        args.push(path(&file));
        run_arkivo(None, &args, &[])
    };
    let fresh = record(SystemTime::now(), "fresh.bundle").await;
    ok(&verify_with(&fresh));
    let mut args = vec![
        "verify-blob",
        "--bundle",
        path(&fresh),
        "--trusted-root",
        &other_root,
    ];
    args.extend(&good);
    args.push(path(&file));
    refused(&run_arkivo(None, &args, &[]), 1, "bad SCT");
    let stale = record(
        SystemTime::now() - Duration::from_secs(3600),
        "stale.bundle",
    )
    .await;
    refused(&verify_with(&stale), 1, "expired certificate");
    drop(server);
}

/// Keyless signing into Rekor v2: `sign-blob --rekor-api-version 2` records the certificate as
/// the entry's verifier and timestamps the signature; `verify-blob` checks the certificate
/// (chain, identity, issuer, SCT) at the timestamp's genTime, as a v2 entry has no integrated
/// time: a certificate that had expired by then is refused, a fresh one of the same CA not.
#[tokio::test(flavor = "multi_thread")]
async fn sign_blob_keyless_rekor_v2_checks_the_certificate_at_the_timestamp() {
    let issuer = TestIssuer::start(false);
    let issuer_url = issuer.url("email");
    let server = TestServer::start(&["--oidc-issuer", &issuer_url]);
    let base = server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let file = w.join("artifact");
    std::fs::write(&file, b"signed keyless into Rekor v2").unwrap();
    let served = served_root(&base).await;
    let root = write_json(w, "root.json", &served);
    let token = issuer.token(
        Alg::Es256,
        "email",
        json!({"email": EMAIL, "email_verified": true}),
    );
    let bundle = w.join("artifact.bundle");
    ok(&run_arkivo(
        None,
        &[
            "sign-blob",
            "--rekor-api-version",
            "2",
            "--identity-token",
            &token,
            "--rekor-url",
            &base,
            "--trusted-root",
            &root,
            "--bundle",
            path(&bundle),
            path(&file),
        ],
        &[],
    ));
    let b: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let leaf = b["verificationMaterial"]["certificate"]["rawBytes"].clone();
    let body: Value = serde_json::from_slice(
        &B64.decode(
            b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["verifier"]["x509Certificate"]["rawBytes"],
        leaf,
        "{body}"
    );
    let verify = |bundle: &Path, root: &str, identity: &str, extra: &[&str]| {
        let mut args = vec![
            "verify-blob",
            "--bundle",
            path(bundle),
            "--trusted-root",
            root,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &issuer_url,
        ];
        args.extend(extra);
        args.push(path(&file));
        run_arkivo(None, &args, &[])
    };
    let verified = verify(&bundle, &root, EMAIL, &[]);
    ok(&verified);
    assert!(
        verified.stdout.contains("timestamp: OK"),
        "{}",
        verified.stdout
    );
    refused(
        &verify(&bundle, &root, "mallory@example.org", &[]),
        1,
        "mallory",
    );

    // Certificates of another CA, issued now and an hour ago (valid ten minutes), each signing
    // the artifact into the real log with a real timestamp of its TSA.
    let other_ca =
        CaKeys::generate("other", SystemTime::now() - Duration::from_secs(7200)).unwrap();
    let issuing = IssuingCa::from_pem(&other_ca.intermediate_key_pem, &other_ca.chain_pem).unwrap();
    let other_root = write_json(w, "other-root.json", &with_ca(&served, &other_ca.chain_pem));
    let client = RekorClient::new(&base).unwrap();
    let trust = arkivo_client::trust::rekor_v2_trust_of(
        &serde_json::from_value(served.clone()).unwrap(),
        "served",
    )
    .unwrap();
    let record = async |at: SystemTime, name: &str| {
        let (key, cert) = issue(&issuing, &issuer_url, at);
        let artifact = std::fs::read(&file).unwrap();
        let digest = sha2::Sha256::digest(&artifact).to_vec();
        let signature: p256::ecdsa::DerSignature = key.sign(&artifact);
        let signature = signature.as_bytes().to_vec();
        let imprint = sha2::Sha256::digest(&signature);
        let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
        let request = arkivo_core::tsa::request(HashAlg::Sha256, &imprint, &nonce).unwrap();
        let response = client
            .timestamp(&format!("{base}/api/v1/timestamp"), request)
            .await
            .unwrap();
        arkivo_core::tsa::verify_response(
            &response,
            HashAlg::Sha256,
            &imprint,
            Some(&arkivo_core::tsa::request_nonce(&nonce)),
            &trust.tsas,
        )
        .unwrap();
        let verifier = json!({"x509Certificate": {"rawBytes": B64.encode(&cert)},
                              "keyDetails": "PKIX_ECDSA_P256_SHA_256"});
        let entry = client
            .create_entry_v2(&common::hashedrekord_v2(&digest, &signature, verifier))
            .await
            .unwrap();
        let bundle = Bundle::for_message_signature_v2(
            HashAlg::Sha256,
            &digest,
            &signature,
            Material::Certificate(cert),
            entry,
            response.clone(),
        );
        let p = w.join(name);
        std::fs::write(&p, bundle.to_json()).unwrap();
        p
    };
    let ignore_sct = ["--insecure-ignore-sct"];
    let fresh = record(SystemTime::now(), "fresh.bundle").await;
    ok(&verify(&fresh, &other_root, EMAIL, &ignore_sct));
    let stale = record(
        SystemTime::now() - Duration::from_secs(3600),
        "stale.bundle",
    )
    .await;
    refused(
        &verify(&stale, &other_root, EMAIL, &ignore_sct),
        1,
        "expired certificate",
    );
    drop(server);
}

/// Keyless signing fails clearly without a token, with a token the CA refuses, with a CA that
/// cannot be reached, and against a log whose signing config lists no CA.
#[test]
fn sign_blob_keyless_refusals() {
    let issuer = TestIssuer::start(false);
    let server = TestServer::start(&["--oidc-issuer", &issuer.url("email")]);
    let base = server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let file = w.join("artifact");
    std::fs::write(&file, b"x").unwrap();
    let bundle = w.join("b.json");
    let sign = |extra: &[&str]| {
        let mut args = vec!["sign-blob", "--rekor-url", &base, "--bundle", path(&bundle)];
        args.extend(extra);
        args.push(path(&file));
        run_arkivo(None, &args, &[])
    };
    refused(&sign(&[]), 2, "--identity-token");
    let foreign = issuer.token(Alg::Es256, "unknown", json!({"email": EMAIL}));
    refused(
        &sign(&["--identity-token", &foreign]),
        2,
        "the certificate authority",
    );
    refused(
        &sign(&["--identity-token", "not.a.token"]),
        2,
        "identity token",
    );
    let token = issuer.token(
        Alg::Es256,
        "email",
        json!({"email": EMAIL, "email_verified": true}),
    );
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    refused(
        &sign(&["--identity-token", &token, "--fulcio-url", &dead]),
        3,
        "cannot reach",
    );
    // A log without a CA lists none in its signing config.
    let no_ca = TestServer::start(&[]);
    let run = run_arkivo(
        None,
        &[
            "sign-blob",
            "--rekor-url",
            &no_ca.base_url(),
            "--bundle",
            path(&bundle),
            "--identity-token",
            &token,
            path(&file),
        ],
        &[],
    );
    refused(&run, 2, "lists no certificate authority");
    assert!(!bundle.exists(), "no bundle is written when signing fails");
}

/// The monitor reports the keyless entries naming a watched identity, and with --watch-issuer
/// only those whose certificate was issued for that issuer's tokens.
#[test]
fn monitor_watches_identities_and_issuers() {
    let issuer = TestIssuer::start(false);
    let (corp, partner) = (issuer.url("corp"), issuer.url("partner"));
    let server = TestServer::start(&["--oidc-issuer", &corp, "--oidc-issuer", &partner]);
    let base = server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let file = w.join("artifact");
    std::fs::write(&file, b"watched").unwrap();
    let sign = |name: &str, email: &str| {
        let token = issuer.token(
            Alg::Rs256,
            name,
            json!({"email": email, "email_verified": true}),
        );
        let bundle = w.join("b.json");
        ok(&run_arkivo(
            None,
            &[
                "sign-blob",
                "--identity-token",
                &token,
                "--rekor-url",
                &base,
                "--bundle",
                path(&bundle),
                path(&file),
            ],
            &[],
        ));
    };
    let monitor = |extra: &[&str]| {
        let mut args = vec![
            "monitor",
            "--once",
            "--output",
            "json",
            "--rekor-url",
            &base,
            "--state",
            "state.json",
        ];
        args.extend(extra);
        run_arkivo(Some(w), &args, &[])
    };
    let log_key = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::get(format!("{base}/api/v1/log/publicKey"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    std::fs::write(w.join("log.pub"), log_key).unwrap();
    let first = monitor(&["--log-key", "log.pub"]);
    ok(&first);

    sign("corp", EMAIL); // log index 0
    sign("partner", EMAIL); // 1: the same email, vouched for by another issuer
    sign("corp", "bob@example.org"); // 2
    std::fs::copy(w.join("state.json"), w.join("start.json")).unwrap();
    let matched = |run: &Run| -> Vec<(u64, String)> {
        ok(run);
        run.json()["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["logIndex"].as_u64().unwrap(),
                    m["matched"][0].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let any_issuer = matched(&monitor(&[
        "--log-key",
        "log.pub",
        "--watch-identity",
        EMAIL,
    ]));
    assert_eq!(
        any_issuer,
        [
            (0, format!("identity {EMAIL}")),
            (1, format!("identity {EMAIL}"))
        ]
    );
    std::fs::copy(w.join("start.json"), w.join("state.json")).unwrap();
    let from_corp = matched(&monitor(&[
        "--log-key",
        "log.pub",
        "--watch-identity",
        EMAIL,
        "--watch-issuer",
        &corp,
    ]));
    assert_eq!(from_corp, [(0, format!("identity {EMAIL} from {corp}"))]);
    // --watch-issuer qualifies identities only.
    let alone = monitor(&["--log-key", "log.pub", "--watch-issuer", &corp]);
    assert_eq!(alone.code, 2, "{}", alone.stderr);
}

/// `arkivo monitor --watch-identity --watch-issuer` with a trusted root that lists the CA's CT
/// log follows that log too (checkpoint signed with the root's CT log key, every leaf read from
/// the data tiles rebuilding the checkpoint's root) and reports a certificate issued for the
/// watched identity by the watched issuer although no log entry was ever made with it; a data
/// tile changed on the way is an ALERT.
#[tokio::test(flavor = "multi_thread")]
async fn monitor_reports_certificates_from_the_ct_log() {
    let issuer = TestIssuer::start(false);
    let (corp, partner) = (issuer.url("corp"), issuer.url("partner"));
    let server = TestServer::start(&["--oidc-issuer", &corp, "--oidc-issuer", &partner]);
    let base = server.base_url();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    write_json(w, "root.json", &served_root(&base).await);
    let monitor = |url: &str| {
        run_arkivo(
            Some(w),
            &[
                "monitor",
                "--once",
                "--rekor-url",
                url,
                "--trusted-root",
                "root.json",
                "--state",
                "state.json",
                "--ct-state",
                "ct.json",
                "--watch-identity",
                EMAIL,
                "--watch-issuer",
                &corp,
            ],
            &[],
        )
    };
    let first = monitor(&base);
    ok(&first);
    assert!(first.stdout.contains("CT log"), "{}", first.stdout);
    // Certificates only: no log entry is made with any of them.
    let client = RekorClient::new(&base).unwrap();
    for (name, email) in [
        ("corp", EMAIL),
        ("partner", EMAIL),
        ("corp", "bob@example.org"),
    ] {
        let token = issuer.token(
            Alg::Rs256,
            name,
            json!({"email": email, "email_verified": true}),
        );
        let args = arkivo_client::fulcio::KeylessArgs {
            identity_token: Some(token),
            fulcio_url: None,
        };
        arkivo_client::fulcio::certify(&args, &client)
            .await
            .unwrap();
    }
    std::fs::copy(w.join("ct.json"), w.join("ct-start.json")).unwrap();
    let second = monitor(&base);
    ok(&second);
    let matches: Vec<&str> = second
        .stdout
        .lines()
        .filter(|l| l.starts_with("MATCH"))
        .collect();
    assert_eq!(matches.len(), 1, "{}", second.stdout);
    assert!(
        matches[0].starts_with("MATCH CT log index") && matches[0].contains(EMAIL),
        "{}",
        second.stdout
    );
    assert!(matches[0].contains(&corp), "{}", second.stdout);

    // The same round through a proxy that changes a byte of the data tile (the first leaf's
    // timestamp): the leaves no longer make the checkpoint's root.
    std::fs::copy(w.join("ct-start.json"), w.join("ct.json")).unwrap();
    let proxy = common::proxy::Proxy::start(&base, |path, body| {
        path.starts_with("/ct/tile/data/").then(|| {
            let mut body = body.to_vec();
            body[7] ^= 1;
            body
        })
    });
    refused(
        &monitor(&proxy.base_url()),
        1,
        "do not make its checkpoint's root",
    );
    drop(server);
}
