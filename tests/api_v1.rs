//! The Rekor v1 HTTP API through the real router (no socket), over the in-memory store:
//! status codes, headers, byte layout (rekor-v1-api.md §12) and that bad input writes nothing.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

use arkivo_core::merkle::{self, Hash};
use arkivo_core::wire::{ConsistencyProof, LogInfo};
use arkivo_server::storage::LogStore;
use common::router::{Answer, api, api_on, check_log_entry};

/// A signer with a fresh P-256 key, as cosign makes them.
struct Signer {
    key: p256::ecdsa::SigningKey,
}

impl Signer {
    fn new() -> Self {
        Signer {
            key: p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
        }
    }
    fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }
    /// A hashedrekord v0.0.1 proposed entry for `artifact`.
    fn hashedrekord(&self, artifact: &[u8]) -> serde_json::Value {
        let digest = Sha256::digest(artifact);
        let sig: p256::ecdsa::Signature = self.key.sign_prehash(&digest).unwrap();
        serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
                "signature": {
                    "content": B64.encode(sig.to_der().as_bytes()),
                    "publicKey": {"content": B64.encode(self.public_pem())},
                },
            },
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn create_answers_201_with_etag_location_proof_and_set() {
    let api = api();
    let signer = Signer::new();
    let a = api
        .post("/api/v1/log/entries", &signer.hashedrekord(b"hello"))
        .await;
    a.assert_status(StatusCode::CREATED);
    assert_eq!(a.header("content-type"), Some("application/json"));
    let (id, index, body) = check_log_entry(&api, &a);
    assert_eq!(index, 0);
    assert_eq!(a.header("etag"), Some(id.as_str()));
    assert_eq!(
        a.header("location"),
        Some(format!("/api/v1/log/entries/{id}").as_str())
    );
    assert!(
        a.header("cache-control").is_none(),
        "POST routes get no NoCache headers"
    );
    let canonical: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(canonical["kind"], "hashedrekord");

    // The same entry again: 409, the same ID in the message and Location, no ETag.
    let dup = api
        .post("/api/v1/log/entries", &signer.hashedrekord(b"hello"))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let (code, message) = dup.error();
    assert_eq!(code, 409);
    assert_eq!(
        message,
        format!("an equivalent entry already exists in the transparency log with UUID {id}")
    );
    assert_eq!(
        dup.header("location"),
        Some(format!("/api/v1/log/entries/{id}").as_str())
    );
    assert!(dup.header("etag").is_none());
    assert_eq!(api.store.entry_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_are_found_by_index_uuid_and_retrieve() {
    let api = api();
    let signer = Signer::new();
    let mut ids = Vec::new();
    for n in 0..5u8 {
        let a = api
            .post("/api/v1/log/entries", &signer.hashedrekord(&[n]))
            .await;
        assert_eq!(a.status, StatusCode::CREATED);
        ids.push(check_log_entry(&api, &a).0);
    }
    for (i, id) in ids.iter().enumerate() {
        let a = api.get(&format!("/api/v1/log/entries?logIndex={i}")).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(
            a.header("cache-control"),
            Some("no-cache, private, max-age=0")
        );
        assert_eq!(a.header("pragma"), Some("no-cache"));
        let (got, index, _) = check_log_entry(&api, &a);
        assert_eq!((&got, index), (id, i as u64));
        // Proofs are against the current head.
        assert!(a.json()[id]["verification"]["inclusionProof"]["treeSize"] == 5);
        for uuid in [id.clone(), id[16..].to_owned(), id.to_uppercase()] {
            let a = api.get(&format!("/api/v1/log/entries/{uuid}")).await;
            assert_eq!(a.status, StatusCode::OK, "{uuid}");
            assert_eq!(
                &check_log_entry(&api, &a).0,
                id,
                "always the lowercase 80-hex ID"
            );
        }
    }
    // Not found: 404 with no body and no content type (§3.2, §3.3).
    for uri in [
        "/api/v1/log/entries?logIndex=5".to_owned(),
        format!("/api/v1/log/entries/{}", "ab".repeat(32)),
        format!("/api/v1/log/entries/0000000000000001{}", &ids[0][16..]),
    ] {
        let a = api.get(&uri).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(
            a.body.is_empty() && a.header("content-type").is_none(),
            "{uri}"
        );
    }
    // Parameter validation (§1.4 (b)).
    for (uri, code) in [
        ("/api/v1/log/entries?logIndex=abc", 601),
        ("/api/v1/log/entries?logIndex=-1", 609),
        ("/api/v1/log/entries", 602),
        ("/api/v1/log/entries/xyz", 605),
        ("/api/v1/log/entries/abcd", 605),
    ] {
        let a = api.get(uri).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert_eq!(a.error().0, code, "{uri}");
    }

    // Retrieve, also with the trailing slash sigstore-python uses: an array of one-key maps.
    for path in [
        "/api/v1/log/entries/retrieve",
        "/api/v1/log/entries/retrieve/",
    ] {
        let a = api
            .post(
                path,
                &serde_json::json!({
                    "entryUUIDs": [ids[0], &ids[1][16..]],
                    "logIndexes": [2, 99],
                    "entries": [signer.hashedrekord(&[3])],
                }),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        let arr = a.json();
        let found: Vec<&String> = arr
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_object().unwrap().keys().next().unwrap())
            .collect();
        assert_eq!(found, [&ids[0], &ids[1], &ids[3], &ids[2]]);
        assert!(a.body.ends_with(b"]\n"));
    }
    let a = api
        .post("/api/v1/log/entries/retrieve", &serde_json::json!({}))
        .await;
    assert_eq!(
        (a.status, a.body.as_slice()),
        (StatusCode::OK, &b"[]\n"[..])
    );
    let too_many: Vec<u64> = (0..11).collect();
    let a = api
        .post(
            "/api/v1/log/entries/retrieve",
            &serde_json::json!({"logIndexes": too_many}),
        )
        .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::UNPROCESSABLE_ENTITY, 611)
    );
    let a = api
        .post(
            "/api/v1/log/entries/retrieve",
            &serde_json::json!({"logIndexes": [0,1,2,3,4,5], "entryUUIDs": [&ids[0],&ids[1],&ids[2],&ids[3],&ids[4]]}),
        )
        .await;
    assert_eq!(
        a.error(),
        (
            422,
            "more than max allowed 10 entries in request".to_owned()
        )
    );
}

/// The SET of the one entry of a LogEntry answer (`{"<id>": {...}}`).
fn set_of(a: &Answer) -> String {
    let j = a.json();
    let (_, e) = j.as_object().unwrap().iter().next().unwrap();
    e["verification"]["signedEntryTimestamp"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The SET is signed once, when the entry is written, and stored with it: the 201 and every
/// later read (by index, by UUID, retrieve; after a restart too) return the same bytes, which
/// verify over the §4 payload.
#[tokio::test(flavor = "multi_thread")]
async fn the_set_is_stored_and_every_read_returns_the_201s_bytes() {
    let api = api();
    let signer = Signer::new();
    let mut created = Vec::new();
    for n in 0..3u8 {
        let a = api
            .post("/api/v1/log/entries", &signer.hashedrekord(&[n]))
            .await;
        a.assert_status(StatusCode::CREATED);
        let (id, index, _) = check_log_entry(&api, &a);
        let stored = api.store.entry(index).unwrap().unwrap().set.unwrap();
        assert_eq!(B64.decode(set_of(&a)).unwrap(), stored);
        created.push((id, index, set_of(&a)));
    }
    let restarted = api_on(api.store.clone(), api.identity.clone());
    for server in [&api, &api, &restarted] {
        for (id, index, set) in &created {
            for uri in [
                format!("/api/v1/log/entries?logIndex={index}"),
                format!("/api/v1/log/entries/{id}"),
                format!("/api/v1/log/entries/{}", &id[16..]),
            ] {
                let a = server.get(&uri).await;
                a.assert_status(StatusCode::OK);
                check_log_entry(server, &a);
                assert_eq!(&set_of(&a), set, "{uri}");
            }
            let a = server
                .post(
                    "/api/v1/log/entries/retrieve",
                    &serde_json::json!({"entryUUIDs": [id]}),
                )
                .await;
            a.assert_status(StatusCode::OK);
            let got = &a.json()[0][id]["verification"]["signedEntryTimestamp"];
            assert_eq!(got.as_str(), Some(set.as_str()));
        }
    }
}

/// An entry written before SETs were stored (its row has none) is served with a SET signed at
/// read time with an RFC 6979 nonce: it verifies, and every read — after a restart, with an
/// empty cache, too — returns the same bytes. Entries written after it get stored ones.
#[tokio::test(flavor = "multi_thread")]
async fn an_entry_without_a_stored_set_gets_the_same_set_every_time() {
    use arkivo_core::merkle::RightBorder;
    use arkivo_server::storage::{CommitBatch, NewEntry, TreeHead};
    use std::sync::Arc;
    let store = Arc::new(arkivo_server::storage::memory::MemoryStore::new());
    let identity = Arc::new(
        arkivo_server::log::create_log(
            store.as_ref(),
            "127.0.0.1:3000",
            arkivo_core::signer::LogKeys::generate(),
        )
        .unwrap(),
    );
    // The batch as the sequencer wrote it before SETs were stored: no SET rows.
    let signer = Signer::new();
    let proposed = serde_json::to_vec(&signer.hashedrekord(b"old")).unwrap();
    let e = arkivo_core::entries::canonicalize_bytes(&proposed).unwrap();
    let mut border = RightBorder::empty();
    let hashes = border.append(e.leaf_hash);
    let (checkpoint_v1, checkpoint_c2sp) = identity.sign_checkpoints(1, &border.root());
    let head = TreeHead {
        size: 1,
        root: border.root(),
        timestamp: identity.meta.created,
        checkpoint_v1,
        checkpoint_c2sp,
    };
    store
        .commit(&CommitBatch {
            first_index: 0,
            integrated_time: head.timestamp,
            entries: &[NewEntry {
                body: e.body,
                leaf_hash: e.leaf_hash,
                index_keys: e.index_keys,
            }],
            sets: &[],
            hashes: &hashes,
            head: &head,
        })
        .unwrap();
    assert_eq!(store.entry(0).unwrap().unwrap().set, None);

    let api = api_on(store.clone(), identity.clone());
    let first = api.get("/api/v1/log/entries?logIndex=0").await;
    first.assert_status(StatusCode::OK);
    check_log_entry(&api, &first);
    let set = set_of(&first);
    assert_eq!(
        set_of(&api.get("/api/v1/log/entries?logIndex=0").await),
        set
    );
    let restarted = api_on(store.clone(), identity.clone());
    let again = restarted.get("/api/v1/log/entries?logIndex=0").await;
    check_log_entry(&restarted, &again);
    assert_eq!(set_of(&again), set, "after a restart");
    assert_eq!(
        store.entry(0).unwrap().unwrap().set,
        None,
        "reads write nothing"
    );

    let a = restarted
        .post("/api/v1/log/entries", &signer.hashedrekord(b"new"))
        .await;
    a.assert_status(StatusCode::CREATED);
    let (_, index, _) = check_log_entry(&restarted, &a);
    assert_eq!(index, 1);
    assert_eq!(
        store.entry(1).unwrap().unwrap().set,
        Some(B64.decode(set_of(&a)).unwrap())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn log_info_public_key_proof_and_trusted_root() {
    let api = api();
    let empty = api.get("/api/v1/log").await;
    let info: LogInfo = serde_json::from_slice(&empty.body).unwrap();
    assert_eq!(info.tree_size, 0);
    assert_eq!(
        info.root_hash,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert!(
        std::str::from_utf8(&empty.body)
            .unwrap()
            .starts_with("{\"inactiveShards\":null,\"rootHash\":")
    );
    assert_eq!(info.tree_id, api.identity.meta.tree_id.to_string());

    let signer = Signer::new();
    let mut roots = vec![merkle::empty_root()];
    for n in 0..7u8 {
        assert_eq!(
            api.post("/api/v1/log/entries", &signer.hashedrekord(&[n]))
                .await
                .status,
            StatusCode::CREATED
        );
        let info: LogInfo = serde_json::from_slice(&api.get("/api/v1/log").await.body).unwrap();
        let cp = arkivo_core::checkpoint::verify_v1(
            &info.signed_tree_head,
            api.identity.keys.ecdsa_verifying_key(),
            "127.0.0.1:3000",
        )
        .unwrap();
        assert_eq!(cp.origin, format!("127.0.0.1:3000 - {}", info.tree_id));
        assert_eq!(
            (cp.size, cp.root.to_hex()),
            (info.tree_size, info.root_hash)
        );
        roots.push(cp.root);
    }
    for m in 1..=7u64 {
        for n in m..=7u64 {
            let a = api
                .get(&format!("/api/v1/log/proof?firstSize={m}&lastSize={n}"))
                .await;
            assert_eq!(a.status, StatusCode::OK);
            let p: ConsistencyProof = serde_json::from_slice(&a.body).unwrap();
            let proof: Vec<Hash> = p
                .hashes
                .iter()
                .map(|h| Hash::from_hex(h).unwrap())
                .collect();
            merkle::verify_consistency(m, n, &proof, &roots[m as usize], &roots[n as usize])
                .unwrap();
            assert_eq!(p.root_hash, roots[n as usize].to_hex());
        }
    }
    assert_eq!(
        api.get("/api/v1/log/proof?firstSize=1&lastSize=1")
            .await
            .body,
        format!("{{\"hashes\":[],\"rootHash\":\"{}\"}}\n", roots[1].to_hex()).into_bytes()
    );
    for (uri, status, code) in [
        ("/api/v1/log/proof?firstSize=3&lastSize=2", 400, 400),
        ("/api/v1/log/proof?firstSize=1&lastSize=8", 400, 400),
        ("/api/v1/log/proof?firstSize=0&lastSize=2", 422, 609),
        ("/api/v1/log/proof?firstSize=1", 422, 602),
        ("/api/v1/log/proof?lastSize=2&treeID=12", 400, 400),
    ] {
        let a = api.get(uri).await;
        assert_eq!((a.status.as_u16(), a.error().0), (status, code), "{uri}");
    }

    let pk = api.get("/api/v1/log/publicKey").await;
    assert_eq!(pk.header("content-type"), Some("application/x-pem-file"));
    assert_eq!(
        String::from_utf8(pk.body).unwrap(),
        api.identity.keys.ecdsa_public_pem()
    );
    let tree = api.identity.meta.tree_id;
    assert_eq!(
        api.get(&format!("/api/v1/log/publicKey?treeID={tree}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/v1/log/publicKey?treeID=5").await.error(),
        (400, "Bad Request".into())
    );
    assert_eq!(
        api.get("/api/v1/log/publicKey?treeID=x").await.error().0,
        605
    );

    let root = api.get("/api/v1/log/trustedRoot").await.json();
    let tlog = &root["tlogs"][0];
    assert_eq!(tlog["baseUrl"], "http://127.0.0.1:3000");
    assert_eq!(
        B64.decode(tlog["publicKey"]["rawBytes"].as_str().unwrap())
            .unwrap(),
        api.identity.keys.ecdsa_spki_der()
    );
    assert_eq!(
        B64.decode(tlog["logId"]["keyId"].as_str().unwrap())
            .unwrap(),
        api.identity.keys.log_id()
    );
    // The Ed25519 key of the C2SP checkpoints (Rekor v2 answers), named by its full key hash
    // under the origin both as log ID and as checkpoint key ID (tiles-checkpoints-witnesses.md §7.4).
    assert_eq!(
        root["mediaType"],
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    );
    assert_eq!(root["tlogs"].as_array().unwrap().len(), 2);
    let v2 = &root["tlogs"][1];
    assert_eq!(v2["baseUrl"], tlog["baseUrl"]);
    assert_eq!(v2["publicKey"]["keyDetails"], "PKIX_ED25519");
    assert_eq!(v2["publicKey"]["validFor"], tlog["publicKey"]["validFor"]);
    let keys = &api.identity.keys;
    assert_eq!(
        B64.decode(v2["publicKey"]["rawBytes"].as_str().unwrap())
            .unwrap(),
        keys.ed25519_spki_der()
    );
    let key_hash = B64.encode(keys.checkpoint_key_id("127.0.0.1:3000"));
    assert_eq!(v2["logId"]["keyId"], key_hash.as_str());
    assert_eq!(v2["checkpointKeyId"]["keyId"], key_hash.as_str());
    assert!(tlog.get("checkpointKeyId").is_none());
    assert_eq!(api.get("/ping").await.body, b".");
}

#[tokio::test(flavor = "multi_thread")]
async fn search_index_finds_entries_by_hash_and_key() {
    let api = api();
    let (a, b) = (Signer::new(), Signer::new());
    let mut ids = Vec::new();
    for (signer, artifact) in [(&a, &b"one"[..]), (&a, b"two"), (&b, b"one")] {
        let r = api
            .post("/api/v1/log/entries", &signer.hashedrekord(artifact))
            .await;
        ids.push(check_log_entry(&api, &r).0);
    }
    let search = |q: serde_json::Value| {
        let api = &api;
        async move {
            let r = api.post("/api/v1/index/retrieve", &q).await;
            r.assert_status(StatusCode::OK);
            let mut v: Vec<String> = serde_json::from_slice(&r.body).unwrap();
            v.sort();
            v
        }
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    let one = hex::encode(Sha256::digest(b"one"));
    assert_eq!(
        search(serde_json::json!({"hash": one})).await,
        sorted(vec![&ids[0], &ids[2]])
    );
    assert_eq!(
        search(serde_json::json!({"hash": format!("sha256:{}", one.to_uppercase())})).await,
        sorted(vec![&ids[0], &ids[2]])
    );
    let key_a = serde_json::json!({"format": "x509", "content": B64.encode(a.public_pem())});
    assert_eq!(
        search(serde_json::json!({"publicKey": key_a})).await,
        sorted(vec![&ids[0], &ids[1]])
    );
    assert_eq!(
        search(serde_json::json!({"publicKey": key_a, "hash": one, "operator": "and"})).await,
        vec![ids[0].clone()]
    );
    assert_eq!(
        search(serde_json::json!({"publicKey": key_a, "hash": one})).await,
        sorted(vec![&ids[0], &ids[1], &ids[2]])
    );
    assert!(search(serde_json::json!({})).await.is_empty());
    let bad = api
        .post(
            "/api/v1/index/retrieve",
            &serde_json::json!({"hash": "sha256:zz"}),
        )
        .await;
    assert_eq!(bad.error().0, 605);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_entries_answer_4xx_with_a_message_and_write_nothing() {
    let api = api();
    let signer = Signer::new();
    let good = signer.hashedrekord(b"artifact");
    let mut wrong_sig = good.clone();
    wrong_sig["spec"]["data"]["hash"]["value"] = hex::encode(Sha256::digest(b"other")).into();
    let mut rpm = good.clone();
    rpm["kind"] = "rpm".into();
    let mut unknown = good.clone();
    unknown["kind"] = "foo".into();
    let mut no_kind = good.clone();
    no_kind.as_object_mut().unwrap().remove("kind");
    let cases: Vec<(Body, u16, u64, &str)> = vec![
        (Body::from("{not json"), 400, 400, ""),
        (Body::from("[]"), 400, 400, ""),
        (Body::from(vec![0xff, 0xfe]), 400, 400, ""),
        (
            Body::from(serde_json::to_vec(&no_kind).unwrap()),
            422,
            602,
            "kind in body is required",
        ),
        (
            Body::from(serde_json::to_vec(&unknown).unwrap()),
            422,
            422,
            "invalid kind value: \"foo\"",
        ),
        (
            Body::from(serde_json::to_vec(&rpm).unwrap()),
            400,
            400,
            "error processing entry: entry kind 'rpm' is not enabled for submission on this server",
        ),
        (
            Body::from(serde_json::to_vec(&wrong_sig).unwrap()),
            400,
            400,
            "error processing entry: ",
        ),
        (Body::from("[".repeat(10_000)), 400, 400, ""),
        (
            Body::from(vec![b' '; arkivo_core::limits::MAX_REQUEST_BODY_BYTES + 1]),
            413,
            413,
            "Request Entity Too Large. Limit set to",
        ),
    ];
    for (body, status, code, message) in cases {
        let a = api.call("POST", "/api/v1/log/entries", body).await;
        assert_eq!(
            a.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        let (got_code, got_message) = a.error();
        assert_eq!(got_code, code, "{got_message}");
        assert!(
            got_message.starts_with(message),
            "{got_message:?} should start with {message:?}"
        );
        assert!(!got_message.is_empty());
    }
    assert_eq!(api.store.entry_count(), 0);
    assert_eq!(
        api.post("/api/v1/log/entries", &good).await.status,
        StatusCode::CREATED
    );
    assert_eq!(api.store.entry_count(), 1);
}

impl Signer {
    /// A dsse v0.0.1 proposed entry: an in-toto statement about `subject`, signed over the PAE.
    fn dsse(&self, subject: &[u8]) -> serde_json::Value {
        self.dsse_of_digest(&hex::encode(Sha256::digest(subject)))
    }

    /// The same, with the subject's sha256 digest given as is.
    fn dsse_of_digest(&self, sha256: &str) -> serde_json::Value {
        common::EntrySigner::with_key(self.key.clone()).dsse_of_digest(sha256)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dsse_entries_are_logged_and_searchable_by_subject() {
    let api = api();
    let signer = Signer::new();
    let a = api
        .post("/api/v1/log/entries", &signer.dsse(b"image"))
        .await;
    a.assert_status(StatusCode::CREATED);
    let (id, _, body) = check_log_entry(&api, &a);
    let canonical: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(canonical["kind"], "dsse");
    assert_eq!(canonical["spec"]["signatures"].as_array().unwrap().len(), 1);
    let by_subject = api
        .post(
            "/api/v1/index/retrieve",
            &serde_json::json!({"hash": format!("sha256:{}", hex::encode(Sha256::digest(b"image")))}),
        )
        .await;
    assert_eq!(
        serde_json::from_slice::<Vec<String>>(&by_subject.body).unwrap(),
        vec![id]
    );
    // The same envelope again is a duplicate; a tampered one is refused and writes nothing.
    assert_eq!(
        api.post("/api/v1/log/entries", &signer.dsse(b"image"))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let mut tampered = signer.dsse(b"other");
    let env = tampered["spec"]["proposedContent"]["envelope"]
        .as_str()
        .unwrap()
        .replace("\"sig\":\"M", "\"sig\":\"N");
    tampered["spec"]["proposedContent"]["envelope"] = env.into();
    let r = api.post("/api/v1/log/entries", &tampered).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().1.starts_with("error processing entry: "));
    assert_eq!(api.store.entry_count(), 1);
}

/// A digest or search term with a NUL is refused (it cannot be a key), so no one can poison the
/// searches for another's digest; answers come newest first, without the truncation header.
#[tokio::test(flavor = "multi_thread")]
async fn search_keys_with_a_nul_are_refused_and_answers_come_newest_first() {
    let api = api();
    let (victim, attacker) = (Signer::new(), Signer::new());
    let mut ids = Vec::new();
    for artifact in [&b"victim"[..], b"two", b"three"] {
        let r = api
            .post("/api/v1/log/entries", &victim.hashedrekord(artifact))
            .await;
        ids.push(check_log_entry(&api, &r).0);
    }
    let digest = hex::encode(Sha256::digest(b"victim"));
    let poison = attacker.dsse_of_digest(&format!("{digest}\0"));
    let r = api.post("/api/v1/log/entries", &poison).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let (_, message) = r.error();
    assert!(
        message.contains("sha256 digest must be 64 hex digits"),
        "{message}"
    );
    assert!(message.contains("NUL"), "{message}");
    assert_eq!(api.store.entry_count(), 3);

    let search = |q: serde_json::Value| {
        let api = &api;
        async move { api.post("/api/v1/index/retrieve", &q).await }
    };
    let r = search(serde_json::json!({"hash": digest})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!([ids[0]]));
    for q in [
        serde_json::json!({"email": "a\0@example.com"}),
        serde_json::json!({"subject": "x\0"}),
    ] {
        let r = search(q.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert!(r.error().1.contains("contains a NUL"), "{:?}", r.error());
    }
    let key = serde_json::json!({"format": "x509", "content": B64.encode(victim.public_pem())});
    let r = search(serde_json::json!({"publicKey": key})).await;
    assert_eq!(r.json(), serde_json::json!([ids[2], ids[1], ids[0]]));
    assert!(r.header("x-arkivo-search-truncated").is_none());
}

/// A dsse entry signed by 8 keys whose verifiers are listed in the reverse order of the
/// signatures: validating it tries 8 + 7 + … + 1 = 36 key-signature pairs.
fn eight_key_dsse() -> serde_json::Value {
    let signers: Vec<Signer> = (0..8).map(|_| Signer::new()).collect();
    let (payload_type, payload) = ("text/plain", "hello");
    let pae = format!(
        "DSSEv1 {} {payload_type} {} {payload}",
        payload_type.len(),
        payload.len()
    );
    let sigs: Vec<serde_json::Value> = signers
        .iter()
        .map(|s| {
            let sig: p256::ecdsa::Signature = s.key.sign_prehash(&Sha256::digest(&pae)).unwrap();
            serde_json::json!({"sig": B64.encode(sig.to_der().as_bytes())})
        })
        .collect();
    let envelope = serde_json::json!({
        "payloadType": payload_type,
        "payload": B64.encode(payload),
        "signatures": sigs,
    })
    .to_string();
    let verifiers: Vec<String> = signers
        .iter()
        .rev()
        .map(|s| B64.encode(s.public_pem()))
        .collect();
    serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": envelope, "verifiers": verifiers}},
    })
}

/// Retrieve by proposed entry needs no token, so the signature verifications it makes the
/// server do are bounded per request; creating the same entry (a write) is not affected.
#[tokio::test(flavor = "multi_thread")]
async fn retrieve_bounds_the_signature_verifications_of_a_request() {
    let api = api();
    let costly = eight_key_dsse();
    let r = api
        .post(
            "/api/v1/log/entries/retrieve",
            &serde_json::json!({"entries": [costly]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let (_, message) = r.error();
    assert!(
        message.contains("more than the 32 signature verifications one request may do"),
        "{message}"
    );
    let created = api.post("/api/v1/log/entries", &costly).await;
    assert_eq!(created.status, StatusCode::CREATED);
    // Ten ordinary entries fit in the budget.
    let signer = Signer::new();
    let ten: Vec<_> = (0..10u8).map(|i| signer.hashedrekord(&[i])).collect();
    let r = api
        .post(
            "/api/v1/log/entries/retrieve",
            &serde_json::json!({"entries": ten}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.error());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storage_failure_stops_writes_but_reads_go_on() {
    use std::sync::atomic::Ordering;
    let api = api();
    let signer = Signer::new();
    assert_eq!(
        api.post("/api/v1/log/entries", &signer.hashedrekord(b"1"))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(api.get("/readyz").await.status, StatusCode::OK);
    api.store.faults.fail_commits.store(true, Ordering::SeqCst);
    let r = api
        .post("/api/v1/log/entries", &signer.hashedrekord(b"2"))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.header("retry-after").is_some());
    assert!(r.error().1.contains("writes are stopped"));
    api.store.faults.fail_commits.store(false, Ordering::SeqCst);
    assert_eq!(
        api.post("/api/v1/log/entries", &signer.hashedrekord(b"3"))
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        api.get("/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(api.get("/healthz").await.status, StatusCode::OK);
    let e = api.get("/api/v1/log/entries?logIndex=0").await;
    assert_eq!(e.status, StatusCode::OK);
    check_log_entry(&api, &e);
    assert_eq!(api.store.entry_count(), 1);

    // A full disk answers 507 (on a fresh log: this one has stopped writing).
    let api = self::api();
    api.store.faults.no_space.store(true, Ordering::SeqCst);
    api.store.faults.fail_commits.store(true, Ordering::SeqCst);
    let r = api
        .post("/api/v1/log/entries", &signer.hashedrekord(b"4"))
        .await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE);
    assert!(r.error().1.contains("storage is full"));
}

/// A clock that went back, after a shard's creation or across a rotation, must not leave an
/// entry outside the validity the trusted root gives its shard's key: sigstore clients
/// (@sigstore/verify, sigstore-go) accept a SET only if its integrated time is within the key's
/// `validFor`. Entries are never integrated before their shard's creation, and a key's validity
/// ends no earlier than its shard's last integrated time.
#[tokio::test(flavor = "multi_thread")]
async fn integrated_times_stay_within_the_key_validity_when_the_clock_goes_back() {
    use std::sync::Arc;

    use arkivo_core::signer::LogKeys;
    use arkivo_server::log::{LogKind, create_log, create_log_with_id};
    use arkivo_server::sequencer::{self, SequencerConfig, Shard};
    use arkivo_server::storage::memory::MemoryStore;

    // Each shard records a creation time ahead of the clock: the clock went back an hour after
    // the first one was created, half an hour after the second.
    let shard = |tree_id: Option<i64>, ahead: i64| {
        let store = Arc::new(MemoryStore::new());
        let mut identity = match tree_id {
            None => create_log(store.as_ref(), "127.0.0.1:3000", LogKeys::generate()),
            Some(id) => create_log_with_id(
                store.as_ref(),
                id,
                "127.0.0.1:3000",
                &format!("127.0.0.1:3000/shards/{id}"),
                LogKeys::generate(),
                LogKind::Rekor,
            ),
        }
        .unwrap();
        identity.meta.created += ahead;
        (store, Arc::new(identity))
    };
    let (store, identity) = shard(None, 3600);
    let first = Shard {
        store: store.clone(),
        identity: identity.clone(),
    };
    let config = SequencerConfig {
        max_batch: 64,
        max_batch_age: std::time::Duration::from_millis(1),
        inbox_capacity: 256,
    };
    let (handle, _thread) = sequencer::start(first.clone(), Vec::new(), config).unwrap();
    let api = common::router::Api {
        state: arkivo_server::api::AppState::new(handle.clone(), "http://127.0.0.1:3000".into()),
        store,
        identity: identity.clone(),
    };
    let signer = Signer::new();
    let integrated_time = |a: &common::router::Answer| {
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
        let v = a.json();
        let (_, e) = v.as_object().unwrap().iter().next().unwrap();
        e["integratedTime"].as_i64().unwrap()
    };
    let t1 = integrated_time(
        &api.post("/api/v1/log/entries", &signer.hashedrekord(b"first shard"))
            .await,
    );
    assert!(t1 >= identity.meta.created, "{t1}");

    let view = tokio::task::spawn_blocking(move || {
        handle.rotate(Box::new(move |_| {
            let (store, identity) = shard(Some(42), 1800);
            Ok(Shard { store, identity })
        }))
    })
    .await
    .unwrap()
    .unwrap();
    let created2 = view.active.identity().meta.created;
    assert!(
        created2 < t1,
        "the second shard is created before, by the clock"
    );
    let t2 = integrated_time(
        &api.post("/api/v1/log/entries", &signer.hashedrekord(b"second shard"))
            .await,
    );
    assert!(t2 >= created2, "{t2} < {created2}");

    let root = api.get("/api/v1/log/trustedRoot").await.json();
    let secs = |v: &serde_json::Value| {
        let t = humantime::parse_rfc3339(v.as_str().unwrap()).unwrap();
        let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        i64::try_from(secs).unwrap()
    };
    // tlogs: the two ECDSA keys, then the two Ed25519 keys, oldest first.
    for (i, t) in [(0, t1), (1, t2)] {
        let valid_for = &root["tlogs"][i]["publicKey"]["validFor"];
        assert!(secs(&valid_for["start"]) <= t, "{valid_for} and {t}");
        assert!(
            valid_for.get("end").is_none_or(|end| t <= secs(end)),
            "{valid_for} and {t}"
        );
    }
    assert_eq!(
        root["tlogs"][0]["publicKey"]["validFor"]["end"],
        root["tlogs"][2]["publicKey"]["validFor"]["end"],
        "the first shard's two keys end together"
    );
}

/// intoto 0.0.1 (cosign `--rekor-entry-type=intoto`) and 0.0.2 (sigstore-js `attest`) entries of
/// one envelope: both logged, found by subject digest and by key, and found again by
/// `retrieve` from the `dsse` and `intoto` entries cosign's verifier proposes (rekor-v1-api.md
/// §6a, §3.4).
#[tokio::test(flavor = "multi_thread")]
async fn intoto_entries_are_logged_searchable_and_retrievable_as_cosign_proposes_them() {
    let api = api();
    let signer = Signer::new();
    let dsse = signer.dsse(b"image");
    let envelope = dsse["spec"]["proposedContent"]["envelope"]
        .as_str()
        .unwrap()
        .to_owned();
    let env: serde_json::Value = serde_json::from_str(&envelope).unwrap();
    let v001 = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "intoto",
        "spec": {"content": {"envelope": envelope}, "publicKey": B64.encode(signer.public_pem())},
    });
    let v002 = serde_json::json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {"content": {
            "envelope": {
                "payloadType": env["payloadType"],
                "payload": B64.encode(env["payload"].as_str().unwrap()),
                "signatures": [{
                    "sig": B64.encode(env["signatures"][0]["sig"].as_str().unwrap()),
                    "publicKey": B64.encode(signer.public_pem()),
                }],
            },
            "hash": {"algorithm": "sha256", "value": "ab".repeat(32)},
        }},
    });
    let mut ids = Vec::new();
    for (entry, version) in [(&v001, "0.0.1"), (&v002, "0.0.2")] {
        let r = api.post("/api/v1/log/entries", entry).await;
        r.assert_status(StatusCode::CREATED);
        let (id, _, body) = check_log_entry(&api, &r);
        let canonical: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (canonical["kind"].as_str(), canonical["apiVersion"].as_str()),
            (Some("intoto"), Some(version))
        );
        assert!(canonical["spec"]["content"]["envelope"]["payload"].is_null());
        ids.push(id);
    }
    ids.reverse(); // searches answer newest first
    for q in [
        serde_json::json!({"hash": format!("sha256:{}", hex::encode(Sha256::digest(b"image")))}),
        serde_json::json!({"publicKey": {"format": "x509", "content": B64.encode(signer.public_pem())}}),
    ] {
        let r = api.post("/api/v1/index/retrieve", &q).await;
        assert_eq!(
            serde_json::from_slice::<Vec<String>>(&r.body).unwrap(),
            ids,
            "{q}"
        );
    }
    // cosign proposes a dsse and an intoto entry; only the intoto one is in the log.
    let r = api
        .post(
            "/api/v1/log/entries/retrieve",
            &serde_json::json!({"entries": [dsse, v001]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.error());
    let found: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&r.body).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].keys().next(), Some(&ids[1]));
    // Again is a duplicate; a tampered envelope is refused and writes nothing.
    assert_eq!(
        api.post("/api/v1/log/entries", &v002).await.status,
        StatusCode::CONFLICT
    );
    let mut tampered = v001.clone();
    tampered["spec"]["content"]["envelope"] = envelope.replace("\"sig\":\"M", "\"sig\":\"N").into();
    let r = api.post("/api/v1/log/entries", &tampered).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.error().1.starts_with("error processing entry: "),
        "{:?}",
        r.error()
    );
    assert_eq!(api.store.entry_count(), 2);
}
