//! Sharding through the real router (rekor-v1-api.md §9): a log rotated twice — once to new
//! keys, once keeping them — answers every Rekor v1 read across its shards with virtual
//! indexes, its shards' own entry IDs, keys and checkpoints, and serves each shard's tiles and
//! keys. The rotation itself on RocksDB, under load and across restarts, is in
//! `tests/shards_cli.rs`.

mod common;

use std::sync::Arc;

use arkivo_core::merkle::{self, Hash};
use arkivo_core::signer::LogKeys;
use arkivo_core::wire::{ConsistencyProof, LogInfo, TrustedRoot};
use arkivo_server::log::{LogIdentity, LogKind, create_log_with_id};
use arkivo_server::sequencer::{Shard, View};
use arkivo_server::storage::memory::MemoryStore;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::EntrySigner;
use common::router::{Api, api, check_entry_of};

/// Rotates the log of `api` to a new in-memory shard with tree ID `tree_id`, named as
/// `arkivo shard rotate` names it, with new keys or the active shard's.
async fn rotate(api: &Api, tree_id: i64, new_keys: bool) -> Arc<View> {
    let sequencer = api.state.sequencer.clone();
    tokio::task::spawn_blocking(move || {
        sequencer.rotate(Box::new(move |active: &LogIdentity| {
            let keys = if new_keys {
                LogKeys::generate()
            } else {
                LogKeys::from_pkcs8_pem(
                    &active.keys.ecdsa_pkcs8_pem(),
                    &active.keys.ed25519_pkcs8_pem(),
                )
                .unwrap()
            };
            let store = Arc::new(MemoryStore::new());
            let hostname = &active.meta.hostname;
            let origin = format!("{hostname}/shards/{tree_id}");
            let identity = create_log_with_id(
                store.as_ref(),
                tree_id,
                hostname,
                &origin,
                keys,
                LogKind::Rekor,
            )?;
            Ok(Shard {
                store,
                identity: Arc::new(identity),
            })
        }))
    })
    .await
    .unwrap()
    .unwrap()
}

/// Posts `n` new entries and returns their entry IDs.
async fn append(api: &Api, signer: &EntrySigner, tag: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let a = api
            .post(
                "/api/v1/log/entries",
                &signer.hashedrekord(format!("{tag} {i}").as_bytes()),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
        ids.push(a.header("etag").unwrap().to_owned());
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_log_answers_across_its_shards() {
    let api = api();
    let signer = EntrySigner::new();
    let first = api.identity.clone();
    let mut ids = append(&api, &signer, "first", 5).await;
    let second = rotate(&api, 0x1234, true)
        .await
        .active
        .shard
        .identity
        .clone();
    ids.extend(append(&api, &signer, "second", 3).await);
    let view = rotate(&api, 0x5678, false).await;
    let third = view.active.shard.identity.clone();
    ids.extend(append(&api, &signer, "third", 2).await);
    // Shard, offset, size.
    let shards = [(&first, 0, 5), (&second, 5, 3), (&third, 8, 2)];
    assert_ne!(first.keys.log_id(), second.keys.log_id());
    assert_eq!(second.keys.log_id(), third.keys.log_id());

    // Every virtual index leads to its entry, in its shard, with its shard's key and proof;
    // the same entry by entry ID, and by bare UUID.
    for (shard, offset, size) in shards {
        for i in 0..size {
            let v = offset + i;
            let a = api.get(&format!("/api/v1/log/entries?logIndex={v}")).await;
            assert_eq!(a.status, StatusCode::OK, "{v}");
            let (id, index, _) = check_entry_of(shard, offset, &a);
            assert_eq!((id.as_str(), index), (ids[v as usize].as_str(), v));
            assert!(id.starts_with(&format!("{:016x}", shard.meta.tree_id)));
            for uuid in [&id[..], &id[16..]] {
                let b = api.get(&format!("/api/v1/log/entries/{uuid}")).await;
                assert_eq!(b.body, a.body, "{uuid}");
            }
            // Another shard's tree ID in front of the leaf names nothing.
            if shard.meta.tree_id != third.meta.tree_id {
                let elsewhere = format!("{:016x}{}", third.meta.tree_id, &id[16..]);
                let c = api.get(&format!("/api/v1/log/entries/{elsewhere}")).await;
                assert_eq!(c.status, StatusCode::NOT_FOUND);
            }
        }
    }
    assert_eq!(
        api.get("/api/v1/log/entries?logIndex=10").await.status,
        StatusCode::NOT_FOUND
    );
    let unknown_tree = format!("{:016x}{}", 77, &ids[0][16..]);
    assert_eq!(
        api.get(&format!("/api/v1/log/entries/{unknown_tree}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Log info: the active shard, and the frozen ones with their final checkpoints.
    let info: LogInfo = serde_json::from_slice(&api.get("/api/v1/log").await.body).unwrap();
    assert_eq!((info.tree_id.as_str(), info.tree_size), ("22136", 2));
    let inactive = info.inactive_shards.unwrap();
    assert_eq!(inactive.len(), 2);
    for (frozen, (shard, _, size)) in inactive.iter().zip(shards) {
        assert_eq!(frozen.tree_id, shard.meta.tree_id.to_string());
        assert_eq!(frozen.tree_size, size);
        let cp = arkivo_core::checkpoint::verify_v1(
            &frozen.signed_tree_head,
            shard.keys.ecdsa_verifying_key(),
            &shard.meta.hostname,
        )
        .unwrap();
        assert_eq!(
            (cp.size, cp.root.to_hex()),
            (size, frozen.root_hash.clone())
        );
        assert_eq!(cp.origin, shard.v1_origin());
    }

    // Keys and proofs by tree ID: each frozen shard's proof leads to its final root.
    for (shard, offset, size) in shards {
        let tree = shard.meta.tree_id;
        let key = api
            .get(&format!("/api/v1/log/publicKey?treeID={tree}"))
            .await;
        assert_eq!(key.body, shard.keys.ecdsa_public_pem().as_bytes());
        let p = api
            .get(&format!(
                "/api/v1/log/proof?firstSize=1&lastSize={size}&treeID={tree}"
            ))
            .await;
        assert_eq!(p.status, StatusCode::OK);
        let proof: ConsistencyProof = serde_json::from_slice(&p.body).unwrap();
        let hashes: Vec<Hash> = proof
            .hashes
            .iter()
            .map(|h| Hash::from_hex(h).unwrap())
            .collect();
        let first_entry = api
            .get(&format!("/api/v1/log/entries?logIndex={offset}"))
            .await;
        let (_, _, body) = check_entry_of(shard, offset, &first_entry);
        let final_root = Hash::from_hex(&proof.root_hash).unwrap();
        merkle::verify_consistency(1, size, &hashes, &merkle::record_hash(&body), &final_root)
            .unwrap();
        let beyond = api
            .get(&format!(
                "/api/v1/log/proof?firstSize=1&lastSize={}&treeID={tree}",
                size + 1
            ))
            .await;
        assert_eq!(beyond.status, StatusCode::BAD_REQUEST);
        assert!(beyond.error().1.contains(&format!("observable({size})")));
    }
    let active_key = api.get("/api/v1/log/publicKey").await;
    assert_eq!(active_key.body, third.keys.ecdsa_public_pem().as_bytes());
    let unknown = api.get("/api/v1/log/publicKey?treeID=77").await;
    assert_eq!(unknown.error(), (400, "Bad Request".to_owned()));
    let unknown = api
        .get("/api/v1/log/proof?firstSize=1&lastSize=2&treeID=77")
        .await;
    assert_eq!(
        unknown.error(),
        (400, "no log range found for tree ID 77".to_owned())
    );

    // Retrieval by virtual index and by entry ID, and the search index, span every shard.
    let found = api
        .post(
            "/api/v1/log/entries/retrieve",
            &serde_json::json!({"logIndexes": [0, 5, 9], "entryUUIDs": [ids[6].clone()]}),
        )
        .await;
    let found: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&found.body).unwrap();
    let keys: Vec<&String> = found.iter().flat_map(|m| m.keys()).collect();
    assert_eq!(keys, [&ids[6], &ids[0], &ids[5], &ids[9]]);
    let search = api
        .post(
            "/api/v1/index/retrieve",
            &serde_json::json!({"publicKey": {"format": "x509",
                                               "content": B64.encode(signer.pem())}}),
        )
        .await;
    let mut listed: Vec<String> = serde_json::from_slice(&search.body).unwrap();
    listed.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(listed, all);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_are_refused_only_within_the_active_shard() {
    let api = api();
    let signer = EntrySigner::new();
    let entry = signer.hashedrekord(b"logged twice");
    let old = api.post("/api/v1/log/entries", &entry).await;
    let old_id = old.header("etag").unwrap().to_owned();
    rotate(&api, 99, false).await;
    // As in Rekor: the frozen shard's copy does not stop the entry from entering the new one.
    let new = api.post("/api/v1/log/entries", &entry).await;
    assert_eq!(new.status, StatusCode::CREATED);
    let new_id = new.header("etag").unwrap().to_owned();
    assert_eq!(&new_id[..16], "0000000000000063");
    assert_eq!(new_id[16..], old_id[16..]);
    let again = api.post("/api/v1/log/entries", &entry).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.header("location"),
        Some(format!("/api/v1/log/entries/{new_id}").as_str())
    );
    // A bare UUID finds the active shard's copy first; retrieval lists both.
    let by_uuid = api
        .get(&format!("/api/v1/log/entries/{}", &old_id[16..]))
        .await;
    assert_eq!(
        by_uuid.body,
        api.get(&format!("/api/v1/log/entries/{new_id}")).await.body
    );
    let both = api
        .post(
            "/api/v1/log/entries/retrieve",
            &serde_json::json!({"entryUUIDs": [&old_id[16..]], "entries": [entry]}),
        )
        .await;
    let both: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&both.body).unwrap();
    let keys: Vec<&String> = both.iter().flat_map(|m| m.keys()).collect();
    assert_eq!(keys, [&new_id, &old_id, &new_id, &old_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_active_shard_is_not_rotated() {
    let api = api();
    let sequencer = api.state.sequencer.clone();
    let refused = tokio::task::spawn_blocking(move || {
        sequencer.rotate(Box::new(|_: &LogIdentity| {
            panic!("no shard is made for an empty active one")
        }))
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(refused.contains("is empty"), "{refused}");
    let info: LogInfo = serde_json::from_slice(&api.get("/api/v1/log").await.body).unwrap();
    assert_eq!(info.inactive_shards, None);
}

/// A rotation whose new shard list was renamed into place but not synced (the list may name
/// the new shard) stops writes: appending to the old shard would put entries where a restart
/// no longer looks for the active shard.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_that_may_have_changed_the_shard_list_stops_writes() {
    let api = api();
    let signer = EntrySigner::new();
    append(&api, &signer, "before", 1).await;
    let sequencer = api.state.sequencer.clone();
    let refused = tokio::task::spawn_blocking(move || {
        sequencer.rotate(Box::new(|_: &LogIdentity| {
            Err(arkivo_server::shards::ShardListChanged {
                tree_id: 0x77,
                source: std::io::Error::other("injected: syncing the directory failed"),
            }
            .into())
        }))
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(refused.contains("writes stop"), "{refused}");
    let a = api
        .post("/api/v1/log/entries", &signer.hashedrekord(b"after"))
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.json());
    assert!(
        a.json()["message"].as_str().unwrap().contains("shard list"),
        "{}",
        a.json()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_shard_has_its_tiles_and_its_keys_in_the_trusted_root() {
    let api = api();
    let signer = EntrySigner::new();
    let first = api.identity.clone();
    append(&api, &signer, "first", 3).await;
    let second = rotate(&api, 4242, true).await.active.shard.identity.clone();
    append(&api, &signer, "second", 2).await;

    // The root paths stay the first shard's (its origin is the hostname); every shard is also
    // under /shards/<treeID>/, the active one with its current checkpoint.
    let root_cp = api.get("/checkpoint").await;
    // The frozen shard's checkpoint is final: cached for good, last modified with its last
    // batch.
    assert_eq!(
        root_cp.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(root_cp.header("last-modified").is_some());
    assert_eq!(
        root_cp.body,
        api.get(&format!("/shards/{}/checkpoint", first.meta.tree_id))
            .await
            .body
    );
    let text = String::from_utf8(root_cp.body).unwrap();
    assert!(
        text.starts_with(&format!("{}\n3\n", first.meta.hostname)),
        "{text}"
    );
    // The active one's, for two seconds.
    let active = api.get("/shards/4242/checkpoint").await;
    assert_eq!(active.header("cache-control"), Some("public, max-age=2"));
    let active_cp = String::from_utf8(active.body).unwrap();
    assert!(
        active_cp.starts_with(&format!("{}/shards/4242\n2\n", first.meta.hostname)),
        "{active_cp}"
    );
    arkivo_core::checkpoint::verify_c2sp(
        &active_cp,
        &second.keys.ed25519_verifier(&second.meta.origin),
        &[],
    )
    .unwrap();
    let bundle = api.get("/shards/4242/tile/entries/000.p/2").await;
    assert_eq!(bundle.status, StatusCode::OK);
    let entries = api.get("/tile/entries/000.p/3").await;
    assert_eq!(entries.status, StatusCode::OK);
    assert_eq!(
        api.get("/tile/entries/000.p/4").await.status,
        StatusCode::NOT_FOUND
    );
    for missing in [
        "/shards/77/checkpoint",
        "/shards/x/checkpoint",
        "/shards/77/tile/0/000.p/1",
    ] {
        assert_eq!(
            api.get(missing).await.status,
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }

    // Rekor v2 writes go to the active shard: its index, its checkpoint, its key ID.
    let v2 = api
        .post(
            "/api/v2/log/entries",
            &signer.hashedrekord_v2(b"v2 after rotation"),
        )
        .await;
    assert_eq!(v2.status, StatusCode::CREATED);
    let tle = v2.json();
    assert_eq!(tle["logIndex"], "2");
    let envelope = tle["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap();
    arkivo_core::checkpoint::verify_c2sp(
        envelope,
        &second.keys.ed25519_verifier(&second.meta.origin),
        &[],
    )
    .unwrap();

    // The trusted root: each ECDSA key valid while its shards took entries, each shard's
    // Ed25519 key under its origin with its tiles' URL.
    let root: TrustedRoot =
        serde_json::from_slice(&api.get("/api/v1/log/trustedRoot").await.body).unwrap();
    let time = |secs: i64| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.unsigned_abs()),
        )
        .to_string()
    };
    let rotated = Some(time(second.meta.created));
    let found: Vec<(String, String, Option<String>, Option<String>)> = root
        .tlogs
        .iter()
        .map(|t| {
            let v = t.public_key.valid_for.clone().unwrap();
            (t.base_url.clone(), t.log_id.key_id.clone(), v.start, v.end)
        })
        .collect();
    let url = "http://127.0.0.1:3000";
    let c2sp = |id: &LogIdentity| B64.encode(id.keys.checkpoint_key_id(&id.meta.origin));
    assert_eq!(
        found,
        [
            (
                url.to_owned(),
                B64.encode(first.keys.log_id()),
                Some(time(first.meta.created)),
                rotated.clone()
            ),
            (
                url.to_owned(),
                B64.encode(second.keys.log_id()),
                rotated.clone(),
                None
            ),
            (
                url.to_owned(),
                c2sp(&first),
                Some(time(first.meta.created)),
                rotated.clone()
            ),
            (format!("{url}/shards/4242"), c2sp(&second), rotated, None),
        ]
    );
}
