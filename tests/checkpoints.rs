//! Signed notes, checkpoints, log keys and SETs, tested against the shared vectors
//! (C2SP, Go's sumdb/note, real Rekor v2 and staging-witness signatures, the Rekor v1 worked
//! example) and against mutations that must fail.

use std::path::Path;

use arkivo::checkpoint::{self, Checkpoint, CheckpointError};
use arkivo::merkle::{self, Hash};
use arkivo::note::{self, NoteError, NoteVerifier, VKey};
use arkivo::signer::{self, LogKeys};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use p256::pkcs8::DecodePublicKey;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn testdata(path: &str) -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata")
        .join(path);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn text(v: &serde_json::Value) -> &str {
    v.as_str().unwrap()
}

fn vkey(s: &str) -> VKey {
    note::parse_vkey(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn c2sp_signed_note_example() {
    let v = testdata("signed-note/c2sp-signed-note-example.json");
    let key = vkey(text(&v["vkey"]));
    let pk = B64.decode(text(&v["publicKeyBase64"])).unwrap();
    assert_eq!(
        format!(
            "{:08x}",
            note::key_id(text(&v["keyName"]), note::ED25519, &pk)
        ),
        text(&v["keyIdHex"])
    );
    let opened = note::open(text(&v["signedNote"]).as_bytes(), &[key.verifier()]).unwrap();
    assert_eq!(opened.note.text, text(&v["noteText"]));
    assert_eq!(opened.verified, vec![0]);
}

#[test]
fn go_sumdb_note_vectors() {
    let v = testdata("signed-note/go-sumdb-note.json");
    for (name, k) in v["keys"].as_object().unwrap() {
        if let Some(skey) = k["skey"].as_str() {
            let (key_name, signing) = note::parse_go_private_key(skey).unwrap();
            assert_eq!(&key_name, name);
            let VKey::Ed25519(derived) = vkey(text(&k["vkey"])) else {
                panic!("not Ed25519")
            };
            assert_eq!(
                note::Ed25519Verifier::new(name, signing.verifying_key()).vkey(),
                derived.vkey()
            );
            assert_eq!(derived.vkey(), text(&k["vkey"]));
        }
    }
    let (_, peter_key) =
        note::parse_go_private_key(text(&v["keys"]["PeterNeumann"]["skey"])).unwrap();
    let signed = note::sign_ed25519(text(&v["noteText"]), &[("PeterNeumann", &peter_key)]);
    assert_eq!(
        signed,
        text(&v["signedByPeter"]),
        "Ed25519 is deterministic"
    );

    let peter = vkey(text(&v["keys"]["PeterNeumann"]["vkey"]));
    let enoch = vkey(text(&v["keys"]["EnochRoot"]["vkey"]));
    let both = text(&v["signedByPeterAndEnoch"]).as_bytes();
    let o = note::open(both, &[peter.verifier()]).unwrap();
    assert_eq!(
        o.verified.len(),
        1,
        "Enoch's signature is ignored, not verified"
    );
    assert_eq!(
        note::open(both, &[peter.verifier(), enoch.verifier()])
            .unwrap()
            .verified,
        vec![0, 1]
    );
    assert_eq!(
        note::open(both, &[]).unwrap_err(),
        NoteError::UnverifiedNote
    );

    // 101 signature lines: over the cap. 100 are accepted.
    let sig_line = &text(&v["signedByPeter"])[text(&v["noteText"]).len() + 1..];
    for (n, ok) in [(100, true), (101, false)] {
        let many = format!("{}\n{}", text(&v["noteText"]), sig_line.repeat(n));
        assert_eq!(
            note::open(many.as_bytes(), &[peter.verifier()]).is_ok(),
            ok,
            "{n} lines"
        );
    }
    // A verified signature altered: the whole note is rejected.
    let mut altered = text(&v["signedByPeter"]).to_owned();
    let at = altered.len() - 10;
    altered.replace_range(
        at..at + 1,
        if &altered[at..at + 1] == "A" {
            "B"
        } else {
            "A"
        },
    );
    assert!(matches!(
        note::open(altered.as_bytes(), &[peter.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    let malformed = v["malformedNotes"].as_array().unwrap();
    assert!(malformed.len() >= 6);
    for m in malformed {
        assert!(
            matches!(
                note::parse(text(&m["note"]).as_bytes()),
                Err(NoteError::Malformed(_))
            ),
            "{}",
            m["desc"]
        );
    }
    let mut invalid_utf8 = vec![0xff];
    invalid_utf8.extend_from_slice(text(&v["signedByPeter"]).as_bytes());
    assert!(matches!(
        note::parse(&invalid_utf8),
        Err(NoteError::Malformed(_))
    ));
}

#[test]
fn key_id_vectors() {
    let v = testdata("signed-note/key-ids.json");
    let mut checked = 0;
    for k in v["vectors"].as_array().unwrap() {
        let full = k["fullKeyHashBase64"]
            .as_str()
            .map(|s| B64.decode(s).unwrap());
        let id = text(&k["keyIdHex"]);
        match text(&k["algorithm"]) {
            "Ed25519" => {
                let raw = B64.decode(text(&k["publicKeyRawBase64"])).unwrap();
                let name = text(&k["keyName"]);
                assert_eq!(
                    Some(note::key_hash(name, note::ED25519, &raw).to_vec()),
                    full
                );
                assert_eq!(
                    format!("{:08x}", note::key_id(name, note::ED25519, &raw)),
                    id
                );
            }
            "ECDSA-P256" => {
                let spki = B64.decode(text(&k["publicKeySpkiDerBase64"])).unwrap();
                assert_eq!(Some(Sha256::digest(&spki).to_vec()), full);
                assert_eq!(hex::encode(&Sha256::digest(&spki)[..4]), id);
            }
            "Ed25519 cosignature/v1" => {
                let parsed = vkey(text(&k["vkey"]));
                assert!(matches!(parsed, VKey::Cosignature(_)));
                assert_eq!(format!("{:08x}", parsed.verifier().key_id()), id);
                assert_eq!(parsed.verifier().name(), text(&k["keyName"]));
            }
            other => panic!("unexpected algorithm {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, v["vectors"].as_array().unwrap().len());
    assert!(checked >= 3);
}

#[test]
fn constructed_checkpoints_and_cosignature() {
    let v = testdata("signed-note/constructed-checkpoint-and-witness.json");
    let (origin, key) = note::parse_go_private_key(text(&v["log"]["skey"])).unwrap();
    let log = vkey(text(&v["log"]["vkey"]));
    let witness = vkey(text(&v["witness"]["vkey"]));
    for name in ["checkpointSize6", "checkpointSize8", "emptyTreeCheckpoint"] {
        let signed = text(&v[name]);
        let cp = checkpoint::verify_c2sp(signed, log.verifier(), &[]).unwrap();
        // Signing the same checkpoint reproduces it byte for byte.
        assert_eq!(
            note::sign_ed25519(&cp.to_text(), &[(&origin, &key)]),
            signed,
            "{name}"
        );
    }
    // The 8-leaf reference tree's roots.
    let cp8 = checkpoint::verify_c2sp(text(&v["checkpointSize8"]), log.verifier(), &[]).unwrap();
    assert_eq!(
        cp8.root.to_hex(),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
    // The witness's cosignature (type 0x04) over the size-8 checkpoint.
    let cosigned = text(&v["cosignedCheckpointSize8"]);
    let o = note::open(cosigned.as_bytes(), &[log.verifier(), witness.verifier()]).unwrap();
    assert_eq!(o.verified.len(), 2);
    let cosig = o
        .note
        .signatures
        .iter()
        .find(|s| s.name == "witness.example.internal/w1")
        .unwrap();
    assert_eq!(
        note::CosignatureVerifier::timestamp(&cosig.signature),
        Some(1_767_225_600)
    );
    assert_eq!(
        format!(
            "{}{}",
            text(&v["checkpointSize8"]),
            text(&v["addCheckpointResponseBody"])
        ),
        cosigned
    );
    // Only the log's key known: the cosignature is ignored; only the witness's: not the log's.
    assert!(checkpoint::verify_c2sp(cosigned, log.verifier(), &[]).is_ok());
    assert!(checkpoint::verify_c2sp(cosigned, witness.verifier(), &[]).is_err());
}

#[test]
fn rekor_v2_example_response_checkpoint() {
    let v = testdata("rekor-v2/clients-md-example-response.json");
    let envelope = text(&v["inclusionProof"]["checkpoint"]["envelope"]);
    let log = vkey("rekor-local+d80b4420+AURLycjWRo1+gdwwCLg9wU4PayMFdNBmPF4ORVPiBQ1E");
    let cp = checkpoint::verify_c2sp(envelope, log.verifier(), &[]).unwrap();
    let body = B64.decode(text(&v["canonicalizedBody"])).unwrap();
    assert_eq!((cp.size, cp.root), (1, merkle::record_hash(&body)));
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/testdata/rekor-v2/test-key/ed25519-priv-key.pem"),
    )
    .unwrap();
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(
        note::sign_ed25519(&cp.to_text(), &[("rekor-local", &key)]),
        envelope
    );
    assert_eq!(
        B64.encode(note::key_hash(
            "rekor-local",
            note::ED25519,
            key.verifying_key().as_bytes()
        )),
        text(&v["logId"]["keyId"])
    );
}

#[test]
fn rekor_v2_conformance_bundles_and_staging_witnesses() {
    let vkeys: Vec<VKey> = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/rekor-v2/vkeys.txt"),
    )
    .unwrap()
    .lines()
    .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    .map(vkey)
    .collect();
    let expected = testdata("rekor-v2/expected.json");
    for case in [
        "rekor2-happy-path",
        "rekor2-dsse-happy-path",
        "rekor2-checkpoint-cosigned",
    ] {
        let bundle = testdata(&format!("rekor-v2/conformance/{case}/bundle.sigstore.json"));
        let root = testdata(&format!("rekor-v2/conformance/{case}/trusted_root.json"));
        let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
        let envelope = text(&entry["inclusionProof"]["checkpoint"]["envelope"]);
        let origin = envelope.lines().next().unwrap();
        // The log's key: the trusted root's tlog whose baseUrl names the origin, or vkeys.txt.
        let from_root = root["tlogs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| text(&t["baseUrl"]).trim_start_matches("https://") == origin);
        let log = match from_root {
            Some(t) => {
                let spki = B64.decode(text(&t["publicKey"]["rawBytes"])).unwrap();
                let key = ed25519_dalek::VerifyingKey::from_public_key_der(&spki).unwrap();
                let keyid = note::key_hash(origin, note::ED25519, key.as_bytes());
                assert_eq!(B64.encode(keyid), text(&t["logId"]["keyId"]), "{case}");
                assert_eq!(B64.encode(keyid), text(&entry["logId"]["keyId"]), "{case}");
                VKey::Ed25519(note::Ed25519Verifier::new(origin, key))
            }
            None => vkey(
                vkeys
                    .iter()
                    .find(|k| k.verifier().name() == origin)
                    .map(|k| match k {
                        VKey::Ed25519(e) => e.vkey(),
                        VKey::Cosignature(_) => unreachable!(),
                    })
                    .unwrap()
                    .as_str(),
            ),
        };
        let witnesses: Vec<&dyn NoteVerifier> = vkeys
            .iter()
            .map(VKey::verifier)
            .filter(|v| v.name() != origin)
            .collect();
        let cp = checkpoint::verify_c2sp(envelope, log.verifier(), &witnesses).unwrap();
        // Inclusion of the entry in that checkpoint.
        let body = B64.decode(text(&entry["canonicalizedBody"])).unwrap();
        let proof: Vec<Hash> = entry["inclusionProof"]["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_slice(&B64.decode(text(h)).unwrap()).unwrap())
            .collect();
        let index: u64 = text(&entry["logIndex"]).parse().unwrap();
        merkle::verify_inclusion(
            index,
            cp.size,
            &merkle::record_hash(&body),
            &proof,
            &cp.root,
        )
        .unwrap();
        if let Some(exp) = expected["cases"].get(case) {
            assert_eq!(cp.size, exp["treeSize"].as_u64().unwrap());
            let mut verifiers = vec![log.verifier()];
            verifiers.extend(witnesses.iter().copied());
            let opened = note::open(envelope.as_bytes(), &verifiers).unwrap();
            let known = exp["signatureLines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| {
                    vkeys
                        .iter()
                        .any(|k| k.verifier().name() == text(&l["keyName"]))
                        || text(&l["keyName"]) == origin
                })
                .count();
            assert_eq!(
                opened.verified.len(),
                known,
                "{case}: every known signature verifies"
            );
        }
    }
}

/// rekor-v1-api.md §8.3 and §13: a real P-256 log key, checkpoint and SET.
const V1_LOG_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7dERsk+qqpuY3a7Vfn37Ds57FwA9
IWsvGyHHnwcKwUwwRXRiVqsIpBHyVnJPn5Fh3jjXDJCf76aVKu1TluV3NA==
-----END PUBLIC KEY-----
";
const V1_CHECKPOINT: &str = "rekor.example.internal - 4630381577432197617\n3\nguPRkdhNtU+hquwJqf1C5KDa2G3hUwcvH6u2+RBaD9o=\n\n\u{2014} rekor.example.internal GGSglzBFAiEA10NwypB1leS4i6WFuOBe56AN/GESAClraW9ZmIKkgYgCIDkEh5MRKN/mN9uzmhmHLgEx4UDSs2nqcZi4DLdvO2TN\n";
const V1_BODY: &str = "eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiaGFzaGVkcmVrb3JkIiwic3BlYyI6eyJkYXRhIjp7Imhhc2giOnsiYWxnb3JpdGhtIjoic2hhMjU2IiwidmFsdWUiOiJhNDFmNWFmZWRkYTNlODI2YWE4ZDBjMDhmMmYxZWJkZGExNjg5M2EwMzcwYjFkZjJjZWJmYzg3ZDY4ZTFlYTkxIn19LCJzaWduYXR1cmUiOnsiY29udGVudCI6Ik1FWUNJUUN4eThBSGhLa1p2aGRVMVQ1NzVVNlRjbXZZeGc3NGE3MitmazhjTDZHWDVRSWhBTWh0YTNCQmQ1dWVoVkk3bzAyY2Izd20xQUFtOFpua3A1ZDBWaWJ6S0ZSZiIsInB1YmxpY0tleSI6eyJjb250ZW50IjoiTFMwdExTMUNSVWRKVGlCUVZVSk1TVU1nUzBWWkxTMHRMUzBLVFVacmQwVjNXVWhMYjFwSmVtb3dRMEZSV1VsTGIxcEplbW93UkVGUlkwUlJaMEZGWTJFMU4xRmFVVmhxTkVRemFrUm9VSEJqV0d0dlQweHZiRTVPVUFwaWEwZFBTQzlGT1ZoVlpXcFJlRTgwU0dKbk5FRXZhVUZHS3psQllYaFBRbkJYTVRFMk5qZE5VMGRqVDNaS2RVdzBiaXN5VVVwU1RraFJQVDBLTFMwdExTMUZUa1FnVUZWQ1RFbERJRXRGV1MwdExTMHRDZz09In19fX0=";
const V1_SET: &str = "MEQCIB9D3OlYBU5e9na7M6VMf1iPt1Br+UAMrhgiE6eq9D41AiBPp1//jv7qxoK91Zll7apmyU4zsQ8eC4pCjFmxMzR/Tg==";
const V1_LOG_ID: &str = "1864a097552ec77315f83334a9f02f9ed3e3e2183afc3660c768e6f9ac1fb7e9";

#[test]
fn rekor_v1_worked_example() {
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(V1_LOG_KEY).unwrap();
    let spki = B64
        .decode(
            V1_LOG_KEY
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&spki)), V1_LOG_ID);
    let cp = checkpoint::verify_v1(V1_CHECKPOINT, &key, "rekor.example.internal").unwrap();
    assert_eq!(cp.origin, "rekor.example.internal - 4630381577432197617");
    assert_eq!(
        (cp.size, cp.root.to_hex().as_str()),
        (
            3,
            "82e3d191d84db54fa1aaec09a9fd42e4a0dad86de153072f1fabb6f9105a0fda"
        )
    );
    assert!(matches!(
        checkpoint::verify_v1(V1_CHECKPOINT, &key, "other.internal"),
        Err(CheckpointError::WrongKey(_))
    ));
    // The entry of §13 is leaf 2 of that tree; its SET verifies over the JCS payload.
    let set = B64.decode(V1_SET).unwrap();
    assert!(signer::verify_set(
        &key,
        V1_BODY,
        1_767_225_600,
        V1_LOG_ID,
        2,
        &set
    ));
    assert!(!signer::verify_set(
        &key,
        V1_BODY,
        1_767_225_601,
        V1_LOG_ID,
        2,
        &set
    ));
    assert!(!signer::verify_set(
        &key,
        V1_BODY,
        1_767_225_600,
        V1_LOG_ID,
        3,
        &set
    ));
    let leaf = merkle::record_hash(&B64.decode(V1_BODY).unwrap());
    assert_eq!(
        leaf.to_hex(),
        "7c830c08cf173c28109c7fb9caa2814d1978fd06b9813d47a51096fa5f12ec09"
    );
    let left =
        Hash::from_hex("24ba71b91a74f77bde9c08318a776a1619d906edcfd9a4afff8e6f505f99658a").unwrap();
    merkle::verify_inclusion(2, 3, &leaf, &[left], &cp.root).unwrap();
}

/// Every single-byte change of a signed note must be rejected (or, where it only touches a
/// signature line, leave the note unverified).
fn assert_every_byte_matters(signed: &str, check: impl Fn(&[u8]) -> bool) {
    assert!(check(signed.as_bytes()));
    let bytes = signed.as_bytes();
    for i in 0..bytes.len() {
        for delta in [1u8, 0x20, 0x80] {
            let mut m = bytes.to_vec();
            m[i] ^= delta;
            assert!(
                !check(&m),
                "byte {i} ^ {delta:#x} still verifies: {:?}",
                String::from_utf8_lossy(&m)
            );
        }
    }
    assert!(!check(&bytes[..bytes.len() - 1]), "missing final newline");
    assert!(!check(signed.replace('\n', "\r\n").as_bytes()), "CRLF");
}

#[test]
fn our_checkpoints_roundtrip_and_reject_every_mutation() {
    let keys = LogKeys::generate();
    let root = merkle::record_hash(b"root");
    let v1 = Checkpoint {
        origin: "log.test:3000 - 42".into(),
        size: 1234,
        root,
    };
    let signed = checkpoint::sign_v1(&v1, "log.test:3000", &keys);
    assert!(signed.starts_with(&format!(
        "log.test:3000 - 42\n1234\n{}\n\n\u{2014} log.test:3000 ",
        B64.encode(root.0)
    )));
    assert_eq!(signed.matches('\n').count(), 5);
    let blob = B64
        .decode(signed.trim_end().rsplit(' ').next().unwrap())
        .unwrap();
    assert_eq!(
        blob[..4],
        keys.key_hint(),
        "v1 key hint = first 4 bytes of the log ID"
    );
    let vk = keys.ecdsa_verifying_key();
    assert_eq!(
        checkpoint::verify_v1(&signed, vk, "log.test:3000").unwrap(),
        v1
    );
    assert_every_byte_matters(&signed, |b| {
        std::str::from_utf8(b)
            .is_ok_and(|s| checkpoint::verify_v1(s, vk, "log.test:3000").is_ok_and(|c| c == v1))
    });
    // A second signature line, even a valid one, is refused (clients require exactly one).
    let twice = format!("{signed}{}", &signed[signed.find("\n\n").unwrap() + 2..]);
    assert!(checkpoint::verify_v1(&twice, vk, "log.test:3000").is_err());
    // Another key.
    assert!(
        checkpoint::verify_v1(
            &signed,
            LogKeys::generate().ecdsa_verifying_key(),
            "log.test:3000"
        )
        .is_err()
    );

    let c2sp = Checkpoint {
        origin: "log.test:3000".into(),
        size: 7,
        root,
    };
    let signed = checkpoint::sign_c2sp(&c2sp, &keys);
    let verifier = keys.ed25519_verifier("log.test:3000");
    assert_eq!(
        checkpoint::verify_c2sp(&signed, &verifier, &[]).unwrap(),
        c2sp
    );
    assert_every_byte_matters(&signed, |b| {
        std::str::from_utf8(b)
            .is_ok_and(|s| checkpoint::verify_c2sp(s, &verifier, &[]).is_ok_and(|c| c == c2sp))
    });
    // The vkey of our key parses back to the same verifier.
    let parsed = vkey(&verifier.vkey());
    assert_eq!(parsed.verifier().key_id(), verifier.key_id());
}

#[test]
fn log_keys_roundtrip_through_pkcs8_and_sign_verifiable_sets() {
    let keys = LogKeys::generate();
    let again =
        LogKeys::from_pkcs8_pem(&keys.ecdsa_pkcs8_pem(), &keys.ed25519_pkcs8_pem()).unwrap();
    assert_eq!(again.log_id(), keys.log_id());
    assert_eq!(again.ed25519_public_key(), keys.ed25519_public_key());
    assert_eq!(
        hex::encode(Sha256::digest(keys.ecdsa_spki_der())),
        keys.log_id_hex()
    );
    assert!(
        !format!("{keys:?}").contains("PRIVATE"),
        "Debug never shows a key"
    );
    let pem = keys.ecdsa_public_pem();
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----\n")
            && pem.ends_with("-----END PUBLIC KEY-----\n")
    );
    assert!(pem.lines().all(|l| l.len() <= 64));
    let set = keys.sign_set("Ym9keQ==", 5, &keys.log_id_hex(), 9);
    assert!(signer::verify_set(
        keys.ecdsa_verifying_key(),
        "Ym9keQ==",
        5,
        &keys.log_id_hex(),
        9,
        &set
    ));
    assert!(!signer::verify_set(
        keys.ecdsa_verifying_key(),
        "Ym9keq==",
        5,
        &keys.log_id_hex(),
        9,
        &set
    ));
    assert!(LogKeys::from_pkcs8_pem("garbage", &keys.ed25519_pkcs8_pem()).is_err());
    assert!(LogKeys::from_pkcs8_pem(&keys.ecdsa_pkcs8_pem(), &keys.ecdsa_pkcs8_pem()).is_err());
}

proptest! {
    #[test]
    fn note_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = note::parse(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = Checkpoint::parse(s);
        }
    }

    #[test]
    fn checkpoints_roundtrip(origin in "[a-z0-9.:/ -]{1,40}", size in any::<u64>(), root in any::<[u8; 32]>()) {
        prop_assume!(!origin.contains('\n'));
        let cp = Checkpoint { origin, size, root: Hash(root) };
        prop_assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
    }
}

#[test]
fn checkpoint_text_is_strict() {
    let root = B64.encode([0u8; 32]);
    for bad in [
        format!("o\n01\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n1\n{root}"),
        format!("\n1\n{root}\n"),
        format!("o\n1\n{}\n", B64.encode([0u8; 31])),
        "o\n1\n".to_owned(),
        format!("o\n18446744073709551616\n{root}\n"),
    ] {
        assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{root}\nextension\n"))
            .unwrap()
            .size,
        0
    );
}
