//! `arkivo-interop-sigstore-rs <base URL> [<tree ID>/<size>/<root hex>]`: sigstore-rs as a
//! Rekor v1 client of a log that may have been rotated into several shards (rekor-v1-api.md §2,
//! §9). It
//!
//! 1. reads the shards from the log info (`inactiveShards` and the active tree) and checks the
//!    active checkpoint with the key `publicKey?treeID=` serves for the active tree;
//! 2. posts three entries — two hashedrekord, one rekord (the data itself, signed, as older
//!    cosign and rekor-cli send it) — which must land in the active shard; finds the rekord
//!    entry through the search index by the data's SHA-256;
//! 3. reads back every entry of the log, old shards' and new, by virtual index and by UUID
//!    (80-hex entry ID and bare 64-hex UUID) through sigstore-rs' fixed-offset response parser,
//!    and verifies each one against its own shard, as rekor-cli does: the key fetched with
//!    `publicKey?treeID=` for the tree ID in the entry ID, the inclusion proof (sigstore-rs'
//!    `verify_inclusion`) in the shard, to the shard's checkpoint, and the SET over the virtual
//!    index (sigstore-rs' cosign bundle check, keyed by log ID);
//! 4. verifies consistency with sigstore-rs' code: in each frozen shard from its first entry to
//!    its final checkpoint (`proof?treeID=`), and from the tree head an earlier run printed
//!    (given as the optional argument) to that tree's current or final head.
//!
//! Prints one JSON line, including the active tree head to pass to the next run; exits non-zero
//! naming the first failure.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};
use sigstore::cosign::bundle::SignedArtifactBundle;
use sigstore::crypto::{CosignVerificationKey, SigningScheme};
use sigstore::rekor::apis::configuration::Configuration;
use sigstore::rekor::apis::{entries_api, index_api, pubkey_api, tlog_api};
use sigstore::rekor::models::hashedrekord::{
    AlgorithmKind, Data, Hash, PublicKey, Signature, Spec,
};
use sigstore::rekor::models::log_entry::Body;
use sigstore::rekor::models::{LogEntry, ProposedEntry, SearchIndex};

type Result<T> = std::result::Result<T, String>;

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<()> {
    if ok { Ok(()) } else { Err(what()) }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (base, since) = match args.as_slice() {
        [base] => (base, None),
        [base, since] => (base, Some(since.as_str())),
        _ => {
            eprintln!("usage: arkivo-interop-sigstore-rs <base URL> [<tree ID>/<size>/<root hex>]");
            std::process::exit(2);
        }
    };
    match run(base, since).await {
        Ok(summary) => println!("{summary}"),
        Err(e) => {
            eprintln!("sigstore-rs interop FAILED: {e}");
            std::process::exit(1);
        }
    }
}

/// One shard as the log info lists it, oldest first.
struct Shard {
    tree_id: String,
    size: u64,
    /// The virtual index of its first entry: the sizes of the shards before it.
    offset: u64,
    root_hash: String,
    checkpoint: String,
    frozen: bool,
}

/// A shard's key as `publicKey?treeID=` serves it.
#[derive(Clone)]
struct ShardKey {
    key: CosignVerificationKey,
    /// SHA-256 of its SPKI DER, hex: the log ID of its entries and SETs.
    log_id: String,
}

/// The keys fetched so far, by decimal tree ID.
struct Keys {
    config: Configuration,
    by_tree: HashMap<String, ShardKey>,
}

impl Keys {
    /// The key of tree `tree_id`, fetched with `publicKey?treeID=` the first time.
    async fn get(&mut self, tree_id: &str) -> Result<ShardKey> {
        if let Some(k) = self.by_tree.get(tree_id) {
            return Ok(k.clone());
        }
        let pem = pubkey_api::get_public_key(&self.config, Some(tree_id))
            .await
            .map_err(|e| format!("get_public_key(treeID={tree_id}): {e}"))?;
        let key =
            CosignVerificationKey::from_pem(pem.as_bytes(), &SigningScheme::ECDSA_P256_SHA256_ASN1)
                .map_err(|e| format!("parsing the key of tree {tree_id}: {e}"))?;
        let der = p256::PublicKey::from_public_key_pem(&pem)
            .map_err(|e| e.to_string())
            .and_then(|k| k.to_public_key_der().map_err(|e| e.to_string()))
            .map_err(|e| format!("the key of tree {tree_id}: {e}"))?;
        let k = ShardKey {
            key,
            log_id: hex::encode(Sha256::digest(der.as_bytes())),
        };
        self.by_tree.insert(tree_id.to_owned(), k.clone());
        Ok(k)
    }
}

/// The decimal tree ID an 80-hex entry ID starts with.
fn tree_of(entry_id: &str) -> Result<String> {
    check(entry_id.len() == 80, || {
        format!("entry ID {entry_id} is not 80 hex")
    })?;
    i64::from_str_radix(&entry_id[..16], 16)
        .map(|t| t.to_string())
        .map_err(|e| format!("entry ID {entry_id}: tree ID: {e}"))
}

/// The first line of a checkpoint: its origin.
fn origin(checkpoint: &str) -> &str {
    checkpoint.lines().next().unwrap_or_default()
}

async fn run(base: &str, since: Option<&str>) -> Result<String> {
    let base = base.trim_end_matches('/');
    let config = Configuration {
        base_path: base.to_owned(),
        ..Configuration::default()
    };
    let mut keys = Keys {
        config: config.clone(),
        by_tree: HashMap::new(),
    };

    // 1. The shards.
    let info = tlog_api::get_log_info(&config)
        .await
        .map_err(|e| format!("get_log_info: {e}"))?;
    let active_tree = info.tree_id.clone().ok_or("the log info has no treeID")?;
    let mut shards = Vec::new();
    let mut offset = 0;
    for s in info.inactive_shards.iter().flatten() {
        shards.push(Shard {
            tree_id: s.tree_id.clone(),
            size: s.tree_size,
            offset,
            root_hash: s.root_hash.clone(),
            checkpoint: s.signed_tree_head.clone(),
            frozen: true,
        });
        offset += s.tree_size;
    }
    let active_key = keys.get(&active_tree).await?;
    info.signed_tree_head
        .verify_signature(&active_key.key)
        .map_err(|e| format!("log info checkpoint with the key of tree {active_tree}: {e}"))?;
    let default_pem = pubkey_api::get_public_key(&config, None)
        .await
        .map_err(|e| format!("get_public_key: {e}"))?;
    let default_key = CosignVerificationKey::from_pem(
        default_pem.as_bytes(),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .map_err(|e| format!("parsing the log key: {e}"))?;
    info.signed_tree_head
        .verify_signature(&default_key)
        .map_err(|e| format!("publicKey without treeID should be the active tree's key: {e}"))?;

    // 2. New entries, in the active shard.
    let created = create_entries(&config, 3).await?;
    for e in &created {
        let uuid = e.uuid.as_deref().ok_or("no uuid")?;
        check(tree_of(uuid)? == active_tree, || {
            format!("new entry {uuid} is not in the active tree {active_tree}")
        })?;
        let proof = e
            .verification
            .inclusion_proof
            .as_ref()
            .ok_or("new entry: no inclusion proof")?;
        check(
            e.log_index as u64 == offset + proof.log_index as u64,
            || {
                format!(
                    "new entry {uuid}: logIndex {} != {offset} (frozen entries) + {} (index in the shard)",
                    e.log_index, proof.log_index
                )
            },
        )?;
        e.verify_inclusion(&active_key.key)
            .map_err(|e| format!("inclusion of a new entry: {e}"))?;
    }

    // The active shard as it is now (grown by the new entries).
    let now = tlog_api::get_log_info(&config)
        .await
        .map_err(|e| format!("get_log_info: {e}"))?;
    check(now.tree_id.as_deref() == Some(active_tree.as_str()), || {
        "the active tree changed during the run".into()
    })?;
    check(now.tree_size >= info.tree_size + 3, || {
        "the tree grew by the entries".into()
    })?;
    now.signed_tree_head
        .verify_signature(&active_key.key)
        .map_err(|e| format!("log info checkpoint: {e}"))?;
    shards.push(Shard {
        tree_id: active_tree.clone(),
        size: now.tree_size,
        offset,
        root_hash: hex::encode(now.root_hash),
        checkpoint: String::new(),
        frozen: false,
    });
    let total = offset + now.tree_size;

    // 3. Every entry, by virtual index and by UUID, against its own shard.
    let mut first_leaf = HashMap::new();
    let mut other_key_rejected = 0;
    for index in 0..total {
        let e = entries_api::get_log_entry_by_index(
            &config,
            i32::try_from(index).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| format!("get_log_entry_by_index({index}): {e}"))?;
        let uuid = e
            .uuid
            .clone()
            .ok_or_else(|| format!("entry {index}: no uuid"))?;
        let tree = tree_of(&uuid)?;
        let shard = shards.iter().find(|s| s.tree_id == tree).ok_or_else(|| {
            format!(
                "entry {index}: entry ID {uuid} names tree {tree}, which is no shard of the log"
            )
        })?;
        let key = keys.get(&tree).await?;
        let what = format!("entry {index} ({uuid})");
        check_entry(&e, index, shard, &key, &what)?;
        let body = check_set(&config, &e, &uuid, &key, &what).await?;
        if shard.frozen && index == shard.offset {
            first_leaf.insert(tree.clone(), leaf_hash(&body));
        }
        // Another shard's key (after `--new-key`) must not verify this entry.
        if active_key.log_id != key.log_id {
            check(e.verify_inclusion(&active_key.key).is_err(), || {
                format!(
                    "{what}: its inclusion proof verified with the active tree's key, not only its own tree {tree}'s"
                )
            })?;
            other_key_rejected += 1;
        }

        for id in [uuid.clone(), uuid[16..].to_owned()] {
            let by_uuid = entries_api::get_log_entry_by_uuid(&config, &id)
                .await
                .map_err(|e| format!("get_log_entry_by_uuid({id}): {e}"))?;
            check(by_uuid.uuid.as_deref() == Some(uuid.as_str()), || {
                format!("{what}: by UUID {id}: entry ID {:?}", by_uuid.uuid)
            })?;
            check(
                by_uuid.body == e.body && by_uuid.log_index == e.log_index,
                || format!("{what}: by UUID {id}: another entry"),
            )?;
            by_uuid
                .verify_inclusion(&key.key)
                .map_err(|e| format!("{what}: inclusion, by UUID {id}: {e}"))?;
        }
    }

    // 4. Consistency.
    let mut frozen_proofs = 0;
    for shard in shards.iter().filter(|s| s.frozen) {
        let leaf = first_leaf
            .get(&shard.tree_id)
            .ok_or_else(|| format!("tree {}: no first entry", shard.tree_id))?;
        consistency(&config, shard, 1, leaf).await?;
        frozen_proofs += 1;
    }
    let mut since_checked = "null";
    if let Some(since) = since {
        let parts: Vec<&str> = since.split('/').collect();
        let [tree, size, root] = parts.as_slice() else {
            return Err(format!(
                "bad tree head {since:?}: expected <tree ID>/<size>/<root hex>"
            ));
        };
        let size: u64 = size.parse().map_err(|e| format!("{since}: size: {e}"))?;
        let root: [u8; 32] = hex::decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| format!("{since}: root hash"))?;
        let shard = shards.iter().find(|s| s.tree_id == *tree).ok_or_else(|| {
            format!("tree {tree} of the earlier head is no shard of the log any more")
        })?;
        if shard.frozen {
            consistency(&config, shard, size, &root).await?;
            since_checked = "\"frozen\"";
        } else {
            // The active tree, as before sharding: `proof` without treeID, checked by
            // sigstore-rs against the log info's checkpoint.
            let proof =
                tlog_api::get_log_proof(&config, now.tree_size, Some(&size.to_string()), None)
                    .await
                    .map_err(|e| format!("get_log_proof: {e}"))?;
            now.verify_consistency(size, &root, &proof, &active_key.key)
                .map_err(|e| format!("consistency {size} -> {}: {e}", now.tree_size))?;
            let mut wrong = root;
            wrong[0] ^= 1;
            check(
                now.verify_consistency(size, &wrong, &proof, &active_key.key)
                    .is_err(),
                || "a consistency proof verified against a wrong old root".into(),
            )?;
            since_checked = "\"active\"";
        }
    }

    Ok(format!(
        "{{\"client\":\"sigstore-rs\",\"created\":{},\"createdAt\":[{}],\"activeTree\":\"{active_tree}\",\"shards\":{},\
         \"entries\":{total},\"otherKeyRejected\":{other_key_rejected},\"frozenConsistency\":{frozen_proofs},\
         \"since\":{since_checked},\"treeSize\":{},\"head\":\"{active_tree}/{}/{}\"}}",
        created.len(),
        created
            .iter()
            .map(|e| e.log_index.to_string())
            .collect::<Vec<_>>()
            .join(","),
        shards.len(),
        now.tree_size,
        now.tree_size,
        hex::encode(now.root_hash),
    ))
}

/// Posts `n` entries signed by a new key: hashedrekord, the last one rekord (the artifact
/// itself, signed with ECDSA over its SHA-256), which is then looked up by its SHA-256.
async fn create_entries(config: &Configuration, n: u8) -> Result<Vec<LogEntry>> {
    let signer = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let public_pem = signer
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let mut created = Vec::new();
    for i in 0..n {
        let artifact = [&nonce[..], &[i]].concat();
        let digest = Sha256::digest(&artifact);
        let sig: p256::ecdsa::Signature =
            signer.sign_prehash(&digest).map_err(|e| e.to_string())?;
        let rekord = i + 1 == n;
        let entry = if rekord {
            ProposedEntry::Rekord {
                api_version: "0.0.1".into(),
                spec: serde_json::json!({
                    "signature": {"format": "x509", "content": B64.encode(sig.to_der().as_bytes()),
                                  "publicKey": {"content": B64.encode(&public_pem)}},
                    "data": {"content": B64.encode(&artifact),
                             "hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
                }),
            }
        } else {
            ProposedEntry::Hashedrekord {
                api_version: "0.0.1".into(),
                spec: Spec::new(
                    Signature::new(
                        B64.encode(sig.to_der().as_bytes()),
                        PublicKey::new(B64.encode(&public_pem)),
                    ),
                    Data::new(Hash::new(AlgorithmKind::sha256, hex::encode(digest))),
                ),
            }
        };
        let e = entries_api::create_log_entry(config, entry)
            .await
            .map_err(|e| format!("create_log_entry: {e}"))?;
        if rekord {
            check_rekord(config, &e, &hex::encode(digest)).await?;
        }
        created.push(e);
    }
    Ok(created)
}

/// A new rekord entry: its body (as sigstore-rs decodes it) keeps the signature, format and key
/// and the data's SHA-256, not the data; the search index finds it by that hash.
async fn check_rekord(config: &Configuration, e: &LogEntry, sha256: &str) -> Result<()> {
    let Body::rekord(body) = &e.body else {
        return Err(format!("a rekord entry came back as {:?}", e.body));
    };
    let spec = &body.spec;
    check(
        spec["data"]["hash"]["value"] == sha256
            && spec["data"]["content"].is_null()
            && spec["signature"]["format"] == "x509",
        || format!("rekord body: {spec}"),
    )?;
    let uuid = e.uuid.as_deref().ok_or("rekord entry: no uuid")?;
    let mut query = SearchIndex::new();
    query.hash = Some(format!("sha256:{sha256}"));
    let found = index_api::search_index(config, query)
        .await
        .map_err(|e| format!("search_index: {e}"))?;
    check(found.iter().any(|f| f == uuid), || {
        format!("search by the rekord data's hash: {found:?} lacks {uuid}")
    })
}

/// An entry read by virtual index `index` against its shard: the index in the shard, the tree
/// size and checkpoint of the shard, its log ID, and the inclusion proof with its key.
fn check_entry(e: &LogEntry, index: u64, shard: &Shard, key: &ShardKey, what: &str) -> Result<()> {
    let proof = e
        .verification
        .inclusion_proof
        .as_ref()
        .ok_or_else(|| format!("{what}: no inclusion proof"))?;
    check(e.log_index as u64 == index, || {
        format!(
            "{what}: logIndex {} != the virtual index asked for",
            e.log_index
        )
    })?;
    check(proof.log_index as u64 == index - shard.offset, || {
        format!(
            "{what}: inclusionProof.logIndex {} should be the index in tree {}: {index} - {} (entries of the shards before)",
            proof.log_index, shard.tree_id, shard.offset
        )
    })?;
    check(e.log_i_d == key.log_id, || {
        format!(
            "{what}: logID {} is not tree {}'s key's {}",
            e.log_i_d, shard.tree_id, key.log_id
        )
    })?;
    let want_origin = format!(" - {}", shard.tree_id);
    check(origin(&proof.checkpoint).ends_with(&want_origin), || {
        format!(
            "{what}: the proof's checkpoint {:?} is not tree {}'s",
            origin(&proof.checkpoint),
            shard.tree_id
        )
    })?;
    if shard.frozen {
        check(
            proof.tree_size == shard.size
                && proof.root_hash == shard.root_hash
                && proof.checkpoint == shard.checkpoint,
            || {
                format!(
                    "{what}: a frozen tree's entry should be proven against its final checkpoint (inactiveShards)"
                )
            },
        )?;
    } else {
        check(proof.tree_size > index - shard.offset, || {
            format!("{what}: proof tree size {}", proof.tree_size)
        })?;
    }
    e.verify_inclusion(&key.key).map_err(|err| {
        format!(
            "{what}: inclusion in tree {} with its key (publicKey?treeID={}): {err}",
            shard.tree_id, shard.tree_id
        )
    })
}

/// The SET of an entry, checked as cosign bundles are by sigstore-rs: payload {body,
/// integratedTime, logIndex (virtual), logID}, with the key of that log ID. The body comes from
/// the raw response (sigstore-rs decodes it). Returns the canonical body.
async fn check_set(
    config: &Configuration,
    e: &LogEntry,
    uuid: &str,
    key: &ShardKey,
    what: &str,
) -> Result<Vec<u8>> {
    let url = format!("{}/api/v1/log/entries/{uuid}", config.base_path);
    let raw = config
        .client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
        .text()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let body_b64 = raw
        .split_once("\"body\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(b, _)| b.to_owned())
        .ok_or_else(|| format!("GET {url}: no body in {raw}"))?;
    let bundle = |log_index: i64| {
        format!(
            "{{\"base64Signature\":\"\",\"cert\":\"\",\"rekorBundle\":{{\"SignedEntryTimestamp\":\"{}\",\"Payload\":\
             {{\"body\":\"{body_b64}\",\"integratedTime\":{},\"logIndex\":{log_index},\"logID\":\"{}\"}}}}}}",
            e.verification.signed_entry_timestamp, e.integrated_time, e.log_i_d
        )
    };
    let trusted = BTreeMap::from([(key.log_id.clone(), key.key.clone())]);
    SignedArtifactBundle::new_verified(&bundle(e.log_index), &trusted).map_err(|err| {
        format!(
            "{what}: SET over the virtual index {} with its tree's key: {err}",
            e.log_index
        )
    })?;
    let in_shard = e
        .verification
        .inclusion_proof
        .as_ref()
        .map_or(e.log_index, |p| p.log_index);
    if in_shard != e.log_index {
        check(
            SignedArtifactBundle::new_verified(&bundle(in_shard), &trusted).is_err(),
            || {
                format!(
                    "{what}: the SET verified over the index in the shard ({in_shard}), not only the virtual one"
                )
            },
        )?;
    }
    B64.decode(&body_b64)
        .map_err(|err| format!("{what}: body: {err}"))
}

fn leaf_hash(body: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(body)
        .finalize()
        .into()
}

/// Consistency, in frozen shard `shard` (`proof?treeID=`), from `old_size` with root `old_root`
/// to its final tree head (`inactiveShards`; the checkpoint its entries' proofs were verified
/// against, with its key, in [`check_entry`]); the same sizes in the active tree (no treeID)
/// must not pass.
async fn consistency(
    config: &Configuration,
    shard: &Shard,
    old_size: u64,
    old_root: &[u8; 32],
) -> Result<()> {
    let what = format!(
        "consistency of tree {} from size {old_size} to {}",
        shard.tree_id, shard.size
    );
    let final_root: [u8; 32] = hex::decode(&shard.root_hash)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| format!("tree {}: rootHash", shard.tree_id))?;
    check(
        shard.checkpoint.lines().nth(2) == Some(B64.encode(final_root).as_str()),
        || format!("tree {}: signedTreeHead and rootHash differ", shard.tree_id),
    )?;
    let proof = tlog_api::get_log_proof(
        config,
        shard.size,
        Some(&old_size.to_string()),
        Some(&shard.tree_id),
    )
    .await
    .map_err(|e| format!("{what}: get_log_proof(treeID): {e}"))?;
    proof
        .verify(old_size, old_root, shard.size, Some(&final_root))
        .map_err(|e| format!("{what}: {e}"))?;
    // Without treeID the proof is the active tree's, which does not hold this one's entries.
    if let Ok(other) =
        tlog_api::get_log_proof(config, shard.size, Some(&old_size.to_string()), None).await
    {
        check(
            other
                .verify(old_size, old_root, shard.size, Some(&final_root))
                .is_err(),
            || format!("{what}: the active tree's proof (no treeID) verified too"),
        )?;
    }
    Ok(())
}
