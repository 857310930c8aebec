//! The cryptographic cost of every write and read: checkpoint signing and verification, SETs,
//! and validating a `hashedrekord` entry for each key type and a `dsse` entry (parse, verify,
//! canonicalize — the most expensive step of a write), and the CA's work for one certificate
//! with its embedded SCT (everything but the CT log's synced commit).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256, Sha384, Sha512};

use arkivo_core::checkpoint::{self, Checkpoint};
use arkivo_core::entries;
use arkivo_core::merkle;
use arkivo_core::signer::{self, LogKeys};

fn hashedrekord(alg: &str, digest: &[u8], sig: &[u8], pem: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": alg, "value": hex::encode(digest)}},
            "signature": {"content": B64.encode(sig), "publicKey": {"content": B64.encode(pem)}},
        },
    }))
    .unwrap()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/entries")
            .join(name),
    )
    .unwrap()
}

fn entries_by_key_type() -> Vec<(&'static str, Vec<u8>)> {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    let artifact = b"benchmark artifact";
    let mut out = Vec::new();

    let k = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let d = Sha256::digest(artifact);
    let s: p256::ecdsa::Signature = k.sign_prehash(&d).unwrap();
    let pem = k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    out.push((
        "hashedrekord ECDSA P-256",
        hashedrekord("sha256", &d, s.to_der().as_bytes(), &pem),
    ));

    let k = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let d = Sha384::digest(artifact);
    let s: p384::ecdsa::Signature = k.sign_prehash(&d).unwrap();
    let pem = k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    out.push((
        "hashedrekord ECDSA P-384",
        hashedrekord("sha384", &d, s.to_der().as_bytes(), &pem),
    ));

    for bits in [2048, 4096] {
        let k = rsa::RsaPrivateKey::from_pkcs8_pem(&fixture(&format!("rsa{bits}.key"))).unwrap();
        let d = Sha256::digest(artifact);
        let s = k.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &d).unwrap();
        let pem = k.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        let name = if bits == 2048 {
            "hashedrekord RSA-2048"
        } else {
            "hashedrekord RSA-4096"
        };
        out.push((name, hashedrekord("sha256", &d, &s, &pem)));
    }

    let k = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let mut prehash = Sha512::new();
    prehash.update(artifact);
    let d = Sha512::digest(artifact);
    let s = k.sign_prehashed(prehash, None).unwrap();
    let pem = k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    out.push((
        "hashedrekord Ed25519ph",
        hashedrekord("sha512", &d, &s.to_bytes(), &pem),
    ));

    // dsse: an in-toto statement signed with P-256 over the PAE.
    let k = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let payload_type = "application/vnd.in-toto+json";
    let statement = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"a41f5afedda3e826aa8d0c08f2f1ebdda16893a0370b1df2cebfc87d68e1ea91"}}],"predicateType":"https://example.com/p","predicate":{}}"#;
    let pae = format!(
        "DSSEv1 {} {payload_type} {} {statement}",
        payload_type.len(),
        statement.len()
    );
    let s: p256::ecdsa::Signature = k.sign_prehash(&Sha256::digest(pae.as_bytes())).unwrap();
    let envelope =
        serde_json::json!({"payloadType": payload_type, "payload": B64.encode(statement),
        "signatures": [{"keyid": "", "sig": B64.encode(s.to_der().as_bytes())}]})
        .to_string();
    let pem = k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    out.push((
        "dsse ECDSA P-256",
        serde_json::to_vec(&serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse",
            "spec": {"proposedContent": {"envelope": envelope, "verifiers": [B64.encode(pem)]}}}))
        .unwrap(),
    ));
    out
}

fn validation(c: &mut Criterion) {
    let mut g = c.benchmark_group("validate entry");
    for (name, body) in entries_by_key_type() {
        entries::canonicalize_bytes(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        g.bench_function(name, |b| {
            b.iter(|| entries::canonicalize_bytes(&body).unwrap())
        });
    }
    g.finish();
}

fn checkpoints_and_sets(c: &mut Criterion) {
    let keys = LogKeys::generate();
    let cp = Checkpoint {
        origin: "rekor.example.internal - 4630381577432197617".into(),
        size: 123_456_789,
        root: merkle::record_hash(b"root"),
    };
    let c2sp = Checkpoint {
        origin: "rekor.example.internal".into(),
        ..cp.clone()
    };
    let v1 = checkpoint::sign_v1(&cp, "rekor.example.internal", &keys);
    let note = checkpoint::sign_c2sp(&c2sp, &keys);
    let verifier = keys.ed25519_verifier("rekor.example.internal");
    let body = B64.encode([b'x'; 560]);
    let log_id = keys.log_id_hex();
    let set = keys.sign_set(&body, 1_767_225_600, &log_id, 42);
    let mut g = c.benchmark_group("checkpoints and SETs");
    g.bench_function("sign v1 checkpoint (ECDSA P-256)", |b| {
        b.iter(|| checkpoint::sign_v1(&cp, "rekor.example.internal", &keys))
    });
    g.bench_function("verify v1 checkpoint", |b| {
        b.iter(|| {
            checkpoint::verify_v1(&v1, keys.ecdsa_verifying_key(), "rekor.example.internal")
                .unwrap()
        })
    });
    g.bench_function("sign C2SP checkpoint (Ed25519)", |b| {
        b.iter(|| checkpoint::sign_c2sp(&c2sp, &keys))
    });
    g.bench_function("verify C2SP checkpoint", |b| {
        b.iter(|| checkpoint::verify_c2sp(&note, &verifier, &[]).unwrap())
    });
    g.bench_function("sign SET", |b| {
        b.iter(|| keys.sign_set(&body, 1_767_225_600, &log_id, 42))
    });
    g.bench_function("verify SET", |b| {
        b.iter(|| {
            assert!(signer::verify_set(
                keys.ecdsa_verifying_key(),
                &body,
                1_767_225_600,
                &log_id,
                42,
                &set
            ))
        })
    });
    g.finish();
}

/// A timestamp (RFC 3161): parse a JSON request, sign the response; and verifying it.
fn timestamps(c: &mut Criterion) {
    use arkivo_core::tsa;
    let (key, chain) = tsa::generate("bench.test", 1_700_000_000).unwrap();
    let signer = tsa::TsaSigner::new(&key, &chain, tsa::DEFAULT_POLICY).unwrap();
    let trusted = vec![tsa::TrustedTsa::from_authority(&signer.authority()).unwrap()];
    let digest = Sha256::digest(b"artifact");
    let body = format!(
        r#"{{"artifactHash":"{}","hashAlgorithm":"sha256","nonce":7}}"#,
        B64.encode(digest)
    );
    c.bench_function("tsa: parse and sign a timestamp", |b| {
        b.iter(|| {
            let req = tsa::parse_json_request(body.as_bytes()).unwrap();
            signer.timestamp(&req, 1_700_000_001, 1).unwrap()
        })
    });
    let req = tsa::parse_json_request(body.as_bytes()).unwrap();
    let resp = signer.timestamp(&req, 1_700_000_001, 1).unwrap();
    c.bench_function("tsa: verify a timestamp", |b| {
        b.iter(|| {
            tsa::verify_response(
                &resp,
                entries::pki::HashAlg::Sha256,
                &digest,
                req.nonce.as_ref(),
                &trusted,
            )
            .unwrap()
        })
    });
}

/// One certificate as `POST /api/v2/signingCert` makes it once the token is verified: the
/// precertificate, the CT log's leaf (`TileLeaf`, its hash and encoding), the SCT, the final
/// certificate. The CT log's commit is not in it: see docs/performance.md for the whole path.
fn certificate_with_sct(c: &mut Criterion) {
    use arkivo_core::ca::cert::{CaKeys, IssuingCa};
    use arkivo_core::ca::identity::{ExtensionValue, Identity, SubjectAltName};
    use arkivo_core::ct::{Sct, SignedCertificateTimestampList, TileLeaf, leaf_index_extensions};
    let ca_keys = CaKeys::generate("Bench", std::time::SystemTime::now()).unwrap();
    let ca = IssuingCa::from_pem(&ca_keys.intermediate_key_pem, &ca_keys.chain_pem).unwrap();
    let log_keys = LogKeys::generate();
    let subject = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let key = entries::pki::PublicKey::from_spki_der(
        subject
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let identity = Identity {
        san: SubjectAltName::Email("alice@example.org".into()),
        challenge: "alice@example.org".into(),
        extensions: vec![(8, ExtensionValue::Utf8("https://issuer.example".into()))],
    };
    let chain: Vec<[u8; 32]> = ca
        .chain()
        .iter()
        .map(|d| Sha256::digest(d).into())
        .collect();
    let mut g = c.benchmark_group("CA");
    g.bench_function("certificate with embedded SCT (no commit)", |b| {
        b.iter(|| {
            let pre = ca
                .precertificate(&identity, &key, std::time::SystemTime::now())
                .unwrap();
            let leaf = TileLeaf {
                timestamp: 1_767_225_600_000,
                issuer_key_hash: ca.issuer_key_hash(),
                tbs_certificate: pre.tbs_without_poison().unwrap(),
                extensions: leaf_index_extensions(42),
                pre_certificate: pre.der().to_vec(),
                certificate_chain: chain.clone(),
            };
            let _ = (leaf.leaf_hash(), leaf.encode());
            let scts = SignedCertificateTimestampList(vec![Sct::sign(&leaf, &log_keys)]);
            ca.finish(pre, &scts).unwrap()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    validation,
    checkpoints_and_sets,
    timestamps,
    certificate_with_sct
);
criterion_main!(benches);
