//! The Rekor v2 write API (tiles-checkpoints-witnesses.md §6) through the real router, over the
//! in-memory store: the answer's exact proto3 JSON, its proof and C2SP checkpoint, the stored
//! entry of each request kind and verifier, 409s, 400s that name the problem and write nothing,
//! and v1 and v2 entries in one tree (v1 reads of v2 entries, search, `verify-log`).

mod common;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use der::{DecodePem, Encode};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

use arkivo_core::checkpoint;
use arkivo_core::entries::{self, dsse::pae};
use arkivo_core::merkle;
use arkivo_core::proto::rekor_v1::TransparencyLogEntry;
use arkivo_core::proto::transparency_log_entry_json;
use common::hashedrekord_v2 as hashedrekord;
use common::router::{Answer, Api, api, check_log_entry};

const ORIGIN: &str = "127.0.0.1:3000";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/entries");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

/// A client of the v2 API with a fresh P-256 key.
type Signer = common::EntrySigner;

async fn post(api: &Api, request: &Value) -> Answer {
    api.post("/api/v2/log/entries", request).await
}

async fn tree_size(api: &Api) -> u64 {
    api.get("/api/v1/log").await.json()["treeSize"]
        .as_u64()
        .unwrap()
}

/// Checks a 201 answer against everything §6.5 promises and returns it parsed.
fn check_tle(api: &Api, a: &Answer, kind: &str) -> TransparencyLogEntry {
    a.assert_status(StatusCode::CREATED);
    assert_eq!(a.header("content-type"), Some("application/json"));
    // Every field, unpopulated ones included, in upstream's order and JSON form.
    let text = std::str::from_utf8(&a.body).unwrap();
    let mut at = 0;
    for key in [
        "logIndex",
        "logId",
        "kindVersion",
        "integratedTime",
        "inclusionPromise",
        "inclusionProof",
        "canonicalizedBody",
    ] {
        let found = text[at..]
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{key} missing or out of order in {text}"));
        at += found;
    }
    let raw = a.json();
    assert_eq!(raw.as_object().unwrap().len(), 7, "{text}");
    assert_eq!(raw["integratedTime"], "0");
    assert_eq!(raw["inclusionPromise"], Value::Null);
    assert!(raw["logIndex"].is_string() && raw["inclusionProof"]["treeSize"].is_string());
    assert!(raw["inclusionProof"]["hashes"].is_array());
    let tle: TransparencyLogEntry = serde_json::from_slice(&a.body).unwrap();
    // The generated types give back exactly the JSON they read.
    assert_eq!(
        serde_json::from_slice::<Value>(&transparency_log_entry_json(&tle)).unwrap(),
        raw
    );

    let keys = &api.identity.keys;
    assert_eq!(
        tle.log_id.as_ref().unwrap().key_id,
        keys.checkpoint_key_id(ORIGIN)
    );
    let kv = tle.kind_version.as_ref().unwrap();
    assert_eq!((kv.kind.as_str(), kv.version.as_str()), (kind, "0.0.2"));
    let body = &tle.canonicalized_body;
    let parsed: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        (parsed["kind"].as_str(), parsed["apiVersion"].as_str()),
        (Some(kind), Some("0.0.2"))
    );
    // JCS, and exactly the bytes the server's own reading of the entry gives back.
    entries::index_keys_of_body(body).unwrap();

    let p = tle.inclusion_proof.as_ref().unwrap();
    assert_eq!(p.log_index, tle.log_index);
    let cp = checkpoint::verify_c2sp(
        &p.checkpoint.as_ref().unwrap().envelope,
        &keys.ed25519_verifier(ORIGIN),
        &[],
    )
    .unwrap();
    // The checkpoint covers the entry, and the proof is for the checkpoint's size.
    assert_eq!(cp.size, u64::try_from(p.tree_size).unwrap());
    assert!(cp.size > u64::try_from(tle.log_index).unwrap());
    assert_eq!(cp.root.as_bytes().as_slice(), p.root_hash.as_slice());
    let proof: Vec<merkle::Hash> = p
        .hashes
        .iter()
        .map(|h| merkle::Hash::from_slice(h).unwrap())
        .collect();
    merkle::verify_inclusion(
        u64::try_from(tle.log_index).unwrap(),
        cp.size,
        &merkle::record_hash(body),
        &proof,
        &cp.root,
    )
    .unwrap();
    tle
}

#[tokio::test(flavor = "multi_thread")]
async fn hashedrekord_is_logged_with_its_proof_and_c2sp_checkpoint() {
    let api = api();
    let s = Signer::new();
    let digest = Sha256::digest(b"first");
    let sig = s.sign_digest(&digest);
    let a = post(&api, &hashedrekord(&digest, &sig, s.verifier_v2())).await;
    let tle = check_tle(&api, &a, "hashedrekord");
    assert_eq!(tle.log_index, 0);
    assert_eq!(a.json()["inclusionProof"]["hashes"], json!([]));
    // §6.3: the JCS of the v2 Entry, algorithm from the key details, signature as sent.
    assert_eq!(
        String::from_utf8(tle.canonicalized_body).unwrap(),
        format!(
            r#"{{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{{"hashedRekordV002":{{"data":{{"algorithm":"SHA2_256","digest":"{}"}},"signature":{{"content":"{}","verifier":{{"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{{"rawBytes":"{}"}}}}}}}}}}}}"#,
            B64.encode(digest),
            B64.encode(&sig),
            B64.encode(s.spki())
        )
    );

    let second = check_tle(
        &api,
        &post(&api, &s.hashedrekord_v2(b"second")).await,
        "hashedrekord",
    );
    assert_eq!(second.log_index, 1);
    assert_eq!(second.inclusion_proof.unwrap().hashes.len(), 1);

    // The same request again: 409 naming the existing index, nothing written.
    let dup = post(&api, &hashedrekord(&digest, &sig, s.verifier_v2())).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.header("x-log-index"), Some("0"));
    let (code, message) = dup.error();
    assert_eq!(code, 409);
    assert!(
        message.contains("already exists") && message.contains("index 0"),
        "{message}"
    );
    assert_eq!(tree_size(&api).await, 2);

    // snake_case field names and URL-safe, unpadded base64 are read as protojson reads them.
    let digest = Sha256::digest(b"third");
    let sig = s.sign_digest(&digest);
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let snake = json!({"hashed_rekord_request_v002": {
        "digest": url.encode(digest),
        "signature": {"content": url.encode(&sig), "verifier": {
            "public_key": {"raw_bytes": url.encode(s.spki())}, "key_details": 5}},
    }});
    let third = check_tle(&api, &post(&api, &snake).await, "hashedrekord");
    assert_eq!(
        third.canonicalized_body,
        entries::v2::canonicalize_request(
            &serde_json::to_vec(&hashedrekord(&digest, &sig, s.verifier_v2())).unwrap()
        )
        .unwrap()
        .body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_and_v2_entries_share_one_tree() {
    let api = api();
    let v1 = common::EntrySigner::new();
    let s = Signer::new();
    let mut v2_ids = Vec::new();
    for i in 0..6u64 {
        let artifact = format!("artifact {i}");
        if i % 2 == 0 {
            let a = api
                .post("/api/v1/log/entries", &v1.hashedrekord(artifact.as_bytes()))
                .await;
            assert_eq!(a.status, StatusCode::CREATED);
            assert_eq!(check_log_entry(&api, &a).1, i);
        } else {
            let tle = check_tle(
                &api,
                &post(&api, &s.hashedrekord_v2(artifact.as_bytes())).await,
                "hashedrekord",
            );
            assert_eq!(tle.log_index, i64::try_from(i).unwrap());
            let leaf = merkle::record_hash(&tle.canonicalized_body);
            v2_ids.push((i, api.identity.entry_id(&leaf), tle.canonicalized_body));
        }
    }
    assert_eq!(tree_size(&api).await, 6);

    // The v1 reads serve a v2 entry as the leaf it is: its body, a proof to the v1 checkpoint,
    // a SET (rekor-v1-api.md §3.2–3.3). v1 clients that do not know v0.2 bodies refuse them
    // on their side; the log hides nothing that is in its tree.
    for (index, id, body) in &v2_ids {
        for uri in [
            format!("/api/v1/log/entries?logIndex={index}"),
            format!("/api/v1/log/entries/{id}"),
        ] {
            let a = api.get(&uri).await;
            assert_eq!(a.status, StatusCode::OK, "{uri}");
            let (got_id, got_index, got_body) = check_log_entry(&api, &a);
            assert_eq!((&got_id, got_index, &got_body), (id, *index, body));
        }
    }
    // Search finds v2 entries by digest and by key, as it finds v1 ones.
    let digest = hex::encode(Sha256::digest(b"artifact 3"));
    let found = api
        .post(
            "/api/v1/index/retrieve",
            &json!({"hash": format!("sha256:{digest}")}),
        )
        .await
        .json();
    assert_eq!(found, json!([v2_ids[1].1]));
    let found = api
        .post(
            "/api/v1/index/retrieve",
            &json!({"publicKey": {"format": "x509", "content": B64.encode(s.pem())}}),
        )
        .await
        .json();
    assert_eq!(found.as_array().unwrap().len(), 3);

    // Both checkpoints of the head commit to the same tree, and `verify-log` re-derives
    // everything, v2 entries included.
    let info = api.get("/api/v1/log").await.json();
    let head = api.state.sequencer.published().head();
    let c2sp = checkpoint::verify_c2sp(
        &head.checkpoint_c2sp,
        &api.identity.keys.ed25519_verifier(ORIGIN),
        &[],
    )
    .unwrap();
    assert_eq!(info["rootHash"], c2sp.root.to_hex());
    let report =
        arkivo_server::fsck::verify_log(api.store.as_ref(), &api.identity, |_| {}).unwrap();
    assert_eq!(report.entries, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn dsse_requests_and_dsse_logged_as_hashedrekord() {
    let api = api();
    let (a, b) = (Signer::new(), Signer::new());
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"abababababababababababababababababababababababababababababababab"}}],"predicateType":"p","predicate":{}}"#;
    let t = "application/vnd.in-toto+json";

    // dsse v0.0.2 with two signers: the payload's SHA-256 and both signatures, sorted by bytes.
    let (sig_a, sig_b) = {
        let d = Sha256::digest(pae(t, statement));
        (a.sign_digest(&d), b.sign_digest(&d))
    };
    let request = json!({"dsseRequestV002": {
        "envelope": {"payload": B64.encode(statement), "payloadType": t, "signatures": [
            {"sig": B64.encode(&sig_a), "keyid": "a"}, {"sig": B64.encode(&sig_b)}]},
        "verifiers": [b.verifier_v2(), a.verifier_v2()],
    }});
    let tle = check_tle(&api, &post(&api, &request).await, "dsse");
    let body: Value = serde_json::from_slice(&tle.canonicalized_body).unwrap();
    let spec = &body["spec"]["dsseV002"];
    assert_eq!(
        spec["payloadHash"],
        json!({"algorithm": "SHA2_256", "digest": B64.encode(Sha256::digest(statement))})
    );
    let mut want = vec![(sig_a, a.verifier_v2()), (sig_b, b.verifier_v2())];
    want.sort_by(|x, y| x.0.cmp(&y.0));
    let want: Vec<Value> = want
        .into_iter()
        .map(|(sig, v)| json!({"content": B64.encode(sig), "verifier": v}))
        .collect();
    assert_eq!(spec["signatures"], json!(want));
    // The payload hash is searchable.
    let by_payload = api
        .post(
            "/api/v1/index/retrieve",
            &json!({"hash": format!("sha256:{}", hex::encode(Sha256::digest(statement)))}),
        )
        .await
        .json();
    assert_eq!(by_payload.as_array().unwrap().len(), 1);

    // The same envelope as sigstore-python logs it: a hashedrekord over SHA-256(PAE).
    let d = Sha256::digest(pae(t, statement));
    let tle = check_tle(
        &api,
        &post(&api, &hashedrekord(&d, &a.sign_digest(&d), a.verifier_v2())).await,
        "hashedrekord",
    );
    assert_eq!(tle.log_index, 1);
    // And a single-signature dsse request as @sigstore/sign 4.1.1 makes it.
    check_tle(&api, &post(&api, &b.dsse_v2(t, statement)).await, "dsse");
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_and_other_key_types() {
    let api = api();
    let artifact = b"built by CI";

    // A certificate, stored verbatim; its SANs are searchable.
    let cert = x509_cert::Certificate::from_pem(fixture("selfsigned.pem")).unwrap();
    let cert_der = cert.to_der().unwrap();
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&fixture("selfsigned.key")).unwrap();
    let digest = Sha256::digest(artifact);
    let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
    let cert_verifier = json!({"x509Certificate": {"rawBytes": B64.encode(&cert_der)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"});
    let tle = check_tle(
        &api,
        &post(
            &api,
            &hashedrekord(&digest, sig.to_der().as_bytes(), cert_verifier.clone()),
        )
        .await,
        "hashedrekord",
    );
    let body: Value = serde_json::from_slice(&tle.canonicalized_body).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["verifier"],
        cert_verifier
    );
    let found = api
        .post(
            "/api/v1/index/retrieve",
            &json!({"email": "alice@example.com"}),
        )
        .await
        .json();
    assert_eq!(found.as_array().unwrap().len(), 1);

    // A bare key sent as a "certificate", as @sigstore/sign 4.1.1 sends every key: logged under
    // its true name, `publicKey`.
    let s = Signer::new();
    let digest = Sha256::digest(b"from sigstore-js");
    let mislabelled = json!({"x509Certificate": {"rawBytes": B64.encode(s.spki())}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"});
    let tle = check_tle(
        &api,
        &post(
            &api,
            &hashedrekord(&digest, &s.sign_digest(&digest), mislabelled),
        )
        .await,
        "hashedrekord",
    );
    let body: Value = serde_json::from_slice(&tle.canonicalized_body).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["verifier"],
        s.verifier_v2()
    );

    // Ed25519ph over a SHA-512 digest (PKIX_ED25519_PH).
    let ed = ed25519_dalek::SigningKey::from_pkcs8_pem(&fixture("ed25519.key")).unwrap();
    let ed_spki = ed.verifying_key().to_public_key_der().unwrap().into_vec();
    let prehash = Sha512::new().chain_update(artifact);
    let ed_sig = ed.sign_prehashed(prehash.clone(), None).unwrap().to_bytes();
    let ed_verifier = |details: &str| json!({"publicKey": {"rawBytes": B64.encode(&ed_spki)}, "keyDetails": details});
    let d512 = prehash.finalize();
    let tle = check_tle(
        &api,
        &post(
            &api,
            &hashedrekord(&d512, &ed_sig, ed_verifier("PKIX_ED25519_PH")),
        )
        .await,
        "hashedrekord",
    );
    let body: Value = serde_json::from_slice(&tle.canonicalized_body).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["data"]["algorithm"],
        "SHA2_512"
    );

    // RSA-3072, PKCS#1 v1.5 over SHA-256.
    let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(&fixture("rsa3072.key")).unwrap();
    let rsa_spki = rsa.to_public_key().to_public_key_der().unwrap().into_vec();
    let rsa_sig = rsa
        .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
        .unwrap();
    let rsa_verifier = |details: &str| json!({"publicKey": {"rawBytes": B64.encode(&rsa_spki)}, "keyDetails": details});
    check_tle(
        &api,
        &post(
            &api,
            &hashedrekord(
                &digest,
                &rsa_sig,
                rsa_verifier("PKIX_RSA_PKCS1V15_3072_SHA256"),
            ),
        )
        .await,
        "hashedrekord",
    );

    // Key details that do not describe the key, or are not allowed, are refused by name.
    for (request, wanted) in [
        (
            hashedrekord(&d512, &ed_sig, ed_verifier("PKIX_ED25519")),
            "unsupported key details PKIX_ED25519:",
        ),
        (
            hashedrekord(
                &digest,
                &rsa_sig,
                rsa_verifier("PKIX_RSA_PKCS1V15_2048_SHA256"),
            ),
            "key details PKIX_RSA_PKCS1V15_2048_SHA256 do not match the RSA-3072 key",
        ),
        (
            hashedrekord(
                &digest,
                &s.sign_digest(&digest),
                json!({"publicKey": {"rawBytes": B64.encode(s.spki())}, "keyDetails": "PKIX_ECDSA_P384_SHA_384"}),
            ),
            "key details PKIX_ECDSA_P384_SHA_384 do not match the ECDSA P-256 key",
        ),
    ] {
        let a = post(&api, &request).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        let (_, message) = a.error();
        assert!(
            message.contains(wanted),
            "{message} should contain {wanted}"
        );
    }
    assert_eq!(tree_size(&api).await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_answer_400_with_a_message_and_write_nothing() {
    let api = api();
    let s = Signer::new();
    let good = s.hashedrekord_v2(b"x");
    let digest = Sha256::digest(b"x");
    let sig = s.sign_digest(&digest);
    let hr = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v["hashedRekordRequestV002"]);
        v
    };
    let dsse = |f: &dyn Fn(&mut Value)| {
        let mut v = s.dsse_v2("text/plain", b"hello");
        f(&mut v["dsseRequestV002"]);
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "invalid request body"),
        (json!({}), "the request holds no entry"),
        (
            json!({"hashedRekordRequestV002": null}),
            "the request holds no entry",
        ),
        (json!({"rekord": {}}), "unknown field `rekord`"),
        (
            json!({"hashedRekordRequestV002": good["hashedRekordRequestV002"], "dsseRequestV002": {}}),
            "more than one entry type in one request",
        ),
        (hr(&|v| v["extra"] = json!(1)), "unknown field `extra`"),
        (
            hr(&|v| v["digest"] = json!("not base64!")),
            "hashedRekordRequestV002.digest: Invalid symbol",
        ),
        (
            hr(&|v| v["digest"] = json!(12)),
            "hashedRekordRequestV002.digest: invalid type: integer `12`, expected a base64 string",
        ),
        (
            hr(&|v| v["signature"]["verifier"]["keyDetails"] = json!("PKIX_NOPE")),
            "hashedRekordRequestV002.signature.verifier.keyDetails: unknown variant `PKIX_NOPE`",
        ),
        (
            hr(&|v| v["signature"] = Value::Null),
            "invalid hashedrekord request: missing signature",
        ),
        (
            hr(&|v| v["signature"]["content"] = json!("")),
            "missing signature",
        ),
        (
            hr(&|v| v["signature"]["verifier"] = Value::Null),
            "missing verifier",
        ),
        (hr(&|v| v["digest"] = json!("")), "missing digest"),
        (
            hr(&|v| v["signature"]["verifier"] = json!({"keyDetails": "PKIX_ECDSA_P256_SHA_256"})),
            "missing signature public key or X.509 certificate",
        ),
        (
            hr(&|v| v["signature"]["verifier"]["publicKey"]["rawBytes"] = json!("")),
            "missing public key raw bytes",
        ),
        (
            hr(&|v| v["signature"]["verifier"] = json!({"x509Certificate": {}, "keyDetails": 5})),
            "missing X.509 certificate raw bytes",
        ),
        (
            hr(&|v| v["signature"]["verifier"]["publicKey"]["rawBytes"] = json!("AAAA")),
            "parsing public key",
        ),
        (
            hr(&|v| {
                v["signature"]["verifier"] =
                    json!({"x509Certificate": {"rawBytes": "AAAA"}, "keyDetails": 5})
            }),
            "parsing certificate",
        ),
        (
            hr(&|v| {
                v["signature"]["verifier"]
                    .as_object_mut()
                    .unwrap()
                    .remove("keyDetails");
            }),
            "unsupported key details PUBLIC_KEY_DETAILS_UNSPECIFIED",
        ),
        (
            hr(&|v| v["digest"] = json!(B64.encode([1u8; 48]))),
            "digest length (48) does not match expected size (32) for algorithm sha256",
        ),
        (
            hr(&|v| v["digest"] = json!(B64.encode(Sha256::digest(b"y")))),
            "verifying signature",
        ),
        (
            hr(&|v| v["signature"]["content"] = json!(B64.encode([0u8; 3000]))),
            "signature is larger than",
        ),
        (
            hashedrekord(&digest, &sig, Signer::new().verifier_v2()),
            "verifying signature",
        ),
        (
            json!({"dsseRequestV002": {"verifiers": [s.verifier_v2()]}}),
            "invalid dsse request: missing envelope",
        ),
        (dsse(&|v| v["verifiers"] = json!([])), "missing verifiers"),
        (
            dsse(&|v| v["verifiers"] = json!([s.verifier_v2(), s.verifier_v2()])),
            "duplicate verifier",
        ),
        (
            dsse(&|v| v["verifiers"] = json!(vec![s.verifier_v2(); 9])),
            "too many verifiers: 9",
        ),
        (
            dsse(&|v| v["envelope"]["signatures"] = json!([])),
            "envelope missing signatures",
        ),
        (
            dsse(&|v| v["envelope"]["signatures"] = json!([{"sig": ""}])),
            "envelope signature empty",
        ),
        (
            dsse(&|v| v["envelope"]["payload"] = json!(B64.encode("other"))),
            "no signature verifies with verifier 0",
        ),
        (
            dsse(&|v| v["verifiers"] = json!([Signer::new().verifier_v2()])),
            "no signature verifies with verifier 0",
        ),
        (
            dsse(&|v| {
                let extra = json!({"sig": B64.encode(Signer::new().sign_digest(&[0; 32]))});
                v["envelope"]["signatures"]
                    .as_array_mut()
                    .unwrap()
                    .push(extra);
            }),
            "all signatures must have a key that verifies it",
        ),
    ];
    for (request, wanted) in &cases {
        let a = post(&api, request).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{request}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let (code, message) = a.error();
        assert_eq!(code, 400);
        assert!(
            message.contains(wanted),
            "{request}: {message:?} should contain {wanted:?}"
        );
    }
    for raw in [
        &b"{not json"[..],
        b"",
        &[0xff, 0xfe],
        "[".repeat(100).as_bytes(),
    ] {
        let a = api.call("POST", "/api/v2/log/entries", raw.to_vec()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(!a.error().1.is_empty());
    }
    assert_eq!(tree_size(&api).await, 0);
    assert_eq!(post(&api, &good).await.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_need_a_token_when_the_log_has_write_tokens() {
    let mut api = api();
    let (token, digest) = arkivo_server::auth::new_token();
    api.state = api
        .state
        .clone()
        .with_write_tokens(arkivo_server::auth::WriteTokens::parse(&digest).unwrap());
    let request = Signer::new().hashedrekord_v2(b"guarded");
    let a = post(&api, &request).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(tree_size(&api).await, 0);
    let a = api
        .call_with(
            "POST",
            "/api/v2/log/entries",
            serde_json::to_vec(&request).unwrap(),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    check_tle(&api, &a, "hashedrekord");
}
