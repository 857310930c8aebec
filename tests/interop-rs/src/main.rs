//! `arkivo-interop-sigstore-rs <base URL>`: posts hashedrekord entries to a Rekor v1 log with
//! sigstore-rs, reads them back by index and UUID through sigstore-rs' fixed-offset response
//! parser, and verifies with sigstore-rs' own code: inclusion proofs against checkpoints signed
//! by the log key (fetched from the log), and consistency between two log-info snapshots.
//! Exits non-zero naming the first failure.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};
use sigstore::crypto::{CosignVerificationKey, SigningScheme};
use sigstore::rekor::apis::configuration::Configuration;
use sigstore::rekor::apis::{entries_api, pubkey_api, tlog_api};
use sigstore::rekor::models::ProposedEntry;
use sigstore::rekor::models::hashedrekord::{AlgorithmKind, Data, Hash, PublicKey, Signature, Spec};

type Result<T> = std::result::Result<T, String>;

fn check(ok: bool, what: &str) -> Result<()> {
    if ok { Ok(()) } else { Err(what.to_owned()) }
}

#[tokio::main]
async fn main() {
    let base = std::env::args().nth(1).expect("usage: arkivo-interop-sigstore-rs <base URL>");
    match run(&base).await {
        Ok(summary) => println!("{summary}"),
        Err(e) => {
            eprintln!("sigstore-rs interop FAILED: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(base: &str) -> Result<String> {
    let config = Configuration {
        base_path: base.trim_end_matches('/').to_owned(),
        ..Configuration::default()
    };
    let pem = pubkey_api::get_public_key(&config, None)
        .await
        .map_err(|e| format!("get_public_key: {e}"))?;
    let log_key = CosignVerificationKey::from_pem(pem.as_bytes(), &SigningScheme::ECDSA_P256_SHA256_ASN1)
        .map_err(|e| format!("parsing the log key: {e}"))?;

    let before = tlog_api::get_log_info(&config).await.map_err(|e| format!("get_log_info: {e}"))?;
    before
        .signed_tree_head
        .verify_signature(&log_key)
        .map_err(|e| format!("log info checkpoint signature: {e}"))?;

    let signer = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let public_pem = signer
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    let nonce: [u8; 16] = rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        .to_be_bytes()
        .repeat(2)
        .try_into()
        .map_err(|_| "nonce".to_owned())?;
    let mut created = Vec::new();
    for n in 0..3u8 {
        let artifact = [&nonce[..], &[n]].concat();
        let digest = Sha256::digest(&artifact);
        let sig: p256::ecdsa::Signature = signer.sign_prehash(&digest).map_err(|e| e.to_string())?;
        let entry = ProposedEntry::Hashedrekord {
            api_version: "0.0.1".into(),
            spec: Spec::new(
                Signature::new(B64.encode(sig.to_der().as_bytes()), PublicKey::new(B64.encode(&public_pem))),
                Data::new(Hash::new(AlgorithmKind::sha256, hex::encode(digest))),
            ),
        };
        let e = entries_api::create_log_entry(&config, entry)
            .await
            .map_err(|e| format!("create_log_entry: {e}"))?;
        e.verify_inclusion(&log_key).map_err(|e| format!("inclusion of a new entry: {e}"))?;
        created.push(e);
    }

    for e in &created {
        let uuid = e.uuid.clone().ok_or("no uuid")?;
        check(uuid.len() == 80, "entry IDs are 80 hex")?;
        let by_index = entries_api::get_log_entry_by_index(&config, i32::try_from(e.log_index).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| format!("get_log_entry_by_index: {e}"))?;
        check(by_index.uuid.as_deref() == Some(uuid.as_str()), "by index: same entry ID")?;
        check(by_index.body == e.body, "by index: same body")?;
        by_index.verify_inclusion(&log_key).map_err(|e| format!("inclusion by index: {e}"))?;
        let by_uuid = entries_api::get_log_entry_by_uuid(&config, &uuid)
            .await
            .map_err(|e| format!("get_log_entry_by_uuid: {e}"))?;
        check(by_uuid.log_index == e.log_index, "by UUID: same index")?;
        by_uuid.verify_inclusion(&log_key).map_err(|e| format!("inclusion by UUID: {e}"))?;
    }

    let after = tlog_api::get_log_info(&config).await.map_err(|e| format!("get_log_info: {e}"))?;
    check(after.tree_size >= before.tree_size + 3, "the tree grew by the entries")?;
    if before.tree_size > 0 {
        let proof = tlog_api::get_log_proof(&config, after.tree_size, Some(&before.tree_size.to_string()), None)
            .await
            .map_err(|e| format!("get_log_proof: {e}"))?;
        after
            .verify_consistency(before.tree_size, &before.root_hash, &proof, &log_key)
            .map_err(|e| format!("consistency {} -> {}: {e}", before.tree_size, after.tree_size))?;
        // A proof from a different old root must not verify.
        let mut wrong = before.root_hash;
        wrong[0] ^= 1;
        check(
            after.verify_consistency(before.tree_size, &wrong, &proof, &log_key).is_err(),
            "a consistency proof verified against a wrong old root",
        )?;
    }
    Ok(format!(
        "{{\"client\":\"sigstore-rs\",\"created\":{},\"treeSize\":{}}}",
        created.len(),
        after.tree_size
    ))
}
